//! The OneBot v11 HTTP-POST webhook: verify → parse → pipeline → acknowledge.
//!
//! Status codes tell the gateway what happened: 204 = handled (or deliberately ignored),
//! 401 = signature missing or wrong (nothing applied), 400 = not a OneBot event (logged),
//! 413 = body too large (from the body limit layer), 503 = could not store the event, so the
//! gateway should deliver it again.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::{parse_event, signature};
use crate::config::Secret;
use crate::domain::sink::{EventSink, Outcome};

/// What the webhook handler needs.
#[derive(Clone, Debug)]
pub struct WebhookState {
    /// Where events go.
    pub sink: Arc<dyn EventSink>,
    /// HMAC key of `X-Signature`; empty = unsigned webhooks accepted.
    pub secret: Secret,
}

/// `POST {webhook_path}`
pub async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !state.secret.is_empty() {
        let header = headers.get("x-signature").map(|v| v.as_bytes());
        if let Err(e) = signature::verify(state.secret.expose().as_bytes(), header, &body) {
            tracing::warn!(error = %e, bytes = body.len(), "onebot webhook: refused an event");
            return StatusCode::UNAUTHORIZED;
        }
    }
    let event = match parse_event(&body) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, bytes = body.len(), "onebot webhook: bad request");
            return StatusCode::BAD_REQUEST;
        }
    };
    match state.sink.handle(&event).await {
        Ok(Outcome::Duplicate) => {
            tracing::debug!(key = %hex::encode(event.key.0), "onebot webhook: duplicate delivery ignored");
            StatusCode::NO_CONTENT
        }
        Ok(outcome) => {
            let actions = match outcome {
                Outcome::Acted { actions } => Some(actions),
                _ => None,
            };
            tracing::debug!(outcome = outcome.describe(), actions, "onebot webhook: handled");
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            tracing::error!(error = %e, "onebot webhook: could not store the event; asking for redelivery");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
