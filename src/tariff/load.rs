//! `rates/` to [`Tariff`]: read every table, collect every problem with its
//! file and line, and only build the tables when there are none.

use std::fmt;
use std::path::{Path, PathBuf};

use super::hugemem::HugeSlice;
use super::{csv_field, DestHot, Tariff};

/// One problem in the tariff tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found; loading fails if there is at least one.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in the tariff tables", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// What a successful load noticed but accepted.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Accepted oddities, e.g. a markup below 100%.
    pub warnings: Vec<LoadError>,
}

pub(super) struct Collector {
    pub(super) errors: Vec<LoadError>,
    pub(super) warnings: Vec<LoadError>,
    /// The rates folder, to name tables relative to it in the digest.
    pub(super) root: PathBuf,
    /// Digest of the tables as parsed, fed by [`Collector::read`].
    pub(super) digest: xxhash_rust::xxh3::Xxh3,
}

/// A CSV table read over bytes already in memory (and in the digest).
pub(super) type TableReader = csv::Reader<std::io::Cursor<Vec<u8>>>;

impl Collector {
    pub(super) fn error(&mut self, file: &Path, line: Option<u64>, message: impl Into<String>) {
        self.errors.push(LoadError { file: file.to_path_buf(), line, message: message.into() });
    }

    /// Reads a table once and adds exactly those bytes to the digest (a
    /// second read could see another version than the one parsed): its
    /// path relative to the rates folder, its length, its bytes.
    pub(super) fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        let bytes = std::fs::read(path)?;
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let rel = rel.join("/");
        self.digest.update(&(rel.len() as u64).to_le_bytes());
        self.digest.update(rel.as_bytes());
        self.digest.update(&(bytes.len() as u64).to_le_bytes());
        self.digest.update(&bytes);
        Ok(bytes)
    }
}

/// Loads and validates `rates/` for a home country (`NL`).
pub fn load(dir: &Path, home_country: &str) -> Result<(Tariff, LoadReport), LoadErrors> {
    let mut c = Collector {
        errors: Vec::new(),
        warnings: Vec::new(),
        root: dir.to_path_buf(),
        digest: xxhash_rust::xxh3::Xxh3::new(),
    };
    // One missing folder is one error, not one per table in it.
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            c.error(dir, None, "not a folder (the tariff tables folder holds wholesale.csv, plans/, customers.csv)")
        }
        Err(e) => c.error(dir, None, format!("cannot open the tariff tables folder: {e}")),
    }
    if !c.errors.is_empty() {
        return Err(LoadErrors(c.errors));
    }
    let wholesale_path = dir.join("wholesale.csv");
    let (destinations, trie) = load_wholesale(&wholesale_path, &mut c);
    let plan_dir = dir.join("plans");
    let plans = load_plans(&plan_dir, &mut c);
    let customers_path = dir.join("customers.csv");
    let customers = load_customers(&customers_path, &plans, &mut c);
    let numbers_path = dir.join("numbers.csv");
    let (numbers, number_blocks) = load_numbers(&numbers_path, &customers, &mut c);
    if !c.errors.is_empty() {
        // Each file's problems in line order (a plan's levels are checked
        // table by table, not top to bottom).
        let mut files: Vec<PathBuf> = Vec::new();
        for e in &c.errors {
            if !files.contains(&e.file) {
                files.push(e.file.clone());
            }
        }
        c.errors.sort_by_key(|e| (files.iter().position(|f| *f == e.file), e.line));
        return Err(LoadErrors(c.errors));
    }
    let Customers { list: customers, index: customer_index, .. } = customers;
    let plans = plans.loaded;
    let mut built = Vec::with_capacity(plans.len());
    for (name, levels, path) in plans {
        match build_plan(name, levels, &destinations, &trie, home_country) {
            Ok(p) => built.push(p),
            Err(msg) => c.error(&path, None, msg),
        }
    }
    let currencies = super::number_currencies(&mut built).unwrap_or_else(|msg| {
        c.error(&plan_dir, None, msg);
        super::Currencies::default()
    });
    if !c.errors.is_empty() {
        return Err(LoadErrors(c.errors));
    }
    let mut csv_arena = Vec::new();
    let hot: Vec<DestHot> = destinations
        .iter()
        .map(|d| {
            let at = csv_arena.len();
            for (i, v) in [d.prefix.as_str(), &d.name, &d.country, d.kind.as_str()].iter().enumerate() {
                if i > 0 {
                    csv_arena.push(b',');
                }
                csv_field(&mut csv_arena, v.as_bytes());
            }
            let c = d.country.as_bytes();
            DestHot {
                buy: d.buy,
                increment: d.increment,
                csv: (at as u32, (csv_arena.len() - at) as u32),
                country: [c[0], c.get(1).copied().unwrap_or(b'X')],
            }
        })
        .collect();
    let mut zones: Vec<jiff::tz::TimeZone> = Vec::new();
    let mut zone_names: Vec<String> = Vec::new();
    let mut customers = customers;
    for c in &mut customers {
        if let Some(name) = &c.timezone {
            let at = zone_names.iter().position(|n| n == name).unwrap_or_else(|| {
                zone_names.push(name.clone());
                zones.push(jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC));
                zone_names.len() - 1
            });
            c.zone = Some(at as u16);
        }
    }
    let (mut trie, mut numbers) = (trie, numbers);
    trie.freeze();
    numbers.freeze();
    let tariff = Tariff {
        destinations,
        hot: HugeSlice::new(hot),
        csv_arena: csv_arena.into_boxed_slice(),
        trie,
        plans: built,
        customers,
        customer_index,
        numbers,
        number_blocks,
        home_country: home_country.to_string(),
        currencies,
        zones,
        digest: format!("{:032x}", c.digest.digest128()),
    };
    Ok((tariff, LoadReport { warnings: c.warnings }))
}

/// Opens a CSV table and maps the required header names to column indexes.
pub(super) fn open_table(path: &Path, required: &[&str], c: &mut Collector) -> Option<(TableReader, Vec<usize>)> {
    let bytes = match c.read(path) {
        Ok(b) => b,
        Err(e) => {
            c.error(path, None, format!("cannot open: {e}"));
            return None;
        }
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(std::io::Cursor::new(bytes));
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            c.error(path, Some(1), format!("cannot read the header: {e}"));
            return None;
        }
    };
    let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase()).collect();
    let mut columns = Vec::new();
    let mut missing = Vec::new();
    for r in required {
        match names.iter().position(|n| n == r) {
            Some(i) => columns.push(i),
            None => missing.push(*r),
        }
    }
    if !missing.is_empty() {
        c.error(
            path,
            Some(1),
            format!("header lacks column(s): {} (expected {})", missing.join(", "), required.join(",")),
        );
        return None;
    }
    Some((reader, columns))
}

/// Iterates data rows as (line, fields in `required` order), reporting
/// unreadable rows and rows whose field count differs from the header's;
/// fields are trimmed UTF-8. A row refused here is passed to `refused`
/// with its first required field (the table's key) when it could be read,
/// so that the tables naming it do not report it again.
pub(super) fn each_row(
    path: &Path,
    reader: &mut TableReader,
    columns: &[usize],
    c: &mut Collector,
    mut f: impl FnMut(u64, &[&str], &mut Collector),
    mut refused: impl FnMut(Option<&str>),
) {
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line());
                c.error(path, line, format!("unreadable row: {e}"));
                refused(None);
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].trim_ascii().is_empty() {
            continue;
        }
        let width = reader.byte_headers().map_or(0, |h| h.len());
        if record.len() != width {
            // A stray comma (a decimal comma, say) would shift every later
            // column into the wrong meaning: refuse the row.
            c.error(path, Some(line), format!("row has {} fields, the header has {width}", record.len()));
            refused(
                columns.first().and_then(|&i| record.get(i)).and_then(|k| std::str::from_utf8(k).ok()).map(str::trim),
            );
            continue;
        }
        let mut fields = Vec::with_capacity(columns.len());
        let mut ok = true;
        for &i in columns {
            match record.get(i).map(std::str::from_utf8) {
                Some(Ok(s)) => fields.push(s.trim()),
                Some(Err(_)) => {
                    c.error(path, Some(line), format!("column {} is not valid UTF-8", i + 1));
                    ok = false;
                    break;
                }
                None => {
                    c.error(path, Some(line), format!("row has {} fields, the header names more", record.len()));
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            f(line, &fields, c);
        } else {
            refused(fields.first().copied());
        }
    }
}

use super::tables::{build_plan, load_customers, load_numbers, load_plans, load_wholesale, Customers};
