//! `[engagement]`: daily check-in (打卡), points (积分), leaderboards (排行), keyword answers
//! (关键词回复) and member tiers with alerts, and the checks of those settings.
//!
//! Days, weeks (Monday to Sunday) and months are those of the group's time zone, `[stats]
//! timezone`, the zone the statistics and the demo use too.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;
use crate::policy::i18n::{BoardTexts, FaqTexts, OptoutTexts, PointsTexts};

/// `[engagement]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngagementSettings {
    /// Check-in, points, boards, keyword answers and tier alerts; `false` turns them all off
    /// (their commands are then ordinary messages).
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// Points for one check-in (`/签到`).
    pub checkin_points: u32,
    /// Bonuses for reaching a check-in streak, `"days:points"`, e.g. `["7:10", "30:50"]`.
    pub streak_bonus: Vec<String>,
    /// Points for one message the filter let through.
    pub message_points: u32,
    /// The most points one member earns by messages in one day.
    pub message_points_daily_cap: u32,
    /// Points taken away for each strike (`0`: none).
    pub strike_penalty: u32,
    /// How many members a leaderboard shows.
    pub board_size: usize,
    /// A keyword of `rules/replies.toml` without its own `cooldown` is answered at most once
    /// per this time per group.
    pub faq_cooldown: HumanDuration,
    /// Core members are active on at least this many of the last 7 days.
    pub core_days: u32,
    /// Members silent this long are lurking (潜水).
    pub lurking_after: HumanDuration,
    /// Members silent this long are dormant.
    pub dormant_after: HumanDuration,
    /// The tier alert counts members silent this long …
    pub alert_silent_for: HumanDuration,
    /// … and tells the admins when their share of the group's members passes this percentage
    /// (`0`: no alerts).
    pub alert_percent: u32,
    /// Groups with fewer tracked members than this get no alert.
    pub alert_min_members: usize,
    /// How often the tier alert is looked at (at most one alert per group per day).
    pub check_every: HumanDuration,
    /// A member's record (points, streak) is deleted after this long without a message or a
    /// check-in; `0s` keeps records forever.
    pub retention: HumanDuration,
    /// The answer to a check-in; empty = the built-in text of `[messages] locale`.
    /// Placeholders: `{at}` (a mention), `{name}`, `{streak}`, `{points}`, `{bonus}`, `{rank}`,
    /// `{total}`.
    pub checkin_template: String,
    /// The answer to a second check-in the same day; empty = built-in. Placeholders: `{at}`,
    /// `{name}`, `{streak}`.
    pub checkin_again_template: String,
    /// The tier alert; empty = built-in. Placeholders: `{at}` (the admins), `{percent}`,
    /// `{silent}`, `{members}`, `{days}`.
    pub alert_template: String,
    /// The answer to `/积分`; empty = built-in. Placeholders: `{at}`, `{name}`, `{points}`,
    /// `{rank}`.
    pub points_template: String,
    /// The answer to `/积分` about a member who opted out; empty = built-in. Placeholders:
    /// `{at}`, `{name}`.
    pub points_hidden_template: String,
    /// The answer to `/加分` and `/扣分`; empty = built-in. Placeholders: `{at}`, `{change}`
    /// (signed), `{total}`, `{reason}`, `{case}`.
    pub points_adjusted_template: String,
    /// The title of the week's board (`/排行`, the scheduled post); empty = built-in.
    pub board_week_title: String,
    /// The title of the month's board (`/排行 月`); empty = built-in.
    pub board_month_title: String,
    /// One row of a board; empty = built-in. Placeholders: `{rank}`, `{name}`, `{points}`.
    pub board_row_template: String,
    /// A board nobody is on yet; empty = built-in. Placeholder: `{title}`.
    pub board_empty_template: String,
    /// The answer to `/问答 add`; empty = built-in. Placeholders: `{number}`, `{keyword}`.
    pub faq_added_template: String,
    /// The answer to `/问答 del`; empty = built-in. Placeholder: `{number}`.
    pub faq_deleted_template: String,
    /// The answer to `/问答 del` of a number the group does not have; empty = built-in.
    /// Placeholder: `{number}`.
    pub faq_missing_template: String,
    /// The answer to `/问答 add` when the group has the most answers it may; empty =
    /// built-in. Placeholder: `{max}`.
    pub faq_full_template: String,
    /// The first line of `/问答 list`; empty = built-in.
    pub faq_list_title: String,
    /// One line of `/问答 list`; empty = built-in. Placeholders: `{label}` (`#3` for the
    /// group's own, `[id]` for `rules/replies.toml`), `{keywords}`, `{answer}`.
    pub faq_list_row_template: String,
    /// `/问答 list` with nothing to list; empty = built-in.
    pub faq_list_empty_template: String,
    /// The answer to `/退出积分` when the member leaves the boards and alerts; empty =
    /// built-in. Placeholders: `{at}`, `{name}`.
    pub optout_template: String,
    /// The answer to `/退出积分` when the member comes back; empty = built-in. Placeholders:
    /// `{at}`, `{name}`.
    pub optin_template: String,
    /// The member tiers line of `/stats`; empty = built-in. Placeholders: `{core}`,
    /// `{active}`, `{lurking}`, `{dormant}` (a count with its change over the week, `12
    /// (+3)`) and `{tiers}` (the built-in list of all four).
    pub tiers_template: String,
}

impl Default for EngagementSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            checkin_points: 5,
            streak_bonus: vec!["7:10".into(), "30:50".into()],
            message_points: 1,
            message_points_daily_cap: 20,
            strike_penalty: 10,
            board_size: 10,
            faq_cooldown: HumanDuration::from_secs(60),
            core_days: 5,
            lurking_after: HumanDuration::from_secs(7 * 86_400),
            dormant_after: HumanDuration::from_secs(30 * 86_400),
            alert_silent_for: HumanDuration::from_secs(3 * 86_400),
            alert_percent: 40,
            alert_min_members: 10,
            check_every: HumanDuration::from_secs(3_600),
            retention: HumanDuration::from_secs(400 * 86_400),
            checkin_template: String::new(),
            checkin_again_template: String::new(),
            alert_template: String::new(),
            points_template: String::new(),
            points_hidden_template: String::new(),
            points_adjusted_template: String::new(),
            board_week_title: String::new(),
            board_month_title: String::new(),
            board_row_template: String::new(),
            board_empty_template: String::new(),
            faq_added_template: String::new(),
            faq_deleted_template: String::new(),
            faq_missing_template: String::new(),
            faq_full_template: String::new(),
            faq_list_title: String::new(),
            faq_list_row_template: String::new(),
            faq_list_empty_template: String::new(),
            optout_template: String::new(),
            optin_template: String::new(),
            tiers_template: String::new(),
        }
    }
}

/// Reads one `streak_bonus` entry, `"days:points"`.
fn bonus(entry: &str) -> Option<(u32, u32)> {
    let (days, points) = entry.split_once([':', '：'])?;
    let days: u32 = days.trim().parse().ok()?;
    let points: u32 = points.trim().parse().ok()?;
    (days >= 2).then_some((days, points))
}

impl EngagementSettings {
    /// The operator's `/积分`, `/加分` and `/扣分` texts.
    #[must_use]
    pub fn points_texts(&self) -> PointsTexts<'_> {
        PointsTexts {
            shown: &self.points_template,
            hidden: &self.points_hidden_template,
            adjusted: &self.points_adjusted_template,
        }
    }

    /// The operator's leaderboard texts.
    #[must_use]
    pub fn board_texts(&self) -> BoardTexts<'_> {
        BoardTexts {
            week_title: &self.board_week_title,
            month_title: &self.board_month_title,
            row: &self.board_row_template,
            empty: &self.board_empty_template,
        }
    }

    /// The operator's `/退出积分` texts.
    #[must_use]
    pub fn optout_texts(&self) -> OptoutTexts<'_> {
        OptoutTexts {
            out: &self.optout_template,
            back: &self.optin_template,
        }
    }

    /// The operator's `/问答` texts.
    #[must_use]
    pub fn faq_texts(&self) -> FaqTexts<'_> {
        FaqTexts {
            added: &self.faq_added_template,
            deleted: &self.faq_deleted_template,
            missing: &self.faq_missing_template,
            full: &self.faq_full_template,
            list_title: &self.faq_list_title,
            list_row: &self.faq_list_row_template,
            list_empty: &self.faq_list_empty_template,
        }
    }

    /// The streak bonuses as (days, points); entries that do not read are left out (they are
    /// reported by the validation).
    #[must_use]
    pub fn bonuses(&self) -> Vec<(u32, u32)> {
        self.streak_bonus.iter().filter_map(|e| bonus(e)).collect()
    }

    /// Whole days of a duration setting.
    #[must_use]
    pub fn days(d: HumanDuration) -> u32 {
        u32::try_from(d.as_secs() / 86_400).unwrap_or(u32::MAX)
    }

    /// How often the alert check runs.
    #[must_use]
    pub fn check_every(&self) -> Duration {
        self.check_every.get()
    }
}

impl Settings {
    /// The problems of `[engagement]`.
    pub(super) fn engagement_issues(&self) -> Vec<ConfigIssue> {
        let e = &self.engagement;
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: format!("engagement.{key}"),
                reason,
            });
        };
        for (i, entry) in e.streak_bonus.iter().enumerate() {
            if bonus(entry).is_none() {
                issue(
                    &format!("streak_bonus[{i}]"),
                    format!("{entry:?} is not \"days:points\" with days at least 2, e.g. \"7:10\""),
                );
            }
        }
        if e.board_size == 0 || e.board_size > 50 {
            issue("board_size", format!("{} must be between 1 and 50", e.board_size));
        }
        if e.core_days == 0 || e.core_days > 7 {
            issue("core_days", format!("{} must be between 1 and 7", e.core_days));
        }
        if e.lurking_after.as_secs() < 86_400 {
            issue("lurking_after", format!("\"{}\" must be at least 1d", e.lurking_after));
        }
        if e.dormant_after <= e.lurking_after {
            issue(
                "dormant_after",
                format!(
                    "\"{}\" must be longer than lurking_after (\"{}\")",
                    e.dormant_after, e.lurking_after
                ),
            );
        }
        if e.alert_silent_for.as_secs() < 86_400 {
            issue(
                "alert_silent_for",
                format!("\"{}\" must be at least 1d", e.alert_silent_for),
            );
        }
        if e.alert_percent > 100 {
            issue(
                "alert_percent",
                format!("{} must be between 0 and 100", e.alert_percent),
            );
        }
        if e.retention.as_secs() > 0 && e.retention.as_secs() < 30 * 86_400 {
            issue(
                "retention",
                format!(
                    "\"{}\" is shorter than 30d; use \"0s\" to keep records forever",
                    e.retention
                ),
            );
        }
        if e.check_every.as_secs() < 60 {
            issue("check_every", format!("\"{}\" must be at least 1m", e.check_every));
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::config::test_support::{env, write};

    #[test]
    fn engagement_defaults_and_bonuses_from_the_environment() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert!(s.engagement.enabled);
        assert_eq!(s.engagement.bonuses(), [(7, 10), (30, 50)]);
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__ENGAGEMENT__STREAK_BONUS", "3:5, 10:20"),
                ("QUNGUAN__ENGAGEMENT__MESSAGE_POINTS_DAILY_CAP", "3"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.engagement.bonuses(), [(3, 5), (10, 20)]);
        assert_eq!(s.engagement.message_points_daily_cap, 3);
    }

    #[test]
    fn engagement_problems_name_the_key() {
        let cases = [
            ("streak_bonus = [\"7\"]", "engagement.streak_bonus[0]"),
            ("streak_bonus = [\"7:10\", \"1:5\"]", "engagement.streak_bonus[1]"),
            ("board_size = 0", "engagement.board_size"),
            ("core_days = 8", "engagement.core_days"),
            ("dormant_after = \"5d\"", "engagement.dormant_after"),
            ("alert_percent = 140", "engagement.alert_percent"),
            ("check_every = \"1s\"", "engagement.check_every"),
            ("retention = \"2d\"", "engagement.retention"),
            ("enabled = \"yes\"", "engagement.enabled"),
        ];
        for (line, key) in cases {
            let file = write(&format!("[engagement]\n{line}\n"));
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(line);
            assert!(err.to_string().contains(key), "{line}: {err}");
        }
    }
}
