//! The strike ladder: a pure function from (strike history, violation, now, policy) to the
//! rung to apply and the new history.
//!
//! Strikes are timestamped rows, so expiry is a sliding window: a strike stops counting
//! `strike_ttl` after it was given, each on its own. Reaching a rung that removes the member
//! (kick, ban) clears the record (the caller does, see [`Decision::record`]), so someone who
//! re-joins starts from zero. Callers run
//! [`decide`] inside a store transaction, which makes concurrent violations of one member
//! walk the ladder one rung at a time.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::Rung;

/// One strike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strike {
    /// When it was given, unix milliseconds.
    pub at_ms: i64,
    /// How many strikes it counts for (a rule's severity).
    pub weight: u32,
    /// The rule that caused it (`manual` for admin warnings).
    pub rule: String,
}

/// A member's strikes in one group, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrikeRecord {
    /// The strikes, oldest first. Expired strikes may linger until the next write.
    pub strikes: Vec<Strike>,
}

impl StrikeRecord {
    /// The strikes still counting at `now`.
    pub fn active(&self, now: Timestamp, ttl: Duration) -> impl Iterator<Item = &Strike> {
        let cutoff = cutoff_ms(now, ttl);
        self.strikes.iter().filter(move |s| s.at_ms > cutoff)
    }

    /// How many strikes count at `now`.
    #[must_use]
    pub fn count(&self, now: Timestamp, ttl: Duration) -> u32 {
        self.active(now, ttl).map(|s| s.weight).fold(0, u32::saturating_add)
    }

    /// Drops expired strikes.
    fn prune(&mut self, now: Timestamp, ttl: Duration) {
        let cutoff = cutoff_ms(now, ttl);
        self.strikes.retain(|s| s.at_ms > cutoff);
    }
}

fn cutoff_ms(now: Timestamp, ttl: Duration) -> i64 {
    now.as_millisecond()
        .saturating_sub(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// How many strikes a violation adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// This many strikes (at least 1).
    Strikes(u32),
    /// Straight to the last rung.
    Max,
}

impl Default for Severity {
    fn default() -> Self {
        Self::Strikes(1)
    }
}

/// The ladder and the window, as configured for a group.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// The rungs; the last one repeats.
    pub ladder: &'a [Rung],
    /// How long a strike counts.
    pub strike_ttl: Duration,
}

/// What to do about one violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The rung reached.
    pub rung: Rung,
    /// Active strikes before this violation.
    pub before: u32,
    /// Active strikes after it (the position on the ladder, 1-based).
    pub after: u32,
    /// The record with this strike added and expired ones dropped. Store it, unless the rung
    /// applied removes the member: then clear the record, so a re-join starts from zero.
    pub record: StrikeRecord,
}

/// Applies one violation of `severity`, caused by `rule`, to `record` at `now`.
///
/// # Panics
/// Never for a non-empty ladder; configuration validation guarantees one.
#[must_use]
pub fn decide(record: &StrikeRecord, severity: Severity, rule: &str, now: Timestamp, policy: Policy<'_>) -> Decision {
    let rungs = u32::try_from(policy.ladder.len()).unwrap_or(u32::MAX).max(1);
    let mut record = record.clone();
    record.prune(now, policy.strike_ttl);
    let before = record.count(now, policy.strike_ttl);
    let weight = match severity {
        Severity::Strikes(n) => n.max(1),
        Severity::Max => rungs.saturating_sub(before).max(1),
    };
    let after = before.saturating_add(weight);
    let index = usize::try_from(after.min(rungs) - 1).unwrap_or(0);
    let rung = policy.ladder.get(index).copied().unwrap_or(Rung::Warn);
    record.strikes.push(Strike {
        at_ms: now.as_millisecond(),
        weight,
        rule: rule.to_owned(),
    });
    Decision {
        rung,
        before,
        after,
        record,
    }
}

/// Takes back strikes at `now`: the newest active one, or with `all` every one. Returns the
/// new record (`None` when nothing is left) and how many strikes were removed (by weight).
#[must_use]
pub fn pardon(record: &StrikeRecord, all: bool, now: Timestamp, ttl: Duration) -> (Option<StrikeRecord>, u32) {
    let mut record = record.clone();
    record.prune(now, ttl);
    let removed = if all {
        let total = record.count(now, ttl);
        record.strikes.clear();
        total
    } else {
        record.strikes.pop().map_or(0, |s| s.weight)
    };
    let record = (!record.strikes.is_empty()).then_some(record);
    (record, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;

    const DAY: u64 = 86_400;

    fn ladder() -> Vec<Rung> {
        vec![Rung::Warn, Rung::Mute(HumanDuration::from_secs(600)), Rung::Kick]
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).expect("valid")
    }

    fn walk(steps: &[(i64, Severity)], ttl_days: u64) -> Vec<(Rung, u32)> {
        let ladder = ladder();
        let policy = Policy {
            ladder: &ladder,
            strike_ttl: Duration::from_secs(ttl_days * DAY),
        };
        let mut record = StrikeRecord::default();
        let mut out = Vec::new();
        for &(t, severity) in steps {
            let d = decide(&record, severity, "ads", at(t), policy);
            record = if d.rung.removes_member() {
                StrikeRecord::default()
            } else {
                d.record.clone()
            };
            out.push((d.rung, d.after));
        }
        out
    }

    #[test]
    fn three_strikes_walk_warn_mute_kick_then_start_over() {
        let one = Severity::Strikes(1);
        assert_eq!(
            walk(&[(0, one), (10, one), (20, one), (30, one)], 30),
            vec![
                (Rung::Warn, 1),
                (Rung::Mute(HumanDuration::from_secs(600)), 2),
                (Rung::Kick, 3),
                (Rung::Warn, 1),
            ]
        );
    }

    #[test]
    fn strikes_expire_one_by_one_in_a_sliding_window() {
        let one = Severity::Strikes(1);
        let day = 86_400;
        // Strike at day 0 and day 20; at day 31 the first has expired, the second still counts.
        assert_eq!(
            walk(&[(0, one), (20 * day, one), (31 * day, one)], 30),
            vec![
                (Rung::Warn, 1),
                (Rung::Mute(HumanDuration::from_secs(600)), 2),
                (Rung::Mute(HumanDuration::from_secs(600)), 2)
            ]
        );
        // Everything expired: back to a warning.
        assert_eq!(walk(&[(0, one), (10, one), (40 * day, one)], 30)[2], (Rung::Warn, 1));
    }

    #[test]
    fn severity_adds_strikes_and_max_jumps_to_the_last_rung() {
        assert_eq!(
            walk(&[(0, Severity::Strikes(2))], 30),
            vec![(Rung::Mute(HumanDuration::from_secs(600)), 2)]
        );
        assert_eq!(walk(&[(0, Severity::Max)], 30), vec![(Rung::Kick, 3)]);
        assert_eq!(
            walk(&[(0, Severity::Strikes(1)), (1, Severity::Max)], 30)[1],
            (Rung::Kick, 3)
        );
    }

    #[test]
    fn the_last_rung_repeats_when_it_keeps_the_member() {
        let ladder = [Rung::Warn, Rung::Mute(HumanDuration::from_secs(60))];
        let policy = Policy {
            ladder: &ladder,
            strike_ttl: Duration::from_secs(DAY),
        };
        let mut record = StrikeRecord::default();
        let mut rungs = Vec::new();
        for t in 0..4 {
            let d = decide(&record, Severity::Strikes(1), "x", at(t), policy);
            record = d.record;
            rungs.push(d.rung);
        }
        assert_eq!(rungs[2], Rung::Mute(HumanDuration::from_secs(60)));
        assert_eq!(rungs[3], Rung::Mute(HumanDuration::from_secs(60)));
    }

    #[test]
    fn pardon_takes_back_the_newest_strike_or_all() {
        let ladder = ladder();
        let policy = Policy {
            ladder: &ladder,
            strike_ttl: Duration::from_secs(DAY),
        };
        let first = decide(&StrikeRecord::default(), Severity::Strikes(1), "ads", at(0), policy);
        let second = decide(&first.record, Severity::Strikes(2), "scam", at(1), policy);
        let record = second.record;
        assert_eq!(record.count(at(2), policy.strike_ttl), 3);

        let (left, removed) = pardon(&record, false, at(2), policy.strike_ttl);
        assert_eq!(removed, 2, "the newest strike weighed 2");
        let left = left.expect("one strike left");
        assert_eq!(
            (left.count(at(2), policy.strike_ttl), &*left.strikes[0].rule),
            (1, "ads")
        );

        assert_eq!(pardon(&record, true, at(2), policy.strike_ttl), (None, 3));
        assert_eq!(
            pardon(&StrikeRecord::default(), false, at(2), policy.strike_ttl),
            (None, 0)
        );
        // Expired strikes are not "taken back": they no longer count.
        assert_eq!(pardon(&record, true, at(2 * 86_400), policy.strike_ttl), (None, 0));
    }

    #[test]
    fn a_kick_tells_the_caller_to_clear_the_record() {
        let ladder = [Rung::Kick];
        let policy = Policy {
            ladder: &ladder,
            strike_ttl: Duration::from_secs(DAY),
        };
        let d = decide(&StrikeRecord::default(), Severity::Strikes(1), "x", at(0), policy);
        assert_eq!((d.rung, d.rung.removes_member(), d.after), (Rung::Kick, true, 1));
    }
}
