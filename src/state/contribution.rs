//! A rated output read back into what its file added to the state: IDS
//! spend per customer day and billing usage per customer month and line,
//! summed exactly as the rating sums them (`pipeline::chunk::rate_chunk`),
//! into the same aggregates ([`SpendAgg`], [`UsageAgg`]).
//!
//! One reader for everyone who needs a file's contribution without its
//! tally: `state rebuild` (IDS days and month totals of a lost ledger) and
//! `rerate` (the old contribution it takes back). Reading the output, not
//! remembering per-file sums, keeps the ledger small and makes the rated
//! output the one record of what was billed.
//!
//! The output is mapped, not copied (gigabytes for a 5 M-row file), and its
//! rows are read in parallel chunks (the output's record rule is the
//! rating's, [`crate::csvscan`]); nothing per row allocates except a
//! customer id written with CSV escapes.

use std::path::Path;

use rayon::prelude::*;

use crate::billing::{Category, UsageAgg};
use crate::csvscan::{unescape, Chunker, Fields, Scanner};
use crate::ids::SpendAgg;
use crate::money::parse_written_units;
use crate::rows::rated;
use crate::tariff::{Kind, Tariff};
use crate::timefmt::{self, DayMapper, ZoneCache};
use crate::totals::{Flag, RowLimits, Totals};

/// Bytes of rated output per parallel chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// How to read a rated output back.
pub struct ReadSettings<'a> {
    /// The tables: customers (by id), their zones, IDS ranges, currencies,
    /// the home country of the invoice lines.
    pub tariff: &'a Tariff,
    /// Decimals of the prices.
    pub decimals: u32,
    /// Zone of the file's source: of start times without an offset, and of
    /// the days of customers without a zone of their own.
    pub zone: jiff::tz::TimeZone,
    /// The limits the file was rated with ("now" of its rating): which
    /// starts were flagged, and the day a call from the future counted on.
    pub limits: RowLimits,
    /// Sum IDS spend (customers with an IDS range), as the rating does with IDS on.
    pub ids: bool,
}

/// What one rated output adds to the state.
#[derive(Debug, Default, Clone)]
pub struct Contribution {
    /// Sell per customer day and country (customers with an IDS range), flushed.
    pub spend: SpendAgg,
    /// Calls per customer, month, line and currency.
    pub usage: UsageAgg,
    /// Rated rows.
    pub rows: u64,
    /// Rows whose start was flagged (future or past).
    pub flagged: u64,
    /// Buy and sell per currency of the tables (rows in another currency
    /// are added to no slot).
    pub money: Totals,
    /// Earliest and latest call start (epoch seconds).
    pub span: Option<(i64, i64)>,
}

impl Contribution {
    fn merge(mut self, o: Contribution) -> Contribution {
        self.spend.merge(&o.spend);
        self.usage.merge(&o.usage);
        self.rows += o.rows;
        self.flagged += o.flagged;
        self.money.add(&o.money);
        self.span = match (self.span, o.span) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        };
        self
    }
}

/// Reads the rated output at `path` (see the module comment).
pub fn read_rated(path: &Path, settings: &ReadSettings<'_>) -> std::io::Result<Contribution> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(read_rated_bytes(&[], settings));
    }
    // SAFETY: rated outputs are this program's own, published whole by a
    // rename and never written in place afterwards (a re-rating renames a
    // new file over the name; this mapping stays on the old one).
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(read_rated_bytes(&map, settings))
}

/// [`read_rated`] of an output already in memory.
pub fn read_rated_bytes(bytes: &[u8], settings: &ReadSettings<'_>) -> Contribution {
    let mut fields = Fields::default();
    let mut scanner = Scanner::new(bytes, 1, usize::MAX, b',');
    let _header = scanner.next_record(&mut fields);
    let (start, line) = (scanner.position(), scanner.line());
    let chunks: Vec<_> = Chunker::new(&bytes[start..], line, CHUNK_BYTES).collect();
    let mut out = chunks
        .par_iter()
        .map(|c| read_chunk(&bytes[start + c.start..start + c.end], settings))
        .reduce(Contribution::default, Contribution::merge);
    out.money.currencies = settings.tariff.currencies;
    out
}

/// Sums the rows of one chunk.
fn read_chunk(buf: &[u8], s: &ReadSettings<'_>) -> Contribution {
    let tariff = s.tariff;
    let home = tariff.home_country.as_bytes();
    let home = [home.first().copied().unwrap_or(b'X'), home.get(1).copied().unwrap_or(b'X')];
    let mut days: Vec<DayMapper> =
        tariff.zones.iter().chain(std::iter::once(&s.zone)).map(|z| DayMapper::new(z.clone())).collect();
    let default_zone = tariff.zones.len();
    let mut zone = ZoneCache::new(s.zone.clone());
    let mut fields = Fields::default();
    let mut scanner = Scanner::new(buf, 1, usize::MAX, b',');
    let mut out = Contribution::default();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let internal = Category::DomesticOther.dense();
    while let Some(rec) = scanner.next_record(&mut fields) {
        let raw = rec.raw;
        out.rows += 1;
        let buy = parse_written_units(fields.get(raw, rated::BUY), s.decimals);
        let sell = parse_written_units(fields.get(raw, rated::SELL), s.decimals);
        let currency = tariff.currencies.index_of(fields.get(raw, rated::CURRENCY));
        if let Some(c) = currency {
            out.money.buy[c] += i128::from(buy);
            out.money.sell[c] += i128::from(sell);
        }
        let Some(start) = timefmt::parse_start(fields.get(raw, rated::START_TIME), &mut zone) else { continue };
        let call_start = start.epoch_seconds();
        first = first.min(call_start);
        last = last.max(call_start);
        let mut epoch = call_start;
        if let Some(flag) = s.limits.flag(epoch) {
            out.flagged += 1;
            // As in the rating: a call from the future counts on the day it is rated.
            if flag == Flag::StartInFuture {
                epoch = s.limits.now;
            }
        }
        let Some(c) = tariff.customer_by_id(&unescape(fields.raw(raw, rated::CUSTOMER_ID))) else { continue };
        let customer = &tariff.customers[c as usize];
        let z = customer.zone.map_or(default_zone, usize::from);
        // Internal calls have no destination: no country, kind `internal`.
        let country = match fields.get(raw, rated::COUNTRY) {
            [] => None,
            c => Some([c[0], c.get(1).copied().unwrap_or(b'X')]),
        };
        if let Some(currency) = currency {
            let kind = std::str::from_utf8(fields.get(raw, rated::KIND)).ok().and_then(Kind::parse);
            let line = match (country, kind) {
                (Some(country), Some(kind)) => Category::of(country, Some(kind), home).dense(),
                _ => internal,
            };
            let billed = std::str::from_utf8(fields.get(raw, rated::BILLED_S)).ok().and_then(|b| b.parse().ok());
            let day = days[z].day_of(call_start);
            out.usage.add(c, day, line, currency as u8, billed.unwrap_or(0), buy as u64, sell as u64);
        }
        if s.ids && customer.ids_range.is_some() {
            let day = days[z].day_of(epoch);
            out.spend.add(c, day, sell, country.unwrap_or(*b"--"));
        }
    }
    out.spend.flush();
    if first <= last {
        out.span = Some((first, last));
    }
    out
}
