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
//! - **Routing**: a group's actions leave through the gateway of the account that keeps the
//!   group ([`Roster::keeper`]: its admin among the instance's accounts there, else the one
//!   seen first), never through another account's gateway.
//! - **Retries**: timeouts, connection errors, 5xx, rate limits and `failed` answers that may
//!   pass (the QQ account reconnecting or risk-controlled; see
//!   [`crate::gateway::onebot::retcode`]) back off exponentially on the injected clock (1 s,
//!   2 s, 4 s … 5 min), or as long as the platform asked (`retry_after`); a `failed` answer is
//!   retried at most [`MAX_FAILED_ATTEMPTS`] times. Refusals (bad parameters, no permission,
//!   member gone) go to the dead letters at once. `qunguan audit --dead-letters --retry` sends
//!   dead letters back to the queue.
//! - **Age limits**: an item older than its kind's `[outbox.max_age]` is given up instead of
//!   being sent late (a welcome 10 minutes late is pointless; a kick is not): a moderation
//!   action goes to the dead letters; one of the bot's own messages, like one its group's full
//!   queue hands back, is only counted and removed (`[outbox] keep_stale_messages` keeps it
//!   as a dead letter), as sending it again later would be as pointless. The dead letters
//!   keep the newest `[limits] dead_letters`.
//!
//! - **Receipts**: an item that names a receipt (a welcome that the next one deletes) has the
//!   message id the gateway returned kept under that name, in the transaction that removes it.
//!   A message tied to an audit case (a warning) has its id noted with the case
//!   ([`crate::store::sent`]), so an admin's reply to it (`/notspam`) names the case.
//!
//! - **Marks**: what became of each attempt (delivered, retry, dead) is kept in memory and
//!   written in one transaction with every other mark that piled up meanwhile, then flushed
//!   ([`crate::store::marks`]): a group commit, started the moment the previous one ends. A
//!   mark that could not be written (a full disk) stays in memory and is written again. A
//!   group's next call waits for its previous call's mark to be on disk, so a crash can repeat
//!   at most one delivered action per group (the groups still run side by side).
//!
//! - **Early recalls** ([`early`]): a recall is sent as soon as its unit is written, before
//!   the unit's flush, which is the largest piece of the time from a spam message to its
//!   recall (docs/performance.md, "Session 24: the reaction"). The services wake the worker
//!   before they wait for the flush ([`OutboxHandle::publish`]); the worker copies the new
//!   recalls from the store's feed ([`crate::store::outbox::Outbox::peek_moderation`]) and sends them at
//!   once, not behind its group's previous call or its mark. When the stored item arrives
//!   through the feed, the worker writes its delivered mark without a second call (a failed
//!   early call counts as the item's first attempt and is retried as usual). Meanwhile the
//!   group's later items, its warning among them, wait for that call to end ([`parked`],
//!   within the group's queue bounds), so a warning still never arrives before its recall.
//!   At most two early recalls per group ([`early::PER_GROUP`]) and `[outbox] early_recalls` in
//!   all lack a durable delivered mark at any time, so a crash repeats at most two early recalls
//!   per group besides the one held call. If the unit never reaches the disk (a full disk, a crash), the recall
//!   was still sent; the platform redelivers the event and the message is recalled again,
//!   harmlessly. Only recalls go early: mutes and kicks keep their order behind the group's
//!   earlier calls, and the bot's own messages keep every guarantee above, except that a
//!   recall may overtake an earlier message of its group (the previous offender's warning). A
//!   recall never goes early ahead of an earlier moderation action (queued, in flight, parked,
//!   or before it in the feed) that concerns the same member or the whole group
//!   ([`OutboxItem::concerns`]): a violation's recall is stored with the member whose message
//!   it is ([`OutboxItem::member`]), so it may overtake another member's mute or kick decided
//!   before it, never its own member's (an earlier strike's mute, an earlier recall); a recall
//!   whose author is not recorded (the gate's question, a welcome) keeps its place behind every
//!   earlier moderation action of its group, and so does every recall behind an action that
//!   concerns no one member.
//!
//! - **Failures inside qunguan**: a panic in a gateway call (a bug) is that attempt's result,
//!   [`GatewayError::Panicked`]: logged, retried with backoff like a `failed` answer (at most
//!   [`MAX_FAILED_ATTEMPTS`] times), and the group goes on; it never leaves a group busy.
//!
//! Delivery is at-least-once: if the process dies after the gateway acted but before the
//! delivered mark reached the disk, the action is sent again on restart. That window is one
//! or two flushes (milliseconds), and a message whose delivered mark is durable is never sent
//! again. Recall, mute and kick are idempotent; a repeated message is the accepted cost
//! (neither OneBot nor Telegram offers an idempotency key).
//!
//! Every store call of the worker runs on the blocking pool; the async loop itself only
//! touches memory (the feed has a lock of its own, never held across I/O). When the store
//! was reopened after a write error (a new generation), the worker stops dispatching, lets
//! the calls in flight finish, and reloads the outbox from the new handle.

mod early;
pub(crate) mod governor;
mod handle;
mod parked;
pub(crate) mod queues;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{LimitsSettings, OutboxSettings};
use crate::domain::account::AccountId;
use crate::domain::action::{Action, Capabilities};
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::domain::logfield::panic_text;
use crate::domain::metrics::{ActionResult, Metrics};
use crate::gateway::{Delivery, GatewayError, Gateways};
use crate::service::accounts::Roster;
use crate::store::marks::Mark;
use crate::store::outbox::FeedModeration;
use crate::store::sent::SentMessage;
use crate::store::{DeadLetter, OutboxItem, Receipt, Store, StoreError};
use early::{Arrival, Early};
use governor::Governor;
pub use handle::OutboxHandle;
use parked::Parked;
use queues::{Dispatch, Queues};

/// First retry delay; doubles per attempt.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Longest sleep between looks at the queues. Items due later are found on time with the
/// system clock; with a manual clock (tests) this is how soon a moved clock is noticed.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How many `failed` answers that may pass ([`GatewayError::Failed`]) an action gets before
/// it becomes a dead letter: with the backoff, about 25 minutes of trying.
pub const MAX_FAILED_ATTEMPTS: u32 = 12;
/// Pause before writing marks again after a failed write (a full disk).
const MARKS_RETRY: Duration = Duration::from_millis(500);
/// How long written marks wait for an event's flush to cover them before they are flushed
/// on their own ([`Store::shared_flush`]): under load an event's group commit comes about
/// every millisecond, so most batches of marks cost no flush (no log buffer sealed and
/// synced) of their own; the group they hold waits at most this much longer.
const MARKS_SHARE_FLUSH: Duration = Duration::from_millis(2);
/// How often idle groups' governor windows are dropped.
const FORGET_EVERY_MS: i64 = 60_000;

/// How many of the worker's deliveries have no durable outcome yet: calls in flight plus
/// marks not yet on disk. An online backup waits for none ([`Settling::settled`]), so a
/// delivery the gateway already answered is not in the backup as still to do (a daemon
/// restored from it would send it again).
#[derive(Debug)]
pub struct Settling(tokio::sync::watch::Sender<usize>);

impl Default for Settling {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(0))
    }
}

impl Settling {
    /// Records the count (waking waiters only when it changes).
    fn set(&self, unsettled: usize) {
        self.0.send_if_modified(|now| {
            let changed = *now != unsettled;
            *now = unsettled;
            changed
        });
    }

    /// Deliveries without a durable outcome now.
    #[must_use]
    pub fn unsettled(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until every delivery attempt so far has finished and its mark is on disk, at
    /// most `limit`; false when some were still open then.
    pub async fn settled(&self, limit: Duration) -> bool {
        let mut now = self.0.subscribe();
        matches!(
            tokio::time::timeout(limit, now.wait_for(|unsettled| *unsettled == 0)).await,
            Ok(Ok(_))
        )
    }
}

/// One finished delivery attempt: the group, the item, when the attempt started (unix ms, on
/// the injected clock; backoff counts from there), what the gateway said, and whether it was
/// an early recall (sent before its record was durable, see [`early`]).
type Attempt = (GroupId, u64, i64, Result<Delivery, GatewayError>, bool);

/// Delivers outbox items. Wake it with [`OutboxWorker::waker`] after storing new items.
pub struct OutboxWorker {
    store: Store,
    gateways: Gateways,
    clock: SharedClock,
    settings: OutboxSettings,
    /// The bounds of the queues (rebuilt with them after a store reload).
    limits: LimitsSettings,
    wake: Arc<Notify>,
    queues: Queues,
    governor: Governor,
    in_flight: JoinSet<Attempt>,
    /// Marks not yet handed to a writer, by sequence number (the latest state of each item).
    marks: BTreeMap<u64, Mark>,
    /// The marks being written by the running writer, kept until they are durable.
    writing: Vec<(u64, Mark)>,
    /// Groups whose last call's mark is not written yet: held (no next call) until it is.
    held: Vec<GroupId>,
    /// The groups the running writer releases once its marks are durable.
    releasing: Vec<GroupId>,
    /// The running writer: applies `writing`, then flushes.
    writer: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
    /// Do not start a writer before this (after a failed write).
    write_after: Option<tokio::time::Instant>,
    /// The store generation the queues were loaded from.
    generation: u64,
    /// Reloading the outbox after the store was reopened.
    reload: Reload,
    /// Do not read the outbox for a reload before this (after a failed read).
    reload_after: Option<tokio::time::Instant>,
    /// When idle governor windows were last dropped.
    forgot_ms: i64,
    /// Counts attempts by result; beats once per loop for `/readyz`.
    metrics: Arc<Metrics>,
    /// Which account keeps each group: its actions leave through that account's gateway.
    roster: Arc<Roster>,
    /// Its deliveries without a durable outcome, for an online backup.
    settling: Arc<Settling>,
    /// Recalls sent before their record was durable.
    early: Early,
    /// Durable items held back because their group's early recall is still in flight (that
    /// recall's own item and its group's later ones), per group in commit order.
    parked: Parked,
    /// Early recalls whose delivered mark waits for the next writer.
    early_marking: Vec<u64>,
    /// Early recalls whose delivered mark the running writer is writing.
    early_releasing: Vec<u64>,
}

/// Reloading the queues after the store was reopened.
#[derive(Debug, Default)]
enum Reload {
    /// Nothing to reload.
    #[default]
    Idle,
    /// Waiting for the calls in flight to finish.
    Draining,
    /// Reading the outbox of the new handle.
    Reading(tokio::task::JoinHandle<Result<Vec<(u64, OutboxItem)>, StoreError>>),
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
    /// build it before events are handled (blocking: a full scan of the outbox).
    pub fn new(
        store: Store,
        gateways: Gateways,
        clock: SharedClock,
        settings: (&OutboxSettings, &LimitsSettings),
    ) -> Result<Self, StoreError> {
        Self::with_wake(store, gateways, clock, settings, Arc::new(Notify::new()))
    }

    /// Like [`OutboxWorker::new`], woken through `wake`: a worker restarted by its supervisor
    /// keeps the handles the services already hold.
    pub fn with_wake(
        store: Store,
        gateways: Gateways,
        clock: SharedClock,
        (settings, limits): (&OutboxSettings, &LimitsSettings),
        wake: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        let generation = store.generation();
        let mut queues = Queues::with_limits(limits);
        let now_ms = clock.now().as_millisecond();
        for (seq, item) in store.outbox().subscribe()? {
            if let Some((seq, item)) = queues.insert(seq, item) {
                let reason = full_reason(&item);
                warn_full(&item, seq, &reason, now_ms);
                let given_up = if drops_stale(settings, &item) {
                    store.outbox().delivered(seq)
                } else {
                    store.outbox().dead_letter(seq, &item, &reason, now_ms)
                };
                if let Err(e) = given_up {
                    tracing::error!(error = %e, seq, "outbox: cannot give up an item");
                }
            }
        }
        if !queues.is_empty() {
            tracing::info!(pending = queues.len(), "outbox: resuming delivery of stored actions");
        }
        let dead = store.outbox().dead_count()?;
        if dead > 0 {
            tracing::warn!(
                dead_letters = dead,
                "outbox: actions were given up earlier; list them with `qunguan audit --dead-letters`, \
                 send them again with `--retry`"
            );
        }
        Ok(Self {
            governor: Governor::new(settings, Arc::new(Capabilities::of_platform))
                .with_capacity(limits.send_window_groups),
            store,
            gateways,
            clock,
            settings: settings.clone(),
            limits: *limits,
            wake,
            queues,
            in_flight: JoinSet::new(),
            marks: BTreeMap::new(),
            writing: Vec::new(),
            held: Vec::new(),
            releasing: Vec::new(),
            writer: None,
            write_after: None,
            generation,
            reload: Reload::Idle,
            reload_after: None,
            forgot_ms: 0,
            metrics: Arc::default(),
            roster: Arc::default(),
            settling: Arc::default(),
            early: Early::new(settings.early_recalls),
            parked: Parked::with_limits(limits),
            early_marking: Vec::new(),
            early_releasing: Vec::new(),
        })
    }

    /// Counts into `metrics` (the daemon's) instead of the worker's own.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self.metrics.track(self.queues.bound());
        self.metrics.track(self.governor.bound());
        self.metrics.track(self.early.bound());
        self.metrics.track(self.parked.bound());
        self
    }

    /// Routes each group's actions through the account `roster` says keeps it, and paces
    /// the bot's messages per account (风控 is per account).
    #[must_use]
    pub fn with_roster(mut self, roster: Arc<Roster>) -> Self {
        let route = Arc::clone(&roster);
        self.governor.set_route(Arc::new(move |group| route.keeper(group)));
        self.roster = roster;
        self
    }

    /// Counts into `settling` (shared with a worker this one replaces, see
    /// [`OutboxWorker::with_wake`]) instead of its own.
    #[must_use]
    pub fn with_settling(mut self, settling: Arc<Settling>) -> Self {
        self.settling = settling;
        self
    }

    /// How many of its deliveries have no durable outcome yet.
    #[must_use]
    pub fn settling(&self) -> Arc<Settling> {
        Arc::clone(&self.settling)
    }

    /// The handle the services publish through.
    #[must_use]
    pub fn handle(&self) -> OutboxHandle {
        OutboxHandle::with_roster(
            self.store.clone(),
            Arc::clone(&self.wake),
            self.gateways.clone(),
            Arc::clone(&self.roster),
        )
        .wakes_early(!self.early.is_off())
    }

    /// The notifier this worker waits on (for a worker restarted with [`OutboxWorker::with_wake`]).
    #[must_use]
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Runs until `cancel` fires, then finishes the calls in flight (each bounded by the
    /// gateway timeout), writes their marks and returns.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            self.metrics.worker_beat();
            self.check_generation();
            if matches!(self.reload, Reload::Idle) {
                self.absorb_new();
                self.send_early();
                self.dispatch();
            }
            self.persist();
            self.settling
                .set(self.in_flight.len() + self.marks.len() + self.writing.len() + self.early.unsettled());
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
                written = async {
                    match self.writer.as_mut() {
                        Some(writer) => writer.await,
                        None => std::future::pending().await,
                    }
                }, if self.writer.is_some() => {
                    self.writer = None;
                    self.written(written);
                }
                read = async {
                    match &mut self.reload {
                        Reload::Reading(task) => task.await,
                        _ => std::future::pending().await,
                    }
                }, if matches!(self.reload, Reload::Reading(_)) => self.reloaded(read),
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        while let Some(done) = self.in_flight.join_next().await {
            self.complete(done);
        }
        // Early recalls whose item is durable by now get their delivered mark, not a second
        // call after the restart.
        if matches!(self.reload, Reload::Idle) {
            self.absorb_new();
        }
        // The last marks: written (and flushed) before the worker stops.
        for _ in 0..3 {
            if let Some(writer) = self.writer.take() {
                let written = writer.await;
                self.written(written);
            }
            self.write_after = None;
            self.persist();
            if self.writer.is_none() {
                break;
            }
        }
        if let Some(writer) = self.writer.take() {
            let written = writer.await;
            self.written(written);
        }
        self.settling
            .set(self.marks.len() + self.writing.len() + self.early.unsettled());
        tracing::debug!(
            pending = self.queues.len(),
            unwritten = self.marks.len(),
            "outbox worker stopped"
        );
    }

    /// Moves new durable items from the store's feed into the queues. Items not durable yet
    /// are usually being flushed by the webhook that wrote them; in case nobody does (a tool
    /// that enqueued without flushing), the worker's own writer flushes them.
    ///
    /// An item whose recall went early is not queued: delivered, it gets its delivered mark;
    /// failed, it is queued as after a failed attempt; still in flight, it and its group's
    /// later items wait ([`parked`]) until that call ends, so a warning never overtakes its
    /// recall. A group still waiting costs one look, however many items it parked.
    fn absorb_new(&mut self) {
        if !self.parked.is_empty() {
            for (group, head) in self.parked.heads() {
                if self.early.in_flight(head) {
                    continue;
                }
                for (seq, item) in self.parked.take(group) {
                    if !self.marks.contains_key(&seq) {
                        self.take_in(seq, item);
                    }
                }
            }
        }
        for (seq, item) in self.store.outbox().take_durable() {
            if !self.marks.contains_key(&seq) {
                self.take_in(seq, item);
            }
        }
    }

    /// Queues one durable item (see [`OutboxWorker::absorb_new`]), or parks it behind its
    /// group's early recall in flight.
    fn take_in(&mut self, seq: u64, mut item: OutboxItem) {
        if self.parked.holds(item.action.group()) {
            self.park(seq, item);
            return;
        }
        match self.early.arrived(seq) {
            Arrival::Queue => {}
            Arrival::Wait => {
                self.park(seq, item);
                return;
            }
            Arrival::Delivered => {
                self.marks.insert(seq, Mark::Delivered(None, None));
                self.early_marking.push(seq);
                return;
            }
            Arrival::Failed(started_ms, e) => {
                // The early call was the item's first attempt.
                item.attempts += 1;
                item.last_error = Some(e.to_string());
                if !e.is_retryable() {
                    let now_ms = self.clock.now().as_millisecond();
                    self.bury(seq, item, format!("refused by the gateway: {e}"), now_ms);
                    return;
                }
                let delay = e.retry_after().unwrap_or_else(|| backoff(item.attempts));
                let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                item.not_before_ms = started_ms.saturating_add(delay_ms);
                self.metrics.action(item.action.kind(), ActionResult::Retried);
                tracing::warn!(
                    group = %item.action.group(), action = %item.action.kind(), seq, attempts = item.attempts, error = %e,
                    "outbox: delivery failed, will retry"
                );
                self.marks.insert(seq, Mark::Retry(item.clone()));
            }
        }
        if let Some((seq, item)) = self.queues.insert(seq, item) {
            self.give_up_full(seq, item);
        }
    }

    /// Parks an item behind its group's early recall; one its group's lane bound has no room
    /// for is given up, as a full queue's would be.
    fn park(&mut self, seq: u64, item: OutboxItem) {
        if let Some((seq, item)) = self.parked.park(seq, item) {
            self.give_up_full(seq, item);
        }
    }

    /// Sends the recalls just written, before their flush (see [`early`]): at most
    /// [`early::PER_GROUP`] per group and `[outbox] early_recalls` in all until their
    /// delivered marks are on disk, none ahead of an earlier action concerning its member.
    fn send_early(&mut self) {
        if self.early.is_off() {
            return;
        }
        let now_ms = self.clock.now().as_millisecond();
        // Everything durable was just taken in; nothing newer was written. Only now may a
        // delivered early recall whose item has not come be forgotten: while commits are not
        // yet durable (a flush slower than a minute), its item may still come, and would be
        // sent again.
        if !self.store.outbox().has_undurable() {
            self.early.forget_stale(now_ms);
            return;
        }
        let (next, feed) = self.store.outbox().peek_moderation(self.early.next());
        self.early.look_from(next);
        // What the recalls below must not overtake: the feed's earlier moderation actions
        // (those not sent early), by group and the member they concern.
        let mut behind: Vec<(GroupId, Option<i64>)> = Vec::new();
        for FeedModeration {
            seq,
            group,
            member,
            recall,
        } in feed
        {
            let Some(item) = recall else {
                if !self.early.contains(seq) {
                    behind.push((group, member));
                }
                continue;
            };
            // Never ahead of an earlier moderation action concerning its member or the whole
            // group (in the feed, queued, in flight, or parked; decision order), nor before
            // its time (no recall is stored for later today; one would wait its turn).
            let blocked = item.not_before_ms > now_ms
                || behind
                    .iter()
                    .any(|&(g, m)| g == group && queues::concern_meets(m, member))
                || self.queues.has_moderation_for(group, member)
                || self
                    .parked
                    .moderation(group)
                    .any(|(s, parked)| !self.early.contains(s) && queues::concern_meets(parked.concerns(), member))
                || !self.early.admit(seq, group, now_ms);
            if blocked {
                behind.push((group, member));
                continue;
            }
            self.start(seq, item.action, now_ms, true);
        }
    }

    /// Starts one delivery task: `action` (item `seq`) through the account that keeps its
    /// group; `early` for a recall sent before its record was durable.
    fn start(&mut self, seq: u64, action: Action, now_ms: i64, early: bool) {
        let group = action.group();
        let via = action.account().or_else(|| self.roster.keeper(group));
        let call = call(self.gateways.clone(), via, action);
        self.in_flight
            .spawn(async move { (group, seq, now_ms, call.await, early) });
    }

    /// Gives up an item its group's full lane handed back: a dead letter (or, for one of the
    /// bot's messages, only removed: [`drops_stale`]), counted, and logged as a warning at
    /// most once a minute (a spam wave gives up many).
    fn give_up_full(&mut self, seq: u64, item: OutboxItem) {
        let now_ms = self.clock.now().as_millisecond();
        let reason = full_reason(&item);
        warn_full(&item, seq, &reason, now_ms);
        if drops_stale(&self.settings, &item) {
            self.drop_stale(seq, &item);
            return;
        }
        self.metrics.action(item.action.kind(), ActionResult::Dead);
        let letter = DeadLetter {
            item,
            reason,
            dead_ms: now_ms,
        };
        self.marks.insert(seq, Mark::Dead(letter));
    }

    /// Starts deliveries until the concurrency limit is reached or nothing is due.
    fn dispatch(&mut self) {
        let now_ms = self.clock.now().as_millisecond();
        let mut expired = Vec::new();
        while self.in_flight.len() < self.settings.concurrency {
            let Some(Dispatch { seq, action, .. }) =
                self.queues
                    .next(now_ms, &mut self.governor, &self.settings.max_age, &mut expired)
            else {
                break;
            };
            self.start(seq, action, now_ms, false);
        }
        for (seq, item) in expired {
            let age = Duration::from_millis(u64::try_from(now_ms.saturating_sub(item.created_ms)).unwrap_or(0));
            let reason = format!("expired: still undelivered after {}s", age.as_secs());
            if drops_stale(&self.settings, &item) {
                if warn_now(now_ms) {
                    tracing::warn!(
                        group = %item.action.group(),
                        case = item.case,
                        seq,
                        "outbox: a message of the bot's was given up unsent: {reason} \
                         (further ones this minute are logged at debug level)"
                    );
                } else {
                    tracing::debug!(group = %item.action.group(), seq, "outbox: message given up: {reason}");
                }
                self.drop_stale(seq, &item);
            } else {
                self.bury(seq, item, reason, now_ms);
            }
        }
        if now_ms.saturating_sub(self.forgot_ms) >= FORGET_EVERY_MS {
            self.governor.forget_idle(now_ms);
            self.forgot_ms = now_ms;
        }
    }

    /// How long to wait for something to happen.
    fn pause(&self) -> Duration {
        if matches!(self.reload, Reload::Idle)
            && self.queues.has_ready()
            && self.in_flight.len() < self.settings.concurrency
        {
            return Duration::ZERO;
        }
        let now_ms = self.clock.now().as_millisecond();
        let pause = self.queues.next_wake().map_or(IDLE_POLL, |at| {
            let ms = u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0);
            Duration::from_millis(ms).min(IDLE_POLL)
        });
        let now = tokio::time::Instant::now();
        let pause = match self.write_after {
            Some(at) if self.writer.is_none() && !self.marks.is_empty() => pause.min(at.saturating_duration_since(now)),
            _ => pause,
        };
        match self.reload_after {
            Some(at) if matches!(self.reload, Reload::Draining) => pause.min(at.saturating_duration_since(now)),
            _ => pause,
        }
    }

    /// Records the outcome of one call.
    fn complete(&mut self, done: Result<Attempt, tokio::task::JoinError>) {
        let (group, seq, started_ms, result, early) = match done {
            Ok(done) => done,
            Err(e) => {
                // Not a panic (a call's panic is its result, see `call`): the task was
                // cancelled, which only the runtime's shutdown does. The item stays stored.
                tracing::error!(error = %e, "outbox: a delivery task ended without a result");
                return;
            }
        };
        let now_ms = self.clock.now().as_millisecond();
        let error = result.as_ref().err().map(ToString::to_string);
        self.metrics.gateway_call(group.platform, error.as_deref());
        if early {
            match result {
                Ok(_) => {
                    self.metrics
                        .action(crate::domain::action::ActionKind::Recall, ActionResult::Delivered);
                    tracing::info!(%group, action = "recall", seq, early = true, "outbox: delivered");
                    self.early.ended(seq, Ok(()));
                }
                Err(e) => {
                    tracing::debug!(%group, seq, error = %e, "outbox: an early recall failed; it is retried once its record is on disk");
                    self.early.ended(seq, Err((started_ms, e)));
                }
            }
            return;
        }
        // The group's next call waits until this call's mark is on disk: after a crash at most
        // one delivered action per group is sent again.
        self.held.push(group);
        match result {
            Ok(delivery) => {
                let item = self.queues.finish_held(group, seq);
                let receipt = item.as_ref().and_then(|item| {
                    self.metrics.action(item.action.kind(), ActionResult::Delivered);
                    tracing::info!(%group, action = %item.action.kind(), case = item.case, seq, "outbox: delivered");
                    // A message whose id is needed later (the previous welcome, to delete it).
                    item.receipt
                        .clone()
                        .zip(delivery.message_id)
                        .map(|(name, message_id)| (name, Receipt::new(message_id, now_ms)))
                });
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
                self.marks.insert(seq, Mark::Delivered(receipt, sent));
            }
            Err(e) if e.is_retryable() && !exhausted(&e, &self.queues, group, seq) => {
                let retried = self.queues.retry_held(group, seq, |item| {
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
                    self.marks.insert(seq, Mark::Retry(item));
                }
            }
            Err(e) => {
                if let Some(mut item) = self.queues.finish_held(group, seq) {
                    item.attempts += 1;
                    item.last_error = Some(e.to_string());
                    let reason = if e.is_retryable() {
                        format!("gave up after {} failed attempts: {e}", item.attempts)
                    } else {
                        format!("refused by the gateway: {e}")
                    };
                    self.bury(seq, item, reason, now_ms);
                }
            }
        }
    }

    /// Gives up one of the bot's stale messages without a dead letter: counted
    /// (`qunguan_actions_total{result="dropped"}`) and marked for removal from the outbox,
    /// as a delivered item is (no receipt, no case of a sent message).
    fn drop_stale(&mut self, seq: u64, item: &OutboxItem) {
        self.metrics.action(item.action.kind(), ActionResult::Dropped);
        self.marks.insert(seq, Mark::Delivered(None, None));
    }

    /// Gives an item up: counted, logged, and marked for the dead letters.
    fn bury(&mut self, seq: u64, item: OutboxItem, reason: String, now_ms: i64) {
        self.metrics.action(item.action.kind(), ActionResult::Dead);
        tracing::error!(
            group = %item.action.group(),
            action = %item.action.kind(),
            case = item.case,
            seq,
            attempts = item.attempts,
            last_error = item.last_error.as_deref().unwrap_or(""),
            "outbox: dead letter: {reason}"
        );
        let letter = DeadLetter {
            item,
            reason,
            dead_ms: now_ms,
        };
        self.marks.insert(seq, Mark::Dead(letter));
    }

    /// Starts a writer for the marks that piled up (and a flush for items a tool stored
    /// without one), unless one runs or a failed write asked for a pause. The writer wakes the
    /// worker when it is done: items may have become durable with its flush.
    fn persist(&mut self) {
        if self.writer.is_some() || self.write_after.is_some_and(|at| tokio::time::Instant::now() < at) {
            return;
        }
        if self.marks.is_empty() && self.held.is_empty() && !self.store.outbox().has_undurable() {
            return;
        }
        self.write_after = None;
        self.writing = std::mem::take(&mut self.marks).into_iter().collect();
        self.releasing = std::mem::take(&mut self.held);
        self.early_releasing = std::mem::take(&mut self.early_marking);
        let marks = self.writing.clone();
        // New dead letters may take the tree past its bound: trim it in the same task.
        let trim = marks.iter().any(|(_, mark)| matches!(mark, Mark::Dead(_)));
        let store = self.store.clone();
        let wake = Arc::clone(&self.wake);
        self.writer = Some(tokio::spawn(async move {
            let written = async {
                if !marks.is_empty() {
                    store
                        .run(move |s| {
                            s.outbox().apply_marks(&marks)?;
                            if trim {
                                trim_dead(s);
                            }
                            Ok(())
                        })
                        .await?;
                }
                let ticket = store.flush_ticket();
                store.shared_flush(ticket, MARKS_SHARE_FLUSH).await;
                // A group's next action (an early recall's slot) waits for these marks: their
                // flush never lingers for company, and cuts short one that does.
                store.durable_upto_now(ticket).await
            }
            .await;
            wake.notify_one();
            written
        }));
    }

    /// The writer finished: its marks are durable, or go back to be written again (unless a
    /// newer mark of the same item replaced them meanwhile).
    fn written(&mut self, written: Result<Result<(), StoreError>, tokio::task::JoinError>) {
        let error = match written {
            Ok(Ok(())) => {
                self.writing.clear();
                for group in std::mem::take(&mut self.releasing) {
                    self.queues.release(group);
                }
                for seq in std::mem::take(&mut self.early_releasing) {
                    self.early.settled(seq);
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::error!(
            error = %error,
            marks = self.writing.len(),
            "outbox: cannot record deliveries yet; will write them again"
        );
        for (seq, mark) in self.writing.drain(..) {
            self.marks.entry(seq).or_insert(mark);
        }
        self.held.append(&mut self.releasing);
        self.early_marking.append(&mut self.early_releasing);
        self.write_after = Some(tokio::time::Instant::now() + MARKS_RETRY);
    }

    /// Notices a reopened store: stop dispatching and reload once nothing is in flight.
    fn check_generation(&mut self) {
        if matches!(self.reload, Reload::Idle) && self.store.generation() != self.generation {
            tracing::warn!("outbox: the database was reopened; reloading the queue");
            self.reload = Reload::Draining;
        }
        let waited = self.reload_after.is_none_or(|at| tokio::time::Instant::now() >= at);
        if matches!(self.reload, Reload::Draining) && self.in_flight.is_empty() && waited {
            self.reload_after = None;
            let store = self.store.clone();
            self.generation = store.generation();
            self.reload = Reload::Reading(tokio::spawn(async move { store.run(|s| s.outbox().subscribe()).await }));
        }
    }

    /// The outbox of the reopened store was read: it replaces the queues, minus the items
    /// whose marks are not written yet.
    fn reloaded(&mut self, read: Result<Result<Vec<(u64, OutboxItem)>, StoreError>, tokio::task::JoinError>) {
        match read {
            Ok(Ok(items)) => {
                // Holds belonged to the old queues; the new ones start with every group free.
                self.held.clear();
                self.releasing.clear();
                self.queues = Queues::with_limits(&self.limits);
                // Parked items are in the outbox just read; early recalls whose item is not
                // will never see it (their unit did not reach the disk).
                self.parked.clear();
                let pending: std::collections::HashSet<u64> = items.iter().map(|(seq, _)| *seq).collect();
                self.early.retain_pending(&|seq| pending.contains(&seq));
                for (seq, item) in items {
                    let marked = self.marks.contains_key(&seq) || self.writing.iter().any(|(s, _)| *s == seq);
                    if !marked {
                        self.take_in(seq, item);
                    }
                }
                tracing::info!(pending = self.queues.len(), "outbox: queue reloaded");
                self.reload = Reload::Idle;
            }
            Ok(Err(e)) => self.reload_failed(&e.to_string()),
            Err(e) => self.reload_failed(&e.to_string()),
        }
    }
}

impl OutboxWorker {
    fn reload_failed(&mut self, error: &str) {
        tracing::error!(error, "outbox: cannot reload the queue yet; trying again");
        self.reload = Reload::Draining;
        self.reload_after = Some(tokio::time::Instant::now() + MARKS_RETRY);
    }
}

/// One gateway call, as a delivery task runs it. A panic in it (a bug) is the call's result,
/// [`GatewayError::Panicked`]: the worker records the attempt and retries it like any other
/// failure, instead of losing the task's group and sequence number (its group would stay busy,
/// or its early recall unsettled, until a restart).
async fn call(gateways: Gateways, via: Option<AccountId>, action: Action) -> Result<Delivery, GatewayError> {
    match std::panic::AssertUnwindSafe(gateways.execute(via, &action))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => {
            let what = panic_text(&*panic);
            tracing::error!(group = %action.group(), action = %action.kind(), panic = %what, "outbox: a gateway call panicked; it is retried like a failed one");
            Err(GatewayError::Panicked(what))
        }
    }
}

/// True when `e` is a `failed` answer or a panic, and the item has had its
/// [`MAX_FAILED_ATTEMPTS`].
fn exhausted(e: &GatewayError, queues: &Queues, group: GroupId, seq: u64) -> bool {
    matches!(e, GatewayError::Failed { .. } | GatewayError::Panicked(_))
        && queues
            .attempts(group, seq)
            .is_some_and(|attempts| attempts + 1 >= MAX_FAILED_ATTEMPTS)
}

/// Deletes the oldest dead letters beyond `[limits] dead_letters`. A failure is only
/// logged: the marks are written, and the next trim or sweep deletes what is left.
fn trim_dead(store: &Store) {
    match store.outbox().trim_dead() {
        Ok(0) => {}
        Ok(trimmed) => tracing::debug!(
            trimmed,
            "outbox: oldest dead letters deleted beyond [limits] dead_letters"
        ),
        Err(e) => tracing::warn!(error = %e, "outbox: cannot delete the oldest dead letters yet"),
    }
}

/// True when `item`, given up for a full queue or its age, is only counted and removed
/// rather than kept as a dead letter: one of the bot's own messages, pointless to send late,
/// unless `[outbox] keep_stale_messages` is on.
fn drops_stale(settings: &OutboxSettings, item: &OutboxItem) -> bool {
    !settings.keep_stale_messages && queues::Lane::of(item.action.kind()) == queues::Lane::Messages
}

/// Why an item its group's full lane handed back is given up.
fn full_reason(item: &OutboxItem) -> String {
    format!(
        "the group's outbox queue is full ([limits] outbox_{}_per_group)",
        match queues::Lane::of(item.action.kind()) {
            queues::Lane::Messages => "messages",
            queues::Lane::Moderation => "moderation",
        }
    )
}

/// Logs an item given up for a full queue: one line per item only at debug level (a full
/// queue under a spam wave gives up many, and the metrics —
/// `qunguan_memory_evictions_total{structure="outbox_queued"}` and dead actions — count
/// them); the first of each minute is a warning.
fn warn_full(item: &OutboxItem, seq: u64, reason: &str, now_ms: i64) {
    if warn_now(now_ms) {
        tracing::warn!(
            group = %item.action.group(),
            action = %item.action.kind(),
            case = item.case,
            seq,
            "outbox: given up: {reason} (further ones this minute are logged at debug level)"
        );
    } else {
        tracing::debug!(group = %item.action.group(), action = %item.action.kind(), seq, "outbox: given up: {reason}");
    }
}

/// True at most once a minute (of `now_ms`), process-wide: for warnings that could otherwise
/// flood the log.
fn warn_now(now_ms: i64) -> bool {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
    let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
    now_ms.saturating_sub(last) >= 60_000
        && LAST
            .compare_exchange(
                last,
                now_ms,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_ok()
}

/// Delay before retry number `attempts` (1-based): 1 s, 2 s, 4 s … capped at 5 min.
#[must_use]
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

#[cfg(test)]
mod worker_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs: Vec<u64> = (1..=12).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }
}

#[cfg(test)]
mod settling_tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Settling;

    #[tokio::test]
    async fn a_backup_waits_for_every_delivery_to_have_its_outcome_on_disk() {
        let settling = Arc::new(Settling::default());
        assert!(
            settling.settled(Duration::from_millis(50)).await,
            "nothing delivered yet"
        );

        // Two calls in flight: the wait gives up at its limit and says so.
        settling.set(2);
        assert!(!settling.settled(Duration::from_millis(50)).await);
        assert_eq!(settling.unsettled(), 2);

        // A waiter is woken the moment the last mark is on disk, not at its limit.
        let waiter = tokio::spawn({
            let settling = Arc::clone(&settling);
            async move { settling.settled(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        settling.set(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one mark still unwritten");
        settling.set(0);
        // True: it was woken, not timed out.
        assert!(waiter.await.expect("waiter"));
    }
}
