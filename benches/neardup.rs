//! Near-duplicate lookups (`policy::neardup`) against 1k, 10k and 100k stored spam samples:
//! the cost of a lookup must not grow with the number of samples (issue 12 §6: sub-linear,
//! sized for 100k). Also the cost of a signature, which every message pays once any spam
//! sample exists.
//!
//! ```sh
//! cargo bench --bench neardup --no-run                          # build (prints the binary)
//! taskset -c 1 target/release/deps/neardup-<hash> --bench       # run on one core
//! ```
//!
//! Samples are random Chinese texts of 12–51 characters from a fixed seed (the compact view,
//! as the daemon signs it). A *miss* is a fresh random text; a *hit* is a stored text with two
//! characters changed.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qunguan::policy::neardup::{Index, Signature};

/// xorshift64*, for reproducible input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `len` characters from the 2,000 commonest-range CJK code points.
    fn han(&mut self, len: usize) -> String {
        (0..len)
            .filter_map(|_| char::from_u32(0x4e00 + u32::try_from(self.below(2_000)).unwrap_or(0)))
            .collect()
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x5147_4e44_5550_0001);
    let texts: Vec<String> = (0..100_000)
        .map(|_| {
            let len = 12 + usize::try_from(rng.below(40)).unwrap_or(0);
            rng.han(len)
        })
        .collect();
    let sigs: Vec<Signature> = texts.iter().filter_map(|t| Signature::of(t)).collect();
    let misses: Vec<Signature> = (0..2_000).filter_map(|_| Signature::of(&rng.han(30))).collect();

    let mut group = c.benchmark_group("neardup");
    group.throughput(Throughput::Elements(1));
    group.bench_function("signature (30 chars)", |b| {
        let text = &texts[7];
        b.iter(|| black_box(Signature::of(black_box(text))));
    });
    for stored in [1_000usize, 10_000, 100_000] {
        let mut index = Index::with_capacity(100_000);
        for (id, sig) in (0u64..).zip(&sigs[..stored]) {
            index.insert(id, *sig);
        }
        // Hits among the stored ones: two characters changed.
        let hits: Vec<Signature> = texts[..stored]
            .iter()
            .step_by((stored / 2_000).max(1))
            .filter_map(|t| {
                let mut c: Vec<char> = t.chars().collect();
                let n = c.len();
                c[n / 2] = '改';
                c[n - 1] = '变';
                Signature::of(&c.into_iter().collect::<String>())
            })
            .collect();
        let found = hits.iter().filter(|s| index.find(s).is_some()).count();
        eprintln!(
            "{stored} stored: {found} of {} altered copies found; {} misses",
            hits.len(),
            misses.len()
        );
        let mut i = 0;
        group.bench_function(BenchmarkId::new("lookup miss", stored), |b| {
            b.iter(|| {
                i = (i + 1) % misses.len();
                black_box(index.find(&misses[i]))
            });
        });
        let mut j = 0;
        group.bench_function(BenchmarkId::new("lookup hit", stored), |b| {
            b.iter(|| {
                j = (j + 1) % hits.len();
                black_box(index.find(&hits[j]))
            });
        });
    }
    group.finish();
}

criterion_group!(name = neardup; config = Criterion::default(); targets = benches);
criterion_main!(neardup);
