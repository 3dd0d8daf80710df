//! The instance-wide ban list at work: who is banned (in memory, for every event), removing
//! banned members wherever they turn up, and the optional CAS lookup of new Telegram members.
//!
//! - **Decided** in `policy::bans`: [`BanList`] says whether a member is banned,
//!   `policy::bans::removal` what is done about it.
//! - **Durable**: the instance's own bans live in the store's `bans` tree; a removal is one
//!   unit of work (the event's seen key, an audit case, the actions), so a redelivered event
//!   removes nobody twice.
//! - **Sent** only by the outbox, which routes each group's actions through the account that
//!   keeps the group.
//!
//! The list in memory is rebuilt (and swapped whole) only when it changes — a `/gban`,
//! `/ungban`, or a shared list's refresh — so asking it costs one hash lookup per event.
//!
//! Shared lists and CAS come from outside. This service neither reads files nor speaks HTTP:
//! the runtime reads the subscribed lists and hands their text to [`Bans::set_shared`], and
//! gives the service a [`CasLookup`] to ask CAS with.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;

use crate::config::Settings;
use crate::domain::action::Action;
use crate::domain::action::Capabilities;
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::ban::{Ban, BanGauges, Origin};
use crate::domain::bounds::Bound;
use crate::domain::effects::{StrikeWrite, Subject, Writes};
use crate::domain::event::{Event, EventKey, GroupId, Platform, UserRef};
use crate::domain::metrics::Metrics;
use crate::domain::sink::Outcome;
use crate::policy::bans::{BanList, ListError, Sighting};
use crate::policy::group::Policies;
use crate::service::pipeline::PipelineError;
use crate::store::{Store, StoreError};

/// What a CAS lookup answers: listed (a known spammer) or not; `Err` when CAS could not be
/// asked or its answer not read.
pub type CasAnswer = Result<bool, String>;

/// Asks CAS about one Telegram user (implemented over HTTP by the runtime).
pub trait CasLookup: Send + Sync {
    /// Whether CAS lists `user_id`.
    fn listed(&self, user_id: i64) -> Pin<Box<dyn Future<Output = CasAnswer> + Send + '_>>;
}

/// Why a ban could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum BanError {
    /// Super users (`[admin] super_users`) are never banned.
    #[error("{0} is a super user ([admin] super_users) and cannot be banned; nothing was changed")]
    SuperUser(UserRef),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ban list service (one per daemon).
pub struct Bans {
    store: Store,
    settings: Arc<Settings>,
    /// Super users, exempt members and dry run, per group (from `settings`).
    policies: Policies,
    metrics: Arc<Metrics>,
    /// What every event is checked against; replaced whole on a change.
    list: ArcSwap<BanList>,
    /// The parts the list is built from: the own list's members and each subscribed list's
    /// (by configuration index; empty until its first good read).
    parts: Mutex<Parts>,
    cas: Option<Cas>,
    /// Wakes the shared lists' refresher ([`Bans::refresh_now`]).
    refresh: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Parts {
    local: HashSet<UserRef>,
    shared: Vec<Vec<UserRef>>,
}

/// The CAS lookup and its cache of answers (bounded; the oldest half is dropped when full).
struct Cas {
    lookup: Arc<dyn CasLookup>,
    timeout: Duration,
    ttl_ms: i64,
    /// User id → (listed, answered at ms).
    cache: Mutex<HashMap<i64, (bool, i64)>>,
    bound: Arc<Bound>,
}

impl std::fmt::Debug for Bans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bans")
            .field("banned", &self.list.load().len())
            .finish_non_exhaustive()
    }
}

impl Bans {
    /// The service over the bans stored in `store` (read once, here), counting into
    /// `metrics`.
    pub fn load(settings: Arc<Settings>, store: Store, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        let local: HashSet<UserRef> = store.bans()?.into_iter().map(|b| b.user).collect();
        let shared = vec![Vec::new(); settings.bans.subscribe.len()];
        let bans = Self {
            store,
            policies: settings.policies(),
            settings,
            metrics,
            list: ArcSwap::from_pointee(BanList::default()),
            parts: Mutex::new(Parts { local, shared }),
            cas: None,
            refresh: Arc::default(),
        };
        bans.rebuild(&bans.lock_parts());
        Ok(bans)
    }

    /// A service that has read nothing yet (a pipeline built without the app; the app
    /// replaces it with [`Bans::load`]).
    #[must_use]
    pub fn empty(settings: Arc<Settings>, store: Store) -> Self {
        let shared = vec![Vec::new(); settings.bans.subscribe.len()];
        Self {
            store,
            policies: settings.policies(),
            settings,
            metrics: Arc::default(),
            list: ArcSwap::from_pointee(BanList::default()),
            parts: Mutex::new(Parts {
                local: HashSet::new(),
                shared,
            }),
            cas: None,
            refresh: Arc::default(),
        }
    }

    /// Looks new Telegram members up with `lookup` (`[bans] cas = true`).
    #[must_use]
    pub fn with_cas(mut self, lookup: Arc<dyn CasLookup>) -> Self {
        let bans = &self.settings.bans;
        let bound = Bound::new("cas_cache", bans.cas_cache.max(1));
        self.metrics.track(Arc::clone(&bound));
        self.cas = Some(Cas {
            lookup,
            timeout: bans.cas_timeout.get(),
            ttl_ms: i64::try_from(bans.cas_ttl.get().as_millis()).unwrap_or(i64::MAX),
            cache: Mutex::new(HashMap::new()),
            bound,
        });
        self
    }

    fn gauges(&self) -> &BanGauges {
        &self.metrics.bans
    }

    fn lock_parts(&self) -> std::sync::MutexGuard<'_, Parts> {
        // The parts are replaced whole under the lock; a poisoned one is still consistent.
        self.parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn rebuild(&self, parts: &Parts) {
        let list = BanList::merged(&parts.local, &parts.shared);
        let gauges = self.gauges();
        let shared: usize = parts.shared.iter().map(Vec::len).sum();
        gauges
            .local
            .store(parts.local.len() as u64, std::sync::atomic::Ordering::Relaxed);
        gauges.shared.store(shared as u64, std::sync::atomic::Ordering::Relaxed);
        self.list.store(Arc::new(list));
    }

    /// Why `user` is banned, if they are (one hash lookup).
    #[must_use]
    pub fn banned(&self, user: UserRef) -> Option<Origin> {
        self.list.load().banned(user)
    }

    /// Bans `ban.user` in memory after the store recorded it.
    pub(crate) fn added(&self, user: UserRef) {
        let mut parts = self.lock_parts();
        if parts.local.insert(user) {
            self.rebuild(&parts);
        }
    }

    /// Lifts the in-memory ban of `user` after the store removed it.
    pub(crate) fn lifted(&self, user: UserRef) {
        let mut parts = self.lock_parts();
        if parts.local.remove(&user) {
            self.rebuild(&parts);
        }
    }

    /// Replaces shared list `index` with the bans in `text` (see `policy::bans` for the
    /// format). A list with a bad line is refused whole, naming the line, and the previous
    /// version stays in force. Returns how many members the list bans.
    pub fn set_shared(&self, index: usize, text: &str) -> Result<usize, ListError> {
        let parsed = crate::policy::bans::parse(text, self.settings.bans.max_entries);
        let gauges = self.gauges();
        let bans = match parsed {
            Ok(bans) => bans,
            Err(e) => {
                BanGauges::bump(&gauges.refresh_failed);
                return Err(e);
            }
        };
        let users: Vec<UserRef> = bans.into_iter().map(|b| b.user).collect();
        let count = users.len();
        let mut parts = self.lock_parts();
        if let Some(slot) = parts.shared.get_mut(index) {
            *slot = users;
        }
        self.rebuild(&parts);
        BanGauges::bump(&gauges.refresh_ok);
        Ok(count)
    }

    /// Reads the shared lists again now, without waiting for `[bans] refresh` (tests, and
    /// operators through the runtime).
    pub fn refresh_now(&self) {
        self.refresh.notify_one();
    }

    /// What [`Bans::refresh_now`] rings (for the runtime's refresher).
    pub(crate) fn refresh_bell(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.refresh)
    }

    /// Counts a refresh that could not read its list (unreachable, unreadable).
    pub fn refresh_failed(&self) {
        BanGauges::bump(&self.gauges().refresh_failed);
    }

    /// Whether CAS lists the new Telegram member `user_id`: from the cache, else asked
    /// within `[bans] cas_timeout`. `None` when CAS is off, or could not be asked — then the
    /// member is let in, and the log says so.
    pub async fn cas_listed(&self, user_id: i64, now_ms: i64) -> Option<bool> {
        let cas = self.cas.as_ref()?;
        let gauges = self.gauges();
        let cached = cas
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user_id)
            .copied();
        if let Some((listed, at)) = cached
            && now_ms.saturating_sub(at) < cas.ttl_ms
        {
            BanGauges::bump(&gauges.cas_cached);
            return Some(listed);
        }
        let answer = match tokio::time::timeout(cas.timeout, cas.lookup.listed(user_id)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {:?}", cas.timeout)),
        };
        match answer {
            Ok(listed) => {
                BanGauges::bump(if listed { &gauges.cas_banned } else { &gauges.cas_clean });
                let mut cache = cas.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if cache.len() >= cas.bound.capacity() && !cache.contains_key(&user_id) {
                    // Full: forget the older half (answers expire anyway).
                    let mut ages: Vec<i64> = cache.values().map(|(_, at)| *at).collect();
                    ages.sort_unstable();
                    let cut = ages.get(ages.len() / 2).copied().unwrap_or(i64::MAX);
                    let before = cache.len();
                    cache.retain(|_, (_, at)| *at > cut);
                    cas.bound.evict(before - cache.len());
                }
                cache.insert(user_id, (listed, now_ms));
                cas.bound.set_len(cache.len());
                Some(listed)
            }
            Err(reason) => {
                BanGauges::bump(&gauges.cas_failed);
                tracing::warn!(user = user_id, error = %reason, "CAS could not be asked; the new member is let in");
                None
            }
        }
    }

    /// Removes a banned member met in `group` (`sighting`), if they are banned (or `cas` says
    /// so): the removal, an audit case and the event's seen key in one unit of work. `None`
    /// when the member is not banned: the caller goes on as usual. In a group in dry run the
    /// case is recorded (marked dry run) and nothing is sent.
    pub(crate) fn enforce(
        &self,
        event: &Event,
        (group, user_id, dry_run): (GroupId, i64, bool),
        sighting: &Sighting,
        (cas, moderator): (bool, bool),
        now: Timestamp,
    ) -> Result<Option<Outcome>, PipelineError> {
        let user = UserRef {
            platform: group.platform,
            id: user_id,
        };
        let Some(origin) = self.banned(user).or(cas.then_some(Origin::Cas)) else {
            return Ok(None);
        };
        if let Some(who) = self.protected(group, user_id, event.self_id, moderator) {
            BanGauges::bump(&self.gauges().protected);
            tracing::warn!(%group, user = user_id, rule = origin.rule(), who, "a banned member is protected; not removed (lift the ban, or check the list)");
            return Ok(None);
        }
        let locale = self.settings.messages.locale;
        let reason = crate::policy::i18n::default_reject_reason(locale);
        let mut actions = crate::policy::bans::removal(group, user_id, sighting, Capabilities::of(group), reason);
        if actions.is_empty() {
            tracing::warn!(%group, user = user_id, "a banned member is here, but this group's platform cannot remove them");
            return Ok(Some(Outcome::Ignored("banned member; nothing the platform can do")));
        }
        let measure = match sighting {
            Sighting::Requested { .. } => Measure::JoinRejected,
            Sighting::Spoke { .. } | Sighting::Joined => Measure::Ban,
        };
        let mut entry = AuditEntry::new(
            group,
            now.as_millisecond(),
            user_id,
            Actor::Auto,
            origin.rule(),
            measure,
        );
        if let Sighting::Spoke { message_id } = sighting {
            entry.message_id = Some(*message_id);
            entry.recalled = vec![*message_id];
        }
        if let Ok(Some(ban)) = self.store.ban(user) {
            entry.reason = self.settings.limits.text().excerpt(&ban.reason);
        }
        if dry_run {
            entry.dry_run = true;
            actions.clear();
        }
        let count = actions.len();
        let committed = self
            .store
            .commit(&event.key, now, Some(Subject { group, user: None }), |_| {
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: actions.clone(),
                    audit: Some(entry.clone()),
                };
                (writes, ())
            })?;
        if committed.is_none() {
            return Ok(Some(Outcome::Duplicate));
        }
        if dry_run {
            tracing::info!(%group, user = user_id, rule = origin.rule(), ?sighting, "banned member met (dry run: nothing sent)");
            return Ok(Some(Outcome::Observed));
        }
        BanGauges::bump(&self.gauges().enforced);
        tracing::info!(%group, user = user_id, rule = origin.rule(), ?sighting, "banned member removed");
        Ok(Some(Outcome::Acted { actions: count }))
    }

    /// Why `user_id` of `group` is never removed for a ban, if they are protected: the bot
    /// (`self_id`), a super user, a group owner or admin (`moderator`, as the event says), or
    /// one of the group's exempt members.
    fn protected(&self, group: GroupId, user_id: i64, self_id: i64, moderator: bool) -> Option<&'static str> {
        if user_id == self_id {
            Some("the bot")
        } else if self.policies.is_super_user(group.platform, user_id) {
            Some("a super user")
        } else if moderator {
            Some("a group owner or admin")
        } else if self.policies.group(group).is_exempt(user_id) {
            Some("an exempt member")
        } else {
            None
        }
    }

    /// Refuses to ban a super user.
    fn check_bannable(&self, user: UserRef) -> Result<(), BanError> {
        if self.policies.is_super_user(user.platform, user.id) {
            return Err(BanError::SuperUser(user));
        }
        Ok(())
    }

    /// What a new ban of `user` does in the groups they were `seen` in: the kicks of the live
    /// groups, and the groups in dry run, where nothing is sent (see
    /// [`Bans::record_dry_run`]).
    pub(crate) fn expel(&self, user: UserRef, seen: &[GroupId]) -> (Vec<Action>, Vec<GroupId>) {
        let (dry, live): (Vec<Action>, Vec<Action>) = crate::policy::bans::expel(user, seen)
            .into_iter()
            .partition(|kick| self.policies.group(kick.group()).dry_run);
        let dry = dry.iter().map(Action::group).collect();
        (live, dry)
    }

    /// Records, for each group of `groups` (in dry run), the removal of `ban`'s member that a
    /// new ban would have made there: an audit case marked dry run, nothing sent. Each case
    /// is recorded once per ban (keyed by the member, the group and the ban's time).
    pub(crate) fn record_dry_run(
        &self,
        ban: &Ban,
        groups: &[GroupId],
        actor: &Actor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for &group in groups {
            let key = EventKey::derive(&format!("ban-dry-run/{}/{group}/{}", ban.user, ban.at_ms));
            let mut entry = AuditEntry::new(
                group,
                now.as_millisecond(),
                ban.user.id,
                actor.clone(),
                Origin::Local.rule(),
                Measure::Ban,
            );
            entry.reason.clone_from(&ban.reason);
            entry.dry_run = true;
            self.store.commit(&key, now, Some(Subject { group, user: None }), |_| {
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: Vec::new(),
                    audit: Some(entry.clone()),
                };
                (writes, ())
            })?;
            tracing::info!(%group, user = %ban.user, "banned member not removed: the group is in dry run (case recorded)");
        }
        Ok(())
    }

    /// Records `ban` (a `/gban`), keeping an earlier ban of the same member as it was;
    /// banned in memory at once. The caller records the case and the kicks next (see
    /// `store::bans` for why in this order).
    pub(crate) fn record(&self, ban: &Ban) -> Result<(), StoreError> {
        self.store.put_ban(ban, false)?;
        self.added(ban.user);
        Ok(())
    }

    /// Lifts the ban of `user` (a `/ungban`); the lifted ban, or `None` when the own list
    /// did not hold them.
    pub(crate) fn lift(&self, user: UserRef) -> Result<Option<Ban>, StoreError> {
        let lifted = self.store.remove_ban(user)?;
        self.lifted(user);
        Ok(lifted)
    }

    /// The operator's `qunguan bans add`: records `ban` (replacing an entry of the same
    /// member) and queues one kick for each group the member was seen in (a group in dry run
    /// gets a dry-run case instead). Returns whether the member was not banned before, and
    /// how many kicks were queued. A super user is refused.
    pub fn add(&self, ban: &Ban, now: Timestamp) -> Result<(bool, usize), BanError> {
        self.check_bannable(ban.user)?;
        let new = self.store.put_ban(ban, true)?;
        self.added(ban.user);
        let (kicks, dry) = self.expel(ban.user, &self.store.groups_seen(ban.user)?);
        let groups = kicks.len();
        self.store.enqueue(kicks, now)?;
        self.record_dry_run(ban, &dry, &Actor::Auto, now)?;
        Ok((new, groups))
    }

    /// What lifting the ban of `user` sends: the platform's own refusal of re-joining lifted
    /// in every group they were seen in where one was left ([`crate::policy::bans::readmit`];
    /// Telegram), except groups in dry run, where none was left.
    pub(crate) fn readmit(&self, user: UserRef) -> Result<Vec<Action>, StoreError> {
        Ok(crate::policy::bans::readmit(user, &self.store.groups_seen(user)?)
            .into_iter()
            .filter(|unban| !self.policies.group(unban.group()).dry_run)
            .collect())
    }

    /// The operator's `qunguan bans remove`: lifts the bans of `users` and queues the
    /// platform's unbans ([`Self::readmit`]); returns those that were banned.
    pub fn remove(&self, users: &[UserRef], now: Timestamp) -> Result<Vec<UserRef>, StoreError> {
        let mut lifted = Vec::new();
        for user in users {
            if self.lift(*user)?.is_some() {
                self.store.enqueue(self.readmit(*user)?, now)?;
                lifted.push(*user);
            }
        }
        Ok(lifted)
    }

    /// The operator's `qunguan bans import`: adds `bans`, replacing entries of the same
    /// members; returns how many members were not banned before. No kicks are queued: an
    /// imported list is enforced where its members join or speak. A list naming a super user
    /// is refused whole.
    pub fn import(&self, bans: &[Ban]) -> Result<usize, BanError> {
        if let Some(ban) = bans.iter().find(|b| self.check_bannable(b.user).is_err()) {
            return Err(BanError::SuperUser(ban.user));
        }
        let new = self.store.put_bans(bans)?;
        let mut parts = self.lock_parts();
        parts.local.extend(bans.iter().map(|b| b.user));
        self.rebuild(&parts);
        Ok(new)
    }

    /// The most entries a list may hold (`[bans] max_entries`).
    #[must_use]
    pub fn max_entries(&self) -> usize {
        self.settings.bans.max_entries
    }

    /// The instance's own bans, as stored.
    pub fn list(&self) -> Result<Vec<Ban>, StoreError> {
        self.store.bans()
    }

    /// Whether new members of `platform` are looked up in CAS (Telegram only).
    #[must_use]
    pub fn cas_enabled(&self, platform: Platform) -> bool {
        self.cas.is_some() && platform == Platform::Telegram
    }
}

/// The pipeline's three checks, one call each; the member is `(group, user, the group is in
/// dry run)`.
impl Bans {
    /// A message of `user_id` in `group`: recalled and its author removed when banned.
    pub(crate) fn on_message(
        &self,
        event: &Event,
        (group, user_id, dry_run): (GroupId, i64, bool),
        message_id: i64,
        moderator: bool,
        now: Timestamp,
    ) -> Result<Option<Outcome>, PipelineError> {
        self.enforce(
            event,
            (group, user_id, dry_run),
            &Sighting::Spoke { message_id },
            (false, moderator),
            now,
        )
    }

    /// A member joined: removed when banned, or (Telegram, `[bans] cas`) listed by CAS.
    pub(crate) async fn on_join(
        &self,
        event: &Event,
        (group, user_id, dry_run): (GroupId, i64, bool),
        now: Timestamp,
    ) -> Result<Option<Outcome>, PipelineError> {
        let user = UserRef {
            platform: group.platform,
            id: user_id,
        };
        let cas = self.banned(user).is_none()
            && self.cas_enabled(group.platform)
            && self.cas_listed(user_id, now.as_millisecond()).await == Some(true);
        self.enforce(event, (group, user_id, dry_run), &Sighting::Joined, (cas, false), now)
    }

    /// A join request: declined when the applicant is banned.
    pub(crate) fn on_request(
        &self,
        event: &Event,
        (group, user_id, dry_run): (GroupId, i64, bool),
        handle: &str,
        now: Timestamp,
    ) -> Result<Option<Outcome>, PipelineError> {
        let sighting = Sighting::Requested {
            handle: handle.to_owned(),
        };
        self.enforce(event, (group, user_id, dry_run), &sighting, (false, false), now)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// CAS lists even ids, fails for negative ones, and counts what it was asked.
    struct FakeCas(AtomicUsize);

    impl CasLookup for FakeCas {
        fn listed(&self, user_id: i64) -> Pin<Box<dyn Future<Output = CasAnswer> + Send + '_>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if user_id < 0 {
                    Err("unreachable".into())
                } else {
                    Ok(user_id % 2 == 0)
                }
            })
        }
    }

    #[tokio::test]
    async fn cas_answers_are_cached_within_their_bound_and_failures_let_members_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(&dir.path().join("data")).expect("open");
        let mut settings = Settings::default();
        settings.bans.cas_cache = 2;
        let fake = Arc::new(FakeCas(AtomicUsize::new(0)));
        let metrics: Arc<Metrics> = Arc::default();
        let bans = Bans::load(Arc::new(settings), store, Arc::clone(&metrics))
            .expect("load")
            .with_cas(Arc::clone(&fake) as Arc<dyn CasLookup>);
        assert_eq!(bans.cas_listed(2, 0).await, Some(true));
        assert_eq!(bans.cas_listed(3, 1).await, Some(false));
        assert_eq!(bans.cas_listed(2, 2).await, Some(true), "cached");
        assert_eq!(fake.0.load(Ordering::SeqCst), 2);
        // Full: the older half goes, so the cache never holds more than its bound.
        assert_eq!(bans.cas_listed(4, 3).await, Some(true));
        let bound = &bans.cas.as_ref().expect("cas").bound;
        assert!(bound.len() <= 2 && bound.evicted() >= 1, "{bound:?}");
        // An answer older than cas_ttl is asked again.
        assert_eq!(bans.cas_listed(4, 3 + 3_600_000).await, Some(true));
        assert_eq!(fake.0.load(Ordering::SeqCst), 4);
        // CAS unreachable: no answer, the member is let in, and it is counted.
        assert_eq!(bans.cas_listed(-5, 10).await, None);
        let gauges = &metrics.bans;
        assert_eq!(gauges.cas_failed.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(gauges.cas_cached.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(!bans.cas_enabled(Platform::Qq) && bans.cas_enabled(Platform::Telegram));
    }

    #[test]
    fn a_shared_list_with_a_bad_line_keeps_the_previous_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(&dir.path().join("data")).expect("open");
        let mut settings = Settings::default();
        settings.bans.subscribe = vec!["/nonexistent.csv".into()];
        let bans = Bans::load(Arc::new(settings), store, Arc::default()).expect("load");
        let user: UserRef = "qq:1".parse().expect("user");
        assert_eq!(bans.set_shared(0, "user,reason,at,by\nqq:1,x,,y\n"), Ok(1));
        assert_eq!(bans.banned(user), Some(Origin::Shared(0)));
        let e = bans
            .set_shared(0, "user,reason,at,by\nqq:2,x,,y\nqq:x,,,\n")
            .expect_err("bad line");
        assert_eq!(e.line, 3);
        assert_eq!(bans.banned(user), Some(Origin::Shared(0)), "the previous list stays");
        bans.added(user);
        assert_eq!(bans.banned(user), Some(Origin::Local), "the own list wins");
    }
}
