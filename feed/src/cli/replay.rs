//! `fh replay [FILE]`: a capture through the engine and books (`fh_feed::pipeline`), on one
//! thread or (`--pipeline`) with strategies on the publication ring; or onto the wire
//! (`--to`); or decoded only (`--decode-only`). With no arguments `fh` replays the bundled
//! sample `pcaps/sample.pcap`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::pipeline_args::{PipelineArgs, ReportArgs};
use super::{CliError, CliResult, LatencyArgs, WireArgs};
use crate::engine::EngineConfig;
use crate::pipeline::{report, Pacing, Pipeline, StopOn};

/// Arguments of `fh replay`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Captures to replay, in order as one stream: pcap, pcapng, gzip'd or not, or a bare ITCH
    /// 5.0 stream, told from the bytes; `-` is standard input (default: the bundled sample).
    pub file: Vec<PathBuf>,
    /// Keep books only for this symbol (repeatable); everything is still sequenced.
    #[arg(long = "symbol", value_name = "S")]
    pub symbols: Vec<String>,
    /// Levels per side in the final depth report.
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// How many of the most active symbols the report shows.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Write every best bid/offer change as CSV (ts,symbol,bid,bid_size,ask,ask_size).
    #[arg(long, value_name = "FILE")]
    pub bbo_csv: Option<PathBuf>,
    /// Print `digest: <hex>`, a stable hash over the whole book-update stream.
    #[arg(long)]
    pub digest: bool,
    /// Expected live ITCH orders (the order store is sized for it, and grows, counted, beyond).
    #[arg(long, value_name = "N")]
    pub orders: Option<usize>,
    /// First sequence number of a session, if known (a first packet after it is a gap).
    #[arg(long, value_name = "N")]
    pub first_seq: Option<u64>,
    /// Decode and sequence only: count messages, build no books (a speed baseline).
    #[arg(long)]
    pub decode_only: bool,
    /// Run as a pipeline: reader + engine on this thread, strategies on the ring.
    #[arg(long)]
    pub pipeline: bool,
    /// Stepped replay: after each datagram that reaches the next step of NS ns of exchange
    /// time, wait until every strategy has caught up (0: after every datagram).
    #[arg(long, value_name = "NS", requires = "pipeline")]
    pub step: Option<u64>,
    /// Strategies, ring and threading (with --pipeline).
    #[command(flatten)]
    pub pipe: PipelineArgs,
    /// Latency per stage (table always; --hgrm, --hlog, --plot on demand; --no-latency).
    #[command(flatten)]
    pub latency: LatencyArgs,
    /// Onto the wire (--to …) instead of in-process; --speed also paces in-process replay.
    #[command(flatten)]
    pub wire: WireArgs,
    /// Report output.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Largest order capacity asked for (the store takes 2 slots of 32 bytes per order).
pub const MAX_ORDERS: usize = 1 << 28;

/// The bundled sample capture: `pcaps/sample.pcap` in the working directory or the workspace.
pub fn sample_path() -> PathBuf {
    let local = PathBuf::from("pcaps/sample.pcap");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps/sample.pcap")
}

fn refuse(mode: &str, flags: &[&str]) -> CliResult {
    match flags.first() {
        Some(f) => Err(CliError::new(format!("{f}: not available with {mode}"))),
        None => Ok(()),
    }
}

fn progress_bar(enabled: bool) -> impl FnMut(f64) {
    let bar = enabled.then(|| {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template("[{bar:40}] {percent:>3}% {elapsed_precise}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    move |f: f64| {
        if let Some(b) = &bar {
            b.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64);
            if f >= 1.0 {
                b.finish_and_clear();
            }
        }
    }
}

/// Runs `fh replay`.
pub fn run(args: Args) -> CliResult {
    let files = if args.file.is_empty() {
        vec![sample_path()]
    } else {
        args.file.clone()
    };
    let path = files[0].clone();
    if files.len() > 1 && (args.wire.to.is_some() || args.decode_only) {
        return Err(CliError::new(
            "several FILEs: only for a replay through the engine (not --to, --decode-only)",
        ));
    }
    let l = &args.latency;
    let latency_out: Vec<&str> = [
        ("--hgrm", l.hgrm.is_some()),
        ("--hlog", l.hlog.is_some()),
        ("--plot", l.plot.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let engine_flags: Vec<&str> = [
        ("--digest", args.digest),
        ("--bbo-csv", args.bbo_csv.is_some()),
        ("--symbol", !args.symbols.is_empty()),
        ("--orders", args.orders.is_some()),
        ("--first-seq", args.first_seq.is_some()),
        ("--depth", args.depth.is_some()),
        ("--top", args.top.is_some()),
        ("--pipeline", args.pipeline),
        ("--report-json", args.report.report_json.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    if let Some(cfg) = args.wire.config() {
        refuse("--to", &engine_flags)?;
        refuse("--to", &latency_out)?;
        refuse("--to", &args.pipe.given())?;
        if args.decode_only {
            return Err(CliError::new("--decode-only: not available with --to"));
        }
        let rep = fh_replay::wire::send_capture(&path, &cfg).map_err(CliError::new)?;
        println!("{rep}");
        return Ok(());
    }
    let cap_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let progress = progress_bar(cap_size > 64 << 20 && std::io::stderr().is_terminal());
    if args.decode_only {
        refuse("--decode-only", &engine_flags)?;
        refuse("--decode-only", &latency_out)?;
        refuse("--decode-only", &args.pipe.given())?;
        if args.wire.speed.is_some() {
            return Err(CliError::new("--speed: not available with --decode-only"));
        }
        let cap = fh_replay::capture::Capture::open(&path).map_err(CliError::new)?;
        crate::live::signal::install();
        let d = crate::pipeline::replay::decode_only(&cap, crate::live::signal::flag(), progress)
            .map_err(|e| CliError::new(e.0))?;
        let types: Vec<String> = d
            .types
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(t, n)| {
                let c = t as u8;
                if c.is_ascii_graphic() {
                    format!("{}={n}", c as char)
                } else {
                    format!("0x{t:02x}={n}")
                }
            })
            .collect();
        println!("fh replay --decode-only {}", cap.path().display());
        println!(
            "records: {}, messages: {}, malformed: {}",
            d.records, d.messages, d.malformed
        );
        println!("messages by type: {}", types.join(" "));
        println!(
            "{}",
            report::speed_line(
                d.messages,
                d.elapsed_s,
                d.cpu_s,
                crate::pipeline::peak_rss_bytes()
            )
        );
        return Ok(());
    }
    if !args.pipeline {
        refuse(
            "a single-thread replay (add --pipeline)",
            &args.pipe.given(),
        )?;
    }
    let orders = args.orders.unwrap_or(1 << 18);
    if !(1..=MAX_ORDERS).contains(&orders) {
        return Err(CliError::new(format!(
            "--orders {orders}: from 1 to {MAX_ORDERS}"
        )));
    }
    let pacing = match (args.wire.speed, args.step) {
        (Some(x), None) => Pacing::Speed(x),
        (None, Some(ns)) => Pacing::Step { every_ns: ns },
        (None, None) => Pacing::AsFast,
        (Some(_), Some(_)) => return Err(CliError::new("--step: not available with --speed")),
    };
    let mut p = Pipeline::replay_files(files)
        .engine(EngineConfig {
            orders,
            symbol_filter: (!args.symbols.is_empty()).then(|| args.symbols.clone()),
            expect_first_seq: args.first_seq,
            ..EngineConfig::default()
        })
        .pacing(pacing)
        .latency(args.latency.config())
        .digest(args.digest)
        .report_books(args.top.unwrap_or(5), args.depth.unwrap_or(5))
        .stop_on(StopOn::Signals)
        .progress(progress);
    if args.pipeline {
        p = p
            .ring(args.pipe.ring()?)
            .threading(args.pipe.threading())
            .engine_core(args.pipe.cpus.first().copied());
        let mut names = args.pipe.names(&["digest"])?;
        if args.bbo_csv.is_some() && !names.iter().any(|n| n == "bbo-csv") {
            names.push("bbo-csv".to_string());
        }
        p = args
            .pipe
            .add_strategies(p, &names, 1, args.bbo_csv.as_ref())?;
    } else {
        p = p.bbo_csv(args.bbo_csv.clone());
    }
    let out = p.run().map_err(|e| CliError::new(e.0))?;
    args.report.emit(&out.report, "")
}
