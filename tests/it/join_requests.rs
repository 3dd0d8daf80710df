//! Join requests (入群申请): approved for a configured answer, rejected for blocked words,
//! otherwise left to the admins — through the real daemon and the fake gateways.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// A request to join the test group with `comment`, under its own flag.
fn request(flag: &str, user_id: i64, comment: &str) -> Value {
    let mut event = fixture("onebot11/request.group_add.json");
    event["flag"] = json!(flag);
    event["user_id"] = json!(user_id);
    event["comment"] = json!(comment);
    event
}

fn screening() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.join_requests.answers = vec!["朋友推荐".into(), "Rust 中文社区".into()];
            s.join_requests.reject_reason = "申请信息含有广告".into();
        }),
        ..Options::default()
    }
}

#[tokio::test]
async fn requests_are_approved_rejected_or_left_to_the_admins() {
    let app = TestApp::spawn_with(screening()).await;
    // Approved: the answer is in the text (case, width and spacing do not matter).
    let approved = request("flag-1", 801, "问题：你从哪里知道本群？\n答案：ＲＵＳＴ中文社区");
    // Rejected: a blocked word, even next to an accepted answer.
    let rejected = request("flag-2", 802, "答案：朋友推荐 加微信 领资料");
    // Passed: neither.
    let passed = request("flag-3", 803, "答案：随便看看");
    for event in [&approved, &rejected, &passed] {
        assert_eq!(app.post_event(event).await, StatusCode::NO_CONTENT);
    }
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["set_group_add_request", "set_group_add_request"]);
    assert_eq!(calls[0].params["flag"], "flag-1");
    assert_eq!(calls[0].params["approve"], true);
    assert_eq!(calls[1].params["flag"], "flag-2");
    assert_eq!(calls[1].params["approve"], false);
    assert_eq!(calls[1].params["reason"], "申请信息含有广告");
    // All three were answered 204 (so whatever was decided is stored); once the outbox is
    // empty, an answer to the third would have reached the gateway.
    app.settle().await;
    assert_eq!(
        app.gateway.delivered().len(),
        2,
        "the third request is left to the admins"
    );

    // Both decisions are audited; the rejection names the word list that matched.
    let cases = app.cases().await;
    assert_eq!(cases.len(), 2, "{cases:?}");
    let by_user = |user: i64| cases.iter().find(|c| c.user_id == user).expect("a case");
    assert_eq!(by_user(801).measure, qunguan::domain::audit::Measure::JoinApproved);
    assert_eq!(by_user(802).measure, qunguan::domain::audit::Measure::JoinRejected);
    assert_eq!(by_user(802).rule, "ads");
    // A redelivered request is answered once.
    app.post_event(&approved).await;
    app.wait_metrics(&[("qunguan_events_duplicate_total", "1")]).await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn without_answers_or_screening_every_request_is_left_to_the_admins() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.join_requests.reject_blocked = false),
        ..Options::default()
    })
    .await;
    app.post_event(&request("flag-1", 801, "朋友推荐")).await;
    app.post_event(&request("flag-2", 802, "加微信")).await;
    // A message after them is the first thing acted on.
    app.post_event(&group_message(1, 77, "member", "加微信")).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);
    app.stop().await;
}

#[tokio::test]
async fn a_group_can_have_its_own_answers() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.join_requests.answers = vec!["朋友推荐".into()];
            let group = s.groups.entry(GROUP.to_string()).or_default();
            group.join_requests.answers = Some(vec!["暗号42".into()]);
        }),
        ..Options::default()
    })
    .await;
    app.post_event(&request("flag-1", 801, "朋友推荐")).await;
    app.post_event(&request("flag-2", 802, "暗号 42")).await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    app.settle().await;
    let calls_now = app.gateway.delivered();
    assert_eq!(calls_now.len(), 1, "{calls_now:?}");
    assert_eq!(calls[0].params["flag"], "flag-2");
    assert_eq!(calls[0].params["approve"], true);
    app.stop().await;
}

#[tokio::test]
async fn telegram_join_requests_are_screened_by_the_applicants_bio() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = qunguan::config::TelegramMode::Webhook;
            s.join_requests.answers = vec!["rustacean".into()];
        }),
        ..Options::default()
    })
    .await;
    // The fixture's bio is "Rustacean / 杭州": approved.
    let welcome = tg_fixture("update.chat_join_request.json");
    let mut spammer = welcome.clone();
    spammer["update_id"] = json!(718_290_531);
    spammer["chat_join_request"]["from"]["id"] = json!(TG_SPAMMER);
    spammer["chat_join_request"]["bio"] = json!("兼职日结 t.me/+abcdef");
    for update in [&welcome, &spammer] {
        assert_eq!(app.post_update(update).await, StatusCode::NO_CONTENT);
    }
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&actions), ["approveChatJoinRequest", "declineChatJoinRequest"]);
    assert_eq!(
        actions[0].params,
        json!({"chat_id": TG_CHAT, "user_id": 7_359_024_416_i64})
    );
    assert_eq!(actions[1].params["user_id"], json!(TG_SPAMMER));
    app.stop().await;
}
