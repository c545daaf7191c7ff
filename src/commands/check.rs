//! `cdr-rater check`: validate the tariff tables and summarise them: every
//! version and when it comes into force, and per deck version what got
//! dearer against the one before.

use crate::cli::CheckArgs;
use crate::tariff::{self, diff, Tariff};

use super::{load_config, rates_dir, Invalid};

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    let dir = rates_dir(&config, args.rates.as_ref())?;
    let (t, report) = match tariff::load(dir, &config.numbering.home_country, &config.time_zone()) {
        Ok(ok) => ok,
        Err(errors) => {
            for e in &errors.0 {
                println!("error: {e}");
            }
            return Err(Invalid(format!("{}: {} error(s)", dir.display(), errors.0.len())).into());
        }
    };
    let margins = tariff::margins::check(
        &t,
        &tariff::margins::MarginCheck {
            rates_dir: dir,
            deck_currency: &config.deck.currency,
            max_billsec: config.limits.max_billsec,
            decimals: config.price_decimals,
        },
    );
    let warnings: Vec<_> = report.warnings.iter().chain(&margins).collect();
    for w in &warnings {
        println!("warning: {w}");
    }
    let latest = t.latest();
    let by_country: std::collections::BTreeSet<&str> =
        latest.deck.destinations.iter().map(|d| d.country.as_str()).collect();
    println!("{}: ok", dir.display());
    println!("  wholesale prefixes  {} ({} countries)", t.prefix_count(), by_country.len());
    println!("  plans               {} ({})", t.plan_names.len(), t.plan_names.join(", "));
    let ids_on = t.customers.iter().filter(|c| c.ids_range.is_some()).count();
    println!("  customers           {} ({ids_on} with IDS)", t.customers.len());
    println!("  number blocks       {}", latest.number_blocks().len());
    println!("  warnings            {}", warnings.len());
    println!("  digest              {}", t.digest);
    print_versions(&t);
    Ok(())
}

/// The dated versions and, per deck version, its changes.
fn print_versions(t: &Tariff) {
    if t.versions.iter().all(|v| v.date.is_none()) {
        return;
    }
    println!("  versions");
    for v in &t.versions {
        let from = v.date.map_or_else(|| "(undated)".to_string(), |d| format!("from {d}"));
        println!("    {:<12} {}", from, v.file);
    }
    let mut previous: Option<&tariff::Deck> = None;
    for e in t.epochs() {
        let deck = &e.deck;
        if let Some(old) = previous.filter(|o| !o.file.is_empty() && !std::ptr::eq(*o, deck.as_ref())) {
            let d = diff::deck_diff(old, deck, 10);
            println!(
                "  {} against {}: {} new, {} removed, {} dearer, {} cheaper",
                deck.file, old.file, d.new, d.removed, d.dearer, d.cheaper
            );
            for inc in &d.increases {
                let (a, b) = inc.rate;
                let pct = if a.is_zero() {
                    String::new()
                } else {
                    format!(" (+{}%)", ((b - a) / a * rust_decimal::Decimal::from(100)).round_dp(1))
                };
                println!("    {:<15} {:<32} {} -> {}{pct}", inc.prefix, inc.name, a.normalize(), b.normalize());
            }
        }
        previous = Some(deck);
    }
}
