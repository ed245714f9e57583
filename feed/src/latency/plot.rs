//! Percentile plots as hand-written SVG: latency against percentile on the usual
//! HdrHistogram axis (x = log10(1/(1−p)), ticks 0%, 90%, 99%, 99.9%, …), latency on a log
//! axis in ns/µs/ms/s, one `<path class="curve">` per series with a legend, and a title.
//!
//! The output is deterministic (fixed sampling, coordinates rounded to 0.1 px, no
//! timestamps), so identical histograms give byte-identical files. Names and the title are
//! XML-escaped.

use std::fmt::Write as _;

use super::Series;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Points sampled per curve.
const SAMPLES: usize = 400;
/// Curve colours, reused in order.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Escapes text for XML content and attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Label of percentile tick `k` (1/(1−p) = 10^k): `0%`, `90%`, `99%`, `99.9%`, ….
fn percentile_label(k: u32) -> String {
    match k {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        _ => format!("99.{}%", "9".repeat(k as usize - 2)),
    }
}

/// Label of latency decade `10^e` ns.
fn decade_label(e: i32) -> String {
    const UNITS: [&str; 4] = ["ns", "µs", "ms", "s"];
    let e = e.max(0) as usize;
    let unit = (e / 3).min(3);
    let mantissa = 10u64.pow((e - unit * 3) as u32);
    format!("{mantissa}{}", UNITS[unit])
}

/// Draws the percentile curves of `series` (empty histograms are skipped) under `title`.
pub fn render(title: &str, series: &[Series<'_>]) -> String {
    let series: Vec<&Series<'_>> = series.iter().filter(|s| !s.hist.is_empty()).collect();
    let max_count = series.iter().map(|s| s.hist.len()).max().unwrap_or(1);
    // Decades of percentile: as many as the largest count resolves, 2 (99%) to 7.
    let x_decades = ((max_count as f64).log10().ceil() as u32).clamp(2, 7);
    let lo = series
        .iter()
        .map(|s| s.hist.min().max(1))
        .min()
        .unwrap_or(1);
    let hi = series
        .iter()
        .map(|s| s.hist.max().max(1))
        .max()
        .unwrap_or(10);
    let y_lo = (lo as f64).log10().floor() as i32;
    let y_hi = ((hi as f64).log10().ceil() as i32).max(y_lo + 1);

    let pw = WIDTH - LEFT - RIGHT;
    let ph = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / f64::from(x_decades) * pw;
    let py = |ns: u64| {
        let l = (ns.max(1) as f64)
            .log10()
            .clamp(f64::from(y_lo), f64::from(y_hi));
        TOP + ph - (l - f64::from(y_lo)) / f64::from(y_hi - y_lo) * ph
    };

    let mut o = String::new();
    let _ = writeln!(
        o,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{:.1}" y="28" font-size="16" text-anchor="middle">{}</text>"##,
        LEFT + pw / 2.0,
        escape(title)
    );
    // Grid and ticks.
    let _ = writeln!(o, r##"<g class="grid" stroke="#dddddd" stroke-width="1">"##);
    for k in 0..=x_decades {
        let x = px(f64::from(k));
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP:.1}" x2="{x:.1}" y2="{:.1}"/>"##,
            TOP + ph
        );
    }
    for e in y_lo..=y_hi {
        let y = py(10u64.pow(e.max(0) as u32));
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"##,
            LEFT + pw
        );
    }
    let _ = writeln!(o, "</g>");
    let _ = writeln!(
        o,
        r##"<rect class="frame" x="{LEFT:.1}" y="{TOP:.1}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="black"/>"##
    );
    let _ = writeln!(o, r##"<g class="xticks" text-anchor="middle">"##);
    for k in 0..=x_decades {
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{:.1}">{}</text>"##,
            px(f64::from(k)),
            TOP + ph + 18.0,
            percentile_label(k)
        );
    }
    let _ = writeln!(o, "</g>");
    let _ = writeln!(o, r##"<g class="yticks" text-anchor="end">"##);
    for e in y_lo..=y_hi {
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{:.1}">{}</text>"##,
            LEFT - 6.0,
            py(10u64.pow(e.max(0) as u32)) + 4.0,
            decade_label(e)
        );
    }
    let _ = writeln!(o, "</g>");
    let _ = writeln!(
        o,
        r##"<text class="xlabel" x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"##,
        LEFT + pw / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        o,
        r##"<text class="ylabel" x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">latency (log scale)</text>"##,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );

    // Curves and legend.
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        let mut last = (f64::NAN, f64::NAN);
        for j in 0..SAMPLES {
            let x = f64::from(x_decades) * j as f64 / (SAMPLES - 1) as f64;
            let q = 1.0 - 10f64.powf(-x);
            let v = s.hist.value_at_quantile(q.clamp(0.0, 1.0));
            let p = ((px(x) * 10.0).round() / 10.0, (py(v) * 10.0).round() / 10.0);
            if p == last {
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if d.is_empty() { "M" } else { " L" },
                p.0,
                p.1
            );
            last = p;
        }
        let _ = writeln!(
            o,
            r##"<path class="curve" data-series="{}" d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
            escape(s.name)
        );
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + pw + 15.0;
        let _ = writeln!(
            o,
            r##"<g class="legend"><line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{} (n={})</text></g>"##,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(s.name),
            s.hist.len()
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::HistConfig;

    #[test]
    fn labels() {
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(1), "90%");
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(5), "99.999%");
        assert_eq!(decade_label(0), "1ns");
        assert_eq!(decade_label(2), "100ns");
        assert_eq!(decade_label(3), "1µs");
        assert_eq!(decade_label(7), "10ms");
        assert_eq!(decade_label(10), "10s");
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn empty_and_flat_inputs_still_draw_axes() {
        let svg = render("nothing", &[]);
        assert_eq!(svg.matches("class=\"curve\"").count(), 0);
        assert!(svg.contains(">99%<") && svg.ends_with("</svg>\n"));
        let mut flat = HistConfig::default().histogram();
        flat.record_n(500, 10).unwrap();
        let empty = HistConfig::default().histogram();
        let s = [
            Series {
                name: "flat",
                hist: &flat,
                over: 0,
            },
            Series {
                name: "empty",
                hist: &empty,
                over: 0,
            },
        ];
        let svg = render("flat", &s);
        assert_eq!(svg.matches("class=\"curve\"").count(), 1);
        assert!(svg.contains(">100ns<") && svg.contains(">1µs<"));
    }

    #[test]
    fn curves_rise_and_output_is_deterministic() {
        let mut a = HistConfig::default().histogram();
        for v in 1..=10_000u64 {
            a.record(v * 10).unwrap();
        }
        let s = [Series {
            name: "decode",
            hist: &a,
            over: 0,
        }];
        let svg = render("t", &s);
        assert_eq!(svg, render("t", &s));
        let d = svg
            .split(" d=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let ys: Vec<f64> = d
            .split(['M', 'L'])
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(ys.len() > 50);
        // Latency never decreases along the percentile axis: y (downwards) never increases.
        assert!(ys.windows(2).all(|w| w[1] <= w[0]), "{ys:?}");
        // 10 000 values: the axis runs to 99.99%.
        assert!(svg.contains(">99.99%<") && !svg.contains(">99.999%<"));
        assert!(svg.contains(">10ns<") && svg.contains(">100µs<"));
    }
}
