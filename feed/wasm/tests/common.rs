//! Shared by the fh-wasm tests: the example guests built for wasm32 (and C modules built with
//! clang), WAT modules written to files, the sample capture, replays of it with modules loaded,
//! `fh` runs, and the figures of their reports.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use fh_feed::pipeline::{Pipeline, RingSettings, RunReport, Threading};
use fh_feed::strategy::Figure;
use fh_tests::netns::fh_bin;
use fh_wasm::{Guest, WasmConfig, WasmHost, WasmModule};

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

/// Builds `feed/wasm/guest/c/NAME.c` for wasm32 with `flags`; `None` (a skip) without clang or
/// wasm-ld.
pub fn clang(name: &str, flags: &[&str]) -> Option<PathBuf> {
    let Ok(v) = Command::new("clang").arg("--version").output() else {
        fh_tests::skip(format_args!(
            "clang is not installed (apt-get install clang lld)"
        ));
        return None;
    };
    assert!(v.status.success());
    let src = root().join(format!("feed/wasm/guest/c/{name}.c"));
    let wasm = tmp(&format!("{name}.wasm"));
    let cc = Command::new("clang")
        .args(["--target=wasm32", "-O2", "-nostdlib", "-Wall", "-Werror"])
        .args(flags)
        .arg("-o")
        .arg(&wasm)
        .arg(&src)
        .output()
        .unwrap();
    let cerr = String::from_utf8_lossy(&cc.stderr);
    if !cc.status.success() && cerr.contains("wasm-ld") && cerr.contains("not found") {
        fh_tests::skip(format_args!(
            "wasm-ld is not installed (apt-get install lld): {cerr}"
        ));
        return None;
    }
    assert!(cc.status.success(), "clang: {cerr}");
    Some(wasm)
}

/// A wasmtime engine for copying-mode modules.
pub fn host() -> Arc<WasmHost> {
    WasmHost::new().expect("wasmtime engine")
}

/// The module at `path` loaded on `h` and made a guest with `c`; panics with the error.
pub fn load(h: &Arc<WasmHost>, path: &Path, c: &WasmConfig) -> Guest {
    let m = WasmModule::load(h, path).unwrap_or_else(|e| panic!("{e}"));
    Guest::new(&m, c).unwrap_or_else(|e| panic!("{e}"))
}

/// A replay of the sample through a ring of `ring` slots, strategies run as `threading` says.
pub fn pipeline(threading: Threading, ring: usize) -> Pipeline {
    Pipeline::replay(sample())
        .threading(threading)
        .ring(RingSettings {
            size: ring,
            ..RingSettings::default()
        })
}

/// Figure `name` of strategy `strategy` in a run's report.
pub fn figure<'a>(r: &'a RunReport, strategy: &str, name: &str) -> &'a Figure {
    let s = r
        .strategies
        .iter()
        .find(|s| s.name == strategy)
        .unwrap_or_else(|| panic!("no strategy {strategy}"));
    s.figures
        .get(name)
        .unwrap_or_else(|| panic!("{strategy}: no figure '{name}' in {:?}", s.figures))
}

/// [`figure`] as text.
pub fn text(r: &RunReport, strategy: &str, name: &str) -> String {
    figure(r, strategy, name).to_string()
}

/// Runs `fh` with `args`: (exit code, stdout, stderr). Never inherits stdin.
pub fn fh(args: &[&dyn AsRef<OsStr>]) -> (i32, String, String) {
    let out = Command::new(fh_bin())
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn fh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report's name of module `path`: `wasm-STEM`.
pub fn module_name(path: &Path) -> String {
    format!("wasm-{}", path.file_stem().unwrap().to_string_lossy())
}

/// The JSON file at `path` (a `--report-json` report).
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Strategy `name` in report `r`.
pub fn strategy<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no strategy {name}"))
}

/// The figures of strategy `name` in the report written to `path`.
pub fn figures(path: &Path, name: &str) -> serde_json::Value {
    strategy(&json(path), name)["figures"].clone()
}
