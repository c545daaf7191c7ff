//! The fraud rules of SPEC §14 through the real binary: golden alerts
//! computed by hand for every rule, with the window edges (exactly the
//! limit does not fire, one more does), a late call completing a window of
//! earlier files, an override silencing a burst, the order rule (a file's
//! calls by start, then line); `check` and `rate --ids` refusing a bad
//! `fraud.toml`; `ids` showing the alerts; `state rebuild` restoring the
//! state. The daemon's side (metrics, reloads, kill -9) is in
//! `tests/fraud_daemon.rs`.
//!
//! The fixture's plan sells 1.00 a minute billed per second, so a call's
//! sell is billsec / 60 (300 s = 5.0000); the rules: 3 calls a minute, 2
//! foreign countries an hour, 5.00 a call, 2.00 abroad between 00:00 and
//! 06:00, high-risk 881 and 8816; customer B may make 10 calls a minute.

mod common;

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

/// "Now" of every run: 2026-11-24 is the current day in Amsterdam and New York.
const NOW: &str = "2026-11-24T20:00:00Z";
const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";

const FRAUD_TOML: &str = r#"[high_risk]
prefixes = "risky.csv"
[velocity]
calls_per_minute = 3
countries_per_hour = 2
[call]
max_cost = "5.00"
[night]
from = "00:00"
until = "06:00"
international_spend = "2.00"
[customer.B]
calls_per_minute = 10
"#;

/// A rates folder whose prices are easy to add up, with fraud rules.
pub fn setup(dir: &Path) {
    let rates = dir.join("rates");
    fs::create_dir_all(rates.join("plans")).unwrap();
    fs::write(
        rates.join("wholesale.csv"),
        "prefix,destination,country,kind,rate_per_min,connect_fee,increment\n\
         31,Netherlands,NL,fixed,0.5000,,1/1\n44,United Kingdom,GB,fixed,0.5000,,1/1\n\
         49,Germany,DE,fixed,0.5000,,1/1\n1,United States,US,fixed,0.5000,,1/1\n\
         881,Global Mobile Satellite System,XX,other,0.5000,,1/1\n",
    )
    .unwrap();
    fs::write(
        rates.join("plans/flat.toml"),
        "increment = \"1/1\"\n[international]\nper_min = \"1.0000\"\n[domestic]\nper_min = \"1.0000\"\n",
    )
    .unwrap();
    fs::write(
        rates.join("customers.csv"),
        "customer_id,name,email,plan,ids_range,timezone\nA,Alpha,a@example.nl,flat,,\nB,Bravo,b@example.nl,flat,,\n\
         Z,Zulu,z@example.com,flat,,America/New_York\n",
    )
    .unwrap();
    fs::write(rates.join("fraud.toml"), FRAUD_TOML).unwrap();
    fs::write(rates.join("risky.csv"), "# test list\nprefix,reason\n881,Satellite (test)\n8816,Iridium (test)\n")
        .unwrap();
    // CDR_RATER_TEST_STORE=postgres: `rate --ids` on a database of its own.
    fs::write(dir.join("cdr-rater.toml"), common::pg::store_section("test")).unwrap();
}

/// `rate --ids` of one file (written into `in/`) at [`NOW`], outputs in the spool.
fn rate_ids(dir: &Path, name: &str, rows: &[String]) -> std::process::Output {
    let path = dir.join("in").join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, format!("{HEADER}{}", rows.concat())).unwrap();
    let out = common::cdr_rater_at(dir, NOW, &["rate", "--ids", "--out", "spool", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A call of customer `who` at `at` (RFC 3339) to `to`, answered `secs` seconds.
fn call(id: &str, at: &str, who: &str, to: &str, secs: u32) -> String {
    format!("{id},{at},{who},0201234567,{to},{secs}\n")
}

/// A call to the Netherlands (home).
fn home(id: &str, at: &str, who: &str) -> String {
    call(id, at, who, "0201234568", 10)
}

/// The fraud alerts of the log, in order.
fn alerts(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("spool/alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["type"] != "ids_threshold")
        .collect()
}

/// The alert as logged, for comparing whole objects.
fn alert(kind: &str, rule: Value, customer: (&str, &str), day: &str, trigger: &str, file: &str, late: bool) -> Value {
    let mut alert = json!({
        "type": kind,
        "rule": rule,
        "alert_id": format!("{}/{day}/{kind}", customer.0),
        "customer_id": customer.0,
        "customer_name": customer.1,
        "day": day,
        "trigger_call_id": trigger,
        "file": file,
        "emitted_at": NOW,
        "late": late,
    });
    // On the shared store the alert names its site; on the embedded one it has none.
    if common::pg::on_postgres() {
        alert["site"] = json!("test");
    }
    alert
}

const A: (&str, &str) = ("A", "Alpha");
const B: (&str, &str) = ("B", "Bravo");
const Z: (&str, &str) = ("Z", "Zulu");

#[test]
fn velocity_calls_window_edges_and_a_late_call_from_a_later_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // [09:00:00, 09:01:00) holds 3 (exactly the limit); 09:01:00 is in the next window.
    let first = [
        home("a1", "2026-11-24T09:00:00Z", "A"),
        home("a2", "2026-11-24T09:00:10Z", "A"),
        home("a3", "2026-11-24T09:00:20Z", "A"),
        home("a4", "2026-11-24T09:01:00Z", "A"),
    ];
    rate_ids(d, "v1.csv", &first);
    assert_eq!(alerts(d), Vec::<Value>::new());
    // A later file brings 09:00:59: the first window now holds 4.
    rate_ids(d, "v2.csv", &[home("a5", "2026-11-24T09:00:59Z", "A")]);
    let rule =
        json!({"limit": 3, "count": 4, "window_start": "2026-11-24T09:00:00Z", "window_end": "2026-11-24T09:01:00Z"});
    assert_eq!(alerts(d), [alert("velocity_calls", rule, A, "2026-11-24", "a5", "v2.csv", false)]);
}

#[test]
fn the_order_rule_start_then_line_names_the_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let three: Vec<String> = (0..3).map(|i| home(&format!("b{i}"), &format!("2026-11-24T12:00:{i}0Z"), "A")).collect();
    rate_ids(d, "o1.csv", &three);
    // Processing order: p (12:00:30, line 3), q (12:00:30, line 4), q2 (12:00:40, line 2).
    let second = [
        home("q2", "2026-11-24T12:00:40Z", "A"),
        home("p", "2026-11-24T12:00:30Z", "A"),
        home("q", "2026-11-24T12:00:30Z", "A"),
    ];
    rate_ids(d, "o2.csv", &second);
    let got = alerts(d);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["trigger_call_id"], "p");
    assert_eq!(got[0]["rule"]["count"], 4);
}

#[test]
fn an_override_silences_a_burst_and_a_rule_fires_once_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let burst = |who: &str, hour: &str, day: &str| -> Vec<String> {
        (0..5).map(|i| home(&format!("{who}{day}{hour}-{i}"), &format!("2026-11-{day}T{hour}:00:0{i}Z"), who)).collect()
    };
    // Five calls in 5 s: A fires (at the 4th), B (10 a minute) does not.
    let mut rows = burst("A", "08", "24");
    rows.extend(burst("B", "08", "24"));
    // A again the same day: nothing new. A the day before (late): fires for that day.
    rows.extend(burst("A", "11", "24"));
    rows.extend(burst("A", "08", "23"));
    rate_ids(d, "burst.csv", &rows);
    let got: Vec<(String, String, String, bool)> = alerts(d)
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_string();
            (s("customer_id"), s("day"), s("trigger_call_id"), a["late"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("A".to_string(), "2026-11-23".to_string(), "A2308-3".to_string(), true),
            ("A".to_string(), "2026-11-24".to_string(), "A2408-3".to_string(), false),
        ]
    );
}

#[test]
fn velocity_countries_counts_distinct_foreign_countries_within_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let rows = [
        // A: GB and DE (two: the limit), home and internal calls do not count; US at 13:59:59 is the third.
        call("a-gb", "2026-11-24T13:00:00Z", "A", "+442071234567", 10),
        call("a-de", "2026-11-24T13:10:00Z", "A", "+4930123456", 10),
        home("a-nl", "2026-11-24T13:20:00Z", "A"),
        call("a-int", "2026-11-24T13:25:00Z", "A", "201", 10),
        call("a-us", "2026-11-24T13:59:59Z", "A", "+12125551234", 10),
        // B: the same, but US at 14:00:00 is outside [13:00, 14:00) and [13:10, 14:10) holds DE, US only.
        call("b-gb", "2026-11-24T13:00:00Z", "B", "+442071234567", 10),
        call("b-de", "2026-11-24T13:10:00Z", "B", "+4930123456", 10),
        call("b-us", "2026-11-24T14:00:00Z", "B", "+12125551234", 10),
        // B later: GB, an unanswered satellite call (XX counts, unanswered calls count), DE.
        call("b-gb2", "2026-11-24T15:00:00Z", "B", "+442071234567", 10),
        call("b-xx", "2026-11-24T15:10:00Z", "B", "+881612345678", 0),
        call("b-de2", "2026-11-24T15:20:00Z", "B", "+4930123456", 10),
    ];
    rate_ids(d, "countries.csv", &rows);
    let rule = |countries: Value, start: &str, end: &str| json!({"limit": 2, "count": 3, "countries": countries, "window_start": start, "window_end": end});
    assert_eq!(
        alerts(d),
        [
            alert(
                "velocity_countries",
                rule(json!(["DE", "GB", "US"]), "2026-11-24T13:00:00Z", "2026-11-24T14:00:00Z"),
                A,
                "2026-11-24",
                "a-us",
                "countries.csv",
                false
            ),
            alert(
                "velocity_countries",
                rule(json!(["DE", "GB", "XX"]), "2026-11-24T15:00:00Z", "2026-11-24T16:00:00Z"),
                B,
                "2026-11-24",
                "b-de2",
                "countries.csv",
                false
            ),
        ]
    );
}

#[test]
fn call_cost_and_high_risk_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let rows = [
        call("c300", "2026-11-24T10:00:00Z", "A", "0201234568", 300), // 5.0000: the limit
        call("c301", "2026-11-24T10:30:00Z", "A", "0201234568", 301), // 5.0167
        call("h0", "2026-11-24T11:00:00Z", "B", "+881612345678", 0),  // unanswered: not alerted
        call("h1", "2026-11-24T11:30:00Z", "B", "+881612345678", 10), // answered: Iridium
        call("h2", "2026-11-24T11:40:00Z", "B", "+881012345678", 10), // again that day: nothing
    ];
    rate_ids(d, "cost.csv", &rows);
    assert_eq!(
        alerts(d),
        [
            alert(
                "call_cost",
                json!({"limit": "5.00", "sell": "5.0167", "currency": "EUR"}),
                A,
                "2026-11-24",
                "c301",
                "cost.csv",
                false
            ),
            alert(
                "high_risk_destination",
                json!({"prefix": "8816", "reason": "Iridium (test)", "list": "risky.csv", "sell": "0.1667", "currency": "EUR"}),
                B,
                "2026-11-24",
                "h1",
                "cost.csv",
                false
            ),
        ]
    );
}

#[test]
fn night_spend_in_the_customers_local_night() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // Z is in New York (UTC-5 in November).
    let rows = [
        call("n-2330", "2026-11-24T04:30:00Z", "Z", "+442071234567", 120), // 23:30 local on the 23rd: outside
        call("n-0100", "2026-11-24T06:00:00Z", "Z", "+442071234567", 90),  // 01:00: 1.5000
        call("n-0300", "2026-11-24T08:00:00Z", "Z", "0201234568", 120),    // 03:00, domestic: not counted
        call("n-0559", "2026-11-24T10:59:00Z", "Z", "+442071234567", 30),  // 05:59: 2.0000, the limit
        call("n-0600", "2026-11-24T11:00:00Z", "Z", "+442071234567", 60),  // 06:00: outside
        call("n-055959", "2026-11-24T10:59:59Z", "Z", "+442071234567", 1), // 05:59:59: 2.0167
    ];
    rate_ids(d, "night.csv", &rows);
    let rule = json!({"limit": "2.00", "spend": "2.0167", "currency": "EUR", "from": "00:00", "until": "06:00"});
    assert_eq!(alerts(d), [alert("night_spend", rule, Z, "2026-11-24", "n-055959", "night.csv", false)]);
    // `ids` shows it, in text and JSON.
    let out = common::cdr_rater_at(d, NOW, &["ids", "--day", "2026-11-24"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("night_spend") && text.contains("n-055959") && text.contains("2.0167 EUR"), "{text}");
    let out = common::cdr_rater_at(d, NOW, &["ids", "--json", "--day", "2026-11-24"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fraud_alerts"][0]["alert_id"], "Z/2026-11-24/night_spend");
}

#[test]
fn a_bad_fraud_toml_is_refused_by_check_and_rate_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    fs::write(
        d.join("rates/fraud.toml"),
        "[high_risk]\nprefixes = \"risky.csv\"\n[velocity]\ncalls_per_minute = 30\nmax_cost = 20.0\n\
         [customer.Q]\ncalls_per_minute = 1\n",
    )
    .unwrap();
    fs::write(d.join("rates/risky.csv"), "prefix,reason\n881,ok\n88x,bad\n").unwrap();
    let out = common::cdr_rater(d, &["check", "--rates", "rates"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "error: rates/fraud.toml:5: [velocity]: unknown key \"max_cost\"",
        "error: rates/risky.csv:3: prefix \"88x\" is not 1-15 digits",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    // The list fixed: the unknown customer of the override remains.
    fs::write(d.join("rates/risky.csv"), "prefix,reason\n881,ok\n").unwrap();
    fs::write(d.join("rates/fraud.toml"), "[velocity]\ncalls_per_minute = 30\n[customer.Q]\ncalls_per_minute = 1\n")
        .unwrap();
    let out = common::cdr_rater(d, &["check", "--rates", "rates"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error: rates/fraud.toml:3: [customer.Q]: unknown customer \"Q\""), "{text}");
    let path = d.join("x.csv");
    fs::write(&path, format!("{HEADER}{}", home("x", "2026-11-24T10:00:00Z", "A"))).unwrap();
    let out = common::cdr_rater_at(d, NOW, &["rate", "--ids", "--out", "spool", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown customer \"Q\""));
    // Valid again: check prints the rules.
    fs::write(d.join("rates/fraud.toml"), FRAUD_TOML).unwrap();
    fs::write(d.join("rates/risky.csv"), "prefix,reason\n881,ok\n").unwrap();
    let out = common::cdr_rater(d, &["check", "--rates", "rates"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fraud rules         high_risk_destination, velocity_calls, velocity_countries, call_cost, night_spend (1 high-risk prefixes, 1 customer override(s)"), "{text}");
}

#[test]
fn state_rebuild_restores_the_windows_and_the_fired_rules() {
    // Embedded-only: `state rebuild` recreates the embedded ledger file (the
    // shared store is rebuilt by the database's own backups).
    if common::pg::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // A: 3 calls in a window on the 23rd (quiet), a velocity alert on the 24th; Z: night spend 1.50.
    let mut rows: Vec<String> =
        (0..3).map(|i| home(&format!("w{i}"), &format!("2026-11-23T09:00:{i}0Z"), "A")).collect();
    rows.extend((0..4).map(|i| home(&format!("f{i}"), &format!("2026-11-24T11:00:0{i}Z"), "A")));
    rows.push(call("zn", "2026-11-24T06:00:00Z", "Z", "+442071234567", 90));
    rate_ids(d, "r1.csv", &rows);
    assert_eq!(alerts(d).len(), 1);
    let ledger = d.join("state/ledger.redb");
    let before = {
        let l = cdr_rater::state::RedbLedger::open(&ledger).unwrap();
        cdr_rater::state::Ledger::all_fraud_states(&l).unwrap()
    };
    fs::create_dir_all(d.join("spool/archive")).unwrap();
    fs::copy(d.join("in/r1.csv"), d.join("spool/archive/r1.csv")).unwrap();
    let out = common::cdr_rater_at(d, NOW, &["state", "rebuild", "--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("fraud rules: 2 customer state(s) judged again from rated outputs; 1 fired rule(s)"),
        "{text}"
    );
    let after = {
        let l = cdr_rater::state::RedbLedger::open(&ledger).unwrap();
        cdr_rater::state::Ledger::all_fraud_states(&l).unwrap()
    };
    assert_eq!(after, before);
    // The rebuilt windows still count: one more call in A's minute on the 23rd
    // fires; more calls on the 24th (fired already) do not; Z's night goes over 2.00.
    rate_ids(
        d,
        "r2.csv",
        &[
            home("w3", "2026-11-23T09:00:30Z", "A"),
            home("f4", "2026-11-24T11:00:05Z", "A"),
            call("zn2", "2026-11-24T07:00:00Z", "Z", "+442071234567", 31),
        ],
    );
    let got: Vec<(String, String)> = alerts(d)
        .iter()
        .map(|a| (a["type"].as_str().unwrap().to_string(), a["trigger_call_id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("velocity_calls".to_string(), "f3".to_string()),
            ("velocity_calls".to_string(), "w3".to_string()),
            ("night_spend".to_string(), "zn2".to_string()),
        ]
    );
}

mod properties {
    //! The rules' results do not depend on the chunking, the threads or
    //! how the calls are split into files (per file in processing order).

    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    use cdr_rater::formats::{Format, FormatName};
    use cdr_rater::fraud::local::LocalClock;
    use cdr_rater::fraud::{judge_customer, Context, CustomerState, FraudRules, Rule, Scratch, Units};
    use cdr_rater::numbers::Numbering;
    use cdr_rater::pipeline::{rate, Input, Job, MemorySink, RowLimits, Tally};
    use cdr_rater::rating::Rater;
    use cdr_rater::tariff::Tariff;
    use proptest::prelude::*;

    /// The fixture's tariff and rules, loaded once.
    fn tables() -> &'static (Tariff, FraudRules) {
        static T: OnceLock<(Tariff, FraudRules)> = OnceLock::new();
        T.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            super::setup(dir.path());
            let rates = dir.path().join("rates");
            let (t, _) =
                cdr_rater::tariff::load(&rates, "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()).unwrap();
            let rules = cdr_rater::fraud::load(&rates, &t).unwrap().rules.unwrap();
            (t, rules)
        })
    }

    fn numbering() -> &'static Numbering {
        static N: OnceLock<Numbering> = OnceLock::new();
        N.get_or_init(Numbering::default)
    }

    /// 2026-11-24T20:00:00Z.
    const NOW: i64 = 1_796_155_200;

    fn tally(input: &[u8], threads: usize, chunk_bytes: usize) -> Tally {
        let (tariff, rules) = tables();
        let mut limits = RowLimits::lines(1000);
        limits.now = NOW;
        let job = Job {
            name: "prop.csv".into(),
            format: Format::plain(FormatName::Generic).unwrap(),
            rater: Rater { tariff, numbering: numbering(), decimals: 4, default_customer: None },
            timezone: jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
            limits,
            chunk_bytes,
            cancel: None,
            ids: true,
            usage: false,
            fraud: Some(rules),
            pool: None,
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut sink = MemorySink::default();
        pool.install(|| rate(Input::Slice(input.to_vec()), &job, &mut sink, None)).expect("rates")
    }

    /// Judges files one after the other, each customer's state carried on;
    /// returns (customer, rule, day, file, row of the trigger).
    fn judge(files: &[Tally]) -> Vec<(u32, Rule, i64, usize, u64)> {
        let (tariff, rules) = tables();
        let mut states: Vec<CustomerState> = vec![CustomerState::default(); tariff.customers.len()];
        let mut clocks: Vec<LocalClock> = tariff
            .customers
            .iter()
            .map(|c| {
                let zone = c.zone.map_or_else(
                    || jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
                    |z| tariff.zones[usize::from(z)].clone(),
                );
                LocalClock::new(zone)
            })
            .collect();
        let mut scratch = Scratch::default();
        let mut log = cdr_rater::fraud::BatchWriter::default();
        let mut out = Vec::new();
        for (f, t) in files.iter().enumerate() {
            let mut grouped = Vec::new();
            t.fraud.group_into(tariff.customers.len(), &mut grouped);
            for group in grouped.chunk_by(|a, b| a.customer == b.customer) {
                let c = group[0].customer as usize;
                let mut cx = Context {
                    profile: rules.profile(c as u32),
                    clock: &mut clocks[c],
                    now: NOW,
                    latest_start: i64::MAX,
                    home_country: *b"NL",
                    units: Units::of(rules.profile(c as u32), 4),
                };
                for x in judge_customer(&mut cx, &mut states[c], group, &mut scratch, &mut log) {
                    out.push((c as u32, x.rule, x.day, f, group[x.call].at));
                }
            }
        }
        out
    }

    fn row() -> impl Strategy<Value = String> {
        let customer = prop_oneof![Just("A"), Just("B"), Just("Z")];
        let to = prop_oneof![
            Just("0201234568"),
            Just("+442071234567"),
            Just("+4930123456"),
            Just("+12125551234"),
            Just("+881612345678"),
            Just("201"),
        ];
        // From 2026-11-23T22:00Z: bursts of a few minutes, or a night and a day.
        let at = prop_oneof![0i64..300, 0i64..64_000];
        (customer, at, to, prop_oneof![Just(0u32), 1u32..400]).prop_map(|(c, t, to, secs)| {
            let at = jiff::Timestamp::from_second(1_795_993_200 + t).unwrap();
            format!("x,{at},{c},0201234567,{to},{secs}\n")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn alerts_do_not_depend_on_chunks_threads_or_file_split(
            rows in proptest::collection::vec(row(), 1..150),
            chunk in 1usize..2000,
            cuts in proptest::collection::vec(0usize..150, 0..4),
        ) {
            let rows: Vec<String> = rows.iter().enumerate().map(|(i, r)| r.replacen("x,", &format!("c{i},"), 1)).collect();
            let whole = format!("{}{}", super::HEADER, rows.concat());
            let one = tally(whole.as_bytes(), 1, 512 * 1024);
            let many = tally(whole.as_bytes(), 4, chunk);
            prop_assert_eq!(&one.fraud, &many.fraud);
            let single = judge(&[one]);
            prop_assert_eq!(&single, &judge(&[many]));
            // The same rows in consecutive files.
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
            cuts.extend([0, rows.len()]);
            cuts.sort();
            cuts.dedup();
            let files: Vec<Tally> = cuts
                .windows(2)
                .map(|w| tally(format!("{}{}", super::HEADER, rows[w[0]..w[1]].concat()).as_bytes(), 2, chunk))
                .collect();
            let split = judge(&files);
            let fired = |v: &[(u32, Rule, i64, usize, u64)]| v.iter().map(|x| (x.0, x.1, x.2)).collect::<BTreeSet<_>>();
            prop_assert_eq!(fired(&single), fired(&split));
        }
    }
}
