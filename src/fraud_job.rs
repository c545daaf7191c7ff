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
    judge_customer, AlertContext, CallLog, Context, CustomerState, FraudAlert, FraudRules, FraudTables, RatedCall,
    Scratch,
};
use crate::state::{Ledger, StateError};
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
        source: csv::Error,
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
/// start, then row. Done before the ledger section (it needs no state).
pub fn prepare(calls: &CallLog, tariff: &Tariff) -> Vec<RatedCall> {
    let mut grouped = Vec::new();
    calls.group_into(tariff.customers.len(), &mut grouped);
    grouped
}

/// What judging a file gives.
#[derive(Debug, Default)]
pub struct Judged {
    /// The customers' new states, to commit with the file.
    pub states: Vec<(String, CustomerState)>,
    /// The alerts, in order of customer, then processing.
    pub alerts: Vec<FraudAlert>,
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

impl FileJudge<'_> {
    /// Judges `calls` (from [`prepare`]) of file `file`, whose rated output
    /// is `rated`: each customer's state read, judged and returned with
    /// the alerts. Call it inside the ledger section.
    pub fn judge(&self, calls: &[RatedCall], file: &str, rated: &Path) -> Result<Judged, JudgeError> {
        let tariff = self.tariff;
        let mut clocks: Vec<Option<LocalClock>> = vec![None; tariff.zones.len() + 1];
        let home = <[u8; 2]>::try_from(tariff.home_country.as_bytes()).unwrap_or(*b"--");
        let mut scratch = Scratch::default();
        let mut judged = Judged::default();
        // (customer, firing, trigger call) of every rule that fired.
        let mut fired = Vec::new();
        for group in calls.chunk_by(|a, b| a.customer == b.customer) {
            let c = group[0].customer;
            let customer = &tariff.customers[c as usize];
            let profile = self.rules.profile(c);
            let mut state = self.ledger.fraud_state(&customer.id)?;
            let slot = customer.zone.map_or(tariff.zones.len(), usize::from);
            let zone = || customer.zone.map_or_else(|| self.timezone.clone(), |z| tariff.zones[usize::from(z)].clone());
            let clock = clocks[slot].get_or_insert_with(|| LocalClock::new(zone()));
            let mut cx = Context {
                profile,
                clock,
                now: self.limits.now,
                latest_start: self.limits.latest_start,
                home_country: home,
                decimals: self.decimals,
            };
            let today = cx.clock.day(self.limits.now);
            for f in judge_customer(&mut cx, &mut state, group, &mut scratch) {
                let trigger = group[f.call];
                fired.push((c, today, f, trigger));
            }
            judged.states.push((customer.id.clone(), state));
        }
        if fired.is_empty() {
            return Ok(judged);
        }
        let mut rows: Vec<u64> = fired.iter().map(|f| f.3.row).collect();
        rows.sort_unstable();
        rows.dedup();
        let ids = call_ids(rated, &rows)?;
        let emitted_at = jiff::Timestamp::from_second(self.limits.now).map(|t| t.to_string()).unwrap_or_default();
        for (c, today, firing, trigger) in fired {
            let customer = &tariff.customers[c as usize];
            let cx = AlertContext {
                customer_id: &customer.id,
                customer_name: &customer.name,
                currency: &tariff.plans[customer.plan as usize].levels.currency,
                file,
                emitted_at: &emitted_at,
                today,
                decimals: self.decimals,
            };
            let id = rows.binary_search(&trigger.row).ok().map(|i| ids[i].clone()).unwrap_or_default();
            judged.alerts.push(FraudAlert::of(&firing, &trigger, self.rules, &cx, id));
        }
        Ok(judged)
    }
}

/// The call ids of the rated rows `rows` (sorted; 0 = the first data row)
/// of a published rated output, read back through its named column.
fn call_ids(rated: &Path, rows: &[u64]) -> Result<Vec<String>, JudgeError> {
    let err = |source| JudgeError::Rated { path: rated.to_path_buf(), source };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(rated).map_err(err)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    let mut wanted = rows.iter().peekable();
    while let Some(&&next) = wanted.peek() {
        if !reader.read_byte_record(&mut record).map_err(err)? {
            break;
        }
        if row == next {
            let id = record.get(crate::rows::rated::CALL_ID).unwrap_or_default();
            out.push(String::from_utf8_lossy(id).into_owned());
            wanted.next();
        }
        row += 1;
    }
    // Rows past the end (cannot happen for our own output) name no call.
    out.resize(rows.len(), String::new());
    Ok(out)
}
