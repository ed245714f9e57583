//! Engine throughput over a generated ITCH day held in memory (MoldUDP64 packets from
//! `fh_replay::gen`, 10 M messages by default; `FH_BENCH_MESSAGES` overrides):
//!
//! - `decode_only`: MoldUDP64 framing check + ITCH message views of every block (no state);
//! - `decode_books`: `Engine::on_datagram` — sequencing, L3 order store, L2 levels, book
//!   updates into a digest sink;
//! - `books_l3`: the same through `Engine::on_itch_stream_message` (no MoldUDP64 layer).
//!
//! Throughput is reported in messages (criterion `Elements`). Each `decode_books` iteration
//! starts from a fresh engine (built outside the timed region) since a replayed session would
//! otherwise be all duplicates.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fh_decoders::{itch50, moldudp64};
use fh_feed::engine::digest::Digest;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_replay::gen::flow::{Config, Generator, Stop};
use fh_replay::gen::packet::{Packet, PacketSink, Packetizer};
use fh_replay::gen::DEFAULT_SESSION;
use std::io;

/// A generated day: every UDP payload back to back in one buffer.
struct Day {
    data: Vec<u8>,
    /// (send time, start, end) of each packet in `data`.
    packets: Vec<(u64, usize, usize)>,
    /// (start, end) of each ITCH message (inside the packets' blocks).
    messages: Vec<(usize, usize)>,
}

impl PacketSink for Day {
    fn packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        let start = self.data.len();
        self.data.extend_from_slice(p.bytes);
        self.packets.push((p.ts, start, self.data.len()));
        if p.is_data() {
            let mut off = start + moldudp64::HEADER_LEN;
            for _ in 0..p.count {
                let len = usize::from(u16::from_be_bytes([self.data[off], self.data[off + 1]]));
                self.messages.push((off + 2, off + 2 + len));
                off += 2 + len;
            }
        }
        Ok(())
    }
}

fn generate(messages: u64) -> Day {
    let mut gen = Generator::new(Config {
        symbols: 100,
        seed: 7,
        stop: Stop::Messages(messages),
    })
    .expect("generator config");
    let mut day = Day {
        data: Vec::with_capacity(messages as usize * 34),
        packets: Vec::new(),
        messages: Vec::with_capacity(messages as usize),
    };
    let mut pk = Packetizer::new(DEFAULT_SESSION);
    let mut buf = [0u8; fh_replay::gen::msg::MAX_LEN];
    while let Some((ts, len)) = gen.next_message(&mut buf) {
        pk.push(ts, &buf[..len], &mut day).expect("in memory");
    }
    pk.finish(&mut day).expect("in memory");
    day
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("FH_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let day = generate(n);
    let msgs = day.messages.len() as u64;
    eprintln!(
        "generated day: {msgs} messages in {} packets, {:.1} MB",
        day.packets.len(),
        day.data.len() as f64 / 1e6
    );
    let mut g = c.benchmark_group("books");
    g.sample_size(10);
    g.throughput(Throughput::Elements(msgs));

    g.bench_function("decode_only", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for &(_, s, e) in &day.packets {
                if let Ok(moldudp64::Packet::Data(d)) = moldudp64::Packet::parse(&day.data[s..e]) {
                    for (_, m) in d.blocks() {
                        if let Ok(m) = itch50::Message::parse(m) {
                            n += u64::from(black_box(m).stock_locate().is_some());
                        }
                    }
                }
            }
            assert_eq!(n, msgs);
        })
    });

    let cfg = EngineConfig::default();
    g.bench_function("decode_books", |b| {
        b.iter_batched(
            || Engine::new(&cfg),
            |mut e| {
                let mut d = Digest::new();
                for &(ts, s, end) in &day.packets {
                    e.on_datagram(ts, &DatagramMeta { recv_ts: ts }, &day.data[s..end], &mut d);
                }
                assert_eq!(e.stats.itch_messages(), msgs);
                black_box(d.value());
                e
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("books_l3", |b| {
        b.iter_batched(
            || Engine::new(&cfg),
            |mut e| {
                let mut d = Digest::new();
                let meta = DatagramMeta::default();
                for &(s, end) in &day.messages {
                    e.on_itch_stream_message(0, &meta, &day.data[s..end], &mut d);
                }
                black_box(d.value());
                e
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
