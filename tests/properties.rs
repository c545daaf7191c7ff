//! Property tests of the rating pipeline: rows are conserved, results do
//! not depend on threads or chunking, prices are never negative and never
//! fall when a call gets longer.

use std::sync::OnceLock;

use cdr_rater::formats::{Format, FormatName};
use cdr_rater::numbers::Numbering;
use cdr_rater::pipeline::{rate, rate_buffer, Input, Job, MemorySink, Totals};
use cdr_rater::rating::Rater;
use cdr_rater::tariff::{self, Tariff};
use proptest::prelude::*;

fn tariff() -> &'static Tariff {
    static T: OnceLock<Tariff> = OnceLock::new();
    T.get_or_init(|| {
        tariff::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rates"),
            "NL",
            &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
        )
        .unwrap()
        .0
    })
}

fn numbering() -> &'static Numbering {
    static N: OnceLock<Numbering> = OnceLock::new();
    N.get_or_init(Numbering::default)
}

fn job(chunk_bytes: usize, format: FormatName) -> Job<'static> {
    Job {
        name: "prop.csv".into(),
        format: Format::plain(format).unwrap(),
        rater: Rater { tariff: tariff(), numbering: numbering(), decimals: 4, default_customer: None },
        timezone: jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
        limits: cdr_rater::pipeline::RowLimits::lines(300),
        chunk_bytes,
        cancel: None,
        ids: false,
        usage: false,
        fraud: None,
        pool: None,
    }
}

fn run(input: &[u8], threads: usize, chunk_bytes: usize, format: FormatName) -> (Totals, MemorySink) {
    let job = job(chunk_bytes, format);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut sink = MemorySink::default();
    let totals = pool.install(|| rate_buffer(input, &job, &mut sink)).expect("rates");
    (totals, sink)
}

/// Records in a CSV output, header excluded.
fn records(bytes: &[u8]) -> usize {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let mut n = 0;
    for rec in r.byte_records() {
        rec.expect("outputs are valid CSV");
        n += 1;
    }
    n
}

fn callee() -> impl Strategy<Value = String> {
    prop_oneof![
        "0[1-5][0-9]{8}",
        "06-[0-9]{8}",
        "\\+31 6 [0-9]{8}",
        "00(44|32|49|1|33|91|86)[0-9]{6,9}",
        "\\+(7|20|27|61|55)[0-9]{7,9}",
        "(0800|0900|0909|085)[0-9]{7}",
        "[1-9][0-9]{1,4}",
        "\\*[0-9]{2}",
        "(\\(020\\) [0-9]{3} [0-9]{4})",
        // Not numbers: rejected.
        "[a-z]{3}",
        Just(String::new()),
        "\\+[0-9]{16}",
    ]
}

fn start() -> impl Strategy<Value = String> {
    prop_oneof![
        "2026-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]",
        "2026-(03-29|10-25) 0[0-4]:[0-5][0-9]:[0-5][0-9]",
        "2026-11-2[0-9]T1[0-9]:[0-5][0-9]:[0-5][0-9](Z|\\+01:00|-05:00)",
        // Impossible dates and junk: rejected.
        "2026-02-3[01] 10:00:00",
        "[a-z ]{0,12}",
    ]
}

fn row() -> impl Strategy<Value = String> {
    let account = prop_oneof!["C000[1-9]", "C0010", Just(String::new()), "C9[0-9]{3}"];
    let caller = prop_oneof!["\\+31201234[0-9]{3}", "0201234[0-9]{3}", Just("anonymous".to_string())];
    let billsec = prop_oneof!["[0-9]{1,4}", Just("0".to_string()), "-[0-9]", "[a-z]{2}"];
    (any::<u32>(), start(), account, caller, callee(), billsec, 0u8..12).prop_map(
        |(id, start, account, caller, callee, billsec, shape)| match shape {
            // Quoted fields, one with a comma and one with a newline.
            0 => format!("\"id,{id}\",\"{start}\",{account},\"{caller}\",\"{callee}\",{billsec},\"ANS\nWERED\""),
            1 => format!("{id},{start},{account},{caller},{callee},{billsec}"), // field count
            2 => format!("{id},{start},{account},{caller},{callee},{billsec},ANSWERED\r"),
            3 => String::new(), // blank line: not a row
            4 => format!("{id},{start},{account},{caller},{callee},{billsec},{}", "x".repeat(300)), // too long
            _ => format!("{id},{start},{account},{caller},{callee},{billsec},ANSWERED"),
        },
    )
}

fn file() -> impl Strategy<Value = (Vec<u8>, u64)> {
    prop::collection::vec(row(), 0..120).prop_map(|rows| {
        let mut out = b"call_id,start_time,account,caller,callee,billsec,disposition\n".to_vec();
        let mut count = 0;
        for r in &rows {
            if !r.is_empty() {
                count += 1;
            }
            out.extend_from_slice(r.as_bytes());
            out.push(b'\n');
        }
        (out, count)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_row_lands_in_exactly_one_output((input, rows) in file(), chunk in 1usize..400) {
        let (t, sink) = run(&input, 2, chunk, FormatName::Generic);
        prop_assert_eq!(t.rows, rows);
        prop_assert_eq!(t.rated + t.unrated + t.rejected, t.rows);
        prop_assert_eq!(records(&sink.files[0]) as u64, t.rated);
        prop_assert_eq!(records(&sink.files[1]) as u64, t.unrated);
        prop_assert_eq!(records(&sink.files[2]) as u64, t.rejected);
        prop_assert_eq!(t.by_reject.iter().sum::<u64>(), t.rejected);
        prop_assert_eq!(t.by_unrated.iter().sum::<u64>(), t.unrated);
    }

    #[test]
    fn outputs_do_not_depend_on_threads_or_chunk_size((input, _) in file(), a in 1usize..300, b in 300usize..100_000) {
        let reference = run(&input, 1, 1 << 30, FormatName::Generic);
        prop_assert_eq!(&run(&input, 1, a, FormatName::Generic), &reference);
        prop_assert_eq!(&run(&input, 3, a, FormatName::Generic), &reference);
        prop_assert_eq!(&run(&input, 2, b, FormatName::Generic), &reference);
    }

    #[test]
    fn streamed_input_is_rated_like_a_mapped_one((input, _) in file(), chunk in 1usize..300) {
        let reference = run(&input, 2, chunk, FormatName::Generic);
        let job = job(chunk, FormatName::Generic);
        let mut sink = MemorySink::default();
        // A reader that hands out a few bytes at a time.
        struct Trickle(std::io::Cursor<Vec<u8>>);
        impl std::io::Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(5);
                self.0.read(&mut buf[..n])
            }
        }
        let totals = rate(Input::Stream(Box::new(Trickle(std::io::Cursor::new(input.clone())))), &job, &mut sink, None).unwrap().totals;
        prop_assert_eq!((totals, sink), reference);
    }

    #[test]
    fn prices_are_never_negative((input, _) in file()) {
        let (t, sink) = run(&input, 2, 64, FormatName::Generic);
        prop_assert!(t.buy.iter().chain(&t.sell).all(|&m| m >= 0));
        let mut r = csv::ReaderBuilder::new().from_reader(sink.files[0].as_slice());
        for rec in r.records() {
            let rec = rec.unwrap();
            for col in [13, 14] {
                let v: rust_decimal::Decimal = rec[col].parse().unwrap();
                prop_assert!(v >= rust_decimal::Decimal::ZERO, "{:?}", rec);
            }
        }
    }

    #[test]
    fn sell_and_buy_never_fall_when_a_call_is_longer(
        callee in callee(),
        account in "C000[1-9]",
        billsec in 0u32..7200,
    ) {
        let row = |secs: u32| {
            format!("call_id,start_time,account,caller,callee,billsec\nx,2026-11-24 10:00:00,{account},0201234501,{callee},{secs}\n")
        };
        let price = |secs: u32| {
            let (t, _) = run(row(secs).as_bytes(), 1, 1 << 20, FormatName::Generic);
            // One call: its money is in one currency slot, the others are 0.
            (t.rated, t.buy.iter().sum::<i128>(), t.sell.iter().sum::<i128>())
        };
        let (rated_a, buy_a, sell_a) = price(billsec);
        let (rated_b, buy_b, sell_b) = price(billsec + 1);
        prop_assert_eq!(rated_a, rated_b);
        prop_assert!(sell_a <= sell_b, "sell {} > {} at {}", sell_a, sell_b, billsec);
        prop_assert!(buy_a <= buy_b, "buy {} > {} at {}", buy_a, buy_b, billsec);
    }
}
