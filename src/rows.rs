//! The three output row formats, in one place: the headers, the per-row
//! writers, the [`Output`] each row goes to, and the named columns of the
//! rated row ([`rated`]) for whatever reads it back.
//!
//! ```text
//! rated     call_id,start_time,customer_id,plan,caller,callee,number,prefix,
//!           destination,country,kind,billsec,billed_s,buy,sell,margin,currency,
//!           period
//! unrated   line,reason,<the input's columns>      the record as it came
//! rejected  line,reason,raw                        the record (its head) as one field
//! ```
//!
//! Every row is valid CSV whatever the input held. The writers are per-row
//! code: inlined, appending to a buffer the caller reuses, never allocating
//! beyond its growth.
//!
//! Reading back: [`call_ids`] reads the call ids of a few rated rows at the
//! byte offsets the rating noted (`fraud::RatedCall::at`), the one way the
//! alerts (IDS and fraud rules) name their trigger calls without reading
//! the output again.

use std::io;
use std::path::Path;

use jiff::tz::TimeZone;

use crate::csvscan::{unquote, Record};
use crate::formats::{Call, CallId, Reject};
use crate::money::{put, write_units};
use crate::numbers::Number;
use crate::rating::{Priced, Unrated};
use crate::tariff::{csv_field, Plan, Tariff};
use crate::timefmt::LocalClock;

/// Receives a file's outputs, each in order.
pub trait Sink: Send {
    /// Appends bytes to one of the three outputs.
    fn write(&mut self, which: Output, bytes: &[u8]) -> io::Result<()>;
}

/// In-memory outputs, for tests and tools.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemorySink {
    /// Rated, unrated, rejected (by [`Output::index`]).
    pub files: [Vec<u8>; 3],
}

impl Sink for MemorySink {
    fn write(&mut self, which: Output, bytes: &[u8]) -> io::Result<()> {
        self.files[which.index()].extend_from_slice(bytes);
        Ok(())
    }
}

/// The outputs of a rated file; every row goes to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// Priced calls: `rated/NAME.rated.csv`.
    Rated = 0,
    /// Calls that could not be priced: `unrated/NAME.unrated.csv`.
    Unrated = 1,
    /// Records that are not calls: `rejected/NAME.rejected.csv`.
    Rejected = 2,
}

impl Output {
    /// Every output, in the order of [`Output::index`].
    pub const ALL: [Output; 3] = [Output::Rated, Output::Unrated, Output::Rejected];

    /// Position in arrays of the three outputs (`[T; 3]`).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Name of the output: its folder and the kind in its file names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Output::Rated => "rated",
            Output::Unrated => "unrated",
            Output::Rejected => "rejected",
        }
    }
}

/// The columns of the rated row, by position: read a rated output through
/// these names, never through numbers.
pub mod rated {
    /// The switch's call id, or `FILE:LINE` when the format has none.
    pub const CALL_ID: usize = 0;
    /// Start time, RFC 3339.
    pub const START_TIME: usize = 1;
    /// Customer id (CSV-escaped).
    pub const CUSTOMER_ID: usize = 2;
    /// Plan name.
    pub const PLAN: usize = 3;
    /// Caller as the switch wrote it.
    pub const CALLER: usize = 4;
    /// Callee as the switch wrote it.
    pub const CALLEE: usize = 5;
    /// Callee in E.164 (empty for internal calls).
    pub const NUMBER: usize = 6;
    /// Matched destination prefix.
    pub const PREFIX: usize = 7;
    /// Destination name (`Internal` for internal calls).
    pub const DESTINATION: usize = 8;
    /// ISO country code of the destination (may be empty).
    pub const COUNTRY: usize = 9;
    /// Destination kind (`internal` for internal calls).
    pub const KIND: usize = 10;
    /// Answered seconds.
    pub const BILLSEC: usize = 11;
    /// Seconds billed on the sell side.
    pub const BILLED_S: usize = 12;
    /// Buy price, in the plan's currency with the configured decimals.
    pub const BUY: usize = 13;
    /// Sell price, as `BUY`.
    pub const SELL: usize = 14;
    /// Sell minus buy.
    pub const MARGIN: usize = 15;
    /// Currency code of the prices.
    pub const CURRENCY: usize = 16;
    /// The periods of the talk time, `+`-joined (SPEC §3.6).
    pub const PERIOD: usize = 17;

    /// Column names, in order: the header's fields.
    pub const COLUMNS: [&str; 18] = [
        "call_id",
        "start_time",
        "customer_id",
        "plan",
        "caller",
        "callee",
        "number",
        "prefix",
        "destination",
        "country",
        "kind",
        "billsec",
        "billed_s",
        "buy",
        "sell",
        "margin",
        "currency",
        "period",
    ];
}

/// Header of `rated/NAME.rated.csv` ([`rated::COLUMNS`]).
pub const RATED_HEADER: &[u8] =
    b"call_id,start_time,customer_id,plan,caller,callee,number,prefix,destination,country,kind,billsec,billed_s,buy,sell,margin,currency,period\n";
/// Header of `rejected/NAME.rejected.csv`.
pub const REJECTED_HEADER: &[u8] = b"line,reason,raw\n";

/// Header of `unrated/NAME.unrated.csv`: `line,reason,` then the input's
/// own columns (`input_columns`, a header line without its newline).
pub fn unrated_header(input_columns: &[u8]) -> Vec<u8> {
    let mut unrated = b"line,reason,".to_vec();
    unrated.extend_from_slice(input_columns);
    unrated.push(b'\n');
    unrated
}

/// Appends a rejected row: its line, its reason, `raw` as one CSV field.
/// The caller passes only the head of a record too long to copy whole.
#[inline]
pub fn write_rejected(out: &mut Vec<u8>, line: u64, reason: Reject, raw: &[u8]) {
    write_line_reason(out, line, reason.as_str());
    csv_field(out, raw);
    out.push(b'\n');
}

/// Appends an unrated row: its line, its reason, the record as it came
/// (valid CSV already: it was read as such).
#[inline]
pub fn write_unrated(out: &mut Vec<u8>, line: u64, reason: Unrated, raw: &[u8]) {
    write_line_reason(out, line, reason.as_str());
    out.extend_from_slice(raw);
    out.push(b'\n');
}

#[inline]
fn write_line_reason(out: &mut Vec<u8>, line: u64, reason: &str) {
    out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    out.push(b',');
    out.extend_from_slice(reason.as_bytes());
    out.push(b',');
}

/// Writes the rated rows of one input file: what they share (the tables,
/// the input's name for `FILE:LINE` call ids, the decimals), built once per
/// file.
pub struct RatedRows<'a> {
    tariff: &'a Tariff,
    /// The input's name, and the same as a CSV field.
    name: &'a str,
    name_csv: Vec<u8>,
    /// The input's delimiter is a comma: plain fields can be copied as is.
    comma: bool,
    decimals: u32,
    /// Zone of customers without one, to walk a long call's periods again.
    default_zone: TimeZone,
}

impl<'a> RatedRows<'a> {
    /// Rated rows of input `name` (delimited by `delimiter`) priced by
    /// `tariff` with `decimals` decimal places; `default_zone` is the day of
    /// customers without a zone of their own.
    pub fn new(tariff: &'a Tariff, name: &'a str, delimiter: u8, decimals: u32, default_zone: &TimeZone) -> Self {
        let mut name_csv = Vec::new();
        csv_field(&mut name_csv, name.as_bytes());
        RatedRows { tariff, name, name_csv, comma: delimiter == b',', decimals, default_zone: default_zone.clone() }
    }

    /// Appends the rated row of `call` from record `rec`, priced `p`.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, call: &Call<'_>, p: &Priced, rec: &Record<'_>) {
        // A plain record has no quotes; with another delimiter its fields may
        // still hold commas, so they take the escaping path.
        let (line, plain) = (rec.line, rec.plain && self.comma);
        let tariff = self.tariff;
        let decimals = self.decimals;
        let epoch = tariff.epoch(p.epoch);
        let plan = epoch.plan(p.plan);
        match call.call_id {
            CallId::Field(raw) => write_raw_field(out, raw, plain),
            CallId::FileLine => {
                if self.name_csv.first() == Some(&b'"') {
                    let mut id = self.name.as_bytes().to_vec();
                    id.push(b':');
                    id.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
                    csv_field(out, &id);
                } else {
                    put(out, &self.name_csv);
                    out.push(b':');
                    put(out, itoa::Buffer::new().format(line).as_bytes());
                }
            }
        }
        out.push(b',');
        call.start.write_rfc3339(out);
        out.push(b',');
        if call.account.is_empty() {
            put(out, tariff.customer_csv_id(p.customer));
        } else {
            // A call with an account was rated as the customer of exactly
            // that id (`Rater::rate`): its bytes are the id's, and already in
            // cache where `csv_id` would be a load from the customer table.
            debug_assert_eq!(call.account, tariff.customers[p.customer as usize].id.as_bytes());
            csv_field(out, call.account);
        }
        out.push(b',');
        put(out, &plan.csv_name);
        out.push(b',');
        write_raw_field(out, call.caller, plain);
        out.push(b',');
        write_raw_field(out, call.callee, plain);
        out.push(b',');
        match (call.number, p.destination) {
            (Number::E164(n), Some(d)) => {
                put(out, n.as_bytes());
                out.push(b',');
                put(out, epoch.deck.destination_csv(d));
            }
            _ => put(out, b",,Internal,,internal"),
        }
        out.push(b',');
        let mut buf = itoa::Buffer::new();
        put(out, buf.format(call.billsec).as_bytes());
        out.push(b',');
        put(out, buf.format(p.billed_sell).as_bytes());
        out.push(b',');
        write_units(out, p.buy as i64, decimals);
        out.push(b',');
        write_units(out, p.sell as i64, decimals);
        out.push(b',');
        write_units(out, p.margin(), decimals);
        out.push(b',');
        put(out, &plan.csv_currency);
        out.push(b',');
        self.write_periods(out, call, p, plan);
        out.push(b'\n');
    }

    /// The `period` field: the trail's period names joined by `+`.
    #[inline]
    fn write_periods(&self, out: &mut Vec<u8>, call: &Call<'_>, p: &Priced, plan: &Plan) {
        let periods = &plan.levels.periods;
        if let Some(only) = p.trail.single_period() {
            put(out, periods.name(only).as_bytes());
            return;
        }
        if p.trail.is_complete() {
            for (i, period) in p.trail.iter().enumerate() {
                if i > 0 {
                    out.push(b'+');
                }
                put(out, periods.name(period).as_bytes());
            }
            return;
        }
        // More segments than a trail keeps (a call over days): walk again.
        let zone = self.tariff.customers[p.customer as usize].zone;
        let tz = zone.map_or(&self.default_zone, |z| &self.tariff.zones[usize::from(z)]);
        let mut clock = LocalClock::new(tz.clone());
        let talk = call.answer.unwrap_or(call.start).epoch_seconds();
        let mut first = true;
        periods.walk(talk, call.billsec, &mut clock, |period, _| {
            if !std::mem::take(&mut first) {
                out.push(b'+');
            }
            put(out, periods.name(period).as_bytes());
        });
    }
}

/// Writes a raw input field as CSV: quoted fields verbatim (they are valid
/// CSV already), bare ones quoted if they must be.
#[inline]
fn write_raw_field(out: &mut Vec<u8>, raw: &[u8], plain: bool) {
    if plain {
        put(out, raw);
    } else if raw.len() >= 2 && raw[0] == b'"' && raw[raw.len() - 1] == b'"' && properly_escaped(unquote(raw)) {
        // Quoted: the inner text may only be printed bare if it is plain.
        let inner = unquote(raw);
        if inner.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            out.extend_from_slice(raw);
        } else {
            out.extend_from_slice(inner);
        }
    } else {
        // Bare, or quoted with a stray quote inside (`"x"y"`): escape it all.
        csv_field(out, raw);
    }
}

/// The call ids of the rated rows starting `rows` bytes after the header of
/// the rated output `rated` (offsets as [`RatedRows::write`] wrote them from
/// 0, in any order, repeats allowed), one per offset in the order given.
/// Each row is read where it starts: the id is its first field (CSV-quoted
/// when it has to be). Distinct rows are read once, in file order.
pub fn call_ids(rated: &Path, rows: &[u64]) -> io::Result<Vec<String>> {
    use std::os::unix::fs::FileExt;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut distinct = rows.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let file = std::fs::File::open(rated)?;
    let header = RATED_HEADER.len() as u64;
    let mut ids = Vec::with_capacity(distinct.len());
    let mut buf = vec![0u8; 512];
    for &at in &distinct {
        let id = loop {
            let n = file.read_at(&mut buf, header + at)?;
            match first_field(&buf[..n]) {
                Some(id) => break id,
                // The field runs past what was read: read more (a row ends
                // within the file, so this stops).
                None if n == buf.len() => buf.resize(buf.len() * 2, 0),
                None => break Vec::new(),
            }
        };
        ids.push(String::from_utf8_lossy(&id).into_owned());
    }
    Ok(rows.iter().map(|at| distinct.binary_search(at).map(|i| ids[i].clone()).unwrap_or_default()).collect())
}

/// The first CSV field of `row`, unquoted; `None` when it does not end in `row`.
fn first_field(row: &[u8]) -> Option<Vec<u8>> {
    let Some(rest) = row.strip_prefix(b"\"") else {
        let end = memchr::memchr3(b',', b'\n', b'\r', row)?;
        return Some(row[..end].to_vec());
    };
    let mut field = Vec::new();
    let mut i = 0;
    loop {
        match rest.get(i)? {
            b'"' if rest.get(i + 1) == Some(&b'"') => {
                field.push(b'"');
                i += 2;
            }
            b'"' => return Some(field),
            &b => {
                field.push(b);
                i += 1;
            }
        }
    }
}

/// Whether every `"` in a quoted field's inner text is doubled.
fn properly_escaped(inner: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'"', &inner[i..]) {
        if inner.get(i + at + 1) != Some(&b'"') {
            return false;
        }
        i += at + 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(raw: &[u8]) -> String {
        let mut out = Vec::new();
        write_raw_field(&mut out, raw, false);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn raw_fields_stay_valid_csv() {
        assert_eq!(field(b"abc"), "abc");
        assert_eq!(field(b"\"abc\""), "abc");
        assert_eq!(field(b"\"a,b\""), "\"a,b\"");
        assert_eq!(field(b"\"say \"\"hi\"\"\""), "\"say \"\"hi\"\"\"");
        // A stray quote inside a quoted field: escaped whole, still one valid field.
        assert_eq!(field(b"\"x\"y\"z\""), "\"\"\"x\"\"y\"\"z\"\"\"");
        assert_eq!(field(b"a\rb"), "\"a\rb\"");
    }

    #[test]
    fn named_columns_match_the_rated_header() {
        let header = std::str::from_utf8(RATED_HEADER).unwrap().strip_suffix('\n').unwrap();
        let names: Vec<&str> = header.split(',').collect();
        assert_eq!(names, rated::COLUMNS);
        let named = [
            (rated::CALL_ID, "call_id"),
            (rated::START_TIME, "start_time"),
            (rated::CUSTOMER_ID, "customer_id"),
            (rated::PLAN, "plan"),
            (rated::CALLER, "caller"),
            (rated::CALLEE, "callee"),
            (rated::NUMBER, "number"),
            (rated::PREFIX, "prefix"),
            (rated::DESTINATION, "destination"),
            (rated::COUNTRY, "country"),
            (rated::KIND, "kind"),
            (rated::BILLSEC, "billsec"),
            (rated::BILLED_S, "billed_s"),
            (rated::BUY, "buy"),
            (rated::SELL, "sell"),
            (rated::MARGIN, "margin"),
            (rated::CURRENCY, "currency"),
            (rated::PERIOD, "period"),
        ];
        assert_eq!(named.len(), names.len(), "every column has a name");
        for (at, name) in named {
            assert_eq!(names[at], name);
        }
    }

    #[test]
    fn the_first_field_of_a_row_unquoted() {
        assert_eq!(first_field(b"c1,2026-11-24T10:00:00Z,A\n"), Some(b"c1".to_vec()));
        assert_eq!(first_field(b"\"a,\"\"b\"\"\",x"), Some(b"a,\"b\"".to_vec()));
        assert_eq!(first_field(b"\"a\nb\",x"), Some(b"a\nb".to_vec()));
        assert_eq!(first_field(b"\"unfinished"), None);
        assert_eq!(first_field(b"no-end"), None);
    }

    #[test]
    fn call_ids_are_read_at_their_rows_in_the_order_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.rated.csv");
        let long = "L".repeat(1500);
        let rows = ["c1,a\n".to_string(), "\"q,\"\"2\"\"\",b\n".to_string(), format!("{long},c\n")];
        let mut bytes = RATED_HEADER.to_vec();
        let mut at = Vec::new();
        for r in &rows {
            at.push((bytes.len() - RATED_HEADER.len()) as u64);
            bytes.extend_from_slice(r.as_bytes());
        }
        std::fs::write(&path, bytes).unwrap();
        let ids = call_ids(&path, &[at[2], at[0], at[1], at[0]]).unwrap();
        assert_eq!(ids, [long.as_str(), "c1", "q,\"2\"", "c1"]);
        assert!(call_ids(&path, &[]).unwrap().is_empty());
        assert!(call_ids(&dir.path().join("missing.csv"), &[0]).is_err());
    }

    #[test]
    fn outputs_are_numbered_in_order() {
        for (i, o) in Output::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        assert_eq!(Output::ALL.map(Output::as_str), ["rated", "unrated", "rejected"]);
    }

    #[test]
    fn short_rows_and_headers() {
        let mut out = Vec::new();
        write_rejected(&mut out, 7, Reject::LineTooLong, b"a,\"b");
        write_unrated(&mut out, 8, Unrated::UnknownCustomer, b"x,\"y,z\"");
        let want = format!(
            "7,{},\"a,\"\"b\"\n8,{},x,\"y,z\"\n",
            Reject::LineTooLong.as_str(),
            Unrated::UnknownCustomer.as_str()
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!(unrated_header(b"a,b"), b"line,reason,a,b\n");
    }
}
