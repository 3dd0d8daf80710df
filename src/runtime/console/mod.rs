//! The operators' console (`/console/…`) and its JSON API (`/api/v1/…`) on the admin
//! listener: see every group, review what the bot did, undo a mistake, try a message against
//! the rules, reload them, and check the daemon's health — from a browser, without a shell.
//!
//! - [`auth`] — the password, sessions, CSRF tokens, the API token and the login rate limit;
//! - [`data`] — what the pages and the API show, gathered once for both;
//! - `pages` — the HTML, rendered on the server with maud: no JavaScript build step, no
//!   asset from anywhere (the Content-Security-Policy forbids every fetch), a few lines of
//!   inline script that only make things quicker (filter and sort the groups table as you
//!   type, ask before an Undo) — every page works without them;
//! - [`api`] — the JSON API (`docs/api.md`).
//!
//! | path                          | what                                            |
//! |-------------------------------|-------------------------------------------------|
//! | `GET/POST /console/login`     | the login form; `POST` checks `password`        |
//! | `POST /console/logout`        | ends the session                                |
//! | `GET /console/`               | every group the instance keeps                  |
//! | `GET /console/g/<group>`      | one group: charts, violations, strikes, quiet members, posts |
//! | `GET /console/audit`          | every case, filtered; Undo                      |
//! | `POST /console/undo`          | the Undo button (form: `group`, `case`)         |
//! | `GET /console/review`         | the latest flagged messages                     |
//! | `GET /console/rules`          | loaded lists, last reload, explain box, Reload  |
//! | `POST /console/rules/reload`, `POST /console/rules/explain` | the Rules page's buttons |
//! | `GET /console/health`         | gateways, outbox, version, uptime               |
//!
//! Unauthenticated page requests are redirected (303) to the login page; API requests get
//! 401. Bans and the learned-sample review are not here: this instance keeps no ban list
//! and no samples yet.

pub mod api;
pub mod auth;
pub mod data;
mod pages;
pub mod text;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};

use crate::config::Settings;
use crate::config::rules::RulesHandle;
use crate::domain::clock::SharedClock;
use crate::domain::metrics::Metrics;
use crate::service::pipeline::Pipeline;
use crate::store::Store;

/// The largest request body the console and the API accept.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the console's handlers read.
#[derive(Clone)]
pub struct ConsoleState {
    /// The configuration (locale, inactivity, configured groups).
    pub settings: Arc<Settings>,
    /// The database.
    pub store: Store,
    /// The live rules.
    pub rules: RulesHandle,
    /// Policies, statistics, inactivity and the outbox handle.
    pub pipeline: Arc<Pipeline>,
    /// The daemon's counters (reload outcome, gateway errors).
    pub metrics: Arc<Metrics>,
    /// Now.
    pub clock: SharedClock,
    /// Sessions, tokens and the login rate limit.
    pub auth: Arc<auth::Auth>,
    /// When the daemon started.
    pub started: Instant,
}

impl std::fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleState")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// The client's address, as the connection shows it.
#[derive(Clone, Copy, Debug)]
pub struct Client(pub IpAddr);

/// Tags every request with its [`Client`] address.
async fn tag_client(mut request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    request.extensions_mut().insert(Client(ip));
    next.run(request).await
}

/// The console's and the API's routes.
pub fn router(state: ConsoleState) -> Router {
    let pages = Router::new()
        .route("/console/", get(pages::groups))
        .route("/console/g/{group}", get(pages::group))
        .route("/console/audit", get(pages::audit))
        .route("/console/undo", post(pages::undo))
        .route("/console/review", get(pages::review))
        .route("/console/rules", get(pages::rules))
        .route("/console/rules/reload", post(pages::reload))
        .route("/console/rules/explain", post(pages::explain))
        .route("/console/health", get(pages::health))
        .route("/console/logout", post(pages::logout))
        .route("/console/{*rest}", any(pages::not_found))
        .route_layer(middleware::from_fn_with_state(state.clone(), pages::require_session));
    let api = Router::new()
        .route("/api/v1/groups", get(api::groups))
        .route("/api/v1/groups/{group}", get(api::group))
        .route("/api/v1/cases", get(api::cases))
        .route("/api/v1/cases/{case}/undo", post(api::undo))
        .route("/api/v1/explain", post(api::explain))
        .route("/api/v1/reload", post(api::reload))
        .route("/api/v1/{*rest}", any(api::not_found))
        .route_layer(middleware::from_fn_with_state(state.clone(), api::require_caller));
    Router::new()
        .route("/console", get(pages::to_console))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .merge(pages)
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(tag_client))
        .with_state(state)
}

/// Whether a request may see an admin page that predates the console (`/stats/<group>`):
/// always when nothing can authenticate (the listener is then on loopback), otherwise with a
/// session or the API token.
#[must_use]
pub fn may_read(state: &auth::Auth, headers: &axum::http::HeaderMap) -> bool {
    !state.any() || state.api_caller(headers).is_ok()
}
