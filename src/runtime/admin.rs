//! The admin listener (`[server] admin_listen`, default `127.0.0.1:9090`): what operators and
//! their tools look at, kept off the public webhook port.
//!
//! | path              | answers                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `/metrics`        | Prometheus text ([`crate::domain::metrics`])                             |
//! | `/healthz`        | `200 ok` while the process serves requests (liveness); `503` with the reason once the store watchdog gave up (the process then exits) |
//! | `/readyz`         | `200` when the store answers and can write, rules are loaded, the outbox worker went round its loop in the last 60 s, every supervised task runs and no gateway has failed every call for `[gateway] unready_after`; `503` with the failing check otherwise, and during shutdown. Also lists the dead letters and skipped events |
//! | `/stats/<group>`  | the group's health page (`?days=30`, 1–366), see [`crate::service::stats::page`] |
//! | `/console/…`, `/api/v1/…` | the operators' console and its JSON API, see [`crate::runtime::console`] |
//!
//! Authentication: `/metrics`, `/healthz` and `/readyz` are always open (scrapers and
//! container probes). The console and the API always need a login or the API token. The
//! stats page needs one too as soon as `[console] password_hash` or `api_token` is set; with
//! neither, the listener must be on loopback ([`crate::config::Settings::validate`] refuses
//! anything else), so only the host can reach it and the page stays open as before.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::rules::RulesHandle;
use crate::domain::clock::SharedClock;
use crate::domain::event::{GroupId, Platform};
use crate::domain::metrics::{GatewaySeen, Metrics, OutboxGauges};
use crate::runtime::console::auth::Auth;
use crate::runtime::health::{Health, HealthGauges, TaskState};
use crate::runtime::listen::Connections;
use crate::service::stats::Reporter;
use crate::service::stats::page::{self, PageData};
use crate::store::Store;

/// How long the outbox worker may go without a beat before `/readyz` fails. It beats at
/// least once a second while alive.
const WORKER_SILENCE: Duration = Duration::from_secs(60);
/// Days shown on the stats page unless `?days=` says otherwise, and the most allowed.
const PAGE_DAYS: i64 = 30;
const PAGE_DAYS_MAX: i64 = 366;
/// Upper bound on one admin request (the stats page asks the platform for the member count).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How many groups `/readyz` names with the account that keeps each (`/metrics` has all).
const READYZ_GROUPS: usize = 50;

/// How long `/metrics` and `/readyz` wait for the store before answering without it.
const STORE_READ_PATIENCE: Duration = Duration::from_secs(1);

/// What the admin handlers read.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The daemon's counters.
    pub metrics: Arc<Metrics>,
    /// The database (outbox gauges, stats days).
    pub store: Store,
    /// The live rules.
    pub rules: RulesHandle,
    /// Now, for ages and "today".
    pub clock: SharedClock,
    /// Stats reads and the member count.
    pub reporter: Reporter,
    /// Fires when shutdown begins: `/readyz` then says so.
    pub stopping: CancellationToken,
    /// Who may read the stats page once the console's authentication is configured.
    pub auth: Arc<Auth>,
    /// The platforms with a configured gateway, checked by `/readyz`.
    pub platforms: Vec<Platform>,
    /// How long a gateway may fail every call before `/readyz` fails (`[gateway]
    /// unready_after`; zero = never).
    pub gateway_unready_after: Duration,
    /// Tasks, the watchdog, refusals.
    pub health: Arc<Health>,
    /// Open connections of each listener.
    pub connections: Vec<(&'static str, Arc<Connections>)>,
}

/// The admin router, with the console's routes.
pub fn router(state: AdminState, console: crate::runtime::console::ConsoleState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/stats/{group}", get(stats_page))
        .with_state(state)
        .merge(crate::runtime::console::router(console))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::new())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let (store, now_ms) = (state.store.clone(), state.clock.now().as_millisecond());
    let metrics = Arc::clone(&state.metrics);
    let gauges = tokio::task::spawn_blocking(move || {
        metrics.set_sizes(store.disk_usage().unwrap_or(0), resident_bytes());
        metrics.set_store_compactions(store.compactions());
        if let Ok(a) = store.archive_gauges() {
            metrics.set_archive(a.files, a.bytes, a.hot_cases, a.moved, a.bad_lines);
        }
        let outbox = store.outbox();
        let oldest = outbox.oldest_created_ms()?;
        Ok::<_, crate::store::StoreError>((
            OutboxGauges {
                depth: outbox.len() as u64,
                oldest_age_secs: oldest.map_or(0, |at| u64::try_from(now_ms.saturating_sub(at) / 1000).unwrap_or(0)),
            },
            outbox.dead_count()? as u64,
        ))
    });
    // A stalled store must not stall the scrape: after a second, report without it.
    let gauges = match tokio::time::timeout(STORE_READ_PATIENCE, gauges).await {
        Ok(Ok(Ok(g))) => g,
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "/metrics: cannot read the outbox");
            (OutboxGauges::default(), 0)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "/metrics: the outbox read failed");
            (OutboxGauges::default(), 0)
        }
        Err(_) => (OutboxGauges::default(), 0),
    };
    let mut text = state.metrics.render(gauges.0);
    text.push_str(&state.reporter.outbox.roster().render_metrics());
    text.push_str(&state.health.render(&HealthGauges {
        dead_letters: gauges.1,
        dead_letters_capacity: state.store.outbox().dead_capacity() as u64,
        dead_letters_trimmed: state.store.outbox().dead_trimmed(),
        store_failing: state.store.failing().is_some(),
        store_generation: state.store.generation(),
        connections: state.connections.iter().map(|(name, c)| (*name, c.open())).collect(),
    }));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The process's resident memory in bytes (`/proc/self/statm`); 0 where unknown.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // 4 KiB pages: what every Linux this runs on uses for user memory.
    pages.saturating_mul(4096)
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let mut lines = Vec::new();
    let mut ready = true;
    if state.stopping.is_cancelled() {
        ready = false;
        lines.push("shutdown: in progress".to_owned());
    }
    if let Some(reason) = state.health.stalled() {
        ready = false;
        lines.push(reason);
    }
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        store.state("admin.readyz")?;
        Ok::<_, crate::store::StoreError>((store.outbox().dead_count()?, store.skipped()?.len()))
    });
    let mut counts = None;
    match tokio::time::timeout(STORE_READ_PATIENCE, read).await {
        Ok(Ok(Ok(found))) => counts = Some(found),
        Ok(Ok(Err(e))) => {
            ready = false;
            lines.push(format!("store: {e}"));
        }
        Ok(Err(e)) => {
            ready = false;
            lines.push(format!("store: the check failed: {e}"));
        }
        Err(_) => {
            ready = false;
            lines.push(format!("store: no answer within {}s", STORE_READ_PATIENCE.as_secs()));
        }
    }
    match state.store.failing() {
        Some(failing) => {
            ready = false;
            lines.push(format!(
                "store: cannot write for {}s: {} (webhooks answer 503; it recovers by itself once it can write)",
                failing.for_.as_secs(),
                failing.reason
            ));
        }
        None if counts.is_some() => lines.push("store: ok".to_owned()),
        None => {}
    }
    lines.push(format!("rules: ok ({})", state.rules.load().summary()));
    match state.metrics.worker_silent_for() {
        Some(d) if d <= WORKER_SILENCE => lines.push(format!("outbox worker: ok (last round {}ms ago)", d.as_millis())),
        Some(d) => {
            ready = false;
            lines.push(format!("outbox worker: silent for {}s", d.as_secs()));
        }
        None => {
            ready = false;
            lines.push("outbox worker: not started".to_owned());
        }
    }
    for &platform in &state.platforms {
        let (line, ok) = gateway_line(
            platform,
            &state.metrics.gateway_seen(platform),
            state.gateway_unready_after,
        );
        ready &= ok;
        lines.push(line);
    }
    lines.extend(state.reporter.outbox.roster().readyz_lines(READYZ_GROUPS));
    for (name, task) in state.health.tasks() {
        match task {
            TaskState::Running { restarts: 0 } => lines.push(format!("task {name}: running")),
            TaskState::Running { restarts } => lines.push(format!("task {name}: running (restarted {restarts}×)")),
            TaskState::Done => lines.push(format!("task {name}: done")),
            TaskState::Restarting { error, .. } => {
                ready = false;
                lines.push(format!("task {name}: down, restarting: {error}"));
            }
            TaskState::Down { reason } => {
                ready = false;
                lines.push(format!("task {name}: down: {reason}"));
            }
        }
    }
    if let Some((dead, skipped)) = counts {
        lines.push(if dead == 0 {
            "dead letters: 0".to_owned()
        } else {
            format!(
                "dead letters: {dead} (list: qunguan audit --dead-letters; send again: qunguan audit --dead-letters --retry)"
            )
        });
        if skipped > 0 {
            lines.push(format!(
                "skipped events: {skipped} (failed repeatedly; kept in the store's state runtime.skipped)"
            ));
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = lines.join("\n");
    body.push('\n');
    (status, body).into_response()
}

/// `/readyz`'s line about one platform's gateway, and whether it lets the daemon be ready:
/// a gateway that has failed every call for `unready_after` (non-zero) does not.
fn gateway_line(platform: Platform, seen: &GatewaySeen, unready_after: Duration) -> (String, bool) {
    let name = platform.prefix();
    let error = seen.last_error.as_ref().map_or("", |(_, e)| e.as_str());
    match (seen.failing_since, seen.last_ok) {
        (Some(since), _) => {
            let failing = since.elapsed();
            let down = !unready_after.is_zero() && failing >= unready_after;
            let verdict = if down { "down" } else { "failing" };
            (
                format!(
                    "gateway {name}: {verdict}, every call failed for {}s: {error}",
                    failing.as_secs()
                ),
                !down,
            )
        }
        (None, Some(ok)) => (
            format!("gateway {name}: ok (last call {}s ago)", ok.elapsed().as_secs()),
            true,
        ),
        (None, None) => (format!("gateway {name}: no call yet"), true),
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    days: Option<i64>,
}

async fn stats_page(
    State(state): State<AdminState>,
    Path(group): Path<String>,
    Query(query): Query<PageQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !crate::runtime::console::may_read(&state.auth, &headers) {
        if state.auth.console_on() {
            return axum::response::Redirect::to("/console/login").into_response();
        }
        return (
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer <[console] api_token>\n",
        )
            .into_response();
    }
    let group: GroupId = match group.parse() {
        Ok(g) => g,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("{e}; write the group like qq:726300112 or tg:-1001234567890\n"),
            )
                .into_response();
        }
    };
    let span = query.days.unwrap_or(PAGE_DAYS);
    if !(1..=PAGE_DAYS_MAX).contains(&span) {
        return (
            StatusCode::BAD_REQUEST,
            format!("days must be between 1 and {PAGE_DAYS_MAX}\n"),
        )
            .into_response();
    }
    let now = state.clock.now();
    let (summary, name) = match state.reporter.summary(group, now).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%group, error = %e, "stats page: cannot read the statistics");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the statistics; see the log\n",
            )
                .into_response();
        }
    };
    let reporter = state.reporter.clone();
    let today = reporter.stats.date_of(now);
    let from = today.checked_sub(jiff::Span::new().days(span - 1)).unwrap_or(today);
    let read = tokio::task::spawn_blocking(move || reporter.stats.days(&reporter.store, group, from, today)).await;
    let stored = match read {
        Ok(Ok(days)) => days,
        Ok(Err(e)) => {
            tracing::error!(%group, error = %e, "stats page: cannot read the statistics");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the statistics; see the log\n",
            )
                .into_response();
        }
        Err(e) => {
            tracing::error!(%group, error = %e, "stats page: the read failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the statistics; see the log\n",
            )
                .into_response();
        }
    };
    let days = crate::service::stats::every_day(from, today, stored);
    let tiers = state.reporter.tier_rows(group, now).await;
    let account = state.reporter.outbox.roster().keeper(group).map(|a| a.to_string());
    let rules = state.rules.load();
    let html = page::render(&PageData {
        filter: &rules.filter,
        account: account.as_deref(),
        group,
        name: name.as_deref(),
        days: &days,
        summary: &summary,
        last_is_today: true,
        tiers: tiers.as_deref(),
    });
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn seen(ok_ago: Option<u64>, failing_for: Option<u64>) -> GatewaySeen {
        let ago = |s: u64| Instant::now().checked_sub(Duration::from_secs(s)).expect("uptime");
        GatewaySeen {
            last_ok: ok_ago.map(ago),
            last_error: failing_for.map(|s| {
                (
                    ago(s),
                    "POST http://127.0.0.1:3000/delete_msg: connection refused".into(),
                )
            }),
            failing_since: failing_for.map(ago),
        }
    }

    #[test]
    fn a_gateway_failing_past_unready_after_makes_readyz_fail() {
        let five_min = Duration::from_secs(300);
        let (line, ok) = gateway_line(Platform::Qq, &seen(Some(400), Some(301)), five_min);
        assert!(!ok);
        assert!(line.starts_with("gateway qq: down, every call failed for 301s: POST http://127.0.0.1:3000/delete_msg: connection refused"), "{line}");
        // Failing, but not for long enough yet.
        let (line, ok) = gateway_line(Platform::Telegram, &seen(None, Some(10)), five_min);
        assert!(
            ok && line.starts_with("gateway tg: failing, every call failed for 10s"),
            "{line}"
        );
        // 0s: reported, never fatal.
        assert!(gateway_line(Platform::Qq, &seen(None, Some(10_000)), Duration::ZERO).1);
        // Answering, or not asked yet.
        assert_eq!(
            gateway_line(Platform::Qq, &seen(Some(3), None), five_min),
            ("gateway qq: ok (last call 3s ago)".to_owned(), true)
        );
        assert_eq!(
            gateway_line(Platform::Qq, &seen(None, None), five_min),
            ("gateway qq: no call yet".to_owned(), true)
        );
    }
}
