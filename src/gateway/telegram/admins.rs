//! Who the owners and admins of each chat are, cached.
//!
//! Telegram messages do not say whether their sender is an admin, but the pipeline needs it
//! for every message (admins are exempt from the filter and may run admin commands). So the
//! adapter asks `getChatAdministrators` once per chat and keeps the answer for
//! `admin_cache_ttl`; `chat_member` updates (promotions, demotions) update the cached list in
//! between, without a call. A lookup that hits the cache is a read lock and a hash lookup.
//!
//! On a miss, one task per chat fetches the list while the others wait for it, so a burst of
//! messages in a new chat makes one call. If the call fails, a stale list is kept, or, with
//! none, everyone counts as a member; either way the chat is asked again after
//! [`RETRY_AFTER_FAILURE`] rather than on every message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::client::TelegramClient;
use super::update::AdminChange;
use crate::clock::SharedClock;
use crate::event::Role;

/// How soon a chat whose list could not be fetched is asked again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The cached admin lists of every chat seen.
pub struct AdminCache {
    client: Arc<TelegramClient>,
    clock: SharedClock,
    ttl_ms: i64,
    chats: RwLock<HashMap<i64, Admins>>,
    /// One fetch at a time per chat.
    fetching: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for AdminCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCache")
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

/// One chat's owners and admins.
#[derive(Clone, Debug, Default)]
struct Admins {
    roles: HashMap<i64, Role>,
    /// Fetch again at or after this time, unix ms.
    expires_ms: i64,
}

impl AdminCache {
    /// An empty cache that fetches through `client` and trusts an answer for `ttl`.
    #[must_use]
    pub fn new(client: Arc<TelegramClient>, clock: SharedClock, ttl: Duration) -> Self {
        Self {
            client,
            clock,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            chats: RwLock::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// The role of `user_id` in `chat_id`: from the cache, or after fetching the chat's list.
    pub async fn role(&self, chat_id: i64, user_id: i64) -> Role {
        if let Some(role) = self.cached(chat_id, user_id) {
            return role;
        }
        let lock = {
            let mut fetching = self.fetching.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(fetching.entry(chat_id).or_default())
        };
        let _one_at_a_time = lock.lock().await;
        // Someone else may have fetched it while this task waited.
        if let Some(role) = self.cached(chat_id, user_id) {
            return role;
        }
        let now = self.clock.now().as_millisecond();
        let fetched = self.client.chat_administrators(chat_id).await;
        let mut chats = self.chats.write().unwrap_or_else(PoisonError::into_inner);
        let entry = chats.entry(chat_id).or_default();
        match fetched {
            Ok(members) => {
                entry.roles = members
                    .iter()
                    .filter_map(|m| match m.status.as_str() {
                        "creator" => Some((m.user.id, Role::Owner)),
                        "administrator" => Some((m.user.id, Role::Admin)),
                        _ => None,
                    })
                    .collect();
                entry.expires_ms = now.saturating_add(self.ttl_ms);
                tracing::debug!(
                    chat = chat_id,
                    admins = entry.roles.len(),
                    "telegram: admin list fetched"
                );
            }
            Err(e) => {
                tracing::warn!(
                    chat = chat_id,
                    error = %e,
                    stale = !entry.roles.is_empty(),
                    "telegram: cannot fetch the admin list; using what is known until the next try"
                );
                let retry = i64::try_from(RETRY_AFTER_FAILURE.as_millis()).unwrap_or(i64::MAX);
                entry.expires_ms = now.saturating_add(retry);
            }
        }
        entry.roles.get(&user_id).copied().unwrap_or_default()
    }

    /// The role from a fresh cached list, if there is one.
    fn cached(&self, chat_id: i64, user_id: i64) -> Option<Role> {
        let chats = self.chats.read().unwrap_or_else(PoisonError::into_inner);
        let admins = chats.get(&chat_id)?;
        (self.clock.now().as_millisecond() < admins.expires_ms)
            .then(|| admins.roles.get(&user_id).copied().unwrap_or_default())
    }

    /// Applies a promotion or demotion reported by a `chat_member` update to a cached list.
    /// A chat without a cached list is left alone: its first lookup fetches a current one.
    pub fn apply(&self, change: AdminChange) {
        let mut chats = self.chats.write().unwrap_or_else(PoisonError::into_inner);
        let Some(admins) = chats.get_mut(&change.chat_id) else {
            return;
        };
        match change.role {
            Some(role) => {
                admins.roles.insert(change.user_id, role);
            }
            None => {
                admins.roles.remove(&change.user_id);
            }
        }
        tracing::debug!(chat = change.chat_id, user = change.user_id, role = ?change.role, "telegram: admin list updated");
    }
}
