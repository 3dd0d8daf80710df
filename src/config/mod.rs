//! Configuration: a TOML file plus `QUNGUAN__SECTION__KEY` environment overrides.
//!
//! Layering, last wins: built-in defaults → the file given with `--config` (optional) →
//! environment variables. Every section denies unknown keys, so a typo in the file or in a
//! variable name stops the daemon with the key's name instead of being silently ignored.
//! After deserialising, [`Settings::validate`] checks what serde cannot (URLs, paths, a
//! non-empty ladder, unsigned webhooks on a public address) and reports every problem with
//! its dotted key.
//!
//! `config.example.toml` at the repository root documents every key with its default; keep
//! the two in step.

mod policies;
pub mod rules;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::domain::duration::HumanDuration;
pub use crate::domain::event::UserRef;
pub use crate::policy::flood::FloodSettings;
use crate::policy::ladder::Rung;

use crate::domain::action::{ActionKind, MAX_MUTE_SECS, TELEGRAM_MAX_MUTE_SECS};
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;

/// Environment variable prefix: `QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN` sets
/// `gateway.onebot.access_token`.
pub const ENV_PREFIX: &str = "QUNGUAN";

/// Keys whose environment value is a comma-separated list, by their last segment
/// (`moderation.ladder`, `groups.<id>.ladder`, `groups.<id>.exempt`, `admin.super_users`,
/// `join_requests.answers`, `inactivity.remind_after`).
const ENV_LIST_KEYS: &[&str] = &["ladder", "exempt", "super_users", "answers", "remind_after"];

/// The whole configuration of one daemon.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The public webhook listener.
    pub server: ServerSettings,
    /// Where the sled database lives.
    pub storage: StorageSettings,
    /// The rules folder.
    pub rules: RulesSettings,
    /// Chat gateways (one section per protocol).
    pub gateway: GatewaySettings,
    /// The strike ladder.
    pub moderation: ModerationSettings,
    /// Greeting new members.
    pub welcome: WelcomeSettings,
    /// Scheduled posts (`rules/schedule.toml`, `/schedule`).
    pub schedule: ScheduleSettings,
    /// Answering join requests (入群申请).
    pub join_requests: JoinRequestSettings,
    /// Logging.
    pub log: LogSettings,
    /// Language of the texts the bot posts in groups.
    pub messages: MessagesSettings,
    /// Who may run admin commands besides each group's owner and admins.
    pub admin: AdminSettings,
    /// Delivery of actions: concurrency, the send governor, age limits.
    pub outbox: OutboxSettings,
    /// Inactivity (潜水) tracking, reminders and optional removal.
    pub inactivity: InactivitySettings,
    /// Group health statistics.
    pub stats: StatsSettings,
    /// The operators' console and its JSON API on the admin listener.
    pub console: ConsoleSettings,
    /// Per-group overrides of `[moderation]`, keyed by group (`"qq:726300112"`,
    /// `"tg:-1001234567890"`, or a bare QQ group number).
    pub groups: BTreeMap<String, GroupSettings>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the webhook listener. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Largest accepted webhook body in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Allow unsigned webhooks on a non-loopback address. Off by default: anyone who can reach
    /// the port could otherwise forge events.
    pub allow_unsigned: bool,
    /// Upper bound on one webhook request, body included; slower requests get 408.
    pub request_timeout: HumanDuration,
    /// How long a graceful shutdown waits for in-flight work before giving up.
    pub shutdown_grace: HumanDuration,
    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`, `/stats/<group>`,
    /// the console and its API); `""` turns it off. Loopback by default. Any other address
    /// needs `[console] password_hash` or `api_token` (see [`Settings::validate`]).
    #[serde(deserialize_with = "optional_addr")]
    pub admin_listen: Option<SocketAddr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            allow_unsigned: false,
            request_timeout: HumanDuration::from_secs(30),
            shutdown_grace: HumanDuration::from_secs(20),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Directory of the sled database (created if missing).
    pub path: PathBuf,
    /// sled page cache in MiB. sled's own default (1 GiB) is far too much for this workload.
    pub cache_mib: u64,
    /// How long a processed event's key is remembered, so a redelivery within this time changes
    /// nothing. Gateways redeliver within seconds to minutes; the default leaves a wide margin.
    pub seen_ttl: HumanDuration,
    /// How long audit cases and dead letters are kept; `0s` keeps them forever.
    pub audit_retention: HumanDuration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            cache_mib: 32,
            seen_ttl: HumanDuration::from_secs(2 * 86_400),
            audit_retention: HumanDuration::from_secs(180 * 86_400),
        }
    }
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesSettings {
    /// The rules folder: word lists `*.txt`, `group-rules.md`, …
    pub dir: PathBuf,
    /// Reload the rules when a file in the folder changes (SIGHUP and `/reload` always work).
    pub watch: bool,
}

impl Default for RulesSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./rules"),
            watch: true,
        }
    }
}

/// `[gateway]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// `[gateway.onebot]`: QQ through NapCat, LLOneBot, Lagrange.OneBot or go-cqhttp.
    pub onebot: OneBotSettings,
    /// `[gateway.telegram]`: Telegram through the Bot API.
    pub telegram: TelegramSettings,
}

/// `[gateway.onebot]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneBotSettings {
    /// Serve the OneBot v11 webhook and send actions to its HTTP API.
    pub enabled: bool,
    /// Path of the HTTP-POST webhook on the listener.
    pub webhook_path: String,
    /// Root URL of the gateway's HTTP API; actions go to `{api_root}/{action}`.
    pub api_root: String,
    /// Sent as `Authorization: Bearer <token>` on every API call.
    pub access_token: Secret,
    /// HMAC-SHA1 key of the `X-Signature` header; when set, unsigned or wrongly signed
    /// events are refused with 401.
    pub secret: Secret,
    /// Deadline of one API call.
    pub timeout: HumanDuration,
}

impl Default for OneBotSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            webhook_path: "/onebot/v11".into(),
            api_root: "http://127.0.0.1:3000".into(),
            access_token: Secret::default(),
            secret: Secret::default(),
            timeout: HumanDuration::from_secs(10),
        }
    }
}

/// `[gateway.telegram]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramSettings {
    /// Receive updates from the Bot API and send actions to it.
    pub enabled: bool,
    /// The bot's token from @BotFather (`<bot id>:<secret>`). It is part of every API URL, so
    /// it never appears in logs or errors.
    pub token: Secret,
    /// Root URL of the Bot API; calls go to `{api_root}/bot<token>/<method>`. A self-hosted
    /// Bot API server (tdlib/telegram-bot-api) works too.
    pub api_root: String,
    /// How updates arrive: `polling` (no public URL needed) or `webhook`.
    pub mode: TelegramMode,
    /// Path of the webhook on the listener (webhook mode).
    pub webhook_path: String,
    /// The public HTTPS URL registered with `setWebhook`, which must reach `webhook_path`
    /// (webhook mode), usually through a reverse proxy.
    pub webhook_url: String,
    /// Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token` with every webhook delivery;
    /// deliveries without it are refused with 401. 1–256 characters of `A-Z a-z 0-9 _ -`.
    pub secret_token: Secret,
    /// Deadline of one API call (long polls get `poll_timeout` on top).
    pub timeout: HumanDuration,
    /// How long one `getUpdates` long poll waits for updates (polling mode).
    pub poll_timeout: HumanDuration,
    /// How long a chat's administrator list is trusted before it is fetched again.
    /// `chat_member` updates keep it current in between.
    pub admin_cache_ttl: HumanDuration,
    /// Discard the updates that queued up while qunguan was not running, at start.
    pub drop_pending_updates: bool,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            token: Secret::default(),
            api_root: "https://api.telegram.org".into(),
            mode: TelegramMode::Polling,
            webhook_path: "/telegram/webhook".into(),
            webhook_url: String::new(),
            secret_token: Secret::default(),
            timeout: HumanDuration::from_secs(10),
            poll_timeout: HumanDuration::from_secs(30),
            admin_cache_ttl: HumanDuration::from_secs(600),
            drop_pending_updates: false,
        }
    }
}

impl TelegramSettings {
    /// The bot's user id: the digits before the `:` of the token. `None` for a token that
    /// does not have that shape (validation refuses those).
    #[must_use]
    pub fn bot_id(&self) -> Option<i64> {
        let (id, _) = self.token.expose().split_once(':')?;
        id.parse().ok().filter(|id: &i64| *id > 0)
    }
}

/// How Telegram updates reach qunguan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// `getUpdates` long polling: qunguan asks, no public URL needed.
    #[default]
    Polling,
    /// Telegram POSTs every update to `webhook_url`.
    Webhook,
}

impl fmt::Display for TelegramMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Polling => "polling",
            Self::Webhook => "webhook",
        })
    }
}

/// `[moderation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationSettings {
    /// What the 1st, 2nd, 3rd … strike does. The last rung repeats for further strikes.
    pub ladder: Vec<Rung>,
    /// A strike counts for this long after it was given (a sliding window).
    pub strike_ttl: HumanDuration,
    /// Decide, log and audit, but send nothing (observe-only, for tuning the rules).
    pub dry_run: bool,
    /// Anti-flood limits (rule `flood`).
    pub flood: FloodSettings,
}

impl Default for ModerationSettings {
    fn default() -> Self {
        Self {
            ladder: vec![Rung::Warn, Rung::Mute(HumanDuration::from_secs(600)), Rung::Kick],
            strike_ttl: HumanDuration::from_secs(30 * 86_400),
            dry_run: false,
            flood: FloodSettings::default(),
        }
    }
}

/// `[groups.<id>.flood]`: a group's changes to `[moderation.flood]`; unset keys inherit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodOverride {
    /// See [`FloodSettings::messages`].
    pub messages: Option<u32>,
    /// See [`FloodSettings::window`].
    pub window: Option<HumanDuration>,
    /// See [`FloodSettings::repeats`].
    pub repeats: Option<u32>,
    /// See [`FloodSettings::repeat_window`].
    pub repeat_window: Option<HumanDuration>,
}

impl FloodOverride {
    /// `base` with this override's keys applied.
    #[must_use]
    pub fn apply(&self, base: FloodSettings) -> FloodSettings {
        FloodSettings {
            messages: self.messages.unwrap_or(base.messages),
            window: self.window.unwrap_or(base.window),
            repeats: self.repeats.unwrap_or(base.repeats),
            repeat_window: self.repeat_window.unwrap_or(base.repeat_window),
        }
    }
}

/// `[groups.<id>]`: one group's changes to `[moderation]`; unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSettings {
    /// The group's own ladder.
    pub ladder: Option<Vec<Rung>>,
    /// The group's own strike window.
    pub strike_ttl: Option<HumanDuration>,
    /// Members the bot never punishes in this group (user ids), besides owners and admins.
    pub exempt: Vec<i64>,
    /// Observe-only in this group (or, with `false`, live although `[moderation] dry_run` is on).
    pub dry_run: Option<bool>,
    /// The group's own flood limits.
    pub flood: FloodOverride,
    /// The group's own welcome.
    pub welcome: WelcomeOverride,
    /// The group's own join-request screening.
    pub join_requests: JoinRequestOverride,
}

/// `[groups.<id>.welcome]`: a group's changes to `[welcome]`; unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WelcomeOverride {
    /// See [`WelcomeSettings::enabled`].
    pub enabled: Option<bool>,
    /// See [`WelcomeSettings::template`].
    pub template: Option<String>,
}

/// `[groups.<id>.join_requests]`: a group's changes to `[join_requests]`; unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinRequestOverride {
    /// See [`JoinRequestSettings::answers`].
    pub answers: Option<Vec<String>>,
    /// See [`JoinRequestSettings::reject_blocked`].
    pub reject_blocked: Option<bool>,
    /// See [`JoinRequestSettings::reject_reason`].
    pub reject_reason: Option<String>,
}

/// `[admin]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Users who may run admin commands in every group, and whom the bot never punishes:
    /// `10001` (QQ), `"qq:10001"` or `"tg:123456789"`.
    pub super_users: Vec<UserRef>,
}

/// `[outbox]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// Gateway calls in flight at once, each for a different group (a group's own calls are
    /// made one at a time, in order). Generous on purpose: a gateway that holds calls until
    /// they time out would otherwise tie up every slot and stall the healthy groups too.
    pub concurrency: usize,
    /// The bot's own messages per minute in one group; 0 = the platform's default (QQ and
    /// Telegram: 20). Moderation actions (recall, mute, kick) are not paced.
    pub sends_per_minute_per_group: u32,
    /// The bot's own messages per second over all groups of one bot account; 0 = the
    /// platform's default (QQ: 5, Telegram: 30).
    pub sends_per_second_total: u32,
    /// Undelivered actions older than this are dropped to the dead letters, per kind.
    pub max_age: MaxAgeSettings,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            sends_per_minute_per_group: 0,
            sends_per_second_total: 0,
            max_age: MaxAgeSettings::default(),
        }
    }
}

/// `[outbox.max_age]`: how late each kind of action may still be delivered; `0s` = no limit.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxAgeSettings {
    /// The bot's messages (warnings, welcomes, replies): pointless when late.
    pub send: HumanDuration,
    /// Recalls.
    pub recall: HumanDuration,
    /// Mutes.
    pub mute: HumanDuration,
    /// Unmutes.
    pub unmute: HumanDuration,
    /// Kicks and bans.
    pub kick: HumanDuration,
    /// Answers to join requests.
    pub answer_join_request: HumanDuration,
}

impl Default for MaxAgeSettings {
    fn default() -> Self {
        Self {
            send: HumanDuration::from_secs(600),
            recall: HumanDuration::from_secs(0),
            mute: HumanDuration::from_secs(0),
            unmute: HumanDuration::from_secs(0),
            kick: HumanDuration::from_secs(0),
            answer_join_request: HumanDuration::from_secs(0),
        }
    }
}

impl MaxAgeSettings {
    /// The age limit of `kind`, if it has one.
    #[must_use]
    pub fn of(&self, kind: ActionKind) -> Option<std::time::Duration> {
        let limit = match kind {
            ActionKind::Send => self.send,
            ActionKind::Recall => self.recall,
            ActionKind::Mute => self.mute,
            ActionKind::Unmute => self.unmute,
            ActionKind::Kick => self.kick,
            ActionKind::AnswerJoinRequest => self.answer_join_request,
        };
        (limit.as_secs() > 0).then(|| limit.get())
    }
}

/// `[welcome]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WelcomeSettings {
    /// Greet members who join.
    pub enabled: bool,
    /// Template of the greeting: `{at}` mentions the members greeted, `{name}` is their
    /// names, `{count}` how many they are, `{group}` the group and `{rules}` the group rules
    /// text. Empty = the built-in text of `[messages] locale`.
    pub template: String,
    /// Members who join within this time after the first of a batch are greeted together, in
    /// one message, when it ends. `0s` greets every member at once, alone.
    pub batch_window: HumanDuration,
    /// A member who joined the same group less than this long before is not greeted again.
    /// `0s` greets every join.
    pub rejoin_window: HumanDuration,
    /// Delete the group's previous welcome when a new one is posted, so only the newest
    /// stays in the chat.
    pub delete_previous: bool,
}

impl Default for WelcomeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            template: String::new(),
            batch_window: HumanDuration::from_secs(10),
            rejoin_window: HumanDuration::from_secs(7 * 86_400),
            delete_previous: false,
        }
    }
}

/// `[schedule]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// The IANA time zone of posts that name none (and of every `/schedule add`).
    pub timezone: String,
    /// The groups of one post are spread over this window after the post's time, each group
    /// always at the same offset, so many groups do not post in the same second. `0s` posts
    /// to every group at once.
    pub jitter: HumanDuration,
    /// How late a missed post (the daemon was down) may still be sent, for posts that do not
    /// set their own `catch_up`.
    pub catch_up: HumanDuration,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            timezone: crate::policy::calendar::DEFAULT_TIMEZONE.to_owned(),
            jitter: HumanDuration::from_secs(30),
            catch_up: HumanDuration::from_secs(600),
        }
    }
}

/// `[join_requests]`: how requests to join a group (QQ 入群申请, Telegram join requests) are
/// answered. A request is rejected when its text is flagged by the filter, approved when it
/// contains one of the answers, and otherwise left to the group's admins.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinRequestSettings {
    /// Approve a request whose text (the answer to the group's question on QQ, the bio on
    /// Telegram) contains one of these. Empty = approve nothing automatically.
    pub answers: Vec<String>,
    /// Reject a request whose text the filter flags (what would be a violation in a message).
    pub reject_blocked: bool,
    /// The reason a rejected applicant is shown (QQ only; Telegram shows none). Empty = the
    /// built-in text of `[messages] locale`.
    pub reject_reason: String,
}

impl Default for JoinRequestSettings {
    fn default() -> Self {
        Self {
            answers: Vec::new(),
            reject_blocked: true,
            reject_reason: String::new(),
        }
    }
}

/// `[inactivity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InactivitySettings {
    /// Record when each member last spoke (or joined); `/inactive` needs it.
    pub enabled: bool,
    /// Post a reminder mentioning members silent this long, once per step and silence,
    /// e.g. `["7d", "15d", "30d"]`. Empty (the default) = no reminders.
    pub remind_after: Vec<HumanDuration>,
    /// Remove members silent this long, through the outbox, audited. `0s` (the default) =
    /// never.
    pub remove_after: HumanDuration,
    /// How many members one `/inactive` answer lists at most.
    pub list_limit: usize,
    /// How often the sweep that sends reminders and removals runs.
    pub check_every: HumanDuration,
}

impl Default for InactivitySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            remind_after: Vec::new(),
            remove_after: HumanDuration::from_secs(0),
            list_limit: 30,
            check_every: HumanDuration::from_secs(3_600),
        }
    }
}

impl InactivitySettings {
    /// The removal threshold, if removal is on.
    #[must_use]
    pub fn remove_after(&self) -> Option<std::time::Duration> {
        (self.enabled && self.remove_after.as_secs() > 0).then(|| self.remove_after.get())
    }
}

/// `[log]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors. The level comes from `RUST_LOG`.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[stats]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsSettings {
    /// IANA time zone whose midnight starts a statistics day.
    pub timezone: String,
    /// How often the in-memory counters are written to the database; a crash loses at most
    /// this much of the statistics (never moderation state).
    pub flush_every: HumanDuration,
    /// How long a day's statistics are kept; `0s` keeps them forever.
    pub retention: HumanDuration,
}

impl Default for StatsSettings {
    fn default() -> Self {
        Self {
            timezone: "Asia/Shanghai".into(),
            flush_every: HumanDuration::from_secs(60),
            retention: HumanDuration::from_secs(400 * 86_400),
        }
    }
}

/// `[console]`: the operators' web console (`/console/`) and JSON API (`/api/v1/`) on the
/// admin listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The argon2id hash of the console password, as `qunguan console password` prints it
    /// (`$argon2id$v=19$…`). Empty: the console pages are off.
    pub password_hash: Secret,
    /// The bearer token scripts send to `/api/v1/` (`Authorization: Bearer …`). Empty: the
    /// API takes only a console session.
    pub api_token: Secret,
    /// Mark the session cookie `Secure` (browsers then send it only over HTTPS): set it when
    /// a TLS proxy fronts the admin listener.
    pub secure_cookie: bool,
    /// How long a login lasts.
    pub session_ttl: HumanDuration,
    /// Failed logins one client address may make within `login_window` before further
    /// attempts are refused with 429 until the window has passed.
    pub login_failures: u32,
    /// The window of `login_failures`.
    pub login_window: HumanDuration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            password_hash: Secret::default(),
            api_token: Secret::default(),
            secure_cookie: false,
            session_ttl: HumanDuration::from_secs(12 * 3_600),
            login_failures: 5,
            login_window: HumanDuration::from_secs(15 * 60),
        }
    }
}

impl ConsoleSettings {
    /// True when something on the admin listener can authenticate a request: a console
    /// password or an API token.
    #[must_use]
    pub fn has_auth(&self) -> bool {
        !self.password_hash.is_empty() || !self.api_token.is_empty()
    }
}

/// The shortest API token accepted: a short token can be guessed over the network.
pub const MIN_API_TOKEN_CHARS: usize = 16;

/// `"127.0.0.1:9090"`, or `""` for none.
fn optional_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not an address like 127.0.0.1:9090 ({e})")))
}

/// `[messages]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesSettings {
    /// `zh-CN` (default) or `en`.
    pub locale: Locale,
}

/// A secret string (token, HMAC key). Its `Debug` never shows the value, so a settings dump
/// in a log cannot leak it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call sites are the few places that must send or check it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(unset)"
        } else {
            "Secret(***)"
        })
    }
}

/// A configuration problem, with the dotted key (or file) it concerns and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigIssue {
    /// Dotted key such as `gateway.onebot.api_root`, or the config file for syntax errors.
    pub key: String,
    /// What is wrong and, where possible, what to write instead.
    pub reason: String,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `--config` does not exist.
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    /// The file or environment could not be read or did not deserialise.
    #[error("{0}")]
    Load(String),
    /// The values deserialised but make no sense together.
    #[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

impl Settings {
    /// Loads defaults, then `file` (if any), then `QUNGUAN__…` variables from the process
    /// environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], but reads the environment overrides from `env` instead of the
    /// process environment (tests).
    pub fn load_with_env(file: Option<&Path>, env: Option<BTreeMap<String, String>>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::NotFound(path.to_owned()));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml).required(true));
        }
        // Environment overrides. Values stay strings (a token like "0123" must not become the
        // number 123); the few list-valued keys are split on commas here.
        let env: BTreeMap<String, String> = env.unwrap_or_else(|| std::env::vars().collect());
        let prefix = format!("{ENV_PREFIX}__");
        let mut plain = BTreeMap::new();
        for (name, value) in env {
            let Some(path) = name.strip_prefix(&prefix) else {
                continue;
            };
            let key = path.to_lowercase().replace("__", ".");
            let last = key.rsplit('.').next().unwrap_or_default();
            if ENV_LIST_KEYS.contains(&last) {
                let items: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                builder = builder
                    .set_override(key, items)
                    .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
            } else {
                plain.insert(name, value);
            }
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .source(Some(plain.into_iter().collect()));
        let raw = builder
            .add_source(environment)
            .build()
            .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
        let settings: Self = raw
            .try_deserialize()
            .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
        settings.validate().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }

    /// Checks what deserialisation cannot; returns every problem found, not just the first.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                reason,
            });
        };
        if jiff::tz::TimeZone::get(&self.stats.timezone).is_err() {
            issue(
                "stats.timezone",
                format!(
                    "{:?} is not a known IANA time zone (e.g. \"Asia/Shanghai\", \"UTC\")",
                    self.stats.timezone
                ),
            );
        }
        if self.stats.flush_every.as_secs() == 0 {
            issue("stats.flush_every", "must be at least 1s".into());
        }
        if let Some(admin) = self.server.admin_listen
            && admin == self.server.listen
            && admin.port() != 0
        {
            issue(
                "server.admin_listen",
                format!("{admin} is also server.listen; give the admin listener its own port, or \"\" to turn it off"),
            );
        }
        let onebot = &self.gateway.onebot;
        if onebot.enabled {
            if !onebot.webhook_path.starts_with('/') {
                issue(
                    "gateway.onebot.webhook_path",
                    format!("{:?} must start with '/'", onebot.webhook_path),
                );
            }
            if let Err(reason) = check_http_url(&onebot.api_root) {
                issue("gateway.onebot.api_root", reason);
            }
            if onebot.timeout.as_secs() == 0 {
                issue("gateway.onebot.timeout", "must be at least 1s".into());
            }
            if onebot.secret.is_empty() && !self.server.listen.ip().is_loopback() && !self.server.allow_unsigned {
                issue(
                    "gateway.onebot.secret",
                    format!(
                        "is empty while server.listen ({}) is not a loopback address: anyone who can \
                         reach the port could forge events. Set the same secret as the gateway's \
                         HTTP-POST secret, or set server.allow_unsigned = true",
                        self.server.listen
                    ),
                );
            }
        }
        // The longest mute every enabled platform accepts: QQ's 30 days, Telegram's 366.
        let max_mute = if onebot.enabled || !self.gateway.telegram.enabled {
            (MAX_MUTE_SECS, "the 30-day maximum that QQ allows")
        } else {
            (TELEGRAM_MAX_MUTE_SECS, "the 366-day maximum that Telegram allows")
        };
        check_ladder("moderation.ladder", &self.moderation.ladder, max_mute, &mut issue);
        if self.moderation.strike_ttl.as_secs() == 0 {
            issue("moderation.strike_ttl", "must be longer than 0s".into());
        }
        check_flood("moderation.flood", &self.moderation.flood, &mut issue);
        for (name, group) in &self.groups {
            let prefix = format!("groups.{name}");
            if let Err(reason) = name.parse::<GroupId>() {
                issue(&prefix, reason.to_string());
            }
            if let Some(ladder) = &group.ladder {
                check_ladder(&format!("{prefix}.ladder"), ladder, max_mute, &mut issue);
            }
            if group.strike_ttl.is_some_and(|t| t.as_secs() == 0) {
                issue(&format!("{prefix}.strike_ttl"), "must be longer than 0s".into());
            }
            let flood = group.flood.apply(self.moderation.flood);
            check_flood(&format!("{prefix}.flood"), &flood, &mut issue);
        }
        self.schedule_and_welcome_issues(&mut issue);
        check_answers("join_requests.answers", &self.join_requests.answers, &mut issue);
        for (name, group) in &self.groups {
            if let Some(answers) = &group.join_requests.answers {
                check_answers(&format!("groups.{name}.join_requests.answers"), answers, &mut issue);
            }
        }
        if self.outbox.concurrency == 0 || self.outbox.concurrency > 1024 {
            issue("outbox.concurrency", "must be between 1 and 1024".into());
        }
        if self.storage.seen_ttl.as_secs() < 60 {
            issue(
                "storage.seen_ttl",
                "must be at least 1m, or redelivered events could act twice".into(),
            );
        }
        if self.server.max_body_bytes < 1024 {
            issue("server.max_body_bytes", "must be at least 1024".into());
        }
        if self.storage.path.as_os_str().is_empty() {
            issue("storage.path", "must not be empty".into());
        }
        if self.rules.dir.as_os_str().is_empty() {
            issue("rules.dir", "must not be empty".into());
        }
        issues.extend(self.inactivity_issues());
        issues.extend(self.telegram_issues());
        issues.extend(self.console_issues());
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }

    /// The problems of `[schedule]` and `[welcome]`.
    fn schedule_and_welcome_issues(&self, issue: &mut impl FnMut(&str, String)) {
        let schedule = &self.schedule;
        if jiff::tz::TimeZone::get(&schedule.timezone).is_err() {
            issue(
                "schedule.timezone",
                format!(
                    "unknown time zone {:?}: use an IANA name such as \"Asia/Shanghai\" or \"Europe/Berlin\"",
                    schedule.timezone
                ),
            );
        }
        // A post or welcome held back longer than the outbox keeps messages would expire
        // before it is sent.
        let send_limit = self.outbox.max_age.of(ActionKind::Send);
        let within_send_limit = |d: HumanDuration| send_limit.is_none_or(|limit| d.get() < limit);
        if schedule.jitter.get() > MAX_JITTER || !within_send_limit(schedule.jitter) {
            issue(
                "schedule.jitter",
                format!(
                    "must be at most {} and shorter than outbox.max_age.send",
                    HumanDuration::from_secs(MAX_JITTER.as_secs())
                ),
            );
        }
        let window = self.welcome.batch_window;
        if window.get() > MAX_BATCH_WINDOW || !within_send_limit(window) {
            issue(
                "welcome.batch_window",
                format!(
                    "must be at most {} and shorter than outbox.max_age.send",
                    HumanDuration::from_secs(MAX_BATCH_WINDOW.as_secs())
                ),
            );
        }
    }

    /// The problems of `[inactivity]`.
    fn inactivity_issues(&self) -> Vec<ConfigIssue> {
        let ia = &self.inactivity;
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: format!("inactivity.{key}"),
                reason,
            });
        };
        for (i, pair) in ia.remind_after.windows(2).enumerate() {
            if pair[1] <= pair[0] {
                issue(
                    &format!("remind_after[{}]", i + 1),
                    format!(
                        "\"{}\" must be longer than the step before it (\"{}\")",
                        pair[1], pair[0]
                    ),
                );
            }
        }
        if ia.remind_after.iter().any(|d| d.as_secs() < 3_600) {
            issue("remind_after", "every step must be at least 1h".into());
        }
        let remove = ia.remove_after.as_secs();
        if remove > 0 && remove < 86_400 {
            issue(
                "remove_after",
                format!("\"{}\" is shorter than 1d; use \"0s\" to never remove", ia.remove_after),
            );
        }
        if ia.list_limit == 0 || ia.list_limit > 200 {
            issue("list_limit", "must be between 1 and 200".into());
        }
        if ia.check_every.as_secs() < 60 {
            issue("check_every", "must be at least 1m".into());
        }
        issues
    }

    /// The problems of `[console]`, and an admin listener reachable from other hosts with
    /// nothing to authenticate its requests.
    fn console_issues(&self) -> Vec<ConfigIssue> {
        let console = &self.console;
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                reason,
            });
        };
        if let Some(admin) = self.server.admin_listen
            && !admin.ip().is_loopback()
            && !console.has_auth()
        {
            issue(
                "server.admin_listen",
                format!(
                    "{admin} is not a loopback address, but neither console.password_hash nor console.api_token \
                     is set: anyone who reaches the port could read the groups and undo cases. Set one of \
                     them (`qunguan console password` prints a hash), or listen on 127.0.0.1"
                ),
            );
        }
        // Never echo a secret: a config error ends up in terminals, logs and bug reports.
        if !console.password_hash.is_empty() {
            match argon2::PasswordHash::new(console.password_hash.expose()) {
                Ok(hash) if hash.algorithm.as_str() == "argon2id" => {}
                Ok(hash) => issue(
                    "console.password_hash",
                    format!(
                        "is a {} hash; only argon2id is accepted (`qunguan console password` prints one)",
                        hash.algorithm
                    ),
                ),
                Err(e) => issue(
                    "console.password_hash",
                    format!(
                        "is not a password hash ({e}); paste the whole line `qunguan console password` \
                         prints, starting with $argon2id$"
                    ),
                ),
            }
        }
        let token = console.api_token.expose();
        if !token.is_empty() && token.chars().count() < MIN_API_TOKEN_CHARS {
            issue(
                "console.api_token",
                format!(
                    "is {} characters long; use at least {MIN_API_TOKEN_CHARS} random characters \
                     (e.g. `openssl rand -hex 32`)",
                    token.chars().count()
                ),
            );
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            issue(
                "console.api_token",
                "contains a space or control character, which an Authorization header cannot carry".into(),
            );
        }
        if console.session_ttl.as_secs() < 60 {
            issue("console.session_ttl", "must be at least 1m".into());
        }
        if console.login_failures == 0 {
            issue(
                "console.login_failures",
                "must be at least 1 (every login would be refused)".into(),
            );
        }
        if console.login_window.as_secs() == 0 {
            issue("console.login_window", "must be at least 1s".into());
        }
        issues
    }

    /// The problems of `[gateway.telegram]`, when it is enabled.
    fn telegram_issues(&self) -> Vec<ConfigIssue> {
        let tg = &self.gateway.telegram;
        let mut issues = Vec::new();
        if !tg.enabled {
            return issues;
        }
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: format!("gateway.telegram.{key}"),
                reason,
            });
        };
        // Never echo the token: a config error ends up in terminals, logs and bug reports.
        if tg.token.is_empty() {
            issue(
                "token",
                "is empty; create a bot with @BotFather and set its token here or in \
                 QUNGUAN__GATEWAY__TELEGRAM__TOKEN"
                    .into(),
            );
        } else if !looks_like_bot_token(tg.token.expose()) {
            issue(
                "token",
                "does not look like a Bot API token (<bot id>:<secret>, as @BotFather prints it)".into(),
            );
        }
        if let Err(reason) = check_http_url(&tg.api_root) {
            issue("api_root", reason);
        }
        if !tg.secret_token.is_empty()
            && let Err(reason) = check_secret_token(tg.secret_token.expose())
        {
            issue("secret_token", reason);
        }
        if tg.timeout.as_secs() == 0 {
            issue("timeout", "must be at least 1s".into());
        }
        if tg.poll_timeout.as_secs() == 0 || tg.poll_timeout.as_secs() > 600 {
            issue("poll_timeout", "must be between 1s and 10m".into());
        }
        if tg.admin_cache_ttl.as_secs() == 0 {
            issue("admin_cache_ttl", "must be at least 1s".into());
        }
        if tg.mode == TelegramMode::Webhook {
            if !tg.webhook_path.starts_with('/') {
                issue("webhook_path", format!("{:?} must start with '/'", tg.webhook_path));
            } else if tg.webhook_path.contains(['{', '}', '*']) || tg.webhook_path == "/healthz" {
                issue(
                    "webhook_path",
                    format!(
                        "{:?} is reserved; use a plain path such as \"/telegram/webhook\"",
                        tg.webhook_path
                    ),
                );
            } else if self.gateway.onebot.enabled
                && tg.webhook_path.trim_end_matches('/') == self.gateway.onebot.webhook_path.trim_end_matches('/')
            {
                issue(
                    "webhook_path",
                    format!(
                        "{:?} is also gateway.onebot.webhook_path; give each gateway its own path",
                        tg.webhook_path
                    ),
                );
            }
            if tg.webhook_url.is_empty() {
                issue(
                    "webhook_url",
                    "is empty, but mode = \"webhook\" needs the public HTTPS URL Telegram should POST to \
                     (or use mode = \"polling\", which needs no public URL)"
                        .into(),
                );
            } else if let Err(reason) = check_http_url(&tg.webhook_url) {
                issue("webhook_url", reason);
            } else if !tg.webhook_url.starts_with("https://") && tg.api_root.contains("api.telegram.org") {
                issue(
                    "webhook_url",
                    format!(
                        "{:?}: the official Bot API only delivers to https:// URLs (ports 443, 80, 88, 8443)",
                        tg.webhook_url
                    ),
                );
            }
            if tg.secret_token.is_empty() {
                issue(
                    "secret_token",
                    "is empty, but mode = \"webhook\" needs it: without it anyone who finds the URL could \
                     forge updates. Use 1-256 characters of A-Z a-z 0-9 _ -"
                        .into(),
                );
            }
        }
        issues
    }
}

/// `<digits>:<at least 30 of A-Z a-z 0-9 _ ->`, the shape @BotFather hands out.
fn looks_like_bot_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The Bot API's rule for `secret_token`: 1-256 characters of `A-Z a-z 0-9 _ -`.
fn check_secret_token(secret: &str) -> Result<(), String> {
    if secret.is_empty() || secret.len() > 256 {
        return Err(format!("must be 1-256 characters long, not {}", secret.len()));
    }
    // The offending character is not quoted: it is part of a secret.
    if let Some(at) = secret.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
        return Err(format!(
            "has a character Telegram does not allow at byte {at}; use only A-Z a-z 0-9 _ -"
        ));
    }
    Ok(())
}

/// The widest `[schedule] jitter`.
const MAX_JITTER: std::time::Duration = std::time::Duration::from_secs(600);
/// The longest `[welcome] batch_window`.
const MAX_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// Checks join-request answers: an answer with no letters or digits would be contained in
/// every request once normalized (the match ignores case, width, spaces and punctuation), so
/// it would approve everyone.
fn check_answers(key: &str, answers: &[String], issue: &mut impl FnMut(&str, String)) {
    if answers.is_empty() {
        return;
    }
    let normalizer = crate::policy::normalize::Normalizer::new(crate::policy::normalize::NormalizeOptions::default());
    for (i, answer) in answers.iter().enumerate() {
        if normalizer.compact(answer).is_empty() {
            issue(
                &format!("{key}[{i}]"),
                format!("{answer:?} has no letters or digits and would approve every request"),
            );
        }
    }
}

/// Checks a ladder: at least one rung, no mute longer than `(max_secs, why)` allows.
fn check_ladder(key: &str, ladder: &[Rung], (max_secs, limit_by): (u64, &str), issue: &mut impl FnMut(&str, String)) {
    if ladder.is_empty() {
        issue(
            key,
            "needs at least one rung, e.g. [\"warn\", \"mute 10m\", \"kick\"]".into(),
        );
    }
    for (i, rung) in ladder.iter().enumerate() {
        if let Rung::Mute(d) = rung
            && d.as_secs() > max_secs
        {
            issue(&format!("{key}[{i}]"), format!("\"{rung}\" is longer than {limit_by}"));
        }
    }
}

fn check_flood(key: &str, flood: &FloodSettings, issue: &mut impl FnMut(&str, String)) {
    if flood.messages == 1 {
        issue(&format!("{key}.messages"), "must be 0 (off) or at least 2".into());
    }
    if flood.messages > 0 && flood.window.as_secs() == 0 {
        issue(
            &format!("{key}.window"),
            "must be longer than 0s while messages is set".into(),
        );
    }
    if flood.repeats == 1 {
        issue(&format!("{key}.repeats"), "must be 0 (off) or at least 2".into());
    }
    if flood.repeats > 0 && flood.repeat_window.as_secs() == 0 {
        issue(
            &format!("{key}.repeat_window"),
            "must be longer than 0s while repeats is set".into(),
        );
    }
    let most = crate::policy::flood::MAX_TRACKED;
    if usize::try_from(flood.messages.max(flood.repeats)).unwrap_or(usize::MAX) > most {
        issue(key, format!("messages and repeats can be at most {most}"));
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    if rest.trim_end_matches('/').is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// Turns a `config` crate error into one line that names the key or file.
fn describe_config_error(err: &config::ConfigError, file: Option<&Path>) -> String {
    let text = err.to_string();
    match (err, file) {
        (config::ConfigError::FileParse { .. }, Some(path)) if !text.contains(&*path.to_string_lossy()) => {
            format!("{}: {text}", path.display())
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp file");
        std::io::Write::write_all(&mut file, contents.as_bytes()).expect("write");
        file
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.storage.path, PathBuf::from("./data"));
        assert_eq!(s.rules.dir, PathBuf::from("./rules"));
        assert_eq!(s.gateway.onebot.webhook_path, "/onebot/v11");
        assert_eq!(s.moderation.ladder.len(), 3);
        assert_eq!(s.moderation.strike_ttl.as_secs(), 30 * 86_400);
    }

    #[test]
    fn environment_overrides_nested_keys_and_lists() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", "0123"),
                ("QUNGUAN__SERVER__LISTEN", "127.0.0.1:0"),
                ("QUNGUAN__MODERATION__LADDER", "warn,mute 1h,ban"),
            ]),
        )
        .expect("valid");
        // Leading zeros survive: tokens are strings, never numbers.
        assert_eq!(s.gateway.onebot.access_token.expose(), "0123");
        assert_eq!(s.server.listen.port(), 0);
        assert_eq!(
            s.moderation.ladder,
            vec![Rung::Warn, Rung::Mute(HumanDuration::from_secs(3600)), Rung::Ban]
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let file = write("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("typo must fail");
        assert!(err.to_string().contains("listne"), "{err}");

        let err = Settings::load_with_env(None, env(&[("QUNGUAN__MODERATION__LADER", "warn")]))
            .expect_err("typo in a variable must fail");
        assert!(err.to_string().contains("lader"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_reason() {
        let file = write("[moderation]\nladder = [\"warn\", \"mute ten\"]\n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("bad rung");
        let text = err.to_string();
        assert!(text.contains("ladder") && text.contains("mute ten"), "{text}");

        let file = write("[gateway.onebot]\napi_root = \"localhost:3000\"\n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("bad url");
        assert!(err.to_string().contains("gateway.onebot.api_root"), "{err}");
    }

    #[test]
    fn unsigned_public_webhook_is_refused_unless_allowed() {
        let file = write("[server]\nlisten = \"0.0.0.0:8080\"\n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("must refuse");
        assert!(err.to_string().contains("gateway.onebot.secret"), "{err}");
        let file = write("[server]\nlisten = \"0.0.0.0:8080\"\nallow_unsigned = true\n");
        Settings::load_with_env(Some(file.path()), env(&[])).expect("explicitly allowed");
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let file = write("[server]\nlisten = \n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("syntax");
        let text = err.to_string();
        assert!(text.contains(&*file.path().to_string_lossy()), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", "hunter2"),
                ("QUNGUAN__GATEWAY__ONEBOT__SECRET", "s3cr3t"),
            ]),
        )
        .expect("valid");
        let dump = format!("{s:?}");
        assert!(!dump.contains("hunter2") && !dump.contains("s3cr3t"), "{dump}");
    }

    const TG_TOKEN: &str = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";

    #[test]
    fn telegram_is_off_by_default_and_configured_from_the_environment() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert!(!s.gateway.telegram.enabled);
        assert_eq!(s.gateway.telegram.mode, TelegramMode::Polling);
        assert_eq!(s.gateway.telegram.api_root, "https://api.telegram.org");

        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__TELEGRAM__ENABLED", "true"),
                ("QUNGUAN__GATEWAY__TELEGRAM__TOKEN", TG_TOKEN),
                ("QUNGUAN__GATEWAY__TELEGRAM__MODE", "webhook"),
                (
                    "QUNGUAN__GATEWAY__TELEGRAM__WEBHOOK_URL",
                    "https://bot.example.org/telegram/webhook",
                ),
                ("QUNGUAN__GATEWAY__TELEGRAM__SECRET_TOKEN", "q9Lr_4xT-2vWm8Zb"),
                ("QUNGUAN__GATEWAY__TELEGRAM__API_ROOT", "http://127.0.0.1:8081"),
            ]),
        )
        .expect("valid");
        let tg = &s.gateway.telegram;
        assert!(tg.enabled && tg.mode == TelegramMode::Webhook);
        assert_eq!(tg.bot_id(), Some(7_012_345_678));
        assert_eq!(tg.api_root, "http://127.0.0.1:8081", "a self-hosted Bot API server");
        assert!(!format!("{s:?}").contains("AAHdqTcv"), "the token never shows in Debug");
    }

    #[test]
    fn telegram_problems_name_the_key_and_never_the_token() {
        // ([gateway.telegram] settings, `{T}` standing for a valid token; the keys to be named)
        let cases: &[(&str, &[&str])] = &[
            ("enabled = true\n", &["gateway.telegram.token"]),
            (
                "enabled = true\ntoken = \"not-a-token-SECRETVALUE\"\n",
                &["gateway.telegram.token"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\n",
                &["gateway.telegram.webhook_url", "gateway.telegram.secret_token"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\n\
                 webhook_url = \"http://bot.example.org/tg\"\nsecret_token = \"has space\"\n",
                &["gateway.telegram.webhook_url", "gateway.telegram.secret_token"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\nwebhook_path = \"/onebot/v11\"\n\
                 webhook_url = \"https://x.example/\"\nsecret_token = \"abc\"\n",
                &["gateway.telegram.webhook_path"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\nwebhook_path = \"/healthz\"\n\
                 webhook_url = \"https://x.example/\"\nsecret_token = \"abc\"\n",
                &["gateway.telegram.webhook_path"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\npoll_timeout = \"0s\"\n",
                &["gateway.telegram.poll_timeout"],
            ),
        ];
        for (section, keys) in cases {
            let file = write(&format!("[gateway.telegram]\n{}", section.replace("{T}", TG_TOKEN)));
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(section);
            let message = err.to_string();
            for key in *keys {
                assert!(message.contains(key), "{section}: {message}");
            }
            assert!(
                !message.contains("SECRETVALUE") && !message.contains("AAHdqTcv"),
                "{message}"
            );
        }
        let polling = write(&format!("[gateway.telegram]\nenabled = true\ntoken = \"{TG_TOKEN}\"\n"));
        Settings::load_with_env(Some(polling.path()), env(&[])).expect("polling needs only the token");
        // Disabled, nothing is checked.
        let off = write("[gateway.telegram]\nmode = \"webhook\"\n");
        Settings::load_with_env(Some(off.path()), env(&[])).expect("disabled");
    }

    #[test]
    fn the_longest_mute_is_the_one_every_enabled_platform_accepts() {
        let ladder = "[moderation]\nladder = [\"mute 60d\"]\n";
        let file = write(ladder);
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("QQ allows 30 days");
        assert!(err.to_string().contains("QQ"), "{err}");
        let telegram_only = format!(
            "{ladder}[gateway.onebot]\nenabled = false\n[gateway.telegram]\nenabled = true\ntoken = \"{TG_TOKEN}\"\n"
        );
        let file = write(&telegram_only);
        Settings::load_with_env(Some(file.path()), env(&[])).expect("Telegram allows 366 days");
        let file = write(&telegram_only.replace("60d", "400d"));
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("over 366 days");
        assert!(err.to_string().contains("366-day"), "{err}");
    }

    #[test]
    fn groups_admins_flood_and_outbox_read_from_the_file() {
        let file = write(
            r#"
[moderation]
dry_run = true
[moderation.flood]
messages = 5
window = "20s"

[admin]
super_users = [10001, "tg:123456789", "qq:42"]

[outbox]
concurrency = 4
sends_per_minute_per_group = 10
[outbox.max_age]
send = "5m"
kick = "1d"

[groups."qq:726300112"]
ladder = ["warn", "ban"]
exempt = [7, 8]
dry_run = false
[groups."qq:726300112".flood]
repeats = 0

[groups.123]
strike_ttl = "7d"
"#,
        );
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        assert!(s.moderation.dry_run);
        assert_eq!(
            (s.moderation.flood.messages, s.moderation.flood.window.as_secs()),
            (5, 20)
        );
        assert_eq!(s.moderation.flood.repeats, 3, "unset keys keep their defaults");
        let users: Vec<String> = s.admin.super_users.iter().map(ToString::to_string).collect();
        assert_eq!(users, ["qq:10001", "tg:123456789", "qq:42"]);
        assert_eq!((s.outbox.concurrency, s.outbox.sends_per_minute_per_group), (4, 10));
        assert_eq!(
            s.outbox.max_age.of(ActionKind::Send),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(s.outbox.max_age.of(ActionKind::Recall), None, "0s = no limit");
        let group = &s.groups["qq:726300112"];
        assert_eq!(group.ladder.as_deref(), Some(&[Rung::Warn, Rung::Ban][..]));
        assert_eq!((group.exempt.as_slice(), group.dry_run), (&[7, 8][..], Some(false)));
        assert_eq!(group.flood.apply(s.moderation.flood).repeats, 0);
        assert_eq!(s.groups["123"].strike_ttl.map(HumanDuration::as_secs), Some(7 * 86_400));
    }

    #[test]
    fn group_and_admin_keys_come_from_the_environment_too() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__ADMIN__SUPER_USERS", "10001, tg:5"),
                ("QUNGUAN__GROUPS__726300112__DRY_RUN", "true"),
                ("QUNGUAN__GROUPS__726300112__EXEMPT", "7,8"),
                ("QUNGUAN__GROUPS__726300112__LADDER", "warn,kick"),
                ("QUNGUAN__OUTBOX__MAX_AGE__SEND", "1m"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.admin.super_users.len(), 2);
        let group = &s.groups["726300112"];
        assert_eq!((group.dry_run, group.exempt.as_slice()), (Some(true), &[7, 8][..]));
        assert_eq!(group.ladder.as_deref(), Some(&[Rung::Warn, Rung::Kick][..]));
        assert_eq!(s.outbox.max_age.send.as_secs(), 60);
    }

    #[test]
    fn bad_group_flood_and_outbox_values_name_their_keys() {
        let cases = [
            ("[groups.\"wx:1\"]\ndry_run = true\n", "groups.wx:1"),
            ("[groups.abc]\ndry_run = true\n", "groups.abc"),
            ("[groups.1]\nladder = []\n", "groups.1.ladder"),
            ("[groups.1]\nstrike_ttl = \"0s\"\n", "groups.1.strike_ttl"),
            ("[moderation.flood]\nmessages = 1\n", "moderation.flood.messages"),
            ("[moderation.flood]\nwindow = \"0s\"\n", "moderation.flood.window"),
            ("[groups.1.flood]\nrepeats = 1\n", "groups.1.flood.repeats"),
            ("[moderation.flood]\nmessages = 100\n", "moderation.flood"),
            ("[outbox]\nconcurrency = 0\n", "outbox.concurrency"),
            ("[storage]\nseen_ttl = \"10s\"\n", "storage.seen_ttl"),
            ("[admin]\nsuper_users = [\"wx:1\"]\n", "wx"),
            ("[groups.1]\nexempted = [1]\n", "exempted"),
        ];
        for (toml, key) in cases {
            let file = write(toml);
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(toml);
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn bad_schedule_welcome_and_join_request_values_name_their_keys() {
        let cases = [
            ("[schedule]\ntimezone = \"Asia/Beijing\"\n", "schedule.timezone"),
            ("[schedule]\njitter = \"1h\"\n", "schedule.jitter"),
            ("[schedule]\ncatch_up = \"soon\"\n", "catch_up"),
            ("[welcome]\nbatch_window = \"10m\"\n", "welcome.batch_window"),
            ("[welcome]\nbatch_windows = \"10s\"\n", "batch_windows"),
            (
                "[join_requests]\nanswers = [\"ok\", \"？！\"]\n",
                "join_requests.answers[1]",
            ),
            (
                "[groups.1.join_requests]\nanswers = [\" \"]\n",
                "groups.1.join_requests.answers[0]",
            ),
            ("[groups.1.welcome]\ntemplat = \"x\"\n", "templat"),
        ];
        for (toml, key) in cases {
            let file = write(toml);
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(toml);
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn schedule_welcome_and_join_request_keys_read_from_the_file_and_the_environment() {
        let file = write(
            "[schedule]\ntimezone = \"Europe/Berlin\"\njitter = \"0s\"\n\
             [welcome]\nbatch_window = \"30s\"\ndelete_previous = true\n\
             [groups.1.welcome]\nenabled = false\n",
        );
        let s = Settings::load_with_env(
            Some(file.path()),
            env(&[
                ("QUNGUAN__JOIN_REQUESTS__ANSWERS", "朋友推荐,Rust 中文社区"),
                ("QUNGUAN__WELCOME__REJOIN_WINDOW", "1d"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.schedule.timezone, "Europe/Berlin");
        assert_eq!(s.schedule.jitter.as_secs(), 0);
        assert_eq!(s.schedule.catch_up.as_secs(), 600, "the default");
        assert_eq!(s.welcome.batch_window.as_secs(), 30);
        assert_eq!(s.welcome.rejoin_window.as_secs(), 86_400);
        assert!(s.welcome.delete_previous);
        assert_eq!(s.groups["1"].welcome.enabled, Some(false));
        assert_eq!(s.join_requests.answers, ["朋友推荐", "Rust 中文社区"]);
        assert!(s.join_requests.reject_blocked, "the default");
    }

    #[test]
    fn rungs_parse_and_print() {
        for text in ["warn", "mute 10m", "kick", "ban", "mute 1h30m"] {
            let rung: Rung = text.parse().expect(text);
            assert_eq!(rung.to_string(), text);
        }
        assert!("mute".parse::<Rung>().is_err());
        assert!("mute 0s".parse::<Rung>().is_err());
        assert!("smite".parse::<Rung>().is_err());
    }

    #[test]
    fn inactivity_is_tracked_by_default_with_reminders_and_removal_off() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert!(s.inactivity.enabled && s.inactivity.remind_after.is_empty());
        assert_eq!(s.inactivity.remove_after(), None, "removal is off by default");
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__INACTIVITY__REMIND_AFTER", "7d, 15d,30d"),
                ("QUNGUAN__INACTIVITY__REMOVE_AFTER", "60d"),
            ]),
        )
        .expect("valid");
        let steps: Vec<u64> = s.inactivity.remind_after.iter().map(|d| d.as_secs() / 86_400).collect();
        assert_eq!(steps, [7, 15, 30]);
        assert_eq!(s.inactivity.remove_after().map(|d| d.as_secs()), Some(60 * 86_400));
    }

    #[test]
    fn inactivity_problems_name_the_key() {
        // ([inactivity] settings, the key to be named)
        let cases = [
            ("remind_after = [\"15d\", \"7d\"]", "inactivity.remind_after[1]"),
            ("remind_after = [\"7d\", \"7d\"]", "inactivity.remind_after[1]"),
            ("remind_after = [\"10m\"]", "inactivity.remind_after"),
            ("remove_after = \"2h\"", "inactivity.remove_after"),
            ("list_limit = 0", "inactivity.list_limit"),
            ("list_limit = 500", "inactivity.list_limit"),
            ("check_every = \"5s\"", "inactivity.check_every"),
            ("remind_after = [\"7x\"]", "inactivity.remind_after"),
        ];
        for (line, key) in cases {
            let file = write(&format!("[inactivity]\n{line}\n"));
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(line);
            assert!(err.to_string().contains(key), "{line}: {err}");
        }
    }
}
