//! The dashboard page (SPEC §15): one server-rendered HTML document with
//! inline CSS and SVG, refreshed by the browser itself (`<meta refresh>`),
//! so it works without JavaScript and without anything from the internet.
//! Every value from outside (names, ids, alert fields) is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::alerts::Tail;
use super::live::{Live, TariffState};
use super::svg::{self, clip, Bar, Esc};
use super::view::{AbroadRow, DayRow, DayView};

/// Rows of the spend chart and table.
const TOP_SPEND: usize = 15;
/// Rows of each "calls abroad" chart.
const TOP_ABROAD: usize = 10;
/// Alerts listed under the chart.
const ALERT_ROWS: usize = 25;

/// Everything one rendering of the page shows.
pub struct PageData<'a> {
    /// Unix seconds of the rendering.
    pub now: i64,
    /// Zone of the times shown and of "today".
    pub zone: &'a jiff::tz::TimeZone,
    /// Today (day number) in that zone.
    pub today: i64,
    /// Seconds between the browser's reloads.
    pub refresh: u32,
    /// Decimal places of money.
    pub decimals: u32,
    /// Whether IDS is on.
    pub ids_enabled: bool,
    /// Today's view of the IDS state; `Err`: why it is unavailable.
    pub view: Result<&'a DayView, String>,
    /// Alerts of the last 24 hours; `Err`: why the log cannot be read.
    pub alerts: Result<Tail, String>,
    /// Intake figures.
    pub live: &'a Live,
    /// Tables in force.
    pub tariff: &'a TariffState,
}

/// A time as `YYYY-MM-DD HH:MM:SS` in `zone`.
pub fn local(t: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| zone.to_datetime(ts).strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| "-".into())
}

/// Money as exact text without zeros past the cents (`12.5000` is `12.50`).
pub fn money(units: i64, decimals: u32) -> String {
    trim_amount(&crate::money::format_units(i128::from(units), decimals)).to_string()
}

const STYLE: &str = r#"
*{box-sizing:border-box}body{margin:0;background:#f1f5f9;color:#0f172a;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header{background:#0f172a;color:#f8fafc;padding:14px 28px;display:flex;flex-wrap:wrap;gap:8px 28px;align-items:baseline}
header h1{font-size:18px;margin:0;font-weight:650;letter-spacing:.2px}header span{color:#cbd5e1;font-size:13px}
main{max-width:1320px;margin:0 auto;padding:20px 28px 28px;display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:18px}
.kpis{grid-column:1/-1;display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:14px}
.kpi,.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
.kpi{padding:12px 16px}.kpi b{display:block;font-size:24px;font-weight:650}.kpi small{color:#64748b;text-transform:uppercase;letter-spacing:.5px;font-size:11px}
.kpi.bad b{color:#dc2626}.kpi.warn b{color:#d97706}
.card{padding:16px 18px;min-width:0}.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 2px;font-weight:650}.sub{color:#64748b;font-size:12px;margin:0 0 10px}
.chart{width:100%;height:auto;display:block}.chart .lbl{font-size:12px;fill:#334155}.chart .val{font-size:12px;fill:#0f172a;font-variant-numeric:tabular-nums}.chart .axis{font-size:10px;fill:#64748b}
table{width:100%;border-collapse:collapse;margin-top:10px;font-size:12.5px}th{text-align:left;color:#64748b;font-weight:600;border-bottom:1px solid #e2e8f0;padding:5px 6px}
td{padding:5px 6px;border-bottom:1px solid #f1f5f9;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.id{color:#64748b;font-size:11px}.tag{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:11px;white-space:nowrap}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#475569;margin:6px 0 0}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.two{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:18px}.muted{color:#64748b}.err{color:#b91c1c}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f5f9;padding:1px 5px;border-radius:4px}
footer{grid-column:1/-1;color:#64748b;font-size:12px;text-align:center}
@media (max-width:900px){main,.two{grid-template-columns:1fr}.kpis{grid-template-columns:repeat(2,1fr)}}
"#;

/// The whole page.
pub fn render(d: &PageData<'_>) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let day = crate::timefmt::format_day(d.today);
    let zone = d.zone.iana_name().unwrap_or("UTC");
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{}"><meta name="viewport" content="width=device-width,initial-scale=1"><title>cdr-rater · operator's view</title><style>{STYLE}</style></head><body>"#,
        d.refresh
    );
    let _ = write!(
        h,
        r#"<header><h1>cdr-rater · operator's view</h1><span>today {} ({})</span><span>as of {}</span><span>refreshes every {} s</span></header><main>"#,
        Esc(&day),
        Esc(zone),
        Esc(&local(d.now, d.zone)),
        d.refresh
    );
    kpis(&mut h, d);
    spend(&mut h, d);
    alerts(&mut h, d);
    abroad(&mut h, d);
    intake(&mut h, d);
    tariff(&mut h, d);
    let _ = write!(
        h,
        r#"<footer>cdr-rater {} · intake figures since the daemon started ({}) · IDS state read {} · JSON: <code>/api/ids?day=</code> <code>/api/alerts?since=</code> <code>/healthz</code> <code>/metrics</code></footer></main></body></html>"#,
        Esc(env!("CARGO_PKG_VERSION")),
        Esc(&local(d.live.started_at, d.zone)),
        Esc(&d.view.as_ref().map_or_else(|_| "-".into(), |v| local(v.read_at, d.zone)))
    );
    h
}

fn kpi(h: &mut String, class: &str, value: &str, what: &str) {
    let _ = write!(h, r#"<div class="kpi {class}"><small>{}</small><b>{}</b></div>"#, Esc(what), Esc(value));
}

fn kpis(h: &mut String, d: &PageData<'_>) {
    h.push_str(r#"<section class="kpis">"#);
    let rows: &[DayRow] = d.view.as_ref().map_or(&[], |v| &v.rows);
    let over = rows.iter().filter(|r| r.level > 0).count();
    let active = rows.iter().filter(|r| r.calls > 0).count();
    let mut spend: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows {
        *spend.entry(r.currency.as_str()).or_default() += r.spend;
    }
    let spend: Vec<String> = spend.iter().map(|(c, u)| format!("{} {c}", money(*u, d.decimals))).collect();
    let alerts = d.alerts.as_ref().map_or(0, |t| t.alerts.len());
    let backlog: usize = d.live.sources.iter().map(|s| s.backlog.load(Ordering::Relaxed)).sum();
    let stuck: usize = d.live.sources.iter().map(|s| s.stuck.load(Ordering::Relaxed)).sum();
    kpi(h, if over > 0 { "bad" } else { "" }, &over.to_string(), "over threshold today");
    kpi(h, "", &active.to_string(), "customers calling today");
    kpi(h, "", &if spend.is_empty() { "0".into() } else { spend.join(" · ") }, "spend today");
    kpi(h, if alerts > 0 { "warn" } else { "" }, &alerts.to_string(), "alerts, last 24 h");
    let q = if stuck > 0 { format!("{backlog} ({stuck} stuck)") } else { backlog.to_string() };
    kpi(h, if stuck > 0 { "bad" } else { "" }, &q, "files in backlog");
    h.push_str("</section>");
}

fn spend(h: &mut String, d: &PageData<'_>) {
    h.push_str(r#"<section class="card wide"><h2>Today's customers by spend against their threshold</h2>"#);
    h.push_str(r#"<p class="sub">Threshold = baseline (mean day) + IDS range; an alert fires above it. Top customers by spend today.</p>"#);
    let rows = match &d.view {
        Err(e) => {
            let _ = write!(h, r#"<p class="err">{}</p></section>"#, Esc(e));
            return;
        }
        Ok(v) => &v.rows,
    };
    let top: Vec<&DayRow> = rows.iter().filter(|r| r.spend > 0).take(TOP_SPEND).collect();
    if top.is_empty() {
        let why = if d.ids_enabled { "No spend recorded today yet." } else { "IDS is off ([ids] enabled = false)." };
        let _ = write!(h, r#"<p class="muted">{why}</p></section>"#);
        return;
    }
    let bars: Vec<Bar> = top
        .iter()
        .map(|r| {
            let colour = if r.level > 0 {
                svg::OVER
            } else if r.threshold > 0 && r.spend * 5 >= r.threshold * 4 {
                svg::NEAR
            } else {
                svg::BAR
            };
            Bar {
                label: r.name.clone(),
                title: format!(
                    "{} ({}): spend {} {c}, baseline {}, threshold {}, level {}, {} calls",
                    r.name,
                    r.id,
                    money(r.spend, d.decimals),
                    money(r.baseline, d.decimals),
                    money(r.threshold, d.decimals),
                    r.level,
                    r.calls,
                    c = r.currency
                ),
                segments: vec![(colour, r.spend)],
                marker: (r.range > 0 || r.baseline > 0).then_some(r.threshold),
                text: format!("{} / {} {}", money(r.spend, d.decimals), money(r.threshold, d.decimals), r.currency),
            }
        })
        .collect();
    h.push_str(&svg::hbars(&bars, svg::WIDE));
    let _ = write!(
        h,
        r#"<div class="legend"><span><i style="background:{}"></i>below 80 % of threshold</span><span><i style="background:{}"></i>80 % or more</span><span><i style="background:{}"></i>alert raised</span><span><i style="background:#111827;width:3px"></i>threshold</span></div>"#,
        svg::BAR,
        svg::NEAR,
        svg::OVER
    );
    h.push_str(r#"<table><tr><th>customer</th><th class="n">spend</th><th class="n">baseline</th><th class="n">threshold</th><th class="n">level</th><th class="n">calls</th><th class="n">abroad</th><th>top countries</th><th class="n">month so far</th></tr>"#);
    for r in &top {
        let countries: Vec<String> =
            r.top_countries.iter().map(|(c, u)| format!("{c} {}", money(*u, d.decimals))).collect();
        let _ = write!(
            h,
            r#"<tr><td>{} <span class="id">{}</span>{}</td><td class="n">{} {}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td class="n">{}</td></tr>"#,
            Esc(&r.name),
            Esc(&r.id),
            if r.warm_up { r#" <span class="id">(warm-up)</span>"# } else { "" },
            Esc(&money(r.spend, d.decimals)),
            Esc(&r.currency),
            Esc(&money(r.baseline, d.decimals)),
            Esc(&money(r.threshold, d.decimals)),
            r.level,
            r.calls,
            Esc(&money(r.abroad, d.decimals)),
            Esc(&countries.join(" · ")),
            Esc(&r.month.map_or_else(|| "-".into(), |m| money(m, d.decimals)))
        );
    }
    h.push_str("</table></section>");
}

/// A logged decimal amount without zeros past the cents (`12.5000`: `12.50`).
fn trim_amount(s: &str) -> &str {
    match s.find('.') {
        Some(dot) => {
            let keep = s.trim_end_matches('0').len().max(dot + 3).min(s.len());
            &s[..keep]
        }
        None => s,
    }
}

/// A text field of an alert ("" when absent or not text).
fn text<'r>(r: &'r serde_json::Map<String, serde_json::Value>, key: &str) -> &'r str {
    r.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

/// What an alert says beyond its type and customer, as one line.
fn alert_detail(r: &serde_json::Map<String, serde_json::Value>) -> String {
    if let Some(level) = r.get("level").and_then(|v| v.as_u64()) {
        let crossed =
            if text(r, "level_threshold").is_empty() { text(r, "threshold") } else { text(r, "level_threshold") };
        return format!(
            "level {level}: spend {} above {} {}",
            trim_amount(text(r, "spend")),
            trim_amount(crossed),
            text(r, "currency")
        );
    }
    match r.get("rule") {
        Some(serde_json::Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(v) => v.as_str().map_or_else(|| v.to_string(), str::to_string),
        None => String::new(),
    }
}

fn alerts(h: &mut String, d: &PageData<'_>) {
    h.push_str(r#"<section class="card wide"><h2>Alerts of the last 24 hours</h2>"#);
    let tail = match &d.alerts {
        Err(e) => {
            let _ = write!(h, r#"<p class="err">{}</p></section>"#, Esc(e));
            return;
        }
        Ok(t) => t,
    };
    let _ = write!(
        h,
        r#"<p class="sub">Every alert type in the alert log, per hour ({}){}.</p>"#,
        Esc(d.zone.iana_name().unwrap_or("UTC")),
        if tail.truncated { "; only the newest are counted" } else { "" }
    );
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    let start = d.now - 23 * 3600 - d.now.rem_euclid(3600);
    let mut slots: Vec<BTreeMap<&str, u64>> = vec![BTreeMap::new(); 24];
    for a in &tail.alerts {
        *by_type.entry(a.kind.as_str()).or_default() += 1;
        let slot = usize::try_from((a.emitted_at - start).div_euclid(3600)).unwrap_or(0).min(23);
        *slots[slot].entry(a.kind.as_str()).or_default() += 1;
    }
    let columns: Vec<Vec<(&'static str, u64)>> =
        slots.iter().map(|s| s.iter().map(|(k, n)| (svg::series_colour(k), *n)).collect()).collect();
    let labels: Vec<String> = (0..24)
        .map(|i| {
            jiff::Timestamp::from_second(start + i * 3600)
                .map(|t| d.zone.to_datetime(t).strftime("%H:00").to_string())
                .unwrap_or_default()
        })
        .collect();
    h.push_str(&svg::columns(&columns, &labels, 3, svg::WIDE));
    h.push_str(r#"<div class="legend">"#);
    if by_type.is_empty() {
        h.push_str(r#"<span class="muted">no alerts in the last 24 hours</span>"#);
    }
    for (k, n) in &by_type {
        let _ = write!(h, r#"<span><i style="background:{}"></i>{} ({n})</span>"#, svg::series_colour(k), Esc(k));
    }
    h.push_str("</div>");
    if !tail.alerts.is_empty() {
        h.push_str(r#"<table><tr><th>emitted</th><th>type</th><th>customer</th><th>day</th><th>what</th><th>trigger call</th></tr>"#);
        for a in tail.alerts.iter().rev().take(ALERT_ROWS) {
            let r = a.record();
            let _ = write!(
                h,
                r#"<tr><td class="n">{}</td><td><span class="tag" style="background:{}">{}</span></td><td>{} <span class="id">{}</span></td><td>{}</td><td>{}</td><td class="id">{}</td></tr>"#,
                Esc(&local(a.emitted_at, d.zone)),
                svg::series_colour(&a.kind),
                Esc(&a.kind),
                Esc(&clip(text(&r, "customer_name"), 60)),
                Esc(text(&r, "customer_id")),
                Esc(text(&r, "day")),
                Esc(&clip(&alert_detail(&r), 140)),
                Esc(&clip(text(&r, "trigger_call_id"), 40))
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

/// A colour per country of the "calls abroad" charts: the countries with
/// the most spend get the distinct colours, the rest share [`svg::OTHER`].
fn country_colours(lists: [&[AbroadRow]; 2]) -> BTreeMap<String, &'static str> {
    let mut total: BTreeMap<&str, i64> = BTreeMap::new();
    for rows in lists {
        for r in rows.iter().take(TOP_ABROAD) {
            for (c, u) in r.countries.iter().take(3) {
                *total.entry(c).or_default() += u;
            }
        }
    }
    let mut ranked: Vec<(&str, i64)> = total.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.iter().zip(svg::PALETTE).map(|((c, _), colour)| (c.to_string(), colour)).collect()
}

/// One "calls abroad" chart with its legend and table.
fn abroad_block(
    h: &mut String,
    title: &str,
    rows: &[AbroadRow],
    decimals: u32,
    colours: &BTreeMap<String, &'static str>,
) {
    let colour = |c: &str| colours.get(c).copied().unwrap_or(svg::OTHER);
    let _ = write!(h, r#"<div><h2>{}</h2>"#, Esc(title));
    if rows.is_empty() {
        h.push_str(r#"<p class="muted">No calls abroad.</p></div>"#);
        return;
    }
    let mut legend: BTreeMap<&str, &'static str> = BTreeMap::new();
    let bars: Vec<Bar> = rows
        .iter()
        .take(TOP_ABROAD)
        .map(|r| {
            let mut segments: Vec<(&'static str, i64)> = Vec::new();
            let mut rest = 0;
            for (c, u) in r.countries.iter().take(3) {
                if colours.contains_key(c) {
                    legend.insert(c, colour(c));
                    segments.push((colour(c), *u));
                } else {
                    rest += u;
                }
            }
            rest += r.countries.iter().skip(3).map(|c| c.1).sum::<i64>();
            if rest > 0 {
                segments.push((svg::OTHER, rest));
            }
            let top: Vec<String> =
                r.countries.iter().take(3).map(|(c, u)| format!("{c} {}", money(*u, decimals))).collect();
            Bar {
                label: r.name.clone(),
                title: format!("{} ({}): {}", r.name, r.id, top.join(", ")),
                segments,
                marker: None,
                text: format!("{} {}", money(r.total, decimals), r.currency),
            }
        })
        .collect();
    h.push_str(&svg::hbars(&bars, svg::NARROW));
    h.push_str(r#"<div class="legend">"#);
    for (c, colour) in &legend {
        let _ = write!(h, r#"<span><i style="background:{colour}"></i>{}</span>"#, Esc(c));
    }
    let _ = write!(h, r#"<span><i style="background:{}"></i>other</span></div>"#, svg::OTHER);
    h.push_str(r#"<table><tr><th>customer</th><th class="n">abroad</th><th>top countries</th></tr>"#);
    for r in rows.iter().take(TOP_ABROAD) {
        let top: Vec<String> =
            r.countries.iter().take(3).map(|(c, u)| format!("{c} {}", money(*u, decimals))).collect();
        let _ = write!(
            h,
            r#"<tr><td>{} <span class="id">{}</span></td><td class="n">{} {}</td><td>{}</td></tr>"#,
            Esc(&r.name),
            Esc(&r.id),
            Esc(&money(r.total, decimals)),
            Esc(&r.currency),
            Esc(&top.join(" · "))
        );
    }
    h.push_str("</table></div>");
}

fn abroad(h: &mut String, d: &PageData<'_>) {
    h.push_str(r#"<section class="card wide"><h2>Who calls abroad most</h2>"#);
    let v = match &d.view {
        Err(e) => {
            let _ = write!(h, r#"<p class="err">{}</p></section>"#, Esc(e));
            return;
        }
        Ok(v) => v,
    };
    let _ = write!(
        h,
        r#"<p class="sub">Sell of calls to any country but home, per customer day as the IDS state keeps it; this month counts from {}.</p><div class="two">"#,
        Esc(&crate::timefmt::format_day(v.month_from))
    );
    let colours = country_colours([&v.abroad_day, &v.abroad_month]);
    abroad_block(h, "Today", &v.abroad_day, d.decimals, &colours);
    abroad_block(h, "This month", &v.abroad_month, d.decimals, &colours);
    h.push_str("</div></section>");
}

fn intake(h: &mut String, d: &PageData<'_>) {
    h.push_str(r#"<section class="card wide"><h2>Intake per source</h2><p class="sub">Files and rows since the daemon started; errors: tries that failed for a reason outside the file (disk full, state store), retried. Backlog and stuck files (waiting to be retried) now.</p>"#);
    h.push_str(r#"<table><tr><th>source</th><th class="n">files rated</th><th class="n">duplicates</th><th class="n">failed</th><th class="n">errors</th><th class="n">rows rated</th><th class="n">unrated</th><th class="n">rejected</th><th class="n">backlog</th><th class="n">stuck</th><th>last file</th></tr>"#);
    for s in &d.live.sources {
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let last = s.last_file_at.load(Ordering::Relaxed);
        let stuck = s.stuck.load(Ordering::Relaxed);
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n{}">{}</td><td class="n">{}</td></tr>"#,
            Esc(&s.label),
            n(&s.files_rated),
            n(&s.files_duplicate),
            n(&s.files_failed),
            n(&s.file_errors),
            n(&s.rows_rated),
            n(&s.rows_unrated),
            n(&s.rows_rejected),
            s.backlog.load(Ordering::Relaxed),
            if stuck > 0 { " err" } else { "" },
            stuck,
            Esc(&if last == 0 { "-".to_string() } else { local(last, d.zone) })
        );
    }
    h.push_str("</table></section>");
}

fn tariff(h: &mut String, d: &PageData<'_>) {
    let t = &d.tariff.in_force;
    h.push_str(r#"<section class="card wide"><h2>Tariff tables in force</h2><p class="sub">Reloaded when <code>rates/</code> changes or on SIGHUP.</p><table>"#);
    let _ = write!(h, r#"<tr><th>digest</th><td><code>{}</code></td></tr>"#, Esc(&t.digest));
    let _ = write!(h, r#"<tr><th>loaded</th><td>{}</td></tr>"#, Esc(&local(t.loaded_at, d.zone)));
    let versions =
        if t.versions.is_empty() { "one version (no dated versions)".to_string() } else { t.versions.join(" · ") };
    let _ = write!(h, r#"<tr><th>versions</th><td>{}</td></tr>"#, Esc(&versions));
    let _ = write!(h, r#"<tr><th>size</th><td>{} prefixes · {} customers</td></tr>"#, t.prefixes, t.customers);
    let last = match &d.tariff.last_reload {
        None => "none since start".to_string(),
        Some(r) if r.ok => format!("{} · new tables in force", local(r.at, d.zone)),
        Some(r) => format!("{} · refused, the tables above stay in force (see the log)", local(r.at, d.zone)),
    };
    let bad = d.tariff.last_reload.as_ref().is_some_and(|r| !r.ok);
    let _ = write!(
        h,
        r#"<tr><th>last reload</th><td class="{}">{}</td></tr></table></section>"#,
        if bad { "err" } else { "" },
        Esc(&last)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_the_cents_and_every_digit_that_counts() {
        for (text, shown) in
            [("12.3400", "12.34"), ("12.3456", "12.3456"), ("12.3000", "12.30"), ("120.0000", "120.00")]
        {
            assert_eq!(trim_amount(text), shown);
        }
        assert_eq!(trim_amount("7"), "7");
        assert_eq!(money(-1_2500, 4), "-1.25");
    }
}
