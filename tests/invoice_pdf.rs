//! The printable invoice (SPEC §12.3) renders in headless Chromium to a PDF
//! whose text holds the invoice number, the customer, the lines and the
//! total (read back with `pdftotext` from poppler-utils).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use cdr_rater::billing::{self, render, BillingSettings, Category, Month, Sums, UsageKey};

#[test]
fn the_html_invoice_prints_to_a_pdf_with_its_number_customer_lines_and_total() {
    let Some(chromium) = common::tool("chromium") else { return };
    let Some(pdftotext) = common::tool("pdftotext") else { return };
    let zone = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap();
    let (t, _) = cdr_rater::tariff::load(&common::repo().join("rates"), "NL", &zone).unwrap();
    let month = Month::parse("2026-11").unwrap();
    let services = t.services.at(billing::services_instant(month, &zone));
    let usage = vec![(
        UsageKey {
            customer: "C0001".into(),
            bill_month: month,
            origin: month,
            currency: "EUR".into(),
            category: Category::DomesticMobile,
            bucket: billing::Bucket::Calls,
        },
        Sums { calls: 42, billed_s: 5_430, sell: "12.3456".parse().unwrap(), buy: "4.0000".parse().unwrap() },
    )];
    let settings = BillingSettings {
        company: "Polder Telecom B.V.".into(),
        address: vec!["Havenstraat 1".into(), "1011 AA Amsterdam".into()],
        vat_number: "NL999999999B01".into(),
        iban: "NL91ABNA0417164300".into(),
        ..BillingSettings::default()
    };
    let only = vec!["C0001".to_string()];
    let input = billing::MonthInput {
        month,
        services: &services,
        customers: &t.customers,
        usage: &usage,
        settings: &settings,
        only: Some(&only),
    };
    let invoices = billing::compose(&input, &mut |_| "INV-000123".into()).unwrap();
    assert_eq!(invoices.len(), 1);
    let inv = &invoices[0];
    let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#2563eb"/></svg>"##;
    let logo = render::Logo::new("logo.svg", svg.to_vec()).unwrap();
    let html = render::invoice_html(&[inv], &settings, Some(&logo));

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("C0001.html");
    std::fs::write(&page, &html).unwrap();
    let pdf = dir.path().join("C0001.pdf");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pdf.exists(), "chromium wrote no PDF");
    let out = Command::new(pdftotext).args(["-layout"]).arg(&pdf).arg("-").output().expect("run pdftotext");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "INV-000123",
        "Bakkerij De Gouden Korenaar B.V.",
        "Korenstraat 12",
        "Polder Telecom B.V.",
        "NL91ABNA0417164300",
        "Calls, domestic mobile",
        "12.3456 EUR",
        "SIP trunk channel",
        "3CX extension",
        "2026-12-15",
    ] {
        assert!(text.contains(want), "{want:?} not in the PDF text:\n{text}");
    }
    let total = format!("{} EUR", render::money(inv.total));
    assert!(text.lines().any(|l| l.contains("Total") && l.contains(&total)), "no total {total} in:\n{text}");
}
