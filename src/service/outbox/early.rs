//! Recalls sent before their record is durable, and what the worker still owes them.
//!
//! The worker sends a recall it finds in the store's feed ([`crate::store::outbox::Outbox::peek_moderation`])
//! at once, without waiting for the flush of the unit that wrote it. The recall's stored item
//! arrives later, through the feed, once on disk; by then this map says what became of the
//! early call, so the worker writes the delivered mark without sending it again (or, if the
//! call failed, schedules its retry as for any failed first attempt).
//!
//! An entry lives from the early call until its delivered mark is on disk. A group has at most
//! [`PER_GROUP`] such entries, so after a crash at most that many early recalls per group are
//! repeated (their events are redelivered, or their items are still pending). The map holds at most
//! `[outbox] early_recalls` entries; a recall that finds it full waits for its flush as any
//! other action does. An entry whose item never arrives (its unit never reached the disk,
//! or the store was reopened meanwhile) is forgotten after [`FORGET_AFTER_MS`], once every commit
//! so far is on disk (before that, its item may still come).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::domain::bounds::Bound;
use crate::domain::event::GroupId;
use crate::gateway::GatewayError;

/// How many early recalls one group may have without a durable delivered mark: after a crash,
/// at most this many recalls per group are sent again, besides the group's one held call
/// (issue 16's budget: a recall is idempotent, a message is never repeated this way). Two: a
/// second offender's recall goes early while the first one's mark is being written
/// (docs/performance.md, "Session 33: recalls that never wait for a flush").
pub(crate) const PER_GROUP: usize = 2;

/// How long a delivered early recall waits for its stored item before it is forgotten (on the
/// injected clock). A unit is on disk within milliseconds, or never.
pub(crate) const FORGET_AFTER_MS: i64 = 60_000;

/// What became of an early call.
#[derive(Debug)]
pub(crate) enum State {
    /// The call is in flight.
    InFlight,
    /// The gateway acted.
    Delivered,
    /// The call failed; the attempt started at this time (unix ms).
    Failed(i64, GatewayError),
    /// The stored item arrived and its delivered mark is being written.
    Marking,
}

#[derive(Debug)]
struct Entry {
    group: GroupId,
    sent_ms: i64,
    state: State,
}

/// What the worker does with a stored item that arrived through the feed.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// Never sent early: queue it.
    Queue,
    /// Its early call is in flight: hold it (and its group's later items) until it ends.
    Wait,
    /// Delivered early: write its delivered mark, do not send it.
    Delivered,
    /// The early call failed at this time (unix ms): queue it as after a failed attempt.
    Failed(i64, GatewayError),
}

/// The early-sent recalls by sequence number, and each group's (at most [`PER_GROUP`]).
#[derive(Debug)]
pub(crate) struct Early {
    entries: BTreeMap<u64, Entry>,
    groups: HashMap<GroupId, Vec<u64>>,
    /// The first sequence number not yet looked at in the feed.
    next: u64,
    bound: Arc<Bound>,
}

impl Early {
    /// An empty map holding at most `capacity` (0: nothing goes early).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            groups: HashMap::new(),
            next: 0,
            bound: Bound::new("outbox_early", capacity),
        }
    }

    /// Its size, for `/metrics`.
    pub(crate) fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// Off (`[outbox] early_recalls = 0`).
    pub(crate) fn is_off(&self) -> bool {
        self.bound.capacity() == 0
    }

    /// Entries (calls in flight, delivered ones waiting for their item, marks being written).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Early calls that ended and wait for their stored item (delivered or failed): the ones
    /// no other count of the worker holds. A call in flight is among the worker's calls in
    /// flight, and one being marked among its marks, so neither is counted twice.
    pub(crate) fn unsettled(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.state, State::Delivered | State::Failed(..)))
            .count()
    }

    /// The first sequence number not yet looked at in the feed.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Everything before `next` has been looked at.
    pub(crate) fn look_from(&mut self, next: u64) {
        self.next = self.next.max(next);
    }

    /// Whether `seq` (a recall in `group`) may go now; if so it is entered as in flight. Not
    /// when its group has [`PER_GROUP`] early recalls without a durable mark yet, nor when the
    /// map is full (counted as an eviction).
    pub(crate) fn admit(&mut self, seq: u64, group: GroupId, now_ms: i64) -> bool {
        if self.groups.get(&group).is_some_and(|seqs| seqs.len() >= PER_GROUP) {
            return false;
        }
        if self.entries.len() >= self.bound.capacity() {
            self.bound.evict(1);
            return false;
        }
        self.groups.entry(group).or_default().push(seq);
        self.entries.insert(
            seq,
            Entry {
                group,
                sent_ms: now_ms,
                state: State::InFlight,
            },
        );
        self.bound.set_len(self.entries.len());
        true
    }

    /// Whether `seq` was sent early and has no durable delivered mark yet.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.entries.contains_key(&seq)
    }

    /// Whether the early call of `seq` is still in flight.
    pub(crate) fn in_flight(&self, seq: u64) -> bool {
        self.entries
            .get(&seq)
            .is_some_and(|e| matches!(e.state, State::InFlight))
    }

    /// The early call of `seq` ended.
    pub(crate) fn ended(&mut self, seq: u64, result: Result<(), (i64, GatewayError)>) {
        if let Some(entry) = self.entries.get_mut(&seq) {
            entry.state = match result {
                Ok(()) => State::Delivered,
                Err((started_ms, e)) => State::Failed(started_ms, e),
            };
        }
    }

    /// A stored item arrived: what to do with it. A delivered one stays (as being marked,
    /// its group still blocked) until [`Early::settled`]; a failed one is removed.
    pub(crate) fn arrived(&mut self, seq: u64) -> Arrival {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return Arrival::Queue;
        };
        match std::mem::replace(&mut entry.state, State::Marking) {
            State::InFlight => {
                entry.state = State::InFlight;
                Arrival::Wait
            }
            State::Delivered | State::Marking => Arrival::Delivered,
            State::Failed(started_ms, e) => {
                self.remove(seq);
                Arrival::Failed(started_ms, e)
            }
        }
    }

    /// The delivered mark of `seq` is on disk: its entry ends, and its place in its group's
    /// [`PER_GROUP`] is free.
    pub(crate) fn settled(&mut self, seq: u64) {
        self.remove(seq);
    }

    /// Forgets entries whose item has not arrived within [`FORGET_AFTER_MS`] of their call
    /// (their unit never reached the disk), and failed calls as old: counted as evictions.
    /// Calls in flight and marks being written are kept.
    pub(crate) fn forget_stale(&mut self, now_ms: i64) {
        let stale: Vec<u64> = self
            .entries
            .iter()
            .take_while(|(_, e)| now_ms.saturating_sub(e.sent_ms) >= FORGET_AFTER_MS)
            .filter(|(_, e)| matches!(e.state, State::Delivered | State::Failed(..)))
            .map(|(seq, _)| *seq)
            .collect();
        if !stale.is_empty() {
            tracing::debug!(
                forgotten = stale.len(),
                "outbox: early recalls whose record never reached the disk forgotten"
            );
            self.bound.evict(stale.len());
        }
        for seq in stale {
            self.remove(seq);
        }
    }

    /// After the store was reopened (nothing in flight): entries whose item is not among
    /// `pending` will never arrive, and are dropped; the others stay and are matched when the
    /// worker takes the reloaded items in.
    pub(crate) fn retain_pending(&mut self, pending: &dyn Fn(u64) -> bool) {
        let gone: Vec<u64> = self
            .entries
            .iter()
            .filter(|(seq, e)| !matches!(e.state, State::Marking) && !pending(**seq))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in gone {
            self.remove(seq);
        }
    }

    fn remove(&mut self, seq: u64) {
        if let Some(entry) = self.entries.remove(&seq)
            && let Some(seqs) = self.groups.get_mut(&entry.group)
        {
            seqs.retain(|s| *s != seq);
            if seqs.is_empty() {
                self.groups.remove(&entry.group);
            }
        }
        self.bound.set_len(self.entries.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: i64) -> GroupId {
        GroupId::qq(id)
    }

    #[test]
    fn two_early_recalls_per_group_until_their_marks_are_durable() {
        let mut early = Early::new(8);
        assert!(early.admit(1, group(1), 0));
        assert!(early.admit(5, group(1), 0), "a second one while the first is unsettled");
        assert!(!early.admit(2, group(1), 0), "the group already has two unsettled");
        early.settled(5);
        assert!(early.contains(1) && !early.contains(5));
        assert!(early.admit(3, group(2), 0), "another group may");
        assert!(matches!(early.arrived(1), Arrival::Wait), "still in flight");
        assert!(early.in_flight(1));
        early.ended(1, Ok(()));
        assert!(!early.in_flight(1));
        assert!(matches!(early.arrived(1), Arrival::Delivered));
        assert!(early.admit(6, group(1), 0), "the second place was freed");
        assert!(!early.admit(4, group(1), 0), "the first one's mark is not on disk yet");
        early.settled(1);
        assert!(early.admit(4, group(1), 0));
        assert!(matches!(early.arrived(99), Arrival::Queue), "never sent early");
    }

    #[test]
    fn only_ended_calls_waiting_for_their_item_count_as_unsettled() {
        let mut early = Early::new(8);
        assert!(early.admit(1, group(1), 0));
        assert!(early.admit(2, group(2), 0));
        assert_eq!(
            early.unsettled(),
            0,
            "calls in flight are counted with the worker's calls"
        );
        early.ended(1, Ok(()));
        early.ended(2, Err((0, GatewayError::Timeout("POST x".into()))));
        assert_eq!(early.unsettled(), 2, "delivered and failed, their items not yet come");
        assert!(matches!(early.arrived(1), Arrival::Delivered));
        assert_eq!(early.unsettled(), 1, "a mark being written is counted with the marks");
        assert!(matches!(early.arrived(2), Arrival::Failed(..)));
        assert_eq!(early.unsettled(), 0);
    }

    #[test]
    fn a_full_map_sends_nothing_more_early_and_counts_it() {
        let mut early = Early::new(2);
        assert!(early.admit(1, group(1), 0));
        assert!(early.admit(2, group(2), 0));
        assert!(!early.admit(3, group(3), 0));
        assert_eq!((early.len(), early.bound().len(), early.bound().evicted()), (2, 2, 1));
        assert!(Early::new(0).is_off());
    }

    #[test]
    fn a_failed_early_call_hands_its_attempt_to_the_queue_and_frees_the_group() {
        let mut early = Early::new(4);
        assert!(early.admit(1, group(1), 5));
        early.ended(1, Err((5, GatewayError::Timeout("POST x".into()))));
        assert!(matches!(early.arrived(1), Arrival::Failed(5, GatewayError::Timeout(_))));
        assert_eq!(early.len(), 0);
        assert!(early.admit(2, group(1), 6));
    }

    #[test]
    fn delivered_recalls_whose_item_never_arrives_are_forgotten() {
        let mut early = Early::new(4);
        assert!(early.admit(1, group(1), 0));
        assert!(early.admit(2, group(2), 0));
        early.ended(1, Ok(()));
        early.forget_stale(FORGET_AFTER_MS - 1);
        assert_eq!(early.len(), 2, "not yet");
        early.forget_stale(FORGET_AFTER_MS);
        assert_eq!(early.len(), 1, "the call in flight stays");
        assert_eq!(early.bound().evicted(), 1);
        assert!(early.admit(3, group(1), FORGET_AFTER_MS), "its group is free again");
    }
}
