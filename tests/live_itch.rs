//! Generated ITCH feeds on the wire, inside a private network namespace: a million-message
//! capture sent by `fh replay --to` reaches `fh live` whole, with
//! the same book-update digest as `fh replay --digest` of the file; and on a capture with
//! dropped packets, the gaps `fh live` reports are exactly those of the generator's truth file.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fh_replay::gen::{self, Config, Endpoint, FaultRates, Format, Options, Stop};
use fh_replay::wire::{self, Pacing, WireConfig};
use fh_tests::netns;
use fh_tests::{datagrams, netns::wait_joined, report_field as field};

const GROUP: Endpoint = Endpoint {
    group: Ipv4Addr::new(239, 54, 12, 111),
    port: 26477,
};

fn group() -> SocketAddrV4 {
    SocketAddrV4::new(GROUP.group, GROUP.port)
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fh-live-itch-{}-{name}", std::process::id()))
}

fn generate(path: &Path, messages: u64, seed: u64, drop: f64) -> serde_json::Value {
    let o = Options {
        config: Config {
            symbols: 50,
            seed,
            stop: Stop::Messages(messages),
        },
        rates: FaultRates {
            drop,
            ..FaultRates::default()
        },
        line_a: GROUP,
        ..Options::default()
    };
    gen::write_files(&o, Format::Pcap, path).expect("fh gen");
    let truth = std::fs::read_to_string(gen::truth_path(path)).unwrap();
    serde_json::from_str(&truth).unwrap()
}

fn fh_live(args: &[&str]) -> Child {
    Command::new(netns::fh_bin())
        .args([
            "live",
            "--protocol",
            "itch",
            "--iface",
            "127.0.0.1",
            "--stats-every",
            "0",
        ])
        .args(["--group", &group().to_string(), "--duration", "120"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fh live")
}

/// Waits for `fh live`, which must exit with `code` (1: completed with gaps still open).
fn finish(mut c: Child, code: i32) -> String {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(180) {
            let _ = c.kill();
            panic!("fh live did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    print!("{out}");
    eprint!("{err}");
    assert_eq!(status.code(), Some(code), "fh live: {status}");
    out
}

fn send(path: &Path, pps: u64) -> wire::SendReport {
    let mut cfg = WireConfig::new(group());
    cfg.iface = Some(Ipv4Addr::LOCALHOST);
    cfg.pacing = Pacing::Pps(pps);
    wire::send_capture(path, &cfg).expect("send")
}

#[test]
fn a_million_itch_messages_arrive_whole_with_the_replay_digest() {
    const NAME: &str = "a_million_itch_messages_arrive_whole_with_the_replay_digest";
    if !netns::enter(NAME) {
        return;
    }
    let pcap = tmp("1m.pcap");
    let truth = generate(&pcap, 1_000_000, 7, 0.0);
    assert_eq!(truth["messages"].as_u64(), Some(1_000_000));
    let n = datagrams(&pcap);
    // The in-process replay's digest of the same file.
    let rep = Command::new(netns::fh_bin())
        .args(["replay", "--digest"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let rep = String::from_utf8(rep.stdout).unwrap();
    let want = rep
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .expect("fh replay --digest prints digest: <hex>")
        .to_string();

    let child = fh_live(&["--packets", &n.to_string(), "--digest"]);
    wait_joined(group());
    // The sender is `fh replay --to`, as a user runs it.
    let sent = Command::new(netns::fh_bin())
        .arg("replay")
        .arg(&pcap)
        .args([
            "--to",
            &group().to_string(),
            "--iface",
            "127.0.0.1",
            "--pps",
            "50000",
        ])
        .output()
        .unwrap();
    let sent_out = String::from_utf8_lossy(&sent.stdout);
    println!("{sent_out}");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(
        field(&sent_out, "sent "),
        n,
        "fh replay --to sent every datagram"
    );
    let out = finish(child, 0);
    assert_eq!(field(&out, "received "), n, "every packet arrived");
    assert_eq!(field(&out, "kernel drops "), 0);
    assert_eq!(field(&out, "sequencing: messages "), 1_000_000);
    assert_eq!(field(&out, " gaps "), 0);
    let got = out
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .expect("fh live --digest prints digest: <hex>");
    assert_eq!(got, want, "live digest equals the in-process replay's");
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(gen::truth_path(&pcap));
}

#[test]
fn gaps_reported_live_are_the_truth_files() {
    const NAME: &str = "gaps_reported_live_are_the_truth_files";
    if !netns::enter(NAME) {
        return;
    }
    let pcap = tmp("drops.pcap");
    let truth = generate(&pcap, 60_000, 21, 0.02);
    let line = &truth["lines"][0];
    let dropped: Vec<(u64, u64)> = line["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    assert!(dropped.len() > 10, "the seed drops packets");
    let first = truth["first_seq"].as_u64().unwrap();
    assert_ne!(
        dropped[0].0, first,
        "seed choice: a drop of the very first packet is invisible to any receiver"
    );
    // Consecutive dropped packets make one gap.
    let mut runs = 0u64;
    let mut prev_end = None;
    for &(a, b) in &dropped {
        if prev_end != Some(a - 1) {
            runs += 1;
        }
        prev_end = Some(b);
    }
    let missing: u64 = dropped.iter().map(|(a, b)| b - a + 1).sum();

    let n = datagrams(&pcap);
    let child = fh_live(&["--packets", &n.to_string()]);
    wait_joined(group());
    assert_eq!(send(&pcap, 50_000).packets, n);
    let out = finish(child, 1);
    assert_eq!(field(&out, "received "), n);
    assert_eq!(field(&out, "kernel drops "), 0);
    assert_eq!(field(&out, " gaps "), runs, "gap events");
    assert_eq!(field(&out, "gap-messages "), missing, "messages missing");
    assert_eq!(field(&out, "sequencing: messages "), 60_000 - missing);
    assert_eq!(field(&out, "duplicates "), 0);
    assert!(
        field(&out, "stale-updates ") > 0,
        "books flagged stale after a gap"
    );
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(gen::truth_path(&pcap));
}
