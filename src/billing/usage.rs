//! A customer's usage of a month, as the store keeps it and `bill` reads it.
//!
//! Calls are summed per customer, month of their start (in the customer's
//! zone), currency and [`Category`]. Where the sums of a month land is the
//! store's decision at commit time: in that month while it is open; once
//! it is closed, in the next open month as a [`Bucket::LateCalls`] (a file
//! rated late) or [`Bucket::Rerating`] (a re-rating difference) line.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use crate::tariff::Category;
use crate::timefmt;

/// A calendar month, counted in months since January of year 0 (so months
/// order and step by integer arithmetic).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Month(pub i32);

impl Month {
    /// `year`-`month` (1-based month); `None` when `month` is not 1..=12.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then(|| Month(year * 12 + month as i32 - 1))
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// The month of the year, 1..=12.
    pub fn month(self) -> u32 {
        self.0.rem_euclid(12) as u32 + 1
    }

    /// The month holding a civil day (days since 1970-01-01).
    pub fn of_day(day: i64) -> Month {
        let (y, m, _) = timefmt::civil_from_days(day);
        Month(y as i32 * 12 + m as i32 - 1)
    }

    /// Its first day (days since 1970-01-01).
    pub fn first_day(self) -> i64 {
        timefmt::days_from_civil(self.year(), self.month() as u8, 1)
    }

    /// The number of days in it.
    pub fn days(self) -> i64 {
        self.next().first_day() - self.first_day()
    }

    /// The month after.
    pub fn next(self) -> Month {
        Month(self.0 + 1)
    }

    /// The month before.
    pub fn prev(self) -> Month {
        Month(self.0 - 1)
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        Month::new(y.parse().ok()?, m.parse().ok()?)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl From<Month> for String {
    fn from(m: Month) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Month {
    type Error = String;
    fn try_from(s: String) -> Result<Month, String> {
        Month::parse(&s).ok_or_else(|| format!("not a month (YYYY-MM): {s:?}"))
    }
}

/// Which invoice line kind a usage row feeds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Calls of the bill month itself (`calls` lines).
    Calls,
    /// Calls of an earlier, closed month rated after it closed (`late_calls`).
    LateCalls,
    /// Re-rating differences of an earlier, closed month (`rerating`).
    Rerating,
}

impl Bucket {
    /// As written (`calls`, `late_calls`, `rerating`).
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Calls => "calls",
            Bucket::LateCalls => "late_calls",
            Bucket::Rerating => "rerating",
        }
    }

    /// Reads [`Bucket::as_str`] back.
    pub fn parse(s: &str) -> Option<Bucket> {
        [Bucket::Calls, Bucket::LateCalls, Bucket::Rerating].into_iter().find(|b| b.as_str() == s)
    }
}

/// Where a usage sum is billed: one row of the store's billing totals.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct UsageKey {
    /// The customer id.
    pub customer: String,
    /// The month it is billed in.
    pub bill_month: Month,
    /// The month the calls started in (customer's zone); equals
    /// `bill_month` for [`Bucket::Calls`].
    pub origin: Month,
    /// The plan's currency (ISO code).
    pub currency: String,
    /// The line it feeds.
    pub category: Category,
    /// Regular, late or re-rating.
    pub bucket: Bucket,
}

/// Where usage of `origin` is billed when `closed` are the closed months:
/// in `origin` while it is open (bucket `Calls`), else in the first open
/// month after it, as `late` (`LateCalls` or `Rerating`).
pub fn route(origin: Month, closed: &std::collections::BTreeSet<Month>, late: Bucket) -> (Month, Bucket) {
    if !closed.contains(&origin) {
        return (origin, Bucket::Calls);
    }
    let mut m = origin.next();
    while closed.contains(&m) {
        m = m.next();
    }
    (m, late)
}

/// A late file's routes as stored: `ORIGIN=BILL_MONTH` joined by `;`.
pub fn format_routes<'a>(routes: impl IntoIterator<Item = &'a (Month, Month)>) -> String {
    routes.into_iter().map(|(o, b)| format!("{o}={b}")).collect::<Vec<_>>().join(";")
}

/// Reads [`format_routes`] back.
pub fn parse_routes(text: &str) -> Option<Vec<(Month, Month)>> {
    text.split(';')
        .map(|pair| pair.split_once('=').and_then(|(o, b)| Some((Month::parse(o)?, Month::parse(b)?))))
        .collect()
}

/// What one file adds to (or, re-rated, moves in) a customer's month, as
/// handed to the store; the store decides the bill month and bucket.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsageDelta {
    /// The customer id.
    pub customer: String,
    /// The month the calls started in (customer's zone).
    pub origin: Month,
    /// The plan's currency.
    pub currency: String,
    /// The line it feeds.
    pub category: Category,
    /// The sums (negative parts possible for a re-rating difference).
    pub sums: Sums,
}

/// Sums of calls; signed, since a re-rating difference may be negative.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Sums {
    /// Rated calls.
    pub calls: i64,
    /// Sell-side billed seconds.
    pub billed_s: i64,
    /// Sum of `sell`.
    pub sell: Decimal,
    /// Sum of `buy`.
    pub buy: Decimal,
}

impl Sums {
    /// Adds another sum.
    pub fn add(&mut self, o: &Sums) {
        self.calls += o.calls;
        self.billed_s += o.billed_s;
        self.sell += o.sell;
        self.buy += o.buy;
    }

    /// `self - o`.
    pub fn minus(&self, o: &Sums) -> Sums {
        Sums {
            calls: self.calls - o.calls,
            billed_s: self.billed_s - o.billed_s,
            sell: self.sell - o.sell,
            buy: self.buy - o.buy,
        }
    }

    /// All zero (nothing to store).
    pub fn is_zero(&self) -> bool {
        self.calls == 0 && self.billed_s == 0 && self.sell.is_zero() && self.buy.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_and_print() {
        let m = Month::parse("2026-12").unwrap();
        assert_eq!(m.to_string(), "2026-12");
        assert_eq!(m.next().to_string(), "2027-01");
        assert_eq!(m.next().prev(), m);
        assert_eq!(m.days(), 31);
        assert_eq!(Month::parse("2028-02").unwrap().days(), 29);
        assert_eq!(Month::of_day(m.first_day()), m);
        assert_eq!(Month::of_day(m.first_day() - 1), m.prev());
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Month::parse("26-01"), None);
    }
}
