//! `qunguan samples list|export|import|remove`: the messages admins labelled (`/spam`,
//! `/notspam`), which the near-duplicate check and the model's instance delta learn from.
//!
//! Works while the daemon runs — through its control socket, so an import or removal takes
//! effect at once — and when it does not (reading and writing the database; the daemon
//! learns the change at its next start). The file format is JSON lines, one sample each
//! ([`SampleLine`]); `export` writes what `import` reads.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::*;
use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::policy::i18n::{self, ListChange};
use crate::runtime::control::SampleIds;
use crate::service::learning::{SampleLine, parse_import};

/// What `qunguan samples` is asked to do.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum SamplesCommand {
    /// Print the samples, one per line: id, label, state, time, group, who labelled it and the
    /// text.
    List {
        /// Configuration file (TOML); its storage.path says where the database is.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only `spam` or `ham`.
        #[arg(long, value_name = "LABEL")]
        label: Option<crate::domain::learning::SampleLabel>,
    },
    /// Write every sample as JSON lines (what `import` reads).
    Export {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Write here instead of to standard output (replaced atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add the samples of a JSON-lines file (`-` for standard input). Every line is checked
    /// first; a bad line is named and nothing is added.
    Import {
        /// Configuration file (TOML); rules.dir gives the normalization.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The file.
        file: PathBuf,
    },
    /// Delete samples by id (as `list` shows them).
    Remove {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<u64>,
    },
}

pub(crate) fn samples(command: SamplesCommand) -> anyhow::Result<()> {
    match command {
        SamplesCommand::List { config, label } => {
            let settings = Settings::load(config.as_deref())?;
            let (locale, zone) = (
                locale::operator_locale(config.as_deref(), &settings),
                operator_zone(&settings),
            );
            let lines = all_samples(&settings)?;
            for line in lines.iter().filter(|l| label.is_none_or(|want| l.label == want)) {
                println!("{}", list_line(locale, &zone, line));
            }
            Ok(())
        }
        SamplesCommand::Export { config, out } => {
            let settings = Settings::load(config.as_deref())?;
            let locale = locale::operator_locale(config.as_deref(), &settings);
            let lines = all_samples(&settings)?;
            let mut text = Vec::new();
            for line in &lines {
                serde_json::to_writer(&mut text, line)?;
                text.push(b'\n');
            }
            match out {
                Some(path) => {
                    crate::store::backup::write_file_atomically(&path, |w| {
                        w.write_all(&text).map_err(|source| crate::store::StoreError::Io {
                            path: path.display().to_string(),
                            source,
                        })
                    })?;
                    let path = path.display().to_string();
                    let change = ListChange::SamplesWritten {
                        count: lines.len(),
                        path: &path,
                    };
                    eprintln!("{}", i18n::list_change(locale, change));
                }
                None => std::io::stdout().write_all(&text)?,
            }
            Ok(())
        }
        SamplesCommand::Import { config, file } => import(config, &file),
        SamplesCommand::Remove { config, ids } => remove(config, &ids),
    }
}

/// Every sample of the instance `settings` configure, from its running daemon or its
/// database, in id order.
pub(crate) fn all_samples(settings: &Settings) -> anyhow::Result<Vec<SampleLine>> {
    Ok(match access(settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, read_lines, request};
            read_lines(request(&settings.storage.path, &Request::Samples)?)?
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => store
            .samples()?
            .iter()
            .map(|(id, sample)| SampleLine::of(*id, sample))
            .collect(),
    })
}

fn import(config: Option<PathBuf>, file: &Path) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    }
    // Checked here first, so a bad line is named before anything is sent or written.
    let rules = Rules::load_with(&settings.rules.dir, &LoadOptions::from(&settings)).with_context(|| {
        format!(
            "the rules in {} (needed to normalize the texts)",
            settings.rules.dir.display()
        )
    })?;
    let now = jiff::Timestamp::now();
    let samples = parse_import(&text, &rules.filter, now.as_millisecond())
        .with_context(|| format!("{}: nothing was imported", file.display()))?;
    if samples.is_empty() {
        bail!("{}: no samples in the file", file.display());
    }
    let locale = locale::operator_locale(config.as_deref(), &settings);
    let (ids, running) = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, read_lines, request_with};
            let reader = request_with(&settings.storage.path, &Request::SamplesImport, text.as_bytes())?;
            let answer: Vec<SampleIds> = read_lines(reader)?;
            (answer.into_iter().flat_map(|a| a.ids).collect::<Vec<_>>(), true)
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => {
            let ids = store.import_samples(&samples, now)?;
            store.flush_blocking()?;
            (ids, false)
        }
    };
    let range = id_range(&ids);
    let change = ListChange::SamplesImported {
        count: ids.len(),
        range: &range,
        running,
    };
    println!("{}", i18n::list_change(locale, change));
    Ok(())
}

fn remove(config: Option<PathBuf>, ids: &[u64]) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let locale = locale::operator_locale(config.as_deref(), &settings);
    let removed = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, read_lines, request};
            let request_body = Request::SamplesRemove { ids: ids.to_vec() };
            let answer: Vec<SampleIds> = read_lines(request(&settings.storage.path, &request_body)?)?;
            answer.into_iter().flat_map(|a| a.ids).collect::<Vec<_>>()
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => {
            let removed = store.remove_samples(ids, jiff::Timestamp::now())?;
            store.flush_blocking()?;
            removed
        }
    };
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !removed.contains(id))
        .map(|id| format!("#{id}"))
        .collect();
    println!(
        "{}",
        i18n::list_change(locale, ListChange::SamplesRemoved(removed.len()))
    );
    if !missing.is_empty() {
        bail!("no such sample: {}", missing.join(", "));
    }
    Ok(())
}

fn id_range(ids: &[u64]) -> String {
    match (ids.first(), ids.last()) {
        (Some(first), Some(last)) if first != last => format!("#{first}–#{last}"),
        (Some(first), _) => format!("#{first}"),
        _ => "nothing".into(),
    }
}

/// One sample as a line of `samples list`.
fn list_line(locale: crate::domain::locale::Locale, zone: &jiff::tz::TimeZone, line: &SampleLine) -> String {
    let retired = line.label == crate::domain::learning::SampleLabel::Spam && line.retired;
    let excerpt = crate::domain::audit::excerpt(&line.text);
    let shown = i18n::SampleListLine {
        id: line.id.unwrap_or_default(),
        label: line.label.as_str(),
        retired,
        at_ms: line.at.map(|t| t.as_millisecond()),
        group: line.group.as_deref(),
        by: line.by.map(|id| (id, line.by_name.as_str())),
        case: line.case,
        excerpt: &excerpt,
    };
    i18n::sample_line(locale, &shown, zone)
}
