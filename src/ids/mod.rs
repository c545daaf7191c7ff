//! IDS: each customer's daily spend against their average day plus their
//! IDS range (SPEC §9). Pure: no I/O, no clock; the caller passes "today".
//! `spend` adds up a file's spend on the rating's hot path, `levels` finds
//! the levels crossed, `trace` the calls that crossed them and the alerts.
//!
//! Money is in integer units of `10^-price_decimals`. The baseline is a
//! mean, so thresholds are compared exactly as fractions:
//! `spend > sum/n + range x 2^(k-1)` is `spend x n > sum + n x range x 2^(k-1)`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Highest alert level ever evaluated (the excess doubled 40 times).
pub const MAX_LEVEL: u32 = 40;
/// A baseline over fewer days than this is a warm-up baseline.
pub const WARM_UP_DAYS: u32 = 7;

mod levels;
mod spend;
mod trace;

pub use levels::{crossings, level_extra, level_reached, Crossing};
pub use spend::{DayAgg, SpendAgg};
pub use trace::{counted_start, ToTrace, TraceDay, Tracer};

/// A destination country: two ASCII letters (`--` for internal calls).
/// Written as a two-letter string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(pub [u8; 2]);

impl Country {
    /// As text (lossy for bytes that are not UTF-8, which tariffs never load).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl std::fmt::Display for Country {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match s.as_bytes() {
            &[a, b] => Ok(Country([a, b])),
            _ => Err(serde::de::Error::custom(format!("country {s:?} is not two letters"))),
        }
    }
}

/// What the state keeps of one customer day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayState {
    /// Sum of sell so far.
    pub units: i64,
    /// Rated calls so far.
    pub calls: u64,
    /// Sell per destination country.
    pub countries: BTreeMap<Country, i64>,
    /// Highest alert level already raised (0 = none).
    pub level: u32,
}

/// What the state keeps of one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDays {
    /// First day with calls ever (kept when older days are pruned).
    pub first_day: Option<i64>,
    /// Recent days: the baseline window plus today (and late days in it).
    pub days: BTreeMap<i64, DayState>,
}

/// A baseline: the mean `sum / n` of the `n` days before a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    /// Sum of spend over the days.
    pub sum: i64,
    /// Days averaged (0 = no history: baseline 0).
    pub n: u32,
}

impl CustomerDays {
    /// The baseline of day `day` (SPEC §9): the mean over
    /// `n = min(window, days since the first day with calls, before day)`
    /// days before it; days without calls count as 0.
    pub fn baseline(&self, day: i64, window: u32) -> Baseline {
        let n = match self.first_day {
            Some(first) if first < day => (day - first).min(i64::from(window)) as u32,
            _ => 0,
        };
        let sum = self.days.range(day - i64::from(n)..day).map(|(_, d)| d.units).sum();
        Baseline { sum, n }
    }

    /// Drops days before `keep_from` (retention), keeping `first_day`.
    pub fn prune(&mut self, keep_from: i64) {
        self.days = self.days.split_off(&keep_from);
    }
}

impl Baseline {
    /// Whether `spend` exceeds `baseline + extra`, exactly.
    pub fn exceeded_by(&self, spend: i64, extra: i128) -> bool {
        let n = i128::from(self.n.max(1));
        let sum = if self.n == 0 { 0 } else { i128::from(self.sum) };
        i128::from(spend) * n > sum + n * extra
    }

    /// The baseline rounded half away from zero to whole units.
    pub fn rounded(&self) -> i64 {
        if self.n == 0 {
            return 0;
        }
        let n = i64::from(self.n);
        let (q, r) = (self.sum.div_euclid(n), self.sum.rem_euclid(n));
        if 2 * r >= n {
            q + 1
        } else {
            q
        }
    }
}

/// One IDS alert, as written to the alert log (SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Always `ids_threshold`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `CUSTOMER/DAY/LEVEL`: unique, so a redo after a crash never logs an alert twice.
    pub alert_id: String,
    /// The customer.
    pub customer_id: String,
    /// Their name.
    pub customer_name: String,
    /// The customer day, `YYYY-MM-DD`.
    pub day: String,
    /// Spend of the day at the crossing.
    pub spend: String,
    /// Baseline (mean day).
    pub baseline: String,
    /// The IDS range.
    pub range: String,
    /// `baseline + range` (level 1).
    pub threshold: String,
    /// `baseline + range x 2^(level-1)`: what this level crossed.
    pub level_threshold: String,
    /// 1, 2, 3, ...
    pub level: u32,
    /// Currency of the customer's plan.
    pub currency: String,
    /// Calls of the day up to the crossing.
    pub calls: u64,
    /// The call that crossed.
    pub trigger_call_id: String,
    /// The input file that held it.
    pub file: String,
    /// Spend per destination country that day up to and including the
    /// trigger call, largest first (top 5; internal calls left out).
    pub top_destinations: Vec<CountrySpend>,
    /// When the alert was raised (RFC 3339, UTC).
    pub emitted_at: String,
    /// The baseline covers fewer than 7 days.
    pub warm_up: bool,
    /// The call's day is before the customer's current day.
    pub late: bool,
    /// The daemon's site on the shared store (SPEC §13); absent on the
    /// embedded store, whose alert lines stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// Spend to one destination country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountrySpend {
    /// ISO code (`XX` non-geographic).
    pub country: String,
    /// Spend.
    pub spend: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(spends: &[(i64, i64)]) -> CustomerDays {
        let mut c = CustomerDays::default();
        for &(d, u) in spends {
            c.first_day = Some(c.first_day.map_or(d, |f| f.min(d)));
            c.days.insert(d, DayState { units: u, calls: 1, ..DayState::default() });
        }
        c
    }

    #[test]
    fn baseline_counts_missing_days_as_zero_and_caps_at_the_window() {
        // Calls on days 10 and 12 only; day 13's baseline averages days 10, 11, 12.
        let c = days(&[(10, 300), (12, 600)]);
        assert_eq!(c.baseline(13, 28), Baseline { sum: 900, n: 3 });
        assert_eq!(c.baseline(13, 2), Baseline { sum: 600, n: 2 });
        assert_eq!(c.baseline(10, 28), Baseline { sum: 0, n: 0 });
        assert_eq!(Baseline { sum: 900, n: 3 }.rounded(), 300);
        assert_eq!(Baseline { sum: 5, n: 2 }.rounded(), 3);
    }

    #[test]
    fn levels_double_the_excess() {
        let base = Baseline { sum: 3000, n: 3 }; // mean 1000
                                                 // range 500: level 1 above 1500, 2 above 2000, 3 above 3000, 4 above 5000.
        assert_eq!(level_reached(1500, base, 500), 0);
        assert_eq!(level_reached(1501, base, 500), 1);
        assert_eq!(level_reached(2001, base, 500), 2);
        assert_eq!(level_reached(3001, base, 500), 3);
        assert_eq!(level_reached(5001, base, 500), 4);
        // range 0: only level 1, above the mean.
        assert_eq!(level_reached(1001, base, 0), 1);
        assert_eq!(level_reached(1_000_000, base, 0), 1);
        // exact fractions: mean 1000/3 = 333.33..., range 0: 334 crosses, 333 does not.
        let third = Baseline { sum: 1000, n: 3 };
        assert_eq!(level_reached(333, third, 0), 0);
        assert_eq!(level_reached(334, third, 0), 1);
    }

    #[test]
    fn crossings_name_the_call_and_never_repeat_a_level() {
        let base = Baseline { sum: 0, n: 0 };
        // range 100: levels at >100, >200, >400.
        let got = crossings(50, 2, &[30, 30, 200, 10], base, 100, 0);
        assert_eq!(
            got,
            vec![
                Crossing { level: 1, call: 1, spend: 110, calls: 4 },
                Crossing { level: 2, call: 2, spend: 310, calls: 5 },
            ]
        );
        // Level 1 already fired earlier: only higher levels.
        assert_eq!(crossings(110, 4, &[300], base, 100, 1).iter().map(|c| c.level).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn aggregates_merge_in_any_order() {
        let mut a = SpendAgg::default();
        a.add(1, 10, 5, *b"NL");
        a.add(1, 10, 7, *b"BE");
        let mut b = SpendAgg::default();
        b.add(1, 10, 7, *b"BE");
        b.add(2, 11, 1, *b"NL");
        // Same customer slot, other customers and days in between: folds.
        b.add(65, 11, 3, *b"DE");
        b.add(1, 10, 0, *b"--");
        b.add(1, 10, 2, *b"x1");
        a.flush();
        b.flush();
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab.days(), ba.days());
        let days = ab.days();
        assert_eq!(
            days[&(1, 10)].countries,
            vec![(Country(*b"--"), 0), (Country(*b"BE"), 14), (Country(*b"NL"), 5), (Country(*b"x1"), 2)]
        );
        assert_eq!((days[&(1, 10)].units, days[&(1, 10)].calls), (21, 5));
        assert_eq!((days[&(65, 11)].units, days[&(65, 11)].calls), (3, 1));
        assert_eq!((days[&(2, 11)].units, days[&(2, 11)].calls), (1, 1));
    }

    /// (customer, day) to (units, calls, units per country).
    type Sums = BTreeMap<(u32, i64), (i64, u64, BTreeMap<Country, i64>)>;

    proptest::proptest! {
        /// The open-day fast path adds up exactly like a plain map, for any
        /// interleaving of customers (sharing slots), days and countries.
        #[test]
        fn aggregate_equals_a_plain_sum(calls in proptest::collection::vec(
            (0u32..200, 0i64..4, 0i64..1000, proptest::sample::select(vec![*b"NL", *b"BE", *b"--", *b"ZZ", *b"n1"])),
            0..400,
        ), split in 0usize..400) {
            let mut want: Sums = BTreeMap::new();
            for &(c, d, u, country) in &calls {
                let e = want.entry((c, d)).or_default();
                e.0 += u;
                e.1 += 1;
                *e.2.entry(Country(country)).or_default() += u;
            }
            // Two chunks, merged, as the pipeline does.
            let split = split.min(calls.len());
            let (mut a, mut b) = (SpendAgg::default(), SpendAgg::default());
            for &(c, d, u, country) in &calls[..split] {
                a.add(c, d, u, country);
            }
            for &(c, d, u, country) in &calls[split..] {
                b.add(c, d, u, country);
            }
            a.flush();
            b.flush();
            a.merge(&b);
            let got: Sums = a
                .days()
                .into_iter()
                .map(|(k, d)| (k, (d.units, d.calls, d.countries.into_iter().collect())))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
