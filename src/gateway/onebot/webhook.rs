//! The OneBot v11 HTTP-POST webhook: verify → parse → pipeline → acknowledge.
//!
//! Status codes tell the gateway what happened: 204 = handled (or deliberately ignored),
//! 401 = signature missing or wrong (nothing applied), 400 = not a OneBot event (logged),
//! 413 = body too large (from the body limit layer), 503 = could not store the event, so the
//! gateway should deliver it again.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{parse_event, signature};
use crate::config::Secret;
use crate::domain::sink::{EventSink, Outcome};
use crate::gateway::Refusal;

/// What the webhook handler needs.
#[derive(Clone, Debug)]
pub struct WebhookState {
    /// Where events go.
    pub sink: Arc<dyn EventSink>,
    /// HMAC key of `X-Signature`; empty = unsigned webhooks accepted.
    pub secret: Secret,
}

/// `POST {webhook_path}`. A refusal (401, 400) carries its reason as a [`Refusal`]; the
/// listener counts and logs it.
pub async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    if !state.secret.is_empty() {
        let header = headers.get("x-signature").map(|v| v.as_bytes());
        if let Err(e) = signature::verify(state.secret.expose().as_bytes(), header, &body) {
            let why = format!("onebot webhook: {e} ({} bytes)", body.len());
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
    match state.sink.handle(&event).await {
        Ok(Outcome::Duplicate) => {
            tracing::debug!(key = %hex::encode(event.key.0), "onebot webhook: duplicate delivery ignored");
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
