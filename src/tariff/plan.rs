//! Call rate plans (`rates/plans/<name>.toml`, SPEC §3.2) and price resolution.
//!
//! A plan has up to four levels that can set a price: the longest matching
//! `[prefix."P"]`, `[country.C]`, then `[domestic]` or `[international]`.
//! [`resolve`] walks them most specific first; it is used both to precompute
//! the per-destination price tables and by `lookup` to explain a price.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::periods::{self, Periods};
use super::Kind;
use crate::money::{self, Increment, Rounding};

/// One validated level: every key optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Level {
    /// Fee per answered call.
    pub start_fee: Option<Decimal>,
    /// Flat per-minute rate for every kind.
    pub per_min: Option<Decimal>,
    /// Per-minute rate for one kind, indexed by [`Kind::index`].
    pub kind_per_min: [Option<Decimal>; Kind::COUNT],
    /// Factor on the wholesale rate (`130%` = 1.30).
    pub markup: Option<Decimal>,
    /// Least sell of an answered call (SPEC §3.7).
    pub min_charge: Option<Decimal>,
    /// Most sell of a call (SPEC §3.7).
    pub max_charge: Option<Decimal>,
    /// `[LEVEL.PERIOD]` sub-tables: rate keys only, by period name.
    pub by_period: Vec<(String, Level)>,
    /// 1-based line of each key in the plan file, by its index in the
    /// level keys ([`LEVEL_KEYS`]); 0 when the key is absent.
    pub key_lines: [u32; LEVEL_KEYS.len()],
    /// Byte offset of a period sub-table's name, for errors about it.
    pub offset: Option<usize>,
}

impl Level {
    /// The line of `key` (`start_fee`, `per_min`, `fixed_per_min`, ...,
    /// `markup`) in the plan file, if this level sets it.
    pub fn line(&self, key: &str) -> Option<u32> {
        let i = LEVEL_KEYS.iter().position(|k| *k == key)?;
        Some(self.key_lines[i]).filter(|&l| l > 0)
    }
}

/// Which level of a plan set a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelName {
    /// `[prefix."P"]`.
    Prefix(String),
    /// `[country.C]`.
    Country(String),
    /// `[domestic]`.
    Domestic,
    /// `[international]`.
    International,
}

impl fmt::Display for LevelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LevelName::Prefix(p) => write!(f, "[prefix.\"{p}\"]"),
            LevelName::Country(c) => write!(f, "[country.{c}]"),
            LevelName::Domestic => f.write_str("[domestic]"),
            LevelName::International => f.write_str("[international]"),
        }
    }
}

/// A validated plan.
#[derive(Debug, Clone)]
pub struct PlanLevels {
    /// Currency code of every price in the plan.
    pub currency: String,
    /// Increments of the customer's price.
    pub increment: Increment,
    /// Line of the `currency` key; `None` when the default (EUR) applies.
    pub currency_line: Option<u32>,
    /// Line of the `increment` key; `None` when the default (1/1) applies.
    pub increment_line: Option<u32>,
    /// `[international]`.
    pub international: Level,
    /// `[domestic]`.
    pub domestic: Level,
    /// `[country.C]` by ISO code.
    pub countries: BTreeMap<String, Level>,
    /// `[prefix."P"]`, in the order of the plan's override trie values.
    pub prefixes: Vec<(String, Level)>,
    /// `[[period]]`s, in order.
    pub periods: Periods,
    /// How sell is rounded to the price decimals.
    pub rounding: Rounding,
}

impl PlanLevels {
    /// Whether any level sets `min_charge` or `max_charge`.
    pub fn has_limits(&self) -> bool {
        let set = |l: &Level| l.min_charge.is_some() || l.max_charge.is_some();
        set(&self.international)
            || set(&self.domestic)
            || self.countries.values().any(set)
            || self.prefixes.iter().any(|(_, l)| set(l))
    }

    /// Every level with its name, for checks that visit them all.
    pub fn all_levels(&self) -> impl Iterator<Item = (LevelName, &Level)> {
        [(LevelName::International, &self.international), (LevelName::Domestic, &self.domestic)]
            .into_iter()
            .chain(self.countries.iter().map(|(c, l)| (LevelName::Country(c.clone()), l)))
            .chain(self.prefixes.iter().map(|(p, l)| (LevelName::Prefix(p.clone()), l)))
    }
}

/// The sell price of one destination under one plan, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// Sell rate per minute.
    pub rate: Decimal,
    /// Level and key that set the rate.
    pub rate_from: (LevelName, &'static str),
    /// Start fee per answered call.
    pub start_fee: Decimal,
    /// Level that set the start fee; `None` when no level gives one (fee 0).
    pub fee_from: Option<LevelName>,
    /// Least sell of an answered call, and the level that set it.
    pub min_charge: Option<(Decimal, LevelName)>,
    /// Most sell of a call, and the level that set it.
    pub max_charge: Option<(Decimal, LevelName)>,
}

/// Resolves a price over `levels`, most specific first (SPEC §3.2), in
/// `period` (SPEC §3.6: at each level the `[LEVEL.period]` rate keys come
/// before the level's own; `None` is the base period).
/// Returns `None` when no level gives a rate for this kind; plan validation
/// rules that out for the base levels, so loaded tables always resolve.
pub fn resolve(
    levels: &[(LevelName, &Level)],
    kind: Kind,
    wholesale_rate: Decimal,
    period: Option<&str>,
) -> Option<Resolution> {
    let rate_of = |name: &LevelName, level: &Level| {
        if let Some(r) = level.kind_per_min[kind.index()] {
            Some((r, (name.clone(), kind.per_min_key())))
        } else if let Some(r) = level.per_min {
            Some((r, (name.clone(), "per_min")))
        } else {
            level.markup.map(|m| (wholesale_rate * m, (name.clone(), "markup")))
        }
    };
    let (rate, rate_from) = levels.iter().find_map(|(name, level)| {
        let sub = period.and_then(|p| level.by_period.iter().find(|(n, _)| n == p));
        sub.and_then(|(_, l)| rate_of(name, l)).or_else(|| rate_of(name, level))
    })?;
    let first = |get: fn(&Level) -> Option<Decimal>| {
        levels.iter().find_map(|(name, level)| get(level).map(|v| (v, name.clone())))
    };
    let fee = first(|l| l.start_fee);
    Some(Resolution {
        rate,
        rate_from,
        start_fee: fee.as_ref().map_or(Decimal::ZERO, |f| f.0),
        fee_from: fee.map(|f| f.1),
        min_charge: first(|l| l.min_charge),
        max_charge: first(|l| l.max_charge),
    })
}

/// A problem in a plan file, at a byte offset.
pub(super) struct PlanProblem {
    pub offset: Option<usize>,
    pub message: String,
    pub warning: bool,
}

/// Keys a level table may have (besides period sub-tables).
pub const LEVEL_KEYS: [&str; 10] = [
    "start_fee",
    "per_min",
    "fixed_per_min",
    "mobile_per_min",
    "special_per_min",
    "premium_per_min",
    "other_per_min",
    "markup",
    "min_charge",
    "max_charge",
];

/// The keys a `[LEVEL.PERIOD]` sub-table may have: rates only.
const PERIOD_KEYS: [&str; 7] =
    ["per_min", "fixed_per_min", "mobile_per_min", "special_per_min", "premium_per_min", "other_per_min", "markup"];

/// Collects every problem of one plan file.
struct Problems(Vec<PlanProblem>);

impl Problems {
    fn error(&mut self, offset: usize, message: String) {
        self.0.push(PlanProblem { offset: Some(offset), message, warning: false });
    }

    fn has_errors(&self) -> bool {
        self.0.iter().any(|p| !p.warning)
    }
}

/// A value that must be a quoted string (money is never a TOML float: a
/// float is binary and would not be exact).
fn string_value<'a>(key: &str, value: &'a Spanned<DeValue<'_>>, problems: &mut Problems) -> Option<&'a str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s),
        _ => {
            problems.error(value.span().start, format!("{key} must be a quoted string, e.g. {key} = \"0.0100\""));
            None
        }
    }
}

fn table<'a, 'i>(key: &str, value: &'a Spanned<DeValue<'i>>, problems: &mut Problems) -> Option<&'a DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            problems.error(value.span().start, format!("{key} must be a table, e.g. [{key}]"));
            None
        }
    }
}

/// Parses and validates one plan file's text, reporting every problem
/// (syntax, unknown keys, bad values, missing prices) with its offset.
pub(super) fn parse_plan(text: &str) -> (Option<PlanLevels>, Vec<PlanProblem>) {
    let mut problems = Problems(Vec::new());
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        problems.0.push(PlanProblem {
            offset: e.span().map(|s| s.start),
            message: e.message().trim().to_string(),
            warning: false,
        });
    }
    if !errors.is_empty() {
        return (None, problems.0);
    }
    let lines = Lines::new(text);
    let mut plan = PlanLevels {
        currency: "EUR".into(),
        increment: Increment::PER_SECOND,
        currency_line: None,
        increment_line: None,
        international: Level::default(),
        domestic: Level::default(),
        countries: BTreeMap::new(),
        prefixes: Vec::new(),
        periods: Periods::default(),
        rounding: Rounding::HalfAway,
    };
    let mut seen_international = false;
    let mut seen_domestic = false;
    for (key, value) in doc.get_ref() {
        let at = key.span().start;
        match key.get_ref().as_ref() {
            "currency" => {
                if let Some(c) = string_value("currency", value, &mut problems) {
                    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                        plan.currency = c.to_string();
                        plan.currency_line = Some(lines.at(at));
                    } else {
                        problems.error(value.span().start, format!("currency {c:?} is not an ISO 4217 code such as EUR"));
                    }
                }
            }
            "increment" => {
                if let Some(i) = string_value("increment", value, &mut problems) {
                    match Increment::parse(i) {
                        Some(inc) => {
                            plan.increment = inc;
                            plan.increment_line = Some(lines.at(at));
                        }
                        None => problems.error(
                            value.span().start,
                            format!("increment {i:?} is not FIRST/NEXT seconds such as 60/60"),
                        ),
                    }
                }
            }
            name @ ("international" | "domestic") => {
                let Some(t) = table(name, value, &mut problems) else { continue };
                let level = convert_level(name, t, &lines, &mut problems);
                if name == "international" {
                    plan.international = level;
                    seen_international = true;
                } else {
                    plan.domestic = level;
                    seen_domestic = true;
                }
            }
            "country" => {
                let Some(t) = table("country.XX", value, &mut problems) else { continue };
                for (code, v) in t {
                    let c = code.get_ref().as_ref();
                    let name = format!("country.{c}");
                    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                        problems.error(code.span().start, format!("[{name}]: not an ISO 3166 alpha-2 code (e.g. BE)"));
                        continue;
                    }
                    if let Some(lt) = table(&name, v, &mut problems) {
                        let level = convert_level(&name, lt, &lines, &mut problems);
                        plan.countries.insert(c.to_string(), level);
                    }
                }
            }
            "prefix" => {
                let Some(t) = table("prefix.\"DIGITS\"", value, &mut problems) else { continue };
                for (p, v) in t {
                    let digits = p.get_ref().as_ref();
                    let name = format!("prefix.\"{digits}\"");
                    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        problems.error(p.span().start, format!("[{name}]: a prefix is 1-15 digits of an E.164 number"));
                        continue;
                    }
                    if let Some(lt) = table(&name, v, &mut problems) {
                        let level = convert_level(&name, lt, &lines, &mut problems);
                        plan.prefixes.push((digits.to_string(), level));
                    }
                }
            }
            "rounding" => {
                if let Some(r) = string_value("rounding", value, &mut problems) {
                    match Rounding::parse(r) {
                        Some(r) => plan.rounding = r,
                        None => problems.error(
                            value.span().start,
                            format!("rounding {r:?} is not one of half_away, up, down"),
                        ),
                    }
                }
            }
            "period" => {
                let defs = periods::parse(value, &|o| lines.at(o), &LEVEL_KEYS, &mut |o, m| problems.error(o, m));
                plan.periods = Periods::new(defs);
            }
            other => problems.error(
                at,
                format!(
                    "unknown key {other:?} (expected currency, increment, rounding, [[period]], [international], [domestic], [country.XX], [prefix.\"DIGITS\"])"
                ),
            ),
        }
    }
    for (missing, name) in [(!seen_international, "[international]"), (!seen_domestic, "[domestic]")] {
        if missing {
            problems.0.push(PlanProblem { offset: None, message: format!("missing table {name}"), warning: false });
        }
    }
    for (name, l, seen) in
        [("[international]", &plan.international, seen_international), ("[domestic]", &plan.domestic, seen_domestic)]
    {
        let has_all_kinds = l.kind_per_min.iter().all(Option::is_some);
        // A level whose values were refused has its errors already.
        if !seen || l.per_min.is_some() || l.markup.is_some() || has_all_kinds || problems.has_errors() {
            continue;
        }
        let absent: Vec<&str> =
            Kind::ALL.iter().filter(|k| l.kind_per_min[k.index()].is_none()).map(|k| k.per_min_key()).collect();
        problems.0.push(PlanProblem {
            offset: None,
            message: format!("{name} gives no price for {} (add markup or per_min)", absent.join(", ")),
            warning: false,
        });
    }
    check_periods_and_limits(&plan, &lines, &mut problems);
    let ok = !problems.has_errors();
    (ok.then_some(plan), problems.0)
}

/// Sub-tables must name a period of the plan; a level's own `min_charge`
/// may not exceed its `max_charge`; a period covered by earlier ones is
/// reported (it can never win).
fn check_periods_and_limits(plan: &PlanLevels, lines: &Lines, problems: &mut Problems) {
    for (name, level) in plan.all_levels() {
        for (period, sub) in &level.by_period {
            if plan.periods.index_of(period).is_none() {
                let known: Vec<&str> = plan.periods.defs.iter().map(|d| d.name.as_str()).collect();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                problems.0.push(PlanProblem {
                    offset: sub.offset,
                    message: format!("{name}: sub-table [{period}] names no period of this plan (periods: {known})"),
                    warning: false,
                });
            }
        }
        if let (Some(min), Some(max)) = (level.min_charge, level.max_charge) {
            if min > max {
                problems.0.push(PlanProblem {
                    offset: level.line("min_charge").and_then(|l| lines.offset_of(l)),
                    message: format!("{name}: min_charge {min} is above max_charge {max}"),
                    warning: false,
                });
            }
        }
    }
    for i in plan.periods.never_winning() {
        let d = &plan.periods.defs[i];
        problems.0.push(PlanProblem {
            offset: lines.offset_of(d.line),
            message: format!("period {:?} can never win: earlier periods cover every instant it covers", d.name),
            warning: true,
        });
    }
}

/// Line numbers of byte offsets in a plan file's text.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect())
    }

    /// The 1-based line of byte `offset`.
    fn at(&self, offset: usize) -> u32 {
        1 + self.0.partition_point(|&nl| nl < offset) as u32
    }

    /// The byte offset of the start of 1-based `line`.
    fn offset_of(&self, line: u32) -> Option<usize> {
        match line {
            0 => None,
            1 => Some(0),
            l => self.0.get(l as usize - 2).map(|nl| nl + 1),
        }
    }
}

fn convert_level(name: &str, t: &DeTable<'_>, lines: &Lines, problems: &mut Problems) -> Level {
    convert_keys(name, t, lines, problems, &LEVEL_KEYS)
}

fn convert_keys(name: &str, t: &DeTable<'_>, lines: &Lines, problems: &mut Problems, allowed: &[&str]) -> Level {
    let mut out = Level::default();
    for (key, value) in t {
        let k = key.get_ref().as_ref();
        if let (Some(i), true) = (LEVEL_KEYS.iter().position(|l| *l == k), allowed.contains(&k)) {
            out.key_lines[i] = lines.at(key.span().start);
        } else if let (DeValue::Table(sub), false) = (value.get_ref(), allowed.len() < LEVEL_KEYS.len()) {
            // `[domestic.offpeak]`: the level's prices in one period.
            let sub_name = format!("{name}.{k}");
            let mut level = convert_keys(&sub_name, sub, lines, problems, &PERIOD_KEYS);
            level.offset = Some(key.span().start);
            out.by_period.push((k.to_string(), level));
            continue;
        } else if allowed.len() < LEVEL_KEYS.len() {
            problems.error(
                key.span().start,
                format!("[{name}]: a period sub-table takes rate keys only ({}), not {k:?}", PERIOD_KEYS.join(", ")),
            );
            continue;
        } else {
            problems.error(
                key.span().start,
                format!("[{name}]: unknown key {k:?} (expected one of {})", LEVEL_KEYS.join(", ")),
            );
            continue;
        }
        let Some(text) = string_value(k, value, problems) else { continue };
        let at = value.span().start;
        if k == "markup" {
            match money::parse_percent(text) {
                Ok(f) => {
                    if f < Decimal::ONE {
                        problems.0.push(PlanProblem {
                            offset: Some(at),
                            message: format!("[{name}] markup {text} is below 100%: this level sells at a loss"),
                            warning: true,
                        });
                    }
                    out.markup = Some(f);
                }
                Err(e) => problems.error(at, format!("[{name}] markup: {e}")),
            }
            continue;
        }
        let amount = match money::parse_amount(text) {
            Ok(d) => d,
            Err(e) => {
                problems.error(at, format!("[{name}] {k}: {e}"));
                continue;
            }
        };
        match k {
            "start_fee" => out.start_fee = Some(amount),
            "min_charge" => out.min_charge = Some(amount),
            "max_charge" => out.max_charge = Some(amount),
            "per_min" => out.per_min = Some(amount),
            _ => {
                if let Some(kind) = Kind::ALL.into_iter().find(|kd| kd.per_min_key() == k) {
                    out.kind_per_min[kind.index()] = Some(amount);
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
