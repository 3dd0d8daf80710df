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
//!
//! With a batch window, a group gets at most one welcome per window: a join into a quiet
//! group (no welcome within the last window) is greeted at once, in its event's transaction;
//! joins that follow within the window wait in a batch greeted when the window since that
//! welcome ends. The time of each group's last welcome is kept in the `state` tree. A member
//! who leaves (or is removed) while waiting is taken out of the batch, so no welcome mentions
//! someone who is gone.

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
    /// When the window this batch waits out began, if not when its first member joined: the
    /// group's last welcome, which the batch's members joined within the window of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_from_ms: Option<i64>,
}

impl Record for WelcomeBatch {
    const WHAT: &'static str = "welcome batch";
    const VERSION: u8 = 1;
}

/// The fields of a stored [`WelcomeBatch`] the greeter's pass needs
/// ([`Store::pending_welcomes`]): its members are skipped, not decoded.
#[derive(Serialize, Deserialize)]
struct BatchHead {
    group: GroupId,
    first_ms: i64,
    #[serde(default)]
    window_from_ms: Option<i64>,
}

/// When a batch's window began: the group's last welcome when one was stored for it, else
/// its first member's join ([`WelcomeBatch::window_from`] and the greeter's pass).
fn window_from(first_ms: i64, window_from_ms: Option<i64>) -> i64 {
    window_from_ms.unwrap_or(first_ms)
}

impl Record for BatchHead {
    const WHAT: &'static str = WelcomeBatch::WHAT;
    const VERSION: u8 = WelcomeBatch::VERSION;
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
            window_from_ms: None,
        }
    }

    /// When the batch's window began: it is greeted one batch window after this.
    #[must_use]
    pub fn window_from(&self) -> i64 {
        window_from(self.first_ms, self.window_from_ms)
    }

    /// Takes `user_id` out of the batch; true if they were in it.
    pub fn remove(&mut self, user_id: i64) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.user_id != user_id);
        self.members.len() < before
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
    /// The batch window: at most one welcome per window (`None`: every join is greeted at
    /// once, alone).
    pub batch_window: Option<Duration>,
    /// A waiting batch that was due longer ago than this (`[outbox.max_age] send`) was left by
    /// a downtime: the greeter drops it unsent, so the joiner does not join it but is treated
    /// as the first of a quiet group. `None` = a batch is never too old.
    pub stale_after: Option<Duration>,
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
        /// This join started the batch. Only then does the greeter need waking: a join into
        /// a waiting batch changes no due time (the batch is greeted when its window ends,
        /// counted from before the join).
        started: bool,
    },
    /// The welcome was staged at once (no batching, or the group was quiet), as this many
    /// outbox items.
    Welcomed {
        /// How many.
        actions: usize,
    },
}

/// The `state` name of the receipt of a group's last welcome.
#[must_use]
pub fn receipt_name(group: GroupId) -> String {
    format!("{RECEIPT_PREFIX}{group}")
}

/// The `state` name of when a group's last welcome was staged (8 bytes, unix ms).
fn welcomed_at_name(group: GroupId) -> String {
    format!("welcome.at/{group}")
}

/// What every welcome receipt's name starts with (the sweep deletes old ones).
pub const RECEIPT_PREFIX: &str = "welcome.last/";

impl Store {
    /// Records a join for the event `key`: its seen-key, the member's join time and, unless the
    /// member is re-joining, either their place in the group's batch or — without batching, or
    /// when the group had no welcome within the last batch window — the welcome that `welcome`
    /// builds from a batch of one and the group's previous welcome receipt (taken when a
    /// welcome is staged: it supersedes the one before). `welcome` may run more than once, so
    /// it must be pure.
    pub fn commit_join(
        &self,
        key: &EventKey,
        now: Timestamp,
        join: &JoinWrite,
        welcome: impl Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>,
    ) -> Result<JoinRecorded, StoreError> {
        let recorded = self.unit(Some(key), now, |unit| record_join(unit, now, join, &welcome))?;
        Ok(recorded.unwrap_or(JoinRecorded::Duplicate))
    }

    /// Takes a member who left (or was removed) out of `group`'s batch, dropping the batch if
    /// nobody is left in it. Returns whether they were waiting there.
    pub fn leave_welcome(&self, group: GroupId, user_id: i64) -> Result<bool, StoreError> {
        let key = group_prefix(group);
        let left = self.unit(None, Timestamp::UNIX_EPOCH, |unit| {
            let Some(bytes) = unit.welcome.get(key)? else {
                return Ok(false);
            };
            let mut batch: WelcomeBatch = decode(&bytes).map_err(abort)?;
            if !batch.remove(user_id) {
                return Ok(false);
            }
            if batch.members.is_empty() && batch.more == 0 {
                unit.welcome.remove(&key)?;
            } else {
                unit.welcome.insert(&key, encode(&batch).map_err(abort)?)?;
            }
            Ok(true)
        })?;
        Ok(left.unwrap_or(false))
    }

    /// Every group with members waiting to be greeted, with when the window they wait out
    /// began ([`WelcomeBatch::window_from`]). Reads each batch's group and times only; the
    /// greeter calls this on every wake.
    pub fn pending_welcomes(&self) -> Result<Vec<(GroupId, i64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.welcome.iter() {
            let (key, value) = entry?;
            let head: BatchHead = decode(&value)?;
            let group = decode_group_prefix(&key).unwrap_or(head.group);
            out.push((group, window_from(head.first_ms, head.window_from_ms)));
        }
        Ok(out)
    }

    /// Greets `group`'s batch at `now`: removes it and stages what `build` makes of it and
    /// the group's previous welcome receipt, in one transaction. `build` may return nothing (a
    /// batch too old to greet); otherwise the receipt is taken, since the new welcome
    /// supersedes it, and `now` is noted as the group's last welcome. Returns the number of
    /// items staged, or `None` when the group had no batch.
    pub fn flush_welcome(
        &self,
        group: GroupId,
        now: Timestamp,
        build: impl Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>,
    ) -> Result<Option<usize>, StoreError> {
        let key = group_prefix(group);
        let receipt = receipt_name(group);
        let welcomed_at = welcomed_at_name(group);
        let now_ms = now.as_millisecond();
        // The items carry their own times; the unit's clock stamps nothing here.
        let flushed = self.unit(None, Timestamp::UNIX_EPOCH, |unit| {
            let Some(bytes) = unit.welcome.remove(&key)? else {
                return Ok(None);
            };
            let batch: WelcomeBatch = decode(&bytes).map_err(abort)?;
            let items = build(&batch, read_receipt(unit.state, &receipt)?);
            if !items.is_empty() {
                unit.state.remove(receipt.as_bytes())?;
                unit.state.insert(welcomed_at.as_bytes(), &now_ms.to_be_bytes())?;
            }
            let before = unit.staged();
            unit.stage_items(items)?;
            Ok(Some(unit.staged() - before))
        })?;
        Ok(flushed.flatten())
    }

    /// The receipt of `group`'s last welcome, if one is kept.
    pub fn welcome_receipt(&self, group: GroupId) -> Result<Option<Receipt>, StoreError> {
        self.trees()?
            .state
            .get(receipt_name(group).as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Forgets joins older than `window` (they no longer keep a member from being greeted):
    /// takes the join part off each such member record (see the `members` module), keeping
    /// its other parts, or deletes a record that held nothing else. A record written since it
    /// was read is left for the next sweep. Returns how many joins were forgotten.
    pub fn sweep_joins(&self, now: Timestamp, window: Duration) -> Result<usize, StoreError> {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.as_millisecond().saturating_sub(window_ms);
        let mut stale = Vec::new();
        for entry in self.trees()?.members.iter() {
            let (key, value) = entry?;
            let Ok(member) = <[u8; 17]>::try_from(key.as_ref()) else {
                continue;
            };
            if !super::members::joined_before(&value, cutoff) {
                continue;
            }
            let parts = super::members::parts_to_keep(&member, &value);
            let kept = super::members::join_member(super::members::Parts { joined: None, ..parts });
            stale.push((key, value, kept));
        }
        self.swap_member_records("joins sweep", stale)
    }
}

/// The join part of [`Store::commit_join`] inside a unit of work (also what a newcomer who
/// passed the gate at the door is recorded with, in the unit that closes their gate).
pub(crate) fn record_join(
    unit: &mut super::unit::Unit<'_>,
    now: Timestamp,
    join: &JoinWrite,
    welcome: &impl Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>,
) -> Result<JoinRecorded, ConflictableTransactionError<StoreError>> {
    let now_ms = now.as_millisecond();
    let member = member_key(join.group, join.member.user_id);
    let group = group_prefix(join.group);
    let receipt = receipt_name(join.group);
    let welcomed_at = welcomed_at_name(join.group);
    let millis = |w: Duration| i64::try_from(w.as_millis()).unwrap_or(i64::MAX);
    let rejoin_ms = join.rejoin_window.map(millis);
    let batch_ms = join.batch_window.map(millis);
    if let Some(window_ms) = rejoin_ms {
        // The join time is a part of the member's record ([`super::members`]).
        let stored = unit.members.get(member)?;
        let parts = super::members::stored_parts(&member, stored.as_deref());
        let previous = parts.joined;
        if let Some(record) = super::members::join_member(super::members::Parts {
            joined: Some(now_ms),
            ..parts
        }) {
            unit.members.insert(&member, record)?;
        }
        if previous.is_some_and(|at| now_ms.saturating_sub(at) < window_ms) {
            return Ok(JoinRecorded::Rejoined);
        }
    }
    if let Some(window_ms) = batch_ms {
        let mut waiting = match unit.welcome.get(group)? {
            Some(bytes) => Some(decode::<WelcomeBatch>(&bytes).map_err(abort)?),
            None => None,
        };
        // A join that arrives before the greeter's first pass after a long downtime must not
        // land in the batch the greeter is about to drop as too late (and vanish with it).
        let stale = |batch: &WelcomeBatch| {
            let due_ms = batch.window_from().saturating_add(window_ms);
            join.stale_after
                .is_some_and(|limit| now_ms.saturating_sub(due_ms) > millis(limit))
        };
        if waiting.as_ref().is_some_and(stale) {
            unit.welcome.remove(&group)?;
            waiting = None;
        }
        let last = match unit.state.get(welcomed_at.as_bytes())? {
            Some(bytes) => Some(decode_i64(&bytes, "welcome time").map_err(abort)?),
            None => None,
        };
        let recent = last.filter(|&at| now_ms.saturating_sub(at) < window_ms);
        let batch = match (waiting, recent) {
            (Some(mut batch), _) => {
                batch.add(join.member.clone());
                Some((batch, false))
            }
            // Someone was greeted moments ago: wait out the rest of that window.
            (None, Some(at)) => Some((
                WelcomeBatch {
                    window_from_ms: Some(at),
                    ..WelcomeBatch::first(join.group, join.member.clone())
                },
                true,
            )),
            // A quiet group: greeted below, at once.
            (None, None) => None,
        };
        if let Some((batch, started)) = batch {
            unit.welcome.insert(&group, encode(&batch).map_err(abort)?)?;
            return Ok(JoinRecorded::Queued {
                first_ms: batch.first_ms,
                started,
            });
        }
    }
    let batch = WelcomeBatch::first(join.group, join.member.clone());
    let items = welcome(&batch, read_receipt(unit.state, &receipt)?);
    if !items.is_empty() {
        unit.state.remove(receipt.as_bytes())?;
        unit.state.insert(welcomed_at.as_bytes(), &now_ms.to_be_bytes())?;
    }
    let actions = items.len();
    unit.stage_items(items)?;
    Ok(JoinRecorded::Welcomed { actions })
}

/// Reads the receipt `name` inside a transaction.
fn read_receipt(
    state: &super::journal::Staging<'_>,
    name: &str,
) -> Result<Option<Receipt>, ConflictableTransactionError<StoreError>> {
    match state.get(name.as_bytes())? {
        Some(bytes) => Ok(Some(decode(&bytes).map_err(abort)?)),
        None => Ok(None),
    }
}
