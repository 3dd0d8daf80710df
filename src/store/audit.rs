//! The audit log: one case per moderation action, automatic or manual.
//!
//! Cases are numbered per group (`#1`, `#2`, … as admins see them in `/why 2`), so the key is
//! `platform ‖ group ‖ case number` and a group's cases are one ordered prefix range. The next
//! number lives in the group's record in the `groups` tree and is taken inside the event
//! transaction, so numbers are dense and never reused.

use serde::{Deserialize, Serialize};

use super::codec::Record;
use crate::domain::audit::AuditEntry;

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
