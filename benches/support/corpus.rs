//! The filter benchmark's input, generated from a fixed seed: short chat messages and
//! dictionaries of any size (and the resident-size probe both measurements use). Shared by `benches/filter.rs` (wall time) and
//! `examples/filter_profile.rs` (instruction counts under callgrind), so both measure the same
//! thing.

use std::path::PathBuf;

use qunguan::policy::filter::{Automaton, FilterSpec, MatchMode, Mode, Phrase, RuleSettings, WordList};

/// The seed of every generator here.
pub const SEED: u64 = 0x5eed_0003;
/// Messages in the corpus.
pub const MESSAGES: usize = 20_000;

/// SplitMix64: small, seeded, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// exp(N(mu, sigma)), Box-Muller.
    fn log_normal(&mut self, mu: f64, sigma: f64) -> f64 {
        let (u1, u2) = (self.unit().max(f64::MIN_POSITIVE), self.unit());
        let n = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (mu + sigma * n).exp()
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// Zipf-like: index `i` drawn with weight ~ 1/(i+1), by inverting the harmonic CDF
    /// approximately (exp of a uniform over ln n).
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let i = ((n as f64 + 1.0).ln() * u).exp() - 1.0;
        (i as usize).min(n - 1)
    }
}

const ENGLISH: &[&str] = &[
    "the",
    "build",
    "is",
    "green",
    "again",
    "lunch",
    "anyone",
    "thanks",
    "for",
    "link",
    "review",
    "my",
    "pull",
    "request",
    "meeting",
    "could",
    "have",
    "been",
    "email",
    "nice",
    "weather",
    "today",
    "editor",
    "docs",
    "shared",
    "folder",
    "late",
    "traffic",
    "report",
    "sync",
    "works",
    "machine",
    "look",
    "after",
    "dinner",
    "great",
    "job",
    "demo",
    "meetup",
    "next",
    "week",
    "server",
    "slow",
    "agree",
    "password",
    "welcome",
    "coffee",
    "tests",
    "pass",
    "locally",
    "explain",
    "step",
    "hilarious",
    "night",
    "weekly",
    "template",
    "release",
    "parser",
    "bug",
    "class",
];

const NOISE: &[&str] = &[
    "，", "。", "！", "？", " ", "、", "~", "…", "😂", "👍", "🔥", "[图片]", "：", "（", "）", "!", "?", ".",
];

const SPAM: &[&str] = &[
    "加微信",
    "代 开 发 票",
    "兼職刷單",
    "加V信abc12345",
    "网-赌",
    "ｑｑ１２３４５６７８",
    "免费领取",
    "viiiagra",
    "t.me/joinchat/abc123",
    "博🎲彩",
];

/// A vocabulary of Chinese "words" (1–3 characters from a fixed pool of common-block
/// ideographs), Zipf-ordered.
pub fn vocabulary(rng: &mut Rng) -> Vec<String> {
    let pool: Vec<char> = (0..2_500)
        .map(|_| char::from_u32(0x4E00 + (rng.below(0x51A5)) as u32).expect("CJK"))
        .collect();
    (0..8_000)
        .map(|_| {
            let len = 1 + rng.below(3);
            (0..len).map(|_| pool[rng.zipf(pool.len())]).collect()
        })
        .collect()
}

/// Short chat messages: a log-normal number of words (median about 5, as in chat logs: most
/// messages are a few words, a few are long), 10–200 characters, mostly Chinese with English,
/// numbers, punctuation and emoji; 2 % carry an evaded spam phrase.
pub fn corpus(rng: &mut Rng, vocab: &[String]) -> Vec<String> {
    (0..MESSAGES)
        .map(|_| {
            let words = rng.log_normal(1.6, 0.8).clamp(1.0, 120.0) as usize;
            let english = rng.chance(18);
            let mut m = String::new();
            for _ in 0..words {
                if english {
                    m.push_str(ENGLISH[rng.below(ENGLISH.len())]);
                    m.push(' ');
                } else {
                    m.push_str(&vocab[rng.zipf(vocab.len())]);
                }
                match rng.below(100) {
                    0..=11 => m.push_str(NOISE[rng.below(NOISE.len())]),
                    12..=14 => m.push_str(&rng.below(1_000).to_string()),
                    15..=16 => m.push_str(ENGLISH[rng.below(ENGLISH.len())]),
                    _ => {}
                }
            }
            if rng.chance(2) {
                m.push_str(SPAM[rng.below(SPAM.len())]);
            }
            while m.chars().count() < 10 {
                m.push_str(&vocab[rng.zipf(vocab.len())]);
            }
            m.chars().take(200).collect()
        })
        .collect()
}

/// A dictionary of `n` phrases: a few real ad terms plus two-word concatenations of the
/// rarer half of the vocabulary (terms that seldom occur in benign chat, as a real list's do)
/// and a few English words with numbers, deduplicated.
pub fn dictionary(rng: &mut Rng, vocab: &[String], n: usize) -> Vec<String> {
    let seed_terms = [
        "加微信",
        "代开发票",
        "刷单",
        "网赌",
        "博彩",
        "免费领取",
        "viagra",
        "casino",
        "约炮",
        "冰毒",
    ];
    let mut out: Vec<String> = seed_terms.iter().map(|s| (*s).to_owned()).collect();
    let mut seen: std::collections::HashSet<String> = out.iter().cloned().collect();
    while out.len() < n {
        let phrase = if rng.chance(5) {
            format!("{}{}", ENGLISH[rng.below(ENGLISH.len())], rng.below(100))
        } else {
            let rare = |rng: &mut Rng| &vocab[vocab.len() / 2 + rng.below(vocab.len() / 2)];
            format!("{}{}", rare(rng), rare(rng))
        };
        if phrase.chars().count() >= 3 && seen.insert(phrase.clone()) {
            out.push(phrase);
        }
    }
    out
}

/// A spec of one hard word list, `bench`, holding `phrases` (with the built-in detectors and
/// nothing else): the dictionary alone.
pub fn spec(phrases: &[String], automaton: Automaton) -> FilterSpec {
    let file = PathBuf::from("bench.txt");
    FilterSpec {
        lists: vec![WordList {
            rule: "bench".into(),
            phrases: phrases
                .iter()
                .enumerate()
                .map(|(i, p)| Phrase {
                    text: p.clone(),
                    file: file.clone(),
                    line: i + 1,
                })
                .collect(),
            settings: RuleSettings {
                mode: Mode::Hard,
                matching: MatchMode::Substring,
                ..RuleSettings::default()
            },
        }],
        automaton,
        ..FilterSpec::default()
    }
}

/// A copy of the shipped `rules/` folder (default word lists, cue modes, allow list,
/// variants table) with `phrases` added as the hard word list `bench.txt`: what a daemon with
/// the default rules and a large list of its operator's own runs.
pub fn shipped_rules_with(phrases: &[String]) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(shipped)? {
        let path = entry?.path();
        if let Some(name) = path.file_name()
            && path.is_file()
        {
            std::fs::copy(&path, dir.path().join(name))?;
        }
    }
    let mut list = phrases.join("\n");
    list.push('\n');
    std::fs::write(dir.path().join("bench.txt"), list)?;
    Ok(dir)
}

/// This process's resident set size (Linux), in KiB; 0 where unknown.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
