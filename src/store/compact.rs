//! Compaction: the database copied into a fresh sled folder when its files have grown far
//! past what they hold.
//!
//! sled 0.34 is a log: every write appends, and a segment of the log is reused only once
//! sled counts less than half of it as live. Under qunguan's writes (member records rewritten
//! every few seconds, seen keys and audit cases added and swept) that count stays high while
//! the live data does not grow, and the file grows for good: in the soak bench, with every
//! retention window at two minutes so that the live data stays flat, the folder took 584
//! bytes per event after 3,000,000 events (1.7 GB) for about 19 MB of live records, and it
//! was still growing by the same amount per event (docs/storage.md, "Compaction"). Copying
//! the trees into a new database writes each record once: 43 MB for that database.
//!
//! **When.** After each sweep (`[storage] sweep_every`) the daemon compares the sled files'
//! size with `[storage] compact_growth` times their size after the last compaction (as
//! recorded in the pointer file below; before any, `[storage] compact_min`), and compacts
//! when both that and `compact_min` are exceeded. `compact_growth = 0` turns it off.
//!
//! **How.** Under the audit archive's lock and the commit lock (every writer takes the commit
//! lock, so none writes meanwhile; readers go on reading the old handle), the old database is
//! flushed, its every tree copied into `<storage.path>/sled-<n>/` in batches and flushed, and
//! then the pointer file `<storage.path>/sled-current` is replaced (written aside, synced,
//! renamed, the folder synced): that rename is the moment the new copy becomes the database.
//! The store then serves the new handle; the old one is closed once its last reader lets go,
//! and its files are deleted. Events that arrive meanwhile wait for the commit lock (about a
//! second per 15 MB of live records on the bench machine), none is refused.
//!
//! **Where the copy is made.** The daemon (`qunguan run`) has the copy made by a process of
//! its own: a hidden subcommand of the same executable (`qunguan compact-copy FROM TO`,
//! [`copy_database`]). Reading every record of a large sled database leaves the reader's heap
//! fragmented for good (a scan of a 673 MB database took a process holding only that database
//! from 10 to 41 MiB, most of it freed memory malloc could not give back; docs/storage.md,
//! "Compaction"), and in the daemon that memory came on top of everything else and stayed. So,
//! still under both locks and after the flush, the daemon closes its handle (sled's lock on
//! the files is the copier's to take), and every reader that asks for the database meanwhile
//! waits for the copy instead of failing ([`Store::trees`]); the copier copies, syncs and
//! exits, handing every byte it used back to the system; the daemon switches the pointer and
//! opens the copy. If a reader still holds the old handle after [`RETIRE_PATIENCE`], or the
//! executable is gone (replaced by an upgrade), the copy is made in this process as before.
//! A copier that fails or outlives [`COPIER_PATIENCE`] is stopped, its unfinished copy deleted
//! and the old database opened again: the compaction failed, nothing else changed. A copier
//! dies with its daemon (Linux's parent-death signal), so a daemon killed and started again
//! finds the old database's lock free and deletes the unfinished copy. Tools and
//! tests that open a store themselves copy in their own process ([`Store::compact`]).
//!
//! **Crashes.** Before the rename the old database is the database and the unfinished copy is
//! deleted by the next open; after it, the new one is, and the old files are. Every opener
//! ([`super::open_db`]) reads the pointer and tidies (only once it holds sled's lock on the
//! current database, so it never deletes a copy a running daemon is writing). A database that
//! was never compacted has sled's files directly in `storage.path`, as before this existed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::archive::io_err;
use super::{Store, StoreError, Trees};

/// The pointer file inside `storage.path`: the name of the folder holding sled's files, and
/// their size right after the compaction that wrote them.
pub(crate) const POINTER: &str = "sled-current";
/// Prefix of the folders compaction writes.
const DIR_PREFIX: &str = "sled-";
/// sled's own files and folders in its path (0.34): what a database folder holds of sled's.
const SLED_FILES: [&str; 3] = ["db", "conf", "blobs"];
/// Records copied per batch: small, because the batches are what the copy holds on top of
/// the two databases (1,000 took twice the peak memory of 100 in a scratch copy of a
/// soak's database, at the same speed).
const BATCH: usize = 100;
/// How long a compaction waits for the old handle's last reader before it leaves the old
/// files for the next open to delete (or, before a copier process, copies in this process).
const RETIRE_PATIENCE: Duration = Duration::from_secs(10);
/// The hidden subcommand of `qunguan` that makes a compaction's copy ([`copy_database`]).
pub(crate) const COPY_COMMAND: &str = "compact-copy";
/// How long a copier process may run before it is stopped and the old database reopened.
const COPIER_PATIENCE: Duration = Duration::from_secs(30 * 60);

/// What a compaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// sled's files before, in bytes (allocated blocks).
    pub before: u64,
    /// sled's files after.
    pub after: u64,
    /// Records copied, over every tree.
    pub records: u64,
    /// How long the writers waited (the copy), in milliseconds.
    pub took_ms: u64,
    /// Whether a copier process made the copy (else this process did).
    pub by_process: bool,
}

/// When compaction is due (`[storage] compact_growth`, `compact_min`).
#[derive(Clone, Copy, Debug)]
pub struct CompactPolicy {
    /// Compact when sled's files exceed this many times their size after the last
    /// compaction; 0: never.
    pub growth: u64,
    /// Never compact files smaller than this.
    pub min_bytes: u64,
}

/// Where sled's files are: the folder the pointer names, else `path` itself.
pub(crate) fn current_dir(path: &Path) -> Result<PathBuf, StoreError> {
    match read_pointer(path)? {
        None => Ok(path.to_owned()),
        Some((name, _)) => {
            let dir = path.join(&name);
            if dir.is_dir() {
                Ok(dir)
            } else {
                Err(StoreError::Io {
                    path: path.join(POINTER).display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "it names the database folder {name}, which is missing; restore a backup with `qunguan restore`"
                        ),
                    ),
                })
            }
        }
    }
}

/// The number of a compaction's folder name (`sled-<n>`), `None` for any other name.
fn copy_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(DIR_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `name` is one of sled's own files or folders in its path.
fn is_sled_file(name: &str) -> bool {
    SLED_FILES.contains(&name) || name.starts_with("snap.")
}

/// The pointer's folder name and recorded size, if there is a pointer.
fn read_pointer(path: &Path) -> Result<Option<(String, u64)>, StoreError> {
    let file = path.join(POINTER);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&file)(e)),
    };
    let mut lines = text.lines();
    let name = lines.next().unwrap_or_default().trim().to_owned();
    if copy_number(&name).is_none() {
        return Err(io_err(&file)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("its first line should name a folder sled-<number>, not {name:?}"),
        )));
    }
    let size = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    Ok(Some((name, size)))
}

/// Deletes what a compaction left behind: every `sled-<n>` folder but the current one, and,
/// once the database lives in such a folder, sled's files directly in `path`. Call it only
/// while holding sled's lock on the current database (after opening it).
pub(crate) fn tidy(path: &Path) -> Result<(), StoreError> {
    let current = read_pointer(path)?.map(|(name, _)| name);
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_copy = copy_number(name).is_some() && entry.path().is_dir();
        if is_copy && current.as_deref() != Some(name) {
            remove(&entry.path());
        }
        if name.ends_with(".tmp") && name.starts_with(POINTER) {
            remove(&entry.path());
        }
    }
    if current.is_some() {
        remove_sled_files(path);
    }
    Ok(())
}

/// sled's files directly in `dir` (a database from before its first compaction).
fn remove_sled_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_sled_file(name) {
            remove(&entry.path());
        }
    }
}

fn remove(path: &Path) {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Ok(()) => tracing::info!(path = %path.display(), "store: removed what an earlier compaction left"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "store: cannot remove what an earlier compaction left")
        }
    }
}

/// Bytes sled's files take in `dir` (allocated blocks); in a database folder from before the
/// first compaction, only sled's own files count, not the archive or the sidecar.
fn sled_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_sled_file))
        .map(|e| super::size::allocated_entry(&e))
        .sum()
}

/// Syncs a folder, so that a rename or a new entry in it is durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

impl Store {
    /// Whether [`Store::compact`] is due under `policy`: sled's files are larger than
    /// `min_bytes` and than `growth` times their size after the last compaction.
    pub fn compaction_due(&self, policy: CompactPolicy) -> Result<bool, StoreError> {
        let Some(path) = &self.inner.path else { return Ok(false) };
        if policy.growth == 0 {
            return Ok(false);
        }
        let now = sled_bytes(&current_dir(path)?);
        let base = read_pointer(path)?.map_or(0, |(_, size)| size);
        Ok(now > policy.min_bytes && now > base.saturating_mul(policy.growth))
    }

    /// Compactions done since the store was opened (`qunguan_store_compactions_total`).
    #[must_use]
    pub fn compactions(&self) -> u64 {
        self.inner.health.compactions.load(Ordering::Relaxed)
    }

    /// Copies the database into a fresh folder and continues on the copy (see the module
    /// docs), making the copy in this process. Blocking: run it off the async threads. An
    /// error leaves the old database in use, whole.
    pub fn compact(&self) -> Result<Compaction, StoreError> {
        self.compact_with(None)
    }

    /// Like [`Store::compact`]; with `copier` (the `qunguan` executable) the copy is made by
    /// a process of its own while this one has the database closed (the module docs, "Where
    /// the copy is made").
    pub fn compact_with(&self, copier: Option<&Path>) -> Result<Compaction, StoreError> {
        let Some(path) = self.inner.path.clone() else {
            return Err(StoreError::Invalid("a store without a folder cannot be compacted"));
        };
        let _op = self.begin(super::health::COMPACT_OP);
        let _archive = self.inner.archive.lock();
        let log = self.lock();
        let started = Instant::now();
        let old = self.write_gate()?;
        self.observe(old.db.flush().map_err(StoreError::from))?;
        let old_dir = current_dir(&path)?;
        let before = sled_bytes(&old_dir);
        let number = read_pointer(&path)?
            .and_then(|(name, _)| copy_number(&name))
            .unwrap_or(0)
            + 1;
        let name = format!("{DIR_PREFIX}{number}");
        let new_dir = path.join(&name);
        let old = match copier.filter(|exe| exe.is_file()) {
            Some(exe) => match self.close_for_copier(old) {
                Ok(closed) => {
                    let dirs = (old_dir.as_path(), new_dir.as_path(), name.as_str());
                    let (records, after) = self.copy_by_process(exe, &path, dirs, closed)?;
                    drop(log);
                    drop(_archive);
                    // Closed before the copy: nothing holds the old files any more.
                    remove_database(&old_dir, &path);
                    return Ok(self.compacted(before, after, records, started, true));
                }
                Err(old) => {
                    tracing::warn!("store: a reader holds the database; compacting in this process");
                    old
                }
            },
            None => old,
        };
        let (records, after) = self.copy_here(&old, &path, &new_dir, &name)?;
        drop(log);
        drop(_archive);
        retire(old, &old_dir, &path);
        Ok(self.compacted(before, after, records, started, false))
    }

    /// Counts a finished compaction and says what it did.
    fn compacted(&self, before: u64, after: u64, records: u64, started: Instant, by_process: bool) -> Compaction {
        self.inner.health.compactions.fetch_add(1, Ordering::Relaxed);
        Compaction {
            before,
            after,
            records,
            took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            by_process,
        }
    }

    /// The copy made in this process, switched to and served; `old` stays open for readers.
    fn copy_here(&self, old: &Trees, path: &Path, new_dir: &Path, name: &str) -> Result<(u64, u64), StoreError> {
        let (db, records) = match copy_into(&old.db, new_dir, self.inner.cache_bytes) {
            Ok(done) => done,
            Err(e) => {
                remove(new_dir);
                return Err(e);
            }
        };
        let after = sled_bytes(new_dir);
        if let Err(e) = switch(path, name, after) {
            // The pointer was not replaced: the old files are still the database.
            drop(db);
            remove(new_dir);
            return Err(e);
        }
        // From here on the copy is the database; nothing may write to the old handle again.
        self.serve(db)?;
        Ok((records, after))
    }

    /// Serves `db` from now on; if its trees cannot be opened, serves nothing until the
    /// recovery loop reopens the database (through the pointer).
    fn serve(&self, db: sled::Db) -> Result<(), StoreError> {
        match Trees::open(db) {
            Ok(trees) => {
                self.inner.trees.store(Some(Arc::new(trees)));
                Ok(())
            }
            Err(e) => {
                // Not seen; if it happens, no handle is served until the recovery loop
                // reopens the database.
                self.inner.trees.store(None);
                self.inner.health.bump_generation();
                let unavailable = StoreError::Unavailable(format!("the database cannot be opened: {e}"));
                self.observe(Err(unavailable))
            }
        }
    }

    /// Opens the database in `dir` and serves it (as [`Store::serve`]).
    fn serve_at(&self, dir: &Path) -> Result<(), StoreError> {
        match super::open_db_at(dir, self.inner.cache_bytes) {
            Ok(db) => self.serve(db),
            Err(e) => {
                self.inner.health.bump_generation();
                let unavailable = StoreError::Unavailable(format!("{}: {e}", dir.display()));
                self.observe(Err(unavailable))
            }
        }
    }

    /// Takes the database out of service and closes it, for a copier process to open; readers
    /// asking for it meanwhile wait ([`Store::trees`]) until the returned guard is dropped.
    /// Gives `old` back, still served, when readers keep it past [`RETIRE_PATIENCE`]. Call
    /// under the commit lock.
    ///
    /// A reader may hold a handle while it asks for another (a helper of a helper), so readers
    /// are never made to wait while one still holds the old handle: each try takes the handle
    /// out of service only for as long as it takes to count its holders, and serves it again
    /// (letting any reader that asked meanwhile go on) until it has none.
    fn close_for_copier(&self, old: Arc<Trees>) -> Result<RwLockWriteGuard<'_, ()>, Arc<Trees>> {
        let deadline = Instant::now() + RETIRE_PATIENCE;
        loop {
            let closed = self
                .inner
                .closed
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.inner.trees.store(None);
            if Arc::strong_count(&old) == 1 {
                // The last handle: sled flushes what is left and lets go of its files.
                drop(old);
                return Ok(closed);
            }
            self.inner.trees.store(Some(Arc::clone(&old)));
            drop(closed);
            if Instant::now() >= deadline {
                return Err(old);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Has the copier make the copy of the closed database at `old_dir` into `new_dir`
    /// (`name` in `path`), switches to it and serves it; on any failure deletes the copy and
    /// serves the old database again. Returns the records copied and the copy's size.
    fn copy_by_process(
        &self,
        exe: &Path,
        path: &Path,
        (old_dir, new_dir, name): (&Path, &Path, &str),
        closed: RwLockWriteGuard<'_, ()>,
    ) -> Result<(u64, u64), StoreError> {
        let cache = self.inner.cache_bytes;
        let copied = run_copier(exe, old_dir, new_dir, cache).and_then(|records| {
            let after = sled_bytes(new_dir);
            switch(path, name, after)?;
            Ok((records, after))
        });
        let served = match copied {
            // The copy is the database now, whatever happens next.
            Ok((records, after)) => self.serve_at(new_dir).map(|()| (records, after)),
            Err(e) => {
                remove(new_dir);
                if let Err(again) = self.serve_at(old_dir) {
                    tracing::error!(error = %again, "store: cannot open the database again after a failed compaction");
                }
                Err(e)
            }
        };
        drop(closed);
        served
    }
}

/// A compaction's copy, as the copier process makes it (`qunguan compact-copy FROM TO`): every
/// tree of the database in `from` into a new database in `to`, flushed and synced. Returns the
/// records copied. `from` must not be open in another process (sled's lock).
pub fn copy_database(from: &Path, to: &Path, cache_bytes: u64) -> Result<u64, StoreError> {
    let source = super::open_db_at(from, cache_bytes)?;
    let (copy, records) = copy_into(&source, to, cache_bytes)?;
    drop(copy);
    drop(source);
    Ok(records)
}

/// Runs `exe compact-copy from to` and waits for it, at most [`COPIER_PATIENCE`]; returns the
/// records it reports. Its error output becomes the error.
fn run_copier(exe: &Path, from: &Path, to: &Path, cache_bytes: u64) -> Result<u64, StoreError> {
    let failed = |what: String| StoreError::Copier(format!("{}: {what}", exe.display()));
    let child = Command::new(exe)
        .arg(COPY_COMMAND)
        .arg(from)
        .arg(to)
        .arg("--cache-bytes")
        .arg(cache_bytes.to_string())
        .arg("--parent")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    let pid = child.id();
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The receiver may have given up; then nobody needs the output.
        let _ = done.send(child.wait_with_output());
    });
    let output = match outcome.recv_timeout(COPIER_PATIENCE) {
        Ok(output) => output.map_err(|e| failed(format!("cannot wait for it: {e}")))?,
        Err(_) => {
            #[cfg(unix)]
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill only sends a signal to the copier this function started and
                // has not reaped (its waiting thread still holds it).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            #[cfg(not(unix))]
            let _ = pid;
            // Reaped by its thread once killed.
            let _ = outcome.recv_timeout(Duration::from_secs(10));
            return Err(failed(format!("stopped after {} s", COPIER_PATIENCE.as_secs())));
        }
    };
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!("{}: {}", output.status, said.trim())));
    }
    let said = String::from_utf8_lossy(&output.stdout);
    let mut words = said.split_whitespace();
    let records = match (words.next(), words.next().map(str::parse::<u64>)) {
        (Some("records"), Some(Ok(records))) => records,
        _ => return Err(failed(format!("unexpected output {:?}", said.trim()))),
    };
    if let (Some("peak_kib"), Some(Ok(kib))) = (words.next(), words.next().map(str::parse::<u64>)) {
        tracing::info!(records, peak_kib = kib, "store: the copier made the compaction's copy");
    }
    Ok(records)
}

/// Every tree of `from` into a new database at `dir`, flushed. Returns it and the records.
fn copy_into(from: &sled::Db, dir: &Path, cache_bytes: u64) -> Result<(sled::Db, u64), StoreError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    let db = super::open_db_at(dir, cache_bytes)?;
    let mut records = 0u64;
    for name in from.tree_names() {
        let source = from.open_tree(&name)?;
        let target = db.open_tree(&name)?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in source.iter() {
            let (key, value) = entry?;
            batch.insert(key, value);
            in_batch += 1;
            records += 1;
            if in_batch == BATCH {
                target.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        target.apply_batch(batch)?;
        if target.len() != source.len() {
            return Err(StoreError::Invalid(
                "a compacted tree does not hold what it was copied from",
            ));
        }
    }
    db.flush()?;
    // sled's flush syncs the data it wrote; a whole new file also needs its size and blocks
    // on disk before the pointer may name it: every file of the copy, then the folder.
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let path = entry.path();
        if path.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&path))?;
        }
    }
    sync_dir(dir)?;
    Ok((db, records))
}

/// Makes `name` the database folder: the pointer written aside, synced, renamed over the old
/// one, and the folder synced.
fn switch(path: &Path, name: &str, size: u64) -> Result<(), StoreError> {
    use std::io::Write as _;
    let tmp = path.join(format!("{POINTER}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(format!("{name}\n{size}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_err(&tmp))?;
    drop(file);
    let pointer = path.join(POINTER);
    std::fs::rename(&tmp, &pointer).map_err(io_err(&pointer))?;
    // Renamed: the copy is the database now, whatever the folder's sync says.
    if let Err(e) = sync_dir(path) {
        tracing::warn!(error = %e, "store: the database folder could not be synced after a compaction's switch");
    }
    Ok(())
}

/// Closes the old handle once its last reader lets go, then deletes its files; if a reader
/// holds it past [`RETIRE_PATIENCE`], the files are left for the next open to delete.
fn retire(old: Arc<Trees>, old_dir: &Path, path: &Path) {
    let deadline = Instant::now() + RETIRE_PATIENCE;
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if Arc::strong_count(&old) > 1 {
        tracing::warn!(folder = %old_dir.display(), "store: the database before compaction is still in use; its files are deleted at the next start");
        return;
    }
    drop(old);
    remove_database(old_dir, path);
}

/// Deletes the files of a closed database in `old_dir`: sled's files, when that is `path`
/// itself (never compacted before), else the whole `sled-<n>` folder.
fn remove_database(old_dir: &Path, path: &Path) {
    if old_dir == path {
        remove_sled_files(path);
    } else {
        remove(old_dir);
    }
}

#[cfg(test)]
mod tests;
