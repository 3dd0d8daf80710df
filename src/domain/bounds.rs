//! The size of every bounded in-memory structure, for `/metrics`.
//!
//! Each structure that grows with traffic (flood rings, activity notes, statistics batch,
//! outbox queues, caches) owns one [`Bound`]: its capacity (from `[limits]`), how many
//! entries it holds now, and how many it has dropped because it was full. The owner updates
//! the numbers with relaxed atomic stores as it changes, so reading them costs the hot path
//! nothing; the daemon's [`crate::domain::metrics::Metrics`] collects every bound and renders
//! them as `qunguan_memory_entries`, `qunguan_memory_capacity` and
//! `qunguan_memory_evictions_total`, labelled with the structure's name.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One structure's size and capacity.
#[derive(Debug)]
pub struct Bound {
    name: &'static str,
    capacity: AtomicUsize,
    len: AtomicUsize,
    evicted: AtomicU64,
}

impl Bound {
    /// A bound named `name` (the metric label, snake case) holding at most `capacity`.
    #[must_use]
    pub fn new(name: &'static str, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            capacity: AtomicUsize::new(capacity),
            len: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    /// The metric label.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The most entries the structure holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Entries held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when the structure is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped because the structure was full, since start.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Changes the capacity (a structure built before its settings were known).
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    /// Records the current number of entries.
    pub fn set_len(&self, len: usize) {
        self.len.store(len, Ordering::Relaxed);
    }

    /// Counts `n` entries added.
    pub fn grow(&self, n: usize) {
        self.len.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` entries removed.
    pub fn shrink(&self, n: usize) {
        // Saturating: a racing `set_len` must not wrap the count around.
        let _ = self
            .len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |len| Some(len.saturating_sub(n)));
    }

    /// Counts `n` entries dropped at capacity.
    pub fn evict(&self, n: usize) {
        self.evicted.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Moves the entries of `map` into a fresh table with room for `room` entries, or for those
/// it holds if more (`0`: just those).
///
/// A hash table keeps the slots of removed entries as tombstones, and when the inserts that
/// follow run out of free slots while it is more than half full, it doubles instead of
/// reusing them (std's `HashMap`). A bounded map that drops part of its entries when full and
/// fills up again, as the caches here do, therefore ends up with twice the table its bound
/// needs: with 57,344 entries of 24 bytes, 3.0 MB instead of 1.5 MB. Called after such a
/// drop, this keeps the table at most at the size of the bound: a fresh table that only
/// gains entries grows to the table its entries need and no further. It costs one pass over
/// what is left, like the drop itself.
pub fn compact<K: Eq + Hash, V, S: BuildHasher + Clone>(map: &mut HashMap<K, V, S>, room: usize) {
    let mut fresh = HashMap::with_capacity_and_hasher(room.max(map.len()), map.hasher().clone());
    fresh.extend(map.drain());
    *map = fresh;
}

/// [`compact`] for a set.
pub fn compact_set<T: Eq + Hash, S: BuildHasher + Clone>(set: &mut HashSet<T, S>, room: usize) {
    let mut fresh = HashSet::with_capacity_and_hasher(room.max(set.len()), set.hasher().clone());
    fresh.extend(set.drain());
    *set = fresh;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills a map to `bound` entries, drops every other one (then compacts it to `room`, if
    /// `compacted`), and repeats; returns the table's room when full, per round.
    fn refill_rounds(bound: usize, compacted: bool, room: usize) -> Vec<usize> {
        let mut map: HashMap<u64, u64> = HashMap::with_capacity(bound);
        let mut next = 0_u64;
        let mut rooms = Vec::new();
        for _ in 0..4 {
            while map.len() < bound {
                map.insert(next.wrapping_mul(0x9E37_79B9_7F4A_7C15), next);
                next += 1;
            }
            rooms.push(map.capacity());
            let mut keep = false;
            map.retain(|_, _| {
                keep = !keep;
                keep
            });
            if compacted {
                compact(&mut map, room);
            }
        }
        rooms
    }

    #[test]
    fn a_compacted_map_keeps_the_table_of_its_bound() {
        // 57,344 = 7/8 of 65,536 buckets: the most a table of that size holds.
        let bound = 57_344;
        assert_eq!(refill_rounds(bound, true, bound), vec![bound; 4]);
        // Compacted to what is left, it grows back to the same table.
        assert_eq!(refill_rounds(bound, true, 0), vec![bound; 4]);
        // Without it the table doubles after the first drop (what `compact` is for).
        assert!(refill_rounds(bound, false, 0)[1] >= 2 * bound - bound / 8);
    }

    #[test]
    fn compact_keeps_every_entry() {
        let mut map: HashMap<u32, u32> = (0..1_000).map(|i| (i, i * 2)).collect();
        map.retain(|k, _| k % 3 == 0);
        compact(&mut map, 10);
        assert_eq!(map.len(), 334);
        assert!(map.iter().all(|(k, v)| k % 3 == 0 && *v == k * 2));
    }
}
