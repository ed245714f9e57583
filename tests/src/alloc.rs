//! A counting global allocator for the no-allocation tests.
//!
//! A test file installs it with
//! `#[global_allocator] static GLOBAL: fh_tests::alloc::Counting = fh_tests::alloc::Counting;`
//! and wraps the steady state in [`counted`]. Only allocations made by the calling thread while
//! it is inside [`counted`] are counted, so the harness's own threads cannot disturb a result.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting allocations of armed threads.
#[derive(Debug)]
pub struct Counting;

thread_local! {
    /// Armed (counting) on this thread?
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// This thread's allocations while armed: per thread, so tests running in parallel in one
    /// binary cannot reset or add to each other's counts.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

/// Runs `f` with this thread's allocations counted; returns its result and the count.
/// (Counts only when [`Counting`] is the global allocator.)
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCS.with(|n| n.set(0));
    ARMED.with(|c| c.set(true));
    let r = f();
    ARMED.with(|c| c.set(false));
    (r, ALLOCS.with(Cell::get))
}
