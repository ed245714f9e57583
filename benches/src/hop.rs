//! The in-process ring hop, measured the way `fh shm-tail --hgrm` measures the shared-memory
//! hop: from the moment a datagram's updates become visible to the readers to the moment a
//! reader has them in hand, one value per datagram, both ends read with
//! `clock_gettime(CLOCK_MONOTONIC_RAW)`.
//!
//! ```text
//!  engine thread (pipeline replay)                      strategy thread (its own core)
//!  RingOutlet: slots written, cursor released (Release store)
//!  ReleaseTap, called right after each ring call:
//!    producer cursor moved? ─► t_release = now
//!    datagram end ─► release[its last update] = t_release
//!                                                       poll ─► batch; at its first update
//!                                                       t_read = now; ReadStamp stores
//!                                                       read[ring seq] = t_read for each one
//!  after the run: hop = read[i] − release[i] for the last update i of every datagram
//! ```
//!
//! ## Why a probe and not the `consume` stage
//! `consume` starts at `BookUpdate::engine_ts`, the engine's first reading for the datagram,
//! taken before decoding it: it holds the engine's decode, book and publish time as well as
//! the hop (see `fh_feed::latency`). The shared-memory hop starts at
//! `SampleHeader::publish_ns`, read right before the sample is sent. This probe starts the
//! ring hop at the release of the ring's cursor, so the two hops start at the same point of
//! the path: the datagram's updates are written and handed over.
//!
//! ## What each end is, exactly
//! - Start: the pipeline's tap is called after every call into the ring outlet (update, best
//!   bid/offer change, datagram end); it loads the producer's published cursor and, when it
//!   moved, reads the clock. The reading therefore follows the cursor's Release store by the
//!   rest of that outlet call and the tap dispatch (a few ns), where the shared-memory stamp
//!   precedes iceoryx2's send. The value kept for a datagram is the reading at the release
//!   that covered its last update.
//! - End: the reader's clock reading at the first update of the batch that holds the update
//!   (every update of a batch was published before the batch was taken), as `fh shm-tail`
//!   reads the clock as soon as `receive` hands it a sample.
//! - Both ends call `clock_gettime(CLOCK_MONOTONIC_RAW)` (vDSO; [`Clock::monotonic_raw`]),
//!   the clock of `SampleHeader::publish_ns` and of `fh shm-tail`, so every value of both hops
//!   carries the same reading costs and the same time base, in one process or two.
//! - A reading taken by the reader before the tap's (the reader saw the cursor within the few
//!   ns between the store and the tap's reading) is counted in [`Hops::early`] and recorded
//!   as 1 ns, as `fh shm-tail` records such values.
//!
//! ## Invariants
//! - The probe never changes what the engine publishes (it only reads the producer's cursor)
//!   and allocates nothing after [`HopProbe::new`]; its cost on the engine thread is three
//!   loads per ring call and one clock reading per release.
//! - Index `i` of both arrays is update `i` of the run: the tap counts the updates it is given
//!   (in ring order, after the ring took each one) and the reader uses the ring sequence; a
//!   no-loss ring keeps the two equal. Updates past the arrays' capacity are counted, not
//!   recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fh_feed::directory::SymbolDirectory;
use fh_feed::engine::levels::Bbo;
use fh_feed::latency::hdrhistogram::Histogram;
use fh_feed::latency::{Clock, HistConfig};
use fh_feed::pipeline::tap::{Tap, Window};
use fh_feed::pipeline::{Pipeline, StrategyOptions};
use fh_feed::ring::RingMonitor;
use fh_feed::strategy::{Context, Figures, Runner, Strategy, StrategyRunner};
use fh_feed::update::{BookUpdate, InstrumentId};

/// The stamps both ends write, indexed by update.
#[derive(Debug)]
struct Stamps {
    clock: Clock,
    release: Box<[AtomicU64]>,
    read: Box<[AtomicU64]>,
    /// The ring's monitor, from the reader's consumer to the tap (taken at the tap's start).
    monitor: Mutex<Option<RingMonitor<BookUpdate>>>,
}

/// A ring-hop probe for one pipeline run: a tap for the engine's thread
/// ([`HopProbe::tap`]), a reader strategy ([`HopProbe::reader`]) and, after the run, the hops
/// ([`HopProbe::hops`]).
#[derive(Debug, Clone)]
pub struct HopProbe {
    stamps: Arc<Stamps>,
}

/// The hops of a run.
#[derive(Debug)]
pub struct Hops {
    /// Release → read, ns, one value per datagram that published updates.
    pub hist: Histogram<u64>,
    /// Datagrams with a release stamp.
    pub datagrams: u64,
    /// Of those, datagrams whose last update the reader never stamped (none on a no-loss ring
    /// that ran to the end).
    pub unread: u64,
    /// Reads stamped before the release stamp (recorded as 1 ns).
    pub early: u64,
}

impl HopProbe {
    /// A probe with room for `updates` updates (allocates two arrays of `updates` × 8 bytes).
    pub fn new(updates: u64) -> HopProbe {
        let n = usize::try_from(updates).unwrap_or(usize::MAX);
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        HopProbe {
            stamps: Arc::new(Stamps {
                clock: Clock::monotonic_raw(),
                release: zeros(n),
                read: zeros(n),
                monitor: Mutex::new(None),
            }),
        }
    }

    /// The tap that stamps releases (give it to [`Pipeline::tap`] on the same pipeline as
    /// [`HopProbe::reader`]).
    pub fn tap(&self) -> ReleaseTap {
        ReleaseTap {
            stamps: self.stamps.clone(),
            monitor: None,
            updates: 0,
            seen: 0,
            release_t: 0,
            stamped: 0,
            datagrams: 0,
            beyond: 0,
        }
    }

    /// Adds the reader to `p` as the strategy `name` placed by `options` (it hands the ring's
    /// monitor to the tap).
    pub fn reader(&self, p: Pipeline, name: &str, options: StrategyOptions) -> Pipeline {
        let stamps = self.stamps.clone();
        let n = name.to_string();
        p.runner_with(name, options, move |consumer, view, timer| {
            if let Ok(mut m) = stamps.monitor.lock() {
                *m = Some(consumer.monitor());
            }
            let reader = ReadStamp { stamps, t: 0 };
            Box::new(StrategyRunner::new(n, consumer, reader, view, timer)) as Box<dyn Runner>
        })
    }

    /// The release and read stamps of update `i` (0: none), ns on `CLOCK_MONOTONIC_RAW`.
    pub fn stamps_of(&self, i: u64) -> Option<(u64, u64)> {
        let i = usize::try_from(i).ok()?;
        let s = &self.stamps;
        let r = s.release.get(i)?.load(Ordering::Relaxed);
        Some((r, s.read.get(i)?.load(Ordering::Relaxed)))
    }

    /// The hops recorded (after the run).
    pub fn hops(&self) -> Hops {
        let mut out = Hops {
            hist: HistConfig::default().histogram(),
            datagrams: 0,
            unread: 0,
            early: 0,
        };
        let s = &self.stamps;
        for (r, d) in s.release.iter().zip(s.read.iter()) {
            let r = r.load(Ordering::Relaxed);
            if r == 0 {
                continue;
            }
            out.datagrams += 1;
            let d = d.load(Ordering::Relaxed);
            if d == 0 {
                out.unread += 1;
                continue;
            }
            out.early += u64::from(d < r);
            out.hist.saturating_record(d.saturating_sub(r).max(1));
        }
        out
    }
}

/// The probe's tap on the engine thread (see the module docs).
#[derive(Debug)]
pub struct ReleaseTap {
    stamps: Arc<Stamps>,
    monitor: Option<RingMonitor<BookUpdate>>,
    /// Updates given so far.
    updates: u64,
    /// The producer's published cursor at the last look.
    seen: u64,
    /// The clock at the last release seen.
    release_t: u64,
    /// Updates up to which datagrams are stamped.
    stamped: u64,
    datagrams: u64,
    beyond: u64,
}

impl ReleaseTap {
    /// Reads the clock if the ring's cursor moved since the last look.
    #[inline]
    fn look(&mut self) {
        if let Some(m) = &self.monitor {
            let p = m.producer_stats().published;
            if p != self.seen {
                self.seen = p;
                self.release_t = self.stamps.clock.now();
            }
        }
    }
}

impl Tap for ReleaseTap {
    fn start(&mut self, _symbols: &SymbolDirectory) {
        self.monitor = self.stamps.monitor.lock().ok().and_then(|mut m| m.take());
    }

    /// The probe lends no window, so this is called after every update's ring call.
    #[inline]
    fn full(&mut self, _window: &mut Window) {
        self.updates += 1;
        self.look();
    }

    #[inline]
    fn bbo(&mut self, _exch_ts: u64, _seq: u64, _instrument: InstrumentId, _bbo: &Bbo) {
        self.look();
    }

    fn wants_datagram_ends(&self) -> bool {
        true
    }

    #[inline]
    fn datagram_end(&mut self, _window: &Window) {
        self.look();
        if self.updates > self.stamped && self.seen >= self.updates {
            self.stamped = self.updates;
            self.datagrams += 1;
            match self.stamps.release.get((self.updates - 1) as usize) {
                Some(slot) => slot.store(self.release_t, Ordering::Relaxed),
                None => self.beyond += 1,
            }
        }
    }

    fn finish(&mut self, _window: &mut Window) -> Figures {
        let mut f = Figures::default();
        f.count("updates", self.updates)
            .count("datagrams stamped", self.datagrams)
            .count("past capacity", self.beyond)
            .count("ring seen", u64::from(self.monitor.is_some()));
        f
    }
}

/// The probe's reader: stamps each update with the clock read at its batch's first update.
#[derive(Debug)]
pub struct ReadStamp {
    stamps: Arc<Stamps>,
    /// The batch's reading (0: the next update starts a batch).
    t: u64,
}

impl Strategy for ReadStamp {
    #[inline]
    fn on_update(&mut self, _u: &BookUpdate, ctx: &Context<'_>) {
        if self.t == 0 {
            self.t = self.stamps.clock.now();
        }
        if let Some(slot) = self.stamps.read.get(ctx.ring_seq() as usize) {
            slot.store(self.t, Ordering::Relaxed);
        }
    }

    #[inline]
    fn on_batch_end(&mut self, _ctx: &Context<'_>) {
        self.t = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fh_feed::latency::LatencyConfig;
    use fh_feed::pipeline::{IdleKind, RingSettings};
    use fh_feed::update::RawUpdate;
    use std::time::{Duration, Instant};

    /// A small generated day (3,000 messages, a few hundred datagrams) in a temporary file.
    fn small_capture() -> std::path::PathBuf {
        use fh_replay::gen;
        let path = std::env::temp_dir().join(format!("fh-hop-{}.pcap", std::process::id()));
        let opts = gen::Options {
            config: gen::Config {
                stop: gen::Stop::Messages(3_000),
                ..gen::Config::default()
            },
            ..gen::Options::default()
        };
        gen::write_files(&opts, gen::Format::Pcap, &path).expect("generate");
        path
    }

    /// Each datagram as the engine thread saw it: its last update's index, that update's
    /// `engine_ts` and how many updates it published.
    type Seen = Arc<Mutex<Vec<(u64, u64, u64)>>>;

    /// The probe's tap, then `work` of busy engine time after each update (the engine's work
    /// between one update and the release of the next), noting each datagram. It lends a
    /// window of one slot, so [`Tap::full`] comes after every update's ring call and the slot
    /// holds the last update written.
    struct Slow {
        tap: ReleaseTap,
        work: Duration,
        slot: Box<RawUpdate>,
        updates: u64,
        in_datagram: u64,
        seen: Seen,
    }

    impl Tap for Slow {
        fn start(&mut self, symbols: &SymbolDirectory) {
            self.tap.start(symbols);
        }
        fn full(&mut self, w: &mut Window) {
            self.tap.full(w);
            (self.updates, self.in_datagram) = (self.updates + 1, self.in_datagram + 1);
            let t = Instant::now();
            while t.elapsed() < self.work {
                std::hint::spin_loop();
            }
            // SAFETY: `slot` is one aligned `RawUpdate` on the heap (it does not move when the
            // tap does), owned by the tap, which reads it only on the engine's thread between
            // the sink's writes (in `datagram_end`).
            unsafe { w.lend(&mut *self.slot, 1) };
        }
        fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, bbo: &Bbo) {
            self.tap.bbo(exch_ts, seq, instrument, bbo);
        }
        fn wants_datagram_ends(&self) -> bool {
            true
        }
        fn datagram_end(&mut self, w: &Window) {
            self.tap.datagram_end(w);
            if self.in_datagram > 0 {
                let d = (self.updates - 1, self.slot.engine_ts, self.in_datagram);
                self.seen.lock().expect("seen").push(d);
                self.in_datagram = 0;
            }
        }
        fn finish(&mut self, w: &mut Window) -> Figures {
            self.tap.finish(w)
        }
    }

    #[test]
    fn the_hop_leaves_out_the_engine_time_that_consume_holds() {
        let cap = small_capture();
        let quiet = LatencyConfig {
            no_latency: true,
            ..LatencyConfig::default()
        };
        let updates = Pipeline::replay(&cap)
            .latency(quiet)
            .digest(false)
            .run()
            .expect("replay")
            .report
            .updates
            .total;
        assert!(updates > 1_000, "{updates}");
        // Every datagram timed, so that every update carries its datagram's read time.
        let timed = LatencyConfig {
            stamp_every: 1,
            ..LatencyConfig::default()
        };
        let work = Duration::from_micros(100);
        let probe = HopProbe::new(updates);
        let seen = Seen::default();
        // The engine thread (busy while it works) and a yielding reader: never more spinning
        // threads than cores.
        let p = Pipeline::replay(&cap)
            .ring(RingSettings {
                idle: IdleKind::Yield,
                ..RingSettings::default()
            })
            .latency(timed)
            .digest(false);
        let slow = Slow {
            tap: probe.tap(),
            work,
            slot: Box::default(),
            updates: 0,
            in_datagram: 0,
            seen: seen.clone(),
        };
        let p = probe
            .reader(p, "hop", StrategyOptions::default())
            .tap("probe", slow);
        let report = p.run().expect("pipeline replay").report;
        let _ = std::fs::remove_file(&cap);
        let _ = std::fs::remove_file(fh_replay::gen::truth_path(&cap));
        let hops = probe.hops();
        let seen = seen.lock().expect("seen");
        assert_eq!(report.updates.total, updates);
        assert_eq!(hops.datagrams, seen.len() as u64, "every datagram stamped");
        assert_eq!(hops.unread, 0);
        assert_eq!(hops.hist.len(), hops.datagrams);
        // Update k of a datagram is released after k - 1 times `work` since the datagram was
        // read (its `engine_ts`): the release stamp, where the hop starts, comes after that
        // work, so the hop (release -> read) never holds it, whatever the reader's delays.
        // (`engine_ts` is on fh's TSC clock, the stamps on CLOCK_MONOTONIC_RAW: the same
        // timeline within the calibration's few ppm, well inside the 10 µs allowed.)
        let work_ns = work.as_nanos() as u64;
        let mut several = 0;
        for &(last, engine_ts, n) in seen.iter() {
            let (release, read) = probe.stamps_of(last).expect("in range");
            assert!(engine_ts > 0 && release > 0 && read > 0, "update {last}");
            if n >= 2 {
                several += 1;
                let engine_work = (n - 1) * work_ns;
                assert!(
                    release + work_ns / 10 >= engine_ts + engine_work,
                    "update {last}: released {} ns after its datagram's read, {n} updates",
                    release as i64 - engine_ts as i64
                );
            }
        }
        assert!(several > seen.len() / 2, "{several} of {}", seen.len());
        // `consume` starts at the datagram's read: its updates' values hold the work.
        let consume = report
            .latency
            .as_ref()
            .and_then(|l| l.stages.iter().find(|s| s.name == "consume.hop"))
            .expect("consume.hop");
        assert_eq!(consume.count, updates);
        assert!(
            consume.quantiles[0] >= work_ns,
            "consume p50 {} ns",
            consume.quantiles[0]
        );
    }
}
