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
//!
//! One file per section: the settings struct of a section, its defaults and, where a check
//! concerns only that section, its validation. [`load`](Settings::load) reads the layers,
//! `validate.rs` runs every check in one pass.

mod accounts;
mod bans;
mod console;
mod engagement;
mod gateway;
mod inactivity;
mod join_requests;
mod learning;
mod limits;
mod load;
mod log;
mod moderation;
mod notices;
mod outbox;
mod policies;
mod robust;
pub mod rules;
mod schedule;
mod secret;
mod server;
mod stats;
mod storage;
mod strict;
#[cfg(test)]
mod test_support;
mod trust;
mod validate;
mod verify;
mod welcome;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::domain::event::UserRef;
pub use crate::policy::flood::FloodSettings;
pub use accounts::{IgnoredKeys, OneBotAccount, ResolvedBot, ResolvedOneBot, TelegramBot};
pub use bans::{BansSettings, Subscription};
pub use console::{ConsoleSettings, MIN_API_TOKEN_CHARS};
pub use engagement::EngagementSettings;
pub use gateway::{GatewaySettings, OneBotSettings, TelegramMode, TelegramSettings};
pub use inactivity::InactivitySettings;
pub use join_requests::{JoinRequestOverride, JoinRequestSettings};
pub use learning::LearningSettings;
pub use limits::{AuditSettings, ByteSize, DEFAULT_TRUST_MEMBERS, LimitsSettings};
pub use load::{ConfigError, ENV_PREFIX};
pub use log::{LogFormat, LogSettings, MessagesSettings};
pub use moderation::{AdminSettings, FloodOverride, GroupSettings, ModerationSettings};
pub use notices::{NoticeSettings, NoticesSettings, Struck};
pub use outbox::{MaxAgeSettings, OutboxSettings};
pub use schedule::ScheduleSettings;
pub use secret::Secret;
pub use server::{Scheduling, ServerSettings};
pub use stats::StatsSettings;
pub use storage::{RulesSettings, StorageSettings};
pub use trust::TrustSettings;
pub use validate::ConfigIssue;
pub use verify::{VerifyOverride, VerifySettings};
pub use welcome::{WelcomeOverride, WelcomeSettings};

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
    /// Caps on stored strings and on every in-memory structure.
    pub limits: LimitsSettings,
    /// Audit retention.
    pub audit: AuditSettings,
    /// When a member counts as trusted rather than new.
    pub trust: TrustSettings,
    /// Learning from admins' labels: the recent messages a `/spam` reply can refer to, and
    /// the review list.
    pub learning: LearningSettings,
    /// Check-in, points, leaderboards, keyword answers and member tiers.
    pub engagement: EngagementSettings,
    /// The gate at the door (入群验证): newcomers answer a question or are removed.
    pub verify: VerifySettings,
    /// The instance-wide ban list's shared lists and the Telegram CAS lookup.
    pub bans: BansSettings,
    /// Per-group overrides of `[moderation]`, keyed by group (`"qq:726300112"`,
    /// `"tg:-1001234567890"`, or a bare QQ group number).
    pub groups: BTreeMap<String, GroupSettings>,
}
