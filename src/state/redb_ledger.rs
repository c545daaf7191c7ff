//! The embedded [`Ledger`]: one redb file, every commit fsynced.
//!
//! redb poisons a `Database` after an I/O error (a full disk): every later
//! transaction fails with "Previous I/O error occurred". So after such an
//! error the next call drops the database and opens the file again (redb
//! repairs it to the last durable commit), and the daemon goes on once the
//! disk has room, without a restart.

// The closures return redb's own (large) error: errors are rare here, so
// their size costs nothing, and keeping the type lets I/O errors be told apart.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::fraud_store::{FraudCommit, FraudStates, FRAUD, FRAUD_LOG};
use super::usage_store::{self, CloseFailure, CLOSED, FROZEN, LATE, META, USAGE};
use super::{BillMaker, Close, ClosedMonth, ContentKey, FileRecord, Ledger, Phase, StateError, UsageCommit};
use crate::billing::{Month, Sums, UsageKey};
use crate::fraud::CustomerState;
use crate::ids::CustomerDays;

/// Content key -> JSON of [`FileRecord`].
pub(super) const FILES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("files");
/// Output stem -> owning content key.
pub(super) const STEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("stems");
/// Customer id -> JSON of [`CustomerDays`] (IDS spend).
const IDS: TableDefinition<&str, &[u8]> = TableDefinition::new("ids");

/// Owner of a stem reserved by `state rebuild` for outputs whose input is
/// unknown (no archived input matched them).
pub const ORPHAN_OWNER: ContentKey = ContentKey([0xff; 16]);

/// Why a ledger file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (a running daemon) holds the file.
    #[error("{0}: the ledger is in use by another process (is a daemon running?)")]
    Locked(PathBuf),
    /// The file is not a readable redb ledger (truncated, overwritten).
    #[error("{path}: the ledger is damaged: {reason}")]
    Damaged {
        /// The ledger file.
        path: PathBuf,
        /// What redb (or the check of its tables) said.
        reason: String,
    },
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A ledger in `state/ledger.redb`.
pub struct RedbLedger {
    /// The ledger file, to open again after an I/O error.
    path: PathBuf,
    /// The store. Every operation holds the read lock for its whole
    /// transaction, so a reopen (write lock) never drops the database under
    /// a live transaction; `None` only while a reopen has failed.
    db: RwLock<Option<Database>>,
    /// An I/O error poisoned the database: reopen before the next use.
    broken: AtomicBool,
    /// The IDS cache may not match the file (after a reopen): clear it
    /// before its next use. A flag, because the reopen may run while the
    /// cache lock is held by the same thread (inside `finish`).
    cache_stale: AtomicBool,
    /// Customers' IDS days as last committed: every file reads them, so they
    /// are decoded once, not per file. Updated only after a commit succeeds.
    ids_cache: Mutex<HashMap<String, CustomerDays>>,
    /// Customers' fraud states as last committed (`fraud_store`): read
    /// from the file once, then kept; cleared with `ids_cache`.
    fraud_cache: Mutex<FraudStates>,
}

impl std::fmt::Debug for RedbLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbLedger").field("path", &self.path).finish_non_exhaustive()
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Whether an error leaves the database poisoned until it is reopened.
fn io_class(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
}

/// Opens (or creates) the redb file and its tables. redb may panic on some
/// damaged files instead of returning an error: that is contained here and
/// reported as damage, so a bad file is an error message, never a crash.
fn open_db(path: &Path, create: bool) -> Result<Database, OpenError> {
    let attempt = || -> Result<Database, redb::Error> {
        let db = if create { Database::create(path)? } else { Database::open(path)? };
        let txn = db.begin_write()?;
        {
            txn.open_table(FILES)?;
            txn.open_table(STEMS)?;
            txn.open_table(IDS)?;
            txn.open_table(FRAUD)?;
            txn.open_table(FRAUD_LOG)?;
            txn.open_table(USAGE)?;
            txn.open_table(CLOSED)?;
            txn.open_table(FROZEN)?;
            txn.open_table(META)?;
            txn.open_table(LATE)?;
        }
        txn.commit()?;
        Ok(db)
    };
    match quietly(|| catch_unwind(AssertUnwindSafe(attempt))) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::Error::DatabaseAlreadyOpen)) => Err(OpenError::Locked(path.to_path_buf())),
        Ok(Err(redb::Error::Io(source))) if source.kind() != std::io::ErrorKind::InvalidData => {
            Err(OpenError::Io { path: path.to_path_buf(), source })
        }
        Ok(Err(e)) => Err(OpenError::Damaged { path: path.to_path_buf(), reason: e.to_string() }),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unreadable".into());
            Err(OpenError::Damaged { path: path.to_path_buf(), reason: format!("redb failed reading it ({what})") })
        }
    }
}

/// Runs `f` with the panic message hook silenced, so a contained panic of
/// redb does not print "thread panicked" on the operator's terminal. The
/// hook is process-wide: opening is rare (start-up, after an I/O error).
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Mutex<()> = Mutex::new(());
    let _one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(previous);
    out
}

impl RedbLedger {
    /// Opens (or creates) the ledger file.
    pub fn open(path: &Path) -> Result<RedbLedger, StateError> {
        Ok(RedbLedger::open_checked(path)?)
    }

    /// Opens (or creates) the ledger file, saying why it cannot.
    pub fn open_checked(path: &Path) -> Result<RedbLedger, OpenError> {
        let db = open_db(path, true)?;
        Ok(RedbLedger {
            path: path.to_path_buf(),
            db: RwLock::new(Some(db)),
            broken: AtomicBool::new(false),
            cache_stale: AtomicBool::new(false),
            ids_cache: Mutex::new(HashMap::new()),
            fraud_cache: Mutex::new(FraudStates::default()),
        })
    }

    /// Runs `f` on the database, reopening it first when an earlier I/O
    /// error poisoned it, and marking it for a reopen when `f` hits one.
    pub(super) fn with_db<T>(&self, f: impl FnOnce(&Database) -> Result<T, redb::Error>) -> Result<T, StateError> {
        if self.broken.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        let Some(db) = guard.as_ref() else {
            return Err(StateError::Closed { path: self.path.clone() });
        };
        f(db).map_err(|e| {
            if io_class(&e) {
                self.broken.store(true, Ordering::Release);
                self.cache_stale.store(true, Ordering::Release);
            }
            StateError::Store { at: self.path.display().to_string(), source: Box::new(e) }
        })
    }

    /// Drops the poisoned database and opens the file again.
    fn reopen(&self) -> Result<(), StateError> {
        let mut guard = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !self.broken.load(Ordering::Acquire) {
            return Ok(()); // another thread reopened it
        }
        // Dropped first: the old handle holds the file lock.
        *guard = None;
        let db = open_db(&self.path, false)?;
        *guard = Some(db);
        self.cache_stale.store(true, Ordering::Release);
        self.broken.store(false, Ordering::Release);
        tracing::info!(path = %self.path.display(), "ledger reopened after an I/O error");
        Ok(())
    }

    /// The caches (IDS, fraud), emptied first when they may be stale.
    /// Always taken in this order, together.
    fn cache(&self) -> Caches<'_> {
        let mut ids = self.ids_cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut fraud = self.fraud_cache.lock().unwrap_or_else(|e| e.into_inner());
        if self.cache_stale.swap(false, Ordering::AcqRel) {
            ids.clear();
            fraud.clear();
        }
        Caches { ids, fraud }
    }

    /// How many inputs the ledger records.
    pub fn file_count(&self) -> Result<u64, StateError> {
        self.with_db(|db| Ok(db.begin_read()?.open_table(FILES)?.len()?))
    }

    /// Writes what `state rebuild` recovered into an empty ledger, in one
    /// durable commit: the inputs' records, the stems they own plus stems
    /// reserved for outputs of unknown inputs (owned by [`ORPHAN_OWNER`]),
    /// the customers' IDS days, their fraud states and the month totals.
    pub fn restore(
        &self,
        records: &[(ContentKey, FileRecord)],
        reserved: &[String],
        ids: &[(String, CustomerDays)],
        fraud: &[(String, CustomerState)],
        usage: &[crate::billing::UsageDelta],
    ) -> Result<(), StateError> {
        let mut cache = self.cache();
        let result = self.with_db(|db| {
            let txn = db.begin_write()?;
            {
                let mut files = txn.open_table(FILES)?;
                let mut stems = txn.open_table(STEMS)?;
                for stem in reserved {
                    stems.insert(stem.as_str(), ORPHAN_OWNER.0.as_slice())?;
                }
                for (key, record) in records {
                    files.insert(key.0.as_slice(), encode(record).as_slice())?;
                    if !record.stem.is_empty() {
                        stems.insert(record.stem.as_str(), key.0.as_slice())?;
                    }
                }
                let mut table = txn.open_table(IDS)?;
                for (customer, days) in ids {
                    let json = serde_json::to_vec(days).unwrap_or_default();
                    table.insert(customer.as_str(), json.as_slice())?;
                }
                let mut table = txn.open_table(FRAUD)?;
                for (customer, state) in fraud.iter().filter(|(_, s)| !s.is_empty()) {
                    table.insert(customer.as_str(), state.encode().as_slice())?;
                }
                txn.open_table(FRAUD_LOG)?.retain(|_, _| false)?;
            }
            // No month is closed in a rebuilt store: nothing is routed late.
            usage_store::write(&txn, &[], &UsageCommit { rows: usage, late: crate::billing::Bucket::LateCalls })?;
            txn.commit()?;
            Ok(())
        });
        cache.clear();
        result
    }
}

/// The two caches, locked.
struct Caches<'a> {
    ids: std::sync::MutexGuard<'a, HashMap<String, CustomerDays>>,
    fraud: std::sync::MutexGuard<'a, FraudStates>,
}

impl Caches<'_> {
    fn clear(&mut self) {
        self.ids.clear();
        self.fraud.clear();
    }
}

fn encode(r: &FileRecord) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_default()
}

/// A record that does not decode: reported like redb's own corruption.
fn corrupt(e: serde_json::Error) -> redb::Error {
    redb::Error::Corrupted(format!("a ledger record does not decode: {e}"))
}

impl Ledger for RedbLedger {
    fn get(&self, key: &ContentKey) -> Result<Option<FileRecord>, StateError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(FILES)?;
            let value = table.get(key.0.as_slice())?;
            value.map(|v| serde_json::from_slice(v.value()).map_err(corrupt)).transpose()
        })
    }

    fn begin(
        &self,
        key: &ContentKey,
        name: &str,
        claimed: &str,
        base: &str,
        is_free: &dyn Fn(&str) -> bool,
    ) -> Result<FileRecord, StateError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            let record = {
                let mut files = txn.open_table(FILES)?;
                let mut stems = txn.open_table(STEMS)?;
                let mut n = 1u32;
                let stem = loop {
                    let candidate = if n == 1 { base.to_string() } else { format!("{base}.{n}") };
                    let owner = stems.get(candidate.as_str())?.map(|v| v.value().to_vec());
                    match owner {
                        Some(k) if k == key.0 => break candidate,
                        None if is_free(&candidate) => break candidate,
                        _ => n += 1,
                    }
                };
                stems.insert(stem.as_str(), key.0.as_slice())?;
                let record = FileRecord::in_progress(name, claimed, stem, now());
                files.insert(key.0.as_slice(), encode(&record).as_slice())?;
                record
            };
            txn.commit()?;
            Ok(record)
        })
    }

    fn finish_with(
        &self,
        key: &ContentKey,
        record: &FileRecord,
        ids: Vec<(String, CustomerDays)>,
        fraud: FraudCommit<'_>,
        usage: UsageCommit<'_>,
    ) -> Result<(), StateError> {
        let mut done = record.clone();
        done.phase = Phase::Done;
        done.finished_at = Some(now());
        let encoded: Vec<(&str, Vec<u8>)> = ids
            .iter()
            .map(|(c, days)| Ok((c.as_str(), serde_json::to_vec(days)?)))
            .collect::<Result<_, StateError>>()?;
        let mut cache = self.cache();
        let Caches { ids: ids_cache, fraud: fraud_cache } = &mut cache;
        let result = self.with_db(|db| {
            let txn = db.begin_write()?;
            {
                let mut files = txn.open_table(FILES)?;
                files.insert(key.0.as_slice(), encode(&done).as_slice())?;
                let mut table = txn.open_table(IDS)?;
                for (customer, json) in &encoded {
                    table.insert(*customer, json.as_slice())?;
                }
            }
            fraud_cache.write(&txn, &fraud)?;
            usage_store::write(&txn, &key.0, &usage)?;
            txn.commit()?;
            Ok(())
        });
        match result {
            Ok(()) => {
                ids_cache.extend(ids);
                fraud_cache.committed(fraud);
                Ok(())
            }
            Err(e) => {
                // What was committed is unknown: read it again next time.
                cache.clear();
                Err(e)
            }
        }
    }

    fn fraud_states(&self, customers: &[&str]) -> Result<Vec<CustomerState>, StateError> {
        let mut cache = self.cache();
        self.with_db(|db| cache.fraud.take(db, customers))
    }

    fn all_fraud_states(&self) -> Result<Vec<(String, CustomerState)>, StateError> {
        self.with_db(FraudStates::read_all)
    }

    fn customer_days(&self, customer: &str) -> Result<CustomerDays, StateError> {
        let mut cache = self.cache();
        if let Some(days) = cache.ids.get(customer) {
            return Ok(days.clone());
        }
        let days: CustomerDays = self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(IDS)?;
            let value = table.get(customer)?;
            match value {
                Some(v) => serde_json::from_slice(v.value()).map_err(corrupt),
                None => Ok(CustomerDays::default()),
            }
        })?;
        cache.ids.insert(customer.to_string(), days.clone());
        Ok(days)
    }

    fn all_customer_days(&self) -> Result<Vec<(String, CustomerDays)>, StateError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(IDS)?;
            let mut out = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                out.push((k.value().to_string(), serde_json::from_slice(v.value()).map_err(corrupt)?));
            }
            Ok(out)
        })
    }

    fn forget(&self, key: &ContentKey) -> Result<(), StateError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            {
                let mut files = txn.open_table(FILES)?;
                let old = files
                    .remove(key.0.as_slice())?
                    .map(|v| serde_json::from_slice::<FileRecord>(v.value()).map_err(corrupt))
                    .transpose()?;
                if let Some(old) = old {
                    let mut stems = txn.open_table(STEMS)?;
                    stems.remove(old.stem.as_str())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn usage(&self, month: Month) -> Result<Vec<(UsageKey, Sums)>, StateError> {
        self.with_db(|db| usage_store::read(&db.begin_read()?.open_table(USAGE)?, month))
    }

    fn closed_month(&self, month: Month) -> Result<Option<ClosedMonth>, StateError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            usage_store::closed(&txn.open_table(CLOSED)?, &txn.open_table(FROZEN)?, month)
        })
    }

    fn late_files(&self) -> Result<Vec<(ContentKey, super::LateRoutes)>, StateError> {
        let routes = self.with_db(|db| usage_store::late_routes(&db.begin_read()?.open_table(LATE)?))?;
        Ok(routes.into_iter().map(|(k, r)| (ContentKey(k), r)).collect())
    }

    fn closed_months(&self) -> Result<Vec<Month>, StateError> {
        self.with_db(|db| usage_store::closed_months(&db.begin_read()?.open_table(CLOSED)?))
    }

    fn close_month(&self, month: Month, bill: &mut BillMaker<'_>) -> Result<Close, StateError> {
        // The store's failure is the outer result; the bill's, the inner.
        self.with_db(|db| {
            let txn = db.begin_write()?;
            match usage_store::close(&txn, month, now(), bill) {
                Ok(Ok(closed)) => {
                    txn.commit()?;
                    Ok(Ok(Close::Closed(closed)))
                }
                Ok(Err(before)) => Ok(Ok(Close::AlreadyClosed(before))),
                Err(CloseFailure::Store(e)) => Err(e),
                Err(CloseFailure::Bill(e)) => Ok(Err(e)),
            }
        })?
    }

    fn all(&self) -> Result<Vec<(ContentKey, FileRecord)>, StateError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(FILES)?;
            let mut out = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let mut key = [0u8; 16];
                if k.value().len() == 16 {
                    key.copy_from_slice(k.value());
                }
                out.push((ContentKey(key), serde_json::from_slice(v.value()).map_err(corrupt)?));
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_reserved_once_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let a = ContentKey::of(b"a");
        let b = ContentKey::of(b"b");
        {
            let l = RedbLedger::open(&path).unwrap();
            let ra = l.begin(&a, "Master.csv", "1-Master.csv", "Master", &|_| true).unwrap();
            assert_eq!(ra.stem, "Master");
            // Another input with the same name gets the next stem.
            let rb = l.begin(&b, "Master.csv", "2-Master.csv", "Master", &|_| true).unwrap();
            assert_eq!(rb.stem, "Master.2");
            // A redo of `a` keeps its stem.
            assert_eq!(l.begin(&a, "Master.csv", "1-Master.csv", "Master", &|_| true).unwrap().stem, "Master");
            l.finish(&a, &ra, Vec::new()).unwrap();
        }
        let l = RedbLedger::open(&path).unwrap();
        assert_eq!(l.get(&a).unwrap().unwrap().phase, Phase::Done);
        assert_eq!(l.get(&b).unwrap().unwrap().phase, Phase::InProgress);
        l.forget(&b).unwrap();
        assert!(l.get(&b).unwrap().is_none());
        // Files that exist on disk are not free either.
        let c = ContentKey::of(b"c");
        assert_eq!(l.begin(&c, "x", "3-x", "Master", &|s| s != "Master.2").unwrap().stem, "Master.3");
        assert_eq!(l.all().unwrap().len(), 2);
    }
}

#[cfg(test)]
mod damage_tests {
    use super::*;

    /// A ledger with a few records, closed; returns its bytes.
    fn ledger_bytes(path: &Path) -> Vec<u8> {
        let l = RedbLedger::open(path).unwrap();
        for i in 0..50u32 {
            let key = ContentKey::of(&i.to_be_bytes());
            let r = l.begin(&key, &format!("f{i}.csv"), "x", &format!("f{i}"), &|_| true).unwrap();
            l.finish(&key, &r, vec![(format!("C{i}"), CustomerDays::default())]).unwrap();
        }
        drop(l);
        std::fs::read(path).unwrap()
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let bytes = ledger_bytes(&path);
        let half = &bytes[..bytes.len() / 2];
        let garbage: Vec<u8> = (0..bytes.len()).map(|i| (i * 7 + 13) as u8).collect();
        for (what, content) in [("half", half), ("garbage", &garbage[..])] {
            std::fs::write(&path, content).unwrap();
            match RedbLedger::open_checked(&path) {
                Err(e @ OpenError::Damaged { .. }) => {
                    assert!(e.to_string().contains("ledger.redb"), "{what}: {e}")
                }
                Err(e) => panic!("{what}: not reported as damage: {e}"),
                Ok(l) => panic!("{what}: opened with {} records", l.file_count().unwrap()),
            }
        }
    }
}
