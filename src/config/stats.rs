//! `[stats]`: group health statistics.

use serde::Deserialize;

use crate::domain::duration::HumanDuration;

/// `[stats]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsSettings {
    /// IANA time zone whose midnight starts a statistics day.
    pub timezone: String,
    /// How often the in-memory counters are written to the database; a crash loses at most
    /// this much of the statistics (never moderation state).
    pub flush_every: HumanDuration,
    /// How long a day's statistics are kept; `0s` keeps them forever.
    pub retention: HumanDuration,
}

impl Default for StatsSettings {
    fn default() -> Self {
        Self {
            timezone: "Asia/Shanghai".into(),
            flush_every: HumanDuration::from_secs(60),
            retention: HumanDuration::from_secs(400 * 86_400),
        }
    }
}
