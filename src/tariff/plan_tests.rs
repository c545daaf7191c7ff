//! Tests of plan parsing and price resolution.
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
    let r = resolve(&levels, Kind::Mobile, d("0.05"), None).unwrap();
    assert_eq!((r.rate, r.rate_from.1, r.start_fee), (d("0.1200"), "mobile_per_min", d("0.0150")));
    assert_eq!(r.fee_from, Some(LevelName::International));
    // GB fixed: nothing at the country level, markup of international.
    let r = resolve(&levels, Kind::Fixed, d("0.0100"), None).unwrap();
    assert_eq!((r.rate, r.rate_from.0), (d("0.013"), LevelName::International));
    // Domestic mobile: kind key beats markup within one level.
    let r = resolve(&[(LevelName::Domestic, &plan.domestic)], Kind::Mobile, d("1"), None).unwrap();
    assert_eq!(r.rate, d("0.0900"));
    // Domestic premium: markup.
    let r = resolve(&[(LevelName::Domestic, &plan.domestic)], Kind::Premium, d("0.50"), None).unwrap();
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
