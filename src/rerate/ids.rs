//! A re-rated file's IDS difference: each customer day moved by new − old
//! spend. Levels are never lowered. A day before the customer's current
//! day raises no alert (its level stays); the current day is judged as a
//! newly rated file's would be, from its spend without the file's old calls,
//! and the calls that cross are named from the re-rating's calls (their
//! ids read from the new rated output), as `job` names a new file's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rust_decimal::Decimal;

use super::{Engine, RerateError};
use crate::fraud::RatedCall;
use crate::ids::{self, Alert, CustomerDays, DayAgg, SpendAgg, ToTrace, TraceDay};
use crate::pipeline::RowLimits;
use crate::tariff::Tariff;
use crate::timefmt::DayMapper;

/// The IDS move of one file.
pub(super) struct IdsMove<'m, 'a> {
    /// The store and settings.
    pub(super) engine: &'m Engine<'a>,
    /// The tables the file was re-rated with.
    pub(super) tariff: &'m Tariff,
    /// The file's source zone (of customers without their own).
    pub(super) zone: &'m jiff::tz::TimeZone,
    /// The re-rating's limits ("now").
    pub(super) limits: &'m RowLimits,
}

/// A customer's range in price units (as `job` rounds it).
fn range_units(range: Decimal, decimals: u32) -> i64 {
    let scaled = (range * Decimal::from(10i64.pow(decimals)))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(scaled.mantissa() / 10i128.pow(scaled.scale())).unwrap_or(i64::MAX)
}

/// Takes `agg` off (`sign` -1) or adds it to (`sign` 1) a day.
fn apply(state: &mut ids::DayState, agg: Option<&DayAgg>, sign: i64) {
    let Some(agg) = agg else { return };
    state.units += sign * agg.units;
    state.calls = (state.calls as i64 + sign * agg.calls as i64).max(0) as u64;
    for (country, u) in &agg.countries {
        *state.countries.entry(*country).or_default() += sign * u;
    }
}

impl IdsMove<'_, '_> {
    /// The changed customers' days, and the current days that crossed a level.
    pub(super) fn days(
        &self,
        old: &SpendAgg,
        new: &SpendAgg,
    ) -> Result<(Vec<(String, CustomerDays)>, ToTrace), RerateError> {
        let config = self.engine.config;
        let mut to_trace = ToTrace::new();
        if !config.ids.enabled {
            return Ok((Vec::new(), to_trace));
        }
        let window = config.ids.window_days;
        let (old, new) = (old.days(), new.days());
        let customers: BTreeSet<u32> = old.keys().chain(new.keys()).map(|k| k.0).collect();
        let mut out = Vec::new();
        for c in customers {
            let customer = &self.tariff.customers[c as usize];
            let zone = customer.zone.map_or_else(|| self.zone.clone(), |z| self.tariff.zones[usize::from(z)].clone());
            let mut days_of = DayMapper::new(zone);
            let now = self.limits.now;
            let today = days_of.day_of(now);
            let cut = today - 2 * i64::from(window);
            let earliest = days_of.day_of(self.limits.earliest_start.max(now - 1_000_000_000));
            let mut cd = self.engine.ledger.customer_days(&customer.id)?;
            let of = |m: &BTreeMap<(u32, i64), DayAgg>| -> Vec<i64> {
                m.range((c, i64::MIN)..=(c, i64::MAX)).map(|(k, _)| k.1).collect()
            };
            let days: BTreeSet<i64> = of(&old).into_iter().chain(of(&new)).filter(|d| *d >= cut).collect();
            for &day in &days {
                let (o, n) = (old.get(&(c, day)), new.get(&(c, day)));
                let state = cd.days.entry(day).or_default();
                apply(state, o, -1);
                apply(state, n, 1);
                let kept: BTreeSet<ids::Country> = n.iter().flat_map(|n| n.countries.iter().map(|x| x.0)).collect();
                state.countries.retain(|country, u| *u != 0 || kept.contains(country));
                if state.calls == 0 && state.units == 0 && state.level == 0 {
                    cd.days.remove(&day);
                }
                if n.is_some() && day > earliest {
                    cd.first_day = Some(cd.first_day.map_or(day, |f| f.min(day)));
                }
            }
            // The current day, judged on the days as they now are.
            if let (Some(range), true) = (customer.ids_range, days.contains(&today)) {
                let range = range_units(range, config.price_decimals);
                let base = cd.baseline(today, window);
                if let Some(state) = cd.days.get_mut(&today) {
                    let reached = ids::level_reached(state.units, base, range);
                    if reached > state.level {
                        let mut before = state.clone();
                        apply(&mut before, new.get(&(c, today)), -1);
                        before.countries.retain(|_, u| *u != 0);
                        to_trace.insert((c, today), TraceDay { before, baseline: base, range, today });
                        state.level = reached;
                    }
                }
            }
            cd.prune(cut);
            out.push((customer.id.clone(), cd));
        }
        Ok((out, to_trace))
    }

    /// The alerts of the current days that crossed, from the re-rating's
    /// `calls`, their trigger calls' ids read from the new rated output
    /// `rated` of input `file`.
    pub(super) fn alerts(
        &self,
        file: &str,
        rated: &Path,
        calls: &[RatedCall],
        to_trace: &ToTrace,
    ) -> Result<Vec<Alert>, RerateError> {
        let tracer = ids::Tracer {
            tariff: self.tariff,
            timezone: self.zone,
            now: self.limits.now,
            latest_start: self.limits.latest_start,
            decimals: self.engine.config.price_decimals,
            file,
        };
        tracer
            .alerts(calls, to_trace, |rows| crate::rows::call_ids(rated, rows))
            .map_err(|source| RerateError::Io { path: rated.to_path_buf(), source })
    }
}
