//! The live source: multicast groups → receive agent → receive ring → engine agent → the
//! pipeline's sink and strategies, plus the run's monitor (stats, silence, stop conditions).
//!
//! ```text
//!  dedicated:  fh-rx (RxAgent) ─► rx ring ─► fh-engine (EngineAgent: Engine::on_datagram in
//!              place, PublishSink) ─► publication ring ─► fh-strat-N (StrategyRunner …)
//!  shared:     fh-shared: (RxAgent, EngineAgent) on one thread; the strategies run in the
//!              sink at the end of each datagram
//!  floor:      fh-rx-floor: receive and release, kernel timestamp → recvmmsg return only
//!  capture:    fh-capture: a second rx-ring reader writing a ns pcap, off the hot threads
//!  monitor:    the calling thread: stats every `stats_every`, silences, latency intervals,
//!              stop on signal/flag, duration, packet count or quiet
//! ```
//!
//! Invariants: the engine is the one a replay runs (same `on_datagram`, the kernel receive
//! timestamp as the datagram's `recv_ts`), so a strategy's digest of a live run equals the
//! replay's of the same packets. Shutdown is ordered: receiver first, then the engine drains
//! the rx ring and closes the publication ring, then the strategies drain it and finish.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::{Recorded, Recorder};
use super::report::{self as rep, RunReport};
use super::sink::{NoBbo, Outlet, PublishSink, RingOutlet};
use super::tap::{TapOutlet, TapReport};
use super::{PipelineError, Runners, Threading};
use crate::agent::{self, Agent, AgentHandle, BusySpin, Idle, MonotonicClock, Nanos, ThreadConfig};
use crate::engine::{DatagramMeta, Engine, UpdateSink};
use crate::latency::{Clock, IntervalRecorder, Stage, StageRecorder};
use crate::live::recovery::{self, Arbiter, RecoveryConfig, RecoveryReport, Requester};
use crate::live::{self, GroupSpec, LiveConfig, RxAgent, RxConsumer, RxCounters};
use crate::strategy::{HopTimer, MarketView, RunnerGroup, TimeSource};

/// The feed protocol a live run decodes; datagrams of the other one are counted as foreign
/// and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Nasdaq TotalView-ITCH 5.0 over MoldUDP64.
    #[default]
    Itch,
    /// IEX DEEP or TOPS over IEX-TP.
    Iex,
}

/// What the monitor tells the shell while the run goes on.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// A group was joined.
    Joined {
        /// The group.
        group: String,
        /// The interface.
        iface: Ipv4Addr,
        /// Receive buffer granted, bytes.
        rcvbuf: usize,
        /// Whether it was forced (`SO_RCVBUFFORCE`).
        forced: bool,
    },
    /// The periodic stats line.
    Stats {
        /// Seconds since the start.
        t: f64,
        /// Datagrams per second over the last period.
        packets_per_s: f64,
        /// Messages per second over the last period.
        messages_per_s: f64,
        /// Gap events so far.
        gaps: u64,
        /// Duplicate packets so far.
        duplicates: u64,
        /// Reordered packets so far.
        reordered: u64,
        /// Kernel drops so far.
        kernel_drops: u64,
        /// Datagrams received but not yet processed.
        rx_ring_lag: u64,
        /// Updates published but not yet read by the slowest strategy.
        pub_ring_lag: u64,
        /// Groups silent right now.
        silent: usize,
    },
    /// A group went quiet for longer than the heartbeat interval.
    Silence {
        /// The group.
        group: String,
        /// The interval, seconds.
        heartbeat: f64,
    },
}

/// A live source: what to join and when to stop.
#[derive(Debug, Clone)]
pub struct LiveSource {
    /// Sockets, ring and batch sizes.
    pub config: LiveConfig,
    /// The protocol to decode.
    pub protocol: Protocol,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many datagrams.
    pub packets: Option<u64>,
    /// Stop once nothing arrived for this long after the first datagram.
    pub until_quiet: Option<Duration>,
    /// Stats events every this long (zero: never).
    pub stats_every: Duration,
    /// A group quiet for longer than this is reported.
    pub heartbeat: Duration,
    /// Also write every datagram to this nanosecond pcap.
    pub capture: Option<PathBuf>,
    /// Core of the receive thread.
    pub rx_core: Option<usize>,
    /// Run the floor benchmark (receive only) instead of the engine.
    pub floor: bool,
    /// A/B arbitration and gap recovery (re-requests, snapshots) in front of the engine.
    pub recovery: Option<Box<RecoveryConfig>>,
    pub(super) refused_pacing: Option<super::Pacing>,
}

impl LiveSource {
    /// Joins `groups` (any-source), decoding `protocol`; runs until stopped.
    pub fn new(groups: &[SocketAddrV4], protocol: Protocol) -> Self {
        LiveSource {
            config: LiveConfig {
                groups: groups
                    .iter()
                    .map(|&group| GroupSpec {
                        group,
                        source: None,
                    })
                    .collect(),
                ..LiveConfig::default()
            },
            protocol,
            duration: None,
            packets: None,
            until_quiet: None,
            stats_every: Duration::ZERO,
            heartbeat: Duration::from_secs(2),
            capture: None,
            rx_core: None,
            floor: false,
            recovery: None,
            refused_pacing: None,
        }
    }
}

/// Counters the engine agent shares with the monitor: datagrams, messages in sequenced
/// packets, gap events, duplicate packets, reordered packets.
pub const PROGRESS: usize = 5;

/// The engine agent: decodes each datagram in place in its receive-ring slot, into the sink.
#[derive(Debug)]
pub struct EngineAgent<S: UpdateSink> {
    rx: RxConsumer,
    engine: Engine,
    sink: S,
    protocol: Protocol,
    clock: Clock,
    rec: Option<IntervalRecorder>,
    progress: Arc<[AtomicU64; PROGRESS]>,
    upstream_done: Arc<AtomicBool>,
    foreign: u64,
    recovery: Option<Box<Arbiter>>,
}

impl<S: UpdateSink> EngineAgent<S> {
    /// An engine agent reading `rx` into `sink`; `rec` records the `receive` stage.
    pub fn new(
        rx: RxConsumer,
        engine: Engine,
        sink: S,
        protocol: Protocol,
        clock: Clock,
        rec: Option<IntervalRecorder>,
    ) -> Self {
        EngineAgent {
            rx,
            engine,
            sink,
            protocol,
            clock,
            rec,
            progress: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
            upstream_done: Arc::new(AtomicBool::new(false)),
            foreign: 0,
            recovery: None,
        }
    }

    /// Puts `arb` between the receive ring and the engine (A/B arbitration, gap recovery).
    pub fn with_recovery(mut self, arb: Box<Arbiter>) -> Self {
        self.recovery = Some(arb);
        self
    }

    /// The arbiter, if any.
    pub fn recovery(&self) -> Option<&Arbiter> {
        self.recovery.as_deref()
    }

    /// Ends recovery: holes still open are given up, held packets applied; the figures.
    pub fn finish_recovery(&mut self) -> Option<RecoveryReport> {
        let arb = self.recovery.as_deref_mut()?;
        let now = self.clock.now();
        let (engine, sink) = (&mut self.engine, &mut self.sink);
        let meta = DatagramMeta { recv_ts: 0 };
        Some(arb.finish(&mut |b: &[u8]| engine.on_datagram(now, &meta, b, sink)))
    }

    /// Set (Release) once the receive agent has stopped: the engine agent is then done when
    /// its ring is drained.
    pub fn upstream_done(&self) -> Arc<AtomicBool> {
        self.upstream_done.clone()
    }

    /// The [`PROGRESS`] counters so far, for the stats line.
    pub fn progress(&self) -> Arc<[AtomicU64; PROGRESS]> {
        self.progress.clone()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Datagrams of the other protocol, dropped.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// The engine, its sink and the receive recorder's last interval.
    pub fn finish(self) -> (Engine, S, u64, Option<Box<StageRecorder>>) {
        let now = self.clock.now();
        (
            self.engine,
            self.sink,
            self.foreign,
            self.rec.map(|r| r.finish(now)),
        )
    }
}

impl<S: UpdateSink + Send> EngineAgent<S> {
    /// Applies what is left in the receive ring (the receiver has stopped).
    pub fn drain(&mut self) {
        self.upstream_done.store(true, Ordering::Release);
        while !self.is_done() {
            self.do_work(0);
        }
    }
}

impl<S: UpdateSink + Send> Agent for EngineAgent<S> {
    fn name(&self) -> &str {
        "fh-engine"
    }

    #[inline]
    fn do_work(&mut self, _now: Nanos) -> usize {
        if let Some(arb) = self.recovery.as_deref_mut() {
            if arb.wants_snapshot() {
                let now = self.clock.now();
                recovery::resync(arb, &mut self.engine, &mut self.sink, now);
            }
        }
        let b = self.rx.poll(256);
        let k = b.len();
        for p in b.iter() {
            let now = self.clock.now();
            if crate::engine::is_iextp(p.bytes) != (self.protocol == Protocol::Iex) {
                self.foreign += 1;
            } else {
                let meta = DatagramMeta {
                    recv_ts: p.meta.kernel_ns,
                };
                match self.recovery.as_deref_mut() {
                    None => self.engine.on_datagram(now, &meta, p.bytes, &mut self.sink),
                    Some(arb) => {
                        let (engine, sink) = (&mut self.engine, &mut self.sink);
                        arb.on_datagram(now, usize::from(p.meta.group), p.bytes, &mut |b| {
                            engine.on_datagram(now, &meta, b, sink)
                        });
                    }
                }
            }
            // After the datagram, not between its arrival and its updates (shared threading
            // runs the strategies inside `on_datagram`).
            if let Some(r) = self.rec.as_mut() {
                r.record(
                    Stage::Receive,
                    p.meta.agent_ns.saturating_sub(p.meta.kernel_ns),
                );
            }
        }
        drop(b);
        // Recovery timers run once the receive ring is drained: what is still queued may fill
        // a hole (a slow receive batch is not a lost packet).
        if let Some(arb) = self.recovery.as_deref_mut().filter(|_| k < 256) {
            let now = self.clock.now();
            let (engine, sink) = (&mut self.engine, &mut self.sink);
            let meta = DatagramMeta { recv_ts: 0 };
            arb.poll(now, &mut |b: &[u8]| engine.on_datagram(now, &meta, b, sink));
        }
        if k > 0 {
            self.sink.idle();
            // Plain counters summed over both transports: a few loads, no per-type sums.
            let (m, i) = (&self.engine.mold_seq.stats, &self.engine.iex_seq.stats);
            let now = [
                self.engine.stats.datagrams + self.foreign,
                m.messages + i.messages,
                m.gaps + i.gaps,
                m.duplicate_packets + i.duplicate_packets,
                m.out_of_order_packets + i.out_of_order_packets,
            ];
            for (a, v) in self.progress.iter().zip(now) {
                a.store(v, Ordering::Relaxed);
            }
            if let Some(r) = self.rec.as_mut() {
                r.tick(self.clock.now());
            }
        }
        k
    }

    fn is_done(&self) -> bool {
        self.upstream_done.load(Ordering::Acquire) && self.rx.lag() == 0
    }
}

/// The benchmark floor: the receive agent and a reader on one thread; each datagram is
/// released as soon as it is received, recording kernel timestamp → `recvmmsg` return.
#[derive(Debug)]
pub struct FloorAgent {
    rx: RxAgent,
    reader: RxConsumer,
    clock: Clock,
    rec: Option<IntervalRecorder>,
    processed: Arc<AtomicU64>,
}

impl FloorAgent {
    /// The floor over `rx` (opened with one reader and a batch of 1).
    pub fn new(
        rx: RxAgent,
        reader: RxConsumer,
        clock: Clock,
        rec: Option<IntervalRecorder>,
    ) -> Self {
        FloorAgent {
            rx,
            reader,
            clock,
            rec,
            processed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The receive agent back, and the recorder's last interval.
    pub fn finish(self) -> (RxAgent, Option<Box<StageRecorder>>) {
        let now = self.clock.now();
        (self.rx, self.rec.map(|r| r.finish(now)))
    }
}

impl Agent for FloorAgent {
    fn name(&self) -> &str {
        "fh-rx-floor"
    }

    #[inline]
    fn do_work(&mut self, now: Nanos) -> usize {
        if self.rx.do_work(now) == 0 {
            return 0;
        }
        let b = self.reader.poll(usize::MAX);
        let k = b.len();
        if let Some(r) = self.rec.as_mut() {
            for p in b.iter() {
                r.record(
                    Stage::Receive,
                    p.meta.agent_ns.saturating_sub(p.meta.kernel_ns),
                );
            }
            r.tick(self.clock.now());
        }
        drop(b);
        self.processed.fetch_add(k as u64, Ordering::Relaxed);
        k
    }
}

/// The engine agent's sink: the publishing sink over outlet `O` (none, a tap, the ring),
/// alone or with the recorders (the exports) ahead of it.
trait EngineSink: UpdateSink + Send + 'static {
    /// The publishing sink's outlet.
    type O: Outlet;
    /// The publishing sink and the recorders.
    fn parts(self) -> Parts<Self::O>;
}

/// The publishing sink over outlet `O` and the recorders.
type Parts<O> = (PublishSink<NoBbo, O>, Vec<Box<dyn Recorder>>);

impl<O: Outlet + 'static> EngineSink for PublishSink<NoBbo, O>
where
    PublishSink<NoBbo, O>: Send,
{
    type O = O;
    fn parts(self) -> Parts<O> {
        (self, Vec::new())
    }
}

impl<O: Outlet + 'static> EngineSink for Recorded<PublishSink<NoBbo, O>>
where
    PublishSink<NoBbo, O>: Send,
{
    type O = O;
    fn parts(self) -> Parts<O> {
        (self.inner, self.recorders)
    }
}

/// The receive and engine threads: one shared thread, or one each.
enum Started<S: EngineSink> {
    Shared(AgentHandle<(RxAgent, EngineAgent<S>)>),
    /// The receive thread, the engine thread, and the engine's "receiver has stopped" flag.
    Apart(
        AgentHandle<RxAgent>,
        AgentHandle<EngineAgent<S>>,
        Arc<AtomicBool>,
    ),
}

/// Where the run's agents are.
enum Running {
    Floor(AgentHandle<FloorAgent>, Arc<AtomicU64>),
    Bare(Started<PublishSink<NoBbo, ()>>),
    Tapped(Started<PublishSink<NoBbo, TapOutlet<()>>>),
    /// With recorders (the exports) on the engine thread, no strategies.
    Recorded(Started<Recorded<PublishSink<NoBbo, TapOutlet<()>>>>),
    Ring(
        Started<PublishSink<NoBbo, TapOutlet<RingOutlet>>>,
        Vec<AgentHandle<RunnerGroup>>,
    ),
    /// The ring with recorders on the engine thread, ahead of the ring.
    RecordedRing(
        Started<Recorded<PublishSink<NoBbo, TapOutlet<RingOutlet>>>>,
        Vec<AgentHandle<RunnerGroup>>,
    ),
}

/// The thread settings of a run.
struct Threads {
    engine_core: Option<usize>,
    rx_core: Option<usize>,
    idle: Idle,
    clock: MonotonicClock,
}

impl Threads {
    fn config(&self, name: &str, core: Option<usize>) -> ThreadConfig {
        ThreadConfig {
            name: Some(name.to_string()),
            core,
            idle: self.idle,
        }
    }

    /// Starts `rx` and `eng`: on one thread (`shared`) or on one each.
    fn start<S: EngineSink>(
        &self,
        rx: RxAgent,
        eng: EngineAgent<S>,
        shared: bool,
    ) -> Result<Started<S>, PipelineError> {
        let c = self.clock;
        Ok(if shared {
            let cfg = self.config("fh-shared", self.engine_core);
            Started::Shared(agent::spawn((rx, eng), cfg, c).map_err(thread_error)?)
        } else {
            let up = eng.upstream_done();
            let e = agent::spawn(eng, self.config("fh-engine", self.engine_core), c);
            let e = e.map_err(thread_error)?;
            let r = agent::spawn(rx, self.config("fh-rx", self.rx_core), c);
            Started::Apart(r.map_err(thread_error)?, e, up)
        })
    }
}

/// Starts thread `name` running `f`, which reads until `stop` is set.
fn spawn_reader<T: Send + 'static>(
    name: &str,
    stop: &Arc<AtomicBool>,
    f: impl FnOnce(&AtomicBool) -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>, PipelineError> {
    let stop = stop.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || f(&stop))
        .map_err(thread_error)
}

fn thread_error(e: std::io::Error) -> PipelineError {
    PipelineError::new(format!("fh live: starting a thread: {e}"))
}

/// Stops the receiver, lets the engine apply what is left and closes its sink; then waits
/// for the strategy threads (done once the engine's producer is dropped).
fn end_started<S: EngineSink>(
    started: Started<S>,
    close: impl FnOnce(S::O) -> OutletEnd,
    strategies: Vec<AgentHandle<RunnerGroup>>,
) -> Result<Ended, PipelineError> {
    let (rx, mut end) = match started {
        Started::Shared(h) => {
            let (rx, mut e) = joined(h, true)?;
            e.drain();
            (rx, end_sink(e, close))
        }
        Started::Apart(rx, e, up) => {
            let rx = joined(rx, true)?;
            up.store(true, Ordering::Release);
            (rx, end_sink(joined(e, false)?, close))
        }
    };
    let mut groups = Vec::new();
    if let Some(mut g) = end.group.take() {
        g.on_close();
        groups.push(g);
    }
    for h in strategies {
        groups.push(joined(h, false)?);
    }
    Ok(Ended::of(rx, end, groups))
}

/// What the threads hand back at the end.
struct Ended {
    rx: RxAgent,
    engine: Option<Engine>,
    tally: Option<super::sink::Tally>,
    outlet: Option<(super::sink::OutletStats, crate::ring::ProducerStats)>,
    groups: Vec<RunnerGroup>,
    foreign: u64,
    last: Option<Box<StageRecorder>>,
    recovery: Option<RecoveryReport>,
    recorders: Vec<Box<dyn Recorder>>,
    tap: Option<TapReport>,
}

impl Ended {
    fn of(rx: RxAgent, end: SinkEnd, groups: Vec<RunnerGroup>) -> Ended {
        Ended {
            rx,
            engine: Some(end.engine),
            tally: Some(end.tally),
            outlet: end.outlet,
            groups,
            foreign: end.foreign,
            last: end.last,
            recovery: end.recovery,
            recorders: end.recorders,
            tap: end.tap,
        }
    }
}

/// What an engine agent leaves: the engine, its sink's tally, the foreign count, its
/// stage recorder's last interval, what the outlet closed with, the exports' recorders and the
/// tap's report.
struct SinkEnd {
    engine: Engine,
    tally: super::sink::Tally,
    foreign: u64,
    last: Option<Box<StageRecorder>>,
    outlet: Option<(super::sink::OutletStats, crate::ring::ProducerStats)>,
    group: Option<RunnerGroup>,
    recovery: Option<RecoveryReport>,
    recorders: Vec<Box<dyn Recorder>>,
    tap: Option<TapReport>,
}

type Closed = (
    super::sink::OutletStats,
    crate::ring::ProducerStats,
    Option<RunnerGroup>,
);

/// What an outlet leaves when closed at the end of a run: what its ring closed with (when it
/// has one) and its tap's report (when it has a tap).
type OutletEnd = (Option<Closed>, Option<TapReport>);

/// Closes the tap of an outlet without a ring.
fn close_tap(o: TapOutlet<()>) -> OutletEnd {
    (None, o.finish().1)
}

/// Closes the tap of an outlet, then the ring behind it.
fn close_ring(o: TapOutlet<RingOutlet>) -> OutletEnd {
    let (o, tap) = o.finish();
    (Some(o.close()), tap)
}

fn end_sink<S: EngineSink>(
    mut e: EngineAgent<S>,
    close: impl FnOnce(S::O) -> OutletEnd,
) -> SinkEnd {
    let recovery = e.finish_recovery();
    let (engine, sink, foreign, last) = e.finish();
    let (sink, recorders) = sink.parts();
    let (closed, tap) = close(sink.outlet);
    let (outlet, group) = match closed {
        Some((a, b, g)) => (Some((a, b)), g),
        None => (None, None),
    };
    SinkEnd {
        engine,
        tally: sink.tally,
        foreign,
        last,
        outlet,
        group,
        recovery,
        recorders,
        tap,
    }
}

fn joined<A>(h: AgentHandle<A>, stop: bool) -> Result<A, PipelineError> {
    let r = if stop { h.stop_and_join() } else { h.join() };
    r.map_err(|e| PipelineError::new(format!("fh live: {e}")))
}

/// Runs a live pipeline (see [`super::Pipeline::run`]).
pub(super) fn run(p: super::Pipeline) -> Result<super::RunOutcome, PipelineError> {
    run_with_events(p, &mut |_| {})
}

/// Runs a live pipeline, telling `events` what happens while it runs.
pub fn run_with_events(
    mut p: super::Pipeline,
    events: &mut dyn FnMut(&LiveEvent),
) -> Result<super::RunOutcome, PipelineError> {
    let super::Source::Live(src) = std::mem::replace(
        &mut p.source,
        super::Source::Replay {
            path: PathBuf::new(),
            pacing: super::Pacing::AsFast,
        },
    ) else {
        return Err(PipelineError::new("run_with_events: not a live pipeline"));
    };
    if let Some(pace) = src.refused_pacing {
        return Err(PipelineError::new(format!(
            "live: pacing ({pace:?}) applies to replays only"
        )));
    }
    if p.digest && src.floor {
        return Err(PipelineError::new(
            "live floor: only receives (no engine), so there is no digest",
        ));
    }
    if src.floor && !p.strategies.is_empty() {
        return Err(PipelineError::new(
            "live floor: only receives (no engine), so strategies cannot run",
        ));
    }
    if src.floor && src.recovery.is_some() {
        return Err(PipelineError::new(
            "live floor: only receives (no engine), so there is no arbitration or recovery",
        ));
    }
    if let Some(r) = &src.recovery {
        if src.protocol == Protocol::Iex && r.snapshot.is_some() {
            return Err(PipelineError::new(
                "live: --snapshot is ITCH only (IEX-TP: A/B arbitration and gap-fill requests)",
            ));
        }
    }
    let mut recorders = std::mem::take(&mut p.recorders);
    if src.floor && !recorders.is_empty() {
        return Err(PipelineError::new(
            "live floor: only receives (no engine), so there is nothing to export",
        ));
    }
    if src.floor && p.tap.is_some() {
        return Err(PipelineError::new(
            "live floor: only receives (no engine), so there are no updates to publish",
        ));
    }
    let stop = super::stop_flag(&p.stop);
    let mut cfg = src.config.clone();
    cfg.batch = if src.floor { 1 } else { cfg.batch };
    let n_groups = cfg.groups.len();
    let arbiter = src.recovery.as_ref().map(|r| {
        let mut r = RecoveryConfig::clone(r);
        r.mold = src.protocol == Protocol::Itch;
        Box::new(Arbiter::new(r, n_groups))
    });
    if src.recovery.as_ref().is_some_and(|r| !r.servers.is_empty()) {
        cfg.unicast = Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    }
    // Calibrate the clock before joining: nothing queues in the sockets meanwhile.
    let mut lat = crate::latency::LatencyRun::start(&p.latency)?;
    let clock = lat.clock();
    let on = lat.enabled();
    let readers = 1 + usize::from(src.capture.is_some());
    let (rx_agent, mut cons) = live::open(&cfg, readers).map_err(PipelineError::new)?;
    for s in rx_agent.sockets() {
        events(&LiveEvent::Joined {
            group: s.spec.to_string(),
            iface: cfg.iface,
            rcvbuf: s.rcvbuf_granted,
            forced: s.rcvbuf_forced,
        });
    }
    let capture = match &src.capture {
        Some(path) => Some(capture::Writer::create(
            path,
            cons.pop()
                .ok_or_else(|| PipelineError::new("capture reader"))?,
            cfg.groups.iter().map(|g| g.group).collect(),
        )?),
        None => None,
    };
    let engine_reader = cons
        .pop()
        .ok_or_else(|| PipelineError::new("engine reader"))?;
    let requester = match (&arbiter, cfg.unicast) {
        (Some(a), Some(_)) => {
            let sock = rx_agent
                .unicast_socket(n_groups)
                .ok_or_else(|| PipelineError::new("fh live: the response socket"))?;
            Some(Requester::new(a, sock))
        }
        _ => None,
    };
    let rx_stats = rx_agent.stats();
    let rcvbuf_granted: Vec<usize> = rx_agent
        .sockets()
        .iter()
        .map(|s| s.rcvbuf_granted)
        .collect();
    let n = p.strategies.len();
    if n == 0 && p.ring_memory.is_some() {
        return Err(PipelineError::new(
            "ring slots in outside memory need at least one strategy (a ring)",
        ));
    }
    let shared = p.threading == Threading::Shared;
    let engine = Engine::new(&p.engine);
    let mut thread_of: Vec<(String, Option<usize>)> = Vec::new();
    let mut ring_monitor = None;
    let mut eng_progress: Option<Arc<[AtomicU64; PROGRESS]>> = None;
    let threads = Threads {
        engine_core: p.engine_core,
        rx_core: src.rx_core,
        idle: p.ring.idle.idle(),
        clock: MonotonicClock::new(),
    };
    let running = if src.floor {
        let rec = on.then(|| lat.recorder());
        let f = FloorAgent::new(rx_agent, engine_reader, clock, rec);
        let processed = f.processed.clone();
        let cfg = ThreadConfig {
            idle: Idle::BusySpin(BusySpin),
            ..threads.config("fh-rx-floor", src.rx_core.or(p.engine_core))
        };
        let h = agent::spawn(f, cfg, threads.clock).map_err(thread_error)?;
        Running::Floor(h, processed)
    } else if n == 0 && !recorders.is_empty() {
        let outlet = TapOutlet::new((), p.tap.take(), engine.directory());
        for t in recorders.iter_mut() {
            t.start(engine.directory());
        }
        let sink = Recorded {
            inner: PublishSink::new(p.digest, NoBbo, outlet),
            recorders: std::mem::take(&mut recorders),
        };
        let rec = on.then(|| lat.recorder());
        let mut eng = EngineAgent::new(engine_reader, engine, sink, src.protocol, clock, rec);
        if let Some(a) = arbiter {
            eng = eng.with_recovery(a);
        }
        eng_progress = Some(eng.progress());
        Running::Recorded(threads.start(rx_agent, eng, shared)?)
    } else if n == 0 && p.tap.is_none() {
        let sink = PublishSink::new(p.digest, NoBbo, ());
        let rec = on.then(|| lat.recorder());
        let mut eng = EngineAgent::new(engine_reader, engine, sink, src.protocol, clock, rec);
        if let Some(a) = arbiter {
            eng = eng.with_recovery(a);
        }
        eng_progress = Some(eng.progress());
        Running::Bare(threads.start(rx_agent, eng, shared)?)
    } else if n == 0 {
        let outlet = TapOutlet::new((), p.tap.take(), engine.directory());
        let sink = PublishSink::new(p.digest, NoBbo, outlet);
        let rec = on.then(|| lat.recorder());
        let mut eng = EngineAgent::new(engine_reader, engine, sink, src.protocol, clock, rec);
        if let Some(a) = arbiter {
            eng = eng.with_recovery(a);
        }
        eng_progress = Some(eng.progress());
        Running::Tapped(threads.start(rx_agent, eng, shared)?)
    } else {
        let (producer, consumers) = super::make_ring(p.ring, p.ring_memory.as_ref(), n)?;
        ring_monitor = Some(producer.monitor());
        let (writer, top) = crate::topbook::top_book(super::TOP_INSTRUMENTS);
        let view = MarketView {
            top,
            symbols: engine.directory().clone(),
            time: TimeSource::Wall,
        };
        let runners = Runners::build(
            std::mem::take(&mut p.strategies),
            consumers,
            &view,
            |name| {
                on.then(|| HopTimer {
                    clock,
                    rec: lat.recorder_for(name),
                    kernel_arrival: true,
                })
            },
        );
        let rec = on.then(|| lat.recorder());
        let mut strategies = Vec::new();
        let mut on_engine = Vec::new();
        for (name, core, rs) in runners.threads {
            if shared {
                for r in rs {
                    thread_of.push(("fh-shared".to_string(), p.engine_core));
                    on_engine.push(r);
                }
                continue;
            }
            let k = rs.len();
            let cfg = threads.config(&name, core);
            let group = RunnerGroup::new(name.clone(), rs);
            let h = agent::spawn(group, cfg, threads.clock).map_err(thread_error)?;
            thread_of.extend((0..k).map(|_| (name.clone(), h.pinned_core())));
            strategies.push(h);
        }
        let group = shared.then(|| RunnerGroup::new("fh-shared", on_engine));
        let outlet = RingOutlet::new(producer, writer, group, None);
        let outlet = TapOutlet::new(outlet, p.tap.take(), engine.directory());
        let sink = PublishSink::new(p.digest, NoBbo, outlet);
        if recorders.is_empty() {
            let mut eng = EngineAgent::new(engine_reader, engine, sink, src.protocol, clock, rec);
            if let Some(a) = arbiter {
                eng = eng.with_recovery(a);
            }
            eng_progress = Some(eng.progress());
            Running::Ring(threads.start(rx_agent, eng, shared)?, strategies)
        } else {
            for t in recorders.iter_mut() {
                t.start(engine.directory());
            }
            let sink = Recorded {
                inner: sink,
                recorders: std::mem::take(&mut recorders),
            };
            let mut eng = EngineAgent::new(engine_reader, engine, sink, src.protocol, clock, rec);
            if let Some(a) = arbiter {
                eng = eng.with_recovery(a);
            }
            eng_progress = Some(eng.progress());
            Running::RecordedRing(threads.start(rx_agent, eng, shared)?, strategies)
        }
    };
    let readers_stop = Arc::new(AtomicBool::new(false));
    let req_thread = requester
        .map(|r| spawn_reader("fh-rerequest", &readers_stop, move |s| r.run(s)))
        .transpose()?;
    let cap_thread = capture
        .map(|c| spawn_reader("fh-capture", &readers_stop, move |s| c.run(s)))
        .transpose()?;

    // The monitor.
    let t0 = Instant::now();
    let groups: Vec<String> = cfg.groups.iter().map(|g| g.group.to_string()).collect();
    let mut silences = 0u64;
    let mut silent_now = vec![false; groups.len()];
    let mut next_stats = t0 + src.stats_every;
    let mut last = (t0, RxCounters::default(), 0u64);
    let mut last_arrival = (0u64, t0);
    loop {
        std::thread::sleep(Duration::from_millis(10));
        lat.poll()?;
        let now = Instant::now();
        let s = rx_stats.snapshot();
        if s.packets != last_arrival.0 {
            last_arrival = (s.packets, now);
        }
        let mut silent = vec![false; groups.len()];
        for g in rx_stats.silent_groups(live::realtime_ns(), src.heartbeat.as_nanos() as u64) {
            // (The response socket, after the groups, is quiet by design.)
            if g < silent.len() {
                silent[g] = true;
            }
        }
        for (g, (&was, &is)) in silent_now.iter().zip(&silent).enumerate() {
            if is && !was {
                silences += 1;
                events(&LiveEvent::Silence {
                    group: groups[g].clone(),
                    heartbeat: src.heartbeat.as_secs_f64(),
                });
            }
        }
        silent_now = silent;
        if !src.stats_every.is_zero() && now >= next_stats {
            next_stats += src.stats_every;
            let [done, msgs, gaps, duplicates, reordered] = match (&running, &eng_progress) {
                (Running::Floor(_, p), _) => [p.load(Ordering::Relaxed), 0, 0, 0, 0],
                (_, Some(p)) => std::array::from_fn(|k| p[k].load(Ordering::Relaxed)),
                (_, None) => [s.packets, 0, 0, 0, 0],
            };
            let pub_lag = ring_monitor.as_ref().map_or(0, |m| {
                let published = m.producer_stats().published;
                let read = (0..m.consumers())
                    .filter_map(|i| m.consumer_stats(i))
                    .map(|c| c.cursor)
                    .min()
                    .unwrap_or(published);
                published.saturating_sub(read.min(published))
            });
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            events(&LiveEvent::Stats {
                t: now.duration_since(t0).as_secs_f64(),
                packets_per_s: (s.packets - last.1.packets) as f64 / dt,
                messages_per_s: msgs.saturating_sub(last.2) as f64 / dt,
                gaps,
                duplicates,
                reordered,
                kernel_drops: s.kernel_drops,
                rx_ring_lag: s.packets.saturating_sub(done),
                pub_ring_lag: pub_lag,
                silent: silent_now.iter().filter(|&&x| x).count(),
            });
            last = (now, s, msgs);
        }
        let done = stop.load(Ordering::Relaxed)
            || src.duration.is_some_and(|d| now.duration_since(t0) >= d)
            || src.packets.is_some_and(|n| s.packets >= n)
            || src
                .until_quiet
                .is_some_and(|q| s.packets > 0 && now.duration_since(last_arrival.1) >= q);
        if done {
            break;
        }
    }
    let interrupted = stop.load(Ordering::Relaxed);
    let mut processed_floor = None;
    let ended = match running {
        Running::Floor(h, processed) => {
            let (rx, last) = joined(h, true)?.finish();
            processed_floor = Some(processed.load(Ordering::Relaxed));
            Ended {
                rx,
                engine: None,
                tally: None,
                outlet: None,
                groups: Vec::new(),
                foreign: 0,
                last,
                recovery: None,
                recorders: Vec::new(),
                tap: None,
            }
        }
        Running::Bare(started) => end_started(started, |()| (None, None), Vec::new())?,
        Running::Recorded(started) => end_started(started, close_tap, Vec::new())?,
        Running::Tapped(started) => end_started(started, close_tap, Vec::new())?,
        Running::Ring(started, strategies) => end_started(started, close_ring, strategies)?,
        Running::RecordedRing(started, strategies) => end_started(started, close_ring, strategies)?,
    };
    // The report.
    let src = &src;
    readers_stop.store(true, Ordering::Release);
    let captured = match cap_thread {
        Some(j) => j
            .join()
            .map_err(|_| PipelineError::new("fh live: the capture thread panicked"))??,
        None => 0,
    };
    if let Some(j) = req_thread {
        let _ = j.join();
    }
    let mut finished = Vec::new();
    for g in ended.groups {
        finished.extend(g.finish());
    }
    let mut report = RunReport {
        schema: rep::SCHEMA,
        mode: "live",
        source: src
            .config
            .groups
            .iter()
            .map(|g| g.group.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        threading: if src.floor {
            "floor"
        } else if finished.is_empty() && p.strategies.is_empty() && ended.outlet.is_none() {
            "single"
        } else {
            p.threading.name()
        },
        interrupted,
        elapsed_s: t0.elapsed().as_secs_f64(),
        peak_rss_bytes: super::peak_rss_bytes(),
        taps: ended.tap.into_iter().collect(),
        ..RunReport::default()
    };
    let rx = ended.rx.stats().snapshot();
    report.live = Some(rep::LiveReport {
        rx,
        group_packets: ended.rx.stats().group_packets(),
        rcvbuf_granted,
        processed: processed_floor
            .or_else(|| {
                ended
                    .engine
                    .as_ref()
                    .map(|e| e.stats.datagrams + ended.foreign)
            })
            .unwrap_or(0),
        silences,
        captured,
        floor: src.floor,
    });
    report.recovery = ended.recovery;
    for mut t in ended.recorders {
        report.exports.extend(t.finish(interrupted)?);
    }
    if let Some(e) = &ended.engine {
        report.engine = e.stats();
        report.engine.foreign = ended.foreign;
        report.books = rep::book_depths(e, p.report_books, p.report_depth);
    }
    if let Some(t) = &ended.tally {
        report.updates = rep::UpdatesReport::of(&t.by_kind, t.stale);
        report.digest = p.digest.then(|| format!("{:016x}", t.digest.value()));
    }
    if let Some((o, ps)) = ended.outlet {
        report.ring = Some(super::ring_report(
            &p.ring,
            ps,
            o,
            p.engine_core,
            report.elapsed_s,
        ));
    }
    let mut lasts: Vec<(Option<String>, Box<StageRecorder>)> =
        ended.last.into_iter().map(|l| (None, l)).collect();
    report.strategies = super::strategy_reports(&mut finished, thread_of, &mut lasts);
    if lat.enabled() {
        let title = format!("fh live {}", report.source);
        let totals = lat.finish_quiet(lasts, &title)?;
        report.latency = Some(rep::LatencyReport {
            title,
            clock: totals.clock_line,
            stages: totals.stages,
            notes: Vec::new(),
        });
    }
    Ok(super::RunOutcome::from_finished(report, finished))
}

mod capture {
    //! A reader of the receive ring, on its own thread, that writes every datagram as an
    //! Ethernet/IPv4/UDP frame (sender's address, joined group) with the kernel's receive
    //! timestamp to a nanosecond pcap, atomically (temporary file, renamed at the end). It
    //! holds the ring back only when it falls a whole ring behind; the receive thread never
    //! writes files.
    use super::*;
    use crate::pipeline::output::Output;
    use fh_replay::frame::LinkType;
    use fh_replay::writer::{PcapWriter, TsPrecision, UdpFrame};
    use std::fs::File;
    use std::io::{BufWriter, Write};

    pub(super) struct Writer {
        out: Output,
        reader: RxConsumer,
        groups: Vec<SocketAddrV4>,
        pcap: PcapWriter<BufWriter<File>>,
    }

    impl Writer {
        pub(super) fn create(
            path: &std::path::Path,
            reader: RxConsumer,
            groups: Vec<SocketAddrV4>,
        ) -> Result<Self, PipelineError> {
            let mut out = Output::create(path)?;
            let pcap = PcapWriter::new(out.writer(), LinkType::Ethernet, TsPrecision::Nano)
                .map_err(|e| out.error(e))?;
            Ok(Writer {
                out,
                reader,
                groups,
                pcap,
            })
        }

        /// Writes until `stop` and the ring is drained; returns the datagrams written.
        pub(super) fn run(mut self, stop: &AtomicBool) -> Result<u64, PipelineError> {
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
                        .map_err(|x| self.out.error(x))?;
                    self.pcap
                        .write_packet(p.meta.kernel_ns, &frame)
                        .map_err(|x| self.out.error(x))?;
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
            let mut w = self.pcap.finish().map_err(|x| self.out.error(x))?;
            w.flush().map_err(|x| self.out.error(x))?;
            drop(w);
            self.out.commit()?;
            Ok(n)
        }
    }
}
