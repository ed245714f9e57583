//! `--wasm-shared`: the ring's slots in one memfd, written by the engine through a read-write
//! mapping and mapped read-only into each shared-mode guest's (wasm shared) memory.
//!
//! ```text
//!  memfd (ring capacity × 64 bytes, page multiple)
//!    ├── RingMemory: MAP_SHARED, PROT_READ|PROT_WRITE ── fh-feed ring (ring_in): the engine
//!    │                                                    writes slots in place
//!    └── per guest: MAP_SHARED|MAP_FIXED, PROT_READ over [fh_ring(), + ring bytes) of the
//!        guest's wasm shared memory (min == max pages: wasmtime never moves or grows it)
//! ```
//!
//! Why it holds: a guest's every load and store is an instruction in its own linear memory,
//! which wasmtime bounds-checks; inside the ring's pages the store faults (the page is read-only
//! in this address space's mapping) and wasmtime turns the fault at a wasm access into a trap,
//! because the address lies in that memory's reservation (`Store::wasm_fault`). Host code never
//! writes the ring's pages through a guest's memory: the host functions here refuse a range that
//! touches the ring ([`guest_write`], [`guest_read`]), and the shared-mode engine rejects the
//! instructions wasmtime runs as host code on guest memory (`memory.copy`/`fill`/`init`, its
//! libcalls: a fault there would not be a trap but the process's death), see `scan`.
//!
//! All `unsafe` of fh-wasm is in this module.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ops::Range;

use fh_feed::ring::SlotMemory;
use wasmtime::SharedMemory;

/// A wasm page, also the alignment of the ring inside a guest's memory (a multiple of every
/// host page size fh runs on).
pub const WASM_PAGE: usize = 64 << 10;

/// The memfd holding the ring's slots and the engine's read-write mapping of it.
#[derive(Debug)]
pub struct RingMemory {
    fd: libc::c_int,
    ptr: *mut u8,
    /// Bytes of the slots (`slots × 64`).
    len: usize,
    /// Bytes mapped (`len` rounded up to [`WASM_PAGE`]).
    mapped: usize,
    slots: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; the ring (its only writer,
// through `SlotMemory`) synchronises every access with its cursors.
unsafe impl Send for RingMemory {}
// SAFETY: as above: `&RingMemory` hands out only the pointer, never a reference to the bytes.
unsafe impl Sync for RingMemory {}

impl RingMemory {
    /// A memfd for `slots` 64-byte slots, mapped read-write. One-line error on failure.
    pub fn new(slots: usize) -> Result<RingMemory, String> {
        let len = slots
            .checked_mul(crate::sandbox::RECORD)
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("ring of {slots} slots: too large"))?;
        let mapped = len.div_ceil(WASM_PAGE) * WASM_PAGE;
        // SAFETY: a NUL-terminated name and no flags that change this process's state.
        let fd = unsafe { libc::memfd_create(c"fh-ring".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
        }
        let fail = |what: &str| {
            let e = std::io::Error::last_os_error();
            // SAFETY: `fd` is ours and closed once, here, on this error path.
            unsafe { libc::close(fd) };
            format!("{what} ({mapped} bytes): {e}")
        };
        // SAFETY: `fd` is a memfd we own; sizing it has no other effect.
        if unsafe { libc::ftruncate(fd, mapped as libc::off_t) } != 0 {
            return Err(fail("ftruncate of the ring's memfd"));
        }
        // SAFETY: a new mapping chosen by the kernel (no MAP_FIXED): it replaces nothing.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(fail("mmap of the ring's memfd"));
        }
        Ok(RingMemory {
            fd,
            ptr: ptr.cast(),
            len,
            mapped,
            slots,
        })
    }

    /// Slots it holds.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Bytes of the ring (`slots × 64`).
    pub fn bytes(&self) -> usize {
        self.len
    }

    /// Maps the ring read-only over `[offset, offset + self.bytes())` of `memory` (rounded up
    /// to whole wasm pages, which must also be inside the memory). `offset` must be a multiple
    /// of [`WASM_PAGE`]; `memory` must never grow (min == max pages) and must not have been
    /// handed to wasm code that runs concurrently. Returns the byte range of the guest's memory
    /// that is now the ring.
    pub fn map_into(&self, memory: &SharedMemory, offset: usize) -> Result<Range<usize>, String> {
        let ty = memory.ty();
        if ty.maximum() != Some(ty.minimum()) {
            return Err("the shared memory can grow (min != max pages)".into());
        }
        let size = memory.data_size();
        if !offset.is_multiple_of(WASM_PAGE) {
            return Err(format!(
                "fh_ring() = {offset}: not a multiple of {WASM_PAGE} (a wasm page)"
            ));
        }
        if offset.checked_add(self.mapped).is_none_or(|e| e > size) {
            return Err(format!(
                "fh_ring() = {offset}: the ring's {} bytes do not fit in its memory of {size} bytes",
                self.mapped
            ));
        }
        let data: &[UnsafeCell<u8>] = memory.data();
        let base = data[offset..].as_ptr().cast::<u8>().cast_mut();
        // SAFETY: `[base, base + mapped)` lies inside the shared memory's accessible bytes
        // (checked above), which wasmtime mapped when it created the memory and, since the memory
        // cannot grow, never remaps; the pages are replaced by the memfd's, read-only, and go
        // away with wasmtime's own unmapping of the whole reservation. No Rust reference to those
        // bytes exists (wasmtime exposes them only as `UnsafeCell`s) and no wasm code runs on the
        // memory during the call (the caller's contract), so nothing observes the swap mid-way.
        let got = unsafe {
            libc::mmap(
                base.cast(),
                self.mapped,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_FIXED,
                self.fd,
                0,
            )
        };
        if got == libc::MAP_FAILED || got.cast::<u8>() != base {
            return Err(format!(
                "mapping the ring into the guest's memory: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(offset..offset + self.mapped)
    }
}

impl Drop for RingMemory {
    fn drop(&mut self) {
        // SAFETY: our own mapping and fd, released once; the ring that wrote through the
        // mapping holds an `Arc` to this value, so it is gone too. Guests' read-only mappings
        // keep the memfd's pages alive on their own.
        unsafe {
            libc::munmap(self.ptr.cast(), self.mapped);
            libc::close(self.fd);
        }
    }
}

// SAFETY: `ptr` is page-aligned (so 64-byte aligned), valid for reads and writes of `len`
// bytes while `self` lives (the mapping is released only in `Drop`); the only writer is the
// ring given this memory; the guests' mappings are read-only.
unsafe impl SlotMemory for RingMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// Checks that `[off, off + len)` is inside `memory` and does not touch `ring`.
fn check(memory: &SharedMemory, ring: &Range<usize>, off: usize, len: usize) -> Result<(), String> {
    let end = off
        .checked_add(len)
        .filter(|&e| e <= memory.data_size())
        .ok_or_else(|| format!("out of bounds memory access ({len} bytes at {off})"))?;
    if off < ring.end && ring.start < end {
        return Err(format!(
            "the range {off}..{end} touches the read-only ring at {}..{}",
            ring.start, ring.end
        ));
    }
    Ok(())
}

/// Writes `bytes` at `off` of a shared-mode guest's memory for a host function: an error (the
/// call traps) when the range is outside the memory or touches the ring's pages.
pub(crate) fn guest_write(
    memory: &SharedMemory,
    ring: &Range<usize>,
    off: usize,
    bytes: &[u8],
) -> Result<(), String> {
    check(memory, ring, off, bytes.len())?;
    let dst = memory.data()[off..off + bytes.len()].as_ptr();
    // SAFETY: the range is inside the memory and outside the read-only ring (checked), so the
    // pages are the guest's own, writable; the guest runs on this thread and is inside this
    // host call, so no wasm code touches them meanwhile; `UnsafeCell` allows the write.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), UnsafeCell::raw_get(dst), bytes.len())
    };
    Ok(())
}

/// Reads `out.len()` bytes at `off` of a shared-mode guest's memory for a host function (never
/// from the ring: its slots are being written by the engine).
pub(crate) fn guest_read(
    memory: &SharedMemory,
    ring: &Range<usize>,
    off: usize,
    out: &mut [u8],
) -> Result<(), String> {
    check(memory, ring, off, out.len())?;
    let src = memory.data()[off..off + out.len()].as_ptr();
    // SAFETY: as in `guest_write`: the guest's own pages, not written while this host call runs.
    unsafe {
        core::ptr::copy_nonoverlapping(
            UnsafeCell::raw_get(src).cast_const(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_memory_is_page_sized_aligned_and_checks_ranges() {
        let m = RingMemory::new(1024).unwrap();
        assert_eq!(m.bytes(), 1024 * 64);
        assert_eq!(m.mapped, WASM_PAGE);
        assert!((m.as_ptr() as usize).is_multiple_of(4096));
        // The engine's mapping is writable and reads back.
        // SAFETY: inside the mapping, which nothing else uses in this test.
        unsafe {
            m.as_ptr().add(100).write(7);
            assert_eq!(m.as_ptr().add(100).read(), 7);
        }
        assert!(RingMemory::new(usize::MAX).is_err());
    }
}
