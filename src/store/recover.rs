//! Recovering from a full disk (or any store-wide write error) without a restart.
//!
//! sled turns its first failed write into an error of the whole handle: after a full disk,
//! every later write fails even once space is back. So recovery is: probe the current handle
//! (a small write to `meta` and a flush); if that fails, close the handle and open the
//! database again, then probe the new one. sled's recovery on open replays what reached the
//! disk, which is exactly what was acknowledged (webhooks answer only after a flush).
//!
//! What happens to work that was in flight when the handle broke:
//!
//! - a commit whose flush failed: its caller got the error (503), and the gateway delivers
//!   the event again;
//! - a commit that had not asked for its flush yet: reopening bumps the generation, and a
//!   flush ticket of the old generation is never counted as durable, so that caller gets an
//!   error too (and the event sink also compares generations around each event);
//! - outbox items of commits that never became durable are dropped from the feed (they were
//!   never handed to the delivery worker); the worker re-reads the outbox of the new handle
//!   when it sees the new generation, so an item that did reach the disk is not forgotten.
//!
//! The runtime calls [`Store::recover`] about once a second while [`Store::failing`] says so.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Store, StoreError, Trees, integrity, migrate, open_db};

/// What a recovery attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The store was not failing.
    Healthy,
    /// A probe on the open handle succeeded: the error was transient.
    Probed,
    /// The database was reopened and a probe on the new handle succeeded.
    Reopened,
}

impl Store {
    /// One recovery attempt (blocking; call it from the blocking pool). Returns what it did,
    /// or the error that keeps the store failing.
    pub fn recover(&self) -> Result<Recovery, StoreError> {
        if self.failing().is_none() {
            return Ok(Recovery::Healthy);
        }
        if self.finish_unfinished(&mut self.lock()).is_ok() && self.probe().is_ok() {
            self.clear_failing();
            return Ok(Recovery::Probed);
        }
        self.reopen()?;
        self.probe()?;
        self.clear_failing();
        Ok(Recovery::Reopened)
    }

    /// A small write and a flush: proof that the store can make writes durable.
    fn probe(&self) -> Result<(), StoreError> {
        let trees = {
            let _op = self.begin("probe");
            let _log = self.lock();
            let trees = self.write_gate()?;
            let now = jiff::Timestamp::now().as_millisecond();
            self.observe(
                trees
                    .meta
                    .insert(b"probe", &now.to_be_bytes())
                    .map_err(StoreError::from),
            )?;
            trees
        };
        drop(trees);
        self.flush_now().map(|_| ())
    }

    /// Closes the open handle and opens the database again.
    pub(super) fn reopen(&self) -> Result<(), StoreError> {
        let Some(path) = self.inner.path.clone() else {
            return Err(StoreError::Invalid("a store without a path cannot be reopened"));
        };
        let _op = self.begin("reopen");
        let mut log = self.lock();
        // From here on, tickets of the old handle are stale and new writes wait for the new one.
        let old = self.inner.trees.swap(None);
        self.inner.health.bump_generation();
        drop(old);
        let db = self.observe(open_db(&path, self.inner.cache_bytes))?;
        // A unit of work the old handle left unfinished is finished from its journal if that
        // reached the disk (then so may have part of its writes), and is gone otherwise;
        // before the schema check, as at open.
        self.observe(super::journal::replay_on_open(&db))?;
        self.observe(migrate::ensure_current(&db, Some(&path)))?;
        self.set_unfinished(&mut log, None);
        let trees = self.observe(Trees::open(db))?;
        self.inner
            .health
            .flushes
            .set_base(integrity::stored_flush_seq(&trees.meta)?);
        // Commits of the old handle that never became durable are gone; none of their items
        // may reach the worker, and none counts as waiting for a flush any more.
        let flush = &self.inner.flush;
        let durable = flush.durable_commits.load(Ordering::SeqCst);
        if let Some(feed) = self.lock_feed().as_mut() {
            feed.retain(|staged| staged.commit <= durable);
        }
        flush
            .durable_commits
            .fetch_max(flush.commits.load(Ordering::SeqCst), Ordering::SeqCst);
        self.inner.trees.store(Some(Arc::new(trees)));
        tracing::warn!(path = %path.display(), "store: the database was reopened after a write error");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::Action;
    use crate::domain::event::GroupId;

    #[test]
    fn a_failing_store_recovers_once_writes_succeed_again_and_keeps_what_was_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let recall = |id| Action::Recall {
            group: GroupId::qq(1),
            message_id: id,
        };
        store
            .enqueue(vec![recall(1)], jiff::Timestamp::UNIX_EPOCH)
            .expect("enqueue");
        store.flush_blocking().expect("flush");
        store.faults().fail_writes(true);
        assert!(store.enqueue(vec![recall(2)], jiff::Timestamp::UNIX_EPOCH).is_err());
        assert!(store.failing().is_some());
        assert!(store.recover().is_err(), "still failing while writes fail");
        store.faults().fail_writes(false);
        let generation = store.generation();
        assert_eq!(store.recover().expect("recovers"), Recovery::Probed);
        assert_eq!(store.failing(), None);
        assert_eq!(store.generation(), generation, "a probe needs no reopen");
        assert_eq!(store.recover().expect("healthy"), Recovery::Healthy);
        assert_eq!(store.outbox().pending().expect("read").len(), 1);
    }

    #[test]
    fn reopening_gives_a_new_generation_whose_handle_holds_the_durable_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store.set_state("test.kept", b"yes").expect("write");
        store.flush_blocking().expect("flush");
        let ticket = store.flush_ticket();
        let generation = store.generation();
        store.reopen().expect("reopen");
        assert_eq!(store.generation(), generation + 1);
        assert_eq!(store.state("test.kept").expect("read"), Some(b"yes".to_vec()));
        let stale = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(store.durable_upto(ticket));
        assert!(
            matches!(stale, Err(StoreError::Unavailable(_))),
            "a ticket of the old handle is never durable: {stale:?}"
        );
        store.set_state("test.after", b"1").expect("the new handle writes");
    }
}
