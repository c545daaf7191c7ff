//! Reading the service tables and their dated versions: `services*.csv`,
//! `service_plans/NAME*.toml`, `resellers*.csv` (the catalog, read before
//! the customers, who name plans and resellers) and `subscriptions*.csv`
//! (read after, since they name customers). Every problem goes to the
//! tariff's collector as `file:line: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;

use super::super::load::{each_row, open_table, Collector, LoadError};
use super::super::tables::{line_of, Customers};
use super::super::versions::{list, split_version, start_of, Version};
use super::{plan, Reseller, Service, ServiceTables, Subscription};
use crate::money;

/// The service tables the customers refer to, as read.
#[derive(Debug, Default)]
pub(in crate::tariff) struct Catalog {
    /// The loaded versions (subscriptions are added by [`load_subscriptions`]).
    pub tables: ServiceTables,
    /// Every service id of any version (refused rows included: other
    /// tables naming them are not reported again).
    service_ids: BTreeSet<String>,
    /// `services.csv` could not be read whole: ids are not checked against it.
    services_incomplete: bool,
    /// Every service plan file name, loaded or not.
    pub plan_names: BTreeSet<String>,
    /// Every reseller id of any version (refused rows included).
    pub reseller_ids: BTreeSet<String>,
    /// `resellers.csv` could not be read whole.
    pub resellers_incomplete: bool,
    /// Every file read, with its version date, for the version list.
    pub files: Vec<(PathBuf, Option<Date>)>,
}

/// The versions of table `base` in `dir` (`base.csv`, `base@DATE.csv`).
fn versions_of(dir: &Path, base: &str, ext: &str, c: &mut Collector) -> BTreeMap<String, Vec<Version>> {
    let mut out: BTreeMap<String, Vec<Version>> = BTreeMap::new();
    for (path, name) in list(dir) {
        let Some(stem) = name.strip_suffix(ext) else { continue };
        let table = stem.split('@').next().unwrap_or(stem);
        if !base.is_empty() && table != base {
            continue;
        }
        match split_version(stem) {
            Ok((table, date)) => out.entry(table.to_string()).or_default().push((date, path)),
            Err(e) => c.error(&path, None, e),
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Reads `services*.csv`, `service_plans/*.toml` and `resellers*.csv`.
pub(in crate::tariff) fn load_catalog(dir: &Path, zone: &TimeZone, c: &mut Collector) -> Catalog {
    let mut cat = Catalog::default();
    for (date, path) in versions_of(dir, "services", ".csv", c).remove("services").unwrap_or_default() {
        let table = load_services(&path, &mut cat, c);
        cat.tables.services.push((start_of(date, zone), Arc::new(table)));
        cat.files.push((path, date));
    }
    let plan_dir = dir.join("service_plans");
    for (name, versions) in versions_of(&plan_dir, "", ".toml", c) {
        cat.plan_names.insert(name.clone());
        for (date, path) in versions {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                c.error(&path, None, "service plan names (file names) may use only letters, digits, '-' and '_'");
                continue;
            }
            let text = match c.read(&path).and_then(|b| String::from_utf8(b).map_err(std::io::Error::other)) {
                Ok(t) => t,
                Err(e) => {
                    c.error(&path, None, format!("cannot read: {e}"));
                    continue;
                }
            };
            let known = |id: &str| cat.services_incomplete || cat.service_ids.contains(id);
            let (parsed, problems) = plan::parse(&name, &text, &known);
            for p in problems {
                let e = LoadError { file: path.clone(), line: p.offset.map(|o| line_of(&text, o)), message: p.message };
                if p.warning {
                    c.warnings.push(e);
                } else {
                    c.errors.push(e);
                }
            }
            if let Some(parsed) = parsed {
                cat.tables.plans.entry(name.clone()).or_default().push((start_of(date, zone), Arc::new(parsed)));
            }
            cat.files.push((path, date));
        }
    }
    for (date, path) in versions_of(dir, "resellers", ".csv", c).remove("resellers").unwrap_or_default() {
        let table = load_resellers(&path, &mut cat, c);
        cat.tables.resellers.push((start_of(date, zone), Arc::new(table)));
        cat.files.push((path, date));
    }
    cat
}

/// An amount column that may be empty (= 0).
fn amount_or_zero(text: &str, column: &str, path: &Path, line: u64, c: &mut Collector) -> Option<Decimal> {
    if text.is_empty() {
        return Some(Decimal::ZERO);
    }
    money::parse_amount(text).map_err(|e| c.error(path, Some(line), format!("{column}: {e}"))).ok()
}

fn load_services(path: &Path, cat: &mut Catalog, c: &mut Collector) -> BTreeMap<String, Service> {
    let mut out = BTreeMap::new();
    let Some((mut reader, columns)) = open_table(path, &["service_id", "name", "unit", "nrc", "mrc"], c) else {
        cat.services_incomplete = true;
        return out;
    };
    let mut refused = Vec::new();
    each_row(
        path,
        &mut reader,
        &columns,
        c,
        |line, f, c| {
            let before = c.errors.len();
            let (id, name, unit) = (f[0], f[1], f[2]);
            if id.is_empty() {
                c.error(path, Some(line), "empty service_id");
            } else if out.contains_key(id) {
                c.error(path, Some(line), format!("duplicate service_id {id}"));
            }
            if name.is_empty() {
                c.error(path, Some(line), "empty service name");
            }
            let nrc = amount_or_zero(f[3], "nrc", path, line, c);
            let mrc = amount_or_zero(f[4], "mrc", path, line, c);
            cat.service_ids.insert(id.to_string());
            if let (Some(nrc), Some(mrc), true) = (nrc, mrc, c.errors.len() == before) {
                let s = Service { id: id.into(), name: name.into(), unit: unit.into(), nrc, mrc };
                out.insert(id.to_string(), s);
            }
        },
        |id| refused.push(id.map(str::to_string)),
    );
    note_refused(refused, &mut cat.service_ids, &mut cat.services_incomplete);
    out
}

/// Rows refused by the table reader: their ids still count as known (so
/// the tables that name them are not reported again); a refused row
/// without an id leaves the table incomplete.
fn note_refused(refused: Vec<Option<String>>, ids: &mut BTreeSet<String>, incomplete: &mut bool) {
    for id in refused {
        match id {
            Some(id) => {
                ids.insert(id);
            }
            None => *incomplete = true,
        }
    }
}

fn percent(text: &str, column: &str, path: &Path, line: u64, c: &mut Collector) -> Option<Decimal> {
    money::parse_percent(text).map_err(|e| c.error(path, Some(line), format!("{column}: {e}"))).ok()
}

fn load_resellers(path: &Path, cat: &mut Catalog, c: &mut Collector) -> BTreeMap<String, Reseller> {
    const COLUMNS: [&str; 5] = ["reseller_id", "name", "email", "services_commission", "calls_commission"];
    let mut out = BTreeMap::new();
    let Some((mut reader, columns)) = open_table(path, &COLUMNS, c) else {
        cat.resellers_incomplete = true;
        return out;
    };
    let mut refused = Vec::new();
    each_row(
        path,
        &mut reader,
        &columns,
        c,
        |line, f, c| {
            let before = c.errors.len();
            let id = f[0];
            if id.is_empty() {
                c.error(path, Some(line), "empty reseller_id");
            } else if out.contains_key(id) {
                c.error(path, Some(line), format!("duplicate reseller_id {id}"));
            }
            let services = percent(f[3], "services_commission", path, line, c);
            let calls = percent(f[4], "calls_commission", path, line, c);
            for (value, column) in [(services, "services_commission"), (calls, "calls_commission")] {
                if value.is_some_and(|v| v > Decimal::ONE) {
                    c.error(path, Some(line), format!("{column}: more than 100%"));
                }
            }
            cat.reseller_ids.insert(id.to_string());
            if let (Some(services_commission), Some(calls_commission), true) =
                (services, calls, c.errors.len() == before)
            {
                let r = Reseller {
                    id: id.into(),
                    name: f[1].into(),
                    email: f[2].into(),
                    services_commission,
                    calls_commission,
                };
                out.insert(id.to_string(), r);
            }
        },
        |id| refused.push(id.map(str::to_string)),
    );
    note_refused(refused, &mut cat.reseller_ids, &mut cat.resellers_incomplete);
    out
}

/// Reads `subscriptions*.csv` into `cat.tables`, checking customers against
/// `customers` (every version's) and services against the catalog.
pub(in crate::tariff) fn load_subscriptions(
    dir: &Path,
    zone: &TimeZone,
    customers: &Customers,
    cat: &mut Catalog,
    c: &mut Collector,
) {
    const COLUMNS: [&str; 5] = ["customer_id", "service_id", "quantity", "start", "end"];
    for (date, path) in versions_of(dir, "subscriptions", ".csv", c).remove("subscriptions").unwrap_or_default() {
        let mut table = Vec::new();
        if let Some((mut reader, columns)) = open_table(&path, &COLUMNS, c) {
            each_row(
                &path,
                &mut reader,
                &columns,
                c,
                |line, f, c| {
                    if let Some(s) = subscription(&path, line, f, customers, cat, c) {
                        table.push(s);
                    }
                },
                |_| {},
            );
        }
        cat.tables.subscriptions.push((start_of(date, zone), Arc::new(table)));
        cat.files.push((path, date));
    }
}

/// One subscriptions row checked.
fn subscription(
    path: &Path,
    line: u64,
    f: &[&str],
    customers: &Customers,
    cat: &Catalog,
    c: &mut Collector,
) -> Option<Subscription> {
    let before = c.errors.len();
    let (customer, service, quantity) = (f[0], f[1], f[2]);
    match customers.index.get(customer.as_bytes()) {
        Some(&i) if customers.list[i as usize].service_plan.is_none() => c.error(
            path,
            Some(line),
            format!("customer {customer} has no service_plan in customers.csv: its services have no sell price"),
        ),
        Some(_) => {}
        None if customers.incomplete || customers.refused.contains(customer) => {}
        None => {
            let close = crate::suggest::closest(customer, customers.list.iter().map(|k| k.id.as_str()));
            let hint = close.map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
            c.error(path, Some(line), format!("unknown customer_id {customer:?}{hint}"));
        }
    }
    if !cat.services_incomplete && !cat.service_ids.contains(service) {
        let close = crate::suggest::closest(service, cat.service_ids.iter().map(String::as_str));
        let hint = close.map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
        c.error(path, Some(line), format!("unknown service_id {service:?}{hint}"));
    }
    let quantity = match quantity.parse::<u32>() {
        Ok(q) if q > 0 && quantity.bytes().all(|b| b.is_ascii_digit()) => Some(q),
        _ => {
            c.error(path, Some(line), format!("quantity {quantity:?} is not a positive integer"));
            None
        }
    };
    let day = |text: &str, column: &str, c: &mut Collector| {
        crate::timefmt::parse_day(text).or_else(|| {
            c.error(path, Some(line), format!("{column} {text:?} is not a date YYYY-MM-DD"));
            None
        })
    };
    let start = day(f[3], "start", c);
    let end = if f[4].is_empty() { Some(None) } else { day(f[4], "end", c).map(Some) };
    if let (Some(s), Some(Some(e))) = (start, end) {
        if e <= s {
            c.error(path, Some(line), format!("end {} is not after start {} (end is exclusive)", f[4], f[3]));
        }
    }
    let (Some(quantity), Some(start), Some(end), true) = (quantity, start, end, c.errors.len() == before) else {
        return None;
    };
    Some(Subscription { customer: customer.into(), service: service.into(), quantity, start, end })
}
