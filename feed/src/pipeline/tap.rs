//! Taps: consumers of the update stream that run on the engine's thread, inside its sink, and
//! see every update the moment the engine publishes it, before any ring.
//!
//! ```text
//!  Engine::on_datagram ─► PublishSink ─► TapOutlet<O> ─► O (nothing, or the publication ring)
//!                                                    └► Tap (e.g. fh-shm: shared memory)
//! ```
//!
//! A tap is added with [`super::Pipeline::tap`]; the library knows nothing of what it does
//! with the updates (the `fh-shm` crate writes them into shared memory for other processes).
//! It sees the same calls as the ring outlet: each update in order, each best bid/offer change
//! after the event that made it, and the end of each datagram.
//!
//! ## Invariants
//! - A tap runs on the engine's thread and never waits for anyone: whatever it costs is
//!   engine time (the report's `engine_cpu_s`). Like the rest of the hot path it must not
//!   allocate, lock or make system calls per update.
//! - A tap sees exactly what a strategy sees, in the same order, in every mode: the digest of
//!   what it is given equals the run's digest.
//! - Without a tap nothing changes: the sink is built without [`TapOutlet`].

use crate::directory::SymbolDirectory;
use crate::engine::levels::Bbo;
use crate::strategy::Figures;
use crate::update::{BookUpdate, InstrumentId};

use super::sink::Outlet;

/// A consumer of the update stream on the engine's thread (see the module docs).
pub trait Tap: Send {
    /// Called once on the engine's thread before the first datagram, with the engine's
    /// instrument directory (the symbol of every instrument an update names is in it).
    fn start(&mut self, symbols: &SymbolDirectory);
    /// One update, in engine order.
    fn update(&mut self, u: &BookUpdate);
    /// The best bid/offer of `instrument` changed with the event just given; `seq` is the
    /// feed sequence number of the last update given.
    fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, bbo: &Bbo);
    /// The datagram is done.
    fn datagram_end(&mut self);
    /// The engine has handled every datagram it had in hand (the end of a live poll batch, a
    /// paced replay about to wait; never in an unpaced replay): hand on what was collected.
    fn idle(&mut self) {}
    /// The stream is over (end of the source or a stop): called once, on the engine's
    /// thread; returns what the tap reports of itself.
    fn finish(&mut self) -> Figures;
}

/// What a tap reported at the end of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TapReport {
    /// The tap's name.
    pub name: String,
    /// Its figures.
    pub figures: Figures,
}

/// A named tap, as the pipeline holds it.
pub(crate) struct NamedTap {
    pub(crate) name: String,
    pub(crate) tap: Box<dyn Tap>,
}

impl core::fmt::Debug for NamedTap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NamedTap")
            .field("name", &self.name)
            .finish()
    }
}

/// An outlet that hands every call to the inner outlet `O`, then to the tap (if any).
#[derive(Debug)]
pub struct TapOutlet<O: Outlet> {
    /// The inner outlet (nothing, or the ring).
    pub inner: O,
    tap: Option<NamedTap>,
    last_seq: u64,
}

impl<O: Outlet> TapOutlet<O> {
    /// `inner` followed by `tap`, started now with `symbols`.
    pub(crate) fn new(inner: O, tap: Option<NamedTap>, symbols: &SymbolDirectory) -> Self {
        let mut tap = tap;
        if let Some(t) = tap.as_mut() {
            t.tap.start(symbols);
        }
        TapOutlet {
            inner,
            tap,
            last_seq: 0,
        }
    }

    /// Finishes the tap (if any) and gives back the inner outlet and the tap's report.
    pub(crate) fn finish(self) -> (O, Option<TapReport>) {
        let report = self.tap.map(|mut t| TapReport {
            figures: t.tap.finish(),
            name: t.name,
        });
        (self.inner, report)
    }
}

impl<O: Outlet> Outlet for TapOutlet<O> {
    const WANTS_BBO: bool = true;

    #[inline(always)]
    fn push(&mut self, u: &BookUpdate) {
        self.inner.push(u);
        if let Some(t) = self.tap.as_mut() {
            self.last_seq = u.seq;
            t.tap.update(u);
        }
    }

    #[inline(always)]
    fn bbo(&mut self, exch_ts: u64, instrument: InstrumentId, bbo: &Bbo) {
        self.inner.bbo(exch_ts, instrument, bbo);
        if let Some(t) = self.tap.as_mut() {
            t.tap.bbo(exch_ts, self.last_seq, instrument, bbo);
        }
    }

    #[inline(always)]
    fn datagram_end(&mut self) {
        self.inner.datagram_end();
        if let Some(t) = self.tap.as_mut() {
            t.tap.datagram_end();
        }
    }

    #[inline(always)]
    fn idle(&mut self) {
        self.inner.idle();
        if let Some(t) = self.tap.as_mut() {
            t.tap.idle();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::digest::Digest;
    use crate::update::Flags;

    #[derive(Default)]
    struct Record {
        calls: Vec<String>,
        digest: Digest,
    }

    struct Recorder(std::sync::Arc<std::sync::Mutex<Record>>);

    impl Tap for Recorder {
        fn start(&mut self, symbols: &SymbolDirectory) {
            self.0
                .lock()
                .unwrap()
                .calls
                .push(format!("start {}", symbols.len()));
        }
        fn update(&mut self, u: &BookUpdate) {
            let mut r = self.0.lock().unwrap();
            r.digest.add(u);
            r.calls.push(format!("u{}", u.seq));
        }
        fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, bbo: &Bbo) {
            let s = format!("bbo {exch_ts} {seq} {instrument} {:?}", bbo.bid);
            self.0.lock().unwrap().calls.push(s);
        }
        fn datagram_end(&mut self) {
            self.0.lock().unwrap().calls.push("end".into());
        }
        fn finish(&mut self) -> Figures {
            let mut f = Figures::default();
            f.count("calls", self.0.lock().unwrap().calls.len() as u64);
            f
        }
    }

    #[test]
    fn a_tap_sees_every_call_in_order_after_the_inner_outlet() {
        let rec = std::sync::Arc::new(std::sync::Mutex::new(Record::default()));
        let tap = NamedTap {
            name: "rec".into(),
            tap: Box::new(Recorder(rec.clone())),
        };
        let dir = SymbolDirectory::new(4);
        let mut o = TapOutlet::new((), Some(tap), &dir);
        let mut digest = Digest::new();
        for i in 1..=2u64 {
            let u = BookUpdate {
                seq: i,
                flags: Flags::LAST_IN_EVENT,
                ..Default::default()
            };
            digest.add(&u);
            o.push(&u);
        }
        let b = Bbo {
            bid: Some((100, 1)),
            ask: None,
        };
        o.bbo(7, 3, &b);
        o.datagram_end();
        let ((), report) = o.finish();
        let report = report.unwrap();
        assert_eq!(report.name, "rec");
        let r = rec.lock().unwrap();
        assert_eq!(
            r.calls,
            ["start 4", "u1", "u2", "bbo 7 2 3 Some((100, 1))", "end"]
        );
        assert_eq!(r.digest.value(), digest.value());
        assert_eq!(format!("{:?}", report.figures.0[0].0), "\"calls\"");
    }
}
