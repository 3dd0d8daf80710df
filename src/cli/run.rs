//! `qunguan run`: the daemon.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::clock::SystemClock;
use crate::gateway::Gateways;
use crate::runtime::app::{App, AppError, StartOptions};

pub(crate) fn run(config: Option<PathBuf>, accept_damaged: bool) -> anyhow::Result<()> {
    // Before anything else: on success this process is replaced by the same command.
    let not_restarted = crate::runtime::memory::restart_without_thread_caches();
    let settings = Settings::load(config.as_deref())?;
    crate::runtime::telemetry::init(settings.log.format);
    if let Some(e) = not_restarted {
        tracing::warn!(error = %e, "could not restart with malloc's per-thread caches off; running with them");
    }
    if settings.gateway.telegram.enabled_by_token {
        tracing::warn!("{}", crate::policy::i18n::telegram_by_token());
    }
    let ignored = [
        settings
            .gateway
            .onebot
            .ignored_keys()
            .filter(|_| settings.gateway.onebot.enabled),
        settings
            .gateway
            .telegram
            .ignored_keys()
            .filter(|_| settings.gateway.telegram.enabled),
    ];
    for ignored in ignored.into_iter().flatten() {
        let keys = ignored.keys.join(", ");
        tracing::warn!(
            "{}",
            crate::policy::i18n::ignored_section_keys(ignored.section, ignored.list, &keys)
        );
    }
    crate::runtime::memory::limit_arenas();
    tracing::debug!(allocator = crate::runtime::memory::ALLOCATOR, "global allocator");
    match crate::runtime::limits::raise_open_files() {
        Ok(limit) if limit.now < 4096 => tracing::warn!(
            soft = limit.now,
            hard = limit.hard,
            "the open-file limit is low; raise it (systemd LimitNOFILE=65536, docker --ulimit nofile=65536)"
        ),
        Ok(limit) => tracing::debug!(before = limit.before, now = limit.now, "open-file limit raised"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    // Before the runtime: its threads, the store's and sled's inherit the policy.
    match crate::runtime::scheduling::apply(settings.server.scheduling) {
        Ok(()) => tracing::debug!(scheduling = ?settings.server.scheduling, "CPU scheduling policy set"),
        Err(e) => tracing::warn!(error = %e, "cannot set the batch scheduling policy; running under the normal one"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let clock = Arc::new(SystemClock);
        let gateways = Gateways::with_clock(&settings, clock.clone())?;
        let options = StartOptions {
            accept_damaged,
            // A compaction's copy is made by a process of this executable (its memory is
            // handed back when it exits); without it, in this process.
            copier: std::env::current_exe().ok(),
        };
        let app = App::build_with_options(settings, clock, gateways, options).await?;
        let shutdown = CancellationToken::new();
        crate::runtime::shutdown::cancel_on_signal(shutdown.clone());
        app.run(shutdown).await
    });
    if let Err(AppError::Stalled(reason)) = &result {
        // Threads may hang in the store: exit now instead of waiting for them, with a status
        // that tells the service manager to start qunguan again.
        eprintln!("qunguan: {reason}");
        std::process::exit(crate::runtime::watchdog::EXIT_STALLED);
    }
    result?;
    Ok(())
}
