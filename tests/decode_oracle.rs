//! Every ITCH 5.0 and IEX DEEP/TOPS capture in `../shared/pcaps/real` decoded by `fh decode
//! --format json` and compared, field by field and message by message, with the independent
//! decode beside it (tshark + OMI dissectors): zero mismatches, equal message counts.

use fh_tests::oracle::{self, OracleMsg};
use fh_tests::{real_pcaps_or_skip, run_fh};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Capture folders (relative to the real-captures root) in scope: ITCH 5.0 (Nasdaq, BX, PSX,
/// the VLAN-tagged and the anonymised sets), IEX DEEP 1.0 and TOPS 1.5/1.6.
const DIRS: &[&str] = &[
    "omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0",
    "omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822",
    "omi-data-packets/Nasdaq/Bx.Equities.TotalView.Itch.v5.0",
    "omi-data-packets/Nasdaq/Bx.Equities.TotalView.Itch.v5.0.20230822",
    "omi-data-packets/Nasdaq/Psx.Equities.TotalView.Itch.v5.0.20230822",
    "omi-data-packets/Iex/Deep.IexTp.v1.0",
    "omi-data-packets/Iex/Tops.IexTp.v1.5",
    "omi-data-packets/Iex/Tops.IexTp.v1.6",
    "iex-tops-20180103-iextools",
    "iex-deep-20231002-sai271828",
];

/// Pairs every capture in `dir` with its oracle file (`oracle/<stem>.<dissector>.jsonl.gz`).
fn captures_with_oracles(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let oracles: Vec<PathBuf> = std::fs::read_dir(dir.join("oracle"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("pcap") {
            continue;
        }
        let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
        let o = oracles.iter().find(|o| {
            let n = o.file_name().unwrap().to_str().unwrap();
            n.starts_with(&format!("{stem}.")) && n.ends_with(".jsonl.gz")
        });
        match o {
            Some(o) => out.push((p, o.clone())),
            // The truncated upstream pcapng has its oracle under the name of its complete cut.
            None if stem == "example1" => {}
            None => panic!("{}: no oracle file beside it", p.display()),
        }
    }
    out.sort();
    out
}

fn decode_json(capture: &Path) -> Vec<Map<String, Value>> {
    let (code, stdout, stderr) = run_fh(["decode", "--format", "json", capture.to_str().unwrap()]);
    assert_eq!(
        code,
        0,
        "fh decode {}: exit {code}: {stderr}",
        capture.display()
    );
    let text = String::from_utf8(stdout).expect("fh decode prints UTF-8");
    text.lines()
        .enumerate()
        .map(|(i, l)| match serde_json::from_str(l) {
            Ok(Value::Object(m)) => m,
            other => panic!(
                "{} line {}: not a JSON object: {other:?}: {l}",
                capture.display(),
                i + 1
            ),
        })
        .collect()
}

#[test]
fn every_real_capture_matches_its_oracle() {
    let Some(root) = real_pcaps_or_skip("every_real_capture_matches_its_oracle") else {
        return;
    };
    let (mut files, mut messages) = (0usize, 0usize);
    let mut failures = Vec::new();
    for d in DIRS {
        for (cap, ora) in captures_with_oracles(&root.join(d)) {
            let want: Vec<OracleMsg> = oracle::load(&ora);
            let got = decode_json(&cap);
            if got.len() != want.len() {
                failures.push(format!(
                    "{}: {} messages, oracle {}",
                    cap.display(),
                    got.len(),
                    want.len()
                ));
            }
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                for m in oracle::compare(g, w) {
                    failures.push(format!(
                        "{} message {} (frame {}): {m}",
                        cap.display(),
                        i + 1,
                        w.frame
                    ));
                }
            }
            files += 1;
            messages += want.len();
        }
    }
    eprintln!("compared {messages} messages of {files} captures with their oracles");
    // 49 ITCH 5.0 captures (Nasdaq, BX, PSX), 13 OMI IEX captures, the TOPS and the DEEP sets.
    assert_eq!(files, 64, "expected 64 captures with oracles");
    assert!(
        failures.is_empty(),
        "{} mismatches, first 30:\n{}",
        failures.len(),
        failures[..failures.len().min(30)].join("\n")
    );
}
