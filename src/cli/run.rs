//! `qunguan run`: the daemon.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::domain::clock::SystemClock;
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::policy::filter::report;
use crate::policy::i18n;
use crate::policy::ladder::Policy;
use crate::runtime::app::App;
use crate::store::{DeadLetter, Store, backup};
use crate::domain::audit::{Actor, AuditEntry};
use super::*;

pub(crate) fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    crate::runtime::telemetry::init(settings.log.format);
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
