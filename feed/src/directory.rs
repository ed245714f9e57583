//! The instrument directory: instrument id → symbol, readable from any thread without locks.
//!
//! The engine is the single writer: it stores a symbol when it learns one (ITCH stock
//! directory `R`, or the first add or trading action of an unnamed locate; the first message
//! of an IEX symbol) and clears the ITCH half when a session change resets its books. A symbol
//! is eight bytes, so each entry is one `AtomicU64`: a store (Release) is a whole symbol, and a
//! reader (Acquire) never sees a torn one. The engine names an instrument before it publishes
//! any update of it, so a strategy that reads an update also finds its symbol here.
//!
//! Readers that mirror the directory elsewhere (fh-shm's top-of-book table) follow its change
//! log instead of comparing every entry: each `set` appends its id to a ring of
//! [`CHANGE_LOG`] ids, `clear` marks everything changed, and [`SymbolDirectory::changes`]
//! hands a reader the ids changed since its cursor (all ids when it fell more than a ring
//! behind).
//!
//! Invariants: sized once at start-up; the value 0 means "no symbol"; ids beyond the table are
//! not stored (a read returns `None`); an id is in the log after its symbol is stored.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::update::InstrumentId;

/// A symbol as the venue sends it: eight bytes, space (or NUL) padded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Symbol(pub [u8; 8]);

impl Symbol {
    /// The symbol without its padding (`"?"` if it is not UTF-8).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0)
            .map(|s| s.trim_end_matches([' ', '\0']))
            .unwrap_or("?")
    }
}

impl core::fmt::Display for Symbol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for Symbol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Symbol({:?})", self.as_str())
    }
}

/// Ids the change log holds; a reader further behind than this rereads every id.
pub const CHANGE_LOG: usize = 4096;

/// The change log: `count` changes so far, change `k`'s id at `ids[k % CHANGE_LOG]`.
struct Log {
    count: AtomicU64,
    ids: Box<[AtomicU32]>,
}

/// Shared handle on the directory; clones see the same entries.
#[derive(Clone)]
pub struct SymbolDirectory {
    entries: Arc<[AtomicU64]>,
    log: Arc<Log>,
}

impl core::fmt::Debug for SymbolDirectory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymbolDirectory")
            .field("instruments", &self.entries.len())
            .finish()
    }
}

impl SymbolDirectory {
    /// A directory for ids `0..instruments` (allocated now).
    pub fn new(instruments: usize) -> Self {
        SymbolDirectory {
            entries: (0..instruments).map(|_| AtomicU64::new(0)).collect(),
            log: Arc::new(Log {
                count: AtomicU64::new(0),
                ids: (0..CHANGE_LOG).map(|_| AtomicU32::new(0)).collect(),
            }),
        }
    }

    /// Ids the directory can hold.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no id at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores `symbol` for `id` (writer only); false when `id` is outside the table.
    #[inline]
    pub fn set(&self, id: InstrumentId, symbol: &[u8; 8]) -> bool {
        match self.entries.get(id as usize) {
            Some(e) => {
                e.store(u64::from_le_bytes(*symbol), Ordering::Release);
                let n = self.log.count.load(Ordering::Relaxed);
                self.log.ids[n as usize % CHANGE_LOG].store(id, Ordering::Relaxed);
                self.log.count.store(n + 1, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Forgets the symbols of ids `range` (writer only); readers of the change log reread
    /// every id.
    pub fn clear(&self, range: core::ops::Range<usize>) {
        for e in self.entries.get(range).unwrap_or(&[]) {
            e.store(0, Ordering::Release);
        }
        let n = self.log.count.load(Ordering::Relaxed);
        self.log
            .count
            .store(n + CHANGE_LOG as u64 + 1, Ordering::Release);
    }

    /// Hands `f` every id whose symbol changed since the cursor `seen` (start it at 0) with
    /// its symbol now (`None`: cleared), or every id of the directory when more than
    /// [`CHANGE_LOG`] changes happened since; moves `seen` on. An id may come more than once.
    #[inline]
    pub fn changes(&self, seen: &mut u64, f: impl FnMut(InstrumentId, Option<Symbol>)) {
        if self.log.count.load(Ordering::Acquire) != *seen {
            self.changes_since(seen, f);
        }
    }

    #[cold]
    fn changes_since(&self, seen: &mut u64, mut f: impl FnMut(InstrumentId, Option<Symbol>)) {
        let n = self.log.count.load(Ordering::Acquire);
        let log = CHANGE_LOG as u64;
        let mut all = n.wrapping_sub(*seen) > log;
        if !all {
            for k in *seen..n {
                let id = self.log.ids[k as usize % CHANGE_LOG].load(Ordering::Relaxed);
                f(id, self.get(id));
            }
            // A writer on another thread may have overwritten ids read above: if it went a
            // whole ring past the cursor, reread everything.
            all = self.log.count.load(Ordering::Acquire).wrapping_sub(*seen) > log;
        }
        if all {
            for id in 0..self.entries.len() as InstrumentId {
                f(id, self.get(id));
            }
        }
        *seen = n;
    }

    /// The symbol of `id`, if known.
    #[inline]
    pub fn get(&self, id: InstrumentId) -> Option<Symbol> {
        let w = self.entries.get(id as usize)?.load(Ordering::Acquire);
        (w != 0).then(|| Symbol(w.to_le_bytes()))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn set_get_clear_and_out_of_range() {
        let d = SymbolDirectory::new(4);
        assert_eq!(d.get(1), None);
        assert!(d.set(1, b"AAPL    "));
        assert!(!d.set(4, b"MSFT    "));
        let r = d.clone();
        assert_eq!(r.get(1).unwrap().as_str(), "AAPL");
        assert_eq!(r.get(1).unwrap().to_string(), "AAPL");
        assert_eq!(r.get(9), None);
        d.clear(0..2);
        assert_eq!(r.get(1), None);
    }

    #[test]
    fn the_change_log_names_what_changed_since_a_cursor_or_everything() {
        let d = SymbolDirectory::new(8);
        let mut seen = 0;
        let mut got = Vec::new();
        d.changes(&mut seen, |id, s| got.push((id, s)));
        assert!(got.is_empty(), "nothing named yet");
        d.set(3, b"AAPL    ");
        d.set(5, b"MSFT    ");
        assert!(!d.set(8, b"X       "), "outside: not logged");
        d.changes(&mut seen, |id, s| got.push((id, s)));
        let aapl = Some(Symbol(*b"AAPL    "));
        assert_eq!(got, [(3, aapl), (5, Some(Symbol(*b"MSFT    ")))]);
        got.clear();
        d.changes(&mut seen, |id, s| got.push((id, s)));
        assert!(got.is_empty(), "the cursor moved on");
        // A reader more than a ring behind, or after a clear: every id.
        for _ in 0..=CHANGE_LOG {
            d.set(1, b"IBM     ");
        }
        d.changes(&mut seen, |id, s| got.push((id, s)));
        assert_eq!(got.len(), 8);
        assert_eq!(got[1], (1, Some(Symbol(*b"IBM     "))));
        got.clear();
        d.clear(0..4);
        d.changes(&mut seen, |id, s| got.push((id, s)));
        assert_eq!(
            (got.len(), got[3], got[5].1.is_some()),
            (8, (3, None), true)
        );
    }
}
