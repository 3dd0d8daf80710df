//! Engagement decisions: which day it is in the group's zone, what a check-in earns, and
//! which tier a member is in. Pure: the caller passes the instant, the zone and the record.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::engagement::{MemberPoints, Period, Tier};

/// The day number of `date` (days since 1970-01-01), from its civil fields.
#[must_use]
pub fn day_number(year: i32, month: i32, day: i32) -> i32 {
    // Days from civil (H. Hinnant's algorithm), for the proleptic Gregorian calendar.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The periods `now` falls in, in `tz`: its day, its week (Monday to Sunday) and its month.
#[must_use]
pub fn period(now: Timestamp, tz: &TimeZone) -> Period {
    let date = now.to_zoned(tz.clone()).date();
    let (year, month) = (i32::from(date.year()), i32::from(date.month()));
    let day = day_number(year, month, i32::from(date.day()));
    Period {
        day,
        week: week_of(day),
        month: year * 12 + month - 1,
    }
}

/// The week of a day number: weeks start on Monday (1970-01-01 was a Thursday).
#[must_use]
pub fn week_of(day: i32) -> i32 {
    (day + 3).div_euclid(7)
}

/// What one check-in brings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckIn {
    /// The streak after it (连续 N 天).
    pub streak: u32,
    /// Points for the check-in itself.
    pub points: u32,
    /// The streak bonus reached today, if any.
    pub bonus: u32,
}

/// A check-in on `today` by a member whose record is `record`: `None` when they already
/// checked in today. Missing a day starts the streak over; reaching a streak listed in
/// `bonuses` (days, points) adds its bonus once.
#[must_use]
pub fn check_in(record: &MemberPoints, today: i32, points: u32, bonuses: &[(u32, u32)]) -> Option<CheckIn> {
    let streak = match record.last_checkin {
        Some(last) if last == today => return None,
        Some(last) if last == today - 1 => record.streak.saturating_add(1),
        _ => 1,
    };
    let bonus = bonuses
        .iter()
        .filter(|(days, _)| *days == streak)
        .map(|(_, bonus)| *bonus)
        .sum();
    Some(CheckIn { streak, points, bonus })
}

/// The thresholds of the tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierRules {
    /// Core: active on at least this many of the last 7 days.
    pub core_days: u32,
    /// Lurking from this many days of silence.
    pub lurking_days: u32,
    /// Dormant from this many days of silence.
    pub dormant_days: u32,
}

/// The tier of a member silent for `silent_days` whole days and active on `active_in_week` of
/// the last 7 days.
#[must_use]
pub fn tier(rules: TierRules, silent_days: u32, active_in_week: u32) -> Tier {
    if silent_days >= rules.dormant_days {
        Tier::Dormant
    } else if silent_days >= rules.lurking_days {
        Tier::Lurking
    } else if active_in_week >= rules.core_days {
        Tier::Core
    } else {
        Tier::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_weeks_and_months_follow_the_zone() {
        assert_eq!(day_number(1970, 1, 1), 0);
        assert_eq!(day_number(2000, 3, 1), 11_017);
        assert_eq!(day_number(2024, 11, 21), 20_048);
        let shanghai = TimeZone::get("Asia/Shanghai").expect("zone");
        // 23:30 UTC on the 20th is the 21st in Shanghai.
        let late: Timestamp = "2024-11-20T23:30:00Z".parse().expect("instant");
        assert_eq!(period(late, &shanghai).day, day_number(2024, 11, 21));
        assert_eq!(period(late, &TimeZone::UTC).day, day_number(2024, 11, 20));
        // 2024-11-18 is a Monday, 2024-11-24 a Sunday: one week.
        let monday = day_number(2024, 11, 18);
        assert_eq!(week_of(monday), week_of(monday + 6));
        assert_ne!(week_of(monday), week_of(monday - 1));
        assert_eq!(period(late, &shanghai).month, 2024 * 12 + 10);
    }

    #[test]
    fn a_check_in_counts_the_streak_once_a_day_and_pays_the_bonus_on_reaching_it() {
        let bonuses = [(7, 10), (30, 50)];
        let mut record = MemberPoints::default();
        let first = check_in(&record, 100, 5, &bonuses).expect("first");
        assert_eq!(
            first,
            CheckIn {
                streak: 1,
                points: 5,
                bonus: 0
            }
        );
        record.last_checkin = Some(100);
        record.streak = 1;
        assert_eq!(check_in(&record, 100, 5, &bonuses), None, "once a day");
        record.streak = 6;
        assert_eq!(
            check_in(&record, 101, 5, &bonuses).map(|c| (c.streak, c.bonus)),
            Some((7, 10))
        );
        assert_eq!(
            check_in(&record, 102, 5, &bonuses).map(|c| c.streak),
            Some(1),
            "a missed day"
        );
    }

    #[test]
    fn tiers_follow_the_thresholds() {
        let rules = TierRules {
            core_days: 5,
            lurking_days: 7,
            dormant_days: 30,
        };
        assert_eq!(tier(rules, 0, 5), Tier::Core);
        assert_eq!(tier(rules, 0, 4), Tier::Active);
        assert_eq!(tier(rules, 6, 1), Tier::Active);
        assert_eq!(tier(rules, 7, 0), Tier::Lurking);
        assert_eq!(tier(rules, 29, 0), Tier::Lurking);
        assert_eq!(tier(rules, 30, 0), Tier::Dormant);
    }
}
