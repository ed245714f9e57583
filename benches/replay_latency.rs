//! What stage timestamps cost a full replay (issue 6, target: under 5 %).
//!
//! A generated day of 1 000 000 ITCH messages in MoldUDP64 packets (50 symbols, seed 1, no
//! faults) is written once to a temporary pcap and mapped (it stays in the page cache), then
//! replayed through `fh replay`'s loop (`replay_latency::replay_timed`) into a fresh engine per
//! iteration, twice in the same run: `untimed` (no stamps, what `--no-latency` runs) and
//! `stamped` (four clock reads and five histogram records per datagram, updates held for the
//! publish stage, intervals collected: what `fh replay` runs by default). The ratio of the two
//! medians is the overhead. Measured as CPU time of the bench thread (on a shared machine wall
//! time measures the neighbours).
//!
//! Run: `cargo bench -p fh-benches --bench replay_latency`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fh_feed::cli::replay::{NoBbo, ReplaySink};
use fh_feed::cli::replay_latency::{replay_timed, Pace, Stamps, Timed, Untimed};
use fh_feed::engine::{Engine, EngineConfig};
use fh_feed::latency::{LatencyArgs, LatencyRun};
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
    g.finish();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(gen::output::truth_path(&path));
}

criterion_group!(benches, bench);
criterion_main!(benches);
