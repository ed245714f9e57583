//! What stage timestamps cost a full replay (issue 6, target: under 5 %).
//!
//! A generated day of 1 000 000 ITCH messages in MoldUDP64 packets (50 symbols, seed 1, no
//! faults) is written once to a temporary pcap and mapped (it stays in the page cache), then
//! replayed through `fh replay`'s loop (`replay_latency::replay_timed`) into a fresh engine per
//! iteration, twice in the same run: `untimed` (no stamps, what `--no-latency` runs) and
//! `stamped` (four clock reads and five histogram records per datagram, updates held for the
//! publish stage, intervals collected: what `fh replay` runs by default). The ratio of the two
//! medians is the overhead. Two more variants split it: `clock_reads_only` (the four clock
//! reads) and `clock_reads_and_direct_records` (plus four histogram records per datagram made
//! at once, between book changes, which is what `stamped` avoids by recording in batches). Measured as CPU time of the bench thread (on a shared machine wall
//! time measures the neighbours).
//!
//! Run: `cargo bench -p fh-benches --bench replay_latency`.
//!
//! Measured 2026-11-22 on the shared 2-core VM (load 6–9, TSC clock, 10.6 ns per reading),
//! medians of CPU time per 1 M-message replay (≈ 113 k datagrams): untimed 53.2 ms, stamped
//! 66.8 ms (+25 %), clock_reads_only 60.0 ms (+13 %), clock_reads_and_direct_records 63.2 ms.
//! (Before batching, stamped was 85.0 ms against untimed 59.1 ms in one run, +44 %.) The four
//! clock reads alone exceed the 5 % target at ~470 ns of work per datagram; noise between runs
//! on this machine is ±10 %.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fh_feed::cli::replay::{NoBbo, ReplaySink};
use fh_feed::cli::replay_latency::{replay_timed, Pace, Stamps, Timed, Timing, Unit, Untimed};
use fh_feed::cli::CliResult;
use fh_feed::engine::{Engine, EngineConfig, UpdateSink};
use fh_feed::latency::{Clock, HistConfig, LatencyArgs, LatencyRun, Stage, StageRecorder};
use fh_replay::capture::Capture;
use fh_replay::gen::{self, Config, Options, Stop};

const MESSAGES: u64 = 1_000_000;

fn capture() -> (PathBuf, Capture) {
    let path = std::env::temp_dir().join(format!("fh-bench-replay-{}.pcap", std::process::id()));
    let opts = Options {
        config: Config {
            symbols: 50,
            seed: 1,
            stop: Stop::Messages(MESSAGES),
        },
        ..Options::default()
    };
    gen::output::write_files(&opts, gen::output::Format::Pcap, &path).expect("generate");
    let cap = Capture::open(&path).expect("open");
    (path, cap)
}

/// Thread CPU time, ns.
fn cpu_ns() -> u64 {
    fh_feed::cli::replay::thread_cpu_ns().expect("/proc/thread-self/schedstat")
}

/// Replays `cap` `iters` times with `timing`, returning the CPU time.
fn run<T: Timing>(cap: &Capture, cfg: &EngineConfig, iters: u64, timing: &mut T) -> Duration {
    let clock = *Clock::global();
    let mut cpu = 0;
    for _ in 0..iters {
        let mut e = Engine::new(cfg);
        let mut sink = ReplaySink::<NoBbo>::default();
        let t = cpu_ns();
        replay_timed(
            cap,
            &mut e,
            &mut sink,
            &mut Pace::off(clock),
            timing,
            |_| {},
        )
        .expect("replay");
        cpu += cpu_ns() - t;
        assert_eq!(e.stats.itch_messages(), MESSAGES);
    }
    Duration::from_nanos(cpu)
}

/// Four clock reads per datagram, nothing recorded.
struct ClockOnly {
    clock: Clock,
    sum: u64,
}

impl Timing for ClockOnly {
    #[inline(always)]
    fn start(&mut self, _: Option<(u64, u64)>) -> u64 {
        self.clock.now()
    }
    #[inline(always)]
    fn unit<S: UpdateSink>(
        &mut self,
        engine: &mut Engine,
        sink: &mut S,
        unit: Unit<'_>,
        ts: u64,
        t0: u64,
    ) -> CliResult {
        let t1 = self.clock.now();
        unit.apply(engine, ts, sink);
        let t2 = self.clock.now();
        let t3 = self.clock.now();
        self.sum = self.sum.wrapping_add(black_box(t0 ^ t1 ^ t2 ^ t3));
        Ok(())
    }
}

/// Four clock reads and four records per datagram, recorded at once.
struct ClockAndRecords {
    clock: Clock,
    rec: StageRecorder,
}

impl Timing for ClockAndRecords {
    #[inline(always)]
    fn start(&mut self, _: Option<(u64, u64)>) -> u64 {
        self.clock.now()
    }
    #[inline(always)]
    fn unit<S: UpdateSink>(
        &mut self,
        engine: &mut Engine,
        sink: &mut S,
        unit: Unit<'_>,
        ts: u64,
        t0: u64,
    ) -> CliResult {
        let t1 = self.clock.now();
        self.rec.record_span(Stage::Decode, t0, t1);
        unit.apply(engine, ts, sink);
        let t2 = self.clock.now();
        self.rec.record_span(Stage::Book, t1, t2);
        let t3 = self.clock.now();
        self.rec.record_span(Stage::Publish, t2, t3);
        self.rec.record_span(Stage::EndToEnd, t0, t3);
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let (path, cap) = capture();
    let mut g = c.benchmark_group("replay_latency");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(MESSAGES));
    let cfg = EngineConfig::default();
    let mut lat = LatencyRun::start(&LatencyArgs::default()).expect("latency");
    let clock = lat.clock();

    g.bench_function("untimed", |b| {
        b.iter_custom(|iters| {
            let mut cpu = 0;
            for _ in 0..iters {
                let mut e = Engine::new(&cfg);
                let mut sink = ReplaySink::<NoBbo>::default();
                let t = cpu_ns();
                replay_timed(
                    &cap,
                    &mut e,
                    &mut sink,
                    &mut Pace::off(clock),
                    &mut Untimed,
                    |_| {},
                )
                .expect("replay");
                cpu += cpu_ns() - t;
                assert_eq!(e.stats.itch_messages(), MESSAGES);
            }
            Duration::from_nanos(cpu)
        })
    });
    g.bench_function("stamped", |b| {
        b.iter_custom(|iters| {
            let mut cpu = 0;
            for _ in 0..iters {
                let mut e = Engine::new(&cfg);
                let mut sink = ReplaySink::<NoBbo>::default();
                let mut stamps = Stamps::new(clock, lat.recorder());
                let t = cpu_ns();
                let mut timed = Timed {
                    stamps: &mut stamps,
                    on_interval: || lat.poll().map(|_| ()),
                };
                replay_timed(
                    &cap,
                    &mut e,
                    &mut sink,
                    &mut Pace::off(clock),
                    &mut timed,
                    |_| {},
                )
                .expect("replay");
                cpu += cpu_ns() - t;
                assert_eq!(e.stats.itch_messages(), MESSAGES);
            }
            Duration::from_nanos(cpu)
        })
    });
    // Where the stamps' cost goes: the four clock reads alone, then with four records per
    // datagram made at once (no framing check, no held updates, no batching).
    g.bench_function("clock_reads_only", |b| {
        b.iter_custom(|iters| run(&cap, &cfg, iters, &mut ClockOnly { clock, sum: 0 }))
    });
    g.bench_function("clock_reads_and_direct_records", |b| {
        let mut t = ClockAndRecords {
            clock,
            rec: StageRecorder::new(HistConfig::default()),
        };
        b.iter_custom(|iters| run(&cap, &cfg, iters, &mut t))
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(gen::output::truth_path(&path));
}

criterion_group!(benches, bench);
criterion_main!(benches);
