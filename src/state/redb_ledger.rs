//! The embedded [`Ledger`]: one redb file, every commit fsynced.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use redb::{Database, ReadableTable, TableDefinition};

use super::{ContentKey, FileRecord, Ledger, Phase, StateError};
use crate::ids::CustomerDays;

/// Content key -> JSON of [`FileRecord`].
const FILES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("files");
/// Output stem -> owning content key.
const STEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("stems");
/// Customer id -> JSON of [`CustomerDays`] (IDS spend).
const IDS: TableDefinition<&str, &[u8]> = TableDefinition::new("ids");

/// A ledger in `state/ledger.redb`.
pub struct RedbLedger {
    /// The store.
    db: Database,
    /// Customers' IDS days as last committed: every file reads them, so they
    /// are decoded once, not per file. Updated only after a commit succeeds.
    ids_cache: Mutex<HashMap<String, CustomerDays>>,
}

fn err(e: impl std::fmt::Display) -> StateError {
    StateError(e.to_string())
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl RedbLedger {
    /// Opens (or creates) the ledger file.
    pub fn open(path: &Path) -> Result<RedbLedger, StateError> {
        let db = Database::create(path).map_err(|e| StateError(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(err)?;
        {
            txn.open_table(FILES).map_err(err)?;
            txn.open_table(STEMS).map_err(err)?;
            txn.open_table(IDS).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(RedbLedger { db, ids_cache: Mutex::new(HashMap::new()) })
    }
}

fn decode(bytes: &[u8]) -> Result<FileRecord, StateError> {
    serde_json::from_slice(bytes).map_err(err)
}

fn encode(r: &FileRecord) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_default()
}

impl Ledger for RedbLedger {
    fn get(&self, key: &ContentKey) -> Result<Option<FileRecord>, StateError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(FILES).map_err(err)?;
        let value = table.get(key.0.as_slice()).map_err(err)?;
        value.map(|v| decode(v.value())).transpose()
    }

    fn begin(
        &self,
        key: &ContentKey,
        name: &str,
        claimed: &str,
        base: &str,
        is_free: &dyn Fn(&str) -> bool,
    ) -> Result<FileRecord, StateError> {
        let txn = self.db.begin_write().map_err(err)?;
        let record = {
            let mut files = txn.open_table(FILES).map_err(err)?;
            let mut stems = txn.open_table(STEMS).map_err(err)?;
            let mut n = 1u32;
            let stem = loop {
                let candidate = if n == 1 { base.to_string() } else { format!("{base}.{n}") };
                let owner = stems.get(candidate.as_str()).map_err(err)?.map(|v| v.value().to_vec());
                match owner {
                    Some(k) if k == key.0 => break candidate,
                    None if is_free(&candidate) => break candidate,
                    _ => n += 1,
                }
            };
            stems.insert(stem.as_str(), key.0.as_slice()).map_err(err)?;
            let record = FileRecord {
                name: name.to_string(),
                claimed: claimed.to_string(),
                stem,
                phase: Phase::InProgress,
                counts: [0; 4],
                skipped: 0,
                flagged: 0,
                buy: String::new(),
                sell: String::new(),
                started_at: now(),
                finished_at: None,
                tariff: String::new(),
            };
            files.insert(key.0.as_slice(), encode(&record).as_slice()).map_err(err)?;
            record
        };
        txn.commit().map_err(err)?;
        Ok(record)
    }

    fn finish(
        &self,
        key: &ContentKey,
        record: &FileRecord,
        ids: Vec<(String, CustomerDays)>,
    ) -> Result<(), StateError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut files = txn.open_table(FILES).map_err(err)?;
            let mut done = record.clone();
            done.phase = Phase::Done;
            done.finished_at = Some(now());
            files.insert(key.0.as_slice(), encode(&done).as_slice()).map_err(err)?;
            let mut table = txn.open_table(IDS).map_err(err)?;
            for (customer, days) in &ids {
                let json = serde_json::to_vec(days).map_err(err)?;
                table.insert(customer.as_str(), json.as_slice()).map_err(err)?;
            }
        }
        let mut cache = self.ids_cache.lock().unwrap_or_else(|e| e.into_inner());
        match txn.commit() {
            Ok(()) => {
                cache.extend(ids);
                Ok(())
            }
            Err(e) => {
                // What was committed is unknown: read it again next time.
                cache.clear();
                Err(err(e))
            }
        }
    }

    fn customer_days(&self, customer: &str) -> Result<CustomerDays, StateError> {
        let mut cache = self.ids_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(days) = cache.get(customer) {
            return Ok(days.clone());
        }
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(IDS).map_err(err)?;
        let value = table.get(customer).map_err(err)?;
        let days: CustomerDays = match value {
            Some(v) => serde_json::from_slice(v.value()).map_err(err)?,
            None => CustomerDays::default(),
        };
        cache.insert(customer.to_string(), days.clone());
        Ok(days)
    }

    fn all_customer_days(&self) -> Result<Vec<(String, CustomerDays)>, StateError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(IDS).map_err(err)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            out.push((k.value().to_string(), serde_json::from_slice(v.value()).map_err(err)?));
        }
        Ok(out)
    }

    fn forget(&self, key: &ContentKey) -> Result<(), StateError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut files = txn.open_table(FILES).map_err(err)?;
            let old = files.remove(key.0.as_slice()).map_err(err)?.map(|v| decode(v.value())).transpose()?;
            if let Some(old) = old {
                let mut stems = txn.open_table(STEMS).map_err(err)?;
                stems.remove(old.stem.as_str()).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    fn all(&self) -> Result<Vec<(ContentKey, FileRecord)>, StateError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(FILES).map_err(err)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            let mut key = [0u8; 16];
            if k.value().len() == 16 {
                key.copy_from_slice(k.value());
            }
            out.push((ContentKey(key), decode(v.value())?));
        }
        Ok(out)
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
