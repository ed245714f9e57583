//! The command line's contract, as a table: for every case, the exit code (0 success, 1 data
//! problems, 2 usage or input error, 130 interrupted), the first line of stderr (`fh COMMAND:
//! …`, one line for an error), no panic text and no backtrace, every input byte-identical
//! afterwards, and no partial or temporary output left behind. Then: Ctrl-C during a paced
//! replay and during `fh gen`, a closed stdout, and a property test over random argument
//! vectors of every command (never a panic or an abort; 0, 1 or 2; live only inside a private
//! network namespace).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fh_replay::capture::Capture;
use fh_replay::frame::LinkType;
use fh_replay::writer::{PcapWriter, TsPrecision};
use fh_tests::netns;

/// A scratch directory with the fixtures every case may name (relative to it: the cases run
/// with it as their working directory).
struct Fixture {
    dir: PathBuf,
}

fn fh(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(netns::fh_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("spawn fh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("fh-contract-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        let sample = fh_tests::workspace_root().join("pcaps/sample.pcap");
        let bytes = std::fs::read(&sample).unwrap();
        std::fs::write(dir.join("in.pcap"), &bytes).unwrap();
        // Cut inside the last record.
        std::fs::write(dir.join("cut.pcap"), &bytes[..bytes.len() - 25]).unwrap();
        std::fs::write(dir.join("junk.bin"), b"this is no capture at all\n").unwrap();
        std::fs::write(dir.join("empty.bin"), b"").unwrap();
        std::fs::hard_link(dir.join("in.pcap"), dir.join("hard.pcap")).unwrap();
        std::os::unix::fs::symlink("in.pcap", dir.join("sym.pcap")).unwrap();
        // The first 300 records of the sample, all at one timestamp: any --speed is instant.
        let cap = Capture::open(&sample).unwrap();
        let f = std::fs::File::create(dir.join("tiny.pcap")).unwrap();
        let mut w = PcapWriter::new(f, LinkType::Ethernet, TsPrecision::Nano).unwrap();
        for r in cap.records().unwrap().take(300) {
            w.write_packet(1_000_000_000, r.unwrap().data).unwrap();
        }
        w.finish().unwrap();
        let tiny = std::fs::read(dir.join("tiny.pcap")).unwrap();
        std::fs::write(dir.join("tinycut.pcap"), &tiny[..tiny.len() - 25]).unwrap();
        let fx = Fixture { dir };
        for args in [
            "gen --out gaps.pcap --messages 20000 --symbols 5 --drop 0.05",
            "gen --out bad.pcap --messages 20000 --symbols 5 --corrupt 0.05",
            "replay tiny.pcap --hlog r.hlog",
        ] {
            let (code, _, err) = fh(&fx.dir, &args.split(' ').collect::<Vec<_>>());
            assert_eq!(code, 0, "setup: fh {args}: {err}");
        }
        fx
    }

    /// Every file under the directory and its contents.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    walk(&p, out);
                } else if t.is_file() {
                    out.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        let mut m = BTreeMap::new();
        walk(&self.dir, &mut m);
        m
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One row: arguments, expected exit code, what the first line of stderr starts with, the
/// files the run must leave (complete), and whether stderr must be exactly that one line.
struct Case {
    args: &'static str,
    code: i32,
    first: &'static str,
    creates: &'static [&'static str],
}

const fn c(args: &'static str, code: i32, first: &'static str) -> Case {
    Case {
        args,
        code,
        first,
        creates: &[],
    }
}

const fn w(
    args: &'static str,
    code: i32,
    first: &'static str,
    creates: &'static [&'static str],
) -> Case {
    Case {
        args,
        code,
        first,
        creates,
    }
}

const LIVE: &str = "live --protocol itch --group 239.255.7.7:30001";

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let live = |rest: &'static str| -> &'static str {
        Box::leak(format!("{LIVE} {rest}").into_boxed_str())
    };
    vec![
        // Never destroy data: an output that is an input or another output.
        c("replay in.pcap --bbo-csv in.pcap", 2, "fh replay: --bbo-csv in.pcap: is the capture being replayed"),
        c("replay in.pcap --hlog in.pcap", 2, "fh replay: --hlog in.pcap: is the capture"),
        c("replay in.pcap --plot in.pcap", 2, "fh replay: --plot in.pcap: is the capture"),
        c("replay in.pcap --report-json in.pcap", 2, "fh replay: --report-json in.pcap: is the capture"),
        c("replay in.pcap --hgrm in.pcap", 2, "fh replay: --hgrm in.pcap: not a directory"),
        c("replay in.pcap --bbo-csv hard.pcap", 2, "fh replay: --bbo-csv hard.pcap: is the capture"),
        c("replay in.pcap --plot sym.pcap", 2, "fh replay: --plot sym.pcap: is the capture"),
        c("replay sym.pcap --plot ./d/../in.pcap", 2, "fh replay: --plot ./d/../in.pcap: is the capture"),
        c("replay tiny.pcap --hlog a.out --plot a.out", 2, "fh replay: --hlog a.out and --plot a.out: the same file"),
        c("replay tiny.pcap --bbo-csv a.out --report-json ./a.out", 2, "fh replay: --bbo-csv a.out and --report-json ./a.out: the same file"),
        c("replay tiny.pcap --hgrm d --hlog d/decode.hgrm", 2, "fh replay: --hlog d/decode.hgrm and --hgrm d: the same file"),
        c("replay tiny.pcap --pipeline --bbo-csv tiny.pcap", 2, "fh replay: --bbo-csv tiny.pcap: is the capture"),
        c("report r.hlog --plot r.hlog", 2, "fh report: --plot r.hlog: is the log"),
        c("report r.hlog --hgrm r.hlog", 2, "fh report: --hgrm r.hlog: not a directory"),
        c(live("--bbo-csv a.out --capture a.out"), 2, "fh live: --capture a.out and --bbo-csv a.out: the same file"),
        c(live("--hlog a.out --report-json a.out"), 2, "fh live: --hlog a.out and --report-json a.out: the same file"),
        // Every output location is checked before the run.
        c("replay tiny.pcap --plot nodir/p.svg", 2, "fh replay: --plot nodir/p.svg: no directory nodir"),
        c("replay tiny.pcap --hgrm junk.bin/x", 2, "fh replay: --hgrm junk.bin/x: junk.bin is not a directory"),
        c("replay tiny.pcap --bbo-csv d", 2, "fh replay: --bbo-csv d: is a directory"),
        c("report r.hlog --plot nodir/p.svg", 2, "fh report: --plot nodir/p.svg: no directory nodir"),
        c("gen --out d --messages 2000 --symbols 5", 2, "fh gen: --out d: is a directory"),
        c("gen --out nodir/x.pcap", 2, "fh gen: --out nodir/x.pcap: no directory nodir"),
        c(live("--hlog nodir/x.hlog"), 2, "fh live: --hlog nodir/x.hlog: no directory nodir"),
        // Every flag is honoured or refused, naming the flag and the mode.
        c("replay tiny.pcap --bogus", 2, "fh replay: --bogus: not a flag of fh replay"),
        c("replay tiny.pcap --strategy digest", 2, "fh replay: --strategy: not a flag of a single-thread fh replay"),
        c("replay tiny.pcap --step 10", 2, "fh replay: --step: not a flag of a single-thread fh replay"),
        c("replay tiny.pcap --loop 2", 2, "fh replay: --loop: not a flag of a single-thread fh replay"),
        c("replay tiny.pcap --ttl 1", 2, "fh replay: --ttl: not a flag of a single-thread fh replay"),
        c("replay tiny.pcap --to 239.255.7.7:30002 --hlog x.hlog", 2, "fh replay: --hlog: not a flag of fh replay --to"),
        c("replay tiny.pcap --to 239.255.7.7:30002 --digest", 2, "fh replay: --digest: not a flag of fh replay --to"),
        c("replay tiny.pcap --decode-only --digest", 2, "fh replay: --digest: not a flag of fh replay --decode-only"),
        c("replay tiny.pcap --decode-only --speed 2", 2, "fh replay: --speed: not a flag of fh replay --decode-only"),
        c(live("--stamp-every 3"), 2, "fh live: --stamp-every: not a flag of fh live"),
        c(live("--floor --digest"), 2, "fh live: --digest: not a flag of fh live --floor"),
        c(live("--floor --strategy spread"), 2, "fh live: --strategy: not a flag of fh live --floor"),
        c(live("--speed 2"), 2, "fh live: --speed: not a flag of fh live"),
        c("gen --out x.pcap --to 1", 2, "fh gen: --to: not a flag of fh gen"),
        c("decode tiny.pcap --digest", 2, "fh decode: --digest: not a flag of fh decode"),
        c("report r.hlog --speed 2", 2, "fh report: --speed: not a flag of fh report"),
        c("--bogus", 2, "fh: --bogus: not a flag of fh"),
        c("nosuchcommand", 2, "fh: unrecognized subcommand 'nosuchcommand'"),
        // Limits instead of aborts: every size and time in a documented range.
        c("replay tiny.pcap --orders 4294967295", 2, "fh replay: --orders 4294967295: must be from 1 to 268435456"),
        c("replay tiny.pcap --orders 0", 2, "fh replay: --orders 0: must be from 1"),
        c("replay tiny.pcap --orders 18446744073709551616", 2, "fh replay: invalid value '18446744073709551616' for '--orders <N>'"),
        c("replay tiny.pcap --pipeline --ring-size 1073741824", 2, "fh replay: --ring-size 1073741824: must be a power of two"),
        c("replay tiny.pcap --pipeline --ring-size 3", 2, "fh replay: --ring-size 3: must be a power of two"),
        c("replay tiny.pcap --speed 1e-9", 2, "fh replay: --speed 0.000000001: must be from 0.001 to 1000000"),
        c("replay tiny.pcap --speed NaN", 2, "fh replay: --speed NaN: must be from"),
        c("replay tiny.pcap --speed inf", 2, "fh replay: --speed inf: must be from"),
        c("replay tiny.pcap --interval 0", 2, "fh replay: --interval 0: must be from 0.001 to 3600"),
        c("replay tiny.pcap --interval 1e300", 2, "fh replay: --interval"),
        c("replay tiny.pcap --stamp-every 0", 2, "fh replay: --stamp-every 0: must be from 1"),
        c("replay tiny.pcap --depth 18446744073709551615", 2, "fh replay: --depth 18446744073709551615: must be from 0 to 1000"),
        c("replay tiny.pcap --top 18446744073709551615", 2, "fh replay: --top 18446744073709551615: must be from 0 to 100000"),
        c("replay tiny.pcap --pipeline --slow-ns 18446744073709551615", 2, "fh replay: --slow-ns 18446744073709551615: must be from 0 to 10000000"),
        c("replay tiny.pcap --pipeline --consumers 65", 2, "fh replay: --consumers 65: from 1 to 64"),
        c("replay tiny.pcap --pipeline --cpu 18446744073709551615", 2, "fh replay: --cpu 18446744073709551615: not a core"),
        c("replay tiny.pcap --pipeline --threading shared --cpu 0 --cpu 0", 2, "fh replay: --cpu 0: 2 cores for 1 threads"),
        c("replay tiny.pcap --to 239.255.7.7:30002 --loop 0", 2, "fh replay: --loop 0: must be from 1 to 1000000"),
        c("replay tiny.pcap --to 239.255.7.7:30002 --ttl 256", 2, "fh replay: --ttl 256: must be from 0 to 255"),
        c("replay tiny.pcap --to 239.255.7.7:30002 --pps 0", 2, "fh replay: --pps 0: must be from 1"),
        c("replay tiny.pcap --to 239.255.7.7:30002 --speed 1e-9", 2, "fh replay: --speed 0.000000001: must be from"),
        c("replay tiny.pcap --to 10.1.2.3:30002", 2, "fh replay: destination 10.1.2.3:30002 is not a multicast group"),
        c("replay tiny.pcap --no-latency --plot p.svg", 2, "fh replay: --no-latency: cannot be combined"),
        c("replay tiny.pcap --pipeline --speed 2 --step 5", 2, "fh replay: --step: not available with --speed"),
        c(live("--duration 1e20"), 2, "fh live: --duration 100000000000000000000: must be from 0 to 2592000 seconds"),
        c(live("--until-quiet NaN"), 2, "fh live: --until-quiet NaN: must be from 0"),
        c(live("--heartbeat inf"), 2, "fh live: --heartbeat inf: must be from 0"),
        c(live("--slots 4294967295"), 2, "fh live: --slots 4294967295: must be a power of two"),
        c(live("--slots 0"), 2, "fh live: --slots 0: must be a power of two"),
        c(live("--rcvbuf 1"), 2, "fh live: --rcvbuf 1: must be from 4096"),
        c(live("--packets 0"), 2, "fh live: --packets 0: must be from 1"),
        c(live("--ring-size 1073741824"), 2, "fh live: --ring-size 1073741824: must be a power of two"),
        c(live("--floor --cpu 0 --cpu 1"), 2, "fh live: --cpu 1: the floor has one thread"),
        c("live --protocol itch", 2, "fh live: the following required arguments were not provided: --group"),
        c("live --protocol smoke --group 239.255.7.7:30001", 2, "fh live: invalid value 'smoke' for '--protocol"),
        c("live --protocol itch --group 1.2.3", 2, "fh live: invalid value '1.2.3' for '--group"),
        c("gen --out x.pcap --messages 18446744073709551615", 2, "fh gen: --messages 18446744073709551615: must be from 0 to 10000000000"),
        c("gen --out x.pcap --seconds 0", 2, "fh gen: --seconds 0: must be from 1 to 23400"),
        c("gen --out x.pcap --seconds 100000", 2, "fh gen: --seconds 100000: must be from 1 to 23400"),
        c("gen --out x.pcap --symbols 0", 2, "fh gen: --symbols 0: must be 1..=10000"),
        c("gen --out x.pcap --symbols 70000", 2, "fh gen: invalid value '70000' for '--symbols <N>'"),
        c("gen --out x.pcap --drop 2", 2, "fh gen: --drop 2: a rate must be between 0 and 1"),
        c("gen --out x.pcap --format csv", 2, "fh gen: --format csv: expected pcap or itch"),
        c("gen --out x.pcap --group nowhere", 2, "fh gen: --group nowhere: expected IPv4:PORT"),
        c("gen --out x.pcap --line-b 1.2.3.4", 2, "fh gen: --line-b 1.2.3.4: expected IPv4:PORT"),
        c("gen --out x.pcap --session ELEVENCHARS", 2, "fh gen: --session \"ELEVENCHARS\": expected 1 to 10"),
        c("gen --out x.pcap --drop 0.6 --dup 0.6", 2, "fh gen: --drop + --dup + --reorder + --corrupt = 1.2: the rates must add up to at most 1"),
        c("gen --out x.pcap --messages 10", 2, "fh gen: --messages 10: the day's fixed messages need at least"),
        c("gen --out x.itch --format itch --drop 0.1", 2, "fh gen: --format itch: faults and --line-b need packets"),
        c("gen --messages 10", 2, "fh gen: the following required arguments were not provided: --out"),
        c("report r.hlog --from NaN", 2, "fh report: --from NaN: must be from 0"),
        c("report r.hlog --from 5 --to 1", 2, "fh report: --to 1: must be after --from 5"),
        // Input errors: one line naming the file.
        c("replay nosuch.pcap", 2, "fh replay: nosuch.pcap: no such file"),
        c("replay junk.bin", 2, "fh replay: junk.bin:"),
        c("replay empty.bin", 2, "fh replay: empty.bin:"),
        c("replay d", 2, "fh replay: d: is a directory"),
        c("replay junk.bin --to 239.255.7.7:30002", 2, "fh replay: junk.bin:"),
        c("decode nosuch.pcap", 2, "fh decode: nosuch.pcap:"),
        c("decode junk.bin", 2, "fh decode: junk.bin:"),
        c("report nosuch.hlog", 2, "fh report: nosuch.hlog: no such file or directory"),
        c("report tiny.pcap", 2, "fh report: tiny.pcap:"),
        // Completed with data problems: exit 1.
        c("replay cut.pcap", 1, "fh replay: cut.pcap: completed with data problems: cut.pcap: offset"),
        c("replay cut.pcap --decode-only", 1, "fh replay: cut.pcap: completed with data problems"),
        c("replay cut.pcap --to 239.255.7.7:30002 --topspeed", 1, "fh replay: cut.pcap: completed with data problems: the capture is cut off at byte"),
        c("replay in.pcap --symbol NOPE", 1, "fh replay: in.pcap: completed with data problems: --symbol matched nothing"),
        c("replay gaps.pcap", 1, "fh replay: gaps.pcap: completed with data problems:"),
        c("replay bad.pcap", 1, "fh replay: bad.pcap: completed with data problems:"),
        c("replay bad.pcap --pipeline --strategy count", 1, "fh replay: bad.pcap: completed with data problems:"),
        c("decode cut.pcap", 1, "fh decode: cut.pcap:"),
        c("decode tiny.pcap --symbol NOPE", 1, "fh decode: tiny.pcap:"),
        // Success, every output complete.
        w("replay tiny.pcap --bbo-csv o.csv --hlog o.hlog --plot o.svg --hgrm oh --report-json o.json", 0, "",
          &["o.csv", "o.hlog", "o.svg", "oh/decode.hgrm", "o.json"]),
        w("replay tiny.pcap --pipeline --strategy spread --bbo-csv o.csv --report-json o.json", 0, "", &["o.csv", "o.json"]),
        w("replay tiny.pcap --speed 0.001 --bbo-csv o.csv", 0, "", &["o.csv"]),
        c("replay tiny.pcap --decode-only", 0, ""),
        c("replay tiny.pcap --to 239.255.7.7:30002 --topspeed --loop 2", 0, ""),
        w("gen --out g.pcap --messages 2000 --symbols 5", 0, "", &["g.pcap", "g.pcap.truth.json"]),
        w("gen --out g.itch.gz --format itch --messages 2000 --symbols 5", 0, "", &["g.itch.gz", "g.itch.gz.truth.json"]),
        w("report r.hlog --plot p.svg --hgrm ph", 0, "", &["p.svg", "ph/decode.hgrm"]),
        c("decode tiny.pcap --limit 5", 0, "fh decode: tiny.pcap:"),
        c("--version", 0, ""),
    ]
}

/// Files whose name marks a temporary or probe file of `fh`.
fn leftovers(snap: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<&PathBuf> {
    snap.keys()
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with(".fh-tmp-") || n.starts_with(".fh-probe-")
        })
        .collect()
}

fn check_stderr(what: &str, err: &str) {
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "Aborted",
        "memory allocation of",
    ] {
        assert!(!err.contains(bad), "{what}: '{bad}' in stderr:\n{err}");
    }
}

#[test]
fn every_case_of_the_table_keeps_the_contract() {
    let fx = Fixture::new("table");
    let before = fx.snapshot();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let args: Vec<&str> = case.args.split(' ').collect();
        let (code, _, err) = fh(&fx.dir, &args);
        check_stderr(case.args, &err);
        let first = err.lines().next().unwrap_or("");
        if code != case.code || !first.starts_with(case.first) {
            failures.push(format!(
                "fh {}\n   want {} '{}…'\n   got  {code} '{first}'",
                case.args, case.code, case.first
            ));
        }
        if code == 2 && err.lines().count() != 1 {
            failures.push(format!("fh {}: not one line:\n{err}", case.args));
        }
        let after = fx.snapshot();
        for (p, b) in &before {
            if after.get(p) != Some(b) {
                failures.push(format!("fh {}: changed {}", case.args, p.display()));
            }
        }
        if !leftovers(&after).is_empty() {
            failures.push(format!("fh {}: left {:?}", case.args, leftovers(&after)));
        }
        for f in case.creates {
            let p = fx.dir.join(f);
            let n = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            if n == 0 {
                failures.push(format!("fh {}: {f} missing or empty", case.args));
            }
        }
        // New files only where the case says so; then back to the fixture.
        for p in after.keys().filter(|p| !before.contains_key(*p)) {
            let rel = p
                .strip_prefix(&fx.dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !case.creates.contains(&rel.as_str())
                && !case
                    .creates
                    .iter()
                    .any(|c| rel.starts_with(&format!("{}/", c.split('/').next().unwrap())))
            {
                failures.push(format!("fh {}: unexpected file {rel}", case.args));
            }
            let _ = std::fs::remove_file(p);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} cases kept the contract", cases.len());
}

/// Sends `sig` to `pid` (through kill(1)).
fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn ctrl_c_during_a_paced_replay_finishes_its_outputs_and_reports() {
    let fx = Fixture::new("sigint");
    std::fs::write(fx.dir.join("F.csv"), "old").unwrap();
    let child = Command::new(netns::fh_bin())
        .args([
            "replay",
            "in.pcap",
            "--speed",
            "0.1",
            "--bbo-csv",
            "F.csv",
            "--hlog",
            "L.hlog",
        ])
        .current_dir(&fx.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    signal(child.id(), "-INT");
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "stopped promptly");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    check_stderr("interrupted replay", &stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.starts_with("fh replay: interrupted"), "{stderr}");
    let first = stdout.lines().next().unwrap_or("");
    assert!(
        first.contains("interrupted"),
        "the report is marked: {first}"
    );
    let records = fh_tests::report_field(&stdout, "in.pcap (Pcap, ");
    assert!(
        records > 0 && records < 11_549,
        "{records} records processed"
    );
    // The CSV: complete lines, header first, the old content gone.
    let csv = std::fs::read_to_string(fx.dir.join("F.csv")).unwrap();
    assert!(csv.starts_with("ts,symbol,"), "{csv}");
    assert!(csv.ends_with('\n'));
    assert!(
        csv.lines().skip(1).all(|l| l.split(',').count() == 6),
        "{csv}"
    );
    // The interval log reads back.
    let (code, rep, err) = fh(&fx.dir, &["report", "L.hlog"]);
    assert_eq!(code, 0, "{err}");
    assert!(rep.contains("interval histograms"), "{rep}");
    assert!(leftovers(&fx.snapshot()).is_empty());
}

#[test]
fn ctrl_c_during_gen_leaves_the_previous_files() {
    let fx = Fixture::new("gen-int");
    std::fs::write(fx.dir.join("g.pcap"), "previous day").unwrap();
    let child = Command::new(netns::fh_bin())
        .args(["gen", "--out", "g.pcap", "--messages", "2000000000"])
        .current_dir(&fx.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    check_stderr("interrupted gen", &err);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.starts_with("fh gen: g.pcap: stopped after "), "{err}");
    assert_eq!(
        std::fs::read(fx.dir.join("g.pcap")).unwrap(),
        b"previous day"
    );
    assert!(!fx.dir.join("g.pcap.truth.json").exists());
    assert!(leftovers(&fx.snapshot()).is_empty());
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let fx = Fixture::new("pipe");
    for args in [
        &["replay", "in.pcap"][..],
        &["decode", "in.pcap"],
        &["report", "r.hlog"],
    ] {
        let mut child = Command::new(netns::fh_bin())
            .args(args)
            .current_dir(&fx.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        check_stderr("closed stdout", &err);
        assert_eq!(out.status.code(), Some(0), "fh {args:?}: {err}");
        assert!(!err.contains("pipe"), "fh {args:?}: {err}");
    }
}

mod property {
    //! Random argument vectors drawn from each command's flags, values from a pool of
    //! extreme numbers and odd paths: `fh` never panics or aborts and exits 0, 1 or 2.
    //! Values that are valid but would run for long (a day of 10^9 messages, 1 packet per
    //! second) are left out of the pools; live runs inside a private network namespace with
    //! `--duration 0.3` added.

    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const NUM: &[&str] = &[
        "0",
        "1",
        "2",
        "3",
        "-1",
        "7",
        "65536",
        "4294967295",
        "18446744073709551615",
        "18446744073709551616",
        "1e20",
        "1e-9",
        "0.5",
        "NaN",
        "inf",
        "-inf",
        "abc",
        "",
    ];
    const FILES: &[&str] = &[
        "o.out",
        "tiny.pcap",
        "d",
        "nodir/x",
        "/dev/null",
        "r.hlog",
        "o.out",
    ];
    const SMALL: &[&str] = &[
        "0",
        "1",
        "2",
        "5000",
        "10000000001",
        "18446744073709551615",
        "-1",
        "x",
    ];
    const STRATS: &[&str] = &["digest", "spread", "count", "bbo-csv", "nope", ""];

    /// `(flag, values)`: no values for a switch.
    type Flags = &'static [(&'static str, &'static [&'static str])];

    const REPLAY: Flags = &[
        ("--symbol", &["AAPL", "NOPE", ""]),
        ("--depth", NUM),
        ("--top", NUM),
        ("--bbo-csv", FILES),
        ("--digest", &[]),
        ("--orders", SMALL),
        ("--first-seq", NUM),
        ("--decode-only", &[]),
        ("--pipeline", &[]),
        ("--step", NUM),
        ("--strategy", STRATS),
        ("--consumers", NUM),
        ("--policy", &["no-loss", "never-wait", "x"]),
        (
            "--ring-size",
            &["0", "2", "3", "1024", "1073741824", "18446744073709551615"],
        ),
        ("--idle", &["spin", "yield", "backoff", "x"]),
        ("--threading", &["dedicated", "shared", "x"]),
        ("--cpu", &["0", "1", "99999", "-1"]),
        (
            "--slow-ns",
            &["0", "100", "10000001", "18446744073709551615"],
        ),
        ("--hgrm", FILES),
        ("--hlog", FILES),
        ("--interval", NUM),
        ("--plot", FILES),
        ("--no-latency", &[]),
        ("--stamp-every", NUM),
        ("--speed", NUM),
        ("--report-json", FILES),
        ("--to", &["239.255.7.7:30003", "10.0.0.1:1", "x"]),
        ("--map", &["1.2.3.4:5=239.255.7.8:6", "x"]),
        ("--iface", &["127.0.0.1", "x"]),
        ("--pps", &["0", "100000", "18446744073709551615", "x"]),
        ("--topspeed", &[]),
        ("--loop", &["0", "1", "2", "1000001", "-1"]),
        ("--ttl", &["0", "1", "255", "256", "4294967296"]),
        ("--wasm", FILES),
        ("--wasm-deadline-ms", NUM),
        ("--wasm-memory-mib", NUM),
        ("--signals-csv", FILES),
    ];
    const GEN: Flags = &[
        ("--format", &["pcap", "itch", "x"]),
        ("--messages", SMALL),
        (
            "--seconds",
            &["0", "23401", "18446744073709551615", "-1", "x"],
        ),
        ("--symbols", &["0", "1", "5", "10001", "65536", "x"]),
        ("--seed", NUM),
        ("--group", &["233.54.12.111:26477", "x"]),
        ("--session", &["S", "ELEVENCHARSX", ""]),
        ("--drop", NUM),
        ("--dup", NUM),
        ("--reorder", NUM),
        ("--corrupt", NUM),
        ("--line-b", &["233.49.196.111:26477", "x"]),
    ];
    const DECODE: Flags = &[
        ("--protocol", &["auto", "itch", "iex", "x"]),
        ("--format", &["text", "json", "x"]),
        ("--symbol", &["AAPL", "NOPE"]),
        ("--limit", NUM),
    ];
    const REPORT: Flags = &[
        ("--from", NUM),
        ("--to", NUM),
        ("--plot", FILES),
        ("--hgrm", FILES),
    ];
    const LIVE_FLAGS: Flags = &[
        ("--group", &["239.255.7.9:30010", "x", "10.0.0.1:1"]),
        ("--source", &["127.0.0.1", "x"]),
        ("--iface", &["127.0.0.1", "0.0.0.0", "x"]),
        ("--stats-every", NUM),
        ("--capture", FILES),
        ("--digest", &[]),
        ("--bbo-csv", FILES),
        ("--symbol", &["AAPL"]),
        ("--rcvbuf", SMALL),
        ("--heartbeat", NUM),
        ("--slots", &["0", "2", "3", "1024", "4294967295"]),
        ("--strategy", STRATS),
        ("--threading", &["dedicated", "shared"]),
        ("--cpu", &["0", "1", "99999"]),
        ("--idle", &["spin", "yield", "backoff"]),
        ("--ring-size", &["2", "3", "1024"]),
        ("--hgrm", FILES),
        ("--hlog", FILES),
        ("--plot", FILES),
        ("--interval", NUM),
        ("--no-latency", &[]),
        ("--floor", &[]),
        ("--report-json", FILES),
        ("--stamp-every", NUM),
        ("--wasm", FILES),
        ("--wasm-deadline-ms", NUM),
        ("--signals-csv", FILES),
    ];

    /// An argument vector: the command, maybe a positional, `base`, then up to 5 flags.
    fn argv(
        cmd: &'static str,
        pos: &'static [&'static str],
        base: &'static [&'static str],
        flags: Flags,
    ) -> impl Strategy<Value = Vec<String>> {
        let flag = (0..flags.len(), any::<prop::sample::Index>()).prop_map(move |(i, v)| {
            let (f, vals) = flags[i];
            let mut a = vec![f.to_string()];
            if !vals.is_empty() {
                a.push(v.get(vals).to_string());
            }
            a
        });
        // A positional always (`fh replay` alone would replay the real-time sample).
        let file = 0..pos.len().max(1);
        (file, prop::collection::vec(flag, 0..5)).prop_map(move |(p, fl)| {
            let mut a = vec![cmd.to_string()];
            a.extend(pos.get(p).map(|s| s.to_string()));
            a.extend(base.iter().map(|s| s.to_string()));
            a.extend(fl.into_iter().flatten());
            a
        })
    }

    /// Runs `fh args` with a watchdog; checks the exit code, the stderr and the inputs.
    fn run_one(fx: &Fixture, args: &[String]) -> Result<i32, TestCaseError> {
        // The run's input (its positional argument) must come out byte-identical.
        let input = args
            .get(1)
            .filter(|a| !a.starts_with('-'))
            .map(|a| fx.dir.join(a));
        let read = |p: &Option<PathBuf>| p.as_ref().and_then(|p| std::fs::read(p).ok());
        let before = read(&input);
        let mut child = Command::new(netns::fh_bin())
            .args(args)
            .current_dir(&fx.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TestCaseError::fail(format!(
                    "fh {args:?}: still running after 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        for bad in [
            "panicked",
            "RUST_BACKTRACE",
            "stack backtrace",
            "memory allocation of",
        ] {
            prop_assert!(!err.contains(bad), "fh {:?}: {}", args, err);
        }
        let code = status.code();
        prop_assert!(
            matches!(code, Some(0..=2)),
            "fh {:?}: exit {:?} ({})\n{}",
            args,
            code,
            status,
            err
        );
        if code == Some(2) {
            prop_assert!(
                err.lines().count() == 1,
                "fh {:?}: not one line:\n{}",
                args,
                err
            );
            prop_assert!(err.starts_with("fh"), "fh {:?}: {}", args, err);
        }
        prop_assert!(read(&input) == before, "fh {:?} changed its input", args);
        let after = fx.snapshot();
        prop_assert!(
            leftovers(&after).is_empty(),
            "fh {:?} left {:?}",
            args,
            leftovers(&after)
        );
        Ok(code.unwrap_or(-1))
    }

    fn check(
        cmd: &'static str,
        pos: &'static [&'static str],
        base: &'static [&'static str],
        flags: Flags,
        cases: u32,
        extra: &[&str],
    ) {
        let fx = Fixture::new(&format!("prop-{cmd}"));
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 64,
            ..Config::default()
        });
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let codes = std::cell::RefCell::new([0u32; 3]);
        runner
            .run(&argv(cmd, pos, base, flags), |mut a| {
                a.extend(extra.iter().cloned());
                let code = run_one(&fx, &a)?;
                codes.borrow_mut()[code as usize] += 1;
                Ok(())
            })
            .unwrap();
        let [ok, problems, refused] = *codes.borrow();
        println!("fh {cmd}: {ok} runs exited 0, {problems} exited 1, {refused} exited 2");
        assert!(ok + problems > 0, "fh {cmd}: every random run was refused");
    }

    /// Inputs that replay in no time at any speed (all records at one timestamp).
    const INPUTS: &[&str] = &[
        "tiny.pcap",
        "nosuch",
        "junk.bin",
        "d",
        "tinycut.pcap",
        "r.hlog",
    ];

    #[test]
    fn random_replay_arguments() {
        check("replay", INPUTS, &[], REPLAY, 200, &[]);
    }

    #[test]
    fn random_gen_decode_and_report_arguments() {
        check("gen", &[], &["--out", "g.pcap"], GEN, 64, &[]);
        check("decode", INPUTS, &[], DECODE, 48, &[]);
        check("report", &[], &["r.hlog"], REPORT, 48, &[]);
    }

    /// Live inside a private network namespace only (it joins groups), bounded by a duration.
    #[test]
    fn random_live_arguments_in_a_private_namespace() {
        if !netns::enter("property::random_live_arguments_in_a_private_namespace") {
            return;
        }
        let base = &["--protocol", "itch", "--group", "239.255.7.9:30009"];
        check("live", &[], base, LIVE_FLAGS, 48, &["--duration", "0.3"]);
    }
}
