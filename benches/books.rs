//! Engine throughput over a generated ITCH day held in memory (MoldUDP64 packets from
//! `fh_replay::gen`, 10 M messages of 100 symbols by default; `FH_BENCH_MESSAGES` and
//! `FH_BENCH_SYMBOLS` override: with thousands of symbols the books no longer fit in the core's
//! own caches, as on a real day):
//!
//! - `decode_only`: MoldUDP64 framing check + ITCH message views of every block (no state);
//! - `decode_books`: `Engine::on_datagram` — sequencing, L3 order store, L2 levels, book
//!   updates into a digest sink;
//! - `decode_books_count`: the same into a sink that only counts updates (the engine's own
//!   cost, without the digest's hashing);
//! - `books_l3`: the same through `Engine::on_itch_stream_message` (no MoldUDP64 layer),
//!   prefetching `ITCH_PREFETCH_AHEAD` messages ahead as an ITCH-file replay does.
//!
//! Throughput is reported in messages (criterion `Elements`). Each `decode_books` iteration
//! starts from a fresh engine (built outside the timed region) since a replayed session would
//! otherwise be all duplicates.
//!
//! Time is the benchmark thread's **CPU time** (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! on a shared machine (2 cores, many builds) wall time measures the neighbours. CPU time
//! still includes cache and memory-bandwidth interference from them, so figures are a lower
//! bound of what an idle, isolated core gives. Set `FH_BENCH_WALL=1` for wall time.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, BatchSize, Criterion, Throughput};
use fh_decoders::{itch50, moldudp64};
use fh_feed::engine::digest::Digest;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_feed::pipeline::replay::ITCH_PREFETCH_AHEAD;
use fh_feed::update::BookUpdate;
use fh_replay::gen::flow::{Config, Generator, Stop};
use fh_replay::gen::packet::{Packet, PacketSink, Packetizer};
use fh_replay::gen::DEFAULT_SESSION;
use std::io;

/// CPU time of the calling thread, ns.
fn thread_cpu_ns() -> u64 {
    fh_feed::latency::clock::thread_cpu_ns()
}

/// Criterion measurement: thread CPU time in ns.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        thread_cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats CPU ns as ms, throughput per CPU second.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        for v in values.iter_mut() {
            *v /= 1e6;
        }
        "ms (CPU)"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match t {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                *n as f64
            }
        };
        for v in values.iter_mut() {
            *v = n * 1e9 / *v / 1e6;
        }
        "M messages per CPU s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns (CPU)"
    }
}

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

fn generate(messages: u64, symbols: u16) -> Day {
    let mut gen = Generator::new(Config {
        symbols,
        seed: 7,
        stop: Stop::Messages(messages),
    })
    .unwrap_or_else(|e| panic!("FH_BENCH_MESSAGES={messages} FH_BENCH_SYMBOLS={symbols}: {e}"));
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

fn bench<M: Measurement + 'static>(c: &mut Criterion<M>) {
    let n: u64 = std::env::var("FH_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let symbols = std::env::var("FH_BENCH_SYMBOLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let day = generate(n, symbols);
    let msgs = day.messages.len() as u64;
    eprintln!(
        "generated day: {msgs} messages of {symbols} symbols in {} packets, {:.1} MB",
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
                assert_eq!(e.counters().itch_messages(), msgs);
                black_box(d.value());
                e
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("decode_books_count", |b| {
        b.iter_batched(
            || Engine::new(&cfg),
            |mut e| {
                let mut n = 0u64;
                let mut count = |_: &BookUpdate| n += 1;
                for &(ts, s, end) in &day.packets {
                    let meta = DatagramMeta { recv_ts: ts };
                    e.on_datagram(ts, &meta, &day.data[s..end], &mut count);
                }
                assert_eq!(e.counters().itch_messages(), msgs);
                assert_eq!(black_box(n), e.counters().updates);
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
                let ahead = ITCH_PREFETCH_AHEAD as usize;
                for (i, &(s, end)) in day.messages.iter().enumerate() {
                    if let Some(&(ps, pe)) = day.messages.get(i + ahead) {
                        e.prefetch_itch_message(&day.data[ps..pe]);
                    }
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

fn main() {
    // One core, as the target says, and the same one throughout: a thread the scheduler moves
    // between the two vCPUs resumes with cold caches (`FH_BENCH_CORE` picks it by id; default
    // the last core this process may use, away from interrupts that land on core 0).
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let core = match std::env::var("FH_BENCH_CORE") {
        Ok(v) => {
            let id = v.parse::<usize>().ok();
            let core = ids.iter().find(|c| Some(c.id) == id);
            if core.is_none() {
                eprintln!("FH_BENCH_CORE={v}: not a core this process may use; not pinned");
            }
            core
        }
        Err(_) => ids.last(),
    };
    if let Some(&id) = core {
        core_affinity::set_for_current(id);
    }
    if std::env::var_os("FH_BENCH_WALL").is_some() {
        let mut c = Criterion::default()
            .with_measurement(WallTime)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(CpuTime)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}
