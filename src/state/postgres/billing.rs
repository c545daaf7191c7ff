//! Billing totals in the shared store, with the semantics of the embedded
//! `usage_store`: a file's usage lands in the month its calls started while
//! that month is open, else in the first open month after it as a late or
//! re-rating line; closing a month freezes its bill and advances the
//! gap-free invoice sequence, in one transaction.
//!
//! A file's transaction routes its usage and adds it as one entry of
//! `usage_pending`; entries are folded into the `usage` cells in batches
//! ([`fold`], by the commit whose entry number is a multiple of
//! [`FOLD_EVERY`]), and every reader folds what is pending first, in its
//! own transaction, so it sees every committed file. Folds are serialised
//! by an advisory lock.
//!
//! A file's usage is routed under a `SHARE` lock of `closed_months` (file
//! commits do not wait on each other); a close takes `SHARE ROW EXCLUSIVE`
//! (it waits for the commits in flight and holds new ones back until it is
//! done) and folds before it reads, so a file's usage is in the closed bill
//! or in a later month.

use std::collections::{BTreeMap, BTreeSet};

use postgres::{Client, GenericClient};
use rust_decimal::Decimal;

use super::PgError;
use crate::billing::{Bucket, Category, Month, Sums, UsageKey};
use crate::state::{BillMaker, Close, ClosedMonth, ContentKey, LateRoutes, StateError, UsageCommit};

/// The closed months.
pub(super) fn closed_set(c: &mut impl GenericClient) -> Result<BTreeSet<Month>, PgError> {
    let rows = c.query("SELECT month FROM closed_months", &[])?;
    rows.iter().map(|r| Month::parse(r.get(0)).ok_or(PgError::Decode("closed month"))).collect()
}

/// Adds usage whose keys are distinct to the stored rows (in the database).
const UPSERT: &str =
    "INSERT INTO usage (bill_month, customer, origin, currency, category, bucket, calls, billed_s, sell, buy)
     SELECT m, c, o, cur, cat, b, n, s, sl::numeric, bu::numeric
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::bigint[], $8::bigint[], $9::text[], $10::text[]) AS v(m, c, o, cur, cat, b, n, s, sl, bu)
     ON CONFLICT (bill_month, customer, origin, currency, category, bucket) DO UPDATE SET
       calls = usage.calls + excluded.calls, billed_s = usage.billed_s + excluded.billed_s,
       sell = usage.sell + excluded.sell, buy = usage.buy + excluded.buy";

/// Key of the advisory lock of whoever folds `usage_pending` into `usage`
/// (`usage` in ASCII): one folder at a time, so folds never wait on each
/// other's rows.
const FOLD_LOCK: i64 = 0x0075_7361_6765;

/// A commit whose pending entry's number is a multiple of this folds the
/// pending usage after it: the table holds about this many files' usage.
pub(super) const FOLD_EVERY: i64 = 32;

/// One usage row as stored in a pending entry: bill month, customer,
/// origin month, currency, category, bucket, calls, billed seconds, sell,
/// buy (decimals as text).
type PendingRow<S> = (S, S, S, S, S, S, i64, i64, S, S);

/// Writes a file's usage inside its transaction, as routed now (a closed
/// month's rows go to the first open month after it): one pending entry,
/// a single value whatever the number of rows, folded into `usage` later
/// ([`fold`]; readers fold first). Returns the entry's number.
///
/// Why not add to `usage` here: that upsert touches every (customer,
/// month, line) cell a file has, thousands of index lookups and row
/// versions per file, inside the section that holds the customers' locks.
/// Folded, the cells are summed over many files first and written once.
pub(super) fn write(
    txn: &mut impl GenericClient,
    file: &[u8],
    usage: &UsageCommit<'_>,
) -> Result<Option<i64>, PgError> {
    if usage.rows.is_empty() {
        return Ok(None);
    }
    // The lock and the read in one round trip.
    let mut closed = BTreeSet::new();
    for m in txn.simple_query("LOCK TABLE closed_months IN SHARE MODE; SELECT month FROM closed_months")? {
        if let postgres::SimpleQueryMessage::Row(row) = m {
            closed.insert(row.get(0).and_then(Month::parse).ok_or(PgError::Decode("closed month"))?);
        }
    }
    let mut routes = BTreeSet::new();
    let mut rows: Vec<PendingRow<std::borrow::Cow<'_, str>>> = Vec::with_capacity(usage.rows.len());
    for row in usage.rows {
        let (bill_month, b) = crate::billing::usage::route(row.origin, &closed, usage.late);
        if bill_month != row.origin {
            routes.insert((row.origin, bill_month));
        }
        rows.push((
            bill_month.to_string().into(),
            row.customer.as_str().into(),
            row.origin.to_string().into(),
            row.currency.as_str().into(),
            row.category.code().into(),
            b.as_str().into(),
            row.sums.calls,
            row.sums.billed_s,
            row.sums.sell.to_string().into(),
            row.sums.buy.to_string().into(),
        ));
    }
    // Strings and integers only: serialising into memory cannot fail.
    let entry = serde_json::to_vec(&rows).unwrap_or_default();
    let seq: i64 = txn.query_one("INSERT INTO usage_pending (rows) VALUES ($1) RETURNING seq", &[&entry])?.get(0);
    if usage.late == Bucket::LateCalls && !routes.is_empty() {
        write_late(txn, file, &crate::billing::usage::format_routes(&routes))?;
    }
    Ok(Some(seq))
}

/// Folds the pending usage into `usage` in a transaction of its own; with
/// `wait` false, does nothing when another client is folding.
pub(super) fn fold(c: &mut Client, wait: bool) -> Result<(), PgError> {
    let mut txn = c.transaction()?;
    if !lock_folding(&mut txn, wait)? {
        return Ok(());
    }
    fold_pending(&mut txn)?;
    txn.commit()?;
    Ok(())
}

/// Takes [`FOLD_LOCK`] until the end of the transaction (`wait`: waiting
/// for it); whether it is held.
fn lock_folding(txn: &mut impl GenericClient, wait: bool) -> Result<bool, PgError> {
    if wait {
        txn.execute("SELECT pg_advisory_xact_lock($1)", &[&FOLD_LOCK])?;
        return Ok(true);
    }
    Ok(txn.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&FOLD_LOCK])?.get(0))
}

/// Moves every pending entry committed so far into `usage`, summed per
/// cell, in the caller's transaction (which holds [`FOLD_LOCK`]); a cell a
/// re-rating difference brought to zero is deleted.
fn fold_pending(txn: &mut impl GenericClient) -> Result<(), PgError> {
    let entries = txn.query("DELETE FROM usage_pending RETURNING rows", &[])?;
    if entries.is_empty() {
        return Ok(());
    }
    let mut cells: BTreeMap<UsageKey, Sums> = BTreeMap::new();
    for entry in &entries {
        let rows: Vec<PendingRow<String>> =
            serde_json::from_slice(entry.get(0)).map_err(|_| PgError::Decode("pending usage"))?;
        for row in rows {
            let (key, sums) = pending_cell(row).ok_or(PgError::Decode("pending usage row"))?;
            cells.entry(key).or_default().add(&sums);
        }
    }
    let n = cells.len();
    let (mut bill, mut customer, mut origin, mut currency, mut category, mut bucket) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut calls, mut billed, mut sell, mut buy) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for (k, s) in &cells {
        bill.push(k.bill_month.to_string());
        customer.push(k.customer.as_str());
        origin.push(k.origin.to_string());
        currency.push(k.currency.as_str());
        category.push(k.category.code());
        bucket.push(k.bucket.as_str());
        calls.push(s.calls);
        billed.push(s.billed_s);
        sell.push(s.sell.to_string());
        buy.push(s.buy.to_string());
    }
    // Cells in key order: two transactions adding to the same cells (a
    // fold and `store copy`) lock them in the same order.
    txn.execute(UPSERT, &[&bill, &customer, &origin, &currency, &category, &bucket, &calls, &billed, &sell, &buy])?;
    // Only a difference without calls (a re-rating) can leave a cell at zero.
    if cells.values().any(|s| s.calls <= 0) {
        txn.execute(
            "DELETE FROM usage u USING unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               AS v(m, c, o, cur, cat, b)
             WHERE (u.bill_month, u.customer, u.origin, u.currency, u.category, u.bucket) = (v.m, v.c, v.o, v.cur, v.cat, v.b)
               AND u.calls = 0 AND u.billed_s = 0 AND u.sell = 0 AND u.buy = 0",
            &[&bill, &customer, &origin, &currency, &category, &bucket],
        )?;
    }
    Ok(())
}

/// A pending row's cell and sums.
fn pending_cell(row: PendingRow<String>) -> Option<(UsageKey, Sums)> {
    let (bill, customer, origin, currency, category, bucket, calls, billed_s, sell, buy) = row;
    let key = UsageKey {
        bill_month: Month::parse(&bill)?,
        customer,
        origin: Month::parse(&origin)?,
        currency,
        category: Category::parse(&category)?,
        bucket: Bucket::parse(&bucket)?,
    };
    Some((key, Sums { calls, billed_s, sell: sell.parse().ok()?, buy: buy.parse().ok()? }))
}

fn write_late(txn: &mut impl GenericClient, file: &[u8], routes: &str) -> Result<(), PgError> {
    txn.execute(
        "INSERT INTO late_files (key, routes) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET routes = excluded.routes",
        &[&file, &routes],
    )?;
    Ok(())
}

/// Every file rated late, with (origin, bill month) pairs.
pub(super) fn late_files(c: &mut impl GenericClient) -> Result<Vec<(ContentKey, LateRoutes)>, PgError> {
    let mut out = Vec::new();
    for row in c.query("SELECT key, routes FROM late_files", &[])? {
        let bytes: &[u8] = row.get(0);
        let mut key = [0u8; 16];
        if bytes.len() == 16 {
            key.copy_from_slice(bytes);
        }
        let text: &str = row.get(1);
        let pairs = crate::billing::usage::parse_routes(text).ok_or(PgError::Decode("late route"))?;
        out.push((ContentKey(key), pairs));
    }
    Ok(out)
}

/// The usage billed in `month`, sorted by key: the pending usage folded
/// first, in the same transaction, so every file committed before is in.
pub(super) fn read(c: &mut Client, month: Month) -> Result<Vec<(UsageKey, Sums)>, PgError> {
    let mut txn = c.transaction()?;
    lock_folding(&mut txn, true)?;
    fold_pending(&mut txn)?;
    let usage = select(&mut txn, month)?;
    txn.commit()?;
    Ok(usage)
}

/// The rows of `usage` billed in `month`, sorted by key.
fn select(c: &mut impl GenericClient, month: Month) -> Result<Vec<(UsageKey, Sums)>, PgError> {
    let rows = c.query(
        "SELECT customer, origin, currency, category, bucket, calls, billed_s, sell::text, buy::text
         FROM usage WHERE bill_month = $1",
        &[&month.to_string()],
    )?;
    let bad = || PgError::Decode("usage row");
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let key = UsageKey {
            bill_month: month,
            customer: r.get(0),
            origin: Month::parse(r.get(1)).ok_or_else(bad)?,
            currency: r.get(2),
            category: Category::parse(r.get(3)).ok_or_else(bad)?,
            bucket: Bucket::parse(r.get(4)).ok_or_else(bad)?,
        };
        let sums = Sums {
            calls: r.get(5),
            billed_s: r.get(6),
            sell: r.get::<_, &str>(7).parse::<Decimal>().map_err(|_| bad())?,
            buy: r.get::<_, &str>(8).parse::<Decimal>().map_err(|_| bad())?,
        };
        out.push((key, sums));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A closed month's record, if it is closed.
pub(super) fn closed(c: &mut impl GenericClient, month: Month) -> Result<Option<ClosedMonth>, PgError> {
    let row = c.query_opt(
        "SELECT first_invoice, invoices, closed_at, bill FROM closed_months WHERE month = $1",
        &[&month.to_string()],
    )?;
    Ok(row.map(|r| ClosedMonth {
        month,
        first_invoice: r.get::<_, i64>(0) as u64,
        invoices: r.get::<_, i64>(1) as u64,
        closed_at: r.get(2),
        bill: r.get(3),
    }))
}

/// Closes `month` (see the module): the outer result is the store's, the
/// inner one the bill's.
pub(super) fn close(
    c: &mut Client,
    month: Month,
    bill: &mut BillMaker<'_>,
) -> Result<Result<Close, StateError>, PgError> {
    let mut txn = c.transaction()?;
    txn.batch_execute("LOCK TABLE closed_months IN SHARE ROW EXCLUSIVE MODE")?;
    if let Some(before) = closed(&mut txn, month)? {
        return Ok(Ok(Close::AlreadyClosed(before)));
    }
    // Every file committed before the lock is pending or in `usage`.
    lock_folding(&mut txn, true)?;
    fold_pending(&mut txn)?;
    let usage = select(&mut txn, month)?;
    let next = txn
        .query_opt("SELECT value FROM billing_meta WHERE name = 'next_invoice' FOR UPDATE", &[])?
        .map_or(1, |r| r.get::<_, i64>(0));
    let (count, frozen) = match bill(&usage, next as u64) {
        Ok(made) => made,
        Err(e) => return Ok(Err(e)),
    };
    let now = jiff::Timestamp::now().as_second();
    txn.execute(
        "INSERT INTO billing_meta (name, value) VALUES ('next_invoice', $1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[&(next + count as i64)],
    )?;
    txn.execute(
        "INSERT INTO closed_months (month, first_invoice, invoices, closed_at, bill) VALUES ($1, $2, $3, $4, $5)",
        &[&month.to_string(), &next, &(count as i64), &now, &frozen],
    )?;
    txn.commit()?;
    Ok(Ok(Close::Closed(ClosedMonth {
        month,
        first_invoice: next as u64,
        invoices: count,
        closed_at: now,
        bill: frozen,
    })))
}

/// Writes usage rows, closed months and the invoice sequence as they are,
/// for `store copy`.
pub(super) fn import(
    txn: &mut impl GenericClient,
    usage: &[(UsageKey, Sums)],
    closed: &[ClosedMonth],
    late: &[(ContentKey, LateRoutes)],
    next_invoice: Option<u64>,
) -> Result<(), PgError> {
    for (key, routes) in late {
        write_late(txn, &key.0, &crate::billing::usage::format_routes(routes))?;
    }
    for (k, s) in usage {
        txn.execute(
            "INSERT INTO usage (bill_month, customer, origin, currency, category, bucket, calls, billed_s, sell, buy)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::numeric, $10::text::numeric)",
            &[
                &k.bill_month.to_string(),
                &k.customer,
                &k.origin.to_string(),
                &k.currency,
                &k.category.code(),
                &k.bucket.as_str(),
                &s.calls,
                &s.billed_s,
                &s.sell.to_string(),
                &s.buy.to_string(),
            ],
        )?;
    }
    for m in closed {
        txn.execute(
            "INSERT INTO closed_months (month, first_invoice, invoices, closed_at, bill) VALUES ($1, $2, $3, $4, $5)",
            &[&m.month.to_string(), &(m.first_invoice as i64), &(m.invoices as i64), &m.closed_at, &m.bill],
        )?;
    }
    if let Some(next) = next_invoice {
        txn.execute(
            "INSERT INTO billing_meta (name, value) VALUES ('next_invoice', $1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&(next as i64)],
        )?;
    }
    Ok(())
}
