//! One received update, from either transport, through to the pipeline.
//!
//! Webhook and long polling differ only in how updates arrive; both hand each update to
//! [`Inbound::handle`], which translates it, keeps the admin cache current, fills in the
//! sender's role, folds duplicate join reports and runs the pipeline on every event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::admins::AdminCache;
use super::update::{self, Membership, Translated};
use super::wire::Update;
use crate::domain::bounds::Bound;
use crate::domain::event::{EventKey, EventKind};
use crate::domain::sink::{EventSink, Outcome, Unavailable};

/// Two reports of the same join (or leave) dated this close together are one event.
pub const SAME_MEMBERSHIP_WINDOW_SECS: i64 = 60;

/// The Telegram side of the pipeline.
pub struct Inbound {
    bot_id: i64,
    sink: Arc<dyn EventSink>,
    admins: Arc<AdminCache>,
    /// The date and key of the last report of each recent join/leave: at most `[limits]
    /// telegram_recent_joins`; when full, those older than the window go, and if all are
    /// recent, all go (counted as evictions: a duplicate report may then be handled twice,
    /// which the store's seen-keys still catch when both reports carry the same date).
    recent: Mutex<HashMap<Membership, (i64, EventKey)>>,
    recent_bound: Arc<Bound>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// Handles updates of the bot `bot_id` with `sink`, looking roles up in `admins`.
    #[must_use]
    pub fn new(bot_id: i64, sink: Arc<dyn EventSink>, admins: AdminCache) -> Self {
        Self {
            bot_id,
            sink,
            admins: Arc::new(admins),
            recent: Mutex::new(HashMap::new()),
            recent_bound: Bound::new(
                "telegram_recent_joins",
                crate::config::LimitsSettings::default().telegram_recent_joins,
            ),
        }
    }

    /// The bounded structures of the Telegram side (for `/metrics`; their capacities are set
    /// from `[limits]`): the join/leave memory and the admin cache.
    #[must_use]
    pub fn bounds(&self) -> Vec<Arc<Bound>> {
        vec![Arc::clone(&self.recent_bound), self.admins.bound()]
    }

    /// Handles one update; returns once every effect is durable. On an error nothing after
    /// the failed event was handled: deliver the update again (it is idempotent).
    ///
    /// Translating is pure, so an update that makes it panic (a bug meeting a strange update)
    /// would panic again on every delivery: it is skipped with an error in the log, and
    /// polling and the webhook go on. Failures while handling the events are the event sink's
    /// to retry or skip ([`crate::domain::sink`]).
    pub async fn handle(&self, update: &Update) -> Result<(), Unavailable> {
        if let Some(change) = &update.my_chat_member {
            log_bot_rights(change);
        }
        let translated =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| update::translate(update, self.bot_id)));
        let Ok(Translated {
            events,
            admin_change,
            migrated,
        }) = translated
        else {
            tracing::error!(
                update = update.update_id,
                "telegram: translating an update panicked (a bug); skipped it"
            );
            self.sink.skipped(
                &format!("telegram update {}", update.update_id),
                "translating it panicked",
            );
            return Ok(());
        };
        if let Some(change) = admin_change {
            self.admins.apply(change);
        }
        if let Some((old, new)) = migrated {
            tracing::warn!(
                from = %format!("tg:{old}"),
                to = %format!("tg:{new}"),
                "telegram: the group was upgraded to a supergroup and has a new id; strikes recorded \
                 under the old id stay there, and configuration naming the old id must be updated"
            );
        }
        for mut event in events {
            match &mut event.kind {
                EventKind::GroupMessage(msg) if update::needs_role_lookup(msg) => {
                    msg.sender.role = self.admins.role(msg.group.id, msg.sender.user_id).await;
                }
                EventKind::MemberJoined(_) | EventKind::MemberLeft(_) => self.fold_membership(&mut event),
                EventKind::Other(what) => {
                    tracing::debug!(update = update.update_id, %what, "telegram: update not acted on");
                    continue;
                }
                _ => {}
            }
            let key = event.key;
            let outcome = self.sink.handle_owned(event).await?;
            if outcome == Outcome::Duplicate {
                tracing::debug!(update = update.update_id, key = %hex::encode(key.0), "telegram: already handled");
            }
        }
        Ok(())
    }

    /// Gives a join or leave reported again within [`SAME_MEMBERSHIP_WINDOW_SECS`] the key of
    /// the first report, so the store sees a redelivery. The keys already agree when both
    /// reports carry the same date; this covers the ones a second apart.
    fn fold_membership(&self, event: &mut crate::domain::event::Event) {
        let Some((membership, date)) = update::membership_of(event) else {
            return;
        };
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = remember(&mut recent, &self.recent_bound, membership, date, event.key) {
            event.key = key;
        }
    }
}

/// Remembers a join or leave reported at `date` under `key`; returns the key of an earlier
/// report of the same change within [`SAME_MEMBERSHIP_WINDOW_SECS`], if there is one. Holds
/// at most `bound`'s capacity (see [`Inbound`]'s `recent`).
fn remember(
    recent: &mut HashMap<Membership, (i64, EventKey)>,
    bound: &Bound,
    membership: Membership,
    date: i64,
    key: EventKey,
) -> Option<EventKey> {
    if let Some(&(seen, first)) = recent.get(&membership)
        && (date - seen).abs() <= SAME_MEMBERSHIP_WINDOW_SECS
    {
        return Some(first);
    }
    if recent.len() >= bound.capacity() && !recent.contains_key(&membership) {
        recent.retain(|_, (seen, _)| (date - *seen).abs() <= SAME_MEMBERSHIP_WINDOW_SECS);
        if recent.len() >= bound.capacity() {
            bound.evict(recent.len());
            recent.clear();
        }
    }
    recent.insert(membership, (date, key));
    bound.set_len(recent.len());
    None
}

/// Says loudly when the bot was added without the rights moderation needs.
fn log_bot_rights(change: &super::wire::ChatMemberUpdated) {
    let status = &change.new_chat_member;
    let chat = change.chat.id;
    match status.status.as_str() {
        "administrator" => {
            let missing: Vec<&str> = [
                ("delete messages", status.can_delete_messages),
                ("ban users (restrict members)", status.can_restrict_members),
                ("invite users via link (join requests)", status.can_invite_users),
            ]
            .into_iter()
            .filter(|(_, granted)| *granted != Some(true))
            .map(|(right, _)| right)
            .collect();
            if missing.is_empty() {
                tracing::info!(chat = %format!("tg:{chat}"), "telegram: the bot is an admin with every right it needs");
            } else {
                tracing::warn!(chat = %format!("tg:{chat}"), missing = %missing.join(", "), "telegram: the bot is an admin but lacks rights; grant them in the group's admin settings");
            }
        }
        "member" | "restricted" => {
            tracing::warn!(chat = %format!("tg:{chat}"), "telegram: the bot is not an admin here; it cannot delete, mute or remove. Promote it to admin");
        }
        other => tracing::info!(chat = %format!("tg:{chat}"), status = other, "telegram: the bot's membership changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(user_id: i64) -> Membership {
        Membership {
            joined: true,
            chat_id: -100,
            user_id,
        }
    }

    #[test]
    fn duplicate_reports_fold_and_the_memory_holds_at_most_its_capacity() {
        let bound = Bound::new("telegram_recent_joins", 16);
        let mut recent = HashMap::new();
        let key = |n: u8| EventKey([n; 16]);
        assert_eq!(remember(&mut recent, &bound, join(1), 1_000, key(1)), None);
        assert_eq!(
            remember(&mut recent, &bound, join(1), 1_001, key(2)),
            Some(key(1)),
            "a second later: the same join"
        );
        assert_eq!(
            remember(&mut recent, &bound, join(1), 1_100, key(3)),
            None,
            "two minutes later: a new join"
        );
        // Old reports make room for new ones without evictions.
        for user in 2..17 {
            remember(&mut recent, &bound, join(user), 1_100, key(4));
        }
        assert_eq!((bound.len(), bound.evicted()), (16, 0));
        remember(&mut recent, &bound, join(100), 1_300, key(5));
        assert_eq!((bound.len(), bound.evicted()), (1, 0), "all older than the window");
        // Sixteen recent ones fill it: the next empties it (counted).
        for user in 200..216 {
            remember(&mut recent, &bound, join(user), 1_300, key(6));
        }
        assert!(recent.len() <= 16);
        assert_eq!(bound.evicted(), 16);
        assert_eq!(bound.len(), recent.len());
    }
}
