//! A member's strikes: the history the ladder reads and the store keeps.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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
    pub fn prune(&mut self, now: Timestamp, ttl: Duration) {
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
