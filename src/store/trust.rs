//! The `trust` tree: per member and group, when they joined (to the day) and how many clean
//! messages they have sent — what the policy layer decides a member's trust from.
//!
//! Keys are `platform ‖ group ‖ user` (17 B). Values are 6 bytes, not JSON: one record per
//! member of every group, so size matters more than readability here.
//!
//! ```text
//! byte 0     version (1)
//! bytes 1-4  joined_day: UTC days since 1970-01-01, u32 BE
//! byte 5     clean messages counted (stops at the configured number, at most 255)
//! ```
//!
//! The tree is bounded by group membership: a record is written when a member joins or is
//! first seen, and deleted when they leave or are removed. Once a member's count has reached
//! the configured number, their messages write nothing. Every write takes the commit lock,
//! so a read-modify-write never races another.
//!
//! Every message of a member who is not exempt reads their record, so the records read or
//! written lately are kept in a bounded [`TrustCache`] in front of the tree (`[limits]
//! trust_members`, `qunguan_memory_entries{structure="trust_cache"}`): a member's next
//! message costs a hash lookup instead of a tree read, which on a large instance is often a
//! page read from disk. Every write of the tree goes through the methods below, which write
//! the cache in the same step under the commit lock, so the cache never holds a record older
//! than the tree's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::keys::member_key;
use super::{Store, StoreError};
use crate::domain::bounds::Bound;
use crate::domain::event::GroupId;
use crate::domain::learning::MemberTrust;

const VERSION: u8 = 1;

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
    Ok(MemberTrust {
        joined_day: u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]),
        clean: raw[5],
    })
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
    /// Writes so far: a read that raced a write does not fill the cache.
    writes: u64,
    entries: HashMap<[u8; 17], Option<MemberTrust>>,
}

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
            state.generation = generation;
            state.entries.clear();
            self.bound.set_len(0);
        }
        (state.generation == generation).then_some(state)
    }

    /// The cached record of `key` (`Some(None)` when the member is known to have none), and
    /// the writes so far, to hand to [`TrustCache::fill`].
    fn get(&self, generation: u64, key: &[u8; 17]) -> (Option<Option<MemberTrust>>, u64) {
        self.of(generation).map_or((None, u64::MAX), |state| {
            (state.entries.get(key).copied(), state.writes)
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
        match value {
            Some(value) => self.insert(&mut state, key, value),
            None => {
                state.entries.remove(&key);
                self.bound.set_len(state.entries.len());
            }
        }
    }

    /// Inserts, making room first when full: every other entry goes (the cache has no use
    /// order to go by, and halving keeps the cost of a full cache to one pass per half).
    fn insert(&self, state: &mut CacheState, key: [u8; 17], value: Option<MemberTrust>) {
        let capacity = self.bound.capacity();
        if state.entries.len() >= capacity && !state.entries.contains_key(&key) {
            let before = state.entries.len();
            let mut keep = false;
            state.entries.retain(|_, _| {
                keep = !keep;
                keep
            });
            self.bound.evict(before - state.entries.len());
        }
        if capacity > 0 {
            state.entries.insert(key, value);
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
        cache.bound.set_capacity(capacity);
        if state.entries.len() > capacity {
            let before = state.entries.len();
            state.entries.clear();
            self.inner.trust.bound.evict(before);
            self.inner.trust.bound.set_len(0);
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
        let record = self
            .trees()?
            .trust
            .get(key)?
            .map(|bytes| decode_trust(&bytes))
            .transpose()?;
        self.inner.trust.fill(generation, key, record, writes);
        Ok(record)
    }

    /// Writes `record` (or removes the member's record) under the commit lock, and the cache
    /// with it.
    fn write_trust(&self, trees: &super::Trees, key: [u8; 17], record: Option<MemberTrust>) -> Result<(), StoreError> {
        let written = match record {
            Some(record) => trees.trust.insert(key, &encode_trust(record)).map(|_| ()),
            None => trees.trust.remove(key).map(|_| ()),
        };
        let written = self.observe(written.map_err(StoreError::from));
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
    /// is below `count_to`. Writes only when something changed; returns the record.
    pub fn trust_message(
        &self,
        group: GroupId,
        user_id: i64,
        at_ms: i64,
        clean: bool,
        count_to: u8,
    ) -> Result<MemberTrust, StoreError> {
        let key = member_key(group, user_id);
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        // Under the commit lock the cache cannot be behind the tree: every write goes through
        // `write_trust`, which holds the lock too.
        let stored = match self.inner.trust.get(self.generation(), &key).0 {
            Some(cached) => cached,
            None => trees.trust.get(key)?.map(|b| decode_trust(&b)).transpose()?,
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
            .trees()
            .expect("open")
            .trust
            .get(member_key(g, user))
            .expect("read")
            .map(|b| decode_trust(&b).expect("decodes"))
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
        assert_eq!(in_tree(&store, g, 7), Some(t));
        for _ in 0..4 {
            store.trust_message(g, 7, day, true, 3).expect("write");
        }
        assert_eq!(store.trust(g, 7).expect("read").map(|t| t.clean), Some(3));
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
            .trust
            .remove(member_key(g, 8))
            .expect("remove behind the cache");
        assert_eq!(store.trust(g, 8).expect("read"), None, "read from the tree again");
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
        // A read misses, a write lands before the read fills: the write's record stays.
        let (cached, writes) = cache.get(1, &key);
        assert_eq!(cached, None);
        cache.put(1, key, Some(new));
        cache.fill(1, key, old, writes);
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
        // Dropped or not, every member reads what the tree holds.
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
}
