//! The rules' decision: whether the evidence found in a message is a violation, and of which
//! rule.
//!
//! - a hard phrase (after the allow list and the word rule) is a violation;
//! - so is a strong detector (an id after a QQ/WeChat cue, `➕V`/`V：` before an id, an invite
//!   link, a de-obfuscated URL);
//! - a cue is one only together with a weak detector (a phone number, a URL, an @handle, a
//!   long digit run, flooding) somewhere else in the message, or with a cue of *another* rule
//!   in another place: 飞机 + 出金 (contact + finance) is an ad, "work from home … click here"
//!   (two phrases of one cue list) is still only talk, and so are cues of lists `rules.toml`
//!   calls `alike` (`要的私聊或者加我`: `contact` and `requests` both only ask to get in touch).
//!
//! **Places.** Evidence counts by *place*: two hits whose original spans overlap are one
//! place. A word that two lists hold, or that two spellings of the variants table reach, is
//! one place matched twice, never "two cues"; and a cue inside a pattern's own span (the
//! `telegram` of `telegram.org/docs`, the `qq` of `qq.com`) does not combine with that
//! pattern. Hits are in text order (sorted by start), so places are found in one pass.
//!
//! Among the hits that decide, the rule with the highest severity wins, then the first in the
//! text (of hard phrases starting at one place, the longest), so `severity = "max"` rules are never masked by a milder one in the same message.
//!
//! Whether the decision *acts* is [`super::Filter::judge`]'s business: a strong pattern
//! always does; the others ("soft" hits) unless the model is confident the message is benign.

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
    /// A hard phrase of a list the model never overrules (`model_veto = false`), or a hard
    /// phrase that is all but the whole message (nothing around it for the model to read).
    Firm,
    /// A cue together with a weak detector in another place.
    CueAndPattern,
    /// Cues of two different rules in two different places.
    TwoCues,
    /// No rule: the model's score alone, at or above the threshold for new members.
    Model,
}

impl Reason {
    /// Whether the model may overrule it (everything but a strong contact pattern, which acts
    /// as it always did, a hard phrase of a `model_veto = false` list, and the model's own
    /// verdict).
    #[must_use]
    pub fn is_soft(self) -> bool {
        matches!(self, Self::Hard | Self::CueAndPattern | Self::TwoCues)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hard => "a hard phrase",
            Self::Strong => "a strong contact pattern",
            Self::Firm => "a hard phrase the model does not overrule",
            Self::CueAndPattern => "a cue together with a contact pattern",
            Self::TwoCues => "cues of two different rules in two places",
            Self::Model => "the model's score alone",
        })
    }
}

/// What the decision looks at, per hit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Evidence {
    pub(crate) rule: u32,
    /// The rule's kin: the same number for rules whose cues say the same kind of thing
    /// (`alike` in `rules.toml`), which do not count as cues of two rules together; otherwise
    /// the rule's own number.
    pub(crate) kin: u32,
    pub(crate) kind: HitKind,
    pub(crate) strong: bool,
    pub(crate) severity: Severity,
    /// Original byte span: hits whose spans overlap are one place.
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// A fact about the whole message rather than a place in it (flooding, whose span is the
    /// message): it combines with any cue.
    pub(crate) whole: bool,
    /// A hard phrase in quotation marks, which decides as a cue (`kind` says `Cue`) but is not
    /// counted among the message's cue places (the model's flags are those of the phrase).
    pub(crate) quoted: bool,
}

impl Evidence {
    fn overlaps(&self, other: &Self) -> bool {
        !self.whole && !other.whole && self.start < other.end && other.start < self.end
    }
}

/// The index of the deciding hit among `hits` (in text order: sorted by start), and why;
/// `None`: no violation.
pub(crate) fn decide(hits: &[Evidence]) -> Option<(usize, Reason)> {
    let pick = |reason: Reason, eligible: &dyn Fn(usize, &Evidence) -> bool| {
        hits.iter()
            .enumerate()
            .filter(|(i, h)| eligible(*i, h))
            // max_by_key keeps the last maximum; reverse so the first in the text wins ties, and
            // of hard phrases starting at one place the longest (`f u c k off` of an insult list
            // over the `f u c k` inside it).
            .rev()
            .max_by_key(|(_, h)| {
                let end = if reason == Reason::Hard { h.end } else { 0 };
                (weight(h.severity), std::cmp::Reverse(h.start), end)
            })
            .map(|(i, _)| (i, reason))
    };
    if let Some(d) = pick(Reason::Hard, &|_, h| h.kind == HitKind::Hard) {
        return Some(d);
    }
    if let Some(d) = pick(Reason::Strong, &|_, h| h.kind == HitKind::Regex && h.strong) {
        return Some(d);
    }
    if !hits.iter().any(|h| h.kind == HitKind::Cue) {
        return None;
    }
    let weak = |h: &Evidence| h.kind == HitKind::Regex && !h.strong;
    // A cue with a weak pattern it does not overlap.
    let with_pattern =
        |_: usize, c: &Evidence| c.kind == HitKind::Cue && hits.iter().any(|p| weak(p) && !p.overlaps(c));
    if let Some(d) = pick(Reason::CueAndPattern, &with_pattern) {
        return Some(d);
    }
    // A cue with a cue of another rule, not its kin, that it does not overlap.
    let with_other_cue = |_: usize, c: &Evidence| {
        c.kind == HitKind::Cue
            && hits
                .iter()
                .any(|o| o.kind == HitKind::Cue && o.kin != c.kin && !o.overlaps(c))
    };
    pick(Reason::TwoCues, &with_other_cue)
}

/// How many places of the text hold a cue: cue spans that overlap (one word in two lists,
/// `纸飞机` and `飞机`) are one place. `hits` are in text order.
pub(crate) fn cue_places(hits: &[Evidence]) -> usize {
    let mut places = 0;
    let mut reach = 0;
    for h in hits.iter().filter(|h| h.kind == HitKind::Cue && !h.quoted) {
        if places == 0 || h.start >= reach {
            places += 1;
            reach = h.end;
        } else {
            reach = reach.max(h.end);
        }
    }
    places
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

    /// A hit of `rule` at bytes `at.0..at.1`.
    fn e(rule: u32, kind: HitKind, strong: bool, severity: Severity, at: (u32, u32)) -> Evidence {
        Evidence {
            rule,
            kin: rule,
            kind,
            strong,
            severity,
            start: at.0,
            end: at.1,
            whole: false,
            quoted: false,
        }
    }

    /// A cue of `rule` at bytes `at.0..at.1` whose kin is rule 0 (`alike` with it).
    fn kin0(rule: u32, at: (u32, u32)) -> Evidence {
        Evidence {
            kin: 0,
            ..e(rule, HitKind::Cue, false, ONE, at)
        }
    }

    const ONE: Severity = Severity::Strikes(1);

    #[test]
    fn decision_table() {
        use HitKind::{Cue, Hard, Regex};
        type Row = (&'static str, Vec<Evidence>, Option<(usize, Reason)>);
        let rows: &[Row] = &[
            ("nothing", vec![], None),
            (
                "one hard phrase",
                vec![e(0, Hard, false, ONE, (0, 6))],
                Some((0, Reason::Hard)),
            ),
            ("a cue alone", vec![e(0, Cue, false, ONE, (0, 6))], None),
            (
                "two cues of one rule",
                vec![e(0, Cue, false, ONE, (0, 6)), e(0, Cue, false, ONE, (9, 15))],
                None,
            ),
            (
                "cues of two rules in two places",
                vec![e(0, Cue, false, ONE, (0, 6)), e(1, Cue, false, ONE, (9, 15))],
                Some((0, Reason::TwoCues)),
            ),
            (
                "two places: one word in two lists, another word of the first",
                vec![
                    e(0, Cue, false, ONE, (0, 6)),
                    e(1, Cue, false, ONE, (0, 6)),
                    e(0, Cue, false, ONE, (9, 15)),
                ],
                Some((1, Reason::TwoCues)),
            ),
            (
                "cues of two rules that are kin (`alike`) are one ask said twice",
                vec![kin0(0, (0, 6)), kin0(1, (9, 15))],
                None,
            ),
            (
                "a third rule's cue pairs with kin",
                vec![kin0(0, (0, 6)), kin0(1, (9, 15)), e(2, Cue, false, ONE, (18, 24))],
                Some((0, Reason::TwoCues)),
            ),
            (
                "one place in two lists is one cue",
                vec![e(0, Cue, false, ONE, (0, 6)), e(1, Cue, false, ONE, (0, 6))],
                None,
            ),
            (
                "overlapping cues of two lists (two spellings of one spot) are one place",
                vec![e(0, Cue, false, ONE, (0, 9)), e(1, Cue, false, ONE, (3, 12))],
                None,
            ),
            ("a weak pattern alone", vec![e(5, Regex, false, ONE, (0, 11))], None),
            (
                "a cue and a weak pattern in another place",
                vec![e(5, Regex, false, ONE, (0, 11)), e(0, Cue, false, ONE, (12, 18))],
                Some((1, Reason::CueAndPattern)),
            ),
            (
                "a cue inside the pattern's own span does not combine with it",
                vec![e(5, Regex, false, ONE, (0, 20)), e(0, Cue, false, ONE, (8, 16))],
                None,
            ),
            (
                "flooding is about the whole message: it combines with a cue inside it",
                vec![
                    Evidence {
                        whole: true,
                        ..e(7, Regex, false, ONE, (0, 60))
                    },
                    e(0, Cue, false, ONE, (0, 6)),
                ],
                Some((1, Reason::CueAndPattern)),
            ),
            (
                "a cue inside one pattern combines with another pattern",
                vec![
                    e(5, Regex, false, ONE, (0, 20)),
                    e(0, Cue, false, ONE, (8, 16)),
                    e(6, Regex, false, ONE, (25, 36)),
                ],
                Some((1, Reason::CueAndPattern)),
            ),
            (
                "a strong pattern",
                vec![e(5, Regex, true, ONE, (0, 11))],
                Some((0, Reason::Strong)),
            ),
            (
                "hard beats strong",
                vec![e(5, Regex, true, ONE, (0, 11)), e(0, Hard, false, ONE, (12, 18))],
                Some((1, Reason::Hard)),
            ),
            (
                "the more severe hard rule wins",
                vec![
                    e(0, Hard, false, ONE, (0, 6)),
                    e(1, Hard, false, Severity::Max, (9, 15)),
                ],
                Some((1, Reason::Hard)),
            ),
            (
                "ties go to the first in the text",
                vec![e(0, Hard, false, ONE, (0, 6)), e(1, Hard, false, ONE, (9, 15))],
                Some((0, Reason::Hard)),
            ),
        ];
        for (name, hits, want) in rows {
            assert_eq!(decide(hits), *want, "{name}");
        }
    }

    #[test]
    fn cue_places_merge_overlapping_cues() {
        use HitKind::{Cue, Regex};
        let rows: &[(&str, Vec<Evidence>, usize)] = &[
            ("none", vec![], 0),
            ("patterns are not cues", vec![e(5, Regex, false, ONE, (0, 6))], 0),
            (
                "one word in two lists",
                vec![e(0, Cue, false, ONE, (0, 6)), e(1, Cue, false, ONE, (0, 6))],
                1,
            ),
            (
                "a chain of overlaps is one place",
                vec![
                    e(0, Cue, false, ONE, (0, 6)),
                    e(1, Cue, false, ONE, (3, 9)),
                    e(2, Cue, false, ONE, (6, 12)),
                ],
                1,
            ),
            (
                "adjacent words are two places",
                vec![e(0, Cue, false, ONE, (0, 6)), e(0, Cue, false, ONE, (6, 12))],
                2,
            ),
        ];
        for (name, hits, want) in rows {
            assert_eq!(cue_places(hits), *want, "{name}");
        }
    }
}
