//! The live hot path allocates nothing: inside a private network namespace, with a counting
//! global allocator, the receive agent (`recvmmsg` into ring slots), the engine agent (decode in
//! place; the pipeline's `PublishSink`: tally, digest, top-of-book table, publication ring) and
//! a strategy runner (the built-in `digest` strategy, its hop latency, wall-clock context)
//! process the whole production IEX DEEP capture, received from the wire, with zero allocations
//! once the engine has learnt the day's symbols and levels (as `tests/no_alloc.rs` warms it).
//!
//! Only allocations of this test's thread while counting is on are counted.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fh_feed::agent::Agent;
use fh_feed::engine::digest::Digest;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_feed::latency::{LatencyConfig, LatencyRun};
use fh_feed::live::{self, GroupSpec, LiveConfig};
use fh_feed::pipeline::builtin::DigestStrategy;
use fh_feed::pipeline::live::{EngineAgent, Protocol};
use fh_feed::pipeline::sink::{NoBbo, PublishSink, RingOutlet};
use fh_feed::pipeline::TOP_INSTRUMENTS;
use fh_feed::ring::{self, Policy, RingConfig};
use fh_feed::strategy::{HopTimer, MarketView, Runner, StrategyRunner, TimeSource};
use fh_feed::topbook::top_book;
use fh_feed::update::BookUpdate;
use fh_replay::wire::{self, Pacing, WireConfig};
use fh_tests::netns;

#[test]
fn live_receive_decode_publish_consume_allocates_nothing() {
    const NAME: &str = "live_receive_decode_publish_consume_allocates_nothing";
    let Some(real) = fh_tests::real_pcaps_or_skip(NAME) else {
        return;
    };
    if !netns::enter(NAME) {
        return;
    }
    let pcap = real.join("iex-deep-20231002-sai271828/test.pcap");
    // Warm the engine as a previous day would: every symbol and level learnt, then reset.
    let cap = fh_replay::capture::Capture::open(&pcap).unwrap();
    let mut e = Engine::new(&EngineConfig::default());
    let mut d = Digest::new();
    for r in cap.records().unwrap() {
        let r = r.unwrap();
        let p = fh_replay::frame::udp_payload(r.link, r.data)
            .unwrap()
            .payload;
        e.on_datagram(r.ts_ns, &DatagramMeta { recv_ts: r.ts_ns }, p, &mut d);
    }
    e.reset_day();
    let warm = e.counters().datagrams;
    let warm_messages = e.counters().iex_messages();

    let g: SocketAddrV4 = "233.215.21.4:10378".parse().unwrap();
    let cfg = LiveConfig {
        groups: vec![GroupSpec {
            group: g,
            source: None,
        }],
        iface: Ipv4Addr::LOCALHOST,
        rcvbuf: 64 << 20,
        slots: 1 << 12,
        ..LiveConfig::default()
    };
    let (mut rx, mut readers) = live::open(&cfg, 1).unwrap();
    let mut lat = LatencyRun::start(&LatencyConfig::default()).unwrap();
    let clock = lat.clock();
    let (producer, mut consumers) =
        ring::ring::<BookUpdate>(RingConfig::new(1 << 16, 1, Policy::NoLoss)).unwrap();
    let (writer, top) = top_book(TOP_INSTRUMENTS);
    let view = MarketView {
        top,
        symbols: e.directory().clone(),
        time: TimeSource::Wall,
    };
    let outlet = RingOutlet::new(producer, writer, None, None);
    let sink = PublishSink::new(true, NoBbo, outlet);
    let mut engine = EngineAgent::new(
        readers.remove(0),
        e,
        sink,
        Protocol::Iex,
        clock,
        Some(lat.recorder()),
    );
    let mut strategy = StrategyRunner::new(
        "digest",
        consumers.remove(0),
        DigestStrategy::default(),
        view,
        Some(HopTimer {
            clock,
            rec: lat.recorder_for("digest"),
            kernel_arrival: true,
        }),
    );
    // Everything is queued in the socket before counting starts.
    let mut wc = WireConfig::new(g);
    wc.iface = Some(Ipv4Addr::LOCALHOST);
    wc.pacing = Pacing::TopSpeed;
    assert_eq!(wire::send_capture(&pcap, &wc).unwrap().packets, 5000);

    let progress = engine.progress();
    let ((), allocs) = fh_tests::alloc::counted(|| {
        let t0 = Instant::now();
        // progress[0]: datagrams the engine agent has taken (decoded or foreign).
        while progress[0].load(Ordering::Relaxed) < warm + 5000
            && t0.elapsed() < Duration::from_secs(30)
        {
            let now = clock.now();
            rx.do_work(now);
            engine.do_work(now);
            strategy.do_work(now);
        }
        while strategy.do_work(clock.now()) > 0 {}
    });

    assert_eq!(
        rx.stats().snapshot().packets,
        5000,
        "every datagram received"
    );
    let (e, sink, foreign, _) = engine.finish();
    assert_eq!(foreign, 0, "every datagram is IEX-TP");
    assert_eq!(e.counters().iex_messages() - warm_messages, 48_325);
    let (outlet, producer, _) = sink.outlet.close();
    assert_eq!(outlet.split_events, 0);
    assert_eq!(outlet.top_outside, 0);
    while strategy.do_work(clock.now()) > 0 {}
    let f = Box::new(strategy).finish();
    assert_eq!(f.stats.missed, 0);
    assert_eq!(f.stats.delivered, producer.published);
    let digest = f
        .strategy
        .downcast::<DigestStrategy>()
        .unwrap()
        .tally
        .digest;
    assert!(digest.count > 20_000, "updates reached the strategy");
    // The digest folded on the engine thread is the one the strategy read through the ring.
    assert_eq!(digest.count, sink.tally.digest.count);
    assert_eq!(digest.value(), sink.tally.digest.value());
    assert!(f.latency.is_some(), "the strategy's hop was timed");
    assert_eq!(allocs, 0, "{allocs} allocations on the live hot path");
}
