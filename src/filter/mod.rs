//! The message filter: which rule, if any, a message's text violates.
//!
//! Every phrase of every word list is compiled into one Aho-Corasick automaton at load time,
//! so checking a message is a single pass over its text, whatever the number of phrases.
//! Matching is case-insensitive for ASCII letters and reports the matched span in the
//! original text so warnings and the audit log can quote exactly what was posted.
//!
//! [`Filter::check`] returns a [`Violation`]: the decision the pipeline acts on, with the
//! rule's settings (severity, action, recall, dry run) and the hits that caused it.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use crate::event::GroupId;
use crate::ladder::Severity;

/// A word list: a rule name (the file stem) and its phrases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordList {
    /// The rule's name.
    pub rule: String,
    /// The phrases, as written.
    pub phrases: Vec<String>,
}

/// A compiled filter. Immutable; a rules reload builds a new one.
#[derive(Clone, Debug)]
pub struct Filter {
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern: (rule index, phrase).
    patterns: Vec<(usize, Arc<str>)>,
    rules: Vec<Arc<str>>,
}

/// What kind of evidence a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A phrase that is a violation on its own.
    Hard,
    /// A weak signal, a violation only together with other evidence.
    Cue,
    /// A regular-expression detector.
    Regex,
}

/// What a rule does when it is violated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Add strikes and apply the ladder's rung.
    #[default]
    Ladder,
    /// Only recall the message.
    Recall,
    /// Post a warning.
    Warn,
    /// Remove the member at once.
    Kick,
}

/// A filter decision: the message violates `rule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The violated rule.
    pub rule: Arc<str>,
    /// The evidence, in text order (at least one hit).
    pub hits: Vec<Hit>,
    /// Strikes it adds.
    pub severity: Severity,
    /// What to do.
    pub action: RuleAction,
    /// Recall the message.
    pub recall: bool,
    /// Decide and record, but send nothing.
    pub dry_run: bool,
}

/// A phrase found in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The rule it belongs to.
    pub rule: Arc<str>,
    /// Hard phrase, cue or regex.
    pub kind: HitKind,
    /// The phrase as written in the word list.
    pub pattern: Arc<str>,
    /// Byte offset of the match in the checked text.
    pub start: usize,
    /// Byte offset just past the match.
    pub end: usize,
}

impl Filter {
    /// Compiles word lists into a filter.
    pub fn build(lists: &[WordList]) -> Result<Self, aho_corasick::BuildError> {
        let mut patterns: Vec<(usize, Arc<str>)> = Vec::new();
        let mut rules = Vec::with_capacity(lists.len());
        for (index, list) in lists.iter().enumerate() {
            rules.push(Arc::from(list.rule.as_str()));
            for phrase in &list.phrases {
                patterns.push((index, Arc::from(phrase.as_str())));
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .ascii_case_insensitive(true)
                    .build(patterns.iter().map(|(_, p)| p.as_bytes()))?,
            )
        };
        Ok(Self {
            automaton,
            patterns,
            rules,
        })
    }

    /// The first hit in `text`, if any.
    #[must_use]
    pub fn first_hit(&self, text: &str) -> Option<Hit> {
        let m = self.automaton.as_ref()?.find(text)?;
        let (rule, pattern) = &self.patterns[m.pattern().as_usize()];
        Some(Hit {
            rule: Arc::clone(&self.rules[*rule]),
            kind: HitKind::Hard,
            pattern: Arc::clone(pattern),
            start: m.start(),
            end: m.end(),
        })
    }

    /// The decision for a message posted in `group`: which rule it violates, if any.
    #[must_use]
    pub fn check(&self, text: &str, _group: GroupId) -> Option<Violation> {
        let hit = self.first_hit(text)?;
        Some(Violation {
            rule: Arc::clone(&hit.rule),
            hits: vec![hit],
            severity: Severity::default(),
            action: RuleAction::Ladder,
            recall: true,
            dry_run: false,
        })
    }

    /// Number of phrases compiled in.
    #[must_use]
    pub fn phrase_count(&self) -> usize {
        self.patterns.len()
    }

    /// Names of the rules, in load order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &**r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(lists: &[(&str, &[&str])]) -> Filter {
        let lists: Vec<WordList> = lists
            .iter()
            .map(|(rule, phrases)| WordList {
                rule: (*rule).into(),
                phrases: phrases.iter().map(|p| (*p).into()).collect(),
            })
            .collect();
        Filter::build(&lists).expect("builds")
    }

    #[test]
    fn finds_phrases_case_insensitively_with_original_offsets() {
        let f = filter(&[("ads", &["加微信", "free money"]), ("scam", &["刷单"])]);
        let hit = f.first_hit("hello FREE Money now").expect("hit");
        assert_eq!(
            (&*hit.rule, &*hit.pattern, hit.start, hit.end),
            ("ads", "free money", 6, 16)
        );
        let hit = f.first_hit("兼职刷单日结").expect("hit");
        assert_eq!((&*hit.rule, &"兼职刷单日结"[hit.start..hit.end]), ("scam", "刷单"));
        assert_eq!(f.first_hit("今天天气不错"), None);
    }

    #[test]
    fn prefers_the_longest_phrase_at_a_position() {
        let f = filter(&[("a", &["微信"]), ("b", &["微信号"])]);
        assert_eq!(&*f.first_hit("我的微信号是").expect("hit").pattern, "微信号");
    }

    #[test]
    fn an_empty_filter_matches_nothing() {
        assert_eq!(filter(&[]).first_hit("anything"), None);
    }
}
