//! `freeswitch`: mod_cdr_csv with the `example` template. (Being written.)

use super::{Call, NotCall, ParseContext, Reject, RowParser};
use crate::csvscan::{Fields, Record};

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

/// `[freeswitch]` options.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {}

/// The FreeSWITCH parser.
#[derive(Debug, Clone)]
pub struct Freeswitch {}

impl Freeswitch {
    /// A parser with these options.
    pub fn new(_options: &Options) -> Freeswitch {
        Freeswitch {}
    }
}

impl RowParser for Freeswitch {
    fn parse<'a>(&self, _r: &Record<'a>, _f: &Fields, _cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        Err(Reject::FieldCount.into())
    }
}
