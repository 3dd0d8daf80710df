//! `qunguan bans list|add|remove|export|import`: the instance's own global ban list (what
//! `/gban` and `/ungban` change in the groups), for operators.
//!
//! Works on the stopped daemon's database (the daemon reads the list at its next start);
//! while a daemon runs it holds the database, so the tool says so and changes nothing —
//! `/gban` and `/ungban` change the list of a running daemon. Files are CSV (with the header
//! `user,reason,at,by`) or JSON lines, as `--format` says (see `policy::bans` for the
//! format); `export` writes what `import` reads. Subscribed shared lists are not part of the
//! instance's list and never exported.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Access, access};
use crate::config::Settings;
use crate::domain::ban::Ban;
use crate::domain::event::UserRef;
use crate::policy::bans::{Format, parse, render};
use crate::store::Store;

/// What `qunguan bans` is asked to do.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum BansCommand {
    /// Print every ban of the instance's list.
    List {
        /// Configuration file (TOML); its storage.path says where the database is.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// `csv` or `jsonl`.
        #[arg(long, default_value = "csv", value_parser = parse_format)]
        format: Format,
    },
    /// Ban a member in every group (`qq:123`, `tg:456`); the kicks of the groups they were
    /// seen in are queued, and go out when the daemon starts.
    Add {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Why (shown to operators only).
        #[arg(long, default_value = "")]
        reason: String,
        /// The member.
        user: UserRef,
    },
    /// Lift bans (`qq:123`, `tg:456`).
    Remove {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The members.
        #[arg(required = true, value_name = "USER")]
        users: Vec<UserRef>,
    },
    /// Write every ban (what `import` reads).
    Export {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// `csv` or `jsonl`.
        #[arg(long, default_value = "csv", value_parser = parse_format)]
        format: Format,
        /// Write here instead of to standard output (replaced atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add the bans of a file (`-` for standard input), replacing entries of the same
    /// members. Every line is checked first; a bad line is named and nothing is added.
    Import {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// `csv` or `jsonl`: what the file must be.
        #[arg(long, default_value = "csv", value_parser = parse_format)]
        format: Format,
        /// The file.
        file: PathBuf,
    },
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub(crate) fn bans(command: BansCommand) -> anyhow::Result<()> {
    match command {
        BansCommand::List { config, format }
        | BansCommand::Export {
            config,
            format,
            out: None,
        } => {
            let store = stopped(config)?;
            std::io::stdout().write_all(render(&store.bans()?, format).as_bytes())?;
            Ok(())
        }
        BansCommand::Export {
            config,
            format,
            out: Some(path),
        } => {
            let store = stopped(config)?;
            let bans = store.bans()?;
            let text = render(&bans, format);
            crate::store::backup::write_file_atomically(&path, |w| {
                w.write_all(text.as_bytes())
                    .map_err(|source| crate::store::StoreError::Io {
                        path: path.display().to_string(),
                        source,
                    })
            })?;
            eprintln!("{} ban(s) written to {}", bans.len(), path.display());
            Ok(())
        }
        BansCommand::Add { config, reason, user } => add(config, user, reason),
        BansCommand::Remove { config, users } => {
            let store = stopped(config)?;
            let mut missing = Vec::new();
            for user in &users {
                if store.remove_ban(*user)?.is_none() {
                    missing.push(user.to_string());
                }
            }
            store.flush_blocking()?;
            println!("lifted {} ban(s)", users.len() - missing.len());
            if !missing.is_empty() {
                bail!("not banned: {}", missing.join(", "));
            }
            Ok(())
        }
        BansCommand::Import { config, format, file } => import(config, format, &file),
    }
}

/// The database of the daemon `config` describes, which must not be running.
fn stopped(config: Option<PathBuf>) -> anyhow::Result<Store> {
    let settings = Settings::load(config.as_deref())?;
    match access(&settings)? {
        Access::Direct(store) => Ok(store),
        Access::Daemon => bail!(
            "the daemon is running and holds the database at {}; stop it first, or use /gban and /ungban in a group",
            settings.storage.path.display()
        ),
    }
}

fn add(config: Option<PathBuf>, user: UserRef, reason: String) -> anyhow::Result<()> {
    let store = stopped(config)?;
    let now = jiff::Timestamp::now();
    let ban = Ban {
        user,
        reason,
        at_ms: now.as_millisecond(),
        by: "cli".into(),
    };
    let new = store.put_ban(&ban, true)?;
    let kicks = crate::policy::bans::expel(user, &store.groups_seen(user)?);
    let groups = kicks.len();
    store.enqueue(kicks, now)?;
    store.flush_blocking()?;
    let was = if new {
        "banned"
    } else {
        "already banned; reason updated"
    };
    println!("{user} {was}; removal from {groups} group(s) queued for the daemon's next start");
    Ok(())
}

fn import(config: Option<PathBuf>, format: Format, file: &Path) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let found = if first.is_some_and(|l| l.starts_with('{')) {
        Format::Jsonl
    } else {
        Format::Csv
    };
    if first.is_some() && found != format {
        bail!(
            "{}: the file is not {format:?} (pass --format to match it)",
            file.display()
        );
    }
    let bans =
        parse(&text, settings.bans.max_entries).with_context(|| format!("{}: nothing was imported", file.display()))?;
    if bans.is_empty() {
        bail!("{}: no bans in the file", file.display());
    }
    let store = stopped(config)?;
    let new = store.put_bans(&bans)?;
    store.flush_blocking()?;
    println!(
        "imported {} ban(s), {new} new (the daemon enforces them from its next start)",
        bans.len()
    );
    Ok(())
}
