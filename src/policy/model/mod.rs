//! The learned stage: logistic regression over hashed character n-grams of the normalized
//! text, plus indicator features of the rules stage's evidence.
//!
//! The rules stage ([`filter`](super) in the daemon) is precise but brittle: a new wording
//! slips past every word list until someone adds it. This model reads the same normalized
//! text, with Latin word boundaries put back ([`words`]), as a bag of character 1-, 2- and
//! 3-grams — the unit that works for Chinese, where splitting on spaces makes a whole
//! sentence one token — and adds what the rules found as
//! [`Flags`]. It is linear, so every score is a sum the operator can read
//! ([`Model::explain`]), and it is calibrated enough to *veto* weak rule hits (a cue without
//! a strong contact pattern in a message the model scores low is a quoted warning, not an
//! ad).
//!
//! ```text
//!  original ──▶ covers()? ── no ──▶ rules alone
//!     │            │ yes
//!     ▼            ▼
//!  normalize ──▶ features ──▶ Σ base weights + Σ learned Delta ──▶ σ ──▶ P(spam)
//!  rules ─────▶ Flags ─┘      (model file, shipped)  (per instance,
//!                                                     replayed from admin labels)
//! ```
//!
//! - [`features`]: the hash, the feature layout, the flag buckets, [`covers`];
//! - [`mod@train`]: offline training ([`train()`]), deterministic to the bit;
//! - [`mod@format`]: the model file (`QGMODEL1`), checked before use;
//! - [`words`]: Latin word boundaries put back into the compact text before the n-grams are
//!   taken (`saved my` must not read as `dm`);
//! - [`Delta`]: what this instance learned from its admins, on top of the shipped model.
//!
//! # Invariants
//!
//! - Scoring is O(length of the first [`MAX_CHARS`] characters), allocates nothing (a
//!   32 KiB per-thread feature set is allocated on a thread's first call, then reused) and
//!   never panics.
//! - The score is `σ(bias + Σ weights of the distinct features)`; [`Model::explain`]'s
//!   contributions, `rest` and `bias` add up to that logit.
//! - Nothing depends on a `HashMap`'s iteration order, threads or time: training the same
//!   samples in the same order, or replaying the same labels into a [`Delta`], gives the same
//!   bits on the same platform (`f64::exp` comes from the platform's maths library, which is
//!   the one thing that could differ across platforms).
//!
//! Deliberately *not* features (they learn the writer, not the spam): the message's length,
//! and whether it is mostly Latin.

pub mod features;
pub mod format;
pub mod train;
pub mod words;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use features::{BUCKETS, FEATURES, FLAG_NAMES, Origin, Seen, for_each_feature, sum_features};
pub use features::{Coverage, MAX_CHARS, covers};
pub use format::ModelError;
pub use train::{Sample, TrainOptions, train};

/// What the rules stage found in a message, as the model sees it. Counts saturate at 255.
///
/// No length and no "mostly Latin" field, on purpose: see the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    /// A strong contact detector hit: an id after a QQ/WeChat cue, a t.me or invite link.
    pub strong_contact: bool,
    /// A weak contact detector hit: a URL, an e-mail, an @handle, a long digit run.
    pub weak_contact: bool,
    /// A hard phrase (after the allow list).
    pub hard_phrase: bool,
    /// How many distinct places of the text hold a cue phrase.
    pub cue_places: u8,
    /// How many links.
    pub links: u8,
    /// The longest run of digits (Chinese numerals included), in digits.
    pub longest_digit_run: u8,
    /// How many emoji the original text has (the normalized text has none).
    pub emoji: u8,
    /// An id or number right after a colon (`微信：abc123`, `Q: 12345`).
    pub id_after_colon: bool,
    /// The original text starts with `【`, the bracket of ad headlines.
    pub starts_with_bracket: bool,
    /// How many @mentions.
    pub mentions: u8,
    /// A mainland mobile number.
    pub phone: bool,
    /// Mostly one repeated snippet.
    pub flood: bool,
    /// The original text quotes something: two or more quotation marks (`“…”`, `「…」`,
    /// `"…"`). Members who warn about a scam quote it; an ad rarely quotes anything.
    pub quoted: bool,
}

/// A trained model: one weight per feature and a bias. Immutable; load a new one to change
/// it. Cheap to share (`Arc<Model>`); 512 KiB.
///
/// # Weights are 8-bit steps
///
/// A model holds its weights *quantized*: `weight(i) = q[i] · scale`, with `q[i]` an `i8`
/// and `scale` = the largest |trained weight| ÷ 127, fixed when training assembles the model
/// (the `f32` weights it computed are dropped there). Scoring, explaining and learning read
/// them, and since format version 4 so does the file ([`mod@format`]): the table is a quarter
/// of an `f32` one (512 KiB with 2¹⁹ buckets), small enough to stay near a core's L2 cache next
/// to the phrase automaton, where an `f32` table, looked up at ~60 random places per message,
/// missed it (measured in docs/performance.md, "The model's weights in 8 bits"). The error
/// per weight is at most scale ÷ 2 (0.007 with the model of that measurement, whose typical
/// n-gram weight was 0.15); the figures of `qunguan model eval` are those of the quantized
/// model, as the daemon scores. Until format version 3 the file held the `f32` weights and
/// the daemon kept both tables (2.5 MiB with 2¹⁹ buckets).
#[derive(Clone, PartialEq)]
pub struct Model {
    bias: f32,
    /// [`FEATURES`] weights as steps of `scale`: n-gram buckets, then flag slots.
    quantized: Box<[i8]>,
    /// The value of one step of `quantized`: finite and ≥ 0.
    scale: f32,
    meta: TrainMeta,
}

/// How a model was trained, as recorded in its file (for `qunguan model info`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainMeta {
    /// Spam samples it was trained on.
    pub spam: u32,
    /// Ham samples it was trained on.
    pub ham: u32,
    /// Passes over the samples.
    pub epochs: u32,
    /// AdaGrad base learning rate.
    pub rate: f32,
    /// L2 strength.
    pub l2: f32,
    /// Shuffling seed.
    pub seed: u64,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nonzero = self.quantized.iter().filter(|q| **q != 0).count();
        f.debug_struct("Model")
            .field("bias", &self.bias)
            .field("nonzero_weights", &nonzero)
            .field("meta", &self.meta)
            .finish()
    }
}

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
}

/// Runs `f` with this thread's feature set (a fresh one if it is somehow in use already, so
/// this cannot panic).
fn with_seen<R>(f: impl FnOnce(&mut Seen) -> R) -> R {
    SEEN.with(|cell| match cell.try_borrow_mut() {
        Ok(mut seen) => f(&mut seen),
        Err(_) => f(&mut Seen::default()),
    })
}

/// The logistic function, without overflow for large |z|.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `weights` as `i8` steps of one scale (the largest |weight| ÷ 127, rounded to nearest);
/// all zero with scale 0 for an all-zero model. Weights are finite (see [`Model`]).
fn quantize(weights: &[f32]) -> (Box<[i8]>, f32) {
    let largest = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return (vec![0; weights.len()].into_boxed_slice(), 0.0);
    }
    let scale = largest / 127.0;
    let quantized = weights
        .iter()
        // |w / scale| ≤ 127 (up to rounding, which the clamp absorbs): the cast is exact.
        .map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (quantized, scale)
}

impl Model {
    /// Assembles a model from trained weights, quantized here. `weights` must have
    /// [`FEATURES`] finite entries (the caller, training, guarantees it).
    fn from_parts(bias: f32, weights: Box<[f32]>, meta: TrainMeta) -> Self {
        debug_assert_eq!(weights.len(), FEATURES);
        let (quantized, scale) = quantize(&weights);
        Self::from_steps(bias, quantized, scale, meta)
    }

    /// Assembles a model from its steps. `quantized` must have [`FEATURES`] entries and
    /// `scale` be finite and ≥ 0 (callers: [`Model::from_parts`] and the file reader, which
    /// both guarantee it).
    fn from_steps(bias: f32, quantized: Box<[i8]>, scale: f32, meta: TrainMeta) -> Self {
        debug_assert_eq!(quantized.len(), FEATURES);
        Self {
            bias,
            quantized,
            scale,
            meta,
        }
    }

    /// The weight scoring uses for feature `index` (the quantized one; 0 outside the table).
    #[must_use]
    pub fn weight(&self, index: u32) -> f32 {
        self.quantized
            .get(index as usize)
            .map_or(0.0, |&q| f32::from(q) * self.scale)
    }

    /// A model with every weight zero: it scores everything 0.5. Useful as the base of a
    /// [`Delta`] before any model is shipped, and in tests.
    #[must_use]
    pub fn zero() -> Self {
        Self::from_parts(0.0, vec![0.0; FEATURES].into_boxed_slice(), TrainMeta::default())
    }

    /// How it was trained.
    #[must_use]
    pub fn meta(&self) -> &TrainMeta {
        &self.meta
    }

    /// The bias (the logit of a message with no features).
    #[must_use]
    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// Whether `original` is text this model can judge (see [`covers`]). On `false` the caller
    /// decides by the rules alone. Takes the ORIGINAL text, not the normalized one.
    #[must_use]
    pub fn covers(original: &str) -> bool {
        covers(original)
    }

    /// The probability that a message is spam, in `[0, 1]`: `normalized` is its normalized
    /// (compact) text, `flags` what the rules found.
    #[must_use]
    pub fn score(&self, normalized: &str, flags: &Flags) -> f32 {
        self.score_with(None, normalized, flags)
    }

    /// [`Model::score`] with what this instance learned added.
    #[must_use]
    pub fn score_with(&self, delta: Option<&Delta>, normalized: &str, flags: &Flags) -> f32 {
        sigmoid(self.logit_with(delta, normalized, flags))
    }

    /// The log-odds behind [`Model::score_with`].
    #[must_use]
    pub fn logit_with(&self, delta: Option<&Delta>, normalized: &str, flags: &Flags) -> f32 {
        // Always FEATURES long (see `from_parts`); as an array, indices of n-gram buckets and
        // flag slots need no bounds check.
        let Ok(quantized) = <&[i8; FEATURES]>::try_from(&*self.quantized) else {
            return self.bias;
        };
        let scale = self.scale;
        // The same product as `Model::weight`, so the fused sum is the feature sum to the bit.
        with_seen(|seen| match delta {
            // `move`: the closures hold the table's address itself, not the address of a local
            // that holds it (one load less per n-gram).
            Some(delta) if !delta.is_empty() => sum_features(seen, normalized, flags, self.bias, move |i| {
                quantized.get(i as usize).map_or(0.0, |&q| f32::from(q) * scale) + delta.get(i)
            }),
            _ => sum_features(seen, normalized, flags, self.bias, move |i| {
                quantized.get(i as usize).map_or(0.0, |&q| f32::from(q) * scale)
            }),
        })
    }

    /// Why a message scores what it scores: the `top` features with the largest |contribution|.
    #[must_use]
    pub fn explain(&self, normalized: &str, flags: &Flags, top: usize) -> Explanation {
        self.explain_with(None, normalized, flags, top)
    }

    /// [`Model::explain`] with what this instance learned added.
    #[must_use]
    pub fn explain_with(&self, delta: Option<&Delta>, normalized: &str, flags: &Flags, top: usize) -> Explanation {
        let mut all = Vec::new();
        with_seen(|seen| {
            for_each_feature(seen, normalized, flags, |index, origin| {
                let text = |start: usize, end: usize| normalized.get(start..end).unwrap_or("");
                let name = match origin {
                    Origin::Gram(start, end) => text(start, end).to_owned(),
                    Origin::Head(start, end) => format!("^{}", text(start, end)),
                    Origin::Tail(start, end) => format!("{}$", text(start, end)),
                    Origin::Flag => FLAG_NAMES
                        .get((index as usize).wrapping_sub(BUCKETS))
                        .copied()
                        .unwrap_or("flag:?")
                        .to_owned(),
                };
                let base = self.weight(index);
                let learned = delta.map_or(0.0, |d| d.get(index));
                all.push(Contribution {
                    name,
                    index,
                    base,
                    learned,
                });
            });
        });
        let logit = all.iter().fold(self.bias, |z, c| z + c.contribution());
        // Stable: ties keep text order.
        all.sort_by(|a, b| b.contribution().abs().total_cmp(&a.contribution().abs()));
        let rest = all.iter().skip(top).map(Contribution::contribution).sum();
        all.truncate(top);
        Explanation {
            score: sigmoid(logit),
            logit,
            bias: self.bias,
            features: all,
            rest,
        }
    }
}

/// One feature's part in a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// The n-gram as it appears in the normalized text (`加v`), a position feature as the
    /// text's first or last characters with `^` before or `$` after them (`^招`, `私我$`), or
    /// the flag feature's name (`flag:strong_contact`). Another n-gram may share its bucket.
    pub name: String,
    /// Its index in the weight table.
    pub index: u32,
    /// The shipped model's weight.
    pub base: f32,
    /// What this instance learned on top ([`Delta`]; 0 without one).
    pub learned: f32,
}

impl Contribution {
    /// What it adds to the logit (features are binary, so its total weight).
    #[must_use]
    pub fn contribution(&self) -> f32 {
        self.base + self.learned
    }
}

/// A score taken apart. `bias + Σ features[i].contribution() + rest == logit` (up to float
/// rounding), and `score == σ(logit)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// The probability of spam.
    pub score: f32,
    /// Its log-odds.
    pub logit: f32,
    /// The model's bias.
    pub bias: f32,
    /// The largest contributions by absolute value, largest first.
    pub features: Vec<Contribution>,
    /// The sum of the contributions not listed.
    pub rest: f32,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "score {:.3} (logit {:+.3})", self.score, self.logit)?;
        writeln!(f, "  {:+8.3}  bias", self.bias)?;
        for c in &self.features {
            write!(f, "  {:+8.3}  {:?}", c.contribution(), c.name)?;
            if c.learned != 0.0 {
                write!(f, " (learned {:+.3})", c.learned)?;
            }
            writeln!(f)?;
        }
        writeln!(f, "  {:+8.3}  everything else", self.rest)
    }
}

/// At most this many weights in a [`Delta`] (about 3 MiB; some 3,000 labelled messages of
/// 60 n-grams each). When it is full, a label still moves the weights it already has but
/// adds no new ones, so memory stays bounded and replaying stays deterministic.
pub const MAX_DELTA_ENTRIES: usize = 200_000;
/// [`Delta::learn`] moves a labelled message's logit to at least this (spam) or at most its
/// negation (ham): probability 0.982 / 0.018.
pub const LEARN_TARGET: f32 = 4.0;
/// Gradient steps per label, at most.
pub const LEARN_STEPS: usize = 4;
/// One label moves any one weight by at most this much: a label's weight is capped, so a
/// single mistaken `/spam` on a short message cannot poison its n-grams everywhere.
pub const MAX_LABEL_SHIFT: f32 = 2.0;
/// No learned weight goes beyond ± this.
pub const MAX_DELTA_WEIGHT: f32 = 4.0;

/// A hasher for bucket indices, which are hash bits already: one multiplication spreads
/// the flag slots and the low bits the table uses.
#[derive(Clone, Copy, Debug, Default)]
struct BucketHasher(u64);

impl Hasher for BucketHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, i: u32) {
        let x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

/// What one instance learned from its admins' labels, on top of the shipped [`Model`]: a
/// sparse, bounded map from n-gram bucket to weight.
///
/// Labels teach text, never flags or the bias: a label moves only the weights of its own
/// n-grams, so one `/spam` on a message with a link cannot make every link spam.
///
/// The daemon stores labelled samples, not deltas: replaying the labels in order
/// ([`Delta::replay`]) rebuilds the same delta bit for bit, and a `/notspam` that withdraws a
/// label is undone exactly by replaying the others. A delta belongs to the model it was
/// learned on: when a new model file is loaded, replay the labels against it.
#[derive(Clone, Default, PartialEq)]
pub struct Delta {
    weights: HashMap<u32, f32, BuildHasherDefault<BucketHasher>>,
    labels: u32,
}

impl fmt::Debug for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delta")
            .field("weights", &self.weights.len())
            .field("labels", &self.labels)
            .finish()
    }
}

/// The effect of one label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Learned {
    /// The message's score before.
    pub before: f32,
    /// And after.
    pub after: f32,
}

impl Delta {
    /// Nothing learned.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a delta from labels `(normalized, flags, is_spam)`, oldest first.
    #[must_use]
    pub fn replay<'a>(model: &Model, labels: impl IntoIterator<Item = (&'a str, &'a Flags, bool)>) -> Self {
        let mut delta = Self::new();
        for (text, flags, spam) in labels {
            delta.learn(model, text, flags, spam);
        }
        delta
    }

    /// The learned weight of feature `index` (0 when none).
    #[inline]
    #[must_use]
    pub fn get(&self, index: u32) -> f32 {
        if self.weights.is_empty() {
            return 0.0;
        }
        self.weights.get(&index).copied().unwrap_or(0.0)
    }

    /// How many weights it holds (at most [`MAX_DELTA_ENTRIES`]).
    #[must_use]
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether it holds no weight.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// How many labels it learned.
    #[must_use]
    pub fn labels(&self) -> u32 {
        self.labels
    }

    /// Learns one admin label: moves the message's logit (base model plus this delta) to
    /// [`LEARN_TARGET`] towards the label, or as far as the caps allow.
    ///
    /// Each of at most [`LEARN_STEPS`] steps is the smallest change of the message's n-gram
    /// weights (not its position features, which every message starting or ending the same
    /// way shares) that closes the remaining gap — the gap split evenly over them (a
    /// passive-aggressive step; features are binary, so the squared norm is their count) —
    /// clipped so that this label moves no weight by more than [`MAX_LABEL_SHIFT`] in total
    /// and no weight leaves ± [`MAX_DELTA_WEIGHT`]. Messages of the same template share most
    /// n-grams, so they move the same way. A message already past the target changes nothing.
    pub fn learn(&mut self, model: &Model, normalized: &str, flags: &Flags, is_spam: bool) -> Learned {
        self.labels = self.labels.saturating_add(1);
        let mut grams: Vec<u32> = Vec::new();
        with_seen(|seen| {
            for_each_feature(seen, normalized, flags, |i, origin| {
                if matches!(origin, Origin::Gram(..)) {
                    grams.push(i);
                }
            });
        });
        let before = model.logit_with(Some(self), normalized, flags);
        let target = if is_spam { LEARN_TARGET } else { -LEARN_TARGET };
        let sign = if is_spam { 1.0 } else { -1.0 };
        let mut shifted = vec![0.0f32; grams.len()];
        let mut z = before;
        for _ in 0..LEARN_STEPS {
            let gap = target - z;
            if gap * sign <= 0.0 {
                break;
            }
            let movable = grams
                .iter()
                .zip(&shifted)
                .filter(|&(&i, &s)| self.can_move(i, s, sign))
                .count();
            if movable == 0 {
                break;
            }
            // Counts are at most 3 × MAX_CHARS: exact in f32.
            let each = gap / movable as f32;
            for (&i, s) in grams.iter().zip(shifted.iter_mut()) {
                if !self.can_move(i, *s, sign) {
                    continue;
                }
                let old = self.get(i);
                let budget = MAX_LABEL_SHIFT - s.abs();
                let step = each.clamp(-budget, budget);
                let new = (old + step).clamp(-MAX_DELTA_WEIGHT, MAX_DELTA_WEIGHT);
                *s += new - old;
                self.weights.insert(i, new);
            }
            z = model.logit_with(Some(self), normalized, flags);
        }
        Learned {
            before: sigmoid(before),
            after: sigmoid(z),
        }
    }

    /// Whether weight `index`, already moved by `shifted` for this label, can move further in
    /// direction `sign`.
    fn can_move(&self, index: u32, shifted: f32, sign: f32) -> bool {
        let exists = self.weights.contains_key(&index);
        if !exists && self.weights.len() >= MAX_DELTA_ENTRIES {
            return false;
        }
        shifted.abs() < MAX_LABEL_SHIFT && self.get(index) * sign < MAX_DELTA_WEIGHT
    }
}
