//! A malformed Telegram update — an entity whose offset plus length overflows — never stops
//! polling, not even across a restart, and never gets a 5xx from the webhook.

use qunguan::config::TelegramMode;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

/// The fixture spam as update `update_id`, message `message_id`.
fn spam(update_id: i64, message_id: i64) -> Value {
    let mut update = tg_fixture("update.message.supergroup_text.json");
    update["update_id"] = json!(update_id);
    update["message"]["message_id"] = json!(message_id);
    update
}

/// A message with a link entity whose `offset + length` is past `usize`.
fn poison(update_id: i64, message_id: i64) -> Value {
    let mut update = spam(update_id, message_id);
    update["message"]["text"] = json!("点这里 领取");
    update["message"]["entities"] =
        json!([{"type": "text_link", "offset": 2, "length": u64::MAX, "url": "https://x.example"}]);
    update
}

#[tokio::test]
async fn a_poison_update_never_stops_polling_even_across_a_restart() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Polling)).await;
    app.telegram.push_updates([poison(20, 2_020), spam(21, 2_021)]);
    let acted = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&acted), ["deleteMessage", "sendMessage"]);
    assert_eq!(acted[0].params["message_id"], 2_021);
    // Polling goes on past both.
    app.telegram
        .wait_for(PATIENCE, |calls| {
            calls
                .iter()
                .any(|c| c.method == "getUpdates" && c.params["offset"] == 22)
        })
        .await;
    let ready = app.admin_get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.text().await.expect("body").contains("task telegram: running"));

    // As if qunguan had died before storing the offset: after the restart the poison is
    // fetched again, and polling still goes on.
    app.telegram.forget_confirmations();
    let fake = app.telegram.clone();
    let app = app
        .restart_after(telegram(TelegramMode::Polling), move |root| {
            let store = qunguan::store::Store::open_path(&root.join("data")).expect("open");
            store
                .set_state(qunguan::gateway::telegram::polling::OFFSET_STATE, &20_i64.to_be_bytes())
                .expect("rewind");
            store.flush_blocking().expect("flush");
            fake.push_updates([spam(22, 2_022)]);
        })
        .await;
    let acted = app.telegram.wait_actions(4, PATIENCE).await;
    assert_eq!(
        methods(&acted[2..4]),
        ["deleteMessage", "restrictChatMember"],
        "the spammer's second strike: the poison skipped, update 21 not repeated"
    );
    assert_eq!(acted[2].params["message_id"], 2_022);
    app.telegram
        .wait_for(PATIENCE, |calls| {
            calls
                .iter()
                .any(|c| c.method == "getUpdates" && c.params["offset"] == 23)
        })
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_poison_update_gets_no_5xx_from_the_webhook() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    for attempt in 0..3 {
        // Telegram retries anything but a 2xx; the answer must not invite that.
        let status = app.post_update(&poison(30, 3_030)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "delivery {attempt}");
    }
    assert_eq!(app.post_update(&spam(31, 3_031)).await, StatusCode::NO_CONTENT);
    let acted = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&acted), ["deleteMessage", "sendMessage"]);
    assert_eq!(acted[0].params["message_id"], 3_031);
    app.stop().await;
}
