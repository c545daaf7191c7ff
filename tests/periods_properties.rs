//! Property tests of periods and dated versions (SPEC §3.5, §3.6) over the
//! shipped tables: splitting a call at period boundaries never changes its
//! price when every period has the same rates, and with periods and two
//! deck versions the outputs do not depend on threads or chunking.

use std::path::Path;
use std::sync::OnceLock;

use cdr_rater::formats::{Format, FormatName};
use cdr_rater::numbers::Numbering;
use cdr_rater::pipeline::{rate_buffer, Job, MemorySink, Totals};
use cdr_rater::rating::Rater;
use cdr_rater::tariff::{self, Tariff};
use proptest::prelude::*;

/// Periods in every shipped plan; with `prices` also period sub-tables.
fn periods(prices: bool) -> String {
    let mut text = String::from(
        "\n[[period]]\nname = \"holiday\"\ndates = [\"2026-12-25\", \"2026-12-26\"]\n\
         [[period]]\nname = \"weekend\"\ndays = [\"sat\", \"sun\"]\n\
         [[period]]\nname = \"offpeak\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nfrom = \"19:00\"\nuntil = \"08:00\"\n",
    );
    if prices {
        text.push_str(
            "[domestic.offpeak]\nfixed_per_min = \"0.0100\"\n[international.weekend]\nmarkup = \"115%\"\n\
             [country.GB.offpeak]\nper_min = \"0.0200\"\n[prefix.\"4420\".holiday]\nper_min = \"0.0050\"\n",
        );
    }
    text
}

/// The shipped tables with periods in every plan (and, with `prices`, a
/// second deck version from 2026-07-01 at other rates).
fn tables(prices: bool) -> Tariff {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path();
    std::fs::create_dir_all(rates.join("plans")).unwrap();
    for f in ["wholesale.csv", "customers.csv", "numbers.csv", "resellers.csv", "services.csv", "subscriptions.csv"] {
        std::fs::copy(repo.join("rates").join(f), rates.join(f)).unwrap();
    }
    // The customers name service plans (SPEC §12.2): copied as they are.
    std::fs::create_dir_all(rates.join("service_plans")).unwrap();
    for e in std::fs::read_dir(repo.join("rates/service_plans")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), rates.join("service_plans").join(e.file_name())).unwrap();
    }
    for e in std::fs::read_dir(repo.join("rates/plans")).unwrap() {
        let e = e.unwrap();
        let text = std::fs::read_to_string(e.path()).unwrap();
        // `[country.GB]` must exist for its sub-table: every shipped plan has one
        // or gets one here.
        let gb = if text.contains("[country.GB]") { "" } else { "\n[country.GB]\n" };
        std::fs::write(rates.join("plans").join(e.file_name()), format!("{text}{gb}{}", periods(prices))).unwrap();
    }
    if prices {
        let deck = std::fs::read_to_string(repo.join("rates/wholesale.csv")).unwrap();
        let dearer = deck.replace(",0.0", ",0.1");
        std::fs::write(rates.join("wholesale@2026-07-01.csv"), dearer).unwrap();
    }
    let zone = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap();
    tariff::load(rates, "NL", &zone).unwrap_or_else(|e| panic!("{e}")).0
}

fn plain() -> &'static Tariff {
    static T: OnceLock<Tariff> = OnceLock::new();
    T.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        tariff::load(&repo.join("rates"), "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()).unwrap().0
    })
}

fn same_rates() -> &'static Tariff {
    static T: OnceLock<Tariff> = OnceLock::new();
    T.get_or_init(|| tables(false))
}

fn in_time() -> &'static Tariff {
    static T: OnceLock<Tariff> = OnceLock::new();
    T.get_or_init(|| tables(true))
}

fn numbering() -> &'static Numbering {
    static N: OnceLock<Numbering> = OnceLock::new();
    N.get_or_init(Numbering::default)
}

fn run(tariff: &'static Tariff, input: &[u8], threads: usize, chunk_bytes: usize) -> (Totals, MemorySink) {
    let job = Job {
        name: "prop.csv".into(),
        format: Format::plain(FormatName::Generic).unwrap(),
        rater: Rater { tariff, numbering: numbering(), decimals: 4, default_customer: None },
        timezone: jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
        limits: cdr_rater::pipeline::RowLimits::lines(300),
        chunk_bytes,
        cancel: None,
        ids: false,
        usage: false,
        fraud: None,
        pool: None,
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut sink = MemorySink::default();
    let totals = pool.install(|| rate_buffer(input, &job, &mut sink)).expect("rates");
    (totals, sink)
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    let start = prop_oneof![
        "2026-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]",
        "2026-(03-2[89]|10-2[45]|12-2[4-7]|06-30|07-01) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]",
    ];
    let callee =
        prop_oneof!["0[1-5][0-9]{8}", "06[0-9]{8}", "00(44|32|49|1|33)[0-9]{8}", "\\+4420[0-9]{8}", "[1-9][0-9]{2}"];
    let row = (any::<u32>(), start, "C000[1-9]", callee, prop_oneof![0u32..600, 0u32..90_000]).prop_map(
        |(id, start, account, callee, billsec)| format!("{id},{start},{account},+31201234567,{callee},{billsec}\n"),
    );
    prop::collection::vec(row, 1..80).prop_map(|rows| {
        let mut out = b"call_id,start_time,account,caller,callee,billsec\n".to_vec();
        for r in rows {
            out.extend_from_slice(r.as_bytes());
        }
        out
    })
}

/// The sell column (14) of every rated row.
fn sells(sink: &MemorySink) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new().from_reader(&sink.files[0][..]);
    r.records().map(|rec| rec.unwrap()[14].to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Periods without prices of their own change no price.
    #[test]
    fn splitting_with_equal_rates_changes_no_price(input in file()) {
        let (a, plain_out) = run(plain(), &input, 2, 1 << 16);
        let (b, split_out) = run(same_rates(), &input, 2, 1 << 16);
        prop_assert_eq!(sells(&plain_out), sells(&split_out));
        prop_assert_eq!(a.sell, b.sell);
    }

    /// With periods and two deck versions, outputs and totals do not depend
    /// on threads or chunk size.
    #[test]
    fn periods_and_versions_do_not_depend_on_threads_or_chunks(input in file(), a in 1usize..300, b in 300usize..100_000) {
        let (ta, sa) = run(in_time(), &input, 1, a);
        let (tb, sb) = run(in_time(), &input, 3, b);
        prop_assert_eq!(ta, tb);
        prop_assert_eq!(sa, sb);
    }
}
