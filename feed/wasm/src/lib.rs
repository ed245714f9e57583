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
//!   `fh_on_batch` is never called with a range outside its region (shared mode: with slots
//!   that are not published, or that are released before the call returns).
//! - Shared mode: no guest can write the ring's slots (read-only mapping), and no host code
//!   writes a guest memory's ring pages.
//! - Per batch the runner allocates nothing (the region and the hop stamps are sized at
//!   start-up); signals go to a buffer reserved at start-up, grown on the strategy's thread,
//!   bounded ([`signals::MAX_SIGNALS`], the rest counted as dropped).
//! - A stopped module is never called again and holds no ring slot.
//!
//! ## Shared mode (`--wasm-shared`): the ring read in place
//! ```text
//!  memfd: the ring's slots ──(read-write mapping)── engine: writes each update once, in place
//!    │                       (fh-feed ring_in, no-loss policy only)
//!    └──(read-only mapping, MAP_FIXED)── over [fh_ring(), + ring) of each shared guest's
//!        wasm shared memory (imported `fh.memory`, min == max pages: never grows or moves)
//!  WasmRunner: Acquire of the published cursor ──► fh_on_batch(first slot, count): the guest
//!  reads slots (first + i) & (slots - 1) itself ──► returns ──► the batch's slots released
//! ```
//! No copy at all: the guest reads the engine's own 64-byte records. It needs wasmtime's
//! `threads` support (shared memories), which wasmtime ranks **tier 2** (no security
//! backports, no CVEs for its bugs): the engine with it is built only for `--wasm-shared`
//! ([`sandbox::WasmHost::new_shared`]); the default engine keeps it off.
//!
//! Isolation in shared mode ([`shared`]): the ring's pages are mapped read-only into each
//! guest's memory, so a guest's store into them faults, and wasmtime turns a fault at a wasm
//! access inside a memory's reservation into a trap (the guest is stopped and reported like
//! any other). A guest therefore cannot write what the other strategies read. Host code never
//! writes those pages: the host functions refuse a range touching the ring, and a shared-mode
//! module may not contain `memory.copy`/`fill`/`init` (bulk memory is off on that engine, and
//! [`scan`] refuses them with a clearer message) because wasmtime runs them as host code, where
//! a fault would end the process; nor `memory.atomic.wait*`, which the deadline cannot
//! interrupt. A guest may read slots other than its batch's (the engine may be writing them):
//! it sees whatever is there, which harms only itself.
//!
//! Shared-mode module ABI: imports `fh.memory` (or `env.memory`, wasm-ld's name) as
//! `(memory N N shared)`; exports `fh_ring(slots) -> offset` (called once: where the ring
//! goes, a multiple of 65536 with `slots × 64` bytes free after it) and
//! `fh_on_batch(first, count)` (records at `offset + ((first + i) & (slots - 1)) × 64`), and
//! optionally `fh_on_finish`. A module for one mode given to the other is refused at load.

//! The guest SDK is the `no_std` crate `feed/wasm/guest` (`fh-guest`) and its C header
//! `fh_guest.h`; [`native::Native`] runs the same `fh_guest::Strategy` natively.

#![deny(unsafe_code)]

pub mod native;
pub mod runner;
pub mod sandbox;
pub mod scan;
pub mod shared;
pub mod signals;

pub use runner::WasmRunner;
pub use sandbox::{Failure, Guest, WasmConfig, WasmError, WasmHost, WasmModule};
pub use shared::RingMemory;
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

/// Adds `guest`, a `--wasm-shared` guest mapped to `ring` ([`Guest::new_shared`]), as a
/// strategy agent of `p`, and places the pipeline's ring slots in `ring` (the first shared
/// guest does; the others must name the same `ring`). Refused unless the ring is no-loss and
/// has `ring.slots()` slots.
pub fn add_shared_guest(
    p: Pipeline,
    name: &str,
    guest: Guest,
    ring: &std::sync::Arc<RingMemory>,
    options: StrategyOptions,
    log: SignalLog,
) -> Result<Pipeline, WasmError> {
    let settings = p.ring_settings();
    if settings.policy != fh_feed::ring::Policy::NoLoss {
        return Err(WasmError(
            "--wasm-shared: the ring's slots are read in place, which needs the no-loss ring policy"
                .into(),
        ));
    }
    let same = |m: *const u8| std::ptr::eq(m, std::sync::Arc::as_ptr(ring).cast::<u8>());
    let mapped = guest
        .ring
        .as_ref()
        .map(|r| std::sync::Arc::as_ptr(r).cast::<u8>());
    let pipeline = p
        .ring_memory_of()
        .map(|m| std::sync::Arc::as_ptr(m).cast::<u8>());
    if !mapped.is_some_and(same) || !pipeline.is_none_or(same) {
        return Err(WasmError(
            "--wasm-shared: every shared guest must map the pipeline's one ring memory".into(),
        ));
    }
    if settings.size != ring.slots() {
        return Err(WasmError(format!(
            "--wasm-shared: the guest's ring has {} slots, the pipeline's {}",
            ring.slots(),
            settings.size
        )));
    }
    let p = p.ring_memory(ring.clone());
    Ok(add_guest(p, name, guest, options, log))
}
