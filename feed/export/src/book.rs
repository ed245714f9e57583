//! The L2 books the exports read, rebuilt from the engine's level updates (each carries the
//! level's new total shares and order count), so an export needs no access to the engine.
//!
//! Per instrument, two ordered maps price → (shares, orders): an update is one map
//! operation, the top N levels a walk of N entries from the best end. This runs only when an
//! export asks for it, off the replay's plain path.

use std::collections::BTreeMap;

use fh_feed::update::{BookUpdate, InstrumentId, Side, UpdateKind};

/// The deepest level index [`Applied::depth`] tells apart (deeper ones say this).
pub const MAX_DEPTH: usize = 255;

/// One level: price (4 implied decimals), shares, orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// Price, 4 implied decimals.
    pub price: i64,
    /// Shares at the level.
    pub shares: u64,
    /// Orders at the level (0 when the feed does not say, IEX DEEP).
    pub orders: u32,
}

/// One instrument's two sides.
#[derive(Clone, Debug, Default)]
pub struct Book {
    bids: BTreeMap<i64, (u64, u32)>,
    asks: BTreeMap<i64, (u64, u32)>,
}

/// What a level update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Shares before the update at that price (0 if there was no level).
    pub before: u64,
    /// Index of the level from the best (0 = best), before a deletion, after anything else;
    /// at most [`MAX_DEPTH`].
    pub depth: usize,
}

impl Book {
    /// The `i`th best level of `side`.
    pub fn level(&self, side: Side, i: usize) -> Option<Level> {
        let l = |(&price, &(shares, orders)): (&i64, &(u64, u32))| Level {
            price,
            shares,
            orders,
        };
        match side {
            Side::Bid => self.bids.iter().rev().nth(i).map(l),
            _ => self.asks.iter().nth(i).map(l),
        }
    }

    /// The best `n` levels of `side`, into `out` (cleared first).
    pub fn top(&self, side: Side, n: usize, out: &mut Vec<Level>) {
        out.clear();
        let l = |(&price, &(shares, orders)): (&i64, &(u64, u32))| Level {
            price,
            shares,
            orders,
        };
        match side {
            Side::Bid => out.extend(self.bids.iter().rev().take(n).map(l)),
            _ => out.extend(self.asks.iter().take(n).map(l)),
        }
    }

    /// Whether neither side has a level.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, (u64, u32)> {
        match side {
            Side::Bid => &mut self.bids,
            _ => &mut self.asks,
        }
    }

    /// Levels better than `price`, counted up to [`MAX_DEPTH`] (DBN's `depth` is a `u8`):
    /// a change deep in a long book costs no walk of the book.
    fn depth_of(&self, side: Side, price: i64) -> usize {
        match side {
            Side::Bid => self.bids.range(price + 1..).rev().take(MAX_DEPTH).count(),
            _ => self.asks.range(..price).take(MAX_DEPTH).count(),
        }
    }

    /// Applies a level update (`AddLevel`, `ChangeLevel`, `DeleteLevel`); `None` for other kinds.
    pub fn apply(&mut self, u: &BookUpdate) -> Option<Applied> {
        let side = u.side;
        if side == Side::None {
            return None;
        }
        match u.kind {
            UpdateKind::AddLevel | UpdateKind::ChangeLevel => {
                let before = self
                    .side_mut(side)
                    .insert(u.price, (u.shares, u.order_count))
                    .map_or(0, |l| l.0);
                Some(Applied {
                    before,
                    depth: self.depth_of(side, u.price),
                })
            }
            UpdateKind::DeleteLevel => {
                let depth = self.depth_of(side, u.price);
                let before = self.side_mut(side).remove(&u.price).map_or(0, |l| l.0);
                Some(Applied { before, depth })
            }
            _ => None,
        }
    }
}

/// Instrument ids past this have no book here (fh's ids: ITCH locates below 65 536, IEX
/// 65 536 + a slot).
pub const MAX_INSTRUMENTS: usize = 1 << 24;

/// Books of every instrument seen, indexed by instrument id (no hashing per update).
#[derive(Clone, Debug, Default)]
pub struct Books {
    books: Vec<Book>,
    /// Ids that have had a level, sorted.
    used: Vec<InstrumentId>,
}

impl Books {
    /// The book of `i` (empty if never seen).
    #[inline]
    pub fn get(&self, i: InstrumentId) -> Option<&Book> {
        self.books.get(i as usize)
    }

    /// Applies a level update.
    #[inline]
    pub fn apply(&mut self, u: &BookUpdate) -> Option<Applied> {
        let i = u.instrument as usize;
        if i >= MAX_INSTRUMENTS {
            return None;
        }
        if i >= self.books.len() {
            self.books.resize_with(i + 1, Book::default);
        }
        let b = &mut self.books[i];
        if b.is_empty() {
            if let Err(at) = self.used.binary_search(&u.instrument) {
                self.used.insert(at, u.instrument);
            }
        }
        b.apply(u)
    }

    /// Empties every book (a session change).
    pub fn clear(&mut self) {
        self.books.clear();
        self.used.clear();
    }

    /// Instruments with a level, in id order.
    pub fn non_empty(&self) -> impl Iterator<Item = InstrumentId> + '_ {
        self.used
            .iter()
            .copied()
            .filter(|&i| self.get(i).is_some_and(|b| !b.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lvl(kind: UpdateKind, side: Side, price: i64, shares: u64) -> BookUpdate {
        BookUpdate {
            kind,
            side,
            price,
            shares,
            order_count: u32::from(shares > 0),
            instrument: 3,
            ..BookUpdate::default()
        }
    }

    #[test]
    fn levels_depths_and_deletes() {
        let mut b = Books::default();
        use UpdateKind::*;
        assert_eq!(b.apply(&lvl(AddLevel, Side::Bid, 100, 5)).unwrap().depth, 0);
        assert_eq!(b.apply(&lvl(AddLevel, Side::Bid, 101, 7)).unwrap().depth, 0);
        assert_eq!(b.apply(&lvl(AddLevel, Side::Bid, 99, 1)).unwrap().depth, 2);
        assert_eq!(b.apply(&lvl(AddLevel, Side::Ask, 103, 2)).unwrap().depth, 0);
        assert_eq!(b.apply(&lvl(AddLevel, Side::Ask, 102, 2)).unwrap().depth, 0);
        let a = b.apply(&lvl(ChangeLevel, Side::Bid, 100, 9)).unwrap();
        assert_eq!((a.before, a.depth), (5, 1));
        let a = b.apply(&lvl(DeleteLevel, Side::Bid, 101, 0)).unwrap();
        assert_eq!((a.before, a.depth), (7, 0));
        let book = b.get(3).unwrap();
        assert_eq!(book.level(Side::Bid, 0).unwrap().price, 100);
        assert_eq!(book.level(Side::Ask, 1).unwrap().price, 103);
        let mut top = Vec::new();
        book.top(Side::Bid, 10, &mut top);
        assert_eq!(top.iter().map(|l| l.shares).collect::<Vec<_>>(), [9, 1]);
        assert_eq!(b.apply(&lvl(Trade, Side::Bid, 100, 1)), None);
        assert_eq!(b.non_empty().collect::<Vec<_>>(), [3]);
        b.clear();
        assert_eq!(b.non_empty().count(), 0);
    }
}
