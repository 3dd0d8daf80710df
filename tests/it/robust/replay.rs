//! Old and replayed events: anything dated more than `server.max_event_age` ago is
//! acknowledged and ignored, so a captured signed body replayed after `storage.seen_ttl` can
//! never punish twice.

use std::time::Duration;

use qunguan::domain::duration::HumanDuration;
use reqwest::StatusCode;

use super::*;

/// The test clock's start, unix seconds (see `TestApp`).
const START: i64 = 1_732_171_530;
const DAY: i64 = 86_400;

fn replay_settings() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.server.max_event_age = HumanDuration::from_secs(86_400);
            s.storage.seen_ttl = HumanDuration::from_secs(2 * 86_400);
        }),
        ..Options::default()
    }
}

/// The spam of `user` as message `id`, sent at `time`.
fn spam_at(id: i64, user: i64, time: i64) -> serde_json::Value {
    let mut event = group_message(id, user, "member", "加微信 领红包");
    event["time"] = serde_json::json!(time);
    event
}

#[tokio::test]
async fn a_week_old_event_is_acknowledged_and_ignored() {
    let app = TestApp::spawn_with(replay_settings()).await;
    assert_eq!(
        app.post_event(&spam_at(1, 42, START - 7 * DAY)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.post_event(&spam_at(2, 42, START - 2)).await, StatusCode::NO_CONTENT);
    let delivered = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&delivered), ["delete_msg", "send_group_msg"]);
    assert_eq!(delivered[0].params["message_id"], 2, "only the fresh one is acted on");
    let cases = app.cases().await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].strikes_after, 1);
    assert_eq!(metric(&app, "qunguan_events_stale_total").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_replay_after_the_seen_ttl_never_gives_a_second_strike() {
    let app = TestApp::spawn_with(replay_settings()).await;
    let captured = spam_at(1, 42, START);
    assert_eq!(app.post_event(&captured).await, StatusCode::NO_CONTENT);
    app.gateway.wait_delivered(2, PATIENCE).await;

    // Three days on: the event's key has been forgotten (the sweep at start drops it) …
    app.advance(Duration::from_secs(3 * 86_400));
    let app = app.restart(replay_settings()).await;
    // … and the captured body, still validly signed, is replayed.
    assert_eq!(app.post_event(&captured).await, StatusCode::NO_CONTENT);
    assert_eq!(metric(&app, "qunguan_events_stale_total").await, 1);
    // The member's next real violation is their second strike, not their third: the replay
    // counted for nothing.
    assert_eq!(
        app.post_event(&spam_at(2, 42, START + 3 * DAY)).await,
        StatusCode::NO_CONTENT
    );
    let delivered = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(
        actions(&delivered[2..4]),
        ["delete_msg", "set_group_ban"],
        "a mute, the second rung"
    );
    assert_eq!(delivered[2].params["message_id"], 2);
    app.stop().await;
}
