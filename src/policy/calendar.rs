//! When a scheduled post is due: a daily time or a cron pattern, in an IANA time zone.
//!
//! Occurrences come from the calendar of the post's zone, never from "now + interval": a post at
//! 07:30 Asia/Shanghai is due at the next 07:30 on the wall clock there, and across a daylight
//! saving switch it fires once — a time that falls into a spring-forward gap moves to just after
//! the gap, a time that occurs twice in an autumn fold fires at its first occurrence only. The
//! cron arithmetic is croner's; the time-zone database is jiff's, embedded in the binary so a
//! container image needs no system tz files.

use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The zone posts use unless they say otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// Why a `/schedule add` time is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeProblem {
    /// Not `H:MM` or `HH:MM`.
    Format,
    /// The hour is 24 or more.
    Hour(u32),
    /// The minute is 60 or more.
    Minute(u32),
}

impl TimeProblem {
    /// What is wrong with `at` as a daily time, or `None` for a valid one.
    #[must_use]
    pub fn of(at: &str) -> Option<Self> {
        let Some((h, m)) = at.split_once(':') else {
            return Some(Self::Format);
        };
        let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
            return Some(Self::Format);
        }
        let (hour, minute): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        if hour > 23 {
            Some(Self::Hour(hour))
        } else if minute > 59 {
            Some(Self::Minute(minute))
        } else {
            None
        }
    }
}

/// Why a schedule could not be understood. The message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// `at` is not `HH:MM`.
    #[error("invalid time {0:?}: write a 24-hour time such as \"07:30\" or \"21:00\"")]
    Time(String),
    /// The cron pattern did not parse.
    #[error(
        "invalid cron pattern {pattern:?}: {reason} (5 fields \"min hour day month weekday\", or 6 with seconds first)"
    )]
    Cron {
        /// The pattern as written.
        pattern: String,
        /// croner's explanation.
        reason: String,
    },
    /// The zone is not in the time-zone database.
    #[error("unknown time zone {0:?}: use an IANA name such as \"Asia/Shanghai\" or \"Europe/Berlin\"")]
    Zone(String),
}

/// A recurring time in a zone.
#[derive(Clone)]
pub struct Recurrence {
    cron: Cron,
    zone: TimeZone,
    zone_name: String,
    spec: String,
}

impl fmt::Debug for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recurrence({} {})", self.spec, self.zone_name)
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.spec, self.zone_name)
    }
}

impl Recurrence {
    /// Every day at `at` (`"HH:MM"`, 24-hour) in `zone`.
    pub fn daily(at: &str, zone: &str) -> Result<Self, CalendarError> {
        let (hour, minute) = parse_hhmm(at).ok_or_else(|| CalendarError::Time(at.to_owned()))?;
        let mut r = Self::cron(&format!("0 {minute} {hour} * * *"), zone)?;
        r.spec = format!("{hour:02}:{minute:02}");
        Ok(r)
    }

    /// A cron pattern of 5 fields (minute resolution) or 6 (seconds first), in `zone`.
    pub fn cron(pattern: &str, zone: &str) -> Result<Self, CalendarError> {
        let zone_tz = TimeZone::get(zone).map_err(|_| CalendarError::Zone(zone.to_owned()))?;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(pattern)
            .map_err(|e| CalendarError::Cron {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            cron,
            zone: zone_tz,
            zone_name: zone.to_owned(),
            spec: pattern.trim().to_owned(),
        })
    }

    /// The IANA name of the zone.
    #[must_use]
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The first occurrence strictly after `after`, or `None` if the pattern never fires again.
    #[must_use]
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The last occurrence at or before `at`, or `None` if there is none (used after downtime
    /// to find the occurrence that was missed).
    #[must_use]
    pub fn latest_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let start = at.to_zoned(self.zone.clone());
        self.cron
            .find_previous_occurrence(&start, true)
            .ok()
            .map(|z| z.timestamp())
    }
}

fn parse_hhmm(at: &str) -> Option<(u8, u8)> {
    let (h, m) = at.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let hour: u8 = h.parse().ok()?;
    let minute: u8 = m.parse().ok()?;
    (hour < 24 && minute < 60).then_some((hour, minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `2026-03-29T01:59:00+01:00`-style instants.
    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The next `n` occurrences after `from`, as RFC 3339 instants in the post's zone.
    fn next_n(r: &Recurrence, from: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut t = ts(from);
        for _ in 0..n {
            t = r.next_after(t).expect("fires again");
            out.push(t.to_zoned(r.zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
        }
        out
    }

    #[test]
    fn a_daily_time_in_shanghai() {
        let r = Recurrence::daily("07:30", "Asia/Shanghai").expect("valid");
        assert_eq!(
            next_n(&r, "2026-11-22T07:29:59+08:00", 3),
            [
                "2026-11-22T07:30:00+08:00",
                "2026-11-23T07:30:00+08:00",
                "2026-11-24T07:30:00+08:00"
            ]
        );
        // Exactly at the occurrence: the next one is tomorrow (strictly after).
        assert_eq!(
            next_n(&r, "2026-11-22T07:30:00+08:00", 1),
            ["2026-11-23T07:30:00+08:00"]
        );
    }

    #[test]
    fn spring_forward_gap_fires_once_just_after_the_gap() {
        // Europe/Berlin jumps from 02:00 CET to 03:00 CEST on 2027-03-28.
        let r = Recurrence::daily("02:30", "Europe/Berlin").expect("valid");
        assert_eq!(
            next_n(&r, "2027-03-26T12:00:00+01:00", 3),
            [
                "2027-03-27T02:30:00+01:00",
                "2027-03-28T03:00:00+02:00",
                "2027-03-29T02:30:00+02:00"
            ]
        );
    }

    #[test]
    fn autumn_fold_fires_once() {
        // Europe/Berlin repeats 02:00–03:00 on 2026-10-25 (CEST, then CET).
        let r = Recurrence::daily("02:30", "Europe/Berlin").expect("valid");
        assert_eq!(
            next_n(&r, "2026-10-23T12:00:00+02:00", 3),
            [
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00"
            ]
        );
        let morning = Recurrence::daily("07:30", "Europe/Berlin").expect("valid");
        assert_eq!(
            next_n(&morning, "2026-10-24T08:00:00+02:00", 2),
            ["2026-10-25T07:30:00+01:00", "2026-10-26T07:30:00+01:00"],
            "the wall-clock time is kept across the switch"
        );
    }

    #[test]
    fn cron_patterns_with_five_or_six_fields() {
        let weekdays = Recurrence::cron("30 7 * * 1-5", "Asia/Shanghai").expect("valid");
        // 2026-11-20 is a Friday: the next weekday 07:30 after Friday noon is Monday.
        assert_eq!(
            next_n(&weekdays, "2026-11-20T12:00:00+08:00", 1),
            ["2026-11-23T07:30:00+08:00"]
        );
        let with_seconds = Recurrence::cron("15 0 21 * * *", "Asia/Shanghai").expect("valid");
        assert_eq!(
            next_n(&with_seconds, "2026-11-22T21:00:00+08:00", 1),
            ["2026-11-22T21:00:15+08:00"]
        );
    }

    #[test]
    fn the_latest_missed_occurrence_is_found() {
        let r = Recurrence::daily("07:30", "Asia/Shanghai").expect("valid");
        let latest = r.latest_at_or_before(ts("2026-11-22T07:35:00+08:00")).expect("exists");
        assert_eq!(latest, ts("2026-11-22T07:30:00+08:00"));
        assert_eq!(
            r.latest_at_or_before(ts("2026-11-22T07:30:00+08:00")),
            Some(latest),
            "inclusive"
        );
    }

    #[test]
    fn bad_input_says_what_to_write() {
        for at in ["7.30", "24:00", "07:60", "0730", "", "7:5"] {
            assert!(
                matches!(Recurrence::daily(at, "Asia/Shanghai"), Err(CalendarError::Time(_))),
                "{at}"
            );
        }
        assert!(matches!(
            Recurrence::daily("07:30", "Asia/Shangai"),
            Err(CalendarError::Zone(_))
        ));
        let err = Recurrence::cron("61 * * * *", "Asia/Shanghai").expect_err("minute 61");
        assert!(err.to_string().contains("61 * * * *"), "{err}");
        assert!(Recurrence::cron("* * *", "UTC").is_err());
    }
}
