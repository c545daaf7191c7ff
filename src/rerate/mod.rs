//! `cdr-rater rerate` (SPEC §12.1): archived inputs rated again with the
//! tables and limits in force now, their outputs republished under the same
//! names (the superseded ones kept in `spool/superseded/`), and IDS spend
//! and billing totals moved by the difference, one file at a time, each
//! exactly once across kill -9.
//!
//! Why by difference: the store holds sums over all files (a customer day,
//! a customer month), not per-file rows. A file's old contribution is read
//! back from its current rated output (the reader `state rebuild` uses,
//! [`crate::state::read_rated`]); its new one is the rating's own tally;
//! the commit adds new − old, with the file's new ledger record, in one
//! transaction.
//!
//! Crash safety, per file (`file.rs`): rate into temp files; a durable
//! mark in the file's record (`rerating`, with the generation N); the
//! current outputs hard-linked to `superseded/KIND/STEM.rN.KIND.csv`;
//! the new outputs renamed over the current ones; one commit of the
//! difference that clears the mark. A redo after a crash (the request is
//! still in the control folder, [`control`]) finds the mark, reads the old
//! contribution from the superseded copies, and does the rest again: the
//! difference is committed once, never twice.
//!
//! Who runs it: whoever holds the store. With the daemon running, the
//! command files a request in `spool/.control/rerate/` and the daemon's
//! re-rating thread runs it; with it stopped, the command runs it itself.

pub mod control;
mod file;
mod ids;
mod select;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

pub use control::Control;

use crate::config::Config;
use crate::job::Locks;
use crate::pipeline::BufferPool;
use crate::state::{ContentKey, Ledger, StateError};
use crate::tariff::Tariff;

/// Why a re-rating failed.
#[derive(Debug, thiserror::Error)]
pub enum RerateError {
    /// The store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A file of the spool or the control folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The request cannot be done as asked (an unknown file, a bad date).
    #[error("{0}")]
    Invalid(String),
    /// Stopped on request (daemon shutdown); the request is finished later.
    #[error("re-rating interrupted: it is finished at the next start")]
    Cancelled,
}

/// A re-rating request, as filed in the control folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Unique, sorting by time: `YYYYMMDDTHHMMSSZ-PID-NANOS`.
    pub id: String,
    /// `--month YYYY-MM`.
    #[serde(default)]
    pub month: Option<String>,
    /// `--from YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// `--to YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub to: Option<String>,
    /// `--file`: archived inputs (absolute paths) or ledger names.
    #[serde(default)]
    pub files: Vec<String>,
    /// `--customer`: only files holding calls of these customers, before or
    /// after re-rating, are re-rated (every row of such a file is).
    #[serde(default)]
    pub customers: Vec<String>,
    /// `--dry-run`: rate into a temp folder and report; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Request {
    /// A new request id at `now`.
    pub fn new_id(now: jiff::Timestamp) -> String {
        let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{stamp}-{}-{nanos}", std::process::id())
    }

    /// The time stamp of the id (`YYYYMMDDTHHMMSSZ`).
    pub fn stamp(&self) -> &str {
        self.id.split('-').next().unwrap_or(&self.id)
    }
}

/// Per customer and currency: calls and sell before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLine {
    /// Customer id.
    pub customer: String,
    /// Currency code.
    pub currency: String,
    /// Rated calls before.
    pub old_calls: i64,
    /// Rated calls after.
    pub new_calls: i64,
    /// Sum of sell before (decimal text).
    pub old_sell: String,
    /// Sum of sell after.
    pub new_sell: String,
}

/// One file of a request and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLine {
    /// Input name.
    pub name: String,
    /// Output stem.
    pub stem: String,
    /// `rerated`, `unchanged_customers` (no call of `--customer`), `dry_run`, or `failed: WHY`.
    pub outcome: String,
}

/// What a request did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The request.
    pub id: String,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Each file considered.
    pub files: Vec<FileLine>,
    /// Per customer and currency, summed over the re-rated files.
    pub customers: Vec<CustomerLine>,
    /// The CSV written (`billing/rerate-STAMP.csv`), if any.
    pub csv: Option<PathBuf>,
    /// Why the request could not be done at all (an unknown file, a bad date).
    #[serde(default)]
    pub error: Option<String>,
}

impl Report {
    /// Whether some file failed.
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| f.outcome.starts_with("failed")).count()
    }
}

/// Where re-rating reports go: the `[billing] output` folder.
pub fn billing_dir(config: &Config) -> PathBuf {
    config.billing_settings().output.clone()
}

/// Everything a re-rating runs with: the store and what the daemon's
/// workers share with it.
pub struct Engine<'a> {
    /// The configuration (spool, sources, limits, IDS).
    pub config: &'a Config,
    /// The store.
    pub ledger: &'a dyn Ledger,
    /// The daemon workers' ledger sections (IDS read-modify-commit).
    pub locks: &'a Locks,
    /// The tables in force.
    pub tariffs: &'a ArcSwap<Tariff>,
    /// Output buffers.
    pub pool: &'a BufferPool,
    /// Set on shutdown.
    pub cancel: &'a AtomicBool,
    /// IDS alert sinks, when IDS is on (the daemon's, shared with its workers).
    pub ids: Option<crate::job::IdsSettings>,
}

/// A file to re-rate: its record and its archived input.
#[derive(Debug, Clone)]
pub struct Target {
    /// Content key.
    pub key: ContentKey,
    /// Its ledger record.
    pub record: crate::state::FileRecord,
    /// The archived input (`None`: not in `archive/` any more; reported as failed).
    pub archived: Option<PathBuf>,
}

/// A content key as hex (plans and journals).
pub fn key_hex(key: &ContentKey) -> String {
    key.to_string()
}

fn parse_key(hex: &str) -> Option<ContentKey> {
    let mut k = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(ContentKey(k))
}

impl Engine<'_> {
    /// The control folder.
    pub fn control(&self) -> Control {
        Control::of_spool(&self.config.spool)
    }

    /// Finishes every request still in the control folder, oldest first,
    /// then any file whose re-rating mark no request owns any more.
    /// Returns the finished requests' reports.
    pub fn run_pending(&self) -> Result<Vec<Report>, RerateError> {
        let _one_at_a_time = self.control().exclusive()?;
        let mut done = Vec::new();
        for request in self.control().pending()? {
            done.push(self.run(&request)?);
        }
        for (key, record) in self.ledger.all()? {
            if let Some(mark) = &record.rerating {
                let request = mark.request.clone();
                let archived = select::archived_input(self.config, &key, &record)?;
                if archived.is_some() {
                    let target = Target { key, record, archived };
                    file::FileJob::new(self, &request, &[], false).rerate(&target)?;
                }
            }
        }
        Ok(done)
    }

    /// Runs one request to its end (or to a cancel) and files its report.
    pub fn run(&self, request: &Request) -> Result<Report, RerateError> {
        let control = self.control();
        if let Some(report) = control.report(&request.id)? {
            control.finish(&report)?;
            return Ok(report);
        }
        if request.dry_run {
            return self.dry_run(request);
        }
        // The files, fixed once; their archived inputs as just found, or
        // looked up again on a redo.
        let (keys, mut found): (Vec<String>, BTreeMap<String, Option<PathBuf>>) = match control.plan(&request.id)? {
            Some(keys) => (keys, BTreeMap::new()),
            None => {
                let targets = match select::targets(self, request) {
                    Ok(t) => t,
                    Err(RerateError::Invalid(why)) => return self.refuse(request, why),
                    Err(e) => return Err(e),
                };
                let keys: Vec<String> = targets.iter().map(|t| key_hex(&t.key)).collect();
                control.save_plan(&request.id, &keys)?;
                (keys, targets.into_iter().map(|t| (key_hex(&t.key), t.archived)).collect())
            }
        };
        let mut report = Report { id: request.id.clone(), ..Report::default() };
        let job = file::FileJob::new(self, &request.id, &request.customers, false);
        for hex in &keys {
            let Some(key) = parse_key(hex) else { continue };
            let Some(record) = self.ledger.get(&key)? else { continue };
            let done_here = record.rerate_request.as_deref() == Some(&request.id) && record.rerating.is_none();
            let outcome = if done_here {
                "rerated".to_string()
            } else {
                let archived = match found.remove(hex) {
                    Some(a) => a,
                    None => select::archived_input(self.config, &key, &record)?,
                };
                let target = Target { key, record: record.clone(), archived };
                match job.rerate(&target) {
                    Ok(outcome) => outcome,
                    Err(RerateError::Invalid(why)) => format!("failed: {why}"),
                    Err(e) => return Err(e),
                }
            };
            report.files.push(FileLine { name: record.name.clone(), stem: record.stem.clone(), outcome });
        }
        // The lines of the files this request committed, from the journal.
        let mut last: BTreeMap<(String, u32), Vec<CustomerLine>> = BTreeMap::new();
        for e in control.journal_entries(&request.id)? {
            last.insert((e.key, e.generation), e.lines);
        }
        let mut lines = Vec::new();
        for hex in &keys {
            let Some(record) = parse_key(hex).map(|k| self.ledger.get(&k)).transpose()?.flatten() else { continue };
            if record.rerate_request.as_deref() == Some(&request.id) {
                lines.extend(last.remove(&(hex.clone(), record.rerates)).unwrap_or_default());
            }
        }
        report.customers = sum_lines(lines, self.config.price_decimals);
        report.csv = Some(write_csv(&billing_dir(self.config), request, &report)?);
        control.finish(&report)?;
        Ok(report)
    }

    /// Finishes a request that cannot be done, with the reason as its report.
    fn refuse(&self, request: &Request, why: String) -> Result<Report, RerateError> {
        let report = Report { id: request.id.clone(), dry_run: request.dry_run, error: Some(why), ..Report::default() };
        self.control().finish(&report)?;
        Ok(report)
    }

    /// A dry run: every file rated into a temp folder, nothing changed.
    fn dry_run(&self, request: &Request) -> Result<Report, RerateError> {
        let mut report = Report { id: request.id.clone(), dry_run: true, ..Report::default() };
        let job = file::FileJob::new(self, &request.id, &request.customers, true);
        let mut lines = Vec::new();
        let targets = match select::targets(self, request) {
            Ok(t) => t,
            Err(RerateError::Invalid(why)) => return self.refuse(request, why),
            Err(e) => return Err(e),
        };
        for target in targets {
            let outcome = match job.dry(&target) {
                Ok((outcome, l)) => {
                    lines.extend(l);
                    outcome
                }
                Err(RerateError::Invalid(why)) => format!("failed: {why}"),
                Err(e) => return Err(e),
            };
            report.files.push(FileLine { name: target.record.name, stem: target.record.stem, outcome });
        }
        report.customers = sum_lines(lines, self.config.price_decimals);
        self.control().finish(&report)?;
        Ok(report)
    }
}

/// Adds up lines of the same customer and currency, sorted.
fn sum_lines(lines: Vec<CustomerLine>, decimals: u32) -> Vec<CustomerLine> {
    use rust_decimal::Decimal;
    let mut sums: BTreeMap<(String, String), (i64, i64, Decimal, Decimal)> = BTreeMap::new();
    for l in lines {
        let s = sums.entry((l.customer, l.currency)).or_default();
        s.0 += l.old_calls;
        s.1 += l.new_calls;
        s.2 += l.old_sell.parse::<Decimal>().unwrap_or_default();
        s.3 += l.new_sell.parse::<Decimal>().unwrap_or_default();
    }
    sums.into_iter()
        .map(|((customer, currency), (old_calls, new_calls, old, new))| CustomerLine {
            customer,
            currency,
            old_calls,
            new_calls,
            old_sell: decimal_text(old, decimals),
            new_sell: decimal_text(new, decimals),
        })
        .collect()
}

/// A decimal with exactly `decimals` places.
pub fn decimal_text(d: rust_decimal::Decimal, decimals: u32) -> String {
    let mut d = d;
    d.rescale(decimals);
    d.to_string()
}

/// The difference of a line (new − old sell), as text.
pub fn difference(line: &CustomerLine, decimals: u32) -> String {
    use rust_decimal::Decimal;
    let new = line.new_sell.parse::<Decimal>().unwrap_or_default();
    let old = line.old_sell.parse::<Decimal>().unwrap_or_default();
    decimal_text(new - old, decimals)
}

/// Writes `DIR/rerate-STAMP.csv` (never replacing: a second request in the
/// same second gets its full id).
fn write_csv(dir: &Path, request: &Request, report: &Report) -> Result<PathBuf, RerateError> {
    let decimals = report.customers.first().map_or(4, |l| l.old_sell.split('.').nth(1).map_or(0, |f| f.len() as u32));
    let mut text = String::from("customer_id,currency,old_calls,new_calls,old_sell,new_sell,difference\n");
    for l in &report.customers {
        let mut id = Vec::new();
        crate::tariff::csv_field(&mut id, l.customer.as_bytes());
        text.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            String::from_utf8_lossy(&id),
            l.currency,
            l.old_calls,
            l.new_calls,
            l.old_sell,
            l.new_sell,
            difference(l, decimals)
        ));
    }
    let io = |path: &Path, source| RerateError::Io { path: path.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut path = dir.join(format!("rerate-{}.csv", request.stamp()));
    if path.exists() {
        path = dir.join(format!("rerate-{}.csv", request.id));
    }
    let mut f = crate::output::AtomicFile::create_in(dir, path.clone(), true).map_err(|e| io(&path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(&path, e))?;
    f.publish().map_err(|e| io(&path, e))?;
    Ok(path)
}
