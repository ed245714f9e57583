//! `fh replay`. TODO: see the issues.

use super::CliResult;

/// Arguments of `fh replay`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {}

/// Runs `fh replay`.
pub fn run(_args: Args) -> CliResult {
    Err(super::CliError::new("fh replay: not built yet"))
}
