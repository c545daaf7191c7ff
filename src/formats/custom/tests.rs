//! The custom parser on rows: names, times, billsec, skips (the layout
//! checks are in `layout`).

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
fn parse_in<T>(p: &Custom, zone: &str, delimiter: u8, line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
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
    let l =
        layout("caller = \"src\"\ncallee = \"dest\"\nstart = \"when\"\nbillsec = \"billsec\"\naccount = \"when\"\n");
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
    parse_with(&p, b',', "id2,0201234501,0201234567,1764000000,0,1764000100", |c| assert_eq!(c.unwrap().billsec, 0));
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
    let l =
        layout("header = false\ncaller = 1\ncallee = 2\nstart = { column = 3, format = \"%FT%T%z\" }\nbillsec = 4\n");
    let p = custom(&l, None).unwrap();
    parse_with(&p, b',', "x,0201234501,0201234567,2026-07-01T10:00:00-05:00,7", |c| {
        assert_eq!(rfc(c.unwrap().start), "2026-07-01T10:00:00-05:00")
    });
}

#[test]
fn unrated_header_names() {
    // Headerless, `;`: the names joined by the file's delimiter.
    let l = layout("header = false\ndelimiter = \";\"\ncall_id = 1\ncaller = 2\ncallee = 3\nstart = 0\nbillsec = 5\n");
    assert_eq!(custom(&l, None).unwrap().column_names().unwrap(), ["start;call_id;caller;callee;column4;billsec"]);
    // A header layout on an empty file (no header line read): the configured names.
    let l = layout(DOC);
    let p = custom(&l, None).unwrap();
    assert_eq!(p.column_names().unwrap(), ["uuid;start;acct;src;dst;billsec;status;direction"]);
    assert_eq!(p.width, usize::MAX);
}

#[test]
fn an_answer_column_beside_billsec() {
    let l = layout(
        "header = false\ncaller = 0\ncallee = 1\nstart = { column = 2, format = \"%d.%m.%Y %H:%M:%S\" }\n\
         answer = { column = 3, format = \"%d.%m.%Y %H:%M:%S\" }\nbillsec = 4\n",
    );
    let p = custom(&l, None).unwrap();
    assert_eq!(p.column_names().unwrap(), ["caller", "callee", "start", "answer", "billsec"]);
    let answer = |line: &str| parse_with(&p, b',', line, |c| c.map(|c| c.answer.map(rfc)));
    assert_eq!(
        answer("0201234501,0201234567,24.11.2026 09:00:00,24.11.2026 09:00:06,61"),
        Ok(Some("2026-11-24T09:00:06+01:00".into()))
    );
    // Empty: not answered (or not recorded), whatever billsec says.
    assert_eq!(answer("0201234501,0201234567,24.11.2026 09:00:00,,0"), Ok(None));
    assert_eq!(answer("0201234501,0201234567,24.11.2026 09:00:00,\" \",5"), Ok(None));
    // A second before the start (clock skew): kept.
    assert_eq!(
        answer("0201234501,0201234567,24.11.2026 09:00:00,24.11.2026 08:59:59,61"),
        Ok(Some("2026-11-24T08:59:59+01:00".into()))
    );
    for bad in ["24.11.2026", "31.11.2026 09:00:06", "soon"] {
        let line = format!("0201234501,0201234567,24.11.2026 09:00:00,{bad},61");
        assert_eq!(answer(&line), Err(NotCall::Reject(Reject::BadAnswerTime)), "{bad}");
    }
    // The start is checked first.
    assert_eq!(answer("0201234501,0201234567,x,soon,61"), Err(NotCall::Reject(Reject::BadStartTime)));
}

#[test]
fn answer_times_in_epoch_seconds_and_the_generic_rule() {
    let l = layout(
        "header = false\ncaller = 0\ncallee = 1\nstart = { column = 2, format = \"%s\" }\n\
         answer = { column = 3, format = \"%s\" }\nend = { column = 4, format = \"%s\" }\n",
    );
    let p = custom(&l, None).unwrap();
    let got = |line: &str| parse_with(&p, b',', line, |c| c.map(|c| (c.answer.map(rfc), c.billsec)));
    assert_eq!(
        got("0201234501,0201234567,1764000000,1764000004,1764000100"),
        Ok((Some("2025-11-24T16:00:04Z".into()), 96))
    );
    // `0` in epoch seconds is CDR speak for "never answered".
    assert_eq!(got("0201234501,0201234567,1764000000,0,1764000100"), Ok((None, 0)));
    // A bad answer is named as such (not as the billsec it would give).
    assert_eq!(
        got("0201234501,0201234567,1764000000,17640x0004,1764000100"),
        Err(NotCall::Reject(Reject::BadAnswerTime))
    );
    // Without a format: RFC 3339 or local time in the zone, like a start.
    let l = layout("header = false\ncaller = 0\ncallee = 1\nstart = 2\nanswer = 3\nbillsec = 4\n");
    let p = custom(&l, None).unwrap();
    let answer = |line: &str| parse_with(&p, b',', line, |c| c.map(|c| c.answer.map(rfc)));
    assert_eq!(
        answer("0201234501,0201234567,2026-07-01 10:00:00,2026-07-01 10:00:05,7"),
        Ok(Some("2026-07-01T10:00:05+02:00".into()))
    );
    assert_eq!(
        answer("0201234501,0201234567,2026-07-01 10:00:00,2026-07-01T08:00:05Z,7"),
        Ok(Some("2026-07-01T08:00:05Z".into()))
    );
    assert_eq!(answer("0201234501,0201234567,2026-07-01 10:00:00,,7"), Ok(None));
    assert_eq!(
        answer("0201234501,0201234567,2026-07-01 10:00:00,2026-07-01 10:00,7"),
        Ok(Some("2026-07-01T10:00:00+02:00".into()))
    );
    assert_eq!(
        answer("0201234501,0201234567,2026-07-01 10:00:00,10:00:05,7"),
        Err(NotCall::Reject(Reject::BadAnswerTime))
    );
}
