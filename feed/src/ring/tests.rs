//! Single-threaded and small threaded tests of the ring protocol (the loom models are in
//! `loom.rs`, the multi-million-update stress tests in `feed/tests/ring_stress.rs`).

use super::*;

fn nl(cap: usize, consumers: usize) -> (Producer<u64>, Vec<Consumer<u64>>) {
    ring(RingConfig::new(cap, consumers, Policy::NoLoss)).unwrap()
}

fn nw(cap: usize, consumers: usize) -> (Producer<u64>, Vec<Consumer<u64>>) {
    ring(RingConfig::new(cap, consumers, Policy::NeverWait)).unwrap()
}

#[test]
fn a_default_no_loss_producer_waits_without_parking() {
    // The producer is the engine: it spins then yields for room, never sleeps (module docs).
    let c = RingConfig::new(8, 1, Policy::NoLoss);
    assert!(matches!(c.producer_idle, Idle::SpinYield(_)), "{c:?}");
}

/// Drains everything available: (seq, value, end_of_batch, missed_before) per event.
fn drain(c: &mut Consumer<u64>) -> Vec<(u64, u64, bool, u64)> {
    let mut out = Vec::new();
    while let Some(mut b) = c.poll() {
        while let Some(ev) = b.next() {
            out.push((ev.seq, *ev.update, ev.end_of_batch, ev.missed_before));
        }
    }
    out
}

#[test]
fn rejects_bad_configs() {
    for cap in [0, 1, 3, 12] {
        assert_eq!(
            ring::<u64>(RingConfig::new(cap, 1, Policy::NoLoss)).unwrap_err(),
            RingError::Capacity(cap)
        );
    }
    assert_eq!(
        ring::<u64>(RingConfig::new(4, 0, Policy::NoLoss)).unwrap_err(),
        RingError::NoConsumers
    );
    assert_eq!(
        RingError::Capacity(3).to_string(),
        "ring capacity 3 is not a power of two >= 2"
    );
}

#[test]
fn no_loss_reads_in_place_in_order_with_batch_ends() {
    let (mut p, mut cs) = nl(8, 2);
    for v in [10, 11, 12] {
        let mut claim = p.claim();
        *claim = v;
    }
    assert!(
        cs[0].poll().is_none(),
        "claimed but unpublished updates are invisible"
    );
    assert_eq!(p.publish(), 3);
    p.push(13);
    assert_eq!(
        drain(&mut cs[0]),
        [
            (0, 10, false, 0),
            (1, 11, false, 0),
            (2, 12, false, 0),
            (3, 13, true, 0)
        ]
    );
    assert_eq!(drain(&mut cs[1]).len(), 4);
    // The reference handed out is the slot itself: same address as the producer wrote.
    let written = {
        let mut claim = p.claim();
        *claim = 99;
        &*claim as *const u64
    };
    p.publish();
    let mut b = cs[0].poll().unwrap();
    assert_eq!(b.next().unwrap().update as *const u64, written);
}

#[test]
fn no_loss_producer_is_held_by_the_slowest_consumer_only_until_it_releases() {
    let (mut p, mut cs) = nl(4, 2);
    for v in 0..4 {
        p.push(v);
    }
    assert!(
        p.try_claim().is_none(),
        "full: no consumer has read anything"
    );
    assert_eq!(drain(&mut cs[0]).len(), 4);
    assert!(p.try_claim().is_none(), "consumer 1 still holds every slot");
    {
        let mut b = cs[1].poll_max(1).unwrap();
        assert_eq!(b.remaining(), 1);
        let ev = b.next().unwrap();
        assert_eq!((ev.seq, ev.end_of_batch), (0, true));
        assert!(b.next().is_none());
    }
    *p.try_claim().expect("slot 0 released") = 4;
    assert!(p.try_claim().is_none(), "exactly one slot was released");
    p.publish();
    // A partly read batch releases only what was read.
    {
        let mut b = cs[1].poll().unwrap();
        // 1..4: the consumer reloads the published cursor only once it has read up to the
        // value it cached.
        assert_eq!(b.remaining(), 3);
        b.next().unwrap();
    }
    assert_eq!(p.monitor().consumer_stats(1).unwrap().cursor, 2);
    assert!(p.try_claim().is_some());
    // Dropping a consumer stops it gating the producer.
    let c1 = cs.pop().unwrap();
    drop(c1);
    assert_eq!(p.monitor().consumer_stats(1).unwrap().cursor, u64::MAX);
    p.publish();
    assert_eq!(drain(&mut cs[0]).len(), 2);
    for v in 0..4 {
        *p.try_claim().expect("only consumer 0 gates now") = v;
    }
    assert_eq!(p.stats().waits, 0);
}

#[test]
fn no_loss_wait_is_measured() {
    let (mut p, mut cs) = nl(2, 1);
    let mut c = cs.pop().unwrap();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut got = Vec::new();
        while !c.is_finished() {
            got.extend(drain(&mut c).into_iter().map(|e| e.1));
            std::thread::yield_now();
        }
        got
    });
    for v in 0..100 {
        p.push(v);
    }
    let stats = p.stats();
    drop(p);
    assert_eq!(reader.join().unwrap(), (0..100).collect::<Vec<_>>());
    assert_eq!(stats.published, 100);
    assert!(stats.waits >= 1);
    assert!(
        stats.wait_ns >= 10_000_000,
        "waited for the sleeping consumer: {stats:?}"
    );
}

#[test]
fn never_wait_counts_a_whole_lap_exactly() {
    let (mut p, mut cs) = nw(8, 2);
    for v in 0..20 {
        p.push(v * 10);
    }
    // 20 published, ring of 8: resync to 20 - 8/2 = 16; 0..16 missed.
    let got = drain(&mut cs[0]);
    assert_eq!(
        got,
        [
            (16, 160, false, 16),
            (17, 170, false, 0),
            (18, 180, false, 0),
            (19, 190, true, 0)
        ]
    );
    assert_eq!(cs[0].missed(), 16);
    let stats = p.monitor().consumer_stats(0).unwrap();
    assert_eq!((stats.cursor, stats.missed, stats.laps), (20, 16, 1));
    assert!(p.try_claim().is_some(), "never-wait never refuses a claim");
}

#[test]
fn never_wait_detects_a_lap_in_the_middle_of_a_batch() {
    let (mut p, mut cs) = nw(8, 1);
    for v in 0..6 {
        p.push(v * 10);
    }
    let c = &mut cs[0];
    let mut b = c.poll().unwrap();
    assert_eq!(b.next().unwrap().seq, 0);
    assert_eq!(b.next().unwrap().seq, 1);
    // The producer runs on while the batch is open (the guard borrows the consumer only).
    for v in 6..16 {
        p.push(v * 10);
    }
    // Slot of seq 2 now holds seq 10: t = 10, to = max(3, 10 + 1 - 8, 16 - 4) = 12, and the
    // batch end moves to the new published cursor.
    let ev = b.next().unwrap();
    assert_eq!((ev.seq, *ev.update, ev.missed_before), (12, 120, 10));
    assert_eq!(b.missed(), 10);
    let mut rest = Vec::new();
    while let Some(ev) = b.next() {
        rest.push((ev.seq, ev.end_of_batch));
    }
    assert_eq!(rest, [(13, false), (14, false), (15, true)]);
    drop(b);
    assert_eq!(c.missed(), 10);
}

#[test]
fn never_wait_detects_slots_overwritten_by_unpublished_claims() {
    let (mut p, mut cs) = nw(4, 1);
    for v in 0..4 {
        p.push(v);
    }
    // Claims 4 and 5 overwrite slots 0 and 1 before being published.
    *p.claim() = 4;
    *p.claim() = 5;
    let got = drain(&mut cs[0]);
    // Seq 0's slot shows seq 4: to = max(1, 4 + 1 - 4, 4 - 2) = 2; 0 and 1 missed.
    assert_eq!(got, [(2, 2, false, 2), (3, 3, true, 0)]);
    p.publish();
    assert_eq!(drain(&mut cs[0]), [(4, 4, false, 0), (5, 5, true, 0)]);
    assert_eq!(cs[0].missed(), 2);
}

#[test]
fn consumers_finish_when_the_producer_is_gone() {
    let (mut p, mut cs) = nl(4, 1);
    p.push(1);
    *p.claim() = 2; // claimed, published by the producer's drop
    assert!(!cs[0].is_finished());
    drop(p);
    assert!(!cs[0].is_finished(), "two updates still to read");
    assert_eq!(drain(&mut cs[0]).len(), 2);
    assert!(cs[0].is_finished());
}

#[test]
fn long_no_loss_batches_release_progressively() {
    let (mut p, mut cs) = nl(16, 1);
    for v in 0..16 {
        p.push(v);
    }
    let monitor = p.monitor();
    let mut b = cs[0].poll().unwrap();
    for _ in 0..5 {
        b.next().unwrap();
    }
    // A quarter ring (4 slots) read before the fifth: released while the batch is open.
    assert_eq!(monitor.consumer_stats(0).unwrap().cursor, 4);
    *p.try_claim().expect("released slot") = 16;
    drop(b);
    assert_eq!(monitor.consumer_stats(0).unwrap().cursor, 5);
}

/// Slot memory from the heap, 64-byte aligned, for `ring_in`.
struct HeapSlots(Box<[UnsafeSlot]>);

#[repr(C, align(64))]
struct UnsafeSlot(core::cell::UnsafeCell<[u8; 64]>);

// SAFETY: the bytes are reached only through the ring (`SlotMemory`'s contract).
unsafe impl Sync for HeapSlots {}

// SAFETY: the box is 64-byte aligned, lives as long as the value, and only the ring writes it.
unsafe impl SlotMemory for HeapSlots {
    fn as_ptr(&self) -> *mut u8 {
        self.0.as_ptr().cast::<u8>().cast_mut()
    }
    fn len(&self) -> usize {
        self.0.len() * 64
    }
}

fn heap_slots(n: usize) -> std::sync::Arc<HeapSlots> {
    std::sync::Arc::new(HeapSlots(
        (0..n)
            .map(|_| UnsafeSlot(core::cell::UnsafeCell::new([0xAA; 64])))
            .collect(),
    ))
}

#[test]
fn a_ring_in_outside_memory_keeps_its_slots_there_and_hands_batches_out_in_place() {
    let mem = heap_slots(8);
    let (mut p, mut cs) =
        ring_in::<u64>(RingConfig::new(8, 2, Policy::NoLoss), mem.clone()).unwrap();
    // Initialised to the default record.
    // SAFETY: the memory is alive and holds 8 initialised u64 slots; no claim is live.
    assert_eq!(unsafe { mem.as_ptr().cast::<u64>().read() }, 0);
    for round in 0..5u64 {
        for i in 0..6 {
            *p.claim() = round * 100 + i;
        }
        p.publish();
        // Consumer 0 reads through `next`; consumer 1 takes the batch whole, in place.
        let got: Vec<u64> = drain(&mut cs[0]).iter().map(|e| e.1).collect();
        assert_eq!(got, (0..6).map(|i| round * 100 + i).collect::<Vec<_>>());
        let mut b = cs[1].poll().unwrap();
        let r = b.take_in_place().unwrap();
        assert_eq!(r, round * 6..round * 6 + 6);
        for seq in r.clone() {
            assert_eq!(*b.in_place(seq).unwrap(), round * 100 + seq - round * 6);
            // The slot is the memory's, `seq & mask` slots in.
            let at = (seq & 7) as usize * slot_bytes::<u64>();
            // SAFETY: inside the memory; the slot is held by this batch (not written).
            let raw = unsafe { mem.as_ptr().add(at).cast::<u64>().read() };
            assert_eq!(raw, round * 100 + seq - round * 6);
        }
        assert!(b.in_place(r.end).is_none() && b.next().is_none());
        drop(b);
        assert_eq!(cs[1].position(), round * 6 + 6);
    }
    drop(p);
    assert!(cs.iter().all(|c| c.is_finished()));
    // What the memory cannot hold, or a never-wait ring, is refused.
    let e = |r: Result<(Producer<u64>, Vec<Consumer<u64>>), RingError>| r.err().unwrap();
    assert!(matches!(
        e(ring_in(
            RingConfig::new(16, 1, Policy::NoLoss),
            heap_slots(8)
        )),
        RingError::Memory(_)
    ));
    assert!(matches!(
        e(ring_in(
            RingConfig::new(8, 1, Policy::NeverWait),
            heap_slots(8)
        )),
        RingError::Memory(_)
    ));
    // A never-wait batch cannot be taken in place.
    let (mut p, mut cs) = nw(4, 1);
    *p.claim() = 1;
    p.publish();
    assert!(cs[0].poll().unwrap().take_in_place().is_none());
}
