//! Recovery allocates nothing: inside a private network namespace, with a counting global
//! allocator, the receive agent (two lines and the response socket) and the engine agent with
//! its A/B arbiter (hold buffer, holes, re-requests through the queue to the sender thread,
//! responses, give-ups) run a recovery storm — a day sent on two lines with 5 % independent
//! drops, reorders and a 300-packet outage on both, against a request server that answers only
//! half of each range and ignores 10 % of requests — on this test's thread with zero
//! allocations, and the hold buffer never holds more than it was given.
//!
//! Only allocations of this test's thread while counting is on are counted (the exchange, the
//! request sender and the harness run on other threads).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fh_feed::agent::Agent;
use fh_feed::engine::digest::Digest;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_feed::latency::{LatencyConfig, LatencyRun};
use fh_feed::live::recovery::{Arbiter, RecoveryConfig, Requester};
use fh_feed::live::{self, GroupSpec, LiveConfig};
use fh_feed::pipeline::live::{EngineAgent, Protocol};
use fh_feed::pipeline::sink::{NoBbo, PublishSink};
use fh_replay::gen::{self, Config, FaultRates, Stop};
use fh_replay::serve::{self, DaySource, RequestServerConfig, ServeConfig};
use fh_tests::netns;

#[test]
fn a_recovery_storm_allocates_nothing_on_the_receive_and_engine_path() {
    const NAME: &str = "a_recovery_storm_allocates_nothing_on_the_receive_and_engine_path";
    if !netns::enter(NAME) {
        return;
    }
    const N: u64 = 100_000;
    let a: SocketAddrV4 = "239.19.1.1:31921".parse().unwrap();
    let b: SocketAddrV4 = "239.19.1.2:31922".parse().unwrap();
    let req: SocketAddrV4 = "127.0.0.1:31923".parse().unwrap();
    let day = gen::Options {
        config: Config {
            symbols: 50,
            seed: 41,
            stop: Stop::Messages(N),
        },
        ..gen::Options::default()
    };
    // Warm the engine as a previous day would (symbols and levels learnt), then reset.
    let clean = serve::prepare(&ServeConfig::new(DaySource::Generate(day.clone()), a)).unwrap();
    let mut e = Engine::new(&EngineConfig::default());
    let mut d = Digest::new();
    let mut buf = Vec::new();
    let mut seq = clean.log.first_seq;
    while seq <= clean.log.last_seq() {
        let k = serve::build_response(&clean.log, u64::MAX, 0, seq, 30, 30, &mut buf);
        e.on_datagram(0, &DatagramMeta { recv_ts: 0 }, &buf, &mut d);
        seq += k;
    }
    e.reset_day();

    let cfg = LiveConfig {
        groups: [a, b]
            .iter()
            .map(|&group| GroupSpec {
                group,
                source: None,
            })
            .collect(),
        iface: Ipv4Addr::LOCALHOST,
        slots: 1 << 14,
        unicast: Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        ..LiveConfig::default()
    };
    let (mut rx, mut readers) = live::open(&cfg, 1).unwrap();
    let rc = RecoveryConfig {
        servers: vec![req],
        gap_wait_ns: 100_000,
        hold_packets: 4096,
        hold_bytes: 4096 * 1024,
        ..RecoveryConfig::default()
    };
    let arb = Box::new(Arbiter::new(rc, 2));
    let requester = Requester::new(&arb, rx.unicast_socket(2).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let req_thread = {
        let s = stop.clone();
        std::thread::spawn(move || requester.run(&s))
    };
    let lat = LatencyRun::start(&LatencyConfig::default()).unwrap();
    let clock = lat.clock();
    let sink = PublishSink::new(true, NoBbo, ());
    let mut engine = EngineAgent::new(readers.remove(0), e, sink, Protocol::Itch, clock, None)
        .with_recovery(arb);

    let mut sc = ServeConfig::new(DaySource::Generate(day), a);
    sc.line_b = Some(b);
    sc.iface = Some(Ipv4Addr::LOCALHOST);
    sc.rates = FaultRates {
        drop: 0.05,
        reorder: 0.01,
        ..FaultRates::default()
    };
    sc.outage = Some((3000, 300));
    sc.pps = 100_000;
    sc.linger = Duration::from_secs(3);
    sc.request = Some(RequestServerConfig {
        answer_fraction: 0.5,
        drop_requests: 0.1,
        ..RequestServerConfig::new(req)
    });
    let served = serve::start(&sc, Arc::new(AtomicBool::new(false))).unwrap();

    let ((), allocs) = fh_tests::alloc::counted(|| {
        let t0 = Instant::now();
        loop {
            let now = clock.now();
            rx.do_work(now);
            engine.do_work(now);
            let done = engine
                .recovery()
                .is_some_and(|r| r.next_expected() > N && r.missing() == 0);
            if done || t0.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
    });
    let lost_both = served.truth.lost_both();
    let sr = served.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = req_thread.join();
    let rep = engine.finish_recovery().unwrap();
    println!(
        "{rep:?}\nserver: requests {} answered {} dropped {}",
        sr.requests, sr.answered, sr.dropped_requests
    );
    assert!(
        lost_both.len() > 10,
        "a storm: {} ranges lost on both lines",
        lost_both.len()
    );
    assert!(sr.dropped_requests > 0 && sr.answered > 0);
    assert!(rep.requests > 50 && rep.request_timeouts > 0 && rep.responses > 0);
    assert!(
        rep.held_max > 0 && rep.held_max <= 4096,
        "the hold buffer stays within its size"
    );
    let (e, _, _, _) = engine.finish();
    // A small hold buffer on a busy machine may overflow: then the oldest hole is given up
    // (the path this storm also covers); every other message is applied.
    assert_eq!(
        e.mold_seq().stats.messages + rep.lost_messages,
        N,
        "every message applied or listed lost"
    );
    assert!(
        rep.gave_up <= rep.hold_overflows,
        "only overflows give up while a server answers"
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations on the receive and engine path"
    );
}
