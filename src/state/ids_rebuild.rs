//! The IDS part of `state rebuild`: customers' days summed again from the
//! rated outputs exactly as the daemon sums them while rating
//! (`pipeline::chunk::rate_chunk` and `spool::process::apply_ids`), with the
//! alert levels already logged, so no alert is raised twice.

use crate::money::parse_written_units;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::rebuild::{Clock, RebuildPlan};
use crate::csvscan::{unescape, Fields, Scanner};
use crate::ids::{Country, CustomerDays};
use crate::timefmt::{self, DayMapper, ZoneCache};
use crate::totals::Flag;

/// Columns of a rated output (`call_id,start_time,customer_id,...`).
use crate::rows::rated::{BUY, COUNTRY, CURRENCY, CUSTOMER_ID as CUSTOMER, SELL, START_TIME as START};

/// Totals of one rated output.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RatedFile {
    /// Rated rows.
    pub rows: u64,
    /// Rows whose start was flagged (future or past).
    pub flagged: u64,
    /// Sums of buy and sell, in units, per currency of the tables (slots
    /// as in [`crate::totals::Totals`]; rows in another currency are
    /// added to no slot).
    pub money: crate::totals::Totals,
    /// When it was rated (unix seconds).
    pub rated_at: i64,
}

/// One customer's days being summed.
#[derive(Debug, Default)]
struct Acc {
    days: CustomerDays,
    /// The daemon prunes at each file it rates; with "now" moving forward
    /// the last file's cut is the one that counts.
    prune_from: Option<i64>,
}

/// Customers' IDS days summed over rated outputs.
pub struct IdsRebuild<'a> {
    plan: &'a RebuildPlan<'a>,
    customers: BTreeMap<u32, Acc>,
    /// Customer days whose level came from the alert log.
    pub levels_restored: usize,
}

impl<'a> IdsRebuild<'a> {
    /// An empty sum.
    pub fn new(plan: &'a RebuildPlan<'a>) -> Self {
        IdsRebuild { plan, customers: BTreeMap::new(), levels_restored: 0 }
    }

    /// Reads the rated output of `stem` (`source/NAME` for a source's):
    /// returns its totals and, with IDS on, adds its calls to the days.
    pub fn read(&mut self, path: &Path, stem: &str) -> std::io::Result<RatedFile> {
        let plan = self.plan;
        let tariff = plan.tariff;
        let file = std::fs::File::open(path)?;
        let modified = file.metadata()?.modified().ok().and_then(|m| jiff::Timestamp::try_from(m).ok());
        let now = match plan.clock {
            Clock::Fixed(t) => t,
            Clock::OutputTimes => modified.unwrap_or_else(jiff::Timestamp::now),
        };
        let limits = plan.limits.rows(now);
        // Customers without a zone of their own: their source's zone.
        let file_zone = stem
            .split_once('/')
            .and_then(|(source, _)| plan.source_zones.get(source).cloned())
            .unwrap_or_else(|| plan.timezone.clone());
        let mut mappers: Vec<DayMapper> =
            tariff.zones.iter().chain(std::iter::once(&file_zone)).map(|z| DayMapper::new(z.clone())).collect();
        let default_zone = tariff.zones.len();
        let bytes = std::fs::read(path)?;
        let mut scanner = Scanner::new(&bytes, 1, usize::MAX, b',');
        let mut fields = Fields::default();
        let mut zone = ZoneCache::new(file_zone.clone());
        let mut out = RatedFile { rated_at: now.as_second(), ..RatedFile::default() };
        out.money.currencies = tariff.currencies;
        let _header = scanner.next_record(&mut fields);
        while let Some(rec) = scanner.next_record(&mut fields) {
            out.rows += 1;
            let sell = parse_written_units(fields.get(rec.raw, SELL), plan.decimals);
            if let Some(c) = out.money.currencies.index_of(fields.get(rec.raw, CURRENCY)) {
                out.money.buy[c] += i128::from(parse_written_units(fields.get(rec.raw, BUY), plan.decimals));
                out.money.sell[c] += i128::from(sell);
            }
            let Some(start) = timefmt::parse_start(fields.get(rec.raw, START), &mut zone) else { continue };
            let mut epoch = start.epoch_seconds();
            if let Some(flag) = limits.flag(epoch) {
                out.flagged += 1;
                // As in the rating: a call from the future counts on the day it is rated.
                if flag == Flag::StartInFuture {
                    epoch = limits.now;
                }
            }
            if plan.ids.is_none() {
                continue;
            }
            let Some(c) = tariff.customer_by_id(&unescape(fields.raw(rec.raw, CUSTOMER))) else { continue };
            let customer = &tariff.customers[c as usize];
            if customer.ids_range.is_none() {
                continue;
            }
            let z = customer.zone.map_or(default_zone, usize::from);
            let day = mappers[z].day_of(epoch);
            let today = mappers[z].day_of(limits.now);
            // Internal calls have no destination: the pipeline counts them as `--`.
            let country = match fields.get(rec.raw, COUNTRY) {
                [] => *b"--",
                c => [c[0], c.get(1).copied().unwrap_or(b'X')],
            };
            let acc = self.customers.entry(c).or_default();
            let state = acc.days.days.entry(day).or_default();
            state.units += sell;
            state.calls += 1;
            *state.countries.entry(Country(country)).or_default() += sell;
            acc.days.first_day = Some(acc.days.first_day.map_or(day, |f| f.min(day)));
            let window = plan.ids.as_ref().map_or(0, |i| i64::from(i.0));
            let cut = today - 2 * window;
            acc.prune_from = Some(acc.prune_from.map_or(cut, |p| p.max(cut)));
        }
        Ok(out)
    }

    /// Prunes as the daemon does, sets the levels the alert log shows were
    /// raised, and returns every customer's days.
    pub fn finish(&mut self) -> Result<Vec<(String, CustomerDays)>, (PathBuf, std::io::Error)> {
        let tariff = self.plan.tariff;
        let mut by_id: BTreeMap<String, CustomerDays> = BTreeMap::new();
        for (c, acc) in std::mem::take(&mut self.customers) {
            let mut days = acc.days;
            if let Some(from) = acc.prune_from {
                days.prune(from);
            }
            by_id.insert(tariff.customers[c as usize].id.clone(), days);
        }
        if let Some((_, alerts)) = &self.plan.ids {
            for (customer, day, level) in logged_levels(alerts).map_err(|e| (alerts.clone(), e))? {
                if let Some(state) = by_id.get_mut(&customer).and_then(|d| d.days.get_mut(&day)) {
                    if level > state.level {
                        if state.level == 0 {
                            self.levels_restored += 1;
                        }
                        state.level = level;
                    }
                }
            }
        }
        Ok(by_id.into_iter().collect())
    }
}

/// (customer, day, level) of every alert in the log; a line that does not
/// parse (a torn last line) is skipped. No log: no alerts.
fn logged_levels(path: &Path) -> std::io::Result<Vec<(String, i64, u32)>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line?) else { continue };
        let customer = v.get("customer_id").and_then(|c| c.as_str());
        let day = v.get("day").and_then(|d| d.as_str()).and_then(timefmt::parse_day);
        let level = v.get("level").and_then(|l| l.as_u64()).and_then(|l| u32::try_from(l).ok());
        if let (Some(c), Some(d), Some(l)) = (customer, day, level) {
            out.push((c.to_string(), d, l));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_the_alert_log_read_back() {
        assert_eq!(parse_written_units(b"12.3400", 4), 123_400);
        assert_eq!(parse_written_units(b"-0.5", 4), -5_000);
        assert_eq!(parse_written_units(b"7", 2), 700);
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("alerts.jsonl");
        assert!(logged_levels(&log).unwrap().is_empty());
        std::fs::write(
            &log,
            "{\"customer_id\":\"C1\",\"day\":\"2026-11-24\",\"level\":2}\nnot json\n{\"customer_id\":\"C1\",\"day\":\"2026-11-2",
        )
        .unwrap();
        let day = timefmt::parse_day("2026-11-24").unwrap();
        assert_eq!(logged_levels(&log).unwrap(), vec![("C1".to_string(), day, 2)]);
    }
}
