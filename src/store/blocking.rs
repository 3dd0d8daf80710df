//! Store calls from async code, off the async worker threads.
//!
//! Every [`Store`] method is synchronous sled I/O that may wait for the disk (a flush, a
//! segment, the commit lock). Run directly on a tokio worker thread, one stalled write would
//! stall every task scheduled there — `/healthz`, metrics and the listeners included. So async
//! code reaches the store in one of two ways:
//!
//! - [`Store::run`]: one closure of store calls, on tokio's blocking pool;
//! - [`Store::offload`]: a whole future that makes synchronous store calls (an event's handling),
//!   driven to completion on one of the store's few dedicated threads.
//!
//! The synchronous methods stay as they are, for the CLI, tests and the closures above.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use super::{Store, StoreError};

impl Store {
    /// Runs `f` with this store on tokio's blocking pool and returns what it returns.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Drives `future` to completion on one of this store's threads: a few dedicated threads
    /// that exist to make synchronous store calls, so those calls never block an async worker
    /// thread. Its awaits (timers, flushes, other tasks — all on the caller's runtime) do not
    /// hold the thread: futures offloaded at the same time interleave there. A panic inside it
    /// comes back as the [`tokio::task::JoinError`] (`is_panic()`), not as a panic of the
    /// caller.
    ///
    /// Handing a future to a thread that is already busy costs no wake-up, where a
    /// blocking-pool thread per event cost a spawn, a park and a wake-up each (the webhook
    /// path's largest avoidable cost; see docs/performance.md). A thread that flushes
    /// synchronously ([`flush_here`]), or hangs on a stalled disk, holds every future on it, so
    /// the future goes to a thread that can run it:
    ///
    /// 1. a thread not inside a flush before one that is, however many futures each has (a
    ///    flush hung on a stalled disk would otherwise take some new futures, by turn, whenever
    ///    the other threads have as many unfinished, each merely waiting for that flush). A
    ///    future handed to a thread before its flush began still waits for that flush;
    /// 2. then the thread with the fewest offloaded futures unfinished (a write hung on a
    ///    stalled disk keeps its future unfinished);
    /// 3. among equals, the next in turn.
    ///
    /// If the store threads cannot be started, the future runs on tokio's blocking pool as
    /// before.
    pub async fn offload<F>(&self, future: F) -> Result<F::Output, tokio::task::JoinError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::runtime::Handle::current();
        let drivers = self.inner.threads.drivers();
        if drivers.handles.is_empty() {
            return tokio::task::spawn_blocking(move || handle.block_on(future)).await;
        }
        let i = drivers.least_loaded();
        let future = InCaller {
            handle,
            future: Box::pin(future),
            _unfinished: Unfinished::count(&drivers.unfinished[i]),
        };
        drivers.handles[i].spawn(future).await
    }
}

/// Threads that drive offloaded futures (see [`Store::offload`]).
const DRIVER_THREADS: usize = 2;

/// A store's threads that [`Store::offload`] hands futures to: each runs a single-threaded
/// tokio runtime of its own, started on the store's first offload and ended when the last
/// handle of the store is gone. That runtime only polls; what the futures spawn, time and
/// wait for belongs to the caller's runtime ([`InCaller`]).
///
/// They belong to one store, not to the process: a store whose disk stalls holds up its own
/// threads only, never another store's in the same process (the integration tests run many
/// daemons in one process; a stall injected into one of them once stalled the rest).
#[derive(Default)]
pub(crate) struct StoreThreads {
    drivers: OnceLock<Drivers>,
}

struct Drivers {
    handles: Vec<tokio::runtime::Handle>,
    /// Per thread, the offloaded futures handed to it and not yet finished or dropped.
    unfinished: Vec<Arc<AtomicUsize>>,
    /// Per thread, whether it is inside a synchronous flush ([`flush_here`]).
    flushing: Vec<Arc<AtomicBool>>,
    /// Where the search for the least loaded thread starts next (turns among equals).
    next: AtomicUsize,
    /// Dropped with the store: each thread's runtime ends when its sender is gone.
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl StoreThreads {
    fn drivers(&self) -> &Drivers {
        self.drivers.get_or_init(|| {
            let mut handles = Vec::with_capacity(DRIVER_THREADS);
            let mut flushing = Vec::with_capacity(DRIVER_THREADS);
            let mut stops = Vec::with_capacity(DRIVER_THREADS);
            for i in 0..DRIVER_THREADS {
                let flag = Arc::new(AtomicBool::new(false));
                match start_driver(i, Arc::clone(&flag)) {
                    Ok((handle, stop)) => {
                        handles.push(handle);
                        flushing.push(flag);
                        stops.push(stop);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot start a store thread; the others take its work (tokio's blocking pool if none started)"),
                }
            }
            Drivers {
                unfinished: handles.iter().map(|_| Arc::default()).collect(),
                flushing,
                handles,
                next: AtomicUsize::new(0),
                _stops: stops,
            }
        })
    }
}

impl Drivers {
    /// The thread the next future goes to (see [`Store::offload`]): not inside a flush if
    /// any is not, then the fewest unfinished futures; among equals, the next in turn.
    fn least_loaded(&self) -> usize {
        let n = self.handles.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let load = |i: usize| {
            (
                self.flushing[i].load(Ordering::Relaxed),
                self.unfinished[i].load(Ordering::Relaxed),
            )
        };
        let mut best = start;
        let mut best_load = load(start);
        for k in 1..n {
            let i = (start + k) % n;
            let load = load(i);
            if load < best_load {
                best = i;
                best_load = load;
            }
        }
        best
    }
}

/// One future counted as unfinished on its thread while it lives.
struct Unfinished(Arc<AtomicUsize>);

impl Unfinished {
    fn count(on: &Arc<AtomicUsize>) -> Self {
        on.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(on))
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts one driver thread, whose flag `flushing` [`flush_here`] raises; returns its
/// runtime's handle and the sender whose drop ends it.
fn start_driver(
    index: usize,
    flushing: Arc<AtomicBool>,
) -> std::io::Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(format!("qunguan-store-{index}"))
        .spawn(move || {
            FLUSHING.with(|flag| {
                let _ = flag.set(flushing);
            });
            // Ends when the store is dropped (the sender with it); futures still on this
            // runtime then are dropped with it.
            let _ = runtime.block_on(stopped);
        })?;
    Ok((handle, stop))
}

thread_local! {
    /// Set only on the threads [`Store::offload`] drives futures on: the thread's flag in
    /// [`Drivers`], raised while it flushes ([`flush_here`]).
    static FLUSHING: OnceLock<Arc<AtomicBool>> = const { OnceLock::new() };
}

/// Whether the caller runs on a store thread ([`Store::offload`]), where a synchronous store call
/// (a flush) blocks no async worker thread.
#[cfg(test)]
fn on_store_thread() -> bool {
    FLUSHING.with(|flag| flag.get().is_some())
}

/// Runs `flush` right here if the caller is a store thread, with the thread marked as inside a
/// flush meanwhile, so that [`Store::offload`] hands new futures to another thread; `None`
/// elsewhere (the caller hands its flush to the blocking pool).
pub(crate) fn flush_here<R>(flush: impl FnOnce() -> R) -> Option<R> {
    /// Lowers the flag however the flush ends.
    struct Lower(Arc<AtomicBool>);
    impl Drop for Lower {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let flag = FLUSHING.with(|flag| flag.get().cloned())?;
    flag.store(true, Ordering::Relaxed);
    let _lower = Lower(flag);
    Some(flush())
}

/// Polls its future inside the caller's runtime context, as `Handle::block_on` did: its
/// `tokio::spawn`, `spawn_blocking`, timers and `Handle::current()` are the caller's.
struct InCaller<F> {
    handle: tokio::runtime::Handle,
    future: Pin<Box<F>>,
    /// Counts the future on its thread until it is finished or dropped.
    _unfinished: Unfinished,
}

impl<F: Future> Future for InCaller<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _entered = this.handle.enter();
        this.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A store in a temporary folder, with the folder.
    fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        (store, dir)
    }

    #[tokio::test]
    async fn offloaded_work_runs_off_the_runtime_thread_and_panics_come_back_as_errors() {
        let (store, _dir) = temp_store();
        let caller = std::thread::current().id();
        let ran_on = store
            .offload(async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                std::thread::current().id()
            })
            .await
            .expect("finishes");
        assert_ne!(ran_on, caller);
        let panicked = store.offload(async { panic!("poison") }).await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offloaded_work_spawns_and_times_on_the_callers_runtime() {
        let (store, _dir) = temp_store();
        let flavor = store
            .offload(async move {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let spawned = tokio::spawn(async { tokio::runtime::Handle::current().runtime_flavor() });
                spawned.await.expect("spawned task")
            })
            .await
            .expect("finishes");
        assert_eq!(flavor, tokio::runtime::RuntimeFlavor::MultiThread);
    }

    #[tokio::test]
    async fn offloaded_futures_that_wait_do_not_hold_their_thread() {
        let (store, _dir) = temp_store();
        // More futures than store threads, each waiting until all have started: they only
        // finish if a waiting future leaves its thread to the others.
        let n = DRIVER_THREADS * 4 + 1;
        let started = Arc::new(tokio::sync::Barrier::new(n));
        let mut waiting = Vec::new();
        for _ in 0..n {
            let started = Arc::clone(&started);
            let store = store.clone();
            waiting.push(tokio::spawn(async move {
                store.offload(async move { started.wait().await }).await
            }));
        }
        for w in waiting {
            tokio::time::timeout(std::time::Duration::from_secs(10), w)
                .await
                .expect("every future finishes")
                .expect("joined")
                .expect("no panic");
        }
    }

    #[tokio::test]
    async fn a_store_stalled_on_every_thread_holds_up_no_other_store() {
        let (stalled, _stalled_dir) = temp_store();
        let (other, _other_dir) = temp_store();
        stalled.faults().stall(true);
        // Every thread of the stalled store hangs in a write.
        let hung: Vec<_> = (0..DRIVER_THREADS)
            .map(|_| {
                let store = stalled.clone();
                tokio::spawn(async move {
                    let writer = store.clone();
                    store.offload(async move { writer.set_state("test.hung", b"1") }).await
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stalled.stalled_for().is_none() {
            assert!(std::time::Instant::now() < deadline, "the stalled writes never started");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Another store's offloaded work goes on.
        let writer = other.clone();
        let written = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            other.offload(async move { writer.set_state("test.free", b"1") }),
        )
        .await
        .expect("the other store's thread is free")
        .expect("no panic");
        assert!(written.is_ok(), "{written:?}");
        stalled.faults().stall(false);
        for h in hung {
            let write = h.await.expect("joined").expect("no panic");
            assert!(write.is_ok(), "{write:?}");
        }
    }

    #[tokio::test]
    async fn work_goes_to_a_thread_that_can_run_it_while_another_hangs() {
        let (store, _dir) = temp_store();
        store.faults().stall(true);
        let writer = store.clone();
        let hung = {
            let store = store.clone();
            tokio::spawn(async move { store.offload(async move { writer.set_state("test.hung", b"1") }).await })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.stalled_for().is_none() {
            assert!(std::time::Instant::now() < deadline, "the stalled write never started");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Taking turns would hand every other future to the hung thread.
        for turn in 0..DRIVER_THREADS * 3 {
            let ran = tokio::time::timeout(std::time::Duration::from_secs(10), store.offload(async move { turn }))
                .await
                .unwrap_or_else(|_| panic!("future {turn} waited behind the hung write"));
            assert_eq!(ran.expect("no panic"), turn);
        }
        store.faults().stall(false);
        let write = hung.await.expect("joined").expect("no panic");
        assert!(write.is_ok(), "{write:?}");
    }

    #[tokio::test]
    async fn a_thread_inside_a_hung_flush_gets_no_new_work_when_the_others_are_as_loaded() {
        let ten_secs = std::time::Duration::from_secs(10);
        let (store, _dir) = temp_store();
        store.faults().stall_flushes(true);
        let _lift = crate::store::health::LiftFlushStall(store.clone());
        // One future flushes on its store thread, and hangs there.
        let hung = {
            let store = store.clone();
            let flusher = store.clone();
            tokio::spawn(async move {
                store
                    .offload(async move {
                        flusher.set_state("test.hung", b"1")?;
                        flusher.durable().await
                    })
                    .await
            })
        };
        let deadline = std::time::Instant::now() + ten_secs;
        while store
            .stalled_for()
            .is_none_or(|(_, what)| what != crate::store::health::FLUSH_OP)
        {
            assert!(std::time::Instant::now() < deadline, "the flush never started");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Every other thread gets a future that merely waits (as an event waiting for that
        // flush would): each thread then has as many unfinished as the hung one.
        let release = tokio_util::sync::CancellationToken::new();
        let waiting: Vec<_> = (1..DRIVER_THREADS)
            .map(|_| {
                let (store, release) = (store.clone(), release.clone());
                tokio::spawn(async move { store.offload(async move { release.cancelled().await }).await })
            })
            .collect();
        let drivers = store.inner.threads.drivers();
        let unfinished = || {
            drivers
                .unfinished
                .iter()
                .map(|u| u.load(Ordering::Relaxed))
                .sum::<usize>()
        };
        while unfinished() < DRIVER_THREADS {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiting futures never started"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Taking turns among equals would hand some of these to the hung thread.
        for turn in 0..DRIVER_THREADS * 3 {
            let ran = tokio::time::timeout(ten_secs, store.offload(async move { turn }))
                .await
                .unwrap_or_else(|_| panic!("future {turn} waited behind the hung flush"));
            assert_eq!(ran.expect("no panic"), turn);
        }
        release.cancel();
        store.faults().stall_flushes(false);
        let flushed = tokio::time::timeout(ten_secs, hung)
            .await
            .expect("the flush ends once lifted")
            .expect("joined")
            .expect("no panic");
        assert!(flushed.is_ok(), "{flushed:?}");
        for w in waiting {
            tokio::time::timeout(ten_secs, w)
                .await
                .expect("released")
                .expect("joined")
                .expect("no panic");
        }
    }

    #[test]
    fn a_dropped_store_ends_its_threads() {
        /// Sends when the thread holding it ends (thread-locals are dropped at its exit).
        struct OnExit(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for OnExit {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
            }
        }
        thread_local! {
            static EXIT: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) };
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (store, _dir) = temp_store();
        let (exited, exits) = std::sync::mpsc::channel();
        let mut threads = std::collections::HashSet::new();
        for _ in 0..DRIVER_THREADS {
            let exited = exited.clone();
            let ran_on = runtime
                .block_on(store.offload(async move {
                    EXIT.with(|e| *e.borrow_mut() = Some(OnExit(exited)));
                    std::thread::current().id()
                }))
                .expect("ran");
            threads.insert(ran_on);
        }
        assert_eq!(threads.len(), DRIVER_THREADS, "one future on each thread");
        drop(store);
        for _ in 0..DRIVER_THREADS {
            let ended = exits
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the store's threads outlived it");
            assert!(threads.remove(&ended));
        }
    }

    #[tokio::test]
    async fn a_flush_awaited_on_a_store_thread_covers_the_write_and_elsewhere_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        assert!(!on_store_thread(), "the test's own thread is no store thread");
        let offloaded = store.clone();
        let (on_store, durable) = store
            .offload(async move {
                offloaded
                    .enqueue(
                        vec![crate::domain::action::Action::Recall {
                            group: crate::domain::event::GroupId::qq(1),
                            message_id: 1,
                        }],
                        jiff::Timestamp::UNIX_EPOCH,
                    )
                    .expect("enqueue");
                let before = offloaded.durable_commits();
                offloaded.durable().await.expect("flushed");
                (on_store_thread(), (before, offloaded.durable_commits()))
            })
            .await
            .expect("finishes");
        assert!(on_store);
        assert_eq!(durable, (0, 1), "the flush made the commit durable");
        // From an async worker thread it still goes through the blocking pool.
        store.enqueue(vec![], jiff::Timestamp::UNIX_EPOCH).expect("enqueue");
        store.durable().await.expect("flushed");
        assert_eq!(store.durable_commits(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shared_flush_is_one_that_someone_else_starts_after_the_ticket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store.set_state("test.mine", b"1").expect("write");
        let ticket = store.flush_ticket();
        // Nobody flushes: the wait ends unshared, and the writer flushes on its own.
        assert!(!store.shared_flush(ticket, std::time::Duration::from_millis(1)).await);
        let before = store.inner.health.flushes.durable();
        store.durable_upto(ticket).await.expect("flushed");
        assert_eq!(store.inner.health.flushes.durable(), before + 1, "its own flush");
        // Someone else's flush, started after the ticket, covers it: no flush of its own.
        store.set_state("test.mine", b"2").expect("write");
        let ticket = store.flush_ticket();
        let other = store.clone();
        let flusher = tokio::spawn(async move {
            other.set_state("test.theirs", b"1").expect("write");
            other.durable().await.expect("flushed");
        });
        assert!(
            store.shared_flush(ticket, std::time::Duration::from_secs(30)).await,
            "the other flush covered it"
        );
        flusher.await.expect("joined");
        let flushes = store.inner.health.flushes.durable();
        store.durable_upto(ticket).await.expect("durable");
        assert_eq!(store.inner.health.flushes.durable(), flushes, "no flush of its own");
    }

    /// Sets `store`'s flush linger (`[storage] flush_linger_us`, `flush_linger_waiters`).
    fn linger(store: &Store, patience: std::time::Duration, waiters: u64) {
        store.set_flush_linger(super::super::FlushLinger { patience, waiters });
    }

    /// Waits (bounded) until `store` has had `n` lingering flushes.
    async fn until_lingered(store: &Store, n: u64) {
        for _ in 0..5_000 {
            if store.group_flushes().1 >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flush_in_a_quiet_store_goes_at_once_and_under_load_it_lingers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        linger(&store, std::time::Duration::from_secs(300), 100);
        store.set_state("test.a", b"1").expect("write");
        // No flush before it: the store is quiet, nothing to wait for (else 300 s).
        tokio::time::timeout(std::time::Duration::from_secs(60), store.durable())
            .await
            .expect("flushed at once")
            .expect("flushed");
        assert_eq!(store.group_flushes(), (1, 0));
        // Right after a flush the store is busy: the next one waits for company.
        linger(&store, std::time::Duration::from_millis(1), 100);
        store.set_state("test.a", b"2").expect("write");
        store.durable().await.expect("flushed");
        assert_eq!(store.group_flushes(), (2, 1), "it lingered, then flushed alone");
        // Off: never lingers.
        linger(&store, std::time::Duration::ZERO, 1);
        store.set_state("test.a", b"3").expect("write");
        store.durable().await.expect("flushed");
        assert_eq!(store.group_flushes(), (3, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lingering_flush_goes_when_enough_writers_wait_and_covers_them_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        // A patience far longer than the test's timeouts: only company ends the linger.
        linger(&store, std::time::Duration::from_secs(300), 2);
        store.set_state("test.a", b"1").expect("write");
        store.durable().await.expect("flushed");
        store.set_state("test.b", b"1").expect("write");
        let first = {
            let store = store.clone();
            tokio::spawn(async move { store.durable().await })
        };
        until_lingered(&store, 1).await;
        assert_eq!(store.group_flushes(), (1, 1), "the first writer waits for company");
        // The second writer makes two: the flush goes, and covers both.
        store.set_state("test.c", b"1").expect("write");
        let limit = std::time::Duration::from_secs(60);
        tokio::time::timeout(limit, store.durable())
            .await
            .expect("the second writer ended the linger")
            .expect("flushed");
        tokio::time::timeout(limit, first)
            .await
            .expect("the first writer is done too")
            .expect("joined")
            .expect("flushed");
        assert_eq!(store.group_flushes(), (2, 1), "one flush for both writers");
        let durable = store.inner.health.flushes.durable();
        assert_eq!(durable, 2, "both writes are on disk");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flush_that_must_not_linger_goes_at_once_and_ends_a_lingering_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        // A patience far longer than the test's timeouts, and more company than ever comes.
        linger(&store, std::time::Duration::from_secs(300), 100);
        store.set_state("test.a", b"1").expect("write");
        store.durable().await.expect("flushed");
        assert_eq!(store.group_flushes(), (1, 0), "a quiet store: at once");
        // Busy now, yet a writer whose durability gates a send does not wait for company.
        store.set_state("test.a", b"2").expect("write");
        let limit = std::time::Duration::from_secs(60);
        let ticket = store.flush_ticket();
        tokio::time::timeout(limit, store.durable_upto_now(ticket))
            .await
            .expect("no linger")
            .expect("flushed");
        assert_eq!(store.group_flushes(), (2, 0), "its own flush, without lingering");
        // An event's flush lingers; such a writer coming meanwhile ends the linger, and the
        // one flush covers both.
        store.set_state("test.b", b"1").expect("write");
        let event = {
            let store = store.clone();
            tokio::spawn(async move { store.durable().await })
        };
        until_lingered(&store, 1).await;
        assert_eq!(store.group_flushes(), (2, 1), "the event's flush lingers");
        store.set_state("test.c", b"1").expect("write");
        let ticket = store.flush_ticket();
        tokio::time::timeout(limit, store.durable_upto_now(ticket))
            .await
            .expect("the linger ended")
            .expect("flushed");
        tokio::time::timeout(limit, event)
            .await
            .expect("the event's writer is done too")
            .expect("joined")
            .expect("flushed");
        assert_eq!(store.group_flushes(), (3, 1), "one flush for both");
        assert_eq!(store.inner.health.flushes.durable(), 3, "all writes are on disk");
    }

    #[tokio::test]
    async fn run_gives_the_closure_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store.run(|s| s.set_state("test.x", b"1")).await.expect("written");
        assert_eq!(store.state("test.x").expect("read"), Some(b"1".to_vec()));
    }
}
