//! What the rating keeps of each rated call for the rules and for IDS: a
//! 32-byte record pushed into the chunk's own log (no allocation per call
//! once the log has grown; logs are reused with the chunk's buffers),
//! merged in input order per file. The rules need every call's start
//! (windows), its sell (cost, night spend), its destination country
//! (countries, night) and, for answered calls, the high-risk entry its
//! number hits. IDS needs the same start, sell, country and row of each call
//! of a customer with a range, to name the call that crossed a level and
//! the spend per country up to it (`ids::Tracer`) without reading
//! the rated output again: with IDS alone (no rules), only those calls are
//! kept, and without their high-risk lookup.

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
    /// Byte offset of its row in the file's rated output, after the header
    /// (0 = the first data row): it orders calls of one start second as
    /// their lines, and finds the call's id for an alert without reading
    /// the output again.
    pub at: u64,
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
    /// The calls; `at` counts from the chunk's (or file's) first rated row.
    pub calls: Vec<RatedCall>,
    /// Bytes of rated rows the chunk (or file) wrote.
    pub rated_bytes: u64,
}

impl CallLog {
    /// Notes one rated call starting at `start` (unix seconds, as written),
    /// whose row starts `at` bytes into the chunk's rated rows; its
    /// high-risk entry is looked up when the rules are on (`rules`).
    #[inline]
    pub fn note(
        &mut self,
        rules: Option<&FraudRules>,
        tariff: &Tariff,
        call: &Call<'_>,
        priced: &Priced,
        start: i64,
        at: u64,
    ) {
        let high_risk = match (rules, call.number) {
            (Some(rules), Number::E164(n)) if call.billsec > 0 => rules.high_risk(priced.customer, n.as_bytes()),
            _ => NO_HIGH_RISK,
        };
        self.calls.push(RatedCall {
            start,
            sell: priced.sell as i64,
            at,
            customer: priced.customer,
            high_risk,
            country: priced.destination.map_or(*b"--", |d| tariff.epoch(priced.epoch).deck.hot(d).country),
        });
    }

    /// Appends the calls of the next chunk (its rated rows follow these).
    pub fn append(&mut self, next: &CallLog) {
        let before = self.rated_bytes;
        self.calls.extend(next.calls.iter().map(|c| RatedCall { at: c.at + before, ..*c }));
        self.rated_bytes += next.rated_bytes;
    }

    /// [`CallLog::append`], moving `next`'s calls when this log has none.
    pub fn append_owned(&mut self, mut next: CallLog) {
        if !self.calls.is_empty() {
            return self.append(&next);
        }
        if self.rated_bytes > 0 {
            for c in &mut next.calls {
                c.at += self.rated_bytes;
            }
        }
        self.calls = next.calls;
        self.rated_bytes += next.rated_bytes;
    }

    /// Empties the log, keeping its memory.
    pub fn clear(&mut self) {
        self.calls.clear();
        self.rated_bytes = 0;
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
            if !group.is_sorted_by_key(|c| (c.start, c.at)) {
                group.sort_unstable_by_key(|c| (c.start, c.at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(customer: u32, start: i64, at: u64) -> RatedCall {
        RatedCall { start, sell: 0, at, customer, high_risk: NO_HIGH_RISK, country: *b"NL" }
    }

    #[test]
    fn chunks_append_with_their_row_offsets_and_group_in_processing_order() {
        let mut file = CallLog::default();
        // Rows of 10 bytes: the second chunk's rows start after the first's 20 bytes.
        let first = CallLog { calls: vec![call(1, 50, 0), call(0, 10, 10)], rated_bytes: 20 };
        let second = CallLog { calls: vec![call(1, 40, 0), call(1, 50, 10), call(0, 10, 20)], rated_bytes: 30 };
        file.append(&first);
        file.append(&second);
        assert_eq!(file.rated_bytes, 50);
        let mut grouped = Vec::new();
        file.group_into(2, &mut grouped);
        let order: Vec<(u32, i64, u64)> = grouped.iter().map(|c| (c.customer, c.start, c.at)).collect();
        assert_eq!(order, [(0, 10, 10), (0, 10, 40), (1, 40, 20), (1, 50, 0), (1, 50, 30)]);
    }
}
