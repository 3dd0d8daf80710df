//! `qunguan filter explain|scan`: the filter from the command line.

use std::path::PathBuf;

use anyhow::Context;

use super::*;
use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::policy::filter::Filter;
use crate::policy::filter::report::{self, LearnedMatch, Lessons};
use crate::policy::i18n;
use crate::policy::ladder::Policy;
use crate::policy::model::Delta;
use crate::policy::neardup::Index;
use crate::service::learning::{replay, signature};

pub(crate) fn filter(command: FilterCommand) -> anyhow::Result<()> {
    match command {
        FilterCommand::Explain {
            rules,
            config,
            group,
            member,
            text,
        } => {
            let settings = Settings::load(config.as_deref())?;
            let rules = load_rules(rules, &settings)?;
            let policy = Policy {
                ladder: &settings.moderation.ladder,
                strike_ttl: settings.moderation.strike_ttl.get(),
            };
            let learned = Learned::load(&settings, &rules.filter);
            // The conclusion first, then the details, in the operator's language; rule ids and
            // patterns stay as the rules folder writes them, the names members are shown in
            // theirs.
            let locale = super::locale::operator_locale(config.as_deref(), &settings);
            let judged = rules
                .filter
                .inspect_as(&text, group, member, learned.delta.as_ref())
                .judgement;
            let shown = match (learned.matched(&rules.filter, &text), &judged.violation) {
                (Some(_), _) => Some(rules.filter.display_name("learned", locale)),
                (None, Some(v)) => Some(rules.filter.display_name(&v.rule, locale)),
                (None, None) => None,
            };
            let verdict = match &shown {
                Some(name) => i18n::ExplainVerdict::Violation(name),
                None if judged.review => i18n::ExplainVerdict::Review,
                None => i18n::ExplainVerdict::Clean,
            };
            println!("{}", i18n::explain_verdict(locale, verdict));
            print!(
                "{}",
                report::explain(
                    &rules.filter,
                    &text,
                    group,
                    policy,
                    member,
                    &learned,
                    settings.messages.locale,
                    locale,
                )
            );
            println!("{}", i18n::explain_samples(locale, learned.source.shown()));
            Ok(())
        }
        FilterCommand::Scan {
            rules,
            config,
            jsonl,
            member,
        } => {
            let settings = Settings::load(config.as_deref())?;
            let rules = load_rules(rules, &settings)?;
            let learned = Learned::load(&settings, &rules.filter);
            let locale = super::locale::operator_locale(config.as_deref(), &settings);
            eprintln!("qunguan: {}", i18n::explain_samples(locale, learned.source.shown()));
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            let summary = report::scan(&rules.filter, stdin, stdout, jsonl, member, &learned).context("scan failed")?;
            for (line, why) in &summary.bad_lines {
                eprintln!("qunguan: stdin line {line}: {why}; skipped");
            }
            if summary.bad_lines.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} input line(s) could not be read", summary.bad_lines.len())
            }
        }
    }
}

/// What the instance learned from admins, as `filter explain` and `filter scan` consult it
/// ([`Lessons`]): the model's instance delta and the near-duplicate index of the spam samples
/// in force, built exactly as the daemon builds them ([`replay`]) from the samples of the
/// running daemon (its control socket) or of the database at `storage.path`. Without a
/// database messages are judged by the shipped model alone, and `source` says so.
struct Learned {
    delta: Option<Delta>,
    index: Index,
    /// The texts of the samples, by id (what a match shows).
    texts: std::collections::HashMap<u64, String>,
    source: Source,
}

/// Where the samples came from ([`i18n::SamplesSource`], owned).
enum Source {
    NoDatabase(String),
    Unreadable(String),
    Loaded {
        count: usize,
        spam: usize,
        database: Option<String>,
    },
}

impl Source {
    fn shown(&self) -> i18n::SamplesSource<'_> {
        match self {
            Self::NoDatabase(path) => i18n::SamplesSource::NoDatabase(path),
            Self::Unreadable(error) => i18n::SamplesSource::Unreadable(error),
            Self::Loaded { count, spam, database } => i18n::SamplesSource::Loaded {
                count: *count,
                spam: *spam,
                database: database.as_deref(),
            },
        }
    }
}

impl Lessons for Learned {
    fn with_learned_delta(&self, f: &mut dyn FnMut(Option<&Delta>)) {
        f(self.delta.as_ref());
    }

    fn matched(&self, filter: &Filter, text: &str) -> Option<LearnedMatch> {
        if self.index.is_empty() {
            return None;
        }
        let found = self.index.find(&signature(filter, text)?)?;
        let sample = self.texts.get(&found.id).cloned().unwrap_or_default();
        Some(LearnedMatch::new(&found, sample))
    }
}

impl Learned {
    fn load(settings: &Settings, filter: &Filter) -> Self {
        let data = &settings.storage.path;
        let none = |source: Source| Self {
            delta: None,
            index: Index::with_capacity(1),
            texts: std::collections::HashMap::new(),
            source,
        };
        #[cfg(unix)]
        let running = crate::runtime::control::daemon_running(data);
        #[cfg(not(unix))]
        let running = false;
        if !running && !data.exists() {
            return none(Source::NoDatabase(data.display().to_string()));
        }
        let lines = match super::samples::all_samples(settings) {
            Ok(lines) => lines,
            Err(e) => return none(Source::Unreadable(format!("{e:#}"))),
        };
        let (index, delta) = replay(
            filter,
            lines
                .iter()
                .map(|l| (l.id.unwrap_or_default(), l.label, l.text.as_str(), l.retired)),
        );
        let database = (!running).then(|| data.display().to_string());
        let in_force = index.len();
        Self {
            delta: Some(delta),
            index,
            texts: lines.iter().filter_map(|l| Some((l.id?, l.text.clone()))).collect(),
            source: Source::Loaded {
                count: lines.len(),
                spam: in_force,
                database,
            },
        }
    }
}

pub(crate) fn load_rules(dir: Option<PathBuf>, settings: &Settings) -> anyhow::Result<Rules> {
    let dir = dir.unwrap_or_else(|| settings.rules.dir.clone());
    Ok(Rules::load_with(&dir, &LoadOptions::from(settings))?)
}
