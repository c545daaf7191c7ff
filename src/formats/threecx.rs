//! `3cx`: the 3CX CDR log. (Being written.)

use super::{Call, NotCall, ParseContext, Reject, RowParser};
use crate::csvscan::{Fields, Record};

/// `[3cx]` options.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {}

/// The 3CX parser for one field order.
#[derive(Debug, Clone)]
pub struct ThreeCx {}

impl ThreeCx {
    /// Checks the options; errors name the key.
    pub fn new(_options: &Options) -> Result<ThreeCx, Vec<String>> {
        Ok(ThreeCx {})
    }

    /// The field names in file order.
    pub fn column_names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl RowParser for ThreeCx {
    fn parse<'a>(&self, _r: &Record<'a>, _f: &Fields, _cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        Err(Reject::FieldCount.into())
    }
}
