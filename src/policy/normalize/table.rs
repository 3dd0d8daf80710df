//! The fold table: for every code point, what the normalizer turns it into.
//!
//! All the Unicode work — NFKC, case folding, traditional → simplified, homoglyphs, styled
//! digits, the noise and invisible classes — happens here, once per process and option set,
//! so that normalizing a message costs one table lookup per character.
//!
//! Layout: a two-level table, one `u16` block index per 256 code points and deduplicated
//! blocks of 256 `u32` words. A word holds its code point's entry XOR the code point itself,
//! so a character that folds to itself is a 0 word, and every block of such characters (all
//! of the unassigned planes, most of the others) is the same all-zero block, stored once:
//! about 300 distinct blocks instead of 4,352 (315 KB instead of 4.47 MB with the default
//! options), for one XOR per lookup. An entry is one of:
//!
//! - a code point (`< 0x11_0000`): the character folds to it;
//! - `NOISE | cp`: whitespace, punctuation or a symbol; the compact view drops it, the text
//!   view keeps `cp` (its NFKC form, whitespace as `' '`);
//! - `INVISIBLE`: zero-width, format and combining characters; every view drops them;
//! - `EXPANSION | offset << 3 | len`: the character folds to `len` (2–4) characters stored at
//!   `offset` in the expansion pool (`⑩` → `10`, `Ⅻ` → `xii`).
//!
//! A code point entry carries `TRACKED` when the character it folds to is one the compact view
//! keeps statistics about (ASCII, numerals, link marks, `点`; see `super::is_tracked`). An
//! entry with no flag at all is the common case — most Chinese characters — and the
//! normalizer copies it without looking further.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::decompose_canonical;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::{NormalizeOptions, chars, t2s};

const NOISE: u32 = 1 << 30;
const INVISIBLE: u32 = 1 << 29;
const EXPANSION: u32 = 1 << 31;
/// On a code point entry: the normalizer must look at the folded character (see the module
/// docs).
const TRACKED: u32 = 1 << 28;
/// The code point bits of an entry; an entry that is nothing more is a plain character.
pub(super) const CP_MASK: u32 = 0x1F_FFFF;
const BLOCKS: usize = 0x11_0000 / 256;
/// Longest expansion kept; longer NFKC results (ligatures of whole words) stay unfolded.
const MAX_EXPANSION: usize = 4;

/// What one code point becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold<'a> {
    /// One character.
    Char(char),
    /// Several characters.
    Chars(&'a [char]),
    /// Noise (whitespace, punctuation, symbol): skipped between the characters of a phrase;
    /// the character is what the text view shows for it.
    Noise(char),
    /// Dropped everywhere (zero-width, format, combining).
    Invisible,
}

/// The compiled fold table. Immutable; shared between filters built with the same options.
#[derive(Debug)]
pub struct FoldTable {
    index: Box<[u16]>,
    blocks: Box<[[u32; 256]]>,
    pool: Box<[char]>,
}

impl FoldTable {
    /// Looks up one code point.
    #[inline]
    #[must_use]
    pub fn fold(&self, c: char) -> Fold<'_> {
        self.decode(self.entry(u32::from(c)))
    }

    /// The raw entry of code point `cp` (`<= 0x10FFFF`): a plain character when it is no
    /// more than [`CP_MASK`], otherwise something [`FoldTable::decode`] explains.
    #[inline]
    pub(super) fn entry(&self, cp: u32) -> u32 {
        let at = cp as usize;
        self.blocks[usize::from(self.index[at >> 8])][at & 0xFF] ^ cp
    }

    /// The two levels of the table, for a loop that looks up many characters: an entry is
    /// `blocks[index[cp >> 8]][cp & 0xFF] ^ cp`, as in [`FoldTable::entry`].
    #[inline]
    pub(super) fn levels(&self) -> (&[u16], &[[u32; 256]]) {
        (&self.index, &self.blocks)
    }

    /// What an entry from [`FoldTable::entry`] stands for.
    #[inline]
    pub(super) fn decode(&self, entry: u32) -> Fold<'_> {
        decode(entry, &self.pool)
    }

    /// Builds the table for `opts`. Takes tens of milliseconds; callers cache it.
    pub(super) fn build(opts: &NormalizeOptions) -> Self {
        let builder = Builder::new(opts);
        let mut index = Vec::with_capacity(BLOCKS);
        let mut blocks: Vec<[u32; 256]> = Vec::new();
        // Blocks by a cheap fingerprint; equal fingerprints are compared in full.
        let mut seen: HashMap<u64, Vec<u16>> = HashMap::new();
        let mut pool: Vec<char> = Vec::new();
        let mut pooled: HashMap<Vec<char>, u32> = HashMap::new();
        for block in 0..BLOCKS {
            let mut entries = [0u32; 256];
            let first = u32::try_from(block * 256).unwrap_or(0);
            for (i, entry) in (first..).zip(entries.iter_mut()) {
                *entry = i ^ match char::from_u32(i) {
                    None => i, // surrogates: never looked up
                    Some(c) if is_plain_letter(i) => tracked(u32::from(builder.ideograph(c))),
                    Some(c) => tracked(builder.entry(c, &mut pool, &mut pooled)),
                };
            }
            let candidates = seen.entry(fingerprint(&entries)).or_default();
            let id = match candidates.iter().find(|&&id| blocks[usize::from(id)] == entries) {
                Some(&id) => id,
                None => {
                    blocks.push(entries);
                    let id = u16::try_from(blocks.len() - 1).unwrap_or(u16::MAX);
                    candidates.push(id);
                    id
                }
            };
            index.push(id);
        }
        Self {
            index: index.into_boxed_slice(),
            blocks: blocks.into_boxed_slice(),
            pool: pool.into_boxed_slice(),
        }
    }

    /// Heap bytes used by the table.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.index.len() * 2 + self.blocks.len() * 1024 + self.pool.len() * 4
    }
}

/// `entry` with [`TRACKED`] set when it is a single character the normalizer keeps
/// statistics about.
fn tracked(entry: u32) -> u32 {
    match char::from_u32(entry) {
        Some(f) if super::is_tracked(f) => entry | TRACKED,
        _ => entry,
    }
}

/// FNV-1a over a sample of the block: enough to tell blocks apart, cheap in debug builds.
fn fingerprint(entries: &[u32; 256]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &e in entries.iter().step_by(7) {
        h = (h ^ u64::from(e)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[inline]
fn decode(entry: u32, pool: &[char]) -> Fold<'_> {
    if entry & EXPANSION != 0 {
        let offset = ((entry & !EXPANSION) >> 3) as usize;
        let len = (entry & 7) as usize;
        return Fold::Chars(&pool[offset..offset + len]);
    }
    if entry == INVISIBLE {
        return Fold::Invisible;
    }
    let c = char::from_u32(entry & CP_MASK).unwrap_or(char::REPLACEMENT_CHARACTER);
    if entry & NOISE != 0 {
        Fold::Noise(c)
    } else {
        Fold::Char(c)
    }
}

/// What one code point becomes before the result is made stable (folded again until it no
/// longer changes).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Raw {
    Chars(Vec<char>),
    Noise(char),
    Invisible,
}

struct Builder {
    opts: NormalizeOptions,
    t2s: HashMap<char, char>,
}

impl Builder {
    fn new(opts: &NormalizeOptions) -> Self {
        Self {
            opts: *opts,
            t2s: if opts.traditional { t2s::table() } else { HashMap::new() },
        }
    }

    /// A code point of [`is_plain_letter`]: only ideographs can change (traditional →
    /// simplified), and only the ideograph blocks are looked up.
    fn ideograph(&self, c: char) -> char {
        if self.t2s.is_empty() || !matches!(u32::from(c), 0x3400..=0x9FFF | 0x2_0000..=0x2_F7FF) {
            return c;
        }
        self.t2s.get(&c).copied().unwrap_or(c)
    }

    fn entry(&self, c: char, pool: &mut Vec<char>, pooled: &mut HashMap<Vec<char>, u32>) -> u32 {
        match self.stable(c) {
            Raw::Invisible => INVISIBLE,
            Raw::Noise(n) => NOISE | u32::from(n),
            Raw::Chars(chars) => match chars.as_slice() {
                [] => INVISIBLE,
                [one] => u32::from(*one),
                many => {
                    let offset = *pooled.entry(many.to_vec()).or_insert_with(|| {
                        let at = u32::try_from(pool.len()).unwrap_or(0);
                        pool.extend_from_slice(many);
                        at
                    });
                    EXPANSION | (offset << 3) | u32::try_from(many.len()).unwrap_or(1)
                }
            },
        }
    }

    /// Folds `c`, then folds the result again until nothing changes, so that normalizing
    /// normalized text is the identity (the property tests check this).
    fn stable(&self, c: char) -> Raw {
        let mut raw = self.raw(c);
        if matches!(&raw, Raw::Chars(chars) if chars.as_slice() == [c]) {
            return raw;
        }
        for _ in 0..4 {
            let Raw::Chars(chars) = &raw else { return raw };
            let mut next = Vec::with_capacity(chars.len());
            for &ch in chars {
                match self.raw(ch) {
                    Raw::Chars(more) => next.extend(more),
                    Raw::Noise(_) | Raw::Invisible => {}
                }
            }
            if next.len() > MAX_EXPANSION {
                return Raw::Chars(vec![c]);
            }
            if &next == chars {
                return raw;
            }
            raw = Raw::Chars(next);
        }
        raw
    }

    /// One round of folding.
    fn raw(&self, c: char) -> Raw {
        let o = &self.opts;
        if c.is_ascii() {
            return if c.is_ascii_alphanumeric() {
                Raw::Chars(vec![if o.case_fold { c.to_ascii_lowercase() } else { c }])
            } else if c.is_ascii_whitespace() || c.is_ascii_control() {
                self.noise(' ')
            } else {
                self.noise(c)
            };
        }
        let category = c.general_category();
        if category == GeneralCategory::Unassigned {
            // Not in this Unicode version: most likely a new emoji or symbol.
            return self.noise(c);
        }
        let group = c.general_category_group();
        if matches!(group, GeneralCategoryGroup::Mark) || category == GeneralCategory::Format {
            return if o.invisible {
                Raw::Invisible
            } else {
                Raw::Chars(vec![c])
            };
        }
        if o.nfkc
            && let Some(s) = chars::styled(c)
        {
            return Raw::Chars(vec![s]);
        }
        if o.nfkc
            && let Some(word) = chars::contact_emoji(c)
        {
            return Raw::Chars(word.to_vec());
        }
        // NFKC first: circled letters (Ⓥ) and parenthesized digits (⑴) are symbols whose
        // compatibility form is alphanumeric; they must fold, not vanish as noise.
        let mut out: Vec<char> = if o.nfkc && !is_nfkc(c) {
            std::iter::once(c).nfkc().collect()
        } else {
            vec![c]
        };
        let alnum: Vec<char> = out.iter().copied().filter(|&ch| is_alnum(ch)).collect();
        if alnum.is_empty() {
            // Whitespace, punctuation, symbols, controls: noise.
            if matches!(
                group,
                GeneralCategoryGroup::Separator
                    | GeneralCategoryGroup::Punctuation
                    | GeneralCategoryGroup::Symbol
                    | GeneralCategoryGroup::Other
            ) {
                let shown = if c.is_whitespace() {
                    ' '
                } else {
                    out.first().copied().unwrap_or(c)
                };
                return self.noise(shown);
            }
            return Raw::Chars(vec![c]);
        }
        out = alnum;
        for ch in &mut out {
            if o.homoglyphs {
                *ch = strip_latin_diacritic(*ch);
            }
            if o.traditional
                && let Some(&s) = self.t2s.get(ch)
            {
                *ch = s;
            }
        }
        if o.case_fold {
            out = out.into_iter().map(lower).collect();
        }
        if o.homoglyphs {
            for ch in &mut out {
                if let Some(l) = chars::homoglyph(*ch) {
                    *ch = l;
                }
            }
        }
        Raw::Chars(out)
    }

    fn noise(&self, shown: char) -> Raw {
        if self.opts.skip_noise {
            Raw::Noise(shown)
        } else {
            Raw::Chars(vec![shown])
        }
    }
}

/// Code points that are letters NFKC, case and homoglyph folding leave alone: the CJK
/// ideograph blocks (only traditional → simplified applies), Hangul syllables, and the planes
/// past the ideographic ones (except the tag and variation-selector block U+E0000–U+E01FF). Skipping the full treatment for them keeps the build fast.
fn is_plain_letter(cp: u32) -> bool {
    matches!(cp,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3
        | 0x2_0000..=0x2_F7FF | 0x3_0000..=0xD_FFFF | 0xE_0200..=0x10_FFFF)
}

fn is_nfkc(c: char) -> bool {
    matches!(
        unicode_normalization::is_nfkc_quick(std::iter::once(c)),
        unicode_normalization::IsNormalized::Yes
    )
}

fn is_alnum(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
    )
}

/// `é` → `e`: a Latin letter whose canonical decomposition is an ASCII letter plus marks.
fn strip_latin_diacritic(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    let mut base = None;
    let mut only_marks = true;
    decompose_canonical(c, |d| {
        if base.is_none() {
            base = Some(d);
        } else if !matches!(d.general_category_group(), GeneralCategoryGroup::Mark) {
            only_marks = false;
        }
    });
    match base {
        Some(b) if b.is_ascii_alphabetic() && only_marks => b,
        _ => c,
    }
}

/// Lower case, one character (`İ` → `i`, dropping the combining dot).
fn lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    c.to_lowercase().next().unwrap_or(c)
}
