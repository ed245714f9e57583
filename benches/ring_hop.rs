//! The in-process ring hop of a paced pipeline replay, measured the way `fh shm-tail --hgrm`
//! measures the shared-memory hop (see `fh_benches::hop`): ring cursor release → the reader
//! has the datagram's last update, one value per datagram, `CLOCK_MONOTONIC_RAW` at both ends.
//! The engine runs on this thread, the one reader on a thread of its own; no other thread.
//!
//! ```sh
//! cargo build --release -p fh-benches --example ring_hop
//! target/release/examples/ring_hop CAPTURE DIR [--speed X] [--engine-cpu N] [--reader-cpu N] [--idle spin|yield|backoff]
//! ```
//!
//! Writes DIR/ring_hop.hgrm (values in µs, as DIR/shm_hop.hgrm) and prints one line:
//! `ring hop: D datagrams, p50 … µs, p99 … µs, p99.9 … µs, early E, unread U, reader batches B,
//! updates U`. Defaults: `--speed 1`, `--idle spin`, no pinning. Exit 2 on a usage error, 1
//! when nothing was measured.

use std::path::PathBuf;
use std::process::ExitCode;

use fh_benches::hop::HopProbe;
use fh_feed::latency::{LatencyConfig, Series};
use fh_feed::pipeline::{IdleKind, Pacing, Pipeline, RingSettings, StrategyOptions};

const USAGE: &str = "usage: ring_hop CAPTURE DIR [--speed X] [--engine-cpu N] [--reader-cpu N] [--idle spin|yield|backoff]";

struct Args {
    capture: PathBuf,
    dir: PathBuf,
    speed: f64,
    engine_cpu: Option<usize>,
    reader_cpu: Option<usize>,
    idle: IdleKind,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut pos = Vec::new();
    let mut a = Args {
        capture: PathBuf::new(),
        dir: PathBuf::new(),
        speed: 1.0,
        engine_cpu: None,
        reader_cpu: None,
        idle: IdleKind::Spin,
    };
    while let Some(x) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag}: a value is needed"));
        match x.as_str() {
            "--speed" => {
                let v = value("--speed")?;
                a.speed = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.001..=1_000_000.0).contains(s))
                    .ok_or(format!("--speed {v}: not a number from 0.001 to 1000000"))?;
            }
            "--engine-cpu" | "--reader-cpu" => {
                let v = value(&x)?;
                let n = v
                    .parse()
                    .map_err(|_| format!("{x} {v}: not a core number"))?;
                if x == "--engine-cpu" {
                    a.engine_cpu = Some(n);
                } else {
                    a.reader_cpu = Some(n);
                }
            }
            "--idle" => {
                a.idle = match value("--idle")?.as_str() {
                    "spin" => IdleKind::Spin,
                    "yield" => IdleKind::Yield,
                    "backoff" => IdleKind::Backoff,
                    v => return Err(format!("--idle {v}: spin, yield or backoff")),
                }
            }
            f if f.starts_with("--") => return Err(format!("{f}: not a flag of ring_hop")),
            _ => pos.push(PathBuf::from(x)),
        }
    }
    let [capture, dir] = <[PathBuf; 2]>::try_from(pos).map_err(|_| USAGE.to_string())?;
    (a.capture, a.dir) = (capture, dir);
    Ok(a)
}

fn run(a: &Args) -> Result<bool, String> {
    let quiet = LatencyConfig {
        no_latency: true,
        ..LatencyConfig::default()
    };
    let err = |e: fh_feed::pipeline::PipelineError| e.to_string();
    // The run's update count sizes the probe.
    let updates = Pipeline::replay(&a.capture)
        .latency(quiet.clone())
        .digest(false)
        .run()
        .map_err(err)?
        .report
        .updates
        .total;
    let probe = HopProbe::new(updates);
    let p = Pipeline::replay(&a.capture)
        .pacing(Pacing::Speed(a.speed))
        .ring(RingSettings {
            idle: a.idle,
            ..RingSettings::default()
        })
        .engine_core(a.engine_cpu)
        .latency(quiet)
        .digest(false);
    let options = StrategyOptions {
        group: None,
        core: a.reader_cpu,
    };
    let p = probe.reader(p, "hop", options).tap("probe", probe.tap());
    let report = p.run().map_err(err)?.report;
    let hops = probe.hops();
    let h = &hops.hist;
    let series = [Series {
        name: "ring_hop",
        hist: h,
        over: 0,
    }];
    fh_feed::latency::output::write_hgrm_dir(&a.dir, &series).map_err(|e| e.to_string())?;
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let batches = report.strategies.first().map_or(0, |s| s.stats.batches);
    println!(
        "ring hop: {} datagrams, p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, early {}, unread {}, reader batches {}, updates {}",
        hops.datagrams,
        us(0.5),
        us(0.99),
        us(0.999),
        hops.early,
        hops.unread,
        batches,
        report.updates.total
    );
    Ok(!h.is_empty())
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ring_hop: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("ring_hop: {}: no hop measured", a.capture.display());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ring_hop: {e}");
            ExitCode::from(2)
        }
    }
}
