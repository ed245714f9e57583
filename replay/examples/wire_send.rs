//! `wire_send FILE --to GROUP:PORT [...]`: the wire sender on its own, until `fh replay --to`
//! carries the same options (`fh_replay::wire::WireArgs`). Sends each captured UDP payload to
//! multicast (TTL 0 by default: nothing leaves the host) and prints the report.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "wire_send",
    about = "Send a capture's UDP payloads to multicast"
)]
struct Cli {
    /// Capture file (pcap or pcapng).
    file: PathBuf,
    #[command(flatten)]
    wire: fh_replay::wire::WireArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(cfg) = cli.wire.config() else {
        eprintln!("wire_send: --to GROUP:PORT is required");
        return ExitCode::from(2);
    };
    match fh_replay::wire::send_capture(&cli.file, &cfg) {
        Ok(rep) => {
            println!("{rep}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wire_send: {e}");
            ExitCode::from(2)
        }
    }
}
