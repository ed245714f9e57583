//! BBO tracker in another process: follows the best bid and offer of every instrument that
//! `fh replay|live … --shm NAME` publishes, reading the top-of-book table after each update
//! that moved a best level; prints the most active symbols at the end.
//!
//! `cargo run --release -p fh-shm --example bbo_tracker -- NAME`

use std::collections::HashMap;

use fh_feed::update::Flags;
use fh_shm::{Subscriber, SubscriberOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).ok_or("usage: bbo_tracker NAME")?;
    let opts = SubscriberOptions {
        buffer: fh_shm::MAX_BUFFER, // clamped to the service's --shm-buffer
        ..SubscriberOptions::default()
    };
    let mut sub = Subscriber::open(&name, &opts)?;
    // symbol → (changes, tightest spread, last row)
    let mut books: HashMap<String, (u64, i64, fh_shm::layout::TopRow)> = HashMap::new();
    let mut changed = Vec::new();
    while !sub.ended() {
        let Some(batch) = sub.receive()? else {
            if sub.samples() > 0 && sub.publisher_gone()? {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
            continue;
        };
        changed.clear();
        let best = Flags::BEST_CHANGED.bits();
        changed.extend(
            batch
                .updates()
                .iter()
                .filter(|u| u.flags & best != 0)
                .map(|u| u.instrument),
        );
        drop(batch);
        changed.dedup();
        for &id in &changed {
            let Some(row) = sub.top(id) else { continue };
            let Some(sym) = row.symbol().map(str::to_string) else {
                continue;
            };
            let e = books.entry(sym).or_insert((0, i64::MAX, row));
            e.0 += 1;
            if row.bid_shares > 0 && row.ask_shares > 0 {
                e.1 = e.1.min(row.ask_price - row.bid_price);
            }
            e.2 = row;
        }
    }
    let mut v: Vec<_> = books.into_iter().collect();
    v.sort_by_key(|(_, b)| std::cmp::Reverse(b.0));
    for (sym, (n, tight, r)) in v.iter().take(20) {
        let px = |p: i64| fh_decoders::price::Fixed::<4>(p).to_string();
        let tight = if *tight == i64::MAX {
            "-".into()
        } else {
            px(*tight)
        };
        println!(
            "{sym:8} changes {n:7} tightest {tight} last {}@{} / {}@{}",
            r.bid_shares,
            px(r.bid_price),
            r.ask_shares,
            px(r.ask_price)
        );
    }
    println!(
        "received {} updates, missed {}",
        sub.received(),
        sub.missed()
    );
    Ok(())
}
