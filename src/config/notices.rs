//! `[moderation.notices]`: what the group is told when a strike reaches a rung.
//!
//! Every rung posts a short notice after its action, so the group learns why a member went
//! quiet or left (`@小明 因「ads」第2次违规，禁言10分钟。`). Each rung has its own table:
//!
//! ```toml
//! [moderation.notices.mute]
//! enabled = true      # false: the mute happens without a word
//! text = ""           # "" = the built-in text of [messages] locale
//! ```
//!
//! A text may use `{at}` (a mention of the member), `{name}`, `{rule}`, `{count}` (the
//! member's strikes, this one included), `{limit}` (the ladder's rungs) and `{duration}` (a
//! mute's length). The `warn` rung's built-in text is the warning with the count
//! (`第1次警告 (1/3)`); the others name the measure.

use serde::Deserialize;

use crate::domain::action::OutgoingMessage;
use crate::domain::audit::Measure;
use crate::domain::locale::Locale;
use crate::policy::i18n;

/// `[moderation.notices]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticesSettings {
    /// The warning of a `warn` rung.
    pub warn: NoticeSettings,
    /// The notice of a `mute` rung.
    pub mute: NoticeSettings,
    /// The notice of a `kick` rung (and of a rule whose action is `kick`).
    pub kick: NoticeSettings,
    /// The notice of a `ban` rung.
    pub ban: NoticeSettings,
}

/// `[moderation.notices.<rung>]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeSettings {
    /// Post the notice.
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// Its template; empty = the built-in text of `[messages] locale`.
    pub text: String,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            text: String::new(),
        }
    }
}

/// What one notice is about.
#[derive(Clone, Copy, Debug)]
pub struct Struck<'a> {
    /// The member.
    pub user_id: i64,
    /// Their name (may be empty).
    pub name: &'a str,
    /// The rule they broke, as members read it.
    pub rule: &'a str,
    /// Their strikes, this one included; `None` when the rule acts without the ladder (a
    /// `kick` rule).
    pub count: Option<u32>,
    /// Rungs of the ladder.
    pub limit: u32,
}

impl NoticesSettings {
    /// The notice for `measure` (`None` when it is switched off, or the measure has no rung
    /// of its own: recall, unmute …).
    #[must_use]
    pub fn render(&self, locale: Locale, measure: Measure, struck: &Struck<'_>) -> Option<OutgoingMessage> {
        let (notice, duration) = match measure {
            Measure::Warn => (&self.warn, None),
            Measure::Mute { seconds } => (&self.mute, Some(i18n::duration(locale, seconds))),
            Measure::Kick => (&self.kick, None),
            Measure::Ban => (&self.ban, None),
            _ => return None,
        };
        if !notice.enabled {
            return None;
        }
        if notice.text.is_empty() && measure == Measure::Warn {
            // The built-in warning says the count against the ladder, and why.
            let reason = i18n::reason_rule(locale, struck.rule);
            let count = struck.count.unwrap_or(1);
            return Some(i18n::warning(
                locale,
                struck.user_id,
                struck.name,
                &reason,
                count.min(struck.limit),
                struck.limit,
            ));
        }
        let template = if notice.text.is_empty() {
            i18n::rung_notice_template(locale, measure, struck.count.is_some())
        } else {
            notice.text.as_str()
        };
        let count = struck.count.map(|n| n.to_string()).unwrap_or_default();
        let limit = struck.limit.to_string();
        Some(i18n::render_mentions(
            template,
            &[(struck.user_id, struck.name)],
            &[
                ("name", struck.name),
                ("rule", struck.rule),
                ("count", &count),
                ("limit", &limit),
                ("duration", duration.as_deref().unwrap_or_default()),
            ],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::config::test_support::{env, write};

    fn struck(count: Option<u32>) -> Struck<'static> {
        Struck {
            user_id: 7,
            name: "小明",
            rule: "ads",
            count,
            limit: 3,
        }
    }

    #[test]
    fn every_rung_has_a_built_in_notice_in_both_languages() {
        let notices = NoticesSettings::default();
        let text = |locale, measure, count| {
            notices
                .render(locale, measure, &struck(count))
                .expect("on by default")
                .plain_text()
        };
        let mute = Measure::Mute { seconds: 600 };
        assert_eq!(
            text(Locale::ZhCn, mute, Some(2)),
            "@小明 因「ads」第2次违规，禁言10分钟。"
        );
        assert_eq!(
            text(Locale::ZhCn, Measure::Kick, Some(3)),
            "@小明 因「ads」第3次违规，已被移出本群。"
        );
        assert_eq!(
            text(Locale::ZhCn, Measure::Ban, Some(3)),
            "@小明 因「ads」第3次违规，已被移出本群，且不能再加入。"
        );
        assert_eq!(text(Locale::ZhCn, Measure::Kick, None), "@小明 因「ads」已被移出本群。");
        assert!(text(Locale::ZhCn, Measure::Warn, Some(1)).contains("第1次警告 (1/3)"));
        assert_eq!(
            text(Locale::En, mute, Some(2)),
            "@小明 is muted for 10 min after violation 2 (\"ads\")."
        );
        assert_eq!(
            text(Locale::En, Measure::Kick, Some(3)),
            "@小明 was removed from the group after violation 3 (\"ads\")."
        );
        assert!(notices.render(Locale::ZhCn, Measure::Recall, &struck(None)).is_none());
    }

    #[test]
    fn each_rung_can_be_reworded_or_switched_off_from_the_file_and_the_environment() {
        let file = write(
            "[moderation.notices.mute]\ntext = \"{at} 请冷静{duration}（{rule}，第{count}/{limit}次）\"\n\
             [moderation.notices.warn]\nenabled = false\n",
        );
        let s = Settings::load_with_env(
            Some(file.path()),
            env(&[("QUNGUAN__MODERATION__NOTICES__KICK__ENABLED", "false")]),
        )
        .expect("valid");
        let notices = &s.moderation.notices;
        let mute = notices
            .render(Locale::ZhCn, Measure::Mute { seconds: 3600 }, &struck(Some(2)))
            .expect("on");
        assert_eq!(mute.plain_text(), "@小明 请冷静1小时（ads，第2/3次）");
        for measure in [Measure::Warn, Measure::Kick] {
            assert!(
                notices.render(Locale::ZhCn, measure, &struck(Some(1))).is_none(),
                "{measure:?}"
            );
        }
        assert!(notices.render(Locale::ZhCn, Measure::Ban, &struck(Some(3))).is_some());
    }
}
