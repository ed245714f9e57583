//! The production IEX DEEP capture (2023-10-02, 5 000 packets) through the engine: the DEEP
//! books at 10 checkpoints and at the end equal books built independently here from the oracle
//! decode (tshark + OMI dissector JSON), and so does the book rebuilt from the published update
//! stream; the trades published equal the oracle's trade reports.

use fh_decoders::price::Price4;
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig, IEX_INSTRUMENT_BASE};
use fh_feed::update::{BookUpdate, Side, UpdateKind};
use fh_replay::capture::Capture;
use fh_replay::frame;
use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

/// (symbol, side 0 bid / 1 ask, price raw) → size.
type Book = BTreeMap<(String, u8, i64), u64>;

struct OracleMsg {
    frame: u64,
    seq: u64,
    kind: OracleKind,
}

enum OracleKind {
    Plu {
        symbol: String,
        side: u8,
        price: i64,
        size: u64,
    },
    Trade {
        symbol: String,
        price: i64,
        size: u64,
    },
    Other,
}

fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("oracle field {k} missing in {v}"))
}

fn price(s: &str) -> i64 {
    Price4::parse(s)
        .unwrap_or_else(|| panic!("oracle price {s:?} is not an exact 4-decimal number"))
        .raw()
}

fn load_oracle(dir: &std::path::Path) -> Vec<OracleMsg> {
    let path = dir.join("oracle/test.Iex_IexEquities_Deep_IexTp_v1_08.jsonl.gz");
    let f = std::fs::File::open(&path).expect("oracle file");
    let mut out = Vec::new();
    for line in BufReader::new(GzDecoder::new(f)).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let msg = &v["msg"];
        if msg.is_null() {
            continue;
        }
        let hdr = &v["hdr"];
        let first: u64 = field(hdr, "firstmessagesequencenumber").parse().unwrap();
        let index: u64 = field(msg, "messageindex").parse().unwrap();
        let t = field(msg, "messagetype");
        let kind = match t {
            "8" | "5" => OracleKind::Plu {
                symbol: field(msg, "symbol").to_string(),
                side: u8::from(t == "5"),
                price: price(field(msg, "price")),
                size: field(msg, "size").parse().unwrap(),
            },
            "T" => OracleKind::Trade {
                symbol: field(msg, "symbol").to_string(),
                price: price(field(msg, "price")),
                size: field(msg, "size").parse().unwrap(),
            },
            _ => OracleKind::Other,
        };
        out.push(OracleMsg {
            frame: v["frame"].as_u64().unwrap(),
            seq: first + index - 1,
            kind,
        });
    }
    out
}

fn apply_oracle(book: &mut Book, m: &OracleMsg) {
    if let OracleKind::Plu {
        symbol,
        side,
        price,
        size,
    } = &m.kind
    {
        let k = (symbol.clone(), *side, *price);
        if *size == 0 {
            book.remove(&k);
        } else {
            book.insert(k, *size);
        }
    }
}

fn engine_book(e: &Engine) -> Book {
    let mut b = Book::new();
    for (_, d) in e.deep().instruments() {
        for (side, ladder) in [(0u8, &d.bids), (1u8, &d.asks)] {
            assert!(ladder.is_well_formed());
            for l in ladder.iter_best_first() {
                b.insert((d.symbol_str().to_string(), side, l.price), l.shares);
            }
        }
    }
    b
}

fn symbol_of(e: &Engine, u: &BookUpdate) -> String {
    let slot = u.instrument - IEX_INSTRUMENT_BASE;
    e.deep().instrument(slot).symbol_str().to_string()
}

#[test]
fn deep_books_match_the_oracle_at_checkpoints() {
    let Some(real) = fh_tests::real_pcaps_or_skip("deep_books_match_the_oracle_at_checkpoints")
    else {
        return;
    };
    let dir = real.join("iex-deep-20231002-sai271828");
    let oracle = load_oracle(&dir);
    assert_eq!(oracle.len(), 48_325, "oracle message count (PROVENANCE.md)");
    let cap = Capture::open(dir.join("test.pcap")).unwrap();
    let records: Vec<_> = cap.records().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 5000);

    let checkpoints: Vec<u64> = (1..=10).map(|i| i * 5000 / 11).collect();
    let mut e = Engine::new(&EngineConfig::default());
    let mut oracle_book = Book::new();
    let mut next_oracle = 0;
    // Updates are collected per datagram and applied to a book rebuilt from the stream.
    let mut stream_book: BTreeMap<(u32, u8, i64), u64> = BTreeMap::new();
    let mut trades: Vec<(u32, i64, u64, u64)> = Vec::new();
    let mut last_seq = 0;
    let mut checked = 0;
    for (i, r) in records.iter().enumerate() {
        let frame_no = i as u64 + 1;
        let d = frame::udp_payload(r.link, r.data).unwrap();
        let mut updates: Vec<BookUpdate> = Vec::new();
        e.on_datagram(
            r.ts_ns,
            &DatagramMeta { recv_ts: r.ts_ns },
            d.payload,
            &mut |u: &BookUpdate| updates.push(*u),
        );
        for u in &updates {
            assert!(u.seq >= last_seq, "updates in sequence order");
            last_seq = u.seq;
            assert!(!u.flags.stale(), "contiguous capture: nothing stale");
            let side = u8::from(u.side == Side::Ask);
            match u.kind {
                UpdateKind::AddLevel | UpdateKind::ChangeLevel => {
                    stream_book.insert((u.instrument, side, u.price), u.shares);
                }
                UpdateKind::DeleteLevel => {
                    assert!(stream_book.remove(&(u.instrument, side, u.price)).is_some());
                }
                UpdateKind::Trade => trades.push((u.instrument, u.price, u.shares, u.seq)),
                _ => {}
            }
        }
        while next_oracle < oracle.len() && oracle[next_oracle].frame <= frame_no {
            apply_oracle(&mut oracle_book, &oracle[next_oracle]);
            next_oracle += 1;
        }
        if checkpoints.contains(&frame_no) || frame_no == 5000 {
            assert_eq!(
                engine_book(&e),
                oracle_book,
                "DEEP book differs at frame {frame_no}"
            );
            // The stream-built book equals the engine's for every symbol with no open event.
            let open: Vec<u32> = e
                .deep()
                .instruments()
                .filter(|(_, d)| d.in_event)
                .map(|(s, _)| s + IEX_INSTRUMENT_BASE)
                .collect();
            let from_stream: Book = stream_book
                .iter()
                .filter(|(k, _)| !open.contains(&k.0))
                .map(|(k, v)| {
                    let slot = k.0 - IEX_INSTRUMENT_BASE;
                    (
                        (e.deep().instrument(slot).symbol_str().to_string(), k.1, k.2),
                        *v,
                    )
                })
                .collect();
            let engine_closed: Book = engine_book(&e)
                .into_iter()
                .filter(|(k, _)| {
                    e.deep()
                        .find(&fh_feed::engine::itch_book::pad_symbol(&k.0))
                        .is_some_and(|s| !open.contains(&(s + IEX_INSTRUMENT_BASE)))
                })
                .collect();
            assert_eq!(
                from_stream, engine_closed,
                "update stream differs at frame {frame_no}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 11);
    assert!(!oracle_book.is_empty(), "the capture builds books");
    // Trades: same symbols, prices, sizes and sequence numbers as the oracle's T messages.
    let want: Vec<(String, i64, u64, u64)> = oracle
        .iter()
        .filter_map(|m| match &m.kind {
            OracleKind::Trade {
                symbol,
                price,
                size,
            } => Some((symbol.clone(), *price, *size, m.seq)),
            _ => None,
        })
        .collect();
    let got: Vec<(String, i64, u64, u64)> = trades
        .iter()
        .map(|&(id, p, s, q)| {
            let u = BookUpdate {
                instrument: id,
                ..Default::default()
            };
            (symbol_of(&e, &u), p, s, q)
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(e.counters().iex_messages(), 48_325);
    assert_eq!(e.iex_seq().stats.gaps, 0);
    assert_eq!(e.deep().anomalies.crossed, 0);
}
