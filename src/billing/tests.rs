//! Golden tests of a month's invoices, worked out by hand (SPEC §12.3).
//! The month is November 2026 (30 days) unless said otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::*;
use crate::tariff::services::{Reseller, Service, ServicePlan, ServiceSet, ServiceTerms, Subscription};
use crate::tariff::Customer;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(s: &str) -> i64 {
    crate::timefmt::parse_day(s).unwrap()
}

fn customer(id: &str, service_plan: Option<&str>, reseller: Option<&str>) -> Customer {
    Customer {
        id: id.into(),
        name: format!("Customer {id}"),
        email: String::new(),
        plan: 0,
        ids_range: None,
        timezone: None,
        zone: None,
        csv_id: id.as_bytes().into(),
        service_plan: service_plan.map(str::to_string),
        reseller: reseller.map(str::to_string),
        address: vec!["Street 1".into(), "1000 AA Town".into()],
        vat_number: None,
    }
}

fn sub(customer: &str, service: &str, quantity: u32, start: &str, end: Option<&str>) -> Subscription {
    Subscription { customer: customer.into(), service: service.into(), quantity, start: day(start), end: end.map(day) }
}

/// EXT: 1.95/month, sold at its own 200%. TRUNK: 10.00 once + 2.50/month at
/// the plan's 150%. NUM: 0.25/month, fixed sell 1.00. PBX: 49.00 once (fixed
/// sell 99.00) + 12.00/month at 150%. Reseller R1: 10% of services, 5% of
/// call margin.
fn tables(subscriptions: Vec<Subscription>) -> ServiceSet {
    let svc = |id: &str, nrc: &str, mrc: &str| {
        (
            id.to_string(),
            Service { id: id.into(), name: format!("{id} service"), unit: "unit".into(), nrc: dec(nrc), mrc: dec(mrc) },
        )
    };
    let services: BTreeMap<String, Service> =
        [svc("EXT", "0", "1.95"), svc("TRUNK", "10.00", "2.50"), svc("NUM", "0", "0.25"), svc("PBX", "49.00", "12.00")]
            .into_iter()
            .collect();
    let mut terms = BTreeMap::new();
    terms.insert("EXT".to_string(), ServiceTerms { markup: Some(dec("2.00")), ..Default::default() });
    terms.insert("NUM".to_string(), ServiceTerms { mrc: Some(dec("1.00")), ..Default::default() });
    terms.insert("PBX".to_string(), ServiceTerms { nrc: Some(dec("99.00")), ..Default::default() });
    let plan = ServicePlan { name: "std".into(), currency: "EUR".into(), markup: dec("1.50"), services: terms };
    let r1 = Reseller {
        id: "R1".into(),
        name: "Reseller One".into(),
        email: String::new(),
        services_commission: dec("0.10"),
        calls_commission: dec("0.05"),
    };
    ServiceSet {
        services: Arc::new(services),
        plans: [("std".to_string(), Arc::new(plan))].into_iter().collect(),
        subscriptions: Arc::new(subscriptions),
        resellers: Arc::new([("R1".to_string(), r1)].into_iter().collect()),
    }
}

fn usage(
    customer: &str,
    month: &str,
    category: Category,
    calls: i64,
    billed_s: i64,
    sell: &str,
    buy: &str,
) -> (UsageKey, Sums) {
    let m = Month::parse(month).unwrap();
    (
        UsageKey {
            customer: customer.into(),
            bill_month: m,
            origin: m,
            currency: "EUR".into(),
            category,
            bucket: Bucket::Calls,
        },
        Sums { calls, billed_s, sell: dec(sell), buy: dec(buy) },
    )
}

fn bill(
    month: &str,
    set: &ServiceSet,
    customers: &[Customer],
    rows: &[(UsageKey, Sums)],
    settings: &BillingSettings,
) -> Vec<Invoice> {
    let mut n = 0;
    let input =
        MonthInput { month: Month::parse(month).unwrap(), services: set, customers, usage: rows, settings, only: None };
    compose(&input, &mut |_| {
        n += 1;
        format!("DRAFT-{month}-{n:04}")
    })
    .unwrap()
}

fn line<'a>(inv: &'a Invoice, kind: LineKind, starts: &str) -> &'a Line {
    inv.lines
        .iter()
        .find(|l| l.kind == kind && l.description.starts_with(starts))
        .unwrap_or_else(|| panic!("no {kind:?} line {starts:?} in {:#?}", inv.lines))
}

fn the_month() -> (ServiceSet, Vec<Customer>, Vec<(UsageKey, Sums)>) {
    let set = tables(vec![
        // Starts mid-month: 15..30 November = 16 of 30 days.
        sub("A1", "EXT", 12, "2026-11-15", None),
        // Ends mid-month (end exclusive): 1..15 November = 15 days.
        sub("A1", "TRUNK", 4, "2025-06-01", Some("2026-11-16")),
        // Starts on the 10th: NRC now, and 21 of 30 days.
        sub("A1", "TRUNK", 1, "2026-11-10", None),
        sub("B2", "NUM", 3, "2026-10-01", None),
        sub("B2", "PBX", 1, "2026-11-01", None),
    ]);
    let customers = vec![
        customer("A1", Some("std"), Some("R1")),
        customer("B2", Some("std"), Some("R1")),
        customer("C3", None, None),
        customer("D4", Some("std"), None),
    ];
    let rows = vec![
        usage("A1", "2026-11", Category::DomesticFixed, 10, 1830, "1.2345", "0.5000"),
        usage("A1", "2026-11", Category::Foreign(*b"GB"), 2, 120, "0.3001", "0.2000"),
        usage("A1", "2026-10", Category::DomesticFixed, 99, 9999, "9.9999", "1.0000"), // another month: ignored
        usage("C3", "2026-11", Category::DomesticMobile, 5, 600, "2.5000", "1.0000"),
    ];
    (set, customers, rows)
}

#[test]
fn a_month_of_calls_and_services_by_hand() {
    let (set, customers, rows) = the_month();
    let invoices = bill("2026-11", &set, &customers, &rows, &BillingSettings::default());
    // D4 has neither calls nor services: no invoice. Numbered by customer id.
    let ids: Vec<(&str, &str)> = invoices.iter().map(|i| (i.number.as_str(), i.customer_id.as_str())).collect();
    assert_eq!(ids, [("DRAFT-2026-11-0001", "A1"), ("DRAFT-2026-11-0002", "B2"), ("DRAFT-2026-11-0003", "C3")]);
    let a = &invoices[0];
    // Call lines are the rated sums, not re-rounded.
    let fixed = line(a, LineKind::Calls, "Calls, domestic fixed");
    assert_eq!((fixed.quantity, fixed.amount, fixed.buy), (10, dec("1.2345"), dec("0.5000")));
    assert!(fixed.description.contains("30.50 billed minutes"), "{}", fixed.description);
    assert_eq!(line(a, LineKind::Calls, "Calls to GB").amount, dec("0.3001"));
    // EXT from the 15th: 1.95 x 200% = 3.90; x 12 x 16/30 = 24.96 (buy 1.95 x 12 x 16/30 = 12.48).
    let ext = line(a, LineKind::Mrc, "EXT service");
    assert_eq!((ext.unit_price, ext.amount, ext.buy), (Some(dec("3.9")), dec("24.96"), dec("12.48")));
    assert!(ext.description.contains("2026-11-15 to 2026-11-30 (16/30 days)"), "{}", ext.description);
    // TRUNK x4 until the 16th (exclusive): 2.50 x 150% = 3.75; x 4 x 15/30 = 7.50 (buy 5.00); no NRC.
    let mrcs: Vec<&Line> =
        a.lines.iter().filter(|l| l.kind == LineKind::Mrc && l.description.starts_with("TRUNK")).collect();
    assert_eq!((mrcs[0].quantity, mrcs[0].amount, mrcs[0].buy), (4, dec("7.50"), dec("5.00")));
    // TRUNK x1 from the 10th: 3.75 x 21/30 = 2.625 -> 2.63 (half away); buy 2.50 x 21/30 = 1.75.
    assert_eq!((mrcs[1].quantity, mrcs[1].amount, mrcs[1].buy), (1, dec("2.63"), dec("1.75")));
    // Its NRC, once: 10.00 x 150% = 15.00 (buy 10.00); EXT has no one-off price, so no NRC line.
    let nrcs: Vec<&Line> = a.lines.iter().filter(|l| l.kind == LineKind::Nrc).collect();
    assert_eq!(nrcs.len(), 1);
    assert_eq!((nrcs[0].amount, nrcs[0].buy), (dec("15.00"), dec("10.00")));
    // calls 1.5346 + services 24.96 + 7.50 + 2.63 + 15.00 = 50.09; net 51.6246;
    // VAT 21% = 10.841166 -> 10.84; total 62.4646 -> 62.46.
    assert_eq!((a.calls_net, a.services_net, a.net), (dec("1.5346"), dec("50.09"), dec("51.6246")));
    assert_eq!((a.vat, a.total), (dec("10.84"), dec("62.46")));
    // buy 0.70 + 12.48 + 5.00 + 1.75 + 10.00 = 29.93; margin 21.6946.
    assert_eq!((a.buy, a.margin), (dec("29.93"), dec("21.6946")));
    assert_eq!(
        (crate::timefmt::format_day(a.date), crate::timefmt::format_day(a.due)),
        ("2026-12-01".into(), "2026-12-15".into())
    );

    // B2 has services and no calls: NUM fixed 1.00 x 3 = 3.00 (buy 0.75);
    // PBX fixed NRC 99.00 (buy 49.00) and 12.00 x 150% = 18.00 (buy 12.00).
    let b = &invoices[1];
    assert!(b.lines.iter().all(|l| !l.kind.is_calls()));
    assert_eq!(line(b, LineKind::Mrc, "NUM").amount, dec("3.00"));
    assert_eq!(line(b, LineKind::Nrc, "PBX").amount, dec("99.00"));
    assert_eq!(line(b, LineKind::Mrc, "PBX").amount, dec("18.00"));
    assert_eq!((b.net, b.vat, b.total, b.buy), (dec("120.00"), dec("25.20"), dec("145.20"), dec("61.75")));

    // C3: 2.5000 x 21% = 0.525000, an exact half cent: 0.53 (half away from zero).
    let c = &invoices[2];
    assert_eq!((c.net, c.vat, c.total), (dec("2.5000"), dec("0.53"), dec("3.03")));

    // R1 (A1, B2): services 50.09 + 120.00 = 170.09 x 10% = 17.009 -> 17.01;
    // call margin (1.2345 - 0.5) + (0.3001 - 0.2) = 0.8346 x 5% = 0.04173 -> 0.04.
    let r = commissions(&invoices, &customers, &set);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].customers, ["A1", "B2"]);
    assert_eq!((r[0].services_sell, r[0].services_commission), (dec("170.09"), dec("17.01")));
    assert_eq!((r[0].calls_margin, r[0].calls_commission, r[0].total), (dec("0.8346"), dec("0.04"), dec("17.05")));
}

#[test]
fn nrc_only_in_the_start_month_and_full_months_after() {
    let (set, customers, rows) = the_month();
    let dec_invoices = bill("2026-12", &set, &customers, &rows, &BillingSettings::default());
    let a = &dec_invoices[0];
    assert!(a.lines.iter().all(|l| l.kind != LineKind::Nrc), "{:#?}", a.lines);
    // December: EXT 3.90 x 12 = 46.80, TRUNK x1 3.75; the ended TRUNK x4 is gone.
    assert_eq!(line(a, LineKind::Mrc, "EXT").amount, dec("46.80"));
    let trunks: Vec<&Line> = a.lines.iter().filter(|l| l.description.starts_with("TRUNK")).collect();
    assert_eq!(trunks.len(), 1);
    assert_eq!((trunks[0].quantity, trunks[0].amount), (1, dec("3.75")));
    assert!(line(a, LineKind::Mrc, "EXT").description.ends_with("monthly, 2026-12"));
    // October: the subscriptions starting in November are not billed yet.
    let oct = bill("2026-10", &set, &customers, &rows, &BillingSettings::default());
    assert!(oct
        .iter()
        .flat_map(|i| &i.lines)
        .all(|l| !l.description.starts_with("EXT") && !l.description.starts_with("PBX")));
}

#[test]
fn proration_none_bills_a_full_month_for_any_day() {
    let (set, customers, rows) = the_month();
    let settings = BillingSettings { proration: Proration::None, ..BillingSettings::default() };
    let a = &bill("2026-11", &set, &customers, &rows, &settings)[0];
    assert_eq!(line(a, LineKind::Mrc, "EXT").amount, dec("46.80"));
    let trunks: Vec<Decimal> = a
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Mrc && l.description.starts_with("TRUNK"))
        .map(|l| l.amount)
        .collect();
    assert_eq!(trunks, [dec("15.00"), dec("3.75")]);
}

#[test]
fn late_calls_rerating_and_currencies_make_their_own_lines_and_invoices() {
    let set = tables(Vec::new());
    let customers = vec![customer("A1", None, None)];
    let nov = Month::parse("2026-11").unwrap();
    let oct = nov.prev();
    let key = |bucket, currency: &str, origin| UsageKey {
        customer: "A1".into(),
        bill_month: nov,
        origin,
        currency: currency.into(),
        category: Category::DomesticFixed,
        bucket,
    };
    let s = |sell: &str| Sums { calls: 1, billed_s: 60, sell: dec(sell), buy: dec("0.0100") };
    let rows = vec![
        (key(Bucket::Calls, "EUR", nov), s("0.1000")),
        (key(Bucket::LateCalls, "EUR", oct), s("0.0200")),
        (key(Bucket::Rerating, "EUR", oct), Sums { calls: 0, billed_s: 0, sell: dec("-0.0050"), buy: Decimal::ZERO }),
        (key(Bucket::Calls, "USD", nov), s("0.3000")),
    ];
    let inv = bill("2026-11", &set, &customers, &rows, &BillingSettings::default());
    assert_eq!(inv.iter().map(|i| i.currency.as_str()).collect::<Vec<_>>(), ["EUR", "USD"]);
    let eur = &inv[0];
    let kinds: Vec<&str> = eur.lines.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["calls", "late_calls", "rerating"]);
    assert_eq!(line(eur, LineKind::LateCalls, "Late calls, domestic fixed of 2026-10").amount, dec("0.0200"));
    assert_eq!(line(eur, LineKind::Rerating, "Re-rating of 2026-10").amount, dec("-0.0050"));
    assert_eq!(eur.calls_net, dec("0.1150"));
    assert_eq!(inv[1].net, dec("0.3000"));
}

#[test]
fn a_subscription_the_tables_do_not_price_is_an_error() {
    let set = tables(vec![sub("X9", "EXT", 1, "2026-11-01", None), sub("A1", "GONE", 1, "2026-11-01", None)]);
    let customers = vec![customer("X9", None, None), customer("A1", Some("std"), Some("R404"))];
    let input = MonthInput {
        month: Month::parse("2026-11").unwrap(),
        services: &set,
        customers: &customers,
        usage: &[],
        settings: &BillingSettings::default(),
        only: None,
    };
    let errors = compose(&input, &mut |_| String::new()).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{text:#?}");
    assert!(text.iter().any(|e| e.contains("X9") && e.contains("no service_plan")), "{text:#?}");
    assert!(text.iter().any(|e| e.contains("\"GONE\"")), "{text:#?}");
    assert!(text.iter().any(|e| e.contains("\"R404\"")), "{text:#?}");
    // --customer: only the named customers are billed (and checked).
    let only = vec!["Z".to_string()];
    assert!(compose(&MonthInput { only: Some(&only), ..input }, &mut |_| String::new()).unwrap().is_empty());
}

#[test]
fn the_files_hold_every_invoice_and_escape_outside_text() {
    let (set, mut customers, rows) = the_month();
    customers[0].name = "<script>alert(1)</script> & Co, \"B.V.\"".into();
    let settings =
        BillingSettings { company: "Tel & Co".into(), iban: "NL00BANK0123456789".into(), ..BillingSettings::default() };
    let invoices = bill("2026-11", &set, &customers, &rows, &settings);
    let r = commissions(&invoices, &customers, &set);
    let logo = render::Logo::new("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()).unwrap();
    let files = render::month_files(&invoices, &r, &settings, Some(&logo));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["invoices.csv", "lines.csv", "resellers.csv", "A1.html", "B2.html", "C3.html"]);
    let text = |i: usize| String::from_utf8(files[i].1.clone()).unwrap();
    let inv = text(0);
    assert!(inv.starts_with(render::INVOICES_HEADER));
    assert!(inv.contains("DRAFT-2026-11-0001,A1,\"<script>alert(1)</script> & Co, \"\"B.V.\"\"\",1.5346,50.09,51.6246,10.84,62.46,29.9300,21.6946,EUR\n"), "{inv}");
    assert!(text(1).contains("DRAFT-2026-11-0001,A1,mrc,\"EXT service, monthly, 2026-11-15 to 2026-11-30 (16/30 days)\",12,unit,3.90,24.96,12.48\n"), "{}", text(1));
    assert!(text(2).contains("R1,Reseller One,EUR,A1;B2,170.09,17.01,0.8346,0.04,17.05\n"), "{}", text(2));
    let html = text(3);
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
    assert!(html.contains("Tel &amp; Co") && html.contains("src=\"data:image/svg+xml;base64,"));
    assert!(html.contains("@page{size:A4") && !html.contains("http://") && !html.contains("https://"));
    assert!(html.contains("62.46 EUR") && html.contains("2026-12-15"));
    let calls = render::calls_csv([&b"a,b\n"[..], b"c,d"]);
    assert!(calls.starts_with(crate::rows::RATED_HEADER) && calls.ends_with(b"a,b\nc,d\n"));
    assert_eq!(render::file_stem("../x y"), "_.._x_y");
}
