//! The `outbox` and `dead` trees: actions waiting for delivery, and actions given up on.
//!
//! Items are keyed by a sequence number from sled's id generator, so key order is decision
//! order. The delivery worker reads the tree once at start ([`Outbox::subscribe`]); after that,
//! new items reach it through an in-memory feed filled inside the commit lock (so in commit
//! order) and released only once a flush has made them durable ([`Outbox::take_durable`]).
//! That way the worker never rescans the tree and never sends an action that a crash could
//! still undo.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::codec::{Record, decode, encode};
use super::{Staged, Store, StoreError, keys, map_tx};
use crate::domain::action::Action;

/// A moderation action in the store's feed, as [`Outbox::peek_moderation`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedModeration {
    /// Its sequence number.
    pub seq: u64,
    /// Its group.
    pub group: crate::domain::event::GroupId,
    /// The member it concerns ([`OutboxItem::concerns`]).
    pub member: Option<i64>,
    /// The item, when it is a recall not looked at yet.
    pub recall: Option<OutboxItem>,
}

/// An action waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// What to do.
    pub action: Action,
    /// When it was decided, unix ms.
    pub created_ms: i64,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// Do not try before this time, unix ms (backoff).
    pub not_before_ms: i64,
    /// The last delivery error, for logs and inspection.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The audit case the action belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<u64>,
    /// For a message whose id is needed later (to delete the previous welcome): the name in
    /// the `state` tree under which the worker keeps a [`Receipt`] once it is delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// For a recall: the member whose message it is, when known (a violation's recall, stored
    /// with its case). An early recall keeps its place only behind earlier moderation actions
    /// concerning the same member ([`OutboxItem::concerns`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<i64>,
}

impl Record for OutboxItem {
    const WHAT: &'static str = "outbox item";
    const VERSION: u8 = 1;
}

impl OutboxItem {
    /// A fresh item, due at once.
    #[must_use]
    pub fn new(action: Action, now_ms: i64) -> Self {
        Self {
            action,
            created_ms: now_ms,
            attempts: 0,
            not_before_ms: now_ms,
            last_error: None,
            case: None,
            receipt: None,
            member: None,
        }
    }

    /// The member this action concerns, if one: the muted, unmuted, kicked, unbanned or
    /// answered member, or a recall's [`OutboxItem::member`]. `None` (a message, a button's
    /// answer, a recall of a message whose author was not recorded) concerns the whole group.
    #[must_use]
    pub fn concerns(&self) -> Option<i64> {
        match &self.action {
            Action::Mute { user_id, .. }
            | Action::Unmute { user_id, .. }
            | Action::Kick { user_id, .. }
            | Action::Unban { user_id, .. }
            | Action::AnswerJoinRequest { user_id, .. } => Some(*user_id),
            Action::Recall { .. } => self.member,
            Action::Send { .. } | Action::AnswerButton { .. } => None,
        }
    }

    /// Not to be delivered before `at_ms` (a scheduled post's place in its jitter window).
    #[must_use]
    pub fn not_before(mut self, at_ms: i64) -> Self {
        self.not_before_ms = at_ms;
        self
    }

    /// Keep a [`Receipt`] of the delivered message under `name`.
    #[must_use]
    pub fn with_receipt(mut self, name: impl Into<String>) -> Self {
        self.receipt = Some(name.into());
        self
    }
}

/// What the bot remembers of a message it sent: its id (to delete it later) and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The platform's message id.
    pub message_id: i64,
    /// When it was delivered, unix ms.
    pub sent_ms: i64,
}

impl Record for Receipt {
    const WHAT: &'static str = "message receipt";
    const VERSION: u8 = 1;
}

impl Receipt {
    /// A receipt of `message_id`, delivered at `sent_ms`.
    #[must_use]
    pub fn new(message_id: i64, sent_ms: i64) -> Self {
        Self { message_id, sent_ms }
    }
}

/// An action the worker gave up on, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The item as it was when given up.
    pub item: OutboxItem,
    /// Why: the gateway's refusal, or that it expired.
    pub reason: String,
    /// When it was given up, unix ms.
    pub dead_ms: i64,
}

impl Record for DeadLetter {
    const WHAT: &'static str = "dead letter";
    const VERSION: u8 = 1;
}

/// Outbox operations.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    pub(super) store: &'a Store,
}

impl Outbox<'_> {
    /// Every pending item with its sequence number, oldest first (a full scan: for start-up,
    /// tools and tests).
    pub fn pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        scan(&self.store.trees()?.outbox)
    }

    /// Starts the in-memory feed of new items and returns everything pending now. Items
    /// committed later arrive through [`Outbox::take_durable`], none twice, none missed.
    pub fn subscribe(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let _log = self.store.lock();
        *self.store.lock_feed() = Some(Vec::new());
        scan(&self.store.trees()?.outbox)
    }

    /// New items whose commit is on disk, in commit order.
    #[must_use]
    pub fn take_durable(&self) -> Vec<(u64, OutboxItem)> {
        let durable = self.store.durable_commits();
        let mut feed = self.store.lock_feed();
        let Some(feed) = feed.as_mut() else {
            return Vec::new();
        };
        let ready = feed.partition_point(|s| s.commit <= durable);
        feed.drain(..ready)
            .map(|Staged { seq, item, .. }| (seq, item))
            .collect()
    }

    /// The moderation actions (everything but the bot's messages) in the feed: written, not
    /// yet known to be durable, in commit order, each as its sequence number, group and the
    /// member it concerns ([`OutboxItem::concerns`]), with a copy of the item for the recalls
    /// numbered `from` or later (the ones not looked at yet); and the first sequence number
    /// after them. The outbox worker sends those recalls early, each unless an earlier action
    /// here (or queued) concerns its member or the whole group; the items themselves still
    /// arrive through [`Outbox::take_durable`] once on disk.
    #[must_use]
    pub fn peek_moderation(&self, from: u64) -> (u64, Vec<FeedModeration>) {
        let feed = self.store.lock_feed();
        let Some(feed) = feed.as_ref() else {
            return (from, Vec::new());
        };
        let next = feed.last().map_or(from, |s| s.seq.saturating_add(1).max(from));
        let out = feed
            .iter()
            .filter(|s| !matches!(s.item.action, Action::Send { .. }))
            .map(|s| FeedModeration {
                seq: s.seq,
                group: s.item.action.group(),
                member: s.item.concerns(),
                recall: (s.seq >= from && matches!(s.item.action, Action::Recall { .. })).then(|| s.item.clone()),
            })
            .collect();
        (next, out)
    }

    /// True when a commit (perhaps one with outbox items) is not yet known to be on disk.
    /// Cheap: no lock.
    #[must_use]
    pub fn has_undurable(&self) -> bool {
        self.store.has_undurable_commits()
    }

    /// Removes a delivered item.
    pub fn delivered(&self, seq: u64) -> Result<(), StoreError> {
        let _op = self.store.begin("outbox write");
        let _log = self.store.lock();
        let trees = self.store.write_gate()?;
        self.store
            .observe(trees.outbox.remove(seq.to_be_bytes()).map_err(StoreError::from))?;
        Ok(())
    }

    /// Removes a delivered item and keeps the receipt it asked for (`(name, receipt)`), in
    /// one transaction; without a receipt, the same as [`Outbox::delivered`].
    pub fn delivered_with(&self, seq: u64, receipt: Option<(&str, Receipt)>) -> Result<(), StoreError> {
        self.delivered_noting(seq, receipt, None)
    }

    /// [`Outbox::delivered_with`], also noting which case a delivered message belongs to
    /// (`sent`; see [`super::sent`]), in the same transaction.
    pub fn delivered_noting(
        &self,
        seq: u64,
        receipt: Option<(&str, Receipt)>,
        sent: Option<super::sent::SentMessage>,
    ) -> Result<(), StoreError> {
        if receipt.is_none() && sent.is_none() {
            return self.delivered(seq);
        }
        let key = seq.to_be_bytes();
        let receipt = match receipt {
            Some((name, receipt)) => Some((name, encode(&receipt)?)),
            None => None,
        };
        let _op = self.store.begin("outbox write");
        let _log = self.store.lock();
        let trees = self.store.write_gate()?;
        let result = (&trees.outbox, &trees.state, &trees.sent)
            .transaction(|(outbox, state, sent_tree)| {
                outbox.remove(&key)?;
                if let Some((name, value)) = &receipt {
                    state.insert(name.as_bytes(), value.as_slice())?;
                }
                if let Some(sent) = &sent {
                    sent_tree.insert(&sent.key(), &sent.value())?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(map_tx);
        self.store.observe(result)
    }

    /// Stores an item's new delivery state after a failed attempt.
    pub fn retry(&self, seq: u64, item: &OutboxItem) -> Result<(), StoreError> {
        let value = encode(item)?;
        let _op = self.store.begin("outbox write");
        let _log = self.store.lock();
        let trees = self.store.write_gate()?;
        self.store
            .observe(trees.outbox.insert(seq.to_be_bytes(), value).map_err(StoreError::from))?;
        Ok(())
    }

    /// Moves an item to the dead letters, with the reason, in one transaction.
    pub fn dead_letter(&self, seq: u64, item: &OutboxItem, reason: &str, now_ms: i64) -> Result<(), StoreError> {
        let letter = encode(&DeadLetter {
            item: item.clone(),
            reason: reason.to_owned(),
            dead_ms: now_ms,
        })?;
        let key = seq.to_be_bytes();
        let _op = self.store.begin("outbox write");
        let _log = self.store.lock();
        let inner = self.store.write_gate()?;
        let result = (&inner.outbox, &inner.dead)
            .transaction(|(outbox, dead)| {
                outbox.remove(&key)?;
                let new = dead.insert(&key, letter.as_slice())?.is_none();
                Ok::<_, ConflictableTransactionError<StoreError>>(usize::from(new))
            })
            .map_err(map_tx);
        let added = self.store.observe(result)?;
        inner.dead_added(added);
        Ok(())
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<(u64, DeadLetter)>, StoreError> {
        scan(&self.store.trees()?.dead)
    }

    /// Number of dead letters, for `/metrics` and `/readyz`: a count kept with the tree
    /// (counted once when the database is opened), no scan.
    pub fn dead_count(&self) -> Result<usize, StoreError> {
        Ok(self.store.trees()?.dead_count())
    }

    /// The most dead letters kept ([`Store::limit_dead_letters`]).
    #[must_use]
    pub fn dead_capacity(&self) -> usize {
        self.store.inner.dead_keep.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Deletes the oldest dead letters beyond the newest [`Outbox::dead_capacity`]; returns
    /// how many it deleted. Plain removals: each one is whole on its own, and a crash midway
    /// leaves only letters the next trim deletes.
    pub fn trim_dead(&self) -> Result<usize, StoreError> {
        let trees = self.store.trees()?;
        let excess = trees.dead_count().saturating_sub(self.dead_capacity());
        if excess == 0 {
            return Ok(0);
        }
        let _op = self.store.begin("outbox write");
        let trees = self.store.write_gate()?;
        let mut removed = 0;
        // Keys are sequence numbers: the first ones are the oldest. The loop ends with the
        // excess (or the tree: the count may be ahead of a concurrent requeue).
        for entry in trees.dead.iter().take(excess) {
            let (key, _) = self.store.observe(entry.map_err(StoreError::from))?;
            if self
                .store
                .observe(trees.dead.remove(&key).map_err(StoreError::from))?
                .is_some()
            {
                trees.dead_removed(1);
                removed += 1;
            }
        }
        if removed > 0 {
            self.store
                .inner
                .dead_trimmed
                .fetch_add(removed as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(removed)
    }

    /// Dead letters deleted so far by [`Outbox::trim_dead`] (since the process started), for
    /// `/metrics`.
    #[must_use]
    pub fn dead_trimmed(&self) -> u64 {
        self.store.inner.dead_trimmed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of pending items (a full scan; not for hot paths). 0 while the database is
    /// unavailable.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.trees().map_or(0, |t| t.outbox.len())
    }

    /// True when nothing is pending (or the database is unavailable).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.store.trees().is_ok_and(|t| t.outbox.is_empty())
    }

    /// When the oldest pending item was decided (unix ms): the first key, as sequence numbers
    /// follow decision order. For the `/metrics` gauge.
    pub fn oldest_created_ms(&self) -> Result<Option<i64>, StoreError> {
        match self.store.trees()?.outbox.first()? {
            Some((_, value)) => Ok(Some(decode::<OutboxItem>(&value)?.created_ms)),
            None => Ok(None),
        }
    }
}

impl Store {
    /// Keeps at most `keep` dead letters (`[limits] dead_letters`): the oldest beyond it are
    /// deleted by the delivery worker after it adds one, and by the sweep
    /// ([`Outbox::trim_dead`]).
    pub fn limit_dead_letters(&self, keep: usize) {
        self.inner.dead_keep.store(keep, std::sync::atomic::Ordering::Relaxed);
    }
}

impl super::Trees {
    /// The dead letters `dead` holds (see [`Outbox::dead_count`]).
    pub(super) fn dead_count(&self) -> usize {
        self.dead_count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts `n` dead letters a committed write added to `dead`.
    pub(super) fn dead_added(&self, n: usize) {
        if n > 0 {
            self.dead_count.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counts `n` dead letters a committed write removed from `dead`.
    pub(super) fn dead_removed(&self, n: usize) {
        if n > 0 {
            // Never below zero: saturating, in one atomic step.
            let _ = self.dead_count.fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |c| Some(c.saturating_sub(n)),
            );
        }
    }
}

fn scan<T: Record>(tree: &sled::Tree) -> Result<Vec<(u64, T)>, StoreError> {
    let mut out = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry?;
        let seq = keys::decode_seq(&key).ok_or_else(|| StoreError::Decode {
            what: T::WHAT,
            reason: format!("a key of {} bytes instead of 8", key.len()),
        })?;
        out.push((seq, decode(&value)?));
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::marks::Mark;
    use super::super::sweep::SweepPolicy;
    use super::*;
    use crate::domain::event::GroupId;

    /// A recall in a QQ group: the action the outbox tests (here and in `marks`) queue.
    pub(in crate::store) fn recall(id: i64) -> Action {
        Action::Recall {
            group: GroupId::qq(1),
            message_id: id,
        }
    }

    /// A store with `n` recalls pending, and their sequence numbers.
    fn pending(dir: &std::path::Path, n: i64) -> (Store, Vec<(u64, OutboxItem)>) {
        let store = Store::open_path(dir).expect("open");
        store
            .enqueue((1..=n).map(recall).collect(), jiff::Timestamp::UNIX_EPOCH)
            .expect("enqueue");
        let pending = store.outbox().pending().expect("pending");
        assert_eq!(pending.len(), usize::try_from(n).expect("fits"));
        (store, pending)
    }

    fn letter(item: &OutboxItem, dead_ms: i64) -> DeadLetter {
        DeadLetter {
            item: item.clone(),
            reason: "refused".into(),
            dead_ms,
        }
    }

    /// The kept count against a scan of the tree.
    fn counted(store: &Store) -> (usize, usize) {
        let outbox = store.outbox();
        (
            outbox.dead_count().expect("count"),
            outbox.dead_letters().expect("scan").len(),
        )
    }

    #[test]
    fn a_recall_names_its_author_only_when_known_and_older_records_read_without_one() {
        let mut item = OutboxItem::new(recall(7), 5);
        assert_eq!(item.concerns(), None, "an unknown author: the whole group");
        let older = encode(&item).expect("encode");
        assert!(
            !String::from_utf8_lossy(&older).contains("member"),
            "left out when unknown"
        );
        item.member = Some(42);
        assert_eq!(item.concerns(), Some(42));
        assert_eq!(
            decode::<OutboxItem>(&encode(&item).expect("encode")).expect("decode"),
            item
        );
        assert_eq!(decode::<OutboxItem>(&older).expect("decode").member, None);
        let group = GroupId::qq(1);
        let mute = OutboxItem::new(
            Action::Mute {
                group,
                user_id: 9,
                seconds: 60,
            },
            5,
        );
        assert_eq!(mute.concerns(), Some(9));
        let send = OutboxItem::new(
            Action::Send {
                group,
                message: crate::domain::action::OutgoingMessage::text("hi"),
                reply_to: None,
            },
            5,
        );
        assert_eq!(send.concerns(), None);
    }

    #[test]
    fn the_dead_letter_count_follows_every_write_and_is_counted_again_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, items) = pending(dir.path(), 4);
        assert_eq!(counted(&store), (0, 0));
        store
            .outbox()
            .dead_letter(items[0].0, &items[0].1, "refused", 1)
            .expect("bury");
        assert_eq!(counted(&store), (1, 1));
        // A batch of marks written twice (after a failed flush) counts its letter once.
        let marks = vec![(items[1].0, Mark::Dead(letter(&items[1].1, 2)))];
        for _ in 0..2 {
            store.outbox().apply_marks(&marks).expect("apply");
            assert_eq!(counted(&store), (2, 2));
        }
        // Sent back to the queue: none left.
        assert_eq!(
            store
                .requeue_dead_letters(jiff::Timestamp::UNIX_EPOCH)
                .expect("requeue"),
            2
        );
        assert_eq!(counted(&store), (0, 0));
        // The sweep deletes the old one of two.
        store
            .outbox()
            .dead_letter(items[2].0, &items[2].1, "refused", 10)
            .expect("bury");
        store
            .outbox()
            .dead_letter(items[3].0, &items[3].1, "refused", 5_000)
            .expect("bury");
        let ttl = |_| std::time::Duration::from_secs(1);
        let policy = SweepPolicy {
            seen_ttl: std::time::Duration::from_secs(60),
            audit_retention: Some(std::time::Duration::from_secs(1)),
            strike_ttl: &ttl,
        };
        let report = store
            .sweep(jiff::Timestamp::from_millisecond(5_500).expect("time"), &policy)
            .expect("sweep");
        assert_eq!(report.dead, 1);
        assert_eq!(counted(&store), (1, 1));
        // Opened again: counted from the tree.
        drop(store);
        let store = Store::open_path(dir.path()).expect("reopen");
        assert_eq!(counted(&store), (1, 1));
        assert_eq!(store.outbox().dead_letters().expect("scan")[0].0, items[3].0);
    }

    #[test]
    fn trimming_keeps_the_newest_dead_letters_and_counts_what_it_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, items) = pending(dir.path(), 6);
        store.limit_dead_letters(2);
        assert_eq!(store.outbox().dead_capacity(), 2);
        let marks: Vec<(u64, Mark)> = items
            .iter()
            .map(|(seq, item)| (*seq, Mark::Dead(letter(item, 1))))
            .collect();
        store.outbox().apply_marks(&marks).expect("apply");
        assert_eq!(counted(&store), (6, 6));
        assert_eq!(store.outbox().trim_dead().expect("trim"), 4);
        assert_eq!(store.outbox().trim_dead().expect("again"), 0);
        assert_eq!(counted(&store), (2, 2));
        let kept: Vec<u64> = store
            .outbox()
            .dead_letters()
            .expect("scan")
            .iter()
            .map(|(seq, _)| *seq)
            .collect();
        assert_eq!(kept, [items[4].0, items[5].0]);
        assert_eq!(store.outbox().dead_trimmed(), 4);
        // The sweep trims too, whatever the letters' age (no retention here).
        store.limit_dead_letters(1);
        let ttl = |_| std::time::Duration::from_secs(1);
        let policy = SweepPolicy {
            seen_ttl: std::time::Duration::from_secs(60),
            audit_retention: None,
            strike_ttl: &ttl,
        };
        let report = store.sweep(jiff::Timestamp::UNIX_EPOCH, &policy).expect("sweep");
        assert_eq!((report.dead, counted(&store)), (1, (1, 1)));
        assert_eq!(store.outbox().dead_letters().expect("scan")[0].0, items[5].0);
        assert_eq!(store.outbox().dead_trimmed(), 5);
    }
}
