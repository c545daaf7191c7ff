//! The rules in force: each customer's limits (the defaults of
//! `fraud.toml` with their `[customer.ID]` override) and the high-risk
//! prefix lists, resolved once against the tariff they were loaded with.
//! Immutable, like a [`Tariff`], and swapped with it on a reload.

use rust_decimal::Decimal;

use super::parse::{ListRow, Problem, RawProfile, RawRules};
use crate::tariff::trie::PrefixTrie;
use crate::tariff::Tariff;

/// The night window and its spend limit, in the customer's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Night {
    /// Start, seconds after local midnight (inclusive).
    pub from: u32,
    /// End, seconds after local midnight (exclusive); before `from` when
    /// the window wraps midnight.
    pub until: u32,
    /// A day's international spend in the window above this alerts.
    pub spend: Decimal,
}

impl Night {
    /// Whether a local time of day (seconds after midnight) is in the window.
    #[inline]
    pub fn contains(&self, second_of_day: u32) -> bool {
        if self.from < self.until {
            (self.from..self.until).contains(&second_of_day)
        } else {
            second_of_day >= self.from || second_of_day < self.until
        }
    }
}

/// One customer's limits; `None` = that rule is off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// More calls than this starting in some 60 s alert.
    pub calls_per_minute: Option<u32>,
    /// More distinct foreign countries than this in some hour alert.
    pub countries_per_hour: Option<u32>,
    /// One call whose sell is above this alerts.
    pub max_cost: Option<Decimal>,
    /// The night rule.
    pub night: Option<Night>,
    /// The high-risk list that applies (index into the lists).
    pub high_risk: Option<u16>,
}

impl Profile {
    /// Whether any rule needs the call start times kept.
    pub fn keeps_windows(&self) -> bool {
        self.calls_per_minute.is_some() || self.countries_per_hour.is_some()
    }
}

/// A row of a high-risk list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighRiskEntry {
    /// The prefix (E.164 digits).
    pub prefix: String,
    /// Why numbers under it are high-risk.
    pub reason: String,
    /// The list file it came from.
    pub file: String,
}

/// The fraud rules of one version of `rates/`.
#[derive(Debug, Clone)]
pub struct FraudRules {
    /// The defaults (index 0), then one profile per `[customer.ID]`.
    pub profiles: Vec<Profile>,
    /// Profile index of each customer of the tariff they were built with.
    profile_of: Vec<u16>,
    /// One trie per list file (its values index [`FraudRules::entries`])
    /// and the range of the entries that are its rows.
    lists: Vec<(PrefixTrie, std::ops::Range<usize>)>,
    /// Bit `d` set when some listed prefix starts with digit `d`: most
    /// numbers (the home country's) skip the trie.
    first_digits: u16,
    /// The rows of every list, back to back.
    pub entries: Vec<HighRiskEntry>,
    /// XXH3-128 of `fraud.toml` and each list file read (path, length,
    /// bytes): names the version in force in the log.
    pub digest: String,
}

/// What is swapped on a reload: the rules (none without `fraud.toml`) and
/// the digest of the tariff they were resolved against, so that a file is
/// judged with the rules of the tables that priced it.
#[derive(Debug, Clone)]
pub struct FraudTables {
    /// [`Tariff::digest`] of the tables the rules were resolved against.
    pub tariff_digest: String,
    /// The rules; `None` when `rates/` has no `fraud.toml`.
    pub rules: Option<FraudRules>,
}

impl FraudRules {
    /// The limits of customer `customer` (an index of the tariff).
    #[inline]
    pub fn profile(&self, customer: u32) -> &Profile {
        &self.profiles[self.profile_index(customer)]
    }

    /// The index in [`FraudRules::profiles`] of customer `customer`'s limits.
    #[inline]
    pub fn profile_index(&self, customer: u32) -> usize {
        usize::from(self.profile_of.get(customer as usize).copied().unwrap_or(0))
    }

    /// The high-risk entry (index into [`FraudRules::entries`]) whose prefix
    /// is the longest match of `number` in the customer's list, or
    /// [`super::NO_HIGH_RISK`]. Hot path: a trie walk, no allocation.
    #[inline]
    pub fn high_risk(&self, customer: u32, number: &[u8]) -> u16 {
        let first = number.first().map_or(0, |d| d.wrapping_sub(b'0'));
        if first > 9 || self.first_digits & (1 << first) == 0 {
            return super::NO_HIGH_RISK;
        }
        match self.profile(customer).high_risk {
            Some(list) => self.lists[usize::from(list)]
                .0
                .longest_match(number)
                .map_or(super::NO_HIGH_RISK, |(entry, _)| entry as u16),
            None => super::NO_HIGH_RISK,
        }
    }

    /// The rows of list `list` (a [`Profile::high_risk`]).
    pub fn list_entries(&self, list: u16) -> &[HighRiskEntry] {
        self.lists.get(usize::from(list)).map_or(&[], |(_, rows)| &self.entries[rows.clone()])
    }

    /// Customers with an override.
    pub fn overrides(&self) -> usize {
        self.profiles.len() - 1
    }
}

/// Resolves parsed rules and their lists (`(file, rows)`, every file a
/// `prefixes` key names) against `tariff`: every override's customer must
/// exist, and every effective night window must hold time. Without a
/// tariff (it failed to load) only the checks that need none are made and
/// no rules are built.
pub(super) fn resolve(
    raw: &RawRules,
    lists: &[(String, Vec<ListRow>)],
    tariff: Option<&Tariff>,
    digest: String,
) -> (Option<FraudRules>, Vec<Problem>) {
    let mut problems = Vec::new();
    let list_index = |file: &str| lists.iter().position(|(f, _)| f == file).map(|i| i as u16);
    let profile = |over: Option<&RawProfile>| -> Result<Profile, String> {
        let p = match over {
            Some(o) => merged(&raw.defaults, o),
            None => raw.defaults.clone(),
        };
        // The SPEC's window when [night] names only the spend.
        let (from, until) = (p.night_from.unwrap_or(0), p.night_until.unwrap_or(6 * 3600));
        let night = match p.night_spend.value() {
            Some(_) if from == until => return Err("the night window is empty (from equals until)".into()),
            Some(spend) => Some(Night { from, until, spend }),
            None => None,
        };
        Ok(Profile {
            calls_per_minute: p.calls_per_minute.value(),
            countries_per_hour: p.countries_per_hour.value(),
            max_cost: p.max_cost.value(),
            night,
            high_risk: p.prefixes.value().and_then(|f| list_index(&f)),
        })
    };
    let mut profiles = Vec::with_capacity(raw.customers.len() + 1);
    match profile(None) {
        Ok(p) => profiles.push(p),
        Err(e) => problems.push(Problem { line: None, message: format!("[night]: {e}") }),
    }
    let mut profile_of = vec![0u16; tariff.map_or(0, |t| t.customers.len())];
    for (id, line, over) in &raw.customers {
        let p = match profile(Some(over)) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem { line: Some(*line), message: format!("[customer.{id}]: {e}") });
                continue;
            }
        };
        let Some(t) = tariff else { continue };
        match t.customer_by_id(id.as_bytes()) {
            Some(c) => {
                profile_of[c as usize] = profiles.len() as u16;
                profiles.push(p);
            }
            None => {
                let close = crate::suggest::closest(id, t.customers.iter().map(|c| c.id.as_str()));
                let hint = close.map(|c| format!(" (did you mean {c}?)")).unwrap_or_default();
                problems.push(Problem {
                    line: Some(*line),
                    message: format!("[customer.{id}]: unknown customer {id:?}: not in customers.csv{hint}"),
                });
            }
        }
    }
    let rows: usize = lists.iter().map(|(_, r)| r.len()).sum();
    if rows > super::parse::MAX_LIST_ROWS {
        problems.push(Problem {
            line: raw.prefix_lines.first().map(|l| l.1),
            message: format!(
                "the high-risk lists hold {rows} prefixes; at most {} are supported",
                super::parse::MAX_LIST_ROWS
            ),
        });
    }
    if !problems.is_empty() || tariff.is_none() {
        return (None, problems);
    }
    let mut entries = Vec::with_capacity(rows);
    let mut tries = Vec::with_capacity(lists.len());
    for (file, list) in lists {
        let mut trie = PrefixTrie::new();
        let first = entries.len();
        for (prefix, reason, _) in list {
            trie.insert(prefix.as_bytes(), entries.len() as u32);
            entries.push(HighRiskEntry { prefix: prefix.clone(), reason: reason.clone(), file: file.clone() });
        }
        tries.push((trie, first..entries.len()));
    }
    let first_digits = entries.iter().fold(0u16, |m, e| m | 1 << (e.prefix.as_bytes()[0] - b'0'));
    (Some(FraudRules { profiles, profile_of, lists: tries, first_digits, entries, digest }), problems)
}

/// The defaults with a customer's override on top.
fn merged(base: &RawProfile, over: &RawProfile) -> RawProfile {
    RawProfile {
        calls_per_minute: base.calls_per_minute.clone().overridden_by(over.calls_per_minute.clone()),
        countries_per_hour: base.countries_per_hour.clone().overridden_by(over.countries_per_hour.clone()),
        max_cost: base.max_cost.clone().overridden_by(over.max_cost.clone()),
        night_from: over.night_from.or(base.night_from),
        night_until: over.night_until.or(base.night_until),
        night_spend: base.night_spend.clone().overridden_by(over.night_spend.clone()),
        prefixes: base.prefixes.clone().overridden_by(over.prefixes.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn night_windows_may_wrap_midnight() {
        let n = |from, until| Night { from, until, spend: Decimal::ONE };
        let plain = n(0, 6 * 3600);
        assert!(plain.contains(0) && plain.contains(6 * 3600 - 1) && !plain.contains(6 * 3600));
        let wrapped = n(22 * 3600, 6 * 3600);
        assert!(wrapped.contains(22 * 3600) && wrapped.contains(86_399) && wrapped.contains(0));
        assert!(!wrapped.contains(6 * 3600) && !wrapped.contains(12 * 3600) && !wrapped.contains(22 * 3600 - 1));
        let to_midnight = n(20 * 3600, 86_400);
        assert!(to_midnight.contains(86_399) && !to_midnight.contains(0));
    }
}
