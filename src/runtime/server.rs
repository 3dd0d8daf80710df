//! The public HTTP listener: gateway webhooks and `/healthz` (the admin listener is
//! [`crate::runtime::admin`]). It is served by [`crate::runtime::listen`] (connection cap,
//! header and idle timeouts); [`guarded`] adds what both listeners share: `/healthz` fails
//! with the watchdog's reason once it gave up on the store, and every refused request (any
//! 4xx) is counted and logged at a bounded rate ([`crate::runtime::health::Refusals`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::domain::metrics::{Metrics, Webhook};
use crate::gateway::Refusal;
use crate::gateway::onebot::webhook::{self, WebhookState};
use crate::gateway::telegram;
use crate::runtime::health::Health;

/// Builds the router of the public listener: the webhook of each enabled gateway (one path
/// for every OneBot account; one per Telegram bot in webhook mode, `(path, state)`) and
/// `/healthz`.
pub fn router(
    settings: &Settings,
    onebot: Option<WebhookState>,
    telegram: Vec<(String, telegram::WebhookState)>,
) -> Router {
    let mut app = Router::new().route("/healthz", get(healthz));
    if let Some(state) = onebot {
        let path = settings.gateway.onebot.webhook_path.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        let route = Router::new().route(path, post(webhook::receive));
        // NapCat and friends are often configured with a trailing slash; accept both.
        let route = if path == "/" {
            route
        } else {
            route.route(&format!("{path}/"), post(webhook::receive))
        };
        app = app.merge(route.with_state(state));
    }
    for (path, state) in telegram {
        let route = Router::new().route(&path, post(telegram::webhook::receive));
        app = app.merge(route.with_state(state));
    }
    app.layer(DefaultBodyLimit::max(settings.server.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.server.request_timeout.get().max(Duration::from_secs(1)),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
}

/// Which webhook a request path is, for `qunguan_webhook_duration_seconds`.
#[derive(Clone, Debug)]
struct WebhookPaths {
    onebot: String,
    telegram: Vec<String>,
}

impl WebhookPaths {
    fn new(settings: &Settings) -> Self {
        Self {
            onebot: settings.gateway.onebot.webhook_path.trim_end_matches('/').to_owned(),
            telegram: settings
                .gateway
                .telegram
                .bots()
                .into_iter()
                .map(|bot| bot.settings.webhook_path)
                .collect(),
        }
    }

    fn of(&self, path: &str) -> Option<Webhook> {
        if self.telegram.iter().any(|p| path == p) {
            Some(Webhook::Telegram)
        } else if path.trim_end_matches('/') == self.onebot {
            Some(Webhook::OneBot)
        } else {
            None
        }
    }
}

/// Wraps the public router: what [`guarded`] does, and each webhook request's time to answer
/// is recorded in `metrics` (`qunguan_webhook_duration_seconds`; other paths are not timed).
/// One middleware rather than two: each clones and boxes the service behind it per request.
pub fn guarded_and_timed(router: Router, settings: &Settings, metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    let paths = WebhookPaths::new(settings);
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let webhook = paths.of(request.uri().path());
        let metrics = Arc::clone(&metrics);
        let health = Arc::clone(&health);
        async move {
            if let Some(refused) = stalled(&request, &health) {
                return refused;
            }
            let (method, uri) = (request.method().clone(), request.uri().clone());
            let started = Instant::now();
            let response = next.run(request).await;
            if let Some(webhook) = webhook {
                metrics.webhook_latency(webhook, started.elapsed());
            }
            count_refusal(&health, &method, &uri, &response);
            response
        }
    }))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Wraps a listener's router: `/healthz` answers 503 with the reason once the store watchdog
/// gave up (the process is about to exit), and every 4xx answer is counted by status and
/// logged at a bounded rate, with the reason a handler attached ([`Refusal`]).
pub fn guarded(router: Router, health: Arc<Health>) -> Router {
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let health = Arc::clone(&health);
        async move {
            if let Some(refused) = stalled(&request, &health) {
                return refused;
            }
            // Kept for the log line of a refusal; cloning a parsed `Uri` shares its bytes.
            let (method, uri) = (request.method().clone(), request.uri().clone());
            let response = next.run(request).await;
            count_refusal(&health, &method, &uri, &response);
            response
        }
    }))
}

/// `/healthz`'s 503 once the store watchdog gave up.
fn stalled(request: &Request, health: &Health) -> Option<Response> {
    if request.uri().path() != "/healthz" {
        return None;
    }
    let reason = health.stalled()?;
    Some((StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response())
}

/// Counts and logs (at a bounded rate) a 4xx answer, with the reason a handler attached.
fn count_refusal(health: &Health, method: &Method, uri: &Uri, response: &Response) {
    let status = response.status();
    if status.is_client_error() {
        let detail = response.extensions().get::<Refusal>().map_or_else(
            || {
                let path = uri.path();
                format!("{method} {path}: {}", status.canonical_reason().unwrap_or("refused"))
            },
            |r| r.0.clone(),
        );
        health.refusals.record(status.as_str(), &detail);
    }
}
