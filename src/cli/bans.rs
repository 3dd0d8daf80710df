//! `qunguan bans list|add|remove|export|import`: the instance's own global ban list (what
//! `/gban` and `/ungban` change in the groups), for operators.
//!
//! Works while the daemon runs — through its control socket, so a ban or a lift holds at
//! once — and when it does not (on the database; the daemon reads the list at its next
//! start). Both go through the same [`Bans`] service, so an `add` queues the same kicks
//! either way (a stopped daemon sends them when it starts). Files are CSV (with the header
//! `user,reason,at,by`) or JSON lines, as `--format` says (see `policy::bans` for the
//! format); `export` writes what `import` reads. Subscribed shared lists are not part of the
//! instance's list and never exported.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use std::sync::Arc;

use super::{Access, access};
use crate::config::Settings;
use crate::domain::ban::Ban;
use crate::domain::event::UserRef;
use crate::policy::bans::{Format, parse, render};
use crate::policy::i18n::{self, ListChange};
use crate::runtime::control::{BansChanged, Request};
use crate::service::bans::Bans;
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
    /// seen in are queued (a stopped daemon sends them when it starts).
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
            let bans = open(config)?.list()?;
            std::io::stdout().write_all(render(&bans, format).as_bytes())?;
            Ok(())
        }
        BansCommand::Export {
            config,
            format,
            out: Some(path),
        } => {
            let locale = operator_locale(config.as_deref())?;
            let bans = open(config)?.list()?;
            let text = render(&bans, format);
            crate::store::backup::write_file_atomically(&path, |w| {
                w.write_all(text.as_bytes())
                    .map_err(|source| crate::store::StoreError::Io {
                        path: path.display().to_string(),
                        source,
                    })
            })?;
            let path = path.display().to_string();
            let change = ListChange::BansWritten {
                count: bans.len(),
                path: &path,
            };
            eprintln!("{}", i18n::list_change(locale, change));
            Ok(())
        }
        BansCommand::Add { config, reason, user } => {
            let locale = operator_locale(config.as_deref())?;
            let changed = open(config)?.add(user, reason)?;
            let user = user.to_string();
            let change = ListChange::Banned {
                user: &user,
                already: changed.new != 1,
                kicks: changed.kicks,
            };
            println!("{}", i18n::list_change(locale, change));
            Ok(())
        }
        BansCommand::Remove { config, users } => {
            let locale = operator_locale(config.as_deref())?;
            let lifted = open(config)?.remove(&users)?.lifted;
            println!("{}", i18n::list_change(locale, ListChange::BansLifted(lifted.len())));
            let missing: Vec<String> = users
                .iter()
                .filter(|u| !lifted.contains(u))
                .map(ToString::to_string)
                .collect();
            if !missing.is_empty() {
                bail!("not banned: {}", missing.join(", "));
            }
            Ok(())
        }
        BansCommand::Import { config, format, file } => import(config, format, &file),
    }
}

/// The operator's language (`cli::locale`) for the instance `config` describes.
fn operator_locale(config: Option<&Path>) -> anyhow::Result<crate::domain::locale::Locale> {
    let settings = Settings::load(config)?;
    Ok(super::locale::operator_locale(config, &settings))
}

/// The ban list of the instance `config` describes: its running daemon's (through the
/// control socket, so a change holds at once), or its database's.
enum Target {
    #[cfg_attr(not(unix), allow(dead_code))]
    Daemon(PathBuf),
    Direct(Box<Bans>, Store),
}

fn open(config: Option<PathBuf>) -> anyhow::Result<Target> {
    let settings = Settings::load(config.as_deref())?;
    Ok(match access(&settings)? {
        Access::Daemon => Target::Daemon(settings.storage.path.clone()),
        Access::Direct(store) => {
            let bans = Bans::load(Arc::new(settings), store.clone(), Arc::default())?;
            Target::Direct(Box::new(bans), store)
        }
    })
}

impl Target {
    #[cfg(unix)]
    fn ask<T: serde::de::DeserializeOwned>(data: &Path, request: &Request, body: &[u8]) -> anyhow::Result<Vec<T>> {
        Ok(crate::runtime::control::read_lines(
            crate::runtime::control::request_with(data, request, body)?,
        )?)
    }

    #[cfg(not(unix))]
    fn ask<T: serde::de::DeserializeOwned>(_: &Path, _: &Request, _: &[u8]) -> anyhow::Result<Vec<T>> {
        unreachable!("no control socket off unix")
    }

    fn changed(data: &Path, request: &Request, body: &[u8]) -> anyhow::Result<BansChanged> {
        Self::ask::<BansChanged>(data, request, body)?
            .pop()
            .context("the daemon sent no answer")
    }

    fn list(&self) -> anyhow::Result<Vec<Ban>> {
        match self {
            Self::Daemon(data) => Self::ask(data, &Request::Bans, &[]),
            Self::Direct(bans, _) => Ok(bans.list()?),
        }
    }

    fn add(&self, user: UserRef, reason: String) -> anyhow::Result<BansChanged> {
        match self {
            Self::Daemon(data) => Self::changed(data, &Request::BansAdd { user, reason }, &[]),
            Self::Direct(bans, store) => {
                let now = jiff::Timestamp::now();
                let ban = Ban {
                    user,
                    reason,
                    at_ms: now.as_millisecond(),
                    by: "cli".into(),
                };
                let (new, kicks) = bans.add(&ban, now)?;
                store.flush_blocking()?;
                Ok(BansChanged {
                    new: usize::from(new),
                    kicks,
                    lifted: Vec::new(),
                })
            }
        }
    }

    fn remove(&self, users: &[UserRef]) -> anyhow::Result<BansChanged> {
        match self {
            Self::Daemon(data) => Self::changed(data, &Request::BansRemove { users: users.to_vec() }, &[]),
            Self::Direct(bans, store) => {
                let lifted = bans.remove(users, jiff::Timestamp::now())?;
                store.flush_blocking()?;
                Ok(BansChanged {
                    lifted,
                    ..BansChanged::default()
                })
            }
        }
    }

    fn import(&self, text: &str, list: &[Ban]) -> anyhow::Result<BansChanged> {
        match self {
            Self::Daemon(data) => Self::changed(data, &Request::BansImport, text.as_bytes()),
            Self::Direct(bans, store) => {
                let new = bans.import(list)?;
                store.flush_blocking()?;
                Ok(BansChanged {
                    new,
                    ..BansChanged::default()
                })
            }
        }
    }
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
    // Checked here first, so a bad line is named before anything is sent or written.
    let bans =
        parse(&text, settings.bans.max_entries).with_context(|| format!("{}: nothing was imported", file.display()))?;
    if bans.is_empty() {
        bail!("{}: no bans in the file", file.display());
    }
    let locale = super::locale::operator_locale(config.as_deref(), &settings);
    let changed = open(config)?.import(&text, &bans)?;
    let change = ListChange::BansImported {
        count: bans.len(),
        new: changed.new,
    };
    println!("{}", i18n::list_change(locale, change));
    Ok(())
}
