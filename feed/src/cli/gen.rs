//! `fh gen`. TODO: see the issues.

use super::CliResult;

/// Arguments of `fh gen`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {}

/// Runs `fh gen`.
pub fn run(_args: Args) -> CliResult {
    Err(super::CliError::new("fh gen: not built yet"))
}
