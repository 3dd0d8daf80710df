//! The public HTTP listener: gateway webhooks and `/healthz` (the admin listener is
//! [`crate::runtime::admin`]). It is served by [`crate::runtime::listen`] (connection cap,
//! header and idle timeouts); [`guarded`] adds what both listeners share: `/healthz` fails
//! with the watchdog's reason once it gave up on the store, and every refused request (any
//! 4xx) is counted and logged at a bounded rate ([`crate::runtime::health::Refusals`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
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

/// Wraps the public router so each webhook request's time to answer is recorded in
/// `metrics` (`qunguan_webhook_duration_seconds`). Other paths are not timed.
pub fn timed(router: Router, settings: &Settings, metrics: Arc<Metrics>) -> Router {
    let onebot = settings.gateway.onebot.webhook_path.trim_end_matches('/').to_owned();
    let telegram: Vec<String> = settings
        .gateway
        .telegram
        .bots()
        .into_iter()
        .map(|bot| bot.settings.webhook_path)
        .collect();
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let webhook = if telegram.iter().any(|path| request.uri().path() == path) {
            Some(Webhook::Telegram)
        } else if request.uri().path().trim_end_matches('/') == onebot {
            Some(Webhook::OneBot)
        } else {
            None
        };
        let metrics = Arc::clone(&metrics);
        async move {
            let started = Instant::now();
            let response = next.run(request).await;
            if let Some(webhook) = webhook {
                metrics.webhook_latency(webhook, started.elapsed());
            }
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
            if request.uri().path() == "/healthz"
                && let Some(reason) = health.stalled()
            {
                return (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response();
            }
            let (method, path) = (request.method().clone(), request.uri().path().to_owned());
            let response = next.run(request).await;
            let status = response.status();
            if status.is_client_error() {
                let detail = response.extensions().get::<Refusal>().map_or_else(
                    || format!("{method} {path}: {}", status.canonical_reason().unwrap_or("refused")),
                    |r| r.0.clone(),
                );
                health.refusals.record(status.as_str(), &detail);
            }
            response
        }
    }))
}
