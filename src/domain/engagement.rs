//! Engagement (活跃度): a member's points, check-in streak and active days, and the tiers
//! members are placed in. Days are numbered in the group's time zone (`policy::engagement`
//! turns an instant into a day number); this module only keeps the books.

use serde::{Deserialize, Serialize};

/// One member's engagement record in one group.
///
/// `points` is the lifetime balance (never below zero); `week_points` and `month_points` are
/// what the member earned in the week `week` and the month `month` (the leaderboards), reset
/// when a new period begins. `days` is a bit set of the days the member was active: bit 0 is
/// `active_day`, bit 1 the day before, and so on (64 days).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPoints {
    /// The balance.
    pub points: i64,
    /// The member's display name when last seen (for boards).
    #[serde(default)]
    pub name: String,
    /// Consecutive days checked in, ending at `last_checkin`.
    #[serde(default)]
    pub streak: u32,
    /// The day number of the last check-in.
    #[serde(default)]
    pub last_checkin: Option<i32>,
    /// Check-ins in all.
    #[serde(default)]
    pub checkins: u32,
    /// The day `msg_points` counts.
    #[serde(default)]
    pub msg_day: i32,
    /// Points earned by messages on `msg_day` (capped per day).
    #[serde(default)]
    pub msg_points: u32,
    /// The week (`policy::engagement::week_of`) `week_points` counts.
    #[serde(default)]
    pub week: i32,
    /// Points earned in `week`.
    #[serde(default)]
    pub week_points: i64,
    /// The month (`policy::engagement::month_of`) `month_points` counts.
    #[serde(default)]
    pub month: i32,
    /// Points earned in `month`.
    #[serde(default)]
    pub month_points: i64,
    /// Active days as a bit set ending at `active_day`.
    #[serde(default)]
    pub days: u64,
    /// The newest active day.
    #[serde(default)]
    pub active_day: i32,
    /// The member opted out (`/退出积分`): kept, never shown on boards or counted in alerts.
    #[serde(default)]
    pub optout: bool,
}

/// The periods an earning falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Day number.
    pub day: i32,
    /// Week number.
    pub week: i32,
    /// Month number.
    pub month: i32,
}

impl MemberPoints {
    /// Adds `delta` points (negative: takes them away) earned in `period`: the balance never
    /// goes below zero, and the week's and month's tallies follow (a new period starts at 0).
    /// Returns the change actually made to the balance.
    pub fn add(&mut self, delta: i64, period: Period) -> i64 {
        if self.week != period.week {
            self.week = period.week;
            self.week_points = 0;
        }
        if self.month != period.month {
            self.month = period.month;
            self.month_points = 0;
        }
        let before = self.points;
        self.points = self.points.saturating_add(delta).max(0);
        let change = self.points - before;
        self.week_points = self.week_points.saturating_add(change).max(0);
        self.month_points = self.month_points.saturating_add(change).max(0);
        change
    }

    /// Marks `day` as active.
    pub fn active_on(&mut self, day: i32) {
        let shift = day.saturating_sub(self.active_day);
        if self.days == 0 || shift >= 64 {
            self.days = 1;
            self.active_day = day;
        } else if shift > 0 {
            self.days = (self.days << shift) | 1;
            self.active_day = day;
        } else if let Ok(back) = u32::try_from(-shift)
            && back < 64
        {
            self.days |= 1 << back;
        }
    }

    /// On how many of the `n` days ending with `today` the member was active.
    #[must_use]
    pub fn active_days(&self, today: i32, n: u32) -> u32 {
        let n = n.min(64);
        (0..n)
            .filter(|back| {
                let day = today - i32::try_from(*back).unwrap_or(0);
                let offset = self.active_day - day;
                u32::try_from(offset).is_ok_and(|o| o < 64 && self.days & (1 << o) != 0)
            })
            .count()
            .try_into()
            .unwrap_or(u32::MAX)
    }

    /// This week's points, if `week` is the current one.
    #[must_use]
    pub fn points_in_week(&self, week: i32) -> i64 {
        if self.week == week { self.week_points } else { 0 }
    }

    /// This month's points, if `month` is the current one.
    #[must_use]
    pub fn points_in_month(&self, month: i32) -> i64 {
        if self.month == month { self.month_points } else { 0 }
    }
}

/// Where a member stands by activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Active on most days of the last week.
    Core,
    /// Active at least weekly.
    Active,
    /// Silent for a while.
    Lurking,
    /// Silent for a long time.
    Dormant,
}

impl Tier {
    /// Every tier, in order.
    pub const ALL: [Self; 4] = [Self::Core, Self::Active, Self::Lurking, Self::Dormant];

    /// Its name in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Active => "active",
            Self::Lurking => "lurking",
            Self::Dormant => "dormant",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(day: i32) -> Period {
        Period {
            day,
            week: day / 7,
            month: day / 30,
        }
    }

    #[test]
    fn the_balance_never_goes_below_zero_and_periods_start_over() {
        let mut m = MemberPoints::default();
        assert_eq!(m.add(10, period(1)), 10);
        assert_eq!(m.add(-25, period(2)), -10);
        assert_eq!((m.points, m.week_points), (0, 0));
        m.add(5, period(3));
        m.add(4, period(8));
        assert_eq!((m.points, m.week_points, m.month_points), (9, 4, 9));
        assert_eq!(m.points_in_week(1), 4);
        assert_eq!(m.points_in_week(0), 0);
    }

    #[test]
    fn active_days_are_counted_over_a_window() {
        let mut m = MemberPoints::default();
        for day in [100, 101, 103, 106] {
            m.active_on(day);
        }
        m.active_on(102);
        assert_eq!(m.active_days(106, 7), 5);
        assert_eq!(m.active_days(110, 7), 1, "days 104 to 110");
        assert_eq!(m.active_days(200, 7), 0);
        m.active_on(300);
        assert_eq!(m.active_days(300, 7), 1);
    }
}
