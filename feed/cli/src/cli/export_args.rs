//! The research outputs of `fh replay` (the `fh-export` crate): DBN files, book snapshots at
//! intervals and the trade tape.

use std::path::PathBuf;

use super::CliError;
use fh_export::clock::Date;
use fh_export::{parse_interval, ExportConfig, Schema};
use fh_feed::pipeline::output::{NamedPath, Role};

/// Export flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExportArgs {
    /// Write a DBN file (Databento Binary Encoding; `.zst` ending: zstd-compressed) of the
    /// schema given by the `--schema` in the same position (repeatable, in pairs).
    #[arg(long = "dbn", value_name = "FILE")]
    pub dbn: Vec<PathBuf>,
    /// The schema of the `--dbn` in the same position: mbo, mbp-1, mbp-10, tbbo, trades.
    #[arg(long = "schema", value_name = "S")]
    pub schema: Vec<String>,
    /// Book snapshots every D of exchange time (`100ms`, `1s`, `5m`, `250us`, ns; at most a
    /// day), `--depth` levels a side, to --snapshot-csv and/or --snapshot-parquet.
    #[arg(long, value_name = "D")]
    pub snapshot_every: Option<String>,
    /// Snapshots as CSV.
    #[arg(long, value_name = "FILE")]
    pub snapshot_csv: Option<PathBuf>,
    /// Snapshots as Parquet.
    #[arg(long, value_name = "FILE")]
    pub snapshot_parquet: Option<PathBuf>,
    /// The trade tape as CSV.
    #[arg(long, value_name = "FILE")]
    pub trades_csv: Option<PathBuf>,
    /// The trade tape as Parquet.
    #[arg(long, value_name = "FILE")]
    pub trades_parquet: Option<PathBuf>,
    /// The ITCH session date (YYYY-MM-DD) for epoch timestamps, when the capture has no
    /// capture times (a bare ITCH file not named MMDDYYYY.NASDAQ_ITCH50).
    #[arg(long, value_name = "DATE")]
    pub session_date: Option<String>,
    /// The --bbo-csv path when `--bbo-ts epoch` has the exporter write it.
    #[arg(skip)]
    pub bbo_csv_epoch: Option<PathBuf>,
}

impl ExportArgs {
    /// The flags.
    #[rustfmt::skip]
    pub const FLAGS: &'static [&'static str] = &[
        "--dbn", "--schema", "--snapshot-every", "--snapshot-csv", "--snapshot-parquet",
        "--trades-csv", "--trades-parquet", "--session-date",
    ];

    /// The outputs, named by their flags (for `check_paths`).
    pub fn outputs(&self) -> Vec<NamedPath> {
        let mut v: Vec<NamedPath> = self
            .dbn
            .iter()
            .map(|p| NamedPath::new("--dbn", p, Role::File))
            .collect();
        for (name, p) in [
            ("--snapshot-csv", &self.snapshot_csv),
            ("--snapshot-parquet", &self.snapshot_parquet),
            ("--trades-csv", &self.trades_csv),
            ("--trades-parquet", &self.trades_parquet),
        ] {
            v.extend(p.iter().map(|p| NamedPath::new(name, p, Role::File)));
        }
        v
    }

    /// The export configuration (`None`: nothing to export), every value checked; `files`
    /// are the captures (a bare ITCH file needs a session date, from its name or the flag).
    pub fn config(
        &self,
        depth: usize,
        files: &[PathBuf],
    ) -> Result<Option<ExportConfig>, CliError> {
        if self.dbn.len() != self.schema.len() {
            return Err(CliError::new(format!(
                "--dbn and --schema go in pairs: {} --dbn, {} --schema",
                self.dbn.len(),
                self.schema.len()
            )));
        }
        let dbn = self
            .dbn
            .iter()
            .zip(&self.schema)
            .map(|(p, s)| match Schema::parse(s) {
                Some(s) => Ok((p.clone(), s)),
                None => Err(CliError::new(format!(
                    "--schema {s}: not one of mbo, mbp-1, mbp-10, tbbo, trades"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let snap_out = self.snapshot_csv.is_some() || self.snapshot_parquet.is_some();
        let every = match (&self.snapshot_every, snap_out) {
            (Some(d), true) => parse_interval(d).ok_or_else(|| {
                CliError::new(format!(
                    "--snapshot-every {d}: a duration from 1ns to 1 day such as 100ms, 1s, 5m"
                ))
            })?,
            (Some(_), false) => {
                return Err(CliError::new(
                    "--snapshot-every: give --snapshot-csv and/or --snapshot-parquet",
                ))
            }
            (None, true) => {
                return Err(CliError::new(
                    "--snapshot-csv/--snapshot-parquet: give --snapshot-every",
                ))
            }
            (None, false) => 0,
        };
        let session_date = match &self.session_date {
            Some(s) => Some(Date::parse(s).ok_or_else(|| {
                CliError::new(format!("--session-date {s}: not a date YYYY-MM-DD"))
            })?),
            None => None,
        };
        let cfg = ExportConfig {
            dbn,
            snapshot_every_ns: every,
            snapshot_depth: depth,
            snapshot_csv: self.snapshot_csv.clone(),
            snapshot_parquet: self.snapshot_parquet.clone(),
            trades_csv: self.trades_csv.clone(),
            trades_parquet: self.trades_parquet.clone(),
            bbo_csv_epoch: self.bbo_csv_epoch.clone(),
            session_date,
        };
        if cfg.is_empty() {
            if self.session_date.is_some() {
                return Err(CliError::new("--session-date: only with an export"));
            }
            return Ok(None);
        }
        let mut cfg = cfg;
        if cfg.session_date.is_none() {
            cfg.session_date = itch_file_date(files)?;
        }
        Ok(Some(cfg))
    }
}

/// The session date of bare ITCH files from their names (`MMDDYYYY.NASDAQ_ITCH50[.gz]`); an
/// error for one that has neither capture times nor such a name; `None` for captures.
fn itch_file_date(files: &[PathBuf]) -> Result<Option<Date>, CliError> {
    use fh_replay::capture::{detect, Kind};
    use std::io::Read;
    let mut date = None;
    for f in files {
        if fh_replay::capture::is_stdin(f) {
            continue;
        }
        // The kind is told from the first bytes (the replay opens the file again).
        let mut head = Vec::with_capacity(4096);
        std::fs::File::open(f)
            .and_then(|h| h.take(4096).read_to_end(&mut head))
            .map_err(|e| CliError::new(format!("{}: {e}", f.display())))?;
        let kind = detect(f, &head).map_err(CliError::new)?.kind;
        if !matches!(kind, Kind::Itch | Kind::ItchGz) {
            continue;
        }
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        match name.as_deref().and_then(Date::from_itch_file_name) {
            Some(d) => date = date.or(Some(d)),
            None => {
                return Err(CliError::new(format!(
                    "{}: a bare ITCH file has no capture times: give --session-date YYYY-MM-DD for the exports' epoch timestamps",
                    f.display()
                )))
            }
        }
    }
    Ok(date)
}
