//! `fh report FILE.hlog [--from S] [--to S] [--plot out.svg] [--hgrm DIR]`: turns an
//! HdrHistogram interval log (as `--hlog` writes it) back into the latency table, and
//! optionally the percentile plot and `.hgrm` files.
//!
//! Intervals are merged per tag (stage); `--from`/`--to` keep the intervals whose start lies
//! in `[from, to)` seconds after the log's start. A file that cannot be read or parsed ends
//! with one line naming the file (and line), exit code 2. The outputs are checked before the
//! log is read (neither may be the log, nor each other) and written atomically; Ctrl-C ends
//! after the table (exit 130).

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Ending, Run};
use fh_feed::latency::{hlog, output, table};
use fh_feed::pipeline::output::{NamedPath, Role};

/// Arguments of `fh report`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Interval log to read (HdrHistogram interval log format).
    #[arg(value_name = "FILE.hlog")]
    pub hlog: PathBuf,
    /// Keep intervals starting at or after S seconds from the log's start.
    #[arg(long, value_name = "S")]
    pub from: Option<f64>,
    /// Keep intervals starting before S seconds from the log's start.
    #[arg(long, value_name = "S")]
    pub to: Option<f64>,
    /// Draw the percentile curves of all tags into FILE (SVG).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Write each tag's percentile distribution to DIR/TAG.hgrm (values in µs).
    #[arg(long, value_name = "DIR")]
    pub hgrm: Option<PathBuf>,
}

/// Runs `fh report`, printing to stdout.
pub fn run(args: Args) -> Run {
    fh_feed::live::signal::install();
    let mut text = Vec::new();
    run_to(&args, &mut text)?;
    super::print(&String::from_utf8_lossy(&text))?;
    Ok(if fh_feed::live::signal::requested() {
        Ending::Interrupted
    } else {
        Ending::Done
    })
}

/// Runs `fh report`, printing to `out`.
pub fn run_to(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    for (flag, v) in [("--from", args.from), ("--to", args.to)] {
        if let Some(v) = v {
            super::in_range(flag, v, 0.0, 1e9)?;
        }
    }
    let mut paths = vec![NamedPath::new("the log", &args.hlog, Role::Input)];
    if let Some(p) = &args.plot {
        paths.push(NamedPath::new("--plot", p, Role::File));
    }
    if let Some(d) = &args.hgrm {
        paths.push(NamedPath::new("--hgrm", d, Role::Dir));
    }
    fh_feed::pipeline::output::check_paths(&paths)?;
    if let (Some(f), Some(t)) = (args.from, args.to) {
        if t <= f {
            return Err(CliError::new(format!("--to {t}: must be after --from {f}")));
        }
    }
    let name = args.hlog.display();
    let bytes = std::fs::read(&args.hlog)
        .map_err(|e| CliError::new(format!("{name}: {}", fh_feed::io_words(&e))))?;
    let sum = hlog::read(&bytes, args.from, args.to)
        .map_err(|e| CliError::new(format!("{name}: {e}")))?;
    if sum.intervals == 0 {
        let what = if sum.skipped > 0 {
            format!("no interval in the time range ({} outside it)", sum.skipped)
        } else {
            "no interval histograms".to_string()
        };
        return Err(CliError::new(format!("{name}: {what}")));
    }
    let series = sum.series();
    let io = |e: std::io::Error| CliError::new(format!("writing the report: {e}"));
    let (a, b) = sum.span.unwrap_or((0.0, 0.0));
    writeln!(
        out,
        "{name}: {} interval histograms, {a:.3} s to {b:.3} s",
        sum.intervals
    )
    .map_err(io)?;
    write!(out, "{}", table::render_series(&series)).map_err(io)?;
    if let Some(dir) = &args.hgrm {
        output::write_hgrm_dir(dir, &series)?;
    }
    if let Some(path) = &args.plot {
        let title = match args.hlog.file_name() {
            Some(f) => format!("fh latency: {}", f.to_string_lossy()),
            None => "fh latency".to_string(),
        };
        output::write_plot(path, &title, &series)?;
    }
    Ok(())
}
