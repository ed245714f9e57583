//! Shared by the fh-wasm tests: the example guests built for wasm32, WAT modules written to
//! files, and the sample capture.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled sample capture.
pub fn sample() -> PathBuf {
    root().join("pcaps/sample.pcap")
}

/// The example guest `name` (`bbo`, `imbalance`, `digest`) as a wasm32 module, built once with
/// cargo (`target/wasm-guest`); `None` (a skip, a failure under FH_REQUIRE_ALL) when the
/// wasm32-unknown-unknown target is not installed.
pub fn guest(name: &str) -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = root().join("target/wasm-guest");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-unknown-unknown",
                "--examples",
                "--features",
                "module",
                "--manifest-path",
            ])
            .arg(root().join("feed/wasm/guest/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .map_err(|e| format!("cargo: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(target.join("wasm32-unknown-unknown/release/examples"))
    });
    match dir {
        Ok(d) => Some(d.join(format!("{name}.wasm"))),
        Err(e)
            if e.contains("wasm32-unknown-unknown")
                && e.contains("target may not be installed") =>
        {
            fh_tests::skip(format_args!(
                "the wasm32-unknown-unknown target is not installed (rustup target add wasm32-unknown-unknown)"
            ));
            None
        }
        Err(e) => panic!("building the example guests failed:\n{e}"),
    }
}

/// A temporary file for this test process.
pub fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fh-wasm-{}-{name}", std::process::id()))
}

/// Writes `text` to a temporary `name` and returns its path.
pub fn write(name: &str, text: &str) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A WAT strategy module: the fh ABI (region of 64 records at 4096) around `on_batch`'s body
/// (locals first; `$first`, `$count` are its parameters; `$calls` counts the earlier calls),
/// with `extra` module fields.
pub fn wat(on_batch: &str, extra: &str) -> String {
    format!(
        r#"(module
  (import "fh" "signal" (func $signal (param i32 i32 i64)))
  (import "fh" "top" (func $top (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "fh_region") (result i32) (i32.const 4096))
  (func (export "fh_region_len") (result i32) (i32.const 64))
  (func (export "fh_on_batch") (param $first i32) (param $count i32)
    {on_batch}
    (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
  {extra}
)"#
    )
}
