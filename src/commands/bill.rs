//! `cdr-rater bill`: a month's invoices from the store (SPEC §12.3). With
//! the embedded store held by a running daemon, the request is handed to
//! the daemon (`invoicing::BillControl`) and its answer printed.

use std::time::Duration;

use crate::billing::Month;
use crate::cli::BillArgs;
use crate::config::{Backend, Config};
use crate::invoicing::{summary, BillControl, BillRequest, InvoicingError, Mode, MonthBill};
use crate::state::{Ledger, OpenError, PgLedger, RedbLedger, LEDGER_FILE};

use super::{load_config, load_tariff, Invalid};

/// How often the answer of a daemon is looked for.
const POLL: Duration = Duration::from_millis(200);

pub fn run(args: BillArgs) -> anyhow::Result<()> {
    let month = Month::parse(&args.month).ok_or_else(|| Invalid(format!("--month {:?} is not YYYY-MM", args.month)))?;
    if args.close && !args.customers.is_empty() {
        return Err(Invalid("--close bills every customer of the month: leave out --customer".into()).into());
    }
    let config = load_config(args.config.config.as_deref())?;
    let mode = if args.close { Mode::Close } else { Mode::Draft };
    if config.store.backend == Backend::Postgres {
        let store = PgLedger::from_config(&config.store)
            .map_err(|e| anyhow::Error::new(e).context("cannot open the shared store"))?;
        return run_here(&config, &store, month, &args.customers, mode, false);
    }
    let path = config.state.join(LEDGER_FILE);
    match RedbLedger::open_checked(&path) {
        Ok(store) => run_here(&config, &store, month, &args.customers, mode, false),
        Err(OpenError::Locked(_)) => hand_to_daemon(&config, &args, month, mode),
        Err(e) => Err(anyhow::Error::new(e).context("cannot open the store")),
    }
}

/// Bills with the store held here. `started`: a close a daemon began
/// before it stopped (if it committed, its files are written again).
fn run_here(
    config: &Config,
    store: &dyn Ledger,
    month: Month,
    customers: &[String],
    mode: Mode,
    started: bool,
) -> anyhow::Result<()> {
    let tariff = load_tariff(config, None)?;
    let zone = config.time_zone();
    let month_bill = MonthBill {
        store,
        tariff: &tariff,
        settings: config.billing_settings(),
        zone: &zone,
        rated: vec![config.spool.join("rated")],
    };
    let only = (!customers.is_empty()).then_some(customers);
    let result = match month_bill.bill(month, only, mode) {
        Err(InvoicingError::AlreadyClosed { .. }) if started => month_bill.bill(month, None, Mode::Draft),
        other => other,
    };
    match result {
        Ok(report) => {
            for line in summary(month, &report) {
                eprintln!("{line}");
            }
            Ok(())
        }
        Err(e) if e.is_operators() => Err(Invalid(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}

/// Files the request for the daemon and waits for its answer; if the
/// daemon stops before taking it, takes it back and bills here.
fn hand_to_daemon(config: &Config, args: &BillArgs, month: Month, mode: Mode) -> anyhow::Result<()> {
    let control = BillControl::of_spool(&config.spool);
    let now = crate::config::now();
    let request = BillRequest {
        id: format!("{}-{}", now.strftime("%Y%m%dT%H%M%S%.fZ"), std::process::id()),
        month: args.month.clone(),
        customers: args.customers.clone(),
        close: args.close,
        started: false,
    };
    control.submit(&request)?;
    eprintln!("a daemon holds the store: bill request {} handed to it; waiting for its answer", request.id);
    let mut polls = 0u32;
    loop {
        if let Some(answer) = control.take_answer(&request.id) {
            for line in &answer.lines {
                eprintln!("{line}");
            }
            return match (answer.error, answer.invalid) {
                (None, _) => Ok(()),
                (Some(e), true) => Err(Invalid(e).into()),
                (Some(e), false) => Err(anyhow::anyhow!(e)),
            };
        }
        polls += 1;
        if polls % 20 == 0 {
            // The daemon stopped: the store is free; bill here if the
            // request was still waiting (else the daemon's answer comes).
            if let Ok(store) = RedbLedger::open_checked(&config.state.join(LEDGER_FILE)) {
                if let Some(taken) = control.withdraw(&request.id) {
                    return run_here(config, &store, month, &args.customers, mode, taken.started);
                }
            }
        }
        std::thread::sleep(POLL);
    }
}
