//! `qunguan filter explain|scan`: the filter from the command line.

use std::path::PathBuf;

use anyhow::Context;

use super::*;
use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::policy::filter::report;
use crate::policy::ladder::Policy;

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
            print!(
                "{}",
                report::explain(
                    &rules.filter,
                    &text,
                    group,
                    policy,
                    member,
                    None,
                    settings.messages.locale,
                )
            );
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

pub(crate) fn load_rules(dir: Option<PathBuf>, settings: &Settings) -> anyhow::Result<Rules> {
    let dir = dir.unwrap_or_else(|| settings.rules.dir.clone());
    Ok(Rules::load_with(&dir, &LoadOptions::from(settings))?)
}
