//! Several sites on one PostgreSQL store (SPEC §13): three daemons with
//! their own spools, the same files dropped at two sites, daemons killed
//! (-9) and PostgreSQL restarted during the run. Every distinct file is
//! rated exactly once overall, copies are archived as duplicates, each
//! customer's spend is the sum of the rated outputs of all sites, and each
//! alert level is logged once overall. And the database down: files wait,
//! `cdr_rater_store_up` says so, and they are rated once it is back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cdr_rater::state::postgres::connect;
use cdr_rater::state::{Ledger, PgLedger};
use common::daemon::Daemon;
use common::pg::Pg;
use common::{read_csv, wait_for};

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";

/// A file of round `r`: calls of C0001 and C0002, long enough that their
/// spend crosses IDS levels over the rounds.
fn round_file(r: usize) -> String {
    let mut s = String::from(HEADER);
    for i in 0..12 {
        let account = if i % 2 == 0 { "C0001" } else { "C0002" };
        s.push_str(&format!("r{r}-{i},2026-11-24T10:{:02}:00+01:00,{account},0201234501,0612345678,600,ANSWERED\n", i));
    }
    s
}

/// A daemon of site `site` on the database at `url`.
fn site_daemon(url: &str, site: &str) -> Daemon {
    let d = Daemon::new();
    let config = d.path("cdr-rater.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    // Under CDR_RATER_TEST_STORE=postgres the helper added a store of its own.
    let mut text = text.split("[store]").next().unwrap().to_string();
    text.push_str(&format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\nsite = \"{site}\"\n"));
    std::fs::write(config, text).unwrap();
    d
}

/// Files still in a daemon's incoming/ or claimed.
fn pending(d: &Daemon) -> usize {
    d.files_in("spool/incoming").len() + d.files_in("spool/.claimed").len()
}

/// Sum of the rated `sell` per customer, in units of 10^-4, over every
/// site's rated outputs; and every rated call id.
fn rated(daemons: &[Daemon]) -> (BTreeMap<String, i64>, Vec<String>) {
    let mut spend = BTreeMap::new();
    let mut ids = Vec::new();
    for d in daemons {
        for f in d.files_in("spool/rated") {
            let rows = read_csv(&d.path(&format!("spool/rated/{f}")));
            let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
            let (customer, sell) = (col("customer_id"), col("sell"));
            for r in rows.iter().skip(1) {
                let units = (r[sell].parse::<f64>().unwrap() * 10_000.0).round() as i64;
                *spend.entry(r[customer].clone()).or_insert(0) += units;
                ids.push(r[0].clone());
            }
        }
    }
    (spend, ids)
}

#[test]
fn three_sites_kills_and_database_restarts_rate_each_file_once() {
    let pg = Pg::start();
    let url = pg.create_db();
    let mut daemons: Vec<Daemon> = (0..3).map(|i| site_daemon(&url, &format!("site{i}"))).collect();
    for d in &mut daemons {
        d.start();
    }
    let rounds = 20;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for r in 0..rounds {
        let content = round_file(r);
        let first = next(3);
        let second = (first + 1 + next(2)) % 3;
        daemons[first].drop_file(&format!("round{r}.csv"), &content);
        daemons[second].drop_file(&format!("copy{r}.csv"), &content);
        std::thread::sleep(Duration::from_millis(150 + 50 * next(4) as u64));
        if r % 3 == 1 {
            let victim = next(3);
            daemons[victim].kill9();
            daemons[victim].start();
        }
        if r == 7 || r == 14 {
            pg.restart();
        }
    }
    wait_for("every file rated or archived", Duration::from_secs(90), || daemons.iter().all(|d| pending(d) == 0));
    let archived: usize = daemons.iter().map(|d| d.files_in("spool/archive").len()).sum();
    assert_eq!(archived, 2 * rounds, "both copies of each file archived");
    let (spend, mut ids) = rated(&daemons);
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((total, ids.len()), (12 * rounds, 12 * rounds), "every call rated exactly once overall");
    let ledger = PgLedger::open(connect::target(&url, None).unwrap(), "reader").unwrap();
    let stored: BTreeMap<String, i64> = ledger
        .all_customer_days()
        .unwrap()
        .into_iter()
        .map(|(c, days)| (c, days.days.values().map(|d| d.units).sum()))
        .filter(|(_, units)| *units != 0)
        .collect();
    assert_eq!(stored, spend, "each customer's spend is the sum of the rated outputs of all sites");
    let mut alerts = Vec::new();
    for (i, d) in daemons.iter().enumerate() {
        for line in std::fs::read_to_string(d.path("spool/alerts.jsonl")).unwrap_or_default().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            // Each alert names the site that raised it.
            assert_eq!(v["site"], format!("site{i}"), "{line}");
            if v["type"] == "ids_threshold" {
                alerts.push((v["customer_id"].to_string(), v["day"].to_string(), v["level"].as_u64().unwrap()));
            }
        }
    }
    let distinct: BTreeSet<_> = alerts.iter().cloned().collect();
    assert!(!alerts.is_empty(), "the rounds cross IDS levels");
    assert_eq!(alerts.len(), distinct.len(), "each alert level logged once overall: {alerts:?}");
    let mut db = Pg::client(&url);
    let levels: i64 = db.query_one("SELECT count(*) FROM alert_levels WHERE rule = 'ids'", &[]).unwrap().get(0);
    assert_eq!(levels as usize, distinct.len(), "the alert levels of the store are the ones logged");
    for d in &mut daemons {
        assert_eq!(d.stop().0, Some(0));
    }
}

#[test]
fn files_wait_while_the_database_is_down_and_are_rated_once_it_is_back() {
    let pg = Pg::start();
    let url = pg.create_db();
    let mut d = site_daemon(&url, "ams1");
    d.start();
    wait_for("store up", Duration::from_secs(10), || d.metric("cdr_rater_store_up") == 1.0);
    pg.halt();
    d.drop_file("while-down.csv", &round_file(1));
    wait_for("store down", Duration::from_secs(20), || d.metric("cdr_rater_store_up") == 0.0);
    assert!(d.metric("cdr_rater_store_errors_total") >= 1.0);
    assert_eq!(d.files_in("spool/rated").len(), 0);
    pg.resume();
    let started = std::time::Instant::now();
    while pending(&d) != 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "file not rated; log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(d.metric("cdr_rater_store_up"), 1.0);
    let (_, ids) = rated(std::slice::from_ref(&d));
    assert_eq!(ids.len(), 12, "rated once");
    // SIGTERM while the database is down: a clean exit.
    pg.halt();
    d.drop_file("second.csv", &round_file(2));
    wait_for("store down", Duration::from_secs(20), || d.metric("cdr_rater_store_up") == 0.0);
    assert_eq!(d.stop().0, Some(0));
}
