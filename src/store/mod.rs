//! Durable state in sled. This module is the only code that touches sled.
//!
//! Trees (keys are fixed-width big-endian, so byte order is numeric order and a group's
//! entries form one prefix range; JSON values carry a version field `v`, see `codec`):
//!
//! | tree          | key                                   | value                               |
//! |---------------|---------------------------------------|-------------------------------------|
//! | `meta`        | `b"schema"`                           | schema version (u32 BE)             |
//! | `seen`        | [`EventKey`] (16 B, dated: date first): the first of up to 17 | latest received at, unix ms (i64 BE) ‖ the others' last 13 B (`store/seen.rs`) |
//! | `strikes`     | platform ‖ group ‖ user (17 B)        | `strikes::StoredStrikes`          |
//! | `outbox`      | sequence number (u64)                 | [`OutboxItem`]                      |
//! | `dead`        | sequence number (u64)                 | [`DeadLetter`]                      |
//! | `audit`       | platform ‖ group ‖ case number (17 B) | [`AuditEntry`] (each group's newest `[audit] hot_cases`; older ones in the `archive` module's day files) |
//! | `archive`     | platform ‖ group ‖ day yyyymmdd (13 B)| first ‖ last case number in that day's file (16 B) |
//! | `groups`      | platform ‖ group (9 B)                | [`GroupRecord`] (case counter)      |
//! | `posts`       | post id (UTF-8)                       | [`PostState`] (scheduled posts)     |
//! | `schedules`   | platform ‖ group ‖ number (17 B)      | [`AdminPost`] (`/schedule add`)     |
//! | `welcome`     | platform ‖ group (9 B)                | [`WelcomeBatch`] (joins to greet)   |
//! | `members`     | platform ‖ group ‖ user (17 B)        | [0xff ‖ last join, unix ms (8 B)] ‖ trust (6 B) ‖ `MemberActivity` JSON ‖ 0 ‖ `MemberPoints` JSON |
//! | `stats`       | platform ‖ group ‖ day yyyymmdd (13 B)| `DayStats` (group health)           |
//! | `state`       | a name (UTF-8)                        | small values owned by a module      |
//! | `samples`     | sample id (u64)                       | `Sample` (admins' labels)           |
//! | `review`      | sequence number (u64)                 | `ReviewItem` (for `/review`)        |
//! | `sent`        | platform ‖ group ‖ message id (17 B)  | audit case ‖ sent at, ms (16 B)     |
//! | `engagement`  | platform ‖ group [‖ 'q' ‖ n]          | check-ins, keyword answers          |
//! | `bans`        | platform ‖ user (9 B)                 | `Ban` (global ban list, [`bans`])   |
//!
//! Everything one event causes — its seen-key, the member's strikes, the audit case, the
//! outbox items — is written as one atomic unit ([`Store::commit`]; not a sled transaction:
//! a one-record redo journal, then plain writes, see [`journal`]), and the webhook
//! acknowledges only after [`Store::durable`] has flushed it. Flushes are group-committed: one
//! flush serves every request waiting when it starts.
//!
//! Commits are serialised by one lock (the "commit lock"): units of work never interleave,
//! commits have a total order the outbox feed can rely on, a backup copies every tree at one
//! consistent point, and every writer of a tree a unit writes holds it, which is what makes
//! the journal sufficient. (The sweep does not: it removes only what expired — old seen keys,
//! cases, receipts — or a strike record by compare-and-swap, never what a unit in progress
//! writes.)
//!
//! **Robustness** ([`health`], [`recover`], [`integrity`], [`blocking`]):
//!
//! - Every method here is synchronous sled I/O. Async code calls them through
//!   [`Store::run`] (tokio's blocking pool) or [`Store::offload`] (the store's threads), never on the async
//!   worker threads, so a stalled disk delays commits but never `/healthz` or the listeners.
//! - Every write and flush is tracked while it runs; the daemon's watchdog reads
//!   [`Store::stalled_for`] and stops the process when a commit hangs (sled can deadlock).
//! - sled turns its first write error (a full disk) into a permanent error of that handle.
//!   The store then reports itself failing ([`Store::failing`]) and [`Store::recover`]
//!   reopens the database once a probe write can succeed again, so the daemon recovers from a
//!   full disk by itself. The trees live behind one swappable [`Trees`] handle for that;
//!   every method reaches them through `self.trees()?`.
//! - A damaged database is refused at start ([`integrity`]).
//! - sled's files outgrow what they hold without bound; [`Store::compact`] copies the trees
//!   into a fresh folder under the commit lock and swaps the same [`Trees`] handle
//!   ([`compact`]), run after a sweep when the files have grown `[storage] compact_growth`
//!   times.

pub(crate) mod archive;
pub(crate) mod audit;
pub mod backup;
pub(crate) mod bans;
pub(crate) mod blocking;
pub(crate) mod codec;
pub(crate) mod compact;
mod cursor;
pub(crate) mod engagement;
pub(crate) mod gate;
mod groups;
pub(crate) mod health;
pub(crate) mod integrity;
mod journal;
mod keys;
pub(crate) mod marks;
pub(crate) mod members;
mod migrate;
pub(crate) mod outbox;
pub(crate) mod pace;
pub(crate) mod posts;
pub(crate) mod recover;
pub(crate) mod review;
pub(crate) mod samples;
pub(crate) mod schedule;
mod seats;
mod seen;
pub(crate) mod sent;
mod size;
pub(crate) mod skipped;
pub(crate) mod stats;
pub(crate) mod strikes;
mod sweep;
pub(crate) mod trust;
mod undo;
mod unit;
pub(crate) mod welcome;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwapOption;
use jiff::Timestamp;
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use archive::ArchiveGauges;
pub use audit::GroupRecord;
pub use engagement::{AdminReply, CheckinDay, NotedPoints, PointsRefund, PointsView, PointsWrite};
pub use gate::{AskMode, Closing, GateOpened, GatePassed, PendingGate, WrongAnswer};
pub use keys::{
    case_key, decode_group_prefix, decode_member_key, decode_seq, group_prefix, i64_from_key, i64_key, member_key,
};
pub use members::GroupActivity;
pub use outbox::{DeadLetter, OutboxItem, Receipt};
pub use posts::PostState;
pub use samples::SampleCounts;
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
pub const SCHEMA_VERSION: u32 = 9;

/// Every tree, in backup order.
pub const TREES: &[&str] = &[
    "meta",
    "seen",
    "strikes",
    "outbox",
    "dead",
    "audit",
    "groups",
    "posts",
    "schedules",
    "welcome",
    "state",
    "members",
    "stats",
    "samples",
    "review",
    "sent",
    "engagement",
    "bans",
    "archive",
];

/// Trees an older schema had and a migration drops ([`migrate`]): `seen_expiry`, the time
/// index of `seen` (schemas 2 and earlier), `trust`, the members' trust records (schemas
/// 4 and earlier; schema 5 keeps them in the member's record in `members`), and `joins`, when
/// each member last joined (schemas 7 and earlier; schema 8 keeps it in the member's record).
/// A database not yet migrated still has them, and so do its clean-shutdown record and its
/// backups.
pub(crate) const RETIRED_TREES: &[&str] = &["seen_expiry", "trust", "joins"];

/// The retired trees whose entries a migration moves elsewhere (`trust` and `joins`, into
/// `members`):
/// restoring an older backup writes them back, for the migration to move.
pub(crate) const MOVED_TREES: &[&str] = &["trust", "joins"];

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
    /// The database directory cannot be written by this process (in Docker: a bind mount
    /// owned by another user than the image's).
    #[error(
        "the data directory {path} is not writable by this process (uid {uid}): {cause}; make it writable for uid {uid} (e.g. `chown -R {uid} {path}`), or use a named volume"
    )]
    NotWritable {
        /// The database directory.
        path: String,
        /// This process's user id, or `?` where it cannot be read.
        uid: String,
        /// The operating system's words.
        cause: std::io::Error,
    },
    /// The caller asked for something the store cannot do (a bug in the caller).
    #[error("invalid store request: {0}")]
    Invalid(&'static str),
    /// The database is being reopened after a write error, or could not be reopened yet.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A compaction's copier process failed ([`compact`]); the old database stays in use.
    #[error("the compaction's copier failed: {0}")]
    Copier(String),
    /// The database failed its start-up integrity check ([`integrity`]).
    #[error("{0}")]
    Damaged(integrity::Damage),
}

impl StoreError {
    /// True for errors of the database as a whole (I/O, a full disk, corruption, a store being
    /// reopened) rather than of one value or request: while they last, nothing can be stored,
    /// and the store reports itself failing until a probe write succeeds again.
    #[must_use]
    pub fn is_store_wide(&self) -> bool {
        matches!(
            self,
            Self::Sled(sled::Error::Io(_) | sled::Error::Corruption { .. } | sled::Error::ReportableBug(_))
                | Self::Unavailable(_)
                | Self::Join(_)
        )
    }
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
    /// The open database; `None` while it is being reopened (or could not be).
    trees: ArcSwapOption<Trees>,
    path: Option<PathBuf>,
    /// sled's page cache in bytes (`[storage] cache_capacity`), for reopening.
    cache_bytes: u64,
    /// The commit lock and what it guards.
    log: Mutex<CommitLog>,
    /// New outbox items in commit order (appended under the commit lock), while the delivery
    /// worker subscribes. A lock of its own, never held across I/O, so the worker's async task
    /// can take items without waiting for a commit in progress.
    feed: Mutex<Option<Vec<Staged>>>,
    flush: GroupCommit,
    /// Failing state, operations in progress, generations, injected faults.
    health: health::StoreHealth,
    /// Members' trust records read or written lately ([`trust::TrustCache`]).
    trust: trust::TrustCache,
    /// Set while a unit of work is unfinished (`CommitLog::unfinished`): other writes wait.
    unfinished: AtomicBool,
    /// Dead letters deleted beyond `[limits] dead_letters` ([`outbox::Outbox::trim_dead`]).
    dead_trimmed: std::sync::atomic::AtomicU64,
    /// The most dead letters kept (`[limits] dead_letters`).
    dead_keep: std::sync::atomic::AtomicUsize,
    /// The audit archive's folder and writers' lock ([`archive`]).
    archive: archive::Archive,
    /// The threads [`Store::offload`] drives futures on, started on first use.
    threads: blocking::StoreThreads,
    /// Held for writing while a compaction has closed the database for a copier process
    /// ([`compact`]): [`Store::trees`] waits on it instead of answering "unavailable".
    closed: std::sync::RwLock<()>,
}

/// One opened sled database and its trees. Replaced as a whole when the store reopens the
/// database ([`Store::recover`]); holders of an old one finish their operation on it.
pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    pub(crate) meta: sled::Tree,
    seen: sled::Tree,
    strikes: sled::Tree,
    outbox: sled::Tree,
    dead: sled::Tree,
    audit: sled::Tree,
    groups: sled::Tree,
    posts: sled::Tree,
    schedules: sled::Tree,
    welcome: sled::Tree,
    state: sled::Tree,
    members: sled::Tree,
    stats: sled::Tree,
    samples: sled::Tree,
    review: sled::Tree,
    sent: sled::Tree,
    engagement: sled::Tree,
    bans: sled::Tree,
    /// The audit archive's index ([`archive`]).
    archive: sled::Tree,
    /// How many dead letters `dead` holds: counted once at open, then kept by every write
    /// to the tree, so `/metrics` and `/readyz` read it without a scan.
    dead_count: std::sync::atomic::AtomicUsize,
    /// While `seen` may still hold keys an older build recorded in their undated form (see
    /// [`LEGACY_SEEN_KEY`]): since when this database records dated keys, unix ms; `i64::MIN`
    /// once none can be left.
    legacy_seen_since: std::sync::atomic::AtomicI64,
}

/// `meta` key (i64 BE, unix ms): when the database was migrated to schema 4, from which on
/// the seen keys of dated events are [`EventKey::dated`] keys. Keys recorded before that are
/// the same events' [`EventKey::derive`] keys, whose first 12 bytes are the dated key's
/// [`EventKey::digest_part`]; while any may be left, recording an event as seen also looks
/// for one (a prefix lookup), so a redelivery of an event an older build recorded is still
/// recognised. The first sweep that expires everything recorded before the migration
/// removes the key. A database created by schema 4 never has it.
pub(crate) const LEGACY_SEEN_KEY: &[u8] = b"seen_legacy_since";

impl Trees {
    /// Opens every tree of `db` (creating missing ones).
    fn open(db: sled::Db) -> Result<Self, StoreError> {
        let tree = |name: &str| db.open_tree(name);
        let dead = tree("dead")?;
        let meta = tree("meta")?;
        let legacy_seen_since = match meta.get(LEGACY_SEEN_KEY)? {
            Some(bytes) => codec::decode_i64(&bytes, "legacy seen keys' time")?,
            None => i64::MIN,
        };
        Ok(Self {
            dead_count: std::sync::atomic::AtomicUsize::new(dead.len()),
            legacy_seen_since: std::sync::atomic::AtomicI64::new(legacy_seen_since),
            meta,
            seen: tree("seen")?,
            strikes: tree("strikes")?,
            outbox: tree("outbox")?,
            dead,
            audit: tree("audit")?,
            groups: tree("groups")?,
            posts: tree("posts")?,
            schedules: tree("schedules")?,
            welcome: tree("welcome")?,
            state: tree("state")?,
            members: tree("members")?,
            stats: tree("stats")?,
            samples: tree("samples")?,
            review: tree("review")?,
            sent: tree("sent")?,
            engagement: tree("engagement")?,
            bans: tree("bans")?,
            archive: tree("archive")?,
            db,
        })
    }
}

/// What the commit lock guards: the order of commits (the lock is the point; see the module
/// docs), and a unit of work a write error left unfinished ([`journal`]). Holding a
/// `&mut CommitLog` proves the caller holds the lock.
#[derive(Default)]
struct CommitLog {
    unfinished: Option<unit::Unfinished>,
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
    ///
    /// This opener may write, so it turns a clean-shutdown record into a running one
    /// ([`integrity`]); the daemon opens with [`Store::open_checked`] instead.
    pub fn open(settings: &StorageSettings) -> Result<Self, StoreError> {
        let db = open_db(&settings.path, settings.cache_bytes())?;
        integrity::demote_clean(&settings.path)?;
        Self::from_db(db, Some(settings.path.clone()), settings.cache_bytes())
    }

    /// Opens a database at `path` with default settings (CLI tools, tests).
    pub fn open_path(path: &Path) -> Result<Self, StoreError> {
        Self::open(&StorageSettings {
            path: path.to_owned(),
            ..StorageSettings::default()
        })
    }

    fn from_db(db: sled::Db, path: Option<PathBuf>, cache_bytes: u64) -> Result<Self, StoreError> {
        // Before the schema check: a journal holds writes in the format of the schema that
        // wrote it, so they are applied before any later schema step migrates them.
        journal::replay_on_open(&db)?;
        migrate::ensure_current(&db, path.as_deref())?;
        if let Some(path) = &path {
            archive::repair_tails(&path.join(archive::DIR))?;
        }
        let trees = Trees::open(db)?;
        let health = health::StoreHealth::default();
        health.flushes.set_base(integrity::stored_flush_seq(&trees.meta)?);
        Ok(Self {
            inner: Arc::new(Inner {
                trees: ArcSwapOption::from_pointee(trees),
                cache_bytes,
                log: Mutex::new(CommitLog::default()),
                feed: Mutex::new(None),
                flush: GroupCommit::default(),
                health,
                trust: trust::TrustCache::new(crate::config::LimitsSettings::default().trust_members),
                unfinished: AtomicBool::new(false),
                dead_trimmed: std::sync::atomic::AtomicU64::new(0),
                dead_keep: std::sync::atomic::AtomicUsize::new(crate::config::LimitsSettings::default().dead_letters),
                archive: archive::Archive::new(path.as_deref()),
                path,
                threads: blocking::StoreThreads::default(),
                closed: std::sync::RwLock::new(()),
            }),
        })
    }

    /// The open database for a write: injected faults first, and a store-wide error marks the
    /// store failing.
    pub(crate) fn write_gate(&self) -> Result<Arc<Trees>, StoreError> {
        if self.inner.unfinished.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "a unit of work is unfinished after a write error; it is written again first".into(),
            ));
        }
        self.observe(self.inner.health.faults.before_write().and_then(|()| self.trees()))
    }

    /// Keeps (or clears) the unit of work a write error left unfinished; see [`journal`].
    fn set_unfinished(&self, log: &mut CommitLog, unfinished: Option<unit::Unfinished>) {
        self.inner.unfinished.store(unfinished.is_some(), Ordering::SeqCst);
        log.unfinished = unfinished;
    }

    /// Flushes now: makes everything written so far durable and (in the daemon) keeps the
    /// integrity sidecar current. Returns the flush's number.
    ///
    /// The number is recorded in `meta` (with the flush) only when the sidecar will quote it:
    /// in the daemon, when the sidecar is due for its periodic rewrite; elsewhere always. The
    /// sidecar never names a number the database does not hold, so the start-up check is as
    /// strong as before, and most of the daemon's flushes (one per violation or join under
    /// load) write nothing of their own: no `meta` read-modify-write, and no log buffer
    /// sealed and synced for it alone (docs/performance.md, "Session 19").
    pub(crate) fn flush_now(&self) -> Result<u64, StoreError> {
        let _op = self.begin(health::FLUSH_OP);
        let record = integrity::records_flush_seq(self);
        // A flush that records its number writes `meta`: under the commit lock, like every
        // other write, so a compaction never copies the database without it and then serves
        // a copy older than the sidecar says ([`compact`]).
        let log = record.then(|| self.lock());
        let trees = self.write_gate()?;
        let flushes = &self.inner.health.flushes;
        let seq = flushes.next();
        let recorded = if record {
            integrity::record_flush_seq(&trees.meta, seq)
        } else {
            Ok(())
        };
        drop(log);
        // Injected flush faults hang or fail here, where a real disk would: in sled's flush,
        // after the commit lock is released (writes go on meanwhile).
        let flushed = recorded
            .and_then(|()| self.inner.health.faults.before_flush())
            .and_then(|()| Ok(trees.db.flush()?));
        self.observe(flushed)?;
        flushes.mark_durable(seq);
        if record {
            flushes.mark_recorded(seq);
            integrity::after_flush(self);
        }
        Ok(seq)
    }

    /// The open database (after waiting, while a compaction's copier has it closed), or
    /// [`StoreError::Unavailable`] while it is being reopened.
    pub(crate) fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        if let Some(trees) = self.inner.trees.load_full() {
            return Ok(trees);
        }
        // A compaction that closed the database for its copy holds this until the copy is
        // open: wait for it rather than fail.
        drop(
            self.inner
                .closed
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.inner.trees.load_full().ok_or_else(|| {
            StoreError::Unavailable(
                self.failing()
                    .map_or_else(|| "it is being reopened".to_owned(), |f| f.reason),
            )
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
        self.commit_with(key, now, subject, |_, snapshot| Ok(decide(snapshot)))
    }

    /// The body of [`Store::commit`]: `decide` may also read and write other trees through
    /// the unit (an admin's label writes the samples).
    fn commit_with<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        subject: Option<Subject>,
        decide: impl Fn(&mut unit::Unit<'_>, Snapshot) -> Result<(Writes, R), unit::Abort>,
    ) -> Result<Option<Committed<R>>, StoreError> {
        self.commit_then(key, now, subject, decide, |_, _, _, _| Ok(()))
    }

    /// [`Store::commit_with`], then `after` in the same transaction, once the case is written:
    /// it sees the case (as recorded, with its number) and may record more (a pardon's
    /// refund of points is the next case, see `engagement::refund_for_pardon`).
    fn commit_then<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        subject: Option<Subject>,
        decide: impl Fn(&mut unit::Unit<'_>, Snapshot) -> Result<(Writes, R), unit::Abort>,
        after: impl Fn(&mut unit::Unit<'_>, Option<&AuditEntry>, Option<u64>, &mut R) -> Result<(), unit::Abort>,
    ) -> Result<Option<Committed<R>>, StoreError> {
        self.unit(Some(key), now, |unit| record_decision(unit, subject, &decide, &after))
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
        self.trees()?
            .strikes
            .get(member_key(group, user_id))?
            .map(|bytes| decode::<StoredStrikes>(&bytes).map(StrikeRecord::from))
            .transpose()
    }

    /// One audit case of a group: from `audit`, else from the archive.
    pub fn case(&self, group: GroupId, case: u64) -> Result<Option<AuditEntry>, StoreError> {
        match self.trees()?.audit.get(case_key(group, case))? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => self.archived_case(group, case),
        }
    }

    /// Audit cases (in `audit` and in the archive), of one group in case order or of every
    /// group in time order; with `last`, only the newest that many (the archive is then read
    /// newest day first, up to a day past the one where `last` cases were found).
    pub fn cases(&self, group: Option<GroupId>, last: Option<usize>) -> Result<Vec<AuditEntry>, StoreError> {
        let trees = self.trees()?;
        let tree = &trees.audit;
        let iter = match group {
            Some(g) => tree.scan_prefix(group_prefix(g)),
            None => tree.iter(),
        };
        let mut out = Vec::new();
        for entry in iter {
            let (_, value) = entry?;
            out.push(decode::<AuditEntry>(&value)?);
        }
        drop(trees);
        match last {
            None => out.extend(self.archived_all(group)?),
            Some(n) => {
                let (mut found, mut stop_day) = (0, None);
                self.archived_rev(group, None, &mut |entry| {
                    let day = archive::day_of(entry.at_ms);
                    out.push(entry);
                    found += 1;
                    if found >= n && stop_day.is_none() {
                        stop_day = Some(day);
                    }
                    stop_day.is_none_or(|stop| day >= stop)
                })?;
            }
        }
        if group.is_none() {
            out.sort_by_key(|e| (e.at_ms, e.group, e.case));
        } else {
            out.sort_by_key(|e| e.case);
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
        let generation = self.generation();
        let flush = &self.inner.flush;
        let number = flush.requested.fetch_add(1, Ordering::SeqCst) + 1;
        flush.joined(number);
        FlushTicket(generation, number)
    }

    /// Waits until the writes covered by `ticket` are on disk, flushing only if no flush has
    /// covered them since the ticket was taken. Lets a background writer (the outbox worker)
    /// take a ticket now, wait a little ([`Store::shared_flush`]), and usually find its
    /// writes flushed by someone else.
    pub async fn durable_upto(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        self.inner.flush.wait(self, ticket).await
    }

    /// [`Store::durable_upto`] for a writer whose durability gates a send (the outbox's
    /// delivery marks: a group's next action waits for them): its flush never lingers for
    /// company (`[storage] flush_linger_us`), and a flush lingering when it comes goes at once, covering
    /// it. Only events' flushes wait for company (docs/performance.md, "Session 28: the
    /// linger with the marks unlingered").
    pub async fn durable_upto_now(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        let flush = &self.inner.flush;
        flush.hurry.fetch_max(ticket.1, Ordering::SeqCst);
        flush.enough.notify_waiters();
        flush.wait(self, ticket).await
    }

    /// Waits at most `patience` for a flush that someone else starts (an event's group
    /// commit) to cover `ticket`; true when one did. A writer whose writes may wait that long
    /// then calls [`Store::durable_upto`], which flushes only if none did: under load its
    /// writes ride on the events' flushes instead of sealing and syncing a log buffer of
    /// their own (docs/performance.md, "Session 22").
    pub async fn shared_flush(&self, ticket: FlushTicket, patience: std::time::Duration) -> bool {
        let flush = &self.inner.flush;
        let FlushTicket(generation, number) = ticket;
        let covered = || generation == self.generation() && flush.flushed.load(Ordering::SeqCst) >= number;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let rung = flush.rung.notified();
            tokio::pin!(rung);
            // Registered before the check, so a flush that ends in between is not missed.
            rung.as_mut().enable();
            if covered() {
                return true;
            }
            if generation != self.generation() || tokio::time::timeout_at(deadline, rung).await.is_err() {
                return covered();
            }
        }
    }

    /// Sets how an event's flush waits for company under load (`[storage] flush_linger_us`,
    /// `flush_linger_waiters`); see [`FlushLinger`]. Off until set.
    pub(crate) fn set_flush_linger(&self, linger: FlushLinger) {
        let flush = &self.inner.flush;
        let micros = u64::try_from(linger.patience.as_micros()).unwrap_or(u64::MAX);
        flush.linger_us.store(micros, Ordering::Relaxed);
        flush.linger_waiters.store(linger.waiters.max(1), Ordering::Relaxed);
    }

    /// Flushes of the group commit so far, and how many of them waited for company
    /// ([`FlushLinger`]).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn group_flushes(&self) -> (u64, u64) {
        let flush = &self.inner.flush;
        (
            flush.flushes.load(Ordering::Relaxed),
            flush.lingered.load(Ordering::Relaxed),
        )
    }

    /// Writes the batched trust counts, then flushes synchronously (shutdown, CLI tools).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.write_pending_trust()?;
        self.flush_now().map(|_| ())
    }

    /// A small named value owned by one module (a polling offset, a cursor). Names are
    /// namespaced by their owner, e.g. `telegram.offset`.
    pub fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees()?.state.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Stores a named value (see [`Store::state`]). Durable after [`Store::durable`].
    pub fn set_state(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let _op = self.begin("state write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        self.observe(trees.state.insert(name.as_bytes(), value).map_err(StoreError::from))?;
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
    fn committed(&self, _log: &mut CommitLog, staged: Vec<(u64, OutboxItem)>) {
        let commit = self.inner.flush.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(feed) = self.lock_feed().as_mut() {
            feed.extend(staged.into_iter().map(|(seq, item)| Staged { commit, seq, item }));
        }
    }

    /// The feed's own lock (see [`Inner`]); entries are appended whole, so a poisoned lock is
    /// used as is.
    fn lock_feed(&self) -> MutexGuard<'_, Option<Vec<Staged>>> {
        self.inner
            .feed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let db = open_db_at(&compact::current_dir(path)?, cache_bytes)?;
    // Only now, holding sled's lock on the current database: what a compaction left.
    compact::tidy(path)?;
    Ok(db)
}

/// Opens sled exactly at `dir` with this daemon's settings (see [`open_db`]).
fn open_db_at(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
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
            Err(sled::Error::Io(e)) if not_writable(&e) => {
                return Err(StoreError::NotWritable {
                    path: path.display().to_string(),
                    uid: process_uid(),
                    cause: e,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether opening failed because the directory cannot be written (as opposed to a broken
/// database or a lock).
fn not_writable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// This process's effective user id, read from `/proc/self/status` (`?` elsewhere): the
/// number to `chown` a data directory to.
fn process_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Real, effective, saved, filesystem: the effective one decides.
            line.split_whitespace().nth(2).map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Covers the writes made before it was taken; see [`Store::flush_ticket`]. A ticket of an
/// earlier generation of the database (taken before it was reopened) is never covered: the
/// writes it stood for may be gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(u64, u64);

/// How a group-commit flush waits for company (`[storage] flush_linger_us`,
/// `flush_linger_waiters`).
///
/// Each flush seals one of sled's log buffers: a `pwrite`, a sync, and a job for sled's I/O
/// thread pool, whose hand-over wakes all seven of its idle threads (sled 0.34). Under load
/// a flush that waits a little covers more events, so there are fewer of them per event
/// (docs/performance.md, "Session 28"). The wait is asynchronous: a store thread goes on
/// with the events queued behind the one that waits, and they join the same flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlushLinger {
    /// The longest a flush waits; zero turns the linger off. tokio's timers tick in
    /// milliseconds, so the wait ends on the next tick after this.
    pub(crate) patience: std::time::Duration,
    /// The flush starts at once when this many writers (its own included) wait for it.
    pub(crate) waiters: u64,
}

/// A flush lingers only when the previous one ended less than this many patiences ago: the
/// store is busy, and more writers are likely to come. A lone event in a quiet store is
/// flushed at once.
const LINGER_WHEN_BUSY: u32 = 8;

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
    /// Rung after every flush of the group commit ([`Store::shared_flush`] listens).
    rung: tokio::sync::Notify,
    /// [`FlushLinger::patience`] in µs (0 = off) and [`FlushLinger::waiters`].
    linger_us: AtomicU64,
    linger_waiters: AtomicU64,
    /// Rung when the writers waiting reach [`FlushLinger::waiters`], which ends a linger.
    enough: tokio::sync::Notify,
    /// Highest ticket whose writer wants no linger ([`Store::durable_upto_now`]): while it is
    /// not flushed, no flush lingers.
    hurry: AtomicU64,
    /// When the last flush ended, in µs since [`linger_epoch`] (0: none yet).
    last_flush_us: AtomicU64,
    /// Flushes made, and how many of them lingered.
    flushes: AtomicU64,
    lingered: AtomicU64,
}

/// The time base of [`GroupCommit::last_flush_us`].
fn linger_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn micros_since_epoch() -> u64 {
    u64::try_from(linger_epoch().elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl GroupCommit {
    /// Writers waiting for the next flush: tickets not yet covered.
    fn waiting(&self) -> u64 {
        self.requested
            .load(Ordering::SeqCst)
            .saturating_sub(self.flushed.load(Ordering::SeqCst))
    }

    /// A writer that wants no linger waits for the next flush ([`Store::durable_upto_now`]).
    fn hurried(&self) -> bool {
        self.hurry.load(Ordering::SeqCst) > self.flushed.load(Ordering::SeqCst)
    }

    /// A ticket was taken: if a flush lingers and enough writers now wait, it goes.
    fn joined(&self, number: u64) {
        let waiters = self.linger_waiters.load(Ordering::Relaxed);
        if self.linger_us.load(Ordering::Relaxed) != 0
            && number.saturating_sub(self.flushed.load(Ordering::SeqCst)) >= waiters
        {
            self.enough.notify_waiters();
        }
    }

    /// Under load, waits (asynchronously) up to the linger's patience for more writers to
    /// join the flush about to start; see [`FlushLinger`].
    async fn linger(&self) {
        let micros = self.linger_us.load(Ordering::Relaxed);
        if micros == 0 {
            return;
        }
        let last = self.last_flush_us.load(Ordering::Relaxed);
        let busy = micros.saturating_mul(u64::from(LINGER_WHEN_BUSY));
        if last == 0 || micros_since_epoch().saturating_sub(last) > busy {
            return;
        }
        let waiters = self.linger_waiters.load(Ordering::Relaxed);
        let enough = self.enough.notified();
        tokio::pin!(enough);
        // Registered before the check, so a writer that joins in between is not missed.
        enough.as_mut().enable();
        if self.waiting() >= waiters || self.hurried() {
            return;
        }
        self.lingered.fetch_add(1, Ordering::Relaxed);
        let patience = std::time::Duration::from_micros(micros);
        let _ = tokio::time::timeout(patience, enough).await;
    }

    async fn wait(&self, store: &Store, FlushTicket(generation, ticket): FlushTicket) -> Result<(), StoreError> {
        let stale =
            || StoreError::Unavailable("the database was reopened after a write error; the write may be lost".into());
        if generation != store.generation() {
            return Err(stale());
        }
        if self.flushed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        if generation != store.generation() {
            return Err(stale());
        }
        if self.flushed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        self.linger().await;
        if generation != store.generation() {
            return Err(stale());
        }
        // Every ticket and commit counted up to here belongs to writes made before this
        // point, so one flush started now covers them all.
        let upto = self.requested.load(Ordering::SeqCst);
        let commits = self.commits.load(Ordering::SeqCst);
        // An event's handling waits for its flush on a store thread anyway: flushing right
        // there spares a hand-off to the blocking pool and a wake-up back (two thread
        // switches per flush; docs/performance.md, "Session 21"). Other events on this
        // thread wait meanwhile; new ones go to another store thread ([`Store::offload`]).
        if let Some(flushed) = blocking::flush_here(|| store.flush_now()) {
            flushed?;
        } else {
            let flusher = store.clone();
            tokio::task::spawn_blocking(move || flusher.flush_now())
                .await
                .map_err(|e| StoreError::Join(format!("the flush task: {e}")))??;
        }
        if generation != store.generation() {
            return Err(stale());
        }
        self.flushed.fetch_max(upto, Ordering::SeqCst);
        self.durable_commits.fetch_max(commits, Ordering::SeqCst);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.last_flush_us.store(micros_since_epoch().max(1), Ordering::Relaxed);
        self.rung.notify_waiters();
        Ok(())
    }
}

impl Trees {
    /// The `seen` tree to look up legacy (undated) keys in, while it may hold any
    /// ([`LEGACY_SEEN_KEY`]).
    fn legacy_seen(&self) -> Option<&sled::Tree> {
        (self.legacy_seen_since.load(Ordering::Relaxed) != i64::MIN).then_some(&self.seen)
    }
}

/// Records an event's key as seen inside a unit, with the time the sweep expires it by; false
/// when it already was (a redelivery). With `legacy`, a key an older build recorded for the
/// same event counts too ([`LEGACY_SEEN_KEY`]). Several keys share a record ([`seen`]).
fn mark_seen(
    seen: &journal::Staging<'_>,
    legacy: Option<&sled::Tree>,
    key: &EventKey,
    now_ms: i64,
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    seen::record(seen, legacy, key, now_ms)
}

/// Inside an event's transaction: reads the subject member's strike record and the group's
/// next case number, lets `decide` choose the writes, and writes them (strikes, the audit
/// case with the group's counter, the outbox items tied to the case); then runs `after`
/// (see [`Store::commit_then`]).
fn record_decision<'t, U: unit::AsCore<'t>, R>(
    unit: &mut U,
    subject: Option<Subject>,
    decide: &impl Fn(&mut U, Snapshot) -> Result<(Writes, R), unit::Abort>,
    after: &impl Fn(&mut U, Option<&AuditEntry>, Option<u64>, &mut R) -> Result<(), unit::Abort>,
) -> Result<Committed<R>, unit::Abort> {
    let strike_key = subject.and_then(|s| s.user.map(|u| member_key(s.group, u)));
    let group = subject.map(|s| s.group);
    let group_key = group.map(group_prefix);
    let core = unit.core();
    let record = match &strike_key {
        Some(k) => match core.strikes.get(k)? {
            Some(bytes) => Some(StrikeRecord::from(decode::<StoredStrikes>(&bytes).map_err(abort)?)),
            None => None,
        },
        None => None,
    };
    let group_record = match &group_key {
        Some(k) => match core.groups.get(k)? {
            Some(bytes) => decode::<GroupRecord>(&bytes).map_err(abort)?,
            None => GroupRecord::default(),
        },
        None => GroupRecord::default(),
    };
    let next_case = group_record.last_case + 1;
    let (writes, mut value) = decide(unit, Snapshot { record, next_case })?;
    let core = unit.core();
    match (&strike_key, &writes.strikes) {
        (_, StrikeWrite::Keep) => {}
        (Some(k), StrikeWrite::Put(record)) => {
            core.strikes
                .insert(k, encode(&StoredStrikes::from(record)).map_err(abort)?)?;
        }
        (Some(k), StrikeWrite::Clear) => {
            core.strikes.remove(k)?;
        }
        (None, _) => return Err(abort(StoreError::Invalid("a strike write needs a subject member"))),
    }
    let (case, entry) = match (writes.audit, group, &group_key) {
        (None, ..) => (None, None),
        (Some(mut entry), Some(group), Some(gk)) => {
            entry.case = next_case;
            entry.group = group;
            core.audit
                .insert(&case_key(group, next_case), encode(&entry).map_err(abort)?)?;
            let record = GroupRecord { last_case: next_case };
            core.groups.insert(gk, encode(&record).map_err(abort)?)?;
            (Some(next_case), Some(entry))
        }
        (Some(_), ..) => return Err(abort(StoreError::Invalid("an audit case needs a subject group"))),
    };
    // A recall here is of the subject member's message: noted, so that it keeps its place
    // only behind that member's earlier actions when it is sent early.
    core.stage_about(writes.actions, case, subject.and_then(|s| s.user))?;
    after(unit, entry.as_ref(), case, &mut value)?;
    Ok(Committed { value, case })
}

/// Appends actions to the outbox inside a transaction, under fresh sequence numbers (sled's
/// id generator: monotonic, so key order is decision order); returns them for the feed.
fn stage(
    outbox: &impl OutboxTree,
    actions: impl IntoIterator<Item = Action>,
    now_ms: i64,
    case: Option<u64>,
    member: Option<i64>,
) -> Result<Vec<(u64, OutboxItem)>, ConflictableTransactionError<StoreError>> {
    stage_items(
        outbox,
        actions.into_iter().map(|action| {
            let recall = matches!(action, Action::Recall { .. });
            let mut item = OutboxItem::new(action, now_ms);
            item.case = case;
            // The author of a recalled message (`OutboxItem::member`).
            item.member = member.filter(|_| recall);
            item
        }),
    )
}

/// [`stage`] for items prepared by the caller (a later `not_before_ms`, a receipt name).
fn stage_items(
    outbox: &impl OutboxTree,
    items: impl IntoIterator<Item = OutboxItem>,
) -> Result<Vec<(u64, OutboxItem)>, ConflictableTransactionError<StoreError>> {
    let mut staged = Vec::new();
    for item in items {
        let seq = outbox.next_seq()?;
        outbox.put(seq.to_be_bytes(), encode(&item).map_err(abort)?)?;
        staged.push((seq, item));
    }
    Ok(staged)
}

/// The `outbox` tree as [`stage_items`] writes it: in a unit of work ([`journal::Staging`])
/// or in a sled transaction (the dead letters' requeue).
trait OutboxTree {
    fn next_seq(&self) -> Result<u64, sled::transaction::UnabortableTransactionError>;
    fn put(&self, key: [u8; 8], value: Vec<u8>) -> Result<(), sled::transaction::UnabortableTransactionError>;
}

impl OutboxTree for journal::Staging<'_> {
    fn next_seq(&self) -> Result<u64, sled::transaction::UnabortableTransactionError> {
        self.generate_id()
    }

    fn put(&self, key: [u8; 8], value: Vec<u8>) -> Result<(), sled::transaction::UnabortableTransactionError> {
        self.insert(&key, value)
    }
}

impl OutboxTree for sled::transaction::TransactionalTree {
    fn next_seq(&self) -> Result<u64, sled::transaction::UnabortableTransactionError> {
        self.generate_id()
            .map_err(sled::transaction::UnabortableTransactionError::Storage)
    }

    fn put(&self, key: [u8; 8], value: Vec<u8>) -> Result<(), sled::transaction::UnabortableTransactionError> {
        self.insert(&key, value).map(drop)
    }
}

pub(crate) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Inside a transaction: the next number of a per-group counter kept under `counter` in
/// `state` (1 for the first), stored before it is returned. `what` names the counter in a
/// decode error. Scheduled posts and keyword answers number their entries with it.
pub(crate) fn next_number(
    state: &journal::Staging<'_>,
    counter: &[u8],
    what: &'static str,
) -> Result<u64, ConflictableTransactionError<StoreError>> {
    let last = match state.get(counter)? {
        Some(bytes) => codec::decode_i64(&bytes, what).map_err(abort)?,
        None => 0,
    };
    let number = u64::try_from(last).unwrap_or(0) + 1;
    state.insert(counter, &i64::try_from(number).unwrap_or(i64::MAX).to_be_bytes())?;
    Ok(number)
}

fn map_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

#[cfg(test)]
mod tests;
