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
use super::local::LocalClock;
use super::rules::Profile;
use super::state::CustomerState;
use super::windows::{calls_over, countries_over, merge_sorted, Sliding};
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
    /// Decimals of the money units.
    pub decimals: u32,
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
}

/// `amount` in units of `10^-decimals`, rounded down: for whole units
/// `u`, `u > amount` exactly when `u > floor(amount)`.
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
/// which is updated for the next file. Returns the firings in order.
pub fn judge_customer(
    cx: &mut Context<'_>,
    state: &mut CustomerState,
    calls: &[RatedCall],
    scratch: &mut Scratch,
) -> Vec<Firing> {
    let p = cx.profile;
    let today = cx.clock.day(cx.now);
    let cutoff = today - JUDGED_DAYS_BACK;
    let cost_limit = p.max_cost.map(|c| units_floor(c, cx.decimals));
    let night_limit = p.night.as_ref().map(|n| units_floor(n.spend, cx.decimals));
    scratch.starts.clear();
    scratch.foreign.clear();
    scratch.sliding.reset();
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
    keep(cx, state, scratch, cutoff);
    fired
}

/// The state to carry on: the file's calls merged in; what no later
/// judgement can look at dropped (days before `cutoff`; times of a day whose
/// window rule fired, but for its first window's width, which the day
/// before's windows still reach; a rule that is off keeps nothing).
fn keep(cx: &mut Context<'_>, state: &mut CustomerState, scratch: &Scratch, cutoff: i64) {
    let p = cx.profile;
    state.days.retain(|&d, m| d >= cutoff && (m.fired != 0 || m.night_units != 0));
    let clock = &mut *cx.clock;
    let mut needed = |t: i64, width: i64, rule: Rule, state: &CustomerState| {
        let day = clock.day(t);
        day >= cutoff && (!state.fired(day, rule) || clock.day(t - width + 1) != day)
    };
    let starts = if p.calls_per_minute.is_some() {
        let all = merge_sorted(&state.starts, &scratch.starts, |x| *x);
        all.into_iter().filter(|&t| needed(t, CALL_WINDOW, Rule::VelocityCalls, state)).collect()
    } else {
        Vec::new()
    };
    let foreign = if p.countries_per_hour.is_some() {
        let all = merge_sorted(&state.foreign, &scratch.foreign, |x| x.0);
        all.into_iter().filter(|x| needed(x.0, COUNTRY_WINDOW, Rule::VelocityCountries, state)).collect()
    } else {
        Vec::new()
    };
    state.starts = starts;
    state.foreign = foreign;
}

#[cfg(test)]
mod tests;
