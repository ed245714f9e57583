//! Trade tape in another process: every printable trade that `fh replay|live … --shm NAME`
//! publishes, with the symbol from the top-of-book table, and the volume and VWAP per symbol
//! at the end.
//!
//! `cargo run --release -p fh-shm --example trade_tape -- NAME [--quiet]`

use std::collections::HashMap;

use fh_feed::update::{Flags, UpdateKind};
use fh_shm::{Subscriber, SubscriberOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("usage: trade_tape NAME [--quiet]")?;
    let quiet = std::env::args().any(|a| a == "--quiet");
    let opts = SubscriberOptions {
        buffer: fh_shm::MAX_BUFFER, // clamped to the service's --shm-buffer
        ..SubscriberOptions::default()
    };
    let mut sub = Subscriber::open(&name, &opts)?;
    let mut vwap: HashMap<String, (u64, i128)> = HashMap::new();
    let mut trades = Vec::new();
    while !sub.ended() {
        let Some(batch) = sub.receive()? else {
            if sub.samples() > 0 && sub.publisher_gone()? {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
            continue;
        };
        trades.clear();
        trades.extend(
            batch
                .updates()
                .iter()
                .map(|u| u.update())
                .filter(|u| u.kind == UpdateKind::Trade && !u.flags.contains(Flags::NON_PRINTABLE)),
        );
        drop(batch);
        for t in &trades {
            let sym = sub
                .top(t.instrument)
                .and_then(|r| r.symbol().map(str::to_string))
                .unwrap_or_else(|| format!("#{}", t.instrument));
            if !quiet {
                let px = fh_decoders::price::Fixed::<4>(t.price);
                println!("{} {sym:8} {:8} @ {px}", t.exch_ts, t.shares);
            }
            let e = vwap.entry(sym).or_default();
            e.0 += t.shares;
            e.1 += i128::from(t.price) * i128::from(t.shares);
        }
    }
    let mut v: Vec<_> = vwap.into_iter().collect();
    v.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
    for (sym, (n, pv)) in v.iter().take(20) {
        let avg = (*pv / i128::from((*n).max(1))) as i64;
        println!(
            "{sym:8} volume {n:10} vwap {}",
            fh_decoders::price::Fixed::<4>(avg)
        );
    }
    println!(
        "received {} updates, missed {}",
        sub.received(),
        sub.missed()
    );
    Ok(())
}
