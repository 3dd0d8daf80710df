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
//! 6. `decide` turns the evidence into the rules' decision (hard phrases, strong patterns,
//!    cues with a pattern or a second cue, counted by place);
//! 7. [`Filter::judge`] only: the learned model ([`crate::policy::model`]) scores the
//!    normalized text with flags of the evidence, and the decision of issue 12 §2 is taken —
//!    a strong pattern acts, a soft hit acts unless the model is confident the message is
//!    benign, the model alone acts above a high threshold for members not yet trusted.
//!
//! [`Filter::check`] returns the rules' decision alone (what join requests use).
//! [`Filter::judge`] is what the pipeline calls on a message: the [`Judgement`] with the
//! model's view, for a member of a given [`Trust`]. [`Filter::inspect`] returns everything
//! (normalized text, all hits, score, flags, the reason) for `qunguan filter explain` and
//! `scan`.

mod decide;
pub(crate) mod detect;
mod engine;
mod first;
mod leet;
mod phrases;
pub(crate) mod report;
pub(crate) mod spec;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

pub use decide::Reason;
use detect::{Builtin, Detector, DetectorHit, Detectors};
use phrases::{Backwards, PhraseHit, Phrases, to_u32};
use serde::{Deserialize, Serialize};
pub use spec::{
    Automaton, DEFAULT_ACT, DEFAULT_VETO, FilterSpec, MODEL_RULE, MatchMode, Mode, ModelSettings, Phrase, RegexSpec,
    RegexView, RuleAction, RuleSettings, Strength, Variant, WordList,
};

use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::domain::strike::Severity;
use crate::policy::i18n;
use crate::policy::model::words::{mark_words, model_input};
use crate::policy::model::{Delta, Explanation, Flags, Learned, Model};
use crate::policy::normalize::{CharMarks, Normalizer, View};

/// A compiled filter. Immutable; a rules reload builds a new one.
#[derive(Clone, Debug)]
pub struct Filter {
    normalizer: Normalizer,
    /// Word-list rules first, then one rule per detector, then the model's rule.
    rules: Vec<Rule>,
    /// How many of `rules` are word lists.
    lists: usize,
    /// Index of the model's rule in `rules` (after the detectors).
    model_rule: u32,
    /// Each rule's kin ([`decide::Evidence::kin`]): the lowest index of the word lists it is
    /// `alike` with, its own index if none.
    kin: Vec<u32>,
    phrases: Phrases,
    detectors: Detectors,
    /// The characters the variant spellings, the allow-list phrases and the pre-checked
    /// contact regexes start with, marked for the normalizer's pass (see
    /// [`Normalizer::compact_marked_into`]).
    marks: Arc<CharMarks>,
    /// The learned stage, when `model.bin` is loaded and `[model] enabled`.
    model: Option<Arc<Model>>,
    veto: f32,
    act: f32,
    /// `[model] cue_act`, at most `act`.
    cue_act: f32,
    /// `[model] bare_act`, at least `act`.
    bare_act: f32,
}

/// How far a member is trusted (issue 12 §3).
///
/// A member is new until they have sent a few clean messages and been in the group for a
/// while (the service tracks both). For a trusted member only hard phrases, strong contact
/// patterns and learned spam act; what the model or a cue combination alone would have done
/// is only recorded for review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Not yet trusted: every stage acts (the strictest, and the default).
    #[default]
    New,
    /// Trusted: only hard phrases and strong contact patterns act.
    Trusted,
}

impl std::str::FromStr for Trust {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Self::New),
            "trusted" => Ok(Self::Trusted),
            other => Err(format!("{other:?} is not a trust level: write new or trusted")),
        }
    }
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::New => "new",
            Self::Trusted => "trusted",
        })
    }
}

/// The filter's verdict on one message, with the model's view.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// What acts (None = nothing acts).
    pub violation: Option<Violation>,
    /// The model's spam probability, when the model ran (None: no model, or text in a
    /// script the corpus does not cover).
    pub score: Option<f32>,
    /// Something would have acted on a new member's message but the member is trusted (the
    /// model alone, or a cue combination the model did not overrule): record it for admin
    /// review.
    pub review: bool,
    /// Why `violation` acts (`None` when nothing acts).
    pub reason: Option<Reason>,
    /// The rules found a soft hit and the model overruled it (`score < veto`).
    pub vetoed: bool,
    /// The model's score of the member's own words outside quotation marks, when it was
    /// read and is the lower: then it is `score` (see [`Filter::judge`]).
    pub own_words: Option<f32>,
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
    /// The violated rule ([`MODEL_RULE`] when the model decided alone).
    pub rule: Arc<str>,
    /// The evidence, in text order: every hit that survived the allow list and the word
    /// rules, deciding or not — except weak patterns in a message without any phrase hit,
    /// which [`Filter::check`] does not look for because they cannot decide anything there
    /// ([`Filter::inspect`] and [`Filter::judge`] always look for everything). At least one
    /// hit, unless the model decided alone.
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
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The compact normalized text phrases are matched against (variants applied).
    pub normalized: String,
    /// Every hit, in text order.
    pub hits: Vec<Hit>,
    /// The rules' decision and why, before the model ([`Report::judgement`] is what acts).
    pub violation: Option<(Violation, Reason)>,
    /// What the decision table ([`outcome`]) goes by: the rules' reason, or
    /// [`Reason::Strong`] when a strong contact pattern is among the hits even though a hard
    /// phrase named the rule (a strong pattern is never overruled).
    pub table_reason: Option<Reason>,
    /// What the model's flags say about the evidence.
    pub flags: Flags,
    /// The model's score taken apart (`None`: no model, or an uncovered script).
    pub explanation: Option<Explanation>,
    /// The score threshold in force for the member: `veto` when a soft hit is on the table,
    /// else `act`, or `cue_act` for a message with a cue ([`Report::cue`]), or `bare_act` for
    /// one with no hit ([`Report::bare`]) (`None` without a score).
    pub threshold: Option<(ThresholdKind, f32)>,
    /// Whether the message holds a cue with something around it, which lowers the threshold
    /// at which the model acts to `[model] cue_act` (see [`Filter::act_for`]).
    pub cue: bool,
    /// Whether no list and no detector found anything in the message ([`Report::hits`] is
    /// empty), which raises the threshold at which the model acts to `[model] bare_act` (see
    /// [`Filter::threshold_for`]).
    pub bare: bool,
    /// The decision for the member's trust level.
    pub judgement: Judgement,
}

/// Which threshold decides a message (for `filter explain` and `/why`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdKind {
    /// A soft rule hit acts unless the score is below this.
    Veto,
    /// The model alone acts at or above this (new members).
    Act,
    /// The member is trusted: the model alone never acts, at or above `act` it is recorded
    /// for review.
    Review,
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

/// How many top features `filter explain` lists.
pub const EXPLAIN_FEATURES: usize = 8;

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
    /// The variants table rewrote the compact view: the normalized text is in `spliced`.
    spliced_used: bool,
    /// The model's input when it differs from the normalized text (see
    /// [`Scratch::model_text`]).
    words: String,
    /// The model's input with the allow list's stretches masked, when it has any, and the
    /// spans found (see [`Scratch::model_text`]).
    masked: String,
    mask_spans: Vec<(u32, u32)>,
    /// The message with its leetspeak read as letters ([`leet::fold`]) and its compact view.
    leet_text: String,
    leet_view: View,
    /// The phrase automaton's matches `(pattern, start, end)` in `compact`, found by its
    /// stepper while the view was built ([`Phrases::stepper`]).
    stepped: Vec<(u32, u32, u32)>,
}

impl Scratch {
    /// The normalized text the phrases were matched against (after [`Filter::find`]).
    fn normalized(&self) -> &str {
        if self.spliced_used {
            self.spliced.as_str()
        } else {
            self.compact.as_str()
        }
    }

    /// The model's input (after [`Filter::find`] on `original`): the normalized text with
    /// Latin word boundaries marked ([`mark_words`]), and each stretch the allow list covers
    /// masked ([`Phrases::mask_allowed`]: the model reads no n-gram of a phrase the allow list
    /// has explained). For a view the variants did not rewrite, the word gaps the normalizer
    /// recorded say where boundaries go ([`model_input`]): text without one is the normalized
    /// text itself, with no further pass.
    fn model_text(&mut self, original: &str, phrases: &Phrases) -> &str {
        let Self {
            compact,
            spliced,
            spliced_used,
            words,
            mask_spans,
            masked,
            ..
        } = self;
        let (text, marks) = if *spliced_used {
            let view = &*spliced;
            let text = if view.stats().ascii_alpha && mark_words(original, view.as_str(), view.char_spans(), words) {
                words.as_str()
            } else {
                view.as_str()
            };
            (text, u8::MAX)
        } else {
            // The normalizer recorded where boundaries can go: most messages have none.
            (model_input(original, compact, words), compact.stats().marks)
        };
        if phrases.mask_allowed(text, marks, mask_spans, masked) {
            masked
        } else {
            text
        }
    }
}

/// Each rule's kin, for `rules` rules of which `lists` are the word lists: word lists joined
/// by `alike` (either way, and through a common list) share the lowest index among them;
/// every other rule is its own kin.
fn kin(lists: &[Rule], rules: usize) -> Vec<u32> {
    let mut kin: Vec<u32> = (0..u32::try_from(rules).unwrap_or(u32::MAX)).collect();
    // A handful of lists: join until nothing changes (each pass lowers some kin or stops).
    for _ in 0..=lists.len() {
        let mut changed = false;
        for (i, rule) in lists.iter().enumerate() {
            for name in &rule.settings.alike {
                let Some(j) = lists.iter().position(|r| &*r.name == name.as_str()) else {
                    continue;
                };
                let low = kin[i].min(kin[j]);
                for k in [i, j] {
                    if kin[k] != low {
                        kin[k] = low;
                        changed = true;
                    }
                }
            }
        }
        for i in 0..lists.len() {
            let up = kin[kin[i] as usize];
            if up != kin[i] {
                kin[i] = up;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    kin
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
        let mut rules = Vec::with_capacity(spec.lists.len() + Builtin::ALL.len() + 1);
        for list in &spec.lists {
            let rule = u32::try_from(rules.len()).unwrap_or(u32::MAX);
            rules.push(Rule {
                name: Arc::from(list.rule.as_str()),
                settings: list.settings.clone(),
            });
            for phrase in &list.phrases {
                let backwards = match (list.settings.mode, list.settings.backwards) {
                    (Mode::Hard, true) if list.settings.backwards_pairs => Backwards::AndAimedPairs,
                    (Mode::Hard, true) => Backwards::Yes,
                    _ => Backwards::No,
                };
                if !builder.add(rule, &phrase.text, list.settings.matching, backwards) {
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
        let mut marks = CharMarks::default();
        phrases.mark_first_chars(&mut marks);
        detectors.mark_first_chars(&mut marks);
        normalizer.prepare_marks(&mut marks);
        let model_rule = u32::try_from(rules.len()).unwrap_or(u32::MAX);
        rules.push(Rule {
            name: Arc::from(MODEL_RULE),
            settings: spec.model_settings.settings.clone(),
        });
        let kin = kin(&rules[..lists], rules.len());
        Ok(Self {
            normalizer,
            rules,
            lists,
            model_rule,
            kin,
            phrases,
            detectors,
            marks: Arc::new(marks),
            model: spec.model.clone().filter(|_| spec.model_settings.enabled),
            veto: spec.model_settings.veto,
            act: spec.model_settings.act,
            cue_act: spec.model_settings.cue_act.min(spec.model_settings.act),
            bare_act: spec.model_settings.bare_act.max(spec.model_settings.act),
        })
    }

    /// The rules' decision for a message posted in `group`: which rule it violates, if any.
    /// The model takes no part (see [`Filter::judge`]).
    #[must_use]
    pub fn check(&self, text: &str, group: GroupId) -> Option<Violation> {
        with_scratch(|scratch| {
            let (index, _) = self.find(text, Some(group), false, scratch)?;
            Some(self.violation(scratch, index))
        })
    }

    /// The decision for a message posted in `group` by a member of trust `trust`: the rules,
    /// then the model (with `delta`, the instance's learned adjustment of it, added).
    ///
    /// - a strong contact pattern acts;
    /// - a soft hit (a hard phrase, a cue with a pattern, two cues) acts unless the model's
    ///   score is below `[model] veto`; for a trusted member only a hard phrase does, the
    ///   cue combinations go to review;
    /// - without a rule hit, a score at or above `[model] act` acts for a new member and goes
    ///   to review for a trusted one;
    /// - a message that quotes something is scored twice where the model would act on its
    ///   own: as it is and as the member's own words without the quoted passages, and the
    ///   lower score counts ([`Filter::score_outside_quotes`]).
    ///
    /// Without a model, or on text mostly in a script the corpus does not cover, the rules
    /// decide alone (`score` is `None`).
    #[must_use]
    pub fn judge(&self, text: &str, group: GroupId, trust: Trust, delta: Option<&Delta>) -> Judgement {
        with_scratch(|scratch| self.judge_with(text, Some(group), trust, delta, scratch))
    }

    fn judge_with(
        &self,
        text: &str,
        group: Option<GroupId>,
        trust: Trust,
        delta: Option<&Delta>,
        scratch: &mut Scratch,
    ) -> Judgement {
        // One pass over the original bytes gives the flags' text facts and says whether the
        // text could hold a script the model does not cover (most chat cannot: then the
        // per-character coverage count is skipped).
        let facts = self.model.as_ref().map(|_| TextFacts::of(text));
        let model = facts.as_ref().and_then(|f| self.model_for_facts(text, group, f));
        let decided = self.find(text, group, model.is_some(), scratch);
        let mut cue_places = false;
        let score = model.zip(facts.as_ref()).map(|(m, facts)| {
            let flags = self.flags_with(text, facts, scratch);
            cue_places = flags.cue_places > 0;
            m.score_with(delta, scratch.model_text(text, &self.phrases), &flags)
        });
        let rules = rules_reason(text, decided, scratch, &self.rules, score.is_some());
        // Quoting is talking about: where the model would act on its own (no rule decided),
        // it reads the member's own words around a quotation too, and the lower score counts
        // ([`Filter::own_words`]). A soft hit's veto still reads the whole message: the rules
        // saw the combination, quoted or not.
        let own_words = match (rules, facts.as_ref()) {
            (None, Some(f)) if f.quote_marks >= 2 => self.own_words(model, score, text, group, delta),
            _ => None,
        };
        let score = own_words.or(score);
        // Whether a cue lowers the threshold matters only for a score between the two: the
        // text is read for a bare cue only then.
        let cue = rules.is_none()
            && score.is_some_and(|s| s >= self.cue_act && s < self.act)
            && lone_cue(text, cue_places, &scratch.found);
        // Likewise whether the message has no evidence at all, which raises it to `bare_act`.
        let bare =
            rules.is_none() && score.is_some_and(|s| s >= self.act && s < self.bare_act) && scratch.found.is_empty();
        let (acts, review, vetoed) = self.outcome(rules, score, self.threshold_for(cue, bare), trust);
        let violation = match (acts, decided) {
            (Some(Reason::Model), _) => Some(self.violation_of(scratch, self.model_rule as usize)),
            (Some(_), Some((index, _))) => Some(self.violation(scratch, index)),
            _ => None,
        };
        Judgement {
            violation,
            score,
            review,
            reason: acts,
            vetoed,
            own_words,
        }
    }

    /// The score of the member's own words outside the quotation marks of `text`
    /// ([`Filter::score_outside_quotes`]) when the model's `score` of the whole message
    /// reaches `cue_act` (below it, nothing the model does alone can act) and the own words
    /// score lower; `None` otherwise. Out of line: few messages quote anything.
    #[cold]
    #[inline(never)]
    fn own_words(
        &self,
        model: Option<&Model>,
        score: Option<f32>,
        text: &str,
        group: Option<GroupId>,
        delta: Option<&Delta>,
    ) -> Option<f32> {
        let (model, score) = (model?, score?);
        if score < self.cue_act {
            return None;
        }
        self.score_outside_quotes(model, text, group, delta)
            .filter(|&own| own < score)
    }

    /// The model's score of the member's own words in `text`: the text with every quoted
    /// passage left out ([`outside_quotes`]), scored as a message of its own — `None` when
    /// nothing is quoted or fewer than [`OWN_WORDS`] characters of the normalized text are
    /// left (a message that is all quotation gives the model nothing of the member's to read).
    /// A member who warns quotes the ad and says what they think of it (`“账户异常 请联系客服”
    /// 这种短信直接删`); the model read the ad.
    fn score_outside_quotes(
        &self,
        model: &Model,
        text: &str,
        group: Option<GroupId>,
        delta: Option<&Delta>,
    ) -> Option<f32> {
        let own = outside_quotes(text)?;
        let mut scratch = Scratch::default();
        let _ = self.find(&own, group, true, &mut scratch);
        if scratch.normalized().chars().count() < OWN_WORDS {
            return None;
        }
        let flags = self.flags_of(&own, &scratch);
        Some(model.score_with(delta, scratch.model_text(&own, &self.phrases), &flags))
    }

    /// The model, if it applies in `group` and covers the script of `text`.
    fn model_for(&self, text: &str, group: Option<GroupId>) -> Option<&Model> {
        self.model_for_facts(text, group, &TextFacts::of(text))
    }

    fn model_for_facts(&self, text: &str, group: Option<GroupId>, facts: &TextFacts) -> Option<&Model> {
        self.model
            .as_deref()
            .filter(|_| self.rules[self.model_rule as usize].settings.applies(group))
            .filter(|_| !facts.maybe_foreign || Model::covers(text))
    }

    /// What acts, whether to record for review, whether the model vetoed (see [`outcome`]).
    fn outcome(
        &self,
        rules: Option<Reason>,
        score: Option<f32>,
        act: f32,
        trust: Trust,
    ) -> (Option<Reason>, bool, bool) {
        let o = outcome(rules, score, trust, self.veto, act);
        (o.acts, o.review, o.vetoed)
    }

    /// A copy of this filter with another model (`None`: the rules alone): what
    /// `qunguan model eval --folds` judges each held-out fold with.
    #[must_use]
    pub fn with_model(&self, model: Option<Arc<Model>>) -> Self {
        Self { model, ..self.clone() }
    }

    /// Everything the filter sees in `text`: the normalized text, every hit, the rules'
    /// decision, the model's score taken apart and the decision for a member of trust
    /// `trust`. With `group` = `None` every rule applies, whatever its `groups`.
    #[must_use]
    pub fn inspect(&self, text: &str, group: Option<GroupId>) -> Report {
        self.inspect_as(text, group, Trust::New, None)
    }

    /// [`Filter::inspect`] for a member of trust `trust`, with the instance's learned `delta`.
    #[must_use]
    pub fn inspect_as(&self, text: &str, group: Option<GroupId>, trust: Trust, delta: Option<&Delta>) -> Report {
        let mut scratch = Scratch::default();
        let judgement = self.judge_with(text, group, trust, delta, &mut scratch);
        // judge_with ran `find` with every detector (report mode) only when the model ran:
        // run it again in report mode for the hits, which changes nothing else.
        let rules = self.find(text, group, true, &mut scratch);
        let violation = rules.map(|(index, reason)| (self.violation(&scratch, index), reason));
        let flags = self.flags_of(text, &scratch);
        let cue = lone_cue(text, flags.cue_places > 0, &scratch.found);
        let bare = scratch.found.is_empty();
        let normalized = scratch.normalized().to_owned();
        let hits = scratch.found.iter().map(|f| self.hit(f)).collect();
        let model_text = scratch.model_text(text, &self.phrases).to_owned();
        let explanation = self
            .model_for(text, group)
            .map(|m| m.explain_with(delta, &model_text, &flags, EXPLAIN_FEATURES));
        let table_reason = rules_reason(text, rules, &scratch, &self.rules, explanation.is_some());
        let threshold = explanation.as_ref().map(|_| match (table_reason, trust) {
            (Some(r), _) if r.is_soft() => (ThresholdKind::Veto, self.veto),
            (_, Trust::Trusted) => (ThresholdKind::Review, self.threshold_for(cue, bare)),
            _ => (ThresholdKind::Act, self.threshold_for(cue, bare)),
        });
        Report {
            normalized,
            hits,
            violation,
            table_reason,
            flags,
            explanation,
            threshold,
            cue,
            bare,
            judgement,
        }
    }

    /// Learns an admin's label of `text` (`spam` or not) into `delta`: normalizes it and
    /// extracts the flags exactly as [`Filter::judge`] does, then takes the model's learning
    /// step. Returns the score before and after, or `None` without a model.
    pub fn learn(&self, delta: &mut Delta, text: &str, spam: bool) -> Option<Learned> {
        let model = self.model.as_deref()?;
        Some(with_scratch(|scratch| {
            let _ = self.find(text, None, true, scratch);
            let flags = self.flags_of(text, scratch);
            delta.learn(model, scratch.model_text(text, &self.phrases), &flags, spam)
        }))
    }

    /// The model's input for `text`: the normalized text with Latin word boundaries marked
    /// ([`mark_words`]) and the flags of the rules' evidence, every rule applying (what
    /// training and evaluation feed the model).
    #[must_use]
    pub fn features(&self, text: &str) -> (String, Flags) {
        with_scratch(|scratch| {
            let _ = self.find(text, None, true, scratch);
            let flags = self.flags_of(text, scratch);
            (scratch.model_text(text, &self.phrases).to_owned(), flags)
        })
    }

    /// A copy of this filter whose first-character pre-checks (variants, allow list, regex
    /// sets) rule nothing out, so every automaton and regex set runs: what the differential
    /// tests compare the filter with.
    #[cfg(test)]
    pub(crate) fn without_prechecks(&self) -> Self {
        let mut out = self.clone();
        out.phrases.disable_prechecks();
        out.detectors.disable_prechecks();
        let mut marks = CharMarks::default();
        marks.mark_all(u8::MAX);
        out.marks = Arc::new(marks);
        out
    }

    /// The learned stage, when one is loaded and enabled.
    #[must_use]
    pub fn model(&self) -> Option<&Model> {
        self.model.as_deref()
    }

    /// The thresholds in force: `(veto, act)`.
    #[must_use]
    pub fn thresholds(&self) -> (f32, f32) {
        (self.veto, self.act)
    }

    /// The threshold in force for the model to act without a rule's decision: `cue_act` for
    /// a message that holds a cue with something around it (`cue`, see [`Report::cue`]),
    /// `act` otherwise: [`Filter::threshold_for`] for a message with hits.
    #[must_use]
    pub fn act_for(&self, cue: bool) -> f32 {
        self.threshold_for(cue, false)
    }

    /// The threshold in force for the model to act without a rule's decision, for a message
    /// with a lone cue (`cue`, [`Report::cue`]) or with no hit at all (`bare`,
    /// [`Report::bare`]): `cue_act`, `bare_act` or `act`.
    #[must_use]
    pub fn threshold_for(&self, cue: bool, bare: bool) -> f32 {
        match (cue, bare) {
            (true, _) => self.cue_act,
            (false, true) => self.bare_act,
            (false, false) => self.act,
        }
    }

    /// All hits of `text` into `hits` (cleared first) and whether it is a violation for a
    /// member of trust `trust` (the rules, then the model with the instance's `delta`), reusing
    /// this thread's buffers:
    /// what `filter scan` runs per line. Returns the model's score too.
    pub fn scan_into(
        &self,
        text: &str,
        trust: Trust,
        delta: Option<&Delta>,
        hits: &mut Vec<Hit>,
    ) -> (bool, Option<f32>) {
        with_scratch(|scratch| {
            let judgement = self.judge_with(text, None, trust, delta, scratch);
            if self.model_for(text, None).is_none() {
                // The rules ran without the weak detectors: look for everything.
                let _ = self.find(text, None, true, scratch);
            }
            hits.clear();
            hits.extend(scratch.found.iter().map(|f| self.hit(f)));
            (judgement.violation.is_some(), judgement.score)
        })
    }

    /// The violation decided by hit `index` of `scratch.found`.
    fn violation(&self, scratch: &Scratch, index: usize) -> Violation {
        self.violation_of(scratch, scratch.found[index].rule as usize)
    }

    /// A violation of rule `rule` with every hit of `scratch.found` as evidence.
    fn violation_of(&self, scratch: &Scratch, rule: usize) -> Violation {
        let deciding = &self.rules[rule];
        Violation {
            rule: Arc::clone(&deciding.name),
            hits: scratch.found.iter().map(|f| self.hit(f)).collect(),
            severity: deciding.settings.severity,
            action: deciding.settings.action,
            recall: deciding.settings.recall,
            dry_run: deciding.settings.dry_run,
        }
    }

    /// Fills `scratch.found` (text order) and takes the rules' decision. `report`: run every
    /// detector, not only those that can change the rules' decision (see [`Detectors::run`]).
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
            spliced_used,
            words: _,
            masked: _,
            mask_spans: _,
            leet_text,
            leet_view,
            stepped,
        } = scratch;
        found.clear();
        evidence.clear();
        phrase_hits.clear();
        detector_hits.clear();
        // The phrase automaton steps over the compact view as the normalizer's pass builds
        // it, so the view is not decoded a second time (and the automaton's state loads
        // overlap the normalizer's work). A view the variants rewrite is scanned afterwards.
        stepped.clear();
        let stepping = match self.phrases.stepper() {
            Some(mut stepper) => {
                self.normalizer
                    .compact_marked_each_into(text, &self.marks, compact, |c| {
                        stepper.consume(c, |p, s, e| stepped.push((to_u32(p), to_u32(s), to_u32(e))));
                    });
                true
            }
            None => {
                self.normalizer.compact_marked_into(text, &self.marks, compact);
                false
            }
        };
        let keep = |rule: u32| self.rules[rule as usize].settings.applies(group);
        let view = self.phrases.apply_variants(
            &self.normalizer,
            text,
            compact,
            compact.stats().marks,
            spliced,
            replacements,
        );
        *spliced_used = !std::ptr::eq(view, &*compact);
        // Which small automata can match the view (not known after a rewrite).
        let marks = if *spliced_used { u8::MAX } else { compact.stats().marks };
        if stepping && !*spliced_used {
            self.phrases
                .find_stepped(&self.normalizer, text, view, stepped, collapsed, &keep, phrase_hits);
        } else {
            self.phrases
                .find(&self.normalizer, text, view, collapsed, &keep, phrase_hits);
        }
        // The normalizer's pass saw whether an ASCII letter stands next to a leet character:
        // without one (most messages) there is nothing to fold.
        let stats = compact.stats();
        if stats.ascii_alpha && stats.leet_pair {
            self.leet_phrases(text, leet_text, leet_view, collapsed, &keep, phrase_hits);
        }
        for h in phrase_hits.iter() {
            let target = &self.phrases.targets[h.target as usize];
            if target.matching == MatchMode::Disguised
                && text
                    .get(h.start as usize..h.end as usize)
                    .is_some_and(|written| written.eq_ignore_ascii_case(&target.phrase) && plain_case(written))
            {
                // Written plainly: only a disguised spelling counts.
                continue;
            }
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
            .run(&self.normalizer, text, view, marks, want_weak, detect, detector_hits);
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
        self.phrases.allowed_spans(view, marks, allowed);
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
        evidence.extend(found.iter().map(|f| decide::Evidence {
            rule: f.rule,
            kin: self.kin.get(f.rule as usize).copied().unwrap_or(f.rule),
            kind: f.kind,
            strong: f.strong,
            severity: self.rules[f.rule as usize].settings.severity,
            start: f.start,
            end: f.end,
            whole: f.kind == HitKind::Regex && self.detectors.list[f.source as usize].family == Some(Builtin::Flood),
            quoted: false,
        }));
        // A hard phrase a member puts in quotation marks is one they talk about (`别信“刷单
        // 日结”`), so it counts as a cue: it still acts with other evidence the model does not
        // veto, or on the model's own score. Not for lists the model never overrules.
        for e in evidence.iter_mut() {
            if e.kind == HitKind::Hard
                && self.rules[e.rule as usize].settings.model_veto
                && in_quotes(text, e.start as usize, e.end as usize)
            {
                e.kind = HitKind::Cue;
                e.quoted = true;
            }
        }
        decide::decide(evidence)
    }

    /// The phrases again on `text` with its leetspeak read as letters ([`leet::fold`], into
    /// `leet_text` and its compact view `leet_view`), when there is any: only the hits that
    /// cover a replaced character are added to `phrase_hits` (the others were found in the
    /// message itself already). Out of line: few messages get here, and the phrase search
    /// stays inlined in [`Filter::find`].
    #[cold]
    #[inline(never)]
    fn leet_phrases(
        &self,
        text: &str,
        leet_text: &mut String,
        leet_view: &mut View,
        collapsed: &mut View,
        keep: &dyn Fn(u32) -> bool,
        phrase_hits: &mut Vec<PhraseHit>,
    ) {
        if !leet::fold(text, leet_text) {
            return;
        }
        // Same byte offsets in the copy as in `text`.
        let before = phrase_hits.len();
        self.normalizer.compact_into(leet_text, leet_view);
        self.phrases
            .find(&self.normalizer, leet_text, leet_view, collapsed, keep, phrase_hits);
        let (plain, folded) = (text.as_bytes(), leet_text.as_bytes());
        let mut i = 0;
        phrase_hits.retain(|h| {
            i += 1;
            let (s, e) = (h.start as usize, h.end as usize);
            i <= before || plain.get(s..e) != folded.get(s..e)
        });
    }

    /// The model's flags for `text`, from the evidence [`Filter::find`] left in `scratch`
    /// (run in report mode, so every detector looked) and one pass over the original text.
    fn flags_of(&self, text: &str, scratch: &Scratch) -> Flags {
        self.flags_with(text, &TextFacts::of(text), scratch)
    }

    /// [`Filter::flags_of`] with the text facts already read.
    fn flags_with(&self, text: &str, text_facts: &TextFacts, scratch: &Scratch) -> Flags {
        let mut flags = Flags::default();
        let sat = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
        // Links by place: `t.me/x` is both a Telegram link and a URL, and one link.
        let (mut links, mut reach) = (0usize, 0u32);
        for f in &scratch.found {
            match f.kind {
                HitKind::Hard => flags.hard_phrase = true,
                HitKind::Cue => {}
                HitKind::Regex => {
                    let family = self.detectors.list[f.source as usize].family;
                    match family {
                        Some(Builtin::PhoneCn) => flags.phone = true,
                        Some(Builtin::Flood) => flags.flood = true,
                        // Not a contact: it decides on its own (strong), and the model's
                        // features stay what they were trained on.
                        Some(Builtin::SeedPhraseRequest) => {}
                        _ if f.strong => flags.strong_contact = true,
                        _ => flags.weak_contact = true,
                    }
                    if f.strong && matches!(family, Some(Builtin::PhoneCn | Builtin::Flood)) {
                        flags.strong_contact = true;
                    }
                    if matches!(family, Some(Builtin::Url | Builtin::TgLink | Builtin::InviteLink)) {
                        // `found` is sorted by start: a link starting before the reach of the
                        // previous one overlaps it.
                        if links == 0 || f.start >= reach {
                            links += 1;
                        }
                        reach = reach.max(f.end);
                    }
                }
            }
        }
        flags.links = sat(links);
        flags.cue_places = sat(decide::cue_places(&scratch.evidence));
        flags.longest_digit_run = sat(scratch.compact.stats().digit_run as usize);
        flags.emoji = sat(text_facts.emoji);
        flags.mentions = sat(text_facts.mentions);
        flags.id_after_colon = text_facts.id_after_colon;
        flags.starts_with_bracket = text.trim_start().starts_with('【');
        flags.quoted = text_facts.quote_marks >= 2;
        flags
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
        self.rules[self.lists..self.model_rule as usize]
            .iter()
            .map(|r| &*r.name)
    }

    /// The settings of the rule (word list, detector or [`MODEL_RULE`]) called `name`.
    #[must_use]
    pub fn rule_settings(&self, name: &str) -> Option<&RuleSettings> {
        self.rules.iter().find(|r| &*r.name == name).map(|r| &r.settings)
    }

    /// The name members see for rule `rule` in `locale`: its `display` (`display_en` in
    /// English, falling back to each other) in `rules.toml`, else the built-in name of a
    /// detector, of [`MODEL_RULE`] or of a synthetic rule (`flood`, `manual`, `learned` …),
    /// else a generic name — never the internal id.
    #[must_use]
    pub fn display_name(&self, rule: &str, locale: Locale) -> String {
        if let Some(settings) = self.rule_settings(rule) {
            let (first, second) = match locale {
                Locale::ZhCn => (&settings.display, &settings.display_en),
                Locale::En => (&settings.display_en, &settings.display),
            };
            if let Some(name) = first.as_deref().or(second.as_deref()) {
                return name.to_owned();
            }
        }
        i18n::rule_display(locale, rule)
            .unwrap_or_else(|| i18n::generic_rule_display(locale))
            .to_owned()
    }
}

/// What the decision of issue 12 §2 and §3 makes of the rules' decision and the model's score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Why something acts; `None`: nothing acts.
    pub acts: Option<Reason>,
    /// Would have acted for a new member; the member is trusted: record for review.
    pub review: bool,
    /// A soft rules hit the model overruled.
    pub vetoed: bool,
}

/// The decision table, given the rules' decision `rules`, the model's `score` (`None`: no
/// model, or an uncovered script) and the thresholds:
///
/// | rules               | score          | new member      | trusted member        |
/// |---------------------|----------------|-----------------|-----------------------|
/// | strong pattern      | any            | acts            | acts                  |
/// | firm hard phrase    | any            | acts            | acts                  |
/// | hard phrase         | `< veto`       | vetoed          | vetoed                |
/// | hard phrase         | `≥ veto`/none  | acts            | acts                  |
/// | cue combination     | `< veto`       | vetoed          | vetoed                |
/// | cue combination     | `≥ veto`/none  | acts            | review                |
/// | nothing             | `≥ act`        | acts (`model`)  | review                |
/// | nothing             | `< act`/none   | —               | —                     |
#[must_use]
pub fn outcome(rules: Option<Reason>, score: Option<f32>, trust: Trust, veto: f32, act: f32) -> Outcome {
    let trusted = trust == Trust::Trusted;
    let (acts, review, vetoed) = match (rules, score) {
        (Some(Reason::Strong), _) => (Some(Reason::Strong), false, false),
        (Some(Reason::Firm), _) => (Some(Reason::Firm), false, false),
        (Some(r), Some(s)) if r.is_soft() && s < veto => (None, false, true),
        (Some(Reason::Hard), _) => (Some(Reason::Hard), false, false),
        (Some(r), _) if trusted => (None, r.is_soft(), false),
        (Some(r), _) => (Some(r), false, false),
        (None, Some(s)) if s >= act => {
            if trusted {
                (None, true, false)
            } else {
                (Some(Reason::Model), false, false)
            }
        }
        (None, _) => (None, false, false),
    };
    Outcome { acts, review, vetoed }
}

/// What the decision table goes by: the rules' reason, except that a message with a strong
/// contact pattern is a strong-pattern case even when a hard phrase named the rule (the hard
/// phrase decides which rule it violates, the pattern that nothing overrules it), and one with
/// a hard phrase of a `model_veto = false` list, or — when the model judges the message
/// (`model`) — a hard phrase that is all but the whole message ([`bare_hard_phrase`]), a firm
/// case. Without the model a bare phrase is the plain hard case it always was: there is no
/// veto to be spared.
fn rules_reason(
    text: &str,
    decided: Option<(usize, Reason)>,
    scratch: &Scratch,
    rules: &[Rule],
    model: bool,
) -> Option<Reason> {
    let (_, reason) = decided?;
    let strong = scratch.found.iter().any(|f| f.kind == HitKind::Regex && f.strong);
    let firm = || {
        scratch
            .found
            .iter()
            .any(|f| f.kind == HitKind::Hard && rules.get(f.rule as usize).is_some_and(|r| !r.settings.model_veto))
            || (model && reason == Reason::Hard && bare_hard_phrase(text, &scratch.found))
    };
    Some(if strong {
        Reason::Strong
    } else if firm() {
        Reason::Firm
    } else {
        reason
    })
}

/// Whether each word of `written` has the case of ordinary writing: all lower case, all upper
/// case, or capitalized (`fuck`, `FUCK`, `Fuck`). Case that alternates inside a word (`FuCk`,
/// `sEx`, `pOrN`) is a disguise, like stretched letters or leetspeak: no one writes so but to
/// get past a filter.
fn plain_case(written: &str) -> bool {
    written.split_whitespace().all(|word| {
        let mut letters = word.chars().filter(char::is_ascii_alphabetic);
        let Some(first) = letters.next() else { return true };
        let rest: Vec<bool> = letters.map(|c| c.is_ascii_uppercase()).collect();
        rest.iter().all(|&upper| !upper) || (first.is_ascii_uppercase() && rest.iter().all(|&upper| upper))
    })
}

/// Pairs of quotation marks: `“…”`, `「…」`, `『…』`, `"…"`, `＂…＂`, `‘…’`, and `'…'` where the
/// `'` is not an apostrophe (not between two letters). The single ones last
/// ([`PASSAGE_QUOTES`]).
const QUOTES: [(char, char); 7] = [
    ('“', '”'),
    ('「', '」'),
    ('『', '』'),
    ('"', '"'),
    ('＂', '＂'),
    ('‘', '’'),
    ('\'', '\''),
];

/// Quotation marks whose passages [`outside_quotes`] leaves out: the pairs of [`QUOTES`]
/// but the single ones (`‘…’` and `'…'` are apostrophes as often as quotes in chat).
const PASSAGE_QUOTES: &[(char, char)] = QUOTES.split_at(5).0;

/// The shortest quoted passage [`outside_quotes`] leaves out, in characters between the marks.
const QUOTED_MIN: usize = 2;

/// How many characters of normalized text must be left outside the quotation marks for their
/// score to count ([`Filter::score_outside_quotes`]).
const OWN_WORDS: usize = 4;

/// `text` without its quoted passages: each pair of [`PASSAGE_QUOTES`] on one line with at
/// least [`QUOTED_MIN`] characters between the marks is replaced, marks and all, by a space.
/// `None` when there is no such passage.
fn outside_quotes(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut cut = false;
    while let Some((at, open)) = rest
        .char_indices()
        .find(|&(_, c)| PASSAGE_QUOTES.iter().any(|&(o, _)| o == c))
    {
        let close = PASSAGE_QUOTES
            .iter()
            .find(|&&(o, _)| o == open)
            .map_or(open, |&(_, c)| c);
        let after = &rest[at + open.len_utf8()..];
        let line = after.split('\n').next().unwrap_or(after);
        if let Some(end) = line.find(close)
            && line[..end].chars().count() >= QUOTED_MIN
        {
            out.push_str(&rest[..at]);
            out.push(' ');
            rest = &after[end + close.len_utf8()..];
            cut = true;
            continue;
        }
        // Not a passage: keep the mark and look on after it.
        out.push_str(&rest[..at + open.len_utf8()]);
        rest = after;
    }
    out.push_str(rest);
    cut.then_some(out)
}

/// Whether the byte span `start..end` of `text` lies inside a pair of quotation marks
/// ([`QUOTES`]) on the same line: an opening mark before it that nothing closed, and the
/// closing mark after it, with none inside the span.
fn in_quotes(text: &str, start: usize, end: usize) -> bool {
    let (Some(before), Some(inside), Some(after)) = (text.get(..start), text.get(start..end), text.get(end..)) else {
        return false;
    };
    // Most messages with a hard phrase quote nothing: one search for each opening mark
    // before the phrase, and no more.
    if !QUOTES.iter().any(|&(open, _)| before.contains(open)) {
        return false;
    }
    let line_before = before.rsplit('\n').next().unwrap_or(before);
    let line_after = after.split('\n').next().unwrap_or(after);
    let is_mark = |s: &str, at: usize, mark: char| {
        mark != '\'' || {
            let prev = s[..at].chars().next_back();
            let next = s[at + 1..].chars().next();
            !(prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric))
        }
    };
    let marks_in = |s: &str, mark: char| s.match_indices(mark).filter(|&(at, _)| is_mark(s, at, mark)).count();
    QUOTES.iter().any(|&(open, close)| {
        if !line_before.contains(open) || marks_in(inside, close) > 0 || marks_in(line_after, close) == 0 {
            return false;
        }
        if open == close {
            marks_in(line_before, open) % 2 == 1
        } else {
            line_before
                .rfind(open)
                .is_some_and(|o| !line_before[o..].contains(close))
        }
    })
}

/// Whether the hard phrases found in `text` are all but the whole message: at most one word
/// of it — a run of letters or digits, or one Han character — lies outside their spans
/// (`ｃａｓｉｎｏ`, `OnlyFans leaks`, `代开发票`). The model's veto is there for what
/// surrounds a phrase (a member quoting an ad to warn about it); a bare phrase gives it
/// nothing to read but the phrase, and it was overruling exactly these on the bias alone.
/// Stops at the second word outside, so a long message costs a few characters.
fn bare_hard_phrase(text: &str, found: &[Found]) -> bool {
    bare(text, found, HitKind::Hard)
}

/// Whether the message holds a cue that lowers the threshold at which the model acts to
/// `cue_act`: a cue place (`cue_places`, [`Flags::cue_places`] > 0) and more than the cues
/// themselves — a message that is all but a cue (`私聊`, `包过`, by [`bare_hard_phrase`]'s
/// measure) gives the model nothing to read but the word, and its score there is the word's
/// prior, not evidence.
fn lone_cue(text: &str, cue_places: bool, found: &[Found]) -> bool {
    cue_places && !bare(text, found, HitKind::Cue)
}

/// Whether the hits of `kind` found in `text` are all but the whole message (see
/// [`bare_hard_phrase`]).
fn bare(text: &str, found: &[Found], kind: HitKind) -> bool {
    let covered = |at: usize| {
        found
            .iter()
            .any(|f| f.kind == kind && (f.start as usize) <= at && at < f.end as usize)
    };
    let mut words = 0;
    let mut in_word = false;
    for (at, c) in text.char_indices() {
        if !c.is_alphanumeric() || covered(at) {
            in_word = false;
            continue;
        }
        if detect::is_han(c) {
            words += 1;
            in_word = false;
        } else if !in_word {
            words += 1;
            in_word = true;
        }
        if words > 1 {
            return false;
        }
    }
    true
}

/// Runs `f` with this thread's buffers (fresh ones if they are somehow in use already, so this
/// cannot panic).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// What the model's flags read from the original text, in one pass over its bytes, and
/// whether the text could be in a script the model does not cover.
#[derive(Debug, Default, PartialEq, Eq)]
struct TextFacts {
    /// Some character lies outside ASCII, Latin, Han, CJK punctuation, Bopomofo, full-width
    /// forms, general punctuation and symbols, styled Latin letters and emoji: the text may be
    /// Cyrillic, Greek, Arabic, kana, Hangul … and [`Model::covers`] must count its letters.
    maybe_foreign: bool,
    /// Emoji and pictographs: U+1F000–U+1FFFF, U+2600–U+27BF, U+2B00–U+2BFF.
    emoji: usize,
    /// `@` and `＠`.
    mentions: usize,
    /// A colon (`:` or `：`) followed, after optional spaces, by 5 or more ASCII or full-width
    /// letters, digits, `_` or `-`: `微信：abc123`, `Q: 12345`.
    id_after_colon: bool,
    /// Quotation marks: `"`, `“`, `”`, `「`, `」`, `『`, `』`, `＂`.
    quote_marks: usize,
}

/// Per byte: whether [`TextFacts::of`] must look at it — `"`, `:`, `@`, and every lead byte
/// of a character outside ASCII, Latin (U+0080–U+033F) and the common Han block
/// (U+4000–U+9FFF). Continuation bytes never need a look, so the scan can test every byte on
/// its own instead of stepping from character to character (a chain of dependent loads).
const FACT_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b, 0x22 | 0x3A | 0x40 | 0xC0..=0xC1 | 0xCD..=0xE3 | 0xEA..=0xF7);
        b += 1;
    }
    table
};

impl TextFacts {
    fn of(text: &str) -> Self {
        let mut out = Self::default();
        let b = text.as_bytes();
        for (i, &lead) in b.iter().enumerate() {
            if !FACT_BYTE[usize::from(lead)] {
                continue;
            }
            // `lead` starts a character (ASCII or a lead byte, never a continuation byte).
            let next = || b.get(i + 1).copied().unwrap_or(0);
            match lead {
                // ASCII: Latin, digits, punctuation.
                b'@' => out.mentions += 1,
                b':' => out.id_after_colon |= id_follows(text.get(i + 1..).unwrap_or("")),
                b'"' => out.quote_marks += 1,
                // Two-byte characters but U+0080–U+033F (Latin-1, Latin Extended, IPA,
                // modifiers, combining marks): Greek, Cyrillic, Hebrew, Arabic ….
                0xC0..=0xDF => out.maybe_foreign = true,
                // U+2000–U+2FFF: punctuation, symbols, circled letters, pictographs.
                0xE2 => match next() {
                    0x98..=0x9E | 0xAC..=0xAF => out.emoji += 1,
                    // U+201C, U+201D: “ ”
                    0x80 if matches!(b.get(i + 2), Some(0x9C | 0x9D)) => out.quote_marks += 1,
                    _ => {}
                },
                // U+3000–U+3FFF: CJK punctuation, extension A — but not kana, Bopomofo or
                // Hangul compatibility jamo (U+3040–U+318F: counted letter by letter).
                0xE3 => match next() {
                    0x81..=0x86 => out.maybe_foreign = true,
                    // U+300C–U+300F: 「 」 『 』
                    0x80 if matches!(b.get(i + 2), Some(0x8C..=0x8F)) => out.quote_marks += 1,
                    _ => {}
                },
                // U+F000–U+FFFF: compatibility ideographs, full-width forms — but not the
                // half-width katakana and Hangul (U+FF61–U+FFDC).
                0xEF => match next() {
                    0xBC => match b.get(i + 2) {
                        Some(0xA0) => out.mentions += 1,
                        Some(0x82) => out.quote_marks += 1, // ＂
                        Some(0x9A) => out.id_after_colon |= id_follows(text.get(i + 3..).unwrap_or("")),
                        _ => {}
                    },
                    0xBD => out.maybe_foreign |= b.get(i + 2).is_some_and(|&c| c >= 0xA1),
                    0xBE | 0xBF => out.maybe_foreign = true,
                    _ => {}
                },
                // Other three-byte characters: Indic, Thai, Hangul, Yi, private use ….
                0xE0..=0xEF => out.maybe_foreign = true,
                // U+1F000–U+1FFFF: emoji, enclosed letters; U+1D400–: styled letters;
                // U+20000–: Han extensions.
                0xF0..=0xF7 => match next() {
                    0x9F => out.emoji += 1,
                    0x9D | 0xA0..=0xB3 => {}
                    _ => out.maybe_foreign = true,
                },
                _ => {}
            }
        }
        out
    }
}

/// Whether `rest` starts (after spaces) with 5 or more id characters.
fn id_follows(rest: &str) -> bool {
    rest.trim_start_matches([' ', '\u{3000}'])
        .chars()
        .take_while(|&c| {
            c.is_ascii_alphanumeric()
                || c == '_'
                || c == '-'
                || ('０'..='９').contains(&c)
                || ('Ａ'..='Ｚ').contains(&c)
                || ('ａ'..='ｚ').contains(&c)
        })
        .nth(4)
        .is_some()
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
            family: Some(builtin),
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
            family: None,
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
