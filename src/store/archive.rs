//! The audit archive: a group's older cases in append-only files, out of sled.
//!
//! sled 0.34 keeps memory for every record it holds, whatever its cache's capacity
//! (docs/performance.md, "Session 27: the audit's records"), and the audit's cases were the
//! largest part of it: one record per case, kept `[audit] retention`. Cases are written once
//! and read rarely, so only each group's newest `[audit] hot_cases` stay in the `audit` tree;
//! a background mover ([`Store::move_cases`]) appends the others to
//! `<storage.path>/archive/<yyyy-mm-dd>.jsonl` (the UTC day of the case's `at_ms`), one line
//! per case:
//!
//! ```text
//! qq\t123456\t42\t1733443200000\t{"v":1,"case":42,"group":…}
//! ```
//!
//! a prefix a scan filters on without parsing JSON (platform, group, case, `at_ms`, tabs
//! between), then the case exactly as the `audit` tree stored it. The `archive` tree indexes
//! the files: key `platform ‖ group ‖ day (yyyymmdd, u32 BE)`, value the first and last case
//! number of that group in that file (u64 BE each).
//!
//! **Crash safety.** The mover appends the lines, `fsync`s the file (and the directory when it
//! created the file), and only then, in one unit of work, removes the moved cases from
//! `audit` — each only if its value is unchanged (an undo may have edited it meanwhile) — and
//! updates the index. A crash in between leaves cases both in `audit` and in a file; readers
//! take the `audit` copy (**the hot copy wins**) and, in a file, **the last line** of a case
//! (an undo of an archived case writes the edited case back to `audit`, and the mover
//! archives it again later, after its older line). At open, a torn last line of a file (no
//! newline, or not a case) is cut off with a warning ([`repair_tails`]); a bad line
//! elsewhere is skipped by readers with a (bounded) warning and counted.
//!
//! **Retention**: the sweep deletes a whole file once its day is older than `[audit]
//! retention`, its index records first ([`Store::sweep_archive`]).

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::decode;
use super::keys::{case_key, decode_group_prefix, group_prefix};
use super::{Store, StoreError};
use crate::domain::audit::AuditEntry;
use crate::domain::event::{GroupId, Platform};

/// The archive's folder inside `storage.path`.
pub const DIR: &str = "archive";
/// A day file's name ends so.
const SUFFIX: &str = ".jsonl";
/// How many cases one unit of the mover removes from `audit` (bounds its journal record and
/// how long the unit holds the commit lock, which every event's unit waits for).
const UNIT_CASES: usize = 32;
/// Block size of the reverse line reader.
const BLOCK: usize = 64 * 1024;
/// Bad lines reported one by one in the log; after that, one warning per this many.
const WARN_FIRST: u64 = 20;
const WARN_EVERY: u64 = 1_000;

/// The archive of one store: its folder (none for a database without a folder) and the lock
/// that serialises its writers (the mover, the sweep, backups).
pub(crate) struct Archive {
    dir: Option<PathBuf>,
    lock: Mutex<()>,
    /// Cases moved since start.
    moved: AtomicU64,
    /// Bad lines readers skipped since start.
    bad_lines: AtomicU64,
}

impl Archive {
    pub(crate) fn new(path: Option<&Path>) -> Self {
        Self {
            dir: path.map(|p| p.join(DIR)),
            lock: Mutex::new(()),
            moved: AtomicU64::new(0),
            bad_lines: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bad_line(&self, file: &Path, reason: &str) {
        let n = self.bad_lines.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= WARN_FIRST || n.is_multiple_of(WARN_EVERY) {
            tracing::warn!(file = %file.display(), reason, skipped = n, "audit archive: a bad line is skipped");
        }
    }
}

/// What `/metrics` shows of the archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveGauges {
    /// Day files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Cases in the `audit` tree (the hot ones, and those not moved yet).
    pub hot_cases: u64,
    /// Cases moved to the archive since start.
    pub moved: u64,
    /// Bad lines readers skipped since start.
    pub bad_lines: u64,
}

/// The UTC day of `at_ms` as yyyymmdd.
pub(crate) fn day_of(at_ms: i64) -> u32 {
    let date = jiff::Timestamp::from_millisecond(at_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (y, m, d) = (i32::from(date.year()), i32::from(date.month()), i32::from(date.day()));
    u32::try_from(y.max(0) * 10_000 + m * 100 + d).unwrap_or(0)
}

/// The file name of day `day` (yyyymmdd): `yyyy-mm-dd.jsonl`.
pub(crate) fn file_name(day: u32) -> String {
    format!("{:04}-{:02}-{:02}{SUFFIX}", day / 10_000, day / 100 % 100, day % 100)
}

/// The day (yyyymmdd) a file name stands for.
pub(crate) fn day_of_name(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(SUFFIX)?;
    let mut parts = stem.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some(y * 10_000 + m * 100 + d)
}

/// The first millisecond after day `day` (yyyymmdd), UTC.
fn day_end_ms(day: u32) -> Option<i64> {
    let (y, m, d) = (day / 10_000, day / 100 % 100, day % 100);
    let date = jiff::civil::Date::new(i16::try_from(y).ok()?, i8::try_from(m).ok()?, i8::try_from(d).ok()?).ok()?;
    let next = date.tomorrow().ok()?;
    Some(
        next.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// The filter prefix of a group's lines: `platform \t group \t`.
fn group_filter(group: GroupId) -> String {
    format!("{}\t{}\t", group.platform.prefix(), group.id)
}

/// The longest a line's prefix gets: platform, three numbers of at most 20 characters, tabs.
const LINE_PREFIX_MAX: usize = 2 + 3 * 20 + 4 + 1;

/// A case's line: the prefix, then the stored JSON, then a newline.
#[cfg(test)]
pub(crate) fn line(group: GroupId, case: u64, at_ms: i64, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + LINE_PREFIX_MAX);
    write_line(&mut out, group, case, at_ms, json);
    out
}

/// Appends a case's line to `out`.
fn write_line(out: &mut Vec<u8>, group: GroupId, case: u64, at_ms: i64, json: &[u8]) {
    use std::io::Write as _;
    let _ = write!(out, "{}\t{}\t{case}\t{at_ms}\t", group.platform.prefix(), group.id);
    out.extend_from_slice(json);
    out.push(b'\n');
}

/// A line's prefix and JSON, or why it is not a case's line.
pub(crate) fn parse_line(line: &[u8]) -> Result<(GroupId, u64, &[u8]), &'static str> {
    let mut fields = line.splitn(5, |b| *b == b'\t');
    let mut field = || fields.next().ok_or("too few fields");
    let platform = match field()? {
        b"qq" => Platform::Qq,
        b"tg" => Platform::Telegram,
        _ => return Err("unknown platform"),
    };
    let number = |bytes: &[u8]| std::str::from_utf8(bytes).ok().and_then(|s| s.parse::<i64>().ok());
    let id = number(field()?).ok_or("bad group")?;
    let case = number(field()?)
        .and_then(|c| u64::try_from(c).ok())
        .ok_or("bad case number")?;
    number(field()?).ok_or("bad time")?;
    let json = field()?;
    Ok((GroupId { platform, id }, case, json))
}

/// A line decoded: its group, case number and case (the prefix must agree with the JSON).
fn decode_line(line: &[u8]) -> Result<AuditEntry, String> {
    let (group, case, json) = parse_line(line)?;
    let entry: AuditEntry = decode(json).map_err(|e| e.to_string())?;
    if entry.group != group || entry.case != case {
        return Err("the prefix does not match the case".into());
    }
    Ok(entry)
}

/// Reads a file's complete lines from the last to the first, a block at a time: the newest N
/// cases of a day cost a few blocks, not the day. A last line without its newline (being
/// appended, or torn) is left out.
pub(crate) struct ReverseLines {
    file: File,
    /// Bytes before `pending` not read yet.
    pos: u64,
    /// Read but not yet returned: the end of the unread part, the newline after it left out.
    pending: Vec<u8>,
    /// Whether the first line of the file is still to be returned.
    first_left: bool,
}

impl ReverseLines {
    /// Opens `path`; `None` when it does not exist.
    pub(crate) fn open(path: &Path) -> std::io::Result<Option<Self>> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let complete = complete_len(&mut file, len)?;
        // The last newline is the end of the last line, not a separator.
        Ok(Some(Self {
            file,
            pos: complete.saturating_sub(1),
            pending: Vec::new(),
            first_left: complete > 0,
        }))
    }

    /// The previous line (without its newline), or `None` at the file's start.
    pub(crate) fn prev(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(at) = self.pending.iter().rposition(|b| *b == b'\n') {
                let line = self.pending.split_off(at + 1);
                self.pending.pop();
                return Ok(Some(line));
            }
            if self.pos == 0 {
                if !std::mem::take(&mut self.first_left) {
                    return Ok(None);
                }
                return Ok(Some(std::mem::take(&mut self.pending)));
            }
            let take = self.pos.min(BLOCK as u64);
            self.pos -= take;
            let mut block = vec![0; usize::try_from(take).unwrap_or(BLOCK)];
            self.file.seek(SeekFrom::Start(self.pos))?;
            self.file.read_exact(&mut block)?;
            block.extend_from_slice(&self.pending);
            self.pending = block;
        }
    }
}

/// The length of `file` up to and including its last newline.
fn complete_len(file: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut block = vec![0; BLOCK];
    while end > 0 {
        let take = end.min(BLOCK as u64);
        let start = end - take;
        let block = &mut block[..usize::try_from(take).unwrap_or(BLOCK)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(block)?;
        if let Some(at) = block.iter().rposition(|b| *b == b'\n') {
            return Ok(start + at as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Reads a file's complete lines from the first to the last (a last line without its newline
/// left out); `visit` returns false to stop.
fn forward_lines(path: &Path, mut visit: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(BLOCK, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(());
        }
        line.pop();
        if !visit(&line) {
            return Ok(());
        }
    }
}

/// The day files of `dir`, oldest first: (day, path).
pub(crate) fn day_files(dir: &Path) -> std::io::Result<Vec<(u32, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(day) = entry.file_name().to_str().and_then(day_of_name) {
            out.push((day, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// At open: cuts a torn last line off every day file (no newline at its end, or a last line
/// that is not a case), with a warning naming the file. Returns how many files were cut.
pub(crate) fn repair_tails(dir: &Path) -> Result<usize, StoreError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StoreError::Io { path, source }
    };
    let mut repaired = 0;
    for (_, path) in day_files(dir).map_err(io(dir))? {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        let mut keep = complete_len(&mut file, len).map_err(io(&path))?;
        // The last complete line must be a case too (a crash may tear the log's last page
        // in the middle of a line that then ends with a later line's newline).
        if keep > 0 {
            let mut lines = ReverseLines::open(&path)
                .map_err(io(&path))?
                .ok_or_else(|| StoreError::Io {
                    path: path.display().to_string(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
            if let Some(last) = lines.prev().map_err(io(&path))?
                && decode_line(&last).is_err()
            {
                keep -= last.len() as u64 + 1;
            }
        }
        if keep < len {
            tracing::warn!(
                file = %path.display(),
                cut_bytes = len - keep,
                "audit archive: a torn last line is cut off (a crash while the mover appended)"
            );
            file.set_len(keep).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
            repaired += 1;
        }
    }
    Ok(repaired)
}

/// Appends `lines` to day file `path`, durably: the file synced, and the folder too when the
/// file is new. A failure part-way cuts the file back to its length before.
fn append(dir: &Path, path: &Path, lines: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let created = !path.exists();
    let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    let before = file.metadata().map_err(io)?.len();
    if let Err(e) = file.write_all(lines).and_then(|()| file.sync_data()) {
        // No partial line may stay in front of later ones.
        let _ = file.set_len(before);
        return Err(io(e));
    }
    if created {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// The `archive` tree's key: `platform ‖ group ‖ day`.
fn index_key(group: GroupId, day: u32) -> [u8; 13] {
    let mut k = [0; 13];
    k[..9].copy_from_slice(&group_prefix(group));
    k[9..].copy_from_slice(&day.to_be_bytes());
    k
}

/// The `archive` tree's value: first and last case.
fn index_value(first: u64, last: u64) -> [u8; 16] {
    let mut v = [0; 16];
    v[..8].copy_from_slice(&first.to_be_bytes());
    v[8..].copy_from_slice(&last.to_be_bytes());
    v
}

fn decode_index(key: &[u8], value: &[u8]) -> Option<(GroupId, u32, u64, u64)> {
    let group = decode_group_prefix(key.get(..9)?)?;
    let day = u32::from_be_bytes(key.get(9..13)?.try_into().ok()?);
    let first = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let last = u64::from_be_bytes(value.get(8..16)?.try_into().ok()?);
    Some((group, day, first, last))
}

/// A case read from `audit` for the mover.
struct Moving {
    key: sled::IVec,
    value: sled::IVec,
    group: GroupId,
    case: u64,
    at_ms: i64,
    day: u32,
}

impl Store {
    /// The archive's folder (none for a database without a folder).
    pub(crate) fn archive_dir(&self) -> Option<&Path> {
        self.inner.archive.dir.as_deref()
    }

    /// Moves every group's cases beyond its newest `hot` to the archive (at most `max` in
    /// this call); returns how many were moved. See the module docs for the order of steps.
    pub fn move_cases(&self, hot: usize, max: usize) -> Result<usize, StoreError> {
        let Some(dir) = self.archive_dir().map(Path::to_owned) else {
            return Ok(0);
        };
        let _archive = self.inner.archive.lock();
        let trees = self.trees()?;
        // The groups with cases to move first, so that a paced mover (`super::pace`) pauses
        // between groups with no iterator open.
        let mut due = Vec::new();
        for record in trees.groups.iter() {
            let (key, value) = record?;
            let Some(group) = decode_group_prefix(&key) else {
                continue;
            };
            let last_case = decode::<super::GroupRecord>(&value)?.last_case;
            if let Some(upto) = last_case.checked_sub(hot as u64) {
                due.push((group, upto));
            }
        }
        let mut moving = Vec::new();
        'groups: for (group, upto) in due {
            super::pace::breathe();
            for entry in trees.audit.range(case_key(group, 0)..=case_key(group, upto)) {
                let (key, value) = entry?;
                let Ok(case) = decode::<AuditEntry>(&value) else {
                    // Not ours to judge: left where it is, and the integrity of the tree is
                    // the start-up check's business.
                    continue;
                };
                moving.push(Moving {
                    key,
                    value,
                    group,
                    case: case.case,
                    at_ms: case.at_ms,
                    day: day_of(case.at_ms),
                });
                if moving.len() >= max {
                    break 'groups;
                }
            }
        }
        drop(trees);
        if moving.is_empty() {
            return Ok(0);
        }
        // 1. The lines, durably (each day's buffer allocated once, at its size).
        let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
        for m in &moving {
            *sizes.entry(m.day).or_default() += m.value.len() + LINE_PREFIX_MAX;
        }
        let mut by_day: BTreeMap<u32, Vec<u8>> = sizes
            .into_iter()
            .map(|(day, size)| (day, Vec::with_capacity(size)))
            .collect();
        for m in &moving {
            if let Some(buffer) = by_day.get_mut(&m.day) {
                write_line(buffer, m.group, m.case, m.at_ms, &m.value);
            }
        }
        for (day, lines) in &by_day {
            append(&dir, &dir.join(file_name(*day)), lines)?;
        }
        // 2. Out of `audit` (each only if unchanged), into the index; a unit per chunk, and a
        // paced mover's pause between units (outside the commit lock).
        let mut moved = 0;
        for chunk in moving.chunks(UNIT_CASES) {
            super::pace::breathe();
            moved += self.archive_unit(|audit, index| {
                let mut removed = 0;
                let mut ranges: BTreeMap<[u8; 13], (u64, u64)> = BTreeMap::new();
                for m in chunk {
                    let range = ranges.entry(index_key(m.group, m.day)).or_insert((m.case, m.case));
                    range.0 = range.0.min(m.case);
                    range.1 = range.1.max(m.case);
                    if audit.get(&m.key)?.as_ref() == Some(&m.value) {
                        audit.remove(&m.key)?;
                        removed += 1;
                    }
                }
                for (key, (first, last)) in ranges {
                    let (first, last) = match index.get(key)? {
                        Some(old) => match decode_index(&key, &old) {
                            Some((_, _, f, l)) => (f.min(first), l.max(last)),
                            None => (first, last),
                        },
                        None => (first, last),
                    };
                    index.insert(&key, &index_value(first, last)[..])?;
                }
                Ok::<_, super::unit::Abort>(removed)
            })?;
        }
        self.inner.archive.moved.fetch_add(moved as u64, Ordering::Relaxed);
        Ok(moved)
    }

    /// An archived case, by the index: the last line of it in the files that may hold it.
    pub(crate) fn archived_case(&self, group: GroupId, case: u64) -> Result<Option<AuditEntry>, StoreError> {
        let Some(dir) = self.archive_dir() else {
            return Ok(None);
        };
        let trees = self.trees()?;
        let mut days = Vec::new();
        for entry in trees.archive.scan_prefix(group_prefix(group)) {
            let (key, value) = entry?;
            if let Some((_, day, first, last)) = decode_index(&key, &value)
                && (first..=last).contains(&case)
            {
                days.push(day);
            }
        }
        let wanted = format!("{}{case}\t", group_filter(group));
        for day in days.into_iter().rev() {
            let path = dir.join(file_name(day));
            let Some(mut lines) = ReverseLines::open(&path).map_err(io_err(&path))? else {
                continue;
            };
            while let Some(line) = lines.prev().map_err(io_err(&path))? {
                if line.starts_with(wanted.as_bytes()) {
                    match decode_line(&line) {
                        Ok(entry) => return Ok(Some(entry)),
                        Err(reason) => self.inner.archive.bad_line(&path, &reason),
                    }
                }
            }
        }
        Ok(None)
    }

    /// The days with archived cases of `group` (from the index), or of every group (from the
    /// folder), oldest first.
    fn archive_days(&self, group: Option<GroupId>) -> Result<Vec<(u32, PathBuf)>, StoreError> {
        let Some(dir) = self.archive_dir() else {
            return Ok(Vec::new());
        };
        match group {
            None => day_files(dir).map_err(io_err(dir)),
            Some(group) => {
                let mut days = Vec::new();
                for entry in self.trees()?.archive.scan_prefix(group_prefix(group)) {
                    let (key, value) = entry?;
                    if let Some((_, day, ..)) = decode_index(&key, &value) {
                        days.push((day, dir.join(file_name(day))));
                    }
                }
                Ok(days)
            }
        }
    }

    /// The keys of the cases in `audit` (of `group`, or all): an archived line of one of them
    /// is an older copy (the hot copy wins).
    fn hot_keys(&self, group: Option<GroupId>) -> Result<HashSet<(GroupId, u64)>, StoreError> {
        let trees = self.trees()?;
        let iter = match group {
            Some(g) => trees.audit.scan_prefix(group_prefix(g)),
            None => trees.audit.iter(),
        };
        let mut out = HashSet::new();
        for entry in iter.keys() {
            let key = entry?;
            if let (Some(group), Some(case)) = (
                decode_group_prefix(&key),
                key.get(9..17).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            ) {
                out.insert((group, u64::from_be_bytes(case)));
            }
        }
        Ok(out)
    }

    /// Visits the archived cases of `group` (or of every group), newest day first and in a
    /// day from the last line to the first, each case once (its last line) and none that is
    /// also in `audit`. `visit` gets the case and returns false to stop after the current
    /// day's file (at a day's end, so that a day's cases are all seen or none). `since_day`
    /// (yyyymmdd): days before it are not read.
    pub(crate) fn archived_rev(
        &self,
        group: Option<GroupId>,
        since_day: Option<u32>,
        visit: &mut dyn FnMut(AuditEntry) -> bool,
    ) -> Result<(), StoreError> {
        let days = self.archive_days(group)?;
        if days.is_empty() {
            return Ok(());
        }
        let hot = self.hot_keys(group)?;
        let filter = group.map(group_filter);
        for (day, path) in days.into_iter().rev() {
            if since_day.is_some_and(|since| day < since) {
                break;
            }
            let Some(mut lines) = ReverseLines::open(&path).map_err(io_err(&path))? else {
                continue;
            };
            let mut seen = HashSet::new();
            let mut go_on = true;
            while let Some(line) = lines.prev().map_err(io_err(&path))? {
                if filter.as_ref().is_some_and(|f| !line.starts_with(f.as_bytes())) {
                    continue;
                }
                let entry = match decode_line(&line) {
                    Ok(entry) => entry,
                    Err(reason) => {
                        self.inner.archive.bad_line(&path, &reason);
                        continue;
                    }
                };
                let id = (entry.group, entry.case);
                if hot.contains(&id) || !seen.insert(id) {
                    continue;
                }
                go_on &= visit(entry);
            }
            if !go_on {
                break;
            }
        }
        Ok(())
    }

    /// Every archived case of `group` (or of every group), each once, none also in `audit`,
    /// in no particular order.
    pub(crate) fn archived_all(&self, group: Option<GroupId>) -> Result<Vec<AuditEntry>, StoreError> {
        let days = self.archive_days(group)?;
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let hot = self.hot_keys(group)?;
        let filter = group.map(group_filter);
        let mut out = Vec::new();
        for (_, path) in days {
            // Last line wins: later lines replace earlier ones of the same case.
            let mut day: BTreeMap<(GroupId, u64), AuditEntry> = BTreeMap::new();
            forward_lines(&path, |line| {
                if filter.as_ref().is_some_and(|f| !line.starts_with(f.as_bytes())) {
                    return true;
                }
                match decode_line(line) {
                    Ok(entry) if !hot.contains(&(entry.group, entry.case)) => {
                        day.insert((entry.group, entry.case), entry);
                    }
                    Ok(_) => {}
                    Err(reason) => self.inner.archive.bad_line(&path, &reason),
                }
                true
            })
            .map_err(io_err(&path))?;
            out.extend(day.into_values());
        }
        Ok(out)
    }

    /// Deletes the day files whose day ended before `cutoff_ms` (their index records first,
    /// so the index never names a missing file); returns how many files.
    pub(crate) fn sweep_archive(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let Some(dir) = self.archive_dir().map(Path::to_owned) else {
            return Ok(0);
        };
        let _archive = self.inner.archive.lock();
        let expired: Vec<(u32, PathBuf)> = day_files(&dir)
            .map_err(io_err(&dir))?
            .into_iter()
            .filter(|(day, _)| day_end_ms(*day).is_some_and(|end| end <= cutoff_ms))
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let days: HashSet<u32> = expired.iter().map(|(d, _)| *d).collect();
        let trees = self.trees()?;
        for entry in trees.archive.iter() {
            let (key, value) = entry?;
            if decode_index(&key, &value).is_some_and(|(_, day, ..)| days.contains(&day)) {
                trees.archive.remove(&key)?;
            }
        }
        trees.db.flush()?;
        for (_, path) in &expired {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        Ok(expired.len())
    }

    /// The archive's gauges for `/metrics`.
    pub fn archive_gauges(&self) -> Result<ArchiveGauges, StoreError> {
        let mut gauges = ArchiveGauges {
            hot_cases: self.trees()?.audit.len() as u64,
            moved: self.inner.archive.moved.load(Ordering::Relaxed),
            bad_lines: self.inner.archive.bad_lines.load(Ordering::Relaxed),
            ..ArchiveGauges::default()
        };
        if let Some(dir) = self.archive_dir() {
            for (_, path) in day_files(dir).map_err(io_err(dir))? {
                gauges.files += 1;
                gauges.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
            }
        }
        Ok(gauges)
    }
}

/// One day file's cases for a backup: `(audit key, stored value)`, in key order.
pub(crate) type DayCases = Vec<(Vec<u8>, Vec<u8>)>;

/// Every archived case in `dir`, for a backup, as `(audit key, stored value)`: each case once
/// (its last line), none in `skip` (the cases the backup has from `audit`); `each` gets them
/// a day at a time. A running store's caller holds the archive's lock.
pub(crate) fn archived_lines(
    dir: &Path,
    skip: &HashSet<Vec<u8>>,
    each: &mut dyn FnMut(DayCases) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for (_, path) in day_files(dir).map_err(io_err(dir))? {
        let mut day: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        forward_lines(&path, |line| {
            if let Ok((group, case, json)) = parse_line(line) {
                let key = case_key(group, case).to_vec();
                if !skip.contains(&key) && decode::<AuditEntry>(json).is_ok() {
                    day.insert(key, json.to_vec());
                }
            }
            true
        })
        .map_err(io_err(&path))?;
        each(day.into_iter().collect())?;
    }
    Ok(())
}

/// The start-up check of the archive: every file the index names exists. Returns the
/// problems.
pub(crate) fn check(db: &sled::Db, path: &Path) -> Result<Vec<String>, StoreError> {
    if !db.tree_names().iter().any(|n| n.as_ref() == b"archive") {
        return Ok(Vec::new());
    }
    let dir = path.join(DIR);
    let mut missing = std::collections::BTreeSet::new();
    for entry in db.open_tree("archive")?.iter() {
        let (key, value) = entry?;
        match decode_index(&key, &value) {
            Some((_, day, ..)) => {
                if !dir.join(file_name(day)).exists() {
                    missing.insert(file_name(day));
                }
            }
            None => {
                return Ok(vec![format!(
                    "the archive's index holds a record that is not one ({} bytes of key)",
                    key.len()
                )]);
            }
        }
    }
    Ok(if missing.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "audit archive file(s) missing from {}: {}",
            dir.display(),
            missing.into_iter().collect::<Vec<_>>().join(", ")
        )]
    })
}

pub(super) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}
