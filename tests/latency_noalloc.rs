//! The latency hot path allocates nothing: `Clock::now`, `record`, `record_span`, the exact
//! small-value counts (`Precount`, settled into the recorder) and `tick` (including ticks that
//! hand an interval over) run under the counting global allocator of `fh_tests::alloc`.

use fh_feed::latency::{interval_pair, Clock, HistConfig, Precount, Stage, StageRecorder};

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    fh_tests::alloc::counted(f).1
}

#[test]
fn hot_path_never_allocates() {
    // The counter works.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);

    // Start-up (allocates): clock, recorders.
    let clock = *Clock::global();
    let mut plain = StageRecorder::new(HistConfig::default());
    let (mut hot, cold) = interval_pair(HistConfig::default(), clock.now(), 1_000);
    let mut pre = Precount::new(HistConfig::default());

    let mut handed = 0u64;
    for round in 0..50u64 {
        let n = allocations(|| {
            for i in 0..2_000u64 {
                let t0 = clock.now();
                let t1 = clock.now();
                plain.record_span(Stage::Decode, t0, t1);
                plain.record(Stage::Book, i * 1_000_003);
                plain.record(Stage::EndToEnd, u64::MAX); // over-bound path too
                hot.record_span(Stage::Publish, t0, t1);
                hot.record(Stage::Consume, i * round);
                pre.record(&mut hot, Stage::Book, i % 4096); // counted, or recorded above 2 µs
                                                             // 1 µs intervals: boundaries pass constantly, with and without a spare.
                if hot.due(t1) {
                    pre.settle(&mut hot);
                }
                if hot.tick(t1) {
                    handed += 1;
                }
            }
        });
        assert_eq!(n, 0, "round {round}: {n} allocations on the hot path");
        // Cold side, not counted.
        if let Some(r) = cold.take() {
            cold.give_back(r);
        }
    }
    assert!(handed >= 10, "only {handed} hand-overs exercised");
    assert_eq!(plain.histogram(Stage::Decode).len(), 100_000);
    assert_eq!(plain.over_bound(Stage::EndToEnd), 100_000);
}
