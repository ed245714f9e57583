//! One pipeline for replay and live, with a user's strategy in it: a strategy written here,
//! outside `fh-feed`, runs unchanged over a capture replay (both threading modes, stepped),
//! a paced replay and a live feed in a private network namespace, and sees the identical
//! update sequence in all of them (its own hash of what it saw); the single-thread replay's
//! digest agrees with 1 and 3 strategies on the bundled sample, the production IEX DEEP
//! capture and a faulted generated day; and the top-of-book table a strategy reads is exactly
//! the book at every event in the shared threading mode, and never older than the update in
//! hand otherwise. Also: `--report-json` validates against `feed/report.schema.json` and
//! says what the text report says.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fh_feed::pipeline::live::{run_with_events, LiveSource, Protocol};
use fh_feed::pipeline::{Pacing, Pipeline, RunOutcome, Threading};
use fh_feed::strategy::{Context, Figures, Strategy};
use fh_feed::update::{BookUpdate, InstrumentId, Side, UpdateKind};
use fh_tests::{datagrams, netns::wait_joined};
use fh_tests::{netns, real_pcaps_or_skip, run_fh, workspace_root};

/// The user's strategy: a hash of everything it saw (FNV-1a over every field but the local
/// times), and a check of the top-of-book table against L2 ladders it keeps itself.
#[derive(Debug, Default)]
struct Seen {
    hash: u64,
    updates: u64,
    books: HashMap<InstrumentId, Book>,
    /// Arrival order of the events read (feed sequence number → ordinal): feed numbers go
    /// backwards when a late packet fills a gap, so "older" is judged by arrival.
    order: HashMap<u64, u64>,
    /// Reads of the table at event ends that equalled the book exactly.
    exact: u64,
    /// Reads that showed a later state of the instrument (allowed when the strategy runs
    /// behind the engine).
    newer: u64,
    /// Reads that showed an older or a wrong state: never allowed.
    wrong: u64,
    first_wrong: Option<String>,
}

/// One instrument's book as the strategy rebuilds it from the updates.
#[derive(Debug, Default)]
struct Book {
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
    /// Best bid and offer (price, shares; shares 0: none) at the last event end.
    best: ((i64, u64), (i64, u64)),
    /// Arrival ordinal of the last event that moved them.
    moved_at: u64,
}

const FNV: u64 = 0x100_0000_01b3;

impl Seen {
    fn fold(&mut self, words: [u64; 7]) {
        if self.updates == 0 {
            self.hash = 0xcbf2_9ce4_8422_2325;
        }
        for w in words {
            for b in w.to_le_bytes() {
                self.hash = (self.hash ^ u64::from(b)).wrapping_mul(FNV);
            }
        }
        self.updates += 1;
    }
}

impl Strategy for Seen {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        self.fold([
            u.seq,
            u.exch_ts,
            u.price as u64,
            u.shares,
            u64::from(u.order_count),
            u64::from(u.instrument),
            u64::from(u.kind as u8)
                | u64::from(u.side as u8) << 8
                | u64::from(u.flags.bits()) << 16,
        ]);
        let book = self.books.entry(u.instrument).or_default();
        let side = match u.side {
            Side::Bid => Some(&mut book.bids),
            Side::Ask => Some(&mut book.asks),
            Side::None => None,
        };
        if let Some(side) = side {
            match u.kind {
                UpdateKind::AddLevel | UpdateKind::ChangeLevel => {
                    side.insert(u.price, u.shares);
                }
                UpdateKind::DeleteLevel => {
                    side.remove(&u.price);
                }
                _ => {}
            }
        }
        if !u.flags.last_in_event() {
            return;
        }
        let bid = book
            .bids
            .iter()
            .next_back()
            .map_or((0, 0), |(&p, &s)| (p, s));
        let ask = book.asks.iter().next().map_or((0, 0), |(&p, &s)| (p, s));
        let ordinal = self.order.len() as u64 + 1;
        self.order.insert(u.seq, ordinal);
        if (bid, ask) != book.best {
            book.best = (bid, ask);
            book.moved_at = ordinal;
        }
        let top = ctx.top(u.instrument);
        let (tb, ta, tseq) = top.map_or(((0, 0), (0, 0), 0), |t| {
            (
                (t.bid_price, t.bid_shares),
                (t.ask_price, t.ask_shares),
                t.seq,
            )
        });
        // A side without orders has shares 0 and a meaningless price.
        let same = |a: (i64, u64), b: (i64, u64)| a.1 == b.1 && (a.1 == 0 || a.0 == b.0);
        if same(bid, tb) && same(ask, ta) {
            self.exact += 1;
        } else if top.is_some() && self.order.get(&tseq).is_none_or(|&o| o > book.moved_at) {
            // The engine has moved on: a later state of this instrument.
            self.newer += 1;
        } else {
            self.wrong += 1;
            if self.first_wrong.is_none() {
                self.first_wrong = Some(format!(
                    "update {u:?}: book bid {bid:?} ask {ask:?} (moved at {}), table {top:?}",
                    book.moved_at
                ));
            }
        }
    }

    fn report(&self, out: &mut Figures) {
        out.text("hash", format!("{:016x}", self.hash))
            .count("updates", self.updates)
            .count("top exact", self.exact)
            .count("top newer", self.newer)
            .count("top wrong", self.wrong);
    }
}

/// The single-thread replay's digest (`fh replay --digest` in-process).
fn single_thread_digest(path: &Path) -> String {
    let out = Pipeline::replay(path).digest(true).run().unwrap();
    out.report.digest.clone().unwrap()
}

/// A strategy's `digest` figure.
fn digest_figure(out: &RunOutcome, name: &str) -> String {
    let s = out
        .report
        .strategies
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no strategy {name}"));
    s.figures.get("digest").unwrap().to_string()
}

/// Replays `path` with `threading` and `pacing`, `Seen` plus `extra` built-in digests.
fn seen(path: &Path, threading: Threading, pacing: Pacing, extra: usize) -> (Seen, RunOutcome) {
    let mut p = Pipeline::replay(path)
        .threading(threading)
        .pacing(pacing)
        .strategy("seen", Seen::default());
    for i in 0..extra {
        p = p.strategy(
            format!("digest-{i}"),
            fh_feed::pipeline::builtin::DigestStrategy::default(),
        );
    }
    let mut out = p.run().unwrap();
    let s = out.take::<Seen>("seen").unwrap();
    (s, out)
}

fn check_all_modes(path: &Path) {
    let want = single_thread_digest(path);
    let mut hashes = Vec::new();
    for (threading, pacing, extra) in [
        (Threading::Shared, Pacing::AsFast, 0),
        (Threading::Dedicated, Pacing::AsFast, 2),
        (Threading::Shared, Pacing::AsFast, 2),
        (Threading::Dedicated, Pacing::Step { every_ns: 0 }, 0),
    ] {
        let (s, out) = seen(path, threading, pacing, extra);
        let mode = format!("{threading:?} {pacing:?} with {} strategies", 1 + extra);
        assert_eq!(
            s.updates, out.report.updates.total,
            "{mode}: every update seen"
        );
        assert_eq!(s.wrong, 0, "{mode}: {:?}", s.first_wrong);
        assert!(s.exact > 0, "{mode}: the table was read");
        if threading == Threading::Shared {
            assert_eq!(
                s.newer, 0,
                "{mode}: shared threading reads the table at the event"
            );
        }
        for i in 0..extra {
            assert_eq!(digest_figure(&out, &format!("digest-{i}")), want, "{mode}");
        }
        hashes.push((mode, s.hash));
    }
    let first = hashes[0].1;
    for (mode, h) in &hashes {
        assert_eq!(
            *h, first,
            "{mode}: the same update sequence as {}",
            hashes[0].0
        );
    }
}

#[test]
fn a_user_strategy_sees_the_same_stream_in_every_replay_mode_on_the_sample() {
    check_all_modes(&workspace_root().join("pcaps/sample.pcap"));
}

#[test]
fn a_user_strategy_sees_the_same_stream_in_every_replay_mode_on_real_iex_deep() {
    let Some(dir) = real_pcaps_or_skip("pipeline_modes_real_iex_deep") else {
        return;
    };
    check_all_modes(&dir.join("iex-deep-20231002-sai271828/test.pcap"));
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fh-pipeline-modes-{}-{name}", std::process::id()))
}

/// A generated day with 1 % drops, 0.5 % duplicates and 1 % reordered packets.
fn faulted_day(f: &Path, messages: u64) {
    use fh_replay::gen::{self, Config, FaultRates, Format, Options, Stop};
    let o = Options {
        config: Config {
            symbols: 20,
            seed: 11,
            stop: Stop::Messages(messages),
        },
        rates: FaultRates {
            drop: 0.01,
            dup: 0.005,
            reorder: 0.01,
            corrupt: 0.0,
        },
        ..Options::default()
    };
    gen::write_files(&o, Format::Pcap, f).unwrap();
}

#[test]
fn a_user_strategy_sees_the_same_stream_in_every_replay_mode_on_a_faulted_day() {
    let f = tmp("faults.pcap");
    faulted_day(&f, 150_000);
    check_all_modes(&f);
    let _ = std::fs::remove_file(&f);
    let _ = std::fs::remove_file(fh_replay::gen::truth_path(&f));
}

#[test]
fn a_paced_replay_sees_the_same_stream() {
    let sample = workspace_root().join("pcaps/sample.pcap");
    let (fast, _) = seen(&sample, Threading::Dedicated, Pacing::AsFast, 0);
    // The sample spans a few seconds of capture time: 200× plays it in a few tens of ms.
    let t0 = Instant::now();
    let (paced, out) = seen(&sample, Threading::Dedicated, Pacing::Speed(200.0), 0);
    assert_eq!(paced.hash, fast.hash);
    assert_eq!(paced.updates, fast.updates);
    assert_eq!(out.report.pacing.as_deref(), Some("speed 200"));
    assert!(t0.elapsed() < Duration::from_secs(60));
}

const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 54, 12, 121), 26481);

/// Sends `path` to [`GROUP`] on loopback at `pps`.
fn send(path: &Path, pps: u64) -> u64 {
    let mut cfg = fh_replay::wire::WireConfig::new(GROUP);
    cfg.iface = Some(Ipv4Addr::LOCALHOST);
    cfg.pacing = fh_replay::wire::Pacing::Pps(pps);
    fh_replay::wire::send_capture(path, &cfg).unwrap().packets
}

/// Runs `Seen` (and `extra` built-in digests) live over `path` sent on loopback multicast.
fn live_seen(
    path: &Path,
    protocol: Protocol,
    threading: Threading,
    extra: usize,
) -> (Seen, RunOutcome) {
    let n = datagrams(path);
    let mut src = LiveSource::new(&[GROUP], protocol);
    src.config.iface = Ipv4Addr::LOCALHOST;
    src.packets = Some(n);
    src.duration = Some(Duration::from_secs(60));
    let mut p = Pipeline::live(src)
        .threading(threading)
        .digest(true)
        .strategy("seen", Seen::default());
    for i in 0..extra {
        p = p.strategy(
            format!("digest-{i}"),
            fh_feed::pipeline::builtin::DigestStrategy::default(),
        );
    }
    let run = std::thread::spawn(move || run_with_events(p, &mut |_| {}).unwrap());
    wait_joined(GROUP);
    assert_eq!(send(path, 40_000), n);
    let mut out = run.join().unwrap();
    let live = out.report.live.as_ref().unwrap();
    assert_eq!(live.rx.packets, n, "every datagram arrived");
    assert_eq!(live.rx.kernel_drops, 0);
    assert_eq!(out.report.engine.foreign, 0);
    let s = out.take::<Seen>("seen").unwrap();
    (s, out)
}

/// Live equals replay on `path`: with 1 strategy (dedicated) and 3 (shared threading).
fn live_equals_replay(path: &Path, protocol: Protocol) {
    let want = single_thread_digest(path);
    let (replayed, _) = seen(path, Threading::Dedicated, Pacing::AsFast, 0);
    for (threading, extra) in [(Threading::Dedicated, 0), (Threading::Shared, 2)] {
        let mode = format!(
            "{} live, {threading:?}, {} strategies",
            path.display(),
            1 + extra
        );
        let (s, out) = live_seen(path, protocol, threading, extra);
        assert_eq!(out.report.digest.as_deref(), Some(want.as_str()), "{mode}");
        for i in 0..extra {
            assert_eq!(digest_figure(&out, &format!("digest-{i}")), want, "{mode}");
        }
        assert_eq!(s.updates, replayed.updates, "{mode}");
        assert_eq!(
            s.hash, replayed.hash,
            "{mode}: the replay's update sequence"
        );
        assert_eq!(s.wrong, 0, "{mode}: {:?}", s.first_wrong);
        if threading == Threading::Shared {
            assert_eq!(
                s.newer, 0,
                "{mode}: shared threading reads the table at the event"
            );
        }
    }
}

#[test]
fn a_user_strategy_sees_the_same_stream_live() {
    const NAME: &str = "a_user_strategy_sees_the_same_stream_live";
    if !netns::enter(NAME) {
        return;
    }
    live_equals_replay(&workspace_root().join("pcaps/sample.pcap"), Protocol::Itch);
    let f = tmp("live-faults.pcap");
    faulted_day(&f, 60_000);
    live_equals_replay(&f, Protocol::Itch);
    let _ = std::fs::remove_file(&f);
    let _ = std::fs::remove_file(fh_replay::gen::truth_path(&f));
    if let Some(dir) = real_pcaps_or_skip(NAME) {
        live_equals_replay(
            &dir.join("iex-deep-20231002-sai271828/test.pcap"),
            Protocol::Iex,
        );
    }
}

/// The stages a report's latency table has.
fn stages(v: &serde_json::Value) -> Vec<String> {
    v["latency"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// `--hgrm`, `--hlog`, `--plot` and `--report-json` of a run with strategies `digest` and
/// `spread`: a `.hgrm` per stage (each strategy's hop included), an interval log that `fh
/// report` reads back with the same stages, and a curve per stage in the plot.
fn check_outputs(dir: &Path, v: &serde_json::Value) {
    validate(v);
    let names = stages(v);
    for hop in [
        "consume.digest",
        "end_to_end.digest",
        "consume.spread",
        "end_to_end.spread",
    ] {
        assert!(names.iter().any(|n| n == hop), "{hop} in {names:?}");
    }
    for n in &names {
        let f = dir
            .join("hgrm")
            .join(format!("{}.hgrm", n.replace('.', "_")));
        assert!(f.exists(), "{} written", f.display());
    }
    let svg = std::fs::read_to_string(dir.join("p.svg")).unwrap();
    assert_eq!(
        svg.matches("class=\"curve\"").count(),
        names.len(),
        "a curve per stage"
    );
    let (code, out, err) = run_fh(["report", dir.join("l.hlog").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = String::from_utf8(out).unwrap();
    for n in &names {
        assert!(
            text.contains(&format!("\n{n} ")),
            "fh report shows {n}: {text}"
        );
    }
}

fn output_args(dir: &Path) -> Vec<String> {
    let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
    vec![
        "--strategy".into(),
        "digest".into(),
        "--strategy".into(),
        "spread".into(),
        "--hgrm".into(),
        d("hgrm"),
        "--hlog".into(),
        d("l.hlog"),
        "--interval".into(),
        "0.05".into(),
        "--plot".into(),
        d("p.svg"),
        "--report-json".into(),
        d("r.json"),
    ]
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn replay_pipeline_latency_outputs_have_every_stage_and_each_strategy_hop() {
    let dir = fresh_dir("replay-outputs");
    let sample = workspace_root().join("pcaps/sample.pcap");
    let mut args = vec![
        "replay".to_string(),
        sample.to_str().unwrap().into(),
        "--pipeline".into(),
    ];
    args.extend(output_args(&dir));
    let (code, _, err) = run_fh(args.iter().map(String::as_str));
    assert_eq!(code, 0, "{err}");
    let v = serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    check_outputs(&dir, &v);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_latency_outputs_have_every_stage_and_each_strategy_hop() {
    const NAME: &str = "live_latency_outputs_have_every_stage_and_each_strategy_hop";
    if !netns::enter(NAME) {
        return;
    }
    let dir = fresh_dir("live-outputs");
    let sample = workspace_root().join("pcaps/sample.pcap");
    let n = datagrams(&sample);
    let mut args: Vec<String> = [
        "live",
        "--protocol",
        "itch",
        "--iface",
        "127.0.0.1",
        "--stats-every",
        "0",
        "--duration",
        "60",
        "--threading",
        "shared",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--group".into(),
        GROUP.to_string(),
        "--packets".into(),
        n.to_string(),
    ]);
    args.extend(output_args(&dir));
    let child = std::process::Command::new(netns::fh_bin())
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_joined(GROUP);
    assert_eq!(send(&sample, 40_000), n);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("latency kernel receive -> strategy, ns: count "),
        "{text}"
    );
    let v = serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    check_outputs(&dir, &v);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Validates `json` against the checked-in schema.
fn validate(json: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("feed/report.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v
        .iter_errors(json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_json_report_validates_and_says_what_the_text_says() {
    let sample = workspace_root().join("pcaps/sample.pcap");
    let s = sample.to_str().unwrap();
    for (i, extra) in [
        vec!["--digest"],
        vec![
            "--pipeline",
            "--strategy",
            "digest",
            "--strategy",
            "spread",
            "--strategy",
            "tape",
        ],
        vec![
            "--pipeline",
            "--threading",
            "shared",
            "--consumers",
            "3",
            "--digest",
        ],
        vec!["--speed", "400", "--no-latency"],
    ]
    .into_iter()
    .enumerate()
    {
        let j = tmp(&format!("r{i}.json"));
        let mut args = vec!["replay", s, "--report-json", j.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let (code, out, err) = run_fh(args.iter().copied());
        assert_eq!(code, 0, "{args:?}: {err}");
        let text = String::from_utf8(out).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
        validate(&v);
        let total = v["updates"]["total"].as_u64().unwrap();
        assert!(
            text.contains(&format!("\nupdates: {total} (")),
            "{args:?}: {text}"
        );
        let msgs = v["engine"]["itch_messages"].as_u64().unwrap();
        assert!(text.contains(&format!("ITCH messages: {msgs} (")), "{text}");
        if let Some(d) = v["digest"].as_str() {
            assert!(text.contains(&format!("\ndigest: {d}\n")), "{text}");
        }
        for st in v["strategies"].as_array().unwrap() {
            let name = st["name"].as_str().unwrap();
            let n = st["delivered"].as_u64().unwrap();
            assert_eq!(n, total, "{name} read every update");
            assert!(text.contains(&format!("({name}, ")), "{text}");
        }
        if let Some(stages) = v["latency"]["stages"].as_array() {
            for st in stages {
                let name = st["name"].as_str().unwrap();
                assert!(
                    text.contains(&format!("\n{name} ")),
                    "{name} in the table: {text}"
                );
            }
        }
        let _ = std::fs::remove_file(&j);
    }
}

/// The `bbo-csv` strategy (its own L2 ladders, on its own thread) writes the very file the
/// single-thread replay writes from the engine's BBO changes.
#[test]
fn the_bbo_csv_strategy_writes_the_single_thread_replays_file() {
    let mut files = vec![workspace_root().join("pcaps/sample.pcap")];
    if let Some(dir) = real_pcaps_or_skip("pipeline_modes_bbo_csv") {
        files.push(dir.join("iex-deep-20231002-sai271828/test.pcap"));
    }
    let dir = fresh_dir("bbo-csv");
    for (i, f) in files.iter().enumerate() {
        let (one, piped) = (
            dir.join(format!("one{i}.csv")),
            dir.join(format!("pipe{i}.csv")),
        );
        let f = f.to_str().unwrap();
        for (csv, pipeline) in [(&one, false), (&piped, true)] {
            let mut args = vec![
                "replay",
                f,
                "--no-latency",
                "--bbo-csv",
                csv.to_str().unwrap(),
            ];
            if pipeline {
                args.extend([
                    "--pipeline",
                    "--strategy",
                    "bbo-csv",
                    "--strategy",
                    "digest",
                ]);
            }
            let (code, _, err) = run_fh(args.iter().copied());
            assert!(code == 0 || code == 1, "{args:?}: {err}");
        }
        let (a, b) = (
            std::fs::read_to_string(&one).unwrap(),
            std::fs::read_to_string(&piped).unwrap(),
        );
        assert!(a.lines().count() > 100, "{f}: rows written");
        assert_eq!(a, b, "{f}: the same BBO rows");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
