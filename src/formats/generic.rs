//! `generic`: a CSV whose header names the columns (SPEC §6).
//!
//! Besides [`REQUIRED`], an optional [`ANSWER_TIME`] column gives the answer
//! time (same syntaxes as `start_time`); empty means "not recorded".

use super::{
    finish, BillsecField, Call, CallId, FormatError, NotCall, ParseContext, RawCall, Reject, RowParser, TimeField,
};
use crate::csvscan::{Fields, Record};

/// Columns a generic file must name.
pub const REQUIRED: [&str; 6] = ["call_id", "start_time", "account", "caller", "callee", "billsec"];

/// The optional answer time column.
pub const ANSWER_TIME: &str = "answer_time";

/// Column positions learned from a generic file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    /// Index of each [`REQUIRED`] column.
    columns: [usize; 6],
    /// Index of the [`ANSWER_TIME`] column, if the header has one.
    answer: Option<usize>,
    /// Number of columns every row must have.
    width: usize,
}

impl Generic {
    /// Maps the header's column names (trimmed, any case) to positions.
    pub fn from_header(names: &[&[u8]]) -> Result<Generic, FormatError> {
        let at = |want: &str| names.iter().position(|n| n.trim_ascii().eq_ignore_ascii_case(want.as_bytes()));
        let mut columns = [0usize; 6];
        let mut missing = Vec::new();
        for (slot, want) in columns.iter_mut().zip(REQUIRED) {
            match at(want) {
                Some(i) => *slot = i,
                None => missing.push(want.to_string()),
            }
        }
        if missing.is_empty() {
            Ok(Generic { columns, answer: at(ANSWER_TIME), width: names.len() })
        } else {
            Err(FormatError::MissingColumns(missing))
        }
    }
}

impl RowParser for Generic {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, f: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        if f.len() != self.width {
            return Err(Reject::FieldCount.into());
        }
        let r = record.raw;
        let [id, start, account, caller, callee, billsec] = self.columns;
        finish(
            RawCall {
                call_id: CallId::Field(f.raw(r, id)),
                start: TimeField::Text(f.raw(r, start)),
                answer: self.answer.map(|i| TimeField::Text(f.raw(r, i))),
                account: f.raw(r, account),
                caller: f.raw(r, caller),
                callee: f.raw(r, callee),
                callee_is_extension: false,
                billsec: BillsecField::Text(f.raw(r, billsec)),
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}

impl Generic {
    /// The required column names, for the headers of an empty file's outputs.
    pub fn header_names() -> &'static [&'static str] {
        &REQUIRED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvscan::Scanner;
    use crate::numbers::Numbering;
    use crate::timefmt::{Stamp, ZoneCache};

    fn generic(header: &str) -> Generic {
        let names: Vec<&[u8]> = header.split(',').map(str::as_bytes).collect();
        Generic::from_header(&names).unwrap()
    }

    fn rfc(s: Stamp) -> String {
        let mut v = Vec::new();
        s.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    fn answer(p: &Generic, line: &str) -> Result<Option<String>, NotCall> {
        let mut fields = Fields::default();
        let record = Scanner::new(line.as_bytes(), 2, 1 << 16, b',').next_record(&mut fields).unwrap();
        let mut zone = ZoneCache::new(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
        let numbering = Numbering::default();
        let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
        p.parse(&record, &fields, &mut cx).map(|c| c.answer.map(rfc))
    }

    #[test]
    fn an_optional_answer_time_column() {
        let p = generic("call_id,start_time,Answer_Time ,account,caller,callee,billsec");
        let row = |a: &str| format!("c1,2026-11-24 09:00:00,{a},C0001,0201234501,0201234567,61");
        assert_eq!(answer(&p, &row("2026-11-24 09:00:05")), Ok(Some("2026-11-24T09:00:05+01:00".into())));
        assert_eq!(answer(&p, &row("2026-11-24T08:00:05Z")), Ok(Some("2026-11-24T08:00:05Z".into())));
        assert_eq!(answer(&p, &row("")), Ok(None));
        assert_eq!(answer(&p, &row("\"\"")), Ok(None));
        // A second before the start (clock skew): kept.
        assert_eq!(answer(&p, &row("2026-11-24 08:59:59")), Ok(Some("2026-11-24T08:59:59+01:00".into())));
        for bad in ["2026-11-24", "2026-11-31 09:00:05", "09:00:05", "yes"] {
            assert_eq!(answer(&p, &row(bad)), Err(Reject::BadAnswerTime.into()), "{bad}");
        }
        // Without the column: no answer times.
        let p = generic("call_id,start_time,account,caller,callee,billsec");
        assert_eq!(answer(&p, "c1,2026-11-24 09:00:00,C0001,0201234501,0201234567,61"), Ok(None));
    }
}
