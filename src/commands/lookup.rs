//! `cdr-rater lookup`: explain every step of rating one dialled number.

use crate::cli::LookupArgs;
use crate::money::units_to_decimal;
use crate::numbers::Number;

use super::{load_config, load_tariff, Invalid};

pub fn run(args: LookupArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    let tariff = load_tariff(&config, args.rates.as_ref())?;
    let decimals = config.price_decimals;
    let (plan_idx, who) = match (&args.plan, &args.customer) {
        (Some(name), _) => {
            let p = tariff.plan_by_name(name).ok_or_else(|| Invalid(format!("unknown plan {name:?}")))?;
            (p, format!("plan {name}"))
        }
        (None, Some(id)) => {
            let c = tariff.customer_by_id(id.as_bytes()).ok_or_else(|| Invalid(format!("unknown customer {id:?}")))?;
            let c = &tariff.customers[c as usize];
            (c.plan, format!("customer {} ({}), plan {}", c.id, c.name, tariff.plans[c.plan as usize].name))
        }
        (None, None) => return Err(Invalid("give --plan or --customer".into()).into()),
    };
    let plan = &tariff.plans[plan_idx as usize];
    println!("dialled       {}", args.number);
    println!("rated for     {who}");
    let number = match config.numbering.normalise(args.number.as_bytes()) {
        Ok(Number::Internal) => {
            println!("number        internal extension or feature code: rated at 0");
            return Ok(());
        }
        Ok(Number::E164(n)) => n,
        Err(e) => return Err(Invalid(format!("{:?} is not a number: {e}", args.number)).into()),
    };
    println!("normalised    {}", number.as_str());
    let Some(d) = tariff.destination(number.as_bytes()) else {
        println!("prefix        none: the call would be unrated (no_tariff)");
        return Ok(());
    };
    let dest = &tariff.destinations[d as usize];
    let billsec = args.seconds;
    println!("prefix        {} -> {} ({}, {})", dest.prefix, dest.name, dest.country, dest.kind.as_str());
    let billed_buy = dest.increment.billed(billsec);
    let buy = dest.buy.charge(billed_buy, decimals);
    println!(
        "buy           {}/min, connect fee {}, increment {}: {billsec} s billed as {billed_buy} s -> {}",
        dest.rate,
        dest.connect_fee,
        dest.increment,
        units_to_decimal(i128::from(buy), decimals)
    );
    let why = plan.explain(dest, number.as_bytes(), &tariff.home_country);
    let levels = plan.levels_for(dest, number.as_bytes(), &tariff.home_country);
    let names: Vec<String> = levels.iter().map(|(n, _)| n.to_string()).collect();
    println!("plan levels   {} (most specific first)", names.join(" > "));
    let rate_note =
        if why.rate_from.1 == "markup" { format!(" (wholesale {} x markup)", dest.rate) } else { String::new() };
    println!("sell rate     {}/min from {} {}{rate_note}", why.rate.normalize(), why.rate_from.0, why.rate_from.1);
    match &why.fee_from {
        Some(level) => println!("start fee     {} from {level} start_fee", why.start_fee),
        None => println!("start fee     0 (no level sets start_fee)"),
    }
    let billed_sell = plan.levels.increment.billed(billsec);
    let sell = plan.sell_price(d, number.as_bytes()).charge(billed_sell, decimals);
    println!("increment     {}: {billsec} s billed as {billed_sell} s", plan.levels.increment);
    println!("sell          {} {}", units_to_decimal(i128::from(sell), decimals), plan.levels.currency);
    println!("margin        {} {}", units_to_decimal(sell as i128 - buy as i128, decimals), plan.levels.currency);
    Ok(())
}
