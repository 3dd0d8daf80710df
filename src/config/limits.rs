//! `[limits]`: how much of what the daemon receives it keeps, and how big each in-memory
//! structure may grow; `[audit]`: how long audit cases are kept; and the byte sizes
//! `[storage] cache_capacity` is written in.
//!
//! A moderation daemon runs for months on a small machine, fed by strangers: a member can
//! pick a 100 KB nickname, a spammer can post 4,500 characters, a wave of joins can bring
//! thousands of new members in a minute. So nothing that grows with the input is unbounded:
//!
//! - **Stored and logged strings** are cut to a number of characters (names, matched spans,
//!   excerpts, reasons), on the way in, before anything is stored, sent or logged. A cut
//!   string ends with `…`.
//! - **Every in-memory map** has a capacity. What happens at capacity depends on the map and
//!   is documented where it is: the anti-flood tracker and the activity notes drop their
//!   stalest entries first (the worst case is a missed flood or an extra database write), the
//!   outbox queues give up the newest action (a moderation action as a dead letter, a message
//!   of the bot's counted and removed). Each reports its size, its capacity and how often it
//!   dropped something, as the gauges and counter `qunguan_memory_entries`,
//!   `qunguan_memory_capacity` and `qunguan_memory_evictions_total` (label `structure`).

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::domain::duration::HumanDuration;
use crate::domain::text::TextLimits;

/// `[limits]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSettings {
    /// Member and admin names: stored (audit, activity, welcome batches), posted (warnings,
    /// reminders, welcomes) and logged, at most this many characters.
    pub name_chars: usize,
    /// One matched span, as an audit case and the violation log line quote it.
    pub matched_chars: usize,
    /// Matched spans kept per audit case and log line; more are counted, not quoted.
    pub matched_spans: usize,
    /// The start of the message an audit case keeps (also join-request texts and reasons).
    pub excerpt_chars: usize,
    /// Members the anti-flood tracker remembers (their last messages).
    pub flood_members: usize,
    /// Members whose activity today is noted in memory (inactivity tracking writes a member
    /// once a day; a member dropped from the notes costs one more write).
    pub activity_members: usize,
    /// Member ids in the group statistics not yet written to the database (the day's
    /// active members); beyond it the batch is written early.
    pub stats_members: usize,
    /// The bot's messages one group's outbox queue holds in memory while they wait for the
    /// send governor or a retry; a newer one is given up as a dead letter.
    pub outbox_messages_per_group: usize,
    /// Moderation actions (recall, mute, kick …) one group's outbox queue holds in memory
    /// while earlier ones are retried; a newer one is given up as a dead letter.
    pub outbox_moderation_per_group: usize,
    /// Groups whose public `/rules` cooldown is remembered.
    pub cooldown_groups: usize,
    /// Telegram chats whose administrator list is cached.
    pub telegram_admin_chats: usize,
    /// Telegram joins and leaves remembered to fold duplicate reports of one join.
    pub telegram_recent_joins: usize,
    /// Open sessions of the operators' console; a login beyond it ends the session closest
    /// to expiry.
    pub console_sessions: usize,
    /// Client addresses whose failed console logins are remembered (the login rate limit).
    pub console_login_addresses: usize,
    /// Groups whose recent sends the send governor remembers (their per-minute window);
    /// windows idle for a minute are dropped first.
    pub send_window_groups: usize,
    /// Members whose message points (engagement) are noted in memory until the next write
    /// (members who spoke today); a new member beyond it earns no message points until the
    /// next write frees room.
    pub engagement_members: usize,
    /// Members whose message points (engagement) wait in memory for the next write, with
    /// their names; three quarters of it full starts the write early, and a member beyond it earns
    /// nothing for that message.
    pub engagement_unwritten: usize,
    /// Keyword answers (`/问答`, `rules/replies.toml`) whose per-group cooldown is remembered;
    /// when full and none has expired, a keyword goes unanswered.
    pub faq_cooldowns: usize,
    /// Newcomers waiting at the gate at the door (`[verify]`) at once, over all groups; a
    /// newcomer beyond it is let in ungated (counted as `full`, with a log line).
    pub verify_pending: usize,
    /// Members whose trust record (joined day, clean messages) is cached in front of the
    /// database, so their messages read no tree; when full, half of it is dropped. Only
    /// members whose messages read it are cached (a join or leave updates a cached entry but
    /// adds none).
    pub trust_members: usize,
    /// Dead letters kept in the database (actions given up on; `qunguan audit
    /// --dead-letters`): the oldest beyond it are deleted, whatever `[audit] retention`
    /// says, as soon as the delivery worker adds one and at every sweep.
    pub dead_letters: usize,
    /// Hand back, after start-up and every 30 s, the pages of the program file the daemon
    /// has mapped (its code and constants), so that only those it runs again are resident
    /// (`runtime::memory::release_program_pages`).
    #[serde(deserialize_with = "super::strict::bool")]
    pub release_program_pages: bool,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            name_chars: 64,
            matched_chars: 64,
            matched_spans: 8,
            excerpt_chars: 200,
            flood_members: crate::policy::flood::DEFAULT_MEMBERS,
            activity_members: 131_072,
            stats_members: 65_536,
            outbox_messages_per_group: 20,
            outbox_moderation_per_group: 500,
            cooldown_groups: 10_000,
            telegram_admin_chats: 10_000,
            telegram_recent_joins: 4_096,
            console_sessions: 256,
            console_login_addresses: 4_096,
            send_window_groups: 10_000,
            engagement_members: 100_000,
            engagement_unwritten: 65_536,
            faq_cooldowns: 10_000,
            verify_pending: 10_000,
            trust_members: DEFAULT_TRUST_MEMBERS,
            dead_letters: 10_000,
            release_program_pages: true,
        }
    }
}

impl LimitsSettings {
    /// The string caps, for the code that stores and logs.
    #[must_use]
    pub fn text(&self) -> TextLimits {
        TextLimits {
            name_chars: self.name_chars,
            matched_chars: self.matched_chars,
            matched_spans: self.matched_spans,
            excerpt_chars: self.excerpt_chars,
        }
    }

    /// The problems of `[limits]`: `(key, reason)`.
    pub(crate) fn issues(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut range = |key: &str, value: usize, min: usize, max: usize| {
            if !(min..=max).contains(&value) {
                out.push((format!("limits.{key}"), format!("{value} is outside {min}..={max}")));
            }
        };
        range("name_chars", self.name_chars, 8, 4_096);
        range("matched_chars", self.matched_chars, 8, 4_096);
        range("matched_spans", self.matched_spans, 1, 1_000);
        range("excerpt_chars", self.excerpt_chars, 16, 65_536);
        range("flood_members", self.flood_members, 1_024, 100_000_000);
        range("activity_members", self.activity_members, 1_024, 100_000_000);
        range("stats_members", self.stats_members, 1_024, 100_000_000);
        range(
            "outbox_messages_per_group",
            self.outbox_messages_per_group,
            10,
            1_000_000,
        );
        range(
            "outbox_moderation_per_group",
            self.outbox_moderation_per_group,
            10,
            1_000_000,
        );
        range("cooldown_groups", self.cooldown_groups, 16, 100_000_000);
        range("telegram_admin_chats", self.telegram_admin_chats, 16, 100_000_000);
        range("telegram_recent_joins", self.telegram_recent_joins, 16, 100_000_000);
        range("console_sessions", self.console_sessions, 1, 1_000_000);
        range("console_login_addresses", self.console_login_addresses, 16, 100_000_000);
        range("send_window_groups", self.send_window_groups, 16, 100_000_000);
        range("engagement_members", self.engagement_members, 1_024, 100_000_000);
        range("engagement_unwritten", self.engagement_unwritten, 256, 100_000_000);
        range("faq_cooldowns", self.faq_cooldowns, 16, 100_000_000);
        range("verify_pending", self.verify_pending, 16, 1_000_000);
        range("trust_members", self.trust_members, 0, 100_000_000);
        range("dead_letters", self.dead_letters, 16, 100_000_000);
        out
    }
}

/// `[audit]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// How long audit cases and dead letters are kept; `0s` keeps them forever. The older key
    /// `[storage] audit_retention`, when set, wins.
    pub retention: HumanDuration,
    /// How many of each group's newest cases stay in the database; older ones are moved to
    /// the audit archive's day files (`<storage.path>/archive/`) in the background.
    pub hot_cases: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention: HumanDuration::from_secs(180 * 86_400),
            hot_cases: 32,
        }
    }
}

/// The fewest and most `[audit] hot_cases`.
/// The default `[limits] trust_members`: 7/8 of a table of 131,072 slots, full without
/// doubling (the store allocates the cache's table at this size at its first entry).
pub const DEFAULT_TRUST_MEMBERS: usize = 114_688;

const HOT_CASES: std::ops::RangeInclusive<usize> = 1..=1_000_000;

/// A size in bytes as operators write it: a number of bytes (`8388608`) or a number with a
/// unit (`"8MiB"`, `"512KiB"`, `"1GiB"`; `KB`, `MB`, `GB` are powers of 1000).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` MiB.
    #[must_use]
    pub const fn mib(n: u64) -> Self {
        Self(n << 20)
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly, e.g. `8MiB`, `1536KiB`, `100B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim();
        let bad = || format!("{s:?} is not a size such as \"8MiB\", \"512KiB\" or a number of bytes");
        let n: u64 = number.parse().map_err(|_| bad())?;
        let scale: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(scale)
            .map(Self)
            .ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"8MiB\", \"512KiB\" or a number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{v} is negative; a size is at least 0")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl super::StorageSettings {
    /// sled's page cache in bytes: `cache_mib` (the older key) when set, else
    /// `cache_capacity`.
    #[must_use]
    pub fn cache_bytes(&self) -> u64 {
        self.cache_mib
            .map_or(self.cache_capacity.0, |mib| mib.saturating_mul(1 << 20))
    }
}

impl super::Settings {
    /// How long audit cases and dead letters are kept (`None`: forever): `[storage]
    /// audit_retention` (the older key) when set, else `[audit] retention`.
    #[must_use]
    pub fn audit_retention(&self) -> Option<std::time::Duration> {
        let retention = self.storage.audit_retention.unwrap_or(self.audit.retention);
        (retention.as_secs() > 0).then(|| retention.get())
    }

    /// The problems of `[limits]` and of the storage sizes.
    pub(crate) fn limits_issues(&self) -> Vec<super::ConfigIssue> {
        let mut issues: Vec<super::ConfigIssue> = self
            .limits
            .issues()
            .into_iter()
            .map(|(key, reason)| super::ConfigIssue { key, reason })
            .collect();
        let cache = self.storage.cache_bytes();
        if !(MIN_CACHE..=MAX_CACHE).contains(&cache) {
            let key = if self.storage.cache_mib.is_some() {
                "storage.cache_mib"
            } else {
                "storage.cache_capacity"
            };
            issues.push(super::ConfigIssue {
                key: key.into(),
                reason: format!(
                    "{} is outside {}..={}",
                    ByteSize(cache),
                    ByteSize(MIN_CACHE),
                    ByteSize(MAX_CACHE)
                ),
            });
        }
        if !HOT_CASES.contains(&self.audit.hot_cases) {
            issues.push(super::ConfigIssue {
                key: "audit.hot_cases".into(),
                reason: format!("must be within {}..={}", HOT_CASES.start(), HOT_CASES.end()),
            });
        }
        if self.storage.sweep_every.as_secs() < 10 {
            issues.push(super::ConfigIssue {
                key: "storage.sweep_every".into(),
                reason: "must be at least 10s".into(),
            });
        }
        issues
    }
}

/// The smallest and largest `[storage] cache_capacity`.
const MIN_CACHE: u64 = 1 << 20;
const MAX_CACHE: u64 = 64 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units_and_print_back() {
        let cases = [
            ("8MiB", 8 << 20),
            ("8 MiB", 8 << 20),
            ("512KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("16mb", 16_000_000),
            ("4096", 4096),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>().map(|b| b.0), Ok(bytes), "{text}");
        }
        assert_eq!(ByteSize::mib(8).to_string(), "8MiB");
        assert_eq!(ByteSize(1536 << 10).to_string(), "1536KiB");
        assert_eq!(ByteSize(100).to_string(), "100B");
        for bad in ["", "MiB", "8 parsecs", "-1", "99999999999999GiB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_are_valid_and_out_of_range_values_name_their_key() {
        assert!(LimitsSettings::default().issues().is_empty());
        let limits = LimitsSettings {
            name_chars: 0,
            outbox_messages_per_group: 1,
            ..LimitsSettings::default()
        };
        let keys: Vec<String> = limits.issues().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["limits.name_chars", "limits.outbox_messages_per_group"]);
    }

    fn load(pairs: &[(&str, &str)]) -> Result<super::super::Settings, super::super::ConfigError> {
        let env = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        super::super::Settings::load_with_env(None, Some(env))
    }

    #[test]
    fn the_cache_and_the_audit_retention_read_their_new_and_older_keys() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s.storage.cache_bytes(), 2 << 20);
        assert_eq!(s.audit_retention(), Some(std::time::Duration::from_secs(180 * 86_400)));
        let s = load(&[
            ("QUNGUAN__STORAGE__CACHE_CAPACITY", "16MiB"),
            ("QUNGUAN__AUDIT__RETENTION", "30d"),
        ])
        .expect("valid");
        assert_eq!(s.storage.cache_bytes(), 16 << 20);
        assert_eq!(s.audit_retention(), Some(std::time::Duration::from_secs(30 * 86_400)));
        // The older keys win when set.
        let s = load(&[
            ("QUNGUAN__STORAGE__CACHE_CAPACITY", "16MiB"),
            ("QUNGUAN__STORAGE__CACHE_MIB", "4"),
            ("QUNGUAN__AUDIT__RETENTION", "30d"),
            ("QUNGUAN__STORAGE__AUDIT_RETENTION", "0s"),
        ])
        .expect("valid");
        assert_eq!(s.storage.cache_bytes(), 4 << 20);
        assert_eq!(s.audit_retention(), None, "0s keeps the audit forever");
        assert_eq!(s.audit.hot_cases, 32, "the default");
        let s = load(&[("QUNGUAN__AUDIT__HOT_CASES", "5")]).expect("valid");
        assert_eq!(s.audit.hot_cases, 5);
        let s = load(&[("QUNGUAN__STORAGE__CACHE_CAPACITY", "1048576")]).expect("bytes");
        assert_eq!(s.storage.cache_bytes(), 1 << 20);
    }

    #[test]
    fn bad_sizes_and_limits_name_their_key() {
        let cases = [
            ("QUNGUAN__STORAGE__CACHE_CAPACITY", "8 parsecs", "cache_capacity"),
            ("QUNGUAN__STORAGE__CACHE_CAPACITY", "100KiB", "storage.cache_capacity"),
            ("QUNGUAN__STORAGE__CACHE_MIB", "0", "storage.cache_mib"),
            ("QUNGUAN__STORAGE__SWEEP_EVERY", "1s", "storage.sweep_every"),
            ("QUNGUAN__AUDIT__HOT_CASES", "0", "audit.hot_cases"),
            ("QUNGUAN__LIMITS__NAME_CHARS", "2", "limits.name_chars"),
            ("QUNGUAN__LIMITS__FLOOD_MEMBERS", "many", "flood_members"),
            ("QUNGUAN__LIMITS__MAX_NAMES", "3", "max_names"),
        ];
        for (key, value, named) in cases {
            let err = load(&[(key, value)]).expect_err(value).to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }
}
