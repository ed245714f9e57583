//! Real captures on the wire, inside a private network namespace: the production IEX DEEP
//! capture sent by `fh replay --to` or by tcpreplay (an independent
//! sender) is received whole by `fh live`, and `fh live --capture` writes a pcap whose
//! datagrams are byte-identical to the original's, readable by tshark.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fh_replay::capture::Capture;
use fh_replay::frame;
use fh_tests::netns;
use fh_tests::{netns::wait_joined, report_field as field};

const IEX_GROUP: &str = "233.215.21.4:10378";

fn iex_deep(test: &str) -> Option<PathBuf> {
    let d = fh_tests::real_pcaps_or_skip(test)?;
    Some(d.join("iex-deep-20231002-sai271828/test.pcap"))
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fh-live-{}-{name}", std::process::id()))
}

/// The UDP payloads of a capture, in order, with their timestamps.
fn datagrams(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let cap = Capture::open(path).unwrap();
    cap.records()
        .unwrap()
        .map(|r| r.unwrap())
        .filter_map(|r| {
            frame::udp_payload(r.link, r.data)
                .ok()
                .map(|d| (r.ts_ns, d.payload.to_vec()))
        })
        .collect()
}

fn fh_live(args: &[&str]) -> Child {
    Command::new(netns::fh_bin())
        .arg("live")
        .args(["--iface", "127.0.0.1", "--stats-every", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fh live")
}

fn finish(mut c: Child, limit: Duration) -> String {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = c.kill();
            panic!("fh live did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    print!("{out}");
    eprint!("{err}");
    assert!(status.success(), "fh live failed: {status}");
    out
}

/// Checks that `got` holds exactly the payloads of `want`, in order, with kernel timestamps.
fn assert_same_payloads(want: &[(u64, Vec<u8>)], got: &[(u64, Vec<u8>)]) {
    assert_eq!(got.len(), want.len(), "datagrams captured");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(w.1, g.1, "datagram {i} byte-identical");
    }
    assert!(
        got.windows(2).all(|w| w[0].0 <= w[1].0),
        "kernel timestamps in order"
    );
    assert!(
        got[0].0 > 1_600_000_000_000_000_000,
        "timestamps are this era's, in ns"
    );
}

/// Packets tshark reads from `path`; `None` with a `SKIP:` notice (a failure under
/// `FH_REQUIRE_ALL=1`) when tshark is not installed.
fn tshark_count(path: &Path) -> Option<usize> {
    let Ok(out) = Command::new("tshark").arg("-r").arg(path).output() else {
        fh_tests::skip(format_args!(
            "tshark read-back of {}: tshark is not installed (Debian package tshark)",
            path.display()
        ));
        return None;
    };
    assert!(out.status.success(), "tshark failed on {}", path.display());
    Some(String::from_utf8_lossy(&out.stdout).lines().count())
}

#[test]
fn iex_deep_sent_by_fh_replay_to_arrives_whole_and_is_captured_identically() {
    const NAME: &str = "iex_deep_sent_by_fh_replay_to_arrives_whole_and_is_captured_identically";
    let Some(pcap) = iex_deep(NAME) else { return };
    if !netns::enter(NAME) {
        return;
    }
    let want = datagrams(&pcap);
    assert_eq!(want.len(), 5000);
    let out_pcap = tmp("wire.pcap");
    let child = fh_live(&[
        "--protocol",
        "iex",
        "--group",
        IEX_GROUP,
        "--packets",
        "5000",
        "--digest",
        "--capture",
        out_pcap.to_str().unwrap(),
    ]);
    wait_joined(IEX_GROUP.parse().unwrap());
    // The sender is `fh replay --to`, as a user runs it.
    let sent = Command::new(netns::fh_bin())
        .arg("replay")
        .arg(&pcap)
        .args(["--to", IEX_GROUP, "--iface", "127.0.0.1", "--pps", "25000"])
        .output()
        .unwrap();
    let sent_out = String::from_utf8_lossy(&sent.stdout);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(field(&sent_out, "sent "), 5000);
    assert!(sent_out.contains("pacing error p50"), "{sent_out}");
    let out = finish(child, Duration::from_secs(60));
    assert_eq!(field(&out, "received "), 5000, "every packet arrived");
    assert_eq!(field(&out, "kernel drops "), 0);
    assert_eq!(field(&out, "captured "), 5000);
    let got = datagrams(&out_pcap);
    assert_same_payloads(&want, &got);
    if let Some(n) = tshark_count(&out_pcap) {
        assert_eq!(n, 5000, "tshark reads the capture back");
    }
    // The book-update digest of the live run is the in-process replay's, and fh replay of
    // what fh live captured gives it too.
    let live_digest = digest_line(&out);
    assert_eq!(
        live_digest,
        replay_digest(&pcap),
        "live digest = replay digest"
    );
    assert_eq!(
        replay_digest(&out_pcap),
        live_digest,
        "replay of the live capture"
    );
    // fh decode of what fh live captured: the same messages as decoding the original.
    let a = decode_messages(&pcap);
    let b = decode_messages(&out_pcap);
    assert_eq!(a.len(), 48_325, "every DEEP message of the capture");
    assert!(
        a == b,
        "fh decode gives the same messages for the live capture"
    );
    // And fh live decoded every one of them.
    assert_eq!(field(&out, "sequencing: messages "), 48_325);
    assert_eq!(field(&out, " gaps "), 0);
    let _ = std::fs::remove_file(&out_pcap);
}

fn digest_line(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap_or_else(|| panic!("no digest line in:\n{out}"))
        .to_string()
}

/// `fh replay --digest FILE`'s digest.
fn replay_digest(path: &Path) -> String {
    let out = Command::new(netns::fh_bin())
        .args(["replay", "--digest"])
        .arg(path)
        .output()
        .expect("fh replay");
    assert!(
        out.status.success(),
        "fh replay {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    digest_line(&String::from_utf8(out.stdout).unwrap())
}

/// `fh decode FILE` lines without the capture-timestamp column (the live capture carries
/// kernel receive times).
fn decode_messages(path: &Path) -> Vec<String> {
    let out = Command::new(netns::fh_bin())
        .arg("decode")
        .arg(path)
        .output()
        .expect("fh decode");
    assert!(
        out.status.success(),
        "fh decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            let mut t: Vec<&str> = l.split_whitespace().collect();
            t.remove(1);
            t.join(" ")
        })
        .collect()
}

#[test]
fn tcpreplay_onto_loopback_is_received_whole() {
    const NAME: &str = "tcpreplay_onto_loopback_is_received_whole";
    let Some(pcap) = iex_deep(NAME) else { return };
    if Command::new("tcpreplay").arg("--version").output().is_err() {
        fh_tests::skip(format_args!(
            "{NAME}: tcpreplay is not installed (Debian package tcpreplay)"
        ));
        return;
    }
    if !netns::enter(NAME) {
        return;
    }
    let want = datagrams(&pcap);
    let out_pcap = tmp("tcpreplay.pcap");
    let child = fh_live(&[
        "--protocol",
        "iex",
        "--group",
        IEX_GROUP,
        "--packets",
        "5000",
        "--capture",
        out_pcap.to_str().unwrap(),
    ]);
    wait_joined(IEX_GROUP.parse().unwrap());
    // The capture's own frames (multicast MAC, group 233.215.21.4:10378) onto the namespace's lo.
    let st = Command::new("tcpreplay")
        .args(["-q", "-i", "lo", "--pps=25000"])
        .arg(&pcap)
        .output()
        .expect("tcpreplay");
    assert!(
        st.status.success(),
        "tcpreplay: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let out = finish(child, Duration::from_secs(60));
    assert_eq!(field(&out, "received "), 5000, "every packet arrived");
    assert_eq!(field(&out, "kernel drops "), 0);
    let got = datagrams(&out_pcap);
    assert_same_payloads(&want, &got);
    assert_eq!(
        field(&out, "sequencing: messages "),
        48_325,
        "every message decoded"
    );
    let _ = std::fs::remove_file(&out_pcap);
}
