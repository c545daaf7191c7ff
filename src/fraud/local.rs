//! A customer's local clock: the local day of an instant (the same day as
//! IDS's `timefmt::DayMapper`: the date of the instant plus its UTC offset)
//! and the local time of day, for the night window. The offset is cached
//! for the span between two transitions of the zone (months for a DST
//! zone), so a lookup is a compare and an add.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Local days and times of day in one zone.
#[derive(Debug, Clone)]
pub struct LocalClock {
    /// The zone.
    tz: TimeZone,
    /// Instants in `[from, until)` have offset `offset` (seconds).
    from: i64,
    /// See `from`.
    until: i64,
    /// See `from`.
    offset: i64,
}

impl LocalClock {
    /// A clock in `tz`.
    pub fn new(tz: TimeZone) -> LocalClock {
        LocalClock { tz, from: 0, until: 0, offset: 0 }
    }

    /// Local seconds since 1970-01-01T00:00 local of `epoch` seconds.
    #[inline]
    pub fn local(&mut self, epoch: i64) -> i64 {
        if epoch < self.from || epoch >= self.until {
            self.refresh(epoch);
        }
        epoch + self.offset
    }

    /// The local day (days since 1970-01-01) of `epoch`.
    #[inline]
    pub fn day(&mut self, epoch: i64) -> i64 {
        self.local(epoch).div_euclid(86_400)
    }

    /// The local day and the seconds since local midnight of `epoch`.
    #[inline]
    pub fn day_and_time(&mut self, epoch: i64) -> (i64, u32) {
        let l = self.local(epoch);
        (l.div_euclid(86_400), l.rem_euclid(86_400) as u32)
    }

    /// Finds the offset of `epoch` and the span around it without a transition.
    fn refresh(&mut self, epoch: i64) {
        let Ok(ts) = Timestamp::from_second(epoch) else {
            // Outside jiff's range: UTC, for this instant only.
            (self.from, self.until, self.offset) = (epoch, epoch + 1, 0);
            return;
        };
        let offset = i64::from(self.tz.to_offset(ts).seconds());
        let steady =
            |t: i64| Timestamp::from_second(t).is_ok_and(|t| i64::from(self.tz.to_offset(t).seconds()) == offset);
        // The last transition at or before `epoch`, the first one after it;
        // both checked, so the cache is right however jiff counts a
        // transition at `epoch` itself.
        let after = Timestamp::from_second(epoch + 1).ok();
        let from = after
            .and_then(|a| self.tz.preceding(a).next())
            .map(|t| t.timestamp().as_second())
            .filter(|&t| t <= epoch && steady(t))
            .unwrap_or(epoch);
        let until = self
            .tz
            .following(ts)
            .next()
            .map(|t| t.timestamp().as_second())
            .filter(|&t| t > epoch && steady(t - 1))
            .unwrap_or(if self.tz.following(ts).next().is_none() { i64::MAX } else { epoch + 1 });
        (self.from, self.until, self.offset) = (from, until, offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock agrees with jiff at every second around both 2026 DST
    /// changes of Amsterdam and New York, and far from them.
    #[test]
    fn local_times_match_jiff_across_transitions() {
        for zone in ["Europe/Amsterdam", "America/New_York", "UTC", "Asia/Kolkata"] {
            let tz = TimeZone::get(zone).unwrap();
            let mut clock = LocalClock::new(tz.clone());
            let jan = Timestamp::from_second(1_767_225_600).unwrap(); // 2026-01-01
            let mut starts: Vec<i64> = tz.following(jan).take(2).map(|t| t.timestamp().as_second()).collect();
            starts.push(1_780_000_000);
            for start in starts {
                for epoch in (start - 7200..start + 7200).step_by(7).chain([start - 1, start, start + 1]) {
                    let ts = Timestamp::from_second(epoch).unwrap();
                    let want = tz.to_datetime(ts);
                    let days =
                        crate::timefmt::days_from_civil(i32::from(want.year()), want.month() as u8, want.day() as u8);
                    let secs = u32::from(want.hour() as u8) * 3600
                        + u32::from(want.minute() as u8) * 60
                        + want.second() as u32;
                    assert_eq!(clock.day_and_time(epoch), (days, secs), "{zone} at {epoch}");
                }
            }
        }
    }
}
