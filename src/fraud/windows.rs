//! Exact half-open windows `[s, s + W)` over call start times (whole
//! seconds), counted when a call arrives.
//!
//! The calls known before a file (`old`, sorted) and the file's calls that
//! have arrived so far in processing order (`new`, sorted: a file's calls
//! are processed by start) are two sorted slices; the call that just
//! arrived is the last of `new`, at `t`. Only windows containing `t` change,
//! and the fullest of them starts at a call in `(t - W, t]`, so those are
//! the candidates. A window belongs to the day of its first call (its
//! start): a rule fires at most once per customer and day, and which days
//! fire does not depend on the order the calls came in.
//!
//! When no earlier call lies after `t` within `W` (calls arriving in time
//! order, the usual case) a window holds every call from its start to `t`,
//! so the earliest candidate of each day is the fullest: two binary
//! searches (calls), or a sliding count (countries). A late call (one that
//! lands before calls already known) looks at every candidate: O(calls in
//! `(t - W, t + W)`).

use super::local::LocalClock;

/// A window that holds more than the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    /// The day the window belongs to (of its first call).
    pub day: i64,
    /// Its start (a call's start, unix seconds); it ends at `start + W`.
    pub start: i64,
    /// Calls (or distinct countries) in it.
    pub count: u32,
}

/// Number of dense country slots: `AA`..`ZZ`, then one for anything else.
pub const COUNTRY_SLOTS: usize = 26 * 26 + 1;

/// The dense slot of a country code.
#[inline]
pub fn country_slot(c: [u8; 2]) -> usize {
    match c {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => usize::from(a - b'A') * 26 + usize::from(b - b'A'),
        _ => 26 * 26,
    }
}

/// The code of a dense slot (`??` for the shared slot).
pub fn slot_country(i: usize) -> [u8; 2] {
    if i >= 26 * 26 {
        *b"??"
    } else {
        [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8]
    }
}

/// Where the neighbourhood `(t - W, t + W)` of the last arrival lies in the
/// known calls and in the file's: moved forward arrival by arrival (a
/// customer's calls of a file arrive in time order), so finding it costs a
/// few steps from where it was, not a search of the whole state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    /// First known call at or after `t - W + 1`.
    lo: usize,
    /// First known call after `t`.
    hi: usize,
    /// First known call at or after `t + W`.
    far: usize,
    /// First arrived call at or after `t - W + 1`.
    new_lo: usize,
}

impl Cursor {
    /// Moves to the arrival `t` (never before the last one).
    fn to<T>(&mut self, old: &[T], new: &[T], key: impl Fn(&T) -> i64, t: i64, width: i64) {
        self.new_lo = gallop(new, self.new_lo, |x| key(x) < t - width + 1);
        if old.last().is_none_or(|x| key(x) < t - width + 1) {
            // Every known call is before the window (calls arriving in time
            // order): one look at the last.
            (self.lo, self.hi, self.far) = (old.len(), old.len(), old.len());
            return;
        }
        self.lo = gallop(old, self.lo, |x| key(x) < t - width + 1);
        self.hi = gallop(old, self.hi.max(self.lo), |x| key(x) <= t);
        self.far = gallop(old, self.far.max(self.hi), |x| key(x) < t + width);
    }
}

/// The first index at or after `from` where `before` fails, `before` holding
/// for a prefix of `v` that reaches `from`: steps of 1, 2, 4, ... then a
/// binary search in the last step, so a short move reads a few neighbours.
fn gallop<T>(v: &[T], from: usize, before: impl Fn(&T) -> bool) -> usize {
    let (mut lo, mut step) = (from, 1);
    let mut hi = from;
    while hi < v.len() && before(&v[hi]) {
        lo = hi + 1;
        hi = from + step;
        step *= 2;
    }
    let hi = hi.min(v.len());
    lo + v[lo..hi].partition_point(before)
}

/// After the arrival of `new.last()` at `t`: the first window of each
/// `active` day that holds more than `limit` calls (at most two days: a
/// window is shorter than a day). `cursor` follows the arrivals.
#[allow(clippy::too_many_arguments)]
pub fn calls_over(
    old: &[i64],
    new: &[i64],
    width: i64,
    limit: u32,
    clock: &mut LocalClock,
    mut active: impl FnMut(i64) -> bool,
    cursor: &mut Cursor,
    merged: &mut Vec<i64>,
) -> Vec<Over> {
    let Some(&t) = new.last() else { return Vec::new() };
    let mut out = Vec::new();
    cursor.to(old, new, |x| *x, t, width);
    let Cursor { lo: old_lo, hi: old_hi, far: old_far, new_lo } = *cursor;
    let limit = limit as usize;
    if old_far == old_hi {
        // Every window holds its calls up to `t`: the earliest candidate of
        // a day is its fullest.
        let s1 = old.get(old_lo).filter(|_| old_lo < old_hi).map_or(new[new_lo], |&o| o.min(new[new_lo]));
        let d1 = clock.day(s1);
        let count = (old_hi - old_lo) + (new.len() - new_lo);
        if count > limit && active(d1) {
            out.push(Over { day: d1, start: s1, count: count as u32 });
        }
        let dt = clock.day(t);
        if d1 != dt && active(dt) {
            let oa = old_lo + old[old_lo..old_hi].partition_point(|&x| clock.day(x) < dt);
            let na = new_lo + new[new_lo..].partition_point(|&x| clock.day(x) < dt);
            let s2 = old.get(oa).filter(|_| oa < old_hi).map_or(new[na], |&o| o.min(new[na]));
            let count = (old_hi - oa) + (new.len() - na);
            if count > limit {
                out.push(Over { day: dt, start: s2, count: count as u32 });
            }
        }
        return out;
    }
    merged.clear();
    merge(&old[old_lo..old_far], &new[new_lo..], merged, |x| *x);
    let mut j = 0;
    for i in 0..merged.len() {
        let s = merged[i];
        if s > t {
            break;
        }
        if i > 0 && merged[i - 1] == s {
            continue; // the same window as the first call at `s`
        }
        while j < merged.len() && merged[j] < s + width {
            j += 1;
        }
        let count = j - i;
        if count > limit {
            let day = clock.day(s);
            if !out.iter().any(|o: &Over| o.day == day) && active(day) {
                out.push(Over { day, start: s, count: count as u32 });
            }
        }
    }
    out
}

/// Distinct countries of the foreign calls in `(t - W, t]`, kept as `t`
/// moves forward over one customer's calls of a file.
#[derive(Debug, Clone)]
pub struct Sliding {
    /// Calls per country slot in the window.
    counts: Vec<u32>,
    /// Slots with a call.
    distinct: u32,
    /// Slots that had a call since the last reset (zeroed by the next).
    touched: Vec<u16>,
    /// The window is `old[old_lo..old_hi]` and `new[new_lo..new_hi]`.
    old_lo: usize,
    /// See `old_lo`.
    old_hi: usize,
    /// See `old_lo`.
    new_lo: usize,
    /// See `old_lo`.
    new_hi: usize,
    /// Per-slot counts for the window-by-window count of a late call;
    /// all 0 between uses.
    spare: Vec<u32>,
}

impl Default for Sliding {
    fn default() -> Self {
        Sliding {
            counts: vec![0; COUNTRY_SLOTS],
            distinct: 0,
            touched: Vec::new(),
            old_lo: 0,
            old_hi: 0,
            new_lo: 0,
            new_hi: 0,
            spare: vec![0; COUNTRY_SLOTS],
        }
    }
}

impl Sliding {
    /// Empties it for another customer (only the slots it used).
    pub fn reset(&mut self) {
        for &i in &self.touched {
            self.counts[usize::from(i)] = 0;
        }
        self.touched.clear();
        (self.distinct, self.old_lo, self.old_hi, self.new_lo, self.new_hi) = (0, 0, 0, 0, 0);
    }

    fn add(&mut self, c: [u8; 2]) {
        let i = country_slot(c);
        let slot = &mut self.counts[i];
        if *slot == 0 {
            self.distinct += 1;
            self.touched.push(i as u16);
        }
        *slot += 1;
    }

    fn remove(&mut self, c: [u8; 2]) {
        let slot = &mut self.counts[country_slot(c)];
        *slot -= 1;
        self.distinct -= u32::from(*slot == 0);
    }

    /// Moves the window to `(t - width, t]` (`t` = the last of `new`, never
    /// smaller than before); returns its distinct countries.
    pub fn advance(&mut self, old: &[(i64, [u8; 2])], new: &[(i64, [u8; 2])], width: i64) -> u32 {
        let Some(&(t, _)) = new.last() else { return self.distinct };
        // Known calls before the window are skipped, not added and removed:
        // the work follows the file's calls, not the state's.
        let first = match old.last() {
            Some(last) if last.0 > t - width => gallop(old, self.old_hi, |x| x.0 <= t - width),
            _ => old.len(),
        };
        if self.old_hi < first {
            while self.old_lo < self.old_hi {
                self.remove(old[self.old_lo].1);
                self.old_lo += 1;
            }
            (self.old_lo, self.old_hi) = (first, first);
        }
        while self.old_hi < old.len() && old[self.old_hi].0 <= t {
            self.add(old[self.old_hi].1);
            self.old_hi += 1;
        }
        while self.new_hi < new.len() {
            self.add(new[self.new_hi].1);
            self.new_hi += 1;
        }
        while self.old_lo < self.old_hi && old[self.old_lo].0 <= t - width {
            self.remove(old[self.old_lo].1);
            self.old_lo += 1;
        }
        while self.new_lo < self.new_hi && new[self.new_lo].0 <= t - width {
            self.remove(new[self.new_lo].1);
            self.new_lo += 1;
        }
        self.distinct
    }
}

/// After the arrival of the foreign call `new.last()` at `t`: the first
/// window of each `active` day that holds more than `limit` distinct
/// countries, with those countries (sorted). `cursor` follows the arrivals.
#[allow(clippy::too_many_arguments)]
pub fn countries_over(
    old: &[(i64, [u8; 2])],
    new: &[(i64, [u8; 2])],
    width: i64,
    limit: u32,
    clock: &mut LocalClock,
    mut active: impl FnMut(i64) -> bool,
    sliding: &mut Sliding,
    cursor: &mut Cursor,
    merged: &mut Vec<(i64, [u8; 2])>,
) -> Vec<(Over, Vec<[u8; 2]>)> {
    let Some(&(t, _)) = new.last() else { return Vec::new() };
    let in_window = sliding.advance(old, new, width);
    let mut out = Vec::new();
    cursor.to(old, new, |x| x.0, t, width);
    let Cursor { lo: old_lo, hi: old_hi, far: old_far, new_lo } = *cursor;
    merged.clear();
    if old_far == old_hi {
        let s1 = old.get(old_lo).filter(|_| old_lo < old_hi).map_or(new[new_lo].0, |o| o.0.min(new[new_lo].0));
        let d1 = clock.day(s1);
        if in_window > limit && active(d1) {
            merge(&old[old_lo..old_hi], &new[new_lo..], merged, |x| x.0);
            let countries = distinct(merged);
            out.push((Over { day: d1, start: s1, count: in_window }, countries));
        }
        let dt = clock.day(t);
        if d1 != dt && active(dt) {
            let oa = old_lo + old[old_lo..old_hi].partition_point(|x| clock.day(x.0) < dt);
            let na = new_lo + new[new_lo..].partition_point(|x| clock.day(x.0) < dt);
            merged.clear();
            merge(&old[oa..old_hi], &new[na..], merged, |x| x.0);
            let countries = distinct(merged);
            if countries.len() > limit as usize {
                let over = Over { day: dt, start: merged[0].0, count: countries.len() as u32 };
                out.push((over, countries));
            }
        }
        return out;
    }
    merge(&old[old_lo..old_far], &new[new_lo..], merged, |x| x.0);
    // A second sliding count over the neighbourhood, window by window (its
    // slots set back to 0 at the end).
    let counts = &mut sliding.spare;
    let (mut j, mut live) = (0usize, 0u32);
    for i in 0..merged.len() {
        let s = merged[i].0;
        if s > t {
            break;
        }
        if i > 0 {
            let gone = &mut counts[country_slot(merged[i - 1].1)];
            *gone -= 1;
            live -= u32::from(*gone == 0);
            if merged[i - 1].0 == s {
                continue;
            }
        }
        while j < merged.len() && merged[j].0 < s + width {
            let slot = &mut counts[country_slot(merged[j].1)];
            live += u32::from(*slot == 0);
            *slot += 1;
            j += 1;
        }
        if live > limit {
            let day = clock.day(s);
            if !out.iter().any(|o: &(Over, Vec<[u8; 2]>)| o.0.day == day) && active(day) {
                let countries = distinct(&merged[i..j]);
                out.push((Over { day, start: s, count: live }, countries));
            }
        }
    }
    for x in merged.iter() {
        counts[country_slot(x.1)] = 0;
    }
    out
}

/// The distinct countries of some calls, sorted.
fn distinct(calls: &[(i64, [u8; 2])]) -> Vec<[u8; 2]> {
    let mut c: Vec<[u8; 2]> = calls.iter().map(|x| x.1).collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// Merges two sorted slices into `out` (by `key`).
fn merge<T: Copy>(a: &[T], b: &[T], out: &mut Vec<T>, key: impl Fn(&T) -> i64) {
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if key(&a[i]) <= key(&b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}
