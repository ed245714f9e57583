//! Decoding IEX DEEP from memory: `iextp::Segment::parse` + `Segment::deep` iteration, touching
//! the fields a book builder reads (side, flags, size, price, symbol).
//!
//! Two inputs:
//! - `synthetic`: 4 096 deterministic DEEP segments shaped like a trading day (mostly Price
//!   Level Updates, some Trade Reports, a few status messages; 1–8 messages per segment).
//! - `real`: the UDP payloads of `iex-deep-20231002-sai271828/test.pcap` (5 000 production
//!   segments, 48 325 messages, pre-market: mostly status messages), when the real captures are
//!   found (`$FH_REAL_PCAPS`, else `../shared/pcaps/real` next to the workspace).
//!
//! Each input is measured twice, with `Throughput::Elements` (messages/s) and
//! `Throughput::Bytes` (UDP payload bytes/s). Run: `cargo bench -p fh-benches --bench decode_iex`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fh_decoders::deep::{Message, PriceLevelUpdate, SystemEvent, TradeReport, TradingStatus};
use fh_decoders::iextp::{Counters, Header, Segment, PROTOCOL_DEEP_1_0};
use zerocopy::little_endian::{I64, U16, U32};
use zerocopy::IntoBytes;

/// Decodes every segment; returns a checksum so nothing is optimised away.
fn decode_all(segments: &[Vec<u8>], c: &mut Counters) -> u64 {
    let mut acc = 0u64;
    for s in segments {
        let Some(seg) = Segment::parse_counted(s, c) else {
            continue;
        };
        for (seq, m) in seg.deep(c) {
            acc = acc.wrapping_add(seq);
            match m {
                Message::PriceLevelUpdate(p) => {
                    acc = acc
                        .wrapping_add(p.price().raw() as u64)
                        .wrapping_add(u64::from(p.size()))
                        .wrapping_add(u64::from(p.is_event_complete()))
                        .wrapping_add(p.side() as u64)
                        .wrapping_add(p.symbol().len() as u64);
                }
                Message::TradeReport(t) => {
                    acc = acc
                        .wrapping_add(t.price().raw() as u64)
                        .wrapping_add(u64::from(t.size()));
                }
                other => acc = acc.wrapping_add(other.timestamp().unwrap_or(0)),
            }
        }
    }
    acc
}

fn header(count: u16, payload_len: usize, seq: u64, offset: u64) -> Header {
    Header {
        version: 1,
        reserved: 0,
        message_protocol_id: U16::new(PROTOCOL_DEEP_1_0),
        channel_id: U32::new(1),
        session_id: U32::new(1_286_602_752),
        payload_length: U16::new(payload_len as u16),
        message_count: U16::new(count),
        stream_offset: I64::new(offset as i64),
        first_message_sequence_number: I64::new(seq as i64),
        send_time: I64::new(1_696_248_000_000_000_000 + seq as i64),
    }
}

/// Deterministic DEEP segments: ~85% PLUs, ~10% trades, ~5% status messages.
fn synthetic() -> Vec<Vec<u8>> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let symbols: [&[u8; 8]; 4] = [b"AAPL    ", b"MSFT    ", b"TSLA    ", b"SPY     "];
    let (mut seq, mut offset) = (1u64, 0u64);
    let mut out = Vec::new();
    for _ in 0..4096 {
        let n = 1 + (rnd() % 8) as usize;
        let mut payload = Vec::new();
        for i in 0..n {
            let r = rnd();
            let sym = *symbols[(r % 4) as usize];
            let ts = I64::new(1_696_248_000_000_000_000 + (seq as i64) * 1000);
            let msg: Vec<u8> = match r % 100 {
                0..=84 => PriceLevelUpdate {
                    message_type: if r & 0x100 == 0 { b'8' } else { b'5' },
                    event_flags: u8::from(i + 1 == n),
                    timestamp: ts,
                    symbol: sym,
                    size: U32::new((r >> 20) as u32 % 5000),
                    price: I64::new(1_000_000 + (r >> 40) as i64 % 10_000),
                }
                .as_bytes()
                .to_vec(),
                85..=94 => TradeReport {
                    message_type: b'T',
                    sale_condition_flags: 0,
                    timestamp: ts,
                    symbol: sym,
                    size: U32::new(100),
                    price: I64::new(1_000_000 + (r >> 40) as i64 % 10_000),
                    trade_id: I64::new(seq as i64),
                }
                .as_bytes()
                .to_vec(),
                95..=97 => TradingStatus {
                    message_type: b'H',
                    trading_status: b'T',
                    timestamp: ts,
                    symbol: sym,
                    reason: *b"    ",
                }
                .as_bytes()
                .to_vec(),
                _ => SystemEvent {
                    message_type: b'S',
                    system_event: b'R',
                    timestamp: ts,
                }
                .as_bytes()
                .to_vec(),
            };
            payload.extend_from_slice(&(msg.len() as u16).to_le_bytes());
            payload.extend_from_slice(&msg);
        }
        let mut s = header(n as u16, payload.len(), seq, offset)
            .as_bytes()
            .to_vec();
        s.extend_from_slice(&payload);
        seq += n as u64;
        offset += payload.len() as u64;
        out.push(s);
    }
    out
}

/// UDP payloads of a classic little-endian pcap with Ethernet/IPv4/UDP frames.
fn pcap_udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 24;
    while let Some(rec) = bytes.get(off..off + 16) {
        let incl = u32::from_le_bytes([rec[8], rec[9], rec[10], rec[11]]) as usize;
        let Some(frame) = bytes.get(off + 16..off + 16 + incl) else {
            break;
        };
        off += 16 + incl;
        let Some(&vihl) = frame.get(14) else { continue };
        let udp = 14 + usize::from(vihl & 0x0f) * 4 + 8;
        if let Some(p) = frame.get(udp..) {
            out.push(p.to_vec());
        }
    }
    out
}

fn real_capture() -> Option<Vec<Vec<u8>>> {
    let dir = std::env::var_os("FH_REAL_PCAPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/real")
        });
    let bytes = std::fs::read(dir.join("iex-deep-20231002-sai271828/test.pcap")).ok()?;
    Some(pcap_udp_payloads(&bytes))
}

fn bench_input(c: &mut Criterion, name: &str, segments: &[Vec<u8>]) {
    let mut counters = Counters::new();
    decode_all(segments, &mut counters);
    let messages = counters.messages + counters.unknown_types;
    let bytes: usize = segments.iter().map(Vec::len).sum();
    println!(
        "decode_iex/{name}: {} segments, {messages} messages, {bytes} bytes, {} malformed",
        segments.len(),
        counters.malformed.total()
    );
    let mut g = c.benchmark_group(format!("decode_iex/{name}"));
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    g.throughput(Throughput::Elements(messages));
    g.bench_function("messages", |b| {
        let mut c = Counters::new();
        b.iter(|| decode_all(black_box(segments), &mut c))
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("bytes", |b| {
        let mut c = Counters::new();
        b.iter(|| decode_all(black_box(segments), &mut c))
    });
    g.finish();
}

fn decode_iex(c: &mut Criterion) {
    bench_input(c, "synthetic", &synthetic());
    match real_capture() {
        Some(real) => bench_input(c, "real", &real),
        None => eprintln!("SKIP: decode_iex/real: real captures not found (set FH_REAL_PCAPS)"),
    }
}

criterion_group!(benches, decode_iex);
criterion_main!(benches);
