//! The `[custom]` table as written ([`Options`]) and as checked once, when
//! the configuration is loaded ([`Layout::compile`]): every problem named
//! by its key. See the parent module for the keys.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::csvscan::MAX_FIELDS;
use crate::timefmt::TimeFormat;

/// `[custom]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// The first line names the columns.
    pub header: bool,
    /// Field separator (one ASCII character).
    pub delimiter: String,
    /// Zone of local times (default: the source's).
    pub timezone: Option<String>,
    /// Call id column.
    pub call_id: Option<Column>,
    /// Start time column.
    pub start: Option<TimeColumn>,
    /// Account (customer id) column.
    pub account: Option<Column>,
    /// Calling number column.
    pub caller: Option<Column>,
    /// Called number column.
    pub callee: Option<Column>,
    /// Answered seconds column.
    pub billsec: Option<Column>,
    /// Answer time column: where talk starts; with `end`, billsec is end − answer.
    pub answer: Option<TimeColumn>,
    /// End time column (with `answer`, instead of `billsec`).
    pub end: Option<TimeColumn>,
    /// Disposition column (informational).
    pub disposition: Option<Column>,
    /// Rows to skip.
    pub skip: Vec<SkipRule>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            header: true,
            delimiter: ",".into(),
            timezone: None,
            call_id: None,
            start: None,
            account: None,
            caller: None,
            callee: None,
            billsec: None,
            answer: None,
            end: None,
            disposition: None,
            skip: Vec::new(),
        }
    }
}

/// A column: a header name or a 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// Found by name in the header line.
    Name(String),
    /// Position in the row, from 0.
    Index(usize),
}

impl<'de> Deserialize<'de> for Column {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ColumnVisitor)
    }
}

struct ColumnVisitor;

impl<'de> Visitor<'de> for ColumnVisitor {
    type Value = Column;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name (string) or a 0-based column index (integer)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Column, E> {
        Ok(Column::Name(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Column, E> {
        usize::try_from(v).map(Column::Index).map_err(|_| E::custom(format!("column index {v} is negative")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Column, E> {
        usize::try_from(v).map(Column::Index).map_err(|_| E::custom(format!("column index {v} is too large")))
    }
}

/// A time column: `{ column = ..., format = ... }`, or just the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeColumn {
    /// Where the time is.
    pub column: Column,
    /// How it is written (strftime subset); `None`: the generic rule.
    pub format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeTable {
    column: Column,
    format: Option<String>,
}

impl<'de> Deserialize<'de> for TimeColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimeVisitor)
    }
}

struct TimeVisitor;

impl<'de> Visitor<'de> for TimeVisitor {
    type Value = TimeColumn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table { column = ..., format = ... } or a column name or index")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeColumn, E> {
        Ok(TimeColumn { column: ColumnVisitor.visit_str(v)?, format: None })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeColumn, E> {
        Ok(TimeColumn { column: ColumnVisitor.visit_i64(v)?, format: None })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeColumn, E> {
        Ok(TimeColumn { column: ColumnVisitor.visit_u64(v)?, format: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TimeColumn, A::Error> {
        let t = TimeTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(TimeColumn { column: t.column, format: t.format })
    }
}

/// `skip = [{ column = ..., equals = "..." }]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipRule {
    /// The field to look at.
    pub column: Column,
    /// The value that makes the row skipped.
    pub equals: String,
}

/// A time column, checked.
#[derive(Debug, Clone)]
pub(super) struct Timed {
    pub(super) column: Column,
    pub(super) format: Option<TimeFormat>,
}

/// Where billsec comes from.
#[derive(Debug, Clone)]
pub(super) enum Duration {
    Billsec(Column),
    /// End − answer (the layout then has an answer column).
    Span {
        end: Timed,
    },
}

/// A checked layout.
#[derive(Debug, Clone)]
pub struct Layout {
    pub(super) header: bool,
    pub(super) delimiter: u8,
    pub(super) timezone: Option<jiff::tz::TimeZone>,
    pub(super) call_id: Option<Column>,
    pub(super) start: Timed,
    pub(super) account: Option<Column>,
    pub(super) caller: Column,
    pub(super) callee: Column,
    pub(super) answer: Option<Timed>,
    pub(super) duration: Duration,
    pub(super) disposition: Option<Column>,
    pub(super) skip: Vec<(Column, Box<[u8]>)>,
}

impl Layout {
    /// Whether the layout names an account (customer id) column.
    pub fn has_account(&self) -> bool {
        self.account.is_some()
    }

    /// Checks a layout; every problem is reported as `key: problem`.
    pub fn compile(o: &Options) -> Result<Layout, Vec<String>> {
        let mut problems = Vec::new();
        let delimiter = match o.delimiter.as_bytes() {
            [d] if d.is_ascii() && !matches!(d, b'"' | b'\n' | b'\r') => *d,
            _ => {
                problems.push(format!(
                    "delimiter: must be one ASCII character other than '\"', CR and LF, not {:?}",
                    o.delimiter
                ));
                b','
            }
        };
        let timezone = o.timezone.as_ref().and_then(|tz| match jiff::tz::TimeZone::get(tz) {
            Ok(z) => Some(z),
            Err(_) => {
                problems.push(format!("timezone: unknown time zone {tz:?}"));
                None
            }
        });
        let header = o.header;
        let p = &mut problems;
        let call_id = column("call_id", o.call_id.as_ref(), false, header, p);
        let start = time_column("start", o.start.as_ref(), true, header, p);
        let account = column("account", o.account.as_ref(), false, header, p);
        let caller = column("caller", o.caller.as_ref(), true, header, p);
        let callee = column("callee", o.callee.as_ref(), true, header, p);
        let billsec = column("billsec", o.billsec.as_ref(), false, header, p);
        let answer = time_column("answer", o.answer.as_ref(), false, header, p);
        let end = time_column("end", o.end.as_ref(), false, header, p);
        let disposition = column("disposition", o.disposition.as_ref(), false, header, p);
        let duration = match (billsec, end) {
            _ if o.billsec.is_some() && o.end.is_some() => {
                p.push("billsec: give either billsec or end (billsec = end - answer), not both".into());
                None
            }
            _ if o.end.is_some() && o.answer.is_none() => {
                p.push("answer: missing (end needs answer)".into());
                None
            }
            (Some(b), _) => Some(Duration::Billsec(b)),
            (None, Some(end)) => Some(Duration::Span { end }),
            (None, None) if o.billsec.is_none() && o.end.is_none() => {
                p.push(match o.answer {
                    Some(_) => "end: missing (answer needs end, or give billsec)".into(),
                    None => "billsec: missing (give billsec, or answer and end)".into(),
                });
                None
            }
            // The given billsec or end has a problem, reported.
            (None, None) => None,
        };
        let mut skip = Vec::with_capacity(o.skip.len());
        for (i, rule) in o.skip.iter().enumerate() {
            check_column(&format!("skip[{i}].column"), &rule.column, header, p);
            skip.push((rule.column.clone(), rule.equals.trim().as_bytes().to_vec().into_boxed_slice()));
        }
        match (start, caller, callee, duration) {
            (Some(start), Some(caller), Some(callee), Some(duration)) if problems.is_empty() => Ok(Layout {
                header,
                delimiter,
                timezone,
                call_id,
                start,
                account,
                caller,
                callee,
                answer,
                duration,
                disposition,
                skip,
            }),
            _ => Err(problems),
        }
    }

    /// Whether files start with a header line.
    pub fn has_header(&self) -> bool {
        self.header
    }

    /// Field delimiter.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Zone of local times, if the layout names one.
    pub fn timezone(&self) -> Option<jiff::tz::TimeZone> {
        self.timezone.clone()
    }

    /// Every column the layout uses with the key that names it, in key order.
    pub(super) fn columns(&self) -> Vec<(&'static str, &Column)> {
        let mut v = Vec::new();
        if let Some(c) = &self.call_id {
            v.push(("call_id", c));
        }
        v.push(("start", &self.start.column));
        if let Some(c) = &self.account {
            v.push(("account", c));
        }
        v.push(("caller", &self.caller));
        v.push(("callee", &self.callee));
        if let Duration::Billsec(c) = &self.duration {
            v.push(("billsec", c));
        }
        if let Some(a) = &self.answer {
            v.push(("answer", &a.column));
        }
        if let Duration::Span { end } = &self.duration {
            v.push(("end", &end.column));
        }
        if let Some(c) = &self.disposition {
            v.push(("disposition", c));
        }
        v.extend(self.skip.iter().map(|(c, _)| ("skip", c)));
        v
    }
}

/// Checks a column reference: a name needs a header, an index must be one
/// a row can have.
fn check_column(key: &str, c: &Column, header: bool, problems: &mut Vec<String>) {
    match c {
        Column::Name(n) if n.trim().is_empty() => problems.push(format!("{key}: empty column name")),
        Column::Name(n) if !header => problems
            .push(format!("{key}: a column name ({n:?}) needs header = true; without a header give a 0-based index")),
        Column::Index(i) if *i >= MAX_FIELDS => {
            problems.push(format!("{key}: column index {i} is beyond the {MAX_FIELDS} columns a row may have"))
        }
        _ => {}
    }
}

/// A column key: checked, and reported missing when required.
fn column(key: &str, c: Option<&Column>, required: bool, header: bool, problems: &mut Vec<String>) -> Option<Column> {
    match c {
        Some(c) => {
            check_column(key, c, header, problems);
            Some(c.clone())
        }
        None => {
            if required {
                problems.push(format!("{key}: missing"));
            }
            None
        }
    }
}

/// A time column key: its column checked and its format compiled. `None`
/// when absent or when it has a problem (reported).
fn time_column(
    key: &str,
    t: Option<&TimeColumn>,
    required: bool,
    header: bool,
    problems: &mut Vec<String>,
) -> Option<Timed> {
    let Some(t) = t else {
        if required {
            problems.push(format!("{key}: missing"));
        }
        return None;
    };
    let before = problems.len();
    check_column(&format!("{key}.column"), &t.column, header, problems);
    let format = match t.format.as_deref().map(TimeFormat::compile) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            problems.push(format!("{key}.format: {e}"));
            None
        }
    };
    (problems.len() == before).then(|| Timed { column: t.column.clone(), format })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::custom::tests::{layout, options, problems, DOC};

    #[test]
    fn the_documented_layout_compiles() {
        let l = layout(DOC);
        assert!(l.has_header());
        assert_eq!(l.delimiter(), b';');
        assert_eq!(l.timezone(), Some(jiff::tz::TimeZone::UTC));
        // Defaults.
        let l = layout("caller = 0\ncallee = 1\nstart = 2\nbillsec = 3\n");
        assert!(l.has_header());
        assert_eq!(l.delimiter(), b',');
        assert_eq!(l.timezone(), None);
        assert!(
            layout("header = false\ndelimiter = \"\\t\"\ncaller = 0\ncallee = 1\nstart = 2\nbillsec = 3\n").delimiter()
                == b'\t'
        );
    }

    #[test]
    fn every_config_error_names_its_key() {
        let base = "caller = \"src\"\ncallee = \"dst\"\nstart = \"start\"\nbillsec = \"billsec\"\n";
        for (extra_or_text, want) in [
            ("delimiter = \";;\"\n", "delimiter: must be one ASCII character"),
            ("delimiter = \"\"\n", "delimiter: must be one ASCII character"),
            ("delimiter = \"\\\"\"\n", "delimiter: must be one ASCII character"),
            ("delimiter = \"\\n\"\n", "delimiter: must be one ASCII character"),
            ("delimiter = \"§\"\n", "delimiter: must be one ASCII character"),
            ("timezone = \"Mars/Base\"\n", "timezone: unknown time zone \"Mars/Base\""),
            ("header = false\n", "caller: a column name (\"src\") needs header = true"),
            ("account = \"\"\n", "account: empty column name"),
            ("call_id = 128\n", "call_id: column index 128 is beyond the 128 columns"),
            ("disposition = 500\n", "disposition: column index 500"),
            ("skip = [{ column = 200, equals = \"x\" }]\n", "skip[0].column: column index 200"),
            ("end = \"e\"\n", "billsec: give either billsec or end (billsec = end - answer), not both"),
        ] {
            let p = problems(&format!("{base}{extra_or_text}"));
            assert!(p.iter().any(|m| m.starts_with(want)), "{extra_or_text}: {p:?}");
        }
        // Whole layouts.
        for (text, want) in [
            ("callee = 1\nstart = 2\nbillsec = 3\n", "caller: missing"),
            ("caller = 0\nstart = 2\nbillsec = 3\n", "callee: missing"),
            ("caller = 0\ncallee = 1\nbillsec = 3\n", "start: missing"),
            ("caller = 0\ncallee = 1\nstart = 2\n", "billsec: missing (give billsec, or answer and end)"),
            ("caller = 0\ncallee = 1\nstart = 2\nanswer = 3\n", "end: missing (answer needs end, or give billsec)"),
            ("caller = 0\ncallee = 1\nstart = 2\nend = 3\n", "answer: missing (end needs answer)"),
            ("caller = 0\ncallee = 1\nstart = 2\nbillsec = 3\nend = 4\n", "billsec: give either billsec or end"),
            ("caller = 0\ncallee = 1\nstart = 2\nbillsec = 3\nanswer = 3\nend = 4\n", "billsec: give either"),
            (
                "caller = 0\ncallee = 1\nstart = { column = 2, format = \"%d.%m.%Y %H:%M:%Q\" }\nbillsec = 3\n",
                "start.format: unsupported directive %Q",
            ),
            (
                "caller = 0\ncallee = 1\nstart = 2\nanswer = { column = 3, format = \"%s %H\" }\nend = 4\n",
                "answer.format: %s (epoch seconds) cannot be combined",
            ),
            (
                "caller = 0\ncallee = 1\nstart = 2\nanswer = 3\nend = { column = 4, format = \"%H:%M\" }\n",
                "end.format: lacks the year",
            ),
            (
                "header = false\ncaller = 0\ncallee = 1\nstart = { column = \"start\" }\nbillsec = 3\n",
                "start.column: a column name (\"start\") needs header = true",
            ),
            (
                "header = false\ncaller = 0\ncallee = 1\nstart = 2\nbillsec = 3\n\
                 skip = [{ column = \"dir\", equals = \"in\" }]\n",
                "skip[0].column: a column name (\"dir\") needs header = true",
            ),
        ] {
            let p = problems(text);
            assert!(p.iter().any(|m| m.starts_with(want)), "{text}: {p:?}");
        }
        // Every problem at once, in key order.
        let p = problems("header = false\ndelimiter = \"ab\"\ntimezone = \"X/Y\"\ncallee = \"dst\"\n");
        assert_eq!(
            p,
            [
                "delimiter: must be one ASCII character other than '\"', CR and LF, not \"ab\"",
                "timezone: unknown time zone \"X/Y\"",
                "start: missing",
                "caller: missing",
                "callee: a column name (\"dst\") needs header = true; without a header give a 0-based index",
                "billsec: missing (give billsec, or answer and end)",
            ]
        );
    }

    #[test]
    fn toml_shapes() {
        // Unknown keys are refused, in [custom] and in its tables.
        assert!(toml::from_str::<Options>("colour = 1\n").is_err());
        assert!(toml::from_str::<Options>("start = { column = 1, fmt = \"%s\" }\n").is_err());
        assert!(toml::from_str::<Options>("skip = [{ column = 1, equal = \"x\" }]\n").is_err());
        // A negative index or another type is refused with a clear message.
        let e = toml::from_str::<Options>("caller = -1\n").unwrap_err().to_string();
        assert!(e.contains("column index -1 is negative"), "{e}");
        let e = toml::from_str::<Options>("caller = 1.5\n").unwrap_err().to_string();
        assert!(e.contains("a column name (string) or a 0-based column index (integer)"), "{e}");
        // A time column may be a bare column.
        let o = options("start = \"s\"\nanswer = 4\nend = { column = \"e\", format = \"%s\" }\n");
        assert_eq!(o.start, Some(TimeColumn { column: Column::Name("s".into()), format: None }));
        assert_eq!(o.answer, Some(TimeColumn { column: Column::Index(4), format: None }));
        assert_eq!(o.end, Some(TimeColumn { column: Column::Name("e".into()), format: Some("%s".into()) }));
    }
}
