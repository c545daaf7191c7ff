//! The daemon's side of `cdr-rater rerate` (and of `bill`, whose requests
//! run on the same thread after the re-ratings): while the daemon holds the
//! store, the command files requests in `spool/.control/rerate/`; they
//! run here, one at a time on a thread of their own, with the workers'
//! ledger, ledger sections and tables, so a re-rated file's difference and
//! a newly rated file's spend never overwrite each other.
//!
//! A request left by a crash (of the daemon or of a `rerate` that held the
//! store) is still in the folder: it is picked up at start like a new one,
//! and finished exactly once ([`crate::rerate`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::worker::{write_snapshot, Shared};
use crate::config::Config;
use crate::invoicing::{BillControl, MonthBill};
use crate::rerate::{Control, Engine, RerateError};
use crate::tariff::Tariff;

/// How often the control folder is looked at.
const POLL: Duration = Duration::from_millis(200);

/// The re-rating thread and when the folder was last looked at.
pub(super) struct Rerates {
    running: Option<JoinHandle<()>>,
    last_poll: Option<Instant>,
}

/// What the re-rating thread shares with the workers.
pub(super) struct Parts {
    /// The configuration.
    pub(super) config: Config,
    /// The workers' ledger and sections.
    pub(super) shared: Arc<Shared>,
    /// The tables in force.
    pub(super) tariffs: Arc<ArcSwap<Tariff>>,
    /// Set on shutdown.
    pub(super) cancel: Arc<AtomicBool>,
}

impl Rerates {
    /// Nothing running yet; the first poll looks at once (requests and
    /// re-rating marks left by a crash).
    pub(super) fn new() -> Rerates {
        Rerates { running: None, last_poll: None }
    }

    /// Starts the thread when requests wait and none is running.
    pub(super) fn poll(&mut self, parts: &Arc<Parts>) {
        if self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        if let Some(done) = self.running.take() {
            let _ = done.join();
        }
        let first = self.last_poll.is_none();
        if self.last_poll.is_some_and(|t| t.elapsed() < POLL) {
            return;
        }
        self.last_poll = Some(Instant::now());
        let waiting = Control::of_spool(&parts.config.spool).pending().map(|p| !p.is_empty()).unwrap_or(true)
            || !BillControl::of_spool(&parts.config.spool).pending().is_empty();
        if !(first || waiting) {
            return;
        }
        let parts = parts.clone();
        let spawned = std::thread::Builder::new().name("rerate".into()).spawn(move || run(&parts));
        match spawned {
            Ok(h) => self.running = Some(h),
            Err(e) => tracing::warn!(error = %e, "cannot start the re-rating thread"),
        }
    }

    /// Waits for a running request to stop (it stops between batches on shutdown).
    pub(super) fn join(self) {
        if let Some(h) = self.running {
            let _ = h.join();
        }
    }
}

/// Runs every waiting request.
fn run(parts: &Parts) {
    let tariffs: &ArcSwap<Tariff> = &parts.tariffs;
    let engine = Engine {
        config: &parts.config,
        ledger: parts.shared.ledger.as_ref(),
        locks: &parts.shared.locks,
        tariffs,
        pool: &parts.shared.pool,
        cancel: &parts.cancel,
        ids: parts.shared.ids.clone(),
    };
    match engine.run_pending() {
        Ok(reports) => {
            for r in reports {
                let rerated = r.files.iter().filter(|f| f.outcome == "rerated").count();
                tracing::info!(request = %r.id, files = r.files.len(), rerated, failed = r.failed(), "re-rating done");
            }
        }
        Err(RerateError::Cancelled) => {
            tracing::info!("re-rating interrupted by shutdown; it resumes at the next start")
        }
        Err(e) => tracing::warn!(error = %e, "re-rating failed; retried shortly"),
    }
    write_snapshot(&parts.config, &parts.shared);
    bills(parts);
}

/// Runs every waiting `bill` request with the daemon's store and tables.
fn bills(parts: &Parts) {
    let control = BillControl::of_spool(&parts.config.spool);
    let requests = control.pending();
    if requests.is_empty() {
        return;
    }
    let tariff = parts.tariffs.load_full();
    let zone = parts.config.time_zone();
    let month_bill = MonthBill {
        store: parts.shared.ledger.as_ref(),
        tariff: &tariff,
        settings: parts.config.billing_settings(),
        zone: &zone,
        rated: vec![parts.config.spool.join("rated")],
    };
    for request in requests {
        match month_bill.serve(&control, &request) {
            Ok(()) => tracing::info!(request = %request.id, month = %request.month, close = request.close, "bill done"),
            Err(e) => tracing::warn!(request = %request.id, error = %e, "bill failed; retried shortly"),
        }
    }
}
