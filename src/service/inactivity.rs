//! Inactivity (潜水): who has been silent, reminders, and optional removal.
//!
//! The pipeline tells [`Inactivity`] about every message, join and leave. Times are kept to
//! the day: a member's record holds the start (00:00 UTC) of the day they last spoke or
//! joined, so silences are counted from there and a reminder or removal comes at most a day
//! early against the exact time — nothing at the scale of `remind_after` steps of days.
//! That makes a member's record change at most once a day: messages cost no database write
//! on the webhook path, only a hash lookup in the day's notes (which members were already
//! noted today); the first message of a member each day is noted, and the noted records
//! are written to the store's `members` tree in one batch every [`FLUSH_EVERY`], before
//! every sweep and list, and at shutdown; the engagement batch takes them too, to write a
//! member's activity and message points by one write ([`Inactivity::take_pending`]). A
//! crash loses the notes since the last batch (at most [`FLUSH_EVERY`] plus sled's
//! half-second flush). Joins and leaves are written at once.
//!
//! The notes hold at most `[limits] activity_members` members (8 bytes each: 48 bits of a
//! hash of the member and 16 of the day). When full, yesterday's notes are dropped; if today's alone fill it, all are
//! dropped (counted as evictions): a member dropped from the notes is only written once more.
//! Records waiting for the next batch are bounded the same way.
//!
//! What counts as "silent since": the member's last message, or their join if they have not
//! spoken since. Members who were already in the group when qunguan began tracking it and have
//! not spoken since are unknown to qunguan (a gateway sends no member list with events), so
//! they are not listed, reminded or removed; `/inactive` says when tracking began.
//!
//! The sweep ([`Inactivity::sweep`], run every `[inactivity] check_every` by the app) posts
//! reminders at the `remind_after` steps — one post per group and step, mentioning up to
//! [`MENTIONS_PER_POST`] members, each member once per step and silence — and, when
//! `remove_after` is set (off by default), removes members silent that long: a kick through
//! the outbox with an audit case, like any other. Never touched: the bot (its own messages
//! and join are never recorded), owners and admins (by the role of their last message), super
//! users and the group's `exempt` members. In a dry-run group the removal is only audited and
//! no reminder is posted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::config::Settings;
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::activity::{MemberActivity, Silent, SilentList, Since};
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::bounds::Bound;
use crate::domain::clock::SharedClock;
use crate::domain::effects::{StrikeWrite, Subject, Writes};
use crate::domain::event::{EventKey, GroupId, Role, Sender};
use crate::domain::rule::RuleId;
use crate::policy::group::Policies;
use crate::policy::i18n;
use crate::service::outbox::OutboxHandle;
use crate::store::{Store, StoreError};

/// At most this many members are mentioned in one reminder post.
pub const MENTIONS_PER_POST: usize = 20;

/// The precision of stored activity times: a day.
const DAY_MS: i64 = 86_400_000;

/// How often noted message times are written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Reminder posts enqueued.
    pub posts: usize,
    /// Members reminded.
    pub reminded: usize,
    /// Members whose removal was enqueued (or, in dry run, audited).
    pub removed: usize,
}

/// Tracks activity and runs the reminder/removal sweep.
pub struct Inactivity {
    settings: Arc<Settings>,
    policies: Policies,
    store: Store,
    clock: SharedClock,
    outbox: OutboxHandle,
    /// The day's notes and the records waiting for the next batch.
    noted: Mutex<Noted>,
    /// Members noted (the day's notes), and the most allowed.
    notes_bound: Arc<Bound>,
    /// Records waiting for the next batch, and the most allowed.
    pending_bound: Arc<Bound>,
}

#[derive(Default)]
struct Noted {
    /// To be written by the next flush.
    pending: HashMap<(GroupId, i64), MemberActivity>,
    /// Which members' activity was noted on which day: one [`note`] per member and day,
    /// 8 bytes each (a map from the hash to the day took 16).
    days: HashSet<u64, BuildHasherDefault<NoteHasher>>,
}

/// A member's note of a day: [`member_hash`] with its low 16 bits replaced by the day's
/// (days since 1970-01-01 UTC, modulo 2^16: the notes only ever compare today with the day
/// of a note at most a few days old). A collision of the other 48 bits can only skip one
/// member's write for one day (about 1 in 2^48 per pair).
fn note(hash: u64, day: u32) -> u64 {
    (hash & !0xFFFF) | u64::from(day & 0xFFFF)
}

/// The day bits of a [`note`].
fn note_day(note: u64) -> u32 {
    u32::try_from(note & 0xFFFF).unwrap_or(0)
}

/// The hasher of [`note`]s, [`Prehashed`] with its result remixed: the notes of one day share their low 16 bits, which the table
/// would use to place them, so the hash bits are moved down and mixed into the top bits too.
#[derive(Default)]
struct NoteHasher(Prehashed);

impl Hasher for NoteHasher {
    fn finish(&self) -> u64 {
        let moved = self.0.finish().rotate_right(16);
        moved ^ (moved << 48)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0.write_u64(n);
    }
}

/// The hasher of keys that are hashes already ([`member_hash`]).
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in for correctness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A 64-bit hash of a member of a group: the key of the day's notes. A collision can only
/// skip one member's write for one day (1 in 2^64 per pair).
pub(crate) fn member_hash(group: GroupId, user_id: i64) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (group, user_id).hash(&mut hasher);
    hasher.finish()
}

/// The day of `ms` (days since 1970-01-01 UTC).
fn day_of(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(DAY_MS)).unwrap_or(0)
}

/// The start of the day of `ms`, unix ms: what a record stores.
fn day_start(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

impl std::fmt::Debug for Inactivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inactivity").finish_non_exhaustive()
    }
}

impl Inactivity {
    /// Tracking over `store`; the sweep enqueues into its outbox and wakes `outbox_wake`.
    #[must_use]
    pub fn new(
        settings: Arc<Settings>,
        policies: Policies,
        store: Store,
        clock: SharedClock,
        outbox: OutboxHandle,
    ) -> Self {
        Self {
            policies,
            store,
            clock,
            notes_bound: Bound::new("activity_notes", settings.limits.activity_members),
            pending_bound: Bound::new("activity_pending", settings.limits.activity_members),
            outbox,
            noted: Mutex::new(Noted::default()),
            settings,
        }
    }

    /// The sizes of the day's notes and of the batch (for `/metrics`).
    #[must_use]
    pub fn bounds(&self) -> Vec<Arc<Bound>> {
        vec![Arc::clone(&self.notes_bound), Arc::clone(&self.pending_bound)]
    }

    fn enabled(&self) -> bool {
        self.settings.inactivity.enabled
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, Noted> {
        self.noted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A member sent a message at `now`. Memory only, and only their first message of the
    /// day is noted; see [`Inactivity::flush`].
    pub fn spoke(&self, group: GroupId, sender: &Sender, now: Timestamp) {
        if !self.enabled() {
            return;
        }
        let now_ms = now.as_millisecond();
        let day = day_of(now_ms);
        let today = note(member_hash(group, sender.user_id), day);
        let mut noted = self.noted();
        if noted.days.contains(&today) {
            return;
        }
        let capacity = self.notes_bound.capacity();
        if noted.days.len() >= capacity {
            noted.days.retain(|n| note_day(*n) == note_day(today));
            if noted.days.len() >= capacity {
                self.notes_bound.evict(noted.days.len());
                noted.days.clear();
            }
        }
        let key = (group, sender.user_id);
        if noted.pending.len() >= self.pending_bound.capacity() && !noted.pending.contains_key(&key) {
            // The store is not keeping up (or failing): this member's day is noted at their
            // next message instead.
            self.pending_bound.evict(1);
            return;
        }
        noted.days.insert(today);
        let record = MemberActivity::new(day_start(now_ms), Since::Spoke, sender.name.clone(), sender.role);
        noted.pending.insert(key, record);
        self.notes_bound.set_len(noted.days.len());
        self.pending_bound.set_len(noted.pending.len());
    }

    /// Forgets what was noted of a member whose record is about to be written directly (their
    /// note of the day of `now`: only that one keeps a message from being noted).
    fn unnote(&self, group: GroupId, user_id: i64, now: Timestamp) {
        let mut noted = self.noted();
        let day = day_of(now.as_millisecond());
        noted.days.remove(&note(member_hash(group, user_id), day));
        noted.pending.remove(&(group, user_id));
        self.notes_bound.set_len(noted.days.len());
        self.pending_bound.set_len(noted.pending.len());
    }

    /// Writes the message times noted since the last flush, in one batch. Called every
    /// [`FLUSH_EVERY`], before each sweep and list, and at shutdown; the engagement flush
    /// also takes them, to write each member's activity and points at once
    /// ([`crate::service::engagement::Engagement::flush_with`]).
    pub fn flush(&self) -> Result<(), StoreError> {
        let records = self.take_pending();
        if records.is_empty() {
            return Ok(());
        }
        let written = self.store.record_activities(&records);
        if written.is_err() {
            self.put_back(records);
        }
        written
    }

    /// Takes the message times noted since the last flush, for a writer that writes them
    /// ([`Inactivity::flush`]; on failure it hands them back with [`Inactivity::put_back`]).
    pub fn take_pending(&self) -> Vec<(GroupId, i64, MemberActivity)> {
        if !self.enabled() {
            return Vec::new();
        }
        let pending = std::mem::take(&mut self.noted().pending);
        self.pending_bound.set_len(0);
        pending
            .into_iter()
            .map(|((group, user), record)| (group, user, record))
            .collect()
    }

    /// Keeps records that [`Inactivity::take_pending`] took and could not write, for the next
    /// flush, unless a newer time was noted meanwhile.
    pub fn put_back(&self, records: Vec<(GroupId, i64, MemberActivity)>) {
        if records.is_empty() {
            return;
        }
        let mut noted = self.noted();
        for (group, user, record) in records {
            noted.pending.entry((group, user)).or_insert(record);
        }
        self.pending_bound.set_len(noted.pending.len());
    }

    /// A member joined at `now`: their silence counts from here.
    pub fn joined(&self, group: GroupId, user_id: i64, name: &str, now: Timestamp) -> Result<(), StoreError> {
        if !self.enabled() {
            return Ok(());
        }
        self.unnote(group, user_id, now);
        let record = MemberActivity::new(day_start(now.as_millisecond()), Since::Joined, name, Role::Member);
        self.store.record_activity(group, user_id, &record)
    }

    /// A member left (or was removed).
    pub fn left(&self, group: GroupId, user_id: i64) -> Result<(), StoreError> {
        if !self.enabled() {
            return Ok(());
        }
        self.unnote(group, user_id, self.clock.now());
        self.store.forget_member(group, user_id)
    }

    /// The member's role when qunguan last saw them speak or join (`None`: never seen, or
    /// tracking is off).
    pub fn role_of(&self, group: GroupId, user_id: i64) -> Result<Option<Role>, StoreError> {
        if let Some(record) = self.noted().pending.get(&(group, user_id)) {
            return Ok(Some(record.role));
        }
        Ok(self.store.member_activity(group, user_id)?.map(|record| record.role))
    }

    /// Whether the sweep and the list leave this member alone.
    fn protected(&self, group: GroupId, user_id: i64, record: &MemberActivity) -> bool {
        record.role.is_moderator()
            || self.policies.is_super_user(group.platform, user_id)
            || self.policies.group(group).is_exempt(user_id)
    }

    /// The members of `group` silent for at least `silent_for`, longest first, at most
    /// `[inactivity] list_limit` of them (the total counts all).
    pub fn list(&self, group: GroupId, silent_for: Duration, now: Timestamp) -> Result<SilentList, StoreError> {
        self.flush()?;
        let now_ms = now.as_millisecond();
        let threshold = millis(silent_for);
        let activity = self.store.group_activity(group)?;
        let mut silent: Vec<Silent> = activity
            .members
            .into_iter()
            .filter(|(user, record)| !self.protected(group, *user, record))
            .filter(|(_, record)| now_ms.saturating_sub(record.last_ms) >= threshold)
            .map(|(user_id, record)| Silent {
                user_id,
                silent_secs: to_the_day(secs(now_ms.saturating_sub(record.last_ms))),
                name: record.name,
                since: record.since,
            })
            .collect();
        silent.sort_by(|a, b| b.silent_secs.cmp(&a.silent_secs).then(a.user_id.cmp(&b.user_id)));
        let total = silent.len();
        silent.truncate(self.settings.inactivity.list_limit);
        Ok(SilentList {
            tracked_secs: activity
                .since_ms
                .map(|since| to_the_day(secs(now_ms.saturating_sub(since)))),
            total,
            shown: silent,
        })
    }

    /// Sends the reminders and removals that are due now, off the async threads; then makes
    /// them durable and wakes the outbox.
    pub async fn sweep(self: &Arc<Self>) -> Result<Swept, StoreError> {
        let this = Arc::clone(self);
        let swept = tokio::task::spawn_blocking(move || this.sweep_blocking())
            .await
            .map_err(|e| StoreError::Join(format!("the inactivity sweep: {e}")))??;
        if swept.posts > 0 || swept.removed > 0 {
            self.outbox.publish().await?;
        }
        Ok(swept)
    }

    fn sweep_blocking(&self) -> Result<Swept, StoreError> {
        self.flush()?;
        let now = self.clock.now();
        let now_ms = now.as_millisecond();
        {
            let today = day_of(now_ms);
            let mut noted = self.noted();
            noted.days.retain(|n| note_day(*n) == note_day(note(0, today)));
            self.notes_bound.set_len(noted.days.len());
        }
        let settings = &self.settings.inactivity;
        let steps: Vec<i64> = settings.remind_after.iter().map(|d| millis(d.get())).collect();
        let remove_after = settings.remove_after().map(millis);
        let mut swept = Swept::default();
        if !settings.enabled || (steps.is_empty() && remove_after.is_none()) {
            return Ok(swept);
        }
        for group in self.store.tracked_groups()? {
            let dry_run = self.policies.group(group).dry_run;
            let can_kick = crate::domain::action::Capabilities::of(group).kick;
            let mut due: BTreeMap<u32, Vec<(i64, i64)>> = BTreeMap::new();
            let mut removals = Vec::new();
            for (user, record) in self.store.group_activity(group)?.members {
                if record.removing || self.protected(group, user, &record) {
                    continue;
                }
                let silent = now_ms.saturating_sub(record.last_ms);
                if can_kick && remove_after.is_some_and(|limit| silent >= limit) {
                    removals.push((user, record));
                    continue;
                }
                // Only the highest step reached: after a long downtime one reminder, not three.
                let step = u32::try_from(steps.iter().filter(|&&s| silent >= s).count()).unwrap_or(u32::MAX);
                if step > record.reminded && !dry_run {
                    due.entry(step).or_default().push((user, record.last_ms));
                }
            }
            for (step, users) in due {
                let Some(step_ms) = steps.get(step as usize - 1) else {
                    continue;
                };
                let step_secs = secs(*step_ms);
                for chunk in users.chunks(MENTIONS_PER_POST) {
                    let reminded = self.store.remind_members(
                        group,
                        chunk,
                        step,
                        |members| vec![self.reminder(group, members, step_secs)],
                        now,
                    )?;
                    if reminded > 0 {
                        swept.posts += 1;
                        swept.reminded += reminded;
                        tracing::info!(%group, step, reminded, "inactivity: reminder enqueued");
                    }
                }
            }
            for (user, record) in removals {
                if self.remove(group, user, &record, dry_run, now)? {
                    swept.removed += 1;
                }
            }
        }
        Ok(swept)
    }

    fn reminder(&self, group: GroupId, members: &[(i64, MemberActivity)], step_secs: u64) -> Action {
        let remove_secs = self.settings.inactivity.remove_after().map(|d| d.as_secs());
        let mentions: Vec<(i64, &str)> = members.iter().map(|(u, r)| (*u, r.name.as_str())).collect();
        let message: OutgoingMessage =
            i18n::inactivity_reminder(self.settings.messages.locale, &mentions, step_secs, remove_secs);
        Action::Send {
            group,
            message,
            reply_to: None,
        }
    }

    /// Removes one member silent past `remove_after`: marks the removal first (so a crash in
    /// between errs on the side of not removing), then the kick, the cleared strikes and the
    /// audit case in one commit keyed by the silence, so it is never enqueued twice.
    fn remove(
        &self,
        group: GroupId,
        user: i64,
        record: &MemberActivity,
        dry_run: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if !self.store.mark_removing(group, user, record.last_ms)? {
            return Ok(false);
        }
        let now_ms = now.as_millisecond();
        let silent_secs = secs(now_ms.saturating_sub(record.last_ms));
        let key = EventKey::derive(&format!("inactivity-remove/{group}/{user}/{}", record.last_ms));
        let ttl = self.policies.strike_ttl(group);
        let locale = self.settings.messages.locale;
        let subject = Subject {
            group,
            user: Some(user),
        };
        let committed = self.store.commit(&key, now, Some(subject), |snapshot| {
            let before = snapshot.record.as_ref().map_or(0, |r| r.count(now, ttl));
            let mut entry = AuditEntry::new(
                group,
                now_ms,
                user,
                Actor::Auto,
                RuleId::Inactive.as_str(),
                Measure::Kick,
            );
            entry.user_name.clone_from(&record.name);
            entry.reason = i18n::inactive_reason(locale, silent_secs);
            entry.strikes_before = before;
            entry.dry_run = dry_run;
            let (strikes, actions) = if dry_run {
                (StrikeWrite::Keep, Vec::new())
            } else {
                (
                    StrikeWrite::Clear,
                    vec![Action::Kick {
                        group,
                        user_id: user,
                        ban: false,
                    }],
                )
            };
            let writes = Writes {
                strikes,
                actions,
                audit: Some(entry),
            };
            (writes, ())
        })?;
        if let Some(committed) = committed {
            tracing::info!(%group, user, silent_secs, case = committed.case, dry_run, "inactivity: member removed");
        }
        Ok(true)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn secs(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

/// A silence of a day or more in whole days: times are kept to the day, so the hours would
/// be the time of day of the check, not of the member's last message.
fn to_the_day(secs: u64) -> u64 {
    if secs >= 86_400 { secs - secs % 86_400 } else { secs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::{Clock, ManualClock};

    fn tracker(settings: Settings, start: Timestamp) -> (tempfile::TempDir, Store, Arc<ManualClock>, Inactivity) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let settings = Arc::new(settings);
        let clock = ManualClock::new(start);
        let inactivity = Inactivity::new(
            Arc::clone(&settings),
            settings.policies(),
            store.clone(),
            Arc::clone(&clock) as SharedClock,
            OutboxHandle::detached(store.clone()),
        );
        (dir, store, clock, inactivity)
    }

    fn sender(user_id: i64) -> Sender {
        Sender {
            user_id,
            name: "小王".into(),
            role: Role::Member,
        }
    }

    #[test]
    fn a_member_is_noted_once_a_day_at_day_precision_and_written_by_the_flush() {
        // 2023-11-14 22:13:20 UTC.
        let start = Timestamp::from_second(1_700_000_000).expect("valid");
        let (_dir, store, clock, inactivity) = tracker(Settings::default(), start);
        let group = GroupId::qq(1);
        let stored = || {
            let activity = store.group_activity(group).expect("read");
            activity.members.first().map(|(_, r)| r.last_ms)
        };
        let day_start = |t: Timestamp| t.as_millisecond() - t.as_millisecond().rem_euclid(86_400_000);
        inactivity.spoke(group, &sender(7), start);
        assert_eq!(stored(), None, "noted in memory only");
        inactivity.flush().expect("flush");
        assert_eq!(stored(), Some(day_start(start)), "the start of the day, not the minute");
        // The rest of the day notes nothing new: no write.
        clock.advance(Duration::from_secs(90 * 60));
        assert!(inactivity.noted().pending.is_empty());
        clock.set(Timestamp::from_second(1_700_006_399).expect("valid")); // 23:59:59
        inactivity.spoke(group, &sender(7), clock.now());
        assert!(inactivity.noted().pending.is_empty(), "same day, nothing to write");
        // The next day's first message is noted and written.
        clock.advance(Duration::from_secs(1));
        inactivity.spoke(group, &sender(7), clock.now());
        inactivity.flush().expect("flush");
        assert_eq!(stored(), Some(day_start(start) + 86_400_000));
        // Leaving drops what was noted and the stored record.
        clock.advance(Duration::from_secs(86_400));
        inactivity.spoke(group, &sender(7), clock.now());
        inactivity.left(group, 7).expect("left");
        inactivity.flush().expect("flush");
        assert_eq!(stored(), None);
    }

    #[test]
    fn a_note_keeps_the_day_and_its_hash_spreads_the_members_of_one_day() {
        let hash = member_hash(GroupId::qq(1), 7);
        let today = note(hash, 20_062);
        assert_eq!(note_day(today), 20_062);
        assert_ne!(today, note(hash, 20_063), "each day is a note of its own");
        assert_eq!(note_day(note(hash, 65_536 + 5)), 5, "days modulo 2^16");
        // Where the table places the notes of one day (the low bits of the hash) and the tag
        // it compares first (the top 7 bits) both vary with the member.
        let (mut low, mut top) = (HashSet::new(), HashSet::new());
        for user in 0..1_000 {
            let mut hasher = NoteHasher::default();
            hasher.write_u64(note(member_hash(GroupId::qq(1), user), 20_062));
            let h = hasher.finish();
            low.insert(h & 1_023);
            top.insert(h >> 57);
        }
        assert!(low.len() > 550, "{} of 1,024 slots", low.len());
        assert_eq!(top.len(), 128);
    }

    #[test]
    fn the_notes_and_the_batch_hold_at_most_their_capacity() {
        let mut settings = Settings::default();
        settings.limits.activity_members = 1_024;
        let start = Timestamp::from_second(1_700_000_000).expect("valid");
        let (_dir, store, clock, inactivity) = tracker(settings, start);
        let [notes, pending] = <[Arc<Bound>; 2]>::try_from(inactivity.bounds()).expect("two bounds");
        let group = GroupId::qq(1);
        // More members than the batch holds, before a flush: the excess is not noted (and
        // counted), so it is noted at their next message.
        for user in 0..1_500 {
            inactivity.spoke(group, &sender(user), start);
        }
        assert_eq!((pending.len(), pending.evicted()), (1_024, 476));
        assert_eq!(notes.len(), 1_024);
        inactivity.flush().expect("flush");
        assert_eq!(pending.len(), 0);
        assert_eq!(store.group_activity(group).expect("read").members.len(), 1_024);
        // The others' next messages (the same day) are noted now: the notes are full of
        // today's members, so they are emptied (counted) and start over.
        for user in 1_024..1_500 {
            inactivity.spoke(group, &sender(user), clock.now());
        }
        assert!(notes.len() <= 1_024);
        assert_eq!(notes.evicted(), 1_024);
        inactivity.flush().expect("flush");
        assert_eq!(store.group_activity(group).expect("read").members.len(), 1_500);
        // The next day, yesterday's notes make room without evictions.
        clock.advance(Duration::from_secs(86_400));
        for user in 0..1_000 {
            inactivity.spoke(group, &sender(user), clock.now());
        }
        assert_eq!(notes.evicted(), 1_024);
        assert!(notes.len() <= 1_024);
    }
}
