//! The instance-wide ban list (全局拉黑): who is banned, why, and since when.
//!
//! A ban is about a person on one platform ([`UserRef`]: `qq:123`, `tg:456`): QQ and
//! Telegram identities cannot be linked, so one person on both platforms is two entries.
//! A ban holds in every group of the instance on that platform, whatever account keeps it.
//!
//! Bans come from two places, told apart by [`Origin`]: the instance's own list (super users'
//! `/gban`, the operator's `qunguan bans add|import`), which is stored and backed up, and
//! shared lists the instance subscribes to (`[bans] subscribe`), which are only held in
//! memory and re-read on every refresh.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::domain::event::UserRef;

/// One banned person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Who, on which platform.
    pub user: UserRef,
    /// Why (may be empty). Shown to operators, never to members.
    #[serde(default)]
    pub reason: String,
    /// When the ban was made, unix ms (0 when a shared list does not say).
    #[serde(default)]
    pub at_ms: i64,
    /// Who made it: `qq:10001` for a super user's `/gban`, `cli` for the operator's tool, or
    /// whatever a shared list says.
    #[serde(default)]
    pub by: String,
}

/// Where a ban in force comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The instance's own list (stored).
    Local,
    /// A subscribed shared list (`[bans] subscribe`), by its index in the configuration.
    Shared(usize),
    /// The CAS database (Telegram), looked up when the member joined.
    Cas,
}

impl Origin {
    /// The rule name audit cases carry for a removal because of this ban.
    #[must_use]
    pub fn rule(self) -> &'static str {
        match self {
            Self::Local | Self::Shared(_) => "gban",
            Self::Cas => "cas",
        }
    }
}

/// The ban list's counters and gauges (`/metrics`); the bans service sets them as what they
/// measure changes, so rendering costs a few atomic loads.
#[derive(Debug, Default)]
pub struct BanGauges {
    /// Entries of the instance's own list.
    pub local: AtomicU64,
    /// Entries of the subscribed lists (after the last good refresh of each).
    pub shared: AtomicU64,
    /// Members removed (or join requests declined) because they were banned.
    pub enforced: AtomicU64,
    /// Banned members left alone because they are protected: a super user, the bot, a group
    /// owner or admin, or one of the group's exempt members (logged as a warning).
    pub protected: AtomicU64,
    /// Subscription refreshes that replaced a list.
    pub refresh_ok: AtomicU64,
    /// Subscription refreshes that kept the previous list (unreachable, bad format).
    pub refresh_failed: AtomicU64,
    /// CAS lookups answered from the network, by result.
    pub cas_banned: AtomicU64,
    /// CAS lookups that found the member clean.
    pub cas_clean: AtomicU64,
    /// CAS lookups that failed (timeout, unreachable, bad answer): the member was let in.
    pub cas_failed: AtomicU64,
    /// CAS lookups answered from the cache.
    pub cas_cached: AtomicU64,
}

impl BanGauges {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the Prometheus text of these gauges to `out`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let series: [(&str, &str, &str, &str, &AtomicU64); 10] = [
            (
                "qunguan_bans",
                "gauge",
                "Global bans in force, by source.",
                "source=\"local\"",
                &self.local,
            ),
            ("qunguan_bans", "gauge", "", "source=\"shared\"", &self.shared),
            (
                "qunguan_bans_enforced_total",
                "counter",
                "Banned members removed, or their join requests declined.",
                "",
                &self.enforced,
            ),
            (
                "qunguan_bans_protected_total",
                "counter",
                "Banned members left alone because they are protected (super user, the bot, an owner or admin, an exempt member).",
                "",
                &self.protected,
            ),
            (
                "qunguan_bans_refresh_total",
                "counter",
                "Ban-list subscription refreshes, by result.",
                "result=\"ok\"",
                &self.refresh_ok,
            ),
            (
                "qunguan_bans_refresh_total",
                "counter",
                "",
                "result=\"failed\"",
                &self.refresh_failed,
            ),
            (
                "qunguan_cas_lookups_total",
                "counter",
                "CAS lookups of new Telegram members, by result.",
                "result=\"banned\"",
                &self.cas_banned,
            ),
            (
                "qunguan_cas_lookups_total",
                "counter",
                "",
                "result=\"clean\"",
                &self.cas_clean,
            ),
            (
                "qunguan_cas_lookups_total",
                "counter",
                "",
                "result=\"failed\"",
                &self.cas_failed,
            ),
            (
                "qunguan_cas_lookups_total",
                "counter",
                "",
                "result=\"cached\"",
                &self.cas_cached,
            ),
        ];
        for (name, kind, help, labels, n) in series {
            // The first series of a name carries its help text.
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            }
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {}", load(n));
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {}", load(n));
            }
        }
    }
}
