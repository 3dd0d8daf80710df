//! Latin word boundaries in the model's input.
//!
//! The normalized (compact) text has every space removed, so that `微 信` reads as `微信`.
//! For Chinese that is what the model should see, but on Latin text it glues words together:
//! `git stash saved my life` becomes `gitstashsavedmylife`, and the character n-grams that
//! cross word boundaries (`dm` in `saved my`) look like spam cues (`DM me`).
//!
//! So before the model reads a message with Latin letters, [`mark_words`] puts one space back
//! between two Latin words that were separated by whitespace in the original, and the
//! n-grams read the space like any other character: `saved my` gives `d m`, ` my`, `ed `, never
//! `dm`. Everything else stays as the compact view has it:
//!
//! - only a boundary between two ASCII letters or digits, at least one of them a letter, is
//!   marked, and only when the original has whitespace (any Unicode `White_Space`) between
//!   them: `t.me`, `w.h.a.t.s`, `buy🔥now` and zero-width joiners stay glued, and Chinese
//!   text, Chinese next to Latin (`加 v`) and digit groups (`138 1234 5678`) are unchanged;
//! - a letter spelled alone is an evasion, not a word: between two one-character "words" no
//!   space is put back, so `w h a t s a p p` still reads `whatsapp` and `d m me` reads
//!   `dm me`. (English one-letter words stand next to longer ones: `I am a dev` keeps its
//!   spaces.)
//!
//! A message without ASCII letters is not looked at (the caller checks the compact view's
//! [`Stats::ascii_alpha`](crate::policy::normalize::Stats)), and the output buffer is reused,
//! so marking allocates nothing once warm. Only the first [`MAX_CHARS`] characters of the
//! compact view are read, as the model reads no more.

use super::features::MAX_CHARS;
use crate::policy::normalize::View;

/// Identifies the rule above in the model file (the byte after the n-gram orders): a model
/// trained on text marked differently would score garbage. 0 was "no boundaries".
pub const WORD_BOUNDARIES: u8 = 1;

/// A character of the compact view with the original byte span it came from.
#[derive(Clone, Copy)]
struct Item {
    c: char,
    span: (u32, u32),
}

impl Item {
    fn word(self) -> bool {
        self.c.is_ascii_alphanumeric()
    }
}

/// Whether a word boundary lies between the adjacent compact characters `a` and `b`: both
/// ASCII letters or digits, not both digits, with whitespace between them in `original`.
#[inline]
fn boundary(original: &str, a: Item, b: Item) -> bool {
    if !(a.word() && b.word()) || (a.c.is_ascii_digit() && b.c.is_ascii_digit()) {
        return false;
    }
    let (from, to) = (a.span.1 as usize, b.span.0 as usize);
    // Characters of one expansion (ﬁ → fi) or one variant share a span: nothing between.
    from < to
        && original
            .get(from..to)
            .is_some_and(|gap| gap.chars().any(char::is_whitespace))
}

/// Writes the model's input for a message into `out` (cleared first): the compact view
/// `normalized` (whose characters came from the byte `spans` of `original`, one per
/// character) with one space at each Latin word boundary (see the module documentation).
/// Returns false, leaving `out` empty, when there is no boundary to mark: then the compact
/// view itself is the input.
pub(crate) fn mark_words(original: &str, normalized: &str, spans: &[(u32, u32)], out: &mut String) -> bool {
    out.clear();
    let mut items = normalized
        .chars()
        .zip(spans.iter().copied())
        .map(|(c, span)| Item { c, span })
        .take(MAX_CHARS);
    let Some(mut held) = items.next() else {
        return false;
    };
    // `held` is written once the character after it is known: a boundary before it is marked
    // unless the words on both sides of it are one character long.
    let mut held_boundary = false;
    // Length of the word that ends just before `held` (0 when that is not a word character).
    let mut left_len = 0u32;
    let mut marked = false;
    // Bytes of `normalized` already copied to `out`, once something is marked.
    let mut copied = 0usize;
    let mut at = 0usize; // byte offset of `held` in `normalized`
    for next in items {
        let next_boundary = boundary(original, held, next);
        let single_right = !(held.word() && next.word()) || next_boundary;
        let held_len = if !held.word() {
            0
        } else if held_boundary || left_len == 0 {
            1
        } else {
            left_len + 1
        };
        if held_boundary && !(left_len == 1 && single_right) {
            out.push_str(normalized.get(copied..at).unwrap_or(""));
            out.push(' ');
            copied = at;
            marked = true;
        }
        at += held.c.len_utf8();
        (held, held_boundary, left_len) = (next, next_boundary, held_len);
    }
    // The last character: the word after it is empty, so a one-letter word before it joins.
    if held_boundary && left_len != 1 {
        out.push_str(normalized.get(copied..at).unwrap_or(""));
        out.push(' ');
        copied = at;
        marked = true;
    }
    if !marked {
        return false;
    }
    at += held.c.len_utf8();
    out.push_str(normalized.get(copied..at).unwrap_or(""));
    true
}

/// The model's input for `original` from its compact view `view` (built by the normalizer
/// from `original`, not rewritten since): the same text as [`mark_words`] gives, from the
/// word gaps the normalizer recorded ([`View::word_gaps`]) instead of a walk over every
/// character. Most messages have no gap (no ASCII letter, or none separated from another by
/// whitespace) and cost nothing here; only a view longer than [`MAX_CHARS`] characters, whose
/// scored prefix ends inside it, takes the walk. Returns the compact text itself or `out`.
pub(crate) fn model_input<'a>(original: &str, view: &'a View, out: &'a mut String) -> &'a str {
    let text = view.as_str();
    let gaps = view.word_gaps();
    if gaps.is_empty() {
        return text;
    }
    if view.stats().chars as usize > MAX_CHARS {
        return if mark_words(original, text, view.char_spans(), out) {
            out
        } else {
            text
        };
    }
    if mark_gaps(text, gaps, out) { out } else { text }
}

/// [`mark_words`] from the candidate boundaries `gaps` (view byte offsets of the ASCII letter
/// or digit after each gap, increasing: [`View::word_gaps`]) of a view of at most
/// [`MAX_CHARS`] characters. A candidate is marked unless the words on both sides of it are
/// one character long; a word ends at a non-word character, at a candidate or at the end.
fn mark_gaps(text: &str, gaps: &[u32], out: &mut String) -> bool {
    out.clear();
    let bytes = text.as_bytes();
    // A byte of an ASCII letter or digit (continuation and lead bytes never are).
    let word = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_alphanumeric);
    let mut copied = 0usize;
    for (i, &gap) in gaps.iter().enumerate() {
        let at = gap as usize;
        // The characters either side of the gap are one byte each (ASCII).
        let left_single = at < 2 || !word(at - 2) || (i > 0 && gaps[i - 1] as usize == at - 1);
        let right_single = !word(at + 1) || gaps.get(i + 1).is_some_and(|&g| g as usize == at + 1);
        if left_single && right_single {
            continue;
        }
        out.push_str(text.get(copied..at).unwrap_or(""));
        out.push(' ');
        copied = at;
    }
    if out.is_empty() {
        return false;
    }
    out.push_str(text.get(copied..).unwrap_or(""));
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::normalize::{NormalizeOptions, Normalizer, View};

    /// The model's input for `original` by the walk over every character ([`mark_words`]).
    fn walked_input(original: &str, view: &View) -> String {
        let mut walked = String::new();
        if mark_words(original, view.as_str(), view.char_spans(), &mut walked) {
            walked
        } else {
            view.as_str().to_owned()
        }
    }

    proptest! {
        /// The normalizer's word gaps give the model the same input as the walk over every
        /// character, on text mixing Latin words, digits, whitespace of several kinds, noise,
        /// invisible characters, expansions (ﬁ, ⑩) and Chinese.
        #[test]
        fn word_gaps_give_what_the_walk_gives(
            original in "([a-zA-Z0-9]{1,4}|[ \t\n\u{a0}\u{3000}\u{b}]|[.,_@-]|\u{200b}|\u{fb01}|\u{2469}|[微信加vV]|[Ａｂ１]){0,40}",
        ) {
            let normalizer = Normalizer::new(NormalizeOptions::default());
            let mut view = View::default();
            normalizer.compact_into(&original, &mut view);
            let want = walked_input(&original, &view);
            let mut out = String::new();
            prop_assert_eq!(model_input(&original, &view, &mut out), want.as_str());
        }
    }

    #[test]
    fn word_gaps_agree_past_the_scored_prefix() {
        let normalizer = Normalizer::new(NormalizeOptions::default());
        let mut view = View::default();
        for original in ["ab ".repeat(400), "a b ".repeat(300), format!("{}x y", "z".repeat(510))] {
            normalizer.compact_into(&original, &mut view);
            let want = walked_input(&original, &view);
            let mut out = String::new();
            assert_eq!(model_input(&original, &view, &mut out), want);
        }
    }

    /// The model's input for `original` through the real normalizer, and whether anything was
    /// marked.
    fn marked(original: &str) -> (String, bool) {
        let normalizer = Normalizer::new(NormalizeOptions::default());
        let mut view = View::default();
        normalizer.compact_into(original, &mut view);
        let mut out = String::from("stale");
        let changed = mark_words(original, view.as_str(), view.char_spans(), &mut out);
        if changed {
            (out, true)
        } else {
            assert!(out.is_empty(), "{original:?}: nothing marked, nothing written");
            (view.as_str().to_owned(), false)
        }
    }

    #[test]
    fn latin_words_keep_their_boundaries() {
        let rows: &[(&str, &str)] = &[
            ("git stash saved my life today", "git stash saved my life today"),
            ("DM me for VIP signals", "dm me for vip signals"),
            ("I am a dev", "i am a dev"),
            ("Top 10 coins, no pitch", "top 10 coins no pitch"),
            // any Unicode whitespace: tab, new line, no-break and ideographic space
            ("saved\tmy\nlife\u{a0}today\u{3000}ok", "saved my life today ok"),
            // full-width letters fold to ASCII words
            ("ｗｈａｔｓ　ａｐｐ", "whats app"),
            // a ligature's letters share one span: one word
            ("\u{fb01}ne day", "fine day"),
            // a one-letter word next to a longer one is a word
            ("a bcd", "a bcd"),
            ("bcd a", "bcd a"),
        ];
        for (original, want) in rows {
            assert_eq!(marked(original), ((*want).to_owned(), true), "{original:?}");
        }
    }

    #[test]
    fn spaced_letters_and_glued_marks_stay_an_evasion() {
        let rows: &[(&str, &str, bool)] = &[
            // letters spelled one by one are one word
            ("w h a t s a p p", "whatsapp", false),
            ("D M me now", "dm me now", true),
            ("t . m e", "tme", false),
            ("t . m e / cashbot", "tme cashbot", true),
            // no whitespace: punctuation, emoji and zero-width characters glue
            ("t.me/cashbot", "tmecashbot", false),
            ("buy🔥now", "buynow", false),
            ("what\u{200b}sapp", "whatsapp", false),
            ("w.h.a.t.s.a.p.p", "whatsapp", false),
            // digit groups are not words
            ("138 1234 5678", "13812345678", false),
        ];
        for (original, want, changed) in rows {
            assert_eq!(marked(original), ((*want).to_owned(), *changed), "{original:?}");
        }
    }

    #[test]
    fn chinese_text_is_unchanged() {
        let rows: &[(&str, &str, bool)] = &[
            ("微 信 加 我", "微信加我", false),
            ("加 微-信 领福利", "加微信领福利", false),
            // Latin next to Chinese is not a Latin word boundary; spelled letters join
            ("加 v x 详聊", "加vx详聊", false),
            ("今天 git 又坏了", "今天git又坏了", false),
            // two Latin words inside Chinese text are
            ("用 git stash 存一下", "用git stash存一下", true),
        ];
        for (original, want, changed) in rows {
            assert_eq!(marked(original), ((*want).to_owned(), *changed), "{original:?}");
        }
    }

    #[test]
    fn only_the_scored_prefix_is_read_and_long_input_is_bounded() {
        let long = "ab ".repeat(10_000);
        let (text, changed) = marked(&long);
        assert!(changed);
        // MAX_CHARS characters of the compact view, plus at most one space before each.
        assert!(
            text.chars().filter(|c| *c != ' ').count() <= MAX_CHARS,
            "{}",
            text.len()
        );
        assert!(text.chars().count() < 2 * MAX_CHARS);
        assert!(text.starts_with("ab ab ab"));
        // Empty, one character, noise only.
        assert_eq!(marked(""), (String::new(), false));
        assert_eq!(marked("a"), ("a".to_owned(), false));
        assert_eq!(marked(" ! "), (String::new(), false));
    }

    #[test]
    fn spans_that_do_not_match_the_text_never_panic() {
        let mut out = String::new();
        // Spans pointing past the original, backwards, or fewer than the characters.
        let _ = mark_words("ab", "ab cd", &[(0, 1), (9, 12), (3, 2)], &mut out);
        let _ = mark_words("", "abcd", &[(5, 6), (7, 8), (0, 0), (1, 1)], &mut out);
        let _ = mark_words("a b", "ab", &[], &mut out);
        assert!(out.is_empty());
        // A gap that is not on a character boundary of the original reads as no boundary.
        assert!(!mark_words("a\u{3000}b", "ab", &[(0, 1), (2, 5)], &mut out));
    }
}
