//! What a file's rating adds up (core: pipeline, telemetry, the ledger and
//! the commands all read it) ([`Totals`], [`Tally`]) and what a row may
//! be before it is rejected or flagged ([`RowLimits`], [`Flag`]).

use crate::formats::{Reject, Skip};
use crate::tariff::{Currencies, MAX_CURRENCIES};

/// Counts and money of one file or chunk. Money in units of `10^-decimals`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Input rows (records; blank lines are not rows).
    pub rows: u64,
    /// Rows in the rated output.
    pub rated: u64,
    /// Rows in the unrated output.
    pub unrated: u64,
    /// Rows in the rejected output.
    pub rejected: u64,
    /// Rows the format marks as not billable (counted, not written).
    pub skipped: u64,
    /// Sum of buy per currency: slot `i` is in currency `currencies.code(i)`.
    pub buy: [i128; MAX_CURRENCIES],
    /// Sum of sell per currency, as `buy`.
    pub sell: [i128; MAX_CURRENCIES],
    /// The currencies of the money slots: the tariff's
    /// ([`crate::tariff::Tariff::currencies`]) in a file's totals; empty in
    /// a chunk's, whose slots are the tariff's indexes.
    pub currencies: Currencies,
    /// Rejected rows per [`Reject`] reason.
    pub by_reject: [u64; Reject::ALL.len()],
    /// Unrated rows: unknown customer, no tariff.
    pub by_unrated: [u64; 2],
    /// Skipped rows per [`Skip`] reason.
    pub by_skip: [u64; Skip::ALL.len()],
    /// Rated rows with an implausible start time, per [`Flag`] (also in `rated`).
    pub by_flag: [u64; Flag::ALL.len()],
}

impl Totals {
    /// Adds another file's or chunk's totals.
    pub fn add(&mut self, o: &Totals) {
        self.rows += o.rows;
        self.rated += o.rated;
        self.unrated += o.unrated;
        self.rejected += o.rejected;
        self.skipped += o.skipped;
        self.add_money(o);
        for (a, b) in self.by_reject.iter_mut().zip(o.by_reject) {
            *a += b;
        }
        for (a, b) in self.by_unrated.iter_mut().zip(o.by_unrated) {
            *a += b;
        }
        for (a, b) in self.by_skip.iter_mut().zip(o.by_skip) {
            *a += b;
        }
        for (a, b) in self.by_flag.iter_mut().zip(o.by_flag) {
            *a += b;
        }
    }

    /// Adds `o`'s money: slot by slot when both are numbered alike (a
    /// chunk into its file), else currency by currency (files rated with
    /// different tables).
    fn add_money(&mut self, o: &Totals) {
        if self.currencies.is_empty() && self.buy == [0; MAX_CURRENCIES] && self.sell == [0; MAX_CURRENCIES] {
            self.currencies = o.currencies;
        }
        if o.currencies.is_empty() || o.currencies == self.currencies {
            for i in 0..MAX_CURRENCIES {
                self.buy[i] += o.buy[i];
                self.sell[i] += o.sell[i];
            }
            return;
        }
        for (i, code) in o.currencies.iter() {
            let at = match self.currencies.index_of(code.as_bytes()) {
                Some(at) => at,
                None => {
                    let code = code.as_bytes().try_into().expect("currency codes are three bytes");
                    // Totals are added across the files of one command,
                    // rated with one set of tables: never more currencies.
                    self.currencies.push(code).expect("more than MAX_CURRENCIES currencies in one sum of totals")
                }
            };
            self.buy[at] += o.buy[i];
            self.sell[at] += o.sell[i];
        }
    }

    /// (currency, buy, sell) of every money slot in use.
    pub fn money(&self) -> impl Iterator<Item = (&str, i128, i128)> + '_ {
        self.currencies.iter().map(|(i, code)| (code, self.buy[i], self.sell[i]))
    }

    /// Buy and sell as the ledger records them: with one currency the bare
    /// amounts (`12.3400`); with several, `AMOUNT CODE` per currency joined
    /// by `, ` (`12.3400 EUR, 1.2000 USD`).
    pub fn money_text(&self, decimals: u32) -> (String, String) {
        let one = |v: i128| crate::money::format_units(v, decimals);
        if self.currencies.len() <= 1 {
            return (one(self.buy[0]), one(self.sell[0]));
        }
        let each = |f: fn(&(&str, i128, i128)) -> i128| {
            self.money().map(|m| format!("{} {}", one(f(&m)), m.0)).collect::<Vec<_>>().join(", ")
        };
        (each(|m| m.1), each(|m| m.2))
    }

    /// Flags counted over the rated rows (a row may carry two: a capped
    /// call with an implausible start).
    pub fn flagged(&self) -> u64 {
        self.by_flag.iter().sum()
    }
}

/// Why a rated row is worth a look (suspicious, or priced by a limit): it is billed, counted per file
/// (summary, ledger, `records_flagged_total{flag}`) and logged per file,
/// so that the operator fixes the switch (usually its clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// Starts more than `[limits] flag_future_start_seconds` after now.
    /// For IDS such a call counts on the day it is rated: its own day has
    /// not come, and a switch with a broken clock must not fill the state
    /// with years of future days.
    StartInFuture,
    /// Starts more than `[limits] flag_past_start_days` before now.
    StartInPast,
    /// Its sell was lowered to the plan's `max_charge` (SPEC §3.7).
    Capped,
}

impl Flag {
    /// Every flag.
    pub const ALL: [Flag; 3] = [Flag::StartInFuture, Flag::StartInPast, Flag::Capped];

    /// Flag as counted and labelled.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::StartInFuture => "start_in_future",
            Flag::StartInPast => "start_in_past",
            Flag::Capped => "capped",
        }
    }
}

/// What a row may be before it is rejected or flagged (`[limits]`, with
/// "now" fixed for the whole file so that chunking cannot change a result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimits {
    /// Longest record in bytes (`line_too_long`).
    pub max_line_bytes: usize,
    /// Most fields a record may have (`too_many_fields`).
    pub max_fields: usize,
    /// Longest answered duration in seconds (`billsec_too_long`).
    pub max_billsec: u32,
    /// Unix seconds the file is rated at: IDS day of a future call.
    pub now: i64,
    /// Starts before this (unix seconds) are [`Flag::StartInPast`].
    pub earliest_start: i64,
    /// Starts after this (unix seconds) are [`Flag::StartInFuture`].
    pub latest_start: i64,
}

impl RowLimits {
    /// Limits that only bound the line length (tests, benches, fuzzing).
    pub fn lines(max_line_bytes: usize) -> RowLimits {
        RowLimits {
            max_line_bytes,
            max_fields: usize::MAX,
            max_billsec: u32::MAX,
            now: 0,
            earliest_start: i64::MIN,
            latest_start: i64::MAX,
        }
    }

    /// The flag of a start time, if any.
    #[inline]
    pub fn flag(&self, start: i64) -> Option<Flag> {
        if start > self.latest_start {
            Some(Flag::StartInFuture)
        } else if start < self.earliest_start {
            Some(Flag::StartInPast)
        } else {
            None
        }
    }

    /// The instant a call that starts at `start` counts at for IDS: `now`
    /// for a start in the future ([`Flag::StartInFuture`]), else its start
    /// ([`crate::ids::counted_start`], which the tracing of the calls that
    /// crossed a level uses too).
    #[inline]
    pub fn ids_start(&self, start: i64) -> i64 {
        crate::ids::counted_start(start, self.now, self.latest_start)
    }
}

/// Everything a file's rating adds up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Counts and money.
    pub totals: Totals,
    /// Sell per customer and customer day (customers with an IDS range only).
    pub spend: crate::ids::SpendAgg,
    /// Rated calls, compact: every one for the fraud rules (when they are
    /// on), else those of customers with an IDS range (with IDS on), to
    /// trace the calls that cross a level.
    pub fraud: crate::fraud::CallLog,
    /// Calls per customer month and invoice line (when committed to a store).
    pub usage: crate::billing::UsageAgg,
    /// Earliest and latest call start (epoch seconds) of the rows that
    /// parsed as calls, rated or not.
    pub span: Option<(i64, i64)>,
}

impl Tally {
    /// An empty tally whose money slots are `currencies` (a tariff's).
    pub fn with_currencies(currencies: Currencies) -> Tally {
        let mut t = Tally::default();
        t.totals.currencies = currencies;
        t
    }

    /// [`Tally::add`] of a tally no longer needed: its calls are moved, not
    /// copied, when these have none yet (a file's first part).
    pub fn absorb(&mut self, o: Tally) {
        self.totals.add(&o.totals);
        self.spend.merge(&o.spend);
        self.usage.merge(&o.usage);
        self.fraud.append_owned(o.fraud);
        self.widen(o.span);
    }

    /// Widens [`Tally::span`] to cover `span`.
    pub fn widen(&mut self, span: Option<(i64, i64)>) {
        self.span = match (self.span, span) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        };
    }

    /// Adds the tally of the next chunk (or part of the file), in input order.
    pub fn add(&mut self, o: &Tally) {
        // Its rated rows follow the ones so far.
        self.fraud.append(&o.fraud);
        self.totals.add(&o.totals);
        self.spend.merge(&o.spend);
        self.usage.merge(&o.usage);
        self.widen(o.span);
    }
}
