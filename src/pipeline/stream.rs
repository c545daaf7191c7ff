//! Streamed input (gzip, zstd, stdin, the daemon's verified reads): a
//! sliding read window cut at record boundaries and rated in batches like a
//! mapped file, and records longer than the line limit read past without
//! being held (only their head is kept, for the rejected row).

use std::io::{self, Read};
use std::sync::atomic::Ordering;

use crate::csvscan::{self, Chunker, Fields, Scanner};
use crate::formats::Reject;
use crate::rows::{self, Output};

use super::chunk::run_batches;
use super::{header_limit, FileError, FileState, Job, Progress, Sink, Tally, BATCH_CHUNKS};

/// Largest read window for streamed input.
const WINDOW_BYTES: usize = 8 * 1024 * 1024;

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

pub(super) fn rate_stream(
    mut reader: Box<dyn Read + Send>,
    job: &Job<'_>,
    sink: &mut dyn Sink,
    progress: Option<&dyn Progress>,
) -> Result<Tally, FileError> {
    let mut state = FileState::new(job, progress);
    let mut totals = Tally::with_currencies(job.rater.tariff.currencies);
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
    rows::write_rejected(&mut out, rec.line, Reject::LineTooLong, &rec.head);
    sink.write(Output::Rejected, &out).map_err(FileError::Write)?;
    let t = &mut totals.totals;
    t.rows += 1;
    t.rejected += 1;
    t.by_reject[Reject::LineTooLong as usize] += 1;
    Ok(())
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
