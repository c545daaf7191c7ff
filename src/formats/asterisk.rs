//! `asterisk`: cdr-csv `Master.csv`, no header, 16 standard columns and up
//! to five optional ones (SPEC §6). Times are local.

use super::{finish, BillsecField, Call, CallId, NotCall, ParseContext, RawCall, Reject, RowParser, StartField};
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
        finish(
            RawCall {
                call_id,
                start: StartField::Text(f.raw(r, START)),
                account: f.raw(r, ACCOUNT),
                caller: f.raw(r, SRC),
                callee: f.raw(r, DST),
                callee_is_extension: false,
                billsec: BillsecField::Text(f.raw(r, BILLSEC)),
            },
            cx,
        )
        .map_err(NotCall::Reject)
    }
}
