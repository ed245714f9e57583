//! Recorders: exporters that see everything the engine produces — book updates, BBO changes and
//! the ITCH order-level events — on the engine's thread of a single-thread replay or of
//! `fh live` (ahead of the strategies' ring), in order.
//!
//! ```text
//!  Engine::on_datagram ─► Recording ─► every Recorder: order(e) / update(u)   (file writers: DBN, CSV, Parquet)
//!                               └► the replay's own sink (tally, digest, BBO CSV)
//! ```
//!
//! The replay borrows its sink and recorders ([`Recording`]); `fh live`'s engine agent owns
//! them on its thread ([`Recorded`]) and hands them back when it ends.
//!
//! A recorder is a boxed trait object: one virtual call per update and per order event, paid only
//! by a run that has recorders (a run without any uses the plain sink, with no trace of this). The
//! recorder owns its outputs; [`Recorder::finish`] completes and renames them (see
//! [`super::output::Output`]) and says what it wrote.
//!
//! ## Invariants
//! - A recorder sees BBO changes exactly as the engine's BBO CSV does (after the event's updates).
//! - A recorder sees the updates in the order the engine published them, each order-level event
//!   before the book updates of its message, and a [`OrderAction::Clear`] (instrument
//!   [`crate::update::OrderEvent::ALL_INSTRUMENTS`]) when a session change empties the books.
//! - [`Recorder::finish`] is called once, after the run ends (also when it was interrupted:
//!   what was read is written out), and never when the run failed.
//!
//! [`OrderAction::Clear`]: crate::update::OrderAction::Clear

use super::report::OutputReport;
use super::PipelineError;
use crate::directory::SymbolDirectory;
use crate::engine::levels::Bbo;
use crate::engine::UpdateSink;
use crate::update::{BookUpdate, InstrumentId, OrderEvent};

/// An exporter on the engine's thread (see the module docs).
pub trait Recorder: Send {
    /// Called once before the replay with the engine's symbol directory (instrument id →
    /// symbol), which stays valid and current for the whole run.
    fn start(&mut self, symbols: &SymbolDirectory);
    /// One book update.
    fn update(&mut self, u: &BookUpdate);
    /// One order-level event.
    fn order(&mut self, e: &OrderEvent);
    /// The best bid/offer of `instrument` changed with the event that ended at `exch_ts`
    /// (after that event's updates; the rows of the engine's BBO CSV).
    fn bbo(&mut self, _exch_ts: u64, _instrument: InstrumentId, _symbol: &[u8; 8], _bbo: &Bbo) {}
    /// The replay ended (`interrupted`: stopped early): complete the outputs and say what was
    /// written.
    fn finish(&mut self, interrupted: bool) -> Result<Vec<OutputReport>, PipelineError>;
}

/// The engine's sink with recorders: every recorder, then `inner`.
pub struct Recording<'a, S> {
    /// The replay's own sink.
    pub inner: &'a mut S,
    /// The recorders.
    pub recorders: &'a mut [Box<dyn Recorder>],
}

impl<S> std::fmt::Debug for Recording<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("recorders", &self.recorders.len())
            .finish()
    }
}

impl<S: UpdateSink> UpdateSink for Recording<'_, S> {
    const WANTS_BBO: bool = true;
    const WANTS_ORDERS: bool = true;

    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        for t in self.recorders.iter_mut() {
            t.update(u);
        }
        self.inner.publish(u);
    }

    #[inline]
    fn idle(&mut self) {
        self.inner.idle();
    }

    #[inline]
    fn datagram_end(&mut self) {
        self.inner.datagram_end();
    }

    #[inline]
    fn bbo_changed(&mut self, exch_ts: u64, instrument: InstrumentId, symbol: &[u8; 8], bbo: &Bbo) {
        for t in self.recorders.iter_mut() {
            t.bbo(exch_ts, instrument, symbol, bbo);
        }
        if S::WANTS_BBO {
            self.inner.bbo_changed(exch_ts, instrument, symbol, bbo);
        }
    }

    #[inline]
    fn order_event(&mut self, e: &OrderEvent) {
        for t in self.recorders.iter_mut() {
            t.order(e);
        }
    }
}

/// [`Recording`] that owns its sink and recorders, for an engine that runs on its own thread
/// (`fh live`: they move there with the engine agent, and come back with it at the end).
pub struct Recorded<S> {
    /// The engine's own sink.
    pub inner: S,
    /// The recorders.
    pub recorders: Vec<Box<dyn Recorder>>,
}

impl<S> std::fmt::Debug for Recorded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("recorders", &self.recorders.len())
            .finish()
    }
}

impl<S: UpdateSink> UpdateSink for Recorded<S> {
    const WANTS_BBO: bool = true;
    const WANTS_ORDERS: bool = true;

    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        Recording {
            inner: &mut self.inner,
            recorders: &mut self.recorders,
        }
        .publish(u);
    }

    #[inline]
    fn datagram_end(&mut self) {
        self.inner.datagram_end();
    }

    #[inline]
    fn idle(&mut self) {
        self.inner.idle();
    }

    #[inline]
    fn bbo_changed(&mut self, exch_ts: u64, instrument: InstrumentId, symbol: &[u8; 8], bbo: &Bbo) {
        Recording {
            inner: &mut self.inner,
            recorders: &mut self.recorders,
        }
        .bbo_changed(exch_ts, instrument, symbol, bbo);
    }

    #[inline]
    fn order_event(&mut self, e: &OrderEvent) {
        for t in self.recorders.iter_mut() {
            t.order(e);
        }
    }
}
