//! The `welcome` and `joins` trees: members waiting to be greeted, and when each member last
//! joined each group.
//!
//! A join is recorded in its event's transaction: the event's seen-key, the member's join
//! time (for "do not greet a re-joining member again") and either the member's place in the
//! group's pending batch or, without batching, the welcome itself. The webhook acknowledges the
//! join only after that is on disk, so a join the gateway was told about is never lost: after a
//! crash the batch is still there and is greeted on start. Flushing a batch removes it and
//! stages the welcome in one transaction, so it is greeted once.
//!
//! A group's batch is one value (transactions cannot scan a range), holding at most
//! [`MAX_MENTIONS`] members; later joiners of a wave are only counted.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;

use super::codec::{Record, decode, decode_i64, encode};
use super::{OutboxItem, Receipt, Store, StoreError, abort, decode_group_prefix, group_prefix, member_key};
use crate::domain::event::{EventKey, GroupId};

/// The most members one welcome mentions; a larger join wave is greeted by count.
pub const MAX_MENTIONS: usize = 20;

/// A member waiting to be greeted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingJoin {
    /// Who.
    pub user_id: i64,
    /// Their name, if the platform said it (may be empty).
    pub name: String,
    /// When they joined, unix ms.
    pub joined_ms: i64,
}

/// The members of one group waiting to be greeted together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeBatch {
    /// The group.
    pub group: GroupId,
    /// When the first of them joined, unix ms: the batch is greeted a batch window later.
    pub first_ms: i64,
    /// The members to mention, in the order they joined (at most `MAX_MENTIONS`).
    pub members: Vec<PendingJoin>,
    /// Members who joined after the batch was full: counted, not mentioned.
    #[serde(default)]
    pub more: u32,
}

impl Record for WelcomeBatch {
    const WHAT: &'static str = "welcome batch";
    const VERSION: u8 = 1;
}

impl WelcomeBatch {
    /// A batch of one member.
    #[must_use]
    pub fn first(group: GroupId, member: PendingJoin) -> Self {
        Self {
            group,
            first_ms: member.joined_ms,
            members: vec![member],
            more: 0,
        }
    }

    /// Adds a member (once: a member who joins twice within the window is greeted once).
    pub fn add(&mut self, member: PendingJoin) {
        if self.members.iter().any(|m| m.user_id == member.user_id) {
            return;
        }
        if self.members.len() < MAX_MENTIONS {
            self.members.push(member);
        } else {
            self.more = self.more.saturating_add(1);
        }
    }

    /// How many members the batch greets, mentioned or not.
    #[must_use]
    pub fn count(&self) -> usize {
        self.members.len() + usize::try_from(self.more).unwrap_or(usize::MAX)
    }
}

/// One member's join, as the pipeline records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinWrite {
    /// The group.
    pub group: GroupId,
    /// The member.
    pub member: PendingJoin,
    /// Not greeted when their previous join was less than this long ago; `None` = always.
    pub rejoin_window: Option<Duration>,
    /// Wait for the batch window (`true`) or greet at once (`false`).
    pub batch: bool,
}

/// What recording a join did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinRecorded {
    /// The event was already recorded (a redelivery); nothing changed.
    Duplicate,
    /// The member joined before, within the re-join window: not greeted.
    Rejoined,
    /// The member waits in the group's batch, whose first member joined at `first_ms`.
    Queued {
        /// When the batch's first member joined, unix ms.
        first_ms: i64,
    },
    /// The welcome was staged at once, as this many outbox items.
    Welcomed {
        /// How many.
        actions: usize,
    },
}

/// The `state` name of the receipt of a group's last welcome.
#[must_use]
pub fn receipt_name(group: GroupId) -> String {
    format!("welcome.last/{group}")
}

impl Store {
    /// Records a join for the event `key`: its seen-key, the member's join time and, unless the
    /// member is re-joining, their place in the group's batch — or, without batching, the
    /// welcome that `welcome` builds from a batch of one and the group's previous welcome
    /// receipt (taken when a welcome is staged: it supersedes the one before). `welcome` may
    /// run more than once, so it must be pure.
    pub fn commit_join(
        &self,
        key: &EventKey,
        now: Timestamp,
        join: &JoinWrite,
        welcome: impl Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>,
    ) -> Result<JoinRecorded, StoreError> {
        let now_ms = now.as_millisecond();
        let member = member_key(join.group, join.member.user_id);
        let group = group_prefix(join.group);
        let receipt = receipt_name(join.group);
        let window_ms = join
            .rejoin_window
            .map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX));
        let recorded = self.unit(Some(key), now, |unit| {
            if let Some(window_ms) = window_ms {
                let previous = match unit.joins.get(member)? {
                    Some(bytes) => Some(decode_i64(&bytes, "join time").map_err(abort)?),
                    None => None,
                };
                unit.joins.insert(&member, &now_ms.to_be_bytes())?;
                if previous.is_some_and(|at| now_ms.saturating_sub(at) < window_ms) {
                    return Ok(JoinRecorded::Rejoined);
                }
            }
            if join.batch {
                let batch = match unit.welcome.get(group)? {
                    Some(bytes) => {
                        let mut batch: WelcomeBatch = decode(&bytes).map_err(abort)?;
                        batch.add(join.member.clone());
                        batch
                    }
                    None => WelcomeBatch::first(join.group, join.member.clone()),
                };
                unit.welcome.insert(&group, encode(&batch).map_err(abort)?)?;
                return Ok(JoinRecorded::Queued {
                    first_ms: batch.first_ms,
                });
            }
            let batch = WelcomeBatch::first(join.group, join.member.clone());
            let items = welcome(&batch, read_receipt(unit.state, &receipt)?);
            if !items.is_empty() {
                unit.state.remove(receipt.as_bytes())?;
            }
            let actions = items.len();
            unit.stage_items(items)?;
            Ok(JoinRecorded::Welcomed { actions })
        })?;
        Ok(recorded.unwrap_or(JoinRecorded::Duplicate))
    }

    /// Every group with members waiting to be greeted, with when the first of them joined.
    pub fn pending_welcomes(&self) -> Result<Vec<(GroupId, i64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.inner.welcome.iter() {
            let (key, value) = entry?;
            let batch: WelcomeBatch = decode(&value)?;
            let group = decode_group_prefix(&key).unwrap_or(batch.group);
            out.push((group, batch.first_ms));
        }
        Ok(out)
    }

    /// Greets `group`'s batch: removes it and stages what `build` makes of it and the group's
    /// previous welcome receipt, in one transaction. `build` may return nothing (a batch too
    /// old to greet); otherwise the receipt is taken, since the new welcome supersedes it.
    /// Returns the number of items staged, or `None` when the group had no batch.
    pub fn flush_welcome(
        &self,
        group: GroupId,
        build: impl Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>,
    ) -> Result<Option<usize>, StoreError> {
        let key = group_prefix(group);
        let receipt = receipt_name(group);
        // The items carry their own times; the unit's clock stamps nothing here.
        let flushed = self.unit(None, Timestamp::UNIX_EPOCH, |unit| {
            let Some(bytes) = unit.welcome.remove(&key)? else {
                return Ok(None);
            };
            let batch: WelcomeBatch = decode(&bytes).map_err(abort)?;
            let items = build(&batch, read_receipt(unit.state, &receipt)?);
            if !items.is_empty() {
                unit.state.remove(receipt.as_bytes())?;
            }
            let before = unit.staged();
            unit.stage_items(items)?;
            Ok(Some(unit.staged() - before))
        })?;
        Ok(flushed.flatten())
    }

    /// The receipt of `group`'s last welcome, if one is kept.
    pub fn welcome_receipt(&self, group: GroupId) -> Result<Option<Receipt>, StoreError> {
        self.inner
            .state
            .get(receipt_name(group).as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Forgets joins older than `window` (they no longer keep a member from being greeted).
    /// A join recorded since the entry was read is left alone.
    pub fn sweep_joins(&self, now: Timestamp, window: Duration) -> Result<usize, StoreError> {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.as_millisecond().saturating_sub(window_ms);
        let tree = &self.inner.joins;
        let mut removed = 0;
        for entry in tree.iter() {
            let (key, value) = entry?;
            if decode_i64(&value, "join time")? < cutoff
                && tree
                    .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Reads the receipt `name` inside a transaction.
fn read_receipt(
    state: &sled::transaction::TransactionalTree,
    name: &str,
) -> Result<Option<Receipt>, ConflictableTransactionError<StoreError>> {
    match state.get(name.as_bytes())? {
        Some(bytes) => Ok(Some(decode(&bytes).map_err(abort)?)),
        None => Ok(None),
    }
}
