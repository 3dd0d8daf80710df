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
    /// `{timeout}` how long they have, `{bot}` the bot's account. Empty = the built-in text of
    /// `[messages] locale`.
    pub prompt: String,
    /// The question posted to a newcomer muted on QQ, who cannot post in the group and answers
    /// by private message to the bot: the placeholders of `prompt`; `{bot}` tells them whom to
    /// write to. Empty = the built-in text.
    pub private_prompt: String,
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
        let file = write(
            "[verify]\ntimeout = \"2m\"\n[groups.100.verify]\nenabled = true\nmode = \"Arithmetic\"\nbutton = true\n",
        );
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        let policies = s.policies();
        let gated = &policies.group(GroupId::qq(100)).gate;
        assert!(gated.enabled && gated.mute && gated.button);
        assert_eq!(gated.mode, GateMode::Arithmetic);
        assert_eq!(gated.timeout.as_secs(), 120, "inherited");
        assert!(!policies.group(GroupId::qq(200)).gate.enabled);
    }

    #[test]
    fn bad_verify_values_name_their_keys() {
        for (toml, key) in [
            ("[verify]\ntimeout = \"5s\"\n", "verify.timeout"),
            ("[verify]\nmode = \"captcha\"\n", "mode"),
            ("[groups.1.verify]\ntimeout = \"30d\"\n", "groups.1.verify.timeout"),
            ("[groups.1.verify]\nenable = true\n", "enable"),
        ] {
            let file = write(toml);
            let e = Settings::load_with_env(Some(file.path()), env(&[]))
                .expect_err(toml)
                .to_string();
            assert!(e.contains(key), "{toml}: {e}");
        }
    }
}
