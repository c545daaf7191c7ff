//! Spend aggregation on the hot path: a file's (or chunk's) sell per
//! customer day and destination country, added without allocation per call.

use std::collections::BTreeMap;

use super::Country;

/// Spend of one customer on one day, as added by a file (or chunk).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayAgg {
    /// Sum of sell.
    pub units: i64,
    /// Rated calls.
    pub calls: u64,
    /// Sell per destination country, sorted by country.
    pub countries: Vec<(Country, i64)>,
}

/// Spend per (customer index, customer day) and per destination country of
/// one file or chunk.
///
/// Hot path: calls of a CDR file come in runs of one customer and one day,
/// so each customer (of a small direct-mapped set) has an open day with a
/// dense array over country codes; a call is one array add. An open day is
/// folded (appended, no hashing) into a flat list when its slot is needed for
/// another day or customer, and by [`SpendAgg::flush`]; chunks merge by
/// appending; [`SpendAgg::days`] groups once per file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendAgg {
    /// Folded runs, in any order; a (customer, day) may appear many times.
    runs: Vec<Run>,
    /// The runs' countries: `runs[i]` owns `countries[start..start + len]`.
    countries: Vec<([u8; 2], i64)>,
    /// Open days, by `customer % OPEN_SLOTS` (allocated on first use).
    open: Vec<Option<OpenDay>>,
}

/// Spend of one customer day over a run of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    customer: u32,
    day: i64,
    units: i64,
    calls: u64,
    start: usize,
    len: usize,
}

/// Open days kept at once (each 5.4 KiB).
const OPEN_SLOTS: usize = 64;
/// `AA`..`ZZ`, then `--`.
const DENSE_COUNTRIES: usize = 26 * 26 + 1;

/// The running spend of one customer day.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OpenDay {
    customer: u32,
    day: i64,
    units: i64,
    calls: u64,
    /// Sell per dense country index.
    by_country: Box<[i64; DENSE_COUNTRIES]>,
    /// Dense indexes with calls, in first-call order.
    touched: Vec<u16>,
    /// Bitmap of `touched`.
    seen: [u64; DENSE_COUNTRIES.div_ceil(64)],
}

fn dense_country(c: [u8; 2]) -> Option<u16> {
    match c {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => Some(u16::from(a - b'A') * 26 + u16::from(b - b'A')),
        [b'-', b'-'] => Some(26 * 26),
        _ => None,
    }
}

fn country_of_dense(i: u16) -> [u8; 2] {
    if usize::from(i) == 26 * 26 {
        *b"--"
    } else {
        [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8]
    }
}

impl SpendAgg {
    /// Adds one rated call.
    #[inline]
    pub fn add(&mut self, customer: u32, day: i64, units: i64, country: [u8; 2]) {
        let Some(dense) = dense_country(country) else {
            // Not a country code the tariff loader produces; kept exactly all the same.
            let start = self.countries.len();
            self.countries.push((country, units));
            self.runs.push(Run { customer, day, units, calls: 1, start, len: 1 });
            return;
        };
        if self.open.is_empty() {
            self.open.resize_with(OPEN_SLOTS, || None);
        }
        let slot = &mut self.open[customer as usize % OPEN_SLOTS];
        match slot {
            Some(o) if o.customer == customer && o.day == day => {}
            _ => {
                if let Some(o) = slot.as_mut() {
                    Self::fold(&mut self.runs, &mut self.countries, o);
                    o.customer = customer;
                    o.day = day;
                } else {
                    *slot = Some(OpenDay {
                        customer,
                        day,
                        units: 0,
                        calls: 0,
                        by_country: Box::new([0; DENSE_COUNTRIES]),
                        touched: Vec::new(),
                        seen: [0; DENSE_COUNTRIES.div_ceil(64)],
                    });
                }
            }
        }
        let Some(o) = slot.as_mut() else { return };
        o.units += units;
        o.calls += 1;
        let (word, bit) = (usize::from(dense / 64), 1u64 << (dense % 64));
        if o.seen[word] & bit == 0 {
            o.seen[word] |= bit;
            o.touched.push(dense);
        }
        o.by_country[usize::from(dense)] += units;
    }

    /// Appends an open day to the runs and empties it.
    fn fold(runs: &mut Vec<Run>, countries: &mut Vec<([u8; 2], i64)>, o: &mut OpenDay) {
        if o.calls == 0 {
            return;
        }
        let start = countries.len();
        for &i in &o.touched {
            countries.push((country_of_dense(i), std::mem::take(&mut o.by_country[usize::from(i)])));
        }
        runs.push(Run {
            customer: o.customer,
            day: o.day,
            units: o.units,
            calls: o.calls,
            start,
            len: o.touched.len(),
        });
        o.touched.clear();
        o.seen = [0; DENSE_COUNTRIES.div_ceil(64)];
        o.units = 0;
        o.calls = 0;
    }

    /// Folds every open day into the runs; call before [`SpendAgg::merge`]
    /// and [`SpendAgg::days`] read them.
    pub fn flush(&mut self) {
        for o in self.open.iter_mut().flatten() {
            Self::fold(&mut self.runs, &mut self.countries, o);
        }
    }

    /// Adds another (flushed) aggregate.
    pub fn merge(&mut self, o: &SpendAgg) {
        debug_assert!(o.open.iter().flatten().all(|d| d.calls == 0), "merging an unflushed aggregate");
        let offset = self.countries.len();
        self.countries.extend_from_slice(&o.countries);
        self.runs.extend(o.runs.iter().map(|r| Run { start: r.start + offset, ..*r }));
    }

    /// Empties it, keeping the allocations.
    pub fn clear(&mut self) {
        self.flush();
        self.runs.clear();
        self.countries.clear();
    }

    /// The sums per (customer, day), in that order (of a flushed aggregate).
    pub fn days(&self) -> BTreeMap<(u32, i64), DayAgg> {
        let mut order: Vec<&Run> = self.runs.iter().collect();
        order.sort_unstable_by_key(|r| (r.customer, r.day));
        let mut days = BTreeMap::new();
        let mut dense = vec![0i64; DENSE_COUNTRIES];
        let mut seen = vec![false; DENSE_COUNTRIES];
        let mut touched: Vec<u16> = Vec::new();
        for group in order.chunk_by(|a, b| (a.customer, a.day) == (b.customer, b.day)) {
            let mut d = DayAgg::default();
            let mut others: BTreeMap<[u8; 2], i64> = BTreeMap::new();
            for r in group {
                d.units += r.units;
                d.calls += r.calls;
                for &(c, u) in &self.countries[r.start..r.start + r.len] {
                    match dense_country(c) {
                        Some(i) => {
                            if !std::mem::replace(&mut seen[usize::from(i)], true) {
                                touched.push(i);
                            }
                            dense[usize::from(i)] += u;
                        }
                        None => *others.entry(c).or_default() += u,
                    }
                }
            }
            d.countries = touched
                .drain(..)
                .map(|i| {
                    seen[usize::from(i)] = false;
                    (Country(country_of_dense(i)), std::mem::take(&mut dense[usize::from(i)]))
                })
                .chain(others.into_iter().map(|(c, u)| (Country(c), u)))
                .collect();
            d.countries.sort_unstable();
            days.insert((group[0].customer, group[0].day), d);
        }
        days
    }
}
