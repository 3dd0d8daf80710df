//! `qunguan filter explain|scan`: the filter from the command line.

use std::path::PathBuf;

use anyhow::Context;

use super::*;
use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::policy::filter::Filter;
use crate::policy::filter::report::{self, LearnedMatch};
use crate::policy::i18n;
use crate::policy::ladder::Policy;
use crate::policy::model::Delta;
use crate::policy::neardup;
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
            let learned = Learned::load(&settings, &rules.filter, &text);
            // The conclusion first, in the operator's language; the details below are the
            // filter's own terms (rule ids, patterns), English like the flags.
            let locale = super::locale::operator_locale(config.as_deref(), &settings);
            let judged = rules
                .filter
                .inspect_as(&text, group, member, learned.delta.as_ref())
                .judgement;
            let shown = match (&learned.matched, &judged.violation) {
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
                    report::Learned {
                        delta: learned.delta.as_ref(),
                        matched: learned.matched.as_ref(),
                    },
                    settings.messages.locale,
                )
            );
            println!("samples:     {}", learned.source);
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
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            let summary = report::scan(&rules.filter, stdin, stdout, jsonl, member).context("scan failed")?;
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

/// What the instance learned from admins, as far as `filter explain` needs it: the model's
/// instance delta and the spam sample the message is a near-duplicate of, built exactly as
/// the daemon builds them ([`replay`]) from the samples of the running daemon (its control
/// socket) or of the database at `storage.path`. Without a database the message is judged by
/// the shipped model alone, and `source` says so.
struct Learned {
    delta: Option<Delta>,
    matched: Option<LearnedMatch>,
    source: String,
}

impl Learned {
    fn load(settings: &Settings, filter: &Filter, text: &str) -> Self {
        let data = &settings.storage.path;
        let none = |source: String| Self {
            delta: None,
            matched: None,
            source,
        };
        #[cfg(unix)]
        let running = crate::runtime::control::daemon_running(data);
        #[cfg(not(unix))]
        let running = false;
        if !running && !data.exists() {
            return none(format!(
                "none consulted (no database at {}, storage.path): the shipped model alone",
                data.display()
            ));
        }
        let lines = match super::samples::all_samples(settings) {
            Ok(lines) => lines,
            Err(e) => return none(format!("none consulted ({e:#})")),
        };
        let (index, delta) = replay(
            filter,
            lines
                .iter()
                .map(|l| (l.id.unwrap_or_default(), l.label, l.text.as_str(), l.retired)),
        );
        let matched = signature(filter, text).and_then(|sig| index.find(&sig)).and_then(|m| {
            let line = lines.iter().find(|l| l.id == Some(m.id))?;
            Some(LearnedMatch {
                id: format!("#{}", m.id),
                text: line.text.clone(),
                similarity: 1.0 - m.distance as f32 / neardup::BINS as f32,
            })
        });
        let from = if running {
            "the running daemon".to_owned()
        } else {
            format!("the database at {}", data.display())
        };
        Self {
            delta: Some(delta),
            matched,
            source: format!(
                "{} learned sample(s) from {from}, {} spam in force: the model's instance delta and the near-duplicate check applied",
                lines.len(),
                index.len()
            ),
        }
    }
}

pub(crate) fn load_rules(dir: Option<PathBuf>, settings: &Settings) -> anyhow::Result<Rules> {
    let dir = dir.unwrap_or_else(|| settings.rules.dir.clone());
    Ok(Rules::load_with(&dir, &LoadOptions::from(settings))?)
}
