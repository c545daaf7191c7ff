//! Closing the month (SPEC §12), pure: what a customer used in a month
//! ([`usage`]), and from it and the service tariffs, the month's invoices.
//!
//! The store keeps [`usage::Sums`] per [`usage::UsageKey`], committed with
//! each file like IDS spend; `bill` reads them and never re-reads a month
//! of rated files for its totals.

pub mod agg;
pub mod usage;

pub use agg::UsageAgg;
pub use usage::{Bucket, Category, Month, Sums, UsageDelta, UsageKey};
