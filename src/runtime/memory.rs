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

/// Limits glibc's malloc to [`ARENAS`] arenas (Linux with glibc only; elsewhere nothing).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; it is called before the daemon starts
        // any thread, so no allocation races with it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
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
