//! The fraud rules in a real `cdr-rater run`: every alert in the log and at
//! the hook, `cdr_rater_fraud_alerts_total{type}`, rules reloaded with the
//! tables (a bad `fraud.toml` refused, the old rules kept), and a kill -9
//! loop with the rules on that loses and doubles no alert.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::daemon::Daemon;
use common::wait_for;
use serde_json::Value;

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";

/// `n` calls of `customer` starting one second apart at `at` (RFC 3339, whole minute).
fn burst(prefix: &str, customer: &str, at: &str, n: usize) -> String {
    let base = at.trim_end_matches("00Z");
    (0..n).map(|i| format!("{prefix}-{i},{base}{i:02}Z,{customer},0201234501,0201234567,10,ANSWERED\n")).collect()
}

fn log_alerts(d: &Daemon) -> Vec<Value> {
    fs::read_to_string(d.path("spool/alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|a| a["type"] != "ids_threshold")
        .collect()
}

#[test]
fn alerts_reach_log_hook_and_metrics_and_rules_reload_with_the_tables() {
    let mut d = Daemon::with_config("reload_settle_ms = 300");
    fs::write(d.path("rates/fraud.toml"), "[velocity]\ncalls_per_minute = 3\n").unwrap();
    d.start();
    for rule in ["high_risk_destination", "velocity_calls", "velocity_countries", "call_cost", "night_spend"] {
        let series = format!("cdr_rater_fraud_alerts_total{{type=\"{rule}\"}}");
        assert_eq!(d.metric(&series), 0.0, "{series} exported at 0");
    }
    d.drop_file("b1.csv", &format!("{HEADER}{}", burst("b1", "C0001", "2026-11-24T09:00:00Z", 4)));
    wait_for("the first alert", Duration::from_secs(20), || log_alerts(&d).len() == 1);
    let a = &log_alerts(&d)[0];
    assert_eq!((a["type"].as_str(), a["customer_id"].as_str()), (Some("velocity_calls"), Some("C0001")));
    assert_eq!((a["rule"]["limit"].as_u64(), a["trigger_call_id"].as_str()), (Some(3), Some("b1-3")));
    wait_for("the metric", Duration::from_secs(5), || {
        d.metric("cdr_rater_fraud_alerts_total{type=\"velocity_calls\"}") == 1.0
    });
    wait_for("the hook", Duration::from_secs(10), || {
        fs::read_to_string(d.path("hook.out")).is_ok_and(|h| h.contains("\"velocity_calls\""))
    });
    assert!(d.log().contains("fraud rules in force"), "{}", d.log());
    // A bad version is refused whole: the old limit (3) stays in force.
    fs::write(d.path("rates/fraud.toml"), "[velocity]\ncalls_per_minute = 3\ncalls_per_hour = 9\n").unwrap();
    wait_for("the refused reload", Duration::from_secs(20), || {
        d.metric("cdr_rater_tariff_reloads_total{result=\"error\"}") == 1.0
    });
    assert!(d.log().contains("unknown key \"calls_per_hour\""), "{}", d.log());
    d.drop_file("b2.csv", &format!("{HEADER}{}", burst("b2", "C0002", "2026-11-24T09:00:00Z", 4)));
    wait_for("the old rule", Duration::from_secs(20), || log_alerts(&d).len() == 2);
    // A good version is taken: 10 a minute.
    fs::write(d.path("rates/fraud.toml"), "[velocity]\ncalls_per_minute = 10\n").unwrap();
    wait_for("the reload", Duration::from_secs(20), || {
        d.metric("cdr_rater_tariff_reloads_total{result=\"ok\"}") == 1.0
    });
    d.drop_file("b3.csv", &format!("{HEADER}{}", burst("b3", "C0003", "2026-11-24T09:00:00Z", 10)));
    d.drop_file("b4.csv", &format!("{HEADER}{}", burst("b4", "C0004", "2026-11-24T09:00:00Z", 11)));
    wait_for("both files", Duration::from_secs(20), || d.files_in("spool/archive").len() == 4);
    let got: Vec<(String, u64)> = log_alerts(&d)
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap().to_string(), a["rule"]["limit"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, [("C0001".to_string(), 3), ("C0002".to_string(), 3), ("C0004".to_string(), 10)]);
    assert_eq!(d.stop().0, Some(0));
}

/// The files of the kill loop: bursts split over four files each (a
/// window completed by whichever arrives last), high-risk and expensive
/// night calls, countries gathered over many files, and bulk rows (on a
/// day too old to judge: they make a file take time, not alerts).
fn loop_file(k: usize, bulk: usize) -> String {
    let mut out = String::from(HEADER);
    let group = k / 4;
    let customer = format!("C{:04}", group % 10 + 1);
    let day = 22 + group % 3;
    // 8 calls in one minute from each of the group's four files: 32 > 30.
    let minute = format!("2026-11-{day}T{:02}:{:02}:00Z", 8 + group / 60, group % 60);
    let base = minute.trim_end_matches("00Z");
    for i in 0..8 {
        out.push_str(&format!("v{k}-{i},{base}{:02}Z,{customer},0201234501,0612345678,5,ANSWERED\n", (k % 4) * 8 + i));
    }
    if k % 5 == 0 {
        let c = format!("C{:04}", k % 10 + 1);
        out.push_str(&format!("hr{k},2026-11-24T14:00:{:02}Z,{c},0201234501,+881612345678,20,ANSWERED\n", k % 60));
    }
    if k % 7 == 0 {
        // 02:00 in Amsterdam: an hour to a satellite phone, above max_cost and the night limit.
        out.push_str(&format!(
            "night{k},2026-11-23T01:{:02}:00Z,C0006,0201234501,+881612345670,3600,ANSWERED\n",
            k % 60
        ));
    }
    let countries = ["44", "49", "33", "32", "34", "39", "41", "43", "45", "46", "47", "48"];
    let cc = countries[k % countries.len()];
    out.push_str(&format!("cty{k},2026-11-23T03:{:02}:00Z,C0005,0201234501,+{cc}201234567,30,ANSWERED\n", k % 60));
    for i in 0..bulk {
        let secs = (k * 7919 + i * 104_729) % 86_400;
        let c = format!("C{:04}", i % 10 + 1);
        out.push_str(&format!(
            "bulk{k}-{i},2026-11-21T{:02}:{:02}:{:02}Z,{c},0201234501,0201234567,30,ANSWERED\n",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ));
    }
    out
}

/// (customer, type, day) of the fraud alerts of a log, with their counts.
fn fired(log: &Path) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for line in fs::read_to_string(log).unwrap_or_default().lines() {
        let a: Value = serde_json::from_str(line).expect("a whole JSON line");
        if a["type"] == "ids_threshold" {
            continue;
        }
        let key = (
            a["customer_id"].as_str().unwrap().into(),
            a["type"].as_str().unwrap().into(),
            a["day"].as_str().unwrap().into(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

#[test]
fn kill_9_with_fraud_rules_on_loses_and_doubles_no_alert() {
    let mut d = Daemon::new();
    let mut rng = cdr_rater::generate::Rng::new(17);
    let mut contents = Vec::new();
    let mut k = 0;
    for round in 0..24 {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.start())).is_err() {
            panic!("round {round}: {}", d.log());
        }
        for _ in 0..3 {
            let content = loop_file(k, [20, 2_000, 20_000][rng.below(3) as usize]);
            d.drop_file(&format!("k{k:03}.csv"), &content);
            contents.push(content);
            k += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        d.kill9();
        if round % 5 == 0 {
            let content = loop_file(k, 50);
            d.drop_file(&format!("k{k:03}.csv"), &content);
            contents.push(content);
            k += 1;
        }
    }
    d.start();
    wait_for("all files", Duration::from_secs(180), || d.files_in("spool/archive").len() == k);
    assert_eq!(d.stop().0, Some(0));
    let got = fired(&d.path("spool/alerts.jsonl"));
    let doubled: Vec<_> = got.iter().filter(|(_, &n)| n > 1).collect();
    assert!(doubled.is_empty(), "alerts logged twice: {doubled:?}");

    // The same files once, in order, through `rate --ids` on a fresh state:
    // which (customer, rule, day) fire does not depend on the order.
    let reference = tempfile::tempdir().unwrap();
    common::copy_dir(&d.path("rates"), &reference.path().join("rates"));
    let mut paths = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        let p = reference.path().join(format!("k{i:03}.csv"));
        fs::write(&p, c).unwrap();
        paths.push(p.to_string_lossy().into_owned());
    }
    let mut args = vec!["rate", "--ids", "--out", "out"];
    args.extend(paths.iter().map(String::as_str));
    let out = common::cdr_rater_at(reference.path(), "2026-11-24T20:00:00Z", &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = fired(&reference.path().join("spool/alerts.jsonl"));
    let types: BTreeSet<&str> = want.keys().map(|k| k.1.as_str()).collect();
    assert_eq!(types.len(), 5, "the traffic trips every rule: {types:?}");
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "lost: {missing:?}\nnot expected: {extra:?}");
    // The states committed with the files are the reference's (night spend
    // of a fired night differs with the order it was reached in).
    let states = |l: &dyn cdr_rater::state::Ledger| {
        let mut all = l.all_fraud_states().unwrap();
        for (_, s) in &mut all {
            for m in s.days.values_mut() {
                if m.fired & cdr_rater::fraud::Rule::NightSpend.bit() != 0 {
                    m.night_units = 0;
                }
            }
        }
        all
    };
    // The daemon's store (its database under CDR_RATER_TEST_STORE=postgres);
    // the reference's `rate --ids` ran on the embedded store.
    let reference_store = cdr_rater::state::RedbLedger::open(&reference.path().join("state/ledger.redb")).unwrap();
    assert_eq!(states(d.ledger().as_ref()), states(&reference_store));
}
