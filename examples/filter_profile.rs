//! Runs one stage of the filter over the benchmark corpus (`benches/support/corpus.rs`) a
//! few times, for instruction counts under callgrind — repeatable on a busy machine, where
//! wall-clock benchmarks vary by ±30 %.
//!
//! ```sh
//! cargo build --release --example filter_profile
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/filter_profile 10000 filter
//! callgrind_annotate cg.out | head -40
//! ```
//!
//! Stages: `filter` (`Filter::check` with the default automaton, the dictionary alone),
//! `filter-nfa` (the same with aho-corasick's contiguous NFA), `shipped` (`Filter::check` with
//! the shipped rules folder plus the dictionary: the rules alone), `judge` (`Filter::judge`
//! of a new member's messages with that folder and its `model.bin`: rules and model), `model`
//! (the model's score alone over the already normalized messages), `normalize` (the compact view only),
//! `raw-daac` and `raw-nfa` (the double array, or aho-corasick's contiguous NFA, over the
//! already normalized messages: the baselines), `load` (`Rules::load` of the shipped rules
//! plus the dictionary, once per pass), `setup` (everything but the measured loop, to
//! subtract). It prints the number of flagged messages or hits, so runs can be compared for
//! equal results too.

#[allow(dead_code)]
#[path = "../benches/support/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use corpus::{Rng, SEED};
use qunguan::config::rules::Rules;
use qunguan::domain::event::GroupId;
use qunguan::policy::filter::{Automaton, Filter, Trust};
use qunguan::policy::model::Flags;
use qunguan::policy::normalize::{NormalizeOptions, Normalizer, View};

/// Runs `pass` `passes` times; returns its last result and the fastest pass.
fn repeat(passes: usize, mut pass: impl FnMut() -> usize) -> (usize, Duration) {
    let mut best = Duration::MAX;
    let mut result = 0;
    for _ in 0..passes {
        let started = Instant::now();
        result = pass();
        best = best.min(started.elapsed());
    }
    (result, best)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().as_deref().unwrap_or("10000").parse()?;
    let stage = args.next().unwrap_or_else(|| "filter".to_owned());
    let passes: usize = args.next().as_deref().unwrap_or("3").parse()?;

    let mut rng = Rng(SEED);
    let vocab = corpus::vocabulary(&mut rng);
    let messages = corpus::corpus(&mut rng, &vocab);
    let phrases = corpus::dictionary(&mut Rng(SEED ^ size as u64), &vocab, size);
    let normalizer = Normalizer::new(NormalizeOptions::default());
    let group = GroupId::qq(1);
    let normalized = || -> (Vec<String>, Vec<String>) {
        (
            messages.iter().map(|m| normalizer.compact(m)).collect(),
            phrases.iter().map(|p| normalizer.compact(p)).collect(),
        )
    };

    let (count, best) = match stage.as_str() {
        "filter" | "filter-nfa" | "shipped" => {
            let filter = match stage.as_str() {
                "filter" => Filter::build(&corpus::spec(&phrases, Automaton::default()))?,
                "filter-nfa" => Filter::build(&corpus::spec(&phrases, Automaton::ContiguousNfa))?,
                _ => {
                    let dir = corpus::shipped_rules_with(&phrases)?;
                    Rules::load(dir.path())?.filter
                }
            };
            repeat(passes, || {
                messages
                    .iter()
                    .filter(|m| filter.check(black_box(m), group).is_some())
                    .count()
            })
        }
        "judge" => {
            // The shipped rules folder (with its model.bin) plus the dictionary, judged as a
            // new member's messages: normalization, automaton, detectors and the model.
            let dir = corpus::shipped_rules_with(&phrases)?;
            let filter = Rules::load(dir.path())?.filter;
            anyhow::ensure!(filter.model().is_some(), "rules/model.bin is missing");
            repeat(passes, || {
                messages
                    .iter()
                    .filter(|m| filter.judge(black_box(m), group, Trust::New, None).violation.is_some())
                    .count()
            })
        }
        "model" => {
            // The model's score alone, over the already normalized messages.
            let dir = corpus::shipped_rules_with(&[])?;
            let filter = Rules::load(dir.path())?.filter;
            let model = filter
                .model()
                .ok_or_else(|| anyhow::anyhow!("rules/model.bin is missing"))?;
            let (messages, _) = normalized();
            let flags = Flags::default();
            repeat(passes, || {
                messages
                    .iter()
                    .filter(|m| model.score(black_box(m), &flags) >= 0.5)
                    .count()
            })
        }
        "normalize" => {
            let mut view = View::default();
            repeat(passes, || {
                let mut bytes = 0;
                for m in &messages {
                    normalizer.compact_into(black_box(m), &mut view);
                    bytes += view.as_str().len();
                }
                bytes
            })
        }
        "raw-nfa" => {
            let (messages, patterns) = normalized();
            let nfa = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&patterns)?;
            repeat(passes, || {
                messages
                    .iter()
                    .map(|m| nfa.find_overlapping_iter(black_box(m)).count())
                    .sum()
            })
        }
        "raw-daac" => {
            let (messages, patterns) = normalized();
            let pma: daachorse::CharwiseDoubleArrayAhoCorasick<u32> =
                daachorse::CharwiseDoubleArrayAhoCorasickBuilder::new()
                    .match_kind(daachorse::MatchKind::Standard)
                    .build(&patterns)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            repeat(passes, || {
                messages
                    .iter()
                    .map(|m| pma.find_overlapping_iter(black_box(m)).count())
                    .sum()
            })
        }
        "load" => {
            let dir = corpus::shipped_rules_with(&phrases)?;
            // Resident size of one compiled rule set, before repeated loads reuse freed pages
            // (the fold table is built first: it is shared by every rule set of the process).
            drop(Normalizer::new(NormalizeOptions::default()));
            let before = corpus::rss_kib();
            let first = Rules::load(dir.path())?;
            println!(
                "one loaded rule set: RSS +{} KiB",
                corpus::rss_kib().saturating_sub(before)
            );
            drop(first);
            let mut failed = None;
            let result = repeat(passes, || match Rules::load(dir.path()) {
                Ok(rules) => rules.filter.phrase_count(),
                Err(e) => {
                    failed = Some(e);
                    0
                }
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            result
        }
        "setup" => (messages.len(), Duration::ZERO),
        other => anyhow::bail!(
            "unknown stage {other:?} (filter, filter-nfa, shipped, judge, model, normalize, raw-daac, raw-nfa, load, setup)"
        ),
    };
    println!(
        "{size} phrases, {stage}: {count}; fastest of {passes} passes {best:?} ({:.2} M msgs/s)",
        messages.len() as f64 / best.as_secs_f64() / 1e6
    );
    Ok(())
}
