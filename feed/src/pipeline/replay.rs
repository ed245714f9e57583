//! The replay source: a capture (or several, in order, as one stream: [`replay_captures`])
//! read on one thread into the engine, as fast as possible or paced on the capture's
//! timestamps, with tail latency per stage (and in-process pacing).
//!
//! ```text
//!  capture record ─(--speed: wait for its deadline)─► t0 ─ frame → UDP payload
//!     │ behind_schedule = t0 − deadline                 t1 ─ Engine::on_datagram into Holding
//!     │                                                 t2 ─ held updates → the replay's sink
//!     ▼                                                 t3
//!  decode = t1 − t0, book = t2 − t1, publish = t3 − t2, end_to_end = t3 − t0
//! ```
//!
//! Everything is measured on the replay's own clock (fh's latency [`Clock`]): processing time
//! per stage of each datagram (one record of a bare ITCH file, where `decode` is the
//! message's length/type check). With `--speed X` the replay is paced against the capture's
//! timestamps ([`fh_replay::pace`], the wire sender's absolute deadlines: sleep, then spin) and
//! `behind_schedule` is how late each datagram was handed over against its deadline.
//!
//! ## Stage boundaries
//! - One raw [`Clock::ticks`] reading per boundary per datagram (three per datagram, none per
//!   message); the end of one stage is the start of the next, and unpaced, the end of one
//!   datagram (`t3`) is the start (`t0`) of the next: `decode` then covers reading the capture
//!   record(s) since the previous datagram too (a non-UDP record skipped in between counts in
//!   the next datagram's `decode`). A fresh `t0` is read at the start, at the start of each
//!   sampling burst, after each batch is recorded (every [`STAMP_BATCH`] datagrams), after a
//!   progress report, and paced. Readings are plain `rdtsc` (no fences): the CPU may move one
//!   by a few tens of cycles against the work around it, which is the error of every stage
//!   value (a few ns; values out of order record as 0).
//!   Ticks are converted to ns only when the batch is recorded ([`Stamps`]), not per reading.
//!   Paced, `t0` is read just after the wait (`behind_schedule` uses the wait's reading).
//! - `decode` covers the shell's part: frame → UDP payload ([`fh_replay::frame`]). The
//!   transport framing (MoldUDP64 / IEX-TP header and block lengths) is checked once, by the
//!   engine (it takes bytes, not a parsed packet), so it is counted in `book` with the
//!   messages' decode and the book changes, which the engine interleaves. (Checking it a
//!   second time in the shell, as the first version did, cost ~3.5 M instructions per 200 k
//!   messages under callgrind, more than the rest of the stamps.)
//! - `publish`: to time it apart from the book, the engine publishes into [`Holding`], which
//!   keeps the datagram's updates (and BBO changes, in order) in buffers allocated at start-up;
//!   they are then handed to the real sink. A datagram with more updates than the buffer holds
//!   hands the first ones over early (counted in [`Held::early_flushes`]; their publish time
//!   then falls into `book`).
//! - `--stamp-every N` ([`Stamps::every`]; default [`crate::latency::DEFAULT_STAMP_EVERY`]):
//!   1 datagram in N is timed, in bursts of [`STAMP_BURST`] (32) consecutive datagrams at the
//!   start of every `32 × N` (deterministic: [`timed_datagrams`] says how many); the others
//!   go to the engine straight into the sink, through the same engine code `--no-latency`
//!   runs, with no clock reading at all (a burst's first datagram reads a fresh `t0`). Every
//!   stage then has about 1/N of the datagrams' values, and the table's title says so.
//! - Cost (issue 6, target < 5 %): `benches/replay_latency.rs` replays 1 M generated messages
//!   in every mode in turn (interleaved rounds) and prints each mode's median CPU time against
//!   the untimed replay. Timing every datagram costs ~8-11 % here: three `rdtsc` (~11 ns each
//!   on this VM) plus the held-update hand-over on ~400 ns of work per datagram; the histogram
//!   records are a small part (values under 2 µs are counted exactly in a
//!   [`crate::latency::Precount`] and added at interval hand-over). Sampling in bursts matters
//!   as much as the ratio: a datagram timed alone between untimed ones cost ~100-150 ns (cold
//!   held buffers and counters, mispredicted transitions, a fourth reading for its `t0`) where
//!   one in a burst costs ~35 ns; and with bursts the untimed datagrams can run the plain
//!   engine (one sink type for both kinds, as before, cost every datagram a branch per
//!   update and the engine its `--no-latency` inlining). Measured figures: the module docs of
//!   `benches/replay_latency.rs`.
//!
//! ## Invariants
//! - No allocation, no lock, no syscall in the timed loop (the `no_alloc` test replays a
//!   capture through [`replay_timed`] under a counting allocator); pacing sleeps by design.
//! - The same loop runs with and without stamps (a const parameter), so `--no-latency`
//!   measures exactly what the stamps cost (`benches/replay_latency.rs`).
//! - The sink sees the same updates in the same order whether or not stamps are taken, so
//!   digests are unchanged.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fh_replay::capture::{itch_timestamp_ns, BlockWalker, Capture, Kind, Later};
use fh_replay::frame::{self, FrameStats};
use fh_replay::pace::{self, Schedule};

use super::PipelineError;
use crate::engine::levels::Bbo;
use crate::engine::{DatagramMeta, Engine, UpdateSink};
use crate::latency::{Clock, IntervalRecorder, Precount, Stage};
use crate::update::{BookUpdate, InstrumentId};

/// Updates (and BBO changes) [`Holding`] keeps per datagram before handing them over: 4096
/// updates (256 KiB) cover a full 64 KiB MoldUDP64 datagram of the shortest book messages.
pub const HELD_UPDATES: usize = 4096;

/// A BBO change held with the number of updates published before it (to keep the order).
#[derive(Clone, Copy, Debug)]
struct HeldBbo {
    after: usize,
    exch_ts: u64,
    instrument: InstrumentId,
    symbol: [u8; 8],
    bbo: Bbo,
}

/// The buffers of [`Holding`], allocated at start-up.
#[derive(Debug)]
pub struct Held {
    /// Slots for the held updates (filled up to `n`; a fixed slice: a push is one bounds check
    /// and one 64-byte copy).
    updates: Box<[BookUpdate]>,
    n: usize,
    bbos: Vec<HeldBbo>,
    cap: usize,
    /// Times a datagram's updates overflowed the buffers and were handed over early.
    pub early_flushes: u64,
}

impl Held {
    /// Buffers for `cap` updates and `cap` BBO changes.
    pub fn new(cap: usize) -> Held {
        let cap = cap.max(1);
        Held {
            updates: vec![BookUpdate::default(); cap].into_boxed_slice(),
            n: 0,
            bbos: Vec::with_capacity(cap),
            cap,
            early_flushes: 0,
        }
    }

    /// The buffer is full: hands it over early (counted), then holds `u`.
    #[cold]
    #[inline(never)]
    fn overflow<S: UpdateSink>(&mut self, sink: &mut S, u: &BookUpdate) {
        self.early_flushes += 1;
        self.drain_into(sink);
        if let Some(slot) = self.updates.get_mut(0) {
            *slot = *u;
            self.n = 1;
        }
    }

    /// Hands everything held to `sink`, in the order the engine published it.
    #[inline]
    pub fn drain_into<S: UpdateSink>(&mut self, sink: &mut S) {
        let updates = &self.updates[..self.n];
        if S::WANTS_BBO && !self.bbos.is_empty() {
            let mut next = 0;
            for b in &self.bbos {
                for u in &updates[next..b.after] {
                    sink.publish(u);
                }
                next = b.after;
                sink.bbo_changed(b.exch_ts, b.instrument, &b.symbol, &b.bbo);
            }
            for u in &updates[next..] {
                sink.publish(u);
            }
            self.bbos.clear();
        } else {
            for u in updates {
                sink.publish(u);
            }
        }
        self.n = 0;
    }
}

/// The engine's sink on a timed datagram: keeps its updates in [`Held`] until the `publish`
/// stage hands them to `sink`. (Untimed datagrams publish straight into `sink`, through the
/// very engine code `--no-latency` runs.)
#[derive(Debug)]
pub struct Holding<'h, S> {
    /// The buffers.
    pub held: &'h mut Held,
    /// Where the updates go.
    pub sink: &'h mut S,
}

impl<S: UpdateSink> UpdateSink for Holding<'_, S> {
    const WANTS_BBO: bool = S::WANTS_BBO;
    const WANTS_ORDERS: bool = S::WANTS_ORDERS;

    /// Order-level events are not held: they go straight to the sink (before the held book
    /// updates of the same datagram, as the engine emits them).
    #[inline]
    fn order_event(&mut self, e: &crate::update::OrderEvent) {
        self.sink.order_event(e);
    }

    #[inline(always)]
    fn publish(&mut self, u: &BookUpdate) {
        let h = &mut *self.held;
        if let Some(slot) = h.updates.get_mut(h.n) {
            *slot = *u;
            h.n += 1;
        } else {
            h.overflow(self.sink, u);
        }
    }

    #[inline]
    fn bbo_changed(&mut self, exch_ts: u64, instrument: InstrumentId, symbol: &[u8; 8], bbo: &Bbo) {
        if self.held.bbos.len() == self.held.cap {
            self.held.early_flushes += 1;
            self.held.drain_into(self.sink);
        }
        let after = self.held.n;
        self.held.bbos.push(HeldBbo {
            after,
            exch_ts,
            instrument,
            symbol: *symbol,
            bbo: *bbo,
        });
    }

    /// The held updates reach the real sink in the publish stage, which then ends the
    /// datagram there ([`Timed`]).
    #[inline(always)]
    fn datagram_end(&mut self) {}
}

/// Consecutive datagrams timed together when `--stamp-every N` samples (N > 1): one burst of
/// this many in every `N ×` this many datagrams, so 1 datagram in N is timed on average. A
/// burst keeps the timed path's buffers, counters and branch history warm from one datagram
/// to the next and reuses each `t3` as the next `t0` (three readings a datagram, not four);
/// single datagrams timed 1 in 8 each paid for a cold start (~100-150 ns against ~35 ns).
pub const STAMP_BURST: u32 = 32;

/// How many of the first `datagrams` datagrams `--stamp-every every` times (bursts of
/// [`STAMP_BURST`] at the start of every `every × STAMP_BURST`).
pub fn timed_datagrams(datagrams: u64, every: u32) -> u64 {
    let burst = u64::from(STAMP_BURST);
    let cycle = burst * u64::from(every.max(1));
    datagrams / cycle * burst + (datagrams % cycle).min(burst)
}

/// Datagrams whose four timestamps [`Stamps`] keeps before recording them in one go.
pub const STAMP_BATCH: usize = 256;

/// [`Stamps`] has no reading to reuse as the next `t0`.
const NO_READING: u64 = 0;

/// Longest time timestamps wait in the batch (paced replays are slow: intervals stay exact).
const STAMP_FLUSH_NS: u64 = 1_000_000;

/// Stage timestamps of one replay thread: the clock, its interval recorder, the held updates,
/// and a batch of per-datagram timestamps not yet recorded.
///
/// Recording is deferred: the hot loop stores each datagram's `t0..t3` (32 bytes, sequential)
/// and every [`STAMP_BATCH`] datagrams (or 1 ms) the batch goes into the histograms in one
/// tight loop, so their counters are touched while they are in cache instead of after the
/// engine has evicted them (five scattered histogram updates per datagram between book
/// changes cost several times more). Only then is the interval clock ticked, so every value
/// lands in the interval of its flush.
#[derive(Debug)]
pub struct Stamps {
    clock: Clock,
    rec: IntervalRecorder,
    /// The publish-stage buffers.
    pub held: Held,
    /// Raw [`Clock::ticks`] readings `t0..t3` of the datagrams not yet recorded.
    batch: Box<[[u64; 4]]>,
    n: usize,
    /// Tick by which the batch is recorded ([`STAMP_FLUSH_NS`] after its first datagram).
    flush_by: u64,
    /// [`STAMP_FLUSH_NS`] in ticks.
    flush_ticks: u64,
    /// `--stamp-every N`: the per-stage breakdown on 1 datagram in `every`.
    every: u32,
    /// Timed datagrams left in the current burst (0: between bursts).
    burst_left: u32,
    /// Untimed datagrams left before the next burst (u64: `(N - 1) × 32` for any `u32` N).
    countdown: u64,
    /// `t3` of the previous datagram, the next one's `t0` when they follow each other
    /// unpaced ([`NO_READING`] after a batch record, a progress report or at the start).
    last_end: u64,
    /// Small values counted exactly, added to `rec` before each interval hand-over.
    pre: Precount,
}

impl Stamps {
    /// Stamps on `clock` recorded into `rec` (allocates the held buffers and the batch now).
    pub fn new(clock: Clock, rec: IntervalRecorder) -> Stamps {
        let rec_config = rec.active().config();
        Stamps {
            clock,
            rec,
            held: Held::new(HELD_UPDATES),
            batch: vec![[0u64; 4]; STAMP_BATCH].into_boxed_slice(),
            n: 0,
            flush_by: 0,
            flush_ticks: clock.ns_to_ticks(STAMP_FLUSH_NS),
            every: 1,
            burst_left: STAMP_BURST,
            countdown: 0,
            last_end: NO_READING,
            pre: Precount::new(rec_config),
        }
    }

    /// After [`Stamps::push`]: if the batch was just recorded (and an interval perhaps
    /// collected), that work is no datagram's: the next `t0` is a fresh reading.
    #[inline(always)]
    fn after_flush(&mut self) {
        if self.n == 0 {
            self.last_end = NO_READING;
        }
    }

    /// Times 1 datagram in `n` on average: bursts of [`STAMP_BURST`] consecutive datagrams,
    /// one burst at the start of every `n × STAMP_BURST` (deterministic: datagrams 1-32,
    /// 257-288, … for `n` = 8; see [`timed_datagrams`]); the others go straight to the sink
    /// with no reading. 1: every datagram.
    pub fn every(mut self, n: u32) -> Stamps {
        self.every = n.max(1);
        self.burst_left = STAMP_BURST;
        self.countdown = 0;
        self
    }

    /// Whether the next datagram is timed (no state change).
    #[inline(always)]
    fn next_timed(&self) -> bool {
        self.burst_left > 0
    }

    /// Takes the next datagram's turn: whether it is timed.
    #[inline(always)]
    fn take_turn(&mut self) -> bool {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            if self.burst_left == 0 {
                self.countdown = u64::from(self.every - 1) * u64::from(STAMP_BURST);
                if self.countdown == 0 {
                    self.burst_left = STAMP_BURST;
                }
            }
            true
        } else {
            self.countdown -= 1;
            if self.countdown == 0 {
                self.burst_left = STAMP_BURST;
            }
            false
        }
    }

    /// The `--stamp-every` value in force.
    pub fn stamp_every(&self) -> u32 {
        self.every
    }

    /// Keeps one datagram's raw readings ([`Clock::ticks`]); records the batch when it is
    /// full or 1 ms old. Returns whether an interval was handed over (the caller collects it).
    #[inline(always)]
    fn push(&mut self, t: [u64; 4]) -> bool {
        if self.n == 0 {
            self.flush_by = t[3].saturating_add(self.flush_ticks);
        }
        if let Some(slot) = self.batch.get_mut(self.n) {
            *slot = t;
            self.n += 1;
        }
        if self.n < self.batch.len() && t[3] < self.flush_by {
            return false;
        }
        self.flush();
        let now = self.clock.ticks_to_ns(t[3]);
        if self.rec.due(now) {
            self.pre.settle(&mut self.rec);
        }
        self.rec.tick(now)
    }

    /// Records the batch: decode, book, publish, end_to_end of each datagram, each span
    /// converted from ticks to ns here (one multiply per span), not at each reading, and
    /// counted by [`Precount`] when small (one increment instead of a histogram record).
    #[inline(never)]
    fn flush(&mut self) {
        let (pre, rec) = (&mut self.pre, &mut self.rec);
        let clock = self.clock;
        for t in &self.batch[..self.n] {
            pre.record(rec, Stage::Decode, clock.span_ns(t[0], t[1]));
            pre.record(rec, Stage::Book, clock.span_ns(t[1], t[2]));
            pre.record(rec, Stage::Publish, clock.span_ns(t[2], t[3]));
            pre.record(rec, Stage::EndToEnd, clock.span_ns(t[0], t[3]));
        }
        self.n = 0;
    }

    /// The recorder (its active interval; a batch and small values may still be pending:
    /// see [`Stamps::recorded`]).
    pub fn recorder(&self) -> &IntervalRecorder {
        &self.rec
    }

    /// Values of `stage` recorded so far in the current interval (in the histogram or held
    /// as exact small counts; not those still in the batch).
    pub fn recorded(&self, stage: Stage) -> u64 {
        self.rec.active().histogram(stage).len() + self.pre.pending_of(stage)
    }

    /// Ends recording: records what is pending and returns the last, partial interval.
    pub fn finish(mut self) -> Box<crate::latency::StageRecorder> {
        self.flush();
        self.pre.settle(&mut self.rec);
        let now = self.clock.now();
        self.rec.finish(now)
    }
}

/// In-process pacing: a schedule from the capture's timestamps, on `clock`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The clock the deadlines are on.
    pub clock: Clock,
    /// `Some` with `--speed`.
    pub schedule: Option<Schedule>,
    /// How long before a deadline to stop sleeping and spin.
    pub spin: Duration,
}

impl Pace {
    /// No pacing (as fast as possible).
    pub fn off(clock: Clock) -> Pace {
        Pace {
            clock,
            schedule: None,
            spin: pace::DEFAULT_SPIN,
        }
    }

    /// `speed` times the capture's rate, the first record due now.
    pub fn speed(clock: Clock, speed: f64) -> Pace {
        Pace {
            clock,
            schedule: Some(Schedule::new(speed, clock.now())),
            spin: pace::DEFAULT_SPIN,
        }
    }

    /// Waits for the deadline of a record captured at `ts_ns` (sleeping in slices of at most
    /// [`PACE_SLICE`] so that `stop` is noticed); returns the deadline and the reading at or
    /// after it, `None` unpaced.
    #[inline(always)]
    fn wait(&mut self, ts_ns: u64, stop: &AtomicBool) -> Option<(u64, u64)> {
        self.schedule.as_ref()?;
        self.wait_paced(ts_ns, stop)
    }

    #[inline(never)]
    fn wait_paced(&mut self, ts_ns: u64, stop: &AtomicBool) -> Option<(u64, u64)> {
        let s = self.schedule.as_mut()?;
        let dl = s.deadline(ts_ns);
        let clock = self.clock;
        let slice = PACE_SLICE.as_nanos() as u64;
        while dl.saturating_sub(clock.now()) > slice && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(PACE_SLICE);
        }
        if stop.load(Ordering::Relaxed) {
            return Some((dl, clock.now()));
        }
        Some((dl, pace::wait_until(dl, self.spin, || clock.now())))
    }
}

/// Longest sleep of a paced replay between looks at its stop flag.
pub const PACE_SLICE: Duration = Duration::from_millis(20);

/// One unit of a capture handed to the engine.
#[derive(Clone, Copy, Debug)]
pub enum Unit<'a> {
    /// A UDP payload (pcap, pcapng): [`Engine::on_datagram`].
    Datagram(&'a [u8]),
    /// A message of a bare ITCH file: [`Engine::on_itch_stream_message_own_ts`] (its `ts` is
    /// its own timestamp, read by the engine as it parses the message).
    ItchMessage(&'a [u8]),
}

impl Unit<'_> {
    /// Hands the unit to the engine: `ts` (the capture time) as `recv_ts`, `now` as the
    /// updates' `engine_ts` (the read time on fh's clock for a timed datagram, 0 otherwise;
    /// neither is part of the digest, so replays stay deterministic).
    #[inline(always)]
    pub fn apply<K: UpdateSink>(self, engine: &mut Engine, now: u64, ts: u64, sink: &mut K) {
        let meta = DatagramMeta { recv_ts: ts };
        match self {
            Unit::Datagram(p) => engine.on_datagram(now, &meta, p, sink),
            Unit::ItchMessage(m) => engine.on_itch_stream_message_own_ts(now, m, sink),
        }
    }
}

/// What the replay loop does around each unit: nothing ([`Untimed`]) or stage timestamps
/// ([`Timed`]). Static dispatch: the untimed loop carries no trace of the timed one.
pub trait Timing {
    /// Called once the unit's record is in hand (after pacing: `waited` is the deadline and
    /// the clock reading at or after it). Returns `t0`.
    fn start(&mut self, waited: Option<(u64, u64)>) -> u64;

    /// The loop did something that is no datagram's processing (a progress report): the next
    /// `t0` must be a fresh reading.
    #[inline(always)]
    fn gap(&mut self) {}

    /// Decode check, engine, publish of `at.unit`, starting at `at.t0`.
    fn unit<S: UpdateSink>(&mut self, e: &mut Engine, s: &mut S, at: At<'_>) -> UnitResult;
}

/// What [`Timing::unit`] returns: an error only from collecting a latency interval.
pub type UnitResult = Result<(), PipelineError>;

/// A unit as the replay loop hands it over: its capture time and the loop's `t0` reading.
#[derive(Clone, Copy, Debug)]
pub struct At<'a> {
    /// The unit.
    pub unit: Unit<'a>,
    /// Its capture time, ns since the epoch.
    pub ts: u64,
    /// [`Timing::start`]'s reading.
    pub t0: u64,
}

/// No stamps: the engine publishes straight into the sink.
#[derive(Clone, Copy, Debug, Default)]
pub struct Untimed;

impl Timing for Untimed {
    #[inline(always)]
    fn start(&mut self, _waited: Option<(u64, u64)>) -> u64 {
        0
    }

    #[inline(always)]
    fn unit<S: UpdateSink>(&mut self, e: &mut Engine, s: &mut S, at: At<'_>) -> UnitResult {
        at.unit.apply(e, 0, at.ts, s);
        Ok(())
    }
}

/// Stage timestamps into `stamps`; `on_interval` is called when the recorder has handed an
/// `--interval` over (single-threaded replay: the caller collects it there and then).
#[derive(Debug)]
pub struct Timed<'a, F> {
    /// Clock, recorder, held updates.
    pub stamps: &'a mut Stamps,
    /// Collects a finished interval (`LatencyRun::poll`).
    pub on_interval: F,
}

impl<F: FnMut() -> Result<(), PipelineError>> Timing for Timed<'_, F> {
    #[inline(always)]
    fn start(&mut self, waited: Option<(u64, u64)>) -> u64 {
        let st = &mut *self.stamps;
        if let Some((deadline, t)) = waited {
            st.rec.record_span(Stage::BehindSchedule, deadline, t);
            return st.clock.ticks();
        }
        if !st.next_timed() {
            // Not sampled: no reading at all (the unit does not use `t0`).
            return NO_READING;
        }
        match st.last_end {
            NO_READING => st.clock.ticks(),
            t => t,
        }
    }

    #[inline(always)]
    fn gap(&mut self) {
        self.stamps.last_end = NO_READING;
    }

    #[inline(always)]
    fn unit<S: UpdateSink>(&mut self, engine: &mut Engine, sink: &mut S, at: At<'_>) -> UnitResult {
        let At { unit, ts, t0 } = at;
        let st = &mut *self.stamps;
        if !st.take_turn() {
            // Not sampled (`--stamp-every`): straight to the sink, as `--no-latency` does, no
            // reading; the next sampled datagram reads a fresh `t0`.
            st.last_end = NO_READING;
            unit.apply(engine, 0, ts, sink);
            return Ok(());
        }
        let t1 = st.clock.ticks();
        unit.apply(
            engine,
            st.clock.ticks_to_ns(t0).max(1),
            ts,
            &mut Holding {
                held: &mut st.held,
                sink,
            },
        );
        let t2 = st.clock.ticks();
        st.held.drain_into(sink);
        sink.datagram_end();
        let t3 = st.clock.ticks();
        st.last_end = t3;
        if st.push([t0, t1, t2, t3]) {
            (self.on_interval)()?;
        }
        st.after_flush();
        Ok(())
    }
}

/// What the replay loop saw of the file (of all the files, for [`replay_captures`]).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ShellStats {
    /// Records (pcap packets or ITCH-file messages).
    pub records: u64,
    /// Frames → datagrams.
    #[serde(skip)]
    pub frames: FrameStats,
    /// The file ended inside its last record (every complete record was read).
    pub truncated: bool,
    /// Where and how it was cut (the warning: the offset and the reader's words).
    #[serde(skip)]
    pub truncation: Option<(u64, fh_replay::capture::ErrorKind)>,
    /// The replay was stopped before the end of the file.
    pub interrupted: bool,
}

impl ShellStats {
    /// Adds the figures of the next file.
    pub fn add(&mut self, o: &ShellStats) {
        self.records += o.records;
        self.frames.add(&o.frames);
        self.truncated |= o.truncated;
        self.truncation = self.truncation.or(o.truncation);
        self.interrupted |= o.interrupted;
    }
}

impl ShellStats {
    /// The next record of the walk: `Ok(None)` ends it (the file was cut inside its last
    /// record, or `stop` was set: both noted), an error is fatal.
    #[inline(always)]
    fn take<T>(
        &mut self,
        r: Result<T, fh_replay::capture::Error>,
        stop: &AtomicBool,
    ) -> Result<Option<T>, PipelineError> {
        let r = match r {
            Ok(r) => r,
            Err(e) if e.is_truncation() => {
                self.truncated = true;
                self.truncation = Some((e.offset, e.kind));
                return Ok(None);
            }
            Err(e) => return Err(PipelineError::new(e)),
        };
        if stop.load(Ordering::Relaxed) {
            self.interrupted = true;
            return Ok(None);
        }
        self.records += 1;
        Ok(Some(r))
    }
}

/// Replays a whole capture into `engine` on one thread, paced by `pace`, with `timing` around
/// every unit, until the file ends or `stop` is set. `progress` is called now and then with
/// the fraction done (0.0–1.0).
pub fn replay_timed<S: UpdateSink, T: Timing>(
    cap: &Capture,
    engine: &mut Engine,
    sink: &mut S,
    pace: &mut Pace,
    timing: &mut T,
    stop: &AtomicBool,
    mut progress: impl FnMut(f64),
) -> Result<ShellStats, PipelineError> {
    let mut st = ShellStats::default();
    let total = cap.bytes().len().max(1) as f64;
    // A paced replay hands on what its sink collected before it waits for the next unit.
    let paced = pace.schedule.is_some();
    match cap.kind() {
        Kind::Pcap | Kind::Pcapng => {
            let records = cap.records().map_err(PipelineError::new)?;
            for r in records {
                let Some(r) = st.take(r, stop)? else { break };
                if st.records & 0xFFFF == 0 {
                    progress(r.offset as f64 / total);
                    timing.gap();
                }
                let waited = if paced {
                    sink.idle();
                    pace.wait(r.ts_ns, stop)
                } else {
                    None
                };
                let t0 = timing.start(waited);
                let Some(d) = st.frames.count(frame::udp_payload(r.link, r.data)) else {
                    continue;
                };
                let at = At {
                    unit: Unit::Datagram(d.payload),
                    ts: r.ts_ns,
                    t0,
                };
                timing.unit(engine, sink, at)?;
            }
        }
        Kind::Itch | Kind::ItchGz => {
            let mut msgs = cap.itch_messages().map_err(PipelineError::new)?;
            // The messages come in blocks of `ITCH_PREFETCH_AHEAD`, each framed (and the
            // order slot of each of its messages asked for) a block before it is applied (a
            // bare ITCH file has no packets to prefetch from).
            const AHEAD: usize = ITCH_PREFETCH_AHEAD as usize;
            let mut walker = ItchWalk::<_, _, _, false, false> {
                engine,
                sink,
                pace,
                timing,
                stop,
                st: &mut st,
                progress: &mut progress,
                total,
                shown: 0,
            };
            // The walk goes on in the path the live orders call for (a paced replay, which
            // waits between messages, keeps the small one), resumed after each switch.
            let mut large = false;
            let walked = loop {
                let r = match (paced, large) {
                    (true, _) => walker.walk::<false, true, AHEAD>(&mut msgs),
                    (false, false) => walker.walk::<false, false, AHEAD>(&mut msgs),
                    (false, true) => walker.walk::<true, false, AHEAD>(&mut msgs),
                };
                match r {
                    Ok(Some(ItchStop::Switch)) => large = !large,
                    Ok(Some(ItchStop::End(r))) => break Ok(Some(r)),
                    Ok(None) => break Ok(None),
                    Err(e) => break Err(e),
                }
            };
            st.records = msgs.yielded();
            match walked {
                Ok(None | Some(Ok(()))) => {}
                Ok(Some(Err(e))) => return Err(e),
                Err(e) if e.is_truncation() => {
                    st.truncated = true;
                    st.truncation = Some((e.offset, e.kind));
                }
                Err(e) => return Err(PipelineError::new(e)),
            }
        }
    }
    progress(1.0);
    Ok(st)
}

/// [`replay_timed`]'s loop over a bare ITCH file: the messages applied, `stop` looked at
/// before the first message and every 4096 after it (microseconds apart), the progress every
/// 2^20, both at block boundaries. Two paths, each its own loop, so that neither tests
/// which it is per message: below [`ITCH_LEVEL_PREFETCH_ORDERS`] live orders (`LARGE`
/// false) the order slot of each message is asked for a block ahead, as the block is framed;
/// from there on each message's instrument and level are prefetched in two stages too
/// ([`Engine::prefetch_itch_ahead`], with the message `later` than the one applied). The
/// live orders are counted every 4096 messages: where the path no longer fits, the walk
/// breaks with [`ItchStop::Switch`] before that message and goes on in the other path.
/// `PACED`: a paced replay (each message waits for its deadline).
struct ItchWalk<'r, S, T, P, const LARGE: bool, const PACED: bool> {
    engine: &'r mut Engine,
    sink: &'r mut S,
    pace: &'r mut Pace,
    timing: &'r mut T,
    stop: &'r AtomicBool,
    st: &'r mut ShellStats,
    progress: &'r mut P,
    /// The file's length (for the progress).
    total: f64,
    /// Messages shown to [`Engine::prefetch_itch_ahead`] (its stages' clock).
    shown: u64,
}

/// Why an [`ItchWalk`] broke off.
enum ItchStop {
    /// The other path fits the live orders now: the walk goes on in it from the same message.
    Switch,
    /// The replay ends: stopped (`Ok`) or failed.
    End(Result<(), PipelineError>),
}

impl<S: UpdateSink, T: Timing, P: FnMut(f64), const LARGE: bool, const PACED: bool>
    ItchWalk<'_, S, T, P, LARGE, PACED>
{
    /// Walks `msgs` on from where they are in the path `L`, `Q`, in blocks of `K`, until the
    /// end, a stop, an error or a switch.
    #[inline(always)]
    fn walk<const L: bool, const Q: bool, const K: usize>(
        &mut self,
        msgs: &mut fh_replay::capture::ItchMessages<'_>,
    ) -> Result<Option<ItchStop>, fh_replay::capture::Error> {
        let mut w = ItchWalk::<'_, S, T, P, L, Q> {
            engine: &mut *self.engine,
            sink: &mut *self.sink,
            pace: &mut *self.pace,
            timing: &mut *self.timing,
            stop: self.stop,
            st: &mut *self.st,
            progress: &mut *self.progress,
            total: self.total,
            shown: self.shown,
        };
        let r = msgs.walk_blocks::<K, _>(&mut w);
        self.shown = w.shown;
        r
    }
}

impl<S: UpdateSink, T: Timing, P: FnMut(f64), const LARGE: bool, const PACED: bool> BlockWalker
    for ItchWalk<'_, S, T, P, LARGE, PACED>
{
    type Break = ItchStop;

    #[inline(always)]
    fn ahead(&mut self) -> impl FnMut(&[u8]) {
        let p = self.engine.itch_prefetcher();
        move |m| {
            if !LARGE {
                p.message(m);
            }
        }
    }

    #[inline(always)]
    fn boundary(&mut self, index: u64, offset: u64) -> ControlFlow<Self::Break> {
        // Blocks start at multiples of their length: every multiple of 4096 is a boundary.
        const { assert!(0x1000 % ITCH_PREFETCH_AHEAD == 0) };
        if index & 0xFFF == 0 {
            // Looked at first: after a switch the walk resumes with this boundary.
            let large = self.engine.itch().orders.len() >= ITCH_LEVEL_PREFETCH_ORDERS;
            if !PACED && large != LARGE {
                return ControlFlow::Break(ItchStop::Switch);
            }
            if self.stop.load(Ordering::Relaxed) {
                self.st.interrupted = true;
                return ControlFlow::Break(ItchStop::End(Ok(())));
            }
            if index & 0xF_FFFF == 0 {
                (self.progress)(offset as f64 / self.total);
                self.timing.gap();
            }
        }
        ControlFlow::Continue(())
    }

    #[inline(always)]
    fn message(&mut self, m: &[u8], later: Later<'_>) -> ControlFlow<Self::Break> {
        if LARGE {
            self.engine.prefetch_itch_ahead(self.shown, later.get());
            self.shown += 1;
        }
        let ts = || itch_timestamp_ns(m).unwrap_or(0);
        let waited = if PACED {
            self.sink.idle();
            self.pace.wait(ts(), self.stop)
        } else {
            None
        };
        let t0 = self.timing.start(waited);
        // Read here, not before the pacing: where nothing uses it (a sink that only counts) it
        // is not read at all.
        let at = At {
            unit: Unit::ItchMessage(m),
            ts: ts(),
            t0,
        };
        match self.timing.unit(self.engine, self.sink, at) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(ItchStop::End(Err(e))),
        }
    }
}

/// Replays `caps` in order into one `engine`, as one stream ([`replay_timed`] file after
/// file: the engine's sequencing, books and ITCH stream numbering go on from one to the next,
/// and so do the pacing schedule and the stamps). A file cut inside its last record is a
/// warning (its stats say where) and the next file follows; a stop ends the whole replay.
/// `progress` sees the fraction of the files done. Returns the figures of each file.
#[allow(clippy::too_many_arguments)]
pub fn replay_captures<S: UpdateSink, T: Timing>(
    caps: &[Capture],
    engine: &mut Engine,
    sink: &mut S,
    pace: &mut Pace,
    timing: &mut T,
    stop: &AtomicBool,
    mut progress: impl FnMut(f64),
) -> Result<Vec<ShellStats>, PipelineError> {
    let n = caps.len().max(1) as f64;
    let mut out = Vec::with_capacity(caps.len());
    for (i, cap) in caps.iter().enumerate() {
        let st = replay_timed(cap, engine, sink, pace, timing, stop, |f| {
            progress((i as f64 + f) / n)
        })?;
        out.push(st);
        if st.interrupted {
            break;
        }
    }
    Ok(out)
}

/// How many messages ahead of the one being applied an ITCH-file replay prefetches, at least
/// (but in a walk's first block; a MoldUDP64 packet gets the same from the engine, for its own messages, during the framing
/// check): [`fh_replay::capture::ItchMessages::walk_blocks`] frames the messages in blocks of
/// this many, each (and the order slot of each of its messages asked for) a block before it is
/// applied. A bare ITCH file has no packets, so without it every order-store miss of a large
/// day is met cold: on a generated 8 000-symbol day of 10 M messages `fh replay` ran 10.3 M
/// msg/s without it and 14.0 with it (100 symbols: 23.7 and 23.9).
pub const ITCH_PREFETCH_AHEAD: u32 = 8;

/// From how many live ITCH orders on an ITCH-file replay also prefetches each message's
/// instrument and price level ([`Engine::prefetch_itch_ahead`]), not only its order slot
/// ([`Engine::prefetch_itch_message`]). Below it the books of a stream are small enough to
/// stay in the core's caches (a few hundred active symbols), where the second stage would
/// cost its instructions and save no miss; above it they are spread over thousands of books
/// whose levels miss.
pub const ITCH_LEVEL_PREFETCH_ORDERS: usize = 1 << 14;

/// The engine side of a replay: its sink type decides what runs, the loop is the same.
struct ReplayRun<'a> {
    caps: &'a [Capture],
    pace: Pace,
    stamps: Option<&'a mut Stamps>,
    stop: &'a AtomicBool,
    progress: &'a mut dyn FnMut(f64),
}

impl ReplayRun<'_> {
    fn go<S: UpdateSink>(
        &mut self,
        engine: &mut Engine,
        lat: &mut crate::latency::LatencyRun,
        sink: &mut S,
    ) -> Result<Vec<ShellStats>, PipelineError> {
        let progress = &mut *self.progress;
        match self.stamps.as_deref_mut() {
            Some(stamps) => {
                let mut t = Timed {
                    stamps,
                    on_interval: || {
                        lat.poll()
                            .map(|_| ())
                            .map_err(|e| PipelineError::new(e.to_string()))
                    },
                };
                replay_captures(
                    self.caps,
                    engine,
                    sink,
                    &mut self.pace,
                    &mut t,
                    self.stop,
                    progress,
                )
            }
            None => replay_captures(
                self.caps,
                engine,
                sink,
                &mut self.pace,
                &mut Untimed,
                self.stop,
                progress,
            ),
        }
    }
}

/// Runs a replay pipeline (see [`super::Pipeline::run`]).
pub(super) fn run(mut p: super::Pipeline) -> Result<super::RunOutcome, PipelineError> {
    use super::record::Recording;
    use super::report::{self as rep, RunReport};
    use super::sink::{BboCsv, NoBbo, PublishSink, RingOutlet, Step};
    use super::tap::TapOutlet;
    use super::{Pacing, Runners, Source, Threading};
    use crate::strategy::{HopTimer, MarketView, RunnerGroup, TimeSource};
    use std::time::Instant;

    let mut recorders = std::mem::take(&mut p.recorders);

    let Source::Replay { path, pacing } = &p.source else {
        unreachable!("replay::run on a replay source")
    };
    let pacing = *pacing;
    let paths: Vec<std::path::PathBuf> = std::iter::once(path.clone())
        .chain(p.more_files.iter().cloned())
        .collect();
    let source = paths
        .iter()
        .map(|p| fh_replay::capture::display_path(p).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let stop_flag = super::stop_flag(&p.stop);
    let stop: &AtomicBool = &stop_flag;
    let mut lat = crate::latency::LatencyRun::start(&p.latency)?;
    let clock = lat.clock();
    // Every file is opened (and its kind checked) before the replay starts.
    let caps = paths
        .iter()
        .map(Capture::open)
        .collect::<Result<Vec<_>, _>>()
        .map_err(PipelineError::new)?;
    let bbo_file = match &p.bbo_csv {
        Some(out) => Some(super::output::Output::create(out)?),
        None => None,
    };
    let mut engine = Engine::new(&p.engine);
    for t in recorders.iter_mut() {
        t.start(engine.directory());
    }
    let mut stamps = lat
        .enabled()
        .then(|| Stamps::new(clock, lat.recorder()).every(p.latency.stamp_every));
    let pace = match pacing {
        Pacing::Speed(x) => Pace::speed(clock, x),
        _ => Pace::off(clock),
    };
    let mut progress = p.progress.unwrap_or_else(|| Box::new(|_| {}));
    let n = p.strategies.len();
    if n == 0 && p.ring_memory.is_some() {
        return Err(PipelineError::new(
            "ring slots in outside memory need at least one strategy (a ring)",
        ));
    }
    let threading = if n == 0 { "single" } else { p.threading.name() };
    let engine_core = super::pin_current(p.engine_core);
    let start = Instant::now();
    let cpu0 = super::thread_cpu_ns();
    let mut report = RunReport {
        schema: rep::SCHEMA,
        mode: "replay",
        source: source.clone(),
        threading,
        pacing: Some(match pacing {
            Pacing::AsFast => "fast".to_string(),
            Pacing::Speed(x) => format!("speed {x}"),
            Pacing::Step { every_ns } => format!("step {every_ns} ns"),
        }),
        ..RunReport::default()
    };
    let mut finished = Vec::new();
    let mut lasts = Vec::new();
    let st;
    let tally;
    let mut run = ReplayRun {
        caps: &caps,
        pace,
        stamps: stamps.as_mut(),
        stop,
        progress: &mut *progress,
    };
    let tap = p.tap;
    if n == 0 {
        // Recorders (the exports) see the engine's calls ahead of the replay's own sink.
        macro_rules! go {
            ($sink:expr) => {
                if recorders.is_empty() {
                    run.go(&mut engine, &mut lat, $sink)?
                } else {
                    let mut t = Recording {
                        inner: $sink,
                        recorders: &mut recorders,
                    };
                    run.go(&mut engine, &mut lat, &mut t)?
                }
            };
        }
        match (bbo_file, tap) {
            (None, None) if p.digest => {
                let mut sink = PublishSink::new(true, NoBbo, ());
                st = go!(&mut sink);
                tally = sink.tally;
            }
            (None, None) => {
                // Nothing reads the updates but the tally's counts: a sink that says so at
                // compile time (`PublishSink::counting`).
                let mut sink = PublishSink::counting(NoBbo, ());
                st = go!(&mut sink);
                tally = sink.tally;
            }
            (None, Some(tap)) if p.digest => {
                let outlet = TapOutlet::new((), Some(tap), engine.directory());
                let mut sink = PublishSink::new(true, NoBbo, outlet);
                st = go!(&mut sink);
                tally = sink.tally;
                report.taps.extend(sink.outlet.finish().1);
            }
            (None, Some(tap)) => {
                // No digest: a sink that says so at compile time, so that the engine builds
                // each update straight into the tap's window (no copy on the stack for a
                // digest call that never happens).
                let outlet = TapOutlet::new((), Some(tap), engine.directory());
                let mut sink = PublishSink::counting(NoBbo, outlet);
                st = go!(&mut sink);
                tally = sink.tally;
                report.taps.extend(sink.outlet.finish().1);
            }
            (Some(mut out), tap) => {
                let w = BboCsv::new(out.writer()).map_err(|e| out.error(e))?;
                let outlet = TapOutlet::new((), tap, engine.directory());
                let mut sink = PublishSink::new(p.digest, w, outlet);
                st = go!(&mut sink);
                tally = sink.tally;
                report.taps.extend(sink.outlet.finish().1);
                let rows = sink.bbo.rows;
                sink.bbo.finish().map_err(|e| out.error(e))?;
                report.bbo_csv = Some(rep::OutputReport {
                    path: out.path().display().to_string(),
                    rows,
                });
                out.commit()?;
            }
        }
        report.engine_cpu_s = super::thread_cpu_ns()
            .zip(cpu0)
            .map(|(a, b)| (a - b) as f64 / 1e9);
    } else {
        let (producer, consumers) = super::make_ring(p.ring, p.ring_memory.as_ref(), n)?;
        let (writer, top) = crate::topbook::top_book(super::TOP_INSTRUMENTS);
        let view = MarketView {
            top,
            symbols: engine.directory().clone(),
            time: TimeSource::Capture,
        };
        let on = lat.enabled();
        let runners = Runners::build(p.strategies, consumers, &view, |name| {
            on.then(|| HopTimer {
                clock,
                rec: lat.recorder_for(name),
                kernel_arrival: false,
            })
        });
        let shared = p.threading == Threading::Shared;
        let mono = crate::agent::MonotonicClock::new();
        let mut handles = Vec::new();
        let mut shared_group = Vec::new();
        let mut thread_of = Vec::new();
        for (name, core, rs) in runners.threads {
            if shared {
                for r in rs {
                    thread_of.push(("engine".to_string(), engine_core));
                    shared_group.push(r);
                }
                continue;
            }
            let k = rs.len();
            let cfg = crate::agent::ThreadConfig {
                name: Some(name.clone()),
                core,
                idle: p.ring.idle.idle(),
            };
            let h = crate::agent::spawn(RunnerGroup::new(name.clone(), rs), cfg, mono)
                .map_err(|e| PipelineError::new(format!("cannot start thread {name}: {e}")))?;
            for _ in 0..k {
                thread_of.push((name.clone(), h.pinned_core()));
            }
            handles.push(h);
        }
        let step = match pacing {
            Pacing::Step { every_ns } => Some(Step::new(every_ns)),
            _ => None,
        };
        let group = shared.then(|| RunnerGroup::new("engine", shared_group));
        let outlet = RingOutlet::new(producer, writer, group, step);
        let outlet = TapOutlet::new(outlet, tap, engine.directory());
        let mut sink = PublishSink::new(p.digest, NoBbo, outlet);
        let res = run.go(&mut engine, &mut lat, &mut sink);
        let (outlet, tap_report) = sink.outlet.finish();
        report.taps.extend(tap_report);
        let producer_done = start.elapsed();
        report.engine_cpu_s = super::thread_cpu_ns()
            .zip(cpu0)
            .map(|(a, b)| (a - b) as f64 / 1e9);
        tally = sink.tally;
        let ostats = outlet.stats;
        let (_, pstats, group) = outlet.close();
        if let Some(mut g) = group {
            use crate::agent::Agent;
            g.on_close();
            finished.extend(g.finish());
        }
        for h in handles {
            let g = h.join().map_err(PipelineError::new)?;
            finished.extend(g.finish());
        }
        st = res?;
        report.ring = Some(super::ring_report(
            &p.ring,
            pstats,
            ostats,
            engine_core,
            producer_done.as_secs_f64(),
        ));
        report.strategies = super::strategy_reports(&mut finished, thread_of, &mut lasts);
    }
    report.interrupted = st.iter().any(|s| s.interrupted);
    for t in recorders.iter_mut() {
        report.exports.extend(t.finish(report.interrupted)?);
    }
    report.elapsed_s = start.elapsed().as_secs_f64();
    report.peak_rss_bytes = super::peak_rss_bytes();
    report.capture = Some(capture_report(&caps, &st));
    report.engine = engine.stats();
    report.updates = rep::UpdatesReport::of(&tally.by_kind, tally.stale);
    report.digest = p.digest.then(|| format!("{:016x}", tally.digest.value()));
    report.books = rep::book_depths(&engine, p.report_books, p.report_depth);
    if let Some(stamps) = stamps {
        let mut notes = Vec::new();
        if let Pacing::Speed(x) = pacing {
            notes.push(format!(
                "paced: --speed {x} (each datagram due at its capture time / {x}; behind_schedule: how late it was handed to the engine)"
            ));
        }
        if stamps.held.early_flushes > 0 {
            notes.push(format!(
                "latency notes: {} early hand-overs of held updates (their publish time counted in book)",
                stamps.held.early_flushes
            ));
        }
        let every = stamps.stamp_every();
        lasts.insert(0, (None, stamps.finish()));
        let title = if every > 1 {
            format!(
                "fh replay {source}: processing time per stage on the replay's clock, 1 datagram in {every} timed, in bursts of {STAMP_BURST} (--stamp-every {every})"
            )
        } else {
            format!("fh replay {source}: processing time per stage on the replay's clock")
        };
        let totals = lat.finish_quiet(lasts, &title)?;
        report.latency = Some(rep::LatencyReport {
            title,
            clock: totals.clock_line,
            stages: totals.stages,
            notes,
        });
    }
    Ok(super::RunOutcome::from_finished(report, finished))
}

/// The capture part of a replay's report: each file's figures (`files`, as many as were
/// read) and their sum; a file cut inside its last record gives a warning line naming it and the
/// offset.
fn capture_report(caps: &[Capture], files: &[ShellStats]) -> super::report::CaptureReport {
    use super::report::{CaptureFile, CaptureReport};
    let mut all = ShellStats::default();
    let mut out = Vec::with_capacity(files.len());
    let mut warnings = Vec::new();
    for (i, cap) in caps.iter().enumerate() {
        // Files after a stop were not read: their figures are zero.
        let st = &files.get(i).copied().unwrap_or_default();
        all.add(st);
        out.push(CaptureFile {
            path: fh_replay::capture::display_path(cap.path()).into_owned(),
            kind: cap.kind_name(),
            records: st.records,
            udp_datagrams: st.frames.udp,
            skipped_frames: st.frames.skipped(),
            truncated: st.truncated,
        });
        if let Some((offset, kind)) = st.truncation {
            let e = fh_replay::capture::Error {
                path: cap.path().to_path_buf(),
                offset,
                kind,
            };
            warnings.push(e.to_string());
        }
    }
    let mut kinds: Vec<&str> = Vec::new();
    for f in &out {
        if !kinds.contains(&f.kind) {
            kinds.push(f.kind);
        }
    }
    CaptureReport {
        kind: kinds.join("+"),
        framed: caps
            .iter()
            .any(|c| matches!(c.kind(), Kind::Pcap | Kind::Pcapng)),
        records: all.records,
        udp_datagrams: all.frames.udp,
        skipped_frames: all.frames.skipped(),
        truncated: all.truncated,
        warnings,
        files: out,
    }
}

/// What a decode-only pass found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DecodeOnly {
    /// Records read.
    pub records: u64,
    /// Messages by type byte.
    #[serde(skip)]
    pub types: [u64; 256],
    /// Messages decoded.
    pub messages: u64,
    /// Malformed packets and messages.
    pub malformed: u64,
    /// The file ends inside its last record.
    pub truncated: bool,
    /// Stopped before the end.
    pub interrupted: bool,
    /// Wall time, seconds.
    pub elapsed_s: f64,
    /// CPU time of the thread, seconds.
    pub cpu_s: Option<f64>,
}

/// A speed baseline: frames, framing and message views only, counted by type; no sequencing
/// state, no books.
pub fn decode_only(
    cap: &Capture,
    stop: &AtomicBool,
    mut progress: impl FnMut(f64),
) -> Result<DecodeOnly, PipelineError> {
    use fh_decoders::{deep, iextp, itch50, moldudp64};
    let start = std::time::Instant::now();
    let cpu0 = super::thread_cpu_ns();
    let mut out = DecodeOnly {
        records: 0,
        types: [0; 256],
        messages: 0,
        malformed: 0,
        truncated: false,
        interrupted: false,
        elapsed_s: 0.0,
        cpu_s: None,
    };
    let (types, bad) = (&mut out.types, &mut out.malformed);
    let mut on_payload = |p: &[u8]| {
        if crate::engine::is_iextp(p) {
            match iextp::Segment::parse(p) {
                Ok(s) => {
                    for (_, b) in s.blocks() {
                        match deep::Message::parse(b) {
                            Ok(_) => types[usize::from(b[0])] += 1,
                            Err(_) => *bad += 1,
                        }
                    }
                }
                Err(_) => *bad += 1,
            }
        } else {
            match moldudp64::Packet::parse(p) {
                Ok(moldudp64::Packet::Data(d)) => {
                    for (_, b) in d.blocks() {
                        match itch50::Message::parse(b) {
                            Ok(m) => {
                                types[usize::from(fh_decoders::fields::Fields::type_byte(&m))] += 1
                            }
                            Err(_) => *bad += 1,
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => *bad += 1,
            }
        }
    };
    let total = cap.bytes().len().max(1) as f64;
    let mut st = ShellStats::default();
    match cap.kind() {
        Kind::Pcap | Kind::Pcapng => {
            for r in cap.records().map_err(PipelineError::new)? {
                let Some(r) = st.take(r, stop)? else { break };
                if st.records & 0xFFFF == 0 {
                    progress(r.offset as f64 / total);
                }
                if let Ok(d) = frame::udp_payload(r.link, r.data) {
                    on_payload(d.payload);
                }
            }
        }
        Kind::Itch | Kind::ItchGz => {
            let mut msgs = cap.itch_messages().map_err(PipelineError::new)?;
            // The messages are read in this loop (not through a closure), so that the framing,
            // the view and the count are one loop body. `stop` is looked at before the first
            // message and every 4096 after it (microseconds apart), the progress every 2^20.
            while let Some(m) = msgs.next_message() {
                let m = match m {
                    Ok(m) => m,
                    Err(e) if e.is_truncation() => {
                        st.truncated = true;
                        st.truncation = Some((e.offset, e.kind));
                        break;
                    }
                    Err(e) => return Err(PipelineError::new(e)),
                };
                if st.records & 0xFFF == 0 {
                    if stop.load(Ordering::Relaxed) {
                        st.interrupted = true;
                        break;
                    }
                    if st.records & 0xF_FFFF == 0 {
                        progress(m.offset as f64 / total);
                    }
                }
                st.records += 1;
                match itch50::Message::parse(m.data) {
                    Ok(_) => types[usize::from(m.data[0])] += 1,
                    Err(_) => *bad += 1,
                }
            }
        }
    }
    (out.records, out.truncated, out.interrupted) = (st.records, st.truncated, st.interrupted);
    progress(1.0);
    out.messages = out.types.iter().sum();
    out.elapsed_s = start.elapsed().as_secs_f64();
    out.cpu_s = super::thread_cpu_ns()
        .zip(cpu0)
        .map(|(a, b)| (a - b) as f64 / 1e9);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare ITCH file's decode-only pass counts every whole message by type, a malformed
    /// one apart, and notes the cut last message; a stop set before the pass reads nothing.
    #[test]
    fn decode_only_counts_an_itch_file_by_type() {
        let mut system = vec![b'S', 0, 0, 0, 0];
        system.extend_from_slice(&[0, 0, 0, 0, 0, 1, b'O']);
        let mut add = vec![b'A', 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        add.extend_from_slice(&7u64.to_be_bytes());
        add.push(b'B');
        add.extend_from_slice(&100u32.to_be_bytes());
        add.extend_from_slice(b"FH      ");
        add.extend_from_slice(&1_0000u32.to_be_bytes());
        let mut file = Vec::new();
        for m in [&system[..], &add[..], &add[..], &add[..5]] {
            file.extend_from_slice(&(m.len() as u16).to_be_bytes());
            file.extend_from_slice(m);
        }
        file.extend_from_slice(&[0, 36, b'A']);
        let path = std::env::temp_dir().join(format!("fh-decode-only-{}.itch", std::process::id()));
        std::fs::write(&path, &file).unwrap();
        let cap = Capture::open_kind(&path, Some(Kind::Itch)).unwrap();
        let out = decode_only(&cap, &AtomicBool::new(false), |_| {}).unwrap();
        let stopped = decode_only(&cap, &AtomicBool::new(true), |_| {}).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((out.records, out.messages, out.malformed), (4, 3, 1));
        assert_eq!(
            (out.types[usize::from(b'S')], out.types[usize::from(b'A')]),
            (1, 2)
        );
        assert!(out.truncated && !out.interrupted);
        assert_eq!((stopped.records, stopped.messages), (0, 0));
        assert!(stopped.interrupted);
    }

    /// A bare ITCH file whose live orders climb past [`ITCH_LEVEL_PREFETCH_ORDERS`], fall back
    /// below it and climb again is walked in both prefetch paths, switching at 4096-message
    /// boundaries: every update is the one the engine gives for each message applied on its own,
    /// none lost or repeated at a switch, and the counts agree.
    #[test]
    fn an_itch_file_replays_alike_across_the_switches_of_its_prefetch_path() {
        use crate::engine::EngineConfig;
        use crate::update::BookUpdate;
        fn push(file: &mut Vec<u8>, t: u8, locate: u16, ts: u64, body: &[u8]) {
            let len = 11 + body.len();
            file.extend_from_slice(&(len as u16).to_be_bytes());
            file.push(t);
            file.extend_from_slice(&locate.to_be_bytes());
            file.extend_from_slice(&[0, 0]);
            file.extend_from_slice(&ts.to_be_bytes()[2..]);
            file.extend_from_slice(body);
        }
        let mut file = Vec::new();
        let (mut ts, mut next_ref) = (1_000u64, 1u64);
        let mut cycle = |file: &mut Vec<u8>, orders: u64| {
            let mut live = Vec::new();
            for i in 0..orders {
                ts += 10;
                let (r, locate) = (next_ref, 1 + (i % 7) as u16);
                next_ref += 1;
                let mut b = r.to_be_bytes().to_vec();
                b.push(if i % 2 == 0 { b'B' } else { b'S' });
                b.extend_from_slice(&100u32.to_be_bytes());
                b.extend_from_slice(b"FH      ");
                let tick = (i % 40) as u32 * 100;
                let price = if i % 2 == 0 {
                    100_0000 - tick
                } else {
                    100_0100 + tick
                };
                b.extend_from_slice(&price.to_be_bytes());
                push(file, b'A', locate, ts, &b);
                live.push((r, locate));
            }
            for (k, &(r, locate)) in live.iter().enumerate() {
                ts += 10;
                if k % 5 == 0 {
                    let mut b = r.to_be_bytes().to_vec();
                    b.extend_from_slice(&30u32.to_be_bytes());
                    b.extend_from_slice(&(k as u64).to_be_bytes());
                    push(file, b'E', locate, ts, &b);
                }
                if k % 3 == 0 {
                    // Replaced, then the new reference deleted.
                    let mut b = r.to_be_bytes().to_vec();
                    b.extend_from_slice(&next_ref.to_be_bytes());
                    b.extend_from_slice(&50u32.to_be_bytes());
                    b.extend_from_slice(&99_9900u32.to_be_bytes());
                    push(file, b'U', locate, ts, &b);
                    push(file, b'D', locate, ts, &next_ref.to_be_bytes());
                    next_ref += 1;
                } else {
                    push(file, b'D', locate, ts, &r.to_be_bytes());
                }
            }
        };
        let n = ITCH_LEVEL_PREFETCH_ORDERS as u64 + 6_000;
        cycle(&mut file, n);
        cycle(&mut file, n);
        let path = std::env::temp_dir().join(format!("fh-walk-switch-{}.itch", std::process::id()));
        std::fs::write(&path, &file).unwrap();
        let cap = Capture::open_kind(&path, Some(Kind::Itch)).unwrap();
        std::fs::remove_file(&path).unwrap();

        let cfg = EngineConfig::default();
        let mut walked = Engine::new(&cfg);
        let mut got = Vec::new();
        let st = replay_timed(
            &cap,
            &mut walked,
            &mut |u: &BookUpdate| got.push(*u),
            &mut Pace::off(Clock::monotonic_raw()),
            &mut Untimed,
            &AtomicBool::new(false),
            |_| {},
        )
        .unwrap();

        // One message at a time, noting the live orders where the walk looks at them.
        let mut single = Engine::new(&cfg);
        let mut want = Vec::new();
        let mut msgs = cap.itch_messages().unwrap();
        let (mut i, mut path_seen) = (0u64, Vec::new());
        while let Some(m) = msgs.next_message() {
            let m = m.unwrap().data;
            if i % 0x1000 == 0 {
                let large = single.itch().orders.len() >= ITCH_LEVEL_PREFETCH_ORDERS;
                if path_seen.last() != Some(&large) {
                    path_seen.push(large);
                }
            }
            single.on_itch_stream_message_own_ts(0, m, &mut |u: &BookUpdate| want.push(*u));
            i += 1;
        }
        assert_eq!(
            path_seen,
            [false, true, false, true, false],
            "the file's paths"
        );
        assert_eq!(st.records, i);
        assert_eq!(got.len(), want.len());
        assert!(
            got == want,
            "the walk's updates differ from the message-by-message ones"
        );
        assert_eq!(
            format!("{:?}", walked.stats()),
            format!("{:?}", single.stats())
        );
        assert_eq!(walked.itch().anomalies.unknown_ref, 0);
        assert_eq!(walked.itch().orders.len(), 0);
    }

    /// An empty datagram at capture time 1, read at `t0`.
    fn at(t0: u64) -> At<'static> {
        At {
            unit: Unit::Datagram(&[0u8; 3]),
            ts: 1,
            t0,
        }
    }

    fn upd(i: u64) -> BookUpdate {
        BookUpdate {
            seq: i,
            ..BookUpdate::default()
        }
    }

    #[derive(Default)]
    struct Log(Vec<String>);

    impl UpdateSink for Log {
        const WANTS_BBO: bool = true;
        fn publish(&mut self, u: &BookUpdate) {
            self.0.push(format!("u{}", u.seq));
        }
        fn bbo_changed(&mut self, exch_ts: u64, _: InstrumentId, _: &[u8; 8], _: &Bbo) {
            self.0.push(format!("b{exch_ts}"));
        }
    }

    #[test]
    fn holding_keeps_the_order_of_updates_and_bbo_changes() {
        let mut held = Held::new(8);
        let mut log = Log::default();
        let mut h = Holding {
            held: &mut held,
            sink: &mut log,
        };
        h.bbo_changed(1, 0, b"A       ", &Bbo::default());
        h.publish(&upd(1));
        h.publish(&upd(2));
        h.bbo_changed(2, 0, b"A       ", &Bbo::default());
        h.publish(&upd(3));
        assert!(
            log.0.is_empty(),
            "nothing handed over before the publish stage"
        );
        held.drain_into(&mut log);
        assert_eq!(log.0, ["b1", "u1", "u2", "b2", "u3"]);
        assert!(held.n == 0 && held.bbos.is_empty());
    }

    #[test]
    fn batched_stamps_record_every_datagram_once_in_its_stage() {
        use crate::latency::{interval_pair, HistConfig};
        // Raw readings are ns on this clock, so the spans are exact.
        let clock = Clock::monotonic_raw();
        let (rec, _col) = interval_pair(HistConfig::default(), 0, u64::MAX / 2);
        let mut st = Stamps::new(clock, rec);
        let n = STAMP_BATCH as u64 * 3 + 17;
        for i in 0..n {
            let t0 = 1_000 + i * 10;
            st.push([t0, t0 + 1, t0 + 3, t0 + 6]);
        }
        // Three full batches recorded, 17 pending.
        assert_eq!(st.recorded(Stage::Book), n - 17);
        // A datagram 1 ms after the batch's first one records the batch at once.
        let late = 1_000 + n * 10 + STAMP_FLUSH_NS;
        st.push([late, late + 1, late + 3, late + 6]);
        assert_eq!(st.recorded(Stage::Book), n + 1);
        st.push([late, late + 1, late + 3, late + 6]);
        let r = st.finish();
        for (stage, v) in [
            (Stage::Decode, 1),
            (Stage::Book, 2),
            (Stage::Publish, 3),
            (Stage::EndToEnd, 6),
        ] {
            let h = r.histogram(stage);
            assert_eq!((h.len(), h.min(), h.max()), (n + 2, v, v), "{stage:?}");
        }
    }

    #[test]
    fn stamp_every_n_times_bursts_of_1_in_n_datagrams_and_reads_no_clock_on_the_others() {
        use crate::engine::EngineConfig;
        use crate::latency::{interval_pair, HistConfig};
        let clock = *Clock::global();
        let burst = u64::from(STAMP_BURST);
        for every in [1u32, 2, 4] {
            let (rec, _col) = interval_pair(HistConfig::default(), 0, u64::MAX / 2);
            let mut stamps = Stamps::new(clock, rec).every(every);
            let mut engine = Engine::new(&EngineConfig::default());
            let mut log = Log::default();
            let mut t = Timed {
                stamps: &mut stamps,
                on_interval: || Ok(()),
            };
            let n = burst * 9 + 5;
            let mut timed = 0;
            for i in 0..n {
                let t0 = t.start(None);
                // Datagrams 0..burst of every cycle of `every × burst` are sampled: only
                // they read the clock.
                let sampled = i % (burst * u64::from(every)) < burst;
                assert_eq!(t0 != NO_READING, sampled, "every {every}, datagram {i}");
                timed += u64::from(sampled);
                t.unit(&mut engine, &mut log, at(t0)).unwrap();
            }
            assert_eq!(
                engine.stats.datagrams, n,
                "every datagram reaches the engine"
            );
            assert_eq!(timed_datagrams(n, every), timed, "every {every}");
            let r = stamps.finish();
            for stage in [Stage::Decode, Stage::Book, Stage::Publish, Stage::EndToEnd] {
                assert_eq!(r.histogram(stage).len(), timed, "{stage:?}");
            }
        }
        // 1 in 8 of a long run, bursts included.
        assert_eq!(timed_datagrams(11_549, 8), 45 * 32 + 29);
        assert_eq!(timed_datagrams(256 * 1000, 8), 32 * 1000);
    }

    #[test]
    fn back_to_back_datagrams_reuse_the_last_reading_until_a_gap_or_a_batch_record() {
        use crate::engine::EngineConfig;
        use crate::latency::{interval_pair, HistConfig};
        let (rec, _col) = interval_pair(HistConfig::default(), 0, u64::MAX / 2);
        let mut stamps = Stamps::new(*Clock::global(), rec);
        let mut engine = Engine::new(&EngineConfig::default());
        let mut log = Log::default();
        let mut t = Timed {
            stamps: &mut stamps,
            on_interval: || Ok(()),
        };
        let mut t0 = t.start(None);
        for i in 0..STAMP_BATCH {
            t.unit(&mut engine, &mut log, at(t0)).unwrap();
            let next = t.start(None);
            if i + 1 < STAMP_BATCH {
                assert_eq!(next, t.stamps.batch[i][3], "t0 of {} is t3 of {i}", i + 1);
            } else {
                // The batch was just recorded: a fresh reading, after the last t3.
                assert_eq!(t.stamps.n, 0);
                assert_eq!(t.stamps.last_end, NO_READING);
            }
            t0 = next;
        }
        t.unit(&mut engine, &mut log, at(t0)).unwrap();
        assert_ne!(t.stamps.last_end, NO_READING);
        t.gap();
        assert_eq!(t.stamps.last_end, NO_READING);
    }

    #[test]
    fn holding_hands_over_early_when_full_and_counts_it() {
        let mut held = Held::new(2);
        let mut log = Log::default();
        let mut h = Holding {
            held: &mut held,
            sink: &mut log,
        };
        for i in 1..=5 {
            h.publish(&upd(i));
        }
        assert_eq!(log.0, ["u1", "u2", "u3", "u4"]);
        assert_eq!(held.early_flushes, 2);
        held.drain_into(&mut log);
        assert_eq!(log.0.len(), 5);
    }
}
