//! The strftime subset of custom layouts' time formats: compiled once
//! ([`TimeFormat::compile`]), then matched against whole values without
//! allocating.
//!
//! - `%Y` 4-digit year, `%y` 2-digit year (69-99: 19xx, 00-68: 20xx),
//!   `%m` month, `%d` day, `%e` day (may be space-padded), `%H` hour (00-23),
//!   `%M` minute, `%S` second (optional: 0 when absent) — each 1 or 2
//!   digits, except `%Y`;
//! - `%b` English month name, abbreviated (`Mar`) or in full (`March`),
//!   any case;
//! - `%f` a fraction of a second (1 to 9 digits, dropped), e.g. `%S.%f`;
//! - `%z` UTC offset `+hhmm`, `+hh:mm`, `+hh` or `Z`: the time is an exact
//!   instant;
//! - `%s` epoch seconds (UTC): an exact instant; only with `%f` and
//!   literals, never with date, time or offset directives;
//! - `%T` = `%H:%M:%S`, `%F` = `%Y-%m-%d`, `%%` a `%`; any other byte
//!   must be there as written.
//!
//! Without `%s`, a format needs a year, a month, a day, an hour and a
//! minute, each once. A format of only full-width numbers and non-digit
//! literals (`%d.%m.%Y %H:%M:%S`) also compiles to a fixed-position
//! template ([`FixedWidth`]), tried first; a value it does not match goes
//! through the steps, with the same result.
//!
//! The configuration reference (and how a value's blanks, zone and errors
//! are treated in a layout) is the doc of `formats::custom`.
//! `tests/strftime_jiff.rs` property-tests this engine against jiff's
//! `strtime`, and lists where the two legitimately differ.

use super::{utc_stamp, Stamp};

/// One step of a compiled time format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `%Y`: four digits.
    Year,
    /// `%y`: two digits.
    Year2,
    /// `%m`.
    Month,
    /// `%b`.
    MonthName,
    /// `%d`.
    Day,
    /// `%e`: an optional pad space, then the day.
    DaySpace,
    /// `%H`.
    Hour,
    /// `%M`.
    Minute,
    /// `%S`.
    Second,
    /// `%f`: 1 to 9 digits, dropped.
    Fraction,
    /// `%s`.
    Epoch,
    /// `%z`.
    Offset,
    /// A byte that must be there.
    Literal(u8),
}

/// The directives a format may use, for error messages.
const SUPPORTED: &str = "%Y %y %m %b %d %e %H %M %S %f %s %z %T %F %%";

/// A time format compiled from the strftime subset of the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    steps: Box<[Step]>,
    /// The same format with every field at full width, when it has one.
    fixed: Option<FixedWidth>,
}

/// Marks a digit position in [`FixedWidth::template`].
const DIGIT: u8 = 0;
/// A field [`FixedWidth::at`] does not have.
const NONE: u8 = u8::MAX;

/// A layout of only full-width numbers and non-digit literals
/// (`%d.%m.%Y %H:%M:%S`): the common case, parsed at fixed positions
/// without the step loop. A value it does not match (a one-digit day) goes
/// through the steps, so results are the same either way: with non-digit
/// literals between them, full-width numbers are read the same by both.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FixedWidth {
    /// Per byte: [`DIGIT`] or the literal expected there.
    template: Box<[u8]>,
    /// Positions of year (4 digits, or 2 with `two_digit_year`), month,
    /// day, hour, minute, second (2 digits each; [`NONE`] for no seconds).
    at: [u8; 6],
    two_digit_year: bool,
}

impl FixedWidth {
    fn new(steps: &[Step]) -> Option<FixedWidth> {
        let mut template = Vec::new();
        let mut at = [NONE; 6];
        let mut two_digit_year = false;
        for step in steps {
            let (slot, width) = match *step {
                Step::Literal(c) if !c.is_ascii_digit() => {
                    template.push(c);
                    continue;
                }
                Step::Year => (0, 4),
                Step::Year2 => {
                    two_digit_year = true;
                    (0, 2)
                }
                Step::Month => (1, 2),
                Step::Day => (2, 2),
                Step::Hour => (3, 2),
                Step::Minute => (4, 2),
                Step::Second => (5, 2),
                _ => return None,
            };
            at[slot] = u8::try_from(template.len()).ok().filter(|&p| p != NONE)?;
            template.extend(std::iter::repeat_n(DIGIT, width));
        }
        // Every field must be there (the seconds are optional in a format).
        if at[..5].contains(&NONE) {
            return None;
        }
        Some(FixedWidth { template: template.into_boxed_slice(), at, two_digit_year })
    }

    /// The civil time of `b` when it matches the template exactly.
    #[inline]
    fn parse(&self, b: &[u8]) -> Option<Stamp> {
        if b.len() != self.template.len() {
            return None;
        }
        let mut ok = true;
        for (&c, &t) in b.iter().zip(self.template.iter()) {
            ok &= if t == DIGIT { c.wrapping_sub(b'0') < 10 } else { c == t };
        }
        if !ok {
            return None;
        }
        let two = |i: u8| (b[usize::from(i)] - b'0') * 10 + (b[usize::from(i) + 1] - b'0');
        let [y, mo, d, h, mi, s] = self.at;
        let year = if self.two_digit_year {
            let y = u16::from(two(y));
            if y < 69 {
                2000 + y
            } else {
                1900 + y
            }
        } else {
            u16::from(two(y)) * 100 + u16::from(two(y + 2))
        };
        let second = if s == NONE { 0 } else { two(s) };
        Some(Stamp { year, month: two(mo), day: two(d), hour: two(h), minute: two(mi), second, offset: 0 })
    }
}

impl TimeFormat {
    /// Compiles `format`; the error says what is wrong (without the key).
    pub fn compile(format: &str) -> Result<TimeFormat, String> {
        use Step::*;
        if format.is_empty() {
            return Err("empty format".into());
        }
        let mut steps = Vec::new();
        let mut rest = format;
        while let Some(at) = rest.find('%') {
            steps.extend(rest[..at].bytes().map(Literal));
            let mut chars = rest[at + 1..].chars();
            let directive = chars.next().ok_or("format ends with a lone %")?;
            match directive {
                'Y' => steps.push(Year),
                'y' => steps.push(Year2),
                'm' => steps.push(Month),
                'b' => steps.push(MonthName),
                'd' => steps.push(Day),
                'e' => steps.push(DaySpace),
                'H' => steps.push(Hour),
                'M' => steps.push(Minute),
                'S' => steps.push(Second),
                'f' => steps.push(Fraction),
                's' => steps.push(Epoch),
                'z' => steps.push(Offset),
                'T' => steps.extend([Hour, Literal(b':'), Minute, Literal(b':'), Second]),
                'F' => steps.extend([Year, Literal(b'-'), Month, Literal(b'-'), Day]),
                '%' => steps.push(Literal(b'%')),
                other => return Err(format!("unsupported directive %{other} (supported: {SUPPORTED})")),
            }
            rest = chars.as_str();
        }
        steps.extend(rest.bytes().map(Literal));
        let count = |kinds: &[Step]| steps.iter().filter(|s| kinds.contains(s)).count();
        let parts: [(&str, &[Step], &str); 9] = [
            ("year", &[Year, Year2], "%Y or %y"),
            ("month", &[Month, MonthName], "%m or %b"),
            ("day", &[Day, DaySpace], "%d or %e"),
            ("hour", &[Hour], "%H"),
            ("minute", &[Minute], "%M"),
            ("second", &[Second], "%S"),
            ("fraction", &[Fraction], "%f"),
            ("offset", &[Offset], "%z"),
            ("epoch seconds", &[Epoch], "%s"),
        ];
        for (what, kinds, directives) in parts {
            if count(kinds) > 1 {
                return Err(format!("the {what} ({directives}) appears more than once"));
            }
        }
        if count(&[Epoch]) == 1 {
            if count(&[Year, Year2, Month, MonthName, Day, DaySpace, Hour, Minute, Second, Offset]) > 0 {
                return Err("%s (epoch seconds) cannot be combined with date, time or offset directives".into());
            }
        } else {
            for (what, kinds, directives) in &parts[..5] {
                if count(kinds) == 0 {
                    return Err(format!("lacks the {what} ({directives})"));
                }
            }
        }
        let fixed = FixedWidth::new(&steps);
        Ok(TimeFormat { steps: steps.into_boxed_slice(), fixed })
    }

    /// Whether the format is epoch seconds.
    pub fn is_epoch(&self) -> bool {
        self.steps.contains(&Step::Epoch)
    }

    /// Parses a whole value: the civil time and whether it is exact (an
    /// offset or epoch seconds were given) or local. `None`: no match or an
    /// impossible date or time.
    #[inline]
    pub fn parse(&self, b: &[u8]) -> Option<(Stamp, bool)> {
        let b = b.trim_ascii();
        if let Some(s) = self.fixed.as_ref().and_then(|f| f.parse(b)) {
            return s.is_valid_civil().then_some((s, false));
        }
        self.parse_steps(b)
    }

    /// [`TimeFormat::parse`] step by step (any layout, any widths).
    fn parse_steps(&self, b: &[u8]) -> Option<(Stamp, bool)> {
        let mut s = Stamp { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, offset: 0 };
        let mut exact = false;
        let mut epoch = None;
        let mut p = 0usize;
        for step in self.steps.iter() {
            match *step {
                Step::Literal(c) => {
                    if b.get(p) != Some(&c) {
                        return None;
                    }
                    p += 1;
                }
                Step::Year => s.year = digits(b, &mut p, 4, 4)? as u16,
                Step::Year2 => {
                    let y = digits(b, &mut p, 2, 2)? as u16;
                    s.year = if y < 69 { 2000 + y } else { 1900 + y };
                }
                Step::Month => s.month = digits(b, &mut p, 1, 2)? as u8,
                Step::MonthName => s.month = month_name(b, &mut p)?,
                Step::Day => s.day = digits(b, &mut p, 1, 2)? as u8,
                Step::DaySpace => {
                    if b.get(p) == Some(&b' ') {
                        p += 1;
                    }
                    s.day = digits(b, &mut p, 1, 2)? as u8;
                }
                Step::Hour => s.hour = digits(b, &mut p, 1, 2)? as u8,
                Step::Minute => s.minute = digits(b, &mut p, 1, 2)? as u8,
                Step::Second => s.second = digits(b, &mut p, 1, 2)? as u8,
                Step::Fraction => {
                    // Up to nanoseconds, as jiff reads `%f` (more digits: refused).
                    let n = b[p..].iter().take_while(|c| c.is_ascii_digit()).count();
                    if n == 0 || n > 9 {
                        return None;
                    }
                    p += n;
                }
                Step::Epoch => epoch = Some(digits(b, &mut p, 1, 12)?),
                Step::Offset => {
                    s.offset = offset(b, &mut p)?;
                    exact = true;
                }
            }
        }
        if p != b.len() {
            return None;
        }
        if let Some(e) = epoch {
            return utc_stamp(e).map(|s| (s, true));
        }
        s.is_valid_civil().then_some((s, exact))
    }
}

/// Reads `min..=max` ASCII digits at `*p` (as many as there are, up to `max`).
#[inline]
fn digits(b: &[u8], p: &mut usize, min: usize, max: usize) -> Option<i64> {
    let mut v = 0i64;
    let mut n = 0;
    while n < max {
        match b.get(*p + n) {
            Some(c) if c.is_ascii_digit() => v = v * 10 + i64::from(c - b'0'),
            _ => break,
        }
        n += 1;
    }
    *p += n;
    (n >= min).then_some(v)
}

const MONTHS: [&[u8]; 12] = [
    b"january",
    b"february",
    b"march",
    b"april",
    b"may",
    b"june",
    b"july",
    b"august",
    b"september",
    b"october",
    b"november",
    b"december",
];

/// `%b`: an English month name, abbreviated to three letters or in full, any case.
#[inline]
fn month_name(b: &[u8], p: &mut usize) -> Option<u8> {
    let rest = &b[*p..];
    let abbr = rest.get(..3)?;
    let (i, name) = MONTHS.iter().enumerate().find(|(_, m)| m[..3].eq_ignore_ascii_case(abbr))?;
    let full = rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name);
    *p += if full { name.len() } else { 3 };
    Some(i as u8 + 1)
}

/// `%z`: `Z`, `+hh`, `+hhmm` or `+hh:mm` (or `-`), in seconds.
#[inline]
fn offset(b: &[u8], p: &mut usize) -> Option<i32> {
    let sign = match b.get(*p)? {
        b'Z' | b'z' => {
            *p += 1;
            return Some(0);
        }
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *p += 1;
    let start = *p;
    let h = digits(b, p, 2, 2)?;
    if *p != start + 2 {
        return None;
    }
    let mut m = 0;
    if b.get(*p) == Some(&b':') {
        *p += 1;
        m = digits(b, p, 2, 2)?;
    } else if b.get(*p).is_some_and(u8::is_ascii_digit) {
        m = digits(b, p, 2, 2)?;
    }
    (h < 24 && m < 60).then(|| sign * (h as i32 * 3600 + m as i32 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(s: Stamp) -> String {
        let mut v = Vec::new();
        s.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()
    }

    fn at(format: &str, value: &str) -> Option<String> {
        TimeFormat::compile(format).unwrap().parse(value.as_bytes()).map(|(s, exact)| {
            let t = rfc(s);
            if exact {
                t
            } else {
                format!("local {}", &t[..19])
            }
        })
    }

    #[test]
    fn every_directive() {
        // %Y %m %d %H %M %S and literals.
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2026-11-24 09:15:07").unwrap(), "local 2026-11-24T09:15:07");
        // 1- or 2-digit fields.
        assert_eq!(at("%d.%m.%Y %H:%M:%S", "5.3.2026 9:05:07").unwrap(), "local 2026-03-05T09:05:07");
        // Packed digits.
        assert_eq!(at("%Y%m%d%H%M%S", "20260305090507").unwrap(), "local 2026-03-05T09:05:07");
        // %y: 69-99 are 19xx, 00-68 are 20xx.
        assert_eq!(at("%d/%m/%y %H:%M", "24/11/26 09:15").unwrap(), "local 2026-11-24T09:15:00");
        assert_eq!(at("%d/%m/%y %H:%M", "24/11/69 09:15").unwrap(), "local 1969-11-24T09:15:00");
        assert_eq!(at("%d/%m/%y %H:%M", "24/11/68 09:15").unwrap(), "local 2068-11-24T09:15:00");
        // %e: space-padded day; %b: month abbreviation or full name, any case.
        assert_eq!(at("%b %e %Y %T", "Mar  5 2026 09:05:07").unwrap(), "local 2026-03-05T09:05:07");
        assert_eq!(at("%b %e %Y %T", "mar 15 2026 09:05:07").unwrap(), "local 2026-03-15T09:05:07");
        assert_eq!(at("%e %b %Y %H:%M", "5 September 2026 10:00").unwrap(), "local 2026-09-05T10:00:00");
        assert_eq!(at("%d-%b-%Y %H:%M", "05-DEC-2026 10:00").unwrap(), "local 2026-12-05T10:00:00");
        // %f: a fraction, dropped.
        assert_eq!(at("%F %T.%f", "2026-11-24 09:15:07.123456").unwrap(), "local 2026-11-24T09:15:07");
        // %z: an exact instant.
        assert_eq!(at("%FT%T%z", "2026-11-24T09:15:07+0100").unwrap(), "2026-11-24T09:15:07+01:00");
        assert_eq!(at("%FT%T%z", "2026-11-24T09:15:07-04:30").unwrap(), "2026-11-24T09:15:07-04:30");
        assert_eq!(at("%FT%T%z", "2026-11-24T09:15:07Z").unwrap(), "2026-11-24T09:15:07Z");
        assert_eq!(at("%F %T %z", "2026-11-24 09:15:07 +05").unwrap(), "2026-11-24T09:15:07+05:00");
        // %s: epoch seconds, exact, UTC; with a fraction.
        assert_eq!(at("%s", "1764000000").unwrap(), "2025-11-24T16:00:00Z");
        assert_eq!(at("%s.%f", "1764000000.250").unwrap(), "2025-11-24T16:00:00Z");
        // %% and %T / %F.
        assert_eq!(at("%%%F %T", "%2026-11-24 09:15:07").unwrap(), "local 2026-11-24T09:15:07");
        // No %S: second 0. Blanks around the value are ignored.
        assert_eq!(at("%Y-%m-%d %H:%M", "  2026-11-24 09:15 ").unwrap(), "local 2026-11-24T09:15:00");
        // Non-ASCII literals match as written.
        assert_eq!(at("%d.%m.%Y um %H.%M Uhr", "24.11.2026 um 09.15 Uhr").unwrap(), "local 2026-11-24T09:15:00");
    }

    #[test]
    fn values_that_do_not_match() {
        for (format, value) in [
            ("%Y-%m-%d %H:%M:%S", "2026-11-24T09:15:07"),   // literal differs
            ("%Y-%m-%d %H:%M:%S", "2026-11-24 09:15:07 x"), // trailing text
            ("%Y-%m-%d %H:%M:%S", "2026-11-24 09:15"),      // too short
            ("%Y-%m-%d %H:%M:%S", "26-11-24 09:15:07"),     // %Y needs 4 digits
            ("%Y-%m-%d %H:%M:%S", "2026-02-29 09:15:07"),   // not a leap year
            ("%Y-%m-%d %H:%M:%S", "2024-02-30 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-13-01 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-00-01 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-00 09:15:07"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-01 24:00:00"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-01 10:60:00"),
            ("%Y-%m-%d %H:%M:%S", "2026-01-01 10:00:60"),
            ("%Y-%m-%d %H:%M:%S", "0000-01-01 10:00:00"),
            ("%Y-%m-%d %H:%M:%S", ""),
            ("%b %d %Y %H:%M", "Mrz 05 2026 10:00"), // not English
            ("%F %T.%f", "2026-11-24 09:15:07."),    // %f needs a digit
            ("%FT%T%z", "2026-11-24T09:15:07"),      // %z missing
            ("%FT%T%z", "2026-11-24T09:15:07+1"),
            ("%FT%T%z", "2026-11-24T09:15:07+25:00"),
            ("%FT%T%z", "2026-11-24T09:15:07+01:60"),
            ("%FT%T%z", "2026-11-24T09:15:07 CET"),
            ("%s", "-5"),
            ("%s", "1764000000.5"),
            ("%s", "999999999999999"),
            ("%s", "253402300800"), // year 10000
        ] {
            assert_eq!(at(format, value), None, "{format} {value:?}");
        }
        assert_eq!(at("%s", "253402300799").unwrap(), "9999-12-31T23:59:59Z");
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2024-02-29 09:15:07").unwrap(), "local 2024-02-29T09:15:07");
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2000-02-29 09:15:07").unwrap(), "local 2000-02-29T09:15:07");
        assert_eq!(at("%Y-%m-%d %H:%M:%S", "2100-02-29 09:15:07"), None);
    }

    #[test]
    fn format_errors() {
        for (format, want) in [
            ("%d.%m.%Y %H:%M:%Q", "unsupported directive %Q (supported: %Y %y %m %b %d %e %H %M %S %f %s %z %T %F %%)"),
            ("%Y-%m-%d %I:%M", "unsupported directive %I"),
            ("%Y-%m-%d %H:%M %é", "unsupported directive %é"),
            ("%Y-%m-%d %H:%M%", "format ends with a lone %"),
            ("", "empty format"),
            ("%m-%d %H:%M", "lacks the year (%Y or %y)"),
            ("%Y-%d %H:%M", "lacks the month (%m or %b)"),
            ("%Y-%m %H:%M", "lacks the day (%d or %e)"),
            ("%F %M", "lacks the hour (%H)"),
            ("%F %H", "lacks the minute (%M)"),
            ("%F %T %Y", "the year (%Y or %y) appears more than once"),
            ("%F %T %H", "the hour (%H) appears more than once"),
            ("%F %T %z %z", "the offset (%z) appears more than once"),
            ("%s %H", "%s (epoch seconds) cannot be combined"),
            ("%s%z", "%s (epoch seconds) cannot be combined"),
            ("%s %s", "the epoch seconds (%s) appears more than once"),
        ] {
            let e = TimeFormat::compile(format).unwrap_err();
            assert!(e.starts_with(want), "{format:?}: {e}");
        }
    }
}

#[cfg(test)]
mod fixed_width_tests {
    use super::*;
    use proptest::prelude::*;

    const LAYOUTS: [&str; 5] = ["%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%y%m%d%H%M%S", "%m/%d/%y %H:%M:%S", "%F %T"];

    #[test]
    fn full_width_layouts_take_the_fixed_path() {
        for layout in LAYOUTS {
            assert!(TimeFormat::compile(layout).unwrap().fixed.is_some(), "{layout}");
        }
        for layout in ["%e %b %Y %H:%M", "%s", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f", "%Y1%m%d %H:%M"] {
            assert!(TimeFormat::compile(layout).unwrap().fixed.is_none(), "{layout}");
        }
    }

    proptest! {
        /// The fixed path is only a shortcut: on any value, near-valid or
        /// not, the result is the step-by-step one.
        #[test]
        fn the_fixed_path_parses_like_the_steps(
            layout in 0..LAYOUTS.len(),
            value in "[0-9]{0,4}[ .:/-]?[0-9]{0,2}[ .:/-]?[0-9]{1,4}[ .:/-]?[0-9]{0,2}[ :]?[0-9]{0,2}[:]?[0-9]{0,2}",
        ) {
            let tf = TimeFormat::compile(LAYOUTS[layout]).unwrap();
            let b = value.as_bytes().trim_ascii();
            prop_assert_eq!(tf.parse(b), tf.parse_steps(b));
        }

        #[test]
        fn the_fixed_path_parses_valid_times_like_the_steps(
            layout in 0..LAYOUTS.len(),
            (y, mo, d, h, mi, s) in (1970u32..2070, 0u32..14, 0u32..33, 0u32..25, 0u32..61, 0u32..61),
        ) {
            let value = match layout {
                0 => format!("{d:02}.{mo:02}.{y:04} {h:02}:{mi:02}:{s:02}"),
                1 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}"),
                2 => format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}", y % 100),
                3 => format!("{mo:02}/{d:02}/{:02} {h:02}:{mi:02}:{s:02}", y % 100),
                _ => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
            };
            let tf = TimeFormat::compile(LAYOUTS[layout]).unwrap();
            prop_assert!(tf.fixed.as_ref().unwrap().parse(value.as_bytes()).is_some(), "{}", value);
            prop_assert_eq!(tf.parse(value.as_bytes()), tf.parse_steps(value.as_bytes()));
        }
    }
}
