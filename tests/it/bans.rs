//! The instance-wide ban list (issue 13 §3) through the real daemon: `/gban` and `/ungban`
//! from QQ groups and a Telegram chat, removal wherever a banned member turns up, the
//! operator CLI, a subscribed shared list and the CAS lookup against local fakes.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use qunguan::config::TelegramMode;
use qunguan::domain::audit::Measure;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const SUPER: i64 = 12;
const ADMIN: i64 = 10;
const MEMBER: i64 = 11;
const SPAMMER: i64 = 4242;
const GROUP2: i64 = 726_300_113;
const GROUP3: i64 = 726_300_114;

fn with_super_user() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.admin.super_users = vec![SUPER.to_string().parse().expect("user")];
        }),
        ..Options::default()
    }
}

/// `user` joins `group`.
fn join(group: i64, user: i64, time: i64) -> Value {
    let mut joined = fixture("onebot11/notice.group_increase.approve.json");
    joined["group_id"] = json!(group);
    joined["user_id"] = json!(user);
    joined["time"] = json!(time);
    joined
}

/// `user` asks to join the test group under `flag`.
fn request(flag: &str, user: i64) -> Value {
    let mut event = fixture("onebot11/request.group_add.json");
    event["flag"] = json!(flag);
    event["user_id"] = json!(user);
    event["comment"] = json!("答案：随便看看");
    event
}

/// Posts `event`, then waits for `expect` more gateway calls and returns them.
async fn run(app: &TestApp, event: &Value, expect: usize) -> Vec<Call> {
    let before = app.gateway.delivered().len();
    assert_eq!(app.post_event(event).await, StatusCode::NO_CONTENT, "{event}");
    let calls = app.gateway.wait_delivered(before + expect, PATIENCE).await;
    calls[before..].to_vec()
}

/// A marker the admin's `/strikes` answers: once it is delivered, everything posted before
/// it has been handled (events of one group are handled and delivered in order).
async fn marker(app: &TestApp, id: i64) -> Vec<Call> {
    run(app, &command(id, ADMIN, "admin", "/strikes {@1}"), 1).await
}

fn kicked_groups(calls: &[Call]) -> Vec<i64> {
    let mut groups: Vec<i64> = calls
        .iter()
        .filter(|c| c.action == "set_group_kick")
        .map(|c| {
            assert_eq!(c.params["user_id"], SPAMMER, "{c:?}");
            // QQ cannot lift a refusal of re-joining later, so /gban leaves none: the ban
            // list itself declines the member's requests (and /ungban really lets them back).
            assert_eq!(c.params["reject_add_request"], false, "{c:?}");
            c.params["group_id"].as_i64().expect("group")
        })
        .collect();
    groups.sort_unstable();
    groups
}

#[tokio::test]
async fn a_super_users_gban_removes_the_member_everywhere_and_keeps_them_out_across_a_restart() {
    let app = TestApp::spawn_with(with_super_user()).await;
    // The member is seen in two groups; another member in a third.
    app.post_event(&group_message(1, SPAMMER, "member", "大家好")).await;
    app.post_event(&group_message_in(GROUP2, 2, SPAMMER, "member", "在吗"))
        .await;
    app.post_event(&group_message_in(GROUP3, 3, MEMBER, "member", "早"))
        .await;

    let calls = run(&app, &command(4, SUPER, "member", "/gban {@4242} 广告号"), 3).await;
    assert_eq!(kicked_groups(&calls), [GROUP, GROUP2], "{calls:?}");
    let reply = calls.iter().find(|c| c.action == "send_group_msg").expect("a reply");
    let text = sent_text(reply);
    assert!(
        text.contains("已全局拉黑 qq:4242") && text.contains("2 个群") && text.contains("案件 #1"),
        "{text}"
    );
    let cases = app.cases().await;
    let case = cases
        .iter()
        .find(|c| c.measure == Measure::GlobalBan)
        .expect("an audit case");
    assert_eq!(
        (case.user_id, case.rule.as_str(), case.reason.as_str()),
        (SPAMMER, "gban", "广告号")
    );

    // Joining a third group: removed at once, and never welcomed.
    let calls = run(&app, &join(GROUP3, SPAMMER, 1_732_172_100), 1).await;
    assert_eq!(actions(&calls), ["set_group_kick"]);
    assert_eq!(kicked_groups(&calls), [GROUP3]);
    // Speaking (a message that slipped in): recalled and removed.
    let calls = run(&app, &group_message_in(GROUP2, 5, SPAMMER, "member", "hello"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);
    assert_eq!(calls[0].params["message_id"], 5);
    // Asking to join: declined.
    let calls = run(&app, &request("flag-9", SPAMMER), 1).await;
    assert_eq!(actions(&calls), ["set_group_add_request"]);
    assert_eq!(
        (calls[0].params["flag"].as_str(), calls[0].params["approve"].as_bool()),
        (Some("flag-9"), Some(false))
    );
    app.wait_metrics(&[
        ("qunguan_bans{source=\"local\"}", "1"),
        ("qunguan_bans_enforced_total", "3"),
    ])
    .await;

    // The ban survives a restart.
    let app = app.restart(with_super_user()).await;
    let calls = run(&app, &group_message_in(GROUP3, 6, SPAMMER, "member", "我又来了"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);

    // /ungban lifts it: the member speaks freely again.
    let calls = run(&app, &command(7, SUPER, "member", "/ungban qq:4242"), 1).await;
    assert!(
        sent_text(&calls[0]).contains("已解除对 qq:4242 的全局拉黑"),
        "{calls:?}"
    );
    app.post_event(&group_message(8, SPAMMER, "member", "谢谢")).await;
    assert_eq!(
        actions(&marker(&app, 9).await),
        ["send_group_msg"],
        "nothing was done to the member"
    );
    assert!(app.cases().await.iter().any(|c| c.measure == Measure::GlobalUnban));
    // A second /ungban says they are not banned.
    let calls = run(&app, &command(10, SUPER, "member", "/解除拉黑 4242"), 1).await;
    assert!(sent_text(&calls[0]).contains("不在全局黑名单中"), "{calls:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_plain_members_gban_is_ignored_and_an_admins_is_refused_with_a_pointer_to_kick() {
    let app = TestApp::spawn_with(with_super_user()).await;
    app.post_event(&group_message(1, SPAMMER, "member", "大家好")).await;
    app.post_event(&command(2, MEMBER, "member", "/gban {@4242}")).await;
    assert_eq!(
        actions(&marker(&app, 3).await),
        ["send_group_msg"],
        "the member's /gban did nothing"
    );

    let calls = run(&app, &command(4, ADMIN, "admin", "/全局拉黑 {@4242}"), 1).await;
    assert_eq!(actions(&calls), ["send_group_msg"]);
    let text = sent_text(&calls[0]);
    assert!(text.contains("超级管理员") && text.contains("/kick"), "{text}");
    // Nobody is banned: the member still speaks freely.
    app.post_event(&group_message(5, SPAMMER, "member", "在吗")).await;
    assert_eq!(actions(&marker(&app, 6).await), ["send_group_msg"]);
    assert!(app.cases().await.is_empty());
    app.stop().await;
}

/// Runs the CLI on the stopped daemon's data folder (inside `restart_after`).
fn cli_now(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .env("QUNGUAN__STORAGE__PATH", data)
        .env("QUNGUAN__RULES__DIR", data.join("rules"))
        .env_remove("RUST_LOG")
        // English answers whatever the developer's shell speaks (`cli::locale`).
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("the binary runs")
}

fn stdout_of(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn gban_by_id_and_by_reply_and_the_cli_round_trip_on_the_stopped_daemon() {
    let app = TestApp::spawn_with(with_super_user()).await;
    app.post_event(&group_message(1, 5_001, "member", "第一条")).await;
    app.post_event(&group_message(2, 6_000, "member", "路过")).await;
    let calls = run(&app, &command(3, SUPER, "member", "/gban qq:5002 批量注册"), 1).await;
    assert!(
        sent_text(&calls[0]).contains("0 个群"),
        "never seen: nothing to kick: {calls:?}"
    );
    // As a reply to the member's message.
    let mut reply = command(4, SUPER, "member", "/gban");
    reply["message"] =
        json!([{"type": "reply", "data": {"id": "1"}}, {"type": "text", "data": {"text": "/gban 刷屏"}}]);
    let calls = run(&app, &reply, 2).await;
    assert_eq!(actions(&calls), ["set_group_kick", "send_group_msg"]);
    assert_eq!(calls[0].params["user_id"], 5_001);

    let delivered = app.gateway.delivered().len();
    let mut outputs = Vec::new();
    let app = app
        .restart_after(with_super_user(), |root| {
            let data = root.join("data");
            let export = stdout_of(&cli_now(&data, &["bans", "export", "--format", "jsonl"]));
            let file = root.join("bans.jsonl");
            std::fs::write(&file, &export).expect("write");
            let lifted = stdout_of(&cli_now(&data, &["bans", "remove", "qq:5001", "qq:5002"]));
            let empty = stdout_of(&cli_now(&data, &["bans", "list"]));
            let path = file.to_str().expect("utf-8");
            let imported = stdout_of(&cli_now(&data, &["bans", "import", "--format", "jsonl", path]));
            let csv = stdout_of(&cli_now(&data, &["bans", "export"]));
            // A bad line is named and nothing is imported.
            let bad = root.join("bad.csv");
            std::fs::write(&bad, "user,reason,at,by\nqq:7001,ok,,x\nqq:7002,\"unclosed,,x\n").expect("write");
            let refused = cli_now(&data, &["bans", "import", bad.to_str().expect("utf-8")]);
            let added = stdout_of(&cli_now(&data, &["bans", "add", "--reason", "小号", "qq:6000"]));
            let list = stdout_of(&cli_now(&data, &["bans", "list"]));
            outputs = vec![
                export,
                lifted,
                empty,
                imported,
                csv,
                String::from_utf8_lossy(&refused.stderr).into_owned(),
                added,
                list,
            ];
            assert!(!refused.status.success());
        })
        .await;
    let [export, lifted, empty, imported, csv, refused, added, list] = &outputs[..] else {
        panic!("{outputs:?}");
    };
    assert_eq!(export.lines().count(), 2, "{export}");
    assert!(export.contains(r#""user":"qq:5002","reason":"批量注册""#), "{export}");
    assert!(lifted.contains("lifted 2 ban(s)"), "{lifted}");
    assert_eq!(empty.trim(), "user,reason,at,by");
    assert!(imported.contains("imported 2 ban(s), 2 new"), "{imported}");
    assert!(
        csv.starts_with("user,reason,at,by\n") && csv.contains("qq:5002,批量注册,"),
        "{csv}"
    );
    assert!(
        refused.contains("line 3") && refused.contains("nothing was imported"),
        "{refused}"
    );
    assert!(
        added.contains("qq:6000 banned; removal from 1 group(s) queued"),
        "{added}"
    );
    assert_eq!(list.lines().count(), 4, "{list}");

    // The restarted daemon sends the kick the CLI queued (stamped with the real time, which
    // the test's clock must reach first) and enforces the imported list.
    let gap = jiff::Timestamp::now().as_second() - qunguan::domain::clock::Clock::now(&*app.clock).as_second();
    app.advance(std::time::Duration::from_secs(u64::try_from(gap).unwrap_or(0) + 1));
    assert_eq!(
        app.post_event(&join(GROUP2, 5_002, 1_732_172_200)).await,
        StatusCode::NO_CONTENT
    );
    let calls = app.gateway.wait_delivered(delivered + 2, PATIENCE).await;
    let mut kicked: Vec<(i64, i64)> = calls[delivered..]
        .iter()
        .filter(|c| c.action == "set_group_kick")
        .map(|c| {
            (
                c.params["group_id"].as_i64().expect("group"),
                c.params["user_id"].as_i64().expect("user"),
            )
        })
        .collect();
    kicked.sort_unstable();
    assert_eq!(kicked, [(GROUP, 6_000), (GROUP2, 5_002)], "{calls:?}");
    app.stop().await;
}

/// A local stand-in for a shared list's web server and for CAS.
#[derive(Clone, Default)]
struct Fakes {
    list: Arc<Mutex<String>>,
    cas_listed: Arc<Mutex<Vec<i64>>>,
    cas_down: Arc<std::sync::atomic::AtomicBool>,
    cas_asked: Arc<Mutex<Vec<i64>>>,
}

#[derive(serde::Deserialize)]
struct CasQuery {
    user_id: i64,
}

impl Fakes {
    /// Serves `/bans.csv` and CAS's `/check`; returns the base URL.
    async fn start(&self) -> String {
        let router = axum::Router::new()
            .route(
                "/bans.csv",
                axum::routing::get(|State(f): State<Fakes>| async move { f.list.lock().expect("lock").clone() }),
            )
            .route(
                "/check",
                axum::routing::get(|State(f): State<Fakes>, Query(q): Query<CasQuery>| async move {
                    f.cas_asked.lock().expect("lock").push(q.user_id);
                    if f.cas_down.load(std::sync::atomic::Ordering::SeqCst) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned());
                    }
                    let listed = f.cas_listed.lock().expect("lock").contains(&q.user_id);
                    let body = if listed {
                        json!({"ok": true, "result": {"offenses": 3, "messages": ["spam"]}})
                    } else {
                        json!({"ok": false, "description": "Record not found."})
                    };
                    (StatusCode::OK, body.to_string())
                }),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }
}

#[tokio::test]
async fn a_subscribed_list_bans_and_a_bad_version_keeps_the_previous_one() {
    let fakes = Fakes::default();
    *fakes.list.lock().expect("lock") =
        "# shared by a friendly instance\nuser,reason,at,by\nqq:5151,刷屏,,peer\n".into();
    let base = fakes.start().await;
    // A second list, from a file (JSON lines).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("friends.jsonl");
    std::fs::write(&file, "{\"user\":\"qq:5353\",\"reason\":\"小号\"}\n").expect("write");
    let file_entry = file.to_str().expect("utf-8").to_owned();
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(move |s| s.bans.subscribe = vec![format!("{base}/bans.csv"), file_entry.clone()]),
        ..Options::default()
    })
    .await;
    // Every round reads both lists.
    app.wait_metrics(&[
        ("qunguan_bans_refresh_total{result=\"ok\"}", "2"),
        ("qunguan_bans{source=\"shared\"}", "2"),
    ])
    .await;
    let calls = run(&app, &group_message_in(GROUP2, 20, 5_353, "member", "hi"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);
    let calls = run(&app, &group_message(1, 5_151, "member", "hi"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);

    // A new version with a bad line is refused whole; the previous list stays in force.
    *fakes.list.lock().expect("lock") = "user,reason,at,by\nqq:5252,x,,peer\nwx:1,x,,peer\n".into();
    app.bans.refresh_now();
    app.wait_metrics(&[
        ("qunguan_bans_refresh_total{result=\"failed\"}", "1"),
        ("qunguan_bans_refresh_total{result=\"ok\"}", "3"),
    ])
    .await;
    let calls = run(&app, &group_message(2, 5_151, "member", "hi again"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);
    app.post_event(&group_message(3, 5_252, "member", "not banned yet"))
        .await;
    assert_eq!(actions(&marker(&app, 4).await), ["send_group_msg"]);

    // A good version replaces it.
    *fakes.list.lock().expect("lock") = "{\"user\":\"qq:5252\",\"reason\":\"x\"}\n".into();
    app.bans.refresh_now();
    app.wait_metrics(&[("qunguan_bans_refresh_total{result=\"ok\"}", "5")])
        .await;
    let calls = run(&app, &group_message(5, 5_252, "member", "now"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);
    app.post_event(&group_message(6, 5_151, "member", "off the list")).await;
    assert_eq!(actions(&marker(&app, 7).await), ["send_group_msg"]);
    app.stop().await;
}

/// A Telegram `chat_member` update: `user` joins the fixtures' supergroup (its own join).
fn tg_join(update_id: i64, user: i64) -> Value {
    let mut update = tg_fixture("update.chat_member.joined_via_link.json");
    update["update_id"] = json!(update_id);
    let person = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["chat_member"]["from"] = person.clone();
    update["chat_member"]["old_chat_member"]["user"] = person.clone();
    update["chat_member"]["new_chat_member"]["user"] = person;
    // Two reports of one join within a minute are one event: each of these is its own.
    update["chat_member"]["date"] = json!(1_732_172_001 + update_id * 120);
    update
}

/// A text message in the fixtures' supergroup from `user`.
fn tg_text(update_id: i64, message_id: i64, user: i64, text: &str) -> Value {
    let mut update = tg_fixture("update.message.supergroup_text.json");
    update["update_id"] = json!(update_id);
    update["message"]["message_id"] = json!(message_id);
    update["message"]["from"] = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["message"]["text"] = json!(text);
    update["message"]["entities"] = json!([]);
    update
}

#[tokio::test]
async fn telegram_gban_by_id_and_cas_listed_newcomers_are_removed_and_an_unreachable_cas_lets_them_in() {
    let fakes = Fakes::default();
    fakes.cas_listed.lock().expect("lock").push(7_001);
    let base = fakes.start().await;
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(move |s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = TelegramMode::Webhook;
            s.admin.super_users = vec![format!("tg:{TG_OWNER}").parse().expect("user")];
            s.bans.cas = true;
            s.bans.cas_api = base.clone();
        }),
        ..Options::default()
    })
    .await;
    let post = |update: Value| {
        let app = &app;
        async move { assert_eq!(app.post_update(&update).await, StatusCode::NO_CONTENT, "{update}") }
    };
    // A member speaks, then the owner (a super user) bans them by id.
    post(tg_text(1, 100, 6_001, "大家好")).await;
    post(tg_text(2, 101, TG_OWNER, "/gban 6001 广告")).await;
    let calls = app
        .telegram
        .wait_for(PATIENCE, |c| c.iter().any(|c| c.method == "banChatMember"))
        .await;
    let ban = calls.iter().find(|c| c.method == "banChatMember").expect("a ban");
    assert_eq!(
        (ban.params["chat_id"].as_i64(), ban.params["user_id"].as_i64()),
        (Some(TG_CHAT), Some(6_001))
    );
    app.settle().await;
    assert!(
        app.telegram.calls_of("unbanChatMember").is_empty(),
        "a global ban is kept by Telegram too, not a kick"
    );
    // Listed by CAS: removed on joining.
    post(tg_join(3, 7_001)).await;
    app.telegram
        .wait_for(PATIENCE, |c| {
            c.iter()
                .any(|c| c.method == "banChatMember" && c.params["user_id"] == 7_001)
        })
        .await;
    // CAS down: the member is let in (and welcomed like anyone).
    fakes.cas_down.store(true, std::sync::atomic::Ordering::SeqCst);
    post(tg_join(4, 7_002)).await;
    app.wait_metrics(&[
        ("qunguan_cas_lookups_total{result=\"banned\"}", "1"),
        ("qunguan_cas_lookups_total{result=\"failed\"}", "1"),
    ])
    .await;
    // The listed member again: answered from the cache, CAS is not asked twice.
    post(tg_join(5, 7_001)).await;
    app.wait_metrics(&[("qunguan_cas_lookups_total{result=\"cached\"}", "1")])
        .await;
    assert_eq!(*fakes.cas_asked.lock().expect("lock"), [7_001, 7_002]);
    app.settle().await;
    let bans: Vec<i64> = app
        .telegram
        .calls_of("banChatMember")
        .iter()
        .map(|c| c.params["user_id"].as_i64().expect("user"))
        .collect();
    assert_eq!(
        bans,
        [6_001, 7_001, 7_001],
        "the member CAS could not be asked about stayed"
    );
    // /ungban lifts Telegram's own ban in the chat the member was removed from, so they may
    // join again.
    post(tg_text(6, 102, TG_OWNER, "/ungban tg:6001")).await;
    let calls = app
        .telegram
        .wait_for(PATIENCE, |c| c.iter().any(|c| c.method == "unbanChatMember"))
        .await;
    let unbans: Vec<_> = calls.iter().filter(|c| c.method == "unbanChatMember").collect();
    assert_eq!(unbans.len(), 1, "{unbans:?}");
    assert_eq!(
        (
            unbans[0].params["chat_id"].as_i64(),
            unbans[0].params["user_id"].as_i64(),
            unbans[0].params["only_if_banned"].as_bool()
        ),
        (Some(TG_CHAT), Some(6_001), Some(true))
    );
    app.stop().await;
}

#[tokio::test]
async fn in_dry_run_a_banned_member_is_recorded_and_left_alone() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.admin.super_users = vec![SUPER.to_string().parse().expect("user")];
            s.moderation.dry_run = true;
        }),
        ..Options::default()
    })
    .await;
    // Commands are not dry run: the /gban acts.
    let calls = run(&app, &command(1, SUPER, "member", "/gban qq:4242"), 1).await;
    assert!(sent_text(&calls[0]).contains("已全局拉黑 qq:4242"), "{calls:?}");
    app.post_event(&group_message(2, SPAMMER, "member", "hi")).await;
    assert_eq!(
        actions(&marker(&app, 3).await),
        ["send_group_msg"],
        "nothing sent to the member"
    );
    let cases = app.cases().await;
    let met = cases
        .iter()
        .find(|c| c.measure == Measure::Ban)
        .expect("the meeting is a case");
    assert!(met.dry_run && met.rule == "gban" && met.user_id == SPAMMER, "{met:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_cli_changes_a_running_daemons_list_at_once() {
    let app = TestApp::spawn().await;
    let data = app.root.path().join("data");
    app.post_event(&group_message(1, 8_080, "member", "hi")).await;
    let added = stdout_of(&cli(&data, &["bans", "add", "--reason", "spam", "qq:8080"]).await);
    assert!(
        added.contains("qq:8080 banned; removal from 1 group(s) queued"),
        "{added}"
    );
    // The queued kick goes out at once, and the member is removed where they speak.
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["set_group_kick"]);
    assert_eq!(calls[0].params["user_id"], 8_080);
    let calls = run(&app, &group_message(2, 8_080, "member", "again"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);
    let list = stdout_of(&cli(&data, &["bans", "list", "--format", "jsonl"]).await);
    assert!(list.contains(r#""user":"qq:8080","reason":"spam""#), "{list}");

    let file = app.root.path().join("import.csv");
    std::fs::write(&file, "user,reason,at,by\nqq:8181,x,,peer\n").expect("write");
    let imported = stdout_of(&cli(&data, &["bans", "import", file.to_str().expect("utf-8")]).await);
    assert!(imported.contains("imported 1 ban(s), 1 new"), "{imported}");
    let calls = run(&app, &group_message(3, 8_181, "member", "hello"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);

    let out = cli(&data, &["bans", "remove", "qq:8080", "qq:9999"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("lifted 1 ban(s)"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not banned: qq:9999"));
    app.post_event(&group_message(4, 8_080, "member", "back")).await;
    assert_eq!(actions(&marker(&app, 5).await), ["send_group_msg"], "lifted at once");
    app.stop().await;
}

/// The audit cases of `group`, oldest first.
async fn cases_of(app: &TestApp, group: i64) -> Vec<qunguan::domain::audit::AuditEntry> {
    let request = qunguan::runtime::control::Request::Audit {
        group: Some(format!("qq:{group}")),
        last: None,
    };
    app.control(request)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).expect("an audit entry"))
        .collect()
}

#[tokio::test]
async fn a_listed_super_user_admin_or_exempt_member_is_left_alone_and_super_users_cannot_be_banned() {
    // A shared list (a file) names a super user, a group admin, an exempt member and a
    // spammer: only the spammer is removed.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shared.csv");
    std::fs::write(
        &file,
        format!(
            "user,reason,at,by\nqq:{SUPER},x,,peer\nqq:{ADMIN},x,,peer\nqq:{MEMBER},x,,peer\nqq:{SPAMMER},x,,peer\n"
        ),
    )
    .expect("write");
    let entry = file.to_str().expect("utf-8").to_owned();
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(move |s| {
            s.admin.super_users = vec![SUPER.to_string().parse().expect("user")];
            s.groups.entry(GROUP.to_string()).or_default().exempt = vec![MEMBER];
            s.bans.subscribe = vec![entry.clone()];
        }),
        ..Options::default()
    })
    .await;
    app.wait_metrics(&[("qunguan_bans{source=\"shared\"}", "4")]).await;
    app.post_event(&group_message(1, SUPER, "member", "大家好")).await;
    app.post_event(&group_message(2, ADMIN, "admin", "欢迎")).await;
    app.post_event(&group_message(3, MEMBER, "member", "早")).await;
    assert_eq!(
        actions(&marker(&app, 4).await),
        ["send_group_msg"],
        "no recall, no kick for the protected"
    );
    // The admin's marker is counted too.
    app.wait_metrics(&[
        ("qunguan_bans_protected_total", "4"),
        ("qunguan_bans_enforced_total", "0"),
    ])
    .await;
    let calls = run(&app, &group_message(5, SPAMMER, "member", "hi"), 2).await;
    assert_eq!(actions(&calls), ["delete_msg", "set_group_kick"]);

    // The operator cannot ban a super user, alone or in an import (refused whole).
    let data = app.root.path().join("data");
    let out = cli(&data, &["bans", "add", &format!("qq:{SUPER}")]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("super user"), "{stderr}");
    let import = app.root.path().join("import.csv");
    std::fs::write(
        &import,
        format!("user,reason,at,by\nqq:7070,x,,peer\nqq:{SUPER},x,,peer\n"),
    )
    .expect("write");
    let out = cli(&data, &["bans", "import", import.to_str().expect("utf-8")]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("super user"));
    app.wait_metrics(&[("qunguan_bans{source=\"local\"}", "0")]).await;
    app.stop().await;
}

#[tokio::test]
async fn gban_and_bans_add_send_no_kick_to_a_group_in_dry_run_and_record_it_as_dry_run() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.admin.super_users = vec![SUPER.to_string().parse().expect("user")];
            s.groups.entry(GROUP2.to_string()).or_default().dry_run = Some(true);
        }),
        ..Options::default()
    })
    .await;
    // Both members are seen in the live group and in the dry-run one.
    for (id, user) in [(1, SPAMMER), (2, 5_555)] {
        app.post_event(&group_message(id, user, "member", "大家好")).await;
        app.post_event(&group_message_in(GROUP2, id + 10, user, "member", "在吗"))
            .await;
    }
    let calls = run(&app, &command(3, SUPER, "member", "/gban {@4242} 广告号"), 2).await;
    assert_eq!(
        kicked_groups(&calls),
        [GROUP],
        "no kick in the dry-run group: {calls:?}"
    );
    let reply = calls.iter().find(|c| c.action == "send_group_msg").expect("a reply");
    assert!(sent_text(reply).contains("1 个群"), "{}", sent_text(reply));

    let data = app.root.path().join("data");
    let added = stdout_of(&cli(&data, &["bans", "add", "--reason", "小号", "qq:5555"]).await);
    assert!(added.contains("removal from 1 group(s) queued"), "{added}");
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(actions(&calls[2..3]), ["set_group_kick"]);
    assert_eq!(
        (
            calls[2].params["group_id"].as_i64(),
            calls[2].params["user_id"].as_i64()
        ),
        (Some(GROUP), Some(5_555))
    );
    // In the dry-run group both removals are cases marked dry run.
    let cases = cases_of(&app, GROUP2).await;
    let dry: Vec<(i64, bool)> = cases
        .iter()
        .filter(|c| c.measure == Measure::Ban)
        .map(|c| (c.user_id, c.dry_run))
        .collect();
    assert_eq!(dry, [(SPAMMER, true), (5_555, true)], "{cases:?}");
    app.settle().await;
    assert_eq!(
        app.gateway
            .delivered()
            .iter()
            .filter(|c| c.action == "set_group_kick")
            .count(),
        2,
        "{:?}",
        app.gateway.delivered()
    );
    app.stop().await;
}
