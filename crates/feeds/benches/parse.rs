//! Parse time of a generated 3,000-episode podcast feed (iTunes + Podcasting 2.0 tags) and
//! of a 730-episode, 1.6 MB feed shaped like a hosting platform's (long show notes).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "common/feedgen.rs"]
mod feedgen;
use feedgen::{generate_feed, generate_realworld_feed};

fn bench(c: &mut Criterion) {
    let feed = generate_feed(3000);
    let parsed = skypod_feeds::parse::parse_feed(feed.as_bytes(), None).expect("parse");
    assert_eq!(parsed.episodes.len(), 3000);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(feed.len() as u64));
    g.sample_size(20);
    g.bench_function("feed_3000_episodes", |b| {
        b.iter(|| skypod_feeds::parse::parse_feed(black_box(feed.as_bytes()), None).expect("parse"))
    });
    let real = generate_realworld_feed(730);
    let parsed = skypod_feeds::parse::parse_feed(real.as_bytes(), None).expect("parse");
    assert_eq!(parsed.episodes.len(), 730);
    g.throughput(Throughput::Bytes(real.len() as u64));
    g.bench_function("feed_730_episodes_realworld", |b| {
        b.iter(|| skypod_feeds::parse::parse_feed(black_box(real.as_bytes()), None).expect("parse"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
