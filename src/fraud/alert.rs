//! A fired rule as written to the alert log (the same log and hook as the
//! IDS alerts): `type` and `rule` (the rule's own figures), then who, which
//! day, which call and file. Money as decimal strings, times as RFC 3339.

use serde::{Deserialize, Serialize};

use super::calls::RatedCall;
use super::judge::{Figures, Firing};
use super::parse::clock_text;
use super::rules::FraudRules;
use super::Rule;

/// The rule's own figures, tagged with the alert's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "rule", rename_all = "snake_case")]
pub enum RuleFigures {
    /// An answered call to a high-risk number.
    HighRiskDestination {
        /// The prefix of the list it matched (longest match).
        prefix: String,
        /// The list's reason for it.
        reason: String,
        /// The list file.
        list: String,
        /// The call's sell.
        sell: String,
        /// Currency of the customer's plan.
        currency: String,
    },
    /// Too many calls in a minute.
    VelocityCalls {
        /// `calls_per_minute`.
        limit: u32,
        /// Calls starting in the window.
        count: u32,
        /// Window start (RFC 3339, UTC), inclusive.
        window_start: String,
        /// Window end, exclusive (start + 60 s).
        window_end: String,
    },
    /// Too many foreign countries in an hour.
    VelocityCountries {
        /// `countries_per_hour`.
        limit: u32,
        /// Distinct foreign countries called in the window.
        count: u32,
        /// Those countries (ISO codes, `XX` non-geographic), sorted.
        countries: Vec<String>,
        /// Window start (RFC 3339, UTC), inclusive.
        window_start: String,
        /// Window end, exclusive (start + 3600 s).
        window_end: String,
    },
    /// One call above the cost limit.
    CallCost {
        /// `max_cost`.
        limit: String,
        /// The call's sell.
        sell: String,
        /// Currency of the customer's plan.
        currency: String,
    },
    /// Night-time international spend above the limit.
    NightSpend {
        /// `international_spend`.
        limit: String,
        /// The day's international spend in the window, the trigger included.
        spend: String,
        /// Currency of the customer's plan.
        currency: String,
        /// Window start, local `HH:MM`.
        from: String,
        /// Window end, local `HH:MM` (exclusive).
        until: String,
    },
}

impl RuleFigures {
    /// The rule these figures are of.
    pub fn rule(&self) -> Rule {
        match self {
            RuleFigures::HighRiskDestination { .. } => Rule::HighRiskDestination,
            RuleFigures::VelocityCalls { .. } => Rule::VelocityCalls,
            RuleFigures::VelocityCountries { .. } => Rule::VelocityCountries,
            RuleFigures::CallCost { .. } => Rule::CallCost,
            RuleFigures::NightSpend { .. } => Rule::NightSpend,
        }
    }

    /// One line for a terminal: the figures that matter.
    pub fn summary(&self) -> String {
        match self {
            RuleFigures::HighRiskDestination { prefix, reason, .. } => format!("+{prefix}: {reason}"),
            RuleFigures::VelocityCalls { limit, count, window_start, .. } => {
                format!("{count} calls in the minute from {window_start} (limit {limit})")
            }
            RuleFigures::VelocityCountries { limit, countries, window_start, .. } => {
                format!(
                    "{} countries in the hour from {window_start} (limit {limit}): {}",
                    countries.len(),
                    countries.join(" ")
                )
            }
            RuleFigures::CallCost { limit, sell, currency } => format!("one call of {sell} {currency} (limit {limit})"),
            RuleFigures::NightSpend { limit, spend, currency, from, until } => {
                format!("{spend} {currency} abroad between {from} and {until} (limit {limit})")
            }
        }
    }
}

/// One fraud alert line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudAlert {
    /// `type` and `rule`.
    #[serde(flatten)]
    pub figures: RuleFigures,
    /// `CUSTOMER/DAY/TYPE`: unique (once per customer, rule and day), so a
    /// redo after a crash never logs it twice.
    pub alert_id: String,
    /// The customer.
    pub customer_id: String,
    /// Their name.
    pub customer_name: String,
    /// The customer's local day it fired for, `YYYY-MM-DD`.
    pub day: String,
    /// The call whose arrival made the rule fire.
    pub trigger_call_id: String,
    /// The input file that held it.
    pub file: String,
    /// When the alert was raised (RFC 3339, UTC).
    pub emitted_at: String,
    /// The day is before the customer's current day.
    pub late: bool,
    /// The daemon's site on the shared store (SPEC §13); absent on the
    /// embedded store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// Who, where and when, for [`FraudAlert::of`].
#[derive(Debug, Clone, Copy)]
pub struct AlertContext<'a> {
    /// Customer id.
    pub customer_id: &'a str,
    /// Customer name.
    pub customer_name: &'a str,
    /// Currency of the customer's plan.
    pub currency: &'a str,
    /// The input file.
    pub file: &'a str,
    /// "Now" as RFC 3339.
    pub emitted_at: &'a str,
    /// The customer's current day.
    pub today: i64,
    /// Decimals of money units.
    pub decimals: u32,
}

/// RFC 3339 (UTC) of unix seconds.
fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).map(|t| t.to_string()).unwrap_or_default()
}

impl FraudAlert {
    /// The alert of a firing whose trigger call is `trigger`, with id `trigger_call_id`.
    pub fn of(
        firing: &Firing,
        trigger: &RatedCall,
        rules: &FraudRules,
        cx: &AlertContext<'_>,
        trigger_call_id: String,
    ) -> FraudAlert {
        let units = |u: i64| crate::money::format_units(i128::from(u), cx.decimals);
        let currency = cx.currency.to_string();
        let figures = match &firing.figures {
            Figures::HighRisk { entry } => {
                let e = &rules.entries[usize::from(*entry)];
                RuleFigures::HighRiskDestination {
                    prefix: e.prefix.clone(),
                    reason: e.reason.clone(),
                    list: e.file.clone(),
                    sell: units(trigger.sell),
                    currency,
                }
            }
            Figures::Calls { limit, count, window_start } => RuleFigures::VelocityCalls {
                limit: *limit,
                count: *count,
                window_start: rfc3339(*window_start),
                window_end: rfc3339(window_start + super::CALL_WINDOW),
            },
            Figures::Countries { limit, countries, window_start } => RuleFigures::VelocityCountries {
                limit: *limit,
                count: countries.len() as u32,
                countries: countries.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect(),
                window_start: rfc3339(*window_start),
                window_end: rfc3339(window_start + super::COUNTRY_WINDOW),
            },
            Figures::Cost { limit, sell } => {
                RuleFigures::CallCost { limit: limit.to_string(), sell: units(*sell), currency }
            }
            Figures::Night { limit, spend, from, until } => RuleFigures::NightSpend {
                limit: limit.to_string(),
                spend: units(*spend),
                currency,
                from: clock_text(*from),
                until: clock_text(*until),
            },
        };
        let day = crate::timefmt::format_day(firing.day);
        FraudAlert {
            alert_id: format!("{}/{}/{}", cx.customer_id, day, firing.rule.as_str()),
            figures,
            customer_id: cx.customer_id.to_string(),
            customer_name: cx.customer_name.to_string(),
            day,
            trigger_call_id,
            file: cx.file.to_string(),
            emitted_at: cx.emitted_at.to_string(),
            late: firing.day < cx.today,
            site: None,
        }
    }
}
