//! A file's commit in the shared store: the section that locks its
//! customers' rows (in customer order) and reads their IDS days and fraud
//! states, and the one transaction that writes the file's record, those
//! customers' new state, the alert levels they reached and the usage.
//!
//! The section is kept per worker thread: between [`crate::state::Ledger::section`] and
//! [`crate::state::Ledger::finish_with`] the job reads the customers' state through the
//! ordinary [`crate::state::Ledger::customer_days`] and [`crate::state::Ledger::fraud_states`], which
//! answer from the section on that thread.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use postgres::{Client, GenericClient};

use super::{billing, files, Cached, Locked, Open, PgError, PgLedger, StateCache};
use crate::fraud::CustomerState;
use crate::ids::CustomerDays;
use crate::state::{ContentKey, FileRecord, FraudCommit, Phase, Section, StateError, UsageCommit};
use crate::telemetry::{emit, Event};

/// Locks the rows of `customers` (created first when missing) in the open
/// transaction of `client`, in customer order, and reads their state into
/// `locked`: from `cache` when the row's version is the one cached, else
/// from the row. The rows a transaction creates are its own until it
/// commits, and are created in the same order, so two sites never wait in
/// a circle.
fn lock(client: &mut Client, customers: &[&str], locked: &mut Locked, cache: &StateCache) -> Result<(), PgError> {
    let mut wanted: Vec<&str> = customers.iter().copied().filter(|c| !locked.versions.contains_key(*c)).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort_unstable();
    wanted.dedup();
    client.execute(
        "INSERT INTO customers (customer) SELECT c FROM unnest($1::text[]) AS v(c) ORDER BY c ON CONFLICT DO NOTHING",
        &[&wanted],
    )?;
    let rows = client.query(
        "SELECT customer, version FROM customers WHERE customer = ANY($1) ORDER BY customer FOR UPDATE",
        &[&wanted],
    )?;
    let versions: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    locked.versions.extend(versions.iter().cloned());
    let missing = cache.take(&versions, locked);
    if missing.is_empty() {
        return Ok(());
    }
    // Locked above: the rows read now are the ones just locked.
    for r in
        client.query("SELECT customer, ids, ids_days, fraud FROM customers WHERE customer = ANY($1)", &[&missing])?
    {
        let customer: String = r.get(0);
        let days = days_of(r.get(1), r.get(2))?;
        let fraud = match r.get::<_, Option<&[u8]>>(3) {
            Some(bytes) => decode_fraud(bytes)?,
            None => CustomerState::default(),
        };
        locked.fraud.insert(customer.clone(), fraud);
        locked.days.insert(customer, days);
    }
    Ok(())
}

/// The states of a section that ended, for the cache: as read (rolled
/// back), or with what the commit wrote at the versions it wrote.
fn settle(
    mut locked: Locked,
    ids: Vec<(String, CustomerDays)>,
    fraud: Vec<(&str, CustomerState)>,
) -> Vec<(String, Cached)> {
    let mut written = HashSet::new();
    for (customer, days) in ids {
        written.insert(customer.clone());
        locked.days.insert(customer, days);
    }
    for (customer, state) in fraud {
        written.insert(customer.to_string());
        locked.fraud.insert(customer.to_string(), state);
    }
    let mut out = Vec::with_capacity(locked.versions.len());
    for (customer, version) in locked.versions {
        let (Some(days), Some(fraud)) = (locked.days.remove(&customer), locked.fraud.remove(&customer)) else {
            continue;
        };
        // A written row is at `next_version`.
        let version = if written.contains(&customer) { version + 1 } else { version };
        out.push((customer, Cached { version, days, fraud }));
    }
    out
}

/// A customer's IDS days as stored: the JSON compressed with zstd in
/// `ids`. A customer's days are tens of kB of JSON, rewritten by each of
/// its files: compressed by the client (zstd at level 1, about a tenth of
/// the size) the database writes a tenth of the table and log pages (it
/// would compress them itself only with its slower `pglz`).
fn encode_days(days: &CustomerDays) -> Vec<u8> {
    // Serialising into memory cannot fail; compressing from memory into
    // memory neither (zstd fails only on its own allocation).
    let json = serde_json::to_vec(days).unwrap_or_default();
    zstd::bulk::compress(&json, 1).unwrap_or_default()
}

/// IDS days from `ids` (compressed), or from `ids_days` (plain JSON, as
/// written before schema 4); none when both are null.
fn days_of(compressed: Option<&[u8]>, json: Option<&str>) -> Result<CustomerDays, PgError> {
    let bad = |_| PgError::Decode("customer's IDS days");
    match (compressed, json) {
        (Some(bytes), _) => serde_json::from_slice(
            &zstd::stream::decode_all(bytes).map_err(|_| PgError::Decode("customer's IDS days"))?,
        )
        .map_err(bad),
        (None, Some(json)) => serde_json::from_str(json).map_err(bad),
        (None, None) => Ok(CustomerDays::default()),
    }
}

fn decode_fraud(bytes: &[u8]) -> Result<CustomerState, PgError> {
    CustomerState::decode(bytes).map_err(|_| PgError::Decode("customer's fraud state"))
}

/// The customers a commit writes.
fn written<'a>(ids: &'a [(String, CustomerDays)], fraud: &FraudCommit<'a>) -> Vec<&'a str> {
    let mut customers: Vec<&str> = ids.iter().map(|(c, _)| c.as_str()).collect();
    customers.extend(fraud.states.iter().map(|(c, _)| *c));
    customers
}

/// What one file's transaction writes.
struct FileWrite<'a> {
    site: &'a str,
    key: &'a ContentKey,
    done: &'a FileRecord,
    ids: &'a [(String, CustomerDays)],
    fraud: &'a FraudCommit<'a>,
    usage: &'a UsageCommit<'a>,
    /// Alert lines for the outbox.
    alerts: &'a [String],
}

impl FileWrite<'_> {
    /// Writes everything inside the open transaction (the customers locked
    /// in `locked`): a handful of statements whatever the file's size.
    /// Returns the number of the file's pending usage entry.
    fn write(&self, c: &mut Client, locked: &Locked) -> Result<Option<i64>, PgError> {
        files::finish(c, self.site, self.key, self.done)?;
        if !self.ids.is_empty() {
            let customers: Vec<&str> = self.ids.iter().map(|(c, _)| c.as_str()).collect();
            let days: Vec<Vec<u8>> = self.ids.iter().map(|(_, d)| encode_days(d)).collect();
            let versions: Vec<i64> = customers.iter().map(|c| next_version(locked, c)).collect();
            c.execute(
                "UPDATE customers SET ids = v.d, ids_days = NULL, version = v.n
                 FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS v(c, d, n) WHERE customers.customer = v.c",
                &[&customers, &days, &versions],
            )?;
            // The levels each day reached now: the first site to insert one fired it.
            let (mut who, mut day, mut level) = (Vec::new(), Vec::new(), Vec::new());
            for (customer, days) in self.ids {
                let before = locked.days.get(customer);
                for (d, state) in &days.days {
                    let was = before.and_then(|b| b.days.get(d)).map_or(0, |s| s.level);
                    for l in was + 1..=state.level {
                        who.push(customer.as_str());
                        day.push(*d);
                        level.push(l as i32);
                    }
                }
            }
            if !who.is_empty() {
                c.execute(
                    "INSERT INTO alert_levels (customer, day, rule, level, site)
                     SELECT c, d, 'ids', l, $4 FROM unnest($1::text[], $2::bigint[], $3::int[]) AS v(c, d, l)
                     ON CONFLICT DO NOTHING",
                    &[&who, &day, &level, &self.site],
                )?;
            }
        }
        if !self.fraud.states.is_empty() {
            let customers: Vec<&str> = self.fraud.states.iter().map(|(c, _)| *c).collect();
            let states: Vec<Option<Vec<u8>>> =
                self.fraud.states.iter().map(|(_, s)| (!s.is_empty()).then(|| s.encode())).collect();
            let versions: Vec<i64> = customers.iter().map(|c| next_version(locked, c)).collect();
            c.execute(
                "UPDATE customers SET fraud = v.s, version = v.n
                 FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS v(c, s, n) WHERE customers.customer = v.c",
                &[&customers, &states, &versions],
            )?;
        }
        if !self.alerts.is_empty() {
            c.execute(
                "INSERT INTO alert_outbox (site, alert) SELECT $1, a FROM unnest($2::text[]) WITH ORDINALITY AS v(a, n) ORDER BY n",
                &[&self.site, &self.alerts],
            )?;
        }
        billing::write(c, &self.key.0, self.usage)
    }
}

/// The version a commit writes a locked customer's row at (the same for
/// each of its statements).
fn next_version(locked: &Locked, customer: &str) -> i64 {
    locked.versions.get(customer).map_or(1, |v| v + 1)
}

impl PgLedger {
    /// [`crate::state::Ledger::section`]: a transaction on its own connection with the
    /// customers' rows locked, kept for this thread until the commit.
    pub(super) fn open_section(&self, customers: &[&str]) -> Result<Section<'_>, StateError> {
        self.end_section();
        // Alerts staged for a commit that never came (its file failed).
        drop(self.take_staged());
        let result = self.client().and_then(|mut client| {
            let started = Instant::now();
            client.batch_execute("BEGIN")?;
            let mut locked = Locked::default();
            lock(&mut client, customers, &mut locked, &self.cache)?;
            Ok(Open { client, locked, started })
        });
        let open = self.report(result)?;
        self.sections.lock().unwrap_or_else(|e| e.into_inner()).insert(std::thread::current().id(), open);
        Ok(Section::new(move || self.end_section()))
    }

    /// Ends this thread's section without a commit: rolled back, locks freed.
    fn end_section(&self) {
        let open = self.sections.lock().unwrap_or_else(|e| e.into_inner()).remove(&std::thread::current().id());
        if let Some(mut open) = open {
            if open.client.batch_execute("ROLLBACK").is_ok() {
                // Nothing was written: the rows are as read.
                self.cache.put(settle(open.locked, Vec::new(), Vec::new()));
                self.put(open.client);
            }
        }
    }

    /// Runs `f` on this thread's section after locking `customers` in it
    /// too (a customer the section did not name: rare); `None` without one.
    fn in_section<T>(&self, customers: &[&str], f: impl FnOnce(&Locked) -> T) -> Option<Result<T, StateError>> {
        let mut sections = self.sections.lock().unwrap_or_else(|e| e.into_inner());
        let id = std::thread::current().id();
        let open = sections.get_mut(&id)?;
        Some(match lock(&mut open.client, customers, &mut open.locked, &self.cache) {
            Ok(()) => Ok(f(&open.locked)),
            Err(e) => {
                // The transaction is broken: the section ends here.
                sections.remove(&id);
                self.report(Err(e))
            }
        })
    }

    /// [`crate::state::Ledger::customer_days`]: from this thread's section, else read.
    pub(super) fn section_customer_days(&self, customer: &str) -> Result<CustomerDays, StateError> {
        if let Some(days) = self.in_section(&[customer], |l| l.days.get(customer).cloned().unwrap_or_default()) {
            return days;
        }
        self.with_client(|c| {
            let row = c.query_opt("SELECT ids, ids_days FROM customers WHERE customer = $1", &[&customer])?;
            match row {
                Some(r) => days_of(r.get(0), r.get(1)),
                None => Ok(CustomerDays::default()),
            }
        })
    }

    /// [`crate::state::Ledger::fraud_states`]: from this thread's section, else read.
    pub(super) fn section_fraud_states(&self, customers: &[&str]) -> Result<Vec<CustomerState>, StateError> {
        let from_section = self.in_section(customers, |l| {
            customers.iter().map(|c| l.fraud.get(*c).cloned().unwrap_or_default()).collect::<Vec<_>>()
        });
        if let Some(states) = from_section {
            return states;
        }
        self.with_client(|c| {
            let rows = c.query("SELECT customer, fraud FROM customers WHERE customer = ANY($1)", &[&customers])?;
            let mut found = HashMap::new();
            for r in rows {
                if let Some(bytes) = r.get::<_, Option<&[u8]>>(1) {
                    found.insert(r.get::<_, String>(0), decode_fraud(bytes)?);
                }
            }
            Ok(customers.iter().map(|c| found.remove(*c).unwrap_or_default()).collect())
        })
    }

    /// [`crate::state::Ledger::finish_with`]: in this thread's section when one is open
    /// (ending it), else in a transaction of its own.
    pub(super) fn commit_file(
        &self,
        key: &ContentKey,
        record: &FileRecord,
        ids: Vec<(String, CustomerDays)>,
        fraud: FraudCommit<'_>,
        usage: UsageCommit<'_>,
    ) -> Result<(), StateError> {
        let mut done = record.clone();
        done.phase = Phase::Done;
        done.finished_at = Some(jiff::Timestamp::now().as_second());
        let alerts = self.take_staged();
        let open = self.sections.lock().unwrap_or_else(|e| e.into_inner()).remove(&std::thread::current().id());
        let open = match open {
            Some(open) => Ok(open),
            None => self.client().and_then(|mut client| {
                let started = Instant::now();
                client.batch_execute("BEGIN")?;
                Ok(Open { client, locked: Locked::default(), started })
            }),
        };
        let result = open.and_then(|mut open| {
            lock(&mut open.client, &written(&ids, &fraud), &mut open.locked, &self.cache)?;
            let file = FileWrite {
                site: &self.site,
                key,
                done: &done,
                ids: &ids,
                fraud: &fraud,
                usage: &usage,
                alerts: &alerts,
            };
            let pending = file.write(&mut open.client, &open.locked)?;
            open.client.batch_execute("COMMIT")?;
            emit(&Event::StoreCommit { seconds: open.started.elapsed().as_secs_f64() });
            if !alerts.is_empty() {
                self.outbox_dirty.store(true, std::sync::atomic::Ordering::Release);
            }
            let Open { mut client, locked, .. } = open;
            self.cache.put(settle(locked, ids, fraud.states));
            if pending.is_some_and(|seq| seq % billing::FOLD_EVERY == 0) {
                // The file is committed: a failed fold is done by the next one.
                if let Err(e) = billing::fold(&mut client, false) {
                    tracing::warn!(error = %e, "could not fold the pending usage (the next commit or read will)");
                    return Ok(());
                }
            }
            self.put(client);
            Ok(())
        });
        self.report(result)
    }
}

/// Every customer's IDS days.
pub(super) fn all_customer_days(c: &mut Client) -> Result<Vec<(String, CustomerDays)>, PgError> {
    let rows = c.query(
        "SELECT customer, ids, ids_days FROM customers WHERE ids IS NOT NULL OR ids_days IS NOT NULL ORDER BY customer",
        &[],
    )?;
    rows.iter().map(|r| Ok((r.get(0), days_of(r.get(1), r.get(2))?))).collect()
}

/// Every customer's fraud state.
pub(super) fn all_fraud_states(c: &mut Client) -> Result<Vec<(String, CustomerState)>, PgError> {
    let rows = c.query("SELECT customer, fraud FROM customers WHERE fraud IS NOT NULL ORDER BY customer", &[])?;
    rows.iter().map(|r| Ok((r.get(0), decode_fraud(r.get(1))?))).collect()
}

/// Writes customers' IDS days and fraud states as they are, for `store copy`.
pub(super) fn import(
    txn: &mut impl GenericClient,
    ids: &[(String, CustomerDays)],
    fraud: &[(String, CustomerState)],
) -> Result<(), PgError> {
    for (customer, days) in ids {
        txn.execute(
            "INSERT INTO customers (customer, ids) VALUES ($1, $2)
             ON CONFLICT (customer) DO UPDATE SET ids = excluded.ids, ids_days = NULL, version = customers.version + 1",
            &[customer, &encode_days(days)],
        )?;
    }
    for (customer, state) in fraud.iter().filter(|(_, s)| !s.is_empty()) {
        txn.execute(
            "INSERT INTO customers (customer, fraud) VALUES ($1, $2)
             ON CONFLICT (customer) DO UPDATE SET fraud = excluded.fraud, version = customers.version + 1",
            &[customer, &state.encode()],
        )?;
    }
    Ok(())
}
