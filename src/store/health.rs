//! What the store knows about its own health: whether it can write, what is running in it
//! and for how long, which generation of the database is open, and faults injected on purpose.
//!
//! - **Failing.** A store-wide error ([`StoreError::is_store_wide`]: I/O, a full disk,
//!   corruption) from a write or a flush marks the store failing, with the reason and since
//!   when. It stays failing until [`Store::recover`] has written and flushed a probe. While it
//!   fails, `/readyz` says why and the webhooks answer 503, so the gateways deliver again later.
//! - **Operations in progress.** Every commit, outbox write and flush registers itself for as
//!   long as it runs (a map insert and remove under a small mutex, never held across I/O).
//!   [`Store::stalled_for`] is the age of the oldest: the watchdog's input.
//! - **Generation.** Bumped when the database is reopened; a flush ticket of an older
//!   generation never counts as durable.
//! - **Faults.** [`Faults`] makes writes fail as on a full disk, or hang as on a stalled disk,
//!   for tests and drills; off unless someone turns it on.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// How often a stalled (injected) write looks whether the stall was lifted.
const STALL_POLL: Duration = Duration::from_millis(20);

/// Why the store cannot write, and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    /// The error that started it (the latest one while it lasts).
    pub reason: String,
    /// How long it has been failing.
    pub for_: Duration,
}

/// Faults to inject into the store's writes (tests, drills). Every write and flush checks
/// them inside its tracked operation, exactly where real I/O would fail or hang: the write
/// faults at the start of each write and flush (for commits, and a flush that records its
/// number, under the commit lock), and the flush faults as a flush reaches sled's flush,
/// after the commit lock is released (writes go on while a flush hangs).
#[derive(Debug, Default)]
pub struct Faults {
    fail_writes: AtomicBool,
    stall: AtomicBool,
    fail_flushes: AtomicBool,
    stall_flushes: AtomicBool,
}

impl Faults {
    /// While on, every write and flush fails as on a full disk.
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    /// While on, every write and flush hangs (as on a stalled disk) until it is turned off.
    pub fn stall(&self, on: bool) {
        self.stall.store(on, Ordering::SeqCst);
    }

    /// While on, every flush fails as on a full disk (writes still reach sled's memory): a
    /// unit is written but never made durable.
    pub fn fail_flushes(&self, on: bool) {
        self.fail_flushes.store(on, Ordering::SeqCst);
    }

    /// While on, every flush hangs until it is turned off (writes still pass): what is
    /// written waits to become durable.
    pub fn stall_flushes(&self, on: bool) {
        self.stall_flushes.store(on, Ordering::SeqCst);
    }

    /// Applies the flush-only faults to one flush (after [`Faults::before_write`]).
    pub(crate) fn before_flush(&self) -> Result<(), StoreError> {
        apply(
            &self.stall_flushes,
            &self.fail_flushes,
            "no space left on device (injected into a flush)",
        )
    }

    /// Applies the faults to one write: waits out a stall, then fails if writes fail.
    pub(crate) fn before_write(&self) -> Result<(), StoreError> {
        apply(&self.stall, &self.fail_writes, "no space left on device (injected)")
    }
}

/// Lifts a store's injected flush hang when dropped (tests), so a failing test leaves no
/// thread hanging behind it.
#[cfg(test)]
pub(crate) struct LiftFlushStall(pub(crate) super::Store);

#[cfg(test)]
impl Drop for LiftFlushStall {
    fn drop(&mut self) {
        self.0.faults().stall_flushes(false);
    }
}

/// Waits while `stall` is set, then fails with a full disk's error if `fail` is.
fn apply(stall: &AtomicBool, fail: &AtomicBool, message: &'static str) -> Result<(), StoreError> {
    while stall.load(Ordering::SeqCst) {
        std::thread::sleep(STALL_POLL);
    }
    if fail.load(Ordering::SeqCst) {
        return Err(StoreError::Sled(sled::Error::Io(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            message,
        ))));
    }
    Ok(())
}

/// The numbers of explicit flushes. A flush whose number the integrity sidecar will quote
/// first records it in `meta`, so after a crash the database can prove how far it got
/// ([`super::integrity`]); the daemon's other flushes are only counted.
#[derive(Debug, Default)]
pub(crate) struct FlushSeq {
    issued: AtomicU64,
    durable: AtomicU64,
    /// The highest number recorded in `meta` by a flush that finished.
    recorded: AtomicU64,
}

impl FlushSeq {
    /// Continues numbering after `stored` (the number found in the database).
    pub(crate) fn set_base(&self, stored: u64) {
        self.issued.fetch_max(stored, Ordering::SeqCst);
        self.durable.fetch_max(stored, Ordering::SeqCst);
        self.recorded.fetch_max(stored, Ordering::SeqCst);
    }

    pub(crate) fn next(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn mark_durable(&self, seq: u64) {
        self.durable.fetch_max(seq, Ordering::SeqCst);
    }

    #[cfg(test)]
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// `seq` was recorded in `meta` by a flush that finished.
    pub(crate) fn mark_recorded(&self, seq: u64) {
        self.recorded.fetch_max(seq, Ordering::SeqCst);
    }

    /// The highest number on disk in `meta`: what the sidecar may quote.
    pub(crate) fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::SeqCst)
    }
}

/// The operation name of a compaction ([`Store::begin`]).
pub(crate) const COMPACT_OP: &str = "compact";

/// The operation name of a flush ([`Store::begin`]); [`Store::stalled_for`] reports it while
/// one hangs.
pub(crate) const FLUSH_OP: &str = "flush";

/// How long a compaction may run before the watchdog counts it as stalled.
pub(crate) const COMPACT_STALL: Duration = Duration::from_secs(600);

/// The store's health state; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct StoreHealth {
    failing: Mutex<Option<(String, Instant)>>,
    generation: AtomicU64,
    ops: Mutex<BTreeMap<u64, (Instant, &'static str)>>,
    next_op: AtomicU64,
    pub(crate) faults: Faults,
    pub(crate) flushes: FlushSeq,
    /// When the integrity sidecar was last written (ms since an arbitrary start), for
    /// [`super::integrity`]'s periodic update; 0 = never.
    pub(crate) sidecar_written: Mutex<Option<Instant>>,
    /// True for the daemon's store: it keeps the integrity sidecar up to date.
    pub(crate) tracking: AtomicBool,
    /// Compactions done ([`super::compact`]).
    pub(crate) compactions: AtomicU64,
}

impl StoreHealth {
    fn lock_failing(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_ops(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (Instant, &'static str)>> {
        self.ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// One tracked operation; it ends when dropped.
#[derive(Debug)]
pub(crate) struct Op<'a> {
    health: &'a StoreHealth,
    id: u64,
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        self.health.lock_ops().remove(&self.id);
    }
}

impl Store {
    /// Why the store cannot write, if it cannot.
    #[must_use]
    pub fn failing(&self) -> Option<Failing> {
        self.inner
            .health
            .lock_failing()
            .as_ref()
            .map(|(reason, since)| Failing {
                reason: reason.clone(),
                for_: since.elapsed(),
            })
    }

    /// The generation of the open database: bumped each time it is reopened.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.inner.health.generation.load(Ordering::SeqCst)
    }

    /// How long the oldest write or flush still in progress has been running, and what it is;
    /// `None` when none is.
    #[must_use]
    ///
    /// While a compaction runs, every writer waits for it by design ([`super::compact`]), so
    /// nothing counts as stalled until the compaction itself has run for [`COMPACT_STALL`].
    pub fn stalled_for(&self) -> Option<(Duration, &'static str)> {
        let ops = self.inner.health.lock_ops();
        if let Some((since, what)) = ops.values().find(|(_, what)| *what == COMPACT_OP) {
            let elapsed = since.elapsed();
            return (elapsed >= COMPACT_STALL).then_some((elapsed, *what));
        }
        ops.first_key_value().map(|(_, (since, what))| (since.elapsed(), *what))
    }

    /// The faults injected into this store's writes (tests, drills).
    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.inner.health.faults
    }

    /// Registers an operation for as long as the returned guard lives.
    pub(crate) fn begin(&self, what: &'static str) -> Op<'_> {
        let health = &self.inner.health;
        let id = health.next_op.fetch_add(1, Ordering::Relaxed);
        health.lock_ops().insert(id, (Instant::now(), what));
        Op { health, id }
    }

    /// Passes `result` through; a store-wide error marks the store failing (logged when it
    /// starts failing, not on every error after that).
    pub(crate) fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && e.is_store_wide()
        {
            let mut failing = self.inner.health.lock_failing();
            match failing.as_mut() {
                Some((reason, _)) => *reason = e.to_string(),
                None => {
                    tracing::error!(error = %e, "store: cannot write; answering webhooks 503 and retrying until it can");
                    *failing = Some((e.to_string(), Instant::now()));
                }
            }
        }
        result
    }

    /// Ends the failing state (after a probe write was made durable).
    pub(crate) fn clear_failing(&self) {
        if let Some((reason, since)) = self.inner.health.lock_failing().take() {
            tracing::warn!(after = ?since.elapsed(), was = %reason, "store: writing again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_tracked_while_they_run_and_the_oldest_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        assert_eq!(store.stalled_for(), None);
        let first = store.begin("commit");
        std::thread::sleep(Duration::from_millis(20));
        let second = store.begin("flush");
        let (age, what) = store.stalled_for().expect("two in progress");
        assert_eq!(what, "commit");
        assert!(age >= Duration::from_millis(20), "{age:?}");
        drop(first);
        assert_eq!(store.stalled_for().map(|(_, w)| w), Some("flush"));
        drop(second);
        assert_eq!(store.stalled_for(), None);
    }

    #[test]
    fn a_store_wide_error_marks_the_store_failing_and_a_value_error_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let decode: Result<(), _> = Err(StoreError::Decode {
            what: "x",
            reason: "y".into(),
        });
        let _ = store.observe(decode);
        assert_eq!(store.failing(), None);
        store.faults().fail_writes(true);
        let err = store.set_state("x", b"1").expect_err("injected full disk");
        assert!(err.is_store_wide(), "{err}");
        let failing = store.failing().expect("failing");
        assert!(failing.reason.contains("no space left"), "{failing:?}");
        store.clear_failing();
        assert_eq!(store.failing(), None);
    }
}
