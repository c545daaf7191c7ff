//! The worker threads: each takes a [`Work`] (claiming it when it comes from
//! `incoming/`), runs it through [`Processor::process`], emits what happened
//! and reports back to the intake with a [`Finished`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use super::web::Outcome;
use super::Source;
use crate::config::Config;
use crate::job::{FileRater, IdsSettings, Locks};
use crate::spool::process::{FileOutcome, Processor};
use crate::state::Ledger;
use crate::tariff::Tariff;
use crate::telemetry::{self, Event, Untrusted};

/// Work for the worker thread: a source (index) and a file.
pub(super) enum Work {
    /// A settled file in the source's `incoming/`.
    Incoming(usize, PathBuf),
    /// A claimed file: left by an earlier run, or tried again after an error.
    Claimed(usize, PathBuf),
}

/// What a worker reports when it is done with a [`Work`].
pub(super) struct Finished {
    /// Index of the source.
    pub(super) source: usize,
    /// The `incoming/` path it was given ([`Work::Incoming`]): stop tracking it.
    pub(super) incoming: Option<PathBuf>,
    /// Whether the work was a [`Work::Claimed`].
    pub(super) was_claimed: bool,
    /// The claimed file, when it must be tried again, and why.
    pub(super) again: Option<(PathBuf, Again)>,
}

/// Why a claimed file is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Again {
    /// It failed for a reason outside the file (disk full, ledger, alert
    /// log): retried with a growing backoff, counted as waiting on an error.
    Error,
    /// Its content is being rated under another claim: retried shortly.
    Busy,
}

/// The tables in force, swapped whole on a reload: the tariff and the fraud
/// rules resolved against it.
#[derive(Clone, Copy)]
pub(super) struct Tables<'a> {
    /// The tariff.
    pub(super) tariffs: &'a ArcSwap<Tariff>,
    /// The fraud rules.
    pub(super) fraud: &'a ArcSwap<crate::fraud::FraudTables>,
}

/// What every worker of the daemon shares: one per process.
pub(super) struct Shared {
    /// The file ledger and IDS state: embedded, or shared (PostgreSQL).
    pub(super) ledger: Box<dyn Ledger>,
    /// The serialised ledger sections and the contents being rated.
    pub(super) locks: Locks,
    /// IDS, when on; its alert log's clones share one hook queue.
    pub(super) ids: Option<IdsSettings>,
    /// One writer of `state/ids.json` at a time.
    pub(super) snapshot: std::sync::Mutex<()>,
    /// Output buffers, reused from file to file.
    pub(super) pool: crate::pipeline::BufferPool,
    /// What the dashboard shows of the files done.
    pub(super) live: std::sync::Arc<super::web::Live>,
}

/// The dashboard reads the IDS days from the workers' ledger.
impl super::web::IdsSource for Shared {
    fn customer_days(&self) -> Result<Vec<(String, crate::ids::CustomerDays)>, crate::state::StateError> {
        self.ledger.all_customer_days()
    }

    fn month_sell(
        &self,
        month: crate::billing::Month,
    ) -> Result<std::collections::HashMap<String, rust_decimal::Decimal>, crate::state::StateError> {
        let mut sums = std::collections::HashMap::new();
        for (key, s) in self.ledger.usage(month)? {
            *sums.entry(key.customer).or_default() += s.sell;
        }
        Ok(sums)
    }
}

pub(super) fn worker_loop(
    config: &Config,
    sources: &[Source],
    shared: &Shared,
    tables: Tables<'_>,
    cancel: &AtomicBool,
    work: &std::sync::Mutex<std_mpsc::Receiver<Work>>,
    done: mpsc::UnboundedSender<Finished>,
) {
    let ledger = shared.ledger.as_ref();
    let processors: Vec<Processor<'_>> = sources
        .iter()
        .map(|s| Processor {
            spool: &s.spool,
            rater: FileRater {
                ledger,
                locks: &shared.locks,
                pool: &shared.pool,
                tariffs: tables.tariffs,
                numbering: &s.numbering,
                format: s.format.clone(),
                timezone: s.timezone.clone(),
                decimals: config.price_decimals,
                limits: config.limits.clone(),
                default_customer: s.customer.clone(),
                cancel,
                ids: shared.ids.clone(),
                fraud: Some(tables.fraud),
            },
        })
        .collect();
    let mut snapshot_due = false;
    let mut last_snapshot: Option<Instant> = None;
    loop {
        // Wait for work; when idle, flush a pending snapshot first.
        let next = work.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(SNAPSHOT_EVERY);
        let item = match next {
            Ok(item) => item,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                if snapshot_due {
                    write_snapshot(config, shared);
                    snapshot_due = false;
                    last_snapshot = Some(Instant::now());
                }
                continue;
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let (i, claimed, incoming) = match item {
            Work::Claimed(i, c) => (i, Some(c), None),
            Work::Incoming(i, path) => match sources[i].spool.claim(&path) {
                Ok(c) => (i, c, Some(path)),
                Err(e) => {
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    tracing::error!(file = %Untrusted(&name), error = %e, "cannot claim");
                    (i, None, Some(path))
                }
            },
        };
        let source = sources[i].label.as_str();
        let was_claimed = incoming.is_none();
        let mut again = None;
        if let Some(claimed) = claimed {
            let name = claimed
                .file_name()
                .and_then(|n| n.to_str())
                .map(|n| crate::spool::original_name(n).to_string())
                .unwrap_or_default();
            match processors[i].process(&claimed) {
                // Counted by `process`, before the input is archived.
                Ok(FileOutcome::Rated { totals, .. }) => {
                    snapshot_due = true;
                    shared.live.file_rated(i, &totals, crate::config::now().as_second());
                }
                Ok(FileOutcome::Duplicate { of }) => {
                    shared.live.file_outcome(i, Outcome::Duplicate);
                    telemetry::emit(&Event::FileDuplicate { source, name: &name, of: &of })
                }
                Ok(FileOutcome::Archived) => {
                    tracing::info!(source, file = %Untrusted(&name), "finished an interrupted file")
                }
                Ok(FileOutcome::Failed { reason }) => {
                    shared.live.file_outcome(i, Outcome::Failed);
                    telemetry::emit(&Event::FileFailed { source, name: &name, reason: &reason })
                }
                Ok(FileOutcome::Abandoned) => {
                    tracing::info!(source, file = %Untrusted(&name), "abandoned for shutdown; redone at start")
                }
                Ok(FileOutcome::Busy { of }) => {
                    tracing::debug!(source, file = %Untrusted(&name), of = %Untrusted(&of), "same content in progress; waiting");
                    again = Some((claimed, Again::Busy));
                }
                Ok(FileOutcome::Gone) => {
                    tracing::warn!(source, file = %Untrusted(&name), "claimed file is gone (moved away?)")
                }
                Err(e) => {
                    shared.live.file_outcome(i, Outcome::Error);
                    telemetry::emit(&Event::FileError { source, name: &name, error: &e.to_string() });
                    again = Some((claimed, Again::Error));
                }
            }
        }
        if cancel.load(Ordering::Relaxed) {
            // Shutting down: whatever is left claimed is redone at start.
            again = None;
        }
        let _ = done.send(Finished { source: i, incoming, was_claimed, again });
        // The IDS snapshot for `cdr-rater ids`: at most once a second.
        if snapshot_due && last_snapshot.is_none_or(|t: Instant| t.elapsed() >= SNAPSHOT_EVERY) {
            write_snapshot(config, shared);
            snapshot_due = false;
            last_snapshot = Some(Instant::now());
        }
    }
    if snapshot_due {
        write_snapshot(config, shared);
    }
}

/// How often the worker refreshes `state/ids.json` while files keep coming.
pub(super) const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// Writes `state/ids.json`: what `cdr-rater ids` reads while the daemon
/// holds the embedded ledger. On the shared store `ids` reads the database
/// itself, so the snapshot (every customer's days read back and written
/// out, twice a second under load) is skipped.
pub(super) fn write_snapshot(config: &Config, shared: &Shared) {
    if shared.ids.is_some() && config.store.backend != crate::config::Backend::Postgres {
        let _one = shared.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = crate::state::write_ids_snapshot(&config.state, shared.ledger.as_ref()) {
            tracing::warn!(error = %e, "cannot write the IDS snapshot");
        }
    }
}
