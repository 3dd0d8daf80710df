//! Wall-clock time, injectable.
//!
//! Everything that reasons about time (strike expiry, backoff, schedules) asks a [`Clock`]
//! instead of the system, so tests can move time forward without sleeping. Tasks that wait
//! for an instant (the scheduler, the welcome batches) wait with [`Clock::sleep_until`], so a
//! test that moves a [`ManualClock`] wakes them at once instead of after a poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

/// The future [`Clock::sleep_until`] returns.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The longest single nap of [`Clock::sleep_until`] on the real clock: the wall clock may be
/// stepped (NTP, a suspended VM) while tokio's monotonic timer runs on, so a long wait is
/// taken in naps and the wall clock read again after each.
const LONGEST_NAP: Duration = Duration::from_secs(60);

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now.
    fn now(&self) -> Timestamp;

    /// Completes once [`Clock::now`] has reached `deadline` (at once if it already has).
    fn sleep_until(&self, deadline: Timestamp) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                let left = deadline.as_millisecond().saturating_sub(self.now().as_millisecond());
                let Ok(left) = u64::try_from(left) else { return };
                if left == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(left).min(LONGEST_NAP)).await;
            }
        })
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to (tests, the demo). Millisecond resolution.
///
/// Moving it wakes every [`Clock::sleep_until`] waiting on it, so a task sleeping until an
/// instant runs as soon as a test moves the clock past it.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
    moved: Notify,
}

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(Self {
            millis: AtomicI64::new(start.as_millisecond()),
            moved: Notify::new(),
        })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Sets the clock.
    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.as_millisecond(), Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.millis.load(Ordering::SeqCst)).unwrap_or(Timestamp::MAX)
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                // Registered before the clock is read, so a move in between is not missed.
                let moved = self.moved.notified();
                if self.now() >= deadline {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Timestamp::from_second(1_700_000_000).expect("valid");
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().as_second(), 1_700_000_090);
    }

    #[tokio::test]
    async fn a_sleep_on_the_manual_clock_ends_when_the_clock_passes_its_deadline() {
        let start = Timestamp::from_second(1_700_000_000).expect("valid");
        let clock = ManualClock::new(start);
        let deadline = Timestamp::from_second(1_700_000_060).expect("valid");
        let mut sleeper = clock.sleep_until(deadline);
        clock.advance(Duration::from_secs(59));
        // Polled once, by hand: the sleep has looked at the clock and is still waiting (a
        // spawned task "not finished yet" would only show that it had not run).
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            sleeper.as_mut().poll(&mut cx).is_pending(),
            "one second before the deadline"
        );
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(10), sleeper)
            .await
            .expect("woken by the move");
        // A deadline in the past returns at once.
        clock.sleep_until(start).await;
    }
}
