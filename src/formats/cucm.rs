//! `cucm`: Cisco Unified Communications Manager CDR flat files (CSV).
//!
//! A CUCM CDR file (`cdr_<cluster>_<node>_<date>_<seq>`) has two header
//! lines: the column names (quoted), then the column types (`INTEGER`,
//! `VARCHAR(50)`, `UNIQUEIDENTIFIER`, …). CUCM 11 writes 129 columns, CUCM 12+
//! more; columns are found by name, in any order, and the others are ignored
//! (only the first [`MAX_FIELDS`](crate::csvscan::MAX_FIELDS) can be used,
//! which holds every column named here in every CUCM version).
//!
//! - `cdrRecordType`: `1` is a call record (CDR). Any other whole number (`0`
//!   a start record, `2` a CMR, …) is skipped ([`Skip::RecordType`]); a value
//!   that is not a number (a header line repeated in a concatenated file)
//!   is not a CUCM record ([`Reject::BadRecord`]).
//! - call id = `pkid` (a UUID); if the header has no `pkid` column, or a row's
//!   is empty, `globalCallID_callId`; else `FILE:LINE`.
//! - start = `dateTimeOrigination`, epoch seconds (UTC). `0` is how CUCM
//!   writes "not set": a bad start time.
//! - answer = `dateTimeConnect`, epoch seconds (UTC), when the header has
//!   the column; `0` (or empty) is a call that never connected: no answer
//!   time, not a reject.
//! - billsec = `duration` (seconds from connect to disconnect; 0 when the call
//!   never connected).
//! - caller = `callingPartyNumber`; callee = `finalCalledPartyNumber`, or
//!   `originalCalledPartyNumber` when the final one is empty.
//! - account: none (the source's customer or `numbers.csv` decide).
//! - CUCM appends `#` to numbers dialled with overlap sending (the `#` ends
//!   the digits): trailing `#`s are dropped from caller and callee (by
//!   slicing the field, no copy). A `#` elsewhere is kept: a leading one makes
//!   a feature code (internal), one inside the digits a bad callee. A number
//!   that is only `#`s is kept as it is (a feature code).
//! - Rows must have as many fields as the header names.

use super::{
    finish, value, BillsecField, Call, CallId, FormatError, NotCall, ParseContext, RawCall, Reject, RowParser, Skip,
    TimeField,
};
use crate::csvscan::{unquote, Fields, Record};
use crate::timefmt::utc_stamp;

/// Record type column.
pub const RECORD_TYPE: &str = "cdrRecordType";
/// Call id column.
pub const PKID: &str = "pkid";
/// Call id column when the header has no [`PKID`].
pub const GLOBAL_CALL_ID: &str = "globalCallID_callId";
/// Start time column (epoch seconds).
pub const ORIGINATION: &str = "dateTimeOrigination";
/// Answer time column (epoch seconds; optional).
pub const CONNECT: &str = "dateTimeConnect";
/// Billsec column.
pub const DURATION: &str = "duration";
/// Caller column.
pub const CALLING: &str = "callingPartyNumber";
/// Callee column.
pub const FINAL_CALLED: &str = "finalCalledPartyNumber";
/// Callee column when [`FINAL_CALLED`] is empty (optional).
pub const ORIGINAL_CALLED: &str = "originalCalledPartyNumber";

/// The CUCM parser: column positions from the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cucm {
    record_type: usize,
    pkid: Option<usize>,
    global_call_id: Option<usize>,
    origination: usize,
    connect: Option<usize>,
    duration: usize,
    calling: usize,
    final_called: usize,
    original_called: Option<usize>,
    /// Number of fields every call record must have.
    width: usize,
}

impl Cucm {
    /// Finds the columns by name (blanks trimmed, any case: CUCM itself
    /// spells `globalCallId_ClusterID` and `globalCallID_callId`).
    pub fn from_header(names: &[&[u8]]) -> Result<Cucm, FormatError> {
        let at = |want: &str| names.iter().position(|n| n.trim_ascii().eq_ignore_ascii_case(want.as_bytes()));
        let mut missing = Vec::new();
        let mut need = |want: &str| {
            at(want).unwrap_or_else(|| {
                missing.push(want.to_string());
                0
            })
        };
        let record_type = need(RECORD_TYPE);
        let origination = need(ORIGINATION);
        let duration = need(DURATION);
        let calling = need(CALLING);
        let final_called = need(FINAL_CALLED);
        let (pkid, global_call_id) = (at(PKID), at(GLOBAL_CALL_ID));
        if pkid.is_none() && global_call_id.is_none() {
            missing.push(format!("{PKID} (or {GLOBAL_CALL_ID})"));
        }
        if !missing.is_empty() {
            return Err(FormatError::MissingColumns(missing));
        }
        Ok(Cucm {
            record_type,
            pkid,
            global_call_id,
            origination,
            connect: at(CONNECT),
            duration,
            calling,
            final_called,
            original_called: at(ORIGINAL_CALLED),
            width: names.len(),
        })
    }

    /// Checks the second header line, the column types: CUCM writes
    /// `INTEGER` under `cdrRecordType`. A file cut after its first line would
    /// otherwise lose its first call record as a "header": it is refused
    /// (to `failed/`) instead.
    pub fn check_types(&self, types: &[&[u8]]) -> Result<(), FormatError> {
        let record_type = types.get(self.record_type).map(|t| t.trim_ascii());
        match record_type {
            Some(t) if t.eq_ignore_ascii_case(b"INTEGER") => Ok(()),
            _ => Err(FormatError::BadHeader(
                "line 2 is not CUCM's line of column types (INTEGER under cdrRecordType): \
                 refused rather than take a call record for a header",
            )),
        }
    }

    /// The call id of a row: `pkid`, else `globalCallID_callId`, else `FILE:LINE`.
    #[inline]
    fn call_id<'a>(&self, r: &'a [u8], f: &Fields) -> CallId<'a> {
        for i in [self.pkid, self.global_call_id].into_iter().flatten() {
            let raw = f.raw(r, i);
            if !value(raw).is_empty() {
                return CallId::Field(raw);
            }
        }
        CallId::FileLine
    }
}

impl RowParser for Cucm {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, f: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        let r = record.raw;
        // The record type first: a CMR or start record has its own width.
        if f.len() <= self.record_type {
            return Err(Reject::FieldCount.into());
        }
        match value(f.raw(r, self.record_type)) {
            b"1" => {}
            t if !t.is_empty() && t.iter().all(u8::is_ascii_digit) => return Err(NotCall::Skip(Skip::RecordType)),
            _ => return Err(Reject::BadRecord.into()),
        }
        if f.len() != self.width {
            return Err(Reject::FieldCount.into());
        }
        let start = match epoch(value(f.raw(r, self.origination))) {
            Some(0) | None => TimeField::Bad,
            Some(secs) => utc_stamp(secs).map_or(TimeField::Bad, TimeField::Exact),
        };
        let answer = self.connect.and_then(|i| match value(f.raw(r, i)) {
            b"" | b"0" => None,
            v => Some(epoch(v).and_then(utc_stamp).map_or(TimeField::Bad, TimeField::Exact)),
        });
        let mut callee = strip_hashes(f.raw(r, self.final_called));
        if let (true, Some(i)) = (value(callee).is_empty(), self.original_called) {
            callee = strip_hashes(f.raw(r, i));
        }
        finish(
            RawCall {
                call_id: self.call_id(r, f),
                start,
                answer,
                account: &[],
                caller: strip_hashes(f.raw(r, self.calling)),
                callee,
                callee_is_extension: false,
                billsec: BillsecField::Text(f.raw(r, self.duration)),
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}

/// Drops the `#`s CUCM appends to overlap-dialled numbers. The raw field is
/// returned unchanged when it has none (or is only `#`s), else its value
/// without them (a sub-slice: no copy).
#[inline]
fn strip_hashes(raw: &[u8]) -> &[u8] {
    let v = unquote(raw).trim_ascii_end();
    if v.last() != Some(&b'#') {
        return raw;
    }
    let kept = v.len() - v.iter().rev().take_while(|&&b| b == b'#').count();
    if v[..kept].trim_ascii().is_empty() {
        raw
    } else {
        &v[..kept]
    }
}

/// Whole seconds since the epoch: 1 to 12 digits.
#[inline]
pub(crate) fn epoch(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 12 {
        return None;
    }
    let mut v = 0i64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::numbers::{Number, Numbering};
    use crate::timefmt::{Stamp, ZoneCache};

    /// A cut-down CUCM header: the used columns among others, in CUCM order.
    const HEADER: &str = "\"cdrRecordType\",\"globalCallID_callManagerId\",\"globalCallID_callId\",\
        \"origLegCallIdentifier\",\"dateTimeOrigination\",\"callingPartyNumber\",\"originalCalledPartyNumber\",\
        \"finalCalledPartyNumber\",\"dateTimeConnect\",\"dateTimeDisconnect\",\"pkid\",\"duration\",\
        \"origDeviceName\",\"destDeviceName\"";

    fn header(line: &str) -> Vec<Vec<u8>> {
        let mut fields = Fields::default();
        let rec = Scanner::new(line.as_bytes(), 1, 1 << 16, b',').next_record(&mut fields).unwrap();
        (0..fields.len()).map(|i| fields.get(rec.raw, i).to_vec()).collect()
    }

    fn parser(line: &str) -> Result<Cucm, FormatError> {
        let names = header(line);
        let names: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        Cucm::from_header(&names)
    }

    fn parse_with<T>(p: &Cucm, line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
        let mut fields = Fields::default();
        let record = Scanner::new(line.as_bytes(), 3, 1 << 16, b',').next_record(&mut fields).unwrap();
        let mut zone = ZoneCache::new(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
        let numbering = Numbering::default();
        let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
        f(p.parse(&record, &fields, &mut cx))
    }

    fn row(rt: &str, orig: &str, calling: &str, original: &str, fin: &str, pkid: &str, duration: &str) -> String {
        format!(
            "{rt},1,4711,17001,{orig},\"{calling}\",\"{original}\",\"{fin}\",{orig},{orig},\"{pkid}\",{duration},\
             \"SEP0011223344AA\",\"SIPTrunk-KPN\""
        )
    }

    fn num(n: &Number) -> String {
        match n {
            Number::E164(n) => n.as_str().to_string(),
            Number::Internal => "internal".into(),
        }
    }

    fn rfc(s: Stamp) -> String {
        let mut v = Vec::new();
        s.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn finds_columns_by_name_in_any_order_and_case() {
        let p = parser(HEADER).unwrap();
        assert_eq!((p.record_type, p.global_call_id, p.origination, p.pkid), (0, Some(2), 4, Some(10)));
        assert_eq!((p.calling, p.original_called, p.final_called, p.duration, p.width), (5, Some(6), 7, 11, 14));
        let p =
            parser("\" DURATION \",x,finalcalledpartynumber,CALLINGPARTYNUMBER,dateTimeOrigination,cdrRecordType,pkid")
                .unwrap();
        assert_eq!((p.duration, p.final_called, p.calling, p.origination, p.record_type), (0, 2, 3, 4, 5));
        assert_eq!((p.pkid, p.global_call_id, p.original_called), (Some(6), None, None));
    }

    #[test]
    fn the_second_header_line_must_be_the_types() {
        let p = parser("cdrRecordType,pkid,dateTimeOrigination,duration,callingPartyNumber,finalCalledPartyNumber")
            .unwrap();
        assert_eq!(p.check_types(&[b"INTEGER", b"UNIQUEIDENTIFIER", b"INTEGER"]), Ok(()));
        assert_eq!(p.check_types(&[b" integer "]), Ok(()));
        // A call record where the types should be: refused, not eaten.
        for not_types in [&[&b"1"[..], b"a1b2", b"1764000000"][..], &[], &[b""]] {
            assert!(matches!(p.check_types(not_types), Err(FormatError::BadHeader(_))), "{not_types:?}");
        }
    }

    #[test]
    fn missing_columns_are_named() {
        let err = parser("cdrRecordType,pkid,duration,callingPartyNumber").unwrap_err();
        assert_eq!(
            err,
            FormatError::MissingColumns(vec!["dateTimeOrigination".into(), "finalCalledPartyNumber".into()])
        );
        let err =
            parser("cdrRecordType,dateTimeOrigination,duration,callingPartyNumber,finalCalledPartyNumber").unwrap_err();
        assert_eq!(err, FormatError::MissingColumns(vec!["pkid (or globalCallID_callId)".into()]));
        // Without pkid, globalCallID_callId is the call id.
        let p = parser(
            "cdrRecordType,globalCallID_callId,dateTimeOrigination,duration,callingPartyNumber,finalCalledPartyNumber",
        )
        .unwrap();
        parse_with(&p, "1,4711,1741600800,60,1001,0201234567", |c| {
            assert_eq!(c.unwrap().call_id, CallId::Field(b"4711"));
        });
    }

    #[test]
    fn a_call_record_parses_with_an_epoch_start() {
        let p = parser(HEADER).unwrap();
        let line =
            row("1", "1741600800", "1001", "0201234567", "0201234567", "7c4e6b0a-1d2e-4f30-9a41-5b6c7d8e9f00", "75");
        parse_with(&p, &line, |c| {
            let c = c.unwrap();
            assert_eq!(c.call_id, CallId::Field(b"\"7c4e6b0a-1d2e-4f30-9a41-5b6c7d8e9f00\""));
            // 1741600800 = 2025-03-10 10:00:00 UTC.
            assert_eq!(rfc(c.start), "2025-03-10T10:00:00Z");
            assert_eq!(c.start.epoch_seconds(), 1_741_600_800);
            assert_eq!(c.billsec, 75);
            assert_eq!(c.caller, b"\"1001\"");
            assert_eq!(c.account, b"");
            assert_eq!(num(&c.number), "31201234567");
        });
    }

    #[test]
    fn epoch_seconds_to_utc() {
        assert_eq!(utc_stamp(0).map(rfc).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(utc_stamp(951_782_399).map(rfc).as_deref(), Some("2000-02-28T23:59:59Z"));
        assert_eq!(utc_stamp(951_868_800).map(rfc).as_deref(), Some("2000-03-01T00:00:00Z"));
        assert_eq!(utc_stamp(1_798_761_599).map(rfc).as_deref(), Some("2026-12-31T23:59:59Z"));
        assert_eq!(utc_stamp(253_402_300_799).map(rfc).as_deref(), Some("9999-12-31T23:59:59Z"));
        assert_eq!(utc_stamp(253_402_300_800), None);
        assert_eq!(epoch(b"1741600800"), Some(1_741_600_800));
        for bad in [&b""[..], b"-1", b"17416008.0", b"1234567890123", b"abc"] {
            assert_eq!(epoch(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn other_record_types_are_skipped_and_junk_is_rejected() {
        let p = parser(HEADER).unwrap();
        for rt in ["0", "2", "\"2\""] {
            let line = row(rt, "1741600800", "1001", "", "0201234567", "p", "0");
            parse_with(&p, &line, |c| assert_eq!(c.unwrap_err(), NotCall::Skip(Skip::RecordType), "{rt}"));
        }
        // A CMR row is narrower than a CDR: still skipped, not a field count.
        parse_with(&p, "2,1,4711,17001,\"Fake-CMR\"", |c| assert_eq!(c.unwrap_err(), NotCall::Skip(Skip::RecordType)));
        // The header lines of a second file cat'ed onto the first.
        parse_with(&p, HEADER, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadRecord)));
        parse_with(&p, "INTEGER,INTEGER,INTEGER", |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadRecord)));
        // A call record with a field too few or too many.
        let line = row("1", "1741600800", "1001", "", "0201234567", "p", "0");
        let short = &line[..line.rfind(',').unwrap()];
        parse_with(&p, short, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::FieldCount)));
        parse_with(&p, &format!("{line},x"), |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::FieldCount)));
    }

    #[test]
    fn bad_start_and_duration_are_rejected() {
        let p = parser(HEADER).unwrap();
        for orig in ["0", "", "-5", "17416008OO", "1741600800.5"] {
            let line = row("1", orig, "1001", "", "0201234567", "p", "60");
            parse_with(&p, &line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadStartTime), "{orig}"));
        }
        let line = row("1", "1741600800", "1001", "", "0201234567", "p", "-1");
        parse_with(&p, &line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadBillsec)));
    }

    #[test]
    fn callee_falls_back_to_the_original_called_number() {
        let p = parser(HEADER).unwrap();
        let line = row("1", "1741600800", "1001", "0612345678", "", "p", "10");
        parse_with(&p, &line, |c| assert_eq!(num(&c.unwrap().number), "31612345678"));
        // Forwarded: the final number is billed.
        let line = row("1", "1741600800", "1001", "0612345678", "+442079460000", "p", "10");
        parse_with(&p, &line, |c| assert_eq!(num(&c.unwrap().number), "442079460000"));
        let line = row("1", "1741600800", "1001", "", "", "p", "10");
        parse_with(&p, &line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::EmptyCallee)));
        // No originalCalledPartyNumber column: the final number only.
        let p = parser("cdrRecordType,pkid,dateTimeOrigination,duration,callingPartyNumber,finalCalledPartyNumber")
            .unwrap();
        parse_with(&p, "1,p,1741600800,5,1001,", |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::EmptyCallee)));
    }

    #[test]
    fn trailing_hashes_are_dropped() {
        assert_eq!(strip_hashes(b"\"0201234567#\""), b"0201234567");
        assert_eq!(strip_hashes(b"0201234567##"), b"0201234567");
        assert_eq!(strip_hashes(b"\"0201234567# \""), b"0201234567");
        assert_eq!(strip_hashes(b"\"0201234567\""), b"\"0201234567\"");
        assert_eq!(strip_hashes(b"\"#\""), b"\"#\"");
        assert_eq!(strip_hashes(b"\"*97#\""), b"*97");
        assert_eq!(strip_hashes(b"02012#34567"), b"02012#34567");
        let p = parser(HEADER).unwrap();
        let line = row("1", "1741600800", "1001#", "", "0201234567#", "p", "10");
        parse_with(&p, &line, |c| {
            let c = c.unwrap();
            assert_eq!(num(&c.number), "31201234567");
            assert_eq!((c.caller, c.callee), (&b"1001"[..], &b"0201234567"[..]));
        });
        // The original called number is cleaned the same way.
        let line = row("1", "1741600800", "1001", "0201234567#", "", "p", "10");
        parse_with(&p, &line, |c| assert_eq!(num(&c.unwrap().number), "31201234567"));
        // A `#` inside the digits is not overlap dialling: a bad callee.
        let line = row("1", "1741600800", "1001", "", "02012#34567", "p", "10");
        parse_with(&p, &line, |c| assert_eq!(c.unwrap_err(), NotCall::Reject(Reject::BadCallee)));
        // A leading `#` is a feature code: internal.
        let line = row("1", "1741600800", "1001", "", "#31#", "p", "10");
        parse_with(&p, &line, |c| assert_eq!(c.unwrap().number, Number::Internal));
    }

    #[test]
    fn the_answer_time_is_date_time_connect() {
        let p = parser(HEADER).unwrap();
        // `row` writes the origination time into dateTimeConnect too; column 8 is connect.
        let with_connect = |connect: &str| {
            let line = row("1", "1741600800", "1001", "", "0201234567", "p", "75");
            let mut f: Vec<&str> = line.split(',').collect();
            f[8] = connect;
            f.join(",")
        };
        let answer = |line: &str| parse_with(&p, line, |c| c.map(|c| c.answer.map(rfc)));
        assert_eq!(answer(&with_connect("1741600803")), Ok(Some("2025-03-10T10:00:03Z".into())));
        // 0 is CUCM's "never connected"; empty is not recorded.
        assert_eq!(answer(&with_connect("0")), Ok(None));
        assert_eq!(answer(&with_connect("")), Ok(None));
        assert_eq!(answer(&with_connect("\"\"")), Ok(None));
        // Before the origination (clock skew): kept.
        assert_eq!(answer(&with_connect("1741600799")), Ok(Some("2025-03-10T09:59:59Z".into())));
        for bad in ["-1", "17416008O3", "1741600803.5", "253402300800"] {
            assert_eq!(answer(&with_connect(bad)), Err(NotCall::Reject(Reject::BadAnswerTime)), "{bad}");
        }
        // A header without dateTimeConnect: no answer times.
        let p = parser("cdrRecordType,pkid,dateTimeOrigination,duration,callingPartyNumber,finalCalledPartyNumber")
            .unwrap();
        parse_with(&p, "1,p,1741600800,5,1001,0201234567", |c| assert_eq!(c.unwrap().answer, None));
    }

    #[test]
    fn empty_pkid_falls_back() {
        let p = parser(HEADER).unwrap();
        let line = row("1", "1741600800", "1001", "", "0201234567", "", "10");
        parse_with(&p, &line, |c| assert_eq!(c.unwrap().call_id, CallId::Field(b"4711")));
        let p = parser("cdrRecordType,pkid,dateTimeOrigination,duration,callingPartyNumber,finalCalledPartyNumber")
            .unwrap();
        parse_with(&p, "1,\"\",1741600800,5,1001,0201234567", |c| assert_eq!(c.unwrap().call_id, CallId::FileLine));
    }

    #[test]
    fn wider_than_the_scanner_keeps() {
        // CUCM 11+ writes more columns than the scanner keeps spans for;
        // the used ones come first, so such files still parse.
        let extra: Vec<String> = (0..120).map(|i| format!("\"extra{i}\"")).collect();
        let p = parser(&format!("{HEADER},{}", extra.join(","))).unwrap();
        assert_eq!(p.width, 134);
        let values = vec!["\"\""; 120].join(",");
        let line = format!("{},{values}", row("1", "1741600800", "1001", "", "0201234567", "p", "42"));
        parse_with(&p, &line, |c| assert_eq!(c.unwrap().billsec, 42));
    }
}
