//! The pipeline: one builder for replay and live, with the user's strategies in it.
//!
//! ```text
//!  Pipeline::replay(path) | replay_files([a, b, …]) | Pipeline::live(config)
//!                                                       the source is the only difference
//!     .engine(EngineConfig)  .ring(RingSettings)  .threading(Threading)
//!     .strategy("name", s) …  .latency(LatencyConfig)  .stop_on(…)
//!     .run() ─► RunReport  (+ the strategies back, by name and type)
//!
//!  replay: capture ─► replay loop (fast | ×speed | stepped) ─┐
//!  live:   sockets ─► RxAgent ─► rx ring ─► EngineAgent ─────┤
//!                                                           ▼
//!            Engine::on_datagram ─► PublishSink: tally, top-of-book table, ring (full-ring guard)
//!                                                           ▼
//!                      StrategyRunner per strategy (own pinned thread, a shared thread, or —
//!                      Threading::Shared — the engine's own thread, run after each event)
//! ```
//!
//! With no strategy the engine's sink has no ring: the single-thread replay (`fh replay`),
//! with its tally, optional digest and optional BBO CSV on the engine thread.
//!
//! ## Invariants
//! - The same engine, sink, top-of-book table, full-ring guard and strategy runners in every
//!   mode; a strategy sees the identical update sequence in a replay, a paced replay and live
//!   (the digests agree), whatever the threading.
//! - Start-up allocates everything (rings, tables, recorders, threads); the hot path does not.
//! - Shutdown is ordered: the source ends (file end, stop flag, live stop condition), the
//!   engine publishes what is left and drops the producer, every strategy drains the ring and
//!   runs `on_finish`, all threads are joined, then the report is built.
//! - Every counter of every stage reaches the [`RunReport`]; nothing here prints: the shell
//!   formats the report ([`report::render_text`], or JSON).

pub mod builtin;
pub mod live;
pub mod output;
pub mod record;
pub mod replay;
pub mod report;
pub mod sink;
pub mod tap;

use std::any::Any;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::agent::{Backoff, BusySpin, Idle, SpinYield};
use crate::engine::EngineConfig;
use crate::latency::LatencyConfig;
use crate::ring::{Consumer, Policy};
use crate::strategy::{Finished, HopTimer, MarketView, Runner, Strategy, StrategyRunner};
use crate::update::BookUpdate;

pub use report::RunReport;

/// A pipeline error: one line naming the file, flag or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError(pub String);

impl PipelineError {
    /// An error from anything printable.
    pub fn new(msg: impl fmt::Display) -> Self {
        PipelineError(msg.to_string())
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PipelineError {}

impl From<crate::latency::LatencyError> for PipelineError {
    fn from(e: crate::latency::LatencyError) -> Self {
        PipelineError(e.to_string())
    }
}

/// How a replay is paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// As fast as possible.
    AsFast,
    /// On the capture's timestamps, `x` times real time.
    Speed(f64),
    /// Stepped in exchange time: after each datagram whose exchange time reaches the next
    /// step (`every_ns` apart; 0: every datagram), the engine waits until every strategy has
    /// read everything published, so what a strategy reads of the top-of-book table is the
    /// state at its step, run after run.
    Step {
        /// Step length in exchange time, ns.
        every_ns: u64,
    },
}

/// What a thread does when it finds nothing to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdleKind {
    /// Busy-spin: lowest latency, burns its core.
    Spin,
    /// Spin a little, then yield the core.
    Yield,
    /// Spin, yield, then park with a growing timeout (shared cores, tests).
    #[default]
    Backoff,
}

impl IdleKind {
    /// The idle strategy.
    pub fn idle(self) -> Idle {
        match self {
            IdleKind::Spin => Idle::BusySpin(BusySpin),
            IdleKind::Yield => Idle::SpinYield(SpinYield::default()),
            IdleKind::Backoff => Idle::Backoff(Backoff::default()),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            IdleKind::Spin => "spin",
            IdleKind::Yield => "yield",
            IdleKind::Backoff => "backoff",
        }
    }
}

/// The publication ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSettings {
    /// Slots: a power of two, at least 2.
    pub size: usize,
    /// Back-pressure policy.
    pub policy: Policy,
    /// Idle strategy of the strategy threads (and of the live receive and engine threads).
    pub idle: IdleKind,
}

impl Default for RingSettings {
    fn default() -> Self {
        RingSettings {
            size: 1 << 16,
            policy: Policy::NoLoss,
            idle: IdleKind::Backoff,
        }
    }
}

/// Largest ring this pipeline builds (2^24 slots of 64 bytes: 1 GiB).
pub const MAX_RING_SIZE: usize = 1 << 24;

/// Most strategies in one pipeline.
pub const MAX_STRATEGIES: usize = 64;

/// Where the agents run (Aeron's threading modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threading {
    /// Each strategy (or group of strategies) on its own thread; live: receive and engine on
    /// their own threads too.
    #[default]
    Dedicated,
    /// Receive, engine and every strategy as one agent on one thread: the strategies run
    /// right after each event is published. For scarce cores, and for measuring latency on a
    /// 2-core box.
    Shared,
}

impl Threading {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Threading::Dedicated => "dedicated",
            Threading::Shared => "shared",
        }
    }
}

/// Where and how one strategy runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyOptions {
    /// Strategies with the same group share one thread (`None`: a thread of its own).
    pub group: Option<String>,
    /// Core to pin its thread to (the first strategy of a group decides).
    pub core: Option<usize>,
}

/// When the run stops early.
#[derive(Clone, Debug, Default)]
pub enum StopOn {
    /// Only at the end of the source.
    #[default]
    Never,
    /// SIGINT / SIGTERM (the handler is installed by the run).
    Signals,
    /// When this flag is set.
    Flag(Arc<AtomicBool>),
}

type MakeRunner =
    Box<dyn FnOnce(Consumer<BookUpdate>, MarketView, Option<HopTimer>) -> Box<dyn Runner> + Send>;

struct StrategySlot {
    name: String,
    options: StrategyOptions,
    make: MakeRunner,
}

impl fmt::Debug for StrategySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrategySlot")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

/// The source of a pipeline.
#[derive(Debug)]
pub enum Source {
    /// A capture file (pcap, pcapng, gzip'd or not, or a bare ITCH 5.0 stream, told from the
    /// bytes; `-`: standard input), followed by the pipeline's further files if any
    /// ([`Pipeline::replay_files`]).
    Replay {
        /// The (first) file.
        path: PathBuf,
        /// Pacing.
        pacing: Pacing,
    },
    /// Multicast groups.
    Live(live::LiveSource),
}

/// Called now and then with the fraction of a replay done (0.0–1.0).
pub type Progress = Box<dyn FnMut(f64) + Send>;

/// The pipeline builder (see the module docs).
pub struct Pipeline {
    source: Source,
    /// A replay's files after the first (`Source::Replay::path`), in order.
    more_files: Vec<PathBuf>,
    engine: EngineConfig,
    ring: RingSettings,
    threading: Threading,
    strategies: Vec<StrategySlot>,
    latency: LatencyConfig,
    stop: StopOn,
    digest: bool,
    bbo_csv: Option<PathBuf>,
    recorders: Vec<Box<dyn record::Recorder>>,
    engine_core: Option<usize>,
    progress: Option<Progress>,
    report_books: usize,
    report_depth: usize,
    tap: Option<tap::NamedTap>,
    /// Where the ring's slots live when not in a box of their own ([`Pipeline::ring_memory`]).
    ring_memory: Option<Arc<dyn crate::ring::SlotMemory>>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("source", &self.source)
            .field("more_files", &self.more_files)
            .field("ring", &self.ring)
            .field("threading", &self.threading)
            .field("strategies", &self.strategies)
            .field("tap", &self.tap)
            .finish()
    }
}

/// The pipeline's publication ring for `n` consumers, in [`Pipeline::ring_memory`] if given.
pub(crate) fn make_ring(
    ring: RingSettings,
    memory: Option<&Arc<dyn crate::ring::SlotMemory>>,
    n: usize,
) -> Result<
    (
        crate::ring::Producer<BookUpdate>,
        Vec<crate::ring::Consumer<BookUpdate>>,
    ),
    PipelineError,
> {
    let rc = crate::ring::RingConfig {
        producer_idle: Idle::SpinYield(crate::agent::SpinYield::new(200)),
        ..crate::ring::RingConfig::new(ring.size, n, ring.policy)
    };
    match memory {
        None => crate::ring::ring::<BookUpdate>(rc),
        #[cfg(not(loom))]
        Some(m) => crate::ring::ring_in::<BookUpdate>(rc, m.clone()),
        #[cfg(loom)]
        Some(_) => Err(crate::ring::RingError::Memory(
            "slots in outside memory are not modelled under loom",
        )),
    }
    .map_err(|e| PipelineError::new(format!("ring size {}: {e}", ring.size)))
}

impl Pipeline {
    fn with_source(source: Source) -> Self {
        Pipeline {
            source,
            more_files: Vec::new(),
            engine: EngineConfig::default(),
            ring: RingSettings::default(),
            threading: Threading::Dedicated,
            strategies: Vec::new(),
            latency: LatencyConfig {
                no_latency: true,
                ..LatencyConfig::default()
            },
            stop: StopOn::Never,
            digest: false,
            bbo_csv: None,
            recorders: Vec::new(),
            engine_core: None,
            progress: None,
            report_books: 5,
            report_depth: 5,
            tap: None,
            ring_memory: None,
        }
    }

    /// The ring's settings.
    pub fn ring_settings(&self) -> RingSettings {
        self.ring
    }

    /// The memory given to [`Pipeline::ring_memory`], if any.
    pub fn ring_memory_of(&self) -> Option<&Arc<dyn crate::ring::SlotMemory>> {
        self.ring_memory.as_ref()
    }

    /// Places the ring's slots in `memory` ([`crate::ring::ring_in`]), which must hold the
    /// ring's size in 64-byte slots: sandboxes that map the same memory read-only then read the
    /// updates in place (fh-wasm's `--wasm-shared`). Only with the no-loss policy and a ring
    /// (at least one strategy); the run refuses it otherwise.
    pub fn ring_memory(mut self, memory: Arc<dyn crate::ring::SlotMemory>) -> Self {
        self.ring_memory = Some(memory);
        self
    }

    /// The report shows the depth of the `books` most active books, `depth` levels a side
    /// (default 5 and 5).
    pub fn report_books(mut self, books: usize, depth: usize) -> Self {
        self.report_books = books;
        self.report_depth = depth;
        self
    }

    /// A replay of `path` (`-`: standard input), as fast as possible.
    pub fn replay(path: impl Into<PathBuf>) -> Self {
        Self::with_source(Source::Replay {
            path: path.into(),
            pacing: Pacing::AsFast,
        })
    }

    /// A replay of several captures in order, as one stream: the engine goes on from one file
    /// to the next (sequencing, books, the ITCH stream's numbering), so a capture split in
    /// two files replays exactly as the whole one. Each file is detected on its own (kinds may
    /// differ); the report's `source` names them all. At least one file.
    pub fn replay_files<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Self {
        let mut paths = paths.into_iter().map(Into::into);
        let first = paths.next().unwrap_or_default();
        let mut p = Self::replay(first);
        p.more_files = paths.collect();
        p
    }

    /// The files a replay reads, in order (none for a live source).
    pub fn replay_paths(&self) -> Vec<&std::path::Path> {
        match &self.source {
            Source::Replay { path, .. } => std::iter::once(path.as_path())
                .chain(self.more_files.iter().map(PathBuf::as_path))
                .collect(),
            Source::Live(_) => Vec::new(),
        }
    }

    /// A live run over `source`.
    pub fn live(source: live::LiveSource) -> Self {
        Self::with_source(Source::Live(source))
    }

    /// Replay pacing (ignored by nothing: a live source refuses it at `run`).
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        if let Source::Replay { pacing: p, .. } = &mut self.source {
            *p = pacing;
        } else {
            self.source = match self.source {
                Source::Live(mut l) => {
                    l.refused_pacing = Some(pacing);
                    Source::Live(l)
                }
                s => s,
            };
        }
        self
    }

    /// Engine configuration (order capacity, symbols, filter, first sequence number).
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// Publication ring configuration.
    pub fn ring(mut self, ring: RingSettings) -> Self {
        self.ring = ring;
        self
    }

    /// Threading mode.
    pub fn threading(mut self, threading: Threading) -> Self {
        self.threading = threading;
        self
    }

    /// Core for the engine thread (replay: the calling thread; live: the engine agent, or the
    /// one shared thread).
    pub fn engine_core(mut self, core: Option<usize>) -> Self {
        self.engine_core = core;
        self
    }

    /// Adds a strategy on a thread of its own.
    pub fn strategy<S: Strategy>(self, name: impl Into<String>, strategy: S) -> Self {
        self.strategy_with(name, strategy, StrategyOptions::default())
    }

    /// Adds a strategy with placement options.
    pub fn strategy_with<S: Strategy>(
        mut self,
        name: impl Into<String>,
        strategy: S,
        options: StrategyOptions,
    ) -> Self {
        let name = name.into();
        let n = name.clone();
        self.strategies.push(StrategySlot {
            name,
            options,
            make: Box::new(move |c, view, timer| {
                Box::new(StrategyRunner::new(n, c, strategy, view, timer)) as Box<dyn Runner>
            }),
        });
        self
    }

    /// Adds a tap called `name`: a consumer of every update on the engine's own thread,
    /// before the ring (see [`tap`]); one per pipeline (a second replaces the first). Its
    /// figures are the report's `taps`.
    pub fn tap(mut self, name: impl Into<String>, t: impl tap::Tap + 'static) -> Self {
        self.tap = Some(tap::NamedTap {
            name: name.into(),
            tap: Box::new(t),
        });
        self
    }

    /// Adds a strategy agent built by `make` from its ring consumer, the market view and its
    /// hop timer, for runners that are not a [`StrategyRunner`] (fh-wasm's module runner drains
    /// each batch into a sandbox in one call). The runner owns its consumer: dropping it
    /// detaches the cursor, so the producer never waits for it again.
    pub fn runner_with(
        mut self,
        name: impl Into<String>,
        options: StrategyOptions,
        make: impl FnOnce(Consumer<BookUpdate>, MarketView, Option<HopTimer>) -> Box<dyn Runner>
            + Send
            + 'static,
    ) -> Self {
        self.strategies.push(StrategySlot {
            name: name.into(),
            options,
            make: Box::new(make),
        });
        self
    }

    /// Latency measurement and its outputs (off by default).
    pub fn latency(mut self, latency: LatencyConfig) -> Self {
        self.latency = latency;
        self
    }

    /// When to stop early.
    pub fn stop_on(mut self, stop: StopOn) -> Self {
        self.stop = stop;
        self
    }

    /// Fold a digest of the update stream on the engine thread (the report's `digest`).
    pub fn digest(mut self, on: bool) -> Self {
        self.digest = on;
        self
    }

    /// Write every BBO change as CSV on the engine thread (single-thread replay only: live
    /// and threaded runs write it from a strategy, `builtin::BboCsvWriter`).
    pub fn bbo_csv(mut self, path: Option<PathBuf>) -> Self {
        self.bbo_csv = path;
        self
    }

    /// Adds an exporter on the engine's thread ([`record::Recorder`]; single-thread replay, or
    /// live).
    pub fn recorder(mut self, r: Box<dyn record::Recorder>) -> Self {
        self.recorders.push(r);
        self
    }

    /// Progress callback of a replay (fraction done).
    pub fn progress(mut self, progress: impl FnMut(f64) + Send + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Number of strategies added.
    pub fn strategy_count(&self) -> usize {
        self.strategies.len()
    }

    /// Runs to the end of the source (or a stop) and reports.
    pub fn run(self) -> Result<RunOutcome, PipelineError> {
        self.check()?;
        match self.source {
            Source::Replay { .. } => replay::run(self),
            Source::Live(_) => live::run(self),
        }
    }

    fn check(&self) -> Result<(), PipelineError> {
        let n = self.strategies.len();
        if let Source::Replay { path, .. } = &self.source {
            if path.as_os_str().is_empty() {
                return Err(PipelineError::new("replay: no capture file given"));
            }
            let stdin = self
                .replay_paths()
                .iter()
                .filter(|p| fh_replay::capture::is_stdin(p))
                .count();
            if stdin > 1 {
                return Err(PipelineError::new(
                    "-: standard input can be replayed once only",
                ));
            }
        }
        if n > MAX_STRATEGIES {
            return Err(PipelineError::new(format!(
                "{n} strategies: at most {MAX_STRATEGIES}"
            )));
        }
        let s = self.ring.size;
        if n > 0 && (!s.is_power_of_two() || !(2..=MAX_RING_SIZE).contains(&s)) {
            return Err(PipelineError::new(format!(
                "ring size {s}: must be a power of two from 2 to {MAX_RING_SIZE}"
            )));
        }
        let mut names: Vec<&str> = self.strategies.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(PipelineError::new(format!(
                "two strategies are called '{}': names must be unique",
                w[0]
            )));
        }
        if self.bbo_csv.is_some() && (n > 0 || matches!(self.source, Source::Live(_))) {
            return Err(PipelineError::new(
                "a BBO CSV on the engine thread is for the single-thread replay; use the bbo-csv strategy",
            ));
        }
        if !self.recorders.is_empty() && n > 0 && !matches!(self.source, Source::Live(_)) {
            return Err(PipelineError::new(
                "exports run on the engine thread of a single-thread replay or of fh live (not with a replay's strategies)",
            ));
        }
        if let Source::Replay {
            pacing: Pacing::Speed(x),
            ..
        } = self.source
        {
            fh_replay::pace::check_speed(x).map_err(PipelineError::new)?;
        }
        if let Source::Replay {
            pacing: Pacing::Step { .. },
            ..
        } = self.source
        {
            if n == 0 {
                return Err(PipelineError::new(
                    "a stepped replay waits for strategies: add at least one",
                ));
            }
        }
        Ok(())
    }
}

/// One strategy thread: its name, its core, and its runners.
type ThreadPlan = (String, Option<usize>, Vec<Box<dyn Runner>>);

/// The strategies' runners of a pipeline, created at start-up.
struct Runners {
    /// Per thread.
    threads: Vec<ThreadPlan>,
}

impl Runners {
    /// Makes a runner per strategy (consumer `i` for strategy `i`) and groups them by thread.
    fn build(
        slots: Vec<StrategySlot>,
        consumers: Vec<Consumer<BookUpdate>>,
        view: &MarketView,
        mut timer: impl FnMut(&str) -> Option<HopTimer>,
    ) -> Runners {
        let mut threads: Vec<ThreadPlan> = Vec::new();
        let mut groups: Vec<(String, usize)> = Vec::new();
        for (slot, c) in slots.into_iter().zip(consumers) {
            let t = timer(&slot.name);
            let r = (slot.make)(c, view.clone(), t);
            let at = slot
                .options
                .group
                .as_ref()
                .and_then(|g| groups.iter().find(|(name, _)| name == g).map(|&(_, i)| i));
            match at {
                Some(i) => threads[i].2.push(r),
                None => {
                    if let Some(g) = &slot.options.group {
                        groups.push((g.clone(), threads.len()));
                    }
                    let name = format!("fh-strat-{}", threads.len());
                    threads.push((name, slot.options.core, vec![r]));
                }
            }
        }
        Runners { threads }
    }
}

/// The outcome of a run: the report, and the strategies back.
pub struct RunOutcome {
    /// Every figure of the run.
    pub report: RunReport,
    strategies: Vec<(String, Box<dyn Any + Send>)>,
}

impl fmt::Debug for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOutcome")
            .field("report", &self.report)
            .finish()
    }
}

impl RunOutcome {
    fn from_finished(report: RunReport, finished: Vec<Finished>) -> RunOutcome {
        RunOutcome {
            report,
            strategies: finished.into_iter().map(|f| (f.name, f.strategy)).collect(),
        }
    }

    /// Takes back the strategy called `name` as its type `S`.
    pub fn take<S: Strategy>(&mut self, name: &str) -> Option<S> {
        let i = self.strategies.iter().position(|(n, _)| n == name)?;
        let (n, s) = self.strategies.remove(i);
        match s.downcast::<S>() {
            Ok(s) => Some(*s),
            Err(s) => {
                self.strategies.insert(i, (n, s));
                None
            }
        }
    }
}

/// The per-strategy part of a report: each finished strategy's figures (`threads`: its
/// thread and core, in strategy order), and its hop latency's last interval into `lasts`.
fn strategy_reports(
    finished: &mut [Finished],
    threads: Vec<(String, Option<usize>)>,
    lasts: &mut Vec<(Option<String>, Box<crate::latency::StageRecorder>)>,
) -> Vec<report::StrategyReport> {
    let mut out = Vec::with_capacity(finished.len());
    for (f, (thread, core)) in finished.iter_mut().zip(threads) {
        if let Some(l) = f.latency.take() {
            lasts.push((Some(f.name.clone()), l));
        }
        out.push(report::StrategyReport {
            name: f.name.clone(),
            thread,
            core,
            stats: f.stats,
            mean_lag: f.stats.lag_sum.checked_div(f.stats.batches).unwrap_or(0),
            figures: std::mem::take(&mut f.figures),
        });
    }
    out
}

/// The ring part of a report.
fn ring_report(
    ring: &RingSettings,
    producer: crate::ring::ProducerStats,
    outlet: sink::OutletStats,
    engine_core: Option<usize>,
    producer_done_s: f64,
) -> report::RingReport {
    report::RingReport {
        size: ring.size as u64,
        policy: match ring.policy {
            Policy::NoLoss => "no-loss",
            Policy::NeverWait => "never-wait",
        },
        idle: ring.idle.name(),
        published: producer.published,
        waits: producer.waits,
        wait_ns: producer.wait_ns,
        split_events: outlet.split_events,
        top_outside: outlet.top_outside,
        steps: outlet.steps,
        engine_core,
        producer_done_s,
    }
}

/// Top-of-book table size: every ITCH locate and the first 16 384 IEX symbols.
pub const TOP_INSTRUMENTS: usize = crate::engine::IEX_INSTRUMENT_BASE as usize + (1 << 14);

/// A run's stop flag: the process's signal flag or a shared one.
#[derive(Debug, Clone)]
pub(crate) enum StopFlag {
    Static(&'static AtomicBool),
    Shared(Arc<AtomicBool>),
}

impl std::ops::Deref for StopFlag {
    type Target = AtomicBool;
    fn deref(&self) -> &AtomicBool {
        match self {
            StopFlag::Static(f) => f,
            StopFlag::Shared(f) => f,
        }
    }
}

/// The stop flag of `stop` (a fresh one for [`StopOn::Never`]; the signal flag, with the
/// handlers installed, for [`StopOn::Signals`]).
pub(crate) fn stop_flag(stop: &StopOn) -> StopFlag {
    match stop {
        StopOn::Never => StopFlag::Shared(Arc::new(AtomicBool::new(false))),
        StopOn::Flag(f) => StopFlag::Shared(f.clone()),
        StopOn::Signals => {
            crate::live::signal::install();
            StopFlag::Static(crate::live::signal::flag())
        }
    }
}

/// Pins the calling thread to `core`; whether it worked.
fn pin_current(core: Option<usize>) -> Option<usize> {
    core.filter(|&id| core_affinity::set_for_current(core_affinity::CoreId { id }))
}

/// Cores this process may run on.
pub fn usable_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|v| v.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// Peak resident memory of this process, bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time consumed by the calling thread, ns, if known.
pub fn thread_cpu_ns() -> Option<u64> {
    Some(crate::latency::clock::thread_cpu_ns()).filter(|&ns| ns > 0)
}
