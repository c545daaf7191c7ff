//! The invariants the fuzz targets check, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, nightly) and the replay test
//! (`tests/fuzz_replay.rs`, stable), which both include this file with
//! `#[path]`. Each `check_*` takes one raw fuzz input and panics when an
//! invariant does not hold; [`run`] dispatches on the target name.
//!
//! Only `cdr-rater` and crates the main crate already depends on are used
//! here (`jiff`, `tempfile`, `toml`), so the replay test needs no new dependency.

// Each fuzz target uses one check; the replay test uses them all.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod fraud;
mod services;
pub use fraud::check_fraud_files;
pub use services::check_service_files;

use cdr_rater::config::Config;
use cdr_rater::csvscan::{self, Chunker, Fields, Scanner, MAX_FIELDS};
use cdr_rater::formats::{custom, freeswitch, Format, FormatName, FormatOptions};
use cdr_rater::money::FixedPrice;
use cdr_rater::numbers::{Number, Numbering};
use cdr_rater::pipeline::{self, FileError, Job, MemorySink, Totals};
use cdr_rater::rating::Rater;
use cdr_rater::tariff::{self, Tariff};
use cdr_rater::timefmt::{self, Stamp, ZoneCache};

/// Every target, named as in `fuzz/Cargo.toml` and `fuzz/corpus/<target>/`.
pub const TARGETS: [&str; 14] = [
    "csv_scan",
    "format_generic",
    "format_asterisk",
    "format_freeswitch",
    "format_3cx",
    "format_cucm",
    "format_custom",
    "numbers",
    "timefmt",
    "tariff_files",
    "config",
    "e2e",
    "fraud_files",
    "service_files",
];

/// Runs the check of `target` on one input.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "csv_scan" => check_csv_scan(data),
        "format_generic" => check_format_generic(data),
        "format_asterisk" => check_format_asterisk(data),
        "format_freeswitch" => check_format_freeswitch(data),
        "format_3cx" => check_format_3cx(data),
        "format_cucm" => check_format_cucm(data),
        "format_custom" => check_format_custom(data),
        "numbers" => check_numbers(data),
        "timefmt" => check_timefmt(data),
        "tariff_files" => check_tariff_files(data),
        "config" => check_config(data),
        "e2e" => check_e2e(data),
        "fraud_files" => check_fraud_files(data),
        "service_files" => check_service_files(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// `rates/` of the repository. The fuzz crate's manifest is in `fuzz/`, the
/// replay test's in the repository root.
fn rates_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let here = manifest.join("rates");
    if here.join("wholesale.csv").is_file() {
        here
    } else {
        manifest.join("../rates")
    }
}

fn amsterdam() -> jiff::tz::TimeZone {
    static TZ: OnceLock<jiff::tz::TimeZone> = OnceLock::new();
    TZ.get_or_init(|| jiff::tz::TimeZone::get("Europe/Amsterdam").expect("bundled tzdb")).clone()
}

fn default_numbering() -> &'static Numbering {
    static N: OnceLock<Numbering> = OnceLock::new();
    N.get_or_init(Numbering::default)
}

/// Byte offset of `part` inside `whole`; panics if it is not a sub-slice.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    assert!(
        p >= w && p + part.len() <= w + whole.len(),
        "slice at {p:#x}+{} is outside the buffer {w:#x}+{}",
        part.len(),
        whole.len()
    );
    p - w
}

fn newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Newlines and quotes in `buf[..i]` for every `i` (linear, so that checks
/// stay fast on inputs with many records).
struct Prefix {
    newlines: Vec<u64>,
    quotes: Vec<u64>,
}

impl Prefix {
    fn new(buf: &[u8]) -> Prefix {
        let (mut n, mut q) = (vec![0u64], vec![0u64]);
        for &b in buf {
            n.push(n[n.len() - 1] + u64::from(b == b'\n'));
            q.push(q[q.len() - 1] + u64::from(b == b'"'));
        }
        Prefix { newlines: n, quotes: q }
    }

    /// Line number of byte `i` (1-based).
    fn line(&self, i: usize) -> u64 {
        1 + self.newlines[i]
    }

    /// Whether byte `i` is a record boundary: just after a newline, outside quotes.
    fn boundary(&self, buf: &[u8], i: usize) -> bool {
        i > 0 && buf[i - 1] == b'\n' && self.quotes[i] % 2 == 0
    }
}

// ---------------------------------------------------------------- csv_scan

/// Longest record the `csv_scan` check lets the scanner split: short, or
/// long enough for more than [`MAX_FIELDS`] fields.
fn scan_max_len(first: u8) -> usize {
    if first & 0x80 == 0 {
        48
    } else {
        300
    }
}

/// One scanned record, as offsets into the whole buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScannedRecord {
    start: usize,
    end: usize,
    line: u64,
    too_long: bool,
    plain: bool,
    /// Number of fields (as the scanner counts them).
    field_count: usize,
    /// Byte ranges of the first [`MAX_FIELDS`] fields (empty when too long).
    fields: Vec<(usize, usize)>,
}

/// Scans `whole[range]` (which starts at a record boundary on `first_line`).
fn scan(whole: &[u8], range: std::ops::Range<usize>, first_line: u64, max_len: usize) -> Vec<ScannedRecord> {
    let mut scanner = Scanner::new(&whole[range], first_line, max_len, b',');
    let mut f = Fields::default();
    let mut out = Vec::new();
    while let Some(r) = scanner.next_record(&mut f) {
        let start = offset_in(whole, r.raw);
        let fields = if r.too_long {
            Vec::new()
        } else {
            (0..f.len().min(MAX_FIELDS))
                .map(|i| {
                    let raw = f.raw(r.raw, i);
                    let s = offset_in(r.raw, raw) + start;
                    (s, s + raw.len())
                })
                .collect()
        };
        out.push(ScannedRecord {
            start,
            end: start + r.raw.len(),
            line: r.line,
            too_long: r.too_long,
            plain: r.plain,
            field_count: f.len(),
            fields,
        });
    }
    out
}

/// The record rule written as plainly as possible, to hold the scanner's
/// fast paths against: a record ends at the first `\n` outside quotes
/// (every `"` toggles), one trailing `\r` is dropped, empty records are
/// skipped. Fields are not split (`fields` is left empty).
fn reference_scan(buf: &[u8], max_len: usize) -> Vec<ScannedRecord> {
    let mut out = Vec::new();
    let (mut pos, mut line) = (0usize, 1u64);
    while pos < buf.len() {
        let (mut in_quotes, mut commas, mut inner_newlines) = (false, 0usize, 0u64);
        let (mut end, mut next) = (buf.len(), buf.len());
        for (i, &b) in buf.iter().enumerate().skip(pos) {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' if !in_quotes => {
                    (end, next) = (i, i + 1);
                    break;
                }
                b'\n' => inner_newlines += 1,
                b',' if !in_quotes => commas += 1,
                _ => {}
            }
        }
        let raw_end = if end > pos && buf[end - 1] == b'\r' { end - 1 } else { end };
        let raw = &buf[pos..raw_end];
        if !raw.is_empty() {
            out.push(ScannedRecord {
                start: pos,
                end: raw_end,
                line,
                too_long: raw.len() > max_len,
                plain: !raw.iter().any(|&b| b == b'"' || b == b'\r'),
                field_count: commas + 1,
                fields: Vec::new(),
            });
        }
        line += inner_newlines + u64::from(next > end);
        pos = next;
    }
    out
}

/// `csv_scan`: byte 0 picks the chunk size (low 7 bits) and the longest
/// record (high bit), the rest is the buffer.
///
/// - records are non-empty, in order, inside the buffer, on the right line,
///   flagged too long exactly when longer than the maximum;
/// - the fields of a record that is not too long are the record split at
///   its delimiters (joined with `,` they give the record back);
/// - `Chunker` chunks are contiguous, cover the buffer, end at record
///   boundaries, and scanning them one by one gives exactly the records of
///   one scan over the whole buffer (same bytes, lines and fields);
/// - `last_boundary` is a record boundary and the records before it are the
///   same whichever way the buffer is scanned.
pub fn check_csv_scan(data: &[u8]) {
    let Some((&first, buf)) = data.split_first() else {
        return;
    };
    let max_len = scan_max_len(first);
    let prefix = Prefix::new(buf);
    let whole = scan(buf, 0..buf.len(), 1, max_len);
    let without_fields: Vec<ScannedRecord> =
        whole.iter().map(|r| ScannedRecord { fields: Vec::new(), ..r.clone() }).collect();
    assert_eq!(without_fields, reference_scan(buf, max_len), "scanner differs from the reference record rule");

    let mut prev_end = 0usize;
    for (k, r) in whole.iter().enumerate() {
        assert!(r.start < r.end, "record {k} is empty: {r:?}");
        assert!(
            k == 0 || r.start > prev_end,
            "record {k} starts at {} before the end of the previous one ({prev_end})",
            r.start
        );
        assert!(r.end <= buf.len());
        assert_eq!(r.line, prefix.line(r.start), "record {k} at byte {} has the wrong line", r.start);
        let raw = &buf[r.start..r.end];
        assert_eq!(r.too_long, raw.len() > max_len, "record {k} ({} bytes): wrong too_long flag", raw.len());
        if !r.too_long {
            assert!(r.field_count >= 1, "record {k} has no fields");
            let mut at = r.start;
            for (i, &(s, e)) in r.fields.iter().enumerate() {
                assert!(
                    s == at && s <= e && e <= r.end,
                    "record {k} field {i} at {s}..{e}, expected to start at {at} (record {}..{})",
                    r.start,
                    r.end
                );
                at = e + 1;
            }
            if r.field_count <= MAX_FIELDS {
                let joined: Vec<u8> = r.fields.iter().map(|&(s, e)| &buf[s..e]).collect::<Vec<_>>().join(&b","[..]);
                assert_eq!(joined, raw, "record {k}: fields do not rebuild the record");
            }
        }
        prev_end = r.end;
    }

    // Chunked scanning gives the same records.
    let target = 1 + usize::from(first & 0x7f);
    let mut chunker = Chunker::new(buf, 1, target);
    let mut chunked = Vec::new();
    let mut pos = 0usize;
    for c in chunker.by_ref() {
        assert_eq!(c.start, pos, "chunks are not contiguous");
        assert!(c.start < c.end && c.end <= buf.len(), "bad chunk {c:?} of {}", buf.len());
        assert_eq!(c.first_line, prefix.line(c.start), "chunk {c:?} has the wrong first line");
        if c.end < buf.len() {
            assert!(prefix.boundary(buf, c.end), "chunk {c:?} does not end at a record boundary");
        }
        chunked.extend(scan(buf, c.start..c.end, c.first_line, max_len));
        pos = c.end;
    }
    assert_eq!(pos, buf.len(), "chunks do not cover the buffer");
    assert_eq!(chunker.line(), prefix.line(buf.len()), "chunker ends on the wrong line");
    assert_eq!(chunked, whole, "chunked scan (target {target}) differs from one scan");

    // The streaming cut point.
    let cut = csvscan::last_boundary(buf);
    assert!(cut <= buf.len());
    if cut > 0 {
        assert!(prefix.boundary(buf, cut), "last_boundary {cut} is not a record boundary");
    }
    let before = scan(buf, 0..cut, 1, max_len);
    let expected: Vec<_> = whole.iter().filter(|r| r.start < cut).cloned().collect();
    assert_eq!(before, expected, "records before last_boundary {cut} differ");
    assert!(whole.len() - expected.len() <= 1, "more than one record after last_boundary {cut}");

    // The streaming skip of a long record: `find_record_end` fed the buffer
    // in two pieces (split where byte 0 says) finds the end a byte loop
    // finds, with the same count of quoted newlines.
    let split = usize::from(first).min(buf.len());
    let (mut quoted, mut newlines) = (false, 0u64);
    let found = match csvscan::find_record_end(&buf[..split], &mut quoted, &mut newlines) {
        Some(at) => Some(at),
        None => csvscan::find_record_end(&buf[split..], &mut quoted, &mut newlines).map(|at| split + at),
    };
    let (mut inside, mut expected_newlines, mut expected_end) = (false, 0u64, None);
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'"' => inside = !inside,
            b'\n' if inside => expected_newlines += 1,
            b'\n' => {
                expected_end = Some(i);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(found, expected_end, "find_record_end (split at {split})");
    assert_eq!(newlines, expected_newlines, "find_record_end's quoted newlines (split at {split})");
}

// ----------------------------------------------------------------- formats

/// Longest record the format checks accept (the config minimum is 64).
pub const FORMAT_MAX_LINE: usize = 512;

/// "Now" of the format targets: 2026-11-25T00:00:00Z.
pub const FUZZ_NOW: i64 = 1_795_564_800;

struct Fixture {
    tariff: Tariff,
    numbering: Numbering,
}

/// The shipped `rates/`, loaded once.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = rates_dir();
        let (tariff, _) = tariff::load(&dir, "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap())
            .unwrap_or_else(|e| panic!("cannot load {}: {e}", dir.display()));
        Fixture { tariff, numbering: Numbering::default() }
    })
}

/// Rates `input` in memory with chunks of `chunk_bytes` against the shipped tables.
pub fn rate(format: &Format, input: &[u8], chunk_bytes: usize) -> Result<(MemorySink, Totals), FileError> {
    let f = fixture();
    rate_with(&f.tariff, &f.numbering, format, input, chunk_bytes)
}

/// Rates `input` in memory with chunks of `chunk_bytes` against `tariff`.
pub fn rate_with(
    tariff: &Tariff,
    numbering: &Numbering,
    format: &Format,
    input: &[u8],
    chunk_bytes: usize,
) -> Result<(MemorySink, Totals), FileError> {
    let job = Job {
        // A comma makes `FILE:LINE` call ids take the quoted path.
        name: "fuzz,input.csv".into(),
        format: format.clone(),
        rater: Rater { tariff, numbering, decimals: 4, default_customer: None },
        timezone: amsterdam(),
        // Tight enough that fuzzed rows reach every limit: fields, billsec,
        // and both start-time flags (now = 2026-11-25, flags a day ahead and
        // a year back).
        limits: pipeline::RowLimits {
            max_line_bytes: FORMAT_MAX_LINE,
            max_fields: 64,
            max_billsec: 86_400,
            now: FUZZ_NOW,
            earliest_start: FUZZ_NOW - 365 * 86_400,
            latest_start: FUZZ_NOW + 86_400,
        },
        chunk_bytes,
        cancel: None,
        ids: false,
        usage: false,
        fraud: None,
        pool: None,
    };
    let mut sink = MemorySink::default();
    let totals = pipeline::rate_buffer(input, &job, &mut sink)?;
    Ok((sink, totals))
}

/// `format_generic`: see [`check_format`].
pub fn check_format_generic(data: &[u8]) {
    check_format(&Format::plain(FormatName::Generic).expect("generic"), data);
}

/// `format_asterisk`: see [`check_format`].
pub fn check_format_asterisk(data: &[u8]) {
    check_format(&Format::plain(FormatName::Asterisk).expect("asterisk"), data);
}

/// `format_freeswitch`: byte 0 picks the legs (lowest bit: 0 `legs = "a"`,
/// 1 `legs = "ab"`), the rest goes to [`check_format`].
pub fn check_format_freeswitch(data: &[u8]) {
    let Some((&legs, rest)) = data.split_first() else {
        return;
    };
    let legs = if legs & 1 == 0 { freeswitch::Legs::A } else { freeswitch::Legs::Ab };
    let options = FormatOptions { freeswitch: Some(freeswitch::Options { legs }), ..FormatOptions::default() };
    check_format(&Format::new(FormatName::Freeswitch, &options).expect("freeswitch"), rest);
}

/// `format_3cx` (default field order): see [`check_format`].
pub fn check_format_3cx(data: &[u8]) {
    check_format(&Format::plain(FormatName::ThreeCx).expect("3cx"), data);
}

/// `format_cucm`: see [`check_format`].
pub fn check_format_cucm(data: &[u8]) {
    check_format(&Format::plain(FormatName::Cucm).expect("cucm"), data);
}

/// The `[custom]` layout of `samples/custom/cdr-rater.toml`: the fixed
/// layout every `format_custom` input's data is rated with.
pub const CUSTOM_SAMPLE_LAYOUT: &str = r#"
header = true
delimiter = ";"
call_id = "id"
start = { column = "start", format = "%d.%m.%Y %H:%M:%S" }
account = "account"
caller = "from"
callee = "to"
answer = { column = "answer", format = "%d.%m.%Y %H:%M:%S" }
end = { column = "end", format = "%d.%m.%Y %H:%M:%S" }
disposition = "status"
skip = [ { column = "direction", equals = "inbound" } ]
"#;

/// A `custom` format from a layout's TOML text (the keys of `[custom]`).
/// `Err(None)`: the text does not parse; `Err(Some(problems))`: the layout
/// does not compile.
pub fn custom_format(layout: &str) -> Result<Format, Option<Vec<String>>> {
    let o = toml::from_str::<custom::Options>(layout).map_err(|_| None)?;
    let options = FormatOptions { custom: Some(o), ..FormatOptions::default() };
    Format::new(FormatName::Custom, &options).map_err(Some)
}

fn custom_sample_format() -> &'static Format {
    static F: OnceLock<Format> = OnceLock::new();
    F.get_or_init(|| {
        custom_format(CUSTOM_SAMPLE_LAYOUT).unwrap_or_else(|e| panic!("the sample custom layout is refused: {e:?}"))
    })
}

/// `format_custom`: the input is `LAYOUT \0 DATA` (split at the first NUL;
/// without one, all of it is `DATA`). `DATA` (byte 0 the chunk size, as in
/// [`check_format`]) is always rated with [`CUSTOM_SAMPLE_LAYOUT`], so the
/// row parser is fuzzed whatever the layout bytes are. `LAYOUT` (invalid
/// UTF-8 replaced) is the TOML of a `[custom]` table: if it parses and
/// compiles, `DATA` is also rated with it; a layout that parses but is
/// refused must name at least one problem.
pub fn check_format_custom(data: &[u8]) {
    let (layout, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    check_format(custom_sample_format(), rest);
    let Some(layout) = layout else {
        return;
    };
    match custom_format(&String::from_utf8_lossy(layout)) {
        Ok(format) => check_format(&format, rest),
        Err(None) => {}
        Err(Some(problems)) => assert!(!problems.is_empty(), "a refused layout names no problem"),
    }
}

/// Byte 0 picks the chunk size, the rest is a CDR file rated against the
/// shipped `rates/`.
///
/// - a header without the required columns is a `Format` error, and the
///   only acceptable error;
/// - every record is counted once: rows = rated + unrated + rejected = the
///   records (header excluded) the scanner finds; reasons add up;
/// - without quotes in the input (no multi-line fields), each output has
///   one header line plus one line per row it counts;
/// - buy and sell totals are not negative;
/// - rating again with other chunks gives the same bytes and totals.
pub fn check_format(format: &Format, data: &[u8]) {
    let f = fixture();
    check_format_with(&f.tariff, &f.numbering, format, data)
}

/// [`check_format`] against any tables.
pub fn check_format_with(tariff: &Tariff, numbering: &Numbering, format: &Format, data: &[u8]) {
    let rate = |format: &Format, input: &[u8], chunk: usize| rate_with(tariff, numbering, format, input, chunk);
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let chunk = 1 + usize::from(first) * 4;
    let (sink, t) = match rate(format, input, chunk) {
        Ok(r) => r,
        Err(FileError::Format(_)) => return,
        Err(e) => panic!("rating failed: {e}"),
    };
    assert_eq!(t.rows, t.rated + t.unrated + t.rejected + t.skipped, "rows are lost or counted twice: {t:?}");
    assert_eq!(t.by_skip.iter().sum::<u64>(), t.skipped, "{t:?}");
    assert_eq!(t.by_reject.iter().sum::<u64>(), t.rejected, "{t:?}");
    assert_eq!(t.by_unrated.iter().sum::<u64>(), t.unrated, "{t:?}");
    assert!(t.buy.iter().chain(&t.sell).all(|&m| m >= 0), "negative money: {t:?}");

    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut scanner = Scanner::new(body, 1, FORMAT_MAX_LINE, format.delimiter());
    let mut fields = Fields::default();
    let mut records = 0u64;
    while scanner.next_record(&mut fields).is_some() {
        records += 1;
    }
    records = records.saturating_sub(format.header_records() as u64);
    assert_eq!(t.rows, records, "rows differ from the records in the input");

    for (i, file) in sink.files.iter().enumerate() {
        assert!(file.ends_with(b"\n"), "output {i} does not end in a newline");
    }
    if !input.contains(&b'"') {
        for (i, want) in [t.rated, t.unrated, t.rejected].into_iter().enumerate() {
            let lines = newlines(&sink.files[i]);
            assert_eq!(
                lines,
                want + 1,
                "output {i} has {lines} lines for {want} rows: {:?}",
                String::from_utf8_lossy(&sink.files[i])
            );
        }
    }

    let other = if chunk == 1 { input.len() + 1 } else { 1 };
    let (sink2, t2) =
        rate(format, input, other).unwrap_or_else(|e| panic!("chunk size {other} fails where {chunk} did not: {e}"));
    assert_eq!(t2, t, "totals differ between chunk sizes {chunk} and {other}");
    for i in 0..3 {
        assert!(
            sink2.files[i] == sink.files[i],
            "output {i} differs between chunk sizes {chunk} and {other}:\n{:?}\n{:?}",
            String::from_utf8_lossy(&sink.files[i]),
            String::from_utf8_lossy(&sink2.files[i])
        );
    }
}

// ----------------------------------------------------------------- numbers

/// `numbers`: the input is a dialled number for the default (Dutch) plan.
/// Never panics; an E.164 result is 1-15 ASCII digits, and normalising
/// `+digits` gives the same number.
pub fn check_numbers(data: &[u8]) {
    let plan = default_numbering();
    let result = plan.normalise(data);
    let _ = plan.normalise_caller(data);
    if let Ok(Number::E164(n)) = result {
        let d = n.as_bytes();
        assert!((1..=15).contains(&d.len()) && d.iter().all(u8::is_ascii_digit), "bad E.164 {d:?} from {data:?}");
        let mut plus = b"+".to_vec();
        plus.extend_from_slice(d);
        assert_eq!(plan.normalise(&plus), Ok(Number::E164(n)), "{:?} is not stable", n.as_str());
    }
}

// ----------------------------------------------------------------- timefmt

/// Local time resolved by jiff alone (no day cache): the earlier instant of
/// a repeated time, a skipped time moved forward by the gap.
fn resolve_exact(s: &Stamp, tz: &jiff::tz::TimeZone) -> Option<Stamp> {
    let dt = jiff::civil::DateTime::new(
        i16::try_from(s.year).ok()?,
        s.month as i8,
        s.day as i8,
        s.hour as i8,
        s.minute as i8,
        s.second as i8,
        0,
    )
    .ok()?;
    let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
    let offset = tz.to_offset(ts);
    let local = offset.to_datetime(ts);
    Some(Stamp {
        year: local.year() as u16,
        month: local.month() as u8,
        day: local.day() as u8,
        hour: local.hour() as u8,
        minute: local.minute() as u8,
        second: local.second() as u8,
        offset: offset.seconds(),
    })
}

/// `timefmt`: the input is a start time, local times in Europe/Amsterdam.
/// Never panics; a parsed time printed as RFC 3339 parses back to the same
/// instant; a local time is resolved as jiff resolves it without the cache.
pub fn check_timefmt(data: &[u8]) {
    let tz = amsterdam();
    let mut zone = ZoneCache::new(tz.clone());
    let Some(s) = timefmt::parse_start(data, &mut zone) else {
        return;
    };
    let mut printed = Vec::new();
    s.write_rfc3339(&mut printed);
    let text = String::from_utf8_lossy(&printed).into_owned();
    let again =
        timefmt::parse_start(&printed, &mut zone).unwrap_or_else(|| panic!("{s:?} printed as {text:?} does not parse"));
    assert_eq!(again.epoch_seconds(), s.epoch_seconds(), "{s:?} printed as {text:?} parses as {again:?}");
    // A local time: the day cache must agree with jiff. (jiff refuses the
    // last hours of year 9999, which the cache still resolves; only times
    // jiff can resolve are compared.)
    if let Some((civil, [])) = timefmt::parse_civil(data.trim_ascii(), b'-') {
        if let Some(exact) = resolve_exact(&civil, &tz) {
            assert_eq!(s, exact, "cached zone differs from jiff for {civil:?}");
        }
    }
}

// ------------------------------------------------------------ tariff_files

/// Separates the four files in a `tariff_files` input.
pub const TARIFF_SEPARATOR: &[u8] = b"\n%%\n";

/// Splits `data` at the first `n - 1` separators.
pub fn split_parts<'a>(data: &'a [u8], sep: &[u8], n: usize) -> Vec<&'a [u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut rest = data;
    while parts.len() + 1 < n {
        match rest.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// `tariff_files`: the input is `wholesale.csv`, `plans/standard.toml`,
/// `customers.csv`, `numbers.csv`, then the dated versions
/// `wholesale@2027-01-01.csv` and `plans/standard@2027-02-01.toml` (SPEC
/// §3.5; plans may hold periods and limits), separated by
/// [`TARIFF_SEPARATOR`] (missing parts: an empty file, no plan file, no
/// `numbers.csv`, no dated version).
/// Loading never panics; a failed load names at least one problem; a
/// loaded tariff finds every prefix and customer, and its precomputed sell
/// prices match what `lookup` explains.
pub fn check_tariff_files(data: &[u8]) {
    let _ = load_checked_tariff(&split_parts(data, TARIFF_SEPARATOR, 6));
}

/// Writes up to four tariff files (see [`check_tariff_files`]) and loads
/// them with the checks of that target; `None` when the load is refused.
fn load_checked_tariff(parts: &[&[u8]]) -> Option<Tariff> {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let plans = root.join("plans");
    std::fs::create_dir(&plans).expect("plans dir");
    std::fs::write(root.join("wholesale.csv"), parts[0]).expect("write");
    if let Some(p) = parts.get(1) {
        std::fs::write(plans.join("standard.toml"), p).expect("write");
    }
    std::fs::write(root.join("customers.csv"), parts.get(2).unwrap_or(&&[][..])).expect("write");
    if let Some(p) = parts.get(3) {
        std::fs::write(root.join("numbers.csv"), p).expect("write");
    }
    // Dated versions (SPEC §3.5): a later deck and a later plan.
    if let Some(p) = parts.get(4) {
        std::fs::write(root.join("wholesale@2027-01-01.csv"), p).expect("write");
    }
    if let Some(p) = parts.get(5) {
        std::fs::write(plans.join("standard@2027-02-01.toml"), p).expect("write");
    }
    let t = match tariff::load(root, "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()) {
        Ok((t, _report)) => t,
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a failed load names no problem");
            let _ = errors.to_string();
            return None;
        }
    };
    for epoch in t.epochs() {
        let deck = &epoch.deck;
        for (i, d) in deck.destinations.iter().enumerate() {
            assert_eq!(
                deck.destination(d.prefix.as_bytes()),
                Some(i as u32),
                "prefix {} does not find its own row",
                d.prefix
            );
            for plan in epoch.plans.iter().flatten() {
                let periods = &plan.levels.periods;
                let quote = plan.quote(i as u32, d.prefix.as_bytes());
                for p in 0..=periods.defs.len() as u8 {
                    let name = (p != 0).then(|| periods.name(p));
                    let r = plan.explain(d, d.prefix.as_bytes(), &t.home_country, name);
                    let explained = FixedPrice::new(r.start_fee, r.rate).map(|e| (e.fee, e.rate, e.scale));
                    let used = plan.price(quote, p);
                    // Prices of a plan with periods share one scale: compare values.
                    let same = explained.is_some_and(|(fee, rate, scale)| {
                        let widen = |m: u64, s: u8, to: u8| u128::from(m) * 10u128.pow(u32::from(to - s.min(to)));
                        let top = scale.max(used.scale);
                        widen(fee, scale, top) == widen(used.fee, used.scale, top)
                            && widen(rate, scale, top) == widen(used.rate, used.scale, top)
                    });
                    assert!(same, "plan {} prices {} in period {p} other than it explains", plan.name, d.prefix);
                }
            }
        }
        for (i, c) in t.customers.iter().enumerate() {
            let p = epoch.plan_of(i as u32);
            if p != tariff::NO_PLAN {
                assert!(epoch.plans[p as usize].is_some(), "customer {} has no plan in force", c.id);
            }
        }
    }
    for (i, c) in t.customers.iter().enumerate() {
        assert_eq!(t.customer_by_id(c.id.as_bytes()), Some(i as u32));
        assert!((c.plan as usize) < t.plan_names.len());
    }
    Some(t)
}

// --------------------------------------------------------------------- e2e

/// `e2e`: tables and rows together. The input is the four tariff files of
/// `tariff_files` and then a `generic` CDR file (byte 0: chunk size), all
/// five separated by [`TARIFF_SEPARATOR`]. Tables that load are checked as in
/// `tariff_files`; the rows are then rated against them with every check of
/// [`check_format`]: no panic, rows conserved, no negative money, the same
/// bytes and totals whatever the chunking.
pub fn check_e2e(data: &[u8]) {
    let parts = split_parts(data, TARIFF_SEPARATOR, 5);
    let Some((rows, tables)) = parts.split_last() else { return };
    if parts.len() < 5 {
        return;
    }
    let Some(tariff) = load_checked_tariff(tables) else { return };
    let generic = Format::plain(FormatName::Generic).expect("generic");
    check_format_with(&tariff, default_numbering(), &generic, rows);
}

// ------------------------------------------------------------------ config

/// `config`: the input is a config file (invalid UTF-8 replaced).
/// Parsing never panics, nor does using what it accepted.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text, Path::new("fuzz.toml")) {
        Ok(c) => {
            let _ = c.format();
            // Every source was resolved by validation.
            assert_eq!(c.sources().count(), c.source.len(), "a source of an accepted config is not resolved");
            let _ = c.time_zone();
            let mut plans = vec![c.numbering.clone()];
            plans.extend(c.source.iter().map(|s| c.numbering_for(s)));
            for plan in plans {
                for n in ["0201234567", "+44 20 7946 0000", "00491701234567", "201"] {
                    let _ = plan.normalise(n.as_bytes());
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
