//! A month's bill made and written (SPEC §12.3): the usage the store kept,
//! composed with the service tables in force ([`crate::billing`]), written
//! to `billing/YYYY-MM.draft/` or, closed, to `billing/YYYY-MM/`.
//!
//! Closing is one store transaction ([`Ledger::close_month`]): the month's
//! usage as it is then, the invoice numbers that continue the sequence, and
//! the composed bill frozen in the store. The files are written after the
//! commit, from the frozen bill; a crash in between loses nothing, since
//! `bill` on a closed month writes its files again from the store. So a
//! closed month never changes, whatever the tables or the rated outputs do
//! later.

mod requests;

pub use requests::{summary, BillAnswer, BillControl, BillRequest};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::billing::render::{self, Logo};
use crate::billing::{self, BillingError, BillingSettings, Commission, Invoice, Month, MonthInput};
use crate::csvscan::{unescape, Fields, Scanner};
use crate::output::sync_dir;
use crate::rows::rated;
use crate::state::{Close, ContentKey, Ledger, StateError};
use crate::tariff::Tariff;
use crate::timefmt::{self, DayMapper, ZoneCache};

/// Why a month could not be billed.
#[derive(Debug, thiserror::Error)]
pub enum InvoicingError {
    /// The store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// `--close` on a month closed before.
    #[error("{month} was closed before (invoices {first}..): a closed month never changes; late calls and re-rating differences of it are billed in the next open month")]
    AlreadyClosed {
        /// The month.
        month: Month,
        /// Its first invoice number.
        first: String,
    },
    /// The tables in force cannot price the month.
    #[error("{month} cannot be billed:\n{}", .errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Tables {
        /// The month.
        month: Month,
        /// Every problem.
        errors: Vec<BillingError>,
    },
    /// A closed month's frozen bill does not decode.
    #[error("the frozen bill of {month} in the store does not decode: {source}")]
    Frozen {
        /// The month.
        month: Month,
        /// Why.
        source: serde_json::Error,
    },
    /// A request handed to the daemon is not one it can run.
    #[error("{0}")]
    Request(String),
    /// A file could not be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl InvoicingError {
    /// The operator's to fix (exit 2): a closed month, tables that cannot
    /// price it, a bad request.
    pub fn is_operators(&self) -> bool {
        matches!(
            self,
            InvoicingError::AlreadyClosed { .. } | InvoicingError::Tables { .. } | InvoicingError::Request(_)
        )
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InvoicingError {
    let path = path.to_path_buf();
    move |source| InvoicingError::Io { what, path, source }
}

/// What a closed month froze: its invoices and commissions as composed.
#[derive(Debug, Serialize, Deserialize)]
struct Frozen {
    invoices: Vec<Invoice>,
    commissions: Vec<Commission>,
}

/// Draft, or close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rebuilt from the data as it is, numbered `DRAFT-…`, nothing frozen.
    Draft,
    /// Numbered, frozen in the store, never changed again.
    Close,
}

/// What `bill` did.
#[derive(Debug)]
pub struct BillReport {
    /// The folder written.
    pub folder: PathBuf,
    /// Whether the month is closed (now or before).
    pub closed: bool,
    /// The invoices written.
    pub invoices: Vec<Invoice>,
    /// The reseller commissions.
    pub commissions: Vec<Commission>,
    /// Itemised call rows written, over all customers.
    pub itemised_calls: u64,
}

/// Everything a month's bill reads.
pub struct MonthBill<'a> {
    /// The store: usage, closed months, invoice numbers.
    pub store: &'a dyn Ledger,
    /// The tables (customers, service tables, zones).
    pub tariff: &'a Tariff,
    /// `[billing]`.
    pub settings: &'a BillingSettings,
    /// The configured zone: the service tables' version instant, and the
    /// day of customers without their own zone.
    pub zone: &'a jiff::tz::TimeZone,
    /// Folders of rated outputs to itemise calls from (searched recursively).
    pub rated: Vec<PathBuf>,
}

impl MonthBill<'_> {
    /// Bills `month` (only `only`'s customers when given; not with
    /// [`Mode::Close`], which bills everyone).
    pub fn bill(&self, month: Month, only: Option<&[String]>, mode: Mode) -> Result<BillReport, InvoicingError> {
        let prefix = self.settings.invoice_prefix.clone();
        if let Some(closed) = self.store.closed_month(month)? {
            if mode == Mode::Close {
                let first = format!("{prefix}{}", closed.first_invoice);
                return Err(InvoicingError::AlreadyClosed { month, first });
            }
            let frozen: Frozen =
                serde_json::from_slice(&closed.bill).map_err(|source| InvoicingError::Frozen { month, source })?;
            return self.write(month, true, frozen, only);
        }
        match mode {
            Mode::Draft => {
                let usage = self.store.usage(month)?;
                let mut seq = 0u32;
                let mut number = |_: billing::InvoiceKey<'_>| {
                    seq += 1;
                    format!("DRAFT-{month}-{seq:04}")
                };
                let frozen = self.compose(month, &usage, only, &mut number)?;
                self.write(month, false, frozen, only)
            }
            Mode::Close => {
                let mut failure = None;
                let mut maker = |usage: &[(billing::UsageKey, billing::Sums)], next: u64| {
                    let mut n = next;
                    let mut number = |_: billing::InvoiceKey<'_>| {
                        let s = format!("{prefix}{n}");
                        n += 1;
                        s
                    };
                    match self.compose(month, usage, None, &mut number) {
                        Ok(frozen) => Ok((n - next, serde_json::to_vec(&frozen)?)),
                        Err(e) => {
                            failure = Some(e);
                            Err(StateError::Io {
                                path: PathBuf::from(month.to_string()),
                                source: std::io::Error::other("the month cannot be billed"),
                            })
                        }
                    }
                };
                let closed = match self.store.close_month(month, &mut maker) {
                    Ok(Close::Closed(c)) => c,
                    Ok(Close::AlreadyClosed(c)) => {
                        return Err(InvoicingError::AlreadyClosed {
                            month,
                            first: format!("{prefix}{}", c.first_invoice),
                        })
                    }
                    Err(e) => return Err(failure.unwrap_or(InvoicingError::State(e))),
                };
                let frozen: Frozen =
                    serde_json::from_slice(&closed.bill).map_err(|source| InvoicingError::Frozen { month, source })?;
                let report = self.write(month, true, frozen, None)?;
                // The draft is superseded by the closed month.
                let draft = self.settings.output.join(format!("{month}.draft"));
                if draft.exists() {
                    std::fs::remove_dir_all(&draft).map_err(io("remove the draft", &draft))?;
                }
                Ok(report)
            }
        }
    }

    /// The month's invoices and commissions from `usage`.
    fn compose(
        &self,
        month: Month,
        usage: &[(billing::UsageKey, billing::Sums)],
        only: Option<&[String]>,
        number: &mut dyn FnMut(billing::InvoiceKey<'_>) -> String,
    ) -> Result<Frozen, InvoicingError> {
        let services = self.tariff.services.at(billing::services_instant(month, self.zone));
        let input = MonthInput {
            month,
            services: &services,
            customers: &self.tariff.customers,
            usage,
            settings: self.settings,
            only,
        };
        let invoices = billing::compose(&input, number).map_err(|errors| InvoicingError::Tables { month, errors })?;
        let commissions = billing::commissions(&invoices, &self.tariff.customers, &services);
        Ok(Frozen { invoices, commissions })
    }

    /// Writes the month's folder: the CSVs, one HTML invoice and one
    /// itemised calls file per invoiced customer. Files of a draft that no
    /// longer has them are removed.
    fn write(
        &self,
        month: Month,
        closed: bool,
        frozen: Frozen,
        only: Option<&[String]>,
    ) -> Result<BillReport, InvoicingError> {
        let folder = self.settings.output.join(if closed { month.to_string() } else { format!("{month}.draft") });
        std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
        let logo = match &self.settings.logo {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(io("read the logo", path))?;
                Logo::new(&path.to_string_lossy(), bytes)
            }
            None => None,
        };
        let wanted = |id: &str| only.is_none_or(|o| o.iter().any(|x| x == id));
        let files = render::month_files(&frozen.invoices, &frozen.commissions, self.settings, logo.as_ref());
        // A closed month's files are made durable (ten thousand small files:
        // their fsyncs overlap on I/O threads). A draft's are not: it is a
        // view of the store, written again whole by the next `bill`.
        if closed {
            on_io_threads(&files, |(name, bytes)| write_file(&folder, name, bytes, true))?;
        } else {
            for (name, bytes) in &files {
                write_file(&folder, name, bytes, false)?;
            }
        }
        let mut written: BTreeSet<String> = files.into_iter().map(|(name, _)| name).collect();
        let customers: BTreeSet<&str> =
            frozen.invoices.iter().map(|i| i.customer_id.as_str()).filter(|id| wanted(id)).collect();
        let (itemised, names) = self.itemise(month, &customers, &folder, closed)?;
        written.extend(names);
        sync_dir(&folder).map_err(io("sync", &folder))?;
        if !closed && only.is_none() {
            for entry in std::fs::read_dir(&folder).map_err(io("list", &folder))?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !written.contains(&name) && (name.ends_with(".html") || name.ends_with(".calls.csv")) {
                    std::fs::remove_file(entry.path()).map_err(io("remove", &entry.path()))?;
                }
            }
        }
        Ok(BillReport {
            folder,
            closed,
            invoices: frozen.invoices,
            commissions: frozen.commissions,
            itemised_calls: itemised,
        })
    }

    /// Writes `CUSTOMER.calls.csv` for `customers`: the rated rows billed in
    /// `month`, in file name order then row order: calls that started in
    /// it (customer's zone), and calls of an earlier closed month whose file
    /// was committed after that month closed (its `late_calls`), routed as
    /// the store routed their usage. A customer without such rows gets no
    /// file. Returns the rows written and the files written.
    fn itemise(
        &self,
        month: Month,
        customers: &BTreeSet<&str>,
        folder: &Path,
        durable: bool,
    ) -> Result<(u64, Vec<String>), InvoicingError> {
        let tariff = self.tariff;
        let mut files = Vec::new();
        for dir in &self.rated {
            rated_files(dir, &mut files).map_err(io("list", dir))?;
        }
        files.sort();
        // Stems of files rated late, with where their calls went.
        let late: HashMap<ContentKey, Vec<(Month, Month)>> = self.store.late_files()?.into_iter().collect();
        let routes: HashMap<String, &Vec<(Month, Month)>> = if late.is_empty() {
            HashMap::new()
        } else {
            self.store.all()?.into_iter().filter_map(|(k, r)| Some((r.stem, late.get(&k)?))).collect()
        };
        let billed_in = |start: Month, routes: Option<&&Vec<(Month, Month)>>| {
            routes.and_then(|r| r.iter().find(|(o, _)| *o == start)).map_or(start, |(_, b)| *b)
        };
        let index: HashMap<&[u8], u32> = customers
            .iter()
            .filter_map(|id| tariff.customer_by_id(id.as_bytes()).map(|c| (id.as_bytes(), c)))
            .collect();
        // Per customer: its calls file, written in pieces as rows come.
        let mut out: BTreeMap<u32, Itemised> = BTreeMap::new();
        for (c, id) in index.values().zip(index.keys()) {
            let name = format!("{}.calls.csv", render::file_stem(&String::from_utf8_lossy(id)));
            out.insert(*c, Itemised::new(folder, &name));
        }
        let mut mappers: HashMap<u32, DayMapper> = HashMap::new();
        let mut zone = ZoneCache::new(self.zone.clone());
        let mut fields = Fields::default();
        for path in &files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let file_routes = routes.get(name.trim_end_matches(".rated.csv"));
            let bytes = std::fs::read(path).map_err(io("read", path))?;
            let mut scanner = Scanner::new(&bytes, 1, usize::MAX, b',');
            let _header = scanner.next_record(&mut fields);
            while let Some(rec) = scanner.next_record(&mut fields) {
                let Some(&c) = index.get(unescape(fields.raw(rec.raw, rated::CUSTOMER_ID)).as_ref()) else { continue };
                let Some(start) = timefmt::parse_start(fields.get(rec.raw, rated::START_TIME), &mut zone) else {
                    continue;
                };
                let customer = &tariff.customers[c as usize];
                let mapper = mappers.entry(c).or_insert_with(|| {
                    DayMapper::new(
                        customer.zone.map_or_else(|| self.zone.clone(), |z| tariff.zones[usize::from(z)].clone()),
                    )
                });
                if billed_in(Month::of_day(mapper.day_of(start.epoch_seconds())), file_routes) != month {
                    continue;
                }
                if let Some(file) = out.get_mut(&c) {
                    file.row(rec.raw)?;
                }
            }
        }
        // A customer without itemised calls (services only) gets no file.
        let mut files: Vec<std::sync::Mutex<Itemised>> =
            out.into_values().filter(|f| f.rows > 0).map(std::sync::Mutex::new).collect();
        if durable {
            on_io_threads(&files, |f| f.lock().unwrap_or_else(|e| e.into_inner()).publish(true))?;
        } else {
            for f in &mut files {
                f.get_mut().unwrap_or_else(|e| e.into_inner()).publish(false)?;
            }
        }
        let files: Vec<Itemised> =
            files.into_iter().map(|f| f.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
        Ok((files.iter().map(|f| f.rows).sum(), files.into_iter().map(|f| f.name).collect()))
    }
}

/// One customer's itemised calls being written: rows gathered in memory;
/// a customer with many calls spills them in pieces to a hidden temp file
/// (opened only for a piece, so ten thousand customers do not hold ten
/// thousand descriptors), renamed into place when complete; a small one is
/// written whole at the end (left alone when the file has those bytes).
struct Itemised {
    folder: PathBuf,
    name: String,
    /// The temp file, once a piece was spilled.
    tmp: Option<PathBuf>,
    buf: Vec<u8>,
    rows: u64,
}

/// Bytes gathered per customer before they are appended to its file.
const PIECE: usize = 64 << 10;

impl Itemised {
    fn new(folder: &Path, name: &str) -> Itemised {
        Itemised {
            folder: folder.to_path_buf(),
            name: name.to_string(),
            tmp: None,
            buf: render::calls_csv(std::iter::empty()),
            rows: 0,
        }
    }

    fn row(&mut self, raw: &[u8]) -> Result<(), InvoicingError> {
        self.rows += 1;
        self.buf.extend_from_slice(raw);
        self.buf.push(b'\n');
        if self.buf.len() >= PIECE {
            self.spill()?;
        }
        Ok(())
    }

    /// Appends the rows gathered to the temp file (created on first use).
    fn spill(&mut self) -> Result<(), InvoicingError> {
        let tmp = self
            .tmp
            .get_or_insert_with(|| self.folder.join(format!(".{}.{}.tmp", self.name, std::process::id())))
            .clone();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&tmp).map_err(io("write", &tmp))?;
        file.write_all(&self.buf).map_err(io("write", &tmp))?;
        self.buf.clear();
        Ok(())
    }

    /// Puts the whole file in place, made durable first when `durable`.
    fn publish(&mut self, durable: bool) -> Result<(), InvoicingError> {
        let Some(tmp) = self.tmp.clone() else {
            return write_file(&self.folder, &self.name, &self.buf, durable);
        };
        self.spill()?;
        if durable {
            std::fs::File::open(&tmp).and_then(|f| f.sync_data()).map_err(io("write", &tmp))?;
        }
        let path = self.folder.join(&self.name);
        std::fs::rename(&tmp, &path).map_err(io("publish", &path))
    }
}

/// Every `*.rated.csv` under `dir`, recursively (sources have sub-folders).
fn rated_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            rated_files(&path, out)?;
        } else if kind.is_file() && path.to_string_lossy().ends_with(".rated.csv") {
            out.push(path);
        }
    }
    Ok(())
}

/// Threads that wait on the disk at once: thousands of small files' fsyncs
/// overlap (the file system commits them together) instead of queueing
/// one after the other.
const IO_THREADS: usize = 32;

/// Runs `f` on every item from [`IO_THREADS`] threads; the first error wins.
fn on_io_threads<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), InvoicingError> + Sync,
) -> Result<(), InvoicingError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..IO_THREADS.min(items.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(e) = f(item) {
                    failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    break;
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Writes one file of the month folder atomically (temp file, rename), and
/// durably when `durable` (fsync before the rename; the folder is fsynced
/// once at the end).
fn write_file(folder: &Path, name: &str, bytes: &[u8], durable: bool) -> Result<(), InvoicingError> {
    let path = folder.join(name);
    // A bill made again is mostly the same bytes: a file that has them is
    // left alone (replacing it would make the file system write it back).
    if std::fs::read(&path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(io("write", &tmp))?;
    file.write_all(bytes).map_err(io("write", &tmp))?;
    if durable {
        file.sync_data().map_err(io("write", &tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io("publish", &path))
}
