//! Call rate plans (`rates/plans/<name>.toml`, SPEC §3.2) and price resolution.
//!
//! A plan has up to four levels that can set a price: the longest matching
//! `[prefix."P"]`, `[country.C]`, then `[domestic]` or `[international]`.
//! [`resolve`] walks them most specific first; it is used both to precompute
//! the per-destination price tables and by `lookup` to explain a price.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use super::Kind;
use crate::money::{self, Increment};

/// Plan file as written (strings, with their positions for error messages).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    pub currency: Option<Spanned<String>>,
    pub increment: Option<Spanned<String>>,
    pub international: Option<LevelFile>,
    pub domestic: Option<LevelFile>,
    #[serde(default)]
    pub country: BTreeMap<Spanned<String>, LevelFile>,
    #[serde(default)]
    pub prefix: BTreeMap<Spanned<String>, LevelFile>,
}

/// One level table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LevelFile {
    pub start_fee: Option<Spanned<String>>,
    pub per_min: Option<Spanned<String>>,
    pub fixed_per_min: Option<Spanned<String>>,
    pub mobile_per_min: Option<Spanned<String>>,
    pub special_per_min: Option<Spanned<String>>,
    pub premium_per_min: Option<Spanned<String>>,
    pub other_per_min: Option<Spanned<String>>,
    pub markup: Option<Spanned<String>>,
}

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
pub fn resolve(
    levels: &[(LevelName, &Level)],
    kind: Kind,
    wholesale_rate: Decimal,
) -> Option<Resolution> {
    let (rate, rate_from) = levels.iter().find_map(|(name, level)| {
        if let Some(r) = level.kind_per_min[kind.index()] {
            Some((r, (name.clone(), kind.per_min_key())))
        } else if let Some(r) = level.per_min {
            Some((r, (name.clone(), "per_min")))
        } else {
            level
                .markup
                .map(|m| (wholesale_rate * m, (name.clone(), "markup")))
        }
    })?;
    let fee = levels
        .iter()
        .find_map(|(name, level)| level.start_fee.map(|f| (f, name.clone())));
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

/// Parses and validates one plan file's text; `Err` lists every problem.
pub(super) fn parse_plan(text: &str) -> (Option<PlanLevels>, Vec<PlanProblem>) {
    let mut problems = Vec::new();
    let file: PlanFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            problems.push(PlanProblem {
                offset: e.span().map(|s| s.start),
                message: e.message().trim().to_string(),
                warning: false,
            });
            return (None, problems);
        }
    };
    let mut err = |span: std::ops::Range<usize>, message: String| {
        problems.push(PlanProblem {
            offset: Some(span.start),
            message,
            warning: false,
        })
    };
    let currency = match &file.currency {
        Some(c)
            if c.get_ref().len() == 3 && c.get_ref().bytes().all(|b| b.is_ascii_uppercase()) =>
        {
            c.get_ref().clone()
        }
        Some(c) => {
            err(
                c.span(),
                format!(
                    "currency {:?} is not an ISO 4217 code such as EUR",
                    c.get_ref()
                ),
            );
            "EUR".into()
        }
        None => "EUR".into(),
    };
    let increment = match &file.increment {
        Some(i) => Increment::parse(i.get_ref()).unwrap_or_else(|| {
            err(
                i.span(),
                format!(
                    "increment {:?} is not FIRST/NEXT seconds such as 60/60",
                    i.get_ref()
                ),
            );
            Increment::PER_SECOND
        }),
        None => Increment::PER_SECOND,
    };
    let level = |l: &LevelFile, problems: &mut Vec<PlanProblem>| convert_level(l, problems);
    let mut international = Level::default();
    let mut domestic = Level::default();
    let mut countries = BTreeMap::new();
    let mut prefixes = Vec::new();
    let mut missing = Vec::new();
    match &file.international {
        Some(l) => international = level(l, &mut problems),
        None => missing.push("[international]"),
    }
    match &file.domestic {
        Some(l) => domestic = level(l, &mut problems),
        None => missing.push("[domestic]"),
    }
    for m in missing {
        problems.push(PlanProblem {
            offset: None,
            message: format!("missing table {m}"),
            warning: false,
        });
    }
    for (code, l) in &file.country {
        let c = code.get_ref();
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            problems.push(PlanProblem {
                offset: Some(code.span().start),
                message: format!("[country.{c}]: not an ISO 3166 alpha-2 code (e.g. BE)"),
                warning: false,
            });
        }
        let lv = level(l, &mut problems);
        countries.insert(c.clone(), lv);
    }
    for (p, l) in &file.prefix {
        let digits = p.get_ref();
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(PlanProblem {
                offset: Some(p.span().start),
                message: format!(
                    "[prefix.\"{digits}\"]: a prefix is 1-15 digits of an E.164 number"
                ),
                warning: false,
            });
            continue;
        }
        let lv = level(l, &mut problems);
        prefixes.push((digits.clone(), lv));
    }
    for (name, l, table) in [
        ("[international]", &international, &file.international),
        ("[domestic]", &domestic, &file.domestic),
    ] {
        // A level that tried to set a rate and failed has its error already.
        let Some(written) = table else { continue };
        let tried = [
            &written.per_min,
            &written.markup,
            &written.fixed_per_min,
            &written.mobile_per_min,
        ]
        .iter()
        .chain(
            [
                &written.special_per_min,
                &written.premium_per_min,
                &written.other_per_min,
            ]
            .iter(),
        )
        .any(|v| v.is_some());
        if tried && !problems.is_empty() {
            continue;
        }
        let has_all_kinds = l.kind_per_min.iter().all(Option::is_some);
        if l.per_min.is_none() && l.markup.is_none() && !has_all_kinds {
            let absent: Vec<&str> = Kind::ALL
                .iter()
                .filter(|k| l.kind_per_min[k.index()].is_none())
                .map(|k| k.per_min_key())
                .collect();
            problems.push(PlanProblem {
                offset: None,
                message: format!(
                    "{name} gives no price for {} (add markup or per_min)",
                    absent.join(", ")
                ),
                warning: false,
            });
        }
    }
    let ok = !problems.iter().any(|p| !p.warning);
    let plan = PlanLevels {
        currency,
        increment,
        international,
        domestic,
        countries,
        prefixes,
    };
    (ok.then_some(plan), problems)
}

fn convert_level(l: &LevelFile, problems: &mut Vec<PlanProblem>) -> Level {
    let mut amount = |v: &Option<Spanned<String>>, key: &str| -> Option<Decimal> {
        let v = v.as_ref()?;
        match money::parse_amount(v.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(PlanProblem {
                    offset: Some(v.span().start),
                    message: format!("{key}: {e}"),
                    warning: false,
                });
                None
            }
        }
    };
    let mut out = Level {
        start_fee: amount(&l.start_fee, "start_fee"),
        per_min: amount(&l.per_min, "per_min"),
        ..Level::default()
    };
    for (kind, v) in [
        (Kind::Fixed, &l.fixed_per_min),
        (Kind::Mobile, &l.mobile_per_min),
        (Kind::Special, &l.special_per_min),
        (Kind::Premium, &l.premium_per_min),
        (Kind::Other, &l.other_per_min),
    ] {
        out.kind_per_min[kind.index()] = amount(v, kind.per_min_key());
    }
    if let Some(m) = &l.markup {
        match money::parse_percent(m.get_ref()) {
            Ok(f) => {
                if f < Decimal::ONE {
                    problems.push(PlanProblem {
                        offset: Some(m.span().start),
                        message: format!(
                            "markup {} is below 100%: this level sells at a loss",
                            m.get_ref()
                        ),
                        warning: true,
                    });
                }
                out.markup = Some(f);
            }
            Err(e) => problems.push(PlanProblem {
                offset: Some(m.span().start),
                message: format!("markup: {e}"),
                warning: false,
            }),
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
        assert_eq!(
            plan.increment,
            Increment {
                first: 60,
                next: 60
            }
        );
        assert_eq!(
            plan.domestic.kind_per_min[Kind::Mobile.index()],
            Some(d("0.0900"))
        );
        assert_eq!(plan.international.markup, Some(d("1.30")));
        assert_eq!(plan.prefixes[0].0, "4420");
    }

    #[test]
    fn precedence_kind_then_per_min_then_markup() {
        let (plan, _) = parse_plan(PLAN);
        let plan = plan.unwrap();
        let gb = &plan.countries["GB"];
        let levels = [
            (LevelName::Country("GB".into()), gb),
            (LevelName::International, &plan.international),
        ];
        // GB mobile: kind key at the country level; fee falls back to international.
        let r = resolve(&levels, Kind::Mobile, d("0.05")).unwrap();
        assert_eq!(
            (r.rate, r.rate_from.1, r.start_fee),
            (d("0.1200"), "mobile_per_min", d("0.0150"))
        );
        assert_eq!(r.fee_from, Some(LevelName::International));
        // GB fixed: nothing at the country level, markup of international.
        let r = resolve(&levels, Kind::Fixed, d("0.0100")).unwrap();
        assert_eq!(
            (r.rate, r.rate_from.0),
            (d("0.013"), LevelName::International)
        );
        // Domestic mobile: kind key beats markup within one level.
        let r = resolve(
            &[(LevelName::Domestic, &plan.domestic)],
            Kind::Mobile,
            d("1"),
        )
        .unwrap();
        assert_eq!(r.rate, d("0.0900"));
        // Domestic premium: markup.
        let r = resolve(
            &[(LevelName::Domestic, &plan.domestic)],
            Kind::Premium,
            d("0.50"),
        )
        .unwrap();
        assert_eq!((r.rate, r.rate_from.1), (d("0.6"), "markup"));
    }

    #[test]
    fn reports_every_problem() {
        let text = "increment = \"60\"\n[international]\nmarkup = \"130\"\n[domestic]\nfixed_per_min = \"0,02\"\n[country.bel]\nper_min = \"1\"\n";
        let (plan, problems) = parse_plan(text);
        assert!(plan.is_none());
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 4, "{msgs:?}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let (plan, problems) = parse_plan(
            "[international]\nmarkup = \"130%\"\nmark_up = \"1\"\n[domestic]\nper_min = \"1\"\n",
        );
        assert!(plan.is_none());
        assert!(
            problems[0].message.contains("mark_up"),
            "{}",
            problems[0].message
        );
        assert!(problems[0].offset.is_some());
    }

    #[test]
    fn markup_below_100_is_a_warning() {
        let (plan, problems) =
            parse_plan("[international]\nmarkup = \"90%\"\n[domestic]\nper_min = \"1\"\n");
        assert!(plan.is_some());
        assert!(problems[0].warning);
    }
}
