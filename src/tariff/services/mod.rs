//! Service tariffs (SPEC §12.2): what the operator sells besides calls —
//! numbers, trunks, PBX extensions — at a purchase price per unit
//! (`services.csv`), the sell side per customer (`service_plans/NAME.toml`),
//! who has what since when (`subscriptions.csv`), and the resellers paid a
//! commission (`resellers.csv`).
//!
//! They live inside [`super::Tariff`] (not in `billing`) so that `check`,
//! the daemon's reload and the tariff digest cover them like every other
//! table, and because `billing` already uses `tariff`: loading them from
//! `billing` would be an import circle. Every table is optional (absent:
//! no services) and may have dated versions like the others (§3.5).

mod load;
mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;

pub(super) use load::{load_catalog, load_subscriptions, Catalog};

/// One row of `services.csv`: purchase prices per unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Id as written, e.g. `3CX-EXT`.
    pub id: String,
    /// Display name, e.g. `3CX extension`.
    pub name: String,
    /// What one unit is, e.g. `extension`.
    pub unit: String,
    /// Purchase price, once (non-recurring).
    pub nrc: Decimal,
    /// Purchase price per month (recurring).
    pub mrc: Decimal,
}

/// A service plan's own terms for one service (`[service.ID]`): a markup
/// of its own, or fixed sell prices; what is not given falls back on the
/// plan's markup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceTerms {
    /// Factor on the purchase prices (`150%` = 1.5).
    pub markup: Option<Decimal>,
    /// Fixed one-off sell price per unit.
    pub nrc: Option<Decimal>,
    /// Fixed monthly sell price per unit.
    pub mrc: Option<Decimal>,
}

/// A service plan (`service_plans/NAME.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// The plan's name (file stem).
    pub name: String,
    /// ISO 4217 code of its sell prices (default `EUR`).
    pub currency: String,
    /// Factor on purchase prices (default `100%`, no margin).
    pub markup: Decimal,
    /// Per-service terms by service id.
    pub services: BTreeMap<String, ServiceTerms>,
}

impl ServicePlan {
    /// Sell prices per unit of `service`, exact (not rounded):
    /// (one-off, monthly). A fixed price wins; else the purchase price times
    /// the service's own markup, else the plan's.
    pub fn sell(&self, service: &Service) -> (Decimal, Decimal) {
        let terms = self.services.get(&service.id);
        let markup = terms.and_then(|t| t.markup).unwrap_or(self.markup);
        let nrc = terms.and_then(|t| t.nrc).unwrap_or(service.nrc * markup);
        let mrc = terms.and_then(|t| t.mrc).unwrap_or(service.mrc * markup);
        (nrc, mrc)
    }
}

/// One row of `subscriptions.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Customer id.
    pub customer: String,
    /// Service id.
    pub service: String,
    /// Units (a positive integer).
    pub quantity: u32,
    /// First day (days since 1970-01-01).
    pub start: i64,
    /// First day no longer included (exclusive); `None`: open.
    pub end: Option<i64>,
}

impl Subscription {
    /// Days it is active in `[from, until)` (day numbers).
    pub fn active_days(&self, from: i64, until: i64) -> i64 {
        let a = self.start.max(from);
        let b = self.end.unwrap_or(i64::MAX).min(until);
        (b - a).max(0)
    }
}

/// One row of `resellers.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseller {
    /// Reseller id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Contact address.
    pub email: String,
    /// Share of its customers' services sell (`10%` = 0.10).
    pub services_commission: Decimal,
    /// Share of the margin on its customers' calls.
    pub calls_commission: Decimal,
}

/// The service tables in force at one instant: a complete set.
#[derive(Debug, Clone, Default)]
pub struct ServiceSet {
    /// Services by id.
    pub services: Arc<BTreeMap<String, Service>>,
    /// Service plans by name.
    pub plans: BTreeMap<String, Arc<ServicePlan>>,
    /// Every subscription, in file order.
    pub subscriptions: Arc<Vec<Subscription>>,
    /// Resellers by id.
    pub resellers: Arc<BTreeMap<String, Reseller>>,
}

/// One table's versions: (start in epoch seconds, table), by start; the
/// undated file starts at `i64::MIN`.
pub type Versions<T> = Vec<(i64, Arc<T>)>;

/// Every version of every service table.
#[derive(Debug, Clone, Default)]
pub struct ServiceTables {
    /// `services*.csv`.
    pub services: Versions<BTreeMap<String, Service>>,
    /// `service_plans/NAME*.toml` by plan name.
    pub plans: BTreeMap<String, Versions<ServicePlan>>,
    /// `subscriptions*.csv`.
    pub subscriptions: Versions<Vec<Subscription>>,
    /// `resellers*.csv`.
    pub resellers: Versions<BTreeMap<String, Reseller>>,
}

/// The version of `v` in force at `at`.
fn in_force<T>(v: &Versions<T>, at: i64) -> Option<&Arc<T>> {
    v.iter().rev().find(|(s, _)| *s <= at).map(|(_, t)| t)
}

impl ServiceTables {
    /// The tables in force at `at` (epoch seconds); a table with no version
    /// in force then is empty.
    pub fn at(&self, at: i64) -> ServiceSet {
        ServiceSet {
            services: in_force(&self.services, at).cloned().unwrap_or_default(),
            plans: self
                .plans
                .iter()
                .filter_map(|(name, v)| in_force(v, at).map(|p| (name.clone(), p.clone())))
                .collect(),
            subscriptions: in_force(&self.subscriptions, at).cloned().unwrap_or_default(),
            resellers: in_force(&self.resellers, at).cloned().unwrap_or_default(),
        }
    }

    /// Whether no service table exists at all.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.plans.is_empty() && self.subscriptions.is_empty() && self.resellers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn fixed_prices_win_over_markups() {
        let svc =
            Service { id: "EXT".into(), name: "ext".into(), unit: "ext".into(), nrc: dec("10"), mrc: dec("2.00") };
        let mut plan =
            ServicePlan { name: "p".into(), currency: "EUR".into(), markup: dec("1.5"), services: BTreeMap::new() };
        assert_eq!(plan.sell(&svc), (dec("15.0"), dec("3.000")));
        plan.services.insert("EXT".into(), ServiceTerms { markup: Some(dec("2")), nrc: None, mrc: Some(dec("2.50")) });
        assert_eq!(plan.sell(&svc), (dec("20"), dec("2.50")));
    }

    #[test]
    fn active_days_clip_to_the_month() {
        let s = Subscription { customer: "C".into(), service: "S".into(), quantity: 1, start: 10, end: Some(20) };
        assert_eq!(s.active_days(0, 30), 10);
        assert_eq!(s.active_days(15, 30), 5);
        assert_eq!(s.active_days(20, 30), 0);
        let open = Subscription { end: None, ..s };
        assert_eq!(open.active_days(100, 131), 31);
    }
}
