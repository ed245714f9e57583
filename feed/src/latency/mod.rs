//! Latency measurement of fh's own path: one calibrated clock, per-thread stage histograms,
//! lock-free interval hand-over, and the reports latency engineers expect (table, `.hgrm`,
//! HdrHistogram interval log, SVG percentile plot).
//!
//! ```text
//!  hot thread(s)                                          cold thread / end of run
//!  clock.now() at each stage boundary
//!  IntervalRecorder::record_span(stage, t0, t1)
//!  IntervalRecorder::tick(now) ──interval──► IntervalCollector ─► HlogWriter (--hlog)
//!                                                   └──────────► StageRecorder totals
//!                                                                 ├─ table (stdout)
//!                                                                 ├─ hgrm::render (--hgrm)
//!                                                                 └─ plot::render (--plot)
//! ```
//!
//! ## Modules
//! - [`clock`]: [`Clock`] (TSC calibrated against `CLOCK_MONOTONIC_RAW`, or that clock
//!   directly), kernel `CLOCK_REALTIME` receive times mapped onto it, cost of a timestamp.
//! - [`recorder`]: [`Stage`], [`StageRecorder`] (one preallocated histogram per stage,
//!   `saturating_record`, over-bound counters, `merge`), [`IntervalRecorder`] /
//!   [`IntervalCollector`] (hot → cold hand-over through two atomic slots).
//! - [`table`], [`hgrm`], [`hlog`], [`plot`]: the outputs; [`output`]: [`LatencyConfig`] and
//!   [`LatencyRun`]. Errors are [`LatencyError`]s (one line naming the file or value); this
//!   module knows nothing of the command line (`fh`'s `LatencyArgs` flags become a
//!   [`LatencyConfig`]).
//!
//! ## Invariants
//! - Hot path (`Clock::now`, `record`, `record_span`, `tick` without a boundary): no
//!   allocation, no lock, no syscall, no panic. A `tick` at a boundary does two atomic swaps.
//!   The `no_alloc` test in `tests/` checks this with a counting allocator.
//! - Values are ns on the one clock. Histograms span 1 ns .. 10 s at 3 significant digits;
//!   larger values are recorded as 10 s and counted as over-bound.
//! - Outputs: `.hgrm` values are µs (HdrHistogram's `outputPercentileDistribution(…, 1000.0)`);
//!   interval-log values are ns; the table picks a unit per cell.
//!
//! ## Stage definitions
//! | stage | from | to |
//! |---|---|---|
//! | `receive` | kernel `SO_TIMESTAMPNS` ([`Clock::from_realtime`]) | datagram in user space |
//! | `decode` | datagram in user space | decoded |
//! | `book` | decoded | applied to the book |
//! | `publish` | applied | written to the publication ring |
//! | `consume` | `BookUpdate::engine_ts`: the engine's first reading for the datagram | read by the strategy |
//! | `end_to_end` | first timestamp (kernel in live, user receive in replay) | read by the strategy |
//! | `behind_schedule` | the capture's schedule (paced replay) | handed to the engine |
//!
//! `engine_ts` is read before the datagram is decoded: live, as the engine thread takes it
//! from the receive ring (a datagram held back by gap recovery carries the reading of the one
//! that released it); in a replay, as the capture record is read (timed datagrams only, 0 on
//! the others). So `consume` is the engine's own time for the datagram (decode, book,
//! publish) plus the hop through the ring, not the hop alone; in a replay it starts at the
//! same reading as the strategy's `end_to_end` and the two are equal. The hop alone (ring
//! cursor release → the reader has the update), next to the shared-memory hop (sample sent →
//! the subscriber has it): `benches/shm_latency.sh` with the probe of `fh-benches` (`hop`).
//!
//! In replay everything is measured on the replay's own clock (processing time per stage);
//! `receive` stays empty because there is no kernel timestamp, and `behind_schedule` is
//! recorded only with `--speed`.
//!
//! ## Cost
//! `benches/latency.rs` measures one `Clock::now` (TSC, `CLOCK_MONOTONIC_RAW`, `Instant`),
//! one `record`, and a stage as fh takes it; [`Clock::cost_ns`] measures a timestamp at run
//! time and the end-of-run report prints it. Take one timestamp per stage boundary per
//! datagram (a batch of messages), not per message, and reuse the end of one stage as the
//! start of the next: a datagram then costs 4–5 timestamps and as many `record`s. The
//! full-replay overhead is measured by running `fh replay` with and without `--no-latency`.
//!
//! ## Integrating (`fh replay`, `fh live`)
//! ```no_run
//! use fh_feed::latency::{LatencyConfig, LatencyError, LatencyRun, Stage};
//! # fn main() -> Result<(), LatencyError> {
//! let opts = LatencyConfig::default();     // fh: `LatencyArgs::config()` of the flags
//! let mut lat = LatencyRun::start(&opts)?; // calibrates the clock, opens the interval log
//! let clock = lat.clock();                 // Copy: move one into each thread
//! let mut rec = lat.recorder();            // one per hot thread, allocated now
//! let on = lat.enabled();                  // false with no_latency
//! # let packets = [0u8; 3];
//! for _pkt in packets {
//!     if on {
//!         let t0 = clock.now();
//!         // … decode …
//!         let t1 = clock.now();
//!         rec.record_span(Stage::Decode, t0, t1);
//!         // … book, publish: same pattern …
//!         if rec.tick(t1) {
//!             lat.poll()?; // replay: same thread; live: do this on a cold thread instead
//!         }
//!     }
//! }
//! let last = rec.finish(clock.now());
//! lat.finish(vec![last], "replay of sample.pcap", &mut std::io::stdout())?;
//! # Ok(()) }
//! ```
//! In `fh live`, each hot thread owns its `IntervalRecorder` (it is `Send`); the
//! `LatencyRun` lives on a cold thread that calls `poll()` every few ms, and at shutdown the
//! hot threads return `rec.finish(now)` for `LatencyRun::finish`. Strategy threads record
//! `consume` and `end_to_end` into their own recorder from `BookUpdate::engine_ts` and
//! `recv_ts`. With several hot threads the interval log holds one line per thread, stage and
//! interval; readers (`fh report`, HdrHistogram's tools) merge lines by tag.

pub mod clock;
pub mod hgrm;
pub mod hlog;
pub mod output;
pub mod plot;
pub mod recorder;
pub mod table;

pub use clock::{now, Clock, ClockSource, RealtimeMap};
pub use output::{LatencyConfig, LatencyRun, DEFAULT_STAMP_EVERY};
pub use recorder::{
    interval_pair, HistConfig, IntervalCollector, IntervalRecorder, Precount, Stage, StageRecorder,
    PRECOUNT_LIMIT,
};

/// A latency error: one line naming the value or the file (and the system error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyError(pub String);

impl LatencyError {
    /// Builds an error from anything printable.
    pub fn new(msg: impl std::fmt::Display) -> Self {
        LatencyError(msg.to_string())
    }
}

impl std::fmt::Display for LatencyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LatencyError {}

/// The name of `stage` for a recorder labelled `label` (a strategy's): `STAGE.LABEL`, the
/// label's characters outside `[A-Za-z0-9_-]` replaced by `_` so the tag stays a valid
/// interval-log tag and file stem; just `STAGE` without a label.
pub fn stage_tag(stage: Stage, label: Option<&str>) -> String {
    match label {
        None => stage.name().to_string(),
        Some(l) => format!("{}.{}", stage.name(), output::file_stem(l)),
    }
}

/// The hdrhistogram crate fh records with (same version for integrators and tests).
pub use hdrhistogram;
use hdrhistogram::Histogram;

/// A named histogram for tables, files and plots: a stage of a recorder or a tag of a log.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Stage name or interval-log tag.
    pub name: &'a str,
    /// Its values, ns.
    pub hist: &'a Histogram<u64>,
    /// Values above the histogram's bound (recorded as the bound).
    pub over: u64,
}
