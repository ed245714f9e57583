//! Top of book from any thread: a lock-free table of the best bid and offer per instrument.
//!
//! The engine (the single writer, [`TopBookWriter`]) stores each instrument's [`Bbo`] after it
//! applies a venue event; any number of strategy threads read a consistent snapshot of any
//! instrument with a [`TopBookReader`], without locks and without ever blocking the writer.
//!
//! Each instrument has one cache line: a version and six `AtomicU64` words. It is a seqlock
//! done with atomics only (so a reader racing the writer is defined behaviour, not a data
//! race): the writer stores an odd version (Relaxed), the words (Release), then the next even
//! version (Release); a reader loads the version (Acquire), the words (Acquire) and the version
//! again, and accepts the words only if both versions are equal and even. A word written by a
//! newer update synchronises with its Release store, which follows that update's odd version
//! store, so the second version load would differ: an accepted snapshot is never torn.
//!
//! Invariants: the table is sized once (`instruments` entries, ids `0..instruments`); writes
//! are wait-free; reads are lock-free (they retry only while the writer is mid-update of that
//! very instrument); version 0 means "never written" and reads return `None`.

use crate::sync::{spin_hint, Arc, AtomicU64, Ordering};
use crate::update::InstrumentId;

/// Best bid and offer of one instrument. A side with no orders has shares 0 (its price is then
/// meaningless).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bbo {
    /// Best bid price, 4 implied decimals.
    pub bid_price: i64,
    /// Shares at the best bid (0: no bid).
    pub bid_shares: u64,
    /// Best offer price, 4 implied decimals.
    pub ask_price: i64,
    /// Shares at the best offer (0: no offer).
    pub ask_shares: u64,
    /// Feed sequence number of the message that produced this state.
    pub seq: u64,
    /// Exchange timestamp of that message, ns.
    pub exch_ts: u64,
}

impl Bbo {
    fn to_words(self) -> [u64; 6] {
        [
            self.bid_price as u64,
            self.bid_shares,
            self.ask_price as u64,
            self.ask_shares,
            self.seq,
            self.exch_ts,
        ]
    }

    fn from_words(w: [u64; 6]) -> Self {
        Bbo {
            bid_price: w[0] as i64,
            bid_shares: w[1],
            ask_price: w[2] as i64,
            ask_shares: w[3],
            seq: w[4],
            exch_ts: w[5],
        }
    }
}

/// The entries, one per instrument (a newtype so loom's `Arc` can hold it).
struct Table(Box<[Entry]>);

impl core::ops::Deref for Table {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        &self.0
    }
}

#[repr(C, align(64))]
struct Entry {
    version: AtomicU64,
    words: [AtomicU64; 6],
}

/// Creates a table for instruments `0..instruments`: one writer, and a reader to clone.
pub fn top_book(instruments: usize) -> (TopBookWriter, TopBookReader) {
    let entries = Arc::new(Table(
        (0..instruments)
            .map(|_| Entry {
                version: AtomicU64::new(0),
                words: core::array::from_fn(|_| AtomicU64::new(0)),
            })
            .collect(),
    ));
    (
        TopBookWriter {
            entries: Arc::clone(&entries),
        },
        TopBookReader { entries },
    )
}

/// The single writer (the engine). Not `Clone`.
pub struct TopBookWriter {
    entries: Arc<Table>,
}

impl core::fmt::Debug for TopBookWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TopBookWriter")
            .field("instruments", &self.entries.len())
            .finish()
    }
}

impl TopBookWriter {
    /// Stores `bbo` as `instrument`'s top of book. Returns false (and stores nothing) when the
    /// id is outside the table.
    #[inline]
    pub fn set(&mut self, instrument: InstrumentId, bbo: &Bbo) -> bool {
        let Some(e) = self.entries.get(instrument as usize) else {
            return false;
        };
        // Only this writer stores versions, so its own last store is the current value.
        let v = e.version.load(Ordering::Relaxed);
        e.version.store(v + 1, Ordering::Relaxed);
        for (cell, w) in e.words.iter().zip(bbo.to_words()) {
            cell.store(w, Ordering::Release);
        }
        e.version.store(v + 2, Ordering::Release);
        true
    }

    /// A reader of this table.
    pub fn reader(&self) -> TopBookReader {
        TopBookReader {
            entries: Arc::clone(&self.entries),
        }
    }
}

/// A reader, for any thread; clone one per thread.
#[derive(Clone)]
pub struct TopBookReader {
    entries: Arc<Table>,
}

impl core::fmt::Debug for TopBookReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TopBookReader")
            .field("instruments", &self.entries.len())
            .finish()
    }
}

/// Why one read attempt returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The id is outside the table.
    Unknown,
    /// Never written.
    Empty,
    /// The writer was updating this instrument; try again.
    Busy,
}

impl TopBookReader {
    /// Number of instruments the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for a table of no instruments.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One attempt at a consistent snapshot (wait-free).
    #[inline]
    pub fn try_get(&self, instrument: InstrumentId) -> Result<Bbo, ReadError> {
        let e = self
            .entries
            .get(instrument as usize)
            .ok_or(ReadError::Unknown)?;
        let v1 = e.version.load(Ordering::Acquire);
        if v1 == 0 {
            return Err(ReadError::Empty);
        }
        if v1 % 2 == 1 {
            return Err(ReadError::Busy);
        }
        let mut w = [0u64; 6];
        for (x, cell) in w.iter_mut().zip(&e.words) {
            *x = cell.load(Ordering::Acquire);
        }
        if e.version.load(Ordering::Relaxed) != v1 {
            return Err(ReadError::Busy);
        }
        Ok(Bbo::from_words(w))
    }

    /// A consistent snapshot of `instrument`, retrying while the writer is mid-update; `None`
    /// for an unknown or never-written instrument.
    #[inline]
    pub fn get(&self, instrument: InstrumentId) -> Option<Bbo> {
        loop {
            match self.try_get(instrument) {
                Ok(bbo) => return Some(bbo),
                Err(ReadError::Busy) => spin_hint(),
                Err(_) => return None,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_rejects_unknown_ids() {
        let (mut w, r) = top_book(4);
        assert_eq!(r.get(1), None);
        assert_eq!(r.try_get(1), Err(ReadError::Empty));
        assert_eq!(r.try_get(4), Err(ReadError::Unknown));
        let bbo = Bbo {
            bid_price: -5,
            bid_shares: 100,
            ask_price: 1_000_500,
            ask_shares: 7,
            seq: 42,
            exch_ts: 9,
        };
        assert!(w.set(1, &bbo));
        assert!(!w.set(4, &bbo));
        assert_eq!(r.get(1), Some(bbo));
        assert_eq!(w.reader().get(1), Some(bbo));
        assert_eq!(r.get(0), None);
        assert_eq!(r.len(), 4);
    }

    /// The writer stores snapshots whose fields are all functions of `seq`; readers on other
    /// threads must never see a mix of two snapshots.
    #[test]
    fn concurrent_readers_never_see_torn_snapshots() {
        fn snapshot(seq: u64) -> Bbo {
            Bbo {
                bid_price: seq as i64 * 3,
                bid_shares: seq ^ 0xABCD,
                ask_price: seq as i64 * 3 + 1,
                ask_shares: seq.rotate_left(7),
                seq,
                exch_ts: !seq,
            }
        }
        let (mut w, r) = top_book(2);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let (mut seen, mut last) = (0u64, 0u64);
                    while last < 199_999 {
                        if let Some(b) = r.get(1) {
                            assert_eq!(b, snapshot(b.seq), "torn snapshot");
                            assert!(b.seq >= last, "went backwards");
                            last = b.seq;
                            seen += 1;
                        }
                        std::thread::yield_now();
                    }
                    seen
                })
            })
            .collect();
        for seq in 0..200_000 {
            w.set(1, &snapshot(seq));
            if seq % 64 == 0 {
                std::thread::yield_now();
            }
        }
        for h in readers {
            assert!(h.join().unwrap() > 0);
        }
    }
}

/// Loom model of the seqlock: a reader racing two writes only ever accepts whole snapshots.
/// Run with the ring's models: `RUSTFLAGS="--cfg loom" cargo test -p fh-feed --lib --profile ci
/// --target-dir target/loom loom_model`.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;

    fn snapshot(seq: u64) -> Bbo {
        Bbo {
            bid_price: seq as i64,
            bid_shares: seq * 3,
            ask_price: -(seq as i64),
            ask_shares: 1,
            seq,
            exch_ts: seq + 9,
        }
    }

    #[test]
    fn snapshots_are_never_torn() {
        let mut b = ::loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let (mut w, r) = top_book(1);
            let h = ::loom::thread::spawn(move || {
                let mut last = 0;
                for _ in 0..2 {
                    match r.try_get(0) {
                        Ok(bbo) => {
                            assert_eq!(bbo, snapshot(bbo.seq), "torn snapshot");
                            assert!(bbo.seq >= last);
                            last = bbo.seq;
                        }
                        Err(e) => assert!(matches!(e, ReadError::Empty | ReadError::Busy)),
                    }
                }
            });
            w.set(0, &snapshot(1));
            w.set(0, &snapshot(2));
            h.join().unwrap();
        });
    }
}
