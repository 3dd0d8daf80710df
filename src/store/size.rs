//! How much disk the database takes, for `qunguan_store_size_bytes`.
//!
//! The store's size is bounded by what it keeps, not by how many events it saw: every tree
//! is either bounded by the groups and members it describes or swept by age (see
//! `docs/storage.md`). sled writes a log and cleans it in the background, so the files
//! are larger than the live data; this measures the files, as `du` would.

use std::path::Path;

use super::{Store, StoreError};

impl Store {
    /// Bytes the database folder takes on disk (allocated blocks, as `du` counts them),
    /// migration backups under `backups/` left out; without a folder (never in the daemon),
    /// sled's own count.
    pub fn disk_usage(&self) -> Result<u64, StoreError> {
        match &self.inner.path {
            Some(path) => Ok(allocated(path, true)),
            None => Ok(self.trees()?.db.size_on_disk()?),
        }
    }
}

/// Bytes one folder entry takes on disk (a folder with everything in it).
pub(super) fn allocated_entry(entry: &std::fs::DirEntry) -> u64 {
    match entry.metadata() {
        Ok(meta) if meta.is_dir() => allocated(&entry.path(), false),
        Ok(meta) => blocks(&meta),
        Err(_) => 0,
    }
}

fn allocated(dir: &Path, top: bool) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if !(top && entry.file_name() == "backups") {
                total += allocated(&entry.path(), false);
            }
        } else {
            total += blocks(&meta);
        }
    }
    total
}

#[cfg(unix)]
fn blocks(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks().saturating_mul(512)
}

#[cfg(not(unix))]
fn blocks(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}
