//! Wiring and lifecycle: open the store, load the rules, bind the listener, run the
//! background tasks, and shut down in one place.
//!
//! Shutdown order matters: first the listener stops accepting and in-flight requests finish
//! (their events are stored and flushed), then the background tasks stop, then the store is
//! flushed a last time.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::gateway::onebot::webhook::WebhookState;
use crate::gateway::telegram::TelegramGateway;
use crate::gateway::{GatewayError, Gateways};
use crate::outbox::OutboxWorker;
use crate::pipeline::Pipeline;
use crate::rules::{Rules, RulesError, RulesHandle};
use crate::store::{Store, StoreError};

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database could not be opened.
    #[error("cannot open the database at {path}: {source}")]
    Store {
        /// The database directory.
        path: String,
        /// The cause.
        source: StoreError,
    },
    /// The rules folder is invalid.
    #[error("invalid rules: {0}")]
    Rules(#[from] RulesError),
    /// A gateway client could not be built.
    #[error("gateway: {0}")]
    Gateway(#[from] GatewayError),
    /// The listener could not be bound or failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// A built daemon, bound to its port, not yet running.
pub struct App {
    settings: Arc<Settings>,
    listener: TcpListener,
    store: Store,
    rules: RulesHandle,
    reloader: crate::rules::watch::Reloader,
    worker: OutboxWorker,
    router: axum::Router,
    telegram: Option<TelegramGateway>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listen", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens the store, loads the rules and binds the listener.
    pub async fn build(settings: Settings, clock: SharedClock) -> Result<Self, AppError> {
        let settings = Arc::new(settings);
        let store = Store::open(&settings.storage).map_err(|source| AppError::Store {
            path: settings.storage.path.display().to_string(),
            source,
        })?;
        let rules = Rules::load(&settings.rules.dir)?;
        tracing::info!(rules = %rules.summary(), dir = %settings.rules.dir.display(), "rules loaded");
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(rules));
        // Armed now, so a change made while the daemon starts is not missed.
        let reloader =
            crate::rules::watch::Reloader::new(Arc::clone(&rules), settings.rules.dir.clone(), settings.rules.watch);
        let gateways = Gateways::with_clock(&settings, Arc::clone(&clock))?;
        let worker = OutboxWorker::new(store.clone(), gateways.clone(), Arc::clone(&clock));
        let pipeline = Arc::new(Pipeline::new(
            Arc::clone(&settings),
            Arc::clone(&rules),
            store.clone(),
            gateways.clone(),
            Arc::clone(&clock),
            worker.waker(),
        ));
        let onebot = settings.gateway.onebot.enabled.then(|| WebhookState {
            pipeline: Arc::clone(&pipeline),
            secret: settings.gateway.onebot.secret.clone(),
        });
        let telegram = gateways.telegram().map(|client| {
            TelegramGateway::new(
                &settings.gateway.telegram,
                client,
                Arc::clone(&pipeline),
                store.clone(),
                clock,
            )
        });
        let router = crate::server::router(&settings, onebot, telegram.as_ref().and_then(TelegramGateway::webhook));
        let addr = settings.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        Ok(Self {
            settings,
            listener,
            store,
            rules,
            reloader,
            worker,
            router,
            telegram,
        })
    }

    /// The address the listener is bound to (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.server.listen)
    }

    /// The live rules (for reloads).
    #[must_use]
    pub fn rules(&self) -> RulesHandle {
        Arc::clone(&self.rules)
    }

    /// Runs until `shutdown` fires, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let Self {
            settings,
            listener,
            store,
            rules: _,
            reloader,
            worker,
            router,
            telegram,
        } = self;
        let addr = listener.local_addr().map_err(|source| AppError::Listen {
            addr: settings.server.listen,
            source,
        })?;
        tracing::info!(%addr, webhook = %settings.gateway.onebot.webhook_path, "qunguan listening");

        let background = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(worker.run(background.clone()));
        if let Some(telegram) = telegram {
            tasks.spawn(telegram.run(background.clone()));
        }
        tasks.spawn(reloader.run(background.clone()));

        let grace = settings.server.shutdown_grace.get();
        let server = axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let served = tokio::select! {
            result = server => result.map_err(AppError::Serve),
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "requests still in flight after the grace period; stopping anyway");
                Ok(())
            }
        };

        background.cancel();
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        let flushed = tokio::task::spawn_blocking(move || store.flush_blocking()).await;
        match flushed {
            Ok(Ok(())) => tracing::info!("store flushed; bye"),
            Ok(Err(e)) => tracing::error!(error = %e, "final flush failed"),
            Err(e) => tracing::error!(error = %e, "final flush task failed"),
        }
        served
    }
}
