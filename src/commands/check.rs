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
            // The fraud rules' own problems too (those that need no customers).
            let fraud = crate::fraud::parse(dir);
            for e in errors.0.iter().chain(&fraud) {
                println!("error: {e}");
            }
            let count = errors.0.len() + fraud.len();
            return Err(Invalid(format!("{}: {count} error(s)", dir.display())).into());
        }
    };
    let fraud = match crate::fraud::load(dir, &t) {
        Ok(f) => f,
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
    print_services(&t);
    match &fraud.rules {
        Some(r) => {
            let on: Vec<&str> = crate::fraud::Rule::ALL
                .iter()
                .filter(|rule| r.profiles.iter().any(|p| rule_on(p, **rule)))
                .map(|rule| rule.as_str())
                .collect();
            println!(
                "  fraud rules         {} ({} high-risk prefixes, {} customer override(s); digest {})",
                if on.is_empty() { "none on".to_string() } else { on.join(", ") },
                r.entries.len(),
                r.overrides(),
                r.digest
            );
        }
        None => println!("  fraud rules         none (no {})", crate::fraud::FRAUD_FILE),
    }
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

/// The service tables (SPEC §12.2), as in force now and later: the newest
/// version of each.
fn print_services(t: &Tariff) {
    let s = t.services.at(i64::MAX);
    if t.services.is_empty() {
        println!("  services            none (no services.csv)");
        return;
    }
    let plans: Vec<&str> = s.plans.keys().map(String::as_str).collect();
    let with_plan = t.customers.iter().filter(|c| c.service_plan.is_some()).count();
    println!(
        "  services            {} services, {} service plan(s) ({}), {} subscriptions, {} reseller(s); {with_plan} customer(s) with a service plan",
        s.services.len(),
        plans.len(),
        plans.join(", "),
        s.subscriptions.len(),
        s.resellers.len()
    );
}

/// Whether `rule` is on in a profile.
fn rule_on(p: &crate::fraud::Profile, rule: crate::fraud::Rule) -> bool {
    use crate::fraud::Rule;
    match rule {
        Rule::HighRiskDestination => p.high_risk.is_some(),
        Rule::VelocityCalls => p.calls_per_minute.is_some(),
        Rule::VelocityCountries => p.countries_per_hour.is_some(),
        Rule::CallCost => p.max_cost.is_some(),
        Rule::NightSpend => p.night.is_some(),
    }
}
