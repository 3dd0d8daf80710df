//! Prometheus metrics: counters and a histogram the hot path bumps with one atomic add, and
//! the text exposition the admin listener serves at `/metrics`.
//!
//! Why not a metrics crate with a global recorder: one process may run several daemons (the
//! integration tests do), and each must count only its own events. A [`Metrics`] belongs to
//! one running daemon; the stages that count hold an `Arc` of it. Every label value comes
//! from a closed set known at compile time (event kinds, action kinds, results) except the
//! rule name, which comes from the operator's rules folder — bounded, and never a group or
//! user id (those would make one series per group or member).
//!
//! | metric                                   | type      | labels              |
//! |------------------------------------------|-----------|---------------------|
//! | `qunguan_events_total`                   | counter   | `kind`              |
//! | `qunguan_events_duplicate_total`         | counter   |                     |
//! | `qunguan_filter_hits_total`              | counter   | `rule`              |
//! | `qunguan_actions_total`                  | counter   | `kind`, `result`    |
//! | `qunguan_outbox_depth`                   | gauge     |                     |
//! | `qunguan_outbox_oldest_age_seconds`      | gauge     |                     |
//! | `qunguan_webhook_duration_seconds`       | histogram | `gateway`           |
//! | `qunguan_rules_reloads_total`            | counter   | `result`            |
//! | `qunguan_stats_flushes_total`            | counter   | `result`            |
//! | `qunguan_memory_entries`                 | gauge     | `structure`         |
//! | `qunguan_memory_capacity`                | gauge     | `structure`         |
//! | `qunguan_memory_evictions_total`         | counter   | `structure`         |
//! | `qunguan_store_size_bytes`               | gauge     |                     |
//! | `qunguan_store_compactions_total`        | counter   |                     |
//! | `qunguan_audit_archive_files`            | gauge     |                     |
//! | `qunguan_audit_archive_bytes`            | gauge     |                     |
//! | `qunguan_audit_hot_cases`                | gauge     |                     |
//! | `qunguan_audit_cases_archived_total`     | counter   |                     |
//! | `qunguan_audit_archive_bad_lines_total`  | counter   |                     |
//! | `process_resident_memory_bytes`          | gauge     |                     |
//! | `qunguan_messages_judged_total`          | counter   | `trust`             |
//! | `qunguan_labels_total`                   | counter   | `label`             |
//! | `qunguan_samples`                        | gauge     | `state`             |
//! | `qunguan_neardup_samples`                | gauge     |                     |
//! | `qunguan_recent_messages`                | gauge     |                     |
//! | `qunguan_recent_bytes`                   | gauge     |                     |
//! | `qunguan_review_items`                   | gauge     |                     |
//! | `qunguan_review_total`                   | counter   |                     |
//! | `qunguan_build_info`                     | gauge     | `version`           |
//! | `qunguan_console_logins_total`           | counter   | `result`            |
//! | `qunguan_console_sessions`               | gauge     |                     |
//! | `qunguan_console_login_limited_addresses`| gauge     |                     |
//! | `qunguan_engagement_checkins_total`      | counter   |                     |
//! | `qunguan_engagement_noted`               | gauge     |                     |
//! | `qunguan_engagement_dropped_total`       | counter   |                     |
//! | `qunguan_engagement_faq_answers_total`   | counter   |                     |
//! | `qunguan_engagement_faq_cooldowns`       | gauge     |                     |
//! | `qunguan_engagement_alerts_total`        | counter   |                     |
//! | `qunguan_bans`                           | gauge     | `source`            |
//! | `qunguan_bans_enforced_total`            | counter   |                     |
//! | `qunguan_bans_refresh_total`             | counter   | `result`            |
//! | `qunguan_cas_lookups_total`              | counter   | `result`            |
//!
//! `result` of an action: `delivered`; `retried` (a retryable failure, tried again later);
//! `dead` (refused by the gateway or too old, moved to the dead letters). `result` of a
//! console login: `ok`, `failed` (wrong password), `limited` (refused by the rate limit).
//!
//! Beside the counters, [`Metrics`] keeps two small facts the console's pages show: the
//! outcome of the last rules reload, and per platform the last delivery that worked and the
//! last error (one entry per platform, errors cut to [`LAST_ERROR_CHARS`]).
//!
//! `structure` of the memory gauges: every bounded in-memory structure
//! ([`crate::domain::bounds`]): its entries now, its capacity (`[limits]`) and how many
//! entries it dropped because it was full. `qunguan_store_size_bytes` is what the database
//! folder takes on disk, `process_resident_memory_bytes` the daemon's resident memory (both
//! read when `/metrics` is scraped).
//!
//! Learning (issue 12): `trust` of a judged message is `new` or `trusted`; `label` of an
//! admin's label is `spam` or `ham`; `state` of a sample is `spam` (in force), `retired` or
//! `ham`. The near-duplicate index, the recent messages kept for replies and the review list
//! are bounded; their gauges show how full they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::action::ActionKind;
use crate::domain::bounds::Bound;
use crate::domain::event::{EventKind, Platform};

/// Upper bounds of the webhook latency buckets, in seconds (Prometheus `le`).
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Event kinds, in label order.
const EVENT_KINDS: [&str; 7] = [
    "message",
    "member_joined",
    "member_left",
    "join_request",
    "other",
    "button_pressed",
    "private_message",
];

/// Action kinds, in label order (a kind's index here is its row in [`Metrics::action`]'s table).
const ACTION_KINDS: [ActionKind; 8] = [
    ActionKind::Send,
    ActionKind::Recall,
    ActionKind::Mute,
    ActionKind::Unmute,
    ActionKind::Kick,
    ActionKind::AnswerJoinRequest,
    ActionKind::AnswerButton,
    ActionKind::Unban,
];

/// Console login outcomes, in label order.
const LOGIN_RESULTS: [&str; 3] = ["ok", "failed", "limited"];

/// How much of a gateway error the health page keeps.
pub const LAST_ERROR_CHARS: usize = 300;

/// A console login's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    /// The password was right.
    Ok,
    /// The password was wrong.
    Failed,
    /// The client had failed too often; the password was not checked.
    Limited,
}

/// What triggered a rules reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadTrigger {
    /// The rules folder changed on disk (the watcher).
    FileChange,
    /// `SIGHUP`.
    Hangup,
    /// An admin's `/reload` in a group.
    Command,
    /// The operators' console or its API.
    Console,
}

impl ReloadTrigger {
    /// The name logs, the console and the audit use.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FileChange => "file change",
            Self::Hangup => "SIGHUP",
            Self::Command => "command",
            Self::Console => "console",
        }
    }
}

impl std::fmt::Display for ReloadTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rules reload came to, as the operator reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The new rules are live; their one-line summary.
    Live(String),
    /// The new rules were refused and the previous ones stay live; why, with `file:line`
    /// when known.
    Refused(String),
}

/// The outcome of the last rules reload, whatever triggered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// What triggered it.
    pub trigger: ReloadTrigger,
    /// The new rules' summary, or why they were refused.
    pub result: Reloaded,
    /// When it happened.
    pub at: Instant,
}

/// What the outbox last saw of one platform's gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewaySeen {
    /// When a call last worked.
    pub last_ok: Option<Instant>,
    /// The last failed call's error and when it happened.
    pub last_error: Option<(Instant, String)>,
    /// Since when every call has failed: the first failure after the last success. `None`
    /// while the gateway answers.
    pub failing_since: Option<Instant>,
}

/// What became of one delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionResult {
    /// The gateway carried it out.
    Delivered,
    /// A retryable failure; the outbox tries again later.
    Retried,
    /// Given up: refused by the gateway or too old; now a dead letter.
    Dead,
    /// Given up without a dead letter: one of the bot's own messages that its group's full
    /// queue handed back or that grew too old (`[outbox] keep_stale_messages` off).
    Dropped,
}

impl ActionResult {
    const ALL: [Self; 4] = [Self::Delivered, Self::Retried, Self::Dead, Self::Dropped];

    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retried => "retried",
            Self::Dead => "dead",
            Self::Dropped => "dropped",
        }
    }
}

/// Which webhook a latency belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Webhook {
    /// The OneBot v11 HTTP-POST webhook.
    OneBot,
    /// The Telegram Bot API webhook.
    Telegram,
}

impl Webhook {
    const ALL: [Self; 2] = [Self::OneBot, Self::Telegram];

    fn as_str(self) -> &'static str {
        match self {
            Self::OneBot => "onebot",
            Self::Telegram => "telegram",
        }
    }
}

/// A fixed-bucket histogram: one atomic add per bucket hit plus sum and count.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative; the last slot is `+Inf`).
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of observations in nanoseconds.
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        #[allow(clippy::cast_precision_loss)] // a sum of latencies; f64 is what Prometheus reads
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// The outbox's gauges, read from the store when `/metrics` is scraped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxGauges {
    /// Actions stored and not yet delivered.
    pub depth: u64,
    /// Age of the oldest of them, in seconds (0 when empty).
    pub oldest_age_secs: u64,
}

/// One daemon's counters. Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    events: [AtomicU64; EVENT_KINDS.len()],
    duplicates: AtomicU64,
    /// Hits by rule name. Violations are rare next to messages, so a lock here costs nothing
    /// that matters; a `BTreeMap` renders in a stable order.
    filter_hits: Mutex<BTreeMap<String, u64>>,
    actions: [[AtomicU64; ActionResult::ALL.len()]; ACTION_KINDS.len()],
    webhooks: [Histogram; Webhook::ALL.len()],
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    stats_flushes_ok: AtomicU64,
    stats_flushes_failed: AtomicU64,
    /// When the outbox worker last went round its loop, in ms since `epoch`; -1 = never.
    worker_beat_ms: AtomicI64,
    epoch: Instant,
    logins: [AtomicU64; LOGIN_RESULTS.len()],
    console_sessions: AtomicU64,
    login_limited: AtomicU64,
    last_reload: Mutex<Option<ReloadOutcome>>,
    /// By platform: QQ (OneBot), Telegram.
    gateways: Mutex<[GatewaySeen; 2]>,
    /// Every bounded in-memory structure, by name.
    bounds: Mutex<Vec<Arc<Bound>>>,
    /// The database folder's size on disk, bytes (set when `/metrics` is scraped).
    store_bytes: AtomicU64,
    store_compactions: AtomicU64,
    /// Resident memory, bytes (set when `/metrics` is scraped; 0 where unknown).
    resident_bytes: AtomicU64,
    /// The audit archive (set when `/metrics` is scraped): day files, their bytes, cases in
    /// the database, cases moved since start, bad lines skipped since start.
    archive: [AtomicU64; 5],
    /// Learning and trust (issue 12).
    pub learning: LearningGauges,
    /// Engagement: check-ins, the noted-points map, FAQ answers and cooldowns, tier alerts.
    engagement: EngagementCounts,
    /// The gate at the door (入群验证); its pending gates are the `verify_pending` bound.
    pub gate: GateCounts,
    /// The global ban list: bans in force, removals, shared-list refreshes, CAS lookups.
    pub bans: crate::domain::ban::BanGauges,
}

/// The gate at the door's counters, by how each gate ended.
#[derive(Debug, Default)]
pub struct GateCounts {
    /// Gates opened (a newcomer muted and asked).
    pub opened: AtomicU64,
    /// Newcomers who answered in time.
    pub passed: AtomicU64,
    /// Newcomers removed at their deadline.
    pub timed_out: AtomicU64,
    /// Newcomers removed after `[verify] max_tries` wrong answers.
    pub failed: AtomicU64,
    /// Gates closed without a kick (the member left, or the group's gate was turned off).
    pub released: AtomicU64,
    /// Newcomers let in ungated because `[limits] verify_pending` gates were pending.
    pub full: AtomicU64,
    /// Newcomers not gated although their group is: super users, the group's exempt members,
    /// and every newcomer of a group in dry run (logged instead).
    pub skipped: AtomicU64,
}

impl GateCounts {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        header(
            out,
            "qunguan_verify_gates_total",
            "counter",
            "Gates at the door (入群验证), by how they went: opened, passed, timed_out, failed (too many wrong answers), released, full (let in ungated), skipped (super users, exempt members, dry run).",
        );
        for (result, n) in [
            ("opened", &self.opened),
            ("passed", &self.passed),
            ("timed_out", &self.timed_out),
            ("failed", &self.failed),
            ("released", &self.released),
            ("full", &self.full),
            ("skipped", &self.skipped),
        ] {
            let _ = writeln!(out, "qunguan_verify_gates_total{{result=\"{result}\"}} {}", load(n));
        }
    }
}

/// The learning service's counters and gauges; it sets the gauges whenever what they measure
/// changes.
#[derive(Debug, Default)]
pub struct LearningGauges {
    /// Messages judged for a new member.
    pub judged_new: AtomicU64,
    /// Messages judged for a trusted member.
    pub judged_trusted: AtomicU64,
    /// Admins' `/spam` labels.
    pub labels_spam: AtomicU64,
    /// Admins' `/notspam` labels.
    pub labels_ham: AtomicU64,
    /// Spam samples in force.
    pub samples_spam: AtomicU64,
    /// Retired spam samples.
    pub samples_retired: AtomicU64,
    /// Ham samples.
    pub samples_ham: AtomicU64,
    /// Samples in the near-duplicate index.
    pub neardup_samples: AtomicU64,
    /// Messages kept for replies.
    pub recent_messages: AtomicU64,
    /// Bytes they take (texts, names and bookkeeping).
    pub recent_bytes: AtomicU64,
    /// Messages on the review list.
    pub review_items: AtomicU64,
    /// Messages ever put on the review list.
    pub review_total: AtomicU64,
}

impl LearningGauges {
    /// Sets a gauge.
    pub fn set(gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        header(
            out,
            "qunguan_messages_judged_total",
            "counter",
            "Members' messages judged, by the member's trust.",
        );
        let _ = writeln!(
            out,
            "qunguan_messages_judged_total{{trust=\"new\"}} {}",
            load(&self.judged_new)
        );
        let _ = writeln!(
            out,
            "qunguan_messages_judged_total{{trust=\"trusted\"}} {}",
            load(&self.judged_trusted)
        );
        header(
            out,
            "qunguan_labels_total",
            "counter",
            "Admins' labels (/spam, /notspam).",
        );
        let _ = writeln!(
            out,
            "qunguan_labels_total{{label=\"spam\"}} {}",
            load(&self.labels_spam)
        );
        let _ = writeln!(out, "qunguan_labels_total{{label=\"ham\"}} {}", load(&self.labels_ham));
        header(out, "qunguan_samples", "gauge", "Labelled samples, by state.");
        for (state, n) in [
            ("spam", &self.samples_spam),
            ("retired", &self.samples_retired),
            ("ham", &self.samples_ham),
        ] {
            let _ = writeln!(out, "qunguan_samples{{state=\"{state}\"}} {}", load(n));
        }
        for (name, help, kind, n) in [
            (
                "qunguan_neardup_samples",
                "Spam samples in the near-duplicate index.",
                "gauge",
                &self.neardup_samples,
            ),
            (
                "qunguan_recent_messages",
                "Recent messages kept for replies (/spam, /notspam).",
                "gauge",
                &self.recent_messages,
            ),
            (
                "qunguan_recent_bytes",
                "Memory the recent messages take, in bytes.",
                "gauge",
                &self.recent_bytes,
            ),
            (
                "qunguan_review_items",
                "Messages on the review list (/review).",
                "gauge",
                &self.review_items,
            ),
            (
                "qunguan_review_total",
                "Messages of trusted members put on the review list instead of acted on.",
                "counter",
                &self.review_total,
            ),
        ] {
            header(out, name, kind, help);
            let _ = writeln!(out, "{name} {}", load(n));
        }
    }
}

/// The engagement service's counters and gauges.
#[derive(Debug, Default)]
struct EngagementCounts {
    checkins: AtomicU64,
    noted: AtomicU64,
    dropped: AtomicU64,
    faq_answers: AtomicU64,
    faq_cooldowns: AtomicU64,
    alerts: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            events: Default::default(),
            duplicates: AtomicU64::new(0),
            filter_hits: Mutex::new(BTreeMap::new()),
            actions: Default::default(),
            webhooks: Default::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            stats_flushes_ok: AtomicU64::new(0),
            stats_flushes_failed: AtomicU64::new(0),
            worker_beat_ms: AtomicI64::new(-1),
            epoch: Instant::now(),
            logins: Default::default(),
            console_sessions: AtomicU64::new(0),
            login_limited: AtomicU64::new(0),
            last_reload: Mutex::new(None),
            gateways: Mutex::new(Default::default()),
            bounds: Mutex::new(Vec::new()),
            store_bytes: AtomicU64::new(0),
            store_compactions: AtomicU64::new(0),
            archive: Default::default(),
            resident_bytes: AtomicU64::new(0),
            learning: LearningGauges::default(),
            bans: crate::domain::ban::BanGauges::default(),
            engagement: EngagementCounts::default(),
            gate: GateCounts::default(),
        }
    }
}

impl Metrics {
    /// Counts one event received from a gateway.
    pub fn event(&self, kind: &EventKind) {
        let i = match kind {
            EventKind::GroupMessage(_) => 0,
            EventKind::MemberJoined(_) => 1,
            EventKind::MemberLeft(_) => 2,
            EventKind::JoinRequest(_) => 3,
            EventKind::Other(_) => 4,
            EventKind::ButtonPressed(_) => 5,
            EventKind::PrivateMessage(_) => 6,
        };
        self.events[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Events received so far, of every kind (the sum of `qunguan_events_total`).
    #[must_use]
    pub fn events_received(&self) -> u64 {
        self.events.iter().map(load).sum()
    }

    /// Counts a redelivered event (already handled; nothing changed).
    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a violation of `rule` (filter rule, or `flood`).
    pub fn filter_hit(&self, rule: &str) {
        let mut hits = self
            .filter_hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match hits.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                hits.insert(rule.to_owned(), 1);
            }
        }
    }

    /// Counts one delivery attempt of an action of `kind`.
    pub fn action(&self, kind: ActionKind, result: ActionResult) {
        let k = ACTION_KINDS.iter().position(|&a| a == kind).unwrap_or(0);
        let r = ActionResult::ALL.iter().position(|&x| x == result).unwrap_or(0);
        self.actions[k][r].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long one webhook request took.
    pub fn webhook_latency(&self, webhook: Webhook, took: Duration) {
        let i = Webhook::ALL.iter().position(|&w| w == webhook).unwrap_or(0);
        self.webhooks[i].observe(took);
    }

    /// Counts a rules reload (file change, SIGHUP or `/reload`).
    fn rules_reload(&self, ok: bool) {
        if ok { &self.reloads_ok } else { &self.reloads_failed }.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rules reload and keeps its outcome for the console.
    pub fn rules_reloaded(&self, trigger: ReloadTrigger, result: Reloaded) {
        self.rules_reload(matches!(result, Reloaded::Live(_)));
        let outcome = ReloadOutcome {
            trigger,
            result,
            at: Instant::now(),
        };
        *self
            .last_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outcome);
    }

    /// The last rules reload since start, if any.
    #[must_use]
    pub fn last_reload(&self) -> Option<ReloadOutcome> {
        self.last_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Counts a console login attempt.
    pub fn console_login(&self, result: LoginResult) {
        let i = match result {
            LoginResult::Ok => 0,
            LoginResult::Failed => 1,
            LoginResult::Limited => 2,
        };
        self.logins[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the console's gauges: open sessions, and client addresses the login rate limit
    /// tracks.
    pub fn console_gauges(&self, sessions: usize, limited: usize) {
        self.console_sessions.store(sessions as u64, Ordering::Relaxed);
        self.login_limited.store(limited as u64, Ordering::Relaxed);
    }

    /// Records the outcome of a gateway call on `platform` (the outbox's deliveries).
    pub fn gateway_call(&self, platform: Platform, error: Option<&str>) {
        let mut seen = self.gateways.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = &mut seen[platform_index(platform)];
        let now = Instant::now();
        match error {
            None => {
                entry.last_ok = Some(now);
                entry.failing_since = None;
            }
            Some(e) => {
                let cut: String = e.chars().take(LAST_ERROR_CHARS).collect();
                entry.last_error = Some((now, cut));
                entry.failing_since.get_or_insert(now);
            }
        }
    }

    /// What the outbox last saw of `platform`'s gateway.
    #[must_use]
    pub fn gateway_seen(&self, platform: Platform) -> GatewaySeen {
        self.gateways.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[platform_index(platform)].clone()
    }

    /// Counts a write of the group statistics to the store.
    pub fn stats_flush(&self, ok: bool) {
        if ok {
            &self.stats_flushes_ok
        } else {
            &self.stats_flushes_failed
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Reports a bounded in-memory structure on `/metrics`; one of the same name reported
    /// earlier is replaced.
    pub fn track(&self, bound: Arc<Bound>) {
        let mut bounds = self.bounds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        bounds.retain(|b| b.name() != bound.name());
        bounds.push(bound);
        bounds.sort_by_key(|b| b.name());
    }

    /// The tracked structures (tests).
    #[must_use]
    pub fn bound(&self, name: &str) -> Option<Arc<Bound>> {
        let bounds = self.bounds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        bounds.iter().find(|b| b.name() == name).cloned()
    }

    /// The store's compactions so far (`qunguan_store_compactions_total`; read at scrape
    /// time from the store, which counts them).
    pub fn set_store_compactions(&self, compactions: u64) {
        self.store_compactions.store(compactions, Ordering::Relaxed);
    }

    /// Records the database folder's size on disk and the process's resident memory, for the
    /// next render.
    pub fn set_sizes(&self, store_bytes: u64, resident_bytes: u64) {
        self.store_bytes.store(store_bytes, Ordering::Relaxed);
        self.resident_bytes.store(resident_bytes, Ordering::Relaxed);
    }

    /// Sets the audit archive's gauges: day files, their bytes, the cases still in the
    /// database, the cases moved since start, the bad lines readers skipped since start.
    pub fn set_archive(&self, files: u64, bytes: u64, hot_cases: u64, moved: u64, bad_lines: u64) {
        for (slot, value) in self.archive.iter().zip([files, bytes, hot_cases, moved, bad_lines]) {
            slot.store(value, Ordering::Relaxed);
        }
    }

    /// Counts a check-in.
    pub fn engagement_checkin(&self) {
        self.engagement.checkins.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the size of the map of noted message points.
    pub fn engagement_noted(&self, size: usize) {
        self.engagement.noted.store(size as u64, Ordering::Relaxed);
    }

    /// Counts a message whose points could not be noted (the map was full).
    pub fn engagement_dropped(&self) {
        self.engagement.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a keyword answer sent.
    pub fn faq_answer(&self) {
        self.engagement.faq_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the size of the keyword answers' cooldown map.
    pub fn faq_cooldowns(&self, size: usize) {
        self.engagement.faq_cooldowns.store(size as u64, Ordering::Relaxed);
    }

    /// Counts a tier alert sent.
    pub fn engagement_alert(&self) {
        self.engagement.alerts.fetch_add(1, Ordering::Relaxed);
    }

    /// The outbox worker calls this each time round its loop (at least once a second).
    pub fn worker_beat(&self) {
        let ms = i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.worker_beat_ms.store(ms, Ordering::Relaxed);
    }

    /// How long ago the outbox worker last went round its loop; `None` if it never did.
    #[must_use]
    pub fn worker_silent_for(&self) -> Option<Duration> {
        let beat = self.worker_beat_ms.load(Ordering::Relaxed);
        let beat = u64::try_from(beat).ok()?;
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(now.saturating_sub(beat)))
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    #[must_use]
    pub fn render(&self, outbox: OutboxGauges) -> String {
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "qunguan_build_info",
            "gauge",
            "The running qunguan's version.",
        );
        let _ = writeln!(out, "qunguan_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));

        header(&mut out, "qunguan_events_total", "counter", "Events received, by kind.");
        for (kind, n) in EVENT_KINDS.iter().zip(&self.events) {
            let _ = writeln!(out, "qunguan_events_total{{kind=\"{kind}\"}} {}", load(n));
        }
        header(
            &mut out,
            "qunguan_events_duplicate_total",
            "counter",
            "Redelivered events that changed nothing.",
        );
        let _ = writeln!(out, "qunguan_events_duplicate_total {}", load(&self.duplicates));

        header(
            &mut out,
            "qunguan_filter_hits_total",
            "counter",
            "Violations found, by rule (filter rules and flood).",
        );
        {
            let hits = self
                .filter_hits
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (rule, n) in hits.iter() {
                let _ = writeln!(out, "qunguan_filter_hits_total{{rule=\"{}\"}} {n}", escape_label(rule));
            }
        }

        header(
            &mut out,
            "qunguan_actions_total",
            "counter",
            "Outcomes of the outbox's actions, by action kind and result: delivered, retried, dead (a dead letter), dropped (a stale message of the bot's own, given up without a dead letter).",
        );
        for (kind, row) in ACTION_KINDS.iter().zip(&self.actions) {
            for (result, n) in ActionResult::ALL.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "qunguan_actions_total{{kind=\"{}\",result=\"{}\"}} {}",
                    kind.as_str(),
                    result.as_str(),
                    load(n)
                );
            }
        }

        header(
            &mut out,
            "qunguan_outbox_depth",
            "gauge",
            "Actions stored and not yet delivered.",
        );
        let _ = writeln!(out, "qunguan_outbox_depth {}", outbox.depth);
        header(
            &mut out,
            "qunguan_outbox_oldest_age_seconds",
            "gauge",
            "Age of the oldest undelivered action (0 when none).",
        );
        let _ = writeln!(out, "qunguan_outbox_oldest_age_seconds {}", outbox.oldest_age_secs);

        header(
            &mut out,
            "qunguan_webhook_duration_seconds",
            "histogram",
            "Time from a webhook request's arrival to its answer (the event stored and flushed).",
        );
        for (webhook, histogram) in Webhook::ALL.iter().zip(&self.webhooks) {
            histogram.render(
                &mut out,
                "qunguan_webhook_duration_seconds",
                &format!("gateway=\"{}\"", webhook.as_str()),
            );
        }

        header(
            &mut out,
            "qunguan_rules_reloads_total",
            "counter",
            "Rules reloads; a failed one keeps the previous rules live.",
        );
        let _ = writeln!(
            out,
            "qunguan_rules_reloads_total{{result=\"ok\"}} {}",
            load(&self.reloads_ok)
        );
        let _ = writeln!(
            out,
            "qunguan_rules_reloads_total{{result=\"failed\"}} {}",
            load(&self.reloads_failed)
        );

        header(
            &mut out,
            "qunguan_stats_flushes_total",
            "counter",
            "Writes of the group statistics to the database.",
        );
        let _ = writeln!(
            out,
            "qunguan_stats_flushes_total{{result=\"ok\"}} {}",
            load(&self.stats_flushes_ok)
        );
        let _ = writeln!(
            out,
            "qunguan_stats_flushes_total{{result=\"failed\"}} {}",
            load(&self.stats_flushes_failed)
        );

        header(
            &mut out,
            "qunguan_console_logins_total",
            "counter",
            "Console login attempts: ok, failed (wrong password), limited (refused by the rate limit).",
        );
        for (result, n) in LOGIN_RESULTS.iter().zip(&self.logins) {
            let _ = writeln!(out, "qunguan_console_logins_total{{result=\"{result}\"}} {}", load(n));
        }
        header(&mut out, "qunguan_console_sessions", "gauge", "Open console sessions.");
        let _ = writeln!(out, "qunguan_console_sessions {}", load(&self.console_sessions));
        header(
            &mut out,
            "qunguan_console_login_limited_addresses",
            "gauge",
            "Client addresses with recent failed console logins (the rate limit's table).",
        );
        let _ = writeln!(
            out,
            "qunguan_console_login_limited_addresses {}",
            load(&self.login_limited)
        );
        self.render_sizes(&mut out);
        self.learning.render(&mut out);
        self.gate.render(&mut out);
        self.bans.render(&mut out);
        let e = &self.engagement;
        for (name, kind, help, value) in [
            (
                "qunguan_engagement_checkins_total",
                "counter",
                "Check-ins (/签到) that earned points.",
                &e.checkins,
            ),
            (
                "qunguan_engagement_noted",
                "gauge",
                "Members whose message points are held in memory until the next write.",
                &e.noted,
            ),
            (
                "qunguan_engagement_dropped_total",
                "counter",
                "Messages whose points were not noted because the map was full.",
                &e.dropped,
            ),
            (
                "qunguan_engagement_faq_answers_total",
                "counter",
                "Keyword answers sent.",
                &e.faq_answers,
            ),
            (
                "qunguan_engagement_faq_cooldowns",
                "gauge",
                "Keyword answers in their cooldown (the cooldown map's size).",
                &e.faq_cooldowns,
            ),
            (
                "qunguan_engagement_alerts_total",
                "counter",
                "Tier alerts sent to admins.",
                &e.alerts,
            ),
        ] {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", load(value));
        }
        out
    }

    fn render_sizes(&self, out: &mut String) {
        let bounds = self.bounds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let series: [Series; 3] = [
            (
                "qunguan_memory_entries",
                "gauge",
                "Entries held by a bounded in-memory structure.",
                |b| b.len() as u64,
            ),
            (
                "qunguan_memory_capacity",
                "gauge",
                "The most entries a bounded in-memory structure holds ([limits]).",
                |b| b.capacity() as u64,
            ),
            (
                "qunguan_memory_evictions_total",
                "counter",
                "Entries a bounded in-memory structure dropped because it was full.",
                Bound::evicted,
            ),
        ];
        for (name, kind, help, value) in series {
            header(out, name, kind, help);
            for bound in bounds.iter() {
                let _ = writeln!(out, "{name}{{structure=\"{}\"}} {}", bound.name(), value(bound));
            }
        }
        header(
            out,
            "qunguan_store_size_bytes",
            "gauge",
            "What the database folder takes on disk.",
        );
        let _ = writeln!(out, "qunguan_store_size_bytes {}", load(&self.store_bytes));
        header(
            out,
            "qunguan_store_compactions_total",
            "counter",
            "Times the database was copied into a fresh folder because its files had outgrown what they hold.",
        );
        let _ = writeln!(out, "qunguan_store_compactions_total {}", load(&self.store_compactions));
        let archive = [
            (
                "qunguan_audit_archive_files",
                "gauge",
                "Day files of the audit archive.",
            ),
            (
                "qunguan_audit_archive_bytes",
                "gauge",
                "Bytes of the audit archive's day files (part of the store size).",
            ),
            (
                "qunguan_audit_hot_cases",
                "gauge",
                "Audit cases in the database (each group's newest, and those not moved yet).",
            ),
            (
                "qunguan_audit_cases_archived_total",
                "counter",
                "Audit cases moved to the archive's files since start.",
            ),
            (
                "qunguan_audit_archive_bad_lines_total",
                "counter",
                "Lines of the audit archive that were not cases, skipped by readers since start.",
            ),
        ];
        for ((name, kind, help), value) in archive.into_iter().zip(&self.archive) {
            header(out, name, kind, help);
            let _ = writeln!(out, "{name} {}", load(value));
        }
        header(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the daemon.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {}", load(&self.resident_bytes));
    }
}

fn platform_index(platform: Platform) -> usize {
    match platform {
        Platform::Qq => 0,
        Platform::Telegram => 1,
    }
}

/// A memory series: name, type, help, and how to read it from a bound.
type Series = (&'static str, &'static str, &'static str, fn(&Bound) -> u64);

fn load(n: &AtomicU64) -> u64 {
    n.load(Ordering::Relaxed)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value: backslash, double quote and newline, as the text format requires.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_fails_from_its_first_error_after_a_success_until_the_next_success() {
        let m = Metrics::default();
        assert_eq!(m.gateway_seen(Platform::Qq), GatewaySeen::default());
        m.gateway_call(Platform::Qq, Some("refused"));
        let first = m.gateway_seen(Platform::Qq).failing_since.expect("failing");
        m.gateway_call(Platform::Qq, Some("refused again"));
        let seen = m.gateway_seen(Platform::Qq);
        assert_eq!(seen.failing_since, Some(first), "the streak keeps its start");
        assert_eq!(seen.last_error.map(|(_, e)| e).as_deref(), Some("refused again"));
        m.gateway_call(Platform::Qq, None);
        assert_eq!(m.gateway_seen(Platform::Qq).failing_since, None);
        assert_eq!(
            m.gateway_seen(Platform::Telegram),
            GatewaySeen::default(),
            "per platform"
        );
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_everything() {
        let m = Metrics::default();
        for ms in [0, 3, 3, 40, 20_000] {
            m.webhook_latency(Webhook::OneBot, Duration::from_millis(ms));
        }
        let text = m.render(OutboxGauges::default());
        let cases = [
            ("le=\"0.0005\"}", 1),
            ("le=\"0.0025\"}", 1),
            ("le=\"0.005\"}", 3),
            ("le=\"0.05\"}", 4),
            ("le=\"10\"}", 4),
            ("le=\"+Inf\"}", 5),
        ];
        for (le, expected) in cases {
            let prefix = format!("qunguan_webhook_duration_seconds_bucket{{gateway=\"onebot\",{le}");
            assert_eq!(line(&text, &prefix), format!("{prefix} {expected}"));
        }
        assert_eq!(
            line(&text, "qunguan_webhook_duration_seconds_count{gateway=\"onebot\"}"),
            "qunguan_webhook_duration_seconds_count{gateway=\"onebot\"} 5"
        );
        assert_eq!(
            line(&text, "qunguan_webhook_duration_seconds_count{gateway=\"telegram\"}"),
            "qunguan_webhook_duration_seconds_count{gateway=\"telegram\"} 0"
        );
    }

    #[test]
    fn rule_names_are_escaped_and_counted_per_rule() {
        let m = Metrics::default();
        m.filter_hit("ads");
        m.filter_hit("ads");
        m.filter_hit("say \"hi\"\\\n");
        let text = m.render(OutboxGauges::default());
        assert!(text.contains("qunguan_filter_hits_total{rule=\"ads\"} 2\n"), "{text}");
        assert!(
            text.contains("qunguan_filter_hits_total{rule=\"say \\\"hi\\\"\\\\\\n\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn every_line_is_a_comment_or_a_sample() {
        let m = Metrics::default();
        m.action(ActionKind::Recall, ActionResult::Delivered);
        m.rules_reload(false);
        let text = m.render(OutboxGauges {
            depth: 3,
            oldest_age_secs: 12,
        });
        for l in text.lines() {
            let sample = l.rsplit_once(' ').is_some_and(|(_, v)| v.parse::<f64>().is_ok());
            assert!(l.starts_with("# HELP ") || l.starts_with("# TYPE ") || sample, "{l:?}");
        }
        assert!(text.contains("qunguan_actions_total{kind=\"recall\",result=\"delivered\"} 1\n"));
        assert!(text.contains("qunguan_rules_reloads_total{result=\"failed\"} 1\n"));
        assert!(text.contains("qunguan_outbox_depth 3\n"));
        assert!(text.contains("qunguan_outbox_oldest_age_seconds 12\n"));
    }

    #[test]
    fn bounded_structures_and_sizes_are_rendered_per_structure() {
        let m = Metrics::default();
        let flood = Bound::new("flood_members", 100);
        flood.grow(7);
        flood.evict(2);
        m.track(Arc::clone(&flood));
        m.track(Bound::new("activity_notes", 50));
        // Tracking a structure of the same name again replaces it.
        m.track(Bound::new("activity_notes", 60));
        m.set_sizes(12_345, 6_789);
        m.set_store_compactions(3);
        let text = m.render(OutboxGauges::default());
        for expected in [
            "qunguan_memory_entries{structure=\"flood_members\"} 7\n",
            "qunguan_memory_capacity{structure=\"flood_members\"} 100\n",
            "qunguan_memory_evictions_total{structure=\"flood_members\"} 2\n",
            "qunguan_memory_capacity{structure=\"activity_notes\"} 60\n",
            "qunguan_store_size_bytes 12345\n",
            "qunguan_store_compactions_total 3\n",
            "process_resident_memory_bytes 6789\n",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        assert_eq!(text.matches("structure=\"activity_notes\"").count(), 3);
    }
}
