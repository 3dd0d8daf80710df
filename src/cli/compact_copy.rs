//! `qunguan compact-copy FROM TO` (hidden): the copier a running daemon starts for a
//! compaction ([`crate::store::compact`]), so that the copy's memory goes back to the system
//! when this process exits.

use std::path::Path;

use anyhow::{Context, bail};

pub(crate) fn compact_copy(from: &Path, to: &Path, cache_bytes: u64, parent: Option<u32>) -> anyhow::Result<()> {
    crate::runtime::memory::limit_arenas();
    // A daemon killed meanwhile takes its copier with it: the copier holds the old database's
    // lock, which the restarted daemon needs (the unfinished copy is deleted at its next open).
    #[cfg(target_os = "linux")]
    if let Some(parent) = parent {
        // SAFETY: prctl only sets the signal this process gets when its parent dies.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // SAFETY: getppid only reads this process's parent id.
        if u32::try_from(unsafe { libc::getppid() }).ok() != Some(parent) {
            bail!("the daemon that asked for this copy (pid {parent}) is gone");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    let records = crate::store::compact::copy_database(from, to, cache_bytes)
        .with_context(|| format!("cannot copy the database in {} into {}", from.display(), to.display()))?;
    match peak_kib() {
        Some(kib) => println!("records {records} peak_kib {kib}"),
        None => println!("records {records}"),
    }
    Ok(())
}

/// This process's peak resident size in KiB (`VmHWM`, Linux), for the daemon's log line.
fn peak_kib() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    value.split_whitespace().next().map(str::to_owned)
}
