//! Per-thread latency recording: a [`StageRecorder`] holds one preallocated histogram per
//! [`Stage`]; an [`IntervalRecorder`] / [`IntervalCollector`] pair hands finished interval
//! recorders from a hot thread to a cold one without locks or allocation.
//!
//! ## Invariants
//! - All histograms are created at start-up with fixed bounds ([`HistConfig`]); `record` uses
//!   `saturating_record` (auto-resize is off), so it never allocates, locks or panics. Values
//!   above the bound are clamped to it *and* counted in a per-stage over-bound counter.
//! - Hand-over: exactly two recorders exist per hot thread. One is `active` (owned by the hot
//!   thread); the other is either in the `full` slot, held by the collector, or in the `spare`
//!   slot. At an interval tick the hot thread takes the spare (an atomic swap) and, only if it
//!   got one, publishes its active recorder in `full` (another swap) and records into the spare.
//!   If the collector has not returned the spare yet, the hot thread keeps recording into the
//!   same recorder and the interval simply grows (counted in [`IntervalRecorder::late_ticks`]);
//!   nothing blocks, nothing is lost.
//!
//! ```text
//!  hot thread                      Exchange                    cold thread
//!  active ──tick──► swap(full) ──► [full]  ──take_full()──► write interval, merge into total
//!  active ◄──────── swap(spare) ◄─ [spare] ◄─give_back()───  reset histograms
//! ```

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use hdrhistogram::Histogram;

/// A stage of fh's path, each measured between two timestamps on the one [`Clock`].
///
/// [`Clock`]: super::Clock
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    /// Kernel (`SO_TIMESTAMPNS`) or capture receive → the datagram in user space (live only).
    Receive = 0,
    /// User receive → datagram decoded.
    Decode = 1,
    /// Decoded → applied to the book.
    Book = 2,
    /// Applied → update written to the publication ring.
    Publish = 3,
    /// `BookUpdate::engine_ts` (the engine's first reading for the update's datagram, taken
    /// before decoding it) → the strategy reads it: the engine's decode, book and publish
    /// time for the datagram plus the ring hop.
    Consume = 4,
    /// The first timestamp of the update (kernel receive in live, user receive in replay) →
    /// consumed by the strategy.
    EndToEnd = 5,
    /// Paced replay (`--speed`): how late a packet was handed to the engine compared with the
    /// capture's schedule.
    BehindSchedule = 6,
}

impl Stage {
    /// Number of stages.
    pub const COUNT: usize = 7;

    /// Every stage, in report order.
    pub const ALL: [Stage; Stage::COUNT] = [
        Stage::Receive,
        Stage::Decode,
        Stage::Book,
        Stage::Publish,
        Stage::Consume,
        Stage::EndToEnd,
        Stage::BehindSchedule,
    ];

    /// Stable name: used as the table row, the interval-log tag and the `.hgrm` file stem
    /// (no spaces or commas, as interval-log tags require).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Receive => "receive",
            Stage::Decode => "decode",
            Stage::Book => "book",
            Stage::Publish => "publish",
            Stage::Consume => "consume",
            Stage::EndToEnd => "end_to_end",
            Stage::BehindSchedule => "behind_schedule",
        }
    }

    /// The stage with this [`Stage::name`].
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Index into per-stage arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Bounds of every stage histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistConfig {
    /// Lowest discernible value, ns (≥ 1).
    pub lowest_ns: u64,
    /// Highest trackable value, ns; larger values are clamped and counted as over-bound.
    pub highest_ns: u64,
    /// Significant decimal digits kept (1..=5).
    pub sigfig: u8,
}

impl Default for HistConfig {
    /// 1 ns .. 10 s at 3 significant digits (≈ 200 KiB per histogram).
    fn default() -> Self {
        HistConfig {
            lowest_ns: 1,
            highest_ns: 10_000_000_000,
            sigfig: 3,
        }
    }
}

impl HistConfig {
    /// A new empty histogram with these bounds (allocates: start-up or cold path only).
    ///
    /// # Panics
    /// If the bounds are invalid (`lowest_ns` 0, `highest_ns < 2 * lowest_ns`, `sigfig > 5`):
    /// a programming error caught at start-up.
    pub fn histogram(&self) -> Histogram<u64> {
        match Histogram::new_with_bounds(self.lowest_ns, self.highest_ns, self.sigfig) {
            Ok(h) => h,
            Err(e) => panic!("invalid latency histogram bounds {self:?}: {e:?}"),
        }
    }
}

/// One histogram per [`Stage`] plus over-bound counters, owned by one thread.
#[derive(Debug, Clone)]
pub struct StageRecorder {
    config: HistConfig,
    hists: [Histogram<u64>; Stage::COUNT],
    over: [u64; Stage::COUNT],
    /// Start of the time span this recorder covers, ns on the clock (0 if unknown).
    start_ns: u64,
    /// End of the span, ns (0 while open).
    end_ns: u64,
}

impl StageRecorder {
    /// Allocates every histogram now (start-up).
    pub fn new(config: HistConfig) -> StageRecorder {
        StageRecorder {
            config,
            hists: std::array::from_fn(|_| config.histogram()),
            over: [0; Stage::COUNT],
            start_ns: 0,
            end_ns: 0,
        }
    }

    /// Records one latency of `ns` nanoseconds for `stage`. Never allocates, locks or panics;
    /// values above the bound are clamped and counted in [`StageRecorder::over_bound`].
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        let i = stage.index();
        if ns > self.config.highest_ns {
            self.over[i] += 1;
        }
        self.hists[i].saturating_record(ns);
    }

    /// Records `end − start` for `stage` (0 if the clock readings are out of order, which a
    /// non-serialising `rdtsc` can do by a few cycles).
    #[inline]
    pub fn record_span(&mut self, stage: Stage, start_ns: u64, end_ns: u64) {
        self.record(stage, end_ns.saturating_sub(start_ns));
    }

    /// Records `count` values of `ns` for `stage` (see [`StageRecorder::record`]).
    pub fn record_n(&mut self, stage: Stage, ns: u64, count: u64) {
        let i = stage.index();
        if ns > self.config.highest_ns {
            self.over[i] += count;
        }
        self.hists[i].saturating_record_n(ns, count);
    }

    /// The histogram of `stage`.
    pub fn histogram(&self, stage: Stage) -> &Histogram<u64> {
        &self.hists[stage.index()]
    }

    /// How many values of `stage` were above the bound (and recorded as the bound).
    pub fn over_bound(&self, stage: Stage) -> u64 {
        self.over[stage.index()]
    }

    /// The bounds of the histograms.
    pub fn config(&self) -> HistConfig {
        self.config
    }

    /// Total count over all stages.
    pub fn total_count(&self) -> u64 {
        self.hists.iter().map(Histogram::len).sum()
    }

    /// Adds `other`'s counts into `self` (cold path). The covered span becomes the union.
    ///
    /// Both must have the same [`HistConfig`]; if not, `other`'s values are re-recorded with
    /// saturation (still exact within the smaller precision).
    pub fn merge(&mut self, other: &StageRecorder) {
        for i in 0..Stage::COUNT {
            if self.hists[i].add(&other.hists[i]).is_err() {
                for v in other.hists[i].iter_recorded() {
                    self.hists[i].saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
            self.over[i] += other.over[i];
        }
        if other.start_ns != 0 && (self.start_ns == 0 || other.start_ns < self.start_ns) {
            self.start_ns = other.start_ns;
        }
        self.end_ns = self.end_ns.max(other.end_ns);
    }

    /// Clears every count (keeps the allocations).
    pub fn reset(&mut self) {
        for h in &mut self.hists {
            h.reset();
        }
        self.over = [0; Stage::COUNT];
        self.start_ns = 0;
        self.end_ns = 0;
    }

    /// Start of the covered span, ns on the clock (0 if not set).
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// End of the covered span, ns on the clock (0 if still open).
    pub fn end_ns(&self) -> u64 {
        self.end_ns
    }

    /// Sets the covered span (used by interval hand-over; callers with a single recorder may
    /// set it to the run's start and end).
    pub fn set_span(&mut self, start_ns: u64, end_ns: u64) {
        self.start_ns = start_ns;
        self.end_ns = end_ns;
    }

    /// The stages with at least one value, as named series for tables, files and plots.
    pub fn series(&self) -> Vec<super::Series<'_>> {
        Stage::ALL
            .into_iter()
            .filter(|s| !self.histogram(*s).is_empty())
            .map(|s| super::Series {
                name: s.name(),
                hist: self.histogram(s),
                over: self.over_bound(s),
            })
            .collect()
    }
}

/// Values below this many ns are counted exactly by [`Precount`].
pub const PRECOUNT_LIMIT: usize = 2048;

/// Exact per-ns counts of small values, added to an [`IntervalRecorder`] in one pass
/// ([`Precount::settle`]) instead of one histogram record each.
///
/// A histogram record finds the value's bucket (leading zeros, shifts, bounds) and updates
/// count, min, max and total. Most stage values are below [`PRECOUNT_LIMIT`] ns (2 µs), where
/// a 3-significant-digit HdrHistogram keeps every ns apart: there a value is one increment of
/// `counts[stage][ns]`, and `settle` adds each non-zero count with one `record_n` (the same
/// histogram, bucket for bucket). Larger values are recorded directly.
///
/// ## Invariants
/// - Only used when the histograms are exact below the limit (`equivalent_range` 1, checked
///   in [`Precount::new`]); otherwise every value is recorded directly.
/// - Values held here belong to the recorder's current interval: the owner settles before
///   every interval hand-over ([`IntervalRecorder::due`]) and before finishing.
/// - No count overflows: it settles when `u32::MAX` values are pending.
/// - Allocated at start-up (`Stage::COUNT` × 2048 × 4 bytes = 56 KiB); no allocation after.
#[derive(Clone)]
pub struct Precount {
    counts: Box<[[u32; PRECOUNT_LIMIT]; Stage::COUNT]>,
    exact: bool,
    pending: u64,
}

impl core::fmt::Debug for Precount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Precount")
            .field("exact", &self.exact)
            .field("pending", &self.pending)
            .finish()
    }
}

impl Precount {
    /// Counts for histograms of `config` (allocates now).
    pub fn new(config: HistConfig) -> Precount {
        let h = config.histogram();
        let top = PRECOUNT_LIMIT as u64 - 1;
        Precount {
            counts: vec![[0u32; PRECOUNT_LIMIT]; Stage::COUNT]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("Stage::COUNT rows")),
            exact: h.equivalent_range(top) == 1 && h.lowest_equivalent(top) == top,
            pending: 0,
        }
    }

    /// Records `ns` for `stage`: counted here when small, else straight into `rec`.
    #[inline(always)]
    pub fn record(&mut self, rec: &mut IntervalRecorder, stage: Stage, ns: u64) {
        if self.exact && ns < PRECOUNT_LIMIT as u64 {
            if let Some(c) = self
                .counts
                .get_mut(stage.index())
                .and_then(|row| row.get_mut(ns as usize))
            {
                *c += 1;
                self.pending += 1;
                if self.pending == u64::from(u32::MAX) {
                    self.settle(rec);
                }
                return;
            }
        }
        rec.record(stage, ns);
    }

    /// Values held here, all stages.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Values of `stage` held here.
    pub fn pending_of(&self, stage: Stage) -> u64 {
        self.counts[stage.index()]
            .iter()
            .map(|&c| u64::from(c))
            .sum()
    }

    /// Adds every held count to `rec` and clears them (one pass over the counts).
    #[cold]
    pub fn settle(&mut self, rec: &mut IntervalRecorder) {
        if self.pending == 0 {
            return;
        }
        for (stage, row) in Stage::ALL.into_iter().zip(self.counts.iter_mut()) {
            for (ns, c) in row.iter_mut().enumerate() {
                if *c > 0 {
                    rec.record_n(stage, ns as u64, u64::from(*c));
                    *c = 0;
                }
            }
        }
        self.pending = 0;
    }
}

/// The two lock-free slots between a hot [`IntervalRecorder`] and its [`IntervalCollector`].
/// Each holds either null or a pointer obtained from `Box::into_raw`, owned by the slot.
#[derive(Debug)]
struct Exchange {
    full: AtomicPtr<StageRecorder>,
    spare: AtomicPtr<StageRecorder>,
}

impl Exchange {
    /// Puts `r` into `slot`. The slot must be empty (the hand-over protocol guarantees it);
    /// if it were not, the displaced recorder is taken back rather than leaked.
    fn put(slot: &AtomicPtr<StageRecorder>, r: Box<StageRecorder>) -> Option<Box<StageRecorder>> {
        let old = slot.swap(Box::into_raw(r), Ordering::AcqRel);
        Exchange::own(old)
    }

    /// Takes whatever is in `slot`.
    fn take(slot: &AtomicPtr<StageRecorder>) -> Option<Box<StageRecorder>> {
        Exchange::own(slot.swap(ptr::null_mut(), Ordering::AcqRel))
    }

    fn own(p: *mut StageRecorder) -> Option<Box<StageRecorder>> {
        if p.is_null() {
            None
        } else {
            // SAFETY: every non-null pointer stored in a slot came from `Box::into_raw` (in
            // `put`), and the atomic swap that removed it from the slot gives this caller the
            // only copy, so re-boxing it transfers unique ownership exactly once. The
            // `Acquire` half of the swap pairs with the `Release` half of the `put` swap, so
            // the recorder's contents written before `put` are visible here.
            Some(unsafe { Box::from_raw(p) })
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        drop(Exchange::take(&self.full));
        drop(Exchange::take(&self.spare));
    }
}

/// Hot side of interval recording: records into its active [`StageRecorder`] and hands it to
/// the [`IntervalCollector`] at interval ticks; no allocation, no lock.
#[derive(Debug)]
pub struct IntervalRecorder {
    active: Box<StageRecorder>,
    exchange: Arc<Exchange>,
    interval_ns: u64,
    next_tick: u64,
    late_ticks: u64,
}

/// Cold side of interval recording: receives finished interval recorders and gives them back.
#[derive(Debug)]
pub struct IntervalCollector {
    exchange: Arc<Exchange>,
}

/// Creates a hot/cold pair: two recorders allocated now, intervals of `interval_ns` starting
/// at `start_ns` (ns on the clock).
pub fn interval_pair(
    config: HistConfig,
    start_ns: u64,
    interval_ns: u64,
) -> (IntervalRecorder, IntervalCollector) {
    let exchange = Arc::new(Exchange {
        full: AtomicPtr::new(ptr::null_mut()),
        spare: AtomicPtr::new(Box::into_raw(Box::new(StageRecorder::new(config)))),
    });
    let interval_ns = interval_ns.max(1);
    let mut active = Box::new(StageRecorder::new(config));
    active.start_ns = start_ns;
    (
        IntervalRecorder {
            active,
            exchange: Arc::clone(&exchange),
            interval_ns,
            next_tick: start_ns.saturating_add(interval_ns),
            late_ticks: 0,
        },
        IntervalCollector { exchange },
    )
}

impl IntervalRecorder {
    /// Records into the current interval; see [`StageRecorder::record`].
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        self.active.record(stage, ns);
    }

    /// Records `end − start`; see [`StageRecorder::record_span`].
    #[inline]
    pub fn record_span(&mut self, stage: Stage, start_ns: u64, end_ns: u64) {
        self.active.record_span(stage, start_ns, end_ns);
    }

    /// Records `count` values of `ns`; see [`StageRecorder::record_n`].
    pub fn record_n(&mut self, stage: Stage, ns: u64, count: u64) {
        self.active.record_n(stage, ns, count);
    }

    /// Whether [`IntervalRecorder::tick`] at `now_ns` would end the interval (so a caller
    /// holding values back, like [`Precount`], adds them first).
    #[inline]
    pub fn due(&self, now_ns: u64) -> bool {
        now_ns >= self.next_tick
    }

    /// Call once per duty cycle with the current time: at an interval boundary, hands the
    /// finished interval over (if the collector has returned the spare) and returns `true`.
    /// One comparison when no boundary has passed.
    #[inline]
    pub fn tick(&mut self, now_ns: u64) -> bool {
        if now_ns < self.next_tick {
            return false;
        }
        self.hand_over(now_ns)
    }

    #[cold]
    fn hand_over(&mut self, now_ns: u64) -> bool {
        // Next boundary: the first multiple of the interval after `now`.
        let behind = now_ns - self.next_tick;
        self.next_tick = now_ns + self.interval_ns - behind % self.interval_ns;
        let Some(mut fresh) = Exchange::take(&self.exchange.spare) else {
            self.late_ticks += 1;
            return false;
        };
        fresh.start_ns = now_ns;
        fresh.end_ns = 0;
        let mut done = std::mem::replace(&mut self.active, fresh);
        done.end_ns = now_ns;
        if let Some(displaced) = Exchange::put(&self.exchange.full, done) {
            // Cannot happen (the spare was returned only after `full` was taken); keep the
            // data rather than lose it.
            self.active.merge(&displaced);
        }
        true
    }

    /// Ticks at which the collector had not yet returned the spare, so the interval grew.
    pub fn late_ticks(&self) -> u64 {
        self.late_ticks
    }

    /// The recorder currently being written.
    pub fn active(&self) -> &StageRecorder {
        &self.active
    }

    /// Ends recording at `now_ns` and returns the last, partial interval (cold path: at the
    /// end of a run). Any interval still in the `full` slot stays there for the collector.
    pub fn finish(mut self, now_ns: u64) -> Box<StageRecorder> {
        self.active.end_ns = now_ns;
        self.active
    }
}

impl IntervalCollector {
    /// Takes the finished interval, if the hot thread has handed one over.
    pub fn take(&self) -> Option<Box<StageRecorder>> {
        Exchange::take(&self.exchange.full)
    }

    /// Resets a recorder obtained from [`IntervalCollector::take`] and makes it the hot
    /// thread's next spare.
    pub fn give_back(&self, mut r: Box<StageRecorder>) {
        r.reset();
        if let Some(extra) = Exchange::put(&self.exchange.spare, r) {
            // Only one recorder circulates, so the slot was empty; drop defensively.
            drop(extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precount_gives_the_same_histograms_as_recording_each_value() {
        let cfg = HistConfig::default();
        let (mut direct, _c1) = interval_pair(cfg, 0, u64::MAX / 2);
        let (mut pre_rec, _c2) = interval_pair(cfg, 0, u64::MAX / 2);
        let mut pre = Precount::new(cfg);
        assert!(
            pre.exact,
            "1 ns .. 10 s at 3 digits keeps every ns below 2048 apart"
        );
        // Below, at and above the limit, and above the histogram's bound.
        let mut x = 12345u64;
        for i in 0..50_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = match i % 5 {
                0 => x % 2048,
                1 => 2040 + x % 16,
                2 => x % 1_000_000,
                3 => x % 64,
                _ => 20_000_000_000 + x % 7,
            };
            let stage = Stage::ALL[(x % 7) as usize];
            direct.record(stage, ns);
            pre.record(&mut pre_rec, stage, ns);
        }
        assert!(pre.pending() > 0);
        let held: u64 = Stage::ALL.iter().map(|&s| pre.pending_of(s)).sum();
        assert_eq!(held, pre.pending());
        pre.settle(&mut pre_rec);
        assert_eq!(pre.pending(), 0);
        for stage in Stage::ALL {
            let (a, b) = (direct.active(), pre_rec.active());
            assert_eq!(a.histogram(stage), b.histogram(stage), "{stage:?}");
            assert_eq!(a.over_bound(stage), b.over_bound(stage), "{stage:?}");
            assert_eq!(
                a.histogram(stage).min(),
                b.histogram(stage).min(),
                "{stage:?}"
            );
            assert_eq!(
                a.histogram(stage).max(),
                b.histogram(stage).max(),
                "{stage:?}"
            );
        }
    }

    #[test]
    fn precount_records_directly_when_small_values_are_not_exact() {
        // 2 significant digits: buckets wider than 1 ns below 2048, so no precount.
        let cfg = HistConfig {
            sigfig: 2,
            ..HistConfig::default()
        };
        let (mut rec, _c) = interval_pair(cfg, 0, u64::MAX / 2);
        let mut pre = Precount::new(cfg);
        pre.record(&mut rec, Stage::Book, 1500);
        assert_eq!(pre.pending(), 0);
        assert_eq!(rec.active().histogram(Stage::Book).len(), 1);
    }

    #[test]
    fn due_says_when_tick_will_hand_over() {
        let (mut rec, _col) = interval_pair(HistConfig::default(), 0, 100);
        assert!(!rec.due(99));
        assert!(!rec.tick(99));
        assert!(rec.due(100));
        assert!(rec.tick(100));
        assert!(!rec.due(150));
    }

    #[test]
    fn record_counts_and_over_bound() {
        let cfg = HistConfig {
            lowest_ns: 1,
            highest_ns: 1_000_000,
            sigfig: 3,
        };
        let mut r = StageRecorder::new(cfg);
        r.record(Stage::Decode, 100);
        r.record(Stage::Decode, 2_000_000);
        r.record_span(Stage::Book, 50, 40);
        assert_eq!(r.histogram(Stage::Decode).len(), 2);
        assert_eq!(r.over_bound(Stage::Decode), 1);
        assert!(r.histogram(Stage::Decode).max() >= 999_000);
        assert!(r.histogram(Stage::Decode).max() <= 1_000_999);
        assert_eq!(r.histogram(Stage::Book).len(), 1);
        assert_eq!(r.histogram(Stage::Book).max(), 0);
        assert_eq!(r.series().len(), 2);
    }

    #[test]
    fn merge_adds_counts_and_over_bound_and_span() {
        let cfg = HistConfig::default();
        let mut a = StageRecorder::new(cfg);
        let mut b = StageRecorder::new(cfg);
        a.record(Stage::Publish, 10);
        b.record(Stage::Publish, 20);
        b.record(Stage::Publish, u64::MAX);
        a.set_span(100, 200);
        b.set_span(50, 300);
        a.merge(&b);
        assert_eq!(a.histogram(Stage::Publish).len(), 3);
        assert_eq!(a.over_bound(Stage::Publish), 1);
        assert_eq!((a.start_ns(), a.end_ns()), (50, 300));
        a.reset();
        assert_eq!(a.total_count(), 0);
        assert_eq!(a.over_bound(Stage::Publish), 0);
    }

    #[test]
    fn merge_across_different_bounds_re_records() {
        let mut wide = StageRecorder::new(HistConfig::default());
        let mut narrow = StageRecorder::new(HistConfig {
            lowest_ns: 1,
            highest_ns: 1_000,
            sigfig: 2,
        });
        for v in [5u64, 50, 500] {
            wide.record(Stage::Decode, v);
        }
        wide.record(Stage::Decode, 1_000_000);
        narrow.merge(&wide);
        let h = narrow.histogram(Stage::Decode);
        assert_eq!(h.len(), 4);
        assert!(h.equivalent(h.max(), 1_000), "clamped to the narrow bound");
        assert!(h.equivalent(h.value_at_quantile(0.5), 50));
    }

    #[test]
    fn stage_names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_name(s.name()), Some(s));
            assert!(!s.name().contains([' ', ',']));
        }
        assert_eq!(Stage::from_name("nope"), None);
    }

    #[test]
    fn interval_hand_over_loses_nothing() {
        let (mut hot, cold) = interval_pair(HistConfig::default(), 1_000, 100);
        let mut collected = StageRecorder::new(HistConfig::default());
        let mut spans = Vec::new();
        let mut recorded = 0u64;
        let mut handed = 0;
        for t in (1_000..3_000).step_by(7) {
            hot.record(Stage::Decode, t);
            recorded += 1;
            if hot.tick(t) {
                handed += 1;
            }
            // The cold side only drains every other interval: some ticks come late.
            if t % 200 < 7 {
                if let Some(r) = cold.take() {
                    spans.push((r.start_ns(), r.end_ns()));
                    collected.merge(&r);
                    cold.give_back(r);
                }
            }
        }
        if let Some(r) = cold.take() {
            collected.merge(&r);
            cold.give_back(r);
        }
        let last = hot.finish(3_000);
        collected.merge(&last);
        assert_eq!(collected.histogram(Stage::Decode).len(), recorded);
        assert!(handed >= 5, "handed {handed}");
        assert!(spans.iter().all(|&(s, e)| s < e));
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
    }

    #[test]
    fn interval_hand_over_across_threads() {
        let (mut hot, cold) = interval_pair(HistConfig::default(), 0, 1_000);
        let n = 200_000u64;
        let t = std::thread::spawn(move || {
            for i in 0..n {
                hot.record(Stage::Book, i % 5_000);
                hot.tick(i);
            }
            hot.finish(n)
        });
        let mut total = StageRecorder::new(HistConfig::default());
        let mut intervals = 0;
        while !t.is_finished() {
            if let Some(r) = cold.take() {
                total.merge(&r);
                intervals += 1;
                cold.give_back(r);
            }
            std::thread::yield_now();
        }
        let last = t.join().expect("hot thread");
        if let Some(r) = cold.take() {
            total.merge(&r);
            intervals += 1;
        }
        total.merge(&last);
        assert_eq!(total.histogram(Stage::Book).len(), n);
        assert!(intervals >= 1);
    }
}
