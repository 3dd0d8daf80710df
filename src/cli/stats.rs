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
    use crate::policy::i18n::{pad, stats_columns, stats_total};
    use std::fmt::Write as _;
    // Widths of the English table; a wider heading (none is, in Chinese) widens its column.
    const WIDTHS: [usize; 7] = [10, 8, 6, 5, 6, 10, 7];
    let columns = stats_columns(locale);
    let widths: Vec<usize> = WIDTHS
        .iter()
        .zip(columns)
        .map(|(w, c)| (*w).max(crate::policy::i18n::display_width(c)))
        .collect();
    let row_line = |cells: [&str; 7], last: &str| {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            line.push_str(&pad(cell, *width, i > 0));
            line.push_str("  ");
        }
        line.push_str(last);
        line.trim_end().to_owned()
    };
    let mut out = String::new();
    let heading = crate::policy::i18n::stats_heading(locale, &group.to_string(), rows.len());
    let _ = writeln!(out, "{heading}");
    let head: [&str; 7] = [
        columns[0], columns[1], columns[2], columns[3], columns[4], columns[5], columns[6],
    ];
    let _ = writeln!(out, "{}", row_line(head, columns[7]));
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
        let cells = [
            row.date.to_string(),
            s.messages.to_string(),
            s.active_members.to_string(),
            s.joins.to_string(),
            s.leaves.to_string(),
            violations.to_string(),
            actions.to_string(),
        ];
        let cells: [&str; 7] = std::array::from_fn(|i| cells[i].as_str());
        let _ = writeln!(out, "{}", row_line(cells, &top));
        for (total, n) in totals
            .iter_mut()
            .zip([s.messages, s.active_members, s.joins, s.leaves, violations, actions])
        {
            *total += n;
        }
    }
    let cells = [
        stats_total(locale).to_owned(),
        totals[0].to_string(),
        "-".to_owned(),
        totals[2].to_string(),
        totals[3].to_string(),
        totals[4].to_string(),
        totals[5].to_string(),
    ];
    let cells: [&str; 7] = std::array::from_fn(|i| cells[i].as_str());
    let _ = writeln!(out, "{}", row_line(cells, ""));
    out
}
