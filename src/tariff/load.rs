//! `rates/` to [`Tariff`]: read every table, collect every problem with its
//! file and line, and only build the tables when there are none.

use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use jiff::tz::TimeZone;

use super::epoch::{CustomerVersion, Deck, Epoch, NumberVersion, NO_PLAN};
use super::hugemem::HugeSlice;
use super::idindex::IdIndex;
use super::sell::{build_plan, Plan};
use super::trie::PrefixTrie;
use super::versions::{self, start_of, Version};
use super::{csv_field, DestHot, Tariff, VersionFile};

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

    /// `path` relative to the rates folder, `/`-separated.
    pub(super) fn relative(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        rel.join("/")
    }

    /// Reads a table once and adds exactly those bytes to the digest (a
    /// second read could see another version than the one parsed): its
    /// path relative to the rates folder, its length, its bytes.
    pub(super) fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        let bytes = std::fs::read(path)?;
        let rel = self.relative(path);
        self.digest.update(&(rel.len() as u64).to_le_bytes());
        self.digest.update(rel.as_bytes());
        self.digest.update(&(bytes.len() as u64).to_le_bytes());
        self.digest.update(&bytes);
        Ok(bytes)
    }
}

/// Loads and validates `rates/` for a home country (`NL`), with every
/// version of every table; version dates start at 00:00 in `zone` (the
/// configured `timezone`).
pub fn load(dir: &Path, home_country: &str, zone: &TimeZone) -> Result<(Tariff, LoadReport), LoadErrors> {
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
    let found = versions::discover(dir, &mut c);
    let mut versions_read: Vec<VersionFile> = Vec::new();
    let mut note = |path: &Path, date: Option<jiff::civil::Date>, c: &Collector| {
        versions_read.push(VersionFile { file: c.relative(path), date, from: start_of(date, zone) });
    };
    // A table with no file at all is reported as its undated file missing.
    let or_undated = |v: &[Version], name: &str| -> Vec<Version> {
        if v.is_empty() {
            vec![(None, dir.join(name))]
        } else {
            v.to_vec()
        }
    };
    let mut decks = Vec::new();
    for (date, path) in or_undated(&found.wholesale, "wholesale.csv") {
        let (destinations, trie) = load_wholesale(&path, &mut c);
        note(&path, date, &c);
        decks.push((start_of(date, zone), destinations, trie, c.relative(&path)));
    }
    let plans = load_plans(&found.plans, found.plans_unreadable, zone, &mut c);
    for pv in &plans.loaded {
        for (_, _, path) in &pv.versions {
            let date = found.plans[&pv.name].iter().find(|(_, p)| p == path).and_then(|(d, _)| *d);
            note(path, date, &c);
        }
    }
    let mut catalog = super::services::load_catalog(dir, zone, &mut c);
    let mut customer_versions = Vec::new();
    for (date, path) in or_undated(&found.customers, "customers.csv") {
        let start = start_of(date, zone);
        let customers = load_customers(&path, &plans, &catalog, start, &mut c);
        note(&path, date, &c);
        customer_versions.push((start, customers, c.relative(&path)));
    }
    let registry = registry(&customer_versions);
    super::services::load_subscriptions(dir, zone, &registry, &mut catalog, &mut c);
    for (path, date) in &catalog.files {
        note(path, *date, &c);
    }
    let mut number_versions = Vec::new();
    let numbers = if found.numbers.is_empty() { vec![(None, dir.join("numbers.csv"))] } else { found.numbers.clone() };
    for (date, path) in numbers {
        let exists = path.exists();
        let (trie, blocks) = load_numbers(&path, &registry, &mut c);
        if exists {
            note(&path, date, &c);
        }
        number_versions.push((
            start_of(date, zone),
            trie,
            blocks,
            if exists { c.relative(&path) } else { String::new() },
        ));
    }
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
    let tariff = assemble(
        Parts { decks, plans, customer_versions, registry, number_versions, versions: versions_read },
        home_country,
        dir,
        &mut c,
    );
    if !c.errors.is_empty() {
        return Err(LoadErrors(c.errors));
    }
    let mut tariff = tariff;
    tariff.digest = format!("{:032x}", c.digest.digest128());
    tariff.services = catalog.tables;
    Ok((tariff, LoadReport { warnings: c.warnings }))
}

/// Number blocks as written: (prefix, customer index).
type NumberBlocks = Vec<(String, u32)>;

/// Every table version as loaded, before the epochs are built.
struct Parts {
    /// Deck versions: start, rows, trie, file.
    decks: Vec<(i64, Vec<super::Destination>, PrefixTrie, String)>,
    /// Plan versions by plan index.
    plans: Plans,
    /// Customers versions: start, rows, file.
    customer_versions: Vec<(i64, Customers, String)>,
    /// Every customer of any version (newest record each).
    registry: Customers,
    /// Number block versions: start, trie, blocks, file.
    number_versions: Vec<(i64, PrefixTrie, NumberBlocks, String)>,
    /// Every file read.
    versions: Vec<VersionFile>,
}

/// The union of the customers versions: one index per id over all of
/// them, each with the record of the newest version listing it.
fn registry(versions: &[(i64, Customers, String)]) -> Customers {
    let mut out = Customers {
        list: Vec::new(),
        index: hashbrown::HashMap::new(),
        refused: hashbrown::HashSet::new(),
        incomplete: false,
    };
    for (_, v, _) in versions {
        out.refused.extend(v.refused.iter().cloned());
        out.incomplete |= v.incomplete;
        for customer in &v.list {
            match out.index.get(customer.id.as_bytes()) {
                Some(&i) => out.list[i as usize] = customer.clone(),
                None => {
                    out.index.insert(customer.id.as_bytes().into(), out.list.len() as u32);
                    out.list.push(customer.clone());
                }
            }
        }
    }
    out
}

/// Builds the epochs: one per distinct version start, each with the
/// versions in force then; plans are priced once per (plan version, deck).
fn assemble(parts: Parts, home_country: &str, dir: &Path, c: &mut Collector) -> Tariff {
    let Parts { decks, plans, customer_versions, registry, number_versions, versions } = parts;
    let mut starts: Vec<i64> = versions.iter().map(|v| v.from).collect();
    starts.push(i64::MIN);
    starts.sort_unstable();
    starts.dedup();
    let deck_starts: Vec<i64> = decks.iter().map(|d| d.0).collect();
    let decks: Vec<Arc<Deck>> =
        decks.into_iter().map(|(_, d, t, f)| Arc::new(build_deck(d, t, f, home_country))).collect();
    let empty_deck = Arc::new(build_deck(Vec::new(), PrefixTrie::new(), String::new(), home_country));
    // Plan versions priced against decks, by (plan, version, deck).
    let mut built: Vec<((usize, usize, usize), Plan)> = Vec::new();
    let mut epochs_plans: Vec<Vec<Option<(usize, usize, usize)>>> = Vec::new();
    for &at in &starts {
        let deck = versions::in_force(&deck_starts, at);
        let mut row = Vec::with_capacity(plans.loaded.len());
        for (pi, pv) in plans.loaded.iter().enumerate() {
            let pstarts: Vec<i64> = pv.versions.iter().map(|v| v.0).collect();
            let key = versions::in_force(&pstarts, at).map(|vi| (pi, vi, deck.map_or(usize::MAX, |d| d)));
            if let Some(key) = key {
                if !built.iter().any(|(k, _)| *k == key) {
                    let (_, levels, path) = &pv.versions[key.1];
                    let d = deck.map_or(&empty_deck, |d| &decks[d]);
                    match build_plan(pv.name.clone(), levels.clone(), &d.destinations, &d.trie, home_country) {
                        Ok(mut p) => {
                            p.file = c.relative(path);
                            built.push((key, p));
                        }
                        Err(msg) => {
                            let when = if d.file.is_empty() { String::new() } else { format!(" (against {})", d.file) };
                            c.error(path, None, format!("{msg}{when}"));
                        }
                    }
                }
            }
            row.push(key);
        }
        epochs_plans.push(row);
    }
    let mut all: Vec<Plan> = built.iter().map(|(_, p)| p.clone()).collect();
    let currencies = super::number_currencies(&mut all).unwrap_or_else(|msg| {
        c.error(&dir.join("plans"), None, msg);
        super::Currencies::default()
    });
    let built: Vec<((usize, usize, usize), Arc<Plan>)> =
        built.into_iter().zip(all).map(|((k, _), p)| (k, Arc::new(p))).collect();
    let customer_starts: Vec<i64> = customer_versions.iter().map(|v| v.0).collect();
    let customer_tables: Vec<Arc<CustomerVersion>> = customer_versions
        .iter()
        .map(|(_, v, file)| {
            let mut plan_of = vec![NO_PLAN; registry.list.len()];
            let mut index: hashbrown::HashMap<Box<[u8]>, u32> = hashbrown::HashMap::new();
            for cu in &v.list {
                let g = registry.index[cu.id.as_bytes()];
                plan_of[g as usize] = cu.plan;
                index.insert(cu.id.as_bytes().into(), g);
            }
            let ids = IdIndex::new(index.iter().map(|(id, &c)| (&id[..], c)));
            Arc::new(CustomerVersion { plan_of, ids, file: file.clone() })
        })
        .collect();
    let number_starts: Vec<i64> = number_versions.iter().map(|v| v.0).collect();
    let number_tables: Vec<Arc<NumberVersion>> = number_versions
        .into_iter()
        .map(|(_, mut trie, blocks, file)| {
            trie.freeze();
            Arc::new(NumberVersion { trie, blocks, file })
        })
        .collect();
    let none_customers =
        Arc::new(CustomerVersion { plan_of: vec![NO_PLAN; registry.list.len()], ..CustomerVersion::default() });
    let none_numbers = Arc::new(NumberVersion::default());
    let epochs = starts
        .iter()
        .zip(epochs_plans)
        .map(|(&at, keys)| Epoch {
            from: at,
            deck: versions::in_force(&deck_starts, at).map_or_else(|| empty_deck.clone(), |d| decks[d].clone()),
            plans: keys
                .into_iter()
                .map(|k| k.and_then(|k| built.iter().find(|(b, _)| *b == k).map(|(_, p)| p.clone())))
                .collect(),
            customers: versions::in_force(&customer_starts, at)
                .map_or_else(|| none_customers.clone(), |i| customer_tables[i].clone()),
            numbers: versions::in_force(&number_starts, at)
                .map_or_else(|| none_numbers.clone(), |i| number_tables[i].clone()),
        })
        .collect();
    let Customers { list: mut customers, index: customer_index, .. } = registry;
    let mut zones: Vec<jiff::tz::TimeZone> = Vec::new();
    let mut zone_names: Vec<String> = Vec::new();
    for cu in &mut customers {
        if let Some(name) = &cu.timezone {
            let at = zone_names.iter().position(|n| n == name).unwrap_or_else(|| {
                zone_names.push(name.clone());
                zones.push(jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC));
                zone_names.len() - 1
            });
            cu.zone = Some(at as u16);
        }
    }
    let customer_csv = customers.iter().map(|c| super::CsvId::new(&c.csv_id)).collect();
    Tariff {
        epochs,
        customers,
        customer_index,
        customer_csv,
        plan_names: plans.loaded.iter().map(|p| p.name.clone()).collect(),
        home_country: home_country.to_string(),
        currencies,
        zones,
        versions,
        digest: String::new(),
        services: super::services::ServiceTables::default(),
    }
}

/// Indexes one deck version.
fn build_deck(destinations: Vec<super::Destination>, mut trie: PrefixTrie, file: String, home_country: &str) -> Deck {
    let home = home_country.as_bytes();
    let home = [home.first().copied().unwrap_or(b'-'), home.get(1).copied().unwrap_or(b'-')];
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
            let country = [c[0], c.get(1).copied().unwrap_or(b'X')];
            DestHot {
                buy: d.buy,
                increment: d.increment,
                csv: (at as u32, (csv_arena.len() - at) as u32),
                country,
                usage: super::Category::of(country, Some(d.kind), home).dense(),
            }
        })
        .collect();
    trie.freeze();
    Deck { destinations, hot: HugeSlice::new(hot), csv_arena: csv_arena.into_boxed_slice(), trie, file }
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

use super::tables::{load_customers, load_numbers, load_plans, load_wholesale, Customers, Plans};
