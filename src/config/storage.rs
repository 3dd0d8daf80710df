//! `[storage]` and `[rules]`: where the database and the rules folder live.

use std::path::PathBuf;

use serde::Deserialize;

use crate::domain::duration::HumanDuration;

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Directory of the sled database (created if missing).
    pub path: PathBuf,
    /// sled page cache in MiB. sled's own default (1 GiB) is far too much for this workload.
    pub cache_mib: u64,
    /// How long a processed event's key is remembered, so a redelivery within this time changes
    /// nothing. Gateways redeliver within seconds to minutes; the default leaves a wide margin.
    pub seen_ttl: HumanDuration,
    /// How long audit cases and dead letters are kept; `0s` keeps them forever.
    pub audit_retention: HumanDuration,
    /// A write or flush still running after this stops the process (it is restarted by its
    /// service manager). See [`super::robust`].
    pub watchdog: HumanDuration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            cache_mib: 32,
            seen_ttl: HumanDuration::from_secs(2 * 86_400),
            audit_retention: HumanDuration::from_secs(180 * 86_400),
            watchdog: super::robust::WATCHDOG,
        }
    }
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesSettings {
    /// The rules folder: word lists `*.txt`, `group-rules.md`, …
    pub dir: PathBuf,
    /// Reload the rules when a file in the folder changes (SIGHUP and `/reload` always work).
    #[serde(deserialize_with = "super::strict::bool")]
    pub watch: bool,
}

impl Default for RulesSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./rules"),
            watch: true,
        }
    }
}
