//! Supervised background tasks: restarted when they fail, reported in `/readyz`.
//!
//! A task is made by a factory, so it can be made again. Each run is a tokio task of its own
//! (a panic ends that run, not the supervisor). When a run panics or reports a failure, the
//! task is marked restarting (`/readyz` fails, `qunguan_task_up` is 0) and made again after
//! a pause that doubles from [`FIRST_PAUSE`] to [`MAX_PAUSE`] (and starts over once a run
//! lasted [`STABLE_AFTER`]). A run that ends on purpose ([`Ended::Done`]) or gives up for a
//! reason a restart cannot fix ([`Ended::Down`], e.g. a token the Bot API rejects) is not
//! restarted. Cancellation stops the supervisor after the current run has stopped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::domain::logfield::panic_text;
use crate::runtime::health::{Health, TaskState};

/// Pause before the first restart.
pub const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// Longest pause between restarts.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
/// A run that lasted this long resets the pause.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

/// How one run of a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Cancelled, or its work is done.
    Done,
    /// It failed; make it again.
    Failed(String),
    /// It cannot go on, and a restart would not help.
    Down(String),
}

/// A future of one run.
pub type Run = Pin<Box<dyn Future<Output = Ended> + Send + 'static>>;

/// Runs the task `name` made by `make` until `cancel` fires; see the module docs.
pub async fn supervise(
    name: &'static str,
    health: Arc<Health>,
    cancel: CancellationToken,
    make: impl Fn(CancellationToken) -> Run + Send + 'static,
) {
    let mut restarts = 0;
    let mut pause = FIRST_PAUSE;
    loop {
        health.task(name, TaskState::Running { restarts });
        let started = Instant::now();
        let ended = match tokio::spawn(make(cancel.clone())).await {
            Ok(ended) => ended,
            Err(e) if e.is_panic() => Ended::Failed(format!("panicked: {}", panic_text(&*e.into_panic()))),
            Err(e) => Ended::Failed(e.to_string()),
        };
        if cancel.is_cancelled() {
            return;
        }
        let error = match ended {
            Ended::Done => {
                health.task(name, TaskState::Done);
                return;
            }
            Ended::Down(reason) => {
                tracing::error!(task = name, %reason, "background task stopped; it is not restarted");
                health.task(name, TaskState::Down { reason });
                return;
            }
            Ended::Failed(error) => error,
        };
        if started.elapsed() >= STABLE_AFTER {
            pause = FIRST_PAUSE;
        }
        tracing::error!(task = name, %error, restart_in = ?pause, "background task failed; restarting it");
        health.task(name, TaskState::Restarting { error, restarts });
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
        restarts += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Waits (bounded) until the task's state satisfies `want`.
    async fn wait_for(health: &Health, want: impl Fn(&TaskState) -> bool) -> TaskState {
        for _ in 0..500 {
            if let Some(state) = health.tasks().get("poller").filter(|s| want(s)) {
                return state.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the task never got there: {:?}", health.tasks());
    }

    #[tokio::test]
    async fn a_task_that_panics_is_reported_and_restarted() {
        let health = Arc::new(Health::default());
        let cancel = CancellationToken::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let supervisor = tokio::spawn(supervise(
            "poller",
            Arc::clone(&health),
            cancel.clone(),
            move |cancel| {
                let run = counted.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    assert!(run >= 1, "run {run} meets a poison update");
                    cancel.cancelled().await;
                    Ended::Done
                })
            },
        ));
        // The first run panics at once: restarting, with the panic as the reason …
        match wait_for(&health, |s| matches!(s, TaskState::Restarting { .. })).await {
            TaskState::Restarting { error, restarts: 0 } => assert!(error.contains("poison update"), "{error}"),
            other => panic!("{other:?}"),
        }
        // … and after the first pause it runs again.
        wait_for(&health, |s| *s == TaskState::Running { restarts: 1 }).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        cancel.cancel();
        supervisor.await.expect("supervisor ends");
    }

    #[tokio::test]
    async fn a_task_that_cannot_go_on_is_down_and_not_restarted() {
        let health = Arc::new(Health::default());
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        supervise("telegram", Arc::clone(&health), CancellationToken::new(), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ended::Down("the Bot API rejected the token".into()) })
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(matches!(health.tasks().get("telegram"), Some(TaskState::Down { .. })));
    }
}
