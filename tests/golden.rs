//! Golden tests: the real `cdr-rater` binary rates small generic CDR files
//! against the hand-written tables in `tests/fixtures/golden-rates/`, and
//! every expected price below is computed by hand (the arithmetic is in the
//! comment next to it), never with the code under test.
//!
//! The fixture (W = wholesale rate per minute, home country NL):
//!
//! | prefix | destination              | kind    | W        | connect | increment |
//! |--------|--------------------------|---------|----------|---------|-----------|
//! | 31     | Netherlands - Fixed      | fixed   | 0.0100   |         | 1/1       |
//! | 316    | Netherlands - Mobile     | mobile  | 0.0600   |         | 60/60     |
//! | 31900  | Netherlands - Premium    | premium | 0.1000   | 0.0500  | 30/6      |
//! | 32     | Belgium - Fixed (BE)     | fixed   | 0.0600   |         | 60/1      |
//! | 44     | United Kingdom - Fixed   | fixed   | 0.0120   |         | 1/1       |
//! | 447    | United Kingdom - Mobile  | mobile  | 0.0600   |         | 1/1       |
//! | 4420   | United Kingdom - London  | fixed   | 0.0300   |         | 1/1       |
//! | 49     | Germany - Fixed (DE)     | fixed   | 0.0600   |         | (1/1)     |
//! | 881    | Satellite - Global (XX)  | other   | 0.0125   |         | 1/1       |
//! | 882    | International Networks   | other   | 0.012499 |         | 1/1       |
//!
//! Customers: G1 plan `golden` (1/1, every level), M1 plan `minute` (60/60,
//! domestic 0.0600/min, abroad markup 100%), S1 plan `sixes` (30/6, domestic
//! 0.0600/min, abroad markup 80%), F1 plan `firstmin` (60/1, like minute),
//! N1 plan `minute`. numbers.csv: 3120555 -> N1, 312055512 -> G1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cdr-rater");
const START: &str = "2025-03-10T10:00:00+01:00";

// Called numbers, as a switch would write them, one per wholesale row.
const NL_FIXED: &str = "0201234567"; // 31201234567 -> 31
const NL_MOBILE: &str = "06-12345678"; // 31612345678 -> 316
const NL_PREMIUM: &str = "0900123456"; // 31900123456 -> 31900
const BE_FIXED: &str = "0032 2 123 45 67"; // 3221234567 -> 32
const GB_FIXED: &str = "+44 161 123 4567"; // 441611234567 -> 44
const GB_MOBILE: &str = "+447700900123"; // 447700900123 -> 447 (not 4479)
const GB_MOBILE_4479: &str = "+447912345678"; // 447912345678 -> 447, plan [prefix."4479"]
const GB_LONDON: &str = "00442071234567"; // 442071234567 -> 4420
const DE_FIXED: &str = "+49 30 1234567"; // 49301234567 -> 49
const XX_SAT: &str = "+881612345678"; // 881612345678 -> 881
const XX_NET: &str = "+882123456789"; // 882123456789 -> 882
const NO_TARIFF: &str = "+1 212 555 0100"; // 12125550100: no wholesale row starts with 1

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-rates")
}

/// One CDR row of the generic format used by every test.
struct Cdr<'a> {
    id: &'a str,
    account: &'a str,
    caller: &'a str,
    callee: &'a str,
    billsec: u32,
}

fn cdr<'a>(id: &'a str, account: &'a str, callee: &'a str, billsec: u32) -> Cdr<'a> {
    Cdr { id, account, caller: "0201111111", callee, billsec }
}

type Row = HashMap<String, String>;

/// The three outputs of one rated file.
struct Rated {
    rated: Vec<Row>,
    unrated: Vec<Row>,
    rejected: Vec<Row>,
}

impl Rated {
    fn row(&self, id: &str) -> &Row {
        let found: Vec<&Row> = self.rated.iter().filter(|r| r["call_id"] == id).collect();
        assert_eq!(found.len(), 1, "call {id} should be rated exactly once");
        found[0]
    }

    /// Asserts billed_s, buy, sell and margin of one rated call.
    #[track_caller]
    fn assert_price(&self, id: &str, billed_s: &str, buy: &str, sell: &str, margin: &str) {
        let r = self.row(id);
        let got = (r["billed_s"].as_str(), r["buy"].as_str(), r["sell"].as_str(), r["margin"].as_str());
        assert_eq!(got, (billed_s, buy, sell, margin), "call {id}: (billed_s, buy, sell, margin)");
    }

    #[track_caller]
    fn assert_field(&self, id: &str, column: &str, want: &str) {
        assert_eq!(self.row(id)[column], want, "call {id}: column {column}");
    }
}

fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers.iter().zip(r.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()
        })
        .collect()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().expect("cannot run cdr-rater")
}

/// Writes `rows` as a generic CDR file, rates it with `extra` arguments and
/// returns the parsed outputs.
fn rate_with(rows: &[Cdr<'_>], extra: &[&str]) -> Rated {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("call_id,start_time,account,caller,callee,billsec\n");
    for r in rows {
        text.push_str(&format!("{},{START},{},{},{},{}\n", r.id, r.account, r.caller, r.callee, r.billsec));
    }
    let input = tmp.path().join("calls.csv");
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out");
    let rates = fixture();
    let mut args = vec!["rate", "--rates", rates.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(input.to_str().unwrap());
    let o = run(tmp.path(), &args);
    assert!(o.status.success(), "rate failed: {}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    let rated = Rated {
        rated: read_csv(&out.join("rated/calls.rated.csv")),
        unrated: read_csv(&out.join("unrated/calls.unrated.csv")),
        rejected: read_csv(&out.join("rejected/calls.rejected.csv")),
    };
    assert_eq!(
        rated.rated.len() + rated.unrated.len() + rated.rejected.len(),
        rows.len(),
        "every input row lands in exactly one output"
    );
    rated
}

fn rate(rows: &[Cdr<'_>]) -> Rated {
    rate_with(rows, &[])
}

#[test]
fn each_plan_level_sets_the_rate() {
    let out = rate(&[
        cdr("dom", "G1", NL_FIXED, 60),
        cdr("intl", "G1", DE_FIXED, 60),
        cdr("country", "G1", BE_FIXED, 60),
        cdr("prefix", "G1", GB_LONDON, 60),
    ]);
    // [domestic] fixed_per_min 0.0300 + start_fee 0.0100 = 0.0400 (60 s at 1/1).
    // buy 0.0100 x 60/60 = 0.0100; margin 0.0400 - 0.0100 = 0.0300.
    out.assert_price("dom", "60", "0.0100", "0.0400", "0.0300");
    // [international] markup 150%: 0.0600 x 1.5 = 0.0900 + start_fee 0.0200 = 0.1100.
    // buy 0.0600; margin 0.1100 - 0.0600 = 0.0500.
    out.assert_price("intl", "60", "0.0600", "0.1100", "0.0500");
    // [country.BE] per_min 0.1200 + [international] start_fee 0.0200 = 0.1400.
    // buy 0.0600 (60/1: 60 s); margin 0.1400 - 0.0600 = 0.0800.
    out.assert_price("country", "60", "0.0600", "0.1400", "0.0800");
    // [prefix."4420"] markup 200%: 0.0300 x 2 = 0.0600 + [country.GB] start_fee 0.0300 = 0.0900.
    // buy 0.0300; margin 0.0900 - 0.0300 = 0.0600.
    out.assert_price("prefix", "60", "0.0300", "0.0900", "0.0600");

    // The destination columns come from the matched wholesale row.
    let r = out.row("prefix");
    assert_eq!(r["customer_id"], "G1");
    assert_eq!(r["plan"], "golden");
    assert_eq!(r["callee"], GB_LONDON);
    assert_eq!(r["number"], "442071234567");
    assert_eq!(r["prefix"], "4420");
    assert_eq!(r["destination"], "United Kingdom - London");
    assert_eq!(r["country"], "GB");
    assert_eq!(r["kind"], "fixed");
    assert_eq!(r["billsec"], "60");
    assert_eq!(r["currency"], "EUR");
    out.assert_field("country", "number", "3221234567");
    out.assert_field("country", "prefix", "32");
    out.assert_field("intl", "number", "49301234567");
    out.assert_field("dom", "number", "31201234567");
    out.assert_field("dom", "kind", "fixed");
}

#[test]
fn key_precedence_within_and_across_levels() {
    let out = rate(&[
        cdr("nl-fixed", "G1", NL_FIXED, 60),
        cdr("nl-mobile", "G1", NL_MOBILE, 60),
        cdr("nl-premium", "G1", NL_PREMIUM, 60),
        cdr("be-fixed", "G1", BE_FIXED, 60),
        cdr("gb-fixed", "G1", GB_FIXED, 60),
        cdr("gb-mobile", "G1", GB_MOBILE, 60),
        cdr("gb-london", "G1", GB_LONDON, 60),
        cdr("gb-4479", "G1", GB_MOBILE_4479, 60),
    ]);
    // Within [domestic]: fixed_per_min 0.0300 beats markup 200% (which would be 0.0200).
    // sell 0.0100 + 0.0300 = 0.0400; buy 0.0100; margin 0.0300.
    out.assert_price("nl-fixed", "60", "0.0100", "0.0400", "0.0300");
    // Within [domestic]: mobile_per_min 0.1500 beats markup 200% (would be 0.1200).
    // sell 0.0100 + 0.1500 = 0.1600; buy 0.0600 (60/60: 60 s); margin 0.1000.
    out.assert_price("nl-mobile", "60", "0.0600", "0.1600", "0.1000");
    out.assert_field("nl-mobile", "kind", "mobile");
    // [domestic] has no premium_per_min and no per_min: markup 200% x 0.1000 = 0.2000.
    // sell 0.0500 ([prefix."31900"] start_fee) + 0.2000 = 0.2500;
    // buy 0.0500 connect + 0.1000 x 60/60 = 0.1500; margin 0.1000.
    out.assert_price("nl-premium", "60", "0.1500", "0.2500", "0.1000");
    // Within [country.BE]: per_min 0.1200 beats markup 300% (would be 0.1800).
    // sell 0.0200 + 0.1200 = 0.1400; buy 0.0600; margin 0.0800.
    out.assert_price("be-fixed", "60", "0.0600", "0.1400", "0.0800");
    // [country.GB], fixed: no fixed_per_min, so per_min 0.1800 (the level wins over
    // [international] markup 150%, which would be 0.0180).
    // sell 0.0300 + 0.1800 = 0.2100; buy 0.0120; margin 0.1980.
    out.assert_price("gb-fixed", "60", "0.0120", "0.2100", "0.1980");
    // [country.GB], mobile: mobile_per_min 0.2400 beats per_min 0.1800.
    // sell 0.0300 + 0.2400 = 0.2700; buy 0.0600; margin 0.2100.
    out.assert_price("gb-mobile", "60", "0.0600", "0.2700", "0.2100");
    // Across levels: [prefix."4420"] gives only a markup (200% x 0.0300 = 0.0600) and still
    // beats [country.GB] per_min 0.1800. sell 0.0300 + 0.0600 = 0.0900; buy 0.0300; margin 0.0600.
    out.assert_price("gb-london", "60", "0.0300", "0.0900", "0.0600");
    // [prefix."4479"] per_min 0.3000 beats [country.GB] mobile_per_min 0.2400, start_fee 0.
    // sell 0.0000 + 0.3000 = 0.3000; buy 0.0600 (wholesale 447); margin 0.2400.
    out.assert_price("gb-4479", "60", "0.0600", "0.3000", "0.2400");
    out.assert_field("gb-4479", "prefix", "447");
}

#[test]
fn start_fee_comes_from_the_most_specific_level_that_gives_it() {
    // 1 s at the golden plan's 1/1 increment: sell = start_fee + rate / 60.
    let out = rate(&[
        cdr("premium", "G1", NL_PREMIUM, 1),
        cdr("london", "G1", GB_LONDON, 1),
        cdr("gb-4479", "G1", GB_MOBILE_4479, 1),
        cdr("be", "G1", BE_FIXED, 1),
        cdr("de", "G1", DE_FIXED, 1),
        cdr("sat", "G1", XX_SAT, 1),
    ]);
    // [prefix."31900"] start_fee 0.0500 (not [domestic] 0.0100); rate [domestic] markup 0.2000:
    // sell 0.0500 + 0.2000/60 = 0.053333.. -> 0.0533.
    // buy 30/6 -> 30 s: 0.0500 + 0.1000 x 30/60 = 0.1000. margin 0.0533 - 0.1000 = -0.0467.
    out.assert_price("premium", "1", "0.1000", "0.0533", "-0.0467");
    // [prefix."4420"] has no start_fee -> [country.GB] 0.0300 (not [international] 0.0200).
    // sell 0.0300 + 0.0600/60 = 0.0310; buy 0.0300/60 = 0.0005; margin 0.0305.
    out.assert_price("london", "1", "0.0005", "0.0310", "0.0305");
    // [prefix."4479"] start_fee "0.0000" beats [country.GB] 0.0300.
    // sell 0 + 0.3000/60 = 0.0050; buy 0.0600/60 = 0.0010; margin 0.0040.
    out.assert_price("gb-4479", "1", "0.0010", "0.0050", "0.0040");
    // [country.BE] has no start_fee -> [international] 0.0200.
    // sell 0.0200 + 0.1200/60 = 0.0220; buy 60/1 -> 60 s: 0.0600; margin -0.0380.
    out.assert_price("be", "1", "0.0600", "0.0220", "-0.0380");
    // Only [international]: start_fee 0.0200, rate 0.0900.
    // sell 0.0200 + 0.0900/60 = 0.0215; buy 0.0600/60 = 0.0010; margin 0.0205.
    out.assert_price("de", "1", "0.0010", "0.0215", "0.0205");
    // [country.XX] start_fee 0.0000 beats [international] 0.0200; rate 100% x 0.0125.
    // sell = buy = 0.0125/60 = 0.000208.. -> 0.0002; margin 0.0000.
    out.assert_price("sat", "1", "0.0002", "0.0002", "0.0000");
}

const BILLSECS: [u32; 8] = [0, 1, 29, 30, 31, 59, 60, 61];

/// Rates `callee` for `account` at every billsec of [`BILLSECS`] and checks
/// (billed_s, buy, sell, margin) against `want`, one entry per billsec.
#[track_caller]
fn check_billsecs(account: &str, callee: &str, want: [(&str, &str, &str, &str); 8]) {
    let ids: Vec<String> = BILLSECS.iter().map(|s| format!("{account}-{s}")).collect();
    let rows: Vec<Cdr<'_>> = BILLSECS.iter().zip(&ids).map(|(&s, id)| cdr(id, account, callee, s)).collect();
    let out = rate(&rows);
    for ((id, s), (billed, buy, sell, margin)) in ids.iter().zip(BILLSECS).zip(want) {
        out.assert_field(id, "billsec", &s.to_string());
        out.assert_price(id, billed, buy, sell, margin);
    }
}

#[test]
fn buy_side_increment_1_1() {
    // Wholesale 31: 0.0100/min, 1/1 -> buy = 0.0100 x s/60.
    // Golden plan 1/1: sell = 0.0100 + 0.0300 x s/60 = 0.0100 + 0.0005 x s.
    check_billsecs(
        "G1",
        NL_FIXED,
        [
            ("0", "0.0000", "0.0000", "0.0000"),  // unanswered: no fees
            ("1", "0.0002", "0.0105", "0.0103"),  // buy 0.01/60 = 0.000166.. -> 0.0002
            ("29", "0.0048", "0.0245", "0.0197"), // buy 0.29/60 = 0.004833.. -> 0.0048
            ("30", "0.0050", "0.0250", "0.0200"), // buy 0.0050; sell 0.01 + 0.015
            ("31", "0.0052", "0.0255", "0.0203"), // buy 0.31/60 = 0.005166.. -> 0.0052
            ("59", "0.0098", "0.0395", "0.0297"), // buy 0.59/60 = 0.009833.. -> 0.0098
            ("60", "0.0100", "0.0400", "0.0300"), // buy 0.0100; sell 0.01 + 0.03
            ("61", "0.0102", "0.0405", "0.0303"), // buy 0.61/60 = 0.010166.. -> 0.0102
        ],
    );
}

#[test]
fn buy_side_increment_60_60() {
    // Wholesale 316: 0.0600/min, 60/60 -> billed 0,60,60,60,60,60,60,120; buy = 0.001 x billed.
    // Golden plan 1/1: sell = 0.0100 + 0.1500 x s/60 = 0.0100 + 0.0025 x s.
    check_billsecs(
        "G1",
        NL_MOBILE,
        [
            ("0", "0.0000", "0.0000", "0.0000"),
            ("1", "0.0600", "0.0125", "-0.0475"), // 0.01 + 0.0025; 0.0125 - 0.0600
            ("29", "0.0600", "0.0825", "0.0225"), // 0.01 + 0.0725
            ("30", "0.0600", "0.0850", "0.0250"), // 0.01 + 0.0750
            ("31", "0.0600", "0.0875", "0.0275"), // 0.01 + 0.0775
            ("59", "0.0600", "0.1575", "0.0975"), // 0.01 + 0.1475
            ("60", "0.0600", "0.1600", "0.1000"), // 0.01 + 0.1500
            ("61", "0.1200", "0.1625", "0.0425"), // buy 120 s; sell 0.01 + 0.1525
        ],
    );
}

#[test]
fn buy_side_increment_30_6_with_connect_fee() {
    // Wholesale 31900: 0.1000/min + connect 0.0500, 30/6 -> billed 0,30,30,30,36,60,60,66;
    // buy = 0.0500 + 0.1000 x billed/60.
    // Golden plan 1/1: sell = 0.0500 + 0.2000 x s/60 = 0.05 + s/300.
    check_billsecs(
        "G1",
        NL_PREMIUM,
        [
            ("0", "0.0000", "0.0000", "0.0000"),  // no connect fee, no start fee
            ("1", "0.1000", "0.0533", "-0.0467"), // buy 0.05+0.05; sell 0.05333.. -> 0.0533
            ("29", "0.1000", "0.1467", "0.0467"), // sell 0.05 + 0.09666.. = 0.14666.. -> 0.1467
            ("30", "0.1000", "0.1500", "0.0500"), // sell 0.05 + 0.1
            ("31", "0.1100", "0.1533", "0.0433"), // buy 0.05 + 0.06; sell 0.15333.. -> 0.1533
            ("59", "0.1500", "0.2467", "0.0967"), // buy 0.05 + 0.1; sell 0.24666.. -> 0.2467
            ("60", "0.1500", "0.2500", "0.1000"), // sell 0.05 + 0.2
            ("61", "0.1600", "0.2533", "0.0933"), // buy 0.05 + 0.11; sell 0.25333.. -> 0.2533
        ],
    );
}

#[test]
fn buy_side_increment_60_1() {
    // Wholesale 32: 0.0600/min, 60/1 -> billed 0,60,60,60,60,60,60,61; buy = 0.001 x billed.
    // Golden plan 1/1, [country.BE] 0.1200 + [international] start_fee 0.0200:
    // sell = 0.0200 + 0.002 x s.
    check_billsecs(
        "G1",
        BE_FIXED,
        [
            ("0", "0.0000", "0.0000", "0.0000"),
            ("1", "0.0600", "0.0220", "-0.0380"),
            ("29", "0.0600", "0.0780", "0.0180"),
            ("30", "0.0600", "0.0800", "0.0200"),
            ("31", "0.0600", "0.0820", "0.0220"),
            ("59", "0.0600", "0.1380", "0.0780"),
            ("60", "0.0600", "0.1400", "0.0800"),
            ("61", "0.0610", "0.1420", "0.0810"), // buy 61 s = 0.0610
        ],
    );
}

// Sell side: NL fixed (wholesale 31, 0.0100/min, 1/1; buy as in buy_side_increment_1_1:
// 0.0000 0.0002 0.0048 0.0050 0.0052 0.0098 0.0100 0.0102) under plans whose
// [domestic] per_min is 0.0600 with no start fee, so sell = 0.001 x billed_s.
// (The 1/1 sell side is the golden plan in buy_side_increment_1_1.)

#[test]
fn sell_side_increment_60_60() {
    // Plan minute 60/60: billed 0,60,60,60,60,60,60,120.
    check_billsecs(
        "M1",
        NL_FIXED,
        [
            ("0", "0.0000", "0.0000", "0.0000"),
            ("60", "0.0002", "0.0600", "0.0598"),
            ("60", "0.0048", "0.0600", "0.0552"),
            ("60", "0.0050", "0.0600", "0.0550"),
            ("60", "0.0052", "0.0600", "0.0548"),
            ("60", "0.0098", "0.0600", "0.0502"),
            ("60", "0.0100", "0.0600", "0.0500"),
            ("120", "0.0102", "0.1200", "0.1098"),
        ],
    );
}

#[test]
fn sell_side_increment_30_6() {
    // Plan sixes 30/6: billed 0,30,30,30,36,60,60,66.
    check_billsecs(
        "S1",
        NL_FIXED,
        [
            ("0", "0.0000", "0.0000", "0.0000"),
            ("30", "0.0002", "0.0300", "0.0298"),
            ("30", "0.0048", "0.0300", "0.0252"),
            ("30", "0.0050", "0.0300", "0.0250"),
            ("36", "0.0052", "0.0360", "0.0308"),
            ("60", "0.0098", "0.0600", "0.0502"),
            ("60", "0.0100", "0.0600", "0.0500"),
            ("66", "0.0102", "0.0660", "0.0558"),
        ],
    );
}

#[test]
fn sell_side_increment_60_1() {
    // Plan firstmin 60/1: billed 0,60,60,60,60,60,60,61.
    check_billsecs(
        "F1",
        NL_FIXED,
        [
            ("0", "0.0000", "0.0000", "0.0000"),
            ("60", "0.0002", "0.0600", "0.0598"),
            ("60", "0.0048", "0.0600", "0.0552"),
            ("60", "0.0050", "0.0600", "0.0550"),
            ("60", "0.0052", "0.0600", "0.0548"),
            ("60", "0.0098", "0.0600", "0.0502"),
            ("60", "0.0100", "0.0600", "0.0500"),
            ("61", "0.0102", "0.0610", "0.0508"),
        ],
    );
}

#[test]
fn rounding_is_half_away_from_zero() {
    // Golden plan, [country.XX] markup 100% and start_fee 0, 1/1 both sides: sell = buy.
    let out = rate(&[
        cdr("half", "G1", XX_SAT, 30),
        cdr("below-half", "G1", XX_NET, 30),
        cdr("below-half-29", "G1", XX_SAT, 29),
        cdr("exact-nl", "M1", NL_FIXED, 3),
    ]);
    // 0.0125 x 30/60 = 0.00625 exactly: half away from zero -> 0.0063
    // (half-to-even would give 0.0062, truncation 0.0062).
    out.assert_price("half", "30", "0.0063", "0.0063", "0.0000");
    // 0.012499 x 30/60 = 0.0062495: just below the half -> 0.0062.
    out.assert_price("below-half", "30", "0.0062", "0.0062", "0.0000");
    // 0.0125 x 29/60 = 0.3625/60 = 0.0060416.. -> 0.0060.
    out.assert_price("below-half-29", "29", "0.0060", "0.0060", "0.0000");
    // Buy 0.0100 x 3/60 = 0.0005 exactly (no rounding needed); M1 60/60 sell 0.0600.
    out.assert_price("exact-nl", "60", "0.0005", "0.0600", "0.0595");
}

#[test]
fn markup_below_100_percent_sells_at_a_loss() {
    // Plan sixes [international] markup 80%: 0.0600 x 0.8 = 0.0480/min, no start fee, 30/6.
    // DE buy: 0.0600/min, 1/1 (empty increment in wholesale.csv).
    let out =
        rate(&[cdr("de-60", "S1", DE_FIXED, 60), cdr("de-31", "S1", DE_FIXED, 31), cdr("de-0", "S1", DE_FIXED, 0)]);
    // sell 0.0480 x 60/60 = 0.0480; buy 0.0600; margin -0.0120.
    out.assert_price("de-60", "60", "0.0600", "0.0480", "-0.0120");
    // sell billed 36 s: 0.0480 x 36/60 = 0.0288; buy 31 s: 0.0310; margin -0.0022.
    out.assert_price("de-31", "36", "0.0310", "0.0288", "-0.0022");
    out.assert_price("de-0", "0", "0.0000", "0.0000", "0.0000");
}

#[test]
fn markup_100_percent_is_no_margin() {
    // Plan minute [international] markup 100%, 60/60, no start fee; DE buy 0.0600/min at 1/1.
    let out =
        rate(&[cdr("de-60", "M1", DE_FIXED, 60), cdr("de-30", "M1", DE_FIXED, 30), cdr("de-61", "M1", DE_FIXED, 61)]);
    // sell 0.0600 x 60/60 = 0.0600 = buy: margin 0.0000.
    out.assert_price("de-60", "60", "0.0600", "0.0600", "0.0000");
    // sell billed 60 s: 0.0600; buy 30 s: 0.0300; margin 0.0300 (increments only).
    out.assert_price("de-30", "60", "0.0300", "0.0600", "0.0300");
    // sell billed 120 s: 0.1200; buy 61 s: 0.0610; margin 0.0590.
    out.assert_price("de-61", "120", "0.0610", "0.1200", "0.0590");
}

#[test]
fn connect_fee_and_start_fee_only_on_answered_calls() {
    let out = rate(&[
        cdr("premium-0", "G1", NL_PREMIUM, 0),
        cdr("premium-1", "G1", NL_PREMIUM, 1),
        cdr("gb-0", "G1", GB_FIXED, 0),
        cdr("gb-1", "G1", GB_FIXED, 1),
        cdr("nl-0", "G1", NL_FIXED, 0),
    ]);
    // billsec 0: neither the connect fee 0.0500 nor the start fee 0.0500 applies.
    out.assert_price("premium-0", "0", "0.0000", "0.0000", "0.0000");
    // billsec 1: buy 0.0500 + 0.1000 x 30/60 = 0.1000; sell 0.0500 + 0.2/60 = 0.0533.
    out.assert_price("premium-1", "1", "0.1000", "0.0533", "-0.0467");
    // billsec 0: no [country.GB] start fee 0.0300.
    out.assert_price("gb-0", "0", "0.0000", "0.0000", "0.0000");
    // billsec 1: sell 0.0300 + 0.1800/60 = 0.0330; buy 0.0120/60 = 0.0002; margin 0.0328.
    out.assert_price("gb-1", "1", "0.0002", "0.0330", "0.0328");
    // billsec 0: no [domestic] start fee 0.0100.
    out.assert_price("nl-0", "0", "0.0000", "0.0000", "0.0000");
    // Unanswered calls are still rated, with their destination.
    out.assert_field("premium-0", "prefix", "31900");
    out.assert_field("premium-0", "kind", "premium");
}

#[test]
fn internal_extensions_are_rated_at_zero() {
    let out = rate(&[cdr("ext", "G1", "201", 120), cdr("feature", "G1", "*97", 30), cdr("ext5", "M1", "12345", 61)]);
    for id in ["ext", "feature", "ext5"] {
        let r = out.row(id);
        assert_eq!(r["kind"], "internal", "call {id}");
        assert_eq!(r["prefix"], "", "call {id}");
        assert_eq!(r["number"], "", "call {id}");
        assert_eq!(r["country"], "", "call {id}");
        // No start fee (golden [domestic] 0.0100) and no increment rounding up.
        assert_eq!(
            (r["buy"].as_str(), r["sell"].as_str(), r["margin"].as_str()),
            ("0.0000", "0.0000", "0.0000"),
            "call {id}"
        );
    }
    out.assert_field("ext", "callee", "201");
    out.assert_field("ext", "billsec", "120");
    out.assert_field("feature", "callee", "*97");
    out.assert_field("ext5", "plan", "minute");
}

#[test]
fn unknown_customer_and_no_tariff_go_to_unrated() {
    let anonymous = Cdr { id: "anon", account: "", caller: "anonymous", callee: NL_FIXED, billsec: 10 };
    let stranger = Cdr {
        id: "stranger",
        account: "",
        caller: "0301234567", // 31301234567: no number block
        callee: NL_FIXED,
        billsec: 10,
    };
    let out = rate(&[
        cdr("ok", "G1", NL_FIXED, 10),          // line 2
        cdr("nope", "NOPE", NL_FIXED, 10),      // line 3
        anonymous,                              // line 4
        stranger,                               // line 5
        cdr("usa", "G1", NO_TARIFF, 10),        // line 6
        cdr("nope-usa", "NOPE", NO_TARIFF, 10), // line 7: customer is checked first
        cdr("nope-ext", "NOPE", "201", 10),     // line 8: customer before internal
    ]);
    assert_eq!(out.rated.len(), 1);
    // 10 s: buy 0.0100 x 10/60 = 0.001666.. -> 0.0017; sell 0.0100 + 0.0005 x 10 = 0.0150.
    out.assert_price("ok", "10", "0.0017", "0.0150", "0.0133");
    let got: Vec<(&str, &str, &str)> =
        out.unrated.iter().map(|r| (r["line"].as_str(), r["reason"].as_str(), r["call_id"].as_str())).collect();
    assert_eq!(
        got,
        [
            ("3", "unknown_customer", "nope"),
            ("4", "unknown_customer", "anon"),
            ("5", "unknown_customer", "stranger"),
            ("6", "no_tariff", "usa"),
            ("7", "unknown_customer", "nope-usa"),
            ("8", "unknown_customer", "nope-ext"),
        ]
    );
    // The original row follows line and reason, unchanged.
    let usa = &out.unrated[3];
    assert_eq!(usa["account"], "G1");
    assert_eq!(usa["callee"], NO_TARIFF);
    assert_eq!(usa["billsec"], "10");
    assert_eq!(usa["start_time"], START);
    assert!(out.rejected.is_empty());
}

#[test]
fn customer_from_numbers_csv_when_account_is_empty() {
    let block =
        |id: &'static str, caller: &'static str| Cdr { id, account: "", caller, callee: NL_MOBILE, billsec: 60 };
    let out = rate(&[
        block("n1", "020 555 0000"),     // 31205550000: block 3120555 -> N1 (minute)
        block("g1", "+31205551299"),     // 31205551299: longer block 312055512 -> G1 (golden)
        block("g1-00", "0031205551200"), // 31205551200 -> G1
        Cdr {
            id: "account-wins",
            account: "M1",
            caller: "+31205551299", // G1's block, but the account names M1
            callee: NL_MOBILE,
            billsec: 60,
        },
    ]);
    out.assert_field("n1", "customer_id", "N1");
    out.assert_field("n1", "plan", "minute");
    // minute: [domestic] per_min 0.0600, 60/60: sell 0.0600; buy 0.0600 (60/60); margin 0.
    out.assert_price("n1", "60", "0.0600", "0.0600", "0.0000");
    out.assert_field("g1", "customer_id", "G1");
    out.assert_field("g1", "plan", "golden");
    // golden: 0.0100 + 0.1500 = 0.1600; buy 0.0600; margin 0.1000.
    out.assert_price("g1", "60", "0.0600", "0.1600", "0.1000");
    out.assert_field("g1-00", "customer_id", "G1");
    out.assert_field("account-wins", "customer_id", "M1");
    out.assert_price("account-wins", "60", "0.0600", "0.0600", "0.0000");
}

#[test]
fn price_decimals_from_config() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("two-decimals.toml");
    std::fs::write(&config, "price_decimals = 2\n").unwrap();
    let out = rate_with(
        &[
            cdr("de-5", "G1", DE_FIXED, 5),
            cdr("de-4", "G1", DE_FIXED, 4),
            cdr("nl-mobile", "G1", NL_MOBILE, 60),
            cdr("sat", "G1", XX_SAT, 30),
            cdr("zero", "G1", DE_FIXED, 0),
        ],
        &["--config", config.to_str().unwrap()],
    );
    // buy 0.0600 x 5/60 = 0.005 -> 0.01 (half away from zero; half-to-even gives 0.00);
    // sell 0.0200 + 0.0900 x 5/60 = 0.0275 -> 0.03; margin 0.03 - 0.01 = 0.02.
    out.assert_price("de-5", "5", "0.01", "0.03", "0.02");
    // buy 0.004 -> 0.00; sell 0.0200 + 0.0060 = 0.026 -> 0.03; margin 0.03.
    out.assert_price("de-4", "4", "0.00", "0.03", "0.03");
    // sell 0.0100 + 0.1500 = 0.16; buy 0.06; margin 0.10.
    out.assert_price("nl-mobile", "60", "0.06", "0.16", "0.10");
    // 0.0125 x 30/60 = 0.00625 -> 0.01 on both sides; margin 0.00.
    out.assert_price("sat", "30", "0.01", "0.01", "0.00");
    out.assert_price("zero", "0", "0.00", "0.00", "0.00");
}

/// Runs `lookup` on the golden fixture and returns its standard output.
fn lookup(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let rates = fixture();
    let mut all = vec!["lookup", "--rates", rates.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(tmp.path(), &all);
    assert!(o.status.success(), "lookup {args:?} failed: {}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Asserts that some line of `out` starting with `label` contains every one of `parts`.
#[track_caller]
fn assert_line(out: &str, label: &str, parts: &[&str]) {
    assert!(
        out.lines().any(|l| l.starts_with(label) && parts.iter().all(|p| l.contains(p))),
        "no line starting with {label:?} containing {parts:?} in:\n{out}"
    );
}

#[test]
fn lookup_explains_prefix_level_and_sell_price() {
    let out = lookup(&["--plan", "golden", GB_LONDON, "--seconds", "60"]);
    assert_line(&out, "normalised", &["442071234567"]);
    assert_line(&out, "prefix", &["4420", "United Kingdom - London"]);
    // 0.0300 x 200% = 0.06/min, from [prefix."4420"] markup.
    assert_line(&out, "sell rate", &["[prefix.\"4420\"]", "markup"]);
    assert_line(&out, "start fee", &["0.0300", "[country.GB]"]);
    // 0.0300 + 0.0600 = 0.0900 (as in the rated file).
    assert_line(&out, "sell ", &["0.0900", "EUR"]);

    let out = lookup(&["--plan", "golden", NL_PREMIUM, "--seconds", "30"]);
    assert_line(&out, "prefix", &["31900", "Netherlands - Premium"]);
    assert_line(&out, "sell rate", &["[domestic]", "markup"]);
    assert_line(&out, "start fee", &["0.0500", "[prefix.\"31900\"]"]);
    // buy 0.0500 + 0.1000 x 30/60 = 0.1000; sell 0.0500 + 0.2000 x 30/60 = 0.1500.
    assert_line(&out, "buy", &["0.1000"]);
    assert_line(&out, "sell ", &["0.1500"]);
}

#[test]
fn lookup_explains_country_domestic_and_international_levels() {
    let out = lookup(&["--customer", "G1", GB_MOBILE, "--seconds", "60"]);
    assert_line(&out, "prefix", &["447", "United Kingdom - Mobile"]);
    assert_line(&out, "sell rate", &["[country.GB]", "mobile_per_min"]);
    // 0.0300 + 0.2400 = 0.2700.
    assert_line(&out, "sell ", &["0.2700"]);

    let out = lookup(&["--plan", "golden", BE_FIXED, "--seconds", "60"]);
    assert_line(&out, "sell rate", &["[country.BE]", "per_min"]);
    assert_line(&out, "start fee", &["0.0200", "[international]"]);
    // 0.0200 + 0.1200 = 0.1400.
    assert_line(&out, "sell ", &["0.1400"]);

    let out = lookup(&["--plan", "golden", NL_FIXED, "--seconds", "30"]);
    assert_line(&out, "prefix", &["31", "Netherlands - Fixed"]);
    assert_line(&out, "sell rate", &["[domestic]", "fixed_per_min"]);
    // 0.0100 + 0.0300 x 30/60 = 0.0250.
    assert_line(&out, "sell ", &["0.0250"]);

    let out = lookup(&["--plan", "sixes", DE_FIXED, "--seconds", "31"]);
    assert_line(&out, "sell rate", &["[international]", "markup"]);
    // 0.0600 x 80% = 0.0480/min, 30/6 -> 36 s: 0.0288.
    assert_line(&out, "sell ", &["0.0288"]);
}
