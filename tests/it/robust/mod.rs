//! Robustness (issue 16): a full disk and a stalled store, gateways answering `failed`,
//! poison updates, replayed and stale events, a damaged database at start, idle and slow
//! connections, and a flood of refused requests.

mod connections;
mod disk;
mod integrity;
mod poison;
mod refusals;
mod replay;
mod retcodes;
mod watchdog;
mod word_lists;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// The value of the Prometheus series `series` (the whole name with labels) in `text`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The value of `series` on the admin listener now (0 when absent).
async fn metric(app: &TestApp, series: &str) -> u64 {
    let text = app.admin_get("/metrics").await.text().await.expect("metrics");
    sample(&text, series).unwrap_or(0)
}

/// Polls `/readyz` until its status is `ready` (bounded); returns the last body.
async fn wait_ready_state(app: &TestApp, ready: bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = app.admin_get("/readyz").await;
        let ok = response.status().is_success();
        let body = response.text().await.expect("body");
        if ok == ready {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never became {}: {body}",
            if ready { "ready" } else { "not ready" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `qunguan run` as a child process on `data` and `rules`, with extra environment and
/// arguments, its stderr written to `log`. Returns the child and its webhook and admin ports.
fn spawn_daemon(
    data: &Path,
    rules: &Path,
    gateway: &FakeOneBot,
    env: &[(&str, &str)],
    args: &[&str],
    log: &Path,
) -> (Child, u16, u16) {
    let (port, admin) = (daemon::free_port(), daemon::free_port());
    let stderr = std::fs::File::create(log).expect("log file");
    let child = Command::new(BIN)
        .arg("run")
        .args(args)
        .env("QUNGUAN__STORAGE__PATH", data)
        .env("QUNGUAN__RULES__DIR", rules)
        .env("QUNGUAN__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("QUNGUAN__SERVER__ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .env("QUNGUAN__GATEWAY__ONEBOT__API_ROOT", gateway.api_root())
        .env("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", TOKEN)
        .env("QUNGUAN__GATEWAY__ONEBOT__SECRET", SECRET)
        // Test events are dated 2024 and this daemon runs on the system clock.
        .env("QUNGUAN__SERVER__MAX_EVENT_AGE", "30000d")
        .env("QUNGUAN__STORAGE__SEEN_TTL", "30001d")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("daemon starts");
    (child, port, admin)
}

/// Waits (bounded) until `GET url` answers 200.
async fn wait_http_ok(url: &str) {
    for _ in 0..300 {
        if reqwest::get(url).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered 200");
}

/// Waits (bounded) for `child` to exit; kills it and panics if it does not.
async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills a child process left running by a failing test.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
