//! The tables of `rates/`, one loader each: the wholesale deck, the plans,
//! the customers and the number blocks. Each reports every problem to the
//! [`Collector`] and returns what loaded; [`super::load::load`] decides
//! whether anything is built.

use super::plan::{self, PlanLevels};
use super::trie::PrefixTrie;
use super::versions::{start_of, Version};
use super::{csv_field, Customer, Destination, Kind};
use crate::money::{self, FixedPrice, Increment};
use hashbrown::{HashMap, HashSet};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

use super::load::{each_row, open_table, Collector, LoadError};
use super::services::Catalog;

pub(super) fn is_prefix(s: &str) -> bool {
    (1..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn load_wholesale(path: &Path, c: &mut Collector) -> (Vec<Destination>, PrefixTrie) {
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

/// One plan's versions as read.
pub(super) struct PlanVersions {
    /// The plan's name (file stem before any `@DATE`).
    pub(super) name: String,
    /// When its first version comes into force (`i64::MIN`: undated).
    pub(super) first_start: i64,
    /// The first version's date (`None`: undated).
    pub(super) first_date: Option<jiff::civil::Date>,
    /// Versions that loaded: start, levels, file; by start.
    pub(super) versions: Vec<(i64, PlanLevels, PathBuf)>,
}

/// The plans folder as read.
pub(super) struct Plans {
    /// Plans by plan index (sorted by name); some versions may have failed.
    pub(super) loaded: Vec<PlanVersions>,
    /// Every plan file's name, loaded or not, sorted: customers naming one
    /// that failed are not reported again, and the names make suggestions.
    pub(super) names: Vec<String>,
    /// The folder could not be listed: customers' plans cannot be checked.
    pub(super) unreadable: bool,
}

pub(super) fn load_plans(
    found: &std::collections::BTreeMap<String, Vec<Version>>,
    unreadable: bool,
    zone: &jiff::tz::TimeZone,
    c: &mut Collector,
) -> Plans {
    let mut plans = Plans { loaded: Vec::new(), names: Vec::new(), unreadable };
    for (name, versions) in found {
        plans.names.push(name.clone());
        let Some((first_date, _)) = versions.first() else { continue };
        let mut pv = PlanVersions {
            name: name.clone(),
            first_start: start_of(*first_date, zone),
            first_date: *first_date,
            versions: Vec::new(),
        };
        for (date, path) in versions {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                c.error(path, None, "plan names (file names) may use only letters, digits, '-' and '_'");
                continue;
            }
            let text = match c.read(path).and_then(|b| String::from_utf8(b).map_err(std::io::Error::other)) {
                Ok(t) => t,
                Err(e) => {
                    c.error(path, None, format!("cannot read: {e}"));
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
                pv.versions.push((start_of(*date, zone), plan, path.clone()));
            }
        }
        if !pv.versions.is_empty() {
            plans.loaded.push(pv);
        }
    }
    plans
}

pub(super) fn line_of(text: &str, offset: usize) -> u64 {
    1 + text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() as u64
}

/// `customers.csv` as read.
pub(super) struct Customers {
    /// Customers that loaded.
    pub(super) list: Vec<Customer>,
    /// Customer id to index in `list`.
    pub(super) index: HashMap<Box<[u8]>, u32>,
    /// Ids of rows that were refused (or name a plan that failed): other
    /// tables naming them are not reported again.
    pub(super) refused: HashSet<String>,
    /// The table could not be read whole (missing, bad header, an unreadable
    /// row): ids it does not list may still be meant, so nothing is checked
    /// against it.
    pub(super) incomplete: bool,
}

/// Loads one customers version, in force from `span_start` (epoch seconds;
/// `i64::MIN` for the undated file): each customer's plan must be in force
/// by then.
/// The optional columns of SPEC §12.2 are read when the header has them.
pub(super) fn load_customers(
    path: &Path,
    plans: &Plans,
    catalog: &Catalog,
    span_start: i64,
    c: &mut Collector,
) -> Customers {
    const COLUMNS: [&str; 6] = ["customer_id", "name", "email", "plan", "ids_range", "timezone"];
    const OPTIONAL: [&str; 4] = ["service_plan", "reseller_id", "address", "vat_number"];
    let mut out = Customers { list: Vec::new(), index: HashMap::new(), refused: HashSet::new(), incomplete: false };
    let Some((mut reader, mut columns)) = open_table(path, &COLUMNS, c) else {
        out.incomplete = true;
        return out;
    };
    // Each optional column's place among the fields, when present.
    let header: Vec<String> = reader
        .byte_headers()
        .map(|h| h.iter().map(|n| String::from_utf8_lossy(n).trim().to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let optional: Vec<Option<usize>> = OPTIONAL
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).map(|i| {
                columns.push(i);
                columns.len() - 1
            })
        })
        .collect();
    let Customers { list: customers, index, refused, incomplete } = &mut out;
    let mut refused_rows: Vec<Option<String>> = Vec::new();
    let loaded = |name: &str| plans.loaded.iter().position(|p| p.name == name);
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
            if let Some(p) = plan_idx.map(|i| &plans.loaded[i]).filter(|p| p.first_start > span_start) {
                let since = p.first_date.map_or_else(String::new, |d| d.to_string());
                c.error(
                    path,
                    Some(line),
                    format!("plan {plan:?} is not in force until {since}: this customers version starts earlier"),
                );
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
            let extra = |k: usize| optional[k].map(|at| f[at]).filter(|v| !v.is_empty());
            let (service_plan, reseller) = (extra(0), extra(1));
            if let Some(sp) = service_plan.filter(|sp| !catalog.plan_names.contains(*sp)) {
                c.error(path, Some(line), format!("unknown service plan {sp:?} (no service_plans/{sp}.toml)"));
            }
            if let Some(r) = reseller.filter(|r| !catalog.resellers_incomplete && !catalog.reseller_ids.contains(*r)) {
                c.error(path, Some(line), format!("unknown reseller_id {r:?} (not in resellers.csv)"));
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
                service_plan: service_plan.map(str::to_string),
                reseller: reseller.map(str::to_string),
                address: extra(2)
                    .map(|a| a.split(';').map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default(),
                vat_number: extra(3).map(str::to_string),
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

pub(super) fn load_numbers(path: &Path, customers: &Customers, c: &mut Collector) -> (PrefixTrie, Vec<(String, u32)>) {
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
