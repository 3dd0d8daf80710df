//! The action outbox worker: delivers stored actions to the gateways.
//!
//! Actions are persisted before they are sent (the pipeline writes them in the event's
//! transaction), so a crash between decision and delivery loses nothing: the worker loads them
//! again on start. While running it learns of new items through the store's feed, which hands
//! over an item only once its commit is on disk, so it never rescans the outbox.
//!
//! - **Concurrency**: up to `[outbox] concurrency` calls in flight, each for a different group;
//!   a group's own calls are made one at a time ([`queues`]), so one slow or failing group
//!   never blocks the others and a group's actions keep their order.
//! - **Priority**: a group's actions go in decision order, but recall, mute and kick go first:
//!   they overtake the bot's own messages while those wait for the send governor (which paces
//!   them per group and per bot account, [`governor`]) or for a retry. A message never
//!   overtakes an earlier moderation action, so a warning never arrives before the recall of
//!   the message it is about.
//! - **Retries**: timeouts, connection errors, 5xx and rate limits back off exponentially on
//!   the injected clock (1 s, 2 s, 4 s … 5 min), or as long as the platform asked
//!   (`retry_after`). Refusals (no permission, member gone) go to the dead letters at once.
//! - **Age limits**: an item older than its kind's `[outbox.max_age]` is dropped to the dead
//!   letters instead of being sent late (a welcome 10 minutes late is pointless; a kick is not).
//!
//! - **Receipts**: an item that names a receipt (a welcome that the next one deletes) has the
//!   message id the gateway returned kept under that name, in the transaction that removes it.
//!   A message tied to an audit case (a warning) has its id noted with the case
//!   ([`crate::store::sent`]), so an admin's reply to it (`/notspam`) names the case.
//!
//! Delivery is at-least-once: if the process dies after the gateway acted but before the
//! removal reached the disk, the action is sent again on restart. The worker flushes removals
//! right after each batch of deliveries, which keeps that window to a few milliseconds.
//! Recall, mute and kick are idempotent; a repeated message is the accepted cost (neither
//! OneBot nor Telegram offers an idempotency key).

pub(crate) mod governor;
mod handle;
pub(crate) mod queues;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::OutboxSettings;
use crate::domain::action::Capabilities;
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::domain::metrics::{ActionResult, Metrics};
use crate::gateway::{Delivery, GatewayError, Gateways};
use crate::store::sent::SentMessage;
use crate::store::{Receipt, Store, StoreError};
use governor::Governor;
pub use handle::OutboxHandle;
use queues::{Dispatch, Queues};

/// First retry delay; doubles per attempt.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Longest sleep between looks at the queues. Items due later are found on time with the
/// system clock; with a manual clock (tests) this is how soon a moved clock is noticed.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long the worker's own writes (removals, retries) may wait for a flush. Under load the
/// webhooks' group commits flush them first and the worker flushes nothing itself.
const FLUSH_DELAY: Duration = Duration::from_millis(10);
/// How often idle groups' governor windows are dropped.
const FORGET_EVERY_MS: i64 = 60_000;

/// One finished delivery attempt: the group, the item, when the attempt started (unix ms, on
/// the injected clock; backoff counts from there) and what the gateway said.
type Attempt = (GroupId, u64, i64, Result<Delivery, GatewayError>);

/// Delivers outbox items. Wake it with [`OutboxWorker::waker`] after storing new items.
pub struct OutboxWorker {
    store: Store,
    gateways: Gateways,
    clock: SharedClock,
    settings: OutboxSettings,
    wake: Arc<Notify>,
    queues: Queues,
    governor: Governor,
    in_flight: JoinSet<Attempt>,
    /// A background flush of the worker's own writes is running.
    flushing: Option<tokio::task::JoinHandle<()>>,
    /// Writes (or undurable new items) not yet covered by a flush the worker started.
    dirty: bool,
    /// When idle governor windows were last dropped.
    forgot_ms: i64,
    /// Counts attempts by result; beats once per loop for `/readyz`.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for OutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWorker")
            .field("pending", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl OutboxWorker {
    /// A worker over `store`'s outbox. Loads every pending item and subscribes to new ones, so
    /// build it before events are handled.
    pub fn new(
        store: Store,
        gateways: Gateways,
        clock: SharedClock,
        settings: &OutboxSettings,
    ) -> Result<Self, StoreError> {
        let mut queues = Queues::default();
        for (seq, item) in store.outbox().subscribe()? {
            queues.insert(seq, item);
        }
        if !queues.is_empty() {
            tracing::info!(pending = queues.len(), "outbox: resuming delivery of stored actions");
        }
        let dead = store.outbox().dead_letters()?.len();
        if dead > 0 {
            tracing::warn!(
                dead_letters = dead,
                "outbox: actions were given up earlier; list them with `qunguan audit --dead-letters`"
            );
        }
        Ok(Self {
            governor: Governor::new(settings, Arc::new(Capabilities::of_platform)),
            store,
            gateways,
            clock,
            settings: settings.clone(),
            wake: Arc::new(Notify::new()),
            queues,
            in_flight: JoinSet::new(),
            flushing: None,
            dirty: false,
            forgot_ms: 0,
            metrics: Arc::default(),
        })
    }

    /// Counts into `metrics` (the daemon's) instead of the worker's own.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The handle the services publish through.
    #[must_use]
    pub fn handle(&self) -> OutboxHandle {
        OutboxHandle::new(self.store.clone(), Arc::clone(&self.wake), self.gateways.clone())
    }

    /// Runs until `cancel` fires, then finishes the calls in flight (each bounded by the
    /// gateway timeout) and returns.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            self.metrics.worker_beat();
            self.absorb_new();
            self.dispatch();
            self.flush_in_background();
            let pause = self.pause();
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    self.complete(done);
                    // Record every other finished call before looking for new work.
                    while let Some(done) = self.in_flight.try_join_next() {
                        self.complete(done);
                    }
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        while let Some(done) = self.in_flight.join_next().await {
            self.complete(done);
        }
        if let Some(flush) = self.flushing.take() {
            let _ = flush.await;
        }
        tracing::debug!(pending = self.queues.len(), "outbox worker stopped");
    }

    /// Moves new durable items from the store's feed into the queues. Items not durable yet
    /// are usually being flushed by the webhook that wrote them; in case nobody does (a tool
    /// that enqueued without flushing), the worker's own flush covers them.
    fn absorb_new(&mut self) {
        let outbox = self.store.outbox();
        for (seq, item) in outbox.take_durable() {
            self.queues.insert(seq, item);
        }
        if outbox.has_undurable() {
            self.dirty = true;
        }
    }

    /// Starts deliveries until the concurrency limit is reached or nothing is due.
    fn dispatch(&mut self) {
        let now_ms = self.clock.now().as_millisecond();
        let mut expired = Vec::new();
        while self.in_flight.len() < self.settings.concurrency {
            let Some(Dispatch { group, seq, action }) =
                self.queues
                    .next(now_ms, &mut self.governor, &self.settings.max_age, &mut expired)
            else {
                break;
            };
            let gateways = self.gateways.clone();
            self.in_flight.spawn(async move {
                let result = gateways.execute(&action).await;
                (group, seq, now_ms, result)
            });
        }
        for (seq, item) in expired {
            self.metrics.action(item.action.kind(), ActionResult::Dead);
            let age = Duration::from_millis(u64::try_from(now_ms.saturating_sub(item.created_ms)).unwrap_or(0));
            let reason = format!("expired: still undelivered after {}s", age.as_secs());
            tracing::error!(
                group = %item.action.group(),
                action = %item.action.kind(),
                case = item.case,
                seq,
                attempts = item.attempts,
                last_error = item.last_error.as_deref().unwrap_or(""),
                "outbox: dead letter: {reason}"
            );
            if let Err(e) = self.store.outbox().dead_letter(seq, &item, &reason, now_ms) {
                tracing::error!(error = %e, seq, "outbox: cannot store a dead letter");
            }
        }
        if now_ms.saturating_sub(self.forgot_ms) >= FORGET_EVERY_MS {
            self.governor.forget_idle(now_ms);
            self.forgot_ms = now_ms;
        }
    }

    /// How long to wait for something to happen.
    fn pause(&self) -> Duration {
        if self.queues.has_ready() && self.in_flight.len() < self.settings.concurrency {
            return Duration::ZERO;
        }
        let now_ms = self.clock.now().as_millisecond();
        self.queues.next_wake().map_or(IDLE_POLL, |at| {
            let ms = u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0);
            Duration::from_millis(ms).min(IDLE_POLL)
        })
    }

    /// Records the outcome of one call.
    fn complete(&mut self, done: Result<Attempt, tokio::task::JoinError>) {
        let (group, seq, started_ms, result) = match done {
            Ok(done) => done,
            Err(e) => {
                // A delivery task panicked; its group stays busy until restart, and the item
                // stays stored, so it is retried then.
                tracing::error!(error = %e, "outbox: a delivery task failed");
                return;
            }
        };
        let now_ms = self.clock.now().as_millisecond();
        let outbox = self.store.outbox();
        self.dirty = true;
        let error = result.as_ref().err().map(ToString::to_string);
        self.metrics.gateway_call(group.platform, error.as_deref());
        match result {
            Ok(delivery) => {
                let item = self.queues.finish(group, seq);
                if let Some(item) = &item {
                    self.metrics.action(item.action.kind(), ActionResult::Delivered);
                    tracing::info!(%group, action = %item.action.kind(), case = item.case, seq, "outbox: delivered");
                }
                // A message whose id is needed later (the previous welcome, to delete it).
                let receipt = item
                    .as_ref()
                    .and_then(|item| item.receipt.as_deref())
                    .zip(delivery.message_id)
                    .map(|(name, message_id)| (name, Receipt::new(message_id, now_ms)));
                // A message about a case (a warning), so a reply to it can name the case.
                let sent = item
                    .as_ref()
                    .filter(|item| item.action.kind() == crate::domain::action::ActionKind::Send)
                    .and_then(|item| item.case)
                    .zip(delivery.message_id)
                    .map(|(case, message_id)| SentMessage {
                        group,
                        message_id,
                        case,
                        sent_ms: now_ms,
                    });
                if let Err(e) = outbox.delivered_noting(seq, receipt, sent) {
                    tracing::error!(error = %e, seq, "outbox: cannot remove a delivered action");
                }
            }
            Err(e) if e.is_retryable() => {
                let retried = self.queues.retry(group, seq, |item| {
                    item.attempts += 1;
                    let delay = e.retry_after().unwrap_or_else(|| backoff(item.attempts));
                    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    item.not_before_ms = started_ms.saturating_add(delay_ms);
                    item.last_error = Some(e.to_string());
                });
                if let Some(item) = retried {
                    self.metrics.action(item.action.kind(), ActionResult::Retried);
                    tracing::warn!(
                        %group, action = %item.action.kind(), seq, attempts = item.attempts,
                        retry_in_ms = item.not_before_ms.saturating_sub(now_ms), error = %e,
                        "outbox: delivery failed, will retry"
                    );
                    if let Err(e) = outbox.retry(seq, &item) {
                        tracing::error!(error = %e, seq, "outbox: cannot store a retry");
                    }
                }
            }
            Err(e) => {
                if let Some(mut item) = self.queues.finish(group, seq) {
                    self.metrics.action(item.action.kind(), ActionResult::Dead);
                    item.attempts += 1;
                    item.last_error = Some(e.to_string());
                    let reason = format!("refused by the gateway: {e}");
                    tracing::error!(
                        %group, action = %item.action.kind(), case = item.case, seq,
                        "outbox: dead letter: {reason}"
                    );
                    if let Err(e) = outbox.dead_letter(seq, &item, &reason, now_ms) {
                        tracing::error!(error = %e, seq, "outbox: cannot store a dead letter");
                    }
                }
            }
        }
    }

    /// Makes the worker's writes (removals, retries) durable without waiting for it: takes a
    /// flush ticket now and, after [`FLUSH_DELAY`], flushes only if no webhook's group commit
    /// has covered the ticket meanwhile. One such task at a time; it wakes the worker when done
    /// (new items may have become durable with it). Flushing removals promptly keeps the
    /// window for a repeated delivery after a crash to milliseconds.
    fn flush_in_background(&mut self) {
        if !self.dirty || self.flushing.as_ref().is_some_and(|f| !f.is_finished()) {
            return;
        }
        self.dirty = false;
        let ticket = self.store.flush_ticket();
        let store = self.store.clone();
        let wake = Arc::clone(&self.wake);
        self.flushing = Some(tokio::spawn(async move {
            tokio::time::sleep(FLUSH_DELAY).await;
            if let Err(e) = store.durable_upto(ticket).await {
                tracing::error!(error = %e, "outbox: flush failed");
            }
            wake.notify_one();
        }));
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
