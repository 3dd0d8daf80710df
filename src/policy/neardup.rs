//! Near-duplicates of admin-marked spam.
//!
//! When an admin marks a message as spam, later messages that are the same template — with
//! another time, price, colour, contact id or link — must be recognised at once, in every
//! group, whatever the model thinks. Three steps:
//!
//! 1. [`mask`]: the parts a spammer varies become placeholders, so the template is what
//!    remains;
//! 2. [`Signature::of`]: a MinHash signature of the masked text's character 3-grams, which
//!    estimates Jaccard similarity;
//! 3. [`Index`]: locality-sensitive hashing over the signature's bands, so a lookup looks at
//!    a handful of candidates however many samples are stored.
//!
//! # Masking (exactly)
//!
//! The input is normalized text (lower-case, full-width folded). The compact view (no
//! spaces, no punctuation) is what the daemon passes; the text view (noise kept) works too
//! and masks links more precisely. A *run* is a maximal stretch of ASCII letters, digits and
//! `_`, which may also contain `. / : - ? = & % + @` between two such characters, and `,`
//! between two digits, and may start with `@`. Each run becomes, by the first rule that applies:
//!
//! | rule | run                                                                  | becomes        |
//! |------|----------------------------------------------------------------------|----------------|
//! | 1    | contains `http` or `www`                                             | text before it, then [`LINK`] |
//! | 2    | starts with `@` followed by a letter (a handle), or holds `@` (e-mail) | [`ID`]       |
//! | 3    | holds `.` or `/` and a letter (a domain or path, text view)          | [`LINK`]       |
//! | 4    | starts with `tme` and is 5+ long (`t.me/…` in the compact view)      | [`LINK`]       |
//! | 5    | a contact cue (`vx wx qq tg wechat weixin telegram whatsapp`, or `v`/`q` right after `加 + 微 薇`) then 4–24 more | the cue, then [`ID`] |
//! | 6    | 4–24 long, right after a Chinese contact cue (`微信 薇信 威信 飞机 电报 扣扣 企鹅 联系 私聊 加`) | [`ID`] |
//! | 7    | 4–24 long with both a letter and a digit (an id)                     | [`ID`]         |
//! | 8    | 6–40 long, ends in `com net org cn top xyz cc vip info biz club`, next to a non-ASCII letter | [`LINK`] |
//! | 9    | otherwise                                                            | itself, each digit group (`3`, `3.5`, `1,000`) as [`NUMBER`] |
//!
//! Rules 5–7 skip runs longer than 24 on purpose: in the compact view an English sentence is
//! one run, and masking it whole would make every English message alike (so in English only
//! numbers, links and handles written with `@` in the text view are masked). Outside runs, a
//! stretch of Chinese numerals (`零〇一二两三四五六七八九十百千万亿`) is a [`NUMBER`] when it
//! is two or more long (`三千`) or followed by a unit (`五折`, `两小时`, `三点`: one of
//! `折元块点个天年月日号次份人小分秒倍成斤周岁`); everything else is kept.
//!
//! Known limits: `vx` right after `加` reads as the cue `vx`, so `加v xyz789` masks to `加vx@`,
//! not `加v@`; a bare domain of letters only (`scamsite.top` in the compact view) is masked
//! only next to Chinese text (rule 8).
//!
//! # Why MinHash and not SimHash
//!
//! SimHash's Hamming distance estimates the *angle* between shingle vectors: two texts whose
//! cosine similarity is `s` differ in about `64 · arccos(s) / π` of 64 bits. A chat template
//! is 20–60 characters, so one unmasked word changed (a colour, a product) changes 3–6 of its
//! ~30 shingles: cosine ≈ 0.85, about 11 bits apart. Within 3 bits — what 4 exact 16-bit
//! bands can find — means cosine ≥ 0.99, i.e. a near-copy. MinHash estimates the Jaccard
//! similarity directly, per bin, and banding it finds pairs at 0.6 with high probability.
//!
//! # The signature
//!
//! Each character 3-gram ("shingle") of the masked text hashes to 32 bits (64-bit FNV-1a over
//! the scalar values, then a `fmix64` half, high 32 bits). Bin *k* of [`BINS`] keeps the
//! minimum of `(h XOR Sₖ) · Mₖ mod 2³²` over all shingles (a different odd multiplier and
//! xor key per bin: a cheap family of permutations), stored as 16 bits of a mix of that
//! minimum. Two texts agree on a bin with probability ≈ their Jaccard similarity `J`, so the
//! number of differing bins, the *distance*, estimates `BINS · (1 − J)`.
//!
//! - A match is `distance ≤` [`MAX_DISTANCE`] (15 of 30: estimated Jaccard ≥ 0.5). On the
//!   test table, templates with one word changed after masking sit at J ≈ 0.6–0.75
//!   (distance 7–13) and unrelated chat, even sharing a phrase, at J ≤ 0.2 (distance ≥ 21).
//! - Masked texts narrower than [`MIN_FUZZY_WIDTH`] are too generic for similarity (a
//!   non-ASCII character counts 2, an ASCII one 1, so the bar is 8 Chinese characters or 16
//!   Latin letters — `congrats` is inside `huge, congrats`, but that is no template): their
//!   signature is an *exact* one (bins filled from a 64-bit hash of the masked text) and
//!   matches only the same masked text, never a fuzzy signature.
//! - A masked text with fewer than 2 characters that are not placeholders (`#`, `v@`) has no
//!   signature at all: a bare number or id is no template.
//!
//! # The index
//!
//! The first 24 bins form [`BANDS`] = 8 bands of [`ROWS`] = 3; a sample is filed under each
//! band's value (a 29-bit hash of its three 16-bit bins, tagged with the band number: a rare
//! hash collision only adds a candidate). Two signatures at Jaccard `J` share at least one
//! band with probability `1 − (1 − J³)⁸`: 0.97 at J = 0.7, 0.86 at 0.6, 0.66 at 0.5, 0.2 at
//! 0.3, 0.008 at 0.1. Candidates are verified on all 30 bins; at most [`MAX_CANDIDATES`] per
//! lookup, which bounds the worst case whatever is stored. Together (band × verification,
//! treating them as independent) a stored sample is found with probability about 0.96 at
//! J = 0.7, 0.9 at 0.65, 0.77 at 0.6, 0.38 at 0.5, and 0.003 at 0.3. Ten bands would find a
//! little more (0.93 at 0.65) for a third more memory.
//!
//! What a match means is the caller's business: a warning that quotes a marked ad in full
//! ("别信：…") is a near-duplicate of it, so a match is best acted on together with the
//! rules' and the model's verdicts (or only for new members), and shown in `filter explain`
//! with the matched sample.
//!
//! Each band is a doubly linked list through the sample slots, so insertion and removal are
//! O(bands) and a lookup O(bands + candidates). The index holds at most its capacity
//! ([`DEFAULT_CAPACITY`] = 100,000); inserting beyond that evicts the oldest sample (a FIFO
//! of ids, skipping removed ones lazily, compacted when half stale). About 300 bytes per
//! sample at most: ~28 MiB at 100,000 (slots 144 B, band heads 8 × ~12 B, id map, FIFO).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Placeholder for a number.
pub const NUMBER: char = '#';
/// Placeholder for a contact id, handle or e-mail.
pub const ID: char = '@';
/// Placeholder for a link or domain.
pub const LINK: char = '~';

/// Bins of a signature.
pub const BINS: usize = 30;
/// Bands the index files a signature under.
pub const BANDS: usize = 8;
/// Bins per band.
pub const ROWS: usize = 3;
/// Largest distance (differing bins of [`BINS`]) that is a match: estimated Jaccard ≥ 0.5.
pub const MAX_DISTANCE: u32 = 15;
/// Masked texts narrower than this (non-ASCII characters count 2, ASCII ones 1) only match
/// exactly: 8 Chinese characters, 16 Latin letters.
pub const MIN_FUZZY_WIDTH: usize = 16;
/// A masked text needs this many characters that are not placeholders to have a signature.
pub const MIN_TEXT_CHARS: usize = 2;
/// Only the first this many characters of the normalized text are signed, which bounds the
/// cost of a wall of text (the template shows long before).
pub const MAX_CHARS: usize = 1024;
/// Candidates verified per lookup, at most.
pub const MAX_CANDIDATES: usize = 32;
/// Samples an [`Index::new`] holds before it evicts the oldest.
pub const DEFAULT_CAPACITY: usize = 100_000;

const _: () = assert!(BANDS * ROWS <= BINS && ROWS <= 3 && BANDS <= 8);

// ---------------------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------------------

/// The masked form of `normalized` (see the module documentation), as a string.
#[must_use]
pub fn mask(normalized: &str) -> String {
    let mut out = String::with_capacity(normalized.len());
    mask_each(normalized, |c| out.push(c));
    out
}

/// Contact cues that may be written right before an id (rule 5), longest first.
const CUES: [&str; 8] = ["telegram", "whatsapp", "wechat", "weixin", "vx", "wx", "qq", "tg"];
/// One-letter cues, only right after one of [`CUE_LEADS`].
const SHORT_CUES: [&str; 2] = ["v", "q"];
const CUE_LEADS: [char; 4] = ['加', '+', '微', '薇'];
/// Chinese contact cues an id may follow directly (rule 6), as (first, second) characters;
/// `None` first: the second alone is a cue.
const HAN_CUES: [(Option<char>, char); 10] = [
    (Some('微'), '信'),
    (Some('薇'), '信'),
    (Some('威'), '信'),
    (Some('飞'), '机'),
    (Some('电'), '报'),
    (Some('扣'), '扣'),
    (Some('企'), '鹅'),
    (Some('联'), '系'),
    (Some('私'), '聊'),
    (None, '加'),
];
/// Units after which a single Chinese numeral is a number (`五折`, `三点`).
const UNITS: [char; 21] = [
    '折', '元', '块', '点', '个', '天', '年', '月', '日', '号', '次', '份', '人', '小', '分', '秒', '倍', '成', '斤',
    '周', '岁',
];
/// Top-level domains of rule 8.
const TLDS: [&str; 11] = [
    "com", "net", "org", "cn", "top", "xyz", "cc", "vip", "info", "biz", "club",
];
/// Characters that may join a run between two word characters.
const JOINERS: [u8; 9] = [b'.', b'/', b':', b'-', b'?', b'=', b'&', b'%', b'+'];

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_chinese_numeral(c: char) -> bool {
    matches!(
        c,
        '零' | '〇'
            | '一'
            | '二'
            | '两'
            | '三'
            | '四'
            | '五'
            | '六'
            | '七'
            | '八'
            | '九'
            | '十'
            | '百'
            | '千'
            | '万'
            | '亿'
    )
}

/// Calls `emit` with each character of the masked form of `normalized`, allocating nothing.
pub fn mask_each(normalized: &str, mut emit: impl FnMut(char)) {
    let bytes = normalized.as_bytes();
    // Characters before this byte offset were consumed by a run or a numeral stretch.
    let mut skip_to = 0;
    // The two characters before the current position (rules 5, 6 and 8 look at them).
    let (mut before2, mut before): (Option<char>, Option<char>) = (None, None);
    for (at, c) in normalized.char_indices() {
        if at < skip_to {
            continue;
        }
        let next = bytes.get(at + 1).copied();
        if (c.is_ascii() && is_word(c as u8)) || (c == '@' && next.is_some_and(|b| b.is_ascii_alphabetic())) {
            let end = run_end(bytes, at);
            let run = normalized.get(at..end).unwrap_or("");
            let after = normalized.get(end..).and_then(|s| s.chars().next());
            mask_run(run, (before2, before), after, &mut emit);
            let mut last = run.chars().rev();
            before = last.next();
            before2 = last.next();
            skip_to = end;
            continue;
        }
        if !c.is_ascii() && is_chinese_numeral(c) {
            let rest = normalized.get(at..).unwrap_or("");
            let len: usize = rest
                .chars()
                .take_while(|&n| is_chinese_numeral(n))
                .map(char::len_utf8)
                .sum();
            let unit = rest
                .get(len..)
                .and_then(|s| s.chars().next())
                .is_some_and(|u| UNITS.contains(&u));
            if len > c.len_utf8() || unit {
                emit(NUMBER);
                (before2, before) = (None, None);
                skip_to = at + len;
                continue;
            }
        }
        emit(c);
        (before2, before) = (before, Some(c));
    }
}

/// The end of the run starting at `start` (a word character or `@`).
fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start + 1;
    loop {
        match bytes.get(end) {
            Some(&b) if is_word(b) => end += 1,
            Some(&b)
                if (JOINERS.contains(&b) || b == b'@')
                    && bytes.get(end - 1).copied().is_some_and(is_word)
                    && bytes.get(end + 1).copied().is_some_and(is_word) =>
            {
                end += 2;
            }
            Some(b',')
                if bytes.get(end - 1).is_some_and(u8::is_ascii_digit)
                    && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) =>
            {
                end += 2;
            }
            _ => return end,
        }
    }
}

/// Masks one run (ASCII only) by the first rule of the table that applies.
fn mask_run(
    run: &str,
    (before2, before): (Option<char>, Option<char>),
    after: Option<char>,
    emit: &mut impl FnMut(char),
) {
    let bytes = run.as_bytes();
    let has_letter = bytes.iter().any(u8::is_ascii_alphabetic);
    let has_digit = bytes.iter().any(u8::is_ascii_digit);
    let len = run.len();
    // 1. a URL with a scheme or www
    if let Some(p) = [run.find("http"), run.find("www")].into_iter().flatten().min() {
        mask_plain(run.get(..p).unwrap_or(""), emit);
        emit(LINK);
        return;
    }
    // 2. a handle or an e-mail
    if run.contains('@') {
        emit(ID);
        return;
    }
    // 3. a domain or path written out
    if has_letter && (run.contains('.') || run.contains('/')) {
        emit(LINK);
        return;
    }
    // 4. t.me in the compact view
    if run.starts_with("tme") && len >= 5 {
        emit(LINK);
        return;
    }
    // 5. a contact cue and an id
    let lead = before.is_some_and(|c| CUE_LEADS.contains(&c));
    let cue = CUES
        .iter()
        .chain(SHORT_CUES.iter().filter(|_| lead))
        .find(|cue| run.starts_with(**cue));
    if let Some(cue) = cue {
        let rest = len - cue.len();
        if (4..=24).contains(&rest) {
            cue.chars().for_each(&mut *emit);
            emit(ID);
            return;
        }
    }
    // 6. an id after a Chinese contact cue
    let han_cue = HAN_CUES
        .iter()
        .any(|&(first, second)| before == Some(second) && first.is_none_or(|f| before2 == Some(f)));
    if (4..=24).contains(&len) && han_cue {
        emit(ID);
        return;
    }
    // 7. an id
    if (4..=24).contains(&len) && has_letter && has_digit {
        emit(ID);
        return;
    }
    // 8. a bare domain inside Chinese text
    let borders_cjk = |c: Option<char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphanumeric());
    if (6..=40).contains(&len)
        && (borders_cjk(before) || borders_cjk(after))
        && TLDS.iter().any(|tld| run.ends_with(tld) && len >= tld.len() + 3)
    {
        emit(LINK);
        return;
    }
    // 9. digits only
    mask_plain(run, emit);
}

/// Copies `text` with each digit group (digits, with `.` or `,` between digits) as one
/// [`NUMBER`].
fn mask_plain(text: &str, emit: &mut impl FnMut(char)) {
    let bytes = text.as_bytes();
    let mut in_number = false;
    for (i, c) in text.char_indices() {
        if c.is_ascii_digit() {
            if !in_number {
                emit(NUMBER);
                in_number = true;
            }
            continue;
        }
        let joins = in_number && (c == '.' || c == ',') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if joins {
            continue;
        }
        in_number = false;
        emit(c);
    }
}

// ---------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------

/// Per-bin xor keys and odd multipliers of the MinHash permutations, from splitmix64 seeded
/// with `"neardup1"` (fixed: stored samples depend on them). Two arrays, not pairs, so the
/// per-shingle loop vectorizes.
const KEYS: ([u32; BINS], [u32; BINS]) = {
    let (mut xors, mut muls) = ([0u32; BINS], [0u32; BINS]);
    let mut s: u64 = 0x6e65_6172_6475_7031; // "neardup1"
    let mut k = 0;
    while k < BINS {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        xors[k] = z as u32;
        muls[k] = (z >> 32) as u32 | 1;
        k += 1;
    }
    (xors, muls)
};

fn fmix(h: u64) -> u64 {
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv_step(h: u64, c: char) -> u64 {
    (h ^ u64::from(u32::from(c))).wrapping_mul(FNV_PRIME)
}

/// A MinHash signature of a masked text (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    bins: [u16; BINS],
    /// Too short for similarity: matches only an identical exact signature.
    exact: bool,
}

impl Signature {
    /// The signature of a message's normalized text (its first [`MAX_CHARS`] characters);
    /// `None` when it has too little text to be a template (fewer than [`MIN_TEXT_CHARS`]
    /// characters besides placeholders).
    #[must_use]
    pub fn of(normalized: &str) -> Option<Self> {
        let head = match normalized.char_indices().nth(MAX_CHARS) {
            Some((cut, _)) => normalized.get(..cut).unwrap_or(normalized),
            None => normalized,
        };
        let mut mins = [u32::MAX; BINS];
        let (mut chars, mut width, mut text_chars) = (0usize, 0usize, 0usize);
        let mut whole = FNV_OFFSET;
        let (mut p2, mut p1) = ('\0', '\0');
        mask_each(head, |c| {
            chars += 1;
            width += if c.is_ascii() { 1 } else { 2 };
            if !matches!(c, NUMBER | ID | LINK) {
                text_chars += 1;
            }
            whole = fnv_step(whole, c);
            if chars >= 3 {
                let h = (fmix(fnv_step(fnv_step(fnv_step(FNV_OFFSET, p2), p1), c)) >> 32) as u32;
                let (xors, muls) = &KEYS;
                for k in 0..BINS {
                    mins[k] = mins[k].min((h ^ xors[k]).wrapping_mul(muls[k]));
                }
            }
            p2 = p1;
            p1 = c;
        });
        if text_chars < MIN_TEXT_CHARS {
            return None;
        }
        let mut bins = [0u16; BINS];
        if width < MIN_FUZZY_WIDTH {
            // 16 bits per bin from a hash of the whole masked text.
            for (k, bin) in (0u64..).zip(bins.iter_mut()) {
                *bin = (fmix(whole ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 48) as u16;
            }
            return Some(Self { bins, exact: true });
        }
        for (bin, min) in bins.iter_mut().zip(mins) {
            *bin = (min.wrapping_mul(0x9e37_79b1) >> 16) as u16;
        }
        Some(Self { bins, exact: false })
    }

    /// Whether it only matches identical text (masked text under [`MIN_FUZZY_WIDTH`]).
    #[must_use]
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// How many bins differ (0 ..= [`BINS`]); about `BINS · (1 − Jaccard)`.
    #[must_use]
    pub fn distance(&self, other: &Self) -> u32 {
        let same = self.bins.iter().zip(&other.bins).filter(|(a, b)| a == b).count();
        // At most BINS.
        (BINS - same) as u32
    }

    /// Whether `other` is a near-duplicate: both fuzzy within [`MAX_DISTANCE`], or both exact
    /// and equal. Returns the distance when it is.
    #[must_use]
    pub fn matches(&self, other: &Self) -> Option<u32> {
        if self.exact != other.exact {
            return None;
        }
        let d = self.distance(other);
        let limit = if self.exact { 0 } else { MAX_DISTANCE };
        (d <= limit).then_some(d)
    }

    /// The bands this signature is filed under (exact signatures: only the first; they can
    /// only match an equal signature, which shares it).
    fn bands(&self) -> usize {
        if self.exact { 1 } else { BANDS }
    }

    /// The index key of band `b`: a 29-bit hash of its bins, then the band number in the low
    /// 3 bits (so keys of different bands never meet, and a chain is one band's).
    fn band_key(&self, b: usize) -> u32 {
        let mut packed = 0u64;
        for &v in self.bins.get(b * ROWS..(b + 1) * ROWS).unwrap_or(&[]) {
            packed = (packed << 16) | u64::from(v);
        }
        // b < BANDS ≤ 8.
        (((fmix(packed) >> 35) as u32) << 3) | b as u32
    }
}

// ---------------------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------------------

/// A `u64` hasher for keys that are not hashes yet (ids) or are (band keys): one `fmix64`.
#[derive(Clone, Copy, Debug, Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = fmix(i ^ self.0);
    }
    fn write_u32(&mut self, i: u32) {
        // Band keys are hash bits already; spread them into the tag bits the table reads.
        self.0 = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap = HashMap<u64, u32, BuildHasherDefault<MixHasher>>;
type HeadMap = HashMap<u32, u32, BuildHasherDefault<MixHasher>>;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link { prev: NONE, next: NONE };

#[derive(Clone, Debug)]
struct Slot {
    id: u64,
    /// Insertion number, to tell a live FIFO entry from a stale one.
    seq: u64,
    sig: Signature,
    links: [Link; BANDS],
}

/// A near-duplicate found by [`Index::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The stored sample's id.
    pub id: u64,
    /// Differing bins (0 ..= [`MAX_DISTANCE`]; 0 for exact signatures).
    pub distance: u32,
}

/// Signatures of admin-marked spam, for sub-linear near-duplicate lookups (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct Index {
    capacity: usize,
    slots: Vec<Slot>,
    /// Slots of removed samples, reused first.
    free: Vec<u32>,
    by_id: IdMap,
    /// Band key → the newest slot filed under it.
    heads: HeadMap,
    /// `(id, seq)` in insertion order; entries whose id was since removed or re-inserted are
    /// stale and skipped.
    fifo: VecDeque<(u64, u64)>,
    seq: u64,
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl Index {
    /// An empty index holding up to [`DEFAULT_CAPACITY`] samples.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty index holding up to `capacity` samples (at least 1, at most `u32::MAX - 1`).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.clamp(1, (NONE - 1) as usize),
            slots: Vec::new(),
            free: Vec::new(),
            by_id: IdMap::default(),
            heads: HeadMap::default(),
            fifo: VecDeque::new(),
            seq: 0,
        }
    }

    /// How many samples it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether it holds none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The most it holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `id` is stored.
    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Stores `sig` as sample `id`, replacing an earlier sample of that id. When full, the
    /// oldest sample is evicted first; it is returned.
    pub fn insert(&mut self, id: u64, sig: Signature) -> Option<u64> {
        self.remove(id);
        let evicted = if self.len() >= self.capacity {
            self.evict_oldest()
        } else {
            None
        };
        let seq = self.seq;
        self.seq += 1;
        let slot = Slot {
            id,
            seq,
            sig,
            links: [UNLINKED; BANDS],
        };
        let at = match self.free.pop() {
            Some(at) => {
                if let Some(s) = self.slots.get_mut(at as usize) {
                    *s = slot;
                }
                at
            }
            None => {
                // Grow geometrically, but never past the capacity.
                if self.slots.len() == self.slots.capacity() {
                    let room = self.capacity.saturating_sub(self.slots.len()).max(1);
                    self.slots.reserve_exact(self.slots.len().max(64).min(room));
                }
                self.slots.push(slot);
                // Below capacity ≤ u32::MAX - 1.
                (self.slots.len() - 1) as u32
            }
        };
        for b in 0..sig.bands() {
            let key = sig.band_key(b);
            let next = self.heads.insert(key, at).unwrap_or(NONE);
            self.set_link(at, b, Link { prev: NONE, next });
            if next != NONE {
                self.update_link(next, b, |l| l.prev = at);
            }
        }
        self.by_id.insert(id, at);
        self.fifo.push_back((id, seq));
        if self.fifo.len() > 2 * self.capacity + 16 {
            self.compact_fifo();
        }
        evicted
    }

    /// Removes sample `id`; false when it was not stored.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(at) = self.by_id.remove(&id) else {
            return false;
        };
        let Some(slot) = self.slots.get(at as usize) else {
            return false;
        };
        let (sig, links) = (slot.sig, slot.links);
        for (b, link) in links.iter().enumerate().take(sig.bands()) {
            if link.prev == NONE {
                let key = sig.band_key(b);
                if link.next == NONE {
                    self.heads.remove(&key);
                } else {
                    self.heads.insert(key, link.next);
                }
            } else {
                self.update_link(link.prev, b, |l| l.next = link.next);
            }
            if link.next != NONE {
                self.update_link(link.next, b, |l| l.prev = link.prev);
            }
        }
        if let Some(slot) = self.slots.get_mut(at as usize) {
            slot.links = [UNLINKED; BANDS];
        }
        self.free.push(at);
        true
    }

    /// The stored sample most similar to `sig` among the candidates its bands lead to, if it
    /// is a near-duplicate ([`Signature::matches`]). Ties go to the first candidate found
    /// (bands in order, newest first within a band).
    #[must_use]
    pub fn find(&self, sig: &Signature) -> Option<Match> {
        let mut checked = [NONE; MAX_CANDIDATES];
        let mut n = 0;
        let mut best: Option<Match> = None;
        'bands: for b in 0..sig.bands() {
            let mut at = self.heads.get(&sig.band_key(b)).copied().unwrap_or(NONE);
            while at != NONE {
                let Some(slot) = self.slots.get(at as usize) else {
                    break;
                };
                if !checked[..n].contains(&at) {
                    if n == MAX_CANDIDATES {
                        break 'bands;
                    }
                    checked[n] = at;
                    n += 1;
                    if let Some(distance) = sig.matches(&slot.sig)
                        && best.is_none_or(|m| distance < m.distance)
                    {
                        best = Some(Match { id: slot.id, distance });
                        if distance == 0 {
                            break 'bands;
                        }
                    }
                }
                at = slot.links.get(b).map_or(NONE, |l| l.next);
            }
        }
        best
    }

    /// Every stored near-duplicate of `sig` among the candidates its bands lead to (at most
    /// [`MAX_CANDIDATES`] are looked at), closest first: what a `/notspam` retires.
    #[must_use]
    pub fn find_all(&self, sig: &Signature) -> Vec<Match> {
        let mut checked = [NONE; MAX_CANDIDATES];
        let mut n = 0;
        let mut found = Vec::new();
        'bands: for b in 0..sig.bands() {
            let mut at = self.heads.get(&sig.band_key(b)).copied().unwrap_or(NONE);
            while at != NONE {
                let Some(slot) = self.slots.get(at as usize) else {
                    break;
                };
                if !checked[..n].contains(&at) {
                    if n == MAX_CANDIDATES {
                        break 'bands;
                    }
                    checked[n] = at;
                    n += 1;
                    if let Some(distance) = sig.matches(&slot.sig) {
                        found.push(Match { id: slot.id, distance });
                    }
                }
                at = slot.links.get(b).map_or(NONE, |l| l.next);
            }
        }
        found.sort_by_key(|m| (m.distance, m.id));
        found
    }

    fn set_link(&mut self, at: u32, band: usize, link: Link) {
        if let Some(l) = self.slots.get_mut(at as usize).and_then(|s| s.links.get_mut(band)) {
            *l = link;
        }
    }

    fn update_link(&mut self, at: u32, band: usize, f: impl FnOnce(&mut Link)) {
        if let Some(l) = self.slots.get_mut(at as usize).and_then(|s| s.links.get_mut(band)) {
            f(l);
        }
    }

    /// Whether a FIFO entry still describes a stored sample.
    fn is_live(&self, (id, seq): (u64, u64)) -> bool {
        self.by_id
            .get(&id)
            .and_then(|&at| self.slots.get(at as usize))
            .is_some_and(|s| s.seq == seq)
    }

    fn evict_oldest(&mut self) -> Option<u64> {
        while let Some(entry) = self.fifo.pop_front() {
            if self.is_live(entry) {
                self.remove(entry.0);
                return Some(entry.0);
            }
        }
        None
    }

    fn compact_fifo(&mut self) {
        let mut fifo = std::mem::take(&mut self.fifo);
        fifo.retain(|&e| self.is_live(e));
        self.fifo = fifo;
    }
}

#[cfg(test)]
mod tests;
