//! `qunguan audit`: the audit log and the dead letters.

use std::path::PathBuf;

use super::*;
use crate::config::Settings;
use crate::domain::audit::AuditEntry;
use crate::domain::event::GroupId;
use crate::policy::i18n;
use crate::store::DeadLetter;

pub(crate) fn audit(
    config: Option<PathBuf>,
    group: Option<String>,
    last: Option<usize>,
    json: bool,
    dead_letters: bool,
    retry: bool,
) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let group: Option<GroupId> = group
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: crate::domain::event::IdError| anyhow::anyhow!("--group: {e}"))?;
    let locale = super::locale::operator_locale(config.as_deref(), &settings);
    let zone = operator_zone(&settings);
    if retry {
        return retry_dead_letters(&settings, locale);
    }
    if dead_letters {
        let letters: Vec<(u64, DeadLetter)> = match access(&settings)? {
            #[cfg(unix)]
            Access::Daemon => {
                use crate::runtime::control::{NumberedDeadLetter, Request, read_lines, request};
                let reader = request(&settings.storage.path, &Request::DeadLetters)?;
                read_lines::<NumberedDeadLetter>(reader)?
                    .into_iter()
                    .map(|n| (n.seq, n.letter))
                    .collect()
            }
            #[cfg(not(unix))]
            Access::Daemon => unreachable!("no control socket off unix"),
            Access::Direct(store) => store.outbox().dead_letters()?,
        };
        let letters = letters
            .into_iter()
            .filter(|(_, l)| group.is_none_or(|g| l.item.action.group() == g));
        for (seq, letter) in letters {
            if json {
                println!("{}", serde_json::to_string(&letter)?);
            } else {
                let group = letter.item.action.group().to_string();
                let kind = letter.item.action.kind().to_string();
                let line = i18n::DeadLetterLine {
                    seq,
                    dead_ms: letter.dead_ms,
                    group: &group,
                    kind: &kind,
                    case: letter.item.case,
                    attempts: letter.item.attempts,
                    reason: &letter.reason,
                };
                println!("{}", i18n::dead_letter_line(locale, &line, &zone));
            }
        }
        return Ok(());
    }
    let entries: Vec<AuditEntry> = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, read_lines, request};
            let request_body = Request::Audit {
                group: group.map(|g| g.to_string()),
                last,
            };
            read_lines(request(&settings.storage.path, &request_body)?)?
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => store.cases(group, last)?,
    };
    for entry in &entries {
        if json {
            println!("{}", serde_json::to_string(entry)?);
        } else {
            println!("{}", i18n::audit_case_line(locale, entry, &zone));
        }
    }
    Ok(())
}

/// `--dead-letters --retry`: every dead letter back into the outbox.
fn retry_dead_letters(settings: &Settings, locale: crate::domain::locale::Locale) -> anyhow::Result<()> {
    let (requeued, running) = match access(settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, Requeued, read_lines, request};
            let reader = request(&settings.storage.path, &Request::RetryDeadLetters)?;
            let answer: Vec<Requeued> = read_lines(reader)?;
            let requeued = answer.first().map_or(0, |r| r.requeued);
            (requeued, true)
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => {
            let requeued = store.requeue_dead_letters(jiff::Timestamp::now())?;
            store.flush_blocking()?;
            (requeued, false)
        }
    };
    println!(
        "{}",
        crate::policy::i18n::dead_letters_requeued(locale, requeued, running)
    );
    Ok(())
}
