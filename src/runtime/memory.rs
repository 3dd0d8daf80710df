//! The allocator, and its share of the daemon's memory.
//!
//! **Which allocator.** By default the daemon uses the C library's malloc, tuned below. Two
//! others can be built in for measurement or for a deployment that prefers CPU to memory:
//! `--features mimalloc` ([mimalloc] 3) and `--features jemalloc` (jemalloc 5.3 with
//! `JEMALLOC_CONF`; its build needs `make` as well as a C compiler). Both took less CPU
//! per event on the OneBot harness (malloc and free are about 17 % of the daemon's CPU with
//! glibc) but held far more memory, so neither is the default (figures in docs/storage.md,
//! "Measured"; measured again in session 31, docs/performance.md "Session 31: malloc's
//! share": 8–25 % less CPU per event, 66–73 MiB with jemalloc and one arena and 170–260 MiB
//! with mimalloc through the 1M soak, where glibc stays under 55; jemalloc without its thread
//! caches and with dirty pages purged at once holds what glibc holds but costs 15–26 % more
//! CPU than glibc). mimalloc reads its options from `MIMALLOC_*` variables at start, jemalloc
//! from `_RJEM_MALLOC_CONF` (on top of `JEMALLOC_CONF`).
//!
//! **glibc's malloc** (the default). glibc gives threads that contend
//! for it arenas of their own, up to eight per core, and memory freed into one arena is not
//! reused by another. The daemon's threads (the async workers, the blocking pool that
//! flushes the database, sled's writer threads) each allocate and free in bursts, so with the
//! default the resident size grew with the number of arenas touched rather than with what
//! was live: in the soak bench (`benches/soak.rs`) the same build reached 128 MiB after
//! 200,000 events with the default and 76 MiB with a single arena, at the same throughput.
//! Small allocations still go through each thread's cache without the arena's lock, so one
//! arena costs little.
//!
//! [`limit_arenas`] runs before the async runtime starts any thread; `MALLOC_ARENA_MAX` in
//! the environment still wins, for anyone who wants to measure otherwise. Other platforms
//! and C libraries are left alone.
//!
//! It also fixes malloc's mmap threshold at [`MMAP_THRESHOLD`] and its trim threshold at
//! [`TRIM_THRESHOLD`]. By default glibc raises the mmap threshold to the size of every large
//! block freed, so after the first of sled's 512 KiB write buffers is freed all later ones
//! come from the heap, between small long-lived allocations that keep the heap from
//! shrinking. With the threshold fixed they are mapped and unmapped whole. In the soak bench
//! (`benches/soak.rs`, 150,000 events, set through `MALLOC_MMAP_THRESHOLD_=131072
//! MALLOC_TRIM_THRESHOLD_=1048576`, which glibc reads into the same parameters) the resident
//! size after 100k / 150k events was 68.3 / 70.7 MiB against 86.1 / 83.5 MiB without.
//! `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` in the environment wins here too.
//!
//! **Per-thread caches.** glibc's malloc keeps up to seven freed blocks of each small size
//! (up to 1 KiB) per thread, to hand them back without taking the arena's lock. These blocks
//! count as in use, [`trim`] cannot return them, and each of the daemon's two dozen threads
//! (async workers, store threads, sled's writers, the blocking pool) keeps its own; under the
//! soak stream they held several MiB. `glibc.malloc.tcache_count=0` turns them off, and glibc
//! reads it only from `GLIBC_TUNABLES` when a program starts, so `qunguan run` starts itself
//! again with it set ([`restart_without_thread_caches`]) unless `GLIBC_TUNABLES` is already
//! set (set it, even to `glibc.malloc.tcache_count=7`, glibc's default, to keep the caches).
//! On the shared bench (two interleaved rounds, `docs/performance.md`, "Session 20") the peak
//! resident size fell from 70.2 to 66.3 MB and the CPU per 1,000 events did not rise (114.2
//! and 110.8 ms): with one arena, the lock the caches avoid is seldom contended.
//!
//! **Trimming.** Loading a large dictionary allocates far more while it builds the automaton
//! than the result keeps, and the allocator keeps the freed pages. [`trim`] hands them back
//! (glibc: `malloc_trim`; mimalloc: `mi_collect` of the calling thread's heap; jemalloc: a
//! purge of every arena): after
//! the rules are loaded or reloaded, after each store sweep, every [`TRIM_EVERY`] while
//! the daemon runs (the traffic frees and allocates in bursts too), and within
//! [`QUIET_CHECK`] of the end of a burst of traffic and once more [`SETTLE`] later
//! ([`TrimSchedule`]), so that what the burst left free goes back while the daemon idles
//! instead of up to half a minute later. With glibc and 50,000
//! phrases the idle daemon went from 46 to 33 MiB resident with it, and under a steady load
//! of signed events from 72 to 60 MiB (measured by calling `malloc_trim` in a running
//! daemon).
//!
//! **The program's pages.** The program file (about 22 MB, 13 of them code) is mapped into the
//! daemon, and every page of it that was ever run or read stays resident: the start-up
//! (configuration, migrations, the automaton's build), the rare paths (a sweep, a reload, a
//! command) and, through the kernel's fault-around, their neighbours — 12.4 MiB of RSS in the
//! soak bench. Under load the daemon runs about 9 MiB of it. [`release_program_pages`] drops
//! the program file's pages from the daemon's page tables (`madvise(MADV_DONTNEED)` on its
//! read-only mappings that hold no private page); they stay in the kernel's page cache, and
//! the next use of one maps it again (a minor fault), as after the kernel's own reclaim of
//! clean file pages. It runs after start-up and with each periodic trim
//! (`[limits] release_program_pages`, on by default): in the soak bench the program's
//! resident share fell from 12.2–12.4 to 8.3–9.8 MiB under load, at the same CPU per event
//! (docs/performance.md, "Session 29").
//!
//! [mimalloc]: https://github.com/microsoft/mimalloc

use std::time::Duration;

use tokio_util::sync::CancellationToken;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options when the daemon is built with it (C text, NUL-terminated): a background
/// thread returns dirty pages after about a second instead of on the allocating threads'
/// paths, and purged pages are released at once rather than kept "muzzy".
/// `_RJEM_MALLOC_CONF` in the environment adds to or overrides these.
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static JEMALLOC_CONF: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// The global allocator this build uses: `"mimalloc"`, `"jemalloc"` or `"system"`.
pub const ALLOCATOR: &str = if cfg!(feature = "jemalloc") {
    "jemalloc"
} else if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "system"
};

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
unsafe extern "C" {
    /// mimalloc's own: frees what the calling thread's heap holds empty and, with `force`,
    /// returns freed pages to the system.
    fn mi_collect(force: bool);
}

/// How often [`trim_periodically`] trims at least.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// How many malloc arenas the daemon uses.
pub const ARENAS: i32 = 1;

/// Blocks at least this large are mapped on their own and unmapped when freed (glibc's
/// default, 128 KiB, fixed instead of growing with the blocks freed).
pub const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Free memory at the top of the heap beyond this goes back to the system at once.
pub const TRIM_THRESHOLD: i32 = 1024 * 1024;

/// Limits glibc's malloc to [`ARENAS`] arenas and fixes its mmap and trim thresholds (Linux
/// with glibc, built without another allocator; elsewhere nothing).
pub fn limit_arenas() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(any(feature = "mimalloc", feature = "jemalloc"))
    ))]
    for (variable, parameter, value) in [
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENAS),
        ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mallopt only sets a malloc parameter; it is called before the daemon
            // starts any thread, so no allocation races with it.
            unsafe {
                libc::mallopt(parameter, value);
            }
        }
    }
}

/// The tunable [`restart_without_thread_caches`] sets: glibc's per-thread caches off.
pub const NO_THREAD_CACHES: &str = "glibc.malloc.tcache_count=0";

/// Set in the environment of the process [`restart_without_thread_caches`] started, so that
/// it never starts itself again (a loader that drops `GLIBC_TUNABLES` would loop otherwise).
const RESTARTED: &str = "QUNGUAN_MALLOC_RESTARTED";

/// Replaces the process with the same program, arguments and environment plus
/// `GLIBC_TUNABLES` = [`NO_THREAD_CACHES`] (same process id; see the module docs). Does
/// nothing, and returns `None`, when `GLIBC_TUNABLES` is already set, when this process was
/// started that way, or on other platforms and allocators. Returns only if it did not replace
/// the process: with the error when starting failed, and the daemon then runs as it is.
///
/// Call it first thing, before any thread is started or any file opened.
#[must_use]
pub fn restart_without_thread_caches() -> Option<std::io::Error> {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(any(feature = "mimalloc", feature = "jemalloc"))
    ))]
    {
        use std::os::unix::process::CommandExt;

        if std::env::var_os("GLIBC_TUNABLES").is_some() || std::env::var_os(RESTARTED).is_some() {
            return None;
        }
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return Some(e),
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(name) = args.next() {
            command.arg0(name);
        }
        command
            .args(args)
            .env("GLIBC_TUNABLES", NO_THREAD_CACHES)
            .env(RESTARTED, "1");
        // Returns only on failure.
        Some(command.exec())
    }
    #[cfg(not(all(
        target_os = "linux",
        target_env = "gnu",
        not(any(feature = "mimalloc", feature = "jemalloc"))
    )))]
    {
        let _ = RESTARTED;
        None
    }
}

/// Returns the pages the allocator holds free to the system (mimalloc, jemalloc, or glibc on
/// Linux; elsewhere nothing). Costs a walk over the heap: call it after large frees, not per
/// event.
pub fn trim() {
    #[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
    // SAFETY: mi_collect only releases memory mimalloc holds free; it takes no pointer.
    unsafe {
        mi_collect(true);
    }
    #[cfg(feature = "jemalloc")]
    // SAFETY: a mallctl with no old or new value; the name is NUL-terminated. 4096 is
    // MALLCTL_ARENAS_ALL: every arena's unused dirty pages are purged.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(any(feature = "mimalloc", feature = "jemalloc"))
    ))]
    // SAFETY: malloc_trim only releases free memory of the allocator; it takes the allocator's
    // own locks and touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Drops the resident pages of the program file from this process's page tables and returns
/// how many bytes were resident in the mappings it dropped (Linux; elsewhere nothing, 0).
///
/// Only the program's own mappings (the file `/proc/self/exe` names, by path and inode) that
/// are private, not writable and hold no anonymous page are touched: a private mapping's
/// anonymous pages are its copy-on-write changes (the relocated constants), which would be
/// lost; the others are the file's pages unchanged, which the next access maps again from
/// the page cache. The program is never unmapped while it runs, so the ranges read from
/// `/proc/self/smaps` are still its mappings when they are advised. Costs a read of
/// `/proc/self/smaps` and a few system calls; the pages in use fault back in at once.
pub fn release_program_pages() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;

        let (Ok(exe), Ok(meta)) = (std::env::current_exe(), std::fs::metadata("/proc/self/exe")) else {
            return 0;
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut released = 0;
        for range in program_ranges(&smaps, &exe.to_string_lossy(), meta.ino()) {
            // SAFETY: `range` is one of this program file's private, read-only mappings with no
            // anonymous (copy-on-write) page, and the program stays mapped while it runs: the
            // advice only removes page-table entries of unchanged file pages, which the next
            // access maps again from the page cache. No memory the program wrote is lost.
            let done = unsafe { libc::madvise(range.start as *mut libc::c_void, range.len, libc::MADV_DONTNEED) };
            if done == 0 {
                released += range.resident;
            }
        }
        released
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// One mapping [`release_program_pages`] may drop: its start, length and resident bytes.
#[derive(Debug, PartialEq, Eq)]
struct ProgramRange {
    start: usize,
    len: usize,
    resident: u64,
}

/// The mappings of `/proc/self/smaps` (`smaps`) of the file `path` with inode `inode` that
/// are private, not writable and hold no anonymous page.
fn program_ranges(smaps: &str, path: &str, inode: u64) -> Vec<ProgramRange> {
    let mut out = Vec::new();
    // The mapping being read: its range if it is one of the program's read-only private ones,
    // its resident bytes, and whether it holds anonymous pages (unknown until its line).
    let mut current: Option<(ProgramRange, Option<bool>)> = None;
    fn finish(current: &mut Option<(ProgramRange, Option<bool>)>, out: &mut Vec<ProgramRange>) {
        if let Some((range, Some(false))) = current.take() {
            out.push(range);
        }
    }
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-') {
            let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else {
                continue;
            };
            finish(&mut current, &mut out);
            let perms = fields.next().unwrap_or("");
            let file_inode = fields.nth(2).and_then(|i| i.parse::<u64>().ok());
            let name = fields.collect::<Vec<_>>().join(" ");
            let private_read_only = perms.len() == 4 && perms.as_bytes()[1] == b'-' && perms.as_bytes()[3] == b'p';
            if private_read_only && file_inode == Some(inode) && name == path && end > start {
                current = Some((
                    ProgramRange {
                        start,
                        len: end - start,
                        resident: 0,
                    },
                    None,
                ));
            }
            continue;
        }
        let Some((range, anonymous)) = current.as_mut() else {
            continue;
        };
        let kib = || fields.clone().next().and_then(|v| v.parse::<u64>().ok());
        match first {
            "Rss:" => range.resident = kib().unwrap_or(0) * 1024,
            "Anonymous:" => *anonymous = Some(kib() != Some(0)),
            _ => {}
        }
    }
    finish(&mut current, &mut out);
    out
}

/// Trims every [`TRIM_EVERY`], off the async threads, until `cancel` fires.
pub async fn trim_periodically(cancel: CancellationToken) {
    trim_and_release_periodically(cancel, false, || 0).await;
}

/// Like [`trim_periodically`]; with `release_program` (`[limits] release_program_pages`)
/// also calls [`release_program_pages`] once at its start (the daemon has started by then)
/// and after each trim.
///
/// It also trims as soon as a burst of traffic stops, and once more a little later: see
/// [`TrimSchedule`]. `events` counts the events received so far.
pub async fn trim_and_release_periodically(
    cancel: CancellationToken,
    release_program: bool,
    events: impl Fn() -> u64 + Send,
) {
    let mut check = tokio::time::interval(QUIET_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.tick().await;
    if release_program {
        release_off_the_async_threads().await;
    }
    let mut last_trim = tokio::time::Instant::now();
    let mut schedule = TrimSchedule::new(events());
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = check.tick() => {}
        }
        if !schedule.due(last_trim.elapsed(), events()) {
            continue;
        }
        if let Err(e) = tokio::task::spawn_blocking(trim).await {
            tracing::debug!(error = %e, "the malloc trim task failed");
        }
        if release_program {
            release_off_the_async_threads().await;
        }
        last_trim = tokio::time::Instant::now();
    }
}

/// How often [`trim_and_release_periodically`] looks whether the traffic has stopped.
pub const QUIET_CHECK: Duration = Duration::from_secs(2);

/// How many events since the last trim make a burst worth a trim when it stops. Below it
/// (a quiet group's occasional message) only the periodic trim runs.
pub const BURST_EVENTS: u64 = 1_000;

/// How long after a burst's trim the follow-up trim comes, if the daemon is still idle.
pub const SETTLE: Duration = Duration::from_secs(10);

/// When the trim loop trims, decided from the count of events received so far and the time
/// since the last trim, at each [`QUIET_CHECK`]:
///
/// - every [`TRIM_EVERY`], whatever the traffic;
/// - when a burst ends: at least [`BURST_EVENTS`] events since the last trim and none since
///   the last check. What the burst left free goes back within seconds of its end instead
///   of up to half a minute later;
/// - once more [`SETTLE`] after that, if no event came meanwhile: the database cleans its
///   log in the first seconds of idle (sled's segment cleaner moves live pages, and the
///   memory it used is freed but kept by malloc), which the first trim comes too early for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimSchedule {
    /// The count at the last check.
    at_check: u64,
    /// The count at the last trim.
    at_trim: u64,
    /// The last trim ended a burst and no event has come since.
    settling: bool,
}

impl TrimSchedule {
    /// A schedule that starts with `events` received (and counts them as trimmed).
    #[must_use]
    pub fn new(events: u64) -> Self {
        Self {
            at_check: events,
            at_trim: events,
            settling: false,
        }
    }

    /// Whether to trim now, `since_trim` after the last trim with `events` received so far;
    /// when it says yes, the trim counts as done.
    pub fn due(&mut self, since_trim: Duration, events: u64) -> bool {
        let quiet = events == self.at_check;
        self.at_check = events;
        let burst_ended = quiet && events.saturating_sub(self.at_trim) >= BURST_EVENTS;
        let settled = quiet && self.settling && since_trim >= SETTLE;
        if !quiet {
            self.settling = false;
        }
        let due = since_trim >= TRIM_EVERY || burst_ended || settled;
        if due {
            self.settling = burst_ended;
            self.at_trim = events;
        }
        due
    }
}

/// [`release_program_pages`] on the blocking pool, with a debug line of what it released.
async fn release_off_the_async_threads() {
    match tokio::task::spawn_blocking(release_program_pages).await {
        Ok(bytes) => tracing::debug!(bytes, "released the program file's resident pages"),
        Err(e) => tracing::debug!(error = %e, "the program pages task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5600aa000000-5600aa100000 r--p 00000000 fd:01 4242                       /opt/q u/qunguan
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
5600aa100000-5600aa300000 r-xp 00100000 fd:01 4242                       /opt/q u/qunguan
Size:               2048 kB
Rss:                2000 kB
Anonymous:             0 kB
5600aa300000-5600aa310000 r--p 00300000 fd:01 4242                       /opt/q u/qunguan
Rss:                  64 kB
Anonymous:            64 kB
5600aa310000-5600aa314000 rw-p 00310000 fd:01 4242                       /opt/q u/qunguan
Rss:                  16 kB
Anonymous:             0 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 77                         /usr/lib/libc.so.6
Rss:                 900 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 fd:01 4243                       /opt/q u/qunguan
Rss:                 100 kB
Anonymous:             0 kB
7f0000300000-7f0000400000 rw-p 00000000 00:00 0 
Rss:                1024 kB
Anonymous:          1024 kB
";

    #[test]
    fn the_periodic_trim_runs_whatever_the_traffic() {
        let mut idle = TrimSchedule::new(0);
        assert!(!idle.due(TRIM_EVERY - Duration::from_millis(1), 0));
        assert!(idle.due(TRIM_EVERY, 0));
        let mut busy = TrimSchedule::new(0);
        assert!(!busy.due(QUIET_CHECK, 4_000));
        assert!(busy.due(TRIM_EVERY, 5_000), "also under load");
    }

    #[test]
    fn a_trim_follows_the_end_of_a_burst_at_once_and_once_more_when_settled() {
        let mut s = TrimSchedule::new(10_000);
        assert!(!s.due(QUIET_CHECK, 50_000), "still arriving: wait for the end");
        assert!(!s.due(QUIET_CHECK * 2, 90_000));
        assert!(s.due(QUIET_CHECK * 3, 90_000), "nothing since the last check: it ended");
        assert!(!s.due(QUIET_CHECK, 90_000), "the follow-up waits for SETTLE");
        assert!(s.due(SETTLE, 90_000), "still idle after SETTLE: once more");
        assert!(!s.due(QUIET_CHECK, 90_000), "then idle stays idle");
        assert!(!s.due(SETTLE * 2, 90_000));
    }

    #[test]
    fn traffic_that_resumes_cancels_the_follow_up() {
        let mut s = TrimSchedule::new(0);
        assert!(!s.due(QUIET_CHECK, 5_000));
        assert!(s.due(QUIET_CHECK * 2, 5_000));
        assert!(!s.due(QUIET_CHECK, 5_010), "a few more events");
        assert!(
            !s.due(SETTLE, 5_010),
            "too few since the trim for a burst, and not settling"
        );
    }

    #[test]
    fn a_quiet_groups_occasional_message_is_no_burst() {
        let mut s = TrimSchedule::new(0);
        for i in 1..=20u32 {
            let events = u64::from(i) * 10;
            assert!(!s.due(QUIET_CHECK, events));
            assert!(
                !s.due(QUIET_CHECK * 2, events),
                "{events} events are below BURST_EVENTS"
            );
        }
    }

    #[test]
    fn only_the_programs_read_only_mappings_without_private_pages_are_released() {
        let ranges = program_ranges(SMAPS, "/opt/q u/qunguan", 4242);
        assert_eq!(
            ranges,
            vec![
                ProgramRange {
                    start: 0x5600_aa00_0000,
                    len: 0x10_0000,
                    resident: 512 * 1024
                },
                ProgramRange {
                    start: 0x5600_aa10_0000,
                    len: 0x20_0000,
                    resident: 2000 * 1024
                },
            ]
        );
    }

    #[test]
    fn a_mapping_whose_anonymous_line_is_missing_is_left_alone() {
        let smaps = "5600aa000000-5600aa100000 r--p 00000000 fd:01 4242 /q\nRss: 4 kB\n";
        assert!(program_ranges(smaps, "/q", 4242).is_empty());
    }

    #[test]
    fn releasing_the_programs_pages_keeps_it_running() {
        // Runs this test binary's own code again after its pages were dropped.
        let released = release_program_pages();
        if cfg!(target_os = "linux") {
            assert!(released > 0, "the test binary's code is resident while it runs");
        }
        let squares: u64 = (1..=10u64).map(|n| n * n).sum();
        assert_eq!(squares, 385);
        let _ = release_program_pages();
        assert_eq!(format!("{}", squares + 1), "386");
    }
}
