//! `fh live` as a process, inside a private network namespace: joins, reports what the kernel
//! granted, receives everything sent, prints stats lines, and shuts down cleanly on
//! `--packets`, `--until-quiet`, `--duration` and Ctrl-C (SIGINT), reporting silence.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fh_replay::wire::{self, Pacing, WireConfig, WireDatagram};
use fh_tests::netns;
use fh_tests::{netns::wait_joined, netns::wait_joined_by, report_field as field};

fn fh_live(args: &[&str]) -> Child {
    Command::new(netns::fh_bin())
        .arg("live")
        .args(["--protocol", "itch", "--iface", "127.0.0.1"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fh live")
}

/// Waits (bounded) for the child, returning its exit code and stdout.
fn finish(mut c: Child, limit: Duration) -> (Option<i32>, String) {
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
    eprint!("{err}");
    (status.code(), out)
}

fn send(g: SocketAddrV4, n: u64, pps: u64) {
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|i| vec![i as u8; 100 + (i % 200) as usize])
        .collect();
    let mut c = WireConfig::new(g);
    c.iface = Some(Ipv4Addr::LOCALHOST);
    c.pacing = Pacing::Pps(pps);
    let rep = wire::send_datagrams(&c, || {
        Ok(payloads.iter().map(move |p| WireDatagram {
            ts_ns: 0,
            dst: g,
            payload: p,
        }))
    })
    .unwrap();
    assert_eq!(rep.packets, n);
}

#[test]
fn fh_live_receives_everything_and_stops_on_packets() {
    if !netns::enter("fh_live_receives_everything_and_stops_on_packets") {
        return;
    }
    let g: SocketAddrV4 = "239.3.0.1:32001".parse().unwrap();
    let child = fh_live(&[
        "--group",
        "239.3.0.1:32001",
        "--packets",
        "4000",
        "--stats-every",
        "0.1",
    ]);
    // The benchmark floor on the same traffic: a second socket joined to the same group.
    let floor = fh_live(&["--group", "239.3.0.1:32001", "--packets", "4000", "--floor"]);
    wait_joined_by(g, 2);
    send(g, 4000, 8_000);
    let (code, out) = finish(child, Duration::from_secs(60));
    print!("{out}");
    // The payloads are no ITCH: completed with data problems (foreign datagrams), exit 1.
    assert_eq!(code, Some(1));
    let (fcode, fout) = finish(floor, Duration::from_secs(60));
    print!("{fout}");
    assert_eq!(fcode, Some(0), "the floor loop exits cleanly");
    assert_eq!(field(&fout, "received "), 4000);
    assert_eq!(field(&fout, "(floor), ns: count "), 4000);
    assert!(out.contains("joined 239.3.0.1:32001 on 127.0.0.1: SO_RCVBUF granted"));
    assert_eq!(field(&out, "received "), 4000);
    assert_eq!(field(&out, "processed "), 4000);
    assert_eq!(field(&out, "kernel drops "), 0);
    assert!(out.contains("t=0.1s packets/s"), "stats lines printed");
}

#[test]
fn fh_live_stops_cleanly_on_ctrl_c_and_reports_silence() {
    if !netns::enter("fh_live_stops_cleanly_on_ctrl_c_and_reports_silence") {
        return;
    }
    let g: SocketAddrV4 = "239.3.0.2:32002".parse().unwrap();
    let child = fh_live(&[
        "--group",
        "239.3.0.2:32002",
        "--heartbeat",
        "0.3",
        "--stats-every",
        "0",
    ]);
    wait_joined(g);
    send(g, 500, 500_000);
    // Quiet for longer than the heartbeat interval: reported once.
    std::thread::sleep(Duration::from_millis(900));
    // SAFETY-free: a plain kill(2) of our own child by its pid.
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let (code, out) = finish(child, Duration::from_secs(30));
    print!("{out}");
    assert_eq!(code, Some(130), "exit 130 after Ctrl-C, with the report");
    assert_eq!(field(&out, "received "), 500);
    assert_eq!(field(&out, "processed "), 500);
    assert_eq!(field(&out, "silences "), 1);
    assert!(out.contains("silence: group 239.3.0.2:32002 quiet for more than 0.3 s"));
}

#[test]
fn fh_live_stops_at_duration_and_when_quiet() {
    if !netns::enter("fh_live_stops_at_duration_and_when_quiet") {
        return;
    }
    let t0 = Instant::now();
    let (code, out) = finish(
        fh_live(&["--group", "239.3.0.3:32003", "--duration", "0.5"]),
        Duration::from_secs(20),
    );
    // Nothing received: exit 1.
    assert!(code == Some(1) && t0.elapsed() >= Duration::from_millis(500));
    assert_eq!(field(&out, "received "), 0);
    let g: SocketAddrV4 = "239.3.0.4:32004".parse().unwrap();
    let child = fh_live(&["--group", "239.3.0.4:32004", "--until-quiet", "0.3"]);
    wait_joined(g);
    send(g, 300, 30_000);
    let (code, out) = finish(child, Duration::from_secs(20));
    assert_eq!(code, Some(1), "foreign datagrams");
    assert_eq!(field(&out, "received "), 300);
}

#[test]
fn fh_live_refuses_bad_arguments_with_one_line() {
    let out = Command::new(netns::fh_bin())
        .args([
            "live",
            "--protocol",
            "itch",
            "--group",
            "10.0.0.1:5000",
            "--duration",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a multicast group"), "{err}");
    assert_eq!(err.lines().count(), 1);
}
