//! IDS alerts leaving the process: every alert of a `rate --ids` reaches the
//! hook before the command exits (hook failures and timeouts on stderr), and
//! an alert's top destinations are the day's spend at the call that crossed.
//! A tariff of 1.00 per minute, per second, to six countries.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";
const NOW: &str = "2026-11-24T20:00:00Z";

/// Tables, customers `K01..K20` (range 1.00) and `R` (range 10.00), and a
/// configuration with `ids` (the `[ids]` keys) in `dir`.
fn setup(dir: &Path, ids: &str) {
    let rates = dir.join("rates");
    fs::create_dir_all(rates.join("plans")).unwrap();
    let mut wholesale = String::from("prefix,destination,country,kind,rate_per_min,connect_fee,increment\n");
    for (prefix, name, country) in [
        ("1", "United States", "US"),
        ("31", "Netherlands", "NL"),
        ("32", "Belgium", "BE"),
        ("33", "France", "FR"),
        ("44", "United Kingdom", "GB"),
        ("49", "Germany", "DE"),
    ] {
        wholesale.push_str(&format!("{prefix},{name},{country},fixed,0.5000,,1/1\n"));
    }
    fs::write(rates.join("wholesale.csv"), wholesale).unwrap();
    fs::write(
        rates.join("plans/flat.toml"),
        "increment = \"1/1\"\n[international]\nper_min = \"1.0000\"\n[domestic]\nper_min = \"1.0000\"\n",
    )
    .unwrap();
    let mut customers =
        String::from("customer_id,name,email,plan,ids_range,timezone\nR,Runaway,r@example.nl,flat,10.00,\n");
    for k in 1..=20 {
        customers.push_str(&format!("K{k:02},Customer {k},k{k}@example.nl,flat,1.00,\n"));
    }
    fs::write(rates.join("customers.csv"), customers).unwrap();
    // CDR_RATER_TEST_STORE=postgres: `rate --ids` on a database of its own.
    fs::write(dir.join("cdr-rater.toml"), format!("[ids]\n{ids}\n{}", common::pg::store_section("test"))).unwrap();
}

/// `rate --ids` of `rows` as file `name`; returns its stderr and wall time.
fn rate_ids(dir: &Path, name: &str, rows: &str) -> (String, Duration) {
    let path = dir.join(name);
    fs::write(&path, format!("{HEADER}{rows}")).unwrap();
    let started = Instant::now();
    let out = common::cdr_rater_at(dir, NOW, &["rate", "--ids", path.to_str().unwrap()]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (stderr, took)
}

fn json_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ids_of(alerts: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts.iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// Twenty customers with no history, each sixteen 1.00 calls on one day:
/// levels 1..4 (above 1, 2, 4, 8) each, 80 alerts.
fn many_alerts() -> String {
    let mut rows = String::new();
    for k in 1..=20 {
        for i in 0..16 {
            rows.push_str(&format!("k{k}-{i},2026-11-24 09:{i:02}:00,K{k:02},0201234567,0201234568,60\n"));
        }
    }
    rows
}

#[test]
fn every_alert_of_rate_ids_reaches_a_slow_hook_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "on_alert = [\"sh\", \"-c\", \"sleep 0.2; cat >> hook.out\"]");
    let (stderr, took) = rate_ids(d, "many.csv", &many_alerts());
    // Read at once: a hook still running after the exit would be missed here.
    let hooked = json_lines(&d.join("hook.out"));
    let logged = json_lines(&d.join("spool/alerts.jsonl"));
    assert_eq!(logged.len(), 80, "{stderr}");
    assert_eq!(ids_of(&hooked), ids_of(&logged), "{stderr}");
    // Each alert once; no hook left to write later.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(json_lines(&d.join("hook.out")).len(), 80);
    assert!(!stderr.contains("alert hook"), "{stderr}");
    // At most a few at once: 80 runs of 0.2 s, four at a time.
    assert!(took > Duration::from_secs(4), "{took:?}: more than 4 hooks at once?");
    eprintln!("80 hook runs of 0.2 s: rate --ids took {took:?}");
}

#[test]
fn rate_ids_logs_each_hook_failure_and_timeout_and_waits_no_longer_than_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Level 1 alerts fail; the others hang until killed after 300 ms.
    setup(
        d,
        "on_alert = [\"sh\", \"-c\", \"if grep -q '\\\"level\\\":1,'; then exit 3; fi; sleep 30\"]\non_alert_timeout_ms = 300",
    );
    let rows: String = many_alerts()
        .lines()
        .filter(|l| l.contains(",K01,") || l.contains(",K02,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (stderr, took) = rate_ids(d, "two.csv", &rows);
    assert_eq!(json_lines(&d.join("spool/alerts.jsonl")).len(), 8);
    assert_eq!(stderr.matches("alert hook failed").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("alert hook timed out and was killed").count(), 6, "{stderr}");
    assert!(stderr.contains("alert K01/2026-11-24/1)"), "{stderr}");
    assert!(stderr.contains("alert hook: 8 of 8 run(s) failed"), "{stderr}");
    // Six timeouts of 0.3 s, four at a time: well under the 30 s the hooks would take.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// An alert's level, trigger call, spend and top destinations.
type Traced<'a> = (u64, &'a str, &'a str, Vec<(&'a str, &'a str)>);

/// A customer day that runs away over one file, after an earlier file of the
/// same day: each alert's top destinations are the day's spend per country
/// up to and including the call that crossed, without internal calls.
#[test]
fn top_destinations_are_the_spend_when_the_alert_fired() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "");
    let call = |id: &str, at: &str, callee: &str, seconds: u32| {
        format!("{id},2026-11-24 {at},R,0201234567,{callee},{seconds}\n")
    };
    // Earlier: 3.00 to NL, below the range of 10.00 (no history: baseline 0).
    rate_ids(d, "morning.csv", &call("r0", "08:00:00", "0201234568", 180));
    assert!(json_lines(&d.join("spool/alerts.jsonl")).is_empty());
    // Levels fire above 10, 20, 40, 80, 160; rows out of start-time order.
    let rows = [
        call("r7", "11:30:00", "0049301234567", 6000), // DE 100.00: 191 (level 5)
        call("r1", "10:00:00", "0044201234567", 600),  // GB 10.00: 13 (level 1)
        call("r2", "10:10:00", "201", 300),            // internal, 0.00
        call("r3", "10:20:00", "0049301234567", 420),  // DE 7.00: 20
        call("r4", "10:30:00", "0033123456789", 60),   // FR 1.00: 21 (level 2)
        call("r5", "10:40:00", "0044201234567", 1200), // GB 20.00: 41 (level 3)
        call("r6", "11:00:00", "0012125551234", 3000), // US 50.00: 91 (level 4)
        call("r8", "12:00:00", "003221234567", 60),    // BE 1.00: 192
    ];
    rate_ids(d, "runaway.csv", &rows.concat());
    let alerts = json_lines(&d.join("spool/alerts.jsonl"));
    let got: Vec<Traced> = alerts
        .iter()
        .map(|a| {
            let top = a["top_destinations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["country"].as_str().unwrap(), t["spend"].as_str().unwrap()))
                .collect();
            (a["level"].as_u64().unwrap(), a["trigger_call_id"].as_str().unwrap(), a["spend"].as_str().unwrap(), top)
        })
        .collect();
    let want: Vec<Traced> = vec![
        (1, "r1", "13.0000", vec![("GB", "10.0000"), ("NL", "3.0000")]),
        (2, "r4", "21.0000", vec![("GB", "10.0000"), ("DE", "7.0000"), ("NL", "3.0000"), ("FR", "1.0000")]),
        (3, "r5", "41.0000", vec![("GB", "30.0000"), ("DE", "7.0000"), ("NL", "3.0000"), ("FR", "1.0000")]),
        (
            4,
            "r6",
            "91.0000",
            vec![("US", "50.0000"), ("GB", "30.0000"), ("DE", "7.0000"), ("NL", "3.0000"), ("FR", "1.0000")],
        ),
        (
            5,
            "r7",
            "191.0000",
            vec![("DE", "107.0000"), ("US", "50.0000"), ("GB", "30.0000"), ("NL", "3.0000"), ("FR", "1.0000")],
        ),
    ];
    assert_eq!(got, want);
    // The general rule on every alert: at most the spend, no internal or empty country.
    for a in &alerts {
        let spend: f64 = a["spend"].as_str().unwrap().parse().unwrap();
        let mut sum = 0.0;
        let mut seen = BTreeMap::new();
        for t in a["top_destinations"].as_array().unwrap() {
            let country = t["country"].as_str().unwrap();
            assert!(country.len() == 2 && country != "--", "{a}");
            assert!(seen.insert(country.to_string(), ()).is_none(), "{a}");
            sum += t["spend"].as_str().unwrap().parse::<f64>().unwrap();
        }
        assert!(sum <= spend + 1e-9, "{a}");
    }
}
