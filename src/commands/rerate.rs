//! `cdr-rater rerate`: files the request; runs it here when no daemon holds
//! the store, else hands it to the daemon and waits for its report; prints
//! the report per customer on stderr.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;

use crate::cli::RerateArgs;
use crate::rerate::{self, Control, Engine, Report, Request};
use crate::state::{GuardError, OpenError};

use super::{load_config, load_tariff, Invalid};

/// How often the report of a request handed to the daemon is looked for.
const POLL: Duration = Duration::from_millis(100);

/// Runs `cdr-rater rerate ...`.
pub fn run(args: RerateArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    if let Some(message) = config.missing_default_path(&config.spool) {
        return Err(Invalid(message).into());
    }
    let tariff = load_tariff(&config, None)?;
    if let Some(m) = &args.month {
        crate::billing::Month::parse(m).ok_or_else(|| Invalid(format!("--month {m:?}: not YYYY-MM")))?;
    }
    for d in args.from.iter().chain(&args.to) {
        crate::timefmt::parse_day(d).ok_or_else(|| Invalid(format!("{d:?}: not a date (YYYY-MM-DD)")))?;
    }
    for c in &args.customer {
        if tariff.customer_by_id(c.as_bytes()).is_none() {
            return Err(Invalid(format!("--customer {c:?}: not in customers.csv")).into());
        }
    }
    // Paths made absolute: the daemon runs elsewhere.
    let files = args
        .file
        .iter()
        .map(|f| match std::path::absolute(f) {
            Ok(p) if p.is_file() => p.display().to_string(),
            _ => f.clone(),
        })
        .collect();
    let request = Request {
        id: Request::new_id(crate::config::now()),
        month: args.month,
        from: args.from,
        to: args.to,
        files,
        customers: args.customer,
        dry_run: args.dry_run,
    };
    let control = Control::of_spool(&config.spool);
    let opened = if config.store.backend == crate::config::Backend::Postgres {
        // The shared store: run here, from any host; the control folder's
        // lock keeps a daemon on the same spool from running it too.
        let store = crate::state::PgLedger::from_config(&config.store).context("cannot open the shared store")?;
        Ok(Box::new(store) as Box<dyn crate::state::Ledger>)
    } else {
        crate::state::open_for_daemon(&config.state, &config.spool)
            .map(|l| Box::new(l) as Box<dyn crate::state::Ledger>)
    };
    let report = match opened {
        Ok(ledger) => {
            if !request.dry_run {
                control.submit(&request)?;
            }
            run_here(&config, tariff, ledger, &request)?
        }
        Err(GuardError::Open(OpenError::Locked(_))) => {
            control.submit(&request)?;
            eprintln!("a daemon holds the ledger: request {} handed to it; waiting for its report", request.id);
            let mut polls = 0u32;
            loop {
                if let Some(report) = control.take_report(&request.id)? {
                    break report;
                }
                // The daemon stopped meanwhile: the store is free, run it here.
                polls += 1;
                if polls % 20 == 0 {
                    if let Ok(ledger) = crate::state::open_for_daemon(&config.state, &config.spool) {
                        let tariff = load_tariff(&config, None)?;
                        break run_here(&config, tariff, Box::new(ledger), &request)?;
                    }
                }
                std::thread::sleep(POLL);
            }
        }
        Err(e) => return Err(Invalid(e.to_string()).into()),
    };
    if let Some(why) = &report.error {
        return Err(Invalid(format!("rerate: {why}")).into());
    }
    print(&report, config.price_decimals);
    match report.failed() {
        0 => Ok(()),
        n => anyhow::bail!("{n} file(s) could not be re-rated (see above); the others are done"),
    }
}

/// Runs the request (a dry run directly; else after the requests an
/// earlier run left unfinished, which go first) with the store held here.
fn run_here(
    config: &crate::config::Config,
    tariff: crate::tariff::Tariff,
    ledger: Box<dyn crate::state::Ledger>,
    request: &Request,
) -> anyhow::Result<Report> {
    let control = Control::of_spool(&config.spool);
    let (locks, pool, cancel) = Default::default();
    let tariffs = arc_swap::ArcSwap::from_pointee(tariff);
    let ids = crate::job::IdsSettings::from_config(config);
    let engine = Engine {
        config,
        ledger: ledger.as_ref(),
        locks: &locks,
        tariffs: &tariffs,
        pool: &pool,
        cancel: &cancel as &AtomicBool,
        ids: ids.clone(),
    };
    let report = if request.dry_run {
        let report = engine.run(request).map_err(invalid)?;
        control.take_report(&request.id)?;
        report
    } else {
        engine.run_pending().map_err(invalid)?;
        control.take_report(&request.id)?.context("the re-rating left no report")?
    };
    if config.store.backend == crate::config::Backend::Embedded {
        crate::state::write_ids_snapshot(&config.state, ledger.as_ref())?;
    }
    // Alerts of the current day reach their hook before the command ends.
    if let Some(ids) = ids {
        ids.alerts.wait_for_hooks();
    }
    Ok(report)
}

/// A request the engine refuses as asked is bad usage (exit 2).
fn invalid(e: rerate::RerateError) -> anyhow::Error {
    match e {
        rerate::RerateError::Invalid(m) => Invalid(m).into(),
        e => anyhow::Error::new(e).context("re-rating failed"),
    }
}

/// The report on stderr: files, then one line per customer and currency.
fn print(report: &Report, decimals: u32) {
    let count = |what: &str| report.files.iter().filter(|f| f.outcome == what).count();
    eprintln!(
        "rerate {}: {} file(s){}, {} without calls of --customer, {} failed",
        report.id,
        count("rerated") + count("dry_run"),
        if report.dry_run { " rated (dry run: nothing changed)" } else { " re-rated" },
        count("unchanged_customers"),
        report.failed()
    );
    for f in report.files.iter().filter(|f| f.outcome.starts_with("failed")) {
        eprintln!("  {}: {}", crate::telemetry::Untrusted(&f.name), f.outcome);
    }
    if !report.customers.is_empty() {
        let width = report.customers.iter().map(|l| l.customer.len()).max().unwrap_or(8).max(8);
        eprintln!(
            "{:<width$}  {:<3}  {:>9}  {:>9}  {:>14}  {:>14}  {:>14}",
            "customer", "cur", "old calls", "new calls", "old sell", "new sell", "difference"
        );
        for l in &report.customers {
            eprintln!(
                "{:<width$}  {:<3}  {:>9}  {:>9}  {:>14}  {:>14}  {:>14}",
                crate::telemetry::Untrusted(&l.customer).to_string(),
                l.currency,
                l.old_calls,
                l.new_calls,
                l.old_sell,
                l.new_sell,
                rerate::difference(l, decimals)
            );
        }
    }
    if let Some(csv) = &report.csv {
        eprintln!("report: {}", csv.display());
    }
}
