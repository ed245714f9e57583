//! The strategy API: how trading logic consumes book updates from the publication ring.
//!
//! Two styles, same ring:
//! - **Callbacks.** Implement [`Strategy`] (`on_update` per update with an end-of-batch flag,
//!   `on_batch_end` after each batch, `on_missed` when a never-wait ring lapped it) and wrap it
//!   in a [`StrategyAgent`], an [`Agent`] whose duty cycle drains one batch. Run it on its own
//!   (pinned) thread with [`crate::agent::spawn`], or share a thread with other agents.
//! - **Poll.** A strategy that owns its loop calls [`Consumer::poll`] itself and walks the
//!   [`crate::ring::Batch`] guard (`while let Some(ev) = batch.next()`), or calls
//!   [`Consumer::poll_with`] with any `Strategy`.
//!
//! Either way updates are read in place (no-loss) or as validated copies (never-wait), and
//! the slots are released when the batch ends. Strategies that need the current best bid and
//! offer of any instrument read it from [`crate::topbook::TopBookReader`] (lock-free).
//!
//! Invariants: `on_update` sees sequences in increasing order; every gap in them was announced
//! by an `on_missed` with exactly its size before the update after the gap (or, for a lap at
//! the end of a batch, before `on_batch_end`). Nothing here allocates.

use crate::agent::{Agent, Nanos};
use crate::ring::{Consumer, Record};
use crate::update::BookUpdate;

/// Trading logic driven by the ring.
pub trait Strategy<T = BookUpdate> {
    /// One update, with its ring sequence; `end_of_batch` is set on the last update of the
    /// batch (act on accumulated state there, e.g. after a whole venue event).
    fn on_update(&mut self, update: &T, seq: u64, end_of_batch: bool);

    /// After the last update of a batch (its slots are released by then).
    fn on_batch_end(&mut self) {}

    /// `count` updates were lost because a never-wait ring lapped this strategy; the next
    /// update follows the gap. State derived from the stream may be stale.
    fn on_missed(&mut self, count: u64) {
        let _ = count;
    }
}

/// A strategy and its ring consumer as an agent: each duty cycle drains one batch.
pub struct StrategyAgent<S, T: Record = BookUpdate> {
    name: String,
    consumer: Consumer<T>,
    strategy: S,
    delivered: u64,
    batches: u64,
}

impl<S, T: Record> core::fmt::Debug for StrategyAgent<S, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StrategyAgent")
            .field("name", &self.name)
            .field("consumer", &self.consumer)
            .field("delivered", &self.delivered)
            .field("batches", &self.batches)
            .finish()
    }
}

impl<S: Strategy<T>, T: Record> StrategyAgent<S, T> {
    /// Wraps `strategy`, fed by `consumer`.
    pub fn new(name: impl Into<String>, consumer: Consumer<T>, strategy: S) -> Self {
        Self {
            name: name.into(),
            consumer,
            strategy,
            delivered: 0,
            batches: 0,
        }
    }

    /// The strategy (e.g. to read its results after the run).
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// The consumer (position, missed count).
    pub fn consumer(&self) -> &Consumer<T> {
        &self.consumer
    }

    /// Updates delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Non-empty batches so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Takes the strategy back (the consumer is dropped and stops gating the producer).
    pub fn into_strategy(self) -> S {
        self.strategy
    }
}

impl<S: Strategy<T>, T: Record> Agent for StrategyAgent<S, T> {
    fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn do_work(&mut self, _now: Nanos) -> usize {
        let n = self.consumer.poll_with(&mut self.strategy);
        self.delivered += n as u64;
        self.batches += u64::from(n > 0);
        n
    }

    /// Done when the producer is gone and everything published has been read.
    fn is_done(&self) -> bool {
        self.consumer.is_finished()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::agent::{run_until_done, MonotonicClock};
    use crate::ring::{ring, Policy, RingConfig};

    /// Records what the callbacks saw.
    #[derive(Debug, Default)]
    struct Recorder {
        seqs: Vec<u64>,
        ends: Vec<u64>,
        batch_ends: u32,
        missed: Vec<u64>,
    }

    impl Strategy<u64> for Recorder {
        fn on_update(&mut self, update: &u64, seq: u64, end_of_batch: bool) {
            assert_eq!(*update, seq * 10);
            self.seqs.push(seq);
            if end_of_batch {
                self.ends.push(seq);
            }
        }
        fn on_batch_end(&mut self) {
            self.batch_ends += 1;
        }
        fn on_missed(&mut self, count: u64) {
            self.missed.push(count);
        }
    }

    #[test]
    fn strategy_agent_sees_batches_and_end_flags() {
        let (mut p, mut cs) = ring::<u64>(RingConfig::new(8, 1, Policy::NoLoss)).unwrap();
        let mut agent = StrategyAgent::new("rec", cs.pop().unwrap(), Recorder::default());
        for i in 0..3 {
            *p.claim() = i * 10;
        }
        p.publish();
        assert_eq!(agent.do_work(0), 3);
        *p.claim() = 30;
        p.publish();
        drop(p);
        run_until_done(&mut agent, &MonotonicClock::new());
        assert_eq!((agent.delivered(), agent.batches()), (4, 2));
        let rec = agent.into_strategy();
        assert_eq!(rec.seqs, [0, 1, 2, 3]);
        assert_eq!(rec.ends, [2, 3]);
        assert_eq!(rec.batch_ends, 2);
        assert!(rec.missed.is_empty());
    }

    #[test]
    fn lapped_strategy_is_told_before_the_gap() {
        let (mut p, mut cs) = ring::<u64>(RingConfig::new(4, 1, Policy::NeverWait)).unwrap();
        let mut c = cs.pop().unwrap();
        for i in 0..10 {
            p.push(i * 10);
        }
        let mut rec = Recorder::default();
        // 10 published, ring of 4: resync to 10 - 4/2 = 8, so 0..8 are missed.
        assert_eq!(c.poll_with(&mut rec), 2);
        assert_eq!(rec.missed, [8]);
        assert_eq!(rec.seqs, [8, 9]);
        assert_eq!(c.monitor().consumer_stats(0).unwrap().missed, 8);
    }
}
