//! A consumer that records update latency: the time from the engine stamping an update
//! (`engine_ts`, on the shared monotonic clock) to this strategy reading it, one hop through
//! the ring, into an HdrHistogram allocated at start-up (`saturating_record`: no allocation
//! while recording). Prints percentiles and the ring's counters.
//!
//! `cargo run -p fh-feed --example latency_recorder --profile ci -- [EVENTS] [EVENTS_PER_US] [never-wait]`
//! The market paces itself to `EVENTS_PER_US` events per microsecond (default 1, i.e. 1 M/s),
//! so the figures are hop latency rather than queueing.

mod common;

use common::{arg, Market};
use fh_feed::agent::{spawn, Agent, BusySpin, Idle, MonotonicClock, SpinYield, ThreadConfig};
use fh_feed::ring::{ring, Policy, RingConfig};
use fh_feed::strategy::{Strategy, StrategyAgent};
use fh_feed::topbook::top_book;
use fh_feed::update::BookUpdate;
use hdrhistogram::Histogram;

#[derive(Debug)]
struct LatencyRecorder {
    clock: MonotonicClock,
    hist: Histogram<u64>,
    missed: u64,
}

impl Strategy for LatencyRecorder {
    fn on_update(&mut self, u: &BookUpdate, _seq: u64, _end_of_batch: bool) {
        self.hist
            .saturating_record(self.clock.now().saturating_sub(u.engine_ts));
    }
    fn on_missed(&mut self, count: u64) {
        self.missed += count;
    }
}

/// Paces the market: publishes only when the clock says an event is due.
#[derive(Debug)]
struct Paced {
    market: Market,
    per_us: u64,
    start: Option<u64>,
    sent: u64,
}

impl Agent for Paced {
    fn name(&self) -> &str {
        "paced-market"
    }
    fn do_work(&mut self, now: u64) -> usize {
        let start = *self.start.get_or_insert(now);
        let due = (now - start) * self.per_us / 1_000;
        if self.sent >= due {
            return 0;
        }
        self.sent += 1;
        usize::from(self.market.step())
    }
    fn is_done(&self) -> bool {
        self.market.is_done()
    }
}

fn main() {
    let events = arg(1, 1_000_000);
    let per_us = arg(2, 1).max(1);
    let policy = if std::env::args().any(|a| a == "never-wait") {
        Policy::NeverWait
    } else {
        Policy::NoLoss
    };
    let clock = MonotonicClock::new();
    let (producer, mut consumers) =
        ring::<BookUpdate>(RingConfig::new(4096, 1, policy)).expect("ring");
    let monitor = producer.monitor();
    let (writer, _top) = top_book(4);
    let market = Paced {
        market: Market::new(4, events, producer, writer, clock),
        per_us,
        start: None,
        sent: 0,
    };
    let hist = Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds");
    let recorder = LatencyRecorder {
        clock,
        hist,
        missed: 0,
    };
    let agent = StrategyAgent::new("latency", consumers.pop().expect("one consumer"), recorder);
    let busy = Idle::BusySpin(BusySpin);
    let m = spawn(
        market,
        ThreadConfig {
            core: Some(0),
            idle: Idle::SpinYield(SpinYield::new(10_000)),
            ..Default::default()
        },
        clock,
    )
    .expect("spawn");
    let r = spawn(
        agent,
        ThreadConfig {
            core: Some(1),
            idle: busy,
            ..Default::default()
        },
        clock,
    )
    .expect("spawn");
    m.join().expect("market");
    let agent = r.join().expect("recorder");
    let rec = agent.strategy();
    let h = &rec.hist;
    println!(
        "{policy:?} ring, {} updates at {per_us} events/µs: hop latency ns p50 {} p90 {} p99 {} p99.9 {} max {}; missed {}; producer waits {}",
        h.len(),
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        rec.missed,
        monitor.producer_stats().waits
    );
}
