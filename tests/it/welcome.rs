//! Welcoming new members.

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
