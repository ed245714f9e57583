//! IEX DEEP L2 books: per symbol, two [`Ladder`]s set from Price Level Update messages (`8` buy,
//! `5` sell; absolute sizes, 0 removes), plus trading status, operational halt and security
//! events.
//!
//! ## Structure and rationale
//! - **Symbols** map to dense slots through an open-addressing table keyed by the 8 symbol bytes
//!   read as a `u64` (linear probing, power-of-two size fixed at start-up, load ≤ 1/2): O(1)
//!   expected per message, no string hashing, no allocation. A new symbol takes the next slot;
//!   its level vectors are reserved at its first Price Level Update (cold path; most of the
//!   ~11 000 symbols of a DEEP day never get one); beyond the configured number of symbols the
//!   table doubles on a cold path, counted.
//! - **Levels** in sorted [`Ladder`]s (worst cases in `levels`).
//! - **Events**: rule 3/4 of the spec. A PLU with Event Flags `0` opens (or continues) a
//!   transaction; `1` closes it. PLUs are applied to the ladders at once, but the *published*
//!   BBO ([`DeepInstrument::published_bbo`]) is the one from before the transaction until it
//!   closes. The engine holds the transaction's book updates and publishes them at the close.
//!
//! ## Invariants
//! - Ladders hold only levels with size > 0; order counts are 0 (DEEP has none).
//! - `in_event` is true exactly between a flag-0 PLU and the next flag-1 PLU of that symbol.

use super::levels::{Bbo, Ladder, LevelChange};
use crate::update::Side;

/// One IEX symbol's book and state.
#[derive(Clone, Debug)]
pub struct DeepInstrument {
    /// Symbol, space-padded.
    pub symbol: [u8; 8],
    /// Books are kept for this symbol (instrument filter).
    pub keep: bool,
    /// Bids.
    pub bids: Ladder,
    /// Asks.
    pub asks: Ladder,
    /// A transaction (flag-0 PLUs) is open.
    pub in_event: bool,
    /// The BBO before the open transaction (valid while `in_event`).
    pub event_start_bbo: Bbo,
    /// Last Trading Status (`H`), 0 if none.
    pub trading_status: u8,
    /// Last Operational Halt Status (`O`), 0 if none.
    pub op_halt: u8,
    /// Last Security Event (`E`), 0 if none.
    pub security_event: u8,
    /// Book-changing messages applied (activity ranking in reports).
    pub activity: u64,
}

impl DeepInstrument {
    /// The side's ladder.
    #[inline]
    pub fn ladder(&self, side: Side) -> &Ladder {
        if side == Side::Ask {
            &self.asks
        } else {
            &self.bids
        }
    }

    /// The BBO a consumer may act on: the pre-transaction one while an event is open.
    pub fn published_bbo(&self) -> Bbo {
        if self.in_event {
            self.event_start_bbo
        } else {
            Bbo::of(&self.bids, &self.asks)
        }
    }

    /// The symbol without its padding.
    pub fn symbol_str(&self) -> &str {
        let s = core::str::from_utf8(&self.symbol).unwrap_or("?");
        s.trim_end_matches([' ', '\0'])
    }
}

/// Anomaly and capacity counters of the DEEP books.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeepAnomalies {
    /// Books found crossed or locked at the end of an event.
    pub crossed: u64,
    /// PLUs that changed nothing (removing an absent level, or repeating a size).
    pub noop_updates: u64,
    /// Symbol table doublings past the configured number of symbols.
    pub symbol_growths: u64,
    /// Negative prices in PLUs (kept as is).
    pub negative_price: u64,
}

/// The DEEP books of one feed.
#[derive(Debug)]
pub struct DeepBooks {
    /// Slot table: 0 = empty, else instrument index + 1.
    table: Vec<u32>,
    mask: usize,
    instruments: Vec<DeepInstrument>,
    filter: Option<Vec<[u8; 8]>>,
    /// Anomaly counters.
    pub anomalies: DeepAnomalies,
    /// Where names are published for other threads (set by the engine).
    pub(crate) directory: Option<crate::directory::SymbolDirectory>,
}

const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

impl DeepBooks {
    /// Books for up to `expected_symbols` symbols (the table grows, counted, beyond that);
    /// `filter`: keep books only for these symbols (`None`: all).
    pub fn new(expected_symbols: usize, filter: Option<&[String]>) -> Self {
        let cap = (expected_symbols.max(8) * 2).next_power_of_two();
        DeepBooks {
            table: vec![0; cap],
            mask: cap - 1,
            instruments: Vec::with_capacity(expected_symbols),
            filter: filter.map(|f| f.iter().map(|s| super::itch_book::pad_symbol(s)).collect()),
            anomalies: DeepAnomalies::default(),
            directory: None,
        }
    }

    /// Number of symbols seen.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// No symbol seen.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// The instrument in a slot.
    #[inline]
    pub fn instrument(&self, slot: u32) -> &DeepInstrument {
        &self.instruments[slot as usize]
    }

    /// All instruments with their slots.
    pub fn instruments(&self) -> impl Iterator<Item = (u32, &DeepInstrument)> + '_ {
        self.instruments
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32, d))
    }

    /// The slot of a symbol, if seen.
    pub fn find(&self, symbol: &[u8; 8]) -> Option<u32> {
        let key = u64::from_le_bytes(*symbol);
        let mut i = self.home(key);
        loop {
            let v = self.table[i];
            if v == 0 {
                return None;
            }
            if self.instruments[(v - 1) as usize].symbol == *symbol {
                return Some(v - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(FIB) >> (64 - self.table.len().trailing_zeros())) as usize
    }

    /// The slot of a symbol, creating it on first sight (cold path).
    #[inline]
    pub fn slot(&mut self, symbol: &[u8; 8]) -> u32 {
        let key = u64::from_le_bytes(*symbol);
        let mut i = self.home(key);
        loop {
            let v = self.table[i];
            if v == 0 {
                return self.create(i, symbol);
            }
            if self.instruments[(v - 1) as usize].symbol == *symbol {
                return v - 1;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[cold]
    #[inline(never)]
    fn create(&mut self, at: usize, symbol: &[u8; 8]) -> u32 {
        let keep = self.filter.as_ref().is_none_or(|f| f.contains(symbol));
        let d = DeepInstrument {
            symbol: *symbol,
            keep,
            bids: Ladder::new(Side::Bid),
            asks: Ladder::new(Side::Ask),
            in_event: false,
            event_start_bbo: Bbo::default(),
            trading_status: 0,
            op_halt: 0,
            security_event: 0,
            activity: 0,
        };
        let slot = self.instruments.len() as u32;
        if let Some(dir) = &self.directory {
            dir.set(super::IEX_INSTRUMENT_BASE + slot, symbol);
        }
        self.instruments.push(d);
        self.table[at] = slot + 1;
        if self.instruments.len() * 2 > self.table.len() {
            self.anomalies.symbol_growths += 1;
            let cap = self.table.len() * 2;
            self.table = vec![0; cap];
            self.mask = cap - 1;
            for (n, inst) in self.instruments.iter().enumerate() {
                let mut i = self.home(u64::from_le_bytes(inst.symbol));
                while self.table[i] != 0 {
                    i = (i + 1) & self.mask;
                }
                self.table[i] = n as u32 + 1;
            }
        }
        slot
    }

    /// Applies one Price Level Update to a kept symbol. `complete` is Event Flags == 1.
    /// Returns the level change (if the level changed) and whether the event just closed; the
    /// caller publishes held updates on close.
    #[inline]
    pub fn price_level(
        &mut self,
        slot: u32,
        side: Side,
        price: i64,
        size: u32,
        complete: bool,
    ) -> Option<LevelChange> {
        let d = &mut self.instruments[slot as usize];
        if !d.in_event && !complete {
            d.event_start_bbo = Bbo::of(&d.bids, &d.asks);
            d.in_event = true;
        }
        d.activity += 1;
        if price < 0 {
            self.anomalies.negative_price += 1;
        }
        let ladder = if side == Side::Ask {
            &mut d.asks
        } else {
            &mut d.bids
        };
        ladder.ensure_reserved();
        let c = ladder.set(price, u64::from(size));
        if c.is_none() {
            self.anomalies.noop_updates += 1;
        }
        if complete {
            d.in_event = false;
            if Bbo::of(&d.bids, &d.asks).is_crossed() {
                self.anomalies.crossed += 1;
            }
        }
        c
    }

    /// Empties every book (start of a new session / day); symbols stay known.
    pub fn reset(&mut self) {
        for d in &mut self.instruments {
            d.bids.clear();
            d.asks.clear();
            d.in_event = false;
        }
    }

    /// Sets a status field of a symbol.
    pub fn instrument_mut(&mut self, slot: u32) -> &mut DeepInstrument {
        &mut self.instruments[slot as usize]
    }

    /// Level-vector growths past the initial reservation, over all symbols.
    pub fn level_growths(&self) -> u64 {
        self.instruments
            .iter()
            .map(|i| i.bids.growths + i.asks.growths)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_get_dense_slots_and_table_grows() {
        let mut b = DeepBooks::new(4, None);
        let mut slots = vec![];
        for n in 0..100u32 {
            let s = super::super::itch_book::pad_symbol(&format!("S{n}"));
            slots.push(b.slot(&s));
        }
        assert_eq!(slots, (0..100).collect::<Vec<_>>());
        assert!(b.anomalies.symbol_growths > 0);
        for n in 0..100u32 {
            let s = super::super::itch_book::pad_symbol(&format!("S{n}"));
            assert_eq!(b.find(&s), Some(n));
            assert_eq!(b.slot(&s), n);
        }
        assert_eq!(b.find(b"NOPE    "), None);
    }

    #[test]
    fn spec_example_event_publishes_only_at_close() {
        // Spec example: sells 25.10/25.20/25.30 x100, buys 25.00/24.90 x100.
        let mut b = DeepBooks::new(8, None);
        let s = b.slot(b"ZIEXT   ");
        for p in [251_000, 252_000, 253_000] {
            b.price_level(s, Side::Ask, p, 100, true);
        }
        for p in [250_000, 249_000] {
            b.price_level(s, Side::Bid, p, 100, true);
        }
        let before = b.instrument(s).published_bbo();
        assert_eq!(before.ask, Some((251_000, 100)));
        // flag 0: 25.10 removed, book in transition, BBO still 25.00 x 25.10
        let c = b.price_level(s, Side::Ask, 251_000, 0, false).unwrap();
        assert_eq!(c.op, super::super::levels::LevelOp::Deleted);
        assert!(b.instrument(s).in_event);
        assert_eq!(b.instrument(s).published_bbo(), before);
        // flag 1: 25.20 removed, event complete, BBO 25.00 x 25.30
        b.price_level(s, Side::Ask, 252_000, 0, true);
        let after = b.instrument(s).published_bbo();
        assert!(!b.instrument(s).in_event);
        assert_eq!(after.bid, Some((250_000, 100)));
        assert_eq!(after.ask, Some((253_000, 100)));
    }

    #[test]
    fn filter_and_noops() {
        let mut b = DeepBooks::new(8, Some(&["AAPL".to_string()]));
        let a = b.slot(b"AAPL    ");
        let m = b.slot(b"MSFT    ");
        assert!(b.instrument(a).keep && !b.instrument(m).keep);
        assert!(b.price_level(a, Side::Bid, 1, 0, true).is_none());
        assert_eq!(b.anomalies.noop_updates, 1);
    }
}
