//! `fh report` as a user runs it: the binary prints the table for a log fh wrote, writes the
//! plot, and a bad file ends with one line naming the file and line, exit code 2.

use std::fs;
use std::process::Command;
use std::time::SystemTime;

use fh_feed::latency::hlog::HlogWriter;
use fh_feed::latency::{HistConfig, Stage, StageRecorder};

#[test]
fn fh_report_binary() {
    let dir = std::env::temp_dir().join(format!("fh-report-cli-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("run.hlog");
    let mut w = HlogWriter::new(fs::File::create(&log).unwrap(), SystemTime::now(), 0).unwrap();
    let mut r = StageRecorder::new(HistConfig::default());
    for v in 1..=1000u64 {
        r.record(Stage::Decode, v * 10);
        r.record(Stage::Book, v * 100);
    }
    r.set_span(0, 1_000_000_000);
    w.write_interval(&r).unwrap();
    w.finish().unwrap();

    let fh = env!("CARGO_BIN_EXE_fh");
    let svg = dir.join("out.svg");
    let out = Command::new(fh)
        .arg("report")
        .arg(&log)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[1].starts_with("stage ") && lines[1].contains("p99.9"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("decode ") && lines[2].contains(" 1000 "),
        "{stdout}"
    );
    assert!(lines[3].starts_with("book "), "{stdout}");
    assert_eq!(
        fs::read_to_string(&svg)
            .unwrap()
            .matches("class=\"curve\"")
            .count(),
        2
    );

    let bad = dir.join("bad.hlog");
    fs::write(&bad, "#comment\n#comment\nnot,a,log\n").unwrap();
    let out = Command::new(fh).arg("report").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "fh report: {}: line 3: not an interval log line\n",
            bad.display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}
