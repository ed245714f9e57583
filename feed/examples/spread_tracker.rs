//! A spread / BBO tracker: on every update that moved a best price, read the instrument's
//! consistent best bid and offer from the lock-free top-of-book table and track the spread
//! (min, max, mean in ticks) and how often the book was locked or crossed.
//!
//! `cargo run -p fh-feed --example spread_tracker --profile ci -- [EVENTS] [--one-thread]`
//! Two threads by default (market on core 0, tracker on core 1, no-loss ring); with
//! `--one-thread` both agents share the calling thread, as a deterministic replay would.

mod common;

use common::{arg, Market, TICK};
use fh_feed::agent::{run_until_done, spawn, Idle, MonotonicClock, SpinYield, ThreadConfig};
use fh_feed::ring::{ring, Policy, RingConfig};
use fh_feed::strategy::{Strategy, StrategyAgent};
use fh_feed::topbook::{top_book, TopBookReader};
use fh_feed::update::{flags, BookUpdate};

const INSTRUMENTS: u32 = 8;

/// Per-instrument spread statistics, in ticks.
#[derive(Clone, Copy, Debug, Default)]
struct SpreadStats {
    samples: u64,
    sum_ticks: i64,
    min_ticks: i64,
    max_ticks: i64,
    locked_or_crossed: u64,
}

#[derive(Debug)]
struct SpreadTracker {
    top: TopBookReader,
    stats: [SpreadStats; INSTRUMENTS as usize],
    updates: u64,
}

impl Strategy for SpreadTracker {
    fn on_update(&mut self, u: &BookUpdate, _seq: u64, _end_of_batch: bool) {
        self.updates += 1;
        if u.flags & flags::BEST_CHANGED == 0 {
            return;
        }
        let (Some(bbo), Some(s)) = (
            self.top.get(u.instrument),
            self.stats.get_mut(u.instrument as usize),
        ) else {
            return;
        };
        if bbo.bid_shares == 0 || bbo.ask_shares == 0 {
            return;
        }
        let ticks = (bbo.ask_price - bbo.bid_price) / TICK;
        if s.samples == 0 {
            (s.min_ticks, s.max_ticks) = (ticks, ticks);
        }
        s.samples += 1;
        s.sum_ticks += ticks;
        s.min_ticks = s.min_ticks.min(ticks);
        s.max_ticks = s.max_ticks.max(ticks);
        s.locked_or_crossed += u64::from(ticks <= 0);
    }
}

fn main() {
    let events = arg(1, 2_000_000);
    let one_thread = std::env::args().any(|a| a == "--one-thread");
    let clock = MonotonicClock::new();
    let (producer, mut consumers) =
        ring::<BookUpdate>(RingConfig::new(4096, 1, Policy::NoLoss)).expect("ring");
    let monitor = producer.monitor();
    let (writer, reader) = top_book(INSTRUMENTS as usize);
    let mut market = Market::new(INSTRUMENTS, events, producer, writer, clock);
    market.burst = 16;
    let tracker = SpreadTracker {
        top: reader,
        stats: Default::default(),
        updates: 0,
    };
    let agent = StrategyAgent::new("spread", consumers.pop().expect("one consumer"), tracker);

    let start = std::time::Instant::now();
    let agent = if one_thread {
        let mut pair = (market, agent);
        run_until_done(&mut pair, &clock);
        pair.1
    } else {
        let idle = Idle::SpinYield(SpinYield::new(1_000));
        let m = spawn(
            market,
            ThreadConfig {
                core: Some(0),
                idle,
                ..Default::default()
            },
            clock,
        )
        .expect("spawn");
        let s = spawn(
            agent,
            ThreadConfig {
                core: Some(1),
                idle,
                ..Default::default()
            },
            clock,
        )
        .expect("spawn");
        println!(
            "market on core {:?}, tracker on core {:?}",
            m.pinned_core(),
            s.pinned_core()
        );
        m.join().expect("market");
        s.join().expect("tracker")
    };
    let elapsed = start.elapsed();
    let t = agent.strategy();
    println!(
        "{} events, {} updates in {} batches, {:.1} M updates/s; producer waited {} times ({} µs)",
        events,
        t.updates,
        agent.batches(),
        t.updates as f64 / elapsed.as_secs_f64() / 1e6,
        monitor.producer_stats().waits,
        monitor.producer_stats().wait_ns / 1_000
    );
    println!("instrument  samples  spread ticks min/mean/max  locked-or-crossed");
    for (i, s) in t.stats.iter().enumerate() {
        let mean = if s.samples > 0 {
            s.sum_ticks as f64 / s.samples as f64
        } else {
            0.0
        };
        println!(
            "{i:>10}  {:>7}  {:>4} / {mean:>6.2} / {:<4}  {:>17}",
            s.samples, s.min_ticks, s.max_ticks, s.locked_or_crossed
        );
    }
}
