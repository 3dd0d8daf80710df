//! Durable state in sled. This module is the only code that touches sled.
//!
//! Trees (keys are fixed-width big-endian, so byte order is numeric order and a group's
//! entries form one prefix range; JSON values carry a version field `v`, see `codec`):
//!
//! | tree          | key                                   | value                               |
//! |---------------|---------------------------------------|-------------------------------------|
//! | `meta`        | `b"schema"`                           | schema version (u32 BE)             |
//! | `seen`        | [`EventKey`] (16 B)                   | received at, unix ms (i64 BE)       |
//! | `seen_expiry` | received at (i64) ‖ event key (24 B)  | empty: the TTL index of `seen`      |
//! | `strikes`     | platform ‖ group ‖ user (17 B)        | `strikes::StoredStrikes`          |
//! | `outbox`      | sequence number (u64)                 | [`OutboxItem`]                      |
//! | `dead`        | sequence number (u64)                 | [`DeadLetter`]                      |
//! | `audit`       | platform ‖ group ‖ case number (17 B) | [`AuditEntry`]                      |
//! | `groups`      | platform ‖ group (9 B)                | [`GroupRecord`] (case counter)      |
//! | `posts`       | post id (UTF-8)                       | [`PostState`] (scheduled posts)     |
//! | `schedules`   | platform ‖ group ‖ number (17 B)      | [`AdminPost`] (`/schedule add`)     |
//! | `welcome`     | platform ‖ group (9 B)                | [`WelcomeBatch`] (joins to greet)   |
//! | `joins`       | platform ‖ group ‖ user (17 B)        | last join, unix ms (i64 BE)         |
//! | `members`     | platform ‖ group ‖ user (17 B)        | `MemberActivity` (潜水 tracking)    |
//! | `stats`       | platform ‖ group ‖ day yyyymmdd (13 B)| `DayStats` (group health)           |
//! | `state`       | a name (UTF-8)                        | small values owned by a module      |
//! | `engagement`  | platform ‖ group [‖ user / 'q' ‖ n]   | points, check-ins, keyword answers  |
//!
//! Everything one event causes — its seen-key, the member's strikes, the audit case, the
//! outbox items — is written in one transaction ([`Store::commit`]), and the webhook
//! acknowledges only after [`Store::durable`] has flushed it. Flushes are group-committed: one
//! flush serves every request waiting when it starts.
//!
//! Commits are serialised by one lock (the "commit lock"). sled serialises transaction commits
//! process-wide anyway; taking our own lock first means transactions never conflict and
//! retry, gives a total commit order the outbox feed can rely on, and lets a backup copy every
//! tree at one consistent point.

pub(crate) mod audit;
pub mod backup;
pub(crate) mod codec;
mod cursor;
pub(crate) mod engagement;
mod groups;
mod keys;
pub(crate) mod members;
mod migrate;
pub(crate) mod outbox;
pub(crate) mod posts;
pub(crate) mod schedule;
pub(crate) mod stats;
pub(crate) mod strikes;
mod sweep;
mod undo;
mod unit;
pub(crate) mod welcome;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use audit::GroupRecord;
pub use engagement::{AdminReply, CheckinDay, NotedPoints, PointsView, PointsWrite};
pub use keys::{
    case_key, decode_group_prefix, decode_member_key, decode_seq, group_prefix, i64_from_key, i64_key, member_key,
    seen_expiry_key,
};
pub use members::GroupActivity;
pub use outbox::{DeadLetter, OutboxItem, Receipt};
pub use posts::PostState;
pub use schedule::AdminPost;
pub use sweep::{SweepPolicy, SweepReport};
pub use undo::{Undo, UndoWrites};
pub use welcome::{JoinRecorded, PendingJoin, WelcomeBatch};

use crate::config::StorageSettings;
use crate::domain::action::Action;
use crate::domain::audit::AuditEntry;
use crate::domain::effects::{Effects, Snapshot, StrikeWrite, Subject, Writes};
use crate::domain::event::{EventKey, GroupId};
use crate::domain::strike::StrikeRecord;
use codec::{decode, encode};
use strikes::StoredStrikes;

/// The schema this build writes. Older databases are migrated on open (after a backup);
/// newer ones are refused.
pub const SCHEMA_VERSION: u32 = 2;

/// Every tree, in backup order.
pub const TREES: &[&str] = &[
    "meta",
    "seen",
    "seen_expiry",
    "strikes",
    "outbox",
    "dead",
    "audit",
    "groups",
    "posts",
    "schedules",
    "welcome",
    "joins",
    "state",
    "members",
    "stats",
    "engagement",
];

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
    /// A value could not be serialised for storage.
    #[error("cannot encode a {what} for storage: {reason}")]
    Encode {
        /// What kind of value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A blocking store task could not be joined (it panicked or was cancelled).
    #[error("a store task did not finish: {0}")]
    Join(String),
    /// Reading or writing a file (backups) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A backup file is not valid.
    #[error("backup line {line}: {reason}")]
    Backup {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A restore would overwrite existing data.
    #[error(
        "the database at {0} is not empty; restore into an empty storage.path, or pass --force to replace its contents"
    )]
    NotEmpty(String),
    /// Another process holds the database.
    #[error(
        "the database at {0} is in use by another process (a running qunguan?); stop it first, or reach it with `qunguan backup` / `qunguan audit`"
    )]
    Locked(String),
    /// The caller asked for something the store cannot do (a bug in the caller).
    #[error("invalid store request: {0}")]
    Invalid(&'static str),
}

/// A successful first commit of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed<R> {
    /// What the decision returned.
    pub value: R,
    /// The audit case recorded, if any.
    pub case: Option<u64>,
}

/// The database handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    path: Option<PathBuf>,
    seen: sled::Tree,
    seen_expiry: sled::Tree,
    strikes: sled::Tree,
    outbox: sled::Tree,
    dead: sled::Tree,
    audit: sled::Tree,
    groups: sled::Tree,
    posts: sled::Tree,
    schedules: sled::Tree,
    welcome: sled::Tree,
    joins: sled::Tree,
    state: sled::Tree,
    members: sled::Tree,
    stats: sled::Tree,
    engagement: sled::Tree,
    /// The commit lock and what it guards.
    log: Mutex<CommitLog>,
    flush: GroupCommit,
}

/// Guarded by the commit lock.
#[derive(Default)]
struct CommitLog {
    /// New outbox items in commit order, while the delivery worker subscribes.
    feed: Option<Vec<Staged>>,
}

/// An outbox item in the feed, tagged with the commit that wrote it.
struct Staged {
    commit: u64,
    seq: u64,
    item: OutboxItem,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database under `settings.path`, checks its schema version and
    /// migrates an older one (writing a backup into `<path>/backups/` first).
    pub fn open(settings: &StorageSettings) -> Result<Self, StoreError> {
        let db = open_db(&settings.path, settings.cache_mib)?;
        Self::from_db(db, Some(settings.path.clone()))
    }

    /// Opens a database at `path` with default settings (CLI tools, tests).
    pub fn open_path(path: &Path) -> Result<Self, StoreError> {
        Self::open(&StorageSettings {
            path: path.to_owned(),
            ..StorageSettings::default()
        })
    }

    fn from_db(db: sled::Db, path: Option<PathBuf>) -> Result<Self, StoreError> {
        migrate::ensure_current(&db, path.as_deref())?;
        let tree = |name: &str| db.open_tree(name);
        Ok(Self {
            inner: Arc::new(Inner {
                seen: tree("seen")?,
                seen_expiry: tree("seen_expiry")?,
                strikes: tree("strikes")?,
                outbox: tree("outbox")?,
                dead: tree("dead")?,
                audit: tree("audit")?,
                groups: tree("groups")?,
                posts: tree("posts")?,
                schedules: tree("schedules")?,
                welcome: tree("welcome")?,
                joins: tree("joins")?,
                state: tree("state")?,
                members: tree("members")?,
                stats: tree("stats")?,
                engagement: tree("engagement")?,
                db,
                path,
                log: Mutex::new(CommitLog::default()),
                flush: GroupCommit::default(),
            }),
        })
    }

    /// Records an event exactly once, with everything it causes, in one transaction.
    ///
    /// `decide` sees the subject member's strike record and the next case number, and returns
    /// the writes plus a value handed back to the caller. It may run more than once, so it
    /// must be pure. Returns `None` when the event was already recorded: a redelivery, which
    /// changes nothing.
    pub fn commit<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        subject: Option<Subject>,
        decide: impl Fn(Snapshot) -> (Writes, R),
    ) -> Result<Option<Committed<R>>, StoreError> {
        let strike_key = subject.and_then(|s| s.user.map(|u| member_key(s.group, u)));
        let group = subject.map(|s| s.group);
        let group_key = group.map(group_prefix);
        self.unit(Some(key), now, |unit| {
            let record = match &strike_key {
                Some(k) => match unit.strikes.get(k)? {
                    Some(bytes) => Some(StrikeRecord::from(decode::<StoredStrikes>(&bytes).map_err(abort)?)),
                    None => None,
                },
                None => None,
            };
            let group_record = match &group_key {
                Some(k) => match unit.groups.get(k)? {
                    Some(bytes) => decode::<GroupRecord>(&bytes).map_err(abort)?,
                    None => GroupRecord::default(),
                },
                None => GroupRecord::default(),
            };
            let next_case = group_record.last_case + 1;
            let (writes, value) = decide(Snapshot { record, next_case });
            match (&strike_key, &writes.strikes) {
                (_, StrikeWrite::Keep) => {}
                (Some(k), StrikeWrite::Put(record)) => {
                    unit.strikes
                        .insert(k, encode(&StoredStrikes::from(record)).map_err(abort)?)?;
                }
                (Some(k), StrikeWrite::Clear) => {
                    unit.strikes.remove(k)?;
                }
                (None, _) => return Err(abort(StoreError::Invalid("a strike write needs a subject member"))),
            }
            let case = match (writes.audit, group, &group_key) {
                (None, ..) => None,
                (Some(mut entry), Some(group), Some(gk)) => {
                    entry.case = next_case;
                    entry.group = group;
                    unit.audit
                        .insert(&case_key(group, next_case), encode(&entry).map_err(abort)?)?;
                    let record = GroupRecord { last_case: next_case };
                    unit.groups.insert(gk, encode(&record).map_err(abort)?)?;
                    Some(next_case)
                }
                (Some(_), ..) => return Err(abort(StoreError::Invalid("an audit case needs a subject group"))),
            };
            unit.stage(writes.actions, case)?;
            Ok(Committed { value, case })
        })
    }

    /// Records an event exactly once with its effects (no audit case): [`Store::commit`] for
    /// callers that only need strikes and actions.
    pub fn commit_event<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        member: Option<(GroupId, i64)>,
        decide: impl Fn(Option<StrikeRecord>) -> (Effects, R),
    ) -> Result<Option<R>, StoreError> {
        let subject = member.map(|(group, user)| Subject {
            group,
            user: Some(user),
        });
        let committed = self.commit(key, now, subject, |snapshot| {
            let (effects, value) = decide(snapshot.record);
            let writes = Writes {
                strikes: effects.strikes,
                actions: effects.actions,
                audit: None,
            };
            (writes, value)
        })?;
        Ok(committed.map(|c| c.value))
    }

    /// The strike record of a member, if they have one.
    pub fn strike_record(&self, group: GroupId, user_id: i64) -> Result<Option<StrikeRecord>, StoreError> {
        self.inner
            .strikes
            .get(member_key(group, user_id))?
            .map(|bytes| decode::<StoredStrikes>(&bytes).map(StrikeRecord::from))
            .transpose()
    }

    /// One audit case of a group.
    pub fn case(&self, group: GroupId, case: u64) -> Result<Option<AuditEntry>, StoreError> {
        self.inner
            .audit
            .get(case_key(group, case))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Audit cases, of one group in case order or of every group in time order; with `last`,
    /// only the newest that many.
    pub fn cases(&self, group: Option<GroupId>, last: Option<usize>) -> Result<Vec<AuditEntry>, StoreError> {
        let tree = &self.inner.audit;
        let iter = match group {
            Some(g) => tree.scan_prefix(group_prefix(g)),
            None => tree.iter(),
        };
        let mut out = Vec::new();
        for entry in iter {
            let (_, value) = entry?;
            out.push(decode::<AuditEntry>(&value)?);
        }
        if group.is_none() {
            out.sort_by_key(|e| (e.at_ms, e.group, e.case));
        }
        if let Some(n) = last {
            out.drain(..out.len().saturating_sub(n));
        }
        Ok(out)
    }

    /// Appends actions to the outbox outside of an event (admin tools). Durable after
    /// [`Store::durable`]; the delivery worker flushes on its own if nobody else does.
    pub fn enqueue(&self, actions: Vec<Action>, now: Timestamp) -> Result<(), StoreError> {
        self.unit(None, now, |unit| unit.stage(actions.iter().cloned(), None))?;
        Ok(())
    }

    /// Waits until every write made before this call is on disk. Concurrent callers share
    /// flushes (group commit), so a burst of events costs a few flushes, not one each.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let ticket = self.flush_ticket();
        self.durable_upto(ticket).await
    }

    /// A ticket covering every write made before this call, for [`Store::durable_upto`].
    #[must_use]
    pub fn flush_ticket(&self) -> FlushTicket {
        FlushTicket(self.inner.flush.requested.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Waits until the writes covered by `ticket` are on disk, flushing only if no flush has
    /// covered them since the ticket was taken. Lets a background writer (the outbox worker)
    /// take a ticket now, wait a little, and usually find its writes flushed by someone else.
    pub async fn durable_upto(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        self.inner.flush.wait(&self.inner.db, ticket.0).await
    }

    /// Flushes synchronously (shutdown, CLI tools).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// A small named value owned by one module (a polling offset, a cursor). Names are
    /// namespaced by their owner, e.g. `telegram.offset`.
    pub fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.state.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Stores a named value (see [`Store::state`]). Durable after [`Store::durable`].
    pub fn set_state(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let _log = self.lock();
        self.inner.state.insert(name.as_bytes(), value)?;
        Ok(())
    }

    /// Outbox access for the delivery worker.
    #[must_use]
    pub fn outbox(&self) -> outbox::Outbox<'_> {
        outbox::Outbox { store: self }
    }

    /// Deletes what has outlived its time: seen keys, fully expired strike records, old audit
    /// cases and dead letters. Runs in the background; every deletion is a small write.
    pub fn sweep(&self, now: Timestamp, policy: &SweepPolicy<'_>) -> Result<SweepReport, StoreError> {
        sweep::run(self, now, policy)
    }

    /// Takes the commit lock. A panic while holding it cannot leave the feed half-written in a
    /// way that matters (entries are appended whole), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, CommitLog> {
        self.inner.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bookkeeping after a successful commit, still under the commit lock: number it and put
    /// its outbox items into the feed.
    fn committed(&self, log: &mut CommitLog, staged: Vec<(u64, OutboxItem)>) {
        let commit = self.inner.flush.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(feed) = log.feed.as_mut() {
            feed.extend(staged.into_iter().map(|(seq, item)| Staged { commit, seq, item }));
        }
    }

    fn durable_commits(&self) -> u64 {
        self.inner.flush.durable_commits.load(Ordering::SeqCst)
    }

    /// True when some commit is not yet known to be on disk (two atomic loads).
    fn has_undurable_commits(&self) -> bool {
        self.inner.flush.commits.load(Ordering::SeqCst) > self.durable_commits()
    }
}

/// How long opening waits for another holder of the database lock to let go.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled with this daemon's settings.
///
/// sled takes an exclusive file lock, and a handle dropped a moment ago (a restore reopening
/// what it wrote, a restart in the same process) can hold it briefly while its background
/// writes finish; so a lock failure is retried for [`LOCK_PATIENCE`] before it is reported.
fn open_db(path: &Path, cache_mib: u64) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_mib.saturating_mul(1 << 20))
        .mode(sled::Mode::LowSpace)
        .flush_every_ms(Some(500));
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            // sled (pinned at 0.34.7) reports the lock only through this message.
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked(path.display().to_string()));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Covers the writes made before it was taken; see [`Store::flush_ticket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(u64);

/// Group commit: tickets taken before a flush started are covered by it.
#[derive(Default)]
struct GroupCommit {
    /// Tickets handed out; a ticket is taken after the caller's writes were made.
    requested: AtomicU64,
    /// Highest ticket known to be on disk.
    flushed: AtomicU64,
    /// Commits made (numbered under the commit lock).
    commits: AtomicU64,
    /// Highest commit known to be on disk.
    durable_commits: AtomicU64,
    /// Only one flush runs at a time; waiters queue here and one of them flushes for all.
    lock: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    async fn wait(&self, db: &sled::Db, ticket: u64) -> Result<(), StoreError> {
        if self.flushed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        if self.flushed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every ticket and commit counted up to here belongs to writes made before this
        // point, so one flush started now covers them all.
        let upto = self.requested.load(Ordering::SeqCst);
        let commits = self.commits.load(Ordering::SeqCst);
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Join(format!("the flush task: {e}")))??;
        self.flushed.fetch_max(upto, Ordering::SeqCst);
        self.durable_commits.fetch_max(commits, Ordering::SeqCst);
        Ok(())
    }
}

/// Records an event's key as seen inside a transaction; false when it already was (a
/// redelivery). `expiry_key` is its [`seen_expiry_key`], computed outside the closure.
fn mark_seen(
    seen: &sled::transaction::TransactionalTree,
    seen_expiry: &sled::transaction::TransactionalTree,
    key: &EventKey,
    now_ms: i64,
    expiry_key: &[u8],
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    if seen.get(key.0)?.is_some() {
        return Ok(false);
    }
    seen.insert(&key.0, &now_ms.to_be_bytes())?;
    seen_expiry.insert(expiry_key, &[])?;
    Ok(true)
}

/// Appends actions to the outbox inside a transaction, under fresh sequence numbers (sled's
/// id generator: monotonic, so key order is decision order); returns them for the feed.
fn stage(
    outbox: &sled::transaction::TransactionalTree,
    actions: impl IntoIterator<Item = Action>,
    now_ms: i64,
    case: Option<u64>,
) -> Result<Vec<(u64, OutboxItem)>, ConflictableTransactionError<StoreError>> {
    stage_items(
        outbox,
        actions.into_iter().map(|action| {
            let mut item = OutboxItem::new(action, now_ms);
            item.case = case;
            item
        }),
    )
}

/// [`stage`] for items prepared by the caller (a later `not_before_ms`, a receipt name).
fn stage_items(
    outbox: &sled::transaction::TransactionalTree,
    items: impl IntoIterator<Item = OutboxItem>,
) -> Result<Vec<(u64, OutboxItem)>, ConflictableTransactionError<StoreError>> {
    let mut staged = Vec::new();
    for item in items {
        let seq = outbox.generate_id()?;
        outbox.insert(&seq.to_be_bytes(), encode(&item).map_err(abort)?)?;
        staged.push((seq, item));
    }
    Ok(staged)
}

pub(crate) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn map_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

#[cfg(test)]
mod tests;
