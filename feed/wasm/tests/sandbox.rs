//! WebAssembly strategies on the real pipeline (replays of the bundled sample):
//! - the same logic natively and as a module gives the same signals and sees the same updates
//!   (digest), and the module's digest is the built-in `digest` strategy's;
//! - hostile modules (infinite loop, out-of-bounds access, unbounded memory.grow, deep
//!   recursion, a trap mid-batch) are stopped and reported, the others' digests unchanged,
//!   the producer never stuck on the dead one;
//! - a module reaches nothing outside its own memory;
//! - malformed, foreign or incomplete modules are refused at load with one line.

use std::time::{Duration, Instant};

use crate::common::{figure, guest, host, load, pipeline, text, wat, write};
use fh_feed::pipeline::builtin::{DigestStrategy, Imbalance};
use fh_feed::pipeline::{StrategyOptions, Threading};
use fh_feed::strategy::Figure;
use fh_guest::examples;
use fh_wasm::native::Native;
use fh_wasm::{add_guest, Guest, SignalLog, WasmConfig, WasmModule};

#[test]
fn native_and_wasm_strategies_give_the_same_signals_and_see_the_same_updates() {
    let (Some(bbo), Some(imb)) = (guest("bbo"), guest("imbalance")) else {
        return;
    };
    let h = host();
    let c = WasmConfig::default();
    // Shared threading: every strategy runs right after each event, so what `top` returns is
    // the same for the native and the module strategies (deterministic signals).
    for threading in [Threading::Shared, Threading::Dedicated] {
        let log = SignalLog::new();
        let o = StrategyOptions::default;
        let mut p = pipeline(threading, 1 << 12)
            .strategy("digest", DigestStrategy::default())
            .strategy("imbalance", Imbalance::default())
            .strategy(
                "native-bbo",
                Native::new(
                    "native-bbo",
                    Box::new(examples::BboTracker::new()),
                    log.clone(),
                ),
            )
            .strategy(
                "native-imbalance",
                Native::new(
                    "native-imbalance",
                    Box::new(examples::Imbalance::new()),
                    log.clone(),
                ),
            );
        p = add_guest(p, "wasm-bbo", load(&h, &bbo, &c), o(), log.clone());
        p = add_guest(p, "wasm-imbalance", load(&h, &imb, &c), o(), log.clone());
        let r = p.run().expect("replay").report;
        let digest = text(&r, "digest", "digest");
        for s in [
            "native-bbo",
            "native-imbalance",
            "wasm-bbo",
            "wasm-imbalance",
        ] {
            assert_eq!(
                text(&r, s, "guest digest"),
                digest,
                "{s} saw every update ({threading:?})"
            );
            if s.starts_with("wasm") {
                assert_eq!(text(&r, s, "stopped"), "no", "{s}");
            }
        }
        let updates = r.strategies[0].stats.delivered;
        assert!(updates > 10_000, "the sample has updates");
        for s in ["wasm-bbo", "wasm-imbalance"] {
            let st = r.strategies.iter().find(|x| x.name == s).unwrap();
            assert_eq!(st.stats.delivered, updates, "{s}");
        }
        if threading == Threading::Shared {
            let (nb, wb) = (log.of("native-bbo"), log.of("wasm-bbo"));
            assert!(nb.len() > 1000, "the BBO tracker signals ({})", nb.len());
            assert_eq!(nb, wb, "BBO signals, native vs module");
            let (ni, wi) = (log.of("native-imbalance"), log.of("wasm-imbalance"));
            assert!(!ni.is_empty());
            assert_eq!(ni, wi, "imbalance signals, native vs module");
            // The SDK's imbalance is the built-in rule: the same count.
            assert_eq!(
                figure(&r, "imbalance", "signals"),
                &Figure::Count(wi.len() as u64)
            );
            // And the CSV holds them all, strategies in order.
            let csv = crate::common::tmp("signals.csv");
            let rows = log.write_csv(&csv).unwrap();
            assert_eq!(rows as usize, 2 * nb.len() + 2 * ni.len());
            let text = std::fs::read_to_string(&csv).unwrap();
            assert!(text.starts_with("strategy,instrument,symbol,kind,value\nnative-bbo,"));
            assert_eq!(text.lines().count() as u64, rows + 1);
            let _ = std::fs::remove_file(&csv);
        }
    }
}

/// A hostile module: the name, its WAT, the reason it must be stopped for.
fn hostile() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("loop", wat("(loop $l (br $l))", ""), "deadline of 50 ms exceeded"),
        (
            "oob",
            wat("(drop (i32.load (i32.const 0xfffffff0)))", ""),
            "out of bounds memory access",
        ),
        (
            "grow",
            wat("(loop $l (drop (memory.grow (i32.const 1))) (br $l))", ""),
            "memory limit exceeded",
        ),
        (
            "recursion",
            wat(
                "(drop (call $deep (i32.const 0)))",
                "(func $deep (param i32) (result i32) (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))",
            ),
            "stack overflow",
        ),
        (
            "trap-mid-batch",
            // Fine for 21 calls, then `unreachable` in the middle of the 22nd batch's loop.
            wat(
                "(local $i i32)
                 (block $done (loop $l
                   (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
                   (if (i32.and (i32.gt_u (global.get $calls) (i32.const 20))
                                (i32.eq (local.get $i) (i32.shr_u (local.get $count) (i32.const 1))))
                     (then unreachable))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br $l)))",
                "",
            ),
            "unreachable",
        ),
    ]
}

#[test]
fn hostile_modules_are_stopped_and_reported_and_the_others_carry_on() {
    let Some(dg) = guest("digest") else { return };
    let h = host();
    let c = WasmConfig {
        deadline: Duration::from_millis(50),
        memory: 2 << 20,
    };
    // The baseline: the digest of the stream without any hostile module.
    let base = pipeline(Threading::Dedicated, 256)
        .strategy("digest", DigestStrategy::default())
        .run()
        .unwrap()
        .report;
    let want = text(&base, "digest", "digest");
    let total = base.strategies[0].stats.delivered;
    for threading in [Threading::Dedicated, Threading::Shared] {
        for (name, text_, why) in hostile() {
            let path = write(&format!("{name}.wat"), &text_);
            let log = SignalLog::new();
            let o = StrategyOptions::default;
            // A small no-loss ring: the run can only finish if the dead module's cursor no
            // longer holds the producer back.
            let mut p = pipeline(threading, 256).strategy("digest", DigestStrategy::default());
            p = add_guest(p, "wasm-digest", load(&h, &dg, &c), o(), log.clone());
            p = add_guest(p, "hostile", load(&h, &path, &c), o(), log.clone());
            let t0 = Instant::now();
            let r = p.run().expect("the replay completes").report;
            let took = t0.elapsed();
            assert_eq!(
                text(&r, "digest", "digest"),
                want,
                "{name}: native digest unchanged"
            );
            assert_eq!(text(&r, "wasm-digest", "guest digest"), want, "{name}");
            assert_eq!(text(&r, "wasm-digest", "stopped"), "no");
            let stopped = text(&r, "hostile", "stopped");
            assert!(
                stopped.contains(why),
                "{name}: stopped for '{stopped}', want '{why}'"
            );
            let at = match figure(&r, "hostile", "stopped at update") {
                Figure::Count(n) => *n,
                f => panic!("{f:?}"),
            };
            assert!(at < total, "{name}: at update {at}");
            let after = match figure(&r, "hostile", "stopped after ms") {
                Figure::Real(ms) => *ms,
                f => panic!("{f:?}"),
            };
            // The deadline is 50 ms in 1 ms epochs: a loop is stopped at 49-50 ms (plus the
            // ticker thread's wake-up on a busy machine); the others trap at once.
            if name == "loop" {
                assert!(
                    (45.0..1000.0).contains(&after),
                    "{name}: stopped after {after} ms"
                );
            } else {
                assert!(after < 45.0, "{name}: stopped after {after} ms");
            }
            if name == "trap-mid-batch" {
                assert!(at > 0, "the 21st call starts past update 0");
            }
            assert_eq!(
                text(&r, "hostile", "module"),
                path.file_name().unwrap().to_string_lossy()
            );
            // Stopped within its deadline (50 ms, a 1 ms tick): the whole run is short.
            assert!(took < Duration::from_secs(20), "{name}: {took:?}");
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// 8-byte markers: one in module A's data, one in the host's heap, one in B's own data.
const MARK_A: u64 = 0x5345_4352_4554_2d41;
const MARK_HOST: u64 = 0x484f_5354_2d4d_454d;
const MARK_B: u64 = 0x4f57_4e2d_4d41_524b;

#[test]
fn a_module_reaches_nothing_outside_its_own_memory() {
    let h = host();
    let c = WasmConfig::default();
    // The host holds a marker in its heap for the whole run.
    let host_secret: Vec<u64> = vec![MARK_HOST; 4096];
    let le = |m: u64| {
        m.to_le_bytes()
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>()
    };
    let a = write(
        "iso-a.wat",
        &wat("", &format!("(data (i32.const 100) \"{}\")", le(MARK_A))),
    );
    // B counts, at every byte offset of its whole memory, the 8-byte values equal to each
    // marker (the constants live in its code, not in its memory), signals the counts
    // (kinds 1, 2, 3) once, then reads one byte past its memory's end.
    let scan = |kind: i32, mark: u64| {
        format!(
            "(local.set $n (i32.const 0)) (local.set $p (i32.const 0))
             (block $d (loop $l
               (br_if $d (i32.gt_u (local.get $p) (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 8))))
               (if (i64.eq (i64.load (local.get $p)) (i64.const {mark}))
                 (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
               (local.set $p (i32.add (local.get $p) (i32.const 1)))
               (br $l)))
             (call $signal (i32.const 0) (i32.const {kind}) (i64.extend_i32_u (local.get $n)))",
            mark = mark as i64
        )
    };
    let body = format!(
        "(local $n i32) (local $p i32)
         (if (i32.eq (global.get $calls) (i32.const 3)) (then
           {} {} {}
           (drop (i32.load8_u (i32.mul (memory.size) (i32.const 65536))))))",
        scan(1, MARK_A),
        scan(2, MARK_HOST),
        scan(3, MARK_B)
    );
    let b = write(
        "iso-b.wat",
        &wat(&body, &format!("(data (i32.const 200) \"{}\")", le(MARK_B))),
    );
    // C asks the host to write a top of book far outside its memory.
    let cm = write(
        "iso-c.wat",
        &wat(
            "(drop (call $top (i32.const 1) (i32.const 0xfffffff0)))",
            "",
        ),
    );
    let log = SignalLog::new();
    let o = StrategyOptions::default;
    let mut p = pipeline(Threading::Shared, 1 << 12);
    p = add_guest(p, "a", load(&h, &a, &c), o(), log.clone());
    p = add_guest(p, "b", load(&h, &b, &c), o(), log.clone());
    p = add_guest(p, "c", load(&h, &cm, &c), o(), log.clone());
    let r = p.run().unwrap().report;
    assert_eq!(std::hint::black_box(&host_secret)[4095], MARK_HOST);
    let counts: Vec<(u32, i64)> = log.of("b").iter().map(|s| (s.kind, s.value)).collect();
    assert_eq!(
        counts,
        [(1, 0), (2, 0), (3, 1)],
        "B sees its own marker once, A's and the host's never"
    );
    assert_eq!(text(&r, "b", "stopped"), "out of bounds memory access");
    assert_eq!(text(&r, "a", "stopped"), "no");
    let cs = text(&r, "c", "stopped");
    assert!(cs.contains("out of bounds"), "C: {cs}");
}

#[test]
fn malformed_foreign_or_incomplete_modules_are_refused_at_load_in_one_line() {
    let h = host();
    let cases = [
        ("text.wasm", "this is not wasm\n".to_string(), "not a WebAssembly module"),
        ("cut.wasm", "\0asm\x01\0\0\0\x01\x05".to_string(), "not a valid WebAssembly module"),
        (
            "wasi.wat",
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#.to_string(),
            "imports wasi_snapshot_preview1.fd_write",
        ),
        (
            "env.wat",
            r#"(module (import "fh" "open" (func)))"#.to_string(),
            "imports fh.open",
        ),
        (
            "nobatch.wat",
            r#"(module (memory (export "memory") 1) (func (export "fh_region") (result i32) (i32.const 0)) (func (export "fh_region_len") (result i32) (i32.const 1)))"#.to_string(),
            "exports no 'fh_on_batch'",
        ),
    ];
    for (name, body, want) in cases {
        let p = write(name, &body);
        let e = WasmModule::load(&h, &p).expect_err(name).to_string();
        assert!(e.contains(want), "{name}: {e}");
        assert!(
            e.contains(&p.display().to_string()),
            "{name}: names the file: {e}"
        );
        assert!(!e.contains('\n'), "{name}: one line: {e}");
        let _ = std::fs::remove_file(&p);
    }
    // A region outside its memory, a start function that never ends: refused at start-up.
    let c = WasmConfig {
        deadline: Duration::from_millis(20),
        ..WasmConfig::default()
    };
    let out = write(
        "region.wat",
        &wat("", "").replace("(i32.const 4096))", "(i32.const 65500))"),
    );
    let m = WasmModule::load(&h, &out).unwrap();
    let e = Guest::new(&m, &c).expect_err("region outside").to_string();
    assert!(e.contains("outside its memory"), "{e}");
    let start = write(
        "start.wat",
        &wat("", "(func $s (loop $l (br $l))) (start $s)"),
    );
    let m = WasmModule::load(&h, &start).unwrap();
    let e = Guest::new(&m, &c).expect_err("start loops").to_string();
    assert!(e.contains("deadline of 20 ms exceeded"), "{e}");
    assert!(!e.contains('\n'));
}
