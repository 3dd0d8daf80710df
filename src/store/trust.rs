//! Members' trust records: per member and group, when they joined (to the day) and how many
//! clean messages they have sent — what the policy layer decides a member's trust from.
//!
//! A trust record is the first part of the member's record in the `members` tree, keyed
//! `platform ‖ group ‖ user` (17 B), before their activity record ([`super::members`]; until
//! schema 5 the records had a tree of their own, `trust`, with the same keys and values).
//! It is 6 bytes, not JSON: one per member of every group, so size matters more than
//! readability here.
//!
//! ```text
//! byte 0     version (1)
//! bytes 1-4  joined_day: UTC days since 1970-01-01, u32 BE
//! byte 5     clean messages counted (stops at the configured number, at most 255)
//! ```
//!
//! The records are bounded by group membership: a record is written when a member joins or is
//! first seen, and deleted when they leave or are removed (the member's activity part, if
//! any, is kept as it is by every write here). Once a member's count has reached
//! the configured number, their messages change nothing. Every write of the tree takes the
//! commit lock.
//!
//! Every message of a member who is not exempt reads their record, so the records read or
//! written lately are kept in a bounded [`TrustCache`] in front of the tree (`[limits]
//! trust_members`, `qunguan_memory_entries{structure="trust_cache"}`): a member's next
//! message costs a hash lookup instead of a tree read, which on a large instance is often a
//! page read from disk.
//!
//! **Batched counts.** A clean message's count (and a member's first sighting) changes only
//! the cache: the entry is marked *pending* and written to the tree with every other pending
//! one in one batch ([`Store::write_pending_trust`], or with the member's activity record when
//! the inactivity tracker's batch writes it first) — every few seconds by the daemon, before
//! a synchronous flush and at a clean shutdown, and at once when pending entries fill half the
//! cache. Pending entries are never dropped from the cache, so the cache is never older than
//! the tree, and the tree is behind the cache only by the pending counts. A crash loses the
//! counts since the last batch: those members stay new a few messages longer, which is the
//! same trade the activity (潜水) times and message points make. Joins and leaves are still
//! written at once (under the commit lock, with the cache, dropping a pending count of the
//! member), so a re-join's fresh start is as durable as the join event. With the cache off
//! (`trust_members = 0`) every count is written at once, as before.
//!
//! **What is cached.** Only members whose messages read their record: a join or leave
//! updates the entry of a member already cached and adds none. A stream with many newcomers
//! who never speak (2 % of the soak bench's events are joins of new members) would otherwise
//! fill the cache with them, halve it again and again, and send the speakers' next messages
//! to the tree: each such read is a sled page read, whose nodes are allocated and freed again,
//! which is most of the daemon's allocations and what spreads its heap (docs/performance.md,
//! "Session 30: resident memory"). The table is allocated at its full size (up to
//! [`PRESIZED`] entries) at the first entry, so it does not grow in steps under load.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::keys::member_key;
use super::members::{Parts, join_member, put_member, split_member, stored_parts};
use super::{Store, StoreError};
use crate::domain::bounds::Bound;
use crate::domain::event::GroupId;
use crate::domain::learning::MemberTrust;

const VERSION: u8 = 1;

/// The most pending counts written in one chunk under the commit lock (see [`Store::write_pending_trust`]).
const TRUST_BATCH: usize = 64;

/// The stored form of a record.
#[must_use]
pub fn encode_trust(t: MemberTrust) -> [u8; 6] {
    let mut out = [0; 6];
    out[0] = VERSION;
    out[1..5].copy_from_slice(&t.joined_day.to_be_bytes());
    out[5] = t.clean;
    out
}

/// Reads a stored record.
pub fn decode_trust(bytes: &[u8]) -> Result<MemberTrust, StoreError> {
    let bad = |reason: String| StoreError::Decode {
        what: "member trust",
        reason,
    };
    let raw: [u8; 6] = bytes
        .try_into()
        .map_err(|_| bad(format!("{} bytes instead of 6", bytes.len())))?;
    if raw[0] != VERSION {
        return Err(bad(format!(
            "stored form version {} is not this build's {VERSION}; upgrade qunguan",
            raw[0]
        )));
    }
    Ok(read_fields(raw))
}

/// The fields of a stored record whose version was checked.
fn read_fields(raw: [u8; 6]) -> MemberTrust {
    MemberTrust {
        joined_day: u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]),
        clean: raw[5],
    }
}

/// What the cache holds for one member: their record in its stored form, or all zeros when
/// they are known to have none. 6 bytes with no alignment, so an entry of the table (key and
/// slot) takes 23 bytes and its control byte 1: 24 bytes a member, against 33 for an
/// `Option<MemberTrust>` beside the key (which pads to 12 bytes and aligns the pair to 32).
/// At the default `[limits] trust_members` (a full table of 65,536) that is 1.5 MiB instead
/// of 2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot([u8; 6]);

impl Slot {
    fn new(record: Option<MemberTrust>) -> Self {
        Self(record.map_or([0; 6], encode_trust))
    }

    fn get(self) -> Option<MemberTrust> {
        // Only `new` fills a slot: byte 0 is the version of a record, or 0 for none.
        (self.0[0] == VERSION).then(|| read_fields(self.0))
    }
}

/// Trust records (or their absence) read or written lately, keyed like the tree; see the
/// module docs. Entries of an older generation of the database are never used.
pub(crate) struct TrustCache {
    state: Mutex<CacheState>,
    bound: Arc<Bound>,
}

#[derive(Default)]
struct CacheState {
    /// The database generation the entries belong to.
    generation: u64,
    /// Writes so far (of the tree or of a pending count): a read that raced a write does not
    /// fill the cache.
    writes: u64,
    entries: HashMap<[u8; 17], Slot>,
    /// Entries newer than the tree (counts not written yet); never dropped from `entries`.
    pending: HashSet<[u8; 17]>,
}

/// The most entries the cache's table is allocated for at its first entry (the default
/// `[limits] trust_members`, 7/8 of 131,072 slots: 3 MiB); a larger bound grows the table
/// beyond it as entries come.
pub(crate) const PRESIZED: usize = crate::config::DEFAULT_TRUST_MEMBERS;

impl TrustCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            bound: Bound::new("trust_cache", capacity),
        }
    }

    /// The entries of `generation`: a newer generation drops the older entries; `None` for
    /// an older one (an operation that began before a reopen), which must neither answer
    /// nor fill.
    fn of(&self, generation: u64) -> Option<MutexGuard<'_, CacheState>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.generation < generation {
            // Pending counts of the old database are lost with it (see the module docs).
            state.generation = generation;
            state.entries.clear();
            state.pending.clear();
            self.bound.set_len(0);
        }
        (state.generation == generation).then_some(state)
    }

    /// The cached record of `key` (`Some(None)` when the member is known to have none), and
    /// the writes so far, to hand to [`TrustCache::fill`].
    fn get(&self, generation: u64, key: &[u8; 17]) -> (Option<Option<MemberTrust>>, u64) {
        self.of(generation).map_or((None, u64::MAX), |state| {
            (state.entries.get(key).map(|s| s.get()), state.writes)
        })
    }

    /// Keeps what a read found, unless a write came in since the read began (`writes`).
    fn fill(&self, generation: u64, key: [u8; 17], value: Option<MemberTrust>, writes: u64) {
        if let Some(mut state) = self.of(generation)
            && state.writes == writes
            && !state.entries.contains_key(&key)
        {
            self.insert(&mut state, key, value);
        }
    }

    /// Keeps what a write stored (under the commit lock, once the tree has it); `None` for
    /// a write that failed, whose outcome is unknown, which drops the entry.
    fn put(&self, generation: u64, key: [u8; 17], value: Option<Option<MemberTrust>>) {
        let Some(mut state) = self.of(generation) else {
            return;
        };
        state.writes += 1;
        // The tree now holds what the cache says (or the entry goes): nothing pending.
        state.pending.remove(&key);
        match value {
            // Only a member already cached is updated: a join or leave adds no entry (see
            // the module docs, "What is cached"); the member's next message reads the tree.
            Some(value) => {
                if let Some(slot) = state.entries.get_mut(&key) {
                    *slot = Slot::new(value);
                }
            }
            None => {
                state.entries.remove(&key);
                self.bound.set_len(state.entries.len());
            }
        }
    }

    /// What the cache holds for each of `keys` (`None`: not cached). Under the commit lock an
    /// entry is never older than the tree: the trust part to write with a member's record.
    pub(super) fn known(
        &self,
        generation: u64,
        keys: impl Iterator<Item = [u8; 17]>,
    ) -> Vec<Option<Option<MemberTrust>>> {
        let state = self.of(generation);
        keys.map(|key| state.as_ref().and_then(|s| s.entries.get(&key).map(|slot| slot.get())))
            .collect()
    }

    /// After a write (under the commit lock) stored `records` as these members' trust parts:
    /// they are no longer pending, unless counted again meanwhile.
    pub(super) fn written(&self, generation: u64, records: &[([u8; 17], MemberTrust)]) {
        if records.is_empty() {
            return;
        }
        if let Some(mut state) = self.of(generation) {
            // A member counted again meanwhile stays pending with the newer record.
            for (key, record) in records {
                if state.entries.get(key) == Some(&Slot::new(Some(*record))) {
                    state.pending.remove(key);
                }
            }
            state.writes += 1;
        }
    }

    /// The most pending entries before a batch is written at once: half the cache, so making
    /// room (which keeps pending entries) always frees some.
    fn pending_limit(&self) -> usize {
        self.bound.capacity() / 2
    }

    /// Inserts, making room first when full: every other entry that is not pending goes (the
    /// cache has no use order to go by, and halving keeps the cost of a full cache to one pass
    /// per half).
    fn insert(&self, state: &mut CacheState, key: [u8; 17], value: Option<MemberTrust>) {
        let capacity = self.bound.capacity();
        if state.entries.len() >= capacity && !state.entries.contains_key(&key) {
            let before = state.entries.len();
            let mut keep = false;
            let CacheState { entries, pending, .. } = state;
            entries.retain(|k, _| {
                if pending.contains(k) {
                    return true;
                }
                keep = !keep;
                keep
            });
            self.bound.evict(before - entries.len());
            // Without it the table doubles after the first halving (see `compact`).
            crate::domain::bounds::compact(entries, capacity);
        }
        if capacity > 0 {
            if state.entries.capacity() == 0 {
                // The whole table at once: no step (and no copy) as the members come.
                state.entries.reserve(capacity.min(PRESIZED));
            }
            state.entries.insert(key, Slot::new(value));
        }
        self.bound.set_len(state.entries.len());
    }
}

impl Store {
    /// The size and capacity of the trust cache (for `/metrics`).
    #[must_use]
    pub fn trust_cache(&self) -> Arc<Bound> {
        Arc::clone(&self.inner.trust.bound)
    }

    /// Holds at most `capacity` members in the trust cache (`[limits] trust_members`).
    pub fn limit_trust_cache(&self, capacity: usize) {
        let cache = &self.inner.trust;
        let mut state = cache.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let was = cache.bound.capacity();
        cache.bound.set_capacity(capacity);
        if state.entries.len() > capacity {
            // Pending counts stay until they are written.
            let before = state.entries.len();
            let CacheState { entries, pending, .. } = &mut *state;
            entries.retain(|k, _| pending.contains(k));
            self.inner.trust.bound.evict(before - state.entries.len());
            self.inner.trust.bound.set_len(state.entries.len());
        }
        if state.entries.capacity() > 0 && was != capacity {
            // A table allocated for another bound: the size this one is allocated at.
            crate::domain::bounds::compact(&mut state.entries, capacity.min(PRESIZED));
        }
    }

    /// A member's trust record, if qunguan has seen them.
    pub fn trust(&self, group: GroupId, user_id: i64) -> Result<Option<MemberTrust>, StoreError> {
        let key = member_key(group, user_id);
        let generation = self.generation();
        let (cached, writes) = self.inner.trust.get(generation, &key);
        if let Some(record) = cached {
            return Ok(record);
        }
        let record = self.trust_in_tree(&*self.trees()?, &key)?;
        self.inner.trust.fill(generation, key, record, writes);
        Ok(record)
    }

    /// The trust part of a member's record in the tree.
    fn trust_in_tree(&self, trees: &super::Trees, key: &[u8; 17]) -> Result<Option<MemberTrust>, StoreError> {
        match trees.members.get(key)? {
            Some(bytes) => Ok(split_member(&bytes)?.trust),
            None => Ok(None),
        }
    }

    /// Stores `record` as the trust part of `key`'s member record (removing the record when
    /// no part is left), keeping its activity and points parts. The caller holds the commit lock.
    fn put_trust_part(
        &self,
        trees: &super::Trees,
        key: &[u8; 17],
        record: Option<MemberTrust>,
    ) -> Result<(), StoreError> {
        let old = trees.members.get(key)?;
        let new = join_member(Parts {
            trust: record,
            ..stored_parts(key, old.as_deref())
        });
        put_member(&trees.members, key, old.as_deref(), new)?;
        Ok(())
    }

    /// Writes `record` (or removes the member's record) under the commit lock, and the cache
    /// with it.
    fn write_trust(&self, trees: &super::Trees, key: [u8; 17], record: Option<MemberTrust>) -> Result<(), StoreError> {
        let written = self.observe(self.put_trust_part(trees, &key, record));
        self.inner
            .trust
            .put(self.generation(), key, written.is_ok().then_some(record));
        written
    }

    /// A member joined (again) at `at_ms`: their trust starts over.
    pub fn trust_joined(&self, group: GroupId, user_id: i64, at_ms: i64) -> Result<(), StoreError> {
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        self.write_trust(&trees, member_key(group, user_id), Some(MemberTrust::joined_at(at_ms)))
    }

    /// After one of the member's messages: creates their record if they are seen for the
    /// first time (joined at `at_ms`), and counts the message if it was `clean` and the count
    /// is below `count_to`. Changes only the cache (a pending count, written with the next
    /// batch; see the module docs), or with the cache off writes at once. Returns the record.
    pub fn trust_message(
        &self,
        group: GroupId,
        user_id: i64,
        at_ms: i64,
        clean: bool,
        count_to: u8,
    ) -> Result<MemberTrust, StoreError> {
        let key = member_key(group, user_id);
        let cache = &self.inner.trust;
        if cache.bound.capacity() == 0 {
            return self.trust_message_now(key, at_ms, clean, count_to);
        }
        let generation = self.generation();
        // What a tree read found, with the writes counted when it began.
        let mut read: Option<(u64, Option<MemberTrust>)> = None;
        loop {
            let Some(mut state) = cache.of(generation) else {
                // The database was reopened meanwhile: write through the new one.
                return self.trust_message_now(key, at_ms, clean, count_to);
            };
            let stored = match (state.entries.get(&key), read) {
                (Some(&cached), _) => cached.get(),
                (None, Some((writes, found))) if writes == state.writes => found,
                (None, _) => {
                    // Read outside the lock; a write that lands meanwhile makes us read again.
                    let writes = state.writes;
                    drop(state);
                    let found = self.trust_in_tree(&*self.trees()?, &key)?;
                    read = Some((writes, found));
                    continue;
                }
            };
            let mut record = stored.unwrap_or_else(|| MemberTrust::joined_at(at_ms));
            if clean && record.clean < count_to {
                record.clean += 1;
            }
            if stored == Some(record) {
                return Ok(record);
            }
            if !state.pending.contains(&key) && state.pending.len() >= cache.pending_limit() {
                // Too many counts waiting: write them now, then count this one.
                drop(state);
                self.write_pending_trust()?;
                read = None;
                continue;
            }
            state.writes += 1;
            state.pending.insert(key);
            cache.insert(&mut state, key, Some(record));
            return Ok(record);
        }
    }

    /// [`Store::trust_message`] written at once, under the commit lock (the cache off, or a
    /// database reopened meanwhile).
    fn trust_message_now(
        &self,
        key: [u8; 17],
        at_ms: i64,
        clean: bool,
        count_to: u8,
    ) -> Result<MemberTrust, StoreError> {
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        // Under the commit lock the cache cannot be behind the tree: every write goes through
        // `write_trust`, which holds the lock too.
        let stored = match self.inner.trust.get(self.generation(), &key).0 {
            Some(cached) => cached,
            None => self.trust_in_tree(&trees, &key)?,
        };
        let mut record = stored.unwrap_or_else(|| MemberTrust::joined_at(at_ms));
        if clean && record.clean < count_to {
            record.clean += 1;
        }
        if stored != Some(record) {
            self.write_trust(&trees, key, Some(record))?;
        }
        Ok(record)
    }

    /// Writes every pending count ([`Store::trust_message`]) to the tree, in key order and in
    /// chunks of at most `TRUST_BATCH` records (one sled insert each), each under the commit lock, which is
    /// released between batches (one huge batch keeps every node it replaces alive until it
    /// ends; see `Store::add_message_points`). Not flushed: the next flush (or sled's own,
    /// every half second) makes it durable. Returns how many records were written.
    pub fn write_pending_trust(&self) -> Result<usize, StoreError> {
        let _op = self.begin("trust write");
        let mut written = 0;
        for chunk in self.pending_trust_keys().chunks(TRUST_BATCH) {
            {
                let _log = self.lock();
                written += self.write_trust_chunk(chunk)?;
            }
            super::pace::breathe();
        }
        self.trim_trust_cache();
        Ok(written)
    }

    /// [`Store::write_pending_trust`] for a caller holding the commit lock (a backup, a clean
    /// shutdown).
    pub(crate) fn write_pending_trust_locked(&self) -> Result<usize, StoreError> {
        let mut written = 0;
        for chunk in self.pending_trust_keys().chunks(TRUST_BATCH) {
            written += self.write_trust_chunk(chunk)?;
        }
        self.trim_trust_cache();
        Ok(written)
    }

    /// The members with a pending count, in key order.
    fn pending_trust_keys(&self) -> Vec<[u8; 17]> {
        let mut keys: Vec<[u8; 17]> = self
            .inner
            .trust
            .of(self.generation())
            .map(|state| state.pending.iter().copied().collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    /// Writes the records of `keys` that are still pending, one sled insert each. The caller
    /// holds the commit lock, so no join or leave writes them meanwhile; the records are read
    /// from the cache here, not before (a leave since the keys were listed is not undone).
    fn write_trust_chunk(&self, keys: &[[u8; 17]]) -> Result<usize, StoreError> {
        let cache = &self.inner.trust;
        let generation = self.generation();
        let records: Vec<([u8; 17], MemberTrust)> = match cache.of(generation) {
            Some(state) => keys
                .iter()
                .filter(|k| state.pending.contains(*k))
                .filter_map(|k| state.entries.get(k).and_then(|s| s.get()).map(|r| (*k, r)))
                .collect(),
            None => return Ok(0),
        };
        if records.is_empty() {
            return Ok(0);
        }
        let trees = self.write_gate()?;
        // One insert each, not a `sled::Batch`: a batch takes sled's process-wide write lock
        // for all its records, stopping every other read and write meanwhile (the webhook
        // path's tail); single inserts share it. The counts need no atomicity among them.
        // Each keeps the member's activity part: a read and an insert.
        for (key, record) in &records {
            self.observe(self.put_trust_part(&trees, key, Some(*record)))?;
        }
        cache.written(generation, &records);
        Ok(records.len())
    }

    /// A cache made smaller while counts were pending kept them until they were written; now
    /// it holds only those still pending.
    fn trim_trust_cache(&self) {
        let cache = &self.inner.trust;
        if let Some(mut state) = cache.of(self.generation())
            && state.entries.len() > cache.bound.capacity()
        {
            let before = state.entries.len();
            let CacheState { entries, pending, .. } = &mut *state;
            entries.retain(|k, _| pending.contains(k));
            cache.bound.evict(before - state.entries.len());
            cache.bound.set_len(state.entries.len());
        }
    }

    /// Forgets a member who left or was removed.
    pub fn forget_trust(&self, group: GroupId, user_id: i64) -> Result<(), StoreError> {
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        self.write_trust(&trees, member_key(group, user_id), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_six_bytes_and_round_trip() {
        let t = MemberTrust {
            joined_day: 20_048,
            clean: 3,
        };
        let bytes = encode_trust(t);
        assert_eq!(bytes, [1, 0, 0, 0x4e, 0x50, 3]);
        assert_eq!(decode_trust(&bytes).expect("decodes"), t);
        assert!(decode_trust(&bytes[..5]).is_err());
        assert!(decode_trust(&[2, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn a_member_is_counted_until_the_limit_and_forgotten_when_they_leave() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(1);
        let day = 1_732_171_530_000;
        assert_eq!(store.trust(g, 7).expect("read"), None);
        // First sight with a violation: recorded, not counted.
        let t = store.trust_message(g, 7, day, false, 3).expect("write");
        assert_eq!((t.joined_day, t.clean), (20_048, 0));
        for expected in [1, 2, 3, 3] {
            let t = store.trust_message(g, 7, day + 5 * 86_400_000, true, 3).expect("write");
            assert_eq!(t.clean, expected);
            assert_eq!(t.joined_day, 20_048, "the join day stays");
        }
        // A re-join starts over.
        store.trust_joined(g, 7, day + 10 * 86_400_000).expect("join");
        assert_eq!(
            store.trust(g, 7).expect("read"),
            Some(MemberTrust {
                joined_day: 20_058,
                clean: 0
            })
        );
        store.forget_trust(g, 7).expect("forget");
        assert_eq!(store.trust(g, 7).expect("read"), None);
    }

    /// What the tree holds for member `user` of `g`, bypassing the cache.
    fn in_tree(store: &Store, g: GroupId, user: i64) -> Option<MemberTrust> {
        store
            .trust_in_tree(&store.trees().expect("open"), &member_key(g, user))
            .expect("read")
    }

    #[test]
    fn the_cache_answers_like_the_tree_through_joins_messages_and_leaves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(1);
        let day = 1_732_171_530_000;
        // A miss is cached as "no record", and the first message's write replaces it.
        assert_eq!(store.trust(g, 7).expect("read"), None);
        assert_eq!(store.trust_cache().len(), 1);
        let t = store.trust_message(g, 7, day, true, 3).expect("write");
        assert_eq!(store.trust(g, 7).expect("read"), Some(t));
        assert_eq!(in_tree(&store, g, 7), None, "the count waits for its batch");
        assert_eq!(store.write_pending_trust().expect("batch"), 1);
        assert_eq!(in_tree(&store, g, 7), Some(t));
        for _ in 0..4 {
            store.trust_message(g, 7, day, true, 3).expect("write");
        }
        assert_eq!(store.trust(g, 7).expect("read").map(|t| t.clean), Some(3));
        assert_eq!(in_tree(&store, g, 7).map(|t| t.clean), Some(1));
        assert_eq!(store.write_pending_trust().expect("batch"), 1, "one record per member");
        assert_eq!(store.write_pending_trust().expect("batch"), 0, "nothing left");
        assert_eq!(in_tree(&store, g, 7).map(|t| t.clean), Some(3));
        store.trust_joined(g, 7, day + 86_400_000).expect("join");
        let rejoined = store.trust(g, 7).expect("read");
        assert_eq!(rejoined.map(|t| (t.joined_day, t.clean)), Some((20_049, 0)));
        assert_eq!(in_tree(&store, g, 7), rejoined);
        store.forget_trust(g, 7).expect("forget");
        assert_eq!(store.trust(g, 7).expect("read"), None);
        assert_eq!(in_tree(&store, g, 7), None);
        // The reopened database (a new generation) never answers from the old entries.
        store.trust_message(g, 8, day, true, 3).expect("write");
        assert!(store.trust(g, 8).expect("read").is_some());
        store.flush_blocking().expect("flush");
        store.reopen().expect("reopen");
        assert_eq!(in_tree(&store, g, 8).map(|t| t.clean), Some(1), "durable");
        store
            .trees()
            .expect("open")
            .members
            .remove(member_key(g, 8))
            .expect("remove behind the cache");
        assert_eq!(store.trust(g, 8).expect("read"), None, "read from the tree again");
    }

    #[test]
    fn counts_wait_for_their_batch_a_join_or_leave_is_written_at_once_and_a_reopen_loses_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(4);
        let day = 1_732_171_530_000;
        for user in 1..=3 {
            store.trust_message(g, user, day, true, 5).expect("count");
        }
        assert_eq!(in_tree(&store, g, 1), None, "pending");
        // A re-join starts over at once and drops the pending count; so does a leave.
        store.trust_joined(g, 2, day + 86_400_000).expect("join");
        store.forget_trust(g, 3).expect("leave");
        assert_eq!(
            in_tree(&store, g, 2).map(|t| (t.joined_day, t.clean)),
            Some((20_049, 0))
        );
        assert_eq!(
            store.write_pending_trust().expect("batch"),
            1,
            "only member 1 was pending"
        );
        assert_eq!(in_tree(&store, g, 1).map(|t| t.clean), Some(1));
        assert_eq!(
            in_tree(&store, g, 2).map(|t| t.clean),
            Some(0),
            "the join's record stays"
        );
        assert_eq!(in_tree(&store, g, 3), None, "the leaver is not written back");
        // A synchronous flush writes the counts first.
        store.trust_message(g, 1, day, true, 5).expect("count");
        store.flush_blocking().expect("flush");
        assert_eq!(in_tree(&store, g, 1).map(|t| t.clean), Some(2));
        // A crash (here: a reopen) loses what was still pending, nothing else.
        store.trust_message(g, 1, day, true, 5).expect("count");
        assert_eq!(store.trust(g, 1).expect("read").map(|t| t.clean), Some(3));
        store.reopen().expect("reopen");
        assert_eq!(store.trust(g, 1).expect("read").map(|t| t.clean), Some(2));
        assert_eq!(store.write_pending_trust().expect("batch"), 0);
    }

    #[test]
    fn pending_counts_are_written_at_once_when_they_fill_half_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store.limit_trust_cache(8);
        let g = GroupId::qq(5);
        let day = 1_732_171_530_000;
        for user in 0..4 {
            store.trust_message(g, user, day, true, 5).expect("count");
        }
        assert_eq!(in_tree(&store, g, 0), None, "four pending: half of eight");
        store.trust_message(g, 4, day, true, 5).expect("count");
        for user in 0..4 {
            assert_eq!(
                in_tree(&store, g, user).map(|t| t.clean),
                Some(1),
                "written with the fifth"
            );
        }
        assert_eq!(in_tree(&store, g, 4), None, "the fifth waits for the next batch");
        assert!(store.trust_cache().len() <= 8);
    }

    #[test]
    fn a_read_that_raced_a_write_or_a_reopen_never_fills_the_cache() {
        let cache = TrustCache::new(16);
        let key = member_key(GroupId::qq(3), 5);
        let old = Some(MemberTrust::joined_at(0));
        let new = Some(MemberTrust {
            clean: 2,
            ..MemberTrust::joined_at(0)
        });
        // A read misses, a write lands before the read fills: the read's older record is not
        // kept (and the write of a member not cached adds no entry).
        let (cached, writes) = cache.get(1, &key);
        assert_eq!(cached, None);
        cache.put(1, key, Some(new));
        cache.fill(1, key, old, writes);
        assert_eq!(cache.get(1, &key).0, None);
        // A read with no write meanwhile fills; a write of a cached member updates it.
        let (_, writes) = cache.get(1, &key);
        cache.fill(1, key, old, writes);
        assert_eq!(cache.get(1, &key).0, Some(old));
        cache.put(1, key, Some(new));
        assert_eq!(cache.get(1, &key).0, Some(new));
        // A failed write (outcome unknown) drops the entry instead of keeping either record.
        cache.put(1, key, None);
        assert_eq!(cache.get(1, &key).0, None);
        // A read of generation 1 that finishes after the reopen to generation 2 neither
        // fills nor turns the cache back to generation 1.
        let (_, writes) = cache.get(1, &key);
        assert_eq!(cache.get(2, &key).0, None);
        cache.fill(1, key, old, writes);
        cache.put(1, key, Some(old));
        assert_eq!(
            cache.get(2, &key).0,
            None,
            "nothing of generation 1 answers in generation 2"
        );
        assert_eq!(
            cache.get(1, &key),
            (None, u64::MAX),
            "an older generation gets no answer"
        );
        assert_eq!(cache.bound.len(), 0);
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity_and_counts_what_it_drops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store.limit_trust_cache(8);
        let g = GroupId::qq(2);
        let day = 1_732_171_530_000;
        for user in 0..40 {
            store.trust_message(g, user, day, user % 2 == 0, 3).expect("write");
            assert!(store.trust(g, user).expect("read").is_some());
        }
        for user in 40..60 {
            assert_eq!(store.trust(g, user).expect("read"), None);
        }
        let bound = store.trust_cache();
        assert!(bound.len() <= 8, "{} entries", bound.len());
        assert_eq!(bound.capacity(), 8);
        assert!(bound.evicted() >= 52, "{} evicted", bound.evicted());
        // Dropped or not, every member reads what the tree holds once the counts are written.
        store.write_pending_trust().expect("batch");
        for user in 0..40 {
            let read = store.trust(g, user).expect("read");
            assert_eq!(read, in_tree(&store, g, user));
            assert_eq!(read.map(|t| t.clean), Some(u8::from(user % 2 == 0)));
        }
        // Off: nothing is kept, and reads still answer.
        store.limit_trust_cache(0);
        assert_eq!(store.trust(g, 3).expect("read").map(|t| t.clean), Some(0));
        assert_eq!(store.trust_cache().len(), 0);
    }

    #[test]
    fn a_cached_member_takes_24_bytes_of_table() {
        // Key and slot unaligned: 23 bytes a bucket, plus the table's control byte.
        assert_eq!(std::mem::size_of::<([u8; 17], Slot)>(), 23);
        assert_eq!(std::mem::align_of::<([u8; 17], Slot)>(), 1);
        for record in [
            None,
            Some(MemberTrust {
                joined_day: 0,
                clean: 0,
            }),
            Some(MemberTrust {
                joined_day: 20_000,
                clean: 3,
            }),
            Some(MemberTrust {
                joined_day: u32::MAX,
                clean: u8::MAX,
            }),
        ] {
            assert_eq!(Slot::new(record).get(), record);
        }
        // A full table of the default bound: 131,072 buckets, the size it is allocated at.
        let default = crate::config::LimitsSettings::default().trust_members;
        assert_eq!(default, PRESIZED);
        let mut entries: HashMap<[u8; 17], Slot> = HashMap::with_capacity(PRESIZED);
        for i in 0..default {
            let mut key = [0; 17];
            key[9..].copy_from_slice(&(i as i64).to_be_bytes());
            entries.insert(key, Slot::new(None));
        }
        assert_eq!(
            entries.capacity(),
            114_688,
            "the default fills a table of 131,072 exactly"
        );
    }

    #[test]
    fn the_table_is_allocated_whole_at_the_first_entry_and_resized_with_its_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let capacity = |store: &Store| store.inner.trust.state.lock().expect("lock").entries.capacity();
        assert_eq!(capacity(&store), 0, "nothing allocated before the first entry");
        let g = GroupId::qq(5);
        assert_eq!(store.trust(g, 1).expect("read"), None);
        assert_eq!(capacity(&store), PRESIZED, "the default's whole table at once");
        for user in 2..5_000 {
            assert_eq!(store.trust(g, user).expect("read"), None);
        }
        assert_eq!(capacity(&store), PRESIZED, "no step as members come");
        store.limit_trust_cache(1_000);
        assert!(store.trust_cache().len() <= 1_000);
        assert!(
            (1_000..PRESIZED).contains(&capacity(&store)),
            "a table for the new bound"
        );
    }

    #[test]
    fn a_join_or_leave_updates_a_cached_member_and_caches_no_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(6);
        let day = 86_400_000;
        // Newcomers who never speak take no room.
        for user in 0..100 {
            store.trust_joined(g, user, 20_000 * day).expect("join");
        }
        assert_eq!(store.trust_cache().len(), 0);
        assert_eq!(in_tree(&store, g, 7).map(|t| t.joined_day), Some(20_000));
        // A message reads the record and caches it.
        let read = store.trust(g, 7).expect("read").expect("joined");
        assert_eq!(read.joined_day, 20_000);
        assert_eq!(store.trust_cache().len(), 1);
        // A re-join updates the cached entry (tree and cache agree), a leave drops its record.
        store.trust_joined(g, 7, 20_005 * day).expect("rejoin");
        assert_eq!(store.trust_cache().len(), 1);
        assert_eq!(store.trust(g, 7).expect("read").map(|t| t.joined_day), Some(20_005));
        assert_eq!(in_tree(&store, g, 7).map(|t| t.joined_day), Some(20_005));
        store.forget_trust(g, 7).expect("leave");
        store.forget_trust(g, 8).expect("leave");
        assert_eq!(store.trust(g, 7).expect("read"), None);
        assert_eq!(in_tree(&store, g, 7), None);
        assert_eq!(
            store.trust_cache().len(),
            1,
            "the leaver's absence, cached; not the other"
        );
    }

    #[test]
    fn the_cache_table_stays_the_size_its_capacity_needs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        // 56 = 7/8 of 64 slots, the most a table of 64 holds; halved and refilled many times.
        store.limit_trust_cache(56);
        let g = GroupId::qq(3);
        for user in 0..2_000 {
            assert_eq!(store.trust(g, user).expect("read"), None);
        }
        assert!(store.trust_cache().evicted() > 1_900);
        let state = store.inner.trust.state.lock().expect("lock");
        assert!(state.entries.len() <= 56);
        // Without compacting, the table doubles after the first halving (room for 112).
        assert_eq!(state.entries.capacity(), 56);
    }
}
