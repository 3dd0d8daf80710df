//! Durable state in sled. This module is the only code that touches sled.
//!
//! Trees (all values start with a version byte or carry a `v` field):
//!
//! | tree      | key                                   | value                           |
//! |-----------|---------------------------------------|---------------------------------|
//! | `meta`    | `b"schema"`                           | schema version (u32 BE)         |
//! | `seen`    | [`EventKey`] (16 B)                   | received at, unix ms (i64 BE)   |
//! | `strikes` | platform ‖ group ‖ user (17 B)        | JSON [`StrikeRecord`]           |
//! | `outbox`  | sequence number (u64 BE, FIFO order)  | JSON [`OutboxItem`]             |
//! | `state`   | a name (UTF-8)                        | small values owned by a module  |
//!
//! Everything one event causes — its seen-key, the strike record, the outbox items — is
//! written in one transaction, and the webhook acknowledges only after [`Store::durable`]
//! has flushed that write to disk. Flushes are group-committed: while one flush runs, every
//! request that arrives waits for the next one, and that single flush serves them all.

mod keys;
pub mod outbox;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

pub use keys::{decode_member_key, group_prefix, i64_from_key, i64_key, member_key};
pub use outbox::OutboxItem;

use crate::action::Action;
use crate::config::StorageSettings;
use crate::event::{EventKey, GroupId};
use crate::ladder::StrikeRecord;

/// The schema this build writes. Opening a newer database is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, corruption …).
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("cannot decode a stored {what}: {reason}")]
    Decode {
        /// What kind of value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The database was written by a newer qunguan.
    #[error(
        "the database has schema version {found}, newer than this build's {supported}; upgrade qunguan or restore a backup"
    )]
    SchemaTooNew {
        /// Version on disk.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// A background flush task died.
    #[error("the flush task failed: {0}")]
    Flush(String),
}

/// What a member's strike record becomes after an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrikeWrite {
    /// Leave it as it is.
    Keep,
    /// Store this record.
    Put(StrikeRecord),
    /// Delete the record (the member was removed).
    Clear,
}

/// The writes one event causes, computed by a pure function of the current strike record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effects {
    /// The new strike record of the event's member.
    pub strikes: StrikeWrite,
    /// Actions to append to the outbox, in order.
    pub actions: Vec<Action>,
}

/// The database handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    seen: sled::Tree,
    strikes: sled::Tree,
    outbox: sled::Tree,
    state: sled::Tree,
    commit: Arc<GroupCommit>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database under `settings.path` and checks its schema version.
    pub fn open(settings: &StorageSettings) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(&settings.path)
            .cache_capacity(settings.cache_mib.saturating_mul(1 << 20))
            .mode(sled::Mode::LowSpace)
            .flush_every_ms(Some(500))
            .open()?;
        Self::from_db(db)
    }

    /// Opens a database at `path` with default settings (CLI tools, tests).
    pub fn open_path(path: &Path) -> Result<Self, StoreError> {
        Self::open(&StorageSettings {
            path: path.to_owned(),
            ..StorageSettings::default()
        })
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let meta = db.open_tree("meta")?;
        match meta.get(b"schema")? {
            None => {
                meta.insert(b"schema", &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Decode {
                    what: "schema version",
                    reason: format!("{} bytes instead of 4", v.len()),
                })?);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
        }
        Ok(Self {
            seen: db.open_tree("seen")?,
            strikes: db.open_tree("strikes")?,
            outbox: db.open_tree("outbox")?,
            state: db.open_tree("state")?,
            db,
            commit: Arc::new(GroupCommit::default()),
        })
    }

    /// Records an event exactly once, with its effects, in one transaction.
    ///
    /// `decide` gets the current strike record of `member` (if any) and returns the effects
    /// plus a value handed back to the caller. It may run more than once (sled retries on
    /// conflict), so it must be pure. Returns `None` when the event was already recorded: a
    /// redelivery, which changes nothing.
    pub fn commit_event<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        member: Option<(GroupId, i64)>,
        decide: impl Fn(Option<StrikeRecord>) -> (Effects, R),
    ) -> Result<Option<R>, StoreError> {
        let strike_key = member.map(|(g, u)| member_key(g, u));
        let now_ms = now.as_millisecond();
        let result = (&self.seen, &self.strikes, &self.outbox).transaction(|(seen, strikes, outbox)| {
            if seen.get(key.0)?.is_some() {
                return Ok(None);
            }
            seen.insert(&key.0, &now_ms.to_be_bytes())?;
            let current = match &strike_key {
                Some(k) => match strikes.get(k)? {
                    Some(bytes) => Some(decode_json::<StrikeRecord>(&bytes, "strike record").map_err(abort)?),
                    None => None,
                },
                None => None,
            };
            let (effects, value) = decide(current);
            if let Some(k) = &strike_key {
                match &effects.strikes {
                    StrikeWrite::Keep => {}
                    StrikeWrite::Put(record) => {
                        strikes.insert(k, encode_json(record))?;
                    }
                    StrikeWrite::Clear => {
                        strikes.remove(k)?;
                    }
                }
            }
            for action in effects.actions {
                enqueue_in(outbox, OutboxItem::new(action, now_ms))?;
            }
            Ok(Some(value))
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// The strike record of a member, if they have one.
    pub fn strike_record(&self, group: GroupId, user_id: i64) -> Result<Option<StrikeRecord>, StoreError> {
        self.strikes
            .get(member_key(group, user_id))?
            .map(|bytes| decode_json(&bytes, "strike record"))
            .transpose()
    }

    /// Appends actions to the outbox outside of an event (scheduled posts, admin tools).
    pub fn enqueue(&self, actions: Vec<Action>, now: Timestamp) -> Result<(), StoreError> {
        let now_ms = now.as_millisecond();
        self.outbox
            .transaction(|tx| {
                for action in &actions {
                    enqueue_in(tx, OutboxItem::new(action.clone(), now_ms))?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }

    /// Waits until every write made before this call is on disk. Concurrent callers share
    /// flushes (group commit), so a burst of events costs a few flushes, not one each.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.commit.wait(&self.db).await
    }

    /// Flushes synchronously (shutdown, CLI tools).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// A small named value owned by one module (a polling offset, a cursor). Names are
    /// namespaced by their owner, e.g. `telegram.offset`.
    pub fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Stores a named value (see [`Store::state`]). Durable after [`Store::durable`].
    pub fn set_state(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.state.insert(name.as_bytes(), value)?;
        Ok(())
    }

    /// Outbox access for the delivery worker.
    #[must_use]
    pub fn outbox(&self) -> outbox::Outbox<'_> {
        outbox::Outbox { tree: &self.outbox }
    }
}

/// Group commit: tickets taken before a flush started are covered by it.
#[derive(Default)]
struct GroupCommit {
    /// Tickets handed out; a ticket is taken after the caller's writes were made.
    requested: AtomicU64,
    /// Highest ticket known to be on disk.
    flushed: AtomicU64,
    /// Only one flush runs at a time; waiters queue here and one of them flushes for all.
    lock: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    async fn wait(&self, db: &sled::Db) -> Result<(), StoreError> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = self.lock.lock().await;
        if self.flushed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every ticket up to here belongs to writes made before this point, so one flush
        // started now covers them all.
        let upto = self.requested.load(Ordering::SeqCst);
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Flush(e.to_string()))??;
        self.flushed.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }
}

fn enqueue_in(tx: &TransactionalTree, item: OutboxItem) -> Result<(), ConflictableTransactionError<StoreError>> {
    let id = tx.generate_id()?;
    tx.insert(&id.to_be_bytes(), encode_json(&item))?;
    Ok(())
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

pub(crate) fn encode_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain data structs cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::OutgoingMessage;
    use crate::ladder::Strike;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        (dir, store)
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).expect("valid")
    }

    fn send(text: &str) -> Action {
        Action::Send {
            group: GroupId::qq(1),
            message: OutgoingMessage::text(text),
            reply_to: None,
        }
    }

    #[test]
    fn an_event_is_recorded_once() {
        let (_dir, store) = store();
        let key = EventKey::derive("e1");
        let member = Some((GroupId::qq(1), 7));
        let effects = |_: Option<StrikeRecord>| {
            let record = StrikeRecord {
                strikes: vec![Strike {
                    at_ms: 1,
                    weight: 1,
                    rule: "ads".into(),
                }],
            };
            (
                Effects {
                    strikes: StrikeWrite::Put(record),
                    actions: vec![send("a"), send("b")],
                },
                (),
            )
        };
        assert_eq!(
            store.commit_event(&key, now(), member, effects).expect("commit"),
            Some(())
        );
        assert_eq!(store.commit_event(&key, now(), member, effects).expect("commit"), None);
        assert_eq!(store.outbox().pending().expect("scan").len(), 2);
        assert_eq!(
            store
                .strike_record(GroupId::qq(1), 7)
                .expect("read")
                .map(|r| r.strikes.len()),
            Some(1)
        );
    }

    #[test]
    fn clear_removes_the_record() {
        let (_dir, store) = store();
        let member = Some((GroupId::qq(1), 7));
        let put = |_: Option<StrikeRecord>| {
            (
                Effects {
                    strikes: StrikeWrite::Put(StrikeRecord::default()),
                    actions: vec![],
                },
                (),
            )
        };
        store
            .commit_event(&EventKey::derive("a"), now(), member, put)
            .expect("commit");
        let clear = |r: Option<StrikeRecord>| {
            assert!(r.is_some(), "the decision sees the stored record");
            (
                Effects {
                    strikes: StrikeWrite::Clear,
                    actions: vec![],
                },
                (),
            )
        };
        store
            .commit_event(&EventKey::derive("b"), now(), member, clear)
            .expect("commit");
        assert_eq!(store.strike_record(GroupId::qq(1), 7).expect("read"), None);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path()).expect("open");
            db.open_tree("meta")
                .expect("tree")
                .insert(b"schema", &99u32.to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        assert!(matches!(
            Store::open_path(dir.path()),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[tokio::test]
    async fn concurrent_durable_calls_all_complete() {
        let (_dir, store) = store();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.enqueue(vec![send(&i.to_string())], now()).expect("enqueue");
                store.durable().await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("durable");
        }
        assert_eq!(store.outbox().pending().expect("scan").len(), 32);
    }
}
