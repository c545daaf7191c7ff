//! The IDS part of `state rebuild`: customers' days summed again from the
//! rated outputs exactly as the daemon sums them while rating
//! (through the shared reader, [`super::read_rated`])
//! (`pipeline::chunk::rate_chunk` and `spool::process::apply_ids`), with the
//! alert levels already logged, so no alert is raised twice.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::rebuild::{Clock, RebuildPlan};
use super::ReadSettings;
use crate::ids::CustomerDays;
use crate::timefmt::{self, DayMapper};

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
    /// Earliest and latest call start (epoch seconds).
    pub span: Option<(i64, i64)>,
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
    /// Month totals of every rated output read.
    pub usage: crate::billing::UsageAgg,
}

impl<'a> IdsRebuild<'a> {
    /// An empty sum.
    pub fn new(plan: &'a RebuildPlan<'a>) -> Self {
        IdsRebuild { plan, customers: BTreeMap::new(), levels_restored: 0, usage: Default::default() }
    }

    /// Reads the rated output of `stem` (`source/NAME` for a source's):
    /// returns its totals, adds its calls to the month totals and, with IDS
    /// on, to the days (the one reader of rated outputs,
    /// [`super::read_rated`]).
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
        let settings =
            ReadSettings { tariff, decimals: plan.decimals, zone: file_zone.clone(), limits, ids: plan.ids.is_some() };
        let c = super::read_rated(path, &settings)?;
        self.usage.merge(&c.usage);
        let window = plan.ids.as_ref().map_or(0, |i| i64::from(i.0));
        let mut mappers: Vec<DayMapper> =
            tariff.zones.iter().chain(std::iter::once(&file_zone)).map(|z| DayMapper::new(z.clone())).collect();
        for ((customer, day), agg) in c.spend.days() {
            let z = tariff.customers[customer as usize].zone.map_or(tariff.zones.len(), usize::from);
            let today = mappers[z].day_of(limits.now);
            let acc = self.customers.entry(customer).or_default();
            let state = acc.days.days.entry(day).or_default();
            state.units += agg.units;
            state.calls += agg.calls;
            for (country, units) in agg.countries {
                *state.countries.entry(country).or_default() += units;
            }
            acc.days.first_day = Some(acc.days.first_day.map_or(day, |f| f.min(day)));
            let cut = today - 2 * window;
            acc.prune_from = Some(acc.prune_from.map_or(cut, |p| p.max(cut)));
        }
        Ok(RatedFile { rows: c.rows, flagged: c.flagged, money: c.money, rated_at: now.as_second(), span: c.span })
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
    use crate::money::parse_written_units;

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
