//! An order-book imbalance signal, written in the poll style (the strategy owns its loop):
//! at the end of every venue event (`LAST_IN_EVENT`) it reads the instrument's top of book and
//! computes the size imbalance `(bid - ask) / (bid + ask)` in basis points (integer maths), and
//! emits a signal when it crosses ±`THRESHOLD_BP`. The ring is never-wait: if this strategy
//! falls behind it is told exactly how many updates it missed and marks its state stale.
//!
//! `cargo run -p fh-feed --example imbalance --profile ci -- [EVENTS]`

mod common;

use common::{arg, Market};
use fh_feed::agent::{spawn, Idle, IdleStrategy, MonotonicClock, SpinYield, ThreadConfig};
use fh_feed::ring::{ring, Policy, RingConfig};
use fh_feed::topbook::top_book;
use fh_feed::update::{flags, BookUpdate};

const INSTRUMENTS: u32 = 4;
const THRESHOLD_BP: i64 = 6_000;

fn main() {
    let events = arg(1, 1_000_000);
    let clock = MonotonicClock::new();
    let (producer, mut consumers) =
        ring::<BookUpdate>(RingConfig::new(1024, 1, Policy::NeverWait)).expect("ring");
    let (writer, top) = top_book(INSTRUMENTS as usize);
    let market = Market::new(INSTRUMENTS, events, producer, writer, clock);
    let idle = Idle::SpinYield(SpinYield::new(1_000));
    let market = spawn(
        market,
        ThreadConfig {
            core: Some(0),
            idle,
            ..Default::default()
        },
        clock,
    )
    .expect("spawn");

    // The strategy's own loop on this thread.
    let mut consumer = consumers.pop().expect("one consumer");
    let mut idle = SpinYield::new(1_000);
    let mut signal = [0i8; INSTRUMENTS as usize]; // -1 sell pressure, 0 none, 1 buy pressure
    let (mut signals, mut events_seen, mut missed, mut stale_events) = (0u64, 0u64, 0u64, 0u64);
    let mut stale = false;
    while !consumer.is_finished() {
        let mut work = 0;
        if let Some(mut batch) = consumer.poll() {
            while let Some(ev) = batch.next() {
                work += 1;
                if ev.missed_before > 0 {
                    missed += ev.missed_before;
                    stale = true; // an event may have been cut; wait for the next boundary
                }
                let u = ev.update;
                if u.flags & flags::LAST_IN_EVENT == 0 {
                    continue;
                }
                events_seen += 1;
                if std::mem::take(&mut stale) {
                    stale_events += 1;
                }
                let Some(bbo) = top.get(u.instrument) else {
                    continue;
                };
                let total = (bbo.bid_shares + bbo.ask_shares) as i64;
                if total == 0 {
                    continue;
                }
                let imbalance_bp = (bbo.bid_shares as i64 - bbo.ask_shares as i64) * 10_000 / total;
                let now = if imbalance_bp >= THRESHOLD_BP {
                    1
                } else if imbalance_bp <= -THRESHOLD_BP {
                    -1
                } else {
                    0
                };
                let s = &mut signal[u.instrument as usize % INSTRUMENTS as usize];
                if now != 0 && now != *s {
                    signals += 1;
                }
                *s = now;
            }
            missed += batch.pending_missed();
        }
        idle.idle(work);
    }
    market.join().expect("market");
    println!(
        "{events} events published, {events_seen} event ends read, {signals} imbalance signals (±{THRESHOLD_BP} bp); \
         missed {missed} updates ({stale_events} events after a gap), ring counters: {:?}",
        consumer.monitor().consumer_stats(0).expect("consumer 0")
    );
}
