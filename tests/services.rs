//! The service tables of SPEC §12.2 as `check` reads them: every problem
//! with its file and line, a markup below 100% a warning, every table
//! optional, dated versions listed.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Output;

use common::{cdr_rater, copy_dir, repo};

fn shipped_rates() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let rates = tmp.path().join("rates");
    copy_dir(&repo().join("rates"), &rates);
    (tmp, rates)
}

fn lines(o: &Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with(prefix)).map(str::to_string).collect()
}

fn check(tmp: &tempfile::TempDir) -> Output {
    cdr_rater(tmp.path(), &["check", "--rates", "rates"])
}

#[test]
fn the_shipped_service_tables_are_clean_and_summarised() {
    let (tmp, _rates) = shipped_rates();
    let o = check(&tmp);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("services            7 services, 1 service plan(s) (standard), 9 subscriptions, 1 reseller(s)"),
        "{out}"
    );
}

#[test]
fn every_problem_is_reported_with_its_file_and_line() {
    let (tmp, rates) = shipped_rates();
    fs::write(
        rates.join("services.csv"),
        "service_id,name,unit,nrc,mrc\nEXT,Extension,extension,0,1.95\nEXT,Again,extension,0,1\nBAD,Bad,unit,1,2;5\nNEG,Neg,unit,-1,1\n",
    )
    .unwrap();
    fs::write(
        rates.join("service_plans/standard.toml"),
        "markup = \"150%\"\n[service.NOPE]\nmrc = \"1\"\n[service.EXT]\nmrc = 1.5\n",
    )
    .unwrap();
    fs::write(rates.join("service_plans/cheap.toml"), "markup = \"90%\"\n").unwrap();
    fs::write(
        rates.join("subscriptions.csv"),
        "customer_id,service_id,quantity,start,end\n\
         C0001,EXT,2,2026-11-01,\n\
         C9999,EXT,1,2026-11-01,\n\
         C0001,NOPE,1,2026-11-01,\n\
         C0001,EXT,0,2026-11-01,\n\
         C0001,EXT,1.5,2026-11-01,\n\
         C0001,EXT,1,2026-11-10,2026-11-01\n\
         C0001,EXT,1,2026-13-01,\n\
         C0003,EXT,1,2026-11-01,\n",
    )
    .unwrap();
    fs::write(
        rates.join("resellers.csv"),
        "reseller_id,name,email,services_commission,calls_commission\nR001,P,p@x,10%,5\nR002,Q,q@x,150%,5%\n",
    )
    .unwrap();
    let customers = fs::read_to_string(rates.join("customers.csv")).unwrap();
    let customers = customers
        .replace(",standard,R001,Industrieweg", ",platinum,R001,Industrieweg")
        .replace("0,standard,R001,Keizersgracht", "0,standard,R404,Keizersgracht");
    fs::write(rates.join("customers.csv"), customers).unwrap();

    let o = check(&tmp);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    let errors = lines(&o, "error:");
    let expect = [
        "rates/services.csv:3: duplicate service_id EXT",
        "rates/services.csv:4: mrc: not a decimal number: \"2;5\"",
        "rates/services.csv:5: nrc: negative amounts are not allowed",
        "rates/service_plans/standard.toml:2: unknown service \"NOPE\"",
        "rates/service_plans/standard.toml:5: service.EXT.mrc must be a quoted string",
        "rates/resellers.csv:2: calls_commission: not a percentage",
        "rates/resellers.csv:3: services_commission: more than 100%",
        "rates/customers.csv:3: unknown service plan \"platinum\"",
        "rates/customers.csv:7: unknown reseller_id \"R404\"",
        "rates/subscriptions.csv:3: unknown customer_id \"C9999\"",
        "rates/subscriptions.csv:4: unknown service_id \"NOPE\"",
        "rates/subscriptions.csv:5: quantity \"0\" is not a positive integer",
        "rates/subscriptions.csv:6: quantity \"1.5\" is not a positive integer",
        "rates/subscriptions.csv:7: end 2026-11-01 is not after start 2026-11-10",
        "rates/subscriptions.csv:8: start \"2026-13-01\" is not a date YYYY-MM-DD",
        "rates/subscriptions.csv:9: customer C0003 has no service_plan",
    ];
    for e in expect {
        assert!(errors.iter().any(|l| l.contains(e)), "missing {e:?} in\n{}", errors.join("\n"));
    }
    assert_eq!(errors.len(), expect.len(), "{}", errors.join("\n"));
}

#[test]
fn a_markup_below_cost_is_a_warning_and_every_table_is_optional() {
    let (tmp, rates) = shipped_rates();
    fs::write(rates.join("service_plans/cheap.toml"), "currency = \"EUR\"\nmarkup = \"90%\"\n").unwrap();
    let o = check(&tmp);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let warnings = lines(&o, "warning: rates/service_plans/cheap.toml:2: markup 90% is below 100%");
    assert_eq!(warnings.len(), 1, "{}", String::from_utf8_lossy(&o.stdout));

    // Without any service table (and customers naming none), all is well.
    for f in ["services.csv", "subscriptions.csv", "resellers.csv"] {
        fs::remove_file(rates.join(f)).unwrap();
    }
    fs::remove_dir_all(rates.join("service_plans")).unwrap();
    let customers = fs::read_to_string(rates.join("customers.csv")).unwrap();
    fs::write(rates.join("customers.csv"), customers.replace(",standard,R001,", ",,,").replace(",standard,,", ",,,"))
        .unwrap();
    let o = check(&tmp);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("services            none"));
}

#[test]
fn dated_versions_are_listed_and_loaded() {
    let (tmp, rates) = shipped_rates();
    fs::write(rates.join("services@2027-01-01.csv"), "service_id,name,unit,nrc,mrc\nNUM-NL,Number,number,0,0.3000\n")
        .unwrap();
    fs::write(rates.join("service_plans/standard@2027-01-01.toml"), "markup = \"160%\"\n").unwrap();
    let o = check(&tmp);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("from 2027-01-01 services@2027-01-01.csv"), "{out}");
    assert!(out.contains("from 2027-01-01 service_plans/standard@2027-01-01.toml"), "{out}");
    let (t, _) = cdr_rater::tariff::load(&rates, "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()).unwrap();
    let dec = cdr_rater::billing::Month::parse("2026-12").unwrap();
    let zone = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap();
    let before = t.services.at(cdr_rater::billing::services_instant(dec, &zone));
    let after = t.services.at(cdr_rater::billing::services_instant(dec.next(), &zone));
    assert_eq!((before.services.len(), after.services.len()), (7, 1));
    assert_eq!(after.plans["standard"].markup, "1.60".parse().unwrap());
}
