//! What stage timestamps cost a full replay (issue 6, target: under 5 %).
//!
//! A generated day of 1 000 000 ITCH messages in MoldUDP64 packets (50 symbols, seed 1, no
//! faults) is written once to a temporary pcap and mapped (it stays in the page cache), then
//! replayed through `fh replay`'s loop (`replay_latency::replay_timed`) into a fresh engine per
//! iteration, three times in the same run: `untimed` (no stamps, what `--no-latency` runs),
//! `stamped` (three raw `rdtsc` readings, the previous datagram's last one reused as `t0`,
//! and four histogram records per datagram, updates held for the publish stage, intervals
//! collected: what `fh replay` runs by default) and `stamped_every_8` (`--stamp-every 8`: the
//! per-stage breakdown on 1 datagram in 8, one reading and the end_to_end record on the
//! others). The ratio of a stamped median to the
//! untimed one is the overhead. Measured as CPU time of the bench thread (on a shared machine
//! wall time measures the neighbours).
//!
//! Run: `cargo bench -p fh-benches --bench replay_latency`.
//!
//! Measured 2026-11-22 on the shared 2-core VM (load 2–5, TSC clock), medians of CPU time per
//! 1 M-message replay (≈ 113 k datagrams), two runs: untimed 52.5 / 53.5 ms, stamped 55.6 /
//! 56.1 ms (+5.9 % / +4.9 %), stamped_every_8 52.3 / 54.6 ms (−0.4 % / +2.0 %); the second
//! figure of each pair is from before `t0` reused the previous `t3` (four readings). Before
//! this version (a `Clock::now` conversion at every reading, the transport framing parsed
//! twice, held updates pushed through an out-of-line `Vec::push`) stamped was 66.8 ms against
//! untimed 53.2 ms (+25 %). Noise between runs on this machine is ±10 %, the order of the
//! overhead itself: treat one run as indicative, and compare instruction counts (callgrind)
//! for small changes.

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
    g.measurement_time(Duration::from_secs(8));
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
    // What `fh replay` runs by default (every datagram broken down), then with
    // `--stamp-every 8` (breakdown on 1 datagram in 8, end_to_end on all).
    for (name, every) in [("stamped", 1u32), ("stamped_every_8", 8)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut cpu = 0;
                for _ in 0..iters {
                    let mut e = Engine::new(&cfg);
                    let mut sink = ReplaySink::<NoBbo>::default();
                    let mut stamps = Stamps::new(clock, lat.recorder()).every(every);
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
    }
    g.finish();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(gen::output::truth_path(&path));
}

criterion_group!(benches, bench);
criterion_main!(benches);
