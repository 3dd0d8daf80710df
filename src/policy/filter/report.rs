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
use crate::policy::i18n::{ExplainEffect, ExplainLine, ExplainNoAction, ExplainReason, ExplainThreshold, explain_line};
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
/// ladder would do to a member with no strikes. The lines are in `operator`'s language; the
/// rule names members are shown, in `locale`, theirs.
#[must_use]
#[allow(clippy::too_many_arguments)]
pub fn explain(
    filter: &Filter,
    text: &str,
    group: Option<GroupId>,
    policy: Policy<'_>,
    member: Trust,
    lessons: &dyn Lessons,
    locale: Locale,
    operator: Locale,
) -> String {
    let matched = lessons.matched(filter, text);
    let mut out = String::new();
    lessons.with_learned_delta(&mut |delta| {
        out = explain_with(
            filter,
            text,
            group,
            policy,
            member,
            delta,
            matched.as_ref(),
            (locale, operator),
        );
    });
    out
}

/// [`explain`] with the instance's `delta` and `learned`, the learned sample the text matched;
/// the members' locale and the operator's.
#[allow(clippy::too_many_arguments)]
fn explain_with(
    filter: &Filter,
    text: &str,
    group: Option<GroupId>,
    policy: Policy<'_>,
    member: Trust,
    delta: Option<&Delta>,
    learned: Option<&LearnedMatch>,
    (locale, operator): (Locale, Locale),
) -> String {
    let report = filter.inspect_as(text, group, member, delta);
    let mut out = String::new();
    let mut line = |l: ExplainLine<'_>| {
        let _ = writeln!(out, "{}", explain_line(operator, l));
    };
    line(ExplainLine::Text(text));
    line(ExplainLine::Normalized(&report.normalized));
    line(ExplainLine::Member {
        trusted: member == Trust::Trusted,
    });
    if report.hits.is_empty() {
        line(ExplainLine::NoHits);
    } else {
        line(ExplainLine::HitsHeading);
        for (i, h) in report.hits.iter().enumerate() {
            line(ExplainLine::Hit {
                n: i + 1,
                rule: &h.rule,
                kind: kind_name(h.kind),
                pattern: &quote_pattern(h),
                start: h.start,
                end: h.end,
                found: &text[h.start..h.end],
            });
        }
    }
    line(match &report.violation {
        None => ExplainLine::RulesClean {
            weak_hits: !report.hits.is_empty(),
        },
        Some((v, reason)) => ExplainLine::RulesViolation {
            rule: &v.rule,
            reason: explain_reason(*reason),
        },
    });
    match (&report.explanation, report.threshold) {
        (Some(e), Some((kind, threshold))) => {
            // The threshold in force for this message: `cue_act` or `bare_act` where they
            // apply, not always `act`.
            line(ExplainLine::ModelScore {
                score: e.score,
                threshold: match kind {
                    ThresholdKind::Veto => ExplainThreshold::Veto(threshold),
                    ThresholdKind::Act => ExplainThreshold::Act(threshold),
                    ThresholdKind::Review => ExplainThreshold::Review(threshold),
                },
                above: e.score >= threshold,
            });
            if let Some(own) = report.judgement.own_words {
                line(ExplainLine::OwnWords {
                    score: own,
                    above: own >= threshold,
                });
            }
            line(ExplainLine::FeaturesHeading(e.logit));
            line(ExplainLine::Bias(e.bias));
            for c in &e.features {
                line(ExplainLine::Feature {
                    contribution: c.contribution(),
                    name: &c.name,
                    learned: c.learned,
                });
            }
            line(ExplainLine::Rest(e.rest));
        }
        _ if filter.model().is_some() => line(ExplainLine::ModelAbstains),
        _ => line(ExplainLine::NoModel),
    }
    if let Some(m) = learned {
        line(ExplainLine::LearnedMatch {
            id: &m.id,
            similarity: m.similarity,
            text: &m.text,
        });
    }
    let j = &report.judgement;
    if let Some(m) = learned {
        // The daemon looks for near-duplicates of marked spam before it asks the filter:
        // they act for anyone, new or trusted.
        line(ExplainLine::DecisionLearned(&m.id));
        line(ExplainLine::ShownLearned(&filter.display_name("learned", locale)));
        return out;
    }
    match (&j.violation, j.reason) {
        (Some(v), Some(reason)) => {
            line(ExplainLine::DecisionViolation {
                rule: &v.rule,
                reason: explain_reason(reason),
            });
            line(ExplainLine::Shown {
                name: &filter.display_name(&v.rule, locale),
                strikes: match v.severity {
                    Severity::Strikes(n) => Some(n),
                    Severity::Max => None,
                },
                action: action_name(v.action),
                recall: v.recall,
                dry_run: v.dry_run,
            });
            let ladder: Vec<String> = policy.ladder.iter().map(ToString::to_string).collect();
            let rung;
            let effect = match v.action {
                RuleAction::Ladder => {
                    let d = ladder::decide(&StrikeRecord::default(), v.severity, &v.rule, Timestamp::now(), policy);
                    rung = d.rung.to_string();
                    ExplainEffect::Ladder {
                        after: d.after,
                        rung: &rung,
                    }
                }
                RuleAction::Recall => ExplainEffect::Recall,
                RuleAction::Warn => ExplainEffect::Warn,
                RuleAction::Kick => ExplainEffect::Kick,
            };
            line(ExplainLine::Ladder {
                effect,
                ladder: &ladder.join(" → "),
            });
        }
        _ => {
            let why = if j.vetoed {
                ExplainNoAction::Vetoed
            } else if j.review {
                ExplainNoAction::Review
            } else if report.violation.is_some() {
                ExplainNoAction::NotForMember
            } else {
                ExplainNoAction::Nothing
            };
            line(ExplainLine::DecisionClean(why));
        }
    }
    out
}

fn explain_reason(reason: super::Reason) -> ExplainReason {
    match reason {
        super::Reason::Hard => ExplainReason::Hard,
        super::Reason::Strong => ExplainReason::Strong,
        super::Reason::Firm => ExplainReason::Firm,
        super::Reason::CueAndPattern => ExplainReason::CueAndPattern,
        super::Reason::TwoCues => ExplainReason::TwoCues,
        super::Reason::Model => ExplainReason::Model,
    }
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
