//! `cdr-rater bill` through the real binary: usage committed by `rate
//! --ids` (the same commit as the daemon's), drafts, closing, late calls,
//! invoice numbers across months, month boundaries in a customer's zone,
//! and, on a generated month, call lines equal to the rated sell. The store
//! is a parameter (`CDR_RATER_TEST_STORE=postgres`).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::{cdr_rater_at, read_csv};
use rust_decimal::Decimal;

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";
const NOW: &str = "2026-12-15T12:00:00Z";

/// 1.00 per minute, per second; A in Amsterdam, Y in New York, S with
/// services and no calls.
fn setup(dir: &Path) {
    let rates = dir.join("rates");
    fs::create_dir_all(rates.join("plans")).unwrap();
    fs::create_dir_all(rates.join("service_plans")).unwrap();
    fs::write(
        rates.join("wholesale.csv"),
        "prefix,destination,country,kind,rate_per_min,connect_fee,increment\n31,Netherlands,NL,fixed,0.5000,,1/1\n44,United Kingdom,GB,fixed,0.5000,,1/1\n",
    )
    .unwrap();
    fs::write(
        rates.join("plans/flat.toml"),
        "increment = \"1/1\"\n[international]\nper_min = \"1.0000\"\n[domestic]\nper_min = \"1.0000\"\n",
    )
    .unwrap();
    fs::write(
        rates.join("customers.csv"),
        "customer_id,name,email,plan,ids_range,service_plan,timezone\n\
         A,Amsterdam,a@example.nl,flat,,std,\n\
         Y,New York,y@example.nl,flat,,,America/New_York\n\
         S,Services only,s@example.nl,flat,,std,\n",
    )
    .unwrap();
    fs::write(rates.join("services.csv"), "service_id,name,unit,nrc,mrc\nTRUNK,SIP trunk,channel,0,2.0000\n").unwrap();
    fs::write(rates.join("service_plans/std.toml"), "currency = \"EUR\"\nmarkup = \"150%\"\n").unwrap();
    fs::write(rates.join("subscriptions.csv"), "customer_id,service_id,quantity,start,end\nS,TRUNK,2,2026-01-01,\n")
        .unwrap();
    // The store is a parameter: CDR_RATER_TEST_STORE=postgres bills from PostgreSQL.
    let store = common::pg::store_section("bill");
    let billing = "[billing]\ninvoice_prefix = \"INV-\"\ncompany = \"Test Telecom\"\n";
    fs::write(dir.join("cdr-rater.toml"), format!("{store}{billing}")).unwrap();
}

fn rate(dir: &Path, name: &str, rows: &[&str]) {
    let path = dir.join("in").join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, format!("{HEADER}{}", rows.concat())).unwrap();
    let out = cdr_rater_at(dir, NOW, &["rate", "--ids", "--out", "spool", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn bill(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["bill"];
    all.extend_from_slice(args);
    cdr_rater_at(dir, NOW, &all)
}

fn bill_ok(dir: &Path, args: &[&str]) {
    let out = bill(dir, args);
    assert!(out.status.success(), "bill {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// invoices.csv as customer -> row (by header name).
fn invoices(folder: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let rows = read_csv(&folder.join("invoices.csv"));
    let header = rows[0].clone();
    rows[1..].iter().map(|r| (r[1].clone(), header.iter().cloned().zip(r.iter().cloned()).collect())).collect()
}

fn lines(folder: &Path) -> Vec<Vec<String>> {
    read_csv(&folder.join("lines.csv"))[1..].to_vec()
}

/// Each file of a folder as text (compared whole, printed readable).
fn snapshot(folder: &Path) -> BTreeMap<String, String> {
    fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read_to_string(e.path()).unwrap()))
        .collect()
}

#[test]
fn drafts_closing_late_calls_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    rate(
        d,
        "nov.csv",
        &[
            "a1,2026-11-10T10:00:00Z,A,0201234567,0201234568,60\n",
            // 00:30 on 1 December in Amsterdam: December's.
            "a2,2026-11-30T23:30:00Z,A,0201234567,0201234568,30\n",
            // 22:00 on 30 November in New York: November's.
            "y1,2026-12-01T03:00:00Z,Y,0201234567,0044201234567,90\n",
        ],
    );
    bill_ok(d, &["--month", "2026-11"]);
    let draft = d.join("billing/2026-11.draft");
    let inv = invoices(&draft);
    assert_eq!(inv.len(), 3, "{inv:?}");
    assert_eq!(inv["A"]["calls_net"], "1.0000", "the 00:30 call is December's in Amsterdam");
    assert_eq!(inv["Y"]["calls_net"], "1.5000", "the 22:00 call is November's in New York");
    // S: 2 channels x 2.00 x 150% = 6.00, no calls; VAT 21% = 1.26.
    assert_eq!((inv["S"]["calls_net"].as_str(), inv["S"]["services_net"].as_str()), ("0.00", "6.00"));
    assert_eq!((inv["S"]["vat"].as_str(), inv["S"]["total"].as_str()), ("1.26", "7.26"));
    assert!(inv.values().all(|r| r["invoice"].starts_with("DRAFT-")));
    // A draft is rebuilt identically.
    let first = snapshot(&draft);
    bill_ok(d, &["--month", "2026-11"]);
    assert_eq!(snapshot(&draft), first);

    bill_ok(d, &["--month", "2026-11", "--close"]);
    assert!(!draft.exists(), "the draft is replaced by the closed month");
    let nov = d.join("billing/2026-11");
    let numbers: Vec<String> = invoices(&nov).values().map(|r| r["invoice"].clone()).collect();
    assert_eq!(numbers, ["INV-1", "INV-2", "INV-3"]);
    let closed = snapshot(&nov);
    let again = bill(d, &["--month", "2026-11", "--close"]);
    assert_eq!(again.status.code(), Some(2), "closing twice is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("closed before"));

    // A late file for November, and a December call.
    rate(d, "late.csv", &["a3,2026-11-20T10:00:00Z,A,0201234567,0201234568,120\n"]);
    bill_ok(d, &["--month", "2026-11"]);
    assert_eq!(snapshot(&nov), closed, "a closed month never changes");
    bill_ok(d, &["--month", "2026-12", "--close"]);
    let dec = d.join("billing/2026-12");
    let inv = invoices(&dec);
    assert_eq!(inv["A"]["calls_net"], "2.5000", "December's 0.50 and November's late 2.00");
    let late: Vec<Vec<String>> = lines(&dec).into_iter().filter(|l| l[2] == "late_calls").collect();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!((late[0][1].as_str(), late[0][4].as_str(), late[0][7].as_str()), ("A", "1", "2.0000"));
    assert!(late[0][3].contains("2026-11"), "the line names the month: {:?}", late[0][3]);
    let itemised = read_csv(&dec.join("A.calls.csv"));
    let ids: Vec<&str> = itemised[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["a3", "a2"], "the late call and December's, in file name (late, nov) then row order");
    // Numbers continue without a gap; none repeats.
    let mut all: Vec<String> = invoices(&nov).values().chain(inv.values()).map(|r| r["invoice"].clone()).collect();
    all.sort_by_key(|n| n[4..].parse::<u32>().unwrap());
    let expected: Vec<String> = (1..=all.len()).map(|i| format!("INV-{i}")).collect();
    assert_eq!(all, expected);

    // Lost files of a closed month are written again from the store.
    fs::remove_dir_all(&nov).unwrap();
    bill_ok(d, &["--month", "2026-11"]);
    assert_eq!(snapshot(&nov), closed);
}

/// Sum of the rated `sell` per customer over rows whose start falls in
/// `month` in the customer's zone.
fn rated_sell(spool: &Path, zones: &BTreeMap<String, jiff::tz::TimeZone>, month: &str) -> BTreeMap<String, Decimal> {
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for entry in fs::read_dir(spool.join("rated")).unwrap() {
        let rows = read_csv(&entry.unwrap().path());
        let h = &rows[0];
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let (cust, start, sell) = (col("customer_id"), col("start_time"), col("sell"));
        for r in &rows[1..] {
            let t: jiff::Timestamp = r[start].parse().unwrap();
            let zone =
                zones.get(&r[cust]).cloned().unwrap_or_else(|| jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
            if zone.to_datetime(t).strftime("%Y-%m").to_string() == month {
                *sums.entry(r[cust].clone()).or_default() += r[sell].parse::<Decimal>().unwrap();
            }
        }
    }
    sums
}

#[test]
fn call_lines_equal_the_rated_sell_on_a_generated_month() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::copy_dir(&common::repo().join("rates"), &d.join("rates"));
    fs::write(d.join("cdr-rater.toml"), common::pg::store_section("bill")).unwrap();
    // Two files over ~40 days from 1 November (Amsterdam).
    for (seed, name) in [("1", "g1.csv"), ("2", "g2.csv")] {
        let out = cdr_rater_at(
            d,
            NOW,
            &["generate", "cdrs", "--rows", "20000", "--days", "40", "--seed", seed, "--out", name],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = cdr_rater_at(d, NOW, &["rate", "--ids", "--out", "spool", name]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let customers = read_csv(&d.join("rates/customers.csv"));
    let tz = customers[0].iter().position(|h| h == "timezone").unwrap();
    let zones: BTreeMap<String, jiff::tz::TimeZone> = customers[1..]
        .iter()
        .filter(|r| !r[tz].is_empty())
        .map(|r| (r[0].clone(), jiff::tz::TimeZone::get(&r[tz]).unwrap()))
        .collect();
    for month in ["2026-11", "2026-12"] {
        bill_ok(d, &["--month", month]);
        let inv = invoices(&d.join(format!("billing/{month}.draft")));
        let expected = rated_sell(&d.join("spool"), &zones, month);
        assert!(!expected.is_empty());
        for (customer, sell) in &expected {
            let calls_net: Decimal = inv[customer]["calls_net"].parse().unwrap();
            assert_eq!(calls_net, *sell, "{month} {customer}: invoice calls vs rated sell");
        }
        // And the call lines add up to calls_net, to the last digit.
        let mut by_customer: BTreeMap<String, Decimal> = BTreeMap::new();
        for l in lines(&d.join(format!("billing/{month}.draft"))).iter().filter(|l| l[2] == "calls") {
            *by_customer.entry(l[1].clone()).or_default() += l[7].parse::<Decimal>().unwrap();
        }
        for (customer, sum) in by_customer {
            assert_eq!(sum, inv[&customer]["calls_net"].parse::<Decimal>().unwrap(), "{month} {customer}");
        }
    }
}

/// With a daemon holding the embedded store, `bill` hands its request to the
/// daemon and prints its answer; the month is the same as billed with the
/// daemon stopped. (On the shared store `bill` runs beside the daemon.)
#[test]
fn bill_while_a_daemon_runs() {
    let mut d = common::daemon::Daemon::new();
    d.start_at(NOW);
    let rows = [
        "d1,2026-11-10T10:00:00Z,C0001,+31201234567,0201234568,60\n",
        "d2,2026-11-11T10:00:00Z,C0002,+31201234567,0612345678,120\n",
    ];
    d.drop_file("nov.csv", &format!("{HEADER}{}", rows.concat()));
    common::wait_for("archived", std::time::Duration::from_secs(30), || d.files_in("spool/archive").len() == 1);
    let root = d.root.path().to_path_buf();
    let handed = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).contains("handed to it");
    let draft = bill(&root, &["--month", "2026-11", "--config", "cdr-rater.toml"]);
    assert!(draft.status.success(), "{}", String::from_utf8_lossy(&draft.stderr));
    assert_eq!(handed(&draft), !common::pg::on_postgres());
    let inv = invoices(&root.join("billing/2026-11.draft"));
    assert!(inv.contains_key("C0001") && inv.contains_key("C0002"), "{inv:?}");
    let close = bill(&root, &["--month", "2026-11", "--close", "--config", "cdr-rater.toml"]);
    assert!(close.status.success(), "{}", String::from_utf8_lossy(&close.stderr));
    let closed = snapshot(&root.join("billing/2026-11"));
    let again = bill(&root, &["--month", "2026-11", "--close", "--config", "cdr-rater.toml"]);
    assert_eq!(again.status.code(), Some(2), "closing twice is refused through the daemon too");
    assert!(String::from_utf8_lossy(&again.stderr).contains("closed before"));
    d.stop();
    // Stopped: written again from the store, the same.
    fs::remove_dir_all(root.join("billing/2026-11")).unwrap();
    bill_ok(&root, &["--month", "2026-11", "--config", "cdr-rater.toml"]);
    assert_eq!(snapshot(&root.join("billing/2026-11")), closed);
}
