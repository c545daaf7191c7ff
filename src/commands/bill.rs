//! `cdr-rater bill`: a month's invoices from the store (SPEC §12.3).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::billing::render::money;
use crate::billing::Month;
use crate::cli::BillArgs;
use crate::invoicing::{BillReport, InvoicingError, Mode, MonthBill};

use super::{load_config, load_tariff, open_store, Invalid};

pub fn run(args: BillArgs) -> anyhow::Result<()> {
    let month = Month::parse(&args.month).ok_or_else(|| Invalid(format!("--month {:?} is not YYYY-MM", args.month)))?;
    if args.close && !args.customers.is_empty() {
        return Err(Invalid("--close bills every customer of the month: leave out --customer".into()).into());
    }
    let config = load_config(args.config.config.as_deref())?;
    let tariff = load_tariff(&config, None)?;
    let store = open_store(&config, "bill")?;
    let zone = config.time_zone();
    let month_bill = MonthBill {
        store: store.as_ref(),
        tariff: &tariff,
        settings: config.billing_settings(),
        zone: &zone,
        rated: vec![config.spool.join("rated")],
    };
    let only = (!args.customers.is_empty()).then_some(args.customers.as_slice());
    let mode = if args.close { Mode::Close } else { Mode::Draft };
    let report = match month_bill.bill(month, only, mode) {
        Ok(r) => r,
        Err(e @ (InvoicingError::AlreadyClosed { .. } | InvoicingError::Tables { .. })) => {
            return Err(Invalid(e.to_string()).into())
        }
        Err(e) => return Err(e.into()),
    };
    summary(month, &report);
    Ok(())
}

/// The month in a few lines on stderr.
fn summary(month: Month, r: &BillReport) {
    let state = if r.closed { "closed" } else { "draft" };
    eprintln!(
        "{month} ({state}): {} invoices, {} itemised calls, in {}",
        r.invoices.len(),
        r.itemised_calls,
        r.folder.display()
    );
    let mut per_currency: BTreeMap<&str, [Decimal; 4]> = BTreeMap::new();
    for i in &r.invoices {
        let t = per_currency.entry(&i.currency).or_default();
        t[0] += i.calls_net;
        t[1] += i.services_net;
        t[2] += i.vat;
        t[3] += i.total;
    }
    for (currency, [calls, services, vat, total]) in per_currency {
        eprintln!(
            "  {currency}: calls {}  services {}  vat {}  total {}",
            money(calls),
            money(services),
            money(vat),
            money(total)
        );
    }
    if let (Some(first), Some(last)) = (r.invoices.first(), r.invoices.last()) {
        eprintln!("  invoices {} .. {}", first.number, last.number);
    }
    for c in &r.commissions {
        eprintln!("  reseller {} ({}): commission {} {}", c.reseller_id, c.name, money(c.total), c.currency);
    }
}
