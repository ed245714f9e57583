//! The `fh` command line: one module per subcommand, each with its `Args` and `run`.
//!
//! Errors at this boundary are rich (file names, offsets, values) and end the process with a
//! one-line message and a non-zero exit code; the hot path below only counts.

use std::fmt;

pub mod decode;
pub mod gen;
pub mod live;
pub mod replay;
pub mod replay_latency;
pub mod replay_pipeline;
pub mod report;

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
