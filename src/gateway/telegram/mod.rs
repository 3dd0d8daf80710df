//! Telegram through the Bot API: updates in (webhook or long polling), actions out.
//!
//! - `wire` — the Bot API objects qunguan reads.
//! - `update` / `text` — updates → neutral events (pure); entities, UTF-16 offsets and
//!   the text the filter sees.
//! - `inbound` — one update through to the pipeline: roles, admin cache, duplicate joins.
//! - `admins` — `getChatAdministrators`, cached per chat.
//! - `webhook` / [`polling`] — the two transports.
//! - `client` / `html` — actions → API calls; messages → escaped HTML with real mentions.
//!
//! [`TelegramGateway`] ties them together: the app builds one when `[gateway.telegram]` is
//! enabled, mounts its webhook (webhook mode) and runs it as a background task, which
//! registers the webhook, or removes it and polls.

pub(crate) mod admins;
pub(crate) mod client;
pub(crate) mod html;
pub(crate) mod inbound;
pub mod polling;
pub(crate) mod text;
pub(crate) mod update;
pub(crate) mod webhook;
pub(crate) mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use client::TelegramClient;
pub use webhook::WebhookState;

use crate::config::{TelegramMode, TelegramSettings};
use crate::domain::clock::SharedClock;
use crate::domain::sink::{CursorStore, EventSink};
use crate::gateway::GatewayError;

/// The running Telegram side of the daemon. Cloned to run it again after a failure.
#[derive(Clone, Debug)]
pub struct TelegramGateway {
    settings: TelegramSettings,
    client: Arc<TelegramClient>,
    inbound: Arc<inbound::Inbound>,
    cursor: Arc<dyn CursorStore>,
    /// The name of this bot's polling offset in `cursor`.
    offset_name: String,
}

impl TelegramGateway {
    /// Wires the adapter: events go to `sink`, roles are looked up through `client`, the
    /// polling offset is kept in `cursor`.
    #[must_use]
    pub fn new(
        settings: &TelegramSettings,
        client: Arc<TelegramClient>,
        sink: Arc<dyn EventSink>,
        cursor: Arc<dyn CursorStore>,
        clock: SharedClock,
    ) -> Self {
        let admins = admins::AdminCache::new(Arc::clone(&client), clock, settings.admin_cache_ttl.get());
        let inbound = Arc::new(inbound::Inbound::new(client.bot_id(), sink, admins));
        Self {
            settings: settings.clone(),
            client,
            inbound,
            cursor,
            offset_name: polling::OFFSET_STATE.to_owned(),
        }
    }

    /// Keeps this bot's polling offset under `name` (each listed bot has its own,
    /// [`polling::offset_state`]).
    #[must_use]
    pub fn with_offset_name(mut self, name: String) -> Self {
        self.offset_name = name;
        self
    }

    /// This bot's webhook path on the listener, in webhook mode.
    #[must_use]
    pub fn webhook_path(&self) -> Option<&str> {
        (self.settings.mode == TelegramMode::Webhook).then_some(self.settings.webhook_path.as_str())
    }

    /// The bot's id.
    #[must_use]
    pub fn bot_id(&self) -> i64 {
        self.client.bot_id()
    }

    /// Sets the capacities of the bounded structures from `[limits]`.
    #[must_use]
    pub fn with_limits(self, limits: &crate::config::LimitsSettings) -> Self {
        for bound in self.inbound.bounds() {
            match bound.name() {
                "telegram_admin_chats" => bound.set_capacity(limits.telegram_admin_chats),
                _ => bound.set_capacity(limits.telegram_recent_joins),
            }
        }
        self
    }

    /// The bounded structures (for `/metrics`).
    #[must_use]
    pub fn bounds(&self) -> Vec<std::sync::Arc<crate::domain::bounds::Bound>> {
        self.inbound.bounds()
    }

    /// The webhook handler's state, in webhook mode.
    #[must_use]
    pub fn webhook(&self) -> Option<WebhookState> {
        (self.settings.mode == TelegramMode::Webhook)
            .then(|| WebhookState::new(Arc::clone(&self.inbound), &self.settings.secret_token))
    }

    /// Runs until `cancel` fires: says who the bot is, then registers the webhook (webhook
    /// mode; the task ends there) or removes any webhook and long-polls (polling mode).
    /// `Err` says why it gave up (a refused token); a restart would not help.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), String> {
        let gave_up = |what: &str| {
            if cancel.is_cancelled() {
                Ok(())
            } else {
                Err(format!("{what} was refused; see the log"))
            }
        };
        let Some(me) = retry(&cancel, "getMe", || self.client.get_me()).await else {
            return gave_up("getMe");
        };
        let name = me
            .username
            .as_deref()
            .map_or_else(|| me.display_name(), |u| format!("@{u}"));
        let drop_pending = self.settings.drop_pending_updates;
        match self.settings.mode {
            TelegramMode::Webhook => {
                let url = self.settings.webhook_url.as_str();
                let registered = retry(&cancel, "setWebhook", || {
                    self.client.set_webhook(url, &self.settings.secret_token, drop_pending)
                })
                .await;
                if registered.is_none() {
                    return gave_up("setWebhook");
                }
                tracing::info!(bot = %name, %url, path = %self.settings.webhook_path, "telegram: webhook registered");
                Ok(())
            }
            TelegramMode::Polling => {
                if retry(&cancel, "deleteWebhook", || self.client.delete_webhook(drop_pending))
                    .await
                    .is_none()
                {
                    return gave_up("deleteWebhook");
                }
                tracing::info!(bot = %name, "telegram: connected");
                polling::Poller {
                    client: self.client,
                    inbound: self.inbound,
                    cursor: self.cursor,
                    offset_name: self.offset_name,
                    wait: self.settings.poll_timeout.get(),
                }
                .run(cancel)
                .await
            }
        }
    }
}

/// Calls `f` until it succeeds (`Some`), a refusal makes retrying pointless, or `cancel`
/// fires (`None` for both). Transient failures wait 1 s, 2 s, 4 s … up to a minute.
async fn retry<T, F, Fut>(cancel: &CancellationToken, what: &str, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let mut delay = Duration::from_secs(1);
    loop {
        let result = tokio::select! {
            () = cancel.cancelled() => return None,
            result = f() => result,
        };
        match result {
            Ok(value) => return Some(value),
            Err(e) if !e.is_retryable() => {
                let hint = match &e {
                    GatewayError::Refused { retcode: 401 | 404, .. } => {
                        " — the Bot API rejected gateway.telegram.token; check it with @BotFather"
                    }
                    _ => "",
                };
                tracing::error!(error = %e, "telegram: {what} failed{hint}; the Telegram gateway is not running");
                return None;
            }
            Err(e) => {
                let wait = e.retry_after().unwrap_or(delay);
                tracing::warn!(error = %e, retry_in_ms = crate::domain::logfield::millis(wait), "telegram: {what} failed; retrying");
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(wait) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}
