//! `fh live`: receive a multicast feed through the pipeline (`fh_feed::pipeline::live`) with
//! built-in strategies, print stats lines while it runs and the report at the end.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use super::export_args::ExportArgs;
use super::pipeline_args::{PipelineArgs, ReportArgs};
use super::{check_mode, in_range, CliError, LatencyArgs, Run};
use fh_feed::live::recovery::{RecoveryConfig, MAX_LINES};
use fh_feed::live::{GroupSpec, LiveConfig};
use fh_feed::pipeline::live::{run_with_events, LiveEvent, LiveSource, Protocol};
use fh_feed::pipeline::output::{NamedPath, Role};
use fh_feed::pipeline::{Pipeline, RunReport, StopOn, Threading};

/// Feed protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Nasdaq TotalView-ITCH 5.0 over MoldUDP64.
    #[default]
    Itch,
    /// IEX DEEP or TOPS over IEX-TP.
    Iex,
}

/// Arguments of `fh live`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Feed protocol: the decoder; datagrams of the other protocol are counted as foreign.
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// Multicast GROUP:PORT to join (repeatable).
    #[arg(long = "group", value_name = "G:PORT", required = true)]
    pub groups: Vec<SocketAddrV4>,
    /// Source address: join source-specific (SSM) instead of any-source.
    #[arg(long, value_name = "ADDR")]
    pub source: Option<Ipv4Addr>,
    /// Local interface address to join on (default: the route decides).
    #[arg(long, value_name = "ADDR")]
    pub iface: Option<Ipv4Addr>,
    /// Stop after S seconds.
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// Print a stats line every S seconds (0: never).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub stats_every: f64,
    /// Also write every datagram received to this nanosecond pcap (off the hot thread).
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
    /// Print `digest: <hex>` of the book updates, as `fh replay --digest` does.
    #[arg(long)]
    pub digest: bool,
    /// Write every BBO change as CSV (runs the bbo-csv strategy).
    #[arg(long, value_name = "FILE")]
    pub bbo_csv: Option<PathBuf>,
    /// Keep books only for this symbol (repeatable).
    #[arg(long = "symbol", value_name = "S")]
    pub symbols: Vec<String>,
    /// Receive buffer to ask for, bytes (the granted size is reported; 4096 to 1073741823).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub rcvbuf: usize,
    /// A group silent for longer than S seconds after its first datagram is reported.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub heartbeat: f64,
    /// Stop once N datagrams have been received.
    #[arg(long, value_name = "N")]
    pub packets: Option<u64>,
    /// Levels a side of the book snapshots (`--snapshot-every`; 1 to 1000, default 5).
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// Stop once nothing has arrived for S seconds after the first datagram.
    #[arg(long, value_name = "S")]
    pub until_quiet: Option<f64>,
    /// Receive-ring slots (a power of two from 2 to 1 048 576, 2 KiB each, within the memory
    /// available).
    #[arg(long, value_name = "N", default_value_t = 1 << 14)]
    pub slots: usize,
    /// Strategies (default: digest), ring and threading.
    #[command(flatten)]
    pub pipe: PipelineArgs,
    /// Latency outputs (table always; --hgrm, --hlog, --plot on demand).
    #[command(flatten)]
    pub latency: LatencyArgs,
    /// Benchmark floor: only a minimal receive loop (one datagram per `recvmmsg`, busy-poll,
    /// no engine), reporting kernel timestamp → receive return latency; pinned with `--cpu`.
    #[arg(long)]
    pub floor: bool,
    /// Recovery: wait this long (µs) after a sequence gap opens on every line before asking a
    /// request server (without one, the gap is given up after it); 0 to 10000000. Any
    /// recovery flag, or two groups or more, puts the A/B arbiter in front of the engine.
    #[arg(long, value_name = "US")]
    pub gap_wait_us: Option<u64>,
    /// Request server HOST:PORT (repeatable: requests are spread over them): MoldUDP64
    /// re-requests for ITCH, IEX-TP gap-fill requests (UDP, type 1) for IEX.
    #[arg(long = "rerequest", value_name = "HOST:PORT")]
    pub rerequest: Vec<SocketAddrV4>,
    /// Give up a gap still open after this many ms (1 to 3600000; default 2000).
    #[arg(long, value_name = "MS")]
    pub gap_timeout_ms: Option<u64>,
    /// Packets held while a gap is open (16 to 4194304; default 65536; 1 KiB of buffer each).
    #[arg(long, value_name = "N")]
    pub hold_packets: Option<usize>,
    /// SoupBinTCP snapshot server HOST:PORT: load the books from it at start-up (late join)
    /// and after a gap that could not be filled.
    #[arg(long, value_name = "HOST:PORT")]
    pub snapshot: Option<SocketAddrV4>,
    /// Report output.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Shared-memory publication (--shm NAME).
    #[command(flatten)]
    pub shm: super::shm::ShmArgs,
    /// Research outputs recorded from the feed: DBN, snapshots (`--depth` levels a side, default 5), trade tape
    /// (written on the engine thread, ahead of the strategies' ring).
    #[command(flatten)]
    pub export: Box<super::export_args::ExportArgs>,
    /// The flags given on the command line (filled in by `main`).
    #[arg(skip)]
    pub given: Vec<String>,
}

/// What `fh live --floor` takes (it only receives).
#[rustfmt::skip]
const FLOOR: &[&str] = &[
    "--floor", "--protocol", "--group", "--source", "--iface", "--duration", "--stats-every",
    "--capture", "--rcvbuf", "--heartbeat", "--packets", "--until-quiet", "--slots", "--cpu",
    "--hgrm", "--hlog", "--interval", "--plot", "--no-latency", "--report-json",
];

/// What `fh live` takes besides [`FLOOR`]'s and the pipeline's.
const ENGINE: &[&str] = &[
    "--digest",
    "--bbo-csv",
    "--symbol",
    "--gap-wait-us",
    "--rerequest",
    "--gap-timeout-ms",
    "--hold-packets",
    "--snapshot",
    "--depth",
    "--shm",
    "--shm-wait",
    "--shm-buffer",
];

/// Levels a side of `fh live`'s snapshots (`--snapshot-every`) without `--depth`.
pub const SNAPSHOT_DEPTH: usize = 5;

/// Longest `--duration`, `--until-quiet`, `--heartbeat` or `--stats-every`: 30 days.
pub const MAX_SECONDS: f64 = 30.0 * 86_400.0;

fn secs(what: &str, s: f64) -> Result<Duration, CliError> {
    if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(CliError::new(format!(
            "{what} {s}: must be from 0 to {MAX_SECONDS} seconds"
        )))
    }
}

/// Runs `fh live`.
pub fn run(args: Args) -> Run {
    let r = run_live(&args)?;
    args.report.emit(&r, &summary_line(&r))?;
    Ok(super::ending(&r, !args.symbols.is_empty()))
}

/// The closing line: kernel receive → the first strategy (or the floor's receive), ns.
fn summary_line(r: &RunReport) -> String {
    let Some(l) = &r.latency else {
        return String::new();
    };
    let (stage, label) = match r.strategies.first() {
        Some(s) if !r.live.as_ref().is_some_and(|l| l.floor) => (
            fh_feed::latency::stage_tag(fh_feed::latency::Stage::EndToEnd, Some(&s.name)),
            "kernel receive -> strategy",
        ),
        _ => (
            "receive".to_string(),
            "kernel receive -> recvmmsg return (floor)",
        ),
    };
    match l.stages.iter().find(|s| s.name == stage) {
        Some(s) => format!(
            "latency {label}, ns: count {} p50 {} p99 {} p99.9 {} max {}\n",
            s.count,
            s.quantile(0.5).unwrap_or(0),
            s.quantile(0.99).unwrap_or(0),
            s.quantile(0.999).unwrap_or(0),
            s.max
        ),
        None => String::new(),
    }
}

/// The recovery settings: on with two groups or more, or any recovery flag.
fn recovery_config(args: &Args) -> Result<Option<RecoveryConfig>, CliError> {
    let asked = args.gap_wait_us.is_some()
        || !args.rerequest.is_empty()
        || args.gap_timeout_ms.is_some()
        || args.hold_packets.is_some()
        || args.snapshot.is_some();
    if !asked && args.groups.len() < 2 {
        return Ok(None);
    }
    if args.groups.len() > MAX_LINES {
        return Err(CliError::new(format!(
            "--group: at most {MAX_LINES} groups can be arbitrated"
        )));
    }
    if args.protocol == ProtocolArg::Iex && args.snapshot.is_some() {
        return Err(CliError::new(
            "--snapshot: ITCH only (IEX-TP gets A/B arbitration and gap-fill requests)",
        ));
    }
    if args.rerequest.len() > 255 {
        return Err(CliError::new("--rerequest: at most 255 servers"));
    }
    let mut c = RecoveryConfig {
        servers: args.rerequest.clone(),
        snapshot: args.snapshot,
        ..RecoveryConfig::default()
    };
    if let Some(us) = args.gap_wait_us {
        c.gap_wait_ns = in_range("--gap-wait-us", us, 0, 10_000_000)? * 1000;
    }
    if let Some(ms) = args.gap_timeout_ms {
        c.gap_timeout_ns = in_range("--gap-timeout-ms", ms, 1, 3_600_000)? * 1_000_000;
    }
    if let Some(n) = args.hold_packets {
        c.hold_packets = in_range("--hold-packets", n, 16, 1 << 22)?;
        c.hold_bytes = c.hold_packets * 1024;
    }
    fh_feed::pipeline::output::check_memory(
        &[(
            format!("--hold-packets {}", c.hold_packets),
            c.hold_bytes as u64,
        )],
        None,
    )?;
    Ok(Some(c))
}

/// Runs `fh live` printing its progress lines (a closed stdout ends them quietly), and
/// returns the report.
pub fn run_live(args: &Args) -> Result<RunReport, CliError> {
    if args.floor {
        check_mode("fh live --floor (it only receives)", &args.given, FLOOR)?;
        if args.pipe.cpus.len() > 1 {
            let c = args.pipe.cpus[1];
            return Err(CliError::new(format!(
                "--cpu {c}: the floor has one thread"
            )));
        }
    } else {
        let takes = [FLOOR, ENGINE, PipelineArgs::FLAGS, ExportArgs::FLAGS].concat();
        check_mode("fh live", &args.given, &takes[1..])?;
    }
    if !args.slots.is_power_of_two() || !(2..=1 << 20).contains(&args.slots) {
        return Err(CliError::new(format!(
            "--slots {}: must be a power of two from 2 to 1048576",
            args.slots
        )));
    }
    let slot_bytes = (args.slots * LiveConfig::default().slot_size) as u64;
    fh_feed::pipeline::output::check_memory(
        &[(format!("--slots {}", args.slots), slot_bytes)],
        None,
    )?;
    in_range("--rcvbuf", args.rcvbuf, 4096, (i32::MAX / 2) as usize)?;
    if let Some(n) = args.packets {
        in_range("--packets", n, 1, u64::MAX)?;
    }
    args.latency.check()?;
    args.shm.check()?;
    let mut paths = args.latency.outputs();
    paths.extend(args.report.outputs());
    paths.extend(args.pipe.wasm.paths());
    paths.extend(args.export.outputs());
    for (flag, p) in [("--capture", &args.capture), ("--bbo-csv", &args.bbo_csv)] {
        if let Some(p) = p {
            paths.push(NamedPath::new(flag, p, Role::File));
        }
    }
    fh_feed::pipeline::output::check_paths(&paths)?;
    // No capture files: ITCH's session date is the flag's, or the date of the first receive time.
    if args.depth.is_some() && args.export.snapshot_every.is_none() {
        return Err(CliError::new(
            "--depth: only with --snapshot-every (the levels a side of the book snapshots)",
        ));
    }
    let depth = in_range("--depth", args.depth.unwrap_or(SNAPSHOT_DEPTH), 1, 1000)?;
    let export = args.export.config(depth, &[])?;
    let mut src = LiveSource::new(
        &args.groups,
        match args.protocol {
            ProtocolArg::Itch => Protocol::Itch,
            ProtocolArg::Iex => Protocol::Iex,
        },
    );
    src.config = LiveConfig {
        groups: args
            .groups
            .iter()
            .map(|&group| GroupSpec {
                group,
                source: args.source,
            })
            .collect(),
        iface: args.iface.unwrap_or(Ipv4Addr::UNSPECIFIED),
        rcvbuf: args.rcvbuf,
        slots: args.slots,
        ..LiveConfig::default()
    };
    src.duration = args.duration.map(|s| secs("--duration", s)).transpose()?;
    src.until_quiet = args
        .until_quiet
        .map(|s| secs("--until-quiet", s))
        .transpose()?;
    src.stats_every = secs("--stats-every", args.stats_every)?;
    src.heartbeat = secs("--heartbeat", args.heartbeat)?;
    src.packets = args.packets;
    src.capture = args.capture.clone();
    src.floor = args.floor;
    src.recovery = recovery_config(args)?.map(Box::new);
    let threading = args.pipe.threading();
    let cpus = &args.pipe.cpus;
    super::pipeline_args::check_cpus(cpus)?;
    let (engine_core, first_strategy_cpu) = match threading {
        Threading::Shared => (cpus.first().copied(), 1),
        Threading::Dedicated => {
            src.rx_core = cpus.first().copied();
            (cpus.get(1).copied(), 2)
        }
    };
    let mut p = Pipeline::live(src)
        .engine(fh_feed::engine::EngineConfig {
            symbol_filter: (!args.symbols.is_empty()).then(|| args.symbols.clone()),
            ..fh_feed::engine::EngineConfig::default()
        })
        .ring(args.pipe.ring()?)
        .threading(threading)
        .engine_core(engine_core)
        .latency(args.latency.config())
        .digest(args.digest)
        .stop_on(StopOn::Signals);
    if !args.floor {
        let mut names = args.pipe.names(&["digest"])?;
        if args.bbo_csv.is_some() && !names.iter().any(|n| n == "bbo-csv") {
            names.push("bbo-csv".to_string());
        }
        p = args
            .pipe
            .add_strategies(p, &names, first_strategy_cpu, args.bbo_csv.as_ref())?;
        p = args.shm.add(p)?;
        if let Some(cfg) = export {
            p = p.recorder(Box::new(fh_export::Exporter::new(cfg)?));
        }
    }
    let write = |line: String| {
        let _ = super::print(&format!("{line}\n"));
    };
    let outcome = run_with_events(p, &mut |e| {
        match e {
        LiveEvent::Joined {
            group,
            iface,
            rcvbuf,
            forced,
        } => write(format!(
            "joined {group} on {iface}: SO_RCVBUF granted {rcvbuf} bytes{}",
            if *forced { " (forced)" } else { "" }
        )),
        LiveEvent::Silence { group, heartbeat } => write(format!(
            "silence: group {group} quiet for more than {heartbeat:.1} s"
        )),
        LiveEvent::Stats {
            t,
            packets_per_s,
            messages_per_s,
            gaps,
            duplicates,
            reordered,
            kernel_drops,
            rx_ring_lag,
            pub_ring_lag,
            silent,
        } => write(format!(
            "t={t:.1}s packets/s {packets_per_s:.0} messages/s {messages_per_s:.0} gaps {gaps} duplicates {duplicates} reordered {reordered} kernel-drops {kernel_drops} rx-ring-lag {rx_ring_lag} pub-ring-lag {pub_ring_lag} silent {silent}"
        )),
    }
    })?;
    args.pipe.wasm.write_signals()?;
    Ok(outcome.report)
}
