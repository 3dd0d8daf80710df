//! Reloading the rules while the daemon runs: on a change in the rules folder (a `notify`
//! watcher, debounced so an editor's save-rename-chmod dance reloads once) and on SIGHUP.
//! Both end in [`crate::config::rules::reload`], which the `/reload` admin command calls too, so every path
//! behaves the same: a good folder is swapped in atomically, a bad one is logged with
//! file:line and the old rules stay live.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::rules::RulesHandle;
use crate::domain::metrics::{Metrics, ReloadTrigger};
use crate::service::commands::reload;

/// Quiet time after the last change before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The reload triggers of one rules folder, armed: the folder watch (when enabled) and the
/// SIGHUP handler are registered when this is created, so no change after that is missed.
pub struct Reloader {
    handle: RulesHandle,
    dir: PathBuf,
    rx: mpsc::Receiver<()>,
    /// Dropping the watcher stops the OS watch; it lives as long as the reloader.
    _watcher: Option<notify::RecommendedWatcher>,
    hangup: Hangup,
    metrics: Arc<Metrics>,
    /// Where the daemon records the word lists loaded (its data directory).
    record: Option<PathBuf>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("dir", &self.dir)
            .field("watching", &self._watcher.is_some())
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Arms the triggers for `dir` (file watching only when `watch_files`). Must be called
    /// inside a tokio runtime (for the signal handler).
    #[must_use]
    pub fn new(handle: RulesHandle, dir: PathBuf, watch_files: bool) -> Self {
        let (tx, rx) = mpsc::channel::<()>(64);
        let watcher = if watch_files { start_watcher(&dir, tx) } else { None };
        Self {
            handle,
            dir,
            rx,
            _watcher: watcher,
            hangup: hangup_stream(),
            metrics: Arc::default(),
            record: None,
        }
    }

    /// Records the word lists of each successful reload in `data_dir`
    /// ([`crate::config::rules::lists`]).
    #[must_use]
    pub fn with_record(mut self, data_dir: PathBuf) -> Self {
        self.record = Some(data_dir);
        self
    }

    /// Counts reloads into `metrics` (the daemon's) instead of the reloader's own.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reloads on every trigger until `cancel`.
    pub async fn run(mut self, cancel: CancellationToken) {
        let Self {
            handle,
            dir,
            rx,
            hangup,
            metrics,
            record,
            ..
        } = &mut self;
        run_loop(handle, dir, rx, hangup, metrics, record.as_deref(), &cancel).await;
    }
}

async fn run_loop(
    handle: &RulesHandle,
    dir: &Path,
    rx: &mut mpsc::Receiver<()>,
    hangup: &mut Hangup,
    metrics: &Metrics,
    record: Option<&Path>,
    cancel: &CancellationToken,
) {
    let reloaded = |result: &Result<String, crate::service::commands::ReloadError>| {
        if result.is_ok()
            && let Some(data) = record
        {
            let names = crate::config::rules::lists::list_names(dir);
            if let Err(e) = crate::config::rules::lists::record(data, &names) {
                tracing::warn!(error = %e, "cannot record the word lists loaded");
            }
        }
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            Some(()) = rx.recv() => {
                // Debounce: wait until the folder has been quiet for DEBOUNCE.
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        more = tokio::time::timeout(DEBOUNCE, rx.recv()) => match more {
                            Ok(Some(())) => {}
                            Ok(None) | Err(_) => break,
                        },
                    }
                }
                // The outcome is logged and kept for the console; the old rules stay on error.
                reloaded(&reload_and_trim(handle, dir, ReloadTrigger::FileChange, metrics).await);
            }
            () = next_hangup(hangup) => {
                reloaded(&reload_and_trim(handle, dir, ReloadTrigger::Hangup, metrics).await);
            }
        }
    }
}

/// Reloads, and after a reload that worked gives the freed heap back (building the new
/// automaton frees far more than it keeps; see [`crate::runtime::memory`]). A `/reload`
/// command or the console's reload leave it to the periodic trim.
async fn reload_and_trim(
    handle: &RulesHandle,
    dir: &Path,
    trigger: ReloadTrigger,
    metrics: &Metrics,
) -> Result<String, crate::service::commands::ReloadError> {
    let result = reload(handle, dir, trigger, metrics).await;
    if result.is_ok() {
        crate::runtime::memory::trim();
    }
    result
}

fn start_watcher(dir: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) if is_relevant(&event) => {
            // Full channel: a reload is already pending, which is all we need.
            let _ = tx.try_send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "rules watcher error"),
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules folder; reload with SIGHUP or /reload");
            return None;
        }
    };
    // Recursive: per-group rules (`groups/<id>.md`) and rotation files of scheduled posts
    // (`posts/…`) live in subfolders.
    if let Err(e) = watcher.watch(dir, RecursiveMode::Recursive) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the rules folder; reload with SIGHUP or /reload");
        return None;
    }
    Some(watcher)
}

/// A change to a file the rules are made of (not an editor's swap or backup file).
fn is_relevant(event: &notify::Event) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.iter().any(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !name.starts_with('.') && (name.ends_with(".txt") || name.ends_with(".toml") || name.ends_with(".md"))
    })
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_stream() -> Hangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_stream() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) {
    match hangup {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending::<()>().await;
}
