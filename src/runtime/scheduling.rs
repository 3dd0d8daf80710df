//! The daemon's CPU scheduling policy (`[server] scheduling`), set once at start.
//!
//! An event crosses threads: the async worker reads and checks the webhook, a store thread
//! judges and records it, and sled's I/O threads write its log buffer. Under Linux's normal
//! policy a thread that is woken preempts the one that woke it when it can, so a busy daemon
//! switches threads about twice per event: the worker hands an event over and is put aside
//! at once for the store thread, which handles that one event and sleeps again. Under
//! `SCHED_BATCH` a woken thread does not preempt on wake-up (only at the end of a time slice
//! or when the running thread waits), so the worker goes on reading the requests that are
//! ready and each thread then takes what has gathered in one turn. Measured on the shared
//! bench (docs/performance.md, "Session 36: the batch scheduling policy"): context switches
//! per event 1.38 → 0.60, about 4 % less CPU per event, the reaction p99 no worse.
//!
//! The policy is set on the calling thread before the async runtime starts, and every thread
//! started later (the runtime's, the store's, sled's) inherits it. No privilege is needed:
//! `SCHED_BATCH` is a variant of the normal policy with the same nice value. The daemon's
//! other processes (a compaction's copier) inherit it too.

use crate::config::Scheduling;

/// Puts the calling thread, and so every thread it starts afterwards, under `scheduling`.
/// [`Scheduling::Normal`] leaves the thread as it is.
pub fn apply(scheduling: Scheduling) -> std::io::Result<()> {
    match scheduling {
        Scheduling::Normal => Ok(()),
        Scheduling::Batch => set_batch(),
    }
}

#[cfg(target_os = "linux")]
fn set_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads the struct we pass, which lives for the call; pid 0 is
    // the calling thread.
    #[allow(unsafe_code)]
    let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) };
    if set == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_batch() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the batch scheduling policy exists on Linux only",
    ))
}

/// The calling thread's scheduling policy (`libc::SCHED_*`).
#[cfg(all(test, target_os = "linux"))]
fn current() -> i32 {
    // SAFETY: no arguments beyond the calling thread's pid 0.
    #[allow(unsafe_code)]
    unsafe {
        libc::sched_getscheduler(0)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Runs `f` on a thread of its own, so the test's policy never leaks into other tests.
    fn on_own_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("the thread finishes")
    }

    #[test]
    fn batch_puts_the_thread_and_the_threads_it_starts_under_sched_batch() {
        let (own, child) = on_own_thread(|| {
            apply(Scheduling::Batch).expect("no privilege needed");
            let child = std::thread::spawn(current).join().expect("child");
            (current(), child)
        });
        assert_eq!(own, libc::SCHED_BATCH);
        assert_eq!(child, libc::SCHED_BATCH, "threads started later inherit the policy");
    }

    #[test]
    fn normal_leaves_the_thread_as_it_is() {
        let policy = on_own_thread(|| {
            apply(Scheduling::Normal).expect("nothing to do");
            current()
        });
        assert_eq!(policy, libc::SCHED_OTHER);
    }
}
