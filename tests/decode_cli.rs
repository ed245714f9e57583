//! `fh decode` end to end: the production IEX DEEP capture, its upstream expected output, the
//! same traffic through every capture format, and bad input.

use fh_replay::frame::LinkType;
use fh_replay::writer::{
    Endian, ItchFileWriter, PcapOptions, PcapWriter, PcapngWriter, TsPrecision,
};
use fh_tests::{real_pcaps_or_skip, run_fh};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn json_lines(stdout: &[u8]) -> Vec<Map<String, Value>> {
    std::str::from_utf8(stdout)
        .expect("utf-8")
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(m)) => m,
            other => panic!("not a JSON object: {other:?}: {l}"),
        })
        .collect()
}

fn decode(file: &Path, extra: &[&str]) -> Vec<Map<String, Value>> {
    let mut args = vec!["decode", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    let (code, out, err) = run_fh(&args);
    assert_eq!(code, 0, "fh {args:?}: {err}");
    json_lines(&out)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-decode-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn production_deep_capture_counts_and_sequence() {
    let Some(root) = real_pcaps_or_skip("production_deep_capture_counts_and_sequence") else {
        return;
    };
    let file = root.join("iex-deep-20231002-sai271828/test.pcap");
    let (code, out, err) = run_fh(["decode", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(": 5000 records, 48325 messages decoded"),
        "summary: {err}"
    );
    assert!(!err.contains("dropped"), "nothing may be dropped: {err}");
    let msgs = json_lines(&out);
    assert_eq!(msgs.len(), 48_325);
    let mut by_type = BTreeMap::new();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            m["seq"].as_u64(),
            Some(i as u64 + 1),
            "sequence numbers are contiguous from 1"
        );
        assert_eq!(m["session_id"].as_u64(), Some(1_286_602_752));
        *by_type
            .entry(m["type"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    let want: BTreeMap<String, i32> = [
        ("P", 11594),
        ("O", 11317),
        ("H", 11311),
        ("I", 11309),
        ("8", 1526),
        ("5", 1226),
        ("T", 37),
        ("D", 3),
        ("S", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(by_type, want);
    let last_frame = msgs.last().unwrap()["frame"].as_u64().unwrap();
    assert!(last_frame <= 5000);
}

/// The upstream project's own parser wrote `expected_output/` for five symbols: two price level
/// updates and six trades. Its capture times went through a double (sub-µs noise); everything
/// else is exact.
#[test]
fn production_deep_capture_reproduces_expected_output() {
    let Some(root) = real_pcaps_or_skip("production_deep_capture_reproduces_expected_output")
    else {
        return;
    };
    let dir = root.join("iex-deep-20231002-sai271828");
    let symbols = std::fs::read_to_string(dir.join("expected_output/symbols.txt")).unwrap();
    let mut extra = Vec::new();
    for s in symbols.split_whitespace() {
        extra.push("--symbol");
        extra.push(s);
    }
    let msgs = decode(&dir.join("test.pcap"), &extra);
    let ours_prl: Vec<String> = msgs
        .iter()
        .filter(|m| matches!(m["type"].as_str(), Some("8" | "5")))
        .map(|m| {
            format!(
                "{},{},{},{},PRL,{},{},{},R,{}",
                m["ts"],
                m["send_time"],
                if m["type"] == "8" { 0 } else { 1 },
                m["timestamp"],
                m["symbol"].as_str().unwrap(),
                m["price"].as_str().unwrap(),
                m["size"],
                m["event_flags"]
            )
        })
        .collect();
    let ours_trd: Vec<String> = msgs
        .iter()
        .filter(|m| m["type"] == "T")
        .map(|m| {
            let f = m["sale_condition_flags"].as_u64().unwrap();
            let mut cond = Vec::new();
            for (bit, name) in [
                (0x80, "ISO"),
                (0x40, "EXTENDED_HOURS"),
                (0x20, "ODD_LOT"),
                (0x10, "TRADE_THROUGH_EXEMPT"),
                (0x08, "SINGLE_PRICE_CROSS"),
            ] {
                if f & bit != 0 {
                    cond.push(name);
                }
            }
            format!(
                "{},{},{},T,{},{},{},{},{}",
                m["ts"],
                m["send_time"],
                m["timestamp"],
                m["symbol"].as_str().unwrap(),
                m["size"],
                m["price"].as_str().unwrap(),
                m["trade_id"],
                cond.join("|")
            )
        })
        .collect();
    for (file, ours) in [("test_prl.csv", ours_prl), ("test_trd.csv", ours_trd)] {
        let text = std::fs::read_to_string(dir.join("expected_output").join(file)).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(ours.len(), rows.len(), "{file}: row count");
        for (o, r) in ours.iter().zip(&rows) {
            let (o, r): (Vec<&str>, Vec<&str>) = (o.split(',').collect(), r.split(',').collect());
            assert_eq!(o.len(), r.len(), "{file}: {o:?} vs {r:?}");
            // Capture time: theirs went through a double.
            let (a, b): (i64, i64) = (o[0].parse().unwrap(), r[0].parse().unwrap());
            assert!((a - b).abs() < 1_000, "{file}: capture time {a} vs {b}");
            for (i, (x, y)) in o.iter().zip(&r).enumerate().skip(1) {
                let same = x == y
                    || fh_decoders::price::Price4::parse(x).is_some_and(|p| {
                        // Their prices carry 6 decimals ("76.010000").
                        Some(p.raw() * 100) == y.replace('.', "").parse::<i64>().ok()
                    });
                assert!(
                    same,
                    "{file}: column {i}: ours {x}, expected {y} (row {r:?})"
                );
            }
        }
    }
}

/// A captured packet: time, source, destination, UDP payload.
type Pkt = (u64, std::net::SocketAddrV4, std::net::SocketAddrV4, Vec<u8>);
/// Whether the message of packet k keeps its nanosecond timestamp in a format.
type KeepsNs = fn(usize) -> bool;

/// The real ITCH packets rewritten as classic pcap (µs and ns, both byte orders), pcapng, Linux
/// SLL and SLL2 and a NASDAQ_ITCH50 file: every format gives the same messages.
#[test]
fn same_traffic_in_every_format_decodes_the_same() {
    let Some(root) = real_pcaps_or_skip("same_traffic_in_every_format_decodes_the_same") else {
        return;
    };
    let src = root
        .join("omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0/Multiple.Packets.pcap");
    let reference = decode(&src, &[]);
    assert_eq!(reference.len(), 39);

    // The UDP payloads and capture times of the original.
    let cap = fh_replay::capture::Capture::open(&src).unwrap();
    let mut packets = Vec::new();
    for r in cap.records().unwrap() {
        let r = r.unwrap();
        let d = fh_replay::frame::udp_payload(r.link, r.data).unwrap();
        packets.push((r.ts_ns, d.src, d.dst, d.payload.to_vec()));
    }
    let eth = |p: &Pkt| {
        fh_replay::writer::UdpFrame::new(p.1, p.2)
            .build(&p.3)
            .unwrap()
    };
    // SLL: packet type, ARPHRD_ETHER, address length 6, address (8), protocol IPv4.
    let sll = |p: &Pkt| {
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        f.extend_from_slice(&eth(p)[14..]);
        f
    };
    // SLL2: protocol, reserved, interface index, ARPHRD, packet type, address length, address.
    let sll2 = |p: &Pkt| {
        let mut f = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        f.extend_from_slice(&eth(p)[14..]);
        f
    };
    // (file, which messages keep ns timestamps: by their packet's index)
    let mut variants: Vec<(PathBuf, KeepsNs)> = Vec::new();
    for (name, link, prec, endian, build, ns) in [
        (
            "eth-ns-le.pcap",
            LinkType::Ethernet,
            TsPrecision::Nano,
            Endian::Little,
            &eth as &dyn Fn(&_) -> Vec<u8>,
            true,
        ),
        (
            "eth-us-le.pcap",
            LinkType::Ethernet,
            TsPrecision::Micro,
            Endian::Little,
            &eth,
            false,
        ),
        (
            "eth-ns-be.pcap",
            LinkType::Ethernet,
            TsPrecision::Nano,
            Endian::Big,
            &eth,
            true,
        ),
        (
            "eth-us-be.pcap",
            LinkType::Ethernet,
            TsPrecision::Micro,
            Endian::Big,
            &eth,
            false,
        ),
        (
            "sll-ns.pcap",
            LinkType::LinuxSll,
            TsPrecision::Nano,
            Endian::Little,
            &sll,
            true,
        ),
        (
            "sll2-ns.pcap",
            LinkType::LinuxSll2,
            TsPrecision::Nano,
            Endian::Little,
            &sll2,
            true,
        ),
    ] {
        let path = tmp(name);
        let mut opts = PcapOptions::new(link, prec);
        opts.endian = endian;
        let mut w = PcapWriter::with_options(std::fs::File::create(&path).unwrap(), opts).unwrap();
        for p in &packets {
            w.write_packet(p.0, &build(p)).unwrap();
        }
        w.finish().unwrap();
        variants.push((path, if ns { |_| true } else { |_| false }));
    }
    // pcapng: two interfaces (Ethernet at ns, SLL2 at µs), the packets alternating between them.
    let path = tmp("mixed.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap(), Endian::Little).unwrap();
    let i0 = w.add_interface(LinkType::Ethernet, 65535, 9).unwrap();
    let i1 = w.add_interface(LinkType::LinuxSll2, 65535, 6).unwrap();
    for (k, p) in packets.iter().enumerate() {
        if k % 2 == 0 {
            w.write_epb(i0, p.0, &eth(p)).unwrap();
        } else {
            w.write_epb(i1, p.0, &sll2(p)).unwrap();
        }
    }
    w.finish().unwrap();
    variants.push((path, |k| k % 2 == 0));

    let strip = |m: &Map<String, Value>, keep_ts: bool| {
        let mut m = m.clone();
        if !keep_ts {
            m.remove("ts");
        }
        m
    };
    for (path, ns) in &variants {
        let got = decode(path, &[]);
        assert_eq!(got.len(), reference.len(), "{}", path.display());
        for (g, r) in got.iter().zip(&reference) {
            let packet = g["frame"].as_u64().unwrap() as usize - 1;
            let ns = ns(packet);
            assert_eq!(strip(g, ns), strip(r, ns), "{}", path.display());
            if !ns {
                let (a, b) = (g["ts"].as_u64().unwrap(), r["ts"].as_u64().unwrap());
                assert_eq!(a, b / 1000 * 1000, "{}: µs timestamps", path.display());
            }
        }
    }

    // A NASDAQ_ITCH50 file of the same messages: the same fields (no capture context).
    let path = tmp("same.NASDAQ_ITCH50");
    let mut w = ItchFileWriter::new(std::fs::File::create(&path).unwrap());
    for p in &packets {
        let Ok(fh_decoders::moldudp64::Packet::Data(d)) =
            fh_decoders::moldudp64::Packet::parse(&p.3)
        else {
            panic!("data packet")
        };
        for (_, msg) in d.blocks() {
            w.write_message(msg).unwrap();
        }
    }
    w.finish().unwrap();
    let got = decode(&path, &[]);
    assert_eq!(got.len(), reference.len());
    for (k, (g, r)) in got.iter().zip(&reference).enumerate() {
        let fields = |m: &Map<String, Value>| {
            let mut m = m.clone();
            for c in ["frame", "ts", "session", "seq"] {
                m.remove(c);
            }
            m
        };
        assert_eq!(fields(g), fields(r));
        assert_eq!(g["seq"].as_u64(), Some(k as u64 + 1));
        assert!(!g.contains_key("frame") && !g.contains_key("ts"));
    }
    std::fs::remove_dir_all(tmp("x").parent().unwrap()).ok();
}

#[test]
fn text_format_symbol_filter_and_limit() {
    let Some(root) = real_pcaps_or_skip("text_format_symbol_filter_and_limit") else {
        return;
    };
    let src = root
        .join("omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0/Multiple.Packets.pcap");
    let (code, out, _) = run_fh(["decode", src.to_str().unwrap()]);
    assert_eq!(code, 0);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 39);
    let second = text.lines().nth(1).unwrap();
    assert!(second.starts_with("#2 "), "{second}");
    assert!(
        second.contains("2023-08-22T13:30:38.952561782Z 000010059B seq 19009117"),
        "{second}"
    );
    assert!(
        second.contains(" A stock_locate=6514 ") && second.ends_with("stock=META price=80.5200"),
        "{second}"
    );

    let meta = decode(&src, &["--symbol", "META"]);
    assert!(!meta.is_empty());
    assert!(
        meta.iter().all(|m| m["stock_locate"] == 6514),
        "only META's locate"
    );
    let limited = decode(&src, &["--limit", "5"]);
    assert_eq!(limited.len(), 5);
}

#[test]
fn bad_input_is_one_line_naming_file_and_offset() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not-a-capture.pcap",
            b"this is not a capture file at all".to_vec(),
            "offset 0",
        ),
        ("empty.pcap", Vec::new(), "offset 0"),
        (
            "bad-linktype.pcap",
            {
                let mut h = vec![
                    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
                ];
                h.extend_from_slice(&4242u32.to_le_bytes());
                h
            },
            "offset 20",
        ),
        (
            "absurd-length.pcap",
            {
                let mut h = vec![
                    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
                    1, 0, 0, 0,
                ];
                h.extend_from_slice(&[0; 8]);
                h.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
                h.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
                h.extend_from_slice(&[0; 64]);
                h
            },
            "offset 24",
        ),
    ];
    for (name, bytes, offset) in cases {
        let path = tmp(name);
        std::fs::write(&path, bytes).unwrap();
        let (code, out, err) = run_fh(["decode", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(out.is_empty(), "{name}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
        assert!(
            err.contains(name) && err.contains(offset),
            "{name}: names file and {offset}: {err}"
        );
    }
    let (code, _, err) = run_fh(["decode", "/nonexistent/file.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/file.pcap"), "{err}");
}

#[test]
fn capture_cut_at_its_end_decodes_what_is_complete_then_warns() {
    let Some(root) =
        real_pcaps_or_skip("capture_cut_at_its_end_decodes_what_is_complete_then_warns")
    else {
        return;
    };
    let src = root.join("iex-tops-20180103-iextools/example1.pcap");
    let (code, out, err) = run_fh(["decode", "--format", "json", src.to_str().unwrap()]);
    // Everything complete decoded, then exit 1: completed with a data problem.
    assert_eq!(code, 1, "{err}");
    assert_eq!(json_lines(&out).len(), 53);
    assert!(
        err.contains("completed with data problems")
            && err.contains("cut off")
            && err.contains("offset"),
        "{err}"
    );
}

#[test]
fn malformed_packets_are_counted_and_summed_up() {
    // Three MoldUDP64 packets: a good one, one whose block overruns, one with a count mismatch.
    use fh_decoders::moldudp64::PacketBuilder;
    let mut buf = [0u8; 256];
    let mut b = PacketBuilder::new(&mut buf, *b"TESTSESS01", 1).unwrap();
    let mut add = fh_decoders::itch50::SystemEvent::new(0, 0, 1);
    add.event_code = b'O';
    assert!(b.push(zerocopy::IntoBytes::as_bytes(&add)));
    let good = b.finish().to_vec();
    let mut overrun = good.clone();
    overrun[20] = 0x40; // block length 0x400c: past the end
    let mut mismatch = good.clone();
    mismatch[19] = 2; // says 2 messages, holds 1
    let path = tmp("malformed.pcap");
    let mut w = PcapWriter::new(
        std::fs::File::create(&path).unwrap(),
        LinkType::Ethernet,
        TsPrecision::Nano,
    )
    .unwrap();
    let f = fh_replay::writer::UdpFrame::new(
        "10.0.0.1:1".parse().unwrap(),
        "233.54.12.111:26477".parse().unwrap(),
    );
    for p in [&good, &overrun, &mismatch] {
        w.write_packet(1, &f.build(p).unwrap()).unwrap();
    }
    w.write_packet(2, &[0u8; 10]).unwrap(); // a runt frame
    w.finish().unwrap();
    let (code, out, err) = run_fh(["decode", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 1, "malformed packets: exit 1; {err}");
    assert_eq!(json_lines(&out).len(), 1);
    for want in [
        "4 records",
        "1 messages decoded",
        "link_truncated 1",
        "malformed_block_overrun 1",
        "malformed_count_mismatch 1",
    ] {
        assert!(err.contains(want), "summary lacks {want:?}: {err}");
    }
}

#[test]
fn closed_stdout_ends_quietly() {
    let Some(root) = real_pcaps_or_skip("closed_stdout_ends_quietly") else {
        return;
    };
    let src = root.join("iex-deep-20231002-sai271828/test.pcap");
    let mut child = std::process::Command::new(fh_tests::fh_bin())
        .args(["decode", src.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut first = [0u8; 100];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
    }
    drop(child.stdout.take()); // like `| head`
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
