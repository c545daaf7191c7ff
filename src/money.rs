//! Exact money.
//!
//! Amounts enter and leave the program as decimal text and are held as
//! [`rust_decimal::Decimal`] while tables are built. On the per-call path a
//! price is a pair of integer mantissas at one shared scale ([`FixedPrice`]),
//! and a charge is computed as one integer fraction rounded half away from
//! zero. Nothing is ever converted to binary floating point, so every result
//! equals exact decimal arithmetic to the last digit.

use std::fmt;

use rust_decimal::Decimal;

/// Largest `price_decimals` accepted from configuration.
pub const MAX_PRICE_DECIMALS: u32 = 6;

/// Largest rate per minute or fee accepted in a price (100,000 per minute).
///
/// With `billsec < 10^9` (parsers accept at most 9 digits) and at most
/// [`MAX_PRICE_DECIMALS`] places, every charge is below
/// `10^5 x 10^9 / 60 x 10^6 < 1.7 x 10^18` units and so fits an `i64`.
pub const MAX_PRICE: u64 = 100_000;

/// Why a money string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number: {0:?} (expected digits with an optional '.' fraction, e.g. 0.0125)")]
    Syntax(String),
    #[error("negative amounts are not allowed: {0:?}")]
    Negative(String),
    #[error("too many digits: {0:?}")]
    TooPrecise(String),
    #[error("not a percentage: {0:?} (expected e.g. \"130%\"; 100% means no margin)")]
    Percent(String),
}

/// Parses a non-negative plain decimal (`12`, `0.0125`, `.5`). No sign, no
/// exponent, no thousands separators: tariff files are edited by hand and a
/// stray character must be an error, not a different price.
pub fn parse_amount(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(MoneyError::Negative(text.to_string()));
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(MoneyError::Syntax(text.to_string()));
    }
    Decimal::from_str_exact(t).map_err(|_| MoneyError::TooPrecise(text.to_string()))
}

/// Parses a markup percentage such as `130%` into the factor `1.30`.
pub fn parse_percent(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    let number = t.strip_suffix('%').ok_or_else(|| MoneyError::Percent(text.to_string()))?;
    let value = parse_amount(number).map_err(|e| match e {
        MoneyError::Syntax(_) => MoneyError::Percent(text.to_string()),
        other => other,
    })?;
    let mut factor = value;
    factor.set_scale(value.scale() + 2).map_err(|_| MoneyError::TooPrecise(text.to_string()))?;
    Ok(factor)
}

/// Billing increments `FIRST/NEXT` in seconds: the first `FIRST` seconds are
/// charged whole, then every started block of `NEXT` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Increment {
    /// Minimum charged seconds of an answered call.
    pub first: u32,
    /// Block size after the first period (at least 1).
    pub next: u32,
}

impl Increment {
    /// Per-second billing, the default when a table leaves the field empty.
    pub const PER_SECOND: Increment = Increment { first: 1, next: 1 };

    /// Parses `F/N` (`60/60`, `30/6`, `1/1`). `N` must be at least 1.
    pub fn parse(text: &str) -> Option<Increment> {
        let (f, n) = text.trim().split_once('/')?;
        let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(f) || !digits(n) {
            return None;
        }
        let (first, next) = (f.parse().ok()?, n.parse().ok()?);
        (next >= 1).then_some(Increment { first, next })
    }

    /// Seconds charged for `billsec` seconds of talk time (SPEC §5).
    #[inline]
    pub fn billed(self, billsec: u32) -> u64 {
        let b = u64::from(billsec);
        let (f, n) = (u64::from(self.first), u64::from(self.next));
        if b == 0 {
            0
        } else if b <= f {
            f
        } else {
            f + (b - f).div_ceil(n) * n
        }
    }
}

impl fmt::Display for Increment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.first, self.next)
    }
}

const POW10: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A price ready for the hot path: a fee per answered call plus a rate per
/// minute, both as integer mantissas at `scale` decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixedPrice {
    /// Fee per answered call (start fee or connect fee), `fee / 10^scale`.
    pub fee: u64,
    /// Rate per minute, `rate / 10^scale`.
    pub rate: u64,
    /// Decimal places of both mantissas (at most 28).
    pub scale: u8,
}

impl FixedPrice {
    /// The same price with its mantissas at `scale` (at least its own)
    /// decimals; `None` when a mantissa would not fit 64 bits.
    pub fn at_scale(&self, scale: u8) -> Option<FixedPrice> {
        let widen = |m: u64| {
            u64::try_from(u128::from(m).checked_mul(*POW10.get(usize::from(scale.checked_sub(self.scale)?))?)?).ok()
        };
        Some(FixedPrice { fee: widen(self.fee)?, rate: widen(self.rate)?, scale })
    }

    /// Brings `fee` and `rate` to one scale. Fails (returns `None`) when a
    /// value is negative or above [`MAX_PRICE`], or a mantissa would not fit
    /// 64 bits (more than 19 significant digits).
    pub fn new(fee: Decimal, rate: Decimal) -> Option<FixedPrice> {
        let (fee, rate) = (fee.normalize(), rate.normalize());
        let max = Decimal::from(MAX_PRICE);
        if [fee, rate].iter().any(|v| v.is_sign_negative() && !v.is_zero() || *v > max) {
            return None;
        }
        let scale = fee.scale().max(rate.scale());
        let widen = |d: Decimal| -> Option<u64> {
            let m = d.mantissa().unsigned_abs();
            u64::try_from(m.checked_mul(POW10[(scale - d.scale()) as usize])?).ok()
        };
        Some(FixedPrice { fee: widen(fee)?, rate: widen(rate)?, scale: scale as u8 })
    }

    /// `fee + rate × billed_seconds / 60`, rounded half away from zero to
    /// `decimals` places, in units of `10^-decimals`. Zero when nothing is
    /// billed: fees apply to answered calls only.
    ///
    /// Exact: the value is the fraction `(fee×60 + rate×s) × 10^d / (60 × 10^scale)`
    /// evaluated in 128-bit integers, which cannot overflow for 64-bit
    /// mantissas, `s < 2^64 / 60` and `scale, d ≤ 28`.
    #[inline]
    pub fn charge(&self, billed_seconds: u64, decimals: u32) -> u64 {
        self.charge_rounded(billed_seconds, decimals, Rounding::HalfAway)
    }

    /// [`FixedPrice::charge`] rounded by `rounding`.
    #[inline]
    pub fn charge_rounded(&self, billed_seconds: u64, decimals: u32, rounding: Rounding) -> u64 {
        if rounding != Rounding::HalfAway {
            if billed_seconds == 0 {
                return 0;
            }
            let num = u128::from(self.fee) * 60 + u128::from(self.rate) * u128::from(billed_seconds);
            let (num, den) = scaled_fraction(num, u32::from(self.scale), decimals);
            return rounding.divide(num, den);
        }
        if billed_seconds == 0 {
            return 0;
        }
        let mut num = u128::from(self.fee) * 60 + u128::from(self.rate) * u128::from(billed_seconds);
        let scale = u32::from(self.scale);
        let den = if scale >= decimals {
            60 * POW10[(scale - decimals) as usize]
        } else {
            num *= POW10[(decimals - scale) as usize];
            60
        };
        // Half away from zero; every value here is non-negative and `den` is
        // even, so `den / 2` is the exact half.
        // 64-bit division when everything fits (the usual case), else 128-bit.
        if let (Ok(n), Ok(d)) = (u64::try_from(num), u64::try_from(den)) {
            if let Some(n) = n.checked_add(d / 2) {
                return n / d;
            }
        }
        // Below 2^64 by the bounds on MAX_PRICE, billsec and decimals.
        ((num + den / 2) / den) as u64
    }
}

/// How a sell price is rounded to the price decimals (a plan's `rounding`,
/// SPEC §3.7). Buy is always [`Rounding::HalfAway`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Half away from zero (the default).
    #[default]
    HalfAway,
    /// Any fraction of a unit rounds up (towards the customer paying more).
    Up,
    /// Any fraction of a unit is dropped.
    Down,
}

impl Rounding {
    /// Parses `half_away`, `up` or `down`.
    pub fn parse(text: &str) -> Option<Rounding> {
        match text {
            "half_away" => Some(Rounding::HalfAway),
            "up" => Some(Rounding::Up),
            "down" => Some(Rounding::Down),
            _ => None,
        }
    }

    /// Name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfAway => "half_away",
            Rounding::Up => "up",
            Rounding::Down => "down",
        }
    }

    /// `num / den` rounded this way (non-negative values, `den` even or
    /// the mode not half-away: every caller's `den` is a multiple of 60).
    #[inline]
    pub fn divide(self, num: u128, den: u128) -> u64 {
        let bias = match self {
            Rounding::HalfAway => den / 2,
            Rounding::Up => den - 1,
            Rounding::Down => 0,
        };
        if let (Ok(n), Ok(d), Ok(b)) = (u64::try_from(num), u64::try_from(den), u64::try_from(bias)) {
            if let Some(n) = n.checked_add(b) {
                return n / d;
            }
        }
        ((num + bias) / den) as u64
    }
}

/// The sell of a call whose talk time crossed periods (SPEC §3.6):
/// `(fee × 60 + rate_seconds) / 60` at `scale`, where `rate_seconds` is
/// `Σ rate_i × seconds_i` over the segments (mantissas at `scale`), rounded
/// once by `rounding` to `decimals` places; 0 when nothing is billed. Exact
/// like [`FixedPrice::charge`]: the segments' seconds sum to the billed
/// seconds, so the numerator has the same bound as for one price.
#[inline]
pub fn charge_sum(fee: u64, scale: u8, rate_seconds: u128, billed: u64, decimals: u32, rounding: Rounding) -> u64 {
    if billed == 0 {
        return 0;
    }
    let (num, den) = scaled_fraction(u128::from(fee) * 60 + rate_seconds, u32::from(scale), decimals);
    rounding.divide(num, den)
}

/// `num / (60 × 10^scale)` brought to `decimals` places: (numerator, denominator).
#[inline]
fn scaled_fraction(num: u128, scale: u32, decimals: u32) -> (u128, u128) {
    if scale >= decimals {
        (num, 60 * POW10[(scale - decimals) as usize])
    } else {
        (num * POW10[(decimals - scale) as usize], 60)
    }
}

/// Converts integer units at `decimals` places back to a decimal.
pub fn units_to_decimal(units: i128, decimals: u32) -> Decimal {
    Decimal::from_i128_with_scale(units, decimals)
}

/// Appends a short byte string. Output rows are a dozen short fields; for
/// those a call to `memcpy` per field costs more than the copy itself, so
/// strings of up to 32 bytes are copied with two overlapping moves instead.
#[inline(always)]
pub fn put(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len > 32 {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(32);
    let at = out.len();
    // SAFETY: `reserve(32)` leaves at least 32 writable bytes after `at` and
    // `len <= 32`. Every read stays inside `s`: a W-byte read at `len - W`
    // is only done when `len >= W`. Unaligned reads and writes are used
    // throughout. The `len` bytes after `at` are all written before `set_len`.
    unsafe {
        let src = s.as_ptr();
        let dst = out.as_mut_ptr().add(at);
        macro_rules! two_moves {
            ($t:ty, $w:expr) => {{
                let head = std::ptr::read_unaligned(src.cast::<$t>());
                let tail = std::ptr::read_unaligned(src.add(len - $w).cast::<$t>());
                std::ptr::write_unaligned(dst.cast::<$t>(), head);
                std::ptr::write_unaligned(dst.add(len - $w).cast::<$t>(), tail);
            }};
        }
        if len >= 16 {
            two_moves!(u128, 16);
        } else if len >= 8 {
            two_moves!(u64, 8);
        } else if len >= 4 {
            two_moves!(u32, 4);
        } else {
            for k in 0..len {
                *dst.add(k) = *src.add(k);
            }
        }
        out.set_len(at + len);
    }
}

/// Appends `units / 10^decimals` as fixed-point text (`-0.0125`).
#[inline]
pub fn write_units(out: &mut Vec<u8>, units: i64, decimals: u32) {
    if units < 0 {
        out.push(b'-');
    }
    let abs = units.unsigned_abs();
    if decimals == 0 {
        put(out, itoa::Buffer::new().format(abs).as_bytes());
        return;
    }
    let p = POW10[decimals as usize] as u64;
    let mut buf = itoa::Buffer::new();
    put(out, buf.format(abs / p).as_bytes());
    out.push(b'.');
    let frac = buf.format(abs % p).as_bytes();
    put(out, &b"0000000000"[..decimals as usize - frac.len()]);
    put(out, frac);
}

/// Formats integer units as text (for summaries and reports).
pub fn format_units(units: i128, decimals: u32) -> String {
    let d = units_to_decimal(units, decimals);
    format!("{d:.prec$}", prec = decimals as usize)
}

/// A price cdr-rater wrote into an output (lenient: only its own output is
/// read back; a malformed value gives a wrong number, never a panic)
/// (`12.3400`, `-0.5`) in units of `10^-decimals`.
pub fn parse_written_units(text: &[u8], decimals: u32) -> i64 {
    let (negative, t) = match text {
        [b'-', rest @ ..] => (true, rest),
        t => (false, t),
    };
    let (int, frac) = match t.iter().position(|&b| b == b'.') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, &[][..]),
    };
    let digit = |b: &u8| i64::from(b.wrapping_sub(b'0').min(9));
    let mut v = int.iter().fold(0i64, |v, b| v.saturating_mul(10).saturating_add(digit(b)));
    for k in 0..decimals as usize {
        v = v.saturating_mul(10).saturating_add(frac.get(k).map_or(0, digit));
    }
    if negative {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn parses_plain_decimals_only() {
        assert_eq!(parse_amount("0.0125").unwrap(), dec("0.0125"));
        assert_eq!(parse_amount("12").unwrap(), dec("12"));
        assert_eq!(parse_amount(".5").unwrap(), dec("0.5"));
        for bad in ["", ".", "1,5", "1e3", "abc", "+1", "1.2.3", " 1 2"] {
            assert!(parse_amount(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_amount("-1"), Err(MoneyError::Negative("-1".into())));
    }

    #[test]
    fn percent_is_a_factor() {
        assert_eq!(parse_percent("130%").unwrap(), dec("1.30"));
        assert_eq!(parse_percent("100%").unwrap(), dec("1"));
        assert_eq!(parse_percent("87.5%").unwrap(), dec("0.875"));
        assert!(parse_percent("130").is_err());
        assert!(parse_percent("x%").is_err());
    }

    #[test]
    fn increments_follow_the_spec_table() {
        let cases = [
            ("1/1", [0, 1, 29, 30, 31, 59, 60, 61]),
            ("60/60", [0, 60, 60, 60, 60, 60, 60, 120]),
            ("30/6", [0, 30, 30, 30, 36, 60, 60, 66]),
            ("60/1", [0, 60, 60, 60, 60, 60, 60, 61]),
        ];
        let secs = [0, 1, 29, 30, 31, 59, 60, 61];
        for (inc, want) in cases {
            let inc = Increment::parse(inc).unwrap();
            let got: Vec<u64> = secs.iter().map(|&s| inc.billed(s)).collect();
            assert_eq!(got, want, "{inc}");
        }
        for bad in ["60", "60/0", "a/1", "1/", "/1", "-1/1", "1/1/1"] {
            assert!(Increment::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn charge_rounds_half_away_from_zero() {
        // 0.0001 per minute for 30 s = 0.00005 -> 0.0001 at 4 decimals.
        let p = FixedPrice::new(Decimal::ZERO, dec("0.0001")).unwrap();
        assert_eq!(p.charge(30, 4), 1);
        // 29 s = 0.0000483.. -> 0.0000
        assert_eq!(p.charge(29, 4), 0);
        // fee only on answered calls
        let p = FixedPrice::new(dec("0.015"), dec("0.03")).unwrap();
        assert_eq!(p.charge(0, 4), 0);
        assert_eq!(p.charge(60, 4), 450);
    }

    #[test]
    fn charge_equals_decimal_arithmetic() {
        let rates = ["0", "0.0001", "0.01234567", "1.3", "0.099999999999", "12.5"];
        let fees = ["0", "0.015", "0.00005"];
        for r in rates {
            for f in fees {
                let p = FixedPrice::new(dec(f), dec(r)).unwrap();
                for s in [1u64, 7, 59, 60, 61, 3600, 86_399] {
                    for d in [0u32, 2, 4, 6] {
                        let exact = (dec(f) + dec(r) * Decimal::from(s) / Decimal::from(60))
                            .round_dp_with_strategy(d, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
                        let got = units_to_decimal(i128::from(p.charge(s, d)), d);
                        assert_eq!(got, exact, "fee {f} rate {r} s {s} d {d}");
                    }
                }
            }
        }
    }

    #[test]
    fn put_copies_every_length() {
        let src: Vec<u8> = (0..40).collect();
        for len in 0..=40 {
            let mut out = vec![9u8; 3];
            put(&mut out, &src[..len]);
            assert_eq!(&out[..3], &[9, 9, 9]);
            assert_eq!(&out[3..], &src[..len]);
        }
    }

    #[test]
    fn writes_fixed_point() {
        let mut out = Vec::new();
        write_units(&mut out, 12345, 4);
        out.push(b' ');
        write_units(&mut out, -5, 4);
        out.push(b' ');
        write_units(&mut out, 7, 0);
        assert_eq!(out, b"1.2345 -0.0005 7");
    }
}
