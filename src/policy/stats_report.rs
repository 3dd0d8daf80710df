//! The numbers of a group's health report, computed from its stored days.
//!
//! Definitions (the same for `/stats`, `qunguan stats` and the page):
//!
//! - **this week**: the 7 days ending today (today included, so far); **last week**: the 7
//!   days before those.
//! - **messages per day**: the week's messages over the days of it qunguan was counting — a
//!   group first seen 3 days ago is averaged over 3 days, not 7.
//! - **messages per 100 members per day**: that, per 100 members (the member count comes from
//!   the platform when the report is made).
//! - **active share**: the average day's active members (wrote at least once) over the
//!   member count.
//! - **trend**: this week's messages per day against last week's, in percent; none when last
//!   week had no counts.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::domain::stats::DayStats;

/// Days in a week window.
const WEEK: i64 = 7;
/// How many rules the report names.
const TOP_RULES: usize = 3;

/// A group's health over the last week. Serialized, it is the console API's `summary` (the
/// rules' breakdown left out: the API lists the days' violations by rule).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Members, as the platform reported them (`None` when it could not be asked).
    pub members: Option<u64>,
    /// Days of this week with counting (1–7; 0 when nothing was ever counted).
    pub days: i64,
    /// Messages this week.
    pub messages: u64,
    /// Messages per day this week.
    pub messages_per_day: f64,
    /// Messages per 100 members per day.
    pub per_100_members: Option<f64>,
    /// Average active members per day.
    pub active_per_day: f64,
    /// Average active members per day over the member count, 0–1.
    pub active_share: Option<f64>,
    /// Joins this week.
    pub joins: u64,
    /// Leaves this week.
    pub leaves: u64,
    /// Violations this week.
    pub violations: u64,
    /// The most hit rules this week, most first (ties by name).
    #[serde(skip)]
    pub top_rules: Vec<(String, u64)>,
    /// Violations of every other rule this week: with `top_rules` they add up to
    /// `violations`.
    #[serde(skip)]
    pub other_rules: u64,
    /// Change of messages per day against last week, in percent.
    pub trend_percent: Option<f64>,
}

/// Computes the summary for `today` from the group's days (any range covering the last 14
/// days; others are ignored). `first_day` is the first day ever counted for the group.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn summarize(days: &[(Date, DayStats)], today: Date, first_day: Option<Date>, members: Option<u64>) -> Summary {
    let offset = |d: &Date| i64::from((today - *d).get_days());
    let this: Vec<&DayStats> = days
        .iter()
        .filter(|(d, _)| (0..WEEK).contains(&offset(d)))
        .map(|(_, s)| s)
        .collect();
    let last: Vec<&DayStats> = days
        .iter()
        .filter(|(d, _)| (WEEK..2 * WEEK).contains(&offset(d)))
        .map(|(_, s)| s)
        .collect();
    let counted = first_day.map_or(0, |first| (offset(&first) + 1).clamp(0, WEEK));
    let messages: u64 = this.iter().map(|d| d.messages).sum();
    let per_day = |total: u64, days: i64| if days > 0 { total as f64 / days as f64 } else { 0.0 };
    let messages_per_day = per_day(messages, counted);
    let active: u64 = this.iter().map(|d| d.active_members.max(d.members.len() as u64)).sum();
    let active_per_day = per_day(active, counted);
    let members_f = members.filter(|&m| m > 0).map(|m| m as f64);
    let mut rules: BTreeMap<&str, u64> = BTreeMap::new();
    for day in &this {
        for (rule, n) in &day.violations {
            *rules.entry(rule).or_default() += n;
        }
    }
    let mut top_rules: Vec<(String, u64)> = rules.into_iter().map(|(r, n)| (r.to_owned(), n)).collect();
    top_rules.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other_rules = top_rules.iter().skip(TOP_RULES).map(|(_, n)| n).sum();
    top_rules.truncate(TOP_RULES);
    // Last week counts only the days qunguan was counting then.
    let last_counted = first_day.map_or(0, |first| (offset(&first) + 1 - WEEK).clamp(0, WEEK));
    let last_messages: u64 = last.iter().map(|d| d.messages).sum();
    let trend_percent = (last_counted > 0 && last_messages > 0).then(|| {
        let before = per_day(last_messages, last_counted);
        (messages_per_day - before) / before * 100.0
    });
    Summary {
        members,
        days: counted,
        messages,
        messages_per_day,
        per_100_members: members_f.map(|m| messages_per_day * 100.0 / m),
        active_per_day,
        active_share: members_f.map(|m| (active_per_day / m).min(1.0)),
        joins: this.iter().map(|d| d.joins).sum(),
        leaves: this.iter().map(|d| d.leaves).sum(),
        violations: this.iter().map(|d| d.violation_count()).sum(),
        top_rules,
        other_rules,
        trend_percent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn day(messages: u64, active: u64, rules: &[(&str, u64)]) -> DayStats {
        DayStats {
            messages,
            active_members: active,
            violations: rules.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect(),
            ..DayStats::default()
        }
    }

    #[test]
    fn a_fortnight_gives_rates_trend_and_top_rules() {
        let today = date(2026, 11, 22);
        let mut days = Vec::new();
        // Last week: 70 messages a day; this week: 140 a day, 20 active a day.
        for back in 0..14 {
            let d = today - jiff::Span::new().days(back);
            let s = if back < 7 {
                day(140, 20, &[("ads", 2), ("flood", 1)])
            } else {
                day(70, 10, &[("old", 9)])
            };
            days.push((d, s));
        }
        days[0].1.violations.insert("contact".into(), 3);
        days[0].1.joins = 4;
        days[1].1.leaves = 1;
        let first = Some(today - jiff::Span::new().days(30));
        let s = summarize(&days, today, first, Some(200));
        assert_eq!((s.days, s.messages, s.joins, s.leaves), (7, 980, 4, 1));
        assert!((s.messages_per_day - 140.0).abs() < 1e-9);
        assert_eq!(s.per_100_members.map(|x| (x * 10.0).round()), Some(700.0));
        assert_eq!(s.active_share.map(|x| (x * 100.0).round()), Some(10.0));
        assert_eq!(s.trend_percent.map(f64::round), Some(100.0));
        assert_eq!(s.violations, 7 * 3 + 3);
        assert_eq!(
            s.top_rules,
            [
                ("ads".to_owned(), 14),
                ("flood".to_owned(), 7),
                ("contact".to_owned(), 3)
            ]
        );
        assert_eq!(s.other_rules, 0);
    }

    #[test]
    fn rules_beyond_the_top_three_are_counted_together_so_the_counts_add_up() {
        let today = date(2026, 11, 22);
        let days = vec![(
            today,
            day(
                10,
                2,
                &[("ads", 5), ("flood", 4), ("contact", 3), ("manual", 2), ("qq_id", 1)],
            ),
        )];
        let s = summarize(&days, today, Some(today), None);
        let names: Vec<&str> = s.top_rules.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(names, ["ads", "flood", "contact"]);
        assert_eq!(s.other_rules, 3);
        let shown: u64 = s.top_rules.iter().map(|(_, n)| n).sum::<u64>() + s.other_rules;
        assert_eq!(shown, s.violations);
    }

    #[test]
    fn a_new_group_is_averaged_over_the_days_counted_and_has_no_trend() {
        let today = date(2026, 11, 22);
        let days = vec![
            (today, day(30, 5, &[])),
            (today - jiff::Span::new().days(1), day(30, 5, &[])),
        ];
        let s = summarize(&days, today, Some(today - jiff::Span::new().days(1)), None);
        assert_eq!(s.days, 2);
        assert!((s.messages_per_day - 30.0).abs() < 1e-9);
        assert_eq!((s.per_100_members, s.active_share, s.trend_percent), (None, None, None));
    }

    #[test]
    fn nothing_counted_is_all_zero() {
        let s = summarize(&[], date(2026, 11, 22), None, Some(50));
        assert_eq!((s.days, s.messages, s.messages_per_day), (0, 0, 0.0));
        assert_eq!(s.per_100_members, Some(0.0));
    }
}
