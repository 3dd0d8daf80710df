//! The record lines an operator reads at the terminal: `audit` cases and dead letters, the
//! `stats` table, `samples list`, and what `samples` and `bans` say they did.
//!
//! Times are shown in the zone the caller passes (`[stats] timezone`, the groups' zone, as
//! the console shows them), with their offset. Ids, rule ids, action kinds and `--label`
//! values stay as the data holds them: the operator types them back.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::locale::Locale;

/// Unix milliseconds as a time in `zone`, with its offset (`2026-11-21T14:05:03+08:00`).
#[must_use]
pub fn operator_time(ms: i64, zone: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| t.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    )
}

/// One audit case as a line of `qunguan audit`.
#[must_use]
pub fn audit_case_line(locale: Locale, e: &AuditEntry, zone: &TimeZone) -> String {
    let zh = locale == Locale::ZhCn;
    let member = match (e.user_name.is_empty(), zh) {
        (true, _) => e.user_id.to_string(),
        (false, true) => format!("{}（{}）", e.user_id, e.user_name),
        (false, false) => format!("{} ({})", e.user_id, e.user_name),
    };
    let actor = match (&e.actor, zh) {
        (Actor::Auto, true) => "自动".to_owned(),
        (Actor::Auto, false) => "auto".to_owned(),
        (Actor::Admin { user_id, .. }, true) => format!("管理员 {user_id}"),
        (Actor::Admin { user_id, .. }, false) => format!("admin {user_id}"),
        (Actor::Console { name, address }, true) => format!("控制台 {name:?}（来自 {address}）"),
        (Actor::Console { name, address }, false) => format!("console {name:?} from {address}"),
    };
    let when = operator_time(e.at_ms, zone);
    let what = super::super::measure(locale, e.measure);
    let mut line = if zh {
        format!(
            "#{}  {when}  {}  成员 {member}  操作人 {actor}  规则 {}  违规次数 {}→{}  {what}",
            e.case, e.group, e.rule, e.strikes_before, e.strikes_after,
        )
    } else {
        format!(
            "#{}  {when}  {}  member {member}  by {actor}  rule {}  strikes {}→{}  {what}",
            e.case, e.group, e.rule, e.strikes_before, e.strikes_after,
        )
    };
    if e.dry_run {
        line.push_str(if zh {
            "  [试运行：未发送]"
        } else {
            "  [dry run: not sent]"
        });
    }
    if let Some(undo) = e.undone_by {
        let _ = if zh {
            write!(line, "  [已被 #{undo} 撤销]")
        } else {
            write!(line, "  [undone by #{undo}]")
        };
    }
    if let Some(undone) = e.undoes {
        let _ = if zh {
            write!(line, "  [撤销 #{undone}]")
        } else {
            write!(line, "  [undoes #{undone}]")
        };
    }
    if !e.matched.is_empty() {
        let quoted: Vec<String> = e.matched.iter().map(|m| format!("{m:?}")).collect();
        let _ = write!(line, "  {} {}", if zh { "命中" } else { "matched" }, quoted.join(" "));
    }
    if !e.reason.is_empty() {
        let _ = write!(line, "  {} {:?}", if zh { "原因" } else { "reason" }, e.reason);
    }
    if !e.excerpt.is_empty() {
        let _ = write!(line, "  {} {:?}", if zh { "原文" } else { "text" }, e.excerpt);
    }
    line
}

/// One action the outbox gave up on, for [`dead_letter_line`].
#[derive(Clone, Copy, Debug)]
pub struct DeadLetterLine<'a> {
    /// Its number in the dead letters.
    pub seq: u64,
    /// When it was given up, unix ms.
    pub dead_ms: i64,
    /// The group (`qq:123`).
    pub group: &'a str,
    /// The action's kind (`delete_msg`), as the gateway names it.
    pub kind: &'a str,
    /// The audit case it belongs to.
    pub case: Option<u64>,
    /// How often it was tried.
    pub attempts: u32,
    /// Why it was given up (the gateway's own words).
    pub reason: &'a str,
}

/// One line of `qunguan audit --dead-letters`.
#[must_use]
pub fn dead_letter_line(locale: Locale, d: &DeadLetterLine<'_>, zone: &TimeZone) -> String {
    let when = operator_time(d.dead_ms, zone);
    let case = d.case.map_or_else(|| "-".to_owned(), |c| format!("#{c}"));
    let (seq, group, kind, attempts, reason) = (d.seq, d.group, d.kind, d.attempts, d.reason);
    match locale {
        Locale::ZhCn => format!("{seq}  {when}  {group}  {kind}  案件 {case}  已尝试 {attempts} 次  {reason}"),
        Locale::En => format!("{seq}  {when}  {group}  {kind}  case {case}  attempts {attempts}  {reason}"),
    }
}

/// The columns of the `qunguan stats` table, in order: date, messages, active members,
/// joins, leaves, violations, actions, and the top rule (left-aligned, last).
#[must_use]
pub fn stats_columns(locale: Locale) -> [&'static str; 8] {
    match locale {
        Locale::ZhCn => ["日期", "消息", "活跃", "入群", "退群", "违规", "处置", "最多的规则"],
        Locale::En => [
            "date",
            "messages",
            "active",
            "joins",
            "leaves",
            "violations",
            "actions",
            "top rule",
        ],
    }
}

/// The first cell of the `stats` total line.
#[must_use]
pub fn stats_total(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "合计",
        Locale::En => "total",
    }
}

/// How wide `text` is on a terminal: CJK and other wide characters take two columns.
#[must_use]
pub fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// `text` padded with spaces on the left (`right_align`) or right to `width` columns.
#[must_use]
pub fn pad(text: &str, width: usize, right_align: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(display_width(text)));
    if right_align {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// One learned sample, for [`sample_line`].
#[derive(Clone, Copy, Debug)]
pub struct SampleListLine<'a> {
    /// Its id.
    pub id: u64,
    /// `spam` or `ham`, as `--label` takes it.
    pub label: &'a str,
    /// Whether it is spam that no longer acts.
    pub retired: bool,
    /// When it was labelled, unix ms (none for an import without a time).
    pub at_ms: Option<i64>,
    /// The group (`qq:123`), if known.
    pub group: Option<&'a str>,
    /// Who labelled it and their name; `None` when imported.
    pub by: Option<(i64, &'a str)>,
    /// The audit case of the label.
    pub case: Option<u64>,
    /// An excerpt of its text.
    pub excerpt: &'a str,
}

/// One line of `qunguan samples list`.
#[must_use]
pub fn sample_line(locale: Locale, s: &SampleListLine<'_>, zone: &TimeZone) -> String {
    let zh = locale == Locale::ZhCn;
    let state = match (s.retired, zh) {
        (true, true) => "已停用",
        (true, false) => "retired",
        (false, true) => "生效中",
        (false, false) => "in force",
    };
    let at = s.at_ms.map_or_else(|| "-".to_owned(), |ms| operator_time(ms, zone));
    let by = match (s.by, zh) {
        (Some((id, "")), true) => format!("标注人 {id}"),
        (Some((id, name)), true) => format!("标注人 {id}（{name}）"),
        (None, true) => "导入".to_owned(),
        (Some((id, "")), false) => format!("by {id}"),
        (Some((id, name)), false) => format!("by {id} ({name})"),
        (None, false) => "imported".to_owned(),
    };
    let case = match (s.case, zh) {
        (Some(c), true) => format!("  案件 #{c}"),
        (Some(c), false) => format!("  case #{c}"),
        (None, _) => String::new(),
    };
    format!(
        "#{}  {}  {state}  {at}  {}  {by}{case}  {:?}",
        s.id,
        s.label,
        s.group.unwrap_or("-"),
        s.excerpt
    )
}

/// What `samples` and `bans` say they did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListChange<'a> {
    /// `samples import`: `count` samples as ids `range` (`#3–#5`), learned now by the
    /// running daemon or at its next start.
    SamplesImported {
        /// How many.
        count: usize,
        /// Their ids.
        range: &'a str,
        /// Whether a running daemon learned them.
        running: bool,
    },
    /// `samples remove`.
    SamplesRemoved(usize),
    /// `samples export --out`.
    SamplesWritten {
        /// How many.
        count: usize,
        /// The file.
        path: &'a str,
    },
    /// `bans add`: the member, whether they were banned already, and in how many groups a
    /// kick was queued.
    Banned {
        /// The member (`qq:123`).
        user: &'a str,
        /// Banned before: only the reason changed.
        already: bool,
        /// Groups whose kick was queued.
        kicks: usize,
    },
    /// `bans remove`.
    BansLifted(usize),
    /// `bans import`: entries read, and how many of them are new.
    BansImported {
        /// Entries in the file.
        count: usize,
        /// Members not banned before.
        new: usize,
    },
    /// `bans export --out`.
    BansWritten {
        /// How many.
        count: usize,
        /// The file.
        path: &'a str,
    },
}

/// The line `samples` or `bans` prints after a change.
#[must_use]
pub fn list_change(locale: Locale, change: ListChange<'_>) -> String {
    match (locale, change) {
        (Locale::ZhCn, ListChange::SamplesImported { count, range, running }) => format!(
            "已导入 {count} 条样本，编号 {range}（{}）",
            if running {
                "运行中的守护进程已学到"
            } else {
                "守护进程下次启动时学习"
            }
        ),
        (Locale::En, ListChange::SamplesImported { count, range, running }) => format!(
            "imported {count} sample(s) as {range} ({})",
            if running {
                "the running daemon learned them"
            } else {
                "the daemon learns them at its next start"
            }
        ),
        (Locale::ZhCn, ListChange::SamplesRemoved(n)) => format!("已删除 {n} 条样本"),
        (Locale::En, ListChange::SamplesRemoved(n)) => format!("removed {n} sample(s)"),
        (Locale::ZhCn, ListChange::SamplesWritten { count, path }) => format!("已把 {count} 条样本写入 {path}"),
        (Locale::En, ListChange::SamplesWritten { count, path }) => format!("{count} sample(s) written to {path}"),
        (Locale::ZhCn, ListChange::Banned { user, already, kicks }) => format!(
            "{user} {}；已排队从 {kicks} 个群移出",
            if already {
                "已在拉黑名单中，原因已更新"
            } else {
                "已拉黑"
            }
        ),
        (Locale::En, ListChange::Banned { user, already, kicks }) => format!(
            "{user} {}; removal from {kicks} group(s) queued",
            if already {
                "already banned; reason updated"
            } else {
                "banned"
            }
        ),
        (Locale::ZhCn, ListChange::BansLifted(n)) => format!("已解除 {n} 条拉黑"),
        (Locale::En, ListChange::BansLifted(n)) => format!("lifted {n} ban(s)"),
        (Locale::ZhCn, ListChange::BansImported { count, new }) => {
            format!("已导入 {count} 条拉黑，其中 {new} 条是新的")
        }
        (Locale::En, ListChange::BansImported { count, new }) => format!("imported {count} ban(s), {new} new"),
        (Locale::ZhCn, ListChange::BansWritten { count, path }) => format!("已把 {count} 条拉黑写入 {path}"),
        (Locale::En, ListChange::BansWritten { count, path }) => format!("{count} ban(s) written to {path}"),
    }
}
