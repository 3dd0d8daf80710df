//! The real binary under kill -9, and the backup / restore / audit CLI against a running and a
//! stopped daemon.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use qunguan::domain::audit::{AuditEntry, Measure};
use qunguan::gateway::onebot::signature;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const USERS: [i64; 4] = [2_001, 2_002, 2_003, 2_004];
const PER_USER: i64 = 9;
/// Four members' 36 warnings and notices land in one group: lift the per-group pace (20 a
/// minute by default) so the test waits for delivery, not for the governor, and let the
/// group's queue hold the whole burst (20 messages by default; a message beyond that is
/// given up as a dead letter, `[limits] outbox_messages_per_group`).
const UNPACED: [(&str, &str); 2] = [
    ("QUNGUAN__OUTBOX__SENDS_PER_MINUTE_PER_GROUP", "600"),
    ("QUNGUAN__LIMITS__OUTBOX_MESSAGES_PER_GROUP", "100"),
];

fn spam(user: i64, n: i64) -> Value {
    // Message ids are unique per (user, n).
    group_message(user * 100 + n, user, "member", "加微信 领红包")
}

async fn post(http: &reqwest::Client, url: &str, event: &Value) -> Result<StatusCode, reqwest::Error> {
    let body = serde_json::to_vec(event).expect("json");
    let sig = signature::sign(SECRET.as_bytes(), &body);
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature", sig)
        .body(body)
        .send()
        .await?;
    Ok(response.status())
}

/// Starts a daemon on `data` and has member 3001's first offence warned (recall and
/// warning delivered); returns the daemon and that event.
async fn start_and_warn_once(
    data: &std::path::Path,
    rules: &std::path::Path,
    gateway: &FakeOneBot,
    http: &reqwest::Client,
    extra: &[(&str, &str)],
) -> (Daemon, Value) {
    let daemon = Daemon::start_on(data, rules, gateway, extra);
    let first = warn_once(&daemon, gateway, http).await;
    (daemon, first)
}

/// Waits for `daemon` and has member 3001's first offence warned; returns that event.
async fn warn_once(daemon: &Daemon, gateway: &FakeOneBot, http: &reqwest::Client) -> Value {
    daemon.wait_ready().await;
    let first = group_message(1, 3_001, "member", "加微信");
    assert_eq!(
        post(http, &daemon.webhook(), &first).await.expect("answers"),
        StatusCode::NO_CONTENT
    );
    gateway.wait_delivered(2, PATIENCE).await;
    first
}

/// Posts `first` again (a redelivery) and member 3001's second offence, both answered 204.
async fn first_again_then_a_second_offence(http: &reqwest::Client, daemon: &Daemon, first: &Value) {
    assert_eq!(
        post(http, &daemon.webhook(), first).await.expect("answers"),
        StatusCode::NO_CONTENT
    );
    let second = group_message(2, 3_001, "member", "加微信");
    assert_eq!(
        post(http, &daemon.webhook(), &second).await.expect("answers"),
        StatusCode::NO_CONTENT
    );
}

/// The audit log of the daemon whose data folder is `data`, through the CLI.
async fn audit(data: &std::path::Path) -> Vec<AuditEntry> {
    let out = cli(data, &["audit", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a case"))
        .collect()
}

#[tokio::test]
async fn kill_9_mid_stream_then_restart_loses_nothing_and_doubles_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let daemon = Daemon::start_with(root.path(), &gateway, &UNPACED);
    daemon.wait_ready().await;

    // Four members stream their violations at once; the daemon is killed mid-stream.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let acked = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for user in USERS {
        let (http, url, acked) = (http.clone(), daemon.webhook(), Arc::clone(&acked));
        senders.spawn(async move {
            for n in 1..=PER_USER {
                match post(&http, &url, &spam(user, n)).await {
                    Ok(StatusCode::NO_CONTENT) => acked.fetch_add(1, Ordering::SeqCst),
                    _ => break, // the daemon is gone: stop, as a gateway would, and redeliver later
                };
            }
        });
    }
    let total = USERS.len() * usize::try_from(PER_USER).expect("small");
    for _ in 0..500 {
        if acked.load(Ordering::SeqCst) >= total / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.signal("-KILL");
    let killed_at = Instant::now();
    assert!(!daemon.wait_exit().await.success(), "killed, not exited");
    while senders.join_next().await.is_some() {}
    let acked_before_kill = acked.load(Ordering::SeqCst);
    assert!(
        acked_before_kill >= total / 3 && acked_before_kill < total,
        "killed mid-stream: {acked_before_kill}"
    );

    // Restart; the gateway redelivers everything (acknowledged events included, as gateways
    // do after errors). Every delivery must be acknowledged.
    let restarted_at = Instant::now();
    let daemon = Daemon::start_with(root.path(), &gateway, &UNPACED);
    daemon.wait_ready().await;
    for user in USERS {
        for n in 1..=PER_USER {
            let status = post(&http, &daemon.webhook(), &spam(user, n)).await.expect("answers");
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
    }

    // Stored state: one case per violation, each member walking 1, 2, 3 (kick), 1, 2, 3 … —
    // no strike lost or counted twice, exactly three kicks each.
    let cases = audit(&root.path().join("data")).await;
    assert_eq!(cases.len(), total);
    for user in USERS {
        let mut mine: Vec<&AuditEntry> = cases.iter().filter(|c| c.user_id == user).collect();
        mine.sort_by_key(|c| c.case);
        let walk: Vec<(Option<i64>, u32)> = mine.iter().map(|c| (c.message_id, c.strikes_after)).collect();
        let expected: Vec<(Option<i64>, u32)> = (1..=PER_USER)
            .map(|n| (Some(user * 100 + n), u32::try_from((n - 1) % 3 + 1).expect("small")))
            .collect();
        assert_eq!(walk, expected, "user {user}");
        assert_eq!(mine.iter().filter(|c| c.measure == Measure::Kick).count(), 3);
    }

    // Delivered: everything at least once. A repeat is only possible for a call the old
    // process made just before it died (the gateway may handle it after the kill), whose
    // delivered mark had not reached the disk; a group's next call waits for that mark, so
    // in this one group at most one action is repeated.
    // The bot's messages are paced by the send governor (5 a second on QQ), so wait for the
    // counts, not for a number of calls: repeats would make a plain count arrive early.
    let per_user_expected = [
        ("delete_msg", 9),
        // Per three strikes: the warning, the notice after the mute, the notice after the kick.
        ("send_group_msg", 9),
        ("set_group_ban", 3),
        ("set_group_kick", 3),
    ];
    let count = |delivered: &[Call]| {
        let mut counts: HashMap<(i64, String), (usize, usize)> = HashMap::new();
        for call in delivered {
            let user = call.params["user_id"]
                .as_i64()
                .or_else(|| call.params["message_id"].as_i64().map(|m| m / 100))
                .or_else(|| {
                    call.params["message"][0]["data"]["qq"]
                        .as_str()
                        .and_then(|q| q.parse().ok())
                })
                .expect("a call about one member");
            let (all, just_before_kill) = counts.entry((user, call.action.clone())).or_default();
            *all += 1;
            if call.at + Duration::from_secs(1) >= killed_at && call.at < restarted_at {
                *just_before_kill += 1;
            }
        }
        counts
    };
    let complete = |counts: &HashMap<(i64, String), (usize, usize)>| {
        USERS.iter().all(|&user| {
            per_user_expected
                .iter()
                .all(|(action, n)| counts.get(&(user, (*action).to_owned())).is_some_and(|c| c.0 >= *n))
        })
    };
    let mut counts = count(&gateway.delivered());
    for _ in 0..300 {
        if complete(&counts) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = count(&gateway.delivered());
    }
    // And nothing is left to deliver: a repeat still waiting would show up in the counts.
    daemon.wait_outbox_empty().await;
    let counts = count(&gateway.delivered());
    for user in USERS {
        for (action, n) in per_user_expected {
            let (all, just_before_kill) = counts.get(&(user, action.to_owned())).copied().unwrap_or_default();
            assert!(all >= n, "user {user}: {action} delivered {all} of {n}: lost");
            assert!(
                all - n <= just_before_kill,
                "user {user}: {action} repeated {} times, but the old process made only {just_before_kill} such calls in its last second",
                all - n
            );
        }
    }
    let repeated: usize = counts
        .iter()
        .map(|((_, action), (all, _))| {
            let n = per_user_expected
                .iter()
                .find(|(a, _)| a == action)
                .map_or(0, |(_, n)| *n);
            all.saturating_sub(n)
        })
        .sum();
    assert!(repeated <= 1, "{repeated} actions repeated in one group: {counts:?}");
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
}

#[tokio::test]
async fn backup_while_running_then_restore_elsewhere_keeps_strikes_cases_and_seen_events() {
    let root = tempfile::tempdir().expect("tempdir");
    let rules = root.path().join("rules");
    write_default_rules(&rules);
    let (data_a, data_b) = (root.path().join("a"), root.path().join("b"));
    let backup = root.path().join("backups").join("qunguan.jsonl");
    let gateway = FakeOneBot::start(TOKEN).await;
    let http = reqwest::Client::new();

    let (daemon, first) = start_and_warn_once(&data_a, &rules, &gateway, &http, &[]).await;

    // Backup and audit reach the running daemon through its control socket.
    let out = cli(&data_a, &["backup", "--out", backup.to_str().expect("utf-8")]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("from the running daemon"), "{stdout}");
    let out = cli(&data_a, &["audit", "--group", &format!("qq:{GROUP}")]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("#1  ") && stdout.contains("rule ads") && stdout.contains("\"加微信\""),
        "{stdout}"
    );
    // A restore while a daemon runs on the target is refused.
    let out = cli(&data_a, &["restore", "--in", backup.to_str().expect("utf-8")]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop it first"));
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());

    // Stopped: the CLI reads the database itself.
    assert_eq!(audit(&data_a).await.len(), 1);

    let out = cli(&data_b, &["restore", "--in", backup.to_str().expect("utf-8")]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&data_b, &["restore", "--in", backup.to_str().expect("utf-8")]).await;
    assert!(!out.status.success(), "a second restore needs --force");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));

    let daemon = Daemon::start_on(&data_b, &rules, &gateway, &[]);
    daemon.wait_ready().await;
    // The restored seen-key: the first event again changes nothing. The restored strike: the
    // member's next violation mutes.
    first_again_then_a_second_offence(&http, &daemon, &first).await;
    let calls = gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(actions(&calls[2..4]), ["delete_msg", "set_group_ban"]);
    assert_eq!(calls[2].params["message_id"], 2);
    let cases = audit(&data_b).await;
    assert_eq!(
        cases.iter().map(|c| c.case).collect::<Vec<_>>(),
        [1, 2],
        "numbering continues"
    );
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
}

/// `qunguan_store_compactions_total` of a running daemon.
async fn compactions(http: &reqwest::Client, daemon: &Daemon) -> u64 {
    let text = http
        .get(format!("{}/metrics", daemon.admin()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("qunguan_store_compactions_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the compactions counter")
}

#[tokio::test]
async fn a_database_compacted_while_running_keeps_strikes_cases_and_seen_events() {
    let root = tempfile::tempdir().expect("tempdir");
    let rules = root.path().join("rules");
    write_default_rules(&rules);
    let data = root.path().join("data");
    let gateway = FakeOneBot::start(TOKEN).await;
    let http = reqwest::Client::new();
    let compact_soon = [
        ("QUNGUAN__STORAGE__COMPACT_MIN", "1MiB"),
        ("QUNGUAN__STORAGE__COMPACT_GROWTH", "2"),
        ("QUNGUAN__STORAGE__SWEEP_EVERY", "10s"),
    ];
    let log = root.path().join("daemon.log");
    let daemon = Daemon::start_logging_to(root.path(), &gateway, &compact_soon, &log);
    let first = warn_once(&daemon, &gateway, &http).await;

    // Other groups' spam grows the files until a sweep finds them worth compacting.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut n = 0;
    while compactions(&http, &daemon).await == 0 {
        assert!(Instant::now() < deadline, "no compaction after {n} events");
        for _ in 0..50 {
            n += 1;
            let event = group_message_in(7_000 + n % 40, 10_000 + n, 50_000 + n, "member", "加微信 领红包");
            assert_eq!(
                post(&http, &daemon.webhook(), &event).await.expect("answers"),
                StatusCode::NO_CONTENT
            );
        }
    }
    assert!(data.join("sled-current").exists(), "the copy is the database");
    assert!(!data.join("db").exists(), "the files of before are deleted");
    // The daemon had the copy made by a process of its own executable.
    let said = std::fs::read_to_string(&log).expect("log");
    let line = said
        .lines()
        .find(|l| l.contains("store: compacted the database"))
        .expect("the compaction's log line");
    assert!(line.contains("copied_by=\"process\""), "{line}");

    // The seen key survived: the first event again changes nothing. The strike survived: the
    // member's next violation mutes.
    first_again_then_a_second_offence(&http, &daemon, &first).await;
    let ours = |calls: &[Call]| {
        calls
            .iter()
            // A recall names only its message; ours are below the other groups' ids.
            .filter(|c| c.params["group_id"] == GROUP || c.params["message_id"].as_i64().is_some_and(|id| id < 10_000))
            .map(|c| c.action.clone())
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + PATIENCE;
    while ours(&gateway.delivered()).len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ours(&gateway.delivered()),
        ["delete_msg", "send_group_msg", "delete_msg", "set_group_ban"],
        "one warning, then a mute; nothing for the redelivered first event"
    );
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());

    // It starts again on the copy (the integrity check passes) and the cases are all there.
    let daemon = Daemon::start_on(&data, &rules, &gateway, &compact_soon);
    daemon.wait_ready().await;
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
    let cases = audit(&data).await;
    let ours: Vec<u64> = cases
        .iter()
        .filter(|c| c.group.to_string() == format!("qq:{GROUP}"))
        .map(|c| c.case)
        .collect();
    assert_eq!(ours, [1, 2], "numbering continues across the compaction");
    assert!(cases.len() > n as usize / 2, "{} cases of {n} events", cases.len());
}
