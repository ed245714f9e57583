//! # fh-tests: shared helpers of the end-to-end tests
//!
//! Locates the real captures in `../shared/pcaps/real` (or `$FH_REAL_PCAPS`) and the `fh`
//! binary. Tests that need the real captures print a visible `SKIP:` notice when they are
//! absent, and never pass silently on missing data otherwise.

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

/// Prints `SKIP: <msg>` straight to the process's stderr, past the test harness's output
/// capture, so that a skipped test is visible in every run (an `eprintln!` would be swallowed
/// for a passing test).
pub fn skip(msg: std::fmt::Arguments<'_>) {
    use std::io::Write;
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

/// The `fh` binary of the same build profile as the running test (`target/<profile>/fh`).
///
/// `cargo test --workspace` builds it (it is a target of the `fh-feed` package). Panics with
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
        "{} not found: build it first (`cargo test --workspace --profile ci` builds it; or `cargo build -p fh-feed --profile ci`)",
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
