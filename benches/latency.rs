//! Cost of latency measurement: one timestamp (`Clock::now` on the TSC and on
//! `CLOCK_MONOTONIC_RAW`, against `std::time::Instant`), one `record`, and a stage as fh takes
//! it (two timestamps and a `record_span`) with the interval `tick`.
//!
//! Run: `cargo bench -p fh-benches --bench latency`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use fh_feed::latency::{interval_pair, Clock, HistConfig, Stage, StageRecorder};

fn clocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock_now");
    if let Some(tsc) = Clock::tsc() {
        g.bench_function("tsc", |b| b.iter(|| black_box(&tsc).now()));
    }
    let raw = Clock::monotonic_raw();
    g.bench_function("monotonic_raw", |b| b.iter(|| black_box(&raw).now()));
    g.bench_function("std_instant", |b| b.iter(Instant::now));
    let global = *Clock::global();
    g.bench_function(format!("global_{}", global.source().name()), |b| {
        b.iter(|| black_box(&global).now())
    });
    g.finish();
}

fn recording(c: &mut Criterion) {
    let clock = *Clock::global();
    let mut g = c.benchmark_group("record");
    let mut rec = StageRecorder::new(HistConfig::default());
    let mut v = 1u64;
    g.bench_function("record", |b| {
        b.iter(|| {
            // Spread values over the range like real latencies (ns to ms).
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rec.record(Stage::Decode, black_box(v >> 44));
        })
    });
    let (mut hot, cold) = interval_pair(HistConfig::default(), clock.now(), 1_000_000_000);
    g.bench_function("stage_now_now_record_span_tick", |b| {
        b.iter(|| {
            let t0 = clock.now();
            let t1 = clock.now();
            hot.record_span(Stage::Book, t0, t1);
            black_box(hot.tick(t1));
        })
    });
    if let Some(r) = cold.take() {
        cold.give_back(r);
    }
    g.finish();
}

criterion_group!(benches, clocks, recording);
criterion_main!(benches);
