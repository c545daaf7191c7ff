//! Rating one input file: split into record-aligned chunks, rate the chunks
//! in parallel on rayon, write their outputs in input order.
//!
//! Memory stays bounded whatever the file size: a mapped file is walked in
//! batches of [`BATCH_CHUNKS`] chunks, a compressed or piped one through a
//! sliding window, and the outputs of a batch are handed to a writer thread
//! while the next batch is rated. Output buffers are recycled.
//!
//! Determinism: chunk boundaries follow the same record rule as the parser
//! ([`crate::csvscan`]), each row's outcome depends only on the row and the
//! tariff, and chunks are written in order, so the outputs are byte for byte
//! the same for any thread count and chunk size.

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::csvscan::{self, unquote, Chunker, Fields, Record, Scanner};
use crate::formats::{Call, CallId, Format, FormatError, NotCall, ParseContext, Parser, Reject, RowParser, Skip};
use crate::money::{put, write_units};
use crate::numbers::Number;
use crate::output::{RATED_HEADER, REJECTED_HEADER};
use crate::rating::{Priced, Rater};
use crate::tariff::{csv_field, Currencies, MAX_CURRENCIES};
use crate::timefmt::{DayMapper, ZoneCache};

/// Default bytes of input per parallel chunk.
pub const CHUNK_BYTES: usize = 512 * 1024;
/// Chunks rated together before their outputs are written.
pub const BATCH_CHUNKS: usize = 16;
/// Largest read window for streamed input.
const WINDOW_BYTES: usize = 8 * 1024 * 1024;

/// Receives a file's outputs in order: `which` is 0 rated, 1 unrated, 2 rejected.
pub trait Sink: Send {
    /// Appends bytes to one of the three outputs.
    fn write(&mut self, which: usize, bytes: &[u8]) -> io::Result<()>;
}

/// In-memory outputs, for tests and tools.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemorySink {
    /// Rated, unrated, rejected.
    pub files: [Vec<u8>; 3],
}

impl Sink for MemorySink {
    fn write(&mut self, which: usize, bytes: &[u8]) -> io::Result<()> {
        self.files[which].extend_from_slice(bytes);
        Ok(())
    }
}

/// Counts and money of one file or chunk. Money in units of `10^-decimals`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Input rows (records; blank lines are not rows).
    pub rows: u64,
    /// Rows in the rated output.
    pub rated: u64,
    /// Rows in the unrated output.
    pub unrated: u64,
    /// Rows in the rejected output.
    pub rejected: u64,
    /// Rows the format marks as not billable (counted, not written).
    pub skipped: u64,
    /// Sum of buy per currency: slot `i` is in currency `currencies.code(i)`.
    pub buy: [i128; MAX_CURRENCIES],
    /// Sum of sell per currency, as `buy`.
    pub sell: [i128; MAX_CURRENCIES],
    /// The currencies of the money slots: the tariff's
    /// ([`crate::tariff::Tariff::currencies`]) in a file's totals; empty in
    /// a chunk's, whose slots are the tariff's indexes.
    pub currencies: Currencies,
    /// Rejected rows per [`Reject`] reason.
    pub by_reject: [u64; Reject::ALL.len()],
    /// Unrated rows: unknown customer, no tariff.
    pub by_unrated: [u64; 2],
    /// Skipped rows per [`Skip`] reason.
    pub by_skip: [u64; Skip::ALL.len()],
    /// Rated rows with an implausible start time, per [`Flag`] (also in `rated`).
    pub by_flag: [u64; Flag::ALL.len()],
}

impl Totals {
    /// Adds another file's or chunk's totals.
    pub fn add(&mut self, o: &Totals) {
        self.rows += o.rows;
        self.rated += o.rated;
        self.unrated += o.unrated;
        self.rejected += o.rejected;
        self.skipped += o.skipped;
        self.add_money(o);
        for (a, b) in self.by_reject.iter_mut().zip(o.by_reject) {
            *a += b;
        }
        for (a, b) in self.by_unrated.iter_mut().zip(o.by_unrated) {
            *a += b;
        }
        for (a, b) in self.by_skip.iter_mut().zip(o.by_skip) {
            *a += b;
        }
        for (a, b) in self.by_flag.iter_mut().zip(o.by_flag) {
            *a += b;
        }
    }

    /// Adds `o`'s money: slot by slot when both are numbered alike (a
    /// chunk into its file), else currency by currency (files rated with
    /// different tables).
    fn add_money(&mut self, o: &Totals) {
        if self.currencies.is_empty() && self.buy == [0; MAX_CURRENCIES] && self.sell == [0; MAX_CURRENCIES] {
            self.currencies = o.currencies;
        }
        if o.currencies.is_empty() || o.currencies == self.currencies {
            for i in 0..MAX_CURRENCIES {
                self.buy[i] += o.buy[i];
                self.sell[i] += o.sell[i];
            }
            return;
        }
        for (i, code) in o.currencies.iter() {
            let at = match self.currencies.index_of(code.as_bytes()) {
                Some(at) => at,
                None => {
                    let code = code.as_bytes().try_into().expect("currency codes are three bytes");
                    // Totals are added across the files of one command,
                    // rated with one set of tables: never more currencies.
                    self.currencies.push(code).expect("more than MAX_CURRENCIES currencies in one sum of totals")
                }
            };
            self.buy[at] += o.buy[i];
            self.sell[at] += o.sell[i];
        }
    }

    /// (currency, buy, sell) of every money slot in use.
    pub fn money(&self) -> impl Iterator<Item = (&str, i128, i128)> + '_ {
        self.currencies.iter().map(|(i, code)| (code, self.buy[i], self.sell[i]))
    }

    /// Buy and sell as the ledger records them: with one currency the bare
    /// amounts (`12.3400`); with several, `AMOUNT CODE` per currency joined
    /// by `, ` (`12.3400 EUR, 1.2000 USD`).
    pub fn money_text(&self, decimals: u32) -> (String, String) {
        let one = |v: i128| crate::money::format_units(v, decimals);
        if self.currencies.len() <= 1 {
            return (one(self.buy[0]), one(self.sell[0]));
        }
        let each = |f: fn(&(&str, i128, i128)) -> i128| {
            self.money().map(|m| format!("{} {}", one(f(&m)), m.0)).collect::<Vec<_>>().join(", ")
        };
        (each(|m| m.1), each(|m| m.2))
    }

    /// Rated rows with any [`Flag`].
    pub fn flagged(&self) -> u64 {
        self.by_flag.iter().sum()
    }
}

/// Why a rated row is suspicious: it is billed, counted per file
/// (summary, ledger, `records_flagged_total{flag}`) and logged per file,
/// so that the operator fixes the switch (usually its clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// Starts more than `[limits] flag_future_start_seconds` after now.
    /// For IDS such a call counts on the day it is rated: its own day has
    /// not come, and a switch with a broken clock must not fill the state
    /// with years of future days.
    StartInFuture,
    /// Starts more than `[limits] flag_past_start_days` before now.
    StartInPast,
}

impl Flag {
    /// Every flag.
    pub const ALL: [Flag; 2] = [Flag::StartInFuture, Flag::StartInPast];

    /// Flag as counted and labelled.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::StartInFuture => "start_in_future",
            Flag::StartInPast => "start_in_past",
        }
    }
}

/// What a row may be before it is rejected or flagged (`[limits]`, with
/// "now" fixed for the whole file so that chunking cannot change a result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimits {
    /// Longest record in bytes (`line_too_long`).
    pub max_line_bytes: usize,
    /// Most fields a record may have (`too_many_fields`).
    pub max_fields: usize,
    /// Longest answered duration in seconds (`billsec_too_long`).
    pub max_billsec: u32,
    /// Unix seconds the file is rated at: IDS day of a future call.
    pub now: i64,
    /// Starts before this (unix seconds) are [`Flag::StartInPast`].
    pub earliest_start: i64,
    /// Starts after this (unix seconds) are [`Flag::StartInFuture`].
    pub latest_start: i64,
}

impl RowLimits {
    /// Limits that only bound the line length (tests, benches, fuzzing).
    pub fn lines(max_line_bytes: usize) -> RowLimits {
        RowLimits {
            max_line_bytes,
            max_fields: usize::MAX,
            max_billsec: u32::MAX,
            now: 0,
            earliest_start: i64::MIN,
            latest_start: i64::MAX,
        }
    }

    /// The flag of a start time, if any.
    #[inline]
    pub fn flag(&self, start: i64) -> Option<Flag> {
        if start > self.latest_start {
            Some(Flag::StartInFuture)
        } else if start < self.earliest_start {
            Some(Flag::StartInPast)
        } else {
            None
        }
    }
}

/// Why a whole file could not be rated.
///
/// Each message says its cause once: the cause's text is part of it (the
/// daemon logs `to_string()`), so [`Error::source`](std::error::Error::source)
/// skips that level and goes on with the cause's own source, and a chain
/// printed with `{:#}` does not repeat it.
#[derive(Debug)]
pub enum FileError {
    /// Reading the input failed (including a corrupt compressed stream).
    Read(io::Error),
    /// Writing an output failed.
    Write(io::Error),
    /// The file is not in the expected format.
    Format(FormatError),
    /// Abandoned on request; nothing was published.
    Cancelled,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Read(e) => write!(f, "cannot read input: {e}"),
            FileError::Write(e) => write!(f, "cannot write output: {e}"),
            FileError::Format(e) => write!(f, "{e}"),
            FileError::Cancelled => f.write_str("abandoned: shutting down"),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Read(e) | FileError::Write(e) => e.source(),
            FileError::Format(e) => e.source(),
            FileError::Cancelled => None,
        }
    }
}

impl From<FormatError> for FileError {
    fn from(e: FormatError) -> Self {
        FileError::Format(e)
    }
}

/// Settings of one file's rating.
pub struct Job<'t> {
    /// Input name used in `FILE:LINE` call ids.
    pub name: String,
    /// CDR format with its options.
    pub format: Format,
    /// Tariff snapshot and rating options.
    pub rater: Rater<'t>,
    /// Zone of local times in the file.
    pub timezone: jiff::tz::TimeZone,
    /// What a row may be before it is rejected or flagged.
    pub limits: RowLimits,
    /// Target chunk size (tests vary it; results must not change).
    pub chunk_bytes: usize,
    /// Set to abandon the file between batches (daemon shutdown).
    pub cancel: Option<&'t AtomicBool>,
    /// Add up spend per customer day for IDS.
    pub ids: bool,
}

/// Watches a file being rated (a progress bar): told once per batch of
/// chunks how many more input bytes were rated, never per row. Absent (the
/// daemon, tests), it costs nothing.
pub trait Progress: Sync {
    /// `bytes` more bytes of (decompressed) input have been rated.
    fn advance(&self, bytes: u64);
}

/// Where a file's bytes come from.
pub enum Input {
    /// A whole buffer (a mapped file).
    Bytes(memmap2::Mmap),
    /// A borrowed buffer.
    Slice(Vec<u8>),
    /// A stream (gzip, stdin): read through a window.
    Stream(Box<dyn Read + Send>),
}

/// Rates one input into `sink`; returns the totals.
pub fn rate_input(input: Input, job: &Job<'_>, sink: &mut dyn Sink) -> Result<Totals, FileError> {
    rate_input_tally(input, job, sink).map(|t| t.totals)
}

/// Rates one input into `sink`, telling `progress` how far it got after
/// each batch of chunks; returns the totals.
pub fn rate_input_observed(
    input: Input,
    job: &Job<'_>,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<Totals, FileError> {
    rate_input_with(input, job, sink, Some(progress)).map(|t| t.totals)
}

/// Rates one input into `sink`; returns the totals and, with `job.ids`, the
/// spend per customer and day.
pub fn rate_input_tally(input: Input, job: &Job<'_>, sink: &mut dyn Sink) -> Result<Tally, FileError> {
    rate_input_with(input, job, sink, None)
}

fn rate_input_with(
    input: Input,
    job: &Job<'_>,
    sink: &mut dyn Sink,
    progress: Option<&dyn Progress>,
) -> Result<Tally, FileError> {
    match input {
        Input::Bytes(m) => rate_buffer_tally(&m, job, sink, progress),
        Input::Slice(v) => rate_buffer_tally(&v, job, sink, progress),
        Input::Stream(r) => rate_stream(r, job, sink, progress),
    }
}

/// Rates a whole in-memory file.
pub fn rate_buffer(buf: &[u8], job: &Job<'_>, sink: &mut dyn Sink) -> Result<Totals, FileError> {
    rate_buffer_tally(buf, job, sink, None).map(|t| t.totals)
}

fn rate_buffer_tally(
    buf: &[u8],
    job: &Job<'_>,
    sink: &mut dyn Sink,
    progress: Option<&dyn Progress>,
) -> Result<Tally, FileError> {
    let mut state = FileState::new(job, progress);
    let (rest, line) = state.start(buf, sink)?;
    let mut totals = Tally::for_job(job);
    let mut chunker = Chunker::new(&buf[rest..], line, job.chunk_bytes);
    run_batches(&buf[rest..], &mut chunker, &state, sink, &mut totals)?;
    Ok(totals)
}

/// Everything a file's rating adds up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Counts and money.
    pub totals: Totals,
    /// Sell per customer and customer day (customers with an IDS range only).
    pub spend: crate::ids::SpendAgg,
}

impl Tally {
    /// An empty tally whose money slots are the currencies of `job`'s tariff.
    fn for_job(job: &Job<'_>) -> Tally {
        let mut t = Tally::default();
        t.totals.currencies = job.rater.tariff.currencies;
        t
    }

    fn add(&mut self, o: &Tally) {
        self.totals.add(&o.totals);
        self.spend.merge(&o.spend);
    }
}

/// The read window of a streamed input: `buf[..len]` holds bytes that
/// start at a record boundary. `buf` only grows, so reads land in memory
/// zeroed once, not on every fill.
struct Window {
    buf: Vec<u8>,
    len: usize,
}

impl Window {
    /// Reads until `want` bytes are held or the stream ends (returns true).
    fn fill(&mut self, reader: &mut dyn Read, want: usize) -> Result<bool, FileError> {
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.len < want {
            match reader.read(&mut self.buf[self.len..want]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FileError::Read(e)),
            }
        }
        Ok(false)
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets the first `n` bytes held.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// A record longer than the line limit, being read past without being held.
struct LongRecord {
    /// Its first `max_line_bytes` bytes: all the rejected row keeps.
    head: Vec<u8>,
    /// The line it starts on.
    line: u64,
    /// Quote state at the last byte read.
    in_quotes: bool,
    /// `\n`s inside quotes read so far.
    inner_newlines: u64,
}

fn rate_stream(
    mut reader: Box<dyn Read + Send>,
    job: &Job<'_>,
    sink: &mut dyn Sink,
    progress: Option<&dyn Progress>,
) -> Result<Tally, FileError> {
    let mut state = FileState::new(job, progress);
    let mut totals = Tally::for_job(job);
    // A batch of chunks per read (8 MiB by default; tiny in tests).
    let window_bytes = job.chunk_bytes.saturating_mul(BATCH_CHUNKS).clamp(64, WINDOW_BYTES);
    let limit = csvscan::record_limit(job.limits.max_line_bytes);
    let cancelled = || job.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let mut window = Window { buf: Vec::new(), len: 0 };

    // The header records must be whole before they can be used; one longer
    // than a header may be fails the file in `start`, so waiting is bounded.
    let wanted = job.format.header_records();
    let header_cap = wanted.saturating_mul(header_limit(job) + 2).saturating_add(window_bytes);
    let mut eof = false;
    while !eof {
        eof = window.fill(&mut *reader, window.len + window_bytes)?;
        if window.len > header_cap || whole_records(window.bytes(), wanted, job.format.delimiter()) >= wanted {
            break;
        }
    }
    let (rest, mut line) = state.start(window.bytes(), sink)?;
    window.consume(rest);

    let mut long: Option<LongRecord> = None;
    loop {
        if let Some(mut rec) = long.take() {
            // Reading past a long record: only its quote state and lines matter.
            match csvscan::find_record_end(window.bytes(), &mut rec.in_quotes, &mut rec.inner_newlines) {
                Some(at) => {
                    window.consume(at + 1);
                    line = rec.line + rec.inner_newlines + 1;
                    reject_long(&rec, &state, sink, &mut totals)?;
                }
                None if eof => {
                    // An unterminated quote runs to the end: one record.
                    reject_long(&rec, &state, sink, &mut totals)?;
                    break;
                }
                None => {
                    if cancelled() {
                        return Err(FileError::Cancelled);
                    }
                    window.len = 0;
                    eof = window.fill(&mut *reader, window_bytes)?;
                    long = Some(rec);
                    continue;
                }
            }
        }
        let cut = if eof { window.len } else { csvscan::last_boundary(window.bytes()) };
        if cut > 0 {
            let region = &window.buf[..cut];
            let mut chunker = Chunker::new(region, line, job.chunk_bytes);
            run_batches(region, &mut chunker, &state, sink, &mut totals)?;
            line = chunker.line();
            window.consume(cut);
        }
        if eof {
            break;
        }
        // What is left is the start of one record. Past the limit (one
        // byte more for a `\r` before its `\n`) it is too long whatever
        // follows: keep its head and stop holding it.
        if window.len > limit + 1 {
            let mut rec =
                LongRecord { head: window.bytes()[..limit].to_vec(), line, in_quotes: false, inner_newlines: 0 };
            let end = csvscan::find_record_end(window.bytes(), &mut rec.in_quotes, &mut rec.inner_newlines);
            debug_assert!(end.is_none(), "no record ends after the last boundary");
            window.len = 0;
            long = Some(rec);
            eof = window.fill(&mut *reader, window_bytes)?;
            continue;
        }
        eof = window.fill(&mut *reader, window.len + window_bytes)?;
    }
    Ok(totals)
}

/// Writes the rejected row of a record too long to hold, as the chunk path
/// writes it for one it holds: its line, `line_too_long`, its head.
fn reject_long(
    rec: &LongRecord,
    state: &FileState<'_, '_>,
    sink: &mut dyn Sink,
    totals: &mut Tally,
) -> Result<(), FileError> {
    if state.parser.is_none() {
        return Ok(()); // no data rows at all (as in `run_batches`)
    }
    let mut out = Vec::with_capacity(rec.head.len() + rec.head.len() / 8 + 40);
    write_line_reason(&mut out, rec.line, Reject::LineTooLong.as_str());
    csv_field(&mut out, &rec.head);
    out.push(b'\n');
    sink.write(2, &out).map_err(FileError::Write)?;
    let t = &mut totals.totals;
    t.rows += 1;
    t.rejected += 1;
    t.by_reject[Reject::LineTooLong as usize] += 1;
    Ok(())
}

/// The longest header record a file may have.
fn header_limit(job: &Job<'_>) -> usize {
    // A header may be longer than a data row may.
    job.limits.max_line_bytes.max(1 << 20)
}

/// How many whole records (up to `wanted`) `buf` starts with.
fn whole_records(buf: &[u8], wanted: usize, delimiter: u8) -> usize {
    if wanted == 0 {
        return 0;
    }
    let whole = &buf[..csvscan::last_boundary(buf)];
    let mut scanner = Scanner::new(whole, 1, usize::MAX, delimiter);
    let mut fields = Fields::default();
    let mut n = 0;
    while n < wanted && scanner.next_record(&mut fields).is_some() {
        n += 1;
    }
    n
}

/// What every chunk of one file shares.
struct FileState<'j, 't> {
    job: &'j Job<'t>,
    parser: Option<Parser>,
    name_csv: Vec<u8>,
    /// The format's delimiter is a comma: plain fields can be copied as is.
    comma: bool,
    /// Told after each batch.
    progress: Option<&'j dyn Progress>,
}

impl<'j, 't> FileState<'j, 't> {
    fn new(job: &'j Job<'t>, progress: Option<&'j dyn Progress>) -> Self {
        let mut name_csv = Vec::new();
        csv_field(&mut name_csv, job.name.as_bytes());
        FileState { job, parser: None, name_csv, comma: job.format.delimiter() == b',', progress }
    }

    /// Reads the header records if the format has them, builds the parser
    /// and writes the output headers. Returns where the data starts and its line.
    fn start(&mut self, buf: &[u8], sink: &mut dyn Sink) -> Result<(usize, u64), FileError> {
        let job = self.job;
        // A UTF-8 byte order mark (Windows switches write one) is not data.
        let bom = if buf.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        let mut scanner = Scanner::new(&buf[bom..], 1, header_limit(job), job.format.delimiter());
        let mut fields = Fields::default();
        let wanted = job.format.header_records();
        let mut headers: Vec<Vec<&[u8]>> = Vec::with_capacity(wanted);
        let mut first_raw: &[u8] = &[];
        while headers.len() < wanted {
            let Some(rec) = scanner.next_record(&mut fields) else { break };
            if rec.too_long {
                // Its fields were not split; and a stream cannot wait for it.
                return Err(
                    FormatError::BadHeader("a header line is longer than limits.max_line_bytes and 1 MiB").into()
                );
            }
            if headers.is_empty() {
                first_raw = rec.raw;
            }
            headers.push((0..fields.len()).map(|i| fields.get(rec.raw, i)).collect());
        }
        if headers.len() < wanted {
            // No data: empty outputs, with headers.
            let parser = Parser::new(&job.format, &headers).ok();
            let names = parser.as_ref().and_then(|p| p.column_names());
            let header = match names {
                Some(n) => n.join(",").into_bytes(),
                None if !first_raw.is_empty() => first_raw.to_vec(),
                None => crate::formats::Generic::header_names().join(",").into_bytes(),
            };
            self.parser = parser;
            write_headers(sink, &header)?;
            return Ok((buf.len(), scanner.line()));
        }
        let parser = Parser::new(&job.format, &headers)?;
        let header = match parser.column_names() {
            Some(n) => n.join(",").into_bytes(),
            None => first_raw.to_vec(),
        };
        write_headers(sink, &header)?;
        self.parser = Some(parser);
        Ok((bom + scanner.position(), scanner.line()))
    }
}

fn write_headers(sink: &mut dyn Sink, unrated_columns: &[u8]) -> Result<(), FileError> {
    let mut unrated = b"line,reason,".to_vec();
    unrated.extend_from_slice(unrated_columns);
    unrated.push(b'\n');
    sink.write(0, RATED_HEADER).map_err(FileError::Write)?;
    sink.write(1, &unrated).map_err(FileError::Write)?;
    sink.write(2, REJECTED_HEADER).map_err(FileError::Write)
}

/// Output buffers of finished chunks, reused by the next chunks and files
/// (fresh memory costs page faults and zeroing on every file).
static BUFFERS: Mutex<Vec<ChunkOut>> = Mutex::new(Vec::new());
/// At most this many free buffers are kept: enough for the batches in flight.
const MAX_FREE_BUFFERS: usize = 3 * BATCH_CHUNKS;
/// Largest output buffer kept for reuse: a few times what a default chunk
/// writes (rated rows are about three times their input).
const KEEP_BUFFER_BYTES: usize = 8 * CHUNK_BYTES;

/// Output of one chunk.
#[derive(Default)]
struct ChunkOut {
    files: [Vec<u8>; 3],
    tally: Tally,
}

/// Rates `chunks` of `buf` in parallel batches and writes them in order,
/// overlapping the writing of one batch with the rating of the next.
fn run_batches(
    buf: &[u8],
    chunker: &mut Chunker<'_>,
    state: &FileState<'_, '_>,
    sink: &mut dyn Sink,
    totals: &mut Tally,
) -> Result<(), FileError> {
    let Some(parser) = &state.parser else {
        return Ok(());
    };
    let mut batch: Vec<csvscan::Chunk> = chunker.by_ref().take(BATCH_CHUNKS).collect();
    if batch.is_empty() {
        return Ok(());
    }
    let pool = &BUFFERS;
    let (to_writer, from_rater) = mpsc::sync_channel::<Vec<ChunkOut>>(1);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<Tally, FileError> {
            let mut t = Tally::default();
            for batch in from_rater {
                for out in batch {
                    for (i, f) in out.files.iter().enumerate() {
                        if !f.is_empty() {
                            sink.write(i, f).map_err(FileError::Write)?;
                        }
                    }
                    t.add(&out.tally);
                    let mut out = out;
                    for f in &mut out.files {
                        // A buffer one odd chunk grew stays out of the pool,
                        // so its memory goes back with it.
                        if f.capacity() > KEEP_BUFFER_BYTES {
                            *f = Vec::new();
                        }
                    }
                    let mut free = pool.lock().unwrap_or_else(|e| e.into_inner());
                    if free.len() < MAX_FREE_BUFFERS {
                        free.push(out);
                    }
                }
            }
            Ok(t)
        });
        let cancelled = || state.job.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        let mut result = Ok(());
        while !batch.is_empty() {
            if cancelled() {
                result = Err(FileError::Cancelled);
                break;
            }
            let bytes: usize = batch.iter().map(|c| c.end - c.start).sum();
            // Rate this batch while finding the next batch's boundaries.
            let (outs, next) = rayon::join(
                || {
                    batch
                        .par_iter()
                        .map(|c| {
                            let mut out = pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
                            for f in &mut out.files {
                                f.clear();
                            }
                            out.tally.totals = Totals::default();
                            out.tally.spend.clear();
                            rate_chunk(&buf[c.start..c.end], c.first_line, parser, state, &mut out);
                            out
                        })
                        .collect::<Vec<ChunkOut>>()
                },
                || chunker.by_ref().take(BATCH_CHUNKS).collect::<Vec<_>>(),
            );
            if to_writer.send(outs).is_err() {
                break; // the writer failed; its error is reported below
            }
            if let Some(p) = state.progress {
                p.advance(bytes as u64);
            }
            batch = next;
        }
        drop(to_writer);
        match writer.join() {
            Ok(Ok(t)) => {
                totals.add(&t);
                result
            }
            Ok(Err(e)) => Err(e),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Rates the records of one chunk into `out`.
fn rate_chunk(buf: &[u8], first_line: u64, parser: &Parser, state: &FileState<'_, '_>, out: &mut ChunkOut) {
    let job = state.job;
    let mut zone = ZoneCache::new(job.format.timezone().unwrap_or_else(|| job.timezone.clone()));
    let mut fields = Fields::default();
    let mut scanner = Scanner::new(buf, first_line, job.limits.max_line_bytes, job.format.delimiter());
    let limits = &job.limits;
    let head_len = csvscan::record_limit(limits.max_line_bytes);
    let decimals = job.rater.decimals;
    let tariff = job.rater.tariff;
    // Customer days: one mapper per customer zone, the last for the default zone.
    let mut days: Vec<DayMapper> = if job.ids {
        tariff.zones.iter().chain(std::iter::once(&job.timezone)).map(|z| DayMapper::new(z.clone())).collect()
    } else {
        Vec::new()
    };
    let default_zone = tariff.zones.len();
    let t = &mut out.tally.totals;
    let spend = &mut out.tally.spend;
    let [rated, unrated, rejected] = &mut out.files;
    while let Some(rec) = scanner.next_record(&mut fields) {
        t.rows += 1;
        let mut cx = ParseContext { zone: &mut zone, numbering: job.rater.numbering };
        // Too long first: such a record's fields were not split, and the
        // streamed path (which never holds it) decides on its length alone.
        let parsed = if rec.too_long {
            Err(NotCall::Reject(Reject::LineTooLong))
        } else if fields.len() > limits.max_fields {
            Err(NotCall::Reject(Reject::TooManyFields))
        } else {
            match parser.parse(&rec, &fields, &mut cx) {
                Ok(call) if call.billsec > limits.max_billsec => Err(NotCall::Reject(Reject::BillsecTooLong)),
                parsed => parsed,
            }
        };
        match parsed {
            Err(NotCall::Skip(reason)) => {
                t.skipped += 1;
                t.by_skip[reason as usize] += 1;
            }
            Err(NotCall::Reject(reason)) => {
                t.rejected += 1;
                t.by_reject[reason as usize] += 1;
                write_line_reason(rejected, rec.line, reason.as_str());
                // Only the head of a record that is too long: a copy of a
                // huge one would cost its size in memory.
                csv_field(rejected, &rec.raw[..rec.raw.len().min(head_len)]);
                rejected.push(b'\n');
            }
            Ok(call) => match job.rater.rate(&call) {
                Ok(p) => {
                    t.rated += 1;
                    // The mask keeps the index in range without a bounds
                    // check (the tariff numbers fewer currencies).
                    let c = usize::from(p.currency) & (MAX_CURRENCIES - 1);
                    t.buy[c] += i128::from(p.buy);
                    t.sell[c] += i128::from(p.sell);
                    write_rated(rated, &call, &p, &rec, state, decimals);
                    let mut start = call.start.epoch_seconds();
                    if let Some(flag) = limits.flag(start) {
                        t.by_flag[flag as usize] += 1;
                        if flag == Flag::StartInFuture {
                            start = limits.now;
                        }
                    }
                    if job.ids {
                        let customer = &tariff.customers[p.customer as usize];
                        if customer.ids_range.is_some() {
                            let zone = customer.zone.map_or(default_zone, usize::from);
                            let day = days[zone].day_of(start);
                            let country = p.destination.map_or(*b"--", |d| tariff.hot(d).country);
                            spend.add(p.customer, day, p.sell as i64, country);
                        }
                    }
                }
                Err(reason) => {
                    t.unrated += 1;
                    t.by_unrated[reason as usize] += 1;
                    write_line_reason(unrated, rec.line, reason.as_str());
                    unrated.extend_from_slice(rec.raw);
                    unrated.push(b'\n');
                }
            },
        }
    }
    spend.flush();
}

#[inline]
fn write_line_reason(out: &mut Vec<u8>, line: u64, reason: &str) {
    out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    out.push(b',');
    out.extend_from_slice(reason.as_bytes());
    out.push(b',');
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

#[inline]
fn write_rated(
    out: &mut Vec<u8>,
    call: &Call<'_>,
    p: &Priced,
    rec: &Record<'_>,
    state: &FileState<'_, '_>,
    decimals: u32,
) {
    // A plain record has no quotes; with another delimiter its fields may
    // still hold commas, so they take the escaping path.
    let (line, plain) = (rec.line, rec.plain && state.comma);
    let tariff = state.job.rater.tariff;
    let customer = &tariff.customers[p.customer as usize];
    let plan = &tariff.plans[p.plan as usize];
    match call.call_id {
        CallId::Field(raw) => write_raw_field(out, raw, plain),
        CallId::FileLine => {
            if state.name_csv.first() == Some(&b'"') {
                let mut id = state.job.name.as_bytes().to_vec();
                id.push(b':');
                id.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
                csv_field(out, &id);
            } else {
                put(out, &state.name_csv);
                out.push(b':');
                put(out, itoa::Buffer::new().format(line).as_bytes());
            }
        }
    }
    out.push(b',');
    call.start.write_rfc3339(out);
    out.push(b',');
    put(out, &customer.csv_id);
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
            put(out, tariff.destination_csv(d));
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
    out.push(b'\n');
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
}
