//! `custom`: a CSV layout described in configuration. (Being written.)

use super::{Call, FormatError, NotCall, ParseContext, Reject, RowParser};
use crate::csvscan::{Fields, Record};

/// `[custom]` as written.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {}

/// A checked layout.
#[derive(Debug, Clone)]
pub struct Layout {}

impl Layout {
    /// Checks a layout; errors name the key.
    pub fn compile(_options: &Options) -> Result<Layout, Vec<String>> {
        Ok(Layout {})
    }

    /// Whether files start with a header line.
    pub fn has_header(&self) -> bool {
        false
    }

    /// Field delimiter.
    pub fn delimiter(&self) -> u8 {
        b','
    }

    /// Zone of local times, if the layout names one.
    pub fn timezone(&self) -> Option<jiff::tz::TimeZone> {
        None
    }
}

/// The parser of one file of a custom layout.
#[derive(Debug, Clone)]
pub struct Custom {}

impl Custom {
    /// Resolves the layout's columns against the header (if any).
    pub fn new(_layout: &Layout, _header: Option<&[&[u8]]>) -> Result<Custom, FormatError> {
        Ok(Custom {})
    }

    /// Column names for the unrated file's header (`None`: the file's header).
    pub fn column_names(&self) -> Option<Vec<String>> {
        None
    }
}

impl RowParser for Custom {
    fn parse<'a>(&self, _r: &Record<'a>, _f: &Fields, _cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        Err(Reject::FieldCount.into())
    }
}
