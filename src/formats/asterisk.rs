//! `asterisk`: cdr-csv `Master.csv`, no header, 16 standard columns and up
//! to five optional ones (SPEC §6). Times are local.
//!
//! `answer` is the answer time, local like `start`; Asterisk leaves it
//! empty for unanswered calls (then talk starts at `start`).
//!
//! `dst` is the extension the dialplan ran, which is not always a number:
//! a call into `s`, `h`, or a `Local/ch1@…` leg has a dialplan name there.
//! Such a leg stays on the switch, so it is rated internal (0), not rejected;
//! see [`is_dialplan_name`] for the exact rule.

use super::{finish, value, BillsecField, Call, CallId, NotCall, ParseContext, RawCall, Reject, RowParser, TimeField};
use crate::csvscan::{Fields, Record};

/// Column names, in file order (the last five are optional).
pub const COLUMNS: [&str; 21] = [
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
    "peeraccount",
    "linkedid",
    "sequence",
];

const ACCOUNT: usize = 0;
const SRC: usize = 1;
const DST: usize = 2;
const START: usize = 9;
const ANSWER: usize = 10;
const BILLSEC: usize = 13;
const UNIQUEID: usize = 16;

/// The Asterisk parser (stateless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asterisk;

impl RowParser for Asterisk {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, f: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        if !(16..=21).contains(&f.len()) {
            return Err(Reject::FieldCount.into());
        }
        let r = record.raw;
        let uniqueid = f.raw(r, UNIQUEID);
        let call_id = if f.len() > UNIQUEID && !crate::csvscan::unquote(uniqueid).trim_ascii().is_empty() {
            CallId::Field(uniqueid)
        } else {
            CallId::FileLine
        };
        let callee = f.raw(r, DST);
        finish(
            RawCall {
                call_id,
                start: TimeField::Text(f.raw(r, START)),
                answer: Some(TimeField::Text(f.raw(r, ANSWER))),
                account: f.raw(r, ACCOUNT),
                caller: f.raw(r, SRC),
                callee,
                callee_is_extension: is_dialplan_name(value(callee), cx.numbering.internal_max_digits),
                billsec: BillsecField::Text(f.raw(r, BILLSEC)),
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}

/// Whether a `dst` (quotes removed, blanks trimmed) is a dialplan extension
/// name rather than a dialled number: it starts with an ASCII letter, has
/// only ASCII letters, digits, `-` and `_`, and no more digits than an
/// extension may have (`internal_max_digits`). So `s`, `h`, `i`, `t`,
/// `ch1`, `fax`, `s-NOANSWER` are names; `+31 20 …`, `0031…`, `*97` and
/// `201` do not start with a letter and go through the numbering rules; a
/// number behind a letter (`x0201234567`) or a URI (`sip:bob@host`) is not a
/// name either, and is rejected as `bad_callee` rather than priced at 0.
#[inline]
fn is_dialplan_name(dst: &[u8], max_digits: usize) -> bool {
    if !dst.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut digits = 0;
    for &b in dst {
        if b.is_ascii_digit() {
            digits += 1;
        } else if !(b.is_ascii_alphabetic() || b == b'-' || b == b'_') {
            return false;
        }
    }
    digits <= max_digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::numbers::{Number, Numbering};
    use crate::timefmt::{Stamp, ZoneCache};

    /// A 21-column row as cdr-csv writes it, answered 4 s after the start.
    const ROW: &str = r#""C0001","0201234501","0201234567","from-internal","""Jan"" <0201234501>","PJSIP/201-01","PJSIP/kpn-02","Dial","PJSIP/0201234567@kpn,60","2026-11-24 09:00:00","2026-11-24 09:00:04","2026-11-24 09:01:05",65,61,"ANSWERED","DOCUMENTATION","1764000000.1","","","1764000000.1",0"#;

    fn parse_numbered<T>(numbering: &Numbering, line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
        let mut fields = Fields::default();
        let record = Scanner::new(line.as_bytes(), 1, 1 << 16, b',').next_record(&mut fields).unwrap();
        let mut zone = ZoneCache::new(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
        let mut cx = ParseContext { zone: &mut zone, numbering };
        f(Asterisk.parse(&record, &fields, &mut cx))
    }

    fn parse<T>(line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
        parse_numbered(&Numbering::default(), line, f)
    }

    /// The raw fields of `ROW`.
    fn row_fields() -> Vec<String> {
        let mut fields = Fields::default();
        let rec = Scanner::new(ROW.as_bytes(), 1, 1 << 16, b',').next_record(&mut fields).unwrap();
        (0..fields.len()).map(|j| String::from_utf8(fields.raw(rec.raw, j).to_vec()).unwrap()).collect()
    }

    /// `ROW` with column `i` (0-based) written as `v` (as is: quote it yourself).
    fn with(i: usize, v: &str) -> String {
        let mut raw = row_fields();
        raw[i] = v.to_string();
        raw.join(",")
    }

    fn rfc(s: Stamp) -> String {
        let mut v = Vec::new();
        s.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    fn answer(line: &str) -> Result<Option<String>, NotCall> {
        parse(line, |c| c.map(|c| c.answer.map(rfc)))
    }

    #[test]
    fn the_answer_column_is_the_answer_time() {
        assert_eq!(answer(ROW), Ok(Some("2026-11-24T09:00:04+01:00".into())));
        // The 16 standard columns carry it too.
        let short = row_fields()[..16].join(",");
        assert_eq!(answer(&short), Ok(Some("2026-11-24T09:00:04+01:00".into())));
        // Empty (how Asterisk writes an unanswered call), quoted or not.
        for empty in ["", "\"\"", "\" \""] {
            assert_eq!(answer(&with(ANSWER, empty)), Ok(None), "{empty:?}");
        }
        // A second before the start (clock skew): kept.
        assert_eq!(answer(&with(ANSWER, "\"2026-11-24 08:59:59\"")), Ok(Some("2026-11-24T08:59:59+01:00".into())));
        // The start's syntaxes: RFC 3339 too.
        assert_eq!(answer(&with(ANSWER, "\"2026-11-24T08:00:04Z\"")), Ok(Some("2026-11-24T08:00:04Z".into())));
        for bad in ["\"2026-11-31 09:00:04\"", "\"09:00:04\"", "\"answered\"", "0"] {
            assert_eq!(answer(&with(ANSWER, bad)), Err(Reject::BadAnswerTime.into()), "{bad}");
        }
        // The start is checked first, billsec after.
        let both = with(ANSWER, "\"x\"").replace("\"2026-11-24 09:00:00\"", "\"y\"");
        assert_eq!(answer(&both), Err(Reject::BadStartTime.into()));
        assert_eq!(answer(&with(ANSWER, "\"x\"").replace(",61,", ",-1,")), Err(Reject::BadAnswerTime.into()));
    }

    #[test]
    fn dialplan_names_are_internal() {
        let number = |dst: &str| parse(&with(DST, &format!("\"{dst}\"")), |c| c.map(|c| c.number));
        for name in ["s", "h", "i", "t", "T", "ch1", "ch3", "fax", "s-NOANSWER", "from_pstn", " s "] {
            assert_eq!(number(name), Ok(Number::Internal), "{name}");
        }
        // Not starting with a letter: the numbering rules.
        let e164 = |dst: &str| match number(dst) {
            Ok(Number::E164(n)) => n.as_str().to_string(),
            other => panic!("{dst}: {other:?}"),
        };
        assert_eq!(e164("+31 20 123 4567"), "31201234567");
        assert_eq!(e164("0031201234567"), "31201234567");
        assert_eq!(e164("0201234567"), "31201234567");
        assert_eq!(number("*97"), Ok(Number::Internal));
        assert_eq!(number("201"), Ok(Number::Internal));
        // Neither a name nor a number: rejected, not priced at 0.
        for bad in ["x0201234567", "sip:bob@example.com", "ch 1", "~~s~~", "s.1", "é"] {
            assert_eq!(number(bad), Err(Reject::BadCallee.into()), "{bad}");
        }
        assert_eq!(number(""), Err(Reject::EmptyCallee.into()));
    }

    #[test]
    fn a_name_has_no_more_digits_than_an_extension() {
        assert!(is_dialplan_name(b"ch12345", 5));
        assert!(!is_dialplan_name(b"ch123456", 5));
        assert!(!is_dialplan_name(b"ch1", 0));
        assert!(is_dialplan_name(b"s", 0));
        for not_a_name in [&b""[..], b"1s", b"+s", b"*s", b"-s", b"_s", b"s@x", b"s/1"] {
            assert!(!is_dialplan_name(not_a_name, 5), "{not_a_name:?}");
        }
        // The configured extension length applies.
        let numbering = Numbering { internal_max_digits: 3, ..Numbering::default() };
        let line = with(DST, "\"ch1234\"");
        parse_numbered(&numbering, &line, |c| assert_eq!(c.unwrap_err(), Reject::BadCallee.into()));
        let line = with(DST, "\"ch123\"");
        parse_numbered(&numbering, &line, |c| assert_eq!(c.unwrap().number, Number::Internal));
    }
}
