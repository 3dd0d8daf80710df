//! The send governor: paces the bot's own messages per group and per bot account.
//!
//! QQ accounts that post in bursts get risk-controlled (风控) and Telegram answers 429 beyond
//! about 20 messages a minute in one group, so the bot's messages (warnings, welcomes,
//! replies) go out at most N per window. The limits are sliding windows — "at most 20 in any
//! 60 seconds" — kept as the times of the last N sends, which is exact and needs no timer.
//! Moderation actions (recall, mute, kick) are not paced: they are what protects the group.
//!
//! A group's window exists only while it has sent within the last minute (an absent window
//! allows a send at once, so looking does not create one), and at most `[limits]
//! send_window_groups` exist: a send to a new group beyond that drops the idle windows, then
//! the one whose last send is oldest (that group may then post a little above its limit in
//! that minute; counted as an eviction of `send_windows` on `/metrics`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::config::OutboxSettings;
use crate::domain::account::AccountId;
use crate::domain::action::Capabilities;
use crate::domain::bounds::Bound;
use crate::domain::event::{GroupId, Platform};

/// At most `limit` events in any `window`.
#[derive(Clone, Debug)]
pub struct RateWindow {
    limit: usize,
    window_ms: i64,
    times: VecDeque<i64>,
}

impl RateWindow {
    /// A window allowing `limit` events per `window`; a limit of 0 allows everything.
    #[must_use]
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Self {
            limit,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            times: VecDeque::with_capacity(limit.min(64)),
        }
    }

    /// The earliest time, at or after `now_ms`, at which one more event is allowed.
    #[must_use]
    pub fn next_free(&self, now_ms: i64) -> i64 {
        if self.limit == 0 || self.times.len() < self.limit {
            return now_ms;
        }
        self.times
            .front()
            .map_or(now_ms, |oldest| now_ms.max(oldest.saturating_add(self.window_ms)))
    }

    /// Counts an event at `now_ms`.
    pub fn record(&mut self, now_ms: i64) {
        if self.limit == 0 {
            return;
        }
        if self.times.len() == self.limit {
            self.times.pop_front();
        }
        self.times.push_back(now_ms);
    }
}

/// What a platform can do, as the gateways report it.
pub type CapabilitiesFn = Arc<dyn Fn(Platform) -> Capabilities + Send + Sync>;

/// Which account keeps a group (`None`: not known, the platform's only gateway).
pub type RouteFn = Arc<dyn Fn(GroupId) -> Option<AccountId> + Send + Sync>;

/// The key of an account's window: the platform and the account, when known (the
/// single-account form and groups not seen yet share the platform's window).
type AccountKey = (Platform, Option<i64>);

/// The per-group and per-account windows.
pub struct Governor {
    per_group: HashMap<GroupId, RateWindow>,
    /// One per account (risk control, 风控, counts per QQ account): at most one per
    /// configured account and platform, so bounded by the configuration.
    per_account: HashMap<AccountKey, RateWindow>,
    route: RouteFn,
    limits: Limits,
    /// The per-group windows held, and the most allowed.
    bound: Arc<Bound>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor")
            .field("groups", &self.per_group.len())
            .finish_non_exhaustive()
    }
}

/// Configured limits; 0 means "the platform's default".
#[derive(Clone)]
struct Limits {
    per_minute_per_group: u32,
    per_second_total: u32,
    capabilities: CapabilitiesFn,
}

impl Governor {
    /// A governor with the configured limits, falling back to each platform's defaults
    /// (from `capabilities`).
    #[must_use]
    pub fn new(settings: &OutboxSettings, capabilities: CapabilitiesFn) -> Self {
        Self {
            per_group: HashMap::new(),
            per_account: HashMap::new(),
            route: Arc::new(|_| None),
            limits: Limits {
                per_minute_per_group: settings.sends_per_minute_per_group,
                per_second_total: settings.sends_per_second_total,
                capabilities,
            },
            bound: Bound::new(
                "send_windows",
                crate::config::LimitsSettings::default().send_window_groups,
            ),
        }
    }

    /// This governor keeping the windows of at most `groups` groups.
    #[must_use]
    pub fn with_capacity(self, groups: usize) -> Self {
        self.bound.set_capacity(groups.max(1));
        self
    }

    /// Paces each group's messages in the window of the account `route` says keeps it.
    pub fn set_route(&mut self, route: RouteFn) {
        self.route = route;
    }

    /// The account window `group`'s messages count in.
    fn account_of(&self, group: GroupId) -> AccountKey {
        (group.platform, (self.route)(group).map(|a| a.id))
    }

    /// The per-group windows' size (for `/metrics`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// The earliest time a message may go to `group`.
    pub fn next_free(&mut self, group: GroupId, now_ms: i64) -> i64 {
        let account = self.account_of(group);
        let limits = &self.limits;
        // No window: nothing sent to the group in the last minute, so it may send now.
        let group_next = self
            .per_group
            .get(&group)
            .map_or(now_ms, |window| window.next_free(now_ms));
        let account_next = self
            .per_account
            .entry(account)
            .or_insert_with(|| limits.account_window(group.platform))
            .next_free(now_ms);
        group_next.max(account_next)
    }

    /// Counts a message sent to `group` at `now_ms`.
    pub fn record(&mut self, group: GroupId, now_ms: i64) {
        if !self.per_group.contains_key(&group) && self.per_group.len() >= self.bound.capacity() {
            self.make_room(now_ms);
        }
        let account = self.account_of(group);
        let limits = &self.limits;
        self.per_group
            .entry(group)
            .or_insert_with(|| limits.group_window(group.platform))
            .record(now_ms);
        self.per_account
            .entry(account)
            .or_insert_with(|| limits.account_window(group.platform))
            .record(now_ms);
        self.bound.set_len(self.per_group.len());
    }

    /// Drops idle windows, then those whose last send is oldest, until one more fits.
    fn make_room(&mut self, now_ms: i64) {
        self.forget_idle(now_ms);
        while self.per_group.len() >= self.bound.capacity() {
            let stalest = self
                .per_group
                .iter()
                .min_by_key(|(_, w)| w.times.back().copied().unwrap_or(i64::MIN))
                .map(|(group, _)| *group);
            let Some(group) = stalest else { break };
            self.per_group.remove(&group);
            self.bound.evict(1);
        }
    }

    /// Drops the windows of groups that have not sent for a minute (they allow everything
    /// again anyway), so memory follows the groups that are active.
    pub fn forget_idle(&mut self, now_ms: i64) {
        self.per_group.retain(|_, w| w.recent(now_ms));
        self.bound.set_len(self.per_group.len());
    }
}

impl RateWindow {
    fn recent(&self, now_ms: i64) -> bool {
        self.times
            .back()
            .is_some_and(|t| now_ms.saturating_sub(*t) < self.window_ms)
    }
}

impl Limits {
    fn group_window(&self, platform: Platform) -> RateWindow {
        let per_minute = match self.per_minute_per_group {
            0 => (self.capabilities)(platform).sends_per_minute_per_group,
            n => n,
        };
        RateWindow::new(per_minute, Duration::from_secs(60))
    }

    fn account_window(&self, platform: Platform) -> RateWindow {
        let per_second = match self.per_second_total {
            0 => (self.capabilities)(platform).sends_per_second_total,
            n => n,
        };
        RateWindow::new(per_second, Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_n_then_waits_for_the_oldest_to_age_out() {
        let mut w = RateWindow::new(3, Duration::from_secs(60));
        for t in [0, 10, 20] {
            assert_eq!(w.next_free(t), t);
            w.record(t);
        }
        assert_eq!(w.next_free(30), 60_000, "the 4th waits until the 1st is 60 s old");
        w.record(60_000);
        assert_eq!(w.next_free(60_001), 60_010);
        assert_eq!(
            RateWindow::new(0, Duration::from_secs(1)).next_free(5),
            5,
            "0 = unlimited"
        );
    }

    #[test]
    fn group_and_account_limits_both_apply_with_platform_defaults() {
        let settings = OutboxSettings {
            sends_per_second_total: 2,
            ..OutboxSettings::default()
        };
        let mut g = Governor::new(
            &settings,
            Arc::new(|_| Capabilities {
                sends_per_minute_per_group: 3,
                ..Capabilities::ONEBOT
            }),
        );
        let (a, b) = (GroupId::qq(1), GroupId::qq(2));
        // Account: 2 per second over both groups.
        assert_eq!(g.next_free(a, 0), 0);
        g.record(a, 0);
        assert_eq!(g.next_free(b, 0), 0);
        g.record(b, 0);
        assert_eq!(g.next_free(a, 0), 1_000);
        // Group: 3 per minute (the platform default, since the setting is 0).
        g.record(a, 1_000);
        g.record(a, 2_000);
        assert_eq!(g.next_free(a, 3_000), 60_000);
        assert_eq!(g.next_free(b, 3_000), 3_000, "the other group is not held back");
        // Another platform has its own account window.
        assert_eq!(g.next_free(GroupId::telegram(-5), 0), 0);
    }

    #[test]
    fn each_account_has_its_own_window() {
        let settings = OutboxSettings {
            sends_per_second_total: 1,
            sends_per_minute_per_group: 0,
            ..OutboxSettings::default()
        };
        let mut g = Governor::new(&settings, Arc::new(|_| Capabilities::ONEBOT));
        // Groups 1 and 2 are kept by account 20001, group 3 by 20002.
        g.set_route(Arc::new(|group: GroupId| {
            Some(AccountId::qq(if group.id == 3 { 20_002 } else { 20_001 }))
        }));
        g.record(GroupId::qq(1), 0);
        assert_eq!(g.next_free(GroupId::qq(2), 0), 1_000, "the same account waits");
        assert_eq!(g.next_free(GroupId::qq(3), 0), 0, "another account does not");
    }

    #[test]
    fn at_most_the_configured_groups_have_a_window_and_looking_creates_none() {
        let settings = OutboxSettings {
            sends_per_minute_per_group: 1,
            sends_per_second_total: 0,
            ..OutboxSettings::default()
        };
        let mut g = Governor::new(&settings, Arc::new(|_| Capabilities::ONEBOT)).with_capacity(3);
        let bound = g.bound();
        for n in 0..10 {
            assert_eq!(g.next_free(GroupId::qq(n), 0), 0);
        }
        assert_eq!(bound.len(), 0, "asking when a group may send keeps nothing");
        for n in 1..=4 {
            g.record(GroupId::qq(n), n * 1_000);
        }
        assert_eq!((bound.len(), bound.capacity(), bound.evicted()), (3, 3, 1));
        // Group 1 sent longest ago: its window made room, so it may send again at once.
        assert_eq!(g.next_free(GroupId::qq(1), 5_000), 5_000);
        assert_eq!(
            g.next_free(GroupId::qq(4), 5_000),
            64_000,
            "the others keep their limit"
        );
        // A minute later every window is idle: a new group's send drops them, not counted.
        g.record(GroupId::qq(9), 120_000);
        assert_eq!((bound.len(), bound.evicted()), (1, 1));
    }
}
