//! Recovery end to end, inside private network namespaces: `fh serve` sends a generated day on
//! line A and line B with independent faults, runs a MoldUDP64 request server and a SoupBinTCP
//! snapshot server; `fh live` with both lines arbitrates, re-requests, late-joins from a
//! snapshot, and its report is checked against the gap-free replay and against `fh serve`'s
//! truth file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fh_tests::netns;
use serde_json::Value;

const A: &str = "239.19.0.1:31901";
const B: &str = "239.19.0.2:31902";
const REQ: &str = "127.0.0.1:31910";
const SNAP: &str = "127.0.0.1:31911";

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fh-live-recovery-{}-{name}", std::process::id()))
}

/// The gap-free day `fh serve --messages N --seed S` sends, as a pcap (same generator).
fn clean_day(path: &Path, messages: u64, seed: u64) {
    let st = Command::new(netns::fh_bin())
        .args(["gen", "--out"])
        .arg(path)
        .args([
            "--messages",
            &messages.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn replay(path: &Path, extra: &[&str]) -> String {
    let out = Command::new(netns::fh_bin())
        .arg("replay")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn digest_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .expect("digest: <hex>")
        .to_string()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(netns::fh_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fh")
}

/// Waits (60 s at most) for `c`; its exit code and stdout (both streams are echoed).
fn finish(mut c: Child) -> (i32, String) {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = c.kill();
            panic!("fh did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    print!("{out}");
    eprint!("{err}");
    (status.code().unwrap_or(-1), out)
}

/// `fh live` on both lines with `extra` flags, JSON report to `json`.
fn live(json: &Path, extra: &[&str]) -> Child {
    let mut args = vec![
        "live",
        "--protocol",
        "itch",
        "--group",
        A,
        "--group",
        B,
        "--iface",
        "127.0.0.1",
        "--stats-every",
        "0",
        "--until-quiet",
        "1.5",
        "--duration",
        "50",
        "--digest",
        "--no-latency",
        "--report-json",
    ];
    let j = json.to_str().unwrap().to_string();
    let mut v: Vec<String> = args.drain(..).map(String::from).collect();
    v.push(j);
    v.extend(extra.iter().map(|s| s.to_string()));
    let r: Vec<&str> = v.iter().map(String::as_str).collect();
    spawn(&r)
}

/// `fh serve` of a day of `messages` with `seed` on both lines and `extra` flags.
fn serve(messages: u64, seed: u64, truth: &Path, extra: &[&str]) -> Child {
    let (m, s) = (messages.to_string(), seed.to_string());
    let mut v = vec![
        "serve",
        "--messages",
        &m,
        "--seed",
        &s,
        "--group",
        A,
        "--line-b",
        B,
        "--iface",
        "127.0.0.1",
        "--truth",
    ];
    let t = truth.to_str().unwrap();
    v.push(t);
    v.extend_from_slice(extra);
    spawn(&v)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ranges(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect()
}

/// What no line delivered intact, from the truth file's per-line faults (independently of
/// `fh serve`'s own `lost_both`): dropped, corrupted or in the outage on every line, merged.
fn lost_on_every_line(truth: &Value) -> Vec<(u64, u64)> {
    let outage = ranges(&truth["outage"]);
    let per_line: Vec<std::collections::BTreeSet<u64>> = truth["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut s = std::collections::BTreeSet::new();
            for key in ["dropped", "corrupted"] {
                for (a, b) in ranges(&l[key]) {
                    s.extend(a..=b);
                }
            }
            for &(a, b) in &outage {
                s.extend(a..=b);
            }
            s
        })
        .collect();
    let both: Vec<u64> = per_line[0].intersection(&per_line[1]).copied().collect();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for q in both {
        match out.last_mut() {
            Some(l) if l.1 + 1 == q => l.1 = q,
            _ => out.push((q, q)),
        }
    }
    out
}

fn start_live_then_serve(
    live_json: &Path,
    live_extra: &[&str],
    messages: u64,
    seed: u64,
    truth: &Path,
    serve_extra: &[&str],
) -> ((i32, String), (i32, String)) {
    let l = live(live_json, live_extra);
    netns::wait_joined(A.parse().unwrap());
    netns::wait_joined(B.parse().unwrap());
    let s = serve(messages, seed, truth, serve_extra);
    let s = finish(s);
    (finish(l), s)
}

fn check_recovered(live_json: &Path, want_digest: &str, messages: u64) -> Value {
    let r = json(live_json);
    assert_eq!(
        r["digest"].as_str().unwrap(),
        want_digest,
        "digest of the gap-free replay"
    );
    let m = &r["engine"]["moldudp64"];
    assert_eq!(
        m["messages"].as_u64(),
        Some(messages),
        "every message applied"
    );
    assert_eq!(m["gaps"].as_u64(), Some(0), "the engine never saw a gap");
    assert_eq!(m["open_gap_messages"].as_u64(), Some(0));
    assert_eq!(r["updates"]["stale"].as_u64(), Some(0), "no stale update");
    let rec = &r["recovery"];
    assert_eq!(rec["gave_up"].as_u64(), Some(0));
    assert_eq!(rec["lost"].as_array().map(Vec::len), Some(0));
    rec.clone()
}

#[test]
fn a_faulted_two_line_day_with_an_outage_recovers_to_the_gap_free_digest() {
    const NAME: &str = "a_faulted_two_line_day_with_an_outage_recovers_to_the_gap_free_digest";
    if !netns::enter(NAME) {
        return;
    }
    let (n, seed) = (150_000u64, 19);
    let (pcap, truth, lj) = (tmp("a.pcap"), tmp("a.truth.json"), tmp("a.live.json"));
    clean_day(&pcap, n, seed);
    let want = digest_of(&replay(&pcap, &["--digest"]));
    let ((lc, lo), (sc, so)) = start_live_then_serve(
        &lj,
        &["--rerequest", REQ, "--gap-wait-us", "200"],
        n,
        seed,
        &truth,
        &[
            "--drop",
            "0.01",
            "--dup",
            "0.005",
            "--reorder",
            "0.005",
            "--outage",
            "3000:200",
            "--request-server",
            REQ,
            "--pps",
            "100000",
        ],
    );
    assert_eq!(sc, 0, "fh serve");
    assert_eq!(lc, 0, "fh live recovered everything: {lo}");
    let t = json(&truth);
    let lost = lost_on_every_line(&t);
    assert!(
        !lost.is_empty(),
        "the day loses packets on both lines: {lost:?}"
    );
    assert_eq!(ranges(&t["lost_both"]), lost);
    let rec = check_recovered(&lj, &want, n);
    assert!(rec["filled_by_request"].as_u64().unwrap() >= lost.len() as u64);
    assert!(
        rec["filled_by_line"].as_u64().unwrap() > 10,
        "reorders and single-line drops"
    );
    let lines = rec["lines"].as_array().unwrap();
    for l in &lines[..2] {
        let c = &l[1];
        assert!(c["packets"].as_u64().unwrap() > 10_000);
        assert!(c["gaps"].as_u64().unwrap() > 0);
        assert!(c["first"].as_u64().unwrap() > 0);
        assert!(
            c["saves"].as_u64().unwrap() > 0,
            "each line saved the other"
        );
    }
    assert!(lo.contains("gap recovery latency, detect -> filled, us: count "));
    assert!(so.contains("requests "));
    for p in [&pcap, &truth, &lj] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(fh_replay::gen::truth_path(&pcap));
}

#[test]
fn partial_answers_and_dropped_requests_still_complete() {
    const NAME: &str = "partial_answers_and_dropped_requests_still_complete";
    if !netns::enter(NAME) {
        return;
    }
    let (n, seed) = (100_000u64, 23);
    let (pcap, truth, lj) = (tmp("p.pcap"), tmp("p.truth.json"), tmp("p.live.json"));
    clean_day(&pcap, n, seed);
    let want = digest_of(&replay(&pcap, &["--digest"]));
    // A hole here takes several request rounds (30 % answered, a fifth of the requests
    // dropped, each drop a request timeout): on a loaded machine that can pass the default
    // 2 s gap timeout, and this test is about completing, not about how fast, so the gap
    // timeout is 20 s and the servers stay up 3 s after the last packet.
    let ((lc, _), (sc, so)) = start_live_then_serve(
        &lj,
        &[
            "--rerequest",
            REQ,
            "--gap-wait-us",
            "100",
            "--gap-timeout-ms",
            "20000",
        ],
        n,
        seed,
        &truth,
        &[
            "--drop",
            "0.02",
            "--outage",
            "2000:100",
            "--request-server",
            REQ,
            "--answer-fraction",
            "0.3",
            "--drop-requests",
            "0.2",
            "--pps",
            "100000",
            "--linger",
            "3",
        ],
    );
    assert_eq!((sc, lc), (0, 0));
    let rec = check_recovered(&lj, &want, n);
    assert!(
        rec["request_timeouts"].as_u64().unwrap() > 0,
        "dropped requests timed out"
    );
    let dropped: u64 = so
        .split("dropped ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(dropped > 0, "the server dropped requests");
    assert!(
        rec["requests"].as_u64().unwrap() > rec["holes"].as_u64().unwrap() / 2,
        "partial answers were asked again"
    );
    for p in [&pcap, &truth, &lj] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(fh_replay::gen::truth_path(&pcap));
}

#[test]
fn without_a_request_server_lost_ranges_are_counted_stale_and_listed_as_the_truth_says() {
    const NAME: &str =
        "without_a_request_server_lost_ranges_are_counted_stale_and_listed_as_the_truth_says";
    if !netns::enter(NAME) {
        return;
    }
    let (n, seed) = (100_000u64, 29);
    let (truth, lj) = (tmp("n.truth.json"), tmp("n.live.json"));
    let ((lc, lo), (sc, _)) = start_live_then_serve(
        &lj,
        // Generous: the other line's copy may sit behind a descheduled receive thread on a
        // busy machine; only what both lines lost may be given up.
        &["--gap-wait-us", "50000"],
        n,
        seed,
        &truth,
        &["--drop", "0.02", "--reorder", "0.005", "--pps", "100000"],
    );
    assert_eq!(sc, 0);
    assert_eq!(lc, 1, "completed with data problems (gaps open): {lo}");
    let t = json(&truth);
    let lost = lost_on_every_line(&t);
    assert!(!lost.is_empty(), "seed choice: both lines lose a packet");
    let r = json(&lj);
    let rec = &r["recovery"];
    assert_eq!(
        ranges(&rec["lost"]),
        lost,
        "the report lists exactly the lost ranges"
    );
    let missing: u64 = lost.iter().map(|(a, b)| b - a + 1).sum();
    assert_eq!(rec["lost_messages"].as_u64(), Some(missing));
    assert_eq!(rec["gave_up"].as_u64(), Some(lost.len() as u64));
    let m = &r["engine"]["moldudp64"];
    assert_eq!(
        m["gaps"].as_u64(),
        Some(lost.len() as u64),
        "each counted as a gap"
    );
    assert_eq!(m["messages"].as_u64(), Some(n - missing), "the run went on");
    assert!(
        r["updates"]["stale"].as_u64().unwrap() > 0,
        "books flagged stale"
    );
    for p in [&truth, &lj] {
        let _ = std::fs::remove_file(p);
    }
}

/// Last BBO row per symbol (without the time) and the report's top-5 depth of each book.
fn final_books(bbo: &Path, report: &Value) -> (Vec<String>, Value) {
    let text = std::fs::read_to_string(bbo).unwrap();
    let mut last = std::collections::BTreeMap::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        // A row with no symbol is an instrument whose stock directory message was lost on
        // both lines (a client that joins after the first packets, under load) until a
        // snapshot named it: its final state is under its symbol, from the snapshot on.
        if f[1].is_empty() {
            continue;
        }
        last.insert(f[1].to_string(), f[1..].join(","));
    }
    // Everything but `activity` (book messages seen: a late joiner saw fewer).
    let mut books = report["books"].clone();
    for b in books.as_array_mut().unwrap() {
        b.as_object_mut().unwrap().remove("activity");
    }
    (last.into_values().collect(), books)
}

fn late_join(name: &str, gate_fraction: f64, serve_rate: &[&str]) {
    let (n, seed) = (120_000u64, 31);
    let (pcap, truth, lj) = (tmp("l.pcap"), tmp("l.truth.json"), tmp("l.live.json"));
    let (rb, lb, rj) = (tmp("l.replay.csv"), tmp("l.live.csv"), tmp("l.replay.json"));
    clean_day(&pcap, n, seed);
    replay(
        &pcap,
        &[
            "--bbo-csv",
            rb.to_str().unwrap(),
            "--report-json",
            rj.to_str().unwrap(),
        ],
    );
    let gate = ((n as f64) * gate_fraction) as u64;
    let g = gate.to_string();
    // The exchange starts first and waits at the gate for the late joiner.
    let mut sv = vec![
        "--request-server",
        REQ,
        "--snapshot-server",
        SNAP,
        "--snapshot-gate",
        &g,
        "--linger",
        "3",
    ];
    sv.extend_from_slice(serve_rate);
    let s = serve(n, seed, &truth, &sv);
    let t0 = Instant::now();
    while std::net::TcpStream::connect_timeout(&SNAP.parse().unwrap(), Duration::from_millis(50))
        .is_err()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the snapshot server never came up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let l = live(
        &lj,
        &[
            "--rerequest",
            REQ,
            "--snapshot",
            SNAP,
            "--bbo-csv",
            lb.to_str().unwrap(),
        ],
    );
    let (lc, lo) = finish(l);
    let (sc, _) = finish(s);
    assert_eq!((sc, lc), (0, 0), "{lo}");
    let r = json(&lj);
    let rec = &r["recovery"];
    assert_eq!(rec["snapshots"].as_u64(), Some(1), "{name}");
    let at = rec["snapshot_seq"].as_u64().unwrap();
    assert!(
        at < gate && at + 200 > gate,
        "joined at {at}, just before the gate {gate}"
    );
    assert_eq!(r["updates"]["stale"].as_u64(), Some(0));
    assert_eq!(
        r["engine"]["moldudp64"]["open_gap_messages"].as_u64(),
        Some(0)
    );
    let (want_bbo, want_books) = final_books(&rb, &json(&rj));
    let (got_bbo, got_books) = final_books(&lb, &r);
    assert_eq!(got_bbo.len(), want_bbo.len(), "symbols with a BBO");
    for (g, w) in got_bbo.iter().zip(&want_bbo) {
        assert_eq!(g, w, "last BBO row");
    }
    assert_eq!(got_books, want_books, "top-5 depth");
    for p in [&pcap, &truth, &lj, &rb, &lb, &rj] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(fh_replay::gen::truth_path(&pcap));
}

#[test]
fn a_late_join_at_half_the_day_from_a_snapshot_ends_with_the_full_replays_books() {
    const NAME: &str =
        "a_late_join_at_half_the_day_from_a_snapshot_ends_with_the_full_replays_books";
    if !netns::enter(NAME) {
        return;
    }
    late_join(NAME, 0.5, &["--pps", "100000"]);
}

#[test]
fn a_join_during_a_burst_also_ends_with_the_full_replays_books() {
    const NAME: &str = "a_join_during_a_burst_also_ends_with_the_full_replays_books";
    if !netns::enter(NAME) {
        return;
    }
    // No pacing: after the login the rest of the day goes out at once, with faults, while the
    // snapshot is still being read; the multicast waits in the receive ring and sockets.
    late_join(NAME, 0.3, &["--drop", "0.005", "--reorder", "0.005"]);
}

#[test]
fn a_gap_no_server_can_fill_is_resynchronised_from_a_snapshot() {
    const NAME: &str = "a_gap_no_server_can_fill_is_resynchronised_from_a_snapshot";
    if !netns::enter(NAME) {
        return;
    }
    let (n, seed) = (100_000u64, 37);
    let (pcap, truth, lj) = (tmp("f.pcap"), tmp("f.truth.json"), tmp("f.live.json"));
    let (rb, lb, rj) = (tmp("f.replay.csv"), tmp("f.live.csv"), tmp("f.replay.json"));
    clean_day(&pcap, n, seed);
    replay(
        &pcap,
        &[
            "--bbo-csv",
            rb.to_str().unwrap(),
            "--report-json",
            rj.to_str().unwrap(),
        ],
    );
    // The snapshot server is up before the client starts (its start-up snapshot is the empty
    // day); no request server, so every range both lines lose is given up, then the books are
    // rebuilt from a snapshot and the stream resumes after it.
    let s = serve(
        n,
        seed,
        &truth,
        &[
            "--snapshot-server",
            SNAP,
            "--drop",
            "0.02",
            "--outage",
            "4000:50",
            "--pps",
            "100000",
            "--start-delay",
            "1",
            "--linger",
            "2",
        ],
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect_timeout(&SNAP.parse().unwrap(), Duration::from_millis(50))
        .is_err()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the snapshot server never came up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let l = live(
        &lj,
        &[
            "--snapshot",
            SNAP,
            "--gap-wait-us",
            "50000",
            "--bbo-csv",
            lb.to_str().unwrap(),
        ],
    );
    let (lc, lo) = finish(l);
    let (sc, _) = finish(s);
    assert_eq!((sc, lc), (0, 0), "{lo}");
    let r = json(&lj);
    let rec = &r["recovery"];
    assert!(
        rec["gave_up"].as_u64().unwrap() >= 1,
        "a range was lost on both lines"
    );
    assert!(
        rec["snapshots"].as_u64().unwrap() >= 2,
        "the start-up snapshot and at least one after a loss"
    );
    assert_eq!(
        r["engine"]["moldudp64"]["open_gap_messages"].as_u64(),
        Some(0)
    );
    let (want_bbo, want_books) = final_books(&rb, &json(&rj));
    let (got_bbo, got_books) = final_books(&lb, &r);
    assert_eq!(got_bbo, want_bbo, "last BBO row of every symbol");
    assert_eq!(got_books, want_books, "top-5 depth");
    for p in [&pcap, &truth, &lj, &rb, &lb, &rj] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(fh_replay::gen::truth_path(&pcap));
}

#[test]
fn a_capture_served_with_faults_recovers_to_its_replay_digest() {
    const NAME: &str = "a_capture_served_with_faults_recovers_to_its_replay_digest";
    if !netns::enter(NAME) {
        return;
    }
    let sample = fh_tests::workspace_root().join("pcaps/sample.pcap");
    let want = digest_of(&replay(&sample, &["--digest"]));
    let (truth, lj) = (tmp("c.truth.json"), tmp("c.live.json"));
    let l = live(&lj, &["--rerequest", REQ]);
    netns::wait_joined(A.parse().unwrap());
    netns::wait_joined(B.parse().unwrap());
    let s = spawn(&[
        "serve",
        sample.to_str().unwrap(),
        "--group",
        A,
        "--line-b",
        B,
        "--iface",
        "127.0.0.1",
        "--drop",
        "0.02",
        "--outage",
        "500:20",
        "--request-server",
        REQ,
        "--pps",
        "100000",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let (sc, _) = finish(s);
    let (lc, lo) = finish(l);
    assert_eq!((sc, lc), (0, 0), "{lo}");
    assert!(!lost_on_every_line(&json(&truth)).is_empty());
    let rec = check_recovered(&lj, &want, 100_000);
    assert!(rec["filled_by_request"].as_u64().unwrap() > 0);
    for p in [&truth, &lj] {
        let _ = std::fs::remove_file(p);
    }
}
