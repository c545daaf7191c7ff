//! Closing the month (SPEC §12), pure: what a customer used in a month
//! ([`usage`]), and from it and the service tariffs, the month's invoices.
//!
//! The store keeps [`usage::Sums`] per [`usage::UsageKey`], committed with
//! each file like IDS spend; `bill` reads them and never re-reads a month
//! of rated files for its totals.

pub mod agg;
pub mod invoice;
pub mod render;
pub mod resellers;
pub mod settings;
pub mod usage;

pub use agg::UsageAgg;
pub use invoice::{compose, BillingError, Invoice, InvoiceKey, Line, LineKind, MonthInput};
pub use resellers::{commissions, Commission};
pub use settings::{BillingSettings, Proration};
pub use usage::{Bucket, Category, Month, Sums, UsageDelta, UsageKey};

/// The instant whose service tables bill `month`: 00:00 of its last day in
/// `zone` (the configured `timezone`, like every version date). A version
/// dated on or before the last day prices the whole month, so a
/// subscription added mid-month by a new version still gets its charges;
/// a version dated the 1st of the next month does not touch this one.
pub fn services_instant(month: Month, zone: &jiff::tz::TimeZone) -> i64 {
    let (y, m, d) = crate::timefmt::civil_from_days(month.next().first_day() - 1);
    let Ok(date) = jiff::civil::Date::new(y as i16, m as i8, d as i8) else { return i64::MAX };
    zone.to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .map_or(i64::MAX, |t| t.as_second())
}

#[cfg(test)]
mod tests;
