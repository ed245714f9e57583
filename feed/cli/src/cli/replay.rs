//! `fh replay [FILE]`: a capture through the engine and books (`fh_feed::pipeline`), on one
//! thread or (`--pipeline`) with strategies on the publication ring; or onto the wire
//! (`--to`); or decoded only (`--decode-only`). With no arguments `fh` replays the bundled
//! sample `pcaps/sample.pcap`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::export_args::ExportArgs;
use super::pipeline_args::{PipelineArgs, ReportArgs};
use super::{check_mode, in_range, CliError, Ending, LatencyArgs, Run, WireArgs};
use fh_feed::engine::EngineConfig;
use fh_feed::pipeline::output::{NamedPath, Role};
use fh_feed::pipeline::{report, Pacing, Pipeline, StopOn};

/// Arguments of `fh replay`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Captures to replay, in order as one stream: pcap, pcapng, gzip'd or not, or a bare ITCH
    /// 5.0 stream, told from the bytes; `-` is standard input (default: the bundled sample).
    pub file: Vec<PathBuf>,
    /// Keep books only for this symbol (repeatable); everything is still sequenced.
    #[arg(long = "symbol", value_name = "S")]
    pub symbols: Vec<String>,
    /// Levels per side in the final depth report (0 to 1000).
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// How many of the most active symbols the report shows (0 to 100000).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Write every best bid/offer change as CSV (ts,symbol,bid,bid_size,ask,ask_size); `ts`
    /// is the exchange time in ns: since midnight (US Eastern) of the session for ITCH, since
    /// the Unix epoch for IEX (`--bbo-ts epoch`: since the epoch for both).
    #[arg(long, value_name = "FILE")]
    pub bbo_csv: Option<PathBuf>,
    /// `ts` of --bbo-csv: `native` (as the feed sends it) or `epoch` (ns since the Unix epoch
    /// for every protocol; ITCH adds the session date's midnight, single-thread replay).
    #[arg(long, value_name = "native|epoch")]
    pub bbo_ts: Option<String>,
    /// Print `digest: <hex>`, a stable hash over the whole book-update stream.
    #[arg(long)]
    pub digest: bool,
    /// Expected live ITCH orders (the order store is sized for it, and grows, counted, beyond;
    /// 1 to 268435456, and 96 bytes each must fit in the memory available) [default: 1048576].
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
    #[arg(long, value_name = "NS")]
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
    /// Research outputs: DBN, snapshots, trade tape (single-thread replay).
    #[command(flatten)]
    pub export: Box<ExportArgs>,
    /// Shared-memory publication (--shm NAME).
    #[command(flatten)]
    pub shm: super::shm::ShmArgs,
    /// The flags given on the command line (filled in by `main`).
    #[arg(skip)]
    pub given: Vec<String>,
}

/// Largest order capacity asked for (the store takes 2 slots of 24 bytes per order, rounded
/// up to a power of two, and must also fit in the memory available).
pub const MAX_ORDERS: usize = 1 << 28;

/// What a single-thread replay takes.
#[rustfmt::skip]
const SINGLE: &[&str] = &[
    "FILE", "--symbol", "--depth", "--top", "--bbo-csv", "--digest", "--orders", "--first-seq",
    "--hgrm", "--hlog", "--interval", "--plot", "--no-latency", "--stamp-every", "--speed",
    "--report-json", "--bbo-ts", "--shm", "--shm-wait", "--shm-buffer",
];

/// The bundled sample capture: `pcaps/sample.pcap` in the working directory or the workspace.
pub fn sample_path() -> PathBuf {
    let local = PathBuf::from("pcaps/sample.pcap");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pcaps/sample.pcap")
}

fn progress(bar: Option<indicatif::ProgressBar>) -> impl FnMut(f64) + Send {
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
pub fn run(args: Args) -> Run {
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
    let g = &args.given;
    if args.wire.to.is_some() {
        let takes = [&["FILE"], WireArgs::FLAGS].concat();
        check_mode("fh replay --to (it only sends)", g, &takes)?;
        return wire(&path, &args.wire);
    }
    if args.decode_only {
        check_mode("fh replay --decode-only", g, &["FILE", "--decode-only"])?;
        return decode_only(&path);
    }
    if args.pipeline {
        let takes = [SINGLE, &["--pipeline", "--step"], PipelineArgs::FLAGS].concat();
        check_mode("fh replay --pipeline", g, &takes)?;
    } else {
        let takes = [SINGLE, ExportArgs::FLAGS].concat();
        check_mode("a single-thread fh replay (add --pipeline)", g, &takes)?;
    }
    let orders = in_range(
        "--orders",
        args.orders.unwrap_or(EngineConfig::default().orders),
        1,
        MAX_ORDERS,
    )?;
    let top = in_range("--top", args.top.unwrap_or(5), 0, 100_000)?;
    let depth = in_range("--depth", args.depth.unwrap_or(5), 0, 1000)?;
    args.latency.check()?;
    args.wire.check()?;
    args.shm.check()?;
    let order_bytes = fh_feed::engine::orders::OrderStore::memory_for(orders);
    fh_feed::pipeline::output::check_memory(
        &[(format!("--orders {orders}"), order_bytes as u64)],
        None,
    )?;
    let mut paths: Vec<NamedPath> = files
        .iter()
        .map(|f| NamedPath::new("the capture being replayed", f, Role::Input))
        .collect();
    if let Some(p) = &args.bbo_csv {
        paths.push(NamedPath::new("--bbo-csv", p, Role::File));
    }
    paths.extend(args.latency.outputs());
    paths.extend(args.report.outputs());
    paths.extend(args.export.outputs());
    paths.extend(args.pipe.wasm.paths());
    fh_feed::pipeline::output::check_paths(&paths)?;
    let bbo_epoch = match args.bbo_ts.as_deref() {
        None | Some("native") => false,
        Some("epoch") => true,
        Some(x) => return Err(CliError::new(format!("--bbo-ts {x}: native or epoch"))),
    };
    if args.bbo_ts.is_some() && args.pipeline {
        return Err(CliError::new(
            "--bbo-ts: for the single-thread replay (the bbo-csv strategy writes native times)",
        ));
    }
    if args.bbo_ts.is_some() && args.bbo_csv.is_none() {
        return Err(CliError::new("--bbo-ts: only with --bbo-csv"));
    }
    let mut export_args = (*args.export).clone();
    let bbo_native = if bbo_epoch {
        export_args.bbo_csv_epoch = args.bbo_csv.clone();
        None
    } else {
        args.bbo_csv.clone()
    };
    let export = export_args.config(depth, &files)?;
    let pacing = match (args.wire.speed, args.step) {
        (Some(x), None) => Pacing::Speed(x),
        (None, Some(ns)) => Pacing::Step { every_ns: ns },
        (None, None) => Pacing::AsFast,
        (Some(_), Some(_)) => return Err(CliError::new("--step: not available with --speed")),
    };
    let bar = super::progress_bar(1000);
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
        .report_books(top, depth)
        .stop_on(StopOn::Signals)
        .progress(progress(bar.clone()));
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
        p = p.bbo_csv(bbo_native);
        if let Some(cfg) = export {
            p = p.recorder(Box::new(fh_export::Exporter::new(cfg)?));
        }
    }
    p = args.shm.add(p)?;
    let out = p.run();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let out = out?;
    args.pipe.wasm.write_signals()?;
    args.report.emit(&out.report, "")?;
    Ok(super::ending(&out.report, !args.symbols.is_empty()))
}

/// `fh replay --decode-only`: frames, framing and message views only.
fn decode_only(path: &Path) -> Run {
    let cap = fh_replay::capture::Capture::open(path).map_err(CliError::new)?;
    fh_feed::live::signal::install();
    let bar = super::progress_bar(1000);
    let d =
        fh_feed::pipeline::replay::decode_only(&cap, fh_feed::live::signal::flag(), progress(bar))?;
    let types: Vec<String> = d
        .types
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(t, n)| match t as u8 {
            c if c.is_ascii_graphic() => format!("{}={n}", c as char),
            _ => format!("0x{t:02x}={n}"),
        })
        .collect();
    let rss = fh_feed::pipeline::peak_rss_bytes();
    super::print(&format!(
        "fh replay --decode-only {}\nrecords: {}, messages: {}, malformed: {}\nmessages by type: {}\n{}\n",
        cap.path().display(),
        d.records,
        d.messages,
        d.malformed,
        types.join(" "),
        report::speed_line(d.messages, d.elapsed_s, d.cpu_s, rss)
    ))?;
    if d.interrupted {
        return Ok(Ending::Interrupted);
    }
    let mut p = Vec::new();
    if d.truncated {
        p.push("the capture is cut off inside its last record".to_string());
    }
    if d.malformed > 0 {
        p.push(format!("{} malformed packets or messages", d.malformed));
    }
    Ok(Ending::of(&path.display().to_string(), p))
}

/// `fh replay --to`: the capture's UDP payloads onto the wire, with a progress bar and a clean
/// stop on Ctrl-C.
fn wire(path: &Path, w: &WireArgs) -> Run {
    use fh_replay::{capture::Capture, frame, wire};
    w.check()?;
    let cfg = w.config().ok_or_else(|| CliError::new("--to: missing"))?;
    cfg.validate().map_err(CliError::new)?;
    let cap = Capture::open(path).map_err(CliError::new)?;
    let (mut datagrams, mut skipped, mut truncated_at) = (0u64, 0u64, None);
    for r in cap.records().map_err(CliError::new)? {
        match r {
            Ok(r) if frame::udp_payload(r.link, r.data).is_ok() => datagrams += 1,
            Ok(_) => skipped += 1,
            Err(e) if e.is_truncation() => truncated_at = Some(e.offset),
            Err(e) => return Err(CliError::new(e)),
        }
    }
    if datagrams == 0 {
        let name = path.display();
        return Err(CliError::new(format!("{name}: no UDP datagram to send")));
    }
    fh_feed::live::signal::install();
    let stop = fh_feed::live::signal::flag();
    let bar = super::progress_bar(datagrams * u64::from(cfg.loops));
    let mut rep = wire::send_datagrams(&cfg, || {
        let recs = cap.records().map_err(|e| wire::WireError(e.to_string()))?;
        let bar = bar.clone();
        Ok(recs
            .map_while(Result::ok)
            .filter_map(|r| {
                let d = frame::udp_payload(r.link, r.data).ok()?;
                let (ts_ns, dst, payload) = (r.ts_ns, d.dst, d.payload);
                Some(wire::WireDatagram {
                    ts_ns,
                    dst,
                    payload,
                })
            })
            .take_while(|_| !stop.load(Ordering::Relaxed))
            .inspect(move |_| {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }))
    })
    .map_err(CliError::new)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    (rep.skipped_frames, rep.truncated_at) = (skipped, truncated_at);
    super::print(&format!("{rep}\n"))?;
    if stop.load(Ordering::Relaxed) {
        return Ok(Ending::Interrupted);
    }
    let cut = truncated_at.map(|o| format!("the capture is cut off at byte {o}"));
    Ok(Ending::of(
        &path.display().to_string(),
        cut.into_iter().collect(),
    ))
}
