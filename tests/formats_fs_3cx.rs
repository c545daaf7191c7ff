//! The FreeSWITCH and 3CX formats through the real binary, on the sample
//! drops in `samples/freeswitch/` and `samples/3cx/`, rated against
//! `tests/fixtures/flat-rates/`: every destination sells at 1.00 per minute,
//! billed per second (1/1), no start fee, prices to 2 decimals, so
//! `sell = billsec / 60` rounded to cents (and buy = half of it).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::str::FromStr;

use common::{cdr_rater, outputs, read_csv, repo};
use rust_decimal::Decimal;

fn flat_config() -> PathBuf {
    repo().join("tests/fixtures/flat-rates/cdr-rater.toml")
}

fn sample(path: &str) -> String {
    repo().join("samples").join(path).to_str().unwrap().to_string()
}

/// `cdr-rater rate --config CFG --out OUT EXTRA... FILE` in the repository root.
fn rate(config: &Path, out: &Path, extra: &[&str], file: &str) -> Output {
    let mut args = vec!["rate", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(file);
    let run = cdr_rater(&repo(), &args);
    assert!(run.status.success(), "{args:?}: {}", String::from_utf8_lossy(&run.stderr));
    run
}

/// The summary line of a run (on stdout or stderr).
fn summary(run: &Output) -> String {
    let mut text = String::from_utf8_lossy(&run.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&run.stderr));
    text
}

/// Rated rows by call id (header dropped), each as column name -> value.
fn rated_by_id(rated: &[Vec<String>]) -> HashMap<String, HashMap<String, String>> {
    let header = &rated[0];
    rated[1..]
        .iter()
        .map(|row| {
            let cols: HashMap<String, String> = header.iter().cloned().zip(row.iter().cloned()).collect();
            (cols["call_id"].clone(), cols)
        })
        .collect()
}

/// Rejected or unrated rows as (line, reason).
fn reasons(rows: &[Vec<String>]) -> Vec<(u64, String)> {
    rows[1..].iter().map(|r| (r[0].parse().unwrap(), r[1].clone())).collect()
}

fn counts(out: &Path, stem: &str) -> (usize, usize, usize) {
    let [rated, unrated, rejected] = outputs(out, stem);
    (rated.len() - 1, unrated.len() - 1, rejected.len() - 1)
}

#[test]
fn freeswitch_a_legs() {
    let dir = tempfile::tempdir().unwrap();
    let run = rate(
        &flat_config(),
        dir.path(),
        &["--format", "freeswitch", "--customer", "C0001"],
        &sample("freeswitch/a-legs.csv"),
    );
    assert!(
        summary(&run)
            .contains("9 rows, 7 rated, 1 unrated (unknown_customer 1), 1 rejected (bad_start_time 1), 0 skipped"),
        "{}",
        summary(&run)
    );
    let [rated, unrated, rejected] = outputs(dir.path(), "a-legs");
    assert_eq!(reasons(&unrated), [(8, "unknown_customer".to_string())]);
    assert_eq!(reasons(&rejected), [(9, "bad_start_time".to_string())]);
    let by_id = rated_by_id(&rated);
    let row = |n: u32| &by_id[&format!("6f1c2a90-0b1e-4c55-9d0e-1a2b3c4d5e{n:02}")];
    // (uuid suffix, number (empty for internal), billsec, sell = billsec/60 to cents, buy = half)
    for (n, number, billsec, sell, buy) in [
        (1, "31201239876", "125", "2.08", "1.04"), // 125/60 = 2.0833; 62.5/60 = 1.0417
        (2, "31612345678", "61", "1.02", "0.51"),  // 61/60 = 1.0167; 0.5083
        (3, "442079460000", "30", "0.50", "0.25"), // +44...: account C0002
        (4, "", "20", "0.00", "0.00"),             // *97: feature code
        (5, "", "45", "0.00", "0.00"),             // 1003: extension
        (6, "31201239876", "0", "0.00", "0.00"),   // NO_ANSWER
        (7, "31201239876", "60", "1.00", "0.50"),  // no accountcode
    ] {
        let r = row(n);
        assert_eq!((r["number"].as_str(), r["billsec"].as_str()), (number, billsec), "row {n}");
        assert_eq!((r["sell"].as_str(), r["buy"].as_str()), (sell, buy), "row {n}");
    }
    assert_eq!(row(1)["customer_id"], "C0001");
    assert_eq!(row(3)["customer_id"], "C0002");
    assert_eq!(row(3)["country"], "GB");
    assert_eq!(row(1)["caller"], "0201234501");
    assert_eq!(row(1)["start_time"], "2026-11-24T09:00:00+01:00");
}

#[test]
fn freeswitch_legs_ab_rates_the_a_leg_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ab.toml");
    let rates = repo().join("tests/fixtures/flat-rates");
    std::fs::write(
        &config,
        format!(
            "rates = {:?}\nprice_decimals = 2\nformat = \"freeswitch\"\n\n[freeswitch]\nlegs = \"ab\"\n",
            rates.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = dir.path().join("ab");
    let run = rate(&config, &out, &["--customer", "C0001"], &sample("freeswitch/ab-legs.csv"));
    assert!(summary(&run).contains("7 rows, 3 rated, 0 unrated, 0 rejected, 4 skipped"), "{}", summary(&run));
    let [rated, _, _] = outputs(&out, "ab-legs");
    let by_id = rated_by_id(&rated);
    let sells: Vec<(&str, &str)> = ["01", "02", "03"]
        .iter()
        .map(|n| {
            let r = &by_id[&format!("d5e2a8b4-3c19-4f67-8e20-9a1b2c3d4e{n}")];
            (r["billsec"].as_str(), r["sell"].as_str())
        })
        .collect();
    // The a-legs: 125 s national, 61 s mobile, 45 s to extension 1003.
    assert_eq!(sells, [("125", "2.08"), ("61", "1.02"), ("45", "0.00")]);

    // The same file read as a-legs only (FreeSWITCH's default) bills every
    // leg: the b-leg of the national call a second time, and the b-leg of the
    // internal call names accountcode 1003, which is no customer.
    let out = dir.path().join("a");
    let run = rate(
        &flat_config(),
        &out,
        &["--format", "freeswitch", "--customer", "C0001"],
        &sample("freeswitch/ab-legs.csv"),
    );
    assert!(
        summary(&run).contains("7 rows, 6 rated, 1 unrated (unknown_customer 1), 0 rejected, 0 skipped"),
        "{}",
        summary(&run)
    );

    // The sample configuration says the same.
    let out = dir.path().join("sample-config");
    let run = cdr_rater(
        &repo(),
        &[
            "rate",
            "--config",
            &sample("freeswitch/cdr-rater.toml"),
            "--customer",
            "C0001",
            "--out",
            out.to_str().unwrap(),
            &sample("freeswitch/ab-legs.csv"),
        ],
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(summary(&run).contains("7 rows, 3 rated, 0 unrated, 0 rejected, 4 skipped"), "{}", summary(&run));
}

#[test]
fn freeswitch_spreadsheet_resave() {
    let dir = tempfile::tempdir().unwrap();
    let run = rate(
        &flat_config(),
        dir.path(),
        &["--format", "freeswitch", "--customer", "C0001"],
        &sample("freeswitch/spreadsheet.csv"),
    );
    assert!(summary(&run).contains("5 rows, 5 rated, 0 unrated, 0 rejected, 0 skipped"), "{}", summary(&run));
    let [rated, _, _] = outputs(dir.path(), "spreadsheet");
    let by_id = rated_by_id(&rated);
    let row = |n: u32| &by_id[&format!("3c8e51f2-18a4-11f1-9a11-3b7c2d0e{n:04}")];
    // (row, start, number, billsec, sell)
    for (n, start, number, billsec, sell) in [
        (1, "2026-03-05T09:01:00+01:00", "", "12", "0.00"), // &echo: originate to an application
        (2, "2026-03-05T09:07:00+01:00", "31201239876", "125", "2.08"),
        (3, "2026-03-05T09:15:00+01:00", "", "0", "0.00"), // unanswered, to 1002
        (4, "2026-03-05T14:30:00+01:00", "31612345678", "61", "1.02"),
        // 02:30 does not exist on 29 March (clocks go 02:00 -> 03:00): moved forward by the gap.
        (5, "2026-03-29T03:30:00+02:00", "31201239876", "10", "0.17"), // 10/60 = 0.1667
    ] {
        let r = row(n);
        let got = (r["start_time"].as_str(), r["number"].as_str(), r["billsec"].as_str(), r["sell"].as_str());
        assert_eq!(got, (start, number, billsec, sell), "row {n}");
    }
}

#[test]
fn three_cx_log() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample("3cx/cdr.csv");
    let run = rate(&flat_config(), dir.path(), &["--format", "3cx", "--customer", "C0001"], &file);
    assert!(
        summary(&run).contains("14 rows, 12 rated, 0 unrated, 2 rejected (bad_billsec 1, bad_record 1), 0 skipped"),
        "{}",
        summary(&run)
    );
    let [rated, _, rejected] = outputs(dir.path(), "cdr");
    // Line 7 is a header someone added; Call 510 ends before it was answered.
    assert_eq!(reasons(&rejected), [(7, "bad_record".to_string()), (11, "bad_billsec".to_string())]);
    let by_id = rated_by_id(&rated);
    let row = |n: u32| &by_id[&format!("0000019A3F2C11B0_{n}")];
    // (call, callee, number, kind, billsec, sell)
    for (n, callee, number, kind, billsec, sell) in [
        // 09:00:05 -> 09:05:12 = 307 s; 307/60 = 5.1167
        (501, "0201234567", "31201234567", "fixed", "307", "5.12"),
        // the duration column says 36 s; answer to end is 37 s: 0.6167
        (502, "0612345678", "31612345678", "mobile", "37", "0.62"),
        (503, "00442079460000", "442079460000", "fixed", "125", "2.08"),
        (504, "Ext.202", "", "internal", "65", "0.00"),
        // inbound, transferred to Ext.205 (final-number)
        (505, "Ext.205", "", "internal", "200", "0.00"),
        // not answered
        (506, "0301234567", "31301234567", "fixed", "0", "0.00"),
        // inbound, forwarded out to a mobile (final-number): 95/60 = 1.5833
        (507, "0687654321", "31687654321", "mobile", "95", "1.58"),
        // ReplacedSrc: Ext.206 handed the call to Ext.207, the callee stays connected: 181/60 = 3.0167
        (508, "0207654321", "31207654321", "fixed", "181", "3.02"),
        // routed to 3CX's EndCall: the PBX ended it itself
        (509, "EndCall", "", "internal", "6", "0.00"),
        (511, "Ext.201", "", "internal", "45", "0.00"),
        (512, "0201234567", "31201234567", "fixed", "1", "0.02"),
        (513, "0612345678", "31612345678", "mobile", "0", "0.00"),
    ] {
        let r = row(n);
        let got = (r["callee"].as_str(), r["number"].as_str(), r["kind"].as_str(), r["billsec"].as_str());
        assert_eq!(got, (callee, number, kind, billsec), "call {n}");
        assert_eq!(r["sell"], sell, "call {n}");
        assert_eq!(r["customer_id"], "C0001", "call {n}");
    }
    assert_eq!(row(501)["caller"], "Ext.201");
    assert_eq!(row(501)["start_time"], "2026-11-24T09:00:00+01:00");

    // Every row 3CX priced itself (bill-rate 1 per minute) costs what 3CX says.
    let input = read_csv(Path::new(&file));
    let mut priced = 0;
    for row in input.iter().filter(|r| r[0].starts_with("Call ") && !r[17].is_empty()) {
        assert_eq!(row[16], "1", "{row:?}");
        let Some(r) = by_id.get(&row[1]) else { panic!("{} not rated", row[1]) };
        assert_eq!(Decimal::from_str(&r["sell"]).unwrap(), Decimal::from_str(&row[17]).unwrap(), "{row:?}");
        priced += 1;
    }
    assert_eq!(priced, 7);

    // Without a default customer, an Ext. caller names no customer; a caller
    // in a number block does (0205551234 -> 3120555 -> C0002).
    let out = dir.path().join("no-customer");
    let run = rate(&flat_config(), &out, &["--format", "3cx"], &file);
    assert!(
        summary(&run).contains(
            "14 rows, 1 rated, 11 unrated (unknown_customer 11), 2 rejected (bad_billsec 1, bad_record 1), 0 skipped"
        ),
        "{}",
        summary(&run)
    );
    let [rated, unrated, _] = outputs(&out, "cdr");
    assert_eq!(rated[1][rated[0].iter().position(|c| c == "customer_id").unwrap()], "C0002");
    assert!(reasons(&unrated).iter().all(|(_, reason)| reason == "unknown_customer"));
}

#[test]
fn three_cx_v20_row() {
    let dir = tempfile::tempdir().unwrap();
    let run = rate(&flat_config(), dir.path(), &["--format", "3cx", "--customer", "C0001"], &sample("3cx/cdr-v20.csv"));
    assert!(summary(&run).contains("1 rows, 1 rated, 0 unrated, 0 rejected, 0 skipped"), "{}", summary(&run));
    assert_eq!(counts(dir.path(), "cdr-v20"), (1, 0, 0));
    let [rated, _, _] = outputs(dir.path(), "cdr-v20");
    let r = &rated_by_id(&rated)["5d1e0c7a33b2f6e1_40117"];
    // 14:01:09 -> 14:01:35 = 26 s; 26/60 = 0.4333, the row's bill-cost 0.43.
    let got = (r["number"].as_str(), r["country"].as_str(), r["billsec"].as_str(), r["sell"].as_str());
    assert_eq!(got, ("46701234567", "SE", "26", "0.43"));
}

#[test]
fn a_bad_3cx_field_order_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let rates = repo().join("tests/fixtures/flat-rates");
    std::fs::write(
        &config,
        format!(
            "rates = {:?}\nformat = \"3cx\"\n\n[3cx]\nfields = [\"historyid\", \"callid\", \"callid\", \"time-start\", \"colour\"]\n",
            rates.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = cdr_rater(
        &repo(),
        &["rate", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap(), &sample("3cx/cdr.csv")],
    );
    assert_eq!(run.status.code(), Some(2), "{}", summary(&run));
    let err = String::from_utf8_lossy(&run.stderr);
    for want in [
        "3cx.fields: \"callid\" is listed twice",
        "3cx.fields: unknown field \"colour\"",
        "3cx.fields: lacks time-answered",
        "3cx.fields: lacks time-end",
        "3cx.fields: lacks from-no",
        "3cx.fields: lacks to-no",
    ] {
        assert!(err.contains(want), "missing {want:?} in {err}");
    }
    assert!(!out.join("rated").exists(), "nothing is rated with a refused configuration");
}
