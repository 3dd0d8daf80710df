//! Store calls from async code, off the async worker threads.
//!
//! Every [`Store`] method is synchronous sled I/O that may wait for the disk (a flush, a
//! segment, the commit lock). Run directly on a tokio worker thread, one stalled write would
//! stall every task scheduled there — `/healthz`, metrics and the listeners included. So async
//! code reaches the store in one of two ways:
//!
//! - [`Store::run`]: one closure of store calls, on tokio's blocking pool;
//! - [`offload`]: a whole future that makes synchronous store calls (an event's handling, a
//!   scheduler round), driven to completion on a blocking-pool thread.
//!
//! The synchronous methods stay as they are, for the CLI, tests and the closures above.

use std::future::Future;

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
}

/// Drives `future` to completion on a thread of tokio's blocking pool, so the synchronous
/// store calls inside it never block an async worker thread. Its awaits (timers, sockets,
/// other tasks) still run on the runtime. A panic inside it comes back as the
/// [`tokio::task::JoinError`] (`is_panic()`), not as a panic of the caller.
pub async fn offload<F>(future: F) -> Result<F::Output, tokio::task::JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(future)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offloaded_work_runs_off_the_runtime_thread_and_panics_come_back_as_errors() {
        let caller = std::thread::current().id();
        let ran_on = offload(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            std::thread::current().id()
        })
        .await
        .expect("finishes");
        assert_ne!(ran_on, caller);
        let panicked = offload(async { panic!("poison") }).await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
    }

    #[tokio::test]
    async fn run_gives_the_closure_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        store.run(|s| s.set_state("test.x", b"1")).await.expect("written");
        assert_eq!(store.state("test.x").expect("read"), Some(b"1".to_vec()));
    }
}
