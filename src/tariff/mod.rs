//! Tariff tables: the wholesale deck, the plans, the customers and their
//! number blocks, validated and indexed for rating.
//!
//! A [`Tariff`] is immutable once built. Every per-destination sell price of
//! every plan is resolved at load time into a [`FixedPrice`], so rating a call
//! is two trie walks and a table index. A reload builds a new `Tariff` and
//! swaps it whole; a file is always rated against one consistent snapshot.

mod hugemem;
mod load;
pub mod margins;
pub mod plan;
mod tables;
pub mod trie;

use hashbrown::HashMap;
use rust_decimal::Decimal;

use hugemem::HugeSlice;
pub use load::{load, LoadError, LoadErrors, LoadReport};
use plan::{LevelName, PlanLevels, Resolution};
use trie::PrefixTrie;

use crate::money::{FixedPrice, Increment};

/// What kind of destination a number reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Geographic fixed line.
    Fixed,
    /// Mobile network.
    Mobile,
    /// Toll-free and shared-cost numbers.
    Special,
    /// Premium-rate services.
    Premium,
    /// Anything else (pagers, satellite, ...).
    Other,
}

impl Kind {
    /// Number of tariff kinds.
    pub const COUNT: usize = 5;
    /// Every tariff kind.
    pub const ALL: [Kind; Kind::COUNT] = [Kind::Fixed, Kind::Mobile, Kind::Special, Kind::Premium, Kind::Other];

    /// Dense index for per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name as written in `wholesale.csv` and the rated output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fixed => "fixed",
            Kind::Mobile => "mobile",
            Kind::Special => "special",
            Kind::Premium => "premium",
            Kind::Other => "other",
        }
    }

    /// The plan key of this kind's per-minute rate.
    pub fn per_min_key(self) -> &'static str {
        match self {
            Kind::Fixed => "fixed_per_min",
            Kind::Mobile => "mobile_per_min",
            Kind::Special => "special_per_min",
            Kind::Premium => "premium_per_min",
            Kind::Other => "other_per_min",
        }
    }

    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One row of the wholesale deck.
#[derive(Debug, Clone)]
pub struct Destination {
    /// E.164 prefix digits.
    pub prefix: String,
    /// Human name, e.g. `United Kingdom - Mobile`.
    pub name: String,
    /// ISO 3166 alpha-2, `XX` for non-geographic.
    pub country: String,
    /// Destination kind.
    pub kind: Kind,
    /// Purchase rate per minute.
    pub rate: Decimal,
    /// Purchase fee per answered call.
    pub connect_fee: Decimal,
    /// Purchase increments.
    pub increment: Increment,
    /// `connect_fee` and `rate` ready for the hot path.
    pub buy: FixedPrice,
}

/// What rating needs of a destination, packed for the cache: one 40-byte
/// record per destination instead of the whole [`Destination`].
#[derive(Debug, Clone, Copy)]
pub struct DestHot {
    /// Connect fee and rate per minute.
    pub buy: FixedPrice,
    /// Purchase increments.
    pub increment: Increment,
    /// `prefix,name,country,kind` CSV bytes in [`Tariff::csv_fields`].
    csv: (u32, u32),
    /// ISO country of the destination, for IDS statistics.
    pub country: [u8; 2],
}

/// A plan with its per-destination sell prices.
#[derive(Debug, Clone)]
pub struct Plan {
    /// File stem under `rates/plans/`.
    pub name: String,
    /// Levels as written.
    pub levels: PlanLevels,
    /// Sell price per destination index, from the non-prefix levels.
    base_prices: HugeSlice<FixedPrice>,
    /// `[prefix."P"]` overrides: digit trie to the index in `levels.prefixes`.
    override_trie: PrefixTrie,
    /// Sell price for (override index, destination index) pairs that a number can hit.
    override_prices: HashMap<(u32, u32), FixedPrice>,
    /// `plan,currency` CSV fragments written into rated rows.
    pub csv_name: Box<[u8]>,
    /// Currency as CSV.
    pub csv_currency: Box<[u8]>,
    /// Index of `levels.currency` in [`Tariff::currencies`]: the money slot
    /// of this plan's calls in `totals::Totals`.
    pub currency: u8,
}

impl Plan {
    /// Sell price of destination `dest` for `number` (which the destination's
    /// prefix matched).
    #[inline]
    pub fn sell_price(&self, dest: u32, number: &[u8]) -> FixedPrice {
        if !self.override_trie.is_empty() {
            if let Some((o, _)) = self.override_trie.longest_match(number) {
                if let Some(p) = self.override_prices.get(&(o, dest)) {
                    return *p;
                }
            }
        }
        self.base_prices[dest as usize]
    }

    /// The levels that apply to `dest` reached by `number`, most specific first.
    pub fn levels_for<'p>(
        &'p self,
        dest: &Destination,
        number: &[u8],
        home_country: &str,
    ) -> Vec<(LevelName, &'p plan::Level)> {
        let mut levels = Vec::with_capacity(3);
        if let Some((o, _)) = self.override_trie.longest_match(number) {
            let (p, l) = &self.levels.prefixes[o as usize];
            levels.push((LevelName::Prefix(p.clone()), l));
        }
        if let Some(l) = self.levels.countries.get(&dest.country) {
            levels.push((LevelName::Country(dest.country.clone()), l));
        }
        if dest.country == home_country {
            levels.push((LevelName::Domestic, &self.levels.domestic));
        } else {
            levels.push((LevelName::International, &self.levels.international));
        }
        levels
    }

    /// Explains the sell price of `dest` reached by `number`.
    pub fn explain(&self, dest: &Destination, number: &[u8], home_country: &str) -> Resolution {
        let levels = self.levels_for(dest, number, home_country);
        plan::resolve(&levels, dest.kind, dest.rate).expect("validated plans always resolve")
    }
}

/// A customer from `customers.csv`.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Customer id as written.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Contact address.
    pub email: String,
    /// Index into [`Tariff::plans`].
    pub plan: u32,
    /// Euros per day above the average day; `None` = IDS off.
    pub ids_range: Option<Decimal>,
    /// IANA zone of the customer's day; `None` = configured default.
    pub timezone: Option<String>,
    /// Index of `timezone` in [`Tariff::zones`].
    pub zone: Option<u16>,
    /// The id as a CSV field.
    pub csv_id: Box<[u8]>,
}

/// All tariff tables, validated and indexed. Immutable.
#[derive(Debug, Clone)]
pub struct Tariff {
    /// Wholesale rows; indexes are the trie's values.
    pub destinations: Vec<Destination>,
    /// Hot part of each destination, same indexes.
    hot: HugeSlice<DestHot>,
    /// CSV fragments of every destination, back to back.
    csv_arena: Box<[u8]>,
    /// Wholesale prefixes.
    trie: PrefixTrie,
    /// Plans; indexes are `Customer::plan`.
    pub plans: Vec<Plan>,
    /// Customers, in file order.
    pub customers: Vec<Customer>,
    /// Customer id to index.
    customer_index: HashMap<Box<[u8]>, u32>,
    /// Number blocks to customer index.
    numbers: PrefixTrie,
    /// Number blocks as written: (prefix, customer index).
    pub number_blocks: Vec<(String, u32)>,
    /// Home country of the numbering plan the tables were built for.
    pub home_country: String,
    /// The distinct currencies of the plans, sorted (`Plan::currency` indexes).
    pub currencies: Currencies,
    /// The distinct customer time zones (`Customer::zone` indexes).
    pub zones: Vec<jiff::tz::TimeZone>,
    /// XXH3-128 (32 lowercase hex digits) of exactly the table files this
    /// was built from: each file's path relative to the rates folder, its
    /// length and its bytes, in load order (wholesale, plans by name,
    /// customers, numbers). Names the version that priced a file.
    pub digest: String,
}

impl std::fmt::Debug for PrefixTrie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrefixTrie({} prefixes)", self.len())
    }
}

impl Tariff {
    /// The wholesale destination of the longest prefix of `number`.
    #[inline]
    pub fn destination(&self, number: &[u8]) -> Option<u32> {
        self.trie.longest_match(number).map(|(v, _)| v)
    }

    /// The hot record of destination `d`.
    #[inline]
    pub fn hot(&self, d: u32) -> &DestHot {
        &self.hot[d as usize]
    }

    /// `prefix,name,country,kind` of destination `d` as CSV.
    #[inline]
    pub fn destination_csv(&self, d: u32) -> &[u8] {
        let (at, len) = self.hot[d as usize].csv;
        &self.csv_arena[at as usize..(at + len) as usize]
    }

    /// The customer with this id.
    #[inline]
    pub fn customer_by_id(&self, id: &[u8]) -> Option<u32> {
        self.customer_index.get(id).copied()
    }

    /// The customer owning the longest number block that prefixes `number`.
    #[inline]
    pub fn customer_by_number(&self, number: &[u8]) -> Option<u32> {
        self.numbers.longest_match(number).map(|(v, _)| v)
    }

    /// The plan with this name.
    pub fn plan_by_name(&self, name: &str) -> Option<u32> {
        self.plans.iter().position(|p| p.name == name).map(|i| i as u32)
    }

    /// Number of wholesale prefixes.
    pub fn prefix_count(&self) -> usize {
        self.trie.len()
    }

    /// Number of number blocks.
    pub fn number_block_count(&self) -> usize {
        self.numbers.len()
    }
}

/// Most distinct plan currencies one set of tables may use: totals keep
/// money per currency in a fixed array of this size (no allocation or
/// hashing per call). A power of two, so an index can be masked into range.
pub const MAX_CURRENCIES: usize = 8;

/// A small set of ISO 4217 currency codes, each at a fixed index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Currencies {
    /// The codes; only the first `len` are in use.
    codes: [[u8; 3]; MAX_CURRENCIES],
    /// Number of codes in use.
    len: u8,
}

impl Currencies {
    /// The sorted set of `codes` (three ASCII letters each), or the sorted
    /// distinct codes when there are more than [`MAX_CURRENCIES`].
    pub fn from_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> Result<Currencies, Vec<String>> {
        let set: std::collections::BTreeSet<&str> = codes.into_iter().collect();
        if set.len() > MAX_CURRENCIES || set.iter().any(|c| c.len() != 3) {
            return Err(set.into_iter().map(str::to_string).collect());
        }
        let mut out = Currencies::default();
        for c in set {
            out.push(c.as_bytes().try_into().expect("three bytes, checked above"));
        }
        Ok(out)
    }

    /// Number of currencies.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index of `code`.
    pub fn index_of(&self, code: &[u8]) -> Option<usize> {
        self.codes[..self.len()].iter().position(|c| c == code)
    }

    /// Adds `code` at the next index; `None` when the set is full.
    pub fn push(&mut self, code: [u8; 3]) -> Option<usize> {
        let at = self.len();
        if at == MAX_CURRENCIES {
            return None;
        }
        self.codes[at] = code;
        self.len += 1;
        Some(at)
    }

    /// The code at index `i` (`"???"` if it is not valid text, which
    /// validated tables rule out).
    pub fn code(&self, i: usize) -> &str {
        std::str::from_utf8(&self.codes[i]).unwrap_or("???")
    }

    /// Every code with its index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        (0..self.len()).map(|i| (i, self.code(i)))
    }
}

/// Numbers the plans' currencies ([`Plan::currency`]); fails, naming them,
/// beyond [`MAX_CURRENCIES`].
fn number_currencies(plans: &mut [Plan]) -> Result<Currencies, String> {
    let currencies = Currencies::from_codes(plans.iter().map(|p| p.levels.currency.as_str())).map_err(|all| {
        format!(
            "the plans use {} currencies ({}); at most {MAX_CURRENCIES} are supported in one set of tables",
            all.len(),
            all.join(", ")
        )
    })?;
    for p in plans {
        p.currency = currencies.index_of(p.levels.currency.as_bytes()).unwrap_or(0) as u8;
    }
    Ok(currencies)
}

/// Writes `value` as one CSV field, quoted when it needs to be.
pub fn csv_field(out: &mut Vec<u8>, value: &[u8]) {
    if value.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &b in value {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(value);
    }
}
