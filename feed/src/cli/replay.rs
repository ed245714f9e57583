//! `fh replay FILE [--symbol S]... [--depth N] [--bbo-csv FILE] [--digest]`: a capture
//! (pcap, pcapng, `*.NASDAQ_ITCH50[.gz]`) through the engine, as fast as possible, on one
//! thread; then a report (messages by type, books, sequencing, anomalies, top-of-book depth of
//! the most active symbols, elapsed time, messages/s, peak memory).
//!
//! The shell is thin: frames → UDP payloads ([`fh_replay::frame`]) → [`Engine::on_datagram`]
//! with the record's capture time as both `now` and `recv_ts` (so a replay is deterministic);
//! updates go to a [`ReplaySink`] (digest with `--digest`, per-kind counts, optional BBO CSV).
//!
//! Latency per stage (issue 6), `--speed X` pacing and `--to` are in
//! [`super::replay_latency`]: the replay runs through its `replay_timed` loop, and the latency
//! table follows the report.
//!
//! With no arguments `fh` replays the bundled sample `pcaps/sample.pcap`.

use super::{CliError, CliResult};
use crate::engine::digest::Digest;
use crate::engine::levels::Bbo;
use crate::engine::{Engine, EngineConfig, UpdateSink, IEX_INSTRUMENT_BASE};
use crate::update::{BookUpdate, InstrumentId};
use fh_decoders::price::Fixed;
use fh_replay::capture::{Capture, Kind};
use fh_replay::frame::{self, FrameStats};
use std::fmt::Write as _;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `fh replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Capture to replay: pcap, pcapng or NASDAQ_ITCH50[.gz] (default: the bundled sample).
    pub file: Option<PathBuf>,
    /// Keep books only for this symbol (repeatable); everything is still sequenced.
    #[arg(long = "symbol", value_name = "S")]
    pub symbols: Vec<String>,
    /// Levels per side in the final depth report.
    #[arg(long, default_value_t = 5)]
    pub depth: usize,
    /// How many of the most active symbols the report shows.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Write every best bid/offer change as CSV (ts,symbol,bid,bid_size,ask,ask_size).
    #[arg(long, value_name = "FILE")]
    pub bbo_csv: Option<PathBuf>,
    /// Print `digest: <hex>`, a stable hash over the whole book-update stream.
    #[arg(long)]
    pub digest: bool,
    /// Expected live ITCH orders (the order store is sized for it, and grows, counted, beyond).
    #[arg(long, default_value_t = 1 << 18)]
    pub orders: usize,
    /// First sequence number of a session, if known (a first packet after it is a gap).
    #[arg(long, value_name = "N")]
    pub first_seq: Option<u64>,
    /// Decode and sequence only: count messages, build no books (a speed baseline).
    #[arg(long)]
    pub decode_only: bool,
    /// Latency per stage (table always; --hgrm, --hlog, --plot on demand; --no-latency).
    #[command(flatten)]
    pub latency: super::LatencyArgs,
    /// Onto the wire (--to …) instead of in-process; --speed also paces in-process replay.
    #[command(flatten)]
    pub wire: super::WireArgs,
    /// Pipeline mode (`--pipeline` and its options, see [`super::replay_pipeline`]).
    #[command(flatten)]
    pub pipe: super::replay_pipeline::PipelineArgs,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            file: None,
            symbols: Vec::new(),
            depth: 5,
            top: 5,
            bbo_csv: None,
            digest: false,
            orders: 1 << 18,
            first_seq: None,
            decode_only: false,
            latency: super::LatencyArgs::default(),
            wire: super::WireArgs::default(),
            pipe: Default::default(),
        }
    }
}

/// The bundled sample capture: `pcaps/sample.pcap` in the working directory or the workspace.
pub fn sample_path() -> PathBuf {
    let local = PathBuf::from("pcaps/sample.pcap");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps/sample.pcap")
}

/// Where best bid/offer changes go.
pub trait BboOut {
    /// Whether BBO changes are wanted at all (compiled out when not).
    const ON: bool;
    /// One change.
    fn row(&mut self, exch_ts: u64, symbol: &[u8; 8], bbo: &Bbo);
}

/// No BBO output.
#[derive(Debug, Default)]
pub struct NoBbo;

impl BboOut for NoBbo {
    const ON: bool = false;
    #[inline]
    fn row(&mut self, _: u64, _: &[u8; 8], _: &Bbo) {}
}

/// BBO changes as CSV: `ts,symbol,bid,bid_size,ask,ask_size`, prices as exact decimals, an
/// empty field for a missing side.
#[derive(Debug)]
pub struct BboCsv<W: Write> {
    out: W,
    line: String,
    /// Rows written.
    pub rows: u64,
    /// First write error, if any (reported at the end; rows after it are lost).
    pub error: Option<std::io::Error>,
}

impl<W: Write> BboCsv<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"ts,symbol,bid,bid_size,ask,ask_size\n")?;
        Ok(BboCsv {
            out,
            line: String::with_capacity(128),
            rows: 0,
            error: None,
        })
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Formats one CSV row (shared by the writer and tests).
pub fn bbo_csv_row(line: &mut String, exch_ts: u64, symbol: &[u8; 8], bbo: &Bbo) {
    line.clear();
    let sym = std::str::from_utf8(symbol)
        .unwrap_or("?")
        .trim_end_matches([' ', '\0']);
    let _ = write!(line, "{exch_ts},{sym},");
    match bbo.bid {
        Some((p, s)) => {
            let _ = write!(line, "{},{s},", Fixed::<4>(p));
        }
        None => line.push_str(",,"),
    }
    match bbo.ask {
        Some((p, s)) => {
            let _ = write!(line, "{},{s}", Fixed::<4>(p));
        }
        None => line.push(','),
    }
    line.push('\n');
}

impl<W: Write> BboOut for BboCsv<W> {
    const ON: bool = true;
    fn row(&mut self, exch_ts: u64, symbol: &[u8; 8], bbo: &Bbo) {
        if self.error.is_some() {
            return;
        }
        bbo_csv_row(&mut self.line, exch_ts, symbol, bbo);
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
        self.rows += 1;
    }
}

/// The replay's update sink: digest, counts by kind, stale count, BBO output.
#[derive(Debug)]
pub struct ReplaySink<B: BboOut> {
    /// Digest of the update stream (folded only when `hashing`).
    pub digest: Digest,
    /// Whether updates are folded into `digest`: `fh replay` does it only for `--digest`, as
    /// hashing is about a tenth of a replay's instructions (a predicted branch per update
    /// when off); [`Default`] does it.
    pub hashing: bool,
    /// Updates by [`crate::update::UpdateKind`].
    pub by_kind: [u64; 8],
    /// Updates flagged stale.
    pub stale: u64,
    /// BBO output.
    pub bbo: B,
}

impl<B: BboOut> ReplaySink<B> {
    /// A sink that digests the updates if `hashing`, and writes BBO changes to `bbo`.
    pub fn new(hashing: bool, bbo: B) -> Self {
        ReplaySink {
            digest: Digest::new(),
            hashing,
            by_kind: [0; 8],
            stale: 0,
            bbo,
        }
    }
}

impl<B: BboOut + Default> Default for ReplaySink<B> {
    /// Digesting, with `B`'s default BBO output.
    fn default() -> Self {
        Self::new(true, B::default())
    }
}

impl<B: BboOut> UpdateSink for ReplaySink<B> {
    const WANTS_BBO: bool = B::ON;

    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        if self.hashing {
            self.digest.add(u);
        }
        self.by_kind[u.kind as usize & 7] += 1;
        self.stale += u64::from(u.flags & crate::update::flags::STALE != 0);
    }

    #[inline]
    fn bbo_changed(
        &mut self,
        exch_ts: u64,
        _instrument: InstrumentId,
        symbol: &[u8; 8],
        bbo: &Bbo,
    ) {
        self.bbo.row(exch_ts, symbol, bbo);
    }
}

/// What the shell saw of the file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShellStats {
    /// Records (pcap packets or ITCH-file messages).
    pub records: u64,
    /// Frames → datagrams.
    pub frames: FrameStats,
    /// The file ended inside its last record (a warning: every complete record was read).
    pub truncated: bool,
}

/// Replays a whole capture into `engine` (single thread, as fast as possible, no stage
/// timestamps): [`super::replay_latency::replay_timed`] unpaced and untimed. `progress` is
/// called now and then with the fraction done (0.0–1.0).
pub fn replay_capture<S: UpdateSink>(
    cap: &Capture,
    engine: &mut Engine,
    sink: &mut S,
    progress: impl FnMut(f64),
) -> Result<ShellStats, CliError> {
    use super::replay_latency::{replay_timed, Pace, Untimed};
    let mut pace = Pace::off(*crate::latency::Clock::global());
    replay_timed(cap, engine, sink, &mut pace, &mut Untimed, progress)
}

/// CPU time consumed by the calling thread, ns ([`crate::latency::clock::thread_cpu_ns`]),
/// if known. Rates are also given per CPU second because on a shared, loaded machine wall
/// time says more about the neighbours than about the code.
pub fn thread_cpu_ns() -> Option<u64> {
    Some(crate::latency::clock::thread_cpu_ns()).filter(|&ns| ns > 0)
}

/// Peak resident memory of this process, bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn progress_bar(enabled: bool) -> impl FnMut(f64) {
    let mut last = Instant::now();
    move |f: f64| {
        if !enabled {
            return;
        }
        let now = Instant::now();
        if f < 1.0 && now.duration_since(last) < Duration::from_millis(200) {
            return;
        }
        last = now;
        let width = 40;
        let done = ((f.clamp(0.0, 1.0)) * width as f64) as usize;
        let mut bar = String::with_capacity(width + 16);
        bar.push('\r');
        bar.push('[');
        bar.extend(std::iter::repeat_n('#', done));
        bar.extend(std::iter::repeat_n(' ', width - done));
        let _ = write!(bar, "] {:5.1}%", f * 100.0);
        if f >= 1.0 {
            bar.push_str("\r\x1b[2K");
        }
        let _ = std::io::stderr().write_all(bar.as_bytes());
    }
}

/// Runs `fh replay`.
pub fn run(args: Args) -> CliResult {
    let path = args.file.clone().unwrap_or_else(sample_path);
    if let Some(cfg) = args.wire.config() {
        return super::replay_latency::send_to_wire(&args, &path, &cfg);
    }
    let mut timing = super::replay_latency::ReplayTiming::start(&args)?;
    let cap = Capture::open(&path).map_err(CliError::new)?;
    let cfg = EngineConfig {
        orders: args.orders,
        symbol_filter: (!args.symbols.is_empty()).then(|| args.symbols.clone()),
        expect_first_seq: args.first_seq,
        ..EngineConfig::default()
    };
    let big = cap.bytes().len() > 64 << 20;
    let progress = progress_bar(big && std::io::stderr().is_terminal());
    if args.decode_only {
        return run_decode_only(&args, &cap, progress);
    }
    if args.pipe.pipeline {
        return super::replay_pipeline::run(&args, &cap, Engine::new(&cfg), progress);
    }
    let mut engine = Engine::new(&cfg);
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    match &args.bbo_csv {
        None => {
            let mut sink = ReplaySink::new(args.digest, NoBbo);
            let st = timing.replay(&cap, &mut engine, &mut sink, progress)?;
            let elapsed = start.elapsed();
            let cpu = thread_cpu_ns().zip(cpu0).map(|(a, b)| a - b);
            print!("{}", report(&args, &cap, &engine, &st, &sink, elapsed, cpu));
        }
        Some(csv) => {
            let f = std::fs::File::create(csv)
                .map_err(|e| CliError::new(format!("{}: {e}", csv.display())))?;
            let w = BboCsv::new(BufWriter::with_capacity(1 << 20, f))
                .map_err(|e| CliError::new(format!("{}: {e}", csv.display())))?;
            let mut sink = ReplaySink::new(args.digest, w);
            let st = timing.replay(&cap, &mut engine, &mut sink, progress)?;
            let elapsed = start.elapsed();
            let cpu = thread_cpu_ns().zip(cpu0).map(|(a, b)| a - b);
            print!("{}", report(&args, &cap, &engine, &st, &sink, elapsed, cpu));
            let rows = sink.bbo.rows;
            sink.bbo
                .finish()
                .map_err(|e| CliError::new(format!("{}: {e}", csv.display())))?;
            println!("bbo csv: {} rows -> {}", rows, csv.display());
        }
    }
    timing.finish(&path, &mut std::io::stdout().lock())
}

/// `--decode-only`: frames, framing and message views only, counted by type; no sequencing
/// state, no books.
fn run_decode_only(args: &Args, cap: &Capture, mut progress: impl FnMut(f64)) -> CliResult {
    use fh_decoders::{deep, iextp, itch50, moldudp64};
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    let mut types = [0u64; 256];
    let mut bad = 0u64;
    let mut on_payload = |p: &[u8]| {
        if crate::engine::is_iextp(p) {
            match iextp::Segment::parse(p) {
                Ok(s) => {
                    for (_, b) in s.blocks() {
                        match deep::Message::parse(b) {
                            Ok(_) => types[usize::from(b[0])] += 1,
                            Err(_) => bad += 1,
                        }
                    }
                }
                Err(_) => bad += 1,
            }
        } else {
            match moldudp64::Packet::parse(p) {
                Ok(moldudp64::Packet::Data(d)) => {
                    for (_, b) in d.blocks() {
                        match itch50::Message::parse(b) {
                            Ok(m) => {
                                types[usize::from(fh_decoders::fields::Fields::type_byte(&m))] += 1
                            }
                            Err(_) => bad += 1,
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => bad += 1,
            }
        }
    };
    let mut records = 0u64;
    match cap.kind() {
        Kind::Pcap | Kind::Pcapng => {
            let total = cap.bytes().len().max(1) as f64;
            for r in cap.records().map_err(CliError::new)? {
                let Ok(r) = r else { break };
                records += 1;
                if records & 0xFFFF == 0 {
                    progress(r.offset as f64 / total);
                }
                if let Ok(d) = frame::udp_payload(r.link, r.data) {
                    on_payload(d.payload);
                }
            }
        }
        Kind::Itch | Kind::ItchGz => {
            let mut msgs = cap.itch_messages().map_err(CliError::new)?;
            while let Some(Ok(m)) = msgs.next_message() {
                records += 1;
                match itch50::Message::parse(m.data) {
                    Ok(_) => types[usize::from(m.data[0])] += 1,
                    Err(_) => bad += 1,
                }
            }
        }
    }
    progress(1.0);
    let elapsed = start.elapsed();
    let cpu = thread_cpu_ns().zip(cpu0).map(|(a, b)| a - b);
    let n: u64 = types.iter().sum();
    let mut out = String::new();
    let _ = writeln!(out, "fh replay --decode-only {}", cap.path().display());
    let _ = writeln!(out, "records: {records}, messages: {n}, malformed: {bad}");
    let _ = writeln!(out, "messages by type: {}", by_type(&types));
    let _ = writeln!(out, "{}", speed_line(n, elapsed, cpu));
    let _ = args;
    print!("{out}");
    Ok(())
}

fn by_type(types: &[u64; 256]) -> String {
    let mut s = String::new();
    for (t, &n) in types.iter().enumerate() {
        if n > 0 {
            let c = t as u8;
            let name = if c.is_ascii_graphic() {
                (c as char).to_string()
            } else {
                format!("0x{t:02x}")
            };
            let _ = write!(s, "{name}={n} ");
        }
    }
    s.trim_end().to_string()
}

fn speed_line(messages: u64, elapsed: Duration, cpu_ns: Option<u64>) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        messages as f64 / secs
    } else {
        0.0
    };
    let mut s = format!("elapsed: {:.3} s, {:.2} M messages/s", secs, rate / 1e6);
    if let Some(cpu) = cpu_ns.filter(|&c| c > 0) {
        let c = cpu as f64 / 1e9;
        let _ = write!(
            s,
            " (CPU time {:.3} s, {:.2} M messages per CPU second)",
            c,
            messages as f64 / c / 1e6
        );
    }
    if let Some(p) = peak_rss_bytes() {
        let _ = write!(s, ", peak memory {:.1} MiB", p as f64 / (1 << 20) as f64);
    }
    s
}

fn fmt_price(p: i64) -> String {
    Fixed::<4>(p).to_string()
}

/// The report printed at the end of a replay.
pub fn report<B: BboOut>(
    args: &Args,
    cap: &Capture,
    e: &Engine,
    st: &ShellStats,
    sink: &ReplaySink<B>,
    elapsed: Duration,
    cpu_ns: Option<u64>,
) -> String {
    let mut o = String::new();
    let s = &e.stats;
    let _ = writeln!(
        o,
        "fh replay {} ({:?}, {} records{})",
        cap.path().display(),
        cap.kind(),
        st.records,
        if st.truncated {
            ", cut inside the last record"
        } else {
            ""
        }
    );
    if matches!(cap.kind(), Kind::Pcap | Kind::Pcapng) {
        let _ = writeln!(
            o,
            "frames: {} udp datagrams, {} skipped (not UDP/IPv4 or malformed)",
            st.frames.udp,
            st.frames.skipped()
        );
    }
    let itch_n = s.itch_messages();
    let iex_n = s.iex_messages();
    if itch_n > 0 || s.mold_malformed > 0 {
        let _ = writeln!(o, "ITCH messages: {itch_n} ({})", by_type(&s.itch_types));
    }
    if iex_n > 0 || s.iextp_malformed > 0 {
        let _ = writeln!(o, "IEX messages: {iex_n} ({})", by_type(&s.iex_types));
    }
    let _ = writeln!(
        o,
        "malformed: moldudp64 {} packets, iex-tp {} segments, itch {} messages, iex {} messages",
        s.mold_malformed, s.iextp_malformed, s.itch_malformed, s.iex_malformed
    );
    for (name, q, open) in [
        (
            "MoldUDP64",
            &e.mold_seq.stats,
            e.mold_seq.open_gap_messages(),
        ),
        ("IEX-TP", &e.iex_seq.stats, e.iex_seq.open_gap_messages()),
    ] {
        if q.packets == 0 {
            continue;
        }
        let _ = writeln!(
            o,
            "sequencing {name}: {} packets ({} heartbeats), {} messages; gaps {} ({} messages missing, {} still open); duplicates {} packets / {} messages; out of order {} packets ({} late messages); session changes {}; end of session {}",
            q.packets, q.heartbeats, q.messages, q.gaps, q.gap_messages, open,
            q.duplicate_packets, q.duplicate_messages, q.out_of_order_packets, q.late_messages,
            q.session_changes, q.end_of_session
        );
    }
    // Books.
    let itch_books = e.itch.instruments().filter(|(_, i)| !i.is_empty()).count();
    let deep_books = e
        .deep
        .instruments()
        .filter(|(_, d)| !d.bids.is_empty() || !d.asks.is_empty())
        .count();
    let _ = writeln!(
        o,
        "books: ITCH {} instruments with levels, {} live orders (store {} slots, {} growths), IEX DEEP {} symbols with levels of {} seen",
        itch_books,
        e.itch.orders.len(),
        e.itch.orders.capacity(),
        e.itch.orders.growths,
        deep_books,
        e.deep.len()
    );
    let a = &e.itch.anomalies;
    let d = &e.deep.anomalies;
    let _ = writeln!(
        o,
        "anomalies: unknown ref {}, duplicate ref {}, over-execution {}, locate mismatch {}, level mismatch {}, bad side {}, crossed ITCH {} / DEEP {}, DEEP no-op updates {}; level growths {}",
        a.unknown_ref, a.duplicate_ref, a.over_execution, a.locate_mismatch, a.level_mismatch,
        a.bad_side, a.crossed, d.crossed, d.noop_updates,
        e.itch.level_growths() + e.deep.level_growths()
    );
    let k = &sink.by_kind;
    let _ = writeln!(
        o,
        "updates: {} (add {}, change {}, delete {}, trade {}, status {}, break {}), {} flagged stale",
        s.updates, k[0], k[1], k[2], k[3], k[4], k[5], sink.stale
    );
    // Depth of the most active symbols (among those with a non-empty book at the end).
    let mut active: Vec<(u64, InstrumentId)> = e
        .itch
        .instruments()
        .filter(|(_, i)| i.keep && !i.is_empty())
        .map(|(l, i)| (i.activity, InstrumentId::from(l)))
        .chain(
            e.deep
                .instruments()
                .filter(|(_, d)| d.keep && (!d.bids.is_empty() || !d.asks.is_empty()))
                .map(|(s, d)| (d.activity, IEX_INSTRUMENT_BASE + s)),
        )
        .collect();
    active.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(activity, id) in active.iter().take(args.top) {
        let (sym, bids, asks) = if id >= IEX_INSTRUMENT_BASE {
            let d = e.deep.instrument(id - IEX_INSTRUMENT_BASE);
            (d.symbol_str().to_string(), &d.bids, &d.asks)
        } else {
            let i = e.itch.instrument(id as u16);
            (i.symbol_str().to_string(), i.bids(), i.asks())
        };
        let spread = Bbo::of(bids, asks)
            .spread()
            .map(fmt_price)
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "\n{sym} (instrument {id}, {activity} book messages, {} bid / {} ask levels, spread {spread})",
            bids.len(),
            asks.len()
        );
        let _ = writeln!(
            o,
            "  {:>10} {:>6} {:>12} | {:<12} {:<10} {:<6}",
            "bid size", "orders", "bid", "ask", "ask size", "orders"
        );
        let mut bi = bids.iter_best_first();
        let mut ai = asks.iter_best_first();
        for _ in 0..args.depth {
            let b = bi.next();
            let a = ai.next();
            if b.is_none() && a.is_none() {
                break;
            }
            let (bs, bo, bp) = b
                .map(|l| {
                    (
                        l.shares.to_string(),
                        l.orders.to_string(),
                        fmt_price(l.price),
                    )
                })
                .unwrap_or_default();
            let (ap, as_, ao) = a
                .map(|l| {
                    (
                        fmt_price(l.price),
                        l.shares.to_string(),
                        l.orders.to_string(),
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {bs:>10} {bo:>6} {bp:>12} | {ap:<12} {as_:<10} {ao:<6}"
            );
        }
    }
    if !active.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(o, "{}", speed_line(itch_n + iex_n, elapsed, cpu_ns));
    if args.digest {
        let _ = writeln!(o, "digest: {:016x}", sink.digest.value());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::UpdateKind;

    #[test]
    fn the_sink_digests_only_when_asked_and_counts_either_way() {
        let updates: Vec<BookUpdate> = (0..5u64)
            .map(|i| BookUpdate {
                seq: i,
                price: 100 + i as i64,
                kind: if i % 2 == 0 {
                    UpdateKind::Trade
                } else {
                    UpdateKind::default()
                },
                ..BookUpdate::default()
            })
            .collect();
        let mut off = ReplaySink::new(false, NoBbo);
        let mut on = ReplaySink::new(true, NoBbo);
        let mut default = ReplaySink::<NoBbo>::default();
        for u in &updates {
            off.publish(u);
            on.publish(u);
            default.publish(u);
        }
        assert_eq!(off.digest.count, 0);
        assert_eq!(off.digest.value(), Digest::new().value());
        assert_eq!(on.digest.count, 5);
        assert_ne!(on.digest.value(), Digest::new().value());
        assert_eq!(
            default.digest.value(),
            on.digest.value(),
            "the default sink digests"
        );
        assert_eq!(off.by_kind, on.by_kind);
        assert_eq!(on.by_kind.iter().sum::<u64>(), 5);
    }
}
