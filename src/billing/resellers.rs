//! Reseller commissions of a month (SPEC §12.2): per reseller and currency,
//! a share of the sell of its customers' services and of the margin
//! (sell − buy) on its customers' calls, each rounded half away from zero
//! to cents. A negative call margin (re-rating credits) lowers the
//! commission: it is the margin's share, signed.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::invoice::{cents, Invoice};
use crate::tariff::services::ServiceSet;
use crate::tariff::Customer;

/// What one reseller earns in one currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Commission {
    /// Reseller id.
    pub reseller_id: String,
    /// Reseller name.
    pub name: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Its customers with an invoice in this currency, by id.
    pub customers: Vec<String>,
    /// Sum of those invoices' services.
    pub services_sell: Decimal,
    /// `services_sell × services_commission`, to cents.
    pub services_commission: Decimal,
    /// Sum of sell − buy of those invoices' call lines.
    pub calls_margin: Decimal,
    /// `calls_margin × calls_commission`, to cents.
    pub calls_commission: Decimal,
    /// The two commissions.
    pub total: Decimal,
}

/// The commissions of the month's `invoices`, by reseller id then currency.
/// Resellers with no invoiced customer are left out.
pub fn commissions(invoices: &[Invoice], customers: &[Customer], services: &ServiceSet) -> Vec<Commission> {
    let reseller_of: BTreeMap<&str, &str> =
        customers.iter().filter_map(|c| c.reseller.as_deref().map(|r| (c.id.as_str(), r))).collect();
    let mut by: BTreeMap<(&str, &str), (Vec<String>, Decimal, Decimal)> = BTreeMap::new();
    for inv in invoices {
        let Some(&r) = reseller_of.get(inv.customer_id.as_str()) else { continue };
        let e = by.entry((r, &inv.currency)).or_default();
        if !e.0.contains(&inv.customer_id) {
            e.0.push(inv.customer_id.clone());
        }
        e.1 += inv.services_net;
        e.2 += inv.lines.iter().filter(|l| l.kind.is_calls()).map(|l| l.amount - l.buy).sum::<Decimal>();
    }
    by.into_iter()
        .filter_map(|((r, currency), (mut customers, services_sell, calls_margin))| {
            let reseller = services.resellers.get(r)?;
            customers.sort();
            let services_commission = cents(services_sell * reseller.services_commission);
            let calls_commission = cents(calls_margin * reseller.calls_commission);
            Some(Commission {
                reseller_id: r.to_string(),
                name: reseller.name.clone(),
                currency: currency.to_string(),
                customers,
                services_sell,
                services_commission,
                calls_margin,
                calls_commission,
                total: services_commission + calls_commission,
            })
        })
        .collect()
}
