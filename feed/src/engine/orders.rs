//! The ITCH order store: every live order by its Order Reference Number.
//!
//! ## Structure and rationale
//! An open-addressing hash table with **Robin Hood** linear probing over one flat `Vec<Slot>`
//! (24-byte slots, power-of-two capacity fixed at start-up from configuration).
//!
//! | operation | expected | worst case |
//! |---|---|---|
//! | insert (with duplicate check), lookup, remove | O(1), usually the order's own slot | O(longest probe run) |
//! | growth (load above 1/2) | — | O(capacity), cold path, counted in [`OrderStore::growths`] |
//!
//! - **Hash = the reference's low bits** (`(r ^ r >> 32) & mask`). Nasdaq assigns references
//!   roughly in entry order across the whole market, so the live orders are mostly a sliding
//!   window of recent references: with this hash each lands in its own slot, next to the
//!   previous one, and the working set stays in cache. (A multiplicative hash scattered them
//!   over the whole table: one cache miss per message, measured ~25× slower.) The worst case
//!   is references in a stride of a multiple of the table size, which all share one home and
//!   degrade to a linear scan; the `>> 32` fold keeps strides of 2^32 apart from colliding.
//! - **Robin Hood** insertion keeps every probe run sorted by home slot, so a lookup of an
//!   absent reference stops as soon as it meets an entry closer to its home than the probe
//!   distance, and **deletion by backward shift** stops at the first entry that sits in its
//!   home slot: with dense references both are O(1) even inside long runs of occupied slots.
//!   No tombstones, so churn never degrades probe lengths.
//! - **Prefetch ahead**: [`OrderStore::prefetch`] requests a reference's home slot without
//!   using it; the engine calls it for every message of a packet (every book message carries
//!   its reference at the same offset) during the framing check, before it applies the
//!   packet, so the cache misses of a packet's orders are in flight together and overlap with
//!   applying the messages before them.
//! - **Unchecked, in-bounds probes**: the slots are a [`MaskedTable`], whose accesses take the
//!   index `& mask` into an array of exactly `mask + 1` slots, so no probe pays a bounds check
//!   (safe indexing kept one per slot read: 11 instructions per message on the books bench).
//! - **Mapped at start-up**: [`OrderStore::with_capacity`] builds the table by writing every
//!   slot ([`MaskedTable::new`] fills it with `Slot::default()`, and `Slot` is not a type
//!   `vec!` may hand to `alloc_zeroed`), so all its pages are resident before the first message
//!   and no page fault is left for the hot path (12 MB, ~3 000 pages, for the default 2^19
//!   slots). A zeroed allocation (`alloc_zeroed`, `calloc`) would look cheaper and leave every
//!   page to fault on its first order; a test checks the table is resident.
//! - **Load factor** at most 1/2. Exceeding it doubles the table on a cold path (counted); an
//!   order is never dropped.
//! - Key `0` marks an empty slot; a live order with reference 0 (never seen in practice: only
//!   `P` messages carry 0) is kept in a dedicated side slot.
//!
//! ## Invariants
//! - Robin Hood: walking a run of occupied slots, the probe distance `(slot − home) & mask`
//!   never increases by more than one from a slot to the next, and every entry is reachable
//!   from its home without crossing an empty slot ([`OrderStore::check_invariants`]).
//! - `len` counts live orders; `len <= capacity / 2` after every insert.

use super::table::MaskedTable;
use crate::update::Side;

/// A live order (the L3 state ITCH needs, per the spec's "state needed per live order").
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
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: u64,
    order: Order,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 24);

/// Error of [`OrderStore::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// The reference is already live; the existing order is kept.
    Duplicate,
}

/// Open-addressing order store (see the module docs).
#[derive(Debug)]
pub struct OrderStore {
    slots: MaskedTable<Slot>,
    len: usize,
    zero: Option<Order>,
    /// Times the table doubled because the configured capacity was exceeded.
    pub growths: u64,
}

impl OrderStore {
    /// A store sized for `expected_orders` live orders (the table holds twice that many
    /// slots, rounded up to a power of two). Allocates and maps everything now.
    pub fn with_capacity(expected_orders: usize) -> Self {
        let cap = (expected_orders.max(8) * 2).next_power_of_two();
        Self::with_slots(cap)
    }

    fn with_slots(cap: usize) -> Self {
        OrderStore {
            // Every slot written now: the pages are resident (module doc).
            slots: MaskedTable::new(cap, Slot::default()),
            len: 0,
            zero: None,
            growths: 0,
        }
    }

    /// Live orders.
    #[inline]
    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    /// No live order.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in the table.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Memory held by the table, bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<Slot>()
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        ((key ^ (key >> 32)) as usize) & self.slots.mask()
    }

    /// Probe distance of `key` stored at slot `i`.
    #[inline(always)]
    fn dist(&self, key: u64, i: usize) -> usize {
        i.wrapping_sub(self.home(key)) & self.slots.mask()
    }

    /// Asks for the home slot of `reference` ahead of its use, so that a cache miss on it
    /// overlaps with other work (the engine calls this for every message of a packet before it
    /// applies the packet). A prefetch: no effect on the store, nothing to wait for.
    #[inline(always)]
    pub fn prefetch(&self, reference: u64) {
        self.slots.prefetch(self.home(reference));
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
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut i = self.home(reference);
        let mut d = 0usize;
        loop {
            let k = self.slots.at(i).key;
            if k == 0 {
                *self.slots.at_mut(i) = Slot {
                    key: reference,
                    order,
                };
                self.len += 1;
                return Ok(());
            }
            if k == reference {
                return Err(InsertError::Duplicate);
            }
            if self.dist(k, i) < d {
                // Robin Hood: the new entry takes this slot; the rest of the run moves on.
                // (`reference` cannot be further along: runs are sorted by home.)
                let carry = core::mem::replace(
                    self.slots.at_mut(i),
                    Slot {
                        key: reference,
                        order,
                    },
                );
                self.len += 1;
                self.place(carry, (i + 1) & self.slots.mask());
                return Ok(());
            }
            i = (i + 1) & self.slots.mask();
            d += 1;
        }
    }

    /// Robin Hood placement of a displaced entry, starting at slot `i`.
    #[inline]
    fn place(&mut self, mut carry: Slot, mut i: usize) {
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

    #[inline(always)]
    fn index_of(&self, reference: u64) -> Option<usize> {
        let mut i = self.home(reference);
        let mut d = 0usize;
        loop {
            let k = self.slots.at(i).key;
            if k == reference {
                return Some(i);
            }
            if (k == 0) | (self.dist(k, i) < d) {
                return None;
            }
            i = (i + 1) & self.slots.mask();
            d += 1;
        }
    }

    /// The live order with this reference.
    #[inline]
    pub fn get(&self, reference: u64) -> Option<&Order> {
        if reference == 0 {
            return self.zero.as_ref();
        }
        self.index_of(reference).map(|i| &self.slots.at(i).order)
    }

    /// The live order with this reference, mutably.
    #[inline]
    pub fn get_mut(&mut self, reference: u64) -> Option<&mut Order> {
        if reference == 0 {
            return self.zero.as_mut();
        }
        self.index_of(reference)
            .map(|i| &mut self.slots.at_mut(i).order)
    }

    /// Subtracts `shares` from a live order, removing it when nothing remains (one probe).
    /// Returns the order as it was before, or `None` if the reference is not live.
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
        let i = self.index_of(reference)?;
        let o = &mut self.slots.at_mut(i).order;
        let before = *o;
        if shares >= o.shares {
            self.remove_at(i);
        } else {
            o.shares -= shares;
        }
        Some(before)
    }

    /// Removes and returns the live order with this reference.
    #[inline(always)]
    pub fn remove(&mut self, reference: u64) -> Option<Order> {
        if reference == 0 {
            return self.zero.take();
        }
        let i = self.index_of(reference)?;
        let order = self.slots.at(i).order;
        self.remove_at(i);
        Some(order)
    }

    /// Backward-shift deletion: pull the rest of the run back one slot, stopping at an empty
    /// slot or at an entry already in its home slot (Robin Hood keeps runs sorted by home).
    #[inline(always)]
    fn remove_at(&mut self, mut hole: usize) {
        loop {
            let j = (hole + 1) & self.slots.mask();
            let k = self.slots.at(j).key;
            // One branch on "the run ends here" (empty slot, or an entry at home): almost
            // always true. Short-circuit `||` made two branches of it, each on a coin flip
            // (which of the two ends it is), and mispredicted ~0.17 times per message.
            if (k == 0) | (self.dist(k, j) == 0) {
                break;
            }
            *self.slots.at_mut(hole) = *self.slots.at(j);
            hole = j;
        }
        self.slots.at_mut(hole).key = 0;
        self.len -= 1;
    }

    /// Checks the Robin Hood invariants (tests): every entry is found from its home.
    pub fn check_invariants(&self) -> bool {
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

    /// Removes every order (keeps the table).
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.key = 0;
        }
        self.len = 0;
        self.zero = None;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.growths += 1;
        let mut bigger = Self::with_slots(self.slots.len() * 2);
        bigger.growths = self.growths;
        bigger.zero = self.zero;
        for s in self.slots.iter().filter(|s| s.key != 0) {
            let home = bigger.home(s.key);
            bigger.place(*s, home);
            bigger.len += 1;
        }
        *self = bigger;
    }

    /// Visits every live order (reports and tests; O(capacity)).
    pub fn for_each(&self, mut f: impl FnMut(u64, &Order)) {
        if let Some(o) = &self.zero {
            f(0, o);
        }
        for s in self.slots.iter().filter(|s| s.key != 0) {
            f(s.key, &s.order);
        }
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

    /// The table is mapped when it is made, not page by page on the hot path: its pages are
    /// resident right after `with_capacity` (a zeroed allocation that nobody wrote would add
    /// nothing to the resident set, and each page would fault on its first order).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_table_is_resident_from_start_up() {
        let before = rss_bytes();
        let store = OrderStore::with_capacity(1 << 22); // 2^23 slots, 192 MiB
        let table = store.capacity() * core::mem::size_of::<Slot>();
        let grown = rss_bytes().saturating_sub(before);
        // Other tests run alongside and may free an engine or two (12 MiB each) meanwhile:
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
        }
    }

    #[test]
    fn insert_get_remove() {
        let mut s = OrderStore::with_capacity(16);
        assert!(s.insert(7, order(1)).is_ok());
        assert_eq!(s.insert(7, order(2)), Err(InsertError::Duplicate));
        assert_eq!(s.get(7).unwrap().shares, 1);
        s.get_mut(7).unwrap().shares = 5;
        assert_eq!(s.remove(7).unwrap().shares, 5);
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
        assert!(s.growths > 0);
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
        assert_eq!(s.growths, 0);
        assert!(s.check_invariants());
        // A stride equal to the table size: every key shares one home; still correct.
        let mut s = OrderStore::with_capacity(64);
        let cap = s.capacity() as u64;
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
        assert_eq!(
            s.growths, 0,
            "100 keys fit in a 256-slot table at load <= 1/2"
        );
    }
}
