//! The `fh` command line: one module per subcommand, each with its `Args` and `run`.
//!
//! Errors at this boundary are rich (file names, offsets, values) and end the process with a
//! one-line message and a non-zero exit code; the hot path below only counts.
//!
//! clap lives here only: the option groups shared by subcommands ([`LatencyArgs`],
//! [`WireArgs`]) turn into the libraries' plain configurations (`LatencyConfig`,
//! `WireConfig`), and library errors convert into [`CliError`].

use std::fmt;
use std::path::PathBuf;

use crate::latency::{LatencyConfig, LatencyError, DEFAULT_STAMP_EVERY};

pub mod decode;
pub mod gen;
pub mod live;
pub mod pipeline_args;
pub mod replay;
pub mod report;
mod wire_args;

pub use wire_args::WireArgs;

/// A fatal command-line error: printed as one line, exit code 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// Builds an error from anything printable.
    pub fn new(msg: impl fmt::Display) -> Self {
        CliError(msg.to_string())
    }
}

/// Result of a subcommand.
pub type CliResult = Result<(), CliError>;

impl From<LatencyError> for CliError {
    fn from(e: LatencyError) -> Self {
        CliError(e.0)
    }
}

/// Latency options of `fh replay` and `fh live`; `#[command(flatten)]` them into a
/// subcommand's `Args`, and hand [`LatencyArgs::config`] to `LatencyRun::start`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct LatencyArgs {
    /// Write each stage's percentile distribution to DIR/STAGE.hgrm (HdrHistogram text
    /// format, values in µs).
    #[arg(long, value_name = "DIR")]
    pub hgrm: Option<PathBuf>,
    /// Write interval histograms to FILE (HdrHistogram interval log, values in ns, one tag per
    /// stage); `fh report FILE` reads it back.
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,
    /// Seconds per interval of --hlog.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub interval: f64,
    /// Draw the percentile curves of all stages into FILE (SVG).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Take no stage timestamps (to measure what they cost).
    #[arg(long)]
    pub no_latency: bool,
    /// `fh replay`: time 1 datagram in N (in bursts of 32), every stage (1: every datagram,
    /// ~+10 % CPU; `fh live` always times every datagram).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STAMP_EVERY, value_parser = clap::value_parser!(u32).range(1..))]
    pub stamp_every: u32,
}

impl Default for LatencyArgs {
    fn default() -> Self {
        let c = LatencyConfig::default();
        LatencyArgs {
            hgrm: c.hgrm,
            hlog: c.hlog,
            interval: c.interval,
            plot: c.plot,
            no_latency: c.no_latency,
            stamp_every: c.stamp_every,
        }
    }
}

impl LatencyArgs {
    /// The library's latency configuration: the same values, field for field.
    pub fn config(&self) -> LatencyConfig {
        LatencyConfig {
            hgrm: self.hgrm.clone(),
            hlog: self.hlog.clone(),
            interval: self.interval,
            plot: self.plot.clone(),
            no_latency: self.no_latency,
            stamp_every: self.stamp_every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        latency: LatencyArgs,
    }

    #[test]
    fn latency_flags_become_the_config() {
        let c = Cli::parse_from(["x"]);
        assert_eq!(c.latency, LatencyArgs::default());
        assert_eq!(c.latency.config(), LatencyConfig::default());
        let c = Cli::parse_from([
            "x",
            "--hgrm",
            "d",
            "--hlog",
            "f.hlog",
            "--interval",
            "0.5",
            "--plot",
            "p.svg",
            "--stamp-every",
            "1",
        ]);
        let want = LatencyConfig {
            hgrm: Some("d".into()),
            hlog: Some("f.hlog".into()),
            interval: 0.5,
            plot: Some("p.svg".into()),
            no_latency: false,
            stamp_every: 1,
        };
        assert_eq!(c.latency.config(), want);
        assert!(
            Cli::parse_from(["x", "--no-latency"])
                .latency
                .config()
                .no_latency
        );
        assert!(Cli::try_parse_from(["x", "--stamp-every", "0"]).is_err());
    }

    #[test]
    fn latency_errors_keep_their_text() {
        let e: CliError = LatencyError::new("--interval 0: must be at least 0.001 seconds").into();
        assert_eq!(e.0, "--interval 0: must be at least 0.001 seconds");
    }
}
