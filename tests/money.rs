//! Money across currencies and margins: `check` warns of prices that sell
//! below cost and of plans in another currency than the deck; `rate`'s
//! summary and the daemon's metrics keep each currency's money apart.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::daemon::{copy_dir, Daemon};
use common::{cdr_rater, read_csv, repo, wait_for};
use rust_decimal::Decimal;

/// Writes `text` to `dir/rel`, creating folders.
fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Lines of `check`'s output starting `warning: FILE:LINE: `.
fn warnings_at(out: &str, file: &Path, line: u32) -> Vec<String> {
    let head = format!("warning: {}:{line}: ", file.display());
    out.lines().filter(|l| l.starts_with(&head)).map(str::to_string).collect()
}

#[test]
fn check_warns_of_losing_prices_and_foreign_currencies() {
    let tmp = tempfile::tempdir().unwrap();
    let rates = tmp.path().join("rates");
    write(
        &rates,
        "wholesale.csv",
        "prefix,destination,country,kind,rate_per_min,connect_fee,increment\n\
         31,Netherlands - Fixed,NL,fixed,0.0100,,1/1\n\
         4420,United Kingdom - London,GB,fixed,0.0200,0.5000,1/1\n\
         49,Germany,DE,fixed,0.0300,,60/60\n",
    );
    write(&rates, "customers.csv", "customer_id,name,email,plan,ids_range,timezone\nA,A,a@x,lossy,,\n");
    // A start fee of 0.05 at 100% against a connect fee of 0.50 (line 4).
    write(
        &rates,
        "plans/lossy.toml",
        "currency = \"EUR\"\nincrement = \"1/1\"\n[international]\nstart_fee = \"0.0500\"\nmarkup = \"100%\"\n\
         [domestic]\nper_min = \"0.0200\"\n",
    );
    // Billed per minute against per-second buying: cannot lose.
    write(
        &rates,
        "plans/minute.toml",
        "increment = \"60/60\"\n[international]\nstart_fee = \"0.5000\"\nmarkup = \"100%\"\n\
         [domestic]\nper_min = \"0.0200\"\n",
    );
    // Billed per second against Germany's per-minute buying (line 1), no start fee there.
    write(
        &rates,
        "plans/seconds.toml",
        "increment = \"1/1\"\n[international]\nstart_fee = \"0.5000\"\nmarkup = \"100%\"\n\
         [domestic]\nper_min = \"0.0200\"\n[country.DE]\nstart_fee = \"0\"\n",
    );
    // In dollars next to a deck in euros (line 2); no price loses.
    write(
        &rates,
        "plans/usd.toml",
        "increment = \"60/60\"\ncurrency = \"USD\"\n[international]\nstart_fee = \"0.5000\"\nmarkup = \"100%\"\n\
         [domestic]\nper_min = \"0.0200\"\n",
    );
    let o = cdr_rater(tmp.path(), &["check", "--rates", rates.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));

    let lossy = warnings_at(&out, &rates.join("plans/lossy.toml"), 4);
    assert_eq!(lossy.len(), 1, "{out}");
    for part in [
        "plan lossy, [international] start_fee, fixed: 1 prefix can sell below cost",
        "destination 4420 (United Kingdom - London, fixed)",
        "sell 0.0503 < buy 0.5003 for a 1 s call; worst at 1 s",
        "margin -0.4500",
    ] {
        assert!(lossy[0].contains(part), "{part:?} not in {}", lossy[0]);
    }
    let seconds = warnings_at(&out, &rates.join("plans/seconds.toml"), 1);
    assert_eq!(seconds.len(), 1, "{out}");
    assert!(seconds[0].contains("plan seconds, increment, fixed: 1 prefix"), "{}", seconds[0]);
    assert!(seconds[0].contains("destination 49 (Germany, fixed)"), "{}", seconds[0]);
    // 1 s sells 0.0005 against a whole minute bought, 0.0300.
    assert!(seconds[0].contains("sell 0.0005 < buy 0.0300 for a 1 s call; worst at 1 s: margin -0.0295"), "{out}");
    let usd = warnings_at(&out, &rates.join("plans/usd.toml"), 2);
    assert_eq!(usd.len(), 1, "{out}");
    assert!(usd[0].contains("plan usd sells in USD but the wholesale deck is in EUR"), "{}", usd[0]);
    // Nothing else: the per-minute plans do not lose, the domestic prices neither.
    assert_eq!(out.lines().filter(|l| l.starts_with("warning: ")).count(), 3, "{out}");
    assert!(out.contains("  warnings            3"), "{out}");

    // The deck's currency comes from the configuration: in dollars, the
    // euro plans are the foreign ones.
    write(tmp.path(), "c.toml", "[deck]\ncurrency = \"USD\"\n");
    let o = cdr_rater(tmp.path(), &["check", "--config", "c.toml", "--rates", rates.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("plan lossy sells in EUR but the wholesale deck is in USD"), "{out}");
    assert!(out.contains("plan minute sells in EUR (the default) but"), "{out}");
    assert!(!out.contains("plan usd sells"), "{out}");
    // And a currency that is not a code is refused, naming the key.
    write(tmp.path(), "c.toml", "[deck]\ncurrency = \"euro\"\n");
    let o = cdr_rater(tmp.path(), &["check", "--config", "c.toml", "--rates", rates.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("deck.currency"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn margin_analysis_finds_the_shortest_losing_call_and_the_worst() {
    use cdr_rater::money::{FixedPrice, Increment};
    use cdr_rater::tariff::margins::{analyse, Cause};
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let inc = |s: &str| Increment::parse(s).unwrap();
    let price = |fee: &str, rate: &str| FixedPrice::new(d(fee), d(rate)).unwrap();
    // 60/60 sell against 1/1 buy at the same price: never below.
    assert_eq!(analyse(price("0", "0.05"), inc("60/60"), price("0", "0.05"), inc("1/1"), 86_400), None);
    // The reverse loses on every call that is not a whole minute: first at 1 s.
    let loss = analyse(price("0", "0.05"), inc("1/1"), price("0", "0.05"), inc("60/60"), 86_400).unwrap();
    assert_eq!((loss.first, loss.worst, loss.cause), (1, 1, Cause::Increment));
    // A lower rate with a higher fee: loses from (fee difference) / (rate difference) on.
    // 0.10 + 0.01 t/60 < 0.02 t/60 from t > 600 s.
    let loss = analyse(price("0.10", "0.01"), inc("1/1"), price("0", "0.02"), inc("1/1"), 86_400).unwrap();
    assert_eq!((loss.first, loss.worst, loss.cause), (601, 86_400, Cause::Rate));
    // ... but not within the longest call billed.
    assert_eq!(analyse(price("0.10", "0.01"), inc("1/1"), price("0", "0.02"), inc("1/1"), 600), None);
    // 30/6 against 60/60 at 130%: 30 s sold for 60 s bought; worst just past the first minute.
    // At 61 s: 66 s sold at 0.013 (0.0143) for 120 s bought at 0.01 (0.0200).
    let loss = analyse(price("0", "0.013"), inc("30/6"), price("0", "0.01"), inc("60/60"), 86_400).unwrap();
    assert_eq!((loss.first, loss.worst, loss.cause), (1, 61, Cause::Increment));
    // A lower start fee with a higher rate: short calls lose until the rate makes up for it.
    let loss = analyse(price("0.01", "0.06"), inc("1/1"), price("0.02", "0.03"), inc("1/1"), 86_400).unwrap();
    assert_eq!((loss.first, loss.worst, loss.cause), (1, 1, Cause::Fee));
    assert_eq!(analyse(price("0.02", "0.06"), inc("1/1"), price("0.02", "0.03"), inc("1/1"), 86_400), None);
}

/// A copy of the shipped tables with the `business` plan (customer C0002) in dollars.
fn tables_with_a_dollar_plan(rates: &Path) {
    copy_dir(&repo().join("rates"), rates);
    let plan = rates.join("plans/business.toml");
    let text = fs::read_to_string(&plan).unwrap();
    assert!(text.contains("currency = \"EUR\""));
    fs::write(&plan, text.replace("currency = \"EUR\"", "currency = \"USD\"")).unwrap();
}

/// An EUR customer's call, a USD customer's call, an unknown customer and a bad billsec.
const TWO_CURRENCIES: &str = "call_id,start_time,account,caller,callee,billsec\n\
    e1,2026-11-24 10:00:00,C0001,0201234501,0612345678,95\n\
    u1,2026-11-24 10:05:00,C0002,0201234502,+442071234567,125\n\
    x1,2026-11-24 10:06:00,NOBODY,0201234503,0201234567,10\n\
    b1,2026-11-24 10:07:00,C0001,0201234501,0201234567,ten\n";

/// (buy, sell) per currency of a rated output.
fn money_by_currency(rated: &[Vec<String>]) -> std::collections::BTreeMap<String, (Decimal, Decimal)> {
    let head = &rated[0];
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (buy, sell, cur) = (col("buy"), col("sell"), col("currency"));
    let mut out = std::collections::BTreeMap::new();
    for r in &rated[1..] {
        let e: &mut (Decimal, Decimal) = out.entry(r[cur].clone()).or_default();
        e.0 += r[buy].parse::<Decimal>().unwrap();
        e.1 += r[sell].parse::<Decimal>().unwrap();
    }
    out
}

#[test]
fn rate_summary_keeps_currencies_apart_and_breaks_rows_down_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tables_with_a_dollar_plan(&dir.join("rates"));
    write(dir, "calls.csv", TWO_CURRENCIES);
    let o = cdr_rater(dir, &["rate", "--rates", "rates", "--out", "out", "calls.csv"]);
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    let line = log.lines().find(|l| l.starts_with("calls.csv: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.starts_with(
            "calls.csv: 4 rows, 2 rated, 1 unrated (unknown_customer 1), 1 rejected (bad_billsec 1), 0 skipped; "
        ),
        "{line}"
    );
    let money = money_by_currency(&read_csv(&dir.join("out/rated/calls.rated.csv")));
    assert_eq!(money.keys().collect::<Vec<_>>(), ["EUR", "USD"]);
    let want: Vec<String> = money.iter().map(|(c, (b, s))| format!("buy {b} sell {s} margin {} {c}", s - b)).collect();
    let got = line.split("; ").nth(1).unwrap();
    assert_eq!(got, want.join(", "), "{line}");
    assert!(money.values().all(|(b, s)| *b > Decimal::ZERO && *s > Decimal::ZERO), "{money:?}");
}

#[test]
fn daemon_metrics_carry_a_currency_label() {
    let mut d = Daemon::new();
    let rates = d.path("rates");
    fs::remove_dir_all(&rates).unwrap();
    tables_with_a_dollar_plan(&rates);
    d.start();
    // Every currency of the tables in force starts at 0.
    for c in ["EUR", "USD"] {
        assert_eq!(d.metric(&format!("cdr_rater_sell_total{{currency=\"{c}\"}}")), 0.0, "{c}");
    }
    d.drop_file("two.csv", TWO_CURRENCIES);
    wait_for("two", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"two.csv".into()));
    let money = money_by_currency(&read_csv(&d.path("spool/rated/two.rated.csv")));
    let text = d.scrape().unwrap();
    for (c, (buy, sell)) in &money {
        for (name, v) in [("cdr_rater_buy_total", buy), ("cdr_rater_sell_total", sell)] {
            let series = format!("{name}{{currency=\"{c}\"}} ");
            let line = text.lines().find(|l| l.starts_with(&series)).unwrap_or_else(|| panic!("{series}\n{text}"));
            assert_eq!(line[series.len()..].parse::<Decimal>().unwrap(), *v, "{line}");
        }
    }
    assert_eq!(d.stop().0, Some(0));

    // The ledger keeps the money per currency, and `state rebuild` writes it back alike.
    let ledger_path = d.path("state/ledger.redb");
    let record = |path: &Path| {
        let ledger = cdr_rater::state::RedbLedger::open(path).unwrap();
        let all = cdr_rater::state::Ledger::all(&ledger).unwrap();
        all.into_iter().map(|(_, r)| (r.name, r.buy, r.sell)).find(|r| r.0 == "two.csv").unwrap()
    };
    let before = record(&ledger_path);
    let want = |i: usize| money.iter().map(|(c, m)| format!("{} {c}", [m.0, m.1][i])).collect::<Vec<_>>().join(", ");
    assert_eq!((before.1.clone(), before.2.clone()), (want(0), want(1)));
    fs::remove_file(&ledger_path).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(d.root.path())
        .env("CDR_RATER_NOW", "2026-11-24T20:00:00Z")
        .args(["state", "rebuild", "--config", "cdr-rater.toml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(record(&ledger_path), before);
}
