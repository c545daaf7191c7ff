//! `rates/fraud.toml` and the prefix lists it names, read once (the
//! digest is of the very bytes parsed) and resolved against a tariff; every
//! problem is reported with its file and line, as for the tariff tables,
//! and nothing is built when there is one.

use std::path::Path;

use super::parse::{parse_high_risk, parse_rules, ListRow, Problem};
use super::rules::{resolve, FraudRules, FraudTables};
use crate::tariff::{LoadError, LoadErrors, Tariff};

/// The rules file in the rates folder; without it there are no rules.
pub const FRAUD_FILE: &str = "fraud.toml";

/// Loads the fraud rules of `rates` for `tariff`: no rules when there is
/// no `fraud.toml`, else every rule resolved, or every problem found.
pub fn load(rates: &Path, tariff: &Tariff) -> Result<FraudTables, LoadErrors> {
    let (rules, errors) = read(rates, Some(tariff));
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    Ok(FraudTables { tariff_digest: tariff.digest.clone(), rules })
}

/// The problems of `rates`' fraud files that can be found without a tariff
/// (for `check` when the tariff tables themselves failed to load).
pub fn parse(rates: &Path) -> Vec<LoadError> {
    read(rates, None).1
}

fn read(rates: &Path, tariff: Option<&Tariff>) -> (Option<FraudRules>, Vec<LoadError>) {
    let path = rates.join(FRAUD_FILE);
    let mut errors = Vec::new();
    let at = |file: &Path, p: Problem| LoadError {
        file: file.to_path_buf(),
        line: p.line.map(u64::from),
        message: p.message,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (None, errors),
        Err(e) => {
            errors.push(LoadError { file: path, line: None, message: format!("cannot read: {e}") });
            return (None, errors);
        }
    };
    let mut digest = xxhash_rust::xxh3::Xxh3::new();
    let mut add = |name: &str, bytes: &[u8]| {
        digest.update(&(name.len() as u64).to_le_bytes());
        digest.update(name.as_bytes());
        digest.update(&(bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    };
    add(FRAUD_FILE, &bytes);
    let Ok(text) = std::str::from_utf8(&bytes) else {
        errors.push(LoadError { file: path, line: None, message: "not UTF-8 text".into() });
        return (None, errors);
    };
    let (raw, problems) = parse_rules(text);
    errors.extend(problems.into_iter().map(|p| at(&path, p)));
    let Some(raw) = raw else { return (None, errors) };
    let mut lists: Vec<(String, Vec<ListRow>)> = Vec::new();
    for (file, line) in &raw.prefix_lines {
        if lists.iter().any(|(f, _)| f == file) {
            continue;
        }
        let list_path = rates.join(file);
        match std::fs::read(&list_path) {
            Ok(b) => {
                add(file, &b);
                let (rows, problems) = parse_high_risk(&b);
                errors.extend(problems.into_iter().map(|p| at(&list_path, p)));
                lists.push((file.clone(), rows));
            }
            Err(e) => {
                errors.push(LoadError {
                    file: path.clone(),
                    line: Some(u64::from(*line)),
                    message: format!("prefixes: cannot read {}: {e}", list_path.display()),
                });
                lists.push((file.clone(), Vec::new()));
            }
        }
    }
    let digest = format!("{:032x}", digest.digest128());
    let (rules, problems) = resolve(&raw, &lists, tariff, digest);
    errors.extend(problems.into_iter().map(|p| at(&path, p)));
    if !errors.is_empty() {
        return (None, errors);
    }
    (rules, errors)
}
