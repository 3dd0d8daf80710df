//! Test support: the real daemon on 127.0.0.1:0 with a temp data dir and rules folder, talking
//! to a fake gateway over loopback.
//!
//! ## "Nothing happened" needs a positive signal
//!
//! A check that something did *not* happen passes just as well when the daemon has not got
//! round to it yet, so it never follows a bare sleep. It follows a wait for something that
//! does happen and that proves the daemon is done with what it would have acted on:
//!
//! - [`TestApp::settle`] — the usual one: the greeter and the scheduler have each finished a
//!   round that began after the call, and the outbox is empty, so whatever the daemon decided
//!   has reached the fakes;
//! - [`TestApp::outbox_round`] — for a test that leaves actions waiting on purpose (a retry,
//!   the send governor, a jitter offset): every delivery due at the clock's current time has
//!   been made;
//! - [`TestApp::wait_metrics`] — a counter reaching its value (a duplicate recognized, a
//!   reload that failed);
//! - or a later event in the same group that does produce an action: a group's actions go out
//!   in decision order, so once the later one arrived, an earlier one would have too.
//!
//! A `sleep` stays only where time itself must pass, with a comment saying why.

pub mod browser;
pub mod daemon;
pub mod fake_onebot;
pub mod fake_telegram;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use qunguan::config::{Secret, Settings, TelegramMode};
use qunguan::domain::clock::{ManualClock, SharedClock};
use qunguan::gateway::onebot::signature;
use qunguan::runtime::app::App;
use qunguan::service::passes::Passes;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use daemon::{BIN, Daemon, cli, cli_lang, cli_with_input};
pub use fake_onebot::{Call, FakeOneBot, Fault, MARKER_GROUP};
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
/// The admin who posts the harness's markers (a `/rules` in [`MARKER_GROUP`]).
pub const MARKER_ADMIN: i64 = 2_000_000_001;
/// Message ids of markers: unique in the test process (so a marker is never a duplicate, even
/// after a restart on the same data), and far above the ids tests use.
static NEXT_MARKER: AtomicI64 = AtomicI64::new(900_000_000);

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
    // Members see the list's display name, never the file stem `ads`.
    std::fs::write(
        dir.join("rules.toml"),
        "[rules.ads]\ndisplay = \"广告\"\ndisplay_en = \"advertising\"\n",
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
    /// Adds to the rules folder after the default rules are written (first start only).
    pub rules: Box<dyn Fn(&Path) + Send + Sync>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            secret: SECRET.into(),
            tweak: Box::new(|_| {}),
            rules: Box::new(|_| {}),
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
    /// The daemon's engagement service (tests run its tier alert check after moving the clock).
    pub engagement: Arc<qunguan::service::engagement::Engagement>,
    /// The admin listener's base URL (`/metrics`, `/stats/…`), unless a test turned it off.
    pub admin: Option<String>,
    /// The welcome greeter's rounds.
    pub greeter: TaskProbe,
    /// The scheduler's rounds.
    pub scheduler: TaskProbe,
    /// The gate keeper's rounds (`[verify]`).
    pub gate: TaskProbe,
    /// The daemon's store (to inject faults).
    pub store: qunguan::store::Store,
    /// The daemon's ban list (tests refresh its shared lists at once).
    pub bans: Arc<qunguan::service::bans::Bans>,
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
        (options.rules)(&root.path().join("rules"));
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
        // Test events carry whatever dates they were written with (some 1970, most November
        // 2024) while tests move the clock by days; the default 24 h would make them stale. So
        // no event is too old here, and the replay tests set their own limit.
        settings.server.max_event_age = qunguan::domain::duration::HumanDuration::from_secs(30_000 * 86_400);
        settings.storage.seen_ttl = qunguan::domain::duration::HumanDuration::from_secs(30_001 * 86_400);
        (options.tweak)(&mut settings);
        let app = App::build(settings.clone(), Arc::clone(&clock) as SharedClock)
            .await
            .expect("app builds");
        let base = format!("http://{}", app.local_addr());
        let admin = app.admin_addr().map(|a| format!("http://{a}"));
        let rules = app.rules();
        let pipeline = app.pipeline();
        let inactivity = Arc::clone(pipeline.inactivity());
        let engagement = Arc::clone(pipeline.engagement());
        let bans = Arc::clone(pipeline.bans());
        let greeter = TaskProbe {
            name: "welcome greeter",
            bell: pipeline.greeter_wake(),
            passes: pipeline.greeter_passes(),
        };
        let scheduler = TaskProbe {
            name: "scheduler",
            bell: pipeline.scheduler_wake(),
            passes: pipeline.scheduler_passes(),
        };
        let gate = TaskProbe {
            name: "gate keeper",
            bell: pipeline.gate_wake(),
            passes: pipeline.gate_passes(),
        };
        let store = app.store();
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
            engagement,
            admin,
            greeter,
            scheduler,
            gate,
            store,
            bans,
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

    /// Waits (up to `limit`) for the daemon to stop by itself, and returns how it ended; the
    /// store handle is handed back too (a test may have to lift a fault it injected).
    pub async fn finished(
        self,
        limit: Duration,
    ) -> (Result<(), qunguan::runtime::app::AppError>, qunguan::store::Store) {
        let ended = tokio::time::timeout(limit, self.task)
            .await
            .expect("the daemon stopped in time")
            .expect("app task");
        (ended, self.store)
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
            self_id: SELF_ID,
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

    /// The dead letters once there are at least `n` (the worker records them with its next
    /// batch of marks, a moment after the attempt), waiting up to [`PATIENCE`].
    pub async fn wait_dead_letters(&self, n: usize) -> Vec<qunguan::store::DeadLetter> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let dead = self.dead_letters().await;
            if dead.len() >= n || tokio::time::Instant::now() >= deadline {
                return dead;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

    /// Scrapes `/metrics` until every `(series, value)` line is there (bounded); returns the
    /// scrape. A series is `name{labels}` exactly as exposed.
    pub async fn wait_metrics(&self, expected: &[(&str, &str)]) -> String {
        let base = self
            .admin
            .as_deref()
            .expect("waiting on /metrics needs the admin listener");
        wait_metrics_at(&self.http, base, expected).await
    }

    /// Proves that the daemon is done with everything the test did before the call, so that a
    /// "nothing (more) happened" assertion may follow. Waits (bounded by [`PATIENCE`], then
    /// panics naming what did not settle) for:
    ///
    /// 1. a round of the welcome greeter and one of the scheduler that began after the call
    ///    ([`TaskProbe::round`]): a join, a reloaded schedule or a moved clock has been looked
    ///    at, and whatever was due is in the outbox. (Events need no wait: the webhook answers
    ///    only once an event's actions are stored, and the test awaited that answer.)
    /// 2. `qunguan_outbox_depth 0`: everything stored has been delivered or given up. The
    ///    outbox forgets an action only after the gateway answered, and the fakes record a call
    ///    before they answer, so every call the daemon made is in the fakes' records.
    ///
    /// Not for a test that leaves actions waiting on purpose (a retry, the send governor, a
    /// jitter offset): the outbox never empties there; use [`TestApp::outbox_round`].
    pub async fn settle(&self) {
        self.greeter.round().await;
        self.scheduler.round().await;
        self.wait_metrics(&[("qunguan_outbox_depth", "0")]).await;
    }

    /// Proves that the outbox worker has made every delivery due at the clock's current time,
    /// and that each has reached the fakes — while other actions may stay waiting (for a
    /// retry, the send governor or a jitter offset), so the outbox need not be empty. Needs
    /// `[outbox] concurrency = 1` (panics otherwise); sends two messages in [`MARKER_GROUP`],
    /// which the fake keeps apart (faults injected into the fake apply to them too, and the
    /// send governor counts them in that group's own window).
    ///
    /// How: an admin's `/rules` in [`MARKER_GROUP`] (marker 1), then, once its answer arrived,
    /// another (marker 2). The worker delivers one call at a time, taking the groups in the
    /// order they became ready. Whatever was due at the current time was made ready at the
    /// latest when the worker picked marker 1, and so is ahead of marker 2, which is queued
    /// only after marker 1's answer: marker 2's answer cannot arrive before that delivery was
    /// made and answered.
    pub async fn outbox_round(&self) {
        assert_eq!(
            self.settings.outbox.concurrency, 1,
            "outbox_round needs [outbox] concurrency = 1 to order the deliveries"
        );
        self.marker().await;
        self.marker().await;
    }

    /// Posts an admin's `/rules` in [`MARKER_GROUP`] and waits (bounded) for its answer.
    async fn marker(&self) {
        let id = NEXT_MARKER.fetch_add(1, Ordering::Relaxed);
        let mut event = command(id, MARKER_ADMIN, "admin", "/rules");
        event["group_id"] = json!(MARKER_GROUP);
        event["time"] = json!(qunguan::domain::clock::Clock::now(&*self.clock).as_second());
        assert_eq!(self.post_event(&event).await, reqwest::StatusCode::NO_CONTENT);
        let reply_to = id.to_string();
        let answered = self
            .gateway
            .wait_marker(PATIENCE, |c| {
                c.action == "send_group_msg"
                    && c.params.get("__failed").is_none()
                    && c.params["message"][0]["data"]["id"] == reply_to.as_str()
            })
            .await;
        assert!(
            answered,
            "the marker /rules {id} in group {MARKER_GROUP} was not answered within {PATIENCE:?}: {:?}",
            self.gateway.marker_calls()
        );
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

/// A background task of the daemon that works in rounds — looks at the store and the clock,
/// stages what is due, then waits for its bell or the next instant (the welcome greeter, the
/// scheduler) — seen from a test through its bell and its round counter
/// (`qunguan::service::passes`).
#[derive(Clone)]
pub struct TaskProbe {
    name: &'static str,
    bell: Arc<Notify>,
    passes: Arc<Passes>,
}

impl TaskProbe {
    /// Rings the task and waits (bounded by [`PATIENCE`]) until a round that began after the
    /// call has finished: the task has then looked at everything the test did before (a moved
    /// clock, a stored join, a reloaded schedule) and published what it found due. An extra
    /// round is harmless: the tasks' rounds are idempotent, as their bell rings for many
    /// reasons.
    pub async fn round(&self) {
        // Read before ringing: the next round begins after this read, so it sees the set-up.
        let begun = self.passes.started();
        self.bell.notify_one();
        if tokio::time::timeout(PATIENCE, self.passes.until_finished(begun + 1))
            .await
            .is_err()
        {
            panic!(
                "the {} did not finish a round within {PATIENCE:?} (rounds begun {}, finished {})",
                self.name,
                self.passes.started(),
                self.passes.finished()
            );
        }
    }
}

/// Scrapes `{admin}/metrics` until every `(series, value)` line is there (bounded by about
/// [`PATIENCE`], then panics listing what it found); returns the scrape. Counters the outbox
/// bumps after the gateway answered may lag the fake's record of the call, hence the wait.
pub async fn wait_metrics_at(http: &reqwest::Client, admin: &str, expected: &[(&str, &str)]) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = http
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .expect("the admin listener answers");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let text = response.text().await.expect("body");
        if expected
            .iter()
            .all(|(series, value)| sample(&text, series) == Some(*value))
        {
            return text;
        }
        if tokio::time::Instant::now() >= deadline {
            let found: Vec<(&str, Option<&str>)> = expected.iter().map(|(s, _)| (*s, sample(&text, s))).collect();
            panic!("/metrics: expected {expected:?} within {PATIENCE:?}, found {found:?} in\n{text}");
        }
        // Polling is all /metrics offers; each scrape is a fresh read of the daemon's state.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one series (`name{labels}`) in a scrape.
pub fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
}

/// Posts events to one daemon's webhook; clone it into concurrent tasks.
#[derive(Clone)]
pub struct Poster {
    url: String,
    secret: String,
    http: reqwest::Client,
    /// The `X-Self-ID` it sends.
    self_id: i64,
}

impl Poster {
    /// This poster as the gateway of account `self_id`, signing with `secret` (the body's
    /// `self_id` is the caller's to set).
    #[must_use]
    pub fn for_account(mut self, self_id: i64, secret: &str) -> Self {
        self.self_id = self_id;
        self.secret = secret.to_owned();
        self
    }

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
            .header("x-self-id", self.self_id.to_string())
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

/// The recalls in `calls`, by message id, in order.
pub fn recalled(calls: &[Call]) -> Vec<i64> {
    calls
        .iter()
        .filter(|c| c.action == "delete_msg")
        .map(|c| c.params["message_id"].as_i64().expect("id"))
        .collect()
}

/// [`assert_names_in_order`] for OneBot calls.
#[track_caller]
pub fn assert_calls_in_order(calls: &[Call], expected: &[&str]) {
    assert_names_in_order(&actions(calls), expected);
}

/// Asserts that the calls named `got` (OneBot actions or Telegram methods) are the calls
/// `expected` names, in its order up to what early recalls may change (`[outbox]
/// early_recalls`): moderation calls (recall, mute, kick, ban and unban) keep their order
/// among themselves, the bot's messages keep theirs, and a message never goes out before a
/// moderation call `expected` puts ahead of it (a warning never before its recall); a
/// moderation call may overtake an earlier message of the bot.
#[track_caller]
pub fn assert_names_in_order(got: &[&str], expected: &[&str]) {
    let moderation = |a: &str| {
        matches!(
            a,
            "delete_msg"
                | "set_group_ban"
                | "set_group_kick"
                | "deleteMessage"
                | "restrictChatMember"
                | "banChatMember"
                | "unbanChatMember"
        )
    };
    let of_kind = |list: &[&str], m: bool| -> Vec<String> {
        list.iter()
            .filter(|a| moderation(a) == m)
            .map(|a| (*a).to_owned())
            .collect()
    };
    assert_eq!(of_kind(got, true), of_kind(expected, true), "moderation calls: {got:?}");
    assert_eq!(of_kind(got, false), of_kind(expected, false), "messages: {got:?}");
    // For each message, how many moderation calls went before it.
    let before = |list: &[&str]| -> Vec<usize> {
        let mut seen = 0;
        let mut out = Vec::new();
        for a in list {
            if moderation(a) {
                seen += 1;
            } else {
                out.push(seen);
            }
        }
        out
    };
    for (k, (got_n, want_n)) in before(got).iter().zip(before(expected)).enumerate() {
        assert!(
            *got_n >= want_n,
            "message {k} went out before a moderation call meant to precede it: {got:?}"
        );
    }
}

/// Logs go to the test output only when `TEST_LOG` is set.
fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        qunguan::runtime::telemetry::init(qunguan::config::LogFormat::Pretty);
    }
}
