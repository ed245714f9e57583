//! The latency table printed at the end of every run and by `fh report`: one row per stage with
//! count, min, p50, p90, p99, p99.9, p99.99, max, mean and the over-bound count.
//!
//! Each latency cell carries its own unit (`ns`, `µs`, `ms`, `s`), chosen so that the number
//! shows three significant digits (the histograms' precision): `840ns`, `1.23µs`, `45.6µs`,
//! `2.10ms`. Percentiles are hdrhistogram's `value_at_quantile` (the highest value equivalent
//! to the quantile's bucket, as every HdrHistogram implementation reports).

use std::fmt::Write as _;

use super::Series;

/// The quantiles of the table, in column order, with their headers.
pub const QUANTILES: [(f64, &str); 6] = [
    (0.50, "p50"),
    (0.90, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
    (0.9999, "p99.99"),
    (0.99999, "p99.999"),
];

/// The numbers of one table row, in ns.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Stage (series) name.
    pub name: String,
    /// Values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// p50, p90, p99, p99.9, p99.99, p99.999 (see [`QUANTILES`]).
    pub quantiles: [u64; QUANTILES.len()],
    /// Largest value.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Values above the histogram's bound (recorded as the bound).
    pub over: u64,
}

impl Summary {
    /// Summarises one series.
    pub fn of(s: &Series<'_>) -> Summary {
        let h = s.hist;
        Summary {
            name: s.name.to_string(),
            count: h.len(),
            min: h.min(),
            quantiles: QUANTILES.map(|(q, _)| h.value_at_quantile(q)),
            max: h.max(),
            mean: h.mean(),
            over: s.over,
        }
    }

    /// The value at quantile column `i` of [`QUANTILES`].
    pub fn quantile(&self, q: f64) -> Option<u64> {
        QUANTILES
            .iter()
            .position(|&(x, _)| x == q)
            .map(|i| self.quantiles[i])
    }
}

/// Formats `ns` with three significant digits and a unit: `0ns`, `840ns`, `1.23µs`, `45.6µs`,
/// `123µs`, `2.10ms`, `1.50s`.
pub fn format_ns(ns: f64) -> String {
    if !ns.is_finite() || ns < 0.0 {
        return "-".to_string();
    }
    if ns < 999.5 {
        return format!("{}ns", ns.round() as u64);
    }
    let (v, unit) = if ns < 999_500.0 {
        (ns / 1e3, "µs")
    } else if ns < 999_500_000.0 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v < 9.995 {
        format!("{v:.2}{unit}")
    } else if v < 99.95 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// As JSON: `name`, `count`, `min`, `p50` … `p99999` (ns), `max`, `mean`, `over`.
impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(6 + QUANTILES.len()))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("count", &self.count)?;
        m.serialize_entry("min", &self.min)?;
        for ((_, label), v) in QUANTILES.iter().zip(self.quantiles) {
            m.serialize_entry(&label.replace('.', ""), &v)?;
        }
        m.serialize_entry("max", &self.max)?;
        m.serialize_entry("mean", &self.mean)?;
        m.serialize_entry("over", &self.over)?;
        m.end()
    }
}

/// Renders the table of `rows` (already summarised), aligned, with a header line. Only the
/// quantiles a row's count can resolve are shown (p99.99 needs ≥ 10 000 values, …); others
/// print `-`. The p99.999 column is printed only if some row has ≥ 100 000 values.
pub fn render(rows: &[Summary]) -> String {
    let name_w = rows
        .iter()
        .map(|r| r.name.chars().count())
        .chain(["stage".len()])
        .max()
        .unwrap_or(5);
    let show_5nines = rows.iter().any(|r| r.count >= 100_000);
    let nq = if show_5nines {
        QUANTILES.len()
    } else {
        QUANTILES.len() - 1
    };
    let cw = 9;
    let mut out = String::new();
    let _ = write!(out, "{:<name_w$} {:>11} {:>cw$}", "stage", "count", "min");
    for (_, h) in &QUANTILES[..nq] {
        let _ = write!(out, " {h:>cw$}");
    }
    let _ = writeln!(out, " {:>cw$} {:>cw$} {:>9}", "max", "mean", ">bound");
    for r in rows {
        let _ = write!(
            out,
            "{:<name_w$} {:>11} {:>cw$}",
            r.name,
            r.count,
            format_ns(r.min as f64)
        );
        for (i, (q, _)) in QUANTILES[..nq].iter().enumerate() {
            // A quantile q is resolved when at least one value lies above it: count > 1/(1-q).
            let resolvable = (r.count as f64) * (1.0 - q) >= 1.0 - 1e-9;
            let cell = if resolvable {
                format_ns(r.quantiles[i] as f64)
            } else {
                "-".to_string()
            };
            let _ = write!(out, " {cell:>cw$}");
        }
        let _ = writeln!(
            out,
            " {:>cw$} {:>cw$} {:>9}",
            format_ns(r.max as f64),
            format_ns(r.mean),
            r.over
        );
    }
    out
}

/// Summarises and renders `series`.
pub fn render_series(series: &[Series<'_>]) -> String {
    let rows: Vec<Summary> = series.iter().map(Summary::of).collect();
    render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::{HistConfig, Series};

    #[test]
    fn units_keep_three_significant_digits() {
        assert_eq!(format_ns(0.0), "0ns");
        assert_eq!(format_ns(840.0), "840ns");
        assert_eq!(format_ns(999.4), "999ns");
        assert_eq!(format_ns(999.6), "1.00µs");
        assert_eq!(format_ns(1_234.0), "1.23µs");
        assert_eq!(format_ns(45_600.0), "45.6µs");
        assert_eq!(format_ns(123_456.0), "123µs");
        assert_eq!(format_ns(2_100_000.0), "2.10ms");
        assert_eq!(format_ns(1.5e9), "1.50s");
        assert_eq!(format_ns(f64::NAN), "-");
    }

    #[test]
    fn table_is_aligned_and_hides_unresolvable_quantiles() {
        let cfg = HistConfig::default();
        let mut small = cfg.histogram();
        for v in 1..=100u64 {
            small.record(v * 10).unwrap();
        }
        let mut big = cfg.histogram();
        for v in 1..=20_000u64 {
            big.record(v).unwrap();
        }
        let series = [
            Series {
                name: "decode",
                hist: &small,
                over: 0,
            },
            Series {
                name: "end_to_end",
                hist: &big,
                over: 3,
            },
        ];
        let t = render_series(&series);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{t}");
        assert!(lines[0].contains("p99.99") && !lines[0].contains("p99.999"));
        // 100 values: p99 resolvable, p99.9 not.
        let dec: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(dec[0], "decode");
        assert_eq!(dec[1], "100");
        assert_eq!(dec[2], "10ns");
        assert_eq!(dec[3], "500ns");
        assert_eq!(dec[5], "990ns");
        assert_eq!(dec[6], "-");
        assert_eq!(dec[7], "-");
        assert_eq!(dec[8], "1.00µs");
        assert_eq!(dec[10], "0");
        let e2e: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(e2e[6], "20.0µs"); // p99.9 of 1..=20000 = 19980, 3 digits
        assert_eq!(e2e[10], "3");
    }
}
