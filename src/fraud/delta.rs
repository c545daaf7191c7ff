//! What judging one file changed in a customer's state, small enough to
//! commit with every file: the store keeps a snapshot of each state and a
//! log of these changes (`state::fraud_store`), so the work and the bytes
//! of a file follow its calls, not the day of calls a state holds.
//!
//! A change is applied by the same code when the file is judged and when
//! the log is read back, so the state rebuilt from the store is the state
//! the judgement left: calls are added (merged by time), then ranges of
//! times dropped; ranges are by value, computed on the state as it was
//! then, so dropping them again from the same state drops the same calls.

use std::collections::BTreeMap;

use super::state::{put, unzigzag, zigzag, CustomerState, DayMarks, Reader, StateDecodeError};

/// A change to one sorted list of call times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// The rule is off: the list is emptied.
    Clear,
    /// Calls added (sorted), then the times in `[from, until)` of each
    /// range dropped, in order.
    Edit {
        /// The file's calls kept.
        added: Vec<T>,
        /// Ranges of times dropped after adding.
        dropped: Vec<(i64, i64)>,
    },
}

/// One customer's change from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The days map after the file (a few entries: fired rules, night spend).
    pub days: BTreeMap<i64, DayMarks>,
    /// The change to [`CustomerState::starts`].
    pub starts: Change<i64>,
    /// The change to [`CustomerState::foreign`].
    pub foreign: Change<(i64, [u8; 2])>,
}

impl Delta {
    /// Applies the change to the state it was made from.
    pub fn apply(&self, state: &mut CustomerState) {
        state.days.clone_from(&self.days);
        apply_change(&mut state.starts, &self.starts, |x| *x);
        apply_change(&mut state.foreign, &self.foreign, |x| x.0);
    }
}

/// Applies one list's change.
pub fn apply_change<T: Copy>(list: &mut Vec<T>, change: &Change<T>, key: impl Fn(&T) -> i64 + Copy) {
    match change {
        Change::Clear => *list = Vec::new(),
        Change::Edit { added, dropped } => {
            merge_into(list, added, key);
            for &(from, until) in dropped {
                drop_range(list, from, until, key);
            }
        }
    }
}

/// Merges sorted `new` into sorted `all`: appended when it comes after
/// (calls arriving in time order), else merged from the back, moving only
/// the calls after the first new one.
pub fn merge_into<T: Copy>(all: &mut Vec<T>, new: &[T], key: impl Fn(&T) -> i64) {
    let Some(first) = new.first() else { return };
    if all.last().is_none_or(|last| key(last) <= key(first)) {
        all.extend_from_slice(new);
        return;
    }
    let old = all.len();
    all.extend_from_slice(new);
    let (mut i, mut j, mut k) = (old, new.len(), all.len());
    // From the back: the larger of the two heads goes last; ties keep the
    // known call first.
    while j > 0 {
        k -= 1;
        if i > 0 && key(&all[i - 1]) > key(&new[j - 1]) {
            all[k] = all[i - 1];
            i -= 1;
        } else {
            all[k] = new[j - 1];
            j -= 1;
        }
    }
}

/// Drops the times in `[from, until)` of a sorted list.
pub fn drop_range<T>(list: &mut Vec<T>, from: i64, until: i64, key: impl Fn(&T) -> i64) {
    let a = list.partition_point(|x| key(x) < from);
    let b = a + list[a..].partition_point(|x| key(x) < until);
    list.drain(a..b);
}

/// Writes the changes of one file, customer by customer, as they are made
/// (no allocation per customer): [`BatchWriter::customer`], then the
/// customer's [`BatchWriter::days`] and two changes (starts, foreign).
#[derive(Debug, Default)]
pub struct BatchWriter {
    /// The batch so far.
    pub bytes: Vec<u8>,
}

impl BatchWriter {
    /// Starts a new batch (keeping the memory).
    pub fn start(&mut self) {
        self.bytes.clear();
        self.bytes.push(VERSION);
    }

    /// Starts a customer's change.
    pub fn customer(&mut self, id: &str) {
        put(&mut self.bytes, id.len() as u64);
        self.bytes.extend_from_slice(id.as_bytes());
    }

    /// The customer's days map after the file.
    pub fn days(&mut self, days: &BTreeMap<i64, DayMarks>) {
        put(&mut self.bytes, days.len() as u64);
        for (&day, m) in days {
            put(&mut self.bytes, zigzag(day));
            self.bytes.push(m.fired);
            put(&mut self.bytes, zigzag(m.night_units));
        }
    }

    /// A list emptied ([`Change::Clear`]).
    pub fn clear(&mut self) {
        self.bytes.push(0);
    }

    /// Start times added and ranges dropped ([`Change::Edit`] of starts).
    pub fn edit_starts(&mut self, added: &[i64], dropped: &[(i64, i64)]) {
        self.edit(added, dropped, |out, t| put(out, zigzag(*t)));
    }

    /// Foreign calls added and ranges dropped ([`Change::Edit`] of foreign).
    pub fn edit_foreign(&mut self, added: &[(i64, [u8; 2])], dropped: &[(i64, i64)]) {
        self.edit(added, dropped, |out, (t, c)| {
            put(out, zigzag(*t));
            out.extend_from_slice(c);
        });
    }

    fn edit<T>(&mut self, added: &[T], dropped: &[(i64, i64)], item: impl Fn(&mut Vec<u8>, &T)) {
        self.bytes.push(1);
        put(&mut self.bytes, added.len() as u64);
        for x in added {
            item(&mut self.bytes, x);
        }
        put(&mut self.bytes, dropped.len() as u64);
        for &(a, b) in dropped {
            put(&mut self.bytes, zigzag(a));
            put(&mut self.bytes, zigzag(b));
        }
    }
}

/// Writes whole changes as one batch (what [`BatchWriter`] writes).
pub fn encode_batch<'a>(changes: impl IntoIterator<Item = (&'a str, &'a Delta)>, out: &mut Vec<u8>) {
    let mut w = BatchWriter { bytes: std::mem::take(out) };
    w.start();
    for (customer, d) in changes {
        w.customer(customer);
        w.days(&d.days);
        match &d.starts {
            Change::Clear => w.clear(),
            Change::Edit { added, dropped } => w.edit_starts(added, dropped),
        }
        match &d.foreign {
            Change::Clear => w.clear(),
            Change::Edit { added, dropped } => w.edit_foreign(added, dropped),
        }
    }
    *out = w.bytes;
}

/// Reads a batch back; a damaged one is an error, never a panic.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<(String, Delta)>, StateDecodeError> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte()? != VERSION {
        return Err(StateDecodeError::Version);
    }
    let mut out = Vec::new();
    while r.at < bytes.len() {
        let len = r.count(1)?;
        let id = std::str::from_utf8(&bytes[r.at..r.at + len]).map_err(|_| StateDecodeError::Unsorted)?;
        r.at += len;
        let mut days = BTreeMap::new();
        for _ in 0..r.count(3)? {
            let day = unzigzag(r.varint()?);
            let fired = r.byte()?;
            days.insert(day, DayMarks { fired, night_units: unzigzag(r.varint()?) });
        }
        let starts = r.change(|r| Ok(unzigzag(r.varint()?)))?;
        let foreign = r.change(|r| Ok((unzigzag(r.varint()?), [r.byte()?, r.byte()?])))?;
        out.push((id.to_string(), Delta { days, starts, foreign }));
    }
    Ok(out)
}

/// First byte of a batch.
const VERSION: u8 = 1;

impl Reader<'_> {
    fn change<T>(
        &mut self,
        item: impl Fn(&mut Self) -> Result<T, StateDecodeError>,
    ) -> Result<Change<T>, StateDecodeError> {
        if self.byte()? == 0 {
            return Ok(Change::Clear);
        }
        let added = (0..self.count(1)?).map(|_| item(self)).collect::<Result<Vec<T>, _>>()?;
        let dropped = (0..self.count(2)?)
            .map(|_| Ok((unzigzag(self.varint()?), unzigzag(self.varint()?))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Change::Edit { added, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_from_the_back_keeps_order_and_known_calls_first() {
        let mut all = vec![1, 5, 5, 9];
        merge_into(&mut all, &[0, 5, 10], |x| *x);
        assert_eq!(all, [0, 1, 5, 5, 5, 9, 10]);
        let mut tail = vec![1, 2];
        merge_into(&mut tail, &[2, 3], |x| *x);
        assert_eq!(tail, [1, 2, 2, 3]);
        let mut pairs = vec![(5, *b"AA")];
        merge_into(&mut pairs, &[(5, *b"BB"), (1, *b"CC")][1..], |x| x.0);
        assert_eq!(pairs, [(1, *b"CC"), (5, *b"AA")]);
        drop_range(&mut all, 5, 10, |x| *x);
        assert_eq!(all, [0, 1, 10]);
    }

    #[test]
    fn batches_read_back_and_damage_is_an_error() {
        let mut days = BTreeMap::new();
        days.insert(20_400, DayMarks { fired: 3, night_units: -5 });
        let d = Delta {
            days,
            starts: Change::Edit { added: vec![-7, 1_790_000_000], dropped: vec![(i64::MIN, 0), (5, i64::MAX)] },
            foreign: Change::Clear,
        };
        let foreign = Change::Edit { added: vec![(9, *b"XX")], dropped: vec![] };
        let e = Delta { days: BTreeMap::new(), starts: Change::Clear, foreign };
        let mut bytes = Vec::new();
        encode_batch([("C1", &d), ("Ö2", &e)], &mut bytes);
        let full = vec![("C1".to_string(), d), ("Ö2".to_string(), e)];
        assert_eq!(decode_batch(&bytes), Ok(full.clone()));
        for cut in 1..bytes.len() {
            assert_ne!(decode_batch(&bytes[..cut]), Ok(full.clone()), "cut at {cut}");
        }
        assert_eq!(decode_batch(&[9]), Err(StateDecodeError::Version));
    }
}
