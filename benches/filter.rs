//! Filter throughput against 1k, 10k and 50k-phrase dictionaries (with the default double
//! array and with aho-corasick's contiguous NFA; the rules alone, and `Filter::judge` with
//! the shipped rules and model), next to raw Aho-Corasick — the double array,
//! aho-corasick's contiguous NFA and DFA — over the same messages already normalized (and the
//! NFA over the original messages, and normalization alone); build and load time; memory.
//!
//! ```sh
//! cargo bench --bench filter --no-run                            # build (prints the binary)
//! taskset -c 1 target/release/deps/filter-<hash> --bench         # run on one core
//! FILTER_BENCH_SIZES=10000 taskset -c 1 target/release/deps/filter-<hash> --bench
//! ```
//!
//! The corpus and dictionaries are generated from a fixed seed (`support/corpus.rs`), so
//! every run sees the same input; the corpus statistics (messages, bytes, hit density) and
//! memory figures are printed before the benchmarks. `examples/filter_profile.rs` runs the
//! same input once, for instruction counts under callgrind.

#[path = "support/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use corpus::{Rng, SEED};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qunguan::config::rules::Rules;
use qunguan::domain::event::GroupId;
use qunguan::policy::filter::{Automaton, Filter, Trust};
use qunguan::policy::normalize::{NormalizeOptions, Normalizer};

/// Dictionary sizes; `FILTER_BENCH_SIZES=1000,50000` picks some.
fn sizes() -> Vec<usize> {
    match std::env::var("FILTER_BENCH_SIZES") {
        Ok(list) => list.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => vec![1_000, 10_000, 50_000],
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(SEED);
    let vocab = corpus::vocabulary(&mut rng);
    let messages = corpus::corpus(&mut rng, &vocab);
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

    for size in sizes() {
        let phrases = corpus::dictionary(&mut Rng(SEED ^ size as u64), &vocab, size);
        let spec = corpus::spec(&phrases, Automaton::default());
        let spec_nfa = corpus::spec(&phrases, Automaton::ContiguousNfa);
        let shipped_dir = corpus::shipped_rules_with(&phrases).expect("writes the rules folder");

        // Load time (fold table already built) and resident size of the compiled set.
        let before = corpus::rss_kib();
        let started = Instant::now();
        let filter = Filter::build(&spec).expect("builds");
        let build = started.elapsed();
        let after = corpus::rss_kib();
        let filter_nfa = Filter::build(&spec_nfa).expect("builds");
        let flagged = messages.iter().filter(|m| filter.check(m, group).is_some()).count();
        let started = Instant::now();
        let shipped = Rules::load(shipped_dir.path()).expect("loads").filter;
        let shipped_load = started.elapsed();
        let shipped_flagged = messages.iter().filter(|m| shipped.check(m, group).is_some()).count();
        let normalized_phrases: Vec<String> = phrases.iter().map(|p| normalizer.compact(p)).collect();
        let raw = |kind| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&normalized_phrases)
                .expect("builds")
        };
        let started = Instant::now();
        let daac: daachorse::CharwiseDoubleArrayAhoCorasick<u32> =
            daachorse::CharwiseDoubleArrayAhoCorasickBuilder::new()
                .build(&normalized_phrases)
                .expect("builds");
        let daac_build = started.elapsed();
        let started = Instant::now();
        let nfa = raw(AhoCorasickKind::ContiguousNFA);
        let nfa_build = started.elapsed();
        let raw_hits: usize = normalized.iter().map(|m| nfa.find_overlapping_iter(m).count()).sum();
        let rss_dfa = corpus::rss_kib();
        let started = Instant::now();
        let dfa = raw(AhoCorasickKind::DFA);
        let dfa_build = started.elapsed();
        eprintln!(
            "{size} phrases: filter build {build:?}, RSS +{} KiB; {flagged} of {} messages flagged ({:.3} raw hits/message); \
             with the shipped rules: loaded in {shipped_load:?}, {shipped_flagged} flagged; \
             raw double array build {daac_build:?}, {} KiB heap; raw NFA build {nfa_build:?}, {} KiB heap; raw DFA build {dfa_build:?}, {} KiB heap, RSS +{} KiB",
            after.saturating_sub(before),
            messages.len(),
            raw_hits as f64 / messages.len() as f64,
            daac.heap_bytes() / 1024,
            nfa.memory_usage() / 1024,
            dfa.memory_usage() / 1024,
            corpus::rss_kib().saturating_sub(rss_dfa),
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
        g.bench_function(BenchmarkId::new("filter_check_nfa", size), |b| {
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    n += usize::from(filter_nfa.check(black_box(m), group).is_some());
                }
                n
            });
        });
        g.bench_function(BenchmarkId::new("filter_check_shipped_rules", size), |b| {
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    n += usize::from(shipped.check(black_box(m), group).is_some());
                }
                n
            });
        });
        g.bench_function(BenchmarkId::new("filter_judge_shipped_rules_and_model", size), |b| {
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    n += usize::from(shipped.judge(black_box(m), group, Trust::New, None).violation.is_some());
                }
                n
            });
        });
        g.bench_function(BenchmarkId::new("raw_double_array_prenormalized", size), |b| {
            b.iter(|| {
                normalized
                    .iter()
                    .map(|m| daac.find_overlapping_iter(black_box(m)).count())
                    .sum::<usize>()
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
            let mut view = qunguan::policy::normalize::View::default();
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
            b.iter(|| Filter::build(black_box(&spec)).expect("builds"));
        });
        g.bench_function(BenchmarkId::new("rules_load_shipped", size), |b| {
            b.iter(|| Rules::load(black_box(shipped_dir.path())).expect("loads"));
        });
        g.finish();
    }
}

criterion_group!(filter, benches);
criterion_main!(filter);
