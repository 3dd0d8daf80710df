//! Start-up integrity: a damaged database is refused instead of run with partial state.
//!
//! sled checks its own log on open, but a truncated or overwritten log usually opens fine —
//! as an *older* database, or an empty one. Run like that, qunguan would forget strikes and
//! send again what it had already delivered. So the daemon keeps two records of how far the
//! database got, and compares them on the next start:
//!
//! - **In the database**, `meta`/`flushseq`: the number of the last explicit flush that
//!   recorded it (such a flush writes its number first, so it is durable with the flush), and
//!   `meta`/`integrity`: the record of the last clean shutdown — per tree, the entry count and
//!   a checksum.
//! - **Beside it**, `<storage.path>/integrity.json` (written atomically): the same record
//!   after a clean shutdown, and while the daemon runs, every couple of seconds after a
//!   flush, the number that flush recorded. The daemon's flushes in between (one per
//!   violation or join under load) record nothing: the sidecar never quotes them, so writing
//!   their numbers would prove nothing more ([`records_flush_seq`]).
//!
//! On start ([`Store::open_checked`]) the database is damaged when:
//!
//! | check                                                        | catches                          |
//! |--------------------------------------------------------------|----------------------------------|
//! | sled cannot open it (an error or a panic)                    | garbage, a broken log            |
//! | a tree every qunguan database has is missing                 | dropped trees, a wrong directory |
//! | its `flushseq` is below the sidecar's                        | a truncated or older log         |
//! | after a clean shutdown: a tree's count or checksum differs   | anything else that changed it    |
//!
//! A crash (kill -9, power loss) is not damage: the sidecar then says `running`, and only the
//! flush number is compared. The daemon refuses a damaged database with a message naming
//! every problem and pointing to `qunguan restore`; `qunguan run --accept-damaged` starts on
//! it anyway (and the records start over from what is there).
//!
//! Every other opener ([`Store::open`]: the CLI, tools) turns a `clean` sidecar into
//! `running` first, because it may write; the next daemon start then checks only the flush
//! number. `qunguan restore` ends with a clean record of what it restored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{RETIRED_TREES, Store, StoreError, TREES, open_db};
use crate::config::StorageSettings;

/// The sidecar's file name inside `storage.path`.
pub const SIDECAR: &str = "integrity.json";
/// `meta` key of the last explicit flush's number (u64 BE).
const FLUSH_KEY: &[u8] = b"flushseq";
/// `meta` key of the clean-shutdown record (JSON).
const RECORD_KEY: &[u8] = b"integrity";
/// `meta` keys that change with every flush or probe: bookkeeping of one database, left out
/// of the checksums and of backups.
pub(crate) const VOLATILE_META: [&[u8]; 3] = [FLUSH_KEY, RECORD_KEY, b"probe"];
/// Trees every qunguan database has had since schema 2. Trees added later are created on open
/// and never required, so an older database is not mistaken for a damaged one.
/// (`seen_expiry` was one until schema 3 dropped it, `joins` until schema 8: see
/// [`super::RETIRED_TREES`].)
const REQUIRED_TREES: [&str; 13] = [
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
];
/// How often, at most, the running daemon rewrites the sidecar after a flush.
const SIDECAR_EVERY: Duration = Duration::from_secs(2);

/// Whether the last run ended cleanly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The database is (or was, until a crash) in use.
    Running,
    /// The daemon stopped cleanly; the tree sums are exact.
    Clean,
}

/// One tree's entry count and checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeSum {
    /// Entries.
    pub count: u64,
    /// FNV-1a (64 bit) over every length-prefixed key and value, in key order.
    pub checksum: u64,
}

/// The integrity record, in `meta` and in the sidecar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Record format version.
    pub v: u8,
    /// Running or clean.
    pub state: State,
    /// The number of the last flush known to be durable.
    pub flush_seq: u64,
    /// When it was written, unix ms.
    pub at_ms: i64,
    /// Per tree, after a clean shutdown; empty while running.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trees: BTreeMap<String, TreeSum>,
}

/// A damaged database: where, and every problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// `storage.path`.
    pub path: PathBuf,
    /// What is wrong, one item each.
    pub problems: Vec<String>,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        writeln!(f, "the database at {path} is damaged:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(
            f,
            "Starting on it could forget strikes and send again what was already delivered. Restore the \
             latest backup: stop qunguan, move {path} aside (keep it for inspection), and run \
             `qunguan restore --in <backup.jsonl>` with the same --config (or restore over it with \
             `--force` if it still opens). To start on it anyway, run `qunguan run --accept-damaged`."
        )
    }
}

impl Store {
    /// Opens the database for the daemon: checks its integrity first (see the module docs),
    /// refusing a damaged one with [`StoreError::Damaged`] unless `accept_damaged`; then
    /// migrates it and records that it runs. Returns the store and the problems accepted.
    pub fn open_checked(settings: &StorageSettings, accept_damaged: bool) -> Result<(Self, Vec<String>), StoreError> {
        let path = &settings.path;
        let mut problems = Vec::new();
        let sidecar = match read_sidecar(path) {
            Ok(record) => record,
            Err(reason) => {
                problems.push(reason);
                None
            }
        };
        let damaged = |mut problems: Vec<String>, problem: String| {
            problems.push(problem);
            StoreError::Damaged(Damage {
                path: path.clone(),
                problems,
            })
        };
        let db = match std::panic::catch_unwind(|| open_db(path, settings.cache_bytes())) {
            Ok(Ok(db)) => db,
            Ok(Err(e @ StoreError::Locked(_))) => return Err(e),
            Ok(Err(e)) => return Err(damaged(problems, format!("sled cannot open it: {e}"))),
            Err(panic) => {
                let what = crate::domain::logfield::panic_text(&*panic);
                return Err(damaged(problems, format!("sled cannot open it: it panicked ({what})")));
            }
        };
        problems.extend(check(&db, sidecar.as_ref())?);
        problems.extend(super::archive::check(&db, path)?);
        if !problems.is_empty() {
            if !accept_damaged {
                return Err(StoreError::Damaged(Damage {
                    path: path.clone(),
                    problems,
                }));
            }
            tracing::error!(
                path = %path.display(),
                problems = %problems.join("; "),
                "STARTING ON A DAMAGED DATABASE (--accept-damaged): strikes may be missing and delivered \
                 actions may be sent again; restore a backup with `qunguan restore` as soon as you can"
            );
        }
        // A migration rewrites trees: once it starts, the clean shutdown's sums no longer
        // describe the database, and a crash part-way must not read as damage next time.
        if super::migrate::needs_migration(&db)? {
            demote_clean(path)?;
        }
        let store = Self::from_db(db, Some(path.clone()), settings.cache_bytes())?;
        store.inner.health.tracking.store(true, Ordering::SeqCst);
        store.write_record(State::Running)?;
        Ok((store, problems))
    }

    /// Records a clean shutdown: flushes, then writes the per-tree sums to `meta` and the
    /// sidecar. Call it last, when nothing writes any more.
    pub fn close_clean(&self) -> Result<(), StoreError> {
        self.write_record(State::Clean)
    }

    /// Writes the integrity record (and flushes it) under the commit lock; `Clean` with the sums.
    fn write_record(&self, state: State) -> Result<(), StoreError> {
        let Some(path) = self.inner.path.clone() else {
            return Ok(());
        };
        let _op = self.begin("integrity record");
        let _log = self.lock();
        // The batched trust counts belong to what a clean shutdown leaves on disk.
        if state == State::Clean {
            self.write_pending_trust_locked()?;
        }
        let trees = self.write_gate()?;
        // Durable first, so the sums describe what is on disk.
        self.observe(trees.db.flush().map_err(StoreError::from))?;
        let seq = self.inner.health.flushes.next();
        let record = Record {
            v: 1,
            state,
            flush_seq: seq,
            at_ms: jiff::Timestamp::now().as_millisecond(),
            trees: match state {
                State::Clean => sums(&trees.db)?,
                State::Running => BTreeMap::new(),
            },
        };
        let json = serde_json::to_vec(&record).map_err(|e| StoreError::Encode {
            what: "integrity record",
            reason: e.to_string(),
        })?;
        trees.meta.insert(RECORD_KEY, json)?;
        record_flush_seq(&trees.meta, seq)?;
        self.observe(trees.db.flush().map_err(StoreError::from))?;
        self.inner.health.flushes.mark_durable(seq);
        self.inner.health.flushes.mark_recorded(seq);
        write_sidecar(&path, &record)?;
        *self
            .inner
            .health
            .sidecar_written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        Ok(())
    }
}

/// The integrity problems of an opened database, given the sidecar.
fn check(db: &sled::Db, sidecar: Option<&Record>) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let names: Vec<String> = db
        .tree_names()
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    let has = |tree: &str| names.iter().any(|n| n == tree);
    let has_schema = has("meta") && db.open_tree("meta")?.get(b"schema")?.is_some();
    if has_schema {
        let missing: Vec<&str> = REQUIRED_TREES.iter().copied().filter(|t| !has(t)).collect();
        if !missing.is_empty() {
            problems.push(format!("tree(s) missing: {}", missing.join(", ")));
        }
    } else if let Some(tree) = TREES
        .iter()
        .find(|t| has(t) && db.open_tree(t).is_ok_and(|t| !t.is_empty()))
    {
        problems.push(format!("the schema record is missing, but tree {tree} holds data"));
    }
    let Some(sidecar) = sidecar else {
        return Ok(problems);
    };
    let flushed = if has("meta") {
        stored_flush_seq(&db.open_tree("meta")?)?
    } else {
        0
    };
    if flushed < sidecar.flush_seq {
        problems.push(format!(
            "it holds writes up to flush #{flushed}, but flush #{} had completed (the log is truncated, \
             or this is an older copy)",
            sidecar.flush_seq
        ));
    }
    if sidecar.state == State::Clean {
        let now = sums(db)?;
        for (tree, recorded) in &sidecar.trees {
            match now.get(tree) {
                Some(found) if found == recorded => {}
                Some(found) => problems.push(format!(
                    "tree {tree} has {} entries (checksum {:016x}); the clean shutdown left {} (checksum {:016x})",
                    found.count, found.checksum, recorded.count, recorded.checksum
                )),
                None => problems.push(format!(
                    "tree {tree} is missing; the clean shutdown left {} entries",
                    recorded.count
                )),
            }
        }
    }
    Ok(problems)
}

/// Every tree's count and checksum (the volatile `meta` keys left out), a retired tree's too
/// while the database still has it: a clean shutdown of an older build recorded it, and the
/// check runs before the migration that drops it.
fn sums(db: &sled::Db) -> Result<BTreeMap<String, TreeSum>, StoreError> {
    let names = db.tree_names();
    let mut out = BTreeMap::new();
    for name in TREES.iter().chain(RETIRED_TREES) {
        if !names.iter().any(|n| n.as_ref() == name.as_bytes()) {
            continue;
        }
        let mut sum = TreeSum {
            count: 0,
            checksum: FNV_OFFSET,
        };
        for entry in db.open_tree(name)?.iter() {
            let (key, value) = entry?;
            if *name == "meta" && VOLATILE_META.contains(&key.as_ref()) {
                continue;
            }
            sum.count += 1;
            for part in [key.as_ref(), value.as_ref()] {
                sum.checksum = fnv(sum.checksum, &(part.len() as u64).to_be_bytes());
                sum.checksum = fnv(sum.checksum, part);
            }
        }
        out.insert((*name).to_owned(), sum);
    }
    Ok(out)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The number of the last explicit flush recorded in `meta` (0 if none).
pub(crate) fn stored_flush_seq(meta: &sled::Tree) -> Result<u64, StoreError> {
    Ok(meta
        .get(FLUSH_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Records `seq` as the latest flush's number, never lowering it (flushes may race).
pub(crate) fn record_flush_seq(meta: &sled::Tree, seq: u64) -> Result<(), StoreError> {
    meta.fetch_and_update(FLUSH_KEY, |old| {
        let old = old
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map_or(0, u64::from_be_bytes);
        Some(old.max(seq).to_be_bytes().to_vec())
    })?;
    Ok(())
}

/// Whether the next flush records its number in `meta`: always, unless this is the daemon's
/// store (which keeps the sidecar) and the sidecar is not due for a rewrite — then nothing
/// will quote the number, and the flush need not write it.
pub(crate) fn records_flush_seq(store: &Store) -> bool {
    let health = &store.inner.health;
    if !health.tracking.load(Ordering::SeqCst) || store.inner.path.is_none() {
        return true;
    }
    health
        .sidecar_written
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_none_or(|at| at.elapsed() >= SIDECAR_EVERY)
}

/// After a successful flush in the daemon that recorded its number: rewrites the sidecar with
/// the highest number recorded on disk, at most every [`SIDECAR_EVERY`]. A failed write is
/// logged; a later flush tries again.
pub(crate) fn after_flush(store: &Store) {
    let health = &store.inner.health;
    if !health.tracking.load(Ordering::SeqCst) {
        return;
    }
    let Some(path) = store.inner.path.as_deref() else {
        return;
    };
    {
        let mut last = health
            .sidecar_written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < SIDECAR_EVERY) {
            return;
        }
        *last = Some(Instant::now());
    }
    let record = Record {
        v: 1,
        state: State::Running,
        flush_seq: health.flushes.recorded(),
        at_ms: jiff::Timestamp::now().as_millisecond(),
        trees: BTreeMap::new(),
    };
    if let Err(e) = write_sidecar(path, &record) {
        tracing::warn!(error = %e, "store: cannot update the integrity record");
    }
}

/// Turns a `clean` sidecar into `running` (an opener other than the daemon may write).
pub(crate) fn demote_clean(path: &Path) -> Result<(), StoreError> {
    if let Ok(Some(mut record)) = read_sidecar(path)
        && record.state == State::Clean
    {
        record.state = State::Running;
        record.trees.clear();
        write_sidecar(path, &record)?;
    }
    Ok(())
}

fn read_sidecar(dir: &Path) -> Result<Option<Record>, String> {
    let file = dir.join(SIDECAR);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is unreadable ({e})", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

fn write_sidecar(dir: &Path, record: &Record) -> Result<(), StoreError> {
    super::backup::write_file_atomically(&dir.join(SIDECAR), |out| {
        serde_json::to_writer(&mut *out, record).map_err(|e| StoreError::Encode {
            what: "integrity record",
            reason: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::Action;
    use crate::domain::event::GroupId;

    fn settings(dir: &Path) -> StorageSettings {
        StorageSettings {
            path: dir.to_owned(),
            ..StorageSettings::default()
        }
    }

    fn fill(store: &Store, n: i64) {
        let actions = (0..n)
            .map(|id| Action::Recall {
                group: GroupId::qq(1),
                message_id: id,
            })
            .collect();
        store.enqueue(actions, jiff::Timestamp::UNIX_EPOCH).expect("enqueue");
        store.set_state("test.k", b"v").expect("state");
    }

    fn damaged(result: Result<(Store, Vec<String>), StoreError>) -> Damage {
        match result {
            Err(StoreError::Damaged(d)) => d,
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("a damaged database was opened"),
        }
    }

    #[test]
    fn a_clean_database_reopens_and_a_crashed_one_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, problems) = Store::open_checked(&settings(dir.path()), false).expect("new");
        assert!(problems.is_empty());
        fill(&store, 10);
        store.close_clean().expect("close");
        drop(store);
        let (store, problems) = Store::open_checked(&settings(dir.path()), false).expect("clean restart");
        assert!(problems.is_empty(), "{problems:?}");
        fill(&store, 3);
        store.flush_blocking().expect("flush");
        drop(store); // as a crash: no clean record
        let (_, problems) = Store::open_checked(&settings(dir.path()), false).expect("after a crash");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_clean_shutdown_of_a_schema_2_database_opens_clean_and_migrates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
        fill(&store, 5);
        {
            // What a schema-2 build left: the seen keys' time index, and its schema number.
            let trees = store.trees().expect("open");
            let index = trees.db.open_tree("seen_expiry").expect("tree");
            index.insert([1u8; 24], &[]).expect("insert");
            trees.meta.insert(b"schema", &2u32.to_be_bytes()).expect("insert");
        }
        store.close_clean().expect("close");
        drop(store);
        let sidecar = read_sidecar(dir.path()).expect("read").expect("written");
        assert_eq!(sidecar.trees.get("seen_expiry").map(|s| s.count), Some(1));
        // Checked before the migration, which then drops the index.
        let (store, problems) = Store::open_checked(&settings(dir.path()), false).expect("clean restart");
        assert!(problems.is_empty(), "{problems:?}");
        let trees = store.trees().expect("open");
        assert!(!trees.db.tree_names().iter().any(|n| n.as_ref() == b"seen_expiry"));
        drop(trees);
        store.close_clean().expect("close");
        drop(store);
        let (_, problems) = Store::open_checked(&settings(dir.path()), false).expect("migrated, clean");
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// What a schema-4 build left at a clean shutdown: some data, and a member's trust
    /// record in a tree of its own. Returns the member's key.
    fn clean_schema_4_with_a_trust_record(dir: &Path) -> [u8; 17] {
        let (store, _) = Store::open_checked(&settings(dir), false).expect("new");
        fill(&store, 5);
        let key = crate::store::keys::member_key(crate::domain::event::GroupId::qq(2), 9);
        {
            let trees = store.trees().expect("open");
            let trust = trees.db.open_tree("trust").expect("tree");
            trust.insert(key, &[1, 0, 0, 0x4e, 0x20, 1]).expect("insert");
            trees.meta.insert(b"schema", &4u32.to_be_bytes()).expect("insert");
        }
        store.close_clean().expect("close");
        key
    }

    #[test]
    fn a_clean_shutdown_of_a_schema_4_database_opens_clean_and_moves_its_trust_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = clean_schema_4_with_a_trust_record(dir.path());
        let sidecar = read_sidecar(dir.path()).expect("read").expect("written");
        assert_eq!(sidecar.trees.get("trust").map(|s| s.count), Some(1));
        // Checked before the migration, which then moves the record and drops the tree.
        let (store, problems) = Store::open_checked(&settings(dir.path()), false).expect("clean restart");
        assert!(problems.is_empty(), "{problems:?}");
        let trees = store.trees().expect("open");
        assert!(!trees.db.tree_names().iter().any(|n| n.as_ref() == b"trust"));
        assert_eq!(
            trees.members.get(key).expect("read").as_deref(),
            Some(&[1, 0, 0, 0x4e, 0x20, 1][..])
        );
        drop(trees);
        store.close_clean().expect("close");
        drop(store);
        let sidecar = read_sidecar(dir.path()).expect("read").expect("written");
        assert_eq!(sidecar.trees.get("trust"), None);
        let (_, problems) = Store::open_checked(&settings(dir.path()), false).expect("migrated, clean");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_clean_shutdown_of_a_schema_5_database_opens_clean_and_moves_its_points_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
        fill(&store, 5);
        let g = crate::domain::event::GroupId::qq(2);
        let key = crate::store::keys::member_key(g, 9);
        let points = br#"{"v":2,"p":4}"#;
        {
            // What a schema-5 build left: a member's points record in `engagement`.
            let trees = store.trees().expect("open");
            trees.engagement.insert(key, &points[..]).expect("insert");
            trees.meta.insert(b"schema", &5u32.to_be_bytes()).expect("insert");
        }
        store.close_clean().expect("close");
        drop(store);
        // Checked before the migration, which then moves the record.
        let (store, problems) = Store::open_checked(&settings(dir.path()), false).expect("clean restart");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(store.member_points(g, 9).expect("read").map(|p| p.points), Some(4));
        let trees = store.trees().expect("open");
        assert_eq!(trees.engagement.get(key).expect("read"), None);
        drop(trees);
        store.close_clean().expect("close");
        drop(store);
        let (_, problems) = Store::open_checked(&settings(dir.path()), false).expect("migrated, clean");
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// A migration rewrites trees after the start-up check has compared them with the clean
    /// shutdown's sums; a crash during it must not read as damage at the next start.
    #[test]
    fn a_migration_interrupted_after_a_clean_shutdown_is_not_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = clean_schema_4_with_a_trust_record(dir.path());
        {
            // What the start-up does before it migrates; then the step ran and the process
            // died before the new schema number was written.
            let db = open_db(dir.path(), 1 << 20).expect("open");
            assert!(
                check(&db, read_sidecar(dir.path()).expect("read").as_ref())
                    .expect("check")
                    .is_empty()
            );
            assert!(crate::store::migrate::needs_migration(&db).expect("read"));
            demote_clean(dir.path()).expect("demote");
            crate::store::migrate::v4_to_v5(&db).expect("step");
            db.flush().expect("flush");
        }
        let (store, problems) = Store::open_checked(&settings(dir.path()), false).expect("opens");
        assert!(problems.is_empty(), "{problems:?}");
        let moved = store.trees().expect("open").members.get(key).expect("read");
        assert_eq!(
            moved.as_deref(),
            Some(&[1, 0, 0, 0x4e, 0x20, 1][..]),
            "the trust record moved"
        );
    }

    #[test]
    fn a_change_behind_a_clean_shutdown_is_damage_and_can_be_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
        fill(&store, 5);
        store.close_clean().expect("close");
        drop(store);
        // Remove entries behind qunguan's back, as a lost log segment would.
        {
            let db = open_db(dir.path(), 8 << 20).expect("raw open");
            db.open_tree("outbox").expect("tree").clear().expect("clear");
            db.flush().expect("flush");
        }
        let damage = damaged(Store::open_checked(&settings(dir.path()), false));
        assert!(
            damage.problems.iter().any(|p| p.contains("tree outbox has 0 entries")),
            "{damage:?}"
        );
        let message = damage.to_string();
        assert!(
            message.contains("qunguan restore") && message.contains("--accept-damaged"),
            "{message}"
        );
        let (store, problems) = Store::open_checked(&settings(dir.path()), true).expect("accepted");
        assert_eq!(problems.len(), 1);
        store.close_clean().expect("close");
        drop(store);
        let (_, problems) =
            Store::open_checked(&settings(dir.path()), false).expect("accepted state is the new normal");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn the_daemons_flushes_record_their_number_only_when_the_sidecar_will_quote_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
            let meta = store.trees().expect("open").meta.clone();
            let stored = || stored_flush_seq(&meta).expect("read");
            let quoted = || read_sidecar(dir.path()).expect("readable").expect("written").flush_seq;
            let at_open = stored();
            assert_eq!(quoted(), at_open);
            // The sidecar was written on open: the flushes until it is due only count.
            fill(&store, 2);
            let counted = store.flush_now().expect("flush");
            store.flush_now().expect("flush");
            assert!(counted > at_open);
            assert_eq!((stored(), quoted()), (at_open, at_open), "nothing recorded or quoted");
            // Due (as two seconds later): the next flush records its number, and the sidecar
            // quotes exactly that.
            *store.inner.health.sidecar_written.lock().expect("lock") = None;
            fill(&store, 1);
            let recorded = store.flush_now().expect("flush");
            assert_eq!((stored(), quoted()), (recorded, recorded));
        }
        Store::open_checked(&settings(dir.path()), false).expect("a crash after it is not damage");
        // Any other opener (a CLI tool) records every flush.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let meta = store.trees().expect("open").meta.clone();
        for _ in 0..2 {
            let seq = store.flush_now().expect("flush");
            assert_eq!(stored_flush_seq(&meta).expect("read"), seq);
        }
    }

    #[test]
    fn a_database_older_than_its_last_flush_is_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
        fill(&store, 2);
        store.flush_blocking().expect("flush");
        let seq = store.inner.health.flushes.durable();
        drop(store);
        // A sidecar from a later flush than the database holds: as after a truncated log.
        let record = Record {
            v: 1,
            state: State::Running,
            flush_seq: seq + 5,
            at_ms: 0,
            trees: BTreeMap::new(),
        };
        write_sidecar(dir.path(), &record).expect("sidecar");
        let damage = damaged(Store::open_checked(&settings(dir.path()), false));
        assert!(damage.problems[0].contains("truncated"), "{damage:?}");
    }

    #[test]
    fn missing_trees_and_garbage_are_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
        fill(&store, 2);
        store.flush_blocking().expect("flush");
        drop(store);
        {
            let db = open_db(dir.path(), 8 << 20).expect("raw open");
            assert!(db.drop_tree("strikes").expect("drop"));
            assert!(db.drop_tree("audit").expect("drop"));
            db.flush().expect("flush");
        }
        let damage = damaged(Store::open_checked(&settings(dir.path()), false));
        assert!(
            damage.problems.iter().any(|p| p == "tree(s) missing: strikes, audit"),
            "{damage:?}"
        );

        let garbage = tempfile::tempdir().expect("tempdir");
        std::fs::write(garbage.path().join("conf"), b"\x00\xffnot a sled config\n").expect("write");
        std::fs::write(garbage.path().join("db"), vec![0xA5; 4096]).expect("write");
        let damage = damaged(Store::open_checked(&settings(garbage.path()), false));
        assert!(damage.problems[0].starts_with("sled cannot open it"), "{damage:?}");
    }

    #[test]
    fn other_openers_demote_a_clean_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open_checked(&settings(dir.path()), false).expect("new");
        store.close_clean().expect("close");
        drop(store);
        let tool = Store::open(&settings(dir.path())).expect("a tool opens it");
        fill(&tool, 4);
        drop(tool);
        let (_, problems) = Store::open_checked(&settings(dir.path()), false).expect("not damage");
        assert!(problems.is_empty(), "{problems:?}");
    }
}
