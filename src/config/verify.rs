//! `[verify]` and its per-group override: the gate at the door (入群验证).
//!
//! Off by default. A group that turns it on mutes each newcomer, asks a question from
//! `rules/verify.toml` (or a generated arithmetic one) and removes them when no correct answer
//! comes within `timeout`; see `policy::gate` for the decisions and `service::gate` for how a
//! pending gate is kept.

use serde::{Deserialize, Deserializer};

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;
use crate::policy::gate::GateMode;

/// The shortest `timeout`: a newcomer needs time to read and type.
pub const MIN_TIMEOUT_SECS: u64 = 30;
/// The longest `timeout`: the newcomer is muted for it, and QQ mutes end within 30 days.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 86_400;
/// The most `max_tries`: more is as good as unlimited (0), and the count is kept per gate.
pub const MAX_TRIES: u32 = 20;
/// The longest button notice (`button_passed`, …): Telegram's limit for a press's answer.
pub const MAX_NOTICE_CHARS: usize = 200;

/// `[verify]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySettings {
    /// Gate every group (a group's `[groups.<id>.verify] enabled` wins).
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// How long a newcomer has to answer before they are removed.
    pub timeout: HumanDuration,
    /// `question` (from `rules/verify.toml`; arithmetic when the file has none) or
    /// `arithmetic`.
    #[serde(deserialize_with = "mode")]
    pub mode: GateMode,
    /// Mute the newcomer until they answer (QQ `set_group_ban`, Telegram
    /// `restrictChatMember`), for the timeout plus a minute. A muted member cannot post in the
    /// group, so on QQ they are asked to answer by private message to the bot.
    #[serde(deserialize_with = "super::strict::bool")]
    pub mute: bool,
    /// Telegram: put a button ("我不是机器人") under the question; the newcomer passes by
    /// pressing it (a restricted member can press buttons, not post). Typed answers still
    /// count. QQ has no buttons and always asks for a typed answer.
    #[serde(deserialize_with = "super::strict::bool")]
    pub button: bool,
    /// The question posted: `{at}` mentions the newcomer, `{question}` is the question,
    /// `{timeout}` how long they have, `{bot}` the bot's account, `{tries}` how many wrong
    /// answers remove them. Empty = the built-in text of `[messages] locale`.
    pub prompt: String,
    /// The question posted to a newcomer muted on QQ, who cannot post in the group and answers
    /// by private message to the bot: the placeholders of `prompt`; `{bot}` tells them whom to
    /// write to. Empty = the built-in text.
    pub private_prompt: String,
    /// Wrong answers a newcomer may give before they are removed, exactly as at the deadline
    /// (their messages recalled, then the kick); 0 = unlimited (only the deadline removes).
    /// At most [`MAX_TRIES`].
    pub max_tries: u32,
    /// Telegram: the short notice shown to a newcomer who pressed their own button and is let
    /// in. Empty = the built-in text (验证通过，欢迎入群！).
    pub button_passed: String,
    /// Telegram: the notice shown to a member who pressed someone else's button. Empty = the
    /// built-in text.
    pub button_not_yours: String,
    /// Telegram: the notice shown for a press of a button whose gate has ended (passed, timed
    /// out, or the member left). Empty = the built-in text.
    pub button_expired: String,
}

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            timeout: HumanDuration::from_secs(300),
            mode: GateMode::Question,
            mute: true,
            button: false,
            prompt: String::new(),
            private_prompt: String::new(),
            max_tries: 3,
            button_passed: String::new(),
            button_not_yours: String::new(),
            button_expired: String::new(),
        }
    }
}

/// `[groups.<id>.verify]`: a group's changes to `[verify]`; unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyOverride {
    /// See [`VerifySettings::enabled`].
    #[serde(default, deserialize_with = "super::strict::option_bool")]
    pub enabled: Option<bool>,
    /// See [`VerifySettings::timeout`].
    pub timeout: Option<HumanDuration>,
    /// See [`VerifySettings::mode`].
    #[serde(default, deserialize_with = "option_mode")]
    pub mode: Option<GateMode>,
    /// See [`VerifySettings::mute`].
    #[serde(default, deserialize_with = "super::strict::option_bool")]
    pub mute: Option<bool>,
    /// See [`VerifySettings::button`].
    #[serde(default, deserialize_with = "super::strict::option_bool")]
    pub button: Option<bool>,
    /// See [`VerifySettings::max_tries`].
    pub max_tries: Option<u32>,
}

const MODES: &[(&str, GateMode)] = &[("question", GateMode::Question), ("arithmetic", GateMode::Arithmetic)];

fn mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<GateMode, D::Error> {
    super::strict::choice(deserializer, MODES)
}

fn option_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<GateMode>, D::Error> {
    mode(deserializer).map(Some)
}

impl Settings {
    /// The problems of `[verify]` and the groups' `verify` overrides.
    pub(super) fn verify_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut check = |key: String, timeout: HumanDuration| {
            if !(MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&timeout.as_secs()) {
                issues.push(ConfigIssue {
                    key,
                    reason: format!(
                        "{timeout} is outside {}..={}",
                        HumanDuration::from_secs(MIN_TIMEOUT_SECS),
                        HumanDuration::from_secs(MAX_TIMEOUT_SECS)
                    ),
                });
            }
        };
        check("verify.timeout".into(), self.verify.timeout);
        for (name, group) in &self.groups {
            if let Some(timeout) = group.verify.timeout {
                check(format!("groups.{name}.verify.timeout"), timeout);
            }
        }
        let mut tries = |key: String, n: u32| {
            if n > MAX_TRIES {
                issues.push(ConfigIssue {
                    key,
                    reason: format!("{n} is above {MAX_TRIES} (0 = unlimited)"),
                });
            }
        };
        tries("verify.max_tries".into(), self.verify.max_tries);
        for (name, group) in &self.groups {
            if let Some(n) = group.verify.max_tries {
                tries(format!("groups.{name}.verify.max_tries"), n);
            }
        }
        for (key, text) in [
            ("verify.button_passed", &self.verify.button_passed),
            ("verify.button_not_yours", &self.verify.button_not_yours),
            ("verify.button_expired", &self.verify.button_expired),
        ] {
            let chars = text.chars().count();
            if chars > MAX_NOTICE_CHARS {
                issues.push(ConfigIssue {
                    key: key.into(),
                    reason: format!("{chars} characters; Telegram shows at most {MAX_NOTICE_CHARS}"),
                });
            }
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{env, write};
    use super::*;
    use crate::domain::event::GroupId;

    #[test]
    fn verify_is_off_by_default_and_a_group_opts_in_key_by_key() {
        let s = Settings::default();
        assert!(!s.verify.enabled);
        assert_eq!(s.verify.timeout.as_secs(), 300);
        assert_eq!(s.verify.max_tries, 3);
        let file = write(
            "[verify]\ntimeout = \"2m\"\nmax_tries = 5\n[groups.100.verify]\nenabled = true\nmode = \"Arithmetic\"\nbutton = true\n[groups.200.verify]\nmax_tries = 0\n",
        );
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        let policies = s.policies();
        let gated = &policies.group(GroupId::qq(100)).gate;
        assert!(gated.enabled && gated.mute && gated.button);
        assert_eq!(gated.mode, GateMode::Arithmetic);
        assert_eq!(gated.timeout.as_secs(), 120, "inherited");
        assert_eq!(gated.max_tries, 5, "inherited");
        let unlimited = &policies.group(GroupId::qq(200)).gate;
        assert!(!unlimited.enabled);
        assert_eq!(unlimited.max_tries, 0);
    }

    #[test]
    fn bad_verify_values_name_their_keys() {
        for (toml, key) in [
            ("[verify]\ntimeout = \"5s\"\n", "verify.timeout"),
            ("[verify]\nmode = \"captcha\"\n", "mode"),
            ("[groups.1.verify]\ntimeout = \"30d\"\n", "groups.1.verify.timeout"),
            ("[groups.1.verify]\nenable = true\n", "enable"),
            ("[verify]\nmax_tries = 21\n", "verify.max_tries"),
            ("[verify]\nmax_tries = -1\n", "max_tries"),
            ("[groups.1.verify]\nmax_tries = 99\n", "groups.1.verify.max_tries"),
        ] {
            let file = write(toml);
            let e = Settings::load_with_env(Some(file.path()), env(&[]))
                .expect_err(toml)
                .to_string();
            assert!(e.contains(key), "{toml}: {e}");
        }
        let long = write(&format!("[verify]\nbutton_expired = \"{}\"\n", "太".repeat(201)));
        let e = Settings::load_with_env(Some(long.path()), env(&[]))
            .expect_err("too long")
            .to_string();
        assert!(e.contains("verify.button_expired") && e.contains("201"), "{e}");
    }
}
