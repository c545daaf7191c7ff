//! Billing totals in the embedded store: each customer's usage per bill
//! month, written in the transaction of the file that adds it, the closed
//! months with their frozen bills, and the invoice number sequence.
//!
//! Where a file's usage lands is decided here, at commit: in the month the
//! calls started while it is open; once that month is closed, in the first
//! open month after it, as a late or re-rating line. Closing a month and
//! committing a file are both write transactions, which redb serialises, so
//! a file's usage is either in the closed bill or in a later month, never
//! both or neither.

// redb's own (large) error type is kept, as in `redb_ledger`.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use rust_decimal::Decimal;

use super::{ClosedMonth, UsageCommit};
use crate::billing::{Bucket, Category, Month, Sums, UsageKey};

/// `BILL_MONTH␟CUSTOMER␟ORIGIN␟CURRENCY␟CATEGORY␟BUCKET` -> `calls,billed_s,sell,buy`.
pub(super) const USAGE: TableDefinition<&str, &str> = TableDefinition::new("usage");
/// Closed month (`YYYY-MM`) -> `first_invoice,invoices,closed_at`.
pub(super) const CLOSED: TableDefinition<&str, &str> = TableDefinition::new("closed_months");
/// Closed month -> its frozen bill (as `bill` serialised it).
pub(super) const FROZEN: TableDefinition<&str, &[u8]> = TableDefinition::new("frozen_bills");
/// Content key of a file rated after a month of its calls closed -> where
/// those calls were billed, `ORIGIN=BILL_MONTH` joined by `;` (which rows
/// `bill` itemises in which month).
pub(super) const LATE: TableDefinition<&[u8], &str> = TableDefinition::new("late_files");
/// `next_invoice` -> the next invoice sequence number.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("billing_meta");

const SEP: char = '\u{1f}';

fn usage_key(k: &UsageKey) -> String {
    format!(
        "{}{SEP}{}{SEP}{}{SEP}{}{SEP}{}{SEP}{}",
        k.bill_month,
        k.customer,
        k.origin,
        k.currency,
        k.category.code(),
        k.bucket.as_str()
    )
}

fn parse_usage_key(s: &str) -> Option<UsageKey> {
    let mut it = s.split(SEP);
    let key = UsageKey {
        bill_month: Month::parse(it.next()?)?,
        customer: it.next()?.to_string(),
        origin: Month::parse(it.next()?)?,
        currency: it.next()?.to_string(),
        category: Category::parse(it.next()?)?,
        bucket: Bucket::parse(it.next()?)?,
    };
    it.next().is_none().then_some(key)
}

fn sums_text(s: &Sums) -> String {
    format!("{},{},{},{}", s.calls, s.billed_s, s.sell, s.buy)
}

fn parse_sums(s: &str) -> Option<Sums> {
    let mut it = s.split(',');
    let sums = Sums {
        calls: it.next()?.parse().ok()?,
        billed_s: it.next()?.parse().ok()?,
        sell: it.next()?.parse::<Decimal>().ok()?,
        buy: it.next()?.parse::<Decimal>().ok()?,
    };
    it.next().is_none().then_some(sums)
}

fn damaged(what: &str, value: &str) -> redb::Error {
    redb::Error::Corrupted(format!("a billing record does not decode ({what}: {value:?})"))
}

/// Every usage row of every bill month (for `store copy`).
pub(super) fn read_all(db: &redb::Database) -> Result<Vec<(UsageKey, Sums)>, redb::Error> {
    let txn = db.begin_read()?;
    let mut out = Vec::new();
    for item in txn.open_table(USAGE)?.iter()? {
        let (k, v) = item?;
        let key = parse_usage_key(k.value()).ok_or_else(|| damaged("key", k.value()))?;
        out.push((key, parse_sums(v.value()).ok_or_else(|| damaged("sums", v.value()))?));
    }
    Ok(out)
}

/// The next invoice number, when any month was closed.
pub(super) fn next_invoice(db: &redb::Database) -> Result<Option<u64>, redb::Error> {
    Ok(db.begin_read()?.open_table(META)?.get("next_invoice")?.map(|v| v.value()))
}

/// The closed months, read inside a transaction.
fn closed_set(table: &impl ReadableTable<&'static str, &'static str>) -> Result<BTreeSet<Month>, redb::Error> {
    let mut closed = BTreeSet::new();
    for item in table.iter()? {
        let (k, _) = item?;
        closed.insert(Month::parse(k.value()).ok_or_else(|| damaged("month", k.value()))?);
    }
    Ok(closed)
}

/// Adds a file's usage to the months it is billed in, inside the file's
/// transaction.
pub(super) fn write(txn: &WriteTransaction, file: &[u8], usage: &UsageCommit<'_>) -> Result<(), redb::Error> {
    if usage.rows.is_empty() {
        return Ok(());
    }
    let closed = closed_set(&txn.open_table(CLOSED)?)?;
    let mut table = txn.open_table(USAGE)?;
    let mut routes = BTreeSet::new();
    for row in usage.rows {
        let (bill_month, bucket) = crate::billing::usage::route(row.origin, &closed, usage.late);
        if bill_month != row.origin {
            routes.insert((row.origin, bill_month));
        }
        let key = usage_key(&UsageKey {
            customer: row.customer.clone(),
            bill_month,
            origin: row.origin,
            currency: row.currency.clone(),
            category: row.category,
            bucket,
        });
        let mut sums = match table.get(key.as_str())? {
            Some(v) => parse_sums(v.value()).ok_or_else(|| damaged("sums", v.value()))?,
            None => Sums::default(),
        };
        sums.add(&row.sums);
        if sums.is_zero() {
            table.remove(key.as_str())?;
        } else {
            table.insert(key.as_str(), sums_text(&sums).as_str())?;
        }
    }
    if usage.late == Bucket::LateCalls && !routes.is_empty() {
        txn.open_table(LATE)?.insert(file, crate::billing::usage::format_routes(&routes).as_str())?;
    }
    Ok(())
}

/// Every file rated late: its content key and (origin, bill month) pairs.
pub(super) fn late_routes(
    table: &impl ReadableTable<&'static [u8], &'static str>,
) -> Result<Vec<([u8; 16], super::LateRoutes)>, redb::Error> {
    let mut out = Vec::new();
    for item in table.iter()? {
        let (k, v) = item?;
        let mut key = [0u8; 16];
        if k.value().len() == 16 {
            key.copy_from_slice(k.value());
        }
        let pairs = crate::billing::usage::parse_routes(v.value()).ok_or_else(|| damaged("late route", v.value()))?;
        out.push((key, pairs));
    }
    Ok(out)
}

/// The usage billed in `month`, by key.
pub(super) fn read(
    table: &impl ReadableTable<&'static str, &'static str>,
    month: Month,
) -> Result<Vec<(UsageKey, Sums)>, redb::Error> {
    let from = format!("{month}{SEP}");
    let to = format!("{month}{}", char::from(SEP as u8 + 1));
    let mut out = Vec::new();
    for item in table.range(from.as_str()..to.as_str())? {
        let (k, v) = item?;
        let key = parse_usage_key(k.value()).ok_or_else(|| damaged("key", k.value()))?;
        let sums = parse_sums(v.value()).ok_or_else(|| damaged("sums", v.value()))?;
        out.push((key, sums));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A closed month's record, if it is closed.
pub(super) fn closed(
    closed: &impl ReadableTable<&'static str, &'static str>,
    frozen: &impl ReadableTable<&'static str, &'static [u8]>,
    month: Month,
) -> Result<Option<ClosedMonth>, redb::Error> {
    let key = month.to_string();
    let Some(v) = closed.get(key.as_str())? else { return Ok(None) };
    let text = v.value().to_string();
    let mut it = text.split(',').map(|x| x.parse::<i64>().ok());
    let (Some(Some(first)), Some(Some(count)), Some(Some(at)), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(damaged("closed month", &text));
    };
    let bill = frozen.get(key.as_str())?.map(|v| v.value().to_vec()).unwrap_or_default();
    Ok(Some(ClosedMonth { month, first_invoice: first as u64, invoices: count as u64, closed_at: at, bill }))
}

/// Every closed month.
pub(super) fn closed_months(table: &impl ReadableTable<&'static str, &'static str>) -> Result<Vec<Month>, redb::Error> {
    Ok(closed_set(table)?.into_iter().collect())
}

/// Closes `month` in one transaction: refuses when it is closed already,
/// else hands its usage and the next invoice number to `bill`, stores what
/// it returns and advances the sequence by the invoices it numbered.
pub(super) fn close(
    txn: &WriteTransaction,
    month: Month,
    now: i64,
    bill: &mut super::BillMaker<'_>,
) -> Result<Result<ClosedMonth, ClosedMonth>, CloseFailure> {
    {
        let table = txn.open_table(CLOSED)?;
        let frozen = txn.open_table(FROZEN)?;
        if let Some(done) = closed(&table, &frozen, month)? {
            return Ok(Err(done));
        }
    }
    let usage = read(&txn.open_table(USAGE)?, month)?;
    let mut meta = txn.open_table(META)?;
    let next = meta.get("next_invoice")?.map_or(1, |v| v.value());
    let (count, frozen) = bill(&usage, next).map_err(CloseFailure::Bill)?;
    meta.insert("next_invoice", next + count)?;
    let key = month.to_string();
    txn.open_table(CLOSED)?.insert(key.as_str(), format!("{next},{count},{now}").as_str())?;
    txn.open_table(FROZEN)?.insert(key.as_str(), frozen.as_slice())?;
    Ok(Ok(ClosedMonth { month, first_invoice: next, invoices: count, closed_at: now, bill: frozen }))
}

/// Why closing failed.
pub(super) enum CloseFailure {
    /// The store.
    Store(redb::Error),
    /// The bill could not be made.
    Bill(super::StateError),
}

impl<E: Into<redb::Error>> From<E> for CloseFailure {
    fn from(e: E) -> Self {
        CloseFailure::Store(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_sums_read_back() {
        let key = UsageKey {
            customer: "C\u{1}0001".into(),
            bill_month: Month::parse("2026-12").unwrap(),
            origin: Month::parse("2026-10").unwrap(),
            currency: "EUR".into(),
            category: Category::Foreign(*b"GB"),
            bucket: Bucket::LateCalls,
        };
        assert_eq!(parse_usage_key(&usage_key(&key)), Some(key));
        let sums = Sums { calls: -3, billed_s: 120, sell: "-1.0050".parse().unwrap(), buy: "0.25".parse().unwrap() };
        assert_eq!(parse_sums(&sums_text(&sums)), Some(sums));
    }

    #[test]
    fn late_usage_goes_to_the_first_open_month_and_numbers_continue() {
        use crate::billing::UsageDelta;
        use crate::state::{Close, ContentKey, Ledger, RedbLedger};
        let dir = tempfile::tempdir().unwrap();
        let ledger = RedbLedger::open(&dir.path().join("ledger.redb")).unwrap();
        let nov = Month::parse("2026-11").unwrap();
        let sums = Sums { calls: 2, billed_s: 90, sell: "1.5000".parse().unwrap(), buy: "1.0000".parse().unwrap() };
        let delta = UsageDelta {
            customer: "C1".into(),
            origin: nov,
            currency: "EUR".into(),
            category: Category::DomesticMobile,
            sums,
        };
        let commit = |n: u8, late: Bucket| {
            let key = ContentKey([n; 16]);
            let record = ledger.begin(&key, "f", "f", &format!("f{n}"), &|_| true).unwrap();
            let rows = [delta.clone()];
            let usage = UsageCommit { rows: &rows, late };
            ledger.finish_with(&key, &record, Vec::new(), Default::default(), usage).unwrap();
        };
        commit(1, Bucket::LateCalls);
        commit(2, Bucket::LateCalls);
        let nov_usage = ledger.usage(nov).unwrap();
        assert_eq!(nov_usage.len(), 1);
        assert_eq!(
            (nov_usage[0].0.bucket, nov_usage[0].1.calls, nov_usage[0].1.sell.to_string()),
            (Bucket::Calls, 4, "3.0000".into())
        );
        let mut seen = Vec::new();
        let mut maker = |usage: &[(UsageKey, Sums)], next: u64| {
            seen.push((usage.len(), next));
            Ok((usage.len() as u64, b"bill".to_vec()))
        };
        let Close::Closed(closed) = ledger.close_month(nov, &mut maker).unwrap() else { panic!("not closed") };
        assert_eq!((closed.first_invoice, closed.invoices, closed.bill.as_slice()), (1, 1, b"bill".as_slice()));
        assert!(matches!(ledger.close_month(nov, &mut maker).unwrap(), Close::AlreadyClosed(_)));
        // A late file for November lands in December.
        commit(3, Bucket::LateCalls);
        assert_eq!(ledger.usage(nov).unwrap(), nov_usage, "a closed month never changes");
        let dec = ledger.usage(nov.next()).unwrap();
        assert_eq!((dec[0].0.bucket, dec[0].0.origin, dec[0].1.calls), (Bucket::LateCalls, nov, 2));
        let Close::Closed(closed) = ledger.close_month(nov.next(), &mut maker).unwrap() else { panic!() };
        assert_eq!(closed.first_invoice, 2, "numbers continue across months");
        // A re-rating difference of November, both closed: January.
        commit(4, Bucket::Rerating);
        let jan = ledger.usage(nov.next().next()).unwrap();
        assert_eq!(jan[0].0.bucket, Bucket::Rerating);
        assert_eq!(ledger.closed_months().unwrap(), vec![nov, nov.next()]);
        assert_eq!(seen, vec![(1, 1), (1, 2)]);
    }
}
