//! `fh`: the feed handler's command line. With no arguments it replays the bundled sample.
//!
//! Exit codes: 0 success; 1 completed with data problems; 2 usage or input error; 130
//! interrupted (see `cli`). Every error is one line on stderr, `fh COMMAND: …`.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
mod cli;

use cli::Ending;
use std::io::Write;
use std::process::ExitCode;

/// The program's heap: mimalloc, which on Linux reserves its heap in large regions and asks
/// for transparent huge pages on them (`MADV_HUGEPAGE`, effective when
/// `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`). The books' price
/// ladders are thousands of small allocations touched at scattered places on every message;
/// on huge pages they share a few TLB entries, as the engine's large tables do (the library
/// asks for those itself). Nothing on the hot path allocates, whichever allocator this is.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// The exchange side: a day on lines A and B with faults, a MoldUDP64 request server and a
    /// SoupBinTCP snapshot server (for tests and demos).
    Serve(cli::serve::Args),
    /// Print what a shared-memory subscriber of `fh replay|live --shm NAME` sees.
    ShmTail(cli::shm::TailArgs),
}

/// The flags given on the command line (`--hlog`, or `FILE` for a positional), in order.
fn given(cmd: &clap::Command, m: &ArgMatches) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|a| match a.get_long() {
            Some(l) => format!("--{l}"),
            None => a.get_id().as_str().to_uppercase(),
        })
        .collect()
}

/// A clap error as one line: `--bogus: not a flag of fh replay`, or clap's first sentence.
fn clap_line(e: &clap::Error, cmd: &str) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(a)) = e.get(ContextKind::InvalidArg) {
            return format!("{a}: not a flag of {cmd}");
        }
    }
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let line = lines.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let name = argv.get(1).and_then(|a| a.to_str()).filter(|a| {
        [
            "decode", "gen", "replay", "live", "report", "serve", "shm-tail",
        ]
        .contains(a)
    });
    let who = name.map_or("fh".to_string(), |n| format!("fh {n}"));
    let say = |msg: &str| {
        let _ = writeln!(std::io::stderr(), "{who}: {msg}");
    };
    let matches = Cli::command().try_get_matches_from(&argv);
    let parsed = matches.and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (cli, m) = match parsed {
        Ok(p) => p,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            say(&clap_line(&e, &who));
            return ExitCode::from(2);
        }
    };
    let sub = m
        .subcommand()
        .and_then(|(n, sm)| Cli::command().find_subcommand(n).map(|c| given(c, sm)));
    let given = sub.unwrap_or_default();
    let res = match cli.cmd {
        None => cli::replay::run(cli::replay::Args::default()),
        Some(Cmd::Decode(a)) => cli::decode::run(a),
        Some(Cmd::Gen(a)) => cli::gen::run(a),
        Some(Cmd::Replay(a)) => cli::replay::run(cli::replay::Args { given, ..a }),
        Some(Cmd::Live(a)) => cli::live::run(cli::live::Args { given, ..a }),
        Some(Cmd::Report(a)) => cli::report::run(a),
        Some(Cmd::Serve(a)) => cli::serve::run(a),
        Some(Cmd::ShmTail(a)) => cli::shm::tail(a),
    };
    match res {
        Ok(end) => {
            match &end {
                Ending::Done => {}
                Ending::Problems(p) => say(p),
                Ending::Interrupted => say("interrupted (SIGINT or SIGTERM)"),
            }
            ExitCode::from(end.code())
        }
        Err(e) => {
            say(&e.to_string());
            ExitCode::from(2)
        }
    }
}
