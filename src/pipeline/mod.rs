//! Rating one input file: split into record-aligned chunks, rate the chunks
//! in parallel on rayon, write their outputs in input order.
//!
//! Memory stays bounded whatever the file size: a mapped file is walked in
//! batches of [`BATCH_CHUNKS`] chunks, a compressed or piped one through a
//! sliding window, and the outputs of a batch are handed to a writer thread
//! while the next batch is rated. Output buffers are recycled through a
//! [`BufferPool`] that the caller may keep across files.
//!
//! Determinism: chunk boundaries follow the same record rule as the parser
//! ([`crate::csvscan`]), each row's outcome depends only on the row and the
//! tariff, and chunks are written in order, so the outputs are byte for byte
//! the same for any thread count and chunk size.
//!
//! Layout: this file holds the entry points, the settings ([`Job`]), the
//! output headers and what a file's chunks share; `chunk` rates batches of
//! chunks in parallel and writes them in order; `stream` reads a stream
//! through a window; `totals` adds up counts and money. The rows themselves
//! are written by [`crate::rows`].

use std::fmt;
use std::io;
use std::sync::atomic::AtomicBool;

use crate::csvscan::{Chunker, Fields, Scanner};
use crate::formats::{Format, FormatError, Parser};
use crate::rating::Rater;
use crate::rows::{self, Output, RatedRows};

mod chunk;
mod stream;

pub use crate::input::Input;
pub use crate::rows::{MemorySink, Sink};
pub use crate::totals::{Flag, RowLimits, Tally, Totals};
pub use chunk::BufferPool;

/// Default bytes of input per parallel chunk.
pub const CHUNK_BYTES: usize = 512 * 1024;
/// Chunks rated together before their outputs are written.
pub const BATCH_CHUNKS: usize = 16;

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
    /// Add up calls per customer month and invoice line for billing (when
    /// the file is committed to a store).
    pub usage: bool,
    /// The fraud rules in force: keep every rated call for them.
    pub fraud: Option<&'t crate::fraud::FraudRules>,
    /// Output buffers to reuse. Keep one pool across files (a worker, a
    /// command rating many files) to skip fresh memory on every file;
    /// `None` uses a pool for this file only.
    pub pool: Option<&'t BufferPool>,
}

/// Watches a file being rated (a progress bar): told once per batch of
/// chunks how many more input bytes were rated, never per row. Absent (the
/// daemon, tests), it costs nothing.
pub trait Progress: Sync {
    /// `bytes` more bytes of (decompressed) input have been rated.
    fn advance(&self, bytes: u64);
}

/// Rates one input into `sink`, telling `progress` (if any) how far it got
/// after each batch of chunks; returns the totals and, with `job.ids`, the
/// spend per customer and day. The one entry point of every caller that
/// rates a file ([`rate_buffer`] is its in-memory shorthand).
pub fn rate(
    input: Input,
    job: &Job<'_>,
    sink: &mut dyn Sink,
    progress: Option<&dyn Progress>,
) -> Result<Tally, FileError> {
    match input {
        Input::Bytes(m) => rate_buffer_tally(&m, job, sink, progress),
        Input::Slice(v) => rate_buffer_tally(&v, job, sink, progress),
        Input::Stream(r) => stream::rate_stream(r, job, sink, progress),
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
    let mut totals = Tally::with_currencies(job.rater.tariff.currencies);
    let mut chunker = Chunker::new(&buf[rest..], line, job.chunk_bytes);
    chunk::run_batches(&buf[rest..], &mut chunker, &state, sink, &mut totals)?;
    Ok(totals)
}

/// The longest header record a file may have.
fn header_limit(job: &Job<'_>) -> usize {
    // A header may be longer than a data row may.
    job.limits.max_line_bytes.max(1 << 20)
}

/// What every chunk of one file shares.
struct FileState<'j, 't> {
    job: &'j Job<'t>,
    parser: Option<Parser>,
    /// Writes the rated rows.
    rated: RatedRows<'j>,
    /// Told after each batch.
    progress: Option<&'j dyn Progress>,
    /// The buffers of this file when the job brings no pool.
    own_pool: BufferPool,
}

impl<'j, 't> FileState<'j, 't> {
    fn new(job: &'j Job<'t>, progress: Option<&'j dyn Progress>) -> Self {
        let rated =
            RatedRows::new(job.rater.tariff, &job.name, job.format.delimiter(), job.rater.decimals, &job.timezone);
        FileState { job, parser: None, rated, progress, own_pool: BufferPool::default() }
    }

    /// The output buffers to use.
    fn pool(&self) -> &BufferPool {
        self.job.pool.unwrap_or(&self.own_pool)
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

/// Writes the headers of the three outputs; `unrated_columns` are the
/// input's own (a header line without its newline).
fn write_headers(sink: &mut dyn Sink, unrated_columns: &[u8]) -> Result<(), FileError> {
    sink.write(Output::Rated, rows::RATED_HEADER).map_err(FileError::Write)?;
    sink.write(Output::Unrated, &rows::unrated_header(unrated_columns)).map_err(FileError::Write)?;
    sink.write(Output::Rejected, rows::REJECTED_HEADER).map_err(FileError::Write)
}
