//! `fh report`. TODO: see the issues.

use super::CliResult;

/// Arguments of `fh report`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {}

/// Runs `fh report`.
pub fn run(_args: Args) -> CliResult {
    Err(super::CliError::new("fh report: not built yet"))
}
