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

mod layout;

pub use layout::{Column, Layout, Options, SkipRule, TimeColumn};

use super::{
    finish, value, BillsecField, Call, CallId, FormatError, NotCall, ParseContext, RawCall, Reject, RowParser, Skip,
    StartField,
};
use crate::csvscan::{Fields, Record};
use crate::timefmt::{parse_start, TimeFormat};
use layout::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::numbers::{Number, Numbering};
    use crate::timefmt::{Stamp, ZoneCache};

    pub(super) fn options(toml_text: &str) -> Options {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
    }

    pub(super) fn layout(toml_text: &str) -> Layout {
        Layout::compile(&options(toml_text)).unwrap_or_else(|e| panic!("{toml_text}: {e:?}"))
    }

    pub(super) fn problems(toml_text: &str) -> Vec<String> {
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
    pub(super) const DOC: &str = r#"
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
