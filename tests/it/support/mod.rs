//! Test support: the real daemon on 127.0.0.1:0 with a temp data dir and rules folder, talking
//! to a fake gateway over loopback.

pub mod browser;
pub mod daemon;
pub mod fake_onebot;
pub mod fake_telegram;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qunguan::config::{Secret, Settings, TelegramMode};
use qunguan::domain::clock::{ManualClock, SharedClock};
use qunguan::gateway::onebot::signature;
use qunguan::runtime::app::App;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use daemon::{BIN, Daemon, cli};
pub use fake_onebot::{Call, FakeOneBot, Fault};
pub use fake_telegram::{BOT_ID, FakeTelegram, TG_CHAT, TG_OWNER, TG_SPAMMER, TG_TOKEN, TgFault, methods};

/// The bot account in every test.
pub const SELF_ID: i64 = 3_889_000_123;
/// A group.
pub const GROUP: i64 = 726_300_112;
/// HMAC secret shared by the tests' "gateway" and the daemon.
pub const SECRET: &str = "test-hmac-secret";
/// API access token.
pub const TOKEN: &str = "test-access-token";
/// The Telegram webhook's secret token.
pub const TG_SECRET: &str = "q9Lr_4xT-2vWm8Zb";
/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A group message event in CQ-string form.
pub fn group_message(message_id: i64, user_id: i64, role: &str, message: &str) -> Value {
    group_message_in(GROUP, message_id, user_id, role, message)
}

/// A group message event in CQ-string form, in `group`.
pub fn group_message_in(group: i64, message_id: i64, user_id: i64, role: &str, message: &str) -> Value {
    json!({
        "post_type": "message", "message_type": "group", "sub_type": "normal",
        "time": 1_732_171_530 + message_id, "self_id": SELF_ID, "group_id": group,
        "user_id": user_id, "message_id": message_id, "message": message, "raw_message": message,
        "font": 0,
        "sender": {"user_id": user_id, "nickname": format!("user{user_id}"), "card": "", "role": role}
    })
}

/// A Telegram fixture from `tests/fixtures/telegram/`.
pub fn tg_fixture(name: &str) -> Value {
    fixture(&format!("telegram/{name}"))
}

/// Options that enable the Telegram gateway (beside OneBot) in `mode`.
pub fn telegram(mode: TelegramMode) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = mode;
        }),
        ..Options::default()
    }
}

/// A group message written like `"/warn {@42} 刷屏"`: `{@id}` becomes a real mention
/// (segment-array form, as NapCat posts it).
pub fn command(message_id: i64, user_id: i64, role: &str, spec: &str) -> Value {
    let mut segments = Vec::new();
    let mut rest = spec;
    while let Some(start) = rest.find("{@") {
        if start > 0 {
            segments.push(json!({"type": "text", "data": {"text": &rest[..start]}}));
        }
        let end = rest[start..].find('}').expect("closing brace") + start;
        segments.push(json!({"type": "at", "data": {"qq": &rest[start + 2..end]}}));
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        segments.push(json!({"type": "text", "data": {"text": rest}}));
    }
    let mut event = group_message(message_id, user_id, role, "");
    event["message"] = Value::Array(segments);
    event
}

/// The text of a `send_group_msg` call (text segments joined; mentions as `@id`).
pub fn sent_text(call: &Call) -> String {
    let mut out = String::new();
    for segment in call.params["message"].as_array().map(Vec::as_slice).unwrap_or_default() {
        match segment["type"].as_str() {
            Some("text") => out.push_str(segment["data"]["text"].as_str().unwrap_or_default()),
            Some("at") => {
                out.push('@');
                out.push_str(segment["data"]["qq"].as_str().unwrap_or_default());
            }
            _ => {}
        }
    }
    out
}

/// The rules folder every test starts with.
pub fn write_default_rules(dir: &Path) {
    std::fs::create_dir_all(dir).expect("rules dir");
    std::fs::write(
        dir.join("ads.txt"),
        "# test ads\n加微信\nfree money\n[推广]\n# the Telegram fixtures' spam\nt.me/+\nadd me on wechat\n兼职日结\n",
    )
    .expect("write");
    std::fs::write(dir.join("group-rules.md"), "1. 禁止广告\n2. 友善交流\n").expect("write");
}

/// Options for [`TestApp::spawn`].
pub struct Options {
    /// HMAC secret the daemon requires (empty = unsigned).
    pub secret: String,
    /// Adjusts the settings after the defaults are filled in.
    pub tweak: Box<dyn Fn(&mut Settings) + Send + Sync>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            secret: SECRET.into(),
            tweak: Box::new(|_| {}),
        }
    }
}

/// The daemon under test.
pub struct TestApp {
    /// Its webhook base URL, e.g. `http://127.0.0.1:40000`.
    pub base: String,
    /// The fake gateway it acts through.
    pub gateway: FakeOneBot,
    /// The fake Telegram Bot API (used when `[gateway.telegram]` is enabled).
    pub telegram: FakeTelegram,
    /// The temp folder holding `data/` and `rules/`.
    pub root: Arc<tempfile::TempDir>,
    /// The injected clock.
    pub clock: Arc<ManualClock>,
    /// The settings it runs with.
    pub settings: Settings,
    /// The HMAC secret it requires.
    pub secret: String,
    /// The daemon's live rules (to observe reloads).
    pub rules: qunguan::config::rules::RulesHandle,
    /// The daemon's inactivity tracker (tests run its sweep after moving the clock).
    pub inactivity: Arc<qunguan::service::inactivity::Inactivity>,
    /// The admin listener's base URL (`/metrics`, `/stats/…`), unless a test turned it off.
    pub admin: Option<String>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), qunguan::runtime::app::AppError>>,
    http: reqwest::Client,
}

impl TestApp {
    /// Starts a daemon with default options and a fresh fake gateway.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// Starts a daemon with `options`.
    pub async fn spawn_with(options: Options) -> Self {
        let root = Arc::new(tempfile::tempdir().expect("tempdir"));
        write_default_rules(&root.path().join("rules"));
        let gateway = FakeOneBot::start(TOKEN).await;
        let telegram = FakeTelegram::start().await;
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_732_171_530).expect("valid"));
        Self::start(root, gateway, telegram, clock, options).await
    }

    async fn start(
        root: Arc<tempfile::TempDir>,
        gateway: FakeOneBot,
        telegram: FakeTelegram,
        clock: Arc<ManualClock>,
        options: Options,
    ) -> Self {
        init_test_logging();
        let mut settings = Settings::default();
        settings.server.listen = "127.0.0.1:0".parse().expect("addr");
        settings.server.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        settings.storage.path = root.path().join("data");
        settings.rules.dir = root.path().join("rules");
        settings.gateway.onebot.api_root = gateway.api_root();
        settings.gateway.onebot.access_token = Secret::new(TOKEN);
        settings.gateway.onebot.secret = Secret::new(options.secret.clone());
        settings.gateway.onebot.timeout = qunguan::domain::duration::HumanDuration::from_secs(2);
        let tg = &mut settings.gateway.telegram;
        tg.api_root = telegram.api_root();
        tg.token = Secret::new(TG_TOKEN);
        tg.webhook_url = "https://bot.example.org/telegram/webhook".into();
        tg.secret_token = Secret::new(TG_SECRET);
        tg.timeout = qunguan::domain::duration::HumanDuration::from_secs(2);
        // The daemon's clock stands still unless a test moves it, so the send governor's
        // per-second and per-minute windows would never reopen; tests of the governor set
        // their own limits.
        settings.outbox.sends_per_second_total = 10_000;
        settings.outbox.sends_per_minute_per_group = 10_000;
        // Welcomes go out at once unless a test of batching sets a window (the default 10 s
        // window would make every test that joins a member move the clock).
        settings.welcome.batch_window = qunguan::domain::duration::HumanDuration::from_secs(0);
        (options.tweak)(&mut settings);
        let app = App::build(settings.clone(), Arc::clone(&clock) as SharedClock)
            .await
            .expect("app builds");
        let base = format!("http://{}", app.local_addr());
        let admin = app.admin_addr().map(|a| format!("http://{a}"));
        let rules = app.rules();
        let inactivity = Arc::clone(app.pipeline().inactivity());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        let http = reqwest::Client::builder().timeout(PATIENCE).build().expect("client");
        Self {
            base,
            gateway,
            telegram,
            root,
            clock,
            settings,
            secret: options.secret,
            rules,
            inactivity,
            admin,
            shutdown,
            task,
            http,
        }
    }

    /// Stops the daemon gracefully and starts a new one on the same data, rules, gateway and
    /// clock.
    pub async fn restart(self, options: Options) -> Self {
        self.restart_after(options, |_| {}).await
    }

    /// Like [`TestApp::restart`], running `between` on the root folder (`data/`, `rules/`)
    /// while the daemon is stopped.
    pub async fn restart_after(self, options: Options, between: impl FnOnce(&Path)) -> Self {
        let root = Arc::clone(&self.root);
        let gateway = self.gateway.clone();
        let telegram = self.telegram.clone();
        let clock = Arc::clone(&self.clock);
        self.stop().await;
        between(root.path());
        Self::start(root, gateway, telegram, clock, options).await
    }

    /// Stops the daemon gracefully and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("app task").expect("app stops cleanly");
    }

    /// POSTs `event` to the webhook, signed with the app's secret.
    pub async fn post_event(&self, event: &Value) -> reqwest::StatusCode {
        self.poster().post(event).await
    }

    /// POSTs raw bytes with an optional `X-Signature` header.
    pub async fn post_raw(&self, body: Vec<u8>, signature: Option<&str>) -> reqwest::StatusCode {
        self.poster().post_raw(body, signature).await
    }

    /// A cheap, cloneable handle that posts events (for concurrent senders).
    pub fn poster(&self) -> Poster {
        Poster {
            url: format!("{}{}", self.base, self.settings.gateway.onebot.webhook_path),
            secret: self.secret.clone(),
            http: self.http.clone(),
        }
    }

    /// Asks the daemon over its control socket (as the CLI does) and returns the payload lines.
    pub async fn control(&self, request: qunguan::runtime::control::Request) -> Vec<String> {
        let data = self.settings.storage.path.clone();
        tokio::task::spawn_blocking(move || {
            let reader = qunguan::runtime::control::request(&data, &request).expect("the daemon answers");
            std::io::BufRead::lines(reader).map(|l| l.expect("line")).collect()
        })
        .await
        .expect("join")
    }

    /// The audit cases of the test group, oldest first.
    pub async fn cases(&self) -> Vec<qunguan::domain::audit::AuditEntry> {
        let request = qunguan::runtime::control::Request::Audit {
            group: Some(format!("qq:{GROUP}")),
            last: None,
        };
        self.control(request)
            .await
            .iter()
            .map(|l| serde_json::from_str(l).expect("an audit entry"))
            .collect()
    }

    /// The dead letters, oldest first.
    pub async fn dead_letters(&self) -> Vec<qunguan::store::DeadLetter> {
        self.control(qunguan::runtime::control::Request::DeadLetters)
            .await
            .iter()
            .map(|l| {
                serde_json::from_str::<qunguan::runtime::control::NumberedDeadLetter>(l)
                    .expect("a dead letter")
                    .letter
            })
            .collect()
    }

    /// Moves the daemon's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// POSTs a Telegram update to the Telegram webhook with the right secret token, as the
    /// Bot API does.
    pub async fn post_update(&self, update: &Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(update).expect("json");
        self.post_update_raw(body, Some(TG_SECRET)).await
    }

    /// POSTs raw bytes to the Telegram webhook with an optional secret token header.
    pub async fn post_update_raw(&self, body: Vec<u8>, secret_token: Option<&str>) -> reqwest::StatusCode {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, self.settings.gateway.telegram.webhook_path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = secret_token {
            req = req.header("x-telegram-bot-api-secret-token", token);
        }
        req.send().await.expect("webhook answers").status()
    }

    /// GETs a path on the admin listener.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        let base = self.admin.as_deref().expect("the admin listener is on");
        self.http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("admin listener answers")
    }

    /// GETs a path on the public listener.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("answers")
    }
}

/// Posts events to one daemon's webhook; clone it into concurrent tasks.
#[derive(Clone)]
pub struct Poster {
    url: String,
    secret: String,
    http: reqwest::Client,
}

impl Poster {
    /// POSTs `event`, signed.
    pub async fn post(&self, event: &Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(event).expect("json");
        let sig = (!self.secret.is_empty()).then(|| signature::sign(self.secret.as_bytes(), &body));
        self.post_raw(body, sig.as_deref()).await
    }

    /// POSTs raw bytes with an optional `X-Signature` header.
    pub async fn post_raw(&self, body: Vec<u8>, signature: Option<&str>) -> reqwest::StatusCode {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-self-id", SELF_ID.to_string())
            .body(body);
        if let Some(sig) = signature {
            req = req.header("x-signature", sig);
        }
        req.send().await.expect("webhook answers").status()
    }
}

/// Action names of calls, for compact assertions.
pub fn actions(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|c| c.action.as_str()).collect()
}

/// Logs go to the test output only when `TEST_LOG` is set.
fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        qunguan::runtime::telemetry::init(qunguan::config::LogFormat::Pretty);
    }
}
