//! Undoing a case from the operators' console: what `/pardon` does for one member, aimed at
//! the strike one case gave.
//!
//! - **decided** by [`ladder::pardon`] with [`ladder::Take::Given`]: the strike stamped with
//!   the case's time and rule, if it still counts;
//! - **durable** in one unit of work ([`Store::undo_case`]): the member's strikes, a new
//!   `pardon` case naming the operator (its `undoes` points back) and the undone case's
//!   `undone_by`, all or nothing;
//! - nothing is posted in the group: the console is not a conversation there. The new case
//!   shows up in `/why`, the audit log and the console like any other.
//!
//! A case that gave no strike that still counts (a `/mute`, an expired strike, a member whose
//! record a kick cleared) cannot be undone, and nothing changes.

use jiff::Timestamp;

use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::effects::StrikeWrite;
use crate::domain::event::GroupId;
use crate::policy::group::Policies;
use crate::policy::ladder::{self, Take};
use crate::store::{Store, StoreError, Undo, UndoWrites};

/// Why a case was not undone.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// The group has no such case.
    #[error("{group} has no case #{case}")]
    NoSuchCase {
        /// The group.
        group: GroupId,
        /// The case asked for.
        case: u64,
    },
    /// It was undone already.
    #[error("case #{case} was already undone by case #{by}")]
    AlreadyUndone {
        /// The case asked for.
        case: u64,
        /// The case that undid it.
        by: u64,
    },
    /// It gave no strike that still counts.
    #[error("case #{case} has no strike left to take back: {why}")]
    NothingToUndo {
        /// The case asked for.
        case: u64,
        /// Why.
        why: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An undo that was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undone {
    /// The number of the `pardon` case that records it.
    pub case: u64,
    /// The undone case, with `undone_by` set.
    pub undone: AuditEntry,
    /// Strikes taken back (by weight).
    pub removed: u32,
    /// The member's active strikes afterwards.
    pub strikes_after: u32,
}

/// Undoes case `case` of `group` for `actor` and makes it durable before returning.
pub async fn undo_case(
    store: &Store,
    policies: &Policies,
    group: GroupId,
    case: u64,
    actor: Actor,
    now: Timestamp,
) -> Result<Undone, UndoError> {
    let ttl = policies.group(group).strike_ttl;
    let task_store = store.clone();
    let done = tokio::task::spawn_blocking(move || {
        task_store.undo_case(group, case, now, |entry, record, _next| {
            if entry.undoes.is_some() || matches!(entry.measure, Measure::Pardon { .. }) {
                return Err("it is itself an undo or a pardon");
            }
            if entry.strikes_after <= entry.strikes_before {
                return Err("it gave no strike");
            }
            let record = record.unwrap_or_default();
            let before = record.count(now, ttl);
            let take = Take::Given {
                at_ms: entry.at_ms,
                rule: &entry.rule,
            };
            let (left, removed) = ladder::pardon(&record, take, now, ttl);
            if removed == 0 {
                return Err("its strike has expired, or the member was removed since (which clears strikes)");
            }
            let after = left.as_ref().map_or(0, |r| r.count(now, ttl));
            let mut audit = AuditEntry::new(
                group,
                now.as_millisecond(),
                entry.user_id,
                actor.clone(),
                entry.rule.clone(),
                Measure::Pardon { removed },
            );
            audit.user_name = entry.user_name.clone();
            audit.strikes_before = before;
            audit.strikes_after = after;
            Ok(UndoWrites {
                strikes: left.map_or(StrikeWrite::Clear, StrikeWrite::Put),
                audit,
            })
        })
    })
    .await
    .map_err(|e| StoreError::Join(format!("the undo task: {e}")))??;
    match done {
        Undo::Done { case: new, undone } => {
            store.durable().await?;
            let entry = store.case(group, new)?;
            let (removed, strikes_after) = match entry.map(|e| (e.measure, e.strikes_after)) {
                Some((Measure::Pardon { removed }, after)) => (removed, after),
                _ => (0, 0),
            };
            tracing::info!(%group, case, undo = new, removed, "case undone from the console");
            Ok(Undone {
                case: new,
                undone: *undone,
                removed,
                strikes_after,
            })
        }
        Undo::NoSuchCase => Err(UndoError::NoSuchCase { group, case }),
        Undo::AlreadyUndone(by) => Err(UndoError::AlreadyUndone { case, by }),
        Undo::Refused(why) => Err(UndoError::NothingToUndo { case, why }),
    }
}
