//! End-to-end tests of the synthetic exchange (`fh gen`, `fh_replay::gen`).
//!
//! Every capture is read back with the replay readers and the decoders, never with the
//! generator's own code: zero decode errors, contiguous sequence numbers, all 23 message types,
//! the order-lifecycle invariants over a million messages, each fault option against the truth
//! file, byte-identical output for the same seed.

use fh_decoders::itch50::{self, Message};
use fh_decoders::moldudp64::{DecodeStats, Packet, PacketError};
use fh_replay::capture::{Capture, Kind};
use fh_replay::frame::{udp_payload, FrameStats};
use fh_replay::gen::{self, Config, Endpoint, FaultRates, Format, Generator, Options, Stop};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

/// A file in a per-run temporary folder; it and its truth file are removed on drop.
struct Tmp(PathBuf);

impl std::ops::Deref for Tmp {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Tmp {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(gen::truth_path(&self.0));
    }
}

fn tmp(name: &str) -> Tmp {
    let d = std::env::temp_dir().join(format!("fh-gen-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    Tmp(d.join(name))
}

fn opts(messages: u64, symbols: u16, seed: u64) -> Options {
    Options {
        config: Config {
            symbols,
            seed,
            stop: Stop::Messages(messages),
        },
        ..Options::default()
    }
}

const LINE_B: Endpoint = Endpoint {
    group: std::net::Ipv4Addr::new(233, 49, 196, 111),
    port: 26478,
};

/// One UDP datagram of the capture, in file order.
struct Dgram {
    ts_ns: u64,
    dst: SocketAddrV4,
    payload: Vec<u8>,
}

fn datagrams(path: &Path) -> Vec<Dgram> {
    let cap = Capture::open(path).unwrap();
    assert_eq!(cap.kind(), Kind::Pcap);
    let mut fs = FrameStats::default();
    let mut out = Vec::new();
    for r in cap.records().unwrap() {
        let r = r.unwrap();
        let d = fs
            .count(udp_payload(r.link, r.data))
            .expect("every frame is UDP");
        out.push(Dgram {
            ts_ns: r.ts_ns,
            dst: d.dst,
            payload: d.payload.to_vec(),
        });
    }
    assert_eq!(fs.skipped(), 0);
    out
}

/// Decodes a clean capture: every message, in sequence order, with zero errors of any kind.
fn decode_clean(path: &Path) -> (Vec<Vec<u8>>, DecodeStats) {
    let mut st = DecodeStats::default();
    let mut msgs = Vec::new();
    let mut next = 1u64;
    let mut last_ts = 0;
    let mut ended = false;
    for d in datagrams(path) {
        assert!(!ended, "nothing after end of session");
        assert!(d.ts_ns >= last_ts, "pcap time went back");
        last_ts = d.ts_ns;
        match Packet::parse_counted(&d.payload, &mut st).unwrap() {
            Packet::Data(p) => {
                assert_eq!(p.sequence_number(), next, "gap or duplicate");
                for m in p.messages(&mut st) {
                    let (_, m) = m;
                    msgs.push(m.as_bytes().to_vec());
                }
                next = p.next_sequence();
            }
            Packet::Heartbeat(h) => assert_eq!(h.sequence_number(), next),
            Packet::EndOfSession(h) => {
                assert_eq!(h.sequence_number(), next);
                ended = true;
            }
            Packet::Request(_) => panic!("request packet in a downstream feed"),
        }
    }
    assert!(ended, "the capture ends with End of Session");
    assert_eq!(st.malformed_packets(), 0);
    assert_eq!(
        (
            st.unknown_types,
            st.truncated,
            st.long_messages,
            st.empty_blocks
        ),
        (0, 0, 0, 0)
    );
    (msgs, st)
}

#[test]
fn capture_decodes_with_zero_errors_and_has_all_23_types() {
    let path = tmp("types.pcap");
    let o = opts(100_000, 50, 11);
    let s = gen::write_files(&o, Format::Pcap, &path).unwrap();
    let (msgs, st) = decode_clean(&path);
    assert_eq!(msgs.len() as u64, 100_000);
    assert_eq!(st.messages, 100_000);
    assert_eq!(s.truth.data_packets, st.data_packets);
    assert_eq!(s.truth.heartbeats, st.heartbeats);
    assert!(st.heartbeats >= 2, "quiet periods give heartbeats");
    // Bursts are packed: far fewer packets than messages, none over 1400 bytes.
    assert!(st.data_packets * 3 < 100_000, "{} packets", st.data_packets);
    assert!(datagrams(&path).iter().all(|d| d.payload.len() <= 1400));
    let types: HashSet<u8> = msgs.iter().map(|m| m[0]).collect();
    for t in itch50::ALL_TYPES {
        assert!(types.contains(&t), "type {} missing", t as char);
    }
    let frames = datagrams(&path);
    assert!(frames
        .iter()
        .all(|d| d.dst == SocketAddrV4::new(o.line_a.group, o.line_a.port)));
}

#[test]
fn itch_file_holds_the_same_messages_as_the_pcap() {
    let (p, i, z) = (
        tmp("same.pcap"),
        tmp("same.NASDAQ_ITCH50"),
        tmp("same.NASDAQ_ITCH50.gz"),
    );
    let o = opts(30_000, 10, 4);
    gen::write_files(&o, Format::Pcap, &p).unwrap();
    gen::write_files(&o, Format::Itch, &i).unwrap();
    gen::write_files(&o, Format::Itch, &z).unwrap();
    let (from_pcap, _) = decode_clean(&p);
    for (file, gz) in [(&i, false), (&z, true)] {
        let cap = Capture::open(file).unwrap();
        assert_eq!(cap.kind(), if gz { Kind::ItchGz } else { Kind::Itch });
        let mut it = cap.itch_messages().unwrap();
        let mut from_itch = Vec::new();
        while let Some(m) = it.next_message() {
            let m = m.unwrap();
            assert!(Message::parse(m.data).is_ok());
            from_itch.push(m.data.to_vec());
        }
        assert!(from_itch == from_pcap, "{}", file.display());
    }
    assert!(std::fs::metadata(&z).unwrap().len() * 2 < std::fs::metadata(&i).unwrap().len());
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(gen::truth_path(&i)).unwrap()).unwrap();
    assert_eq!(
        (t["format"].as_str(), t["messages"].as_u64()),
        (Some("itch"), Some(30_000))
    );
}

/// Order-lifecycle invariants over a million messages, decoded from the generator's bytes.
#[test]
fn lifecycle_invariants_over_a_million_messages() {
    let mut g = Generator::new(Config {
        symbols: 200,
        seed: 77,
        stop: Stop::Messages(1_000_000),
    })
    .unwrap();
    let mut buf = [0u8; 64];
    // ref -> (locate, side, price, shares)
    let mut live: HashMap<u64, (u16, u8, u32, u32)> = HashMap::new();
    let mut refs = HashSet::new();
    let mut matches = HashSet::new();
    let mut n = 0u64;
    let mut last_ts = 0;
    while let Some((ts, len)) = g.next_message(&mut buf) {
        n += 1;
        assert!(ts >= last_ts);
        last_ts = ts;
        let m = Message::parse(&buf[..len]).unwrap();
        assert_eq!(m.as_bytes().len(), len);
        let loc = m.stock_locate().unwrap();
        let mut take = |r: u64, k: u32, what: &str| {
            let o = live
                .get_mut(&r)
                .unwrap_or_else(|| panic!("message {n}: {what} on unknown order {r}"));
            assert_eq!(o.0, loc, "message {n}: {what} on another symbol's order");
            assert!(
                k >= 1 && k <= o.3,
                "message {n}: {what} of {k} shares, order has {}",
                o.3
            );
            o.3 -= k;
            if o.3 == 0 {
                live.remove(&r);
            }
        };
        match m {
            Message::AddOrder(a) => {
                assert!(
                    refs.insert(a.order_reference_number()),
                    "duplicate reference number"
                );
                live.insert(
                    a.order_reference_number(),
                    (loc, a.buy_sell_indicator, a.price().0 as u32, a.shares()),
                );
            }
            Message::AddOrderMpid(a) => {
                assert!(
                    refs.insert(a.order_reference_number()),
                    "duplicate reference number"
                );
                live.insert(
                    a.order_reference_number(),
                    (loc, a.buy_sell_indicator, a.price().0 as u32, a.shares()),
                );
            }
            Message::OrderExecuted(e) => {
                assert!(matches.insert(e.match_number()));
                take(e.order_reference_number(), e.executed_shares(), "E");
            }
            Message::OrderExecutedWithPrice(c) => {
                assert!(matches.insert(c.match_number()));
                take(c.order_reference_number(), c.executed_shares(), "C");
            }
            Message::OrderCancel(x) => take(x.order_reference_number(), x.cancelled_shares(), "X"),
            Message::OrderDelete(d) => {
                let o = live.remove(&d.order_reference_number());
                assert!(
                    o.is_some_and(|o| o.0 == loc),
                    "message {n}: D on unknown order"
                );
            }
            Message::OrderReplace(u) => {
                let o = live
                    .remove(&u.original_order_reference_number())
                    .expect("U on unknown order");
                assert_eq!(o.0, loc);
                assert!(
                    refs.insert(u.new_order_reference_number()),
                    "duplicate reference number"
                );
                live.insert(
                    u.new_order_reference_number(),
                    (o.0, o.1, u.price().0 as u32, u.shares()),
                );
            }
            Message::Trade(p) => assert!(matches.insert(p.match_number())),
            Message::CrossTrade(q) => assert!(matches.insert(q.match_number())),
            _ => {}
        }
    }
    assert_eq!(n, 1_000_000);
    // The generator's own view of the final book is what the messages built.
    let mut ours: Vec<_> = g
        .live_orders()
        .map(|o| (o.order_ref, o.locate, o.side, o.price, o.shares))
        .collect();
    let mut built: Vec<_> = live
        .iter()
        .map(|(&r, &(l, s, p, q))| (r, l, s, p, q))
        .collect();
    ours.sort_unstable();
    built.sort_unstable();
    assert_eq!(ours, built);
    assert!(ours.len() <= 200 * gen::flow::MAX_LIVE_PER_SYMBOL);
}

#[test]
fn same_seed_byte_identical_different_seed_differs() {
    let read = |p: &Path| {
        (
            std::fs::read(p).unwrap(),
            std::fs::read(gen::truth_path(p)).unwrap(),
        )
    };
    let mut o = opts(40_000, 20, 5);
    o.rates = FaultRates {
        drop: 0.01,
        dup: 0.01,
        reorder: 0.01,
        corrupt: 0.01,
    };
    o.line_b = Some(LINE_B);
    let (a, b, c) = (tmp("det-a.pcap"), tmp("det-b.pcap"), tmp("det-c.pcap"));
    gen::write_files(&o, Format::Pcap, &a).unwrap();
    gen::write_files(&o, Format::Pcap, &b).unwrap();
    o.config.seed = 6;
    gen::write_files(&o, Format::Pcap, &c).unwrap();
    assert!(read(&a) == read(&b), "same seed, different bytes");
    assert!(read(&a).0 != read(&c).0, "different seeds, same capture");
    // Through write_day (what `fh gen` runs) too, as ITCH files.
    let job = |out: &Path, seed: u64| gen::GenJob {
        opts: Options {
            session: gen::parse_session("CLI0000001").unwrap(),
            ..opts(20_000, 8, seed)
        },
        format: Format::Itch,
        out: out.to_path_buf(),
    };
    let (d, e, f) = (
        tmp("d.NASDAQ_ITCH50"),
        tmp("e.NASDAQ_ITCH50"),
        tmp("f.NASDAQ_ITCH50"),
    );
    let rd = gen::write_day(&job(&d, 1)).unwrap();
    gen::write_day(&job(&e, 1)).unwrap();
    gen::write_day(&job(&f, 2)).unwrap();
    assert!(read(&d) == read(&e));
    assert!(read(&d).0 != read(&f).0);
    // The report's figures are the files'.
    assert_eq!(rd.summary.messages, 20_000);
    assert_eq!((rd.summary.frames, rd.packets()), (0, 0));
    assert_eq!(rd.bytes, std::fs::metadata(&*d).unwrap().len());
    assert_eq!(rd.truth_path, gen::truth_path(&d));
    assert!(rd.secs > 0.0 && rd.messages_per_sec() > 0.0);
}

// ---- faults against the truth file ----

/// A packet as seen on one line: its sequence number and message count, or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Ok { seq: u64, count: u16 },
    Malformed { seq: u64, err: PacketError },
}

fn seq_of(payload: &[u8]) -> u64 {
    u64::from_be_bytes(payload[10..18].try_into().unwrap())
}

fn per_line(path: &Path, ep: Endpoint) -> Vec<Seen> {
    datagrams(path)
        .into_iter()
        .filter(|d| d.dst == SocketAddrV4::new(ep.group, ep.port))
        .map(|d| match Packet::parse(&d.payload) {
            Ok(p) => Seen::Ok {
                seq: p.header().sequence_number(),
                count: p.header().message_count(),
            },
            Err(err) => Seen::Malformed {
                seq: seq_of(&d.payload),
                err,
            },
        })
        .collect()
}

fn ranges(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect()
}

/// Rebuilds what line `name` must look like from the clean packet list and the truth, and
/// compares it with what the capture holds.
fn check_line_against_truth(
    clean: &[Seen],
    seen: &[Seen],
    truth: &Value,
    name: &str,
) -> (usize, usize, usize, usize) {
    let line = truth["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap();
    let dropped: HashSet<u64> = ranges(&line["dropped"]).into_iter().map(|r| r.0).collect();
    let dup: HashSet<u64> = ranges(&line["duplicated"])
        .into_iter()
        .map(|r| r.0)
        .collect();
    let late: HashMap<u64, u64> = line["reordered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["late"][0].as_u64().unwrap(),
                r["early"][0].as_u64().unwrap(),
            )
        })
        .collect();
    let corrupted: HashMap<u64, String> = line["corrupted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["seq"][0].as_u64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Ranges name whole packets: [first, first + count - 1].
    for r in ranges(&line["dropped"])
        .iter()
        .chain(&ranges(&line["duplicated"]))
    {
        let c = clean
            .iter()
            .find(|p| matches!(p, Seen::Ok { seq, count } if *seq == r.0 && *count != 0 && *count != 0xFFFF))
            .unwrap();
        let Seen::Ok { count, .. } = c else {
            unreachable!()
        };
        assert_eq!(r.1, r.0 + u64::from(*count) - 1);
    }
    let mut expect = Vec::new();
    let mut held: Option<Seen> = None;
    for p in clean {
        let Seen::Ok { seq, count } = *p else {
            unreachable!()
        };
        let data = count != 0 && count != 0xFFFF;
        let me = if data && corrupted.contains_key(&seq) {
            None // compared below: malformed with this sequence number
        } else {
            Some(p.clone())
        };
        let me = me.unwrap_or(Seen::Malformed {
            seq,
            err: PacketError::TooShort,
        });
        if data && dropped.contains(&seq) {
            continue;
        }
        if data && late.contains_key(&seq) {
            held = Some(me);
            continue;
        }
        expect.push(me.clone());
        if data && dup.contains(&seq) {
            expect.push(me);
        }
        if let Some(h) = held.take() {
            expect.push(h);
        }
    }
    assert!(held.is_none());
    if expect.len() != seen.len() {
        let i = expect
            .iter()
            .zip(seen)
            .position(|(e, s)| {
                e != s && !matches!((e, s), (Seen::Malformed { .. }, Seen::Malformed { .. }))
            })
            .unwrap_or(0);
        panic!(
            "line {name}: {} packets expected, {} seen; first difference at {i}: {:?} vs {:?}",
            expect.len(),
            seen.len(),
            &expect[i.saturating_sub(3)..i + 3],
            &seen[i.saturating_sub(3)..i + 3]
        );
    }
    for (e, s) in expect.iter().zip(seen) {
        match (e, s) {
            (Seen::Malformed { seq: a, .. }, Seen::Malformed { seq: b, err }) => {
                assert_eq!(a, b);
                let want = match corrupted[a].as_str() {
                    "count_mismatch" => PacketError::CountMismatch,
                    "truncated" | "block_length" => PacketError::BlockOverrun,
                    k => panic!("unknown corruption kind {k}"),
                };
                assert_eq!(*err, want, "seq {a}");
            }
            _ => assert_eq!(e, s, "line {name}"),
        }
    }
    assert_eq!(line["packets_written"].as_u64(), Some(seen.len() as u64));
    (dropped.len(), dup.len(), late.len(), corrupted.len())
}

/// Fault counts `(dropped, duplicated, reordered, corrupted)` per line, and the capture.
type FaultCounts = Vec<(usize, usize, usize, usize)>;

fn fault_run(tag: &str, rates: FaultRates, line_b: bool) -> (FaultCounts, Tmp) {
    let base = opts(60_000, 20, 21);
    let clean_path = tmp(&format!("{tag}-clean.pcap"));
    gen::write_files(&base, Format::Pcap, &clean_path).unwrap();
    let clean = per_line(&clean_path, base.line_a);
    let mut o = base.clone();
    o.rates = rates;
    o.line_b = line_b.then_some(LINE_B);
    let path = tmp(&format!("{tag}.pcap"));
    gen::write_files(&o, Format::Pcap, &path).unwrap();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(gen::truth_path(&path)).unwrap()).unwrap();
    assert_eq!(truth["messages"].as_u64(), Some(60_000));
    assert_eq!(truth["last_seq"].as_u64(), Some(60_000));
    let mut out = vec![check_line_against_truth(
        &clean,
        &per_line(&path, o.line_a),
        &truth,
        "A",
    )];
    if line_b {
        out.push(check_line_against_truth(
            &clean,
            &per_line(&path, LINE_B),
            &truth,
            "B",
        ));
    } else {
        assert_eq!(truth["lines"].as_array().unwrap().len(), 1);
    }
    (out, path)
}

#[test]
fn drop_matches_truth() {
    let (r, _) = fault_run(
        "drop",
        FaultRates {
            drop: 0.02,
            ..Default::default()
        },
        false,
    );
    assert!(r[0].0 > 10 && r[0].1 + r[0].2 + r[0].3 == 0, "{r:?}");
}

#[test]
fn dup_matches_truth() {
    let (r, _) = fault_run(
        "dup",
        FaultRates {
            dup: 0.02,
            ..Default::default()
        },
        false,
    );
    assert!(r[0].1 > 10 && r[0].0 + r[0].2 + r[0].3 == 0, "{r:?}");
}

#[test]
fn reorder_matches_truth() {
    let (r, _) = fault_run(
        "reorder",
        FaultRates {
            reorder: 0.02,
            ..Default::default()
        },
        false,
    );
    assert!(r[0].2 > 10 && r[0].0 + r[0].1 + r[0].3 == 0, "{r:?}");
}

#[test]
fn corrupt_matches_truth_and_is_always_malformed() {
    let (r, _) = fault_run(
        "corrupt",
        FaultRates {
            corrupt: 0.03,
            ..Default::default()
        },
        false,
    );
    assert!(r[0].3 > 10 && r[0].0 + r[0].1 + r[0].2 == 0, "{r:?}");
}

#[test]
fn line_b_has_same_packets_and_its_own_drops() {
    let (r, path) = fault_run(
        "lineb",
        FaultRates {
            drop: 0.03,
            ..Default::default()
        },
        true,
    );
    assert!(r[0].0 > 10 && r[1].0 > 10);
    // Independent drops: the two lines did not lose the same packets.
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(gen::truth_path(&path)).unwrap()).unwrap();
    assert_ne!(truth["lines"][0]["dropped"], truth["lines"][1]["dropped"]);
    // A packet both lines carry has the same bytes on both.
    let all = datagrams(&path);
    let is_data = |p: &[u8]| matches!(Packet::parse(p), Ok(Packet::Data(_)));
    let a: HashMap<u64, &Vec<u8>> = all
        .iter()
        .filter(|d| d.dst.ip() != &LINE_B.group && is_data(&d.payload))
        .map(|d| (seq_of(&d.payload), &d.payload))
        .collect();
    let mut shared = 0;
    for d in all
        .iter()
        .filter(|d| d.dst.ip() == &LINE_B.group && is_data(&d.payload))
    {
        if let Some(p) = a.get(&seq_of(&d.payload)) {
            assert_eq!(*p, &d.payload);
            shared += 1;
        }
    }
    assert!(shared > 1000);
}

#[test]
fn all_faults_together_on_two_lines_match_truth() {
    let rates = FaultRates {
        drop: 0.01,
        dup: 0.01,
        reorder: 0.01,
        corrupt: 0.01,
    };
    let (r, _) = fault_run("all", rates, true);
    for l in r {
        assert!(l.0 > 0 && l.1 > 0 && l.2 > 0 && l.3 > 0, "{l:?}");
    }
}

/// `pcaps/README.md` gives the command that made `pcaps/sample.pcap`; it must still make it.
#[test]
fn bundled_sample_is_what_the_readme_command_makes() {
    let root = fh_tests::workspace_root();
    let readme = std::fs::read_to_string(root.join("pcaps/README.md")).unwrap();
    assert!(readme.contains(
        "cargo run --release -- gen --out pcaps/sample.pcap --messages 100000 --symbols 50 --seed 1"
    ));
    let out = tmp("sample.pcap");
    // What that command line becomes (checked in fh-feed's cli::gen tests): the default
    // options (line A 233.54.12.111:26477, session FHGEN00001, no faults) with this day.
    let job = gen::GenJob {
        opts: opts(100_000, 50, 1),
        format: Format::Pcap,
        out: out.to_path_buf(),
    };
    gen::write_day(&job).unwrap();
    let bundled = std::fs::read(root.join("pcaps/sample.pcap")).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == bundled,
        "pcaps/sample.pcap is stale: regenerate it"
    );
    assert_eq!(
        std::fs::read(gen::truth_path(&out)).unwrap(),
        std::fs::read(root.join("pcaps/sample.pcap.truth.json")).unwrap()
    );
    let (msgs, _) = decode_clean(&root.join("pcaps/sample.pcap"));
    assert_eq!(msgs.len(), 100_000);
}

/// `fh gen` then `fh decode`, as a user runs them: the capture decodes with zero errors.
#[test]
fn fh_gen_output_decodes_with_fh_decode_with_zero_errors() {
    use fh_tests::run_fh;
    for (name, extra) in [
        ("cli.pcap", &[][..]),
        ("cli-ab.pcap", &["--line-b", "233.49.196.111:26478"][..]),
        ("cli.NASDAQ_ITCH50", &["--format", "itch"][..]),
    ] {
        let out = tmp(name);
        let mut args = vec![
            "gen",
            "--out",
            out.to_str().unwrap(),
            "--messages",
            "20000",
            "--symbols",
            "12",
            "--seed",
            "3",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, err) = run_fh(&args);
        assert_eq!(code, 0, "{err}");
        let line = String::from_utf8(stdout).unwrap();
        assert!(
            line.starts_with("fh gen: ")
                && line.contains("20000 messages")
                && line.contains("messages/s"),
            "{line}"
        );
        let (code, decoded, err) = run_fh(["decode", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let lines = if extra.contains(&"--line-b") { 2 } else { 1 };
        assert!(
            err.contains(&format!("{} messages decoded", 20_000 * lines)),
            "{name}: {err}"
        );
        assert!(!err.contains("dropped"), "{name}: {err}");
        assert_eq!(
            decoded.iter().filter(|&&b| b == b'\n').count(),
            20_000 * lines
        );
    }
    // Bad arguments: exit 2, one line naming the value.
    let (code, _, err) = run_fh(["gen", "--out", "/nonexistent/x.pcap", "--drop", "2"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--drop 2") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = run_fh([
        "gen",
        "--out",
        "/nonexistent/dir/x.pcap",
        "--messages",
        "5000",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/dir/x.pcap"), "{err}");
}

/// The engine's books, built from a generated capture (line A and line B with independent
/// drops, arbitrated by sequence number), end exactly as the generator's own view of the book,
/// with no anomaly of any kind.
#[test]
fn engine_books_from_generated_capture_match_generator_view() {
    use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
    use fh_feed::update::Side;
    let path = tmp("books.pcap");
    // The first seed whose two lines never lose the same packet, so arbitration between them
    // recovers every message (about one seed in four loses a packet on both at this rate).
    let (cfg, s) = (8..20)
        .find_map(|seed| {
            let cfg = Config {
                symbols: 30,
                seed,
                stop: Stop::Messages(300_000),
            };
            let o = Options {
                config: cfg,
                rates: FaultRates {
                    drop: 0.003,
                    ..Default::default()
                },
                line_b: Some(LINE_B),
                ..Options::default()
            };
            let s = gen::write_files(&o, Format::Pcap, &path).unwrap();
            let lost_a: HashSet<_> = s.truth.lines[0].2.dropped.iter().collect();
            let both = s.truth.lines[1]
                .2
                .dropped
                .iter()
                .any(|r| lost_a.contains(r));
            (!both && !lost_a.is_empty()).then_some((cfg, s))
        })
        .expect("a seed without packets lost on both lines");
    assert!(!s.truth.lines[1].2.dropped.is_empty());
    // The generator's final book, from a run of its own.
    let mut g = Generator::new(cfg).unwrap();
    let mut buf = [0u8; 64];
    while g.next_message(&mut buf).is_some() {}
    let mut engine = Engine::new(&EngineConfig::default());
    let mut updates = 0u64;
    for d in datagrams(&path) {
        let meta = DatagramMeta { recv_ts: d.ts_ns };
        engine.on_datagram(
            d.ts_ns,
            &meta,
            &d.payload,
            &mut |_: &fh_feed::update::BookUpdate| updates += 1,
        );
    }
    assert!(updates > 200_000);
    assert_eq!(engine.anomaly_total(), 0, "{:?}", engine.itch().anomalies);
    assert_eq!(engine.counters().itch_messages(), 300_000);
    for loc in 1..=30u16 {
        let (bids, asks) = g.levels(loc);
        let inst = engine.itch().instrument(loc);
        let theirs = |side: Side| -> Vec<(i64, u64)> {
            inst.ladder(side)
                .iter_best_first()
                .map(|l| (l.price, l.shares))
                .collect()
        };
        let ours = |v: &[gen::Level]| -> Vec<(i64, u64)> {
            v.iter().map(|l| (i64::from(l.price), l.shares)).collect()
        };
        assert_eq!(theirs(Side::Bid), ours(&bids), "bids of locate {loc}");
        assert_eq!(theirs(Side::Ask), ours(&asks), "asks of locate {loc}");
    }
}
