//! The least work an ITCH L3 book must do, in three steps (the `book_floor` example times them
//! over a file):
//!
//! - [`Touch`]: per book message (`A F E C X D U`), one read-modify-write of a cache line of
//!   per-locate state and one of per-reference state (a direct-mapped table by the reference's
//!   low bits): the memory any L3 book touches, with no book at all.
//! - [`Orders`]: a correct order store (add, execute, cancel, delete, replace by reference,
//!   remaining shares kept), no levels.
//! - [`L3Book`]: [`Orders`] plus per-locate, per-side price levels (shares and order count per
//!   level), the best bid and ask known after every message.
//!
//! Each is as lean as it can be while staying correct on a Nasdaq day, which lets it pack state
//! tighter than a general handler: an order slot is 16 bytes, so it takes references below
//! 2^48 and prices below 2^31 (both far above any Nasdaq value); an add outside that range, or
//! with reference 0, is refused and counted in [`Anomalies::unsupported`].
//!
//! ## Invariants
//! - [`Orders`]: every live order with reference `r` sits in the slot `r & mask` or after it in
//!   the same run of occupied slots (linear probing), reachable from `r & mask` without
//!   crossing an empty slot; the load stays at most 1/2 (the table doubles past it).
//! - [`L3Book`]: for each locate and side, the levels are sorted from worst to best price
//!   (the best is the last), each level's `shares` is the sum of its live orders' remaining
//!   shares and `orders` their number, and no level is empty.
//! - Nothing here runs in `fh`: these are benchmark floors, checked against `fh`'s books.

/// Book message types (`A F E C X D U`), by type byte.
const BOOK: [bool; 256] = {
    let mut t = [false; 256];
    t[b'A' as usize] = true;
    t[b'F' as usize] = true;
    t[b'E' as usize] = true;
    t[b'C' as usize] = true;
    t[b'X' as usize] = true;
    t[b'D' as usize] = true;
    t[b'U' as usize] = true;
    t
};

/// The largest reference and price a slot holds (see the module docs).
const REF_BITS: u32 = 48;
const REF_MASK: u64 = (1 << REF_BITS) - 1;
const PRICE_MAX: u32 = (1 << 31) - 1;

// Field reads at spec offsets: each takes its bytes as one fixed-size chunk (one length check,
// which a caller's own length check removes).
#[inline(always)]
fn u16_at(m: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(*m[at..].first_chunk().unwrap_or(&[0; 2]))
}

#[inline(always)]
fn u32_at(m: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(*m[at..].first_chunk().unwrap_or(&[0; 4]))
}

#[inline(always)]
fn u64_at(m: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(*m[at..].first_chunk().unwrap_or(&[0; 8]))
}

/// The messages of an ITCH BinaryFILE (each a 2-byte big-endian length, then the message),
/// until the bytes end or a length runs past them.
#[derive(Debug)]
pub struct Frames<'a> {
    bytes: &'a [u8],
}

impl<'a> Frames<'a> {
    /// The messages of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Frames { bytes }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.bytes.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_be_bytes(*len));
        if rest.len() < n {
            return None;
        }
        let (m, rest) = rest.split_at(n);
        self.bytes = rest;
        Some(m)
    }
}

/// Whether the tables ask for transparent huge pages ([`use_huge_pages`]).
static HUGE_PAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tables allocated from now on ask the kernel for transparent huge pages
/// (`madvise(MADV_HUGEPAGE)` before their first write), so that a table of tens of MB takes
/// tens of TLB entries instead of thousands.
pub fn use_huge_pages(on: bool) {
    HUGE_PAGES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Asks for huge pages over the whole 2 MiB pages inside `len` bytes at `p` (a hint: nothing
/// happens where the kernel does not allow it).
fn advise_huge(p: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (p as usize).next_multiple_of(HUGE);
    let end = (p as usize + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside an allocation of `len` bytes this module owns; the
        // advice changes how the kernel backs its pages, never their contents or validity.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// `n` copies of `v`, every element written now (so every page is resident before the timed
/// loop: `vec![0; n]` would take zeroed pages the loop then faults in one by one).
fn resident<T: Copy>(n: usize, v: T) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(n);
    // Opaque to the optimiser, which could otherwise turn a zero fill of fresh memory into
    // `calloc` (zeroed pages, not written ones).
    std::hint::black_box(out.as_mut_ptr());
    if HUGE_PAGES.load(std::sync::atomic::Ordering::Relaxed) {
        advise_huge(out.as_mut_ptr().cast(), n * core::mem::size_of::<T>());
    }
    out.extend(std::iter::repeat_n(v, n));
    out
}

/// The per-reference table's slot count for `expected_orders` live orders: four per order,
/// a power of two (the order store's load stays at most 1/2 up to twice that many).
pub fn slots_for(expected_orders: usize) -> usize {
    (expected_orders.max(8) * 4).next_power_of_two()
}

/// The memory-touch floor of an L3 book (see the module docs).
#[derive(Debug)]
pub struct Touch {
    locates: Vec<Line>,
    refs: Vec<[u64; 2]>,
    mask: u64,
    /// Fold of every value read.
    pub sum: u64,
}

/// One cache line of per-locate state.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct Line([u64; 8]);

impl Touch {
    /// Tables for `expected_orders` live orders ([`slots_for`] 16-byte slots, as [`Orders`]),
    /// every page written now.
    pub fn new(expected_orders: usize) -> Self {
        let slots = slots_for(expected_orders);
        Touch {
            locates: resident(1 << 16, Line::default()),
            refs: resident(slots, [0; 2]),
            mask: slots as u64 - 1,
            sum: 0,
        }
    }

    /// Touches the state of one message (nothing for a message that is not a book message).
    #[inline(always)]
    pub fn apply(&mut self, m: &[u8]) {
        if m.len() < 19 || !BOOK[usize::from(m[0])] {
            return;
        }
        let locate = usize::from(u16_at(m, 1));
        let reference = u64_at(m, 11);
        let l = &mut self.locates[locate].0[0];
        *l += 1;
        let r = &mut self.refs[(reference & self.mask) as usize][0];
        *r ^= reference;
        self.sum = self.sum.wrapping_add(*l ^ *r).rotate_left(1);
    }

    /// Requests the locate's line and the reference's slot of a book message without using
    /// them.
    #[inline(always)]
    pub fn prefetch(&self, m: &[u8]) {
        if m.len() >= 19 && BOOK[usize::from(m[0])] {
            prefetch(&self.locates[usize::from(u16_at(m, 1))]);
            prefetch(&self.refs[(u64_at(m, 11) & self.mask) as usize]);
        }
    }
}

#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint with no architectural effect; `p` is a valid reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Anomalies met (none on a well-formed day).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// `E C X D U` naming a reference that is not live.
    pub unknown_ref: u64,
    /// An add of a live reference (the existing order is kept).
    pub duplicate_ref: u64,
    /// `E C X` of more shares than remain (the order goes).
    pub over_execution: u64,
    /// An add outside the slot's range (reference 0 or ≥ 2^48, price ≥ 2^31): refused.
    pub unsupported: u64,
    /// A book message shorter than its type's length.
    pub short: u64,
}

/// A live order as a 16-byte slot: `key` is the reference (bits 0–47) and the locate (48–63),
/// `px` the price (bits 0–30) and the side (bit 31: ask), then the remaining shares. `key == 0`:
/// empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    key: u64,
    px: u32,
    shares: u32,
}

impl Slot {
    #[inline(always)]
    fn reference(&self) -> u64 {
        self.key & REF_MASK
    }
    #[inline(always)]
    fn locate(&self) -> u16 {
        (self.key >> REF_BITS) as u16
    }
    #[inline(always)]
    fn price(&self) -> u32 {
        self.px & PRICE_MAX
    }
    #[inline(always)]
    fn ask(&self) -> bool {
        self.px > PRICE_MAX
    }
}

/// A live order as [`Orders::get`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// Stock locate.
    pub locate: u16,
    /// Sell side.
    pub ask: bool,
    /// Price, 4 implied decimals.
    pub price: u32,
    /// Remaining shares.
    pub shares: u32,
}

/// An order's slot in [`Orders`] (valid until the next insert or remove).
type At = usize;

/// The order store: linear probing from `reference & mask` (see the module invariants).
/// References rise through the day and most orders live briefly, so the live ones are a window
/// of recent references, each in its own home slot: an operation is one slot.
#[derive(Debug)]
pub struct Orders {
    slots: Vec<Slot>,
    mask: u64,
    len: usize,
    /// Anomalies met.
    pub anomalies: Anomalies,
    /// Times the table doubled.
    pub growths: u32,
}

impl Orders {
    /// A store of [`slots_for`]`(expected_orders)` slots (it doubles past half full), every
    /// page written now.
    pub fn new(expected_orders: usize) -> Self {
        let slots = slots_for(expected_orders);
        Orders {
            slots: resident(slots, Slot::default()),
            mask: slots as u64 - 1,
            len: 0,
            anomalies: Anomalies::default(),
            growths: 0,
        }
    }

    /// Live orders.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No live order.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The live order `reference`, if any.
    pub fn get(&self, reference: u64) -> Option<Order> {
        self.find(reference).map(|at| {
            let s = self.slots[at];
            Order {
                locate: s.locate(),
                ask: s.ask(),
                price: s.price(),
                shares: s.shares,
            }
        })
    }

    /// Requests the home slot of `reference` without using it.
    #[inline(always)]
    pub fn prefetch(&self, reference: u64) {
        prefetch(&self.slots[(reference & self.mask) as usize]);
    }

    /// Requests the home slot of a book message's reference without using it.
    #[inline(always)]
    pub fn prefetch_message(&self, m: &[u8]) {
        if m.len() >= 19 && BOOK[usize::from(m[0])] {
            self.prefetch(u64_at(m, 11));
        }
    }

    #[inline(always)]
    fn find(&self, reference: u64) -> Option<At> {
        let mut i = reference & self.mask;
        loop {
            let s = &self.slots[i as usize];
            if s.reference() == reference && s.key != 0 {
                return Some(i as usize);
            }
            if s.key == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds an order; `false` (counted) for a duplicate or an unsupported one.
    #[inline(always)]
    fn insert(&mut self, reference: u64, locate: u16, ask: bool, price: u32, shares: u32) -> bool {
        if reference == 0 || reference > REF_MASK || price > PRICE_MAX {
            self.anomalies.unsupported += 1;
            return false;
        }
        let mut i = reference & self.mask;
        loop {
            let s = &mut self.slots[i as usize];
            if s.key == 0 {
                *s = Slot {
                    key: reference | (u64::from(locate) << REF_BITS),
                    px: price | (u32::from(ask) << 31),
                    shares,
                };
                self.len += 1;
                if self.len * 2 > self.slots.len() {
                    self.grow();
                }
                return true;
            }
            if s.reference() == reference {
                self.anomalies.duplicate_ref += 1;
                return false;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Empties slot `at` (backward shift: the run after it moves up, no tombstone).
    #[inline(always)]
    fn remove_at(&mut self, at: At) {
        let mut hole = at as u64;
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j as usize];
            if s.key == 0 {
                break;
            }
            let home = s.reference() & self.mask;
            // `s` may fill the hole unless its home lies cyclically in (hole, j].
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole as usize] = s;
                hole = j;
            }
        }
        self.slots[hole as usize] = Slot::default();
        self.len -= 1;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let doubled = resident(self.slots.len() * 2, Slot::default());
        let old = std::mem::replace(&mut self.slots, doubled);
        self.mask = self.slots.len() as u64 - 1;
        self.growths += 1;
        for s in old.into_iter().filter(|s| s.key != 0) {
            let mut i = s.reference() & self.mask;
            while self.slots[i as usize].key != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i as usize] = s;
        }
    }

    /// Applies one message to the store alone (no levels); returns a value to fold into a
    /// checksum (the shares the message left or took).
    #[inline(always)]
    pub fn apply(&mut self, m: &[u8]) -> u64 {
        match m.first() {
            Some(b'A' | b'F') if m.len() >= 36 => {
                let shares = u32_at(m, 20);
                self.insert(
                    u64_at(m, 11),
                    u16_at(m, 1),
                    m[19] == b'S',
                    u32_at(m, 32),
                    shares,
                );
                u64::from(shares)
            }
            Some(b'E' | b'C' | b'X') if m.len() >= 23 => {
                let Some(at) = self.find(u64_at(m, 11)) else {
                    self.anomalies.unknown_ref += 1;
                    return 0;
                };
                let n = u32_at(m, 19);
                let s = &mut self.slots[at];
                if n < s.shares {
                    s.shares -= n;
                    u64::from(s.shares)
                } else {
                    if n > s.shares {
                        self.anomalies.over_execution += 1;
                    }
                    self.remove_at(at);
                    0
                }
            }
            Some(b'D') if m.len() >= 19 => {
                let Some(at) = self.find(u64_at(m, 11)) else {
                    self.anomalies.unknown_ref += 1;
                    return 0;
                };
                let shares = self.slots[at].shares;
                self.remove_at(at);
                u64::from(shares)
            }
            Some(b'U') if m.len() >= 35 => {
                let Some(at) = self.find(u64_at(m, 11)) else {
                    self.anomalies.unknown_ref += 1;
                    return 0;
                };
                let s = self.slots[at];
                self.remove_at(at);
                let shares = u32_at(m, 27);
                self.insert(u64_at(m, 19), s.locate(), s.ask(), u32_at(m, 31), shares);
                u64::from(shares)
            }
            Some(&t) if BOOK[usize::from(t)] => {
                self.anomalies.short += 1;
                0
            }
            _ => 0,
        }
    }
}

/// A price level of one side: its key (the price, bitwise inverted on the ask side so that on
/// both sides a larger key is a better price), its order count and its shares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Level {
    key: u32,
    orders: u32,
    shares: u64,
}

/// Levels a side reserves when its instrument is first used.
const INITIAL_LEVELS: usize = 64;

/// Levels searched linearly from the best before a binary search of the rest.
const NEAR_BEST: usize = 8;

/// One side's levels, worst first (the best is the last).
#[derive(Clone, Debug, Default)]
struct Side {
    levels: Vec<Level>,
}

impl Side {
    /// Where `key` is (`Ok`) or would go (`Err`).
    #[inline(always)]
    fn find(&self, key: u32) -> Result<usize, usize> {
        let lv = &self.levels;
        let n = lv.len();
        let stop = n.saturating_sub(NEAR_BEST);
        let mut i = n;
        while i > stop {
            let k = lv[i - 1].key;
            if k == key {
                return Ok(i - 1);
            }
            if k < key {
                return Err(i);
            }
            i -= 1;
        }
        // Every level from `stop` on is better than `key`: binary search below it.
        let p = lv[..stop].partition_point(|l| l.key < key);
        if p < stop && lv[p].key == key {
            Ok(p)
        } else {
            Err(p)
        }
    }

    #[inline(always)]
    fn add(&mut self, key: u32, shares: u32) {
        match self.find(key) {
            Ok(i) => {
                let l = &mut self.levels[i];
                l.orders += 1;
                l.shares += u64::from(shares);
            }
            Err(i) => {
                let l = Level {
                    key,
                    orders: 1,
                    shares: u64::from(shares),
                };
                if i == self.levels.len() {
                    self.levels.push(l);
                } else {
                    self.levels.insert(i, l);
                }
            }
        }
    }

    /// Takes `shares` (and an order, if `gone`) from the level `key`; `false` if it is missing
    /// or too small (an inconsistency: never on a store kept with the levels).
    #[inline(always)]
    fn reduce(&mut self, key: u32, shares: u32, gone: bool) -> bool {
        let Ok(i) = self.find(key) else {
            return false;
        };
        let l = &mut self.levels[i];
        let Some(left) = l.shares.checked_sub(u64::from(shares)) else {
            return false;
        };
        l.shares = left;
        l.orders -= u32::from(gone);
        if l.orders == 0 {
            if i + 1 == self.levels.len() {
                self.levels.pop();
            } else {
                self.levels.remove(i);
            }
        }
        true
    }

    #[inline(always)]
    fn best(&self) -> Option<&Level> {
        self.levels.last()
    }
}

/// One instrument's two sides (bids 0, asks 1), in one cache line.
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
struct Book {
    sides: [Side; 2],
}

/// A side's best level as [`L3Book::best`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Top {
    /// Price, 4 implied decimals.
    pub price: u32,
    /// Shares at that price.
    pub shares: u64,
    /// Orders at that price.
    pub orders: u32,
}

/// A side's level key of `price` (see [`Level`]).
#[inline(always)]
fn key(ask: bool, price: u32) -> u32 {
    price ^ (u32::from(ask).wrapping_neg())
}

/// The minimal L3 book (see the module docs).
#[derive(Debug)]
pub struct L3Book {
    /// The orders.
    pub orders: Orders,
    books: Vec<Book>,
    /// Symbols by locate (from `R`), for reports.
    symbols: Vec<[u8; 8]>,
    /// A level missing or smaller than an order on it (never, while the invariants hold).
    pub level_mismatch: u64,
}

impl L3Book {
    /// A book for `expected_orders` live orders (the order store as [`Orders::new`]).
    pub fn new(expected_orders: usize) -> Self {
        L3Book {
            orders: Orders::new(expected_orders),
            books: vec![Book::default(); 1 << 16],
            symbols: vec![[0; 8]; 1 << 16],
            level_mismatch: 0,
        }
    }

    /// Requests the instrument's line of a book message `d` ahead, and its order's home slot.
    #[inline(always)]
    pub fn prefetch_far(&self, m: &[u8]) {
        if m.len() >= 19 && BOOK[usize::from(m[0])] {
            self.orders.prefetch(u64_at(m, 11));
            prefetch(&self.books[usize::from(u16_at(m, 1))]);
        }
    }

    /// Requests the best end of the levels a book message nearer ahead will search: an add's
    /// side from the message, another's from its order's home slot (requested earlier by
    /// [`L3Book::prefetch_far`]), if the order is there.
    #[inline(always)]
    pub fn prefetch_near(&self, m: &[u8]) {
        let (locate, ask) = match m.first() {
            Some(b'A' | b'F') if m.len() >= 36 => (u16_at(m, 1), m[19] == b'S'),
            Some(&t) if BOOK[usize::from(t)] && m.len() >= 19 => {
                let r = u64_at(m, 11);
                let s = &self.orders.slots[(r & self.orders.mask) as usize];
                if s.reference() != r {
                    return;
                }
                (s.locate(), s.ask())
            }
            _ => return,
        };
        let lv = &self.books[usize::from(locate)].sides[usize::from(ask)].levels;
        if let Some(l) = lv.last() {
            prefetch(l);
            prefetch(&lv[lv.len().saturating_sub(4)]);
        }
    }

    #[inline(always)]
    fn side(&mut self, locate: u16, ask: bool) -> &mut Side {
        let b = &mut self.books[usize::from(locate)];
        let s = &mut b.sides[usize::from(ask)];
        if s.levels.capacity() == 0 {
            s.levels.reserve(INITIAL_LEVELS);
        }
        s
    }

    #[inline(always)]
    fn add(&mut self, reference: u64, locate: u16, ask: bool, price: u32, shares: u32) -> u64 {
        if !self.orders.insert(reference, locate, ask, price, shares) {
            return 0;
        }
        let side = self.side(locate, ask);
        side.add(key(ask, price), shares);
        side.best().map_or(0, |l| u64::from(l.key))
    }

    /// Takes `n` shares from the order at `at` (all of them if `all` or `n` is at least its
    /// remaining shares: the order goes); returns the key of its side's best level after.
    #[inline(always)]
    fn take(&mut self, at: At, n: u32, all: bool) -> u64 {
        let s = self.orders.slots[at];
        let gone = all || n >= s.shares;
        let n = if gone {
            if !all && n > s.shares {
                self.orders.anomalies.over_execution += 1;
            }
            self.orders.remove_at(at);
            s.shares
        } else {
            self.orders.slots[at].shares -= n;
            n
        };
        let side = &mut self.books[usize::from(s.locate())].sides[usize::from(s.ask())];
        if !side.reduce(key(s.ask(), s.price()), n, gone) {
            self.level_mismatch += 1;
        }
        side.best().map_or(0, |l| u64::from(l.key))
    }

    /// Applies one message; returns a value to fold into a checksum (the key of the best level
    /// of the side it changed).
    #[inline(always)]
    pub fn apply(&mut self, m: &[u8]) -> u64 {
        match m.first() {
            Some(b'A' | b'F') if m.len() >= 36 => self.add(
                u64_at(m, 11),
                u16_at(m, 1),
                m[19] == b'S',
                u32_at(m, 32),
                u32_at(m, 20),
            ),
            Some(b'E' | b'C' | b'X') if m.len() >= 23 => match self.orders.find(u64_at(m, 11)) {
                Some(at) => self.take(at, u32_at(m, 19), false),
                None => {
                    self.orders.anomalies.unknown_ref += 1;
                    0
                }
            },
            Some(b'D') if m.len() >= 19 => match self.orders.find(u64_at(m, 11)) {
                Some(at) => self.take(at, 0, true),
                None => {
                    self.orders.anomalies.unknown_ref += 1;
                    0
                }
            },
            Some(b'U') if m.len() >= 35 => match self.orders.find(u64_at(m, 11)) {
                Some(at) => {
                    let s = self.orders.slots[at];
                    self.take(at, 0, true);
                    self.add(
                        u64_at(m, 19),
                        s.locate(),
                        s.ask(),
                        u32_at(m, 31),
                        u32_at(m, 27),
                    )
                }
                None => {
                    self.orders.anomalies.unknown_ref += 1;
                    0
                }
            },
            Some(b'R') if m.len() >= 19 => {
                let mut sym = [0; 8];
                sym.copy_from_slice(&m[11..19]);
                self.symbols[usize::from(u16_at(m, 1))] = sym;
                0
            }
            Some(&t) if BOOK[usize::from(t)] => {
                self.orders.anomalies.short += 1;
                0
            }
            _ => 0,
        }
    }

    /// The best level of a locate's side.
    pub fn best(&self, locate: u16, ask: bool) -> Option<Top> {
        self.books[usize::from(locate)].sides[usize::from(ask)]
            .best()
            .map(|l| Top {
                price: l.key ^ u32::from(ask).wrapping_neg(),
                shares: l.shares,
                orders: l.orders,
            })
    }

    /// A locate's levels of one side, best first: (price, shares, orders).
    pub fn levels(&self, locate: u16, ask: bool) -> Vec<(u32, u64, u32)> {
        let flip = u32::from(ask).wrapping_neg();
        self.books[usize::from(locate)].sides[usize::from(ask)]
            .levels
            .iter()
            .rev()
            .map(|l| (l.key ^ flip, l.shares, l.orders))
            .collect()
    }

    /// The symbol `R` gave a locate, padding trimmed (empty if none).
    pub fn symbol(&self, locate: u16) -> String {
        String::from_utf8_lossy(&self.symbols[usize::from(locate)])
            .trim_end_matches([' ', '\0'])
            .to_string()
    }

    /// Locates with a level on either side.
    pub fn locates_with_levels(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&l| {
            self.books[usize::from(l)]
                .sides
                .iter()
                .any(|s| !s.levels.is_empty())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    /// A small deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn head(t: u8, len: usize, locate: u16) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[0] = t;
        m[1..3].copy_from_slice(&locate.to_be_bytes());
        m
    }

    fn add(reference: u64, locate: u16, ask: bool, shares: u32, price: u32) -> Vec<u8> {
        let mut m = head(b'A', 36, locate);
        m[11..19].copy_from_slice(&reference.to_be_bytes());
        m[19] = if ask { b'S' } else { b'B' };
        m[20..24].copy_from_slice(&shares.to_be_bytes());
        m[24..32].copy_from_slice(b"TEST    ");
        m[32..36].copy_from_slice(&price.to_be_bytes());
        m
    }

    fn reduce(t: u8, reference: u64, locate: u16, shares: u32) -> Vec<u8> {
        let len = match t {
            b'E' => 31,
            b'C' => 36,
            _ => 23,
        };
        let mut m = head(t, len, locate);
        m[11..19].copy_from_slice(&reference.to_be_bytes());
        m[19..23].copy_from_slice(&shares.to_be_bytes());
        m
    }

    fn delete(reference: u64, locate: u16) -> Vec<u8> {
        let mut m = head(b'D', 19, locate);
        m[11..19].copy_from_slice(&reference.to_be_bytes());
        m
    }

    fn replace(old: u64, new: u64, locate: u16, shares: u32, price: u32) -> Vec<u8> {
        let mut m = head(b'U', 35, locate);
        m[11..19].copy_from_slice(&old.to_be_bytes());
        m[19..27].copy_from_slice(&new.to_be_bytes());
        m[27..31].copy_from_slice(&shares.to_be_bytes());
        m[31..35].copy_from_slice(&price.to_be_bytes());
        m
    }

    /// The naive model: live orders in a map; levels recomputed from them.
    #[derive(Default)]
    struct Model {
        orders: HashMap<u64, Order>,
    }

    impl Model {
        fn apply(&mut self, m: &[u8]) {
            let r = u64_at(m, 11);
            match m[0] {
                b'A' | b'F' => {
                    self.orders.entry(r).or_insert(Order {
                        locate: u16_at(m, 1),
                        ask: m[19] == b'S',
                        price: u32_at(m, 32),
                        shares: u32_at(m, 20),
                    });
                }
                b'E' | b'C' | b'X' => {
                    if let Some(o) = self.orders.get_mut(&r) {
                        let n = u32_at(m, 19);
                        if n >= o.shares {
                            self.orders.remove(&r);
                        } else {
                            o.shares -= n;
                        }
                    }
                }
                b'D' => {
                    self.orders.remove(&r);
                }
                b'U' => {
                    if let Some(o) = self.orders.remove(&r) {
                        self.orders.entry(u64_at(m, 19)).or_insert(Order {
                            price: u32_at(m, 31),
                            shares: u32_at(m, 27),
                            ..o
                        });
                    }
                }
                _ => {}
            }
        }

        /// Levels of a side, best first.
        fn levels(&self, locate: u16, ask: bool) -> Vec<(u32, u64, u32)> {
            let mut by: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
            for o in self.orders.values() {
                if o.locate == locate && o.ask == ask {
                    let e = by.entry(o.price).or_default();
                    e.0 += u64::from(o.shares);
                    e.1 += 1;
                }
            }
            let mut v: Vec<_> = by.into_iter().map(|(p, (s, n))| (p, s, n)).collect();
            if !ask {
                v.reverse();
            }
            v
        }
    }

    /// A stream over `locates` locates and a narrow price band, whose references collide in
    /// the order store (a stride of its size) and run past its load limit, with unknown
    /// references and over-executions mixed in.
    fn stream(seed: u64, n: usize, locates: u16) -> Vec<Vec<u8>> {
        let mut rng = Rng(seed);
        let mut live: Vec<(u64, u16)> = Vec::new();
        let mut next_ref = 1u64;
        let mut out = Vec::new();
        for _ in 0..n {
            let locate = 1 + rng.below(u64::from(locates)) as u16;
            let price = 10_000 + 100 * rng.below(40) as u32;
            let shares = 1 + rng.below(500) as u32;
            let ask = rng.below(2) == 1;
            match rng.below(10) {
                0..=3 => {
                    // Every eighth add takes a reference 64 slots on (a stride of a small table).
                    let r = if rng.below(8) == 0 {
                        next_ref + 64
                    } else {
                        next_ref
                    };
                    next_ref += 1;
                    out.push(add(r, locate, ask, shares, price));
                    live.push((r, locate));
                }
                k => {
                    if live.is_empty() || rng.below(20) == 0 {
                        out.push(delete(next_ref + 1_000_000, locate));
                        continue;
                    }
                    let i = rng.below(live.len() as u64) as usize;
                    let (r, l) = live[i];
                    match k {
                        4 | 5 => out.push(reduce(
                            [b'E', b'C', b'X'][rng.below(3) as usize],
                            r,
                            l,
                            1 + rng.below(300) as u32,
                        )),
                        6 | 7 => {
                            out.push(delete(r, l));
                            live.swap_remove(i);
                        }
                        _ => {
                            let nr = next_ref;
                            next_ref += 1;
                            out.push(replace(r, nr, l, shares, price));
                            live[i] = (nr, l);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_l3_book_matches_a_naive_model_after_every_message() {
        let locates = 3;
        for seed in [1, 7, 99] {
            let mut book = L3Book::new(8); // 32 slots: the stream makes it grow
            let mut model = Model::default();
            for m in stream(seed, 4000, locates) {
                book.apply(&m);
                model.apply(&m);
                for l in 1..=locates {
                    for ask in [false, true] {
                        let want = model.levels(l, ask);
                        let top = want.first().map(|&(price, shares, orders)| Top {
                            price,
                            shares,
                            orders,
                        });
                        assert_eq!(book.best(l, ask), top, "seed {seed} locate {l} ask {ask}");
                    }
                }
                assert_eq!(book.orders.len(), model.orders.len());
            }
            for l in 1..=locates {
                for ask in [false, true] {
                    assert_eq!(book.levels(l, ask), model.levels(l, ask));
                }
            }
            for (&r, o) in &model.orders {
                assert_eq!(book.orders.get(r), Some(*o));
            }
            assert!(book.orders.growths > 0, "the stream outgrew the table");
            assert!(book.orders.anomalies.unknown_ref > 0);
            assert!(book.orders.anomalies.over_execution > 0);
            assert_eq!(book.level_mismatch, 0);
        }
    }

    #[test]
    fn the_order_store_alone_keeps_the_same_orders() {
        let mut store = Orders::new(8);
        let mut book = L3Book::new(8);
        for m in stream(5, 4000, 4) {
            store.apply(&m);
            book.apply(&m);
        }
        assert_eq!(store.len(), book.orders.len());
        assert_eq!(store.anomalies, book.orders.anomalies);
        for s in book.orders.slots.iter().filter(|s| s.key != 0) {
            assert_eq!(store.get(s.reference()), book.orders.get(s.reference()));
        }
    }

    #[test]
    fn removal_keeps_colliding_orders_reachable() {
        let mut s = Orders::new(1); // the smallest table: 32 slots
        assert_eq!(s.slots.len(), 32);
        // 3, 35, 67 share home slot 3; 4 is displaced to 6.
        for r in [3, 35, 67, 4] {
            assert!(s.insert(r, 1, false, 100, 10));
        }
        assert_eq!(s.find(4), Some(6));
        assert_eq!(s.growths, 0);
        s.remove_at(s.find(35).unwrap());
        for r in [3, 67, 4] {
            assert!(s.find(r).is_some(), "{r} lost");
        }
        assert!(s.find(35).is_none());
        s.remove_at(s.find(3).unwrap());
        assert_eq!(s.find(67), Some(3));
        assert_eq!(s.find(4), Some(4));
        assert!(!s.insert(0, 1, false, 1, 1));
        assert!(!s.insert(1 << 48, 1, false, 1, 1));
        assert_eq!(s.anomalies.unsupported, 2);
    }

    #[test]
    fn huge_page_advice_leaves_a_table_as_written() {
        use_huge_pages(true);
        let v = resident((5 << 20) / 16, [7u64, 9]);
        use_huge_pages(false);
        assert!(v.iter().all(|&x| x == [7, 9]));
        let mut book = L3Book::new(1 << 18);
        assert_eq!(book.apply(&add(1, 1, false, 10, 100)), 100);
        assert_eq!(book.orders.len(), 1);
    }

    #[test]
    fn frames_stop_at_a_truncated_message() {
        let bytes = [0, 2, b'S', 1, 0, 3, b'D', 0];
        let v: Vec<&[u8]> = Frames::new(&bytes).collect();
        assert_eq!(v, vec![&[b'S', 1][..]]);
    }

    #[test]
    fn touch_counts_each_book_message_once_per_locate() {
        let mut t = Touch::new(8);
        for m in [add(5, 2, false, 1, 1), delete(5, 2), head(b'S', 12, 2)] {
            t.apply(&m);
        }
        assert_eq!(t.locates[2].0[0], 2);
        assert_eq!(t.refs[5][0], 0); // 5 ^ 5
        assert_ne!(t.sum, 0);
    }
}
