//! `qunguan demo`: a simulated QQ group on the real daemon, driven from a terminal or a script.
//!
//! The demo builds the same [`App`] as `qunguan run` — store (in a temporary folder), rules,
//! pipeline, outbox worker, background tasks — on a [`ManualClock`], with one difference: its
//! [`Gateways`] deliver to the [`DemoClient`], which prints what the bot does instead of calling
//! QQ. Each input line becomes an [`Event`] handed to the pipeline, exactly as the webhook
//! would hand it after parsing; a few lines starting with `/` drive the simulation instead
//! (see [`HELP`]). After every line the demo waits until the outbox has delivered everything,
//! so the bot's reactions print right under the line that caused them.
//!
//! Time moves [`LINE_GAP`] with every line that is something happening in the group (a
//! message, a join, a leave), as if typed a few seconds apart — so ordinary chat is not a
//! flood of messages "in the same second" — and jumps with `/time +1h`; moving it runs what the
//! daemon does as time passes (the inactivity sweep, and anything that sleeps on the clock),
//! then waits for the outbox again. Times are shown in the group's zone, `[stats] timezone`.

use anyhow::Context as _;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio_util::sync::CancellationToken;

use crate::cli::demo_client::DemoClient;
use crate::config::Settings;
use crate::domain::clock::{Clock, ManualClock, SharedClock};
use crate::domain::duration::HumanDuration;
use crate::domain::event::{
    Event, EventKey, EventKind, GroupId, GroupMessage, MemberJoined, MemberLeft, Role, Segment, Sender,
};
use crate::domain::sink::Outcome;
use crate::gateway::Gateways;
use crate::runtime::app::{App, AppError};
use crate::service::pipeline::{Pipeline, PipelineError, WAITING_FOR_WELCOME};
use crate::store::{Store, StoreError};

/// The bot's account in the demo group.
pub const BOT_ID: i64 = 10_000;
/// The demo group.
pub const GROUP: GroupId = GroupId::qq(100_200_300);
/// Who speaks first.
pub const FIRST_SPEAKER: &str = "小明";
/// The admin `/admin` switches to.
pub const ADMIN: &str = "管理员";

/// How far the simulated clock moves with each message, join or leave typed.
pub const LINE_GAP: Duration = Duration::from_secs(3);
/// How long the demo waits for the outbox to deliver after one line.
const PATIENCE: Duration = Duration::from_secs(10);
/// After the outbox is empty, how long it must stay empty before the demo reads the next line:
/// a message's actions are all stored before the pipeline returns, so a short pause suffices;
/// tasks woken by a clock move (scheduled posts, welcome batches) get longer to store theirs.
/// This orders the printout only; nothing the bot decides depends on it.
const SETTLE: Duration = Duration::from_millis(30);
/// [`SETTLE`] after `/time`, and after any line while a welcome batch waits (it may fall due
/// when the line moves the clock).
const SETTLE_AFTER_TIME: Duration = Duration::from_millis(300);

/// The repository's `rules/` folder, built in, for a demo started where there is no `./rules`.
/// A unit test checks that every file of `rules/` is here.
pub const BUILTIN_RULES: &[(&str, &[u8])] = &[
    ("abuse.txt", include_bytes!("../../rules/abuse.txt")),
    ("ads.txt", include_bytes!("../../rules/ads.txt")),
    ("adult.txt", include_bytes!("../../rules/adult.txt")),
    ("allow.txt", include_bytes!("../../rules/allow.txt")),
    ("contact.txt", include_bytes!("../../rules/contact.txt")),
    ("drugs.txt", include_bytes!("../../rules/drugs.txt")),
    ("engagement.txt", include_bytes!("../../rules/engagement.txt")),
    ("english.txt", include_bytes!("../../rules/english.txt")),
    ("exam.txt", include_bytes!("../../rules/exam.txt")),
    ("ghostwriting.txt", include_bytes!("../../rules/ghostwriting.txt")),
    ("group-rules.md", include_bytes!("../../rules/group-rules.md")),
    ("loans.txt", include_bytes!("../../rules/loans.txt")),
    ("model.bin", include_bytes!("../../rules/model.bin")),
    ("money.txt", include_bytes!("../../rules/money.txt")),
    ("official.txt", include_bytes!("../../rules/official.txt")),
    ("pinyin.txt", include_bytes!("../../rules/pinyin.txt")),
    ("profanity.txt", include_bytes!("../../rules/profanity.txt")),
    ("replies.toml", include_bytes!("../../rules/replies.toml")),
    ("requests.txt", include_bytes!("../../rules/requests.txt")),
    ("roles.txt", include_bytes!("../../rules/roles.txt")),
    ("rules.toml", include_bytes!("../../rules/rules.toml")),
    ("scams.txt", include_bytes!("../../rules/scams.txt")),
    ("variants.toml", include_bytes!("../../rules/variants.toml")),
    ("verify.toml", include_bytes!("../../rules/verify.toml")),
    ("vpn.txt", include_bytes!("../../rules/vpn.txt")),
];

/// What the demo prints on start and for `/help`.
pub const HELP: &str = "\
每一行是当前成员在群里发的一条消息。以 / 开头的这几行用来操控演示：
  /join 名字     新成员入群（看看欢迎语），之后以他的身份发言
  /as 名字       换成某个成员发言（没见过的名字当作老成员）
  /admin         换成群管理员发言，可以用管理命令：
                 /warn @名字 原因、/mute @名字 10m、/kick @名字、/strikes @名字、
                 /pardon @名字、/why 1、/潜水 7d、/rules …
                 人人可用：/签到、/积分、/排行、/规则
  /leave         当前成员退群
  /time +1h      时间前进（10m、1h、7d …）。另外每发一条消息、每次入群退群，时间走 3 秒。
                 跳过的时间里该发的（定时消息、欢迎语、潜水提醒）在跳到的时刻发出，
                 定时消息只补最近一次
  /help          再看一遍这段说明
输入结束（Ctrl-D）或 Ctrl-C 退出。";

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The temporary folder could not be made or written.
    #[error("cannot prepare the demo's temporary folder: {0}")]
    Temp(std::io::Error),
    /// The daemon could not be built (bad rules, …).
    #[error(transparent)]
    App(#[from] AppError),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to run a demo.
pub struct DemoOptions {
    /// The configuration; storage, listener and gateways are replaced by the demo's.
    pub settings: Settings,
    /// The rules folder; `None` = the built-in [`BUILTIN_RULES`].
    pub rules: Option<PathBuf>,
    /// Where the simulated clock starts.
    pub start: Timestamp,
    /// Times are shown in this zone (the group's, `[stats] timezone`).
    pub zone: TimeZone,
    /// A terminal: show a prompt and do not echo input lines.
    pub interactive: bool,
}

/// Runs the demo over `input` until it ends, printing to `out`.
pub async fn run(
    options: DemoOptions,
    input: Box<dyn BufRead + Send>,
    out: Box<dyn Write + Send>,
) -> Result<(), DemoError> {
    let temp = tempfile::Builder::new()
        .prefix("qunguan-demo-")
        .tempdir()
        .map_err(DemoError::Temp)?;
    let DemoOptions {
        mut settings,
        rules,
        start,
        zone,
        interactive,
    } = options;
    let rules_note = match rules {
        Some(dir) => {
            let note = format!("规则目录 {}", dir.display());
            settings.rules.dir = dir;
            note
        }
        None => {
            let dir = temp.path().join("rules");
            write_builtin_rules(&dir).map_err(DemoError::Temp)?;
            settings.rules.dir = dir;
            "内置默认规则（当前目录没有 rules/）".to_owned()
        }
    };
    settings.storage.path = temp.path().join("data");
    settings.server.listen = ([127, 0, 0, 1], 0).into();
    // No admin listener: a demo must not take (or clash over) the daemon's port 9090.
    settings.server.admin_listen = None;
    settings.rules.watch = false;
    settings.gateway.onebot.enabled = true;
    settings.gateway.telegram.enabled = false;
    // The demo's clock stands still between lines; a per-minute send limit would hold the
    // bot's answers back until someone types /time.
    settings.outbox.sends_per_minute_per_group = u32::MAX;
    settings.outbox.sends_per_second_total = u32::MAX;
    // `/time` jumps where a running daemon's clock glides: what falls due inside a jump is
    // done at its end, as a daemon back from a long pause would, but never dropped as too
    // late — no age limit on the bot's messages, scheduled posts caught up however late (the
    // latest occurrence, once), and no spreading of posts over groups (there is one).
    settings.outbox.max_age.send = HumanDuration::from_secs(0);
    settings.schedule.catch_up = HumanDuration::from_secs(366 * 86_400);
    settings.schedule.jitter = HumanDuration::from_secs(0);

    let welcome_window = if settings.welcome.enabled {
        settings.welcome.batch_window.as_secs()
    } else {
        0
    };
    let clock = ManualClock::new(start);
    let client = DemoClient::new(out, Arc::clone(&clock) as SharedClock, settings.messages.locale);
    let app = App::build_with_gateways(
        settings,
        Arc::clone(&clock) as SharedClock,
        Gateways::demo(Arc::clone(&client) as Arc<dyn crate::gateway::DirectClient>),
    )
    .await?;
    let mut demo = Demo {
        pipeline: app.pipeline(),
        store: app.store(),
        client,
        clock,
        zone,
        members: HashMap::new(),
        welcome_window: 0,
        speaker: String::new(),
        next_user: 10_001,
        events: 0,
        interactive,
    };
    demo.welcome_window = welcome_window;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));

    demo.client.print(&format!(
        "qunguan 演示：一个模拟的 QQ 群，跑的是真实的过滤、警告阶梯和发件箱。{rules_note}。"
    ));
    demo.client.print(&format!("现在是 {}。", demo.now_text()));
    demo.client.print(HELP);
    demo.member(ADMIN, Role::Admin);
    demo.switch(FIRST_SPEAKER);

    let lines = read_lines(input);
    let result = demo.drive(lines).await;
    demo.settle(SETTLE_AFTER_TIME).await;
    demo.client.print("演示结束。");
    shutdown.cancel();
    match running.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => tracing::error!(error = %e, "the demo daemon task failed"),
    }
    drop(temp);
    result
}

/// Writes [`BUILTIN_RULES`] into `dir`.
pub fn write_builtin_rules(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in BUILTIN_RULES {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// Reads `input` line by line on a thread of its own (a terminal read blocks).
fn read_lines(input: Box<dyn BufRead + Send>) -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        for line in input.lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

struct Demo {
    pipeline: Arc<Pipeline>,
    store: Store,
    client: Arc<DemoClient>,
    clock: Arc<ManualClock>,
    zone: TimeZone,
    /// Name → (user id, role).
    members: HashMap<String, (i64, Role)>,
    /// How long joins are collected before one welcome greets them (seconds; 0 = at once).
    welcome_window: u64,
    speaker: String,
    next_user: i64,
    events: u64,
    interactive: bool,
}

impl Demo {
    async fn drive(&mut self, mut lines: tokio::sync::mpsc::Receiver<String>) -> Result<(), DemoError> {
        loop {
            if self.interactive {
                self.client.prompt(&format!("{}> ", self.speaker));
            }
            // Ctrl-C ends the demo like the end of input: drained, cleaned up, exit 0.
            let line = tokio::select! {
                line = lines.recv() => line,
                _ = tokio::signal::ctrl_c() => None,
            };
            let Some(line) = line else {
                return Ok(());
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            // A welcome batch may fall due on any line now that every line moves the clock:
            // give the greeter the longer pause too while one waits.
            let batch_waiting = !self.store.pending_welcomes()?.is_empty();
            self.line(line).await?;
            let quiet = if line.starts_with("/time") || batch_waiting {
                SETTLE_AFTER_TIME
            } else {
                SETTLE
            };
            self.settle(quiet).await;
        }
    }

    async fn line(&mut self, line: &str) -> Result<(), DemoError> {
        let (word, arg) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(w, a)| (w, a.trim()));
        match word {
            "/help" => self.client.print(HELP),
            "/join" if valid_name(arg) => {
                let user = self.member(arg, Role::Member);
                self.client.roster().add(user, arg);
                self.client.print(&format!("→ {arg} 加入了本群"));
                self.switch(arg);
                self.clock.advance(LINE_GAP);
                let joined = MemberJoined {
                    group: GROUP,
                    user_id: user,
                    name: Some(arg.to_owned()),
                    time: self.clock.now().as_second(),
                };
                let outcome = self.event(EventKind::MemberJoined(joined)).await?;
                if outcome == Outcome::Ignored(WAITING_FOR_WELCOME) {
                    let window =
                        crate::policy::i18n::duration(crate::domain::locale::Locale::ZhCn, self.welcome_window);
                    self.client.print(&format!(
                        "（{window}内刚欢迎过新人：这段时间里入群的人会一起欢迎，在那次欢迎 {window}后发出；/time +{}s 就能看到）",
                        self.welcome_window
                    ));
                }
            }
            "/as" if valid_name(arg) => self.switch(arg),
            "/admin" => self.switch(ADMIN),
            "/leave" => {
                let (user, _) = self.members[&self.speaker];
                if self.client.roster().removed(user).is_some() {
                    self.client.print(&format!("（{} 已经不在群里）", self.speaker));
                    return Ok(());
                }
                self.client.roster().leave(user);
                self.client.print(&format!("← {} 退出了本群", self.speaker));
                self.clock.advance(LINE_GAP);
                let left = MemberLeft {
                    group: GROUP,
                    user_id: user,
                    kicked: false,
                    time: self.clock.now().as_second(),
                };
                self.event(EventKind::MemberLeft(left)).await?;
            }
            "/time" => match arg.trim_start_matches('+').parse::<HumanDuration>() {
                Ok(by) if by.as_secs() > 0 => self.pass(by).await?,
                _ => self.client.print("（用法：/time +1h，时长如 30s、10m、1h、7d）"),
            },
            "/join" | "/as" => self.client.print("（用法：/join 名字 或 /as 名字，名字里不能有空格）"),
            _ => self.say(line).await?,
        }
        Ok(())
    }

    /// The member called `name`, added with `role` if new.
    fn member(&mut self, name: &str, role: Role) -> i64 {
        if let Some(&(user, _)) = self.members.get(name) {
            return user;
        }
        let user = self.next_user;
        self.next_user += 1;
        self.members.insert(name.to_owned(), (user, role));
        self.client.roster().add(user, name);
        user
    }

    fn switch(&mut self, name: &str) {
        self.member(name, Role::Member);
        self.speaker = name.to_owned();
        let (_, role) = self.members[name];
        let who = if role.is_moderator() { "（群管理员）" } else { "" };
        self.client.print(&format!("（现在以 {name}{who} 的身份发言）"));
    }

    fn now_text(&self) -> String {
        self.time_text(self.clock.now())
    }

    fn time_text(&self, at: jiff::Timestamp) -> String {
        at.to_zoned(self.zone.clone()).strftime("%Y-%m-%d %H:%M").to_string()
    }

    /// Moves the clock on by `by`, said before it moves: what falls due in the skipped time
    /// (a scheduled post, a welcome) is delivered by tasks of their own, and is printed after
    /// the line that says the time passed.
    async fn pass(&mut self, by: HumanDuration) -> Result<(), DemoError> {
        let then = jiff::SignedDuration::try_from(by.get())
            .ok()
            .and_then(|d| self.clock.now().checked_add(d).ok());
        let label = crate::policy::i18n::duration(crate::domain::locale::Locale::ZhCn, by.as_secs());
        match then {
            Some(then) => self
                .client
                .print(&format!("⏰ 过了 {label}，现在是 {}", self.time_text(then))),
            None => self.client.print(&format!("⏰ 过了 {label}")),
        }
        self.clock.advance(by.get());
        self.pipeline.inactivity().sweep().await?;
        Ok(())
    }

    async fn say(&mut self, text: &str) -> Result<(), DemoError> {
        let (user, role) = self.members[&self.speaker];
        self.clock.advance(LINE_GAP);
        let now_ms = self.clock.now().as_millisecond();
        let name = self.speaker.clone();
        {
            let roster = self.client.roster();
            if roster.removed(user).is_some() {
                drop(roster);
                self.client.print(&format!(
                    "（{name} 已经不在群里，这条发不出去：{text}；/join {name} 可以重新入群）"
                ));
                return Ok(());
            }
            if let Some(until) = roster.muted_until(user, now_ms) {
                drop(roster);
                let left = u64::try_from((until - now_ms + 999) / 1000).unwrap_or(0);
                let left = crate::policy::i18n::duration(crate::domain::locale::Locale::ZhCn, left);
                self.client
                    .print(&format!("（{name} 正在禁言中，还剩 {left}，这条发不出去：{text}）"));
                return Ok(());
            }
        }
        if !self.interactive {
            self.client.print(&format!("{name}：{text}"));
        }
        let segments = self.segments(text);
        let message_id = self.client.roster().message(Some(user), text);
        let msg = GroupMessage {
            group: GROUP,
            message_id,
            sender: Sender {
                user_id: user,
                name,
                role,
            },
            text: crate::gateway::onebot::message::plain_text(&segments),
            segments,
            time: self.clock.now().as_second(),
            edited: false,
        };
        self.event(EventKind::GroupMessage(msg)).await.map(drop)
    }

    /// The message's segments: `@name` of a known member is a real mention, as QQ sends it.
    fn segments(&self, text: &str) -> Vec<Segment> {
        let mut segments = Vec::new();
        let mut plain = String::new();
        for (i, token) in text.split(' ').enumerate() {
            let mention = token.strip_prefix('@').and_then(|name| self.members.get(name));
            if i > 0 {
                plain.push(' ');
            }
            match mention {
                Some(&(user, _)) => {
                    if !plain.is_empty() {
                        segments.push(Segment::Text {
                            text: std::mem::take(&mut plain),
                        });
                    }
                    segments.push(Segment::Mention { user_id: Some(user) });
                }
                None => plain.push_str(token),
            }
        }
        if !plain.is_empty() {
            segments.push(Segment::Text { text: plain });
        }
        segments
    }

    async fn event(&mut self, kind: EventKind) -> Result<Outcome, DemoError> {
        self.events += 1;
        let event = Event {
            key: EventKey::derive(&format!("demo/{}", self.events)),
            self_id: BOT_ID,
            kind,
        };
        Ok(self.pipeline.handle(&event).await?)
    }

    /// Waits until the outbox has delivered everything and stayed empty for `quiet`
    /// (bounded by [`PATIENCE`]).
    async fn settle(&self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if self.store.outbox().is_empty() {
                tokio::time::sleep(quiet).await;
                if self.store.outbox().is_empty() {
                    return;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if tokio::time::Instant::now() >= deadline {
                self.client.print("（还有动作没有送达，继续）");
                return;
            }
        }
    }
}

/// A member name: not empty, no whitespace, not a mention.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace) && !name.starts_with('@')
}

/// `qunguan demo`: the options from the command line, stdin and stdout.
pub(crate) fn command(
    config: Option<PathBuf>,
    rules: Option<PathBuf>,
    start: Option<jiff::Timestamp>,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let settings = Settings::load(config.as_deref())?;
    // Logs would drown the conversation; RUST_LOG asks for them (on stderr).
    if std::env::var_os("RUST_LOG").is_some() {
        crate::runtime::telemetry::init(settings.log.format);
    }
    let rules = match (rules, &config) {
        (Some(dir), _) => Some(dir),
        (None, Some(_)) => Some(settings.rules.dir.clone()),
        (None, None) => Path::new("rules").is_dir().then(|| PathBuf::from("rules")),
    };
    // The group's zone, not the server's (validated when the settings were loaded).
    let zone = jiff::tz::TimeZone::get(&settings.stats.timezone)
        .with_context(|| format!("stats.timezone {:?}", settings.stats.timezone))?;
    let options = crate::cli::demo::DemoOptions {
        settings,
        rules,
        start: start.unwrap_or_else(jiff::Timestamp::now),
        zone,
        interactive: std::io::stdin().is_terminal(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let input = Box::new(std::io::BufReader::new(std::io::stdin()));
    runtime.block_on(crate::cli::demo::run(options, input, Box::new(std::io::stdout())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_rules_folder_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("rules/") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            if name != "README.md" && !BUILTIN_RULES.iter().any(|(n, _)| *n == name) {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "rules/{missing:?} not in demo::BUILTIN_RULES; add an include_str! line for each"
        );
    }

    #[test]
    fn the_built_in_rules_load() {
        let temp = tempfile::tempdir().expect("tempdir");
        write_builtin_rules(temp.path()).expect("write");
        let rules = crate::config::rules::Rules::load(temp.path()).expect("the built-in rules are valid");
        assert!(rules.filter.check("加我微信", GROUP).is_some());
        assert!(!rules.group_rules.is_empty());
        assert_eq!(rules.verify.len(), 2, "the shipped gate questions");
    }
}
