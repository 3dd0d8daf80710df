//! What the daemon writes to its log and stderr: JSON fields with their types, no colour codes
//! when nobody reads them in a terminal, and each error said once.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// POSTs `event` to a daemon process's webhook, signed.
async fn post(daemon: &Daemon, event: &Value) -> StatusCode {
    let body = serde_json::to_vec(event).expect("json");
    reqwest::Client::new()
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
        .status()
}

#[tokio::test]
async fn json_log_fields_are_numbers_strings_and_arrays_with_absent_values_left_out() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let log = root.path().join("qunguan.log");
    let daemon = Daemon::start_logging_to(root.path(), &gateway, &[("QUNGUAN__LOG__FORMAT", "json")], &log);
    daemon.wait_ready().await;
    assert_eq!(
        post(&daemon, &group_message(1, 77, "member", "加微信 free money")).await,
        StatusCode::NO_CONTENT
    );
    gateway.wait_delivered(2, PATIENCE).await;
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());

    let text = std::fs::read_to_string(&log).expect("the log");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in\n{text}"))
    };
    let violation = find("violation");
    assert_eq!(violation["user"], 77);
    assert_eq!(violation["rule"], "ads");
    assert_eq!(violation["case"], 1);
    assert_eq!(violation["strikes"], 1);
    assert_eq!(violation["dry_run"], false);
    assert!(
        violation["matched"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string)),
        "{violation}"
    );
    assert_eq!(violation["group"], format!("qq:{GROUP}"));
    let delivered = lines
        .iter()
        .find(|l| l["message"] == "outbox: delivered" && l["action"] == "send")
        .unwrap_or_else(|| panic!("no delivered send in\n{text}"));
    assert_eq!(delivered["case"], 1);
    assert!(delivered["seq"].is_u64(), "{delivered}");
    // The webhook request's span says how it went, as numbers.
    for line in &lines {
        let rendered = line.to_string();
        for debug in ["Some(", "None", "\\u001b["] {
            assert!(!rendered.contains(debug), "{debug} in {rendered}");
        }
    }
}

#[tokio::test]
async fn readable_logs_have_no_colour_codes_when_written_to_a_file() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let log = root.path().join("qunguan.log");
    let daemon = Daemon::start_logging_to(root.path(), &gateway, &[], &log);
    daemon.wait_ready().await;
    daemon.signal("-TERM");
    let status = daemon.wait_exit().await;
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(status.success(), "{status}\n{text}");
    assert!(text.contains("qunguan listening"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a file:\n{text}");
}

#[test]
fn a_port_in_use_is_said_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let out = Command::new(BIN)
        .arg("run")
        .env("QUNGUAN__STORAGE__PATH", root.path().join("data"))
        .env("QUNGUAN__RULES__DIR", root.path().join("rules"))
        .env("QUNGUAN__SERVER__LISTEN", &addr)
        .env("QUNGUAN__SERVER__ADMIN_LISTEN", "")
        .env("RUST_LOG", "error")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("qunguan: cannot listen on {addr}")),
        "{stderr}"
    );
    assert_eq!(last.matches("in use").count(), 1, "said once: {last}");
}

#[tokio::test]
async fn an_unreachable_gateway_is_named_with_its_call_and_cause_and_fails_readyz_after_unready_after() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    // Nothing listens on a port that was just free.
    let closed = crate::support::daemon::free_port();
    let api_root = format!("http://127.0.0.1:{closed}");
    let log = root.path().join("qunguan.log");
    let daemon = Daemon::start_logging_to(
        root.path(),
        &gateway,
        &[
            ("QUNGUAN__GATEWAY__ONEBOT__API_ROOT", api_root.as_str()),
            ("QUNGUAN__GATEWAY__UNREADY_AFTER", "1s"),
        ],
        &log,
    );
    daemon.wait_ready().await;
    assert_eq!(
        post(&daemon, &group_message(1, 77, "member", "加微信 free money")).await,
        StatusCode::NO_CONTENT
    );
    // /readyz turns 503 once every call has failed for a second, and says which and why.
    let url = format!("{}/readyz", daemon.admin());
    let mut last = (StatusCode::OK, String::new());
    for _ in 0..200 {
        let response = reqwest::get(&url).await.expect("readyz answers");
        last = (response.status(), response.text().await.unwrap_or_default());
        if last.0 == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = last;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.contains("gateway qq: down, every call failed for")
            && body.contains(&format!("POST {api_root}/"))
            && body.contains("connection refused"),
        "{body}"
    );
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
    let text = std::fs::read_to_string(&log).expect("log");
    // The start-up probe says so at once, with the call and the cause.
    assert!(
        text.contains("the gateway cannot be reached at start")
            && text.contains(&format!("POST {api_root}/get_status: connection refused")),
        "{text}"
    );
    // So does every failed delivery, and no secret is written.
    assert!(
        text.contains(&format!("POST {api_root}/delete_msg: connection refused")),
        "{text}"
    );
    assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn a_refused_token_says_the_http_status_and_the_gateways_retcode() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let log = root.path().join("qunguan.log");
    let daemon = Daemon::start_logging_to(
        root.path(),
        &gateway,
        &[("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", "not-the-token")],
        &log,
    );
    daemon.wait_ready().await;
    assert_eq!(
        post(&daemon, &group_message(1, 77, "member", "加微信 free money")).await,
        StatusCode::NO_CONTENT
    );
    let expected = format!("HTTP 403: POST {}/delete_msg: retcode 1403", gateway.api_root());
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(&expected) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(text.contains(&expected), "{text}");
    assert!(!text.contains("not-the-token"), "{text}");
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
}
