//! `cdr-rater state rebuild`: the operator's way back from a lost or
//! damaged ledger (the daemon refuses to start on one).

use std::collections::HashMap;

use crate::cli::{RebuildArgs, StateArgs, StateWhat};
use crate::state::{self, Clock, RebuildError, RebuildPlan};

use super::{load_config, load_tariff, Invalid};

/// Runs `cdr-rater state ...`.
pub fn run(args: StateArgs) -> anyhow::Result<()> {
    match args.what {
        StateWhat::Rebuild(a) => rebuild(a),
    }
}

fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    // Rebuilding from a spool that is not there would record nothing.
    if let Some(message) = config.missing_default_path(&config.spool) {
        return Err(Invalid(message).into());
    }
    let tariff = load_tariff(&config, None)?;
    let fraud = crate::fraud::load(&config.rates, &tariff).map_err(|e| Invalid(e.to_string()))?;
    let source_zones: HashMap<String, jiff::tz::TimeZone> = config
        .source
        .iter()
        .map(|s| {
            let zone = s.timezone.as_deref().and_then(|z| jiff::tz::TimeZone::get(z).ok());
            (s.name.clone(), zone.unwrap_or_else(|| config.time_zone()))
        })
        .collect();
    let plan = RebuildPlan {
        state_dir: config.state.clone(),
        spool_root: config.spool.clone(),
        tariff: &tariff,
        decimals: config.price_decimals,
        timezone: config.time_zone(),
        source_zones,
        ids: config.ids.enabled.then(|| (config.ids.window_days, config.alerts.clone())),
        fraud: fraud.rules.as_ref(),
        limits: config.limits.clone(),
        // A fixed "now" rated every file at that instant; else each output
        // was rated when it was published.
        clock: if std::env::var_os("CDR_RATER_NOW").is_some() {
            Clock::Fixed(crate::config::now())
        } else {
            Clock::OutputTimes
        },
        force: args.force,
    };
    let summary = state::rebuild(&plan).map_err(|e| match e {
        e @ (RebuildError::Locked(_) | RebuildError::HasRecords { .. }) => anyhow::Error::new(Invalid(e.to_string())),
        e => anyhow::Error::new(e).context("state rebuild failed"),
    })?;
    let ledger = config.state.join(state::LEDGER_FILE);
    if let Some(old) = &summary.moved_aside {
        println!("moved the old ledger to {}", old.display());
    }
    println!("rebuilt {}", ledger.display());
    println!(
        "  inputs recorded: {} (from archive/; {} re-sent copies were the same content)",
        summary.inputs, summary.duplicates
    );
    println!(
        "  output stems: {} owned by a recorded input, {} reserved without one",
        summary.owned_stems, summary.reserved_stems
    );
    println!(
        "  IDS: {} customer(s), {} customer day(s) rebuilt from rated outputs; {} alert level(s) from {}",
        summary.customers,
        summary.days,
        summary.levels,
        config.alerts.display()
    );
    println!(
        "  billing: {} month total row(s) (customer, month, currency, line) summed from rated outputs",
        summary.usage_rows
    );
    if fraud.rules.is_some() && config.ids.enabled {
        println!(
            "  fraud rules: {} customer state(s) judged again from rated outputs; {} fired rule(s) from {}",
            summary.fraud_customers,
            summary.fraud_marks,
            config.alerts.display()
        );
        if summary.fraud_unlogged > 0 {
            println!(
                "  warning: {} fraud rule(s) fire on the rated calls but are not in the alert log; \
                 marked as fired (no alert is raised for them now)",
                summary.fraud_unlogged
            );
        }
    }
    Ok(())
}
