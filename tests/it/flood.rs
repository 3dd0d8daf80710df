//! Anti-flood (rule `flood`) and dry run, end to end.

use std::time::Duration;

use qunguan::config::{FloodOverride, GroupSettings};
use qunguan::domain::audit::Measure;

use crate::support::*;

const QUIET_GROUP: i64 = 313;

/// A member's message, sent at the test clock's time (the flood rule counts the send time).
fn chat(app: &TestApp, group: i64, id: i64, user: i64, text: &str) -> serde_json::Value {
    let mut event = group_message_in(group, id, user, "member", text);
    event["time"] = serde_json::json!(qunguan::domain::clock::Clock::now(&*app.clock).as_second());
    event
}

#[tokio::test]
async fn eight_messages_in_ten_seconds_are_a_flood_and_all_eight_are_recalled() {
    let app = TestApp::spawn().await;
    // Another member's seven messages in a row are fine.
    for id in 1..=7 {
        app.post_event(&chat(&app, GROUP, id, 501, &format!("第{id}句"))).await;
    }
    // Eight within ten seconds (the clock moves one second per message) are a flood.
    for id in 11..=18 {
        app.advance(Duration::from_secs(1));
        app.post_event(&chat(&app, GROUP, id, 502, &format!("刷屏{id}"))).await;
    }
    let calls = app.gateway.wait_delivered(9, PATIENCE).await;
    assert_eq!(recalled(&calls), (11..=18).collect::<Vec<_>>());
    let warning = calls.iter().find(|c| c.action == "send_group_msg").expect("a warning");
    assert!(sent_text(warning).contains("规则「刷屏」"), "{}", sent_text(warning));
    let cases = app.cases().await;
    assert_eq!(cases.len(), 1);
    assert_eq!(
        (cases[0].rule.as_str(), cases[0].user_id, cases[0].message_id),
        ("flood", 502, Some(18))
    );
    assert_eq!(cases[0].recalled, (11..=18).collect::<Vec<_>>());
    app.stop().await;
}

#[tokio::test]
async fn a_backlog_the_gateway_delivers_at_once_is_judged_by_when_it_was_sent() {
    let app = TestApp::spawn().await;
    // After an outage the gateway delivers eight messages a member wrote a minute apart,
    // all within this one moment of our clock: no flood.
    let now = qunguan::domain::clock::Clock::now(&*app.clock).as_second();
    for id in 1..=8 {
        let mut event = chat(&app, GROUP, id, 506, &format!("积压{id}"));
        event["time"] = serde_json::json!(now - 480 + id * 60);
        app.post_event(&event).await;
    }
    // Eight written within ten seconds are a flood even when they arrive late.
    for id in 11..=18 {
        let mut event = chat(&app, GROUP, id, 508, &format!("刷屏{id}"));
        event["time"] = serde_json::json!(now - 300 + id);
        app.post_event(&event).await;
    }
    let calls = app.gateway.wait_delivered(9, PATIENCE).await;
    assert_eq!(recalled(&calls), (11..=18).collect::<Vec<_>>(), "only the late burst");
    let cases = app.cases().await;
    assert_eq!((cases.len(), cases[0].user_id), (1, 508));
    app.stop().await;
}

#[tokio::test]
async fn spread_out_messages_and_three_laughs_are_not_a_flood_but_the_same_text_five_times_is() {
    let app = TestApp::spawn().await;
    // Eight messages, two seconds apart: never eight within ten seconds.
    for id in 1..=8 {
        app.advance(Duration::from_secs(2));
        app.post_event(&chat(&app, GROUP, id, 503, &format!("聊天{id}"))).await;
    }
    // Three laughs in a row are conversation.
    for id in 11..=13 {
        app.advance(Duration::from_secs(3));
        app.post_event(&chat(&app, GROUP, id, 505, "哈哈")).await;
    }
    // The same text five times within a minute, other chat in between.
    for (id, text) in [
        (21, "有人吗"),
        (22, "你好"),
        (23, "有人吗"),
        (24, "有人吗"),
        (25, "有人吗"),
        (26, "有人吗"),
    ] {
        app.advance(Duration::from_secs(10));
        app.post_event(&chat(&app, GROUP, id, 504, text)).await;
    }
    let calls = app.gateway.wait_delivered(6, PATIENCE).await;
    assert_eq!(
        recalled(&calls),
        [21, 23, 24, 25, 26],
        "only the repeats, not the message in between, and no laugh"
    );
    let cases = app.cases().await;
    assert_eq!(
        (cases.len(), cases[0].user_id, cases[0].measure),
        (1, 504, Measure::Warn)
    );
    app.stop().await;
}

#[tokio::test]
async fn flood_limits_are_set_per_group_and_moderators_are_not_counted() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.groups.insert(
                format!("qq:{QUIET_GROUP}"),
                GroupSettings {
                    flood: FloodOverride {
                        messages: Some(0),
                        repeats: Some(0),
                        ..FloodOverride::default()
                    },
                    ..GroupSettings::default()
                },
            );
        }),
        ..Options::default()
    })
    .await;
    for id in 1..=10 {
        app.post_event(&chat(&app, QUIET_GROUP, id, 505, "同一句话")).await;
        let admin = group_message_in(GROUP, 100 + id, 506, "admin", "公告");
        app.post_event(&admin).await;
    }
    // Flooding stays allowed in the quiet group and for the admin; a member's flood in the
    // test group afterwards is the first thing acted on.
    for id in 201..=205 {
        app.post_event(&chat(&app, GROUP, id, 507, "同一句话")).await;
    }
    let calls = app.gateway.wait_delivered(6, PATIENCE).await;
    assert_eq!(recalled(&calls), [201, 202, 203, 204, 205]);
    app.stop().await;
}

#[tokio::test]
async fn dry_run_decides_and_audits_but_sends_nothing_and_keeps_no_strikes() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.moderation.dry_run = true),
        ..Options::default()
    })
    .await;
    for id in 1..=3 {
        app.post_event(&chat(&app, GROUP, id, 601, "加微信")).await;
    }
    // Welcomes are not moderation: they still go out, and here prove nothing came before.
    let mut joined = fixture("onebot11/notice.group_increase.approve.json");
    joined["group_id"] = GROUP.into();
    app.post_event(&joined).await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg"]);
    let cases = app.cases().await;
    assert_eq!(cases.len(), 3, "every decision is audited");
    for case in &cases {
        assert!(case.dry_run);
        assert_eq!(
            (case.strikes_before, case.strikes_after, case.measure),
            (0, 1, Measure::Warn)
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn dry_run_can_be_set_for_one_group() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            let observe = GroupSettings {
                dry_run: Some(true),
                ..GroupSettings::default()
            };
            s.groups.insert(QUIET_GROUP.to_string(), observe);
        }),
        ..Options::default()
    })
    .await;
    app.post_event(&chat(&app, QUIET_GROUP, 1, 602, "加微信")).await;
    app.post_event(&chat(&app, GROUP, 2, 602, "加微信")).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(recalled(&calls), [2]);
    assert!(
        sent_text(&calls[1]).contains("第1次警告 (1/3)"),
        "the observed group's strike did not count"
    );
    app.stop().await;
}
