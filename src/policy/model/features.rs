//! Features: which weights a message switches on.
//!
//! A message is a set of *feature indices* into the model's weight table, each with the value
//! 1 (binary features: an n-gram that occurs twice counts once):
//!
//! - `0 .. BUCKETS`: the hashed character 1-, 2- and 3-grams of the first [`MAX_CHARS`]
//!   characters of the normalized text, and its *position* features (below), in one hash
//!   space;
//! - `BUCKETS .. BUCKETS + FLAG_SLOTS`: indicator features of the rules stage's [`Flags`],
//!   counts bucketed (see [`FLAG_NAMES`]).
//!
//! Plus the bias, which is not an index.
//!
//! # Position features (format version 3)
//!
//! How a message starts and ends says something its n-grams alone do not: ordinary chat
//! opens with `哈哈`, `我家`, `请问` and ends with a particle or `吗`; a pitch opens with `招`,
//! `【`, `兼职` and ends on its call to action (`私我`, `详聊`, an id). So the first character and
//! the first two, and the last character and the last two, of the scored text (its first
//! [`MAX_CHARS`] characters) are hashed as four more n-grams, marked with a character the
//! normalized text never holds: `HEAD c₁`, `HEAD c₁ c₂`, `cₙ TAIL`, `cₙ₋₁ cₙ TAIL` (the same
//! hash as any n-gram, over these characters). A [`MASK`] at either end gives no feature for
//! that end, and a mask next to it none of length two. Measured on the cross-author check
//! (docs/detection.md, the twenty-third round): with 2¹⁹ buckets they move the curve (more
//! caught at fewer flags, in every hash layout tried); with 2¹⁸ the extra features crowd the
//! table and they do not; with 2²⁰ (the twenty-fourth round, not shipped) the old judged
//! lines gain again, in each of three hash layouts.
//!
//! # The hash (the model file depends on it: never change it without bumping [`HASH_ID`])
//!
//! An n-gram `c₁…cₙ` hashes to
//!
//! ```text
//! h = FNV_OFFSET
//! for c in c₁…cₙ:  h = (h XOR scalar(c)) · FNV_PRIME        (mod 2⁶⁴)
//! bucket = (h · 0x9e3779b97f4a7c15 mod 2⁶⁴) >> (64 − BUCKET_BITS)
//! ```
//!
//! that is, 64-bit FNV-1a taken over whole Unicode scalar values (one 32-bit word per
//! character, not UTF-8 bytes: three multiplications for a 3-gram whatever the script), then
//! one multiply-shift (Fibonacci hashing) so the top bits, which pick the bucket, depend on
//! every bit of `h`. (Hash 1 finished with half of MurmurHash3's `fmix64` instead: four more
//! operations per n-gram, some 300 instructions per message, for no measurable gain on the
//! cross-author check.) All of it is integer arithmetic with wrapping, so it is the same on
//! every platform and version.
//! The n-gram order needs no tag: `ab` and `abc` are different inputs.
//!
//! # Why binary features
//!
//! Normalized messages average about 20 characters, so an n-gram rarely repeats within one,
//! and when it does (`赚钱赚钱赚钱…`) counting it again mostly measures length, which learns
//! the writer, not the spam. Binary values need de-duplication; sorting costs more than
//! scoring itself, so [`Seen`] is a small open-addressed set stamped with a generation
//! number: starting a message is O(1) (no clearing) and each insertion is one or two probes.

use super::Flags;

/// Bits of the n-gram hash: the table has `2^BUCKET_BITS` n-gram weights (512 KiB of `i8`
/// steps, in the file since format version 4 and in memory). 18 until format version 3: with
/// 2¹⁸ buckets a fifth of the table held a weight after training, so an n-gram the corpus
/// never had picked up another's weight one time in five — noise that 2¹⁹ halves
/// (docs/detection.md, the twenty-third round). 2²⁰ buckets (a 1 MiB file in format 4) were
/// measured in the twenty-fourth round and not shipped: better on the cross-author check's
/// old lines, one ordinary held-out message more flagged.
pub const BUCKET_BITS: u8 = 19;
/// Number of n-gram buckets.
pub const BUCKETS: usize = 1 << BUCKET_BITS;
/// Shortest n-gram hashed.
pub const MIN_ORDER: u8 = 1;
/// Longest n-gram hashed.
pub const MAX_ORDER: u8 = 3;
/// Only the first this many characters of a message are scored: it bounds the worst case
/// (a wall of text costs at most ~1.5k lookups), and spam shows itself early.
pub const MAX_CHARS: usize = 512;
/// Identifies the hash above in the model file.
pub const HASH_ID: u32 = 2;
/// Weight slots reserved for flag features after the n-gram buckets (more than used, so a
/// flag can be added by bumping [`FLAGS_LAYOUT`] without moving anything else).
pub const FLAG_SLOTS: usize = 32;
/// Identifies the meaning of the flag slots ([`FLAG_NAMES`]) in the model file.
pub const FLAGS_LAYOUT: u32 = 2;
/// Total number of weights (n-gram buckets, then flag slots).
pub const FEATURES: usize = BUCKETS + FLAG_SLOTS;

/// A character the normalized text never holds (controls are noise to the normalizer), put
/// in place of a stretch of the message that the allow list covers: no n-gram reads it or
/// reaches across it, so the model does not weigh the n-grams of a phrase the allow list has
/// already explained (`开发票务平台`, `进口交易额创新高`). Counts toward [`MAX_CHARS`].
pub const MASK: char = '\0';

/// Marks the position feature of a message's first characters (never in normalized text).
const HEAD: char = '\u{2}';
/// Marks the position feature of a message's last characters (never in normalized text).
const TAIL: char = '\u{3}';

/// Where a feature of [`for_each_feature`] comes from (byte ranges of the text), for
/// explaining and learning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An n-gram, `start..end`.
    Gram(usize, usize),
    /// A position feature of the message's first characters, `start..end`.
    Head(usize, usize),
    /// A position feature of the message's last characters, `start..end`.
    Tail(usize, usize),
    /// A flag of the rules stage.
    Flag,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The flag features, by slot (index `BUCKETS + slot`). Counts are bucketed into a few
/// indicators so the model can learn "one link is normal, three are not" without a linear
/// count feature that grows with length.
pub const FLAG_NAMES: [&str; 22] = [
    "flag:strong_contact",
    "flag:weak_contact",
    "flag:hard_phrase",
    "flag:cue_places=1",
    "flag:cue_places=2",
    "flag:cue_places>=3",
    "flag:links=1",
    "flag:links>=2",
    "flag:digit_run=4-6",
    "flag:digit_run=7-10",
    "flag:digit_run>=11",
    "flag:emoji=1-2",
    "flag:emoji=3-5",
    "flag:emoji>=6",
    "flag:id_after_colon",
    "flag:starts_with_bracket",
    "flag:mentions=1",
    "flag:mentions=2-4",
    "flag:mentions>=5",
    "flag:phone",
    "flag:flood",
    "flag:quoted",
];

const _: () = assert!(FLAG_NAMES.len() <= FLAG_SLOTS);

/// One step of the n-gram hash.
#[inline]
fn step(h: u64, c: char) -> u64 {
    (h ^ u64::from(u32::from(c))).wrapping_mul(FNV_PRIME)
}

/// The bucket of an n-gram hash state.
#[inline]
fn bucket(h: u64) -> u32 {
    // The shift leaves BUCKET_BITS (< 32) bits.
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - u32::from(BUCKET_BITS))) as u32
}

/// The bucket of the n-gram `gram` (all its characters), as the model file defines it.
pub fn gram_bucket(gram: &str) -> u32 {
    bucket(gram.chars().fold(FNV_OFFSET, step))
}

/// Calls `f(bucket, start, end)` for every 1-, 2- and 3-gram of the first [`MAX_CHARS`]
/// characters of `text` that holds no [`MASK`], where `start..end` is the n-gram's byte range
/// in `text`. Order: by last character, then shortest first. Duplicates are reported; see
/// [`Seen`].
#[inline]
pub fn for_each_gram(text: &str, mut f: impl FnMut(u32, usize, usize)) {
    // Hash states of the 1-gram and the 2-gram ending at the previous character, with their
    // start offsets: extending them by the current character gives its 2- and 3-gram.
    let mut one: Option<(u64, usize)> = None;
    let mut two: Option<(u64, usize)> = None;
    for (start, c) in text.char_indices().take(MAX_CHARS) {
        if c == MASK {
            (one, two) = (None, None);
            continue;
        }
        let end = start + c.len_utf8();
        let h1 = step(FNV_OFFSET, c);
        f(bucket(h1), start, end);
        let next_two = one.map(|(h, s)| (step(h, c), s));
        if let Some((h2, s2)) = next_two {
            f(bucket(h2), s2, end);
        }
        if let Some((h, s3)) = two {
            f(bucket(step(h, c)), s3, end);
        }
        two = next_two;
        one = Some((h1, start));
    }
}

/// Calls `f(bucket, origin)` for each position feature of `text` (see the module
/// documentation): the head ones first, then the tail ones, shortest first.
#[inline]
pub fn for_each_position(text: &str, mut f: impl FnMut(u32, Origin)) {
    let mut head = text.char_indices();
    if let Some((s0, c0)) = head.next()
        && c0 != MASK
    {
        let h = step(step(FNV_OFFSET, HEAD), c0);
        f(bucket(h), Origin::Head(s0, s0 + c0.len_utf8()));
        // MAX_CHARS > 1: the second character is scored.
        if let Some((s1, c1)) = head.next()
            && c1 != MASK
        {
            f(bucket(step(h, c1)), Origin::Head(s0, s1 + c1.len_utf8()));
        }
    }
    // The last two of the first MAX_CHARS characters; a text of at most MAX_CHARS bytes has
    // at most that many characters, so it can be read from its end.
    let (prev, last) = if text.len() <= MAX_CHARS {
        let mut back = text.char_indices().rev();
        let last = back.next();
        (back.next(), last)
    } else {
        text.char_indices()
            .take(MAX_CHARS)
            .fold((None, None), |(_, last), x| (last, Some(x)))
    };
    if let Some((sl, cl)) = last
        && cl != MASK
    {
        let el = sl + cl.len_utf8();
        f(bucket(step(step(FNV_OFFSET, cl), TAIL)), Origin::Tail(sl, el));
        if let Some((sp, cp)) = prev
            && cp != MASK
        {
            f(bucket(step(step(step(FNV_OFFSET, cp), cl), TAIL)), Origin::Tail(sp, el));
        }
    }
}

impl Flags {
    /// Calls `f(slot)` for each flag feature that is on (slot indexes [`FLAG_NAMES`]).
    pub fn for_each_feature(&self, mut f: impl FnMut(usize)) {
        let mut on = |cond: bool, slot: usize| {
            if cond {
                f(slot);
            }
        };
        on(self.strong_contact, 0);
        on(self.weak_contact, 1);
        on(self.hard_phrase, 2);
        on(self.cue_places == 1, 3);
        on(self.cue_places == 2, 4);
        on(self.cue_places >= 3, 5);
        on(self.links == 1, 6);
        on(self.links >= 2, 7);
        on((4..=6).contains(&self.longest_digit_run), 8);
        on((7..=10).contains(&self.longest_digit_run), 9);
        on(self.longest_digit_run >= 11, 10);
        on((1..=2).contains(&self.emoji), 11);
        on((3..=5).contains(&self.emoji), 12);
        on(self.emoji >= 6, 13);
        on(self.id_after_colon, 14);
        on(self.starts_with_bracket, 15);
        on(self.mentions == 1, 16);
        on((2..=4).contains(&self.mentions), 17);
        on(self.mentions >= 5, 18);
        on(self.phone, 19);
        on(self.flood, 20);
        on(self.quoted, 21);
    }
}

/// Entries of the [`Seen`] table: enough for every feature of a [`MAX_CHARS`] message
/// (3 × 512 n-grams + 4 positions + 32 flags) at a load factor under 0.4.
const SEEN_CAPACITY: usize = 4096;

/// A set of feature indices for one message, reused from message to message: each entry holds
/// `generation << 32 | (index + 1)`, so entries of earlier messages read as empty and starting
/// a message clears nothing. Only a prefix of the table sized to the message is used, so a
/// short message touches a few cache lines.
#[derive(Debug)]
pub struct Seen {
    table: Box<[u64; SEEN_CAPACITY]>,
    generation: u32,
    mask: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            table: Box::new([0; SEEN_CAPACITY]),
            generation: 0,
            mask: 0,
        }
    }
}

impl Seen {
    /// Starts a new message whose UTF-8 text is `text_len` bytes long.
    pub fn start(&mut self, text_len: usize) {
        // Characters ≤ bytes, so this bounds the number of features.
        let most = 3 * text_len.min(MAX_CHARS) + 4 + FLAG_SLOTS;
        self.mask = (2 * most).next_power_of_two().clamp(64, SEEN_CAPACITY) - 1;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.table.fill(0);
            self.generation = 1;
        }
    }

    /// Adds `index`; true when it was not in the set yet.
    #[inline]
    pub fn insert(&mut self, index: u32) -> bool {
        insert(&mut self.table, self.generation, self.mask, index)
    }
}

/// [`Seen::insert`] on the set's parts, so a loop can keep them in registers.
#[inline(always)]
fn insert(table: &mut [u64; SEEN_CAPACITY], generation: u32, mask: usize, index: u32) -> bool {
    let entry = (u64::from(generation) << 32) | u64::from(index + 1);
    // n-gram indices are hash bits already, and the flag slots are few: the low bits serve
    // as they are. `mask` < SEEN_CAPACITY, a power of two: masking with both needs no bounds
    // check.
    let mask = mask & (SEEN_CAPACITY - 1);
    let mut at = index as usize & mask;
    loop {
        let slot = &mut table[at];
        if *slot == entry {
            return false;
        }
        if (*slot >> 32) as u32 != generation {
            *slot = entry;
            return true;
        }
        at = (at + 1) & mask;
    }
}

/// Calls `f(index, origin)` once per distinct feature of a message, n-grams first (in text
/// order, [`Origin::Gram`]), then the position features ([`for_each_position`]), then flags
/// ([`Origin::Flag`]). This is the one definition of a message's features that scoring,
/// explaining, learning and training share.
#[inline]
pub fn for_each_feature(seen: &mut Seen, text: &str, flags: &Flags, mut f: impl FnMut(u32, Origin)) {
    seen.start(text.len());
    for_each_gram(text, |b, start, end| {
        if seen.insert(b) {
            f(b, Origin::Gram(start, end));
        }
    });
    for_each_position(text, |b, origin| {
        if seen.insert(b) {
            f(b, origin);
        }
    });
    flags.for_each_feature(|slot| {
        // Below FEATURES, which fits in u32.
        let index = (BUCKETS + slot) as u32;
        if seen.insert(index) {
            f(index, Origin::Flag);
        }
    });
}

/// `z` plus `weight(i)` for every distinct feature `i` of a message, added in the order of
/// [`for_each_feature`] (so the same sum, bit for bit, as adding them in its callback): what
/// scoring runs per message, in one pass over the characters with the n-gram hash states kept
/// in registers and no byte offsets.
#[inline]
pub fn sum_features(seen: &mut Seen, text: &str, flags: &Flags, z: f32, weight: impl Fn(u32) -> f32) -> f32 {
    seen.start(text.len());
    let (generation, mask) = (seen.generation, seen.mask);
    let table = &mut *seen.table;
    let mut z = z;
    // A macro, not a closure: a closure that captures the sum and the set's parts by reference
    // lets the compiler keep them in memory, reloading and storing them for every n-gram
    // (which one build did, at some 40 % more instructions for the score).
    macro_rules! add {
        ($index:expr) => {{
            let index: u32 = $index;
            if insert(table, generation, mask, index) {
                z += weight(index);
            }
        }};
    }
    let mut chars = text.chars().take(MAX_CHARS);
    // One pass per stretch between masks ([`MASK`]; most messages have none): a mask starts
    // the n-grams afresh, as the start of the text does.
    'stretch: loop {
        let first = loop {
            match chars.next() {
                None => break 'stretch,
                Some(MASK) => {}
                Some(c) => break c,
            }
        };
        // `one`, `two`: the hash states of the 1-gram and (after the second character) the
        // 2-gram ending at the previous character.
        let mut one = step(FNV_OFFSET, first);
        add!(bucket(one));
        let second = match chars.next() {
            None => break 'stretch,
            Some(MASK) => continue 'stretch,
            Some(c) => c,
        };
        let mut two = step(one, second);
        one = step(FNV_OFFSET, second);
        add!(bucket(one));
        add!(bucket(two));
        loop {
            let c = match chars.next() {
                None => break 'stretch,
                Some(MASK) => continue 'stretch,
                Some(c) => c,
            };
            let next_one = step(FNV_OFFSET, c);
            let next_two = step(one, c);
            add!(bucket(next_one));
            add!(bucket(next_two));
            add!(bucket(step(two, c)));
            one = next_one;
            two = next_two;
        }
    }
    // The position features, as `for_each_feature` reports them (collected first: no closure
    // that holds the sum).
    let mut positions = [0u32; 4];
    let mut count = 0;
    for_each_position(text, |b, _| {
        if let Some(slot) = positions.get_mut(count) {
            *slot = b;
            count += 1;
        }
    });
    for &b in positions.iter().take(count) {
        add!(b);
    }
    // The flags as a bit set, added in slot order as `for_each_feature` reports them (no
    // closure here either: the sum must not escape into a call).
    let mut bits = 0u32;
    flags.for_each_feature(|slot| bits |= 1 << (slot % 32));
    while bits != 0 {
        // Below FEATURES, which fits in u32.
        add!(BUCKETS as u32 + bits.trailing_zeros());
        bits &= bits - 1;
    }
    z
}

/// What scripts an (original, not normalized) text is written in, counted by letter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Han characters, Latin letters (with accents), digits, Bopomofo.
    pub known: u32,
    /// Letters of any other script: Cyrillic, Greek, Arabic, Hebrew, Thai, Hangul, kana ….
    pub foreign: u32,
}

impl Coverage {
    /// Counts the letters of `original`. Whitespace, punctuation, symbols, emoji and marks
    /// count for neither side, and so do the Cyrillic and Greek letters that look like Latin
    /// ones (the normalizer's homoglyph list): a spammer who writes `vіаgrа` with Cyrillic
    /// `і` and `а` must not push his message out of the model's reach.
    #[must_use]
    pub fn of(original: &str) -> Self {
        let mut out = Self::default();
        for c in original.chars() {
            if is_known(c) {
                out.known += 1;
            } else if c.is_alphabetic() && !is_lookalike(c) {
                out.foreign += 1;
            }
        }
        out
    }

    /// Whether the model may judge the text: no more foreign letters than known ones. A text
    /// without letters (emoji, digits only) is covered: nothing in it would be misread.
    #[must_use]
    pub fn covered(self) -> bool {
        self.foreign <= self.known
    }
}

/// Whether `original` is mostly written in scripts the model was trained on (see
/// [`Coverage`]). Call it on the ORIGINAL text: the normalizer folds Cyrillic look-alikes
/// into Latin letters, which turns Russian chat into something that reads like English spam.
#[must_use]
pub fn covers(original: &str) -> bool {
    Coverage::of(original).covered()
}

fn is_known(c: char) -> bool {
    matches!(c,
        '0'..='9' | 'a'..='z' | 'A'..='Z'
        // Latin-1 letters, Latin Extended-A/B, IPA, Latin Extended Additional
        | '\u{00C0}'..='\u{00D6}' | '\u{00D8}'..='\u{00F6}' | '\u{00F8}'..='\u{02AF}'
        | '\u{1E00}'..='\u{1EFF}'
        // Latin small capitals (ᴀ, ᴍ, ꜱ), which the normalizer folds to plain letters
        | '\u{1D00}'..='\u{1D2B}' | '\u{A730}'..='\u{A731}'
        // full-width digits and letters
        | '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}'
        // styled Latin letters the normalizer folds to plain ones (Ⓥ, 𝐯, 🅥): an ad written
        // in them must not slip out of the model's reach
        | '\u{24B6}'..='\u{24E9}' | '\u{1D400}'..='\u{1D7FF}' | '\u{1F130}'..='\u{1F189}'
        // Bopomofo
        | '\u{3100}'..='\u{312F}' | '\u{31A0}'..='\u{31BF}'
        // Han: ideographs, extension A, compatibility, extensions B and later
        | '\u{3007}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3134F}')
        || (c.is_numeric() && !c.is_alphabetic())
}

/// The Cyrillic and Greek letters the normalizer folds to Latin ones (kept in step with
/// `normalize::chars::homoglyph`), in either case.
fn is_lookalike(c: char) -> bool {
    let lower = c.to_lowercase().next().unwrap_or(c);
    matches!(
        lower,
        'а' | 'в'
            | 'с'
            | 'ѕ'
            | 'ԁ'
            | 'е'
            | 'ё'
            | 'є'
            | 'һ'
            | 'і'
            | 'ї'
            | 'ӏ'
            | 'ј'
            | 'к'
            | 'м'
            | 'н'
            | 'о'
            | 'р'
            | 'ԛ'
            | 'т'
            | 'у'
            | 'ү'
            | 'ԝ'
            | 'х'
            | 'ҳ'
            | 'ь'
            | 'α'
            | 'β'
            | 'ϲ'
            | 'ς'
            | 'ε'
            | 'η'
            | 'ι'
            | 'κ'
            | 'ν'
            | 'ο'
            | 'ρ'
            | 'τ'
            | 'υ'
            | 'χ'
            | 'ω'
            | 'ϳ'
    )
}
