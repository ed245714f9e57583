//! `fh replay --pipeline` end to end: reader + engine → publication ring → strategy threads.
//!
//! - Under the no-loss policy the digest consumer's digest (the `digest HEX` figure of its
//!   `consumer` line) and the engine thread's `digest:` line equal the single-thread
//!   `fh replay --digest` on the bundled sample, on the production IEX DEEP capture (skipped
//!   with `SKIP:` when absent) and on a generated capture with drops, duplicates and
//!   reordering; with 1 and 3 strategy threads, and with a tiny ring (back-pressure).
//! - Under never-wait with a tiny ring and a deliberately slow strategy, misses are reported
//!   and nothing is lost silently: for every consumer `consumed + missed == published`.
//! - Bad pipeline arguments are one-line errors with exit code 2.

use fh_tests::{real_pcaps_or_skip, run_fh, workspace_root};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-replay-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// The stdout of a run that completed: exit 0, or 1 for data problems (the faulted days).
fn stdout_of(args: &[&str]) -> String {
    let (code, out, err) = run_fh(args);
    let completed = code == 0 || (code == 1 && err.contains("completed with data problems"));
    assert!(completed, "fh {args:?} failed ({code}): {err}");
    String::from_utf8(out).unwrap()
}

fn digest_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("digest: "))
        .unwrap_or_else(|| panic!("no digest line in:\n{out}"))
        .to_string()
}

/// The producer's published count.
fn published(out: &str) -> u64 {
    let l = out
        .lines()
        .find(|l| l.starts_with("producer: published "))
        .unwrap_or_else(|| panic!("no producer line in:\n{out}"));
    l["producer: published ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// (role, consumed, missed) of each consumer line.
fn consumers(out: &str) -> Vec<(String, u64, u64)> {
    let num = |l: &str, key: &str| -> u64 {
        let i = l.find(key).unwrap_or_else(|| panic!("no {key:?} in {l}")) + key.len();
        l[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    out.lines()
        .filter(|l| l.starts_with("consumer "))
        .map(|l| {
            let role = l[l.find('(').unwrap() + 1..]
                .split([',', ')'])
                .next()
                .unwrap()
                .to_string();
            (role, num(l, "consumed "), num(l, "missed "))
        })
        .collect()
}

/// The `digest HEX` figure of the `digest` strategy's consumer line
/// (`consumer I (digest, THREAD): consumed …; digest HEX, updates N, …`).
fn consumer_digest(out: &str) -> String {
    let l = out
        .lines()
        .find(|l| l.starts_with("consumer ") && l.contains("(digest, "))
        .unwrap_or_else(|| panic!("no digest consumer line in:\n{out}"));
    let figures = &l[l.find("; ").unwrap_or_else(|| panic!("no figures in {l}")) + 2..];
    figures
        .split(", ")
        .find_map(|f| f.strip_prefix("digest "))
        .unwrap_or_else(|| panic!("no digest figure in {l}"))
        .to_string()
}

/// Replays `file` single-threaded and as pipelines; every no-loss pipeline digest must equal
/// the single-thread one and every consumer must have read every update.
fn same_digest(file: &Path) {
    let f = file.to_str().unwrap();
    let single = digest_line(&stdout_of(&["replay", f, "--digest"]));
    for extra in [
        &["--consumers", "1"][..],
        &["--consumers", "3"][..],
        &["--consumers", "3", "--ring-size", "64", "--idle", "yield"][..],
    ] {
        let mut args = vec!["replay", f, "--digest", "--pipeline"];
        args.extend_from_slice(extra);
        let out = stdout_of(&args);
        assert_eq!(digest_line(&out), single, "{args:?}\n{out}");
        assert_eq!(
            format!("digest: {}", consumer_digest(&out)),
            single,
            "the digest strategy read what the engine published: {args:?}\n{out}"
        );
        let p = published(&out);
        assert!(p > 0, "{out}");
        let cs = consumers(&out);
        assert_eq!(cs.len(), extra[1].parse::<usize>().unwrap(), "{out}");
        assert_eq!(cs[0].0, "digest");
        for (role, consumed, missed) in cs {
            assert_eq!((consumed, missed), (p, 0), "{role} under no-loss: {out}");
        }
    }
}

#[test]
fn sample_pipeline_digest_equals_single_thread() {
    same_digest(&workspace_root().join("pcaps/sample.pcap"));
}

#[test]
fn real_iex_deep_pipeline_digest_equals_single_thread() {
    let Some(dir) = real_pcaps_or_skip("real_iex_deep_pipeline_digest_equals_single_thread") else {
        return;
    };
    let f = dir.join("iex-deep-20231002-sai271828/test.pcap");
    if !f.is_file() {
        fh_tests::skip(format_args!("{} absent", f.display()));
        return;
    }
    same_digest(&f);
}

#[test]
fn generated_capture_with_faults_pipeline_digest_equals_single_thread() {
    let f = tmp("faults.pcap");
    let fs = f.to_str().unwrap();
    let (code, _, err) = run_fh([
        "gen",
        "--messages",
        "200000",
        "--symbols",
        "20",
        "--seed",
        "7",
        "--drop",
        "0.01",
        "--dup",
        "0.01",
        "--reorder",
        "0.01",
        "--out",
        fs,
    ]);
    assert_eq!(code, 0, "fh gen: {err}");
    // The faults must show in the replay, or this test would not test them.
    let single = stdout_of(&["replay", fs]);
    let gaps = single
        .lines()
        .find(|l| l.starts_with("sequencing MoldUDP64"))
        .unwrap_or_else(|| panic!("no sequencing line:\n{single}"));
    assert!(!gaps.contains("gaps 0 "), "{gaps}");
    assert!(!gaps.contains("duplicates 0 packets"), "{gaps}");
    same_digest(&f);
    let _ = std::fs::remove_file(&f);
    let _ = std::fs::remove_file(f.with_extension("pcap.truth.json"));
}

#[test]
fn never_wait_with_a_slow_consumer_counts_every_miss() {
    let sample = workspace_root().join("pcaps/sample.pcap");
    let out = stdout_of(&[
        "replay",
        sample.to_str().unwrap(),
        "--pipeline",
        "--consumers",
        "3",
        "--policy",
        "never-wait",
        "--ring-size",
        "16",
        "--slow-ns",
        "5000",
    ]);
    assert!(out.contains("never-wait policy"), "{out}");
    let p = published(&out);
    let cs = consumers(&out);
    assert_eq!(cs.len(), 3, "{out}");
    for (role, consumed, missed) in &cs {
        assert_eq!(consumed + missed, p, "{role} lost updates silently:\n{out}");
    }
    // The slow one (the last) cannot keep up with 16 slots at 5 µs per update.
    let (_, consumed, missed) = &cs[2];
    assert!(*missed > 0 && *consumed > 0, "{out}");
    // Never-wait: the producer never waits.
    assert!(out.contains("waited 0 times"), "{out}");
}

#[test]
fn no_loss_with_a_slow_consumer_makes_the_producer_wait() {
    let sample = workspace_root().join("pcaps/sample.pcap");
    let single = digest_line(&stdout_of(&[
        "replay",
        sample.to_str().unwrap(),
        "--digest",
    ]));
    let out = stdout_of(&[
        "replay",
        sample.to_str().unwrap(),
        "--digest",
        "--pipeline",
        "--consumers",
        "2",
        "--ring-size",
        "256",
        "--slow-ns",
        "2000",
    ]);
    assert_eq!(digest_line(&out), single, "{out}");
    assert_eq!(
        format!("digest: {}", consumer_digest(&out)),
        single,
        "{out}"
    );
    let l = out.lines().find(|l| l.starts_with("producer:")).unwrap();
    assert!(!l.contains("waited 0 times"), "no back-pressure: {l}");
}

#[test]
fn bad_pipeline_arguments_are_one_line_errors() {
    for (args, what) in [
        (
            &["replay", "--pipeline", "--ring-size", "3"][..],
            "--ring-size 3",
        ),
        (
            &["replay", "--pipeline", "--consumers", "0"][..],
            "--consumers 0",
        ),
    ] {
        let (code, out, err) = run_fh(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(what), "{err}");
    }
}
