//! The re-rating control folder, `spool/.control/rerate/`: how a request
//! reaches whoever holds the store (the daemon, or the `rerate` command
//! itself when no daemon runs) and survives a crash of either.
//!
//! ```text
//! ID.request.json   the request, written atomically by `rerate`; removed last
//! ID.plan.json      the files it re-rates (content keys), fixed once resolved
//! ID.journal        one fsynced JSON line per file, written before the file's commit
//! ID.report.json    the report, written atomically when every file is done
//! ```
//!
//! A request whose `ID.request.json` is still there is not finished: the
//! next holder of the store (daemon start, the next `rerate`) finishes it.
//! Files already re-rated by it are recognised by their ledger record
//! (`rerate_request` = ID), so none is re-rated twice by one request.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CustomerLine, Report, Request, RerateError};
use crate::output::{sync_dir, AtomicFile};

/// The control folder of a spool.
#[derive(Debug, Clone)]
pub struct Control {
    /// `spool/.control/rerate`.
    pub dir: PathBuf,
}

/// One file's report lines, journaled before its commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The file's content key (hex).
    pub key: String,
    /// The re-rating generation the lines belong to.
    pub generation: u32,
    /// Per customer and currency: calls and sell before and after.
    pub lines: Vec<CustomerLine>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RerateError + '_ {
    move |source| RerateError::Io { path: path.to_path_buf(), source }
}

impl Control {
    /// The control folder under the spool root (not created).
    pub fn of_spool(spool: &Path) -> Control {
        Control { dir: spool.join(".control").join("rerate") }
    }

    /// Holds the folder's lock until the returned file is dropped: one
    /// process at a time runs requests (a `rerate` command and a daemon on
    /// the same spool over the shared store, which neither holds alone).
    pub fn exclusive(&self) -> Result<std::fs::File, RerateError> {
        let path = self.dir.join(".lock");
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        crate::alerts::lock_exclusive(&file).map_err(io(&path))?;
        Ok(file)
    }

    /// Where file `suffix` of request `id` lives.
    pub fn path(&self, id: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{id}.{suffix}"))
    }

    fn write_json<T: Serialize>(&self, path: PathBuf, value: &T) -> Result<(), RerateError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let json = serde_json::to_vec_pretty(value)
            .map_err(|e| RerateError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
        let mut f = AtomicFile::create_in(&self.dir, path.clone(), true).map_err(io(&path))?;
        f.write_all(&json).map_err(io(&path))?;
        f.publish().map_err(io(&path))?;
        sync_dir(&self.dir).map_err(io(&self.dir))
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<Option<T>, RerateError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| RerateError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RerateError::Io { path: path.to_path_buf(), source: e }),
        }
    }

    /// Files a request durably.
    pub fn submit(&self, request: &Request) -> Result<(), RerateError> {
        self.write_json(self.path(&request.id, "request.json"), request)
    }

    /// Requests not finished, oldest first (ids sort by time).
    pub fn pending(&self) -> Result<Vec<Request>, RerateError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RerateError::Io { path: self.dir.clone(), source: e }),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".request.json").map(str::to_string))
            .filter(|id| !id.starts_with('.'))
            .collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = self.read_json::<Request>(&self.path(&id, "request.json"))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The plan of a request, if it was fixed.
    pub fn plan(&self, id: &str) -> Result<Option<Vec<String>>, RerateError> {
        self.read_json(&self.path(id, "plan.json"))
    }

    /// Fixes the plan of a request.
    pub fn save_plan(&self, id: &str, keys: &[String]) -> Result<(), RerateError> {
        self.write_json(self.path(id, "plan.json"), &keys)
    }

    /// Appends a file's lines to the journal and fsyncs it.
    pub fn journal(&self, id: &str, entry: &JournalEntry) -> Result<(), RerateError> {
        let path = self.path(id, "journal");
        let mut line = serde_json::to_vec(entry)
            .map_err(|e| RerateError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        f.write_all(&line).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        Ok(())
    }

    /// The journal's entries (a torn last line is left out).
    pub fn journal_entries(&self, id: &str) -> Result<Vec<JournalEntry>, RerateError> {
        let path = self.path(id, "journal");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RerateError::Io { path, source: e }),
        };
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// The report of a finished request.
    pub fn report(&self, id: &str) -> Result<Option<Report>, RerateError> {
        self.read_json(&self.path(id, "report.json"))
    }

    /// Marks a request finished: its report first, then the request and
    /// its working files go.
    pub fn finish(&self, report: &Report) -> Result<(), RerateError> {
        self.write_json(self.path(&report.id, "report.json"), report)?;
        for suffix in ["request.json", "plan.json", "journal"] {
            let p = self.path(&report.id, suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RerateError::Io { path: p, source: e }),
            }
        }
        sync_dir(&self.dir).map_err(io(&self.dir))
    }

    /// Removes a report once read.
    pub fn take_report(&self, id: &str) -> Result<Option<Report>, RerateError> {
        let report = self.report(id)?;
        if report.is_some() {
            let _ = std::fs::remove_file(self.path(id, "report.json"));
        }
        Ok(report)
    }
}
