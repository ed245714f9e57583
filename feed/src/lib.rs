//! # fh-feed: the feed handler
//!
//! The engine (sequencing, order books), the publication ring, agents and idle strategies,
//! the strategy API, the pipeline that runs them in replay and live alike, latency recording,
//! and the live multicast receiver. The `fh` command line is the `fh-cli` crate (`feed/cli`), a
//! thin shell over this library.
//!
//! ```text
//!  live:   socket ─recvmmsg─► rx ring slots ─► [live::recovery: A/B arbitration, re-requests,
//!                                              │  snapshots; only with two lines or asked for]
//!  replay: mmapped capture ──────────────────┴─► Engine::on_datagram(now, meta, bytes, sink)
//!                                                 │ decode in place (fh-decoders)
//!                                                 │ sequence per session, apply to books
//!                                                 ▼
//!                   pipeline::sink::PublishSink ──► publication ring ──► StrategyRunner(s)
//!                                                    top-of-book table, symbol directory
//! ```
//!
//! Build on [`pipeline::Pipeline`]: a source (a capture or multicast groups), the engine's
//! configuration, the ring, the threading mode and any number of [`strategy::Strategy`]s; it
//! runs to the end and returns a [`pipeline::RunReport`] and the strategies.
//!
//! ## Invariants
//! - The engine has no I/O, no threads and no clock: time is passed in. Live and replay call
//!   the same function through the same sink, so a replay is bit-for-bit the live run.
//! - Hot path (receive, decode, book, publish): no allocation, no locks, no formatting, no
//!   panics, no syscalls but the receive itself. Everything is sized at start-up.
//! - Bad input is counted and dropped, never fatal; every gap, duplicate, overrun and drop is
//!   counted and reported.
//! - Layers: `ring` knows neither strategies nor book updates; the library never imports
//!   the command line (`fh-cli`) and does not use clap; `fh-cli` parses, configures, runs and
//!   formats, nothing else.
//! - `unsafe` lives only in the ring (`ring`, `sync`), the live layer (`live::{rx, socket,
//!   signal}`), the clock (`latency::clock`: `rdtsc`, `clock_gettime`), the interval hand-over
//!   (`latency::recorder`) and the order store's table (`engine::table`: masked, unchecked
//!   slot access and a prefetch), every block with a `// SAFETY:` note.
// The built-in strategies are written as user code (`fh_feed::…` paths), so that the examples
// can compile the very same files.
extern crate self as fh_feed;

pub mod agent;
pub mod directory;
pub mod dump;
pub mod engine;
pub mod latency;
pub mod live;
pub mod pipeline;
pub mod ring;
pub mod strategy;
mod sync;
pub mod topbook;
pub mod update;

/// An I/O error in plain words for one-line messages ("no such file or directory", "is a
/// directory", "permission denied"), without the OS error number ([`fh_replay::io_words`]).
pub fn io_words(e: &std::io::Error) -> String {
    fh_replay::io_words(e)
}
