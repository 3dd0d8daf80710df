//! The OneBot v11 HTTP-POST webhook: account → verify → parse → pipeline → acknowledge.
//!
//! Status codes tell the gateway what happened: 204 = handled (or deliberately ignored),
//! 401 = signature missing or wrong (nothing applied), 403 = not from a configured account,
//! 400 = not a OneBot event (logged), 413 = body too large (from the body limit layer),
//! 503 = could not store the event, so the gateway should deliver it again.
//!
//! **Accounts.** Every account posts to the same path. With `[[gateway.onebot.accounts]]`
//! the account is the one `X-Self-ID` names: a header naming no configured account is
//! refused with 403 before anything else, the signature is checked with *that* account's
//! secret (so one account's secret never admits another account's events), and the body's
//! `self_id` must be the header's (403 otherwise). The single `[gateway.onebot]` section
//! accepts any `self_id` with its one secret, as before.
//!
//! Two listed accounts in one group both deliver each of its events, each with its own
//! `message_id` (NapCat's ids are per instance) and its own request `flag`. So with listed
//! accounts an event is keyed without the account: [`cross_account_key`], from group, user,
//! time and content, and the second sighting is a duplicate.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::event::cross_account_key;
use super::{parse_event, signature};
use crate::config::{OneBotSettings, Secret};
use crate::domain::sink::{EventSink, Outcome};
use crate::gateway::Refusal;

/// What the webhook handler needs.
#[derive(Clone, Debug)]
pub struct WebhookState {
    /// Where events go.
    pub sink: Arc<dyn EventSink>,
    /// Who may post, and the HMAC key of each.
    pub accounts: Arc<WebhookAccounts>,
}

impl WebhookState {
    /// The webhook of `settings`' accounts, handing events to `sink`.
    #[must_use]
    pub fn new(settings: &OneBotSettings, sink: Arc<dyn EventSink>) -> Self {
        Self {
            sink,
            accounts: Arc::new(WebhookAccounts::from_settings(settings)),
        }
    }
}

/// The accounts the webhook accepts events from.
#[derive(Clone, Debug)]
pub enum WebhookAccounts {
    /// The single `[gateway.onebot]` section: any `self_id`, with this HMAC key (empty =
    /// unsigned webhooks accepted).
    Any(Secret),
    /// `[[gateway.onebot.accounts]]`: only these `self_id`s, each with its own HMAC key.
    Listed(BTreeMap<i64, Secret>),
}

impl WebhookAccounts {
    /// The accounts of `settings`.
    #[must_use]
    pub fn from_settings(settings: &OneBotSettings) -> Self {
        if settings.has_accounts() {
            Self::Listed(
                settings
                    .accounts()
                    .into_iter()
                    .filter_map(|a| a.self_id.map(|id| (id, a.settings.secret)))
                    .collect(),
            )
        } else {
            Self::Any(settings.secret.clone())
        }
    }

    /// The secret to check a request with, and the account it must come from (`None`: any).
    /// `Err` is the reason for a 403.
    fn select(&self, headers: &HeaderMap) -> Result<(&Secret, Option<i64>), String> {
        match self {
            Self::Any(secret) => Ok((secret, None)),
            Self::Listed(accounts) => {
                let header = headers.get("x-self-id").map(|v| String::from_utf8_lossy(v.as_bytes()));
                let Some(header) = header else {
                    return Err("onebot webhook: no X-Self-ID header, so no account to check it with".into());
                };
                let Ok(self_id) = header.trim().parse::<i64>() else {
                    return Err(format!(
                        "onebot webhook: X-Self-ID {:?} is not a number",
                        header.chars().take(24).collect::<String>()
                    ));
                };
                match accounts.get(&self_id) {
                    Some(secret) => Ok((secret, Some(self_id))),
                    None => Err(format!(
                        "onebot webhook: X-Self-ID {self_id} is not a configured account \
                         ([[gateway.onebot.accounts]])"
                    )),
                }
            }
        }
    }
}

/// `POST {webhook_path}`. A refusal (401, 403, 400) carries its reason as a [`Refusal`]; the
/// listener counts and logs it.
///
/// The request is taken whole rather than through the `HeaderMap` extractor, which clones
/// every header of every request; the body is read by [`Bytes`]' extractor as before (so
/// `server.max_body_bytes` still answers 413).
pub async fn receive(State(state): State<WebhookState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut body_request = Request::new(body);
    // The body limit travels in the request's extensions.
    *body_request.extensions_mut() = std::mem::take(&mut parts.extensions);
    let body = match Bytes::from_request(body_request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let headers = &parts.headers;
    let (secret, account) = match state.accounts.select(headers) {
        Ok(selected) => selected,
        Err(why) => return (StatusCode::FORBIDDEN, Extension(Refusal(why))).into_response(),
    };
    if !secret.is_empty() {
        let header = headers.get("x-signature").map(|v| v.as_bytes());
        if let Err(e) = signature::verify(secret.expose().as_bytes(), header, &body) {
            let whose = account.map_or_else(String::new, |id| format!(" (account {id})"));
            let why = format!("onebot webhook: {e}{whose} ({} bytes)", body.len());
            return (StatusCode::UNAUTHORIZED, Extension(Refusal(why))).into_response();
        }
    }
    // Parsing is pure; a panic in it (a bug meeting a strange body) is a bad request, not a 500.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_event(&body)));
    let event = match parsed {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => {
            let why = format!("onebot webhook: not a OneBot event: {e} ({} bytes)", body.len());
            return (StatusCode::BAD_REQUEST, Extension(Refusal(why))).into_response();
        }
        Err(_) => {
            tracing::error!(
                bytes = body.len(),
                "onebot webhook: parsing an event panicked (a bug); refused it"
            );
            let why = format!(
                "onebot webhook: an event that could not be parsed ({} bytes)",
                body.len()
            );
            return (StatusCode::BAD_REQUEST, Extension(Refusal(why))).into_response();
        }
    };
    let event = match account {
        None => event,
        Some(id) if id != event.self_id => {
            let why = format!(
                "onebot webhook: the body's self_id {} is not X-Self-ID {id}",
                event.self_id
            );
            return (StatusCode::FORBIDDEN, Extension(Refusal(why))).into_response();
        }
        Some(_) => crate::domain::event::Event {
            key: cross_account_key(&event).unwrap_or(event.key),
            ..event
        },
    };
    let key = event.key;
    // Given away: the guarded sink moves it to a store thread without a copy.
    match state.sink.handle_owned(event).await {
        Ok(Outcome::Duplicate) => {
            tracing::debug!(key = %hex::encode(key.0), "onebot webhook: duplicate delivery ignored");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(outcome) => {
            let actions = match outcome {
                Outcome::Acted { actions } => Some(actions),
                _ => None,
            };
            tracing::debug!(outcome = outcome.describe(), actions, "onebot webhook: handled");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "onebot webhook: could not store the event; asking for redelivery");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
