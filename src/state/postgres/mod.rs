//! The shared [`Ledger`] on PostgreSQL (SPEC §13): every daemon of every
//! site on one database shares the files (by content), the customers' IDS
//! days and fraud states, the alert levels, the billing totals, the closed
//! months and the invoice sequence.
//!
//! Correct by construction between sites, with no read-modify-write race:
//! - a file's content is a primary key: the first site to record it owns
//!   it, and it is a duplicate everywhere else ([`StateError::OtherSite`]);
//! - a file's commit is one transaction, opened by [`Ledger::section`],
//!   which locks its customers' rows (`FOR UPDATE`, in customer order, so
//!   two sites never deadlock) before their days and states are read, and
//!   holds them until the commit writes the new ones;
//! - an alert level is a row unique on (customer, day, rule, level), and
//!   the alerts a file fires are committed with it into `alert_outbox`
//!   and logged by its site after the commit (the engine's `outbox` module);
//! - usage is routed under a `SHARE` lock of `closed_months`, which closing
//!   a month takes in `SHARE ROW EXCLUSIVE` mode: a file's usage is in the
//!   closed bill or in a later month, never both or neither; it is written
//!   as one pending entry per file and added to the cells in the database
//!   (`x = usage.x + excluded.x`) by batches, before every read.
//!
//! The client is the synchronous `postgres` crate with a small pool of
//! connections; a connection that failed is dropped, and the next request
//! connects again. A failed request is a [`StateError::Store`]: the daemon
//! keeps the file claimed and retries it (its transaction was rolled back).

mod billing;
mod commit;
pub mod connect;
mod files;
mod schema;

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Instant;

use postgres::Client;

use super::UsageCommit;
use super::{
    AlertOutbox, BillMaker, Close, ClosedMonth, ContentKey, FileRecord, FraudCommit, Ledger, Section, StateError,
};
use crate::billing::{Month, Sums, UsageKey};
use crate::fraud::CustomerState;
use crate::ids::CustomerDays;
use crate::telemetry::{emit, Event};

pub use connect::{ConnectError, Target};
pub use schema::VERSION as SCHEMA_VERSION;

/// A failure of the PostgreSQL store (the source of [`StateError::Store`]).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server or the connection failed.
    #[error("{}", db_text(.0))]
    Db(#[from] postgres::Error),
    /// The database was migrated by a newer cdr-rater.
    #[error("the database schema is version {found}, newer than this cdr-rater's {known}: upgrade it")]
    Newer {
        /// In the database.
        found: i32,
        /// Known here.
        known: i32,
    },
    /// A stored value does not decode.
    #[error("a stored {0} does not decode")]
    Decode(&'static str),
    /// The connection settings are unusable.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Another site owns the content ([`StateError::OtherSite`]).
    #[error("taken by site {site}")]
    OtherSite {
        /// The other site.
        site: String,
        /// The input's name there.
        name: String,
    },
}

/// The client's error with the server's message or the I/O cause (its own
/// text alone is only "db error" or "error connecting to server").
fn db_text(e: &postgres::Error) -> String {
    use std::error::Error;
    match (e.as_db_error(), e.source()) {
        (Some(db), _) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// A file's commit section in progress on one worker thread: its
/// transaction, with its customers' rows locked and their state as read.
struct Open {
    /// The connection, inside `BEGIN`.
    client: Client,
    /// What it locked.
    locked: Locked,
    /// When the locks were asked for.
    started: Instant,
}

/// Customers whose rows a transaction locked, with their state as read.
#[derive(Default)]
struct Locked {
    /// IDS days.
    days: HashMap<String, CustomerDays>,
    /// Fraud states.
    fraud: HashMap<String, CustomerState>,
    /// Row versions (`customers.version`).
    versions: HashMap<String, i64>,
}

/// A customer's state as decoded at a row version.
struct Cached {
    /// `customers.version` it was read or written at.
    version: i64,
    /// IDS days.
    days: CustomerDays,
    /// Fraud state.
    fraud: CustomerState,
}

/// Decoded customers' states, by customer: a section whose locked row
/// still has the cached version takes the state from here instead of
/// reading and decoding it again (tens of kB of JSON per customer). Every
/// write of a customer's row bumps its version, so another site's change
/// is never missed; an entry is taken out while its row is locked and put
/// back when the section ends.
#[derive(Default)]
struct StateCache {
    entries: Mutex<HashMap<String, Cached>>,
}

/// Entries kept at most (about the customers of one reseller); beyond,
/// the cache starts again empty.
const CACHE_MAX: usize = 200_000;

impl StateCache {
    /// Takes the cached states of `versions`'s customers whose version
    /// matches into `locked`; returns the others.
    fn take(&self, versions: &[(String, i64)], locked: &mut Locked) -> Vec<String> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut missing = Vec::new();
        for (customer, version) in versions {
            match entries.remove(customer) {
                Some(hit) if hit.version == *version => {
                    locked.days.insert(customer.clone(), hit.days);
                    locked.fraud.insert(customer.clone(), hit.fraud);
                }
                _ => missing.push(customer.clone()),
            }
        }
        missing
    }

    /// Puts states back at their versions.
    fn put(&self, states: impl IntoIterator<Item = (String, Cached)>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > CACHE_MAX {
            entries.clear();
        }
        entries.extend(states);
    }
}

/// An embedded store's state, to copy into the database ([`PgLedger::import`]).
#[derive(Debug, Default)]
pub struct Import<'a> {
    /// File records.
    pub files: &'a [(ContentKey, FileRecord)],
    /// Output stems and their owners (the files' own and reserved ones).
    pub stems: Vec<(String, ContentKey)>,
    /// Customers' IDS days.
    pub ids: &'a [(String, CustomerDays)],
    /// Customers' fraud states.
    pub fraud: &'a [(String, CustomerState)],
    /// Usage rows of every bill month.
    pub usage: Vec<(UsageKey, Sums)>,
    /// Closed months.
    pub closed: Vec<ClosedMonth>,
    /// Files rated after a month of their calls closed.
    pub late: Vec<(ContentKey, crate::state::LateRoutes)>,
    /// The next invoice sequence number, when any month was closed.
    pub next_invoice: Option<u64>,
}

/// The ledger in a PostgreSQL database.
pub struct PgLedger {
    /// Where the database is.
    target: Target,
    /// This daemon's site.
    site: String,
    /// Idle connections.
    idle: Mutex<Vec<Client>>,
    /// Open sections, by worker thread.
    sections: Mutex<HashMap<ThreadId, Open>>,
    /// Alert lines staged per thread for its next file commit.
    staged: Mutex<HashMap<ThreadId, Vec<String>>>,
    /// Whether this site's outbox may hold entries: true at start and after
    /// a commit with alerts, false once read empty or logged whole. Callers
    /// of the outbox hold the commit lock (`outbox::after_commit`), so a
    /// commit without alerts costs no query.
    outbox_dirty: std::sync::atomic::AtomicBool,
    /// Customers' states decoded, by row version.
    cache: StateCache,
}

impl std::fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLedger").field("at", &self.target.shown).field("site", &self.site).finish_non_exhaustive()
    }
}

impl PgLedger {
    /// Connects to the database of `target` and migrates its schema (under
    /// an advisory lock), as site `site`.
    pub fn open(target: Target, site: &str) -> Result<PgLedger, StateError> {
        let ledger = PgLedger {
            target,
            site: site.to_string(),
            idle: Mutex::new(Vec::new()),
            sections: Mutex::new(HashMap::new()),
            staged: Mutex::new(HashMap::new()),
            outbox_dirty: std::sync::atomic::AtomicBool::new(true),
            cache: StateCache::default(),
        };
        ledger.with_client(schema::migrate)?;
        Ok(ledger)
    }

    /// Opens the store of a `[store]` section with `backend = "postgres"`.
    pub fn from_config(store: &crate::config::StoreConfig) -> Result<PgLedger, StateError> {
        let target = connect::target(store.url.as_deref().unwrap_or_default(), store.password_file.as_deref())
            .map_err(|e| StateError::Store { at: "[store]".into(), source: Box::new(e) })?;
        PgLedger::open(target, &store.site())
    }

    /// This daemon's site.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// The database as logs show it (no password).
    pub fn shown(&self) -> &str {
        &self.target.shown
    }

    /// A connection: an idle one, else a new one.
    fn client(&self) -> Result<Client, PgError> {
        while let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        Ok(self.target.config.connect(self.target.tls.clone())?)
    }

    /// Gives a connection back for reuse.
    fn put(&self, client: Client) {
        if !client.is_closed() {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(client);
        }
    }

    /// Runs `f` on a connection; a failed one is dropped (a transaction it
    /// had open is rolled back by the server).
    fn with_client<T: Send>(&self, f: impl FnOnce(&mut Client) -> Result<T, PgError> + Send) -> Result<T, StateError> {
        let result = off_runtime(|| {
            self.client().and_then(|mut c| {
                let out = f(&mut c);
                if out.is_ok() {
                    self.put(c);
                }
                out
            })
        });
        self.report(result)
    }

    /// [`PgLedger::with_client`] for callers that never run on an async
    /// runtime (workers, commands) and pass callbacks that stay on their thread.
    fn with_client_here<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, PgError>) -> Result<T, StateError> {
        let result = self.client().and_then(|mut c| {
            let out = f(&mut c);
            if out.is_ok() {
                self.put(c);
            }
            out
        });
        self.report(result)
    }

    /// Turns the store's result into the ledger's, counting failures and
    /// keeping `cdr_rater_store_up` current.
    fn report<T>(&self, result: Result<T, PgError>) -> Result<T, StateError> {
        match result {
            Ok(v) => {
                emit(&Event::StoreUp(true));
                Ok(v)
            }
            Err(PgError::OtherSite { site, name }) => {
                emit(&Event::StoreUp(true));
                Err(StateError::OtherSite { site, name })
            }
            Err(e) => {
                let down = match &e {
                    PgError::Db(db) => db.as_db_error().is_none() || db.is_closed(),
                    PgError::Connect(_) => true,
                    _ => false,
                };
                emit(&Event::StoreError);
                if down {
                    emit(&Event::StoreUp(false));
                }
                Err(StateError::Store { at: self.target.shown.clone(), source: Box::new(e) })
            }
        }
    }

    /// Every file record of every site, with its site.
    pub fn all_sites(&self) -> Result<Vec<(ContentKey, String, FileRecord)>, StateError> {
        self.with_client(files::all_sites)
    }

    /// Whether the database has any file record (`store copy` refuses to
    /// copy into one that has).
    pub fn has_files(&self) -> Result<bool, StateError> {
        self.with_client(|c| Ok(c.query_opt("SELECT 1 FROM files LIMIT 1", &[])?.is_some()))
    }

    /// Copies an embedded store's state into this database in one
    /// transaction (`store copy`): file records and stems as this site's,
    /// customers' IDS days and fraud states, usage, closed months and the
    /// next invoice number.
    pub fn import(&self, state: &Import<'_>) -> Result<(), StateError> {
        self.with_client(|c| {
            let mut txn = c.transaction()?;
            files::import(&mut txn, &self.site, state.files, &state.stems)?;
            commit::import(&mut txn, state.ids, state.fraud)?;
            billing::import(&mut txn, &state.usage, &state.closed, &state.late, state.next_invoice)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// Checks that the database answers (the daemon's health check).
    pub fn ping(&self) -> Result<(), StateError> {
        self.with_client(|c| Ok(c.batch_execute("SELECT 1")?))
    }
}

/// The outbox: `alert_outbox`, this site's alert lines committed with their
/// files and not yet logged.
impl AlertOutbox for PgLedger {
    fn stage(&self, lines: Vec<String>) {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        staged.entry(std::thread::current().id()).or_default().extend(lines);
    }

    fn unlogged(&self) -> Result<Vec<(i64, String)>, StateError> {
        use std::sync::atomic::Ordering;
        if !self.outbox_dirty.load(Ordering::Acquire) {
            return Ok(Vec::new());
        }
        let entries: Vec<(i64, String)> = self.with_client(|c| {
            let rows = c.query("SELECT seq, alert FROM alert_outbox WHERE site = $1 ORDER BY seq", &[&self.site])?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        if entries.is_empty() {
            self.outbox_dirty.store(false, Ordering::Release);
        }
        Ok(entries)
    }

    fn logged(&self, entries: &[i64]) -> Result<(), StateError> {
        self.with_client(|c| Ok(c.execute("DELETE FROM alert_outbox WHERE seq = ANY($1)", &[&entries]).map(drop)?))?;
        self.outbox_dirty.store(false, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

impl PgLedger {
    /// The alert lines staged on this thread (taken: a commit writes them once).
    fn take_staged(&self) -> Vec<String> {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        staged.remove(&std::thread::current().id()).unwrap_or_default()
    }
}

/// Runs `f` where the synchronous client may block: on this thread, or on
/// a thread of its own when this one drives an async runtime (the daemon's
/// start-up and dashboard), where the client's own runtime cannot start.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl Drop for PgLedger {
    fn drop(&mut self) {
        // Closing a connection blocks too.
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        let open = std::mem::take(self.sections.get_mut().unwrap_or_else(|e| e.into_inner()));
        off_runtime(move || drop((idle, open)));
    }
}

impl Ledger for PgLedger {
    fn get(&self, key: &ContentKey) -> Result<Option<FileRecord>, StateError> {
        self.with_client(|c| files::get(c, &self.site, key))
    }

    fn begin(
        &self,
        key: &ContentKey,
        name: &str,
        claimed: &str,
        base: &str,
        is_free: &dyn Fn(&str) -> bool,
    ) -> Result<FileRecord, StateError> {
        self.with_client_here(|c| files::begin(c, &self.site, key, name, claimed, base, is_free))
    }

    fn section(&self, customers: &[&str]) -> Result<Section<'_>, StateError> {
        self.open_section(customers)
    }

    fn finish_with(
        &self,
        key: &ContentKey,
        record: &FileRecord,
        ids: Vec<(String, CustomerDays)>,
        fraud: FraudCommit<'_>,
        usage: UsageCommit<'_>,
    ) -> Result<(), StateError> {
        self.commit_file(key, record, ids, fraud, usage)
    }

    fn usage(&self, month: Month) -> Result<Vec<(UsageKey, Sums)>, StateError> {
        self.with_client(|c| billing::read(c, month))
    }

    fn closed_month(&self, month: Month) -> Result<Option<ClosedMonth>, StateError> {
        self.with_client(|c| billing::closed(c, month))
    }

    fn late_files(&self) -> Result<Vec<(ContentKey, crate::state::LateRoutes)>, StateError> {
        self.with_client(billing::late_files)
    }

    fn closed_months(&self) -> Result<Vec<Month>, StateError> {
        self.with_client(|c| Ok(billing::closed_set(c)?.into_iter().collect()))
    }

    fn close_month(&self, month: Month, bill: &mut BillMaker<'_>) -> Result<Close, StateError> {
        self.with_client_here(|c| billing::close(c, month, bill))?
    }

    fn fraud_states(&self, customers: &[&str]) -> Result<Vec<CustomerState>, StateError> {
        self.section_fraud_states(customers)
    }

    fn all_fraud_states(&self) -> Result<Vec<(String, CustomerState)>, StateError> {
        self.with_client(commit::all_fraud_states)
    }

    fn customer_days(&self, customer: &str) -> Result<CustomerDays, StateError> {
        self.section_customer_days(customer)
    }

    fn all_customer_days(&self) -> Result<Vec<(String, CustomerDays)>, StateError> {
        self.with_client(commit::all_customer_days)
    }

    fn alert_outbox(&self) -> Option<&dyn AlertOutbox> {
        Some(self)
    }

    fn forget(&self, key: &ContentKey) -> Result<(), StateError> {
        self.with_client(|c| files::forget(c, &self.site, key))
    }

    /// This site's records only: what a daemon recovers at start is its own
    /// (another site's in-progress file is not an orphan here).
    fn all(&self) -> Result<Vec<(ContentKey, FileRecord)>, StateError> {
        self.with_client(|c| files::all(c, &self.site))
    }
}
