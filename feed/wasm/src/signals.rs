//! Signals emitted by strategies (`fh.signal(instrument, kind, value)`), collected per
//! strategy and written as one CSV at the end of the run (atomically: a temporary file beside
//! the target, renamed when complete).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use fh_feed::pipeline::output::Output;
use fh_feed::pipeline::PipelineError;

/// One signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// Instrument index.
    pub instrument: u32,
    /// Strategy-defined kind.
    pub kind: u32,
    /// Strategy-defined value.
    pub value: i64,
    /// The instrument's symbol when the signal was emitted (spaces if unnamed).
    pub symbol: [u8; 8],
}

/// Most signals one strategy keeps (16 M, 384 MiB at most); more are counted as dropped.
pub const MAX_SIGNALS: usize = 1 << 24;

/// Signals handed in, with the strategy's name.
type HandedIn = Vec<(String, Vec<Signal>)>;

/// A guest's report figures: name, value, shown in hex.
pub(crate) type GuestFigures = Vec<(String, i64, bool)>;

/// The run's signals, strategy by strategy (shared by the runners; each hands its signals in
/// once, when it finishes).
#[derive(Clone, Debug, Default)]
pub struct SignalLog {
    inner: Arc<Mutex<HandedIn>>,
    order: Arc<Mutex<Vec<String>>>,
}

impl SignalLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares `name` (rows are written in the order strategies were declared).
    pub fn declare(&self, name: &str) {
        if let Ok(mut o) = self.order.lock() {
            o.push(name.to_string());
        }
    }

    /// Hands in the signals of strategy `name`.
    pub fn hand_in(&self, name: &str, signals: Vec<Signal>) {
        if let Ok(mut v) = self.inner.lock() {
            v.push((name.to_string(), signals));
        }
    }

    /// The signals of `name` (empty if it handed none in).
    pub fn of(&self, name: &str) -> Vec<Signal> {
        let v = self.inner.lock().map(|v| v.clone()).unwrap_or_default();
        v.into_iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, s)| s)
            .collect()
    }

    /// Writes every signal as CSV `strategy,instrument,symbol,kind,value`, strategies in the
    /// order declared; returns the rows written.
    pub fn write_csv(&self, path: &Path) -> Result<u64, PipelineError> {
        let mut o = Output::create(path)?;
        let mut w = o.writer();
        let order = self.order.lock().map(|o| o.clone()).unwrap_or_default();
        let all = self.inner.lock().map(|v| v.clone()).unwrap_or_default();
        let mut rows = 0u64;
        let mut r = writeln!(w, "strategy,instrument,symbol,kind,value");
        for name in &order {
            for (_, sigs) in all.iter().filter(|(n, _)| n == name) {
                for s in sigs {
                    if r.is_ok() {
                        let sym = String::from_utf8_lossy(&s.symbol);
                        r = writeln!(
                            w,
                            "{name},{},{},{},{}",
                            s.instrument,
                            sym.trim_end(),
                            s.kind,
                            s.value
                        );
                        rows += 1;
                    }
                }
            }
        }
        r.and_then(|_| w.flush()).map_err(|e| o.error(e))?;
        drop(w);
        o.commit()?;
        Ok(rows)
    }
}

/// A strategy's own signal buffer: reserved at start-up, bounded.
#[derive(Debug)]
pub(crate) struct SignalBuf {
    pub(crate) signals: Vec<Signal>,
    pub(crate) dropped: u64,
}

impl SignalBuf {
    pub(crate) fn new() -> Self {
        SignalBuf {
            signals: Vec::with_capacity(1 << 12),
            dropped: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, s: Signal) {
        if self.signals.len() < MAX_SIGNALS {
            self.signals.push(s);
        } else {
            self.dropped += 1;
        }
    }
}
