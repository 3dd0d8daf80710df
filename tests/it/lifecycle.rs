//! The `qunguan` binary itself: check-config, and a graceful SIGTERM with an event in flight.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qunguan::gateway::onebot::signature;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_config_accepts_the_example_config() {
    let out = Command::new(BIN)
        .args(["check-config", "--config", "config.example.toml"])
        .current_dir(repo_root())
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The example sets `[messages] locale = "zh-CN"`, so the summary is Chinese whatever the
    // shell's locale (see `operator_cli_follows_the_config_s_locale_else_lang`).
    assert!(
        stdout.starts_with("配置正确（config.example.toml）\n") && stdout.contains("个词表"),
        "{stdout}"
    );
}

#[test]
fn check_config_says_a_muted_telegram_newcomer_is_asked_with_the_button() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("qunguan.toml");
    let write = |verify: &str| {
        std::fs::write(
            &config,
            format!(
                "[messages]\nlocale = \"en\"\n[storage]\npath = \"{}\"\n[gateway.telegram]\nenabled = true\nmode = \"polling\"\ntoken = \"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\"\n[verify]\n{verify}",
                dir.path().join("data").display()
            ),
        )
        .expect("write");
    };
    let check = || {
        let out = Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&config)
            .current_dir(repo_root())
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    write("enabled = true\n");
    let stdout = check();
    assert!(stdout.contains("always asked with the button"), "{stdout}");
    write("enabled = true\nmute = false\n");
    let stdout = check();
    assert!(!stdout.contains("always asked with the button"), "{stdout}");
}

/// Runs the binary with `args` and the shell locale `lang` (`LC_ALL` and `LC_MESSAGES`
/// unset, so `LANG` decides), from the repository root.
fn run_with_lang(lang: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(repo_root())
        .env("LANG", lang)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("RUST_LOG")
        .env_remove("QUNGUAN__MESSAGES__LOCALE")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Issue 17 item 16: the operator's command line speaks the configuration's `[messages]
/// locale` when `--config` is given, else the shell's (`LANG`); flags stay English.
#[test]
fn operator_cli_follows_the_config_s_locale_else_lang() {
    // No config: LANG decides, for --help and for check-config.
    let (ok, zh_help) = run_with_lang("zh_CN.UTF-8", &["--help"]);
    assert!(ok, "{zh_help}");
    for want in [
        "QQ（OneBot v11）和 Telegram 群的管理守护进程",
        "运行守护进程",
        "加载配置和规则",
        "打印审计日志",
        "测试过滤器",
    ] {
        assert!(zh_help.contains(want), "missing {want:?} in:\n{zh_help}");
    }
    assert!(!zh_help.contains("Run the daemon"), "{zh_help}");
    let (ok, zh_sub) = run_with_lang("zh_CN.UTF-8", &["check-config", "--help"]);
    assert!(
        ok && zh_sub.contains("加载配置和规则") && zh_sub.contains("--config <FILE>"),
        "{zh_sub}"
    );
    let (ok, zh_nested) = run_with_lang("zh_CN.UTF-8", &["filter", "explain", "--help"]);
    assert!(ok && zh_nested.contains("显示过滤器如何看待一条消息"), "{zh_nested}");

    let (ok, en_help) = run_with_lang("en_US.UTF-8", &["--help"]);
    assert!(ok, "{en_help}");
    for want in [
        "moderation daemon for QQ",
        "Run the daemon",
        "Load the configuration and the rules",
    ] {
        assert!(en_help.contains(want), "missing {want:?} in:\n{en_help}");
    }
    assert!(!en_help.contains("运行守护进程"), "{en_help}");

    let (ok, zh_check) = run_with_lang("zh_CN.UTF-8", &["check-config"]);
    assert!(ok && zh_check.starts_with("配置正确（内置默认值）\n"), "{zh_check}");
    let (ok, en_check) = run_with_lang("C", &["check-config"]);
    assert!(
        ok && en_check.starts_with("configuration OK (built-in defaults)\n"),
        "{en_check}"
    );

    // filter explain opens with its conclusion in the operator's language.
    let (ok, zh_explain) = run_with_lang("zh_CN.UTF-8", &["filter", "explain", "加微信领取福利，私聊我"]);
    assert!(ok && zh_explain.starts_with("结论：违规（规则「"), "{zh_explain}");
    let (ok, en_explain) = run_with_lang("en_US.UTF-8", &["filter", "explain", "坐飞机去北京"]);
    assert!(
        ok && en_explain.starts_with("verdict:     no violation\n"),
        "{en_explain}"
    );

    // A config with locale = "en" wins over a Chinese shell, for --help too.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("en.toml");
    let rules = repo_root().join("rules");
    std::fs::write(
        &config,
        format!(
            "[messages]\nlocale = \"en\"\n[rules]\ndir = {:?}\n",
            rules.display().to_string()
        ),
    )
    .expect("write");
    let config = config.display().to_string();
    let (ok, en_check) = run_with_lang("zh_CN.UTF-8", &["check-config", "--config", &config]);
    assert!(
        ok && en_check.starts_with(&format!("configuration OK ({config})\n")),
        "{en_check}"
    );
    let (ok, en_sub) = run_with_lang("zh_CN.UTF-8", &["check-config", "--config", &config, "--help"]);
    assert!(
        ok && en_sub.contains("Load the configuration and the rules"),
        "{en_sub}"
    );
    assert!(!en_sub.contains("加载配置和规则"), "{en_sub}");
}

/// Issue 13: with `[[gateway.onebot.accounts]]` and `[[gateway.telegram.bots]]`, check-config
/// shows every account and bot with its own API, and says which section keys the lists make
/// unused (a section `secret` left behind no longer guards the webhook).
#[test]
fn check_config_lists_every_account_and_bot_and_names_the_section_keys_they_replace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = repo_root().join("rules");
    let accounts = "[gateway.onebot]\nsecret = \"left-behind\"\n\
        [[gateway.onebot.accounts]]\nself_id = 20001\napi_root = \"http://127.0.0.1:3001\"\nsecret = \"one\"\n\
        [[gateway.onebot.accounts]]\nself_id = 20002\napi_root = \"http://127.0.0.1:3002\"\n\
        [gateway.telegram]\nenabled = true\ntoken = \"7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0\"\n\
        [[gateway.telegram.bots]]\ntoken = \"7000000001:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1\"\n\
        [[gateway.telegram.bots]]\ntoken = \"7000000002:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2\"\n";
    for (locale, wants) in [
        (
            "[messages]\nlocale = \"en\"\n",
            [
                "  onebot:      account 20001 · webhook /onebot/v11 · api http://127.0.0.1:3001 · token none · signature required",
                "  onebot:      account 20002 · webhook /onebot/v11 · api http://127.0.0.1:3002 · token none · signature not required",
                "  warning: [gateway.onebot] sets secret, but [[gateway.onebot.accounts]] gives each entry its own",
                "bot 7000000001",
                "bot 7000000002",
                "  warning: [gateway.telegram] sets token, but [[gateway.telegram.bots]] gives each entry its own",
            ],
        ),
        (
            "",
            [
                "  OneBot 账号 20001：Webhook /onebot/v11 · API http://127.0.0.1:3001 · 令牌未设置 · 签名必须",
                "  OneBot 账号 20002：Webhook /onebot/v11 · API http://127.0.0.1:3002 · 令牌未设置 · 签名不要求",
                "  警告：[gateway.onebot] 的 secret 未被使用：已列出 [[gateway.onebot.accounts]]",
                "机器人 7000000001",
                "机器人 7000000002",
                "  警告：[gateway.telegram] 的 token 未被使用：已列出 [[gateway.telegram.bots]]",
            ],
        ),
    ] {
        let config = dir.path().join("q.toml");
        std::fs::write(
            &config,
            format!("{locale}[rules]\ndir = {:?}\n{accounts}", rules.display().to_string()),
        )
        .expect("write");
        let out = Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        for want in wants {
            assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
        }
        for secret in ["left-behind", "AAHdqTcv", "AAAAAAAA"] {
            assert!(!stdout.contains(secret), "a secret is never printed: {stdout}");
        }
    }
}

#[test]
fn check_config_says_a_telegram_token_without_enabled_turns_telegram_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = repo_root().join("rules");
    // Without `[messages] locale` the configuration speaks zh-CN; with `en`, English.
    for (locale, transport, warning) in [
        (
            "",
            "  Telegram：长轮询",
            "  警告：[gateway.telegram] 设置了 token 但没有 `enabled` 键",
        ),
        (
            "[messages]\nlocale = \"en\"\n",
            "  telegram:    long polling",
            "  warning: [gateway.telegram] has a token but no `enabled` key",
        ),
    ] {
        let config = dir.path().join("q.toml");
        std::fs::write(
            &config,
            format!(
                "{locale}[rules]\ndir = {:?}\n[gateway.telegram]\ntoken = \"7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0\"\n",
                rules.display().to_string()
            ),
        )
        .expect("write");
        let out = Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(transport), "{stdout}");
        assert!(
            stdout.contains(warning) && stdout.contains("enabled = true"),
            "{stdout}"
        );
        assert!(!stdout.contains("AAHdqTcv"), "the token is never printed: {stdout}");
    }
}

#[test]
fn check_config_names_the_bad_key_or_file_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_key = dir.path().join("bad.toml");
    std::fs::write(&bad_key, "[moderation]\nladder = [\"warn\", \"smite\"]\n").expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&bad_key)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("moderation.ladder") && stderr.contains("smite"),
        "{stderr}"
    );

    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(rules.join("ads.txt"), b"ok\nalso ok\n\xc3\x28\n").expect("write");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, format!("[rules]\ndir = {:?}\n", rules.display().to_string())).expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ads.txt:3"), "{stderr}");

    let out = Command::new(BIN)
        .args(["check-config", "--config", "/nonexistent/q.toml"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

/// `qunguan run` replaces itself with the same command and `GLIBC_TUNABLES` turning glibc's
/// per-thread malloc caches off (`src/runtime/memory.rs`), keeping its process id; a
/// `GLIBC_TUNABLES` the operator set is left as it is.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    not(any(feature = "mimalloc", feature = "jemalloc"))
))]
#[tokio::test]
async fn the_daemon_runs_without_malloc_thread_caches_unless_tunables_are_set() {
    let gateway = FakeOneBot::start(TOKEN).await;
    let operators = "glibc.malloc.tcache_count=7";
    for (extra, expected) in [
        (vec![], "glibc.malloc.tcache_count=0"),
        (vec![("GLIBC_TUNABLES", operators)], operators),
    ] {
        let root = tempfile::tempdir().expect("tempdir");
        write_default_rules(&root.path().join("rules"));
        let daemon = Daemon::start_with(root.path(), &gateway, &extra);
        daemon.wait_ready().await;
        // The environment the running program was started with.
        let environ = std::fs::read(format!("/proc/{}/environ", daemon.pid())).expect("environ");
        let tunables: Vec<&[u8]> = environ
            .split(|b| *b == 0)
            .filter(|v| v.starts_with(b"GLIBC_TUNABLES="))
            .collect();
        assert_eq!(tunables, [format!("GLIBC_TUNABLES={expected}").as_bytes()]);
        daemon.signal("-TERM");
        assert!(daemon.wait_exit().await.success());
    }
}

/// The scheduling policy (`SCHED_*`) of every thread of process `pid`, with its name.
fn thread_policies(pid: u32) -> Vec<(String, u32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("task folder");
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            // `pid (name) state …`: the name may hold spaces, so fields count from its `)`;
            // the policy is field 41, the 39th after the name.
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let policy = rest.split_whitespace().nth(38)?.parse().ok()?;
            Some((name, policy))
        })
        .collect()
}

#[tokio::test]
async fn the_daemon_s_threads_run_under_the_batch_policy_unless_told_normal() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let gateway = FakeOneBot::start(TOKEN).await;
    for (extra, expected) in [
        (vec![], SCHED_BATCH),
        (vec![("QUNGUAN__SERVER__SCHEDULING", "normal")], SCHED_OTHER),
    ] {
        let root = tempfile::tempdir().expect("tempdir");
        write_default_rules(&root.path().join("rules"));
        let daemon = Daemon::start_with(root.path(), &gateway, &extra);
        daemon.wait_ready().await;
        // One event, so the store's threads and sled's have started too.
        let body = serde_json::to_vec(&group_message(1, 3_001, "member", "早上好")).expect("json");
        let sent = reqwest::Client::new()
            .post(daemon.webhook())
            .header("content-type", "application/json")
            .header("x-signature", signature::sign(SECRET.as_bytes(), &body))
            .body(body)
            .send()
            .await
            .expect("answers");
        assert_eq!(sent.status(), 204);
        let threads = thread_policies(daemon.pid());
        let workers: Vec<_> = threads
            .iter()
            .filter(|(name, _)| name.starts_with("tokio-rt-worker") || name.starts_with("qunguan-store"))
            .collect();
        assert!(
            workers.iter().any(|(name, _)| name.starts_with("qunguan-store")),
            "{threads:?}"
        );
        assert!(
            workers.iter().all(|(_, policy)| *policy == expected),
            "{extra:?}: {threads:?}"
        );
        daemon.signal("-TERM");
        assert!(daemon.wait_exit().await.success());
    }
}

#[tokio::test]
async fn sigterm_finishes_the_event_in_flight_then_exits_cleanly() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    let daemon = Daemon::start(root.path(), &gateway);
    daemon.wait_ready().await;

    // Send the headers and half of a violating event, then SIGTERM, then the rest.
    let body = serde_json::to_vec(&group_message(1, 42, "member", "加微信领取福利")).expect("json");
    let sig = signature::sign(SECRET.as_bytes(), &body);
    let head = format!(
        "POST /onebot/v11 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Signature: {sig}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).await.expect("write half");
    stream.flush().await.expect("flush");
    // Time must pass here: nothing tells that the daemon has accepted the connection and read
    // the head. (Too short a wait can only fail the test, never pass it: a connection not yet
    // accepted when shutdown begins is refused.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    daemon.signal("-TERM");
    // The daemon has begun its shutdown while the request is in flight: /readyz says so.
    daemon.wait_shutting_down().await;
    stream.write_all(rest).await.expect("write rest");
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");

    let status = daemon.wait_exit().await;
    assert!(status.success(), "exit status {status:?}");

    // The acknowledged event's actions were stored: delivered before exit or after a restart,
    // exactly once.
    let daemon = Daemon::start(root.path(), &gateway);
    daemon.wait_ready().await;
    let calls = gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);
    // Nothing is left to deliver, so every call the restarted daemon will make is recorded.
    daemon.wait_outbox_empty().await;
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success());
    assert_eq!(gateway.delivered().len(), 2, "nothing was delivered twice");
}

#[tokio::test]
async fn sighup_reloads_the_rules() {
    let root = tempfile::tempdir().expect("tempdir");
    write_default_rules(&root.path().join("rules"));
    let gateway = FakeOneBot::start(TOKEN).await;
    // File watching off: only the signal can reload.
    let daemon = Daemon::start_with(root.path(), &gateway, &[("QUNGUAN__RULES__WATCH", "false")]);
    daemon.wait_ready().await;
    std::fs::write(root.path().join("rules/ads.txt"), "信号词\n").expect("write");
    daemon.signal("-HUP");

    // Probe with violating messages until one is acted on (bounded).
    let http = reqwest::Client::new();
    let mut acted = false;
    for id in 1..=100 {
        let body = serde_json::to_vec(&group_message(id, 7_000 + id, "member", "信 号 词")).expect("json");
        let sig = signature::sign(SECRET.as_bytes(), &body);
        let status = http
            .post(format!("http://127.0.0.1:{}/onebot/v11", daemon.port))
            .header("content-type", "application/json")
            .header("x-signature", sig)
            .body(body)
            .send()
            .await
            .expect("webhook answers")
            .status();
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !gateway.delivered().is_empty() {
            acted = true;
            break;
        }
    }
    assert!(acted, "the new phrase never took effect after SIGHUP");
    assert_eq!(gateway.delivered()[0].action, "delete_msg");
    daemon.signal("-TERM");
    assert!(daemon.wait_exit().await.success(), "SIGHUP does not stop the daemon");
}
