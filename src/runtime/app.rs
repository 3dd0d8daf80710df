//! Wiring and lifecycle: open the store, load the rules, bind the listener, run the
//! background tasks, and shut down in one place.
//!
//! Background tasks: the outbox worker, the scheduler (scheduled posts), the welcome greeter
//! (batched welcomes), the store's sweep (expired seen keys, strike records, old audit cases,
//! old joins), the inactivity sweep (reminders, optional removal), the control socket the
//! CLI's `backup`/`audit`/`stats` use, the group statistics' periodic write, and the admin
//! listener (`/metrics`, `/healthz`, `/readyz`, `/stats/<group>`, the console and its API). Every task is spawned into
//! one tracked set and awaited at shutdown.
//!
//! Shutdown order matters: first the listener stops accepting and in-flight requests finish
//! (their events are stored and flushed), then the background tasks stop (the outbox worker
//! finishes the calls in flight, the statistics are written once more), then the store is
//! flushed a last time. `/readyz` turns 503 as soon as shutdown begins; the admin listener
//! itself stops with the background tasks, so `/healthz` answers during the drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules, RulesError, RulesHandle};
use crate::domain::clock::SharedClock;
use crate::domain::metrics::Metrics;
use crate::domain::sink::{CursorStore, EventSink};
use crate::gateway::onebot::webhook::WebhookState;
use crate::gateway::telegram::TelegramGateway;
use crate::gateway::{GatewayError, Gateways};
use crate::service::outbox::OutboxWorker;
use crate::service::pipeline::Pipeline;
use crate::service::scheduler::Scheduler;
use crate::service::stats::GroupStats;
use crate::service::welcome::Greeter;
use crate::store::{Store, StoreError, SweepPolicy};

/// How often the store's sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

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
    reloader: crate::runtime::reload::Reloader,
    worker: OutboxWorker,
    router: axum::Router,
    telegram: Option<TelegramGateway>,
    pipeline: Arc<Pipeline>,
    clock: SharedClock,
    #[cfg(unix)]
    control: Option<crate::runtime::control::ControlServer>,
    admin: Option<TcpListener>,
    metrics: Arc<Metrics>,
    stats: Arc<GroupStats>,
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
        let gateways = Gateways::with_clock(&settings, Arc::clone(&clock))?;
        Self::build_with_gateways(settings, clock, gateways).await
    }

    /// Like [`App::build`], delivering through `gateways` instead of the configured clients
    /// (`qunguan demo` passes its printing client).
    pub async fn build_with_gateways(
        settings: Settings,
        clock: SharedClock,
        gateways: Gateways,
    ) -> Result<Self, AppError> {
        let settings = Arc::new(settings);
        let store = Store::open(&settings.storage).map_err(|source| AppError::Store {
            path: settings.storage.path.display().to_string(),
            source,
        })?;
        let options = LoadOptions {
            clock: Some(Arc::clone(&clock)),
            ..LoadOptions::from(&*settings)
        };
        let rules = Rules::load_with(&settings.rules.dir, &options)?;
        tracing::info!(rules = %rules.summary(), dir = %settings.rules.dir.display(), "rules loaded");
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(rules));
        // Armed now, so a change made while the daemon starts is not missed.
        let reloader =
            crate::runtime::reload::Reloader::new(Arc::clone(&rules), settings.rules.dir.clone(), settings.rules.watch);
        let metrics = Arc::new(Metrics::default());
        let stats = Arc::new(GroupStats::new(&settings.stats));
        let reloader = reloader.with_metrics(Arc::clone(&metrics));
        let worker = OutboxWorker::new(store.clone(), gateways.clone(), Arc::clone(&clock), &settings.outbox)
            .map_err(|source| AppError::Store {
                path: settings.storage.path.display().to_string(),
                source,
            })?
            .with_metrics(Arc::clone(&metrics));
        let pipeline = Arc::new(
            Pipeline::new(
                Arc::clone(&settings),
                Arc::clone(&rules),
                store.clone(),
                Arc::clone(&clock),
                worker.handle(),
            )
            .with_observers(Arc::clone(&metrics), Arc::clone(&stats)),
        );
        let onebot = settings.gateway.onebot.enabled.then(|| WebhookState {
            sink: Arc::clone(&pipeline) as Arc<dyn EventSink>,
            secret: settings.gateway.onebot.secret.clone(),
        });
        let telegram = gateways.telegram().map(|client| {
            TelegramGateway::new(
                &settings.gateway.telegram,
                client,
                Arc::clone(&pipeline) as Arc<dyn EventSink>,
                Arc::new(store.clone()) as Arc<dyn CursorStore>,
                Arc::clone(&clock),
            )
        });
        let router =
            crate::runtime::server::router(&settings, onebot, telegram.as_ref().and_then(TelegramGateway::webhook));
        let router = crate::runtime::server::timed(router, &settings, Arc::clone(&metrics));
        let addr = settings.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        let admin = match settings.server.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| AppError::Listen { addr, source })?,
            ),
            None => None,
        };
        #[cfg(unix)]
        let control = match crate::runtime::control::ControlServer::bind(&settings.storage.path) {
            Ok(server) => Some(server),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    dir = %settings.storage.path.display(),
                    "cannot open the control socket; `qunguan backup` and `audit` will not reach this daemon"
                );
                None
            }
        };
        Ok(Self {
            settings,
            listener,
            store,
            rules,
            reloader,
            worker,
            router,
            telegram,
            pipeline,
            clock,
            #[cfg(unix)]
            control,
            admin,
            metrics,
            stats,
        })
    }

    /// The address the admin listener is bound to, if it is on.
    #[must_use]
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address the listener is bound to (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.server.listen)
    }

    /// The event pipeline (the demo feeds it directly; tests reach its inactivity sweep).
    #[must_use]
    pub fn pipeline(&self) -> Arc<Pipeline> {
        Arc::clone(&self.pipeline)
    }

    /// The database (the demo waits for its outbox to drain).
    #[must_use]
    pub fn store(&self) -> Store {
        self.store.clone()
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
            rules,
            reloader,
            worker,
            router,
            telegram,
            pipeline,
            clock,
            #[cfg(unix)]
            control,
            admin,
            metrics,
            stats,
        } = self;
        let addr = listener.local_addr().map_err(|source| AppError::Listen {
            addr: settings.server.listen,
            source,
        })?;
        tracing::info!(%addr, webhook = %settings.gateway.onebot.webhook_path, "qunguan listening");

        let started = std::time::Instant::now();
        let background = CancellationToken::new();
        let tasks = TaskTracker::new();
        let scheduler = Scheduler::new(
            store.clone(),
            rules,
            Arc::clone(&clock),
            settings.schedule.clone(),
            worker.handle(),
            pipeline.scheduler_wake(),
        )
        .with_passes(pipeline.scheduler_passes())
        .with_engagement(Arc::clone(pipeline.engagement()));
        let greeter = Greeter::new(
            store.clone(),
            pipeline.welcomer().clone(),
            Arc::clone(&clock),
            worker.handle(),
            pipeline.greeter_wake(),
        )
        .with_passes(pipeline.greeter_passes());
        tasks.spawn(watch_gateways(
            worker.handle(),
            Arc::clone(&metrics),
            background.clone(),
        ));
        tasks.spawn(worker.run(background.clone()));
        tasks.spawn(scheduler.run(background.clone()));
        tasks.spawn(greeter.run(background.clone()));
        if let Some(telegram) = telegram {
            tasks.spawn(telegram.run(background.clone()));
        }
        tasks.spawn(reloader.run(background.clone()));
        tasks.spawn(inactivity_periodically(
            Arc::clone(pipeline.inactivity()),
            settings.inactivity.check_every.get(),
            background.clone(),
        ));
        tasks.spawn(engagement_periodically(
            Arc::clone(pipeline.engagement()),
            Arc::clone(pipeline.inactivity()),
            clock.clone(),
            settings.engagement.check_every(),
            background.clone(),
        ));
        tasks.spawn(Arc::clone(&stats).run(
            store.clone(),
            clock.clone(),
            Arc::clone(&metrics),
            settings.stats.flush_every.get(),
            (settings.stats.retention.as_secs() > 0).then(|| settings.stats.retention.get()),
            background.clone(),
        ));
        if let Some(admin) = admin {
            let auth = Arc::new(crate::runtime::console::auth::Auth::new(
                settings.console.clone(),
                clock.clone(),
                Arc::clone(&metrics),
            ));
            let state = crate::runtime::admin::AdminState {
                metrics: Arc::clone(&metrics),
                store: store.clone(),
                rules: Arc::clone(pipeline.rules()),
                clock: clock.clone(),
                reporter: pipeline.reporter(),
                stopping: shutdown.clone(),
                auth: Arc::clone(&auth),
                platforms: pipeline.reporter().outbox.platforms(),
                gateway_unready_after: settings.gateway.unready_after.get(),
            };
            let console = crate::runtime::console::ConsoleState {
                settings: Arc::clone(&settings),
                store: store.clone(),
                rules: Arc::clone(pipeline.rules()),
                pipeline: Arc::clone(&pipeline),
                metrics: Arc::clone(&metrics),
                clock: clock.clone(),
                auth,
                started,
            };
            let admin_addr = admin.local_addr().map(|a| a.to_string()).ok();
            tracing::info!(
                addr = admin_addr.as_deref(),
                console = !settings.console.password_hash.is_empty(),
                api_token = !settings.console.api_token.is_empty(),
                "admin listener: /metrics /healthz /readyz /stats/<group> /console/ /api/v1/"
            );
            let router = crate::runtime::admin::router(state, console);
            let served = axum::serve(admin, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(background.clone().cancelled_owned());
            tasks.spawn(async move {
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "admin listener failed");
                }
            });
        }
        tasks.spawn(sweep_periodically(
            store.clone(),
            clock.clone(),
            Arc::clone(&settings),
            Arc::clone(&pipeline),
            background.clone(),
        ));
        #[cfg(unix)]
        if let Some(control) = control {
            tracing::info!(socket = %control.path().display(), "control socket ready");
            let control = control.with_stats(Arc::clone(&stats));
            tasks.spawn(control.run(store.clone(), clock, background.clone()));
        }

        let grace = settings.server.shutdown_grace.get();
        let server = axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let served = tokio::select! {
            result = server => result.map_err(AppError::Serve),
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; stopping anyway");
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

/// Runs the store's sweep at start and then every [`SWEEP_EVERY`], off the async threads.
async fn sweep_periodically(
    store: Store,
    clock: SharedClock,
    settings: Arc<Settings>,
    pipeline: Arc<Pipeline>,
    cancel: CancellationToken,
) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        let (store, clock, settings, pipeline) = (
            store.clone(),
            clock.clone(),
            Arc::clone(&settings),
            Arc::clone(&pipeline),
        );
        let swept = tokio::task::spawn_blocking(move || {
            let retention = settings.storage.audit_retention;
            let strike_ttl = |group| pipeline.policies().strike_ttl(group);
            let policy = SweepPolicy {
                seen_ttl: settings.storage.seen_ttl.get(),
                audit_retention: (retention.as_secs() > 0).then(|| retention.get()),
                strike_ttl: &strike_ttl,
            };
            let report = store.sweep(clock.now(), &policy)?;
            let rejoin = settings.welcome.rejoin_window.get();
            let joins = store.sweep_joins(clock.now(), rejoin)?;
            Ok::<_, StoreError>((report, joins))
        })
        .await;
        match swept {
            Ok(Ok((report, joins))) => tracing::debug!(
                seen = report.seen,
                strikes = report.strikes,
                cases = report.cases,
                dead = report.dead,
                joins,
                "store swept"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "store sweep failed"),
            Err(e) => tracing::error!(error = %e, "store sweep task failed"),
        }
    }
}

/// Writes noted message times every [`crate::service::inactivity::FLUSH_EVERY`] and once more at
/// shutdown (before the final store flush); runs the inactivity sweep at start and then every
/// `[inactivity] check_every`.
async fn inactivity_periodically(
    inactivity: Arc<crate::service::inactivity::Inactivity>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut sweep = tokio::time::interval(every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every_flush = crate::service::inactivity::FLUSH_EVERY;
    let mut flush = tokio::time::interval_at(tokio::time::Instant::now() + every_flush, every_flush);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = sweep.tick() => match inactivity.sweep().await {
                Ok(swept) => tracing::debug!(
                    posts = swept.posts,
                    reminded = swept.reminded,
                    removed = swept.removed,
                    "inactivity swept"
                ),
                Err(e) => tracing::error!(error = %e, "inactivity sweep failed"),
            },
            _ = flush.tick() => flush_activity(&inactivity).await,
        }
    }
    flush_activity(&inactivity).await;
}

/// Writes the noted message times, off the async threads.
async fn flush_activity(inactivity: &Arc<crate::service::inactivity::Inactivity>) {
    let inactivity = Arc::clone(inactivity);
    match tokio::task::spawn_blocking(move || inactivity.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot write member activity (潜水 tracking)"),
        Err(e) => tracing::error!(error = %e, "the member activity flush task failed"),
    }
}

/// How often a failing gateway is asked again whether it answers (so `/readyz` recovers
/// without traffic).
const GATEWAY_REPROBE: std::time::Duration = std::time::Duration::from_secs(30);

/// Asks every configured gateway at start whether it answers, and says clearly when one does
/// not (the daemon still runs: actions wait in the outbox and are retried). While a gateway
/// keeps failing, asks it again every [`GATEWAY_REPROBE`], so `/readyz` turns ready again once
/// it answers even when no action is waiting. Results go to the same record as the outbox's
/// deliveries.
async fn watch_gateways(
    outbox: crate::service::outbox::OutboxHandle,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let platforms = outbox.platforms();
    let mut first = true;
    loop {
        for &platform in &platforms {
            if !first && metrics.gateway_seen(platform).failing_since.is_none() {
                continue;
            }
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                result = outbox.probe(platform) => result,
            };
            let error = result.as_ref().err().map(ToString::to_string);
            match (&error, first) {
                (Some(e), true) => tracing::warn!(
                    platform = platform.prefix(),
                    error = %e,
                    "the gateway cannot be reached at start; actions wait in the outbox and are retried until it answers"
                ),
                (None, true) => tracing::info!(platform = platform.prefix(), "the gateway answers"),
                (None, false) => tracing::info!(platform = platform.prefix(), "the gateway answers again"),
                (Some(_), false) => {}
            }
            metrics.gateway_call(platform, error.as_deref());
        }
        first = false;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(GATEWAY_REPROBE) => {}
        }
    }
}

/// Writes noted message points every [`crate::service::engagement::FLUSH_EVERY`] and once more at
/// shutdown (before the final store flush); looks at the tier alerts every `[engagement]
/// check_every`.
async fn engagement_periodically(
    engagement: Arc<crate::service::engagement::Engagement>,
    inactivity: Arc<crate::service::inactivity::Inactivity>,
    clock: SharedClock,
    every: Duration,
    cancel: CancellationToken,
) {
    // The first look after `every`, not at start: a restart is no reason to alert.
    let mut alerts = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    alerts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every_flush = crate::service::engagement::FLUSH_EVERY;
    let mut flush = tokio::time::interval_at(tokio::time::Instant::now() + every_flush, every_flush);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = alerts.tick() => match engagement.alert_sweep(&inactivity).await {
                Ok(sent) => tracing::debug!(alerts = sent, "tier alerts looked at"),
                Err(e) => tracing::error!(error = %e, "tier alert check failed"),
            },
            _ = flush.tick() => flush_points(&engagement, &clock).await,
        }
    }
    flush_points(&engagement, &clock).await;
}

/// Writes the noted message points, off the async threads.
async fn flush_points(engagement: &Arc<crate::service::engagement::Engagement>, clock: &SharedClock) {
    let (engagement, now) = (Arc::clone(engagement), clock.now());
    match tokio::task::spawn_blocking(move || engagement.flush(now)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot write message points"),
        Err(e) => tracing::error!(error = %e, "the message points flush task failed"),
    }
}
