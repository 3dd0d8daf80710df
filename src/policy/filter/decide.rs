//! The decision: whether the evidence found in a message is a violation, and of which rule.
//!
//! - a hard phrase (after the allow list and the word rule) is a violation;
//! - so is a strong detector (an id after a QQ/WeChat cue, an invite link, a de-obfuscated
//!   URL);
//! - a cue is one only together with a weak detector (a phone number, a URL, an @handle, a
//!   long digit run, flooding) or with a cue of *another* rule: 飞机 + 出金 (contact + finance)
//!   is an ad, "work from home … click here" (two phrases of one cue list) is still only talk.
//!
//! Among the hits that decide, the rule with the highest severity wins, then the first in the
//! text, so `severity = "max"` rules are never masked by a milder one in the same message.

use serde::Serialize;

use super::HitKind;
use crate::domain::strike::Severity;

/// Why a message is a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A hard phrase.
    Hard,
    /// A strong detector.
    Strong,
    /// A cue together with a weak detector.
    CueAndPattern,
    /// Cues of two different rules.
    TwoCues,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hard => "a hard phrase",
            Self::Strong => "a strong contact pattern",
            Self::CueAndPattern => "a cue together with a contact pattern",
            Self::TwoCues => "cues of two different rules",
        })
    }
}

/// What the decision looks at, per hit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Evidence {
    pub(crate) rule: u32,
    pub(crate) kind: HitKind,
    pub(crate) strong: bool,
    pub(crate) severity: Severity,
}

/// The index of the deciding hit among `hits` (in text order), and why; `None`: no
/// violation.
pub(crate) fn decide(hits: &[Evidence]) -> Option<(usize, Reason)> {
    let pick = |reason: Reason, eligible: &dyn Fn(&Evidence) -> bool| {
        hits.iter()
            .enumerate()
            .filter(|(_, h)| eligible(h))
            // max_by_key keeps the last maximum; reverse so the first in the text wins ties.
            .rev()
            .max_by_key(|(_, h)| weight(h.severity))
            .map(|(i, _)| (i, reason))
    };
    if let Some(d) = pick(Reason::Hard, &|h| h.kind == HitKind::Hard) {
        return Some(d);
    }
    if let Some(d) = pick(Reason::Strong, &|h| h.kind == HitKind::Regex && h.strong) {
        return Some(d);
    }
    let mut cues = hits.iter().filter(|h| h.kind == HitKind::Cue);
    let first_cue = cues.next()?;
    if hits.iter().any(|h| h.kind == HitKind::Regex && !h.strong) {
        return pick(Reason::CueAndPattern, &|h| h.kind == HitKind::Cue);
    }
    if cues.any(|h| h.rule != first_cue.rule) {
        return pick(Reason::TwoCues, &|h| h.kind == HitKind::Cue);
    }
    None
}

fn weight(severity: Severity) -> u64 {
    match severity {
        Severity::Strikes(n) => u64::from(n),
        Severity::Max => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(rule: u32, kind: HitKind, strong: bool, severity: Severity) -> Evidence {
        Evidence {
            rule,
            kind,
            strong,
            severity,
        }
    }

    const ONE: Severity = Severity::Strikes(1);

    #[test]
    fn decision_table() {
        use HitKind::{Cue, Hard, Regex};
        type Row = (&'static str, Vec<Evidence>, Option<(usize, Reason)>);
        let rows: &[Row] = &[
            ("nothing", vec![], None),
            ("one hard phrase", vec![e(0, Hard, false, ONE)], Some((0, Reason::Hard))),
            ("a cue alone", vec![e(0, Cue, false, ONE)], None),
            (
                "two cues of one rule",
                vec![e(0, Cue, false, ONE), e(0, Cue, false, ONE)],
                None,
            ),
            (
                "cues of two rules",
                vec![e(0, Cue, false, ONE), e(1, Cue, false, ONE)],
                Some((0, Reason::TwoCues)),
            ),
            ("a weak pattern alone", vec![e(5, Regex, false, ONE)], None),
            (
                "a cue and a weak pattern",
                vec![e(5, Regex, false, ONE), e(0, Cue, false, ONE)],
                Some((1, Reason::CueAndPattern)),
            ),
            (
                "a strong pattern",
                vec![e(5, Regex, true, ONE)],
                Some((0, Reason::Strong)),
            ),
            (
                "hard beats strong",
                vec![e(5, Regex, true, ONE), e(0, Hard, false, ONE)],
                Some((1, Reason::Hard)),
            ),
            (
                "the more severe hard rule wins",
                vec![e(0, Hard, false, ONE), e(1, Hard, false, Severity::Max)],
                Some((1, Reason::Hard)),
            ),
            (
                "ties go to the first in the text",
                vec![e(0, Hard, false, ONE), e(1, Hard, false, ONE)],
                Some((0, Reason::Hard)),
            ),
        ];
        for (name, hits, want) in rows {
            assert_eq!(decide(hits), *want, "{name}");
        }
    }
}
