//! What one customer carries from file to file for the rules, committed
//! with each file in the store (so a crash neither loses nor repeats an
//! alert), and its compact encoding: the start times of the windows are
//! the bulk, written as varint gaps (a day of a busy customer is a few
//! bytes a call).

use std::collections::BTreeMap;

/// What a day of a customer needs beyond its calls' times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayMarks {
    /// Rules already fired that day ([`super::Rule::bit`]): never again.
    pub fired: u8,
    /// International spend in the night window so far (units).
    pub night_units: i64,
}

/// One customer's fraud state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerState {
    /// Local days with a fired rule or night spend, by day number.
    pub days: BTreeMap<i64, DayMarks>,
    /// Start times (unix seconds, sorted) of the calls the call windows may
    /// still count: calls of days judged and not yet fired, and the first
    /// minute of a fired day (the day before's windows reach into it).
    pub starts: Vec<i64>,
    /// (start, destination country) of foreign calls the country windows
    /// may still count, sorted by start; kept like `starts` for an hour.
    pub foreign: Vec<(i64, [u8; 2])>,
}

impl CustomerState {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.starts.is_empty() && self.foreign.is_empty()
    }

    /// Whether `rule` fired on `day`.
    pub fn fired(&self, day: i64, rule: super::Rule) -> bool {
        self.days.get(&day).is_some_and(|d| d.fired & rule.bit() != 0)
    }

    /// The encoding stored for the customer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// [`CustomerState::encode`] into `out` (emptied first; its memory reused).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(8 + self.days.len() * 6 + self.starts.len() * 2 + self.foreign.len() * 4);
        out.push(VERSION);
        put(out, self.days.len() as u64);
        let mut last = 0i64;
        for (&day, marks) in &self.days {
            put(out, zigzag(day.wrapping_sub(last)));
            out.push(marks.fired);
            put(out, zigzag(marks.night_units));
            last = day;
        }
        put(out, self.starts.len() as u64);
        let mut last = 0i64;
        for &t in &self.starts {
            put(out, zigzag(t.wrapping_sub(last)));
            last = t;
        }
        put(out, self.foreign.len() as u64);
        let mut last = 0i64;
        for &(t, country) in &self.foreign {
            put(out, zigzag(t.wrapping_sub(last)));
            out.extend_from_slice(&country);
            last = t;
        }
    }

    /// Reads an encoding back; a damaged one is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<CustomerState, StateDecodeError> {
        let mut r = Reader { bytes, at: 0 };
        if r.byte()? != VERSION {
            return Err(StateDecodeError::Version);
        }
        let mut s = CustomerState::default();
        let mut last = 0i64;
        for _ in 0..r.count(3)? {
            let day = last.wrapping_add(unzigzag(r.varint()?));
            let fired = r.byte()?;
            let night_units = unzigzag(r.varint()?);
            if !s.days.is_empty() && day <= last {
                return Err(StateDecodeError::Unsorted);
            }
            s.days.insert(day, DayMarks { fired, night_units });
            last = day;
        }
        let mut last = 0i64;
        let n = r.count(1)?;
        s.starts.reserve(n);
        for i in 0..n {
            let t = last.wrapping_add(unzigzag(r.varint()?));
            if i > 0 && t < last {
                return Err(StateDecodeError::Unsorted);
            }
            s.starts.push(t);
            last = t;
        }
        let mut last = 0i64;
        let n = r.count(3)?;
        s.foreign.reserve(n);
        for i in 0..n {
            let t = last.wrapping_add(unzigzag(r.varint()?));
            if i > 0 && t < last {
                return Err(StateDecodeError::Unsorted);
            }
            s.foreign.push((t, [r.byte()?, r.byte()?]));
            last = t;
        }
        if r.at != bytes.len() {
            return Err(StateDecodeError::Trailing);
        }
        Ok(s)
    }
}

/// Why a stored state does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateDecodeError {
    /// Not an encoding this version writes.
    #[error("unknown fraud state version")]
    Version,
    /// It ends in the middle of a value.
    #[error("fraud state cut short")]
    Truncated,
    /// Days or times out of order.
    #[error("fraud state out of order")]
    Unsorted,
    /// Bytes after the end.
    #[error("fraud state has trailing bytes")]
    Trailing,
}

/// First byte of every encoding.
const VERSION: u8 = 1;

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// LEB128, written through a small buffer (one capacity check a value).
#[inline]
pub(super) fn put(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    out.extend_from_slice(&buf[..=n]);
}

/// Reads what [`put`] and the encoders wrote, refusing damage.
pub(super) struct Reader<'a> {
    /// The encoded bytes.
    pub(super) bytes: &'a [u8],
    /// Next byte to read.
    pub(super) at: usize,
}

impl Reader<'_> {
    pub(super) fn byte(&mut self) -> Result<u8, StateDecodeError> {
        let b = *self.bytes.get(self.at).ok_or(StateDecodeError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    pub(super) fn varint(&mut self) -> Result<u64, StateDecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(StateDecodeError::Truncated)
    }

    /// A count of items of at least `min_bytes` each: never more than the
    /// bytes left could hold (a damaged count must not reserve gigabytes).
    pub(super) fn count(&mut self, min_bytes: usize) -> Result<usize, StateDecodeError> {
        let n = self.varint()?;
        let left = (self.bytes.len() - self.at) / min_bytes;
        usize::try_from(n).ok().filter(|&n| n <= left).ok_or(StateDecodeError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_read_back_and_damage_is_an_error() {
        let mut s = CustomerState::default();
        s.days.insert(-3, DayMarks { fired: 5, night_units: -7 });
        s.days.insert(20_000, DayMarks { fired: 0, night_units: 123_456_789 });
        s.starts = vec![i64::MIN, -1, 0, 0, 1_790_000_000, i64::MAX];
        s.foreign = vec![(1_790_000_000, *b"XX"), (1_790_000_000, *b"GB"), (1_790_000_059, *b"NL")];
        let bytes = s.encode();
        assert_eq!(CustomerState::decode(&bytes), Ok(s.clone()));
        assert_eq!(CustomerState::decode(&CustomerState::default().encode()), Ok(CustomerState::default()));
        for cut in 0..bytes.len() {
            assert!(CustomerState::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(CustomerState::decode(&longer), Err(StateDecodeError::Trailing));
        assert_eq!(CustomerState::decode(&[2]), Err(StateDecodeError::Version));
        // A day of a busy customer: a call every 30 s is one byte a call.
        let busy = CustomerState { starts: (0..2880).map(|i| 1_790_000_000 + i * 30).collect(), ..Default::default() };
        assert!(busy.encode().len() < 2880 + 16);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(0u8..=255, 0..64)) {
            if let Ok(s) = CustomerState::decode(&bytes) {
                proptest::prop_assert_eq!(CustomerState::decode(&s.encode()), Ok(s));
            }
        }
    }
}
