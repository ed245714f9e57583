//! `fh live`. TODO: see the issues.

use super::CliResult;

/// Arguments of `fh live`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {}

/// Runs `fh live`.
pub fn run(_args: Args) -> CliResult {
    Err(super::CliError::new("fh live: not built yet"))
}
