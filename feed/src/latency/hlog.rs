//! HdrHistogram interval logs (`.hlog`): writing one tagged histogram per stage per interval
//! (hdrhistogram's `IntervalLogWriterBuilder` + `V2DeflateSerializer`), and reading a log back
//! into merged per-tag histograms (`IntervalLogIterator` + `Deserializer`).
//!
//! ## Layout written
//! ```text
//! #[Histogram log format version 1.3]
//! #fh latency interval log: values in ns, one tag per stage
//! #[StartTime: 1763770000.123 (seconds since epoch)]
//! #[BaseTime: 1763770000.123 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! Tag=decode,0.000,1.000,15231.000,HISTFAAA…
//! ```
//! Interval timestamps are seconds since `BaseTime` (= `StartTime`, the run's start), as Java's
//! `HistogramLogWriter` writes them; `Interval_Max` is in ns (divisor 1). Files read with
//! Java's `HistogramLogProcessor` or the Rust crate's iterator.
//!
//! ## Reading
//! [`read`] merges, per tag, every interval whose start lies in `[from, to)` seconds after the
//! log's start. Errors name the file's 1-based line.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::{Stage, StageRecorder};

/// Writes interval histograms of [`StageRecorder`]s to an interval log.
pub struct HlogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    /// The run's start on the fh clock, ns: interval timestamps are relative to it.
    origin_ns: u64,
    intervals: u64,
}

impl<W: Write> std::fmt::Debug for HlogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter")
            .field("origin_ns", &self.origin_ns)
            .field("intervals", &self.intervals)
            .finish_non_exhaustive()
    }
}

impl<W: Write> HlogWriter<W> {
    /// Writes the header. `start` is the wall-clock time of the run's start (`StartTime` and
    /// `BaseTime`), `origin_ns` the same instant on the fh clock.
    pub fn new(mut out: W, start: SystemTime, origin_ns: u64) -> io::Result<HlogWriter<W>> {
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("fh latency interval log: values in ns, one tag per stage")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)?;
        out.write_all(
            b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
        )?;
        Ok(HlogWriter {
            out,
            serializer,
            origin_ns,
            intervals: 0,
        })
    }

    /// Writes one line per non-empty stage of `r`, covering `[r.start_ns(), r.end_ns())`.
    /// Cold path (allocates for serialisation).
    pub fn write_interval(&mut self, r: &StageRecorder) -> io::Result<()> {
        self.write_interval_labeled(r, None)
    }

    /// [`HlogWriter::write_interval`] for a labelled recorder (one strategy's): its tags are
    /// `STAGE.LABEL` ([`super::stage_tag`]).
    pub fn write_interval_labeled(
        &mut self,
        r: &StageRecorder,
        label: Option<&str>,
    ) -> io::Result<()> {
        let start = Duration::from_nanos(r.start_ns().saturating_sub(self.origin_ns));
        let dur = Duration::from_nanos(r.end_ns().saturating_sub(r.start_ns()));
        for stage in Stage::ALL {
            let h = r.histogram(stage);
            if h.is_empty() {
                continue;
            }
            self.write_histogram(&super::stage_tag(stage, label), h, start, dur)?;
        }
        self.intervals += 1;
        Ok(())
    }

    /// Writes one tagged histogram line. `tag` must not contain `,`, ` `, `\r`, `\n`.
    pub fn write_histogram(
        &mut self,
        tag: &str,
        h: &Histogram<u64>,
        start: Duration,
        dur: Duration,
    ) -> io::Result<()> {
        let tag = Tag::new(tag)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad interval log tag"))?;
        // A builder with no comments or times writes nothing: it only lends us the line writer.
        let mut w =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        w.write_histogram(h, start, dur, Some(tag))
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Intervals written so far.
    pub fn intervals(&self) -> u64 {
        self.intervals
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The histograms of an interval log, merged per tag.
#[derive(Debug, Default)]
pub struct LogSummary {
    /// Tag → merged histogram, in order of first appearance (see [`LogSummary::tags`]).
    pub hists: BTreeMap<String, Histogram<u64>>,
    /// Tags in order of first appearance, fh stages in [`Stage`] order first.
    pub tags: Vec<String>,
    /// Interval lines merged.
    pub intervals: u64,
    /// Interval lines skipped by the time range.
    pub skipped: u64,
    /// Seconds after the log's start of the first and the end of the last merged interval.
    pub span: Option<(f64, f64)>,
}

impl LogSummary {
    /// The merged series in display order. Over-bound counts are taken as the values in the
    /// top bucket of each histogram (the log stores values clamped to the bound).
    pub fn series(&self) -> Vec<super::Series<'_>> {
        self.tags
            .iter()
            .filter_map(|t| self.hists.get(t).map(|h| (t, h)))
            .map(|(t, h)| super::Series {
                name: t.as_str(),
                hist: h,
                over: h.count_between(h.lowest_equivalent(h.high()), u64::MAX),
            })
            .collect()
    }
}

/// Java's threshold for telling delta timestamps from absolute ones.
const YEAR_SECS: f64 = 365.25 * 24.0 * 3600.0;

/// 1-based line of byte `offset` in `bytes`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads an interval log and merges, per tag, the intervals starting in `[from, to)` seconds
/// after the log's start (its `StartTime`, else `BaseTime`, else the first interval).
/// Errors are one line with the 1-based line number (the caller adds the file name).
pub fn read(bytes: &[u8], from: Option<f64>, to: Option<f64>) -> Result<LogSummary, String> {
    let mut sum = LogSummary::default();
    let mut deser = Deserializer::new();
    let (mut start_time, mut base_time): (Option<Duration>, Option<Duration>) = (None, None);
    let mut first_abs: Option<f64> = None;
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                format!("line {}: not an interval log line", line_of(bytes, offset))
            }
        })?;
        let ih = match entry {
            LogEntry::StartTime(t) => {
                start_time = Some(t);
                continue;
            }
            LogEntry::BaseTime(t) => {
                base_time = Some(t);
                continue;
            }
            LogEntry::Interval(ih) => ih,
        };
        let enc = ih.encoded_histogram();
        let line = line_of(bytes, enc.as_ptr() as usize - bytes.as_ptr() as usize);
        // Seconds of the interval start after the log's start, as Java's HistogramLogReader
        // reads them: with a BaseTime, timestamps are deltas from it (and the start is the
        // StartTime if given, else the BaseTime); with only a StartTime, timestamps more than
        // a year below it are deltas from it, others absolute; with neither, they are
        // absolute and the first interval is the start.
        let ts = ih.start_timestamp().as_secs_f64();
        let rel = match (base_time, start_time) {
            (Some(b), s) => b.as_secs_f64() + ts - s.unwrap_or(b).as_secs_f64(),
            (None, Some(s)) if ts < s.as_secs_f64() - YEAR_SECS => ts,
            (None, Some(s)) => ts - s.as_secs_f64(),
            (None, None) => ts - *first_abs.get_or_insert(ts),
        };
        let end = rel + ih.duration().as_secs_f64();
        if from.is_some_and(|f| rel < f) || to.is_some_and(|t| rel >= t) {
            sum.skipped += 1;
            continue;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(enc.trim())
            .map_err(|e| format!("line {line}: bad base64 histogram: {e}"))?;
        let h: Histogram<u64> = deser
            .deserialize(&mut raw.as_slice())
            .map_err(|e| format!("line {line}: bad histogram: {e:?}"))?;
        let tag = match ih.tag() {
            Some(t) => t.as_str().to_string(),
            None => "untagged".to_string(),
        };
        match sum.hists.get_mut(&tag) {
            Some(acc) => acc
                .add(&h)
                .map_err(|e| format!("line {line}: cannot merge histogram: {e:?}"))?,
            None => {
                sum.tags.push(tag.clone());
                sum.hists.insert(tag, h);
            }
        }
        sum.intervals += 1;
        sum.span = Some(match sum.span {
            None => (rel, end),
            Some((a, b)) => (a.min(rel), b.max(end)),
        });
    }
    // fh stages first, in stage order; other tags after, in order of appearance.
    sum.tags
        .sort_by_key(|t| Stage::from_name(t).map_or(Stage::COUNT, Stage::index));
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::HistConfig;

    fn interval(start: u64, end: u64, values: &[(Stage, u64)]) -> StageRecorder {
        let mut r = StageRecorder::new(HistConfig::default());
        for &(s, v) in values {
            r.record(s, v);
        }
        r.set_span(start, end);
        r
    }

    #[test]
    fn written_log_reads_back_with_the_crate_deserializer() {
        let origin = 5_000_000_000;
        let mut w = HlogWriter::new(
            Vec::new(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            origin,
        )
        .unwrap();
        let mut expect = StageRecorder::new(HistConfig::default());
        for i in 0..4u64 {
            let vals: Vec<(Stage, u64)> = (1..=1000u64)
                .map(|v| (Stage::Decode, v * (i + 1)))
                .chain((1..=10u64).map(|v| (Stage::EndToEnd, v * 1_000)))
                .collect();
            let r = interval(
                origin + i * 1_000_000_000,
                origin + (i + 1) * 1_000_000_000,
                &vals,
            );
            expect.merge(&r);
            w.write_interval(&r).unwrap();
        }
        assert_eq!(w.intervals(), 4);
        let bytes = w.finish().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("#[Histogram log format version 1.3]\n"));
        assert!(text.contains("#[StartTime: 1700000000.000 (seconds since epoch)]"));
        assert!(text.contains("\nTag=decode,2.000,1.000,"), "{text}");

        // Independent read-back: the crate's own iterator and deserializer.
        let mut total_lines = 0u64;
        let mut decode_count = 0u64;
        for e in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(ih) = e.unwrap() {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(ih.encoded_histogram())
                    .unwrap();
                let h: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .unwrap();
                total_lines += 1;
                if ih.tag().map(|t| t.as_str()) == Some("decode") {
                    decode_count += h.len();
                }
            }
        }
        assert_eq!(total_lines, 8);
        assert_eq!(decode_count, expect.histogram(Stage::Decode).len());

        let all = read(&bytes, None, None).unwrap();
        assert_eq!(all.tags, ["decode", "end_to_end"]);
        assert_eq!(all.intervals, 8);
        assert_eq!(all.hists["decode"], *expect.histogram(Stage::Decode));
        assert_eq!(all.hists["end_to_end"].len(), 40);
        assert_eq!(all.span, Some((0.0, 4.0)));

        let mid = read(&bytes, Some(1.0), Some(3.0)).unwrap();
        assert_eq!(mid.intervals, 4);
        assert_eq!(mid.skipped, 4);
        assert_eq!(mid.hists["decode"].len(), 2000);
        assert!(mid.hists["decode"].equivalent(mid.hists["decode"].max(), 3000));
        assert_eq!(mid.span, Some((1.0, 3.0)));
    }

    /// Three 1 s intervals (1, 2 and 3 values) starting at `first_s` seconds on a log whose
    /// StartTime/BaseTime is `t0` and whose clock origin is `origin_s`.
    fn three_intervals(t0: u64, origin_s: u64, first_s: u64) -> String {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(t0);
        let mut w = HlogWriter::new(Vec::new(), start, origin_s * 1_000_000_000).unwrap();
        for i in 0..3u64 {
            let vals: Vec<(Stage, u64)> = (0..=i).map(|v| (Stage::Book, 10 + v)).collect();
            let s = (first_s + i) * 1_000_000_000;
            w.write_interval(&interval(s, s + 1_000_000_000, &vals))
                .unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    fn picked(text: &str) -> (u64, Option<(f64, f64)>) {
        let s = read(text.as_bytes(), Some(1.0), Some(2.0)).unwrap();
        (s.hists.get("book").map_or(0, Histogram::len), s.span)
    }

    #[test]
    fn time_range_follows_javas_timestamp_rules() {
        let t0 = 1_700_000_000;
        // BaseTime = StartTime, delta timestamps 0, 1, 2 (what fh writes).
        let ours = three_intervals(t0, 0, 0);
        assert_eq!(picked(&ours), (2, Some((1.0, 2.0))));
        // StartTime only, delta timestamps (more than a year below it): still deltas.
        let no_base: String = ours
            .lines()
            .filter(|l| !l.starts_with("#[BaseTime"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(picked(&no_base), (2, Some((1.0, 2.0))));
        // StartTime only, absolute timestamps t0+5, t0+6, t0+7: relative to StartTime.
        let abs: String = three_intervals(t0, 0, t0 + 5)
            .lines()
            .filter(|l| !l.starts_with("#[BaseTime"))
            .map(|l| format!("{l}\n"))
            .collect();
        let s = read(abs.as_bytes(), Some(6.0), Some(7.0)).unwrap();
        assert_eq!(s.hists["book"].len(), 2);
        // Neither: the first interval is the start.
        let bare: String = abs
            .lines()
            .filter(|l| !l.starts_with("#[StartTime"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(picked(&bare), (2, Some((1.0, 2.0))));
        // BaseTime 10 s after StartTime: deltas from BaseTime, range relative to StartTime.
        let shifted = ours.replacen(
            "#[BaseTime: 1700000000.000",
            "#[BaseTime: 1700000010.000",
            1,
        );
        let s = read(shifted.as_bytes(), Some(11.0), Some(12.0)).unwrap();
        assert_eq!(s.hists["book"].len(), 2);
    }

    #[test]
    fn bad_logs_name_the_line() {
        let err = read(b"#ok\nnot a log line\n", None, None).unwrap_err();
        assert_eq!(err, "line 2: not an interval log line");
        let err = read(b"#c\n#c\nTag=x,0.0,1.0,1.0,!!notbase64\n", None, None).unwrap_err();
        assert!(err.starts_with("line 3: bad base64"), "{err}");
        let err = read(b"Tag=x,0.0,1.0,1.0,AAAA\n", None, None).unwrap_err();
        assert!(err.starts_with("line 1: bad histogram"), "{err}");
    }

    #[test]
    fn over_bound_is_the_top_bucket() {
        let cfg = HistConfig {
            lowest_ns: 1,
            highest_ns: 1_000_000,
            sigfig: 3,
        };
        let mut r = StageRecorder::new(cfg);
        r.record(Stage::Book, 10);
        r.record(Stage::Book, 5_000_000);
        r.record(Stage::Book, 7_000_000);
        r.set_span(0, 1);
        let mut w = HlogWriter::new(Vec::new(), SystemTime::UNIX_EPOCH, 0).unwrap();
        w.write_interval(&r).unwrap();
        let bytes = w.finish().unwrap();
        let s = read(&bytes, None, None).unwrap();
        let series = s.series();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].over, 2);
    }
}
