//! `cdr-rater generate`: benchmark data.

use std::fs;
use std::io::Write;

use anyhow::Context;

use crate::cli::{GenerateArgs, GenerateWhat, Plans, Spread};
use crate::generate;
use crate::state::Ledger;
use crate::tariff;

use super::Invalid;

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    match args.what {
        GenerateWhat::Cdrs { rows, seed, rates, out, spread, with_account, days } => {
            let (t, _) = tariff::load(&rates, "NL", &jiff::tz::TimeZone::UTC).map_err(|e| Invalid(e.to_string()))?;
            let spread = match spread {
                Spread::Zipf => generate::Spread::Zipf,
                Spread::Uniform => generate::Spread::Uniform,
            };
            let shape = generate::Shape { spread, with_account, days };
            if out.as_os_str() == "-" {
                generate::write_cdrs_shaped(&t, rows, seed, shape, &mut std::io::stdout().lock())?;
            } else {
                let mut f = fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
                generate::write_cdrs_shaped(&t, rows, seed, shape, &mut f)?;
                f.flush()?;
            }
        }
        GenerateWhat::Deck { prefixes, seed, rates, out, customers, plans } => {
            let (t, _) = tariff::load(&rates, "NL", &jiff::tz::TimeZone::UTC).map_err(|e| Invalid(e.to_string()))?;
            fs::create_dir_all(out.join("plans")).with_context(|| format!("cannot create {}", out.display()))?;
            let mut f = fs::File::create(out.join("wholesale.csv"))?;
            generate::write_deck(&t, prefixes, seed, &mut f)?;
            let mut plan_names = Vec::new();
            match plans {
                Plans::Shipped => {
                    for e in fs::read_dir(rates.join("plans"))? {
                        let e = e?;
                        fs::copy(e.path(), out.join("plans").join(e.file_name()))?;
                        let name = e.file_name().to_string_lossy().into_owned();
                        if let Some(stem) = name.strip_suffix(".toml") {
                            plan_names.push(stem.to_string());
                        }
                    }
                }
                Plans::Markup => {
                    fs::write(out.join("plans").join("markup.toml"), generate::MARKUP_PLAN)?;
                    plan_names.push("markup".into());
                }
            }
            plan_names.sort();
            // The service tables come along (the shipped customers name
            // them); subscriptions only with the shipped customers.
            let mut tables = vec!["services.csv", "resellers.csv"];
            if customers.is_none() {
                tables.push("subscriptions.csv");
            }
            for name in tables {
                if rates.join(name).exists() {
                    fs::copy(rates.join(name), out.join(name))?;
                }
            }
            if rates.join("service_plans").is_dir() {
                fs::create_dir_all(out.join("service_plans"))?;
                for e in fs::read_dir(rates.join("service_plans"))? {
                    let e = e?;
                    fs::copy(e.path(), out.join("service_plans").join(e.file_name()))?;
                }
            }
            match customers {
                Some(n) => {
                    let mut c = fs::File::create(out.join("customers.csv"))?;
                    let mut nb = fs::File::create(out.join("numbers.csv"))?;
                    generate::write_customers(&plan_names, n as usize, seed, &mut c, &mut nb)?;
                }
                None => {
                    for name in ["customers.csv", "numbers.csv"] {
                        if rates.join(name).exists() {
                            fs::copy(rates.join(name), out.join(name))?;
                        }
                    }
                }
            }
        }
        GenerateWhat::Usage { rates, month, calls, seed, state } => {
            let month = crate::billing::Month::parse(&month)
                .ok_or_else(|| Invalid(format!("--month {month:?} is not YYYY-MM")))?;
            let (t, _) = tariff::load(&rates, "NL", &jiff::tz::TimeZone::UTC).map_err(|e| Invalid(e.to_string()))?;
            fs::create_dir_all(&state).with_context(|| format!("cannot create {}", state.display()))?;
            let ledger = crate::state::RedbLedger::open(&state.join(crate::state::LEDGER_FILE))?;
            let rows = generate::usage(&t, month, calls, seed);
            // One "file" per 100 customers, as a daemon would have committed it.
            let mut file = 0u64;
            for batch in rows.chunk_by(|a, b| a.customer == b.customer).collect::<Vec<_>>().chunks(100) {
                file += 1;
                let rows: Vec<_> = batch.iter().flat_map(|c| c.iter().cloned()).collect();
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&seed.to_be_bytes());
                key[8..].copy_from_slice(&file.to_be_bytes());
                let key = crate::state::ContentKey(key);
                let name = format!("generated-usage-{month}-{file}");
                let record = ledger.begin(&key, &name, &name, &name, &|_| true)?;
                let usage = crate::state::UsageCommit { rows: &rows, late: crate::billing::Bucket::LateCalls };
                ledger.finish_with(&key, &record, Vec::new(), Default::default(), usage)?;
            }
            eprintln!(
                "{}: {} usage rows of {calls} calls for {} customers in {month}, {file} files",
                state.display(),
                rows.len(),
                t.customers.len()
            );
        }
    }
    Ok(())
}
