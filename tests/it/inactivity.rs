//! Inactivity (潜水): `/inactive`, reminders at the configured steps, optional removal.
//!
//! The sweep runs every `[inactivity] check_every` of real time; these tests move the
//! daemon's clock and then run the daemon's own sweep directly, so nothing waits on time.

use std::time::Duration;

use qunguan::config::{GroupSettings, UserRef};
use qunguan::domain::audit::{Actor, Measure};
use qunguan::domain::duration::HumanDuration;
use qunguan::domain::event::Platform;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const DAY: Duration = Duration::from_secs(86_400);
const ADMIN: i64 = 10;
const ALICE: i64 = 101;
const BOB: i64 = 102;
const CAROL: i64 = 103;
const EXEMPT: i64 = 104;
const SUPER: i64 = 105;

fn joined(user: i64) -> Value {
    let mut event = fixture("onebot11/notice.group_increase.approve.json");
    event["user_id"] = json!(user);
    event
}

fn left(user: i64) -> Value {
    let mut event = fixture("onebot11/notice.group_decrease.leave.json");
    event["user_id"] = json!(user);
    event["operator_id"] = json!(user);
    event
}

async fn post(app: &TestApp, event: &Value) {
    assert_eq!(app.post_event(event).await, StatusCode::NO_CONTENT, "{event}");
}

/// Posts `spec` as a command from `user` and returns the text of the answer.
async fn ask(app: &TestApp, id: i64, user: i64, role: &str, spec: &str) -> String {
    let before = app.gateway.delivered().len();
    post(app, &command(id, user, role, spec)).await;
    let calls = app.gateway.wait_delivered(before + 1, PATIENCE).await;
    assert_eq!(calls.len(), before + 1, "{calls:?}");
    sent_text(&calls[before])
}

fn with_exempt_and_super_user(s: &mut qunguan::config::Settings) {
    s.groups.insert(
        GROUP.to_string(),
        GroupSettings {
            exempt: vec![EXEMPT],
            ..GroupSettings::default()
        },
    );
    s.admin.super_users = vec![UserRef {
        platform: Platform::Qq,
        id: SUPER,
    }];
}

#[tokio::test]
async fn inactive_lists_the_longest_silent_first_without_admins_exempt_or_super_users() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(with_exempt_and_super_user),
        ..Options::default()
    })
    .await;
    // Day 0: Alice speaks, Bob joins and never speaks, the admin, an exempt member and a super
    // user speak. Day 3: Carol speaks.
    post(&app, &group_message(1, ALICE, "member", "大家好")).await;
    post(&app, &joined(BOB)).await;
    post(&app, &group_message(2, ADMIN, "admin", "欢迎")).await;
    post(&app, &group_message(3, EXEMPT, "member", "hi")).await;
    post(&app, &group_message(4, SUPER, "member", "hi")).await;
    app.advance(DAY);
    post(&app, &group_message(5, ALICE, "member", "还是我")).await;
    app.advance(2 * DAY);
    post(&app, &group_message(6, CAROL, "member", "路过")).await;
    app.advance(6 * DAY);
    let welcomes = app.gateway.wait_delivered(1, PATIENCE).await.len();

    // Day 9: Bob silent since his join 9 days ago, Alice 8 days, Carol 6.
    let text = ask(&app, 10, ADMIN, "admin", "/inactive 7d").await;
    assert_eq!(
        text,
        "潜水7天以上的成员共 2 人：\n\
         1. 102：入群9天，从未发言\n\
         2. user101 (101)：8天未发言\n\
         （9天前开始记录；此前入群且之后从未发言的成员不在此列）"
    );
    // The Chinese alias and the default of 7 days; five days catches Carol too.
    assert_eq!(ask(&app, 11, ADMIN, "owner", "/潜水").await, text);
    let text = ask(&app, 12, ADMIN, "admin", "/潜水 5天").await;
    assert!(text.starts_with("潜水5天以上的成员共 3 人："), "{text}");
    assert!(text.contains("3. user103 (103)：6天未发言"), "{text}");
    assert_eq!(
        ask(&app, 13, ADMIN, "admin", "/inactive 10d").await,
        "没有潜水10天以上的成员。\n（9天前开始记录；此前入群且之后从未发言的成员不在此列）"
    );
    assert_eq!(
        ask(&app, 14, ADMIN, "admin", "/inactive soon").await,
        "用法：/inactive [7d]  (/潜水 7天)"
    );

    // Bob speaks, Alice leaves: neither is silent any more.
    post(&app, &group_message(20, BOB, "member", "我在")).await;
    post(&app, &left(ALICE)).await;
    // A member's /inactive is an ordinary message: no answer.
    post(&app, &command(21, CAROL, "member", "/inactive 1d")).await;
    let text = ask(&app, 22, ADMIN, "admin", "/inactive 7d").await;
    assert!(text.starts_with("没有潜水7天以上的成员。"), "{text}");
    assert_eq!(
        app.gateway.delivered().len(),
        welcomes + 6,
        "only the admins were answered"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_list_is_bounded_and_speaks_english() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.inactivity.list_limit = 2;
            s.messages.locale = qunguan::domain::locale::Locale::En;
        }),
        ..Options::default()
    })
    .await;
    for (i, user) in [ALICE, BOB, CAROL].into_iter().enumerate() {
        let id = i64::try_from(i).expect("small") + 1;
        post(&app, &group_message(id, user, "member", "hello")).await;
        app.advance(DAY);
    }
    app.advance(7 * DAY);
    assert_eq!(
        ask(&app, 10, ADMIN, "admin", "/inactive 7d").await,
        "Members silent for 7 d or more: 3\n\
         1. user101 (101): 10 d without a message\n\
         2. user102 (102): 9 d without a message\n\
         … and 1 more\n\
         (Tracking began 10 d ago; members who joined before that and never spoke since are not listed.)"
    );
    app.stop().await;
}

/// Reminders at 7 and 15 days.
fn reminders() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.inactivity.remind_after = vec![
                HumanDuration::from_secs(7 * 86_400),
                HumanDuration::from_secs(15 * 86_400),
            ];
        }),
        ..Options::default()
    }
}

#[tokio::test]
async fn reminders_go_out_once_per_step_and_start_over_when_the_member_speaks() {
    let app = TestApp::spawn_with(reminders()).await;
    post(&app, &group_message(1, ALICE, "member", "大家好")).await;
    post(&app, &group_message(2, BOB, "member", "你好")).await;
    post(&app, &group_message(3, ADMIN, "owner", "欢迎")).await;

    // Not yet: six days.
    app.advance(6 * DAY);
    assert_eq!(app.inactivity.sweep().await.expect("sweep").posts, 0);

    // Day 7: one post mentions both members (not the owner).
    app.advance(DAY);
    let swept = app.inactivity.sweep().await.expect("sweep");
    assert_eq!((swept.posts, swept.reminded), (1, 2));
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg"]);
    assert_eq!(
        sent_text(&calls[0]),
        "@101 @102 好久不见！你已经7天没有在群里发言了，出来冒个泡吧～"
    );
    // The same step is not sent again.
    assert_eq!(app.inactivity.sweep().await.expect("sweep").posts, 0);

    // Alice speaks on day 8, which starts her silence over. Day 15: Bob reaches the second
    // step; Alice, silent 7 days again, gets the first step again.
    app.advance(DAY);
    post(&app, &group_message(4, ALICE, "member", "我回来了")).await;
    app.advance(7 * DAY);
    let swept = app.inactivity.sweep().await.expect("sweep");
    assert_eq!((swept.posts, swept.reminded), (2, 2));
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    let mut texts: Vec<String> = calls[1..].iter().map(sent_text).collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "@101 好久不见！你已经7天没有在群里发言了，出来冒个泡吧～",
            "@102 好久不见！你已经15天没有在群里发言了，出来冒个泡吧～",
        ]
    );

    // The reminded steps survive a restart: nothing is sent again.
    let app = app.restart(reminders()).await;
    assert_eq!(app.inactivity.sweep().await.expect("sweep").posts, 0);
    app.stop().await;
}

#[tokio::test]
async fn removal_is_off_by_default_and_when_on_kicks_once_with_an_audit_case() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(with_exempt_and_super_user),
        ..Options::default()
    })
    .await;
    post(&app, &group_message(1, ALICE, "member", "大家好")).await;
    post(&app, &group_message(2, ADMIN, "admin", "欢迎")).await;
    post(&app, &group_message(3, EXEMPT, "member", "hi")).await;
    post(&app, &group_message(4, SUPER, "member", "hi")).await;
    post(&app, &joined(BOB)).await;
    app.gateway.wait_delivered(1, PATIENCE).await;
    app.advance(400 * DAY);
    let swept = app.inactivity.sweep().await.expect("sweep");
    assert_eq!((swept.posts, swept.removed), (0, 0), "off by default");

    // Turned on (30 days): Alice and Bob are removed, nobody else. The start-up sweep or ours
    // does it, exactly once.
    let app = app
        .restart(Options {
            tweak: Box::new(|s| {
                with_exempt_and_super_user(s);
                s.inactivity.remove_after = HumanDuration::from_secs(30 * 86_400);
            }),
            ..Options::default()
        })
        .await;
    app.inactivity.sweep().await.expect("sweep");
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    let mut kicked: Vec<i64> = calls[1..]
        .iter()
        .inspect(|c| assert_eq!(c.action, "set_group_kick", "{c:?}"))
        .map(|c| c.params["user_id"].as_i64().expect("user id"))
        .collect();
    kicked.sort_unstable();
    assert_eq!(kicked, [ALICE, BOB]);
    assert_eq!(app.inactivity.sweep().await.expect("sweep").removed, 0, "never twice");
    let cases = app.cases().await;
    assert_eq!(cases.len(), 2);
    for case in &cases {
        assert_eq!(case.rule, "inactive");
        assert_eq!(case.measure, Measure::Kick);
        assert_eq!(case.actor, Actor::Auto);
        assert!(case.reason.starts_with("潜水400天"), "{case:?}");
    }
    // A marker: nothing else was sent in between.
    post(&app, &group_message(9, CAROL, "member", "加微信")).await;
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(actions(&calls[3..5]), ["delete_msg", "send_group_msg"]);
    app.stop().await;
}

#[tokio::test]
async fn message_times_noted_in_memory_survive_a_restart() {
    let app = TestApp::spawn().await;
    post(&app, &group_message(1, ALICE, "member", "大家好")).await;
    // Restarted at once, before the periodic write (the unit tests pin down the batching;
    // here the promise is that a restart keeps what was noted).
    let app = app.restart(Options::default()).await;
    app.advance(8 * DAY);
    let text = ask(&app, 2, ADMIN, "admin", "/inactive 7d").await;
    assert!(text.contains("1. user101 (101)：8天未发言"), "{text}");
    app.stop().await;
}
