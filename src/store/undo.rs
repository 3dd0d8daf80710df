//! Undoing an audit case (the console's Undo): one unit of work that reads the case and the
//! member's strikes, lets the caller decide, and writes the decision — the member's new
//! strike record, a new case recording who undid what, and the mark on the undone case —
//! in one transaction, so a case is never undone twice and never half-undone.
//!
//! The store only applies; what an undo takes back is decided by the caller (the ladder's
//! [`crate::domain::strike`] rules live in policy, which the store does not import).

use super::codec::{decode, encode};
use super::strikes::StoredStrikes;
use super::{GroupRecord, Store, StoreError, abort, case_key, group_prefix, member_key};
use crate::domain::audit::AuditEntry;
use crate::domain::effects::StrikeWrite;
use crate::domain::event::GroupId;
use crate::domain::strike::StrikeRecord;

/// What the caller of [`Store::undo_case`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoWrites {
    /// The member's strike record after the undo.
    pub strikes: StrikeWrite,
    /// The case recording the undo; the store numbers it and sets its `undoes`.
    pub audit: AuditEntry,
}

/// What became of an undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Undo<R> {
    /// Done: the new case's number, and the undone case as it now reads.
    Done {
        /// The number of the case that records the undo.
        case: u64,
        /// The undone case, with `undone_by` set.
        undone: Box<AuditEntry>,
    },
    /// No such case in the group.
    NoSuchCase,
    /// The case was undone before, by this case.
    AlreadyUndone(u64),
    /// The caller refused (nothing to take back …); nothing was written.
    Refused(R),
}

impl Store {
    /// Undoes case `case` of `group` in one transaction. `decide` sees the case, the member's
    /// strike record and the number the undo's own case will get; it returns the writes, or
    /// a refusal that leaves everything as it was. It may run more than once (see
    /// [`Store::unit`]), so it must be pure.
    pub fn undo_case<R>(
        &self,
        group: GroupId,
        case: u64,
        now: jiff::Timestamp,
        decide: impl Fn(&AuditEntry, Option<StrikeRecord>, u64) -> Result<UndoWrites, R>,
    ) -> Result<Undo<R>, StoreError> {
        let key = case_key(group, case);
        let group_key = group_prefix(group);
        let undone = self.unit(None, now, |unit| {
            // A case in `audit`, else in the archive; either way the edited case is written to
            // `audit` below (the mover archives it again later, and that later line wins).
            let mut entry: AuditEntry = match unit.audit.get(key)? {
                Some(bytes) => decode(&bytes).map_err(abort)?,
                None => match self.archived_case(group, case).map_err(abort)? {
                    Some(entry) => entry,
                    None => return Ok(Undo::NoSuchCase),
                },
            };
            if let Some(by) = entry.undone_by {
                return Ok(Undo::AlreadyUndone(by));
            }
            let strike_key = member_key(group, entry.user_id);
            let record = match unit.strikes.get(strike_key)? {
                Some(bytes) => Some(StrikeRecord::from(decode::<StoredStrikes>(&bytes).map_err(abort)?)),
                None => None,
            };
            let last_case = match unit.groups.get(group_key)? {
                Some(bytes) => decode::<GroupRecord>(&bytes).map_err(abort)?.last_case,
                None => 0,
            };
            let next_case = last_case + 1;
            let writes = match decide(&entry, record, next_case) {
                Ok(writes) => writes,
                Err(refused) => return Ok(Undo::Refused(refused)),
            };
            match &writes.strikes {
                StrikeWrite::Keep => {}
                StrikeWrite::Put(record) => {
                    unit.strikes
                        .insert(&strike_key, encode(&StoredStrikes::from(record)).map_err(abort)?)?;
                }
                StrikeWrite::Clear => {
                    unit.strikes.remove(&strike_key)?;
                }
            }
            let mut audit = writes.audit;
            audit.case = next_case;
            audit.group = group;
            audit.undoes = Some(case);
            unit.audit
                .insert(&case_key(group, next_case), encode(&audit).map_err(abort)?)?;
            entry.undone_by = Some(next_case);
            unit.audit.insert(&key, encode(&entry).map_err(abort)?)?;
            let record = GroupRecord { last_case: next_case };
            unit.groups.insert(&group_key, encode(&record).map_err(abort)?)?;
            Ok(Undo::Done {
                case: next_case,
                undone: Box::new(entry),
            })
        })?;
        undone.ok_or(StoreError::Invalid("an undo is not an event and cannot be a duplicate"))
    }
}
