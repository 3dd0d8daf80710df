//! The size of every bounded in-memory structure, for `/metrics`.
//!
//! Each structure that grows with traffic (flood rings, activity notes, statistics batch,
//! outbox queues, caches) owns one [`Bound`]: its capacity (from `[limits]`), how many
//! entries it holds now, and how many it has dropped because it was full. The owner updates
//! the numbers with relaxed atomic stores as it changes, so reading them costs the hot path
//! nothing; the daemon's [`crate::domain::metrics::Metrics`] collects every bound and renders
//! them as `qunguan_memory_entries`, `qunguan_memory_capacity` and
//! `qunguan_memory_evictions_total`, labelled with the structure's name.

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
