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
//! billsec = "billsec"      # answered seconds; or answer + end instead of it
//! # answer = { column = "answered", format = "%d.%m.%Y %H:%M:%S" }  # optional: talk starts here
//! # end = { column = "end", format = "%d.%m.%Y %H:%M:%S" }           # with answer, instead of billsec
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
//!   `bad_answer_time` for `answer`, `bad_billsec` for `end`).
//! - `answer` (optional): when the call was answered, where talk time (and
//!   so the periods of a plan) starts. An empty answer time (or `0` when its
//!   format is `%s`) is "not answered / not recorded": talk starts at
//!   `start`. An answer before the start is kept (clock skew).
//! - `billsec` (a column, whole seconds) **or** `end` (a time column, needs
//!   `answer`): billsec = end − answer in seconds, 0 when the answer is
//!   empty. An end before the answer, or one that does not parse, is
//!   `bad_billsec`.
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

mod layout;

pub use layout::{Column, Layout, Options, SkipRule, TimeColumn};

use super::{
    finish, value, BillsecField, Call, CallId, FormatError, NotCall, ParseContext, RawCall, Reject, RowParser, Skip,
    TimeField,
};
use crate::csvscan::{Fields, Record};
use crate::timefmt::{parse_start, TimeFormat};
use layout::Duration;

/// Where billsec comes from in one file.
#[derive(Debug, Clone)]
enum Billsec {
    Column(usize),
    /// End − answer.
    Span {
        end: usize,
        end_format: Option<TimeFormat>,
    },
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
    answer: Option<(usize, Option<TimeFormat>)>,
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
        let answer = layout.answer.as_ref().map(|a| (at(&a.column), a.format.clone()));
        let billsec = match &layout.duration {
            Duration::Billsec(c) => Billsec::Column(at(c)),
            Duration::Span { end } => Billsec::Span { end: at(&end.column), end_format: end.format.clone() },
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
            answer,
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
            None => TimeField::Text(raw_start),
            Some(tf) => match tf.parse(value(raw_start)) {
                Some((s, true)) => TimeField::Exact(s),
                Some((s, false)) => TimeField::Local(s),
                None => TimeField::Bad,
            },
        };
        let answer = self.answer.as_ref().and_then(|(i, format)| {
            let v = value(f.raw(r, *i));
            let unanswered = v.is_empty() || (v == b"0" && format.as_ref().is_some_and(TimeFormat::is_epoch));
            (!unanswered).then(|| answer_field(v, format.as_ref(), cx))
        });
        let billsec = match (&self.billsec, answer) {
            (Billsec::Column(i), _) => BillsecField::Text(f.raw(r, *i)),
            (Billsec::Span { .. }, None) => BillsecField::Seconds(0),
            (Billsec::Span { end, end_format }, Some(TimeField::Exact(a))) => {
                match instant(value(f.raw(r, *end)), end_format.as_ref(), cx) {
                    Some(e) => e
                        .checked_sub(a.epoch_seconds())
                        .and_then(|d| u32::try_from(d).ok())
                        .map_or(BillsecField::Bad, BillsecField::Seconds),
                    None => BillsecField::Bad,
                }
            }
            // A bad answer: `finish` rejects it (`bad_answer_time`) before billsec.
            (Billsec::Span { .. }, Some(_)) => BillsecField::Bad,
        };
        finish(
            RawCall {
                call_id,
                start,
                answer,
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

/// A present answer time (blanks trimmed, unquoted), resolved here like a
/// start (`finish` would resolve it the same way) so that an answer + end
/// layout reads it once: [`TimeField::Exact`] or [`TimeField::Bad`].
#[inline]
fn answer_field(v: &[u8], format: Option<&TimeFormat>, cx: &mut ParseContext<'_>) -> TimeField<'static> {
    let resolved = match format {
        None => parse_start(v, cx.zone),
        Some(tf) => match tf.parse(v) {
            Some((s, true)) => Some(s),
            Some((s, false)) => cx.zone.resolve(s),
            None => None,
        },
    };
    resolved.map_or(TimeField::Bad, TimeField::Exact)
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

#[cfg(test)]
mod tests;
