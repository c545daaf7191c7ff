//! Inline SVG charts and HTML escaping for the dashboard: drawn on the
//! server as plain markup, so the page needs no script and no asset from
//! anywhere. Every text that reaches markup goes through [`Esc`]: customer
//! names come from operators' files and CDRs.

use std::fmt::{self, Write as _};

/// Text escaped for HTML and SVG (element content and quoted attributes).
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// At most `n` characters of `s`, with `…` when cut; control characters
/// are dropped (they have no business in a label).
pub fn clip(s: &str, n: usize) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= n {
        return clean;
    }
    let mut out: String = clean.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Colour of bars below 80 % of the threshold.
pub const BAR: &str = "#2563eb";
/// Colour of bars from 80 % of the threshold.
pub const NEAR: &str = "#f59e0b";
/// Colour of bars that raised an alert.
pub const OVER: &str = "#dc2626";
/// Colour of "everything else" in a stack.
pub const OTHER: &str = "#cbd5e1";
/// Distinct colours for series (alert types, countries): Tableau 10 without its grey.
pub const PALETTE: [&str; 9] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];

/// A stable colour for a series name.
pub fn series_colour(name: &str) -> &'static str {
    match name {
        "ids_threshold" => OVER,
        "high_risk_destination" => "#7c3aed",
        "velocity_calls" => "#ea580c",
        "velocity_countries" => "#0891b2",
        "call_cost" => "#ca8a04",
        "night_spend" => "#4f46e5",
        _ => {
            let h = name.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
            PALETTE[h % PALETTE.len()]
        }
    }
}

/// One row of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Label on the left (clipped, escaped here).
    pub label: String,
    /// Tooltip (`<title>`).
    pub title: String,
    /// Stacked segments: colour and value (units).
    pub segments: Vec<(&'static str, i64)>,
    /// A vertical tick at this value (a threshold), if any.
    pub marker: Option<i64>,
    /// Text on the right.
    pub text: String,
}

/// Width of a chart across a whole card, in its coordinate system (about
/// its width on screen, so 12 px text stays about 12 px).
pub const WIDE: u32 = 1240;
/// Width of a chart in half a card.
pub const NARROW: u32 = 600;
/// Height of one bar row.
const ROW: u32 = 24;

/// Horizontal bars `width` wide ([`WIDE`], [`NARROW`]), all on one scale
/// (the largest value or marker).
pub fn hbars(bars: &[Bar], width: u32) -> String {
    let (label_w, text_w) = if width >= WIDE { (260u32, 190u32) } else { (170, 110) };
    let area = width - label_w - text_w - 10;
    let max = bars
        .iter()
        .map(|b| b.segments.iter().map(|s| s.1.max(0)).sum::<i64>().max(b.marker.unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |v: i64| label_w as f64 + area as f64 * (v.max(0) as f64 / max as f64);
    let height = ROW * bars.len() as u32 + 4;
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img">"#);
    for (i, b) in bars.iter().enumerate() {
        let y = i as u32 * ROW + 2;
        let _ = write!(s, r#"<g><title>{}</title>"#, Esc(&b.title));
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" class="lbl" text-anchor="end">{}</text>"##,
            label_w - 8,
            y + 16,
            Esc(&clip(&b.label, if width >= WIDE { 36 } else { 24 }))
        );
        let _ = write!(
            s,
            r##"<rect x="{label_w}" y="{}" width="{area}" height="{}" fill="#f1f5f9" rx="3"/>"##,
            y + 3,
            ROW - 8
        );
        let mut at = 0i64;
        for &(colour, v) in &b.segments {
            let (x0, x1) = (x(at), x(at + v.max(0)));
            if x1 - x0 >= 0.5 {
                let _ = write!(
                    s,
                    r#"<rect x="{x0:.1}" y="{}" width="{:.1}" height="{}" fill="{colour}" rx="2"/>"#,
                    y + 3,
                    x1 - x0,
                    ROW - 8
                );
            }
            at += v.max(0);
        }
        if let Some(m) = b.marker {
            let _ = write!(
                s,
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="#111827" stroke-width="2"/>"##,
                x(m),
                y,
                y + ROW - 2
            );
        }
        let _ = write!(s, r#"<text x="{}" y="{}" class="val">{}</text></g>"#, width - text_w, y + 16, Esc(&b.text));
    }
    s.push_str("</svg>");
    s
}

/// Stacked columns: one per slot (hour), each a list of (colour, count);
/// `labels` are written under every `label_every`-th slot.
pub fn columns(slots: &[Vec<(&'static str, u64)>], labels: &[String], label_every: usize, width: u32) -> String {
    let (left, bottom, height) = (34u32, 22u32, 170u32);
    let plot_h = height - bottom - 8;
    let n = slots.len().max(1) as u32;
    let slot_w = (width - left) as f64 / f64::from(n);
    let max = slots.iter().map(|c| c.iter().map(|s| s.1).sum::<u64>()).max().unwrap_or(0).max(1);
    // A round top for the axis: 1, 2, 5, 10, 20, 50, ...
    let top = [1u64, 2, 5]
        .iter()
        .flat_map(|m| (0..12).map(move |e| m * 10u64.pow(e)))
        .filter(|t| *t >= max)
        .min()
        .unwrap_or(max);
    let y = |v: u64| 8.0 + f64::from(plot_h) * (1.0 - v as f64 / top as f64);
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img">"#);
    for t in [0, top / 2, top] {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{width}" y1="{0:.1}" y2="{0:.1}" stroke="#e2e8f0"/><text x="{1}" y="{2:.1}" class="axis" text-anchor="end">{t}</text>"##,
            y(t),
            left - 6,
            y(t) + 4.0
        );
    }
    for (i, slot) in slots.iter().enumerate() {
        let x0 = f64::from(left) + slot_w * i as f64 + 1.5;
        let mut acc = 0u64;
        for &(colour, count) in slot {
            if count == 0 {
                continue;
            }
            let _ = write!(
                s,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{count}</title></rect>"#,
                y(acc + count),
                (slot_w - 3.0).max(1.0),
                y(acc) - y(acc + count)
            );
            acc += count;
        }
        if i % label_every.max(1) == 0 {
            if let Some(l) = labels.get(i) {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{}" class="axis" text-anchor="middle">{}</text>"#,
                    x0 + slot_w / 2.0,
                    height - 6,
                    Esc(l)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        let evil = r#"<script>alert("x")</script> & 'y'"#;
        assert_eq!(Esc(evil).to_string(), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
        assert_eq!(Esc("Zürich ☎").to_string(), "Zürich ☎");
    }

    #[test]
    fn labels_are_clipped_and_escaped_in_charts() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("a\u{1b}b", 4), "ab");
        let svg = hbars(
            &[Bar {
                label: "<b>Evil & Co</b>".into(),
                title: "\"t\"".into(),
                segments: vec![(BAR, 50)],
                marker: Some(100),
                text: "50 / 100".into(),
            }],
            NARROW,
        );
        assert!(svg.contains("&lt;b&gt;Evil &amp; Co&lt;/b&gt;") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains(BAR) && svg.contains("&quot;t&quot;"));
    }
}
