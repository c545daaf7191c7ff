//! `rates/` to [`Tariff`]: read every table, collect every problem with its
//! file and line, and only build the tables when there are none.

use std::fmt;
use std::path::{Path, PathBuf};

use hashbrown::{HashMap, HashSet};
use rust_decimal::Decimal;

use super::hugemem::HugeSlice;
use super::plan::{self, LevelName, PlanLevels};
use super::trie::PrefixTrie;
use super::{csv_field, Customer, DestHot, Destination, Kind, Plan, Tariff};
use crate::money::{self, FixedPrice, Increment};

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

struct Collector {
    errors: Vec<LoadError>,
    warnings: Vec<LoadError>,
    /// The rates folder, to name tables relative to it in the digest.
    root: PathBuf,
    /// Digest of the tables as parsed, fed by [`Collector::read`].
    digest: xxhash_rust::xxh3::Xxh3,
}

/// A CSV table read over bytes already in memory (and in the digest).
type TableReader = csv::Reader<std::io::Cursor<Vec<u8>>>;

impl Collector {
    fn error(&mut self, file: &Path, line: Option<u64>, message: impl Into<String>) {
        self.errors.push(LoadError { file: file.to_path_buf(), line, message: message.into() });
    }

    /// Reads a table once and adds exactly those bytes to the digest (a
    /// second read could see another version than the one parsed): its
    /// path relative to the rates folder, its length, its bytes.
    fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
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
fn open_table(path: &Path, required: &[&str], c: &mut Collector) -> Option<(TableReader, Vec<usize>)> {
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
fn each_row(
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

fn is_prefix(s: &str) -> bool {
    (1..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn load_wholesale(path: &Path, c: &mut Collector) -> (Vec<Destination>, PrefixTrie) {
    const COLUMNS: [&str; 7] = ["prefix", "destination", "country", "kind", "rate_per_min", "connect_fee", "increment"];
    let mut destinations = Vec::new();
    let mut trie = PrefixTrie::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let Some((mut reader, columns)) = open_table(path, &COLUMNS, c) else {
        return (destinations, trie);
    };
    each_row(
        path,
        &mut reader,
        &columns,
        c,
        |line, f, c| {
            let before = c.errors.len();
            let (prefix, name, country, kind, rate, fee, inc) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
            if !is_prefix(prefix) {
                c.error(path, Some(line), format!("prefix {prefix:?} is not 1-15 digits"));
            } else if let Some(first) = first_line.get(prefix) {
                c.error(path, Some(line), format!("duplicate prefix {prefix} (first on line {first})"));
            }
            if name.is_empty() {
                c.error(path, Some(line), "empty destination name");
            }
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                c.error(
                    path,
                    Some(line),
                    format!("country {country:?} is not ISO 3166 alpha-2 (XX for non-geographic)"),
                );
            }
            let kind = Kind::parse(kind).or_else(|| {
                c.error(
                    path,
                    Some(line),
                    format!("kind {kind:?} is not one of fixed, mobile, special, premium, other"),
                );
                None
            });
            let rate =
                money::parse_amount(rate).map_err(|e| c.error(path, Some(line), format!("rate_per_min: {e}"))).ok();
            let fee = if fee.is_empty() {
                Some(Decimal::ZERO)
            } else {
                money::parse_amount(fee).map_err(|e| c.error(path, Some(line), format!("connect_fee: {e}"))).ok()
            };
            let increment = if inc.is_empty() {
                Some(Increment::PER_SECOND)
            } else {
                Increment::parse(inc).or_else(|| {
                    c.error(path, Some(line), format!("increment {inc:?} is not FIRST/NEXT seconds such as 60/60"));
                    None
                })
            };
            if c.errors.len() != before {
                first_line.entry(prefix.to_string()).or_insert(line);
                return;
            }
            let (Some(kind), Some(rate), Some(fee), Some(increment)) = (kind, rate, fee, increment) else {
                return;
            };
            let Some(buy) = FixedPrice::new(fee, rate) else {
                c.error(path, Some(line), "rate or connect fee above 100000, or more than 19 significant digits");
                return;
            };
            first_line.insert(prefix.to_string(), line);
            trie.insert(prefix.as_bytes(), destinations.len() as u32);
            destinations.push(Destination {
                prefix: prefix.to_string(),
                name: name.to_string(),
                country: country.to_string(),
                kind,
                rate,
                connect_fee: fee,
                increment,
                buy,
            });
        },
        |_| {},
    );
    (destinations, trie)
}

/// The plans folder as read.
struct Plans {
    /// Plans that loaded: name, levels, file.
    loaded: Vec<(String, PlanLevels, PathBuf)>,
    /// Every plan file's name, loaded or not, sorted: customers naming one
    /// that failed are not reported again, and the names make suggestions.
    names: Vec<String>,
    /// The folder could not be listed: customers' plans cannot be checked.
    unreadable: bool,
}

fn load_plans(dir: &Path, c: &mut Collector) -> Plans {
    let mut plans = Plans { loaded: Vec::new(), names: Vec::new(), unreadable: false };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            c.error(dir, None, format!("cannot read the plans folder: {e}"));
            plans.unreadable = true;
            return plans;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        c.error(dir, None, "no plan files (*.toml)");
        plans.unreadable = true;
    }
    for path in paths {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        plans.names.push(name.clone());
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            c.error(&path, None, "plan names (file names) may use only letters, digits, '-' and '_'");
            continue;
        }
        let text = match c.read(&path).and_then(|b| String::from_utf8(b).map_err(std::io::Error::other)) {
            Ok(t) => t,
            Err(e) => {
                c.error(&path, None, format!("cannot read: {e}"));
                continue;
            }
        };
        let (plan, problems) = plan::parse_plan(&text);
        for p in problems {
            let line = p.offset.map(|o| line_of(&text, o));
            let e = LoadError { file: path.clone(), line, message: p.message };
            if p.warning {
                c.warnings.push(e);
            } else {
                c.errors.push(e);
            }
        }
        if let Some(plan) = plan {
            plans.loaded.push((name, plan, path));
        }
    }
    plans
}

fn line_of(text: &str, offset: usize) -> u64 {
    1 + text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() as u64
}

/// `customers.csv` as read.
struct Customers {
    /// Customers that loaded.
    list: Vec<Customer>,
    /// Customer id to index in `list`.
    index: HashMap<Box<[u8]>, u32>,
    /// Ids of rows that were refused (or name a plan that failed): other
    /// tables naming them are not reported again.
    refused: HashSet<String>,
    /// The table could not be read whole (missing, bad header, an unreadable
    /// row): ids it does not list may still be meant, so nothing is checked
    /// against it.
    incomplete: bool,
}

fn load_customers(path: &Path, plans: &Plans, c: &mut Collector) -> Customers {
    const COLUMNS: [&str; 6] = ["customer_id", "name", "email", "plan", "ids_range", "timezone"];
    let mut out = Customers { list: Vec::new(), index: HashMap::new(), refused: HashSet::new(), incomplete: false };
    let Some((mut reader, columns)) = open_table(path, &COLUMNS, c) else {
        out.incomplete = true;
        return out;
    };
    let Customers { list: customers, index, refused, incomplete } = &mut out;
    let mut refused_rows: Vec<Option<String>> = Vec::new();
    let loaded = |name: &str| plans.loaded.iter().position(|p| p.0 == name);
    let names: Vec<&str> = plans.names.iter().map(String::as_str).collect();
    each_row(
        path,
        &mut reader,
        &columns,
        c,
        |line, f, c| {
            let before = c.errors.len();
            let (id, name, email, plan, range, tz) = (f[0], f[1], f[2], f[3], f[4], f[5]);
            if id.is_empty() {
                c.error(path, Some(line), "empty customer_id");
            } else if index.contains_key(id.as_bytes()) {
                c.error(path, Some(line), format!("duplicate customer_id {id}"));
            }
            let plan_idx = loaded(plan);
            // A plan whose file exists but failed has its own errors.
            if plan_idx.is_none() && !plans.unreadable && !plans.names.iter().any(|n| n == plan) {
                let list = crate::suggest::ranked(plan, &names).join(", ");
                c.error(path, Some(line), format!("unknown plan {plan:?}; plans: {list}"));
            }
            let ids_range = if range.is_empty() {
                None
            } else {
                money::parse_amount(range).map_err(|e| c.error(path, Some(line), format!("ids_range: {e}"))).ok()
            };
            if !tz.is_empty() && jiff::tz::TimeZone::get(tz).is_err() {
                c.error(
                    path,
                    Some(line),
                    format!("unknown time zone {tz:?} (expected an IANA name such as Europe/Amsterdam)"),
                );
            }
            let Some(plan_idx) = plan_idx.filter(|_| c.errors.len() == before) else {
                refused.insert(id.to_string());
                return;
            };
            let mut csv_id = Vec::new();
            csv_field(&mut csv_id, id.as_bytes());
            index.insert(id.as_bytes().into(), customers.len() as u32);
            customers.push(Customer {
                id: id.to_string(),
                name: name.to_string(),
                email: email.to_string(),
                plan: plan_idx as u32,
                ids_range,
                timezone: (!tz.is_empty()).then(|| tz.to_string()),
                zone: None,
                csv_id: csv_id.into_boxed_slice(),
            });
        },
        |id| refused_rows.push(id.map(str::to_string)),
    );
    for id in refused_rows {
        match id {
            Some(id) => {
                refused.insert(id);
            }
            None => *incomplete = true,
        }
    }
    out
}

fn load_numbers(path: &Path, customers: &Customers, c: &mut Collector) -> (PrefixTrie, Vec<(String, u32)>) {
    let mut trie = PrefixTrie::new();
    let mut blocks = Vec::new();
    if !path.exists() {
        return (trie, blocks);
    }
    let Some((mut reader, columns)) = open_table(path, &["prefix", "customer_id"], c) else {
        return (trie, blocks);
    };
    let mut first_line: HashMap<String, u64> = HashMap::new();
    each_row(
        path,
        &mut reader,
        &columns,
        c,
        |line, f, c| {
            let (prefix, id) = (f[0], f[1]);
            if !is_prefix(prefix) {
                c.error(path, Some(line), format!("prefix {prefix:?} is not 1-15 digits"));
                return;
            }
            if let Some(first) = first_line.get(prefix) {
                c.error(path, Some(line), format!("duplicate prefix {prefix} (first on line {first})"));
                return;
            }
            first_line.insert(prefix.to_string(), line);
            match customers.index.get(id.as_bytes()) {
                Some(&cust) => {
                    trie.insert(prefix.as_bytes(), cust);
                    blocks.push((prefix.to_string(), cust));
                }
                // customers.csv has the error of a refused customer.
                None if customers.incomplete || customers.refused.contains(id) => {}
                None => {
                    let close = crate::suggest::closest(id, customers.list.iter().map(|k| k.id.as_str()));
                    let hint = close.map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
                    c.error(path, Some(line), format!("unknown customer_id {id:?}{hint}"));
                }
            }
        },
        |_| {},
    );
    (trie, blocks)
}

fn build_plan(
    name: String,
    levels: PlanLevels,
    destinations: &[Destination],
    trie: &PrefixTrie,
    home: &str,
) -> Result<Plan, String> {
    let price = |levels: &[(LevelName, &plan::Level)], d: &Destination| -> Result<FixedPrice, String> {
        let r = plan::resolve(levels, d.kind, d.rate)
            .ok_or_else(|| format!("no sell rate for {} ({})", d.prefix, d.kind.as_str()))?;
        FixedPrice::new(r.start_fee, r.rate).ok_or_else(|| {
            format!("sell price for {} is above 100000 per minute or needs more than 19 significant digits", d.prefix)
        })
    };
    let base_levels = |d: &Destination| {
        let mut v = Vec::with_capacity(2);
        if let Some(l) = levels.countries.get(&d.country) {
            v.push((LevelName::Country(d.country.clone()), l));
        }
        if d.country == home {
            v.push((LevelName::Domestic, &levels.domestic));
        } else {
            v.push((LevelName::International, &levels.international));
        }
        v
    };
    let mut base_prices = Vec::with_capacity(destinations.len());
    for d in destinations {
        base_prices.push(price(&base_levels(d), d)?);
    }
    let mut override_trie = PrefixTrie::new();
    let mut override_prices = HashMap::new();
    for (o, (prefix, level)) in levels.prefixes.iter().enumerate() {
        override_trie.insert(prefix.as_bytes(), o as u32);
        for di in trie.related(prefix.as_bytes()) {
            let d = &destinations[di as usize];
            let mut lv = vec![(LevelName::Prefix(prefix.clone()), level)];
            lv.extend(base_levels(d));
            override_prices.insert((o as u32, di), price(&lv, d)?);
        }
    }
    let mut csv_name = Vec::new();
    csv_field(&mut csv_name, name.as_bytes());
    let mut csv_currency = Vec::new();
    csv_field(&mut csv_currency, levels.currency.as_bytes());
    Ok(Plan {
        name,
        levels,
        base_prices: HugeSlice::new(base_prices),
        override_trie,
        override_prices,
        csv_name: csv_name.into_boxed_slice(),
        csv_currency: csv_currency.into_boxed_slice(),
        currency: 0,
    })
}
