//! Rating a run of chunks: batches of [`BATCH_CHUNKS`] chunks rated in
//! parallel on rayon, each chunk's rows written into its own three buffers,
//! and a writer thread handing the buffers to the sink in input order while
//! the next batch is rated. The buffers come from, and go back to, a
//! [`BufferPool`].

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Mutex};

use rayon::prelude::*;

use crate::csvscan::{self, Chunker, Fields, Record, Scanner};
use crate::formats::{Call, NotCall, ParseContext, Parser, Reject, RowParser};
use crate::rating::{LookedUp, RateScratch, LOOK_AHEAD};
use crate::rows::{self, Output};
use crate::tariff::MAX_CURRENCIES;
use crate::timefmt::{DayMapper, ZoneCache};

use super::{FileError, FileState, Flag, Sink, Tally, Totals, BATCH_CHUNKS, CHUNK_BYTES};

/// At most this many free buffers are kept: enough for the batches in flight.
const MAX_FREE_BUFFERS: usize = 3 * BATCH_CHUNKS;
/// Largest output buffer kept for reuse: a few times what a default chunk
/// writes (rated rows are about three times their input).
const KEEP_BUFFER_BYTES: usize = 8 * CHUNK_BYTES;

/// Output of one chunk.
#[derive(Default)]
struct ChunkOut {
    /// Rated, unrated, rejected rows (by [`Output::index`]).
    files: [Vec<u8>; 3],
    tally: Tally,
}

/// Output buffers of finished chunks, reused by the next chunks and, when
/// the caller keeps the pool ([`Job::pool`](super::Job::pool)), the next
/// files: fresh memory costs page faults and zeroing. Shared by the rating
/// threads and the writer thread of a file; its lock guards only its list,
/// taken once per chunk, never per row.
#[derive(Default)]
pub struct BufferPool {
    free: Mutex<Vec<ChunkOut>>,
}

impl BufferPool {
    /// Empty buffers and a zero tally for the next chunk.
    fn take(&self) -> ChunkOut {
        let mut out = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        for f in &mut out.files {
            f.clear();
        }
        out.tally.totals = Totals::default();
        out.tally.spend.clear();
        out.tally.span = None;
        out.tally.usage.clear();
        out.tally.fraud.clear();
        out
    }

    /// Takes back the buffers of a written chunk, if there is room.
    fn give(&self, mut out: ChunkOut) {
        for f in &mut out.files {
            // A buffer one odd chunk grew stays out of the pool,
            // so its memory goes back with it.
            if f.capacity() > KEEP_BUFFER_BYTES {
                *f = Vec::new();
            }
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < MAX_FREE_BUFFERS {
            free.push(out);
        }
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let free = self.free.lock().map_or(0, |l| l.len());
        f.debug_struct("BufferPool").field("free", &free).finish()
    }
}

/// Rates `chunks` of `buf` in parallel batches and writes them in order,
/// overlapping the writing of one batch with the rating of the next.
pub(super) fn run_batches(
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
    let pool = state.pool();
    let (to_writer, from_rater) = mpsc::sync_channel::<Vec<ChunkOut>>(1);
    // The calls go straight into the file's log (a stream comes here once
    // per read window): one copy per call, and one growing buffer.
    let calls = std::mem::take(&mut totals.fraud);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<Tally, FileError> {
            let mut t = Tally { fraud: calls, ..Tally::default() };
            for batch in from_rater {
                for out in batch {
                    for (which, f) in Output::ALL.into_iter().zip(&out.files) {
                        if !f.is_empty() {
                            sink.write(which, f).map_err(FileError::Write)?;
                        }
                    }
                    t.add(&out.tally);
                    pool.give(out);
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
                            let mut out = pool.take();
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
                totals.absorb(t);
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
    let tariff = job.rater.tariff;
    // Customer days: one mapper per customer zone, the last for the default zone.
    let mut days: Vec<DayMapper> = if job.ids || job.usage {
        tariff.zones.iter().chain(std::iter::once(&job.timezone)).map(|z| DayMapper::new(z.clone())).collect()
    } else {
        Vec::new()
    };
    let default_zone = tariff.zones.len();
    let mut scratch = RateScratch::new(tariff, &job.timezone);
    let t = &mut out.tally.totals;
    let spend = &mut out.tally.spend;
    let usage = &mut out.tally.usage;
    let internal_line = crate::tariff::Category::DomesticOther.dense();
    let fraud_calls = &mut out.tally.fraud;
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let [rated, unrated, rejected] = &mut out.files;
    // Records are parsed in batches of LOOK_AHEAD; their destinations and
    // customers are looked up together (the memory loads of a wide deck
    // overlap), then each is rated and written in input order.
    let mut batch: Vec<(Record<'_>, Result<Call<'_>, NotCall>)> = Vec::with_capacity(LOOK_AHEAD);
    let mut ahead = [LookedUp::default(); LOOK_AHEAD];
    loop {
        batch.clear();
        while batch.len() < LOOK_AHEAD {
            let Some(rec) = scanner.next_record(&mut fields) else { break };
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
            if let Ok(call) = &parsed {
                let at = call.start.epoch_seconds();
                first = first.min(at);
                last = last.max(at);
            }
            batch.push((rec, parsed));
        }
        if batch.is_empty() {
            break;
        }
        let calls: [Option<&Call<'_>>; LOOK_AHEAD] =
            std::array::from_fn(|i| batch.get(i).and_then(|(_, parsed)| parsed.as_ref().ok()));
        job.rater.look_up(&calls[..batch.len()], &mut ahead);
        for (i, (rec, parsed)) in batch.drain(..).enumerate() {
            match parsed {
                Err(NotCall::Skip(reason)) => {
                    t.skipped += 1;
                    t.by_skip[reason as usize] += 1;
                }
                Err(NotCall::Reject(reason)) => {
                    t.rejected += 1;
                    t.by_reject[reason as usize] += 1;
                    // Only the head of a record that is too long: a copy of a
                    // huge one would cost its size in memory.
                    rows::write_rejected(rejected, rec.line, reason, &rec.raw[..rec.raw.len().min(head_len)]);
                }
                Ok(call) => match job.rater.rate_looked_up(&call, &mut scratch, ahead[i]) {
                    Ok(p) => {
                        t.rated += 1;
                        if p.capped {
                            t.by_flag[Flag::Capped as usize] += 1;
                        }
                        // The mask keeps the index in range without a bounds
                        // check (the tariff numbers fewer currencies).
                        let c = usize::from(p.currency) & (MAX_CURRENCIES - 1);
                        t.buy[c] += i128::from(p.buy);
                        t.sell[c] += i128::from(p.sell);
                        let row_at = rated.len() as u64;
                        state.rated.write(rated, &call, &p, &rec);
                        let call_start = call.start.epoch_seconds();
                        if let Some(flag) = limits.flag(call_start) {
                            t.by_flag[flag as usize] += 1;
                        }
                        // A future call counts for IDS on the day it is rated.
                        let start = limits.ids_start(call_start);
                        let customer = &tariff.customers[p.customer as usize];
                        let zone = customer.zone.map_or(default_zone, usize::from);
                        let mut start_day = None;
                        if job.usage {
                            // Billed in the month the call started, in the customer's zone.
                            let day = days[zone].day_of(call_start);
                            start_day = Some(day);
                            let line = p.destination.map_or(internal_line, |d| tariff.epoch(p.epoch).deck.hot(d).usage);
                            usage.add(p.customer, day, line, p.currency, p.billed_sell, p.buy, p.sell);
                        }
                        let ids = job.ids && customer.ids_range.is_some();
                        if ids {
                            // The day of `start` (a future call counts on the day it is rated).
                            let day = match start_day {
                                Some(day) if start == call_start => day,
                                _ => days[zone].day_of(start),
                            };
                            let country = p.destination.map_or(*b"--", |d| tariff.epoch(p.epoch).deck.hot(d).country);
                            spend.add(p.customer, day, p.sell as i64, country);
                        }
                        // Every call for the rules; IDS traces the calls of
                        // customers with a range from the same log.
                        if job.fraud.is_some() || ids {
                            fraud_calls.note(job.fraud, tariff, &call, &p, call_start, row_at);
                        }
                    }
                    Err(reason) => {
                        t.unrated += 1;
                        t.by_unrated[reason as usize] += 1;
                        rows::write_unrated(unrated, rec.line, reason, rec.raw);
                    }
                },
            }
        }
    }
    spend.flush();
    if first <= last {
        out.tally.span = Some((first, last));
    }
    fraud_calls.rated_bytes = rated.len() as u64;
}
