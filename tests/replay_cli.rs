//! `fh replay` end to end on the production IEX DEEP capture: the `--bbo-csv` rows equal BBO
//! changes computed independently from the oracle decode (published only at event ends), the
//! digest is the same on every run, `--symbol` keeps books only for the named symbols, bad
//! input is one line with exit code 2, and `fh` alone replays the bundled sample.

use fh_decoders::price::Price4;
use fh_tests::{real_pcaps_or_skip, run_fh, workspace_root};
use flate2::read::GzDecoder;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-replay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

type Side = BTreeMap<i64, u64>;
/// Best bid and best ask, `(price, size)`.
type Bbo = (Option<(i64, u64)>, Option<(i64, u64)>);

fn bbo(bids: &Side, asks: &Side) -> Bbo {
    (
        bids.iter().next_back().map(|(p, s)| (*p, *s)),
        asks.iter().next().map(|(p, s)| (*p, *s)),
    )
}

fn fmt(p: i64) -> String {
    fh_decoders::price::Fixed::<4>(p).to_string()
}

/// BBO-change rows computed from the oracle: apply every PLU, and at each event end (flag 1)
/// emit a row when the BBO differs from the one before the event.
fn oracle_bbo_rows(oracle: &std::path::Path) -> Vec<String> {
    let f = std::fs::File::open(oracle).unwrap();
    let mut books: HashMap<String, (Side, Side, Option<Bbo>)> = HashMap::new();
    let mut rows = Vec::new();
    for line in BufReader::new(GzDecoder::new(f)).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let m = &v["msg"];
        let t = m["messagetype"].as_str().unwrap_or("");
        if t != "8" && t != "5" {
            continue;
        }
        let sym = m["symbol"].as_str().unwrap().to_string();
        let price = Price4::parse(m["price"].as_str().unwrap()).unwrap().raw();
        let size: u64 = m["size"].as_str().unwrap().parse().unwrap();
        let complete = m["eventflags"].as_str().unwrap() == "1";
        let ts = m["timestamp"].as_str().unwrap();
        let (bids, asks, start) = books.entry(sym.clone()).or_default();
        if start.is_none() {
            *start = Some(bbo(bids, asks));
        }
        let side = if t == "8" { &mut *bids } else { &mut *asks };
        if size == 0 {
            side.remove(&price);
        } else {
            side.insert(price, size);
        }
        if complete {
            let now = bbo(bids, asks);
            if Some(now) != *start {
                let f = |x: Option<(i64, u64)>| match x {
                    Some((p, s)) => format!("{},{s}", fmt(p)),
                    None => ",".to_string(),
                };
                rows.push(format!("{ts},{sym},{},{}", f(now.0), f(now.1)));
            }
            *start = None;
        }
    }
    rows
}

#[test]
fn bbo_csv_digest_and_symbol_filter_on_the_deep_capture() {
    let Some(real) = real_pcaps_or_skip("bbo_csv_digest_and_symbol_filter_on_the_deep_capture")
    else {
        return;
    };
    let dir = real.join("iex-deep-20231002-sai271828");
    let pcap = dir.join("test.pcap");
    let csv = tmp("bbo.csv");
    let (code, out, err) = run_fh([
        "replay".as_ref(),
        pcap.as_os_str(),
        "--digest".as_ref(),
        "--bbo-csv".as_ref(),
        csv.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8(out).unwrap();
    let digest = out
        .lines()
        .find(|l| l.starts_with("digest: "))
        .expect("digest line")
        .to_string();
    assert_eq!(digest.len(), "digest: ".len() + 16);
    assert!(out.contains("IEX messages: 48325"), "{out}");
    assert!(out.contains("messages/s"), "{out}");

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ts,symbol,bid,bid_size,ask,ask_size"));
    let got: Vec<&str> = lines.collect();
    let want = oracle_bbo_rows(&dir.join("oracle/test.Iex_IexEquities_Deep_IexTp_v1_08.jsonl.gz"));
    assert!(want.len() > 100, "{} BBO changes", want.len());
    assert_eq!(got, want);

    // Same digest on a second run.
    let (_, out2, _) = run_fh(["replay".as_ref(), pcap.as_os_str(), "--digest".as_ref()]);
    let out2 = String::from_utf8(out2).unwrap();
    assert!(out2.lines().any(|l| l == digest), "{out2}");

    // --symbol: books only for VOO; everything still sequenced and counted.
    let (code, out3, err) = run_fh([
        "replay".as_ref(),
        pcap.as_os_str(),
        "--symbol".as_ref(),
        "VOO".as_ref(),
        "--digest".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    let out3 = String::from_utf8(out3).unwrap();
    assert!(out3.contains("IEX messages: 48325"), "{out3}");
    assert!(out3.contains("IEX DEEP 1 symbols with levels"), "{out3}");
    assert!(out3.contains("\nVOO (instrument"), "{out3}");
    assert!(
        !out3.lines().any(|l| l == digest),
        "filtered stream differs"
    );
    let _ = std::fs::remove_file(&csv);
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let missing = tmp("no-such-file.pcap");
    let (code, out, err) = run_fh(["replay".as_ref(), missing.as_os_str()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-file.pcap"), "{err}");
    let junk = tmp("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all").unwrap();
    let (code, _, err) = run_fh(["replay".as_ref(), junk.as_os_str()]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("junk.pcap") && err.contains("offset"), "{err}");
    let _ = std::fs::remove_file(&junk);
}

#[test]
fn fh_alone_replays_the_bundled_sample() {
    let sample = workspace_root().join("pcaps/sample.pcap");
    if !sample.is_file() {
        fh_tests::skip(format_args!(
            "fh_alone_replays_the_bundled_sample: {} not generated yet",
            sample.display()
        ));
        return;
    }
    let out = std::process::Command::new(fh_tests::fh_bin())
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("sample.pcap"), "{s}");
    assert!(s.contains("ITCH messages: "), "{s}");
    assert!(s.contains("sequencing MoldUDP64: "), "{s}");
    assert!(s.contains("messages/s"), "{s}");
}
