//! What the daemon tells the dashboard while it runs: intake figures per
//! source and the tables in force. Written per file, per tick (50 ms) or
//! per reload, never per row; atomics and a pointer swapped under a lock
//! held for a clone, so the rating workers never wait for a reader.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::totals::Totals;

/// Intake figures of one source since the daemon started.
#[derive(Debug, Default)]
pub struct SourceFigures {
    /// Metric label of the source (its name, or `default`).
    pub label: String,
    /// Files rated and published.
    pub files_rated: AtomicU64,
    /// Files archived as duplicates of content rated before.
    pub files_duplicate: AtomicU64,
    /// Files moved to `failed/` (unreadable as CDRs).
    pub files_failed: AtomicU64,
    /// Tries that failed for a reason outside the file (retried later).
    pub file_errors: AtomicU64,
    /// Rows rated.
    pub rows_rated: AtomicU64,
    /// Rows that found no price.
    pub rows_unrated: AtomicU64,
    /// Rows rejected as malformed.
    pub rows_rejected: AtomicU64,
    /// Files known and not done: waiting, settling, with a worker or
    /// waiting to be tried again.
    pub backlog: AtomicUsize,
    /// Claimed files whose last try failed and that wait to be retried.
    pub stuck: AtomicUsize,
    /// Unix seconds of the last file rated (0: none yet).
    pub last_file_at: AtomicI64,
}

/// One version of the tariff tables as the dashboard shows it.
#[derive(Debug, Clone, Default)]
pub struct TariffInfo {
    /// Digest of the tables in force (`cdr-rater check` prints the same).
    pub digest: String,
    /// Wholesale prefixes.
    pub prefixes: usize,
    /// Customers in `customers.csv`.
    pub customers: usize,
    /// Dated table versions, newest first: `FILE (since DATE)`, or `FILE
    /// (from DATE, to come)`. Empty with undated tables only.
    pub versions: Vec<String>,
    /// Unix seconds the tables in force were loaded.
    pub loaded_at: i64,
}

/// The last reload attempt.
#[derive(Debug, Clone)]
pub struct ReloadInfo {
    /// Unix seconds of the attempt.
    pub at: i64,
    /// Whether the new tables went into force (else they were refused and
    /// the previous ones stay).
    pub ok: bool,
}

/// Tariff state: swapped whole on a (re)load.
#[derive(Debug, Clone, Default)]
pub struct TariffState {
    /// The tables in force.
    pub in_force: TariffInfo,
    /// The last reload (not the start-up load), if any.
    pub last_reload: Option<ReloadInfo>,
}

/// Everything live the dashboard reads. One per daemon.
#[derive(Debug)]
pub struct Live {
    /// Per source, in configuration order.
    pub sources: Vec<SourceFigures>,
    /// Bumped after each rated file is committed: the IDS state may have
    /// changed, so a cached read of it is stale.
    pub generation: AtomicU64,
    /// Unix seconds the daemon started.
    pub started_at: i64,
    /// The tables: a clone of the `Arc` is taken under the lock, nothing more.
    tariff: Mutex<Arc<TariffState>>,
}

impl Live {
    /// Figures at zero for sources labelled `labels`.
    pub fn new(labels: &[String], started_at: i64) -> Live {
        Live {
            sources: labels.iter().map(|l| SourceFigures { label: l.clone(), ..SourceFigures::default() }).collect(),
            generation: AtomicU64::new(1),
            started_at,
            tariff: Mutex::new(Arc::new(TariffState::default())),
        }
    }

    /// A file of source `i` was rated with `totals` at unix second `at`.
    pub fn file_rated(&self, i: usize, totals: &Totals, at: i64) {
        if let Some(s) = self.sources.get(i) {
            s.files_rated.fetch_add(1, Ordering::Relaxed);
            s.rows_rated.fetch_add(totals.rated, Ordering::Relaxed);
            s.rows_unrated.fetch_add(totals.unrated, Ordering::Relaxed);
            s.rows_rejected.fetch_add(totals.rejected, Ordering::Relaxed);
            s.last_file_at.store(at, Ordering::Relaxed);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Counts one other outcome of a file of source `i`.
    pub fn file_outcome(&self, i: usize, outcome: Outcome) {
        if let Some(s) = self.sources.get(i) {
            let counter = match outcome {
                Outcome::Duplicate => &s.files_duplicate,
                Outcome::Failed => &s.files_failed,
                Outcome::Error => &s.file_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The backlog and stuck files of each source, as of this tick.
    pub fn set_queues(&self, backlog: &[usize], stuck: &[usize]) {
        for (i, s) in self.sources.iter().enumerate() {
            s.backlog.store(backlog.get(i).copied().unwrap_or(0), Ordering::Relaxed);
            s.stuck.store(stuck.get(i).copied().unwrap_or(0), Ordering::Relaxed);
        }
    }

    /// New tables are in force (`reload`: not the start-up load).
    pub fn tariff_loaded(&self, info: TariffInfo, reload: bool) {
        let mut t = self.tariff.lock().unwrap_or_else(|e| e.into_inner());
        let last_reload = if reload { Some(ReloadInfo { at: info.loaded_at, ok: true }) } else { None };
        *t = Arc::new(TariffState { in_force: info, last_reload: last_reload.or(t.last_reload.clone()) });
    }

    /// A reload at unix second `at` was refused; the tables in force stay.
    pub fn tariff_refused(&self, at: i64) {
        let mut t = self.tariff.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = TariffState::clone(&t);
        next.last_reload = Some(ReloadInfo { at, ok: false });
        *t = Arc::new(next);
    }

    /// The tariff state as of now.
    pub fn tariff(&self) -> Arc<TariffState> {
        self.tariff.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A file outcome other than rated, as counted per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Same content as a file rated before.
    Duplicate,
    /// Moved to `failed/`.
    Failed,
    /// Failed for a reason outside the file; retried.
    Error,
}

impl TariffInfo {
    /// What the page shows of `tariff`, loaded at unix second `loaded_at`.
    pub fn of(tariff: &crate::tariff::Tariff, loaded_at: i64) -> TariffInfo {
        TariffInfo {
            digest: tariff.digest.clone(),
            prefixes: tariff.prefix_count(),
            customers: tariff.customers.len(),
            versions: tariff
                .versions
                .iter()
                .rev()
                .filter_map(|v| {
                    let date = v.date?;
                    let when =
                        if v.from <= loaded_at { format!("since {date}") } else { format!("from {date}, to come") };
                    Some(format!("{} ({when})", v.file))
                })
                .collect(),
            loaded_at,
        }
    }
}
