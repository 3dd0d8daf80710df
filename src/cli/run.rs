//! `qunguan run`: the daemon.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::clock::SystemClock;
use crate::runtime::app::App;

pub(crate) fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    crate::runtime::telemetry::init(settings.log.format);
    if settings.gateway.telegram.enabled_by_token {
        tracing::warn!("{}", super::check_config::TELEGRAM_BY_TOKEN);
    }
    crate::runtime::memory::limit_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = App::build(settings, Arc::new(SystemClock)).await?;
        let shutdown = CancellationToken::new();
        crate::runtime::shutdown::cancel_on_signal(shutdown.clone());
        app.run(shutdown).await?;
        Ok(())
    })
}
