//! L2 price levels of one side of one book: aggregated shares and order count per price.
//!
//! ## Structure and rationale
//! A side is a `Vec<Level>` kept **sorted from the worst price to the best** (bids ascending,
//! asks descending), so the best level is the *last* element. Market activity concentrates at
//! the top of the book, and with this orientation the common operations touch the tail:
//!
//! | operation | cost | worst case |
//! |---|---|---|
//! | best level, top-N depth | read the tail | O(N) |
//! | find a price | the last [`LINEAR_SCAN`] levels in two branch-free blocks of four, then binary search | O(log n) |
//! | add a level | find + `Vec::insert`: shifts only the levels *better* than the new one (a new best level is a push) | O(d) moves, d = distance from the best (O(n) for a level below all others) |
//! | remove a level | find + `Vec::remove`: shifts only the better levels (the best level is a pop) | O(d), as above |
//! | change a level's shares / count | find + in-place write | O(log n) |
//! | the same, at a price whose index is known from an earlier change ([`LevelChange::index`]) | one comparison at that index, then a find if the level has moved | O(1); O(log n) |
//! | crossed/locked check after an add ([`Ladder::crosses`]) | read the other side's tail | O(1) |
//!
//! n is the number of levels on the side (tens to a few hundred in practice); a `Level` is
//! 24 bytes, so even shifting 100 levels is a 2.4 KB `memmove` over a contiguous, cached array.
//! A price-indexed ladder would make every operation O(1) but needs a price range fixed in
//! advance and costs memory per tick per instrument; sorted arrays need neither.
//!
//! The scan steps over the levels better than the price with one comparison each, and both
//! sides share one code path: prices are compared as `price ^ flip` (`flip` = 0 for bids,
//! −1 for asks, i.e. `!price` — order-reversing), which sorts either side ascending from the
//! worst to the best. A level is stored with its price in that form (its key), so a search
//! flips only the price it looks for; the accessors ([`Ladder::best`],
//! [`Ladder::iter_best_first`], [`LevelChange::level`]) hand out [`Level`]s with the price
//! itself. A branch on the side would mispredict on every other message of a
//! mixed stream. The last [`BRANCH_FREE`] (4) levels are compared without a branch: the
//! count of those better than the price is its distance from the best end, so a price within
//! them is placed with no data-dependent loop exit (the exit of a per-level loop mispredicted
//! about once per message: `--branch-sim` 3.11 → 2.59 mispredicts/message on the perf1m
//! replay, for +11.6 instructions/message). A price below them is placed the same way among
//! the next (up to) four, with indices clamped so that a ladder of 5–7 levels needs no
//! per-level loop either (that loop's exit mispredicted on about one find in five: callgrind,
//! books bench, −0.2 mispredicts/message for +7 instructions; 6 timed pairs: 29.75 → 30.5 M
//! messages/s, 5 won). Only a price below the last eight goes to a binary search. (Counting
//! all eight on every find, when most prices sit in the first four, was measured slower.)
//!
//! ## Memory
//! Capacity is reserved when the side is first used ([`Ladder::reserve_initial`]). Inserting
//! beyond it grows the vector on a cold path and increments [`Ladder::growths`]; nothing else
//! allocates. The levels come from the program's global allocator: thousands of sides are
//! small allocations touched at scattered places, which share a few TLB entries when that
//! allocator's heap is on huge pages (the `fh` binary's is).
//!
//! ## Invariants
//! - Prices are strictly ordered worst → best (stored keys `price ^ flip` strictly
//!   ascending); no two levels share a price.
//! - Every stored level has `shares > 0` (L3-derived levels also have `orders > 0`); a level
//!   whose shares reach zero is removed in the same call.

use super::table::prefetch;
use crate::update::Side;

/// How many levels from the best end are placed without a search (two blocks of
/// [`BRANCH_FREE`]) before switching to binary search.
pub const LINEAR_SCAN: usize = 2 * BRANCH_FREE;

/// How many levels from the best end `Ladder::find` compares without a branch.
pub const BRANCH_FREE: usize = 4;

/// Levels reserved per side on first use.
pub const INITIAL_LEVELS: usize = 32;

/// One price level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// Price, 4 implied decimals.
    pub price: i64,
    /// Aggregated displayed shares (> 0 for a stored level).
    pub shares: u64,
    /// Number of orders (0 when the venue does not say, as in IEX DEEP).
    pub orders: u32,
}

/// A stored level: [`Level`] with its price kept as `price ^ flip` (the search's key, see
/// [`Ladder::flip`]), so that a search compares the stored value as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stored {
    /// `price ^ flip`.
    key: i64,
    shares: u64,
    orders: u32,
}

/// What one change did to a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelOp {
    /// The level is new.
    Added,
    /// The level existed and still exists.
    Changed,
    /// The level was removed.
    Deleted,
}

/// The result of a change: the level after it, and whether it is (or was) the best level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    /// Operation performed.
    pub op: LevelOp,
    /// The level after the change (`shares == 0 && orders == 0` when deleted).
    pub level: Level,
    /// The changed level is the best of its side (or was, for a deletion): the side's best
    /// price or best size changed.
    pub at_best: bool,
    /// The level's index in the side, counted from the worst price (where it was, for a
    /// deletion): it stays right until a level is added or removed below it, which makes it a
    /// hint for the next change at the same price ([`Ladder::reduce_checked_hinted`]).
    pub index: usize,
}

/// An anomaly met while changing a level; the change is not applied (or clamped, see each
/// method). Counted by the caller, never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelError {
    /// A reduction named a price with no level.
    NoSuchLevel,
    /// A reduction removed more shares or orders than the level held (clamped to remove it).
    Underflow,
}

/// One side of a book.
#[derive(Clone, Debug)]
pub struct Ladder {
    /// Sorted worst → best, i.e. by ascending `key`.
    levels: Vec<Stored>,
    /// [`Ladder::flip`], stored: 0 for bids, −1 for asks.
    flip: i64,
    /// Times the level vector had to grow past its reserved capacity.
    pub growths: u64,
}

/// [`Ladder::find`]: the last [`LINEAR_SCAN`] levels from the best end in two branch-free
/// blocks, then a binary search of the rest, for `key` = `price ^ flip` ([`Ladder::flip`]),
/// compared with the levels' stored keys: that orders both sides worst → best ascending, so one
/// code path serves both without a branch on the side (a bid/ask branch mispredicts on every
/// other message of a mixed stream).
#[inline(always)]
fn find_in(levels: &[Stored], key: i64) -> Result<usize, usize> {
    let mut i = levels.len();
    // The last [`BRANCH_FREE`] levels: count those better than `price` without a branch (the
    // better levels form a suffix, so the count is the distance from the best end). A count
    // below 4 places `price` with no data-dependent loop exit to mispredict.
    if let Some(t) = levels.last_chunk::<BRANCH_FREE>() {
        let c = usize::from(t[3].key > key)
            + usize::from(t[2].key > key)
            + usize::from(t[1].key > key)
            + usize::from(t[0].key > key);
        if let Some(l) = t.get(BRANCH_FREE.wrapping_sub(1).wrapping_sub(c)) {
            // `l` is the level at index `i - c - 1`, the first that is not better.
            let at = i - c;
            return if l.key == key { Ok(at - 1) } else { Err(at) };
        }
        i -= BRANCH_FREE;
    }
    // The next (up to) four levels below `i`, the same way but with clamped indices, as there
    // may be fewer than four (short ladders, or 5 to 7 levels): a per-level loop here
    // mispredicted its exit on about one find in five.
    if i == 0 {
        return Err(0);
    }
    let n = i.min(BRANCH_FREE);
    // Index `i - min(k, n)`: a missing level (k > n) is read as the deepest existing one of
    // the block, so it adds to the count only when all `n` are better (then `c >= n`).
    let c = better_at(levels, i - n.min(1), key)
        + better_at(levels, i - n.min(2), key)
        + better_at(levels, i - n.min(3), key)
        + better_at(levels, i - n.min(4), key);
    if c < n {
        let at = i - c;
        // `at - 1` is in the block (`c < n`).
        return match levels.get(at - 1) {
            Some(l) if l.key == key => Ok(at - 1),
            _ => Err(at),
        };
    }
    i -= n;
    if i == 0 {
        return Err(0);
    }
    // `price` is worse than every level in [i, len): binary search [0, i).
    levels[..i].binary_search_by(|l| l.key.cmp(&key))
}

/// 1 if `levels[j]` is better than `key` (a [`Stored::key`]), else 0.
#[inline(always)]
fn better_at(levels: &[Stored], j: usize, key: i64) -> usize {
    levels.get(j).map_or(0, |l| usize::from(l.key > key))
}

impl Ladder {
    /// An empty side; allocates nothing until [`Ladder::reserve_initial`] or the first insert.
    pub const fn new(side: Side) -> Self {
        Ladder {
            levels: Vec::new(),
            flip: if matches!(side, Side::Bid) { 0 } else { -1 },
            growths: 0,
        }
    }

    /// Reserves [`INITIAL_LEVELS`] levels (call at instrument creation, off the hot path).
    pub fn reserve_initial(&mut self, n: usize) {
        if self.levels.capacity() < n {
            self.levels.reserve_exact(n - self.levels.len());
        }
    }

    /// Reserves [`INITIAL_LEVELS`] levels if nothing is reserved yet (first use; cold).
    #[inline]
    pub fn ensure_reserved(&mut self) {
        if self.levels.capacity() == 0 {
            self.reserve_initial(INITIAL_LEVELS);
        }
    }

    /// Which side this is.
    #[inline]
    pub fn side(&self) -> Side {
        if self.flip == 0 {
            Side::Bid
        } else {
            Side::Ask
        }
    }

    /// Number of levels.
    #[inline]
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// No level at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Asks for the level at `index` (counted from the worst; past the end: the best level)
    /// and for the best [`BRANCH_FREE`] levels (where an add's search looks first), ahead of a
    /// change there. A prefetch: nothing is read, any index is harmless.
    #[inline(always)]
    pub fn prefetch_near(&self, index: usize) {
        let best = self.levels.len().wrapping_sub(1);
        let p = self.levels.as_ptr();
        prefetch(p.wrapping_add(index.min(best)));
        prefetch(p.wrapping_add(best.wrapping_sub(BRANCH_FREE - 1)));
    }

    /// The stored level `s` as a [`Level`] (its price unflipped).
    #[inline(always)]
    fn level(&self, s: &Stored) -> Level {
        Level {
            price: s.key ^ self.flip,
            shares: s.shares,
            orders: s.orders,
        }
    }

    /// The best level.
    #[inline]
    pub fn best(&self) -> Option<Level> {
        self.levels.last().map(|s| self.level(s))
    }

    /// Levels from the best outwards.
    #[inline]
    pub fn iter_best_first(&self) -> impl Iterator<Item = Level> + '_ {
        self.levels.iter().rev().map(|s| self.level(s))
    }

    /// The level at `price`, if any.
    pub fn get(&self, price: i64) -> Option<Level> {
        self.find(price).ok().map(|i| self.level(&self.levels[i]))
    }

    /// Removes every level (keeps the capacity).
    pub fn clear(&mut self) {
        self.levels.clear();
    }

    /// `0` for bids, `-1` (all ones) for asks: `price ^ flip` grows from the worst price to
    /// the best on both sides (for asks it is `!price = -price - 1`, strictly decreasing in
    /// the price).
    #[inline(always)]
    fn flip(&self) -> i64 {
        self.flip
    }

    /// `price`, taken as this side's best, is at or through the best of `other` (the opposite
    /// side): a crossed or locked book. `false` when `other` is empty. Compared as
    /// `price ^ flip` like `Ladder::find`, with no branch on the side.
    #[inline(always)]
    pub fn crosses(&self, price: i64, other: &Ladder) -> bool {
        // `other`'s keys are flipped the other way: `!key` is its best price `^ self.flip`.
        // An empty `other` reads as `i64::MAX`: never reached (ITCH prices are `u32`, IEX
        // ones positive). Its best level read by index, not through `last()`'s
        // `Option<&Stored>` (whose pointer was tested for null a second time).
        let n = other.levels.len();
        let theirs = if n == 0 {
            i64::MAX
        } else {
            !other.levels[n - 1].key
        };
        price ^ self.flip >= theirs
    }

    /// `Ok(index)` of `price`, or `Err(insertion index)` keeping the worst → best order.
    #[inline(always)]
    fn find(&self, price: i64) -> Result<usize, usize> {
        find_in(&self.levels, price ^ self.flip())
    }

    /// [`Ladder::find`], trying the index `hint` first (one comparison when it holds the price;
    /// any other value, past the end included, costs that comparison and the search).
    #[inline(always)]
    fn find_hinted(&self, price: i64, hint: usize) -> Result<usize, usize> {
        match self.levels.get(hint) {
            Some(l) if l.key == price ^ self.flip() => Ok(hint),
            _ => self.find(price),
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.growths += 1;
        let extra = self.levels.capacity().max(INITIAL_LEVELS);
        self.levels.reserve(extra);
    }

    /// Inserts `level` at `i` (at most the length): a new best level (the end) is a push, any
    /// other shifts the better levels up (a `memmove` call, even of nothing, which a push skips).
    #[inline(always)]
    fn insert_at(&mut self, i: usize, level: Level) {
        let level = Stored {
            key: level.price ^ self.flip,
            shares: level.shares,
            orders: level.orders,
        };
        if self.levels.len() == self.levels.capacity() {
            self.grow();
        }
        if i == self.levels.len() {
            self.levels.push(level);
        } else {
            self.levels.insert(i, level);
        }
    }

    /// Removes the level at `i` (below the length): the best level (the last) is a pop, any
    /// other shifts the better levels down.
    #[inline(always)]
    fn remove_at(&mut self, i: usize) {
        if i + 1 == self.levels.len() {
            self.levels.pop();
        } else {
            self.levels.remove(i);
        }
    }

    /// Adds `shares` and `orders` at `price` (creating the level if needed).
    #[inline(always)]
    pub fn add(&mut self, price: i64, shares: u64, orders: u32) -> LevelChange {
        self.add_at(self.find(price), price, shares, orders)
    }

    /// Where `price` is: `Ok(index)` of its level, or `Err(index)` its level would be added at
    /// (then its [`LevelChange::index`]). The books ask before they add an order, to keep the
    /// index with the order, then add with [`Ladder::add_at`].
    #[inline(always)]
    pub(super) fn position(&self, price: i64) -> Result<usize, usize> {
        self.find(price)
    }

    /// [`Ladder::add`] at `at`, the [`Ladder::position`] of `price` in the ladder as it still
    /// is (nothing changed it in between).
    #[inline(always)]
    pub(super) fn add_at(
        &mut self,
        at: Result<usize, usize>,
        price: i64,
        shares: u64,
        orders: u32,
    ) -> LevelChange {
        match at {
            Ok(i) => {
                let at_best = i + 1 == self.levels.len();
                let l = &mut self.levels[i];
                l.shares = l.shares.saturating_add(shares);
                l.orders = l.orders.saturating_add(orders);
                LevelChange {
                    op: LevelOp::Changed,
                    level: Level {
                        price,
                        shares: l.shares,
                        orders: l.orders,
                    },
                    at_best,
                    index: i,
                }
            }
            Err(i) => {
                let level = Level {
                    price,
                    shares,
                    orders,
                };
                let at_best = i == self.levels.len();
                self.insert_at(i, level);
                LevelChange {
                    op: LevelOp::Added,
                    level,
                    at_best,
                    index: i,
                }
            }
        }
    }

    /// Removes `shares` and `orders` from the level at `price`, deleting it when its shares
    /// reach zero (an L3 level also disappears when its last order goes).
    ///
    /// Removing more than the level holds is an anomaly: the level is deleted and
    /// `Err(Underflow)` is returned alongside in [`Ladder::reduce_checked`].
    #[inline]
    pub fn reduce(&mut self, price: i64, shares: u64, orders: u32) -> Option<LevelChange> {
        self.reduce_checked(price, shares, orders).0
    }

    /// Like [`Ladder::reduce`], also reporting an anomaly.
    #[inline(always)]
    pub fn reduce_checked(
        &mut self,
        price: i64,
        shares: u64,
        orders: u32,
    ) -> (Option<LevelChange>, Option<LevelError>) {
        self.reduce_checked_hinted(usize::MAX, price, shares, orders)
    }

    /// [`Ladder::reduce_checked`] of the level that was at index `hint` (a
    /// [`LevelChange::index`] of an earlier change at `price`): found with one comparison if
    /// it is still there, else searched for.
    #[inline(always)]
    pub fn reduce_checked_hinted(
        &mut self,
        hint: usize,
        price: i64,
        shares: u64,
        orders: u32,
    ) -> (Option<LevelChange>, Option<LevelError>) {
        let Ok(i) = self.find_hinted(price, hint) else {
            return (None, Some(LevelError::NoSuchLevel));
        };
        let at_best = i + 1 == self.levels.len();
        let l = &mut self.levels[i];
        // Conditions combined with `&`/`|`, not `&&`/`||`: one branch (whether the level goes)
        // instead of one per operand.
        let err = ((shares > l.shares) | (orders > l.orders)).then_some(LevelError::Underflow);
        l.shares = l.shares.saturating_sub(shares);
        l.orders = l.orders.saturating_sub(orders);
        if (l.shares == 0) | ((orders > 0) & (l.orders == 0)) {
            self.remove_at(i);
            (
                Some(LevelChange {
                    op: LevelOp::Deleted,
                    level: Level {
                        price,
                        shares: 0,
                        orders: 0,
                    },
                    at_best,
                    index: i,
                }),
                err,
            )
        } else {
            (
                Some(LevelChange {
                    op: LevelOp::Changed,
                    level: Level {
                        price,
                        shares: l.shares,
                        orders: l.orders,
                    },
                    at_best,
                    index: i,
                }),
                err,
            )
        }
    }

    /// Sets the level at `price` to an absolute size (IEX DEEP); `shares == 0` removes it.
    /// Returns `None` when nothing changed (a removal of an absent level, or the same size).
    #[inline]
    pub fn set(&mut self, price: i64, shares: u64) -> Option<LevelChange> {
        match self.find(price) {
            Ok(i) => {
                let at_best = i + 1 == self.levels.len();
                if shares == 0 {
                    self.remove_at(i);
                    Some(LevelChange {
                        op: LevelOp::Deleted,
                        level: Level {
                            price,
                            shares: 0,
                            orders: 0,
                        },
                        at_best,
                        index: i,
                    })
                } else {
                    let l = &mut self.levels[i];
                    if l.shares == shares {
                        return None;
                    }
                    l.shares = shares;
                    Some(LevelChange {
                        op: LevelOp::Changed,
                        level: Level {
                            price,
                            shares: l.shares,
                            orders: l.orders,
                        },
                        at_best,
                        index: i,
                    })
                }
            }
            Err(i) => {
                if shares == 0 {
                    return None;
                }
                let level = Level {
                    price,
                    shares,
                    orders: 0,
                };
                let at_best = i == self.levels.len();
                self.insert_at(i, level);
                Some(LevelChange {
                    op: LevelOp::Added,
                    level,
                    at_best,
                    index: i,
                })
            }
        }
    }

    /// Checks the ordering invariant (tests and debug assertions).
    pub fn is_well_formed(&self) -> bool {
        self.levels.windows(2).all(|w| w[1].key > w[0].key)
            && self.levels.iter().all(|l| l.shares > 0)
    }
}

/// Best bid and offer of one instrument: `(price, shares)` per side, `None` for an empty side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bbo {
    /// Best bid.
    pub bid: Option<(i64, u64)>,
    /// Best ask.
    pub ask: Option<(i64, u64)>,
}

impl Bbo {
    /// Reads the BBO of two sides.
    #[inline]
    pub fn of(bids: &Ladder, asks: &Ladder) -> Self {
        Bbo {
            bid: bids.best().map(|l| (l.price, l.shares)),
            ask: asks.best().map(|l| (l.price, l.shares)),
        }
    }

    /// Whether `other` is the same BBO (`==`, always inlined: the engine compares the BBO
    /// after every message that touched a best level).
    #[inline(always)]
    pub fn same(&self, other: &Bbo) -> bool {
        #[inline(always)]
        fn side(a: &Option<(i64, u64)>, b: &Option<(i64, u64)>) -> bool {
            match (a, b) {
                (Some(x), Some(y)) => x.0 == y.0 && x.1 == y.1,
                (None, None) => true,
                _ => false,
            }
        }
        side(&self.bid, &other.bid) && side(&self.ask, &other.ask)
    }

    /// Spread (ask − bid), when both sides exist.
    pub fn spread(&self) -> Option<i64> {
        Some(self.ask?.0 - self.bid?.0)
    }

    /// Bid at or above the ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.bid, self.ask), (Some(b), Some(a)) if b.0 >= a.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(l: &Ladder) -> Vec<i64> {
        l.iter_best_first().map(|l| l.price).collect()
    }

    #[test]
    fn same_is_equality_of_both_sides() {
        let sides = [
            None,
            Some((100, 5)),
            Some((100, 6)),
            Some((101, 5)),
            Some((0, 0)),
        ];
        for bid in sides {
            for ask in sides {
                for bid2 in sides {
                    for ask2 in sides {
                        let a = Bbo { bid, ask };
                        let b = Bbo {
                            bid: bid2,
                            ask: ask2,
                        };
                        assert_eq!(a.same(&b), a == b, "{a:?} {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn bids_best_is_highest_asks_best_is_lowest() {
        let mut b = Ladder::new(Side::Bid);
        let mut a = Ladder::new(Side::Ask);
        for p in [100, 300, 200, 50, 250] {
            b.add(p, 10, 1);
            a.add(p, 10, 1);
        }
        assert_eq!(prices(&b), vec![300, 250, 200, 100, 50]);
        assert_eq!(prices(&a), vec![50, 100, 200, 250, 300]);
        assert!(b.is_well_formed() && a.is_well_formed());
    }

    #[test]
    fn add_reports_best_and_op() {
        let mut b = Ladder::new(Side::Bid);
        let c = b.add(100, 5, 1);
        assert_eq!((c.op, c.at_best), (LevelOp::Added, true));
        let c = b.add(90, 5, 1);
        assert_eq!((c.op, c.at_best), (LevelOp::Added, false));
        let c = b.add(100, 7, 1);
        assert_eq!((c.op, c.at_best), (LevelOp::Changed, true));
        assert_eq!(
            c.level,
            Level {
                price: 100,
                shares: 12,
                orders: 2
            }
        );
        let c = b.add(90, 1, 1);
        assert!(!c.at_best);
    }

    #[test]
    fn reduce_deletes_at_zero_and_flags_underflow() {
        let mut a = Ladder::new(Side::Ask);
        a.add(100, 10, 2);
        let (c, e) = a.reduce_checked(100, 4, 0);
        assert_eq!(c.unwrap().op, LevelOp::Changed);
        assert_eq!(e, None);
        let (c, e) = a.reduce_checked(100, 6, 1);
        // shares reached zero: deleted even though one order remains on paper
        assert_eq!(c.unwrap().op, LevelOp::Deleted);
        assert_eq!(e, None);
        assert!(a.is_empty());
        assert_eq!(
            a.reduce_checked(100, 1, 1),
            (None, Some(LevelError::NoSuchLevel))
        );
        a.add(100, 3, 1);
        let (c, e) = a.reduce_checked(100, 5, 1);
        assert_eq!(c.unwrap().op, LevelOp::Deleted);
        assert_eq!(e, Some(LevelError::Underflow));
    }

    #[test]
    fn set_is_absolute() {
        let mut b = Ladder::new(Side::Bid);
        assert_eq!(b.set(100, 0), None);
        assert_eq!(b.set(100, 10).unwrap().op, LevelOp::Added);
        assert_eq!(b.set(100, 10), None);
        assert_eq!(b.set(100, 7).unwrap().level.shares, 7);
        assert_eq!(b.set(100, 0).unwrap().op, LevelOp::Deleted);
        assert!(b.is_empty());
    }

    #[test]
    fn binary_search_region_is_consistent_with_linear() {
        // Many levels so that finds go past the linear window.
        for side in [Side::Bid, Side::Ask] {
            let mut l = Ladder::new(side);
            let mut model = std::collections::BTreeMap::new();
            let mut x: u64 = 12345;
            for _ in 0..5000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let p = (x % 200) as i64;
                if x.is_multiple_of(3) {
                    if let Some(c) = l.reduce(p, 1, 0) {
                        let e: &mut u64 = model.get_mut(&p).unwrap();
                        *e -= 1;
                        if *e == 0 {
                            model.remove(&p);
                        }
                        assert_eq!(c.level.price, p);
                    } else {
                        assert!(!model.contains_key(&p));
                    }
                } else {
                    l.add(p, 1, 1);
                    *model.entry(p).or_insert(0) += 1;
                }
                assert!(l.is_well_formed());
            }
            let mut want: Vec<(i64, u64)> = model.into_iter().collect();
            if side == Side::Bid {
                want.reverse();
            }
            let got: Vec<(i64, u64)> = l.iter_best_first().map(|v| (v.price, v.shares)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn find_agrees_with_a_naive_search_at_every_size_and_position() {
        // Sizes below, at and past the branch-free window and the linear window; every
        // present price, every gap between them, and both ends.
        for side in [Side::Bid, Side::Ask] {
            for n in 0..=2 * LINEAR_SCAN + 2 {
                let mut l = Ladder::new(side);
                for k in 0..n {
                    l.add(10 * (k as i64 + 1), 1, 1);
                }
                for price in 0..=10 * (n as i64 + 2) {
                    let worst_first: Vec<Level> = l.levels.iter().map(|s| l.level(s)).collect();
                    let better = |v: &&Level| match side {
                        Side::Bid => price > v.price,
                        _ => price < v.price,
                    };
                    let want = match worst_first.iter().position(|v| v.price == price) {
                        Some(i) => Ok(i),
                        None => Err(worst_first.iter().filter(better).count()),
                    };
                    assert_eq!(l.find(price), want, "{side:?} n={n} price={price}");
                }
            }
        }
    }

    #[test]
    fn a_hint_is_checked_before_it_is_trusted() {
        // Every hint, right, stale or past the end, changes the level of the price and only
        // it, and each change reports the level's index.
        for side in [Side::Bid, Side::Ask] {
            for hint in 0..=12 {
                let mut l = Ladder::new(side);
                for p in 1..=10 {
                    assert_eq!(l.add(10 * p, 5, 1).index, l.find(10 * p).unwrap());
                }
                let want = l.find(40).unwrap();
                let (c, e) = l.reduce_checked_hinted(hint, 40, 2, 0);
                let c = c.unwrap();
                assert_eq!(
                    (c.op, c.index, c.level.shares, e),
                    (LevelOp::Changed, want, 3, None)
                );
                let (c, e) = l.reduce_checked_hinted(hint, 40, 3, 1);
                assert_eq!(
                    (c.unwrap().op, c.unwrap().index, e),
                    (LevelOp::Deleted, want, None)
                );
                assert_eq!(
                    l.reduce_checked_hinted(hint, 40, 1, 1),
                    (None, Some(LevelError::NoSuchLevel))
                );
                assert_eq!(l.len(), 9);
                assert!(l.iter_best_first().all(|v| (v.shares, v.orders) == (5, 1)));
                assert!(l.is_well_formed());
            }
        }
    }

    #[test]
    fn crosses_is_at_or_through_the_other_best_on_either_side() {
        let mut b = Ladder::new(Side::Bid);
        let mut a = Ladder::new(Side::Ask);
        assert!(
            !b.crosses(100, &a) && !a.crosses(100, &b),
            "empty opposite side"
        );
        a.add(101, 1, 1);
        b.add(99, 1, 1);
        assert!(!b.crosses(100, &a) && !a.crosses(100, &b));
        assert!(b.crosses(101, &a), "locked");
        assert!(b.crosses(102, &a), "crossed");
        assert!(a.crosses(99, &b), "locked");
        assert!(a.crosses(98, &b), "crossed");
        assert!(!a.crosses(i64::from(u32::MAX), &b) && !b.crosses(0, &a));
    }

    #[test]
    fn growth_past_reserve_is_counted() {
        let mut l = Ladder::new(Side::Ask);
        l.reserve_initial(4);
        for p in 0..4 {
            l.add(p, 1, 1);
        }
        assert_eq!(l.growths, 0);
        l.add(10, 1, 1);
        assert_eq!(l.growths, 1);
    }
}
