//! Filter throughput against 1k, 10k and 50k-phrase dictionaries, next to raw aho-corasick
//! (contiguous NFA and DFA) over the same messages already normalized (and the NFA over the
//! original messages, and normalization alone); build time; memory.
//!
//! Run on one core: `taskset -c 1 cargo bench --bench filter`. The corpus and dictionaries
//! are generated from a fixed seed, so every run sees the same input; the corpus statistics
//! (messages, bytes, hit density) and memory figures are printed before the benchmarks.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qunguan::event::GroupId;
use qunguan::filter::{Automaton, Filter, FilterSpec, MatchMode, Mode, Phrase, RuleSettings, WordList};
use qunguan::normalize::{NormalizeOptions, Normalizer};

const SEED: u64 = 0x5eed_0003;
const MESSAGES: usize = 20_000;
const SIZES: [usize; 3] = [1_000, 10_000, 50_000];

/// SplitMix64: small, seeded, good enough for test data.
struct Rng(u64);

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
fn vocabulary(rng: &mut Rng) -> Vec<String> {
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
fn corpus(rng: &mut Rng, vocab: &[String]) -> Vec<String> {
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
fn dictionary(rng: &mut Rng, vocab: &[String], n: usize) -> Vec<String> {
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

fn spec(phrases: &[String], automaton: Automaton) -> FilterSpec {
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

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(SEED);
    let vocab = vocabulary(&mut rng);
    let messages = corpus(&mut rng, &vocab);
    let bytes: usize = messages.iter().map(String::len).sum();
    let started = Instant::now();
    let normalizer = Normalizer::new(NormalizeOptions::default());
    eprintln!(
        "fold table: built in {:?} (once per process), {} KiB",
        started.elapsed(),
        normalizer.table().heap_bytes() / 1024
    );
    let normalized: Vec<String> = messages.iter().map(|m| normalizer.compact(m)).collect();
    let group = GroupId::qq(1);
    eprintln!(
        "corpus: {} messages, {} bytes ({:.1} bytes/message), seed {SEED:#x}",
        messages.len(),
        bytes,
        bytes as f64 / messages.len() as f64
    );

    for &size in &SIZES {
        let phrases = dictionary(&mut Rng(SEED ^ size as u64), &vocab, size);
        let spec_nfa = spec(&phrases, Automaton::ContiguousNfa);

        // Load time (fold table already built) and resident size of the compiled set.
        let before = rss_kib();
        let started = Instant::now();
        let filter = Filter::build(&spec_nfa).expect("builds");
        let build = started.elapsed();
        let after = rss_kib();
        let flagged = messages.iter().filter(|m| filter.check(m, group).is_some()).count();
        let normalized_phrases: Vec<String> = phrases.iter().map(|p| normalizer.compact(p)).collect();
        let raw = |kind| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&normalized_phrases)
                .expect("builds")
        };
        let started = Instant::now();
        let nfa = raw(AhoCorasickKind::ContiguousNFA);
        let nfa_build = started.elapsed();
        let raw_hits: usize = normalized.iter().map(|m| nfa.find_overlapping_iter(m).count()).sum();
        let rss_dfa = rss_kib();
        let started = Instant::now();
        let dfa = raw(AhoCorasickKind::DFA);
        let dfa_build = started.elapsed();
        eprintln!(
            "{size} phrases: filter build {build:?}, RSS +{} KiB; {flagged} of {} messages flagged ({:.3} raw hits/message); \
             raw NFA build {nfa_build:?}, {} KiB heap; raw DFA build {dfa_build:?}, {} KiB heap, RSS +{} KiB",
            after.saturating_sub(before),
            messages.len(),
            raw_hits as f64 / messages.len() as f64,
            nfa.memory_usage() / 1024,
            dfa.memory_usage() / 1024,
            rss_kib().saturating_sub(rss_dfa),
        );

        let mut g = c.benchmark_group(format!("{size}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        g.sample_size(20).measurement_time(Duration::from_secs(4));
        g.bench_function(BenchmarkId::new("filter_check", size), |b| {
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    n += usize::from(filter.check(black_box(m), group).is_some());
                }
                n
            });
        });
        g.bench_function(BenchmarkId::new("raw_nfa_prenormalized", size), |b| {
            b.iter(|| {
                normalized
                    .iter()
                    .map(|m| nfa.find_overlapping_iter(black_box(m)).count())
                    .sum::<usize>()
            });
        });
        g.bench_function(BenchmarkId::new("raw_nfa_original", size), |b| {
            b.iter(|| {
                messages
                    .iter()
                    .map(|m| nfa.find_overlapping_iter(black_box(m)).count())
                    .sum::<usize>()
            });
        });
        g.bench_function(BenchmarkId::new("normalize_only", size), |b| {
            let mut view = qunguan::normalize::View::default();
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    normalizer.compact_into(black_box(m), &mut view);
                    n += view.as_str().len();
                }
                n
            });
        });
        g.bench_function(BenchmarkId::new("raw_dfa_prenormalized", size), |b| {
            b.iter(|| {
                normalized
                    .iter()
                    .map(|m| dfa.find_overlapping_iter(black_box(m)).count())
                    .sum::<usize>()
            });
        });
        g.finish();
        drop(dfa);

        let mut g = c.benchmark_group(format!("{size}_build"));
        g.sample_size(10).measurement_time(Duration::from_secs(5));
        g.bench_function(BenchmarkId::new("filter_build", size), |b| {
            b.iter(|| Filter::build(black_box(&spec_nfa)).expect("builds"));
        });
        g.finish();
    }
}

criterion_group!(filter, benches);
criterion_main!(filter);
