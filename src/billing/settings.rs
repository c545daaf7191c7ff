//! What `[billing]` resolves to (SPEC §12.3): typed once by `config`, so
//! composing and rendering invoices parse nothing.

use std::path::PathBuf;

use rust_decimal::Decimal;

/// How a monthly charge is billed for a month the subscription covers in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proration {
    /// By active days: `× active days / days in the month`.
    #[default]
    Daily,
    /// A full month when active on any day of it.
    None,
}

impl Proration {
    /// Parses `daily` or `none`.
    pub fn parse(s: &str) -> Option<Proration> {
        match s {
            "daily" => Some(Proration::Daily),
            "none" => Some(Proration::None),
            _ => None,
        }
    }
}

/// `[billing]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingSettings {
    /// Folder of `YYYY-MM/` and `YYYY-MM.draft/`.
    pub output: PathBuf,
    /// VAT as a factor (`21%` = 0.21).
    pub vat: Decimal,
    /// The operator's company name.
    pub company: String,
    /// The operator's address lines (`;`-separated in the config).
    pub address: Vec<String>,
    /// The operator's VAT number.
    pub vat_number: String,
    /// The operator's bank account.
    pub iban: String,
    /// Logo file embedded in the HTML invoice (PNG, JPEG, SVG or GIF).
    pub logo: Option<PathBuf>,
    /// Prefix of closed invoice numbers, e.g. `INV-`.
    pub invoice_prefix: String,
    /// Days from the invoice date to the due date.
    pub payment_days: u32,
    /// Monthly charges for part of a month.
    pub proration: Proration,
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            output: "billing".into(),
            vat: Decimal::new(21, 2),
            company: String::new(),
            address: Vec::new(),
            vat_number: String::new(),
            iban: String::new(),
            logo: None,
            invoice_prefix: "INV-".into(),
            payment_days: 14,
            proration: Proration::Daily,
        }
    }
}
