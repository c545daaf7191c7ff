//! The text of `rates/fraud.toml` and of a high-risk prefix list, parsed
//! and checked (pure: the loader reads the files). Every problem is
//! reported with its line; money is a quoted decimal (a TOML float is
//! binary and would not be exact); unknown keys are errors.

use rust_decimal::Decimal;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A problem in a fraud file, with its 1-based line when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line of the problem.
    pub line: Option<u32>,
    /// What is wrong.
    pub message: String,
}

/// A key of a customer override: inherited, turned off (`false`), or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Setting<T> {
    /// Not written: the default (or none) applies.
    #[default]
    Inherit,
    /// Written `false`: the rule is off for this customer.
    Off,
    /// Written with a value.
    Set(T),
}

impl<T> Setting<T> {
    /// The setting after an override: `over` unless it is `Inherit`.
    pub fn overridden_by(self, over: Setting<T>) -> Setting<T> {
        match over {
            Setting::Inherit => self,
            other => other,
        }
    }

    /// The value, if set.
    pub fn value(self) -> Option<T> {
        match self {
            Setting::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// Every key of the rules, as written in one table (the defaults) or one
/// `[customer.ID]` override.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawProfile {
    /// `[velocity] calls_per_minute`.
    pub calls_per_minute: Setting<u32>,
    /// `[velocity] countries_per_hour`.
    pub countries_per_hour: Setting<u32>,
    /// `[call] max_cost`.
    pub max_cost: Setting<Decimal>,
    /// `[night] from`, seconds after local midnight.
    pub night_from: Option<u32>,
    /// `[night] until`, seconds after local midnight (86,400 for `24:00`).
    pub night_until: Option<u32>,
    /// `[night] international_spend`.
    pub night_spend: Setting<Decimal>,
    /// `[high_risk] prefixes`: a file in the rates folder.
    pub prefixes: Setting<String>,
}

/// `fraud.toml` as written: the defaults and the overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawRules {
    /// The sections' keys.
    pub defaults: RawProfile,
    /// `[customer.ID]` tables: (id, line of the table, keys).
    pub customers: Vec<(String, u32, RawProfile)>,
    /// Line of each `prefixes` key, by file name (for errors in the list).
    pub prefix_lines: Vec<(String, u32)>,
}

/// The sections and the keys each may hold.
const SECTIONS: [(&str, &[&str]); 4] = [
    ("high_risk", &["prefixes"]),
    ("velocity", &["calls_per_minute", "countries_per_hour"]),
    ("call", &["max_cost"]),
    ("night", &["from", "until", "international_spend"]),
];

/// Largest count limit accepted (a typo of a few digits more is an error).
const MAX_COUNT: i64 = 1_000_000;

/// Byte offsets to lines.
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

/// The problems found so far, with the lines of their offsets.
struct Problems<'l> {
    lines: &'l Lines,
    list: Vec<Problem>,
}

impl Problems<'_> {
    fn at(&mut self, offset: usize, message: String) {
        self.list.push(Problem { line: Some(self.lines.at(offset)), message });
    }
}

/// Parses `fraud.toml`: the rules as far as they are valid (a key with a
/// problem is left out) and every problem; `None` only for a TOML syntax
/// error. Rules with problems are never used, but their list files and
/// customers can still be checked, so every problem is reported at once.
pub fn parse_rules(text: &str) -> (Option<RawRules>, Vec<Problem>) {
    let lines = Lines::new(text);
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let list = errors
            .iter()
            .map(|e| Problem { line: e.span().map(|s| lines.at(s.start)), message: e.message().trim().to_string() })
            .collect();
        return (None, list);
    }
    let mut p = Problems { lines: &lines, list: Vec::new() };
    let mut rules = RawRules::default();
    for (key, value) in doc.get_ref() {
        let name = key.get_ref().as_ref();
        let at = key.span().start;
        if name == "customer" {
            let Some(t) = table("customer", value, &mut p) else { continue };
            for (id, v) in t {
                let id_text = id.get_ref().as_ref();
                let Some(keys) = table(&format!("customer.{id_text}"), v, &mut p) else { continue };
                let mut over = RawProfile::default();
                for (k, v) in keys {
                    let all = SECTIONS.iter().flat_map(|s| s.1.iter().copied());
                    if !all.clone().any(|a| a == k.get_ref().as_ref()) {
                        unknown(&mut p, k, all, &format!("[customer.{id_text}]"));
                        continue;
                    }
                    set_key(&mut over, k, v, true, &mut p, &mut rules.prefix_lines);
                }
                rules.customers.push((id_text.to_string(), lines.at(id.span().start), over));
            }
            continue;
        }
        let Some(&(_, keys)) = SECTIONS.iter().find(|s| s.0 == name) else {
            let sections = SECTIONS.iter().map(|s| s.0).chain(["customer"]);
            let hint = match crate::suggest::closest(name, sections.clone()) {
                Some(s) => format!(" (did you mean [{s}]?)"),
                None => format!(" (expected {})", sections.map(|s| format!("[{s}]")).collect::<Vec<_>>().join(", ")),
            };
            p.at(at, format!("unknown table {name:?}{hint}"));
            continue;
        };
        let Some(t) = table(name, value, &mut p) else { continue };
        for (k, v) in t {
            if !keys.contains(&k.get_ref().as_ref()) {
                unknown(&mut p, k, keys.iter().copied(), &format!("[{name}]"));
                continue;
            }
            set_key(&mut rules.defaults, k, v, false, &mut p, &mut rules.prefix_lines);
        }
        if name == "night" {
            check_night(&rules.defaults, "[night]", Some(lines.at(at)), &mut p);
        }
    }
    for (id, line, over) in &rules.customers {
        check_night(over, &format!("[customer.{id}]"), Some(*line), &mut p);
    }
    p.list.sort_by_key(|p| p.line);
    (Some(rules), p.list)
}

/// An unknown key, with the closest known one when there is one.
fn unknown<'a>(
    p: &mut Problems<'_>,
    k: &Spanned<std::borrow::Cow<'_, str>>,
    known: impl Iterator<Item = &'a str> + Clone,
    table: &str,
) {
    let name = k.get_ref().as_ref();
    let hint = match crate::suggest::closest(name, known.clone()) {
        Some(s) => format!(" (did you mean {s}?)"),
        None => format!(" (expected {})", known.collect::<Vec<_>>().join(", ")),
    };
    p.at(k.span().start, format!("{table}: unknown key {name:?}{hint}"));
}

/// A window that starts where it ends holds no time: refused.
fn check_night(profile: &RawProfile, table: &str, line: Option<u32>, p: &mut Problems<'_>) {
    if let (Some(from), Some(until)) = (profile.night_from, profile.night_until) {
        if from == until {
            p.list.push(Problem { line, message: format!("{table}: the night window is empty (from equals until)") });
        }
    }
}

fn table<'a, 'i>(name: &str, value: &'a Spanned<DeValue<'i>>, p: &mut Problems<'_>) -> Option<&'a DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            p.at(value.span().start, format!("{name} must be a table, e.g. [{name}]"));
            None
        }
    }
}

/// Stores one known key's value, checking its type and range.
fn set_key(
    profile: &mut RawProfile,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
    is_override: bool,
    p: &mut Problems<'_>,
    prefix_lines: &mut Vec<(String, u32)>,
) {
    let name = key.get_ref().as_ref();
    let at = value.span().start;
    // `false` turns a rule off, only where a default can be turned off.
    let off = matches!(value.get_ref(), DeValue::Boolean(false));
    let can_be_off = is_override && !matches!(name, "from" | "until");
    if off && can_be_off {
        match name {
            "calls_per_minute" => profile.calls_per_minute = Setting::Off,
            "countries_per_hour" => profile.countries_per_hour = Setting::Off,
            "max_cost" => profile.max_cost = Setting::Off,
            "international_spend" => profile.night_spend = Setting::Off,
            _ => profile.prefixes = Setting::Off,
        }
        return;
    }
    let or_off = if can_be_off { ", or false to turn the rule off for this customer" } else { "" };
    match name {
        "calls_per_minute" | "countries_per_hour" => {
            let n = match value.get_ref() {
                DeValue::Integer(i) => i.as_str().parse::<i64>().ok().filter(|n| (0..=MAX_COUNT).contains(n)),
                _ => None,
            };
            match n {
                Some(n) if name == "calls_per_minute" => profile.calls_per_minute = Setting::Set(n as u32),
                Some(n) => profile.countries_per_hour = Setting::Set(n as u32),
                None => p.at(at, format!("{name} must be a whole number from 0 to {MAX_COUNT}{or_off}")),
            }
        }
        "max_cost" | "international_spend" => {
            let amount = match value.get_ref() {
                DeValue::String(s) => crate::money::parse_amount(s).map_err(|e| e.to_string()),
                _ => Err(format!("{name} must be a quoted decimal, e.g. {name} = \"20.00\"{or_off}")),
            };
            match amount {
                Ok(a) if name == "max_cost" => profile.max_cost = Setting::Set(a),
                Ok(a) => profile.night_spend = Setting::Set(a),
                Err(e) => p.at(at, format!("{name}: {e}")),
            }
        }
        "from" | "until" => {
            let secs = match value.get_ref() {
                DeValue::String(s) => clock_time(s, name == "until"),
                _ => None,
            };
            match secs {
                Some(s) if name == "from" => profile.night_from = Some(s),
                Some(s) => profile.night_until = Some(s),
                None => p.at(at, format!("{name} must be a quoted local time \"HH:MM\" (00:00 to 23:59)")),
            }
        }
        _ => match value.get_ref() {
            DeValue::String(s) if is_plain_file_name(s) => {
                prefix_lines.push((s.to_string(), p.lines.at(at)));
                profile.prefixes = Setting::Set(s.to_string());
            }
            _ => p.at(
                at,
                format!("prefixes must be the quoted name of a prefix,reason file in the rates folder{or_off}"),
            ),
        },
    }
}

/// A file name in the rates folder: no folder part, nothing hidden, so a
/// change to it is seen by the rates poll and nothing outside is read.
fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && !s.contains(['/', '\\', '\0'])
}

/// `HH:MM` to seconds after midnight; `24:00` only for an end.
pub fn clock_time(s: &str, end: bool) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if end => Some(86_400),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

/// Seconds after midnight as `HH:MM`.
pub fn clock_text(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
}

/// One row of a high-risk list: (prefix, reason, line).
pub type ListRow = (String, String, u32);

/// Most rows of all lists together (an index must fit a `u16`, one value
/// meaning "none").
pub const MAX_LIST_ROWS: usize = u16::MAX as usize - 1;

/// Parses a `prefix,reason` list: a header row naming the two columns,
/// then one prefix (1-15 digits) and a non-empty reason a line (a reason
/// with a comma is quoted, CSV-style); blank lines and lines starting with
/// `#` are comments (for the sources of the facts). Duplicate prefixes are
/// errors.
pub fn parse_high_risk(text: &[u8]) -> (Vec<ListRow>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut rows: Vec<ListRow> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut header = true;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = i as u32 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.trim_ascii().is_empty() || raw.starts_with(b"#") {
            continue;
        }
        let mut problem = |message: String| problems.push(Problem { line: Some(line), message });
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(raw);
        let record = match reader.records().next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                problem(format!("not readable as CSV text: {e}"));
                continue;
            }
            None => continue,
        };
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        if std::mem::take(&mut header) {
            if fields != ["prefix", "reason"] {
                problem(format!("header must be prefix,reason (found {:?})", fields.join(",")));
            }
            continue;
        }
        let [prefix, reason] = fields[..] else {
            problem(format!("expected 2 fields (prefix,reason), found {}", fields.len()));
            continue;
        };
        if prefix.is_empty() || prefix.len() > 15 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            problem(format!("prefix {prefix:?} is not 1-15 digits of an E.164 number (without +)"));
        } else if reason.is_empty() {
            problem(format!("prefix {prefix}: the reason is empty"));
        } else if let Some(first) = seen.insert(prefix.to_string(), line) {
            problem(format!("duplicate prefix {prefix} (first on line {first})"));
        } else {
            rows.push((prefix.to_string(), reason.to_string(), line));
        }
    }
    if header {
        problems.push(Problem { line: None, message: "no header (prefix,reason)".into() });
    }
    (rows, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse_rules(text).1.iter().map(|p| format!("{}: {}", p.line.unwrap_or(0), p.message)).collect()
    }

    #[test]
    fn the_spec_example_parses() {
        let text = "[high_risk]\nprefixes = \"high-risk.csv\"\n[velocity]\ncalls_per_minute = 30\ncountries_per_hour = 8\n\
                    [call]\nmax_cost = \"20.00\"\n[night]\nfrom = \"00:00\"\nuntil = \"06:00\"\ninternational_spend = \"10.00\"\n\
                    [customer.C0007]\ncalls_per_minute = 300\nmax_cost = false\n";
        let (rules, problems) = parse_rules(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(parse_rules("[velocity\n").0.is_none());
        let rules = rules.unwrap();
        assert_eq!(rules.defaults.calls_per_minute, Setting::Set(30));
        assert_eq!(rules.defaults.max_cost, Setting::Set(Decimal::new(2000, 2)));
        assert_eq!((rules.defaults.night_from, rules.defaults.night_until), (Some(0), Some(6 * 3600)));
        assert_eq!(rules.prefix_lines, vec![("high-risk.csv".to_string(), 2)]);
        let (id, line, over) = &rules.customers[0];
        assert_eq!((id.as_str(), *line), ("C0007", 12));
        assert_eq!((over.calls_per_minute.clone(), over.max_cost.clone()), (Setting::Set(300), Setting::Off));
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "[velocity]\ncalls_per_minut = 3\ncountries_per_hour = 2.5\n[call]\nmax_cost = 20.0\n\
                    [night]\nfrom = \"25:00\"\ninternational_spend = \"-1\"\n[nights]\n[high_risk]\nprefixes = \"../x.csv\"\n\
                    [velocity2]\n";
        assert_eq!(
            problems(text),
            [
                "2: [velocity]: unknown key \"calls_per_minut\" (did you mean calls_per_minute?)",
                "3: countries_per_hour must be a whole number from 0 to 1000000",
                "5: max_cost: max_cost must be a quoted decimal, e.g. max_cost = \"20.00\"",
                "7: from must be a quoted local time \"HH:MM\" (00:00 to 23:59)",
                "8: international_spend: negative amounts are not allowed: \"-1\"",
                "9: unknown table \"nights\" (did you mean [night]?)",
                "11: prefixes must be the quoted name of a prefix,reason file in the rates folder",
                "12: unknown table \"velocity2\" (did you mean [velocity]?)",
            ]
        );
        assert_eq!(problems("[velocity\n")[0].split(':').next(), Some("1"));
        // `false` only in an override, and never for the window's times.
        assert_eq!(
            problems("[velocity]\ncalls_per_minute = false\n[customer.A]\nfrom = false\nmax_cots = \"1\"\n"),
            [
                "2: calls_per_minute must be a whole number from 0 to 1000000",
                "4: from must be a quoted local time \"HH:MM\" (00:00 to 23:59)",
                "5: [customer.A]: unknown key \"max_cots\" (did you mean max_cost?)",
            ]
        );
        assert_eq!(
            problems("[night]\nfrom = \"06:00\"\nuntil = \"06:00\"\ninternational_spend = \"1\"\n"),
            ["1: [night]: the night window is empty (from equals until)"]
        );
    }

    #[test]
    fn clock_times() {
        assert_eq!(clock_time("00:00", false), Some(0));
        assert_eq!(clock_time("23:59", false), Some(86_340));
        assert_eq!(clock_time("24:00", true), Some(86_400));
        for bad in ["24:00", "6:00", "06:60", "0600", "06:00:00", ""] {
            assert_eq!(clock_time(bad, false), None, "{bad}");
        }
        assert_eq!(clock_text(22 * 3600 + 30 * 60), "22:30");
    }

    #[test]
    fn high_risk_lists_report_every_bad_row() {
        let text =
            b"# sources: ITU-T E.164\nprefix,reason\n881,GMSS\n# a comment\n+882,x\n881,again\n883,\n12a,x\n1,2,3\n";
        let (rows, problems) = parse_high_risk(text);
        assert_eq!(rows, vec![("881".to_string(), "GMSS".to_string(), 3)]);
        let got: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.line.unwrap(), p.message)).collect();
        assert_eq!(
            got,
            [
                "5: prefix \"+882\" is not 1-15 digits of an E.164 number (without +)",
                "6: duplicate prefix 881 (first on line 3)",
                "7: prefix 883: the reason is empty",
                "8: prefix \"12a\" is not 1-15 digits of an E.164 number (without +)",
                "9: expected 2 fields (prefix,reason), found 3",
            ]
        );
        assert_eq!(
            parse_high_risk(b"number,why\n1,x\n").1[0].message,
            "header must be prefix,reason (found \"number,why\")"
        );
    }
}
