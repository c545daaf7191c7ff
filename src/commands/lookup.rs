//! `cdr-rater lookup`: explain every step of rating one dialled number, at
//! an instant (`--at`, default now): the tables in force, the plan, the
//! destination, each period the talk time crosses and its price.

use crate::cli::LookupArgs;
use crate::money::units_to_decimal;
use crate::numbers::Number;
use crate::rating::{sell, Talk};
use crate::tariff::NO_PLAN;
use crate::timefmt::{LocalClock, ZoneCache};

use super::{load_config, load_tariff, Invalid};

pub fn run(args: LookupArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    let tariff = load_tariff(&config, args.rates.as_ref())?;
    let decimals = config.price_decimals;
    let zone = config.time_zone();
    let at = match &args.at {
        Some(text) => crate::timefmt::parse_start(text.trim().as_bytes(), &mut ZoneCache::new(zone.clone()))
            .ok_or_else(|| Invalid(format!("--at {text:?} is not a time (RFC 3339, or YYYY-MM-DD HH:MM:SS local)")))?
            .epoch_seconds(),
        None => crate::config::now().as_second(),
    };
    let (_, epoch) = tariff.epoch_at(at);
    let (plan_idx, who, customer_zone) = match (&args.plan, &args.customer) {
        (Some(name), _) => {
            let p = tariff.plan_by_name(name).ok_or_else(|| Invalid(format!("unknown plan {name:?}")))?;
            (p, format!("plan {name}"), None)
        }
        (None, Some(id)) => {
            let c = epoch
                .customer_by_id(id.as_bytes())
                .ok_or_else(|| Invalid(format!("customer {id:?} is not in the customers version in force then")))?;
            let p = epoch.plan_of(c);
            let cu = &tariff.customers[c as usize];
            let plan_name = tariff.plan_names.get(p as usize).map_or("?", String::as_str);
            (p, format!("customer {} ({}), plan {plan_name}", cu.id, cu.name), cu.zone)
        }
        (None, None) => return Err(Invalid("give --plan or --customer".into()).into()),
    };
    let Some(plan) = epoch.plans.get(plan_idx as usize).and_then(|p| p.as_deref()).filter(|_| plan_idx != NO_PLAN)
    else {
        return Err(Invalid(format!("{who}: no version of the plan is in force then")).into());
    };
    let tz = customer_zone.map_or(zone.clone(), |z| tariff.zones[usize::from(z)].clone());
    println!("dialled       {}", args.number);
    println!("rated for     {who}");
    println!(
        "at            {} ({})",
        tz.to_datetime(jiff::Timestamp::from_second(at)?),
        tz.iana_name().unwrap_or("zone")
    );
    println!("tables        {}", epoch.files().join(", "));
    let number = match config.numbering.normalise(args.number.as_bytes()) {
        Ok(Number::Internal) => {
            println!("number        internal extension or feature code: rated at 0");
            return Ok(());
        }
        Ok(Number::E164(n)) => n,
        Err(e) => return Err(Invalid(format!("{:?} is not a number: {e}", args.number)).into()),
    };
    println!("normalised    {}", number.as_str());
    let Some(d) = epoch.deck.destination(number.as_bytes()) else {
        println!("prefix        none: the call would be unrated (no_tariff)");
        return Ok(());
    };
    let dest = &epoch.deck.destinations[d as usize];
    let billsec = args.seconds;
    let units = |u: u64| units_to_decimal(i128::from(u), decimals);
    println!("prefix        {} -> {} ({}, {})", dest.prefix, dest.name, dest.country, dest.kind.as_str());
    let billed_buy = dest.increment.billed(billsec);
    let buy = dest.buy.charge(billed_buy, decimals);
    println!(
        "buy           {}/min, connect fee {}, increment {}: {billsec} s billed as {billed_buy} s -> {}",
        dest.rate,
        dest.connect_fee,
        dest.increment,
        units(buy)
    );
    let home = &tariff.home_country;
    let levels = plan.levels_for(dest, number.as_bytes(), home);
    let names: Vec<String> = levels.iter().map(|(n, _)| n.to_string()).collect();
    println!("plan levels   {} (most specific first)", names.join(" > "));
    let periods = &plan.levels.periods;
    let mut clock = LocalClock::new(tz);
    let mut segments = Vec::new();
    periods.walk(at, billsec, &mut clock, |p, s| segments.push((p, s)));
    for &(p, s) in &segments {
        let period = (p != 0).then(|| periods.name(p));
        let why = plan.explain(dest, number.as_bytes(), home, period);
        let rate_note =
            if why.rate_from.1 == "markup" { format!(" (wholesale {} x markup)", dest.rate) } else { String::new() };
        let label = if periods.is_empty() { "sell rate    ".to_string() } else { format!("{:<13}", periods.name(p)) };
        let span = if periods.is_empty() { String::new() } else { format!(" for {s} s") };
        println!("{label} {}/min from {} {}{rate_note}{span}", why.rate.normalize(), why.rate_from.0, why.rate_from.1);
    }
    let why = plan.explain(dest, number.as_bytes(), home, None);
    match &why.fee_from {
        Some(level) => println!("start fee     {} from {level} start_fee", why.start_fee),
        None => println!("start fee     0 (no level sets start_fee)"),
    }
    for (name, limit) in [("min charge", &why.min_charge), ("max charge", &why.max_charge)] {
        if let Some((v, level)) = limit {
            println!("{name:<13} {v} from {level}");
        }
    }
    let billed_sell = plan.levels.increment.billed(billsec);
    let quote = plan.quote(d, number.as_bytes());
    let sold = sell(plan, quote, Talk { start: at, billsec, billed: billed_sell }, || &mut clock, decimals);
    println!(
        "increment     {}: {billsec} s billed as {billed_sell} s{}",
        plan.levels.increment,
        if segments.len() > 1 { " (the extra on the last period)" } else { "" }
    );
    let capped = if sold.capped { " (capped at max_charge)" } else { "" };
    println!(
        "sell          {} {}{capped} (rounding {})",
        units(sold.sell),
        plan.levels.currency,
        plan.levels.rounding.as_str()
    );
    println!("margin        {} {}", units_to_decimal(sold.sell as i128 - buy as i128, decimals), plan.levels.currency);
    Ok(())
}
