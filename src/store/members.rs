//! The `members` tree: when each member last spoke, for inactivity (潜水) tracking.
//!
//! Keys: `platform ‖ group ‖ user` (17 B) → [`MemberActivity`]; `platform ‖ group` (9 B) →
//! [`Tracking`], when qunguan began tracking the group. Both kinds sort by group, so one prefix
//! scan reads a group's tracking start and then its members.
//!
//! Every writer takes the commit lock, so a read-modify-write here never races another.
//! [`Store::remind_members`] marks the reminded members and enqueues the reminder in one
//! transaction, so a reminder is sent once per step even across a crash.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{Record, decode, encode};
use super::keys::{decode_group_prefix, decode_member_key, group_prefix, member_key};
use super::{Store, StoreError, abort};
use crate::domain::action::Action;
use crate::domain::activity::MemberActivity;
use crate::domain::event::GroupId;

impl Record for MemberActivity {
    const WHAT: &'static str = "member activity";
    const VERSION: u8 = 1;
}

/// When qunguan began tracking a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// Unix ms of the first activity recorded in the group.
    pub since_ms: i64,
}

impl Record for Tracking {
    const WHAT: &'static str = "group tracking start";
    const VERSION: u8 = 1;
}

/// One group's tracked members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupActivity {
    /// When tracking began (unix ms), if it has.
    pub since_ms: Option<i64>,
    /// Every tracked member, by user id order.
    pub members: Vec<(i64, MemberActivity)>,
}

/// How many activity records one chunk under the commit lock holds at most (see
/// [`Store::record_activities`]).
const ACTIVITY_BATCH: usize = 128;

/// A record to write, with its key.
type Keyed<'a> = ([u8; 17], &'a (GroupId, i64, MemberActivity));

impl Store {
    /// Records that a member spoke or joined at `record.last_ms`: replaces their record (a new
    /// silence starts, nothing of it reminded yet) and starts the group's tracking if this is
    /// its first activity. A small write, not flushed: sled's background flush persists it.
    pub fn record_activity(&self, group: GroupId, user_id: i64, record: &MemberActivity) -> Result<(), StoreError> {
        self.record_activities(&[(group, user_id, record.clone())])
    }

    /// [`Store::record_activity`] for many members at once, in batches of at most
    /// `ACTIVITY_BATCH` records: the commit lock is released between batches, so a flush of
    /// tens of thousands of members never holds the webhook path's commits back for long.
    ///
    /// The records are written in key order: a batch then touches a few neighbouring tree
    /// nodes and a few groups (one tracking-start check each) instead of one of each per
    /// record, which keeps each batch's time under the commit lock short.
    pub fn record_activities(&self, records: &[(GroupId, i64, MemberActivity)]) -> Result<(), StoreError> {
        let mut keyed: Vec<Keyed<'_>> = records.iter().map(|r| (member_key(r.0, r.1), r)).collect();
        keyed.sort_unstable_by_key(|(key, _)| *key);
        for chunk in keyed.chunks(ACTIVITY_BATCH) {
            self.record_activity_batch(chunk)?;
        }
        Ok(())
    }

    fn record_activity_batch(&self, records: &[Keyed<'_>]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let trees = self.trees()?;
        let members = &trees.members;
        let mut encoded = Vec::with_capacity(records.len());
        let mut groups: Vec<(GroupId, i64)> = Vec::new();
        for (key, (group, _, record)) in records {
            encoded.push((key, encode(record)?));
            match groups.iter_mut().find(|(g, _)| g == group) {
                Some((_, first)) => *first = (*first).min(record.last_ms),
                None => groups.push((*group, record.last_ms)),
            }
        }
        let _log = self.lock();
        for (group, since_ms) in groups {
            let start = encode(&Tracking { since_ms })?;
            // Only the first write of a group succeeds; a failed swap is the normal case.
            let _ = members.compare_and_swap(group_prefix(group), None::<&[u8]>, Some(start))?;
        }
        // One insert each, not a `sled::Batch`: a batch takes sled's process-wide write lock
        // for all its records, stopping every other read and write meanwhile; the records
        // need no atomicity among them.
        for (key, value) in encoded {
            members.insert(&key[..], value)?;
        }
        Ok(())
    }

    /// Forgets a member who left the group.
    pub fn forget_member(&self, group: GroupId, user_id: i64) -> Result<(), StoreError> {
        let _log = self.lock();
        self.trees()?.members.remove(member_key(group, user_id))?;
        Ok(())
    }

    /// One member's last recorded activity.
    pub fn member_activity(&self, group: GroupId, user_id: i64) -> Result<Option<MemberActivity>, StoreError> {
        self.trees()?
            .members
            .get(member_key(group, user_id))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// The tracked members of one group.
    pub fn group_activity(&self, group: GroupId) -> Result<GroupActivity, StoreError> {
        let mut out = GroupActivity::default();
        for entry in self.trees()?.members.scan_prefix(group_prefix(group)) {
            let (key, value) = entry?;
            if key.len() == 9 {
                out.since_ms = Some(decode::<Tracking>(&value)?.since_ms);
            } else if let Some((_, user)) = decode_member_key(&key) {
                out.members.push((user, decode(&value)?));
            }
        }
        Ok(out)
    }

    /// Every group with tracked activity.
    pub fn tracked_groups(&self) -> Result<Vec<GroupId>, StoreError> {
        let mut groups = Vec::new();
        for key in self.trees()?.members.iter().keys() {
            let key = key?;
            if key.len() == 9
                && let Some(group) = decode_group_prefix(&key)
            {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    /// Marks `users` of `group` as reminded of step `step` (1-based) and enqueues the reminder
    /// in one transaction — but only the members still silent since `last_ms` as given and not
    /// yet reminded of that step (someone may have spoken since the caller read the records).
    /// `actions` is called with those members (at least one) and returns what to send. Returns
    /// how many members were reminded.
    pub fn remind_members(
        &self,
        group: GroupId,
        users: &[(i64, i64)],
        step: u32,
        actions: impl Fn(&[(i64, MemberActivity)]) -> Vec<Action>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let reminded = self.unit(None, now, |unit| {
            let mut due = Vec::new();
            for &(user, last_ms) in users {
                let key = member_key(group, user);
                let Some(bytes) = unit.members.get(key)? else { continue };
                let mut record: MemberActivity = decode(&bytes).map_err(abort)?;
                if record.last_ms != last_ms || record.reminded >= step {
                    continue;
                }
                record.reminded = step;
                unit.members.insert(&key, encode(&record).map_err(abort)?)?;
                due.push((user, record));
            }
            if !due.is_empty() {
                unit.stage(actions(&due), None)?;
            }
            Ok(due.len())
        })?;
        Ok(reminded.unwrap_or(0))
    }

    /// Marks a member's removal as enqueued, if they are still silent since `last_ms`.
    /// Returns whether the mark was made.
    pub fn mark_removing(&self, group: GroupId, user_id: i64, last_ms: i64) -> Result<bool, StoreError> {
        let trees = self.trees()?;
        let members = &trees.members;
        let _log = self.lock();
        let key = member_key(group, user_id);
        let Some(bytes) = members.get(key)? else {
            return Ok(false);
        };
        let mut record: MemberActivity = decode(&bytes)?;
        if record.last_ms != last_ms || record.removing {
            return Ok(false);
        }
        record.removing = true;
        members.insert(key, encode(&record)?)?;
        Ok(true)
    }
}
