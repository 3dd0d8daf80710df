//! The gate at the door (入群验证): what a newcomer is asked, whether an answer passes, and
//! when an unanswered gate is due — pure decisions, no I/O and no clock of its own.
//!
//! A group that opts in (`[verify] enabled`, or its `[groups.<id>.verify]`) mutes each
//! newcomer, asks them a question and waits `timeout` for the answer. The service
//! (`service::gate`) stores the pending gate and sends through the outbox; this module only
//! decides:
//!
//! - **which question** ([`Question::pick`] from `rules/verify.toml`, or
//!   [`Question::arithmetic`]) — chosen by a seed the caller derives from the join, so a
//!   redelivered join event asks the same question;
//! - **whether a text answers it** ([`Question::accepts`]): the text and every accepted answer
//!   are compared in the normalizer's compact form (case, full width, traditional characters,
//!   spaces and punctuation folded away, exactly as the filter compares phrases), and the
//!   answer must be the whole message, so `112` does not pass for `12`;
//! - **how long the mute lasts** ([`GatePolicy::mute_secs`]): the timeout plus a margin, so a
//!   gate the daemon somehow lost still ends with the member able to speak, never muted for
//!   ever;
//! - **when a gate is due** ([`GatePolicy::deadline_ms`]): an absolute time stored with the
//!   gate, so a restart neither forgets a newcomer nor kicks them early.
//!
//! - **when wrong answers are too many** ([`GatePolicy::exhausted`]): with `max_tries` (3 by
//!   default, 0 = unlimited), the newcomer's N-th wrong answer removes them exactly as the
//!   deadline would, so a bot guessing answers does not get the whole timeout to guess.

use std::time::Duration;

use serde::Deserialize;

use crate::policy::normalize::Normalizer;

/// How the gate asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMode {
    /// A question from `rules/verify.toml` (an arithmetic one when the file has none).
    #[default]
    Question,
    /// A generated sum or product of small numbers.
    Arithmetic,
}

/// A group's gate, resolved from `[verify]` and the group's override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatePolicy {
    /// Newcomers must answer before they may speak.
    pub enabled: bool,
    /// How long a newcomer has to answer.
    pub timeout: Duration,
    /// How the gate asks.
    pub mode: GateMode,
    /// Mute the newcomer while the gate is pending.
    pub mute: bool,
    /// On Telegram, a button to press instead of (besides) a typed answer.
    pub button: bool,
    /// Wrong answers allowed before the newcomer is removed; 0 = unlimited.
    pub max_tries: u32,
}

/// Extra mute beyond the timeout: the sweep removes an unanswered member at the deadline, so
/// the mute must outlast it a little; if the gate were lost, the mute still ends on its own.
pub const MUTE_MARGIN: Duration = Duration::from_secs(60);

/// Telegram treats restrictions shorter than 30 s as forever; never ask for less than this.
const MIN_MUTE_SECS: u64 = 31;

impl GatePolicy {
    /// The absolute deadline (unix ms) of a gate opened at `opened_ms`.
    #[must_use]
    pub fn deadline_ms(&self, opened_ms: i64) -> i64 {
        let timeout = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        opened_ms.saturating_add(timeout)
    }

    /// Whether a newcomer who has now given `tries` wrong answers has used up their tries
    /// (never, with `max_tries = 0`).
    #[must_use]
    pub fn exhausted(&self, tries: u32) -> bool {
        self.max_tries > 0 && tries >= self.max_tries
    }

    /// How long the newcomer is muted, in seconds (the timeout plus [`MUTE_MARGIN`]).
    #[must_use]
    pub fn mute_secs(&self) -> u64 {
        (self.timeout + MUTE_MARGIN).as_secs().max(MIN_MUTE_SECS)
    }
}

/// One question with its accepted answers in compact normalized form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The question as posted.
    pub text: String,
    /// The accepted answers, compact normalized (never empty, no empty answer).
    pub answers: Vec<String>,
}

/// What a gate's button reports when pressed: it names the newcomer, so a press by anyone
/// else is told apart (Telegram lets every member press every button).
#[must_use]
pub fn button_data(user_id: i64) -> String {
    format!("gate:{user_id}")
}

/// The newcomer a gate's button names, if `data` is a gate button's (untrusted: anything
/// else is `None`). A press passes only when this is the member who pressed.
#[must_use]
pub fn button_owner(data: &str) -> Option<i64> {
    data.strip_prefix("gate:").and_then(|id| id.parse::<i64>().ok())
}

/// However short the accepted answers, a private message of up to this many characters (in
/// compact form) may still be an answer.
pub const MIN_ANSWER_CHARS: usize = 16;

/// Whether a private message `text` (compact normalized: `compact`) could be meant as an
/// answer to a gate accepting `answers`, and so counts as a wrong try when it is not one.
/// It cannot when it asks something (a `?` or `？`), when it is longer than
/// max([`MIN_ANSWER_CHARS`], twice the longest accepted answer) characters, or, when every
/// accepted answer holds a number (an arithmetic question), when it holds none.
#[must_use]
pub fn could_answer(answers: &[String], text: &str, compact: &str) -> bool {
    if compact.is_empty() || text.contains(['?', '？']) {
        return false;
    }
    let longest = answers.iter().map(|a| a.chars().count()).max().unwrap_or(0);
    if compact.chars().count() > MIN_ANSWER_CHARS.max(longest.saturating_mul(2)) {
        return false;
    }
    let numeric = !answers.is_empty() && answers.iter().all(|a| a.chars().any(|c| c.is_ascii_digit()));
    !numeric || compact.chars().any(|c| c.is_ascii_digit())
}

/// Whether a gate that ends at `deadline_ms` is due at `now_ms`.
#[must_use]
pub fn due(deadline_ms: i64, now_ms: i64) -> bool {
    now_ms >= deadline_ms
}

/// A well-mixed 64-bit value of `seed` (SplitMix64's finalizer): the same seed always picks
/// the same question.
#[must_use]
pub fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Question {
    /// A question with `answers` compacted by `normalizer`; answers that compact to nothing
    /// are dropped. `None` when no answer is left.
    #[must_use]
    pub fn new(normalizer: &Normalizer, text: &str, answers: &[String]) -> Option<Self> {
        let answers: Vec<String> = answers
            .iter()
            .map(|a| normalizer.compact(a))
            .filter(|a| !a.is_empty())
            .collect();
        (!answers.is_empty()).then(|| Self {
            text: text.trim().to_owned(),
            answers,
        })
    }

    /// A generated arithmetic question for `seed`: the sum of two numbers below 50, or the
    /// product of two below 10, written with `×` and `+` so the normalizer leaves it alone.
    #[must_use]
    pub fn arithmetic(seed: u64) -> Self {
        let r = mix(seed);
        let (a, b) = ((r >> 8) % 50, (r >> 24) % 50);
        let (text, answer) = if r & 1 == 0 {
            (format!("{a} + {b} = ?"), a + b)
        } else {
            let (a, b) = (a % 9 + 1, b % 9 + 1);
            (format!("{a} × {b} = ?"), a * b)
        };
        Self {
            text,
            answers: vec![answer.to_string()],
        }
    }

    /// The question `seed` picks from `questions` in `mode`: arithmetic when asked for, or
    /// when the file holds no question.
    #[must_use]
    pub fn pick(questions: &[Question], mode: GateMode, seed: u64) -> Self {
        match mode {
            GateMode::Question if !questions.is_empty() => {
                let len = u64::try_from(questions.len()).unwrap_or(u64::MAX);
                let i = usize::try_from(mix(seed) % len).unwrap_or(0);
                questions[i].clone()
            }
            _ => Self::arithmetic(seed),
        }
    }

    /// Whether a message whose compact normalized text is `compact_text` answers it: the
    /// whole message equals one accepted answer.
    #[must_use]
    pub fn accepts(answers: &[String], compact_text: &str) -> bool {
        !compact_text.is_empty() && answers.iter().any(|a| a == compact_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::normalize::NormalizeOptions;

    fn normalizer() -> Normalizer {
        Normalizer::new(NormalizeOptions::default())
    }

    #[test]
    fn answers_compare_in_the_filters_compact_form_and_must_be_the_whole_message() {
        let n = normalizer();
        let q = Question::new(&n, "本群讨论什么语言？", &["Rust".into(), "  ".into()]).expect("one answer");
        assert_eq!(q.answers, ["rust"]);
        for typed in ["rust", "ＲＵＳＴ", " R u s t！"] {
            assert!(Question::accepts(&q.answers, &n.compact(typed)), "{typed}");
        }
        for typed in ["rusty", "我觉得是rust", ""] {
            assert!(!Question::accepts(&q.answers, &n.compact(typed)), "{typed}");
        }
        assert!(
            Question::new(&n, "q", &["!!".into()]).is_none(),
            "nothing left to compare"
        );
    }

    #[test]
    fn arithmetic_questions_are_stable_per_seed_and_answer_themselves() {
        let n = normalizer();
        let mut texts = std::collections::HashSet::new();
        for seed in 0..200 {
            let q = Question::arithmetic(seed);
            assert_eq!(q, Question::arithmetic(seed), "same seed, same question");
            let (lhs, _) = q.text.split_once(" = ").expect("an equation");
            let value: u64 = if let Some((a, b)) = lhs.split_once(" + ") {
                a.parse::<u64>().expect("a") + b.parse::<u64>().expect("b")
            } else {
                let (a, b) = lhs.split_once(" × ").expect("a product");
                a.parse::<u64>().expect("a") * b.parse::<u64>().expect("b")
            };
            assert!(Question::accepts(&q.answers, &n.compact(&value.to_string())));
            assert!(!Question::accepts(&q.answers, &n.compact(&(value + 1).to_string())));
            texts.insert(q.text);
        }
        assert!(texts.len() > 100, "seeds spread over many questions: {}", texts.len());
    }

    #[test]
    fn pick_falls_back_to_arithmetic_and_spreads_over_the_file() {
        let n = normalizer();
        let file: Vec<Question> = (0..4)
            .map(|i| Question::new(&n, &format!("q{i}"), &[format!("a{i}")]).expect("q"))
            .collect();
        let picked: std::collections::HashSet<String> = (0..64)
            .map(|s| Question::pick(&file, GateMode::Question, s).text)
            .collect();
        assert_eq!(picked.len(), 4);
        assert!(Question::pick(&[], GateMode::Question, 1).text.ends_with("= ?"));
        assert!(Question::pick(&file, GateMode::Arithmetic, 1).text.ends_with("= ?"));
    }

    #[test]
    fn only_a_message_that_could_be_an_answer_is_a_wrong_try() {
        let n = normalizer();
        let words = Question::new(&n, "本群讨论什么语言？", &["Rust".into(), "锈".into()]).expect("q");
        let could = |answers: &[String], text: &str| could_answer(answers, text, &n.compact(text));
        for wrong in ["Python", "不知道", "Go语言", "1234567890123456"] {
            assert!(could(&words.answers, wrong), "{wrong}");
        }
        for not_an_answer in [
            "你好，题目是什么？",
            "what is the question?",
            "请问管理员我什么时候可以说话呢我刚进群",
            "",
            "！！",
        ] {
            assert!(!could(&words.answers, not_an_answer), "{not_an_answer}");
        }
        // A long answer allows twice its length.
        let long = Question::new(&n, "q", &["abcdefghijklmnop".into()]).expect("q");
        assert!(could(&long.answers, &"x".repeat(32)) && !could(&long.answers, &"x".repeat(33)));
        // Arithmetic: only a message with a number is a try.
        let sum = Question::arithmetic(7);
        assert!(could(&sum.answers, "1") && could(&sum.answers, "等于99"));
        assert!(!could(&sum.answers, "不会") && !could(&sum.answers, "hello"));
    }

    #[test]
    fn only_the_newcomer_passes_with_their_own_button() {
        assert_eq!(button_owner(&button_data(42)), Some(42));
        assert_ne!(button_owner(&button_data(42)), Some(43), "someone else pressed it");
        for forged in ["gate:", "gate:x", "42", "gate:42:1", ""] {
            assert_eq!(button_owner(forged), None, "{forged}");
        }
    }

    #[test]
    fn the_mute_outlasts_the_deadline_and_due_is_inclusive() {
        let p = GatePolicy {
            enabled: true,
            timeout: Duration::from_secs(300),
            mode: GateMode::Question,
            mute: true,
            button: false,
            max_tries: 3,
        };
        assert_eq!(p.deadline_ms(1_000), 301_000);
        assert!(!p.exhausted(2) && p.exhausted(3));
        let unlimited = GatePolicy {
            max_tries: 0,
            ..p.clone()
        };
        assert!(!unlimited.exhausted(1_000));
        assert_eq!(p.mute_secs(), 360);
        assert!(!due(301_000, 300_999) && due(301_000, 301_000));
        let short = GatePolicy {
            timeout: Duration::ZERO,
            ..p
        };
        assert_eq!(short.mute_secs(), 60);
    }
}
