//! `generic`: a CSV whose header names the columns (SPEC §6).

use super::{
    finish, BillsecField, Call, CallId, FormatError, NotCall, ParseContext, RawCall, Reject, RowParser, StartField,
};
use crate::csvscan::{Fields, Record};

/// Columns a generic file must name.
pub const REQUIRED: [&str; 6] = ["call_id", "start_time", "account", "caller", "callee", "billsec"];

/// Column positions learned from a generic file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    /// Index of each [`REQUIRED`] column.
    columns: [usize; 6],
    /// Number of columns every row must have.
    width: usize,
}

impl Generic {
    /// Maps the header's column names (trimmed, any case) to positions.
    pub fn from_header(names: &[&[u8]]) -> Result<Generic, FormatError> {
        let mut columns = [0usize; 6];
        let mut missing = Vec::new();
        for (slot, want) in columns.iter_mut().zip(REQUIRED) {
            match names.iter().position(|n| n.trim_ascii().eq_ignore_ascii_case(want.as_bytes())) {
                Some(i) => *slot = i,
                None => missing.push(want.to_string()),
            }
        }
        if missing.is_empty() {
            Ok(Generic { columns, width: names.len() })
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
                start: StartField::Text(f.raw(r, start)),
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
