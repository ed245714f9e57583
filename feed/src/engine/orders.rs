//! The ITCH order store: every live order by its Order Reference Number.
//!
//! ## Structure and rationale
//! Two flat tables of 24-byte slots, both power-of-two sized at start-up from configuration:
//! a **direct-mapped ring** indexed by the reference's low bits, where nearly every order
//! lives, and a **spill table** (open addressing, Robin Hood) for the orders the ring had no
//! room for.
//!
//! | operation | expected | worst case |
//! |---|---|---|
//! | insert (with duplicate check), lookup, reduce, remove | O(1): the order's ring slot | O(longest probe run of the spill table) |
//! | growth of the spill table (load above 1/2) | — | O(its capacity), cold path, counted in [`OrderStore::growths`] |
//!
//! - **The ring: slot = `reference & mask`**. Nasdaq assigns references in entry order across
//!   the whole market, unique and increasing within a day, and most orders are gone within
//!   milliseconds: the live orders are mostly a sliding window of recent references, each in
//!   its own slot next to the previous one, so the working set stays in cache and an operation
//!   is one slot read, compared and written: no probe, no hash, no shifting.
//!   (A multiplicative hash scattered them over the whole table: one cache miss per message,
//!   measured ~25× slower.)
//! - **Spills**: an add whose slot holds an older live order (one resting for as long as the
//!   ring takes to wrap, or references in a stride of the ring's size) moves that older order
//!   to the spill table and takes the slot: the ring keeps the newest orders, the busy ones.
//!   Each slot counts the spilled orders that map to it (`spill`, six bits beside the side's
//!   two, saturating at 63, then sticky until [`OrderStore::clear`]), so an operation on a
//!   slot with none never looks at the spill table, and a reference that is not live is told
//!   apart in the ring alone.
//! - **The spill table** is a Robin Hood table with a multiplicative (Fibonacci) hash: the
//!   orders it holds share their low bits by construction (that is why they left the ring), so
//!   a low-bit hash would pile them into one probe run. Robin Hood keeps probe runs sorted by
//!   home slot (an absent reference stops at the first entry closer to its home); deletion by
//!   backward shift leaves no tombstones. It holds as many slots as the ring, so any
//!   `expected_orders` live orders fit without growth whatever their references.
//! - **Prefetch ahead**: [`OrderStore::prefetch`] requests a reference's ring slot without
//!   using it; the engine calls it for every message of a packet (every book message carries
//!   its reference at the same offset) during the framing check, before it applies the
//!   packet, so the cache misses of a packet's orders are in flight together and overlap with
//!   applying the messages before them.
//! - **Unchecked, in-bounds accesses**: both tables are [`MaskedTable`]s, whose accesses take
//!   the index `& mask` into an array of exactly `mask + 1` slots, so no access pays a bounds
//!   check.
//! - **Mapped at start-up**: [`OrderStore::with_capacity`] builds both tables by writing every
//!   slot ([`MaskedTable::new`] fills them with a default slot, and a struct is not a type
//!   `vec!` may hand to `alloc_zeroed`), so all their pages are resident before the first
//!   message and no page fault is left for the hot path. A zeroed allocation (`alloc_zeroed`,
//!   `calloc`) would look cheaper and leave every page to fault on its first order; a test
//!   checks the tables are resident.
//! - **A level hint per order** ([`Order::level_hint`], the byte the packed side and spill
//!   count left free): the index of the order's price level in its ladder when the books last
//!   touched it, so that `E C X D U` find their level with one comparison while no level was
//!   added or removed below it; a stale hint costs that comparison and the ladder's search.
//!   [`OrderStore::set_level_hint`] rewrites it in place.
//! - Key `0` marks an empty slot; a live order with reference 0 (never seen in practice: only
//!   `P` messages carry 0) is kept in a dedicated side slot.
//!
//! ## Invariants
//! - Every live order with a non-zero reference `r` is in exactly one place: ring slot
//!   `r & mask` (whose key is then `r`), or the spill table.
//! - A ring slot's `spill` is the number of spill-table orders whose references map to it,
//!   exactly while below 63; 63 means "some, count unknown" until the next `clear`.
//! - Spill table, Robin Hood: walking a run of occupied slots, the probe distance
//!   `(slot − home) & mask` never increases by more than one from a slot to the next, and every
//!   entry is reachable from its home without crossing an empty slot; its load is at most 1/2
//!   after every insert ([`OrderStore::check_invariants`] checks all of these).

use super::table::{MaskedTable, SlotPrefetch};
use crate::update::Side;

/// A live order (the L3 state ITCH needs, per the spec's "state needed per live order"), and
/// where the books last saw its price level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// Display price, 4 implied decimals (ITCH `Price(4)`).
    pub price: u32,
    /// Remaining displayed shares (> 0 for a live order).
    pub shares: u32,
    /// Stock locate (instrument index).
    pub locate: u16,
    /// Side.
    pub side: Side,
    /// MPID of an `F` add (`[0; 4]` for an unattributed `A` add).
    pub mpid: [u8; 4],
    /// Where the books last saw the order's price level: its index in its side's ladder,
    /// counted from the worst price, or [`NO_LEVEL_HINT`]. A hint, checked before it is
    /// trusted: levels added or removed below it since then have moved the level.
    pub level_hint: u8,
}

/// [`Order::level_hint`] when the index is unknown (or above 254).
pub const NO_LEVEL_HINT: u8 = u8::MAX;

/// A ring slot's saturated spill count: "some, count unknown" (see the module docs).
const SPILL_MAX: u8 = 63;

/// A ring slot: a live order (or `key == 0`: none) and the spill count of its index.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: u64,
    price: u32,
    shares: u32,
    locate: u16,
    /// The order's side (`Side as u8`, bits 0–1) and the number of spill-table orders whose
    /// references map to this slot (bits 2–7, [`SPILL_MAX`]: saturated, see the module docs).
    tag: u8,
    level_hint: u8,
    mpid: [u8; 4],
}

const _: () = assert!(core::mem::size_of::<Slot>() == 24);

impl Slot {
    #[inline(always)]
    fn order(&self) -> Order {
        Order {
            price: self.price,
            shares: self.shares,
            locate: self.locate,
            side: self.side(),
            mpid: self.mpid,
            level_hint: self.level_hint,
        }
    }

    /// The side in bits 0–1 (one table load instead of a `match`'s comparisons and selects).
    #[inline(always)]
    fn side(&self) -> Side {
        const SIDES: [Side; 4] = [Side::Bid, Side::Ask, Side::None, Side::None];
        SIDES[usize::from(self.tag & 3)]
    }

    /// Spill-table orders whose references map here ([`SPILL_MAX`]: saturated).
    #[inline(always)]
    fn spill(&self) -> u8 {
        self.tag >> 2
    }

    /// One more spilled order maps here (saturating: then sticky until [`OrderStore::clear`]).
    #[inline(always)]
    fn spill_one(&mut self) {
        if self.spill() < SPILL_MAX {
            self.tag += 4;
        }
    }

    /// A spilled order that maps here left the spill table (a saturated count stays).
    #[inline(always)]
    fn unspill_one(&mut self) {
        if self.spill() != SPILL_MAX {
            self.tag -= 4;
        }
    }

    /// A slot holding `order` under `key`, with no spilled order mapping to it.
    #[inline(always)]
    fn new(key: u64, order: &Order) -> Slot {
        Slot {
            key,
            price: order.price,
            shares: order.shares,
            locate: order.locate,
            tag: order.side as u8,
            level_hint: order.level_hint,
            mpid: order.mpid,
        }
    }

    /// Puts `order` under `key` here (the spill count stays).
    #[inline(always)]
    fn set(&mut self, key: u64, order: &Order) {
        self.key = key;
        self.price = order.price;
        self.shares = order.shares;
        self.locate = order.locate;
        self.tag = (self.tag & !3) | order.side as u8;
        self.level_hint = order.level_hint;
        self.mpid = order.mpid;
    }
}

/// A spill table entry.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    key: u64,
    order: Order,
}

const _: () = assert!(core::mem::size_of::<Entry>() == 24);

/// Error of [`OrderStore::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// The reference is already live; the existing order is kept.
    Duplicate,
}

/// [`OrderStore::prefetcher`]: asks for the ring slot of a reference.
#[derive(Clone, Copy, Debug)]
pub struct OrderPrefetch<'a>(SlotPrefetch<'a, Slot>);

impl OrderPrefetch<'_> {
    /// [`OrderStore::prefetch`] of `reference`.
    #[inline(always)]
    pub fn prefetch(self, reference: u64) {
        self.0.prefetch(reference as usize);
    }
}

/// The order store (see the module docs).
#[derive(Debug)]
pub struct OrderStore {
    ring: MaskedTable<Slot>,
    /// Live orders in the ring.
    ring_len: usize,
    spill: Spill,
    zero: Option<Order>,
}

impl OrderStore {
    /// A store sized for `expected_orders` live orders (the ring and the spill table each
    /// hold twice that many slots, rounded up to a power of two). Allocates and maps
    /// everything now.
    pub fn with_capacity(expected_orders: usize) -> Self {
        let cap = (expected_orders.max(8) * 2).next_power_of_two();
        OrderStore {
            // Every slot written now: the pages are resident (module doc).
            ring: MaskedTable::new(cap, Slot::default()),
            ring_len: 0,
            spill: Spill::with_slots(cap),
            zero: None,
        }
    }

    /// Memory [`OrderStore::with_capacity`] takes for `expected_orders`, bytes.
    pub fn memory_for(expected_orders: usize) -> usize {
        let cap = (expected_orders.max(8) * 2).next_power_of_two();
        cap * (core::mem::size_of::<Slot>() + core::mem::size_of::<Entry>())
    }

    /// Live orders.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring_len + self.spill.len + usize::from(self.zero.is_some())
    }

    /// No live order.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in both tables.
    pub fn capacity(&self) -> usize {
        self.ring.len() + self.spill.slots.len()
    }

    /// Memory held by both tables, bytes.
    pub fn memory_bytes(&self) -> usize {
        self.ring.len() * core::mem::size_of::<Slot>()
            + self.spill.slots.len() * core::mem::size_of::<Entry>()
    }

    /// Times the spill table doubled because it outgrew its configured size.
    pub fn growths(&self) -> u64 {
        self.spill.growths
    }

    /// Orders in the spill table (reports and tests).
    pub fn spilled(&self) -> usize {
        self.spill.len
    }

    /// Asks for the ring slot of `reference` ahead of its use, so that a cache miss on it
    /// overlaps with other work (the engine calls this for every message of a packet before it
    /// applies the packet). A prefetch: no effect on the store, nothing to wait for.
    #[inline(always)]
    pub fn prefetch(&self, reference: u64) {
        self.ring.prefetch(reference as usize);
    }

    /// [`OrderStore::prefetch`] for many references in a row, the store's fields read once
    /// (see [`MaskedTable::prefetcher`]).
    #[inline(always)]
    pub fn prefetcher(&self) -> OrderPrefetch<'_> {
        OrderPrefetch(self.ring.prefetcher())
    }

    /// What the ring slot of `reference` says of its order's price level: the index of its
    /// side's ladder (`Side as usize & 1`) and its [`Order::level_hint`]. A guess, for a
    /// prefetch: the slot is not checked to hold `reference` (another order or none gives
    /// another ladder or level: a wasted prefetch, never a wrong result).
    #[inline(always)]
    pub fn level_guess(&self, reference: u64) -> (usize, u8) {
        let s = self.ring.at(reference as usize);
        (usize::from(s.tag & 1), s.level_hint)
    }

    /// Records where the books saw the price level of the live order `reference` (see
    /// [`Order::level_hint`]); nothing for an order outside the ring (a spilled one keeps the
    /// hint it had when it left the ring, a hint is only ever checked) or one not live.
    #[inline(always)]
    pub fn set_level_hint(&mut self, reference: u64, hint: u8) {
        let s = self.ring.at_mut(reference as usize);
        if s.key == reference {
            s.level_hint = hint;
        }
    }

    /// Inserts a new live order. A reference that is already live is an anomaly: the existing
    /// order is kept and `Err(Duplicate)` returned.
    #[inline(always)]
    pub fn insert(&mut self, reference: u64, order: Order) -> Result<(), InsertError> {
        if reference == 0 {
            if self.zero.is_some() {
                return Err(InsertError::Duplicate);
            }
            self.zero = Some(order);
            return Ok(());
        }
        let s = self.ring.at_mut(reference as usize);
        if s.key == reference {
            return Err(InsertError::Duplicate);
        }
        // One branch for both uncommon cases: the slot is taken, or spilled orders map here.
        if (s.key != 0) | (s.spill() != 0) {
            // The cold path takes the reference alone: the order's fields need not be
            // written to memory for the call.
            if !self.make_room(reference) {
                return Err(InsertError::Duplicate);
            }
            // The slot is free now; its spill count stays.
            self.ring.at_mut(reference as usize).set(reference, &order);
        } else {
            // No spill count to keep: the whole slot is written.
            *s = Slot::new(reference, &order);
        }
        self.ring_len += 1;
        Ok(())
    }

    /// [`OrderStore::insert`] when the slot of `reference` is taken or has spilled orders:
    /// the duplicate check in the spill table (`false`: a duplicate, nothing changed), then
    /// the slot's order (if any) moves there, leaving the slot free with its spill count.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, reference: u64) -> bool {
        let i = reference as usize;
        let (key, spill) = (self.ring.at(i).key, self.ring.at(i).spill());
        if spill != 0 && self.spill.index_of(reference).is_some() {
            return false;
        }
        if key != 0 {
            // The older order leaves the ring for the spill table (it cannot be there: one
            // place per order).
            let resident = self.ring.at(i).order();
            self.spill.insert_new(key, resident);
            let s = self.ring.at_mut(i);
            s.key = 0;
            s.spill_one();
            self.ring_len -= 1;
        }
        true
    }

    /// The live order with this reference.
    #[inline]
    pub fn get(&self, reference: u64) -> Option<Order> {
        if reference == 0 {
            return self.zero;
        }
        let s = self.ring.at(reference as usize);
        if s.key == reference {
            return Some(s.order());
        }
        if s.spill() == 0 {
            return None;
        }
        self.spill
            .index_of(reference)
            .map(|j| self.spill.slots.at(j).order)
    }

    /// Subtracts `shares` from a live order, removing it when nothing remains (one slot read
    /// and written). Returns the order as it was before, or `None` if the reference is not
    /// live.
    #[inline(always)]
    pub fn reduce(&mut self, reference: u64, shares: u32) -> Option<Order> {
        if reference == 0 {
            let o = self.zero.as_mut()?;
            let before = *o;
            if shares >= o.shares {
                self.zero = None;
            } else {
                o.shares -= shares;
            }
            return Some(before);
        }
        let s = self.ring.at_mut(reference as usize);
        if s.key == reference {
            let before = s.order();
            // Without a branch on whether the order goes: its key is cleared when it does.
            let gone = shares >= s.shares;
            s.shares -= shares.min(s.shares);
            s.key = if gone { 0 } else { reference };
            self.ring_len -= usize::from(gone);
            return Some(before);
        }
        if s.spill() == 0 {
            return None;
        }
        self.reduce_spilled(reference, shares)
    }

    /// Removes and returns the live order with this reference.
    #[inline(always)]
    pub fn remove(&mut self, reference: u64) -> Option<Order> {
        self.reduce(reference, u32::MAX)
    }

    /// [`OrderStore::reduce`] of an order that is not in its ring slot (`u32::MAX`: remove).
    #[inline(never)]
    fn reduce_spilled(&mut self, reference: u64, shares: u32) -> Option<Order> {
        let j = self.spill.index_of(reference)?;
        let o = &mut self.spill.slots.at_mut(j).order;
        let before = *o;
        if shares >= o.shares {
            self.spill.remove_at(j);
            // Saturated: the count is unknown, it stays.
            self.ring.at_mut(reference as usize).unspill_one();
        } else {
            o.shares -= shares;
        }
        Some(before)
    }

    /// Checks the invariants (tests; allocates): every order in one place, the spill counts,
    /// the spill table's Robin Hood order and load.
    pub fn check_invariants(&self) -> bool {
        let mut ring_len = 0;
        for (i, s) in self.ring.iter().enumerate() {
            if s.key != 0 {
                ring_len += 1;
                if s.key as usize & self.ring.mask() != i || self.spill.index_of(s.key).is_some() {
                    return false;
                }
            }
        }
        let mut counts = vec![0usize; self.ring.len()];
        for e in self.spill.slots.iter().filter(|e| e.key != 0) {
            counts[e.key as usize & self.ring.mask()] += 1;
        }
        let counted = self
            .ring
            .iter()
            .zip(&counts)
            .all(|(s, &n)| s.spill() == SPILL_MAX || usize::from(s.spill()) == n);
        ring_len == self.ring_len
            && counted
            && self.spill.check_invariants()
            && self.spill.len * 2 <= self.spill.slots.len()
    }

    /// Removes every order (keeps the tables).
    pub fn clear(&mut self) {
        for s in self.ring.iter_mut() {
            s.key = 0;
            s.tag = 0;
        }
        self.ring_len = 0;
        self.spill.clear();
        self.zero = None;
    }

    /// Visits every live order (reports and tests; O(capacity)).
    pub fn for_each(&self, mut f: impl FnMut(u64, &Order)) {
        if let Some(o) = &self.zero {
            f(0, o);
        }
        for s in self.ring.iter().filter(|s| s.key != 0) {
            f(s.key, &s.order());
        }
        for e in self.spill.slots.iter().filter(|e| e.key != 0) {
            f(e.key, &e.order);
        }
    }
}

/// The spill table: open addressing, Robin Hood linear probing, a multiplicative hash (see
/// the module docs). Key 0: an empty slot.
#[derive(Debug)]
struct Spill {
    slots: MaskedTable<Entry>,
    /// `64 - log2(slots)`: the hash keeps the product's top bits.
    shift: u32,
    len: usize,
    growths: u64,
}

impl Spill {
    fn with_slots(cap: usize) -> Self {
        Spill {
            slots: MaskedTable::new(cap, Entry::default()),
            shift: 64 - cap.trailing_zeros(),
            len: 0,
            growths: 0,
        }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        // Fibonacci hashing; a one-slot table (shift 64) has home 0.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .checked_shr(self.shift)
            .unwrap_or(0) as usize
    }

    /// Probe distance of `key` stored at slot `i`.
    #[inline(always)]
    fn dist(&self, key: u64, i: usize) -> usize {
        i.wrapping_sub(self.home(key)) & self.slots.mask()
    }

    /// Inserts `key`, which must not be in the table (the caller checked).
    fn insert_new(&mut self, key: u64, order: Order) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let home = self.home(key);
        self.place(Entry { key, order }, home);
        self.len += 1;
    }

    /// Robin Hood placement of an entry not in the table, starting at slot `i`.
    fn place(&mut self, mut carry: Entry, mut i: usize) {
        let mut d = self.dist(carry.key, i);
        loop {
            let k = self.slots.at(i).key;
            if k == 0 {
                *self.slots.at_mut(i) = carry;
                return;
            }
            let kd = self.dist(k, i);
            if kd < d {
                carry = core::mem::replace(self.slots.at_mut(i), carry);
                d = kd;
            }
            i = (i + 1) & self.slots.mask();
            d += 1;
        }
    }

    fn index_of(&self, key: u64) -> Option<usize> {
        let mut i = self.home(key);
        let mut d = 0usize;
        loop {
            let k = self.slots.at(i).key;
            if k == key {
                return Some(i);
            }
            if (k == 0) | (self.dist(k, i) < d) {
                return None;
            }
            i = (i + 1) & self.slots.mask();
            d += 1;
        }
    }

    /// Backward-shift deletion: pull the rest of the run back one slot, stopping at an empty
    /// slot or at an entry already in its home slot (Robin Hood keeps runs sorted by home).
    fn remove_at(&mut self, mut hole: usize) {
        loop {
            let j = (hole + 1) & self.slots.mask();
            let k = self.slots.at(j).key;
            if (k == 0) | (self.dist(k, j) == 0) {
                break;
            }
            *self.slots.at_mut(hole) = *self.slots.at(j);
            hole = j;
        }
        self.slots.at_mut(hole).key = 0;
        self.len -= 1;
    }

    /// Robin Hood: every entry is found from its home, and no entry sits further from its
    /// home than one more than the entry before it.
    fn check_invariants(&self) -> bool {
        let mut n = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if s.key == 0 {
                continue;
            }
            n += 1;
            if self.index_of(s.key) != Some(i) {
                return false;
            }
            let prev = (i + self.slots.mask()) & self.slots.mask();
            let pk = self.slots.at(prev).key;
            let d = self.dist(s.key, i);
            if d > 0 && (pk == 0 || self.dist(pk, prev) + 1 < d) {
                return false;
            }
        }
        n == self.len
    }

    fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.key = 0;
        }
        self.len = 0;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let mut bigger = Spill::with_slots(self.slots.len() * 2);
        bigger.growths = self.growths + 1;
        for s in self.slots.iter().filter(|s| s.key != 0) {
            let home = bigger.home(s.key);
            bigger.place(*s, home);
            bigger.len += 1;
        }
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Resident set size of this process, bytes (Linux `/proc/self/statm`, in pages).
    #[cfg(target_os = "linux")]
    fn rss_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    /// The tables are mapped when they are made, not page by page on the hot path: their pages
    /// are resident right after `with_capacity` (a zeroed allocation that nobody wrote would add
    /// nothing to the resident set, and each page would fault on its first order).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_table_is_resident_from_start_up() {
        let before = rss_bytes();
        let store = OrderStore::with_capacity(1 << 21); // 2 × 2^22 slots, 192 MiB
        let table = store.memory_bytes();
        let grown = rss_bytes().saturating_sub(before);
        // Other tests run alongside and may free an engine or two (24 MiB each) meanwhile:
        // three quarters of the table must show (a zeroed allocation shows ~0).
        assert!(
            grown >= table / 4 * 3,
            "resident set grew {grown} bytes for a {table}-byte table"
        );
        drop(store);
    }

    fn order(shares: u32) -> Order {
        Order {
            price: 100,
            shares,
            locate: 1,
            side: Side::Bid,
            mpid: *b"NSDQ",
            level_hint: 7,
        }
    }

    /// The side and the level hint share the slot with the spill count: each reads back as it
    /// was written, in the ring and in the spill table, and a hint is rewritten in place.
    #[test]
    fn side_hint_and_spill_count_share_a_slot() {
        let mut s = OrderStore::with_capacity(8); // a 16-slot ring
        let ring = s.ring.len() as u64;
        for (k, side) in [Side::Bid, Side::Ask, Side::None].into_iter().enumerate() {
            let k = k as u64 + 1;
            // Three orders on one ring slot: the older two spill.
            for j in 0..3u64 {
                let o = Order {
                    side,
                    level_hint: (k * 10 + j) as u8,
                    ..order(1)
                };
                s.insert(k + j * ring, o).unwrap();
            }
            for j in 0..3u64 {
                let o = s.get(k + j * ring).unwrap();
                assert_eq!((o.side, o.level_hint), (side, (k * 10 + j) as u8));
            }
            // In place for the ring's order; a spilled one keeps its hint.
            s.set_level_hint(k + 2 * ring, 200);
            s.set_level_hint(k, 201);
            assert_eq!(s.get(k + 2 * ring).unwrap().level_hint, 200);
            assert_eq!(s.get(k).unwrap().level_hint, (k * 10) as u8);
            assert_eq!(s.reduce(k + 2 * ring, 0).unwrap().side, side);
        }
        assert_eq!(s.spilled(), 6);
        assert!(s.check_invariants());
        // An absent reference: nothing changes.
        s.set_level_hint(99 * ring + 1, 0);
        assert_eq!(s.get(1 + 2 * ring).unwrap().level_hint, 200);
        assert!(s.check_invariants());
    }

    #[test]
    fn insert_get_remove() {
        let mut s = OrderStore::with_capacity(16);
        assert!(s.insert(7, order(1)).is_ok());
        assert_eq!(s.insert(7, order(2)), Err(InsertError::Duplicate));
        assert_eq!(s.get(7).unwrap().shares, 1);
        assert_eq!(s.reduce(7, 0).unwrap().shares, 1);
        assert_eq!(s.remove(7).unwrap().shares, 1);
        assert!(s.get(7).is_none());
        assert!(s.remove(7).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn reduce_subtracts_then_removes() {
        let mut s = OrderStore::with_capacity(8);
        for r in [0u64, 5] {
            s.insert(r, order(10)).unwrap();
            assert_eq!(s.reduce(r, 4).unwrap().shares, 10);
            assert_eq!(s.get(r).unwrap().shares, 6);
            assert_eq!(s.reduce(r, 9).unwrap().shares, 6);
            assert!(s.get(r).is_none());
            assert!(s.reduce(r, 1).is_none());
        }
        assert!(s.is_empty());
    }

    #[test]
    fn zero_reference_is_kept_aside() {
        let mut s = OrderStore::with_capacity(8);
        s.insert(0, order(3)).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(0).unwrap().shares, 3);
        assert_eq!(s.insert(0, order(3)), Err(InsertError::Duplicate));
        assert_eq!(s.remove(0).unwrap().shares, 3);
        assert!(s.is_empty());
    }

    #[test]
    fn grows_instead_of_dropping_and_counts() {
        let mut s = OrderStore::with_capacity(8);
        let cap0 = s.capacity();
        for r in 1..=1000u64 {
            s.insert(r, order(r as u32)).unwrap();
        }
        assert!(s.growths() > 0);
        assert!(s.capacity() > cap0);
        for r in 1..=1000u64 {
            assert_eq!(s.get(r).unwrap().shares, r as u32);
        }
        assert!(s.check_invariants());
    }

    #[test]
    fn sequential_and_strided_references() {
        // Dense references: a sliding window of live orders, as Nasdaq assigns them.
        let mut s = OrderStore::with_capacity(64);
        for r in 1..=100_000u64 {
            s.insert(r, order(1)).unwrap();
            if r > 50 {
                assert!(s.remove(r - 50).is_some());
            }
        }
        assert_eq!(s.len(), 50);
        assert_eq!(s.growths(), 0);
        assert!(s.check_invariants());
        // A stride equal to the ring's size: every key shares one slot; still correct.
        let mut s = OrderStore::with_capacity(64);
        let cap = s.ring.len() as u64;
        for k in 1..=40u64 {
            s.insert(k * cap, order(k as u32)).unwrap();
        }
        assert!(s.check_invariants());
        for k in (1..=40u64).step_by(3) {
            assert_eq!(s.remove(k * cap).unwrap().shares, k as u32);
            assert!(s.check_invariants());
        }
        assert_eq!(s.get(8 * cap).unwrap().shares, 8);
        assert!(s.get(7 * cap).is_none());
    }

    #[test]
    fn random_churn_matches_a_hashmap() {
        // Small table, heavy churn: exercises wrap-around clusters and backward shifts.
        let mut s = OrderStore::with_capacity(100);
        let mut m: HashMap<u64, u32> = HashMap::new();
        let mut x: u64 = 0x1234_5678;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = x % 100 + 1; // collide a lot
            if x & 1 == 0 {
                let r = s.insert(key, order(step));
                if let std::collections::hash_map::Entry::Vacant(e) = m.entry(key) {
                    e.insert(step);
                    assert!(r.is_ok());
                } else {
                    assert!(r.is_err());
                }
            } else {
                assert_eq!(s.remove(key).map(|o| o.shares), m.remove(&key));
            }
            assert_eq!(s.len(), m.len());
            if step % 1000 == 0 {
                assert!(s.check_invariants(), "step {step}");
            }
        }
        for (k, v) in &m {
            assert_eq!(s.get(*k).unwrap().shares, *v);
        }
        let mut n = 0;
        s.for_each(|_, _| n += 1);
        assert_eq!(n, m.len());
        assert_eq!(s.growths(), 0, "100 keys fit in a 256-slot ring");
    }

    /// A model check of every operation (insert, reduce, remove, get, len) against a
    /// `HashMap` on random churn over references that collide in a small ring (spills, and
    /// orders taken back from the spill table), with sliding dense references as a day has
    /// them, and a stride that saturates a slot's spill count.
    #[test]
    fn spills_match_a_hashmap_model() {
        let mut s = OrderStore::with_capacity(16); // a 32-slot ring, a 32-slot spill table
        let mut m: HashMap<u64, u32> = HashMap::new();
        let mut x: u64 = 0x9E37_79B9;
        let mut next_ref = 1u64;
        for step in 0..300_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half the keys dense and increasing (some left resting), half anywhere in 1..=200.
            let key = if x & 2 == 0 {
                next_ref += 1;
                next_ref
            } else if x & 4 == 0 {
                x % 200 + 1
            } else {
                next_ref.saturating_sub(x % 64)
            };
            match (x >> 8) % 3 {
                0 => {
                    let r = s.insert(key, order(step % 50 + 1));
                    if let std::collections::hash_map::Entry::Vacant(e) = m.entry(key) {
                        e.insert(step % 50 + 1);
                        assert!(r.is_ok(), "step {step}: {key}");
                    } else {
                        assert!(r.is_err(), "step {step}: {key}");
                    }
                }
                1 => {
                    let n = (x >> 16) as u32 % 40;
                    let want = m.get(&key).copied();
                    assert_eq!(s.reduce(key, n).map(|o| o.shares), want, "step {step}");
                    if let Some(left) = want {
                        if n >= left {
                            m.remove(&key);
                        } else {
                            m.insert(key, left - n);
                        }
                    }
                }
                _ => assert_eq!(s.remove(key).map(|o| o.shares), m.remove(&key)),
            }
            assert_eq!(s.len(), m.len(), "step {step}");
            assert_eq!(s.get(key).map(|o| o.shares), m.get(&key).copied());
            if step % 997 == 0 {
                assert!(s.check_invariants(), "step {step}");
            }
        }
        assert!(s.check_invariants());
        for (k, v) in &m {
            assert_eq!(s.get(*k).unwrap().shares, *v);
        }
        let mut n = 0;
        s.for_each(|k, o| {
            assert_eq!(m.get(&k), Some(&o.shares));
            n += 1;
        });
        assert_eq!(n, m.len());
        // Saturation: 300 live orders on one ring slot (the count sticks at 63), then gone.
        let mut s = OrderStore::with_capacity(256);
        let ring = s.ring.len() as u64;
        for k in 1..=300u64 {
            s.insert(k * ring, order(1)).unwrap();
            assert_eq!(s.insert(k * ring, order(2)), Err(InsertError::Duplicate));
        }
        assert_eq!((s.len(), s.spilled()), (300, 299));
        assert!(s.check_invariants());
        for k in (1..=300u64).rev() {
            assert_eq!(s.remove(k * ring).unwrap().shares, 1);
            assert!(s.get(k * ring).is_none());
        }
        assert!(s.is_empty() && s.check_invariants());
        s.clear();
        assert!(s.check_invariants());
    }

    /// A day's pattern: dense increasing references, most orders gone soon, some resting for
    /// much longer than the ring takes to wrap: the resting ones spill, nothing grows.
    #[test]
    fn long_resting_orders_spill_without_growth() {
        let mut s = OrderStore::with_capacity(64); // 128-slot ring
        let mut resting = Vec::new();
        for r in 1..=20_000u64 {
            s.insert(r, order(1)).unwrap();
            if r % 97 == 0 {
                resting.push(r);
            }
            if r > 20 && (r - 20) % 97 != 0 {
                assert!(s.remove(r - 20).is_some());
            }
            if resting.len() > 30 {
                assert!(s.remove(resting.remove(0)).is_some());
            }
        }
        assert!(s.spilled() > 0, "resting orders leave the ring");
        assert_eq!(s.growths(), 0);
        assert!(s.check_invariants());
        for r in &resting {
            assert!(s.get(*r).is_some());
        }
    }
}
