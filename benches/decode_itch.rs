//! Decoding speed of MoldUDP64 + ITCH 5.0 from memory: messages/s and bytes/s.
//!
//! The input is ~4 MB of MoldUDP64 packets (payloads up to 1472 bytes, as on a 1500-byte MTU)
//! built with the `itch50` structs from a fixed-seed mix of message types shaped like a
//! TotalView day (mostly adds, deletes, replaces, executions and cancels; some trades, NOII
//! and others). Each iteration parses every packet, iterates its messages and reads the
//! fields a book builder needs, so nothing is optimised away.
//!
//! Run: `cargo bench -p fh-benches --bench decode_itch`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fh_decoders::fields::{FieldValue, FieldVisitor, Fields};
use fh_decoders::itch50::{self, alpha, price4, Message};
use fh_decoders::moldudp64::{DecodeStats, Packet, PacketBuilder, MAX_PAYLOAD_MTU_1500};
use fh_decoders::price::Fixed;
use zerocopy::byteorder::big_endian::{U32, U64};
use zerocopy::IntoBytes;

/// xorshift64*: a fixed-seed generator so every run decodes the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One message of a TotalView-like mix, written into `out`; returns its length.
fn message(rng: &mut Rng, ts: u64, out: &mut [u8; 64]) -> usize {
    let locate = (rng.next() % 8000) as u16 + 1;
    let oref = rng.next() % 100_000_000;
    let px = price4(Fixed((rng.next() % 5_000_000) as i64 + 10_000));
    let shares = U32::new((rng.next() % 10 + 1) as u32 * 100);
    let side = if rng.next() & 1 == 0 { b'B' } else { b'S' };
    match rng.next() % 1000 {
        0..=399 => {
            let mut m = itch50::AddOrder::new(locate, 0, ts);
            m.order_reference_number = U64::new(oref);
            m.buy_sell_indicator = side;
            m.shares = shares;
            m.stock = alpha(b"AAPL");
            m.price = px;
            copy(m.as_bytes(), out)
        }
        400..=779 => {
            let mut m = itch50::OrderDelete::new(locate, 0, ts);
            m.order_reference_number = U64::new(oref);
            copy(m.as_bytes(), out)
        }
        780..=869 => {
            let mut m = itch50::OrderReplace::new(locate, 0, ts);
            m.original_order_reference_number = U64::new(oref);
            m.new_order_reference_number = U64::new(oref + 1);
            m.shares = shares;
            m.price = px;
            copy(m.as_bytes(), out)
        }
        870..=909 => {
            let mut m = itch50::OrderExecuted::new(locate, 0, ts);
            m.order_reference_number = U64::new(oref);
            m.executed_shares = shares;
            m.match_number = U64::new(rng.next());
            copy(m.as_bytes(), out)
        }
        910..=939 => {
            let mut m = itch50::OrderCancel::new(locate, 0, ts);
            m.order_reference_number = U64::new(oref);
            m.cancelled_shares = shares;
            copy(m.as_bytes(), out)
        }
        940..=959 => {
            let mut m = itch50::AddOrderMpid::new(locate, 0, ts);
            m.order_reference_number = U64::new(oref);
            m.buy_sell_indicator = side;
            m.shares = shares;
            m.stock = alpha(b"MSFT");
            m.price = px;
            m.attribution = alpha(b"UBSS");
            copy(m.as_bytes(), out)
        }
        960..=969 => {
            let mut m = itch50::OrderExecutedWithPrice::new(locate, 0, ts);
            m.order_reference_number = U64::new(oref);
            m.executed_shares = shares;
            m.printable = b'Y';
            m.execution_price = px;
            copy(m.as_bytes(), out)
        }
        970..=984 => {
            let mut m = itch50::Trade::new(locate, 0, ts);
            m.buy_sell_indicator = b'B';
            m.shares = shares;
            m.stock = alpha(b"META");
            m.price = px;
            copy(m.as_bytes(), out)
        }
        985..=994 => {
            let mut m = itch50::Noii::new(locate, 0, ts);
            m.stock = alpha(b"QQQ");
            m.near_price = px;
            copy(m.as_bytes(), out)
        }
        _ => {
            let mut m = itch50::StockTradingAction::new(locate, 0, ts);
            m.stock = alpha(b"ZXZZT");
            m.trading_state = b'T';
            copy(m.as_bytes(), out)
        }
    }
}

fn copy(src: &[u8], out: &mut [u8; 64]) -> usize {
    out[..src.len()].copy_from_slice(src);
    src.len()
}

/// About `total` bytes of back-to-back MoldUDP64 packets; returns (packets, message count).
fn build_packets(total: usize) -> (Vec<Vec<u8>>, u64) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let (mut pkts, mut msgs, mut bytes) = (Vec::new(), 0u64, 0usize);
    let mut seq = 1u64;
    let mut ts = 34_200_000_000_000u64;
    let mut m = [0u8; 64];
    while bytes < total {
        let mut buf = vec![0u8; MAX_PAYLOAD_MTU_1500];
        let mut b = PacketBuilder::new(&mut buf, *b"000010059B", seq).expect("header fits");
        loop {
            ts += rng.next() % 2000;
            let n = message(&mut rng, ts, &mut m);
            if !b.fits(n) {
                break;
            }
            b.push(&m[..n]);
        }
        let len = b.len();
        seq += u64::from(b.count());
        msgs += u64::from(b.count());
        b.finish();
        buf.truncate(len);
        bytes += len;
        pkts.push(buf);
    }
    (pkts, msgs)
}

/// What a book builder reads of each message; returned so the work is not optimised away.
#[inline]
fn touch(m: &Message<'_>) -> u64 {
    match m {
        Message::AddOrder(a) => a.order_reference_number() ^ a.price().raw() as u64,
        Message::AddOrderMpid(a) => a.order_reference_number() ^ a.price().raw() as u64,
        Message::OrderDelete(d) => d.order_reference_number(),
        Message::OrderReplace(u) => u.new_order_reference_number() ^ u64::from(u.shares()),
        Message::OrderExecuted(e) => e.order_reference_number() ^ u64::from(e.executed_shares()),
        Message::OrderExecutedWithPrice(c) => c.order_reference_number(),
        Message::OrderCancel(x) => u64::from(x.cancelled_shares()),
        other => other.timestamp().unwrap_or(0),
    }
}

fn decode_all(pkts: &[Vec<u8>], stats: &mut DecodeStats) -> u64 {
    let mut acc = 0u64;
    for p in pkts {
        if let Ok(Packet::Data(d)) = Packet::parse_counted(p, stats) {
            for (seq, m) in d.messages(stats) {
                acc = acc.wrapping_add(seq ^ touch(&m) ^ u64::from(m.stock_locate().unwrap_or(0)));
            }
        }
    }
    acc
}

struct Sum(u64);

impl FieldVisitor for Sum {
    fn field(&mut self, _name: &'static str, value: FieldValue<'_>) {
        self.0 = self.0.wrapping_add(match value {
            FieldValue::U64(v) => v,
            FieldValue::Alpha(a) => a.len() as u64,
            FieldValue::Char(c) => u64::from(c),
            FieldValue::Price4(p) => p.raw() as u64,
            _ => 1,
        });
    }
}

fn bench(c: &mut Criterion) {
    let (pkts, msgs) = build_packets(4 << 20);
    let bytes: u64 = pkts.iter().map(|p| p.len() as u64).sum();
    let mut check = DecodeStats::default();
    decode_all(&pkts, &mut check);
    assert_eq!(check.messages, msgs);
    assert_eq!(check.malformed_packets(), 0);

    let mut g = c.benchmark_group("decode_itch");
    g.throughput(Throughput::Elements(msgs));
    g.bench_function("messages", |b| {
        let mut stats = DecodeStats::default();
        b.iter(|| decode_all(black_box(&pkts), &mut stats))
    });
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("bytes", |b| {
        let mut stats = DecodeStats::default();
        b.iter(|| decode_all(black_box(&pkts), &mut stats))
    });
    // Decode plus the generic field walk (what `fh decode` and the oracle tests use).
    g.throughput(Throughput::Elements(msgs));
    g.bench_function("messages_visit_fields", |b| {
        let mut stats = DecodeStats::default();
        b.iter(|| {
            let mut sum = Sum(0);
            for p in black_box(&pkts) {
                if let Ok(Packet::Data(d)) = Packet::parse_counted(p, &mut stats) {
                    for (_, m) in d.messages(&mut stats) {
                        m.visit_fields(&mut sum);
                    }
                }
            }
            sum.0
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
