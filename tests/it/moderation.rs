//! The first pipeline: filter hit → recall + strike → warn, mute, kick.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

const SPAMMER: i64 = 2_309_855_761;

fn spam(message_id: i64) -> serde_json::Value {
    group_message(message_id, SPAMMER, "member", "FREE MONEY 点击领取")
}

#[tokio::test]
async fn three_strikes_recall_then_warn_mute_kick_in_order() {
    let app = TestApp::spawn().await;
    for id in 1..=3 {
        assert_eq!(app.post_event(&spam(id)).await, StatusCode::NO_CONTENT);
        // Wait for each strike's calls so the sequence is per strike.
        app.gateway
            .wait_delivered(usize::try_from(id * 2 + (id - 1)).expect("small"), PATIENCE)
            .await;
    }
    let calls = app.gateway.delivered();
    assert_eq!(
        actions(&calls),
        [
            "delete_msg",
            "send_group_msg",
            "delete_msg",
            "set_group_ban",
            "send_group_msg",
            "delete_msg",
            "set_group_kick",
            "send_group_msg",
        ]
    );
    assert_eq!(calls[0].params, json!({"message_id": 1}));

    // The warning @-mentions the member and counts the strike against the ladder.
    let warning = &calls[1].params;
    assert_eq!(warning["group_id"], GROUP);
    let segments = warning["message"].as_array().expect("segment array");
    assert_eq!(segments[0], json!({"type": "at", "data": {"qq": SPAMMER.to_string()}}));
    let text = segments[1]["data"]["text"].as_str().expect("text");
    assert!(
        text.contains("第1次警告 (1/3)") && text.contains("「广告」") && !text.contains("ads"),
        "{text}"
    );

    // The mute carries the configured duration explicitly (10 minutes by default), and the
    // group is told why, after the fact; so is it of the kick.
    assert_eq!(
        calls[3].params,
        json!({"group_id": GROUP, "user_id": SPAMMER, "duration": 600})
    );
    assert_eq!(
        sent_text(&calls[4]),
        format!("@{SPAMMER} 因「广告」第2次违规，禁言10分钟。")
    );
    assert_eq!(
        calls[6].params,
        json!({"group_id": GROUP, "user_id": SPAMMER, "reject_add_request": false})
    );
    assert_eq!(
        sent_text(&calls[7]),
        format!("@{SPAMMER} 因「广告」第3次违规，已被移出本群。")
    );

    // After the kick the record is cleared: the next violation is a first warning again.
    assert_eq!(app.post_event(&spam(4)).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(10, PATIENCE).await;
    assert_eq!(actions(&calls[8..10]), ["delete_msg", "send_group_msg"]);
    app.stop().await;
}

#[tokio::test]
async fn the_configured_ladder_and_locale_are_used() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.moderation.ladder = vec!["mute 1h".parse().expect("rung"), "ban".parse().expect("rung")];
            s.messages.locale = qunguan::domain::locale::Locale::En;
        }),
        ..Options::default()
    })
    .await;
    app.post_event(&spam(1)).await;
    app.gateway.wait_delivered(3, PATIENCE).await;
    app.post_event(&spam(2)).await;
    let calls = app.gateway.wait_delivered(6, PATIENCE).await;
    assert_eq!(
        actions(&calls),
        [
            "delete_msg",
            "set_group_ban",
            "send_group_msg",
            "delete_msg",
            "set_group_kick",
            "send_group_msg"
        ]
    );
    assert_eq!(calls[1].params["duration"], 3600);
    assert_eq!(
        sent_text(&calls[2]),
        format!("@{SPAMMER} is muted for 1 h after violation 1 (\"advertising\").")
    );
    assert_eq!(
        calls[4].params["reject_add_request"], true,
        "ban = kick and refuse re-joining"
    );
    assert_eq!(
        sent_text(&calls[5]),
        format!("@{SPAMMER} was removed and banned from the group after violation 2 (\"advertising\").")
    );
    app.stop().await;
}

#[tokio::test]
async fn each_rungs_notice_can_be_reworded_or_switched_off() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            let notices = &mut s.moderation.notices;
            notices.warn.enabled = false;
            notices.mute.text = "{at} 冷静一下：{duration}（{rule} {count}/{limit}）".into();
            notices.kick.enabled = false;
        }),
        ..Options::default()
    })
    .await;
    for id in 1..=3 {
        app.post_event(&spam(id)).await;
    }
    // Then an admin asks for the strikes: a group's calls go out in order, so once the answer
    // is delivered, nothing of the three violations is still on its way.
    app.post_event(&command(4, 10, "admin", &format!("/strikes {{@{SPAMMER}}}")))
        .await;
    let calls = app.gateway.wait_delivered(7, PATIENCE).await;
    // No warning, no kick notice.
    assert_calls_in_order(
        &calls,
        &[
            "delete_msg",
            "delete_msg",
            "set_group_ban",
            "send_group_msg",
            "delete_msg",
            "set_group_kick",
            "send_group_msg",
        ],
    );
    // The third recall may overtake the mute's notice (`[outbox] early_recalls`): find the
    // bot's messages by what they are.
    let said: Vec<String> = calls
        .iter()
        .filter(|c| c.action == "send_group_msg")
        .map(sent_text)
        .collect();
    assert_eq!(said[0], format!("@{SPAMMER} 冷静一下：10分钟（广告 2/3）"));
    assert!(said[1].contains("没有有效的警告记录"), "{}", said[1]);
    app.stop().await;
}

#[tokio::test]
async fn strikes_survive_a_restart() {
    let app = TestApp::spawn().await;
    app.post_event(&spam(1)).await;
    app.gateway.wait_delivered(2, PATIENCE).await;

    let app = app.restart(Options::default()).await;
    assert_eq!(app.post_event(&spam(2)).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(
        actions(&calls[2..5]),
        ["delete_msg", "set_group_ban", "send_group_msg"],
        "second strike after the restart mutes"
    );
    app.stop().await;
}

#[tokio::test]
async fn owners_and_admins_are_exempt_and_the_bot_ignores_itself() {
    let app = TestApp::spawn().await;
    for (id, user, role) in [(1, 10, "owner"), (2, 11, "admin"), (3, SELF_ID, "member")] {
        let event = group_message(id, user, role, "加微信 free money");
        assert_eq!(app.post_event(&event).await, StatusCode::NO_CONTENT);
    }
    // A member's violation after them is the first thing the gateway sees.
    app.post_event(&spam(4)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(calls[0].params["message_id"], 4);
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_event_changes_nothing() {
    let app = TestApp::spawn().await;
    let event = spam(1);
    for _ in 0..3 {
        assert_eq!(app.post_event(&event).await, StatusCode::NO_CONTENT);
    }
    app.post_event(&spam(2)).await;
    // Three deliveries of message 1 count as one strike.
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_calls_in_order(
        &calls,
        &[
            "delete_msg",
            "send_group_msg",
            "delete_msg",
            "set_group_ban",
            "send_group_msg",
        ],
    );
    app.stop().await;
}

#[tokio::test]
async fn api_calls_carry_the_access_token() {
    // The fake gateway answers 403 without the right Bearer token; a delivered call proves
    // the token was sent.
    let app = TestApp::spawn().await;
    app.post_event(&spam(1)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(calls.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_refusals_are_not() {
    let app = TestApp::spawn().await;
    app.gateway.inject([Fault::Http500, Fault::Failed]);
    app.post_event(&spam(1)).await;
    // The HTTP 500 is retried after a backoff measured on the daemon's clock; the warning
    // waits for the recall it is about. Move the clock on.
    app.gateway.wait_calls(1, PATIENCE).await;
    app.advance(std::time::Duration::from_secs(60));
    let calls = app.gateway.wait_calls(3, PATIENCE).await;
    // The refusal ("status: failed") is not retried: that recall becomes a dead letter, and
    // the warning still goes out.
    assert_eq!(actions(&calls), ["delete_msg", "delete_msg", "send_group_msg"]);
    assert_eq!(actions(&app.gateway.delivered()), ["send_group_msg"]);
    // An hour on, past every backoff: a recall kept for a retry would now be due, would hold
    // up the outbox until it went out, and would then be the fourth call. The outbox empties
    // with three.
    app.advance(std::time::Duration::from_secs(3600));
    app.settle().await;
    assert_eq!(app.gateway.calls().len(), 3, "the refused recall was not tried again");
    let dead = app.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].item.action.kind().as_str(), "recall");
    assert_eq!(dead[0].item.attempts, 2);
    assert!(dead[0].reason.contains("机器人权限不足"), "{}", dead[0].reason);
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_that_hangs_past_the_timeout_is_retried() {
    // Client timeout 2 s; one call at a time, so that `outbox_round` can order the deliveries.
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.outbox.concurrency = 1),
        ..Options::default()
    })
    .await;
    app.gateway
        .inject([Fault::Hang(std::time::Duration::from_millis(2_500))]);
    app.post_event(&spam(1)).await;
    app.gateway.wait_calls(1, PATIENCE).await;
    // The recall timed out and waits for its retry ...
    app.wait_metrics(&[("qunguan_actions_total{kind=\"recall\",result=\"retried\"}", "1")])
        .await;
    // ... and nothing else is attempted meanwhile (per-group order), and the retry waits for
    // the daemon's clock, not the wall clock: the attempt began over 2 s of wall time ago,
    // past the first backoff (1 s), yet the worker finds nothing due.
    app.outbox_round().await;
    assert_eq!(actions(&app.gateway.calls()), ["delete_msg"]);
    app.advance(std::time::Duration::from_secs(60));
    let calls = app.gateway.wait_calls(3, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "delete_msg", "send_group_msg"]);
    assert_eq!(actions(&app.gateway.delivered()), ["delete_msg", "send_group_msg"]);
    app.stop().await;
}
