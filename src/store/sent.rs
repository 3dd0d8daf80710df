//! The `sent` tree: which audit case a message the bot sent belongs to (the warning about a
//! violation, the answer to `/warn`), so an admin can answer it — `/notspam` as a reply to
//! the bot's warning — and qunguan knows which case is meant.
//!
//! Keys are `platform ‖ group ‖ message id` (17 B), the message id being the one the platform
//! gave the bot's message; values are the case (u64 BE) and when the message was sent (unix
//! ms, i64 BE). The outbox worker writes an entry when it delivers a message tied to a case;
//! the sweep deletes entries older than [`SENT_RETENTION_MS`].

use super::keys::member_key;
use super::{Store, StoreError};
use crate::domain::event::GroupId;

/// How long the case of a sent message is remembered: 30 days.
pub const SENT_RETENTION_MS: i64 = 30 * 86_400_000;

/// A message the bot sent about a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// Where.
    pub group: GroupId,
    /// The platform's id of the bot's message.
    pub message_id: i64,
    /// The audit case it belongs to.
    pub case: u64,
    /// When it was delivered, unix ms.
    pub sent_ms: i64,
}

impl SentMessage {
    pub(super) fn key(&self) -> [u8; 17] {
        member_key(self.group, self.message_id)
    }

    pub(super) fn value(&self) -> [u8; 16] {
        let mut v = [0; 16];
        v[..8].copy_from_slice(&self.case.to_be_bytes());
        v[8..].copy_from_slice(&self.sent_ms.to_be_bytes());
        v
    }
}

fn decode_value(bytes: &[u8]) -> Result<(u64, i64), StoreError> {
    let raw: [u8; 16] = bytes.try_into().map_err(|_| StoreError::Decode {
        what: "sent message",
        reason: format!("{} bytes instead of 16", bytes.len()),
    })?;
    let case = u64::from_be_bytes(raw[..8].try_into().unwrap_or_default());
    let sent_ms = i64::from_be_bytes(raw[8..].try_into().unwrap_or_default());
    Ok((case, sent_ms))
}

impl Store {
    /// The case the bot's message `message_id` in `group` belongs to, if it is one.
    pub fn case_of_sent(&self, group: GroupId, message_id: i64) -> Result<Option<u64>, StoreError> {
        match self.trees()?.sent.get(member_key(group, message_id))? {
            Some(bytes) => Ok(Some(decode_value(&bytes)?.0)),
            None => Ok(None),
        }
    }

    /// Deletes entries sent before `cutoff_ms`; returns how many.
    pub(super) fn sweep_sent(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let trees = self.trees()?;
        let tree = &trees.sent;
        let mut removed = 0;
        for entry in tree.iter() {
            let (key, value) = entry?;
            let (_, sent_ms) = decode_value(&value)?;
            if sent_ms < cutoff_ms {
                let _op = self.begin("sweep write");
                let _log = self.lock();
                self.observe(tree.remove(key).map_err(StoreError::from))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::{Action, OutgoingMessage};
    use crate::store::Receipt;

    #[test]
    fn a_delivered_warning_names_its_case_until_the_sweep_forgets_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::telegram(-1_005);
        let send = Action::Send {
            group: g,
            message: OutgoingMessage::text("warning"),
            reply_to: None,
        };
        store.enqueue(vec![send], jiff::Timestamp::UNIX_EPOCH).expect("enqueue");
        let seq = store.outbox().pending().expect("read")[0].0;
        let sent = SentMessage {
            group: g,
            message_id: 9_001,
            case: 4,
            sent_ms: 1_000,
        };
        store
            .outbox()
            .delivered_noting(seq, None::<(&str, Receipt)>, Some(sent))
            .expect("delivered");
        assert!(store.outbox().is_empty());
        assert_eq!(store.case_of_sent(g, 9_001).expect("read"), Some(4));
        assert_eq!(store.case_of_sent(g, 9_002).expect("read"), None);
        assert_eq!(store.case_of_sent(GroupId::qq(5), 9_001).expect("read"), None);
        assert_eq!(store.sweep_sent(1_000).expect("sweep"), 0, "not older than the cutoff");
        assert_eq!(store.sweep_sent(1_001).expect("sweep"), 1);
        assert_eq!(store.case_of_sent(g, 9_001).expect("read"), None);
    }
}
