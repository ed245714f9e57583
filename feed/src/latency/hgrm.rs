//! HdrHistogram's standard percentile-distribution text (`.hgrm`), as Java's
//! `AbstractHistogram.outputPercentileDistribution(out, 5, 1000.0)` prints it: values recorded
//! in ns, **written in µs** (scaling ratio 1000), 5 percentile ticks per half distance.
//!
//! ```text
//!        Value     Percentile TotalCount 1/(1-Percentile)
//!
//!        0.101 0.000000000000          1           1.00
//!        …
//!      100.031 1.000000000000     100000
//! #[Mean    =       50.002, StdDeviation   =       28.868]
//! #[Max     =      100.031, Total count    =       100000]
//! #[Buckets =           24, SubBuckets     =         2048]
//! ```
//!
//! Such files load into HdrHistogram's plotter and the usual `.hgrm` tools. [`parse`] reads the
//! format back (for tests and tools); it checks the footer against the table.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Values are divided by this before printing: ns → µs.
pub const SCALING_RATIO: f64 = 1000.0;

/// Percentile ticks per half distance, as HdrHistogram's default.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Sub-buckets per bucket of a histogram with `sigfig` significant digits (as HdrHistogram
/// computes it: the power of two above `2 · 10^sigfig`).
pub fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest_single_unit = 2 * 10u64.pow(u32::from(sigfig));
    largest_single_unit.next_power_of_two()
}

/// The rows of the percentile table: `(value, percentile level in %, cumulative count)`,
/// exactly as HdrHistogram's Java `PercentileIterator` yields them (the crate's
/// `iter_quantiles` differs when a count lands exactly on a tick: Java reports the value that
/// reaches the tick, the crate the next one). Levels start at 0 % and advance by
/// `100 / (ticks · 2^(⌊log2(100 / (100 − level))⌋ + 1))`; several levels may be reported at
/// one value; once the last value is reached, one more row at 100 % ends the table.
pub fn percentile_rows(h: &Histogram<u64>, ticks_per_half_distance: u32) -> Vec<(u64, f64, u64)> {
    let total = h.len();
    let mut rows = Vec::new();
    if total == 0 {
        return rows;
    }
    let mut level = 0.0f64;
    let mut cum = 0u64;
    for v in h.iter_recorded() {
        let count = v.count_at_value();
        if count == 0 {
            continue;
        }
        cum += count;
        let value = v.value_iterated_to();
        // Java's `hasNext()` allows another row only while counts remain beyond this one,
        // so the last value yields a single row before the final 100 % row.
        while (100.0 * cum as f64) / total as f64 >= level {
            rows.push((value, level, cum));
            let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as i64 + 1;
            let ticks =
                i64::from(ticks_per_half_distance).saturating_mul(1i64 << halvings.clamp(0, 62));
            level += 100.0 / ticks as f64;
            if cum >= total {
                break;
            }
        }
        if cum >= total {
            rows.push((value, 100.0, cum));
            break;
        }
    }
    rows
}

/// Renders `h` in the `.hgrm` format.
pub fn render(h: &Histogram<u64>) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for (value, level, count) in percentile_rows(h, TICKS_PER_HALF_DISTANCE) {
        let value = value as f64 / SCALING_RATIO;
        let q = level / 100.0;
        if level < 100.0 {
            let _ = writeln!(
                out,
                "{value:>12.digits$} {q:>2.12} {count:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:>12.digits$} {q:>2.12} {count:>10}");
        }
    }
    let mean = if h.is_empty() { 0.0 } else { h.mean() } / SCALING_RATIO;
    let stdev = if h.is_empty() { 0.0 } else { h.stdev() } / SCALING_RATIO;
    let _ = writeln!(
        out,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        h.max() as f64 / SCALING_RATIO,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    );
    out
}

/// One row of a parsed `.hgrm` table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// Value, in the file's unit (µs for fh's files).
    pub value: f64,
    /// Percentile as a fraction (0..=1).
    pub percentile: f64,
    /// Cumulative count up to this value.
    pub total_count: u64,
}

/// A parsed `.hgrm` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The table rows.
    pub rows: Vec<Row>,
    /// Footer mean (file unit).
    pub mean: f64,
    /// Footer max (file unit).
    pub max: f64,
    /// Footer total count.
    pub total_count: u64,
}

/// Parses `.hgrm` text; errors name the 1-based line. Checks that the cumulative counts never
/// decrease and that the last one equals the footer's total count.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut rows = Vec::new();
    let (mut mean, mut max, mut total) = (None, None, None);
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        let l = line.trim();
        if l.is_empty() || l.starts_with("Value") {
            continue;
        }
        if let Some(body) = l.strip_prefix("#[").and_then(|b| b.strip_suffix(']')) {
            for part in body.split(',') {
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| format!("line {ln}: bad footer field {part:?}"))?;
                let v = v.trim();
                let bad = |_| format!("line {ln}: bad number {v:?}");
                match k.trim() {
                    "Mean" => mean = Some(v.parse::<f64>().map_err(bad)?),
                    "Max" => max = Some(v.parse::<f64>().map_err(bad)?),
                    "Total count" => {
                        total = Some(
                            v.parse::<u64>()
                                .map_err(|_| format!("line {ln}: bad count {v:?}"))?,
                        )
                    }
                    _ => {}
                }
            }
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 && f.len() != 4 {
            return Err(format!(
                "line {ln}: expected 3 or 4 columns, got {}",
                f.len()
            ));
        }
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("line {ln}: bad number {s:?}"))
        };
        let row = Row {
            value: num(f[0])?,
            percentile: num(f[1])?,
            total_count: f[2]
                .parse()
                .map_err(|_| format!("line {ln}: bad count {:?}", f[2]))?,
        };
        if let Some(prev) = rows.last().map(|r: &Row| r.total_count) {
            if row.total_count < prev {
                return Err(format!("line {ln}: total count decreases"));
            }
        }
        rows.push(row);
    }
    let total_count = total.ok_or("no '#[Max = …, Total count = …]' footer")?;
    let last = rows.last().map_or(0, |r| r.total_count);
    if last != total_count {
        return Err(format!(
            "table ends at count {last}, footer says {total_count}"
        ));
    }
    Ok(Parsed {
        rows,
        mean: mean.ok_or("no '#[Mean = …]' footer")?,
        max: max.ok_or("no '#[Max = …]' footer")?,
        total_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::HistConfig;

    #[test]
    fn sub_buckets_match_hdrhistogram() {
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(1), 32);
    }

    #[test]
    fn renders_the_standard_layout_and_parses_back() {
        let mut h = HistConfig::default().histogram();
        for v in 1..=100_000u64 {
            h.record(v).unwrap();
        }
        let text = render(&h);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(
            lines.next(),
            Some("       0.001 0.000000000000          1           1.00")
        );
        assert!(text.contains("#[Max     =      100.031, Total count    =       100000]\n"));
        assert!(text.ends_with(&format!(
            "#[Buckets = {:>12}, SubBuckets     =         2048]\n",
            h.buckets()
        )));
        let p = parse(&text).unwrap();
        assert_eq!(p.total_count, 100_000);
        assert_eq!(p.rows.last().unwrap().total_count, 100_000);
        assert_eq!(p.rows.last().unwrap().percentile, 1.0);
        assert!((p.mean - 50.0).abs() < 0.1, "{}", p.mean);
        // The median row reads 50.0 µs within the 3-digit precision.
        let med = p.rows.iter().find(|r| r.percentile >= 0.5).unwrap();
        assert!((med.value - 50.0).abs() < 0.05, "{}", med.value);
    }

    #[test]
    fn parse_rejects_inconsistent_files() {
        let mut h = HistConfig::default().histogram();
        h.record(5).unwrap();
        let text = render(&h).replace("Total count    =            1", "Total count    =  2");
        assert!(parse(&text).unwrap_err().contains("footer says 2"));
        assert!(parse("       1.0 0.5 x\n")
            .unwrap_err()
            .starts_with("line 1:"));
        assert!(parse("").is_err());
    }
}
