//! `cdr-rater check`: validate the tariff tables and summarise them.

use crate::cli::CheckArgs;
use crate::tariff;

use super::{load_config, rates_dir, Invalid};

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    let dir = rates_dir(&config, args.rates.as_ref())?;
    let (t, report) = match tariff::load(dir, &config.numbering.home_country) {
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
    let by_country: std::collections::BTreeSet<&str> = t.destinations.iter().map(|d| d.country.as_str()).collect();
    println!("{}: ok", dir.display());
    println!("  wholesale prefixes  {} ({} countries)", t.prefix_count(), by_country.len());
    let plans: Vec<&str> = t.plans.iter().map(|p| p.name.as_str()).collect();
    println!("  plans               {} ({})", plans.len(), plans.join(", "));
    let ids_on = t.customers.iter().filter(|c| c.ids_range.is_some()).count();
    println!("  customers           {} ({ids_on} with IDS)", t.customers.len());
    println!("  number blocks       {}", t.number_block_count());
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
    Ok(())
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
