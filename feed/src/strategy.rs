//! The strategy API: the user's trading logic, fed by the publication ring.
//!
//! A strategy implements [`Strategy`] (or is a closure `FnMut(&BookUpdate, &Context)`): it
//! receives each [`BookUpdate`] where it lies in its ring slot (no-loss) or as a validated
//! copy (never-wait), the end of each batch, and notices of updates it missed (never-wait
//! only). Every callback gets a [`Context`]: the top of book of any instrument (the lock-free
//! table the engine fills), the symbol of any instrument (the engine's directory), the ring
//! sequence and the current time — the capture time of the update in a replay, so a backtest
//! gives the same results run after run, and the wall clock live.
//!
//! The pipeline ([`crate::pipeline`]) wraps each strategy in a [`StrategyRunner`], an
//! [`Agent`] whose duty cycle drains one batch; a runner gets its own (pinned) thread or
//! shares one with others, and the strategy code is the same in every mode (replay, paced
//! replay, live) and every threading mode. After the run, [`Strategy::report`] adds the
//! strategy's own figures to the run report, and the strategy itself is handed back.
//!
//! Invariants: `on_update` sees ring sequences in increasing order; every gap in them was
//! announced by an `on_missed` with exactly its size before the update after the gap (or,
//! for a lap at the end of a batch, before `on_batch_end`); `on_finish` runs once, after the
//! last update. The duty cycle allocates nothing (the latency recorder is preallocated).

use std::any::Any;

use crate::agent::{Agent, Nanos};
use crate::directory::{Symbol, SymbolDirectory};
use crate::latency::{Clock, IntervalRecorder, Stage, StageRecorder};
use crate::ring::{Consumer, Handler, RingMonitor};
use crate::topbook::{Bbo, TopBookReader};
use crate::update::{BookUpdate, InstrumentId};

/// Trading logic driven by the publication ring (see the module docs).
pub trait Strategy: Send + 'static {
    /// One update, in ring order.
    fn on_update(&mut self, update: &BookUpdate, ctx: &Context<'_>);

    /// After the last update of a batch (act on accumulated state here).
    fn on_batch_end(&mut self, ctx: &Context<'_>) {
        let _ = ctx;
    }

    /// `count` updates were lost because a never-wait ring lapped this strategy; the next
    /// update follows the gap. State derived from the stream may be stale.
    fn on_missed(&mut self, count: u64, ctx: &Context<'_>) {
        let _ = (count, ctx);
    }

    /// Once, after the last update of the run.
    fn on_finish(&mut self, ctx: &Context<'_>) {
        let _ = ctx;
    }

    /// The strategy's own results, for the run report (text and JSON).
    fn report(&self, out: &mut Figures) {
        let _ = out;
    }
}

/// A closure is a strategy: `pipeline.strategy("name", |u: &BookUpdate, ctx: &Context| …)`.
impl<F> Strategy for F
where
    F: FnMut(&BookUpdate, &Context<'_>) + Send + 'static,
{
    #[inline]
    fn on_update(&mut self, update: &BookUpdate, ctx: &Context<'_>) {
        self(update, ctx)
    }
}

/// One named result of a strategy.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Figure {
    /// A count.
    Count(u64),
    /// A signed integer.
    Int(i64),
    /// A ratio or mean.
    Real(f64),
    /// Free text (a hash, a symbol).
    Text(String),
}

impl core::fmt::Display for Figure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Figure::Count(n) => write!(f, "{n}"),
            Figure::Int(n) => write!(f, "{n}"),
            Figure::Real(x) => write!(f, "{x:.4}"),
            Figure::Text(s) => f.write_str(s),
        }
    }
}

/// The results a strategy reports, in order (a JSON object in the run report).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures(pub Vec<(String, Figure)>);

impl serde::Serialize for Figures {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Figures {
    /// Adds a count.
    pub fn count(&mut self, name: &str, n: u64) -> &mut Self {
        self.0.push((name.to_string(), Figure::Count(n)));
        self
    }
    /// Adds a signed integer.
    pub fn int(&mut self, name: &str, n: i64) -> &mut Self {
        self.0.push((name.to_string(), Figure::Int(n)));
        self
    }
    /// Adds a real number.
    pub fn real(&mut self, name: &str, x: f64) -> &mut Self {
        self.0.push((name.to_string(), Figure::Real(x)));
        self
    }
    /// Adds text.
    pub fn text(&mut self, name: &str, s: impl Into<String>) -> &mut Self {
        self.0.push((name.to_string(), Figure::Text(s.into())));
        self
    }
    /// The figure called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Figure> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// Where [`Context::now`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// The capture (or kernel receive) time of the update in hand: deterministic, for replays.
    Capture,
    /// `CLOCK_REALTIME`, read once per batch (vDSO, no syscall): live runs.
    Wall,
}

/// What every strategy can see besides the update: shared, read-only views of the market.
#[derive(Clone, Debug)]
pub struct MarketView {
    /// Top of book per instrument, written by the engine thread.
    pub top: TopBookReader,
    /// Instrument → symbol, written by the engine.
    pub symbols: SymbolDirectory,
    /// What `now` means.
    pub time: TimeSource,
}

/// What a strategy callback can ask besides the update itself.
#[derive(Debug)]
pub struct Context<'a> {
    view: &'a MarketView,
    now: u64,
    ring_seq: u64,
    end_of_batch: bool,
}

impl<'a> Context<'a> {
    /// A context over `view` at time `now` (for tests and hosts that drive strategies).
    pub fn new(view: &'a MarketView, now: u64, ring_seq: u64, end_of_batch: bool) -> Self {
        Context {
            view,
            now,
            ring_seq,
            end_of_batch,
        }
    }

    /// Best bid and offer of `instrument` as the engine last published it (`None` before
    /// its first change). The engine writes an event's top of book before it publishes the
    /// event, so this is never older than the update in hand; it may be newer when the
    /// strategy runs behind the engine ([`Bbo::seq`] tells).
    #[inline]
    pub fn top(&self, instrument: InstrumentId) -> Option<Bbo> {
        self.view.top.get(instrument)
    }

    /// The symbol of `instrument`, if the engine has named it.
    #[inline]
    pub fn symbol(&self, instrument: InstrumentId) -> Option<Symbol> {
        self.view.symbols.get(instrument)
    }

    /// The current time, ns since the Unix epoch: the update's capture time in a replay
    /// ([`TimeSource::Capture`]), the wall clock live.
    #[inline]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The ring sequence of the update in hand.
    #[inline]
    pub fn ring_seq(&self) -> u64 {
        self.ring_seq
    }

    /// Whether the update in hand is the last of its batch.
    #[inline]
    pub fn end_of_batch(&self) -> bool {
        self.end_of_batch
    }
}

/// How a runner times the hop to its strategy: `consume` from the update's `engine_ts` (the
/// first local timestamp of its datagram on fh's clock; 0 = not timed) and `end_to_end` from
/// the datagram's arrival (kernel timestamp live, the read in a replay) to `on_update`.
#[derive(Debug)]
pub struct HopTimer {
    /// The clock `engine_ts` is on.
    pub clock: Clock,
    /// Where the values go (a per-strategy recorder).
    pub rec: IntervalRecorder,
    /// Live: `recv_ts` is a kernel `CLOCK_REALTIME` timestamp, the start of `end_to_end`.
    /// Replay: the read time (`engine_ts`) is.
    pub kernel_arrival: bool,
}

/// Per-runner counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunnerStats {
    /// Updates delivered.
    pub delivered: u64,
    /// Non-empty batches.
    pub batches: u64,
    /// Updates lost to laps (never-wait).
    pub missed: u64,
    /// Largest lag at a batch start (published − the batch's first sequence).
    pub max_lag: u64,
    /// Sum of the lags at batch starts.
    pub lag_sum: u64,
}

/// A strategy and its ring consumer as an agent: each duty cycle drains one batch.
pub struct StrategyRunner<S> {
    name: String,
    consumer: Consumer<BookUpdate>,
    monitor: RingMonitor<BookUpdate>,
    strategy: S,
    view: MarketView,
    stats: RunnerStats,
    timer: Option<HopTimer>,
    now: u64,
    wall: WallAnchor,
    finished: bool,
}

/// Live, timed: `CLOCK_REALTIME` and the timer's clock read together, refreshed every
/// [`WallAnchor::REFRESH_NS`]; the wall time is then the anchor plus the clock's advance.
///
/// A kernel receive timestamp is `CLOCK_REALTIME`; mapping the clock onto it with the offset
/// measured at start-up ([`Clock::from_realtime`]) drifts with the clock's rate error and
/// `CLOCK_REALTIME`'s own rate (up to about 1 µs per second on a 2-vCPU VM: 0.2-1 µs off
/// within a 3 s run, as much as the hop being measured). Re-anchored each millisecond the
/// drift stays around a nanosecond, and the strategy thread reads the wall clock once a
/// millisecond instead of at every poll.
#[derive(Clone, Copy, Debug, Default)]
struct WallAnchor {
    /// `CLOCK_REALTIME`, ns since the Unix epoch (0: not read yet).
    wall: u64,
    /// The timer's clock at the same moment (the middle of a bracket around the wall read).
    clock: u64,
}

impl WallAnchor {
    const REFRESH_NS: u64 = 1_000_000;

    /// The wall time at `now` (the timer clock's reading), re-anchoring when due.
    #[inline]
    fn wall_at(&mut self, clock: &Clock, now: u64) -> u64 {
        if self.wall == 0 || now.wrapping_sub(self.clock) > Self::REFRESH_NS {
            self.anchor(clock);
        }
        self.wall + now.saturating_sub(self.clock)
    }

    #[cold]
    fn anchor(&mut self, clock: &Clock) {
        let a = clock.now();
        let wall = crate::live::realtime_ns();
        let b = clock.now();
        *self = WallAnchor {
            wall,
            clock: a + (b.saturating_sub(a)) / 2,
        };
    }
}

impl<S> core::fmt::Debug for StrategyRunner<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StrategyRunner")
            .field("name", &self.name)
            .field("stats", &self.stats)
            .finish()
    }
}

/// The ring's view of a runner during one batch.
struct Drain<'r, S> {
    strategy: &'r mut S,
    view: &'r MarketView,
    stats: &'r mut RunnerStats,
    timer: Option<&'r mut HopTimer>,
    monitor: &'r RingMonitor<BookUpdate>,
    now: &'r mut u64,
    first: bool,
    /// Live: the batch's wall time is still to be read (at its first callback, so an empty
    /// poll reads no clock).
    wall_due: bool,
    wall: &'r mut WallAnchor,
    /// The timer clock's last reading (for the recorder's tick).
    last: u64,
}

impl<S> Drain<'_, S> {
    /// The batch's wall time, if not read yet, for a callback other than a timed update.
    #[inline]
    fn read_wall(&mut self) {
        if self.wall_due {
            self.wall_due = false;
            *self.now = crate::live::realtime_ns();
        }
    }
}

impl<S: Strategy> Handler<BookUpdate> for Drain<'_, S> {
    #[inline]
    fn on_record(&mut self, u: &BookUpdate, seq: u64, end_of_batch: bool) {
        if self.first {
            // One Acquire load per batch: how far behind the producer this batch starts.
            let lag = self.monitor.producer_stats().published.saturating_sub(seq);
            self.stats.max_lag = self.stats.max_lag.max(lag);
            self.stats.lag_sum += lag;
            self.first = false;
        }
        if let Some(t) = self.timer.as_deref_mut() {
            if u.engine_ts != 0 {
                let now = t.clock.now();
                self.last = now;
                t.rec
                    .record(Stage::Consume, now.saturating_sub(u.engine_ts));
                let e2e = if t.kernel_arrival && self.view.time == TimeSource::Wall {
                    // Kernel time → now, both on CLOCK_REALTIME (see `WallAnchor`).
                    let wall = self.wall.wall_at(&t.clock, now);
                    if self.wall_due {
                        self.wall_due = false;
                        *self.now = wall;
                    }
                    wall.saturating_sub(u.recv_ts)
                } else if t.kernel_arrival {
                    now.saturating_sub(t.clock.from_realtime(u.recv_ts))
                } else {
                    now.saturating_sub(u.engine_ts)
                };
                t.rec.record(Stage::EndToEnd, e2e);
            }
        }
        self.read_wall();
        if self.view.time == TimeSource::Capture {
            *self.now = u.recv_ts;
        }
        self.stats.delivered += 1;
        let ctx = Context::new(self.view, *self.now, seq, end_of_batch);
        self.strategy.on_update(u, &ctx);
    }

    fn on_missed(&mut self, count: u64) {
        self.read_wall();
        self.stats.missed += count;
        let ctx = Context::new(self.view, *self.now, 0, false);
        self.strategy.on_missed(count, &ctx);
    }

    fn on_batch_end(&mut self) {
        self.read_wall();
        self.stats.batches += 1;
        let ctx = Context::new(self.view, *self.now, 0, true);
        self.strategy.on_batch_end(&ctx);
    }
}

impl<S: Strategy> StrategyRunner<S> {
    /// Wraps `strategy`, fed by `consumer`, seeing `view`; `timer` times the hop to it.
    pub fn new(
        name: impl Into<String>,
        consumer: Consumer<BookUpdate>,
        strategy: S,
        view: MarketView,
        timer: Option<HopTimer>,
    ) -> Self {
        StrategyRunner {
            name: name.into(),
            monitor: consumer.monitor(),
            consumer,
            strategy,
            view,
            stats: RunnerStats::default(),
            timer,
            now: 0,
            wall: WallAnchor::default(),
            finished: false,
        }
    }

    /// The strategy (e.g. to read its results after the run).
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// The counters so far.
    pub fn stats(&self) -> RunnerStats {
        self.stats
    }

    /// Drains one batch; returns the updates delivered.
    #[inline]
    pub fn poll(&mut self) -> usize {
        let mut d = Drain {
            strategy: &mut self.strategy,
            view: &self.view,
            stats: &mut self.stats,
            timer: self.timer.as_mut(),
            monitor: &self.monitor,
            now: &mut self.now,
            first: true,
            wall_due: self.view.time == TimeSource::Wall,
            wall: &mut self.wall,
            last: 0,
        };
        let n = self.consumer.poll_with(&mut d);
        let last = d.last;
        if n > 0 {
            if let Some(t) = self.timer.as_mut() {
                t.rec.tick(if last != 0 { last } else { t.clock.now() });
            }
        }
        n
    }

    /// Runs `on_finish` once (the pipeline calls it after the ring is drained).
    pub fn finish_strategy(&mut self) {
        if !self.finished {
            self.finished = true;
            let ctx = Context::new(&self.view, self.now, 0, true);
            self.strategy.on_finish(&ctx);
        }
    }
}

impl<S: Strategy> Agent for StrategyRunner<S> {
    fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn do_work(&mut self, _now: Nanos) -> usize {
        self.poll()
    }

    /// Done when the producer is gone and everything published has been read.
    fn is_done(&self) -> bool {
        self.consumer.is_finished()
    }

    fn on_close(&mut self) {
        // Whatever the producer published before it closed is still ours to read.
        while self.poll() > 0 {}
        self.finish_strategy();
    }
}

/// What a runner leaves at the end of a run.
#[derive(Debug)]
pub struct Finished {
    /// The strategy's name.
    pub name: String,
    /// Its counters.
    pub stats: RunnerStats,
    /// Its own figures ([`Strategy::report`]).
    pub figures: Figures,
    /// The strategy itself, to downcast to its type.
    pub strategy: Box<dyn Any + Send>,
    /// Its hop latency's last partial interval.
    pub latency: Option<Box<StageRecorder>>,
}

/// A type-erased runner: an agent that can be finished into its results.
pub trait Runner: Agent + Send {
    /// Ends the runner: `on_finish` if not yet run, its figures, the strategy back.
    fn finish(self: Box<Self>) -> Finished;
    /// The counters so far.
    fn runner_stats(&self) -> RunnerStats;
}

impl<S: Strategy> Runner for StrategyRunner<S> {
    fn finish(mut self: Box<Self>) -> Finished {
        self.finish_strategy();
        let mut figures = Figures::default();
        self.strategy.report(&mut figures);
        let latency = self.timer.map(|t| t.rec.finish(t.clock.now()));
        Finished {
            name: self.name,
            stats: self.stats,
            figures,
            strategy: Box::new(self.strategy),
            latency,
        }
    }

    fn runner_stats(&self) -> RunnerStats {
        self.stats
    }
}

/// Several runners sharing one thread: each duty cycle drains one batch of each, in order.
pub struct RunnerGroup {
    name: String,
    runners: Vec<Box<dyn Runner>>,
}

impl core::fmt::Debug for RunnerGroup {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut l = f.debug_list();
        for r in &self.runners {
            l.entry(&r.name());
        }
        l.finish()
    }
}

impl RunnerGroup {
    /// Groups `runners` under `name`.
    pub fn new(name: impl Into<String>, runners: Vec<Box<dyn Runner>>) -> Self {
        RunnerGroup {
            name: name.into(),
            runners,
        }
    }

    /// The runners, finished, in order.
    pub fn finish(self) -> Vec<Finished> {
        self.runners.into_iter().map(|r| r.finish()).collect()
    }

    /// The runners.
    pub fn runners(&self) -> &[Box<dyn Runner>] {
        &self.runners
    }
}

impl Agent for RunnerGroup {
    fn name(&self) -> &str {
        &self.name
    }
    #[inline]
    fn do_work(&mut self, now: Nanos) -> usize {
        let mut n = 0;
        for r in &mut self.runners {
            n += r.do_work(now);
        }
        n
    }
    fn is_done(&self) -> bool {
        self.runners.iter().all(|r| r.is_done())
    }
    fn on_start(&mut self) {
        self.runners.iter_mut().for_each(|r| r.on_start());
    }
    fn on_close(&mut self) {
        self.runners.iter_mut().for_each(|r| r.on_close());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ring::{ring, Policy, RingConfig};
    use crate::topbook::top_book;

    fn view(time: TimeSource) -> MarketView {
        let (_w, top) = top_book(4);
        MarketView {
            top,
            symbols: SymbolDirectory::new(4),
            time,
        }
    }

    /// Records what the callbacks saw.
    #[derive(Debug, Default)]
    struct Recorder {
        seqs: Vec<u64>,
        times: Vec<u64>,
        ends: Vec<u64>,
        batch_ends: u32,
        missed: Vec<u64>,
        finished: u32,
    }

    impl Strategy for Recorder {
        fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
            assert_eq!(u.seq, ctx.ring_seq() * 10);
            self.seqs.push(ctx.ring_seq());
            self.times.push(ctx.now());
            if ctx.end_of_batch() {
                self.ends.push(ctx.ring_seq());
            }
        }
        fn on_batch_end(&mut self, _: &Context<'_>) {
            self.batch_ends += 1;
        }
        fn on_missed(&mut self, count: u64, _: &Context<'_>) {
            self.missed.push(count);
        }
        fn on_finish(&mut self, _: &Context<'_>) {
            self.finished += 1;
        }
        fn report(&self, out: &mut Figures) {
            out.count("seen", self.seqs.len() as u64);
        }
    }

    fn update(i: u64) -> BookUpdate {
        BookUpdate {
            seq: i * 10,
            recv_ts: 1000 + i,
            ..BookUpdate::default()
        }
    }

    #[test]
    fn runner_delivers_batches_with_capture_time_and_hands_the_strategy_back() {
        let (mut p, mut cs) = ring::<BookUpdate>(RingConfig::new(8, 1, Policy::NoLoss)).unwrap();
        let c = cs.pop().unwrap();
        let mut r = StrategyRunner::new(
            "rec",
            c,
            Recorder::default(),
            view(TimeSource::Capture),
            None,
        );
        for i in 0..3 {
            *p.claim() = update(i);
        }
        p.publish();
        assert_eq!(r.do_work(0), 3);
        *p.claim() = update(3);
        p.publish();
        drop(p);
        assert_eq!(r.do_work(0), 1);
        assert!(r.is_done());
        let f = Box::new(r).finish();
        assert_eq!((f.stats.delivered, f.stats.batches), (4, 2));
        assert_eq!(f.figures.get("seen"), Some(&Figure::Count(4)));
        let rec = f.strategy.downcast::<Recorder>().unwrap();
        assert_eq!(rec.seqs, [0, 1, 2, 3]);
        assert_eq!(rec.times, [1000, 1001, 1002, 1003]);
        assert_eq!(rec.ends, [2, 3]);
        assert_eq!(rec.batch_ends, 2);
        assert_eq!(rec.finished, 1);
        assert!(rec.missed.is_empty());
    }

    #[test]
    fn a_lapped_strategy_is_told_before_the_gap() {
        let (mut p, mut cs) = ring::<BookUpdate>(RingConfig::new(4, 1, Policy::NeverWait)).unwrap();
        let c = cs.pop().unwrap();
        let mut r = StrategyRunner::new(
            "rec",
            c,
            Recorder::default(),
            view(TimeSource::Capture),
            None,
        );
        for i in 0..10 {
            p.push(update(i));
        }
        // 10 published, ring of 4: resync to 10 - 4/2 = 8, so 0..8 are missed.
        assert_eq!(r.poll(), 2);
        assert_eq!(r.strategy().missed, [8]);
        assert_eq!(r.strategy().seqs, [8, 9]);
        assert_eq!(r.stats().missed, 8);
    }

    #[test]
    fn a_closure_is_a_strategy_and_sees_symbols_and_top_of_book() {
        let (mut w, top) = top_book(4);
        let symbols = SymbolDirectory::new(4);
        symbols.set(2, b"AAPL    ");
        w.set(
            2,
            &Bbo {
                bid_price: 100,
                bid_shares: 5,
                ask_price: 101,
                ask_shares: 7,
                seq: 1,
                exch_ts: 9,
            },
        );
        let v = MarketView {
            top,
            symbols,
            time: TimeSource::Capture,
        };
        let (mut p, mut cs) = ring::<BookUpdate>(RingConfig::new(8, 1, Policy::NoLoss)).unwrap();
        let mut seen = Vec::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let strat = move |u: &BookUpdate, ctx: &Context<'_>| {
            let s = ctx.symbol(u.instrument).map(|s| s.to_string());
            let b = ctx.top(u.instrument).map(|b| b.bid_price);
            let _ = tx.send((s, b));
        };
        let mut r = StrategyRunner::new("c", cs.pop().unwrap(), strat, v, None);
        *p.claim() = BookUpdate {
            instrument: 2,
            ..BookUpdate::default()
        };
        *p.claim() = BookUpdate {
            instrument: 3,
            ..BookUpdate::default()
        };
        p.publish();
        r.poll();
        seen.extend(rx.try_iter());
        assert_eq!(seen, [(Some("AAPL".to_string()), Some(100)), (None, None)]);
    }
}
