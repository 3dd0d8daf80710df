//! The guarded event sink: what every transport (OneBot webhook, Telegram webhook and poller)
//! hands its events to, in front of the pipeline.
//!
//! For each event, in order:
//!
//! 1. **Replay and staleness.** An event dated more than `[server] max_event_age` ago is
//!    acknowledged and ignored, with a (rate-limited) log line and a count. `max_event_age`
//!    is always below `[storage] seen_ttl`, so every event young enough to be acted on is
//!    still remembered if it was seen: a captured, validly signed body replayed later can
//!    never punish twice (OneBot signatures carry no timestamp).
//! 2. **Off the async threads, with a deadline.** The pipeline makes synchronous store calls,
//!    so it runs on a store thread ([`Store::offload`]), at most [`MAX_IN_FLIGHT`] events at once.
//!    If the event is not stored within the
//!    store patience (`min(5 s, storage.watchdog / 2)`), the transport is told it is
//!    unavailable (webhook 503, the poller fetches it again) instead of hanging; if the
//!    handling finishes later, the redelivery finds it done.
//! 3. **Poison events.** A panic, or an error that is not the store's as a whole, counts as a
//!    failure of *this* event. The transport retries it (503 / fetch again); after
//!    [`MAX_FAILURES`] failures it is skipped: acknowledged, logged, counted
//!    (`qunguan_events_skipped_total`) and recorded ([`crate::store::skipped`]). One bad event
//!    can therefore never stop a poller or keep a gateway retrying forever. Store-wide errors
//!    (a full disk) are never counted: those events must wait, not be skipped.
//! 4. **A reopened store.** If the database was reopened while the event was handled, its
//!    writes may be gone: the transport is asked to deliver it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::clock::SharedClock;
use crate::domain::event::{Event, EventKey, EventKind};
use crate::domain::logfield::panic_text;
use crate::domain::sink::{EventSink, Outcome, Pending, Unavailable};
use crate::runtime::health::Health;
use crate::store::skipped::Skipped;
use crate::store::{Store, StoreError};

/// Failures of one event before it is skipped.
pub const MAX_FAILURES: u32 = 3;
/// Events with failures remembered at most; beyond that the counts start over (a flood of
/// distinct failing events is a store-wide problem, not poison).
const FAILURES_CAP: usize = 1024;
/// The longest a transport waits for its event to be stored.
const MAX_PATIENCE: Duration = Duration::from_secs(5);
/// Events handled at once on the store threads. An event waiting for its flush holds no
/// thread, but its memory and its place in the queue: the bound keeps a burst of slow events
/// from piling up behind a stalled disk.
pub const MAX_IN_FLIGHT: usize = 256;

/// Why an event could not be handled this time.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the database did not store the event within {0:?}")]
    TooSlow(Duration),
    #[error("handling the event panicked: {0}")]
    Panicked(String),
    #[error("the database was reopened while the event was handled; deliver it again")]
    Reopened,
}

/// The sink in front of the pipeline; see the module docs.
pub struct GuardedSink {
    inner: Arc<dyn EventSink>,
    store: Store,
    clock: SharedClock,
    health: Arc<Health>,
    max_event_age: Duration,
    patience: Duration,
    failures: Mutex<HashMap<EventKey, u32>>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for GuardedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedSink")
            .field("max_event_age", &self.max_event_age)
            .field("patience", &self.patience)
            .finish_non_exhaustive()
    }
}

impl GuardedSink {
    /// Guards `inner` (the pipeline), which writes to `store`.
    #[must_use]
    pub fn new(
        inner: Arc<dyn EventSink>,
        store: Store,
        clock: SharedClock,
        health: Arc<Health>,
        max_event_age: Duration,
        watchdog: Duration,
    ) -> Self {
        Self {
            inner,
            store,
            clock,
            health,
            max_event_age,
            patience: (watchdog / 2).clamp(Duration::from_millis(100), MAX_PATIENCE),
            failures: Mutex::new(HashMap::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    async fn guard(&self, event: &Event) -> Result<Outcome, Unavailable> {
        if let Some(stale) = self.stale(event) {
            return stale;
        }
        // The event moves to a store thread: a copy of a borrowed one.
        self.offloaded(event.clone()).await
    }

    /// [`GuardedSink::guard`] of an event the caller gave away: moved to the store thread as
    /// it is, without a copy of its texts.
    async fn guard_owned(&self, event: Event) -> Result<Outcome, Unavailable> {
        if let Some(stale) = self.stale(&event) {
            return stale;
        }
        self.offloaded(event).await
    }

    /// Steps 2–4 of the module docs for a young enough event.
    async fn offloaded(&self, event: Event) -> Result<Outcome, Unavailable> {
        let key = event.key;
        let kind = kind_name(&event.kind);
        let generation = self.store.generation();
        let inner = Arc::clone(&self.inner);
        let slots = Arc::clone(&self.slots);
        let store = &self.store;
        let handled = tokio::time::timeout(self.patience, async move {
            // Waiting for a slot counts towards the patience; the slot is held until the
            // handling ends, even if the transport stopped waiting.
            let slot = slots.acquire_owned().await;
            store
                .offload(async move {
                    let _slot = slot;
                    inner.handle(&event).await
                })
                .await
        })
        .await;
        let error: Box<dyn std::error::Error + Send + Sync> = match handled {
            Err(_elapsed) => return Err(Unavailable(Box::new(Failure::TooSlow(self.patience)))),
            Ok(Err(join)) if join.is_panic() => {
                let what = panic_text(&*join.into_panic());
                return self.failed(key, kind, Box::new(Failure::Panicked(what))).await;
            }
            Ok(Err(join)) => return Err(Unavailable(Box::new(join))),
            Ok(Ok(Ok(outcome))) => {
                if self.store.generation() != generation {
                    return Err(Unavailable(Box::new(Failure::Reopened)));
                }
                self.forget(&key);
                return Ok(outcome);
            }
            Ok(Ok(Err(Unavailable(e)))) => e,
        };
        if self.store.failing().is_some() || is_store_wide(error.as_ref()) {
            return Err(Unavailable(error));
        }
        self.failed(key, kind, error).await
    }

    /// The answer to an event older than `server.max_event_age` (counted and logged), or
    /// `None` for an event young enough to be handled.
    fn stale(&self, event: &Event) -> Option<Result<Outcome, Unavailable>> {
        if let Some(age) = self.age(event)
            && age > self.max_event_age
        {
            self.health.stale();
            if self.health.stale_log.allow("stale events") {
                tracing::warn!(
                    key = ?event.key,
                    age_secs = age.as_secs(),
                    max_event_age_secs = self.max_event_age.as_secs(),
                    "ignored an event older than server.max_event_age (a replay, or a gateway delivering a backlog)"
                );
            }
            return Some(Ok(Outcome::Ignored("older than server.max_event_age")));
        }
        None
    }

    /// How old `event` is, if it is dated.
    fn age(&self, event: &Event) -> Option<Duration> {
        let time = event.time()?;
        let now = self.clock.now().as_second();
        u64::try_from(now.saturating_sub(time)).ok().map(Duration::from_secs)
    }

    /// One more failure of the event `key` (of kind `kind`): retried until it has failed [`MAX_FAILURES`] times, then
    /// skipped and recorded.
    async fn failed(
        &self,
        key: EventKey,
        kind: &'static str,
        error: Box<dyn std::error::Error + Send + Sync>,
    ) -> Result<Outcome, Unavailable> {
        let failures = {
            let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() >= FAILURES_CAP && !map.contains_key(&key) {
                map.clear();
            }
            let n = map.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if failures < MAX_FAILURES {
            tracing::warn!(key = ?key, failures, error = %error, "an event failed; asking for it again");
            return Err(Unavailable(error));
        }
        self.forget(&key);
        tracing::error!(
            key = ?key,
            kind,
            failures,
            error = %error,
            "an event failed {failures} times and is skipped; it is recorded under state runtime.skipped"
        );
        let entry = Skipped {
            at_ms: self.clock.now().as_millisecond(),
            key: hex::encode(key.0),
            kind: kind.to_owned(),
            reason: error.to_string(),
        };
        self.health.skipped();
        if let Err(e) = self.store.run(move |s| s.record_skipped(entry)).await {
            tracing::warn!(error = %e, "cannot record the skipped event");
        }
        Ok(Outcome::Ignored("skipped after repeated failures"))
    }

    /// Counts and records something skipped (see [`EventSink::skipped`]), off the async threads.
    fn record_skip(&self, key: String, kind: &str, reason: String) {
        self.health.skipped();
        let entry = Skipped {
            at_ms: self.clock.now().as_millisecond(),
            key,
            kind: kind.to_owned(),
            reason,
        };
        let store = self.store.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.run(move |s| s.record_skipped(entry)).await {
                    tracing::warn!(error = %e, "cannot record the skipped event");
                }
            });
        }
    }

    fn forget(&self, key: &EventKey) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.is_empty() {
            map.remove(key);
        }
    }
}

impl EventSink for GuardedSink {
    fn handle<'a>(&'a self, event: &'a Event) -> Pending<'a, Outcome> {
        Box::pin(self.guard(event))
    }

    fn handle_owned(&self, event: Event) -> Pending<'_, Outcome> {
        Box::pin(self.guard_owned(event))
    }

    fn skipped(&self, what: &str, why: &str) {
        self.record_skip(what.to_owned(), "update", why.to_owned());
    }
}

/// True when `error` (from the pipeline) is a store-wide error.
fn is_store_wide(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(store) = e.downcast_ref::<StoreError>() {
            return store.is_store_wide();
        }
        source = e.source();
    }
    false
}

fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::GroupMessage(_) => "message",
        EventKind::MemberJoined(_) => "member_joined",
        EventKind::MemberLeft(_) => "member_left",
        EventKind::JoinRequest(_) => "join_request",
        EventKind::ButtonPressed(_) => "button_pressed",
        EventKind::PrivateMessage(_) => "private_message",
        EventKind::Other(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::domain::clock::ManualClock;
    use crate::domain::event::{GroupId, GroupMessage, Role, Sender};

    /// A sink that panics on messages saying "poison", fails with a value error on "broken",
    /// and counts what it handled.
    #[derive(Debug, Default)]
    struct Fragile {
        handled: AtomicU32,
    }

    impl EventSink for Fragile {
        fn handle<'a>(&'a self, event: &'a Event) -> Pending<'a, Outcome> {
            Box::pin(async move {
                if let EventKind::GroupMessage(m) = &event.kind {
                    match m.text.as_str() {
                        "poison" => panic!("a bug met a strange event"),
                        "broken" => {
                            return Err(Unavailable(Box::new(StoreError::Decode {
                                what: "strike record",
                                reason: "garbled".into(),
                            })));
                        }
                        _ => {}
                    }
                }
                self.handled.fetch_add(1, Ordering::SeqCst);
                Ok(Outcome::Ignored("fine"))
            })
        }
    }

    fn message(id: i64, text: &str, time: i64) -> Event {
        Event {
            key: EventKey::derive(&format!("test|{id}")),
            self_id: 1,
            kind: EventKind::GroupMessage(GroupMessage {
                group: GroupId::qq(5),
                message_id: id,
                sender: Sender {
                    user_id: 7,
                    name: String::new(),
                    role: Role::Member,
                },
                text: text.into(),
                segments: Vec::new(),
                time,
                edited: false,
            }),
        }
    }

    fn guarded(clock: &Arc<ManualClock>) -> (GuardedSink, Arc<Fragile>, Arc<Health>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let fragile = Arc::new(Fragile::default());
        let health = Arc::new(Health::default());
        let sink = GuardedSink::new(
            Arc::clone(&fragile) as Arc<dyn EventSink>,
            store,
            Arc::clone(clock) as SharedClock,
            Arc::clone(&health),
            Duration::from_secs(86_400),
            Duration::from_secs(30),
        );
        (sink, fragile, health, dir)
    }

    #[tokio::test]
    async fn a_poison_event_is_retried_then_skipped_and_recorded_and_the_next_one_goes_through() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_000_000).expect("time"));
        let (sink, fragile, health, _dir) = guarded(&clock);
        let poison = message(1, "poison", 1_000_000);
        for attempt in 1..MAX_FAILURES {
            let result = sink.handle(&poison).await;
            assert!(result.is_err(), "attempt {attempt} asks for a redelivery");
        }
        assert_eq!(
            sink.handle(&poison).await.expect("skipped"),
            Outcome::Ignored("skipped after repeated failures")
        );
        assert_eq!(health.skipped_count(), 1);
        let recorded = sink.store.skipped().expect("read");
        assert_eq!(recorded.len(), 1);
        assert!(recorded[0].reason.contains("a bug met a strange event"), "{recorded:?}");
        assert_eq!(
            sink.handle(&message(2, "hello", 1_000_000)).await.expect("handled"),
            Outcome::Ignored("fine")
        );
        assert_eq!(fragile.handled.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn old_events_are_acknowledged_and_ignored_and_undated_or_young_ones_are_handled() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(10_000_000).expect("time"));
        let (sink, fragile, health, _dir) = guarded(&clock);
        let day = 86_400;
        let old = message(1, "hello", 10_000_000 - day - 1);
        assert_eq!(
            sink.handle(&old).await.expect("acknowledged"),
            Outcome::Ignored("older than server.max_event_age")
        );
        assert_eq!(health.stale_count(), 1);
        assert_eq!(fragile.handled.load(Ordering::SeqCst), 0);
        for (id, time) in [(2, 10_000_000 - day + 60), (3, 0), (4, 10_000_000 + 30)] {
            sink.handle(&message(id, "hello", time)).await.expect("handled");
        }
        assert_eq!(fragile.handled.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_event_given_away_is_guarded_as_a_lent_one() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(10_000_000).expect("time"));
        let (sink, fragile, health, _dir) = guarded(&clock);
        let old = message(1, "hello", 10_000_000 - 86_400 - 1);
        assert_eq!(
            sink.handle_owned(old).await.expect("acknowledged"),
            Outcome::Ignored("older than server.max_event_age")
        );
        assert_eq!(health.stale_count(), 1);
        for attempt in 1..MAX_FAILURES {
            let result = sink.handle_owned(message(2, "poison", 10_000_000)).await;
            assert!(result.is_err(), "attempt {attempt} asks for a redelivery");
        }
        assert_eq!(
            sink.handle_owned(message(2, "poison", 10_000_000))
                .await
                .expect("skipped"),
            Outcome::Ignored("skipped after repeated failures")
        );
        let recorded = sink.store.skipped().expect("read");
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].kind, "message");
        assert_eq!(recorded[0].key, hex::encode(message(2, "", 0).key.0));
        assert_eq!(
            sink.handle_owned(message(3, "hello", 10_000_000))
                .await
                .expect("handled"),
            Outcome::Ignored("fine")
        );
        assert_eq!(fragile.handled.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_event_failing_with_an_error_is_skipped_unless_the_whole_store_fails() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_000_000).expect("time"));
        let (sink, _fragile, health, _dir) = guarded(&clock);
        sink.store.faults().fail_writes(true);
        let _ = sink.store.set_state("x", b"1");
        assert!(sink.store.failing().is_some());
        let broken = message(1, "broken", 1_000_000);
        for _ in 0..(MAX_FAILURES * 2) {
            assert!(sink.handle(&broken).await.is_err());
        }
        assert_eq!(health.skipped_count(), 0, "never skipped while the store fails");
        sink.store.faults().fail_writes(false);
        sink.store.recover().expect("recovers");
        for _ in 1..MAX_FAILURES {
            assert!(sink.handle(&broken).await.is_err());
        }
        assert!(sink.handle(&broken).await.is_ok(), "skipped once the store is fine");
        assert_eq!(health.skipped_count(), 1);
    }
}
