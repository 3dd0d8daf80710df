//! What a filter is built from: word lists with their settings, the allow list, the variants
//! table and the regex detectors — each item with the file and line it came from, so a build
//! error points at the line to fix. `rules::load` reads the rules folder into a
//! [`FilterSpec`]; tests and benchmarks build one directly.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::event::GroupId;
use crate::domain::strike::Severity;
use crate::policy::model::Model;
use crate::policy::normalize::NormalizeOptions;

/// Everything a [`super::Filter`] is compiled from.
#[derive(Clone, Debug, Default)]
pub struct FilterSpec {
    /// The word lists, in load order.
    pub lists: Vec<WordList>,
    /// Allow-list phrases: a hit lying entirely inside one of them is dropped.
    pub allow: Vec<Phrase>,
    /// Evasive spellings and their canonical forms, applied before matching.
    pub variants: Vec<Variant>,
    /// Regex detectors from `[[regex]]`: new ones, or overrides of the built-in detectors.
    pub regexes: Vec<RegexSpec>,
    /// Which normalization steps run.
    pub normalize: NormalizeOptions,
    /// The automaton behind the phrase matcher.
    pub automaton: Automaton,
    /// The learned second stage (`rules/model.bin`); `None`: the rules decide alone.
    pub model: Option<Arc<Model>>,
    /// How the model's score takes part in the decision (`[model]` in `rules.toml`).
    pub model_settings: ModelSettings,
}

/// The name of the rule a violation decided by the model alone carries (`[model]` in
/// `rules.toml` holds its settings). No word list may take it.
pub const MODEL_RULE: &str = "model";

/// `[model]` in `rules.toml`: the thresholds of the learned stage and what a violation it
/// decides alone does.
///
/// With `s` the model's spam probability for a message (issue 12 §2):
/// - a strong contact pattern acts whatever `s` is;
/// - a soft hit (a hard phrase, a cue with a pattern, two cues) acts unless `s < veto`;
/// - with no rule hit, the model alone acts when `s >= act`, for new members only;
///   for trusted members it is recorded for review instead;
/// - so does a message whose rule evidence is a cue that pairs with nothing (a word of a cue
///   list; a hard phrase in quotation marks does not count), from the lower `s >= cue_act`:
///   the rules have seen something, so the model needs less to be sure. Not when the cue is
///   all but the whole message (`私聊`): there the score is the word's prior;
/// - and a message in which no list and no detector found anything at all acts only from
///   the higher `s >= bare_act`: with no evidence beside its n-grams, a short ordinary line
///   about money, a sale or a deadline (`按人平摊就行，一人五十`) can score like a pitch.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSettings {
    /// `false` ignores `model.bin`: the rules decide alone.
    pub enabled: bool,
    /// Below this score a soft hit is overruled (the veto that removes quoted warnings).
    pub veto: f32,
    /// At or above this score the model alone acts (new members).
    pub act: f32,
    /// At or above this score the model acts on a message that holds a cue which decides
    /// nothing by itself (new members); never above `act`, which applies if it is lower.
    /// Defaults to `act`.
    pub cue_act: f32,
    /// At or above this score the model acts on a message with no hit of any list or
    /// detector (new members); never below `act`, which applies if it is higher. Defaults to
    /// `act`.
    pub bare_act: f32,
    /// What a violation decided by the model alone does, and where the model applies
    /// (`mode` and `match` are unused).
    pub settings: RuleSettings,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            veto: DEFAULT_VETO,
            act: DEFAULT_ACT,
            cue_act: DEFAULT_ACT,
            bare_act: DEFAULT_ACT,
            settings: RuleSettings::default(),
        }
    }
}

/// Default of `[model] veto`.
pub const DEFAULT_VETO: f32 = 0.3;
/// Default of `[model] act`.
pub const DEFAULT_ACT: f32 = 0.7;

/// The Aho-Corasick implementation used for the phrases.
///
/// The character-wise double array is the default: on mostly-Chinese text it steps once per
/// character instead of once per byte, and on the benchmark corpus it scans in half the
/// instructions of `aho_corasick`'s contiguous NFA (2–3× less time) at 1k–50k phrases. A DFA
/// takes tens to hundreds of megabytes at tens of thousands of phrases. All three find the
/// same matches (see the README's performance section for the measurements).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Automaton {
    /// `aho_corasick`'s contiguous NFA.
    ContiguousNfa,
    /// `aho_corasick`'s DFA.
    Dfa,
    /// `daachorse`'s character-wise double-array Aho-Corasick automaton.
    #[default]
    DoubleArray,
}

/// A phrase as written in a rules file, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phrase {
    /// The phrase, trimmed.
    pub text: String,
    /// The file it is in.
    pub file: PathBuf,
    /// Its 1-based line.
    pub line: usize,
}

/// A word list: a rule name (the file stem), its phrases and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordList {
    /// The rule's name.
    pub rule: String,
    /// The phrases.
    pub phrases: Vec<Phrase>,
    /// From `[rules.<name>]` in `rules.toml`, or the defaults.
    pub settings: RuleSettings,
}

/// An evasive spelling and the canonical form it stands for (`V信` → `微信`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The canonical form.
    pub canonical: String,
    /// The spelling that is rewritten to it.
    pub spelling: Phrase,
}

/// A regular-expression detector from `[[regex]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexSpec {
    /// Its name; the name of a built-in detector overrides it.
    pub name: String,
    /// The pattern (`regex` crate syntax). `None` keeps a built-in detector's own logic and
    /// changes only its settings.
    pub pattern: Option<String>,
    /// Strong or weak; `None` keeps the built-in's strength (new detectors: strong).
    pub strength: Option<Strength>,
    /// The view it runs on; `None` keeps the built-in's view (new detectors: text).
    pub view: Option<RegexView>,
    /// `false` turns a built-in detector off.
    pub enabled: bool,
    /// What a violation it decides does.
    pub settings: RuleSettings,
    /// The file it is in.
    pub file: PathBuf,
    /// The line of its `pattern` (or of its `name`).
    pub line: usize,
}

/// How strong a regex detector's hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// A violation on its own (a WeChat id after a WeChat cue, an invite link).
    Strong,
    /// A violation only together with a cue (a bare phone number or URL).
    Weak,
}

/// The normalized view a regex detector runs on. All views are lower-cased and folded
/// (full-width → ASCII, traditional → simplified, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegexView {
    /// Whitespace and punctuation kept, URL spellings undone (`hxxp`, `[.]`, `点com`): for
    /// links, e-mails and handles.
    Text,
    /// Whitespace, punctuation and symbols removed: `加 微-信` reads `加微信`.
    Compact,
    /// The compact view with Chinese numerals as digits (`一三八` → `138`): for numbers.
    Digits,
}

/// How a word list's hits count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A hit is a violation on its own.
    #[default]
    Hard,
    /// A weak signal (威信, 飞机, QQ …): a violation only together with a contact pattern or
    /// a cue of another rule.
    Cue,
}

/// Where in the text a phrase may hit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Anywhere.
    #[default]
    Substring,
    /// Anywhere, but a Latin hit glued to another Latin letter in the original text does not
    /// count: "class" never hits `ass`, while "f u c k" and "sex123" do.
    Word,
    /// Only the whole message.
    Exact,
    /// As `Word`, and only when the message disguises the phrase: a hit written exactly as the
    /// phrase (letter case aside) does not count, while `f҉u҉c҉k҉`, `assssss`, `@ss`, `f u c k`
    /// or `ѕех` (Cyrillic) do. For words that are everyday chat written plainly, and an
    /// attempt to get past a filter when disguised.
    Disguised,
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

/// A rule's settings (`[rules.<name>]`, or inline in `[[regex]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSettings {
    /// Hard or cue (word lists only).
    pub mode: Mode,
    /// Substring, word or exact (word lists only).
    pub matching: MatchMode,
    /// Strikes a violation adds.
    pub severity: Severity,
    /// What a violation does.
    pub action: RuleAction,
    /// Recall the offending message.
    pub recall: bool,
    /// Groups the rule applies to; empty = every group.
    pub groups: Vec<GroupId>,
    /// Groups the rule never applies to.
    pub exclude_groups: Vec<GroupId>,
    /// Decide and record, but send nothing.
    pub dry_run: bool,
    /// The name members see in warnings (`display = "广告引流"`). `None`: a built-in name
    /// (detectors, `model`) or a generic one (word lists).
    pub display: Option<String>,
    /// The name members see with `[messages] locale = "en"` (`display_en = "advertising"`);
    /// `None`: `display`.
    pub display_en: Option<String>,
    /// Whether the model may overrule a hard phrase of this list (`model_veto = false`: never;
    /// for lists that are a violation whatever the message is like, such as insults, where the
    /// model, which judges how much a message looks like an ad, has nothing to say).
    pub model_veto: bool,
    /// Whether the list's hard phrases also match written backwards (`票发开代`, `argaiv`):
    /// those of three or more Chinese characters or five or more Latin letters
    /// (`backwards = true`; off by default, so a big list does not double its automaton).
    pub backwards: bool,
    /// Whether a two-character Chinese hard phrase also matches written backwards where it is
    /// aimed at someone (`你毒冰`, `逼傻你`; `backwards_pairs`, which needs `backwards`). When
    /// `rules.toml` leaves it out: on for the lists the model never overrules
    /// (`backwards = true` and `model_veto = false`), as before the setting existed.
    pub backwards_pairs: bool,
    /// Cue lists that say the same kind of thing as this one (`alike = ["contact"]`): a cue of
    /// this list and a cue of one of them are not "cues of two rules". Both ask a member to get
    /// in touch, say, so `要的私聊或者加我` is one request said twice. The relation is symmetric
    /// and transitive (lists alike with a common list are alike with each other). Names that
    /// are no list of the filter are ignored here; `rules.toml` refuses them.
    pub alike: Vec<String>,
}

impl Default for RuleSettings {
    fn default() -> Self {
        Self {
            mode: Mode::Hard,
            matching: MatchMode::Substring,
            severity: Severity::default(),
            action: RuleAction::Ladder,
            recall: true,
            groups: Vec::new(),
            exclude_groups: Vec::new(),
            dry_run: false,
            display: None,
            display_en: None,
            model_veto: true,
            backwards: false,
            backwards_pairs: false,
            alike: Vec::new(),
        }
    }
}

impl RuleSettings {
    /// Whether the rule applies in `group` (`None`: outside any group, e.g. `filter scan`,
    /// where every rule applies).
    #[must_use]
    pub fn applies(&self, group: Option<GroupId>) -> bool {
        let Some(group) = group else { return true };
        (self.groups.is_empty() || self.groups.contains(&group)) && !self.exclude_groups.contains(&group)
    }
}
