//! Tariff tables: the wholesale deck, the plans, the customers and their
//! number blocks, validated and indexed for rating.
//!
//! A [`Tariff`] is immutable once built. Every per-destination sell price of
//! every plan is resolved at load time into a [`FixedPrice`], so rating a call
//! is two trie walks and a table index. A reload builds a new `Tariff` and
//! swaps it whole; a file is always rated against one consistent snapshot.

mod category;
pub mod diff;
mod epoch;
mod hugemem;
mod idindex;
mod load;
pub mod margins;
pub mod periods;
pub mod plan;
mod sell;
pub mod services;
mod tables;
pub mod trie;
mod versions;

use hashbrown::HashMap;
use rust_decimal::Decimal;

pub use category::Category;
pub use epoch::{Deck, Epoch, NO_PLAN};
pub use load::{load, LoadError, LoadErrors, LoadReport};
pub use sell::{Limits, Plan, Quote};
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
    /// `prefix,name,country,kind` CSV bytes in the deck's CSV arena.
    csv: (u32, u32),
    /// ISO country of the destination, for IDS statistics.
    pub country: [u8; 2],
    /// The invoice line its calls go on ([`Category::dense`]).
    pub usage: u16,
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
    /// Plan index ([`Tariff::plan_names`]) in the newest version listing
    /// the customer; per epoch see [`Epoch::plan_of`].
    pub plan: u32,
    /// Euros per day above the average day; `None` = IDS off.
    pub ids_range: Option<Decimal>,
    /// IANA zone of the customer's day; `None` = configured default.
    pub timezone: Option<String>,
    /// Index of `timezone` in [`Tariff::zones`].
    pub zone: Option<u16>,
    /// The id as a CSV field.
    pub csv_id: Box<[u8]>,
    /// Service plan (`service_plans/NAME.toml`) pricing its services.
    pub service_plan: Option<String>,
    /// The reseller it was brought by (`resellers.csv`).
    pub reseller: Option<String>,
    /// Postal address lines (`;`-separated in `customers.csv`).
    pub address: Vec<String>,
    /// VAT number, for the invoice.
    pub vat_number: Option<String>,
}

/// All tariff tables, every version, validated and indexed. Immutable.
///
/// The versions of each table (SPEC §3.5) are combined into [`Epoch`]s:
/// the stretches of time between two version dates, each a complete set of
/// tables. Customers and plans have one index across every epoch (the
/// union of the versions, in order of first appearance), so spend, totals
/// and outputs never depend on which epoch priced a call.
#[derive(Debug, Clone)]
pub struct Tariff {
    /// The epochs, by start; the first starts at `i64::MIN`.
    epochs: Vec<Epoch>,
    /// Every customer of any version, as listed by the newest version that
    /// lists it (name, IDS range, zone and plan for display and IDS).
    pub customers: Vec<Customer>,
    /// Customer id to index, over every version.
    customer_index: HashMap<Box<[u8]>, u32>,
    /// Each customer's `csv_id` inline when it fits, for the rated rows
    /// (a customer found through its number block writes this).
    customer_csv: Box<[CsvId]>,
    /// Every plan name of any version (plan indexes).
    pub plan_names: Vec<String>,
    /// Home country of the numbering plan the tables were built for.
    pub home_country: String,
    /// The distinct currencies of the plans, sorted (`Plan::currency` indexes).
    pub currencies: Currencies,
    /// The distinct customer time zones (`Customer::zone` indexes).
    pub zones: Vec<jiff::tz::TimeZone>,
    /// Every table file read, with the instant its version starts.
    pub versions: Vec<VersionFile>,
    /// XXH3-128 (32 lowercase hex digits) of exactly the table files this
    /// was built from: each file's path relative to the rates folder, its
    /// length and its bytes, in load order (decks, plans by name, service
    /// tables, customers, subscriptions, numbers; versions by date). Names
    /// the version that priced a file.
    pub digest: String,
    /// Service tariffs, subscriptions and resellers (SPEC §12.2), every version.
    pub services: services::ServiceTables,
}

/// One table file and the version it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFile {
    /// Path relative to the rates folder, e.g. `plans/standard@2027-01-01.toml`.
    pub file: String,
    /// The version's date (`None`: the undated file).
    pub date: Option<jiff::civil::Date>,
    /// When it comes into force (epoch seconds; `i64::MIN` for undated).
    pub from: i64,
}

impl std::fmt::Debug for PrefixTrie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrefixTrie({} prefixes)", self.len())
    }
}

impl Tariff {
    /// The epoch in force at `epoch_seconds`, with its index.
    #[inline]
    pub fn epoch_at(&self, epoch_seconds: i64) -> (u16, &Epoch) {
        if self.epochs.len() == 1 {
            return (0, &self.epochs[0]);
        }
        let i = self.epochs.partition_point(|e| e.from <= epoch_seconds).saturating_sub(1);
        (i as u16, &self.epochs[i])
    }

    /// Epoch `i` (as returned by [`Tariff::epoch_at`]).
    #[inline]
    pub fn epoch(&self, i: u16) -> &Epoch {
        &self.epochs[usize::from(i)]
    }

    /// Every epoch, by start.
    pub fn epochs(&self) -> &[Epoch] {
        &self.epochs
    }

    /// The newest epoch: the tables in force once every version has started.
    pub fn latest(&self) -> &Epoch {
        self.epochs.last().expect("a tariff has at least one epoch")
    }

    /// Customer `c`'s id as a CSV field ([`Customer::csv_id`]).
    #[inline]
    pub fn customer_csv_id(&self, c: u32) -> &[u8] {
        match self.customer_csv.get(c as usize) {
            Some(inline) if inline.len as usize <= inline.bytes.len() => &inline.bytes[..inline.len as usize],
            _ => &self.customers[c as usize].csv_id,
        }
    }

    /// Brings customer `c`'s CSV id into the cache.
    #[inline]
    pub fn prefetch_customer_csv_id(&self, c: u32) {
        if let Some(inline) = self.customer_csv.get(c as usize) {
            hugemem::prefetch(inline);
        }
    }

    /// The customer with this id (in any version).
    #[inline]
    pub fn customer_by_id(&self, id: &[u8]) -> Option<u32> {
        self.customer_index.get(id).copied()
    }

    /// The plan with this name (in any version).
    pub fn plan_by_name(&self, name: &str) -> Option<u32> {
        self.plan_names.iter().position(|p| p == name).map(|i| i as u32)
    }

    /// The newest version of plan `plan`.
    pub fn newest_plan(&self, plan: u32) -> &Plan {
        self.epochs
            .iter()
            .rev()
            .find_map(|e| e.plans.get(plan as usize).and_then(|p| p.as_deref()))
            .expect("every plan index has a version")
    }

    /// The currency of customer `c`'s newest plan.
    pub fn currency_of(&self, c: u32) -> &str {
        &self.newest_plan(self.customers[c as usize].plan).levels.currency
    }

    /// Number of wholesale prefixes of the newest deck.
    pub fn prefix_count(&self) -> usize {
        self.latest().deck.prefix_count()
    }
}

/// A customer's CSV id in one cache-line half: `len` bytes of `bytes`, or
/// `len` = `u8::MAX` when it is too long (then read from the [`Customer`]).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct CsvId {
    len: u8,
    bytes: [u8; 31],
}

impl CsvId {
    fn new(csv_id: &[u8]) -> CsvId {
        let mut c = CsvId { len: u8::MAX, bytes: [0; 31] };
        if csv_id.len() <= c.bytes.len() {
            c.bytes[..csv_id.len()].copy_from_slice(csv_id);
            c.len = csv_id.len() as u8;
        }
        c
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
