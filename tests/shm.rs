//! `fh replay|live --shm NAME` end to end, with subscribers in other processes: the Rust one
//! (`fh shm-tail`, built on `fh_shm::Subscriber`) and the Python one (`python -m
//! fh_shm.tail`, the `fh_shm` package of `python/` over the iceoryx2 wheel). Also runs the
//! Python package's own tests (`python/tests`).
//!
//! Every test uses its own service name and removes its files; iceoryx2 removes a service
//! when its last port goes, and dead processes' resources are removed by the next one to
//! start.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fh_tests::{fh_bin, netns, python_with, report_field, workspace_root};

const PY_MODULES: &[&str] = &["fh_shm", "iceoryx2", "numpy"];

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("fh-shm-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique(tag: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t-{tag}-{}-{t}", std::process::id())
}

/// A generated day and what a plain replay says of it: digest and the last BBO row per symbol.
struct Reference {
    pcap: PathBuf,
    digest: String,
    rows: BTreeMap<String, String>,
}

fn reference(dir: &Path) -> Reference {
    let pcap = dir.join("g.pcap");
    let gen = fh(&[
        "gen",
        "--out",
        pcap.to_str().unwrap(),
        "--messages",
        "20000",
        "--seed",
        "9",
    ]);
    assert_eq!(gen.0, 0, "{}", gen.1);
    let csv = dir.join("ref.csv");
    let r = fh(&[
        "replay",
        pcap.to_str().unwrap(),
        "--digest",
        "--bbo-csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(r.0, 0, "{}", r.1);
    Reference {
        pcap,
        digest: digest_of(&r.1),
        rows: last_rows(&std::fs::read_to_string(csv).unwrap()),
    }
}

fn fh(args: &[&str]) -> (i32, String) {
    let o = Command::new(fh_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), text)
}

fn digest_of(out: &str) -> String {
    let l = out.lines().find(|l| l.starts_with("digest: "));
    l.unwrap_or_else(|| panic!("no digest in:\n{out}"))[8..].to_string()
}

/// The last row per symbol of BBO CSV text (after its header line).
fn last_rows(text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("ts,symbol,"));
    lines.next();
    lines
        .filter(|l| l.split(',').count() == 6)
        .map(|l| (l.split(',').nth(1).unwrap_or("").to_string(), l.to_string()))
        .collect()
}

fn spawn(mut c: Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn rust_tail(name: &str, extra: &[&str]) -> Child {
    let mut c = Command::new(fh_bin());
    c.args(["shm-tail", name, "--quiet", "--digest", "--top"])
        .args(extra);
    spawn(c)
}

fn py_tail(py: &Path, name: &str, extra: &[&str]) -> Child {
    let mut c = Command::new(py);
    c.args(["-m", "fh_shm.tail", name, "--quiet", "--digest", "--top"])
        .args(extra)
        .current_dir(workspace_root())
        .env("PYTHONPATH", workspace_root().join("python"));
    spawn(c)
}

/// Waits for `c` (killed after `limit`): exit code and stdout + stderr.
fn finish(mut c: Child, limit: Duration) -> (Option<i32>, String) {
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s.code();
        }
        if t0.elapsed() > limit {
            let _ = c.kill();
            let _ = c.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    c.stderr.take().unwrap().read_to_string(&mut out).unwrap();
    (code, out)
}

/// What a tail printed.
#[derive(Debug)]
struct Tail {
    received: u64,
    missed: u64,
    joined: Option<u64>,
    ended: bool,
    digest: String,
    rows: BTreeMap<String, String>,
}

fn tail_of(out: &str) -> Tail {
    let line = out
        .lines()
        .find(|l| l.contains(": received "))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    let joined = line
        .split("joined at update ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    Tail {
        received: report_field(line, "received "),
        missed: report_field(line, "missed "),
        joined: joined.parse().ok(),
        ended: line.ends_with("stream ended"),
        digest: digest_of(out),
        rows: last_rows(out),
    }
}

fn publisher_figure(out: &str, key: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("shm: "))
        .unwrap_or_else(|| panic!("{out}"));
    report_field(line, &format!("{key} "))
}

fn replay(r: &Reference, name: &str, extra: &[&str]) -> Child {
    let mut c = Command::new(fh_bin());
    c.args([
        "replay",
        r.pcap.to_str().unwrap(),
        "--digest",
        "--shm",
        name,
    ])
    .args(extra);
    spawn(c)
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn python_package_tests_pass() {
    let Some(py) = python_with("python_package_tests_pass", PY_MODULES) else {
        return;
    };
    let o = Command::new(&py)
        .args(["-m", "unittest", "discover", "-s", "python/tests", "-v"])
        .current_dir(workspace_root())
        .env("PYTHONPATH", workspace_root().join("python"))
        .env("FH_BIN", fh_bin())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("Ran ") && err.contains("\nOK"), "{err}");
}

#[test]
fn rust_and_python_subscriber_processes_fold_the_replays_digest_paced_and_unpaced() {
    let Some(py) = python_with("shm digest", PY_MODULES) else {
        return;
    };
    let dir = TempDir::new("digest");
    let r = reference(&dir.0);
    for pacing in [&[][..], &["--speed", "5"][..]] {
        let name = unique("digest");
        let buf = ["--buffer", "4096"];
        let (a, b) = (rust_tail(&name, &buf), py_tail(&py, &name, &buf));
        let mut args = vec!["--shm-wait", "2", "--shm-buffer", "4096"];
        args.extend_from_slice(pacing);
        let (code, out) = finish(replay(&r, &name, &args), LIMIT);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(digest_of(&out), r.digest);
        let updates = publisher_figure(&out, "updates");
        assert_eq!(publisher_figure(&out, "dropped"), 0);
        for (who, c) in [("rust", a), ("python", b)] {
            let (code, text) = finish(c, LIMIT);
            assert_eq!(code, Some(0), "{who} {pacing:?}: {text}");
            let t = tail_of(&text);
            assert!(
                t.ended && t.missed == 0 && t.joined == Some(0),
                "{who}: {t:?}"
            );
            assert_eq!(t.received, updates, "{who}");
            assert_eq!(t.digest, r.digest, "{who} {pacing:?}");
            assert_eq!(t.rows, r.rows, "{who}: final top of book");
        }
    }
}

#[test]
fn slowed_subscribers_report_exact_miss_counts() {
    let Some(py) = python_with("shm misses", PY_MODULES) else {
        return;
    };
    let dir = TempDir::new("slow");
    let r = reference(&dir.0);
    let name = unique("slow");
    let a = rust_tail(&name, &["--buffer", "2", "--slow-us", "2000"]);
    let b = py_tail(&py, &name, &["--buffer", "2", "--slow-ms", "2"]);
    let (code, out) = finish(replay(&r, &name, &["--shm-wait", "2"]), LIMIT);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        digest_of(&out),
        r.digest,
        "the handler is not slowed or changed"
    );
    let updates = publisher_figure(&out, "updates");
    for (who, c) in [("rust", a), ("python", b)] {
        let (code, text) = finish(c, LIMIT);
        assert_eq!(code, Some(0), "{who}: {text}");
        let t = tail_of(&text);
        assert!(t.ended && t.joined == Some(0), "{who}: {t:?}");
        assert!(t.missed > 0, "{who} was slow enough to miss: {t:?}");
        assert_eq!(
            t.received + t.missed,
            updates,
            "{who}: every update received or counted missed"
        );
        assert_ne!(t.digest, r.digest);
    }
}

#[test]
fn a_subscriber_killed_with_sigkill_leaves_the_handler_and_the_others_unaffected() {
    let Some(py) = python_with("shm sigkill", PY_MODULES) else {
        return;
    };
    let dir = TempDir::new("kill");
    let r = reference(&dir.0);
    let name = unique("kill");
    let buf = ["--buffer", "4096"];
    let a = rust_tail(&name, &buf);
    let b = py_tail(&py, &name, &buf);
    let mut victim = rust_tail(&name, &buf);
    // Leaves after the first update: the stream has started (a loaded machine may take a
    // second or more to start the publisher and its subscribers, so no fixed sleep tells).
    let probe = rust_tail(&name, &["--count", "1"]);
    // About 3 s of replay at 1.5 times the capture's pace, once all four have subscribed.
    let pubr = replay(
        &r,
        &name,
        &["--shm-wait", "4", "--shm-buffer", "4096", "--speed", "1.5"],
    );
    let (code, text) = finish(probe, LIMIT);
    assert_eq!(code, Some(0), "probe: {text}");
    std::thread::sleep(Duration::from_millis(300));
    let st = Command::new("kill")
        .args(["-KILL", &victim.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let _ = victim.wait();
    std::thread::sleep(Duration::from_millis(200));
    // A restarted subscriber joins the running stream and reads it to its end.
    let again = rust_tail(&name, &buf);
    let (code, out) = finish(pubr, LIMIT);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(digest_of(&out), r.digest);
    let updates = publisher_figure(&out, "updates");
    assert_eq!(publisher_figure(&out, "dropped"), 0);
    assert_eq!(publisher_figure(&out, "send errors"), 0);
    for (who, c) in [("rust", a), ("python", b)] {
        let (code, text) = finish(c, LIMIT);
        assert_eq!(code, Some(0), "{who}: {text}");
        let t = tail_of(&text);
        assert_eq!(
            (t.digest.as_str(), t.missed, t.received),
            (r.digest.as_str(), 0, updates),
            "{who}"
        );
        assert_eq!(t.rows, r.rows, "{who}");
    }
    let (code, text) = finish(again, LIMIT);
    assert_eq!(code, Some(0), "restarted: {text}");
    let t = tail_of(&text);
    assert!(t.ended && t.missed == 0, "restarted: {t:?}");
    let joined = t.joined.expect("the restarted subscriber received samples");
    assert!(joined > 0, "it joined mid-stream: {t:?}");
    assert_eq!(
        joined + t.received,
        updates,
        "and read everything from there: {t:?}"
    );
    assert_eq!(t.rows, r.rows, "its final top of book too");
}

#[test]
fn fh_live_with_shm_gives_a_python_subscriber_the_replays_digest() {
    if !netns::enter("fh_live_with_shm_gives_a_python_subscriber_the_replays_digest") {
        return;
    }
    let Some(py) = python_with("shm live", PY_MODULES) else {
        return;
    };
    let dir = TempDir::new("live");
    let r = reference(&dir.0);
    let name = unique("live");
    let group: std::net::SocketAddrV4 = "239.1.6.16:31616".parse().unwrap();
    let sub = py_tail(&py, &name, &["--buffer", "4096"]);
    let mut c = Command::new(netns::fh_bin());
    c.args([
        "live",
        "--protocol",
        "itch",
        "--group",
        &group.to_string(),
        "--iface",
        "127.0.0.1",
    ])
    .args([
        "--until-quiet",
        "1",
        "--duration",
        "30",
        "--stats-every",
        "0",
        "--digest",
    ])
    .args(["--shm", &name, "--shm-wait", "1", "--shm-buffer", "4096"]);
    let live = spawn(c);
    netns::wait_joined(group);
    let sent = Command::new(netns::fh_bin())
        .args([
            "replay",
            r.pcap.to_str().unwrap(),
            "--to",
            &group.to_string(),
        ])
        .args(["--iface", "127.0.0.1", "--pps", "50000"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let (code, out) = finish(live, LIMIT);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(digest_of(&out), r.digest, "fh live got every packet");
    let (code, text) = finish(sub, LIMIT);
    assert_eq!(code, Some(0), "{text}");
    let t = tail_of(&text);
    assert!(t.ended && t.missed == 0 && t.joined == Some(0), "{t:?}");
    assert_eq!(t.digest, r.digest);
    assert_eq!(t.rows, r.rows);
}

#[test]
fn shm_flags_are_checked_and_refused_where_they_do_not_apply() {
    let (code, out) = fh(&["replay", "--shm", "a/b", "x.pcap"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--shm shm name 'a/b'"), "{out}");
    let (code, out) = fh(&["replay", "x.pcap", "--shm-wait", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--shm-wait: only with --shm NAME"), "{out}");
    let (code, out) = fh(&["replay", "x.pcap", "--shm", "n", "--shm-buffer", "0"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--shm-buffer 0: must be from 1 to 65536"),
        "{out}"
    );
    let (code, out) = fh(&["shm-tail", unique("none").as_str(), "--wait", "0.1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("fh shm-tail: shm t-none"), "{out}");
}
