//! Which call crossed an IDS level, and the day as it stood then: for each
//! customer day whose spend crossed a level in a file, its calls in
//! processing order (the instant each counts at, then line), the levels it
//! crossed ([`crossings`]) and their alerts (SPEC §9).
//!
//! Why from the rating's call log: the rating already keeps each call's
//! start, sell, destination country and row ([`RatedCall`], the record the
//! fraud rules judge), so the calls of a day that crossed are known without
//! reading the published output back;
//! only the trigger calls' ids are read, by their rows' offsets, by the
//! caller (`rows::call_ids`). Pure otherwise: "now" is the file's.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use super::{crossings, level_extra, Alert, Baseline, Country, CountrySpend, DayState, WARM_UP_DAYS};
use crate::fraud::RatedCall;
use crate::money::format_units;
use crate::tariff::Tariff;
use crate::timefmt::{self, DayMapper};

/// A customer day whose spend crossed a level in a file: what its alerts
/// are judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceDay {
    /// The day as it was before the file.
    pub before: DayState,
    /// The day's baseline.
    pub baseline: Baseline,
    /// The customer's IDS range, in units.
    pub range: i64,
    /// The customer's current day.
    pub today: i64,
}

/// The customer days to trace, by (customer, day).
pub type ToTrace = BTreeMap<(u32, i64), TraceDay>;

/// The instant a call that starts at `start` counts at for IDS, in a file
/// rated at `now` whose starts after `latest_start` are flagged as in the
/// future (`totals::Flag::StartInFuture`): such a call counts at `now`, on
/// the day it is rated (its own day has not come, and a switch with a
/// broken clock must not fill the state with future days). The rating's
/// spend (`RowLimits::ids_start`) and the tracing both use this.
#[inline]
pub fn counted_start(start: i64, now: i64, latest_start: i64) -> i64 {
    if start > latest_start {
        now
    } else {
        start
    }
}

/// A call of a traced day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayCall {
    /// The instant it counts at ([`counted_start`]).
    start: i64,
    /// Its row ([`RatedCall::at`]).
    at: u64,
    /// Its sell, in units.
    sell: i64,
    /// Its destination country; `None` for an internal call.
    country: Option<Country>,
}

/// What the IDS alerts of one file are traced with.
pub struct Tracer<'a> {
    /// The tables that priced the file.
    pub tariff: &'a Tariff,
    /// Zone of the day of customers without their own (the source's).
    pub timezone: &'a TimeZone,
    /// "Now" of the file's rating (unix seconds).
    pub now: i64,
    /// Starts after this were flagged as in the future (unix seconds).
    pub latest_start: i64,
    /// Decimals of prices.
    pub decimals: u32,
    /// The input file, as alerts name it.
    pub file: &'a str,
}

impl Tracer<'_> {
    /// The alerts of the days of `to_trace`, in its order, from `calls`:
    /// the file's calls in any order (as rated, or grouped per customer for
    /// the fraud rules). `call_ids` reads the ids of the rows at the offsets
    /// it is given (one per offset, in order); it is called once, and only
    /// when there are alerts.
    pub fn alerts<E>(
        &self,
        calls: &[RatedCall],
        to_trace: &ToTrace,
        call_ids: impl FnOnce(&[u64]) -> Result<Vec<String>, E>,
    ) -> Result<Vec<Alert>, E> {
        if to_trace.is_empty() {
            return Ok(Vec::new());
        }
        let tariff = self.tariff;
        // The traced customers' days, by slot; the slot of each customer
        // (`NONE` when not traced).
        let mut slot = vec![NONE; tariff.customers.len()];
        let mut days: Vec<Days> = Vec::new();
        for &(c, day) in to_trace.keys() {
            if slot[c as usize] == NONE {
                slot[c as usize] = days.len() as u32;
                let zone = tariff.customers[c as usize].zone.map_or(self.timezone, |z| &tariff.zones[usize::from(z)]);
                days.push(Days { day_of: DayMapper::new(zone.clone()), lists: BTreeMap::new() });
            }
            days[slot[c as usize] as usize].lists.insert(day, Vec::new());
        }
        calls_by_day(calls, &slot, &mut days, |t| counted_start(t, self.now, self.latest_start));
        let emitted_at = jiff::Timestamp::from_second(self.now).map(|t| t.to_string()).unwrap_or_default();
        // Each alert with the row of its trigger call.
        let mut traced: Vec<(Alert, u64)> = Vec::new();
        for (&(c, day), trace) in to_trace {
            let list = &days[slot[c as usize] as usize].lists[&day];
            if !list.is_empty() {
                self.day_alerts((c, day), trace, list, &emitted_at, &mut traced);
            }
        }
        if traced.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<u64> = traced.iter().map(|t| t.1).collect();
        let ids = call_ids(&rows)?;
        Ok(traced.into_iter().zip(ids).map(|((alert, _), id)| Alert { trigger_call_id: id, ..alert }).collect())
    }

    /// Appends to `out` the alerts of customer `c`'s day `day`, whose calls
    /// in this file are `list`, each with the row of its trigger call.
    fn day_alerts(
        &self,
        (c, day): (u32, i64),
        trace: &TraceDay,
        list: &[DayCall],
        emitted_at: &str,
        out: &mut Vec<(Alert, u64)>,
    ) {
        let TraceDay { before, baseline: base, range, today } = trace;
        let units = |u: i64| format_units(i128::from(u), self.decimals);
        let sells: Vec<i64> = list.iter().map(|x| x.sell).collect();
        let customer = &self.tariff.customers[c as usize];
        // The day's spend per country as the alert fires: the state
        // before this file, then this file's calls up to the trigger.
        let mut spent = before.countries.clone();
        spent.remove(&Country(*b"--"));
        let mut added = 0;
        let currency = self.tariff.currency_of(c).to_string();
        let baseline = base.rounded();
        for x in crossings(before.units, before.calls, &sells, *base, *range, before.level) {
            let extra = level_extra(*range, x.level);
            let level_threshold = format_units(i128::from(baseline) + extra, self.decimals);
            for call in &list[added..=x.call] {
                if let Some(country) = call.country {
                    *spent.entry(country).or_default() += call.sell;
                }
            }
            added = x.call + 1;
            let alert = Alert {
                kind: "ids_threshold".into(),
                alert_id: format!("{}/{}/{}", customer.id, timefmt::format_day(day), x.level),
                customer_id: customer.id.clone(),
                customer_name: customer.name.clone(),
                day: timefmt::format_day(day),
                spend: units(x.spend),
                baseline: units(baseline),
                range: units(*range),
                threshold: units(baseline + range),
                level_threshold,
                level: x.level,
                currency: currency.clone(),
                calls: x.calls,
                // Read by offset once every alert of the file is known.
                trigger_call_id: String::new(),
                file: self.file.to_string(),
                top_destinations: top_destinations(&spent, units),
                emitted_at: emitted_at.to_string(),
                warm_up: base.n < WARM_UP_DAYS,
                late: day < *today,
                site: None,
            };
            out.push((alert, list[x.call].at));
        }
    }
}

/// [`Tracer::alerts`]' slot of a customer that is not traced.
const NONE: u32 = u32::MAX;

/// The traced days of one customer.
struct Days {
    /// The customer's days.
    day_of: DayMapper,
    /// The calls of each traced day.
    lists: BTreeMap<i64, Vec<DayCall>>,
}

/// Puts each call of a traced customer (`days[slot[customer]]`) in the list
/// of its IDS day, when that day is traced, then each list in processing
/// order: by the instant each call counts at, then row (the same whatever
/// the order of `calls`). A call from the future counts on the day of
/// "now", at "now", as the rating's spend counts it.
fn calls_by_day(calls: &[RatedCall], slot: &[u32], days: &mut [Days], counted_start: impl Fn(i64) -> i64) {
    for call in calls {
        let Some(&at) = slot.get(call.customer as usize).filter(|s| **s != NONE) else { continue };
        let customer = &mut days[at as usize];
        let start = counted_start(call.start);
        if let Some(list) = customer.lists.get_mut(&customer.day_of.day_of(start)) {
            let country = (call.country != *b"--").then_some(Country(call.country));
            list.push(DayCall { start, at: call.at, sell: call.sell, country });
        }
    }
    for list in days.iter_mut().flat_map(|d| d.lists.values_mut()) {
        if !list.is_sorted_by_key(|x| (x.start, x.at)) {
            list.sort_unstable_by_key(|x| (x.start, x.at));
        }
    }
}

/// The five countries with the most spend, largest first (ties by code);
/// countries without spend are left out.
fn top_destinations(spent: &BTreeMap<Country, i64>, units: impl Fn(i64) -> String) -> Vec<CountrySpend> {
    let mut top: Vec<(&Country, &i64)> = spent.iter().filter(|(_, u)| **u > 0).collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    top.into_iter().take(5).map(|(c, u)| CountrySpend { country: c.to_string(), spend: units(*u) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fraud::NO_HIGH_RISK;

    fn call(start: i64, at: u64, sell: i64, country: &[u8; 2]) -> RatedCall {
        RatedCall { start, sell, at, customer: 1, high_risk: NO_HIGH_RISK, country: *country }
    }

    /// 2026-11-25T10:00:00Z.
    const NOW: i64 = 1_796_205_600;
    const DAY: i64 = 86_400;

    /// The traced days of customer 1 (customers 0 and 2 are not traced).
    fn traced(calls: &[RatedCall], traced: &[i64]) -> BTreeMap<i64, Vec<DayCall>> {
        let lists = traced.iter().map(|d| (*d, Vec::new())).collect();
        let mut days = [Days { day_of: DayMapper::new(TimeZone::UTC), lists }];
        calls_by_day(calls, &[NONE, 0, NONE], &mut days, |t| counted_start(t, NOW, NOW + DAY));
        let [days] = days;
        days.lists
    }

    #[test]
    fn a_call_from_the_future_counts_at_now_on_the_day_of_now() {
        let today = NOW.div_euclid(DAY);
        // A call half an hour after now (not flagged), one of 2029 (flagged:
        // it counts at now), one of yesterday (not traced), and one of
        // another customer.
        let mut calls = [
            call(NOW - DAY, 0, 1, b"NL"),
            call(NOW + 1800, 10, 2, b"GB"),
            call(NOW + 4 * 365 * DAY, 20, 3, b"--"),
            RatedCall { customer: 2, ..call(NOW, 30, 4, b"NL") },
        ];
        let got = traced(&calls, &[today]);
        let want = [
            DayCall { start: NOW, at: 20, sell: 3, country: None },
            DayCall { start: NOW + 1800, at: 10, sell: 2, country: Some(Country(*b"GB")) },
        ];
        assert_eq!(got[&today], want);
        // In any order.
        calls.reverse();
        assert_eq!(traced(&calls, &[today])[&today], want);
    }

    #[test]
    fn calls_of_one_second_keep_their_line_order() {
        let today = NOW.div_euclid(DAY);
        let calls = [call(NOW - 60, 70, 2, b"NL"), call(NOW - 60, 30, 1, b"NL"), call(NOW - 60, 90, 3, b"BE")];
        let got = traced(&calls, &[today, today - 1]);
        assert_eq!(got[&today].iter().map(|c| c.at).collect::<Vec<_>>(), [30, 70, 90]);
        assert!(got[&(today - 1)].is_empty());
    }

    #[test]
    fn top_destinations_are_the_five_largest_spends() {
        let spent: BTreeMap<Country, i64> =
            [(*b"AA", 5), (*b"BB", 7), (*b"CC", 5), (*b"DD", 0), (*b"EE", 1), (*b"FF", 2), (*b"GG", 9)]
                .into_iter()
                .map(|(c, u)| (Country(c), u))
                .collect();
        let top: Vec<String> = top_destinations(&spent, |u| u.to_string())
            .into_iter()
            .map(|c| format!("{}={}", c.country, c.spend))
            .collect();
        assert_eq!(top, ["GG=9", "BB=7", "AA=5", "CC=5", "FF=2"]);
    }
}
