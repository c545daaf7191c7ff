//! Local times in a zone: [`ZoneCache`] (the UTC offset of a local day,
//! one jiff query per day) and [`DayMapper`] (the local day of an instant).
//!
//! Days with a DST change (two a year) take the exact jiff path for every row.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{days_from_civil, Stamp};

/// The UTC offset in force throughout day `day` and the `MAX_OFFSET`
/// around it, or `None` when a transition falls in that span (or the day
/// is out of range). Used for both local days and UTC days: with the margin,
/// one answer covers every instant either can hold.
pub(super) fn steady_offset(tz: &TimeZone, day: i64) -> Option<i32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::{format_day, parse_day, parse_start};

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

    use crate::timefmt::tests::{ams, fmt};

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
}
