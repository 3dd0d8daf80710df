//! Welcoming new members.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_new_member_is_welcomed_with_a_mention_and_the_rules() {
    let app = TestApp::spawn().await;
    let joined = fixture("onebot11/notice.group_increase.approve.json");
    assert_eq!(app.post_event(&joined).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg"]);
    let params = &calls[0].params;
    assert_eq!(params["group_id"], GROUP);
    let segments = params["message"].as_array().expect("segments");
    assert_eq!(
        segments[0],
        json!({"type": "at", "data": {"qq": joined["user_id"].to_string()}})
    );
    let text: String = segments.iter().filter_map(|s| s["data"]["text"].as_str()).collect();
    assert!(text.contains("1. 禁止广告") && text.contains("2. 友善交流"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn the_bot_joining_is_not_welcomed_and_welcome_can_be_turned_off() {
    let app = TestApp::spawn().await;
    let mut bot_joined = fixture("onebot11/notice.group_increase.invite.json");
    bot_joined["user_id"] = json!(SELF_ID);
    assert_eq!(app.post_event(&bot_joined).await, StatusCode::NO_CONTENT);
    // A violation afterwards is the first call: the bot's own join produced nothing.
    app.post_event(&group_message(1, 77, "member", "加微信")).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);
    assert_eq!(calls[0].params["message_id"], 1);
    app.stop().await;

    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.welcome.enabled = false),
        ..Options::default()
    })
    .await;
    app.post_event(&fixture("onebot11/notice.group_increase.approve.json"))
        .await;
    app.post_event(&group_message(1, 77, "member", "加微信")).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);
    assert_eq!(calls[0].params["message_id"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_custom_template_fills_its_variables() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.welcome.template = "欢迎 {at} 来到 {group}！{rules}".into()),
        ..Options::default()
    })
    .await;
    app.post_event(&fixture("onebot11/notice.group_increase.approve.json"))
        .await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    let segments = calls[0].params["message"].as_array().expect("segments").clone();
    assert_eq!(segments[0]["data"]["text"], "欢迎 ");
    assert_eq!(segments[1]["type"], "at");
    let rest = segments[2]["data"]["text"].as_str().expect("text");
    assert!(rest.starts_with(&format!(" 来到 qq:{GROUP}！1. 禁止广告")), "{rest}");
    app.stop().await;
}

/// Options with a welcome batch window of `window` seconds and the given extra changes.
fn batching(window: u64, tweak: impl Fn(&mut qunguan::config::Settings) + Send + Sync + 'static) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.welcome.batch_window = qunguan::domain::duration::HumanDuration::from_secs(window);
            tweak(s);
        }),
        ..Options::default()
    }
}

/// A join of `user_id` to the test group.
fn join_of(user_id: i64) -> serde_json::Value {
    let mut joined = fixture("onebot11/notice.group_increase.approve.json");
    joined["user_id"] = json!(user_id);
    joined["time"] = json!(1_732_171_800 + user_id % 1000);
    joined
}

/// The users a `send_group_msg` call mentions.
fn mentioned(call: &Call) -> Vec<String> {
    call.params["message"]
        .as_array()
        .expect("segments")
        .iter()
        .filter(|s| s["type"] == "at")
        .map(|s| s["data"]["qq"].as_str().expect("qq").to_owned())
        .collect()
}

/// Every call delivered once the daemon has settled ([`TestApp::settle`]: the greeter has
/// looked at the joins and the clock, and the outbox is empty), for "nothing (more) happened"
/// checks.
async fn settled(app: &TestApp) -> Vec<Call> {
    app.settle().await;
    app.gateway.delivered()
}

#[tokio::test]
async fn the_first_joiner_is_greeted_at_once_and_the_next_four_inside_the_window_together() {
    let app = TestApp::spawn_with(batching(10, |s| {
        s.welcome.template = "{at} 欢迎{count}位新朋友！{rules}".into()
    }))
    .await;
    // A quiet group: the first member does not wait.
    assert_eq!(app.post_event(&join_of(801)).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(mentioned(&calls[0]), ["801"]);
    for user in 802..=805 {
        app.advance(Duration::from_secs(2));
        assert_eq!(app.post_event(&join_of(user)).await, StatusCode::NO_CONTENT);
    }
    // The window is 10 s from the first welcome: 8 s have passed.
    assert_eq!(settled(&app).await.len(), 1, "greeted before the window ended");
    app.advance(Duration::from_secs(2));
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg", "send_group_msg"]);
    assert_eq!(mentioned(&calls[1]), ["802", "803", "804", "805"]);
    assert!(
        sent_text(&calls[1]).contains(" 欢迎4位新朋友！1. 禁止广告"),
        "{}",
        sent_text(&calls[1])
    );
    // A join right after that welcome waits for its window in turn …
    app.post_event(&join_of(806)).await;
    assert_eq!(settled(&app).await.len(), 2);
    app.advance(Duration::from_secs(10));
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(mentioned(&calls[2]), ["806"]);
    // … and one after a quiet window is greeted at once again.
    app.advance(Duration::from_secs(60));
    app.post_event(&join_of(807)).await;
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(mentioned(&calls[3]), ["807"]);
    assert_eq!(settled(&app).await.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn members_who_leave_or_are_removed_within_the_window_are_not_welcomed() {
    let app = TestApp::spawn_with(batching(10, |_| {})).await;
    app.post_event(&join_of(801)).await;
    app.gateway.wait_delivered(1, PATIENCE).await;
    for user in 802..=805 {
        app.post_event(&join_of(user)).await;
    }
    // 802 leaves on their own, 803 is removed by an admin, and 804 is removed by the bot for
    // spam (the gateway reports that removal like any other).
    let decrease = |sub_type: &str, user: i64| {
        let mut notice = fixture(&format!("onebot11/notice.group_decrease.{sub_type}.json"));
        notice["user_id"] = json!(user);
        notice["time"] = json!(1_732_172_460 + user % 1000);
        notice
    };
    assert_eq!(app.post_event(&decrease("leave", 802)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.post_event(&decrease("kick", 803)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.post_event(&decrease("kick", 804)).await, StatusCode::NO_CONTENT);
    app.advance(Duration::from_secs(10));
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(mentioned(&calls[1]), ["805"], "only who is still there");
    // A wave whose members all left is not greeted at all.
    app.post_event(&join_of(806)).await;
    app.post_event(&decrease("leave", 806)).await;
    app.advance(Duration::from_secs(10));
    // An admin's command afterwards: its answer is the next call, nothing came before it.
    app.post_event(&command(9, 10, "admin", "/strikes {@4242}")).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(actions(&calls[2..3]), ["send_group_msg"]);
    assert!(
        sent_text(&calls[2]).contains("没有有效的警告记录"),
        "{}",
        sent_text(&calls[2])
    );
    app.stop().await;
}

#[tokio::test]
async fn an_acknowledged_join_is_greeted_after_a_restart() {
    let app = TestApp::spawn_with(batching(10, |_| {})).await;
    app.post_event(&join_of(801)).await;
    app.post_event(&join_of(802)).await;
    app.post_event(&join_of(803)).await;
    let app = app.restart(batching(10, |_| {})).await;
    app.advance(Duration::from_secs(10));
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(mentioned(&calls[0]), ["801"], "greeted at once");
    assert_eq!(mentioned(&calls[1]), ["802", "803"]);
    assert_eq!(settled(&app).await.len(), 2, "greeted once");
    app.stop().await;
}

#[tokio::test]
async fn a_batch_left_by_a_long_downtime_is_dropped_not_greeted_late() {
    let app = TestApp::spawn_with(batching(10, |_| {})).await;
    app.post_event(&join_of(800)).await;
    app.gateway.wait_delivered(1, PATIENCE).await;
    app.post_event(&join_of(801)).await;
    let clock = std::sync::Arc::clone(&app.clock);
    // Down for an hour: past [outbox.max_age] send (10 minutes).
    let app = app
        .restart_after(batching(10, |_| {}), |_| clock.advance(Duration::from_secs(3_600)))
        .await;
    // A join after the restart is greeted alone, at once; the stale batch is gone.
    app.post_event(&join_of(802)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(mentioned(&calls[1]), ["802"]);
    assert_eq!(settled(&app).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_member_rejoining_within_the_rejoin_window_is_not_welcomed_again() {
    let app = TestApp::spawn_with(batching(0, |s| {
        s.welcome.rejoin_window = qunguan::domain::duration::HumanDuration::from_secs(86_400);
    }))
    .await;
    app.post_event(&join_of(801)).await;
    app.gateway.wait_delivered(1, PATIENCE).await;
    // Left and came back an hour later: no second welcome; another member still gets one.
    app.advance(Duration::from_secs(3_600));
    let mut again = join_of(801);
    again["time"] = json!(1_732_175_400);
    app.post_event(&again).await;
    app.post_event(&join_of(802)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(mentioned(&calls[1]), ["802"]);
    // A day after their last join, they are welcomed again.
    app.advance(Duration::from_secs(86_400));
    let mut later = join_of(801);
    later["time"] = json!(1_732_265_400);
    app.post_event(&later).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(mentioned(&calls[2]), ["801"]);
    assert_eq!(settled(&app).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn the_previous_welcome_is_deleted_when_the_next_is_posted() {
    let app = TestApp::spawn_with(batching(0, |s| s.welcome.delete_previous = true)).await;
    app.post_event(&join_of(801)).await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg"]);
    // The fake gateway numbers the messages it sends from 9001. The next welcome recalls the
    // one whose delivery is recorded (the receipt is written with the delivered mark, a few
    // milliseconds after the gateway answered).
    let first_id = json!(9_001);
    app.settle().await;
    app.post_event(&join_of(802)).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg", "delete_msg", "send_group_msg"]);
    assert_eq!(calls[1].params["message_id"], first_id, "the first welcome is recalled");
    assert_eq!(mentioned(&calls[2]), ["802"]);
    app.stop().await;
}

#[tokio::test]
async fn a_group_with_its_own_rules_file_gets_those_rules_in_welcomes_and_rules() {
    let app = TestApp::spawn().await;
    let groups = app.root.path().join("rules/groups");
    std::fs::create_dir_all(&groups).expect("mkdir");
    std::fs::write(groups.join(format!("{GROUP}.md")), "本群专属：只聊 Rust\n").expect("write");
    let app = app.restart(Options::default()).await;
    app.post_event(&join_of(801)).await;
    app.post_event(&command(5, 77, "member", "/规则")).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    for call in &calls {
        let text = sent_text(call);
        assert!(
            text.contains("本群专属：只聊 Rust") && !text.contains("禁止广告"),
            "{text}"
        );
    }
    // Another group still gets group-rules.md.
    let mut elsewhere = join_of(802);
    elsewhere["group_id"] = json!(GROUP + 1);
    app.post_event(&elsewhere).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert!(sent_text(&calls[2]).contains("1. 禁止广告"), "{}", sent_text(&calls[2]));
    app.stop().await;
}
