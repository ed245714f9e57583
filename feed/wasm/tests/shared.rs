//! `--wasm-shared` on the real pipeline (replays of the bundled sample): guests reading the
//! ring's slots in place from a read-only mapping in their wasm shared memory.
//! - a shared-mode module gives the digest of native strategies and of a copying-mode module;
//! - a shared-mode module that writes the ring (store, atomic, through a host function) is
//!   stopped and reported, and what the others read is unchanged;
//! - a module for one mode given to the other, or using what shared mode forbids, is refused
//!   at load in one line.

use std::path::PathBuf;
use std::sync::Arc;

use crate::common::{guest, pipeline, sample, text, wat, write};
use fh_feed::pipeline::builtin::DigestStrategy;
use fh_feed::pipeline::{Pipeline, RingSettings, StrategyOptions, Threading};
use fh_feed::ring::Policy;
use fh_wasm::{
    add_guest, add_shared_guest, Guest, RingMemory, SignalLog, WasmConfig, WasmHost, WasmModule,
};

fn digest_wat() -> PathBuf {
    crate::common::root().join("feed/wasm/guest/wat/digest_shared.wat")
}

fn shared(h: &Arc<WasmHost>, path: &std::path::Path, ring: &Arc<RingMemory>) -> Guest {
    let c = WasmConfig {
        deadline: std::time::Duration::from_millis(200),
        ..WasmConfig::default()
    };
    let m = WasmModule::load(h, path).unwrap_or_else(|e| panic!("{e}"));
    Guest::new_shared(&m, &c, ring).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_shared_mode_module_reads_the_ring_in_place_and_sees_what_native_and_copying_see() {
    let Some(dg) = guest("digest") else { return };
    let (plain, sh) = (WasmHost::new().unwrap(), WasmHost::new_shared().unwrap());
    for threading in [Threading::Shared, Threading::Dedicated] {
        let size = 1 << 10;
        let ring = Arc::new(RingMemory::new(size).unwrap());
        let log = SignalLog::new();
        let o = StrategyOptions::default;
        let copying = WasmModule::load(&plain, &dg).unwrap();
        let mut p = pipeline(threading, size).strategy("digest", DigestStrategy::default());
        p = add_guest(
            p,
            "wasm-copy",
            Guest::new(&copying, &WasmConfig::default()).unwrap(),
            o(),
            log.clone(),
        );
        for name in ["wasm-shared-1", "wasm-shared-2"] {
            let g = shared(&sh, &digest_wat(), &ring);
            p = add_shared_guest(p, name, g, &ring, o(), log.clone()).unwrap();
        }
        let r = p.run().expect("replay").report;
        let want = text(&r, "digest", "digest");
        let updates = r.strategies[0].stats.delivered;
        assert!(updates > 10_000, "the sample has updates");
        for s in ["wasm-copy", "wasm-shared-1", "wasm-shared-2"] {
            assert_eq!(text(&r, s, "guest digest"), want, "{s} ({threading:?})");
            assert_eq!(text(&r, s, "stopped"), "no", "{s}");
            let st = r.strategies.iter().find(|x| x.name == s).unwrap();
            assert_eq!(st.stats.delivered, updates, "{s}");
        }
        assert_eq!(
            text(&r, "wasm-shared-1", "guest updates"),
            updates.to_string()
        );
    }
}

/// Shared-mode modules that write the ring: the stop reason each must give.
fn writers() -> Vec<(&'static str, String, &'static str)> {
    let module = |body: &str| {
        format!(
            r#"(module
  (import "fh" "top" (func $top (param i32 i32) (result i32)))
  (import "fh" "memory" (memory 80 80 shared))
  (global $calls (mut i32) (i32.const 0))
  (func (export "fh_ring") (param $slots i32) (result i32) (i32.const 0x10000))
  (func (export "fh_on_batch") (param $first i32) (param $count i32) (local $i i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.ge_u (global.get $calls) (i32.const 3)) (then {body}))))"#
        )
    };
    vec![
        (
            "store",
            module("(i64.store (i32.const 0x10040) (i64.const -1))"),
            "out of bounds memory access",
        ),
        (
            "atomic",
            module("(drop (i32.atomic.rmw.add (i32.const 0x10080) (i32.const 1)))"),
            "out of bounds memory access",
        ),
        (
            "host-write",
            // A top of book (the first instrument that has one), written over the ring.
            module(
                "(loop $l (drop (call $top (local.get $i) (i32.const 0x10000)))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const 4096))))",
            ),
            "touches the read-only ring",
        ),
    ]
}

#[test]
fn a_shared_mode_module_that_writes_the_ring_is_stopped_and_the_others_read_it_unchanged() {
    let sh = WasmHost::new_shared().unwrap();
    let size = 256;
    let base = pipeline(Threading::Dedicated, size)
        .strategy("digest", DigestStrategy::default())
        .run()
        .unwrap()
        .report;
    let want = text(&base, "digest", "digest");
    for threading in [Threading::Dedicated, Threading::Shared] {
        for (name, module, why) in writers() {
            let path = write(&format!("shared-{name}.wat"), &module);
            let ring = Arc::new(RingMemory::new(size).unwrap());
            let log = SignalLog::new();
            let o = StrategyOptions::default;
            let mut p = pipeline(threading, size).strategy("digest", DigestStrategy::default());
            let g = shared(&sh, &path, &ring);
            p = add_shared_guest(p, "hostile", g, &ring, o(), log.clone()).unwrap();
            let g = shared(&sh, &digest_wat(), &ring);
            p = add_shared_guest(p, "wasm-digest", g, &ring, o(), log.clone()).unwrap();
            let r = p.run().expect("the replay completes").report;
            assert_eq!(text(&r, "digest", "digest"), want, "{name}: native digest");
            assert_eq!(text(&r, "wasm-digest", "guest digest"), want, "{name}");
            assert_eq!(text(&r, "wasm-digest", "stopped"), "no", "{name}");
            let stopped = text(&r, "hostile", "stopped");
            assert!(
                stopped.contains(why),
                "{name}: stopped for '{stopped}', want '{why}'"
            );
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[test]
fn modules_for_the_other_mode_or_using_what_shared_mode_forbids_are_refused_in_one_line() {
    let Some(dg) = guest("digest") else { return };
    let (plain, sh) = (WasmHost::new().unwrap(), WasmHost::new_shared().unwrap());
    let one_line = |e: String, want: &str| {
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(e.contains(want), "'{e}' should say '{want}'");
    };
    // Each mode's module on the other mode's engine.
    let e = WasmModule::load(&sh, &dg).unwrap_err().0;
    one_line(
        e,
        "a module built for the copying mode, not for --wasm-shared",
    );
    let copying_wat = write("copying.wat", &wat("", ""));
    let e = WasmModule::load(&sh, &copying_wat).unwrap_err().0;
    one_line(e, "not for --wasm-shared");
    let e = WasmModule::load(&plain, &digest_wat()).unwrap_err().0;
    one_line(
        e,
        "imports a memory (fh.memory): a module built for --wasm-shared",
    );
    let head = r#"(module (import "fh" "memory" (memory 80 80 shared))
        (func (export "fh_ring") (param i32) (result i32) (i32.const 0x10000))
        (func (export "fh_on_batch") (param i32 i32)"#;
    let ring = Arc::new(RingMemory::new(1024).unwrap());
    for (name, text_, want) in [
        (
            "fill",
            format!("{head} (memory.fill (i32.const 0x10000) (i32.const 0) (i32.const 64))))"),
            "function 1 uses memory.fill",
        ),
        (
            "copy",
            format!("{head} (memory.copy (i32.const 0x10000) (i32.const 0) (i32.const 64))))"),
            "uses memory.copy",
        ),
        (
            "wait",
            format!(
                "{head} (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))"
            ),
            "uses memory.atomic.wait32",
        ),
        (
            "grows",
            format!("{head}))").replace("(memory 80 80 shared)", "(memory 80 160 shared)"),
            "must be shared with as many maximum as minimum pages",
        ),
        (
            "no-ring",
            r#"(module (import "fh" "memory" (memory 1 1 shared))
                 (func (export "fh_on_batch") (param i32 i32)))"#
                .to_string(),
            "exports no 'fh_ring'",
        ),
    ] {
        let path = write(&format!("refused-{name}.wat"), &text_);
        let e = WasmModule::load(&sh, &path).unwrap_err().0;
        one_line(e, want);
        let _ = std::fs::remove_file(&path);
    }
    // Where the ring cannot go: refused when the guest is made.
    let c = WasmConfig::default();
    for (name, at, want) in [
        ("unaligned", "0x10040", "not a multiple of 65536"),
        ("outside", "0x500000", "do not fit in its memory"),
    ] {
        let path = write(
            &format!("ring-{name}.wat"),
            &format!("{head}))").replace("(i32.const 0x10000)", &format!("(i32.const {at})")),
        );
        let m = WasmModule::load(&sh, &path).unwrap_or_else(|e| panic!("{e}"));
        let e = Guest::new_shared(&m, &c, &ring).unwrap_err().0;
        one_line(e, want);
        let _ = std::fs::remove_file(&path);
    }
    // A shared guest needs the no-loss policy, and the pipeline's ring size.
    let m = WasmModule::load(&sh, &digest_wat()).unwrap();
    let g = Guest::new_shared(&m, &c, &ring).unwrap();
    let p = Pipeline::replay(sample()).ring(RingSettings {
        size: 1024,
        policy: Policy::NeverWait,
        ..RingSettings::default()
    });
    let e = add_shared_guest(
        p,
        "g",
        g,
        &ring,
        StrategyOptions::default(),
        SignalLog::new(),
    );
    one_line(e.unwrap_err().0, "needs the no-loss ring policy");
    let g = Guest::new_shared(&m, &c, &ring).unwrap();
    let e = add_shared_guest(
        pipeline(Threading::Shared, 2048),
        "g",
        g,
        &ring,
        StrategyOptions::default(),
        SignalLog::new(),
    );
    one_line(e.unwrap_err().0, "the pipeline's 2048");
}
