//! A month's invoices, composed from the usage the store kept and the
//! service tables in force (SPEC §12.3). Pure: no I/O, no clock; the
//! caller gives the month, the tables, the usage rows and the numbers.
//!
//! Decisions, so that the same data always give the same invoices:
//! - One invoice per customer **and currency**: calls are in the call
//!   plan's currency, services in the service plan's; amounts of two
//!   currencies are never added. A customer with one currency (the usual
//!   case) has one invoice.
//! - `calls`, `late_calls` and `rerating` lines carry the exact sum of the
//!   rated `sell` ([`Sums::sell`]), never re-rounded: the call lines equal
//!   the rated rows to the last digit.
//! - A service line's amount is `unit sell × quantity` (`× active days /
//!   days in month` for a prorated monthly charge), rounded once half away
//!   from zero to cents; its `buy` likewise from the purchase price.
//! - `net` is the exact sum of the lines; `vat` is `net × [billing] vat`
//!   rounded half away from zero to cents; `total` is `net + vat` rounded
//!   the same way to cents (the amount payable).
//! - Invoices are numbered in order of customer id, then currency, by the
//!   caller's function: drafts and closed months differ only there.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::{Decimal, RoundingStrategy};

use serde::{Deserialize, Serialize};

use super::settings::{BillingSettings, Proration};
use super::usage::{Bucket, Category, Month, Sums, UsageKey};
use crate::tariff::services::{ServiceSet, Subscription};
use crate::tariff::Customer;
use crate::timefmt::format_day;

/// What an invoice line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Calls of the month, one line per [`Category`].
    Calls,
    /// Calls of a closed month rated after it closed.
    LateCalls,
    /// Re-rating differences of a closed month.
    Rerating,
    /// A one-off service charge (the month the subscription starts).
    Nrc,
    /// A monthly service charge.
    Mrc,
}

impl LineKind {
    /// As written in `lines.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Calls => "calls",
            LineKind::LateCalls => "late_calls",
            LineKind::Rerating => "rerating",
            LineKind::Nrc => "nrc",
            LineKind::Mrc => "mrc",
        }
    }

    /// Whether it bills calls (as opposed to services).
    pub fn is_calls(self) -> bool {
        matches!(self, LineKind::Calls | LineKind::LateCalls | LineKind::Rerating)
    }
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// What it bills.
    pub kind: LineKind,
    /// Human description (category and billed minutes; service and period).
    pub description: String,
    /// Calls, or service units.
    pub quantity: i64,
    /// `calls`, or the service's unit.
    pub unit: String,
    /// Sell per unit (services only), exact.
    pub unit_price: Option<Decimal>,
    /// Amount billed.
    pub amount: Decimal,
    /// Purchase cost of it.
    pub buy: Decimal,
}

/// One invoice: a customer's month in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Invoice number, as given by the caller.
    pub number: String,
    /// Customer id.
    pub customer_id: String,
    /// Customer name (the id when the customer is no longer listed).
    pub name: String,
    /// Customer address lines.
    pub address: Vec<String>,
    /// Customer VAT number.
    pub vat_number: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// The month billed.
    pub month: Month,
    /// Invoice date: the first day after the month (days since 1970-01-01).
    pub date: i64,
    /// Due date: `date + payment_days`.
    pub due: i64,
    /// The lines: calls, late calls, re-rating, then services.
    pub lines: Vec<Line>,
    /// Sum of the call lines (exact).
    pub calls_net: Decimal,
    /// Sum of the service lines.
    pub services_net: Decimal,
    /// `calls_net + services_net`.
    pub net: Decimal,
    /// VAT on `net`, to cents.
    pub vat: Decimal,
    /// `net + vat`, to cents: the amount payable.
    pub total: Decimal,
    /// Purchase cost of every line.
    pub buy: Decimal,
    /// `net - buy`.
    pub margin: Decimal,
}

/// Which invoice a number is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceKey<'a> {
    /// Customer id.
    pub customer: &'a str,
    /// Currency.
    pub currency: &'a str,
}

/// What the caller hands [`compose`].
#[derive(Debug, Clone, Copy)]
pub struct MonthInput<'a> {
    /// The month billed.
    pub month: Month,
    /// The service tables in force for it (see [`super::services_instant`]).
    pub services: &'a ServiceSet,
    /// Every customer (`Tariff::customers`): names, addresses, plans.
    pub customers: &'a [Customer],
    /// The store's usage rows; those of other bill months are ignored.
    pub usage: &'a [(UsageKey, Sums)],
    /// `[billing]`.
    pub settings: &'a BillingSettings,
    /// Bill only these customers (`--customer`); `None`: everyone.
    pub only: Option<&'a [String]>,
}

/// Why a month cannot be billed: the tables in force for it do not price a
/// subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// A subscribed customer has no service plan.
    #[error("customer {customer}: subscribed to {service} but has no service_plan")]
    NoServicePlan { customer: String, service: String },
    /// The customer's service plan has no version in force for the month.
    #[error("customer {customer}: service plan {plan:?} is not in force in {month}")]
    ServicePlanNotInForce { customer: String, plan: String, month: Month },
    /// The subscribed service is not in the services version in force.
    #[error("customer {customer}: service {service:?} is not in services.csv in force in {month}")]
    ServiceNotInForce { customer: String, service: String, month: Month },
    /// The customer's reseller is not in the resellers version in force.
    #[error("customer {customer}: reseller {reseller:?} is not in resellers.csv in force in {month}")]
    ResellerNotInForce { customer: String, reseller: String, month: Month },
}

/// Rounds half away from zero to cents.
pub fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The lines of one (customer, currency) before numbering.
type Drafts = BTreeMap<(String, String), Vec<Line>>;

/// Composes the month's invoices, numbering them with `number` in order of
/// customer id then currency. A customer with neither usage nor services in
/// the month gets no invoice. Fails listing every subscription the tables
/// in force do not price.
pub fn compose(
    input: &MonthInput<'_>,
    number: &mut dyn FnMut(InvoiceKey<'_>) -> String,
) -> Result<Vec<Invoice>, Vec<BillingError>> {
    let wanted = |id: &str| input.only.is_none_or(|only| only.iter().any(|o| o == id));
    let mut drafts = Drafts::new();
    call_lines(input, &wanted, &mut drafts);
    let customers: HashMap<&str, &Customer> = input.customers.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut errors = Vec::new();
    for s in input.services.subscriptions.iter().filter(|s| wanted(&s.customer)) {
        if let Err(e) = service_lines(input, customers.get(s.customer.as_str()).copied(), s, &mut drafts) {
            errors.push(e);
        }
    }
    for (id, c) in &customers {
        if let Some(r) = c.reseller.as_ref().filter(|r| wanted(id) && !input.services.resellers.contains_key(*r)) {
            errors.push(BillingError::ResellerNotInForce {
                customer: id.to_string(),
                reseller: r.clone(),
                month: input.month,
            });
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.to_string());
        return Err(errors);
    }
    let date = input.month.next().first_day();
    let mut invoices = Vec::with_capacity(drafts.len());
    for ((customer_id, currency), lines) in drafts {
        let c = customers.get(customer_id.as_str());
        let sum = |calls: bool| lines.iter().filter(|l| l.kind.is_calls() == calls).map(|l| l.amount).sum::<Decimal>();
        let (calls_net, services_net) = (sum(true), sum(false));
        let net = calls_net + services_net;
        let vat = cents(net * input.settings.vat);
        let buy: Decimal = lines.iter().map(|l| l.buy).sum();
        invoices.push(Invoice {
            number: number(InvoiceKey { customer: &customer_id, currency: &currency }),
            name: c.map_or_else(|| customer_id.clone(), |c| c.name.clone()),
            address: c.map(|c| c.address.clone()).unwrap_or_default(),
            vat_number: c.and_then(|c| c.vat_number.clone()),
            customer_id,
            currency,
            month: input.month,
            date,
            due: date + i64::from(input.settings.payment_days),
            lines,
            calls_net,
            services_net,
            net,
            vat,
            total: cents(net + vat),
            buy,
            margin: net - buy,
        });
    }
    Ok(invoices)
}

/// Human name of a call category.
fn category_name(c: Category) -> String {
    match c {
        Category::DomesticFixed => "calls, domestic fixed".into(),
        Category::DomesticMobile => "calls, domestic mobile".into(),
        Category::DomesticOther => "calls, domestic other".into(),
        Category::Foreign(_) => format!("calls to {}", c.code()),
    }
}

/// The `calls`, `late_calls` and `rerating` lines from the usage rows.
fn call_lines(input: &MonthInput<'_>, wanted: &dyn Fn(&str) -> bool, drafts: &mut Drafts) {
    let mut sums: BTreeMap<(&str, &str, Bucket, Month, Category), Sums> = BTreeMap::new();
    for (k, s) in input.usage.iter().filter(|(k, _)| k.bill_month == input.month && wanted(&k.customer)) {
        sums.entry((&k.customer, &k.currency, k.bucket, k.origin, k.category)).or_default().add(s);
    }
    for ((customer, currency, bucket, origin, category), s) in sums {
        let minutes = cents(Decimal::from(s.billed_s) / Decimal::from(60));
        let (kind, what) = match bucket {
            Bucket::Calls => (LineKind::Calls, capitalised(&category_name(category))),
            Bucket::LateCalls => (LineKind::LateCalls, format!("Late {} of {origin}", category_name(category))),
            Bucket::Rerating => (LineKind::Rerating, format!("Re-rating of {origin}: {}", category_name(category))),
        };
        drafts.entry((customer.to_string(), currency.to_string())).or_default().push(Line {
            kind,
            description: format!("{what}, {minutes:.2} billed minutes"),
            quantity: s.calls,
            unit: "calls".into(),
            unit_price: None,
            amount: s.sell,
            buy: s.buy,
        });
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// The `nrc` and `mrc` lines of one subscription in the month.
fn service_lines(
    input: &MonthInput<'_>,
    customer: Option<&Customer>,
    s: &Subscription,
    drafts: &mut Drafts,
) -> Result<(), BillingError> {
    let (month, first) = (input.month, input.month.first_day());
    let days_in_month = month.days();
    let active = s.active_days(first, first + days_in_month);
    let starts_here = (first..first + days_in_month).contains(&s.start);
    if active == 0 && !starts_here {
        return Ok(());
    }
    let Some(plan_name) = customer.and_then(|c| c.service_plan.as_ref()) else {
        return Err(BillingError::NoServicePlan { customer: s.customer.clone(), service: s.service.clone() });
    };
    let Some(plan) = input.services.plans.get(plan_name) else {
        return Err(BillingError::ServicePlanNotInForce {
            customer: s.customer.clone(),
            plan: plan_name.clone(),
            month,
        });
    };
    let Some(service) = input.services.services.get(&s.service) else {
        return Err(BillingError::ServiceNotInForce {
            customer: s.customer.clone(),
            service: s.service.clone(),
            month,
        });
    };
    let (nrc, mrc) = plan.sell(service);
    let q = Decimal::from(s.quantity);
    let lines = drafts.entry((s.customer.clone(), plan.currency.clone())).or_default();
    // A service without a one-off price (sell and purchase 0) has no NRC line.
    if starts_here && !(nrc.is_zero() && service.nrc.is_zero()) {
        lines.push(Line {
            kind: LineKind::Nrc,
            description: format!("{}, one-off, from {}", service.name, format_day(s.start)),
            quantity: i64::from(s.quantity),
            unit: service.unit.clone(),
            unit_price: Some(nrc.normalize()),
            amount: cents(nrc * q),
            buy: cents(service.nrc * q),
        });
    }
    if active > 0 {
        // Of the month: `days / of` (one division, last, so the amount is
        // exact before its one rounding to cents).
        let (days, of, period) = match input.settings.proration {
            _ if active == days_in_month => (1, 1, month.to_string()),
            Proration::None => (1, 1, month.to_string()),
            Proration::Daily => {
                let from = s.start.max(first);
                let last = format_day(from + active - 1);
                (active, days_in_month, format!("{} to {last} ({active}/{days_in_month} days)", format_day(from)))
            }
        };
        let prorated = |unit: Decimal| cents(unit * q * Decimal::from(days) / Decimal::from(of));
        lines.push(Line {
            kind: LineKind::Mrc,
            description: format!("{}, monthly, {period}", service.name),
            quantity: i64::from(s.quantity),
            unit: service.unit.clone(),
            unit_price: Some(mrc.normalize()),
            amount: prorated(mrc),
            buy: prorated(service.mrc),
        });
    }
    Ok(())
}
