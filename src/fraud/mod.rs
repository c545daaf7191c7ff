//! Fraud rules beyond the IDS range (SPEC §14): high-risk destinations,
//! calls per minute, foreign countries per hour, the cost of one call and
//! night-time international spend, judged per customer and day.
//!
//! Why here and pure: the IDS range only fires once a day's money is spent;
//! revenue-share fraud shows earlier in other shapes (bursts of calls, many
//! countries, satellite and premium ranges at night). The rules are a
//! function of the calls (in processing order) and a small per-customer
//! state, so they are judged here without I/O or a clock, and the engine
//! (`fraud_job`) commits the state with the file, exactly once, like IDS.
//!
//! - [`rules`]: `rates/fraud.toml` and its prefix lists, parsed and
//!   validated (every problem with file:line), resolved against a tariff;
//!   [`load`] reads them from the rates folder (the one I/O here, like
//!   `tariff::load`);
//! - [`calls`]: the compact per-call record the rating collects
//!   (allocation-free on the hot path);
//! - [`judge`] and [`windows`]: the rules over a customer's calls, with
//!   exact half-open windows;
//! - [`state`]: what a customer carries from file to file, and its
//!   compact encoding for the store;
//! - [`alert`]: the alert log record of each rule.

pub mod alert;
pub mod calls;
pub mod delta;
pub mod judge;
mod load;
pub mod local;
pub mod parse;
pub mod rules;
pub mod state;
pub mod windows;

pub use alert::{AlertContext, FraudAlert, RuleFigures};
pub use calls::{CallLog, RatedCall, NO_HIGH_RISK};
pub use delta::{BatchWriter, Change, Delta};
pub use judge::{judge_customer, Context, Figures, Firing, Scratch, Units};
pub use load::{load, parse, FRAUD_FILE};
pub use rules::{FraudRules, FraudTables, HighRiskEntry, Night, Profile};
pub use state::{CustomerState, DayMarks, StateDecodeError};

/// Days judged back from a customer's current day: calls of today and the
/// two days before are judged; older ones (more than two days late) are
/// counted by the rating but no longer judged, which keeps the state
/// bounded.
pub const JUDGED_DAYS_BACK: i64 = 2;

/// One fraud rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// An answered call to a number in a high-risk range.
    HighRiskDestination,
    /// More than `calls_per_minute` calls starting in some 60 s.
    VelocityCalls,
    /// More than `countries_per_hour` foreign countries called in some hour.
    VelocityCountries,
    /// One call whose sell is above `max_cost`.
    CallCost,
    /// A day's international spend in the night window above the limit.
    NightSpend,
}

impl Rule {
    /// Every rule, in the order alerts of one call are listed.
    pub const ALL: [Rule; 5] =
        [Rule::HighRiskDestination, Rule::VelocityCalls, Rule::VelocityCountries, Rule::CallCost, Rule::NightSpend];

    /// The alert `type` (and metric label) of the rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::HighRiskDestination => "high_risk_destination",
            Rule::VelocityCalls => "velocity_calls",
            Rule::VelocityCountries => "velocity_countries",
            Rule::CallCost => "call_cost",
            Rule::NightSpend => "night_spend",
        }
    }

    /// The rule's bit in [`DayMarks::fired`].
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Seconds of a `velocity_calls` window.
pub const CALL_WINDOW: i64 = 60;
/// Seconds of a `velocity_countries` window.
pub const COUNTRY_WINDOW: i64 = 3600;
