//! The operators' view: `/metrics`, `/healthz`, `/readyz` on the admin listener, the group
//! statistics (`/stats`, the page, `qunguan stats`) and `qunguan healthcheck`.

use std::process::Command;
use std::time::Duration;

use qunguan::domain::locale::Locale;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::fake_onebot::{GROUP_NAME, MEMBER_COUNT};
use crate::support::*;

fn join_event() -> Value {
    fixture("onebot11/notice.group_increase.approve.json")
}

fn leave_event() -> Value {
    fixture("onebot11/notice.group_decrease.leave.json")
}

#[tokio::test]
async fn metrics_count_events_hits_actions_and_webhook_latency() {
    let app = TestApp::spawn().await;
    let clean = group_message(1, 42, "member", "大家好");
    let spam = group_message(2, 43, "member", "加微信领取福利");
    for event in [&clean, &spam, &spam, &join_event()] {
        assert_eq!(app.post_event(event).await, StatusCode::NO_CONTENT);
    }
    // recall + warning for the spam, the welcome for the join.
    app.gateway.wait_delivered(3, PATIENCE).await;
    let text = app
        .wait_metrics(&[
            ("qunguan_events_total{kind=\"message\"}", "3"),
            ("qunguan_events_total{kind=\"member_joined\"}", "1"),
            ("qunguan_events_total{kind=\"member_left\"}", "0"),
            ("qunguan_events_duplicate_total", "1"),
            ("qunguan_filter_hits_total{rule=\"ads\"}", "1"),
            ("qunguan_actions_total{kind=\"recall\",result=\"delivered\"}", "1"),
            ("qunguan_actions_total{kind=\"send\",result=\"delivered\"}", "2"),
            ("qunguan_actions_total{kind=\"kick\",result=\"delivered\"}", "0"),
            ("qunguan_webhook_duration_seconds_count{gateway=\"onebot\"}", "4"),
            (
                "qunguan_webhook_duration_seconds_bucket{gateway=\"onebot\",le=\"+Inf\"}",
                "4",
            ),
            ("qunguan_outbox_depth", "0"),
            ("qunguan_rules_reloads_total{result=\"ok\"}", "0"),
        ])
        .await;
    let response = app.admin_get("/metrics").await;
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    // No group or user id ever becomes a label.
    for id in [GROUP.to_string(), "42".to_owned(), "43".to_owned()] {
        assert!(
            !text
                .lines()
                .any(|l| !l.starts_with('#') && l.contains(&format!("\"{id}\""))),
            "{id} is a label value in\n{text}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_show_the_outbox_backlog_its_age_retries_and_reloads() {
    // Only /reload reloads here (no file watcher counting the same edits).
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.rules.watch = false),
        ..Options::default()
    })
    .await;
    app.gateway.set_mode(Some(Fault::Http500));
    let spam = group_message(1, 43, "member", "加微信领取福利");
    assert_eq!(app.post_event(&spam).await, StatusCode::NO_CONTENT);
    app.gateway.wait_calls(1, PATIENCE).await;
    // The recall failed and waits for its retry; the warning waits behind it.
    app.wait_metrics(&[
        ("qunguan_outbox_depth", "2"),
        ("qunguan_outbox_oldest_age_seconds", "0"),
        ("qunguan_actions_total{kind=\"recall\",result=\"retried\"}", "1"),
        ("qunguan_actions_total{kind=\"recall\",result=\"delivered\"}", "0"),
    ])
    .await;
    app.advance(Duration::from_secs(90));
    app.wait_metrics(&[("qunguan_outbox_oldest_age_seconds", "90")]).await;

    // A broken rules file is a failed reload; a good one a successful reload.
    let rules = app.root.path().join("rules");
    std::fs::write(rules.join("rules.toml"), "[rules.ads\n").expect("write");
    let reply = app.post_event(&command(2, 10001, "admin", "/reload")).await;
    assert_eq!(reply, StatusCode::NO_CONTENT);
    app.wait_metrics(&[("qunguan_rules_reloads_total{result=\"failed\"}", "1")])
        .await;
    std::fs::remove_file(rules.join("rules.toml")).expect("remove");
    assert_eq!(
        app.post_event(&command(3, 10001, "admin", "/reload")).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[
        ("qunguan_rules_reloads_total{result=\"ok\"}", "1"),
        ("qunguan_rules_reloads_total{result=\"failed\"}", "1"),
    ])
    .await;
    app.gateway.set_mode(None);
    app.stop().await;
}

#[tokio::test]
async fn healthz_and_readyz_answer_on_the_admin_listener_only() {
    let app = TestApp::spawn().await;
    let health = app.admin_get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    // The worker beats once round its loop; give it that moment.
    let mut body = String::new();
    for _ in 0..100 {
        let ready = app.admin_get("/readyz").await;
        let status = ready.status();
        body = ready.text().await.expect("body");
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for line in ["store: ok", "rules: ok (", "outbox worker: ok ("] {
        assert!(body.contains(line), "{line:?} missing from\n{body}");
    }
    // The public listener does not serve the admin paths.
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_admin_listener_can_be_turned_off() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.server.admin_listen = None),
        ..Options::default()
    })
    .await;
    assert!(app.admin.is_none());
    assert_eq!(
        app.post_event(&group_message(1, 42, "member", "hi")).await,
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}

/// Members 100..105 write, one spams, one joins, one leaves; then an admin asks for `/stats`.
async fn busy_day(app: &TestApp) {
    for (id, user) in (100..106).enumerate() {
        let id = i64::try_from(id).expect("small") + 1;
        let event = group_message(id, user, "member", "今天天气不错");
        assert_eq!(app.post_event(&event).await, StatusCode::NO_CONTENT);
    }
    let again = group_message(7, 100, "member", "再说一句");
    assert_eq!(app.post_event(&again).await, StatusCode::NO_CONTENT);
    let spam = group_message(8, 101, "member", "加微信领取福利");
    assert_eq!(app.post_event(&spam).await, StatusCode::NO_CONTENT);
    assert_eq!(app.post_event(&join_event()).await, StatusCode::NO_CONTENT);
    assert_eq!(app.post_event(&leave_event()).await, StatusCode::NO_CONTENT);
}

/// The `/stats` answer: the `send_group_msg` replying to message `reply_to`.
async fn stats_answer(app: &TestApp, reply_to: i64) -> (String, Vec<Call>) {
    let reply_to = reply_to.to_string();
    for _ in 0..200 {
        let calls = app.gateway.delivered();
        let answer = calls.iter().find(|c| {
            c.action == "send_group_msg"
                && c.params["message"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|seg| seg["type"] == "reply" && seg["data"]["id"] == reply_to.as_str())
                })
        });
        if let Some(answer) = answer {
            return (sent_text(answer), calls.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no answer to /stats in {:#?}", app.gateway.calls());
}

#[tokio::test]
async fn stats_command_posts_a_chinese_summary_with_the_member_count() {
    let app = TestApp::spawn().await;
    busy_day(&app).await;
    assert_eq!(
        app.post_event(&command(50, 10001, "admin", "/统计")).await,
        StatusCode::NO_CONTENT
    );
    let (text, calls) = stats_answer(&app, 50).await;
    let info = calls
        .iter()
        .find(|c| c.action == "get_group_info")
        .expect("the member count was asked for");
    assert_eq!(info.params["group_id"], GROUP);
    assert_eq!(info.params["no_cache"], true);
    // 9 messages (the /统计 included) by 7 members today, the only day counted so far; 200
    // members.
    let expected = [
        format!("群统计（近1天，成员 {MEMBER_COUNT} 人）"),
        "发言：9 条，日均 9.0 条（每百人 4.5 条/天）".to_owned(),
        "活跃：日均 7.0 人，活跃率 3.5%".to_owned(),
        "进群 1 人，退群 1 人".to_owned(),
        "违规：1 次（ads 1）".to_owned(),
        "较上周：暂无上周数据".to_owned(),
    ];
    for line in &expected {
        assert!(text.contains(line.as_str()), "{line:?} missing from\n{text}");
    }
    // A redelivered /stats is not answered twice: it is recognized as a duplicate (and so
    // handled no further), and nothing is left to deliver.
    assert_eq!(
        app.post_event(&command(50, 10001, "admin", "/统计")).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[("qunguan_events_duplicate_total", "1")]).await;
    app.settle().await;
    let answers = app
        .gateway
        .delivered()
        .iter()
        .filter(|c| c.action == "get_group_info")
        .count();
    assert_eq!(answers, 1);
    app.stop().await;
}

#[tokio::test]
async fn stats_command_speaks_english_and_ignores_members() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.messages.locale = Locale::En),
        ..Options::default()
    })
    .await;
    busy_day(&app).await;
    // A member's /stats is an ordinary message: no answer.
    assert_eq!(
        app.post_event(&command(60, 100, "member", "/stats")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post_event(&command(61, 10001, "owner", "/stats")).await,
        StatusCode::NO_CONTENT
    );
    let (text, calls) = stats_answer(&app, 61).await;
    assert_eq!(calls.iter().filter(|c| c.action == "get_group_info").count(), 1);
    // Both /stats count as messages: 10 messages by 7 members.
    assert!(
        text.starts_with(&format!("Group stats (last day, {MEMBER_COUNT} members)")),
        "{text}"
    );
    assert!(
        text.contains("Messages: 10, 10.0 a day (5.0 per 100 members a day)"),
        "{text}"
    );
    assert!(text.contains("Active: 7.0 members a day, 3.5% of the group"), "{text}");
    assert!(text.contains("Joined 1, left 1"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn stats_without_the_member_count_still_answer() {
    let app = TestApp::spawn().await;
    busy_day(&app).await;
    app.gateway
        .inject_when(|action, _| action == "get_group_info", Fault::Failed, 1);
    assert_eq!(
        app.post_event(&command(70, 10001, "admin", "/stats")).await,
        StatusCode::NO_CONTENT
    );
    let (text, _) = stats_answer(&app, 70).await;
    assert!(text.starts_with("群统计（近1天）"), "{text}");
    assert!(text.contains("发言：9 条，日均 9.0 条\n"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn stats_page_draws_every_day_and_escapes_names() {
    let app = TestApp::spawn().await;
    busy_day(&app).await;
    let response = app.admin_get(&format!("/stats/qq:{GROUP}?days=14")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let html = response.text().await.expect("body");
    assert!(
        html.contains("Rust &lt;b&gt;学习&lt;/b&gt;群"),
        "the group name is escaped"
    );
    assert!(!html.contains(GROUP_NAME));
    for chart in ["messages", "active", "joins", "leaves", "violations", "actions"] {
        assert!(html.contains(&format!("<svg id=\"chart-{chart}\"")), "{chart}");
    }
    // One bar per day and chart (the measures chart stacks warn, mute, kick and the rest in
    // one <g class="bar"> per day); today's is marked partial.
    assert_eq!(html.matches(" class=\"bar").count(), 6 * 14);
    assert_eq!(html.matches(" class=\"bar partial\"").count(), 6);
    assert!(html.contains("data-value=\"8\""), "today's 8 messages are drawn");
    let cases = [
        ("/stats/qq:abc", StatusCode::BAD_REQUEST),
        (&*format!("/stats/{GROUP}?days=0"), StatusCode::BAD_REQUEST),
        (&*format!("/stats/{GROUP}?days=400"), StatusCode::BAD_REQUEST),
        (&*format!("/stats/{GROUP}"), StatusCode::OK),
    ];
    for (path, status) in cases {
        assert_eq!(app.admin_get(path).await.status(), status, "{path}");
    }
    app.stop().await;
}

/// The Chromium binary, or why the browser test cannot run.
fn chromium() -> Option<String> {
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    candidates
        .iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|c| (*c).to_owned())
}

/// Runs headless Chromium with the flags that keep it off the network, killing it if it
/// takes longer than a minute.
async fn headless(browser: &str, profile: &std::path::Path, args: &[String]) -> std::process::Output {
    let mut command = tokio::process::Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("chromium finished within a minute")
        .expect("chromium runs")
}

#[tokio::test]
async fn stats_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("QUNGUAN_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "QUNGUAN_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED stats_page_renders_in_headless_chromium: no chromium on PATH (apt-get install chromium; \
             set QUNGUAN_REQUIRE_BROWSER=1 to make this a failure)"
        );
        return;
    };
    let app = TestApp::spawn().await;
    busy_day(&app).await;
    let url = format!("{}/stats/qq:{GROUP}?days=7", app.admin.as_deref().expect("admin"));
    let profile = tempfile::tempdir().expect("profile dir");

    // The DOM as Chromium parsed it.
    let out = headless(&browser, profile.path(), &["--dump-dom".to_owned(), url.clone()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8(out.stdout).expect("utf-8 DOM");
    // The group name is text, not markup: the browser made no <b> element of it.
    assert!(dom.contains("Rust &lt;b&gt;学习&lt;/b&gt;群"), "{dom}");
    assert!(!dom.contains("<b>学习</b>"), "{dom}");
    assert_eq!(dom.matches("<svg id=\"chart-").count(), 6, "{dom}");
    assert_eq!(dom.matches(" class=\"bar").count(), 6 * 7, "{dom}");
    // The public page names the rule as members see it, never by its id.
    assert!(dom.contains("<td>广告</td>"), "the rules table: {dom}");
    assert!(!dom.contains(">ads<"), "the rules table: {dom}");

    // And it paints: a screenshot of the page is written.
    let shot = profile.path().join("page.png");
    let out = headless(
        &browser,
        profile.path(),
        &[
            "--window-size=800,1400".to_owned(),
            format!("--screenshot={}", shot.display()),
            url,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    app.stop().await;
}

/// `qunguan stats` for `GROUP`, with the daemon's data folder.
async fn stats_cli(data: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let group = GROUP.to_string();
    let mut args = vec!["stats", "--group", &group];
    args.extend_from_slice(extra);
    cli(data, &args).await
}

fn today_row(table: &str) -> Vec<String> {
    let today = jiff::Timestamp::now()
        .in_tz("Asia/Shanghai")
        .expect("tz")
        .date()
        .to_string();
    let row = table
        .lines()
        .find(|l| l.starts_with(&today))
        .unwrap_or_else(|| panic!("no row for {today} in\n{table}"));
    row.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test]
async fn stats_cli_reads_a_running_daemon_and_then_the_database() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    // Written only at shutdown: the CLI's numbers come from the daemon's memory first.
    let daemon = Daemon::start_with(root.path(), &gateway, &[("QUNGUAN__STATS__FLUSH_EVERY", "1h")]);
    daemon.wait_ready().await;
    let http = reqwest::Client::new();
    let events = [
        group_message(1, 100, "member", "早上好"),
        group_message(2, 101, "member", "早"),
        group_message(3, 100, "member", "加微信领取福利"),
        join_event(),
        // An admin's measure counts too (and the command is a message).
        command(4, 10001, "admin", "/mute {@101} 10m"),
    ];
    for event in &events {
        let body = serde_json::to_vec(event).expect("json");
        let status = http
            .post(daemon.webhook())
            .header("content-type", "application/json")
            .header(
                "x-signature",
                qunguan::gateway::onebot::signature::sign(SECRET.as_bytes(), &body),
            )
            .body(body)
            .send()
            .await
            .expect("webhook answers")
            .status();
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let data = root.path().join("data");
    let live = stats_cli(&data, &["--days", "7"]).await;
    assert!(live.status.success(), "{}", String::from_utf8_lossy(&live.stderr));
    let table = String::from_utf8(live.stdout).expect("utf-8");
    assert!(table.starts_with(&format!("group qq:{GROUP}, 7 days\n")), "{table}");
    assert_eq!(table.lines().count(), 2 + 7 + 1, "{table}");
    // date, messages, active, joins, leaves, violations, actions, top rule
    assert_eq!(
        today_row(&table)[1..],
        ["4", "3", "1", "0", "1", "2", "ads", "(1)"],
        "{table}"
    );

    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
    let direct = stats_cli(&data, &["--json"]).await;
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    let rows: Vec<Value> = String::from_utf8(direct.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 30, "--days defaults to 30");
    let today = rows.last().expect("today");
    assert_eq!(
        (
            &today["messages"],
            &today["active_members"],
            &today["joins"],
            &today["violations"]["ads"]
        ),
        (&Value::from(4), &Value::from(3), &Value::from(1), &Value::from(1)),
        "the shutdown wrote what the daemon counted: {today}"
    );
    assert_eq!(
        (&today["actions"]["warn"], &today["actions"]["mute"]),
        (&Value::from(1), &Value::from(1))
    );

    let bad = stats_cli(&data, &["--days", "0"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--days must be between 1 and"));
}

#[tokio::test]
async fn healthcheck_exits_0_while_the_daemon_runs_and_1_after() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let daemon = Daemon::start(root.path(), &gateway);
    daemon.wait_ready().await;
    // A wildcard address is asked on loopback, as in a container.
    let admin = format!("0.0.0.0:{}", daemon.admin_port);
    let check = |admin: String| async move {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("healthcheck")
                .env("QUNGUAN__SERVER__ADMIN_LISTEN", admin)
                // Off loopback the configuration needs the console's token (or password).
                .env("QUNGUAN__CONSOLE__API_TOKEN", "a-token-for-the-admin-listener")
                .env_remove("RUST_LOG")
                .output()
                .expect("the binary runs")
        })
        .await
        .expect("join")
    };
    let up = check(admin.clone()).await;
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert_eq!(
        String::from_utf8_lossy(&up.stdout),
        format!("ok: http://127.0.0.1:{}/healthz\n", daemon.admin_port)
    );
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
    let down = check(admin).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("did not answer"),
        "{down:?}"
    );
    let off = check(String::new()).await;
    assert_eq!(off.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&off.stderr).contains("server.admin_listen is off"),
        "{off:?}"
    );
}

/// A text message in the Telegram fixtures' supergroup from `user`.
fn tg_text(update_id: i64, message_id: i64, user: i64, text: &str) -> Value {
    let mut update = tg_fixture("update.message.supergroup_text.json");
    update["update_id"] = serde_json::json!(update_id);
    update["message"]["message_id"] = serde_json::json!(message_id);
    update["message"]["from"] = serde_json::json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["message"]["text"] = serde_json::json!(text);
    update["message"]["entities"] = serde_json::json!([]);
    update
}

#[tokio::test]
async fn stats_on_telegram_ask_getchatmembercount() {
    use crate::support::fake_telegram::MEMBER_COUNT as TG_MEMBERS;
    use qunguan::config::TelegramMode;

    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    app.telegram
        .set_admins(TG_CHAT, vec![(TG_OWNER, "creator"), (BOT_ID, "administrator")]);
    for update in [
        tg_text(1, 101, 5_001, "早上好"),
        tg_text(2, 102, 5_002, "早"),
        tg_text(3, 103, TG_OWNER, "/统计"),
    ] {
        assert_eq!(app.post_update(&update).await, StatusCode::NO_CONTENT);
    }
    let calls = app
        .telegram
        .wait_for(PATIENCE, |calls| calls.iter().any(|c| c.method == "sendMessage"))
        .await;
    let count = calls
        .iter()
        .find(|c| c.method == "getChatMemberCount")
        .expect("the member count was asked for");
    assert_eq!(count.params["chat_id"], TG_CHAT);
    let answer = calls.iter().find(|c| c.method == "sendMessage").expect("answer");
    let text = answer.params["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!("群统计（近1天，成员 {TG_MEMBERS} 人）")),
        "{text}"
    );
    assert!(text.contains("发言：3 条"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn days_past_the_retention_are_deleted() {
    use jiff::civil::date;
    use qunguan::domain::event::GroupId;
    use qunguan::domain::stats::DayStats;
    use qunguan::store::Store;

    let keep = |s: &mut qunguan::config::Settings| {
        s.stats.retention = qunguan::domain::duration::HumanDuration::from_secs(30 * 86_400);
        s.stats.flush_every = qunguan::domain::duration::HumanDuration::from_secs(1);
    };
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(keep),
        ..Options::default()
    })
    .await;
    let group = GroupId::qq(GROUP);
    // The test clock stands at 2024-11-21 (Shanghai).
    let (old, recent) = (date(2024, 10, 1), date(2024, 11, 1));
    let app = app
        .restart_after(
            Options {
                tweak: Box::new(keep),
                ..Options::default()
            },
            |root| {
                let store = Store::open_path(&root.join("data")).expect("open");
                let day = DayStats {
                    messages: 5,
                    ..DayStats::default()
                };
                let batch = [(group, old, day.clone()), (group, recent, day)];
                store.merge_stats(&batch, date(2024, 11, 21)).expect("merge");
                store.flush_blocking().expect("flush");
            },
        )
        .await;
    // The first write after the start (a tick, or at the latest the one at shutdown) sweeps.
    assert_eq!(
        app.post_event(&group_message(1, 42, "member", "hi")).await,
        StatusCode::NO_CONTENT
    );
    let root = std::sync::Arc::clone(&app.root);
    app.stop().await;
    let store = Store::open_path(&root.path().join("data")).expect("open");
    let days: Vec<_> = store
        .stats_days(group, date(2024, 1, 1), date(2024, 12, 31))
        .expect("read")
        .into_iter()
        .map(|(d, s)| (d, s.messages))
        .collect();
    assert_eq!(days, [(recent, 5), (date(2024, 11, 21), 1)]);
}
