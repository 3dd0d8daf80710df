//! A full disk: webhooks answer 503 and `/readyz` says why; once space is back the daemon
//! recovers by itself, without a restart, losing nothing and applying nothing twice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;

use super::*;

fn spam(message_id: i64, user: i64) -> serde_json::Value {
    group_message(message_id, user, "member", "加微信 领红包")
}

#[tokio::test]
async fn an_injected_full_disk_answers_503_and_not_ready_then_recovers_by_itself() {
    let app = TestApp::spawn().await;
    app.store.faults().fail_writes(true);
    assert_eq!(app.post_event(&spam(1, 42)).await, StatusCode::SERVICE_UNAVAILABLE);
    let body = wait_ready_state(&app, false).await;
    assert!(
        body.contains("store: cannot write") && body.contains("no space left on device"),
        "{body}"
    );
    assert_eq!(metric(&app, "qunguan_store_failing").await, 1);

    // Space is back: no restart, the store probes itself ready again.
    app.store.faults().fail_writes(false);
    wait_ready_state(&app, true).await;
    assert_eq!(metric(&app, "qunguan_store_failing").await, 0);

    // The gateway delivers the refused event again, and once more: acted on once.
    assert_eq!(app.post_event(&spam(1, 42)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.post_event(&spam(1, 42)).await, StatusCode::NO_CONTENT);
    // A later violation by someone else is the positive signal that everything before it was
    // handled.
    assert_eq!(app.post_event(&spam(2, 43)).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    // The second recall may overtake the first warning (a recall goes out before its unit's
    // flush, `[outbox] early_recalls`, and moderation goes before the bot's messages).
    assert_calls_in_order(
        &calls,
        &["delete_msg", "send_group_msg", "delete_msg", "send_group_msg"],
    );
    let cases = app.cases().await;
    assert_eq!(cases.len(), 2, "one case each: {cases:?}");
    assert!(cases.iter().all(|c| c.strikes_after == 1), "{cases:?}");
    app.stop().await;
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`; `None` when this process may not mount (not root).
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with a file `filler` until it is full.
fn fill(filler: &Path) {
    let mut file = std::fs::File::create(filler).expect("filler");
    let chunk = vec![0xA5_u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test]
async fn a_real_full_disk_is_ridden_out_and_the_database_reopened() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let Some(_mount) = Tmpfs::mount(&data, "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root); the injected full disk covers the logic");
        return;
    };
    let rules = root.path().join("rules");
    write_default_rules(&rules);
    let gateway = FakeOneBot::start(TOKEN).await;
    let log = root.path().join("daemon.log");
    let (child, port, admin) = spawn_daemon(
        &data,
        &rules,
        &gateway,
        &[("QUNGUAN__STORAGE__CACHE_MIB", "4")],
        &[],
        &log,
    );
    let mut child = Reap(child);
    wait_http_ok(&format!("http://127.0.0.1:{admin}/readyz")).await;
    let http = reqwest::Client::builder().timeout(PATIENCE).build().expect("client");
    let poster = |event: serde_json::Value| {
        let http = http.clone();
        async move {
            let body = serde_json::to_vec(&event).expect("json");
            let sig = qunguan::gateway::onebot::signature::sign(SECRET.as_bytes(), &body);
            http.post(format!("http://127.0.0.1:{port}/onebot/v11"))
                .header("content-type", "application/json")
                .header("x-signature", sig)
                .body(body)
                .send()
                .await
                .expect("answers")
                .status()
        }
    };
    assert_eq!(poster(spam(1, 1_001)).await, StatusCode::NO_CONTENT);
    gateway.wait_delivered(2, PATIENCE).await;

    // The disk fills up: events are refused (the gateway will deliver them again) …
    let filler = data.join("filler");
    fill(&filler);
    let mut refused = Vec::new();
    let mut accepted = vec![1_i64];
    for id in 2..400 {
        match poster(spam(id, 1_000 + id)).await {
            StatusCode::NO_CONTENT => accepted.push(id),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused.push(id);
                if refused.len() >= 5 {
                    break;
                }
            }
            other => panic!("event {id}: {other}"),
        }
    }
    assert!(!refused.is_empty(), "a full disk never refused an event");
    // `/readyz` says why while the disk is full. The daemon keeps trying to reopen the
    // database, and a reopen can succeed before the next write finds the disk full again, so
    // a loaded machine may catch it ready between two writes: write again and look again.
    let mut unready = None;
    for id in 400..420 {
        let readyz = reqwest::get(format!("http://127.0.0.1:{admin}/readyz"))
            .await
            .expect("readyz");
        if readyz.status() == StatusCode::SERVICE_UNAVAILABLE {
            unready = Some(readyz.text().await.expect("body"));
            break;
        }
        match poster(spam(id, 1_000 + id)).await {
            StatusCode::NO_CONTENT => accepted.push(id),
            StatusCode::SERVICE_UNAVAILABLE => refused.push(id),
            other => panic!("event {id}: {other}"),
        }
    }
    let body = unready.expect("/readyz never said not ready while the disk was full");
    assert!(body.contains("store: cannot write"), "{body}");

    // … space comes back: ready again by itself.
    std::fs::remove_file(&filler).expect("free space");
    wait_http_ok(&format!("http://127.0.0.1:{admin}/readyz")).await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        sample(&metrics, "qunguan_store_reopens_total").unwrap_or(0) >= 1,
        "{metrics}"
    );

    // The gateway delivers again what was refused, and some of what was acknowledged.
    for &id in refused.iter().chain(accepted.iter().take(3)) {
        assert_eq!(poster(spam(id, 1_000 + id)).await, StatusCode::NO_CONTENT, "event {id}");
    }
    assert_eq!(poster(spam(999, 9_999)).await, StatusCode::NO_CONTENT);
    let expected = 2 * (accepted.len() + refused.len() + 1);
    let recalls_of = |calls: &[Call]| {
        let mut recalled: Vec<i64> = calls
            .iter()
            .filter(|c| c.action == "delete_msg")
            .filter_map(|c| c.params["message_id"].as_i64())
            .collect();
        recalled.sort_unstable();
        let mut once = recalled.clone();
        once.dedup();
        let repeated = recalled.len() - once.len();
        (recalled, repeated)
    };
    // A recall goes out before its record's flush ([outbox] early_recalls): the one whose
    // flush met the full disk was sent, and is sent again when its event is redelivered
    // (harmless). Nothing else twice; every warning once. A repeated recall is one call more
    // than `expected`, so wait for it too before counting the warnings.
    let mut calls = gateway.wait_delivered(expected, PATIENCE).await;
    let (_, repeated) = recalls_of(&calls);
    if repeated > 0 {
        calls = gateway.wait_delivered(expected + repeated, PATIENCE).await;
    }
    let (mut recalled, repeated) = recalls_of(&calls);
    assert!(
        repeated <= 1,
        "at most the early recall the full disk caught, twice: {recalled:?}"
    );
    recalled.dedup();
    let mut wanted: Vec<i64> = accepted.iter().chain(&refused).copied().chain([999]).collect();
    wanted.sort_unstable();
    assert_eq!(recalled, wanted, "every message recalled");
    let warnings = calls.iter().filter(|c| c.action == "send_group_msg").count();
    assert_eq!(warnings, expected / 2, "no warning sent twice");
    child.0.kill().expect("kill");
}

#[tokio::test]
async fn an_early_recall_whose_record_never_reaches_the_disk_is_sent_and_the_event_redone() {
    let app = TestApp::spawn().await;
    // Writes pass, flushes fail: the violation is written, the recall sent at once, but the
    // record never becomes durable and the webhook asks for a redelivery.
    app.store.faults().fail_flushes(true);
    assert_eq!(app.post_event(&spam(1, 42)).await, StatusCode::SERVICE_UNAVAILABLE);
    let early = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&early), ["delete_msg"]);

    app.store.faults().fail_flushes(false);
    wait_ready_state(&app, true).await;
    // The gateway delivers the event again until it is acknowledged.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.post_event(&spam(1, 42)).await != StatusCode::NO_CONTENT {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the redelivery was never acknowledged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.settle().await;
    // At most one more recall (harmless), one warning, after a recall; one case.
    let calls = app.gateway.delivered();
    let names = actions(&calls);
    let recalls = names.iter().filter(|a| **a == "delete_msg").count();
    assert!((1..=2).contains(&recalls), "{names:?}");
    assert_eq!(names.iter().filter(|a| **a == "send_group_msg").count(), 1, "{names:?}");
    assert_eq!(names.first(), Some(&"delete_msg"));
    assert_eq!(app.cases().await.len(), 1);
    // Its entry in the map of early recalls is gone at the latest a minute later.
    app.advance(std::time::Duration::from_secs(61));
    app.wait_metrics(&[("qunguan_memory_entries{structure=\"outbox_early\"}", "0")])
        .await;
    app.stop().await;
}
