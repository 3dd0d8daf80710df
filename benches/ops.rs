//! What the operators' view costs per event on the hot path: counting a message in the group
//! statistics (one lock, a hash lookup, a set insert) and bumping the metrics (atomic adds).
//! The pipeline does one `GroupStats::message` and one `Metrics::event` per message, plus a
//! webhook latency observation; `filter_hit` and `violation` only per violation.
//!
//! ```sh
//! taskset -c 1 cargo bench --bench ops
//! ```
//!
//! The stream: 200 groups × 300 members, every member already counted today (the steady
//! state of a busy day), so no allocation happens in the measured loop.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use qunguan::config::StatsSettings;
use qunguan::domain::event::{EventKind, GroupId};
use qunguan::domain::metrics::{Metrics, Webhook};
use qunguan::service::stats::GroupStats;

const GROUPS: i64 = 200;
const USERS: i64 = 300;

fn benches(c: &mut Criterion) {
    let now = jiff::Timestamp::from_second(1_795_305_600).expect("valid");
    let stats = GroupStats::new(&StatsSettings::default());
    for g in 0..GROUPS {
        for u in 0..USERS {
            stats.message(GroupId::qq(g), u, 1, now);
        }
    }
    let mut i: i64 = 0;
    c.bench_function("stats/message (member already counted today)", |b| {
        b.iter(|| {
            i = i.wrapping_add(7_919);
            let (g, u) = (i.rem_euclid(GROUPS), (i / GROUPS).rem_euclid(USERS));
            stats.message(black_box(GroupId::qq(g)), black_box(u), 1, now);
        });
    });
    c.bench_function("stats/violation", |b| {
        b.iter(|| stats.violation(black_box(GroupId::qq(3)), black_box("ads"), Some("warn"), now));
    });
    let metrics = Metrics::default();
    let kind = EventKind::Other("meta_event".into());
    c.bench_function("metrics/event", |b| b.iter(|| metrics.event(black_box(&kind))));
    c.bench_function("metrics/webhook_latency", |b| {
        b.iter(|| metrics.webhook_latency(Webhook::OneBot, black_box(Duration::from_micros(1_800))));
    });
    c.bench_function("metrics/filter_hit", |b| {
        b.iter(|| metrics.filter_hit(black_box("ads")))
    });
}

criterion_group!(ops, benches);
criterion_main!(ops);
