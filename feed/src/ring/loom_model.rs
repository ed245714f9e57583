//! Loom models of the ring's publication (no-loss) and lapping (never-wait) logic.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p fh-feed --lib --profile ci --target-dir target/loom loom_model`
//! Models are kept tiny (2 slots, 1-2 consumers, 3 updates, so the no-loss producer has to
//! wait and the never-wait producer laps) and preemption-bounded, so they finish in minutes.

use super::*;
use ::loom::thread;

/// A two-word record: a torn read would break `b == a * 7 + 1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pair {
    a: u64,
    b: u64,
}

impl Pair {
    fn of(seq: u64) -> Self {
        Pair {
            a: seq,
            b: seq * 7 + 1,
        }
    }
}

impl Record for Pair {
    const WORDS: usize = 2;
    fn to_words(&self) -> [u64; 8] {
        [self.a, self.b, 0, 0, 0, 0, 0, 0]
    }
    fn from_words(w: &[u64; 8]) -> Self {
        Pair { a: w[0], b: w[1] }
    }
}

fn builder(preemptions: usize) -> ::loom::model::Builder {
    let mut b = ::loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    // Spinning consumers and a waiting producer make long (but finite) executions.
    b.max_branches = 100_000;
    b
}

/// Reads until the producer is gone and everything is drained; returns (seq, record, missed
/// before) per delivered update, checking each record is the one published for its sequence.
fn consume(mut c: Consumer<Pair>) -> (Vec<u64>, u64) {
    let mut seqs = Vec::new();
    let mut missed = 0;
    loop {
        let polled = if let Some(mut b) = c.poll() {
            while let Some(ev) = b.next() {
                assert_eq!(*ev.update, Pair::of(ev.seq), "torn or stale read");
                missed += ev.missed_before;
                seqs.push(ev.seq);
            }
            missed += b.pending_missed();
            true
        } else {
            false
        };
        if !polled {
            if c.is_finished() {
                break;
            }
            thread::yield_now();
        }
    }
    assert_eq!(missed, c.missed());
    (seqs, missed)
}

/// Two consumers gate the producer: one on its own thread, the other driven by the producer's
/// thread between publishes (two threads keep the model small; the producer still has to wait
/// for the slower of the two before reusing a slot).
#[test]
fn no_loss_publication_two_consumers() {
    builder(3).check(|| {
        let (mut p, mut cs) = ring::<Pair>(RingConfig::new(2, 2, Policy::NoLoss)).unwrap();
        let mut local = cs.pop().unwrap();
        let remote = cs.pop().unwrap();
        let h = thread::spawn(move || consume(remote));
        let mut got = Vec::new();
        for s in 0..3 {
            *p.claim() = Pair::of(s);
            p.publish();
            if let Some(mut b) = local.poll() {
                while let Some(ev) = b.next() {
                    assert_eq!(*ev.update, Pair::of(ev.seq));
                    got.push(ev.seq);
                }
            }
        }
        drop(p);
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(h.join().unwrap(), (vec![0, 1, 2], 0));
    });
}

#[test]
fn no_loss_batch_publication() {
    builder(3).check(|| {
        let (mut p, mut cs) = ring::<Pair>(RingConfig::new(2, 1, Policy::NoLoss)).unwrap();
        let c = cs.pop().unwrap();
        let h = thread::spawn(move || consume(c));
        // One event of two updates, then one of one: published at event boundaries.
        *p.claim() = Pair::of(0);
        *p.claim() = Pair::of(1);
        p.publish();
        *p.claim() = Pair::of(2);
        drop(p); // publishes the last claim
        assert_eq!(h.join().unwrap(), (vec![0, 1, 2], 0));
    });
}

/// Batches end exactly at publication boundaries (a venue event is never split across two
/// batches), and a consumer never reads into a publication it has not seen whole.
#[test]
fn no_loss_batches_end_at_publication_boundaries() {
    builder(3).check(|| {
        let (mut p, mut cs) = ring::<Pair>(RingConfig::new(4, 1, Policy::NoLoss)).unwrap();
        let mut c = cs.pop().unwrap();
        let h = thread::spawn(move || {
            let mut ends = Vec::new();
            let mut seqs = Vec::new();
            while !c.is_finished() {
                if let Some(mut b) = c.poll() {
                    while let Some(ev) = b.next() {
                        assert_eq!(*ev.update, Pair::of(ev.seq), "torn or stale read");
                        seqs.push(ev.seq);
                        if ev.end_of_batch {
                            ends.push(ev.seq);
                        }
                    }
                } else {
                    thread::yield_now();
                }
            }
            (seqs, ends)
        });
        // Two events: updates 0 and 1, then update 2.
        *p.claim() = Pair::of(0);
        *p.claim() = Pair::of(1);
        p.publish();
        *p.claim() = Pair::of(2);
        p.publish();
        drop(p);
        let (seqs, ends) = h.join().unwrap();
        assert_eq!(seqs, [0, 1, 2]);
        assert!(ends == [1, 2] || ends == [2], "batch ends {ends:?}");
    });
}

#[test]
fn never_wait_lapping_is_detected_and_counted_exactly() {
    builder(3).check(|| {
        let (mut p, mut cs) = ring::<Pair>(RingConfig::new(2, 1, Policy::NeverWait)).unwrap();
        let c = cs.pop().unwrap();
        let monitor = p.monitor();
        let h = thread::spawn(move || consume(c));
        for s in 0..3 {
            *p.claim() = Pair::of(s);
            p.publish();
        }
        drop(p);
        let (seqs, missed) = h.join().unwrap();
        // Every sequence is delivered intact or counted as missed, exactly once.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(seqs.len() as u64 + missed, 3);
        assert_eq!(
            seqs.last(),
            Some(&2),
            "the newest update is never missed once published"
        );
        assert_eq!(monitor.consumer_stats(0).unwrap().missed, missed);
    });
}
