//! The live pipeline's agents after the receiver: the engine agent (receive ring → engine →
//! publication ring) and the strategy that reads the publication ring, measures latency and
//! digests the updates; plus the floor agent of the benchmark.
//!
//! ```text
//!  RxAgent ─► rx ring ─► EngineAgent: Engine::on_datagram(now, kernel ts, slot bytes)
//!                              │ RingSink: claim a slot, write the update in place,
//!                              │           publish at each LAST_IN_EVENT (event boundary)
//!                              ▼
//!                        publication ring (no-loss) ─► StrategyAgent<LiveStrategy>
//!                                                        consume / end_to_end latency, digest
//! ```
//!
//! ## Invariants
//! - The engine is the one `fh replay` runs: same `on_datagram`, the kernel receive timestamp
//!   as the datagram's receive time, so the digest of a live run equals the replay's.
//! - Duty cycles allocate nothing; counters reach other threads through `Relaxed` atomics.
//! - Shutdown is ordered: the engine agent is done once the receiver has stopped
//!   ([`EngineAgent::upstream_done`]) and its ring is drained; dropping it drops the
//!   publication producer, after which the strategy drains and is done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::agent::{Agent, Nanos};
use crate::engine::digest::Digest;
use crate::engine::seq::SeqStats;
use crate::engine::{DatagramMeta, Engine, UpdateSink};
use crate::latency::{Clock, IntervalRecorder, Stage, StageRecorder};
use crate::ring::Producer;
use crate::strategy::Strategy;
use crate::update::{flags, BookUpdate};

use super::{RxAgent, RxConsumer};

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
    /// The counters of `e`, with the update counts of its sink.
    pub fn of(e: &Engine, updates: u64, stale: u64) -> Self {
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
pub struct SharedSeq([AtomicU64; SEQ_FIELDS]);

impl SharedSeq {
    /// Publishes `c` (engine thread).
    pub fn store(&self, c: SeqCounters) {
        for (a, v) in self.0.iter().zip(c.to_array()) {
            a.store(v, Ordering::Relaxed);
        }
    }

    /// The last published counters.
    pub fn load(&self) -> SeqCounters {
        SeqCounters::from_array(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

/// The engine's update sink: each update written in place into a publication-ring slot,
/// published at event boundaries.
struct RingSink<'a> {
    out: &'a mut Producer<BookUpdate>,
    updates: &'a mut u64,
    stale: &'a mut u64,
}

impl UpdateSink for RingSink<'_> {
    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        *self.out.claim() = *u;
        if u.flags & flags::LAST_IN_EVENT != 0 {
            self.out.publish();
        }
        *self.updates += 1;
        *self.stale += u64::from(u.flags & flags::STALE != 0);
    }
}

/// The engine agent: decodes each datagram in place in its receive-ring slot.
#[derive(Debug)]
pub struct EngineAgent {
    rx: RxConsumer,
    engine: Engine,
    out: Producer<BookUpdate>,
    clock: Clock,
    rec: Option<IntervalRecorder>,
    shared: Arc<SharedSeq>,
    upstream_done: Arc<AtomicBool>,
    updates: u64,
    stale: u64,
}

impl EngineAgent {
    /// An engine agent reading `rx`, publishing to `out`; `rec` records the `receive` stage.
    pub fn new(
        rx: RxConsumer,
        engine: Engine,
        out: Producer<BookUpdate>,
        clock: Clock,
        rec: Option<IntervalRecorder>,
    ) -> Self {
        EngineAgent {
            rx,
            engine,
            out,
            clock,
            rec,
            shared: Arc::new(SharedSeq::default()),
            upstream_done: Arc::new(AtomicBool::new(false)),
            updates: 0,
            stale: 0,
        }
    }

    /// Counters for the stats line.
    pub fn shared(&self) -> Arc<SharedSeq> {
        self.shared.clone()
    }

    /// Set (Release) once the receive agent has stopped: the engine agent is then done when
    /// its ring is drained.
    pub fn upstream_done(&self) -> Arc<AtomicBool> {
        self.upstream_done.clone()
    }

    /// The final counters and the recorder's last interval; drops the publication producer.
    pub fn finish(self) -> (SeqCounters, Option<Box<StageRecorder>>) {
        let c = SeqCounters::of(&self.engine, self.updates, self.stale);
        let now = self.clock.now();
        (c, self.rec.map(|r| r.finish(now)))
    }
}

impl Agent for EngineAgent {
    fn name(&self) -> &str {
        "fh-engine"
    }

    #[inline]
    fn do_work(&mut self, _now: Nanos) -> usize {
        let b = self.rx.poll(256);
        let k = b.len();
        for p in b.iter() {
            if let Some(r) = self.rec.as_mut() {
                r.record(
                    Stage::Receive,
                    p.meta.agent_ns.saturating_sub(p.meta.kernel_ns),
                );
            }
            let meta = DatagramMeta {
                recv_ts: p.meta.kernel_ns,
            };
            let mut sink = RingSink {
                out: &mut self.out,
                updates: &mut self.updates,
                stale: &mut self.stale,
            };
            self.engine
                .on_datagram(self.clock.now(), &meta, p.bytes, &mut sink);
            self.out.publish();
        }
        drop(b);
        if k > 0 {
            self.shared
                .store(SeqCounters::of(&self.engine, self.updates, self.stale));
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

/// The strategy of `fh live`: digests the updates it reads and records how long after the
/// kernel received their datagram (`end_to_end`) and after the engine published them
/// (`consume`) it got them.
#[derive(Debug)]
pub struct LiveStrategy {
    /// Digest of the updates read, as `fh replay --digest` computes it.
    pub digest: Digest,
    /// Updates lost by a never-wait ring (0 with the no-loss ring).
    pub missed: u64,
    clock: Clock,
    rec: Option<IntervalRecorder>,
}

impl LiveStrategy {
    /// A strategy recording into `rec` on `clock`.
    pub fn new(clock: Clock, rec: Option<IntervalRecorder>) -> Self {
        LiveStrategy {
            digest: Digest::new(),
            missed: 0,
            clock,
            rec,
        }
    }

    /// The digest, the missed count and the recorder's last interval.
    pub fn finish(self) -> (Digest, u64, Option<Box<StageRecorder>>) {
        let now = self.clock.now();
        (self.digest, self.missed, self.rec.map(|r| r.finish(now)))
    }
}

impl Strategy for LiveStrategy {
    #[inline]
    fn on_update(&mut self, u: &BookUpdate, _seq: u64, _end_of_batch: bool) {
        if let Some(r) = self.rec.as_mut() {
            let t = self.clock.now();
            r.record(Stage::Consume, t.saturating_sub(u.engine_ts));
            r.record(
                Stage::EndToEnd,
                t.saturating_sub(self.clock.from_realtime(u.recv_ts)),
            );
        }
        self.digest.add(u);
    }

    fn on_batch_end(&mut self) {
        if let Some(r) = self.rec.as_mut() {
            r.tick(self.clock.now());
        }
    }

    fn on_missed(&mut self, count: u64) {
        self.missed += count;
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

    /// Datagrams released so far.
    pub fn processed(&self) -> Arc<AtomicU64> {
        self.processed.clone()
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
