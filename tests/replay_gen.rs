//! Generated ITCH days (`fh_replay::gen`) through the engine:
//!
//! - 10 M messages in MoldUDP64 packets, replayed twice: the same digest every run, and the
//!   engine's books equal the generator's own books (levels and live orders) at checkpoints
//!   along the day and at the end;
//! - days with dropped, duplicated, reordered and corrupted packets: the engine reports exactly
//!   the gaps (missing ranges), duplicates, out-of-order packets and malformed packets written
//!   in the generator's truth record.
//!
//! Heavy: run it optimised (`cargo test --profile ci`).

use fh_feed::engine::digest::Digest;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_feed::update::Side;
use fh_replay::gen::faults::{FaultRates, FrameSink};
use fh_replay::gen::flow::{Config, Generator, Stop};
use fh_replay::gen::packet::{Packet, PacketSink, Packetizer};
use fh_replay::gen::{run_packets, Options, DEFAULT_SESSION};
use std::io;

const SYMBOLS: u16 = 100;

/// Feeds every packet straight into an engine (nothing stored).
struct Feed {
    engine: Engine,
    digest: Digest,
}

impl PacketSink for Feed {
    fn packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        let meta = DatagramMeta { recv_ts: p.ts };
        self.engine
            .on_datagram(p.ts, &meta, p.bytes, &mut self.digest);
        Ok(())
    }
}

/// Engine levels of one locate as (price, shares), best first.
fn engine_levels(e: &Engine, locate: u16, side: Side) -> Vec<(u32, u64)> {
    e.itch()
        .instrument(locate)
        .ladder(side)
        .iter_best_first()
        .map(|l| (l.price as u32, l.shares))
        .collect()
}

/// Whether the engine's books equal the generator's (levels of every locate, live orders).
fn books_equal(e: &Engine, g: &Generator) -> bool {
    (1..=SYMBOLS).all(|locate| {
        let (bids, asks) = g.levels(locate);
        let want_b: Vec<(u32, u64)> = bids.iter().map(|l| (l.price, l.shares)).collect();
        let want_a: Vec<(u32, u64)> = asks.iter().map(|l| (l.price, l.shares)).collect();
        engine_levels(e, locate, Side::Bid) == want_b
            && engine_levels(e, locate, Side::Ask) == want_a
    }) && e.itch().orders.len() == g.live_orders().count()
}

fn assert_books_equal(e: &Engine, g: &Generator, at: u64) {
    for locate in 1..=SYMBOLS {
        let (bids, asks) = g.levels(locate);
        let want_b: Vec<(u32, u64)> = bids.iter().map(|l| (l.price, l.shares)).collect();
        let want_a: Vec<(u32, u64)> = asks.iter().map(|l| (l.price, l.shares)).collect();
        assert_eq!(
            engine_levels(e, locate, Side::Bid),
            want_b,
            "bids of locate {locate} after {at} messages"
        );
        assert_eq!(
            engine_levels(e, locate, Side::Ask),
            want_a,
            "asks of locate {locate} after {at} messages"
        );
    }
    assert_eq!(
        e.itch().orders.len(),
        g.live_orders().count(),
        "live orders after {at} messages"
    );
    for o in g.live_orders() {
        let mine = e
            .itch()
            .orders
            .get(o.order_ref)
            .expect("generator's live order is in the store");
        assert_eq!(
            (mine.locate, mine.price, mine.shares),
            (o.locate, o.price, o.shares)
        );
    }
}

/// One run of a packetized day: returns (digest, updates digested, updates published).
fn run_day(messages: u64) -> (u64, u64, u64) {
    let mut g = Generator::new(Config {
        symbols: SYMBOLS,
        seed: 42,
        stop: Stop::Messages(messages),
    })
    .unwrap();
    let mut feed = Feed {
        engine: Engine::new(&EngineConfig {
            expect_first_seq: Some(1),
            ..EngineConfig::default()
        }),
        digest: Digest::new(),
    };
    let mut pk = Packetizer::new(DEFAULT_SESSION);
    let mut buf = [0u8; fh_replay::gen::msg::MAX_LEN];
    while let Some((ts, len)) = g.next_message(&mut buf) {
        pk.push(ts, &buf[..len], &mut feed).unwrap();
    }
    pk.finish(&mut feed).unwrap();
    let e = &feed.engine;
    assert_eq!(e.counters().itch_messages(), messages);
    assert_books_equal(e, &g, messages);
    let a = e.itch().anomalies;
    assert_eq!(
        (
            a.unknown_ref,
            a.duplicate_ref,
            a.over_execution,
            a.level_mismatch
        ),
        (0, 0, 0, 0)
    );
    let q = e.mold_seq().stats;
    assert_eq!(
        (q.gaps, q.duplicate_packets, q.out_of_order_packets),
        (0, 0, 0)
    );
    assert_eq!(q.end_of_session, 1);
    (feed.digest.value(), feed.digest.count, e.counters().updates)
}

#[test]
fn ten_million_messages_same_digest_every_run_and_generator_books_match() {
    let n = 10_000_000;
    let (d1, c1, u1) = run_day(n);
    let (d2, c2, u2) = run_day(n);
    assert_eq!(c1, u1);
    assert!(c1 > n, "more updates than messages ({c1})");
    assert_eq!((d1, c1, u1), (d2, c2, u2), "digest differs between runs");
}

#[test]
fn books_match_the_generator_along_the_day() {
    // Message by message (no packets), compared with the generator's own books every 50 000.
    let n = 1_000_000;
    let mut g = Generator::new(Config {
        symbols: SYMBOLS,
        seed: 9,
        stop: Stop::Messages(n),
    })
    .unwrap();
    let mut e = Engine::new(&EngineConfig::default());
    let mut d = Digest::new();
    let mut buf = [0u8; fh_replay::gen::msg::MAX_LEN];
    let meta = DatagramMeta::default();
    // The generator updates its own book when it plans an event and then emits the event's
    // messages one by one, so mid-event it is ahead of any consumer: at each checkpoint the
    // books must agree as soon as the planned messages have all been emitted.
    let mut i = 0u64;
    let mut due: Option<u64> = None;
    let mut checked = 0;
    while let Some((ts, len)) = g.next_message(&mut buf) {
        e.on_itch_stream_message(ts, &meta, &buf[..len], &mut d);
        i += 1;
        if i.is_multiple_of(50_000) {
            due = Some(i);
        }
        if let Some(at) = due {
            if books_equal(&e, &g) {
                due = None;
                checked += 1;
            } else {
                assert!(
                    i - at < 1_000,
                    "books still differ {} messages after {at}",
                    i - at
                );
            }
        }
    }
    assert!(checked >= 19, "{checked} checkpoints");
    assert_books_equal(&e, &g, i);
}

/// Collects the frames of every line in memory, in the order written.
#[derive(Default)]
struct Frames(Vec<(u64, Vec<u8>)>);

impl FrameSink for Frames {
    fn frame(&mut self, _line: usize, ts: u64, payload: &[u8]) -> io::Result<()> {
        self.0.push((ts, payload.to_vec()));
        Ok(())
    }
}

/// Merges touching or overlapping inclusive ranges into half-open ones.
fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(l) if a <= l.1 => l.1 = l.1.max(b + 1),
            _ => out.push((a, b + 1)),
        }
    }
    out
}

fn faults_case(seed: u64, rates: FaultRates) {
    let opts = Options {
        config: Config {
            symbols: 20,
            seed,
            stop: Stop::Messages(300_000),
        },
        session: DEFAULT_SESSION,
        rates,
        ..Options::default()
    };
    let (frames, summary) = run_packets(&opts, Frames::default()).unwrap();
    let truth = &summary.truth.lines[0].2;
    let mut e = Engine::new(&EngineConfig {
        expect_first_seq: Some(1),
        ..EngineConfig::default()
    });
    let mut d = Digest::new();
    for (ts, p) in &frames.0 {
        e.on_datagram(*ts, &DatagramMeta { recv_ts: *ts }, p, &mut d);
    }
    let q = e.mold_seq().stats;
    let ctx = format!("seed {seed}, rates {rates:?}, truth {truth:?}");
    assert_eq!(
        q.duplicate_packets,
        truth.duplicated.len() as u64,
        "duplicates: {ctx}"
    );
    assert_eq!(
        q.duplicate_messages,
        truth.duplicated.iter().map(|r| r.1 - r.0 + 1).sum::<u64>(),
        "duplicate messages: {ctx}"
    );
    assert_eq!(
        q.out_of_order_packets,
        truth.reordered.len() as u64,
        "out of order: {ctx}"
    );
    assert_eq!(
        e.counters().mold_malformed,
        truth.corrupted.len() as u64,
        "malformed: {ctx}"
    );
    // What is still missing at the end: exactly the dropped and the corrupted packets.
    let lost: Vec<(u64, u64)> = truth
        .dropped
        .iter()
        .copied()
        .chain(truth.corrupted.iter().map(|c| c.0))
        .collect();
    let want = merge(lost.clone());
    assert_eq!(e.mold_seq().open_gaps().to_vec(), want, "open gaps: {ctx}");
    let missing: u64 = lost.iter().map(|r| r.1 - r.0 + 1).sum();
    assert_eq!(e.mold_seq().open_gap_messages(), missing);
    assert_eq!(
        q.gap_messages - q.late_messages,
        missing,
        "gap accounting: {ctx}"
    );
    assert_eq!(e.mold_seq().stale(), missing > 0);
    assert_eq!(
        e.counters().itch_messages(),
        summary.messages - missing,
        "applied messages: {ctx}"
    );
    if missing > 0 {
        assert!(d.count > 0);
    }
}

#[test]
fn faults_are_reported_exactly_as_the_truth_says() {
    for (seed, rates) in [
        (
            1,
            FaultRates {
                drop: 0.01,
                ..Default::default()
            },
        ),
        (
            2,
            FaultRates {
                dup: 0.02,
                ..Default::default()
            },
        ),
        (
            3,
            FaultRates {
                reorder: 0.02,
                ..Default::default()
            },
        ),
        (
            4,
            FaultRates {
                corrupt: 0.01,
                ..Default::default()
            },
        ),
        (
            5,
            FaultRates {
                drop: 0.01,
                dup: 0.01,
                reorder: 0.01,
                corrupt: 0.005,
            },
        ),
    ] {
        faults_case(seed, rates);
    }
}

/// Every sequence number of some inclusive ranges.
fn seqs(v: impl Iterator<Item = (u64, u64)>) -> std::collections::BTreeSet<u64> {
    v.flat_map(|(a, b)| a..=b).collect()
}

#[test]
fn lines_a_and_b_are_arbitrated_by_sequence_number() {
    // Both lines in one capture, each with its own drops, duplicates, reorders and damage:
    // the engine takes every message once from whichever line brings it first; only what both
    // lines lost stays missing.
    let opts = Options {
        config: Config {
            symbols: 20,
            seed: 11,
            stop: Stop::Messages(200_000),
        },
        session: DEFAULT_SESSION,
        rates: FaultRates {
            drop: 0.05,
            dup: 0.01,
            reorder: 0.01,
            corrupt: 0.01,
        },
        line_b: Some(fh_replay::gen::Endpoint {
            group: std::net::Ipv4Addr::new(233, 54, 12, 112),
            port: 26478,
        }),
        ..Options::default()
    };
    let (frames, summary) = run_packets(&opts, Frames::default()).unwrap();
    let lost = |t: &fh_replay::gen::LineTruth| {
        seqs(
            t.dropped
                .iter()
                .copied()
                .chain(t.corrupted.iter().map(|c| c.0)),
        )
    };
    let a = lost(&summary.truth.lines[0].2);
    let b = lost(&summary.truth.lines[1].2);
    assert!(!a.is_empty() && !b.is_empty());
    let both: Vec<u64> = a.intersection(&b).copied().collect();
    let mut e = Engine::new(&EngineConfig {
        expect_first_seq: Some(1),
        ..EngineConfig::default()
    });
    let mut d = Digest::new();
    for (ts, p) in &frames.0 {
        e.on_datagram(*ts, &DatagramMeta { recv_ts: *ts }, p, &mut d);
    }
    let open: Vec<u64> = e
        .mold_seq()
        .open_gaps()
        .iter()
        .flat_map(|&(x, y)| x..y)
        .collect();
    assert_eq!(open, both, "still missing = lost on both lines");
    assert_eq!(
        e.counters().itch_messages(),
        summary.messages - both.len() as u64
    );
    assert_eq!(
        e.itch().anomalies.duplicate_ref,
        0,
        "no message applied twice"
    );
}
