//! `custom`: a CSV layout described in configuration, for switches no
//! built-in format knows.
//!
//! The layout is the `[custom]` table (or `[source.custom]` for one source;
//! a source without one uses the top-level `[custom]`). It is checked and
//! compiled once when the configuration is loaded; errors name the key
//! (`custom.start.format: unsupported directive %Q`).
//!
//! ```toml
//! [custom]
//! header = true            # the first line names the columns (default true)
//! delimiter = ";"          # one ASCII character, not `"` or a line break (default ",")
//! timezone = "UTC"         # zone of local times (default: the source's timezone)
//! call_id = "uuid"         # optional: without it (or when empty) the id is FILE:LINE
//! start = { column = "start", format = "%d.%m.%Y %H:%M:%S" }
//! account = "acct"         # optional: the customer id; else numbers.csv or the source's customer
//! caller = "src"
//! callee = "dst"
//! billsec = "billsec"      # answered seconds; or answer + end instead:
//! # answer = { column = "answer", format = "%s" }
//! # end = { column = "end", format = "%s" }
//! disposition = "status"   # optional, informational only
//! skip = [ { column = "direction", equals = "inbound" } ]
//! ```
//!
//! Keys:
//! - `header` (bool, default `true`): the first line of every file names the
//!   columns; it is not a call, and it heads the unrated output.
//! - `delimiter` (default `","`): the field separator, one ASCII character
//!   other than `"`, CR or LF (`"\t"` for tab-separated files).
//! - `timezone` (optional): the zone local times are in; default the
//!   source's `timezone` (or the top-level one).
//! - columns: `call_id`, `account`, `caller`, `callee`, `billsec`,
//!   `disposition` and the `column` of a time or skip rule are each a header
//!   name (a string: trimmed, matched exactly or else in any case; needs
//!   `header = true`) or a 0-based index (an integer below 128). A name the
//!   file's header lacks makes the whole file fail
//!   (`header lacks required column(s)`), like a generic file.
//! - `caller`, `callee`, `start` are required. `call_id` is optional
//!   (`FILE:LINE` ids without it, or where it is empty); `account` is optional
//!   (empty: `numbers.csv` or the source's `customer` decide); `disposition`
//!   is optional and only informational (it must exist, but is not used).
//! - `start`, `answer`, `end`: a time column, `{ column = ..., format = ... }`
//!   or just the column (`start = "start"`). Without `format` a time is read
//!   like a generic one: RFC 3339 with an offset, or local
//!   `YYYY-MM-DD HH:MM:SS`. `format` is a strftime subset:
//!   - `%Y` 4-digit year, `%y` 2-digit year (69-99: 19xx, 00-68: 20xx),
//!     `%m` month, `%d` day, `%e` day (may be space-padded), `%H` hour (00-23),
//!     `%M` minute, `%S` second (optional: 0 when absent) — each 1 or 2
//!     digits, except `%Y`;
//!   - `%b` English month name, abbreviated (`Mar`) or in full (`March`),
//!     any case;
//!   - `%f` a fraction of a second (digits, dropped), e.g. `%S.%f`;
//!   - `%z` UTC offset `+hhmm`, `+hh:mm`, `+hh` or `Z`: the time is an exact
//!     instant, `timezone` does not apply;
//!   - `%s` epoch seconds (UTC): an exact instant; only with `%f` and
//!     literals, never with date, time or offset directives;
//!   - `%T` = `%H:%M:%S`, `%F` = `%Y-%m-%d`, `%%` a `%`; any other byte
//!     must be there as written.
//!
//!   Without `%s`, a format needs a year, a month, a day, an hour and a
//!   minute, each once. A local time is resolved in `timezone` (a time
//!   that occurs twice at a DST change is the earlier instant; one that does
//!   not exist moves forward by the gap). The whole field (blanks trimmed)
//!   must match, else the row is rejected (`bad_start_time` for `start`,
//!   `bad_billsec` for `answer` and `end`).
//! - `billsec` (a column, whole seconds) **or** `answer` and `end` (both time
//!   columns): billsec = end − answer in seconds. An empty answer time (or
//!   `0` when its format is `%s`) is an unanswered call: billsec 0. An end
//!   before the answer, or a time that does not parse, is `bad_billsec`.
//! - `skip`: rules `{ column = ..., equals = "..." }`; a row whose field (quotes
//!   removed, blanks trimmed) equals the text (blanks trimmed; case matters;
//!   `""` matches an empty field) is skipped — counted as `skip_rule` in the
//!   summary, not written to any output. Any rule matching skips the row. The
//!   rules are tried after the field count check, before anything is parsed.
//!
//! Rows need at least as many fields as the highest column the layout uses
//! (`field_count` otherwise); more are fine. Unrated rows are written as read
//! (with the file's delimiter), so the unrated output repeats the file's
//! header line; a headerless layout heads it with the keys of its columns up
//! to the highest used (`start,caller,column2,callee,…`: `columnN` for the
//! 0-based columns it does not use), joined by the layout's delimiter.
//!
//! Every row is parsed without allocating: names are resolved to positions
//! once per file ([`Custom::new`]) and time formats compiled to a list of
//! steps once per layout ([`Layout::compile`]).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::cucm::utc_stamp;
use super::{
    finish, value, BillsecField, Call, CallId, FormatError, NotCall, ParseContext, RawCall, Reject, RowParser, Skip,
    StartField,
};
use crate::csvscan::{Fields, Record, MAX_FIELDS};
use crate::timefmt::{parse_start, Stamp};

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
    /// Answer time column (with `end`, instead of `billsec`).
    pub answer: Option<TimeColumn>,
    /// End time column (with `answer`).
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
struct Timed {
    column: Column,
    format: Option<TimeFormat>,
}

/// Where billsec comes from.
#[derive(Debug, Clone)]
enum Duration {
    Billsec(Column),
    Span { answer: Timed, end: Timed },
}

/// A checked layout.
#[derive(Debug, Clone)]
pub struct Layout {
    header: bool,
    delimiter: u8,
    timezone: Option<jiff::tz::TimeZone>,
    call_id: Option<Column>,
    start: Timed,
    account: Option<Column>,
    caller: Column,
    callee: Column,
    duration: Duration,
    disposition: Option<Column>,
    skip: Vec<(Column, Box<[u8]>)>,
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
        let duration = match (billsec, o.answer.is_some() || o.end.is_some()) {
            (Some(_), true) => {
                p.push("billsec: give either billsec or answer and end, not both".into());
                None
            }
            (Some(b), false) => Some(Duration::Billsec(b)),
            (None, _) => match (answer, end, o.answer.is_some(), o.end.is_some()) {
                (Some(answer), Some(end), _, _) => Some(Duration::Span { answer, end }),
                (_, _, true, false) => {
                    p.push("end: missing (answer needs end)".into());
                    None
                }
                (_, _, false, true) => {
                    p.push("answer: missing (end needs answer)".into());
                    None
                }
                (_, _, false, false) => {
                    p.push("billsec: missing (give billsec, or answer and end)".into());
                    None
                }
                // answer and end are both given; one of them has a problem, reported.
                _ => None,
            },
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
    fn columns(&self) -> Vec<(&'static str, &Column)> {
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
        match &self.duration {
            Duration::Billsec(c) => v.push(("billsec", c)),
            Duration::Span { answer, end } => {
                v.push(("answer", &answer.column));
                v.push(("end", &end.column));
            }
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

/// Where billsec comes from in one file.
#[derive(Debug, Clone)]
enum Billsec {
    Column(usize),
    Span { answer: usize, answer_format: Option<TimeFormat>, end: usize, end_format: Option<TimeFormat> },
}

/// The parser of one file of a custom layout.
#[derive(Debug, Clone)]
pub struct Custom {
    call_id: Option<usize>,
    start: usize,
    start_format: Option<TimeFormat>,
    account: Option<usize>,
    caller: usize,
    callee: usize,
    billsec: Billsec,
    skip: Vec<(usize, Box<[u8]>)>,
    /// Fields a row needs: one more than the highest column used.
    width: usize,
    /// Names for the unrated output's header (`None`: the file's header line).
    names: Option<Vec<String>>,
}

impl Custom {
    /// Resolves the layout's columns against the header (the unquoted field
    /// values of the first line, when the layout has one).
    pub fn new(layout: &Layout, header: Option<&[&[u8]]>) -> Result<Custom, FormatError> {
        let header = header.filter(|_| layout.header);
        // A layout with a header but a file without one (an empty file):
        // nothing to resolve names against, and no row to parse.
        let unresolved = layout.header && header.is_none();
        let mut missing: Vec<String> = Vec::new();
        let mut at = |c: &Column| -> usize {
            match (c, header) {
                (Column::Index(i), _) => *i,
                (Column::Name(n), Some(h)) => {
                    let want = n.trim().as_bytes();
                    let found = h
                        .iter()
                        .position(|x| x.trim_ascii() == want)
                        .or_else(|| h.iter().position(|x| x.trim_ascii().eq_ignore_ascii_case(want)));
                    found.unwrap_or_else(|| {
                        if !missing.contains(n) {
                            missing.push(n.clone());
                        }
                        0
                    })
                }
                (Column::Name(_), None) => 0,
            }
        };
        let call_id = layout.call_id.as_ref().map(&mut at);
        let start = at(&layout.start.column);
        let account = layout.account.as_ref().map(&mut at);
        let caller = at(&layout.caller);
        let callee = at(&layout.callee);
        let billsec = match &layout.duration {
            Duration::Billsec(c) => Billsec::Column(at(c)),
            Duration::Span { answer, end } => Billsec::Span {
                answer: at(&answer.column),
                answer_format: answer.format.clone(),
                end: at(&end.column),
                end_format: end.format.clone(),
            },
        };
        let skip: Vec<(usize, Box<[u8]>)> = layout.skip.iter().map(|(c, v)| (at(c), v.clone())).collect();
        let used: Vec<usize> = layout.columns().into_iter().map(|(_, c)| at(c)).collect();
        if !missing.is_empty() {
            return Err(FormatError::MissingColumns(missing));
        }
        let width = if unresolved { usize::MAX } else { used.iter().max().map_or(0, |m| m + 1) };
        let names = if unresolved {
            // In key order, as configured.
            Some(
                layout
                    .columns()
                    .into_iter()
                    .map(|(key, c)| match c {
                        Column::Name(n) => n.trim().to_string(),
                        Column::Index(_) => key.to_string(),
                    })
                    .collect(),
            )
        } else if layout.header {
            None
        } else {
            let columns = layout.columns();
            Some(
                (0..width)
                    .map(|i| match columns.iter().zip(&used).find(|(_, u)| **u == i) {
                        Some(((key, _), _)) if *key != "skip" => key.to_string(),
                        _ => format!("column{i}"),
                    })
                    .collect(),
            )
        };
        // The unrated rows keep the file's delimiter: so does their header.
        let names = names.map(|n: Vec<String>| match layout.delimiter {
            b',' => n,
            d => vec![n.join(&char::from(d).to_string())],
        });
        Ok(Custom {
            call_id,
            start,
            start_format: layout.start.format.clone(),
            account,
            caller,
            callee,
            billsec,
            skip,
            width,
            names,
        })
    }

    /// Column names for the unrated file's header (`None`: the file's header).
    pub fn column_names(&self) -> Option<Vec<String>> {
        self.names.clone()
    }
}

impl RowParser for Custom {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, f: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        let r = record.raw;
        if f.len() < self.width {
            return Err(Reject::FieldCount.into());
        }
        if self.skip.iter().any(|(i, v)| value(f.raw(r, *i)) == &v[..]) {
            return Err(NotCall::Skip(Skip::SkipRule));
        }
        let call_id = match self.call_id {
            Some(i) if !value(f.raw(r, i)).is_empty() => CallId::Field(f.raw(r, i)),
            _ => CallId::FileLine,
        };
        let raw_start = f.raw(r, self.start);
        let start = match &self.start_format {
            None => StartField::Text(raw_start),
            Some(tf) => match tf.parse(value(raw_start)) {
                Some((s, true)) => StartField::Exact(s),
                Some((s, false)) => StartField::Local(s),
                None => StartField::Bad,
            },
        };
        let billsec = match &self.billsec {
            Billsec::Column(i) => BillsecField::Text(f.raw(r, *i)),
            Billsec::Span { answer, answer_format, end, end_format } => {
                let a = value(f.raw(r, *answer));
                let unanswered =
                    a.is_empty() || (a == b"0" && answer_format.as_ref().is_some_and(TimeFormat::is_epoch));
                if unanswered {
                    BillsecField::Seconds(0)
                } else {
                    let a = instant(a, answer_format.as_ref(), cx);
                    let e = instant(value(f.raw(r, *end)), end_format.as_ref(), cx);
                    match (a, e) {
                        (Some(a), Some(e)) => e
                            .checked_sub(a)
                            .and_then(|d| u32::try_from(d).ok())
                            .map_or(BillsecField::Bad, BillsecField::Seconds),
                        _ => BillsecField::Bad,
                    }
                }
            }
        };
        finish(
            RawCall {
                call_id,
                start,
                account: self.account.map_or(&[][..], |i| f.raw(r, i)),
                caller: f.raw(r, self.caller),
                callee: f.raw(r, self.callee),
                callee_is_extension: false,
                billsec,
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}

/// Seconds since the epoch of a time value (blanks trimmed, unquoted).
#[inline]
fn instant(v: &[u8], format: Option<&TimeFormat>, cx: &mut ParseContext<'_>) -> Option<i64> {
    match format {
        None => Some(parse_start(v, cx.zone)?.epoch_seconds()),
        Some(tf) => match tf.parse(v)? {
            (s, true) => Some(s.epoch_seconds()),
            (s, false) => cx.zone.resolve_epoch(s),
        },
    }
}

/// One step of a compiled time format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `%Y`: four digits.
    Year,
    /// `%y`: two digits.
    Year2,
    /// `%m`.
    Month,
    /// `%b`.
    MonthName,
    /// `%d`.
    Day,
    /// `%e`: an optional pad space, then the day.
    DaySpace,
    /// `%H`.
    Hour,
    /// `%M`.
    Minute,
    /// `%S`.
    Second,
    /// `%f`: digits, dropped.
    Fraction,
    /// `%s`.
    Epoch,
    /// `%z`.
    Offset,
    /// A byte that must be there.
    Literal(u8),
}

/// The directives a format may use, for error messages.
const SUPPORTED: &str = "%Y %y %m %b %d %e %H %M %S %f %s %z %T %F %%";

/// A time format compiled from a strftime subset (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    steps: Box<[Step]>,
    /// The same format with every field at full width, when it has one.
    fixed: Option<FixedWidth>,
}

/// Marks a digit position in [`FixedWidth::template`].
const DIGIT: u8 = 0;
/// A field [`FixedWidth::at`] does not have.
const NONE: u8 = u8::MAX;

/// A layout of only full-width numbers and non-digit literals
/// (`%d.%m.%Y %H:%M:%S`): the common case, parsed at fixed positions
/// without the step loop. A value it does not match (a one-digit day) goes
/// through the steps, so results are the same either way: with non-digit
/// literals between them, full-width numbers are read the same by both.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FixedWidth {
    /// Per byte: [`DIGIT`] or the literal expected there.
    template: Box<[u8]>,
    /// Positions of year (4 digits, or 2 with `two_digit_year`), month,
    /// day, hour, minute, second (2 digits each; [`NONE`] for no seconds).
    at: [u8; 6],
    two_digit_year: bool,
}

impl FixedWidth {
    fn new(steps: &[Step]) -> Option<FixedWidth> {
        let mut template = Vec::new();
        let mut at = [NONE; 6];
        let mut two_digit_year = false;
        for step in steps {
            let (slot, width) = match *step {
                Step::Literal(c) if !c.is_ascii_digit() => {
                    template.push(c);
                    continue;
                }
                Step::Year => (0, 4),
                Step::Year2 => {
                    two_digit_year = true;
                    (0, 2)
                }
                Step::Month => (1, 2),
                Step::Day => (2, 2),
                Step::Hour => (3, 2),
                Step::Minute => (4, 2),
                Step::Second => (5, 2),
                _ => return None,
            };
            at[slot] = u8::try_from(template.len()).ok().filter(|&p| p != NONE)?;
            template.extend(std::iter::repeat_n(DIGIT, width));
        }
        // Every field must be there (the seconds are optional in a format).
        if at[..5].contains(&NONE) {
            return None;
        }
        Some(FixedWidth { template: template.into_boxed_slice(), at, two_digit_year })
    }

    /// The civil time of `b` when it matches the template exactly.
    #[inline]
    fn parse(&self, b: &[u8]) -> Option<Stamp> {
        if b.len() != self.template.len() {
            return None;
        }
        let mut ok = true;
        for (&c, &t) in b.iter().zip(self.template.iter()) {
            ok &= if t == DIGIT { c.wrapping_sub(b'0') < 10 } else { c == t };
        }
        if !ok {
            return None;
        }
        let two = |i: u8| (b[usize::from(i)] - b'0') * 10 + (b[usize::from(i) + 1] - b'0');
        let [y, mo, d, h, mi, s] = self.at;
        let year = if self.two_digit_year {
            let y = u16::from(two(y));
            if y < 69 {
                2000 + y
            } else {
                1900 + y
            }
        } else {
            u16::from(two(y)) * 100 + u16::from(two(y + 2))
        };
        let second = if s == NONE { 0 } else { two(s) };
        Some(Stamp { year, month: two(mo), day: two(d), hour: two(h), minute: two(mi), second, offset: 0 })
    }
}

impl TimeFormat {
    /// Compiles `format`; the error says what is wrong (without the key).
    pub fn compile(format: &str) -> Result<TimeFormat, String> {
        use Step::*;
        if format.is_empty() {
            return Err("empty format".into());
        }
        let mut steps = Vec::new();
        let mut rest = format;
        while let Some(at) = rest.find('%') {
            steps.extend(rest[..at].bytes().map(Literal));
            let mut chars = rest[at + 1..].chars();
            let directive = chars.next().ok_or("format ends with a lone %")?;
            match directive {
                'Y' => steps.push(Year),
                'y' => steps.push(Year2),
                'm' => steps.push(Month),
                'b' => steps.push(MonthName),
                'd' => steps.push(Day),
                'e' => steps.push(DaySpace),
                'H' => steps.push(Hour),
                'M' => steps.push(Minute),
                'S' => steps.push(Second),
                'f' => steps.push(Fraction),
                's' => steps.push(Epoch),
                'z' => steps.push(Offset),
                'T' => steps.extend([Hour, Literal(b':'), Minute, Literal(b':'), Second]),
                'F' => steps.extend([Year, Literal(b'-'), Month, Literal(b'-'), Day]),
                '%' => steps.push(Literal(b'%')),
                other => return Err(format!("unsupported directive %{other} (supported: {SUPPORTED})")),
            }
            rest = chars.as_str();
        }
        steps.extend(rest.bytes().map(Literal));
        let count = |kinds: &[Step]| steps.iter().filter(|s| kinds.contains(s)).count();
        let parts: [(&str, &[Step], &str); 9] = [
            ("year", &[Year, Year2], "%Y or %y"),
            ("month", &[Month, MonthName], "%m or %b"),
            ("day", &[Day, DaySpace], "%d or %e"),
            ("hour", &[Hour], "%H"),
            ("minute", &[Minute], "%M"),
            ("second", &[Second], "%S"),
            ("fraction", &[Fraction], "%f"),
            ("offset", &[Offset], "%z"),
            ("epoch seconds", &[Epoch], "%s"),
        ];
        for (what, kinds, directives) in parts {
            if count(kinds) > 1 {
                return Err(format!("the {what} ({directives}) appears more than once"));
            }
        }
        if count(&[Epoch]) == 1 {
            if count(&[Year, Year2, Month, MonthName, Day, DaySpace, Hour, Minute, Second, Offset]) > 0 {
                return Err("%s (epoch seconds) cannot be combined with date, time or offset directives".into());
            }
        } else {
            for (what, kinds, directives) in &parts[..5] {
                if count(kinds) == 0 {
                    return Err(format!("lacks the {what} ({directives})"));
                }
            }
        }
        let fixed = FixedWidth::new(&steps);
        Ok(TimeFormat { steps: steps.into_boxed_slice(), fixed })
    }

    /// Whether the format is epoch seconds.
    fn is_epoch(&self) -> bool {
        self.steps.contains(&Step::Epoch)
    }

    /// Parses a whole value: the civil time and whether it is exact (an
    /// offset or epoch seconds were given) or local. `None`: no match or an
    /// impossible date or time.
    #[inline]
    pub fn parse(&self, b: &[u8]) -> Option<(Stamp, bool)> {
        let b = b.trim_ascii();
        if let Some(s) = self.fixed.as_ref().and_then(|f| f.parse(b)) {
            return s.is_valid_civil().then_some((s, false));
        }
        self.parse_steps(b)
    }

    /// [`TimeFormat::parse`] step by step (any layout, any widths).
    fn parse_steps(&self, b: &[u8]) -> Option<(Stamp, bool)> {
        let mut s = Stamp { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, offset: 0 };
        let mut exact = false;
        let mut epoch = None;
        let mut p = 0usize;
        for step in self.steps.iter() {
            match *step {
                Step::Literal(c) => {
                    if b.get(p) != Some(&c) {
                        return None;
                    }
                    p += 1;
                }
                Step::Year => s.year = digits(b, &mut p, 4, 4)? as u16,
                Step::Year2 => {
                    let y = digits(b, &mut p, 2, 2)? as u16;
                    s.year = if y < 69 { 2000 + y } else { 1900 + y };
                }
                Step::Month => s.month = digits(b, &mut p, 1, 2)? as u8,
                Step::MonthName => s.month = month_name(b, &mut p)?,
                Step::Day => s.day = digits(b, &mut p, 1, 2)? as u8,
                Step::DaySpace => {
                    if b.get(p) == Some(&b' ') {
                        p += 1;
                    }
                    s.day = digits(b, &mut p, 1, 2)? as u8;
                }
                Step::Hour => s.hour = digits(b, &mut p, 1, 2)? as u8,
                Step::Minute => s.minute = digits(b, &mut p, 1, 2)? as u8,
                Step::Second => s.second = digits(b, &mut p, 1, 2)? as u8,
                Step::Fraction => {
                    let n = b[p..].iter().take_while(|c| c.is_ascii_digit()).count();
                    if n == 0 {
                        return None;
                    }
                    p += n;
                }
                Step::Epoch => epoch = Some(digits(b, &mut p, 1, 12)?),
                Step::Offset => {
                    s.offset = offset(b, &mut p)?;
                    exact = true;
                }
            }
        }
        if p != b.len() {
            return None;
        }
        if let Some(e) = epoch {
            return utc_stamp(e).map(|s| (s, true));
        }
        s.is_valid_civil().then_some((s, exact))
    }
}

/// Reads `min..=max` ASCII digits at `*p` (as many as there are, up to `max`).
#[inline]
fn digits(b: &[u8], p: &mut usize, min: usize, max: usize) -> Option<i64> {
    let mut v = 0i64;
    let mut n = 0;
    while n < max {
        match b.get(*p + n) {
            Some(c) if c.is_ascii_digit() => v = v * 10 + i64::from(c - b'0'),
            _ => break,
        }
        n += 1;
    }
    *p += n;
    (n >= min).then_some(v)
}

const MONTHS: [&[u8]; 12] = [
    b"january",
    b"february",
    b"march",
    b"april",
    b"may",
    b"june",
    b"july",
    b"august",
    b"september",
    b"october",
    b"november",
    b"december",
];

/// `%b`: an English month name, abbreviated to three letters or in full, any case.
#[inline]
fn month_name(b: &[u8], p: &mut usize) -> Option<u8> {
    let rest = &b[*p..];
    let abbr = rest.get(..3)?;
    let (i, name) = MONTHS.iter().enumerate().find(|(_, m)| m[..3].eq_ignore_ascii_case(abbr))?;
    let full = rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name);
    *p += if full { name.len() } else { 3 };
    Some(i as u8 + 1)
}

/// `%z`: `Z`, `+hh`, `+hhmm` or `+hh:mm` (or `-`), in seconds.
#[inline]
fn offset(b: &[u8], p: &mut usize) -> Option<i32> {
    let sign = match b.get(*p)? {
        b'Z' | b'z' => {
            *p += 1;
            return Some(0);
        }
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *p += 1;
    let start = *p;
    let h = digits(b, p, 2, 2)?;
    if *p != start + 2 {
        return None;
    }
    let mut m = 0;
    if b.get(*p) == Some(&b':') {
        *p += 1;
        m = digits(b, p, 2, 2)?;
    } else if b.get(*p).is_some_and(u8::is_ascii_digit) {
        m = digits(b, p, 2, 2)?;
    }
    (h < 24 && m < 60).then(|| sign * (h as i32 * 3600 + m as i32 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::numbers::{Number, Numbering};
    use crate::timefmt::ZoneCache;

    fn options(toml_text: &str) -> Options {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
    }

    fn layout(toml_text: &str) -> Layout {
        Layout::compile(&options(toml_text)).unwrap_or_else(|e| panic!("{toml_text}: {e:?}"))
    }

    fn problems(toml_text: &str) -> Vec<String> {
        Layout::compile(&options(toml_text)).expect_err(toml_text)
    }

    fn fields_of(line: &str, delimiter: u8) -> Vec<Vec<u8>> {
        let mut fields = Fields::default();
        let rec = Scanner::new(line.as_bytes(), 1, 1 << 16, delimiter).next_record(&mut fields).unwrap();
        (0..fields.len()).map(|i| fields.get(rec.raw, i).to_vec()).collect()
    }

    fn custom(l: &Layout, header: Option<&str>) -> Result<Custom, FormatError> {
        let names = header.map(|h| fields_of(h, l.delimiter()));
        let names: Option<Vec<&[u8]>> = names.as_ref().map(|n| n.iter().map(|x| &x[..]).collect());
        Custom::new(l, names.as_deref())
    }

    fn parse_with<T>(p: &Custom, delimiter: u8, line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
        parse_in(p, "Europe/Amsterdam", delimiter, line, f)
    }

    /// Parses with local times in `zone` (the pipeline passes the layout's
    /// `timezone`, else the source's).
    fn parse_in<T>(
        p: &Custom,
        zone: &str,
        delimiter: u8,
        line: &str,
        f: impl FnOnce(Result<Call<'_>, NotCall>) -> T,
    ) -> T {
        let mut fields = Fields::default();
        let record = Scanner::new(line.as_bytes(), 2, 1 << 16, delimiter).next_record(&mut fields).unwrap();
        let mut zone = ZoneCache::new(jiff::tz::TimeZone::get(zone).unwrap());
        let numbering = Numbering::default();
        let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
        f(p.parse(&record, &fields, &mut cx))
    }

    fn rfc(s: Stamp) -> String {
        let mut v = Vec::new();
        s.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    fn num(n: &Number) -> String {
        match n {
            Number::E164(n) => n.as_str().to_string(),
            Number::Internal => "internal".into(),
        }
    }

    /// The layout of the module doc.
    const DOC: &str = r#"
        header = true
        delimiter = ";"
        timezone = "UTC"
        call_id = "uuid"
        start = { column = "start", format = "%d.%m.%Y %H:%M:%S" }
        account = "acct"
        caller = "src"
        callee = "dst"
        billsec = "billsec"
        disposition = "status"
        skip = [ { column = "direction", equals = "inbound" } ]
    "#;
    const DOC_HEADER: &str = "uuid;direction;start;src;dst;billsec;status;acct";

    // ---- time formats ----

    fn at(format: &str, value: &str) -> Option<String> {
        TimeFormat::compile(format).unwrap().parse(value.as_bytes()).map(|(s, exact)| {
            let t = rfc(s);
            if exact {
                t
            } else {
                format!("local {}", &t[..19])
            }
        })
    }

    #[test]
    fn every_directive() {
        // %Y %m %d %H %M %S and literals.
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2026-11-24 09:15:07").unwrap(), "local 2026-11-24T09:15:07");
        // 1- or 2-digit fields.
        assert_eq!(at("%d.%m.%Y %H:%M:%S", "5.3.2026 9:05:07").unwrap(), "local 2026-03-05T09:05:07");
        // Packed digits.
        assert_eq!(at("%Y%m%d%H%M%S", "20260305090507").unwrap(), "local 2026-03-05T09:05:07");
        // %y: 69-99 are 19xx, 00-68 are 20xx.
        assert_eq!(at("%d/%m/%y %H:%M", "24/11/26 09:15").unwrap(), "local 2026-11-24T09:15:00");
        assert_eq!(at("%d/%m/%y %H:%M", "24/11/69 09:15").unwrap(), "local 1969-11-24T09:15:00");
        assert_eq!(at("%d/%m/%y %H:%M", "24/11/68 09:15").unwrap(), "local 2068-11-24T09:15:00");
        // %e: space-padded day; %b: month abbreviation or full name, any case.
        assert_eq!(at("%b %e %Y %T", "Mar  5 2026 09:05:07").unwrap(), "local 2026-03-05T09:05:07");
        assert_eq!(at("%b %e %Y %T", "mar 15 2026 09:05:07").unwrap(), "local 2026-03-15T09:05:07");
        assert_eq!(at("%e %b %Y %H:%M", "5 September 2026 10:00").unwrap(), "local 2026-09-05T10:00:00");
        assert_eq!(at("%d-%b-%Y %H:%M", "05-DEC-2026 10:00").unwrap(), "local 2026-12-05T10:00:00");
        // %f: a fraction, dropped.
        assert_eq!(at("%F %T.%f", "2026-11-24 09:15:07.123456").unwrap(), "local 2026-11-24T09:15:07");
        // %z: an exact instant.
        assert_eq!(at("%FT%T%z", "2026-11-24T09:15:07+0100").unwrap(), "2026-11-24T09:15:07+01:00");
        assert_eq!(at("%FT%T%z", "2026-11-24T09:15:07-04:30").unwrap(), "2026-11-24T09:15:07-04:30");
        assert_eq!(at("%FT%T%z", "2026-11-24T09:15:07Z").unwrap(), "2026-11-24T09:15:07Z");
        assert_eq!(at("%F %T %z", "2026-11-24 09:15:07 +05").unwrap(), "2026-11-24T09:15:07+05:00");
        // %s: epoch seconds, exact, UTC; with a fraction.
        assert_eq!(at("%s", "1764000000").unwrap(), "2025-11-24T16:00:00Z");
        assert_eq!(at("%s.%f", "1764000000.250").unwrap(), "2025-11-24T16:00:00Z");
        // %% and %T / %F.
        assert_eq!(at("%%%F %T", "%2026-11-24 09:15:07").unwrap(), "local 2026-11-24T09:15:07");
        // No %S: second 0. Blanks around the value are ignored.
        assert_eq!(at("%Y-%m-%d %H:%M", "  2026-11-24 09:15 ").unwrap(), "local 2026-11-24T09:15:00");
        // Non-ASCII literals match as written.
        assert_eq!(at("%d.%m.%Y um %H.%M Uhr", "24.11.2026 um 09.15 Uhr").unwrap(), "local 2026-11-24T09:15:00");
    }

    #[test]
    fn values_that_do_not_match() {
        for (format, value) in [
            ("%Y-%m-%d %H:%M:%S", "2026-11-24T09:15:07"),   // literal differs
            ("%Y-%m-%d %H:%M:%S", "2026-11-24 09:15:07 x"), // trailing text
            ("%Y-%m-%d %H:%M:%S", "2026-11-24 09:15"),      // too short
            ("%Y-%m-%d %H:%M:%S", "26-11-24 09:15:07"),     // %Y needs 4 digits
            ("%Y-%m-%d %H:%M:%S", "2026-02-29 09:15:07"),   // not a leap year
            ("%Y-%m-%d %H:%M:%S", "2024-02-30 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-13-01 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-00-01 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-00 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-01 24:00:00"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-01 10:60:00"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-01 10:00:60"),
            ("%Y-%m-%d %H:%M:%S", "0000-01-01 10:00:00"),
            ("%Y-%m-%d %H:%M:%S", ""),
            ("%b %d %Y %H:%M", "Mrz 05 2026 10:00"), // not English
            ("%F %T.%f", "2026-11-24 09:15:07."),    // %f needs a digit
            ("%FT%T%z", "2026-11-24T09:15:07"),      // %z missing
            ("%FT%T%z", "2026-11-24T09:15:07+1"),
            ("%FT%T%z", "2026-11-24T09:15:07+25:00"),
            ("%FT%T%z", "2026-11-24T09:15:07+01:60"),
            ("%FT%T%z", "2026-11-24T09:15:07 CET"),
            ("%s", "-5"),
            ("%s", "1764000000.5"),
            ("%s", "999999999999999"),
            ("%s", "253402300800"), // year 10000
        ] {
            assert_eq!(at(format, value), None, "{format} {value:?}");
        }
        assert_eq!(at("%s", "253402300799").unwrap(), "9999-12-31T23:59:59Z");
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2024-02-29 09:15:07").unwrap(), "local 2024-02-29T09:15:07");
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2000-02-29 09:15:07").unwrap(), "local 2000-02-29T09:15:07");
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2100-02-29 09:15:07"), None);
    }

    #[test]
    fn format_errors() {
        for (format, want) in [
            ("%d.%m.%Y %H:%M:%Q", "unsupported directive %Q (supported: %Y %y %m %b %d %e %H %M %S %f %s %z %T %F %%)"),
            ("%Y-%m-%d %I:%M", "unsupported directive %I"),
            ("%Y-%m-%d %H:%M %é", "unsupported directive %é"),
            ("%Y-%m-%d %H:%M%", "format ends with a lone %"),
            ("", "empty format"),
            ("%m-%d %H:%M", "lacks the year (%Y or %y)"),
            ("%Y-%d %H:%M", "lacks the month (%m or %b)"),
            ("%Y-%m %H:%M", "lacks the day (%d or %e)"),
            ("%F %M", "lacks the hour (%H)"),
            ("%F %H", "lacks the minute (%M)"),
            ("%F %T %Y", "the year (%Y or %y) appears more than once"),
            ("%F %T %H", "the hour (%H) appears more than once"),
            ("%F %T %z %z", "the offset (%z) appears more than once"),
            ("%s %H", "%s (epoch seconds) cannot be combined"),
            ("%s%z", "%s (epoch seconds) cannot be combined"),
            ("%s %s", "the epoch seconds (%s) appears more than once"),
        ] {
            let e = TimeFormat::compile(format).unwrap_err();
            assert!(e.starts_with(want), "{format:?}: {e}");
        }
    }

    // ---- configuration ----

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
            ("answer = \"a\"\n", "billsec: give either billsec or answer and end, not both"),
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
            ("caller = 0\ncallee = 1\nstart = 2\nanswer = 3\n", "end: missing (answer needs end)"),
            ("caller = 0\ncallee = 1\nstart = 2\nend = 3\n", "answer: missing (end needs answer)"),
            ("caller = 0\ncallee = 1\nstart = 2\nbillsec = 3\nend = 4\n", "billsec: give either billsec or answer"),
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

    // ---- files and rows ----

    #[test]
    fn names_resolve_against_the_header() {
        let l = layout(DOC);
        let p = custom(&l, Some(DOC_HEADER)).unwrap();
        assert_eq!((p.call_id, p.start, p.account, p.caller, p.callee), (Some(0), 2, Some(7), 3, 4));
        assert_eq!(p.width, 8);
        assert_eq!(p.column_names(), None);
        // Any case, blanks trimmed; indexes mix with names.
        let l = layout("caller = \"SRC\"\ncallee = 4\nstart = \" Start \"\nbillsec = \"billsec\"\n");
        let p = custom(&l, Some("uuid , start,src,x,y,BillSec")).unwrap();
        assert_eq!((p.caller, p.callee, p.start, p.width), (2, 4, 1, 6));
        // Names the header lacks: the file fails, every one named once.
        let l = layout(
            "caller = \"src\"\ncallee = \"dest\"\nstart = \"when\"\nbillsec = \"billsec\"\naccount = \"when\"\n",
        );
        let e = custom(&l, Some("src,dst,start,billsec")).unwrap_err();
        assert_eq!(e, FormatError::MissingColumns(vec!["when".into(), "dest".into()]));
    }

    #[test]
    fn a_documented_row_parses() {
        let l = layout(DOC);
        let p = custom(&l, Some(DOC_HEADER)).unwrap();
        let line = "a1;outbound;24.11.2026 09:15:07;0201234501;\"+44 20 7946 0000\";61;ANSWERED;C0001";
        parse_in(&p, "UTC", b';', line, |c| {
            let c = c.unwrap();
            assert_eq!(c.call_id, CallId::Field(b"a1"));
            assert_eq!(rfc(c.start), "2026-11-24T09:15:07Z");
            assert_eq!((c.account, c.caller, c.billsec), (&b"C0001"[..], &b"0201234501"[..], 61));
            assert_eq!(num(&c.number), "442079460000");
        });
        // The skip rule.
        let line = "a2;inbound;24.11.2026 09:15:07;0201234501;0201234567;61;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap_err(), NotCall::Skip(Skip::SkipRule)));
        let line = "a2;\" inbound \";24.11.2026 09:15:07;0201234501;0201234567;61;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap_err(), NotCall::Skip(Skip::SkipRule)));
        let line = "a2;Inbound;24.11.2026 09:15:07;0201234501;0201234567;61;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert!(c.is_ok()));
        // Rows need every used column; extra fields are fine.
        let line = "a3;outbound;24.11.2026 09:15:07;0201234501;0201234567;61;ANSWERED";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::FieldCount)));
        let line = "a3;outbound;24.11.2026 09:15:07;0201234501;0201234567;61;ANSWERED;C0001;x;y";
        parse_with(&p, b';', line, |c| assert!(c.is_ok()));
        // An empty call id: FILE:LINE.
        let line = ";outbound;24.11.2026 09:15:07;0201234501;0201234567;61;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap().call_id, CallId::FileLine));
        // Bad values.
        let line = "a4;outbound;24.11.2026 09:15;0201234501;0201234567;61;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadStartTime)));
        let line = "a5;outbound;24.11.2026 09:15:07;0201234501;0201234567;1.5;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadBillsec)));
        let line = "a6;outbound;24.11.2026 09:15:07;0201234501;;61;ANSWERED;C0001";
        parse_with(&p, b';', line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::EmptyCallee)));
    }

    #[test]
    fn headerless_layouts_use_indexes() {
        let l = layout(
            "header = false\ncaller = 2\ncallee = 3\nstart = 0\nanswer = 4\nend = 5\n\
             skip = [{ column = 7, equals = \"\" }]\n",
        );
        assert!(!l.has_header());
        let p = custom(&l, None).unwrap();
        assert_eq!(p.width, 8);
        assert_eq!(
            p.column_names().unwrap(),
            ["start", "column1", "caller", "callee", "answer", "end", "column6", "column7"]
        );
        // Generic-rule times (no format): local in the source's zone, or RFC 3339.
        let line = "2026-07-01 10:00:00,x,0201234501,0201234567,2026-07-01 10:00:05,2026-07-01T08:01:10Z,,ok";
        parse_with(&p, b',', line, |c| {
            let c = c.unwrap();
            assert_eq!(rfc(c.start), "2026-07-01T10:00:00+02:00");
            assert_eq!(c.billsec, 65);
            assert_eq!(c.call_id, CallId::FileLine);
            assert_eq!(c.account, b"");
        });
        // An empty skip column: skipped.
        let line = "2026-07-01 10:00:00,x,0201234501,0201234567,2026-07-01 10:00:05,2026-07-01T08:01:10Z,,";
        parse_with(&p, b',', line, |c| assert_eq!(c.unwrap_err(), NotCall::Skip(Skip::SkipRule)));
        // Unanswered: empty answer, billsec 0 (whatever the end).
        let line = "2026-07-01 10:00:00,x,0201234501,0201234567,,2026-07-01 10:00:30,,ok";
        parse_with(&p, b',', line, |c| assert_eq!(c.unwrap().billsec, 0));
        // End before answer, or an unparsable end: bad billsec.
        let line = "2026-07-01 10:00:00,x,0201234501,0201234567,2026-07-01 10:00:05,2026-07-01 10:00:04,,ok";
        parse_with(&p, b',', line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadBillsec)));
        let line = "2026-07-01 10:00:00,x,0201234501,0201234567,2026-07-01 10:00:05,,,ok";
        parse_with(&p, b',', line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadBillsec)));
        // A row shorter than the highest used column.
        parse_with(&p, b',', "2026-07-01 10:00:00,x,0201234501,0201234567,,,", |c| {
            assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::FieldCount))
        });
    }

    #[test]
    fn answer_and_end_across_dst_and_in_epoch_seconds() {
        let l = layout(
            "header = false\ncall_id = 0\ncaller = 1\ncallee = 2\nstart = { column = 3, format = \"%s\" }\n\
             answer = { column = 4, format = \"%s\" }\nend = { column = 5, format = \"%s\" }\n",
        );
        let p = custom(&l, None).unwrap();
        parse_with(&p, b',', "id1,0201234501,0201234567,1764000000,1764000004,1764000100", |c| {
            let c = c.unwrap();
            assert_eq!(rfc(c.start), "2025-11-24T16:00:00Z");
            assert_eq!(c.billsec, 96);
        });
        // An answer of 0 in epoch seconds: not answered.
        parse_with(&p, b',', "id2,0201234501,0201234567,1764000000,0,1764000100", |c| {
            assert_eq!(c.unwrap().billsec, 0)
        });
        // Local answer/end across the autumn DST change in Amsterdam: an hour
        // and a minute on the wall clock, two hours and a minute in fact.
        let l = layout(
            "header = false\ncaller = 1\ncallee = 2\nstart = { column = 3, format = \"%d/%m/%Y %H:%M\" }\n\
             answer = { column = 3, format = \"%d/%m/%Y %H:%M\" }\nend = { column = 4, format = \"%d/%m/%Y %H:%M\" }\n",
        );
        let p = custom(&l, None).unwrap();
        parse_with(&p, b',', "x,0201234501,0201234567,25/10/2026 01:59,25/10/2026 03:00", |c| {
            let c = c.unwrap();
            assert_eq!(rfc(c.start), "2026-10-25T01:59:00+02:00");
            assert_eq!(c.billsec, 2 * 3600 + 60);
        });
        // %z times are exact, whatever the zone.
        let l = layout(
            "header = false\ncaller = 1\ncallee = 2\nstart = { column = 3, format = \"%FT%T%z\" }\nbillsec = 4\n",
        );
        let p = custom(&l, None).unwrap();
        parse_with(&p, b',', "x,0201234501,0201234567,2026-07-01T10:00:00-05:00,7", |c| {
            assert_eq!(rfc(c.unwrap().start), "2026-07-01T10:00:00-05:00")
        });
    }

    #[test]
    fn unrated_header_names() {
        // Headerless, `;`: the names joined by the file's delimiter.
        let l =
            layout("header = false\ndelimiter = \";\"\ncall_id = 1\ncaller = 2\ncallee = 3\nstart = 0\nbillsec = 5\n");
        assert_eq!(custom(&l, None).unwrap().column_names().unwrap(), ["start;call_id;caller;callee;column4;billsec"]);
        // A header layout on an empty file (no header line read): the configured names.
        let l = layout(DOC);
        let p = custom(&l, None).unwrap();
        assert_eq!(p.column_names().unwrap(), ["uuid;start;acct;src;dst;billsec;status;direction"]);
        assert_eq!(p.width, usize::MAX);
    }
}

#[cfg(test)]
mod fixed_width_tests {
    use super::*;
    use proptest::prelude::*;

    const LAYOUTS: [&str; 5] = ["%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%y%m%d%H%M%S", "%m/%d/%y %H:%M:%S", "%F %T"];

    #[test]
    fn full_width_layouts_take_the_fixed_path() {
        for layout in LAYOUTS {
            assert!(TimeFormat::compile(layout).unwrap().fixed.is_some(), "{layout}");
        }
        for layout in ["%e %b %Y %H:%M", "%s", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f", "%Y1%m%d %H:%M"] {
            assert!(TimeFormat::compile(layout).unwrap().fixed.is_none(), "{layout}");
        }
    }

    proptest! {
        /// The fixed path is only a shortcut: on any value, near-valid or
        /// not, the result is the step-by-step one.
        #[test]
        fn the_fixed_path_parses_like_the_steps(
            layout in 0..LAYOUTS.len(),
            value in "[0-9]{0,4}[ .:/-]?[0-9]{0,2}[ .:/-]?[0-9]{1,4}[ .:/-]?[0-9]{0,2}[ :]?[0-9]{0,2}[:]?[0-9]{0,2}",
        ) {
            let tf = TimeFormat::compile(LAYOUTS[layout]).unwrap();
            let b = value.as_bytes().trim_ascii();
            prop_assert_eq!(tf.parse(b), tf.parse_steps(b));
        }

        #[test]
        fn the_fixed_path_parses_valid_times_like_the_steps(
            layout in 0..LAYOUTS.len(),
            (y, mo, d, h, mi, s) in (1970u32..2070, 0u32..14, 0u32..33, 0u32..25, 0u32..61, 0u32..61),
        ) {
            let value = match layout {
                0 => format!("{d:02}.{mo:02}.{y:04} {h:02}:{mi:02}:{s:02}"),
                1 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}"),
                2 => format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}", y % 100),
                3 => format!("{mo:02}/{d:02}/{:02} {h:02}:{mi:02}:{s:02}", y % 100),
                _ => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
            };
            let tf = TimeFormat::compile(LAYOUTS[layout]).unwrap();
            prop_assert!(tf.fixed.as_ref().unwrap().parse(value.as_bytes()).is_some(), "{}", value);
            prop_assert_eq!(tf.parse(value.as_bytes()), tf.parse_steps(value.as_bytes()));
        }
    }
}
