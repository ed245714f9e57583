//! `fh decode`. TODO: see the issues.

use super::CliResult;

/// Arguments of `fh decode`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {}

/// Runs `fh decode`.
pub fn run(_args: Args) -> CliResult {
    Err(super::CliError::new("fh decode: not built yet"))
}
