//! The instrument directory: instrument id → symbol, readable from any thread without locks.
//!
//! The engine is the single writer: it stores a symbol when it learns one (ITCH stock
//! directory `R`, or the first add or trading action of an unnamed locate; the first message
//! of an IEX symbol) and clears the ITCH half when a session change resets its books. A symbol
//! is eight bytes, so each entry is one `AtomicU64`: a store (Release) is a whole symbol, and a
//! reader (Acquire) never sees a torn one. The engine names an instrument before it publishes
//! any update of it, so a strategy that reads an update also finds its symbol here.
//!
//! Invariants: sized once at start-up; the value 0 means "no symbol"; ids beyond the table are
//! not stored (a read returns `None`).

use std::sync::atomic::{AtomicU64, Ordering};
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

/// Shared handle on the directory; clones see the same entries.
#[derive(Clone)]
pub struct SymbolDirectory {
    entries: Arc<[AtomicU64]>,
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
                true
            }
            None => false,
        }
    }

    /// Forgets the symbols of ids `range` (writer only).
    pub fn clear(&self, range: core::ops::Range<usize>) {
        for e in self.entries.get(range).unwrap_or(&[]) {
            e.store(0, Ordering::Release);
        }
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
}
