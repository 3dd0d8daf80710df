//! Anti-flood: too many messages, or the same text again and again, from one member.
//!
//! Two limits per group (`[moderation.flood]`, overridable per group): `messages` within
//! `window` (default 8 in 10 s), and the same text `repeats` times within `repeat_window`
//! (default 5 in 60 s). Crossing one is a violation of rule `flood`, and every message counted
//! toward it is recalled.
//!
//! Why 5 repeats and not fewer: in a lively group people repeat short reactions — `哈哈`,
//! `+1`, `收到`, `好的`, a sticker's text — several times a minute without flooding anyone;
//! three `哈哈` in a minute is conversation. A pasted advertisement repeated to flood the chat
//! passes five quickly, and a known one is caught by the word filter at its first copy.
//!
//! **Whose clock.** A message counts at the time the platform says it was sent (OneBot's
//! `time`, Telegram's `date`), not when the webhook brought it: after an outage the gateway
//! delivers what it held back in a burst, and a member who wrote eight messages over five
//! minutes is no flood because they arrive within a second (nor is one replayed stream). A
//! time in the future counts as now. Deliveries out of order are fine: a message sent
//! before the last one counted still falls within the window.
//!
//! The tracker keeps, per member seen recently, a small ring of their last messages: send
//! time, a 32-bit hash of the text and the message id (16 bytes each, at most
//! [`MAX_TRACKED`]; the first three inline in the member's map slot). Observing a message
//! touches one ring under one of a few sharded locks and allocates only when a member posts
//! more than three messages within the window or a flood is found. Members idle longer than
//! the longest window are dropped by a sweep that runs at most once a minute per shard, so
//! memory follows the number of members active in the last minute — up to `[limits]
//! flood_members` (spread over the shards). A shard that is full when a new member posts
//! first drops its members idle longer than the longest window, then those idle longer than
//! the shortest; if everyone is still active it drops arbitrary members down to 7/8 of its
//! share (counted as evictions), so a full shard does not sweep on every message. The worst
//! an eviction does is forget a member's last few messages: one flood may go unseen.
//!
//! The state is in memory: a restart forgets it, which at worst lets one flood through.
//! Messages already punished by the word filter are not counted again.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Deserialize;

use crate::domain::bounds::Bound;
use crate::domain::duration::HumanDuration;
use crate::domain::event::GroupId;

/// `[moderation.flood]`: when a member's messages are a flood. Either limit is off at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodSettings {
    /// This many messages from one member …
    pub messages: u32,
    /// … within this time are a flood.
    pub window: HumanDuration,
    /// The same text this many times from one member …
    pub repeats: u32,
    /// … within this time is a flood.
    pub repeat_window: HumanDuration,
}

impl Default for FloodSettings {
    fn default() -> Self {
        Self {
            messages: 8,
            window: HumanDuration::from_secs(10),
            repeats: 5,
            repeat_window: HumanDuration::from_secs(60),
        }
    }
}

/// The most messages remembered per member; the limits cannot exceed it.
pub const MAX_TRACKED: usize = 16;

const SHARDS: usize = 16;
/// The default of `[limits] flood_members`.
pub const DEFAULT_MEMBERS: usize = 14_336;
const SWEEP_EVERY_MS: i64 = 60_000;

/// Which limit was crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloodKind {
    /// Too many messages within the window.
    Rate,
    /// The same text too many times.
    Repeat,
}

/// A flood: which limit, and the messages that made it (oldest first, the current one last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flood {
    /// Which limit.
    pub kind: FloodKind,
    /// The messages to recall.
    pub message_ids: Vec<i64>,
}

/// The anti-flood tracker, shared by every webhook.
#[derive(Debug)]
pub struct FloodTracker {
    shards: Vec<Mutex<Shard>>,
    /// Times are kept as `u32` milliseconds since this instant (wrapping; windows are short).
    epoch_ms: i64,
    /// Members tracked, over all shards, and the most allowed.
    bound: Arc<Bound>,
    /// The most members one shard holds.
    shard_capacity: usize,
}

#[derive(Debug, Default)]
struct Shard {
    members: HashMap<(GroupId, i64), Ring>,
    last_sweep_ms: i64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    at: u32,
    hash: u32,
    message_id: i64,
}

/// Entries kept inline; a member who posts more within the window spills to the heap. Most
/// members post once or twice a minute, so most rings never allocate.
const INLINE: usize = 3;

/// A member's last messages, oldest first.
#[derive(Debug)]
enum Ring {
    Inline { len: u8, entries: [Entry; INLINE] },
    Spilled(VecDeque<Entry>),
}

impl Default for Ring {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            entries: [Entry::default(); INLINE],
        }
    }
}

impl FloodTracker {
    /// An empty tracker of at most [`DEFAULT_MEMBERS`] members; `now` anchors its compact
    /// timestamps.
    #[cfg(test)]
    #[must_use]
    pub fn new(now: Timestamp) -> Self {
        Self::with_capacity(now, DEFAULT_MEMBERS)
    }

    /// An empty tracker that remembers at most about `members` members.
    #[must_use]
    pub fn with_capacity(now: Timestamp, members: usize) -> Self {
        let shard_capacity = members.div_ceil(SHARDS).max(8);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            epoch_ms: now.as_millisecond(),
            bound: Bound::new("flood_members", shard_capacity * SHARDS),
            shard_capacity,
        }
    }

    /// The tracker's size (for `/metrics`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// Counts a message sent at `sent` (the platform's time; later than `now` counts as
    /// `now`) and received `now`, and reports a flood if it crosses a limit. A message id seen
    /// before (a redelivery) is not counted again. After a flood the member's count starts
    /// over.
    #[allow(clippy::too_many_arguments)] // one message's facts; a struct would be built per call
    pub fn observe(
        &self,
        group: GroupId,
        user_id: i64,
        message_id: i64,
        text: &str,
        sent: Timestamp,
        now: Timestamp,
        limits: &FloodSettings,
    ) -> Option<Flood> {
        if limits.messages == 0 && limits.repeats == 0 {
            return None;
        }
        let now_ms = now.as_millisecond();
        let at = self.compact(now_ms);
        let sent_at = self.compact(sent.as_millisecond().min(now_ms));
        let text = text.trim();
        let hash = (!text.is_empty()).then(|| text_hash(text));
        let mut shard = self.shards[shard_of(group, user_id)]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let longest = window_ms(limits.window.as_secs().max(limits.repeat_window.as_secs()));
        if now_ms.saturating_sub(shard.last_sweep_ms) >= SWEEP_EVERY_MS {
            let before = shard.members.len();
            shard.sweep(at, longest);
            shard.last_sweep_ms = now_ms;
            self.bound.shrink(before - shard.members.len());
        }
        let key = (group, user_id);
        if shard.members.len() >= self.shard_capacity && !shard.members.contains_key(&key) {
            let shortest = window_ms(active_window(limits));
            let (idle, evicted) = shard.make_room(at, (longest, shortest), self.shard_capacity);
            self.bound.shrink(idle + evicted);
            self.bound.evict(evicted);
        }
        let ring = match shard.members.entry(key) {
            std::collections::hash_map::Entry::Occupied(ring) => ring.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                self.bound.grow(1);
                slot.insert(Ring::default())
            }
        };
        if ring.iter().any(|e| e.message_id == message_id) {
            return None;
        }
        ring.push(Entry {
            at: sent_at,
            hash: hash.unwrap_or(0),
            message_id,
        });
        let flood = ring.check(sent_at, hash, limits);
        if flood.is_some() {
            *ring = Ring::default();
        }
        flood
    }

    /// Members currently tracked.
    #[cfg(test)]
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .members
                    .len()
            })
            .sum()
    }

    fn compact(&self, now_ms: i64) -> u32 {
        // Truncation is the point: differences are taken with wrapping arithmetic.
        now_ms.wrapping_sub(self.epoch_ms) as u32
    }
}

impl Ring {
    fn entries(&self) -> (&[Entry], &[Entry]) {
        match self {
            Self::Inline { len, entries } => (&entries[..usize::from(*len)], &[]),
            Self::Spilled(deque) => deque.as_slices(),
        }
    }

    /// Oldest first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        let (a, b) = self.entries();
        a.iter().chain(b)
    }

    fn len(&self) -> usize {
        let (a, b) = self.entries();
        a.len() + b.len()
    }

    fn last(&self) -> Option<&Entry> {
        self.iter().next_back()
    }

    /// Appends, dropping the oldest entry beyond [`MAX_TRACKED`].
    fn push(&mut self, entry: Entry) {
        match self {
            Self::Inline { len, entries } if usize::from(*len) < INLINE => {
                entries[usize::from(*len)] = entry;
                *len += 1;
            }
            Self::Inline { entries, .. } => {
                let mut deque = VecDeque::with_capacity(MAX_TRACKED);
                deque.extend(entries.iter().copied());
                deque.push_back(entry);
                *self = Self::Spilled(deque);
            }
            Self::Spilled(deque) => {
                if deque.len() == MAX_TRACKED {
                    deque.pop_front();
                }
                deque.push_back(entry);
            }
        }
    }

    fn check(&self, at: u32, hash: Option<u32>, limits: &FloodSettings) -> Option<Flood> {
        // Signed: an entry sent after `at` (delivered out of order) is within the window too.
        let within = |e: &Entry, window: u32| (at.wrapping_sub(e.at) as i32) < window as i32;
        if limits.messages > 0 {
            let window = window_ms(limits.window.as_secs());
            let recent = self.iter().rev().take_while(|e| within(e, window)).count();
            if recent >= limits.messages as usize {
                let ids = self.iter().skip(self.len() - recent);
                return Some(Flood {
                    kind: FloodKind::Rate,
                    message_ids: ids.map(|e| e.message_id).collect(),
                });
            }
        }
        if let Some(hash) = hash
            && limits.repeats > 0
        {
            let window = window_ms(limits.repeat_window.as_secs());
            let same = |e: &&Entry| e.hash == hash && within(e, window);
            if self.iter().filter(same).count() >= limits.repeats as usize {
                return Some(Flood {
                    kind: FloodKind::Repeat,
                    message_ids: self.iter().filter(same).map(|e| e.message_id).collect(),
                });
            }
        }
        None
    }
}

impl Shard {
    fn sweep(&mut self, at: u32, idle_ms: u32) {
        self.members
            .retain(|_, ring| ring.last().is_some_and(|e| at.wrapping_sub(e.at) < idle_ms));
    }

    /// Makes room in a full shard: drops members idle longer than the longest window, then
    /// longer than the shortest, then arbitrary ones down to 7/8 of `capacity`. Returns how
    /// many idle members were dropped and how many active ones were evicted.
    fn make_room(&mut self, at: u32, (longest, shortest): (u32, u32), capacity: usize) -> (usize, usize) {
        let before = self.members.len();
        self.sweep(at, longest);
        if self.members.len() >= capacity {
            self.sweep(at, shortest);
        }
        let idle = before - self.members.len();
        let keep = capacity - capacity / 8;
        let excess = if self.members.len() >= capacity {
            self.members.len() - keep
        } else {
            0
        };
        if excess > 0 {
            let victims: Vec<(GroupId, i64)> = self.members.keys().take(excess).copied().collect();
            for key in &victims {
                self.members.remove(key);
            }
        }
        // The drops leave tombstones in a full table, which would double when it fills
        // again; a fresh one keeps the size the capacity needs (see `compact`). Only after a
        // drop of at least an eighth: the rebuild then costs at most eight moves per member
        // dropped, where rebuilding after every sweep that found one idle member would copy
        // the whole shard for each new member of a busy stream.
        if idle + excess >= (capacity / 8).max(1) {
            crate::domain::bounds::compact(&mut self.members, capacity);
        }
        (idle, excess)
    }
}

/// The shorter of the two windows that are on (rate, repeat), in seconds.
fn active_window(limits: &FloodSettings) -> u64 {
    match (limits.messages > 0, limits.repeats > 0) {
        (true, true) => limits.window.as_secs().min(limits.repeat_window.as_secs()),
        (true, false) => limits.window.as_secs(),
        _ => limits.repeat_window.as_secs(),
    }
}

fn shard_of(group: GroupId, user_id: i64) -> usize {
    usize::try_from((user_id ^ group.id).rem_euclid(SHARDS as i64)).unwrap_or(0)
}

/// A window in the tracker's milliseconds, at most `i32::MAX` (24.8 days), so that the
/// signed comparison of [`Ring::check`] holds.
fn window_ms(secs: u64) -> u32 {
    let ms = secs.saturating_mul(1000).min(i32::MAX as u64);
    u32::try_from(ms).unwrap_or(i32::MAX as u32)
}

fn text_hash(text: &str) -> u32 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    // Collisions only matter among one member's last few messages.
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::duration::HumanDuration;

    const G: GroupId = GroupId::qq(1);

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_700_000_000_000 + ms).expect("valid")
    }

    /// Feeds `(time ms, user, message id, text)` and returns, per message, the flood it caused.
    fn run(limits: FloodSettings, messages: &[(i64, i64, i64, &str)]) -> Vec<Option<Flood>> {
        let tracker = FloodTracker::new(at(0));
        messages
            .iter()
            .map(|&(t, user, id, text)| tracker.observe(G, user, id, text, at(t), at(t), &limits))
            .collect()
    }

    fn rate(ids: &[i64]) -> Option<Flood> {
        Some(Flood {
            kind: FloodKind::Rate,
            message_ids: ids.to_vec(),
        })
    }

    fn repeat(ids: &[i64]) -> Option<Flood> {
        Some(Flood {
            kind: FloodKind::Repeat,
            message_ids: ids.to_vec(),
        })
    }

    fn limits(messages: u32, window: u64, repeats: u32, repeat_window: u64) -> FloodSettings {
        FloodSettings {
            messages,
            window: HumanDuration::from_secs(window),
            repeats,
            repeat_window: HumanDuration::from_secs(repeat_window),
        }
    }

    #[test]
    fn n_messages_within_the_window_are_a_flood() {
        let l = limits(3, 10, 0, 60);
        let floods = run(l, &[(0, 7, 1, "a"), (1_000, 7, 2, "b"), (9_000, 7, 3, "c")]);
        assert_eq!(floods, [None, None, rate(&[1, 2, 3])]);
    }

    /// Feeds `(sent ms, received ms, message id)` for one member and returns the floods.
    fn run_sent(limits: FloodSettings, messages: &[(i64, i64, i64)]) -> Vec<Option<Flood>> {
        let tracker = FloodTracker::new(at(0));
        messages
            .iter()
            .map(|&(sent, received, id)| tracker.observe(G, 7, id, &format!("m{id}"), at(sent), at(received), &limits))
            .collect()
    }

    #[test]
    fn a_backlog_delivered_at_once_is_judged_by_when_its_messages_were_sent() {
        // Eight messages written a minute apart, delivered within 70 ms after an outage.
        let l = limits(8, 10, 0, 60);
        let backlog: Vec<(i64, i64, i64)> = (0..8).map(|k| (k * 60_000, 500_000 + k * 10, k + 1)).collect();
        assert!(run_sent(l, &backlog).iter().all(Option::is_none));
        // The same eight written within seven seconds are a flood, however they arrive.
        let burst: Vec<(i64, i64, i64)> = (0..8).map(|k| (400_000 + k * 1_000, 500_000 + k * 10, k + 1)).collect();
        assert_eq!(run_sent(l, &burst).last(), Some(&rate(&[1, 2, 3, 4, 5, 6, 7, 8])));
    }

    #[test]
    fn messages_delivered_out_of_order_still_count_and_a_future_time_counts_as_now() {
        let l = limits(3, 10, 0, 60);
        // The second delivery was sent before the first; all three within ten seconds.
        let floods = run_sent(l, &[(5_000, 6_000, 1), (2_000, 6_100, 2), (8_000, 8_100, 3)]);
        assert_eq!(floods, [None, None, rate(&[1, 2, 3])]);
        // A clock ahead of ours: read as received, so a minute-late third message is no flood.
        let floods = run_sent(l, &[(900_000, 0, 1), (900_000, 1_000, 2), (900_000, 61_000, 3)]);
        assert_eq!(floods, [None, None, None]);
    }

    #[test]
    fn messages_outside_the_window_do_not_count() {
        let l = limits(3, 10, 0, 60);
        let floods = run(
            l,
            &[
                (0, 7, 1, "a"),
                (5_000, 7, 2, "b"),
                (10_000, 7, 3, "c"),
                (12_000, 7, 4, "d"),
            ],
        );
        assert_eq!(floods, [None, None, None, rate(&[2, 3, 4])]);
    }

    #[test]
    fn the_same_text_repeated_is_a_flood_and_other_texts_in_between_are_not_recalled() {
        let l = limits(0, 10, 3, 60);
        let floods = run(
            l,
            &[
                (0, 7, 1, "buy now"),
                (10_000, 7, 2, "hello"),
                (20_000, 7, 3, " buy now"),
                (59_000, 7, 4, "buy now"),
            ],
        );
        assert_eq!(floods, [None, None, None, repeat(&[1, 3, 4])]);
    }

    #[test]
    fn repeats_outside_the_window_and_empty_texts_do_not_count() {
        let l = limits(0, 10, 3, 60);
        let floods = run(l, &[(0, 7, 1, "x"), (30_000, 7, 2, "x"), (61_000, 7, 3, "x")]);
        assert_eq!(floods, [None, None, None]);
        // Three pictures without text are not "the same text".
        let floods = run(l, &[(0, 7, 1, ""), (1, 7, 2, " "), (2, 7, 3, "")]);
        assert_eq!(floods, [None, None, None]);
    }

    #[test]
    fn members_and_redeliveries_are_counted_apart() {
        let l = limits(3, 10, 0, 60);
        let floods = run(
            l,
            &[
                (0, 7, 1, "a"),
                (1, 8, 2, "a"),
                (2, 7, 1, "a"),
                (3, 8, 3, "b"),
                (4, 7, 4, "c"),
            ],
        );
        assert_eq!(floods, [None, None, None, None, None], "two members, one redelivery");
    }

    #[test]
    fn after_a_flood_the_count_starts_over() {
        let l = limits(2, 10, 0, 60);
        let floods = run(l, &[(0, 7, 1, "a"), (1, 7, 2, "b"), (2, 7, 3, "c"), (3, 7, 4, "d")]);
        assert_eq!(floods, [None, rate(&[1, 2]), None, rate(&[3, 4])]);
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let floods = run(limits(0, 10, 0, 60), &[(0, 7, 1, "a"), (0, 7, 2, "a"), (0, 7, 3, "a")]);
        assert_eq!(floods, [None, None, None]);
    }

    #[test]
    fn a_member_past_the_inline_entries_keeps_the_last_sixteen() {
        // 20 messages, no limit reached (the rate limit is above what is kept): the ring
        // spills to the heap and drops the oldest beyond MAX_TRACKED.
        let tracker = FloodTracker::new(at(0));
        let l = limits(16, 1, 0, 60);
        for id in 0..20 {
            assert_eq!(tracker.observe(G, 7, id, "x", at(id * 1_000), at(id * 1_000), &l), None);
        }
        let shard = tracker.shards[shard_of(G, 7)].lock().expect("lock");
        let ids: Vec<i64> = shard.members[&(G, 7)].iter().map(|e| e.message_id).collect();
        assert_eq!(ids, (4..20).collect::<Vec<_>>());
    }

    #[test]
    fn idle_members_are_forgotten() {
        let tracker = FloodTracker::new(at(0));
        let l = FloodSettings::default();
        for user in 0..100 {
            tracker.observe(G, user, user, "hi", at(0), at(0), &l);
        }
        assert_eq!(tracker.tracked(), 100);
        let later = at(i64::try_from(Duration::from_secs(120).as_millis()).expect("fits"));
        // The next message in each shard sweeps it; touch every shard.
        for user in 0..16 {
            tracker.observe(G, 1_000 + user, 1_000 + user, "hi", later, later, &l);
        }
        assert_eq!(tracker.tracked(), 16);
    }

    #[test]
    fn the_tracker_holds_at_most_its_capacity_and_drops_idle_members_before_active_ones() {
        let l = FloodSettings::default(); // 8 in 10 s, 3 repeats in 60 s
        // 16 shards of 8 members.
        let tracker = FloodTracker::with_capacity(at(0), 128);
        let bound = tracker.bound();
        assert_eq!(bound.capacity(), 128);
        // 1,000 members at once: every one active, so the full shards evict.
        for user in 0..1_000 {
            tracker.observe(G, user, user, "hi", at(0), at(0), &l);
        }
        assert!(tracker.tracked() <= 128, "{}", tracker.tracked());
        assert_eq!(bound.len(), tracker.tracked());
        assert!(bound.evicted() > 0);
        let evicted = bound.evicted();
        // Two minutes later everyone is idle: new members replace them without evictions.
        for user in 1_000..2_000 {
            tracker.observe(G, user, user, "hi", at(120_000), at(120_000), &l);
        }
        assert!(tracker.tracked() <= 128);
        assert_eq!(bound.len(), tracker.tracked());
        // Later members only replaced the first ones idle for two minutes, and among
        // themselves (all active at once) at most the same share as before.
        assert!(
            bound.evicted() - evicted <= evicted,
            "{} then {}",
            evicted,
            bound.evicted()
        );
        // A member flooding while the tracker is full is still caught: their own ring is
        // touched by every message, and each message of theirs finds it.
        let floods: Vec<_> = (0..8)
            .map(|k| {
                tracker.observe(
                    G,
                    5_000,
                    9_000 + k,
                    &format!("m{k}"),
                    at(121_000 + k),
                    at(121_000 + k),
                    &l,
                )
            })
            .collect();
        assert!(floods[7].is_some(), "{floods:?}");
    }

    #[test]
    fn each_shard_table_stays_the_size_its_capacity_needs() {
        let l = FloodSettings::default();
        // 16 shards of 56 members: 7/8 of 64 slots, the most a table of 64 holds.
        let tracker = FloodTracker::with_capacity(at(0), 16 * 56);
        // Waves of members, all active at once (evictions) and then idle (sweeps).
        for wave in 0..20_i64 {
            for user in 0..2_000 {
                let id = wave * 10_000 + user;
                tracker.observe(G, id, id, "hi", at(wave * 120_000), at(wave * 120_000), &l);
            }
        }
        assert!(tracker.bound().evicted() > 0);
        for shard in &tracker.shards {
            let shard = shard.lock().expect("lock");
            assert!(shard.members.len() <= 56);
            // Without compacting, the removals leave tombstones and the table doubles.
            assert!(shard.members.capacity() <= 56, "{}", shard.members.capacity());
        }
    }
}
