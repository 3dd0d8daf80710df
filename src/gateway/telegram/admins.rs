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
//!
//! At most `[limits] telegram_admin_chats` chats are cached: when a new chat would exceed it,
//! the expired lists go first, then arbitrary ones down to 7/8 of the capacity (counted as
//! evictions). An evicted chat's next message waits for one fetch again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::client::TelegramClient;
use super::update::AdminChange;
use crate::domain::bounds::Bound;
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
    /// Chats cached, and the most allowed.
    bound: Arc<Bound>,
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
            bound: Bound::new(
                "telegram_admin_chats",
                crate::config::LimitsSettings::default().telegram_admin_chats,
            ),
        }
    }

    /// The cache's size (for `/metrics`; its capacity is set from `[limits]`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
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
                // Later lookups find the chat cached; the waiters hold their own handle.
                self.first_fetch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&chat_id);
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
        if !chats.contains_key(&chat_id) && chats.len() >= self.bound.capacity() {
            make_room(&mut chats, now, self.bound.capacity(), &self.bound);
        }
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
        self.bound.set_len(chats.len());
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

/// Makes room in a full cache: drops the expired lists, then arbitrary ones down to 7/8 of
/// `capacity` (those count as evictions).
fn make_room(chats: &mut HashMap<i64, Admins>, now_ms: i64, capacity: usize, bound: &Bound) {
    chats.retain(|_, admins| admins.expires_ms > now_ms);
    if chats.len() >= capacity {
        let excess = chats.len() - (capacity - capacity / 8).min(capacity.saturating_sub(1));
        let victims: Vec<i64> = chats.keys().take(excess).copied().collect();
        for chat in &victims {
            chats.remove(chat);
        }
        bound.evict(victims.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_drops_expired_lists_first_then_evicts() {
        let bound = Bound::new("telegram_admin_chats", 16);
        let mut chats: HashMap<i64, Admins> = (0..16)
            .map(|chat| {
                let admins = Admins {
                    roles: HashMap::from([(1, Role::Owner)]),
                    // Half expired at time 100.
                    expires_ms: if chat % 2 == 0 { 50 } else { 500 },
                };
                (chat, admins)
            })
            .collect();
        make_room(&mut chats, 100, 16, &bound);
        assert_eq!((chats.len(), bound.evicted()), (8, 0), "the expired ones went");
        assert!(chats.keys().all(|chat| chat % 2 == 1));
        chats.extend((100..108).map(|chat| {
            (
                chat,
                Admins {
                    roles: HashMap::new(),
                    expires_ms: 500,
                },
            )
        }));
        make_room(&mut chats, 100, 16, &bound);
        assert_eq!((chats.len(), bound.evicted()), (14, 2), "down to 7/8, evicted");
    }
}
