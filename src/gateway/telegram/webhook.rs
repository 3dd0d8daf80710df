//! The Telegram webhook: check the secret token → parse → pipeline → acknowledge.
//!
//! Telegram treats any 2xx as delivered and retries everything else with backoff, so:
//! 204 = handled (or deliberately ignored); 401 = the `X-Telegram-Bot-Api-Secret-Token`
//! header is missing or wrong (nothing applied); 400 = not an update (logged; Telegram would
//! retry, but a body that does not parse never will); 413 = too large (body limit layer);
//! 503 = could not store the effects, deliver again (redelivery is idempotent).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha1::Digest;
use subtle::ConstantTimeEq;

use super::inbound::Inbound;
use super::wire::Update;
use crate::config::Secret;
use crate::gateway::Refusal;

/// The header Telegram sends the configured secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// What the webhook handler needs.
#[derive(Clone)]
pub struct WebhookState {
    inbound: Arc<Inbound>,
    /// SHA-1 of the secret token: compared in constant time, and of a fixed length, so the
    /// comparison reveals neither the token nor its length.
    expected: [u8; 20],
}

impl std::fmt::Debug for WebhookState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookState").finish_non_exhaustive()
    }
}

impl WebhookState {
    /// A handler that accepts deliveries carrying `secret_token`.
    #[must_use]
    pub fn new(inbound: Arc<Inbound>, secret_token: &Secret) -> Self {
        Self {
            inbound,
            expected: digest(secret_token.expose().as_bytes()),
        }
    }

    /// Whether `presented` (the header value, if any) is the secret token.
    #[must_use]
    pub fn accepts(&self, presented: Option<&[u8]>) -> bool {
        matches(&self.expected, presented)
    }
}

fn matches(expected: &[u8; 20], presented: Option<&[u8]>) -> bool {
    presented.is_some_and(|p| bool::from(digest(p).ct_eq(expected)))
}

fn digest(bytes: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(bytes).into()
}

/// `POST {webhook_path}`. A refusal (401, 400) carries its reason as a [`Refusal`]; the
/// listener counts and logs it.
pub async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    if !state.accepts(headers.get(SECRET_HEADER).map(|v| v.as_bytes())) {
        let why = format!(
            "telegram webhook: a delivery {} the secret token ({} bytes)",
            if headers.contains_key(SECRET_HEADER) {
                "with a wrong"
            } else {
                "without"
            },
            body.len()
        );
        return (StatusCode::UNAUTHORIZED, Extension(Refusal(why))).into_response();
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(e) => {
            let why = format!("telegram webhook: not a Bot API update: {e} ({} bytes)", body.len());
            return (StatusCode::BAD_REQUEST, Extension(Refusal(why))).into_response();
        }
    };
    match state.inbound.handle(&update).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(update = update.update_id, error = %e, "telegram webhook: could not store the update; asking for redelivery");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_is_accepted() {
        let expected = digest(b"q9Lr_4xT-2vWm8Zb");
        let accepts = |p: Option<&[u8]>| matches(&expected, p);
        assert!(accepts(Some(b"q9Lr_4xT-2vWm8Zb")));
        for wrong in [&b""[..], b"q9Lr_4xT-2vWm8Z", b"q9Lr_4xT-2vWm8Zbb", b"Q9Lr_4xT-2vWm8Zb"] {
            assert!(!accepts(Some(wrong)), "{wrong:?}");
        }
        assert!(!accepts(None));
    }
}
