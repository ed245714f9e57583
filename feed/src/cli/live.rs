//! `fh live`: receive a multicast feed, decode it with the engine, publish book updates to a
//! strategy through the publication ring, report.
//!
//! ```text
//!  fh-rx (--cpu 1st)        RxAgent: recvmmsg straight into rx-ring slots
//!        │ rx ring ─────────────────────────────────┐
//!  fh-engine (--cpu 2nd)    EngineAgent: Engine::on_datagram in place ──► publication ring
//!  fh-strategy (--cpu 3rd)  StrategyAgent<LiveStrategy>: latency, digest ◄──┘
//!  fh-capture (--capture)   second rx-ring reader: ns pcap, off the hot threads
//!  main thread              stats line every --stats-every, silence reports, latency intervals;
//!                           stops on Ctrl-C, --duration, --packets, --until-quiet
//! ```
//!
//! Every thread is an agent (`crate::agent`) run with the `--idle` strategy. Shutdown is
//! ordered: the receiver stops first, the engine drains the rx ring, the strategy drains the
//! publication ring, the capture writer drains its reader; then the final report (counters,
//! sequencing, `digest:` with `--digest`, the latency table) is printed. With `--floor` only
//! a minimal receive loop runs (the benchmark's floor).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::agent::{
    self, AgentHandle, Backoff, BusySpin, Idle, MonotonicClock, SpinYield, ThreadConfig,
};
use crate::engine::{Engine, EngineConfig};
use crate::latency::{LatencyRun, Stage};
use crate::live::pipeline::{EngineAgent, FloorAgent, LiveStrategy, SeqCounters, SharedSeq};
use crate::live::{self, GroupSpec, LiveConfig, RxAgent, RxConsumer, RxCounters};
use crate::ring::{self, Policy, RingConfig, RingMonitor};
use crate::strategy::StrategyAgent;
use crate::update::BookUpdate;

use super::{CliError, CliResult, LatencyArgs};

/// Feed protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Nasdaq TotalView-ITCH 5.0 over MoldUDP64.
    #[default]
    Itch,
    /// IEX DEEP or TOPS over IEX-TP.
    Iex,
}

/// What a thread does when it finds nothing to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IdleKind {
    /// Busy-spin: lowest latency, burns its core.
    Spin,
    /// Spin a little, then yield the core.
    Yield,
    /// Spin, yield, then park with a growing timeout (shared cores, tests).
    #[default]
    Backoff,
}

/// Arguments of `fh live`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Feed protocol.
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// Multicast GROUP:PORT to join (repeatable).
    #[arg(long = "group", value_name = "G:PORT", required = true)]
    pub groups: Vec<SocketAddrV4>,
    /// Source address: join source-specific (SSM) instead of any-source.
    #[arg(long, value_name = "ADDR")]
    pub source: Option<Ipv4Addr>,
    /// Local interface address to join on (default: the route decides).
    #[arg(long, value_name = "ADDR")]
    pub iface: Option<Ipv4Addr>,
    /// Cores to pin to, in order: receive agent, engine, strategy (repeatable).
    #[arg(long = "cpu", value_name = "N")]
    pub cpus: Vec<usize>,
    /// Idle strategy of the agent threads.
    #[arg(long, value_enum, default_value = "backoff")]
    pub idle: IdleKind,
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
    /// Receive buffer to ask for, bytes (the granted size is reported).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub rcvbuf: usize,
    /// A group silent for longer than S seconds after its first datagram is reported.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub heartbeat: f64,
    /// Stop once N datagrams have been received.
    #[arg(long, value_name = "N")]
    pub packets: Option<u64>,
    /// Stop once nothing has arrived for S seconds after the first datagram.
    #[arg(long, value_name = "S")]
    pub until_quiet: Option<f64>,
    /// Receive-ring slots.
    #[arg(long, value_name = "N", default_value_t = 1 << 14)]
    pub slots: usize,
    /// Latency outputs (table always; --hgrm, --hlog, --plot on demand).
    #[command(flatten)]
    pub latency: LatencyArgs,
    /// Benchmark floor: only a minimal receive loop (one datagram per `recvmmsg`, busy-poll,
    /// no engine), reporting kernel timestamp → receive return latency.
    #[arg(long)]
    pub floor: bool,
}

/// Latency percentiles, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Worst.
    pub max: u64,
}

impl LatencySummary {
    /// The percentiles of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        LatencySummary {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The final figures of a `fh live` run.
#[derive(Clone, Debug, Default)]
pub struct LiveReport {
    /// Receive counters.
    pub rx: RxCounters,
    /// Datagrams per group, in `--group` order.
    pub group_packets: Vec<u64>,
    /// Receive buffer granted per group, bytes.
    pub rcvbuf_granted: Vec<usize>,
    /// Datagrams the engine (or the floor loop) processed.
    pub processed: u64,
    /// The engine's decoding and sequencing counters.
    pub seq: SeqCounters,
    /// Digest of the book updates, as `fh replay --digest` computes it.
    pub digest: u64,
    /// Times a group went silent for longer than `--heartbeat`.
    pub silences: u64,
    /// Datagrams written to `--capture`.
    pub captured: u64,
    /// Updates the strategy lost to the publication ring (0: the ring is no-loss).
    pub missed_updates: u64,
    /// Run time.
    pub elapsed: Duration,
    /// What [`LiveReport::latency`] measures.
    pub latency_label: &'static str,
    /// Latency from the kernel's receive timestamp to the measured point.
    pub latency: LatencySummary,
}

/// Runs `fh live`.
pub fn run(args: Args) -> CliResult {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_to(&args, &mut out).map(|_| ())
}

fn secs(what: &str, s: f64) -> Result<Duration, CliError> {
    if s.is_finite() && s >= 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(CliError::new(format!(
            "{what} {s}: must be a non-negative number of seconds"
        )))
    }
}

/// Runs `fh live` writing its lines to `out`, and returns the final figures.
pub fn run_to(args: &Args, out: &mut dyn Write) -> Result<LiveReport, CliError> {
    let duration = args.duration.map(|s| secs("--duration", s)).transpose()?;
    let until_quiet = args
        .until_quiet
        .map(|s| secs("--until-quiet", s))
        .transpose()?;
    let stats_every = secs("--stats-every", args.stats_every)?;
    let heartbeat = secs("--heartbeat", args.heartbeat)?;
    let cfg = LiveConfig {
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
        batch: if args.floor { 1 } else { 64 },
        ..LiveConfig::default()
    };
    // Calibrate the clock before joining: nothing queues in the sockets meanwhile.
    let mut lat = LatencyRun::start(&args.latency.config())?;
    let clock = lat.clock();
    let readers = 1 + usize::from(args.capture.is_some());
    let (agent, mut cons) = live::open(&cfg, readers).map_err(CliError::new)?;
    let w = |e: std::io::Error| CliError::new(format!("fh live: stdout: {e}"));
    for s in agent.sockets() {
        writeln!(
            out,
            "joined {} on {}: SO_RCVBUF granted {} bytes{}",
            s.spec,
            cfg.iface,
            s.rcvbuf_granted,
            if s.rcvbuf_forced { " (forced)" } else { "" }
        )
        .map_err(w)?;
    }
    let capture = match &args.capture {
        Some(path) => Some(capture::Writer::create(
            path,
            cons.pop().expect("capture reader"),
            args.groups.clone(),
        )?),
        None => None,
    };
    let engine_reader = cons.pop().expect("engine reader");
    let stats = agent.stats();
    let mut report = LiveReport {
        rcvbuf_granted: agent.sockets().iter().map(|s| s.rcvbuf_granted).collect(),
        ..LiveReport::default()
    };
    let readers_stop = Arc::new(AtomicBool::new(false));
    let rec = |lat: &mut LatencyRun| lat.enabled().then(|| lat.recorder());
    let thread = |name: &str, k: usize, idle: Idle| ThreadConfig {
        name: Some(name.to_string()),
        core: args.cpus.get(k).copied(),
        idle,
    };
    let idle = match args.idle {
        IdleKind::Spin => Idle::BusySpin(BusySpin),
        IdleKind::Yield => Idle::SpinYield(SpinYield::default()),
        IdleKind::Backoff => Idle::Backoff(Backoff::default()),
    };
    let mono = MonotonicClock::new();
    let ag = |e: std::io::Error| CliError::new(format!("fh live: starting a thread: {e}"));

    live::signal::install();
    enum Running {
        Floor(AgentHandle<FloorAgent>, Arc<AtomicU64>),
        Full {
            rx: AgentHandle<RxAgent>,
            engine: AgentHandle<EngineAgent>,
            strategy: AgentHandle<StrategyAgent<LiveStrategy>>,
            upstream_done: Arc<AtomicBool>,
            shared: Arc<SharedSeq>,
            monitor: RingMonitor<BookUpdate>,
        },
    }
    let running = if args.floor {
        let f = FloorAgent::new(agent, engine_reader, clock, rec(&mut lat));
        let processed = f.processed();
        let h = agent::spawn(f, thread("fh-rx-floor", 0, Idle::BusySpin(BusySpin)), mono)
            .map_err(ag)?;
        Running::Floor(h, processed)
    } else {
        let (producer, mut consumers) =
            ring::ring::<BookUpdate>(RingConfig::new(1 << 16, 1, Policy::NoLoss))
                .map_err(|e| CliError::new(format!("fh live: publication ring: {e:?}")))?;
        let monitor = producer.monitor();
        let strat = StrategyAgent::new(
            "fh-strategy",
            consumers.pop().expect("one consumer"),
            LiveStrategy::new(clock, rec(&mut lat)),
        );
        let eng = EngineAgent::new(
            engine_reader,
            Engine::new(&EngineConfig::default()),
            producer,
            clock,
            rec(&mut lat),
        );
        let (shared, upstream_done) = (eng.shared(), eng.upstream_done());
        let strategy = agent::spawn(strat, thread("fh-strategy", 2, idle), mono).map_err(ag)?;
        let engine = agent::spawn(eng, thread("fh-engine", 1, idle), mono).map_err(ag)?;
        let rx = agent::spawn(agent, thread("fh-rx", 0, idle), mono).map_err(ag)?;
        Running::Full {
            rx,
            engine,
            strategy,
            upstream_done,
            shared,
            monitor,
        }
    };
    let cap = match capture {
        Some(c) => {
            let stop = readers_stop.clone();
            Some(spawn("fh-capture", move || c.run(&stop))?)
        }
        None => None,
    };
    let progress = || match &running {
        Running::Floor(_, p) => (p.load(Ordering::Relaxed), SeqCounters::default(), 0),
        Running::Full {
            shared, monitor, ..
        } => {
            let q = shared.load();
            let published = monitor.producer_stats().published;
            let read = monitor.consumer_stats(0).map_or(published, |c| c.cursor);
            (q.datagrams, q, published.saturating_sub(read))
        }
    };

    let t0 = Instant::now();
    let mut last = (t0, RxCounters::default(), SeqCounters::default());
    let mut silent_now: Vec<bool> = vec![false; cfg.groups.len()];
    let mut next_stats = t0 + stats_every;
    let mut last_arrival = (0u64, t0);
    loop {
        std::thread::sleep(Duration::from_millis(10));
        lat.poll()?;
        let now = Instant::now();
        let s = stats.snapshot();
        if s.packets != last_arrival.0 {
            last_arrival = (s.packets, now);
        }
        let mut silent = vec![false; silent_now.len()];
        for g in stats.silent_groups(live::realtime_ns(), heartbeat.as_nanos() as u64) {
            silent[g] = true;
        }
        for (g, (&was, &is)) in silent_now.iter().zip(&silent).enumerate() {
            if is && !was {
                report.silences += 1;
                writeln!(
                    out,
                    "silence: group {} quiet for more than {:.1} s",
                    cfg.groups[g], args.heartbeat
                )
                .map_err(w)?;
            }
        }
        silent_now = silent;
        if !stats_every.is_zero() && now >= next_stats {
            next_stats += stats_every;
            let (p, q, pub_lag) = progress();
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            writeln!(
                out,
                "t={:.1}s packets/s {:.0} messages/s {:.0} gaps {} duplicates {} reordered {} kernel-drops {} rx-ring-lag {} pub-ring-lag {} silent {}",
                now.duration_since(t0).as_secs_f64(),
                (s.packets - last.1.packets) as f64 / dt,
                (q.messages - last.2.messages) as f64 / dt,
                q.gaps,
                q.duplicate_packets,
                q.reordered,
                s.kernel_drops,
                s.packets.saturating_sub(p),
                pub_lag,
                silent_now.iter().filter(|&&x| x).count(),
            )
            .map_err(w)?;
            last = (now, s, q);
        }
        let done = live::signal::requested()
            || duration.is_some_and(|d| now.duration_since(t0) >= d)
            || args.packets.is_some_and(|n| s.packets >= n)
            || until_quiet
                .is_some_and(|q| s.packets > 0 && now.duration_since(last_arrival.1) >= q);
        if done {
            break;
        }
    }
    let joined = |e: String| CliError::new(format!("fh live: {e}"));
    let mut lasts = Vec::new();
    let (agent, stage) = match running {
        Running::Floor(h, processed) => {
            let (agent, r) = h.stop_and_join().map_err(joined)?.finish();
            report.processed = processed.load(Ordering::Relaxed);
            lasts.extend(r);
            report.latency_label = "kernel receive -> recvmmsg return (floor)";
            (agent, Stage::Receive)
        }
        Running::Full {
            rx,
            engine,
            strategy,
            upstream_done,
            ..
        } => {
            // Receiver first; the engine drains the rx ring, then the strategy the
            // publication ring (it is done once the engine's producer is dropped).
            let agent = rx.stop_and_join().map_err(joined)?;
            upstream_done.store(true, Ordering::Release);
            let (seq, r) = engine.join().map_err(joined)?.finish();
            lasts.extend(r);
            let (digest, missed, r) = strategy.join().map_err(joined)?.into_strategy().finish();
            lasts.extend(r);
            report.processed = seq.datagrams;
            report.seq = seq;
            report.digest = digest.value();
            report.missed_updates = missed;
            report.latency_label = "kernel receive -> strategy";
            (agent, Stage::EndToEnd)
        }
    };
    readers_stop.store(true, Ordering::Release);
    if let Some(c) = cap {
        report.captured = join(c)??;
    }
    report.elapsed = t0.elapsed();
    report.rx = agent.stats().snapshot();
    report.group_packets = agent.stats().group_packets();
    write_report(out, &report).map_err(w)?;
    if args.digest {
        writeln!(out, "digest: {:016x}", report.digest).map_err(w)?;
    }
    let title = format!(
        "fh live {}",
        args.groups
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if lat.enabled() {
        let total = lat.finish(lasts, &title, out)?;
        report.latency = LatencySummary::of(total.histogram(stage));
        let l = &report.latency;
        writeln!(
            out,
            "latency {}, ns: count {} p50 {} p99 {} p99.9 {} max {}",
            report.latency_label, l.count, l.p50, l.p99, l.p999, l.max
        )
        .map_err(w)?;
    }
    Ok(report)
}

fn write_report(out: &mut dyn Write, r: &LiveReport) -> std::io::Result<()> {
    let s = r.elapsed.as_secs_f64().max(1e-9);
    writeln!(
        out,
        "received {} packets ({} bytes) in {:.3} s ({:.0} packets/s); processed {}; kernel drops {}; truncated {}; ring full {}; socket errors {}; silences {}; captured {}",
        r.rx.packets,
        r.rx.bytes,
        s,
        r.rx.packets as f64 / s,
        r.processed,
        r.rx.kernel_drops,
        r.rx.truncated,
        r.rx.ring_full,
        r.rx.errors,
        r.silences,
        r.captured
    )?;
    writeln!(out, "packets per group: {:?}", r.group_packets)?;
    let q = &r.seq;
    writeln!(
        out,
        "sequencing: messages {} updates {} gaps {} gap-messages {} duplicates {} reordered {} session-changes {} end-of-session {} heartbeats {} malformed {} stale-updates {}",
        q.messages,
        q.updates,
        q.gaps,
        q.gap_messages,
        q.duplicate_packets,
        q.reordered,
        q.session_changes,
        q.end_of_session,
        q.heartbeats,
        q.malformed,
        q.stale_updates
    )
}

type Job<T> = std::thread::JoinHandle<T>;

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<Job<T>, CliError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| CliError::new(format!("fh live: thread {name}: {e}")))
}

fn join<T>(j: Job<T>) -> Result<T, CliError> {
    let name = j.thread().name().unwrap_or("?").to_string();
    j.join()
        .map_err(|_| CliError::new(format!("fh live: thread {name} panicked")))
}

mod capture {
    //! `--capture`: a reader of the receive ring, on its own thread, that writes every datagram
    //! as an Ethernet/IPv4/UDP frame (sender's address, joined group) with the kernel's receive
    //! timestamp to a nanosecond pcap. It holds the ring back only when it falls a whole ring
    //! behind; the receive thread never writes files.
    use super::*;
    use fh_replay::frame::LinkType;
    use fh_replay::writer::{PcapWriter, TsPrecision, UdpFrame};
    use std::fs::File;
    use std::io::BufWriter;

    pub(super) struct Writer {
        path: PathBuf,
        reader: RxConsumer,
        groups: Vec<SocketAddrV4>,
        pcap: PcapWriter<BufWriter<File>>,
    }

    impl Writer {
        pub(super) fn create(
            path: &std::path::Path,
            reader: RxConsumer,
            groups: Vec<SocketAddrV4>,
        ) -> Result<Self, CliError> {
            let e = |e: std::io::Error| CliError::new(format!("{}: {e}", path.display()));
            let f = File::create(path).map_err(e)?;
            let pcap = PcapWriter::new(
                BufWriter::with_capacity(1 << 20, f),
                LinkType::Ethernet,
                TsPrecision::Nano,
            )
            .map_err(e)?;
            Ok(Writer {
                path: path.to_path_buf(),
                reader,
                groups,
                pcap,
            })
        }

        /// Writes until `stop` and the ring is drained; returns the datagrams written.
        pub(super) fn run(mut self, stop: &AtomicBool) -> Result<u64, CliError> {
            let e = |p: &PathBuf, e: std::io::Error| CliError::new(format!("{}: {e}", p.display()));
            let mut frame = Vec::with_capacity(70_000);
            let mut n = 0u64;
            loop {
                let stopping = stop.load(Ordering::Acquire);
                let b = self.reader.poll(1024);
                for p in b.iter() {
                    let dst = self.groups[p.meta.group as usize];
                    let mut f = UdpFrame::new(p.meta.src, dst);
                    f.ttl = 0;
                    f.build_into(p.bytes, &mut frame)
                        .map_err(|x| e(&self.path, x))?;
                    self.pcap
                        .write_packet(p.meta.kernel_ns, &frame)
                        .map_err(|x| e(&self.path, x))?;
                    n += 1;
                }
                let k = b.len();
                drop(b);
                if k == 0 {
                    if stopping {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            let mut w = self.pcap.finish().map_err(|x| e(&self.path, x))?;
            w.flush().map_err(|x| e(&self.path, x))?;
            Ok(n)
        }
    }
}
