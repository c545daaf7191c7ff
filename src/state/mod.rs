//! Crash-safe daemon state behind one small interface.
//!
//! The [`Ledger`] remembers every input file by content: which output name
//! it owns and whether its outputs are published. A file's ledger entry is
//! committed durably (fsync) before the input is archived, so after a crash
//! at any instant the daemon can tell a finished file from one to redo.
//! The interface is small on purpose: it has two backends, the embedded
//! [`redb`] one of a single daemon ([`RedbLedger`]) and PostgreSQL, shared by
//! every daemon of several sites ([`PgLedger`], SPEC §13). What the shared
//! one needs beyond the embedded one is a file's commit [`Section`]: the
//! customers' rows locked in the database from the read of their state to
//! the commit, where one process's lock is enough for the embedded store.

mod contribution;
mod export;
mod fraud_rebuild;
mod fraud_store;
mod guard;
mod ids_rebuild;
pub mod postgres;
mod rebuild;
mod redb_ledger;
mod section;
mod usage_store;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use contribution::{read_rated, read_rated_bytes, Contribution, ReadSettings};
pub use export::Export;
pub use fraud_store::{FraudCommit, CHECKPOINT_EVERY};
pub use guard::{earlier_work, open_for_daemon, GuardError, LEDGER_FILE};
pub use ids_rebuild::RatedFile;
pub use postgres::PgLedger;
pub use rebuild::{hash_streaming, rebuild, Clock, RebuildError, RebuildPlan, Summary};
pub use redb_ledger::{OpenError, RedbLedger, ORPHAN_OWNER};
pub use section::Section;

use crate::billing::{Bucket, Month, Sums, UsageDelta, UsageKey};
use crate::fraud::CustomerState;
use crate::ids::CustomerDays;

/// The identity of an input: a 128-bit hash of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentKey(pub [u8; 16]);

impl ContentKey {
    /// Hashes a file's content (XXH3-128).
    pub fn of(bytes: &[u8]) -> ContentKey {
        ContentKey(xxhash_rust::xxh3::xxh3_128(bytes).to_be_bytes())
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where a file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Claimed and owning its output stem; outputs may or may not be published.
    InProgress,
    /// Outputs published; the input may still await archiving.
    Done,
}

/// What the ledger knows of one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Name the input had in `incoming/`.
    pub name: String,
    /// Name of the claimed copy in the spool's work folder.
    pub claimed: String,
    /// Output stem this input owns (`NAME` or `NAME.2`, ...).
    pub stem: String,
    /// Progress.
    pub phase: Phase,
    /// Rows, rated, unrated, rejected (when done).
    pub counts: [u64; 4],
    /// Rows skipped as not billable (when done).
    #[serde(default)]
    pub skipped: u64,
    /// Rated rows flagged for an implausible start time (when done).
    #[serde(default)]
    pub flagged: u64,
    /// Sum of buy and of sell, as decimal text (when done); with several
    /// currencies in the tables, `AMOUNT CODE` per currency joined by `, `
    /// (`12.3400 EUR, 1.2000 USD`).
    pub buy: String,
    /// See `buy`.
    pub sell: String,
    /// Unix seconds of the claim.
    pub started_at: i64,
    /// Unix seconds of the commit of `Done`.
    pub finished_at: Option<i64>,
    /// Digest of the tariff tables that priced the file (`cdr-rater check`
    /// prints the digest of a rates folder); empty until done, and for
    /// records recreated by `state rebuild`.
    #[serde(default)]
    pub tariff: String,
    /// Epoch seconds of the earliest call start in the input (rated or
    /// unrated rows), when known: `rerate --month/--from` selects by it.
    /// Absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_call: Option<i64>,
    /// Epoch seconds of the latest call start, as `first_call`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_call: Option<i64>,
    /// The "now" the file was rated at (decides its start-time flags, and
    /// so which day a call from the future counted on for IDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rated_now: Option<i64>,
    /// How many times the file was re-rated (its superseded outputs are
    /// `superseded/KIND/STEM.rN.KIND.csv`, N = 1..=rerates).
    #[serde(default)]
    pub rerates: u32,
    /// A re-rating under way: set durably before any output moves, cleared
    /// by the commit of its difference (see `rerate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerating: Option<RerateMark>,
    /// The re-rating request that last re-rated the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerate_request: Option<String>,
}

/// A re-rating of a file that started and has not committed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerateMark {
    /// The re-rating's number: the superseded outputs go to `STEM.rN.*`.
    pub generation: u32,
    /// The request it belongs to.
    pub request: String,
}

impl FileRecord {
    /// The record of an input just claimed: in progress, owning `stem`.
    pub fn in_progress(name: &str, claimed: &str, stem: String, started_at: i64) -> FileRecord {
        FileRecord {
            name: name.to_string(),
            claimed: claimed.to_string(),
            stem,
            phase: Phase::InProgress,
            counts: [0; 4],
            skipped: 0,
            flagged: 0,
            buy: String::new(),
            sell: String::new(),
            started_at,
            finished_at: None,
            tariff: String::new(),
            first_call: None,
            last_call: None,
            rated_now: None,
            rerates: 0,
            rerating: None,
            rerate_request: None,
        }
    }

    /// This record with what rating the input gave: the tariff that priced
    /// it, its counts and money (at `decimals`), the span of its calls and
    /// the "now" it was rated at. The daemon's job and `rerate` write it.
    pub fn rated(self, tariff: &str, tally: &crate::totals::Tally, now: i64, decimals: u32) -> FileRecord {
        let totals = &tally.totals;
        let (buy, sell) = totals.money_text(decimals);
        FileRecord {
            tariff: tariff.to_string(),
            counts: [totals.rows, totals.rated, totals.unrated, totals.rejected],
            skipped: totals.skipped,
            flagged: totals.flagged(),
            buy,
            sell,
            first_call: tally.span.map(|s| s.0),
            last_call: tally.span.map(|s| s.1),
            rated_now: Some(now),
            ..self
        }
    }
}

/// A storage failure: the daemon cannot promise exactly-once without it.
/// Each variant keeps its cause as the error's source.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store failed on its file or server.
    #[error("state store {at}: {source}")]
    Store {
        /// The ledger file (or, later, the database) it failed on.
        at: String,
        /// The store's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store could not be opened.
    #[error("state store: {0}")]
    Open(#[from] OpenError),
    /// A file of the state folder could not be written.
    #[error("state store {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value could not be encoded for the store.
    #[error("state store: cannot encode a record: {0}")]
    Encode(#[from] serde_json::Error),
    /// The content is another site's (in progress or done) in the shared
    /// store: this site's copy is a duplicate (it is retried, then found
    /// done elsewhere and archived as one).
    #[error("state store: the content of {name} is taken by site {site}")]
    OtherSite {
        /// The other site.
        site: String,
        /// The input's name there.
        name: String,
    },
    /// Reopening the store after an I/O error failed: it stays closed until
    /// a later reopen succeeds.
    #[error("state store {}: not open (reopening failed)", path.display())]
    Closed {
        /// The ledger file.
        path: std::path::PathBuf,
    },
}

/// A file's usage for billing, committed with it.
#[derive(Debug, Clone, Copy)]
pub struct UsageCommit<'a> {
    /// What the file adds per customer, month of the calls, currency and line.
    pub rows: &'a [UsageDelta],
    /// The bucket for rows of a month already closed: [`Bucket::LateCalls`]
    /// for a file rated late, [`Bucket::Rerating`] for a re-rating difference.
    pub late: Bucket,
}

impl Default for UsageCommit<'_> {
    fn default() -> Self {
        UsageCommit { rows: &[], late: Bucket::LateCalls }
    }
}

/// Where a late file's calls were billed: (month of the calls, bill month).
pub type LateRoutes = Vec<(Month, Month)>;

/// A closed month: its invoice numbers and its frozen bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedMonth {
    /// The month.
    pub month: Month,
    /// Sequence number of its first invoice.
    pub first_invoice: u64,
    /// How many invoice numbers it used.
    pub invoices: u64,
    /// Unix seconds of the close.
    pub closed_at: i64,
    /// The bill as `bill --close` made it (its own serialisation): what the
    /// month's files are rewritten from, so a closed month never changes.
    pub bill: Vec<u8>,
}

/// How [`Ledger::close_month`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// Closed now.
    Closed(ClosedMonth),
    /// It was closed before: nothing changed.
    AlreadyClosed(ClosedMonth),
}

/// Makes a month's bill inside the close: given the usage billed in the
/// month and the next invoice sequence number, returns how many numbers it
/// used and the bill to freeze.
pub type BillMaker<'a> = dyn FnMut(&[(UsageKey, Sums)], u64) -> Result<(u64, Vec<u8>), StateError> + 'a;

/// A store that commits a file's alerts with it and hands them back until
/// they are logged (the shared store: see the engine's `outbox` module).
pub trait AlertOutbox {
    /// Adds alert lines to the next file commit on this thread.
    fn stage(&self, lines: Vec<String>);

    /// This site's committed alerts not yet marked logged, oldest first:
    /// (entry, line).
    fn unlogged(&self) -> Result<Vec<(i64, String)>, StateError>;

    /// Marks entries logged (they leave the outbox).
    fn logged(&self, entries: &[i64]) -> Result<(), StateError>;
}

/// The file ledger.
pub trait Ledger: Send + Sync {
    /// The record of an input, if any.
    fn get(&self, key: &ContentKey) -> Result<Option<FileRecord>, StateError>;

    /// Records a new input as in progress and reserves its output stem: the
    /// first of `base`, `base.2`, `base.3`, ... that no other input owns and
    /// for which `is_free` holds. One atomic, durable commit.
    fn begin(
        &self,
        key: &ContentKey,
        name: &str,
        claimed: &str,
        base: &str,
        is_free: &dyn Fn(&str) -> bool,
    ) -> Result<FileRecord, StateError>;

    /// Opens the store's part of one file's commit, for `customers` (sorted,
    /// distinct): until the returned [`Section`] is dropped, or
    /// [`Ledger::finish_with`] on the same thread commits it, their IDS days
    /// and fraud states read on this thread are the ones the commit writes
    /// over, and no other process can change them in between. The embedded
    /// store has nothing to do (callers serialise their own workers with
    /// `job::Locks`); the shared one locks the customers' rows.
    fn section(&self, customers: &[&str]) -> Result<Section<'_>, StateError> {
        let _ = customers;
        Ok(Section::none())
    }

    /// Marks an input done with its totals and stores the customers' IDS
    /// days it changed, in one durable commit: spend is counted exactly when
    /// the file is.
    fn finish(
        &self,
        key: &ContentKey,
        record: &FileRecord,
        ids: Vec<(String, CustomerDays)>,
    ) -> Result<(), StateError> {
        self.finish_with(key, record, ids, FraudCommit::default(), UsageCommit::default())
    }

    /// [`Ledger::finish`] with the customers' fraud state changes and
    /// billing usage too, in the same commit: a rule's windows, its "fired"
    /// marks and the month's totals count exactly when the file does.
    fn finish_with(
        &self,
        key: &ContentKey,
        record: &FileRecord,
        ids: Vec<(String, CustomerDays)>,
        fraud: FraudCommit<'_>,
        usage: UsageCommit<'_>,
    ) -> Result<(), StateError>;

    /// The usage billed in `month` (its own calls while open, and late and
    /// re-rating lines of closed months before it), sorted by key.
    fn usage(&self, month: Month) -> Result<Vec<(UsageKey, Sums)>, StateError>;

    /// The closed month's record, if `month` is closed.
    fn closed_month(&self, month: Month) -> Result<Option<ClosedMonth>, StateError>;

    /// Files rated after a month of their calls had closed, with where
    /// those calls were billed: (origin month, bill month) pairs.
    fn late_files(&self) -> Result<Vec<(ContentKey, LateRoutes)>, StateError>;

    /// Every closed month, in order.
    fn closed_months(&self) -> Result<Vec<Month>, StateError>;

    /// Closes `month` atomically: its usage as it is now goes to `bill` with
    /// the next invoice number; the bill is frozen, the sequence advanced
    /// and the month marked closed in one commit. A month closed before is
    /// left alone ([`Close::AlreadyClosed`]).
    fn close_month(&self, month: Month, bill: &mut BillMaker<'_>) -> Result<Close, StateError>;

    /// The committed fraud states of customers (empty when unknown), in
    /// order, handed over for a judgement whose [`Ledger::finish_with`]
    /// gives them back (callers serialise judgement and commit, as for IDS
    /// days).
    fn fraud_states(&self, customers: &[&str]) -> Result<Vec<CustomerState>, StateError>;

    /// The fraud state of every customer that has one.
    fn all_fraud_states(&self) -> Result<Vec<(String, CustomerState)>, StateError>;

    /// The IDS days of one customer (empty when unknown).
    fn customer_days(&self, customer: &str) -> Result<CustomerDays, StateError>;

    /// The IDS days of every customer.
    fn all_customer_days(&self) -> Result<Vec<(String, CustomerDays)>, StateError>;

    /// The store's alert outbox, when alerts are committed with their file
    /// and logged after it (the shared store); `None`: logged before the
    /// commit (the embedded store). See the engine's `outbox` module.
    fn alert_outbox(&self) -> Option<&dyn AlertOutbox> {
        None
    }

    /// Forgets an input that could not be rated (it went to `failed/`),
    /// releasing its stem.
    fn forget(&self, key: &ContentKey) -> Result<(), StateError>;

    /// Every record, for recovery, reports and tests.
    fn all(&self) -> Result<Vec<(ContentKey, FileRecord)>, StateError>;
}

/// File name of the IDS snapshot in the state folder: what `cdr-rater ids`
/// reads while a daemon holds the ledger.
pub const IDS_SNAPSHOT: &str = "ids.json";

/// The IDS state of every customer, as written to the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdsSnapshot {
    /// Customer id to its days.
    pub customers: std::collections::BTreeMap<String, CustomerDays>,
}

/// Writes `state/ids.json` atomically from the ledger. Callers that write
/// from several threads serialise the calls (the daemon's workers share a
/// lock for it), so an older snapshot never replaces a newer one.
pub fn write_ids_snapshot(state_dir: &std::path::Path, ledger: &dyn Ledger) -> Result<(), StateError> {
    let snapshot = IdsSnapshot { customers: ledger.all_customer_days()?.into_iter().collect() };
    let json = serde_json::to_vec(&snapshot)?;
    let io = |source: std::io::Error| StateError::Io { path: state_dir.join(IDS_SNAPSHOT), source };
    let mut file = crate::output::AtomicFile::create_in(state_dir, state_dir.join(IDS_SNAPSHOT), true).map_err(io)?;
    file.write_all(&json).map_err(io)?;
    file.publish().map_err(io)?;
    Ok(())
}
