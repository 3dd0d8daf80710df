//! The phrase matcher: every phrase of every word list in one Aho-Corasick automaton over the
//! compact view, a second one over the collapsed view for repeated letters, the allow list,
//! and the variants table that rewrites evasive spellings before any of them run.
//!
//! The automata use standard (overlapping) semantics: every occurrence of every phrase is
//! reported, so a cue can never hide a hard phrase it overlaps, and allow-list containment is
//! judged per hit. Phrases that normalize to the same string share one automaton pattern.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

use super::engine::{Engine, EngineError, Stepper};
use super::first::{FirstChars, MARK_ALLOW, MARK_VARIANT};
use super::spec::{Automaton, MatchMode};
use crate::policy::model::features::MASK;
use crate::policy::normalize::{CharMarks, Normalizer, View};

/// Why the phrase matcher did not compile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PhrasesError {
    /// One spelling is listed as a variant of two different words (both normalized).
    #[error("{spelling:?} is a variant of both {first:?} and {second:?}")]
    AmbiguousVariant {
        /// The spelling as written.
        spelling: String,
        /// The word it was first listed for.
        first: String,
        /// The other word.
        second: String,
    },
    /// A phrase automaton is over its size limits.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The allow-list or variants automaton is over its size limits.
    #[error(transparent)]
    AhoCorasick(#[from] aho_corasick::BuildError),
}

/// One phrase of one rule.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Index of the rule in the filter's rule table.
    pub(crate) rule: u32,
    /// The phrase as written.
    pub(crate) phrase: Arc<str>,
    /// The rule's match mode, copied here so the hot loop does not chase the rule.
    pub(crate) matching: MatchMode,
    /// 0, or for a Latin word with one letter left out (`fck` of `fuck`) the byte offset in
    /// the pattern where the letter is missing: a hit counts only where the message writes
    /// an emoji in its place (`f🍑ck`), see [`emoji_in_gap`].
    pub(crate) gap: u8,
    /// A two-character Chinese phrase written backwards (`逼傻` of `傻逼`): a hit counts only
    /// where the message aims it at someone, see [`aimed_at_someone`].
    pub(crate) aimed: bool,
}

/// A phrase hit in original-text bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PhraseHit {
    pub(crate) target: u32,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// An automaton and, per pattern, the range of targets it stands for.
#[derive(Clone, Debug)]
struct Patterns {
    automaton: Engine,
    /// Per pattern: `targets[ranges[p].0 .. ranges[p].1]`.
    ranges: Vec<(u32, u32)>,
    targets: Vec<u32>,
    /// Collapsed view only: per pattern, the run length of each of its characters.
    runs: Vec<Vec<u32>>,
}

/// The compiled phrase matcher.
#[derive(Clone, Debug, Default)]
pub(crate) struct Phrases {
    pub(crate) targets: Vec<Target>,
    plain: Option<Patterns>,
    collapsed: Option<Patterns>,
    /// The allow list, with the pre-check of its first characters.
    allow: Option<(AhoCorasick, FirstChars)>,
    variants: Option<Variants>,
    /// Whether [`Phrases::stepper`] offers the phrase automaton's stepper (off only in the
    /// differential tests, which compare the stepped search with the scan).
    no_stepping: bool,
}

/// Which backwards spellings of a phrase match too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backwards {
    /// Only the phrase as written.
    No,
    /// Also the phrase written backwards, when it is long enough to be no ordinary word that
    /// way ([`reversible`]): the lists with `backwards = true`.
    Yes,
    /// As `Yes`, and a two-character Chinese phrase backwards where it is aimed at someone
    /// ([`aimed_at_someone`]): the lists with `backwards_pairs = true` (insults, contraband).
    /// A message with such a pair is all but the pair, a bare hard phrase the model does not
    /// overrule, so the setting is for lists whose reversed pairs are no ordinary words (单刷,
    /// 刷单 backwards, is `你单刷` in a game group: "you solo it").
    AndAimedPairs,
}

/// Builds a [`Phrases`] from normalized phrases.
pub(crate) struct Builder<'a> {
    normalizer: &'a Normalizer,
    variants: Option<Variants>,
    targets: Vec<Target>,
    /// Normalized phrase → pattern index, and per pattern its targets.
    patterns: HashMap<String, usize>,
    pattern_targets: Vec<Vec<u32>>,
    pattern_text: Vec<String>,
    allow: Vec<String>,
    /// Hard phrases (normalized) and their targets, matched written backwards too.
    reversed: Vec<(String, u32)>,
    /// Two-character hard phrases written backwards, and the target of the phrase as written.
    reversed_pairs: Vec<(String, u32)>,
    /// Hard Latin words with one letter left out, the offset of the gap, and the target of
    /// the word as written.
    gapped: Vec<(String, u8, u32)>,
}

impl<'a> Builder<'a> {
    /// A builder; `variants` are `(spelling, canonical)` pairs, already checked.
    pub(crate) fn new(normalizer: &'a Normalizer, variants: &[(String, String)]) -> Result<Self, PhrasesError> {
        let variants = if normalizer.options().variants {
            Variants::build(normalizer, variants)?
        } else {
            None
        };
        Ok(Self {
            normalizer,
            variants,
            targets: Vec::new(),
            patterns: HashMap::new(),
            pattern_targets: Vec::new(),
            pattern_text: Vec::new(),
            allow: Vec::new(),
            reversed: Vec::new(),
            reversed_pairs: Vec::new(),
            gapped: Vec::new(),
        })
    }

    /// The form `phrase` is matched as: normalized, variants applied. Empty when the phrase
    /// is nothing but noise.
    pub(crate) fn normalize(&self, phrase: &str) -> String {
        let mut view = View::default();
        self.normalizer.compact_into(phrase, &mut view);
        if let Some(v) = &self.variants {
            let mut out = View::default();
            let mut reps = Vec::new();
            if v.apply(self.normalizer, phrase, &view, &mut out, &mut reps) {
                return out.as_str().to_owned();
            }
        }
        view.as_str().to_owned()
    }

    /// Adds a phrase of `rule`. Returns `false` if it normalizes to nothing. `backwards`
    /// (what the filter asks for hard phrases, see [`Backwards`]): also match the phrase
    /// written backwards (`票发开代`, `argaiv`) when it is long enough to be no ordinary word
    /// that way ([`reversible`]), and a two-character phrase backwards where it is aimed at
    /// someone.
    pub(crate) fn add(&mut self, rule: u32, phrase: &str, matching: MatchMode, backwards: Backwards) -> bool {
        let normalized = self.normalize(phrase);
        if normalized.is_empty() {
            return false;
        }
        let target = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
        let reverse = backwards != Backwards::No;
        if reverse && reversible(&normalized, matching) {
            self.reversed.push((normalized.chars().rev().collect(), target));
        }
        if backwards == Backwards::AndAimedPairs && is_han_pair(&normalized) {
            self.reversed_pairs.push((normalized.chars().rev().collect(), target));
        }
        if reverse
            && matches!(matching, MatchMode::Word | MatchMode::Disguised)
            && !phrase.trim().contains(char::is_whitespace)
        {
            self.gapped
                .extend(gapped(&normalized).map(|(text, gap)| (text, gap, target)));
        }
        self.targets.push(Target {
            rule,
            phrase: Arc::from(phrase),
            matching,
            gap: 0,
            aimed: false,
        });
        let next = self.pattern_targets.len();
        let p = *self.patterns.entry(normalized.clone()).or_insert(next);
        if p == next {
            self.pattern_targets.push(Vec::new());
            self.pattern_text.push(normalized);
        }
        self.pattern_targets[p].push(target);
        true
    }

    /// Adds an allow-list phrase. Returns `false` if it normalizes to nothing.
    pub(crate) fn allow(&mut self, phrase: &str) -> bool {
        let normalized = self.normalize(phrase);
        if normalized.is_empty() {
            return false;
        }
        self.allow.push(normalized);
        true
    }

    /// The pattern index of `text`, a spelling added after the first `earlier` patterns (a
    /// new pattern if it is none yet), or `None` when it is one of those: a spelling of an
    /// earlier kind keeps its place.
    fn later_pattern(&mut self, text: String, earlier: usize) -> Option<usize> {
        let next = self.pattern_targets.len();
        let p = *self.patterns.entry(text.clone()).or_insert(next);
        if p < earlier {
            return None;
        }
        if p == next {
            self.pattern_targets.push(Vec::new());
            self.pattern_text.push(text);
        }
        Some(p)
    }

    /// Makes pattern `p` point to a new target: a copy of target `of`, changed by `change`
    /// (the same rule and phrase, with what the spelling found at `p` asks of a hit).
    fn derive_target(&mut self, p: usize, of: u32, change: impl FnOnce(&mut Target)) {
        let target = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
        let mut t = self.targets[of as usize].clone();
        change(&mut t);
        self.targets.push(t);
        self.pattern_targets[p].push(target);
    }

    /// Compiles the automata.
    pub(crate) fn build(mut self, kind: Automaton) -> Result<Phrases, PhrasesError> {
        // Backwards phrases last, so none of them takes the place of a phrase as written: a
        // backwards spelling that is also a phrase (or a palindrome) is left out.
        let forwards = self.pattern_text.len();
        for (text, target) in std::mem::take(&mut self.reversed) {
            if let Some(p) = self.later_pattern(text, forwards) {
                self.pattern_targets[p].push(target);
            }
        }
        // Two-character phrases backwards next, each a target of its own (same rule and
        // phrase, aimed): one that is also a phrase as written (or a doubled character) is
        // left out.
        for (text, of) in std::mem::take(&mut self.reversed_pairs) {
            if let Some(p) = self.later_pattern(text, forwards) {
                self.derive_target(p, of, |t| t.aimed = true);
            }
        }
        // Words with a letter left out last of all: none takes the place of a phrase or of a
        // backwards phrase. Each is a target of its own (same rule and phrase, and its gap).
        let whole = self.pattern_text.len();
        for (text, gap, of) in std::mem::take(&mut self.gapped) {
            if let Some(p) = self.later_pattern(text, whole) {
                self.derive_target(p, of, |t| t.gap = gap);
            }
        }
        let plain = if self.pattern_text.is_empty() {
            None
        } else {
            let (ranges, targets) = flatten(&self.pattern_targets);
            Some(Patterns {
                automaton: Engine::build(kind, &self.pattern_text)?,
                ranges,
                targets,
                runs: Vec::new(),
            })
        };
        let collapsed = if self.normalizer.options().repeats {
            collapsed_patterns(&self.pattern_text, &self.pattern_targets, kind)?
        } else {
            None
        };
        let allow = if self.allow.is_empty() {
            None
        } else {
            Some((
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&self.allow)?,
                FirstChars::new(self.allow.iter().map(String::as_str)),
            ))
        };
        Ok(Phrases {
            targets: self.targets,
            plain,
            collapsed,
            allow,
            variants: self.variants,
            no_stepping: false,
        })
    }
}

/// The spellings of a normalized Latin word with one inner letter left out, and where: for
/// words of four or more letters (`fuck` → `fck` at 1, `fuk` at 2), and only spellings with
/// no letter doubled, so that the repeats view (which folds doubled letters) keeps the
/// offsets. The first and last letters stay: a gap there is no gap inside a word.
fn gapped(normalized: &str) -> impl Iterator<Item = (String, u8)> + '_ {
    let word = normalized.len() >= 4 && normalized.len() <= 64 && normalized.bytes().all(|b| b.is_ascii_lowercase());
    let inner = if word { 1..normalized.len() - 1 } else { 0..0 };
    inner.filter_map(move |i| {
        let text = format!("{}{}", &normalized[..i], &normalized[i + 1..]);
        let doubled = text.as_bytes().windows(2).any(|w| w[0] == w[1]);
        (!doubled).then(|| (text, u8::try_from(i).unwrap_or(u8::MAX)))
    })
}

/// Whether the original text between view bytes `gap - 1` and `gap` (both inside the hit)
/// is an emoji and nothing else but joiners and variation selectors: `f🍑ck`, not `f ck`,
/// `f. ck` or `f 🍑 ck`.
fn emoji_in_gap(text: &str, view: &View, s: usize, gap: usize, e: usize) -> bool {
    let (_, a) = view.original_span(s, s + gap);
    let (b, _) = view.original_span(s + gap, e);
    let Some(between) = text.get(a..b) else {
        return false;
    };
    let emoji = |c: char| matches!(u32::from(c), 0x1F000..=0x1FAFF | 0x2600..=0x27BF);
    let glue = |c: char| matches!(u32::from(c), 0x200D | 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF);
    between.chars().any(emoji) && between.chars().all(|c| emoji(c) || glue(c))
}

/// Whether a two-character phrase written backwards at view bytes `s..e` of `hay` (the
/// compact view) is aimed at someone: a second-person pronoun (你, 您) right before or after
/// it, and at most one more character in the whole message (`逼傻你`, `你逼傻`, `人贱你吧`).
/// Backwards, a two-character word is often a word of its own (逼傻 in `这题把我逼傻了`, 粉白
/// in `粉白色`, 单刷 in `单刷副本`); an insult written backwards and hurled at a member is not.
fn aimed_at_someone(hay: &str, s: usize, e: usize) -> bool {
    let pronoun = |c: char| matches!(c, '你' | '您');
    let (Some(before), Some(after)) = (hay.get(..s), hay.get(e..)) else {
        return false;
    };
    let beside = before.chars().next_back().is_some_and(pronoun) || after.chars().next().is_some_and(pronoun);
    beside && before.chars().count() + after.chars().count() <= 2
}

/// Whether a normalized phrase is two Chinese characters (matched written backwards only
/// where aimed at someone, [`aimed_at_someone`]).
fn is_han_pair(normalized: &str) -> bool {
    let mut chars = normalized.chars();
    let han = |c: Option<char>| c.is_some_and(|c| ('\u{3400}'..='\u{9FFF}').contains(&c));
    han(chars.next()) && han(chars.next()) && chars.next().is_none()
}

/// Whether a normalized hard phrase is also matched written backwards: three or more Chinese
/// characters (a two-character word backwards is often a word: 傻逼 → 逼傻, as in 把我逼傻了), or
/// five or more Latin letters — four in a `disguised` list, whose short words (`fuck` →
/// `kcuf`, `porn` → `nrop`) are what it holds and, backwards, no words; mixed phrases and
/// digits are not.
fn reversible(normalized: &str, matching: MatchMode) -> bool {
    let n = normalized.chars().count();
    let cjk = normalized.chars().all(|c| ('\u{3400}'..='\u{9FFF}').contains(&c));
    let latin = normalized.bytes().all(|b| b.is_ascii_lowercase());
    let shortest_latin = if matching == MatchMode::Disguised { 4 } else { 5 };
    (cjk && n >= 3) || (latin && n >= shortest_latin)
}

fn flatten(pattern_targets: &[Vec<u32>]) -> (Vec<(u32, u32)>, Vec<u32>) {
    let mut ranges = Vec::with_capacity(pattern_targets.len());
    let mut targets = Vec::new();
    for t in pattern_targets {
        let start = u32::try_from(targets.len()).unwrap_or(u32::MAX);
        targets.extend_from_slice(t);
        ranges.push((start, u32::try_from(targets.len()).unwrap_or(u32::MAX)));
    }
    (ranges, targets)
}

/// The collapsed-view automaton: phrases with a Latin letter, runs collapsed, each with its
/// run lengths (a hit needs runs at least as long: "as" must not hit `ass`).
///
/// Only Latin phrases take part: stretching letters (fuuuck, viiiagra) is how Latin words are
/// disguised, while a repeated Chinese character rarely hides a phrase (傻傻傻逼 still
/// contains 傻逼) — and a second automaton over 50k Chinese phrases would double load time
/// and memory for nothing.
fn collapsed_patterns(
    texts: &[String],
    pattern_targets: &[Vec<u32>],
    kind: Automaton,
) -> Result<Option<Patterns>, PhrasesError> {
    let mut collapsed: HashMap<(String, Vec<u32>), usize> = HashMap::new();
    let mut order: Vec<(String, Vec<u32>)> = Vec::new();
    let mut per: Vec<Vec<u32>> = Vec::new();
    for (text, targets) in texts.iter().zip(pattern_targets) {
        if !text.bytes().any(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        let mut s = String::new();
        let mut runs: Vec<u32> = Vec::new();
        for c in text.chars() {
            if s.ends_with(c) {
                if let Some(last) = runs.last_mut() {
                    *last += 1;
                }
            } else {
                s.push(c);
                runs.push(1);
            }
        }
        let key = (s, runs);
        let next = order.len();
        let p = *collapsed.entry(key.clone()).or_insert(next);
        if p == next {
            order.push(key);
            per.push(Vec::new());
        }
        per[p].extend_from_slice(targets);
    }
    if order.is_empty() {
        return Ok(None);
    }
    let (ranges, targets) = flatten(&per);
    let texts: Vec<&str> = order.iter().map(|(s, _)| s.as_str()).collect();
    let automaton = Engine::build(kind, &texts)?;
    Ok(Some(Patterns {
        automaton,
        ranges,
        targets,
        runs: order.into_iter().map(|(_, r)| r).collect(),
    }))
}

impl Phrases {
    /// Marks the characters the variant spellings ([`MARK_VARIANT`]) and the allow-list
    /// phrases ([`MARK_ALLOW`]) start with.
    pub(crate) fn mark_first_chars(&self, marks: &mut CharMarks) {
        if let Some(v) = &self.variants {
            v.first.mark_into(marks, MARK_VARIANT);
        }
        if let Some((_, first)) = &self.allow {
            first.mark_into(marks, MARK_ALLOW);
        }
    }

    /// Applies the variants table to `view` (the compact view of `text`; `marks` its
    /// [`CharMarks`], see [`Phrases::mark_first_chars`]). Returns the view to match: `view`
    /// itself, or the rewritten copy in `spliced`.
    pub(crate) fn apply_variants<'v>(
        &self,
        normalizer: &Normalizer,
        text: &str,
        view: &'v View,
        marks: u8,
        spliced: &'v mut View,
        replacements: &mut Vec<(usize, usize, u32)>,
    ) -> &'v View {
        match &self.variants {
            Some(v) if marks & MARK_VARIANT != 0 && v.apply(normalizer, text, view, spliced, replacements) => spliced,
            _ => view,
        }
    }

    /// The phrase automaton's stepper, to run inside the pass that builds the compact view
    /// ([`Normalizer::compact_marked_each_into`]), when its engine has one. What it finds is
    /// then handed to [`Phrases::find_stepped`] instead of scanning the view again.
    #[inline]
    pub(crate) fn stepper(&self) -> Option<Stepper<'_>> {
        if self.no_stepping {
            return None;
        }
        self.plain.as_ref().and_then(|plain| plain.automaton.stepper())
    }

    /// Every phrase hit in `view` (of `text`), before rule scoping and the allow list, with
    /// the word and exact checks applied. `keep(rule)` says whether a rule applies.
    ///
    /// Inlined into [`super::Filter::find`] (left to the compiler, it was not); the leet
    /// pass's call is out of line.
    #[inline(always)]
    pub(crate) fn find(
        &self,
        normalizer: &Normalizer,
        text: &str,
        view: &View,
        collapsed_view: &mut View,
        keep: &dyn Fn(u32) -> bool,
        out: &mut Vec<PhraseHit>,
    ) {
        let Some(plain) = &self.plain else { return };
        plain.automaton.for_each_match(view.as_str(), |p, s, e| {
            self.push_targets(normalizer, text, view, plain, p, s, e, keep, out);
        });
        self.find_collapsed(normalizer, text, view, collapsed_view, keep, out);
    }

    /// [`Phrases::find`] with the phrase automaton's matches in `view` already found by its
    /// [`Phrases::stepper`] while the view was built: `stepped` holds them as
    /// `(pattern, start, end)`, in the order the scan reports them.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // find's arguments and the matches
    pub(crate) fn find_stepped(
        &self,
        normalizer: &Normalizer,
        text: &str,
        view: &View,
        stepped: &[(u32, u32, u32)],
        collapsed_view: &mut View,
        keep: &dyn Fn(u32) -> bool,
        out: &mut Vec<PhraseHit>,
    ) {
        let Some(plain) = &self.plain else { return };
        for &(p, s, e) in stepped {
            self.push_targets(
                normalizer, text, view, plain, p as usize, s as usize, e as usize, keep, out,
            );
        }
        self.find_collapsed(normalizer, text, view, collapsed_view, keep, out);
    }

    /// The collapsed view's part of [`Phrases::find`], after the plain hits are in `out`.
    #[inline(always)]
    fn find_collapsed(
        &self,
        normalizer: &Normalizer,
        text: &str,
        view: &View,
        collapsed_view: &mut View,
        keep: &dyn Fn(u32) -> bool,
        out: &mut Vec<PhraseHit>,
    ) {
        // Only Latin phrases are in the collapsed automaton, so only a repeated Latin letter
        // can make a difference.
        if let Some(collapsed) = &self.collapsed
            && view.stats().latin_repeat
            && view.has_repeat()
        {
            view.collapse_into(collapsed_view);
            let cv = &*collapsed_view;
            let plain_hits = out.len();
            collapsed.automaton.for_each_match(cv.as_str(), |p, s, e| {
                let runs_ok = cv.runs(s, e).zip(&collapsed.runs[p]).all(|(have, &need)| have >= need);
                if !runs_ok {
                    return;
                }
                self.push_targets(normalizer, text, cv, collapsed, p, s, e, keep, out);
            });
            if out.len() > plain_hits {
                // A phrase found in both views is one hit: keep the first of overlapping hits
                // of one phrase (sorting, not pairwise comparison: a message can hold
                // thousands of hits).
                out.sort_by_key(|h| (h.target, h.start, h.end));
                let mut last: Option<PhraseHit> = None;
                out.retain(|h| {
                    let dup = last.is_some_and(|l| l.target == h.target && h.start < l.end);
                    if !dup {
                        last = Some(*h);
                    }
                    !dup
                });
            }
        }
    }

    /// Makes the first-character pre-checks rule nothing out (for differential tests).
    #[cfg(test)]
    pub(crate) fn disable_prechecks(&mut self) {
        self.no_stepping = true;
        if let Some((_, first)) = &mut self.allow {
            *first = FirstChars::everything();
        }
        if let Some(v) = &mut self.variants {
            v.first = FirstChars::everything();
        }
    }

    /// The original spans of the allow-list hits in `view` into `out` (cleared first);
    /// `marks`: the view's [`CharMarks`] (`u8::MAX` when not known).
    pub(crate) fn allowed_spans(&self, view: &View, marks: u8, out: &mut Vec<(u32, u32)>) {
        out.clear();
        if let Some((allow, first)) = &self.allow
            && marks & MARK_ALLOW != 0
            && first.may_match(view.as_str())
        {
            for m in allow.find_overlapping_iter(view.as_str()) {
                let (os, oe) = view.original_span(m.start(), m.end());
                out.push((to_u32(os), to_u32(oe)));
            }
        }
    }

    /// `text` (the model's input, the normalized text [`Phrases::allowed_spans`] reads, Latin
    /// word boundaries marked) with each stretch the allow list covers replaced by one
    /// [`MASK`], into `out`; `spans` is a buffer. `marks`: the view's [`CharMarks`]
    /// (`u8::MAX` when not known). Returns `false`, leaving `out` empty, when the allow list
    /// covers nothing of it (most messages: the first-character pre-check rules it out).
    pub(crate) fn mask_allowed(&self, text: &str, marks: u8, spans: &mut Vec<(u32, u32)>, out: &mut String) -> bool {
        out.clear();
        spans.clear();
        let Some((allow, first)) = &self.allow else {
            return false;
        };
        if marks & MARK_ALLOW == 0 || !first.may_match(text) {
            return false;
        }
        spans.extend(
            allow
                .find_overlapping_iter(text)
                .map(|m| (to_u32(m.start()), to_u32(m.end()))),
        );
        if spans.is_empty() {
            return false;
        }
        spans.sort_unstable();
        let mut copied = 0usize;
        for &(s, e) in spans.iter() {
            let (s, e) = (s as usize, e as usize);
            if e <= copied {
                continue;
            }
            if s >= copied {
                out.push_str(text.get(copied..s).unwrap_or(""));
                out.push(MASK);
            }
            copied = e;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        true
    }

    /// The word and exact checks of a hit at view bytes `s..e`.
    /// Pushes a hit for every target of pattern `p` of `patterns`, found at `s..e` of `view`,
    /// that `keep` accepts and whose match mode the occurrence satisfies.
    #[allow(clippy::too_many_arguments)] // the hot loop's state, passed rather than bundled per match
    #[inline]
    fn push_targets(
        &self,
        normalizer: &Normalizer,
        text: &str,
        view: &View,
        patterns: &Patterns,
        p: usize,
        s: usize,
        e: usize,
        keep: &dyn Fn(u32) -> bool,
        out: &mut Vec<PhraseHit>,
    ) {
        let (os, oe) = view.original_span(s, e);
        let (from, to) = patterns.ranges[p];
        for &t in &patterns.targets[from as usize..to as usize] {
            let target = &self.targets[t as usize];
            if keep(target.rule)
                && self.fits(normalizer, text, view, target.matching, s, e)
                && (target.gap == 0 || emoji_in_gap(text, view, s, usize::from(target.gap), e))
                && (!target.aimed || aimed_at_someone(view.as_str(), s, e))
            {
                out.push(PhraseHit {
                    target: t,
                    start: to_u32(os),
                    end: to_u32(oe),
                });
            }
        }
    }

    fn fits(&self, normalizer: &Normalizer, text: &str, view: &View, matching: MatchMode, s: usize, e: usize) -> bool {
        match matching {
            MatchMode::Substring => true,
            MatchMode::Exact => s == 0 && e == view.as_str().len(),
            MatchMode::Word | MatchMode::Disguised => !latin_glued(normalizer, text, view, s, e),
        }
    }
}

/// The Latin boundary rule, judged in the original text: a hit whose first (last) character
/// is a Latin letter does not count if the original character just before (after) it is also
/// a Latin letter. A skipped character in between (space, dot, zero-width) is a boundary, so
/// "f u c k" and "s.e.x" hit while "class" and "as sure" do not; digits are boundaries, so
/// "sex123" hits.
pub(crate) fn latin_glued(normalizer: &Normalizer, text: &str, view: &View, s: usize, e: usize) -> bool {
    let hay = view.as_str();
    let (os, oe) = view.original_span(s, e);
    let first_latin = hay[s..e].starts_with(|c: char| c.is_ascii_alphabetic());
    let last_latin = hay[s..e].ends_with(|c: char| c.is_ascii_alphabetic());
    (first_latin
        && text[..os]
            .chars()
            .next_back()
            .is_some_and(|c| normalizer.is_latin_letter(c)))
        || (last_latin && text[oe..].chars().next().is_some_and(|c| normalizer.is_latin_letter(c)))
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The variants table, compiled: a leftmost-longest automaton over the normalized spellings.
#[derive(Clone, Debug)]
struct Variants {
    automaton: AhoCorasick,
    canonical: Vec<Box<str>>,
    /// The spellings' first characters: most messages hold none, and skip the automaton.
    first: FirstChars,
}

impl Variants {
    fn build(normalizer: &Normalizer, pairs: &[(String, String)]) -> Result<Option<Self>, PhrasesError> {
        let mut spellings = Vec::new();
        let mut canonical = Vec::new();
        let mut seen = HashMap::new();
        for (spelling, canon) in pairs {
            let s = normalizer.compact(spelling);
            let c = normalizer.compact(canon);
            if s.is_empty() || c.is_empty() || s == c {
                continue;
            }
            if let Some(prev) = seen.insert(s.clone(), c.clone())
                && prev != c
            {
                return Err(PhrasesError::AmbiguousVariant {
                    spelling: spelling.clone(),
                    first: prev,
                    second: c,
                });
            }
            spellings.push(s);
            canonical.push(c.into_boxed_str());
        }
        if spellings.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&spellings)?;
        let first = FirstChars::new(spellings.iter().map(String::as_str));
        Ok(Some(Self {
            automaton,
            canonical,
            first,
        }))
    }

    /// Rewrites the variants found in `view` into `out`. A Latin spelling glued to other Latin
    /// letters is left alone ("vxlan" is not "vx"). Returns whether anything was rewritten.
    fn apply(
        &self,
        normalizer: &Normalizer,
        text: &str,
        view: &View,
        out: &mut View,
        reps: &mut Vec<(usize, usize, u32)>,
    ) -> bool {
        reps.clear();
        if !self.first.may_match(view.as_str()) {
            return false;
        }
        for m in self.automaton.find_iter(view.as_str()) {
            if !latin_glued(normalizer, text, view, m.start(), m.end()) {
                reps.push((m.start(), m.end(), m.pattern().as_u32()));
            }
        }
        if reps.is_empty() {
            return false;
        }
        view.splice_into(reps, |i| &self.canonical[i as usize], out);
        true
    }
}
