//! Golden tests for tables in time (SPEC §3.5–§3.7): dated versions,
//! periods with split calls, minimum and maximum charges, rounding per plan.
//! The real binary rates generic CDR files against the tables written
//! below; every expected price is computed by hand in the comment beside it.
//!
//! Deck (home NL): `31` NL fixed 0.0100, `316` NL mobile 0.0400, `44` GB
//! fixed 0.0200 (0.0300 from 2026-12-15, when `32` BE fixed 0.0250 is new).
//! Plan `peak` (60/60): holiday 2026-12-25, weekend sat+sun, offpeak
//! mon–fri 19:00–08:00; domestic fixed 0.0600, offpeak 0.0300, weekend
//! 0.0200; international markup 200%, weekend 150%; GB offpeak 0.0250;
//! `[prefix."3120".holiday]` 0.0000. All times Amsterdam unless said.

mod common;

use std::path::Path;

use common::{cdr_rater, outputs};

const SELL: usize = 14;
const PLAN: usize = 3;
const BILLED: usize = 12;
const PERIOD: usize = 17;

const DECK: &str = "prefix,destination,country,kind,rate_per_min,connect_fee,increment
31,Netherlands - Fixed,NL,fixed,0.0100,,1/1
316,Netherlands - Mobile,NL,mobile,0.0400,,1/1
44,United Kingdom - Fixed,GB,fixed,0.0200,,1/1
";

const DECK_DEC15: &str = "prefix,destination,country,kind,rate_per_min,connect_fee,increment
31,Netherlands - Fixed,NL,fixed,0.0100,,1/1
316,Netherlands - Mobile,NL,mobile,0.0400,,1/1
44,United Kingdom - Fixed,GB,fixed,0.0300,,1/1
32,Belgium - Fixed,BE,fixed,0.0250,,1/1
";

const PEAK: &str = r#"increment = "60/60"
[[period]]
name = "holiday"
dates = ["2026-12-25"]
[[period]]
name = "weekend"
days = ["sat", "sun"]
[[period]]
name = "offpeak"
days = ["mon", "tue", "wed", "thu", "fri"]
from = "19:00"
until = "08:00"

[domestic]
fixed_per_min = "0.0600"
mobile_per_min = "0.1200"
markup = "150%"
[domestic.offpeak]
fixed_per_min = "0.0300"
[domestic.weekend]
per_min = "0.0200"

[international]
markup = "200%"
[international.weekend]
markup = "150%"

[country.GB.offpeak]
per_min = "0.0250"

[prefix."3120".holiday]
per_min = "0.0000"
"#;

const FLAT: &str = "increment = \"1/1\"\n[international]\nmarkup = \"200%\"\n[domestic]\nper_min = \"0.0500\"\n";

const LIMITS: &str = r#"increment = "1/1"
[international]
markup = "100%"
max_charge = "1.00"
[domestic]
per_min = "0.0100"
min_charge = "0.0500"
[country.GB]
min_charge = "0.0200"
max_charge = "0.5000"
"#;

fn rounding_plan(mode: &str) -> String {
    format!("increment = \"1/1\"\nrounding = \"{mode}\"\n[international]\nmarkup = \"100%\"\n[domestic]\nper_min = \"0.0003\"\n")
}

const CUSTOMERS: &str = "customer_id,name,email,plan,ids_range,timezone
C1,Peak Customer,,peak,,
C2,Mover,,flat,,
L1,Limits,,limits,,
U1,Up,,up,,
D1,Down,,down,,
H1,Half,,half_away,,
NY,New York,,peak,,America/New_York
";

fn write_tables(dir: &Path) {
    std::fs::create_dir_all(dir.join("plans")).unwrap();
    std::fs::write(dir.join("wholesale.csv"), DECK).unwrap();
    std::fs::write(dir.join("wholesale@2026-12-15.csv"), DECK_DEC15).unwrap();
    std::fs::write(dir.join("plans/peak.toml"), PEAK).unwrap();
    std::fs::write(dir.join("plans/flat.toml"), FLAT).unwrap();
    std::fs::write(dir.join("plans/limits.toml"), LIMITS).unwrap();
    for mode in ["up", "down", "half_away"] {
        std::fs::write(dir.join(format!("plans/{mode}.toml")), rounding_plan(mode)).unwrap();
    }
    std::fs::write(dir.join("customers.csv"), CUSTOMERS).unwrap();
    // C2 moves to plan peak on 2026-12-10.
    std::fs::write(dir.join("customers@2026-12-10.csv"), CUSTOMERS.replace("C2,Mover,,flat", "C2,Mover,,peak"))
        .unwrap();
}

/// Rates `rows` (`id,start,account,callee,billsec`) and returns the rated
/// rows by call id, and the unrated rows.
fn rate(dir: &Path, rows: &[(&str, &str, &str, &str, u32)]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut text = String::from("call_id,start_time,account,caller,callee,billsec\n");
    for (id, start, account, callee, billsec) in rows {
        text.push_str(&format!("{id},{start},{account},0201110000,{callee},{billsec}\n"));
    }
    std::fs::write(dir.join("calls.csv"), text).unwrap();
    let _ = std::fs::remove_dir_all(dir.join("out"));
    let out = cdr_rater(dir, &["rate", "--rates", "rates", "--out", "out", "calls.csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let [rated, unrated, rejected] = outputs(&dir.join("out"), "calls");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    (rated, unrated)
}

fn row<'a>(rated: &'a [Vec<String>], id: &str) -> &'a [String] {
    rated.iter().find(|r| r[0] == id).unwrap_or_else(|| panic!("no rated row {id}"))
}

fn tables() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tables(&dir.path().join("rates"));
    dir
}

#[test]
fn calls_are_cut_at_period_boundaries() {
    let dir = tables();
    let (rated, _) = rate(
        dir.path(),
        &[
            // Tue 18:58, 300 s: 120 s standard at 0.06 + 180 s offpeak at
            // 0.03 = 0.12 + 0.09.
            ("cross19", "2026-12-01T18:58:00+01:00", "C1", "0201234567", 300),
            // 290 s bills 300 (60/60): the extra 10 s go on the last
            // (offpeak) segment: 0.12 + 0.03 × 180/60 = 0.21 (on the first
            // it would be 0.06 × 130/60 + 0.03 × 170/60 = 0.215).
            ("extra", "2026-12-01T18:58:00+01:00", "C1", "0201234567", 290),
            // Fri 23:58, 240 s: 120 s offpeak at 0.03 + 120 s weekend at 0.02.
            ("weekend", "2026-12-04T23:58:00+01:00", "C1", "0201234567", 240),
            // Thu 24 Dec 18:59, 18 120 s: 60 s standard (0.06) + 18 000 s
            // offpeak to midnight (0.03 × 300 min = 9.00) + 60 s holiday at
            // the [prefix."3120".holiday] rate 0 = 9.06.
            ("three", "2026-12-24T18:59:00+01:00", "C1", "0201234567", 18_120),
            // Sun 25 Oct 01:00 CEST + 24 h: the day has 25 hours, so all 24 h
            // are Sunday (weekend, 0.02 × 1440 min = 28.80), none offpeak.
            ("dst", "2026-10-25T01:00:00+02:00", "C1", "0201234567", 86_400),
            // In New York it is Tue 19:30 (Wed 01:30 in Amsterdam): offpeak.
            ("newyork", "2026-12-01T19:30:00-05:00", "NY", "0201234567", 60),
            // International on a weekend: markup 150% of 0.02 = 0.03/min.
            ("intl-weekend", "2026-12-05T12:00:00+01:00", "C1", "+442079460000", 60),
            // [country.GB.offpeak] 0.025 beats [international] 200%.
            ("gb-offpeak", "2026-12-01T20:00:00+01:00", "C1", "+442079460000", 60),
            // Mobile at night: [domestic.offpeak] gives no mobile rate, so
            // the level's own mobile_per_min 0.12 applies.
            ("mobile-night", "2026-12-01T20:00:00+01:00", "C1", "0612345678", 60),
            // Unanswered: 0, in the period of its start.
            ("unanswered", "2026-12-05T12:00:00+01:00", "C1", "0201234567", 0),
        ],
    );
    for (id, sell, billed, period) in [
        ("cross19", "0.2100", "300", "standard+offpeak"),
        ("extra", "0.2100", "300", "standard+offpeak"),
        ("weekend", "0.1000", "240", "offpeak+weekend"),
        ("three", "9.0600", "18120", "standard+offpeak+holiday"),
        ("dst", "28.8000", "86400", "weekend"),
        ("newyork", "0.0300", "60", "offpeak"),
        ("intl-weekend", "0.0300", "60", "weekend"),
        ("gb-offpeak", "0.0250", "60", "offpeak"),
        ("mobile-night", "0.1200", "60", "offpeak"),
        ("unanswered", "0.0000", "0", "weekend"),
    ] {
        let r = row(&rated, id);
        assert_eq!((r[SELL].as_str(), r[BILLED].as_str(), r[PERIOD].as_str()), (sell, billed, period), "{id}");
    }
}

#[test]
fn limits_and_rounding() {
    let dir = tables();
    let (rated, _) = rate(
        dir.path(),
        &[
            // 0.01 × 10/60 = 0.0017, raised to [domestic] min_charge 0.05.
            ("min-domestic", "2026-12-01T12:00:00+01:00", "L1", "0201234567", 10),
            // 0.02 × 10/60 = 0.0033, raised to [country.GB] min_charge 0.02.
            ("min-country", "2026-12-01T12:00:00+01:00", "L1", "+442079460000", 10),
            // 0.02 × 60 = 1.20, lowered to [country.GB] max_charge 0.50.
            ("max-country", "2026-12-01T12:00:00+01:00", "L1", "+442079460000", 3600),
            // BE (from the 15th): 0.025 × 60 = 1.50, lowered to
            // [international] max_charge 1.00 (GB's limits do not apply).
            ("max-intl", "2026-12-16T12:00:00+01:00", "L1", "+3225550000", 3600),
            // Unanswered: no minimum.
            ("min-unanswered", "2026-12-01T12:00:00+01:00", "L1", "0201234567", 0),
            // 0.0003 × 10/60 = 0.00005 exactly: half_away 0.0001, up 0.0001, down 0.
            ("half-up", "2026-12-01T12:00:00+01:00", "U1", "0201234567", 10),
            ("half-down", "2026-12-01T12:00:00+01:00", "D1", "0201234567", 10),
            ("half-half", "2026-12-01T12:00:00+01:00", "H1", "0201234567", 10),
            // 0.0003 × 2/60 = 0.00001: half_away 0, up 0.0001, down 0.
            ("small-up", "2026-12-01T12:00:00+01:00", "U1", "0201234567", 2),
            ("small-down", "2026-12-01T12:00:00+01:00", "D1", "0201234567", 2),
            ("small-half", "2026-12-01T12:00:00+01:00", "H1", "0201234567", 2),
        ],
    );
    for (id, sell) in [
        ("min-domestic", "0.0500"),
        ("min-country", "0.0200"),
        ("max-country", "0.5000"),
        ("max-intl", "1.0000"),
        ("min-unanswered", "0.0000"),
        ("half-up", "0.0001"),
        ("half-down", "0.0000"),
        ("half-half", "0.0001"),
        ("small-up", "0.0001"),
        ("small-down", "0.0000"),
        ("small-half", "0.0000"),
    ] {
        assert_eq!(row(&rated, id)[SELL], sell, "{id}");
    }
    // Two calls were capped: the per-file flag count says so.
    let out = cdr_rater(dir.path(), &["rate", "--rates", "rates", "--out", "out2", "calls.csv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capped 2"), "{err}");
}

#[test]
fn each_call_uses_the_versions_in_force_at_its_start() {
    let dir = tables();
    let (rated, _) = rate(
        dir.path(),
        &[
            // A late CDR for the 14th, rated after the new deck exists: the
            // old deck's 0.02 × 200% = 0.04 per minute; on the 15th 0.06.
            ("old-deck", "2026-12-14T12:00:00+01:00", "C2", "+442079460000", 60),
            ("new-deck", "2026-12-15T12:00:00+01:00", "C2", "+442079460000", 60),
            // BE is only in the new deck.
            ("be-before", "2026-12-14T12:00:00+01:00", "C1", "+3225550000", 60),
            // C2 is on flat (0.05/min domestic) before the 10th, on peak
            // (offpeak 0.03) from it.
            ("flat", "2026-12-08T20:00:00+01:00", "C2", "0201234567", 60),
            ("peak", "2026-12-11T20:00:00+01:00", "C2", "0201234567", 60),
        ],
    );
    let (_, unrated) = rate(dir.path(), &[("be-before", "2026-12-14T12:00:00+01:00", "C1", "+3225550000", 60)]);
    assert_eq!(unrated[1][1], "no_tariff");
    // old-deck is on C2's new plan (peak from the 10th), weekday standard:
    // international markup 200% of the old 0.02 = 0.04.
    assert_eq!(row(&rated, "old-deck")[SELL], "0.0400");
    assert_eq!(row(&rated, "new-deck")[SELL], "0.0600");
    let flat = row(&rated, "flat");
    assert_eq!((flat[PLAN].as_str(), flat[SELL].as_str(), flat[PERIOD].as_str()), ("flat", "0.0500", "standard"));
    let peak = row(&rated, "peak");
    assert_eq!((peak[PLAN].as_str(), peak[SELL].as_str(), peak[PERIOD].as_str()), ("peak", "0.0300", "offpeak"));
}

#[test]
fn nothing_is_in_force_before_the_first_dated_version() {
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates");
    write_tables(&rates);
    std::fs::remove_file(rates.join("wholesale.csv")).unwrap();
    let (rated, unrated) = rate(
        dir.path(),
        &[
            ("before", "2026-12-14T23:59:59+01:00", "C1", "0201234567", 60),
            ("after", "2026-12-15T00:00:00+01:00", "C1", "0201234567", 60),
        ],
    );
    assert_eq!(unrated.len(), 2, "{unrated:?}");
    assert_eq!(unrated[1][1], "no_tariff");
    // Tue 00:00 is offpeak: 0.03 × 1 min.
    assert_eq!(row(&rated, "after")[SELL], "0.0300");
}

#[test]
fn check_lists_versions_and_the_deck_diff() {
    let dir = tables();
    let never = format!(
        "{FLAT}[[period]]\nname = \"sat\"\ndays = [\"sat\"]\n[[period]]\nname = \"late\"\ndays = [\"sat\"]\nfrom = \"10:00\"\nuntil = \"11:00\"\n"
    );
    std::fs::write(dir.path().join("rates/plans/never.toml"), never).unwrap();
    let out = cdr_rater(dir.path(), &["check", "--rates", "rates"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("period \"late\" can never win"), "{text}");
    assert!(text.contains("from 2026-12-15 wholesale@2026-12-15.csv"), "{text}");
    assert!(text.contains("from 2026-12-10 customers@2026-12-10.csv"), "{text}");
    assert!(
        text.contains("wholesale@2026-12-15.csv against wholesale.csv: 1 new, 0 removed, 1 dearer, 0 cheaper"),
        "{text}"
    );
    assert!(text.contains("United Kingdom - Fixed") && text.contains("0.02 -> 0.03 (+50.0%)"), "{text}");
}

#[test]
fn check_refuses_bad_periods_limits_and_plans_not_in_force() {
    let dir = tables();
    let rates = dir.path().join("rates");
    let bad = PEAK
        .replace("[international.weekend]", "[international.weekends]")
        .replace("[domestic]\n", "[domestic]\nmin_charge = \"0.50\"\nmax_charge = \"0.10\"\n");
    std::fs::write(rates.join("plans/peak.toml"), bad).unwrap();
    std::fs::write(rates.join("plans/newplan@2026-12-20.toml"), FLAT).unwrap();
    std::fs::write(rates.join("customers@2026-12-10.csv"), CUSTOMERS.replace("C2,Mover,,flat", "C2,Mover,,newplan"))
        .unwrap();
    let out = cdr_rater(dir.path(), &["check", "--rates", "rates"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("[international]: sub-table [weekends] names no period"), "{text}");
    assert!(text.contains("min_charge 0.50 is above max_charge 0.10"), "{text}");
    assert!(text.contains("plan \"newplan\" is not in force until 2026-12-20"), "{text}");
    assert!(text.contains("customers@2026-12-10.csv:3:"), "{text}");
}

#[test]
fn lookup_at_shows_the_periods_and_their_prices() {
    let dir = tables();
    let out = cdr_rater(
        dir.path(),
        &[
            "lookup",
            "--rates",
            "rates",
            "--customer",
            "C1",
            "--at",
            "2026-12-01 18:58:00",
            "--seconds",
            "300",
            "020 1234567",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("standard      0.06/min from [domestic] fixed_per_min for 120 s"), "{text}");
    assert!(text.contains("offpeak       0.03/min from [domestic] fixed_per_min for 180 s"), "{text}");
    assert!(text.contains("sell          0.2100 EUR"), "{text}");
    // At another date the other deck is in force.
    let out = cdr_rater(
        dir.path(),
        &["lookup", "--rates", "rates", "--plan", "flat", "--at", "2026-12-16T12:00:00+01:00", "+32 2 555 0000"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("wholesale@2026-12-15.csv"), "{text}");
    assert!(text.contains("sell          0.0500 EUR"), "{text}");
}

#[test]
fn talk_time_starts_at_the_answer_time() {
    let dir = tables();
    // Rung at 18:58, answered at 19:00:30, 60 s of talk: all offpeak
    // (0.03 × 1 min); without the answer it would start at 18:58 (standard).
    // An empty answer_time means "not recorded": the start is used.
    let text = "call_id,start_time,answer_time,account,caller,callee,billsec
answered,2026-12-01T18:58:00+01:00,2026-12-01T19:00:30+01:00,C1,0201110000,0201234567,60
unrecorded,2026-12-01T18:58:00+01:00,,C1,0201110000,0201234567,60
";
    std::fs::write(dir.path().join("calls.csv"), text).unwrap();
    let out = cdr_rater(dir.path(), &["rate", "--rates", "rates", "--out", "out", "calls.csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let [rated, _, _] = outputs(&dir.path().join("out"), "calls");
    let answered = row(&rated, "answered");
    assert_eq!((answered[SELL].as_str(), answered[PERIOD].as_str()), ("0.0300", "offpeak"));
    // The call's start time (and its day) stay the start, not the answer.
    assert_eq!(answered[1], "2026-12-01T18:58:00+01:00");
    let unrecorded = row(&rated, "unrecorded");
    assert_eq!((unrecorded[SELL].as_str(), unrecorded[PERIOD].as_str()), ("0.0600", "standard"));
}
