//! Periods of a plan (SPEC §3.6): peak, off-peak, weekend, holidays.
//!
//! A plan lists `[[period]]`s; the first that covers a local instant wins,
//! and an instant none covers is in the base period `standard` (index 0).
//! [`Periods::walk`] cuts a call's talk interval at the instants where the
//! period can change: every `from`/`until` time of day, local midnight and
//! the zone's offset changes, in the customer's zone ([`LocalClock`]).
//! Adjacent stretches of one period are one segment.

use toml::de::DeValue;
use toml::Spanned;

use crate::timefmt::{days_from_civil, weekday, LocalClock};

/// Most periods one plan may define: a call's periods are packed four bits
/// each ([`Trail`]), with 0 for `standard`.
pub const MAX_PERIODS: usize = 15;

/// Name of the base period.
pub const STANDARD: &str = "standard";

/// One `[[period]]` as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodDef {
    /// The period's name, used by sub-tables and the output.
    pub name: String,
    /// Whole local dates (day numbers), sorted.
    dates: Vec<i64>,
    /// Days of the week, bit 0 = Monday; 0 when `days` is not given.
    days: u8,
    /// `[from, until)` as seconds of the day; `None` = the whole day.
    hours: Option<(u32, u32)>,
    /// 1-based line of the `[[period]]` header.
    pub line: u32,
}

impl PeriodDef {
    /// Whether this period covers `second_of_day` of local `day`, a
    /// `weekday` (0 = Monday).
    #[inline]
    fn covers(&self, day: i64, weekday: u8, second_of_day: u32) -> bool {
        let on_day = if self.dates.is_empty() && self.days == 0 {
            true
        } else {
            self.days & (1 << weekday) != 0 || (!self.dates.is_empty() && self.dates.binary_search(&day).is_ok())
        };
        on_day
            && match self.hours {
                None => true,
                Some((from, until)) if from < until => second_of_day >= from && second_of_day < until,
                Some((from, until)) => second_of_day < until || second_of_day >= from,
            }
    }
}

/// The periods of one plan, ready for rating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Periods {
    /// In the order written; period index `i + 1`.
    pub defs: Vec<PeriodDef>,
    /// Every `from`/`until` second of day, sorted and distinct.
    cuts: Vec<u32>,
}

impl Periods {
    /// Periods from their definitions.
    pub fn new(defs: Vec<PeriodDef>) -> Periods {
        let mut cuts: Vec<u32> = defs.iter().filter_map(|d| d.hours).flat_map(|(f, u)| [f, u]).collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts.retain(|&c| c > 0 && c < 86_400);
        Periods { defs, cuts }
    }

    /// Whether the plan has no periods (everything is `standard`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// The name of period `index` (0 = `standard`).
    pub fn name(&self, index: u8) -> &str {
        match index {
            0 => STANDARD,
            i => self.defs.get(usize::from(i) - 1).map_or(STANDARD, |d| d.name.as_str()),
        }
    }

    /// The index of the period named `name`.
    pub fn index_of(&self, name: &str) -> Option<u8> {
        self.defs.iter().position(|d| d.name == name).map(|i| i as u8 + 1)
    }

    /// The period of `second_of_day` on local `day`.
    #[inline]
    pub fn at(&self, day: i64, second_of_day: u32) -> u8 {
        let wd = weekday(day);
        self.defs.iter().position(|d| d.covers(day, wd, second_of_day)).map_or(0, |i| i as u8 + 1)
    }

    /// The next second of the day after `second_of_day` at which a period
    /// can start or end (86 400: midnight).
    #[inline]
    fn next_cut(&self, second_of_day: u32) -> u32 {
        self.cuts.iter().copied().find(|&c| c > second_of_day).unwrap_or(86_400)
    }

    /// Cuts `[start, start + seconds)` (epoch seconds) at period boundaries
    /// on `clock` and calls `segment(period, seconds)` for each stretch, in
    /// order, adjacent stretches of one period merged. A call of 0 seconds
    /// is one segment of 0 seconds in the period of its start.
    #[inline]
    pub fn walk(&self, start: i64, seconds: u32, clock: &mut LocalClock, mut segment: impl FnMut(u8, u32)) {
        let end = start + i64::from(seconds);
        let mut local = clock.local(start);
        let mut run = (self.at(local.day, local.second_of_day), 0u32);
        let mut t = start;
        while t < end {
            let next = clock.next_change(t, local, self.next_cut(local.second_of_day)).min(end);
            run.1 += (next - t) as u32;
            t = next;
            if t >= end {
                break;
            }
            local = clock.local(t);
            let period = self.at(local.day, local.second_of_day);
            if period != run.0 {
                segment(run.0, run.1);
                run = (period, 0);
            }
        }
        segment(run.0, run.1);
    }

    /// Indexes (into `defs`) of periods that can never win: every instant
    /// they cover is covered by an earlier period. Exact: only listed dates
    /// differ from their weekday, so each weekday and each listed date is
    /// checked second by second of its cut points.
    pub fn never_winning(&self) -> Vec<usize> {
        let mut sample_days: Vec<i64> = (0..7).map(|w| days_from_civil(2001, 1, 1) + w).collect();
        for d in &self.defs {
            sample_days.extend(&d.dates);
        }
        let listed: Vec<i64> = self.defs.iter().flat_map(|d| d.dates.iter().copied()).collect();
        let mut points = vec![0];
        points.extend(&self.cuts);
        (0..self.defs.len())
            .filter(|&i| {
                !sample_days.iter().any(|&day| {
                    // A weekday sample stands for the dates not listed anywhere.
                    let day =
                        if day < days_from_civil(2001, 1, 8) && listed.contains(&day) { day + 7 * 1000 } else { day };
                    points.iter().any(|&s| self.at(day, s) == i as u8 + 1)
                })
            })
            .collect()
    }
}

/// The periods a call's talk time went through, in order, packed four bits
/// each (a call in `standard` only is `Trail::default()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trail {
    /// Period indexes, the first in the low bits.
    packed: u64,
    /// Number of segments (more than 16: only the first 16 are kept).
    len: u16,
}

impl Trail {
    /// A trail of one period.
    #[inline]
    pub fn single(period: u8) -> Trail {
        Trail { packed: u64::from(period), len: 1 }
    }

    /// Appends the next segment's period.
    #[inline]
    pub fn push(&mut self, period: u8) {
        if self.len < 16 {
            self.packed |= u64::from(period & 15) << (4 * self.len);
        }
        self.len = self.len.saturating_add(1);
    }

    /// The period of a call in one period only.
    #[inline]
    pub fn single_period(&self) -> Option<u8> {
        (self.len <= 1).then_some(self.packed as u8 & 15)
    }

    /// Whether every segment is kept (at most 16).
    pub fn is_complete(&self) -> bool {
        self.len <= 16
    }

    /// The periods in order (at most 16; see [`Trail::is_complete`]).
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        let n = if self.len == 0 { 1 } else { self.len.min(16) };
        (0..n).map(|i| (self.packed >> (4 * i)) as u8 & 15)
    }
}

/// Reads `HH:MM` (00:00..=24:00) as seconds of the day.
fn time_of_day(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 3600 + m * 60)
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses the `period` array of a plan: every problem goes to `error` with
/// its byte offset; `line` turns an offset into a line.
pub(super) fn parse(
    value: &Spanned<DeValue<'_>>,
    line: &dyn Fn(usize) -> u32,
    reserved: &[&str],
    error: &mut dyn FnMut(usize, String),
) -> Vec<PeriodDef> {
    let DeValue::Array(items) = value.get_ref() else {
        error(value.span().start, "period must be an array of tables: [[period]]".into());
        return Vec::new();
    };
    let mut out: Vec<PeriodDef> = Vec::new();
    for item in items {
        let at = item.span().start;
        let DeValue::Table(t) = item.get_ref() else {
            error(at, "each period must be a table: [[period]]".into());
            continue;
        };
        let mut def = PeriodDef { name: String::new(), dates: Vec::new(), days: 0, hours: None, line: line(at) };
        let (mut from, mut until) = (None, None);
        let failed = std::cell::Cell::new(false);
        let mut fail = |offset: usize, message: String| {
            failed.set(true);
            error(offset, message);
        };
        for (key, v) in t {
            let k = key.get_ref().as_ref();
            let vat = v.span().start;
            let text = |v: &Spanned<DeValue<'_>>| match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                _ => None,
            };
            let list = |v: &Spanned<DeValue<'_>>| match v.get_ref() {
                DeValue::Array(a) => a.iter().map(|x| text(x).map(|s| (s, x.span().start))).collect::<Option<Vec<_>>>(),
                _ => None,
            };
            match k {
                "name" => match text(v) {
                    Some(n)
                        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                    {
                        fail(vat, format!("period name {n:?}: use letters, digits, '-' and '_'"))
                    }
                    Some(n) if n == STANDARD || reserved.contains(&n.as_str()) => {
                        fail(vat, format!("period name {n:?} is reserved"))
                    }
                    Some(n) => def.name = n,
                    None => fail(vat, "period name must be a quoted string".into()),
                },
                "dates" => match list(v) {
                    Some(dates) => {
                        for (d, dat) in dates {
                            match crate::timefmt::parse_day(&d) {
                                Some(day) => def.dates.push(day),
                                None => fail(dat, format!("period date {d:?} is not a date YYYY-MM-DD")),
                            }
                        }
                    }
                    None => fail(vat, "dates must be a list of quoted dates, e.g. [\"2026-12-25\"]".into()),
                },
                "days" => match list(v) {
                    Some(days) => {
                        for (d, dat) in days {
                            match DAY_NAMES.iter().position(|n| *n == d) {
                                Some(i) => def.days |= 1 << i,
                                None => fail(dat, format!("period day {d:?} is not one of {}", DAY_NAMES.join(", "))),
                            }
                        }
                    }
                    None => fail(vat, "days must be a list such as [\"sat\", \"sun\"]".into()),
                },
                "from" | "until" => match text(v).as_deref().map(|s| (s, time_of_day(s))) {
                    Some((_, Some(s))) if k == "from" && s < 86_400 => from = Some(s),
                    Some((_, Some(s))) if k == "until" => until = Some(s),
                    Some((s, _)) => fail(vat, format!("period {k} {s:?} is not a time HH:MM")),
                    None => fail(vat, format!("period {k} must be a quoted time such as \"19:00\"")),
                },
                other => fail(
                    key.span().start,
                    format!("unknown period key {other:?} (expected name, dates, days, from, until)"),
                ),
            }
        }
        match (from, until) {
            (Some(f), Some(u)) if f == u % 86_400 => {
                fail(at, "period from and until are equal: the period is empty".into())
            }
            (Some(f), Some(u)) => def.hours = Some((f, u)),
            (None, None) => {}
            // A refused `from` or `until` has its error already.
            _ if failed.get() => {}
            _ => fail(at, "a period needs both from and until, or neither".into()),
        }
        if def.name.is_empty() && !failed.get() {
            fail(at, "a period needs a name".into());
        } else if out.iter().any(|d| d.name == def.name) {
            fail(at, format!("duplicate period name {:?}", def.name));
        }
        if !failed.get() {
            def.dates.sort_unstable();
            def.dates.dedup();
            out.push(def);
        }
    }
    if out.len() > MAX_PERIODS {
        error(value.span().start, format!("at most {MAX_PERIODS} periods per plan"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn periods(text: &str) -> Periods {
        let doc = toml::de::DeTable::parse(text).unwrap();
        let mut errors = Vec::new();
        let defs = parse(&doc.get_ref()["period"], &|_| 1, &[], &mut |_, m| errors.push(m));
        assert!(errors.is_empty(), "{errors:?}");
        Periods::new(defs)
    }

    const SPEC: &str = r#"
[[period]]
name = "holiday"
dates = ["2026-12-25", "2026-12-26"]
[[period]]
name = "weekend"
days = ["sat", "sun"]
[[period]]
name = "offpeak"
days = ["mon", "tue", "wed", "thu", "fri"]
from = "19:00"
until = "08:00"
"#;

    fn ams_at(local: &str) -> i64 {
        let dt: jiff::civil::DateTime = local.parse().unwrap();
        TimeZone::get("Europe/Amsterdam").unwrap().to_ambiguous_timestamp(dt).compatible().unwrap().as_second()
    }

    fn segments(p: &Periods, local: &str, secs: u32) -> Vec<(String, u32)> {
        let mut clock = LocalClock::new(TimeZone::get("Europe/Amsterdam").unwrap());
        let mut out = Vec::new();
        p.walk(ams_at(local), secs, &mut clock, |period, s| out.push((p.name(period).to_string(), s)));
        out
    }

    #[test]
    fn spec_example_cuts() {
        let p = periods(SPEC);
        // Tuesday 18:58 for 5 minutes: 2 min standard, 3 min offpeak.
        assert_eq!(segments(&p, "2026-12-01T18:58:00", 300), [("standard".into(), 120), ("offpeak".into(), 180)]);
        // Tuesday night into Wednesday: one offpeak segment across midnight.
        assert_eq!(segments(&p, "2026-12-01T23:50:00", 1200), [("offpeak".into(), 1200)]);
        // Friday 23:55 for 10 minutes: offpeak then weekend.
        assert_eq!(segments(&p, "2026-12-04T23:55:00", 600), [("offpeak".into(), 300), ("weekend".into(), 300)]);
        // Christmas Friday beats offpeak; Thursday 07:59 → standard at 08:00.
        assert_eq!(segments(&p, "2026-12-25T20:00:00", 60), [("holiday".into(), 60)]);
        assert_eq!(segments(&p, "2026-12-24T07:59:00", 120), [("offpeak".into(), 60), ("standard".into(), 60)]);
        // Unanswered: the period of its start.
        assert_eq!(segments(&p, "2026-12-05T12:00:00", 0), [("weekend".into(), 0)]);
    }

    #[test]
    fn dst_change_inside_a_call() {
        // 2026-10-25 (Sunday) is 25 hours long: a call from Saturday 23:00
        // to Sunday 03:00 CET is 5 hours of weekend.
        let p = periods(SPEC);
        assert_eq!(segments(&p, "2026-10-24T23:00:00", 5 * 3600), [("weekend".into(), 5 * 3600)]);
        // Friday 2026-03-27 18:00 → Monday 09:00 across the spring change:
        // 1 h standard, offpeak to Sat 00:00 (5 h), weekend Sat+Sun (47 h:
        // Sunday has 23 hours), offpeak Mon 00:00-08:00, standard 1 h.
        let got = segments(&p, "2026-03-27T18:00:00", (1 + 5 + 47 + 8 + 1) * 3600);
        let want = [(1, "standard"), (5, "offpeak"), (47, "weekend"), (8, "offpeak"), (1, "standard")];
        assert_eq!(got, want.map(|(h, n)| (n.to_string(), h * 3600)));
    }

    #[test]
    fn trail_packs_sixteen() {
        let mut t = Trail::default();
        for i in 0..17 {
            t.push(i % 3);
        }
        assert!(!t.is_complete());
        assert_eq!(t.iter().count(), 16);
        assert_eq!(Trail::default().iter().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn refuses_malformed_periods() {
        let doc = toml::de::DeTable::parse(
            "[[period]]\nname = \"x\"\ndays = [\"sunday\"]\n[[period]]\nname = \"x\"\nfrom = \"25:00\"\nuntil = \"08:00\"\n[[period]]\nname = \"y\"\nfrom = \"19:00\"\n[[period]]\nname = \"z\"\ndates = [\"2026-02-30\"]\n[[period]]\nname = \"standard\"\n",
        )
        .unwrap();
        let mut errors = Vec::new();
        parse(&doc.get_ref()["period"], &|_| 1, &[], &mut |_, m| errors.push(m));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn finds_periods_that_never_win() {
        let p = periods(
            "[[period]]\nname = \"weekend\"\ndays = [\"sat\", \"sun\"]\n[[period]]\nname = \"sunday\"\ndays = [\"sun\"]\nfrom = \"10:00\"\nuntil = \"12:00\"\n[[period]]\nname = \"xmas\"\ndates = [\"2026-12-25\"]\n",
        );
        assert_eq!(p.never_winning(), [1]);
        assert!(periods(SPEC).never_winning().is_empty());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    fn def(name: &str, days: u8, hours: Option<(u32, u32)>, dates: Vec<i64>) -> PeriodDef {
        PeriodDef { name: name.into(), dates, days, hours, line: 1 }
    }

    fn periods() -> impl Strategy<Value = Periods> {
        let one = (any::<u8>(), prop::option::of((0u32..96, 0u32..96)), prop::collection::vec(20_400i64..20_800, 0..3));
        prop::collection::vec(one, 0..5).prop_map(|defs| {
            let defs = defs
                .into_iter()
                .enumerate()
                .map(|(i, (days, hours, dates))| {
                    let hours = hours.filter(|(f, u)| f != u).map(|(f, u)| (f * 900, u * 900));
                    def(&format!("p{i}"), days & 127, hours, dates)
                })
                .collect();
            Periods::new(defs)
        })
    }

    proptest! {
        /// Segments cover the talk time exactly, each in the period that
        /// covers its first second, and adjacent segments differ.
        #[test]
        fn segments_sum_to_the_talk_time(
            p in periods(),
            start in 1_760_000_000i64..1_800_000_000,
            seconds in 0u32..200_000,
            zone in 0usize..3,
        ) {
            let name = ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe"][zone];
            let tz = TimeZone::get(name).unwrap();
            let mut clock = LocalClock::new(tz.clone());
            let mut segments = Vec::new();
            p.walk(start, seconds, &mut clock, |period, s| segments.push((period, s)));
            let total: u64 = segments.iter().map(|s| u64::from(s.1)).sum();
            prop_assert_eq!(total, u64::from(seconds));
            prop_assert!(segments.windows(2).all(|w| w[0].0 != w[1].0), "{:?}", segments);
            // Each segment's period is the period of its first second, and
            // of its last, on jiff's own clock.
            let mut t = start;
            for &(period, s) in &segments {
                for probe in [t, t + i64::from(s.max(1)) - 1] {
                    let dt = tz.to_datetime(jiff::Timestamp::from_second(probe).unwrap());
                    let day = days_from_civil(i32::from(dt.year()), dt.month() as u8, dt.day() as u8);
                    let sod = dt.hour() as u32 * 3600 + dt.minute() as u32 * 60 + dt.second() as u32;
                    prop_assert_eq!(p.at(day, sod), period, "{} at {}", name, probe);
                }
                t += i64::from(s);
            }
        }
    }
}
