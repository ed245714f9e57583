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

/// Like [`real_pcaps`], but prints a `SKIP:` notice naming the test when absent.
pub fn real_pcaps_or_skip(test: &str) -> Option<PathBuf> {
    let d = real_pcaps();
    if d.is_none() {
        eprintln!(
            "SKIP: {test}: real captures not found (set FH_REAL_PCAPS or put them in ../shared/pcaps/real)"
        );
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

pub mod netns;
