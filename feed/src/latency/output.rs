//! A run's latency options ([`LatencyConfig`], what `fh replay` and `fh live` take) and its
//! latency bookkeeping ([`LatencyRun`]): clock, per-thread interval recorders, the interval
//! log, and at the end the table, `.hgrm` files and plot.

use std::fs::{self, File};
use std::io::{BufWriter, Write};

use crate::pipeline::output::{write_atomic, Output};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{
    hgrm, hlog::HlogWriter, interval_pair, plot, table, Clock, HistConfig, IntervalCollector,
    IntervalRecorder, LatencyError, Series, StageRecorder,
};

/// A run's latency options: plain values, no command line (the `fh` CLI's `LatencyConfig` flags
/// map one to one onto these fields through `LatencyConfig::config`).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyConfig {
    /// Write each stage's percentile distribution to DIR/STAGE.hgrm (HdrHistogram text
    /// format, values in µs).
    pub hgrm: Option<PathBuf>,
    /// Write interval histograms to this file (HdrHistogram interval log, values in ns, one tag
    /// per stage).
    pub hlog: Option<PathBuf>,
    /// Seconds per interval of the interval log and of the recorders' hand-over (default 1).
    pub interval: f64,
    /// Draw the percentile curves of all stages into this file (SVG).
    pub plot: Option<PathBuf>,
    /// Take no stage timestamps (to measure what they cost); no outputs then.
    pub no_latency: bool,
    /// `fh replay`: time 1 datagram in N (in bursts of 32), every stage (default
    /// [`DEFAULT_STAMP_EVERY`]; at least 1).
    pub stamp_every: u32,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            hgrm: None,
            hlog: None,
            interval: 1.0,
            plot: None,
            no_latency: false,
            stamp_every: DEFAULT_STAMP_EVERY,
        }
    }
}

/// `fh replay`'s default `--stamp-every`: 1 datagram in 8 timed (bursts of 32 consecutive
/// datagrams, one in every 256), every stage. Timing a datagram takes three `rdtsc` (~11 ns
/// each here), the held-update hand-over and four records; on ~400 ns of work per datagram
/// that is +8-10 % CPU when every datagram is timed; 1 in 8 in bursts measured +1.7-2.0 %
/// (1 in 8 datagrams timed singly, as before bursts: +3.1-6.1 %; `benches/replay_latency.rs`,
/// interleaved medians).
pub const DEFAULT_STAMP_EVERY: u32 = 8;

impl LatencyConfig {
    /// Checks the values: `interval` positive and finite (at least 1 ms), no outputs with
    /// `no_latency`. The messages name `fh`'s flags (`--interval`, `--no-latency`, …).
    pub fn validate(&self) -> Result<(), LatencyError> {
        if !(self.interval.is_finite() && self.interval >= 0.001) {
            return Err(LatencyError::new(format!(
                "--interval {}: must be at least 0.001 seconds",
                self.interval
            )));
        }
        if self.no_latency && (self.hgrm.is_some() || self.hlog.is_some() || self.plot.is_some()) {
            return Err(LatencyError::new(
                "--no-latency: cannot be combined with --hgrm, --hlog or --plot",
            ));
        }
        Ok(())
    }

    /// `interval` in ns.
    pub fn interval_ns(&self) -> u64 {
        (self.interval * 1e9).round() as u64
    }
}

/// The file stem for series `name`: letters, digits, `_` and `-` kept, anything else (such as
/// `/` or `.` in a tag read from a log) replaced by `_`, so files stay inside the directory.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".to_string()
    } else {
        s
    }
}

/// Writes `DIR/<name>.hgrm` for every series (name through [`file_stem`]), each atomically
/// (temporary file, renamed); returns the paths written.
pub fn write_hgrm_dir(dir: &Path, series: &[Series<'_>]) -> Result<Vec<PathBuf>, LatencyError> {
    fs::create_dir_all(dir).map_err(|e| {
        LatencyError::new(format!(
            "{}: cannot create directory: {}",
            dir.display(),
            crate::io_words(&e)
        ))
    })?;
    let mut written = Vec::new();
    for s in series {
        let path = dir.join(format!("{}.hgrm", file_stem(s.name)));
        write_atomic(&path, hgrm::render(s.hist).as_bytes()).map_err(|e| LatencyError(e.0))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the SVG plot of `series` to `path` (atomically).
pub fn write_plot(path: &Path, title: &str, series: &[Series<'_>]) -> Result<(), LatencyError> {
    write_atomic(path, plot::render(title, series).as_bytes()).map_err(|e| LatencyError(e.0))
}

/// A run's latency bookkeeping (cold side). See the module docs of [`crate::latency`] for the
/// integration recipe.
#[derive(Debug)]
pub struct LatencyRun {
    opts: LatencyConfig,
    clock: Clock,
    config: HistConfig,
    origin_ns: u64,
    /// The interval log: a temporary file until [`LatencyRun::finish`] renames it.
    hlog: Option<(HlogWriter<BufWriter<File>>, Output)>,
    collectors: Vec<(Option<String>, IntervalCollector)>,
    total: StageRecorder,
    labeled: Vec<(String, StageRecorder)>,
}

/// The merged figures of a run, for a report value ([`LatencyRun::finish_quiet`]).
#[derive(Debug, Clone)]
pub struct LatencyTotals {
    /// The clock and the cost of a reading.
    pub clock_line: String,
    /// One row per stage with values; labelled stages are `STAGE.LABEL`.
    pub stages: Vec<table::Summary>,
}

impl LatencyRun {
    /// Validates `opts`, calibrates the clock (once per process), opens the interval log and
    /// notes the run's start. Allocates: call before the hot loop.
    pub fn start(opts: &LatencyConfig) -> Result<LatencyRun, LatencyError> {
        opts.validate()?;
        let clock = *Clock::global();
        let config = HistConfig::default();
        let start_wall = SystemTime::now();
        let origin_ns = clock.now();
        let hlog = match &opts.hlog {
            None => None,
            Some(path) => {
                let mut out = Output::create(path).map_err(|e| LatencyError(e.0))?;
                let w = HlogWriter::new(out.writer(), start_wall, origin_ns)
                    .map_err(|e| LatencyError(out.error(e).0))?;
                Some((w, out))
            }
        };
        Ok(LatencyRun {
            opts: opts.clone(),
            clock,
            config,
            origin_ns,
            hlog,
            collectors: Vec::new(),
            total: StageRecorder::new(config),
            labeled: Vec::new(),
        })
    }

    /// The run's clock (copy it into each thread).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Whether stage timestamps should be taken (`no_latency` not set).
    pub fn enabled(&self) -> bool {
        !self.opts.no_latency
    }

    /// The run's start on the clock, ns.
    pub fn origin_ns(&self) -> u64 {
        self.origin_ns
    }

    /// A recorder for one hot thread (allocated now), with intervals of `interval` from the
    /// run's start.
    pub fn recorder(&mut self) -> IntervalRecorder {
        let (rec, col) = interval_pair(self.config, self.origin_ns, self.opts.interval_ns());
        self.collectors.push((None, col));
        rec
    }

    /// A recorder for one strategy's hop, labelled `label`: its stages are reported, logged
    /// and plotted as `STAGE.LABEL` ([`super::stage_tag`]), apart from the engine's.
    pub fn recorder_for(&mut self, label: &str) -> IntervalRecorder {
        let (rec, col) = interval_pair(self.config, self.origin_ns, self.opts.interval_ns());
        self.collectors.push((Some(label.to_string()), col));
        if !self.labeled.iter().any(|(l, _)| l == label) {
            self.labeled
                .push((label.to_string(), StageRecorder::new(self.config)));
        }
        rec
    }

    fn merge_labeled(&mut self, label: Option<&str>, r: &StageRecorder) {
        match label.and_then(|l| self.labeled.iter_mut().find(|(n, _)| n == l)) {
            Some((_, t)) => t.merge(r),
            None => self.total.merge(r),
        }
    }

    /// Ends the run without printing: collects what is left, adds the last partial
    /// intervals (with their labels), closes the interval log, writes `hgrm` and `plot`
    /// (`title` on the plot) and returns the rows of every stage.
    pub fn finish_quiet(
        mut self,
        last: Vec<(Option<String>, Box<StageRecorder>)>,
        title: &str,
    ) -> Result<LatencyTotals, LatencyError> {
        self.poll()?;
        for (label, r) in &last {
            if let Some((w, out)) = self.hlog.as_mut() {
                if r.total_count() > 0 {
                    w.write_interval_labeled(r, label.as_deref())
                        .map_err(|e| LatencyError(out.error(e).0))?;
                }
            }
            self.merge_labeled(label.as_deref(), r);
        }
        self.close_hlog()?;
        let cost = self.clock.cost_ns(5, 10_000);
        let mut names = Vec::new();
        for (label, t) in &self.labeled {
            for stage in super::Stage::ALL {
                if !t.histogram(stage).is_empty() {
                    names.push((super::stage_tag(stage, Some(label)), stage, label.as_str()));
                }
            }
        }
        let mut series = self.total.series();
        for (name, stage, label) in &names {
            if let Some((_, t)) = self.labeled.iter().find(|(l, _)| l == label) {
                series.push(Series {
                    name,
                    hist: t.histogram(*stage),
                    over: t.over_bound(*stage),
                });
            }
        }
        if let Some(dir) = &self.opts.hgrm {
            write_hgrm_dir(dir, &series)?;
        }
        if let Some(path) = &self.opts.plot {
            write_plot(path, &format!("fh latency: {title}"), &series)?;
        }
        Ok(LatencyTotals {
            clock_line: self.clock.describe(cost),
            stages: series.iter().map(table::Summary::of).collect(),
        })
    }

    /// Flushes the interval log and renames it into place.
    fn close_hlog(&mut self) -> Result<(), LatencyError> {
        if let Some((w, out)) = self.hlog.take() {
            let mut f = w.finish().map_err(|e| LatencyError(out.error(e).0))?;
            f.flush().map_err(|e| LatencyError(out.error(e).0))?;
            drop(f);
            out.commit().map_err(|e| LatencyError(e.0))?;
        }
        Ok(())
    }

    /// Cold side, call now and then (after a `tick` returned true in a single-threaded replay,
    /// or every few ms on a monitoring thread in live): writes every finished interval to the
    /// interval log and adds it to the run's totals. Returns the intervals collected.
    pub fn poll(&mut self) -> Result<usize, LatencyError> {
        let mut n = 0;
        for i in 0..self.collectors.len() {
            if let Some(r) = self.collectors[i].1.take() {
                let label = self.collectors[i].0.clone();
                if let Some((w, out)) = self.hlog.as_mut() {
                    w.write_interval_labeled(&r, label.as_deref())
                        .map_err(|e| LatencyError(out.error(e).0))?;
                }
                self.merge_labeled(label.as_deref(), &r);
                self.collectors[i].1.give_back(r);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Ends the run: collects what is left, adds the last partial intervals (`finish`ed
    /// recorders of the hot threads), closes the interval log, writes `hgrm` and `plot`,
    /// and prints the clock line and the table to `out`. Returns the merged totals.
    pub fn finish(
        mut self,
        last: Vec<Box<StageRecorder>>,
        title: &str,
        out: &mut dyn Write,
    ) -> Result<StageRecorder, LatencyError> {
        self.poll()?;
        for r in &last {
            if let Some((w, out)) = self.hlog.as_mut() {
                if r.total_count() > 0 {
                    w.write_interval(r)
                        .map_err(|e| LatencyError(out.error(e).0))?;
                }
            }
            self.total.merge(r);
        }
        self.close_hlog()?;
        let cost = self.clock.cost_ns(5, 10_000);
        report(
            &self.opts,
            &self.clock.describe(cost),
            title,
            &self.total,
            out,
        )?;
        Ok(self.total)
    }
}

/// Prints `clock_line` and the table of `total` to `out`, and writes `hgrm` and `plot`.
/// For runs that merge their recorders themselves instead of using [`LatencyRun`].
pub fn report(
    opts: &LatencyConfig,
    clock_line: &str,
    title: &str,
    total: &StageRecorder,
    out: &mut dyn Write,
) -> Result<(), LatencyError> {
    let series = total.series();
    let io = |e: std::io::Error| LatencyError::new(format!("writing the latency table: {e}"));
    writeln!(out, "latency ({title})").map_err(io)?;
    writeln!(out, "{clock_line}").map_err(io)?;
    if series.is_empty() {
        writeln!(out, "no latency recorded").map_err(io)?;
    } else {
        write!(out, "{}", table::render_series(&series)).map_err(io)?;
    }
    if let Some(dir) = &opts.hgrm {
        write_hgrm_dir(dir, &series)?;
    }
    if let Some(path) = &opts.plot {
        write_plot(path, &format!("fh latency: {title}"), &series)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Stage;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fh-latency-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn hgrm_file_names_stay_in_the_directory() {
        assert_eq!(file_stem("end_to_end"), "end_to_end");
        assert_eq!(file_stem("../../etc/x"), "______etc_x");
        assert_eq!(file_stem(""), "_");
    }

    #[test]
    fn pieces_move_between_threads() {
        fn send<T: Send>() {}
        send::<LatencyRun>();
        send::<IntervalRecorder>();
        send::<IntervalCollector>();
        send::<Clock>();
    }

    #[test]
    fn validate_names_the_bad_value() {
        let mut a = LatencyConfig::default();
        assert!(a.validate().is_ok());
        a.interval = 0.0;
        assert_eq!(
            a.validate().unwrap_err().0,
            "--interval 0: must be at least 0.001 seconds"
        );
        a.interval = f64::NAN;
        assert!(a.validate().is_err());
        let b = LatencyConfig {
            no_latency: true,
            plot: Some("x.svg".into()),
            ..LatencyConfig::default()
        };
        assert!(b.validate().is_err());
    }

    #[test]
    fn a_run_writes_every_output() {
        let dir = tmpdir("run");
        let opts = LatencyConfig {
            hgrm: Some(dir.join("hgrm")),
            hlog: Some(dir.join("run.hlog")),
            interval: 0.001,
            plot: Some(dir.join("run.svg")),
            no_latency: false,
            stamp_every: 1,
        };
        let mut run = LatencyRun::start(&opts).unwrap();
        let clock = run.clock();
        let mut rec = run.recorder();
        let mut n = 0u64;
        let mut intervals = 0;
        // Until 4 intervals were handed over (bounded: 10 s, however loaded the machine).
        let give_up = clock.now() + 10_000_000_000;
        while intervals < 4 {
            let t0 = clock.now();
            let t1 = clock.now();
            rec.record_span(Stage::Decode, t0, t1);
            rec.record(Stage::Book, 100 + n % 50);
            n += 1;
            if rec.tick(t1) {
                intervals += run.poll().unwrap();
            }
            assert!(t1 < give_up, "only {intervals} intervals in 10 s");
        }
        let last = rec.finish(clock.now());
        let mut out = Vec::new();
        let total = run.finish(vec![last], "unit test", &mut out).unwrap();
        assert_eq!(total.histogram(Stage::Decode).len(), n);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("latency (unit test)\nclock: "), "{text}");
        assert!(
            text.contains("\ndecode ") && text.contains("\nbook "),
            "{text}"
        );

        let log = fs::read(dir.join("run.hlog")).unwrap();
        let back = crate::latency::hlog::read(&log, None, None).unwrap();
        assert_eq!(back.hists["decode"].len(), n);
        assert_eq!(back.hists["book"].len(), n);
        assert!(back.intervals >= 4, "{}", back.intervals);
        for stage in ["decode", "book"] {
            let t = fs::read_to_string(dir.join("hgrm").join(format!("{stage}.hgrm"))).unwrap();
            assert_eq!(hgrm::parse(&t).unwrap().total_count, n);
        }
        let svg = fs::read_to_string(dir.join("run.svg")).unwrap();
        assert_eq!(svg.matches("class=\"curve\"").count(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_outputs_name_the_path() {
        let opts = LatencyConfig {
            hlog: Some("/nonexistent-dir/x.hlog".into()),
            ..LatencyConfig::default()
        };
        let e = LatencyRun::start(&opts).unwrap_err();
        assert!(e.0.starts_with("/nonexistent-dir/x.hlog: "), "{}", e.0);
    }
}
