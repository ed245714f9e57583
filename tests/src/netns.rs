//! Private network namespaces for the live tests: all their traffic stays on the loopback of a
//! namespace created for the test and destroyed with it.
//!
//! A live test starts with `if !netns::enter("test_name") { return; }` (its name, without the
//! module path). In the test process, [`enter`] re-runs the same test binary, filtered to that
//! one test (its full name), under
//! `unshare -n` (root) or `unshare -r -n` (an unprivileged user, through a user namespace),
//! after bringing up `lo` with multicast on and a `224.0.0.0/4` route onto it; it waits (bounded)
//! for the inner run, echoes its output, fails when it failed, and returns `false`. In the
//! inner run (marked by an environment variable) it checks that the namespace really is private
//! (no interface but `lo`) and returns `true`: the body runs there. Where no namespace can be
//! created, it prints `SKIP:` with the reason and returns `false` (through [`crate::skip`], so
//! under `FH_REQUIRE_ALL=1` it fails instead).
//!
//! Child processes (tcpreplay, tshark, `fh`) started by the body inherit the namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Environment variable naming the test that runs inside the namespace.
pub const CHILD_ENV: &str = "FH_NETNS_CHILD";

/// Commands run in the new namespace before the test: loopback up, multicast on it.
pub const SETUP: &str =
    "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo";

/// How this machine creates private network namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `unshare -n` (root).
    Root,
    /// `unshare -r -n` (user namespace, for an unprivileged user).
    UserNs,
}

impl Mode {
    fn args(self) -> &'static [&'static str] {
        match self {
            Mode::Root => &["-n"],
            Mode::UserNs => &["-r", "-n"],
        }
    }
}

/// Probes (once) whether a private namespace with multicast on `lo` can be made here.
pub fn probe() -> Result<Mode, String> {
    static PROBE: OnceLock<Result<Mode, String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let mut why = Vec::new();
            for mode in [Mode::Root, Mode::UserNs] {
                let out = Command::new("unshare")
                    .args(mode.args())
                    .args(["sh", "-c", SETUP])
                    .stdin(Stdio::null())
                    .output();
                match out {
                    Ok(o) if o.status.success() => return Ok(mode),
                    Ok(o) => why.push(format!(
                        "unshare {}: {}",
                        mode.args().join(" "),
                        String::from_utf8_lossy(&o.stderr).trim()
                    )),
                    Err(e) => why.push(format!("unshare: {e}")),
                }
            }
            Err(why.join("; "))
        })
        .clone()
}

/// True when this process runs inside the namespace made for `test`.
pub fn inside(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == test)
}

/// Interfaces of the current network namespace (from `/proc/self/net/dev`).
pub fn interfaces() -> Vec<String> {
    std::fs::read_to_string("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect()
}

/// Runs `test` inside a fresh private network namespace; see the module doc. `true`: run the
/// body (we are inside). `false`: the body ran inside and passed, or the test was skipped.
pub fn enter(test: &str) -> bool {
    enter_with_timeout(test, Duration::from_secs(300))
}

/// [`enter`] with a bound on the inner run's time (killed and failed past it).
pub fn enter_with_timeout(test: &str, limit: Duration) -> bool {
    if inside(test) {
        let ifs = interfaces();
        assert_eq!(
            ifs,
            vec!["lo".to_string()],
            "{test}: not in a private network namespace (interfaces {ifs:?}); refusing to send"
        );
        return true;
    }
    let mode = match probe() {
        Ok(m) => m,
        Err(why) => {
            crate::skip(format_args!(
                "{test}: cannot create a private network namespace: {why}"
            ));
            return false;
        }
    };
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new("unshare")
        .args(mode.args())
        .args(["sh", "-c", &format!("{SETUP} && exec \"$0\" \"$@\"")])
        .arg(&exe)
        .args([
            &harness_name(test),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let out_pipe = child.stdout.take().expect("stdout");
    let err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || read_all(out_pipe));
    let err_t = std::thread::spawn(move || read_all(err_pipe));
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    print!("{out}");
    eprint!("{err}");
    let status =
        status.unwrap_or_else(|| panic!("{test}: timed out after {limit:?} in the namespace"));
    assert!(
        status.success(),
        "{test}: failed inside the namespace ({status})"
    );
    assert!(
        out.contains("1 passed"),
        "{test}: the inner run did not run the test (filter mismatch?)"
    );
    false
}

/// The harness's full name of the running test `test`: the name of the thread it runs on,
/// which is `module::test` when test files are modules of one test binary; `test` itself when
/// the thread is named otherwise.
fn harness_name(test: &str) -> String {
    match std::thread::current().name() {
        Some(n) if n == test || n.ends_with(&format!("::{test}")) => n.to_string(),
        _ => test.to_string(),
    }
}

fn read_all(mut r: impl std::io::Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

/// Path of the `fh` binary of this build (next to the test binary's `deps/` folder), building
/// it with cargo when it is missing (`cargo test -p fh-tests` does not build it).
pub fn fh_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps/<test>")
            .to_path_buf();
        let bin = profile_dir.join("fh");
        if !bin.exists() {
            let profile = profile_dir
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or("debug")
                .to_string();
            let profile = if profile == "debug" {
                "dev".into()
            } else {
                profile
            };
            let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
            let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "build",
                    "-q",
                    "-p",
                    "fh-feed",
                    "--bin",
                    "fh",
                    "--profile",
                    &profile,
                ])
                .arg("--target-dir")
                .arg(&target_dir)
                .current_dir(crate::workspace_root())
                .status()
                .expect("run cargo build for fh");
            assert!(st.success(), "building fh failed");
        }
        bin
    })
    .clone()
}

/// Waits (20 s at most) until `users` sockets have joined `g` (`/proc/net/igmp`: the group in
/// hex, then its users); panics if they never do.
pub fn wait_joined_by(g: std::net::SocketAddrV4, users: u32) {
    let hex = format!("{:08X}", u32::from(*g.ip()).swap_bytes());
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        let igmp = std::fs::read_to_string("/proc/net/igmp").unwrap_or_default();
        let joined = igmp.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(hex.as_str())).then(|| it.next()?.parse::<u32>().ok())?
        });
        if joined.is_some_and(|n| n >= users) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{users} sockets never joined {g}");
}

/// Waits until some socket has joined `g`.
pub fn wait_joined(g: std::net::SocketAddrV4) {
    wait_joined_by(g, 1)
}
