//! `status: failed` answers: the ones that pass (NapCat while the account reconnects) are
//! retried with backoff until delivered or given up after a bound; refusals become dead
//! letters at once; dead letters show in `/metrics` and `/readyz` and go out again with
//! `qunguan audit --dead-letters --retry`.

use std::time::Duration;

use reqwest::StatusCode;

use super::*;

fn spam(message_id: i64, user: i64) -> serde_json::Value {
    group_message(message_id, user, "member", "加微信 领红包")
}

#[tokio::test]
async fn an_offline_gateway_is_retried_and_a_refusal_is_a_dead_letter_until_sent_again() {
    let app = TestApp::spawn().await;
    // NapCat answers `failed` three times while the QQ account reconnects.
    app.gateway.inject([Fault::Offline, Fault::Offline, Fault::Offline]);
    assert_eq!(app.post_event(&spam(1, 42)).await, StatusCode::NO_CONTENT);
    for attempts in 1..=3 {
        app.gateway.wait_calls(attempts, PATIENCE).await;
        app.advance(Duration::from_secs(60)); // past the backoff
    }
    let delivered = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&delivered), ["delete_msg", "send_group_msg"]);
    assert_eq!(
        app.gateway.calls().len(),
        5,
        "three failed recalls, then the recall and the warning"
    );
    assert_eq!(
        metric(&app, "qunguan_actions_total{kind=\"recall\",result=\"retried\"}").await,
        3
    );

    // No permission: the recall is refused for good and becomes a dead letter; the warning
    // still goes out.
    app.gateway.inject([Fault::Failed]);
    assert_eq!(app.post_event(&spam(2, 43)).await, StatusCode::NO_CONTENT);
    let dead = app.wait_dead_letters(1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].reason.starts_with("refused by the gateway"),
        "{}",
        dead[0].reason
    );
    assert_eq!(metric(&app, "qunguan_outbox_dead_letters").await, 1);
    let readyz = app.admin_get("/readyz").await;
    assert_eq!(
        readyz.status(),
        StatusCode::OK,
        "dead letters do not make the daemon unready"
    );
    let body = readyz.text().await.expect("body");
    assert!(body.contains("dead letters: 1 (") && body.contains("--retry"), "{body}");

    // The bot was made an admin: send the dead letters again, through the running daemon.
    let out = cli(&app.settings.storage.path, &["audit", "--dead-letters", "--retry"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("1 dead letter(s) sent back"), "{stdout}");
    let delivered = app.gateway.wait_delivered(4, PATIENCE).await;
    let recalls: Vec<i64> = delivered
        .iter()
        .filter(|c| c.action == "delete_msg")
        .filter_map(|c| c.params["message_id"].as_i64())
        .collect();
    assert_eq!(recalls, [1, 2]);
    assert!(app.dead_letters().await.is_empty());
    assert_eq!(metric(&app, "qunguan_outbox_dead_letters").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_that_stays_offline_gets_a_bounded_number_of_attempts() {
    let app = TestApp::spawn().await;
    app.gateway.set_mode(Some(Fault::Offline));
    assert_eq!(app.post_event(&spam(1, 42)).await, StatusCode::NO_CONTENT);
    let bound = qunguan::service::MAX_FAILED_ATTEMPTS as usize;
    for attempts in 1..=bound {
        app.gateway.wait_calls(attempts, PATIENCE).await;
        app.advance(Duration::from_secs(300)); // the longest backoff
    }
    // (The warning behind it expired meanwhile: a dead letter of its own.)
    let dead = app.wait_dead_letters(2).await;
    let recall = dead
        .iter()
        .find(|d| d.item.action.kind().as_str() == "recall")
        .unwrap_or_else(|| panic!("no dead recall in {dead:?}"));
    assert_eq!(recall.item.attempts as usize, bound);
    assert!(
        recall
            .reason
            .starts_with(&format!("gave up after {bound} failed attempts")),
        "{}",
        recall.reason
    );
    assert_eq!(app.gateway.calls().len(), bound, "not one attempt more");
    app.gateway.set_mode(None);
    app.stop().await;
}
