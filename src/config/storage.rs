//! `[storage]` and `[rules]`: where the database and the rules folder live.

use std::path::PathBuf;

use serde::Deserialize;

use super::ByteSize;
use crate::domain::duration::HumanDuration;

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Directory of the sled database (created if missing).
    pub path: PathBuf,
    /// sled's page cache. sled's own default (1 GiB) is far too much for this workload.
    pub cache_capacity: ByteSize,
    /// The older name of `cache_capacity`, in MiB; when set, it wins.
    pub cache_mib: Option<u64>,
    /// How long a processed event's key is remembered, so a redelivery within this time changes
    /// nothing. Gateways redeliver within seconds to minutes; the default leaves a wide margin.
    pub seen_ttl: HumanDuration,
    /// The older name of `[audit] retention`; when set, it wins.
    pub audit_retention: Option<HumanDuration>,
    /// How often the sweep deletes what has outlived its time (seen keys, receipts, strikes,
    /// audit cases, dead letters, old joins).
    pub sweep_every: HumanDuration,
    /// A write or flush still running after this stops the process (it is restarted by its
    /// service manager). See [`super::robust`].
    pub watchdog: HumanDuration,
    /// Under load, how long (µs) a group-commit flush waits for more writers to share it
    /// before it seals sled's log buffer; 0 = never (docs/configuration.md).
    pub flush_linger_us: u64,
    /// A lingering flush starts at once when this many writers wait for it.
    pub flush_linger_waiters: u64,
    /// Compact the database when sled's files exceed this many times their size after the
    /// last compaction; 0 = never (docs/storage.md, "Compaction").
    pub compact_growth: u64,
    /// Never compact sled's files smaller than this.
    pub compact_min: ByteSize,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            cache_capacity: ByteSize::mib(2),
            cache_mib: None,
            seen_ttl: HumanDuration::from_secs(2 * 86_400),
            audit_retention: None,
            sweep_every: HumanDuration::from_secs(600),
            watchdog: super::robust::WATCHDOG,
            flush_linger_us: 4_000,
            flush_linger_waiters: 24,
            compact_growth: 4,
            compact_min: ByteSize::mib(1024),
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
