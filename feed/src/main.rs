//! `fh`: the feed handler's command line. With no arguments it replays the bundled sample.

use clap::{Parser, Subcommand};
use fh_feed::cli;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "fh", version, about = "Low-latency market data feed handler")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print every message of a capture (pcap, pcapng, NASDAQ_ITCH50 file).
    Decode(cli::decode::Args),
    /// Write a synthetic ITCH 5.0 feed (pcap or ITCH file), with faults on demand.
    Gen(cli::gen::Args),
    /// Replay a capture through the engine and books (or onto the wire with --to).
    Replay(cli::replay::Args),
    /// Receive a live multicast feed.
    Live(cli::live::Args),
    /// Turn an interval histogram log back into a latency table and plot.
    Report(cli::report::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        None => cli::replay::run(cli::replay::Args::default()),
        Some(Cmd::Decode(a)) => cli::decode::run(a),
        Some(Cmd::Gen(a)) => cli::gen::run(a),
        Some(Cmd::Replay(a)) => cli::replay::run(a),
        Some(Cmd::Live(a)) => cli::live::run(a),
        Some(Cmd::Report(a)) => cli::report::run(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fh: {e}");
            ExitCode::from(2)
        }
    }
}
