//! The allocator's share of the daemon's memory.
//!
//! glibc's malloc gives threads that contend for it arenas of their own, up to eight per
//! core, and memory freed into one arena is not reused by another. The daemon's threads (the
//! async workers, the blocking pool that flushes the database, sled's writer threads) each
//! allocate and free in bursts, so with the default the resident size grew with the number of
//! arenas touched rather than with what was live: in the soak bench (`benches/soak.rs`) the
//! same build reached 128 MiB after 200,000 events with the default and 76 MiB with a single
//! arena, at the same throughput. Small allocations still go through each thread's cache
//! without the arena's lock, so one arena costs little.
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
//! Loading a large dictionary allocates far more while it builds the automaton than the
//! result keeps, and malloc keeps the freed pages. [`trim`] hands them back: after the rules
//! are loaded or reloaded, after each store sweep, and every [`TRIM_EVERY`] while the daemon
//! runs (the traffic frees and allocates in bursts too). With 50,000 phrases the idle daemon
//! went from 46 to 33 MiB resident with it, and under a steady load of signed events from
//! 72 to 60 MiB (measured by calling `malloc_trim` in a running daemon).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often [`trim_periodically`] trims.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// How many malloc arenas the daemon uses.
pub const ARENAS: i32 = 1;

/// Blocks at least this large are mapped on their own and unmapped when freed (glibc's
/// default, 128 KiB, fixed instead of growing with the blocks freed).
pub const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Free memory at the top of the heap beyond this goes back to the system at once.
pub const TRIM_THRESHOLD: i32 = 1024 * 1024;

/// Limits glibc's malloc to [`ARENAS`] arenas and fixes its mmap and trim thresholds (Linux
/// with glibc only; elsewhere nothing).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
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

/// Returns the pages malloc holds free to the system (Linux with glibc; elsewhere nothing).
/// Costs a walk over the heap: call it after large frees, not per event.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; it takes the allocator's
    // own locks and touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims every [`TRIM_EVERY`], off the async threads, until `cancel` fires.
pub async fn trim_periodically(cancel: CancellationToken) {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        if let Err(e) = tokio::task::spawn_blocking(trim).await {
            tracing::debug!(error = %e, "the malloc trim task failed");
        }
    }
}
