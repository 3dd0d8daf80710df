//! A flood of refused requests: every one counted, a few logged.

use reqwest::StatusCode;

use super::*;

#[tokio::test]
async fn refused_requests_are_all_counted_but_logged_at_a_bounded_rate() {
    let root = tempfile::tempdir().expect("tempdir");
    let rules = root.path().join("rules");
    write_default_rules(&rules);
    let gateway = FakeOneBot::start(TOKEN).await;
    let log = root.path().join("daemon.log");
    let (child, port, admin) = spawn_daemon(&root.path().join("data"), &rules, &gateway, &[], &[], &log);
    let mut child = Reap(child);
    wait_http_ok(&format!("http://127.0.0.1:{admin}/readyz")).await;

    let http = reqwest::Client::new();
    let floods = 300;
    for i in 0..floods {
        let status = http
            .post(format!("http://127.0.0.1:{port}/onebot/v11"))
            .header("content-type", "application/json")
            .header("x-signature", "sha1=0000000000000000000000000000000000000000")
            .body(format!("{{\"post_type\":\"message\",\"n\":{i}}}"))
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(sample(&metrics, "qunguan_refused_total{reason=\"401\"}"), Some(floods));

    // Stop it, so the log is complete.
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    assert!(wait_exit(&mut child.0, PATIENCE).await.success());
    let text = std::fs::read_to_string(&log).expect("log");
    let logged = text.lines().filter(|l| l.contains("refused a request")).count();
    // A burst per 10-second window; the flood takes one or two windows.
    let burst = qunguan::runtime::health::REFUSAL_LOG_BURST as usize;
    assert!((1..=2 * burst).contains(&logged), "{logged} refusal lines:\n{text}");
    assert!(text.contains("X-Signature"), "the logged ones say why:\n{text}");
}
