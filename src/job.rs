//! One input file rated into its outputs, its ledger record, its customers'
//! spend and its alerts, made durable together: outputs published, alerts
//! logged (fsynced), then the ledger's record and spend in one commit. The
//! daemon (through the spool's `Processor`) and `rate --ids`
//! both go through [`FileRater::rate_and_commit`]; the IDS judgement itself
//! is [`crate::ids`] (pure).
//!
//! Workers share one [`Locks`]: the short ledger sections (a lookup with its
//! reservation; a customer's read-modify-commit of IDS days) are serialised
//! by it, and it knows which contents are being rated right now.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use arc_swap::ArcSwap;
use rust_decimal::Decimal;

use crate::alerts::AlertLog;
use crate::billing::Bucket;
use crate::formats::Format;
use crate::ids::{self, Alert, CustomerDays, SpendAgg, ToTrace, TraceDay};
use crate::numbers::Numbering;
use crate::output::{OutputDirs, OutputFiles};
use crate::pipeline::{self, FileError, Job, RowLimits, Totals};
use crate::rating::Rater;
use crate::state::{ContentKey, FileRecord, Ledger, StateError, UsageCommit};
use crate::tariff::Tariff;
use crate::timefmt::DayMapper;

/// A failure that stops this file but not the daemon; the file stays
/// claimed and is retried.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The file's calls could not be judged by the fraud rules.
    #[error(transparent)]
    Fraud(#[from] crate::fraud_job::JudgeError),
    /// The spool, an output or the alert log could not be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done (`archive`, `write the outputs of`, ...).
        what: &'static str,
        /// The file it was done to.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// IDS settings: the judgement's window and where alerts go.
#[derive(Debug, Clone)]
pub struct IdsSettings {
    /// Days in the baseline.
    pub window_days: u32,
    /// The alert sinks (clones share one hook queue).
    pub alerts: AlertLog,
}

impl IdsSettings {
    /// The IDS of a configuration (`None` when `[ids] enabled = false`),
    /// with a new alert log and hook queue: build it once per process and
    /// clone it for each worker.
    pub fn from_config(config: &crate::config::Config) -> Option<IdsSettings> {
        config.ids.enabled.then(|| IdsSettings {
            window_days: config.ids.window_days,
            alerts: AlertLog::new(
                config.alerts.clone(),
                config.ids.on_alert.clone(),
                std::time::Duration::from_millis(config.ids.on_alert_timeout_ms),
            )
            // On the shared store each alert names the site that raised it.
            .with_site((config.store.backend == crate::config::Backend::Postgres).then(|| config.store.site())),
        })
    }
}

/// Rates a file into its outputs and commits it, with IDS, to the state.
pub struct FileRater<'a> {
    /// The file ledger and IDS state.
    pub ledger: &'a dyn Ledger,
    /// Shared with the other workers on the same ledger.
    pub locks: &'a Locks,
    /// Output buffers reused from file to file (shared by the workers).
    pub pool: &'a crate::pipeline::BufferPool,
    /// The tariff tables in force (swapped whole on reload).
    pub tariffs: &'a ArcSwap<Tariff>,
    /// Numbering plan of the source.
    pub numbering: &'a Numbering,
    /// CDR format of the source.
    pub format: Format,
    /// Zone of local times, and of the day of customers without their own.
    pub timezone: jiff::tz::TimeZone,
    /// Decimal places of prices.
    pub decimals: u32,
    /// What rows and compressed inputs may be (`[limits]`).
    pub limits: crate::config::Limits,
    /// Default customer id of the source.
    pub default_customer: Option<String>,
    /// Set on shutdown.
    pub cancel: &'a AtomicBool,
    /// IDS, when on.
    pub ids: Option<IdsSettings>,
    /// The fraud rules in force, swapped with the tariff (judged when IDS is on).
    pub fraud: Option<&'a ArcSwap<crate::fraud::FraudTables>>,
}

/// An I/O failure of this job, with what was being done and to which file.
pub fn io_err(what: &'static str, path: &Path, source: std::io::Error) -> JobError {
    JobError::Io { what, path: path.to_path_buf(), source }
}

/// What the workers of one process coordinate through (one per ledger).
#[derive(Debug, Default)]
pub struct Locks {
    /// Serialises the short ledger sections of concurrent workers (lookups
    /// with reservations, and IDS read-modify-commit); rating itself runs in
    /// parallel.
    commit: Mutex<()>,
    /// Content keys being rated by a worker right now: the same content
    /// claimed again meanwhile waits.
    rating: Mutex<Vec<ContentKey>>,
}

impl Locks {
    /// Enters the serialised section.
    pub fn commit(&self) -> std::sync::MutexGuard<'_, ()> {
        self.commit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `key` as being rated until the mark is dropped; `None` when a
    /// worker is rating it already.
    pub fn rating(&self, key: ContentKey) -> Option<RatingMark<'_>> {
        let mut rating = self.rating.lock().unwrap_or_else(|e| e.into_inner());
        if rating.contains(&key) {
            return None;
        }
        rating.push(key);
        Some(RatingMark { locks: self, key })
    }
}

/// A content key marked as being rated ([`Locks::rating`]).
pub struct RatingMark<'a> {
    locks: &'a Locks,
    key: ContentKey,
}

impl Drop for RatingMark<'_> {
    fn drop(&mut self) {
        self.locks.rating.lock().unwrap_or_else(|e| e.into_inner()).retain(|k| *k != self.key);
    }
}

/// Customers whose IDS days a file changed, by id.
type IdsChanges = Vec<(String, CustomerDays)>;

/// A rated file as IDS traces its alerts: its name, its published rated
/// output (where the trigger calls' ids are read) and its calls.
#[derive(Clone, Copy)]
struct FileCalls<'f> {
    name: &'f str,
    rated: &'f Path,
    calls: &'f [crate::fraud::RatedCall],
}

/// An open input with the content key it had when it was taken.
pub struct KeyedInput<'p> {
    /// The handle every byte is read from.
    pub file: std::fs::File,
    /// Its path (the extension tells the compression).
    pub path: &'p Path,
    /// Its content key ([`crate::input::key_of`] of the handle).
    pub key: ContentKey,
}

/// How rating a file into its outputs ended.
pub enum Rated {
    /// Published and committed.
    Done {
        /// Counts and money.
        totals: Box<Totals>,
        /// Digest of the tariff tables that priced the file.
        tariff: String,
    },
    /// Not readable as CDRs.
    Unreadable(String),
    /// Abandoned on request.
    Cancelled,
}

impl FileRater<'_> {
    /// Rates `input` into the outputs of `record.stem`, applies its spend to
    /// IDS (alerts logged first), and commits the file as done with its
    /// spend in one transaction. Shared by the daemon and `rate --ids`.
    pub fn rate_and_commit(
        &self,
        input: KeyedInput<'_>,
        record: FileRecord,
        redo: bool,
        outputs: &OutputDirs,
        tmp: &Path,
    ) -> Result<Rated, JobError> {
        let key = input.key;
        let (tariff, fraud) = crate::fraud_job::snapshot(self.tariffs, self.fraud);
        let rules = fraud.as_ref().and_then(|f| f.rules.as_ref()).filter(|_| self.ids.is_some());
        let default_customer = self.default_customer.as_ref().and_then(|id| tariff.customer_by_id(id.as_bytes()));
        let limits = self.limits.rows(crate::config::now());
        let job = Job {
            name: record.name.clone(),
            format: self.format.clone(),
            rater: Rater { tariff: &tariff, numbering: self.numbering, decimals: self.decimals, default_customer },
            timezone: self.timezone.clone(),
            limits,
            chunk_bytes: pipeline::CHUNK_BYTES,
            cancel: Some(self.cancel),
            ids: self.ids.is_some(),
            usage: true,
            fraud: rules,
            pool: Some(self.pool),
        };
        let result = (|| {
            let (input, verifier) =
                crate::input::open_verified(input.file, input.path, crate::input::Expansion::of(&self.limits), key)
                    .map_err(FileError::Read)?;
            let mut files = OutputFiles::create_owned(outputs, tmp, &record.stem).map_err(FileError::Write)?;
            let tally = pipeline::rate(input, &job, &mut files, None)?;
            // Only content that is exactly what was keyed is published.
            verifier.verify().map_err(FileError::Read)?;
            files.publish().map_err(FileError::Write)?;
            Ok::<_, FileError>(tally)
        })();
        let mut tally = match result {
            Ok(t) => t,
            Err(FileError::Cancelled) => return Ok(Rated::Cancelled),
            Err(e @ (FileError::Read(_) | FileError::Format(_))) => return Ok(Rated::Unreadable(e.to_string())),
            Err(FileError::Write(e)) => {
                return Err(io_err("write the outputs of", &outputs.root.join(&record.stem), e));
            }
        };
        let totals = tally.totals;
        // The file's calls (with IDS on): IDS names the calls that crossed a
        // level from them in any order; the fraud rules judge them grouped
        // per customer in processing order, grouped once here, before the
        // ledger section.
        let calls = match rules {
            Some(_) => crate::fraud_job::prepare(std::mem::take(&mut tally.fraud), &tariff),
            None => std::mem::take(&mut tally.fraud.calls),
        };
        let usage = tally.usage.deltas(
            |c| &tariff.customers[c as usize].id,
            |c| tariff.currencies.code(usize::from(c)),
            self.decimals,
        );
        // Reading the customers' days, adding this file and committing is one
        // step across workers (and, in a shared store, across daemons: the
        // store's section locks the customers): no update of spend is lost.
        let _section = self.locks.commit();
        let _store = self.ledger.section(&customers_of(&usage))?;
        let rated = outputs.output_path(crate::rows::Output::Rated, &record.stem);
        let (ids_days, alerts) = match &self.ids {
            Some(settings) => {
                let file = FileCalls { name: &record.name, rated: &rated, calls: &calls };
                self.apply_ids(settings, &tariff, file, &tally.spend, &limits)?
            }
            None => (Vec::new(), Vec::new()),
        };
        let mut judged = match rules {
            Some(rules) => {
                let judge = crate::fraud_job::FileJudge {
                    rules,
                    tariff: &tariff,
                    ledger: self.ledger,
                    timezone: &self.timezone,
                    limits: &limits,
                    decimals: self.decimals,
                };
                judge.judge(&calls, &record.name, &rated)?
            }
            None => crate::fraud_job::Judged::default(),
        };
        let staged = match &self.ids {
            Some(settings) => Some(
                crate::outbox::before_commit(self.ledger, &settings.alerts, &alerts, &judged.alerts, redo)
                    .map_err(|e| io_err("append to the alert log", &settings.alerts.path, e))?,
            ),
            None => None,
        };
        let done = record.rated(&tariff.digest, &tally, limits.now, self.decimals);
        let usage = UsageCommit { rows: &usage, late: Bucket::LateCalls };
        self.ledger.finish_with(&key, &done, ids_days, judged.commit(), usage)?;
        if let (Some(settings), Some(staged)) = (&self.ids, staged) {
            crate::outbox::after_commit(self.ledger, &settings.alerts, staged);
        }
        Ok(Rated::Done { totals: Box::new(totals), tariff: done.tariff })
    }

    /// Adds a file's spend to its customers' days; returns the changed
    /// customers and the alerts their new spend raises.
    fn apply_ids(
        &self,
        settings: &IdsSettings,
        tariff: &Tariff,
        file: FileCalls<'_>,
        spend: &SpendAgg,
        limits: &RowLimits,
    ) -> Result<(IdsChanges, Vec<Alert>), JobError> {
        let now = limits.now;
        let window = settings.window_days;
        let scale = Decimal::from(10i64.pow(self.decimals));
        let spend_days = spend.days();
        let mut by_customer: BTreeMap<u32, Vec<(i64, &ids::DayAgg)>> = BTreeMap::new();
        for (&(c, day), agg) in &spend_days {
            by_customer.entry(c).or_default().push((day, agg));
        }
        let mut changed = Vec::new();
        // Customer days whose new spend crosses a level: (customer, day) -> state before this file.
        let mut to_trace = ToTrace::new();
        let mut states: BTreeMap<u32, CustomerDays> = BTreeMap::new();
        for (c, mut days) in by_customer {
            days.sort_by_key(|d| d.0);
            let customer = &tariff.customers[c as usize];
            let Some(range) = customer.ids_range else { continue };
            let range = (range * scale).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            let range = i64::try_from(range.mantissa() / 10i128.pow(range.scale())).unwrap_or(i64::MAX);
            let mut cd = self.ledger.customer_days(&customer.id)?;
            let zone = self.zone_of(tariff, customer);
            let mut days_of = DayMapper::new(zone);
            let today = days_of.day_of(now);
            // Calls flagged as implausibly old are billed but do not make the
            // customer older for IDS (a switch with a wrong clock must not end
            // a customer's warm-up). Future ones count on `today` already.
            let earliest = days_of.day_of(limits.earliest_start.max(now - 1_000_000_000));
            for (day, agg) in days {
                let base = cd.baseline(day, window);
                let before = cd.days.get(&day).cloned().unwrap_or_default();
                let state = cd.days.entry(day).or_default();
                state.units += agg.units;
                state.calls += agg.calls;
                for (country, units) in &agg.countries {
                    *state.countries.entry(*country).or_default() += units;
                }
                let reached = ids::level_reached(state.units, base, range);
                // Days older than the window are counted but not judged.
                if reached > before.level && day >= today - i64::from(window) {
                    to_trace.insert((c, day), TraceDay { before, baseline: base, range, today });
                    state.level = reached;
                }
                if day > earliest {
                    cd.first_day = Some(cd.first_day.map_or(day, |f| f.min(day)));
                }
            }
            // Keep two windows: a late call for a day up to a window ago still
            // needs that day's whole baseline.
            cd.prune(today - 2 * i64::from(window));
            states.insert(c, cd);
        }
        let tracer = ids::Tracer {
            tariff,
            timezone: &self.timezone,
            now: limits.now,
            latest_start: limits.latest_start,
            decimals: self.decimals,
            file: file.name,
        };
        let alerts = tracer
            .alerts(file.calls, &to_trace, |rows| crate::rows::call_ids(file.rated, rows))
            .map_err(|e| io_err("re-read the rated output", file.rated, e))?;
        for (c, cd) in states {
            changed.push((tariff.customers[c as usize].id.clone(), cd));
        }
        Ok((changed, alerts))
    }

    fn zone_of(&self, tariff: &Tariff, customer: &crate::tariff::Customer) -> jiff::tz::TimeZone {
        customer.zone.map_or_else(|| self.timezone.clone(), |z| tariff.zones[usize::from(z)].clone())
    }
}

/// The customers of a file's usage (every customer with a rated call),
/// sorted and distinct: the rows its commit section locks.
pub(crate) fn customers_of(usage: &[crate::billing::UsageDelta]) -> Vec<&str> {
    let mut customers: Vec<&str> = usage.iter().map(|u| u.customer.as_str()).collect();
    customers.sort_unstable();
    customers.dedup();
    customers
}
