//! The strftime engine of custom layouts (`timefmt::TimeFormat`, including
//! its fixed-position fast path) against jiff's `strtime`, on the
//! specifiers both support: `%Y %y %m %b %d %e %H %M %S %f %s %z %T %F %%`.
//!
//! Random valid civil times, offsets and epoch seconds are printed by jiff
//! with random formats built from those specifiers and random literals,
//! then parsed back by jiff and by us: the results must be equal. A sample
//! of corrupted strings (one or two bytes deleted, inserted or replaced)
//! must be refused by us whenever jiff refuses them (and when we accept
//! one, jiff must read the same time from it).
//!
//! Where the two legitimately differ (each pinned by
//! `documented_differences` below):
//! - our `%z` takes `+hhmm`, `+hh:mm`, `+hh` and `Z`; jiff spells these
//!   `%z`, `%:z` and `%:::z`, and none of them takes `Z`. The test prints
//!   and parses with one of jiff's three, compares corrupted strings
//!   against any of them, and never inserts a `Z`. Jiff's `%:::z` prints
//!   `+hh` but reads it only at the end of the input (followed by anything,
//!   it wants `:mm`): the test then gives jiff `+hh:00` in its place;
//! - our `%b` takes the full name too (jiff's `%B`): likewise;
//! - our `%f` takes any number of digits, jiff's at most 9: fractions are
//!   printed with at most 7 digits, so two insertions stay within 9;
//! - our `%s` reads up to 9999-12-31T23:59:59Z (the range of CUCM's epoch
//!   times), jiff's timestamps end at 9999-12-30T22:00:00Z: between the two
//!   we accept what jiff refuses;
//! - a fraction without seconds (`%H:%M.%f`): we drop it, jiff refuses to
//!   build a time from it; `%f` is generated only with `%S` or `%T`;
//! - we trim the blanks around a value before matching it (a layout's
//!   fields are trimmed): corrupted strings are given to jiff trimmed, and
//!   formats never start or end with a blank (we could never match them);
//! - we are stricter elsewhere, which only makes us refuse more: `%Y` is
//!   exactly 4 digits and `%y` 2 (jiff: 1 to 4 with a sign, 1 or 2), no
//!   blanks before numbers except `%e`'s one pad space, a blank in the
//!   format matches exactly itself (jiff: any run of whitespace, or none),
//!   second 60 is refused (jiff reads 59), year 0 and offsets of 24 hours
//!   or more are refused, `%s` has no sign and at most 12 digits.

use cdr_rater::timefmt::{Stamp, TimeFormat};
use jiff::civil::DateTime;
use jiff::fmt::strtime::{self, BrokenDownTime};
use jiff::tz::Offset;
use jiff::Timestamp;
use proptest::prelude::*;

/// One directive of a generated format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Year2,
    Month,
    MonthName,
    Day,
    DaySpace,
    Hour,
    Minute,
    Second,
    Fraction,
    Time,
    Date,
    Offset,
    Percent,
    Epoch,
}

impl Unit {
    /// Our spelling.
    fn ours(self) -> &'static str {
        self.jiff()[0]
    }

    /// Jiff's spellings of the same thing (see the module doc).
    fn jiff(self) -> &'static [&'static str] {
        match self {
            Unit::Year => &["%Y"],
            Unit::Year2 => &["%y"],
            Unit::Month => &["%m"],
            Unit::MonthName => &["%b", "%B"],
            Unit::Day => &["%d"],
            Unit::DaySpace => &["%e"],
            Unit::Hour => &["%H"],
            Unit::Minute => &["%M"],
            Unit::Second => &["%S"],
            Unit::Fraction => &["%f"],
            Unit::Time => &["%T"],
            Unit::Date => &["%F"],
            Unit::Offset => &["%z", "%:z", "%:::z"],
            Unit::Percent => &["%%"],
            Unit::Epoch => &["%s"],
        }
    }

    /// Printed starting with a digit (or `%e`'s pad space and a digit).
    fn starts_with_digit(self) -> bool {
        !matches!(self, Unit::MonthName | Unit::Offset | Unit::Percent)
    }

    /// Printed with a varying number of digits: a digit right after it
    /// would be read as part of it, by both parsers.
    fn open_ended(self) -> bool {
        matches!(self, Unit::DaySpace | Unit::Fraction | Unit::Epoch)
    }
}

/// Literals between directives: no `Z`, no digits.
const SEPS: [&str; 11] = ["", "-", "/", ".", ":", " ", "T", ", ", "_", " - ", "h"];
const PREFIXES: [&str; 4] = ["", "[", "at ", "é"];
const SUFFIXES: [&str; 4] = ["", "]", " h", "·"];

/// A generated format: its directives (with the jiff spelling chosen for
/// printing) and literals.
#[derive(Debug, Clone)]
struct Layout {
    /// `(unit, index into unit.jiff())`, in order.
    units: Vec<(Unit, usize)>,
    /// `seps[i]` comes before `units[i]`; the last one ends the format.
    seps: Vec<&'static str>,
}

impl Layout {
    fn build(units: Vec<(Unit, usize)>, picks: &[usize], prefix: usize, suffix: usize) -> Layout {
        let mut seps = vec![PREFIXES[prefix]];
        for (i, pair) in units.windows(2).enumerate() {
            let (prev, next) = (pair[0].0, pair[1].0);
            let mut sep = SEPS[picks[i] % SEPS.len()];
            // A directive that ends open must be closed by a literal before
            // digits; an offset by a literal that cannot continue it.
            let needs_sep = (prev.open_ended() && next.starts_with_digit()) || prev == Unit::Offset;
            if needs_sep && (sep.is_empty() || (prev == Unit::Offset && sep == ":")) {
                sep = "/";
            }
            seps.push(sep);
        }
        seps.push(SUFFIXES[suffix]);
        Layout { units, seps }
    }

    fn has(&self, u: Unit) -> bool {
        self.units.iter().any(|(x, _)| *x == u)
    }

    fn kind(&self) -> Kind {
        if self.has(Unit::Epoch) {
            Kind::Epoch
        } else if self.has(Unit::Offset) {
            Kind::Exact
        } else {
            Kind::Local
        }
    }

    /// The format with our spellings, or with jiff's (`choice`: per unit).
    fn text(&self, spelling: impl Fn(usize, Unit, usize) -> &'static str) -> String {
        let mut s = String::new();
        for (i, &(u, pick)) in self.units.iter().enumerate() {
            s.push_str(self.seps[i]);
            s.push_str(spelling(i, u, pick));
        }
        s.push_str(self.seps[self.units.len()]);
        s
    }

    fn ours(&self) -> String {
        self.text(|_, u, _| u.ours())
    }

    fn jiff_chosen(&self) -> String {
        self.text(|_, u, pick| u.jiff()[pick])
    }

    /// Every jiff spelling of the format (at most 2 x 3).
    fn jiff_all(&self) -> Vec<String> {
        let mut all = vec![Vec::<usize>::new()];
        for &(u, _) in &self.units {
            all = all.into_iter().flat_map(|p| (0..u.jiff().len()).map(move |k| [&p[..], &[k]].concat())).collect();
        }
        all.iter().map(|p| self.text(|i, u, _| u.jiff()[p[i]])).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    Exact,
    Epoch,
}

/// A parse result, comparable across the two parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Wall-clock time: year, month, day, hour, minute, second.
    Local([i64; 6]),
    /// Wall-clock time and its UTC offset in seconds.
    Exact([i64; 6], i32),
    /// Seconds since the epoch.
    Epoch(i64),
}

fn civil(s: &Stamp) -> [i64; 6] {
    [s.year, u16::from(s.month), u16::from(s.day), u16::from(s.hour), u16::from(s.minute), u16::from(s.second)]
        .map(i64::from)
}

fn ours(format: &str, kind: Kind, input: &[u8]) -> Option<Outcome> {
    let tf = TimeFormat::compile(format).unwrap_or_else(|e| panic!("{format:?}: {e}"));
    let (s, exact) = tf.parse(input)?;
    Some(match (kind, exact) {
        (Kind::Epoch, true) => Outcome::Epoch(s.epoch_seconds()),
        (_, true) => Outcome::Exact(civil(&s), s.offset),
        (_, false) => Outcome::Local(civil(&s)),
    })
}

fn jiff_civil(dt: DateTime) -> [i64; 6] {
    [dt.year(), dt.month().into(), dt.day().into(), dt.hour().into(), dt.minute().into(), dt.second().into()]
        .map(i64::from)
}

fn jiff(format: &str, kind: Kind, input: &[u8]) -> Option<Outcome> {
    let tm = strtime::parse(format, input).ok()?;
    Some(match kind {
        Kind::Local => Outcome::Local(jiff_civil(tm.to_datetime().ok()?)),
        Kind::Exact => Outcome::Exact(jiff_civil(tm.to_datetime().ok()?), tm.offset()?.seconds()),
        Kind::Epoch => Outcome::Epoch(tm.to_timestamp().ok()?.as_second()),
    })
}

/// Jiff's reading under our spellings: any of its spellings that accepts.
/// Jiff's `%:::z` prints `+hh` but reads it only at the end of the input
/// (module doc): failing all, a `+hh` not followed by a digit or `:` is
/// tried as `+hh:00`, at each place it occurs.
fn jiff_any(layout: &Layout, input: &[u8]) -> Option<Outcome> {
    let read = |input: &[u8]| -> Option<Outcome> {
        let found: Vec<Outcome> = layout.jiff_all().iter().filter_map(|f| jiff(f, layout.kind(), input)).collect();
        assert!(found.windows(2).all(|w| w[0] == w[1]), "jiff's spellings disagree on {input:?}: {found:?}");
        found.first().copied()
    };
    read(input).or_else(|| {
        (0..input.len()).find_map(|i| match input[i..] {
            [b'+' | b'-', h, l, ref rest @ ..]
                if layout.kind() == Kind::Exact
                    && h.is_ascii_digit()
                    && l.is_ascii_digit()
                    && !matches!(rest.first(), Some(b'0'..=b'9' | b':') | None) =>
            {
                read(&[&input[..i + 3], b":00", rest].concat())
            }
            _ => None,
        })
    })
}

/// Formats of civil times (with or without an offset).
fn civil_layouts() -> impl Strategy<Value = Layout> {
    let date = prop_oneof![
        Just(vec![Unit::Date]),
        (
            prop_oneof![Just(Unit::Year), Just(Unit::Year2)],
            prop_oneof![Just(Unit::Month), Just(Unit::MonthName)],
            prop_oneof![Just(Unit::Day), Just(Unit::DaySpace)]
        )
            .prop_map(|(y, m, d)| vec![y, m, d]),
    ];
    let time = prop_oneof![
        Just(vec![Unit::Time]),
        any::<bool>().prop_map(|s| if s {
            vec![Unit::Hour, Unit::Minute, Unit::Second]
        } else {
            vec![Unit::Hour, Unit::Minute]
        }),
    ];
    let extras = (any::<bool>(), any::<bool>(), any::<bool>());
    (date, time, extras)
        .prop_flat_map(|(date, time, (fraction, offset, percent))| {
            // jiff builds no time from a fraction without seconds (module doc).
            let fraction = fraction && time.iter().any(|u| matches!(u, Unit::Second | Unit::Time));
            let mut units: Vec<Unit> = date.into_iter().chain(time).collect();
            units.extend(
                [(fraction, Unit::Fraction), (offset, Unit::Offset), (percent, Unit::Percent)]
                    .into_iter()
                    .filter_map(|(on, u)| on.then_some(u)),
            );
            let n = units.len();
            (
                Just(units).prop_shuffle(),
                proptest::collection::vec(0usize..6, n),
                proptest::collection::vec(any::<usize>(), n),
                0..PREFIXES.len(),
                0..SUFFIXES.len(),
            )
        })
        .prop_map(|(units, spell, picks, prefix, suffix)| {
            let units = units.into_iter().zip(spell).map(|(u, k)| (u, k % u.jiff().len())).collect();
            Layout::build(units, &picks, prefix, suffix)
        })
}

/// Formats of only full-width numbers and non-digit literals: the ones our
/// fixed-position fast path takes.
fn fixed_layouts() -> impl Strategy<Value = Layout> {
    let units = prop_oneof![
        Just(vec![Unit::Date, Unit::Time]),
        Just(vec![Unit::Year, Unit::Month, Unit::Day, Unit::Hour, Unit::Minute, Unit::Second]),
        Just(vec![Unit::Year2, Unit::Month, Unit::Day, Unit::Hour, Unit::Minute]),
    ];
    (units.prop_shuffle(), proptest::collection::vec(any::<usize>(), 6), any::<bool>()).prop_map(
        |(units, picks, bracket)| {
            let units = units.into_iter().map(|u| (u, 0)).collect();
            Layout::build(units, &picks, usize::from(bracket), usize::from(bracket))
        },
    )
}

/// Formats of epoch seconds.
fn epoch_layouts() -> impl Strategy<Value = Layout> {
    (any::<bool>(), any::<bool>())
        .prop_flat_map(|(fraction, percent)| {
            let mut units = vec![Unit::Epoch];
            units.extend(
                [(fraction, Unit::Fraction), (percent, Unit::Percent)]
                    .into_iter()
                    .filter_map(|(on, u)| on.then_some(u)),
            );
            let n = units.len();
            (
                Just(units).prop_shuffle(),
                proptest::collection::vec(any::<usize>(), n),
                0..PREFIXES.len(),
                0..SUFFIXES.len(),
            )
        })
        .prop_map(|(units, picks, prefix, suffix)| {
            Layout::build(units.into_iter().map(|u| (u, 0)).collect(), &picks, prefix, suffix)
        })
}

/// A time for a layout: civil fields (years 1969-2068 when `%y` prints
/// them), a whole-minute offset below 24 hours, a fraction of at most 7
/// digits; or epoch seconds within jiff's range.
fn times(layout: Layout) -> impl Strategy<Value = (Layout, BrokenDownTime, Outcome)> {
    let years = if layout.has(Unit::Year2) { 1969i16..=2068 } else { 1i16..=9999 };
    let civil = (years, 1i8..=12, 1i8..=31, 0i8..24, 0i8..60, 0i8..60, 0i32..10_000_000, -(24 * 60 - 1)..(24 * 60));
    let epoch = (0..=Timestamp::MAX.as_second(), 0i32..10_000_000);
    (Just(layout), civil, epoch).prop_map(|(layout, (y, mo, d, h, mi, s, frac, offset), (secs, efrac))| {
        if layout.kind() == Kind::Epoch {
            let ts = Timestamp::new(secs, efrac * 100).unwrap();
            return (layout, BrokenDownTime::from(ts), Outcome::Epoch(secs));
        }
        let d = d.min(jiff::civil::date(y, mo, 1).days_in_month());
        let dt = DateTime::new(y, mo, d, h, mi, s, frac * 100).unwrap();
        let second = if layout.has(Unit::Second) || layout.has(Unit::Time) { s } else { 0 };
        let fields = [y.into(), mo.into(), d.into(), h.into(), mi.into(), second.into()];
        let mut tm = BrokenDownTime::from(dt);
        let want = if layout.kind() == Kind::Exact {
            tm.set_offset(Some(Offset::from_seconds(offset * 60).unwrap()));
            Outcome::Exact(fields, offset * 60)
        } else {
            Outcome::Local(fields)
        };
        (layout, tm, want)
    })
}

fn cases() -> impl Strategy<Value = (Layout, BrokenDownTime, Outcome)> {
    prop_oneof![4 => civil_layouts(), 2 => fixed_layouts(), 1 => epoch_layouts()].prop_flat_map(times)
}

/// Bytes a corruption may insert: digits, signs, literals, letters of month
/// names, blanks, bytes of `é`, a byte that is never UTF-8; never `Z` or `z`.
const ALPHABET: &[u8] = b"0123456789+-:./T%, _[]hJjaAnNuUrRyYeE\t\xc3\xa9\xff";

fn corrupt(text: &str, edits: &[(u8, usize, usize)]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for &(op, at, byte) in edits {
        let c = ALPHABET[byte % ALPHABET.len()];
        match op % 3 {
            0 if !b.is_empty() => {
                b.remove(at % b.len());
            }
            1 => b.insert(at % (b.len() + 1), c),
            _ if !b.is_empty() => {
                let i = at % b.len();
                b[i] = c;
            }
            _ => b.push(c),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// What jiff prints, jiff and we read back alike, and as printed.
    #[test]
    fn valid_times_parse_like_jiff((layout, tm, want) in cases()) {
        let printed = tm.to_string(layout.jiff_chosen()).unwrap();
        let theirs =
            jiff(&layout.jiff_chosen(), layout.kind(), printed.as_bytes()).or_else(|| jiff_any(&layout, printed.as_bytes()));
        prop_assert_eq!(theirs, Some(want), "jiff {:?} on {:?}", layout.jiff_chosen(), printed);
        prop_assert_eq!(ours(&layout.ours(), layout.kind(), printed.as_bytes()), Some(want), "ours {:?} on {:?}", layout.ours(), printed);
    }

    /// What jiff refuses, we refuse; what we accept, jiff reads alike.
    #[test]
    fn corrupted_times_are_refused_where_jiff_refuses(
        (layout, tm, _) in cases(),
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..=2),
    ) {
        let printed = tm.to_string(layout.jiff_chosen()).unwrap();
        let input = corrupt(&printed, &edits);
        let Some(mine) = ours(&layout.ours(), layout.kind(), &input) else { return Ok(()) };
        let theirs = jiff_any(&layout, input.trim_ascii());
        if let (Outcome::Epoch(e), None) = (mine, theirs) {
            // Beyond jiff's last timestamp (module doc).
            prop_assert!(e > Timestamp::MAX.as_second(), "{:?} on {:?}", layout.ours(), String::from_utf8_lossy(&input));
            return Ok(());
        }
        prop_assert_eq!(Some(mine), theirs, "{:?} on {:?}", layout.ours(), String::from_utf8_lossy(&input));
    }
}

/// The differences the module doc lists, pinned: if jiff or we change, this says so.
#[test]
fn documented_differences() {
    let both = |format: &str, jiff_format: &str, kind: Kind, input: &str| {
        (ours(format, kind, input.as_bytes()).is_some(), jiff(jiff_format, kind, input.as_bytes()).is_some())
    };
    let (local, exact, epoch) = (Kind::Local, Kind::Exact, Kind::Epoch);
    // %z: one spelling of ours, three of jiff's; `Z` only ours.
    assert_eq!(both("%F %T%z", "%F %T%z", exact, "2026-11-24 09:15:07+0100"), (true, true));
    assert_eq!(both("%F %T%z", "%F %T%z", exact, "2026-11-24 09:15:07+01:00"), (true, false));
    assert_eq!(both("%F %T%z", "%F %T%:z", exact, "2026-11-24 09:15:07+01:00"), (true, true));
    assert_eq!(both("%F %T%z", "%F %T%:::z", exact, "2026-11-24 09:15:07+01"), (true, true));
    assert_eq!(both("%F %T%z]", "%F %T%:::z]", exact, "2026-11-24 09:15:07+01]"), (true, false));
    for z in ["%z", "%:z", "%:::z"] {
        assert_eq!(both("%F %T%z", &format!("%F %T{z}"), exact, "2026-11-24 09:15:07Z"), (true, false), "{z}");
    }
    // %b: full names too (jiff's %B).
    assert_eq!(both("%d %b %Y %H:%M", "%d %b %Y %H:%M", local, "05 March 2026 10:00"), (true, false));
    assert_eq!(both("%d %b %Y %H:%M", "%d %B %Y %H:%M", local, "05 March 2026 10:00"), (true, true));
    // %f: 1 to 9 digits, as jiff's.
    assert_eq!(both("%F %T.%f", "%F %T.%f", local, "2026-11-24 09:15:07.123456789"), (true, true));
    assert_eq!(both("%F %T.%f", "%F %T.%f", local, "2026-11-24 09:15:07.1234567891"), (false, false));
    // %f without %S: we drop it; jiff builds no time from it.
    assert_eq!(both("%F %H:%M.%f", "%F %H:%M.%f", local, "2026-11-24 09:15.5"), (true, false));
    // %s: up to 9999-12-31T23:59:59Z; jiff's timestamps end 26 hours earlier; no sign.
    let last = Timestamp::MAX.as_second().to_string();
    assert_eq!(both("%s", "%s", epoch, &last), (true, true));
    assert_eq!(both("%s", "%s", epoch, "253402300799"), (true, false));
    assert_eq!(both("%s", "%s", epoch, "-5"), (false, true));
    assert_eq!(both("%s", "%s", epoch, "0001764000000"), (false, true));
    // Blanks around the value: trimmed by us.
    assert_eq!(both("[%F %T]", "[%F %T]", local, " [2026-11-24 09:15:07] "), (true, false));
    // Stricter: %Y 4 digits, %y 2, no blanks in numbers, a blank is one
    // blank, second 60, year 0, offsets of 24 hours.
    assert_eq!(both("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M", local, "926-11-24 09:15"), (false, true));
    assert_eq!(both("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M", local, "+2026-11-24 09:15"), (false, true));
    assert_eq!(both("%d.%m.%y %H:%M", "%d.%m.%y %H:%M", local, "24.11.6 09:15"), (false, true));
    assert_eq!(both("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M", local, "2026-11- 4 09:15"), (false, true));
    assert_eq!(both("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M", local, "2026-11-24   09:15"), (false, true));
    assert_eq!(both("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M", local, "2026-11-2409:15"), (false, true));
    assert_eq!(both("%F %T", "%F %T", local, "2026-11-24 09:15:60"), (false, true));
    assert_eq!(both("%F %T", "%F %T", local, "0000-11-24 09:15:07"), (false, true));
    assert_eq!(both("%F %T%z", "%F %T%z", exact, "2026-11-24 09:15:07+2400"), (false, true));
}
