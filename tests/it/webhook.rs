//! The OneBot webhook: signatures, body limits, malformed input, both message forms.

use qunguan::gateway::onebot::signature;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// A violation from a fresh user; its recall proves the pipeline ran.
fn spam(message_id: i64, user_id: i64) -> serde_json::Value {
    group_message(message_id, user_id, "member", "要不要加微信领红包")
}

#[tokio::test]
async fn signed_events_are_accepted_and_unsigned_or_forged_ones_refused() {
    let app = TestApp::spawn().await;

    let body = serde_json::to_vec(&spam(1, 501)).expect("json");
    assert_eq!(
        app.post_raw(body.clone(), None).await,
        StatusCode::UNAUTHORIZED,
        "missing signature"
    );
    let forged = signature::sign(b"not-the-secret", &body);
    assert_eq!(
        app.post_raw(body.clone(), Some(&forged)).await,
        StatusCode::UNAUTHORIZED,
        "wrong signature"
    );
    assert_eq!(
        app.post_raw(body.clone(), Some("sha1=zz")).await,
        StatusCode::UNAUTHORIZED,
        "malformed signature"
    );
    let tampered = signature::sign(SECRET.as_bytes(), b"{}");
    assert_eq!(
        app.post_raw(body, Some(&tampered)).await,
        StatusCode::UNAUTHORIZED,
        "signature of another body"
    );

    // Refused events changed nothing: the first action the gateway sees is from this event.
    assert_eq!(app.post_event(&spam(2, 502)).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);
    assert_eq!(
        calls[0].params["message_id"], 2,
        "message 1 (refused) was never acted on"
    );
    app.stop().await;
}

#[tokio::test]
async fn unsigned_events_work_when_no_secret_is_configured() {
    let app = TestApp::spawn_with(Options {
        secret: String::new(),
        ..Options::default()
    })
    .await;
    assert_eq!(app.post_event(&spam(1, 501)).await, StatusCode::NO_CONTENT);
    assert_eq!(
        actions(&app.gateway.wait_delivered(2, PATIENCE).await),
        ["delete_msg", "send_group_msg"]
    );
    app.stop().await;
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let app = TestApp::spawn().await;
    let huge = "广告".repeat(400_000); // ~2.4 MB of text, over the 1 MiB default
    let event = group_message(1, 501, "member", &huge);
    assert_eq!(app.post_event(&event).await, StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

#[tokio::test]
async fn malformed_or_wrongly_shaped_bodies_get_400_and_the_daemon_stays_up() {
    let app = TestApp::spawn().await;
    for body in [
        &b"{not json"[..],
        b"[]",
        b"\"a string\"",
        br#"{"self_id": 1}"#,
        br#"{"post_type":"message","message_type":"group","user_id":1,"message_id":1,"message":"x"}"#,
        br#"{"post_type":"message","message_type":"group","group_id":1,"user_id":1,"message_id":1,"message":42}"#,
        br#"{"post_type":"notice","notice_type":"group_increase","group_id":"abc","user_id":1}"#,
    ] {
        let sig = signature::sign(SECRET.as_bytes(), body);
        assert_eq!(
            app.post_raw(body.to_vec(), Some(&sig)).await,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_ignored_event_types_are_acknowledged() {
    let app = TestApp::spawn().await;
    for event in [
        fixture("onebot11/meta.heartbeat.json"),
        fixture("onebot11/notice.group_recall.json"),
        fixture("onebot11/notice.group_ban.ban.json"),
        fixture("onebot11/request.group_invite.json"),
        json!({"post_type": "something_new", "self_id": SELF_ID, "time": 1}),
        json!({"post_type": "notice", "notice_type": "brand_new_notice", "self_id": SELF_ID, "time": 1}),
        json!({"post_type": "message", "message_type": "private", "self_id": SELF_ID, "user_id": 1, "message": "加微信", "message_id": 1, "time": 1}),
    ] {
        assert_eq!(app.post_event(&event).await, StatusCode::NO_CONTENT, "{event}");
    }
    app.stop().await;
}

#[tokio::test]
async fn string_and_array_messages_with_cq_escapes_are_both_filtered() {
    let app = TestApp::spawn().await;
    // CQ string: the phrase "[推广]" arrives escaped.
    let string_form = group_message(11, 601, "member", "&#91;推广&#93; 点这里[CQ:face,id=178]");
    // Segment array: the phrase is split across two text segments around a face.
    let mut array_form = group_message(12, 602, "member", "");
    array_form["message"] = json!([
        {"type": "at", "data": {"qq": SELF_ID}},
        {"type": "text", "data": {"text": " 加微"}},
        {"type": "text", "data": {"text": "信领福利"}},
    ]);
    // The phrase only inside a CQ parameter is not text: no action.
    let in_parameter = group_message(13, 603, "member", "[CQ:image,file=加微信.jpg]看图");
    // The owner's escaped announcement (fixture) contains no phrase: no action.
    let owner = fixture("onebot11/event.group_message.escaped.json");

    for event in [&in_parameter, &owner, &string_form, &array_form] {
        assert_eq!(app.post_event(event).await, StatusCode::NO_CONTENT);
    }
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    let recalled: Vec<i64> = calls
        .iter()
        .filter(|c| c.action == "delete_msg")
        .filter_map(|c| c.params["message_id"].as_i64())
        .collect();
    assert_eq!(recalled, [11, 12]);
    app.stop().await;
}

#[tokio::test]
async fn fixtures_from_real_gateways_parse() {
    let app = TestApp::spawn().await;
    for name in [
        "event.group_message.array.json",
        "event.group_message.string.json",
        "event.group_message.image.json",
        "event.group_message.escaped.json",
        "notice.group_decrease.kick.json",
        "notice.group_decrease.leave.json",
        "notice.group_ban.lift_ban.json",
        "notice.group_ban.whole_group.json",
        "request.group_add.json",
        "request.group_add.lagrange_flag.json",
    ] {
        let event = fixture(&format!("onebot11/{name}"));
        assert_eq!(app.post_event(&event).await, StatusCode::NO_CONTENT, "{name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_trailing_slash_on_the_webhook_path_works_and_healthz_answers() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&fixture("onebot11/meta.heartbeat.json")).expect("json");
    let sig = signature::sign(SECRET.as_bytes(), &body);
    let status = reqwest::Client::new()
        .post(format!("{}{}/", app.base, app.settings.gateway.onebot.webhook_path))
        .header("x-signature", sig)
        .body(body)
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    app.stop().await;
}
