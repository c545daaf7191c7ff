//! Switch CDR formats: one scanned record to one [`Call`], or the reason it
//! cannot be one.
//!
//! A format only parses; it never looks at tariffs or customers. Each
//! format is a small struct implementing [`RowParser`] so that adding a switch
//! touches one file. A format's options (3CX field order, FreeSWITCH legs, a
//! custom layout) come from configuration and are checked once, in
//! [`Format::new`], so that a bad layout is refused at start.
//!
//! Besides one file per format: `reasons` ([`Reject`], [`Skip`]: why a row
//! is not a call) and `detect` ([`looks_like`]: which format a refused file
//! looks like).

mod asterisk;
pub mod cucm;
pub mod custom;
mod detect;
pub mod freeswitch;
mod generic;
mod reasons;
pub mod threecx;

use std::fmt;
use std::sync::Arc;

pub use asterisk::Asterisk;
pub use cucm::Cucm;
pub use custom::Custom;
pub use detect::looks_like;
pub use freeswitch::Freeswitch;
pub use generic::Generic;
pub use reasons::{NotCall, Reject, Skip};
pub use threecx::ThreeCx;

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
    /// FreeSWITCH mod_cdr_csv, `example` template.
    Freeswitch,
    /// The 3CX CDR log.
    ThreeCx,
    /// Cisco CUCM CDR flat files.
    Cucm,
    /// A CSV layout described in configuration.
    Custom,
}

impl FormatName {
    /// Every format, for help texts.
    pub const ALL: [FormatName; 6] = [
        FormatName::Generic,
        FormatName::Asterisk,
        FormatName::Freeswitch,
        FormatName::ThreeCx,
        FormatName::Cucm,
        FormatName::Custom,
    ];

    /// Name as used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Generic => "generic",
            FormatName::Asterisk => "asterisk",
            FormatName::Freeswitch => "freeswitch",
            FormatName::ThreeCx => "3cx",
            FormatName::Cucm => "cucm",
            FormatName::Custom => "custom",
        }
    }
}

impl std::str::FromStr for FormatName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FormatName::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = FormatName::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown format {s:?} (known: {})", known.join(", "))
        })
    }
}

/// The option tables a format may take, as written in configuration
/// (`[freeswitch]`, `[3cx]`, `[custom]`, or the same under a `[[source]]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatOptions {
    /// `[freeswitch]`.
    pub freeswitch: Option<freeswitch::Options>,
    /// `[3cx]`.
    #[serde(rename = "3cx")]
    pub threecx: Option<threecx::Options>,
    /// `[custom]`.
    pub custom: Option<custom::Options>,
}

/// A format with its checked options: what one source is parsed with.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Format {
    /// Which format.
    pub name: FormatName,
    /// What the options compiled to.
    spec: Arc<Spec>,
}

#[derive(Debug)]
enum Spec {
    Plain,
    Freeswitch(freeswitch::Options),
    ThreeCx(ThreeCx),
    Custom(Box<custom::Layout>),
}

impl Format {
    /// `name` with its options (those of other formats are ignored).
    /// Errors name the offending key, e.g. `custom.start.format: ...`.
    pub fn new(name: FormatName, options: &FormatOptions) -> Result<Format, Vec<String>> {
        let spec = match name {
            FormatName::Generic | FormatName::Asterisk | FormatName::Cucm => Spec::Plain,
            FormatName::Freeswitch => Spec::Freeswitch(options.freeswitch.clone().unwrap_or_default()),
            FormatName::ThreeCx => Spec::ThreeCx(
                ThreeCx::new(&options.threecx.clone().unwrap_or_default())
                    .map_err(|e| e.into_iter().map(|p| format!("3cx.{p}")).collect::<Vec<_>>())?,
            ),
            FormatName::Custom => match &options.custom {
                Some(o) => Spec::Custom(Box::new(
                    custom::Layout::compile(o)
                        .map_err(|e| e.into_iter().map(|p| format!("custom.{p}")).collect::<Vec<_>>())?,
                )),
                None => return Err(vec!["custom: format \"custom\" needs a [custom] layout".into()]),
            },
        };
        Ok(Format { name, spec: Arc::new(spec) })
    }

    /// A format that takes no options (or with its default options).
    pub fn plain(name: FormatName) -> Result<Format, Vec<String>> {
        Format::new(name, &FormatOptions::default())
    }

    /// Header records at the start of a file (0 for headerless formats).
    pub fn header_records(&self) -> usize {
        match (&*self.spec, self.name) {
            (_, FormatName::Generic) => 1,
            (_, FormatName::Cucm) => 2,
            (Spec::Custom(l), _) => usize::from(l.has_header()),
            _ => 0,
        }
    }

    /// Field delimiter.
    pub fn delimiter(&self) -> u8 {
        match &*self.spec {
            Spec::Custom(l) => l.delimiter(),
            _ => b',',
        }
    }

    /// Whether rows carry an account (customer id) column. Without one
    /// (3CX, CUCM, a custom layout naming none) the customer comes from
    /// `--customer`, the source's `customer` or `numbers.csv`.
    pub fn has_account(&self) -> bool {
        match (&*self.spec, self.name) {
            (Spec::Custom(l), _) => l.has_account(),
            (_, FormatName::ThreeCx | FormatName::Cucm) => false,
            _ => true,
        }
    }

    /// The zone of local times when the format names one (else the source's).
    pub fn timezone(&self) -> Option<jiff::tz::TimeZone> {
        match &*self.spec {
            Spec::Custom(l) => l.timezone(),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())
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
    /// When the call was answered, where the format records it and the
    /// field is not empty: talk time (and so the periods of SPEC §3.6) starts
    /// here. `None`: talk is taken to start at `start`. May be a little
    /// before `start` (a switch's clock skew): kept as written.
    pub answer: Option<Stamp>,
}

/// A file that cannot be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A header-driven format whose header lacks required columns.
    #[error("header lacks required column(s): {}", .0.join(", "))]
    MissingColumns(Vec<String>),
    /// A header record that is not what the format writes there.
    #[error("{0}")]
    BadHeader(&'static str),
    /// The file fails as the configured format but its first record looks
    /// like another format's: the error, then the likely fix.
    #[error("{error}: looks like {what}: try --format {format} (or format = \"{format}\" in the config)")]
    LooksLike {
        /// Why the configured format refused the file (said once, here).
        error: Box<FormatError>,
        /// The other format, as an operator knows it ("an asterisk Master.csv").
        what: &'static str,
        /// Its name for `--format`.
        format: FormatName,
    },
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
    fn parse<'a>(&self, record: &Record<'a>, fields: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall>;
}

/// The parser of one file: a format with whatever it learned from the header.
#[derive(Debug, Clone)]
pub enum Parser {
    /// See [`Generic`].
    Generic(Generic),
    /// See [`Asterisk`].
    Asterisk(Asterisk),
    /// See [`Freeswitch`].
    Freeswitch(Freeswitch),
    /// See [`ThreeCx`].
    ThreeCx(ThreeCx),
    /// See [`Cucm`].
    Cucm(Cucm),
    /// See [`Custom`].
    Custom(Custom),
}

impl Parser {
    /// Builds the parser for a file from its header records (as many as
    /// [`Format::header_records`], each a list of unquoted field values).
    /// When the header does not fit and its first record looks like another
    /// format's, the error names that format ([`FormatError::LooksLike`]).
    pub fn new(format: &Format, headers: &[Vec<&[u8]>]) -> Result<Parser, FormatError> {
        let first = headers.first().map_or(&[][..], |h| &h[..]);
        Parser::from_headers(format, headers).map_err(|error| match looks_like(first, format.name) {
            Some((other, what)) => FormatError::LooksLike { error: Box::new(error), what, format: other },
            None => error,
        })
    }

    fn from_headers(format: &Format, headers: &[Vec<&[u8]>]) -> Result<Parser, FormatError> {
        let first = headers.first().map_or(&[][..], |h| &h[..]);
        Ok(match (&*format.spec, format.name) {
            (_, FormatName::Generic) => Parser::Generic(Generic::from_header(first)?),
            (_, FormatName::Asterisk) => Parser::Asterisk(Asterisk),
            (Spec::Freeswitch(o), _) => Parser::Freeswitch(Freeswitch::new(o)),
            (Spec::ThreeCx(p), _) => Parser::ThreeCx(p.clone()),
            (_, FormatName::Cucm) => {
                let cucm = Cucm::from_header(first)?;
                if let Some(types) = headers.get(1) {
                    cucm.check_types(types)?;
                }
                Parser::Cucm(cucm)
            }
            (Spec::Custom(l), _) => Parser::Custom(Custom::new(l, headers.first().map(|h| &h[..]))?),
            (Spec::Plain, _) => unreachable!("Format::new gives every other format its spec"),
        })
    }

    /// The column names of the format's rows, for the unrated file's header
    /// (`None`: the file's own header line is used).
    pub fn column_names(&self) -> Option<Vec<String>> {
        let names = |c: &[&str]| Some(c.iter().map(|s| s.to_string()).collect());
        match self {
            Parser::Generic(_) | Parser::Cucm(_) => None,
            Parser::Asterisk(_) => names(&asterisk::COLUMNS),
            Parser::Freeswitch(_) => names(&freeswitch::COLUMNS),
            Parser::ThreeCx(p) => Some(p.column_names()),
            Parser::Custom(p) => p.column_names(),
        }
    }
}

impl RowParser for Parser {
    #[inline]
    fn parse<'a>(&self, record: &Record<'a>, fields: &Fields, cx: &mut ParseContext<'_>) -> Result<Call<'a>, NotCall> {
        if record.too_long {
            return Err(Reject::LineTooLong.into());
        }
        match self {
            Parser::Generic(p) => p.parse(record, fields, cx),
            Parser::Asterisk(p) => p.parse(record, fields, cx),
            Parser::Freeswitch(p) => p.parse(record, fields, cx),
            Parser::ThreeCx(p) => p.parse(record, fields, cx),
            Parser::Cucm(p) => p.parse(record, fields, cx),
            Parser::Custom(p) => p.parse(record, fields, cx),
        }
    }
}

/// A start or answer time as a format found it. Both are resolved alike
/// (same zone, same rules), in [`finish`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeField<'a> {
    /// Raw text for [`crate::timefmt::parse_start`] (RFC 3339, or local
    /// `YYYY-MM-DD HH:MM:SS`). An empty answer text means "not recorded".
    Text(&'a [u8]),
    /// A wall-clock time the format parsed, to resolve in the source's zone.
    Local(Stamp),
    /// An instant the format parsed exactly (offset set), e.g. from epoch seconds.
    Exact(Stamp),
    /// The format could not parse it.
    Bad,
}

/// Answered seconds as a format found them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BillsecField<'a> {
    /// Raw text: a whole number of seconds.
    Text(&'a [u8]),
    /// Seconds the format computed (e.g. end minus answer).
    Seconds(u32),
    /// The format could not compute them.
    Bad,
}

/// Raw fields of a call in the order the common checks want them.
pub(crate) struct RawCall<'a> {
    pub call_id: CallId<'a>,
    pub start: TimeField<'a>,
    /// `None`: the format records no answer time, or this row's is empty
    /// (not answered, or not written): talk starts at `start`.
    pub answer: Option<TimeField<'a>>,
    pub account: &'a [u8],
    pub caller: &'a [u8],
    pub callee: &'a [u8],
    /// The format marks the callee as an extension (3CX `Ext.610`): internal.
    pub callee_is_extension: bool,
    pub billsec: BillsecField<'a>,
}

/// The checks every format shares: UTF-8 of used fields (but the answer
/// time), start time, answer time, billsec, callee (in that order; the
/// first failure names the reason). An answer before the start is kept:
/// switches with a skewed clock write that, and it only moves where talk
/// time begins.
#[inline]
pub(crate) fn finish<'a>(raw: RawCall<'a>, cx: &mut ParseContext<'_>) -> Result<Call<'a>, Reject> {
    use crate::csvscan::unquote;
    let id = match raw.call_id {
        CallId::Field(f) => f,
        CallId::FileLine => &[],
    };
    let start_text = match raw.start {
        TimeField::Text(t) => t,
        _ => &[],
    };
    let billsec_text = match raw.billsec {
        BillsecField::Text(t) => t,
        _ => &[],
    };
    // Not the answer time: it is never written out, and bytes that are not
    // ASCII cannot parse as a time (`bad_answer_time` says more).
    for f in [id, start_text, raw.account, raw.caller, raw.callee, billsec_text] {
        if !f.is_ascii() && std::str::from_utf8(f).is_err() {
            return Err(Reject::InvalidUtf8);
        }
    }
    let start = resolve(raw.start, cx).ok_or(Reject::BadStartTime)?;
    let answer = match raw.answer {
        None => None,
        Some(TimeField::Text(t)) if value(t).is_empty() => None,
        Some(t) => Some(resolve_answer(t, cx)?),
    };
    let billsec = match raw.billsec {
        BillsecField::Text(t) => parse_seconds(unquote(t)),
        BillsecField::Seconds(s) => Some(s),
        BillsecField::Bad => None,
    }
    .ok_or(Reject::BadBillsec)?;
    let number = if raw.callee_is_extension {
        Number::Internal
    } else {
        cx.numbering.normalise(unquote(raw.callee)).map_err(|e| match e {
            NumberError::Empty => Reject::EmptyCallee,
            NumberError::BadCharacter => Reject::BadCallee,
            NumberError::TooLong => Reject::CalleeTooLong,
        })?
    };
    Ok(Call {
        call_id: raw.call_id,
        start,
        account: unquote(raw.account).trim_ascii(),
        caller: raw.caller,
        callee: raw.callee,
        number,
        billsec,
        answer,
    })
}

/// A present answer time, resolved like a start. Not inlined, so that the
/// start's parsing stays inlined once in [`finish`] and a file without
/// answer times does not pay for a second copy.
#[inline(never)]
fn resolve_answer(t: TimeField<'_>, cx: &mut ParseContext<'_>) -> Result<Stamp, Reject> {
    resolve(t, cx).ok_or(Reject::BadAnswerTime)
}

/// A start or answer time as an instant with its offset; `None` if it
/// does not parse or resolve.
#[inline]
fn resolve(t: TimeField<'_>, cx: &mut ParseContext<'_>) -> Option<Stamp> {
    match t {
        TimeField::Text(t) => {
            let t = crate::csvscan::unquote(t);
            // The layout nearly every row has (`YYYY-MM-DD HH:MM:SS`), without
            // `parse_start`'s search for a fraction or an offset.
            match crate::timefmt::parse_civil_19(t, b'-') {
                Some(s) => cx.zone.resolve(s),
                None => crate::timefmt::parse_start(t, cx.zone),
            }
        }
        TimeField::Local(s) => cx.zone.resolve(s),
        TimeField::Exact(s) => Some(s),
        TimeField::Bad => None,
    }
}

/// A raw field's value: quotes removed, blanks trimmed.
#[inline]
pub(crate) fn value(raw: &[u8]) -> &[u8] {
    crate::csvscan::unquote(raw).trim_ascii()
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
