//! Switch CDR formats: one scanned record to one [`Call`], or the reason it
//! cannot be one.
//!
//! A format only parses; it never looks at tariffs or customers. Each
//! format is a small struct implementing [`RowParser`] so that adding a switch
//! touches one file.

mod asterisk;
mod generic;

use std::fmt;

pub use asterisk::Asterisk;
pub use generic::Generic;

use crate::csvscan::{Fields, Record};
use crate::numbers::{Number, NumberError, Numbering};
use crate::timefmt::{Stamp, ZoneCache};

/// The CDR formats `format =` / `--format` accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatName {
    /// Header-driven CSV (SPEC §6).
    Generic,
    /// Asterisk cdr-csv `Master.csv`.
    Asterisk,
}

impl FormatName {
    /// Every format, for help texts.
    pub const ALL: [FormatName; 2] = [FormatName::Generic, FormatName::Asterisk];

    /// Name as used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Generic => "generic",
            FormatName::Asterisk => "asterisk",
        }
    }
}

impl std::str::FromStr for FormatName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FormatName::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown format {s:?} (known: generic, asterisk)"))
    }
}

impl fmt::Display for FormatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a call's id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallId<'a> {
    /// A field of the row (raw, quotes included).
    Field(&'a [u8]),
    /// No id in the row: `FILE:LINE` is used.
    FileLine,
}

/// One parsed call, borrowing from the input.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The call's id.
    pub call_id: CallId<'a>,
    /// When the call started.
    pub start: Stamp,
    /// Account field (customer id), possibly empty.
    pub account: &'a [u8],
    /// Calling number as written (raw field).
    pub caller: &'a [u8],
    /// Called number as written (raw field).
    pub callee: &'a [u8],
    /// Normalised called number.
    pub number: Number,
    /// Answered seconds.
    pub billsec: u32,
}

/// Why a row did not parse. Each becomes the `reason` of a rejected row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not the number of fields the format has.
    FieldCount,
    /// Longer than the configured maximum line length.
    LineTooLong,
    /// A field the rating uses is not valid UTF-8.
    InvalidUtf8,
    /// Start time missing, malformed or impossible.
    BadStartTime,
    /// `billsec` is not a non-negative whole number of seconds.
    BadBillsec,
    /// No called number.
    EmptyCallee,
    /// Called number has characters that are not digits or separators.
    BadCallee,
    /// Called number has more than 15 digits.
    CalleeTooLong,
}

impl Reject {
    /// Every reason.
    pub const ALL: [Reject; 8] = [
        Reject::FieldCount,
        Reject::LineTooLong,
        Reject::InvalidUtf8,
        Reject::BadStartTime,
        Reject::BadBillsec,
        Reject::EmptyCallee,
        Reject::BadCallee,
        Reject::CalleeTooLong,
    ];

    /// Reason as written in the rejected file.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::FieldCount => "field_count",
            Reject::LineTooLong => "line_too_long",
            Reject::InvalidUtf8 => "invalid_utf8",
            Reject::BadStartTime => "bad_start_time",
            Reject::BadBillsec => "bad_billsec",
            Reject::EmptyCallee => "empty_callee",
            Reject::BadCallee => "bad_callee",
            Reject::CalleeTooLong => "callee_too_long",
        }
    }
}

/// A file that cannot be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A header-driven format whose header lacks required columns.
    #[error("header lacks required column(s): {}", .0.join(", "))]
    MissingColumns(Vec<String>),
}

/// Everything a parser needs besides the row.
pub struct ParseContext<'z> {
    /// Resolves local start times.
    pub zone: &'z mut ZoneCache,
    /// Normalises numbers.
    pub numbering: &'z Numbering,
}

/// Parses the rows of one format.
pub trait RowParser: Sync {
    /// Parses one record.
    fn parse<'a>(&self, record: &Record<'a>, fields: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, Reject>;
}

/// The parser of one file: a format with whatever it learned from the header.
#[derive(Debug, Clone)]
pub enum Parser {
    /// See [`Generic`].
    Generic(Generic),
    /// See [`Asterisk`].
    Asterisk(Asterisk),
}

impl Parser {
    /// Whether the first record of a file is a header.
    pub fn has_header(format: FormatName) -> bool {
        matches!(format, FormatName::Generic)
    }

    /// Builds the parser for a file, given its header record if the format has one.
    pub fn new(format: FormatName, header: Option<(&Record<'_>, &Fields)>) -> Result<Parser, FormatError> {
        match format {
            FormatName::Generic => {
                let names: Vec<&[u8]> = match header {
                    Some((r, f)) => (0..f.len()).map(|i| f.get(r.raw, i)).collect(),
                    None => Vec::new(),
                };
                Generic::from_header(&names).map(Parser::Generic)
            }
            FormatName::Asterisk => Ok(Parser::Asterisk(Asterisk)),
        }
    }

    /// The column names of the format's rows, for the unrated file's header.
    pub fn column_names(&self) -> Option<&'static [&'static str]> {
        match self {
            Parser::Generic(_) => None,
            Parser::Asterisk(_) => Some(&asterisk::COLUMNS),
        }
    }
}

impl RowParser for Parser {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, fields: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, Reject> {
        if record.too_long {
            return Err(Reject::LineTooLong);
        }
        match self {
            Parser::Generic(p) => p.parse(record, fields, cx),
            Parser::Asterisk(p) => p.parse(record, fields, cx),
        }
    }
}

/// Raw fields of a call in the order the common checks want them.
pub(crate) struct RawCall<'a> {
    pub call_id: CallId<'a>,
    pub start: &'a [u8],
    pub account: &'a [u8],
    pub caller: &'a [u8],
    pub callee: &'a [u8],
    pub billsec: &'a [u8],
}

/// The checks every format shares: UTF-8 of used fields, start time,
/// billsec, callee (in that order; the first failure names the reason).
#[inline]
pub(crate) fn finish<'a>(raw: RawCall<'a>, cx: &mut ParseContext<'_>) -> Result<Call<'a>, Reject> {
    use crate::csvscan::unquote;
    let id = match raw.call_id {
        CallId::Field(f) => f,
        CallId::FileLine => &[],
    };
    for f in [id, raw.start, raw.account, raw.caller, raw.callee, raw.billsec] {
        if !f.is_ascii() && std::str::from_utf8(f).is_err() {
            return Err(Reject::InvalidUtf8);
        }
    }
    let start = crate::timefmt::parse_start(unquote(raw.start), cx.zone).ok_or(Reject::BadStartTime)?;
    let billsec = parse_seconds(unquote(raw.billsec)).ok_or(Reject::BadBillsec)?;
    let number = cx.numbering.normalise(unquote(raw.callee)).map_err(|e| match e {
        NumberError::Empty => Reject::EmptyCallee,
        NumberError::BadCharacter => Reject::BadCallee,
        NumberError::TooLong => Reject::CalleeTooLong,
    })?;
    Ok(Call {
        call_id: raw.call_id,
        start,
        account: unquote(raw.account).trim_ascii(),
        caller: raw.caller,
        callee: raw.callee,
        number,
        billsec,
    })
}

/// Parses a whole number of seconds (at most 9 digits: 31 years).
#[inline]
pub fn parse_seconds(b: &[u8]) -> Option<u32> {
    let b = b.trim_ascii();
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds(b"0"), Some(0));
        assert_eq!(parse_seconds(b" 61 "), Some(61));
        assert_eq!(parse_seconds(b"-5"), None);
        assert_eq!(parse_seconds(b"1.5"), None);
        assert_eq!(parse_seconds(b""), None);
        assert_eq!(parse_seconds(b"1234567890"), None);
    }
}
