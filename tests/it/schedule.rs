//! Scheduled posts through the real daemon: `rules/schedule.toml` and `/schedule`, fired by
//! the scheduler task on the injected clock and delivered by the outbox to the fake gateway.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use qunguan::config::TelegramMode;
use qunguan::domain::duration::HumanDuration;
use qunguan::domain::event::GroupId;
use serde_json::json;

use crate::support::fake_telegram::read_html;
use crate::support::*;

/// Other groups posted to by the multi-group tests.
const GROUP_B: i64 = 726_300_113;
const GROUP_C: i64 = 726_300_114;

fn at(instant: &str) -> Timestamp {
    instant.parse().expect("an RFC 3339 instant")
}

fn write_schedule(rules: &Path, toml: &str) {
    std::fs::write(rules.join("schedule.toml"), toml).expect("write schedule.toml");
}

/// Options with no jitter (posts are sent at their instant) unless `jitter` is given, and
/// one delivery at a time (for `outbox_round`).
fn options(jitter: u64) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.schedule.jitter = HumanDuration::from_secs(jitter);
            s.outbox.concurrency = 1;
        }),
        ..Options::default()
    }
}

/// Starts a daemon whose rules folder holds `schedule`, with the clock at `start`.
async fn spawn_with_schedule(schedule: &str, start: &str, jitter: u64) -> TestApp {
    let app = TestApp::spawn_with(options(jitter)).await;
    app.clock.set(at(start));
    write_schedule(&app.root.path().join("rules"), schedule);
    // Restarted so the schedule is loaded at start, with the clock already at `start`.
    app.restart(options(jitter)).await
}

/// The texts of the group messages sent so far.
fn sent(app: &TestApp) -> Vec<(i64, String)> {
    app.gateway
        .delivered()
        .iter()
        .filter(|c| c.action == "send_group_msg")
        .map(|c| (c.params["group_id"].as_i64().expect("group id"), sent_text(c)))
        .collect()
}

/// Sets the clock to `instant`, waits until `n` messages were sent in all, and checks that no
/// more were: the scheduler has looked at the new time and everything it staged went out.
async fn at_instant_expect(app: &TestApp, instant: &str, n: usize) -> Vec<(i64, String)> {
    app.clock.set(at(instant));
    app.gateway.wait_delivered(n, PATIENCE).await;
    app.settle().await;
    let sent = sent(app);
    assert_eq!(sent.len(), n, "at {instant}: {sent:?}");
    sent
}

#[tokio::test]
async fn a_daily_post_fires_at_its_local_time_in_asia_shanghai_every_day() {
    let schedule = r#"
[[post]]
id = "morning"
groups = [726300112]
at = "07:30"
text = "早上好！今日早报"
"#;
    let app = spawn_with_schedule(schedule, "2026-11-20T12:00:00+08:00", 0).await;
    // One second early: nothing.
    at_instant_expect(&app, "2026-11-21T07:29:59+08:00", 0).await;
    let sent = at_instant_expect(&app, "2026-11-21T07:30:00+08:00", 1).await;
    assert_eq!(sent[0], (GROUP, "早上好！今日早报".to_owned()));
    // Once per occurrence, and again the next day at 07:30 Shanghai time (23:30 UTC).
    at_instant_expect(&app, "2026-11-22T07:29:00+08:00", 1).await;
    at_instant_expect(&app, "2026-11-21T23:29:59Z", 1).await;
    at_instant_expect(&app, "2026-11-22T07:30:00+08:00", 2).await;
    app.stop().await;
}

#[tokio::test]
async fn europe_berlin_posts_fire_once_across_both_daylight_saving_switches() {
    let schedule = r#"
[[post]]
id = "night"
groups = [726300112]
at = "02:30"
timezone = "Europe/Berlin"
text = "夜班提醒"
"#;
    // Spring: 02:30 does not exist on 2027-03-28; the post fires once, at 03:00 CEST.
    let app = spawn_with_schedule(schedule, "2027-03-27T12:00:00+01:00", 0).await;
    at_instant_expect(&app, "2027-03-28T00:59:59Z", 0).await;
    at_instant_expect(&app, "2027-03-28T03:00:00+02:00", 1).await;
    at_instant_expect(&app, "2027-03-28T12:00:00+02:00", 1).await;
    // The next day it is back at 02:30, now CEST (00:30 UTC).
    at_instant_expect(&app, "2027-03-29T00:29:59Z", 1).await;
    at_instant_expect(&app, "2027-03-29T02:30:00+02:00", 2).await;
    app.stop().await;

    // Autumn: 02:30 happens twice on 2026-10-25 (CEST, then CET); the post fires at the first.
    let app = spawn_with_schedule(schedule, "2026-10-24T12:00:00+02:00", 0).await;
    at_instant_expect(&app, "2026-10-25T02:30:00+02:00", 1).await;
    at_instant_expect(&app, "2026-10-25T02:30:00+01:00", 1).await;
    at_instant_expect(&app, "2026-10-25T12:00:00+01:00", 1).await;
    at_instant_expect(&app, "2026-10-26T02:29:59+01:00", 1).await;
    at_instant_expect(&app, "2026-10-26T02:30:00+01:00", 2).await;
    app.stop().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_firing_sends_each_group_exactly_once() {
    let schedule = r#"
[[post]]
id = "noon"
groups = [726300112, 726300113, 726300114]
at = "12:00"
text = "午间分享"
"#;
    let jitter = Duration::from_secs(60);
    let app = spawn_with_schedule(schedule, "2026-11-20T13:00:00+08:00", 60).await;
    let mut offsets: Vec<(Duration, i64)> = [GROUP, GROUP_B, GROUP_C]
        .into_iter()
        .map(|g| (qunguan::service::scheduler::jitter_offset(GroupId::qq(g), jitter), g))
        .collect();
    offsets.sort_unstable();
    assert!(offsets[0].0 < offsets[1].0, "the groups are spread: {offsets:?}");
    let occurrence = at("2026-11-21T12:00:00+08:00");
    // The occurrence is recorded and all three messages wait in the outbox, each until its
    // offset: the first group's is sent ...
    app.clock.set(occurrence + offsets[0].0);
    app.gateway.wait_delivered(1, PATIENCE).await;
    // The others wait in the outbox (which so never empties): every delivery due now was made.
    app.outbox_round().await;
    assert_eq!(sent(&app), [(offsets[0].1, "午间分享".to_owned())]);
    // ... then the daemon stops before the others are due.
    let app = app.restart(options(60)).await;
    app.clock.set(occurrence + jitter);
    app.gateway.wait_delivered(3, PATIENCE).await;
    app.settle().await;
    let mut groups: Vec<i64> = sent(&app).into_iter().map(|(g, _)| g).collect();
    assert_eq!(groups.len(), 3, "no group twice, none lost: {groups:?}");
    groups.sort_unstable();
    assert_eq!(groups, [GROUP, GROUP_B, GROUP_C]);
    // In jitter order: each group waited for its own offset.
    let order: Vec<i64> = sent(&app).into_iter().map(|(g, _)| g).collect();
    assert_eq!(order, offsets.iter().map(|(_, g)| *g).collect::<Vec<_>>());
    app.stop().await;
}

#[tokio::test]
async fn a_missed_post_is_caught_up_within_catch_up_and_skipped_after() {
    let schedule = r#"
[[post]]
id = "morning"
groups = [726300112]
at = "07:30"
text = "早报"
catch_up = "10m"
"#;
    let app = spawn_with_schedule(schedule, "2026-11-20T22:00:00+08:00", 0).await;
    // Down from 22:00 until 07:39 the next morning: 9 minutes late, still sent on start.
    let clock = std::sync::Arc::clone(&app.clock);
    let app = app
        .restart_after(options(0), |_| clock.set(at("2026-11-21T07:39:00+08:00")))
        .await;
    app.gateway.wait_delivered(1, PATIENCE).await;
    app.settle().await;
    assert_eq!(sent(&app), [(GROUP, "早报".to_owned())]);
    // Down again until 07:41 the day after: 11 minutes late, skipped.
    let clock = std::sync::Arc::clone(&app.clock);
    let app = app
        .restart_after(options(0), |_| clock.set(at("2026-11-22T07:41:00+08:00")))
        .await;
    app.settle().await;
    assert_eq!(sent(&app).len(), 1, "a post missed by more than catch_up is not sent");
    // And the skip is remembered: the next restart does not send it either; the next day does.
    let app = app.restart(options(0)).await;
    at_instant_expect(&app, "2026-11-23T07:29:00+08:00", 1).await;
    at_instant_expect(&app, "2026-11-23T07:30:00+08:00", 2).await;
    app.stop().await;
}

#[tokio::test]
async fn rotation_walks_the_texts_in_order_across_restarts() {
    let app = TestApp::spawn_with(options(0)).await;
    app.clock.set(at("2026-11-20T12:00:00+08:00"));
    let rules = app.root.path().join("rules");
    std::fs::create_dir_all(rules.join("posts")).expect("mkdir");
    std::fs::write(rules.join("posts/tips.txt"), "第一期\n---\n第二期\n---\n第三期\n").expect("write");
    write_schedule(
        &rules,
        "[[post]]\nid = \"tips\"\ngroups = [726300112]\nat = \"21:00\"\nfile = \"posts/tips.txt\"\n",
    );
    let mut app = app.restart(options(0)).await;
    let mut texts = Vec::new();
    for day in 20..=23 {
        at_instant_expect(&app, &format!("2026-11-{day}T21:00:00+08:00"), texts.len() + 1).await;
        texts = sent(&app).into_iter().map(|(_, t)| t).collect();
        app = app.restart(options(0)).await;
    }
    assert_eq!(texts, ["第一期", "第二期", "第三期", "第一期"]);
    app.stop().await;
}

#[tokio::test]
async fn a_post_added_by_a_reload_fires_from_then_on_never_for_earlier_times() {
    let app = TestApp::spawn_with(options(0)).await;
    app.clock.set(at("2026-11-21T07:40:00+08:00"));
    let rules = app.root.path().join("rules");
    write_schedule(
        &rules,
        r#"
[[post]]
id = "earlier"
groups = [726300112]
at = "07:30"
text = "早报"

[[post]]
id = "later"
groups = [726300112]
at = "07:45"
text = "课间"
"#,
    );
    qunguan::config::rules::reload(&app.rules, &rules).expect("the schedule reloads");
    // 07:30 passed before the post existed: not sent (though within the default catch_up).
    // (The scheduler's round in `settle` reads the reloaded schedule.)
    app.settle().await;
    assert_eq!(sent(&app), []);
    let sent = at_instant_expect(&app, "2026-11-21T07:45:00+08:00", 1).await;
    assert_eq!(sent[0].1, "课间");
    // A bad schedule keeps the old one live, and says where the error is.
    write_schedule(
        &rules,
        "[[post]]\nid = \"x\"\ngroups = [1]\nat = \"7.30\"\ntext = \"x\"\n",
    );
    let error = qunguan::config::rules::reload(&app.rules, &rules).expect_err("refused");
    assert!(error.to_string().contains("schedule.toml:4"), "{error}");
    at_instant_expect(&app, "2026-11-22T07:30:00+08:00", 2).await;
    app.stop().await;
}

#[tokio::test]
async fn admins_add_list_and_delete_posts_and_members_cannot() {
    let app = TestApp::spawn_with(options(0)).await;
    app.clock.set(at("2026-11-21T12:00:00+08:00"));
    write_schedule(
        &app.root.path().join("rules"),
        "[[post]]\nid = \"morning\"\ngroups = [726300112]\nat = \"07:30\"\ntext = \"早报\"\n",
    );
    qunguan::config::rules::reload(&app.rules, &app.root.path().join("rules")).expect("reloads");

    // A member's /schedule is an ordinary message: no answer, nothing scheduled.
    app.post_event(&command(1, 501, "member", "/schedule add 21:00 刷屏广告"))
        .await;
    app.post_event(&command(2, 501, "member", "/定时 列表")).await;
    app.settle().await;
    assert_eq!(sent(&app), []);

    app.post_event(&command(3, 9, "admin", "/定时 添加 21:00 晚安，明天见\n早点休息"))
        .await;
    app.gateway.wait_delivered(1, PATIENCE).await;
    assert!(sent(&app)[0].1.contains("#1"), "{:?}", sent(&app));
    app.post_event(&command(4, 9, "admin", "/schedule list")).await;
    app.gateway.wait_delivered(2, PATIENCE).await;
    let list = &sent(&app)[1].1;
    assert!(list.contains("[morning] 07:30 (Asia/Shanghai) 早报"), "{list}");
    assert!(list.contains("#1 21:00 (Asia/Shanghai) 晚安，明天见"), "{list}");

    // The added post fires at 21:00 with its text as written, line break included.
    let sent_now = at_instant_expect(&app, "2026-11-21T21:00:00+08:00", 3).await;
    assert_eq!(sent_now[2], (GROUP, "晚安，明天见\n早点休息".to_owned()));

    // Deleted, it stops; deleting what does not exist says so.
    app.post_event(&command(5, 9, "admin", "/schedule del 1")).await;
    app.post_event(&command(6, 9, "admin", "/schedule del 7")).await;
    app.gateway.wait_delivered(5, PATIENCE).await;
    let texts = sent(&app);
    assert!(texts[3].1.contains("已删除定时消息 #1"), "{texts:?}");
    assert!(texts[4].1.contains("没有定时消息 #7"), "{texts:?}");
    // The next day: the file's 07:30, but no 21:00.
    at_instant_expect(&app, "2026-11-22T07:30:00+08:00", 6).await;
    at_instant_expect(&app, "2026-11-22T21:00:00+08:00", 6).await;
    // A redelivered /schedule add adds nothing.
    let again = command(3, 9, "admin", "/定时 添加 21:00 晚安，明天见\n早点休息");
    app.post_event(&again).await;
    app.wait_metrics(&[("qunguan_events_duplicate_total", "1")]).await;
    app.settle().await;
    assert_eq!(sent(&app).len(), 6);
    // A group holds at most MAX_ADMIN_POSTS; the next add is refused with a reason.
    let max = qunguan::service::commands::MAX_ADMIN_POSTS;
    for i in 0..=max {
        let id = 100 + i64::try_from(i).expect("small");
        app.post_event(&command(id, 9, "admin", &format!("/schedule add 08:00 第{i}条")))
            .await;
    }
    let calls = app.gateway.wait_delivered(6 + max + 1, PATIENCE).await;
    let last = sent_text(calls.last().expect("an answer"));
    assert!(last.contains(&format!("已有 {max} 条定时消息")), "{last}");
    app.stop().await;
}

#[tokio::test]
async fn a_telegram_group_gets_scheduled_posts_and_batched_welcomes() {
    let tweak = |s: &mut qunguan::config::Settings| {
        s.gateway.telegram.enabled = true;
        s.gateway.telegram.mode = TelegramMode::Webhook;
        s.schedule.jitter = HumanDuration::from_secs(0);
        s.welcome.batch_window = HumanDuration::from_secs(10);
        s.welcome.template = "{at} 欢迎 {count} 位新朋友！".into();
    };
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(tweak),
        ..Options::default()
    })
    .await;
    app.clock.set(at("2026-11-21T06:00:00+08:00"));
    write_schedule(
        &app.root.path().join("rules"),
        &format!(
            "[[post]]\nid = \"tg-morning\"\ngroups = [\"tg:{TG_CHAT}\"]\nat = \"07:30\"\ntext = \"Good morning\"\n"
        ),
    );
    let app = app
        .restart(Options {
            tweak: Box::new(tweak),
            ..Options::default()
        })
        .await;
    app.clock.set(at("2026-11-21T07:30:00+08:00"));
    let actions = app.telegram.wait_actions(1, PATIENCE).await;
    assert_eq!(methods(&actions), ["sendMessage"]);
    assert_eq!(actions[0].params["chat_id"], json!(TG_CHAT));
    assert_eq!(actions[0].params["text"], "Good morning");

    // The first member to join is greeted at once; two more within the window get one
    // welcome together, when it ends.
    let first = tg_fixture("update.chat_member.joined_via_link.json");
    let joining = |update_id: i64, id: i64, name: &str| {
        let person = json!({"id": id, "is_bot": false, "first_name": name});
        let mut update = first.clone();
        update["update_id"] = json!(update_id);
        update["chat_member"]["from"] = person.clone();
        update["chat_member"]["old_chat_member"]["user"] = person.clone();
        update["chat_member"]["new_chat_member"]["user"] = person;
        update
    };
    assert_eq!(app.post_update(&first).await, reqwest::StatusCode::NO_CONTENT);
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    let (text, mentions) = read_html(actions[1].params["text"].as_str().expect("text"));
    assert_eq!(mentions.len(), 1, "{text}");
    assert!(text.ends_with(" 欢迎 1 位新朋友！"), "{text}");
    app.advance(Duration::from_secs(3));
    let second = joining(718_290_491, 7_359_024_417, "阿杰");
    assert_eq!(app.post_update(&second).await, reqwest::StatusCode::NO_CONTENT);
    app.advance(Duration::from_secs(2));
    let third = joining(718_290_492, 7_359_024_418, "小雨");
    assert_eq!(app.post_update(&third).await, reqwest::StatusCode::NO_CONTENT);
    app.settle().await;
    assert_eq!(
        app.telegram.actions().len(),
        2,
        "nobody else is greeted before the window ends"
    );
    app.advance(Duration::from_secs(5));
    let actions = app.telegram.wait_actions(3, PATIENCE).await;
    assert_eq!(methods(&actions), ["sendMessage", "sendMessage", "sendMessage"]);
    let (text, mentions) = read_html(actions[2].params["text"].as_str().expect("text"));
    let ids: Vec<i64> = mentions.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [7_359_024_417, 7_359_024_418], "both members mentioned");
    assert!(text.ends_with(" 欢迎 2 位新朋友！"), "{text}");
    app.settle().await;
    assert_eq!(app.telegram.actions().len(), 3, "one welcome for the wave");
    app.stop().await;
}
