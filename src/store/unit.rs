//! The unit of work: every write the store makes on behalf of an event or a service goes
//! through [`Store::unit`], which is the one place that
//!
//! 1. takes the commit lock (so transactions never conflict, and commits have one order);
//! 2. opens one sled transaction over the trees such writes touch;
//! 3. records the event's key as seen, and stops there if it already was (a redelivery);
//! 4. runs the caller's work, which reads and writes through a [`Unit`] and stages outbox
//!    items with [`Unit::stage`];
//! 5. after the commit, hands the staged items to the outbox feed in commit order.
//!
//! The work closure may run more than once (sled retries on conflict), so it must be pure:
//! everything it decides comes from what it reads through the [`Unit`] and its captures.

use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{OutboxItem, Store, StoreError, map_tx, mark_seen, seen_expiry_key, stage, stage_items};
use crate::domain::action::Action;
use crate::domain::event::EventKey;

/// What an aborted unit of work returns from inside the transaction.
pub(crate) type Abort = ConflictableTransactionError<StoreError>;

/// The trees of one unit of work, inside its transaction.
pub(crate) struct Unit<'t> {
    pub(crate) strikes: &'t TransactionalTree,
    pub(crate) audit: &'t TransactionalTree,
    pub(crate) groups: &'t TransactionalTree,
    pub(crate) schedules: &'t TransactionalTree,
    pub(crate) posts: &'t TransactionalTree,
    pub(crate) state: &'t TransactionalTree,
    pub(crate) joins: &'t TransactionalTree,
    pub(crate) welcome: &'t TransactionalTree,
    pub(crate) members: &'t TransactionalTree,
    pub(crate) samples: &'t TransactionalTree,
    pub(crate) engagement: &'t TransactionalTree,
    outbox: &'t TransactionalTree,
    now_ms: i64,
    staged: Vec<(u64, OutboxItem)>,
}

impl Unit<'_> {
    /// Appends `actions` to the outbox, stamped now and tied to audit `case`.
    pub(crate) fn stage(&mut self, actions: impl IntoIterator<Item = Action>, case: Option<u64>) -> Result<(), Abort> {
        let staged = stage(self.outbox, actions, self.now_ms, case)?;
        self.staged.extend(staged);
        Ok(())
    }

    /// Appends items the caller prepared (a later `not_before_ms`, a receipt name).
    pub(crate) fn stage_items(&mut self, items: impl IntoIterator<Item = OutboxItem>) -> Result<(), Abort> {
        let staged = stage_items(self.outbox, items)?;
        self.staged.extend(staged);
        Ok(())
    }

    /// How many outbox items this unit has staged so far.
    pub(crate) fn staged(&self) -> usize {
        self.staged.len()
    }
}

impl Store {
    /// Runs `work` as one transaction. With `key`, the event is recorded as seen in the same
    /// transaction, and `Ok(None)` means it already was: nothing was written.
    pub(crate) fn unit<R>(
        &self,
        key: Option<&EventKey>,
        now: Timestamp,
        work: impl Fn(&mut Unit<'_>) -> Result<R, Abort>,
    ) -> Result<Option<R>, StoreError> {
        let now_ms = now.as_millisecond();
        let expiry_key = key.map(|k| seen_expiry_key(now_ms, &k.0));
        let _op = self.begin("commit");
        let mut log = self.lock();
        let inner = self.write_gate()?;
        // Fourteen trees: the most sled's `Transactional` takes in one tuple. A tree written
        // on its own (`trust`, `review`, `sent`) stays out of the unit; a new one that must be
        // written with an event's strikes and outbox items needs a tree merged or dropped here.
        let trees = (
            &inner.seen,
            &inner.seen_expiry,
            &inner.strikes,
            &inner.outbox,
            &inner.audit,
            &inner.groups,
            &inner.schedules,
            &inner.posts,
            &inner.state,
            &inner.joins,
            &inner.welcome,
            &inner.members,
            &inner.samples,
            &inner.engagement,
        );
        let result = trees
            .transaction(
                |(
                    seen,
                    seen_expiry,
                    strikes,
                    outbox,
                    audit,
                    groups,
                    schedules,
                    posts,
                    state,
                    joins,
                    welcome,
                    members,
                    samples,
                    engagement,
                )| {
                    if let (Some(key), Some(expiry)) = (key, &expiry_key)
                        && !mark_seen(seen, seen_expiry, key, now_ms, expiry)?
                    {
                        return Ok(None);
                    }
                    let mut unit = Unit {
                        strikes,
                        audit,
                        groups,
                        schedules,
                        posts,
                        state,
                        joins,
                        welcome,
                        members,
                        samples,
                        engagement,
                        outbox,
                        now_ms,
                        staged: Vec::new(),
                    };
                    let value = work(&mut unit)?;
                    Ok(Some((value, unit.staged)))
                },
            )
            .map_err(map_tx);
        let result = self.observe(result)?;
        let Some((value, staged)) = result else {
            return Ok(None);
        };
        self.committed(&mut log, staged);
        Ok(Some(value))
    }
}
