//! The message filter: which rule, if any, a message violates, and the evidence.
//!
//! A message goes through these steps, each built once when the rules load so that checking a
//! message allocates nothing (buffers are reused per thread):
//!
//! 1. [`normalize`](crate::policy::normalize): one table lookup per character gives the compact view
//!    (folded, noise skipped) with a map back to the original bytes;
//! 2. the variants table rewrites evasive spellings (`V信` → `微信`);
//! 3. one Aho-Corasick automaton holds every phrase of every word list; a second one over the
//!    collapsed view catches stretched Latin words (`viiiagra`); word and exact rules are
//!    checked per hit; rules scoped to other groups are skipped;
//! 4. the contact detectors run on the views that could hold what they look for
//!    (`detect`);
//! 5. hits lying entirely inside an allow-list hit are dropped;
//! 6. `decide` turns the evidence into a decision (hard phrases, strong patterns, cues
//!    with a pattern or a second cue).
//!
//! [`Filter::check`] returns a [`Violation`]: the decision the pipeline acts on, with the
//! deciding rule's settings and every hit, each quoting its exact span of the original text.
//! [`Filter::inspect`] returns everything (normalized text, all hits, the reason) for
//! `qunguan filter explain` and `scan`.

mod decide;
pub(crate) mod detect;
mod engine;
mod phrases;
pub(crate) mod report;
pub(crate) mod spec;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

pub use decide::Reason;
use detect::{Builtin, Detector, DetectorHit, Detectors};
use phrases::{PhraseHit, Phrases};
use serde::{Deserialize, Serialize};
pub use spec::{
    Automaton, FilterSpec, MatchMode, Mode, Phrase, RegexSpec, RegexView, RuleAction, RuleSettings, Strength, Variant,
    WordList,
};

use crate::domain::event::GroupId;
use crate::domain::strike::Severity;
use crate::policy::normalize::{Normalizer, View};

/// A compiled filter. Immutable; a rules reload builds a new one.
#[derive(Clone, Debug)]
pub struct Filter {
    normalizer: Normalizer,
    /// Word-list rules first, then one rule per detector.
    rules: Vec<Rule>,
    /// How many of `rules` are word lists.
    lists: usize,
    phrases: Phrases,
    detectors: Detectors,
}

/// A rule's name and settings, as compiled.
#[derive(Clone, Debug)]
struct Rule {
    name: Arc<str>,
    settings: RuleSettings,
}

/// What kind of evidence a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A phrase that is a violation on its own.
    Hard,
    /// A weak signal, a violation only together with other evidence.
    Cue,
    /// A contact detector (built-in or `[[regex]]`).
    Regex,
}

/// A filter decision: the message violates `rule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The violated rule.
    pub rule: Arc<str>,
    /// The evidence, in text order (at least one hit): every hit that survived the allow list
    /// and the word rules, deciding or not — except weak patterns in a message without any
    /// phrase hit, which are not looked for because they cannot decide anything there
    /// ([`Filter::inspect`] always reports everything).
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

/// A phrase or pattern found in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The rule it belongs to (a word list's name, or a detector's).
    pub rule: Arc<str>,
    /// Hard phrase, cue or regex.
    pub kind: HitKind,
    /// The phrase as written in the word list, or the detector's pattern.
    pub pattern: Arc<str>,
    /// Byte offset of the match in the checked (original) text; on a char boundary.
    pub start: usize,
    /// Byte offset just past the match; on a char boundary.
    pub end: usize,
}

/// Everything the filter sees in one message (for `filter explain` / `scan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The compact normalized text phrases are matched against (variants applied).
    pub normalized: String,
    /// Every hit, in text order.
    pub hits: Vec<Hit>,
    /// The decision and why.
    pub violation: Option<(Violation, Reason)>,
}

/// A rule that cannot be compiled, with the file and line to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct BuildError {
    /// The file at fault (empty when not known).
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl BuildError {
    fn at(file: &std::path::Path, line: usize, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(line),
            reason: reason.into(),
        }
    }
}

/// One evidence item while a message is checked: a phrase target or a detector, with its
/// original span.
#[derive(Clone, Copy, Debug)]
struct Found {
    rule: u32,
    kind: HitKind,
    strong: bool,
    /// Phrase target index, or detector index for regex hits.
    source: u32,
    start: u32,
    end: u32,
}

/// Buffers reused from message to message on each thread.
#[derive(Debug, Default)]
struct Scratch {
    compact: View,
    spliced: View,
    replacements: Vec<(usize, usize, u32)>,
    collapsed: View,
    allowed: Vec<(u32, u32)>,
    detect: detect::Scratch,
    phrase_hits: Vec<PhraseHit>,
    detector_hits: Vec<DetectorHit>,
    found: Vec<Found>,
    evidence: Vec<decide::Evidence>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Filter {
    /// Compiles a filter.
    pub fn build(spec: &FilterSpec) -> Result<Self, BuildError> {
        let normalizer = Normalizer::new(spec.normalize);
        let pairs: Vec<(String, String)> = spec
            .variants
            .iter()
            .map(|v| (v.spelling.text.clone(), v.canonical.clone()))
            .collect();
        let mut builder = phrases::Builder::new(&normalizer, &pairs).map_err(|reason| BuildError {
            file: spec
                .variants
                .first()
                .map(|v| v.spelling.file.clone())
                .unwrap_or_default(),
            line: None,
            reason: reason.to_string(),
        })?;
        let mut rules = Vec::with_capacity(spec.lists.len() + Builtin::ALL.len());
        for list in &spec.lists {
            let rule = u32::try_from(rules.len()).unwrap_or(u32::MAX);
            rules.push(Rule {
                name: Arc::from(list.rule.as_str()),
                settings: list.settings.clone(),
            });
            for phrase in &list.phrases {
                if !builder.add(rule, &phrase.text, list.settings.matching) {
                    return Err(BuildError::at(
                        &phrase.file,
                        phrase.line,
                        format!(
                            "the phrase {:?} is only spaces, punctuation or symbols, which matching skips; remove it",
                            phrase.text
                        ),
                    ));
                }
            }
        }
        for phrase in &spec.allow {
            if !builder.allow(&phrase.text) {
                return Err(BuildError::at(
                    &phrase.file,
                    phrase.line,
                    format!(
                        "the allow-list phrase {:?} normalizes to nothing; remove it",
                        phrase.text
                    ),
                ));
            }
        }
        let lists = rules.len();
        let phrases = builder.build(spec.automaton).map_err(|e| BuildError {
            file: PathBuf::new(),
            line: None,
            reason: format!("cannot compile the phrases: {e}"),
        })?;
        let (detector_list, patterns, origins) = detectors(spec, &mut rules)?;
        let detectors = Detectors::build(detector_list, &patterns).map_err(|(i, e)| match &origins[i] {
            Some((file, line)) => BuildError::at(file, *line, format!("the regex does not compile: {e}")),
            None => BuildError {
                file: PathBuf::new(),
                line: None,
                reason: format!("built-in detector: {e}"),
            },
        })?;
        Ok(Self {
            normalizer,
            rules,
            lists,
            phrases,
            detectors,
        })
    }

    /// The decision for a message posted in `group`: which rule it violates, if any.
    #[must_use]
    pub fn check(&self, text: &str, group: GroupId) -> Option<Violation> {
        SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                // Re-entered on this thread (cannot happen today): use fresh buffers.
                return self
                    .check_with(text, Some(group), false, &mut Scratch::default())
                    .map(|(v, _)| v);
            };
            self.check_with(text, Some(group), false, &mut scratch).map(|(v, _)| v)
        })
    }

    /// Everything the filter sees in `text`: the normalized text, every hit and the decision.
    /// With `group` = `None` every rule applies, whatever its `groups`.
    #[must_use]
    pub fn inspect(&self, text: &str, group: Option<GroupId>) -> Report {
        let mut scratch = Scratch::default();
        let violation = self.check_with(text, group, true, &mut scratch);
        let normalized = self
            .phrases
            .apply_variants(
                &self.normalizer,
                text,
                &scratch.compact,
                &mut scratch.spliced,
                &mut scratch.replacements,
            )
            .as_str()
            .to_owned();
        let hits = scratch.found.iter().map(|f| self.hit(f)).collect();
        Report {
            normalized,
            hits,
            violation,
        }
    }

    /// All hits of `text` into `hits` (cleared first) and whether it is a violation, reusing
    /// this thread's buffers: what `filter scan` runs per line.
    pub fn scan_into(&self, text: &str, hits: &mut Vec<Hit>) -> bool {
        SCRATCH.with(|cell| {
            let mut fresh = Scratch::default();
            let mut guard = cell.try_borrow_mut();
            let scratch = match guard.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            let found = self.find(text, None, true, scratch);
            hits.clear();
            hits.extend(scratch.found.iter().map(|f| self.hit(f)));
            found.is_some()
        })
    }

    /// `report`: look for every kind of evidence (explain, scan), not only what can change the
    /// decision (see [`Detectors::run`]).
    fn check_with(
        &self,
        text: &str,
        group: Option<GroupId>,
        report: bool,
        scratch: &mut Scratch,
    ) -> Option<(Violation, Reason)> {
        let (index, reason) = self.find(text, group, report, scratch)?;
        let deciding = &self.rules[scratch.found[index].rule as usize];
        let hits = scratch.found.iter().map(|f| self.hit(f)).collect();
        Some((
            Violation {
                rule: Arc::clone(&deciding.name),
                hits,
                severity: deciding.settings.severity,
                action: deciding.settings.action,
                recall: deciding.settings.recall,
                dry_run: deciding.settings.dry_run,
            },
            reason,
        ))
    }

    /// Fills `scratch.found` (text order) and decides.
    fn find(&self, text: &str, group: Option<GroupId>, report: bool, scratch: &mut Scratch) -> Option<(usize, Reason)> {
        let Scratch {
            compact,
            spliced,
            replacements,
            collapsed,
            allowed,
            detect,
            phrase_hits,
            detector_hits,
            found,
            evidence,
        } = scratch;
        found.clear();
        phrase_hits.clear();
        detector_hits.clear();
        self.normalizer.compact_into(text, compact);
        let keep = |rule: u32| self.rules[rule as usize].settings.applies(group);
        let view = self
            .phrases
            .apply_variants(&self.normalizer, text, compact, spliced, replacements);
        self.phrases
            .find(&self.normalizer, text, view, collapsed, &keep, phrase_hits);
        for h in phrase_hits.iter() {
            let target = &self.phrases.targets[h.target as usize];
            let mode = self.rules[target.rule as usize].settings.mode;
            found.push(Found {
                rule: target.rule,
                kind: if mode == Mode::Cue { HitKind::Cue } else { HitKind::Hard },
                strong: false,
                source: h.target,
                start: h.start,
                end: h.end,
            });
        }
        let want_weak = report || !phrase_hits.is_empty();
        self.detectors
            .run(&self.normalizer, text, view, want_weak, detect, detector_hits);
        for h in detector_hits.iter() {
            let rule = self.detectors.list[h.detector as usize].rule;
            if keep(rule) {
                found.push(Found {
                    rule,
                    kind: HitKind::Regex,
                    strong: h.strong,
                    source: h.detector,
                    start: h.start,
                    end: h.end,
                });
            }
        }
        if found.is_empty() {
            return None;
        }
        self.phrases.allowed_spans(view, allowed);
        if !allowed.is_empty() {
            // Containment in O(log n) per hit: allow spans by start, each carrying the furthest
            // end reached by any span starting at or before it.
            allowed.sort_unstable();
            let mut reach = 0;
            for span in allowed.iter_mut() {
                reach = reach.max(span.1);
                span.1 = reach;
            }
            found.retain(|f| {
                let before = allowed.partition_point(|&(s, _)| s <= f.start);
                before == 0 || allowed[before - 1].1 < f.end
            });
        }
        found.sort_by_key(|f| (f.start, f.end));
        evidence.clear();
        evidence.extend(found.iter().map(|f| decide::Evidence {
            rule: f.rule,
            kind: f.kind,
            strong: f.strong,
            severity: self.rules[f.rule as usize].settings.severity,
        }));
        decide::decide(evidence)
    }

    fn hit(&self, f: &Found) -> Hit {
        let pattern = match f.kind {
            HitKind::Regex => Arc::clone(&self.detectors.list[f.source as usize].pattern),
            HitKind::Hard | HitKind::Cue => Arc::clone(&self.phrases.targets[f.source as usize].phrase),
        };
        Hit {
            rule: Arc::clone(&self.rules[f.rule as usize].name),
            kind: f.kind,
            pattern,
            start: f.start as usize,
            end: f.end as usize,
        }
    }

    /// The normalizer (for `filter explain`).
    #[must_use]
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Number of phrases compiled in.
    #[must_use]
    pub fn phrase_count(&self) -> usize {
        self.phrases.targets.len()
    }

    /// Names of the word-list rules, in load order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules[..self.lists].iter().map(|r| &*r.name)
    }

    /// Each word list's name and how many phrases it compiled to, in load order (computed
    /// on call: for the console, not the message path).
    #[must_use]
    pub fn list_sizes(&self) -> Vec<(&str, usize)> {
        let mut counts = vec![0usize; self.lists];
        for target in &self.phrases.targets {
            if let Some(n) = counts.get_mut(target.rule as usize) {
                *n += 1;
            }
        }
        self.rules[..self.lists]
            .iter()
            .zip(counts)
            .map(|(r, n)| (&*r.name, n))
            .collect()
    }

    /// Names of the active detectors.
    pub fn detector_names(&self) -> impl Iterator<Item = &str> {
        self.rules[self.lists..].iter().map(|r| &*r.name)
    }

    /// The settings of the rule (word list or detector) called `name`.
    #[must_use]
    pub fn rule_settings(&self, name: &str) -> Option<&RuleSettings> {
        self.rules.iter().find(|r| &*r.name == name).map(|r| &r.settings)
    }
}

type DetectorParts = (Vec<Detector>, Vec<Option<String>>, Vec<Option<(PathBuf, usize)>>);

/// The detectors of `spec`: the built-ins, each replaced or tuned by a `[[regex]]` of the
/// same name (or switched off), then the new `[[regex]]` detectors. Each gets a rule entry.
fn detectors(spec: &FilterSpec, rules: &mut Vec<Rule>) -> Result<DetectorParts, BuildError> {
    let mut list = Vec::new();
    let mut patterns = Vec::new();
    let mut origins = Vec::new();
    let mut push = |rules: &mut Vec<Rule>, name: &str, settings: RuleSettings, detector: Detector, pattern, origin| {
        let rule = u32::try_from(rules.len()).unwrap_or(u32::MAX);
        rules.push(Rule {
            name: Arc::from(name),
            settings,
        });
        list.push(Detector { rule, ..detector });
        patterns.push(pattern);
        origins.push(origin);
    };
    for builtin in Builtin::ALL {
        let custom = spec.regexes.iter().find(|r| r.name == builtin.name());
        if custom.is_some_and(|c| !c.enabled) {
            continue;
        }
        let pattern = custom
            .and_then(|c| c.pattern.clone())
            .or_else(|| builtin.pattern().map(str::to_owned));
        let replaced = custom.is_some_and(|c| c.pattern.is_some());
        // Built-ins are shown by name ({WECHAT_ID}); their regexes are long and partial.
        let shown = match (&pattern, replaced) {
            (Some(p), true) => p.clone(),
            _ => format!("{{{}}}", builtin.name().to_uppercase()),
        };
        let detector = Detector {
            rule: 0,
            strength: custom.and_then(|c| c.strength).unwrap_or(builtin.strength()),
            view: custom.and_then(|c| c.view).unwrap_or(builtin.view()),
            builtin: (!replaced).then_some(builtin),
            pattern: Arc::from(shown),
        };
        let settings = custom.map(|c| c.settings.clone()).unwrap_or_default();
        let origin = custom.filter(|_| replaced).map(|c| (c.file.clone(), c.line));
        push(rules, builtin.name(), settings, detector, pattern, origin);
    }
    for custom in spec.regexes.iter().filter(|r| Builtin::from_name(&r.name).is_none()) {
        if !custom.enabled {
            continue;
        }
        let Some(pattern) = custom.pattern.clone() else {
            return Err(BuildError::at(
                &custom.file,
                custom.line,
                format!(
                    "[[regex]] {:?} needs a pattern (only built-in detectors can go without)",
                    custom.name
                ),
            ));
        };
        let detector = Detector {
            rule: 0,
            strength: custom.strength.unwrap_or(Strength::Strong),
            view: custom.view.unwrap_or(RegexView::Text),
            builtin: None,
            pattern: Arc::from(pattern.as_str()),
        };
        let origin = Some((custom.file.clone(), custom.line));
        push(
            rules,
            &custom.name,
            custom.settings.clone(),
            detector,
            Some(pattern),
            origin,
        );
    }
    Ok((list, patterns, origins))
}
