//! The research outputs of `fh replay` (`fh-export`), checked by independent readers:
//! Databento's `databento_dbn` reads every DBN schema fh writes; a book built in Python from
//! fh's MBO records ends with the same top-5 depth per symbol as `fh replay` reports; Parquet
//! files read by `pyarrow` hold the same rows and values as their CSV twins; a snapshot at
//! time t equals the books of `fh replay` stopped at t (the capture cut after t); the
//! production IEX DEEP capture exports MBP-10 books and trades that agree with the oracle
//! decode; exports are atomic (a failed run leaves the previous files and no temporary
//! ones) and may never name an input; bad export flags are refused with exit code 2.
//!
//! The Python side is `python/check_exports.py` (in the test environment of
//! `python/requirements-ci.txt`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fh_tests::{python_with, real_pcaps_or_skip, run_fh, workspace_root};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-export-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn py() -> Option<PathBuf> {
    python_with("export", &["databento_dbn", "pyarrow"])
}

/// Runs `python/check_exports.py ARGS`; panics with its message on failure; its JSON line.
fn check(py: &Path, args: &[&str]) -> serde_json::Value {
    let script = workspace_root().join("python/check_exports.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "check_exports.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON line")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sample() -> PathBuf {
    workspace_root().join("pcaps/sample.pcap")
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The records each export wrote, by path, from the report.
fn export_rows(r: &serde_json::Value) -> BTreeMap<String, u64> {
    r["exports"]
        .as_array()
        .expect("exports in the report")
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_string(),
                x["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn dbn_every_schema_is_read_by_databento_dbn_and_the_mbo_book_matches_fh_replay() {
    let Some(py) = py() else { return };
    let schemas = [
        ("mbo", "mbo.dbn"),
        ("mbp-1", "mbp1.dbn"),
        ("mbp-10", "mbp10.dbn.zst"),
        ("tbbo", "tbbo.dbn"),
        ("trades", "trades.dbn.zst"),
    ];
    let rep = tmp("dbn-report.json");
    let mut args: Vec<String> = vec![
        "replay".into(),
        s(&sample()).into(),
        "--no-latency".into(),
        "--top".into(),
        "100000".into(),
        "--report-json".into(),
        s(&rep).into(),
    ];
    let mut files = Vec::new();
    for (schema, name) in schemas {
        let p = tmp(name);
        args.extend([
            "--dbn".into(),
            s(&p).into(),
            "--schema".into(),
            schema.into(),
        ]);
        files.push(p);
    }
    let (code, _, err) = run_fh(&args);
    assert_eq!(code, 0, "{err}");
    let rows = export_rows(&report(&rep));
    let names: Vec<&str> = files.iter().map(|p| s(p)).collect();
    let counts = check(&py, &[&["dbn"], &names[..]].concat());
    for f in &files {
        let n = counts[s(f)].as_u64().unwrap();
        assert!(n > 1000, "{}: {n} records", f.display());
        assert_eq!(
            Some(&n),
            rows.get(s(f)),
            "{} records: decoded vs reported",
            f.display()
        );
    }
    let got = check(&py, &["mbo-book", s(&files[0]), s(&rep), "5", s(&files[2])]);
    assert_eq!(got["books"], 50, "{got}");
    assert_eq!(got["mbp10_books"], 50, "{got}");
    // With the latency stamps on (some datagrams go through the held-update path) the files
    // are the same bytes.
    let (mbo2, mbp2) = (tmp("mbo-timed.dbn"), tmp("mbp10-timed.dbn.zst"));
    let (code, _, err) = run_fh([
        "replay",
        s(&sample()),
        "--stamp-every",
        "2",
        "--dbn",
        s(&mbo2),
        "--schema",
        "mbo",
        "--dbn",
        s(&mbp2),
        "--schema",
        "mbp-10",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&mbo2).unwrap() == std::fs::read(&files[0]).unwrap());
    assert!(std::fs::read(&mbp2).unwrap() == std::fs::read(&files[2]).unwrap());
}

/// Bids and asks as the report writes them: `[price, shares, orders]`, best first.
type Depth = (Vec<[i64; 3]>, Vec<[i64; 3]>);

/// ns since the epoch of 2019-01-30 00:00 US Eastern (EST, UTC−5).
const MIDNIGHT_2019_01_30: u64 = 1_548_824_400_000_000_000;

/// The messages of a bare ITCH file up to and including exchange time `until` (ns since
/// midnight), as a new ITCH file.
fn itch_prefix(src: &Path, until: u64, dst: &Path) -> usize {
    let b = std::fs::read(src).unwrap();
    let (mut pos, mut n) = (0, 0);
    while pos + 2 <= b.len() {
        let len = usize::from(u16::from_be_bytes([b[pos], b[pos + 1]]));
        let m = &b[pos + 2..pos + 2 + len];
        let mut ts = [0u8; 8];
        ts[2..].copy_from_slice(&m[5..11]);
        if u64::from_be_bytes(ts) > until {
            break;
        }
        pos += 2 + len;
        n += 1;
    }
    std::fs::write(dst, &b[..pos]).unwrap();
    n
}

#[test]
fn snapshots_and_tape_parquet_equal_csv_and_a_snapshot_equals_the_replay_stopped_at_t() {
    let Some(py) = py() else { return };
    let day = tmp("day.NASDAQ_ITCH50");
    let (code, _, err) = run_fh([
        "gen",
        "--out",
        s(&day),
        "--format",
        "itch",
        "--messages",
        "200000",
        "--symbols",
        "8",
    ]);
    assert_eq!(code, 0, "{err}");
    let (scsv, spq, tcsv, tpq) = (
        tmp("snap.csv"),
        tmp("snap.parquet"),
        tmp("tape.csv"),
        tmp("tape.parquet"),
    );
    let (code, _, err) = run_fh([
        "replay",
        s(&day),
        "--no-latency",
        "--session-date",
        "2019-01-30",
        "--depth",
        "5",
        "--snapshot-every",
        "100ms",
        "--snapshot-csv",
        s(&scsv),
        "--snapshot-parquet",
        s(&spq),
        "--trades-csv",
        s(&tcsv),
        "--trades-parquet",
        s(&tpq),
    ]);
    assert_eq!(code, 0, "{err}");
    let snap = check(&py, &["parquet-csv", s(&spq), s(&scsv)]);
    assert!(snap["rows"].as_u64().unwrap() > 100, "{snap}");
    assert_eq!(snap["columns"], 3 + 5 * 6);
    let tape = check(&py, &["parquet-csv", s(&tpq), s(&tcsv)]);
    assert!(tape["rows"].as_u64().unwrap() > 100, "{tape}");

    // Snapshot rows by time: symbol -> (bids, asks) as the report writes books.
    let text = std::fs::read_to_string(&scsv).unwrap();
    let mut by_t: BTreeMap<u64, BTreeMap<String, Depth>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t: u64 = f[0].parse().unwrap();
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        for k in 0..5 {
            for (side, at) in [(&mut bids, 4 + 6 * k), (&mut asks, 7 + 6 * k)] {
                if !f[at].is_empty() {
                    let px = fh_decoders::price::Price4::parse(f[at]).unwrap().raw();
                    side.push([px, f[at + 1].parse().unwrap(), f[at + 2].parse().unwrap()]);
                }
            }
        }
        by_t.entry(t)
            .or_default()
            .insert(f[2].to_string(), (bids, asks));
    }
    let times: Vec<u64> = by_t.keys().copied().collect();
    // Three snapshot times across the day, each against a replay of the file cut after it.
    for &t in [times[1], times[times.len() / 2], times[times.len() - 1]].iter() {
        assert_eq!(
            t % 100_000_000,
            0,
            "snapshot times are multiples of the interval"
        );
        let cut = tmp(&format!("cut-{t}.NASDAQ_ITCH50"));
        let n = itch_prefix(&day, t - MIDNIGHT_2019_01_30, &cut);
        assert!(n > 0);
        let rep = tmp(&format!("cut-{t}.json"));
        let (code, _, err) = run_fh([
            "replay",
            s(&cut),
            "--no-latency",
            "--top",
            "100000",
            "--depth",
            "5",
            "--report-json",
            s(&rep),
        ]);
        assert_eq!(code, 0, "{err}");
        let r = report(&rep);
        let mut want = BTreeMap::new();
        for b in r["books"].as_array().unwrap() {
            let lv = |k: &str| -> Vec<[i64; 3]> {
                b[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|l| {
                        let a = l.as_array().unwrap();
                        [
                            a[0].as_i64().unwrap(),
                            a[1].as_i64().unwrap(),
                            a[2].as_i64().unwrap(),
                        ]
                    })
                    .collect()
            };
            let (bids, asks) = (lv("bids"), lv("asks"));
            if !bids.is_empty() || !asks.is_empty() {
                want.insert(b["symbol"].as_str().unwrap().to_string(), (bids, asks));
            }
        }
        assert!(!want.is_empty());
        assert_eq!(
            by_t[&t], want,
            "snapshot at {t} vs fh replay stopped there ({n} messages)"
        );
    }
}

#[test]
fn iex_deep_real_capture_exports_mbp10_and_trades_that_agree_with_the_oracle() {
    let Some(real) = real_pcaps_or_skip(
        "iex_deep_real_capture_exports_mbp10_and_trades_that_agree_with_the_oracle",
    ) else {
        return;
    };
    let Some(py) = py() else { return };
    let dir = real.join("iex-deep-20231002-sai271828");
    let (mbp, trades) = (tmp("iex-mbp10.dbn"), tmp("iex-trades.dbn.zst"));
    let (code, _, err) = run_fh([
        "replay",
        s(&dir.join("test.pcap")),
        "--no-latency",
        "--dbn",
        s(&mbp),
        "--schema",
        "mbp-10",
        "--dbn",
        s(&trades),
        "--schema",
        "trades",
    ]);
    assert_eq!(code, 0, "{err}");
    let oracle = dir.join("oracle/test.Iex_IexEquities_Deep_IexTp_v1_08.jsonl.gz");
    let got = check(&py, &["iex-oracle", s(&oracle), s(&mbp), s(&trades)]);
    assert_eq!(got["trades"], 37, "{got}");
    assert!(got["books"].as_u64().unwrap() > 100, "{got}");
}

fn no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.starts_with(".fh-tmp-"), "temporary file left: {n}");
    }
}

#[test]
fn exports_are_atomic_and_never_overwrite_an_input() {
    let d = std::env::temp_dir().join(format!("fh-export-atomic-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let input = d.join("in.pcap");
    std::fs::copy(sample(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    // An output naming the input: refused before anything is read or written.
    for flag in ["--dbn", "--trades-csv", "--snapshot-parquet"] {
        let mut args = vec!["replay", s(&input), flag, s(&input)];
        match flag {
            "--dbn" => args.extend(["--schema", "trades"]),
            "--snapshot-parquet" => args.extend(["--snapshot-every", "1s"]),
            _ => {}
        }
        let (code, _, err) = run_fh(&args);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(err.contains(flag), "{err}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            before,
            "{flag} left the input alone"
        );
    }
    no_temp_files(&d);
    // A run that fails at the end (MBO of a price-level feed) keeps the previous files.
    let (mbo, tape) = (d.join("x.dbn"), d.join("tape.csv"));
    std::fs::write(&mbo, b"previous").unwrap();
    std::fs::write(&tape, b"previous").unwrap();
    if let Some(real) = real_pcaps_or_skip("exports_are_atomic_and_never_overwrite_an_input") {
        let iex = real.join("iex-deep-20231002-sai271828/test.pcap");
        let (code, _, err) = run_fh([
            "replay",
            s(&iex),
            "--no-latency",
            "--dbn",
            s(&mbo),
            "--schema",
            "mbo",
            "--trades-csv",
            s(&tape),
        ]);
        assert_ne!(code, 0);
        assert!(
            err.contains("--schema mbo") && err.contains("no order-level events"),
            "{err}"
        );
        assert_eq!(std::fs::read(&mbo).unwrap(), b"previous");
        assert_eq!(std::fs::read(&tape).unwrap(), b"previous");
        no_temp_files(&d);
    }
    // A successful run replaces them whole, and leaves nothing else behind.
    let (code, _, err) = run_fh([
        "replay",
        s(&input),
        "--no-latency",
        "--dbn",
        s(&mbo),
        "--schema",
        "mbo",
        "--trades-csv",
        s(&tape),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&mbo).unwrap().starts_with(b"DBN"));
    assert!(std::fs::read(&tape).unwrap().starts_with(b"ts_ns,ts_utc,"));
    no_temp_files(&d);
}

#[test]
fn bad_export_flags_are_one_line_and_exit_2() {
    let day = tmp("nodate.itch");
    let (code, _, err) = run_fh([
        "gen",
        "--out",
        s(&day),
        "--format",
        "itch",
        "--messages",
        "1000",
    ]);
    assert_eq!(code, 0, "{err}");
    let out = tmp("bad.dbn");
    let sample = sample();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--dbn", s(&out)], "--dbn and --schema go in pairs"),
        (
            vec!["--dbn", s(&out), "--schema", "ohlcv"],
            "--schema ohlcv",
        ),
        (
            vec!["--snapshot-every", "0s", "--snapshot-csv", s(&out)],
            "--snapshot-every 0s",
        ),
        (vec!["--snapshot-every", "1s"], "--snapshot-every: give"),
        (vec!["--snapshot-csv", s(&out)], "give --snapshot-every"),
        (
            vec!["--trades-csv", s(&out), "--session-date", "2019-02-30"],
            "--session-date 2019-02-30",
        ),
        (
            vec!["--session-date", "2019-01-30"],
            "--session-date: only with an export",
        ),
        (
            vec!["--pipeline", "--dbn", s(&out), "--schema", "mbo"],
            "--dbn",
        ),
    ];
    for (extra, words) in cases {
        let mut args = vec!["replay", s(&sample)];
        args.extend(extra.iter().copied());
        let (code, stdout, err) = run_fh(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(words), "{extra:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(stdout.is_empty());
        assert!(!out.exists());
    }
    // A bare ITCH file without a date in its name needs --session-date for epoch times.
    let (code, _, err) = run_fh(["replay", s(&day), "--trades-csv", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--session-date"), "{err}");
    // Read from standard input, the file has no name to take a date from: refused at the end,
    // nothing written.
    let stdin = std::fs::File::open(&day).unwrap();
    let res = std::process::Command::new(fh_tests::fh_bin())
        .args(["replay", "-", "--no-latency", "--trades-csv", s(&out)])
        .stdin(stdin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_ne!(res.status.code(), Some(0), "{err}");
    assert!(err.contains("--session-date"), "{err}");
    assert!(!out.exists());
    let (code, _, err) = run_fh([
        "replay",
        s(&day),
        "--trades-csv",
        s(&out),
        "--session-date",
        "2019-01-30",
    ]);
    assert_eq!(code, 0, "{err}");
    let tape = std::fs::read_to_string(&out).unwrap();
    assert!(
        tape.lines().nth(1).unwrap().contains(",2019-01-30T"),
        "{tape}"
    );
}

/// `--bbo-csv` rows with `--bbo-ts epoch` are the native rows with ITCH's ns since midnight
/// moved to ns since the epoch (one constant: the session's US Eastern midnight), IEX's as
/// they were.
#[test]
fn bbo_csv_epoch_times_are_the_native_rows_shifted_by_the_session_midnight() {
    let rows = |capture: &Path, epoch: bool| -> Vec<(u64, String)> {
        let out = tmp(&format!(
            "bbo-{epoch}-{}.csv",
            capture.file_name().unwrap().to_string_lossy()
        ));
        let mut args = vec!["replay", s(capture), "--no-latency", "--bbo-csv", s(&out)];
        if epoch {
            args.extend(["--bbo-ts", "epoch"]);
        }
        let (code, _, err) = run_fh(&args);
        assert_eq!(code, 0, "{err}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("ts,symbol,bid,bid_size,ask,ask_size\n"));
        text.lines()
            .skip(1)
            .map(|l| {
                let (ts, rest) = l.split_once(',').unwrap();
                (ts.parse().unwrap(), rest.to_string())
            })
            .collect()
    };
    let (native, epoch) = (rows(&sample(), false), rows(&sample(), true));
    assert!(native.len() > 1000);
    assert_eq!(native.len(), epoch.len());
    let midnight = epoch[0].0 - native[0].0;
    // 2026-11-20 00:00 EST is 05:00 UTC.
    assert_eq!(
        midnight % 86_400_000_000_000,
        5 * 3_600_000_000_000,
        "{midnight}"
    );
    for (n, e) in native.iter().zip(&epoch) {
        assert_eq!((n.0 + midnight, &n.1), (e.0, &e.1));
    }
    if let Some(real) = real_pcaps_or_skip("bbo_csv_epoch_times_are_the_native_rows_shifted") {
        let iex = real.join("iex-deep-20231002-sai271828/test.pcap");
        let (native, epoch) = (rows(&iex, false), rows(&iex, true));
        assert!(!native.is_empty());
        assert_eq!(native, epoch, "IEX times are epoch ns already");
    }
    let (code, _, err) = run_fh(["replay", s(&sample()), "--bbo-ts", "epoch"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--bbo-ts: only with --bbo-csv"), "{err}");
}

/// `fh live` recording the sample capture, sent by `fh replay --to` inside a private network
/// namespace, writes the MBO DBN file and the trade tape that `fh replay` writes from the
/// capture: record for record the same, but for the receive times (the session date is given
/// to both, as live would otherwise take today's).
#[test]
fn live_recording_exports_equal_the_replay_of_the_capture() {
    use fh_tests::netns;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    const NAME: &str = "live_recording_exports_equal_the_replay_of_the_capture";
    let Some(py) = py() else { return };
    if !netns::enter_with_timeout(NAME, Duration::from_secs(120)) {
        return;
    }
    let group = "239.54.12.118:26480";
    let date = "2026-12-04";
    let packets = fh_tests::datagrams(&sample());
    let (r_dbn, r_csv) = (tmp("replay-mbo.dbn"), tmp("replay-trades.csv"));
    let (l_dbn, l_csv) = (tmp("live-mbo.dbn"), tmp("live-trades.csv"));
    let l_rep = tmp("live-report.json");
    let (code, _, err) = run_fh([
        "replay",
        s(&sample()),
        "--no-latency",
        "--session-date",
        date,
        "--dbn",
        s(&r_dbn),
        "--schema",
        "mbo",
        "--trades-csv",
        s(&r_csv),
    ]);
    assert_eq!(code, 0, "{err}");

    let mut live = Command::new(netns::fh_bin())
        .args(["live", "--protocol", "itch", "--iface", "127.0.0.1"])
        .args(["--stats-every", "0", "--no-latency", "--duration", "60"])
        .args(["--group", group, "--packets", &packets.to_string()])
        .args([
            "--session-date",
            date,
            "--dbn",
            s(&l_dbn),
            "--schema",
            "mbo",
        ])
        .args(["--trades-csv", s(&l_csv), "--report-json", s(&l_rep)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fh live");
    netns::wait_joined(group.parse().unwrap());
    let sent = Command::new(netns::fh_bin())
        .arg("replay")
        .arg(sample())
        .args(["--to", group, "--iface", "127.0.0.1", "--pps", "50000"])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = live.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = live.kill();
            panic!("fh live did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut live.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "fh live: {err}");

    let rep = report(&l_rep);
    assert_eq!(
        rep["live"]["rx"]["packets"].as_u64(),
        Some(packets),
        "{rep}"
    );
    let rows = export_rows(&rep);
    let same = check(&py, &["same-dbn", s(&r_dbn), s(&l_dbn)]);
    let n = same["records"].as_u64().unwrap();
    assert!(n > 10_000, "{n} MBO records");
    assert_eq!(rows.get(s(&l_dbn)), Some(&n), "live report: {rows:?}");
    // The trade tapes: every column but the receive time.
    let tape = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let header = text.lines().next().unwrap().split(',').collect::<Vec<_>>();
        let recv = header.iter().position(|c| *c == "ts_recv_ns").unwrap();
        text.lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                f.remove(recv);
                f.join(",")
            })
            .collect()
    };
    let (want, got) = (tape(&r_csv), tape(&l_csv));
    assert!(want.len() > 100, "{} trades", want.len());
    assert_eq!(got.len(), want.len(), "trades: live vs replay");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "trade row {k}");
    }
    assert_eq!(rows.get(s(&l_csv)), Some(&(want.len() as u64 - 1)));
    for p in [r_dbn, r_csv, l_dbn, l_csv, l_rep] {
        let _ = std::fs::remove_file(p);
    }
}

/// `fh live` checks its export flags as `fh replay` does, before joining any group: bad
/// values, an output named twice (here also the `--capture` it writes), the floor (no engine).
#[test]
fn live_export_flags_are_checked_before_joining() {
    let out = tmp("live-bad.dbn");
    let cap = tmp("live-bad.pcap");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--dbn", s(&out)], "--dbn and --schema go in pairs"),
        (
            vec!["--dbn", s(&out), "--schema", "ohlcv"],
            "--schema ohlcv",
        ),
        (vec!["--snapshot-csv", s(&out)], "give --snapshot-every"),
        (
            vec!["--session-date", "2019-01-30"],
            "--session-date: only with an export",
        ),
        (
            vec!["--capture", s(&cap), "--trades-csv", s(&cap)],
            "--trades-csv",
        ),
        (
            vec!["--floor", "--dbn", s(&out), "--schema", "mbo"],
            "--dbn",
        ),
        (vec!["--depth", "3"], "--depth: only with --snapshot-every"),
        (
            vec![
                "--snapshot-every",
                "1s",
                "--snapshot-csv",
                s(&out),
                "--depth",
                "0",
            ],
            "--depth",
        ),
    ];
    for (extra, words) in cases {
        let mut args = vec![
            "live",
            "--protocol",
            "itch",
            "--group",
            "239.54.12.119:26481",
        ];
        args.extend(extra.iter().copied());
        let (code, stdout, err) = run_fh(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(words), "{extra:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(stdout.is_empty(), "{extra:?}: joined: {stdout:?}");
        assert!(!out.exists() && !cap.exists());
    }
}
