//! Turning SIGINT/SIGTERM into a cancellation token.
//!
//! The first signal starts a graceful shutdown: stop accepting, finish in-flight events,
//! flush the store, exit 0. A second signal exits at once.

use tokio_util::sync::CancellationToken;

/// Waits for SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Cancels `token` on the first signal and exits the process on the second. On unix the
/// handlers are installed before this returns, so a SIGTERM that arrives as soon as the
/// daemon answers requests is a graceful shutdown, not the default "terminate now".
pub fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::info!("shutting down: finishing in-flight events (signal again to exit now)");
                token.cancel();
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::warn!("second signal: exiting without finishing");
                std::process::exit(130);
            });
            return;
        }
    }
    tokio::spawn(async move {
        signal().await;
        tracing::info!("shutting down: finishing in-flight events (signal again to exit now)");
        token.cancel();
        signal().await;
        tracing::warn!("second signal: exiting without finishing");
        std::process::exit(130);
    });
}
