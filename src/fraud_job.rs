//! The fraud rules' part of making a file durable (`job`): the rules in
//! force paired with the tariff that priced the file, the file's calls
//! judged per customer against the state each customer brought from earlier
//! files ([`crate::fraud`], pure), the trigger calls' ids read back from the
//! published rated output, and the new states for the ledger, committed in
//! the same transaction as the file's record and IDS spend.
//!
//! Why a module of its own: `job` stays the one place a file becomes
//! durable, and holds only the calls into this.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::fraud::local::LocalClock;
use crate::fraud::{
    judge_customer, AlertContext, BatchWriter, CallLog, Context, CustomerState, FraudAlert, FraudRules, FraudTables,
    RatedCall, Scratch, Units,
};
use crate::state::{FraudCommit, Ledger, StateError};
use crate::tariff::Tariff;
use crate::totals::RowLimits;

/// Why a file's calls could not be judged; the file is tried again.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The ledger failed reading a customer's state.
    #[error(transparent)]
    State(#[from] StateError),
    /// The rated output could not be read back for the trigger calls' ids.
    #[error("cannot re-read the rated output {}: {source}", path.display())]
    Rated {
        /// The rated output.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The tariff in force and the fraud rules resolved against it. A reload
/// stores the rules first and then the tariff; a pair read in between (old
/// tariff, new rules) is read again, so a file is always judged by the
/// rules of the tables that priced it.
pub fn snapshot(
    tariffs: &ArcSwap<Tariff>,
    fraud: Option<&ArcSwap<FraudTables>>,
) -> (Arc<Tariff>, Option<Arc<FraudTables>>) {
    loop {
        let tariff = tariffs.load_full();
        let Some(fraud) = fraud else { return (tariff, None) };
        let rules = fraud.load_full();
        if rules.tariff_digest == tariff.digest {
            return (tariff, Some(rules));
        }
        std::thread::yield_now();
    }
}

/// A file's calls in processing order per customer: by customer, then
/// start, then row (IDS finds the calls that crossed a level in them too,
/// [`crate::ids::Tracer`]). Done before the ledger section (it needs no
/// state); the log in input order is freed as soon as it is grouped.
pub fn prepare(calls: CallLog, tariff: &Tariff) -> Vec<RatedCall> {
    let mut grouped = Vec::new();
    calls.group_into(tariff.customers.len(), &mut grouped);
    grouped
}

/// What judging a file gives.
#[derive(Debug, Default)]
pub struct Judged<'t> {
    /// The customers' new states, to commit with the file.
    pub states: Vec<(&'t str, CustomerState)>,
    /// Their changes, encoded as one log entry of the store.
    pub log: Vec<u8>,
    /// The alerts, in order of customer, then processing.
    pub alerts: Vec<FraudAlert>,
}

impl Judged<'_> {
    /// What the ledger commits with the file (the states are moved out).
    pub fn commit(&mut self) -> FraudCommit<'_> {
        FraudCommit { states: std::mem::take(&mut self.states), log: &self.log }
    }
}

/// Judges one file's calls.
pub struct FileJudge<'a> {
    /// The rules in force.
    pub rules: &'a FraudRules,
    /// The tariff that priced the file.
    pub tariff: &'a Tariff,
    /// Where the customers' states are.
    pub ledger: &'a dyn Ledger,
    /// Zone of the day of customers without their own (the source's).
    pub timezone: &'a jiff::tz::TimeZone,
    /// "Now" and the start-time flags of the file.
    pub limits: &'a RowLimits,
    /// Decimals of prices.
    pub decimals: u32,
}

impl<'a> FileJudge<'a> {
    /// Judges `calls` (from [`prepare`]) of file `file`, whose rated output
    /// is `rated`: the customers' states read, judged and returned with
    /// the alerts. Call it inside the ledger section.
    pub fn judge(&self, calls: &[RatedCall], file: &str, rated: &Path) -> Result<Judged<'a>, JudgeError> {
        let tariff = self.tariff;
        let groups: Vec<&[RatedCall]> = calls.chunk_by(|a, b| a.customer == b.customer).collect();
        let ids: Vec<&str> = groups.iter().map(|g| tariff.customers[g[0].customer as usize].id.as_str()).collect();
        let states = self.ledger.fraud_states(&ids)?;
        let mut log = BatchWriter::default();
        // About what a customer's entry takes: no regrowing on the way.
        log.bytes.reserve(ids.iter().map(|id| id.len() + 12).sum::<usize>() + calls.len() * 4);
        log.start();
        let mut clocks: Vec<Option<LocalClock>> = vec![None; tariff.zones.len() + 1];
        let home = <[u8; 2]>::try_from(tariff.home_country.as_bytes()).unwrap_or(*b"--");
        let mut scratch = Scratch::default();
        let mut judged = Judged::default();
        judged.states.reserve(calls.len().min(tariff.customers.len()));
        let units: Vec<Units> = self.rules.profiles.iter().map(|p| Units::of(p, self.decimals)).collect();
        // (customer, firing, trigger call) of every rule that fired.
        let mut fired = Vec::new();
        for (group, mut state) in groups.into_iter().zip(states) {
            let c = group[0].customer;
            let customer = &tariff.customers[c as usize];
            let (profile, profile_units) = (self.rules.profile(c), units[self.rules.profile_index(c)]);
            let slot = customer.zone.map_or(tariff.zones.len(), usize::from);
            let zone = || customer.zone.map_or_else(|| self.timezone.clone(), |z| tariff.zones[usize::from(z)].clone());
            let clock = clocks[slot].get_or_insert_with(|| LocalClock::new(zone()));
            let mut cx = Context {
                profile,
                clock,
                now: self.limits.now,
                latest_start: self.limits.latest_start,
                home_country: home,
                units: profile_units,
            };
            let today = cx.clock.day(self.limits.now);
            log.customer(&customer.id);
            for f in judge_customer(&mut cx, &mut state, group, &mut scratch, &mut log) {
                let trigger = group[f.call];
                fired.push((c, today, f, trigger));
            }
            judged.states.push((customer.id.as_str(), state));
        }
        judged.log = log.bytes;
        if fired.is_empty() {
            return Ok(judged);
        }
        let rows: Vec<u64> = fired.iter().map(|f| f.3.at).collect();
        let ids = crate::rows::call_ids(rated, &rows)
            .map_err(|source| JudgeError::Rated { path: rated.to_path_buf(), source })?;
        let emitted_at = jiff::Timestamp::from_second(self.limits.now).map(|t| t.to_string()).unwrap_or_default();
        for ((c, today, firing, trigger), id) in fired.into_iter().zip(ids) {
            let customer = &tariff.customers[c as usize];
            let cx = AlertContext {
                customer_id: &customer.id,
                customer_name: &customer.name,
                currency: tariff.currency_of(c),
                file,
                emitted_at: &emitted_at,
                today,
                decimals: self.decimals,
            };
            judged.alerts.push(FraudAlert::of(&firing, &trigger, self.rules, &cx, id));
        }
        Ok(judged)
    }
}
