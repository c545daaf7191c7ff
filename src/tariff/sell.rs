//! A plan priced against one wholesale deck: every sell price resolved at
//! load time, per destination and per period that has prices of its own,
//! and the per-call limits (SPEC §3.2, §3.6, §3.7).
//!
//! Rating a call in one period of a plan without limits costs what it did
//! before periods existed: one table index ([`Plan::quote`], [`Plan::price`]).

use hashbrown::HashMap;

use super::hugemem::HugeSlice;
use super::plan::{self, LevelName, PlanLevels, Resolution};
use super::trie::PrefixTrie;
use super::{csv_field, Destination};
use crate::money::FixedPrice;

/// Where a call's sell prices are: a destination's row in the base tables,
/// or an override pair's row, with the call's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Row: a destination index, or (override) an offset into the override table.
    row: u32,
    /// Whether `row` is an override row.
    over: bool,
    /// Index into [`Plan::limits`]; 0 = no limit.
    pub limits: u16,
}

/// A call's `min_charge` and `max_charge` as exact decimals (mantissa, scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Limits {
    /// Least sell of an answered call.
    pub min: Option<(u64, u8)>,
    /// Most sell of a call.
    pub max: Option<(u64, u8)>,
}

impl Limits {
    /// `(min, max)` in units of `10^-decimals`: min rounded up and max down,
    /// so that a limited sell never passes the written limit.
    #[inline]
    pub fn units(&self, decimals: u32) -> (u64, u64) {
        let conv = |(m, s): (u64, u8), up: bool| {
            let s = u32::from(s);
            if s <= decimals {
                m.saturating_mul(10u64.saturating_pow(decimals - s))
            } else {
                let d = 10u64.pow(s - decimals);
                if up {
                    m.div_ceil(d)
                } else {
                    m / d
                }
            }
        };
        (self.min.map_or(0, |v| conv(v, true)), self.max.map_or(u64::MAX, |v| conv(v, false)))
    }
}

/// A plan with its resolved sell prices.
#[derive(Debug, Clone)]
pub struct Plan {
    /// File stem under `rates/plans/` (without a version date).
    pub name: String,
    /// The version's file, relative to the rates folder.
    pub file: String,
    /// Levels as written.
    pub levels: PlanLevels,
    /// Price tables by destination; `[0]` is the base period's.
    tables: Vec<HugeSlice<FixedPrice>>,
    /// The price table of each period index (0 = `standard`).
    table_of_period: [u8; 16],
    /// `[prefix."P"]` overrides: digit trie to the index in `levels.prefixes`.
    override_trie: PrefixTrie,
    /// (override index, destination index) pairs that a number can hit, to
    /// (offset of their row in `override_rows`, limits index).
    override_prices: HashMap<(u32, u32), (u32, u16)>,
    /// Override rows, `tables.len()` prices each.
    override_rows: Vec<FixedPrice>,
    /// Distinct limits; `[0]` = none.
    pub limits: Vec<Limits>,
    /// Limits index per destination; empty when the plan sets no limit.
    limit_of_dest: Vec<u16>,
    /// `plan,currency` CSV fragments written into rated rows.
    pub csv_name: Box<[u8]>,
    /// Currency as CSV.
    pub csv_currency: Box<[u8]>,
    /// Index of `levels.currency` in the tariff's currencies: the money
    /// slot of this plan's calls in `totals::Totals`.
    pub currency: u8,
}

impl Plan {
    /// Where the sell prices of destination `dest` reached by `number` are.
    #[inline]
    pub fn quote(&self, dest: u32, number: &[u8]) -> Quote {
        if !self.override_trie.is_empty() {
            if let Some((o, _)) = self.override_trie.longest_match(number) {
                if let Some(&(row, limits)) = self.override_prices.get(&(o, dest)) {
                    return Quote { row, over: true, limits };
                }
            }
        }
        let limits = self.limit_of_dest.get(dest as usize).copied().unwrap_or(0);
        Quote { row: dest, over: false, limits }
    }

    /// Brings the base-period price of destination `dest` into the cache.
    #[inline]
    pub fn prefetch(&self, dest: u32) {
        if let Some(price) = self.tables.first().and_then(|t| t.get(dest as usize)) {
            super::hugemem::prefetch(price);
        }
    }

    /// The sell price of a quote in period `period`.
    #[inline]
    pub fn price(&self, q: Quote, period: u8) -> FixedPrice {
        let table = self.table_of_period[usize::from(period) & 15];
        if q.over {
            self.override_rows[q.row as usize + usize::from(table)]
        } else {
            self.tables[usize::from(table)][q.row as usize]
        }
    }

    /// The sell price of destination `dest` reached by `number` in the
    /// base period.
    pub fn sell_price(&self, dest: u32, number: &[u8]) -> FixedPrice {
        self.price(self.quote(dest, number), 0)
    }

    /// Every sell price with the override index it belongs to and its
    /// destination index, for the margin checks: base rows whose numbers
    /// no override covers, then the override rows.
    pub fn every_price(&self, destinations: &[Destination]) -> Vec<(Option<u32>, u32, FixedPrice)> {
        let mut out = Vec::new();
        for (di, d) in destinations.iter().enumerate() {
            if self.override_trie.longest_match(d.prefix.as_bytes()).is_none() {
                for t in &self.tables {
                    out.push((None, di as u32, t[di]));
                }
            }
        }
        for (&(o, di), &(row, _)) in &self.override_prices {
            for t in 0..self.tables.len() {
                out.push((Some(o), di, self.override_rows[row as usize + t]));
            }
        }
        out.sort_by_key(|(o, d, p)| (*o, *d, p.fee, p.rate, p.scale));
        out.dedup();
        out
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
        levels.extend(base_levels(&self.levels, dest, home_country));
        levels
    }

    /// Explains the sell price of `dest` reached by `number` in `period`
    /// (`None`: the base period).
    pub fn explain(&self, dest: &Destination, number: &[u8], home_country: &str, period: Option<&str>) -> Resolution {
        let levels = self.levels_for(dest, number, home_country);
        plan::resolve(&levels, dest.kind, dest.rate, period).expect("validated plans always resolve")
    }
}

/// `[country.C]` then `[domestic]` or `[international]` for `d`.
fn base_levels<'p>(levels: &'p PlanLevels, d: &Destination, home: &str) -> Vec<(LevelName, &'p plan::Level)> {
    let mut v = Vec::with_capacity(2);
    if let Some(l) = levels.countries.get(&d.country) {
        v.push((LevelName::Country(d.country.clone()), l));
    }
    if d.country == home {
        v.push((LevelName::Domestic, &levels.domestic));
    } else {
        v.push((LevelName::International, &levels.international));
    }
    v
}

/// Prices plan `levels` against a deck; an error names the first
/// destination that cannot be priced.
pub(super) fn build_plan(
    name: String,
    levels: PlanLevels,
    destinations: &[Destination],
    trie: &PrefixTrie,
    home: &str,
) -> Result<Plan, String> {
    // Period `i` has its own table when some level has a sub-table for it.
    let mut table_of_period = [0u8; 16];
    let mut table_periods: Vec<Option<String>> = vec![None];
    for (i, def) in levels.periods.defs.iter().enumerate() {
        if levels.all_levels().any(|(_, l)| l.by_period.iter().any(|(p, _)| *p == def.name)) {
            table_of_period[i + 1] = table_periods.len() as u8;
            table_periods.push(Some(def.name.clone()));
        }
    }
    let mut limits: Vec<Limits> = vec![Limits::default()];
    let has_limits = levels.has_limits();
    // The prices of one row, at one scale when there are several (a call
    // across periods adds their rates), and its limits index.
    let mut row = |lv: &[(LevelName, &plan::Level)], d: &Destination| -> Result<(Vec<FixedPrice>, u16), String> {
        let mut prices = Vec::with_capacity(table_periods.len());
        let mut limit = Limits::default();
        for period in &table_periods {
            let r = plan::resolve(lv, d.kind, d.rate, period.as_deref())
                .ok_or_else(|| format!("no sell rate for {} ({})", d.prefix, d.kind.as_str()))?;
            prices.push(FixedPrice::new(r.start_fee, r.rate).ok_or_else(|| {
                format!(
                    "sell price for {} is above 100000 per minute or needs more than 19 significant digits",
                    d.prefix
                )
            })?);
            if let (Some((min, from_min)), Some((max, from_max))) = (&r.min_charge, &r.max_charge) {
                if min > max {
                    return Err(format!(
                        "destination {}: min_charge {min} ({from_min}) is above max_charge {max} ({from_max})",
                        d.prefix
                    ));
                }
            }
            let exact = |v: &Option<(rust_decimal::Decimal, LevelName)>| {
                v.as_ref().map(|(x, _)| {
                    let x = x.normalize();
                    (u64::try_from(x.mantissa()).unwrap_or(u64::MAX), x.scale() as u8)
                })
            };
            limit = Limits { min: exact(&r.min_charge), max: exact(&r.max_charge) };
        }
        if prices.len() > 1 {
            let scale = prices.iter().map(|p| p.scale).max().unwrap_or(0);
            for p in &mut prices {
                *p = p.at_scale(scale).ok_or_else(|| {
                    format!("sell prices for {} need more than 19 significant digits at one scale", d.prefix)
                })?;
            }
        }
        let li = if has_limits && limit != Limits::default() {
            match limits.iter().position(|l| *l == limit) {
                Some(i) => i as u16,
                None if limits.len() < usize::from(u16::MAX) => {
                    limits.push(limit);
                    (limits.len() - 1) as u16
                }
                None => return Err("too many distinct min_charge/max_charge pairs".into()),
            }
        } else {
            0
        };
        Ok((prices, li))
    };
    let mut tables: Vec<Vec<FixedPrice>> = vec![Vec::with_capacity(destinations.len()); table_periods.len()];
    let mut limit_of_dest = Vec::new();
    for d in destinations {
        let (prices, li) = row(&base_levels(&levels, d, home), d)?;
        for (t, p) in tables.iter_mut().zip(prices) {
            t.push(p);
        }
        if has_limits {
            limit_of_dest.push(li);
        }
    }
    let mut override_trie = PrefixTrie::new();
    let mut override_prices = HashMap::new();
    let mut override_rows = Vec::new();
    for (o, (prefix, level)) in levels.prefixes.iter().enumerate() {
        override_trie.insert(prefix.as_bytes(), o as u32);
        for di in trie.related(prefix.as_bytes()) {
            let d = &destinations[di as usize];
            let mut lv = vec![(LevelName::Prefix(prefix.clone()), level)];
            lv.extend(base_levels(&levels, d, home));
            let (prices, li) = row(&lv, d)?;
            override_prices.insert((o as u32, di), (override_rows.len() as u32, li));
            override_rows.extend(prices);
        }
    }
    let mut csv_name = Vec::new();
    csv_field(&mut csv_name, name.as_bytes());
    let mut csv_currency = Vec::new();
    csv_field(&mut csv_currency, levels.currency.as_bytes());
    Ok(Plan {
        name,
        file: String::new(),
        levels,
        tables: tables.into_iter().map(HugeSlice::new).collect(),
        table_of_period,
        override_trie,
        override_prices,
        override_rows,
        limits,
        limit_of_dest,
        csv_name: csv_name.into_boxed_slice(),
        csv_currency: csv_currency.into_boxed_slice(),
        currency: 0,
    })
}
