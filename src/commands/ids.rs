//! `cdr-rater ids`: the operator's view of daily spend against IDS ranges.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::IdsArgs;
use crate::ids::{self, CustomerDays};
use crate::money::format_units;
use crate::state::{IdsSnapshot, Ledger, OpenError, RedbLedger, IDS_SNAPSHOT, LEDGER_FILE};
use crate::timefmt;

use super::{load_config, load_tariff, Invalid};

/// One customer's line. Amounts are in `currency`, the currency of the
/// customer's plan.
#[derive(Debug, Serialize)]
struct Row {
    customer_id: String,
    name: String,
    currency: String,
    spend: String,
    baseline: String,
    range: String,
    threshold: String,
    excess: String,
    level: u32,
    calls: u64,
    warm_up: bool,
    abroad: String,
    top_countries: Vec<(String, String)>,
    /// Sell of the calls billed in the day's month so far (`None`: not
    /// readable while an embedded daemon holds the store).
    month: Option<String>,
}

pub fn run(args: IdsArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    let tariff = load_tariff(&config, None)?;
    let decimals = config.price_decimals;
    let units = |u: i128| format_units(u, decimals);
    let day = match &args.day {
        Some(d) => timefmt::parse_day(d).ok_or_else(|| Invalid(format!("--day {d:?} is not YYYY-MM-DD")))?,
        None => timefmt::DayMapper::new(config.time_zone()).day_of(crate::config::now().as_second()),
    };
    // The store when it can be read here (the shared one, or the embedded
    // ledger when no daemon holds it), else the daemon's snapshot. A damaged
    // ledger is an error: its snapshot may be stale.
    let path = config.state.join(LEDGER_FILE);
    let store: Option<Box<dyn Ledger>> = if config.store.backend == crate::config::Backend::Postgres {
        let store = crate::state::PgLedger::from_config(&config.store)
            .map_err(|e| anyhow::Error::new(e).context("cannot open the shared store"))?;
        // As on the embedded store: nothing rated yet is no state.
        if !store.has_files()? {
            return Err(Invalid(format!("no IDS state: {} has no rated files yet", store.shown())).into());
        }
        Some(Box::new(store))
    } else if path.exists() {
        match RedbLedger::open_checked(&path) {
            Ok(l) => Some(Box::new(l)),
            Err(e @ (OpenError::Damaged { .. } | OpenError::Io { .. })) => {
                return Err(anyhow::Error::new(e).context("cannot read the IDS state"))
            }
            Err(OpenError::Locked(_)) => None,
        }
    } else {
        None
    };
    let customers: BTreeMap<String, CustomerDays> = match &store {
        Some(store) => store.all_customer_days()?.into_iter().collect(),
        None => {
            let path = config.state.join(IDS_SNAPSHOT);
            let text = std::fs::read(&path).map_err(|e| Invalid(format!("no IDS state: {}: {e}", path.display())))?;
            serde_json::from_slice::<IdsSnapshot>(&text)?.customers
        }
    };
    // The month so far: sell of the calls billed in the day's month (from
    // the store's billing usage; not in a running embedded daemon's snapshot).
    let month = crate::billing::Month::of_day(day);
    let month_sell: Option<BTreeMap<String, rust_decimal::Decimal>> = match &store {
        Some(store) => {
            let mut sums = BTreeMap::new();
            for (key, s) in store.usage(month)? {
                *sums.entry(key.customer).or_default() += s.sell;
            }
            Some(sums)
        }
        None => None,
    };
    let scale = rust_decimal::Decimal::from(10i64.pow(decimals));
    let home = &config.numbering.home_country;
    let mut rows = Vec::new();
    for (id, cd) in &customers {
        let Some(idx) = tariff.customer_by_id(id.as_bytes()) else { continue };
        let customer = &tariff.customers[idx as usize];
        let range = customer.ids_range.map_or(0, |r| {
            let v = (r * scale).round();
            i64::try_from(v.mantissa() / 10i128.pow(v.scale())).unwrap_or(0)
        });
        let base = cd.baseline(day, config.ids.window_days);
        let state = cd.days.get(&day).cloned().unwrap_or_default();
        let baseline = i128::from(base.rounded());
        let threshold = baseline + i128::from(range);
        let abroad_only = |(c, _): &(&ids::Country, &i64)| c.as_str() != home && c.as_str() != "--";
        let abroad: i64 = state.countries.iter().filter(abroad_only).map(|(_, u)| u).sum();
        let mut top: Vec<(&ids::Country, &i64)> = state.countries.iter().filter(abroad_only).collect();
        top.sort_by(|a, b| b.1.cmp(a.1));
        rows.push((
            state.units,
            Row {
                customer_id: id.clone(),
                name: customer.name.clone(),
                currency: tariff.currency_of(idx).to_string(),
                spend: units(i128::from(state.units)),
                baseline: units(baseline),
                range: units(i128::from(range)),
                threshold: units(threshold),
                excess: units(i128::from(state.units) - threshold),
                level: state.level,
                calls: state.calls,
                warm_up: base.n < ids::WARM_UP_DAYS,
                abroad: units(i128::from(abroad)),
                top_countries: top.iter().take(3).map(|(c, u)| (c.to_string(), units(i128::from(**u)))).collect(),
                month: month_sell.as_ref().map(|m| {
                    // Usage sums are exact at the price decimals: a plain rescale.
                    let sell = (m.get(id).copied().unwrap_or_default() * scale).round();
                    units(sell.mantissa() / 10i128.pow(sell.scale()))
                }),
            },
        ));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.customer_id.cmp(&b.1.customer_id)));
    let rows: Vec<Row> = rows.into_iter().take(args.top).map(|r| r.1).collect();
    let fraud = fraud_alerts(&config.alerts, &timefmt::format_day(day))?;
    if args.json {
        let json = serde_json::json!({ "day": timefmt::format_day(day), "customers": rows, "fraud_alerts": fraud });
        println!("{json}");
        return Ok(());
    }
    println!("IDS {} (baseline: mean of up to {} days before)", timefmt::format_day(day), config.ids.window_days);
    println!(
        "{:<10} {:<28} {:<3} {:>12} {:>12} {:>12} {:>12} {:>5} {:>12} {:>12}  top abroad",
        "customer",
        "name",
        "cur",
        "spend",
        "baseline",
        "threshold",
        "excess",
        "level",
        "abroad",
        month.to_string()
    );
    for r in &rows {
        let name: String = r.name.chars().take(28).collect();
        let top: Vec<String> = r.top_countries.iter().map(|(c, u)| format!("{c} {u}")).collect();
        println!(
            "{:<10} {:<28} {:<3} {:>12} {:>12} {:>12} {:>12} {:>5} {:>12} {:>12}  {}{}",
            r.customer_id,
            name,
            r.currency,
            r.spend,
            r.baseline,
            r.threshold,
            r.excess,
            r.level,
            r.abroad,
            r.month.as_deref().unwrap_or("-"),
            top.join(", "),
            if r.warm_up { "  (warm-up)" } else { "" }
        );
    }
    println!();
    if fraud.is_empty() {
        println!("Fraud alerts {}: none", timefmt::format_day(day));
    } else {
        println!("Fraud alerts {} ({} in the alert log)", timefmt::format_day(day), fraud.len());
        println!("{:<10} {:<28} {:<22} {:<16}  rule", "customer", "name", "type", "trigger call");
    }
    for a in &fraud {
        let name: String = a.customer_name.chars().take(28).collect();
        let call: String = a.trigger_call_id.chars().take(16).collect();
        println!(
            "{:<10} {:<28} {:<22} {:<16}  {}",
            a.customer_id,
            name,
            a.figures.rule().as_str(),
            call,
            a.figures.summary()
        );
    }
    Ok(())
}

/// The fraud alerts of `day` in the alert log, in log order (lines of other
/// kinds, and a torn last line, are passed over).
fn fraud_alerts(log: &std::path::Path, day: &str) -> anyhow::Result<Vec<crate::fraud::FraudAlert>> {
    let text = match std::fs::read_to_string(log) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read the alert log {}", log.display()))),
    };
    Ok(text
        .lines()
        .filter(|l| !l.contains("\"type\":\"ids_threshold\""))
        .filter_map(|l| serde_json::from_str::<crate::fraud::FraudAlert>(l).ok())
        .filter(|a| a.day == day)
        .collect())
}
