//! The action outbox worker: delivers stored actions to the gateways.
//!
//! Actions are persisted before they are sent (the pipeline writes them in the event's
//! transaction), so a crash between decision and delivery loses nothing: the worker picks
//! them up again on start. Delivery is in decision order within a group; a group whose next
//! action is failing or backing off does not hold up the other groups. Retryable errors
//! back off exponentially; refusals (no permission, member gone) are dropped with an error log.
//!
//! Delivery is at-least-once: if the process dies after the gateway acted but before the item
//! was removed, the action is sent again on restart. Recall, mute and kick are idempotent; a
//! repeated warning text is the accepted cost (neither OneBot nor Telegram offers an
//! idempotency key).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::event::GroupId;
use crate::gateway::Gateways;
use crate::store::Store;

/// First retry delay; doubles per attempt.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Poll interval when nothing wakes the worker (items due later, clock changes in tests).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Delivers outbox items. Wake it with [`OutboxWorker::waker`] after enqueuing.
pub struct OutboxWorker {
    store: Store,
    gateways: Gateways,
    clock: SharedClock,
    wake: Arc<Notify>,
}

impl OutboxWorker {
    /// A worker over `store`'s outbox.
    #[must_use]
    pub fn new(store: Store, gateways: Gateways, clock: SharedClock) -> Self {
        Self {
            store,
            gateways,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The handle that wakes the worker when new items are stored.
    #[must_use]
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Runs until `cancel` fires. The call in flight when it fires is finished first.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            if let Err(e) = self.deliver_due(&cancel).await {
                tracing::error!(error = %e, "outbox: cannot read the outbox");
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
        tracing::debug!("outbox worker stopped");
    }

    /// One pass over the outbox: delivers every due item whose group is not blocked by an
    /// earlier, undelivered item.
    async fn deliver_due(&self, cancel: &CancellationToken) -> Result<(), crate::store::StoreError> {
        let outbox = self.store.outbox();
        let mut blocked: HashSet<GroupId> = HashSet::new();
        for (seq, mut item) in outbox.pending()? {
            if cancel.is_cancelled() {
                break;
            }
            let group = item.action.group();
            if blocked.contains(&group) {
                continue;
            }
            let now_ms = self.clock.now().as_millisecond();
            if item.not_before_ms > now_ms {
                blocked.insert(group);
                continue;
            }
            let kind = item.action.kind();
            match self.gateways.execute(&item.action).await {
                Ok(_) => {
                    tracing::info!(%group, action = %kind, seq, "outbox: delivered");
                    outbox.remove(seq)?;
                }
                Err(e) if e.is_retryable() => {
                    item.attempts += 1;
                    let delay = e.retry_after().unwrap_or_else(|| backoff(item.attempts));
                    item.not_before_ms = now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                    item.last_error = Some(e.to_string());
                    tracing::warn!(%group, action = %kind, seq, attempts = item.attempts, retry_in = ?delay, error = %e, "outbox: delivery failed, will retry");
                    outbox.update(seq, &item)?;
                    blocked.insert(group);
                }
                Err(e) => {
                    tracing::error!(%group, action = %kind, seq, error = %e, "outbox: the gateway refused the action; dropping it");
                    outbox.remove(seq)?;
                }
            }
        }
        Ok(())
    }
}

/// Delay before retry number `attempts` (1-based): 1 s, 2 s, 4 s … capped at 5 min.
#[must_use]
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs: Vec<u64> = (1..=12).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }
}
