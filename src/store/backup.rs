//! Backups: every tree as JSON lines, and restoring them.
//!
//! ```text
//! {"format":"qunguan-backup","version":1,"schema":2,"created_ms":1732171530000}
//! {"tree":"meta","key":"736368656d61","hex":"00000002"}
//! {"tree":"strikes","key":"01800000002b4a5b50…","value":{"v":1,"strikes":[…]}}
//! …
//! {"end":true,"entries":1234}
//! ```
//!
//! Keys are hex. Values of the JSON trees are embedded verbatim (readable, greppable, and
//! byte-exact on restore); other values are hex. The closing line holds the entry count, so a
//! truncated file is refused instead of restored in part.
//!
//! A backup of a running daemon copies every tree under the commit lock, so it is one
//! consistent point in time: an event's strike, case, seen-key and actions are all in it or
//! all not.
//!
//! The audit archive's cases (the `archive` module) are written as `audit` entries too (after
//! the trees, a day file at a time; the archive's writers wait meanwhile, so it is the same
//! point in time), and its index (the `archive` tree) is left out: a restore puts every case
//! into `audit`, and the daemon's mover moves the older ones out to files again. sled's own `export` is not used: it panics on I/O errors and is not a consistent
//! snapshot across trees.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{MOVED_TREES, RETIRED_TREES, SCHEMA_VERSION, Store, StoreError, TREES, open_db};
use crate::config::StorageSettings;

/// Identifies the file format in the header line.
pub const FORMAT: &str = "qunguan-backup";
/// Version of the file format (not of the database schema).
pub const FORMAT_VERSION: u32 = 1;

/// Trees whose values are JSON and are embedded as such.
const JSON_TREES: &[&str] = &[
    "strikes",
    "outbox",
    "dead",
    "audit",
    "groups",
    "posts",
    "schedules",
    "welcome",
    "members",
    "stats",
    "samples",
    "review",
    "engagement",
    "bans",
];

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    schema: u32,
    created_ms: i64,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    tree: &'a str,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    tree: String,
    key: String,
    value: Option<Box<RawValue>>,
    hex: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Footer {
    end: bool,
    entries: u64,
}

/// How many entries of each tree a backup or restore moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    /// Entries per tree.
    pub trees: BTreeMap<String, u64>,
    /// The schema version of the data.
    pub schema: u32,
    /// Of the `audit` entries, how many came from the audit archive's files.
    pub archived: u64,
}

impl BackupReport {
    /// Entries over all trees.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.trees.values().sum()
    }
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} entries (schema {})", self.total(), self.schema)?;
        let parts: Vec<String> = self
            .trees
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        if !parts.is_empty() {
            write!(f, ": {}", parts.join(", "))?;
        }
        if self.archived > 0 {
            write!(f, " (audit: {} from the archive's files)", self.archived)?;
        }
        Ok(())
    }
}

type Entries = Vec<(&'static str, sled::IVec, sled::IVec)>;

impl Store {
    /// Writes a backup of every tree to `out`, as of one consistent point. Commits wait only
    /// while the trees are copied in memory, not while the copy is written. The batched trust
    /// counts are written first, so the backup holds them.
    pub fn backup(&self, out: &mut dyn Write, now: Timestamp) -> Result<BackupReport, StoreError> {
        // The archive's writers (mover, sweep) wait until its files are copied too.
        let _archive = self.inner.archive.lock();
        let entries = {
            let _log = self.lock();
            self.write_pending_trust_locked()?;
            snapshot(&self.trees()?.db)?
        };
        write_backup(out, &entries, now, self.archive_dir())
    }

    /// Writes a backup to `path` atomically: a temporary file beside it, synced, then renamed.
    pub fn backup_to_file(&self, path: &Path, now: Timestamp) -> Result<BackupReport, StoreError> {
        write_file_atomically(path, |out| self.backup(out, now))
    }
}

/// Backs up a raw database (before migrating it) to `path`.
pub(super) fn backup_db_to_file(
    db: &sled::Db,
    path: &Path,
    now: Timestamp,
    archive: Option<&Path>,
) -> Result<BackupReport, StoreError> {
    let entries = snapshot(db)?;
    write_file_atomically(path, |out| write_backup(out, &entries, now, archive))
}

/// Writes to `path` through a temporary file that is synced and renamed into place, so a
/// crash never leaves a half-written backup under the final name.
pub fn write_file_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let io = |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    let value = write(&mut out)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(value)
}

fn snapshot(db: &sled::Db) -> Result<Entries, StoreError> {
    let mut entries = Vec::new();
    // A retired tree only while the database still has it: the backup taken before the
    // migration that drops it is then whole for a build of the older schema.
    let names = db.tree_names();
    let retired = RETIRED_TREES
        .iter()
        .filter(|name| names.iter().any(|n| n.as_ref() == name.as_bytes()));
    for name in TREES.iter().chain(retired) {
        // The archive's index names files of this database; its cases are carried as `audit`
        // entries instead (see the module docs).
        if *name == "archive" {
            continue;
        }
        for entry in db.open_tree(name)?.iter() {
            let (key, value) = entry?;
            // One database's own bookkeeping (integrity records) is not data to carry over.
            if *name == "meta" && super::integrity::VOLATILE_META.contains(&key.as_ref()) {
                continue;
            }
            entries.push((*name, key, value));
        }
    }
    Ok(entries)
}

fn schema_of(entries: &Entries) -> u32 {
    entries
        .iter()
        .find(|(tree, key, _)| *tree == "meta" && key.as_ref() == b"schema")
        .and_then(|(_, _, v)| <[u8; 4]>::try_from(v.as_ref()).ok())
        .map_or(SCHEMA_VERSION, u32::from_be_bytes)
}

fn write_backup(
    out: &mut dyn Write,
    entries: &Entries,
    now: Timestamp,
    archive: Option<&Path>,
) -> Result<BackupReport, StoreError> {
    let io = |source| StoreError::Io {
        path: "backup output".into(),
        source,
    };
    let mut report = BackupReport {
        schema: schema_of(entries),
        ..BackupReport::default()
    };
    let header = Header {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        schema: report.schema,
        created_ms: now.as_millisecond(),
    };
    write_line(out, &header).map_err(io)?;
    for (tree, key, value) in entries {
        let raw = if JSON_TREES.contains(tree) {
            std::str::from_utf8(value)
                .ok()
                .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
                // Embed only when the JSON text is exactly the stored bytes.
                .filter(|raw| raw.get().as_bytes() == value.as_ref())
        } else {
            None
        };
        let line = EntryOut {
            tree,
            key: hex::encode(key),
            hex: raw.is_none().then(|| hex::encode(value)),
            value: raw,
        };
        write_line(out, &line).map_err(io)?;
        *report.trees.entry((*tree).to_owned()).or_default() += 1;
    }
    if let Some(dir) = archive {
        let hot: std::collections::HashSet<Vec<u8>> = entries
            .iter()
            .filter(|(tree, ..)| *tree == "audit")
            .map(|(_, key, _)| key.to_vec())
            .collect();
        super::archive::archived_lines(dir, &hot, &mut |cases| {
            for (key, value) in cases {
                let raw = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
                let line = EntryOut {
                    tree: "audit",
                    key: hex::encode(&key),
                    hex: raw.is_none().then(|| hex::encode(&value)),
                    value: raw,
                };
                write_line(out, &line).map_err(io)?;
                *report.trees.entry("audit".to_owned()).or_default() += 1;
                report.archived += 1;
            }
            Ok(())
        })?;
    }
    let footer = Footer {
        end: true,
        entries: report.total(),
    };
    write_line(out, &footer).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(report)
}

fn write_line<T: Serialize>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A parsed, validated backup.
struct Parsed {
    schema: u32,
    entries: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
}

impl Parsed {
    fn report(&self) -> BackupReport {
        let mut report = BackupReport {
            schema: self.schema,
            ..BackupReport::default()
        };
        for (tree, _, _) in &self.entries {
            *report.trees.entry((*tree).to_owned()).or_default() += 1;
        }
        report
    }
}

fn parse(input: &mut dyn BufRead) -> Result<Parsed, StoreError> {
    let bad = |line: usize, reason: String| StoreError::Backup { line, reason };
    let mut lines = input.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, first) = lines
        .next()
        .ok_or_else(|| bad(1, "the file is empty; expected a qunguan backup".into()))?;
    let first = first.map_err(|e| bad(1, e.to_string()))?;
    let header: Header = serde_json::from_str(&first).map_err(|e| {
        bad(
            1,
            format!("not a qunguan backup header ({e}); was this file made by `qunguan backup`?"),
        )
    })?;
    if header.format != FORMAT {
        return Err(bad(1, format!("format {:?} is not {FORMAT:?}", header.format)));
    }
    if header.version > FORMAT_VERSION {
        return Err(bad(
            1,
            format!(
                "backup format {} is newer than this build's {FORMAT_VERSION}; upgrade qunguan",
                header.version
            ),
        ));
    }
    if header.schema > SCHEMA_VERSION {
        return Err(bad(
            1,
            format!(
                "the backup holds schema {}, newer than this build's {SCHEMA_VERSION}; upgrade qunguan",
                header.schema
            ),
        ));
    }
    let mut entries = Vec::new();
    // Entry lines read, those of retired trees included (the closing line counts them all).
    let mut read = 0u64;
    let mut footer = None;
    let mut last_line = 1;
    for (n, line) in lines {
        last_line = n;
        let line = line.map_err(|e| bad(n, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        if footer.is_some() {
            return Err(bad(n, "content after the closing line".into()));
        }
        if line.starts_with("{\"end\"") {
            let f: Footer = serde_json::from_str(&line).map_err(|e| bad(n, e.to_string()))?;
            footer = Some((n, f));
            continue;
        }
        let entry: EntryIn = serde_json::from_str(&line).map_err(|e| bad(n, e.to_string()))?;
        read += 1;
        if RETIRED_TREES.contains(&entry.tree.as_str()) && !MOVED_TREES.contains(&entry.tree.as_str()) {
            // A tree an older schema had and a migration drops (`seen_expiry`): nothing to
            // restore; the restored database migrates like any older one.
            continue;
        }
        // A tree whose entries a migration moves (`trust`) is restored as it was, and the
        // restored database's migration moves them.
        let tree = TREES
            .iter()
            .chain(MOVED_TREES)
            .find(|t| **t == entry.tree)
            .ok_or_else(|| bad(n, format!("unknown tree {:?}", entry.tree)))?;
        let key = hex::decode(&entry.key).map_err(|e| bad(n, format!("key: {e}")))?;
        let value = match (entry.value, entry.hex) {
            (Some(raw), None) => raw.get().as_bytes().to_vec(),
            (None, Some(h)) => hex::decode(h).map_err(|e| bad(n, format!("hex: {e}")))?,
            _ => return Err(bad(n, "needs exactly one of \"value\" and \"hex\"".into())),
        };
        entries.push((*tree, key, value));
    }
    let Some((n, footer)) = footer else {
        return Err(bad(
            last_line + 1,
            "the closing line is missing: the file is truncated or not a complete backup".into(),
        ));
    };
    if !footer.end || footer.entries != read {
        return Err(bad(
            n,
            format!(
                "the closing line counts {} entries but the file holds {read}: the file is damaged",
                footer.entries,
            ),
        ));
    }
    Ok(Parsed {
        schema: header.schema,
        entries,
    })
}

/// Checks a backup without restoring it: the header, every line, and the closing count.
pub fn verify(input: &mut dyn BufRead) -> Result<BackupReport, StoreError> {
    Ok(parse(input)?.report())
}

/// Restores the backup read from `input` into the database at `settings.path`, which must be
/// empty unless `force` (then its contents are replaced). The whole file is validated before
/// anything is written. The database is then opened once, which migrates an older schema.
pub fn restore(settings: &StorageSettings, input: &mut dyn BufRead, force: bool) -> Result<BackupReport, StoreError> {
    let parsed = parse(input)?;
    {
        let db = open_db(&settings.path, settings.cache_bytes())?;
        let trees: Vec<sled::Tree> = TREES.iter().map(|t| db.open_tree(t)).collect::<Result<_, _>>()?;
        let archive = settings.path.join(super::archive::DIR);
        let archived = super::archive::day_files(&archive).map_err(|source| StoreError::Io {
            path: archive.display().to_string(),
            source,
        })?;
        if trees.iter().any(|t| !t.is_empty()) || !archived.is_empty() {
            if !force {
                return Err(StoreError::NotEmpty(settings.path.display().to_string()));
            }
            for tree in &trees {
                tree.clear()?;
            }
            // The archive's cases are the backup's `audit` entries now.
            for (_, file) in &archived {
                std::fs::remove_file(file).map_err(|source| StoreError::Io {
                    path: file.display().to_string(),
                    source,
                })?;
            }
        }
        // What an older schema's retired trees still hold is replaced too (a moved tree is
        // written again below from the backup, when it is of that older schema).
        for name in RETIRED_TREES {
            if db.tree_names().iter().any(|n| n.as_ref() == name.as_bytes()) {
                if !force && !db.open_tree(name)?.is_empty() {
                    return Err(StoreError::NotEmpty(settings.path.display().to_string()));
                }
                db.drop_tree(name)?;
            }
        }
        let mut batches: BTreeMap<&str, sled::Batch> = BTreeMap::new();
        for (tree, key, value) in &parsed.entries {
            batches
                .entry(tree)
                .or_default()
                .insert(key.as_slice(), value.as_slice());
        }
        for (name, tree) in TREES.iter().zip(&trees) {
            if let Some(batch) = batches.remove(name) {
                tree.apply_batch(batch)?;
            }
        }
        // A moved tree of an older backup (only those have its entries).
        for (name, batch) in batches {
            db.open_tree(name)?.apply_batch(batch)?;
        }
        let meta = &trees[0];
        if meta.get(b"schema")?.is_none() {
            meta.insert(b"schema", &parsed.schema.to_be_bytes())?;
        }
        db.flush()?;
    }
    let report = parsed.report();
    // Opening runs any migration the restored schema needs, and proves the result opens; the
    // clean record makes the restored state what the next start checks against.
    let store = Store::open(settings)?;
    store.close_clean()?;
    Ok(report)
}
