//! fh-wasm: strategies compiled to WebAssembly, run by wasmtime in a sandbox as agents of the
//! fh pipeline, reading book updates where the host put them in their own memory.
//!
//! ```text
//!  publication ring ──► WasmRunner (one strategy agent, fh-feed's Runner)
//!     batch of updates:  each 64-byte BookUpdate written into the guest's region (its own
//!                        linear memory, the host's #[repr(C)] layout: no encoding)
//!                    ──► fh_on_batch(first, count): one call per batch (per region-full)
//!     guest ──► fh.top / fh.symbol / fh.now (read the engine's tables)
//!           ──► fh.signal(instrument, kind, value) ──► SignalLog ──► CSV, report
//!  stopped guest (trap, deadline, memory): reported (module, reason, update), its consumer
//!  dropped (ring cursor detached: the producer never waits for it), the others carry on
//! ```
//!
//! ## Sandbox
//! - A module imports only the `fh` functions ([`sandbox::IMPORTS`]); no WASI, no other
//!   import resolves, so it has no files, clock, network or host memory: everything it reads
//!   is its own linear memory, which wasmtime bounds-checks (guard pages or explicit checks);
//!   host functions take offsets into that memory and check them.
//! - Per-batch deadline: epoch interruption, one ticker thread per [`sandbox::WasmHost`] that
//!   sleeps a tick (1 ms) between epochs and keeps the epoch on the clock (an overrun sleep is
//!   made up); a call that runs past its deadline traps.
//! - Memory: a `ResourceLimiter` (wasmtime's `StoreLimits`) caps each instance's memory and
//!   tables; growing past the cap traps (it does not return -1), so the report says why.
//! - Stack: wasmtime's `max_wasm_stack` (512 KiB): deep recursion traps.
//! - A module is compiled, linked and instantiated at start-up ([`sandbox::WasmModule::load`],
//!   [`sandbox::Guest::new`]): a file that is not a valid module, or imports anything else,
//!   or lacks the callbacks, is a one-line error before the run.
//!
//! ## Invariants
//! - A module sees the updates of its ring in order, exactly once, until it is stopped; its
//!   `fh_on_batch` is never called with a range outside its region.
//! - Per batch the runner allocates nothing (the region and the hop stamps are sized at
//!   start-up); signals go to a buffer reserved at start-up, grown on the strategy's thread,
//!   bounded ([`signals::MAX_SIGNALS`], the rest counted as dropped).
//! - A stopped module is never called again and holds no ring slot.
//!
//! ## What it does not do
//! Reading the ring's slots in place from a wasm *shared* memory (no copy at all) is not
//! built: it needs wasmtime's `threads` feature, which wasmtime ranks tier 2, and a
//! publication ring whose slots live in memory a guest may read (and could write), which
//! fh-feed's ring does not offer. Only the copying mode exists, and no `--wasm-shared` flag.
//!
//! The guest SDK is the `no_std` crate `feed/wasm/guest` (`fh-guest`) and its C header
//! `fh_guest.h`; [`native::Native`] runs the same `fh_guest::Strategy` natively.

#![forbid(unsafe_code)]

pub mod native;
pub mod runner;
pub mod sandbox;
pub mod signals;

pub use runner::WasmRunner;
pub use sandbox::{Failure, Guest, WasmConfig, WasmError, WasmHost, WasmModule};
pub use signals::{Signal, SignalLog};

use fh_feed::pipeline::{Pipeline, StrategyOptions};

/// Adds `guest` as a strategy agent of `p`, named `name`; its signals go to `log`.
pub fn add_guest(
    p: Pipeline,
    name: &str,
    guest: Guest,
    options: StrategyOptions,
    log: SignalLog,
) -> Pipeline {
    let n = name.to_string();
    p.runner_with(name, options, move |consumer, view, timer| {
        Box::new(WasmRunner::new(n, guest, consumer, view, timer, log))
    })
}
