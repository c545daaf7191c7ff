//! One service plan file (`service_plans/NAME.toml`, SPEC §12.2):
//!
//! ```toml
//! currency = "EUR"
//! markup = "150%"            # sell = purchase x 1.5
//! [service."3CX-EXT"]
//! markup = "200%"            # this service's own markup
//! [service.NUMBER]
//! mrc = "1.0000"             # or fixed sell prices per unit
//! nrc = "0"
//! ```
//!
//! Money and percentages are quoted strings (a TOML float is binary and
//! would not be exact); unknown keys are errors.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{ServicePlan, ServiceTerms};
use crate::money;

/// A problem at a byte offset of the file.
pub(super) struct Problem {
    /// Byte offset (`None`: the whole file).
    pub offset: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// Accepted, only reported (a markup below 100%).
    pub warning: bool,
}

struct Problems(Vec<Problem>);

impl Problems {
    fn error(&mut self, offset: usize, message: String) {
        self.0.push(Problem { offset: Some(offset), message, warning: false });
    }
    fn warn(&mut self, offset: usize, message: String) {
        self.0.push(Problem { offset: Some(offset), message, warning: true });
    }
}

fn string<'a>(key: &str, value: &'a Spanned<DeValue<'_>>, p: &mut Problems) -> Option<&'a str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s),
        _ => {
            p.error(value.span().start, format!("{key} must be a quoted string, e.g. {key} = \"1.9500\""));
            None
        }
    }
}

fn markup(key: &str, value: &Spanned<DeValue<'_>>, p: &mut Problems) -> Option<Decimal> {
    let text = string(key, value, p)?;
    match money::parse_percent(text) {
        Ok(m) => {
            if m < Decimal::ONE {
                p.warn(value.span().start, format!("{key} {text} is below 100%: sold at a loss"));
            }
            Some(m)
        }
        Err(e) => {
            p.error(value.span().start, format!("{key}: {e}"));
            None
        }
    }
}

fn amount(key: &str, value: &Spanned<DeValue<'_>>, p: &mut Problems) -> Option<Decimal> {
    let text = string(key, value, p)?;
    money::parse_amount(text).map_err(|e| p.error(value.span().start, format!("{key}: {e}"))).ok()
}

/// Parses one service plan named `name`; `known` says whether a service id
/// exists (in any version of `services.csv`). Returns the plan when there
/// is no error, and every problem.
pub(super) fn parse(name: &str, text: &str, known: &dyn Fn(&str) -> bool) -> (Option<ServicePlan>, Vec<Problem>) {
    let mut p = Problems(Vec::new());
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        p.0.push(Problem {
            offset: e.span().map(|s| s.start),
            message: e.message().trim().to_string(),
            warning: false,
        });
    }
    if !errors.is_empty() {
        return (None, p.0);
    }
    let mut plan =
        ServicePlan { name: name.to_string(), currency: "EUR".into(), markup: Decimal::ONE, services: BTreeMap::new() };
    for (key, value) in doc.get_ref() {
        match key.get_ref().as_ref() {
            "currency" => {
                if let Some(c) = string("currency", value, &mut p) {
                    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                        plan.currency = c.to_string();
                    } else {
                        p.error(value.span().start, format!("currency {c:?} is not an ISO 4217 code such as EUR"));
                    }
                }
            }
            "markup" => plan.markup = markup("markup", value, &mut p).unwrap_or(plan.markup),
            "service" => {
                let DeValue::Table(services) = value.get_ref() else {
                    p.error(value.span().start, "service must be a table, e.g. [service.\"3CX-EXT\"]".into());
                    continue;
                };
                for (id, terms) in services {
                    let id_text = id.get_ref().as_ref();
                    if !known(id_text) {
                        p.error(id.span().start, format!("unknown service {id_text:?} (not in services.csv)"));
                    }
                    let DeValue::Table(t) = terms.get_ref() else {
                        p.error(terms.span().start, format!("service.{id_text} must be a table"));
                        continue;
                    };
                    let mut out = ServiceTerms::default();
                    for (k, v) in t {
                        let at = format!("service.{id_text}.{}", k.get_ref());
                        match k.get_ref().as_ref() {
                            "markup" => out.markup = markup(&at, v, &mut p),
                            "nrc" => out.nrc = amount(&at, v, &mut p),
                            "mrc" => out.mrc = amount(&at, v, &mut p),
                            other => p.error(
                                k.span().start,
                                format!("unknown key {other:?} in [service.{id_text}] (markup, nrc, mrc)"),
                            ),
                        }
                    }
                    plan.services.insert(id_text.to_string(), out);
                }
            }
            other => p.error(key.span().start, format!("unknown key {other:?} (currency, markup, [service.ID])")),
        }
    }
    let failed = p.0.iter().any(|x| !x.warning);
    ((!failed).then_some(plan), p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> bool {
        ["EXT", "NUM"].contains(&id)
    }

    #[test]
    fn parses_markups_and_fixed_prices() {
        let text =
            "currency = \"EUR\"\nmarkup = \"150%\"\n[service.EXT]\nmarkup = \"200%\"\n[service.NUM]\nmrc = \"1.25\"\n";
        let (plan, problems) = parse("standard", text, &known);
        assert!(problems.is_empty());
        let plan = plan.unwrap();
        assert_eq!(plan.markup, "1.50".parse().unwrap());
        assert_eq!(plan.services["EXT"].markup, Some("2.00".parse().unwrap()));
        assert_eq!(plan.services["NUM"].mrc, Some("1.25".parse().unwrap()));
    }

    #[test]
    fn unknown_keys_and_services_are_errors_and_low_markups_warnings() {
        let text = "markup = \"90%\"\ncolour = \"red\"\n[service.XYZ]\nmrc = \"1\"\n[service.EXT]\nprice = \"1\"\n";
        let (plan, problems) = parse("p", text, &known);
        assert!(plan.is_none());
        let msgs: Vec<(bool, &str)> = problems.iter().map(|p| (p.warning, p.message.as_str())).collect();
        assert!(msgs.iter().any(|(w, m)| *w && m.contains("below 100%")), "{msgs:?}");
        assert!(msgs.iter().any(|(w, m)| !*w && m.contains("\"colour\"")), "{msgs:?}");
        assert!(msgs.iter().any(|(w, m)| !*w && m.contains("unknown service \"XYZ\"")), "{msgs:?}");
        assert!(msgs.iter().any(|(w, m)| !*w && m.contains("\"price\"")), "{msgs:?}");
        let (plan, problems) = parse("p", "markup = \"90%\"\n", &known);
        assert!(plan.is_some() && problems.len() == 1 && problems[0].warning);
        let (_, problems) = parse("p", "markup = 1.5\n", &known);
        assert!(problems[0].message.contains("quoted string"));
    }
}
