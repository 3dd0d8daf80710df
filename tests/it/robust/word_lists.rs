//! An emptied or deleted word list is applied, but warned about: in the daemon's log and in
//! `qunguan check-config`.

use std::path::Path;
use std::process::Command;

use super::*;

fn check_config(root: &Path) -> String {
    let out = Command::new(BIN)
        .arg("check-config")
        .env("QUNGUAN__STORAGE__PATH", root.join("data"))
        .env("QUNGUAN__RULES__DIR", root.join("rules"))
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn check_config_warns_about_an_emptied_list_and_one_deleted_since_the_daemon_loaded_it() {
    let app = TestApp::spawn().await;
    let root = std::sync::Arc::clone(&app.root);
    let rules = root.path().join("rules");
    std::fs::write(rules.join("scam.txt"), "刷单返利\n").expect("write");
    // (Not `ads.txt`: `rules.toml` names that one, and a missing named list is an error.)
    std::fs::write(rules.join("promo.txt"), "代购\n").expect("write");
    // The daemon records the lists it loads (at start and on every reload).
    let app = app.restart(Options::default()).await;
    app.stop().await;
    let clean = check_config(root.path());
    assert!(!clean.contains("warning"), "{clean}");

    std::fs::write(rules.join("scam.txt"), "# emptied by mistake\n").expect("write");
    std::fs::remove_file(rules.join("promo.txt")).expect("delete");
    let out = check_config(root.path());
    assert!(out.starts_with("configuration OK"), "applied all the same:\n{out}");
    assert!(
        out.contains("warning:     word list") && out.contains("scam.txt is empty"),
        "{out}"
    );
    assert!(out.contains("word list promo.txt is gone"), "{out}");
}
