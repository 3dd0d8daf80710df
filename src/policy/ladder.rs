//! The strike ladder: a pure function from (strike history, violation, now, policy) to the
//! rung to apply and the new history.
//!
//! Strikes are timestamped rows, so expiry is a sliding window: a strike stops counting
//! `strike_ttl` after it was given, each on its own. Reaching a rung that removes the member
//! (kick, ban) clears the record (the caller does, see [`Decision::record`]), so someone who
//! re-joins starts from zero. Callers run
//! [`decide`] inside a store transaction, which makes concurrent violations of one member
//! walk the ladder one rung at a time.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer};

use crate::domain::duration::{DurationError, HumanDuration};
use crate::domain::strike::{Severity, Strike, StrikeRecord};

/// One rung of the strike ladder, written `"warn"`, `"mute 10m"`, `"kick"` or `"ban"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rung {
    /// Post a warning that mentions the member.
    Warn,
    /// Mute the member for this long.
    Mute(HumanDuration),
    /// Remove the member; they may join again.
    Kick,
    /// Remove the member and refuse their future join requests.
    Ban,
}

impl Rung {
    /// Whether this rung removes the member (and so clears their record).
    #[must_use]
    pub fn removes_member(self) -> bool {
        matches!(self, Self::Kick | Self::Ban)
    }
}

/// Why a rung does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RungError {
    /// `mute` without a duration.
    #[error("rung {0:?} needs a duration, e.g. \"mute 10m\"")]
    MissingDuration(String),
    /// The duration after `mute` does not parse.
    #[error("rung {0:?}: {1}")]
    Duration(String, DurationError),
    /// `mute 0s`.
    #[error("rung {0:?}: a mute must last at least one second")]
    ZeroMute(String),
    /// Not a rung at all.
    #[error("unknown rung {0:?}; expected \"warn\", \"mute <duration>\", \"kick\" or \"ban\"")]
    Unknown(String),
}

impl std::str::FromStr for Rung {
    type Err = RungError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (word, arg) = s
            .split_once(char::is_whitespace)
            .map_or((s, ""), |(w, a)| (w, a.trim()));
        match (word.to_ascii_lowercase().as_str(), arg) {
            ("warn", "") => Ok(Self::Warn),
            ("kick", "") => Ok(Self::Kick),
            ("ban", "") => Ok(Self::Ban),
            ("mute", "") => Err(RungError::MissingDuration(s.to_owned())),
            ("mute", d) => {
                let d: HumanDuration = d.parse().map_err(|e| RungError::Duration(s.to_owned(), e))?;
                if d.as_secs() == 0 {
                    return Err(RungError::ZeroMute(s.to_owned()));
                }
                Ok(Self::Mute(d))
            }
            _ => Err(RungError::Unknown(s.to_owned())),
        }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Warn => f.write_str("warn"),
            Self::Mute(d) => write!(f, "mute {d}"),
            Self::Kick => f.write_str("kick"),
            Self::Ban => f.write_str("ban"),
        }
    }
}

impl<'de> Deserialize<'de> for Rung {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
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

/// Which strikes [`pardon`] takes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take<'a> {
    /// The newest active strike (`/pardon @member`).
    Newest,
    /// Every active strike (`/pardon @member all`).
    All,
    /// The strike one case gave: given at `at_ms` for `rule` (the console's Undo,
    /// `/notspam`). A case gives at most one strike, stamped with the case's own time.
    Given {
        /// When the strike was given, unix milliseconds.
        at_ms: i64,
        /// The rule it was given for.
        rule: &'a str,
    },
}

/// Takes back strikes at `now`: see [`Take`]. Returns the new record (`None` when nothing
/// is left) and how many strikes were removed (by weight); 0 when there was nothing to take
/// (no active strike, or the given one has expired or was already taken back).
#[must_use]
pub fn pardon(record: &StrikeRecord, take: Take<'_>, now: Timestamp, ttl: Duration) -> (Option<StrikeRecord>, u32) {
    let mut record = record.clone();
    record.prune(now, ttl);
    let removed = match take {
        Take::All => {
            let total = record.count(now, ttl);
            record.strikes.clear();
            total
        }
        Take::Newest => record.strikes.pop().map_or(0, |s| s.weight),
        Take::Given { at_ms, rule } => record
            .strikes
            .iter()
            .rposition(|s| s.at_ms == at_ms && s.rule == rule)
            .map_or(0, |i| record.strikes.remove(i).weight),
    };
    let record = (!record.strikes.is_empty()).then_some(record);
    (record, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

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

        let (left, removed) = pardon(&record, Take::Newest, at(2), policy.strike_ttl);
        assert_eq!(removed, 2, "the newest strike weighed 2");
        let left = left.expect("one strike left");
        assert_eq!(
            (left.count(at(2), policy.strike_ttl), &*left.strikes[0].rule),
            (1, "ads")
        );

        assert_eq!(pardon(&record, Take::All, at(2), policy.strike_ttl), (None, 3));
        assert_eq!(
            pardon(&StrikeRecord::default(), Take::Newest, at(2), policy.strike_ttl),
            (None, 0)
        );
        // Expired strikes are not "taken back": they no longer count.
        assert_eq!(pardon(&record, Take::All, at(2 * 86_400), policy.strike_ttl), (None, 0));
    }

    #[test]
    fn pardon_of_a_given_strike_takes_exactly_that_one() {
        let ladder = ladder();
        let policy = Policy {
            ladder: &ladder,
            strike_ttl: Duration::from_secs(DAY),
        };
        let first = decide(&StrikeRecord::default(), Severity::Strikes(1), "ads", at(0), policy);
        let second = decide(&first.record, Severity::Strikes(2), "scam", at(1), policy);
        let record = second.record;
        let first_at = at(0).as_millisecond();
        let take = Take::Given {
            at_ms: first_at,
            rule: "ads",
        };
        let (left, removed) = pardon(&record, take, at(2), policy.strike_ttl);
        assert_eq!(removed, 1, "the older strike, not the newest");
        let left = left.expect("the newer strike stays");
        assert_eq!((left.strikes.len(), &*left.strikes[0].rule), (1, "scam"));
        // Taken once: a second undo finds nothing.
        assert_eq!(pardon(&left, take, at(2), policy.strike_ttl).1, 0);
        // The time must match the rule too.
        let wrong_rule = Take::Given {
            at_ms: first_at,
            rule: "scam",
        };
        assert_eq!(pardon(&record, wrong_rule, at(2), policy.strike_ttl).1, 0);
        // Expired: nothing to take back.
        assert_eq!(pardon(&record, take, at(2 * 86_400), policy.strike_ttl), (None, 0));
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

    #[test]
    fn a_given_strike_is_taken_back_exactly_once() {
        let strike = |secs: i64, rule: &str| Strike {
            at_ms: at(secs).as_millisecond(),
            weight: 1,
            rule: rule.into(),
        };
        let record = StrikeRecord {
            strikes: vec![strike(0, "ads"), strike(10, "learned"), strike(20, "ads")],
        };
        let ttl = Duration::from_secs(DAY);
        let (left, removed) = pardon(
            &record,
            Take::Given {
                at_ms: at(10).as_millisecond(),
                rule: "learned",
            },
            at(30),
            ttl,
        );
        assert_eq!(removed, 1);
        let left = left.expect("two strikes are left");
        assert_eq!(left.strikes, vec![strike(0, "ads"), strike(20, "ads")]);
        // The same time with another rule, or a strike already gone: nothing.
        assert_eq!(
            pardon(
                &left,
                Take::Given {
                    at_ms: at(10).as_millisecond(),
                    rule: "ads"
                },
                at(30),
                ttl
            )
            .1,
            0
        );
        // An expired strike is not taken back (it no longer counts).
        let late = at(0) + jiff::SignedDuration::from_secs(2 * DAY as i64);
        assert_eq!(
            pardon(
                &record,
                Take::Given {
                    at_ms: at(0).as_millisecond(),
                    rule: "ads"
                },
                late,
                ttl
            )
            .1,
            0
        );
        // The last strike taken back leaves no record.
        let one = StrikeRecord {
            strikes: vec![strike(5, "manual")],
        };
        assert_eq!(
            pardon(
                &one,
                Take::Given {
                    at_ms: at(5).as_millisecond(),
                    rule: "manual"
                },
                at(6),
                ttl
            ),
            (None, 1)
        );
    }
}
