//! `fh replay` end to end on the production IEX DEEP capture: the `--bbo-csv` rows equal BBO
//! changes computed independently from the oracle decode (published only at event ends), the
//! digest is the same on every run, `--symbol` keeps books only for the named symbols, bad
//! input is one line with exit code 2, and `fh` alone replays the bundled sample.
//!
//! Inputs: a generated day split in two files (pcap and bare ITCH) replays, as several files,
//! to the digest of the whole; `-` reads standard input (plain or gzip'd); a cut capture is in
//! the report (`capture.truncated`, a warning line naming the file and offset); CME MDP3 and
//! Cboe PITCH captures are counted as foreign datagrams, never as malformed ITCH.

use fh_decoders::price::Price4;
use fh_feed::pipeline::{report, Pipeline, RunReport};
use fh_replay::capture::{Capture, Kind};
use fh_replay::frame::LinkType;
use fh_replay::gen::{self, Config, Format, Options, Stop};
use fh_replay::writer::{PcapWriter, TsPrecision};
use fh_tests::{real_pcaps_or_skip, run_fh, workspace_root};
use flate2::read::GzDecoder;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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

/// A generated day of `messages` (symbols 20, seed 11) as `format` in `name`.
fn day(name: &str, format: Format, messages: u64) -> PathBuf {
    let out = tmp(name);
    let opts = Options {
        config: Config {
            symbols: 20,
            seed: 11,
            stop: Stop::Messages(messages),
        },
        ..Options::default()
    };
    gen::write_files(&opts, format, &out).unwrap();
    out
}

/// Writes records `[from, to)` of the pcap `whole` to `out` (ns, Ethernet, as generated).
fn pcap_part(whole: &Path, from: usize, to: usize, out: &Path) {
    let cap = Capture::open(whole).unwrap();
    let mut w = PcapWriter::new(
        std::fs::File::create(out).unwrap(),
        LinkType::Ethernet,
        TsPrecision::Nano,
    )
    .unwrap();
    for r in cap.records().unwrap().skip(from).take(to - from) {
        let r = r.unwrap();
        w.write_packet(r.ts_ns, r.data).unwrap();
    }
    w.finish().unwrap();
}

fn replay(files: &[&Path]) -> RunReport {
    Pipeline::replay_files(files.iter().copied())
        .digest(true)
        .run()
        .unwrap()
        .report
}

/// Two halves of a capture replayed as two files are the whole capture: the same digest,
/// sequencing without a gap, the same books; the report names both files. So is an ITCH file
/// split at a message boundary (the stream's numbering goes on).
#[test]
fn several_files_replay_as_the_one_they_were_cut_from() {
    let whole = day("split-whole.pcap", Format::Pcap, 60_000);
    let n = Capture::open(&whole).unwrap().records().unwrap().count();
    let (a, b) = (tmp("split-a.pcap"), tmp("split-b.pcap"));
    pcap_part(&whole, 0, n / 3, &a);
    pcap_part(&whole, n / 3, n, &b);
    let one = replay(&[&whole]);
    let two = replay(&[&a, &b]);
    assert!(one.digest.is_some());
    assert_eq!(two.digest, one.digest);
    assert_eq!(two.engine.itch_messages, one.engine.itch_messages);
    let q = two.engine.moldudp64.as_ref().unwrap();
    assert_eq!((q.stats.gaps, q.stats.session_changes), (0, 0));
    assert_eq!(two.books.len(), one.books.len());
    assert_eq!(
        two.source,
        format!("{} {}", a.display(), b.display()),
        "the report names every file"
    );
    let c = two.capture.as_ref().unwrap();
    assert_eq!((c.records, c.kind.as_str()), (n as u64, "Pcap"));
    assert_eq!(c.files.len(), 2);
    assert_eq!(c.files[0].records + c.files[1].records, n as u64);
    assert!(!c.truncated && c.warnings.is_empty());
    let text = report::render_text(&two);
    assert!(
        text.starts_with(&format!(
            "fh replay {} {} (Pcap, {n} records)",
            a.display(),
            b.display()
        )),
        "{text}"
    );
    // The second half alone starts in the middle of the session: a gap at its start, other
    // books.
    let half = replay(&[&b]);
    assert_ne!(half.digest, one.digest);
    // Gzip'd and plain mixed: the same stream.
    let bz = tmp("split-b.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&bz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(&b).unwrap()).unwrap();
    enc.finish().unwrap();
    let mixed = replay(&[&a, &bz]);
    assert_eq!(mixed.digest, one.digest);
    assert_eq!(mixed.capture.as_ref().unwrap().kind, "Pcap+PcapGz");

    // A bare ITCH file split at a message boundary.
    let itch = day("split-whole.itch", Format::Itch, 30_000);
    let bytes = std::fs::read(&itch).unwrap();
    let mut at = 0;
    while at < bytes.len() / 2 {
        at += 2 + usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
    }
    let (ia, ib) = (tmp("split-a.itch"), tmp("split-b.bin"));
    std::fs::write(&ia, &bytes[..at]).unwrap();
    std::fs::write(&ib, &bytes[at..]).unwrap();
    assert_eq!(Capture::open(&ib).unwrap().kind(), Kind::Itch);
    let one = replay(&[&itch]);
    let two = replay(&[&ia, &ib]);
    assert_eq!(two.digest, one.digest);
    assert_eq!(two.engine.itch_messages, 30_000);
    for p in [whole, a, b, bz, itch, ia, ib] {
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(gen::truth_path(&p));
    }
}

/// A capture cut inside its last record: every whole record is replayed, and the report says
/// so (`capture.truncated`, which a shell can exit 1 on; a warning line naming the file and
/// offset; the first line).
#[test]
fn a_cut_capture_is_in_the_report() {
    let whole = day("cut-whole.pcap", Format::Pcap, 5_000);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = tmp("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let r = replay(&[&cut]);
    let c = r.capture.as_ref().unwrap();
    assert!(c.truncated);
    assert_eq!(c.warnings.len(), 1);
    let w = &c.warnings[0];
    assert!(
        w.starts_with(&format!("{}: offset ", cut.display())) && w.contains("cut off"),
        "{w}"
    );
    let text = report::render_text(&r);
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().contains("cut inside the last record"),
        "{text}"
    );
    assert_eq!(lines.next().unwrap(), format!("warning: {w}"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["capture"]["truncated"], true);
    assert_eq!(json["capture"]["files"][0]["truncated"], true);
    // A cut first file followed by another: both replayed, the warning names the first.
    let r = replay(&[&cut, &whole]);
    let c = r.capture.as_ref().unwrap();
    assert!(c.truncated && c.files.len() == 2 && !c.files[1].truncated);
    assert!(c.warnings[0].contains("cut.pcap"), "{:?}", c.warnings);
    for p in [whole.clone(), cut, gen::truth_path(&whole)] {
        let _ = std::fs::remove_file(p);
    }
}

/// The UDP captures of one venue below `dir` (by name: CME MDP3, Cboe PITCH).
fn venue_pcaps(dir: &Path, keep: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let s = p.to_string_lossy().to_string();
        if p.is_dir() {
            venue_pcaps(&p, keep, out);
        } else if s.ends_with(".pcap") && keep(&s) {
            out.push(p);
        }
    }
}

/// CME MDP3 and Cboe PITCH are neither MoldUDP64 nor IEX-TP: every datagram is counted as
/// foreign, none as malformed MoldUDP64 or ITCH, and the report says it in words.
#[test]
fn cme_and_cboe_captures_are_foreign_not_malformed_itch() {
    let Some(real) = real_pcaps_or_skip("cme_and_cboe_captures_are_foreign_not_malformed_itch")
    else {
        return;
    };
    let omi = real.join("omi-data-packets");
    let mut cme = Vec::new();
    venue_pcaps(
        &omi.join("Cme"),
        &|s| s.contains("Mdp3") && !s.contains(".Tcp."),
        &mut cme,
    );
    let mut cboe = Vec::new();
    venue_pcaps(&omi.join("Cboe"), &|s| s.contains("Pitch"), &mut cboe);
    venue_pcaps(
        &real.join("cboe-bats-lab-2014"),
        &|s| s.contains("pitch"),
        &mut cboe,
    );
    assert!(cme.len() >= 5 && cboe.len() >= 10, "{cme:?} {cboe:?}");
    for (venue, files) in [("CME", &cme), ("Cboe", &cboe)] {
        let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let r = replay(&paths);
        let (c, e) = (r.capture.as_ref().unwrap(), &r.engine);
        assert!(c.udp_datagrams > 0, "{venue}");
        assert_eq!(
            e.unknown_protocol, c.udp_datagrams,
            "{venue}: every datagram foreign"
        );
        assert_eq!(
            (
                e.mold_malformed,
                e.itch_malformed,
                e.itch_messages,
                e.iex_messages
            ),
            (0, 0, 0, 0),
            "{venue}"
        );
        let text = report::render_text(&r);
        assert!(
            text.contains(&format!(
                "foreign: {} datagrams neither MoldUDP64 nor IEX-TP",
                c.udp_datagrams
            )),
            "{venue}: {text}"
        );
        assert!(
            text.contains("malformed: moldudp64 0 packets, iex-tp 0 segments, itch 0 messages"),
            "{venue}: {text}"
        );
    }
    // The Nasdaq captures of the same collection are not foreign (their anonymised sessions
    // are NUL bytes).
    let mut nasdaq = Vec::new();
    venue_pcaps(
        &omi.join("Nasdaq"),
        &|s| s.contains("TotalView.Itch"),
        &mut nasdaq,
    );
    let paths: Vec<&Path> = nasdaq.iter().map(PathBuf::as_path).collect();
    let r = replay(&paths);
    // (Replayed as one stream they repeat sequence numbers: duplicates, not malformed.)
    assert_eq!((r.engine.unknown_protocol, r.engine.mold_malformed), (0, 0));
    let packets = r.engine.moldudp64.as_ref().map_or(0, |q| q.stats.packets);
    assert_eq!(packets, r.capture.as_ref().unwrap().udp_datagrams);
}

/// Runs `fh args…` with `stdin` as its standard input.
fn run_fh_stdin(args: &[&str], stdin: &Path) -> (i32, String, String) {
    let out = std::process::Command::new(fh_tests::fh_bin())
        .args(args)
        .stdin(std::fs::File::open(stdin).unwrap())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn digest_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("digest: "))
        .unwrap_or_else(|| panic!("no digest in:\n{out}"))
        .to_string()
}

/// `-` is standard input: a pcap piped in (plain or gzip'd) replays to the digest of the
/// file, and `fh decode -` decodes it; several FILE arguments replay as one stream.
#[test]
fn standard_input_and_several_files_from_the_command_line() {
    let whole = day("cli-whole.pcap", Format::Pcap, 20_000);
    let w = whole.to_str().unwrap();
    let (code, out, err) = run_fh_stdin(&["replay", w, "--digest"], Path::new("/dev/null"));
    assert_eq!(code, 0, "{err}");
    let want = digest_line(&out);
    let gz = tmp("cli-whole.bin");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(&whole).unwrap()).unwrap();
    enc.finish().unwrap();
    for input in [&whole, &gz] {
        let (code, out, err) = run_fh_stdin(&["replay", "-", "--digest"], input);
        assert_eq!(code, 0, "{}: {err}", input.display());
        assert_eq!(digest_line(&out), want, "{}", input.display());
        assert!(out.starts_with("fh replay standard input ("), "{out}");
    }
    let (code, out, err) = run_fh_stdin(&["decode", "-", "--limit", "3"], &gz);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    // Nothing on standard input: one line in plain words.
    let (code, _, err) = run_fh_stdin(&["replay", "-"], Path::new("/dev/null"));
    assert_ne!(code, 0);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.trim_end()
            .ends_with("standard input: offset 0: empty file"),
        "{err}"
    );

    // Two FILE arguments: one stream, the report names both.
    let n = Capture::open(&whole).unwrap().records().unwrap().count();
    let (a, b) = (tmp("cli-a.pcap"), tmp("cli-b.pcap"));
    pcap_part(&whole, 0, n / 2, &a);
    pcap_part(&whole, n / 2, n, &b);
    let (code, out, err) = run_fh([
        "replay",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--digest",
    ]);
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(digest_line(&out), want);
    assert!(
        out.starts_with(&format!("fh replay {} {} (", a.display(), b.display())),
        "{out}"
    );
    for p in [whole.clone(), gz, a, b, gen::truth_path(&whole)] {
        let _ = std::fs::remove_file(p);
    }
}

/// What the system says about a path, in plain words, one line naming it.
#[test]
fn directories_missing_and_empty_files_in_plain_words() {
    let dir = tmp("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let missing = tmp("missing.pcap");
    let text = tmp("text.NASDAQ_ITCH50");
    std::fs::write(&text, "Symbol,Price\nAAPL,150.00\n").unwrap();
    for (path, words) in [
        (dir.clone(), format!("{}: is a directory", dir.display())),
        (
            missing.clone(),
            format!("{}: no such file", missing.display()),
        ),
        (
            PathBuf::from("/dev/null"),
            "/dev/null: offset 0: empty file".to_string(),
        ),
        (
            text.clone(),
            format!(
                "{}: offset 0: not a capture (pcap, pcapng, gzip) or an ITCH 5.0 stream",
                text.display()
            ),
        ),
    ] {
        for cmd in ["replay", "decode"] {
            let (code, out, err) = run_fh([cmd.as_ref(), path.as_os_str()]);
            assert_ne!(code, 0, "{cmd} {}", path.display());
            assert!(out.is_empty(), "{cmd}");
            assert_eq!(err.trim_end().lines().count(), 1, "{cmd}: {err}");
            // (`fh CMD: ` may come first.)
            assert!(err.contains(&words), "{cmd}: {err}");
        }
    }
    let _ = std::fs::remove_file(&text);
}
