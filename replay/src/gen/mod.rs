//! # The synthetic exchange: a Nasdaq TotalView-ITCH 5.0 day over MoldUDP64, with faults
//!
//! Two models make the day ([`Profile`]): [`flow`], a compressed day with every message type
//! and a bounded book, and [`day`], a realistic 6.5-hour session whose live orders pass a
//! million (heavy-tailed lifetimes, Zipf activity, dense references). Both feed the same
//! packetizer, fault injection and files.
//!
//! ```text
//!  flow::Generator ──Msg──► msg::encode ──bytes──► packet::Packetizer ──Packet──► faults::Lines
//!  or day::DayGenerator      (itch50 wire           (MoldUDP64: bursts share      (per line A/B:
//!  (order-flow models,        structs)                a packet ≤ 1400 B,           drop, dup, reorder,
//!   xoshiro256** PRNG)                                heartbeats, end of session)   corrupt + truth)
//!                                                                                     │ FrameSink
//!                                                                                     ▼
//!                                                                   pcap (Ethernet/IPv4/UDP, ns) or
//!                                                                   NASDAQ_ITCH50 file (no packets)
//! ```
//!
//! ## Invariants
//! - **Deterministic**: the output is a pure function of the options (seed included). The PRNG
//!   is our own ([`rng`]), floating point only feeds probabilities and gaps through
//!   platform-independent operations, and nothing that shapes the output reads a clock or the
//!   environment ([`write_day`] times the run for its report only).
//! - **Consistent**: every execution, cancel, delete or replace names a live order and never
//!   takes more than it has; reference and match numbers are unique for the day
//!   (see [`flow`]).
//! - **Exact truth**: every fault injected is recorded in [`faults::Truth`], written next to
//!   the capture as `FILE.truth.json`.
//! - **Bounded memory**: [`flow`] caps the live orders per symbol, so 100 million messages
//!   need no more memory than ten thousand; [`day`] streams too, its memory is its live-order
//!   set (~100 bytes a live order), whatever the number of messages.
//!
//! ## Using the generator directly (e.g. to check a book builder)
//! ```
//! use fh_replay::gen::{Config, Generator, Stop};
//! let mut g = Generator::new(Config { symbols: 5, seed: 7, stop: Stop::Messages(5_000) }).unwrap();
//! let mut buf = [0u8; fh_replay::gen::msg::MAX_LEN];
//! let mut n = 0;
//! while let Some((_ts_ns, len)) = g.next_message(&mut buf) {
//!     n += 1; // buf[..len] is one ITCH 5.0 message
//! }
//! assert_eq!(n, 5_000);
//! // The generator's own final book: every live order, and per symbol the levels best first.
//! let (bids, asks) = g.levels(1);
//! if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
//!     assert!(b.price < a.price);
//! }
//! assert!(g.live_orders().all(|o| o.shares > 0));
//! ```
//! Files: [`write_day`] (what `fh gen` runs: [`write_files`], timed, with the figures it
//! prints); packets into any sink: [`run_packets`].

pub mod day;
pub mod faults;
pub mod flow;
pub mod msg;
pub mod output;
pub mod packet;
pub mod rng;

pub use day::{DayConfig, DayGenerator, DayTruth};
pub use faults::{Corruption, FaultRates, FrameSink, LineTruth, Truth};
pub use flow::{Config, ConfigError, Generator, Level, LiveOrder, Stop};
pub use msg::{Body, Msg};
pub use output::{truth_path, write_day, write_files, FileError, Format, GenJob, GenReport};

use std::fmt;
use std::io;
use std::net::Ipv4Addr;

/// A multicast group and UDP port (`--group`, `--line-b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Destination IPv4 address.
    pub group: Ipv4Addr,
    /// Destination UDP port.
    pub port: u16,
}

impl Endpoint {
    /// Nasdaq TotalView-ITCH 5.0 line A's production group and port.
    pub const NASDAQ_A: Endpoint = Endpoint {
        group: Ipv4Addr::new(233, 54, 12, 111),
        port: 26477,
    };

    /// Parses `G:PORT`, e.g. `233.54.12.111:26477`; `None` if malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let (g, p) = s.rsplit_once(':')?;
        Some(Endpoint {
            group: g.parse().ok()?,
            port: p.parse().ok()?,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.group, self.port)
    }
}

/// Parses a MoldUDP64 session name: 1 to 10 printable ASCII characters, space-padded.
pub fn parse_session(s: &str) -> Option<[u8; 10]> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut out = [b' '; 10];
    out[..s.len()].copy_from_slice(s.as_bytes());
    Some(out)
}

/// Default session name.
pub const DEFAULT_SESSION: [u8; 10] = *b"FHGEN00001";

/// Which model makes the day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Profile {
    /// The compressed day of [`flow`]: all 23 message types, a length in messages or seconds
    /// (`config.stop`), a bounded book.
    #[default]
    Flow,
    /// The realistic day of [`day`]: a 6.5-hour session at `scale` (1 = the full day, over a
    /// million live orders at the peak); `config.symbols` and `config.seed` apply,
    /// `config.stop` does not (the session's length is fixed, `scale` sets its size).
    Day {
        /// [`DayConfig::scale`].
        scale: f64,
    },
}

/// Everything `fh gen` needs to produce a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The day to generate.
    pub config: Config,
    /// Which model generates it.
    pub profile: Profile,
    /// MoldUDP64 session.
    pub session: [u8; 10],
    /// Packet faults, applied to every line independently.
    pub rates: FaultRates,
    /// Line A's destination.
    pub line_a: Endpoint,
    /// Line B's destination, if a second line is wanted.
    pub line_b: Option<Endpoint>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config::default(),
            profile: Profile::Flow,
            session: DEFAULT_SESSION,
            rates: FaultRates::default(),
            line_a: Endpoint::NASDAQ_A,
            line_b: None,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// ITCH messages generated.
    pub messages: u64,
    /// Frames (UDP datagrams) written over all lines, faults included; 0 for an ITCH file.
    pub frames: u64,
    /// The truth record (also written as `FILE.truth.json`).
    pub truth: Truth,
}

/// How two lines share a pcap.
pub const LAYOUT_PCAP: &str =
    "one pcap; each packet's line A frame, then its line B frame 100 ns later (if line B is on)";
/// Layout of an ITCH file.
pub const LAYOUT_ITCH: &str = "NASDAQ_ITCH50 file: u16 length + message, no packets, no faults";

/// The message source of a run: either model, one message at a time.
#[derive(Debug)]
enum Source {
    Flow(Box<Generator>),
    Day(Box<DayGenerator>),
}

impl Source {
    fn new(opts: &Options) -> Result<Self, ConfigError> {
        Ok(match opts.profile {
            Profile::Flow => Source::Flow(Box::new(Generator::new(opts.config)?)),
            Profile::Day { scale } => Source::Day(Box::new(DayGenerator::new(DayConfig {
                symbols: opts.config.symbols,
                seed: opts.config.seed,
                scale,
            })?)),
        })
    }

    #[inline]
    fn next_message(&mut self, buf: &mut [u8]) -> Option<(u64, usize)> {
        match self {
            Source::Flow(g) => g.next_message(buf),
            Source::Day(g) => g.next_message(buf),
        }
    }

    fn day_truth(&self) -> Option<DayTruth> {
        match self {
            Source::Flow(_) => None,
            Source::Day(g) => Some(g.truth()),
        }
    }
}

/// Checks that `opts` can make a day (before any file is created).
pub fn check_options(opts: &Options) -> Result<(), ConfigError> {
    Source::new(opts).map(|_| ())
}

/// Generates the whole day as MoldUDP64 packets into `out` (one or two lines with faults).
/// Returns `out` and the summary. An error is only ever one of `out`'s.
pub fn run_packets<F: FrameSink>(opts: &Options, out: F) -> Result<(F, Summary), GenError> {
    let mut gen = Source::new(opts).map_err(GenError::Config)?;
    let n_lines = if opts.line_b.is_some() { 2 } else { 1 };
    let mut lines = faults::Lines::new(n_lines, opts.rates, opts.config.seed, out);
    let mut pk = packet::Packetizer::new(opts.session);
    let mut buf = [0u8; msg::MAX_LEN];
    while let Some((ts, len)) = gen.next_message(&mut buf) {
        pk.push(ts, &buf[..len], &mut lines).map_err(GenError::Io)?;
    }
    let st = pk.finish(&mut lines).map_err(GenError::Io)?;
    let (out, per_line) = lines.into_parts();
    let mut eps = vec![("A", opts.line_a.to_string())];
    if let Some(b) = opts.line_b {
        eps.push(("B", b.to_string()));
    }
    let frames = per_line.iter().map(|t| t.packets_written).sum();
    let truth = Truth {
        format: "pcap",
        session: String::from_utf8_lossy(&opts.session).into_owned(),
        seed: opts.config.seed,
        symbols: opts.config.symbols,
        messages: st.messages,
        first_seq: 1,
        last_seq: st.messages,
        data_packets: st.data,
        heartbeats: st.heartbeats,
        end_of_session: st.end_of_session,
        rates: opts.rates,
        layout: LAYOUT_PCAP,
        lines: eps
            .into_iter()
            .zip(per_line)
            .map(|((n, e), t)| (n, e, t))
            .collect(),
        day: gen.day_truth(),
    };
    Ok((
        out,
        Summary {
            messages: st.messages,
            frames,
            truth,
        },
    ))
}

/// Generates the whole day message by message, without packets (for the NASDAQ_ITCH50 file
/// format): `sink` gets each encoded message in order.
pub fn run_itch<F: FnMut(&[u8]) -> io::Result<()>>(
    opts: &Options,
    mut sink: F,
) -> Result<Summary, GenError> {
    let mut gen = Source::new(opts).map_err(GenError::Config)?;
    let mut buf = [0u8; msg::MAX_LEN];
    let mut n = 0u64;
    while let Some((_, len)) = gen.next_message(&mut buf) {
        sink(&buf[..len]).map_err(GenError::Io)?;
        n += 1;
    }
    let truth = Truth {
        format: "itch",
        session: String::from_utf8_lossy(&opts.session).into_owned(),
        seed: opts.config.seed,
        symbols: opts.config.symbols,
        messages: n,
        first_seq: 1,
        last_seq: n,
        data_packets: 0,
        heartbeats: 0,
        end_of_session: 0,
        rates: FaultRates::default(),
        layout: LAYOUT_ITCH,
        lines: Vec::new(),
        day: gen.day_truth(),
    };
    Ok(Summary {
        messages: n,
        frames: 0,
        truth,
    })
}

/// Why a run failed.
#[derive(Debug)]
pub enum GenError {
    /// The options cannot make a day.
    Config(ConfigError),
    /// Writing failed.
    Io(io::Error),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Config(e) => e.fmt(f),
            GenError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GenError {}
