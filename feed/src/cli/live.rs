//! `fh live`: receive a multicast feed, decode it with the engine, publish book updates, report.
//!
//! ```text
//!  rx thread      RxAgent: recvmmsg ──► rx ring ─┬─► engine thread: decode in place, sequence,
//!  (--cpu 1st)                                  │     books, publish (--cpu 2nd)
//!                                               └─► capture thread (--capture): ns pcap
//!  main thread    stats line every --stats-every; stops on Ctrl-C, --duration, --packets,
//!                 --until-quiet; then stops the receiver, lets the readers drain, joins, reports
//! ```
//!
//! Shutdown is ordered: the receive agent stops first, so everything it took from the kernel
//! reaches the engine and the capture file before the final report.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::engine::digest::Digest;
use crate::engine::seq::SeqStats;
use crate::engine::{DatagramMeta, Engine, EngineConfig, UpdateSink};
use crate::latency::{Clock, IntervalRecorder, LatencyArgs, LatencyRun, Stage};
use crate::live::{self, GroupSpec, LiveConfig, RxAgent, RxConsumer, RxCounters};
use crate::update::{flags, BookUpdate};

use super::{CliError, CliResult};

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

/// Decoding and sequencing counters of the engine thread (summed over MoldUDP64 and IEX-TP
/// streams), shared with the stats line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqCounters {
    /// Datagrams given to the engine.
    pub datagrams: u64,
    /// Messages decoded.
    pub messages: u64,
    /// Book updates published.
    pub updates: u64,
    /// Updates flagged stale (published while a gap was open).
    pub stale_updates: u64,
    /// Gap events.
    pub gaps: u64,
    /// Messages missing over all gaps.
    pub gap_messages: u64,
    /// Packets seen twice.
    pub duplicate_packets: u64,
    /// Packets that arrived after a later one (reordered), filling a gap.
    pub reordered: u64,
    /// Session changes.
    pub session_changes: u64,
    /// End-of-session indications.
    pub end_of_session: u64,
    /// Heartbeat packets.
    pub heartbeats: u64,
    /// Malformed packets and messages.
    pub malformed: u64,
}

const SEQ_FIELDS: usize = 12;

impl SeqCounters {
    fn of(e: &Engine, updates: u64, stale: u64) -> Self {
        let (a, b) = (&e.mold_seq.stats, &e.iex_seq.stats);
        let sum = |f: fn(&SeqStats) -> u64| f(a) + f(b);
        let st = &e.stats;
        SeqCounters {
            datagrams: st.datagrams,
            messages: st.itch_messages() + st.iex_messages(),
            updates,
            stale_updates: stale,
            gaps: sum(|s| s.gaps),
            gap_messages: sum(|s| s.gap_messages),
            duplicate_packets: sum(|s| s.duplicate_packets),
            reordered: sum(|s| s.out_of_order_packets),
            session_changes: sum(|s| s.session_changes),
            end_of_session: sum(|s| s.end_of_session),
            heartbeats: sum(|s| s.heartbeats),
            malformed: st.mold_malformed
                + st.iextp_malformed
                + st.itch_malformed
                + st.iex_malformed,
        }
    }

    fn to_array(self) -> [u64; SEQ_FIELDS] {
        [
            self.datagrams,
            self.messages,
            self.updates,
            self.stale_updates,
            self.gaps,
            self.gap_messages,
            self.duplicate_packets,
            self.reordered,
            self.session_changes,
            self.end_of_session,
            self.heartbeats,
            self.malformed,
        ]
    }

    fn from_array(a: [u64; SEQ_FIELDS]) -> Self {
        SeqCounters {
            datagrams: a[0],
            messages: a[1],
            updates: a[2],
            stale_updates: a[3],
            gaps: a[4],
            gap_messages: a[5],
            duplicate_packets: a[6],
            reordered: a[7],
            session_changes: a[8],
            end_of_session: a[9],
            heartbeats: a[10],
            malformed: a[11],
        }
    }
}

/// [`SeqCounters`] in atomics: written (`Relaxed`) by the engine thread after each batch.
#[derive(Debug, Default)]
struct SharedSeq([AtomicU64; SEQ_FIELDS]);

impl SharedSeq {
    fn store(&self, c: SeqCounters) {
        for (a, v) in self.0.iter().zip(c.to_array()) {
            a.store(v, Ordering::Relaxed);
        }
    }

    fn load(&self) -> SeqCounters {
        SeqCounters::from_array(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
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
    let mut lat = LatencyRun::start(&args.latency)?;
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

    let rec = |lat: &mut LatencyRun| lat.enabled().then(|| lat.recorder());
    let shared = Arc::new(SharedSeq::default());

    live::signal::install();
    let rx_stop = Arc::new(AtomicBool::new(false));
    let readers_stop = Arc::new(AtomicBool::new(false));
    let processed = Arc::new(AtomicU64::new(0));
    let idle = args.idle;
    let (rx, engine) = if args.floor {
        let r = rec(&mut lat);
        let rx = spawn("fh-rx-floor", args.cpus.first().copied(), {
            let stop = rx_stop.clone();
            let processed = processed.clone();
            move || floor_loop(agent, engine_reader, clock, r, &stop, &processed)
        })?;
        (rx, None)
    } else {
        let rx = spawn("fh-rx", args.cpus.first().copied(), {
            let stop = rx_stop.clone();
            move || (rx_loop(agent, idle, &stop), None)
        })?;
        let r = rec(&mut lat);
        let engine = Engine::new(&EngineConfig::default());
        let e = spawn("fh-engine", args.cpus.get(1).copied(), {
            let stop = readers_stop.clone();
            let processed = processed.clone();
            let shared = shared.clone();
            move || {
                engine_loop(
                    engine_reader,
                    engine,
                    clock,
                    r,
                    idle,
                    &stop,
                    &processed,
                    &shared,
                )
            }
        })?;
        (rx, Some(e))
    };
    let cap = match capture {
        Some(c) => {
            let stop = readers_stop.clone();
            Some(spawn("fh-capture", None, move || c.run(&stop))?)
        }
        None => None,
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
            let q = shared.load();
            let p = processed.load(Ordering::Relaxed);
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            writeln!(
                out,
                "t={:.1}s packets/s {:.0} messages/s {:.0} gaps {} duplicates {} reordered {} kernel-drops {} ring-lag {} silent {}",
                now.duration_since(t0).as_secs_f64(),
                (s.packets - last.1.packets) as f64 / dt,
                (q.messages - last.2.messages) as f64 / dt,
                q.gaps,
                q.duplicate_packets,
                q.reordered,
                s.kernel_drops,
                s.packets.saturating_sub(p),
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
    rx_stop.store(true, Ordering::Release);
    let (agent, floor_rec) = join(rx)?;
    readers_stop.store(true, Ordering::Release);
    let mut lasts = Vec::new();
    let stage = match engine {
        Some(e) => {
            let o = join(e)?;
            report.processed = o.processed;
            report.seq = o.seq;
            report.digest = o.digest;
            lasts.extend(o.last);
            report.latency_label = "kernel receive -> strategy";
            Stage::EndToEnd
        }
        None => {
            report.processed = processed.load(Ordering::Relaxed);
            lasts.extend(floor_rec);
            report.latency_label = "kernel receive -> recvmmsg return (floor)";
            Stage::Receive
        }
    };
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
    cpu: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<Job<T>, CliError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(c) = cpu {
                let _ = core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            f()
        })
        .map_err(|e| CliError::new(format!("fh live: thread {name}: {e}")))
}

fn join<T>(j: Job<T>) -> Result<T, CliError> {
    let name = j.thread().name().unwrap_or("?").to_string();
    j.join()
        .map_err(|_| CliError::new(format!("fh live: thread {name} panicked")))
}

/// A small idle strategy until the agent runner is used.
fn idle(kind: IdleKind, misses: &mut u32, work: usize) {
    if work > 0 {
        *misses = 0;
        return;
    }
    *misses = misses.saturating_add(1);
    match kind {
        IdleKind::Spin => std::hint::spin_loop(),
        IdleKind::Yield => std::thread::yield_now(),
        IdleKind::Backoff => {
            if *misses < 100 {
                std::hint::spin_loop()
            } else if *misses < 200 {
                std::thread::yield_now()
            } else {
                std::thread::sleep(Duration::from_micros(
                    ((*misses - 200).min(10) as u64 + 1) * 50,
                ))
            }
        }
    }
}

fn rx_loop(mut agent: RxAgent, kind: IdleKind, stop: &AtomicBool) -> RxAgent {
    let mut misses = 0;
    while !stop.load(Ordering::Acquire) {
        let n = agent.do_work();
        idle(kind, &mut misses, n);
    }
    agent
}

/// What the engine thread hands back at the end.
struct EngineOut {
    processed: u64,
    seq: SeqCounters,
    digest: u64,
    last: Option<Box<crate::latency::StageRecorder>>,
}

/// The strategy callback: digest and counts of the updates, `consume` and `end_to_end`
/// latency (kernel receive timestamp → this call).
struct Strategy<'a> {
    digest: &'a mut Digest,
    updates: &'a mut u64,
    stale: &'a mut u64,
    rec: Option<&'a mut IntervalRecorder>,
    clock: &'a Clock,
}

impl UpdateSink for Strategy<'_> {
    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        if let Some(r) = self.rec.as_deref_mut() {
            let t = self.clock.now();
            r.record(Stage::Consume, t.saturating_sub(u.engine_ts));
            r.record(
                Stage::EndToEnd,
                t.saturating_sub(self.clock.from_realtime(u.recv_ts)),
            );
        }
        self.digest.add(u);
        *self.updates += 1;
        *self.stale += u64::from(u.flags & flags::STALE != 0);
    }
}

/// The engine agent: decodes each datagram in place in its ring slot with the same
/// `Engine::on_datagram` as `fh replay`, the kernel timestamp as the receive time.
#[allow(clippy::too_many_arguments)]
fn engine_loop(
    mut c: RxConsumer,
    mut engine: Engine,
    clock: Clock,
    mut rec: Option<IntervalRecorder>,
    kind: IdleKind,
    stop: &AtomicBool,
    processed: &AtomicU64,
    shared: &SharedSeq,
) -> EngineOut {
    let mut misses = 0;
    let mut n = 0u64;
    let mut digest = Digest::new();
    let (mut updates, mut stale) = (0u64, 0u64);
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let b = c.poll(256);
        let k = b.len();
        for p in b.iter() {
            let now = clock.now();
            if let Some(r) = rec.as_mut() {
                r.record(
                    Stage::Receive,
                    p.meta.agent_ns.saturating_sub(p.meta.kernel_ns),
                );
            }
            let meta = DatagramMeta {
                recv_ts: p.meta.kernel_ns,
            };
            let mut s = Strategy {
                digest: &mut digest,
                updates: &mut updates,
                stale: &mut stale,
                rec: rec.as_mut(),
                clock: &clock,
            };
            engine.on_datagram(now, &meta, p.bytes, &mut s);
        }
        drop(b);
        if k > 0 {
            n += k as u64;
            processed.store(n, Ordering::Relaxed);
            shared.store(SeqCounters::of(&engine, updates, stale));
            if let Some(r) = rec.as_mut() {
                r.tick(clock.now());
            }
        } else if stopping {
            return EngineOut {
                processed: n,
                seq: SeqCounters::of(&engine, updates, stale),
                digest: digest.value(),
                last: rec.map(|r| r.finish(clock.now())),
            };
        }
        idle(kind, &mut misses, k);
    }
}

/// The benchmark floor: receive (busy-poll, one datagram per `recvmmsg`) and release each
/// datagram on the same thread, recording kernel timestamp → `recvmmsg` return.
fn floor_loop(
    mut agent: RxAgent,
    mut c: RxConsumer,
    clock: Clock,
    mut rec: Option<IntervalRecorder>,
    stop: &AtomicBool,
    processed: &AtomicU64,
) -> (RxAgent, Option<Box<crate::latency::StageRecorder>>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        if agent.do_work() == 0 {
            continue;
        }
        let b = c.poll(usize::MAX);
        if let Some(r) = rec.as_mut() {
            for p in b.iter() {
                r.record(
                    Stage::Receive,
                    p.meta.agent_ns.saturating_sub(p.meta.kernel_ns),
                );
            }
            r.tick(clock.now());
        }
        n += b.len() as u64;
        drop(b);
        processed.store(n, Ordering::Relaxed);
    }
    (agent, rec.map(|r| r.finish(clock.now())))
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
