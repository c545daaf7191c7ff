//! The month's files as bytes (SPEC §12.3): `invoices.csv`, `lines.csv`,
//! `resellers.csv`, per customer a printable `CUSTOMER.html` and the
//! itemised `CUSTOMER.calls.csv`. Pure: the caller reads the logo and
//! writes the bytes (atomically, with `output::AtomicFile`).
//!
//! The HTML is one self-contained page per invoice: A4 print CSS, the logo
//! as a `data:` URI, no external asset, no script; every string from the
//! tables or the config is HTML-escaped.

use std::fmt::Write as _;

use base64::Engine as _;
use rust_decimal::Decimal;

use super::invoice::Invoice;
use super::resellers::Commission;
use super::settings::BillingSettings;
use crate::tariff::csv_field;
use crate::timefmt::format_day;

/// Header of `invoices.csv`.
pub const INVOICES_HEADER: &str = "invoice,customer_id,name,calls_net,services_net,net,vat,total,buy,margin,currency\n";
/// Header of `lines.csv`.
pub const LINES_HEADER: &str = "invoice,customer_id,kind,description,quantity,unit,unit_price,amount,buy\n";
/// Header of `resellers.csv`.
pub const RESELLERS_HEADER: &str =
    "reseller_id,name,currency,customers,services_sell,services_commission,calls_margin,calls_commission,commission\n";

/// An amount as written: exact, with at least two decimals (`12.50`,
/// `3.1416` for a sum of four-decimal sells).
pub fn money(d: Decimal) -> String {
    if d.scale() < 2 {
        format!("{d:.2}")
    } else {
        d.to_string()
    }
}

fn row(out: &mut Vec<u8>, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f.as_bytes());
    }
    out.push(b'\n');
}

/// `invoices.csv`.
pub fn invoices_csv(invoices: &[Invoice]) -> Vec<u8> {
    let mut out = INVOICES_HEADER.as_bytes().to_vec();
    for i in invoices {
        let m = [i.calls_net, i.services_net, i.net, i.vat, i.total, i.buy, i.margin].map(money);
        row(
            &mut out,
            &[&i.number, &i.customer_id, &i.name, &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &m[6], &i.currency],
        );
    }
    out
}

/// `lines.csv`.
pub fn lines_csv(invoices: &[Invoice]) -> Vec<u8> {
    let mut out = LINES_HEADER.as_bytes().to_vec();
    for i in invoices {
        for l in &i.lines {
            let price = l.unit_price.map(money).unwrap_or_default();
            row(
                &mut out,
                &[
                    &i.number,
                    &i.customer_id,
                    l.kind.as_str(),
                    &l.description,
                    &l.quantity.to_string(),
                    &l.unit,
                    &price,
                    &money(l.amount),
                    &money(l.buy),
                ],
            );
        }
    }
    out
}

/// `resellers.csv` (customers `;`-joined).
pub fn resellers_csv(commissions: &[Commission]) -> Vec<u8> {
    let mut out = RESELLERS_HEADER.as_bytes().to_vec();
    for c in commissions {
        let m = [c.services_sell, c.services_commission, c.calls_margin, c.calls_commission, c.total].map(money);
        let customers = c.customers.join(";");
        row(&mut out, &[&c.reseller_id, &c.name, &c.currency, &customers, &m[0], &m[1], &m[2], &m[3], &m[4]]);
    }
    out
}

/// `CUSTOMER.calls.csv`: the rated header, then `rows` (rated rows as
/// written in the rated outputs, each with or without its newline).
pub fn calls_csv<'a>(rows: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = crate::rows::RATED_HEADER.to_vec();
    for r in rows {
        out.extend_from_slice(r);
        if !r.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// A customer id as a file name stem: letters, digits, `-`, `_` and `.`
/// kept, anything else `_` (an id is data; it must not name a path).
pub fn file_stem(customer_id: &str) -> String {
    let s: String = customer_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// The operator's logo, embedded in the HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// MIME type, from the file name.
    pub mime: &'static str,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

impl Logo {
    /// A logo read from a file named `name`; `None` for an extension that
    /// is not PNG, JPEG, GIF, WebP or SVG.
    pub fn new(name: &str, bytes: Vec<u8>) -> Option<Logo> {
        let ext = name.rsplit('.').next()?.to_ascii_lowercase();
        let mime = match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "svg" => "image/svg+xml",
            _ => return None,
        };
        Some(Logo { mime, bytes })
    }

    fn data_uri(&self) -> String {
        format!("data:{};base64,{}", self.mime, base64::engine::general_purpose::STANDARD.encode(&self.bytes))
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "@page{size:A4;margin:18mm 16mm}\
*{box-sizing:border-box}\
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;font-size:10pt;color:#111;margin:0}\
.invoice{page-break-after:always;break-after:page}.invoice:last-child{page-break-after:auto;break-after:auto}\
header{display:flex;justify-content:space-between;align-items:flex-start;margin-bottom:12mm}\
header img{max-height:22mm;max-width:60mm}\
.from{text-align:right;font-size:9pt;line-height:1.4}\
.to{margin-bottom:10mm;line-height:1.4}\
h1{font-size:16pt;margin:0 0 4mm}\
table{border-collapse:collapse;width:100%}\
.meta td{padding:1mm 4mm 1mm 0}\
.lines{margin-top:8mm}.lines th,.lines td{padding:1.5mm 2mm;border-bottom:0.3mm solid #ccc;vertical-align:top}\
.lines th{text-align:left;background:#f2f2f2}.num{text-align:right;white-space:nowrap}\
.totals{margin-top:4mm;margin-left:auto;width:45%}.totals td{padding:1mm 2mm}\
.totals tr.total td{font-weight:bold;border-top:0.4mm solid #111}\
footer{margin-top:12mm;font-size:8.5pt;color:#444}\
@media screen{body{background:#eee}.invoice{background:#fff;width:210mm;min-height:297mm;margin:8mm auto;padding:18mm 16mm}}";

/// `CUSTOMER.html`: the customer's invoices of the month (one per currency,
/// each on its own A4 page).
pub fn invoice_html(invoices: &[&Invoice], settings: &BillingSettings, logo: Option<&Logo>) -> String {
    let mut h = String::new();
    let title = invoices.first().map_or_else(String::new, |i| format!("Invoice {} {}", i.number, i.name));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    for inv in invoices {
        invoice_page(&mut h, inv, settings, logo);
    }
    h.push_str("</body></html>\n");
    h
}

fn invoice_page(h: &mut String, inv: &Invoice, s: &BillingSettings, logo: Option<&Logo>) {
    let e = escape;
    let cur = e(&inv.currency);
    h.push_str("<section class=\"invoice\"><header><div>");
    if let Some(l) = logo {
        let _ = write!(h, "<img src=\"{}\" alt=\"{}\">", l.data_uri(), e(&s.company));
    }
    h.push_str("</div><div class=\"from\">");
    let _ = write!(h, "<strong>{}</strong>", e(&s.company));
    for l in &s.address {
        let _ = write!(h, "<br>{}", e(l));
    }
    if !s.vat_number.is_empty() {
        let _ = write!(h, "<br>VAT {}", e(&s.vat_number));
    }
    if !s.iban.is_empty() {
        let _ = write!(h, "<br>IBAN {}", e(&s.iban));
    }
    h.push_str("</div></header><div class=\"to\">");
    let _ = write!(h, "<strong>{}</strong>", e(&inv.name));
    for l in &inv.address {
        let _ = write!(h, "<br>{}", e(l));
    }
    if let Some(v) = &inv.vat_number {
        let _ = write!(h, "<br>VAT {}", e(v));
    }
    let _ = write!(
        h,
        "</div><h1>Invoice {}</h1><table class=\"meta\"><tr><td>Invoice number</td><td>{}</td></tr>\
         <tr><td>Customer</td><td>{}</td></tr><tr><td>Period</td><td>{}</td></tr>\
         <tr><td>Invoice date</td><td>{}</td></tr><tr><td>Due date</td><td>{}</td></tr></table>",
        e(&inv.number),
        e(&inv.number),
        e(&inv.customer_id),
        inv.month,
        format_day(inv.date),
        format_day(inv.due)
    );
    h.push_str(
        "<table class=\"lines\"><thead><tr><th>Description</th><th class=\"num\">Quantity</th>\
         <th>Unit</th><th class=\"num\">Unit price</th><th class=\"num\">Amount</th></tr></thead><tbody>",
    );
    for l in &inv.lines {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{} {cur}</td></tr>",
            e(&l.description),
            l.quantity,
            e(&l.unit),
            l.unit_price.map(money).unwrap_or_default(),
            money(l.amount)
        );
    }
    let vat_pct = (s.vat * Decimal::from(100)).normalize();
    let _ = write!(
        h,
        "</tbody></table><table class=\"totals\"><tr><td>Net</td><td class=\"num\">{} {cur}</td></tr>\
         <tr><td>VAT {vat_pct}%</td><td class=\"num\">{} {cur}</td></tr>\
         <tr class=\"total\"><td>Total</td><td class=\"num\">{} {cur}</td></tr></table>",
        money(inv.net),
        money(inv.vat),
        money(inv.total)
    );
    let _ = writeln!(
        h,
        "<footer>Please pay {} {cur} by {} to IBAN {} stating invoice {}.</footer></section>",
        money(inv.total),
        format_day(inv.due),
        e(&s.iban),
        e(&inv.number)
    );
}

/// Every file of the month folder but the itemised calls: (file name,
/// bytes), `invoices.csv`, `lines.csv`, `resellers.csv`, then one
/// `CUSTOMER.html` per invoiced customer (by [`file_stem`]).
pub fn month_files(
    invoices: &[Invoice],
    commissions: &[Commission],
    settings: &BillingSettings,
    logo: Option<&Logo>,
) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("invoices.csv".to_string(), invoices_csv(invoices)),
        ("lines.csv".to_string(), lines_csv(invoices)),
        ("resellers.csv".to_string(), resellers_csv(commissions)),
    ];
    let mut by_customer: std::collections::BTreeMap<&str, Vec<&Invoice>> = Default::default();
    for i in invoices {
        by_customer.entry(&i.customer_id).or_default().push(i);
    }
    for (id, list) in by_customer {
        files.push((format!("{}.html", file_stem(id)), invoice_html(&list, settings, logo).into_bytes()));
    }
    files
}
