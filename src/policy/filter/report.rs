//! What `qunguan filter explain` and `qunguan filter scan` print: the operator's view of the
//! filter, for checking a rule change against a message or against an exported chat log.

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};

use jiff::Timestamp;
use serde::Serialize;

use super::{Filter, Hit, HitKind, RuleAction, Trust};
use crate::domain::event::GroupId;
use crate::domain::strike::{Severity, StrikeRecord};
use crate::policy::ladder::{self, Policy};

/// The human-readable explanation of how the filter sees `text`: the normalized text, every
/// hit with its rule, kind, pattern and original span, the decision, and what the ladder
/// would do to a member with no strikes.
#[must_use]
pub fn explain(filter: &Filter, text: &str, group: Option<GroupId>, policy: Policy<'_>) -> String {
    let report = filter.inspect(text, group);
    let mut out = String::new();
    let _ = writeln!(out, "text:        {text}");
    let _ = writeln!(out, "normalized:  {}", report.normalized);
    if report.hits.is_empty() {
        let _ = writeln!(out, "hits:        none");
    } else {
        let _ = writeln!(out, "hits:");
        for (i, h) in report.hits.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} ({}) pattern {} at bytes {}..{}: {:?}",
                i + 1,
                h.rule,
                kind_name(h.kind),
                quote_pattern(h),
                h.start,
                h.end,
                &text[h.start..h.end]
            );
        }
    }
    match &report.violation {
        None => {
            let why = if report.hits.is_empty() {
                "nothing matched"
            } else {
                "cues and weak patterns alone are not a violation"
            };
            let _ = writeln!(out, "decision:    no violation ({why})");
        }
        Some((v, reason)) => {
            let _ = writeln!(out, "decision:    violation of rule {} ({reason})", v.rule);
            let severity = match v.severity {
                Severity::Strikes(n) => format!("{n} strike(s)"),
                Severity::Max => "straight to the last rung".to_owned(),
            };
            let _ = writeln!(
                out,
                "             severity {severity}; action {}; {}{}",
                action_name(v.action),
                if v.recall {
                    "recall the message"
                } else {
                    "keep the message"
                },
                if v.dry_run { "; DRY RUN: nothing is sent" } else { "" }
            );
            let ladder: Vec<String> = policy.ladder.iter().map(ToString::to_string).collect();
            let effect = match v.action {
                RuleAction::Ladder => {
                    let d = ladder::decide(&StrikeRecord::default(), v.severity, &v.rule, Timestamp::now(), policy);
                    format!("a member with no strikes gets strike {} → {}", d.after, d.rung)
                }
                RuleAction::Recall => "recall only, no strike".to_owned(),
                RuleAction::Warn => "a warning, no strike".to_owned(),
                RuleAction::Kick => "the member is removed at once".to_owned(),
            };
            let _ = writeln!(out, "ladder:      {effect} (ladder: {})", ladder.join(" → "));
        }
    }
    out
}

fn kind_name(kind: HitKind) -> &'static str {
    match kind {
        HitKind::Hard => "hard",
        HitKind::Cue => "cue",
        HitKind::Regex => "regex",
    }
}

fn action_name(action: RuleAction) -> &'static str {
    match action {
        RuleAction::Ladder => "ladder",
        RuleAction::Recall => "recall",
        RuleAction::Warn => "warn",
        RuleAction::Kick => "kick",
    }
}

fn quote_pattern(h: &Hit) -> String {
    match h.kind {
        HitKind::Regex if h.pattern.starts_with('{') && h.pattern.ends_with('}') => h.pattern.to_string(),
        HitKind::Regex => format!("/{}/", h.pattern),
        HitKind::Hard | HitKind::Cue => format!("{:?}", &*h.pattern),
    }
}

/// One line of `filter scan` output.
#[derive(Serialize)]
struct ScanLine<'a> {
    text: &'a str,
    violation: bool,
    hits: Vec<ScanHit<'a>>,
}

#[derive(Serialize)]
struct ScanHit<'a> {
    rule: &'a str,
    kind: HitKind,
    pattern: &'a str,
    start: usize,
    end: usize,
}

/// What a scan went through.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    /// Messages scanned.
    pub messages: usize,
    /// Messages that are violations.
    pub violations: usize,
    /// Input lines that could not be read as a message: (1-based line, why). They are
    /// reported, not silently dropped.
    pub bad_lines: Vec<(usize, String)>,
}

/// Reads one message per line from `input` (with `jsonl`, each line is a JSON string, so a
/// message can hold newlines) and writes one JSON object per message to `output`:
/// `{"text": …, "violation": …, "hits": [{"rule", "kind", "pattern", "start", "end"}]}`, with
/// `start`/`end` byte offsets into `text`. Every rule applies, whatever its `groups`.
pub fn scan(filter: &Filter, mut input: impl BufRead, mut output: impl Write, jsonl: bool) -> io::Result<ScanSummary> {
    let mut summary = ScanSummary::default();
    let mut raw = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    let mut line_no = 0;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        let mut line: &[u8] = &raw;
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        let decoded: String;
        let text: &str = if jsonl {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<String>(line) {
                Ok(s) => {
                    decoded = s;
                    &decoded
                }
                Err(e) => {
                    summary.bad_lines.push((line_no, format!("not a JSON string: {e}")));
                    continue;
                }
            }
        } else {
            match std::str::from_utf8(line) {
                Ok(s) => s,
                Err(e) => {
                    summary.bad_lines.push((line_no, format!("not valid UTF-8: {e}")));
                    continue;
                }
            }
        };
        let (violation, _score) = filter.scan_into(text, Trust::New, &mut hits);
        summary.messages += 1;
        summary.violations += usize::from(violation);
        let record = ScanLine {
            text,
            violation,
            hits: hits
                .iter()
                .map(|h| ScanHit {
                    rule: &h.rule,
                    kind: h.kind,
                    pattern: &h.pattern,
                    start: h.start,
                    end: h.end,
                })
                .collect(),
        };
        serde_json::to_writer(&mut output, &record)?;
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(summary)
}
