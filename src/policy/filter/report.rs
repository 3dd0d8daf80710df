//! What `qunguan filter explain` and `qunguan filter scan` print: the operator's view of the
//! filter, for checking a rule change against a message or against an exported chat log.

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};

use jiff::Timestamp;
use serde::Serialize;

use super::{Filter, Hit, HitKind, RuleAction, ThresholdKind, Trust};
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::domain::strike::{Severity, StrikeRecord};
use crate::policy::ladder::{self, Policy};
use crate::policy::model::Delta;
use crate::policy::neardup::{self, Match};

/// A learned spam sample a message matched (the near-duplicate index of the service), for
/// [`explain`] to show.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnedMatch {
    /// The sample's id, as `qunguan samples list` shows it.
    pub id: String,
    /// The sample's text.
    pub text: String,
    /// How similar the message is to it (0–1).
    pub similarity: f32,
}

impl LearnedMatch {
    /// The match `found` of the near-duplicate index, with its sample's text.
    #[must_use]
    pub fn new(found: &Match, text: String) -> Self {
        Self {
            id: format!("#{}", found.id),
            text,
            similarity: 1.0 - found.distance as f32 / neardup::BINS as f32,
        }
    }
}

/// What the instance learned from its admins, as the operator's views consult it: the
/// daemon's live state (`service::learning::Learning`, for the console) or a replay of the
/// stored samples (`qunguan filter explain|scan`). [`explain`] and [`scan`] take one, so every
/// view judges a message as the pipeline does: a near-duplicate of learned spam first (it acts
/// for anyone), else the filter with the instance's delta.
pub trait Lessons {
    /// Runs `f` with the model's instance delta (`None`: the shipped model alone).
    fn with_learned_delta(&self, f: &mut dyn FnMut(Option<&Delta>));
    /// The learned spam sample `text` is a near-duplicate of, if any.
    fn matched(&self, filter: &Filter, text: &str) -> Option<LearnedMatch>;
}

/// Nothing learned: the shipped model alone, no learned sample.
impl Lessons for () {
    fn with_learned_delta(&self, f: &mut dyn FnMut(Option<&Delta>)) {
        f(None);
    }
    fn matched(&self, _: &Filter, _: &str) -> Option<LearnedMatch> {
        None
    }
}

/// The human-readable explanation of how the filter sees `text` from a member of trust
/// `member`: the normalized text, every hit with its rule, kind, pattern and original span,
/// the rules' decision, the model's score with the threshold in force for the member and the
/// features that contributed most, any learned sample it matched, the decision, and what the
/// ladder would do to a member with no strikes.
#[must_use]
pub fn explain(
    filter: &Filter,
    text: &str,
    group: Option<GroupId>,
    policy: Policy<'_>,
    member: Trust,
    lessons: &dyn Lessons,
    locale: Locale,
) -> String {
    let matched = lessons.matched(filter, text);
    let mut out = String::new();
    lessons.with_learned_delta(&mut |delta| {
        out = explain_with(filter, text, group, policy, member, delta, matched.as_ref(), locale);
    });
    out
}

/// [`explain`] with the instance's `delta` and `learned`, the learned sample the text matched.
#[allow(clippy::too_many_arguments)]
fn explain_with(
    filter: &Filter,
    text: &str,
    group: Option<GroupId>,
    policy: Policy<'_>,
    member: Trust,
    delta: Option<&Delta>,
    learned: Option<&LearnedMatch>,
    locale: Locale,
) -> String {
    let report = filter.inspect_as(text, group, member, delta);
    let mut out = String::new();
    let _ = writeln!(out, "text:        {text}");
    let _ = writeln!(out, "normalized:  {}", report.normalized);
    let _ = writeln!(out, "member:      {member}");
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
    let rules = match &report.violation {
        None if report.hits.is_empty() => "no violation (nothing matched)".to_owned(),
        None => "no violation (cues and weak patterns alone are not a violation)".to_owned(),
        Some((v, reason)) => format!("violation of rule {} ({reason})", v.rule),
    };
    let _ = writeln!(out, "rules:       {rules}");
    match (&report.explanation, report.threshold) {
        (Some(e), Some((kind, threshold))) => {
            let (veto, act) = filter.thresholds();
            let against = match kind {
                ThresholdKind::Veto => {
                    format!("veto threshold {veto}: the rules' hit stands at or above it, is overruled below it")
                }
                ThresholdKind::Act => format!("act threshold {act}: the model alone acts at or above it"),
                ThresholdKind::Review => {
                    format!("review threshold {act}: a trusted member's message at or above it goes to the review list")
                }
            };
            let _ = writeln!(
                out,
                "model:       score {:.3} ({}; {against})",
                e.score,
                if e.score >= threshold { "at or above" } else { "below" }
            );
            let _ = writeln!(
                out,
                "features:    the largest contributions to the log-odds {:+.3}",
                e.logit
            );
            let _ = writeln!(out, "  {:+8.3}  bias", e.bias);
            for c in &e.features {
                let learned = if c.learned == 0.0 {
                    String::new()
                } else {
                    format!(" (learned {:+.3})", c.learned)
                };
                let _ = writeln!(out, "  {:+8.3}  {:?}{learned}", c.contribution(), c.name);
            }
            let _ = writeln!(out, "  {:+8.3}  everything else", e.rest);
        }
        _ if filter.model().is_some() => {
            let _ = writeln!(
                out,
                "model:       abstains (the text is mostly in a script the corpus does not cover): the rules decide alone"
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "model:       none loaded (rules/model.bin): the rules decide alone"
            );
        }
    }
    if let Some(m) = learned {
        let _ = writeln!(
            out,
            "learned:     matches admin-marked spam sample {} (similarity {:.2}): {:?}",
            m.id, m.similarity, m.text
        );
    }
    let j = &report.judgement;
    if let Some(m) = learned {
        // The daemon looks for near-duplicates of marked spam before it asks the filter:
        // they act for anyone, new or trusted.
        let _ = writeln!(
            out,
            "decision:    violation of rule learned (a near-duplicate of admin-marked spam sample {}; acts for new and trusted members alike)",
            m.id
        );
        let _ = writeln!(
            out,
            "             shown to members as 「{}」; one strike; recall the message",
            filter.display_name("learned", locale)
        );
        return out;
    }
    match (&j.violation, j.reason) {
        (Some(v), Some(reason)) => {
            let _ = writeln!(out, "decision:    violation of rule {} ({reason})", v.rule);
            let severity = match v.severity {
                Severity::Strikes(n) => format!("{n} strike(s)"),
                Severity::Max => "straight to the last rung".to_owned(),
            };
            let _ = writeln!(
                out,
                "             shown to members as 「{}」; severity {severity}; action {}; {}{}",
                filter.display_name(&v.rule, locale),
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
        _ => {
            let why = if j.vetoed {
                "the model overruled the rules' hit: it is confident the message is benign"
            } else if j.review {
                "the member is trusted: recorded for admin review instead"
            } else if report.violation.is_some() {
                "the rules' hit does not act for this member"
            } else {
                "nothing acts"
            };
            let _ = writeln!(out, "decision:    no violation ({why})");
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
    /// The learned spam sample the message is a near-duplicate of (`#12`); left out when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    learned: Option<String>,
    hits: Vec<ScanHit<'a>>,
    /// The model's score; left out without a model, `null` for a script it does not cover.
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<Option<f32>>,
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
/// `{"text": …, "violation": …, "hits": [{"rule", "kind", "pattern", "start", "end"}],
/// "score": …}`, with `start`/`end` byte offsets into `text`; `violation` is the decision for
/// a member of trust `member` with what the instance learned (`lessons`, as [`explain`]: a
/// near-duplicate of learned spam is a violation for anyone, and `"learned": "#12"` names its
/// sample); `score` is the model's with the instance's delta (only with a model; `null` where
/// it abstains). Every rule applies, whatever its `groups`.
pub fn scan(
    filter: &Filter,
    mut input: impl BufRead,
    mut output: impl Write,
    jsonl: bool,
    member: Trust,
    lessons: &dyn Lessons,
) -> io::Result<ScanSummary> {
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
        let matched = lessons.matched(filter, text);
        let (mut violation, mut score) = (false, None);
        lessons.with_learned_delta(&mut |delta| {
            (violation, score) = filter.scan_into(text, member, delta, &mut hits);
        });
        let violation = violation || matched.is_some();
        summary.messages += 1;
        summary.violations += usize::from(violation);
        let record = ScanLine {
            text,
            violation,
            learned: matched.map(|m| m.id),
            score: filter.model().map(|_| score),
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
