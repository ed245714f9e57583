//! `fh live` in a private network namespace with one native and one WebAssembly strategy:
//! both report the digest the replay of the same packets gives.

use std::io::Read;
use std::net::SocketAddrV4;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{figures, guest, sample, tmp};
use fh_tests::netns;

#[test]
fn live_native_and_wasm_strategies_give_the_replay_digest() {
    const NAME: &str = "live_native_and_wasm_strategies_give_the_replay_digest";
    // Built before entering the namespace (cargo may need the network there is none of inside).
    let Some(dg) = guest("digest") else { return };
    if !netns::enter(NAME) {
        return;
    }
    let s = sample();
    let n = fh_tests::datagrams(&s);
    let (rj, lj) = (tmp("replay.json"), tmp("live.json"));
    let rep = Command::new(netns::fh_bin())
        .arg("replay")
        .arg(&s)
        .args(["--pipeline", "--strategy", "digest", "--wasm"])
        .arg(&dg)
        .arg("--report-json")
        .arg(&rj)
        .output()
        .unwrap();
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let want = figures(&rj, "digest")["digest"].clone();
    assert_eq!(figures(&rj, "wasm-digest")["guest digest"], want);

    let g: SocketAddrV4 = "239.3.0.17:32017".parse().unwrap();
    let mut live = Command::new(netns::fh_bin())
        .args([
            "live",
            "--protocol",
            "itch",
            "--iface",
            "127.0.0.1",
            "--stats-every",
            "0",
        ])
        .args([
            "--group",
            &g.to_string(),
            "--duration",
            "60",
            "--packets",
            &n.to_string(),
        ])
        .args(["--strategy", "digest", "--wasm"])
        .arg(&dg)
        .arg("--report-json")
        .arg(&lj)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    netns::wait_joined(g);
    let sent = Command::new(netns::fh_bin())
        .arg("replay")
        .arg(&s)
        .args([
            "--to",
            &g.to_string(),
            "--iface",
            "127.0.0.1",
            "--pps",
            "20000",
        ])
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
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "fh live did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    live.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "fh live: {err}");
    assert_eq!(
        figures(&lj, "digest")["digest"],
        want,
        "native, live = replay"
    );
    let w = figures(&lj, "wasm-digest");
    assert_eq!(w["guest digest"], want, "module, live = replay");
    assert_eq!(w["stopped"], "no");
    let _ = std::fs::remove_file(&rj);
    let _ = std::fs::remove_file(&lj);
}
