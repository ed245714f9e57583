//! The synchronisation primitives of the ring and the top-of-book table, switched to `loom`'s
//! model-checked versions under `--cfg loom`.
//!
//! Everything lock-free in fh-feed goes through this module so that the loom models exercise
//! the very code that runs in production. The only differences under loom are the ones loom
//! forces: spinning yields to loom's scheduler, and a slot cell is accessed through
//! `with`/`with_mut` closures (reads copy out) instead of long-lived references.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// One step of a spin-wait: a CPU pause, or under loom a yield to the model's scheduler (loom
/// requires every spin loop to yield, or its exploration never ends).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// A value padded and aligned to 128 bytes, so that two of them never share a cache line (nor
/// the adjacent line the spatial prefetcher pulls in with it).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Interior-mutable storage of one ring slot. All accesses are `unsafe`: the ring's sequence
/// protocol, not this type, guarantees that a write never overlaps another access.
#[derive(Debug)]
pub(crate) struct SlotCell<T>(
    #[cfg(not(loom))] core::cell::UnsafeCell<T>,
    #[cfg(loom)] loom::cell::UnsafeCell<T>,
);

impl<T: Copy> SlotCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(loom))]
        return Self(core::cell::UnsafeCell::new(value));
        #[cfg(loom)]
        return Self(loom::cell::UnsafeCell::new(value));
    }

    /// Raw pointer to the value, for in-place reads and writes.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.0.get()
    }

    /// Overwrites the value (loom only: in production the producer writes in place through
    /// [`Self::as_ptr`]).
    ///
    /// # Safety
    /// No other access to this cell may happen concurrently (the caller owns the slot).
    #[cfg(loom)]
    pub(crate) unsafe fn write(&self, value: T) {
        // SAFETY: the caller guarantees exclusive access; loom checks the claim.
        self.0.with_mut(|p| unsafe { p.write(value) });
    }

    /// Copies the value out (loom only: in production consumers read in place).
    ///
    /// # Safety
    /// No write to this cell may happen concurrently (the slot is published and not released).
    #[cfg(loom)]
    pub(crate) unsafe fn read(&self) -> T {
        // SAFETY: the caller guarantees no concurrent write; loom checks the claim.
        self.0.with(|p| unsafe { p.read() })
    }
}
