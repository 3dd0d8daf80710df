//! Leetspeak: digits and symbols written for the Latin letters of a word (`v1agra`, `fr33`,
//! `crypt0`, `ca$ino`, `@ss`, `v!agra`).
//!
//! [`fold`] writes a copy of the original text with those characters replaced by the letters
//! they stand for, byte for byte (every replaced and replacing character is one ASCII byte),
//! so a match in the copy has the same byte span in the original. The filter matches its
//! phrases on the copy's compact view as well and keeps only the hits that cover a replaced
//! byte: the others were found in the message itself already.
//!
//! What counts as leet, inside a *word* (a run of ASCII letters, digits and `$ @ ! |`) with at
//! least two letters:
//! - `0 1 3 4 5 7` → `o i e a s t`, in a run of at most two digits that are all of these,
//!   right after a letter (`fr33`, `b0nus`, `cl1ck`); a longer run or one with another digit
//!   is a number or an id (`abc123456`, `dk888`; `win10` reads `winio`, which no phrase is),
//!   and a run that starts the word is a number with its unit (`50mg`, `5pm`);
//! - `$` → `s`, `!` → `i`, `|` → `l` between two letters (`ca$ino`, `v!agra`), never at
//!   an edge (`$100`, `wow!`);
//! - `@` → `a` between two letters, or first in a word of at most four characters (`@ss`);
//!   a longer `@word` is a handle.
//!
//! Only text with an ASCII letter next to one of these characters is copied; most messages
//! cost one byte scan.

/// What a leet digit stands for, or 0.
fn digit_letter(b: u8) -> u8 {
    match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'7' => b't',
        _ => 0,
    }
}

/// What a leet symbol between letters stands for, or 0.
fn symbol_letter(b: u8) -> u8 {
    match b {
        b'$' => b's',
        b'!' => b'i',
        b'|' => b'l',
        b'@' => b'a',
        _ => 0,
    }
}

fn in_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'$' | b'@' | b'!' | b'|')
}

/// Writes `text` with its leet characters replaced into `out` (cleared first). Returns
/// whether anything was replaced; `out` is only meaningful then.
///
/// The caller runs it only on text whose compact view says an ASCII letter stands next to a
/// leet character ([`Stats::leet_pair`](crate::policy::normalize::Stats::leet_pair), read in
/// the normalizer's pass); even then most such text (`dk888`, `abc123456`, `$100`) has
/// nothing to replace, and it costs a scan of its words, no copy.
pub(crate) fn fold(text: &str, out: &mut String) -> bool {
    let bytes = text.as_bytes();
    let mut words = Words { bytes, at: 0 };
    // The first word with something to replace, found without writing anything.
    let Some(first) = words.find(|&(s, e)| fold_word(&bytes[s..e], None)) else {
        return false;
    };
    // The copy goes into `out`'s buffer: the scratch's allocation is reused message after
    // message.
    let mut copy = std::mem::take(out).into_bytes();
    copy.clear();
    copy.extend_from_slice(bytes);
    for (s, e) in std::iter::once(first).chain(words) {
        fold_word(&bytes[s..e], Some(&mut copy[s..e]));
    }
    // Only ASCII bytes were replaced by ASCII bytes: still UTF-8.
    match String::from_utf8(copy) {
        Ok(s) => {
            *out = s;
            true
        }
        Err(_) => false,
    }
}

/// The words of a text (runs of [`in_word`] bytes), as byte ranges.
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for Words<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let bytes = self.bytes;
        let mut i = self.at;
        while i < bytes.len() && !in_word(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            self.at = i;
            return None;
        }
        let start = i;
        while i < bytes.len() && in_word(bytes[i]) {
            i += 1;
        }
        self.at = i;
        Some((start, i))
    }
}

/// Whether `word` has leet characters to replace; with `out` (the same bytes), replaces them
/// there. Without `out` it stops at the first.
fn fold_word(word: &[u8], mut out: Option<&mut [u8]>) -> bool {
    let letters = word.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if letters < 2 {
        return false;
    }
    let letter_at = |j: Option<usize>| j.and_then(|j| word.get(j)).is_some_and(u8::is_ascii_alphabetic);
    let mut changed = false;
    let mut j = 0;
    while j < word.len() {
        let b = word[j];
        if b.is_ascii_digit() {
            let run_start = j;
            while j < word.len() && word[j].is_ascii_digit() {
                j += 1;
            }
            let run = &word[run_start..j];
            // After a letter: `fr33`, `v1agra`, `crypt0`; a run that starts the word is a number
            // with its unit (`50mg`, `5pm`).
            let after_letter = letter_at(run_start.checked_sub(1));
            if run.len() <= 2 && after_letter && run.iter().all(|&d| digit_letter(d) != 0) {
                let Some(out) = out.as_deref_mut() else {
                    return true;
                };
                for (k, &d) in run.iter().enumerate() {
                    out[run_start + k] = digit_letter(d);
                }
                changed = true;
            }
            continue;
        }
        let l = symbol_letter(b);
        if l != 0 {
            let between = letter_at(j.checked_sub(1)) && letter_at(Some(j + 1));
            let leading_at = b == b'@' && j == 0 && word.len() <= 4 && letter_at(Some(1));
            if between || leading_at {
                let Some(out) = out.as_deref_mut() else {
                    return true;
                };
                out[j] = l;
                changed = true;
            }
        }
        j += 1;
    }
    changed
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::fold;
    use crate::policy::normalize::{NormalizeOptions, Normalizer, View};

    fn folded(text: &str) -> Option<String> {
        let mut out = String::new();
        fold(text, &mut out).then_some(out)
    }

    #[test]
    fn leet_words_read_as_letters() {
        for (text, want) in [
            ("v1agra 50mg", "viagra 50mg"),
            ("fr33 crypt0 airdrop", "free crypto airdrop"),
            ("ca$ino", "casino"),
            ("@ss", "ass"),
            ("v!agra", "viagra"),
            ("cl1ck h3re 加我", "click here 加我"),
            ("b0nus", "bonus"),
        ] {
            assert_eq!(folded(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn numbers_ids_handles_and_prices_stay() {
        for text in [
            "加我 abc123456",
            "dk888",
            "价格 100 元",
            "$100 only",
            "wow! great",
            "@someone hello",
            "me and 5 friends",
            "3d",
            "50mg 一盒",
            "5pm",
            "第3期",
            "no leet here",
        ] {
            assert_eq!(folded(text), None, "{text}");
        }
    }

    #[test]
    fn replaced_bytes_keep_their_offsets() {
        let text = "买 fr33 东西";
        let out = folded(text).unwrap_or_default();
        assert_eq!(out.len(), text.len());
        assert_eq!(&out[4..8], "free");
    }

    proptest! {
        /// The filter folds only text whose compact view has [`Stats::leet_pair`]: every text
        /// with something to fold has one.
        ///
        /// [`Stats::leet_pair`]: crate::policy::normalize::Stats::leet_pair
        #[test]
        fn what_folds_has_a_leet_pair(text in "[a-zA-Z0-9$@!| .加é\u{200B}]{0,24}", skip_noise in any::<bool>()) {
            let n = Normalizer::new(NormalizeOptions { skip_noise, ..NormalizeOptions::default() });
            let mut view = View::default();
            n.compact_into(&text, &mut view);
            let mut out = String::new();
            if fold(&text, &mut out) {
                prop_assert!(view.stats().leet_pair, "{text:?} folds to {out:?}");
            }
        }
    }
}
