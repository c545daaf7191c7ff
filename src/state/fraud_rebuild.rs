//! The fraud part of `state rebuild`: each customer's fraud state made again
//! from the rated outputs and the alert log, so that no rule fires twice
//! for a day and the windows still hold the calls already rated.
//!
//! The rules that fired are read from the alert log (its fraud lines); the
//! calls of the judged days are read from the rated outputs and judged
//! again, in start order, with those marks in place: which days fire does
//! not depend on the order the calls came in (see `fraud::windows`), so the
//! judgement fires nothing new and leaves the state the daemon had (the
//! windows' times, night spend, the marks), pruned the same way.
//!
//! What it cannot know: the zone of a customer without one of their own
//! when files came from sources in different zones (the top-level
//! `timezone` is used), and a call flagged `start_in_future` (its time is
//! unknown; such calls never enter a window anyway).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::rebuild::{Clock, RebuildPlan};
use crate::csvscan::{unescape, Fields, Scanner};
use crate::fraud::local::LocalClock;
use crate::fraud::{judge_customer, CallLog, Context, CustomerState, FraudAlert, FraudRules, RatedCall, Scratch};
use crate::money::parse_written_units;
use crate::rows::rated::{COUNTRY, CUSTOMER_ID, SELL, START_TIME};
use crate::timefmt::{self, ZoneCache};

/// Customers' fraud states being rebuilt.
pub struct FraudRebuild<'a> {
    plan: &'a RebuildPlan<'a>,
    rules: &'a FraudRules,
    /// Calls recent enough to matter, from every rated output read.
    calls: CallLog,
    /// The latest "now" of a file read: the daemon's last cut.
    now: i64,
    /// Rules found firing again that the log does not show (expected 0).
    pub unlogged: usize,
    /// Fired marks restored from the alert log.
    pub marks: usize,
}

/// Calls more than this many days before a file's "now" are never in the
/// rebuilt state (two judged days back, and a day of zone margin).
const KEEP_DAYS: i64 = crate::fraud::JUDGED_DAYS_BACK + 2;

impl<'a> FraudRebuild<'a> {
    /// An empty rebuild.
    pub fn new(plan: &'a RebuildPlan<'a>, rules: &'a FraudRules) -> Self {
        FraudRebuild { plan, rules, calls: CallLog::default(), now: i64::MIN, unlogged: 0, marks: 0 }
    }

    /// Adds the calls of one rated output (`stem` as in `IdsRebuild::read`).
    pub fn read(&mut self, path: &Path, stem: &str) -> std::io::Result<()> {
        let plan = self.plan;
        let tariff = plan.tariff;
        let file = std::fs::File::open(path)?;
        let modified = file.metadata()?.modified().ok().and_then(|m| jiff::Timestamp::try_from(m).ok());
        let now = match plan.clock {
            Clock::Fixed(t) => t,
            Clock::OutputTimes => modified.unwrap_or_else(jiff::Timestamp::now),
        };
        let limits = plan.limits.rows(now);
        self.now = self.now.max(limits.now);
        let zone = stem
            .split_once('/')
            .and_then(|(source, _)| plan.source_zones.get(source).cloned())
            .unwrap_or_else(|| plan.timezone.clone());
        let bytes = std::fs::read(path)?;
        let mut scanner = Scanner::new(&bytes, 1, usize::MAX, b',');
        let mut fields = Fields::default();
        let mut zones = ZoneCache::new(zone);
        let _header = scanner.next_record(&mut fields);
        let oldest = limits.now - KEEP_DAYS * 86_400;
        while let Some(rec) = scanner.next_record(&mut fields) {
            let Some(start) = timefmt::parse_start(fields.get(rec.raw, START_TIME), &mut zones) else { continue };
            let start = start.epoch_seconds();
            if start < oldest || start > limits.latest_start {
                continue;
            }
            let Some(customer) = tariff.customer_by_id(&unescape(fields.raw(rec.raw, CUSTOMER_ID))) else { continue };
            let country = match fields.get(rec.raw, COUNTRY) {
                &[a, b] => [a, b],
                _ => *b"--",
            };
            // Calls of one second in the order read.
            let at = self.calls.calls.len() as u64;
            self.calls.calls.push(RatedCall {
                start,
                sell: parse_written_units(fields.get(rec.raw, SELL), plan.decimals),
                at,
                customer,
                high_risk: crate::fraud::NO_HIGH_RISK,
                country,
            });
        }
        Ok(())
    }

    /// Every customer's state, with the marks of the alert log `alerts`.
    pub fn finish(&mut self, alerts: &Path) -> Result<Vec<(String, CustomerState)>, (PathBuf, std::io::Error)> {
        let tariff = self.plan.tariff;
        let mut states: BTreeMap<u32, CustomerState> = BTreeMap::new();
        for a in logged(alerts).map_err(|e| (alerts.to_path_buf(), e))? {
            let (Some(c), Some(day)) = (tariff.customer_by_id(a.customer_id.as_bytes()), timefmt::parse_day(&a.day))
            else {
                continue;
            };
            states.entry(c).or_default().days.entry(day).or_default().fired |= a.figures.rule().bit();
            self.marks += 1;
        }
        let mut grouped = Vec::new();
        self.calls.group_into(tariff.customers.len(), &mut grouped);
        let now = if self.now == i64::MIN { self.plan_now() } else { self.now };
        let home = <[u8; 2]>::try_from(tariff.home_country.as_bytes()).unwrap_or(*b"--");
        let mut scratch = Scratch::default();
        // The changes are not logged: the rebuild writes whole states.
        let mut log = crate::fraud::BatchWriter::default();
        let mut by_customer: BTreeMap<u32, &[RatedCall]> = BTreeMap::new();
        for group in grouped.chunk_by(|a, b| a.customer == b.customer) {
            by_customer.insert(group[0].customer, group);
            states.entry(group[0].customer).or_default();
        }
        let mut out = Vec::new();
        for (c, mut state) in states {
            let customer = &tariff.customers[c as usize];
            let zone =
                customer.zone.map_or_else(|| self.plan.timezone.clone(), |z| tariff.zones[usize::from(z)].clone());
            let mut clock = LocalClock::new(zone);
            let mut cx = Context {
                profile: self.rules.profile(c),
                clock: &mut clock,
                now,
                latest_start: i64::MAX,
                home_country: home,
                units: crate::fraud::Units::of(self.rules.profile(c), self.plan.decimals),
            };
            let calls = by_customer.get(&c).copied().unwrap_or_default();
            log.start();
            self.unlogged += judge_customer(&mut cx, &mut state, calls, &mut scratch, &mut log).len();
            if !state.is_empty() {
                out.push((customer.id.clone(), state));
            }
        }
        Ok(out)
    }

    /// "Now" when no rated output was read.
    fn plan_now(&self) -> i64 {
        match self.plan.clock {
            Clock::Fixed(t) => t.as_second(),
            Clock::OutputTimes => jiff::Timestamp::now().as_second(),
        }
    }
}

/// The fraud alerts of the log; other lines and a torn last line are
/// passed over. No log: none.
fn logged(path: &Path) -> std::io::Result<Vec<FraudAlert>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str::<FraudAlert>(l).ok()).collect())
}
