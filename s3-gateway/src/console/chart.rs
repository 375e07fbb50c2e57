//! Line charts as inline SVG, drawn on the server: the pages need no
//! script to show them, and they scale to any screen width.

use std::fmt::Write;

use super::render::escape;

/// Width and height of the drawing (the SVG scales to its box).
const W: f64 = 600.0;
const H: f64 = 150.0;
/// Room for the value labels on the left and the time labels below.
const LEFT: f64 = 52.0;
const BOTTOM: f64 = 18.0;

/// One series: a name, its colour (CSS) and values at unix seconds.
pub struct Series<'a> {
    /// Shown in the legend.
    pub name: &'a str,
    /// CSS colour.
    pub colour: &'a str,
    /// (unix seconds, value), oldest first.
    pub values: Vec<(u64, f64)>,
}

/// A chart of `series` over the hour ending at `now`, values formatted
/// with `unit` (e.g. `"/s"`, `" ms"`, `"B/s"`).
pub fn svg(title: &str, unit: &str, now: u64, series: &[Series<'_>]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().map(|(_, v)| *v))
        .fold(0.0_f64, f64::max);
    let top = nice_ceiling(max);
    let start = now.saturating_sub(3600);
    let x = |t: u64| LEFT + (t.saturating_sub(start) as f64 / 3600.0) * (W - LEFT);
    let y = |v: f64| (H - BOTTOM) - (v / top) * (H - BOTTOM - 6.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<figure class="chart"><figcaption>{}</figcaption><svg viewBox="0 0 {W} {H}" role="img" aria-label="{}" preserveAspectRatio="none">"#,
        escape(title),
        escape(title)
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = top * frac;
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" x2="{W}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{lx}" y="{ty:.1}" class="label" text-anchor="end">{}</text>"#,
            escape(&format_value(v, unit)),
            y = y(v),
            lx = LEFT - 4.0,
            ty = y(v) + 4.0,
        );
    }
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="{H}" class="label">−60 min</text><text x="{W}" y="{H}" class="label" text-anchor="end">now</text>"#
    );
    for s in series {
        let points: Vec<String> = s
            .values
            .iter()
            .filter(|(t, _)| *t >= start)
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        if !points.is_empty() {
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.5" vector-effect="non-scaling-stroke" points="{}"/>"#,
                escape(s.colour),
                points.join(" ")
            );
        }
    }
    out.push_str("</svg><div class=\"legend\">");
    for s in series {
        let last = s.values.last().map_or(0.0, |(_, v)| *v);
        let _ = write!(
            out,
            r#"<span><i style="background:{}"></i>{} <b>{}</b></span>"#,
            escape(s.colour),
            escape(s.name),
            escape(&format_value(last, unit))
        );
    }
    out.push_str("</div></figure>");
    out
}

/// A round number at or above `v` (1, 2 or 5 times a power of ten).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

/// `v` with `unit`, bytes in binary multiples.
pub fn format_value(v: f64, unit: &str) -> String {
    if let Some(per) = unit.strip_prefix('B') {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = v;
        let mut i = 0;
        while v >= 1024.0 && i + 1 < units.len() {
            v /= 1024.0;
            i += 1;
        }
        let precision = if v < 10.0 && i > 0 { 1 } else { 0 };
        return format!("{v:.precision$} {}{}", units[i], per);
    }
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}{unit}")
    } else {
        format!("{v:.1}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round_and_units_readable() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(format_value(1536.0, "B/s"), "1.5 KiB/s");
        assert_eq!(format_value(12.0, "/s"), "12/s");
        assert_eq!(format_value(2.25, " ms"), "2.2 ms");
    }

    #[test]
    fn a_chart_has_a_line_per_series_and_escapes_names() {
        let svg = svg(
            "Requests <all>",
            "/s",
            5000,
            &[Series {
                name: "GET",
                colour: "#36c",
                values: vec![(1000, 1.0), (3000, 4.0), (5000, 2.0)],
            }],
        );
        assert!(svg.contains("Requests &lt;all&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        // Points before the hour are left out (t=1000 < 5000-3600).
        assert_eq!(svg.matches(',').count(), 2, "{svg}");
    }
}
