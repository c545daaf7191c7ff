//! `3cx`: the 3CX CDR log (the "CDR output" of 3CX v16 to v20), no header.
//!
//! Every row begins with `Call N` (the history id); a row that does not is
//! not a 3CX record ([`Reject::BadRecord`]). The fields are chosen and
//! ordered in the 3CX console, so their order is an option:
//! `[3cx] fields = [...]`, by default the documented 27-field order
//! ([`DEFAULT_FIELDS`]), which is also what 3CX v20 writes. 3CX ends rows
//! with a comma, so a row may carry one extra, empty field.
//!
//! - call id = `callid`; start = `time-start` and answer = `time-answered`
//!   (`YYYY/MM/DD HH:MM:SS`, local in the source's zone; an empty
//!   `time-answered` is "not answered"); account: none (the source's customer or
//!   `numbers.csv` decide); caller = `from-no`.
//! - billsec = `time-end` − `time-answered` in seconds (the `duration` column
//!   is rounded and can be a second short of what 3CX bills); an empty
//!   `time-answered` (not answered) is 0.
//! - callee = `final-number` when the destination changed during the call
//!   (transfer, forward, queue, pickup) and it is not empty, else `to-no`.
//!   When `reason-changed` says the *source* was replaced (`ReplacedSrc`:
//!   the calling side handed the call over, the same destination stayed
//!   connected) or the change failed (`Failed…`, e.g. `FailedBXferOfDst`),
//!   the final party is not the destination and `to-no` stays the callee.
//! - 3CX writes its own objects with names: `Ext.610`, `PickupExt.610`,
//!   `EndCall` (the PBX ended the call itself), … A callee that starts with a
//!   letter is such an object: an extension, rated 0 as `internal`. A caller
//!   `Ext.610` is passed as it is (not a number: the source's customer).

use super::{finish, value, BillsecField, Call, CallId, NotCall, ParseContext, RawCall, Reject, RowParser, TimeField};
use crate::csvscan::{Fields, Record};
use crate::timefmt::{parse_civil, parse_civil_19, Stamp};

/// The documented field order of the 3CX CDR log (every known field).
pub const DEFAULT_FIELDS: [&str; 27] = [
    "historyid",
    "callid",
    "duration",
    "time-start",
    "time-answered",
    "time-end",
    "reason-terminated",
    "from-no",
    "to-no",
    "from-dn",
    "to-dn",
    "dial-no",
    "reason-changed",
    "final-number",
    "final-dn",
    "bill-code",
    "bill-rate",
    "bill-cost",
    "bill-name",
    "chain",
    "from-type",
    "to-type",
    "final-type",
    "from-dispname",
    "to-dispname",
    "final-dispname",
    "missed-queue-calls",
];

/// Fields a configured order must include.
pub const REQUIRED: [&str; 6] = ["callid", "time-start", "time-answered", "time-end", "from-no", "to-no"];

/// `[3cx]` options.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// The fields of a row in file order (names from [`DEFAULT_FIELDS`]).
    pub fields: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { fields: DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect() }
    }
}

/// The 3CX parser for one field order.
#[derive(Debug, Clone)]
pub struct ThreeCx {
    /// The configured fields, in file order.
    names: Vec<&'static str>,
    historyid: Option<usize>,
    callid: usize,
    start: usize,
    answered: usize,
    end: usize,
    from_no: usize,
    to_no: usize,
    final_number: Option<usize>,
    reason_changed: Option<usize>,
}

impl ThreeCx {
    /// Checks the options; errors name the key.
    pub fn new(options: &Options) -> Result<ThreeCx, Vec<String>> {
        let mut problems = Vec::new();
        let mut names: Vec<&'static str> = Vec::with_capacity(options.fields.len());
        for name in &options.fields {
            match DEFAULT_FIELDS.iter().find(|k| **k == name.as_str()) {
                None => problems.push(format!("fields: unknown field {name:?} (known: {})", DEFAULT_FIELDS.join(", "))),
                Some(k) if names.contains(k) => problems.push(format!("fields: {name:?} is listed twice")),
                Some(k) => names.push(k),
            }
        }
        for want in REQUIRED {
            if !options.fields.iter().any(|n| n == want) {
                problems.push(format!("fields: lacks {want}"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let at = |want: &str| names.iter().position(|n| *n == want);
        let need = |want: &str| at(want).expect("required fields were checked");
        Ok(ThreeCx {
            historyid: at("historyid"),
            callid: need("callid"),
            start: need("time-start"),
            answered: need("time-answered"),
            end: need("time-end"),
            from_no: need("from-no"),
            to_no: need("to-no"),
            final_number: at("final-number"),
            reason_changed: at("reason-changed"),
            names,
        })
    }

    /// The field names in file order.
    pub fn column_names(&self) -> Vec<String> {
        self.names.iter().map(|s| s.to_string()).collect()
    }

    /// The callee: `final-number` when the destination changed to it, else `to-no`.
    #[inline]
    fn callee<'a>(&self, r: &'a [u8], f: &Fields) -> &'a [u8] {
        if let Some(i) = self.final_number {
            let fin = f.raw(r, i);
            let kept = match self.reason_changed {
                Some(j) => {
                    let reason = value(f.raw(r, j));
                    reason == b"ReplacedSrc" || reason.starts_with(b"Failed")
                }
                None => false,
            };
            if !kept && !value(fin).is_empty() {
                return fin;
            }
        }
        f.raw(r, self.to_no)
    }
}

impl RowParser for ThreeCx {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, f: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        let r = record.raw;
        if let Some(i) = self.historyid {
            if !is_history_id(value(f.raw(r, i))) {
                return Err(Reject::BadRecord.into());
            }
        }
        let width = self.names.len();
        let count_ok = f.len() == width || (f.len() == width + 1 && value(f.raw(r, width)).is_empty());
        if !count_ok {
            return Err(Reject::FieldCount.into());
        }
        let start = match stamp(value(f.raw(r, self.start))) {
            Some(s) => TimeField::Local(s),
            None => TimeField::Bad,
        };
        let answered = value(f.raw(r, self.answered));
        let (answer, billsec) = if answered.is_empty() {
            (None, BillsecField::Seconds(0))
        } else {
            match stamp(answered) {
                Some(a) => (
                    Some(TimeField::Local(a)),
                    seconds_between(a, value(f.raw(r, self.end)), cx).map_or(BillsecField::Bad, BillsecField::Seconds),
                ),
                // `bad_answer_time`, which `finish` checks before billsec.
                None => (Some(TimeField::Bad), BillsecField::Bad),
            }
        };
        let callee = self.callee(r, f);
        finish(
            RawCall {
                call_id: CallId::Field(f.raw(r, self.callid)),
                start,
                answer,
                account: &[],
                caller: f.raw(r, self.from_no),
                callee,
                callee_is_extension: value(callee).first().is_some_and(u8::is_ascii_alphabetic),
                billsec,
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}

/// `Call N`.
#[inline]
fn is_history_id(v: &[u8]) -> bool {
    match v.strip_prefix(b"Call ") {
        Some(n) => !n.is_empty() && n.iter().all(u8::is_ascii_digit),
        None => false,
    }
}

/// A 3CX time, `YYYY/MM/DD HH:MM:SS` (a `-` date is taken too).
#[inline]
fn stamp(b: &[u8]) -> Option<Stamp> {
    match parse_civil_19(b, b'/') {
        Some(s) => Some(s),
        None => stamp_other(b),
    }
}

/// [`stamp`] of anything but the usual 19 bytes (fractions, `-` dates, no seconds).
#[cold]
#[inline(never)]
fn stamp_other(b: &[u8]) -> Option<Stamp> {
    match parse_civil(b, b'/').or_else(|| parse_civil(b, b'-')) {
        Some((s, [])) => Some(s),
        _ => None,
    }
}

/// Seconds from `answered` to `end`, both local times resolved in the
/// source's zone (so a call across a DST change is billed its real length).
#[inline]
fn seconds_between(answered: Stamp, end: &[u8], cx: &mut ParseContext<'_>) -> Option<u32> {
    let a = cx.zone.resolve_epoch(answered)?;
    let e = cx.zone.resolve_epoch(stamp(end)?)?;
    u32::try_from(e.checked_sub(a)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::formats::Reject;
    use crate::numbers::{Number, Numbering};
    use crate::timefmt::ZoneCache;

    /// An outbound call priced by 3CX: 307 s at rate 1.
    const OUT: &str = "Call 9748,00000013DEE71559_2510,00:05:07,2020/05/04 10:56:58,2020/05/04 10:57:03,\
        2020/05/04 11:02:10,TerminatedByDst,Ext.114,0232231552,114,10001,0232231552,,,,,1,5.12,default,\
        \"Chain: Ext.114,0232231552,\",Internal,External,External,from disp,to disp,fin disp,";

    fn parse_in<T>(p: &ThreeCx, line: &str, zone: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
        let mut fields = Fields::default();
        let record = Scanner::new(line.as_bytes(), 1, 1 << 16, b',').next_record(&mut fields).unwrap();
        let mut zone = ZoneCache::new(jiff::tz::TimeZone::get(zone).unwrap());
        let numbering = Numbering::default();
        let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
        f(p.parse(&record, &fields, &mut cx))
    }

    fn parse<T>(line: &str, f: impl FnOnce(Result<Call<'_>, NotCall>) -> T) -> T {
        parse_in(&ThreeCx::new(&Options::default()).unwrap(), line, "Europe/Amsterdam", f)
    }

    fn billsec(line: &str) -> u32 {
        parse(line, |r| r.unwrap().billsec)
    }

    fn reject(line: &str) -> NotCall {
        parse(line, |r| r.expect_err("should not parse"))
    }

    /// `OUT` with field `name` set to `v`.
    fn with(name: &str, v: &str) -> String {
        let i = DEFAULT_FIELDS.iter().position(|n| *n == name).unwrap();
        let mut fields = Vec::new();
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(OUT.as_bytes());
        for f in rdr.records().next().unwrap().unwrap().iter() {
            fields.push(f.to_string());
        }
        fields[i] = v.to_string();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&fields).unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap().trim_end().to_string()
    }

    fn options(fields: &[&str]) -> Options {
        Options { fields: fields.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn an_outbound_call() {
        parse(OUT, |r| {
            let c = r.unwrap();
            assert_eq!(c.call_id, CallId::Field(&b"00000013DEE71559_2510"[..]));
            assert_eq!(c.caller, b"Ext.114");
            assert_eq!(c.callee, b"0232231552");
            assert_eq!(c.account, b"");
            assert!(matches!(c.number, Number::E164(n) if n.as_str() == "31232231552"));
            assert_eq!(
                (c.start.day, c.start.hour, c.start.minute, c.start.second, c.start.offset),
                (4, 10, 56, 58, 7200)
            );
            // 10:57:03 to 11:02:10, not the 5:07 of the duration column.
            assert_eq!(c.billsec, 307);
        });
    }

    #[test]
    fn billsec_comes_from_answer_and_end() {
        // The duration column says 36 s; 3CX bills the 37 s between answer and end.
        assert_eq!(billsec(&with("duration", "00:00:36")), 307);
        assert_eq!(billsec(&with("time-answered", "2020/05/04 11:01:33")), 37);
        assert_eq!(billsec(&with("time-answered", "")), 0);
        assert_eq!(billsec(&with("time-answered", "2020/05/04 11:02:10")), 0);
        // Unanswered: the end time does not matter.
        assert_eq!(billsec(&with("time-answered", "").replace("2020/05/04 11:02:10", "")), 0);
        assert_eq!(reject(&with("time-answered", "2020/05/04 11:02:11")), Reject::BadBillsec.into());
        assert_eq!(reject(&with("time-end", "")), Reject::BadBillsec.into());
    }

    #[test]
    fn the_answer_time_is_time_answered() {
        let answer = |line: &str| parse(line, |r| r.unwrap().answer.map(|a| (a.hour, a.minute, a.second, a.offset)));
        assert_eq!(answer(OUT), Some((10, 57, 3, 7200)));
        assert_eq!(answer(&with("time-answered", "")), None);
        assert_eq!(answer(&with("time-answered", " ")), None);
        // Before the start (clock skew): kept.
        assert_eq!(answer(&with("time-answered", "2020/05/04 10:56:57")), Some((10, 56, 57, 7200)));
        // Present but not a time: its own reason, before billsec's.
        for bad in ["11:02", "2020/05/04 25:00:00", "x"] {
            assert_eq!(reject(&with("time-answered", bad)), Reject::BadAnswerTime.into(), "{bad}");
        }
        assert_eq!(reject(&with("time-start", "x").replace("2020/05/04 10:57:03", "y")), Reject::BadStartTime.into());
    }

    #[test]
    fn billsec_across_a_dst_change_is_the_real_length() {
        // 2020-03-29 02:00 CET became 03:00 CEST: 01:59:00 to 03:01:00 is 2 minutes.
        let line = with("time-answered", "2020/03/29 01:59:00").replace("2020/05/04 11:02:10", "2020/03/29 03:01:00");
        assert_eq!(billsec(&line), 120);
    }

    #[test]
    fn start_time() {
        assert_eq!(reject(&with("time-start", "")), Reject::BadStartTime.into());
        assert_eq!(reject(&with("time-start", "2020/02/30 10:00:00")), Reject::BadStartTime.into());
        assert_eq!(reject(&with("time-start", "2020/05/04 10:56:58x")), Reject::BadStartTime.into());
        // The start time is checked before billsec.
        let both = with("time-start", "x").replace("2020/05/04 11:02:10", "y");
        assert_eq!(reject(&both), Reject::BadStartTime.into());
        parse(&with("time-start", "2020-05-04 10:56:58"), |r| assert_eq!(r.unwrap().start.minute, 56));
    }

    #[test]
    fn rows_must_begin_with_call_n() {
        for bad in ["", "Call", "Call ", "Call x", "call 1", "Call 12a", "historyid"] {
            assert_eq!(reject(&with("historyid", bad)), Reject::BadRecord.into(), "{bad:?}");
        }
        assert_eq!(reject("garbage"), Reject::BadRecord.into());
        assert_eq!(billsec(&OUT.replacen("Call 9748", "\"Call 7\"", 1)), 307);
    }

    #[test]
    fn field_count_with_or_without_the_trailing_comma() {
        // OUT has the 27 fields, the last (missed-queue-calls) empty.
        assert_eq!(billsec(OUT), 307);
        assert_eq!(billsec(&format!("{OUT},")), 307);
        assert_eq!(billsec(&format!("{OUT}, ")), 307);
        assert_eq!(billsec(&format!("{}Ext.612", OUT)), 307);
        assert_eq!(billsec(&format!("{}Ext.612,", OUT)), 307);
        assert_eq!(reject(&format!("{OUT},x")), Reject::FieldCount.into());
        assert_eq!(reject(&format!("{OUT},,")), Reject::FieldCount.into());
        assert_eq!(reject(OUT.strip_suffix(',').unwrap()), Reject::FieldCount.into());
        assert_eq!(reject("Call 1,abc"), Reject::FieldCount.into());
    }

    #[test]
    fn callee_is_the_final_number_when_the_destination_changed() {
        let callee = |line: &str| parse(line, |r| String::from_utf8(r.unwrap().callee.to_vec()).unwrap());
        assert_eq!(callee(OUT), "0232231552");
        let transferred = with("final-number", "0201234567");
        assert_eq!(callee(&transferred), "0201234567");
        assert_eq!(callee(&transferred.replace(",,0201234567", ",ReplacedDst,0201234567")), "0201234567");
        // The source was replaced, or the transfer failed: to-no stays the callee.
        assert_eq!(callee(&transferred.replace(",,0201234567", ",ReplacedSrc,0201234567")), "0232231552");
        assert_eq!(callee(&transferred.replace(",,0201234567", ",FailedBXferOfDst,0201234567")), "0232231552");
        assert_eq!(callee(&with("final-number", " ")), "0232231552");
        // Without final-number / reason-changed in the layout.
        let mut fields: Vec<&str> = DEFAULT_FIELDS.to_vec();
        fields.retain(|f| !matches!(*f, "reason-changed" | "final-number"));
        let p = ThreeCx::new(&options(&fields)).unwrap();
        let short = "Call 1,c1,,2020/05/04 10:56:58,2020/05/04 10:57:03,2020/05/04 11:02:10,x,Ext.114,0232231552,\
                     114,10001,0232231552,Ext.1,,,,,,,,,,,,";
        parse_in(&p, short, "Europe/Amsterdam", |r| assert_eq!(r.unwrap().callee, b"0232231552"));
        // Only final-number: any non-empty one is the callee.
        let mut fields: Vec<&str> = DEFAULT_FIELDS.to_vec();
        fields.retain(|f| *f != "reason-changed");
        let p = ThreeCx::new(&options(&fields)).unwrap();
        let line = "Call 1,c1,,2020/05/04 10:56:58,2020/05/04 10:57:03,2020/05/04 11:02:10,x,Ext.114,0232231552,\
                    114,10001,0232231552,0201234567,,,,,,,,,,,,,";
        parse_in(&p, line, "Europe/Amsterdam", |r| assert_eq!(r.unwrap().callee, b"0201234567"));
    }

    #[test]
    fn three_cx_objects_are_extensions() {
        let number = |line: &str| parse(line, |r| r.unwrap().number);
        assert_eq!(number(&with("to-no", "Ext.184")), Number::Internal);
        assert_eq!(number(&with("to-no", "EndCall")), Number::Internal);
        assert_eq!(number(&with("to-no", "PickupExt.610")), Number::Internal);
        assert_eq!(number(&with("to-no", "Ext.*0")), Number::Internal);
        assert_eq!(number(&with("final-number", "Ext.185")), Number::Internal);
        // A number written with + is a number.
        assert!(matches!(number(&with("to-no", "+46701626368")), Number::E164(n) if n.as_str() == "46701626368"));
        // An Ext. caller is kept as written.
        parse(&with("from-no", "Ext.10016"), |r| assert_eq!(r.unwrap().caller, b"Ext.10016"));
        assert_eq!(reject(&with("to-no", "")), Reject::EmptyCallee.into());
        assert_eq!(reject(&with("to-no", "12-ab")), Reject::BadCallee.into());
    }

    #[test]
    fn a_v20_row_parses_with_the_default_order() {
        let v20 = "Call 288831,4cc2c72499585285_26808,00:00:25,2024/06/17 05:59:49,2024/06/17 05:59:58,\
            2024/06/17 06:00:23,TerminatedBySrc,Ext.10016,+46701626368,10016,10020,+46701626368,,+46701626368,\
            10020,default,1,0.43,default,Chain: Ext.10016;+46701626368;,Extension,Line,Line,Backup no2,\
            +46701626368,+46701626368,";
        parse_in(&ThreeCx::new(&Options::default()).unwrap(), v20, "Europe/Stockholm", |r| {
            let c = r.unwrap();
            assert_eq!(c.billsec, 25);
            assert_eq!(c.callee, b"+46701626368");
            assert_eq!(c.start.offset, 7200);
        });
    }

    #[test]
    fn a_reordered_layout() {
        let p =
            ThreeCx::new(&options(&["to-no", "from-no", "time-end", "time-answered", "time-start", "callid"])).unwrap();
        assert_eq!(p.column_names(), ["to-no", "from-no", "time-end", "time-answered", "time-start", "callid"]);
        let line = "0201234567,Ext.1,2020/05/04 11:00:10,2020/05/04 11:00:00,2020/05/04 10:59:50,id-1,";
        parse_in(&p, line, "Europe/Amsterdam", |r| {
            let c = r.unwrap();
            assert_eq!((c.billsec, c.callee, c.call_id), (10, &b"0201234567"[..], CallId::Field(&b"id-1"[..])));
        });
        // No historyid in the layout: no Call N check.
        parse_in(&p, "x,y,z", "Europe/Amsterdam", |r| assert_eq!(r.unwrap_err(), Reject::FieldCount.into()));
    }

    #[test]
    fn field_order_is_validated() {
        assert_eq!(ThreeCx::new(&Options::default()).unwrap().column_names(), DEFAULT_FIELDS);
        let e = ThreeCx::new(&options(&["callid", "time-start", "time-answered", "from-no", "to-no"])).unwrap_err();
        assert_eq!(e, ["fields: lacks time-end"]);
        let e = ThreeCx::new(&options(&[])).unwrap_err();
        assert_eq!(e.len(), REQUIRED.len());
        assert!(e.iter().all(|p| p.starts_with("fields: lacks ")), "{e:?}");
        let mut f: Vec<&str> = DEFAULT_FIELDS.to_vec();
        f.push("callid");
        f.push("colour");
        let e = ThreeCx::new(&options(&f)).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("fields: \"callid\" is listed twice"), "{e:?}");
        assert!(e[1].starts_with("fields: unknown field \"colour\""), "{e:?}");
        // Names are exact.
        let mut f: Vec<&str> = DEFAULT_FIELDS.to_vec();
        f[1] = "CallId";
        let e = ThreeCx::new(&options(&f)).unwrap_err();
        assert!(e.iter().any(|p| p.contains("unknown field \"CallId\"")) && e.contains(&"fields: lacks callid".into()));
    }

    #[test]
    fn options_deserialize() {
        let o: Options = toml::from_str("").unwrap();
        assert_eq!(o, Options::default());
        let o: Options = toml::from_str("fields = [\"callid\", \"to-no\"]").unwrap();
        assert_eq!(o.fields, ["callid", "to-no"]);
        assert!(toml::from_str::<Options>("field = []").is_err());
    }
}
