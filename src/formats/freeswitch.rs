//! `freeswitch`: mod_cdr_csv with the `example` template, no header.
//!
//! ```text
//! "${caller_id_name}","${caller_id_number}","${destination_number}","${context}","${start_stamp}",
//! "${answer_stamp}","${end_stamp}","${duration}","${billsec}","${hangup_cause}","${uuid}",
//! "${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}"
//! ```
//!
//! Call id = `uuid` (`FILE:LINE` when empty), caller = `caller_id_number`,
//! callee = `destination_number`, account = `accountcode`, billsec =
//! `billsec`, start = `start_stamp`, answer = `answer_stamp` (empty when
//! not answered), local times in the source's zone.
//!
//! Times are `YYYY-MM-DD HH:MM:SS`. A file re-saved by a spreadsheet writes
//! them as `2020/2/10 22:41` (`/` or `-` between the date parts, one-digit
//! month, day and hour, no seconds); those are accepted too.
//!
//! A destination starting with `*` (feature code) or of few digits is an
//! extension by the numbering rules. A destination starting with `&` is the
//! inline application of an `originate` (`originate user/1002 &echo`): the
//! leg runs an application on the switch, there is no dialled number, so it
//! is rated as internal (0) rather than rejected.
//!
//! Legs (`[freeswitch] legs`): FreeSWITCH's default `legs = "a"` writes only
//! a-legs, and every row is rated. With `legs = "ab"` the file holds both
//! legs of each call: the a-leg names its bridged b-leg in `bleg_uuid` and is
//! the one rated; a row with an empty `bleg_uuid` is a b-leg (or an a-leg
//! that was never bridged, which has no carrier leg to bill) and is skipped
//! as [`Skip::BLeg`].

use super::{finish, BillsecField, Call, CallId, NotCall, ParseContext, RawCall, Reject, RowParser, Skip, TimeField};
use crate::csvscan::{unquote, Fields, Record};
use crate::timefmt::Stamp;

/// Column names, in file order.
pub const COLUMNS: [&str; 15] = [
    "caller_id_name",
    "caller_id_number",
    "destination_number",
    "context",
    "start_stamp",
    "answer_stamp",
    "end_stamp",
    "duration",
    "billsec",
    "hangup_cause",
    "uuid",
    "bleg_uuid",
    "accountcode",
    "read_codec",
    "write_codec",
];

const CALLER: usize = 1;
const DESTINATION: usize = 2;
const START: usize = 4;
const ANSWER: usize = 5;
const BILLSEC: usize = 8;
const UUID: usize = 10;
const BLEG_UUID: usize = 11;
const ACCOUNT: usize = 12;

/// Which legs the file holds (mod_cdr_csv's `legs` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub enum Legs {
    /// `legs = "a"` (FreeSWITCH's default): only a-legs; every row is rated.
    #[default]
    #[serde(rename = "a")]
    A,
    /// `legs = "ab"`: both legs; rows without a `bleg_uuid` are skipped.
    #[serde(rename = "ab")]
    Ab,
}

/// `[freeswitch]` options.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// Which legs mod_cdr_csv writes: `"a"` (default) or `"ab"`.
    pub legs: Legs,
}

/// The FreeSWITCH parser.
#[derive(Debug, Clone)]
pub struct Freeswitch {
    legs: Legs,
}

impl Freeswitch {
    /// A parser with these options.
    pub fn new(options: &Options) -> Freeswitch {
        Freeswitch { legs: options.legs }
    }
}

impl RowParser for Freeswitch {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, f: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        if f.len() != COLUMNS.len() {
            return Err(Reject::FieldCount.into());
        }
        let r = record.raw;
        if self.legs == Legs::Ab && blank(f.raw(r, BLEG_UUID)) {
            return Err(NotCall::Skip(Skip::BLeg));
        }
        let uuid = f.raw(r, UUID);
        let call_id = if blank(uuid) { CallId::FileLine } else { CallId::Field(uuid) };
        let callee = f.raw(r, DESTINATION);
        let answer = unquote(f.raw(r, ANSWER)).trim_ascii();
        finish(
            RawCall {
                call_id,
                start: time_field(unquote(f.raw(r, START))),
                answer: (!answer.is_empty()).then(|| time_field(answer)),
                account: f.raw(r, ACCOUNT),
                caller: f.raw(r, CALLER),
                callee,
                callee_is_extension: unquote(callee).trim_ascii_start().first() == Some(&b'&'),
                billsec: BillsecField::Text(f.raw(r, BILLSEC)),
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}

/// Whether a raw field is empty (quotes and blanks aside).
#[inline]
fn blank(raw: &[u8]) -> bool {
    unquote(raw).trim_ascii().is_empty()
}

/// `start_stamp` or `answer_stamp`: the exact `YYYY-MM-DD HH:MM:SS`
/// FreeSWITCH writes, else a spreadsheet's re-save of it.
#[inline]
fn time_field(b: &[u8]) -> TimeField<'static> {
    let b = b.trim_ascii();
    if let Some(s) = crate::timefmt::parse_civil_19(b, b'-') {
        return TimeField::Local(s);
    }
    match crate::timefmt::parse_civil(b, b'-') {
        Some((s, [])) => TimeField::Local(s),
        _ => lenient_stamp(b).map_or(TimeField::Bad, TimeField::Local),
    }
}

/// Parses `Y-M-D H:MM[:SS]` with `-` or `/` between the date parts (the
/// same both times), a four-digit year, one or two digits for month, day and
/// hour, two for minutes and seconds, and a space or `T` before the time.
fn lenient_stamp(b: &[u8]) -> Option<Stamp> {
    let mut p = Cursor { b, at: 0 };
    let year = p.digits(4, 4)?;
    let sep = p.one_of(b"-/")?;
    let month = p.digits(1, 2)?;
    p.exact(sep)?;
    let day = p.digits(1, 2)?;
    p.one_of(b" T")?;
    let hour = p.digits(1, 2)?;
    p.exact(b':')?;
    let minute = p.digits(2, 2)?;
    let second = if p.at < b.len() {
        p.exact(b':')?;
        p.digits(2, 2)?
    } else {
        0
    };
    if p.at != b.len() {
        return None;
    }
    let s = Stamp {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        offset: 0,
    };
    s.is_valid_civil().then_some(s)
}

struct Cursor<'b> {
    b: &'b [u8],
    at: usize,
}

impl Cursor<'_> {
    /// `min..=max` decimal digits (as many as there are, up to `max`).
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let n = self.b[self.at..].iter().take(max).take_while(|c| c.is_ascii_digit()).count();
        if n < min {
            return None;
        }
        let v = self.b[self.at..self.at + n].iter().fold(0u32, |v, &c| v * 10 + u32::from(c - b'0'));
        self.at += n;
        Some(v)
    }

    /// One byte out of `set`, which it returns.
    fn one_of(&mut self, set: &[u8]) -> Option<u8> {
        let c = *self.b.get(self.at)?;
        set.contains(&c).then(|| {
            self.at += 1;
            c
        })
    }

    fn exact(&mut self, want: u8) -> Option<()> {
        self.one_of(&[want]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::numbers::{Number, Numbering};
    use crate::timefmt::ZoneCache;

    const ALEG: &str = r#""spypi","0612345678","0201234567","default","2023-10-10 23:24:01","2023-10-10 23:24:03","2023-10-10 23:24:11","10","8","NORMAL_CLEARING","eb1e406c-aaaa","1e764847-bbbb","C0001","PCMU","PCMU""#;
    const BLEG: &str = r#""Extension 1001","1001","1002","default","2023-10-10 23:44:11","2023-10-10 23:44:13","2023-10-10 23:44:19","8","6","NORMAL_CLEARING","515f34c7-cccc","","1002","PCMA","PCMA""#;

    fn parse_with(legs: Legs, line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>)) {
        let mut fields = Fields::default();
        let record = Scanner::new(line.as_bytes(), 1, 1 << 16, b',').next_record(&mut fields).unwrap();
        let mut zone = ZoneCache::new(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
        let numbering = Numbering::default();
        let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
        f(Freeswitch::new(&Options { legs }).parse(&record, &fields, &mut cx));
    }

    fn reject(legs: Legs, line: &str) -> NotCall {
        let mut out = None;
        parse_with(legs, line, |r| out = Some(r.expect_err("should not parse")));
        out.unwrap()
    }

    fn start_of(s: &str) -> Option<(u16, u8, u8, u8, u8, u8)> {
        match time_field(s.as_bytes()) {
            TimeField::Local(s) => Some((s.year, s.month, s.day, s.hour, s.minute, s.second)),
            _ => None,
        }
    }

    #[test]
    fn an_a_leg_maps_the_example_template() {
        parse_with(Legs::A, ALEG, |r| {
            let c = r.unwrap();
            assert_eq!(c.call_id, CallId::Field(&b"\"eb1e406c-aaaa\""[..]));
            assert_eq!(c.caller, b"\"0612345678\"");
            assert_eq!(c.callee, b"\"0201234567\"");
            assert_eq!(c.account, b"C0001");
            assert_eq!(c.billsec, 8);
            assert!(matches!(c.number, Number::E164(n) if n.as_str() == "31201234567"));
            // 23:24:01 CEST.
            assert_eq!((c.start.hour, c.start.minute, c.start.second, c.start.offset), (23, 24, 1, 7200));
        });
    }

    #[test]
    fn legs_a_rates_every_row_legs_ab_skips_rows_without_bleg_uuid() {
        parse_with(Legs::A, BLEG, |r| assert_eq!(r.unwrap().billsec, 6));
        parse_with(Legs::Ab, ALEG, |r| assert_eq!(r.unwrap().billsec, 8));
        assert_eq!(reject(Legs::Ab, BLEG), NotCall::Skip(Skip::BLeg));
        // Blank, unquoted: still no b-leg uuid.
        let unquoted = BLEG.replace(r#","","1002""#, r#", ,"1002""#);
        assert_eq!(reject(Legs::Ab, &unquoted), NotCall::Skip(Skip::BLeg));
    }

    #[test]
    fn field_count_comes_before_the_leg_rule() {
        let short = BLEG.rsplit_once(',').unwrap().0;
        assert_eq!(reject(Legs::Ab, short), Reject::FieldCount.into());
        assert_eq!(reject(Legs::A, &format!("{ALEG},\"x\"")), Reject::FieldCount.into());
    }

    #[test]
    fn empty_uuid_falls_back_to_file_and_line() {
        let line = ALEG.replace("\"eb1e406c-aaaa\"", "\"\"");
        parse_with(Legs::A, &line, |r| assert_eq!(r.unwrap().call_id, CallId::FileLine));
    }

    #[test]
    fn feature_codes_extensions_and_originate_applications_are_internal() {
        for dest in ["*1001", "1002", "&", "&echo", "&bridge(user/1003)"] {
            let line = ALEG.replace("\"0201234567\"", &format!("\"{dest}\""));
            parse_with(Legs::A, &line, |r| assert_eq!(r.unwrap().number, Number::Internal, "{dest}"));
        }
        let line = ALEG.replace("\"0201234567\"", "\"sip:x\"");
        assert_eq!(reject(Legs::A, &line), Reject::BadCallee.into());
        let line = ALEG.replace("\"0201234567\"", "\"\"");
        assert_eq!(reject(Legs::A, &line), Reject::EmptyCallee.into());
    }

    #[test]
    fn bad_start_and_billsec_are_rejected() {
        let line = ALEG.replace("\"2023-10-10 23:24:01\"", "\"\"");
        assert_eq!(reject(Legs::A, &line), Reject::BadStartTime.into());
        let line = ALEG.replace("\"2023-10-10 23:24:01\"", "\"2023-02-30 10:00:00\"");
        assert_eq!(reject(Legs::A, &line), Reject::BadStartTime.into());
        let line = ALEG.replace("\"10\",\"8\"", "\"10\",\"-8\"");
        assert_eq!(reject(Legs::A, &line), Reject::BadBillsec.into());
    }

    #[test]
    fn the_answer_time_is_answer_stamp() {
        let answer = |line: &str| {
            let mut out = None;
            parse_with(Legs::A, line, |r| {
                out = Some(r.map(|c| c.answer.map(|a| (a.hour, a.minute, a.second, a.offset))))
            });
            out.unwrap()
        };
        assert_eq!(answer(ALEG), Ok(Some((23, 24, 3, 7200))));
        // Empty: not answered (NO_ANSWER rows), quoted, bare or blank.
        for empty in ["\"\"", "", "\" \""] {
            let line = ALEG.replace("\"2023-10-10 23:24:03\"", empty);
            assert_eq!(answer(&line), Ok(None), "{empty:?}");
        }
        // A spreadsheet's re-save, and a second before the start (clock skew).
        assert_eq!(answer(&ALEG.replace("\"2023-10-10 23:24:03\"", "2023/10/10 23:24")), Ok(Some((23, 24, 0, 7200))));
        assert_eq!(answer(&ALEG.replace("2023-10-10 23:24:03", "2023-10-10 23:24:00")), Ok(Some((23, 24, 0, 7200))));
        for bad in ["2023-10-10", "2023-02-30 10:00:00", "answered"] {
            let line = ALEG.replace("2023-10-10 23:24:03", bad);
            assert_eq!(answer(&line), Err(Reject::BadAnswerTime.into()), "{bad}");
        }
    }

    #[test]
    fn a_spreadsheet_resave_parses() {
        let line = "Outbound Call,1002,0201234567,default,2020/2/10 22:41,2020/2/10 22:41,2020/2/10 22:47,329,327,\
                    NORMAL_CLEARING,f68e66ee-4c15,,1002,PCMU,PCMU";
        parse_with(Legs::A, line, |r| {
            let c = r.unwrap();
            assert_eq!((c.start.year, c.start.month, c.start.day, c.start.hour, c.start.minute), (2020, 2, 10, 22, 41));
            assert_eq!(c.start.offset, 3600);
            assert_eq!(c.billsec, 327);
            assert_eq!(c.call_id, CallId::Field(&b"f68e66ee-4c15"[..]));
        });
    }

    #[test]
    fn lenient_times() {
        assert_eq!(start_of("2023-10-10 23:24:01"), Some((2023, 10, 10, 23, 24, 1)));
        assert_eq!(start_of(" 2023-10-10 23:24:01 "), Some((2023, 10, 10, 23, 24, 1)));
        assert_eq!(start_of("2020/2/10 22:41"), Some((2020, 2, 10, 22, 41, 0)));
        assert_eq!(start_of("2020/02/01 9:05:07"), Some((2020, 2, 1, 9, 5, 7)));
        assert_eq!(start_of("2020-2-1 09:05"), Some((2020, 2, 1, 9, 5, 0)));
        assert_eq!(start_of("2020/12/31T23:59:59"), Some((2020, 12, 31, 23, 59, 59)));
        assert_eq!(start_of("2024/2/29 0:00"), Some((2024, 2, 29, 0, 0, 0)));
        for bad in [
            "",
            "2020/2/10",
            "2020/2-10 22:41",
            "2020/2/10 22:4",
            "2020/2/10 22:41:",
            "2020/2/10 22:41:5",
            "2020/2/10 22:41:05 x",
            "2020/13/10 22:41",
            "2020/0/10 22:41",
            "2023/2/29 22:41",
            "2020/2/10 24:00",
            "2020/2/10 22:60",
            "2020/2/10 22:41:60",
            "2020/123/10 22:41",
            "20/2/10 22:41",
            "10/2/2020 22:41",
            "0000/1/1 00:00",
        ] {
            assert_eq!(start_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn options_deserialize() {
        let o: Options = toml::from_str("legs = \"ab\"").unwrap();
        assert_eq!(o.legs, Legs::Ab);
        let o: Options = toml::from_str("").unwrap();
        assert_eq!(o.legs, Legs::A);
        assert!(toml::from_str::<Options>("legs = \"b\"").is_err());
        assert!(toml::from_str::<Options>("leg = \"a\"").is_err());
    }
}
