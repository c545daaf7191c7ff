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

use super::Kind;
use crate::money::{self, Increment};

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
    /// 1-based line of each key in the plan file, by its index in the
    /// level keys (`start_fee`, `per_min`, the five `K_per_min`, `markup`);
    /// 0 when the key is absent.
    pub key_lines: [u32; LEVEL_KEYS.len()],
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
}

/// Resolves a price over `levels`, most specific first (SPEC §3.2).
/// Returns `None` when no level gives a rate for this kind; plan validation
/// rules that out for the base levels, so loaded tables always resolve.
pub fn resolve(levels: &[(LevelName, &Level)], kind: Kind, wholesale_rate: Decimal) -> Option<Resolution> {
    let (rate, rate_from) = levels.iter().find_map(|(name, level)| {
        if let Some(r) = level.kind_per_min[kind.index()] {
            Some((r, (name.clone(), kind.per_min_key())))
        } else if let Some(r) = level.per_min {
            Some((r, (name.clone(), "per_min")))
        } else {
            level.markup.map(|m| (wholesale_rate * m, (name.clone(), "markup")))
        }
    })?;
    let fee = levels.iter().find_map(|(name, level)| level.start_fee.map(|f| (f, name.clone())));
    Some(Resolution {
        rate,
        rate_from,
        start_fee: fee.as_ref().map_or(Decimal::ZERO, |f| f.0),
        fee_from: fee.map(|f| f.1),
    })
}

/// A problem in a plan file, at a byte offset.
pub(super) struct PlanProblem {
    pub offset: Option<usize>,
    pub message: String,
    pub warning: bool,
}

/// Keys a level table may have.
const LEVEL_KEYS: [&str; 8] = [
    "start_fee",
    "per_min",
    "fixed_per_min",
    "mobile_per_min",
    "special_per_min",
    "premium_per_min",
    "other_per_min",
    "markup",
];

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
            other => problems.error(
                at,
                format!(
                    "unknown key {other:?} (expected currency, increment, [international], [domestic], [country.XX], [prefix.\"DIGITS\"])"
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
    let ok = !problems.has_errors();
    (ok.then_some(plan), problems.0)
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
}

fn convert_level(name: &str, t: &DeTable<'_>, lines: &Lines, problems: &mut Problems) -> Level {
    let mut out = Level::default();
    for (key, value) in t {
        let k = key.get_ref().as_ref();
        if let Some(i) = LEVEL_KEYS.iter().position(|l| *l == k) {
            out.key_lines[i] = lines.at(key.span().start);
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
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    const PLAN: &str = r#"
currency = "EUR"
increment = "60/60"
[international]
start_fee = "0.0150"
markup = "130%"
[domestic]
start_fee = "0.0100"
fixed_per_min = "0.0200"
mobile_per_min = "0.0900"
markup = "120%"
[country.BE]
per_min = "0.0300"
start_fee = "0.0000"
[country.GB]
mobile_per_min = "0.1200"
[prefix."4420"]
per_min = "0.0100"
"#;

    #[test]
    fn parses_the_spec_example() {
        let (plan, problems) = parse_plan(PLAN);
        assert!(problems.is_empty());
        let plan = plan.unwrap();
        assert_eq!(plan.increment, Increment { first: 60, next: 60 });
        assert_eq!(plan.domestic.kind_per_min[Kind::Mobile.index()], Some(d("0.0900")));
        assert_eq!(plan.international.markup, Some(d("1.30")));
        assert_eq!(plan.prefixes[0].0, "4420");
    }

    #[test]
    fn precedence_kind_then_per_min_then_markup() {
        let (plan, _) = parse_plan(PLAN);
        let plan = plan.unwrap();
        let gb = &plan.countries["GB"];
        let levels = [(LevelName::Country("GB".into()), gb), (LevelName::International, &plan.international)];
        // GB mobile: kind key at the country level; fee falls back to international.
        let r = resolve(&levels, Kind::Mobile, d("0.05")).unwrap();
        assert_eq!((r.rate, r.rate_from.1, r.start_fee), (d("0.1200"), "mobile_per_min", d("0.0150")));
        assert_eq!(r.fee_from, Some(LevelName::International));
        // GB fixed: nothing at the country level, markup of international.
        let r = resolve(&levels, Kind::Fixed, d("0.0100")).unwrap();
        assert_eq!((r.rate, r.rate_from.0), (d("0.013"), LevelName::International));
        // Domestic mobile: kind key beats markup within one level.
        let r = resolve(&[(LevelName::Domestic, &plan.domestic)], Kind::Mobile, d("1")).unwrap();
        assert_eq!(r.rate, d("0.0900"));
        // Domestic premium: markup.
        let r = resolve(&[(LevelName::Domestic, &plan.domestic)], Kind::Premium, d("0.50")).unwrap();
        assert_eq!((r.rate, r.rate_from.1), (d("0.6"), "markup"));
    }

    #[test]
    fn reports_every_problem() {
        let text = "increment = \"60\"\n[international]\nmarkup = \"130\"\n[domestic]\nfixed_per_min = \"0,02\"\n[country.bel]\nper_min = \"1\"\n";
        let (plan, problems) = parse_plan(text);
        assert!(plan.is_none());
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 4, "{msgs:?}");
        assert!(problems.iter().all(|p| p.offset.is_some()));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let (plan, problems) =
            parse_plan("[international]\nmarkup = \"130%\"\nmark_up = \"1\"\n[domestic]\nper_min = \"1\"\n");
        assert!(plan.is_none());
        assert!(problems[0].message.contains("mark_up"), "{}", problems[0].message);
        assert!(problems[0].offset.is_some());
    }

    #[test]
    fn every_unknown_key_and_bad_value_is_reported() {
        let text = "colour = \"red\"\n[international]\nmark_up = \"1\"\nper_min = 0.05\n[domestic]\nper_min = \"0,02\"\nmarkup = \"120%\"\n";
        let (plan, problems) = parse_plan(text);
        assert!(plan.is_none());
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 4, "{msgs:?}");
        assert!(msgs[0].contains("colour"));
        assert!(msgs.iter().any(|m| m.contains("mark_up")));
        assert!(msgs.iter().any(|m| m.contains("quoted string")));
        assert!(msgs.iter().any(|m| m.contains("0,02")));
    }

    #[test]
    fn markup_below_100_is_a_warning() {
        let (plan, problems) = parse_plan("[international]\nmarkup = \"90%\"\n[domestic]\nper_min = \"1\"\n");
        assert!(plan.is_some());
        assert!(problems[0].warning);
    }
}
