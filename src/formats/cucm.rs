//! `cucm`: Cisco CUCM CDR flat files. (Being written.)

use super::{Call, FormatError, NotCall, ParseContext, Reject, RowParser};
use crate::csvscan::{Fields, Record};

/// The CUCM parser: column positions from the header.
#[derive(Debug, Clone)]
pub struct Cucm {}

impl Cucm {
    /// Finds the columns by name.
    pub fn from_header(_names: &[&[u8]]) -> Result<Cucm, FormatError> {
        Ok(Cucm {})
    }
}

impl RowParser for Cucm {
    fn parse<'a>(&self, _r: &Record<'a>, _f: &Fields, _cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        Err(Reject::FieldCount.into())
    }
}
