//! What stage timestamps cost a full replay (issue 6, target: under 5 %).
//!
//! A generated day of 1 000 000 ITCH messages in MoldUDP64 packets (50 symbols, seed 1, no
//! faults) is written once to a temporary pcap and mapped (it stays in the page cache), then
//! replayed through `fh replay`'s loop (`fh_feed::pipeline::replay::replay_timed`) into a fresh engine per
//! replay, in four modes: `untimed` (no stamps, what `--no-latency` runs), `stamped` (what
//! `fh replay` runs by default, `--stamp-every 8`: 1 datagram in 8 timed, in bursts of 32
//! consecutive datagrams, three raw `rdtsc` readings each (plus a fresh `t0` at a burst's
//! start), updates held for the publish stage, four histogram records; no reading on the
//! others, which run the untimed engine code), `stamped_every_1` (every datagram timed) and
//! `stamped_every_4`.
//! Time is the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`; on a shared machine wall
//! time measures the neighbours; `/proc/thread-self/schedstat`, used at first, only moves at
//! scheduler ticks, 4 ms steps on a ~45 ms replay).
//!
//! First, outside criterion, every mode is run once in turn for `FH_AB_ROUNDS` rounds (default
//! 15) and the median of each mode is printed with its ratio to `untimed`: the overhead figure
//! to quote, since load drifts hit every mode alike. Criterion then times each mode in a block.
//!
//! Run: `cargo bench -p fh-benches --bench replay_latency`.
//!
//! Measured 2026-11-22 on the shared 2-vCPU VM (TSC clock; untimed ≈ 40-41 ms per replay,
//! ≈ 113 k datagrams), each figure one run's interleaved medians (21 rounds) against
//! `untimed`. Bursts (this version), alternating with the previous build in one sitting:
//! default 1 in 8 +2.02, +1.70, +1.11, +1.64 %; 1 in 4 +4.28, +3.42, +3.90, +3.93 %; every
//! datagram +9.11, +10.08, +9.18, +8.48 %. The previous build (each sampled datagram timed
//! alone, every datagram through one `Holding` sink with a hold flag) in the same sitting:
//! 1 in 8 +3.07, +3.81, +4.56, +6.08 %; 1 in 4 +5.49, +6.44, +7.46, +8.77 %. A datagram timed
//! alone cost ~100-150 ns (cold buffers and counters, mispredicted transitions, its own `t0`
//! reading), one in a burst ~32 ns (three `rdtsc` on ~350 ns of work). callgrind (`fh replay`
//! of a 1 M-message day, `--digest`, default stamps against `--no-latency`): +4.8 % of
//! instructions, most of it histogram set-up and the report (was +10 %).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fh_feed::engine::{Engine, EngineConfig};
use fh_feed::latency::{interval_pair, Clock, HistConfig, DEFAULT_STAMP_EVERY};
use fh_feed::pipeline::replay::{replay_timed, Pace, Stamps, Timed, Untimed};
use fh_feed::pipeline::sink::{NoBbo, PublishSink};
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
    fh_feed::latency::clock::thread_cpu_ns()
}

/// One replay of `cap` into a fresh engine, untimed (`None`) or stamped with `--stamp-every
/// N` (`Some(N)`); returns the CPU time of the replay itself, ns.
///
/// Each stamped replay records into its own recorder with `fh replay`'s 1 s intervals starting
/// with it, as a run of its own would: a 1 M-message replay ends before its first hand-over.
/// (Sharing one `LatencyRun` across replays, as this bench first did, put an interval
/// hand-over, a merge of seven 200 KiB histograms, into some replays and not others,
/// depending on where the run's 1 s boundaries fell: ±15 % between modes for nothing.)
fn replay_once(cap: &Capture, every: Option<u32>) -> u64 {
    let cfg = EngineConfig::default();
    let clock = *Clock::global();
    let mut e = Engine::new(&cfg);
    // The single-thread replay's sink (digesting, as `--digest` does), no ring.
    let mut sink = PublishSink::new(true, NoBbo, ());
    let stop = AtomicBool::new(false);
    let cpu = match every {
        None => {
            let t = cpu_ns();
            replay_timed(
                cap,
                &mut e,
                &mut sink,
                &mut Pace::off(clock),
                &mut Untimed,
                &stop,
                |_| {},
            )
            .expect("replay");
            cpu_ns() - t
        }
        Some(every) => {
            let (rec, _collector) =
                interval_pair(HistConfig::default(), clock.now(), 1_000_000_000);
            let mut stamps = Stamps::new(clock, rec).every(every);
            let t = cpu_ns();
            let mut timed = Timed {
                stamps: &mut stamps,
                on_interval: || Ok(()),
            };
            replay_timed(
                cap,
                &mut e,
                &mut sink,
                &mut Pace::off(clock),
                &mut timed,
                &stop,
                |_| {},
            )
            .expect("replay");
            cpu_ns() - t
        }
    };
    assert_eq!(e.counters().itch_messages(), MESSAGES);
    cpu
}

/// The modes compared: untimed (`--no-latency`), `fh replay`'s default (`--stamp-every 8`),
/// every datagram timed (`--stamp-every 1`), and 1 in 4.
const MODES: [(&str, Option<u32>); 4] = [
    ("untimed", None),
    ("stamped", Some(DEFAULT_STAMP_EVERY)),
    ("stamped_every_1", Some(1)),
    ("stamped_every_4", Some(4)),
];

/// Before criterion: `FH_AB_ROUNDS` (default 15) rounds, each replaying once in every mode in
/// turn (so drift in the machine's load hits every mode alike), then each mode's median CPU
/// time and its ratio to the untimed median. This is the overhead figure to quote; criterion's
/// blocks below run one mode after another and are more exposed to load changes.
fn interleaved(cap: &Capture) {
    let rounds: usize = std::env::var("FH_AB_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut cpu = vec![Vec::with_capacity(rounds); MODES.len()];
    for (_, every) in MODES {
        replay_once(cap, every); // warm-up
    }
    for _ in 0..rounds {
        for (k, (_, every)) in MODES.into_iter().enumerate() {
            cpu[k].push(replay_once(cap, every));
        }
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let base = median(&mut cpu[0]) as f64;
    println!(
        "interleaved A/B, {rounds} rounds of {MESSAGES} messages, median CPU time per replay:"
    );
    for (k, (name, _)) in MODES.into_iter().enumerate() {
        let m = median(&mut cpu[k]) as f64;
        println!(
            "  {name:<16} {:>8.2} ms  {:+6.2} % vs untimed",
            m / 1e6,
            (m / base - 1.0) * 100.0
        );
    }
}

fn bench(c: &mut Criterion) {
    let (path, cap) = capture();
    let mut g = c.benchmark_group("replay_latency");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(MESSAGES));
    interleaved(&cap);

    for (name, every) in MODES {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut cpu = 0;
                for _ in 0..iters {
                    cpu += replay_once(&cap, every);
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
