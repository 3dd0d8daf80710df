//! The delivery worker's records, written in batches, and dead letters sent back to the queue.
//!
//! After each attempt the worker records what became of the item: delivered (removed, with
//! the message receipt it asked for and, for a message about an audit case, the case of the
//! bot's message in the `sent` tree, [`super::sent`]), to be retried (its new attempt count and backoff), or
//! given up (moved to the dead letters). It keeps these [`Mark`]s in memory and writes all
//! that piled up at once ([`Outbox::apply_marks`]: plain writes, receipts first; one
//! transaction when a dead letter moves), then flushes: a group commit, so a burst of
//! deliveries costs one write and one flush, and a delivered mark is durable within a flush
//! or two of the delivery. The flush is usually an event's: the worker waits up to 2 ms for
//! one to cover its marks before flushing on its own ([`Store::shared_flush`]). Applying a mark twice is harmless (the worker writes a batch again
//! when a write or flush failed).

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::codec::encode;
use super::outbox::{DeadLetter, Outbox, OutboxItem, Receipt};
use super::sent::SentMessage;
use super::{Store, StoreError, map_tx, stage_items};

/// What became of one outbox item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Delivered: remove it, keep the receipt it asked for (`(name, receipt)`), and note the
    /// case of a message about one (a warning), so a reply to it names the case.
    Delivered(Option<(String, Receipt)>, Option<SentMessage>),
    /// Failed, to be tried again: its new state.
    Retry(OutboxItem),
    /// Given up: move it to the dead letters.
    Dead(DeadLetter),
}

impl Outbox<'_> {
    /// Writes `marks` (by sequence number): one transaction if one of them is a dead letter,
    /// plain writes otherwise (see `apply_plain`).
    pub fn apply_marks(&self, marks: &[(u64, Mark)]) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        let mut encoded = Vec::with_capacity(marks.len());
        for (seq, mark) in marks {
            let value = match mark {
                Mark::Delivered(receipt, _) => receipt.as_ref().map(|(_, r)| encode(r)).transpose()?,
                Mark::Retry(item) => Some(encode(item)?),
                Mark::Dead(letter) => Some(encode(letter)?),
            };
            encoded.push((seq.to_be_bytes(), mark, value));
        }
        let _op = self.store.begin("outbox write");
        let _log = self.store.lock();
        let trees = self.store.write_gate()?;
        if !encoded.iter().any(|(_, mark, _)| matches!(mark, Mark::Dead(_))) {
            return self.store.observe(apply_plain(&trees, &encoded));
        }
        let result = (&trees.outbox, &trees.dead, &trees.state, &trees.sent)
            .transaction(|(outbox, dead, state, sent_tree)| {
                let mut buried = 0;
                for (key, mark, value) in &encoded {
                    match (mark, value) {
                        (Mark::Delivered(receipt, sent), value) => {
                            outbox.remove(key)?;
                            if let (Some((name, _)), Some(value)) = (receipt, value) {
                                state.insert(name.as_bytes(), value.as_slice())?;
                            }
                            if let Some(sent) = sent {
                                sent_tree.insert(&sent.key(), &sent.value())?;
                            }
                        }
                        (Mark::Retry(_), Some(value)) => {
                            outbox.insert(key, value.as_slice())?;
                        }
                        (Mark::Dead(_), Some(value)) => {
                            outbox.remove(key)?;
                            // Counted only when new (a batch may be written twice).
                            buried += usize::from(dead.insert(key, value.as_slice())?.is_none());
                        }
                        _ => {}
                    }
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(buried)
            })
            .map_err(map_tx);
        let buried = self.store.observe(result)?;
        trees.dead_added(buried);
        Ok(())
    }
}

/// A mark with its encoded value (see [`Outbox::apply_marks`]).
type Encoded<'m> = ([u8; 8], &'m Mark, Option<Vec<u8>>);

/// [`Outbox::apply_marks`] for a batch without dead letters: plain writes, no transaction.
///
/// Every sled transaction seals the log buffer twice (before and after its batch manifest),
/// each seal one more write for sled's I/O threads, and holds sled's process-wide write lock;
/// the worker writes a batch of marks many times a second. A batch of deliveries and retries
/// needs no atomicity: the receipts and sent-message records go first, then the removals and
/// retries, so a crash in between leaves an item to deliver again (as a crash before the
/// batch does) with its receipt already kept, and writing it again changes nothing. A batch
/// with a dead letter (moved from one tree to another) stays one transaction.
fn apply_plain(trees: &super::Trees, encoded: &[Encoded<'_>]) -> Result<(), StoreError> {
    for (_, mark, value) in encoded {
        if let Mark::Delivered(receipt, sent) = mark {
            if let (Some((name, _)), Some(value)) = (receipt, value) {
                trees.state.insert(name.as_bytes(), value.as_slice())?;
            }
            if let Some(sent) = sent {
                trees.sent.insert(sent.key(), &sent.value())?;
            }
        }
    }
    for (key, mark, value) in encoded {
        match (mark, value) {
            (Mark::Delivered(..), _) => {
                trees.outbox.remove(key)?;
            }
            (Mark::Retry(_), Some(value)) => {
                trees.outbox.insert(key, value.as_slice())?;
            }
            _ => {}
        }
    }
    Ok(())
}

impl Store {
    /// Sends every dead letter back to the outbox as a fresh item (attempts reset, due now,
    /// aged from now), under a new sequence number, in one transaction; the delivery worker
    /// picks them up once they are durable. Returns how many.
    pub fn requeue_dead_letters(&self, now: jiff::Timestamp) -> Result<usize, StoreError> {
        let letters = self.outbox().dead_letters()?;
        if letters.is_empty() {
            return Ok(0);
        }
        let now_ms = now.as_millisecond();
        let items: Vec<OutboxItem> = letters
            .iter()
            .map(|(_, letter)| {
                let mut item = OutboxItem::new(letter.item.action.clone(), now_ms);
                item.case = letter.item.case;
                item.receipt.clone_from(&letter.item.receipt);
                item
            })
            .collect();
        let keys: Vec<[u8; 8]> = letters.iter().map(|(seq, _)| seq.to_be_bytes()).collect();
        let _op = self.begin("commit");
        let mut log = self.lock();
        let trees = self.write_gate()?;
        let result = (&trees.outbox, &trees.dead)
            .transaction(|(outbox, dead)| {
                let mut removed = 0;
                for key in &keys {
                    removed += usize::from(dead.remove(key)?.is_some());
                }
                Ok((removed, stage_items(outbox, items.iter().cloned())?))
            })
            .map_err(map_tx);
        let (removed, staged) = self.observe(result)?;
        trees.dead_removed(removed);
        let count = staged.len();
        self.committed(&mut log, staged);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::tests::recall;
    use super::*;
    use crate::domain::event::GroupId;

    /// A fresh store with three recalls in its outbox, and them as `pending` lists them.
    fn three_recalls_pending() -> (tempfile::TempDir, Store, Vec<(u64, OutboxItem)>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store
            .enqueue(vec![recall(1), recall(2), recall(3)], jiff::Timestamp::UNIX_EPOCH)
            .expect("enqueue");
        let pending = store.outbox().pending().expect("pending");
        (dir, store, pending)
    }

    #[test]
    fn marks_remove_retry_and_bury_in_one_write_and_can_be_applied_twice() {
        let (_dir, store, pending) = three_recalls_pending();
        let seqs: Vec<u64> = pending.iter().map(|(s, _)| *s).collect();
        let mut retried = pending[1].1.clone();
        retried.attempts = 1;
        let letter = DeadLetter {
            item: pending[2].1.clone(),
            reason: "refused".into(),
            dead_ms: 5,
        };
        let marks = vec![
            (
                seqs[0],
                Mark::Delivered(
                    Some(("welcome.last/qq:1".into(), Receipt::new(77, 9))),
                    Some(SentMessage {
                        group: GroupId::qq(1),
                        message_id: 77,
                        case: 3,
                        sent_ms: 9,
                    }),
                ),
            ),
            (seqs[1], Mark::Retry(retried.clone())),
            (seqs[2], Mark::Dead(letter.clone())),
        ];
        for _ in 0..2 {
            store.outbox().apply_marks(&marks).expect("apply");
            assert_eq!(
                store.outbox().pending().expect("pending"),
                vec![(seqs[1], retried.clone())]
            );
            assert_eq!(
                store.outbox().dead_letters().expect("dead"),
                vec![(seqs[2], letter.clone())]
            );
        }
        assert!(store.state("welcome.last/qq:1").expect("state").is_some());
        assert_eq!(store.case_of_sent(GroupId::qq(1), 77).expect("sent"), Some(3));
    }

    #[test]
    fn deliveries_and_retries_without_a_dead_letter_are_written_alike_and_can_be_applied_twice() {
        let (_dir, store, pending) = three_recalls_pending();
        let seqs: Vec<u64> = pending.iter().map(|(s, _)| *s).collect();
        let mut retried = pending[1].1.clone();
        retried.attempts = 1;
        let sent = SentMessage {
            group: GroupId::qq(1),
            message_id: 78,
            case: 4,
            sent_ms: 9,
        };
        let marks = vec![
            (
                seqs[0],
                Mark::Delivered(Some(("welcome.last/qq:1".into(), Receipt::new(78, 9))), Some(sent)),
            ),
            (seqs[1], Mark::Retry(retried.clone())),
            (seqs[2], Mark::Delivered(None, None)),
        ];
        for _ in 0..2 {
            store.outbox().apply_marks(&marks).expect("apply");
            assert_eq!(
                store.outbox().pending().expect("pending"),
                vec![(seqs[1], retried.clone())]
            );
            assert!(store.outbox().dead_letters().expect("dead").is_empty());
        }
        assert!(store.state("welcome.last/qq:1").expect("state").is_some());
        assert_eq!(store.case_of_sent(GroupId::qq(1), 78).expect("sent"), Some(4));
    }

    #[test]
    fn dead_letters_go_back_to_the_queue_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store
            .enqueue(vec![recall(1)], jiff::Timestamp::UNIX_EPOCH)
            .expect("enqueue");
        let (seq, mut item) = store.outbox().pending().expect("pending").remove(0);
        item.attempts = 7;
        store.outbox().dead_letter(seq, &item, "refused", 1).expect("bury");
        assert!(store.outbox().pending().expect("pending").is_empty());
        let now = jiff::Timestamp::from_second(1_000).expect("time");
        assert_eq!(store.requeue_dead_letters(now).expect("requeue"), 1);
        assert_eq!(store.requeue_dead_letters(now).expect("again"), 0);
        let pending = store.outbox().pending().expect("pending");
        assert_eq!(pending.len(), 1);
        assert!(pending[0].0 > seq, "a new sequence number");
        assert_eq!(pending[0].1.action, recall(1));
        assert_eq!((pending[0].1.attempts, pending[0].1.created_ms), (0, 1_000_000));
        assert!(store.outbox().dead_letters().expect("dead").is_empty());
    }
}
