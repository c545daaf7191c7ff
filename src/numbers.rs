//! Number normalisation (SPEC §4): whatever a switch wrote, to E.164 digits.
//!
//! Pure and allocation-free: the result lives in a fixed 15-digit buffer,
//! the longest an E.164 number can be.

use serde::Deserialize;

/// Longest E.164 number, in digits.
pub const MAX_DIGITS: usize = 15;

/// The numbering plan of the home network (`[numbering]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Numbering {
    /// ISO 3166 alpha-2 code of the home country; its destinations are priced `[domestic]`.
    pub home_country: String,
    /// Country calling code put in front of national numbers.
    pub country_code: String,
    /// Trunk prefix of national numbers (`0` in NL).
    pub national_prefix: String,
    /// Prefix that introduces an international number (`00` in NL).
    pub international_prefix: String,
    /// Callees with at most this many digits (and no `+`) are internal extensions.
    pub internal_max_digits: usize,
    /// Technical prefixes a switch puts in front of numbers, stripped before normalising.
    pub technical_prefixes: Vec<String>,
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            home_country: "NL".into(),
            country_code: "31".into(),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
            internal_max_digits: 5,
            technical_prefixes: Vec::new(),
        }
    }
}

impl Numbering {
    /// Checks the plan is usable; returns one message per problem.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if self.home_country.len() != 2 || !self.home_country.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(format!("home_country {:?} is not an ISO 3166 alpha-2 code", self.home_country));
        }
        if self.country_code.is_empty() || self.country_code.len() > 3 || !digits(&self.country_code) {
            errors.push(format!("country_code {:?} must be 1-3 digits", self.country_code));
        }
        if !digits(&self.national_prefix) || self.national_prefix.len() > 4 {
            errors.push(format!("national_prefix {:?} must be at most 4 digits", self.national_prefix));
        }
        if self.international_prefix.is_empty()
            || !digits(&self.international_prefix)
            || self.international_prefix.len() > 4
        {
            errors.push(format!("international_prefix {:?} must be 1-4 digits", self.international_prefix));
        }
        if self.internal_max_digits >= MAX_DIGITS {
            errors.push(format!("internal_max_digits {} must be below {MAX_DIGITS}", self.internal_max_digits));
        }
        for t in &self.technical_prefixes {
            if t.is_empty() || !digits(t) {
                errors.push(format!("technical prefix {t:?} must be digits"));
            }
        }
        errors
    }
}

/// An E.164 number without `+`, at most [`MAX_DIGITS`] digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct E164 {
    digits: [u8; MAX_DIGITS],
    len: u8,
}

impl E164 {
    /// The digits as ASCII.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len as usize]
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl std::fmt::Debug for E164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "E164({})", self.as_str())
    }
}

/// What a dialled number turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// A public number.
    E164(E164),
    /// An internal extension or feature code: rated at 0.
    Internal,
}

/// Why a string is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("empty number")]
    Empty,
    #[error("number contains characters other than digits and separators")]
    BadCharacter,
    #[error("number has more than 15 digits")]
    TooLong,
}

const fn separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'(' | b')' | b'.' | b'/')
}

impl Numbering {
    /// Normalises a dialled number (SPEC §4).
    pub fn normalise(&self, raw: &[u8]) -> Result<Number, NumberError> {
        let raw = raw.trim_ascii();
        match raw.first() {
            None => return Err(NumberError::Empty),
            Some(b'*' | b'#') => return Ok(Number::Internal),
            _ => {}
        }
        // Strip separators into a scratch buffer; remember a leading '+'.
        let mut plus = false;
        let mut buf = [0u8; 32];
        let mut n = 0usize;
        for (i, &b) in raw.iter().enumerate() {
            if b.is_ascii_digit() {
                if n == buf.len() {
                    return Err(NumberError::TooLong);
                }
                buf[n] = b;
                n += 1;
            } else if b == b'+' && i == 0 {
                plus = true;
            } else if !separator(b) {
                return Err(NumberError::BadCharacter);
            }
        }
        if n == 0 {
            return Err(if plus { NumberError::BadCharacter } else { NumberError::Empty });
        }
        let mut digits = &buf[..n];
        for t in &self.technical_prefixes {
            if let Some(rest) = digits.strip_prefix(t.as_bytes()) {
                digits = rest;
                break;
            }
        }
        if !plus && digits.len() <= self.internal_max_digits {
            return Ok(Number::Internal);
        }
        let mut out = E164 { digits: [0; MAX_DIGITS], len: 0 };
        let mut push = |part: &[u8]| -> Result<(), NumberError> {
            let at = out.len as usize;
            let end = at + part.len();
            if end > MAX_DIGITS {
                return Err(NumberError::TooLong);
            }
            out.digits[at..end].copy_from_slice(part);
            out.len = end as u8;
            Ok(())
        };
        let intl = self.international_prefix.as_bytes();
        let national = self.national_prefix.as_bytes();
        if plus {
            push(digits)?;
        } else if let Some(rest) = digits.strip_prefix(intl) {
            push(rest)?;
        } else if let Some(rest) = (!national.is_empty()).then(|| digits.strip_prefix(national)).flatten() {
            push(self.country_code.as_bytes())?;
            push(rest)?;
        } else {
            push(digits)?;
        }
        if out.len == 0 {
            return Err(NumberError::Empty);
        }
        Ok(Number::E164(out))
    }

    /// Normalises a calling number; anything that is not a public number
    /// (`anonymous`, withheld, an extension) gives `None`.
    pub fn normalise_caller(&self, raw: &[u8]) -> Option<E164> {
        match self.normalise(raw) {
            Ok(Number::E164(n)) => Some(n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, NumberError> {
        Numbering::default().normalise(s.as_bytes()).map(|n| match n {
            Number::E164(e) => e.as_str().to_string(),
            Number::Internal => "internal".into(),
        })
    }

    #[test]
    fn normalises_the_dutch_styles() {
        assert_eq!(norm("0201234567").unwrap(), "31201234567");
        assert_eq!(norm("06-12345678").unwrap(), "31612345678");
        assert_eq!(norm("(020) 123 45.67").unwrap(), "31201234567");
        assert_eq!(norm("+44 20 7946 0000").unwrap(), "442079460000");
        assert_eq!(norm("0044207946000").unwrap(), "44207946000");
        assert_eq!(norm("442079460000").unwrap(), "442079460000");
        assert_eq!(norm("+31 (0)20").unwrap(), "31020");
    }

    #[test]
    fn extensions_and_feature_codes_are_internal() {
        assert_eq!(norm("201").unwrap(), "internal");
        assert_eq!(norm("12345").unwrap(), "internal");
        assert_eq!(norm("*97").unwrap(), "internal");
        assert_eq!(norm("#31#").unwrap(), "internal");
        assert_eq!(norm("123456").unwrap(), "123456");
        assert_eq!(norm("+123").unwrap(), "123");
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        assert_eq!(norm(""), Err(NumberError::Empty));
        assert_eq!(norm("  "), Err(NumberError::Empty));
        assert_eq!(norm("abc"), Err(NumberError::BadCharacter));
        assert_eq!(norm("06-1234x678"), Err(NumberError::BadCharacter));
        assert_eq!(norm("+"), Err(NumberError::BadCharacter));
        assert_eq!(norm("1+2"), Err(NumberError::BadCharacter));
        assert_eq!(norm("+1234567890123456"), Err(NumberError::TooLong));
    }

    #[test]
    fn strips_technical_prefixes() {
        let plan = Numbering { technical_prefixes: vec!["1677".into()], ..Numbering::default() };
        let n = plan.normalise(b"16770612345678").unwrap();
        assert_eq!(n, plan.normalise(b"0612345678").unwrap());
    }
}
