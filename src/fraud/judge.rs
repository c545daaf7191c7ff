//! The rules over one customer's calls of one file, in processing order
//! (by start, then line), against the state the customer brought from
//! earlier files; returns what fired and leaves the state to commit.
//!
//! Each rule fires at most once per customer and local day, the first time
//! its condition holds: per call (`high_risk_destination`, `call_cost`) on
//! the call's day; for the night spend on the call's day once the day's
//! international spend inside the window exceeds the limit; for the two
//! window rules on the day of the window's first call, the first time a
//! window holds more than the limit, naming the call whose arrival made it
//! so. Days before `today - JUDGED_DAYS_BACK` are not judged (and their
//! state is dropped). A call flagged `start_in_future` (a switch clock
//! gone wrong) counts on the customer's current day for the per-call rules,
//! like IDS, and is left out of the windows and the night spend: its
//! time is not known.

use rust_decimal::Decimal;

use super::calls::{RatedCall, NO_HIGH_RISK};
use super::delta::{drop_range, merge_into, BatchWriter};
use super::local::LocalClock;
use super::rules::Profile;
use super::state::CustomerState;
use super::windows::{calls_over, countries_over, Cursor, Sliding};
use super::{Rule, CALL_WINDOW, COUNTRY_WINDOW, JUDGED_DAYS_BACK};

/// What the judgement of one customer needs besides the calls and state.
#[derive(Debug)]
pub struct Context<'a> {
    /// The customer's limits.
    pub profile: &'a Profile,
    /// The customer's zone.
    pub clock: &'a mut LocalClock,
    /// "Now" of the file (unix seconds).
    pub now: i64,
    /// Starts after this are flagged `start_in_future`.
    pub latest_start: i64,
    /// The home country: every other destination is foreign (`XX` too).
    pub home_country: [u8; 2],
    /// The profile's money limits in units ([`Units::of`], once per file).
    pub units: Units,
}

/// A profile's money limits in units of `10^-decimals`, rounded down: for
/// whole units `u`, `u > amount` exactly when `u > floor(amount)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    /// `max_cost`.
    pub cost: Option<i128>,
    /// The night's `international_spend`.
    pub night: Option<i128>,
}

impl Units {
    /// The limits of `profile` at `decimals`.
    pub fn of(profile: &Profile, decimals: u32) -> Units {
        Units {
            cost: profile.max_cost.map(|c| units_floor(c, decimals)),
            night: profile.night.as_ref().map(|n| units_floor(n.spend, decimals)),
        }
    }
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Which.
    pub rule: Rule,
    /// The customer's local day it fired for.
    pub day: i64,
    /// Index (in the calls judged) of the call that made it fire.
    pub call: usize,
    /// The rule's own figures.
    pub figures: Figures,
}

/// What each rule reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figures {
    /// The high-risk entry hit.
    HighRisk {
        /// Index into `FraudRules::entries`.
        entry: u16,
    },
    /// A window with too many calls.
    Calls {
        /// The limit.
        limit: u32,
        /// Calls in the window.
        count: u32,
        /// Its start (unix seconds); it ends 60 s later.
        window_start: i64,
    },
    /// A window with too many foreign countries.
    Countries {
        /// The limit.
        limit: u32,
        /// The window's foreign countries, sorted.
        countries: Vec<[u8; 2]>,
        /// Its start (unix seconds); it ends an hour later.
        window_start: i64,
    },
    /// A call above the cost limit.
    Cost {
        /// The limit.
        limit: Decimal,
        /// The call's sell (units).
        sell: i64,
    },
    /// The night's international spend above its limit.
    Night {
        /// The limit.
        limit: Decimal,
        /// The spend with the trigger call (units).
        spend: i64,
        /// The window, seconds after midnight.
        from: u32,
        /// See `from`.
        until: u32,
    },
}

/// Scratch memory reused from customer to customer.
#[derive(Debug, Default)]
pub struct Scratch {
    starts: Vec<i64>,
    foreign: Vec<(i64, [u8; 2])>,
    merged: Vec<i64>,
    merged_foreign: Vec<(i64, [u8; 2])>,
    sliding: Sliding,
    calls_cursor: Cursor,
    countries_cursor: Cursor,
    /// The file's calls kept for the state (and the log).
    added: Vec<i64>,
    added_foreign: Vec<(i64, [u8; 2])>,
}

/// `amount` in units of `10^-decimals`, rounded down.
fn units_floor(amount: Decimal, decimals: u32) -> i128 {
    match amount.checked_mul(Decimal::from(10i64.pow(decimals))) {
        Some(v) => {
            let v = v.trunc();
            v.mantissa() / 10i128.pow(v.scale())
        }
        None => i128::MAX,
    }
}

/// Judges `calls` (one customer's, in processing order) against `state`,
/// which is updated for the next file; the change is written to `log` (the
/// customer's entry, after the caller's [`BatchWriter::customer`]).
/// Returns the rules that fired, in order.
pub fn judge_customer(
    cx: &mut Context<'_>,
    state: &mut CustomerState,
    calls: &[RatedCall],
    scratch: &mut Scratch,
    log: &mut BatchWriter,
) -> Vec<Firing> {
    let p = cx.profile;
    let today = cx.clock.day(cx.now);
    let cutoff = today - JUDGED_DAYS_BACK;
    let (cost_limit, night_limit) = (cx.units.cost, cx.units.night);
    scratch.starts.clear();
    scratch.foreign.clear();
    scratch.sliding.reset();
    scratch.calls_cursor = Cursor::default();
    scratch.countries_cursor = Cursor::default();
    let mut fired = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let future = c.start > cx.latest_start;
        let (day, time) = cx.clock.day_and_time(if future { cx.now } else { c.start });
        let judged = day >= cutoff;
        let foreign = c.country != cx.home_country && c.country != *b"--";
        let fire = |state: &mut CustomerState, fired: &mut Vec<Firing>, rule: Rule, day: i64, figures: Figures| {
            state.days.entry(day).or_default().fired |= rule.bit();
            fired.push(Firing { rule, day, call: i, figures });
        };
        let open = |state: &CustomerState, day: i64, rule: Rule| day >= cutoff && !state.fired(day, rule);
        if judged && p.high_risk.is_some() && c.high_risk != NO_HIGH_RISK && open(state, day, Rule::HighRiskDestination)
        {
            fire(state, &mut fired, Rule::HighRiskDestination, day, Figures::HighRisk { entry: c.high_risk });
        }
        if !future {
            if let Some(limit) = p.calls_per_minute {
                scratch.starts.push(c.start);
                if judged {
                    let over = calls_over(
                        &state.starts,
                        &scratch.starts,
                        CALL_WINDOW,
                        limit,
                        cx.clock,
                        |d| open(state, d, Rule::VelocityCalls),
                        &mut scratch.calls_cursor,
                        &mut scratch.merged,
                    );
                    for o in over {
                        let figures = Figures::Calls { limit, count: o.count, window_start: o.start };
                        fire(state, &mut fired, Rule::VelocityCalls, o.day, figures);
                    }
                }
            }
            if let (Some(limit), true) = (p.countries_per_hour, foreign) {
                scratch.foreign.push((c.start, c.country));
                // The sliding count moves with every foreign call, judged or not.
                let over = countries_over(
                    &state.foreign,
                    &scratch.foreign,
                    COUNTRY_WINDOW,
                    limit,
                    cx.clock,
                    |d| judged && open(state, d, Rule::VelocityCountries),
                    &mut scratch.sliding,
                    &mut scratch.countries_cursor,
                    &mut scratch.merged_foreign,
                );
                for (o, countries) in over {
                    let figures = Figures::Countries { limit, countries, window_start: o.start };
                    fire(state, &mut fired, Rule::VelocityCountries, o.day, figures);
                }
            }
        }
        if let (Some(limit), true) = (cost_limit, judged) {
            if i128::from(c.sell) > limit && open(state, day, Rule::CallCost) {
                let figures = Figures::Cost { limit: p.max_cost.unwrap_or_default(), sell: c.sell };
                fire(state, &mut fired, Rule::CallCost, day, figures);
            }
        }
        if let (Some(night), Some(limit), true) = (&p.night, night_limit, judged && !future && foreign) {
            if night.contains(time) && open(state, day, Rule::NightSpend) {
                let marks = state.days.entry(day).or_default();
                marks.night_units += c.sell;
                if i128::from(marks.night_units) > limit {
                    let figures = Figures::Night {
                        limit: night.spend,
                        spend: marks.night_units,
                        from: night.from,
                        until: night.until,
                    };
                    fire(state, &mut fired, Rule::NightSpend, day, figures);
                }
            }
        }
    }
    keep(cx, state, scratch, cutoff, &fired, log);
    fired
}

/// The state to carry on, and the change made to it (written to `log`; the
/// store applies it again with the same functions): the file's calls
/// merged in; what no later judgement can look at dropped (days before
/// `cutoff`; times of a day whose window rule fired, but for its first
/// window's width, which the day before's windows still reach; a rule that
/// is off keeps nothing).
///
/// Work in proportion to the file's calls, not to the state: the state
/// was pruned when it was committed, so only the new calls are filtered,
/// the days that fired in this file cut out, and the days that aged past
/// `cutoff` cut off the front (times are sorted, days follow them).
fn keep(
    cx: &mut Context<'_>,
    state: &mut CustomerState,
    scratch: &mut Scratch,
    cutoff: i64,
    fired: &[Firing],
    log: &mut BatchWriter,
) {
    let p = cx.profile;
    if state.days.first_key_value().is_some_and(|(&d, _)| d < cutoff) {
        state.days = state.days.split_off(&cutoff);
    }
    log.days(&state.days);
    let clock = &mut *cx.clock;
    let days = &state.days;
    let has_fired = |rule: Rule| move |d: i64| days.get(&d).is_some_and(|m| m.fired & rule.bit() != 0);
    if p.calls_per_minute.is_some() {
        let fired_on = has_fired(Rule::VelocityCalls);
        let added = &mut scratch.added;
        added.clear();
        added.extend(scratch.starts.iter().copied().filter(|&t| needed(clock, t, CALL_WINDOW, cutoff, fired_on)));
        merge_into(&mut state.starts, added, |x| *x);
        let dropped = prune(&mut state.starts, |x| *x, clock, cutoff, CALL_WINDOW, fired, Rule::VelocityCalls);
        log.edit_starts(added, &dropped);
    } else {
        state.starts = Vec::new();
        log.clear();
    }
    let days = &state.days;
    let has_fired = |rule: Rule| move |d: i64| days.get(&d).is_some_and(|m| m.fired & rule.bit() != 0);
    if p.countries_per_hour.is_some() {
        let fired_on = has_fired(Rule::VelocityCountries);
        let added = &mut scratch.added_foreign;
        added.clear();
        added.extend(scratch.foreign.iter().copied().filter(|x| needed(clock, x.0, COUNTRY_WINDOW, cutoff, fired_on)));
        merge_into(&mut state.foreign, added, |x| x.0);
        let dropped = prune(&mut state.foreign, |x| x.0, clock, cutoff, COUNTRY_WINDOW, fired, Rule::VelocityCountries);
        log.edit_foreign(added, &dropped);
    } else {
        state.foreign = Vec::new();
        log.clear();
    }
}

/// Cuts the times before day `cutoff` off the front of sorted `times`, and
/// of each day `rule` fired for in `fired` all but its first `width`;
/// returns the ranges of times dropped (by value, in order, as
/// [`super::Delta::apply`] drops them again).
fn prune<T>(
    times: &mut Vec<T>,
    key: impl Fn(&T) -> i64 + Copy,
    clock: &mut LocalClock,
    cutoff: i64,
    width: i64,
    fired: &[Firing],
    rule: Rule,
) -> Vec<(i64, i64)> {
    let mut dropped = Vec::new();
    let value_at = |times: &Vec<T>, i: usize| times.get(i).map_or(i64::MAX, key);
    if times.first().is_some_and(|x| clock.day(key(x)) < cutoff) {
        let old = times.partition_point(|x| clock.day(key(x)) < cutoff);
        dropped.push((i64::MIN, value_at(times, old)));
    }
    if let Some(&(from, until)) = dropped.last() {
        drop_range(times, from, until, key);
    }
    for f in fired.iter().filter(|f| f.rule == rule) {
        let from = times.partition_point(|x| clock.day(key(x)) < f.day);
        let to = times.partition_point(|x| clock.day(key(x)) <= f.day);
        let head = from + times[from..to].partition_point(|x| clock.day(key(x) - width + 1) != f.day);
        if head < to {
            let range = (key(&times[head]), value_at(times, to));
            drop_range(times, range.0, range.1, key);
            dropped.push(range);
        }
    }
    dropped
}

/// Whether a call at `t` may still be counted by a window to judge: its day
/// is judged and its window rule has not fired that day, or it is within
/// the first `width` of its day (the day before's windows reach into it).
fn needed(clock: &mut LocalClock, t: i64, width: i64, cutoff: i64, fired: impl Fn(i64) -> bool) -> bool {
    let day = clock.day(t);
    day >= cutoff && (!fired(day) || clock.day(t - width + 1) != day)
}

#[cfg(test)]
mod tests;
