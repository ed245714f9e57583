//! Latency machinery end to end: known distributions through the table, `.hgrm` files parsed
//! back, interval logs read back with hdrhistogram's own iterator and deserializer, the SVG
//! plot checked as well-formed XML with one curve per stage, and `fh report` on logs fh wrote.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use fh_feed::latency::hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use fh_feed::latency::hdrhistogram::serialization::Deserializer;
use fh_feed::latency::hdrhistogram::Histogram;
use fh_feed::latency::hlog::HlogWriter;
use fh_feed::latency::table::{self, format_ns, Summary, QUANTILES};
use fh_feed::latency::{hgrm, output, plot, HistConfig, Series, Stage, StageRecorder};
use fh_feed::pipeline::replay::{timed_datagrams, STAMP_BURST};
use fh_tests::run_fh;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fh-latency-it-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The value hdrhistogram's quantile definition picks from the sorted raw values:
/// the `ceil(q·n)`-th smallest (at least the first).
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// `got` equals `want` within the histogram's precision (3 significant digits).
fn within_precision(h: &Histogram<u64>, got: u64, want: u64) -> bool {
    h.equivalent(got, want) || got.abs_diff(want) <= want / 1000 + 1
}

/// Records `values` into one stage of a recorder, checks every table number against the
/// exact statistics of the raw values, and returns the summary.
fn check_distribution(stage: Stage, values: &[u64]) -> Summary {
    let mut rec = StageRecorder::new(HistConfig::default());
    for &v in values {
        rec.record(stage, v);
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let series = rec.series();
    assert_eq!(series.len(), 1);
    let s = Summary::of(&series[0]);
    let h = rec.histogram(stage);
    assert_eq!(s.count, values.len() as u64);
    assert!(within_precision(h, s.min, sorted[0]), "min {}", s.min);
    assert!(
        within_precision(h, s.max, *sorted.last().unwrap()),
        "max {}",
        s.max
    );
    for (i, (q, name)) in QUANTILES.iter().enumerate() {
        let want = exact_quantile(&sorted, *q);
        assert!(
            within_precision(h, s.quantiles[i], want),
            "{name}: table says {}, exact {want}",
            s.quantiles[i]
        );
    }
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
    assert!(
        (s.mean - mean).abs() <= mean / 1000.0,
        "mean {} vs {mean}",
        s.mean
    );
    s
}

#[test]
fn uniform_distribution_table_matches() {
    let values: Vec<u64> = (1..=100_000).collect();
    let s = check_distribution(Stage::Decode, &values);
    // And the printed table shows those numbers, three digits each.
    let rows = table::render(&[s]);
    let cells: Vec<&str> = rows.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "decode", "100000", "1ns", "50.0µs", "90.0µs", "99.0µs", "99.9µs", "100µs", "100µs",
            "100µs", "50.0µs", "0"
        ]
    );
}

#[test]
fn bimodal_distribution_table_matches() {
    // 90 % around 1 µs, 10 % around 1 ms: the table must show the jump between p90 and p99.
    let values: Vec<u64> = (0..200_000u64)
        .map(|i| {
            if i % 10 == 9 {
                1_000_000 + (i * 7919) % 100_000
            } else {
                900 + (i * 31) % 200
            }
        })
        .collect();
    let s = check_distribution(Stage::EndToEnd, &values);
    let p90 = s.quantile(0.90).unwrap();
    let p99 = s.quantile(0.99).unwrap();
    assert!((900..1_100).contains(&p90), "p90 {p90}");
    assert!((1_000_000..1_101_000).contains(&p99), "p99 {p99}");
    let text = table::render(&[s]);
    let cells: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(cells[0], "end_to_end");
    assert!(
        cells[3].ends_with("µs") || cells[3].ends_with("ns"),
        "{text}"
    );
    assert!(cells[5].ends_with("ms"), "{text}");
}

#[test]
fn over_bound_values_are_counted_and_shown() {
    let mut rec = StageRecorder::new(HistConfig::default());
    for v in 1..=1000u64 {
        rec.record(Stage::Book, v);
    }
    rec.record(Stage::Book, 20_000_000_000);
    rec.record(Stage::Book, u64::MAX);
    assert_eq!(rec.over_bound(Stage::Book), 2);
    let text = table::render_series(&rec.series());
    let cells: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(cells.last(), Some(&"2"), "{text}");
    assert_eq!(cells[cells.len() - 3], "10.0s", "max is the bound: {text}");
}

fn sample_recorder() -> StageRecorder {
    let mut rec = StageRecorder::new(HistConfig::default());
    for i in 0..50_000u64 {
        rec.record(Stage::Decode, 80 + i % 400);
        rec.record(Stage::Book, 150 + (i * 13) % 2_000);
        rec.record(Stage::Publish, 30 + i % 50);
        rec.record(
            Stage::EndToEnd,
            500 + (i * 7) % 20_000 + if i % 1000 == 0 { 300_000 } else { 0 },
        );
    }
    rec
}

#[test]
fn hgrm_files_parse_back_with_equal_counts() {
    let rec = sample_recorder();
    let dir = tmpdir("hgrm");
    let written = output::write_hgrm_dir(&dir, &rec.series()).unwrap();
    assert_eq!(written.len(), 4);
    for s in rec.series() {
        let text = fs::read_to_string(dir.join(format!("{}.hgrm", s.name))).unwrap();
        let p = hgrm::parse(&text).unwrap();
        assert_eq!(p.total_count, s.hist.len(), "{}", s.name);
        assert_eq!(p.rows.last().unwrap().total_count, s.hist.len());
        assert_eq!(p.rows.last().unwrap().percentile, 1.0);
        // Values are µs: the footer max is the histogram's max / 1000.
        assert!(
            (p.max - s.hist.max() as f64 / 1000.0).abs() < 1e-3,
            "{}",
            s.name
        );
        // Each row: the value (µs with 3 decimals, i.e. exact ns) holds the cumulative count
        // printed, and that count reaches the row's percentile.
        for r in &p.rows {
            let v = (r.value * 1000.0).round() as u64;
            assert_eq!(
                s.hist.count_between(0, v),
                r.total_count,
                "{} {r:?}",
                s.name
            );
            assert!(r.total_count as f64 >= r.percentile * s.hist.len() as f64 - 1e-6);
        }
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Writes a 3-interval log of the sample stages; returns its path and the merged recorder.
fn write_sample_log(dir: &std::path::Path) -> (PathBuf, StageRecorder) {
    let path = dir.join("run.hlog");
    let origin = 1_000_000_000;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_770_000);
    let mut w = HlogWriter::new(fs::File::create(&path).unwrap(), start, origin).unwrap();
    let mut total = StageRecorder::new(HistConfig::default());
    for i in 0..3u64 {
        let mut r = StageRecorder::new(HistConfig::default());
        for v in 0..(1000 * (i + 1)) {
            r.record(Stage::Decode, 100 + v % 300 + i * 1000);
            r.record(Stage::EndToEnd, 2_000 + v * 3);
        }
        r.set_span(origin + i * 1_000_000_000, origin + (i + 1) * 1_000_000_000);
        w.write_interval(&r).unwrap();
        total.merge(&r);
    }
    w.finish().unwrap();
    (path, total)
}

#[test]
fn interval_log_reads_back_with_the_crates_deserializer() {
    let dir = tmpdir("hlog");
    let (path, total) = write_sample_log(&dir);
    let bytes = fs::read(&path).unwrap();
    let mut per_tag = std::collections::BTreeMap::<String, u64>::new();
    let mut intervals = 0;
    for e in IntervalLogIterator::new(&bytes) {
        match e.unwrap() {
            LogEntry::Interval(ih) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(ih.encoded_histogram())
                    .unwrap();
                let h: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .unwrap();
                assert_eq!(h.max() as f64, ih.max(), "Interval_Max column is ns");
                *per_tag
                    .entry(ih.tag().unwrap().as_str().to_string())
                    .or_default() += h.len();
                intervals += 1;
            }
            LogEntry::StartTime(t) | LogEntry::BaseTime(t) => {
                assert_eq!(t, Duration::from_secs(1_763_770_000));
            }
        }
    }
    assert_eq!(intervals, 6);
    assert_eq!(per_tag["decode"], total.histogram(Stage::Decode).len());
    assert_eq!(
        per_tag["end_to_end"],
        total.histogram(Stage::EndToEnd).len()
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Checks `svg` is well-formed XML with an `<svg>` root; returns the `data-series` names of
/// its `<path class="curve">` elements (each with a non-empty `d`).
pub fn svg_curves(svg: &str) -> Result<Vec<String>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut depth = 0usize;
    let mut root = None;
    let mut curves = Vec::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        let el = match &ev {
            Event::Start(e) | Event::Empty(e) => Some(e.clone()),
            Event::End(_) => {
                depth = depth.checked_sub(1).ok_or("unbalanced end tag")?;
                None
            }
            Event::Eof => break,
            _ => None,
        };
        let Some(e) = el else { continue };
        if depth == 0 {
            if root.is_some() {
                return Err("more than one root element".into());
            }
            root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
        }
        if matches!(ev, Event::Start(_)) {
            depth += 1;
        }
        if e.name().as_ref() == b"path" {
            let mut class = None;
            let mut series = None;
            let mut d = None;
            for a in e.attributes() {
                let a = a.map_err(|e| e.to_string())?;
                let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
                match a.key.as_ref() {
                    b"class" => class = Some(v),
                    b"data-series" => series = Some(v),
                    b"d" => d = Some(v),
                    _ => {}
                }
            }
            if class.as_deref() == Some("curve") {
                if d.as_deref()
                    .is_none_or(|d| !d.starts_with('M') || d.len() < 10)
                {
                    return Err("curve without a path".into());
                }
                curves.push(series.ok_or("curve without data-series")?);
            }
        }
    }
    if depth != 0 {
        return Err(format!("{depth} unclosed element(s)"));
    }
    if root.as_deref() != Some("svg") {
        return Err(format!("root is {root:?}, not svg"));
    }
    Ok(curves)
}

#[test]
fn plot_is_valid_svg_with_one_curve_per_stage() {
    let rec = sample_recorder();
    let svg = plot::render("fh latency: <sample> & co", &rec.series());
    let curves = svg_curves(&svg).unwrap();
    assert_eq!(curves, ["decode", "book", "publish", "end_to_end"]);
    assert!(svg.contains("fh latency: &lt;sample&gt; &amp; co"));
    for label in [
        "0%",
        "90%",
        "99%",
        "99.9%",
        "99.99%",
        "percentile",
        "latency (log scale)",
    ] {
        assert!(svg.contains(&format!(">{label}<")), "missing label {label}");
    }
    // The checker itself rejects broken documents.
    assert!(svg_curves("<svg><g></svg>").is_err());
    assert!(svg_curves("<svg><g>").is_err());
    assert!(svg_curves("<html/>").is_err());
}

#[test]
fn fh_report_prints_the_table_and_plots() {
    let dir = tmpdir("report");
    let (path, total) = write_sample_log(&dir);
    let (code, out, err) = run_fh([
        "report".as_ref(),
        path.as_os_str(),
        "--plot".as_ref(),
        dir.join("out.svg").as_os_str(),
        "--hgrm".as_ref(),
        dir.join("hgrm").as_os_str(),
    ]);
    assert_eq!(code, 0, "fh report: {err}");
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with(": 6 interval histograms, 0.000 s to 3.000 s"),
        "{text}"
    );
    let want = Summary::of(&Series {
        name: "decode",
        hist: total.histogram(Stage::Decode),
        over: 0,
    });
    let decode: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(decode[0], "decode");
    assert_eq!(decode[1], "6000");
    assert_eq!(decode[4], format_ns(want.quantiles[1] as f64));
    assert!(lines[3].starts_with("end_to_end "), "{text}");
    let svg = fs::read_to_string(dir.join("out.svg")).unwrap();
    assert_eq!(svg_curves(&svg).unwrap(), ["decode", "end_to_end"]);
    let h = hgrm::parse(&fs::read_to_string(dir.join("hgrm/decode.hgrm")).unwrap()).unwrap();
    assert_eq!(h.total_count, 6000);

    // --from/--to keep the intervals starting in [from, to): only the second.
    let (code, out, err) = run_fh([
        "report".as_ref(),
        path.as_os_str(),
        "--from=1.0".as_ref(),
        "--to=2.0".as_ref(),
    ]);
    assert_eq!(code, 0, "fh report --from --to: {err}");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("2 interval histograms, 1.000 s to 2.000 s"),
        "{text}"
    );
    assert!(text.contains("\ndecode            2000 "), "{text}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn fh_report_errors_name_the_file_and_line() {
    let dir = tmpdir("report-bad");
    let bad = dir.join("bad.hlog");
    fs::write(
        &bad,
        "#[StartTime: 1.000 (seconds since epoch)]\ngarbage here\n",
    )
    .unwrap();
    // `fh report` ends with one line `fh report: MESSAGE` and exit code 2; returns MESSAGE.
    let run = |p: &std::path::Path, from: Option<f64>| {
        let mut args = vec!["report".into(), p.as_os_str().to_os_string()];
        if let Some(f) = from {
            args.push(format!("--from={f}").into());
        }
        let (code, out, err) = run_fh(&args);
        assert_eq!(code, 2, "fh report {args:?}: {err}");
        assert!(out.is_empty(), "nothing on stdout: {out:?}");
        let line = err.strip_suffix('\n').unwrap_or(&err);
        assert!(!line.contains('\n'), "one line: {err}");
        line.strip_prefix("fh report: ")
            .expect("fh report: prefix")
            .to_string()
    };
    assert_eq!(
        run(&bad, None),
        format!("{}: line 2: not an interval log line", bad.display())
    );
    let empty = dir.join("empty.hlog");
    fs::write(&empty, "#nothing\n").unwrap();
    assert_eq!(
        run(&empty, None),
        format!("{}: no interval histograms", empty.display())
    );
    let (good, _) = write_sample_log(&dir);
    assert!(run(&good, Some(100.0)).ends_with("no interval in the time range (6 outside it)"));
    assert!(run(&good, Some(-1.0)).starts_with("--from -1"));
    let missing = dir.join("missing.hlog");
    assert!(run(&missing, None).starts_with(&format!("{}: ", missing.display())));
    let _ = fs::remove_dir_all(&dir);
}

/// The reference implementation reads our interval log: Java HdrHistogram's
/// `HistogramLogProcessor` (Debian's `libhdrhistogram-java`) turns it into a percentile
/// distribution identical, line for line, to the `.hgrm` file fh writes for the same data.
#[test]
fn java_hdrhistogram_reads_our_log_and_agrees_with_our_hgrm() {
    let jar = std::path::Path::new("/usr/share/java/hdrhistogram.jar");
    let java_ok = std::process::Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !jar.is_file() || !java_ok {
        fh_tests::skip(format_args!(
            "java_hdrhistogram_reads_our_log_and_agrees_with_our_hgrm: needs java and \
             {} (apt-get install libhdrhistogram-java)",
            jar.display()
        ));
        return;
    }
    let dir = tmpdir("java");
    let (path, total) = write_sample_log(&dir);
    output::write_hgrm_dir(&dir, &total.series()).unwrap();
    for tag in ["decode", "end_to_end"] {
        let prefix = dir.join(format!("java_{tag}"));
        let out = std::process::Command::new("java")
            .arg("-cp")
            .arg(jar)
            .arg("org.HdrHistogram.HistogramLogProcessor")
            .arg("-i")
            .arg(&path)
            .args(["-tag", tag, "-outputValueUnitRatio", "1000", "-o"])
            .arg(&prefix)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let java = fs::read_to_string(prefix.with_extension("hgrm")).unwrap();
        let ours = fs::read_to_string(dir.join(format!("{tag}.hgrm"))).unwrap();
        let body = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with("#[Overall") && !l.starts_with("#[StartTime"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(body(&java), body(&ours), "{tag}");
        assert!(java.contains(&format!(
            "Total count    = {:>12}]",
            total.histogram(Stage::from_name(tag).unwrap()).len()
        )));
    }
    let _ = fs::remove_dir_all(&dir);
}

/// The row of `stage` in a latency table printed by `fh`: its cells.
fn table_row<'a>(text: &'a str, stage: &str) -> Option<Vec<&'a str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c.len() >= 10 && c[0] == stage && c[1].parse::<u64>().is_ok())
}

/// `fh replay` of the bundled sample (issue 6, "must show"): the table after the report with
/// one row per stage, the SVG plot with one curve per recorded stage, `.hgrm` files and the
/// interval log read back with the same counts: one value per stage on 1 datagram in
/// `--stamp-every` (default 8).
#[test]
fn fh_replay_of_the_sample_measures_every_stage() {
    let dir = tmpdir("replay-sample");
    let sample = fh_tests::workspace_root().join("pcaps/sample.pcap");
    let (svg, hgrm_dir, hlog) = (dir.join("out.svg"), dir.join("hgrm"), dir.join("run.hlog"));
    let (code, out, err) = fh_tests::run_fh([
        "replay".as_ref(),
        sample.as_os_str(),
        "--plot".as_ref(),
        svg.as_os_str(),
        "--hgrm".as_ref(),
        hgrm_dir.as_os_str(),
        "--hlog".as_ref(),
        hlog.as_os_str(),
        "--interval".as_ref(),
        "0.002".as_ref(),
    ]);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{err}\n{text}");
    // 11 541 data packets, 7 heartbeats, 1 end of session (pcaps/README.md).
    assert!(
        text.contains("frames: 11549 udp datagrams, 0 skipped"),
        "{text}"
    );
    let datagrams = 11_549u64;
    let at = text
        .find("\nlatency (fh replay ")
        .expect("latency table after the report");
    assert!(text[..at].contains("messages/s"), "report first: {text}");
    let table = &text[at..];
    assert!(table.contains("\nclock: "), "{table}");
    let stages = ["decode", "book", "publish", "end_to_end"];
    // Bursts of 32 datagrams at the start of every 32 × 8 timed, every stage (default
    // --stamp-every; which datagrams `timed_datagrams` counts is checked against the clock
    // readings in replay_latency's unit tests).
    let every = fh_feed::latency::DEFAULT_STAMP_EVERY;
    let count = timed_datagrams(datagrams, every);
    assert!(
        table.contains(&format!(
            "1 datagram in {every} timed, in bursts of {STAMP_BURST} (--stamp-every {every})"
        )),
        "{table}"
    );
    for stage in stages {
        let row = table_row(table, stage).unwrap_or_else(|| panic!("no {stage} row: {table}"));
        assert_eq!(row[1], count.to_string(), "{stage}: {table}");
    }
    for absent in ["behind_schedule", "receive", "consume"] {
        assert!(table_row(table, absent).is_none(), "{absent}: {table}");
    }
    let curves = svg_curves(&fs::read_to_string(&svg).unwrap()).unwrap();
    assert_eq!(curves, stages);
    for stage in stages {
        let t = fs::read_to_string(hgrm_dir.join(format!("{stage}.hgrm"))).unwrap();
        assert_eq!(hgrm::parse(&t).unwrap().total_count, count, "{stage}");
    }
    let back = fh_feed::latency::hlog::read(&fs::read(&hlog).unwrap(), None, None).unwrap();
    assert_eq!(
        back.hists.keys().map(String::as_str).collect::<Vec<_>>(),
        ["book", "decode", "end_to_end", "publish"]
    );
    for stage in stages {
        assert_eq!(back.hists[stage].len(), count, "{stage}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// `--speed X` paces the in-process replay on the capture's timestamps and adds
/// `behind_schedule`; `--no-latency` prints no table; stamps change no update (same digest and
/// BBO CSV with and without them); bad combinations are one-line errors.
#[test]
fn fh_replay_paced_and_without_latency() {
    let dir = tmpdir("replay-paced");
    let sample = fh_tests::workspace_root().join("pcaps/sample.pcap");
    let s = sample.to_str().unwrap();
    let svg = dir.join("paced.svg");
    let (csv_a, csv_b) = (dir.join("a.csv"), dir.join("b.csv"));
    let t = std::time::Instant::now();
    let (code, out, err) = fh_tests::run_fh([
        "replay",
        s,
        "--speed",
        "200",
        "--digest",
        "--bbo-csv",
        csv_a.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let paced_wall = t.elapsed();
    let paced = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{err}\n{paced}");
    assert!(paced.contains("\npaced: --speed 200 "), "{paced}");
    let row = table_row(&paced, "behind_schedule").expect("behind_schedule row");
    assert_eq!(row[1], "11549", "{paced}");
    assert_eq!(
        svg_curves(&fs::read_to_string(&svg).unwrap()).unwrap(),
        ["decode", "book", "publish", "end_to_end", "behind_schedule"]
    );
    // The capture spans more than 10 s (pre-open, a halt, the close): paced at 200x the
    // replay cannot take less than span / 200.
    let ts: Vec<u64> = fh_replay::capture::Capture::open(&sample)
        .unwrap()
        .records()
        .unwrap()
        .map(|r| r.unwrap().ts_ns)
        .collect();
    let span = ts.last().unwrap() - ts.first().unwrap();
    assert!(span > 10_000_000_000, "span {span} ns");
    assert!(
        paced_wall >= Duration::from_nanos(span / 200),
        "{paced_wall:?} for a span of {span} ns at 200x"
    );

    let (code, out, err) = fh_tests::run_fh([
        "replay",
        s,
        "--no-latency",
        "--digest",
        "--bbo-csv",
        csv_b.to_str().unwrap(),
    ]);
    let plain = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(!plain.contains("latency ("), "{plain}");
    let digest = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("digest: "))
            .map(String::from)
    };
    assert!(digest(&plain).is_some());
    assert_eq!(digest(&plain), digest(&paced));
    assert_eq!(fs::read(&csv_a).unwrap(), fs::read(&csv_b).unwrap());

    for (args, want) in [
        (
            vec!["replay", s, "--no-latency", "--plot", "x.svg"],
            "--no-latency: cannot be combined with --hgrm, --hlog or --plot",
        ),
        (
            vec!["replay", s, "--speed", "0"],
            "--speed 0: must be from 0.001 to 1000000",
        ),
        (
            vec!["replay", s, "--to", "239.1.1.1:5000", "--plot", "x.svg"],
            "--plot: not a flag of fh replay --to (it only sends)",
        ),
        (
            vec!["replay", s, "--to", "127.0.0.1:5000"],
            "destination 127.0.0.1:5000 is not a multicast group (224.0.0.0/4): the wire sender only sends to groups",
        ),
        (
            vec!["replay", s, "--decode-only", "--speed", "2"],
            "--speed: not a flag of fh replay --decode-only",
        ),
        (
            vec!["replay", s, "--decode-only", "--plot", "x.svg"],
            "--plot: not a flag of fh replay --decode-only",
        ),
    ] {
        let (code, _, err) = fh_tests::run_fh(&args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(err, format!("fh replay: {want}\n"), "{args:?}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// `fh` with no arguments (what `cargo run --release` runs) replays the sample and ends with
/// the latency table.
#[test]
fn fh_without_arguments_ends_with_the_latency_table() {
    let (code, out, err) = fh_tests::run_fh::<[&str; 0], &str>([]);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("sample.pcap: processing time per stage"),
        "{text}"
    );
    // 11 549 datagrams, 1 in --stamp-every timed, in bursts of 32.
    assert_eq!(
        table_row(&text, "end_to_end").unwrap()[1],
        timed_datagrams(11_549, fh_feed::latency::DEFAULT_STAMP_EVERY).to_string()
    );
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("end_to_end "),
        "{text}"
    );
}
