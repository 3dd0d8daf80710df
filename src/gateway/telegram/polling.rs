//! Long polling: `getUpdates` in a loop, the offset persisted in the store.
//!
//! Telegram forgets updates once `getUpdates` is called with a higher offset, so the order
//! is: fetch a batch → handle every update (its effects are durable when `handle` returns)
//! → store the next offset and flush → fetch again. A crash before the offset is stored
//! fetches the batch again after the restart, and the store's seen keys make those updates
//! no-ops: nothing is lost and nothing is repeated.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::client::TelegramClient;
use super::inbound::Inbound;
use super::wire::Update;
use crate::domain::sink::{CursorStore, Unavailable};
use crate::gateway::GatewayError;

/// The store's state name of the next `getUpdates` offset (i64, big-endian) of the bot of
/// the single `[gateway.telegram]` section; a bot of `[[gateway.telegram.bots]]` keeps its
/// own, `telegram.offset.<bot id>` ([`offset_state`]): offsets are per bot.
pub const OFFSET_STATE: &str = "telegram.offset";

/// The state name of a listed bot's offset.
#[must_use]
pub fn offset_state(bot_id: i64) -> String {
    format!("{OFFSET_STATE}.{bot_id}")
}

/// Longest pause between failing polls.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(60);
/// Longest pause before fetching a batch again whose effects could not be stored.
const MAX_STORE_BACKOFF: Duration = Duration::from_secs(4);

/// The polling loop of one bot.
#[derive(Debug)]
pub struct Poller {
    /// The API client.
    pub client: Arc<TelegramClient>,
    /// Where updates go.
    pub inbound: Arc<Inbound>,
    /// Where the offset lives.
    pub cursor: Arc<dyn CursorStore>,
    /// The offset's name in `cursor`.
    pub offset_name: String,
    /// How long one long poll waits.
    pub wait: Duration,
}

impl Poller {
    /// Polls until `cancel` fires (`Ok`), or the token is refused (`Err` with why).
    pub async fn run(self, cancel: CancellationToken) -> Result<(), String> {
        // The store read is synchronous: off the async threads.
        let (cursor, name) = (Arc::clone(&self.cursor), self.offset_name.clone());
        let stored = tokio::task::spawn_blocking(move || cursor.load_cursor(&name))
            .await
            .map_err(|e| Unavailable(Box::new(e)))
            .and_then(|loaded| loaded);
        let mut offset = match stored {
            Ok(offset) => offset,
            Err(e) => {
                tracing::error!(error = %e, "telegram: cannot read the stored polling offset; starting from Telegram's");
                None
            }
        };
        tracing::info!(
            offset,
            wait_secs = self.wait.as_secs(),
            "telegram: long polling started"
        );
        let mut failures = 0;
        while !cancel.is_cancelled() {
            let polled = tokio::select! {
                () = cancel.cancelled() => break,
                polled = self.client.get_updates(offset, self.wait) => polled,
            };
            let updates = match polled {
                Ok(updates) => {
                    failures = 0;
                    updates
                }
                Err(e) if is_fatal(&e) => {
                    tracing::error!(error = %e, "telegram: the Bot API rejected gateway.telegram.token; polling stopped. Check the token from @BotFather and restart");
                    return Err(format!("the Bot API rejected gateway.telegram.token: {e}"));
                }
                Err(e) => {
                    failures += 1;
                    let delay = e.retry_after().unwrap_or_else(|| backoff(failures));
                    let hint = if matches!(e, GatewayError::Refused { retcode: 409, .. }) {
                        "; another program is polling with this token, or a webhook was set after qunguan started"
                    } else {
                        ""
                    };
                    tracing::warn!(error = %e, retry_in_ms = crate::domain::logfield::millis(delay), "telegram: getUpdates failed{hint}");
                    if sleep_or_cancel(delay, &cancel).await {
                        break;
                    }
                    continue;
                }
            };
            let before = offset;
            let stopped = self.handle_batch(updates, &mut offset, &cancel).await;
            if offset != before
                && let Some(offset) = offset
                && let Err(e) = self.cursor.save_cursor(&self.offset_name, offset).await
            {
                tracing::error!(error = %e, "telegram: cannot store the polling offset");
            }
            if let Err(e) = stopped {
                failures += 1;
                // The store (or one event) failed, not Telegram: look again soon, so polling
                // resumes within seconds once the store writes again.
                let delay = backoff(failures).min(MAX_STORE_BACKOFF);
                tracing::error!(error = %e, retry_in_ms = crate::domain::logfield::millis(delay), "telegram: could not store an update's effects; fetching it again");
                if sleep_or_cancel(delay, &cancel).await {
                    break;
                }
            }
        }
        tracing::debug!("telegram: long polling stopped");
        Ok(())
    }

    /// Handles `updates` in order, moving `offset` past each one handled. Stops at the first
    /// update whose effects could not be stored (it will be fetched again) or on shutdown.
    async fn handle_batch(
        &self,
        updates: Vec<Value>,
        offset: &mut Option<i64>,
        cancel: &CancellationToken,
    ) -> Result<(), Unavailable> {
        for value in updates {
            if cancel.is_cancelled() {
                break;
            }
            let Some(id) = value.get("update_id").and_then(Value::as_i64) else {
                tracing::warn!("telegram: skipped an update without an update_id");
                continue;
            };
            match serde_json::from_value::<Update>(value) {
                Ok(update) => self.inbound.handle(&update).await?,
                // Fetching it again would not make it parse: skip it, loudly.
                Err(e) => tracing::warn!(update = id, error = %e, "telegram: skipped an update that does not parse"),
            }
            *offset = Some(offset.map_or(id + 1, |o| o.max(id + 1)));
        }
        Ok(())
    }
}

/// A bad token: 401 Unauthorized, or 404 for a token the server cannot even route.
fn is_fatal(e: &GatewayError) -> bool {
    matches!(e, GatewayError::Refused { retcode: 401 | 404, .. })
}

/// 1 s, 2 s, 4 s … up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.saturating_sub(1).min(6)).min(MAX_POLL_BACKOFF)
}

/// Sleeps `delay`; true when `cancel` fired first.
async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = cancel.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
