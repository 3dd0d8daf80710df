//! Normalization: the copy of a message the filter actually matches, with a map back to the
//! original text.
//!
//! Spammers write 加 微-信, Ｖ信, ①③⑧, 開發票 or vіаgrа (Cyrillic) so that naive substring
//! filters miss them. The normalizer folds all of that to one canonical form *before*
//! matching — and pushes the rules' phrases through exactly the same fold when the filter is
//! built, so both sides always meet.
//!
//! One [`FoldTable`] lookup per character does NFKC (full-width → ASCII, ①⑴ → digits, 𝐯 → v),
//! case folding, traditional → simplified, homoglyphs (Cyrillic/Greek → Latin, é → e), and
//! classifies the character as *noise* (whitespace, punctuation, symbols, emoji — skipped
//! between the characters of a phrase) or *invisible* (zero-width, format and combining
//! characters — dropped). Every step can be switched off ([`NormalizeOptions`]).
//!
//! The result is a [`View`]: the normalized string plus, for each of its bytes, the byte span
//! of the original character it came from. A match in the view maps back to an exact span of
//! the original text, which is what warnings, the audit log and `filter explain` quote.
//!
//! Views derived from the compact view (each its own buffer, reused per thread):
//! - the **compact** view: noise dropped — what phrases are matched against;
//! - the **digit** view: the compact view with Chinese numerals as digits (一三八 → 138), for
//!   the contact-number detectors only (folding 三 → 3 for phrases would break 下三滥);
//! - the **collapsed** view: runs of one character collapsed (viiiagra → viagra), with the run
//!   lengths, so repeated letters do not hide a phrase;
//! - the **text** view: like the compact view but noise kept (whitespace as one space), for
//!   the URL, e-mail and handle detectors, where dots and slashes matter.

mod chars;
mod t2s;
mod table;

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use table::{Fold, FoldTable};

/// Which normalization steps run. All on by default; `[normalize]` in `rules/rules.toml`
/// switches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormalizeOptions {
    /// NFKC compatibility folding: full-width → ASCII, ① ⑴ ⒈ ❶ → digits, 𝐯 Ⓥ 🅥 → letters.
    pub nfkc: bool,
    /// Case folding (ASCII and Unicode lower case).
    pub case_fold: bool,
    /// Traditional → simplified Chinese (OpenCC character table).
    pub traditional: bool,
    /// Drop zero-width, format and combining characters (U+200B, U+00AD, U+FEFF, zalgo marks).
    pub invisible: bool,
    /// Skip noise — whitespace, punctuation, symbols, emoji — between the characters of a
    /// phrase, so 加 微-信 and 微`<TAB>`信 hit 加微信.
    pub skip_noise: bool,
    /// Cyrillic and Greek look-alikes → Latin (vіаgrа → viagra), accents dropped (é → e).
    pub homoglyphs: bool,
    /// Chinese numerals → digits for the contact-number detectors (一三八 → 138).
    pub numerals: bool,
    /// Apply `rules/variants.toml` (V信, 薇信 → 微信 …).
    pub variants: bool,
    /// Match repeated letters (viiiagra, fuuuck) through the collapsed view.
    pub repeats: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            nfkc: true,
            case_fold: true,
            traditional: true,
            invisible: true,
            skip_noise: true,
            homoglyphs: true,
            numerals: true,
            variants: true,
            repeats: true,
        }
    }
}

impl NormalizeOptions {
    /// The options that shape the fold table (the others act on derived views).
    fn table_key(&self) -> [bool; 6] {
        [
            self.nfkc,
            self.case_fold,
            self.traditional,
            self.invisible,
            self.skip_noise,
            self.homoglyphs,
        ]
    }
}

/// Folds text with a [`FoldTable`]. Cheap to clone; the table is shared.
#[derive(Clone, Debug)]
pub struct Normalizer {
    table: Arc<FoldTable>,
    /// The table's answer for ASCII, by byte: the folded byte, or 0 for noise.
    ascii: [u8; 128],
    opts: NormalizeOptions,
}

/// Tables built so far, by option set. Building one takes tens of milliseconds, and a rules
/// reload should not pay that again when the options did not change.
static TABLES: Mutex<Vec<([bool; 6], Arc<FoldTable>)>> = Mutex::new(Vec::new());

impl Normalizer {
    /// The normalizer for `opts`, building its fold table on first use.
    #[must_use]
    pub fn new(opts: NormalizeOptions) -> Self {
        let key = opts.table_key();
        let mut tables = TABLES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let table = match tables.iter().find(|(k, _)| *k == key) {
            Some((_, table)) => Arc::clone(table),
            None => {
                let table = Arc::new(FoldTable::build(&opts));
                tables.push((key, Arc::clone(&table)));
                table
            }
        };
        let mut ascii = [0u8; 128];
        for (b, slot) in (0u8..128).zip(ascii.iter_mut()) {
            *slot = match table.fold(char::from(b)) {
                Fold::Char(f) if f.is_ascii() && f != '\0' => f as u8,
                _ => 0,
            };
        }
        Self { table, ascii, opts }
    }

    /// The options it was built with.
    #[must_use]
    pub fn options(&self) -> &NormalizeOptions {
        &self.opts
    }

    /// The fold table.
    #[must_use]
    pub fn table(&self) -> &FoldTable {
        &self.table
    }

    /// The compact view of `text` into `out` (cleared first): folded, noise and invisible
    /// characters dropped.
    ///
    /// This runs on every message, so it is one pass with three paths: ASCII bytes through a
    /// 128-entry table, characters whose table entry is a plain character (most Chinese text)
    /// with a minimum of bookkeeping, and everything else (expansions, noise, numerals, link
    /// marks) through the general path that keeps the [`Stats`]. (Copying stretches of
    /// characters that fold to themselves in one piece instead was measured: fewer
    /// instructions, but slower, the `memcpy` calls costing more than the pushes they save.)
    pub fn compact_into(&self, text: &str, out: &mut View) {
        self.compact_impl(text, None, out, |_| {});
    }

    /// [`Normalizer::compact_into`] that also ORs together the [`CharMarks`] of every
    /// character of the view into [`Stats::marks`]: which of a filter's small automata could
    /// match, found in the same pass (one table load per character) rather than in a pass of
    /// their own.
    pub fn compact_marked_into(&self, text: &str, marks: &CharMarks, out: &mut View) {
        self.compact_impl(text, Some(marks), out, |_| {});
    }

    /// [`Normalizer::compact_marked_into`] that also calls `each(c)` for every character `c`
    /// of the view, in order, as it is appended: a caller can step an automaton over the
    /// view inside the pass that builds it, instead of decoding the view again afterwards.
    #[inline(always)]
    pub fn compact_marked_each_into(&self, text: &str, marks: &CharMarks, out: &mut View, each: impl FnMut(char)) {
        self.compact_impl(text, Some(marks), out, each);
    }

    /// Computes, once the characters are marked, which characters of the Basic Multilingual
    /// Plane [`Normalizer::compact_marked_into`] can copy as they are: those this normalizer
    /// folds to themselves as plain characters and that have no mark. (Marking a character
    /// later takes it out again; with another normalizer's table the map is not used.)
    pub fn prepare_marks(&self, marks: &mut CharMarks) {
        let (index, blocks) = self.table.levels();
        for cp in 0..0x1_0000u32 {
            let entry = index
                .get((cp >> 8) as usize)
                .and_then(|&block| blocks.get(usize::from(block)))
                .map_or(0, |block| block[(cp & 0xFF) as usize] ^ cp);
            let plain = entry == cp && char::from_u32(cp).is_some() && marks.of(cp) == 0;
            let word = &mut marks.plain[(cp >> 6) as usize];
            if plain {
                *word |= 1 << (cp & 63);
            } else {
                *word &= !(1 << (cp & 63));
            }
        }
        marks.plain_for = Some(Arc::clone(&self.table));
    }

    #[inline(always)]
    fn compact_impl(&self, text: &str, marks: Option<&CharMarks>, out: &mut View, mut each: impl FnMut(char)) {
        out.clear();
        // The marks of the characters pushed so far.
        let mut marked = 0u8;
        // The buffers as locals while they are filled, so their lengths stay in registers.
        let mut buf = std::mem::take(&mut out.text);
        let mut spans = std::mem::take(&mut out.spans);
        let mut gaps = std::mem::take(&mut out.word_gaps);
        buf.reserve(text.len());
        spans.reserve(text.len());
        let (index, blocks) = self.table.levels();
        let fast = marks.and_then(|m| m.plain_for(&self.table));
        let ascii = &self.ascii;
        let mut tracker = Tracker::default();
        let bytes = text.as_bytes();
        let mut start = 0;
        // The leet class of the previous original byte (0 after a non-ASCII character), and
        // whether a letter/leet pair was seen ([`Stats::leet_pair`]).
        let (mut leet_prev, mut leet_pair) = (0u8, false);
        while let Some(&b) = bytes.get(start) {
            if b < 0x80 {
                let class = LEET_CLASS[usize::from(b)];
                leet_pair |= (leet_prev | class) == 3;
                leet_prev = class;
                // One byte in, at most one byte out.
                let f = ascii[usize::from(b)];
                if f != 0 {
                    if f == b'.' || f == b'@' {
                        tracker.link_mark(char::from(f));
                    }
                    tracker.word_gap(f, buf.len(), &mut gaps);
                    tracker.note_ascii(f);
                    if let Some(m) = marks {
                        marked |= m.of(u32::from(f));
                    }
                    buf.push(char::from(f));
                    each(char::from(f));
                    spans.push((to_u32(start), to_u32(start + 1)));
                } else if (b == b'.' || b == b'@') && self.opts.skip_noise {
                    tracker.link_mark(char::from(b));
                } else if b.is_ascii_whitespace() || b == 0x0B {
                    // Dropped whitespace (`char::is_whitespace` on ASCII: U+0009–U+000D, space).
                    tracker.gap_ws = true;
                }
                start += 1;
                continue;
            }
            leet_prev = 0;
            let (cp, len) = match bytes.get(start..start + 3) {
                // Three bytes: most CJK.
                Some(&[b0 @ 0xE0..=0xEF, b1, b2]) => {
                    let cp = u32::from(b0 & 0x0F) << 12 | u32::from(b1 & 0x3F) << 6 | u32::from(b2 & 0x3F);
                    // A character that folds to itself, plain and unmarked: what the plain
                    // path below does with it, without the fold table (`CharMarks::plain`).
                    if let Some(plain) = fast
                        && plain[(cp >> 6) as usize & 1023] >> (cp & 63) & 1 != 0
                        && let Some(f) = char::from_u32(cp)
                    {
                        tracker.plain();
                        buf.push(f);
                        each(f);
                        spans.push((to_u32(start), to_u32(start + 3)));
                        start += 3;
                        continue;
                    }
                    (cp, 3)
                }
                _ => match decode_utf8(&bytes[start..]) {
                    Some(decoded) => decoded,
                    None => break,
                },
            };
            let end = start + len;
            // `FoldTable::entry`, on the levels held here.
            let entry = index
                .get((cp >> 8) as usize)
                .and_then(|&block| blocks.get(usize::from(block)))
                .map_or(0, |block| block[(cp & 0xFF) as usize] ^ cp);
            if entry & !table::CP_MASK == 0 {
                // A plain character (most Chinese): no statistics to keep.
                if let Some(f) = char::from_u32(entry) {
                    tracker.plain();
                    if let Some(m) = marks {
                        marked |= m.of(entry);
                    }
                    buf.push(f);
                    each(f);
                    spans.push((to_u32(start), to_u32(end)));
                } else {
                    tracker.dropped(cp);
                }
            } else {
                match self.table.decode(entry) {
                    Fold::Char(f) => {
                        if is_link_mark(f) {
                            tracker.link_mark(f);
                        }
                        tracker.word_gap_char(f, buf.len(), &mut gaps);
                        tracker.note(f);
                        if let Some(m) = marks {
                            marked |= m.of(u32::from(f));
                        }
                        buf.push(f);
                        each(f);
                        spans.push((to_u32(start), to_u32(end)));
                    }
                    Fold::Chars(fs) => {
                        for &f in fs {
                            tracker.word_gap_char(f, buf.len(), &mut gaps);
                            tracker.note(f);
                            if let Some(m) = marks {
                                marked |= m.of(u32::from(f));
                            }
                            buf.push(f);
                            each(f);
                            spans.push((to_u32(start), to_u32(end)));
                        }
                    }
                    Fold::Noise(n) => {
                        if is_link_mark(n) {
                            tracker.link_mark(n);
                        }
                        tracker.dropped(cp);
                    }
                    Fold::Invisible => tracker.dropped(cp),
                }
            }
            start = end;
        }
        out.text = buf;
        out.spans = spans;
        out.word_gaps = gaps;
        out.stats = tracker.stats;
        out.stats.marks = marked;
        out.stats.leet_pair = leet_pair;
    }

    /// The text view of `text` into `out`: folded, invisible characters dropped, noise kept
    /// (each whitespace character as one space).
    pub fn text_into(&self, text: &str, out: &mut View) {
        out.clear();
        for (start, c) in text.char_indices() {
            let end = start + c.len_utf8();
            match self.table.fold(c) {
                Fold::Char(f) | Fold::Noise(f) => out.push(f, start, end),
                Fold::Chars(fs) => {
                    for &f in fs {
                        out.push(f, start, end);
                    }
                }
                Fold::Invisible => {}
            }
        }
    }

    /// The compact form of `text` as a new string: what phrases are compiled as, and what
    /// `filter explain` prints. (Messages go through [`Normalizer::compact_into`] with a
    /// reused buffer instead.)
    #[must_use]
    pub fn compact(&self, text: &str) -> String {
        let mut view = View::default();
        self.compact_into(text, &mut view);
        view.text
    }

    /// Whether `c` folds to a Latin letter — the test behind the word-boundary rule.
    #[must_use]
    pub fn is_latin_letter(&self, c: char) -> bool {
        match self.table.fold(c) {
            Fold::Char(f) => f.is_ascii_alphabetic(),
            Fold::Chars(fs) => fs.iter().any(char::is_ascii_alphabetic),
            Fold::Noise(_) | Fold::Invisible => false,
        }
    }
}

/// A normalized view: the string and, for each of its characters, the byte span of the
/// original character(s) it came from. Buffers are reused: [`View::clear`] keeps the capacity.
///
/// The map is kept per character, not per byte: building it is on every message's path,
/// while translating a byte offset of the view into a character index (a count over the
/// view's prefix) is only needed for the rare hit.
#[derive(Clone, Debug, Default)]
pub struct View {
    text: String,
    /// Per character of `text`: the original span `(start, end)` it came from.
    spans: Vec<(u32, u32)>,
    /// Per character: its run length (collapsed view only; empty otherwise).
    runs: Vec<u32>,
    /// The Latin word gaps of a compact view (see [`View::word_gaps`]; empty for other views).
    word_gaps: Vec<u32>,
    stats: Stats,
    /// The last (byte offset, character index) translated: lookups count from there, so a
    /// message's hits, which come roughly in text order, cost O(text) together rather than
    /// O(text) each (a message of a thousand phrases must not take a million steps).
    cursor: Cell<(usize, usize)>,
}

/// Facts about a compact view gathered while it is built, so the filter can skip the views and
/// detectors a message cannot need without another pass over it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Characters in the view.
    pub chars: u32,
    /// Some ASCII letter directly repeats (`viiiagra`): the collapsed view could differ.
    pub latin_repeat: bool,
    /// Some ASCII digit.
    pub ascii_digit: bool,
    /// Some ASCII letter.
    pub ascii_alpha: bool,
    /// The longest run of digits and Chinese numerals.
    pub digit_run: u32,
    /// Some Chinese numeral (一, 两, 幺 …): without one the digit view is the compact view.
    pub numeral: bool,
    /// The [`CharMarks`] of the view's characters, ORed ([`Normalizer::compact_marked_into`]
    /// only; zero otherwise). Not updated by [`View::splice_into`]: a rewritten view's marks
    /// are unknown.
    pub marks: u8,
    /// Something a link, address or handle needs: a letter or digit after `.`/`。` (in any
    /// width) that follows one, or after `@`; `点`; or the letters `dot`.
    pub link_hint: bool,
    /// In the original text, an ASCII letter right next to a digit `0 1 3 4 5 7` or one of
    /// `$ ! | @` (either order): without one, no leetspeak can be read into the message (the
    /// filter's leet fold). Found in the same pass, on every original byte, dropped ones too.
    pub leet_pair: bool,
}

/// Per ASCII byte, for [`Stats::leet_pair`]: 1 for a letter, 2 for a character leetspeak
/// writes for one (`0 1 3 4 5 7 $ ! | @`), 0 otherwise. A pair is two neighbours whose classes
/// OR to 3.
const LEET_CLASS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() {
            1
        } else if matches!(c, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'$' | b'!' | b'|' | b'@') {
            2
        } else {
            0
        };
        b += 1;
    }
    t
};

impl View {
    /// Empties the view, keeping its buffers.
    pub fn clear(&mut self) {
        self.stats = Stats::default();
        self.cursor.set((0, 0));
        self.text.clear();
        self.spans.clear();
        self.runs.clear();
        self.word_gaps.clear();
    }

    /// Appends `c`, produced by the original bytes `start..end`.
    #[inline]
    pub fn push(&mut self, c: char, start: usize, end: usize) {
        self.text.push(c);
        self.spans.push((to_u32(start), to_u32(end)));
    }

    /// What [`Normalizer::compact_into`] found out while building this view (kept by
    /// [`View::splice_into`]; zero for other views).
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The normalized string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the view is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The original span of each character of the view, in order.
    #[must_use]
    pub fn char_spans(&self) -> &[(u32, u32)] {
        &self.spans
    }

    /// The Latin word gaps of a compact view, found while it was built: the byte offsets (in
    /// the view, increasing) of each ASCII letter or digit whose previous character in the
    /// view is also one, not both digits, with whitespace (`char::is_whitespace`) among the
    /// original characters the view dropped between them. Exactly the places where the
    /// model's word boundaries can go (see `policy::model::words`). Empty for every other view
    /// (digit, collapsed, text, and a view rewritten by [`View::splice_into`]).
    #[must_use]
    pub fn word_gaps(&self) -> &[u32] {
        &self.word_gaps
    }

    /// Index of the character starting at view byte `at`, counted from the last lookup.
    fn char_index(&self, at: usize) -> usize {
        if self.text.len() == self.spans.len() {
            return at; // all ASCII
        }
        let (byte, index) = self.cursor.get();
        let found = if at >= byte {
            index + self.text[byte..at].chars().count()
        } else {
            index - self.text[at..byte].chars().count()
        };
        self.cursor.set((at, found));
        found
    }

    /// The original byte span of the view's bytes `start..end` (`start < end`, both on char
    /// boundaries of the view). Always on char boundaries of the original.
    #[must_use]
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let first = self.char_index(start);
        let last = first + self.text[start..end].chars().count() - 1;
        (self.spans[first].0 as usize, self.spans[last].1 as usize)
    }

    /// Run lengths of the characters of view bytes `start..end` (collapsed view; 1 each
    /// elsewhere).
    pub fn runs(&self, start: usize, end: usize) -> impl Iterator<Item = u32> + '_ {
        let first = self.char_index(start);
        let n = self.text[start..end].chars().count();
        (first..first + n).map(|i| self.runs.get(i).copied().unwrap_or(1))
    }

    /// The digit view of `self` into `out`: Chinese numerals as ASCII digits, all else as is.
    /// (When [`Stats::numeral`] is false it equals `self`: callers can skip the copy.)
    pub fn digits_into(&self, out: &mut View) {
        out.clear();
        for (c, &(s, e)) in self.text.chars().zip(&self.spans) {
            out.text.push(chars::numeral_digit(c).unwrap_or(c));
            out.spans.push((s, e));
        }
    }

    /// The collapsed view of `self` into `out`: each run of one character becomes one
    /// character whose run length [`View::runs`] reports; its span covers the whole run.
    pub fn collapse_into(&self, out: &mut View) {
        out.clear();
        // Most characters do not repeat: stretches between runs are copied whole, and a
        // repeat is found by comparing a character's bytes with the bytes after it.
        let bytes = self.text.as_bytes();
        let (mut at, mut at_char) = (0, 0); // scanned up to here
        let (mut copied, mut copied_char) = (0, 0); // `out` holds everything before this
        while let Some(&lead) = bytes.get(at) {
            let len = utf8_len(lead);
            let mut end = at + len;
            let mut run = 1;
            // Byte by byte, not a slice comparison: that is a `memcmp` call per character.
            while bytes.get(end) == Some(&lead) && (1..len).all(|k| bytes.get(end + k) == bytes.get(at + k)) {
                end += len;
                run += 1;
            }
            if run > 1 {
                out.text.push_str(&self.text[copied..at + len]);
                out.spans.extend_from_slice(&self.spans[copied_char..at_char]);
                out.spans.push((self.spans[at_char].0, self.spans[at_char + run - 1].1));
                out.runs.resize(out.runs.len() + (at_char - copied_char), 1);
                out.runs.push(to_u32(run));
                (copied, copied_char) = (end, at_char + run);
            }
            (at, at_char) = (end, at_char + run);
        }
        out.text.push_str(&self.text[copied..]);
        out.spans.extend_from_slice(&self.spans[copied_char..]);
        out.runs.resize(out.spans.len(), 1);
    }

    /// Whether some character directly repeats (so the collapsed view differs).
    #[must_use]
    pub fn has_repeat(&self) -> bool {
        let mut prev = None;
        for c in self.text.chars() {
            if prev == Some(c) {
                return true;
            }
            prev = Some(c);
        }
        false
    }

    /// A copy of the view into `out` with each replacement `(start, end, id)` (view bytes, in
    /// order, not overlapping) done: bytes `start..end` become `with(id)`, all of it mapped
    /// to the original span of the replaced bytes. Used by the variants table.
    pub fn splice_into<'a>(&self, replacements: &[(usize, usize, u32)], with: impl Fn(u32) -> &'a str, out: &mut View) {
        out.clear();
        let mut numeral = false;
        let (mut at, mut at_char) = (0, 0);
        for &(start, end, id) in replacements {
            let start_char = at_char + self.text[at..start].chars().count();
            let end_char = start_char + self.text[start..end].chars().count();
            out.text.push_str(&self.text[at..start]);
            out.spans.extend_from_slice(&self.spans[at_char..start_char]);
            let span = (self.spans[start_char].0, self.spans[end_char - 1].1);
            for c in with(id).chars() {
                numeral |= chars::is_numeral(c);
                out.text.push(c);
                out.spans.push(span);
            }
            (at, at_char) = (end, end_char);
        }
        out.text.push_str(&self.text[at..]);
        out.spans.extend_from_slice(&self.spans[at_char..]);
        // The rewrite adds no ASCII digits or link marks (canonical spellings are words); the
        // facts still hold, except that a canonical spelling may hold a Chinese numeral.
        out.stats = self.stats;
        out.stats.numeral |= numeral;
    }
}

/// A class bit set per character, for [`Normalizer::compact_marked_into`]: a filter marks the
/// characters its small automata can start with (a variant spelling, an allow-list phrase, a
/// contact cue), and learns from [`Stats::marks`] which of them can match at all.
#[derive(Clone, Debug)]
pub struct CharMarks {
    /// Per ASCII character.
    ascii: [u8; 128],
    /// One bit per code point of the Basic Multilingual Plane: whether it has any mark (8 KiB,
    /// which stays in the first-level cache, unlike `bmp`; most characters have none).
    any: Box<[u64; 1024]>,
    /// Per code point of the Basic Multilingual Plane.
    bmp: Box<[u8; 0x1_0000]>,
    /// For every character beyond it.
    astral: u8,
    /// One bit per code point of the Basic Multilingual Plane: the fold table of `plain_for`
    /// maps it to itself, a plain character, and it has no mark — what most Chinese text is
    /// made of. For such a character the compact view's pass pushes the character as it is,
    /// after one load from this 8 KiB map (of which Chinese text touches the 2.6 KiB of the
    /// ideograph block) instead of a load from each level of the fold table (82 KiB for the
    /// ideographs) and one from `any`. See [`Normalizer::prepare_marks`].
    plain: Box<[u64; 1024]>,
    /// The fold table `plain` was computed from (`None`: not computed, every bit clear).
    plain_for: Option<Arc<FoldTable>>,
}

impl Default for CharMarks {
    fn default() -> Self {
        let bmp = vec![0u8; 0x1_0000]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| Box::new([0u8; 0x1_0000]));
        Self {
            ascii: [0; 128],
            any: Box::new([0; 1024]),
            bmp,
            astral: 0,
            plain: Box::new([0; 1024]),
            plain_for: None,
        }
    }
}

impl CharMarks {
    /// Adds `bits` to the marks of `c`.
    pub fn mark(&mut self, c: char, bits: u8) {
        let cp = u32::from(c) as usize;
        if let Some(m) = self.ascii.get_mut(cp) {
            *m |= bits;
        }
        match self.bmp.get_mut(cp) {
            Some(m) => {
                *m |= bits;
                if *m != 0 {
                    self.any[cp >> 6] |= 1 << (cp & 63);
                    // A marked character takes the general path.
                    self.plain[cp >> 6] &= !(1 << (cp & 63));
                }
            }
            None => self.astral |= bits,
        }
    }

    /// Adds `bits` to every character's marks.
    pub fn mark_all(&mut self, bits: u8) {
        for m in self.ascii.iter_mut().chain(self.bmp.iter_mut()) {
            *m |= bits;
        }
        if bits != 0 {
            self.any.fill(u64::MAX);
            self.plain.fill(0);
        }
        self.astral |= bits;
    }

    /// The map of plain unmarked characters (see [`CharMarks::plain`]) when it was computed
    /// for `table`.
    #[inline(always)]
    fn plain_for(&self, table: &Arc<FoldTable>) -> Option<&[u64; 1024]> {
        self.plain_for
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, table))
            .then_some(&*self.plain)
    }

    /// The marks of code point `cp`.
    #[inline(always)]
    fn of(&self, cp: u32) -> u8 {
        let cp = cp as usize;
        if let Some(&m) = self.ascii.get(cp) {
            return m;
        }
        match self.any.get(cp >> 6) {
            Some(&word) if word >> (cp & 63) & 1 == 0 => 0,
            Some(_) => self.bmp.get(cp).copied().unwrap_or(0),
            None => self.astral,
        }
    }
}

/// The [`Stats`] of a compact view as it is built, and the little state they need.
#[derive(Debug, Default)]
struct Tracker {
    stats: Stats,
    /// The two characters pushed last (`'\0'` at the start).
    prev2: char,
    prev: char,
    /// Length of the digit run ending at the last character.
    run: u32,
    /// A `.`/`。` after a letter or digit, or an `@`, waiting for a letter or digit to
    /// follow: then the message may hold a link, an address or a handle.
    pending_link: bool,
    /// Whitespace was dropped since the last character pushed (for [`View::word_gaps`]).
    gap_ws: bool,
}

/// What [`Tracker`] remembers as the last character pushed for a character it was not told:
/// one that is not [tracked](is_tracked). Every use of the previous characters compares them
/// with ASCII characters, which such a character never is, so any non-ASCII stand-in gives
/// the same statistics.
const UNTRACKED: char = '\u{FFFF}';

impl Tracker {
    /// A link mark was read (kept or skipped), after everything pushed so far: a link may
    /// follow when it is `@` or comes right after an ASCII letter or digit (the last character
    /// pushed is `prev`).
    #[inline]
    fn link_mark(&mut self, mark: char) {
        self.pending_link = mark == '@' || self.prev.is_ascii_alphanumeric();
    }

    /// An original character `cp` was dropped (noise, invisible): whitespace opens a gap.
    #[inline]
    fn dropped(&mut self, cp: u32) {
        if char::from_u32(cp).is_some_and(char::is_whitespace) {
            self.gap_ws = true;
        }
    }

    /// The ASCII `f` is about to be pushed at view byte `at`: records a word gap there (see
    /// [`View::word_gaps`]) when whitespace was dropped since the previous character and both
    /// are letters or digits, not both digits. Call before [`Tracker::note_ascii`], which
    /// moves `prev` on and closes the gap.
    #[inline]
    fn word_gap(&self, f: u8, at: usize, gaps: &mut Vec<u32>) {
        if self.gap_ws
            && f.is_ascii_alphanumeric()
            && self.prev.is_ascii_alphanumeric()
            && !(f.is_ascii_digit() && self.prev.is_ascii_digit())
        {
            gaps.push(to_u32(at));
        }
    }

    /// [`Tracker::word_gap`] for any character `f` about to be pushed.
    #[inline]
    fn word_gap_char(&self, f: char, at: usize, gaps: &mut Vec<u32>) {
        if let Ok(b) = u8::try_from(f)
            && b.is_ascii()
        {
            self.word_gap(b, at, gaps);
        }
    }

    /// `f` was pushed. ASCII goes to [`Tracker::note_ascii`]; what is left here is what only
    /// other characters can do (`点` hints at a link, numerals extend a digit run).
    #[inline]
    fn note(&mut self, f: char) {
        if let Ok(b) = u8::try_from(f)
            && b.is_ascii()
        {
            return self.note_ascii(b);
        }
        self.stats.chars += 1;
        self.gap_ws = false;
        self.stats.link_hint |= f == '点';
        if !is_link_mark(f) {
            self.pending_link = false;
        }
        if chars::is_numeral(f) {
            self.stats.numeral = true;
            self.run += 1;
            self.stats.digit_run = self.stats.digit_run.max(self.run);
        } else {
            self.run = 0;
        }
        (self.prev2, self.prev) = (self.prev, f);
    }

    /// [`Tracker::note`] for an ASCII `f` (`< 0x80`), without the tests for other characters.
    #[inline]
    fn note_ascii(&mut self, f: u8) {
        let c = char::from(f);
        self.stats.chars += 1;
        self.gap_ws = false;
        if f.is_ascii_alphanumeric() {
            self.stats.link_hint |= self.pending_link || (f == b't' && self.prev == 'o' && self.prev2 == 'd');
        }
        if f != b'.' && f != b'@' {
            self.pending_link = false;
        }
        if f.is_ascii_digit() {
            self.stats.ascii_digit = true;
            self.run += 1;
            self.stats.digit_run = self.stats.digit_run.max(self.run);
        } else {
            self.run = 0;
            if f.is_ascii_alphabetic() {
                self.stats.ascii_alpha = true;
                self.stats.latin_repeat |= c == self.prev;
            }
        }
        (self.prev2, self.prev) = (self.prev, c);
    }

    /// A character that is not [tracked](is_tracked) was pushed: what [`Tracker::note`] does
    /// for such a character, without the tests (see [`UNTRACKED`]).
    #[inline]
    fn plain(&mut self) {
        self.stats.chars += 1;
        self.gap_ws = false;
        self.pending_link = false;
        self.run = 0;
        (self.prev2, self.prev) = (self.prev, UNTRACKED);
    }
}

/// Whether [`Tracker::note`] does more for `f` than [`Tracker::plain`]: ASCII, numerals,
/// link marks and `点`. The fold table flags the characters that fold to one of these.
fn is_tracked(f: char) -> bool {
    f.is_ascii() || chars::is_numeral(f) || is_link_mark(f) || f == '点'
}

/// The length of the UTF-8 sequence that `lead` starts.
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0..=0x7F => 1,
        0x80..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The code point starting `bytes` (the rest of a `str`, at a char boundary) and its length
/// in bytes; `None` only at the end.
#[inline]
fn decode_utf8(bytes: &[u8]) -> Option<(u32, usize)> {
    let low = |b: u8| u32::from(b & 0x3F);
    match *bytes {
        [b0, ..] if b0 < 0x80 => Some((u32::from(b0), 1)),
        [b0, b1, ..] if b0 < 0xE0 => Some((u32::from(b0 & 0x1F) << 6 | low(b1), 2)),
        [b0, b1, b2, ..] if b0 < 0xF0 => Some((u32::from(b0 & 0x0F) << 12 | low(b1) << 6 | low(b2), 3)),
        [b0, b1, b2, b3, ..] => Some((u32::from(b0 & 0x07) << 18 | low(b1) << 12 | low(b2) << 6 | low(b3), 4)),
        _ => None,
    }
}

/// `.` `。` `｡` `@`: the marks a link, address or handle is built around.
fn is_link_mark(c: char) -> bool {
    matches!(c, '.' | '。' | '｡' | '@')
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
