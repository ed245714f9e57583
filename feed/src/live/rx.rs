//! The receive ring: preallocated datagram slots that `recvmmsg` writes into directly, read in
//! place by one or more consumers (the engine agent, the capture writer).
//!
//! ```text
//!   socket ──recvmmsg(MSG_DONTWAIT)──► slots[tail..tail+k]   (the kernel's copy is the only one)
//!                                        │ SlotMeta: len, group, kernel ts, drop counter, flags
//!                              tail ─────┘ Release
//!   consumer i: Acquire tail, reads slots[head_i..tail] in place, Release head_i on guard drop
//!   producer reuses a slot only once every consumer's head has passed it
//! ```
//!
//! ## Invariants
//! - Everything (slot bytes, pre-faulted, metadata, the `mmsghdr`/`iovec`/address/control arrays, one set per
//!   slot) is allocated by [`rx_ring`]; receiving and consuming allocate nothing.
//! - Slot `s` (position `p`, `s = p % n`) is written only by the producer while
//!   `p >= tail` and `p < min(head_i) + n`, and read only by consumer `i` while
//!   `head_i <= p < tail`. Positions are `u64` and never wrap; `tail` is published with
//!   `Release` after the slot's bytes and metadata are written, heads with `Release` after the
//!   consumer's last read; each side caches the other's positions and re-reads them
//!   (`Acquire`) only when it runs out.
//! - A datagram longer than a slot is truncated by the kernel and flagged
//!   ([`flags::TRUNCATED`]), never overruns the slot.
//! - This module and `socket` are the only `unsafe` of the receive path; every block has a
//!   `// SAFETY:` note.

use std::cell::UnsafeCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Flag bits of [`SlotMeta::flags`].
pub mod flags {
    /// The datagram was longer than the slot: `len` bytes were kept, the rest cut.
    pub const TRUNCATED: u16 = 1 << 0;
    /// The kernel delivered no receive timestamp (`kernel_ns` is the agent's clock instead).
    pub const NO_KERNEL_TS: u16 = 1 << 1;
}

/// What the receive agent knows of one datagram, stored beside its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotMeta {
    /// Kernel receive timestamp (`SO_TIMESTAMPNS`, `CLOCK_REALTIME`), ns since the Unix epoch.
    pub kernel_ns: u64,
    /// The receive agent's `CLOCK_REALTIME` right after `recvmmsg` returned, ns.
    pub agent_ns: u64,
    /// Bytes of payload in the slot.
    pub len: u32,
    /// The socket's cumulative kernel drop count when this datagram was queued (`SO_RXQ_OVFL`).
    pub kernel_drops: u32,
    /// Sender's address.
    pub src: SocketAddrV4,
    /// Index of the group (socket) it arrived on.
    pub group: u16,
    /// [`flags`] bits.
    pub flags: u16,
}

impl Default for SlotMeta {
    fn default() -> Self {
        SlotMeta {
            kernel_ns: 0,
            agent_ns: 0,
            len: 0,
            kernel_drops: 0,
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            group: 0,
            flags: 0,
        }
    }
}

/// A cache line of its own for a position counter.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

#[derive(Debug)]
struct Shared {
    /// `n * slot_size` bytes, owned (from `Box<[u8]>::into_raw`), freed in `Drop`.
    data: *mut u8,
    data_len: usize,
    meta: Box<[UnsafeCell<SlotMeta>]>,
    slot_size: usize,
    mask: u64,
    tail: Padded,
    heads: Box<[Padded]>,
}

// SAFETY: the raw buffer and the `UnsafeCell`s are accessed only under the position protocol
// of the module doc (one writer per slot at a time, readers only after a Release/Acquire pair),
// so sharing `Shared` between the producer and consumer threads is free of data races.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: `data`/`data_len` come from `Box::<[u8]>::into_raw` in `rx_ring` and are
        // freed exactly once, here, when the last owner goes.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.data,
                self.data_len,
            )))
        };
    }
}

impl Shared {
    fn slot_ptr(&self, idx: usize) -> *mut u8 {
        debug_assert!((idx as u64) <= self.mask);
        // SAFETY: `idx <= mask < n`, so the offset stays inside the `n * slot_size` buffer.
        unsafe { self.data.add(idx * self.slot_size) }
    }
}

/// Groups whose receive batches adapt separately (see `RxProducer::recv`).
const WANT_GROUPS: usize = 256;

/// Space reserved per slot for control messages: a timestamp and the drop counter.
const CMSG_WORDS: usize = 16; // 128 bytes, well above CMSG_SPACE(16) + CMSG_SPACE(4)

/// The receive side: owns the `recvmmsg` arrays, writes slots, publishes `tail`.
#[derive(Debug)]
pub struct RxProducer {
    shared: Arc<Shared>,
    tail: u64,
    cached_min_head: u64,
    max_batch: usize,
    /// Per group (socket), datagrams its next `recvmmsg` asks for: 1 after a call that
    /// drained the socket, doubled (up to `max_batch`) after each call that filled its batch.
    /// Groups [`WANT_GROUPS`] apart share an entry (which only sizes their batches less well).
    want: Box<[u16; WANT_GROUPS]>,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_in>,
    cmsgs: Vec<[u64; CMSG_WORDS]>,
    last: BatchSummary,
}

/// Totals of the last batch [`RxProducer::recv`] published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Payload bytes.
    pub bytes: u64,
    /// Datagrams cut to the slot size.
    pub truncated: u64,
    /// Datagrams without a kernel timestamp.
    pub no_kernel_ts: u64,
    /// Highest kernel drop counter seen.
    pub kernel_drops: u32,
    /// Agent clock of the batch.
    pub agent_ns: u64,
}

// SAFETY: the raw pointers in `hdrs`/`iovs` point into `iovs`, `names`, `cmsgs` (heap arrays
// owned by this struct, never reallocated) and into `shared`'s slot buffer; they move with the
// producer and only the producer's thread dereferences them (through the kernel).
unsafe impl Send for RxProducer {}

/// One reader of the ring: sees every datagram, in order, in place.
#[derive(Debug)]
pub struct RxConsumer {
    shared: Arc<Shared>,
    id: usize,
    head: u64,
    cached_tail: u64,
}

/// Creates a ring of `slots` (rounded up to a power of two) slots of `slot_size` bytes each, with
/// `consumers` readers, receiving up to `max_batch` datagrams per `recvmmsg`.
pub fn rx_ring(
    slots: usize,
    slot_size: usize,
    consumers: usize,
    max_batch: usize,
) -> (RxProducer, Vec<RxConsumer>) {
    let n = slots.max(2).next_power_of_two();
    let slot_size = slot_size.clamp(64, 65_536);
    let data_len = n * slot_size;
    let mut bytes = vec![0u8; data_len].into_boxed_slice();
    // Touch every page now, so the kernel's first copy into a slot never takes a page fault.
    for i in (0..data_len).step_by(4096) {
        *std::hint::black_box(&mut bytes[i]) = 0;
    }
    let data = Box::into_raw(bytes).cast::<u8>();
    let shared = Arc::new(Shared {
        data,
        data_len,
        meta: (0..n)
            .map(|_| UnsafeCell::new(SlotMeta::default()))
            .collect(),
        slot_size,
        mask: n as u64 - 1,
        tail: Padded::default(),
        heads: (0..consumers.max(1)).map(|_| Padded::default()).collect(),
    });
    // SAFETY: all-zero bytes are a valid `mmsghdr`, `iovec`, `sockaddr_in` (integers and null
    // pointers).
    let (hdr0, iov0, name0) = unsafe {
        (
            std::mem::zeroed::<libc::mmsghdr>(),
            std::mem::zeroed::<libc::iovec>(),
            std::mem::zeroed::<libc::sockaddr_in>(),
        )
    };
    let mut p = RxProducer {
        shared: shared.clone(),
        tail: 0,
        cached_min_head: 0,
        max_batch: max_batch.clamp(1, 1024),
        want: Box::new([1; WANT_GROUPS]),
        hdrs: vec![hdr0; n],
        iovs: vec![iov0; n],
        names: vec![name0; n],
        cmsgs: vec![[0u64; CMSG_WORDS]; n],
        last: BatchSummary::default(),
    };
    for i in 0..n {
        p.iovs[i] = libc::iovec {
            iov_base: shared.slot_ptr(i).cast(),
            iov_len: slot_size,
        };
        let iov: *mut libc::iovec = &mut p.iovs[i];
        let name: *mut libc::sockaddr_in = &mut p.names[i];
        let ctl: *mut [u64; CMSG_WORDS] = &mut p.cmsgs[i];
        let h = &mut p.hdrs[i].msg_hdr;
        h.msg_iov = iov;
        h.msg_iovlen = 1;
        h.msg_name = name.cast();
        h.msg_control = ctl.cast();
    }
    let cons = (0..consumers.max(1))
        .map(|id| RxConsumer {
            shared: shared.clone(),
            id,
            head: 0,
            cached_tail: 0,
        })
        .collect();
    (p, cons)
}

impl RxProducer {
    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.mask as usize + 1
    }

    /// Bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.shared.slot_size
    }

    /// Datagrams published so far.
    pub fn published(&self) -> u64 {
        self.tail
    }

    /// Free slots in one contiguous run from `tail`, at most `max_batch` (refreshing the cached
    /// consumer heads only when the cache says the ring is full).
    fn free_run(&mut self) -> usize {
        let n = self.capacity() as u64;
        if self.tail - self.cached_min_head >= n {
            self.cached_min_head = self
                .shared
                .heads
                .iter()
                .map(|h| h.0.load(Ordering::Acquire))
                .min()
                .unwrap_or(self.tail);
        }
        let free = n - (self.tail - self.cached_min_head);
        let contiguous = n - (self.tail & self.shared.mask);
        free.min(contiguous).min(self.max_batch as u64) as usize
    }

    /// Receives what `fd` has queued (without blocking) into the free slots, tagging each
    /// datagram with `group`, stamping `agent_ns`. Returns `Ok(0)` when nothing was queued or the
    /// ring is full ([`RxProducer::is_full`] tells which), an error only for a real socket error.
    ///
    /// The batch adapts: a call after one that drained the socket asks for one datagram, so
    /// the datagram a busy-polling receiver is waiting for comes back as soon as it is copied
    /// (asking for more makes the kernel try the socket again, and fail, before returning:
    /// about 0.2 µs on every datagram); a call that fills its batch doubles the next one, up
    /// to `max_batch`, so a backlog is drained in large batches.
    pub fn recv(
        &mut self,
        fd: RawFd,
        group: u16,
        agent_ns: impl FnOnce() -> u64,
    ) -> std::io::Result<usize> {
        let w = group as usize % WANT_GROUPS;
        let k = self.free_run().min(usize::from(self.want[w]));
        if k == 0 {
            return Ok(0);
        }
        let start = (self.tail & self.shared.mask) as usize;
        let ctl_len = std::mem::size_of::<[u64; CMSG_WORDS]>();
        for h in &mut self.hdrs[start..start + k] {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = ctl_len as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: `hdrs[start..start + k]` are initialised (`rx_ring`) and point to their own
        // `iovec`, address and control buffers, and each `iovec` to its slot of `slot_size`
        // bytes. Those slots are free: `free_run` proved every consumer's head is past them, so
        // no reader can look at them until `tail` is published below. `k` entries are valid.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr().add(start),
                k as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            self.want[w] = 1;
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        let r = r as usize;
        self.want[w] = if r == k {
            (2 * k).min(self.max_batch) as u16
        } else {
            1
        };
        let now = agent_ns();
        let mut sum = BatchSummary {
            agent_ns: now,
            ..BatchSummary::default()
        };
        for j in start..start + r {
            let h = &self.hdrs[j];
            let mut meta = SlotMeta {
                agent_ns: now,
                len: h.msg_len,
                group,
                src: from_sockaddr(&self.names[j]),
                ..SlotMeta::default()
            };
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                meta.flags |= flags::TRUNCATED;
            }
            let (ts, drops) = parse_cmsgs(&h.msg_hdr);
            match ts {
                Some(t) => meta.kernel_ns = t,
                None => {
                    meta.kernel_ns = now;
                    meta.flags |= flags::NO_KERNEL_TS;
                }
            }
            meta.kernel_drops = drops.unwrap_or(0);
            sum.bytes += meta.len as u64;
            sum.truncated += (meta.flags & flags::TRUNCATED != 0) as u64;
            sum.no_kernel_ts += (meta.flags & flags::NO_KERNEL_TS != 0) as u64;
            sum.kernel_drops = sum.kernel_drops.max(meta.kernel_drops);
            // SAFETY: slot `j` is owned by the producer until `tail` passes it (see above); no
            // reader holds a reference to its metadata.
            unsafe { *self.shared.meta[j].get() = meta };
        }
        self.last = sum;
        self.tail += r as u64;
        self.shared.tail.0.store(self.tail, Ordering::Release);
        Ok(r)
    }

    /// Totals of the last batch received.
    pub fn last_batch(&self) -> BatchSummary {
        self.last
    }

    /// True when no slot is free (every consumer is a full ring behind).
    pub fn is_full(&mut self) -> bool {
        self.free_run() == 0
    }
}

fn from_sockaddr(a: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
        u16::from_be(a.sin_port),
    )
}

/// Reads the kernel timestamp (ns) and the drop counter from a received header's control data.
fn parse_cmsgs(h: &libc::msghdr) -> (Option<u64>, Option<u32>) {
    let mut ts = None;
    let mut drops = None;
    // SAFETY: `h` was filled in by `recvmmsg`: `msg_control` points to our control buffer and
    // `msg_controllen` is the length the kernel wrote, so the CMSG_* walk stays inside it; each
    // payload is read unaligned with the type the kernel documents for its (level, type).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let lvl = (*c).cmsg_level;
            let ty = (*c).cmsg_type;
            if lvl == libc::SOL_SOCKET && ty == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            } else if lvl == libc::SOL_SOCKET && ty == libc::SO_RXQ_OVFL {
                drops = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    (ts, drops)
}

/// One datagram seen by a consumer: its metadata and its bytes, in the slot.
#[derive(Clone, Copy, Debug)]
pub struct RxPacket<'a> {
    /// Metadata.
    pub meta: SlotMeta,
    /// The payload (`meta.len` bytes, cut to the slot when truncated).
    pub bytes: &'a [u8],
}

/// A run of published datagrams, released to the producer when dropped.
#[derive(Debug)]
pub struct RxBatch<'c> {
    c: &'c mut RxConsumer,
    end: u64,
}

impl RxConsumer {
    /// Which consumer this is.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Datagrams consumed so far.
    pub fn position(&self) -> u64 {
        self.head
    }

    /// Datagrams published but not yet consumed by this reader (its lag).
    pub fn lag(&self) -> u64 {
        self.shared.tail.0.load(Ordering::Relaxed) - self.head
    }

    /// The published datagrams not read yet, at most `max`; empty when there are none.
    pub fn poll(&mut self, max: usize) -> RxBatch<'_> {
        if self.cached_tail == self.head {
            self.cached_tail = self.shared.tail.0.load(Ordering::Acquire);
        }
        let end = self.cached_tail.min(self.head.saturating_add(max as u64));
        RxBatch { c: self, end }
    }
}

impl RxBatch<'_> {
    /// Number of datagrams in the batch.
    pub fn len(&self) -> usize {
        (self.end - self.c.head) as usize
    }

    /// True when there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.end == self.c.head
    }

    /// The `i`-th datagram of the batch (`i < len()`).
    pub fn get(&self, i: usize) -> RxPacket<'_> {
        let pos = self.c.head + i as u64;
        assert!(pos < self.end, "RxBatch::get({i}) past the batch");
        let sh = &self.c.shared;
        let idx = (pos & sh.mask) as usize;
        // SAFETY: `head <= pos < tail` (Acquire-loaded), so the producer wrote this slot's
        // metadata and bytes before publishing and will not touch them until this consumer's
        // head passes `pos`, which happens only when the batch (which these borrows outlive
        // not) is dropped.
        let meta = unsafe { *sh.meta[idx].get() };
        let len = (meta.len as usize).min(sh.slot_size);
        // SAFETY: as above; the slot is `slot_size` bytes inside the buffer and `len` is
        // bounded by it.
        let bytes = unsafe { std::slice::from_raw_parts(sh.slot_ptr(idx), len) };
        RxPacket { meta, bytes }
    }

    /// The datagrams in order.
    pub fn iter(&self) -> impl Iterator<Item = RxPacket<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

impl Drop for RxBatch<'_> {
    fn drop(&mut self) {
        if self.end != self.c.head {
            self.c.head = self.end;
            self.c.shared.heads[self.c.id]
                .0
                .store(self.end, Ordering::Release);
        }
    }
}
