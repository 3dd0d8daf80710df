//! A stalled store: webhooks answer 503 instead of hanging, `/metrics` and `/healthz` keep
//! answering, and once a commit has hung for `storage.watchdog` the daemon says why on
//! `/healthz` and stops with an error (the binary exits with status 75).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qunguan::runtime::app::AppError;
use reqwest::StatusCode;

use super::*;

#[tokio::test]
async fn a_hung_commit_gets_503s_then_the_watchdog_fails_healthz_and_stops_the_daemon() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.storage.watchdog = qunguan::domain::duration::HumanDuration::from_secs(2)),
        ..Options::default()
    })
    .await;
    app.store.faults().stall(true);
    // The webhook waits for its commit at most min(5 s, watchdog / 2), then asks for a
    // redelivery instead of hanging.
    let spam = group_message(1, 42, "member", "加微信");
    assert_eq!(app.post_event(&spam).await, StatusCode::SERVICE_UNAVAILABLE);
    // The stalled store stalls no listener.
    let metrics = app.admin_get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.expect("text").contains("qunguan_events_total"));

    // Past the watchdog bound both /healthz fail, with the reason.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let reason = loop {
        let public = app.get("/healthz").await;
        if public.status() == StatusCode::SERVICE_UNAVAILABLE {
            break public.text().await.expect("body");
        }
        assert!(tokio::time::Instant::now() < deadline, "/healthz stayed ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        reason.contains("has not finished") && reason.contains("storage.watchdog is 2s"),
        "{reason}"
    );
    let admin = app.admin_get("/healthz").await;
    assert_eq!(admin.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (ended, store) = app.finished(PATIENCE).await;
    match ended {
        Err(AppError::Stalled(why)) => assert!(why.contains("storage.watchdog"), "{why}"),
        other => panic!("the daemon should stop as stalled: {other:?}"),
    }
    // Let the hung writes finish.
    store.faults().stall(false);
}

/// An ext4 image mounted on a loop device, so its writes can be frozen (`fsfreeze`).
struct Frozen {
    mount: std::path::PathBuf,
}

impl Frozen {
    fn mount(image: &Path, mount: &Path) -> Option<Self> {
        let ok = |cmd: &mut Command| cmd.status().is_ok_and(|s| s.success());
        std::fs::create_dir_all(mount).ok()?;
        let made = ok(Command::new("truncate").args(["-s", "64M"]).arg(image))
            && ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image))
            && ok(Command::new("mount").args(["-o", "loop"]).arg(image).arg(mount));
        made.then(|| Self {
            mount: mount.to_owned(),
        })
    }

    fn freeze(&self, on: bool) {
        let flag = if on { "-f" } else { "-u" };
        let status = Command::new("fsfreeze").arg(flag).arg(&self.mount).status();
        assert!(status.is_ok_and(|s| s.success()), "fsfreeze {flag}");
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Thawed already unless the test failed midway; then this must not leave it frozen.
        let _ = Command::new("fsfreeze")
            .arg("-u")
            .arg(&self.mount)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

#[tokio::test]
async fn on_a_frozen_disk_the_binary_exits_with_status_75() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("mnt");
    let Some(disk) = Frozen::mount(&root.path().join("disk.img"), &data) else {
        eprintln!("skipped: cannot mount a loop device here (needs root); the injected stall covers the logic");
        return;
    };
    let rules = root.path().join("rules");
    write_default_rules(&rules);
    let gateway = FakeOneBot::start(TOKEN).await;
    let log = root.path().join("daemon.log");
    let (child, port, admin) = spawn_daemon(
        &data.join("data"),
        &rules,
        &gateway,
        &[("QUNGUAN__STORAGE__WATCHDOG", "2s")],
        &[],
        &log,
    );
    let mut child = Reap(child);
    wait_http_ok(&format!("http://127.0.0.1:{admin}/readyz")).await;

    disk.freeze(true);
    let webhook = format!("http://127.0.0.1:{port}/onebot/v11");
    let body = serde_json::to_vec(&group_message(1, 42, "member", "加微信")).expect("json");
    let sig = qunguan::gateway::onebot::signature::sign(SECRET.as_bytes(), &body);
    let answered = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("client")
        .post(&webhook)
        .header("x-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the webhook answers while the disk is frozen");
    assert_eq!(answered.status(), StatusCode::SERVICE_UNAVAILABLE);
    // /healthz turns 503 once the watchdog gave up.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let health = reqwest::get(format!("http://127.0.0.1:{admin}/healthz")).await;
        if health.is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "/healthz stayed ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Threads blocked in the frozen file system keep even an exiting process around; thaw
    // it, as an operator's restart would find it.
    disk.freeze(false);
    let status = wait_exit(&mut child.0, PATIENCE).await;
    assert_eq!(status.code(), Some(75), "exit status {status:?}");
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(stderr.contains("storage.watchdog"), "{stderr}");
}
