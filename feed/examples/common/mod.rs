//! The examples' shared runner: one strategy through the real pipeline, then its figures.
//!
//! `cargo run --release --example NAME -- [FILE] [--speed X] [--threading shared]
//! [--live GROUP:PORT [--protocol itch|iex] [--duration S]]`; no FILE: `pcaps/sample.pcap`.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use fh_feed::pipeline::live::{LiveSource, Protocol};
use fh_feed::pipeline::{Pacing, Pipeline, StopOn, Threading};
use fh_feed::strategy::Strategy;

/// Runs `strategy` as `name` on the source the command line names and prints its figures;
/// an error is one line on stderr and exit code 2.
pub fn run<S: Strategy>(name: &str, strategy: S) {
    if let Err(e) = try_run(name, strategy) {
        eprintln!("{name}: {e}");
        std::process::exit(2);
    }
}

fn try_run<S: Strategy>(name: &str, strategy: S) -> Result<(), String> {
    let (mut file, mut speed, mut live) = (None, None, None);
    let (mut protocol, mut duration, mut threading) = (Protocol::Itch, None, Threading::Dedicated);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag}: needs a value"));
        match flag.as_str() {
            "--speed" => speed = Some(parse::<f64>(&flag, value()?)?),
            "--live" => live = Some(parse::<SocketAddrV4>(&flag, value()?)?),
            "--duration" => duration = Some(Duration::from_secs_f64(parse(&flag, value()?)?)),
            "--protocol" => match value()?.as_str() {
                "itch" => protocol = Protocol::Itch,
                "iex" => protocol = Protocol::Iex,
                p => return Err(format!("--protocol {p}: itch or iex")),
            },
            "--threading" => match value()?.as_str() {
                "shared" => threading = Threading::Shared,
                "dedicated" => threading = Threading::Dedicated,
                t => return Err(format!("--threading {t}: shared or dedicated")),
            },
            f if f.starts_with('-') || file.is_some() => return Err(format!("{f}: unexpected")),
            f => file = Some(PathBuf::from(f)),
        }
    }
    let mut pipeline = match live {
        Some(group) => {
            let mut source = LiveSource::new(&[group], protocol);
            source.duration = duration;
            Pipeline::live(source).stop_on(StopOn::Signals)
        }
        None => {
            let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps/sample.pcap");
            Pipeline::replay(file.unwrap_or(sample))
        }
    };
    if let Some(x) = speed {
        pipeline = pipeline.pacing(Pacing::Speed(x)); // a live source refuses it
    }
    let outcome = pipeline.threading(threading).strategy(name, strategy).run();
    let report = outcome.map_err(|e| e.0)?.report;
    for s in &report.strategies {
        println!("{}", s.name);
        for (figure, value) in &s.figures.0 {
            println!("  {figure:<20} {value}");
        }
    }
    let e = &report.engine;
    println!(
        "{} messages, {} updates in {:.3} s ({}, {} threading)",
        e.itch_messages + e.iex_messages,
        report.updates.total,
        report.elapsed_s,
        report.source,
        report.threading
    );
    Ok(())
}

fn parse<T: FromStr>(flag: &str, v: String) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag} {v}: invalid"))
}
