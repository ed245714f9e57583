//! The realistic day (`fh gen --profile day`, `fh_replay::gen::day`) against its truth file,
//! read back only through fh's readers, its engine and the `fh` binary:
//!
//! - `fh gen --profile day` then `fh replay --report-json`: fh's final books (best bid and ask
//!   with shares and orders, of every symbol) and live-order count are the truth file's;
//! - the day's ITCH file message by message through the engine: the live-order count after
//!   every message peaks exactly where and as high as the truth says, the final books hash to
//!   the truth's `book_hash`, no anomaly of any kind.
//!
//! Scaled down (`--scale`) to run in seconds; the full day's size is checked by the unit tests
//! of `fh_replay::gen::day` and measured in `benches/peers_day.sh`.

use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_feed::update::{BookUpdate, Side};
use fh_replay::capture::Capture;
use fh_replay::gen::day::{book_hash, BookLevel, SymbolBook};
use fh_replay::gen::{self, Config, Format, Options, Profile, Stop};
use fh_tests::run_fh;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A file in a per-run temporary folder, removed with its truth file on drop.
struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(gen::truth_path(&self.0));
    }
}

fn tmp(name: &str) -> Tmp {
    let d = std::env::temp_dir().join(format!("fh-gen-day-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    Tmp(d.join(name))
}

fn truth(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(gen::truth_path(path)).unwrap()).unwrap()
}

/// `[price, shares, orders]` or null, as the truth and the report both write a level.
fn level(v: &Value) -> Option<(u64, u64, u64)> {
    let a = v.as_array()?;
    Some((a[0].as_u64()?, a[1].as_u64()?, a[2].as_u64()?))
}

#[test]
fn fh_gen_day_then_fh_replay_gives_the_truths_final_books() {
    let out = tmp("day.pcap");
    let path = out.0.to_str().unwrap();
    let (code, stdout, err) = run_fh([
        "gen",
        "--profile",
        "day",
        "--scale",
        "0.004",
        "--symbols",
        "2000",
        "--seed",
        "3",
        "--out",
        path,
    ]);
    assert_eq!(code, 0, "{err}");
    let line = String::from_utf8(stdout).unwrap();
    assert!(line.contains("live orders peak"), "{line}");
    let t = truth(&out.0);
    let day = &t["day"];
    assert_eq!(t["symbols"].as_u64(), Some(2000));
    let messages = t["messages"].as_u64().unwrap();
    assert!(messages > 100_000, "{messages}");
    assert!(day["live_orders_peak"].as_u64().unwrap() > 3_000, "{day}");
    assert_eq!(day["final_tops"].as_array().unwrap().len(), 2000);

    let report = tmp("day.report.json");
    let (code, _, err) = run_fh([
        "replay",
        path,
        "--no-latency",
        "--top",
        "100000",
        "--depth",
        "1",
        "--report-json",
        report.0.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report.0).unwrap()).unwrap();
    let e = &r["engine"];
    assert_eq!(e["itch_messages"].as_u64(), Some(messages));
    assert_eq!(e["live_orders"], day["live_orders_at_end"], "{e}");
    let anomalies: u64 = e["itch_anomalies"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(anomalies, 0, "{}", e["itch_anomalies"]);
    // Every symbol's best bid and ask, with shares and orders, are the truth's.
    let mut books = std::collections::HashMap::new();
    for b in r["books"].as_array().unwrap() {
        let best = |side: &str| b[side].as_array().and_then(|v| v.first()).and_then(level);
        books.insert(
            b["symbol"].as_str().unwrap().to_string(),
            (best("bids"), best("asks")),
        );
    }
    let mut compared = 0;
    for top in day["final_tops"].as_array().unwrap() {
        let sym = top[1].as_str().unwrap();
        let want = (level(&top[2]), level(&top[3]));
        let got = books.get(sym).copied().unwrap_or((None, None));
        assert_eq!(got, want, "final top of {sym}");
        compared += usize::from(want != (None, None));
    }
    assert!(compared > 1_000, "{compared} non-empty books");
}

/// Engine levels of every locate `1..=symbols`, as the generator's [`SymbolBook`]s.
fn engine_books(e: &Engine, symbols: u16) -> Vec<SymbolBook> {
    let side = |locate: u16, s: Side| -> Vec<BookLevel> {
        e.itch()
            .instrument(locate)
            .ladder(s)
            .iter_best_first()
            .map(|l| BookLevel {
                price: l.price as u32,
                shares: l.shares,
                orders: l.orders,
            })
            .collect()
    };
    (1..=symbols)
        .map(|loc| SymbolBook {
            bids: side(loc, Side::Bid),
            asks: side(loc, Side::Ask),
        })
        .collect()
}

#[test]
fn the_engine_sees_the_truths_live_order_peak_and_final_books() {
    let out = tmp("day.NASDAQ_ITCH50");
    let symbols = 1_000;
    let opts = Options {
        config: Config {
            symbols,
            seed: 11,
            stop: Stop::Messages(1),
        },
        profile: Profile::Day { scale: 0.003 },
        ..Options::default()
    };
    let s = gen::write_files(&opts, Format::Itch, &out.0).unwrap();
    let d = s.truth.day.clone().expect("a day's truth");
    let t = truth(&out.0);
    assert_eq!(t["day"]["live_orders_peak"].as_u64(), Some(d.peak.live));
    assert_eq!(
        t["day"]["book_hash"].as_str(),
        Some(format!("{:#018x}", d.book_hash).as_str())
    );

    let cap = Capture::open(&out.0).unwrap();
    let mut it = cap.itch_messages().unwrap();
    let mut e = Engine::new(&EngineConfig::default());
    let meta = DatagramMeta::default();
    let (mut n, mut peak, mut peak_at) = (0u64, 0usize, 0u64);
    let mut updates = 0u64;
    while let Some(m) = it.next_message() {
        let m = m.unwrap();
        e.on_itch_stream_message(0, &meta, m.data, &mut |_: &BookUpdate| updates += 1);
        n += 1;
        let live = e.itch().orders.len();
        if live > peak {
            (peak, peak_at) = (live, n);
        }
    }
    assert_eq!(n, s.messages);
    assert!(updates > n / 2);
    assert_eq!(e.anomaly_total(), 0, "{:?}", e.itch().anomalies);
    assert_eq!((peak as u64, peak_at), (d.peak.live, d.peak.at_seq));
    assert!(peak > 2_000, "{peak}");
    assert_eq!(e.itch().orders.len() as u64, d.live_at_end);
    let books = engine_books(&e, symbols);
    let hash = book_hash(books.iter().enumerate().map(|(i, b)| (i as u16 + 1, b)));
    assert_eq!(hash, d.book_hash);
    // The books are deep: resting orders far from the touch.
    let deep = books
        .iter()
        .filter(|b| b.bids.len() + b.asks.len() > 20)
        .count();
    assert!(deep > 10, "{deep} books deeper than 20 levels");
}

/// Packet faults and line B work on a day as on any capture, and the truth records both the
/// faults and the day; flags the day cannot honour are refused before anything is written.
#[test]
fn a_day_takes_faults_and_refuses_what_it_cannot_honour() {
    let out = tmp("faulty.pcap");
    let path = out.0.to_str().unwrap();
    let (code, _, err) = run_fh([
        "gen",
        "--profile",
        "day",
        "--scale",
        "0.001",
        "--symbols",
        "200",
        "--drop",
        "0.01",
        "--line-b",
        "233.49.196.111:26478",
        "--out",
        path,
    ]);
    assert_eq!(code, 0, "{err}");
    let t = truth(&out.0);
    assert_eq!(t["format"], "pcap");
    assert!(t["day"]["live_orders_peak"].as_u64().unwrap() > 100);
    let lines = t["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .all(|l| !l["dropped"].as_array().unwrap().is_empty()));

    let never = tmp("never.pcap");
    let never_path = never.0.to_str().unwrap();
    for (args, says) in [
        (
            &["--profile", "day", "--messages", "5000"][..],
            "--messages 5000",
        ),
        (&["--profile", "day", "--seconds", "60"][..], "--seconds 60"),
        (&["--profile", "day", "--scale", "9"][..], "--scale 9"),
        (
            &["--scale", "0.5"][..],
            "--scale 0.5: only with --profile day",
        ),
        (&["--profile", "night"][..], "--profile night"),
    ] {
        let mut a = vec!["gen", "--out", never_path];
        a.extend_from_slice(args);
        let (code, _, err) = run_fh(&a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(!never.0.exists(), "{args:?} wrote a file");
    }
}
