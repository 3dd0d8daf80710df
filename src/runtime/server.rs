//! The public HTTP listener: gateway webhooks and `/healthz` (the admin listener is
//! [`crate::runtime::admin`]). It is served by [`crate::runtime::listen`] (connection cap,
//! header and idle timeouts); [`guarded`] adds what both listeners share: `/healthz` fails
//! with the watchdog's reason once it gave up on the store, and every refused request (any
//! 4xx) is counted and logged at a bounded rate ([`crate::runtime::health::Refusals`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::{Layer, Service, ServiceBuilder};
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
/// `/healthz`, wrapped in what every request goes through, outermost first: [`guarded`]'s
/// checks and each webhook's time to answer recorded in `metrics`
/// (`qunguan_webhook_duration_seconds`; other paths are not timed), a panic caught as a 500,
/// tracing, `[server] request_timeout` and `[server] max_body_bytes`.
///
/// The five are applied as **one** layer. axum wraps each route in every layer given to
/// `Router::layer` separately and boxes each wrapping, and each boxed level is cloned and
/// its future boxed again for every request; with the four tower layers and the guard as
/// five `layer` calls a webhook went through six boxed levels (and the guard, an
/// `axum::middleware::from_fn`, cloned and boxed the service behind it once more). As one
/// [`ServiceBuilder`] stack a request goes through two, with the same order and behaviour.
pub fn router(
    settings: &Settings,
    onebot: Option<WebhookState>,
    telegram: Vec<(String, telegram::WebhookState)>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
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
    let guard = GuardLayer(Arc::new(GuardShared {
        paths: WebhookPaths::new(settings),
        metrics,
        health,
    }));
    app.layer(
        ServiceBuilder::new()
            .layer(guard)
            .layer(CatchPanicLayer::new())
            .layer(TraceLayer::new_for_http())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                settings.server.request_timeout.get().max(Duration::from_secs(1)),
            ))
            .layer(DefaultBodyLimit::max(settings.server.max_body_bytes)),
    )
}

/// What the public listener's guard needs ([`router`]).
#[derive(Debug)]
struct GuardShared {
    paths: WebhookPaths,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// The public listener's guard as a tower layer: [`guarded`]'s checks and the webhooks' time
/// to answer. A layer of its own rather than `axum::middleware::from_fn`, which clones and
/// boxes the service behind it for every request; this one calls it in place.
#[derive(Clone, Debug)]
struct GuardLayer(Arc<GuardShared>);

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            shared: Arc::clone(&self.0),
        }
    }
}

/// [`GuardLayer`]'s service.
#[derive(Clone, Debug)]
struct Guard<S> {
    inner: S,
    shared: Arc<GuardShared>,
}

impl<S, B> Service<Request> for Guard<S>
where
    S: Service<Request, Response = axum::http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        if let Some(refused) = stalled(&request, &shared.health) {
            return Box::pin(std::future::ready(Ok(refused)));
        }
        let webhook = shared.paths.of(request.uri().path());
        // Kept for the log line of a refusal; cloning a parsed `Uri` shares its bytes.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if let Some(webhook) = webhook {
                shared.metrics.webhook_latency(webhook, started.elapsed());
            }
            count_refusal(&shared.health, &method, &uri, &response);
            Ok(response.into_response())
        })
    }
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
fn count_refusal<B>(health: &Health, method: &Method, uri: &Uri, response: &axum::http::Response<B>) {
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
