//! The `fh` command line: one module per subcommand, each with its `Args` and `run`.
//!
//! Errors at this boundary are rich (file names, offsets, values) and end the process with a
//! one-line message and a non-zero exit code; the hot path below only counts.
//!
//! clap lives here only: the option groups shared by subcommands ([`LatencyArgs`],
//! [`WireArgs`]) turn into the libraries' plain configurations (`LatencyConfig`,
//! `WireConfig`), and library errors convert into [`CliError`].
//!
//! The contract every subcommand keeps (the table test `tests/cli_contract.rs` checks it):
//! - Exit codes ([`Ending`]): 0 success; 1 completed with data problems; 2 a usage or input
//!   error (one line on stderr, `fh COMMAND: …`); 130 interrupted (SIGINT/SIGTERM: the run
//!   stops reading, its outputs are finished and the report printed, marked interrupted).
//! - Each mode declares the flags it takes ([`check_mode`]); any other is refused by name.
//! - Every size and time has a documented range, checked before anything starts; every
//!   path is checked before the run (`pipeline::output::check_paths`: no output is an input or another
//!   output), and every output is written atomically (`pipeline::output`).
//! - A closed stdout (`| head`) ends the printing quietly ([`print`]).

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use fh_feed::latency::{LatencyConfig, LatencyError, DEFAULT_STAMP_EVERY};
use fh_feed::pipeline::output::NamedPath;
use fh_feed::pipeline::RunReport;

pub mod decode;
pub mod export_args;
pub mod gen;
pub mod live;
pub mod pipeline_args;
pub mod replay;
pub mod report;
pub mod serve;
pub mod shm;
pub mod wasm_args;
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

/// Result of a check.
pub type CliResult = Result<(), CliError>;

/// How a subcommand ended: its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Exit 0.
    Done,
    /// Exit 1: completed, with data problems (one line saying which).
    Problems(String),
    /// Exit 130: stopped by SIGINT or SIGTERM; the outputs cover what was processed.
    Interrupted,
}

impl Ending {
    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Ending::Done => 0,
            Ending::Problems(_) => 1,
            Ending::Interrupted => 130,
        }
    }

    /// `Problems` listing `p` about `what`, or `Done` if `p` is empty.
    pub fn of(what: &str, p: Vec<String>) -> Ending {
        if p.is_empty() {
            Ending::Done
        } else {
            Ending::Problems(format!(
                "{what}: completed with data problems: {}",
                p.join("; ")
            ))
        }
    }
}

/// Result of a subcommand.
pub type Run = Result<Ending, CliError>;

/// How a pipeline run ended: interrupted, or the data problems of its report
/// (`pipeline::output::data_problems`).
pub fn ending(r: &RunReport, symbol_filter: bool) -> Ending {
    match r.interrupted {
        true => Ending::Interrupted,
        false => Ending::of(
            &r.source,
            fh_feed::pipeline::output::data_problems(r, symbol_filter),
        ),
    }
}

/// Refuses the first flag of `given` (as typed: `--hlog`, `FILE`) that `mode` does not take.
pub fn check_mode(mode: &str, given: &[String], takes: &[&str]) -> CliResult {
    match given.iter().find(|f| !takes.contains(&f.as_str())) {
        Some(f) => Err(CliError::new(format!("{f}: not a flag of {mode}"))),
        None => Ok(()),
    }
}

/// `v` if it lies in `lo..=hi`, else an error naming the flag, the value and the range.
pub fn in_range<T: PartialOrd + fmt::Display>(
    flag: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, CliError> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(CliError::new(format!(
            "{flag} {v}: must be from {lo} to {hi}"
        )))
    }
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints `text` to stdout. A closed stdout (`| head`) is no error: printing stops quietly.
pub fn print(text: &str) -> CliResult {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(CliError::new(format!("stdout: {}", fh_feed::io_words(&e)))),
        Ok(()) => Ok(()),
    }
}

/// A progress bar on stderr when it is a terminal (nothing when piped): `len` steps, or a
/// counter when `len` is 0.
pub fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (b, t) = if len > 0 {
        (
            indicatif::ProgressBar::new(len),
            "[{bar:40}] {percent:>3}% {elapsed_precise} (eta {eta})",
        )
    } else {
        (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {pos} {elapsed_precise}",
        )
    };
    b.set_style(
        indicatif::ProgressStyle::with_template(t)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(b)
}

impl From<fh_feed::pipeline::PipelineError> for CliError {
    fn from(e: fh_feed::pipeline::PipelineError) -> Self {
        CliError(e.0)
    }
}

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
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STAMP_EVERY)]
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

/// Longest `--interval`, seconds.
pub const MAX_INTERVAL: f64 = 3600.0;
/// Largest `--stamp-every`.
pub const MAX_STAMP_EVERY: u32 = 1 << 20;

impl LatencyArgs {
    /// Checks the ranges: `--interval` 0.001 to [`MAX_INTERVAL`] seconds, `--stamp-every` 1 to
    /// [`MAX_STAMP_EVERY`].
    pub fn check(&self) -> CliResult {
        in_range("--interval", self.interval, 0.001, MAX_INTERVAL)?;
        in_range("--stamp-every", self.stamp_every, 1, MAX_STAMP_EVERY)?;
        Ok(())
    }

    /// The outputs, named by their flags (for `pipeline::output::check_paths`).
    pub fn outputs(&self) -> Vec<NamedPath> {
        use fh_feed::pipeline::output::Role;
        let mut v = Vec::new();
        for (flag, p, role) in [
            ("--hlog", &self.hlog, Role::File),
            ("--plot", &self.plot, Role::File),
            ("--hgrm", &self.hgrm, Role::Dir),
        ] {
            if let Some(p) = p {
                v.push(NamedPath::new(flag, p, role));
            }
        }
        v
    }

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
        let zero = Cli::parse_from(["x", "--stamp-every", "0"]).latency.check();
        assert_eq!(
            zero.unwrap_err().0,
            "--stamp-every 0: must be from 1 to 1048576"
        );
    }

    #[test]
    fn latency_errors_keep_their_text() {
        let e: CliError = LatencyError::new("--interval 0: must be at least 0.001 seconds").into();
        assert_eq!(e.0, "--interval 0: must be at least 0.001 seconds");
    }
}
