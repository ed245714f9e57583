//! Generator speed: messages/s of the synthetic exchange without file I/O.
//!
//! Three layers, each over a 1 000 000-message day (50 symbols, seed 1): the order-flow model
//! alone (`Generator::next_event`), the model plus encoding through the ITCH wire structs
//! (`next_message`), and the whole pipeline into MoldUDP64 packets with faults on two lines
//! written to a sink that only counts bytes (`run_packets`). And the realistic day
//! (`DayGenerator`, 8 000 symbols) at scale 0.03 (~1.1 M messages) and at scale 0.3 (~11 M
//! messages, ~400 k live orders: the order set no longer fits in cache), model and encoding.
//!
//! Run: `cargo bench -p fh-benches --bench gen`.

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fh_replay::gen::{
    self, Config, DayConfig, DayGenerator, Endpoint, FaultRates, FrameSink, Generator, Options,
    Stop,
};

const MESSAGES: u64 = 1_000_000;

fn config() -> Config {
    Config {
        symbols: 50,
        seed: 1,
        stop: Stop::Messages(MESSAGES),
    }
}

/// Counts the bytes of every frame payload.
struct Count(u64);

impl FrameSink for Count {
    fn frame(&mut self, _line: usize, _ts: u64, payload: &[u8]) -> io::Result<()> {
        self.0 += payload.len() as u64;
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gen");
    g.sample_size(10);
    g.throughput(Throughput::Elements(MESSAGES));
    g.bench_function("model_next_event", |b| {
        b.iter(|| {
            let mut gen = Generator::new(config()).unwrap();
            let mut n = 0u64;
            while let Some(m) = gen.next_event() {
                n += m.ts & 1;
            }
            black_box(n)
        })
    });
    g.bench_function("model_and_encode", |b| {
        let mut buf = [0u8; gen::msg::MAX_LEN];
        b.iter(|| {
            let mut gen = Generator::new(config()).unwrap();
            let mut bytes = 0usize;
            while let Some((_, len)) = gen.next_message(&mut buf) {
                bytes += len;
            }
            black_box(bytes)
        })
    });
    g.bench_function("packets_two_lines_with_faults", |b| {
        let opts = Options {
            config: config(),
            rates: FaultRates {
                drop: 0.001,
                dup: 0.001,
                reorder: 0.001,
                corrupt: 0.001,
            },
            line_b: Endpoint::parse("233.49.196.111:26478"),
            ..Options::default()
        };
        b.iter(|| {
            let (sink, _) = gen::run_packets(&opts, Count(0)).unwrap();
            black_box(sink.0)
        })
    });
    g.finish();
}

fn bench_day(c: &mut Criterion) {
    let mut g = c.benchmark_group("gen_day");
    g.sample_size(10);
    for scale in [0.03, 0.3] {
        let cfg = DayConfig {
            scale,
            ..DayConfig::default()
        };
        let mut buf = [0u8; gen::msg::MAX_LEN];
        let day = |buf: &mut [u8]| {
            let mut gen = DayGenerator::new(cfg).unwrap();
            let mut bytes = 0usize;
            while let Some((_, len)) = gen.next_message(buf) {
                bytes += len;
            }
            (gen.emitted(), bytes)
        };
        g.throughput(Throughput::Elements(day(&mut buf).0));
        g.bench_function(format!("model_and_encode_scale_{scale}"), |b| {
            b.iter(|| black_box(day(&mut buf)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_day);
criterion_main!(benches);
