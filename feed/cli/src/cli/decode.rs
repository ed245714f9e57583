//! `fh decode FILE`: print every message of a capture, as aligned text or JSON Lines (a shell
//! over [`fh_feed::dump`], which documents the output). Input: classic pcap, pcapng or a Nasdaq `*.NASDAQ_ITCH50[.gz]` file. Each UDP payload is
//! recognised as MoldUDP64 (ITCH 5.0) or IEX-TP (DEEP/TOPS) from its bytes (`--protocol auto`),
//! or forced with `--protocol itch|iex`.
//!
//! ## Errors
//! A file that is no capture, an unknown link type, an absurd length or a record cut in the
//! middle: one line naming the file and byte offset, exit 2. A capture cut off at its very end:
//! everything complete is decoded, then a warning. Malformed frames, packets and messages are
//! counted by kind and summed up on stderr at the end. A closed stdout (`| head`) ends quietly.
//! Exit 1 when the capture is cut off, something was dropped as malformed, or `--symbol`
//! matched nothing; 130 on Ctrl-C (the summary covers what was printed).

use super::{CliError, Ending, Run};
use fh_feed::dump::{self, DumpConfig, End};
use std::io::{self, BufWriter};
use std::path::PathBuf;

/// Which protocol to decode the UDP payloads as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Recognise MoldUDP64/ITCH or IEX-TP per datagram.
    #[default]
    Auto,
    /// MoldUDP64 carrying ITCH 5.0.
    Itch,
    /// IEX-TP carrying DEEP or TOPS.
    Iex,
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One aligned, human-readable line per message.
    #[default]
    Text,
    /// JSON Lines, one object per message.
    Json,
}

/// Arguments of `fh decode`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Capture to decode: pcap, pcapng, or NASDAQ_ITCH50 (plain or .gz).
    pub file: PathBuf,
    /// Protocol of the UDP payloads.
    #[arg(long, value_enum, default_value_t)]
    pub protocol: Protocol,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Print only messages of this symbol (repeatable). ITCH messages without a symbol field
    /// are matched through the stock locate learned from earlier messages.
    #[arg(long = "symbol", value_name = "SYM")]
    pub symbols: Vec<String>,
    /// Stop after printing this many messages.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

impl Args {
    /// The library's configuration: the same values, field for field.
    pub fn config(&self) -> DumpConfig {
        DumpConfig {
            protocol: match self.protocol {
                Protocol::Auto => dump::Protocol::Auto,
                Protocol::Itch => dump::Protocol::Itch,
                Protocol::Iex => dump::Protocol::Iex,
            },
            format: match self.format {
                Format::Text => dump::Format::Text,
                Format::Json => dump::Format::Json,
            },
            symbols: self.symbols.clone(),
            limit: self.limit,
        }
    }
}

/// Runs `fh decode`.
pub fn run(args: Args) -> Run {
    fh_feed::live::signal::install();
    let stop = fh_feed::live::signal::flag();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let s = dump::dump_file(&args.file, &args.config(), &mut out, stop).map_err(CliError::new)?;
    drop(out);
    let name = args.file.display();
    match s.end {
        End::OutputClosed => return Ok(Ending::Done),
        End::Stopped => {
            eprintln!("fh decode: {name}: {s}");
            return Ok(Ending::Interrupted);
        }
        End::Complete | End::Limit => eprintln!("fh decode: {name}: {s}"),
    }
    let mut p = Vec::new();
    if let Some(w) = &s.truncation {
        p.push(w.to_string());
    }
    let dropped = s.dropped();
    if !dropped.is_empty() {
        p.push(format!("dropped {}", dropped.join(", ")));
    }
    if !args.symbols.is_empty() && s.printed == 0 {
        p.push("--symbol matched nothing".to_string());
    }
    Ok(Ending::of(&name.to_string(), p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        decode: Args,
    }

    #[test]
    fn flags_become_the_config() {
        let c = Cli::parse_from(["x", "f.pcap"]).decode.config();
        assert_eq!(c, DumpConfig::default());
        let a = "x --protocol iex --format json --symbol A --limit 3 f".split(' ');
        let want = DumpConfig {
            protocol: dump::Protocol::Iex,
            format: dump::Format::Json,
            symbols: vec!["A".into()],
            limit: Some(3),
        };
        assert_eq!(Cli::parse_from(a).decode.config(), want);
    }
}
