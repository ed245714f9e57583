//! The publication ring: a Disruptor-style single-producer, multi-consumer broadcast ring of
//! `Copy` records ([`Record`]; fh carries its book updates in it, but the ring knows nothing of
//! them, nor of strategies: a consumer drains a batch into any [`Handler`]).
//!
//! ```text
//!  producer ── Producer::claim() → &mut T (in the slot) ── publish() ─────────────────┐
//!                                                                                   ▼
//!   slots [0 .. capacity), capacity a power of two, allocated once; seq s lives in s & mask
//!       ▲ published cursor (one padded u64, Release by the producer / Acquire by consumers)
//!       │
//!  consumers: Consumer::poll() → Batch guard → next() → &T, end_of_batch
//!             each with its own padded cursor, stored (Release) when the guard drops
//! ```
//!
//! [`ring`] creates one [`Producer`] and a fixed number of [`Consumer`]s, all sharing the slots.
//! Every consumer sees every update (broadcast). Sequences are `u64` and never wrap.
//!
//! # Publication (both policies)
//! The producer claims sequence `n` ([`Producer::claim`]), writes slot `n & mask`, and makes all
//! claimed sequences visible with one `Release` store of the published cursor
//! ([`Producer::publish`], called once per venue event, so a batch is published at an event
//! boundary). A consumer `Acquire`-loads the published cursor `p`; every slot write of a
//! sequence `< p` happens-before its reads. A consumer caches `p` and reloads it only when it
//! has consumed everything below it.
//!
//! # Policy [`Policy::NoLoss`]: the producer waits, reads are in place
//! A consumer's cursor `c` says it will never touch sequences `< c` again; it stores it
//! (`Release`) when its [`Batch`] guard drops. The producer may write sequence `n` only when
//! `n < min(c) + capacity`, i.e. when the slot's previous occupant `n - capacity` has been
//! released by every consumer. It caches `min(c)` and rescans the cursors (`Acquire`, which
//! orders every consumer's reads of the slot before the overwrite) only when the cached value
//! does not allow the claim. When the rescan does not either, it waits with its idle strategy;
//! every wait is counted and timed ([`ProducerStats`]). Hence no slot is ever written while a
//! consumer may read it: [`Claim`] derefs to the slot itself (the update is written in place,
//! once) and [`Event::update`] is a reference into the slot (never copied).
//! A dropped consumer stores cursor `u64::MAX` so it no longer holds the producer back.
//!
//! # Policy [`Policy::NeverWait`]: the producer overwrites, readers validate
//! The producer never looks at consumer cursors, so a slow consumer can be lapped: the slot of
//! sequence `s` is overwritten by `s + capacity` while the consumer still has `s` to read.
//! The Rust memory model forbids a plain read racing with a write (even one whose result is
//! then thrown away), so under this policy the slot is eight `AtomicU64` words plus a stamp,
//! and the classic seqlock (Boehm, "Can seqlocks get along with programming language memory
//! models?") is done with atomics only:
//! - stamp values: `0` never written; `2(s+1)` holds sequence `s`; `2(s+1)+1` being
//!   overwritten with `s`;
//! - the producer stores stamp `2(n+1)+1` (Relaxed), each word (Release), then `2(n+1)`
//!   (Release);
//! - a consumer reading `s` loads the stamp (Acquire) and requires `2(s+1)`, loads the words
//!   (Acquire), and loads the stamp again: if it still reads `2(s+1)` the words are exactly
//!   those of `s`. (Had any word load seen a later write, it would have synchronised with that
//!   word's Release store, which follows the later write's odd stamp store, so the second
//!   stamp load could not return `2(s+1)`.)
//!
//! The consumer decodes the validated words into a scratch record it owns and
//! hands out `&T` to that: **under never-wait an update is validated before it is
//! used**, so a strategy never sees a torn or overwritten update. This costs one 64-byte copy
//! on each side (the producer's [`Claim`] points at a staging record stored into the slot on
//! drop), the price of soundness; the no-loss policy has no copy at all.
//!
//! On a failed validation (or when, at poll time, the published cursor is more than a ring
//! ahead) the consumer is *lapped*: it reloads the published cursor `p` and resynchronises to
//! `max(s + 1, t + 1 - capacity, p - capacity / 2)`, where `t` is the sequence the stamp shows
//! (everything up to `t - capacity` is certainly overwritten; half a ring of headroom makes an
//! immediate second lap unlikely). Every sequence it jumps over is added to its miss count
//! ([`Event::missed_before`], [`Batch::missed`], [`ConsumerStats::missed`]). So each sequence
//! is either delivered intact or counted as missed, exactly once: nothing is lost silently.
//!
//! # What this module does not do
//! Consumers are fixed at creation (no late joiners); there is one producer; sequences start
//! at 0. A stuck consumer stalls a no-loss producer forever (that is the policy; the wait is
//! reported). A [`Claim`] that is dropped without being written publishes whatever the slot
//! (no-loss) or staging record (never-wait) held before: the engine overwrites every field.
//!
//! `unsafe` here is limited to the slot cell accesses whose exclusivity the cursor protocol
//! above proves; each block names the step it relies on. The protocol is model-checked with
//! loom (`RUSTFLAGS="--cfg loom" cargo test -p fh-feed --lib --profile ci --target-dir target/loom
//! loom_model`).

use crate::agent::{Idle, IdleStrategy, SpinYield};
#[cfg(loom)]
use crate::sync::spin_hint;
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering, Padded, SlotCell};
use core::ptr::NonNull;
use std::time::Instant;

#[cfg(all(test, loom))]
mod loom_model;
#[cfg(all(test, not(loom)))]
mod tests;

/// A record the ring can carry: `Copy`, and convertible to at most eight `u64` words for the
/// never-wait policy's atomic slots. `from_words(to_words(x)) == x` must hold.
pub trait Record: Copy + Default + Send + Sync + 'static {
    /// How many of the eight words carry data (1..=8); only those are stored and loaded.
    const WORDS: usize;
    /// The record as words (`WORDS` significant).
    fn to_words(&self) -> [u64; 8];
    /// The record back from its words.
    fn from_words(words: &[u64; 8]) -> Self;
}

impl Record for u64 {
    const WORDS: usize = 1;
    #[inline]
    fn to_words(&self) -> [u64; 8] {
        [*self, 0, 0, 0, 0, 0, 0, 0]
    }
    #[inline]
    fn from_words(words: &[u64; 8]) -> Self {
        words[0]
    }
}

/// What a consumer does with a batch ([`Consumer::poll_with`]): the ring's callback interface,
/// independent of what the records mean.
pub trait Handler<T> {
    /// One record, with its ring sequence; `end_of_batch` on the batch's last record.
    fn on_record(&mut self, record: &T, seq: u64, end_of_batch: bool);
    /// `count` records were lost to a lap (never-wait) right before the next one.
    fn on_missed(&mut self, count: u64) {
        let _ = count;
    }
    /// After the batch's last record (its slots are released by then).
    fn on_batch_end(&mut self) {}
}

/// What the producer does when the slowest consumer is a full ring behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Wait for it (measured); updates are written and read in place.
    NoLoss,
    /// Overwrite; lapped consumers detect it, count exactly what they missed and resync.
    NeverWait,
}

/// How to build a ring.
#[derive(Clone, Copy, Debug)]
pub struct RingConfig {
    /// Number of slots: a power of two, at least 2.
    pub capacity: usize,
    /// Number of consumers (at least 1).
    pub consumers: usize,
    /// Back-pressure policy.
    pub policy: Policy,
    /// How a no-loss producer waits for room.
    pub producer_idle: Idle,
}

impl RingConfig {
    /// `capacity` slots, `consumers` consumers, `policy`; a no-loss producer waits for room
    /// spinning 200 times, then yielding: it never parks, because the producer is the engine
    /// on the hot path and a parked thread takes tens of µs to wake here (with `Backoff`
    /// parking, a producer that outran its consumer slept while the ring drained, and the
    /// ring's cross-core throughput fell below crossbeam's).
    pub fn new(capacity: usize, consumers: usize, policy: Policy) -> Self {
        Self {
            capacity,
            consumers,
            policy,
            producer_idle: Idle::SpinYield(SpinYield::new(200)),
        }
    }
}

/// A ring configuration that cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The capacity is not a power of two of at least 2.
    Capacity(usize),
    /// No consumers.
    NoConsumers,
    /// Outside slot memory ([`ring_in`]) that cannot hold the ring.
    Memory(&'static str),
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RingError::Capacity(c) => write!(f, "ring capacity {c} is not a power of two >= 2"),
            RingError::NoConsumers => write!(f, "a ring needs at least one consumer"),
            RingError::Memory(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RingError {}

/// A no-loss slot: the record itself (one cache line for a 64-byte record).
#[repr(C, align(64))]
struct Slot<T> {
    cell: SlotCell<T>,
}

/// A never-wait slot: the record as atomic words plus its seqlock stamp.
#[repr(C, align(64))]
struct WordSlot {
    words: [AtomicU64; 8],
    stamp: AtomicU64,
}

/// A consumer's shared state: its cursor (read by the producer) and its loss counters.
#[derive(Debug, Default)]
struct ConsumerShared {
    cursor: AtomicU64,
    missed: AtomicU64,
    laps: AtomicU64,
}

#[derive(Debug, Default)]
struct ProducerShared {
    published: AtomicU64,
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct WaitStats {
    waits: AtomicU64,
    wait_ns: AtomicU64,
}

struct Shared<T> {
    policy: Policy,
    mask: u64,
    /// The no-loss slots (empty under never-wait): a leaked `Box<[Slot<T>]>` when `memory` is
    /// `None`, else slots placed in `memory` by [`ring_in`]. Freed (or handed back) on drop.
    slots: NonNull<[Slot<T>]>,
    #[cfg(not(loom))]
    memory: Option<std::sync::Arc<dyn SlotMemory>>,
    words: Box<[WordSlot]>,
    producer: Padded<ProducerShared>,
    wait: Padded<WaitStats>,
    consumers: Box<[Padded<ConsumerShared>]>,
}

// SAFETY: the slot cells are only accessed under the cursor protocol described in the module
// doc (a slot is written only by the single producer and only while no consumer may read it);
// every other field is atomic. `T: Send` lets records cross threads, and `T: Sync` lets several
// consumers hold `&T` to the same slot at once.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}
// SAFETY: `slots` is owned by `Shared` (a leaked box, or slots in memory the `Shared` keeps
// alive through `memory`, which is `Send + Sync`), exactly as a `Box<[Slot<T>]>` field would be.
unsafe impl<T: Send + Sync> Send for Shared<T> {}

impl<T> Shared<T> {
    /// The no-loss slots.
    #[inline(always)]
    fn slots(&self) -> &[Slot<T>] {
        // SAFETY: `slots` points at `capacity` initialised slots (or none) that live as long as
        // `self` (see the field); slot contents are only reached through `SlotCell`.
        unsafe { self.slots.as_ref() }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        if self.memory.is_some() {
            // Slots in caller memory hold `Copy` records (nothing to drop); the memory is
            // released when the last `Arc` to it goes.
            return;
        }
        // SAFETY: without `memory`, `slots` came from `Box::into_raw` in `ring` and nothing
        // refers to it any more (`Shared` is being dropped).
        drop(unsafe { Box::from_raw(self.slots.as_ptr()) });
    }
}

/// Memory a no-loss ring's slots may live in, provided by the caller ([`ring_in`]): e.g. a
/// file mapping that other address spaces (a sandbox) map read-only to read the ring in place.
///
/// # Safety
/// The implementer promises that [`SlotMemory::as_ptr`] is the same pointer for the whole life
/// of the value, aligned to 64 bytes, and valid for reads and writes of [`SlotMemory::len`]
/// bytes for as long as the value lives; and that nothing writes those bytes but the ring
/// (other mappings of the same pages may only read them).
pub unsafe trait SlotMemory: Send + Sync + 'static {
    /// Start of the region.
    fn as_ptr(&self) -> *mut u8;
    /// Its length in bytes.
    fn len(&self) -> usize;
    /// True when the region is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes of one no-loss slot (a record rounded up to the 64-byte slot alignment).
pub const fn slot_bytes<T>() -> usize {
    core::mem::size_of::<Slot<T>>()
}

/// Creates a ring: one producer and `config.consumers` consumers (index order), all slots
/// allocated here and never again.
pub fn ring<T: Record>(config: RingConfig) -> Result<(Producer<T>, Vec<Consumer<T>>), RingError> {
    let cap = config.capacity;
    if cap < 2 || !cap.is_power_of_two() {
        return Err(RingError::Capacity(cap));
    }
    if config.consumers == 0 {
        return Err(RingError::NoConsumers);
    }
    let (slots, words): (Box<[Slot<T>]>, _) = match config.policy {
        Policy::NoLoss => (
            (0..cap)
                .map(|_| Slot {
                    cell: SlotCell::new(T::default()),
                })
                .collect(),
            Box::default(),
        ),
        Policy::NeverWait => (
            Box::default(),
            (0..cap)
                .map(|_| WordSlot {
                    words: core::array::from_fn(|_| AtomicU64::new(0)),
                    stamp: AtomicU64::new(0),
                })
                .collect(),
        ),
    };
    let slots = NonNull::from(Box::leak(slots));
    Ok(assemble(config, slots, None, words))
}

/// A no-loss ring like [`ring`] whose slots live in `memory` (its first
/// `capacity * slot_bytes::<T>()` bytes, initialised here to `T::default()`), so that other
/// mappings of that memory can read the slots in place. Only [`Policy::NoLoss`]: a never-wait
/// ring's slots are atomic words a reader must validate.
#[cfg(not(loom))]
pub fn ring_in<T: Record>(
    config: RingConfig,
    memory: std::sync::Arc<dyn SlotMemory>,
) -> Result<(Producer<T>, Vec<Consumer<T>>), RingError> {
    let cap = config.capacity;
    if cap < 2 || !cap.is_power_of_two() {
        return Err(RingError::Capacity(cap));
    }
    if config.consumers == 0 {
        return Err(RingError::NoConsumers);
    }
    if config.policy != Policy::NoLoss {
        return Err(RingError::Memory(
            "slots in outside memory need the no-loss policy",
        ));
    }
    let base = memory.as_ptr().cast::<Slot<T>>();
    if base.is_null() || !(base as usize).is_multiple_of(core::mem::align_of::<Slot<T>>()) {
        return Err(RingError::Memory("slot memory is not aligned to a slot"));
    }
    if cap
        .checked_mul(slot_bytes::<T>())
        .is_none_or(|n| n > memory.len())
    {
        return Err(RingError::Memory("slot memory is smaller than the ring"));
    }
    for i in 0..cap {
        // SAFETY: `base` is aligned and valid for `cap` slots (checked above, and `SlotMemory`'s
        // contract); nothing else writes the memory and no reference to it exists yet.
        unsafe {
            base.add(i).write(Slot {
                cell: SlotCell::new(T::default()),
            })
        };
    }
    // SAFETY: as above; the slots are initialised now.
    let slots = unsafe { NonNull::new_unchecked(core::ptr::slice_from_raw_parts_mut(base, cap)) };
    Ok(assemble(config, slots, Some(memory), Box::default()))
}

/// The producer and consumers of a ring whose storage is ready.
fn assemble<T: Record>(
    config: RingConfig,
    slots: NonNull<[Slot<T>]>,
    #[cfg(not(loom))] memory: Option<std::sync::Arc<dyn SlotMemory>>,
    #[cfg(loom)] _memory: Option<()>,
    words: Box<[WordSlot]>,
) -> (Producer<T>, Vec<Consumer<T>>) {
    let cap = config.capacity;
    let shared = Arc::new(Shared {
        policy: config.policy,
        mask: cap as u64 - 1,
        slots,
        #[cfg(not(loom))]
        memory,
        words,
        producer: Padded::default(),
        wait: Padded::default(),
        consumers: (0..config.consumers).map(|_| Padded::default()).collect(),
    });
    let consumers = (0..config.consumers)
        .map(|index| Consumer {
            shared: Arc::clone(&shared),
            index,
            pos: 0,
            cached_published: 0,
            missed: 0,
            scratch: T::default(),
        })
        .collect();
    let producer = Producer {
        shared,
        next: 0,
        published: 0,
        cached_min: 0,
        staging: T::default(),
        idle: config.producer_idle,
    };
    (producer, consumers)
}

/// The producer's counters: what it published and how long no-loss back-pressure held it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProducerStats {
    /// Updates published.
    pub published: u64,
    /// Claims that had to wait for the slowest consumer (no-loss only).
    pub waits: u64,
    /// Total time spent in those waits, ns.
    pub wait_ns: u64,
}

/// One consumer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Next sequence it will read (`u64::MAX` once dropped).
    pub cursor: u64,
    /// Updates it lost to being lapped (never-wait only); exact.
    pub missed: u64,
    /// Times it was lapped and resynchronised.
    pub laps: u64,
}

impl<T> Shared<T> {
    fn producer_stats(&self) -> ProducerStats {
        ProducerStats {
            published: self.producer.published.load(Ordering::Acquire),
            waits: self.wait.waits.load(Ordering::Relaxed),
            wait_ns: self.wait.wait_ns.load(Ordering::Relaxed),
        }
    }

    fn consumer_stats(&self, index: usize) -> Option<ConsumerStats> {
        let c = self.consumers.get(index)?;
        Some(ConsumerStats {
            cursor: c.cursor.load(Ordering::Acquire),
            missed: c.missed.load(Ordering::Relaxed),
            laps: c.laps.load(Ordering::Relaxed),
        })
    }

    /// The lowest consumer cursor (`u64::MAX` when every consumer is gone).
    #[inline]
    fn min_cursor(&self) -> u64 {
        self.consumers
            .iter()
            .map(|c| c.cursor.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// Read access to a ring's counters from any thread (e.g. a reporting agent).
pub struct RingMonitor<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for RingMonitor<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> core::fmt::Debug for RingMonitor<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingMonitor")
            .field("producer", &self.producer_stats())
            .finish()
    }
}

impl<T> RingMonitor<T> {
    /// The producer's counters.
    pub fn producer_stats(&self) -> ProducerStats {
        self.shared.producer_stats()
    }
    /// Consumer `index`'s counters (`None` past the last consumer).
    pub fn consumer_stats(&self, index: usize) -> Option<ConsumerStats> {
        self.shared.consumer_stats(index)
    }
    /// Number of consumers.
    pub fn consumers(&self) -> usize {
        self.shared.consumers.len()
    }
}

/// The writing half. Not `Clone`: there is exactly one producer.
pub struct Producer<T: Record> {
    shared: Arc<Shared<T>>,
    /// Next sequence to claim.
    next: u64,
    /// Sequences below this are published.
    published: u64,
    /// A lower bound of the slowest consumer's cursor (no-loss).
    cached_min: u64,
    /// Where a never-wait claim (and every claim under loom) is written before it is stored.
    staging: T,
    idle: Idle,
}

impl<T: Record> core::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("policy", &self.shared.policy)
            .field("next", &self.next)
            .field("published", &self.published)
            .finish()
    }
}

impl<T: Record> Producer<T> {
    /// Capacity in slots.
    pub fn capacity(&self) -> usize {
        self.shared.mask as usize + 1
    }

    /// The ring's policy.
    pub fn policy(&self) -> Policy {
        self.shared.policy
    }

    /// The sequence the next claim gets.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// A monitor for the ring's counters.
    pub fn monitor(&self) -> RingMonitor<T> {
        RingMonitor {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The producer's counters.
    pub fn stats(&self) -> ProducerStats {
        self.shared.producer_stats()
    }

    /// True when sequence `self.next` may be written without waiting.
    #[inline]
    fn has_room(&mut self) -> bool {
        if self.shared.policy == Policy::NeverWait {
            return true;
        }
        let cap = self.shared.mask + 1;
        if self.next < self.cached_min.saturating_add(cap) {
            return true;
        }
        self.cached_min = self.shared.min_cursor();
        self.next < self.cached_min.saturating_add(cap)
    }

    /// Claims the next slot without waiting: `None` when a no-loss ring is full (the slowest
    /// consumer is a ring behind). Never `None` under never-wait.
    #[inline]
    pub fn try_claim(&mut self) -> Option<Claim<'_, T>> {
        if self.has_room() {
            Some(self.claim_unchecked())
        } else {
            None
        }
    }

    /// Claims the next slot, waiting with the ring's idle strategy while a no-loss ring is
    /// full (the wait is counted and timed in [`ProducerStats`]).
    #[inline]
    pub fn claim(&mut self) -> Claim<'_, T> {
        if !self.has_room() {
            self.wait_for_room();
        }
        self.claim_unchecked()
    }

    #[cold]
    fn wait_for_room(&mut self) {
        let start = Instant::now();
        let mut idle = self.idle;
        idle.reset();
        while !self.has_room() {
            #[cfg(not(loom))]
            idle.idle(0);
            #[cfg(loom)]
            spin_hint();
        }
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared.wait.waits.fetch_add(1, Ordering::Relaxed);
        self.shared.wait.wait_ns.fetch_add(ns, Ordering::Relaxed);
    }

    #[inline]
    fn claim_unchecked(&mut self) -> Claim<'_, T> {
        let seq = self.next;
        self.next += 1;
        let in_place: *mut T = match self.shared.policy {
            #[cfg(not(loom))]
            Policy::NoLoss => {
                prefetch_write(
                    &self.shared.slots()[((seq + PREFETCH_AHEAD) & self.shared.mask) as usize],
                );
                self.shared.slots()[(seq & self.shared.mask) as usize]
                    .cell
                    .as_ptr()
            }
            _ => core::ptr::null_mut(),
        };
        Claim {
            producer: self,
            seq,
            in_place,
        }
    }

    /// Publishes every claimed sequence (one Release store). Call it at each event boundary.
    /// Returns the new published cursor.
    #[inline]
    pub fn publish(&mut self) -> u64 {
        if self.next != self.published {
            self.published = self.next;
            self.shared
                .producer
                .published
                .store(self.next, Ordering::Release);
        }
        self.published
    }

    /// Claims, writes `value` and publishes it (a convenience for single updates).
    #[inline]
    pub fn push(&mut self, value: T) -> u64 {
        *self.claim() = value;
        self.publish()
    }

    /// Never-wait: stores the staged record as sequence `seq` (seqlock write, module doc).
    #[inline]
    fn store_words(&self, seq: u64) {
        let slot = &self.shared.words[(seq & self.shared.mask) as usize];
        let words = self.staging.to_words();
        let stamp = 2 * (seq + 1);
        slot.stamp.store(stamp + 1, Ordering::Relaxed);
        for (cell, w) in slot.words.iter().zip(words).take(T::WORDS) {
            cell.store(w, Ordering::Release);
        }
        slot.stamp.store(stamp, Ordering::Release);
    }
}

impl<T: Record> Drop for Producer<T> {
    /// Publishes what was claimed and marks the ring closed, so consumers can finish.
    fn drop(&mut self) {
        self.publish();
        self.shared.producer.closed.store(true, Ordering::Release);
    }
}

/// A claimed slot: deref to the record and write it in place. Dropping the claim commits the
/// write; [`Producer::publish`] then makes it visible. One claim at a time (it borrows the
/// producer), so sequences are written in order.
pub struct Claim<'a, T: Record> {
    producer: &'a mut Producer<T>,
    seq: u64,
    /// The slot itself (no-loss), exclusively ours while the claim lives; null when the claim
    /// writes the producer's staging record instead (never-wait, and everything under loom).
    in_place: *mut T,
}

impl<T: Record> Claim<'_, T> {
    /// The sequence of this slot.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

impl<T: Record> core::fmt::Debug for Claim<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim").field("seq", &self.seq).finish()
    }
}

impl<T: Record> core::ops::Deref for Claim<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        if self.in_place.is_null() {
            return &self.producer.staging;
        }
        // SAFETY: `in_place` is slot `seq & mask` of a no-loss ring, which no consumer reads:
        // `has_room` saw every consumer cursor past `seq - capacity` (the slot's previous
        // occupant), consumers never read at or past the published cursor (<= seq), and the
        // producer (borrowed by this claim) makes no other reference to it.
        unsafe { &*self.in_place }
    }
}

impl<T: Record> core::ops::DerefMut for Claim<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        if self.in_place.is_null() {
            return &mut self.producer.staging;
        }
        // SAFETY: as in `deref`; the `&mut self` borrow makes this the only reference.
        unsafe { &mut *self.in_place }
    }
}

impl<T: Record> Drop for Claim<'_, T> {
    #[inline]
    fn drop(&mut self) {
        match self.producer.shared.policy {
            Policy::NeverWait => self.producer.store_words(self.seq),
            #[cfg(loom)]
            Policy::NoLoss => {
                let slot =
                    &self.producer.shared.slots()[(self.seq & self.producer.shared.mask) as usize];
                // SAFETY: the slot is exclusively the producer's (see `Deref`); loom checks it.
                unsafe { slot.cell.write(self.producer.staging) };
            }
            #[cfg(not(loom))]
            Policy::NoLoss => {}
        }
    }
}

/// The reading half: one per strategy. Moves to its thread; not `Clone`.
pub struct Consumer<T: Record> {
    shared: Arc<Shared<T>>,
    index: usize,
    /// Next sequence to read.
    pos: u64,
    /// Last published cursor seen.
    cached_published: u64,
    /// Total missed (never-wait), mirrored into the shared counters.
    missed: u64,
    /// Where a never-wait batch decodes each validated update (and loom's no-loss model
    /// copies each one): made once with the consumer, not at every poll.
    scratch: T,
}

impl<T: Record> core::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("index", &self.index)
            .field("pos", &self.pos)
            .field("missed", &self.missed)
            .finish()
    }
}

impl<T: Record> Consumer<T> {
    /// This consumer's index among the ring's consumers.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Next sequence it will read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Updates missed so far (never-wait; always 0 under no-loss).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The ring's policy.
    pub fn policy(&self) -> Policy {
        self.shared.policy
    }

    /// Capacity in slots.
    pub fn capacity(&self) -> usize {
        self.shared.mask as usize + 1
    }

    /// A monitor for the ring's counters.
    pub fn monitor(&self) -> RingMonitor<T> {
        RingMonitor {
            shared: Arc::clone(&self.shared),
        }
    }

    /// True when the producer is gone and everything it published has been read (or missed).
    pub fn is_finished(&self) -> bool {
        self.shared.producer.closed.load(Ordering::Acquire)
            && self.pos >= self.shared.producer.published.load(Ordering::Acquire)
    }

    /// Starts a batch of everything published and not yet read, or `None` if there is nothing.
    #[inline]
    pub fn poll(&mut self) -> Option<Batch<'_, T>> {
        self.poll_max(u64::MAX)
    }

    /// Like [`Self::poll`], at most `max` updates (at least 1). A never-wait batch that is
    /// lapped jumps ahead and may then run on to the published cursor of that moment.
    #[inline]
    pub fn poll_max(&mut self, max: u64) -> Option<Batch<'_, T>> {
        if self.pos >= self.cached_published {
            self.cached_published = self.shared.producer.published.load(Ordering::Acquire);
            if self.pos >= self.cached_published {
                return None;
            }
        }
        let mut missed = 0;
        let cap = self.shared.mask + 1;
        if self.shared.policy == Policy::NeverWait && self.cached_published - self.pos > cap {
            // A full ring behind: certainly lapped.
            let to = self.cached_published - cap / 2;
            missed = to - self.pos;
            self.pos = to;
            let c = &self.shared.consumers[self.index];
            c.laps.fetch_add(1, Ordering::Relaxed);
            c.missed.fetch_add(missed, Ordering::Relaxed);
        }
        let end = self.pos + (self.cached_published - self.pos).min(max.max(1));
        let pos = self.pos;
        Some(Batch {
            consumer: self,
            pos,
            released: pos,
            end,
            missed,
            pending_missed: missed,
        })
    }

    /// Drains one batch into `handler`: `on_missed` before any record that follows a lap,
    /// `on_record` per record, `on_batch_end` after the last. Returns the records delivered.
    #[inline]
    pub fn poll_with<H: Handler<T> + ?Sized>(&mut self, handler: &mut H) -> usize {
        let strategy = handler;
        let Some(mut batch) = self.poll() else {
            return 0;
        };
        let mut n = 0;
        while let Some(ev) = batch.next() {
            if ev.missed_before > 0 {
                strategy.on_missed(ev.missed_before);
            }
            strategy.on_record(ev.update, ev.seq, ev.end_of_batch);
            n += 1;
        }
        if batch.pending_missed > 0 {
            strategy.on_missed(batch.pending_missed);
        }
        drop(batch);
        strategy.on_batch_end();
        n
    }
}

impl<T: Record> Drop for Consumer<T> {
    /// Stops holding the producer back.
    fn drop(&mut self) {
        self.shared.consumers[self.index]
            .cursor
            .store(u64::MAX, Ordering::Release);
    }
}

/// How far ahead of its claims the producer asks for slots with write intent.
#[cfg(not(loom))]
const PREFETCH_AHEAD: u64 = 8;

/// Asks the core to fetch `slot`'s line for writing (`prefetchw`), so that taking a line back
/// from the consumer's cache overlaps with the writes before it instead of stalling each one.
/// A hint only: no effect on what any thread observes.
#[cfg(not(loom))]
#[inline(always)]
fn prefetch_write<T>(slot: &Slot<T>) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no architectural effect; the pointer is a live
    // slot. SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_ET0 }>(
            (slot as *const Slot<T>).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// How many slots a no-loss batch reads between progressive releases: a quarter of the ring,
/// at most 256 (bounded cursor traffic, yet the producer never waits for a whole batch).
#[inline]
fn release_every(mask: u64) -> u64 {
    ((mask + 1) / 4).clamp(1, 256)
}

/// One update of a batch.
#[derive(Debug)]
pub struct Event<'b, T> {
    /// The update: in the slot itself (no-loss) or a validated copy (never-wait).
    pub update: &'b T,
    /// Its sequence in the ring.
    pub seq: u64,
    /// Last update of this batch (as published when the batch started).
    pub end_of_batch: bool,
    /// Updates missed right before this one (lapped, never-wait); usually 0.
    pub missed_before: u64,
}

/// A batch of published updates; read them with [`Batch::next`]. Dropping the guard releases
/// the slots read so far (stores the consumer cursor), so no reference outlives its slot; a
/// long no-loss batch also releases progressively (every quarter ring, at most 256 slots),
/// which is sound because [`Batch::next`] lends one update at a time.
pub struct Batch<'a, T: Record> {
    consumer: &'a mut Consumer<T>,
    pos: u64,
    /// Cursor last stored: slots below it are released already (no-loss).
    released: u64,
    end: u64,
    missed: u64,
    pending_missed: u64,
}

impl<T: Record> core::fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batch")
            .field("pos", &self.pos)
            .field("end", &self.end)
            .field("missed", &self.missed)
            .finish()
    }
}

impl<T: Record> Batch<'_, T> {
    /// Updates left in the batch (an upper bound under never-wait).
    pub fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    /// Updates missed during this batch (never-wait).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Missed updates not yet reported through an [`Event::missed_before`] (a lap at the end
    /// of the batch).
    pub fn pending_missed(&self) -> u64 {
        self.pending_missed
    }

    /// Takes the rest of a no-loss batch as the sequences `start..end`, to be read in place
    /// through another mapping of the ring's slot memory ([`ring_in`]; slot `seq & mask`):
    /// unlike [`Batch::next`] nothing is released before the guard drops, so every slot of the
    /// range stays unwritten while the guard lives. `None` under never-wait (a slot there must
    /// be validated as it is read).
    #[inline]
    pub fn take_in_place(&mut self) -> Option<core::ops::Range<u64>> {
        if self.consumer.shared.policy != Policy::NoLoss {
            return None;
        }
        let r = self.pos..self.end;
        self.pos = self.end;
        Some(r)
    }

    /// The update of sequence `seq` in its slot, if this no-loss batch holds it unreleased:
    /// taken or read through this guard and not yet released (`None` otherwise, and under
    /// never-wait). The reference borrows the guard, so the slot stays unwritten while it lives.
    #[inline]
    pub fn in_place(&self, seq: u64) -> Option<&T> {
        let shared = &*self.consumer.shared;
        if shared.policy != Policy::NoLoss || seq < self.released || seq >= self.pos {
            return None;
        }
        let slot = &shared.slots()[(seq & shared.mask) as usize];
        #[cfg(not(loom))]
        // SAFETY: `released <= seq < pos <= published`: the slot's write happened-before our
        // Acquire of the published cursor, and the producer cannot overwrite it before our
        // cursor passes `seq`, which happens only when this guard (borrowed by the result) drops.
        return Some(unsafe { &*slot.cell.as_ptr() });
        #[cfg(loom)]
        {
            let _ = slot;
            None
        }
    }

    /// The next update, or `None` at the end of the batch.
    #[inline]
    #[allow(clippy::should_implement_trait)] // a lending iterator: items borrow the guard
    pub fn next(&mut self) -> Option<Event<'_, T>> {
        match self.consumer.shared.policy {
            Policy::NoLoss => self.next_in_place(),
            Policy::NeverWait => self.next_validated(),
        }
    }

    #[inline]
    fn next_in_place(&mut self) -> Option<Event<'_, T>> {
        if self.pos >= self.end {
            return None;
        }
        let seq = self.pos;
        self.pos += 1;
        let shared = &*self.consumer.shared;
        if seq - self.released >= release_every(shared.mask) {
            // Release what was read so far, so the producer can refill behind us while a long
            // batch is read. No reference to those slots is alive: each `Event` borrowed this
            // guard mutably, and that borrow ended before this call.
            shared.consumers[self.consumer.index]
                .cursor
                .store(seq, Ordering::Release);
            self.released = seq;
        }
        let slot = &shared.slots()[(seq & shared.mask) as usize];
        #[cfg(not(loom))]
        // SAFETY: `seq` < the published cursor we Acquire-loaded, so its write happened-before;
        // the producer will not overwrite the slot until our cursor passes `seq`, which happens
        // only when this guard drops, and the returned reference borrows the guard.
        let update = unsafe { &*slot.cell.as_ptr() };
        #[cfg(loom)]
        let update = {
            // SAFETY: as above; loom checks it.
            self.consumer.scratch = unsafe { slot.cell.read() };
            &self.consumer.scratch
        };
        Some(Event {
            update,
            seq,
            end_of_batch: self.pos == self.end,
            missed_before: 0,
        })
    }

    #[inline]
    fn next_validated(&mut self) -> Option<Event<'_, T>> {
        loop {
            if self.pos >= self.end {
                return None;
            }
            let seq = self.pos;
            let shared = &*self.consumer.shared;
            let slot = &shared.words[(seq & shared.mask) as usize];
            let expect = 2 * (seq + 1);
            let mut stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == expect {
                let mut words = [0u64; 8];
                for (w, cell) in words.iter_mut().zip(&slot.words).take(T::WORDS) {
                    *w = cell.load(Ordering::Acquire);
                }
                stamp = slot.stamp.load(Ordering::Relaxed);
                if stamp == expect {
                    self.consumer.scratch = T::from_words(&words);
                    self.pos += 1;
                    let missed_before = core::mem::take(&mut self.pending_missed);
                    return Some(Event {
                        update: &self.consumer.scratch,
                        seq,
                        end_of_batch: self.pos == self.end,
                        missed_before,
                    });
                }
            }
            self.resync(seq, stamp);
        }
    }

    /// Lapped at `seq` (the slot's stamp read `stamp`): jump ahead, counting every skipped
    /// sequence (module doc).
    #[cold]
    fn resync(&mut self, seq: u64, stamp: u64) {
        let shared = &*self.consumer.shared;
        let cap = shared.mask + 1;
        let published = shared.producer.published.load(Ordering::Acquire);
        let overwritten_by = (stamp / 2).saturating_sub(1); // the sequence the slot now holds
        let to = (seq + 1)
            .max((overwritten_by + 1).saturating_sub(cap))
            .max(published.saturating_sub(cap / 2));
        let skipped = to - seq;
        self.missed += skipped;
        self.pending_missed += skipped;
        self.pos = to;
        self.end = self.end.max(published);
        let c = &shared.consumers[self.consumer.index];
        c.laps.fetch_add(1, Ordering::Relaxed);
        c.missed.fetch_add(skipped, Ordering::Relaxed);
    }
}

impl<T: Record> Drop for Batch<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let c = &mut *self.consumer;
        if self.pos != c.pos {
            c.pos = self.pos;
            c.shared.consumers[c.index]
                .cursor
                .store(self.pos, Ordering::Release);
        }
        if self.missed > 0 {
            c.missed += self.missed;
        }
    }
}
