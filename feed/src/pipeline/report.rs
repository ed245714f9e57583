//! The report of a run, as one value: every counter of every stage, the strategies' own
//! figures and the latency percentiles. [`render_text`] prints it for people (the same shape
//! for replay, threaded replay and live), `serde_json` writes it for monitoring and scripts
//! (`fh … --report-json FILE`, schema in `feed/report.schema.json`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::levels::Bbo;
use crate::engine::seq::SeqStats;
use crate::engine::{Engine, EngineSnapshot, IEX_INSTRUMENT_BASE};
use crate::latency::table::{self, Summary};
use crate::live::RxCounters;
use crate::strategy::{Figures, RunnerStats};
use crate::update::InstrumentId;
use fh_decoders::price::Fixed;

/// Name and version of the JSON report's schema.
pub const SCHEMA: &str = "fh-run-report/1";

/// Everything a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// `replay` or `live`.
    pub mode: &'static str,
    /// The captures' paths (several replayed as one stream: space-separated, in order;
    /// `standard input` for `-`), or the groups joined.
    pub source: String,
    /// `single` (no strategy), `dedicated` or `shared`.
    pub threading: &'static str,
    /// `fast`, `speed X` or `step N ns` (replay).
    pub pacing: Option<String>,
    /// The run was stopped early (signal or stop flag).
    pub interrupted: bool,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// CPU time of the engine thread, seconds, if known.
    pub engine_cpu_s: Option<f64>,
    /// Peak resident memory, bytes, if known.
    pub peak_rss_bytes: Option<u64>,
    /// What the replay read.
    pub capture: Option<CaptureReport>,
    /// What the receiver saw.
    pub live: Option<LiveReport>,
    /// A/B arbitration and gap recovery of a live run (`fh live` with two lines, `--rerequest`
    /// or `--snapshot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<crate::live::recovery::RecoveryReport>,
    /// Decoding, sequencing, books and anomalies.
    pub engine: EngineSnapshot,
    /// Book updates by kind.
    pub updates: UpdatesReport,
    /// Digest of the update stream folded on the engine thread (16 hex digits).
    pub digest: Option<String>,
    /// The BBO CSV written on the engine thread.
    pub bbo_csv: Option<OutputReport>,
    /// Files written by exporters ([`super::record::Recorder`]), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<OutputReport>,
    /// The publication ring (absent without strategies).
    pub ring: Option<RingReport>,
    /// One entry per strategy, in the order they were added.
    pub strategies: Vec<StrategyReport>,
    /// Depth of the most active books at the end.
    pub books: Vec<BookDepth>,
    /// Latency per stage (absent with latency off).
    pub latency: Option<LatencyReport>,
    /// One entry per tap (`Pipeline::tap`; absent from the JSON when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taps: Vec<super::tap::TapReport>,
}

/// What a replay read of its file (of all its files, in order, as one stream).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureReport {
    /// `Pcap`, `Pcapng`, `Itch`, `ItchGz`, `PcapGz`, `PcapngGz` (the files' kinds joined
    /// with `+` when they differ).
    pub kind: String,
    /// Whether the files hold frames (pcap, pcapng) rather than bare ITCH messages.
    pub framed: bool,
    /// Records read.
    pub records: u64,
    /// UDP datagrams found in the frames.
    pub udp_datagrams: u64,
    /// Frames skipped (not UDP/IPv4, or malformed).
    pub skipped_frames: u64,
    /// A file ends inside its last record (or its gzip stream is cut): every complete record
    /// was replayed, but the capture is incomplete. A bad outcome a shell can exit on.
    pub truncated: bool,
    /// One line per cut file: `FILE: offset N: capture cut off: …`.
    pub warnings: Vec<String>,
    /// Each file, in the order replayed.
    pub files: Vec<CaptureFile>,
}

/// One file of a replay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureFile {
    /// Its path (`standard input` for `-`).
    pub path: String,
    /// Its kind (see [`CaptureReport::kind`]).
    pub kind: &'static str,
    /// Records read.
    pub records: u64,
    /// UDP datagrams found in its frames.
    pub udp_datagrams: u64,
    /// Frames skipped.
    pub skipped_frames: u64,
    /// It ends inside its last record.
    pub truncated: bool,
}

/// What the live receiver saw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveReport {
    /// Receive counters.
    pub rx: RxCounters,
    /// Datagrams per group, in the order joined.
    pub group_packets: Vec<u64>,
    /// Receive buffer granted per group, bytes.
    pub rcvbuf_granted: Vec<usize>,
    /// Datagrams the engine (or the floor loop) processed.
    pub processed: u64,
    /// Times a group went silent for longer than the heartbeat interval.
    pub silences: u64,
    /// Datagrams written to the capture file.
    pub captured: u64,
    /// The floor benchmark ran instead of the engine.
    pub floor: bool,
}

/// Book updates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UpdatesReport {
    /// All updates published.
    pub total: u64,
    /// Levels added.
    pub add: u64,
    /// Levels changed.
    pub change: u64,
    /// Levels deleted.
    pub delete: u64,
    /// Trades.
    pub trade: u64,
    /// Status changes.
    pub status: u64,
    /// Trade breaks.
    pub trade_break: u64,
    /// Updates flagged stale.
    pub stale: u64,
}

impl UpdatesReport {
    /// From counts by kind.
    pub fn of(by_kind: &[u64; 8], stale: u64) -> Self {
        UpdatesReport {
            total: by_kind.iter().sum(),
            add: by_kind[0],
            change: by_kind[1],
            delete: by_kind[2],
            trade: by_kind[3],
            status: by_kind[4],
            trade_break: by_kind[5],
            stale,
        }
    }
}

/// A file written by the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OutputReport {
    /// Its path.
    pub path: String,
    /// Rows written.
    pub rows: u64,
}

/// The publication ring.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RingReport {
    /// Slots.
    pub size: u64,
    /// `no-loss` or `never-wait`.
    pub policy: &'static str,
    /// Idle strategy of the strategy threads.
    pub idle: &'static str,
    /// Updates published.
    pub published: u64,
    /// Times a no-loss producer waited for room.
    pub waits: u64,
    /// Time it waited, ns.
    pub wait_ns: u64,
    /// Events published in parts (larger than the ring).
    pub split_events: u64,
    /// BBO changes of ids outside the top-of-book table.
    pub top_outside: u64,
    /// Stepped replay: steps taken.
    pub steps: u64,
    /// The engine's core, if pinned.
    pub engine_core: Option<usize>,
    /// When the engine finished publishing, seconds after the start.
    pub producer_done_s: f64,
}

/// One strategy's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StrategyReport {
    /// Its name.
    pub name: String,
    /// Its thread (`fh-strat-N`, or `engine` in the shared mode).
    pub thread: String,
    /// The core its thread was pinned to.
    pub core: Option<usize>,
    /// Delivery counters.
    #[serde(flatten)]
    pub stats: RunnerStats,
    /// Mean lag at batch starts.
    pub mean_lag: u64,
    /// What the strategy reported of itself.
    pub figures: Figures,
}

/// Depth of one book at the end.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BookDepth {
    /// Symbol.
    pub symbol: String,
    /// Instrument id.
    pub instrument: InstrumentId,
    /// Book messages applied to it.
    pub activity: u64,
    /// Bid levels.
    pub bid_levels: u64,
    /// Ask levels.
    pub ask_levels: u64,
    /// Best ask − best bid, 4 implied decimals.
    pub spread: Option<i64>,
    /// Best first: (price, shares, orders) per side.
    pub bids: Vec<(i64, u64, u32)>,
    /// Best first.
    pub asks: Vec<(i64, u64, u32)>,
}

/// Latency per stage.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyReport {
    /// What was measured.
    pub title: String,
    /// The clock and its cost.
    pub clock: String,
    /// One row per stage (per-strategy stages are `consume.NAME`, `end_to_end.NAME`), ns.
    pub stages: Vec<Summary>,
    /// Notes (pacing, early hand-overs).
    pub notes: Vec<String>,
}

/// The `top` most active books of `e` (non-empty at the end), `depth` levels a side.
pub fn book_depths(e: &Engine, top: usize, depth: usize) -> Vec<BookDepth> {
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
    active
        .iter()
        .take(top)
        .map(|&(activity, id)| {
            let (sym, bids, asks) = if id >= IEX_INSTRUMENT_BASE {
                let d = e.deep.instrument(id - IEX_INSTRUMENT_BASE);
                (d.symbol_str().to_string(), &d.bids, &d.asks)
            } else {
                let i = e.itch.instrument(id as u16);
                (i.symbol_str().to_string(), i.bids(), i.asks())
            };
            let levels = |l: &crate::engine::levels::Ladder| {
                l.iter_best_first()
                    .take(depth)
                    .map(|v| (v.price, v.shares, v.orders))
                    .collect::<Vec<_>>()
            };
            BookDepth {
                symbol: sym,
                instrument: id,
                activity,
                bid_levels: bids.len() as u64,
                ask_levels: asks.len() as u64,
                spread: Bbo::of(bids, asks).spread(),
                bids: levels(bids),
                asks: levels(asks),
            }
        })
        .collect()
}

fn fmt_price(p: i64) -> String {
    Fixed::<4>(p).to_string()
}

fn join_types(types: &[(String, u64)]) -> String {
    types
        .iter()
        .map(|(t, n)| format!("{t}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The speed line: elapsed, messages per second (per CPU second), peak memory.
pub fn speed_line(messages: u64, elapsed_s: f64, cpu_s: Option<f64>, rss: Option<u64>) -> String {
    let rate = if elapsed_s > 0.0 {
        messages as f64 / elapsed_s
    } else {
        0.0
    };
    let mut s = format!("elapsed: {elapsed_s:.3} s, {:.2} M messages/s", rate / 1e6);
    if let Some(c) = cpu_s.filter(|&c| c > 0.0) {
        let _ = write!(
            s,
            " (CPU time {c:.3} s, {:.2} M messages per CPU second)",
            messages as f64 / c / 1e6
        );
    }
    if let Some(p) = rss {
        let _ = write!(s, ", peak memory {:.1} MiB", p as f64 / (1 << 20) as f64);
    }
    s
}

/// The report as text: the same sections for every mode, each only when it has something.
pub fn render_text(r: &RunReport) -> String {
    let mut o = String::new();
    let e = &r.engine;
    match (&r.capture, &r.live) {
        (Some(c), _) => {
            let _ = writeln!(
                o,
                "fh replay {} ({}, {} records{}{})",
                r.source,
                c.kind,
                c.records,
                if c.truncated {
                    ", cut inside the last record"
                } else {
                    ""
                },
                if r.interrupted { ", interrupted" } else { "" }
            );
            for w in &c.warnings {
                let _ = writeln!(o, "warning: {w}");
            }
            if c.framed {
                let _ = writeln!(
                    o,
                    "frames: {} udp datagrams, {} skipped (not UDP/IPv4 or malformed)",
                    c.udp_datagrams, c.skipped_frames
                );
            }
        }
        (None, Some(l)) => render_live(&mut o, r, l),
        (None, None) => {}
    }
    if r.live.as_ref().is_some_and(|l| l.floor) {
        render_tail(&mut o, r);
        return o;
    }
    if e.itch_messages > 0 || e.mold_malformed > 0 {
        let _ = writeln!(
            o,
            "ITCH messages: {} ({})",
            e.itch_messages,
            join_types(&e.itch_types)
        );
    }
    if e.iex_messages > 0 || e.iextp_malformed > 0 {
        let _ = writeln!(
            o,
            "IEX messages: {} ({})",
            e.iex_messages,
            join_types(&e.iex_types)
        );
    }
    let _ = writeln!(
        o,
        "malformed: moldudp64 {} packets, iex-tp {} segments, itch {} messages, iex {} messages",
        e.mold_malformed, e.iextp_malformed, e.itch_malformed, e.iex_malformed
    );
    if e.unknown_protocol > 0 {
        let _ = writeln!(
            o,
            "foreign: {} datagrams neither MoldUDP64 nor IEX-TP (another protocol), dropped",
            e.unknown_protocol
        );
    }
    for (name, q) in [("MoldUDP64", &e.moldudp64), ("IEX-TP", &e.iextp)] {
        let Some(q) = q else { continue };
        let (s, open) = (&q.stats, q.open_gap_messages);
        let _ = writeln!(
            o,
            "sequencing {name}: {} packets ({} heartbeats), {} messages; gaps {} ({} messages missing, {} still open); duplicates {} packets / {} messages; out of order {} packets ({} late messages); session changes {}; end of session {}",
            s.packets, s.heartbeats, s.messages, s.gaps, s.gap_messages, open,
            s.duplicate_packets, s.duplicate_messages, s.out_of_order_packets, s.late_messages,
            s.session_changes, s.end_of_session
        );
    }
    let _ = writeln!(
        o,
        "books: ITCH {} instruments with levels, {} live orders (store {} slots, {} growths), IEX DEEP {} symbols with levels of {} seen",
        e.itch_books, e.live_orders, e.order_slots, e.order_growths, e.deep_books, e.deep_symbols
    );
    let (a, d) = (&e.itch_anomalies, &e.deep_anomalies);
    let _ = writeln!(
        o,
        "anomalies: unknown ref {}, duplicate ref {}, over-execution {}, locate mismatch {}, level mismatch {}, bad side {}, crossed ITCH {} / DEEP {}, DEEP no-op updates {}; level growths {}",
        a.unknown_ref, a.duplicate_ref, a.over_execution, a.locate_mismatch, a.level_mismatch,
        a.bad_side, a.crossed, d.crossed, d.noop_updates, e.level_growths
    );
    let u = &r.updates;
    let _ = writeln!(
        o,
        "updates: {} (add {}, change {}, delete {}, trade {}, status {}, break {}), {} flagged stale",
        u.total, u.add, u.change, u.delete, u.trade, u.status, u.trade_break, u.stale
    );
    for b in &r.books {
        render_book(&mut o, b);
    }
    if !r.books.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "{}",
        speed_line(e.messages(), r.elapsed_s, r.engine_cpu_s, r.peak_rss_bytes)
    );
    if let Some(ring) = &r.ring {
        render_ring(&mut o, r, ring);
    }
    if let Some(b) = &r.bbo_csv {
        let _ = writeln!(o, "bbo csv: {} rows -> {}", b.rows, b.path);
    }
    for x in &r.exports {
        let _ = writeln!(o, "export: {} records -> {}", x.rows, x.path);
    }
    for t in &r.taps {
        let figs = t.figures.0.iter().map(|(k, v)| format!("{k} {v}"));
        let _ = writeln!(o, "{}: {}", t.name, figs.collect::<Vec<_>>().join(", "));
    }
    if let Some(d) = &r.digest {
        let _ = writeln!(o, "digest: {d}");
    }
    render_tail(&mut o, r);
    o
}

fn render_book(o: &mut String, b: &BookDepth) {
    let spread = b.spread.map(fmt_price).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        o,
        "\n{} (instrument {}, {} book messages, {} bid / {} ask levels, spread {spread})",
        b.symbol, b.instrument, b.activity, b.bid_levels, b.ask_levels
    );
    let _ = writeln!(
        o,
        "  {:>10} {:>6} {:>12} | {:<12} {:<10} {:<6}",
        "bid size", "orders", "bid", "ask", "ask size", "orders"
    );
    for i in 0..b.bids.len().max(b.asks.len()) {
        let (bs, bo, bp) = b
            .bids
            .get(i)
            .map(|&(p, s, n)| (s.to_string(), n.to_string(), fmt_price(p)))
            .unwrap_or_default();
        let (ap, as_, ao) = b
            .asks
            .get(i)
            .map(|&(p, s, n)| (fmt_price(p), s.to_string(), n.to_string()))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {bs:>10} {bo:>6} {bp:>12} | {ap:<12} {as_:<10} {ao:<6}"
        );
    }
}

fn render_live(o: &mut String, r: &RunReport, l: &LiveReport) {
    let s = r.elapsed_s.max(1e-9);
    let x = &l.rx;
    let _ = writeln!(
        o,
        "received {} packets ({} bytes) in {:.3} s ({:.0} packets/s); processed {}; kernel drops {}; truncated {}; ring full {}; socket errors {}; silences {}; captured {}",
        x.packets, x.bytes, s, x.packets as f64 / s, l.processed, x.kernel_drops, x.truncated,
        x.ring_full, x.errors, l.silences, l.captured
    );
    let _ = writeln!(o, "packets per group: {:?}", l.group_packets);
    if l.floor {
        return;
    }
    let e = &r.engine;
    let sum = |f: fn(&SeqStats) -> u64| {
        [&e.moldudp64, &e.iextp]
            .iter()
            .filter_map(|q| q.as_ref().map(|q| f(&q.stats)))
            .sum::<u64>()
    };
    let _ = writeln!(
        o,
        "sequencing: messages {} updates {} gaps {} gap-messages {} duplicates {} reordered {} session-changes {} end-of-session {} heartbeats {} malformed {} stale-updates {}",
        e.messages(),
        r.updates.total,
        sum(|s| s.gaps),
        sum(|s| s.gap_messages),
        sum(|s| s.duplicate_packets),
        sum(|s| s.out_of_order_packets),
        sum(|s| s.session_changes),
        sum(|s| s.end_of_session),
        sum(|s| s.heartbeats),
        e.malformed(),
        r.updates.stale
    );
    if let Some(v) = &r.recovery {
        render_recovery(o, v);
    }
}

fn render_recovery(o: &mut String, v: &crate::live::recovery::RecoveryReport) {
    for (name, c) in &v.lines {
        let _ = writeln!(
            o,
            "line {name}: packets {} gaps {} first {} duplicates {} saves {}",
            c.packets, c.gaps, c.first, c.duplicates, c.saves
        );
    }
    let _ = writeln!(
        o,
        "recovery: holes {} filled-by-line {} filled-by-request {} gave-up {} lost-messages {} requests {} sent {} timeouts {} responses {} held {} held-max {} hold-overflows {}",
        v.holes, v.filled_by_line, v.filled_by_request, v.gave_up, v.lost_messages, v.requests,
        v.requests_sent, v.request_timeouts, v.responses, v.held, v.held_max, v.hold_overflows
    );
    let [p50, p99, max] = v.latency_us;
    let _ = writeln!(
        o,
        "gap recovery latency, detect -> filled, us: count {} p50 {p50:.1} p99 {p99:.1} max {max:.1}",
        v.latency_count
    );
    let [q50, q99, qmax] = v.request_latency_us;
    let _ = writeln!(
        o,
        "gap recovery latency, filled by a request server, us: count {} p50 {q50:.1} p99 {q99:.1} max {qmax:.1}",
        v.request_latency_count
    );
    if v.snapshots > 0 || v.snapshot_failures > 0 {
        let _ = writeln!(
            o,
            "snapshots: {} (last at sequence {}, {} messages) failures {}{}",
            v.snapshots,
            v.snapshot_seq,
            v.snapshot_messages,
            v.snapshot_failures,
            v.snapshot_errors
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    let shown: Vec<String> = v
        .lost
        .iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let _ = writeln!(
        o,
        "lost ranges: {}{}",
        if shown.is_empty() {
            "none".to_string()
        } else {
            shown.join(" ")
        },
        if v.lost_unlisted > 0 {
            format!(" (+{} not listed)", v.lost_unlisted)
        } else {
            String::new()
        }
    );
}

fn render_ring(o: &mut String, r: &RunReport, ring: &RingReport) {
    let _ = writeln!(
        o,
        "pipeline: {} strategies on {} threading, ring {} slots, {} policy, {} idle; engine {}",
        r.strategies.len(),
        r.threading,
        ring.size,
        ring.policy,
        ring.idle,
        match ring.engine_core {
            Some(c) => format!("pinned to cpu {c}"),
            None => "not pinned".to_string(),
        }
    );
    let msgs = r.engine.messages();
    let _ = writeln!(
        o,
        "producer: published {} updates, waited {} times for {:.3} ms (no-loss back-pressure), split events {}, top-of-book ids outside the table {}{}; done after {:.3} s ({:.2} M messages/s)",
        ring.published,
        ring.waits,
        ring.wait_ns as f64 / 1e6,
        ring.split_events,
        ring.top_outside,
        if ring.steps > 0 {
            format!(", {} steps", ring.steps)
        } else {
            String::new()
        },
        ring.producer_done_s,
        msgs as f64 / ring.producer_done_s.max(1e-9) / 1e6
    );
    for (i, s) in r.strategies.iter().enumerate() {
        let figs = s
            .figures
            .0
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            o,
            "consumer {i} ({}, {}{}): consumed {}, batches {} (mean {:.1} updates), missed {}, lag max {} mean {}{}{}",
            s.name,
            s.thread,
            s.core.map(|c| format!(", cpu {c}")).unwrap_or_default(),
            s.stats.delivered,
            s.stats.batches,
            s.stats.delivered as f64 / s.stats.batches.max(1) as f64,
            s.stats.missed,
            s.stats.max_lag,
            s.mean_lag,
            if figs.is_empty() { "" } else { "; " },
            figs
        );
    }
    let _ = writeln!(
        o,
        "pipeline elapsed: {:.3} s, {:.2} M messages/s end to end",
        r.elapsed_s,
        msgs as f64 / r.elapsed_s.max(1e-9) / 1e6
    );
}

fn render_tail(o: &mut String, r: &RunReport) {
    let Some(l) = &r.latency else { return };
    for n in &l.notes {
        let _ = writeln!(o, "{n}");
    }
    let _ = writeln!(o, "latency ({})", l.title);
    let _ = writeln!(o, "{}", l.clock);
    if l.stages.is_empty() {
        let _ = writeln!(o, "no latency recorded");
    } else {
        o.push_str(&table::render(&l.stages));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_json_report_has_every_section_and_the_text_comes_from_the_same_value() {
        let r = RunReport {
            schema: SCHEMA,
            mode: "replay",
            source: "x.pcap".into(),
            threading: "single",
            digest: Some("00000000000000ff".into()),
            updates: UpdatesReport::of(&[1, 2, 3, 4, 5, 6, 0, 0], 7),
            ..RunReport::default()
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for k in [
            "schema",
            "mode",
            "engine",
            "updates",
            "strategies",
            "latency",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["updates"]["total"], 21);
        let t = render_text(&r);
        assert!(t.contains("updates: 21 (add 1, change 2, delete 3, trade 4, status 5, break 6), 7 flagged stale"), "{t}");
        assert!(t.contains("\ndigest: 00000000000000ff\n"), "{t}");
    }
}
