//! Start times: parse what switches write, resolve local times in a zone,
//! and print RFC 3339.
//!
//! Local-time resolution goes through jiff, but jiff is only asked once per
//! calendar day: [`ZoneCache`] remembers, per day, the one UTC offset in
//! force for the whole day when no transition can touch it. Days with a DST
//! change (two a year) take the exact jiff path for every row.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

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

/// The UTC offset in force throughout day `day` and the `MAX_OFFSET`
/// around it, or `None` when a transition falls in that span (or the day
/// is out of range). Used for both local days and UTC days: with the margin,
/// one answer covers every instant either can hold.
fn steady_offset(tz: &TimeZone, day: i64) -> Option<i32> {
    let first = Timestamp::from_second(day * 86_400 - MAX_OFFSET).ok()?;
    let last = (day + 1) * 86_400 + MAX_OFFSET;
    let change = tz.following(first).next().map(|t| t.timestamp().as_second());
    change.is_none_or(|c| c > last).then(|| tz.to_offset(first).seconds())
}

/// Maps instants to the local day number in one zone (a customer's day),
/// asking jiff once per UTC day unless a transition is near.
pub struct DayMapper {
    tz: TimeZone,
    slots: [(i64, i32); 16],
    /// The last answer: instants in `[.0, .1)` are on local day `.2`.
    last: (i64, i64, i64),
}

impl DayMapper {
    /// A mapper for `tz`.
    pub fn new(tz: TimeZone) -> Self {
        DayMapper { tz, slots: [(EMPTY_DAY, 0); 16], last: (0, 0, 0) }
    }

    /// The local day (days since 1970-01-01) of `epoch` seconds.
    #[inline]
    pub fn day_of(&mut self, epoch: i64) -> i64 {
        if epoch >= self.last.0 && epoch < self.last.1 {
            return self.last.2;
        }
        self.day_of_slow(epoch)
    }

    fn day_of_slow(&mut self, epoch: i64) -> i64 {
        let utc_day = epoch.div_euclid(86_400);
        let slot = &mut self.slots[utc_day.rem_euclid(16) as usize];
        if slot.0 != utc_day {
            let offset = steady_offset(&self.tz, utc_day).unwrap_or(VARIES);
            *slot = (utc_day, offset);
        }
        if slot.1 == VARIES {
            let offset = Timestamp::from_second(epoch).map_or(0, |ts| self.tz.to_offset(ts).seconds());
            return (epoch + i64::from(offset)).div_euclid(86_400);
        }
        let offset = i64::from(slot.1);
        let day = (epoch + offset).div_euclid(86_400);
        // The offset holds all this UTC day: the answer holds where that
        // UTC day and the local day overlap.
        let from = (utc_day * 86_400).max(day * 86_400 - offset);
        let to = ((utc_day + 1) * 86_400).min((day + 1) * 86_400 - offset);
        self.last = (from, to, day);
        day
    }
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Per-thread cache of the UTC offset of whole local days in one zone.
pub struct ZoneCache {
    tz: TimeZone,
    /// Direct-mapped: slot = day % len; (day, offset or `VARIES`).
    slots: [(i64, i32); 64],
    /// The last local date resolved with a steady offset: (packed
    /// year/month/day, day number, offset). The times of one row, and of
    /// neighbouring rows, are nearly always on one date.
    last: (u32, i64, i32),
}

const VARIES: i32 = i32::MIN;
const EMPTY_DAY: i64 = i64::MIN;
/// Largest UTC offset jiff supports, rounded up: bounds which instants can
/// fall on a given local day.
const MAX_OFFSET: i64 = 26 * 3600;

impl ZoneCache {
    /// A cache for `tz`.
    pub fn new(tz: TimeZone) -> Self {
        ZoneCache { tz, slots: [(EMPTY_DAY, 0); 64], last: (u32::MAX, 0, 0) }
    }

    /// Day number of a stamp's date, and its offset when steady all day.
    #[inline]
    fn local_day(&mut self, s: &Stamp) -> (i64, Option<i32>) {
        let key = u32::from(s.year) << 16 | u32::from(s.month) << 8 | u32::from(s.day);
        if key == self.last.0 {
            return (self.last.1, Some(self.last.2));
        }
        let day = days_from_civil(i32::from(s.year), s.month, s.day);
        let offset = self.day_offset(day);
        if let Some(o) = offset {
            self.last = (key, day, o);
        }
        (day, offset)
    }

    /// `resolve(s)?.epoch_seconds()`, without the round trip through a civil time.
    #[inline]
    pub fn resolve_epoch(&mut self, s: Stamp) -> Option<i64> {
        match self.local_day(&s) {
            (day, Some(offset)) => (offset % 60 == 0).then(|| day * 86_400 + s.seconds_of_day() - i64::from(offset)),
            (_, None) => self.resolve(s).map(|r| r.epoch_seconds()),
        }
    }

    /// Offset of a local day when it is the same all day, else `None`.
    #[inline]
    fn day_offset(&mut self, day: i64) -> Option<i32> {
        let slot = &mut self.slots[day.rem_euclid(64) as usize];
        if slot.0 != day {
            let offset = steady_offset(&self.tz, day).unwrap_or(VARIES);
            *slot = (day, offset);
        }
        (slot.1 != VARIES).then_some(slot.1)
    }

    /// Resolves a local wall-clock time: a time that occurs twice is the
    /// earlier instant, one that does not exist is moved forward by the gap.
    /// `None` when the zone's offset then is not a whole number of minutes
    /// (local mean time before ~1940): RFC 3339 could not print it exactly.
    #[inline]
    pub fn resolve(&mut self, mut s: Stamp) -> Option<Stamp> {
        if let (_, Some(offset)) = self.local_day(&s) {
            s.offset = offset;
            return (offset % 60 == 0).then_some(s);
        }
        self.resolve_slow(s)
    }

    #[inline(never)]
    fn resolve_slow(&mut self, s: Stamp) -> Option<Stamp> {
        let dt =
            DateTime::new(s.year as i16, s.month as i8, s.day as i8, s.hour as i8, s.minute as i8, s.second as i8, 0)
                .ok()?;
        let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
        let offset = self.tz.to_offset(ts);
        if offset.seconds() % 60 != 0 {
            return None;
        }
        let local = offset.to_datetime(ts);
        Some(Stamp {
            year: local.year() as u16,
            month: local.month() as u8,
            day: local.day() as u8,
            hour: local.hour() as u8,
            minute: local.minute() as u8,
            second: local.second() as u8,
            offset: offset.seconds(),
        })
    }
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

    proptest::proptest! {
        /// The cached day equals jiff's civil date of the instant, for runs
        /// of nearby instants (cache hits) across DST changes and zones.
        #[test]
        fn day_of_agrees_with_jiff(start in 1_600_000_000i64..1_900_000_000, steps in proptest::collection::vec(-7_200i64..7_200, 1..200), zone in 0usize..4) {
            let name = ["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"][zone];
            let tz = TimeZone::get(name).unwrap();
            let mut mapper = DayMapper::new(tz.clone());
            let mut t = start;
            for step in steps {
                t += step;
                let date = tz.to_datetime(Timestamp::from_second(t).unwrap()).date();
                let want = days_from_civil(i32::from(date.year()), date.month() as u8, date.day() as u8);
                proptest::prop_assert_eq!(mapper.day_of(t), want, "{} at {}", name, t);
            }
        }

        /// With the one-date memo in play (runs of local times on nearby
        /// dates, across DST changes), `resolve` and `resolve_epoch` give what
        /// an uncached `ZoneCache` gives, and agree with each other.
        #[test]
        fn the_date_memo_changes_no_result(start in 1_600_000_000i64..1_900_000_000, steps in proptest::collection::vec(-90_000i64..90_000, 1..100), zone in 0usize..4) {
            let name = ["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"][zone];
            let tz = TimeZone::get(name).unwrap();
            let mut cached = ZoneCache::new(tz.clone());
            let mut t = start;
            for step in steps {
                t += step;
                let dt = tz.to_datetime(Timestamp::from_second(t).unwrap());
                let s = Stamp {
                    year: dt.year() as u16, month: dt.month() as u8, day: dt.day() as u8,
                    hour: dt.hour() as u8, minute: dt.minute() as u8, second: dt.second() as u8, offset: 0,
                };
                let fresh = ZoneCache::new(tz.clone()).resolve(s);
                proptest::prop_assert_eq!(cached.resolve(s), fresh, "{} {:?}", name, s);
                proptest::prop_assert_eq!(cached.resolve_epoch(s), fresh.map(|r| r.epoch_seconds()), "{} {:?}", name, s);
            }
        }
    }

    fn ams() -> ZoneCache {
        ZoneCache::new(TimeZone::get("Europe/Amsterdam").unwrap())
    }

    fn fmt(s: Stamp) -> String {
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
    fn dst_gap_and_fold() {
        let mut z = ams();
        // 2026-03-29 02:30 does not exist in Amsterdam: moved forward by the hour.
        assert_eq!(fmt(parse_start(b"2026-03-29 02:30:00", &mut z).unwrap()), "2026-03-29T03:30:00+02:00");
        // 2026-10-25 02:30 happens twice: the earlier instant (+02:00).
        assert_eq!(fmt(parse_start(b"2026-10-25 02:30:00", &mut z).unwrap()), "2026-10-25T02:30:00+02:00");
        assert_eq!(fmt(parse_start(b"2026-10-25 03:30:00", &mut z).unwrap()), "2026-10-25T03:30:00+01:00");
        assert_eq!(fmt(parse_start(b"2026-10-25 01:30:00", &mut z).unwrap()), "2026-10-25T01:30:00+02:00");
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
    fn day_mapper_follows_dst_and_zones() {
        let mut ams = DayMapper::new(TimeZone::get("Europe/Amsterdam").unwrap());
        let mut ny = DayMapper::new(TimeZone::get("America/New_York").unwrap());
        let mut z = ams_cache();
        for (local, day) in [
            ("2026-11-24 23:59:59", "2026-11-24"),
            ("2026-11-25 00:00:00", "2026-11-25"),
            ("2026-03-29 01:59:59", "2026-03-29"),
            ("2026-03-29 23:59:59", "2026-03-29"),
            ("2026-10-25 23:30:00", "2026-10-25"),
            ("2026-10-26 00:00:01", "2026-10-26"),
        ] {
            let s = parse_start(local.as_bytes(), &mut z).unwrap();
            assert_eq!(format_day(ams.day_of(s.epoch_seconds())), day, "{local}");
        }
        // 05:00 in Amsterdam is still the previous day in New York.
        let s = parse_start(b"2026-11-25 05:00:00", &mut z).unwrap();
        assert_eq!(format_day(ny.day_of(s.epoch_seconds())), "2026-11-24");
        assert_eq!(parse_day("2026-11-25").map(format_day).as_deref(), Some("2026-11-25"));
        assert_eq!(parse_day("2026-02-30"), None);
    }

    fn ams_cache() -> ZoneCache {
        ZoneCache::new(TimeZone::get("Europe/Amsterdam").unwrap())
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
