//! `fraud_files`: `fraud.toml`, a high-risk list and a stored fraud state,
//! separated by `\n%%\n` (missing parts: no list file, no state).
//!
//! - `fraud::load` (the two files written to a temp dir, resolved against
//!   the shipped tariff) never panics; a refused version names at least one
//!   problem, each with its file;
//! - accepted rules find every list row by its own prefix for a customer on
//!   that list, and never find a number no prefix covers;
//! - the list parser never panics; every row it keeps is 1-15 digits with a
//!   reason, once;
//! - `CustomerState::decode` of the third part never panics, and what it
//!   accepts encodes back to the same state.

use cdr_rater::fraud::{self, CustomerState};

use super::{fixture, split_parts, TARIFF_SEPARATOR};

pub fn check_fraud_files(data: &[u8]) {
    let parts = split_parts(data, TARIFF_SEPARATOR, 3);
    let list = parts.get(1).copied();
    if let Some(list) = list {
        let (rows, _problems) = fraud::parse::parse_high_risk(list);
        let mut seen = std::collections::HashSet::new();
        for (prefix, reason, line) in &rows {
            assert!((1..=15).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit()), "{prefix:?}");
            assert!(!reason.is_empty() && *line > 0);
            assert!(seen.insert(prefix.clone()), "prefix {prefix} kept twice");
        }
    }
    let _ = fraud::parse::parse_rules(&String::from_utf8_lossy(parts[0]));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fraud.toml"), parts[0]).expect("write");
    if let Some(list) = list {
        std::fs::write(dir.path().join("high-risk.csv"), list).expect("write");
    }
    let tariff = &fixture().tariff;
    match fraud::load(dir.path(), tariff) {
        Ok(tables) => {
            assert_eq!(tables.tariff_digest, tariff.digest);
            if let Some(rules) = &tables.rules {
                check_lists(rules, tariff.customers.len());
            }
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refused version names no problem");
            for e in &errors.0 {
                assert!(!e.file.as_os_str().is_empty() && !e.message.is_empty(), "{e:?}");
            }
            let _ = errors.to_string();
        }
    }
    if let Some(state) = parts.get(2) {
        if let Ok(s) = CustomerState::decode(state) {
            assert_eq!(CustomerState::decode(&s.encode()), Ok(s));
        }
    }
}

/// Every customer on a list finds each of its rows by the row's own prefix.
fn check_lists(rules: &fraud::FraudRules, customers: usize) {
    for c in 0..customers as u32 {
        let Some(list) = rules.profile(c).high_risk else { continue };
        let rows = rules.list_entries(list);
        for e in rows {
            let hit = rules.high_risk(c, e.prefix.as_bytes());
            assert_eq!(rules.entries[usize::from(hit)].prefix, e.prefix, "prefix {} not found", e.prefix);
        }
        // A number that starts with no listed digit is never high-risk.
        if let Some(d) = (b'0'..=b'9').find(|d| !rows.iter().any(|e| e.prefix.as_bytes()[0] == *d)) {
            assert_eq!(rules.high_risk(c, &[d, b'1', b'2']), fraud::NO_HIGH_RISK);
        }
    }
}
