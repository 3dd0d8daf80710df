//! The worker's in-memory view of the outbox: per group, two lanes in decision order.
//!
//! - The **moderation** lane: recall, mute, unmute, kick, join answers — what protects the
//!   group. The send governor never holds it back.
//! - The **messages** lane: the bot's own posts (warnings, welcomes, answers), paced by the
//!   [`Governor`].
//!
//! A group's actions go out in decision order, one call at a time — and the next only once
//! the worker's record of the previous one is on disk (see [`Queues::finish_held`]) — with one
//! exception:
//! moderation goes first — a moderation action overtakes older messages that are waiting for
//! the governor or for a retry, while a message never overtakes an older moderation action
//! (so a warning never arrives before the recall of the message it is about). A slow or failing
//! group occupies one delivery slot, never the others. Which group to look at next comes from
//! a ready list and a timer heap (backoff, pacing), so picking the next delivery costs the same
//! however long the outbox is.
//!
//! A group's lanes hold at most `[limits] outbox_messages_per_group` messages and
//! `outbox_moderation_per_group` moderation actions in memory. They fill only while the group's
//! deliveries are held back (the governor paces a burst of warnings, the gateway keeps
//! failing); an action arriving at a full lane is handed back by [`Queues::insert`] and the
//! worker gives it up as a dead letter, so memory stays bounded and nothing is lost silently.
//! The newest is the one given up: the queued ones keep their order and their place.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use std::sync::Arc;

use super::governor::Governor;
use crate::config::{LimitsSettings, MaxAgeSettings};
use crate::domain::action::{Action, ActionKind};
use crate::domain::bounds::Bound;
use crate::domain::event::GroupId;
use crate::store::OutboxItem;

/// Which lane an action travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Recall, mute, unmute, kick, join answers.
    Moderation,
    /// The bot's own messages.
    Messages,
}

impl Lane {
    /// The lane of an action kind.
    #[must_use]
    pub fn of(kind: ActionKind) -> Self {
        match kind {
            ActionKind::Send => Self::Messages,
            _ => Self::Moderation,
        }
    }
}

/// A delivery to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The group.
    pub group: GroupId,
    /// The item's sequence number.
    pub seq: u64,
    /// What to do.
    pub action: Action,
}

#[derive(Debug, Default)]
struct GroupQueue {
    moderation: BTreeMap<u64, OutboxItem>,
    messages: BTreeMap<u64, OutboxItem>,
    /// A call of this group is in flight.
    busy: bool,
    /// The group is in the ready list.
    queued: bool,
}

/// What a group should do next.
enum Pick {
    /// Deliver this item now.
    Deliver(u64, Lane),
    /// Nothing is due; look again at this time.
    Wait(i64),
    /// The group has nothing pending.
    Empty,
}

impl GroupQueue {
    /// Moves heads older than their kind allows into `expired`; returns how many.
    fn drop_expired(&mut self, now_ms: i64, max_age: &MaxAgeSettings, expired: &mut Vec<(u64, OutboxItem)>) -> usize {
        let before = expired.len();
        for lane in [Lane::Moderation, Lane::Messages] {
            let entries = self.lane(lane);
            while let Some(entry) = entries.first_entry() {
                if !is_expired(entry.get(), now_ms, max_age) {
                    break;
                }
                expired.push(entry.remove_entry());
            }
        }
        expired.len() - before
    }

    /// The next delivery of this group at `now_ms`: decision order, except that moderation
    /// overtakes older messages held by the governor or a retry (see the module docs).
    fn pick(&self, group: GroupId, now_ms: i64, governor: &mut Governor) -> Pick {
        let moderation = self
            .moderation
            .first_key_value()
            .map(|(seq, item)| (*seq, item.not_before_ms));
        let message = self.messages.first_key_value().map(|(seq, item)| {
            let due = if item.not_before_ms > now_ms {
                item.not_before_ms
            } else {
                governor.next_free(group, now_ms)
            };
            (*seq, due)
        });
        let due = |at: i64| at <= now_ms;
        match (moderation, message) {
            (None, None) => Pick::Empty,
            (Some((seq, at)), None) if due(at) => Pick::Deliver(seq, Lane::Moderation),
            (None, Some((seq, at))) if due(at) => Pick::Deliver(seq, Lane::Messages),
            (Some((_, at)), None) | (None, Some((_, at))) => Pick::Wait(at),
            // The message is older: it goes if it may; if it is held, moderation goes first.
            (Some((m_seq, m_at)), Some((s_seq, s_at))) if s_seq < m_seq => {
                if due(s_at) {
                    Pick::Deliver(s_seq, Lane::Messages)
                } else if due(m_at) {
                    Pick::Deliver(m_seq, Lane::Moderation)
                } else {
                    Pick::Wait(s_at.min(m_at))
                }
            }
            // Moderation is older: later messages never overtake it.
            (Some((m_seq, m_at)), Some(_)) => {
                if due(m_at) {
                    Pick::Deliver(m_seq, Lane::Moderation)
                } else {
                    Pick::Wait(m_at)
                }
            }
        }
    }

    fn lane(&mut self, lane: Lane) -> &mut BTreeMap<u64, OutboxItem> {
        match lane {
            Lane::Moderation => &mut self.moderation,
            Lane::Messages => &mut self.messages,
        }
    }

    fn is_empty(&self) -> bool {
        self.moderation.is_empty() && self.messages.is_empty()
    }
}

/// Pending items of every group, and which group to look at when.
#[derive(Debug)]
pub struct Queues {
    groups: HashMap<GroupId, GroupQueue>,
    ready: VecDeque<GroupId>,
    timers: BinaryHeap<Reverse<(i64, GroupId)>>,
    len: usize,
    /// The most messages and moderation actions one group holds.
    messages_cap: usize,
    moderation_cap: usize,
    /// Items held (all groups); its capacity is one group's (both lanes) times the groups
    /// holding items, at least one group's.
    bound: Arc<Bound>,
}

impl Default for Queues {
    fn default() -> Self {
        Self::with_limits(&LimitsSettings::default())
    }
}

impl Queues {
    /// Empty queues whose groups hold at most what `limits` allows.
    #[must_use]
    pub fn with_limits(limits: &LimitsSettings) -> Self {
        let (messages_cap, moderation_cap) = (limits.outbox_messages_per_group, limits.outbox_moderation_per_group);
        Self {
            groups: HashMap::new(),
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            len: 0,
            messages_cap,
            moderation_cap,
            bound: Bound::new("outbox_queued", messages_cap + moderation_cap),
        }
    }

    /// The queues' size: items held over all groups; the capacity is what the groups holding
    /// items may hold together, one group's two lanes each (for `/metrics`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// Adds an item (a new one, or one loaded at start). Adding a sequence number twice keeps
    /// one copy. An item whose lane is full is not added but handed back, to be given up.
    #[must_use = "an item handed back must be given up (dead letter)"]
    pub fn insert(&mut self, seq: u64, item: OutboxItem) -> Option<(u64, OutboxItem)> {
        let group = item.action.group();
        let lane = Lane::of(item.action.kind());
        let cap = match lane {
            Lane::Messages => self.messages_cap,
            Lane::Moderation => self.moderation_cap,
        };
        let queue = self.groups.entry(group).or_default();
        let entries = queue.lane(lane);
        if entries.len() >= cap && !entries.contains_key(&seq) {
            self.bound.evict(1);
            return Some((seq, item));
        }
        let added = entries.insert(seq, item).is_none();
        if !queue.busy && !queue.queued {
            queue.queued = true;
            self.ready.push_back(group);
        }
        if added {
            self.len += 1;
            self.publish();
        }
        None
    }

    /// Updates the bound: the items held, and what the groups holding them may hold.
    fn publish(&self) {
        self.bound.set_len(self.len);
        let per_group = self.messages_cap + self.moderation_cap;
        self.bound.set_capacity(per_group * self.groups.len().max(1));
    }

    /// Items pending (in flight included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next delivery due at `now_ms`, if any group has one; marks that group busy.
    /// Items older than their kind's age limit are moved to `expired` on the way.
    pub fn next(
        &mut self,
        now_ms: i64,
        governor: &mut Governor,
        max_age: &MaxAgeSettings,
        expired: &mut Vec<(u64, OutboxItem)>,
    ) -> Option<Dispatch> {
        while let Some(Reverse((at, group))) = self.timers.peek().copied() {
            if at > now_ms {
                break;
            }
            self.timers.pop();
            if let Some(queue) = self.groups.get_mut(&group)
                && !queue.busy
                && !queue.queued
            {
                queue.queued = true;
                self.ready.push_back(group);
            }
        }
        while let Some(group) = self.ready.pop_front() {
            let Some(queue) = self.groups.get_mut(&group) else {
                continue;
            };
            queue.queued = false;
            if queue.busy {
                continue;
            }
            let dropped = queue.drop_expired(now_ms, max_age, expired);
            self.len -= dropped;
            self.bound.set_len(self.len);
            match queue.pick(group, now_ms, governor) {
                Pick::Deliver(seq, lane) => {
                    if lane == Lane::Messages {
                        governor.record(group, now_ms);
                    }
                    let action = queue.lane(lane).get(&seq).map(|item| item.action.clone());
                    if let Some(action) = action {
                        queue.busy = true;
                        return Some(Dispatch { group, seq, action });
                    }
                }
                Pick::Wait(at) => self.timers.push(Reverse((at, group))),
                Pick::Empty => {
                    self.groups.remove(&group);
                    self.publish();
                }
            }
        }
        None
    }

    /// True when `group` has a moderation action pending or in flight that concerns `member`
    /// or the whole group ([`concern_meets`]): a recall of `member`'s message sent early would
    /// overtake it. (`None`: a recall of an unknown author, which every action blocks.)
    #[must_use]
    pub fn has_moderation_for(&self, group: GroupId, member: Option<i64>) -> bool {
        self.groups
            .get(&group)
            .is_some_and(|q| q.moderation.values().any(|item| concern_meets(item.concerns(), member)))
    }

    /// The earliest time a waiting group should be looked at again.
    #[must_use]
    pub fn next_wake(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// True when a group is ready to be looked at now.
    #[must_use]
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The delivery of `seq` in `group` succeeded or was given up: removes the item and
    /// returns it. (The worker holds the group instead: [`Queues::finish_held`].)
    #[cfg(test)]
    pub fn finish(&mut self, group: GroupId, seq: u64) -> Option<OutboxItem> {
        let item = self.finish_held(group, seq);
        self.release(group);
        item
    }

    /// The delivery of `seq` in `group` succeeded or was given up: removes the item and
    /// returns it. The group stays busy until [`Queues::release`]: the worker holds a group
    /// until what it records about its last call is on disk.
    pub fn finish_held(&mut self, group: GroupId, seq: u64) -> Option<OutboxItem> {
        let queue = self.groups.get_mut(&group)?;
        let item = queue.moderation.remove(&seq).or_else(|| queue.messages.remove(&seq));
        if item.is_some() {
            self.len -= 1;
            self.publish();
        }
        item
    }

    /// The delivery of `seq` failed and will be retried: `update` changes the stored item
    /// (attempts, backoff); returns the updated copy to persist.
    #[cfg(test)]
    pub fn retry(&mut self, group: GroupId, seq: u64, update: impl FnOnce(&mut OutboxItem)) -> Option<OutboxItem> {
        let item = self.retry_held(group, seq, update);
        self.release(group);
        item
    }

    /// The delivery of `seq` failed and will be retried: `update` changes the stored item
    /// (attempts, backoff); returns the updated copy to persist. The group stays busy until
    /// [`Queues::release`].
    pub fn retry_held(&mut self, group: GroupId, seq: u64, update: impl FnOnce(&mut OutboxItem)) -> Option<OutboxItem> {
        let queue = self.groups.get_mut(&group)?;
        match queue.moderation.get_mut(&seq) {
            Some(item) => Some(item),
            None => queue.messages.get_mut(&seq),
        }
        .map(|item| {
            update(item);
            item.clone()
        })
    }

    /// Failed attempts so far of `seq` in `group`, if it is queued.
    #[must_use]
    pub fn attempts(&self, group: GroupId, seq: u64) -> Option<u32> {
        let queue = self.groups.get(&group)?;
        queue
            .moderation
            .get(&seq)
            .or_else(|| queue.messages.get(&seq))
            .map(|item| item.attempts)
    }

    /// Lets `group` go on: its next item may be dispatched.
    pub fn release(&mut self, group: GroupId) {
        if let Some(queue) = self.groups.get_mut(&group) {
            queue.busy = false;
            if queue.is_empty() {
                self.groups.remove(&group);
                self.publish();
            } else if !queue.queued {
                queue.queued = true;
                self.ready.push_back(group);
            }
        }
    }
}

/// Whether an action concerning `a` and one concerning `b` (members; `None`: the whole
/// group) must keep their decision order: the same member, or either one the whole group.
#[must_use]
pub fn concern_meets(a: Option<i64>, b: Option<i64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn is_expired(item: &OutboxItem, now_ms: i64, max_age: &MaxAgeSettings) -> bool {
    max_age.of(item.action.kind()).is_some_and(|limit| {
        let limit = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(item.created_ms) > limit
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OutboxSettings;
    use crate::domain::action::{Capabilities, OutgoingMessage};

    fn governor(per_minute: u32) -> Governor {
        let settings = OutboxSettings {
            sends_per_minute_per_group: per_minute,
            sends_per_second_total: 1_000,
            ..OutboxSettings::default()
        };
        Governor::new(&settings, std::sync::Arc::new(|_| Capabilities::ONEBOT))
    }

    fn send(group: i64, at: i64) -> OutboxItem {
        OutboxItem::new(
            Action::Send {
                group: GroupId::qq(group),
                message: OutgoingMessage::text("hi"),
                reply_to: None,
            },
            at,
        )
    }

    fn recall(group: i64, message_id: i64, at: i64) -> OutboxItem {
        OutboxItem::new(
            Action::Recall {
                group: GroupId::qq(group),
                message_id,
            },
            at,
        )
    }

    /// Drains every delivery due at `now`, finishing each at once; returns (group, seq) in
    /// the order they were started.
    fn drain(q: &mut Queues, g: &mut Governor, now: i64) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        while let Some(d) = q.next(now, g, &MaxAgeSettings::default(), &mut expired) {
            out.push((d.group.id, d.seq));
            q.finish(d.group, d.seq);
        }
        out
    }

    #[test]
    fn a_group_goes_in_decision_order_when_nothing_holds_it_back() {
        let mut q = Queues::default();
        let mut g = governor(20);
        let _ = q.insert(1, send(7, 0));
        let _ = q.insert(2, recall(7, 100, 0));
        let _ = q.insert(3, send(7, 0));
        let _ = q.insert(4, recall(7, 101, 0));
        assert_eq!(drain(&mut q, &mut g, 0), [(7, 1), (7, 2), (7, 3), (7, 4)]);
        assert!(q.is_empty());
    }

    #[test]
    fn moderation_overtakes_messages_the_governor_holds() {
        let mut q = Queues::default();
        let mut g = governor(1);
        let _ = q.insert(1, send(7, 0));
        let _ = q.insert(2, send(7, 0));
        let _ = q.insert(3, recall(7, 100, 0));
        let _ = q.insert(4, send(7, 0));
        let _ = q.insert(5, recall(7, 101, 0));
        assert_eq!(
            drain(&mut q, &mut g, 0),
            [(7, 1), (7, 3), (7, 5)],
            "message 2 waits a minute"
        );
        assert_eq!(drain(&mut q, &mut g, 60_000), [(7, 2)]);
        assert_eq!(drain(&mut q, &mut g, 120_000), [(7, 4)]);
    }

    #[test]
    fn a_group_has_one_call_in_flight_and_others_proceed_meanwhile() {
        let mut q = Queues::default();
        let mut g = governor(20);
        let mut expired = Vec::new();
        let max = MaxAgeSettings::default();
        let _ = q.insert(1, recall(1, 10, 0));
        let _ = q.insert(2, recall(1, 11, 0));
        let _ = q.insert(3, recall(2, 20, 0));
        let first = q.next(0, &mut g, &max, &mut expired).expect("group 1");
        assert_eq!((first.group.id, first.seq), (1, 1));
        let second = q.next(0, &mut g, &max, &mut expired).expect("group 2 while 1 is busy");
        assert_eq!((second.group.id, second.seq), (2, 3));
        assert_eq!(q.next(0, &mut g, &max, &mut expired), None, "group 1 is still busy");
        q.finish(first.group, first.seq);
        assert_eq!(q.next(0, &mut g, &max, &mut expired).map(|d| d.seq), Some(2));
    }

    #[test]
    fn a_backing_off_recall_holds_back_what_came_after_it_but_not_an_older_message() {
        let mut q = Queues::default();
        let mut g = governor(20);
        let mut expired = Vec::new();
        let max = MaxAgeSettings::default();
        let _ = q.insert(1, recall(1, 10, 0));
        let _ = q.insert(2, send(1, 0));
        let d = q.next(0, &mut g, &max, &mut expired).expect("due");
        q.retry(d.group, d.seq, |item| item.not_before_ms = 5_000);
        assert_eq!(
            q.next(1_000, &mut g, &max, &mut expired),
            None,
            "the warning waits for its recall"
        );
        assert_eq!(q.next_wake(), Some(5_000));
        assert_eq!(
            drain(&mut q, &mut g, 5_000),
            [(1, 1), (1, 2)],
            "order kept after the retry"
        );

        // A message decided before the failing recall is not held back by it.
        let _ = q.insert(3, send(1, 0));
        let _ = q.insert(4, recall(1, 12, 0));
        let _ = q.insert(5, send(1, 0));
        let d = q.next(6_000, &mut g, &max, &mut expired).expect("the older message");
        assert_eq!(d.seq, 3);
        q.finish(d.group, d.seq);
        let d = q.next(6_000, &mut g, &max, &mut expired).expect("the recall");
        q.retry(d.group, d.seq, |item| item.not_before_ms = 9_000);
        assert_eq!(q.next(6_000, &mut g, &max, &mut expired), None);
        assert_eq!(drain(&mut q, &mut g, 9_000), [(1, 4), (1, 5)]);
    }

    #[test]
    fn the_governor_paces_messages_per_group() {
        let mut q = Queues::default();
        let mut g = governor(2);
        for seq in 1..=3 {
            let _ = q.insert(seq, send(1, 0));
        }
        let _ = q.insert(4, send(2, 0));
        let _ = q.insert(5, recall(1, 9, 0));
        assert_eq!(drain(&mut q, &mut g, 0), [(1, 1), (2, 4), (1, 2), (1, 5)]);
        assert_eq!(q.next_wake(), Some(60_000), "the third message waits a minute");
        assert_eq!(drain(&mut q, &mut g, 60_000), [(1, 3)]);
    }

    #[test]
    fn items_older_than_their_kind_allows_are_dropped() {
        let mut q = Queues::default();
        let mut g = governor(20);
        let mut expired = Vec::new();
        let max = MaxAgeSettings::default(); // send: 10 min, recall: no limit
        let _ = q.insert(1, send(1, 0));
        let _ = q.insert(2, recall(1, 5, 0));
        let late = 11 * 60_000;
        let d = q.next(late, &mut g, &max, &mut expired).expect("the recall still goes");
        assert_eq!(d.seq, 2);
        q.finish(d.group, d.seq);
        assert_eq!(q.next(late, &mut g, &max, &mut expired), None);
        assert_eq!(expired.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_lane_hands_back_the_newest_item_while_other_lanes_and_groups_go_on() {
        let limits = LimitsSettings {
            outbox_messages_per_group: 10,
            outbox_moderation_per_group: 10,
            ..LimitsSettings::default()
        };
        let mut q = Queues::with_limits(&limits);
        let bound = q.bound();
        for seq in 1..=10 {
            assert!(q.insert(seq, send(7, 0)).is_none());
        }
        assert_eq!(
            q.insert(11, send(7, 0)).map(|(seq, _)| seq),
            Some(11),
            "the newest is handed back"
        );
        assert!(q.insert(12, recall(7, 5, 0)).is_none(), "the moderation lane has room");
        assert!(q.insert(13, send(8, 0)).is_none(), "another group has room");
        assert!(
            q.insert(5, send(7, 0)).is_none(),
            "an item already queued is kept, not handed back"
        );
        assert_eq!(
            (bound.len(), bound.evicted(), bound.capacity()),
            (12, 1, 40),
            "the capacity is two groups' two lanes"
        );
        assert_eq!(q.len(), 12);
        // Delivering makes room again.
        let mut g = governor(1_000);
        assert_eq!(drain(&mut q, &mut g, 0).len(), 12);
        assert_eq!(
            (bound.len(), bound.capacity()),
            (0, 20),
            "no group holds items: one group's"
        );
        assert!(q.insert(14, send(7, 0)).is_none());
    }
}
