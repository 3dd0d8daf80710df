//! [`Settings::validate`]: what deserialisation cannot check — URLs, paths, a non-empty
//! ladder, unsigned webhooks on a public address, limits that depend on other sections. Every
//! problem is reported with its dotted key, all at once rather than the first only.
//!
//! A section's own checks live beside the section (`gateway.rs`, `inactivity.rs`, the ladder and
//! flood checks in `moderation.rs`, the answers check in `join_requests.rs`); this file runs them
//! in a fixed order and holds the checks that span sections.

use super::Settings;
use super::join_requests::check_answers;
use super::moderation::{check_flood, check_ladder};
use crate::domain::action::{ActionKind, MAX_MUTE_SECS, TELEGRAM_MAX_MUTE_SECS};
use crate::domain::duration::HumanDuration;
use crate::domain::event::GroupId;

/// A configuration problem, with the dotted key (or file) it concerns and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigIssue {
    /// Dotted key such as `gateway.onebot.api_root`, or the config file for syntax errors.
    pub key: String,
    /// What is wrong and, where possible, what to write instead.
    pub reason: String,
}

impl Settings {
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
        self.onebot_issues(&mut issue);
        let onebot = &self.gateway.onebot;
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
        if self.outbox.early_recalls > 65_536 {
            issue("outbox.early_recalls", "must be between 0 (off) and 65536".into());
        }
        if self.storage.seen_ttl.as_secs() < 60 {
            issue(
                "storage.seen_ttl",
                "must be at least 1m, or redelivered events could act twice".into(),
            );
        }
        if self.storage.flush_linger_us > 50_000 {
            issue("storage.flush_linger_us", "must be between 0 (off) and 50000".into());
        }
        if self.storage.flush_linger_waiters == 0 || self.storage.flush_linger_waiters > 4096 {
            issue("storage.flush_linger_waiters", "must be between 1 and 4096".into());
        }
        if self.storage.compact_growth == 1 || self.storage.compact_growth > 1000 {
            issue(
                "storage.compact_growth",
                "must be 0 (never compact) or between 2 and 1000".into(),
            );
        }
        if self.storage.compact_min.0 < 1 << 20 {
            issue("storage.compact_min", "must be at least 1MiB".into());
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
        issues.extend(self.engagement_issues());
        issues.extend(self.telegram_issues());
        issues.extend(self.console_issues());
        issues.extend(self.limits_issues());
        issues.extend(self.robustness_issues());
        issues.extend(self.trust_issues());
        issues.extend(self.learning_issues());
        issues.extend(self.verify_issues());
        issues.extend(self.bans_issues());
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
}

/// The widest `[schedule] jitter`.
const MAX_JITTER: std::time::Duration = std::time::Duration::from_secs(600);
/// The longest `[welcome] batch_window`.
const MAX_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// Why a URL setting is not one qunguan can call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum UrlProblem {
    /// Neither `http://` nor `https://`.
    #[error("{0:?} must start with http:// or https://")]
    Scheme(String),
    /// Nothing after the scheme but slashes.
    #[error("{0:?} has no host")]
    NoHost(String),
}

/// Checks a URL setting: `http://` or `https://`, then a host.
pub(super) fn check_http_url(url: &str) -> Result<(), UrlProblem> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| UrlProblem::Scheme(url.to_owned()))?;
    if rest.trim_end_matches('/').is_empty() {
        return Err(UrlProblem::NoHost(url.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{env, write};

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
            ("[outbox]\nearly_recalls = 70000\n", "outbox.early_recalls"),
            ("[storage]\nseen_ttl = \"10s\"\n", "storage.seen_ttl"),
            ("[storage]\nflush_linger_us = 60000\n", "storage.flush_linger_us"),
            ("[storage]\nflush_linger_waiters = 0\n", "storage.flush_linger_waiters"),
            ("[storage]\ncompact_growth = 1\n", "storage.compact_growth"),
            ("[storage]\ncompact_growth = 5000\n", "storage.compact_growth"),
            ("[storage]\ncompact_min = \"100KiB\"\n", "storage.compact_min"),
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
}
