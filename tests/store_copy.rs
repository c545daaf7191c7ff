//! `cdr-rater store copy --to postgres` (SPEC §13): a site that ran on the
//! embedded store (files rated with `rate --ids`, a month closed, a late
//! file routed into the next month) moves into the database, and the
//! database then holds the same state: files, IDS days, usage, closed
//! months, late routes and the invoice sequence; a daemon on it treats the
//! copied files as duplicates. `--dry-run` prints the counts and copies
//! nothing. Always on PostgreSQL (the shared test cluster).

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use cdr_rater::billing::Month;
use cdr_rater::state::postgres::connect;
use cdr_rater::state::{Ledger, PgLedger, RedbLedger};
use common::daemon::Daemon;
use common::{cdr_rater_at, read_csv, wait_for};

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";
const NOW: &str = "2026-12-15T12:00:00Z";

/// 1.00 per minute, per second; A (IDS range 5.00) and Y in New York; the
/// configuration names the database at `url` with the embedded backend.
fn setup(dir: &Path, url: &str, backend: &str) {
    let rates = dir.join("rates");
    fs::create_dir_all(rates.join("plans")).unwrap();
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
        "customer_id,name,email,plan,ids_range,timezone\n\
         A,Amsterdam,a@example.nl,flat,5.00,\n\
         Y,New York,y@example.nl,flat,5.00,America/New_York\n",
    )
    .unwrap();
    configure(dir, url, backend);
}

/// Writes the configuration with `backend` on the database at `url`.
fn configure(dir: &Path, url: &str, backend: &str) {
    fs::write(
        dir.join("cdr-rater.toml"),
        format!(
            "[store]\nbackend = \"{backend}\"\nurl = \"{url}\"\nsite = \"ams1\"\n\
             [billing]\ninvoice_prefix = \"INV-\"\ncompany = \"Test Telecom\"\n"
        ),
    )
    .unwrap();
}

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = cdr_rater_at(dir, NOW, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rate(dir: &Path, name: &str, rows: &[&str]) {
    let path = dir.join("in").join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, format!("{HEADER}{}", rows.concat())).unwrap();
    run_ok(dir, &["rate", "--ids", "--out", "spool", path.to_str().unwrap()]);
}

/// The invoice numbers of a closed month's folder.
fn numbers(folder: &Path) -> Vec<String> {
    let rows = read_csv(&folder.join("invoices.csv"));
    let col = rows[0].iter().position(|h| h == "invoice").unwrap();
    rows[1..].iter().map(|r| r[col].clone()).collect()
}

#[test]
fn a_site_moves_into_the_database_with_everything_it_knew() {
    let pg = common::pg::shared();
    let url = pg.create_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &url, "embedded");
    rate(
        d,
        "nov.csv",
        &[
            "a1,2026-11-10T10:00:00Z,A,0201234567,0201234568,600\n",
            "y1,2026-11-12T15:00:00Z,Y,0201234567,0044201234567,90\n",
        ],
    );
    run_ok(d, &["bill", "--month", "2026-11", "--close"]);
    assert_eq!(numbers(&d.join("billing/2026-11")), ["INV-1", "INV-2"]);
    // A late November call (billed in December) and a December one.
    rate(d, "late.csv", &["a2,2026-11-20T10:00:00Z,A,0201234567,0201234568,120\n"]);
    rate(d, "dec.csv", &["a3,2026-12-02T10:00:00Z,A,0201234567,0201234568,420\n"]);

    // A dry run counts and copies nothing.
    let dry = run_ok(d, &["store", "copy", "--to", "postgres", "--dry-run"]);
    assert!(
        dry.contains("site ams1: 3 files, 3 stems, 2 customers' IDS days, 0 fraud states")
            && dry.contains("1 closed months, next invoice 3"),
        "{dry}"
    );
    assert!(dry.contains("dry run: nothing copied"), "{dry}");
    let target = || connect::target(&url, None).unwrap();
    assert!(!PgLedger::open(target(), "ams1").unwrap().has_files().unwrap());

    let out = run_ok(d, &["store", "copy", "--to", "postgres"]);
    assert!(out.contains("copied into"), "{out}");
    // A second copy into the database that has files now is refused.
    let again = cdr_rater_at(d, NOW, &["store", "copy", "--to", "postgres"]);
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--into-nonempty"));

    let embedded = RedbLedger::open(&d.join("state/ledger.redb")).unwrap();
    let shared = PgLedger::open(target(), "ams1").unwrap();
    assert_eq!(shared.all().unwrap(), embedded.all().unwrap(), "files");
    assert_eq!(shared.all().unwrap().len(), 3);
    assert_eq!(shared.all_customer_days().unwrap(), embedded.all_customer_days().unwrap(), "IDS days");
    assert_eq!(shared.all_customer_days().unwrap().len(), 2);
    for month in ["2026-11", "2026-12"] {
        let month = Month::parse(month).unwrap();
        assert_eq!(shared.usage(month).unwrap(), embedded.usage(month).unwrap(), "usage of {month}");
        assert_eq!(shared.closed_month(month).unwrap(), embedded.closed_month(month).unwrap(), "{month} closed");
    }
    assert_eq!(shared.closed_months().unwrap(), embedded.closed_months().unwrap());
    assert_eq!(shared.late_files().unwrap(), embedded.late_files().unwrap(), "late routes");
    assert_eq!(shared.late_files().unwrap().len(), 1);
    drop(embedded);
    drop(shared);

    // On the database now: November stays closed as it was, December
    // bills the late call and continues the invoice sequence.
    configure(d, &url, "postgres");
    let closed = fs::read_to_string(d.join("billing/2026-11/invoices.csv")).unwrap();
    fs::remove_dir_all(d.join("billing/2026-11")).unwrap();
    run_ok(d, &["bill", "--month", "2026-11"]);
    assert_eq!(fs::read_to_string(d.join("billing/2026-11/invoices.csv")).unwrap(), closed);
    run_ok(d, &["bill", "--month", "2026-12", "--close"]);
    let dec = d.join("billing/2026-12");
    assert_eq!(numbers(&dec), ["INV-3"]);
    let late: Vec<Vec<String>> =
        read_csv(&dec.join("lines.csv"))[1..].iter().filter(|l| l[2] == "late_calls").cloned().collect();
    assert_eq!(late.len(), 1, "{late:?}");

    // A daemon of the site on the database: the copied files are duplicates.
    let mut daemon = Daemon::new();
    let config = daemon.path("cdr-rater.toml");
    let text = fs::read_to_string(&config).unwrap();
    let mut text = text.split("[store]").next().unwrap().to_string();
    text.push_str(&format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\nsite = \"ams1\"\n"));
    fs::write(&config, text).unwrap();
    daemon.start();
    for name in ["nov.csv", "late.csv", "dec.csv"] {
        daemon.drop_file(name, &fs::read_to_string(d.join("in").join(name)).unwrap());
    }
    wait_for("the copies counted as duplicates", Duration::from_secs(20), || {
        daemon.metric("cdr_rater_files_total{result=\"duplicate\",source=\"default\"}") == 3.0
    });
    assert!(daemon.files_in("spool/rated").is_empty(), "a copied file was rated again");
    assert_eq!(daemon.stop().0, Some(0));
}
