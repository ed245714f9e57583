//! Stress tests of the publication ring across threads, millions of updates:
//! - no-loss: several consumers each receive exactly the published stream (every field of every
//!   update, in order, nothing missing or repeated), published in events of varying size;
//! - never-wait: a deliberately slow consumer is lapped; every update it receives is intact,
//!   every gap is reported with its exact size, delivered + missed = published, and the ring's
//!   counters agree. One consumer is stalled at a known point so its miss count is known exactly.
//!
//! Threads idle with spin-then-yield so the test runs on 2 cores. `FH_STRESS_UPDATES` overrides
//! the number of updates (default 2,000,000).

use fh_feed::agent::{Idle, IdleStrategy, SpinYield};
use fh_feed::ring::{ring, Consumer, Policy, RingConfig};
use fh_feed::update::{BookUpdate, Flags, Side, UpdateKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn updates() -> u64 {
    std::env::var("FH_STRESS_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// The update published as ring sequence `seq`: every field depends on `seq`.
fn update_for(seq: u64) -> BookUpdate {
    BookUpdate {
        seq: seq.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        exch_ts: seq + 1,
        recv_ts: seq ^ 0xFFFF,
        engine_ts: seq.rotate_left(17),
        price: 1_000_000 - (seq % 977) as i64,
        shares: seq % 10_007,
        order_count: (seq % 31) as u32,
        instrument: (seq % 8_000) as u32,
        kind: match seq % 5 {
            0 => UpdateKind::AddLevel,
            1 => UpdateKind::ChangeLevel,
            2 => UpdateKind::DeleteLevel,
            3 => UpdateKind::Trade,
            _ => UpdateKind::Status,
        },
        side: if seq.is_multiple_of(2) {
            Side::Bid
        } else {
            Side::Ask
        },
        flags: Flags::from_bits((seq % 8) as u16) | Flags::LAST_IN_EVENT,
    }
}

fn config(capacity: usize, consumers: usize, policy: Policy) -> RingConfig {
    RingConfig {
        producer_idle: Idle::SpinYield(SpinYield::new(50)),
        ..RingConfig::new(capacity, consumers, policy)
    }
}

/// Publishes `n` updates in events of 1..=7 updates (claim in place, publish per event). With
/// `pause = (k, flag)`, stops after the event that reaches `k` updates until `flag` is set.
fn produce(
    mut p: fh_feed::ring::Producer<BookUpdate>,
    n: u64,
    pause: Option<(u64, &AtomicBool)>,
) -> fh_feed::ring::ProducerStats {
    let mut seq = 0;
    let mut pause = pause;
    while seq < n {
        if let Some((k, flag)) = pause {
            if seq >= k {
                while !flag.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                pause = None;
            }
        }
        let event = (1 + seq % 7).min(n - seq);
        for _ in 0..event {
            let mut claim = p.claim();
            assert_eq!(claim.sequence(), seq);
            *claim = update_for(seq);
            seq += 1;
        }
        p.publish();
    }
    p.stats()
}

/// What a consumer saw.
#[derive(Debug, Default)]
struct Seen {
    delivered: u64,
    missed: u64,
    gaps: u64,
    last: Option<u64>,
    /// (position, delivered, missed) when the consumer stalled.
    at_stall: Option<(u64, u64, u64)>,
}

/// Reads until the producer is gone, checking every update against `update_for` and every gap
/// against the reported miss count. `slow` burns time per update.
fn consume(
    mut c: Consumer<BookUpdate>,
    slow: u32,
    stall: Option<(u64, Arc<AtomicBool>, Arc<AtomicBool>)>,
) -> (Seen, Consumer<BookUpdate>) {
    let mut seen = Seen::default();
    let mut idle = SpinYield::new(50);
    let mut stall = stall;
    let index = c.index();
    loop {
        let mut work = 0;
        if let Some(mut batch) = c.poll() {
            while let Some(ev) = batch.next() {
                assert_eq!(
                    *ev.update,
                    update_for(ev.seq),
                    "consumer {index} seq {}",
                    ev.seq
                );
                let expected = seen.last.map_or(0, |l| l + 1);
                assert_eq!(
                    ev.seq - expected,
                    ev.missed_before,
                    "gap at {} not reported exactly",
                    ev.seq
                );
                seen.gaps += u64::from(ev.missed_before > 0);
                seen.missed += ev.missed_before;
                seen.last = Some(ev.seq);
                seen.delivered += 1;
                work += 1;
                for _ in 0..slow {
                    std::hint::black_box(ev.update.price);
                    core::hint::spin_loop();
                }
                if stall
                    .as_ref()
                    .is_some_and(|(at, _, _)| seen.delivered == *at)
                {
                    break;
                }
            }
            seen.missed += batch.pending_missed();
        }
        if let Some((at, reached, go)) = &stall {
            if seen.delivered == *at {
                seen.at_stall = Some((c.position(), seen.delivered, seen.missed));
                reached.store(true, Ordering::Release);
                while !go.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                stall = None;
            }
        }
        if work == 0 && c.is_finished() {
            break;
        }
        idle.idle(work);
    }
    (seen, c)
}

#[test]
fn no_loss_every_consumer_gets_the_published_stream() {
    let n = updates();
    let (p, cs) = ring::<BookUpdate>(config(1024, 3, Policy::NoLoss)).unwrap();
    let monitor = p.monitor();
    let handles: Vec<_> = cs
        .into_iter()
        .enumerate()
        .map(|(i, c)| std::thread::spawn(move || consume(c, if i == 2 { 5 } else { 0 }, None)))
        .collect();
    let stats = produce(p, n, None);
    assert_eq!(stats.published, n);
    for h in handles {
        let (seen, c) = h.join().unwrap();
        assert_eq!(
            (seen.delivered, seen.missed, seen.last),
            (n, 0, Some(n - 1)),
            "consumer {}",
            c.index()
        );
        assert_eq!(c.missed(), 0);
    }
    for i in 0..3 {
        assert_eq!(monitor.consumer_stats(i).unwrap().missed, 0);
    }
    println!(
        "no-loss: {n} updates x 3 consumers; producer waited {} times, {} ns",
        stats.waits, stats.wait_ns
    );
}

#[test]
fn never_wait_slow_consumers_count_every_miss_exactly() {
    let n = updates();
    let cap = 256u64;
    let (p, cs) = ring::<BookUpdate>(config(cap as usize, 3, Policy::NeverWait)).unwrap();
    let monitor = p.monitor();
    let go = Arc::new(AtomicBool::new(false));
    let reached = Arc::new(AtomicBool::new(false));
    // Consumer 0 keeps up as best it can, 1 is slow, 2 reads the first `stall_at` updates
    // (the producer pauses until it has), then stalls until the producer is done.
    let stall_at = 100;
    let mut cs = cs.into_iter();
    let fast = cs.next().unwrap();
    let slow = cs.next().unwrap();
    let stalled = cs.next().unwrap();
    let h0 = std::thread::spawn(move || consume(fast, 0, None));
    let h1 = std::thread::spawn(move || consume(slow, 200, None));
    let stall = (stall_at, Arc::clone(&reached), Arc::clone(&go));
    let h2 = std::thread::spawn(move || consume(stalled, 0, Some(stall)));
    let stats = produce(p, n, Some((stall_at, &reached)));
    go.store(true, Ordering::Release);
    assert_eq!(
        (stats.published, stats.waits),
        (n, 0),
        "never-wait never waits"
    );
    for (i, h) in [h0, h1, h2].into_iter().enumerate() {
        let (seen, c) = h.join().unwrap();
        let counters = monitor.consumer_stats(i).unwrap();
        assert_eq!(seen.delivered + seen.missed, n, "consumer {i}: {seen:?}");
        assert_eq!(
            seen.last,
            Some(n - 1),
            "the newest update is always delivered"
        );
        assert_eq!(
            (c.missed(), counters.missed),
            (seen.missed, seen.missed),
            "consumer {i}"
        );
        assert!(
            counters.laps >= seen.gaps,
            "consumer {i}: {counters:?} {seen:?}"
        );
        println!(
            "never-wait consumer {i}: delivered {}, missed {} in {} gaps",
            seen.delivered, seen.missed, seen.gaps
        );
        if i == 1 {
            assert!(seen.missed > 0, "the slow consumer was lapped");
        }
        if i == 2 {
            // Stalled at `stall_at` until the producer was done, it resumes more than a ring
            // behind the end and resyncs to n - cap/2: it then delivers exactly cap/2 updates
            // and misses exactly n - cap/2 - stall_at.
            let (pos, delivered, missed) = seen.at_stall.expect("stalled");
            assert_eq!((pos, delivered, missed), (stall_at, stall_at, 0));
            assert_eq!(seen.delivered - delivered, cap / 2);
            assert_eq!(seen.missed - missed, n - cap / 2 - pos);
        }
    }
}
