//! What a decision produces: the writes one event causes, which the store applies in one
//! transaction, and what the decision sees of the stored state.

use crate::domain::action::Action;
use crate::domain::audit::AuditEntry;
use crate::domain::engagement::Period;
use crate::domain::event::GroupId;
use crate::domain::strike::StrikeRecord;

/// What a member's strike record becomes after an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrikeWrite {
    /// Leave it as it is.
    Keep,
    /// Store this record.
    Put(StrikeRecord),
    /// Delete the record (the member was removed, or pardoned of everything).
    Clear,
}

/// The writes one event causes, for the store's `commit_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effects {
    /// The new strike record of the event's member.
    pub strikes: StrikeWrite,
    /// Actions to append to the outbox, in order.
    pub actions: Vec<Action>,
}

/// The writes one event causes, for the store's `commit`: [`Effects`] plus an audit case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writes {
    /// The new strike record of the subject member.
    pub strikes: StrikeWrite,
    /// Actions to append to the outbox, in order.
    pub actions: Vec<Action>,
    /// The audit case to record; the store gives it the number [`Snapshot::next_case`].
    pub audit: Option<AuditEntry>,
}

/// Whom an event concerns: its group and, for strikes, a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The group (its case counter is read).
    pub group: GroupId,
    /// The member whose strike record is read and written.
    pub user: Option<i64>,
}

/// What the decision inside the store's `commit` sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The subject member's strike record, if any.
    pub record: Option<StrikeRecord>,
    /// The number an audit case recorded by this commit gets.
    pub next_case: u64,
}

/// The points a violation costs its member (`[engagement] strike_penalty`), taken away in the
/// violation's own transaction (the store's `commit_violation`).
///
/// The number of strikes is not known until the decision has run inside the transaction, so
/// the penalty is a rate: the store multiplies `per_strike` by the strikes the recorded audit
/// case added (`strikes_after - strikes_before`; nothing for a dry run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrikePenalty {
    /// Points per new strike (positive).
    pub per_strike: i64,
    /// The day, week and month the deduction counts against (the boards' tallies).
    pub period: Period,
}
