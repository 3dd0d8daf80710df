//! The unit of work: every write the store makes on behalf of an event or a service goes
//! through [`Store::unit`] (or, for a violation, [`Store::core_unit`], the same over fewer
//! trees), which is the one place that
//!
//! 1. takes the commit lock (so transactions never conflict, and commits have one order);
//! 2. writes the event key's `seen_expiry` index entry (before the transaction: see
//!    `Store::index_seen`);
//! 3. opens one sled transaction over the trees such writes touch;
//! 4. records the event's key as seen, and stops there if it already was (a redelivery);
//! 5. runs the caller's work, which reads and writes through a [`Unit`] (or [`Core`]) and
//!    stages outbox items with [`Core::stage`];
//! 6. after the commit, hands the staged items to the outbox feed in commit order.
//!
//! The work closure may run more than once (sled retries on conflict), so it must be pure:
//! everything it decides comes from what it reads through the [`Unit`] and its captures.

use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{CommitLog, OutboxItem, Store, StoreError, map_tx, mark_seen, seen_expiry_key, stage, stage_items};
use crate::domain::action::Action;
use crate::domain::event::EventKey;

/// The outbox items a unit of work staged, with their sequence numbers.
type StagedItems = Vec<(u64, OutboxItem)>;

/// What an aborted unit of work returns from inside the transaction.
pub(crate) type Abort = ConflictableTransactionError<StoreError>;

/// The trees every event's record writes, inside its transaction: the subject's strikes,
/// the audit case and the group's case counter, the member's points (a strike's penalty) and
/// the outbox. A violation's transaction opens only these ([`Store::core_unit`]); a
/// [`Unit`] opens them and the rest.
pub(crate) struct Core<'t> {
    pub(crate) strikes: &'t TransactionalTree,
    pub(crate) audit: &'t TransactionalTree,
    pub(crate) groups: &'t TransactionalTree,
    pub(crate) engagement: &'t TransactionalTree,
    outbox: &'t TransactionalTree,
    now_ms: i64,
    staged: Vec<(u64, OutboxItem)>,
}

impl<'t> Core<'t> {
    /// The core trees of one transaction, nothing staged yet.
    fn new(
        strikes: &'t TransactionalTree,
        audit: &'t TransactionalTree,
        groups: &'t TransactionalTree,
        engagement: &'t TransactionalTree,
        outbox: &'t TransactionalTree,
        now_ms: i64,
    ) -> Self {
        Self {
            strikes,
            audit,
            groups,
            engagement,
            outbox,
            now_ms,
            staged: Vec::new(),
        }
    }

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

/// The trees of one unit of work, inside its transaction: the [`Core`] ones (reached through
/// it, `unit.strikes`) and the others.
pub(crate) struct Unit<'t> {
    core: Core<'t>,
    pub(crate) schedules: &'t TransactionalTree,
    pub(crate) posts: &'t TransactionalTree,
    pub(crate) state: &'t TransactionalTree,
    pub(crate) joins: &'t TransactionalTree,
    pub(crate) welcome: &'t TransactionalTree,
    pub(crate) members: &'t TransactionalTree,
    pub(crate) samples: &'t TransactionalTree,
}

/// Either kind of unit, seen as its [`Core`] (what recording an event's decision needs).
pub(crate) trait AsCore<'t> {
    fn core(&mut self) -> &mut Core<'t>;
}

impl<'t> AsCore<'t> for Core<'t> {
    fn core(&mut self) -> &mut Core<'t> {
        self
    }
}

impl<'t> AsCore<'t> for Unit<'t> {
    fn core(&mut self) -> &mut Core<'t> {
        &mut self.core
    }
}

impl<'t> std::ops::Deref for Unit<'t> {
    type Target = Core<'t>;

    fn deref(&self) -> &Core<'t> {
        &self.core
    }
}

impl<'t> std::ops::DerefMut for Unit<'t> {
    fn deref_mut(&mut self) -> &mut Core<'t> {
        &mut self.core
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
        let _op = self.begin("commit");
        let mut log = self.lock();
        let inner = self.write_gate()?;
        if let Some(key) = key {
            self.index_seen(&inner, key, now_ms)?;
        }
        // Thirteen trees (sled's `Transactional` takes at most fourteen in one tuple). A tree
        // written on its own (`trust`, `review`, `sent`) stays out of the unit; a new one that
        // must be written with an event's strikes and outbox items needs a tree merged or
        // dropped here.
        let trees = (
            &inner.seen,
            &inner.strikes,
            &inner.outbox,
            &inner.audit,
            &inner.groups,
            &inner.engagement,
            &inner.schedules,
            &inner.posts,
            &inner.state,
            &inner.joins,
            &inner.welcome,
            &inner.members,
            &inner.samples,
        );
        let result = trees
            .transaction(
                |(
                    seen,
                    strikes,
                    outbox,
                    audit,
                    groups,
                    engagement,
                    schedules,
                    posts,
                    state,
                    joins,
                    welcome,
                    members,
                    samples,
                )| {
                    if let Some(key) = key
                        && !mark_seen(seen, key, now_ms)?
                    {
                        return Ok(None);
                    }
                    let mut unit = Unit {
                        core: Core::new(strikes, audit, groups, engagement, outbox, now_ms),
                        schedules,
                        posts,
                        state,
                        joins,
                        welcome,
                        members,
                        samples,
                    };
                    let value = work(&mut unit)?;
                    Ok(Some((value, unit.core.staged)))
                },
            )
            .map_err(map_tx);
        self.finish_unit(&mut log, result)
    }

    /// [`Store::unit`] for an event whose record writes only the [`Core`] trees (a
    /// violation): one transaction over those six instead of thirteen. sled builds, commits
    /// and drops an overlay for every tree a transaction names, written or not, and holds its
    /// process-wide write lock meanwhile.
    pub(crate) fn core_unit<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        work: impl Fn(&mut Core<'_>) -> Result<R, Abort>,
    ) -> Result<Option<R>, StoreError> {
        let now_ms = now.as_millisecond();
        let _op = self.begin("commit");
        let mut log = self.lock();
        let inner = self.write_gate()?;
        self.index_seen(&inner, key, now_ms)?;
        let trees = (
            &inner.seen,
            &inner.strikes,
            &inner.outbox,
            &inner.audit,
            &inner.groups,
            &inner.engagement,
        );
        let result = trees
            .transaction(|(seen, strikes, outbox, audit, groups, engagement)| {
                if !mark_seen(seen, key, now_ms)? {
                    return Ok(None);
                }
                let mut core = Core::new(strikes, audit, groups, engagement, outbox, now_ms);
                let value = work(&mut core)?;
                Ok(Some((value, core.staged)))
            })
            .map_err(map_tx);
        self.finish_unit(&mut log, result)
    }

    /// After a unit's transaction, still under the commit lock: its outcome observed (a
    /// store-wide error marks the store failing) and, when it committed, its staged outbox
    /// items numbered and put into the feed. `None`: the event was already recorded.
    fn finish_unit<R>(
        &self,
        log: &mut CommitLog,
        result: Result<Option<(R, StagedItems)>, StoreError>,
    ) -> Result<Option<R>, StoreError> {
        let Some((value, staged)) = self.observe(result)? else {
            return Ok(None);
        };
        self.committed(log, staged);
        Ok(Some(value))
    }

    /// Indexes event `key` under its time in `seen_expiry` (the sweep's way to the expired
    /// `seen` keys), *before* the transaction that records it as seen, with a plain insert:
    /// one tree traversal, where a transactional insert of a new key costs two (sled reads
    /// the old value first) under sled's process-wide write lock.
    ///
    /// The index need not be atomic with the `seen` key; it only must never be missing for a
    /// stored one. Written first, a crash or an abort in between leaves an index entry without
    /// its key, which the sweep removes (as it did before, for a crash between its own two
    /// removals); a redelivered event adds a second entry for the key it already has, and the
    /// earlier of the two expires it, as the one entry did.
    fn index_seen(&self, inner: &super::Trees, key: &EventKey, now_ms: i64) -> Result<(), StoreError> {
        let expiry = seen_expiry_key(now_ms, &key.0);
        self.observe(
            inner
                .seen_expiry
                .insert(expiry, &[])
                .map(drop)
                .map_err(StoreError::from),
        )
    }
}
