//! `fh replay --pipeline --wasm …` as a user runs it: modules in Rust (the SDK's examples) and
//! in C (`fh_guest.h`, built with clang for wasm32), the signals CSV, the report, and the
//! start-up errors (exit 2, one line).

use crate::common::{clang, fh, guest, json, module_name, sample, strategy, tmp, wat, write};

#[test]
fn replay_runs_rust_modules_with_the_native_digest_and_writes_their_signals() {
    let (Some(bbo), Some(imb)) = (guest("bbo"), guest("imbalance")) else {
        return;
    };
    let (csv, rj) = (tmp("cli-signals.csv"), tmp("cli-report.json"));
    let s = sample();
    let (code, out, err) = fh(&[
        &"replay",
        &s,
        &"--pipeline",
        &"--threading",
        &"shared",
        &"--strategy",
        &"digest",
        &"--strategy",
        &"imbalance",
        &"--wasm",
        &bbo,
        &"--wasm",
        &imb,
        &"--signals-csv",
        &csv,
        &"--report-json",
        &rj,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("wasm-bbo") && out.contains("wasm-imbalance"),
        "{out}"
    );
    let r = json(&rj);
    let digest = strategy(&r, "digest")["figures"]["digest"].clone();
    for m in ["wasm-bbo", "wasm-imbalance"] {
        let f = &strategy(&r, m)["figures"];
        assert_eq!(f["guest digest"], digest, "{m}");
        assert_eq!(f["stopped"], "no", "{m}");
    }
    let sig = |m: &str| strategy(&r, m)["figures"]["signals"].as_u64().unwrap();
    assert_eq!(
        sig("wasm-imbalance"),
        strategy(&r, "imbalance")["figures"]["signals"]
            .as_u64()
            .unwrap()
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "strategy,instrument,symbol,kind,value");
    assert_eq!(
        rows.len() as u64 - 1,
        sig("wasm-bbo") + sig("wasm-imbalance")
    );
    assert!(rows[1].starts_with("wasm-bbo,"));
    let _ = std::fs::remove_file(&csv);
    let _ = std::fs::remove_file(&rj);
}

#[test]
fn a_c_module_built_against_the_header_runs() {
    let Some(wasm) = clang("spread", &["-Wl,--no-entry", "-Wl,--export-dynamic"]) else {
        return;
    };
    let (csv, rj) = (tmp("c-signals.csv"), tmp("c-report.json"));
    let s = sample();
    let (code, _, err) = fh(&[
        &"replay",
        &s,
        &"--pipeline",
        &"--strategy",
        &"digest",
        &"--wasm",
        &wasm,
        &"--signals-csv",
        &csv,
        &"--report-json",
        &rj,
    ]);
    assert_eq!(code, 0, "{err}");
    let r = json(&rj);
    let f = &strategy(&r, &module_name(&wasm))["figures"];
    assert_eq!(f["stopped"], "no");
    let n = f["signals"].as_u64().unwrap();
    assert!(n > 1000, "spread signals: {n}");
    assert_eq!(
        f["guest updates"].as_i64().unwrap() as u64,
        strategy(&r, "digest")["figures"]["updates"]
            .as_u64()
            .unwrap()
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count() as u64, n + 1);
    // Spreads are positive prices (4 decimals) or zero (locked).
    for l in text.lines().skip(1) {
        let v: i64 = l.rsplit(',').next().unwrap().parse().unwrap();
        assert!(
            l.starts_with(&format!("{},", module_name(&wasm))) && l.contains(",4,") && v >= 0,
            "{l}"
        );
    }
    for p in [&csv, &rj, &wasm] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn a_hostile_module_is_reported_and_the_run_succeeds() {
    let looping = write("cli-loop.wat", &wat("(loop $l (br $l))", ""));
    let rj = tmp("cli-loop.json");
    let s = sample();
    let (code, _, err) = fh(&[
        &"replay",
        &s,
        &"--pipeline",
        &"--strategy",
        &"digest",
        &"--wasm",
        &looping,
        &"--wasm-deadline-ms",
        &"5",
        &"--ring-size",
        &"64",
        &"--report-json",
        &rj,
    ]);
    assert_eq!(code, 0, "{err}");
    let r = json(&rj);
    let f = &strategy(&r, &module_name(&looping))["figures"];
    assert_eq!(f["stopped"], "deadline of 5 ms exceeded");
    assert_eq!(f["stopped at update"], 0);
    assert_eq!(f["module"], looping.file_name().unwrap().to_str().unwrap());
    let _ = std::fs::remove_file(&looping);
    let _ = std::fs::remove_file(&rj);
}

#[test]
fn bad_modules_and_flags_are_one_line_errors_with_exit_2() {
    let s = sample();
    let junk = write("cli-junk.wasm", "MZ\x7f\0 not a module");
    let cut = write("cli-cut.wasm", "\0asm\x01\0\0\0\x05");
    let ok = write("ok.wat", &wat("", ""));
    let cases: Vec<(Vec<&dyn AsRef<std::ffi::OsStr>>, String)> = vec![
        (
            vec![&"replay", &s, &"--pipeline", &"--wasm", &junk],
            format!("fh replay: {}: not a WebAssembly module", junk.display()),
        ),
        (
            vec![&"replay", &s, &"--pipeline", &"--wasm", &cut],
            format!(
                "fh replay: {}: not a valid WebAssembly module",
                cut.display()
            ),
        ),
        (
            vec![
                &"replay",
                &s,
                &"--pipeline",
                &"--wasm",
                &"/nonexistent/x.wasm",
            ],
            "/nonexistent/x.wasm".to_string(),
        ),
        (
            vec![&"replay", &s, &"--wasm", &ok],
            "fh replay: --wasm: not a flag of a single-thread fh replay".to_string(),
        ),
        (
            vec![&"replay", &s, &"--pipeline", &"--wasm-deadline-ms", &"5"],
            "fh replay: --wasm-deadline-ms: needs --wasm FILE".to_string(),
        ),
        (
            vec![
                &"replay",
                &s,
                &"--pipeline",
                &"--wasm",
                &ok,
                &"--wasm-deadline-ms",
                &"0",
            ],
            "fh replay: --wasm-deadline-ms 0: from 1 to 10000".to_string(),
        ),
        (
            vec![
                &"replay",
                &s,
                &"--pipeline",
                &"--wasm",
                &ok,
                &"--wasm-memory-mib",
                &"5000",
            ],
            "fh replay: --wasm-memory-mib 5000: from 1 to 4096".to_string(),
        ),
        (
            vec![
                &"replay",
                &s,
                &"--pipeline",
                &"--wasm",
                &ok,
                &"--signals-csv",
                &ok,
            ],
            "--signals-csv".to_string(),
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = fh(&args);
        assert_eq!(code, 2, "{want}: {err}");
        assert!(
            err.starts_with(&want) || err.contains(&want),
            "want '{want}', got '{err}'"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(out.is_empty(), "nothing ran: {out}");
    }
    assert_eq!(
        std::fs::read_to_string(&ok).unwrap(),
        wat("", ""),
        "the input is untouched"
    );
    for p in [&junk, &cut, &ok] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn wasm_shared_runs_a_c_module_on_the_ring_in_place_and_is_refused_where_it_cannot_apply() {
    let Some(wasm) = clang(
        "digest_shared",
        &[
            "-matomics",
            "-mbulk-memory",
            "-Wl,--no-entry",
            "-Wl,--import-memory,--shared-memory,--initial-memory=5242880,--max-memory=5242880",
        ],
    ) else {
        return;
    };
    let rj = tmp("shared-report.json");
    let s = sample();
    let (code, _, err) = fh(&[
        &"replay",
        &s,
        &"--pipeline",
        &"--strategy",
        &"digest",
        &"--wasm",
        &wasm,
        &"--wasm-shared",
        &"--ring-size",
        &"4096",
        &"--report-json",
        &rj,
    ]);
    assert_eq!(code, 0, "{err}");
    let r = json(&rj);
    let f = &strategy(&r, &module_name(&wasm))["figures"];
    assert_eq!(f["stopped"], "no");
    let digest = &strategy(&r, "digest")["figures"];
    assert_eq!(f["guest digest"], digest["digest"]);
    assert_eq!(
        f["guest updates"].as_i64().unwrap() as u64,
        digest["updates"].as_u64().unwrap()
    );
    // Where it cannot apply: one line, exit 2.
    let copying = write("cli-copying.wat", &wat("", ""));
    for (args, want) in [
        (
            vec!["--wasm-shared"],
            "--wasm-shared: needs --wasm FILE",
        ),
        (
            vec!["--wasm", wasm.to_str().unwrap(), "--wasm-shared", "--policy", "never-wait"],
            "--wasm-shared: the modules read the ring's slots in place, which needs --policy no-loss",
        ),
        (
            vec!["--wasm", copying.to_str().unwrap(), "--wasm-shared"],
            "exports fh_region: a module built for the copying mode, not for --wasm-shared",
        ),
        (
            vec!["--wasm", wasm.to_str().unwrap()],
            "imports a memory (env.memory): a module built for --wasm-shared",
        ),
    ] {
        let mut a: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"replay", &s, &"--pipeline"];
        for x in &args {
            a.push(x);
        }
        let (code, _, err) = fh(&a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: '{err}' should say '{want}'");
    }
    for p in [&rj, &wasm, &copying] {
        let _ = std::fs::remove_file(p);
    }
}
