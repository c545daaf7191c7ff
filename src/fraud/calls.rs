//! What the rating keeps of each rated call for the rules: a 32-byte
//! record pushed into the chunk's own log (no allocation per call once the
//! log has grown; logs are reused with the chunk's buffers), merged in
//! input order per file. The rules need every call's start (windows), its
//! sell (cost, night spend), its destination country (countries, night)
//! and, for answered calls, the high-risk entry its number hits.

use crate::formats::Call;
use crate::numbers::Number;
use crate::rating::Priced;
use crate::tariff::Tariff;

use super::rules::FraudRules;

/// [`RatedCall::high_risk`] of a call that is not an answered call to a
/// high-risk number.
pub const NO_HIGH_RISK: u16 = u16::MAX;

/// One rated call, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatedCall {
    /// Start, unix seconds (as written: not moved for a future start).
    pub start: i64,
    /// Sell, in units of `10^-price_decimals` of the customer's currency.
    pub sell: i64,
    /// Index of its row in the file's rated output (0 = first data row):
    /// orders calls of one start second and finds the call's id.
    pub row: u64,
    /// Customer index in the tariff.
    pub customer: u32,
    /// Entry of the high-risk lists its number hits when answered, or
    /// [`NO_HIGH_RISK`].
    pub high_risk: u16,
    /// Destination country (`--` for an internal call).
    pub country: [u8; 2],
}

/// The rated calls of a chunk or a file, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallLog {
    /// The calls; `row` counts rated rows from the chunk's (or file's) first.
    pub calls: Vec<RatedCall>,
}

impl CallLog {
    /// Notes one rated call whose row is the `row`-th rated row of the chunk.
    #[inline]
    pub fn note(&mut self, rules: &FraudRules, tariff: &Tariff, call: &Call<'_>, priced: &Priced, row: u64) {
        let high_risk = match call.number {
            Number::E164(n) if call.billsec > 0 => rules.high_risk(priced.customer, n.as_bytes()),
            _ => super::NO_HIGH_RISK,
        };
        self.calls.push(RatedCall {
            start: call.start.epoch_seconds(),
            sell: priced.sell as i64,
            row,
            customer: priced.customer,
            high_risk,
            country: priced.destination.map_or(*b"--", |d| tariff.hot(d).country),
        });
    }

    /// Appends the calls of the next chunk, whose rows follow the
    /// `rows_before` rated rows already written.
    pub fn append(&mut self, next: &CallLog, rows_before: u64) {
        self.calls.extend(next.calls.iter().map(|c| RatedCall { row: c.row + rows_before, ..*c }));
    }

    /// Empties the log, keeping its memory.
    pub fn clear(&mut self) {
        self.calls.clear();
    }

    /// The calls sorted by (customer, start, row) into `out`: the
    /// processing order of each customer's calls (by start, then by the
    /// input's line order). A counting sort by customer keeps rows in order
    /// within a customer, so a group is sorted only when its starts are out
    /// of order.
    pub fn group_into(&self, customers: usize, out: &mut Vec<RatedCall>) {
        let mut counts = vec![0usize; customers + 1];
        for c in &self.calls {
            counts[(c.customer as usize).min(customers)] += 1;
        }
        let mut offset = 0;
        for n in counts.iter_mut() {
            let here = *n;
            *n = offset;
            offset += here;
        }
        out.clear();
        out.extend_from_slice(&self.calls);
        for c in &self.calls {
            let slot = &mut counts[(c.customer as usize).min(customers)];
            out[*slot] = *c;
            *slot += 1;
        }
        for group in out.chunk_by_mut(|a, b| a.customer == b.customer) {
            if !group.is_sorted_by_key(|c| (c.start, c.row)) {
                group.sort_unstable_by_key(|c| (c.start, c.row));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(customer: u32, start: i64, row: u64) -> RatedCall {
        RatedCall { start, sell: 0, row, customer, high_risk: NO_HIGH_RISK, country: *b"NL" }
    }

    #[test]
    fn chunks_append_with_their_row_offsets_and_group_in_processing_order() {
        let mut file = CallLog::default();
        let first = CallLog { calls: vec![call(1, 50, 0), call(0, 10, 1)] };
        let second = CallLog { calls: vec![call(1, 40, 0), call(1, 50, 1), call(0, 10, 2)] };
        file.append(&first, 0);
        file.append(&second, 2);
        let mut grouped = Vec::new();
        file.group_into(2, &mut grouped);
        let order: Vec<(u32, i64, u64)> = grouped.iter().map(|c| (c.customer, c.start, c.row)).collect();
        assert_eq!(order, [(0, 10, 1), (0, 10, 4), (1, 40, 2), (1, 50, 0), (1, 50, 3)]);
    }
}
