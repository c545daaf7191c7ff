//! Rating one call: customer, plan, destination, buy and sell (SPEC §5).
//!
//! Pure: no I/O, no allocation, no locks. Everything variable was resolved
//! when the [`Tariff`] was built, so this is a hash lookup or a trie walk for
//! the customer, a trie walk for the destination and two integer charges.

use crate::csvscan::unquote;
use crate::formats::Call;
use crate::numbers::{Number, Numbering};
use crate::tariff::Tariff;

/// Why a parsed call could not be rated. Each becomes the `reason` of an
/// unrated row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unrated {
    /// The account names no known customer, or none names one at all.
    UnknownCustomer,
    /// No wholesale prefix matches the called number.
    NoTariff,
}

impl Unrated {
    /// Every reason, in the order of `Totals::by_unrated`.
    pub const ALL: [Unrated; 2] = [Unrated::UnknownCustomer, Unrated::NoTariff];

    /// Reason as written in the unrated file.
    pub fn as_str(self) -> &'static str {
        match self {
            Unrated::UnknownCustomer => "unknown_customer",
            Unrated::NoTariff => "no_tariff",
        }
    }
}

/// A rated call. Money is in units of `10^-price_decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    /// Index into `Tariff::customers`.
    pub customer: u32,
    /// Index into `Tariff::plans`.
    pub plan: u32,
    /// The plan's currency: an index into `Tariff::currencies`.
    pub currency: u8,
    /// Index into `Tariff::destinations`; `None` for internal calls.
    pub destination: Option<u32>,
    /// Sell-side billed seconds.
    pub billed_sell: u64,
    /// Purchase price.
    pub buy: u64,
    /// Customer price.
    pub sell: u64,
}

impl Priced {
    /// `sell - buy`.
    pub fn margin(&self) -> i64 {
        self.sell as i64 - self.buy as i64
    }
}

/// Rates calls against one tariff snapshot.
#[derive(Clone, Copy)]
pub struct Rater<'t> {
    /// The tables.
    pub tariff: &'t Tariff,
    /// For calling numbers when the customer comes from `numbers.csv`.
    pub numbering: &'t Numbering,
    /// Decimal places of every price.
    pub decimals: u32,
    /// Customer of rows whose account field is empty (`--customer`, a source's `customer`).
    pub default_customer: Option<u32>,
}

impl Rater<'_> {
    /// Rates one parsed call.
    #[inline]
    pub fn rate(&self, call: &Call<'_>) -> Result<Priced, Unrated> {
        let t = self.tariff;
        let customer = if !call.account.is_empty() {
            t.customer_by_id(call.account)
        } else if self.default_customer.is_some() {
            self.default_customer
        } else {
            self.numbering.normalise_caller(unquote(call.caller)).and_then(|n| t.customer_by_number(n.as_bytes()))
        }
        .ok_or(Unrated::UnknownCustomer)?;
        let plan_idx = t.customers[customer as usize].plan;
        let plan = &t.plans[plan_idx as usize];
        let number = match call.number {
            Number::Internal => {
                return Ok(Priced {
                    customer,
                    plan: plan_idx,
                    currency: plan.currency,
                    destination: None,
                    billed_sell: 0,
                    buy: 0,
                    sell: 0,
                });
            }
            Number::E164(n) => n,
        };
        let digits = number.as_bytes();
        let dest_idx = t.destination(digits).ok_or(Unrated::NoTariff)?;
        let dest = t.hot(dest_idx);
        let billed_buy = dest.increment.billed(call.billsec);
        let billed_sell = plan.levels.increment.billed(call.billsec);
        let sell_price = plan.sell_price(dest_idx, digits);
        Ok(Priced {
            customer,
            plan: plan_idx,
            currency: plan.currency,
            destination: Some(dest_idx),
            billed_sell,
            buy: dest.buy.charge(billed_buy, self.decimals),
            sell: sell_price.charge(billed_sell, self.decimals),
        })
    }
}
