//! `qunguan stats`: a group's daily statistics as a table or JSON.

use std::path::PathBuf;

use anyhow::bail;

use super::*;
use crate::config::Settings;
use crate::domain::event::GroupId;

pub(crate) fn stats(config: Option<PathBuf>, group: GroupId, days: u32, json: bool) -> anyhow::Result<()> {
    use crate::runtime::control::{MAX_STATS_DAYS, StatsDay};
    if days == 0 || days > MAX_STATS_DAYS {
        bail!("--days must be between 1 and {MAX_STATS_DAYS}");
    }
    let settings = Settings::load(config.as_deref())?;
    let rows: Vec<StatsDay> = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use crate::runtime::control::{Request, read_lines, request};
            let request_body = Request::Stats {
                group: group.to_string(),
                days,
            };
            read_lines(request(&settings.storage.path, &request_body)?)?
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => {
            let counts = crate::service::stats::GroupStats::new(&settings.stats);
            crate::runtime::control::stats_days(&store, &counts, group, days, jiff::Timestamp::now())?
        }
    };
    if json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    let locale = super::locale::operator_locale(config.as_deref(), &settings);
    print!("{}", stats_table(locale, group, &rows));
    Ok(())
}

/// The `qunguan stats` table: one line per day and a total line.
pub(crate) fn stats_table(
    locale: crate::domain::locale::Locale,
    group: GroupId,
    rows: &[crate::runtime::control::StatsDay],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let heading = crate::policy::i18n::stats_heading(locale, &group.to_string(), rows.len());
    let _ = writeln!(out, "{heading}");
    let _ = writeln!(
        out,
        "{:<10}  {:>8}  {:>6}  {:>5}  {:>6}  {:>10}  {:>7}  top rule",
        "date", "messages", "active", "joins", "leaves", "violations", "actions"
    );
    let mut totals = [0u64; 6];
    for row in rows {
        let s = &row.stats;
        let violations = s.violation_count();
        let actions: u64 = s.actions.values().sum();
        let top = s
            .violations
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map_or_else(String::new, |(rule, n)| format!("{rule} ({n})"));
        let _ = writeln!(
            out,
            "{:<10}  {:>8}  {:>6}  {:>5}  {:>6}  {:>10}  {:>7}  {top}",
            row.date, s.messages, s.active_members, s.joins, s.leaves, violations, actions
        );
        for (total, n) in totals
            .iter_mut()
            .zip([s.messages, s.active_members, s.joins, s.leaves, violations, actions])
        {
            *total += n;
        }
    }
    let _ = writeln!(
        out,
        "{:<10}  {:>8}  {:>6}  {:>5}  {:>6}  {:>10}  {:>7}",
        "total", totals[0], "-", totals[2], totals[3], totals[4], totals[5]
    );
    out
}
