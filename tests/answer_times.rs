//! Answer times through the real binary, one small file per format: an
//! answered call, an unanswered one (empty answer: "not recorded", rated),
//! one answered a second before its start (clock skew: kept) and one whose
//! answer time is garbage (rejected as `bad_answer_time`). Plus Asterisk
//! `dst` dialplan names (`s`, `ch1`), rated internal.
//!
//! The rated file does not show the answer time; these tests pin which rows
//! are rated, rejected and why, and what they cost on the flat tariff of
//! `tests/fixtures/flat-rates/` (1.00 per minute, per second: sell =
//! billsec / 60 in cents).

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{cdr_rater, outputs, repo};

/// What one run gave.
struct Run {
    /// Summary line(s): stdout and stderr.
    log: String,
    /// Rated rows by call id, each as column name -> value.
    rated: HashMap<String, HashMap<String, String>>,
    /// Rejected rows as (line, reason).
    rejected: Vec<(String, String)>,
}

impl Run {
    /// Asserts a rated call's (kind, billsec, sell).
    fn priced(&self, id: &str, kind: &str, billsec: &str, sell: &str) {
        let row = self.rated.get(id).unwrap_or_else(|| panic!("{id} is not rated: {}", self.log));
        assert_eq!(
            (row["kind"].as_str(), row["billsec"].as_str(), row["sell"].as_str()),
            (kind, billsec, sell),
            "{id}"
        );
    }
}

/// Rates `content` as file `name` with `format`, the flat tariff, customer
/// C0001 for rows without an account, and `extra` config lines (a `[custom]`
/// layout).
fn rate(dir: &Path, format: &str, extra: &str, name: &str, content: &str) -> Run {
    let rates = repo().join("tests/fixtures/flat-rates");
    let config = dir.join("cdr-rater.toml");
    std::fs::write(
        &config,
        format!(
            "rates = {rates:?}\nprice_decimals = 2\ntimezone = \"Europe/Amsterdam\"\nformat = \"{format}\"\n{extra}",
            rates = rates.to_str().unwrap()
        ),
    )
    .unwrap();
    let input = dir.join(name);
    std::fs::write(&input, content).unwrap();
    let out = dir.join("out");
    let args = ["rate", "--config", config.to_str().unwrap(), "--customer", "C0001", "--out", out.to_str().unwrap()];
    let mut args = args.to_vec();
    args.push(input.to_str().unwrap());
    let run = cdr_rater(dir, &args);
    let mut log = String::from_utf8_lossy(&run.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{log}");
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let [rated, _, rejected] = outputs(&out, stem);
    let header = &rated[0];
    let rated = rated[1..]
        .iter()
        .map(|row| {
            let cols: HashMap<String, String> = header.iter().cloned().zip(row.iter().cloned()).collect();
            (cols["call_id"].clone(), cols)
        })
        .collect();
    let rejected = rejected[1..].iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    Run { log, rated, rejected }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn generic_answer_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = "call_id,start_time,answer_time,account,caller,callee,billsec\n\
        g1,2026-11-24 09:00:00,2026-11-24 09:00:05,C0001,0201234501,0201234567,61\n\
        g2,2026-11-24 09:05:00,,C0001,0201234501,0201234567,0\n\
        g3,2026-11-24 09:10:00,2026-11-24T08:09:59Z,C0001,0201234501,0201234567,30\n\
        g4,2026-11-24 09:15:00,09:15:05,C0001,0201234501,0201234567,30\n";
    let run = rate(dir.path(), "generic", "", "calls.csv", file);
    assert!(run.log.contains("4 rows, 3 rated, 0 unrated, 1 rejected (bad_answer_time 1), 0 skipped"), "{}", run.log);
    run.priced("g1", "fixed", "61", "1.02");
    run.priced("g2", "fixed", "0", "0.00");
    run.priced("g3", "fixed", "30", "0.50");
    assert_eq!(run.rated["g3"]["start_time"], "2026-11-24T09:10:00+01:00");
    assert_eq!(run.rejected, pairs(&[("5", "bad_answer_time")]));
    // Without the column, the same rows (minus the bad one) rate alike.
    let file = "call_id,start_time,account,caller,callee,billsec\n\
        g1,2026-11-24 09:00:00,C0001,0201234501,0201234567,61\n";
    let run = rate(dir.path(), "generic", "", "plain.csv", file);
    run.priced("g1", "fixed", "61", "1.02");
}

/// An Asterisk Master.csv row: `dst`, `start`, `answer` (raw, quote it), billsec.
fn asterisk_row(id: &str, dst: &str, start: &str, answer: &str, billsec: u32) -> String {
    format!(
        "\"\",\"0201234501\",\"{dst}\",\"from-internal\",\"\"\"Desk\"\" <0201234501>\",\"SIP/201-01\",\"SIP/kpn-02\",\
         \"Dial\",\"SIP/kpn,60\",\"{start}\",{answer},\"2026-11-24 10:00:00\",{billsec},{billsec},\"ANSWERED\",\
         \"DOCUMENTATION\",\"{id}\",\"\",\"\",\"{id}\",0\n"
    )
}

#[test]
fn asterisk_answer_column_and_dialplan_names() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        asterisk_row("a1", "0201234567", "2026-11-24 09:00:00", "\"2026-11-24 09:00:05\"", 61),
        asterisk_row("a2", "0201234567", "2026-11-24 09:05:00", "", 0),
        asterisk_row("a3", "0201234567", "2026-11-24 09:10:00", "\"2026-11-24 09:09:59\"", 30),
        asterisk_row("a4", "0201234567", "2026-11-24 09:15:00", "\"2026-11-24 25:00:00\"", 30),
        asterisk_row("a5", "s", "2026-11-24 09:20:00", "\"2026-11-24 09:20:00\"", 12),
        asterisk_row("a6", "ch1", "2026-11-24 09:25:00", "", 0),
        asterisk_row("a7", "+31 20 123 4567", "2026-11-24 09:30:00", "\"2026-11-24 09:30:01\"", 60),
        asterisk_row("a8", "*97", "2026-11-24 09:35:00", "\"2026-11-24 09:35:01\"", 5),
        asterisk_row("a9", "x0201234567", "2026-11-24 09:40:00", "", 0),
    ];
    let run = rate(dir.path(), "asterisk", "", "Master.csv", &rows.concat());
    assert!(
        run.log.contains("9 rows, 7 rated, 0 unrated, 2 rejected (bad_answer_time 1, bad_callee 1), 0 skipped"),
        "{}",
        run.log
    );
    run.priced("a1", "fixed", "61", "1.02");
    run.priced("a2", "fixed", "0", "0.00");
    run.priced("a3", "fixed", "30", "0.50");
    run.priced("a5", "internal", "12", "0.00");
    run.priced("a6", "internal", "0", "0.00");
    run.priced("a7", "fixed", "60", "1.00");
    run.priced("a8", "internal", "5", "0.00");
    assert_eq!(run.rated["a5"]["callee"], "s");
    assert_eq!(run.rejected, pairs(&[("4", "bad_answer_time"), ("9", "bad_callee")]));
}

#[test]
fn freeswitch_answer_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let row = |id: &str, start: &str, answer: &str, billsec: u32| {
        format!(
            "\"Desk\",\"0201234501\",\"0201234567\",\"default\",\"{start}\",\"{answer}\",\"2026-11-24 10:00:00\",\
             \"{billsec}\",\"{billsec}\",\"NORMAL_CLEARING\",\"{id}\",\"\",\"C0001\",\"PCMA\",\"PCMA\"\n"
        )
    };
    let file = [
        row("f1", "2026-11-24 09:00:00", "2026-11-24 09:00:05", 61),
        row("f2", "2026-11-24 09:05:00", "", 0),
        row("f3", "2026-11-24 09:10:00", "2026-11-24 09:09:59", 30),
        row("f4", "2026-11-24 09:15:00", "2026/11/24 9:15", 30),
        row("f5", "2026-11-24 09:20:00", "answered", 30),
    ]
    .concat();
    let run = rate(dir.path(), "freeswitch", "", "a-legs.csv", &file);
    assert!(run.log.contains("5 rows, 4 rated, 0 unrated, 1 rejected (bad_answer_time 1), 0 skipped"), "{}", run.log);
    run.priced("f1", "fixed", "61", "1.02");
    run.priced("f2", "fixed", "0", "0.00");
    run.priced("f3", "fixed", "30", "0.50");
    run.priced("f4", "fixed", "30", "0.50");
    assert_eq!(run.rejected, pairs(&[("5", "bad_answer_time")]));
}

#[test]
fn three_cx_time_answered() {
    let dir = tempfile::tempdir().unwrap();
    let row = |n: u32, start: &str, answered: &str, end: &str| {
        format!(
            "Call {n},id-{n},00:01:01,{start},{answered},{end},TerminatedBySrc,Ext.201,0201234567,201,10001,\
             0201234567,,,,,1,0.00,default,Chain: Ext.201;0201234567;,Internal,External,External,a,b,c,\n"
        )
    };
    let file = [
        row(1, "2026/11/24 09:00:00", "2026/11/24 09:00:05", "2026/11/24 09:01:06"),
        row(2, "2026/11/24 09:05:00", "", "2026/11/24 09:05:20"),
        row(3, "2026/11/24 09:10:00", "2026/11/24 09:09:59", "2026/11/24 09:10:29"),
        row(4, "2026/11/24 09:15:00", "09:15:05", "2026/11/24 09:16:00"),
    ]
    .concat();
    let run = rate(dir.path(), "3cx", "", "cdr.csv", &file);
    assert!(run.log.contains("4 rows, 3 rated, 0 unrated, 1 rejected (bad_answer_time 1), 0 skipped"), "{}", run.log);
    // billsec = time-end - time-answered.
    run.priced("id-1", "fixed", "61", "1.02");
    run.priced("id-2", "fixed", "0", "0.00");
    run.priced("id-3", "fixed", "30", "0.50");
    assert_eq!(run.rejected, pairs(&[("4", "bad_answer_time")]));
}

#[test]
fn cucm_date_time_connect() {
    let dir = tempfile::tempdir().unwrap();
    // 1795507200 = 2026-11-24 08:00:00 UTC.
    let file = "\"cdrRecordType\",\"globalCallID_callId\",\"dateTimeOrigination\",\"callingPartyNumber\",\
        \"finalCalledPartyNumber\",\"dateTimeConnect\",\"dateTimeDisconnect\",\"pkid\",\"duration\"\n\
        INTEGER,INTEGER,INTEGER,VARCHAR(50),VARCHAR(50),INTEGER,INTEGER,UNIQUEIDENTIFIER,INTEGER\n\
        1,1,1795507200,\"0201234501\",\"0201234567\",1795507205,1795507266,\"c1\",61\n\
        1,2,1795507500,\"0201234501\",\"0201234567\",0,1795507520,\"c2\",0\n\
        1,3,1795507800,\"0201234501\",\"0201234567\",1795507799,1795507829,\"c3\",30\n\
        1,4,1795508100,\"0201234501\",\"0201234567\",17955O8105,1795508160,\"c4\",55\n";
    let run = rate(dir.path(), "cucm", "", "cdr_x_01_202611240900_1", file);
    assert!(run.log.contains("4 rows, 3 rated, 0 unrated, 1 rejected (bad_answer_time 1), 0 skipped"), "{}", run.log);
    run.priced("c1", "fixed", "61", "1.02");
    run.priced("c2", "fixed", "0", "0.00");
    run.priced("c3", "fixed", "30", "0.50");
    assert_eq!(run.rated["c1"]["start_time"], "2026-11-24T08:00:00Z");
    assert_eq!(run.rejected, pairs(&[("6", "bad_answer_time")]));
}

#[test]
fn custom_answer_beside_billsec_and_with_end() {
    let dir = tempfile::tempdir().unwrap();
    let layout = "[custom]\ndelimiter = \";\"\ncall_id = \"id\"\n\
        start = { column = \"start\", format = \"%d.%m.%Y %H:%M:%S\" }\n\
        answer = { column = \"answered\", format = \"%d.%m.%Y %H:%M:%S\" }\n\
        caller = \"from\"\ncallee = \"to\"\nbillsec = \"secs\"\n";
    let file = "id;from;to;start;answered;secs\n\
        k1;0201234501;0201234567;24.11.2026 09:00:00;24.11.2026 09:00:05;61\n\
        k2;0201234501;0201234567;24.11.2026 09:05:00;;0\n\
        k3;0201234501;0201234567;24.11.2026 09:10:00;24.11.2026 09:09:59;30\n\
        k4;0201234501;0201234567;24.11.2026 09:15:00;24.11.2026;30\n";
    let run = rate(dir.path(), "custom", layout, "pbx.csv", file);
    assert!(run.log.contains("4 rows, 3 rated, 0 unrated, 1 rejected (bad_answer_time 1), 0 skipped"), "{}", run.log);
    run.priced("k1", "fixed", "61", "1.02");
    run.priced("k2", "fixed", "0", "0.00");
    run.priced("k3", "fixed", "30", "0.50");
    assert_eq!(run.rejected, pairs(&[("5", "bad_answer_time")]));
    // answer + end: billsec = end - answer; a bad answer is named as such.
    let layout = "[custom]\nheader = false\ncall_id = 0\ncaller = 1\ncallee = 2\n\
        start = { column = 3, format = \"%s\" }\nanswer = { column = 4, format = \"%s\" }\n\
        end = { column = 5, format = \"%s\" }\n";
    let file = "e1,0201234501,0201234567,1795507200,1795507205,1795507266\n\
        e2,0201234501,0201234567,1795507500,0,1795507520\n\
        e3,0201234501,0201234567,1795507800,1795507799,1795507829\n\
        e4,0201234501,0201234567,1795508100,x,1795508160\n\
        e5,0201234501,0201234567,1795508400,1795508410,1795508405\n";
    let run = rate(dir.path(), "custom", layout, "span.csv", file);
    assert!(
        run.log.contains("5 rows, 3 rated, 0 unrated, 2 rejected (bad_answer_time 1, bad_billsec 1), 0 skipped"),
        "{}",
        run.log
    );
    run.priced("e1", "fixed", "61", "1.02");
    run.priced("e2", "fixed", "0", "0.00");
    run.priced("e3", "fixed", "30", "0.50");
    assert_eq!(run.rejected, pairs(&[("4", "bad_answer_time"), ("5", "bad_billsec")]));
}
