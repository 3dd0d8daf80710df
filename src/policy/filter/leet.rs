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
pub(crate) fn fold(text: &str, out: &mut String) -> bool {
    let bytes = text.as_bytes();
    // Cheap pre-check: an ASCII letter next to a leet character somewhere.
    let candidate = bytes.windows(2).any(|w| {
        let leet = |b: u8| digit_letter(b) != 0 || symbol_letter(b) != 0;
        (w[0].is_ascii_alphabetic() && leet(w[1])) || (leet(w[0]) && w[1].is_ascii_alphabetic())
    });
    if !candidate {
        return false;
    }
    // The copy goes into `out`'s buffer: the scratch's allocation is reused message after
    // message.
    let mut copy = std::mem::take(out).into_bytes();
    copy.clear();
    copy.extend_from_slice(bytes);
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if !in_word(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && in_word(bytes[i]) {
            i += 1;
        }
        changed |= fold_word(&bytes[start..i], &mut copy[start..i]);
    }
    // Only ASCII bytes were replaced by ASCII bytes: still UTF-8.
    match String::from_utf8(copy) {
        Ok(s) => {
            *out = s;
            changed
        }
        Err(_) => false,
    }
}

/// Replaces the leet characters of one word (`word`) in `out` (the same bytes).
fn fold_word(word: &[u8], out: &mut [u8]) -> bool {
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
    use super::fold;

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
}
