//! The normalizer's specification, one row per evasion technique.

use proptest::prelude::*;

use super::*;

fn compact(text: &str) -> String {
    Normalizer::new(NormalizeOptions::default()).compact(text)
}

/// (input, compact view): every row is an evasion the filter must see through.
const COMPACT: &[(&str, &str)] = &[
    // separators between the characters of a phrase
    ("加 微-信", "加微信"),
    ("加.V.信", "加v信"),
    ("微\t信", "微信"),
    ("代\r\n开", "代开"),
    ("网　赚", "网赚"),
    ("网|赚|项|目", "网赚项目"),
    ("博【彩】", "博彩"),
    ("代🔥开🔥发🔥票", "代开发票"),
    // zero-width, format and combining characters
    ("代\u{200B}开", "代开"),
    ("网\u{200C}赌", "网赌"),
    ("vi\u{00AD}agra", "viagra"),
    ("a\u{FEFF}b\u{2060}c", "abc"),
    ("v\u{0336}i\u{0336}a\u{0336}", "via"),
    ("f\u{0489}u\u{0489}c\u{0489}k\u{0489}", "fuck"),
    // full-width, case, styled letters
    ("ＱＱ１２３", "qq123"),
    ("ｖｘ：ａｂｃ", "vxabc"),
    ("ViAgRa", "viagra"),
    ("𝐯𝐢𝐚𝐠𝐫𝐚", "viagra"),
    ("Ⓥⓘⓐⓖⓡⓐ", "viagra"),
    ("🅥🅧", "vx"),
    // styled digits
    ("①③⑧", "138"),
    ("❶❸❾", "139"),
    ("➀➁", "12"),
    ("⑴⑵", "12"),
    ("⒈⒉", "12"),
    ("⑩", "10"),
    ("⓵⓿", "10"),
    ("¹²³", "123"),
    ("㊀㊁", "一二"),
    // traditional → simplified
    ("代開發票", "代开发票"),
    ("兼職日結", "兼职日结"),
    ("刷單", "刷单"),
    // homoglyphs and accents
    ("vіаgrа", "viagra"),
    ("ѕех", "sex"),
    ("ϲiаlis", "cialis"),
    ("ᴍᴇꜱꜱᴀɢᴇ ᴍᴇ", "messageme"),
    ("café", "cafe"),
    ("ÀÉÎ", "aei"),
    // compatibility expansions
    ("Ⅻ", "xii"),
    ("ﬁ", "fi"),
    // things that must survive unchanged
    ("今天天气不错", "今天天气不错"),
    ("下三滥", "下三滥"),
    ("ひらがなカタカナ한국어", "ひらがなカタカナ한국어"),
    ("", ""),
];

#[test]
fn compact_view_table() {
    for (input, want) in COMPACT {
        assert_eq!(compact(input), *want, "input {input:?}");
    }
}

#[test]
fn text_view_keeps_noise_but_folds_it() {
    let n = Normalizer::new(NormalizeOptions::default());
    let mut view = View::default();
    for (input, want) in [
        ("ＷＷＷ．Fuli．VIP", "www.fuli.vip"),
        ("a\u{200B}b c\td", "ab c d"),
        ("t。me", "t。me"),
        ("@Crypto_King", "@crypto_king"),
    ] {
        n.text_into(input, &mut view);
        assert_eq!(view.as_str(), want, "input {input:?}");
    }
}

#[test]
fn digit_view_reads_chinese_numerals() {
    let n = Normalizer::new(NormalizeOptions::default());
    let (mut compact, mut digits) = (View::default(), View::default());
    for (input, want) in [
        ("一三八一二三四五六七八", "13812345678"),
        ("壹贰叁肆伍陆柒捌玖", "123456789"),
        ("幺三九 两两", "13922"),
        ("1三8一2", "13812"),
        ("群号㊀㊁㊂", "群号123"),
    ] {
        n.compact_into(input, &mut compact);
        compact.digits_into(&mut digits);
        assert_eq!(digits.as_str(), want, "input {input:?}");
    }
}

#[test]
fn spans_map_back_to_the_original_text() {
    let n = Normalizer::new(NormalizeOptions::default());
    let mut view = View::default();
    let text = "请加 微-信：ｖｘ⑩";
    n.compact_into(text, &mut view);
    assert_eq!(view.as_str(), "请加微信vx10");
    let at = view.as_str().find("加微信").expect("found");
    let (s, e) = view.original_span(at, at + "加微信".len());
    assert_eq!(&text[s..e], "加 微-信");
    let at = view.as_str().find('1').expect("found");
    let (s, e) = view.original_span(at, at + 2);
    assert_eq!(&text[s..e], "⑩", "an expansion maps to its whole source character");
}

#[test]
fn collapsed_view_counts_runs() {
    let n = Normalizer::new(NormalizeOptions::default());
    let (mut view, mut collapsed) = (View::default(), View::default());
    let text = "viiiagra 谢谢谢";
    n.compact_into(text, &mut view);
    assert!(view.has_repeat());
    view.collapse_into(&mut collapsed);
    assert_eq!(collapsed.as_str(), "viagra谢");
    assert_eq!(collapsed.runs(0, 3).collect::<Vec<_>>(), [1, 3, 1]);
    let at = collapsed.as_str().find('谢').expect("found");
    assert_eq!(collapsed.runs(at, at + 3).collect::<Vec<_>>(), [3]);
    let (s, e) = collapsed.original_span(0, 3);
    assert_eq!(&text[s..e], "viiia");
}

#[test]
fn each_step_can_be_switched_off() {
    let off = |f: fn(&mut NormalizeOptions)| {
        let mut o = NormalizeOptions::default();
        f(&mut o);
        Normalizer::new(o)
    };
    assert_eq!(off(|o| o.nfkc = false).compact("ＱＱ①"), "ｑｑ①");
    assert_eq!(off(|o| o.case_fold = false).compact("QQ"), "QQ");
    assert_eq!(off(|o| o.traditional = false).compact("開發"), "開發");
    assert_eq!(off(|o| o.invisible = false).compact("a\u{200B}b"), "a\u{200B}b");
    assert_eq!(off(|o| o.skip_noise = false).compact("加 微"), "加 微");
    assert_eq!(off(|o| o.homoglyphs = false).compact("ѕ"), "ѕ");
}

#[test]
fn latin_letters_are_recognised_after_folding() {
    let n = Normalizer::new(NormalizeOptions::default());
    for (c, want) in [
        ('a', true),
        ('Ｚ', true),
        ('а', true),
        ('1', false),
        ('微', false),
        (' ', false),
    ] {
        assert_eq!(n.is_latin_letter(c), want, "{c:?}");
    }
}

fn noise() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        ' ', '.', '-', '\t', '\n', '_', '|', '*', '@', '#', '　', '，', '。', '【', '】', '\u{200B}', '\u{200D}',
        '\u{FEFF}', '\u{00AD}', '\u{2060}', '🔥', '😀', '🎲', '\u{0336}',
    ])
}

proptest! {
    /// Normalizing normalized text changes nothing.
    #[test]
    fn normalization_is_idempotent(text in "\\PC{0,40}") {
        let once = compact(&text);
        prop_assert_eq!(compact(&once), once.clone());
    }

    /// Idempotent on the characters spam actually uses, too (the generic strategy rarely
    /// draws them).
    #[test]
    fn normalization_is_idempotent_on_spam_alphabet(
        text in "[加微信代开發票ＱＱｖｘ①③⑧❶⑴⒈㊀ⅫＶ𝐯Ⓥ🅥аеѕіϲé開發單 .\u{200B}\u{0336}0-9a-zA-Z]{0,30}"
    ) {
        let once = compact(&text);
        prop_assert_eq!(compact(&once), once.clone());
    }

    /// Every byte of every view maps to a span on char boundaries of the original.
    #[test]
    fn spans_lie_on_char_boundaries(text in "\\PC{0,40}") {
        let n = Normalizer::new(NormalizeOptions::default());
        let mut view = View::default();
        n.compact_into(&text, &mut view);
        for (i, c) in view.as_str().char_indices() {
            let (s, e) = view.original_span(i, i + c.len_utf8());
            prop_assert!(s < e && e <= text.len());
            prop_assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
        }
    }

    /// Noise inserted anywhere between the characters of a phrase disappears.
    #[test]
    fn inserted_noise_disappears(gaps in prop::collection::vec(prop::collection::vec(noise(), 0..4), 5)) {
        let phrase: Vec<char> = "代开发票x".chars().collect();
        let mut text = String::new();
        for (c, gap) in phrase.iter().zip(&gaps) {
            text.push(*c);
            text.extend(gap);
        }
        prop_assert_eq!(compact(&text), "代开发票x");
    }
}

/// The compact view by its definition: one [`FoldTable::fold`] per character, each statistic
/// computed on its own over the finished view. [`Normalizer::compact_into`] takes fast paths
/// (ASCII table, plain characters); this is what they must agree with.
fn compact_by_definition(n: &Normalizer, text: &str) -> (String, Vec<(u32, u32)>, Stats) {
    let mut out = String::new();
    let mut spans = Vec::new();
    // Per kept character: whether a link mark was read (kept or skipped) since the one before.
    let mut marks_before: Vec<Option<(char, bool)>> = Vec::new();
    let mut mark = None;
    let is_mark = |c: char| matches!(c, '.' | '。' | '｡' | '@');
    let after_alnum = |s: &str| s.chars().next_back().is_some_and(|p| p.is_ascii_alphanumeric());
    for (start, c) in text.char_indices() {
        let end = (start + c.len_utf8()) as u32;
        let kept: Vec<char> = match n.table().fold(c) {
            Fold::Char(f) => {
                if is_mark(f) {
                    mark = Some((f, after_alnum(&out)));
                }
                vec![f]
            }
            Fold::Chars(fs) => fs.to_vec(),
            Fold::Noise(m) => {
                if is_mark(m) && (n.options().skip_noise || !c.is_ascii()) {
                    mark = Some((m, after_alnum(&out)));
                }
                vec![]
            }
            Fold::Invisible => vec![],
        };
        // The ASCII table drops an ASCII character that does not fold to one ASCII character.
        let kept = if c.is_ascii() && !matches!(kept.as_slice(), [f] if f.is_ascii() && *f != '\0') {
            vec![]
        } else {
            kept
        };
        for f in kept {
            out.push(f);
            spans.push((start as u32, end));
            marks_before.push(mark);
            if !is_mark(f) {
                mark = None;
            }
        }
    }
    let chars: Vec<char> = out.chars().collect();
    let mut stats = Stats {
        chars: chars.len() as u32,
        ..Stats::default()
    };
    let mut run = 0;
    for (i, &f) in chars.iter().enumerate() {
        let prev = |k: usize| if i >= k { chars[i - k] } else { '\0' };
        let numeral = f.is_ascii_digit() || (!f.is_ascii() && chars::is_numeral(f));
        run = if numeral { run + 1 } else { 0 };
        stats.digit_run = stats.digit_run.max(run);
        stats.ascii_digit |= f.is_ascii_digit();
        stats.numeral |= !f.is_ascii() && chars::is_numeral(f);
        stats.ascii_alpha |= f.is_ascii_alphabetic();
        stats.latin_repeat |= f.is_ascii_alphabetic() && f == prev(1);
        let pending = matches!(marks_before[i], Some((m, alnum)) if m == '@' || alnum);
        stats.link_hint |= if f.is_ascii_alphanumeric() {
            pending || (f == 't' && prev(1) == 'o' && prev(2) == 'd')
        } else {
            f == '点'
        };
    }
    // An ASCII letter next to a leet digit or symbol, byte by byte over the original text.
    let leet = |b: u8| matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'$' | b'!' | b'|' | b'@');
    stats.leet_pair = text
        .as_bytes()
        .windows(2)
        .any(|w| (w[0].is_ascii_alphabetic() && leet(w[1])) || (leet(w[0]) && w[1].is_ascii_alphabetic()));
    (out, spans, stats)
}

/// Characters where the fast paths and the general path meet: CJK (plain), numerals, link
/// marks in several widths, `点`, `dot`, expansions, full-width and styled forms, noise,
/// invisible characters.
const MIXED: &str = "[加微信代开发票網賭一二三两壹幺点dotDOT.。｡@＠．a-zA-Z0-9ａ-ｚＡ-Ｚ０-９①⑩Ⅻ㊀⒈𝐯é \\-_，🔥$!|\u{200B}\u{0336}]{0,40}";

proptest! {
    /// The fast paths of `compact_into` build the view its definition describes: text, spans
    /// and statistics, with every option set that changes the table.
    #[test]
    fn compact_into_agrees_with_the_definition(text in prop_oneof![MIXED, "\\PC{0,40}"], skip_noise in any::<bool>()) {
        let n = Normalizer::new(NormalizeOptions { skip_noise, ..NormalizeOptions::default() });
        let mut view = View::default();
        n.compact_into(&text, &mut view);
        let (want, spans, stats) = compact_by_definition(&n, &text);
        prop_assert_eq!(view.as_str(), want.as_str());
        prop_assert_eq!(view.char_spans(), spans.as_slice());
        prop_assert_eq!(view.stats(), stats);
    }
}

proptest! {
    /// `collapse_into` (with its all-ASCII path) makes each run of one character one
    /// character, spanning the run, with the run's length.
    #[test]
    fn collapse_into_agrees_with_the_definition(text in prop_oneof!["[a-cA-C1 .]{0,30}", MIXED]) {
        let n = Normalizer::new(NormalizeOptions::default());
        let (mut view, mut collapsed) = (View::default(), View::default());
        n.compact_into(&text, &mut view);
        view.collapse_into(&mut collapsed);
        let mut want: Vec<(char, (u32, u32), u32)> = Vec::new();
        for (c, &span) in view.as_str().chars().zip(view.char_spans()) {
            match want.last_mut() {
                Some((last, run_span, run)) if *last == c => {
                    run_span.1 = span.1;
                    *run += 1;
                }
                _ => want.push((c, span, 1)),
            }
        }
        let got_text: String = want.iter().map(|w| w.0).collect();
        let got_spans: Vec<(u32, u32)> = want.iter().map(|w| w.1).collect();
        let got_runs: Vec<u32> = want.iter().map(|w| w.2).collect();
        prop_assert_eq!(collapsed.as_str(), got_text.as_str());
        prop_assert_eq!(collapsed.char_spans(), got_spans.as_slice());
        prop_assert_eq!(collapsed.runs(0, collapsed.as_str().len()).collect::<Vec<_>>(), got_runs);
    }

    /// Without a Chinese numeral (`Stats::numeral`), the digit view is the compact view, so
    /// the detectors may use the compact view instead.
    #[test]
    fn the_digit_view_differs_only_with_a_numeral(text in MIXED) {
        let n = Normalizer::new(NormalizeOptions::default());
        let (mut view, mut digits) = (View::default(), View::default());
        n.compact_into(&text, &mut view);
        view.digits_into(&mut digits);
        let same = digits.as_str() == view.as_str() && digits.char_spans() == view.char_spans();
        prop_assert_eq!(same, !view.stats().numeral);
    }
}

/// Every message of the repository's corpora (`corpus/train`, `corpus/eval`, `corpus/check`:
/// the second column of each `label<TAB>text` row) goes through `compact_into`'s fast paths to
/// the view its definition describes — text, spans and statistics, with noise skipped or kept
/// — so the cost cuts of issue 12 §6 cannot change what the filter and the model read.
#[test]
fn compact_into_agrees_with_the_definition_on_the_corpora() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut texts = Vec::new();
    for split in ["train", "eval", "check"] {
        for class in ["spam", "ham"] {
            for entry in std::fs::read_dir(root.join(split).join(class))
                .into_iter()
                .flatten()
                .flatten()
            {
                let Ok(file) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                for line in file.lines().filter(|l| !l.starts_with('#')) {
                    if let Some(body) = line.split('\t').nth(1) {
                        texts.push(body.replace("\\n", "\n").replace("\\t", "\t"));
                    }
                }
            }
        }
    }
    assert!(texts.len() > 10_000, "only {} corpus messages", texts.len());
    for skip_noise in [true, false] {
        let n = Normalizer::new(NormalizeOptions {
            skip_noise,
            ..NormalizeOptions::default()
        });
        let mut view = View::default();
        for text in &texts {
            n.compact_into(text, &mut view);
            let (want, spans, stats) = compact_by_definition(&n, text);
            assert_eq!(view.as_str(), want, "{text:?}");
            assert_eq!(view.char_spans(), spans.as_slice(), "{text:?}");
            assert_eq!(view.stats(), stats, "{text:?}");
        }
    }
}

proptest! {
    /// `compact_marked_into` builds the same view as `compact_into`, and its `Stats::marks`
    /// are the marks of the view's characters ORed together; `compact_marked_each_into`
    /// builds that view too and hands over exactly its characters, in order.
    #[test]
    fn marked_views_are_the_views_with_their_characters_marks(text in prop_oneof![MIXED, "\\PC{0,40}"]) {
        let n = Normalizer::new(NormalizeOptions::default());
        let mut marks = CharMarks::default();
        for (c, bit) in [('v', 1), ('微', 2), ('1', 4), ('a', 8), ('开', 16), ('.', 32), ('𝐯', 64)] {
            marks.mark(c, bit);
        }
        // With the map of plain unmarked characters, so the pass's copy path runs too.
        n.prepare_marks(&mut marks);
        let (mut plain, mut marked) = (View::default(), View::default());
        n.compact_into(&text, &mut plain);
        n.compact_marked_into(&text, &marks, &mut marked);
        prop_assert_eq!(plain.as_str(), marked.as_str());
        prop_assert_eq!(plain.char_spans(), marked.char_spans());
        let want = plain.as_str().chars().fold(0, |acc, c| acc | marks.of(u32::from(c)));
        prop_assert_eq!(marked.stats(), Stats { marks: want, ..plain.stats() });
        let (mut each, mut seen) = (View::default(), String::new());
        n.compact_marked_each_into(&text, &marks, &mut each, |c| seen.push(c));
        prop_assert_eq!(each.as_str(), marked.as_str());
        prop_assert_eq!(each.char_spans(), marked.char_spans());
        prop_assert_eq!(each.stats(), marked.stats());
        prop_assert_eq!(seen.as_str(), marked.as_str());
    }
}

/// Characters that fold to themselves share one all-zero block of the fold table, so it takes
/// about 0.3 MB instead of 4.5 MB (one 1 KiB block per 256 code points), and lookups still
/// give each character its fold (the other tests of this module check the folds in detail).
#[test]
fn the_fold_table_shares_the_blocks_of_characters_that_fold_to_themselves() {
    for opts in [
        NormalizeOptions::default(),
        NormalizeOptions {
            case_fold: false,
            ..NormalizeOptions::default()
        },
    ] {
        let n = Normalizer::new(opts);
        let bytes = n.table().heap_bytes();
        assert!(bytes < 512 * 1024, "{bytes} bytes");
        // Identity: plain characters of every plane, unassigned ones included.
        for c in [
            '中',
            '\u{3400}',
            '\u{2_0000}',
            '\u{3_1350}',
            '\u{E_0100}',
            '\u{10_FFFD}',
        ] {
            let folded = n.table().fold(c);
            assert!(matches!(folded, Fold::Char(_) | Fold::Invisible), "{c:?}: {folded:?}");
        }
        assert_eq!(n.table().fold('中'), Fold::Char('中'));
        assert_eq!(n.table().fold('\u{3_1350}'), Fold::Char('\u{3_1350}'));
    }
    let n = Normalizer::new(NormalizeOptions::default());
    assert_eq!(n.table().fold('Ａ'), Fold::Char('a'));
    assert_eq!(n.table().fold('⑩'), Fold::Chars(&['1', '0']));
    assert_eq!(n.table().fold('\u{200B}'), Fold::Invisible);
    assert!(matches!(n.table().fold('，'), Fold::Noise(_)));
    assert_eq!(n.compact("加ｖ信 ⑩ 號").as_str(), "加v信10号");
}
