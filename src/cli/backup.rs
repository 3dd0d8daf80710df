//! `qunguan backup` and `qunguan restore`.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::*;
use crate::config::Settings;
use crate::store::backup;

pub(crate) fn backup(config: Option<PathBuf>, out: &Path) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let (report, how) = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, request};
            let mut reader = request(&settings.storage.path, &Request::Backup)?;
            backup::write_file_atomically(out, |w| {
                std::io::copy(&mut reader, w).map_err(|source| crate::store::StoreError::Io {
                    path: out.display().to_string(),
                    source,
                })
            })?;
            let mut written = BufReader::new(std::fs::File::open(out).with_context(|| out.display().to_string())?);
            let report = backup::verify(&mut written).context("the daemon's backup did not verify")?;
            (report, "from the running daemon")
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => (store.backup_to_file(out, jiff::Timestamp::now())?, "from the database"),
    };
    println!("backup written to {} ({how}): {report}", out.display());
    Ok(())
}

pub(crate) fn restore(config: Option<PathBuf>, input: &Path, force: bool) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let data = &settings.storage.path;
    #[cfg(unix)]
    if crate::runtime::control::daemon_running(data) {
        bail!(
            "a qunguan daemon is running on {}; stop it first (a restore replaces its database)",
            data.display()
        );
    }
    let file = std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let report = backup::restore(&settings.storage, &mut BufReader::new(file), force)
        .with_context(|| format!("{} was not restored", input.display()))?;
    println!("restored {} into {}: {report}", input.display(), data.display());
    Ok(())
}
