//! IEX-TP recovery inside a private network namespace: the production IEX DEEP capture sent on
//! two groups, each line dropping its own packets and both dropping a few, to `fh live
//! --protocol iex --group A --group B --rerequest` against a gap-fill server written here from
//! the IEX Transport Specification 1.25 (32-byte type-1 UDP requests, answered with the
//! capture's segments covering the range): the run ends with the single-line replay's digest,
//! no gap and no stale update.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fh_replay::capture::Capture;
use fh_replay::frame;
use fh_tests::netns;
use serde_json::Value;

const A: &str = "239.19.2.1:31931";
const B: &str = "239.19.2.2:31932";
const GAPFILL: &str = "127.0.0.1:31933";

/// `(first sequence, count, payload)` of every IEX-TP segment of the capture.
fn segments(path: &std::path::Path) -> Vec<(u64, u64, Vec<u8>)> {
    let cap = Capture::open(path).unwrap();
    cap.records()
        .unwrap()
        .map(|r| r.unwrap())
        .filter_map(|r| {
            let p = frame::udp_payload(r.link, r.data).ok()?.payload;
            let s = fh_decoders::iextp::Segment::parse(p).ok()?;
            Some((s.first_seq(), u64::from(s.message_count()), p.to_vec()))
        })
        .collect()
}

#[test]
fn iex_tp_lines_are_arbitrated_and_gap_filled_to_the_replay_digest() {
    const NAME: &str = "iex_tp_lines_are_arbitrated_and_gap_filled_to_the_replay_digest";
    let Some(real) = fh_tests::real_pcaps_or_skip(NAME) else {
        return;
    };
    if !netns::enter(NAME) {
        return;
    }
    let pcap = real.join("iex-deep-20231002-sai271828/test.pcap");
    let rep = Command::new(netns::fh_bin())
        .args(["replay", "--digest"])
        .arg(&pcap)
        .output()
        .unwrap();
    let rep = String::from_utf8(rep.stdout).unwrap();
    let want = rep
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap()
        .to_string();
    let segs = Arc::new(segments(&pcap));
    assert_eq!(segs.len(), 5000);

    // The gap-fill server: one range per request, answered with the segments overlapping it.
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let server = {
        let (segs, stop, requests) = (segs.clone(), stop.clone(), requests.clone());
        let sock = UdpSocket::bind(GAPFILL).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut b) else {
                    continue;
                };
                assert_eq!(n, 32, "a one-range request");
                assert_eq!(&b[..2], &[1, 1], "version 1, type 1");
                assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), 1);
                let first = u64::from_le_bytes(b[16..24].try_into().unwrap());
                let last = u64::from_le_bytes(b[24..32].try_into().unwrap());
                assert!(first <= last);
                requests.fetch_add(1, Ordering::Relaxed);
                for (f, c, p) in segs.iter() {
                    if *c > 0 && *f <= last && first < f + c && p[2..12] == b[2..12] {
                        sock.send_to(p, from).unwrap();
                    }
                }
            }
        })
    };

    let json = std::env::temp_dir().join(format!("fh-iex-ab-{}.json", std::process::id()));
    let child = Command::new(netns::fh_bin())
        .args(["live", "--protocol", "iex", "--group", A, "--group", B])
        .args([
            "--iface",
            "127.0.0.1",
            "--stats-every",
            "0",
            "--until-quiet",
            "1.5",
        ])
        .args([
            "--duration",
            "60",
            "--digest",
            "--no-latency",
            "--rerequest",
            GAPFILL,
        ])
        .args(["--gap-wait-us", "2000", "--report-json"])
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    netns::wait_joined(A.parse().unwrap());
    netns::wait_joined(B.parse().unwrap());
    let tx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    tx.set_multicast_ttl_v4(0).unwrap();
    tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    let (a, b): (SocketAddrV4, SocketAddrV4) = (A.parse().unwrap(), B.parse().unwrap());
    let mut both = 0;
    for (i, (_, _, p)) in segs.iter().enumerate() {
        // Line A drops 1 in 37, line B 1 in 50 (never the same one), both 1 in 199.
        let lost_both = i % 199 == 100;
        both += usize::from(lost_both);
        if i % 37 != 5 && !lost_both {
            tx.send_to(p, &a.into()).unwrap();
        }
        if (i % 50 != 7 || i % 37 == 5) && !lost_both {
            tx.send_to(p, &b.into()).unwrap();
        }
        if i % 32 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    let mut c = child;
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "fh live did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    print!("{out}");
    assert!(status.success(), "fh live: {status}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(
        r["digest"].as_str(),
        Some(want.as_str()),
        "the replay's digest"
    );
    assert_eq!(r["engine"]["iextp"]["gaps"].as_u64(), Some(0));
    assert_eq!(r["updates"]["stale"].as_u64(), Some(0));
    let rec = &r["recovery"];
    assert!(both > 10);
    assert!(requests.load(Ordering::Relaxed) > 0);
    assert!(rec["filled_by_request"].as_u64().unwrap() > 0);
    assert_eq!(rec["gave_up"].as_u64(), Some(0));
    for l in &rec["lines"].as_array().unwrap()[..2] {
        assert!(
            l[1]["saves"].as_u64().unwrap() > 0,
            "each line saved the other"
        );
    }
}
