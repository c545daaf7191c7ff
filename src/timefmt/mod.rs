//! Start times: parse what switches write, resolve local times in a zone,
//! and print RFC 3339.
//!
//! - this file: [`Stamp`], civil-day arithmetic, the fixed layouts of the
//!   built-in formats ([`parse_civil`], [`parse_start`]) and epoch seconds
//!   ([`utc_stamp`]);
//! - `zone`: [`ZoneCache`] and [`DayMapper`]. Local-time resolution goes
//!   through jiff, but jiff is only asked once per calendar day: the cache
//!   remembers, per day, the one UTC offset in force for the whole day when
//!   no transition can touch it;
//! - `strftime`: [`TimeFormat`], the strftime subset of custom layouts.

mod clock;
mod strftime;
mod zone;

use jiff::tz::TimeZone;
use jiff::Timestamp;

pub use clock::{weekday, LocalClock, LocalTime};
pub use strftime::TimeFormat;
pub use zone::{DayMapper, ZoneCache};

/// A start time: the civil time as shown on the wall clock, with its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Year (1..=9999).
    pub year: u16,
    /// Month 1-12.
    pub month: u8,
    /// Day of month.
    pub day: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute 0-59.
    pub minute: u8,
    /// Second 0-59.
    pub second: u8,
    /// UTC offset in seconds of this civil time.
    pub offset: i32,
}

impl Stamp {
    /// Whether the civil fields name a real date and time of day.
    pub fn is_valid_civil(&self) -> bool {
        self.year >= 1
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }

    /// Seconds since the Unix epoch.
    pub fn epoch_seconds(&self) -> i64 {
        days_from_civil(i32::from(self.year), self.month, self.day) * 86_400 + self.seconds_of_day()
            - i64::from(self.offset)
    }

    fn seconds_of_day(&self) -> i64 {
        i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second)
    }

    /// The same instant in another zone (for a customer's day).
    pub fn civil_date_in(&self, tz: &TimeZone) -> Option<jiff::civil::Date> {
        let ts = Timestamp::from_second(self.epoch_seconds()).ok()?;
        Some(tz.to_datetime(ts).date())
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS+HH:MM` (or `Z` for UTC).
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        fn two(out: &mut Vec<u8>, v: u8) {
            out.push(b'0' + v / 10);
            out.push(b'0' + v % 10);
        }
        let y = self.year;
        out.extend_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
            b'-',
        ]);
        two(out, self.month);
        out.push(b'-');
        two(out, self.day);
        out.push(b'T');
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        out.push(b':');
        two(out, self.second);
        if self.offset == 0 {
            out.push(b'Z');
        } else {
            out.push(if self.offset < 0 { b'-' } else { b'+' });
            let o = self.offset.unsigned_abs();
            two(out, (o / 3600) as u8);
            out.push(b':');
            two(out, (o / 60 % 60) as u8);
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A day number as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = u16::from(num2(b, 0)?) * 100 + u16::from(num2(b, 2)?);
    let (month, day) = (num2(b, 5)?, num2(b, 8)?);
    ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month))
        .then(|| days_from_civil(i32::from(year), month, day))
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// The UTC civil time of `secs` since the epoch (years 1 to 9999).
#[inline]
pub(crate) fn utc_stamp(secs: i64) -> Option<Stamp> {
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return None;
    }
    Some(Stamp {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: (sod / 3600) as u8,
        minute: (sod / 60 % 60) as u8,
        second: (sod % 60) as u8,
        offset: 0,
    })
}

#[inline]
fn num2(b: &[u8], at: usize) -> Option<u8> {
    let (h, l) = (b.get(at)?.wrapping_sub(b'0'), b.get(at + 1)?.wrapping_sub(b'0'));
    // `then`, not `then_some`: the sum must not be computed for non-digits.
    (h < 10 && l < 10).then(|| h * 10 + l)
}

/// Parses `YYYY-MM-DD?HH:MM[:SS][.frac]` with `sep` between the date parts
/// (`-` or `/`) and `T` or a space before the time; returns the civil part
/// and the rest of the input. Seconds default to 0; fractions are dropped.
#[inline]
pub fn parse_civil(b: &[u8], sep: u8) -> Option<(Stamp, &[u8])> {
    if b.len() < 16 || b[4] != sep || b[7] != sep || !matches!(b[10], b'T' | b' ') || b[13] != b':' {
        return None;
    }
    let year = u16::from(num2(b, 0)?) * 100 + u16::from(num2(b, 2)?);
    let (month, day, hour, minute) = (num2(b, 5)?, num2(b, 8)?, num2(b, 11)?, num2(b, 14)?);
    let mut rest = &b[16..];
    let mut second = 0;
    if let [b':', ..] = rest {
        second = num2(rest, 1)?;
        rest = &rest[3..];
    }
    if let [b'.' | b',', tail @ ..] = rest {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &tail[digits..];
    }
    let s = Stamp { year, month, day, hour, minute, second, offset: 0 };
    s.is_valid_civil().then_some((s, rest))
}

/// Parses exactly `YYYY?MM?DD HH:MM:SS` (19 bytes, `sep` between the date
/// parts): what [`parse_civil`] takes with nothing left over, in the layout
/// switches write nearly always; inlined so the stamp stays in registers.
#[inline(always)]
pub fn parse_civil_19(b: &[u8], sep: u8) -> Option<Stamp> {
    let b: &[u8; 19] = b.try_into().ok()?;
    if b[4] != sep || b[7] != sep || !matches!(b[10], b'T' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let s = Stamp {
        year: u16::from(num2(b, 0)?) * 100 + u16::from(num2(b, 2)?),
        month: num2(b, 5)?,
        day: num2(b, 8)?,
        hour: num2(b, 11)?,
        minute: num2(b, 14)?,
        second: num2(b, 17)?,
        offset: 0,
    };
    s.is_valid_civil().then_some(s)
}

/// Parses a start time: RFC 3339 with an offset (`Z`, `+01:00`, `+0100`),
/// or a local `YYYY-MM-DD HH:MM:SS` resolved in `zone`.
#[inline]
pub fn parse_start(b: &[u8], zone: &mut ZoneCache) -> Option<Stamp> {
    let b = b.trim_ascii();
    let (mut s, rest) = parse_civil(b, b'-')?;
    match rest {
        [] => zone.resolve(s),
        [b'Z' | b'z'] => Some(s),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [_, _, b':', _, _] => (num2(tail, 0)?, num2(tail, 3)?),
                [_, _, _, _] => (num2(tail, 0)?, num2(tail, 2)?),
                [_, _] => (num2(tail, 0)?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let o = i32::from(h) * 3600 + i32::from(m) * 60;
            s.offset = if *sign == b'-' { -o } else { o };
            Some(s)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zone cache of Amsterdam (the zone of most tests here and in `zone`).
    pub(super) fn ams() -> ZoneCache {
        ZoneCache::new(TimeZone::get("Europe/Amsterdam").unwrap())
    }

    /// A stamp as RFC 3339 text.
    pub(super) fn fmt(s: Stamp) -> String {
        let mut v = Vec::new();
        s.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn rfc3339_and_local() {
        let mut z = ams();
        assert_eq!(fmt(parse_start(b"2026-11-24T09:15:00+01:00", &mut z).unwrap()), "2026-11-24T09:15:00+01:00");
        assert_eq!(fmt(parse_start(b"2026-11-24T09:15:00Z", &mut z).unwrap()), "2026-11-24T09:15:00Z");
        assert_eq!(fmt(parse_start(b"2026-11-24 09:15:00", &mut z).unwrap()), "2026-11-24T09:15:00+01:00");
        assert_eq!(fmt(parse_start(b"2026-07-24 09:15:00.123", &mut z).unwrap()), "2026-07-24T09:15:00+02:00");
        assert_eq!(fmt(parse_start(b"2026-07-24T09:15:00-0430", &mut z).unwrap()), "2026-07-24T09:15:00-04:30");
        let s = parse_start(b"1970-01-01T01:00:00+01:00", &mut z).unwrap();
        assert_eq!(s.epoch_seconds(), 0);
    }

    #[test]
    fn refuses_impossible_times() {
        let mut z = ams();
        for bad in [
            "2026-02-30 10:00:00",
            "2026-13-01 10:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01 10:60:00",
            "2026-01-01",
            "yesterday",
            "2026-01-01T10:00:00+1",
            "2026-01-01T10:00:00 junk",
        ] {
            assert!(parse_start(bad.as_bytes(), &mut z).is_none(), "{bad}");
        }
        assert!(parse_start(b"2024-02-29 10:00:00", &mut z).is_some());
        // Non-digits where digits belong (used to overflow in debug builds).
        assert!(parse_start(b"2026-a1-24 09:15:00", &mut z).is_none());
        // Amsterdam mean time (+00:19:32) cannot be written in RFC 3339.
        assert!(parse_start(b"1900-01-01 00:00:00", &mut z).is_none());
        assert!(parse_start(b"2100-02-29 10:00:00", &mut z).is_none());
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000i64, 0, 1, 20_000, 20_782, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y as i32, m as u8, d as u8), days);
        }
    }

    #[test]
    fn days_match_jiff() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 11, 25), (1969, 12, 31), (2400, 3, 1)] {
            let ours = days_from_civil(y, m, d);
            let date = jiff::civil::Date::new(y as i16, m as i8, d as i8).unwrap();
            let theirs =
                TimeZone::UTC.to_timestamp(date.to_datetime(jiff::civil::Time::midnight())).unwrap().as_second()
                    / 86_400;
            assert_eq!(ours, theirs);
        }
    }
}
