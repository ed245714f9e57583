//! [`MaskedTable`]: a power-of-two array indexed through its mask, for the order store.
//!
//! Every index is taken `& mask` before use and the array holds exactly `mask + 1` slots, so
//! an access is always in bounds whatever the index: the order store's slot reads and writes
//! need no bounds check, which safe indexing could not drop because
//! the compiler cannot see that `len == mask + 1`. Measured on the books bench (count sink,
//! against the same store with checked indexing): callgrind −11 instructions per message;
//! 4 alternating timed pairs (3 M messages) 33.2 → 33.6 M messages/s median, won 4.
//!
//! Also a prefetch of a slot ([`MaskedTable::prefetch`]): the engine requests the slots of a
//! packet's orders before applying the packet; and of any address ([`prefetch`]), for the
//! books' instruments and levels ahead of their use.
//!
//! **Huge pages**: the engine's large tables (this one, and the instrument table through
//! [`filled_on_huge_pages`]) ask the kernel for transparent huge pages before their first
//! write. The order store of a real day spans tens to hundreds of MB and is reached at
//! scattered references: with 4 KiB pages most of its accesses also miss the TLB, and a page
//! walk is one more dependent memory access. With `transparent_hugepage` set to `madvise`
//! (the usual default) or `always` the table is backed by 2 MiB pages; with `never` the advice
//! is ignored and nothing else changes.
//!
//! ## Invariants
//! - `slots.len() == mask + 1`, a power of two, fixed at construction.
//! - The only `unsafe` of the engine lives here: the two unchecked accesses (in bounds by the
//!   invariant above), the prefetch (which never dereferences, whatever the address) and the
//!   huge-page advice (which changes how pages are backed, never what they hold).

/// [`MaskedTable::prefetch`] with the table's fields read once ([`MaskedTable::prefetcher`]).
#[derive(Clone, Copy, Debug)]
pub struct SlotPrefetch<'a, T> {
    slots: &'a [T],
    mask: usize,
}

impl<T> SlotPrefetch<'_, T> {
    /// Asks for the slot at `i & mask`, as [`MaskedTable::prefetch`] does.
    #[inline(always)]
    pub fn prefetch(self, i: usize) {
        prefetch(self.slots.as_ptr().wrapping_add(i & self.mask));
    }
}

/// A power-of-two array whose accesses wrap at its length (see the module docs).
#[derive(Clone, Debug)]
pub struct MaskedTable<T> {
    slots: Box<[T]>,
    mask: usize,
}

impl<T: Copy> MaskedTable<T> {
    /// `len` slots (a power of two, at least 1), each set to `fill`: every page is written
    /// now, so none is left to fault on the hot path (for a `T` that `vec!` does not turn into
    /// a zeroed allocation: a struct, not a bare integer; the order store's test checks its
    /// table is resident).
    pub fn new(len: usize, fill: T) -> Self {
        assert!(
            len.is_power_of_two(),
            "table length {len} is not a power of two"
        );
        MaskedTable {
            slots: filled_on_huge_pages(len, || fill),
            mask: len - 1,
        }
    }

    /// Number of slots.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.mask + 1
    }

    /// Never: a table has at least one slot.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `len - 1`.
    #[inline(always)]
    pub fn mask(&self) -> usize {
        self.mask
    }

    /// The slot at `i & mask`.
    #[inline(always)]
    pub fn at(&self, i: usize) -> &T {
        // SAFETY: `i & mask <= mask < slots.len()` (invariant: `slots.len() == mask + 1`).
        unsafe { self.slots.get_unchecked(i & self.mask) }
    }

    /// The slot at `i & mask`, mutably.
    #[inline(always)]
    pub fn at_mut(&mut self, i: usize) -> &mut T {
        // SAFETY: as in `at`.
        unsafe { self.slots.get_unchecked_mut(i & self.mask) }
    }

    /// Asks the CPU to bring the slot at `i & mask` into the cache, without waiting for it
    /// (a load would hold its place in the reorder buffer until the line arrived).
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        prefetch(self.at(i));
    }

    /// What [`MaskedTable::prefetch`] reads of the table, read once for many prefetches: a
    /// loop that prefetches with it keeps the slots' address and the mask in registers,
    /// where the table's fields would be read again for each prefetch.
    #[inline(always)]
    pub fn prefetcher(&self) -> SlotPrefetch<'_, T> {
        SlotPrefetch {
            slots: &self.slots,
            mask: self.mask,
        }
    }

    /// Every slot, in index order.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.slots.iter()
    }

    /// Every slot, mutably.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, T> {
        self.slots.iter_mut()
    }
}

/// Size of a transparent huge page on x86-64 (and of the PMD-level pages elsewhere that
/// Linux supports).
const HUGE_PAGE: usize = 2 << 20;

/// `len` values made by `make`, in memory that asked for transparent huge pages before it was
/// written (see the module docs). A table smaller than a huge page is a plain allocation.
/// Every value is written here, so all pages are resident when this returns.
pub fn filled_on_huge_pages<T>(len: usize, mut make: impl FnMut() -> T) -> Box<[T]> {
    let mut v = Vec::with_capacity(len);
    advise_huge_pages(v.spare_capacity_mut());
    v.extend((0..len).map(|_| make()));
    v.into_boxed_slice()
}

/// Asks the kernel to back the whole huge pages inside `mem` with huge pages. A hint: a
/// kernel without transparent huge pages, or with them off, refuses or ignores it.
fn advise_huge_pages<T>(mem: &mut [core::mem::MaybeUninit<T>]) {
    let (at, bytes) = (mem.as_mut_ptr() as usize, core::mem::size_of_val(mem));
    let start = at.next_multiple_of(HUGE_PAGE);
    let end = (at + bytes) & !(HUGE_PAGE - 1);
    if start >= end {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `[start, end)` lies inside `mem`, memory this caller owns exclusively (a `&mut`)
    // and whose bytes are not yet initialised; `MADV_HUGEPAGE` only changes how the kernel
    // backs those pages (contents are kept), never unmaps or protects them. Its result is
    // advice accepted or not, and either way the memory stays as it was: it is ignored.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

/// Asks the CPU to bring the cache line holding `p` into the cache, without waiting for it.
/// `p` may be any address, dangling or past an allocation's end included: nothing is read in
/// the language's sense, and a prefetch never faults (an address with no mapping is dropped).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` never faults and never dereferences in the language's sense, whatever
    // the address; SSE is part of every x86-64.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    core::hint::black_box(p);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_on_huge_pages_holds_what_was_written() {
        // 3 huge pages and a half: the advice covers the whole pages inside, the rest is
        // ordinary; every slot must read back its value either way.
        let n = (HUGE_PAGE * 7 / 2) / 8;
        let mut next = 0u64;
        let t = filled_on_huge_pages(n, || {
            next += 1;
            next * 3
        });
        assert_eq!(t.len(), n);
        assert!(t.iter().enumerate().all(|(i, &v)| v == (i as u64 + 1) * 3));
        let small = filled_on_huge_pages(5, || 7u8);
        assert_eq!(&small[..], &[7; 5]);
    }

    #[test]
    fn a_masked_table_is_filled_whatever_its_pages() {
        let t = MaskedTable::new(1 << 20, 0x5au32);
        assert!(t.iter().all(|&v| v == 0x5a));
    }

    #[test]
    fn indices_wrap_at_the_length() {
        let mut t = MaskedTable::new(8, 0u32);
        assert_eq!((t.len(), t.mask()), (8, 7));
        *t.at_mut(3) = 30;
        *t.at_mut(8 + 5) = 50;
        assert_eq!(*t.at(3), 30);
        assert_eq!(*t.at(5), 50);
        assert_eq!(*t.at(usize::MAX), 0); // slot 7
        t.prefetch(usize::MAX);
        assert_eq!(t.iter().sum::<u32>(), 80);
    }

    #[test]
    fn a_prefetch_of_any_address_is_harmless() {
        let v = [1u64, 2, 3];
        prefetch(v.as_ptr());
        prefetch(v.as_ptr().wrapping_add(1 << 40));
        prefetch(core::ptr::null::<u64>());
        prefetch(usize::MAX as *const u8);
        assert_eq!(v, [1, 2, 3]);
    }

    #[test]
    #[should_panic(expected = "not a power of two")]
    fn length_must_be_a_power_of_two() {
        let _ = MaskedTable::new(6, 0u8);
    }
}
