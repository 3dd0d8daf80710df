//! Gateway adapters: events in (webhooks), actions out (HTTP API clients).
//!
//! Each platform lives in its own module and is the only code that knows its wire format:
//! [`onebot`] for QQ through OneBot v11 gateways (NapCat, LLOneBot, Lagrange.OneBot,
//! go-cqhttp). [`Gateways`] routes a neutral [`Action`] to the client of its group's platform
//! and tells the pipeline what each platform can do.

pub mod onebot;

use std::sync::Arc;
use std::time::Duration;

use crate::action::{Action, Capabilities};
use crate::config::Settings;
use crate::event::Platform;

/// Why a gateway call failed, classified so the outbox knows whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No gateway of this platform is configured.
    #[error("no {0:?} gateway is configured")]
    NotConfigured(Platform),
    /// The call did not finish in time. The action may or may not have happened.
    #[error("the gateway did not answer in time")]
    Timeout,
    /// The connection failed (refused, reset, DNS …).
    #[error("could not reach the gateway: {0}")]
    Transport(String),
    /// The gateway answered with a non-success HTTP status.
    #[error("the gateway answered HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Start of the response body, for the log.
        body: String,
    },
    /// The gateway understood the call and refused it (no permission, member not found …).
    #[error("the gateway refused the call (retcode {retcode}): {message}")]
    Refused {
        /// The gateway's return code.
        retcode: i64,
        /// The gateway's explanation.
        message: String,
    },
    /// The platform asks to slow down.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// The answer could not be understood.
    #[error("unexpected answer from the gateway: {0}")]
    Protocol(String),
}

impl GatewayError {
    /// True when trying again later may succeed (timeouts, connection errors, 5xx, rate
    /// limits); false when the same call will fail again (refusals, 4xx, not configured).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) | Self::RateLimited(_) | Self::Protocol(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Self::NotConfigured(_) | Self::Refused { .. } => false,
        }
    }

    /// The delay the platform asked for, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(d) => Some(*d),
            _ => None,
        }
    }
}

/// What a successful call returned that the bot may need later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The id of a message the bot sent.
    pub message_id: Option<i64>,
}

/// The configured gateway clients, one per platform.
#[derive(Clone, Debug, Default)]
pub struct Gateways {
    onebot: Option<Arc<onebot::OneBotClient>>,
}

impl Gateways {
    /// Builds the clients of every enabled gateway.
    pub fn from_settings(settings: &Settings) -> Result<Self, GatewayError> {
        let onebot = if settings.gateway.onebot.enabled {
            Some(Arc::new(onebot::OneBotClient::new(&settings.gateway.onebot)?))
        } else {
            None
        };
        Ok(Self { onebot })
    }

    /// Carries out `action` on its group's platform.
    pub async fn execute(&self, action: &Action) -> Result<Delivery, GatewayError> {
        match action.group().platform {
            Platform::Qq => match &self.onebot {
                Some(client) => client.execute(action).await,
                None => Err(GatewayError::NotConfigured(Platform::Qq)),
            },
            Platform::Telegram => Err(GatewayError::NotConfigured(Platform::Telegram)),
        }
    }

    /// What `platform` can do.
    #[must_use]
    pub fn capabilities(&self, platform: Platform) -> Capabilities {
        match platform {
            Platform::Qq | Platform::Telegram => Capabilities::ONEBOT,
        }
    }
}
