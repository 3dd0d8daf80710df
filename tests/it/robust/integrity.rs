//! A damaged database at start: refused with a message pointing to `qunguan restore`;
//! started anyway with `--accept-damaged` and a loud warning; a restored backup starts clean.

use std::path::Path;
use std::time::Duration;

use super::*;

/// Runs a daemon on `root`, lets it handle three violations, takes a backup, and stops it
/// cleanly. Returns the backup file.
async fn used_database(root: &Path, gateway: &FakeOneBot) -> std::path::PathBuf {
    let daemon = Daemon::start(root, gateway);
    daemon.wait_ready().await;
    let http = reqwest::Client::new();
    for id in 1..=3 {
        let body = serde_json::to_vec(&group_message(id, 40 + id, "member", "加微信")).expect("json");
        let sig = qunguan::gateway::onebot::signature::sign(SECRET.as_bytes(), &body);
        let status = http
            .post(daemon.webhook())
            .header("x-signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    }
    gateway.wait_delivered(6, PATIENCE).await;
    let backup = root.join("backup.jsonl");
    let out = cli(
        &root.join("data"),
        &["backup", "--out", backup.to_str().expect("utf-8")],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
    backup
}

/// Starts `qunguan run` (with `args`) on `root` and, if it does not exit by itself within a
/// few seconds, reports it as running. Returns the exit status (or `None`) and the log.
async fn start(root: &Path, gateway: &FakeOneBot, args: &[&str], log: &str) -> (Option<i32>, String, Option<Reap>) {
    let log = root.join(log);
    let (child, _, admin) = spawn_daemon(&root.join("data"), &root.join("rules"), gateway, &[], args, &log);
    let mut child = Reap(child);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return (status.code(), std::fs::read_to_string(&log).expect("log"), None);
        }
        if reqwest::get(format!("http://127.0.0.1:{admin}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (None, std::fs::read_to_string(&log).expect("log"), Some(child));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "neither exited nor became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_truncated_database_is_refused_accepted_on_request_and_restored() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let backup = used_database(root.path(), &gateway).await;

    // Cut the log in half, as a crash of the file system might.
    let db = root.path().join("data").join("db");
    let len = std::fs::metadata(&db).expect("db file").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");

    let (status, log, _) = start(root.path(), &gateway, &[], "refused.log").await;
    assert_eq!(status, Some(1), "refused: {log}");
    assert!(
        log.contains("is damaged") && log.contains("qunguan restore") && log.contains("--accept-damaged"),
        "{log}"
    );

    let (status, log, running) = start(root.path(), &gateway, &["--accept-damaged"], "accepted.log").await;
    assert_eq!(status, None, "started anyway: {log}");
    assert!(log.contains("STARTING ON A DAMAGED DATABASE"), "{log}");
    drop(running);

    // The way out: the backup, restored over it.
    let out = cli(
        &root.path().join("data"),
        &["restore", "--in", backup.to_str().expect("utf-8"), "--force"],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, log, running) = start(root.path(), &gateway, &[], "restored.log").await;
    assert_eq!(status, None, "the restored database starts: {log}");
    assert!(!log.contains("damaged"), "{log}");
    drop(running);
}

#[tokio::test]
async fn garbage_in_the_log_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    used_database(root.path(), &gateway).await;
    let db = root.path().join("data").join("db");
    let mut bytes = std::fs::read(&db).expect("read");
    let middle = bytes.len() / 3;
    for (i, b) in bytes[middle..].iter_mut().take(64 * 1024).enumerate() {
        *b = u8::try_from(i % 251).expect("small") ^ 0x5A;
    }
    std::fs::write(&db, bytes).expect("write");
    let (status, log, _) = start(root.path(), &gateway, &[], "garbage.log").await;
    assert_eq!(status, Some(1), "refused: {log}");
    assert!(log.contains("is damaged"), "{log}");
}
