//! The `Ledger` contract, one test body run on both stores: the embedded
//! one and PostgreSQL (a throwaway cluster, `common::pg`). Then what only
//! the shared store has: a content owned by the first site, and customers'
//! spend summed exactly by concurrent daemons of several sites.

mod common;

use cdr_rater::billing::{Bucket, Category, Month, Sums, UsageDelta, UsageKey};
use cdr_rater::ids::{CustomerDays, DayState};
use cdr_rater::state::postgres::connect;
use cdr_rater::state::{Close, ContentKey, Ledger, PgLedger, Phase, RedbLedger, StateError, UsageCommit};

fn pg_ledger(url: &str, site: &str) -> PgLedger {
    PgLedger::open(connect::target(url, None).unwrap(), site).unwrap()
}

/// The contract every store keeps.
fn contract(l: &dyn Ledger) {
    // Stems: reserved once, a redo keeps its stem, files on disk are not free.
    let (a, b, c) = (ContentKey::of(b"a"), ContentKey::of(b"b"), ContentKey::of(b"c"));
    let ra = l.begin(&a, "Master.csv", "1-Master.csv", "Master", &|_| true).unwrap();
    assert_eq!(ra.stem, "Master");
    assert_eq!(l.begin(&b, "Master.csv", "2-Master.csv", "Master", &|_| true).unwrap().stem, "Master.2");
    assert_eq!(l.begin(&a, "Master.csv", "1-Master.csv", "Master", &|_| true).unwrap().stem, "Master");
    let mut days = CustomerDays::default();
    days.days.insert(20_000, DayState { units: 150, calls: 3, level: 1, ..Default::default() });
    l.finish(&a, &ra, vec![("C1".into(), days.clone())]).unwrap();
    assert_eq!(l.get(&a).unwrap().unwrap().phase, Phase::Done);
    assert_eq!(l.get(&b).unwrap().unwrap().phase, Phase::InProgress);
    assert_eq!(l.customer_days("C1").unwrap(), days);
    assert_eq!(l.customer_days("nobody").unwrap(), CustomerDays::default());
    assert_eq!(l.all_customer_days().unwrap(), vec![("C1".to_string(), days.clone())]);
    l.forget(&b).unwrap();
    assert!(l.get(&b).unwrap().is_none());
    assert_eq!(l.begin(&c, "x", "3-x", "Master", &|s| s != "Master.2").unwrap().stem, "Master.3");
    assert_eq!(l.all().unwrap().len(), 2);

    // A section dropped without a commit changes nothing; one committed does.
    {
        let _section = l.section(&["C1"]).unwrap();
        assert_eq!(l.customer_days("C1").unwrap(), days);
    }
    let rc = l.get(&c).unwrap().unwrap();
    {
        let _section = l.section(&["C1", "C2"]).unwrap();
        let mut more = l.customer_days("C1").unwrap();
        more.days.get_mut(&20_000).unwrap().units += 50;
        l.finish(&c, &rc, vec![("C1".into(), more)]).unwrap();
    }
    assert_eq!(l.customer_days("C1").unwrap().days[&20_000].units, 200);

    // Usage: late files of a closed month go to the first open one; the
    // invoice numbers continue across months.
    let nov = Month::parse("2026-11").unwrap();
    let sums = Sums { calls: 2, billed_s: 90, sell: "1.5000".parse().unwrap(), buy: "1.0000".parse().unwrap() };
    let delta = UsageDelta {
        customer: "C1".into(),
        origin: nov,
        currency: "EUR".into(),
        category: Category::DomesticMobile,
        sums,
    };
    let commit = |n: u8, late: Bucket| {
        let key = ContentKey([n; 16]);
        let record = l.begin(&key, "f", "f", &format!("f{n}"), &|_| true).unwrap();
        let rows = [delta.clone()];
        l.finish_with(&key, &record, Vec::new(), Default::default(), UsageCommit { rows: &rows, late }).unwrap();
    };
    commit(1, Bucket::LateCalls);
    commit(2, Bucket::LateCalls);
    let nov_usage = l.usage(nov).unwrap();
    assert_eq!(nov_usage.len(), 1);
    assert_eq!(
        (nov_usage[0].0.bucket, nov_usage[0].1.calls, nov_usage[0].1.sell.to_string()),
        (Bucket::Calls, 4, "3.0000".into())
    );
    let mut seen = Vec::new();
    let mut maker = |usage: &[(UsageKey, Sums)], next: u64| {
        seen.push((usage.len(), next));
        Ok((usage.len() as u64, b"bill".to_vec()))
    };
    let Close::Closed(closed) = l.close_month(nov, &mut maker).unwrap() else { panic!("not closed") };
    assert_eq!((closed.first_invoice, closed.invoices, closed.bill.as_slice()), (1, 1, b"bill".as_slice()));
    assert!(matches!(l.close_month(nov, &mut maker).unwrap(), Close::AlreadyClosed(_)));
    commit(3, Bucket::LateCalls);
    assert_eq!(l.usage(nov).unwrap(), nov_usage, "a closed month never changes");
    let dec = l.usage(nov.next()).unwrap();
    assert_eq!((dec[0].0.bucket, dec[0].0.origin, dec[0].1.calls), (Bucket::LateCalls, nov, 2));
    let Close::Closed(closed) = l.close_month(nov.next(), &mut maker).unwrap() else { panic!() };
    assert_eq!(closed.first_invoice, 2, "numbers continue across months");
    commit(4, Bucket::Rerating);
    assert_eq!(l.usage(nov.next().next()).unwrap()[0].0.bucket, Bucket::Rerating);
    assert_eq!(l.closed_months().unwrap(), vec![nov, nov.next()]);
    assert_eq!(l.closed_month(nov).unwrap().unwrap().bill, b"bill".to_vec());
    // Differences that cancel out leave no line.
    let key = ContentKey([9; 16]);
    let record = l.begin(&key, "g", "g", "g", &|_| true).unwrap();
    let undo = UsageDelta { sums: Sums::default().minus(&sums), origin: nov.next().next(), ..delta.clone() };
    let plus = UsageDelta { origin: nov.next().next(), ..delta.clone() };
    let rows = [plus, undo];
    l.finish_with(&key, &record, Vec::new(), Default::default(), UsageCommit { rows: &rows, late: Bucket::Rerating })
        .unwrap();
    assert_eq!(l.usage(nov.next().next()).unwrap().iter().filter(|(k, _)| k.bucket == Bucket::Calls).count(), 0);
}

#[test]
fn the_embedded_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&RedbLedger::open(&dir.path().join("ledger.redb")).unwrap());
}

#[test]
fn the_postgres_store_keeps_the_contract_and_shares_files_between_sites() {
    let pg = common::pg::Pg::start();
    let url = pg.create_db();
    let ams = pg_ledger(&url, "ams1");
    contract(&ams);
    // Site rtm sees ams1's content as a duplicate and cannot take it.
    let rtm = pg_ledger(&url, "rtm1");
    let a = ContentKey::of(b"a");
    let seen = rtm.get(&a).unwrap().unwrap();
    assert_eq!(seen.phase, Phase::Done);
    assert_ne!(seen.claimed, "1-Master.csv");
    let e = rtm.begin(&a, "Master.csv", "1-Master.csv", "Master", &|_| true).unwrap_err();
    assert!(matches!(e, StateError::OtherSite { ref site, .. } if site == "ams1"), "{e}");
    // Stems are per site; a site's recovery sees its own records only.
    assert_eq!(rtm.begin(&ContentKey::of(b"r"), "Master.csv", "x", "Master", &|_| true).unwrap().stem, "Master");
    assert_eq!(rtm.all().unwrap().len(), 1);
    rtm.forget(&a).unwrap();
    assert!(ams.get(&a).unwrap().is_some(), "a site forgets only its own records");
    assert!(ams.all_sites().unwrap().iter().any(|(_, site, _)| site == "rtm1"));
}

#[test]
fn concurrent_sites_sum_a_customers_spend_exactly() {
    let pg = common::pg::Pg::start();
    let url = pg.create_db();
    let sites: Vec<PgLedger> = (0..3).map(|i| pg_ledger(&url, &format!("s{i}"))).collect();
    std::thread::scope(|s| {
        for (i, l) in sites.iter().enumerate() {
            s.spawn(move || {
                for n in 0..40u32 {
                    let key = ContentKey::of(format!("{i}/{n}").as_bytes());
                    let r = l.begin(&key, "f", "f", &format!("f{n}"), &|_| true).unwrap();
                    let _section = l.section(&["A", "B"]).unwrap();
                    let mut changed = Vec::new();
                    for c in ["B", "A"] {
                        let mut days = l.customer_days(c).unwrap();
                        let day = days.days.entry(20_000).or_default();
                        day.units += 7;
                        day.calls += 1;
                        day.level = (day.calls / 30) as u32;
                        changed.push((c.to_string(), days));
                    }
                    let usage: Vec<UsageDelta> = ["A", "B"]
                        .iter()
                        .map(|c| UsageDelta {
                            customer: c.to_string(),
                            origin: Month::parse("2026-11").unwrap(),
                            currency: "EUR".into(),
                            category: Category::DomesticFixed,
                            sums: Sums { calls: 1, billed_s: 60, sell: "0.0007".parse().unwrap(), buy: 0.into() },
                        })
                        .collect();
                    let usage = UsageCommit { rows: &usage, late: Bucket::LateCalls };
                    l.finish_with(&key, &r, changed, Default::default(), usage).unwrap();
                }
            });
        }
    });
    for c in ["A", "B"] {
        let day = &sites[0].customer_days(c).unwrap().days[&20_000];
        assert_eq!((day.units, day.calls), (7 * 120, 120), "customer {c}");
    }
    let mut db = common::pg::Pg::client(&url);
    let levels: i64 = db.query_one("SELECT count(*) FROM alert_levels", &[]).unwrap().get(0);
    assert_eq!(levels, 2 * 4, "levels 1 to 4 of A and B, each once");
    // The usage: each file's pending entry, folded in batches by the
    // commits (while other sites committed) and the rest by the reader.
    let pending =
        |db: &mut postgres::Client| -> i64 { db.query_one("SELECT count(*) FROM usage_pending", &[]).unwrap().get(0) };
    assert!(pending(&mut db) < 120, "commits fold the pending usage");
    let usage = sites[1].usage(Month::parse("2026-11").unwrap()).unwrap();
    let got: Vec<(String, i64, String)> =
        usage.iter().map(|(k, s)| (k.customer.clone(), s.calls, s.sell.to_string())).collect();
    assert_eq!(got, [("A".into(), 120, "0.0840".into()), ("B".into(), 120, "0.0840".into())]);
    assert_eq!(pending(&mut db), 0, "a read folds what is pending");
}

#[test]
fn tls_required_against_a_server_without_it_fails_clearly() {
    let pg = common::pg::Pg::start();
    let url = format!("{}?sslmode=require", pg.create_db());
    let e = PgLedger::open(connect::target(&url, None).unwrap(), "x").unwrap_err().to_string();
    assert!(e.to_lowercase().contains("tls") || e.to_lowercase().contains("ssl"), "{e}");
}

fn ids_alert(id: &str) -> cdr_rater::ids::Alert {
    cdr_rater::ids::Alert {
        kind: "ids_threshold".into(),
        alert_id: id.into(),
        customer_id: "C1".into(),
        customer_name: "One".into(),
        day: "2026-11-02".into(),
        spend: "120.0000".into(),
        baseline: "10.0000".into(),
        range: "100.0000".into(),
        threshold: "110.0000".into(),
        level_threshold: "110.0000".into(),
        level: 1,
        currency: "EUR".into(),
        calls: 3,
        trigger_call_id: "c3".into(),
        file: "f.csv".into(),
        top_destinations: Vec::new(),
        emitted_at: "2026-11-02T10:00:00Z".into(),
        warm_up: false,
        late: false,
        site: None,
    }
}

#[test]
fn alerts_committed_with_a_file_are_logged_once_by_its_site() {
    use cdr_rater::alerts::AlertLog;
    use cdr_rater::outbox;
    let pg = common::pg::Pg::start();
    let url = pg.create_db();
    let (ams, rtm) = (pg_ledger(&url, "ams1"), pg_ledger(&url, "rtm1"));
    let dir = tempfile::tempdir().unwrap();
    let log = |site: &str| {
        AlertLog::new(dir.path().join(format!("{site}.jsonl")), Vec::new(), std::time::Duration::from_secs(1))
            .with_site(Some(site.into()))
    };
    let (ams_log, rtm_log) = (log("ams1"), log("rtm1"));
    let logged = |log: &AlertLog| -> Vec<String> {
        let text = std::fs::read_to_string(&log.path).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["alert_id"].to_string()).collect()
    };
    let commit = |n: u8, alerts: &[cdr_rater::ids::Alert]| {
        let key = ContentKey([n; 16]);
        let record = ams.begin(&key, "f", "f", &format!("f{n}"), &|_| true).unwrap();
        let _section = ams.section(&["C1"]).unwrap();
        let staged = outbox::before_commit(&ams, &ams_log, alerts, &[], false).unwrap();
        ams.finish(&key, &record, Vec::new()).unwrap();
        staged
    };
    // Committed, and the site stopped before logging: nothing is logged yet,
    // by it or by another site.
    let _ = commit(1, &[ids_alert("C1/2026-11-02/1")]);
    assert!(logged(&ams_log).is_empty());
    assert_eq!(outbox::flush(rtm.alert_outbox().unwrap(), &rtm_log, &Default::default()).unwrap(), 0);
    // The site starting again logs it, once, with its site.
    assert_eq!(outbox::flush(ams.alert_outbox().unwrap(), &ams_log, &Default::default()).unwrap(), 1);
    assert_eq!(outbox::flush(ams.alert_outbox().unwrap(), &ams_log, &Default::default()).unwrap(), 0);
    assert!(std::fs::read_to_string(&ams_log.path).unwrap().contains(r#""site":"ams1""#));
    // A file that failed after staging its alerts (no commit) leaves none
    // for the next file's commit.
    {
        let _section = ams.section(&["C1"]).unwrap();
        let _ = outbox::before_commit(&ams, &ams_log, &[ids_alert("C1/2026-11-02/9")], &[], false).unwrap();
    }
    // The ordinary path: committed, then logged by the same worker.
    let staged = commit(2, &[ids_alert("C1/2026-11-02/2")]);
    outbox::after_commit(&ams, &ams_log, staged);
    assert_eq!(logged(&ams_log), [r#""C1/2026-11-02/1""#, r#""C1/2026-11-02/2""#]);
    assert!(logged(&rtm_log).is_empty());
}

#[test]
fn ids_days_written_before_schema_4_are_read_and_rewritten_compressed() {
    let pg = common::pg::Pg::start();
    let url = pg.create_db();
    let l = pg_ledger(&url, "ams1");
    let mut days = CustomerDays::default();
    days.days.insert(20_000, DayState { units: 150, calls: 3, level: 1, ..Default::default() });
    let mut db = common::pg::Pg::client(&url);
    // As a schema 3 daemon left it: plain JSON in `ids_days`.
    db.execute(
        "INSERT INTO customers (customer, ids_days) VALUES ('OLD', $1)",
        &[&serde_json::to_string(&days).unwrap()],
    )
    .unwrap();
    assert_eq!(l.customer_days("OLD").unwrap(), days);
    assert_eq!(l.all_customer_days().unwrap(), vec![("OLD".to_string(), days.clone())]);
    let key = ContentKey::of(b"old");
    let record = l.begin(&key, "f", "f", "f", &|_| true).unwrap();
    {
        let _section = l.section(&["OLD"]).unwrap();
        let mut more = l.customer_days("OLD").unwrap();
        more.days.get_mut(&20_000).unwrap().units += 50;
        l.finish(&key, &record, vec![("OLD".into(), more)]).unwrap();
    }
    let row =
        db.query_one("SELECT ids IS NOT NULL, ids_days IS NULL FROM customers WHERE customer = 'OLD'", &[]).unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1)), (true, true), "rewritten compressed");
    assert_eq!(pg_ledger(&url, "rtm1").customer_days("OLD").unwrap().days[&20_000].units, 200);
}
