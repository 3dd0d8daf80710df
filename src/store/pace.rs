//! Pacing of the background batches (the audit mover, the writers of trust counts, member
//! activity and message points).
//!
//! Those batches run every few seconds on tokio's blocking pool and, under load, each does
//! 100–200 ms of work at once: thousands of records read, decoded and written. On a bot
//! given one core that work shares the core with the webhook path, and every event that
//! arrives meanwhile waits behind it at each hop (docs/performance.md, "Session 29: the
//! reaction's tail"). A paced batch ([`paced`]) stops at its breathing points ([`breathe`],
//! always outside the commit lock) once it has worked [`SLICE`] since its last pause, and
//! sleeps about as long as it worked (at most [`MAX_PAUSE`]): it runs in short slices with
//! the core free between them, so the events' threads never queue long behind it. A batch
//! that is not paced (a backup, a shutdown, the command line) never pauses.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long a paced batch works before it pauses.
pub(crate) const SLICE: Duration = Duration::from_micros(250);
/// The longest pause.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(2);

thread_local! {
    /// In a paced batch on this thread: when it last resumed.
    static RESUMED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` paced: its [`breathe`] points pause (on this thread, until `f` returns).
pub(crate) fn paced<R>(f: impl FnOnce() -> R) -> R {
    /// Puts back what the thread had before (a pool thread runs other work afterwards).
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RESUMED.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(RESUMED.with(|r| r.replace(Some(Instant::now()))));
    f()
}

/// Runs `f` [`paced`] when `on`, else unpaced: for a batch that is paced in the daemon's
/// periodic runs and not in its last run at shutdown.
pub(crate) fn paced_if<R>(on: bool, f: impl FnOnce() -> R) -> R {
    if on { paced(f) } else { f() }
}

/// A point between two pieces of a batch where it may pause. Never call it while holding the
/// commit lock (or any lock the webhook path takes). Outside [`paced`] it does nothing.
/// Returns whether it paused.
pub(crate) fn breathe() -> bool {
    RESUMED.with(|r| {
        let Some(resumed) = r.get() else {
            return false;
        };
        let worked = resumed.elapsed();
        if worked < SLICE {
            return false;
        }
        std::thread::sleep(worked.min(MAX_PAUSE));
        r.set(Some(Instant::now()));
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn breathing_outside_a_paced_batch_does_nothing() {
        busy(SLICE * 2);
        assert!(!breathe(), "no pause outside a paced batch");
    }

    #[test]
    fn paced_if_paces_only_when_asked() {
        let paused = |on| {
            paced_if(on, || {
                busy(SLICE * 2);
                breathe()
            })
        };
        assert!(paused(true), "a paced run pauses");
        assert!(!paused(false), "an unpaced run (the last at shutdown) never does");
    }

    #[test]
    fn a_paced_batch_pauses_after_a_slice_of_work() {
        paced(|| {
            busy(SLICE * 2);
            let start = Instant::now();
            assert!(breathe());
            assert!(start.elapsed() >= SLICE * 2, "paused at least as long as it worked");
        });
        assert!(RESUMED.with(Cell::get).is_none(), "the thread is unpaced again");
        busy(SLICE * 2);
        assert!(!breathe(), "no pause after the batch");
    }
}
