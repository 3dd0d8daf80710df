//! The daemon's own health: what `/healthz` and `/readyz` report beyond the store, and the
//! counters of what it refused or skipped.
//!
//! - **Tasks**: every supervised background task (the outbox worker, the Telegram poller, the
//!   scheduler …) reports whether it runs, is being restarted after a failure, or is down
//!   (`crate::runtime::supervise`). `/readyz` fails while one is not running.
//! - **Stall**: the store watchdog records why it gave up on the store; `/healthz` then
//!   fails with that reason until the process exits (`crate::runtime::watchdog`).
//! - **Refusals**: every refused request or connection is counted by reason, and logged at a
//!   bounded rate ([`Refusals`]): a flood of bad requests costs a few log lines, not one each.
//! - **Skipped and stale events**: poison events given up after repeated failures, and events
//!   too old to act on (`crate::runtime::guard`).
//!
//! Every map here is keyed by a closed set (task names, HTTP status codes, fixed reasons), so
//! none grows with traffic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long one window of the refusal log lasts.
pub const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(10);
/// Refusals logged one by one per window; the rest are summed up in one line.
pub const REFUSAL_LOG_BURST: u32 = 5;

/// The state of a supervised task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Running since its last (re)start.
    Running {
        /// Times it was restarted.
        restarts: u32,
    },
    /// It failed and is restarted after a pause.
    Restarting {
        /// Why it stopped.
        error: String,
        /// Times it was restarted before.
        restarts: u32,
    },
    /// It stopped and is not restarted (a bad token, say); `/readyz` fails.
    Down {
        /// Why.
        reason: String,
    },
    /// It finished its work as intended (the Telegram webhook registration).
    Done,
}

/// The daemon's health state. One per running daemon; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Health {
    tasks: Mutex<BTreeMap<&'static str, TaskState>>,
    stalled: Mutex<Option<String>>,
    skipped: AtomicU64,
    stale: AtomicU64,
    /// Refused requests and connections.
    pub refusals: Refusals,
    /// The log budget of stale events.
    pub stale_log: Throttle,
}

impl Health {
    /// Records the state of the task `name`.
    pub fn task(&self, name: &'static str, state: TaskState) {
        lock(&self.tasks).insert(name, state);
    }

    /// Every task's state, by name.
    #[must_use]
    pub fn tasks(&self) -> BTreeMap<&'static str, TaskState> {
        lock(&self.tasks).clone()
    }

    /// The watchdog gave up on the store: `/healthz` fails with `reason` from now on.
    pub fn stall(&self, reason: String) {
        *lock(&self.stalled) = Some(reason);
    }

    /// Why the daemon is unhealthy (`/healthz`), if it is.
    #[must_use]
    pub fn stalled(&self) -> Option<String> {
        lock(&self.stalled).clone()
    }

    /// Counts an event skipped after repeated failures.
    pub fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an event too old to act on.
    pub fn stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// Events skipped after repeated failures so far.
    #[must_use]
    pub fn skipped_count(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Events too old to act on so far.
    #[must_use]
    pub fn stale_count(&self) -> u64 {
        self.stale.load(Ordering::Relaxed)
    }

    /// The Prometheus text of these counters (appended to `/metrics`).
    #[must_use]
    pub fn render(&self, gauges: &HealthGauges) -> String {
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "qunguan_refused_total",
            "counter",
            "Requests and connections refused, by reason (HTTP status, connection_limit, header_timeout).",
        );
        for (reason, n) in self.refusals.counts() {
            let _ = writeln!(out, "qunguan_refused_total{{reason=\"{reason}\"}} {n}");
        }
        header(
            &mut out,
            "qunguan_events_skipped_total",
            "counter",
            "Events given up after failing repeatedly (poison events), each logged.",
        );
        let _ = writeln!(out, "qunguan_events_skipped_total {}", self.skipped_count());
        header(
            &mut out,
            "qunguan_events_stale_total",
            "counter",
            "Events older than server.max_event_age, acknowledged and ignored.",
        );
        let _ = writeln!(out, "qunguan_events_stale_total {}", self.stale_count());
        header(
            &mut out,
            "qunguan_task_restarts_total",
            "counter",
            "Restarts of supervised background tasks after a failure.",
        );
        for (name, state) in self.tasks() {
            let restarts = match state {
                TaskState::Running { restarts } | TaskState::Restarting { restarts, .. } => restarts,
                TaskState::Down { .. } | TaskState::Done => 0,
            };
            let _ = writeln!(out, "qunguan_task_restarts_total{{task=\"{name}\"}} {restarts}");
        }
        header(
            &mut out,
            "qunguan_task_up",
            "gauge",
            "1 while a supervised background task runs (or finished as intended), 0 while it is down or restarting.",
        );
        for (name, state) in self.tasks() {
            let up = u8::from(matches!(state, TaskState::Running { .. } | TaskState::Done));
            let _ = writeln!(out, "qunguan_task_up{{task=\"{name}\"}} {up}");
        }
        header(
            &mut out,
            "qunguan_outbox_dead_letters",
            "gauge",
            "Actions given up on (refused, failed too often, or too old); `qunguan audit --dead-letters --retry` sends them again.",
        );
        let _ = writeln!(out, "qunguan_outbox_dead_letters {}", gauges.dead_letters);
        header(
            &mut out,
            "qunguan_outbox_dead_letters_capacity",
            "gauge",
            "The most dead letters kept ([limits] dead_letters); the oldest beyond it are deleted.",
        );
        let _ = writeln!(
            out,
            "qunguan_outbox_dead_letters_capacity {}",
            gauges.dead_letters_capacity
        );
        header(
            &mut out,
            "qunguan_outbox_dead_letters_trimmed_total",
            "counter",
            "Dead letters deleted because more than [limits] dead_letters were kept (since start).",
        );
        let _ = writeln!(
            out,
            "qunguan_outbox_dead_letters_trimmed_total {}",
            gauges.dead_letters_trimmed
        );
        header(
            &mut out,
            "qunguan_store_failing",
            "gauge",
            "1 while the database cannot write (a full disk); it recovers by itself once it can.",
        );
        let _ = writeln!(out, "qunguan_store_failing {}", u8::from(gauges.store_failing));
        header(
            &mut out,
            "qunguan_store_reopens_total",
            "counter",
            "Times the database was reopened to recover from a write error.",
        );
        let _ = writeln!(out, "qunguan_store_reopens_total {}", gauges.store_generation);
        header(
            &mut out,
            "qunguan_connections_open",
            "gauge",
            "Open connections of each listener.",
        );
        for (listener, n) in &gauges.connections {
            let _ = writeln!(out, "qunguan_connections_open{{listener=\"{listener}\"}} {n}");
        }
        out
    }
}

/// What `/metrics` reads outside [`Health`] when it is scraped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthGauges {
    /// Dead letters stored.
    pub dead_letters: u64,
    /// The most dead letters kept.
    pub dead_letters_capacity: u64,
    /// Dead letters deleted beyond that bound since start.
    pub dead_letters_trimmed: u64,
    /// The store cannot write.
    pub store_failing: bool,
    /// The store's generation (times reopened).
    pub store_generation: u64,
    /// Open connections by listener.
    pub connections: Vec<(&'static str, u64)>,
}

/// Refused requests and connections: counted by reason, logged at a bounded rate.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: Mutex<BTreeMap<String, u64>>,
    log: Throttle,
}

/// A log line budget: [`REFUSAL_LOG_BURST`] lines per [`REFUSAL_LOG_WINDOW`]; what is held
/// back is counted and reported in one line when the next window starts.
#[derive(Debug, Default)]
pub struct Throttle(Mutex<LogWindow>);

#[derive(Debug, Default)]
struct LogWindow {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl Throttle {
    /// True when one more line may be logged now; `what` names the held-back lines in the
    /// summary.
    pub fn allow(&self, what: &'static str) -> bool {
        let now = Instant::now();
        let mut window = lock(&self.0);
        if window
            .started
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_WINDOW)
        {
            if window.suppressed > 0 {
                tracing::warn!(
                    held_back = window.suppressed,
                    window = ?REFUSAL_LOG_WINDOW,
                    "{what}: more than logged (see /metrics)"
                );
            }
            *window = LogWindow {
                started: Some(now),
                logged: 0,
                suppressed: 0,
            };
        }
        if window.logged < REFUSAL_LOG_BURST {
            window.logged += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }
}

impl Refusals {
    /// Counts one refusal of `reason` (a closed set: an HTTP status code, `connection_limit`,
    /// `header_timeout`) and logs it unless this window's burst is used up; `detail` says what
    /// was wrong. Returns whether it was logged.
    pub fn record(&self, reason: &str, detail: &str) -> bool {
        {
            let mut counts = lock(&self.counts);
            match counts.get_mut(reason) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(reason.to_owned(), 1);
                }
            }
        }
        let logged = self.log.allow("refused requests");
        if logged {
            tracing::warn!(reason, detail, "refused a request");
        }
        logged
    }

    /// Every reason's count.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<String, u64> {
        lock(&self.counts).clone()
    }

    /// The count of `reason`.
    #[must_use]
    pub fn count(&self, reason: &str) -> u64 {
        lock(&self.counts).get(reason).copied().unwrap_or(0)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_counted_but_only_a_burst_per_window_is_logged() {
        let refusals = Refusals::default();
        let logged = (0..1_000).filter(|_| refusals.record("401", "bad signature")).count();
        assert_eq!(logged, REFUSAL_LOG_BURST as usize);
        refusals.record("413", "too large");
        assert_eq!(refusals.count("401"), 1_000);
        assert_eq!(refusals.count("413"), 1);
        let text = Health::default().render(&HealthGauges::default());
        assert!(text.contains("qunguan_events_skipped_total 0\n"), "{text}");
    }

    #[test]
    fn task_states_show_in_the_metrics() {
        let health = Health::default();
        health.task("outbox worker", TaskState::Running { restarts: 2 });
        health.task(
            "telegram poller",
            TaskState::Restarting {
                error: "panicked".into(),
                restarts: 0,
            },
        );
        let text = health.render(&HealthGauges::default());
        assert!(
            text.contains("qunguan_task_restarts_total{task=\"outbox worker\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("qunguan_task_up{task=\"telegram poller\"} 0\n"), "{text}");
        assert!(text.contains("qunguan_task_up{task=\"outbox worker\"} 1\n"), "{text}");
    }
}
