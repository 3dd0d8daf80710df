//! Units of work without sled transactions: staged writes, a one-record redo journal, plain
//! writes.
//!
//! Every sled 0.34 transaction seals the log buffer twice (`PageCache::pin_log` rolls it
//! before and after its batch manifest) — two jobs for sled's I/O thread pool, each waking
//! all its idle threads, and a `pwrite` + `sync_file_range` each — and takes sled's
//! process-wide write lock, which waits for every other reader and writer of the database
//! to drain. Each violation and each join was one such transaction (docs/performance.md,
//! "Session 21: CPU per event"). A plain `insert` seals nothing; the group commit's flush
//! seals once for every write made before it.
//!
//! So a unit of work ([`super::unit`]) now runs like this, under the commit lock:
//!
//! 1. its work reads and writes through [`Staging`] trees: reads see the unit's own writes
//!    first, then the tree; writes are only kept in memory (an abort drops them);
//! 2. if it wrote more than one key, every write is encoded into one record, the **journal**
//!    (`meta`/`journal`), written with one plain insert — one log message, so atomic;
//! 3. the writes are applied to their trees with plain inserts and removes;
//! 4. the journal is removed.
//!
//! **Why this is as atomic as the transaction was, across a crash.** sled recovers its log
//! in order and stops at the first message that was not written completely (a "tear"): what
//! a restart finds is always a prefix of the writes, in the order they were made
//! (sled's `LogIter`; the same property its batch manifests rely on). Every writer of the
//! trees a unit writes holds the commit lock, so nothing else writes those keys between
//! steps 2 and 4 (the sweep, without the lock, removes only expired seen keys, cases and
//! receipts, and strike records by compare-and-swap: never what a unit in progress writes).
//! After a crash:
//!
//! - no journal, none of the unit's writes: the crash came before step 2, nothing happened;
//! - no journal, all of them: the crash came after step 4;
//! - the journal: the crash came between steps 2 and 4, with any prefix of the writes on
//!   disk and *nothing written after the journal's removal*. [`replay_on_open`] applies the
//!   journal again (every write sets a key to a value or removes it, so applying it twice
//!   is harmless) and removes it, before anything else reads or writes.
//!
//! The unit is durable, like the transaction was, only after a flush (the group commit);
//! nothing is acknowledged or sent before that, as before.
//!
//! **A write error in step 3 or 4** (a full disk) leaves the journal and part of the writes
//! in the running process. The unit returns the error (the webhook answers 503) and keeps
//! its writes as *unfinished* under the commit lock: while it is, every other write of the
//! store is refused ([`super::Store::write_gate`]), and the next unit of work, or the store's
//! recovery, applies it again first, then hands its outbox items to the delivery worker.
//!
//! What readers outside the commit lock can see meanwhile: a unit's writes appear one after
//! the other, not at once (a listing of cases may show a case before its strike record).
//! Nothing decides on such a read: every decision reads under the commit lock.

use std::cell::RefCell;
use std::collections::BTreeMap;

use sled::IVec;
use sled::transaction::UnabortableTransactionError;

use super::{StoreError, Trees};

/// `meta` key of the journal of the unit of work being applied (absent almost always).
pub(crate) const JOURNAL_KEY: &[u8] = b"journal";

/// The first byte of a journal record: its format.
const FORMAT: u8 = 1;

/// What a read or write of a [`Staging`] tree fails with (sled's transactional error type,
/// so the work closures' `?` converts it into an [`super::unit::Abort`] as before).
pub(crate) type StagingError = UnabortableTransactionError;

/// One tree as a unit of work sees it: its reads see the unit's own writes first, its
/// writes are kept until the unit ends (each a [`Write`]).
pub(crate) struct Staging<'t> {
    name: &'static str,
    tree: &'t sled::Tree,
    db: &'t sled::Db,
    /// The unit's writes: a value, or `None` for a removal.
    writes: RefCell<BTreeMap<IVec, Option<IVec>>>,
}

impl<'t> Staging<'t> {
    pub(crate) fn new(name: &'static str, tree: &'t sled::Tree, db: &'t sled::Db) -> Self {
        Self {
            name,
            tree,
            db,
            writes: RefCell::new(BTreeMap::new()),
        }
    }

    /// The value of `key` as the unit sees it.
    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<IVec>, StagingError> {
        let key = key.as_ref();
        if let Some(staged) = self.writes.borrow().get(key) {
            return Ok(staged.clone());
        }
        self.tree.get(key).map_err(UnabortableTransactionError::Storage)
    }

    /// The greatest key at or below `key` and its value, as the unit sees the tree (its own
    /// writes first, its removals hiding what the tree holds).
    pub(crate) fn floor(&self, key: &[u8]) -> Result<Option<(IVec, IVec)>, StagingError> {
        use std::ops::Bound;
        let writes = self.writes.borrow();
        let staged = writes
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
            .rev()
            .find_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())));
        let mut stored = None;
        for entry in self.tree.range(..=key).rev() {
            let (k, v) = entry.map_err(UnabortableTransactionError::Storage)?;
            // A key the unit wrote or removed is what `staged` saw (or hides).
            if staged.as_ref().is_some_and(|(s, _)| *s >= k) {
                break;
            }
            if !writes.contains_key(&k) {
                stored = Some((k, v));
                break;
            }
        }
        Ok(match (staged, stored) {
            (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
            (a, b) => a.or(b),
        })
    }

    /// Sets `key` to `value` (when the unit ends). Reads nothing: [`Staging::replace`]
    /// returns the old value.
    pub(crate) fn insert<K: AsRef<[u8]> + ?Sized>(&self, key: &K, value: impl Into<IVec>) -> Result<(), StagingError> {
        self.writes
            .borrow_mut()
            .insert(IVec::from(key.as_ref()), Some(value.into()));
        Ok(())
    }

    /// [`Staging::insert`], returning the value it replaces.
    pub(crate) fn replace<K: AsRef<[u8]> + ?Sized>(
        &self,
        key: &K,
        value: impl Into<IVec>,
    ) -> Result<Option<IVec>, StagingError> {
        let old = self.get(key.as_ref())?;
        self.insert(key, value)?;
        Ok(old)
    }

    /// Removes `key` (when the unit ends); returns the value it had.
    pub(crate) fn remove<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<Option<IVec>, StagingError> {
        let old = self.get(key.as_ref())?;
        self.writes.borrow_mut().insert(IVec::from(key.as_ref()), None);
        Ok(old)
    }

    /// A fresh id from sled's monotonic generator (what a transaction's `generate_id` is).
    pub(crate) fn generate_id(&self) -> Result<u64, StagingError> {
        self.db.generate_id().map_err(UnabortableTransactionError::Storage)
    }

    /// Moves this tree's writes into `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<Write>) {
        let writes = std::mem::take(&mut *self.writes.borrow_mut());
        out.extend(writes.into_iter().map(|(key, value)| Write {
            tree: self.name,
            key,
            value,
        }));
    }
}

/// One write of a unit: `key` of `tree` set to `value`, or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub(crate) tree: &'static str,
    pub(crate) key: IVec,
    pub(crate) value: Option<IVec>,
}

/// The trees a unit of work writes, so a journal may name. `joins` is no longer written (schema
/// 8 keeps a member's join time in their record), but a journal an older build left behind may
/// name it: [`replay_on_open`] applies it before the migration moves the tree's records.
const UNIT_TREES: [&str; 14] = [
    "archive",
    "seen",
    "strikes",
    "outbox",
    "audit",
    "groups",
    "engagement",
    "schedules",
    "posts",
    "state",
    "joins",
    "welcome",
    "members",
    "samples",
];

/// The trees a journal may name ([`UNIT_TREES`]), in [`Trees`].
fn tree<'t>(trees: &'t Trees, name: &str) -> Option<&'t sled::Tree> {
    Some(match name {
        "archive" => &trees.archive,
        "seen" => &trees.seen,
        "strikes" => &trees.strikes,
        "outbox" => &trees.outbox,
        "audit" => &trees.audit,
        "groups" => &trees.groups,
        "engagement" => &trees.engagement,
        "schedules" => &trees.schedules,
        "posts" => &trees.posts,
        "state" => &trees.state,
        "welcome" => &trees.welcome,
        "members" => &trees.members,
        "samples" => &trees.samples,
        _ => return None,
    })
}

/// Encodes `writes` as a journal record: the format byte, then per write the tree's name
/// (length u8), the key (length u32 BE), and a flag (1: a value follows, length u32 BE;
/// 0: a removal).
pub(crate) fn encode(writes: &[Write]) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|w| 10 + w.tree.len() + w.key.len() + w.value.as_ref().map_or(0, |v| v.len()))
        .sum();
    let mut out = Vec::with_capacity(1 + size);
    out.push(FORMAT);
    for w in writes {
        out.push(u8::try_from(w.tree.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(w.tree.as_bytes());
        put_bytes(&mut out, &w.key);
        match &w.value {
            Some(value) => {
                out.push(1);
                put_bytes(&mut out, value);
            }
            None => out.push(0),
        }
    }
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes a journal record written by [`encode`]: `(tree name, key, value)` per write.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<(String, IVec, Option<IVec>)>, StoreError> {
    let bad = || {
        StoreError::Invalid(
            "the database holds a damaged journal record (meta/journal): restore the latest backup with `qunguan restore`",
        )
    };
    let mut rest = match bytes.split_first() {
        Some((&FORMAT, rest)) => rest,
        _ => return Err(bad()),
    };
    let mut take = |n: usize| -> Result<&[u8], StoreError> {
        if rest.len() < n {
            return Err(bad());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let mut out = Vec::new();
    loop {
        let Ok(len) = take(1) else { break };
        let name = std::str::from_utf8(take(usize::from(len[0]))?)
            .map_err(|_| bad())?
            .to_owned();
        let key_len = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?);
        let key = IVec::from(take(key_len as usize)?);
        let value = match take(1)?[0] {
            0 => None,
            1 => {
                let len = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?);
                Some(IVec::from(take(len as usize)?))
            }
            _ => return Err(bad()),
        };
        out.push((name, key, value));
    }
    Ok(out)
}

/// Applies `writes` with plain writes, in order.
pub(crate) fn apply(trees: &Trees, writes: &[Write]) -> Result<(), StoreError> {
    for w in writes {
        #[cfg(test)]
        injected::before_write()?;
        let tree = tree(trees, w.tree).ok_or(StoreError::Invalid("a journal names an unknown tree"))?;
        match &w.value {
            Some(value) => tree.insert(&w.key, value.clone()).map(drop)?,
            None => tree.remove(&w.key).map(drop)?,
        }
    }
    Ok(())
}

/// Writes `writes` as one unit (steps 2–4 of the module docs): the journal, the writes, the
/// journal's removal. One write needs no journal: a single insert or remove is atomic.
pub(crate) fn write_unit(trees: &Trees, writes: &[Write]) -> Result<(), StoreError> {
    match writes {
        [] => Ok(()),
        [_] => apply(trees, writes),
        _ => {
            trees.meta.insert(JOURNAL_KEY, encode(writes))?;
            apply(trees, writes)?;
            trees.meta.remove(JOURNAL_KEY)?;
            Ok(())
        }
    }
}

/// At open, before the schema check (a journal is written in the format of the schema
/// that wrote it, so a later schema step finds its writes applied before it migrates):
/// applies a journal a crash left (see the module docs) and removes it, then flushes. A
/// journal that cannot be read, or that names a tree no unit writes, is refused before any
/// of it is applied. Returns how many writes it applied (0: there was none).
pub(crate) fn replay_on_open(db: &sled::Db) -> Result<usize, StoreError> {
    let meta = db.open_tree("meta")?;
    let Some(record) = meta.get(JOURNAL_KEY)? else {
        return Ok(0);
    };
    let writes = decode(&record)?;
    if writes.iter().any(|(name, _, _)| !UNIT_TREES.contains(&name.as_str())) {
        return Err(StoreError::Invalid(
            "the database's journal (meta/journal) names a tree no unit of work writes: restore the latest backup with `qunguan restore`",
        ));
    }
    for (name, key, value) in &writes {
        let tree = db.open_tree(name)?;
        match value {
            Some(value) => tree.insert(key, value.clone()).map(drop)?,
            None => tree.remove(key).map(drop)?,
        }
    }
    meta.remove(JOURNAL_KEY)?;
    db.flush()?;
    tracing::warn!(
        writes = writes.len(),
        "store: finished a unit of work a crash had interrupted (meta/journal)"
    );
    Ok(writes.len())
}

/// Tests: a write error injected part-way through [`apply`] (a full disk), in this thread.
#[cfg(test)]
pub(crate) mod injected {
    use std::cell::Cell;

    use super::StoreError;

    thread_local! {
        static FAIL_AFTER: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// From now on in this thread, [`super::apply`] writes `writes` more keys, then fails
    /// (`None`: never).
    pub(crate) fn fail_after(writes: Option<usize>) {
        FAIL_AFTER.with(|f| f.set(writes));
    }

    pub(super) fn before_write() -> Result<(), StoreError> {
        FAIL_AFTER.with(|f| match f.get() {
            Some(0) => Err(StoreError::Sled(sled::Error::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected part-way through a unit)",
            )))),
            Some(n) => {
                f.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_record_decodes_to_what_was_encoded() {
        let writes = vec![
            Write {
                tree: "strikes",
                key: IVec::from(&[1u8, 2, 3][..]),
                value: Some(IVec::from(&b"{\"v\":1}"[..])),
            },
            Write {
                tree: "seen",
                key: IVec::from(&[9u8; 16][..]),
                value: None,
            },
            Write {
                tree: "outbox",
                key: IVec::from(&7u64.to_be_bytes()[..]),
                value: Some(IVec::from(&b""[..])),
            },
        ];
        let decoded = decode(&encode(&writes)).expect("decode");
        let expected: Vec<(String, IVec, Option<IVec>)> = writes
            .iter()
            .map(|w| (w.tree.to_owned(), w.key.clone(), w.value.clone()))
            .collect();
        assert_eq!(decoded, expected);
        assert_eq!(decode(&encode(&[])).expect("empty"), Vec::new());
    }

    #[test]
    fn a_truncated_or_foreign_journal_record_is_an_error_not_a_partial_replay() {
        let writes = vec![Write {
            tree: "strikes",
            key: IVec::from(&[1u8, 2, 3][..]),
            value: Some(IVec::from(&b"abc"[..])),
        }];
        let bytes = encode(&writes);
        for cut in 1..bytes.len() {
            if cut == 1 {
                continue; // the format byte alone is an empty journal
            }
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[2, 0]).is_err(), "another format");
        assert!(decode(&[]).is_err(), "no format byte");
    }
}
