//! Who the owners and admins of each chat are, cached.
//!
//! Telegram messages do not say whether their sender is an admin, but the pipeline needs it
//! for every message (admins are exempt from the filter and may run admin commands). So the
//! adapter asks `getChatAdministrators` once per chat and trusts the answer for
//! `admin_cache_ttl`; `chat_member` updates (promotions, demotions) change the cached list in
//! between, without a call. A lookup that hits the cache is a read lock and a hash lookup.
//!
//! Network calls stay off the message path wherever possible: only the first message of a
//! chat waits for the list (one fetch per chat, however many messages arrive at once). When
//! a list has expired, lookups keep answering from it while one background task fetches a
//! fresh one. If a fetch fails, the old list (or, with none, "everyone is a member") is used
//! and the chat is asked again after [`RETRY_AFTER_FAILURE`] rather than on every message.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::client::TelegramClient;
use super::update::AdminChange;
use crate::domain::clock::SharedClock;
use crate::domain::event::Role;

/// How soon a chat whose list could not be fetched is asked again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The cached admin lists of every chat seen.
pub struct AdminCache {
    client: Arc<TelegramClient>,
    clock: SharedClock,
    ttl_ms: i64,
    chats: RwLock<HashMap<i64, Admins>>,
    /// One fetch at a time per chat, for the first lookups of a chat.
    first_fetch: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Chats whose expired list is being fetched again in the background.
    refreshing: Mutex<HashSet<i64>>,
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

/// What the cache knows about a member.
enum Lookup {
    /// From a list within its TTL.
    Fresh(Role),
    /// From an expired list.
    Stale(Role),
    /// Nothing: the chat's list was never fetched.
    Missing,
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
            first_fetch: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
        }
    }

    /// The role of `user_id` in `chat_id`. Waits for a fetch only for a chat never seen.
    pub async fn role(self: &Arc<Self>, chat_id: i64, user_id: i64) -> Role {
        match self.lookup(chat_id, user_id) {
            Lookup::Fresh(role) => role,
            Lookup::Stale(role) => {
                self.refresh_in_background(chat_id);
                role
            }
            Lookup::Missing => {
                let lock = {
                    let mut first = self.first_fetch.lock().unwrap_or_else(PoisonError::into_inner);
                    Arc::clone(first.entry(chat_id).or_default())
                };
                let _one_at_a_time = lock.lock().await;
                // Another task may have fetched it while this one waited.
                if let Lookup::Fresh(role) | Lookup::Stale(role) = self.lookup(chat_id, user_id) {
                    return role;
                }
                self.fetch(chat_id).await;
                match self.lookup(chat_id, user_id) {
                    Lookup::Fresh(role) | Lookup::Stale(role) => role,
                    Lookup::Missing => Role::Member,
                }
            }
        }
    }

    fn lookup(&self, chat_id: i64, user_id: i64) -> Lookup {
        let chats = self.chats.read().unwrap_or_else(PoisonError::into_inner);
        let Some(admins) = chats.get(&chat_id) else {
            return Lookup::Missing;
        };
        let role = admins.roles.get(&user_id).copied().unwrap_or_default();
        if self.clock.now().as_millisecond() < admins.expires_ms {
            Lookup::Fresh(role)
        } else {
            Lookup::Stale(role)
        }
    }

    /// Starts one background fetch of `chat_id`'s list, unless one is running.
    fn refresh_in_background(self: &Arc<Self>, chat_id: i64) {
        if !self
            .refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chat_id)
        {
            return;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            cache.fetch(chat_id).await;
            cache
                .refreshing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&chat_id);
        });
    }

    /// Fetches `chat_id`'s list and stores it; on failure keeps what is known and schedules
    /// the next try.
    async fn fetch(&self, chat_id: i64) {
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
                    known = entry.roles.len(),
                    "telegram: cannot fetch the admin list; using what is known until the next try"
                );
                let retry = i64::try_from(RETRY_AFTER_FAILURE.as_millis()).unwrap_or(i64::MAX);
                entry.expires_ms = now.saturating_add(retry);
            }
        }
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
        tracing::debug!(
            chat = change.chat_id,
            user = change.user_id,
            role = change.role.map(Role::as_str),
            "telegram: admin list updated"
        );
    }
}
