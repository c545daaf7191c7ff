//! `[billing]` (SPEC §12.3): the operator's details on the invoices, VAT,
//! numbering, payment terms and proration. Parsed here once into
//! [`BillingSettings`]; reading the logo is the caller's (`config` does no
//! I/O beyond reading itself).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::billing::{BillingSettings, Proration};

/// `[billing]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Folder of the month folders, relative to the config file's folder.
    pub output: PathBuf,
    /// VAT percentage, e.g. `"21%"`.
    pub vat: String,
    /// The operator's company name.
    pub company: String,
    /// Address lines joined by `;`.
    pub address: String,
    /// The operator's VAT number.
    pub vat_number: String,
    /// The operator's IBAN.
    pub iban: String,
    /// Logo file (PNG, JPEG, SVG, GIF), relative to the config file's folder.
    pub logo: Option<PathBuf>,
    /// Prefix of closed invoice numbers.
    pub invoice_prefix: String,
    /// Days until an invoice is due.
    pub payment_days: u32,
    /// `"daily"` or `"none"`.
    pub proration: String,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            output: "billing".into(),
            vat: "21%".into(),
            company: String::new(),
            address: String::new(),
            vat_number: String::new(),
            iban: String::new(),
            logo: None,
            invoice_prefix: "INV-".into(),
            payment_days: 14,
            proration: "daily".into(),
        }
    }
}

impl BillingConfig {
    /// Makes relative paths relative to `base` (the config file's folder).
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for p in [Some(&mut self.output), self.logo.as_mut()].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The typed settings, or every problem (prefixed `billing.`).
    pub(super) fn validate(&self) -> Result<BillingSettings, Vec<String>> {
        let mut problems = Vec::new();
        let vat = crate::money::parse_percent(&self.vat).map_err(|e| problems.push(format!("billing.vat: {e}"))).ok();
        let proration = Proration::parse(&self.proration);
        if proration.is_none() {
            problems.push(format!("billing.proration: {:?} is not \"daily\" or \"none\"", self.proration));
        }
        if self.invoice_prefix.chars().any(|ch| ch.is_control() || matches!(ch, '/' | '\\' | ',' | '"')) {
            problems.push("billing.invoice_prefix: no control characters, slashes, commas or quotes".into());
        }
        if self.payment_days > 366 {
            problems.push("billing.payment_days: at most 366".into());
        }
        match (vat, proration) {
            (Some(vat), Some(proration)) if problems.is_empty() => Ok(BillingSettings {
                output: self.output.clone(),
                vat,
                company: self.company.trim().to_string(),
                address: self.address.split(';').map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
                vat_number: self.vat_number.trim().to_string(),
                iban: self.iban.trim().to_string(),
                logo: self.logo.clone(),
                invoice_prefix: self.invoice_prefix.clone(),
                payment_days: self.payment_days,
                proration,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::billing::Proration;
    use crate::config::Config;

    #[test]
    fn billing_settings_are_typed_once_and_unknown_keys_are_errors() {
        let c = Config::parse("", Path::new("c.toml")).unwrap();
        let b = c.billing_settings();
        assert_eq!((b.vat, b.payment_days, b.proration), ("0.21".parse().unwrap(), 14, Proration::Daily));
        let text = "[billing]\nvat = \"9%\"\ncompany = \"Tel B.V.\"\naddress = \"Kade 1; 1011 AA Amsterdam\"\nproration = \"none\"\ninvoice_prefix = \"F\"\npayment_days = 30\nlogo = \"logo.png\"\n";
        let c = Config::parse(text, Path::new("c.toml")).unwrap();
        let b = c.billing_settings();
        assert_eq!(b.vat, "0.09".parse().unwrap());
        assert_eq!(b.address, ["Kade 1", "1011 AA Amsterdam"]);
        assert_eq!((b.proration, b.invoice_prefix.as_str(), b.payment_days), (Proration::None, "F", 30));
        for bad in ["[billing]\nvat = \"21\"\n", "[billing]\nproration = \"weekly\"\n", "[billing]\ncolour = 1\n"] {
            assert!(Config::parse(bad, Path::new("c.toml")).is_err(), "{bad}");
        }
    }

    #[test]
    fn billing_paths_are_relative_to_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr-rater.toml");
        std::fs::write(&path, "[billing]\nlogo = \"img/logo.svg\"\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.billing_settings().logo.as_deref(), Some(dir.path().join("img/logo.svg").as_path()));
        assert_eq!(c.billing_settings().output, dir.path().join("billing"));
    }
}
