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
//! flushed a last time and the clean shutdown is recorded ([`crate::store::integrity`]).
//! `/readyz` turns 503 as soon as shutdown begins; the admin listener itself stops with the
//! background tasks, so `/healthz` answers during the drain.
//!
//! Robustness wiring: the store is opened with its integrity check; every transport hands its
//! events to one `GuardedSink`; the outbox worker, the Telegram gateway, the scheduler, the
//! greeter and the periodic jobs are `supervise`d; both listeners are bounded
//! (`crate::runtime::listen`); and the store `watchdog` recovers the store after write
//! errors and, when a write hangs, makes [`App::run`] return [`AppError::Stalled`] at once
//! (no graceful shutdown: it would wait on the hung store).

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
use crate::runtime::guard::GuardedSink;
use crate::runtime::health::Health;
use crate::runtime::listen::{Connections, Limits};
use crate::runtime::supervise::{Ended, supervise};
use crate::runtime::watchdog;
use crate::service::accounts::{AccountSink, Roster};
use crate::service::gate::GateKeeper;
use crate::service::outbox::OutboxWorker;
use crate::service::pipeline::Pipeline;
use crate::service::scheduler::Scheduler;
use crate::service::stats::GroupStats;
use crate::service::welcome::Greeter;
use crate::store::integrity::Damage;
use crate::store::{Store, StoreError, SweepPolicy};

/// Connections the admin listener keeps open at once (it has few clients: a scraper, a
/// healthcheck, an operator).
const ADMIN_CONNECTIONS: usize = 64;

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
    /// The database is damaged (see [`crate::store::integrity`]).
    #[error("{0}")]
    Damaged(Damage),
    /// The store watchdog gave up on a hung write; restart the process.
    #[error("{0}")]
    Stalled(String),
}

/// How to start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Start on a database that failed its integrity check (`qunguan run --accept-damaged`).
    pub accept_damaged: bool,
    /// The `qunguan` executable, to make a compaction's copy in a process of its own
    /// ([`crate::store::compact`]); `None`: in this process.
    pub copier: Option<std::path::PathBuf>,
}

fn store_error(settings: &Settings, source: StoreError) -> AppError {
    match source {
        StoreError::Damaged(damage) => AppError::Damaged(damage),
        source => AppError::Store {
            path: settings.storage.path.display().to_string(),
            source,
        },
    }
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
    /// One per Telegram bot.
    telegram: Vec<TelegramGateway>,
    pipeline: Arc<Pipeline>,
    clock: SharedClock,
    #[cfg(unix)]
    control: Option<crate::runtime::control::ControlServer>,
    admin: Option<TcpListener>,
    metrics: Arc<Metrics>,
    stats: Arc<GroupStats>,
    gateways: Gateways,
    health: Arc<Health>,
    /// Makes a compaction's copy in a process of its own ([`StartOptions::copier`]).
    copier: Option<Arc<std::path::Path>>,
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
        Self::build_with_options(settings, clock, gateways, StartOptions::default()).await
    }

    /// Like [`App::build_with_gateways`], started as `options` say.
    pub async fn build_with_options(
        settings: Settings,
        clock: SharedClock,
        gateways: Gateways,
        options: StartOptions,
    ) -> Result<Self, AppError> {
        let settings = Arc::new(settings);
        let storage = settings.storage.clone();
        let accept_damaged = options.accept_damaged;
        let copier = options.copier.map(Arc::<std::path::Path>::from);
        let opened = tokio::task::spawn_blocking(move || Store::open_checked(&storage, accept_damaged))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))
            .and_then(|opened| opened);
        let (store, _accepted) = opened.map_err(|e| store_error(&settings, e))?;
        let options = LoadOptions {
            clock: Some(Arc::clone(&clock)),
            ..LoadOptions::from(&*settings)
        };
        let rules = Rules::load_with(&settings.rules.dir, &options)?;
        tracing::info!(rules = %rules.summary(), dir = %settings.rules.dir.display(), "rules loaded");
        record_word_lists(&settings, true);
        crate::runtime::memory::trim();
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(rules));
        // Armed now, so a change made while the daemon starts is not missed.
        let reloader =
            crate::runtime::reload::Reloader::new(Arc::clone(&rules), settings.rules.dir.clone(), settings.rules.watch)
                .with_record(settings.storage.path.clone());
        let metrics = Arc::new(Metrics::default());
        let stats = Arc::new(GroupStats::new(&settings.stats));
        let reloader = reloader.with_metrics(Arc::clone(&metrics));
        let roster = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || Roster::load(&store))
                .await
                .map_err(|e| StoreError::Join(e.to_string()))
                .and_then(|loaded| loaded)
                .map_err(|e| store_error(&settings, e))?
        };
        let roster = Arc::new(roster);
        let worker = {
            let (store, gateways, clock, outbox, limits) = (
                store.clone(),
                gateways.clone(),
                Arc::clone(&clock),
                settings.outbox.clone(),
                settings.limits,
            );
            tokio::task::spawn_blocking(move || OutboxWorker::new(store, gateways, clock, (&outbox, &limits)))
                .await
                .map_err(|e| StoreError::Join(e.to_string()))
                .and_then(|built| built)
                .map_err(|e| store_error(&settings, e))?
                .with_metrics(Arc::clone(&metrics))
                .with_roster(Arc::clone(&roster))
        };
        let learning = {
            let (learning, store, metrics, rules) = (
                settings.learning.clone(),
                store.clone(),
                Arc::clone(&metrics),
                rules.load_full(),
            );
            tokio::task::spawn_blocking(move || {
                crate::service::learning::Learning::load(&learning, store, metrics, &rules)
            })
            .await
            .map_err(|e| StoreError::Join(e.to_string()))
            .and_then(|built| built)
            .map_err(|e| store_error(&settings, e))?
        };
        let bans = crate::runtime::bans::load(&settings, store.clone(), Arc::clone(&metrics))
            .await
            .map_err(|e| store_error(&settings, e))?;
        let pipeline = Arc::new(
            Pipeline::new(
                Arc::clone(&settings),
                Arc::clone(&rules),
                store.clone(),
                Arc::clone(&clock),
                worker.handle(),
            )
            .with_observers(Arc::clone(&metrics), Arc::clone(&stats))
            .with_learning(Arc::new(learning))
            .with_bans(bans),
        );
        let health = Arc::new(Health::default());
        // Every transport hands its events to the guarded sink, never to the pipeline itself;
        // behind the guard, the account sink keeps the roster of accounts per group and hands
        // the pipeline only the keeper's sighting of each event.
        let accounts: Arc<dyn EventSink> = Arc::new(AccountSink::new(
            Arc::clone(&pipeline) as Arc<dyn EventSink>,
            Arc::clone(&roster),
            store.clone(),
            worker.handle(),
        ));
        let sink: Arc<dyn EventSink> = Arc::new(GuardedSink::new(
            accounts,
            store.clone(),
            Arc::clone(&clock),
            Arc::clone(&health),
            settings.server.max_event_age.get(),
            settings.storage.watchdog.get(),
        ));
        let onebot = settings
            .gateway
            .onebot
            .enabled
            .then(|| WebhookState::new(&settings.gateway.onebot, Arc::clone(&sink)));
        let listed_bots = !settings.gateway.telegram.bots.is_empty();
        let telegram: Vec<TelegramGateway> = settings
            .gateway
            .telegram
            .bots()
            .into_iter()
            .filter_map(|bot| {
                let client = gateways.telegram_bot(bot.settings.bot_id()?)?;
                let gateway = TelegramGateway::new(
                    &bot.settings,
                    client,
                    Arc::clone(&sink),
                    Arc::new(store.clone()) as Arc<dyn CursorStore>,
                    Arc::clone(&clock),
                )
                .with_limits(&settings.limits);
                Some(if listed_bots {
                    let name = crate::gateway::telegram::polling::offset_state(gateway.bot_id());
                    gateway.with_offset_name(name)
                } else {
                    gateway
                })
            })
            .collect();
        for bound in telegram.iter().flat_map(TelegramGateway::bounds) {
            metrics.track(bound);
        }
        metrics.track(roster.bound());
        store.limit_trust_cache(settings.limits.trust_members);
        store.limit_dead_letters(settings.limits.dead_letters);
        store.set_flush_linger(crate::store::FlushLinger {
            patience: Duration::from_micros(settings.storage.flush_linger_us),
            waiters: settings.storage.flush_linger_waiters,
        });
        metrics.track(store.trust_cache());
        let webhooks: Vec<(String, crate::gateway::telegram::WebhookState)> = telegram
            .iter()
            .filter_map(|t| Some((t.webhook_path()?.to_owned(), t.webhook()?)))
            .collect();
        let router =
            crate::runtime::server::router(&settings, onebot, webhooks, Arc::clone(&metrics), Arc::clone(&health));
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
            gateways,
            health,
            copier,
        })
    }

    /// The daemon's health state (tasks, refusals, the watchdog).
    #[must_use]
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
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

    /// Runs until `shutdown` fires, then shuts down gracefully; or, when the store watchdog
    /// gives up on a hung write, returns [`AppError::Stalled`] right away.
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
            gateways,
            health,
            copier,
        } = self;
        let addr = listener.local_addr().map_err(|source| AppError::Listen {
            addr: settings.server.listen,
            source,
        })?;
        tracing::info!(%addr, webhook = %settings.gateway.onebot.webhook_path, "qunguan listening");

        let started = std::time::Instant::now();
        let background = CancellationToken::new();
        // The watch outlives the background tasks: it guards the final flush too.
        let watching = CancellationToken::new();
        let tripped = CancellationToken::new();
        let tasks = TaskTracker::new();
        let watch = tokio::spawn(watchdog::watch_store(
            store.clone(),
            Arc::clone(&health),
            settings.storage.watchdog.get(),
            tripped.clone(),
            watching.clone(),
        ));
        let outbox = worker.handle();
        let wake = worker.waker();
        let settling = worker.settling();
        tasks.spawn(watch_gateways(outbox.clone(), Arc::clone(&metrics), background.clone()));
        let first = std::sync::Mutex::new(Some(worker));
        {
            let (store, gateways, clock, metrics) = (store.clone(), gateways, clock.clone(), Arc::clone(&metrics));
            let (settings, limits) = (settings.outbox.clone(), settings.limits);
            let roster = Arc::clone(outbox.roster());
            let settling = Arc::clone(&settling);
            tasks.spawn(supervise(
                "outbox worker",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let first = first.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                    let (store, gateways, clock, settings, limits, wake, metrics) = (
                        store.clone(),
                        gateways.clone(),
                        clock.clone(),
                        settings.clone(),
                        limits,
                        Arc::clone(&wake),
                        Arc::clone(&metrics),
                    );
                    let (roster, settling) = (Arc::clone(&roster), Arc::clone(&settling));
                    Box::pin(async move {
                        let worker = match first {
                            Some(worker) => worker,
                            None => {
                                let built = tokio::task::spawn_blocking(move || {
                                    OutboxWorker::with_wake(store, gateways, clock, (&settings, &limits), wake)
                                })
                                .await;
                                match built {
                                    Ok(Ok(worker)) => {
                                        worker.with_metrics(metrics).with_roster(roster).with_settling(settling)
                                    }
                                    Ok(Err(e)) => return Ended::Failed(e.to_string()),
                                    Err(e) => return Ended::Failed(e.to_string()),
                                }
                            }
                        };
                        worker.run(cancel).await;
                        Ended::Done
                    })
                },
            ));
        }
        {
            let (store, rules, clock, schedule, outbox, wake) = (
                store.clone(),
                rules,
                clock.clone(),
                settings.schedule.clone(),
                outbox.clone(),
                pipeline.scheduler_wake(),
            );
            let passes = pipeline.scheduler_passes();
            let engagement = Arc::clone(pipeline.engagement());
            tasks.spawn(supervise(
                "scheduler",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let scheduler = Scheduler::new(
                        store.clone(),
                        Arc::clone(&rules),
                        clock.clone(),
                        schedule.clone(),
                        outbox.clone(),
                        Arc::clone(&wake),
                    )
                    .with_passes(Arc::clone(&passes))
                    .with_engagement(Arc::clone(&engagement));
                    Box::pin(async move {
                        scheduler.run(cancel).await;
                        Ended::Done
                    })
                },
            ));
        }
        {
            let (store, welcomer, clock, outbox, wake) = (
                store.clone(),
                pipeline.welcomer().clone(),
                clock.clone(),
                outbox.clone(),
                pipeline.greeter_wake(),
            );
            let passes = pipeline.greeter_passes();
            tasks.spawn(supervise(
                "welcome greeter",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let greeter = Greeter::new(
                        store.clone(),
                        welcomer.clone(),
                        clock.clone(),
                        outbox.clone(),
                        Arc::clone(&wake),
                    )
                    .with_passes(Arc::clone(&passes));
                    Box::pin(async move {
                        greeter.run(cancel).await;
                        Ended::Done
                    })
                },
            ));
        }
        {
            let (gate, outbox) = (Arc::clone(pipeline.gate()), outbox.clone());
            tasks.spawn(supervise(
                "gate keeper",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let keeper = GateKeeper::new(Arc::clone(&gate), outbox.clone());
                    Box::pin(async move {
                        keeper.run(cancel).await;
                        Ended::Done
                    })
                },
            ));
        }
        let listed_bots = !settings.gateway.telegram.bots.is_empty();
        for telegram in telegram {
            // A listed bot's task is named after it; the name lives as long as the process
            // (one short string per configured bot, made once at start).
            let name: &'static str = if listed_bots {
                Box::leak(format!("telegram tg:{}", telegram.bot_id()).into_boxed_str())
            } else {
                "telegram"
            };
            tasks.spawn(supervise(
                name,
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let telegram = telegram.clone();
                    Box::pin(async move {
                        match telegram.run(cancel).await {
                            Ok(()) => Ended::Done,
                            Err(reason) => Ended::Down(reason),
                        }
                    })
                },
            ));
        }
        if !settings.bans.subscribe.is_empty() {
            let refresher = crate::runtime::bans::refresher(Arc::clone(pipeline.bans()), &settings);
            tasks.spawn(supervise(
                "ban lists",
                Arc::clone(&health),
                background.clone(),
                refresher,
            ));
        }
        tasks.spawn(reloader.run(background.clone()));
        {
            let metrics = Arc::clone(&metrics);
            tasks.spawn(crate::runtime::memory::trim_and_release_periodically(
                background.clone(),
                settings.limits.release_program_pages,
                move || metrics.events_received(),
            ));
        }
        {
            let (inactivity, every) = (Arc::clone(pipeline.inactivity()), settings.inactivity.check_every.get());
            let counts = store.clone();
            tasks.spawn(supervise(
                "inactivity",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let inactivity = Arc::clone(&inactivity);
                    let counts = counts.clone();
                    Box::pin(async move {
                        inactivity_periodically(inactivity, counts, every, cancel).await;
                        Ended::Done
                    })
                },
            ));
        }
        {
            let (engagement, inactivity, clock, every) = (
                Arc::clone(pipeline.engagement()),
                Arc::clone(pipeline.inactivity()),
                clock.clone(),
                settings.engagement.check_every(),
            );
            tasks.spawn(supervise(
                "engagement",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let run = engagement_periodically(
                        Arc::clone(&engagement),
                        Arc::clone(&inactivity),
                        clock.clone(),
                        every,
                        cancel,
                    );
                    Box::pin(async move {
                        run.await;
                        Ended::Done
                    })
                },
            ));
        }
        {
            let (stats, store, clock, metrics) =
                (Arc::clone(&stats), store.clone(), clock.clone(), Arc::clone(&metrics));
            let (every, retention) = (
                settings.stats.flush_every.get(),
                (settings.stats.retention.as_secs() > 0).then(|| settings.stats.retention.get()),
            );
            tasks.spawn(supervise(
                "statistics",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let run = Arc::clone(&stats).run(
                        store.clone(),
                        clock.clone(),
                        Arc::clone(&metrics),
                        every,
                        retention,
                        cancel,
                    );
                    Box::pin(async move {
                        run.await;
                        Ended::Done
                    })
                },
            ));
        }
        let limits = Limits {
            max_connections: settings.server.max_connections,
            header_timeout: settings.server.header_timeout.get(),
            idle_timeout: settings.server.idle_timeout.get(),
        };
        let public_connections = Arc::new(Connections::default());
        if let Some(admin) = admin {
            let auth = Arc::new(
                crate::runtime::console::auth::Auth::new(settings.console.clone(), clock.clone(), Arc::clone(&metrics))
                    .with_limits(
                        settings.limits.console_sessions,
                        settings.limits.console_login_addresses,
                    ),
            );
            for bound in auth.bounds() {
                metrics.track(bound);
            }
            let admin_connections = Arc::new(Connections::default());
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
                health: Arc::clone(&health),
                connections: vec![
                    ("webhook", Arc::clone(&public_connections)),
                    ("admin", Arc::clone(&admin_connections)),
                ],
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
            let router =
                crate::runtime::server::guarded(crate::runtime::admin::router(state, console), Arc::clone(&health));
            tasks.spawn(crate::runtime::listen::serve(
                admin,
                router,
                Limits {
                    max_connections: ADMIN_CONNECTIONS,
                    ..limits
                },
                Arc::clone(&health),
                admin_connections,
                background.clone(),
            ));
        }
        {
            let (store, clock, settings, pipeline, copier) = (
                store.clone(),
                clock.clone(),
                Arc::clone(&settings),
                Arc::clone(&pipeline),
                copier.clone(),
            );
            tasks.spawn(supervise(
                "store sweep",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let run = sweep_periodically(
                        store.clone(),
                        clock.clone(),
                        Arc::clone(&settings),
                        Arc::clone(&pipeline),
                        copier.clone(),
                        cancel,
                    );
                    Box::pin(async move {
                        run.await;
                        Ended::Done
                    })
                },
            ));
        }
        {
            let (store, hot) = (store.clone(), settings.audit.hot_cases);
            tasks.spawn(supervise(
                "audit mover",
                Arc::clone(&health),
                background.clone(),
                move |cancel| {
                    let run = move_cases_periodically(store.clone(), hot, cancel);
                    Box::pin(async move {
                        run.await;
                        Ended::Done
                    })
                },
            ));
        }
        #[cfg(unix)]
        if let Some(control) = control {
            tracing::info!(socket = %control.path().display(), "control socket ready");
            let control = control
                .with_stats(Arc::clone(&stats))
                .with_learning(Arc::clone(pipeline.learning()), Arc::clone(pipeline.rules()))
                .with_bans(Arc::clone(pipeline.bans()))
                .with_deliveries(Arc::clone(&settling));
            tasks.spawn(control.run(store.clone(), clock, background.clone()));
        }

        let grace = settings.server.shutdown_grace.get();
        let server = crate::runtime::listen::serve(
            listener,
            router,
            limits,
            Arc::clone(&health),
            public_connections,
            shutdown.clone(),
        );
        let stalled = || async {
            tripped.cancelled().await;
            health.stalled().unwrap_or_else(|| "the store watchdog gave up".into())
        };
        tokio::select! {
            () = server => {}
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; stopping anyway");
            }
            reason = stalled() => return Err(stop_stalled(reason, &background).await),
        }

        background.cancel();
        tasks.close();
        tokio::select! {
            waited = tokio::time::timeout(grace, tasks.wait()) => if waited.is_err() {
                tracing::warn!("background tasks did not stop in time");
            },
            reason = stalled() => return Err(stop_stalled(reason, &background).await),
        }
        let closing = store.clone();
        let closed = tokio::task::spawn_blocking(move || closing.close_clean());
        tokio::select! {
            closed = closed => match closed {
                Ok(Ok(())) => tracing::info!("store flushed; bye"),
                Ok(Err(e)) => tracing::error!(error = %e, "final flush failed"),
                Err(e) => tracing::error!(error = %e, "final flush task failed"),
            },
            reason = stalled() => return Err(stop_stalled(reason, &background).await),
        }
        watching.cancel();
        let _ = watch.await;
        Ok(())
    }
}

/// Warns about word lists emptied, or deleted since the daemon last loaded them (`warn`),
/// and records the lists loaded now ([`crate::config::rules::lists`]).
pub(crate) fn record_word_lists(settings: &Settings, warn: bool) {
    use crate::config::rules::lists;
    let (rules_dir, data) = (&settings.rules.dir, &settings.storage.path);
    if warn {
        for warning in lists::list_warnings(rules_dir, &lists::recorded(data)) {
            tracing::warn!("rules: {warning}");
        }
    }
    if let Err(e) = lists::record(data, &lists::list_names(rules_dir)) {
        tracing::warn!(error = %e, "cannot record the word lists loaded");
    }
}

/// After the watchdog tripped: give `/healthz` and the log [`watchdog::EXIT_GRACE`], stop the
/// background tasks without waiting for them (they may wait on the hung store), and say why.
async fn stop_stalled(reason: String, background: &CancellationToken) -> AppError {
    tokio::time::sleep(watchdog::EXIT_GRACE).await;
    background.cancel();
    AppError::Stalled(reason)
}

/// After a sweep: compacts the database if its files have outgrown what they hold
/// (`[storage] compact_growth`, `compact_min`; see [`crate::store::compact`]). Blocking.
fn compact_if_due(store: &Store, storage: &crate::config::StorageSettings, copier: Option<&std::path::Path>) {
    let policy = crate::store::compact::CompactPolicy {
        growth: storage.compact_growth,
        min_bytes: storage.compact_min.0,
    };
    match store.compaction_due(policy) {
        Ok(false) => {}
        Ok(true) => match store.compact_with(copier) {
            Ok(done) => tracing::info!(
                before_bytes = done.before,
                after_bytes = done.after,
                records = done.records,
                took_ms = done.took_ms,
                copied_by = if done.by_process { "process" } else { "daemon" },
                "store: compacted the database"
            ),
            Err(e) => tracing::error!(error = %e, "store: compaction failed"),
        },
        Err(e) => tracing::error!(error = %e, "store: cannot tell whether the database needs compacting"),
    }
}

/// Runs the store's sweep at start and then every `[storage] sweep_every`, off the async threads.
async fn sweep_periodically(
    store: Store,
    clock: SharedClock,
    settings: Arc<Settings>,
    pipeline: Arc<Pipeline>,
    copier: Option<Arc<std::path::Path>>,
    cancel: CancellationToken,
) {
    let mut every = tokio::time::interval(settings.storage.sweep_every.get());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        let (store, clock, settings, pipeline, copier) = (
            store.clone(),
            clock.clone(),
            Arc::clone(&settings),
            Arc::clone(&pipeline),
            copier.clone(),
        );
        let swept = tokio::task::spawn_blocking(move || {
            let strike_ttl = |group| pipeline.policies().strike_ttl(group);
            let policy = SweepPolicy {
                seen_ttl: settings.storage.seen_ttl.get(),
                audit_retention: settings.audit_retention(),
                strike_ttl: &strike_ttl,
            };
            let report = store.sweep(clock.now(), &policy)?;
            let rejoin = settings.welcome.rejoin_window.get();
            let joins = store.sweep_joins(clock.now(), rejoin)?;
            compact_if_due(&store, &settings.storage, copier.as_deref());
            crate::runtime::memory::trim();
            Ok::<_, StoreError>((report, joins))
        })
        .await;
        match swept {
            Ok(Ok((report, joins))) => tracing::debug!(
                seen = report.seen,
                strikes = report.strikes,
                cases = report.cases,
                archive_files = report.archive_files,
                dead = report.dead,
                joins,
                "store swept"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "store sweep failed"),
            Err(e) => tracing::error!(error = %e, "store sweep task failed"),
        }
    }
}

/// How often the audit mover runs ([`move_cases_periodically`]).
const MOVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// The most cases one pass of the mover reads; a full pass is followed by another at once,
/// up to [`MOVE_PASSES`] in a row (32,768 cases a run, far more than the soak's 640 a
/// second make in 5 s). Small passes keep the mover's transient allocations small.
const MOVE_BATCH: usize = 512;
const MOVE_PASSES: usize = 64;

/// Moves each group's cases beyond its newest `[audit] hot_cases` to the audit archive's
/// files ([`Store::move_cases`]) every [`MOVE_EVERY`], off the async threads.
async fn move_cases_periodically(store: Store, hot: usize, cancel: CancellationToken) {
    // Half a period after the writers of trust counts and activity, which start with the
    // daemon and run every 5 s too: the batches do not run at once.
    let start = tokio::time::Instant::now() + MOVE_EVERY / 2;
    let mut every = tokio::time::interval_at(start, MOVE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        let store = store.clone();
        let moved = tokio::task::spawn_blocking(move || {
            crate::store::pace::paced(|| {
                let mut moved = 0;
                for _ in 0..MOVE_PASSES {
                    let n = store.move_cases(hot, MOVE_BATCH)?;
                    moved += n;
                    if n < MOVE_BATCH {
                        break;
                    }
                }
                Ok::<_, StoreError>(moved)
            })
        })
        .await;
        match moved {
            Ok(Ok(0)) => {}
            Ok(Ok(moved)) => tracing::debug!(moved, "audit cases moved to the archive"),
            Ok(Err(e)) => tracing::error!(error = %e, "audit mover failed"),
            Err(e) => tracing::error!(error = %e, "audit mover task failed"),
        }
    }
}

/// Writes noted message times and the members' batched trust counts
/// ([`Store::write_pending_trust`]) every [`crate::service::inactivity::FLUSH_EVERY`] and once
/// more at shutdown (before the final store flush); runs the inactivity sweep at start and
/// then every `[inactivity] check_every`.
async fn inactivity_periodically(
    inactivity: Arc<crate::service::inactivity::Inactivity>,
    counts: Store,
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
            _ = flush.tick() => {
                flush_activity(&inactivity, true).await;
                flush_trust(&counts, true).await;
            }
        }
    }
    flush_activity(&inactivity, false).await;
    flush_trust(&counts, false).await;
}

/// Writes the members' batched trust counts, off the async threads; `paced` in the daemon's
/// periodic batches ([`crate::store::pace`]), not at shutdown.
async fn flush_trust(store: &Store, paced: bool) {
    let write = move |store: &Store| crate::store::pace::paced_if(paced, || store.write_pending_trust());
    match store.run(write).await {
        Ok(written) => tracing::debug!(written, "trust counts written"),
        Err(e) => tracing::warn!(error = %e, "cannot write the members' trust counts; will try again"),
    }
}

/// Writes the noted message times, off the async threads; `paced` as in [`flush_trust`].
async fn flush_activity(inactivity: &Arc<crate::service::inactivity::Inactivity>, paced: bool) {
    let inactivity = Arc::clone(inactivity);
    let write = move || crate::store::pace::paced_if(paced, || inactivity.flush());
    match tokio::task::spawn_blocking(write).await {
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

/// Writes noted message points every [`crate::service::engagement::FLUSH_EVERY`], when
/// [`crate::service::engagement::write_early_at`] of `[limits] engagement_unwritten` members
/// wait, and once more at shutdown (before the final store flush); looks at the tier alerts
/// every `[engagement] check_every`.
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
            _ = flush.tick() => flush_points(&engagement, &inactivity, &clock, true).await,
            () = engagement.flush_wanted() => flush_points(&engagement, &inactivity, &clock, true).await,
        }
    }
    flush_points(&engagement, &inactivity, &clock, false).await;
}

/// Writes the noted message points, with the noted message times of the inactivity tracker
/// (one write per member for both), off the async threads; `paced` as in [`flush_trust`].
async fn flush_points(
    engagement: &Arc<crate::service::engagement::Engagement>,
    inactivity: &Arc<crate::service::inactivity::Inactivity>,
    clock: &SharedClock,
    paced: bool,
) {
    let (engagement, inactivity, now) = (Arc::clone(engagement), Arc::clone(inactivity), clock.now());
    let write = move || crate::store::pace::paced_if(paced, || engagement.flush_with(now, Some(&inactivity)));
    match tokio::task::spawn_blocking(write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot write message points"),
        Err(e) => tracing::error!(error = %e, "the message points flush task failed"),
    }
}
