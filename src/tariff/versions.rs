//! Finding the dated versions of each table (SPEC §3.5): `wholesale.csv`
//! and `wholesale@2026-12-01.csv`, `plans/standard@2027-01-01.toml`,
//! `customers@…`, `numbers@…`. A version is in force from 00:00 of its date
//! in the configured zone until the next version's date; the undated file
//! before the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::load::Collector;

/// One version of a table: its date (`None`: undated) and file.
pub(super) type Version = (Option<Date>, PathBuf);

/// Every table's versions, each list sorted by date, undated first.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// `wholesale*.csv`.
    pub wholesale: Vec<Version>,
    /// `plans/NAME*.toml` by plan name.
    pub plans: BTreeMap<String, Vec<Version>>,
    /// `customers*.csv`.
    pub customers: Vec<Version>,
    /// `numbers*.csv`.
    pub numbers: Vec<Version>,
    /// The plans folder could not be listed.
    pub plans_unreadable: bool,
}

/// Splits `stem@YYYY-MM-DD` into the stem and its date.
pub(super) fn split_version(stem: &str) -> Result<(&str, Option<Date>), String> {
    match stem.split_once('@') {
        None => Ok((stem, None)),
        Some((name, date)) => match crate::timefmt::parse_day(date) {
            Some(day) => {
                let (y, m, d) = crate::timefmt::civil_from_days(day);
                Ok((name, Date::new(y as i16, m as i8, d as i8).ok()))
            }
            None => Err(format!("{date:?} after '@' is not a version date YYYY-MM-DD")),
        },
    }
}

/// 00:00 of `date` in `zone`, in epoch seconds; `i64::MIN` for undated.
pub(super) fn start_of(date: Option<Date>, zone: &TimeZone) -> i64 {
    match date {
        None => i64::MIN,
        Some(d) => zone
            .to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .map_or(i64::MIN, |t| t.as_second()),
    }
}

/// Lists `dir` and `dir/plans`, reporting misnamed versions.
pub(super) fn discover(dir: &Path, c: &mut Collector) -> Found {
    let mut found = Found::default();
    for (path, name) in list(dir) {
        let Some(stem) = name.strip_suffix(".csv") else { continue };
        let base = stem.split('@').next().unwrap_or(stem);
        let list = match base {
            "wholesale" => &mut found.wholesale,
            "customers" => &mut found.customers,
            "numbers" => &mut found.numbers,
            _ => continue,
        };
        match split_version(stem) {
            Ok((_, date)) => list.push((date, path)),
            Err(e) => c.error(&path, None, e),
        }
    }
    let plan_dir = dir.join("plans");
    match std::fs::read_dir(&plan_dir) {
        Err(e) => {
            c.error(&plan_dir, None, format!("cannot read the plans folder: {e}"));
            found.plans_unreadable = true;
        }
        Ok(_) => {
            for (path, name) in list(&plan_dir) {
                let Some(stem) = name.strip_suffix(".toml") else { continue };
                match split_version(stem) {
                    Ok((plan, date)) => found.plans.entry(plan.to_string()).or_default().push((date, path)),
                    Err(e) => c.error(&path, None, e),
                }
            }
            if found.plans.is_empty() {
                c.error(&plan_dir, None, "no plan files (*.toml)");
                found.plans_unreadable = true;
            }
        }
    }
    for v in
        [&mut found.wholesale, &mut found.customers, &mut found.numbers].into_iter().chain(found.plans.values_mut())
    {
        v.sort();
    }
    found
}

/// The files of `dir` with their names, sorted (unreadable entries skipped).
pub(super) fn list(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, String)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    out.sort();
    out
}

/// The index of the version in force at `at` (epoch seconds) in a list
/// sorted by date, given each version's start.
pub(super) fn in_force(starts: &[i64], at: i64) -> Option<usize> {
    starts.iter().rposition(|&s| s <= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_versions() {
        assert_eq!(split_version("wholesale").unwrap(), ("wholesale", None));
        let (n, d) = split_version("standard@2027-01-01").unwrap();
        assert_eq!((n, d.unwrap().to_string()), ("standard", "2027-01-01".to_string()));
        assert!(split_version("standard@2027-13-01").is_err());
        assert!(split_version("standard@soon").is_err());
    }

    #[test]
    fn versions_start_at_local_midnight() {
        let ams = TimeZone::get("Europe/Amsterdam").unwrap();
        let d = Date::new(2026, 12, 1).ok();
        assert_eq!(start_of(d, &ams), 1_796_079_600);
        assert_eq!(start_of(None, &ams), i64::MIN);
        assert_eq!(in_force(&[i64::MIN, 10, 20], 15), Some(1));
        assert_eq!(in_force(&[10, 20], 5), None);
    }
}
