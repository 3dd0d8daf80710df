//! A cheap pre-check for small automata and regex sets: the characters a match can start
//! with, and the pairs of characters it can start with.
//!
//! A match of a pattern in a UTF-8 text starts at a character boundary with the pattern's
//! first character, so a text in which no character can start a pattern holds no match, and
//! the automaton need not run at all. Checking that is one bit test per character; most chat
//! messages hold no character that starts a variant spelling or an allow-list phrase, and the
//! automaton (with its own byte-level prefilter) costs several times more per message.

use crate::policy::normalize::CharMarks;

/// [`CharMarks`] bit: a character a variant spelling starts with.
pub(crate) const MARK_VARIANT: u8 = 1;
/// [`CharMarks`] bit: a character an allow-list phrase starts with.
pub(crate) const MARK_ALLOW: u8 = 2;
/// [`CharMarks`] bit: a character a contact regex set's match starts with.
pub(crate) const MARK_CONTACT: u8 = 4;

/// [`CharMarks`] bit: `v`, which the code-found WeChat cues (`➕V`, `V：`) are built on.
pub(crate) const MARK_V: u8 = 8;
/// [`CharMarks`] bit: `q`, which the code-found QQ cues (`➕Q`, `Q：`) are built on.
pub(crate) const MARK_Q: u8 = 16;

/// Bits of the pair filter (a Bloom-like bitmap indexed by a hash of two characters).
const PAIR_BITS: u32 = 12;

/// The first characters (and first two characters) of a set of patterns.
#[derive(Clone, Debug)]
pub(crate) struct FirstChars {
    /// One bit per code point of the Basic Multilingual Plane: some pattern starts with it.
    bmp: Box<[u64; 1024]>,
    /// Some pattern starts with a character beyond the BMP.
    astral: bool,
    /// When every pattern has two characters or more: one bit per hash of a pattern's first
    /// two characters (a set bit may be shared; an unset one rules the pair out).
    pairs: Option<Box<[u64; 1 << (PAIR_BITS - 6)]>>,
}

impl FirstChars {
    /// The pre-check of `patterns`.
    pub(crate) fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self {
            bmp: Box::new([0; 1024]),
            astral: false,
            pairs: Some(Box::new([0; 1 << (PAIR_BITS - 6)])),
        };
        for pattern in patterns {
            let mut chars = pattern.chars();
            let Some(first) = chars.next() else {
                // An empty pattern matches everywhere.
                out.astral = true;
                out.bmp.fill(u64::MAX);
                out.pairs = None;
                continue;
            };
            out.add_first(first);
            match (chars.next(), out.pairs.as_deref_mut()) {
                (Some(second), Some(pairs)) => {
                    let h = pair_hash(first, second);
                    pairs[h >> 6] |= 1 << (h & 63);
                }
                (None, _) => out.pairs = None,
                (Some(_), None) => {}
            }
        }
        out
    }

    /// Adds `c` as a character patterns start with (for sets whose patterns are not known
    /// as text, such as regexes: then there is no pair filter).
    pub(crate) fn from_chars(chars: impl IntoIterator<Item = char>) -> Self {
        let mut out = Self {
            bmp: Box::new([0; 1024]),
            astral: false,
            pairs: None,
        };
        for c in chars {
            out.add_first(c);
        }
        out
    }

    /// A pre-check that rules nothing out (for tests that compare with the automata alone).
    #[cfg(test)]
    pub(crate) fn everything() -> Self {
        Self::new([""])
    }

    /// Marks every character a pattern starts with with `bit` in `marks` (every character
    /// beyond the BMP when one of them is).
    pub(crate) fn mark_into(&self, marks: &mut CharMarks, bit: u8) {
        for (word, &bits) in (0u32..).zip(self.bmp.iter()) {
            let mut bits = bits;
            while bits != 0 {
                let cp = word * 64 + bits.trailing_zeros();
                bits &= bits - 1;
                if let Some(c) = char::from_u32(cp) {
                    marks.mark(c, bit);
                }
            }
        }
        if self.astral {
            marks.mark('\u{10000}', bit);
        }
    }

    fn add_first(&mut self, c: char) {
        let cp = u32::from(c);
        if cp < 0x1_0000 {
            self.bmp[(cp >> 6) as usize] |= 1 << (cp & 63);
        } else {
            self.astral = true;
        }
    }

    #[inline]
    fn starts(&self, c: char) -> bool {
        let cp = u32::from(c);
        if cp < 0x1_0000 {
            self.bmp[(cp >> 6) as usize] >> (cp & 63) & 1 != 0
        } else {
            self.astral
        }
    }

    /// Whether a pattern could match somewhere in `text`: false only when none can.
    #[inline]
    pub(crate) fn may_match(&self, text: &str) -> bool {
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if !self.starts(c) {
                continue;
            }
            let Some(pairs) = self.pairs.as_deref() else {
                return true;
            };
            // Every pattern has a second character: it must follow.
            let Some(next) = chars.clone().next() else {
                return false;
            };
            let h = pair_hash(c, next);
            if pairs[h >> 6] >> (h & 63) & 1 != 0 {
                return true;
            }
        }
        false
    }
}

/// The pair filter's bit for the characters `a`, `b` (below `1 << PAIR_BITS`).
#[inline]
fn pair_hash(a: char, b: char) -> usize {
    let x = (u64::from(u32::from(a)) << 21 | u64::from(u32::from(b))).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> (64 - PAIR_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::FirstChars;

    #[test]
    fn a_text_without_a_first_character_cannot_match() {
        let first = FirstChars::new(["v信", "vx", "扣扣", "weixin"]);
        assert!(!first.may_match(""));
        assert!(!first.may_match("今天天气不错"));
        assert!(!first.may_match("信扣")); // 扣 without a second 扣
        assert!(first.may_match("加v信"));
        assert!(first.may_match("扣扣号"));
        assert!(!first.may_match("v")); // nothing after the v
        let single = FirstChars::new(["v", "扣扣"]);
        assert!(single.may_match("v"));
        assert!(single.may_match("扣"));
        let astral = FirstChars::new(["𝐯x"]);
        assert!(astral.may_match("a𝐯x"));
        let empty = FirstChars::new([""]);
        assert!(empty.may_match("x"));
    }

    proptest! {
        /// Never a false "no": whenever a pattern occurs in the text, `may_match` says so.
        #[test]
        fn never_rules_out_a_match(
            patterns in prop::collection::vec("[ab微信扣𝐯]{1,3}", 1..5),
            text in "[abc微信扣号𝐯 ]{0,12}",
        ) {
            let first = FirstChars::new(patterns.iter().map(String::as_str));
            if patterns.iter().any(|p| text.contains(p.as_str())) {
                prop_assert!(first.may_match(&text));
            }
        }
    }
}
