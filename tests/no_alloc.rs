//! A counting global allocator proves the steady state allocates nothing: after a warm-up,
//! replaying MoldUDP64/ITCH packets (adds, executions, cancels, deletes, replaces, trades) and
//! the production IEX DEEP capture through `Engine::on_datagram` makes zero allocations.
//!
//! Only allocations made by this test's thread while counting is on are counted, so the test
//! harness's own threads cannot disturb the result.

use fh_decoders::itch50::{
    alpha, AddOrder, OrderCancel, OrderDelete, OrderExecuted, OrderReplace, StockDirectory, Trade,
};
use fh_decoders::moldudp64::PacketBuilder;
use fh_feed::engine::digest::Digest;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use std::cell::Cell;
use zerocopy::byteorder::big_endian::{U32, U64};
use zerocopy::IntoBytes;

use fh_tests::alloc::counted;

const LOCATES: u16 = 8;
const SESSION: [u8; 10] = *b"NOALLOC001";

/// A deterministic ITCH flow in MoldUDP64 packets: per locate a bounded ring of live orders
/// within a fixed price band; each step adds an order and, once the ring is full, removes or
/// changes the oldest one with E, X, D or U, with P trades in between.
fn itch_packets(messages: usize) -> Vec<Vec<u8>> {
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let ts = 34_200_000_000_000u64;
    for l in 1..=LOCATES {
        let mut m = StockDirectory::new(l, 0, ts);
        m.stock = alpha(format!("NA{l}").as_bytes());
        msgs.push(m.as_bytes().to_vec());
    }
    let mut live: Vec<Vec<(u64, u32)>> = vec![Vec::new(); usize::from(LOCATES) + 1];
    let mut next_ref = 1u64;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut step = 0u64;
    while msgs.len() < messages {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        step += 1;
        let t = ts + step * 1000;
        let l = 1 + (x % u64::from(LOCATES)) as u16;
        let ring = &mut live[usize::from(l)];
        if ring.len() < 64 {
            let side = if x & 8 == 0 { b'B' } else { b'S' };
            let price = if side == b'B' { 100_000 } else { 110_000 } + 100 * ((x >> 8) % 20) as u32;
            let mut m = AddOrder::new(l, 0, t);
            m.order_reference_number = U64::new(next_ref);
            m.buy_sell_indicator = side;
            m.shares = U32::new(100 + (x >> 16) as u32 % 900);
            m.stock = alpha(format!("NA{l}").as_bytes());
            m.price = U32::new(price);
            ring.push((next_ref, m.shares.get()));
            next_ref += 1;
            msgs.push(m.as_bytes().to_vec());
            continue;
        }
        let (r, shares) = ring.remove(0);
        match (x >> 20) % 5 {
            0 => {
                let mut m = OrderExecuted::new(l, 0, t);
                m.order_reference_number = U64::new(r);
                m.executed_shares = U32::new(shares);
                m.match_number = U64::new(step);
                msgs.push(m.as_bytes().to_vec());
            }
            1 => {
                let mut m = OrderCancel::new(l, 0, t);
                m.order_reference_number = U64::new(r);
                m.cancelled_shares = U32::new(shares / 2);
                msgs.push(m.as_bytes().to_vec());
                let mut d = OrderDelete::new(l, 0, t);
                d.order_reference_number = U64::new(r);
                msgs.push(d.as_bytes().to_vec());
            }
            2 => {
                let mut m = OrderReplace::new(l, 0, t);
                m.original_order_reference_number = U64::new(r);
                m.new_order_reference_number = U64::new(next_ref);
                m.shares = U32::new(shares);
                m.price = U32::new(105_000);
                ring.push((next_ref, shares));
                next_ref += 1;
                msgs.push(m.as_bytes().to_vec());
            }
            3 => {
                let mut m = Trade::new(l, 0, t);
                m.buy_sell_indicator = b'B';
                m.shares = U32::new(10);
                m.price = U32::new(105_000);
                m.stock = alpha(format!("NA{l}").as_bytes());
                msgs.push(m.as_bytes().to_vec());
                ring.insert(0, (r, shares));
            }
            _ => {
                let mut d = OrderDelete::new(l, 0, t);
                d.order_reference_number = U64::new(r);
                msgs.push(d.as_bytes().to_vec());
            }
        }
    }
    let mut packets = Vec::new();
    let mut seq = 1u64;
    let mut i = 0;
    while i < msgs.len() {
        let mut buf = vec![0u8; 1400];
        let mut b = PacketBuilder::new(&mut buf, SESSION, seq).unwrap();
        while i < msgs.len() && b.push(&msgs[i]) {
            i += 1;
        }
        seq += u64::from(b.count());
        packets.push(b.finish().to_vec());
    }
    packets
}

#[test]
fn steady_state_replay_allocates_nothing() {
    let packets = itch_packets(400_000);
    let (warm, steady) = packets.split_at(packets.len() / 4);
    let mut e = Engine::new(&EngineConfig::default());
    let mut digest = Digest::new();
    let meta = DatagramMeta::default();
    for (i, p) in warm.iter().enumerate() {
        e.on_datagram(i as u64, &meta, p, &mut digest);
    }
    let before = e.counters().itch_messages();
    let ((), allocs) = counted(|| {
        for (i, p) in steady.iter().enumerate() {
            e.on_datagram(i as u64, &meta, p, &mut digest);
        }
    });
    let replayed = e.counters().itch_messages() - before;
    assert!(replayed > 250_000, "replayed {replayed} messages");
    assert!(e.counters().updates > 250_000);
    assert_eq!(e.itch().anomalies.unknown_ref, 0, "the flow is valid");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while replaying {replayed} ITCH messages"
    );

    // The counter does count: a deliberate allocation is seen.
    let (v, n) = counted(|| vec![1u8; 10]);
    assert_eq!((v.len(), n), (10, 1));

    // IEX DEEP: a warm-up pass over the production capture learns every symbol and reserves
    // every level vector; then the books and the sequencer are reset (as a new day would) and
    // the same packets are replayed while counting.
    let Some(real) = fh_tests::real_pcaps_or_skip("steady_state_replay_allocates_nothing (DEEP)")
    else {
        return;
    };
    let cap = fh_replay::capture::Capture::open(real.join("iex-deep-20231002-sai271828/test.pcap"))
        .unwrap();
    let payloads: Vec<(u64, &[u8])> = cap
        .records()
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| {
            (
                r.ts_ns,
                fh_replay::frame::udp_payload(r.link, r.data)
                    .unwrap()
                    .payload,
            )
        })
        .collect();
    let mut e = Engine::new(&EngineConfig::default());
    for &(ts, p) in &payloads {
        e.on_datagram(ts, &DatagramMeta { recv_ts: ts }, p, &mut digest);
    }
    e.reset_day();
    let mut d2 = Digest::new();
    let ((), allocs) = counted(|| {
        for &(ts, p) in &payloads {
            e.on_datagram(ts, &DatagramMeta { recv_ts: ts }, p, &mut d2);
        }
    });
    assert_eq!(allocs, 0, "{allocs} allocations replaying the DEEP capture");
    assert!(d2.count > 20_000);
}

/// Writes `packets` as an Ethernet/IPv4/UDP nanosecond pcap, 1 µs apart from `ts0`.
fn write_pcap(path: &std::path::Path, packets: &[Vec<u8>], ts0: u64) {
    use fh_replay::frame::LinkType;
    use fh_replay::writer::{PcapWriter, TsPrecision, UdpFrame};
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = PcapWriter::new(f, LinkType::Ethernet, TsPrecision::Nano).unwrap();
    let frame = UdpFrame::new(
        "10.0.0.1:26477".parse().unwrap(),
        "233.54.12.111:26477".parse().unwrap(),
    );
    for (i, p) in packets.iter().enumerate() {
        w.write_packet(ts0 + i as u64 * 1_000, &frame.build(p).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
}

/// `fh replay`'s loop with stage timestamps on (clock reads, five records per datagram, held
/// updates handed to the sink, interval hand-overs collected by `LatencyRun::poll`) allocates
/// nothing in the steady state either.
#[test]
fn steady_state_replay_with_stage_timestamps_allocates_nothing() {
    use fh_feed::latency::{LatencyConfig, LatencyRun, Stage};
    use fh_feed::pipeline::replay::{replay_timed, Pace, Stamps, Timed};
    use fh_feed::pipeline::sink::{NoBbo, PublishSink};
    use fh_feed::pipeline::PipelineError;
    use std::sync::atomic::AtomicBool;
    let packets = itch_packets(400_000);
    let (warm, steady) = packets.split_at(packets.len() / 4);
    let dir = std::env::temp_dir().join(format!("fh-noalloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (warm_path, steady_path) = (dir.join("warm.pcap"), dir.join("steady.pcap"));
    let ts0 = 1_763_770_000_000_000_000u64;
    write_pcap(&warm_path, warm, ts0);
    write_pcap(&steady_path, steady, ts0 + warm.len() as u64 * 1_000);
    let warm_cap = fh_replay::capture::Capture::open(&warm_path).unwrap();
    let steady_cap = fh_replay::capture::Capture::open(&steady_path).unwrap();

    let opts = LatencyConfig {
        interval: 0.001,
        ..LatencyConfig::default()
    };
    let mut lat = LatencyRun::start(&opts).unwrap();
    let clock = lat.clock();
    let mut stamps = Stamps::new(clock, lat.recorder());
    let mut e = Engine::new(&EngineConfig::default());
    // The single-thread replay's sink: tally and digest, no ring.
    let mut sink = PublishSink::new(true, NoBbo, ());
    let stop = AtomicBool::new(false);
    let mut pace = Pace::off(clock);
    let intervals = Cell::new(0u64);
    let mut timed = Timed {
        stamps: &mut stamps,
        on_interval: || {
            intervals.set(intervals.get() + 1);
            lat.poll().map(|_| ()).map_err(PipelineError::from)
        },
    };
    replay_timed(
        &warm_cap,
        &mut e,
        &mut sink,
        &mut pace,
        &mut timed,
        &stop,
        |_| {},
    )
    .unwrap();
    let before = e.counters().itch_messages();
    let intervals_before = intervals.get();
    let (st, allocs) = counted(|| {
        replay_timed(
            &steady_cap,
            &mut e,
            &mut sink,
            &mut pace,
            &mut timed,
            &stop,
            |_| {},
        )
        .unwrap()
    });
    // The steady pass takes well over 1 ms: intervals were handed over while counting.
    assert!(
        intervals.get() > intervals_before,
        "no interval handed over"
    );
    let replayed = e.counters().itch_messages() - before;
    assert_eq!(st.records, steady.len() as u64);
    assert!(replayed > 250_000, "replayed {replayed} messages");
    assert_eq!(e.itch().anomalies.unknown_ref, 0, "the flow is valid");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while replaying {replayed} ITCH messages with stage timestamps"
    );
    let last = stamps.finish();
    let total = lat.finish(vec![last], "no_alloc", &mut Vec::new()).unwrap();
    assert_eq!(
        total.histogram(Stage::EndToEnd).len(),
        packets.len() as u64,
        "one end-to-end value per datagram"
    );
    assert_eq!(sink.tally.by_kind.iter().sum::<u64>(), e.counters().updates);
    assert_eq!(sink.tally.digest.count, e.counters().updates);
    let _ = std::fs::remove_dir_all(&dir);
}
