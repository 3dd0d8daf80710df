//! The unit of work: every write the store makes on behalf of an event or a service goes
//! through [`Store::unit`] (or, for a violation, [`Store::core_unit`], the same over fewer
//! trees), which is the one place that
//!
//! 1. takes the commit lock (so units never interleave, and commits have one order), and
//!    first finishes a unit a write error left unfinished ([`super::journal`]);
//! 2. records the event's key as seen (with its time, which is what the sweep expires it by),
//!    and stops there if it already was (a redelivery);
//! 3. runs the caller's work, which reads and writes through a [`Unit`] (or [`Core`]) —
//!    [`Staging`] trees: the writes are kept in memory — and stages outbox items with
//!    [`Core::stage`];
//! 4. writes what the work wrote as one unit, atomic across a crash, without a sled
//!    transaction ([`super::journal`]: a one-record redo journal, then plain writes);
//! 5. hands the staged items to the outbox feed in commit order.
//!
//! The work closure runs once; an abort (`Err`) writes nothing.

use jiff::Timestamp;
use sled::transaction::ConflictableTransactionError;

use super::journal::{self, Staging, Write};
use super::{CommitLog, OutboxItem, Store, StoreError, Trees, mark_seen, stage, stage_items};
use crate::domain::action::Action;
use crate::domain::event::EventKey;

/// The outbox items a unit of work staged, with their sequence numbers.
pub(crate) type StagedItems = Vec<(u64, OutboxItem)>;

/// What an aborted unit of work returns from its work.
pub(crate) type Abort = ConflictableTransactionError<StoreError>;

/// A unit whose writes failed part-way (a full disk): kept under the commit lock and
/// written again before anything else ([`Store::finish_unfinished`]).
pub(crate) struct Unfinished {
    writes: Vec<Write>,
    staged: StagedItems,
}

/// The trees every event's record writes: the subject's strikes, the audit case and the
/// group's case counter, the member's record (its points part: a strike's penalty) and the
/// outbox. A
/// violation's unit opens only these ([`Store::core_unit`]); a [`Unit`] opens them and the
/// rest.
pub(crate) struct Core<'t> {
    pub(crate) strikes: &'t Staging<'t>,
    pub(crate) audit: &'t Staging<'t>,
    pub(crate) groups: &'t Staging<'t>,
    pub(crate) members: &'t Staging<'t>,
    outbox: &'t Staging<'t>,
    now_ms: i64,
    staged: Vec<(u64, OutboxItem)>,
}

impl<'t> Core<'t> {
    /// The core trees of one unit, nothing staged yet.
    fn new(
        strikes: &'t Staging<'t>,
        audit: &'t Staging<'t>,
        groups: &'t Staging<'t>,
        members: &'t Staging<'t>,
        outbox: &'t Staging<'t>,
        now_ms: i64,
    ) -> Self {
        Self {
            strikes,
            audit,
            groups,
            members,
            outbox,
            now_ms,
            staged: Vec::new(),
        }
    }

    /// Appends `actions` to the outbox, stamped now and tied to audit `case`.
    pub(crate) fn stage(&mut self, actions: impl IntoIterator<Item = Action>, case: Option<u64>) -> Result<(), Abort> {
        self.stage_about(actions, case, None)
    }

    /// [`Core::stage`], its recalls being of `member`'s messages ([`OutboxItem::member`]).
    pub(crate) fn stage_about(
        &mut self,
        actions: impl IntoIterator<Item = Action>,
        case: Option<u64>,
        member: Option<i64>,
    ) -> Result<(), Abort> {
        let staged = stage(self.outbox, actions, self.now_ms, case, member)?;
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

/// The staged trees every unit writes through: the event's `seen` key and the [`Core`] trees.
struct CoreTrees<'t> {
    seen: Staging<'t>,
    strikes: Staging<'t>,
    outbox: Staging<'t>,
    audit: Staging<'t>,
    groups: Staging<'t>,
    members: Staging<'t>,
}

impl<'t> CoreTrees<'t> {
    fn new(inner: &'t Trees) -> Self {
        let db = &inner.db;
        Self {
            seen: Staging::new("seen", &inner.seen, db),
            strikes: Staging::new("strikes", &inner.strikes, db),
            outbox: Staging::new("outbox", &inner.outbox, db),
            audit: Staging::new("audit", &inner.audit, db),
            groups: Staging::new("groups", &inner.groups, db),
            members: Staging::new("members", &inner.members, db),
        }
    }

    /// The unit's [`Core`], nothing staged yet.
    fn core(&self, now_ms: i64) -> Core<'_> {
        Core::new(
            &self.strikes,
            &self.audit,
            &self.groups,
            &self.members,
            &self.outbox,
            now_ms,
        )
    }
}

/// The trees of one unit of work: the [`Core`] ones (reached through it, `unit.strikes`) and
/// the others.
pub(crate) struct Unit<'t> {
    core: Core<'t>,
    pub(crate) schedules: &'t Staging<'t>,
    pub(crate) posts: &'t Staging<'t>,
    pub(crate) state: &'t Staging<'t>,
    pub(crate) welcome: &'t Staging<'t>,
    pub(crate) engagement: &'t Staging<'t>,
    pub(crate) samples: &'t Staging<'t>,
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
    /// Runs `work` as one unit of work. With `key`, the event is recorded as seen in the same
    /// unit, and `Ok(None)` means it already was: nothing was written.
    pub(crate) fn unit<R>(
        &self,
        key: Option<&EventKey>,
        now: Timestamp,
        work: impl Fn(&mut Unit<'_>) -> Result<R, Abort>,
    ) -> Result<Option<R>, StoreError> {
        let now_ms = now.as_millisecond();
        let (_op, mut log, inner) = self.begin_unit()?;
        let db = &inner.db;
        let core = CoreTrees::new(&inner);
        let schedules = Staging::new("schedules", &inner.schedules, db);
        let posts = Staging::new("posts", &inner.posts, db);
        let state = Staging::new("state", &inner.state, db);
        let welcome = Staging::new("welcome", &inner.welcome, db);
        let engagement = Staging::new("engagement", &inner.engagement, db);
        let samples = Staging::new("samples", &inner.samples, db);
        let result = (|| {
            if let Some(key) = key
                && !mark_seen(&core.seen, inner.legacy_seen(), key, now_ms)?
            {
                return Ok(None);
            }
            let mut unit = Unit {
                core: core.core(now_ms),
                schedules: &schedules,
                posts: &posts,
                state: &state,
                welcome: &welcome,
                engagement: &engagement,
                samples: &samples,
            };
            let value = work(&mut unit)?;
            Ok(Some((value, unit.core.staged)))
        })();
        let others = [&schedules, &posts, &state, &welcome, &engagement, &samples];
        self.finish_unit(&mut log, &inner, &core, &others, result)
    }

    /// The start of every unit (step 1 of the module docs): its operation, watched by the
    /// store's watchdog; the commit lock, with a unit a write error left unfinished written
    /// first; and the trees for writing.
    fn begin_unit(
        &self,
    ) -> Result<
        (
            super::health::Op<'_>,
            std::sync::MutexGuard<'_, CommitLog>,
            std::sync::Arc<Trees>,
        ),
        StoreError,
    > {
        let op = self.begin("commit");
        let mut log = self.lock();
        self.finish_unfinished(&mut log)?;
        let inner = self.write_gate()?;
        Ok((op, log, inner))
    }

    /// [`Store::unit`] for an event whose record writes only the [`Core`] trees (a
    /// violation).
    pub(crate) fn core_unit<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        work: impl Fn(&mut Core<'_>) -> Result<R, Abort>,
    ) -> Result<Option<R>, StoreError> {
        let now_ms = now.as_millisecond();
        let (_op, mut log, inner) = self.begin_unit()?;
        let trees = CoreTrees::new(&inner);
        let result = (|| {
            if !mark_seen(&trees.seen, inner.legacy_seen(), key, now_ms)? {
                return Ok(None);
            }
            let mut core = trees.core(now_ms);
            let value = work(&mut core)?;
            Ok(Some((value, core.staged)))
        })();
        self.finish_unit(&mut log, &inner, &trees, &[], result)
    }

    /// A unit of the audit archive's mover ([`super::archive`]): `work` reads and writes
    /// `audit` and `archive` only; written as one unit like any other.
    pub(super) fn archive_unit<R>(
        &self,
        work: impl FnOnce(&Staging<'_>, &Staging<'_>) -> Result<R, Abort>,
    ) -> Result<R, StoreError> {
        let (_op, mut log, inner) = self.begin_unit()?;
        let audit = Staging::new("audit", &inner.audit, &inner.db);
        let index = Staging::new("archive", &inner.archive, &inner.db);
        let value = self.observe(work(&audit, &index).map_err(from_abort))?;
        let mut writes = Vec::new();
        audit.drain_into(&mut writes);
        index.drain_into(&mut writes);
        if let Err(e) = journal::write_unit(&inner, &writes) {
            if writes.len() > 1 {
                self.set_unfinished(
                    &mut log,
                    Some(Unfinished {
                        writes,
                        staged: Vec::new(),
                    }),
                );
            }
            return self.observe(Err(e));
        }
        self.committed(&mut log, Vec::new());
        Ok(value)
    }

    /// After a unit's work, still under the commit lock: its writes written as one unit
    /// ([`journal::write_unit`]), the outcome observed (a store-wide error marks the store
    /// failing) and, when it was written, its staged outbox items numbered and put into the
    /// feed. `None`: the event was already recorded. A write error part-way leaves the unit
    /// unfinished ([`Store::finish_unfinished`]).
    fn finish_unit<R>(
        &self,
        log: &mut CommitLog,
        inner: &Trees,
        core: &CoreTrees<'_>,
        others: &[&Staging<'_>],
        result: Result<Option<(R, StagedItems)>, Abort>,
    ) -> Result<Option<R>, StoreError> {
        let Some((value, staged)) = self.observe(result.map_err(from_abort))? else {
            return Ok(None);
        };
        let mut writes = Vec::new();
        let written = [&core.strikes, &core.outbox, &core.audit, &core.groups, &core.members];
        // The event's seen key last: a reader outside the lock sees it only with the rest.
        for tree in written.into_iter().chain(others.iter().copied()).chain([&core.seen]) {
            tree.drain_into(&mut writes);
        }
        if let Err(e) = journal::write_unit(inner, &writes) {
            if writes.len() > 1 {
                // The journal may be on disk: the unit must end as a whole before anything
                // else is written.
                self.set_unfinished(log, Some(Unfinished { writes, staged }));
            }
            return self.observe(Err(e));
        }
        self.committed(log, staged);
        Ok(Some(value))
    }

    /// Writes again a unit that a write error left unfinished, if there is one, and removes
    /// its journal; then hands its outbox items to the feed. Until this succeeds, every other
    /// write is refused (`write_gate`). The caller holds the commit lock.
    pub(super) fn finish_unfinished(&self, log: &mut CommitLog) -> Result<(), StoreError> {
        let Some(unfinished) = log.unfinished.take() else {
            return Ok(());
        };
        // The whole unit again, journal first: the first attempt may have failed before its
        // journal was written, and a crash during this one must still find it.
        let finished = self
            .trees()
            .and_then(|trees| journal::write_unit(&trees, &unfinished.writes));
        if let Err(e) = finished {
            log.unfinished = Some(unfinished);
            return self.observe(Err(e));
        }
        self.set_unfinished(log, None);
        self.committed(log, unfinished.staged);
        Ok(())
    }
}

/// The error of a unit's work: what it aborted with, or a read's storage error.
fn from_abort(e: Abort) -> StoreError {
    match e {
        ConflictableTransactionError::Abort(e) => e,
        ConflictableTransactionError::Storage(e) => StoreError::Sled(e),
        // Staging trees never conflict; a work closure has no reason to return this.
        ConflictableTransactionError::Conflict => StoreError::Invalid("a unit of work returned a conflict"),
    }
}
