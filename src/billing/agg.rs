//! Usage aggregation on the hot path: a file's (or chunk's) calls summed per
//! customer, month, invoice category and currency, without allocation per
//! call once a cell exists.
//!
//! A CDR file's calls come in runs of one customer and month, but their
//! categories change from call to call (every foreign country is a line of
//! its own), so cells are found by one hash of a packed integer key, with
//! the last cell remembered for runs of equal calls.

use hashbrown::HashMap;
use rust_decimal::Decimal;

use super::usage::{Category, Month, Sums, UsageDelta};

/// Sums of one cell, in integer units of the price decimals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acc {
    /// Rated calls.
    pub calls: u64,
    /// Sell-side billed seconds.
    pub billed_s: u64,
    /// Sum of sell.
    pub sell: i128,
    /// Sum of buy.
    pub buy: i128,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.calls += o.calls;
        self.billed_s += o.billed_s;
        self.sell += o.sell;
        self.buy += o.buy;
    }
}

/// One cell's key, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// Customer index (`Tariff::customers`).
    pub customer: u32,
    /// Month of the calls' start in the customer's zone.
    pub month: Month,
    /// [`Category::dense`].
    pub category: u16,
    /// Currency index (`Tariff::currencies`).
    pub currency: u8,
}

fn pack(customer: u32, month: i32, category: u16, currency: u8) -> u128 {
    (u128::from(customer) << 64) | (u128::from(month as u32) << 32) | (u128::from(category) << 8) | u128::from(currency)
}

fn unpack(key: u128) -> Cell {
    Cell {
        customer: (key >> 64) as u32,
        month: Month((key >> 32) as u32 as i32),
        category: (key >> 8) as u16,
        currency: key as u8,
    }
}

/// Usage sums of a file or chunk.
#[derive(Debug, Clone, Default)]
pub struct UsageAgg {
    /// Packed key to its index in `cells`.
    index: HashMap<u128, u32>,
    /// The cells in first-seen order.
    cells: Vec<(u128, Acc)>,
    /// The last cell added to: (key, index).
    last: Option<(u128, u32)>,
    /// The last day looked up and its month.
    last_day: Option<(i64, i32)>,
}

impl PartialEq for UsageAgg {
    fn eq(&self, o: &Self) -> bool {
        self.sorted() == o.sorted()
    }
}

impl Eq for UsageAgg {}

impl UsageAgg {
    /// Adds one rated call of `customer` that started on civil `day` (the
    /// customer's zone).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn add(&mut self, customer: u32, day: i64, category: u16, currency: u8, billed_s: u64, buy: u64, sell: u64) {
        let month = match self.last_day {
            Some((d, m)) if d == day => m,
            _ => {
                let m = Month::of_day(day).0;
                self.last_day = Some((day, m));
                m
            }
        };
        let key = pack(customer, month, category, currency);
        let at = match self.last {
            Some((k, at)) if k == key => at,
            _ => {
                let next = self.cells.len() as u32;
                let at = *self.index.entry(key).or_insert(next);
                if at == next {
                    self.cells.push((key, Acc::default()));
                }
                self.last = Some((key, at));
                at
            }
        };
        let acc = &mut self.cells[at as usize].1;
        acc.calls += 1;
        acc.billed_s += billed_s;
        acc.sell += i128::from(sell);
        acc.buy += i128::from(buy);
    }

    /// Adds another aggregate.
    pub fn merge(&mut self, o: &UsageAgg) {
        for (key, acc) in &o.cells {
            let next = self.cells.len() as u32;
            let at = *self.index.entry(*key).or_insert(next);
            if at == next {
                self.cells.push((*key, Acc::default()));
            }
            self.cells[at as usize].1.add(acc);
        }
    }

    /// Empties it, keeping the allocations.
    pub fn clear(&mut self) {
        self.index.clear();
        self.cells.clear();
        self.last = None;
        self.last_day = None;
    }

    /// Whether no call was added.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells, sorted by key.
    pub fn sorted(&self) -> Vec<(Cell, Acc)> {
        let mut out: Vec<(Cell, Acc)> = self.cells.iter().map(|(k, a)| (unpack(*k), *a)).collect();
        out.sort_unstable_by_key(|c| c.0);
        out
    }

    /// The cells as the store takes them: ids and currency codes looked up,
    /// money as decimals of `decimals` places.
    pub fn deltas<'t>(
        &self,
        customer_id: impl Fn(u32) -> &'t str,
        currency_code: impl Fn(u8) -> &'t str,
        decimals: u32,
    ) -> Vec<UsageDelta> {
        self.sorted()
            .into_iter()
            .map(|(cell, acc)| UsageDelta {
                customer: customer_id(cell.customer).to_string(),
                origin: cell.month,
                currency: currency_code(cell.currency).to_string(),
                category: Category::from_dense(cell.category),
                sums: Sums {
                    calls: acc.calls as i64,
                    billed_s: acc.billed_s as i64,
                    sell: Decimal::from_i128_with_scale(acc.sell, decimals),
                    buy: Decimal::from_i128_with_scale(acc.buy, decimals),
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_cell_in_any_order_and_split() {
        let day = Month::parse("2026-11").unwrap().first_day();
        let calls = [
            (0u32, day, 3u16, 0u8, 60u64, 10u64, 15u64),
            (0, day + 30, 3, 0, 30, 5, 9),
            (1, day, 0, 0, 1, 1, 1),
            (0, day, 4, 0, 6, 2, 3),
            (0, day + 2, 3, 0, 6, 2, 3),
        ];
        let mut whole = UsageAgg::default();
        for c in calls {
            whole.add(c.0, c.1, c.2, c.3, c.4, c.5, c.6);
        }
        let (mut a, mut b) = (UsageAgg::default(), UsageAgg::default());
        for (i, c) in calls.iter().enumerate() {
            let part = if i % 2 == 0 { &mut a } else { &mut b };
            part.add(c.0, c.1, c.2, c.3, c.4, c.5, c.6);
        }
        b.merge(&a);
        assert_eq!(whole, b);
        let cells = whole.sorted();
        assert_eq!(cells.len(), 4, "{cells:?}");
        let nov = &cells[0];
        assert_eq!((nov.0.month.to_string(), nov.1.calls, nov.1.sell), ("2026-11".into(), 2, 18));
        let deltas = whole.deltas(|c| ["C1", "C2"][c as usize], |_| "EUR", 4);
        assert_eq!(deltas[2].origin.to_string(), "2026-12");
        assert_eq!(deltas[0].sums.sell.to_string(), "0.0018");
    }
}
