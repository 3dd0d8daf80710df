//! `qunguan audit`: the audit log and the dead letters.

use std::path::PathBuf;

use super::*;
use crate::config::Settings;
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
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
    if retry {
        let locale = super::locale::operator_locale(config.as_deref(), &settings);
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
                println!(
                    "{seq}  {}  {}  {}  case {}  attempts {}  {}",
                    time(letter.dead_ms),
                    letter.item.action.group(),
                    letter.item.action.kind(),
                    letter.item.case.map_or_else(|| "-".to_owned(), |c| format!("#{c}")),
                    letter.item.attempts,
                    letter.reason
                );
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
            println!("{}", case_line(entry));
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

/// One audit case as a line of text.
pub(crate) fn case_line(e: &AuditEntry) -> String {
    let member = if e.user_name.is_empty() {
        e.user_id.to_string()
    } else {
        format!("{} ({})", e.user_id, e.user_name)
    };
    let actor = match &e.actor {
        Actor::Auto => "auto".to_owned(),
        Actor::Admin { user_id, .. } => format!("admin {user_id}"),
        Actor::Console { name, address } => format!("console {name:?} from {address}"),
    };
    let mut line = format!(
        "#{}  {}  {}  member {member}  by {actor}  rule {}  strikes {}→{}  {}",
        e.case,
        time(e.at_ms),
        e.group,
        e.rule,
        e.strikes_before,
        e.strikes_after,
        i18n::measure(Locale::En, e.measure),
    );
    if e.dry_run {
        line.push_str("  [dry run: not sent]");
    }
    if let Some(undo) = e.undone_by {
        line.push_str(&format!("  [undone by #{undo}]"));
    }
    if let Some(undone) = e.undoes {
        line.push_str(&format!("  [undoes #{undone}]"));
    }
    if !e.matched.is_empty() {
        let quoted: Vec<String> = e.matched.iter().map(|m| format!("{m:?}")).collect();
        line.push_str(&format!("  matched {}", quoted.join(" ")));
    }
    if !e.reason.is_empty() {
        line.push_str(&format!("  reason {:?}", e.reason));
    }
    if !e.excerpt.is_empty() {
        line.push_str(&format!("  text {:?}", e.excerpt));
    }
    line
}

pub(crate) fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| ms.to_string(), |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}
