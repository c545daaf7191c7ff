//! `bill` while a daemon holds the embedded store (redb admits one process):
//! the command files a request in `spool/.control/bill/`, the daemon runs it
//! with its own store (on its re-rating thread, beside the workers) and
//! files the answer, which the command prints.
//!
//! A request survives a crash of the daemon: the next start runs it. A
//! close is marked `started` before it runs, so a close that committed but
//! crashed before answering is answered, at the redo, by writing the closed
//! month's files again (from the store) instead of "closed before".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BillReport, InvoicingError, Mode, MonthBill};
use crate::billing::render::money;
use crate::billing::Month;
use crate::output::{sync_dir, AtomicFile};

/// One `bill` asked of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BillRequest {
    /// Unique id (time, process, counter): requests run in id order.
    pub id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// `--customer` (a draft only).
    pub customers: Vec<String>,
    /// `--close`.
    pub close: bool,
    /// A close that began running: at a redo, "closed before" is its own.
    #[serde(default)]
    pub started: bool,
}

/// What the daemon answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BillAnswer {
    /// The request's id.
    pub id: String,
    /// The summary lines `bill` prints.
    pub lines: Vec<String>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The failure is the operator's (a closed month, tables that cannot
    /// price it: exit 2) rather than the machine's (exit 1).
    pub invalid: bool,
}

/// `spool/.control/bill/`.
#[derive(Debug, Clone)]
pub struct BillControl {
    /// The folder.
    pub dir: PathBuf,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InvoicingError {
    super::io(what, path)
}

impl BillControl {
    /// The control folder of a spool (not created).
    pub fn of_spool(spool: &Path) -> BillControl {
        BillControl { dir: spool.join(".control").join("bill") }
    }

    fn path(&self, id: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{id}.{suffix}"))
    }

    fn write<T: Serialize>(&self, path: PathBuf, value: &T) -> Result<(), InvoicingError> {
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let json =
            serde_json::to_vec_pretty(value).map_err(|e| super::io("encode", &path)(std::io::Error::other(e)))?;
        let mut f = AtomicFile::create_in(&self.dir, path.clone(), true).map_err(io("write", &path))?;
        f.write_all(&json).map_err(io("write", &path))?;
        f.publish().map_err(io("publish", &path))?;
        sync_dir(&self.dir).map_err(io("sync", &self.dir))
    }

    /// Files a request (or rewrites it, marked started).
    pub fn submit(&self, request: &BillRequest) -> Result<(), InvoicingError> {
        self.write(self.path(&request.id, "request.json"), request)
    }

    /// Requests not answered, oldest first; unreadable ones are skipped.
    pub fn pending(&self) -> Vec<BillRequest> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out: Vec<BillRequest> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".request.json") && !n.starts_with('.')))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Files the answer and retires the request.
    pub fn answer(&self, answer: &BillAnswer) -> Result<(), InvoicingError> {
        self.write(self.path(&answer.id, "answer.json"), answer)?;
        let request = self.path(&answer.id, "request.json");
        match std::fs::remove_file(&request) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &request)(e)),
            _ => Ok(()),
        }
    }

    /// The answer to `id`, once there (removed as it is taken).
    pub fn take_answer(&self, id: &str) -> Option<BillAnswer> {
        let path = self.path(id, "answer.json");
        let answer = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let _ = std::fs::remove_file(&path);
        Some(answer)
    }

    /// Takes a request back (the daemon stopped before answering it), as
    /// it was last written; `None` when it is no longer waiting.
    pub fn withdraw(&self, id: &str) -> Option<BillRequest> {
        let path = self.path(id, "request.json");
        let request = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        std::fs::remove_file(&path).ok()?;
        Some(request)
    }
}

impl MonthBill<'_> {
    /// Runs one request and answers it.
    pub fn serve(&self, control: &BillControl, request: &BillRequest) -> Result<(), InvoicingError> {
        let answer = |lines, error: Option<&InvoicingError>| BillAnswer {
            id: request.id.clone(),
            lines,
            error: error.map(|e| e.to_string()),
            invalid: error.is_some_and(InvoicingError::is_operators),
        };
        let Some(month) = Month::parse(&request.month) else {
            let e = InvoicingError::Request(format!("--month {:?} is not YYYY-MM", request.month));
            return control.answer(&answer(Vec::new(), Some(&e)));
        };
        if request.close && !request.started {
            control.submit(&BillRequest { started: true, ..request.clone() })?;
        }
        let only = (!request.customers.is_empty()).then_some(request.customers.as_slice());
        let mode = if request.close { Mode::Close } else { Mode::Draft };
        let result = match self.bill(month, only, mode) {
            // Its own close, committed before a crash: write the files again.
            Err(InvoicingError::AlreadyClosed { .. }) if request.started => self.bill(month, None, Mode::Draft),
            other => other,
        };
        match result {
            Ok(report) => control.answer(&answer(summary(month, &report), None)),
            Err(e @ InvoicingError::State(_)) => Err(e),
            Err(e) => control.answer(&answer(Vec::new(), Some(&e))),
        }
    }
}

/// The month in a few lines, as `bill` prints them.
pub fn summary(month: Month, r: &BillReport) -> Vec<String> {
    let state = if r.closed { "closed" } else { "draft" };
    let mut lines = vec![format!(
        "{month} ({state}): {} invoices, {} itemised calls, in {}",
        r.invoices.len(),
        r.itemised_calls,
        r.folder.display()
    )];
    let mut per_currency: std::collections::BTreeMap<&str, [rust_decimal::Decimal; 4]> = Default::default();
    for i in &r.invoices {
        let t = per_currency.entry(&i.currency).or_default();
        t[0] += i.calls_net;
        t[1] += i.services_net;
        t[2] += i.vat;
        t[3] += i.total;
    }
    for (currency, [calls, services, vat, total]) in per_currency {
        lines.push(format!(
            "  {currency}: calls {}  services {}  vat {}  total {}",
            money(calls),
            money(services),
            money(vat),
            money(total)
        ));
    }
    if let (Some(first), Some(last)) = (r.invoices.first(), r.invoices.last()) {
        lines.push(format!("  invoices {} .. {}", first.number, last.number));
    }
    for c in &r.commissions {
        lines.push(format!("  reseller {} ({}): commission {} {}", c.reseller_id, c.name, money(c.total), c.currency));
    }
    lines
}
