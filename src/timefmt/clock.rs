//! [`LocalClock`]: the local day and time of day of instants in one zone,
//! and the instant a local time of day is reached, for cutting calls at
//! period boundaries (SPEC §3.6).
//!
//! A day whose UTC offset is steady (no transition within it or near it) is
//! remembered, so the instants of one day cost two comparisons and a
//! subtraction; a day with a DST change goes through jiff for every step.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::zone::steady_offset;
use super::{civil_from_days, days_from_civil};

/// Where an instant falls on the local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Local day (days since 1970-01-01).
    pub day: i64,
    /// Seconds since local midnight (0..86_400; a repeated hour repeats them).
    pub second_of_day: u32,
    /// The instant of local midnight when the whole day has one offset: a
    /// time of day `s` of this day is then the instant `midnight + s`.
    steady_midnight: Option<i64>,
}

/// Day of week of a day number: 0 = Monday … 6 = Sunday.
pub fn weekday(day: i64) -> u8 {
    // 1970-01-01 was a Thursday.
    (day + 3).rem_euclid(7) as u8
}

/// Local times of instants in one zone, with a one-day memo.
pub struct LocalClock {
    tz: TimeZone,
    /// The last steady day: instants in `[.0, .0 + 86_400)` are on day `.1`.
    memo: Option<(i64, i64)>,
}

impl LocalClock {
    /// A clock for `tz`.
    pub fn new(tz: TimeZone) -> Self {
        LocalClock { tz, memo: None }
    }

    /// The local day and time of day of `epoch` seconds.
    #[inline]
    pub fn local(&mut self, epoch: i64) -> LocalTime {
        if let Some((midnight, day)) = self.memo {
            if epoch >= midnight && epoch < midnight + 86_400 {
                return LocalTime { day, second_of_day: (epoch - midnight) as u32, steady_midnight: Some(midnight) };
            }
        }
        self.local_slow(epoch)
    }

    #[inline(never)]
    fn local_slow(&mut self, epoch: i64) -> LocalTime {
        let Ok(ts) = Timestamp::from_second(epoch) else {
            // Out of jiff's range (year 10000): treat as UTC.
            let day = epoch.div_euclid(86_400);
            return LocalTime { day, second_of_day: epoch.rem_euclid(86_400) as u32, steady_midnight: None };
        };
        let offset = i64::from(self.tz.to_offset(ts).seconds());
        let day = (epoch + offset).div_euclid(86_400);
        if steady_offset(&self.tz, day).is_some_and(|o| i64::from(o) == offset) {
            let midnight = day * 86_400 - offset;
            self.memo = Some((midnight, day));
            return LocalTime { day, second_of_day: (epoch - midnight) as u32, steady_midnight: Some(midnight) };
        }
        let dt = self.tz.to_datetime(ts);
        let day = days_from_civil(i32::from(dt.year()), dt.month() as u8, dt.day() as u8);
        let sod = dt.hour() as u32 * 3600 + dt.minute() as u32 * 60 + dt.second() as u32;
        LocalTime { day, second_of_day: sod, steady_midnight: None }
    }

    /// The first instant after `now` (which is at `at` on the local clock)
    /// at which the local time of day reaches `second_of_day` of the same
    /// local day (`86_400` = the next midnight), or at which the zone's
    /// offset changes, whichever is first. Always later than `now`.
    pub fn next_change(&self, now: i64, at: LocalTime, second_of_day: u32) -> i64 {
        if let Some(midnight) = at.steady_midnight {
            return (midnight + i64::from(second_of_day)).max(now + 1);
        }
        let target = self.instant_after(now, at.day, second_of_day).unwrap_or(i64::MAX);
        let transition = Timestamp::from_second(now)
            .ok()
            .and_then(|ts| self.tz.following(ts).next())
            .map_or(i64::MAX, |t| t.timestamp().as_second());
        let next = target.min(transition);
        if next == i64::MAX {
            now + 86_400
        } else {
            next
        }
    }

    /// The first instant after `now` showing local time `second_of_day` of
    /// `day` (in a repeated hour, the second showing counts too; a time in a
    /// gap is the instant the gap ends).
    fn instant_after(&self, now: i64, day: i64, second_of_day: u32) -> Option<i64> {
        let (day, sod) = (day + i64::from(second_of_day / 86_400), second_of_day % 86_400);
        let (y, m, d) = civil_from_days(day);
        let date = Date::new(y as i16, m as i8, d as i8).ok()?;
        let time = jiff::civil::Time::new((sod / 3600) as i8, (sod / 60 % 60) as i8, (sod % 60) as i8, 0).ok()?;
        let ambiguous = self.tz.to_ambiguous_timestamp(DateTime::from_parts(date, time));
        [ambiguous.earlier(), ambiguous.later()]
            .into_iter()
            .filter_map(|t| t.ok().map(|t| t.as_second()))
            .find(|&t| t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(name: &str) -> LocalClock {
        LocalClock::new(TimeZone::get(name).unwrap())
    }

    fn at(name: &str, local: &str) -> i64 {
        let dt: DateTime = local.parse().unwrap();
        TimeZone::get(name).unwrap().to_ambiguous_timestamp(dt).compatible().unwrap().as_second()
    }

    #[test]
    fn weekdays() {
        assert_eq!(weekday(0), 3); // Thursday 1970-01-01
        assert_eq!(weekday(days_from_civil(2026, 12, 5)), 5); // Saturday
        assert_eq!(weekday(days_from_civil(2026, 12, 7)), 0); // Monday
    }

    #[test]
    fn steady_day_and_next_cut() {
        let mut c = clock("Europe/Amsterdam");
        let t = at("Europe/Amsterdam", "2026-12-01T18:59:00");
        let l = c.local(t);
        assert_eq!(l.second_of_day, 18 * 3600 + 59 * 60);
        assert_eq!(l.day, days_from_civil(2026, 12, 1));
        assert_eq!(c.next_change(t, l, 19 * 3600), t + 60);
        assert_eq!(c.next_change(t, l, 86_400), at("Europe/Amsterdam", "2026-12-02T00:00:00"));
    }

    #[test]
    fn dst_days_take_the_exact_path() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; the day has 25 hours.
        let mut c = clock("Europe/Amsterdam");
        let t = at("Europe/Amsterdam", "2026-10-25T01:30:00");
        let l = c.local(t);
        assert_eq!(l.second_of_day, 5400);
        // Next change: the transition at 01:00 UTC (03:00 CEST), before 08:00.
        let next = c.next_change(t, l, 8 * 3600);
        assert_eq!(next, 1_792_890_000);
        let l2 = c.local(next);
        assert_eq!(l2.second_of_day, 2 * 3600);
        let eight = c.next_change(next, l2, 8 * 3600);
        assert_eq!(eight - t, 7 * 3600 + 1800);
        // Spring: 2026-03-29 has 23 hours; midnight to midnight.
        let t = at("Europe/Amsterdam", "2026-03-29T00:00:00");
        let l = c.local(t);
        let next = c.next_change(t, l, 86_400);
        let l2 = c.local(next);
        let end = c.next_change(next, l2, 86_400);
        assert_eq!(end - t, 23 * 3600);
    }
}
