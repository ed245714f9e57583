//! ITCH 5.0 L3 books: every live order in an [`OrderStore`], aggregated per instrument and side
//! into L2 [`Ladder`]s, changed exactly as the spec's "How each message changes an order book".
//!
//! ## Structure and rationale
//! - **Instruments by stock locate**: a flat table of 65 536 [`ItchInstrument`]s indexed by the
//!   `u16` locate (the spec intends it as an array index): O(1), no hashing. Symbols come from
//!   `R` (or from the first `A`/`F`, which also carry the symbol, for captures that start late).
//! - **Orders** in the [`OrderStore`] (a direct-mapped ring by reference, with a spill table;
//!   see its module for costs); an order keeps its locate, side, price, remaining shares and
//!   MPID, so `E C X D U` (which carry only the reference) find their level in O(1) + one
//!   level lookup; and the index its level had when the books last touched it
//!   ([`Order::level_hint`]), which makes that lookup one comparison while no level has been
//!   added or removed below it since (a stale hint costs that comparison, then the search).
//! - **Levels** in sorted [`Ladder`]s (see `levels` for the worst case of each operation).
//! - Ladder capacity is reserved when an instrument is first used (cold path); the order store
//!   is sized at start-up. Steady state allocates nothing.
//!
//! | message | effect |
//! |---|---|
//! | `A`/`F` | insert order; level += shares, orders += 1 |
//! | `E`/`C`/`X` | order.shares −= n; level −= n; at 0 the order goes and the level loses an order |
//! | `D` | remove order; level −= remaining, orders −= 1 |
//! | `U` | `D` of the original, then `A` with the new reference, shares, price and the original's side, locate and MPID |
//!
//! ## Invariants
//! - For every instrument and side, each level's `shares` is the sum of the remaining shares of
//!   the live orders at that price, and `orders` their number (the property test checks this
//!   against an ordered-map model after every message).
//! - Every live order has `shares > 0`.
//! - Anomalies (unknown or duplicate reference, execution beyond the remaining size, …) are
//!   counted in [`ItchAnomalies`] and never panic; a duplicate add keeps the existing order.

use super::levels::{Bbo, Ladder, LevelChange, LevelError, INITIAL_LEVELS};
use super::orders::{InsertError, Order, OrderStore, NO_LEVEL_HINT};
use super::table::prefetch;
use crate::update::{InstrumentId, Side};

/// Number of stock locates (the full `u16` range).
pub const LOCATES: usize = 1 << 16;

/// Anomaly counters of the ITCH books.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ItchAnomalies {
    /// `E C X D U` naming a reference that is not live.
    pub unknown_ref: u64,
    /// `A F U` adding a reference that is already live (the existing order is kept).
    pub duplicate_ref: u64,
    /// `E C X` removing more shares than remain (the order is removed).
    pub over_execution: u64,
    /// A message's stock locate differs from the live order's (the order's wins).
    pub locate_mismatch: u64,
    /// The level of a live order was missing or too small (internal inconsistency).
    pub level_mismatch: u64,
    /// A buy/sell indicator other than `B`/`S`.
    pub bad_side: u64,
    /// Books found crossed or locked after an add (best bid ≥ best ask).
    pub crossed: u64,
}

/// One instrument's books and state.
#[derive(Clone, Debug)]
pub struct ItchInstrument {
    /// Symbol, space-padded (all zero until named by `R`, `A` or `F`).
    pub symbol: [u8; 8],
    /// Books are kept for this instrument (instrument filter).
    pub keep: bool,
    /// Named by `R` (or by an add).
    pub named: bool,
    /// The two sides, indexed by `Side as usize` (bids 0, asks 1): choosing a side is an
    /// address computation, not a branch (an `if side == Ask` mispredicted on every other add
    /// of a mixed stream: 0.25 mispredicts per message in callgrind's model).
    ladders: [Ladder; 2],
    /// Last trading state (`H` message), 0 if none.
    pub trading_state: u8,
    /// Book-changing messages applied (activity ranking in reports).
    pub activity: u64,
    /// The BBO last reported to a sink that wants BBO changes (see
    /// [`ItchBooks::bbo_if_changed`]).
    reported: Bbo,
}

impl ItchInstrument {
    fn new() -> Self {
        ItchInstrument {
            symbol: [0; 8],
            keep: true,
            named: false,
            ladders: [Ladder::new(Side::Bid), Ladder::new(Side::Ask)],
            trading_state: 0,
            activity: 0,
            reported: Bbo::default(),
        }
    }

    /// The side's ladder (`Side::None` reads as the bids: no order has that side).
    #[inline(always)]
    pub fn ladder(&self, side: Side) -> &Ladder {
        &self.ladders[side as usize & 1]
    }

    #[inline(always)]
    fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        &mut self.ladders[side as usize & 1]
    }

    /// Bids.
    #[inline]
    pub fn bids(&self) -> &Ladder {
        &self.ladders[Side::Bid as usize]
    }

    /// Asks.
    #[inline]
    pub fn asks(&self) -> &Ladder {
        &self.ladders[Side::Ask as usize]
    }

    /// Neither side holds a level.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ladders.iter().all(Ladder::is_empty)
    }

    /// The symbol without its padding.
    pub fn symbol_str(&self) -> &str {
        let s = core::str::from_utf8(&self.symbol).unwrap_or("?");
        s.trim_end_matches([' ', '\0'])
    }
}

/// A level change on an instrument's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SideChange {
    /// Stock locate.
    pub locate: u16,
    /// Side.
    pub side: Side,
    /// What happened to the level.
    pub change: LevelChange,
}

/// The ITCH books of one feed.
#[derive(Debug)]
pub struct ItchBooks {
    /// Live orders.
    pub orders: OrderStore,
    /// Indexed by locate; a fixed-size array so that indexing by a `u16` needs no bounds check.
    instruments: Box<[ItchInstrument; LOCATES]>,
    filter: Option<Vec<[u8; 8]>>,
    /// Anomaly counters.
    pub anomalies: ItchAnomalies,
    /// Where names are published for other threads (set by the engine).
    pub(crate) directory: Option<crate::directory::SymbolDirectory>,
}

/// The byte range of an [`ItchInstrument`] that every book message reads: its ladders' headers,
/// its filter flag and its activity counter ([`ItchBooks::prefetch_instrument`]).
const HOT_FIELDS: (usize, usize) = {
    use core::mem::{offset_of, size_of};
    let fields = [
        (
            offset_of!(ItchInstrument, ladders),
            size_of::<[Ladder; 2]>(),
        ),
        (offset_of!(ItchInstrument, keep), 1),
        (offset_of!(ItchInstrument, activity), 8),
    ];
    let (mut lo, mut hi, mut i) = (usize::MAX, 0, 0);
    while i < fields.len() {
        let (at, len) = fields[i];
        if at < lo {
            lo = at;
        }
        if at + len > hi {
            hi = at + len;
        }
        i += 1;
    }
    (lo, hi)
};

/// [`Order::level_hint`] of a level at `index` (an index above 254 is no hint).
#[inline(always)]
fn level_hint(index: usize) -> u8 {
    u8::try_from(index).unwrap_or(NO_LEVEL_HINT)
}

/// Pads a symbol to ITCH's `alpha(8)`.
pub fn pad_symbol(s: &str) -> [u8; 8] {
    let mut out = [b' '; 8];
    for (o, b) in out.iter_mut().zip(s.bytes()) {
        *o = b;
    }
    out
}

impl ItchBooks {
    /// Books for up to `expected_orders` live orders (the store grows, counted, beyond that);
    /// `filter`: keep books only for these symbols (`None`: all).
    pub fn new(expected_orders: usize, filter: Option<&[String]>) -> Self {
        // On huge pages: a message's instrument is one of up to 65 536 scattered entries.
        let instruments: Box<[ItchInstrument; LOCATES]> =
            super::table::filled_on_huge_pages(LOCATES, ItchInstrument::new)
                .try_into()
                .expect("exactly LOCATES instruments");
        let filter = filter.map(|f| f.iter().map(|s| pad_symbol(s)).collect::<Vec<_>>());
        let mut b = ItchBooks {
            orders: OrderStore::with_capacity(expected_orders),
            instruments,
            filter,
            anomalies: ItchAnomalies::default(),
            directory: None,
        };
        if b.filter.is_some() {
            for i in b.instruments.iter_mut() {
                i.keep = false;
            }
        }
        b
    }

    /// Asks for what every book message reads of the instrument at `locate` (its two
    /// ladders' headers, its filter flag and activity counter), ahead of the message.
    #[inline(always)]
    pub(crate) fn prefetch_instrument(&self, locate: u16) {
        let p = (&self.instruments[usize::from(locate)] as *const ItchInstrument).cast::<u8>();
        prefetch(p.wrapping_add(HOT_FIELDS.0));
        prefetch(p.wrapping_add(HOT_FIELDS.1 - 1));
    }

    /// Asks for the level at `hint` (past the end: the best level) of ladder `ladder`
    /// (`Side as usize & 1`) of the instrument at `locate`, and the best levels of that ladder
    /// (see [`Ladder::prefetch_near`]). Reads the instrument, which should be in the cache by
    /// then ([`ItchBooks::prefetch_instrument`] some messages before).
    #[inline(always)]
    pub(crate) fn prefetch_level(&self, locate: u16, ladder: usize, hint: u8) {
        self.instruments[usize::from(locate)].ladders[ladder & 1].prefetch_near(usize::from(hint));
    }

    /// The instrument at a locate.
    #[inline]
    pub fn instrument(&self, locate: u16) -> &ItchInstrument {
        &self.instruments[usize::from(locate)]
    }

    /// The BBO of `locate` if it differs from the one this last returned (or the empty BBO
    /// after a reset), which it then becomes: the engine reports BBO changes through it.
    #[inline(always)]
    pub(crate) fn bbo_if_changed(&mut self, locate: u16) -> Option<Bbo> {
        let i = &mut self.instruments[usize::from(locate)];
        let now = Bbo::of(i.bids(), i.asks());
        if now.same(&i.reported) {
            None
        } else {
            i.reported = now;
            Some(now)
        }
    }

    /// All instruments that were named or hold levels.
    pub fn instruments(&self) -> impl Iterator<Item = (u16, &ItchInstrument)> + '_ {
        self.instruments
            .iter()
            .enumerate()
            .filter(|(_, i)| i.named || !i.is_empty())
            .map(|(l, i)| (l as u16, i))
    }

    /// Empties every book and forgets every order and symbol (new session).
    pub fn reset(&mut self) {
        self.orders.clear();
        let keep = self.filter.is_none();
        for i in self.instruments.iter_mut() {
            i.ladders.iter_mut().for_each(Ladder::clear);
            i.reported = Bbo::default();
            i.symbol = [0; 8];
            i.named = false;
            i.keep = keep;
            i.trading_state = 0;
        }
        if let Some(d) = &self.directory {
            d.clear(0..LOCATES);
        }
    }

    /// Level-vector growths past the initial reservation, over all instruments.
    pub fn level_growths(&self) -> u64 {
        self.instruments
            .iter()
            .map(|i| i.ladders.iter().map(|l| l.growths).sum::<u64>())
            .sum()
    }

    /// Names an instrument (`R`, or the symbol of an add on an unnamed locate) and applies the
    /// filter. Reserves its level storage (cold path).
    #[cold]
    pub fn name(&mut self, locate: u16, symbol: [u8; 8]) {
        let keep = self.filter.as_ref().is_none_or(|f| f.contains(&symbol));
        let i = &mut self.instruments[usize::from(locate)];
        i.symbol = symbol;
        i.named = true;
        i.keep = keep;
        if let Some(d) = &self.directory {
            d.set(InstrumentId::from(locate), &symbol);
        }
        if keep {
            for l in &mut i.ladders {
                l.reserve_initial(INITIAL_LEVELS);
            }
        }
    }

    /// Records a trading state (`H`).
    pub fn set_trading_state(&mut self, locate: u16, state: u8) {
        self.instruments[usize::from(locate)].trading_state = state;
    }

    /// Whether books are kept for this locate.
    #[inline]
    pub fn keeps(&self, locate: u16) -> bool {
        self.instruments[usize::from(locate)].keep
    }

    #[inline]
    fn count_level_error(&mut self, e: Option<LevelError>) {
        if e.is_some() {
            self.anomalies.level_mismatch += 1;
        }
    }

    /// `A` / `F`: a new order. Returns the level change, or `None` when the instrument is
    /// filtered out or the reference is already live (counted).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        reference: u64,
        locate: u16,
        side: Side,
        price: u32,
        shares: u32,
        mpid: [u8; 4],
        stock: &[u8; 8],
    ) -> Option<SideChange> {
        let inst = &self.instruments[usize::from(locate)];
        if !inst.named {
            self.name(locate, *stock);
        }
        if !self.instruments[usize::from(locate)].keep {
            return None;
        }
        if side == Side::None {
            self.anomalies.bad_side += 1;
            return None;
        }
        self.insert_order(
            reference,
            Order {
                price,
                shares,
                locate,
                side,
                mpid,
                level_hint: NO_LEVEL_HINT,
            },
        )
    }

    #[inline(always)]
    fn insert_order(&mut self, reference: u64, o: Order) -> Option<SideChange> {
        // The level's position first, so that the order goes into the store with its level
        // hint; the ladder is changed only once the reference is known to be new.
        let price = i64::from(o.price);
        let inst = &mut self.instruments[usize::from(o.locate)];
        let at = inst.ladder(o.side).position(price);
        let hint = level_hint(match at {
            Ok(i) | Err(i) => i,
        });
        let o = Order {
            level_hint: hint,
            ..o
        };
        if let Err(InsertError::Duplicate) = self.orders.insert(reference, o) {
            self.anomalies.duplicate_ref += 1;
            return None;
        }
        inst.activity += 1;
        let change = inst
            .ladder_mut(o.side)
            .add_at(at, price, u64::from(o.shares), 1);
        // Crossed or locked after an add at the best (where the changed level is its side's
        // best): counted without a branch on `at_best`, which mispredicted on about one
        // message in six.
        let s = o.side as usize & 1;
        let (own, other) = (&inst.ladders[s], &inst.ladders[s ^ 1]);
        let crossed = own.crosses(change.level.price, other);
        self.anomalies.crossed += u64::from(change.at_best & crossed);
        Some(SideChange {
            locate: o.locate,
            side: o.side,
            change,
        })
    }

    /// `E` / `C` / `X`: removes `shares` from a live order (the order goes at zero). Returns
    /// the order as it was before, and the level change.
    #[inline(always)]
    pub fn reduce(
        &mut self,
        reference: u64,
        locate: u16,
        shares: u32,
    ) -> Option<(Order, SideChange)> {
        if !self.keeps(locate) {
            return None;
        }
        let Some(before) = self.orders.reduce(reference, shares) else {
            self.anomalies.unknown_ref += 1;
            return None;
        };
        let gone = shares >= before.shares;
        self.anomalies.over_execution += u64::from(shares > before.shares);
        let removed = shares.min(before.shares);
        if before.locate != locate {
            self.anomalies.locate_mismatch += 1;
        }
        let inst = &mut self.instruments[usize::from(before.locate)];
        inst.activity += 1;
        let (c, e) = inst.ladder_mut(before.side).reduce_checked_hinted(
            usize::from(before.level_hint),
            i64::from(before.price),
            u64::from(removed),
            u32::from(gone),
        );
        // A level that moved since the order last saw it: the order keeps its new index.
        if let Some(c) = c.filter(|c| !gone && c.index != usize::from(before.level_hint)) {
            self.orders.set_level_hint(reference, level_hint(c.index));
        }
        self.count_level_error(e);
        c.map(|change| {
            (
                before,
                SideChange {
                    locate: before.locate,
                    side: before.side,
                    change,
                },
            )
        })
    }

    /// `D`: removes a live order. Returns it and the level change.
    #[inline(always)]
    pub fn delete(&mut self, reference: u64, locate: u16) -> Option<(Order, SideChange)> {
        if !self.keeps(locate) {
            return None;
        }
        let Some(o) = self.orders.remove(reference) else {
            self.anomalies.unknown_ref += 1;
            return None;
        };
        if o.locate != locate {
            self.anomalies.locate_mismatch += 1;
        }
        let inst = &mut self.instruments[usize::from(o.locate)];
        inst.activity += 1;
        let (c, e) = inst.ladder_mut(o.side).reduce_checked_hinted(
            usize::from(o.level_hint),
            i64::from(o.price),
            u64::from(o.shares),
            1,
        );
        self.count_level_error(e);
        c.map(|change| {
            (
                o,
                SideChange {
                    locate: o.locate,
                    side: o.side,
                    change,
                },
            )
        })
    }

    /// `U`: removes the original order, adds the replacement with the original's side, locate
    /// and MPID. Returns the two level changes (removal, addition).
    #[inline(always)]
    pub fn replace(
        &mut self,
        original: u64,
        new: u64,
        locate: u16,
        shares: u32,
        price: u32,
    ) -> (Option<SideChange>, Option<SideChange>) {
        let Some((o, removed)) = self.delete(original, locate) else {
            return (None, None);
        };
        let added = self.insert_order(new, Order { price, shares, ..o });
        (Some(removed), added)
    }
}

#[cfg(test)]
mod tests {
    use super::super::levels::LevelOp;
    use super::*;

    const AAPL: [u8; 8] = *b"AAPL    ";

    fn books() -> ItchBooks {
        let mut b = ItchBooks::new(1024, None);
        b.name(1, AAPL);
        b
    }

    fn level(b: &ItchBooks, side: Side, price: i64) -> Option<(u64, u32)> {
        b.instrument(1)
            .ladder(side)
            .get(price)
            .map(|l| (l.shares, l.orders))
    }

    #[test]
    fn add_execute_cancel_delete() {
        let mut b = books();
        let c = b.add(1, 1, Side::Bid, 1000, 100, [0; 4], &AAPL).unwrap();
        assert_eq!(c.change.op, LevelOp::Added);
        b.add(2, 1, Side::Bid, 1000, 50, [0; 4], &AAPL).unwrap();
        assert_eq!(level(&b, Side::Bid, 1000), Some((150, 2)));
        // E 30 of order 1
        let (before, c) = b.reduce(1, 1, 30).unwrap();
        assert_eq!(before.shares, 100);
        assert_eq!(c.change.op, LevelOp::Changed);
        assert_eq!(level(&b, Side::Bid, 1000), Some((120, 2)));
        // X the rest of order 1: order gone, level loses an order
        b.reduce(1, 1, 70).unwrap();
        assert_eq!(level(&b, Side::Bid, 1000), Some((50, 1)));
        assert!(b.orders.get(1).is_none());
        // D order 2: level gone
        let (_, c) = b.delete(2, 1).unwrap();
        assert_eq!(c.change.op, LevelOp::Deleted);
        assert_eq!(level(&b, Side::Bid, 1000), None);
        assert!(b.orders.is_empty());
        assert_eq!(b.anomalies, ItchAnomalies::default());
    }

    #[test]
    fn replace_keeps_side_locate_mpid() {
        let mut b = books();
        b.add(5, 1, Side::Ask, 2000, 10, *b"GSCO", &AAPL);
        let (rm, add) = b.replace(5, 6, 1, 25, 2100);
        assert_eq!(rm.unwrap().change.op, LevelOp::Deleted);
        let add = add.unwrap();
        assert_eq!((add.side, add.change.level.price), (Side::Ask, 2100));
        let o = b.orders.get(6).unwrap();
        assert_eq!((o.shares, o.mpid, o.locate), (25, *b"GSCO", 1));
        assert!(b.orders.get(5).is_none());
        assert_eq!(level(&b, Side::Ask, 2100), Some((25, 1)));
    }

    #[test]
    fn anomalies_are_counted_not_fatal() {
        let mut b = books();
        assert!(b.reduce(99, 1, 1).is_none());
        assert!(b.delete(99, 1).is_none());
        assert_eq!(b.replace(99, 100, 1, 1, 1), (None, None));
        assert_eq!(b.anomalies.unknown_ref, 3);
        b.add(1, 1, Side::Bid, 1000, 10, [0; 4], &AAPL);
        assert!(b.add(1, 1, Side::Bid, 1000, 10, [0; 4], &AAPL).is_none());
        assert_eq!(b.anomalies.duplicate_ref, 1);
        assert_eq!(level(&b, Side::Bid, 1000), Some((10, 1)));
        // over-execution removes the order entirely
        let (_, c) = b.reduce(1, 1, 11).unwrap();
        assert_eq!(c.change.op, LevelOp::Deleted);
        assert_eq!(b.anomalies.over_execution, 1);
        // crossed book
        b.add(2, 1, Side::Ask, 1000, 10, [0; 4], &AAPL);
        b.add(3, 1, Side::Bid, 1000, 10, [0; 4], &AAPL);
        assert_eq!(b.anomalies.crossed, 1);
        assert_eq!(b.anomalies.level_mismatch, 0);
    }

    #[test]
    fn filter_keeps_only_named_symbols() {
        let mut b = ItchBooks::new(64, Some(&["MSFT".to_string()]));
        b.name(1, AAPL);
        b.name(2, *b"MSFT    ");
        assert!(b.add(1, 1, Side::Bid, 1, 1, [0; 4], &AAPL).is_none());
        assert!(b.add(2, 2, Side::Bid, 1, 1, [0; 4], b"MSFT    ").is_some());
        // messages on the filtered instrument are ignored, not counted as unknown
        assert!(b.delete(1, 1).is_none());
        assert_eq!(b.anomalies.unknown_ref, 0);
        assert_eq!(b.orders.len(), 1);
        // an unnamed locate is named by its first add, and filtered
        assert!(b.add(3, 3, Side::Ask, 1, 1, [0; 4], b"TSLA    ").is_none());
        assert_eq!(b.instrument(3).symbol_str(), "TSLA");
    }
}
