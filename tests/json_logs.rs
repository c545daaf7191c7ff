//! `cdr-rater run --log-format json`: every log line is one JSON object, and
//! every count, size and duration in it is a JSON number (a log pipeline can
//! sum and compare them without parsing strings). Money amounts stay strings:
//! they are exact decimals, which a JSON number (a binary float to most
//! readers) would not keep.

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::{free_port, repo, scrape, spawn_daemon_with, wait_for, TEST_NOW};
use serde_json::{Map, Value};

/// Fields holding money: exact decimals, logged as strings on purpose.
const MONEY_FIELDS: [&str; 2] = ["spend", "threshold"];

/// Four rows, one of each fate, on the day of [`TEST_NOW`]: C0006 (IDS range 0)
/// spends on its first day (an IDS alert), C0001 calls from 2099 (rated and
/// flagged), a row with a bad start time (rejected), a customer nobody knows
/// (unrated).
const ROWS: &str = "call_id,start_time,account,caller,callee,billsec\n\
a1,2026-11-25T09:00:00+01:00,C0006,0201234501,0201234567,600\n\
a2,2099-01-01T09:00:00+01:00,C0001,0201234501,0044201234567,60\n\
a3,not-a-time,C0001,0201234501,0201234567,60\n\
a4,2026-11-25T09:05:00+01:00,C9999,0201234501,0201234567,60\n";

/// The `fields` of every log line whose message is `message`.
fn lines_with<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Map<String, Value>> {
    lines
        .iter()
        .filter_map(|l| l["fields"].as_object())
        .filter(|f| f.get("message").and_then(Value::as_str) == Some(message))
        .collect()
}

/// `fields[name]` as an unsigned JSON number (fails on a string, a float or a missing field).
fn uint(fields: &Map<String, Value>, name: &str) -> u64 {
    fields.get(name).and_then(Value::as_u64).unwrap_or_else(|| panic!("{name} is not a JSON integer in {fields:?}"))
}

/// True for text a reader would take for a number: `12`, `-3`, `0.121`.
fn looks_numeric(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty() && !frac.is_empty() && (int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
}

#[test]
fn json_log_lines_hold_numbers_as_json_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = free_port();
    fs::write(
        root.join("cdr-rater.toml"),
        format!(
            "rates = \"{}\"\nsettle_ms = 300\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
            repo().join("rates").display()
        ),
    )
    .unwrap();
    for d in ["spool/incoming", "spool/.tmp", "staging"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    // A leftover of an "interrupted run": the start-up logs how many it removed.
    fs::write(root.join("spool/.tmp/.old.rated.csv.1.tmp"), "x").unwrap();
    let daemon = spawn_daemon_with(root, port, &["--log-format", "json"], &[("CDR_RATER_NOW", TEST_NOW)]);
    fs::write(root.join("staging/traffic.csv"), ROWS).unwrap();
    fs::rename(root.join("staging/traffic.csv"), root.join("spool/incoming/traffic.csv")).unwrap();
    let log = || fs::read_to_string(root.join("daemon.log")).unwrap();
    wait_for("the file rated", Duration::from_secs(20), || log().contains("\"file rated\""));
    // A reload logs the prefix count again, as a reload.
    let pid = daemon.0.id().to_string();
    assert!(Command::new("kill").args(["-s", "HUP", &pid]).status().unwrap().success());
    wait_for("the reload logged", Duration::from_secs(20), || log().contains("\"reload\":true"));
    let metrics = scrape(port).expect("scrape");
    drop(daemon);

    let text = log();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l:?}")))
        .collect();

    let rated = lines_with(&lines, "file rated");
    assert_eq!(rated.len(), 1, "{text}");
    let f = rated[0];
    for (name, want) in [("rows", 4), ("rated", 2), ("unrated", 1), ("rejected", 1), ("skipped", 0), ("flagged", 1)] {
        assert_eq!(uint(f, name), want, "{name} in {f:?}");
    }
    let seconds = f["seconds"].as_f64().unwrap_or_else(|| panic!("seconds is not a JSON number: {f:?}"));
    assert!(f["seconds"].is_number() && (0.0..60.0).contains(&seconds), "{f:?}");
    // Rounded to milliseconds: short in the human format too.
    assert!(((seconds * 1000.0).round() - seconds * 1000.0).abs() < 1e-6, "seconds {seconds} not in ms");

    let flagged = lines_with(&lines, "calls with implausible start times rated (check the switch clock)");
    assert_eq!(flagged.len(), 1, "{text}");
    assert_eq!((uint(flagged[0], "start_in_future"), uint(flagged[0], "start_in_past")), (1, 0));

    let loaded = lines_with(&lines, "tariff tables in force");
    assert_eq!(loaded.len(), 2, "start-up and reload: {text}");
    // The same count the metric reports.
    let gauge: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cdr_rater_tariff_prefixes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no cdr_rater_tariff_prefixes in\n{metrics}"));
    for (f, reload) in loaded.iter().zip([false, true]) {
        assert_eq!(uint(f, "prefixes"), gauge, "{f:?}");
        assert_eq!(f["reload"], Value::Bool(reload), "{f:?}");
    }

    let removed = lines_with(&lines, "removed output temp files of an interrupted run");
    assert_eq!(removed.len(), 1, "{text}");
    assert_eq!(uint(removed[0], "removed"), 1);

    let ids = lines_with(&lines, "IDS alert: daily spend above the customer's range");
    assert_eq!(ids.len(), 1, "{text}");
    assert_eq!(uint(ids[0], "level"), 1, "{:?}", ids[0]);
    assert!(ids[0]["late"].is_boolean() && ids[0]["warm_up"].is_boolean(), "{:?}", ids[0]);
    for money in MONEY_FIELDS {
        let v = ids[0][money].as_str().unwrap_or_else(|| panic!("{money} must stay an exact decimal string"));
        assert!(looks_numeric(v) && v.contains('.'), "{money} = {v:?}");
    }

    // No other field anywhere holds a number as a string.
    for line in &lines {
        for (name, value) in line["fields"].as_object().unwrap() {
            if let Some(s) = value.as_str() {
                assert!(
                    MONEY_FIELDS.contains(&name.as_str()) || !looks_numeric(s),
                    "{name} = {s:?} is a number logged as a string in {line}"
                );
            }
        }
    }
}

#[test]
fn looks_numeric_tells_numbers_from_other_text() {
    for n in ["0", "12", "-3", "0.121", "3450"] {
        assert!(looks_numeric(n), "{n}");
    }
    for s in ["", "-", "1.", ".5", "x.csv", "2026-11-25", "15d83553", "127.0.0.1:9464", "1e3"] {
        assert!(!looks_numeric(s), "{s}");
    }
}
