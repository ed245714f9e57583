//! The latency hot path allocates nothing: `Clock::now`, `record`, `record_span` and `tick`
//! (including ticks that hand an interval over) run under a counting global allocator that
//! counts this thread's allocations while armed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fh_feed::latency::{interval_pair, Clock, HistConfig, Stage, StageRecorder};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread is torn down.
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout, which satisfies `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr`/`layout` come from this allocator (i.e. from `System`), as the caller
        // guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(|c| c.get())
}

#[test]
fn hot_path_never_allocates() {
    // The counter works.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);

    // Start-up (allocates): clock, recorders.
    let clock = *Clock::global();
    let mut plain = StageRecorder::new(HistConfig::default());
    let (mut hot, cold) = interval_pair(HistConfig::default(), clock.now(), 1_000);

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
                // 1 µs intervals: boundaries pass constantly, with and without a spare.
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
