//! Hot reload through the running daemon: a change in the rules folder takes effect without a
//! restart, a broken file keeps the previous rules live, and fixing it recovers.

use std::time::{Duration, Instant};

use qunguan::domain::event::GroupId;
use reqwest::StatusCode;

use crate::support::*;

/// Waits (bounded) until the daemon's live rules flag `text`.
async fn until_flagged(app: &TestApp, text: &str) {
    let deadline = Instant::now() + PATIENCE;
    while app.rules.load().filter.check(text, GroupId::qq(GROUP)).is_none() {
        assert!(
            Instant::now() < deadline,
            "the rules were not reloaded: {text:?} is not flagged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn flagged(app: &TestApp, text: &str) -> bool {
    app.rules.load().filter.check(text, GroupId::qq(GROUP)).is_some()
}

#[tokio::test]
async fn a_changed_rules_file_takes_effect_and_a_broken_one_keeps_the_old_rules() {
    let app = TestApp::spawn().await;
    let rules = app.root.path().join("rules");
    assert!(!flagged(&app, "新词甲"));

    // 1. A new phrase: live after the debounce, and the daemon acts on it.
    std::fs::write(rules.join("ads.txt"), "加微信\n新词甲\n").expect("write");
    until_flagged(&app, "新词 甲").await;
    let event = group_message(1, 5_550_001, "member", "快来看 新-词-甲");
    assert_eq!(app.post_event(&event).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);

    // 2. A broken rules.toml together with a word-list change: nothing of it goes live.
    std::fs::write(rules.join("rules.toml"), "[rules.ads]\nmode = \"loud\"\n").expect("write");
    std::fs::write(rules.join("ads.txt"), "新词乙\n").expect("write");
    // The watcher saw the change and tried: the reload failed.
    app.wait_metrics(&[("qunguan_rules_reloads_total{result=\"failed\"}", "1")])
        .await;
    assert!(flagged(&app, "新词甲"), "the previous rules stay live");
    assert!(!flagged(&app, "新词乙"));

    // 3. Fixing the file reloads everything.
    std::fs::remove_file(rules.join("rules.toml")).expect("remove");
    until_flagged(&app, "新词乙").await;
    assert!(!flagged(&app, "新词甲"));
    app.stop().await;
}

#[tokio::test]
async fn watching_can_be_switched_off() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.rules.watch = false),
        ..Options::default()
    })
    .await;
    // A second daemon watches the same rules folder: the control. Its reload proves that the
    // change was seen and the debounce has passed on this machine; a watching daemon would
    // have reloaded by then too (this one has no watcher to give a signal of its own).
    let dir = app.root.path().join("rules");
    let control = TestApp::spawn_with(Options {
        tweak: Box::new(move |s| s.rules.dir = dir.clone()),
        ..Options::default()
    })
    .await;
    std::fs::write(app.root.path().join("rules/ads.txt"), "新词丙\n").expect("write");
    control
        .wait_metrics(&[("qunguan_rules_reloads_total{result=\"ok\"}", "1")])
        .await;
    assert!(flagged(&control, "新词丙"));
    control.stop().await;
    assert!(
        !flagged(&app, "新词丙"),
        "no reload without watch (SIGHUP or /reload instead)"
    );
    app.wait_metrics(&[("qunguan_rules_reloads_total{result=\"ok\"}", "0")])
        .await;
    // The reload function the admin command and SIGHUP use picks it up.
    let summary = qunguan::config::rules::reload(&app.rules, &app.root.path().join("rules")).expect("reloads");
    assert!(summary.contains("1 phrase"), "{summary}");
    assert!(flagged(&app, "新词丙"));
    app.stop().await;
}
