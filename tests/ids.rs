//! IDS through the real binary (`rate --ids`, one process per file, so the
//! state's survival across restarts is exercised by every step), with a
//! tariff whose prices are easy to add up: 1.00 per minute, per second.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";

fn setup(dir: &Path) {
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
         S,Steady,s@example.nl,flat,15.00,\n\
         J,Jumper,j@example.nl,flat,15.00,\n\
         O,Off,o@example.nl,flat,,\n\
         Z,Zero,z@example.nl,flat,0,\n\
         N,Newcomer,n@example.nl,flat,3.00,\n\
         Y,New York,y@example.nl,flat,100.00,America/New_York\n",
    )
    .unwrap();
    // CDR_RATER_TEST_STORE=postgres: `rate --ids` and `ids` on a database of their own.
    fs::write(dir.join("cdr-rater.toml"), common::pg::store_section("test")).unwrap();
}

/// Runs `rate --ids` on one file with "now" fixed.
fn rate_ids(dir: &Path, name: &str, rows: &[String], now: &str) -> std::process::Output {
    let path = dir.join("in").join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, format!("{HEADER}{}", rows.join(""))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(dir)
        .env("CDR_RATER_NOW", now)
        .args(["rate", "--ids", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A call of `seconds` (= seconds/60 euros) at local time `at`.
fn call(id: &str, at: &str, customer: &str, seconds: u32) -> String {
    format!("{id},{at},{customer},0201234567,0201234568,{seconds}\n")
}

fn alerts(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("spool/alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn day(n: u32) -> String {
    // Day 1 = 2026-09-01; 40 days end on 2026-10-10.
    let d = cdr_rater::timefmt::days_from_civil(2026, 9, 1) + i64::from(n) - 1;
    cdr_rater::timefmt::format_day(d)
}

fn ids_view(dir: &Path, day: &str, now: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(dir)
        .env("CDR_RATER_NOW", now)
        .args(["ids", "--json", "--day", day])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn customer<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["customers"].as_array().unwrap().iter().find(|c| c["customer_id"] == id).unwrap()
}

#[test]
fn forty_days_of_spend_with_hand_computed_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    for n in 1..=40 {
        let date = day(n);
        let now = format!("{date}T21:59:00Z"); // 23:59 in Amsterdam (CEST): not late
        let mut rows = Vec::new();
        // S: 10.00 every day (600 s). Never alerts.
        rows.push(call(&format!("s{n}"), &format!("{date} 09:00:00"), "S", 600));
        // O: IDS off, spends wildly.
        rows.push(call(&format!("o{n}"), &format!("{date} 09:00:00"), "O", 60 * n * 100));
        // J: 10.00 a day for 30 days, then day 31: ten calls of 5.00, out of order in the file.
        if n <= 30 {
            rows.push(call(&format!("j{n}"), &format!("{date} 10:00:00"), "J", 600));
        } else if n == 31 {
            for k in (1..=10).rev() {
                rows.push(call(&format!("j31-{k}"), &format!("{date} 10:{k:02}:00"), "J", 300));
            }
        }
        // Z: range 0. 10.00 a day; day 25 adds one second (10.0167): above the mean.
        rows.push(call(&format!("z{n}"), &format!("{date} 11:00:00"), "Z", if n == 25 { 601 } else { 600 }));
        // N: new on day 35 with two calls of 2.00: 4.00 > its range of 3.00.
        if n == 35 {
            rows.push(call("n1", &format!("{date} 12:00:00"), "N", 120));
            rows.push(call("n2", &format!("{date} 12:30:00"), "N", 120));
        }
        rate_ids(d, &format!("day{n:02}.csv"), &rows, &now);
    }
    let all = alerts(d);
    let by = |c: &str| all.iter().filter(|a| a["customer_id"] == c).collect::<Vec<_>>();
    assert!(by("S").is_empty(), "steady customer alerted: {:?}", by("S"));
    assert!(by("O").is_empty(), "IDS off but alerted");

    // J on day 31: baseline = 28 days of 10.00 = 10.0000; range 15.00.
    // Levels at > 25, > 40, > 70 (50.00 in all that day, so not level 3).
    // Cumulative in start-time order: 5, 10, 15, 20, 25, 30 (> 25: level 1 at j31-6),
    // 35, 40, 45 (> 40: level 2 at j31-9), 50.
    let j = by("J");
    let got: Vec<(u64, &str, &str, &str)> = j
        .iter()
        .map(|a| {
            (
                a["level"].as_u64().unwrap(),
                a["trigger_call_id"].as_str().unwrap(),
                a["spend"].as_str().unwrap(),
                a["level_threshold"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(1, "j31-6", "30.0000", "25.0000"), (2, "j31-9", "45.0000", "40.0000")]);
    for a in &j {
        assert_eq!(a["baseline"], "10.0000");
        assert_eq!(a["threshold"], "25.0000");
        assert_eq!(a["range"], "15.0000");
        assert_eq!(a["day"], day(31));
        assert_eq!(a["warm_up"], false);
        assert_eq!(a["late"], false);
        assert_eq!(a["currency"], "EUR");
        assert_eq!(a["file"], "day31.csv");
        // The site only on the shared store: embedded alert lines are unchanged.
        assert_eq!(a.get("site"), common::pg::on_postgres().then(|| serde_json::json!("test")).as_ref());
    }
    assert_eq!(j[0]["calls"], 6);

    // Z (range 0): once on its first day (above an empty history, in warm-up), and once on
    // day 25: 10.0167 > mean 10.0000. Equal spend on the other days is not above the mean.
    let z = by("Z");
    assert_eq!(z.len(), 2, "{z:?}");
    assert_eq!((z[0]["day"].as_str().unwrap(), z[0]["warm_up"].as_bool().unwrap()), (day(1).as_str(), true));
    assert_eq!((z[1]["day"].as_str().unwrap(), z[1]["spend"].as_str().unwrap()), (day(25).as_str(), "10.0167"));
    assert_eq!((z[1]["baseline"].as_str().unwrap(), z[1]["warm_up"].as_bool().unwrap()), ("10.0000", false));

    // N: brand new, alerts at its range on its first day, in warm-up.
    let nn = by("N");
    assert_eq!(nn.len(), 1);
    assert_eq!((nn[0]["trigger_call_id"].as_str().unwrap(), nn[0]["spend"].as_str().unwrap()), ("n2", "4.0000"));
    assert_eq!((nn[0]["baseline"].as_str().unwrap(), nn[0]["warm_up"].as_bool().unwrap()), ("0.0000", true));

    // More spend for J on day 31 (21.00: 71.00 in all): level 3 (> 70) only, never a level twice.
    rate_ids(
        d,
        "day31b.csv",
        &[call("j31-x", &format!("{} 18:00:00", day(31)), "J", 1260)],
        &format!("{}T21:00:00Z", day(31)),
    );
    let j = by_after(d, "J");
    assert_eq!(j.iter().map(|a| a["level"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!((j[2]["spend"].as_str().unwrap(), j[2]["late"].as_bool().unwrap()), ("71.0000", false));

    // A late CDR: "now" is day 40; a big call on day 38 updates day 38 and alerts late.
    let late_now = format!("{}T21:00:00Z", day(40));
    rate_ids(d, "late.csv", &[call("s-late", &format!("{} 08:00:00", day(38)), "S", 1200)], &late_now);
    let s = by_after(d, "S");
    assert_eq!(s.len(), 1);
    assert_eq!((s[0]["day"].as_str().unwrap(), s[0]["late"].as_bool().unwrap()), (day(38).as_str(), true));
    assert_eq!(s[0]["spend"], "30.0000"); // 10.00 + 20.00 > 10.00 + 15.00 (level 1), not > 40
    let view = ids_view(d, &day(38), &late_now);
    assert_eq!(customer(&view, "S")["spend"], "30.0000");
    assert_eq!(customer(&view, "S")["baseline"], "10.0000");
    assert_eq!(customer(&view, "S")["threshold"], "25.0000");
    assert_eq!(customer(&view, "S")["excess"], "5.0000");
    // The month so far (billing usage): October's ten days of 10.00 and the late 20.00.
    assert_eq!(customer(&view, "S")["month"], "120.0000");

    // Retention: no customer keeps more than two windows of days (plus today).
    let snapshot: Value = serde_json::from_slice(&fs::read(d.join("state/ids.json")).unwrap()).unwrap();
    for (id, c) in snapshot["customers"].as_object().unwrap() {
        assert!(c["days"].as_object().unwrap().len() <= 2 * 28 + 1, "{id} keeps too many days");
    }
    assert!(snapshot["customers"]["O"].is_null(), "IDS-off customers are not tracked");

    // The same file again is refused: spend is never counted twice.
    let again = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(d)
        .env("CDR_RATER_NOW", &late_now)
        .args(["rate", "--ids", d.join("in/late.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in the ledger"));
    assert_eq!(customer(&ids_view(d, &day(38), &late_now), "S")["spend"], "30.0000");
}

fn by_after(dir: &Path, c: &str) -> Vec<Value> {
    alerts(dir).into_iter().filter(|a| a["customer_id"] == c).collect()
}

#[test]
fn customer_days_follow_their_zone_across_midnight_and_dst() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // Each batch with "now" the day after, so the days are inside the window.
    let spend =
        |day: &str, c: &str, now: &str| customer(&ids_view(d, day, now), c)["spend"].as_str().unwrap().to_string();
    // Amsterdam, spring forward (a 23-hour day).
    let now = "2026-03-30T12:00:00Z";
    rate_ids(
        d,
        "spring.csv",
        &[
            call("a1", "2026-03-29 01:59:59", "S", 60),
            call("a2", "2026-03-29 03:00:00", "S", 60),
            call("a3", "2026-03-29 23:59:59", "S", 60),
            call("a4", "2026-03-30 00:00:00", "S", 60),
        ],
        now,
    );
    assert_eq!(spend("2026-03-29", "S", now), "3.0000");
    assert_eq!(spend("2026-03-30", "S", now), "1.0000");
    // Amsterdam, fall back (a 25-hour day): 02:30 happens twice, both on the 25th.
    let now = "2026-10-26T12:00:00Z";
    rate_ids(
        d,
        "autumn.csv",
        &[
            call("b1", "2026-10-25 02:30:00", "S", 120),
            call("b2", "2026-10-25T02:30:00+01:00", "S", 120),
            call("b3", "2026-10-25 23:59:59", "S", 120),
            call("b4", "2026-10-26 00:00:00", "S", 120),
        ],
        now,
    );
    assert_eq!(spend("2026-10-25", "S", now), "6.0000");
    assert_eq!(spend("2026-10-26", "S", now), "2.0000");
    // A New York customer: 03:00 in Amsterdam is 21:00 the day before in New York.
    let now = "2026-11-25T12:00:00Z";
    rate_ids(
        d,
        "ny.csv",
        &[call("y1", "2026-11-25 03:00:00", "Y", 180), call("y2", "2026-11-25 07:00:00", "Y", 180)],
        now,
    );
    assert_eq!(spend("2026-11-24", "Y", now), "3.0000");
    assert_eq!(spend("2026-11-25", "Y", now), "3.0000");
}

#[test]
fn ids_refuses_what_it_cannot_account_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // No state yet: a clear error, exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(d)
        .args(["ids", "--day", "2026-11-24"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no IDS state"), "{}", String::from_utf8_lossy(&out.stderr));
    // Standard input has no content identity to keep it from being applied twice.
    let out =
        Command::new(env!("CARGO_BIN_EXE_cdr-rater")).current_dir(d).args(["rate", "--ids", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs files"));
    // A bad day is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(d)
        .args(["ids", "--day", "2026-02-30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn the_trigger_call_follows_start_then_line_and_a_future_call_counts_at_now() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // 11:00 in Amsterdam.
    let now = "2026-11-25T10:00:00Z";
    let rows = [
        // N (range 3.00, new): y and x start in the same second; the line
        // decides: 1.00 (w, earlier but last in the file), 3.00 (y), 5.00 (x).
        call("y", "2026-11-25 09:00:00", "N", 120),
        call("x", "2026-11-25 09:00:00", "N", 120),
        // S (range 15.00, new): "soon" starts half an hour after now (not
        // flagged), "fut" in 2029 (flagged): it counts today, at now, so
        // before "soon": 10.00 (fut), 20.00 (soon).
        call("soon", "2026-11-25 11:30:00", "S", 600),
        call("fut", "2029-11-28 10:00:00", "S", 600),
        call("w", "2026-11-25 08:00:00", "N", 60),
    ];
    rate_ids(d, "ties.csv", &rows, now);
    let all = alerts(d);
    let got: Vec<(&str, u64, &str, &str, u64, &str)> = all
        .iter()
        .map(|a| {
            (
                a["customer_id"].as_str().unwrap(),
                a["level"].as_u64().unwrap(),
                a["trigger_call_id"].as_str().unwrap(),
                a["spend"].as_str().unwrap(),
                a["calls"].as_u64().unwrap(),
                a["day"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("S", 1, "soon", "20.0000", 2, "2026-11-25"), ("N", 1, "x", "5.0000", 3, "2026-11-25")]);
    for a in &all {
        assert_eq!(a["late"], false);
        assert_eq!(a["warm_up"], true);
    }
    // Spend per country up to the trigger: every call is to the Netherlands.
    assert_eq!(all[0]["top_destinations"], serde_json::json!([{"country": "NL", "spend": "20.0000"}]));
    assert_eq!(all[1]["top_destinations"], serde_json::json!([{"country": "NL", "spend": "5.0000"}]));
}
