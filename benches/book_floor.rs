//! The least work an ITCH L3 book must do, timed over a mapped ITCH BinaryFILE: the floor under
//! `fh replay --no-latency`'s books (see `fh_benches::floor` for the three modes).
//!
//! ```sh
//! cargo build --release -p fh-benches --example book_floor
//! taskset -c 1 target/release/examples/book_floor touch|orders|l3 FILE.NASDAQ_ITCH50 \
//!     [--orders N] [--prefetch D] [--pages small|huge] [--tops OUT.csv]
//! ```
//!
//! - `--orders N`: expected live orders, as `fh replay --orders` (default fh's, 2^18): the
//!   per-reference table has `fh_benches::floor::slots_for(N)` slots.
//! - `--prefetch D`: request the order slot (and, in `l3`, the instrument's line) of the
//!   message `D` ahead, and in `l3` the best end of its side's levels `D / 2` ahead (0: none;
//!   default 16).
//! - `--pages huge`: the tables ask for transparent huge pages (`madvise`; default `small`, as
//!   `fh`).
//! - `--tops OUT.csv` (`l3`): write every symbol's final best bid and ask as
//!   `symbol,bid,bid_size,ask,ask_size` (prices with 4 decimals, empty for an empty side),
//!   sorted by symbol, the columns of `fh replay --bbo-csv`.
//!
//! Prints `book_floor MODE: messages N checksum X`, the mode's state (live orders, anomalies),
//! then `loop_s S ns_per_msg T cpu_s C cpu_ns_per_msg U` (wall, then the thread's CPU time):
//! the timers cover the loop alone, after the file is mapped and the tables are allocated and
//! written (as `fh replay`'s). Exit 2 on a usage error, 1 when
//! the file cannot be read or written.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use fh_benches::floor::{Frames, L3Book, Orders, Touch};
use fh_replay::capture::Capture;

const USAGE: &str = "usage: book_floor touch|orders|l3 FILE [--orders N] [--prefetch D] \
                     [--pages small|huge] [--tops OUT.csv]";

/// A mode's work per message, and its requests ahead.
trait Mode {
    /// Applies one message.
    fn step(&mut self, m: &[u8]);
    /// Requests what the message `d` ahead will need.
    fn far(&self, _m: &[u8]) {}
    /// Requests what the message `d / 2` ahead will need.
    fn near(&self, _m: &[u8]) {}
}

impl Mode for Touch {
    #[inline(always)]
    fn step(&mut self, m: &[u8]) {
        self.apply(m);
    }
    #[inline(always)]
    fn far(&self, m: &[u8]) {
        self.prefetch(m);
    }
}

/// A mode whose `apply` returns a value for the checksum.
struct Summed<T> {
    state: T,
    sum: u64,
}

impl Mode for Summed<Orders> {
    #[inline(always)]
    fn step(&mut self, m: &[u8]) {
        self.sum = self.sum.wrapping_add(self.state.apply(m)).rotate_left(1);
    }
    #[inline(always)]
    fn far(&self, m: &[u8]) {
        self.state.prefetch_message(m);
    }
}

impl Mode for Summed<L3Book> {
    #[inline(always)]
    fn step(&mut self, m: &[u8]) {
        self.sum = self.sum.wrapping_add(self.state.apply(m)).rotate_left(1);
    }
    #[inline(always)]
    fn far(&self, m: &[u8]) {
        self.state.prefetch_far(m);
    }
    #[inline(always)]
    fn near(&self, m: &[u8]) {
        self.state.prefetch_near(m);
    }
}

/// The most messages `--prefetch` may look ahead (the ring of framed messages holds them).
const MAX_AHEAD: usize = 32;

/// Runs `mode` over every message, with its requests `d` and `d / 2` messages ahead (none
/// when `d == 0`): one framing cursor fills a ring of the last `MAX_AHEAD` messages, whose
/// entry `d` back is applied. Returns the message count and the loop's wall and CPU seconds.
#[inline(never)]
fn drive<M: Mode>(bytes: &[u8], d: usize, mode: &mut M) -> (u64, f64, f64) {
    let cpu0 = thread_cpu_s();
    let start = Instant::now();
    let mut n = 0u64;
    let frames = Frames::new(bytes);
    if d == 0 {
        for m in frames {
            mode.step(m);
            n += 1;
        }
        return (n, start.elapsed().as_secs_f64(), thread_cpu_s() - cpu0);
    }
    let mut ring: [&[u8]; MAX_AHEAD] = [&[]; MAX_AHEAD];
    let mask = MAX_AHEAD - 1;
    let h = d / 2;
    let mut i = 0usize;
    for m in frames {
        ring[i & mask] = m;
        mode.far(m);
        if i >= h {
            mode.near(ring[(i - h) & mask]);
        }
        if i >= d {
            mode.step(ring[(i - d) & mask]);
        }
        i += 1;
    }
    // The last `d` messages (their requests were made in the loop).
    for j in i.saturating_sub(d)..i {
        mode.step(ring[j & mask]);
    }
    n += i as u64;
    (n, start.elapsed().as_secs_f64(), thread_cpu_s() - cpu0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path, rest) = match args.as_slice() {
        [m, f, rest @ ..] if ["touch", "orders", "l3"].contains(&m.as_str()) => {
            (m.as_str(), f, rest)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut expected = 1usize << 18;
    let mut d = 16usize;
    let mut tops: Option<&String> = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let v = it.next();
        match (a.as_str(), v) {
            ("--orders", Some(v)) if v.parse::<usize>().is_ok_and(|n| n > 0) => {
                expected = v.parse().unwrap_or(1);
            }
            ("--prefetch", Some(v)) if v.parse::<usize>().is_ok_and(|d| d < MAX_AHEAD) => {
                d = v.parse().unwrap_or(0);
            }
            ("--tops", Some(v)) if mode == "l3" => tops = Some(v),
            ("--pages", Some(v)) if v == "huge" || v == "small" => {
                fh_benches::floor::use_huge_pages(v == "huge");
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let cap = match Capture::open(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("book_floor: {e}");
            return ExitCode::from(1);
        }
    };
    let bytes = cap.bytes();
    let (n, sum, el, cpu);
    match mode {
        "touch" => {
            let mut t = Touch::new(expected);
            (n, el, cpu) = drive(bytes, d, &mut t);
            sum = t.sum;
        }
        "orders" => {
            let mut o = Summed {
                state: Orders::new(expected),
                sum: 0,
            };
            (n, el, cpu) = drive(bytes, d, &mut o);
            sum = o.sum;
            let o = o.state;
            println!(
                "orders: live {} growths {} anomalies {:?}",
                o.len(),
                o.growths,
                o.anomalies
            );
        }
        _ => {
            let mut b = Summed {
                state: L3Book::new(expected),
                sum: 0,
            };
            (n, el, cpu) = drive(bytes, d, &mut b);
            sum = b.sum;
            let b = b.state;
            let with_levels = b.locates_with_levels().count();
            println!(
                "l3: live {} instruments with levels {} growths {} anomalies {:?} level mismatch {}",
                b.orders.len(),
                with_levels,
                b.orders.growths,
                b.orders.anomalies,
                b.level_mismatch
            );
            if let Some(out) = tops {
                if let Err(e) = write_tops(&b, out) {
                    eprintln!("book_floor: {out}: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    println!("book_floor {mode}: messages {n} checksum {sum:016x} prefetch {d}");
    println!(
        "loop_s {el:.6} msgs_per_s {:.0} ns_per_msg {:.3} cpu_s {cpu:.6} cpu_ns_per_msg {:.3}",
        n as f64 / el,
        el * 1e9 / n as f64,
        cpu * 1e9 / n as f64
    );
    ExitCode::SUCCESS
}

/// CPU time of the calling thread, seconds (on a loaded machine the wall time also holds the
/// time other processes had the core).
fn thread_cpu_s() -> f64 {
    fh_feed::latency::clock::thread_cpu_ns() as f64 * 1e-9
}

fn price(p: Option<u32>) -> String {
    p.map_or(String::new(), |p| {
        format!("{}.{:04}", p / 10_000, p % 10_000)
    })
}

fn write_tops(b: &L3Book, out: &str) -> std::io::Result<()> {
    let mut rows: Vec<String> = b
        .locates_with_levels()
        .map(|l| {
            let bid = b.best(l, false);
            let ask = b.best(l, true);
            format!(
                "{},{},{},{},{}",
                b.symbol(l),
                price(bid.map(|t| t.price)),
                bid.map_or(String::new(), |t| t.shares.to_string()),
                price(ask.map(|t| t.price)),
                ask.map_or(String::new(), |t| t.shares.to_string()),
            )
        })
        .collect();
    rows.sort();
    let mut f = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(f, "symbol,bid,bid_size,ask,ask_size")?;
    for r in rows {
        writeln!(f, "{r}")?;
    }
    f.flush()
}
