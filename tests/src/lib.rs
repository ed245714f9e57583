//! # fh-tests: shared helpers of the end-to-end tests
//!
//! Locates the real captures in `../shared/pcaps/real` (or `$FH_REAL_PCAPS`) and the `fh`
//! binary. Tests that need the real captures (or a network namespace, or a tool such as
//! tcpreplay, tshark or java) print a visible `SKIP:` notice through [`skip`] when it is absent,
//! and never pass silently on missing data otherwise. With `FH_REQUIRE_ALL=1` in the
//! environment (`.ci/run` sets it) [`skip`] panics with that notice instead: nothing may be
//! skipped.

use std::path::{Path, PathBuf};

/// Directory of the real, third-party captures, if present.
///
/// `$FH_REAL_PCAPS` wins; otherwise `../shared/pcaps/real` relative to the workspace root.
pub fn real_pcaps() -> Option<PathBuf> {
    let dir = match std::env::var_os("FH_REAL_PCAPS") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared/pcaps/real"),
    };
    dir.is_dir().then_some(dir)
}

/// True when `FH_REQUIRE_ALL=1` is set: a missing prerequisite fails the test instead of
/// skipping it.
pub fn require_all() -> bool {
    std::env::var_os("FH_REQUIRE_ALL").is_some_and(|v| v == "1")
}

/// Prints `SKIP: <msg>` straight to the process's stderr, past the test harness's output
/// capture, so that a skipped test is visible in every run (an `eprintln!` would be swallowed
/// for a passing test). Under `FH_REQUIRE_ALL=1` ([`require_all`]) it panics with that message
/// instead.
pub fn skip(msg: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if require_all() {
        panic!("SKIP: {msg} (a failure under FH_REQUIRE_ALL=1)");
    }
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {msg}");
}

/// Like [`real_pcaps`], but prints a `SKIP:` notice naming the test when absent.
pub fn real_pcaps_or_skip(test: &str) -> Option<PathBuf> {
    let d = real_pcaps();
    if d.is_none() {
        skip(format_args!(
            "{test}: real captures not found (set FH_REAL_PCAPS or put them in ../shared/pcaps/real)"
        ));
    }
    d
}

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The specs folder `../shared/specs`, if present.
pub fn shared_specs() -> Option<PathBuf> {
    let d = workspace_root().join("../shared/specs");
    d.is_dir().then_some(d)
}
pub mod oracle;

/// The Python interpreter of the test environment, when it has every module in `modules`.
///
/// `FH_PYTHON` names it; otherwise `<workspace>/target/py/bin/python` (the virtual environment
/// `.ci/run` creates: `python3 -m venv target/py && target/py/bin/pip install -r
/// python/requirements-ci.txt`), otherwise `python3`. When the interpreter is missing or lacks a
/// module, prints a `SKIP:` notice naming `test` and the missing module ([`skip`]) and returns
/// `None`.
pub fn python_with(test: &str, modules: &[&str]) -> Option<PathBuf> {
    let venv = workspace_root().join("target/py/bin/python");
    let py = match std::env::var_os("FH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if venv.is_file() => venv,
        None => PathBuf::from("python3"),
    };
    for m in modules {
        let ok = std::process::Command::new(&py)
            .args(["-c", &format!("import {m}")])
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            skip(format_args!(
                "{test}: {} cannot import {m} (create the environment: python3 -m venv target/py && target/py/bin/pip install -r python/requirements-ci.txt)",
                py.display()
            ));
            return None;
        }
    }
    Some(py)
}

/// The `fh` binary of the same build profile as the running test (`target/<profile>/fh`).
///
/// `cargo test --workspace` builds it (it is the `fh-cli` package's binary). Panics with
/// the command to run when it is missing.
pub fn fh_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary> → target/<profile>/fh
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join(format!("fh{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: build it first (`cargo test --workspace --profile ci` builds it; or `cargo build -p fh-cli --profile ci`)",
        bin.display()
    );
    bin
}

/// Runs `fh` with `args`, returning (exit code, stdout, stderr). Never inherits stdin.
pub fn run_fh<I, S>(args: I) -> (i32, Vec<u8>, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = std::process::Command::new(fh_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn fh");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub mod alloc;
pub mod netns;

/// The number after the last `key` in a report (`field(out, "received ")`).
pub fn report_field(out: &str, key: &str) -> u64 {
    let i = out
        .rfind(key)
        .unwrap_or_else(|| panic!("no '{key}' in:\n{out}"))
        + key.len();
    out[i..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// UDP datagrams in a capture.
pub fn datagrams(path: &std::path::Path) -> u64 {
    let cap = fh_replay::capture::Capture::open(path).unwrap();
    cap.records()
        .unwrap()
        .filter(|r| {
            let r = r.as_ref().unwrap();
            fh_replay::frame::udp_payload(r.link, r.data).is_ok()
        })
        .count() as u64
}
