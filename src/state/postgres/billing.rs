//! Billing totals in the shared store, with the semantics of the embedded
//! `usage_store`: a file's usage lands in the month its calls started while
//! that month is open, else in the first open month after it as a late or
//! re-rating line; closing a month freezes its bill and advances the
//! gap-free invoice sequence, in one transaction.
//!
//! A file's usage is written under a `SHARE` lock of `closed_months` (file
//! commits do not wait on each other); a close takes `SHARE ROW EXCLUSIVE`
//! (it waits for the commits in flight and holds new ones back until it is
//! done), so a file's usage is in the closed bill or in a later month.

use std::collections::{BTreeSet, HashSet};

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

/// Adds a file's usage whose keys are distinct (added to the stored rows
/// in the database).
const UPSERT_DISTINCT: &str =
    "INSERT INTO usage (bill_month, customer, origin, currency, category, bucket, calls, billed_s, sell, buy)
     SELECT m, c, o, cur, cat, b, n, s, sl::numeric, bu::numeric
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::bigint[], $8::bigint[], $9::text[], $10::text[]) AS v(m, c, o, cur, cat, b, n, s, sl, bu)
     ON CONFLICT (bill_month, customer, origin, currency, category, bucket) DO UPDATE SET
       calls = usage.calls + excluded.calls, billed_s = usage.billed_s + excluded.billed_s,
       sell = usage.sell + excluded.sell, buy = usage.buy + excluded.buy";

/// [`UPSERT_DISTINCT`] for usage whose keys may repeat: summed first.
const UPSERT_SUMMED: &str =
    "INSERT INTO usage (bill_month, customer, origin, currency, category, bucket, calls, billed_s, sell, buy)
     SELECT m, c, o, cur, cat, b, sum(n), sum(s), sum(sl::numeric), sum(bu::numeric)
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::bigint[], $8::bigint[], $9::text[], $10::text[]) AS v(m, c, o, cur, cat, b, n, s, sl, bu)
     GROUP BY m, c, o, cur, cat, b
     ON CONFLICT (bill_month, customer, origin, currency, category, bucket) DO UPDATE SET
       calls = usage.calls + excluded.calls, billed_s = usage.billed_s + excluded.billed_s,
       sell = usage.sell + excluded.sell, buy = usage.buy + excluded.buy";

/// Adds a file's usage inside its transaction: one statement for every
/// row (summed in the database), and, for a re-rating difference, one to
/// drop the rows that became zero.
pub(super) fn write(txn: &mut impl GenericClient, file: &[u8], usage: &UsageCommit<'_>) -> Result<(), PgError> {
    if usage.rows.is_empty() {
        return Ok(());
    }
    txn.batch_execute("LOCK TABLE closed_months IN SHARE MODE")?;
    let closed = closed_set(txn)?;
    let n = usage.rows.len();
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
    let mut routes = BTreeSet::new();
    for row in usage.rows {
        let (bill_month, b) = crate::billing::usage::route(row.origin, &closed, usage.late);
        if bill_month != row.origin {
            routes.insert((row.origin, bill_month));
        }
        bill.push(bill_month.to_string());
        customer.push(row.customer.as_str());
        origin.push(row.origin.to_string());
        currency.push(row.currency.as_str());
        category.push(row.category.code());
        bucket.push(b.as_str());
        calls.push(row.sums.calls);
        billed.push(row.sums.billed_s);
        sell.push(row.sums.sell.to_string());
        buy.push(row.sums.buy.to_string());
    }
    // A file's cells are distinct (the common case skips the sum: it is a
    // third of the statement); a caller's rows that repeat a key are summed.
    let mut keys = HashSet::with_capacity(n);
    let distinct = usage.rows.iter().all(|r| keys.insert((&r.customer, r.origin, &r.currency, r.category)));
    let insert = if distinct { UPSERT_DISTINCT } else { UPSERT_SUMMED };
    txn.execute(insert, &[&bill, &customer, &origin, &currency, &category, &bucket, &calls, &billed, &sell, &buy])?;
    // Only a delta without calls (a re-rating difference) can leave a row at zero.
    if usage.rows.iter().any(|r| r.sums.calls <= 0) {
        txn.execute(
            "DELETE FROM usage u USING unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               AS v(m, c, o, cur, cat, b)
             WHERE (u.bill_month, u.customer, u.origin, u.currency, u.category, u.bucket) = (v.m, v.c, v.o, v.cur, v.cat, v.b)
               AND u.calls = 0 AND u.billed_s = 0 AND u.sell = 0 AND u.buy = 0",
            &[&bill, &customer, &origin, &currency, &category, &bucket],
        )?;
    }
    if usage.late == Bucket::LateCalls && !routes.is_empty() {
        write_late(txn, file, &crate::billing::usage::format_routes(&routes))?;
    }
    Ok(())
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

/// The usage billed in `month`, sorted by key.
pub(super) fn read(c: &mut impl GenericClient, month: Month) -> Result<Vec<(UsageKey, Sums)>, PgError> {
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
    let usage = read(&mut txn, month)?;
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
