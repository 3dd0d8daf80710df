//! The real `qunguan` binary as a child process, for tests that need a real process:
//! signals, kill -9, and the CLI talking to a running daemon.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{FakeOneBot, SECRET, TOKEN};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_qunguan");

/// A running daemon process.
pub struct Daemon {
    child: Child,
    /// Its webhook port on 127.0.0.1.
    pub port: u16,
    /// Its admin listener's port on 127.0.0.1.
    pub admin_port: u16,
}

impl Daemon {
    /// Starts `qunguan run` on `root/data` and `root/rules`, talking to `gateway`.
    pub fn start(root: &Path, gateway: &FakeOneBot) -> Self {
        Self::start_on(&root.join("data"), &root.join("rules"), gateway, &[])
    }

    /// Like [`Daemon::start`], with extra environment variables (`QUNGUAN__…` settings).
    pub fn start_with(root: &Path, gateway: &FakeOneBot, extra: &[(&str, &str)]) -> Self {
        Self::start_on(&root.join("data"), &root.join("rules"), gateway, extra)
    }

    /// Starts `qunguan run` on the given data and rules folders, with extra environment.
    pub fn start_on(data: &Path, rules: &Path, gateway: &FakeOneBot, extra: &[(&str, &str)]) -> Self {
        Self::spawn(data, rules, gateway, extra, Stdio::inherit())
    }

    /// Like [`Daemon::start_with`], writing its log (stderr, at `info` unless `extra` sets
    /// `RUST_LOG`) to the file `log`.
    pub fn start_logging_to(root: &Path, gateway: &FakeOneBot, extra: &[(&str, &str)], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        let mut extra = extra.to_vec();
        if !extra.iter().any(|(k, _)| *k == "RUST_LOG") {
            extra.push(("RUST_LOG", "info"));
        }
        Self::spawn(
            &root.join("data"),
            &root.join("rules"),
            gateway,
            &extra,
            Stdio::from(file),
        )
    }

    fn spawn(data: &Path, rules: &Path, gateway: &FakeOneBot, extra: &[(&str, &str)], stderr: Stdio) -> Self {
        let port = free_port();
        let admin_port = free_port();
        let child = Command::new(BIN)
            .arg("run")
            .envs(env(data, rules))
            // The test events are dated 1970 or November 2024 and this daemon runs on the
            // system clock: no event is too old here (the replay tests set their own limit).
            .env("QUNGUAN__SERVER__MAX_EVENT_AGE", "30000d")
            .env("QUNGUAN__STORAGE__SEEN_TTL", "30001d")
            .env("QUNGUAN__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("QUNGUAN__SERVER__ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("QUNGUAN__GATEWAY__ONEBOT__API_ROOT", gateway.api_root())
            .env("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", TOKEN)
            .env("QUNGUAN__GATEWAY__ONEBOT__SECRET", SECRET)
            .env("RUST_LOG", "warn")
            // Last, so a test can change any of the above.
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("daemon starts");
        Self {
            child,
            port,
            admin_port,
        }
    }

    /// The process id (the same after the daemon restarts itself with its malloc settings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin listener's root URL (`/metrics`, `/readyz` …).
    pub fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The webhook URL.
    pub fn webhook(&self) -> String {
        format!("http://127.0.0.1:{}/onebot/v11", self.port)
    }

    /// Waits (bounded) until the daemon's outbox is empty (`qunguan_outbox_depth 0` on its
    /// admin listener): every action it stored has been delivered or given up, and so every
    /// call it made is in the fake's records (see `TestApp::settle`).
    pub async fn wait_outbox_empty(&self) {
        let admin = format!("http://127.0.0.1:{}", self.admin_port);
        super::wait_metrics_at(&reqwest::Client::new(), &admin, &[("qunguan_outbox_depth", "0")]).await;
    }

    /// Waits (bounded) until `/readyz` on the admin listener answers 503 with
    /// `shutdown: in progress`: the daemon has begun its shutdown (and still serves).
    pub async fn wait_shutting_down(&self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.admin_port);
        let mut last = String::new();
        for _ in 0..200 {
            if let Ok(response) = reqwest::get(&url).await {
                let status = response.status();
                last = response.text().await.unwrap_or_default();
                if status == reqwest::StatusCode::SERVICE_UNAVAILABLE && last.contains("shutdown: in progress") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the daemon on port {} did not begin its shutdown: /readyz said {last:?}",
            self.port
        );
    }

    /// Waits until `/healthz` answers (bounded).
    pub async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        for _ in 0..200 {
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                !self.exited(),
                "the daemon for port {} exited before it was ready; its log is above",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("daemon did not become ready on port {}", self.port);
    }

    /// Whether the process has ended (a zombie not yet reaped, or gone).
    fn exited(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).map_or(true, |stat| {
            stat.rsplit_once(") ").is_none_or(|(_, rest)| rest.starts_with('Z'))
        })
    }

    /// Sends a signal (`-TERM`, `-KILL`) to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit (bounded), returning its status.
    pub async fn wait_exit(mut self) -> std::process::ExitStatus {
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        panic!("daemon did not exit");
    }
}

impl Drop for Daemon {
    /// A test that fails midway must not leave a daemon running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The variables that point the binary at a data and a rules folder.
fn env(data: &Path, rules: &Path) -> [(&'static str, PathBuf); 2] {
    [
        ("QUNGUAN__STORAGE__PATH", data.to_owned()),
        ("QUNGUAN__RULES__DIR", rules.to_owned()),
    ]
}

/// Runs a CLI command (`audit`, `backup`, `restore` …) on the data folder `data`, off the
/// async threads so the test's fake gateway keeps answering meanwhile.
pub async fn cli(data: &Path, args: &[&str]) -> Output {
    // English summaries whatever the developer's shell speaks (`cli::locale`).
    cli_lang(data, "C", args).await
}

/// [`cli`] in the shell locale `lang` (`zh_CN.UTF-8`, `C`): what an operator whose shell
/// speaks it reads.
pub async fn cli_lang(data: &Path, lang: &str, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .envs(env(data, &data.join("rules")))
        .env_remove("RUST_LOG")
        .env("LANG", lang)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("QUNGUAN__MESSAGES__LOCALE");
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .expect("join")
}

/// [`cli`] with `input` on the command's standard input (`filter scan`).
pub async fn cli_with_input(data: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut command = Command::new(BIN);
    command
        .args(args)
        .envs(env(data, &data.join("rules")))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = input.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("the binary runs");
        // Dropped after the write: the command sees the end of its input.
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("the binary runs")
    })
    .await
    .expect("join")
}

/// A port on 127.0.0.1 that is free now and that no other call in this test process hands out
/// again, for a child daemon to bind a moment later.
///
/// Not from the kernel's ephemeral range (where `bind(0)` would pick it): the outgoing
/// connections of every other test take their local ports from there, and one of them could
/// take this port between this call and the daemon's bind (the daemon then exits and never
/// becomes ready). Below that range, ports go out in turn from a start spread by the process
/// id, each checked free by binding it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOWEST: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(LOWEST);
    if span >= 1_000 {
        let start = std::process::id().wrapping_mul(7_919) % span;
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let Ok(port) = u16::try_from(LOWEST + (start + n) % span) else {
                continue;
            };
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
