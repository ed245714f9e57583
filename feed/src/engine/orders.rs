//! The ITCH order store: every live order by its Order Reference Number.
//!
//! ## Structure and rationale
//! An open-addressing hash table with linear probing over one flat `Vec<Slot>` (24-byte
//! slots, power-of-two capacity fixed at start-up from configuration).
//!
//! | operation | expected | worst case |
//! |---|---|---|
//! | insert, lookup, remove | O(1), usually one cache line | O(cluster length) |
//! | growth (load above 1/2) | — | O(capacity), cold path, counted in [`OrderStore::growths`] |
//!
//! - **Hash**: Fibonacci multiplicative hashing of the reference (`r * 2^64/φ`, top bits).
//!   Nasdaq references are roughly sequential; multiplicative hashing spreads consecutive keys
//!   over the whole table, and it costs one multiply.
//! - **Deletion** is by backward shift (no tombstones), so probe lengths never degrade with
//!   churn: a day of adds and deletes leaves the table as if only the live orders were inserted.
//! - **Load factor** at most 1/2: short clusters. Exceeding it doubles the table on a cold path
//!   (counted); an order is never dropped.
//! - Key `0` marks an empty slot; a live order with reference 0 (never seen in practice: only
//!   `P` messages carry 0) is kept in a dedicated side slot.
//!
//! ## Invariants
//! - Every live order is reachable from its home slot `hash(ref)` without crossing an empty slot.
//! - `len` counts live orders; `len <= capacity / 2` after every insert.

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
    slots: Vec<Slot>,
    mask: usize,
    shift: u32,
    len: usize,
    zero: Option<Order>,
    /// Times the table doubled because the configured capacity was exceeded.
    pub growths: u64,
}

const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

impl OrderStore {
    /// A store sized for `expected_orders` live orders (the table holds twice that many
    /// slots, rounded up to a power of two). Allocates everything now.
    pub fn with_capacity(expected_orders: usize) -> Self {
        let cap = (expected_orders.max(8) * 2).next_power_of_two();
        Self::with_slots(cap)
    }

    fn with_slots(cap: usize) -> Self {
        OrderStore {
            slots: vec![Slot::default(); cap],
            mask: cap - 1,
            shift: 64 - cap.trailing_zeros(),
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
        (key.wrapping_mul(FIB) >> self.shift) as usize
    }

    /// Inserts a new live order. A reference that is already live is an anomaly: the existing
    /// order is kept and `Err(Duplicate)` returned.
    #[inline]
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
        loop {
            let s = &mut self.slots[i];
            if s.key == 0 {
                *s = Slot {
                    key: reference,
                    order,
                };
                self.len += 1;
                return Ok(());
            }
            if s.key == reference {
                return Err(InsertError::Duplicate);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn index_of(&self, reference: u64) -> Option<usize> {
        let mut i = self.home(reference);
        loop {
            let k = self.slots[i].key;
            if k == reference {
                return Some(i);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The live order with this reference.
    #[inline]
    pub fn get(&self, reference: u64) -> Option<&Order> {
        if reference == 0 {
            return self.zero.as_ref();
        }
        self.index_of(reference).map(|i| &self.slots[i].order)
    }

    /// The live order with this reference, mutably.
    #[inline]
    pub fn get_mut(&mut self, reference: u64) -> Option<&mut Order> {
        if reference == 0 {
            return self.zero.as_mut();
        }
        self.index_of(reference).map(|i| &mut self.slots[i].order)
    }

    /// Removes and returns the live order with this reference.
    #[inline]
    pub fn remove(&mut self, reference: u64) -> Option<Order> {
        if reference == 0 {
            return self.zero.take();
        }
        let i = self.index_of(reference)?;
        let order = self.slots[i].order;
        self.remove_at(i);
        Some(order)
    }

    /// Backward-shift deletion: pull later members of the cluster into the hole when their
    /// home slot allows it, so no tombstone is ever needed.
    #[inline]
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j].key;
            if k == 0 {
                break;
            }
            let home = self.home(k);
            // Move slot j into the hole unless its home lies cyclically in (hole, j].
            let dist_home = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole].key = 0;
        self.len -= 1;
    }

    /// Removes every order (keeps the table).
    pub fn clear(&mut self) {
        for s in &mut self.slots {
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
            let mut i = bigger.home(s.key);
            while bigger.slots[i].key != 0 {
                i = (i + 1) & bigger.mask;
            }
            bigger.slots[i] = *s;
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
