//! Watching the store: recovering it after write errors, and giving up on it when it hangs.
//!
//! - **Recovery.** While the store reports itself failing (a full disk), a recovery attempt
//!   ([`Store::recover`]: a probe, else reopen and probe) runs every [`RECOVER_EVERY`] on the
//!   blocking pool. Once space is back, the store works again within about that long, without
//!   a restart; until then webhooks answer 503 and `/readyz` says why.
//! - **Watchdog.** sled can deadlock or block on a stalled disk, and a hung commit holds the
//!   commit lock, so nothing could ever be stored again. When a write or flush has not
//!   finished within `[storage] watchdog`, the watchdog records why (`/healthz` then answers
//!   503 with the reason), logs it, and trips: the daemon exits with status
//!   [`EXIT_STALLED`] after [`EXIT_GRACE`], so systemd (`Restart=on-failure`) or Docker
//!   (`restart: unless-stopped`) starts it again. Nothing acknowledged is lost: a webhook is
//!   answered only after its event was flushed.
//!
//! The watch itself never touches the store's I/O: it reads the tracked operations (a small
//! mutex) and hands recovery to the blocking pool, so a stalled disk cannot stall it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::runtime::health::Health;
use crate::store::Store;

/// How often the watch looks.
const TICK: Duration = Duration::from_millis(250);
/// How often a failing store is given a recovery attempt.
pub const RECOVER_EVERY: Duration = Duration::from_secs(1);
/// How long the process stays up after the watchdog tripped, so `/healthz` can be read and
/// the log written.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);
/// The exit status after the watchdog tripped (`EX_TEMPFAIL`: try again).
pub const EXIT_STALLED: i32 = 75;

/// Watches `store` until `cancel` fires; cancels `tripped` when the watchdog gives up on the
/// store (after recording the reason in `health`).
pub async fn watch_store(
    store: Store,
    health: Arc<Health>,
    bound: Duration,
    tripped: CancellationToken,
    cancel: CancellationToken,
) {
    let mut recovering: Option<tokio::task::JoinHandle<()>> = None;
    let mut last_attempt: Option<tokio::time::Instant> = None;
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Some((age, what)) = store.stalled_for()
            && age > bound
        {
            let reason = format!(
                "store: a {what} has not finished for {}s (storage.watchdog is {}s); exiting so the service manager restarts qunguan",
                age.as_secs(),
                bound.as_secs()
            );
            tracing::error!("{reason}");
            health.stall(reason);
            tripped.cancel();
            return;
        }
        if recovering.as_ref().is_some_and(tokio::task::JoinHandle::is_finished) {
            recovering = None;
        }
        let due = last_attempt.is_none_or(|at| at.elapsed() >= RECOVER_EVERY);
        if store.failing().is_some() && recovering.is_none() && due {
            last_attempt = Some(tokio::time::Instant::now());
            let store = store.clone();
            recovering = Some(tokio::task::spawn_blocking(move || match store.recover() {
                Ok(done) => tracing::debug!(?done, "store recovery"),
                Err(e) => tracing::debug!(error = %e, "store still cannot write"),
            }));
        }
    }
}
