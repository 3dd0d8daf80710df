//! The audit log: one case per moderation action, automatic or manual.
//!
//! Cases are numbered per group (`#1`, `#2`, … as admins see them in `/why 2`), so the key is
//! `platform ‖ group ‖ case number` and a group's cases are one ordered prefix range. The next
//! number lives in the group's record in the `groups` tree and is taken inside the event
//! transaction, so numbers are dense and never reused.

use serde::{Deserialize, Serialize};

use super::StoreError;
use super::abort;
use super::codec::{Record, decode, encode};
use super::keys::{case_key, group_prefix};
use super::unit::{Abort, Unit};
use crate::domain::audit::AuditEntry;
use crate::domain::event::GroupId;

/// Records `entry` as the next case of its group inside `unit` (numbered there, like
/// [`super::Store::commit`] numbers its case); returns the case number.
pub(crate) fn record_case(unit: &Unit<'_>, mut entry: AuditEntry) -> Result<u64, Abort> {
    let group_key = group_prefix(entry.group);
    let last_case = match unit.groups.get(group_key)? {
        Some(bytes) => decode::<GroupRecord>(&bytes).map_err(abort)?.last_case,
        None => 0,
    };
    let case = last_case + 1;
    entry.case = case;
    unit.audit
        .insert(&case_key(entry.group, case), encode(&entry).map_err(abort)?)?;
    unit.groups
        .insert(&group_key, encode(&GroupRecord { last_case: case }).map_err(abort)?)?;
    Ok(case)
}

impl Record for AuditEntry {
    const WHAT: &'static str = "audit entry";
    const VERSION: u8 = 1;
}

/// The `groups` tree's value: what the store keeps per group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The number of the group's last audit case (0 before the first).
    pub last_case: u64,
}

impl Record for GroupRecord {
    const WHAT: &'static str = "group record";
    const VERSION: u8 = 1;
}

/// How many of a group's newest cases [`super::Store::case_of_message`] looks through.
pub const MESSAGE_LOOKBACK: usize = 2_000;

impl super::Store {
    /// The newest case about the member's message `message_id` in `group` (the violation it
    /// caused, or an admin's label of it), among the group's last [`MESSAGE_LOOKBACK`] cases:
    /// those in `audit` first, then the archive's, newest day first.
    pub fn case_of_message(&self, group: GroupId, message_id: i64) -> Result<Option<AuditEntry>, StoreError> {
        let mut looked = 0;
        for entry in self
            .trees()?
            .audit
            .scan_prefix(super::group_prefix(group))
            .rev()
            .take(MESSAGE_LOOKBACK)
        {
            let (_, value) = entry?;
            let case: AuditEntry = decode(&value)?;
            if case.message_id == Some(message_id) {
                return Ok(Some(case));
            }
            looked += 1;
        }
        let mut found: Option<AuditEntry> = None;
        if looked < MESSAGE_LOOKBACK {
            let mut stop_day = None;
            self.archived_rev(Some(group), None, &mut |case| {
                let day = super::archive::day_of(case.at_ms);
                looked += 1;
                if looked >= MESSAGE_LOOKBACK && stop_day.is_none() {
                    stop_day = Some(day);
                }
                if case.message_id == Some(message_id) && found.as_ref().is_none_or(|f| f.case < case.case) {
                    found = Some(case);
                }
                // A match ends the search at the end of its day (a file's lines are in the
                // order the mover wrote them, not strictly by number).
                if found.is_some() && stop_day.is_none() {
                    stop_day = Some(day);
                }
                stop_day.is_none_or(|stop| day >= stop)
            })?;
        }
        Ok(found)
    }
}
