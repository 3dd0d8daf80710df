//! Durable items held back behind their group's early recall.
//!
//! While a group's early recall ([`super::early`]) is in flight, the stored items of that
//! group that arrive through the feed — the recall's own item, then the warning and whatever
//! else the group decided after it — wait here in commit order, so a warning never overtakes
//! its recall. When the call ends, the worker takes the group's items back in, in the same
//! order.
//!
//! Items are kept per group, so a wake-up looks at one item per parked group (the one whose
//! early call it waits for) rather than at every parked item. A group's parked items count
//! against the same per-lane bounds as its queue (`[limits] outbox_messages_per_group`,
//! `outbox_moderation_per_group`): an item beyond them is handed back, and the worker gives it
//! up as it gives up one that finds a full lane — it would not have fitted in the queue either.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::queues::Lane;
use crate::config::LimitsSettings;
use crate::domain::bounds::Bound;
use crate::domain::event::GroupId;
use crate::store::OutboxItem;

/// One group's parked items, in commit order, and how many of each lane.
#[derive(Debug, Default)]
struct Group {
    items: VecDeque<(u64, OutboxItem)>,
    messages: usize,
    moderation: usize,
}

/// The parked items of every group whose early recall is in flight.
#[derive(Debug)]
pub(crate) struct Parked {
    groups: HashMap<GroupId, Group>,
    len: usize,
    messages_cap: usize,
    moderation_cap: usize,
    bound: Arc<Bound>,
}

impl Parked {
    /// Nothing parked; a group parks at most what `limits` lets its queue hold.
    pub(crate) fn with_limits(limits: &LimitsSettings) -> Self {
        let (messages_cap, moderation_cap) = (limits.outbox_messages_per_group, limits.outbox_moderation_per_group);
        Self {
            groups: HashMap::new(),
            len: 0,
            messages_cap,
            moderation_cap,
            bound: Bound::new("outbox_parked", messages_cap + moderation_cap),
        }
    }

    /// Its size: items parked over all groups; the capacity is what the groups with parked
    /// items may park together, one group's two lanes each (for `/metrics`, as the queues'
    /// `outbox_queued`).
    pub(crate) fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// True when no group has parked items.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `group` has parked items (its later items must park behind them).
    pub(crate) fn holds(&self, group: GroupId) -> bool {
        self.groups.contains_key(&group)
    }

    /// `group`'s parked moderation actions (everything but the bot's messages), in commit order.
    pub(crate) fn moderation(&self, group: GroupId) -> impl Iterator<Item = (u64, &OutboxItem)> {
        self.groups
            .get(&group)
            .into_iter()
            .flat_map(|g| g.items.iter())
            .filter(|(_, item)| Lane::of(item.action.kind()) == Lane::Moderation)
            .map(|(seq, item)| (*seq, item))
    }

    /// Parks an item behind its group's. An item whose lane already holds its bound is not
    /// parked but handed back, to be given up.
    #[must_use = "an item handed back must be given up"]
    pub(crate) fn park(&mut self, seq: u64, item: OutboxItem) -> Option<(u64, OutboxItem)> {
        let lane = Lane::of(item.action.kind());
        let group = self.groups.entry(item.action.group()).or_default();
        let (count, cap) = match lane {
            Lane::Messages => (&mut group.messages, self.messages_cap),
            Lane::Moderation => (&mut group.moderation, self.moderation_cap),
        };
        if *count >= cap {
            if group.items.is_empty() {
                self.groups.remove(&item.action.group());
            }
            self.bound.evict(1);
            return Some((seq, item));
        }
        *count += 1;
        group.items.push_back((seq, item));
        self.len += 1;
        self.publish();
        None
    }

    /// The groups with parked items, each with the sequence number of its first one (the
    /// item whose early call the group waits for).
    pub(crate) fn heads(&self) -> Vec<(GroupId, u64)> {
        self.groups
            .iter()
            .filter_map(|(group, parked)| parked.items.front().map(|(seq, _)| (*group, *seq)))
            .collect()
    }

    /// Takes all of `group`'s parked items, in commit order.
    pub(crate) fn take(&mut self, group: GroupId) -> VecDeque<(u64, OutboxItem)> {
        let items = self.groups.remove(&group).map(|g| g.items).unwrap_or_default();
        self.len -= items.len();
        self.publish();
        items
    }

    /// Forgets every parked item (the store was reopened: they are in the outbox read again).
    pub(crate) fn clear(&mut self) {
        self.groups.clear();
        self.len = 0;
        self.publish();
    }

    /// Updates the bound: the items parked, and what the groups parking them may park.
    fn publish(&self) {
        self.bound.set_len(self.len);
        let per_group = self.messages_cap + self.moderation_cap;
        self.bound.set_capacity(per_group * self.groups.len().max(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::{Action, OutgoingMessage};

    fn limits(messages: usize, moderation: usize) -> LimitsSettings {
        LimitsSettings {
            outbox_messages_per_group: messages,
            outbox_moderation_per_group: moderation,
            ..LimitsSettings::default()
        }
    }

    fn recall(group: i64, message: i64) -> OutboxItem {
        OutboxItem::new(
            Action::Recall {
                group: GroupId::qq(group),
                message_id: message,
            },
            0,
        )
    }

    fn warning(group: i64) -> OutboxItem {
        OutboxItem::new(
            Action::Send {
                group: GroupId::qq(group),
                message: OutgoingMessage::text("warning"),
                reply_to: None,
            },
            0,
        )
    }

    #[test]
    fn a_group_takes_back_its_items_in_commit_order() {
        let mut parked = Parked::with_limits(&limits(4, 4));
        assert!(parked.park(3, recall(1, 30)).is_none());
        assert!(parked.park(4, warning(1)).is_none());
        assert!(parked.park(9, recall(2, 90)).is_none());
        assert!(parked.park(5, recall(1, 50)).is_none());
        assert!(parked.holds(GroupId::qq(1)) && parked.holds(GroupId::qq(2)));
        let mut heads = parked.heads();
        heads.sort_unstable();
        assert_eq!(
            heads,
            vec![(GroupId::qq(1), 3), (GroupId::qq(2), 9)],
            "one head per group"
        );
        assert_eq!(parked.bound().len(), 4);
        let taken: Vec<u64> = parked.take(GroupId::qq(1)).into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(taken, vec![3, 4, 5]);
        assert!(!parked.holds(GroupId::qq(1)));
        assert_eq!(parked.bound().len(), 1);
        parked.clear();
        assert!(parked.is_empty() && parked.heads().is_empty());
        assert_eq!(parked.bound().len(), 0);
    }

    #[test]
    fn a_group_parks_at_most_what_its_lanes_hold_and_hands_back_the_rest() {
        let mut parked = Parked::with_limits(&limits(1, 2));
        assert!(parked.park(1, recall(1, 10)).is_none());
        assert!(parked.park(2, recall(1, 20)).is_none());
        let back = parked.park(3, recall(1, 30)).map(|(seq, _)| seq);
        assert_eq!(back, Some(3), "the moderation lane is full");
        assert!(parked.park(4, warning(1)).is_none(), "the messages lane is not");
        assert_eq!(parked.park(5, warning(1)).map(|(seq, _)| seq), Some(5));
        assert!(
            parked.park(6, recall(2, 60)).is_none(),
            "another group has bounds of its own"
        );
        assert_eq!((parked.bound().len(), parked.bound().evicted()), (4, 2));
        assert_eq!(parked.bound().capacity(), 6, "two groups' lanes");
        parked.take(GroupId::qq(1));
        assert_eq!(parked.bound().capacity(), 3, "one group's lanes");
    }

    #[test]
    fn a_group_with_no_room_at_all_parks_nothing() {
        let mut parked = Parked::with_limits(&limits(0, 0));
        assert!(parked.park(1, recall(1, 10)).is_some());
        assert!(!parked.holds(GroupId::qq(1)), "no empty group is left behind");
        assert!(parked.is_empty());
    }
}
