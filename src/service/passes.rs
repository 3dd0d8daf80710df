//! Rounds of a background task that waits for its bell or for an instant.
//!
//! The scheduler and the welcome greeter each loop: look at the store and the clock, stage
//! what is due, then wait for their bell (a [`Notify`] the pipeline rings) or for the next
//! instant something is due. [`Passes`] counts those rounds. Nothing in the daemon reads the
//! counts: they make the tasks observable from outside, so a test can prove that a task has
//! looked at what the test set up (a moved clock, a stored join, a reloaded schedule) instead
//! of sleeping and hoping it got round to it. The proof:
//!
//! 1. read [`Passes::started`] (`n`) after setting things up;
//! 2. ring the task's bell with `notify_one`;
//! 3. wait until [`Passes::finished`] reaches `n + 1`.
//!
//! Round `n + 1` started after step 1, so it saw the set-up; and it comes: the task arms its
//! bell before it counts a round as started, so the ring either ends the wait after round `n`
//! or is kept as a permit for it.
//!
//! Invariants the tasks keep: [`Passes::start`] is called after the round's bell is armed
//! and before anything is read; [`Passes::finish`] after everything the round staged was
//! published to the outbox; one task's rounds never overlap, so `finished() >= k` means every
//! round up to `k` is over.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// Counts the rounds of one background task (see the module docs).
#[derive(Debug, Default)]
pub struct Passes {
    started: AtomicU64,
    finished: AtomicU64,
    changed: Notify,
}

impl Passes {
    /// A round begins (its bell is armed; nothing has been read yet).
    pub(crate) fn start(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// A round is over (what it staged is published).
    pub(crate) fn finish(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Rounds begun so far.
    #[must_use]
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Rounds finished so far.
    #[must_use]
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::SeqCst)
    }

    /// Completes once at least `n` rounds have finished (unbounded: callers add a timeout).
    pub async fn until_finished(&self, n: u64) {
        loop {
            // Created before the count is read, so a round finishing in between is not missed
            // (`notify_waiters` reaches every `Notified` created before it, polled or not).
            let changed = self.changed.notified();
            if self.finished() >= n {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waiting_for_a_round_ends_when_that_round_finishes() {
        let passes = Arc::new(Passes::default());
        passes.start();
        passes.finish();
        // Already there: returns at once.
        passes.until_finished(1).await;
        let waiter = {
            let passes = Arc::clone(&passes);
            tokio::spawn(async move { passes.until_finished(2).await })
        };
        passes.start();
        assert_eq!((passes.started(), passes.finished()), (2, 1));
        passes.finish();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("woken by the second round")
            .expect("task");
    }
}
