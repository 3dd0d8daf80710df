//! `[moderation]`, `[admin]` and the per-group overrides `[groups.<id>]`: the strike ladder,
//! the flood limits and who is never punished.

use serde::Deserialize;

use super::join_requests::JoinRequestOverride;
use super::welcome::WelcomeOverride;
use crate::domain::duration::HumanDuration;
use crate::domain::event::UserRef;
use crate::policy::flood::FloodSettings;
use crate::policy::ladder::Rung;

/// `[moderation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationSettings {
    /// What the 1st, 2nd, 3rd … strike does. The last rung repeats for further strikes.
    pub ladder: Vec<Rung>,
    /// A strike counts for this long after it was given (a sliding window).
    pub strike_ttl: HumanDuration,
    /// Decide, log and audit, but send nothing (observe-only, for tuning the rules).
    #[serde(deserialize_with = "super::strict::bool")]
    pub dry_run: bool,
    /// Anti-flood limits (rule `flood`).
    pub flood: FloodSettings,
    /// What the group is told when a strike reaches each rung.
    pub notices: super::NoticesSettings,
}

impl Default for ModerationSettings {
    fn default() -> Self {
        Self {
            ladder: vec![Rung::Warn, Rung::Mute(HumanDuration::from_secs(600)), Rung::Kick],
            strike_ttl: HumanDuration::from_secs(30 * 86_400),
            dry_run: false,
            flood: FloodSettings::default(),
            notices: super::NoticesSettings::default(),
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
    #[serde(default, deserialize_with = "super::strict::option_bool")]
    pub dry_run: Option<bool>,
    /// The group's own flood limits.
    pub flood: FloodOverride,
    /// The group's own welcome.
    pub welcome: WelcomeOverride,
    /// The group's own join-request screening.
    pub join_requests: JoinRequestOverride,
    /// The group's own gate at the door.
    pub verify: super::VerifyOverride,
}

/// `[admin]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Users who may run admin commands in every group, and whom the bot never punishes:
    /// `10001` (QQ), `"qq:10001"` or `"tg:123456789"`.
    pub super_users: Vec<UserRef>,
}

/// Checks a ladder: at least one rung, no mute longer than `(max_secs, why)` allows.
pub(super) fn check_ladder(
    key: &str,
    ladder: &[Rung],
    (max_secs, limit_by): (u64, &str),
    issue: &mut impl FnMut(&str, String),
) {
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

/// Checks flood limits: each 0 (off) or at least 2, a window while on, within what the flood
/// tracker keeps.
pub(super) fn check_flood(key: &str, flood: &FloodSettings, issue: &mut impl FnMut(&str, String)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::config::test_support::{TG_TOKEN, env, write};

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
    fn rungs_parse_and_print() {
        for text in ["warn", "mute 10m", "kick", "ban", "mute 1h30m"] {
            let rung: Rung = text.parse().expect(text);
            assert_eq!(rung.to_string(), text);
        }
        assert!("mute".parse::<Rung>().is_err());
        assert!("mute 0s".parse::<Rung>().is_err());
        assert!("smite".parse::<Rung>().is_err());
    }
}
