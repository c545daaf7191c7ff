//! The invoice line a destination's calls go on (SPEC §12.3): domestic
//! calls by kind, one line per foreign country. Decided per destination
//! when a deck is loaded, so the hot path reads one small code.

use super::Kind;

/// What an invoice's call line covers (SPEC §12.3): domestic calls by kind,
/// and one line per foreign country.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Category {
    /// Fixed lines of the home country.
    DomesticFixed,
    /// Mobile networks of the home country.
    DomesticMobile,
    /// Every other domestic call: special, premium, other kinds, and
    /// internal calls (no destination).
    DomesticOther,
    /// Calls to a foreign country (ISO alpha-2 as in the deck; `XX` for
    /// non-geographic networks).
    Foreign([u8; 2]),
}

impl Category {
    /// The category of a call to `country` of `kind` (`None`: an internal
    /// call) for a tariff whose home country is `home`.
    pub fn of(country: [u8; 2], kind: Option<Kind>, home: [u8; 2]) -> Category {
        match kind {
            None => Category::DomesticOther,
            Some(_) if country != home => Category::Foreign(country),
            Some(Kind::Fixed) => Category::DomesticFixed,
            Some(Kind::Mobile) => Category::DomesticMobile,
            Some(_) => Category::DomesticOther,
        }
    }

    /// A small dense code for the hot path (below 1024): 0..=2 the domestic
    /// categories, then one per `AA`..`ZZ`; anything else reads as `XX`.
    pub fn dense(self) -> u16 {
        match self {
            Category::DomesticFixed => 0,
            Category::DomesticMobile => 1,
            Category::DomesticOther => 2,
            Category::Foreign([a @ b'A'..=b'Z', b @ b'A'..=b'Z']) => 3 + u16::from(a - b'A') * 26 + u16::from(b - b'A'),
            Category::Foreign(_) => Category::Foreign(*b"XX").dense(),
        }
    }

    /// Reads [`Category::dense`] back.
    pub fn from_dense(code: u16) -> Category {
        match code {
            0 => Category::DomesticFixed,
            1 => Category::DomesticMobile,
            2 => Category::DomesticOther,
            n if n < 3 + 26 * 26 => {
                let i = n - 3;
                Category::Foreign([b'A' + (i / 26) as u8, b'A' + (i % 26) as u8])
            }
            _ => Category::Foreign(*b"XX"),
        }
    }

    /// As stored and written in `lines.csv`'s description keys:
    /// `domestic_fixed`, `domestic_mobile`, `domestic_other`, or the
    /// country code.
    pub fn code(&self) -> String {
        match self {
            Category::DomesticFixed => "domestic_fixed".into(),
            Category::DomesticMobile => "domestic_mobile".into(),
            Category::DomesticOther => "domestic_other".into(),
            Category::Foreign(c) => String::from_utf8_lossy(c).into_owned(),
        }
    }

    /// Reads [`Category::code`] back.
    pub fn parse(s: &str) -> Option<Category> {
        Some(match s {
            "domestic_fixed" => Category::DomesticFixed,
            "domestic_mobile" => Category::DomesticMobile,
            "domestic_other" => Category::DomesticOther,
            _ => match s.as_bytes() {
                &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Category::Foreign([a, b]),
                _ => return None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        let nl = *b"NL";
        assert_eq!(Category::of(nl, Some(Kind::Fixed), nl), Category::DomesticFixed);
        assert_eq!(Category::of(nl, Some(Kind::Premium), nl), Category::DomesticOther);
        assert_eq!(Category::of(*b"--", None, nl), Category::DomesticOther);
        assert_eq!(Category::of(*b"GB", Some(Kind::Mobile), nl), Category::Foreign(*b"GB"));
        for c in [Category::DomesticFixed, Category::DomesticMobile, Category::DomesticOther, Category::Foreign(*b"XX")]
        {
            assert_eq!(Category::parse(&c.code()), Some(c));
            assert_eq!(Category::from_dense(c.dense()), c);
        }
    }
}
