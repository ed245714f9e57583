//! The engine's update sink, the same in every mode: counts, an optional digest, an optional
//! BBO CSV written on the engine thread, and — when strategies run — the publication ring
//! with its top-of-book table and full-ring guard.
//!
//! ```text
//!  Engine::on_datagram ─► PublishSink::publish(u) ─► Tally (kinds, stale, digest)
//!                         │                        └► Outlet: claim a slot, write u in place
//!                         ├ bbo_changed ─► BBO CSV row; top-of-book table, then publish the event
//!                         └ datagram_end ─► publish what is left; stepped replay: wait for
//!                                           the strategies to catch up
//! ```
//!
//! ## Invariants
//! - A venue event is published whole, after the top-of-book table holds its BBO: a strategy
//!   reading an update never finds the table older than that update. An event whose updates
//!   did not touch a best level is published at once; one that did waits for the engine's
//!   `bbo_changed` (or the next update, or the datagram's end, whichever comes first).
//! - The one exception to whole events: an event with more updates than the ring has slots
//!   would wait for ever on a no-loss ring, so a full ring of pending updates is published
//!   early (counted in [`OutletStats::split_events`]).
//! - In the shared threading mode the strategies run on the engine's thread, right after each
//!   publication (a whole event): they see every event before the engine applies the next,
//!   so the top-of-book table they read is exactly the book at that event. When a no-loss
//!   ring is full the sink drains them instead of waiting (which would wait for ever).
//! - No allocation, lock or syscall per update; the BBO CSV formats into a reused line and a
//!   buffered writer (its first I/O error is kept and reported at the end).

use std::io::Write;

use crate::engine::digest::Digest;
use crate::engine::levels::Bbo as LevelBbo;
use crate::engine::UpdateSink;
use crate::ring::{Producer, RingMonitor};
use crate::strategy::RunnerGroup;
use crate::topbook::{Bbo, TopBookWriter};
use crate::update::{BookUpdate, InstrumentId};
use fh_decoders::price::Fixed;

/// Where best bid/offer changes go on the engine thread.
pub trait BboOut {
    /// Whether BBO changes are wanted at all (compiled out when not).
    const ON: bool;
    /// One change.
    fn row(&mut self, exch_ts: u64, symbol: &[u8; 8], bbo: &LevelBbo);
}

/// No BBO output.
#[derive(Debug, Default)]
pub struct NoBbo;

impl BboOut for NoBbo {
    const ON: bool = false;
    #[inline]
    fn row(&mut self, _: u64, _: &[u8; 8], _: &LevelBbo) {}
}

/// The CSV header of [`BboCsv`].
pub const BBO_CSV_HEADER: &str = "ts,symbol,bid,bid_size,ask,ask_size\n";

/// BBO changes as CSV: `ts,symbol,bid,bid_size,ask,ask_size` ([`BBO_CSV_HEADER`]), `ts` the
/// exchange timestamp in ns (ITCH: since midnight; IEX: since the Unix epoch), prices as exact
/// decimals, an empty field for a missing side.
#[derive(Debug)]
pub struct BboCsv<W: Write> {
    out: W,
    line: String,
    /// Rows written.
    pub rows: u64,
    /// First write error, if any (reported at the end; rows after it are lost).
    pub error: Option<std::io::Error>,
}

impl<W: Write> BboCsv<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(BBO_CSV_HEADER.as_bytes())?;
        Ok(BboCsv {
            out,
            line: String::with_capacity(128),
            rows: 0,
            error: None,
        })
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes one row.
    pub fn write_row(&mut self, exch_ts: u64, symbol: &[u8; 8], bbo: &LevelBbo) {
        if self.error.is_some() {
            return;
        }
        bbo_csv_row(&mut self.line, exch_ts, symbol, bbo);
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
        self.rows += 1;
    }
}

/// Formats one CSV row (shared by the writer and tests).
pub fn bbo_csv_row(line: &mut String, exch_ts: u64, symbol: &[u8; 8], bbo: &LevelBbo) {
    use std::fmt::Write as _;
    line.clear();
    let sym = std::str::from_utf8(symbol)
        .unwrap_or("?")
        .trim_end_matches([' ', '\0']);
    let _ = write!(line, "{exch_ts},{sym},");
    match bbo.bid {
        Some((p, s)) => {
            let _ = write!(line, "{},{s},", Fixed::<4>(p));
        }
        None => line.push_str(",,"),
    }
    match bbo.ask {
        Some((p, s)) => {
            let _ = write!(line, "{},{s}", Fixed::<4>(p));
        }
        None => line.push(','),
    }
    line.push('\n');
}

impl<W: Write> BboOut for BboCsv<W> {
    const ON: bool = true;
    #[inline]
    fn row(&mut self, exch_ts: u64, symbol: &[u8; 8], bbo: &LevelBbo) {
        self.write_row(exch_ts, symbol, bbo);
    }
}

/// What every sink counts.
#[derive(Clone, Debug)]
pub struct Tally {
    /// Digest of the update stream (folded only when `hashing`).
    pub digest: Digest,
    /// Whether updates are folded into `digest` (about a tenth of a replay's instructions:
    /// only when asked).
    pub hashing: bool,
    /// Updates by [`crate::update::UpdateKind`].
    pub by_kind: [u64; 8],
    /// Updates flagged stale.
    pub stale: u64,
}

impl Tally {
    /// A tally that digests if `hashing`.
    pub fn new(hashing: bool) -> Self {
        Tally {
            digest: Digest::new(),
            hashing,
            by_kind: [0; 8],
            stale: 0,
        }
    }

    /// Counts (and digests) one update.
    #[inline(always)]
    pub fn add(&mut self, u: &BookUpdate) {
        if self.hashing {
            self.digest.add(u);
        }
        self.count(u);
    }

    /// Counts one update, never digesting it (reads only its kind and flags).
    #[inline(always)]
    pub fn count(&mut self, u: &BookUpdate) {
        self.by_kind[u.kind as usize & 7] += 1;
        self.stale += u64::from(u.flags.stale());
    }

    /// Updates counted.
    pub fn updates(&self) -> u64 {
        self.by_kind.iter().sum()
    }
}

impl Default for Tally {
    /// Digesting.
    fn default() -> Self {
        Tally::new(true)
    }
}

/// Where updates go after the tally: nowhere (single-thread replay) or the ring.
pub trait Outlet {
    /// Whether it needs BBO changes (the top-of-book table).
    const WANTS_BBO: bool;
    /// One update.
    fn push(&mut self, u: &BookUpdate);
    /// The BBO of `instrument` changed with the event just pushed.
    fn bbo(&mut self, exch_ts: u64, instrument: InstrumentId, bbo: &LevelBbo);
    /// The datagram is done.
    fn datagram_end(&mut self);
    /// The engine has handled every datagram it had in hand ([`UpdateSink::idle`]).
    #[inline(always)]
    fn idle(&mut self) {}
}

/// No ring: the single-thread replay.
impl Outlet for () {
    const WANTS_BBO: bool = false;
    #[inline(always)]
    fn push(&mut self, _: &BookUpdate) {}
    #[inline(always)]
    fn bbo(&mut self, _: u64, _: InstrumentId, _: &LevelBbo) {}
    #[inline(always)]
    fn datagram_end(&mut self) {}
}

/// Counters of the ring outlet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutletStats {
    /// Events published in parts because they outgrew the ring.
    pub split_events: u64,
    /// BBO changes of instrument ids outside the top-of-book table.
    pub top_outside: u64,
    /// Stepped replay: times the engine waited for every strategy to catch up.
    pub steps: u64,
}

/// Stepped replay: after each datagram whose exchange time reaches the next step, the engine
/// waits until every strategy has read everything published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Step length in exchange time, ns (0: after every datagram).
    pub every_ns: u64,
    next: u64,
}

impl Step {
    /// Steps of `every_ns` of exchange time.
    pub fn new(every_ns: u64) -> Step {
        Step { every_ns, next: 0 }
    }
}

/// The ring outlet: updates written in place into ring slots, whole events published after
/// their top of book is in the table.
#[derive(Debug)]
pub struct RingOutlet {
    producer: Producer<BookUpdate>,
    monitor: RingMonitor<BookUpdate>,
    top: TopBookWriter,
    capacity: u64,
    pending: u64,
    deferred: bool,
    event_best: bool,
    last_seq: u64,
    last_exch_ts: u64,
    step: Option<Step>,
    shared: Option<RunnerGroup>,
    /// Counters.
    pub stats: OutletStats,
}

impl RingOutlet {
    /// An outlet publishing into `producer` and `top`; `shared`: the strategies run on this
    /// thread (shared threading mode); `step`: stepped replay.
    pub fn new(
        producer: Producer<BookUpdate>,
        top: TopBookWriter,
        shared: Option<RunnerGroup>,
        step: Option<Step>,
    ) -> Self {
        RingOutlet {
            capacity: producer.capacity() as u64,
            monitor: producer.monitor(),
            producer,
            top,
            pending: 0,
            deferred: false,
            event_best: false,
            last_seq: 0,
            last_exch_ts: 0,
            step,
            shared,
            stats: OutletStats::default(),
        }
    }

    /// The producer (counters).
    pub fn producer(&self) -> &Producer<BookUpdate> {
        &self.producer
    }

    #[inline(always)]
    fn publish_now(&mut self) {
        self.producer.publish();
        self.pending = 0;
        self.deferred = false;
        if self.shared.is_some() {
            self.drain_shared();
        }
    }

    /// Publishes what is pending and gives back the shared strategies (if any); dropping the
    /// outlet then closes the ring.
    pub fn close(mut self) -> (OutletStats, crate::ring::ProducerStats, Option<RunnerGroup>) {
        self.publish_now();
        let stats = self.producer.stats();
        let shared = self.shared.take();
        drop(self.producer);
        (self.stats, stats, shared)
    }

    /// Runs the shared strategies until they have read everything published: one duty cycle
    /// each, as a poll takes everything published when it starts (and nothing can be
    /// published while they run, on this very thread).
    #[inline]
    fn drain_shared(&mut self) {
        if let Some(g) = self.shared.as_mut() {
            use crate::agent::Agent;
            g.do_work(0);
        }
    }

    /// Waits until every consumer has read everything published.
    #[cold]
    fn barrier(&mut self) {
        self.stats.steps += 1;
        let published = self.monitor.producer_stats().published;
        let mut spins = 0u32;
        for i in 0..self.monitor.consumers() {
            while self
                .monitor
                .consumer_stats(i)
                .is_some_and(|c| c.cursor < published)
            {
                spins += 1;
                if spins < 200 {
                    core::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

impl Outlet for RingOutlet {
    const WANTS_BBO: bool = true;

    #[inline]
    fn push(&mut self, u: &BookUpdate) {
        if self.deferred {
            self.publish_now();
        }
        if self.pending == self.capacity {
            // A whole ring unpublished: a no-loss claim would wait for ever.
            self.publish_now();
            self.stats.split_events += 1;
        }
        if self.shared.is_none() {
            *self.producer.claim() = *u;
        } else {
            loop {
                if let Some(mut c) = self.producer.try_claim() {
                    *c = *u;
                    break;
                }
                // Full: the readers run on this thread, so let them read.
                self.drain_shared();
            }
        }
        self.pending += 1;
        self.last_seq = u.seq;
        self.last_exch_ts = u.exch_ts;
        self.event_best |= u.flags.best_changed();
        if u.flags.last_in_event() {
            if self.event_best {
                self.deferred = true;
            } else {
                self.publish_now();
            }
            self.event_best = false;
        }
    }

    #[inline(always)]
    fn bbo(&mut self, exch_ts: u64, instrument: InstrumentId, b: &LevelBbo) {
        let (bid_price, bid_shares) = b.bid.unwrap_or((0, 0));
        let (ask_price, ask_shares) = b.ask.unwrap_or((0, 0));
        let bbo = Bbo {
            bid_price,
            bid_shares,
            ask_price,
            ask_shares,
            seq: self.last_seq,
            exch_ts,
        };
        self.stats.top_outside += u64::from(!self.top.set(instrument, &bbo));
        if self.deferred {
            self.publish_now();
        }
    }

    #[inline]
    fn datagram_end(&mut self) {
        if self.pending > 0 {
            self.publish_now();
        }
        if let Some(step) = self.step.as_mut() {
            if self.last_exch_ts >= step.next {
                step.next = self.last_exch_ts.saturating_add(step.every_ns.max(1));
                self.barrier();
            }
        }
    }
}

/// The engine's sink (see the module docs). `DIGEST = false` ([`PublishSink::counting`]): a
/// sink that never digests, known at compile time, so that when nothing else reads the updates
/// (no BBO output, the `()` outlet) the engine's inlined code builds none of their fields but
/// the kind and flags the tally counts.
#[derive(Debug)]
pub struct PublishSink<B: BboOut, O: Outlet, const DIGEST: bool = true> {
    /// Counts and digest.
    pub tally: Tally,
    /// BBO CSV on the engine thread.
    pub bbo: B,
    /// The ring (or nothing).
    pub outlet: O,
}

impl<B: BboOut, O: Outlet> PublishSink<B, O> {
    /// A sink that digests if `hashing`.
    pub fn new(hashing: bool, bbo: B, outlet: O) -> Self {
        PublishSink {
            tally: Tally::new(hashing),
            bbo,
            outlet,
        }
    }
}

impl<B: BboOut, O: Outlet> PublishSink<B, O, false> {
    /// A sink that counts but never digests (see the type's docs).
    pub fn counting(bbo: B, outlet: O) -> Self {
        PublishSink {
            tally: Tally::new(false),
            bbo,
            outlet,
        }
    }
}

impl<B: BboOut, O: Outlet, const DIGEST: bool> UpdateSink for PublishSink<B, O, DIGEST> {
    const WANTS_BBO: bool = B::ON || O::WANTS_BBO;

    #[inline(always)]
    fn publish(&mut self, u: &BookUpdate) {
        if DIGEST {
            self.tally.add(u);
        } else {
            self.tally.count(u);
        }
        self.outlet.push(u);
    }

    #[inline(always)]
    fn bbo_changed(
        &mut self,
        exch_ts: u64,
        instrument: InstrumentId,
        symbol: &[u8; 8],
        bbo: &LevelBbo,
    ) {
        self.bbo.row(exch_ts, symbol, bbo);
        self.outlet.bbo(exch_ts, instrument, bbo);
    }

    #[inline(always)]
    fn datagram_end(&mut self) {
        self.outlet.datagram_end();
    }

    #[inline(always)]
    fn idle(&mut self) {
        self.outlet.idle();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ring::{ring, Policy, RingConfig};
    use crate::topbook::top_book;
    use crate::update::{Flags, UpdateKind};

    fn update(i: u64, flags: Flags) -> BookUpdate {
        BookUpdate {
            seq: i,
            flags,
            ..Default::default()
        }
    }

    fn outlet(capacity: usize) -> (RingOutlet, crate::ring::Consumer<BookUpdate>) {
        // Never-wait so that this single thread can overfill the ring without waiting.
        let (p, mut cs) =
            ring::<BookUpdate>(RingConfig::new(capacity, 1, Policy::NeverWait)).unwrap();
        let (w, _r) = top_book(4);
        (RingOutlet::new(p, w, None, None), cs.pop().unwrap())
    }

    #[test]
    fn events_publish_whole_and_only_a_ring_sized_event_splits() {
        let (mut o, mut c) = outlet(4);
        o.push(&update(0, Flags::EMPTY));
        o.push(&update(1, Flags::LAST_IN_EVENT));
        assert_eq!(
            o.producer().stats().published,
            2,
            "published at the event end"
        );
        for i in 2..6 {
            o.push(&update(i, Flags::EMPTY));
        }
        assert_eq!(o.producer().stats().published, 2, "an open event waits");
        o.push(&update(6, Flags::EMPTY));
        assert_eq!(
            o.producer().stats().published,
            6,
            "a full ring is published"
        );
        assert_eq!(o.stats.split_events, 1);
        o.push(&update(7, Flags::LAST_IN_EVENT));
        assert_eq!(o.producer().stats().published, 8);
        let mut seen = Vec::new();
        while let Some(mut b) = c.poll() {
            while let Some(ev) = b.next() {
                seen.push(ev.update.seq);
            }
        }
        assert_eq!(*seen.last().unwrap(), 7);
    }

    #[test]
    fn an_event_that_moved_the_best_waits_for_its_top_of_book() {
        let (mut o, _c) = outlet(8);
        let (_, top) = (0, o.top.reader());
        o.push(&update(5, Flags::BEST_CHANGED | Flags::LAST_IN_EVENT));
        assert_eq!(o.producer().stats().published, 0, "held for the table");
        let b = LevelBbo {
            bid: Some((100, 3)),
            ask: None,
        };
        o.bbo(9, 1, &b);
        assert_eq!(o.producer().stats().published, 1);
        let t = top.get(1).unwrap();
        assert_eq!(
            (t.bid_price, t.bid_shares, t.seq, t.exch_ts),
            (100, 3, 5, 9)
        );
        // No table change follows: the next update (or the datagram's end) publishes it.
        o.push(&update(6, Flags::BEST_CHANGED | Flags::LAST_IN_EVENT));
        o.push(&update(7, Flags::LAST_IN_EVENT));
        assert_eq!(o.producer().stats().published, 3);
        o.push(&update(8, Flags::BEST_CHANGED | Flags::LAST_IN_EVENT));
        o.datagram_end();
        assert_eq!(o.producer().stats().published, 4);
    }

    #[test]
    fn the_tally_digests_only_when_asked_and_counts_either_way() {
        let updates: Vec<BookUpdate> = (0..5u64)
            .map(|i| BookUpdate {
                seq: i,
                price: 100 + i as i64,
                kind: if i % 2 == 0 {
                    UpdateKind::Trade
                } else {
                    UpdateKind::default()
                },
                flags: if i == 1 { Flags::STALE } else { Flags::EMPTY },
                ..BookUpdate::default()
            })
            .collect();
        let mut off = PublishSink::new(false, NoBbo, ());
        let mut on = PublishSink::new(true, NoBbo, ());
        let mut counting = PublishSink::counting(NoBbo, ());
        for u in &updates {
            off.publish(u);
            on.publish(u);
            counting.publish(u);
        }
        assert_eq!(off.tally.digest.count, 0);
        assert_eq!(counting.tally.digest.count, 0);
        assert_eq!(counting.tally.by_kind, on.tally.by_kind);
        assert_eq!(counting.tally.stale, on.tally.stale);
        assert_eq!(on.tally.digest.count, 5);
        assert_ne!(on.tally.digest.value(), Digest::new().value());
        assert_eq!(off.tally.by_kind, on.tally.by_kind);
        assert_eq!((on.tally.updates(), on.tally.stale), (5, 1));
    }

    #[test]
    fn csv_rows_are_exact_decimals_with_empty_sides() {
        let mut line = String::new();
        let b = LevelBbo {
            bid: Some((1_234_500, 100)),
            ask: None,
        };
        bbo_csv_row(&mut line, 42, b"AAPL    ", &b);
        assert_eq!(line, "42,AAPL,123.4500,100,,\n");
    }
}
