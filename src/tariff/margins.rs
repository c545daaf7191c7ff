//! Margin checks for `cdr-rater check`: every plan price that can sell a
//! call below its cost, and every plan that sells in another currency than
//! the wholesale deck.
//!
//! For one destination under one plan, sell and buy of an answered call of
//! `t` seconds are (SPEC §5)
//!
//! ```text
//! sell(t) = start_fee   + sell_rate × Bs(t) / 60     Bs: the plan's increments
//! buy(t)  = connect_fee + buy_rate  × Bb(t) / 60     Bb: the deck row's increments
//! ```
//!
//! Both only grow with `t`, so between two steps of `Bb` (where buy is
//! constant) the margin is smallest at the step itself: the candidates are
//! `t = 1` and `t = Fb + 1 + k × Nb`. Once `t` is past the sell side's first
//! period, `Bs(t) - t` repeats every `P = Ns / gcd(Ns, Nb)` candidates, so
//! the margin moves by the same amount, `(sell_rate - buy_rate) × P × Nb / 60`,
//! every `P` candidates. That bounds the work per price to the sell side's
//! first period plus one repetition, whatever the call length: the analysis
//! is exact (integer arithmetic on the unrounded prices) for every call up
//! to `[limits] max_billsec` (longer calls are rejected, never billed).
//!
//! Prices are analysed once per distinct (sell, buy, increments) tuple, and
//! the findings are reported one line per plan, price key and kind, with a
//! count of the prefixes affected and the worst of them, so a 60k-prefix
//! deck gives a readable report.

use std::collections::BTreeMap;
use std::path::Path;

use hashbrown::HashMap;

use super::load::LoadError;
use super::plan::{self, Level, LevelName};
use super::{Destination, Plan, Tariff};
use crate::money::{format_units, FixedPrice, Increment};

/// What the margin checks compare against.
#[derive(Debug, Clone, Copy)]
pub struct MarginCheck<'a> {
    /// Folder the tables were loaded from (warnings name `plans/NAME.toml` in it).
    pub rates_dir: &'a Path,
    /// ISO 4217 code of the wholesale deck's prices (`[deck] currency`).
    pub deck_currency: &'a str,
    /// Longest call that is billed (`[limits] max_billsec`).
    pub max_billsec: u32,
    /// Decimals prices are billed with (`price_decimals`).
    pub decimals: u32,
}

/// Where a loss of one price is, as found by [`analyse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// The shortest call (seconds) that sells below cost.
    pub first: u32,
    /// The call length (seconds) with the lowest margin (the shortest of them).
    pub worst: u32,
    /// What makes the price lose.
    pub cause: Cause,
}

/// Why a price loses, which names the key to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// The sell rate per minute is below the buy rate: long calls lose.
    Rate,
    /// The start fee is below the connect fee: short calls lose.
    Fee,
    /// The plan's increments bill fewer seconds than the deck's.
    Increment,
}

/// Checks every plan of `t`; returns one warning per plan currency that is
/// not the deck's, and one per plan, price key and destination kind that
/// can sell below cost.
pub fn check(t: &Tariff, opts: &MarginCheck<'_>) -> Vec<LoadError> {
    let mut warnings = Vec::new();
    let mut memo: HashMap<Tuple, Option<Loss>> = HashMap::new();
    // Each plan version once per deck it is priced against.
    let mut seen: Vec<(*const Plan, *const super::Deck)> = Vec::new();
    for epoch in t.epochs() {
        for plan in epoch.plans.iter().flatten() {
            let key = (std::sync::Arc::as_ptr(plan), std::sync::Arc::as_ptr(&epoch.deck));
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            check_plan(plan, &epoch.deck.destinations, &t.home_country, opts, &mut memo, &mut warnings);
        }
    }
    let mut unique = Vec::new();
    for w in warnings {
        if !unique.contains(&w) {
            unique.push(w);
        }
    }
    unique
}

/// The warnings of one plan version priced against one deck.
fn check_plan(
    plan: &Plan,
    destinations: &[Destination],
    home: &str,
    opts: &MarginCheck<'_>,
    memo: &mut HashMap<Tuple, Option<Loss>>,
    warnings: &mut Vec<LoadError>,
) {
    {
        let file = opts.rates_dir.join(&plan.file);
        if plan.levels.currency != opts.deck_currency {
            let written = if plan.levels.currency_line.is_some() { "" } else { " (the default)" };
            warnings.push(LoadError {
                file: file.clone(),
                line: plan.levels.currency_line.map(u64::from),
                message: format!(
                    "plan {} sells in {}{written} but the wholesale deck is in {} ([deck] currency): \
                     its margins and totals mix currencies",
                    plan.name, plan.levels.currency, opts.deck_currency
                ),
            });
        }
        let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
        let mut consider = |over: Option<u32>, di: u32, sell: FixedPrice| {
            let d = &destinations[di as usize];
            let tuple = Tuple::new(sell, plan.levels.increment, d.buy, d.increment);
            let loss = *memo
                .entry(tuple)
                .or_insert_with(|| analyse(sell, plan.levels.increment, d.buy, d.increment, opts.max_billsec));
            if let Some(loss) = loss {
                let finding = Finding { over, dest: di, sell, loss };
                add_finding(plan, d, home, finding, opts, &mut groups);
            }
        };
        // Every number of a destination under an override prefix pays the
        // override's price; every period's price is a price.
        for (over, di, sell) in plan.every_price(destinations) {
            consider(over, di, sell);
        }
        for (key, g) in groups {
            warnings.push(LoadError { file: file.clone(), line: key.line.map(u64::from), message: g.message() });
        }
    }
}

/// Prices and increments that decide a margin: the memo key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tuple([u64; 8]);

impl Tuple {
    fn new(sell: FixedPrice, si: Increment, buy: FixedPrice, bi: Increment) -> Tuple {
        let scales = u64::from(sell.scale) << 8 | u64::from(buy.scale);
        let incs = [si.first, si.next, bi.first, bi.next].map(u64::from);
        Tuple([sell.fee, sell.rate, buy.fee, buy.rate, scales, incs[0] << 32 | incs[1], incs[2] << 32 | incs[3], 0])
    }
}

/// Whether some answered call of 1 to `max_billsec` seconds sells below
/// cost, comparing the exact (unrounded) prices; see the module docs.
pub fn analyse(sell: FixedPrice, si: Increment, buy: FixedPrice, bi: Increment, max_billsec: u32) -> Option<Loss> {
    let scale = sell.scale.max(buy.scale);
    let widen = |v: u64, s: u8| i128::from(v) * 10i128.pow(u32::from(scale - s));
    let (sf, sr) = (widen(sell.fee, sell.scale), widen(sell.rate, sell.scale));
    let (bf, br) = (widen(buy.fee, buy.scale), widen(buy.rate, buy.scale));
    if si == bi && sr >= br && sf >= bf {
        return None;
    }
    // 60 × margin, in units of 10^-scale.
    let m60 = |t: u32| 60 * (sf - bf) + sr * i128::from(si.billed(t)) - br * i128::from(bi.billed(t));
    let max = u64::from(max_billsec.max(1));
    let (fb, nb, fs, ns) = (u64::from(bi.first), u64::from(bi.next), u64::from(si.first), u64::from(si.next));
    // Candidates t_k = fb + 1 + k × nb, k < count.
    let t_of = |k: u64| fb + 1 + k * nb;
    let count = if fb + 1 > max { 0 } else { (max - fb - 1) / nb + 1 };
    // Lowest margin (value, t) and the first losing t.
    let mut worst = (m60(1), 1u64);
    let mut first = (worst.0 < 0).then_some(1u64);
    let mut see = |t: u64, v: i128, first: &mut Option<u64>| {
        if v < worst.0 {
            worst = (v, t);
        }
        if v < 0 && first.is_none() {
            *first = Some(t);
        }
    };
    // Candidates up to the sell side's first period: no pattern yet.
    let k0 = if fs < fb + 1 { 0 } else { (fs - fb) / nb + 1 }.min(count);
    for k in 0..k0 {
        let t = t_of(k);
        see(t, m60(t as u32), &mut first);
    }
    // After it, every `period` candidates add `step` to the margin.
    let period = ns / gcd(ns, nb);
    let step = (sr - br) * i128::from(period * nb);
    let left = count - k0;
    let mut firsts: Vec<(u64, i128)> = Vec::new();
    for j in 0..period.min(left) {
        let t = t_of(k0 + j);
        let v = m60(t as u32);
        see(t, v, &mut first);
        firsts.push((j, v));
    }
    if step < 0 {
        // Long calls lose more: the lowest margins are in the last
        // repetition, and a price that does not lose in the first one loses
        // some repetitions later (if before the longest call).
        for &(j, v) in &firsts {
            let last = (left - 1 - j) / period;
            let (v_last, t_last) = (v + step * i128::from(last), t_of(k0 + j + last * period));
            if (v_last, t_last) < worst {
                worst = (v_last, t_last);
            }
        }
        if first.is_none() {
            first = firsts
                .iter()
                .map(|&(j, v)| (k0 + j).saturating_add(((v / -step) as u64).saturating_add(1).saturating_mul(period)))
                .filter(|&k| k < count)
                .map(t_of)
                .min();
        }
    }
    let cause = if sr < br {
        Cause::Rate
    } else if sf < bf {
        Cause::Fee
    } else {
        Cause::Increment
    };
    first.map(|f| Loss { first: f as u32, worst: worst.1 as u32, cause })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One losing price: a destination's base price (`over` is `None`) or its
/// price under the plan's `[prefix."P"]` number `over`.
#[derive(Debug, Clone, Copy)]
struct Finding {
    over: Option<u32>,
    dest: u32,
    sell: FixedPrice,
    loss: Loss,
}

/// The key of one report line: the line of the key at fault, the key and
/// its level, the destination kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    line: Option<u32>,
    key: String,
    kind: usize,
}

/// A report line in the making.
#[derive(Debug)]
struct Group {
    count: u64,
    /// The worst finding so far: margin at its worst call (billed units),
    /// then destination and override, so the choice does not depend on order.
    worst: (i64, u32, Option<u32>),
    /// The line around the count: `head` COUNT `tail`.
    head: String,
    tail: String,
}

impl Group {
    fn message(&self) -> String {
        let n = self.count;
        let what = if n == 1 { "1 prefix".to_string() } else { format!("{n} prefixes") };
        format!("{}{what}{}", self.head, self.tail)
    }
}

fn add_finding(
    plan: &Plan,
    d: &Destination,
    home: &str,
    f: Finding,
    opts: &MarginCheck<'_>,
    groups: &mut BTreeMap<GroupKey, Group>,
) {
    let mut levels: Vec<(LevelName, &Level)> = Vec::with_capacity(3);
    if let Some(o) = f.over {
        let (p, l) = &plan.levels.prefixes[o as usize];
        levels.push((LevelName::Prefix(p.clone()), l));
    }
    if let Some(l) = plan.levels.countries.get(&d.country) {
        levels.push((LevelName::Country(d.country.clone()), l));
    }
    if d.country == home {
        levels.push((LevelName::Domestic, &plan.levels.domestic));
    } else {
        levels.push((LevelName::International, &plan.levels.international));
    }
    let Some(r) = plan::resolve(&levels, d.kind, d.rate, None) else { return };
    let level_of = |name: &LevelName| levels.iter().find(|(n, _)| n == name).map(|(_, l)| *l);
    let (key, line, why) = match (f.loss.cause, &r.fee_from) {
        (Cause::Rate, _) | (Cause::Fee, None) => {
            let (name, key) = &r.rate_from;
            let line = level_of(name).and_then(|l| l.line(key));
            let why = if f.loss.cause == Cause::Rate {
                format!("sell rate {}/min < buy rate {}/min", r.rate.normalize(), d.rate.normalize())
            } else {
                format!("no start_fee against a connect fee of {}", d.connect_fee.normalize())
            };
            (format!("{name} {key}"), line, why)
        }
        (Cause::Fee, Some(name)) => {
            let line = level_of(name).and_then(|l| l.line("start_fee"));
            let why = format!("start_fee {} < connect fee {}", r.start_fee.normalize(), d.connect_fee.normalize());
            (format!("{name} start_fee"), line, why)
        }
        (Cause::Increment, _) => {
            let why = format!("increment {} against the deck's {}", plan.levels.increment, d.increment);
            ("increment".to_string(), plan.levels.increment_line, why)
        }
    };
    let dec = opts.decimals;
    let billed = |t: u32| {
        let s = f.sell.charge(plan.levels.increment.billed(t), dec);
        let b = d.buy.charge(d.increment.billed(t), dec);
        (s as i64, b as i64)
    };
    let (s1, b1) = billed(f.loss.first);
    let (sw, bw) = billed(f.loss.worst);
    let worst = (sw - bw, f.dest, f.over);
    let g = groups.entry(GroupKey { line, key: key.clone(), kind: d.kind.index() }).or_insert(Group {
        count: 0,
        worst: (i64::MAX, 0, None),
        head: String::new(),
        tail: String::new(),
    });
    g.count += 1;
    if worst >= g.worst {
        return;
    }
    g.worst = worst;
    let units = |u: i64| format_units(i128::from(u), dec);
    let under = f.over.map_or(String::new(), |o| format!(" under [prefix.\"{}\"]", plan.levels.prefixes[o as usize].0));
    let longest =
        if f.loss.worst == opts.max_billsec { " (the longest call billed, [limits] max_billsec)" } else { "" };
    g.head = format!("plan {}, {key}, {}: ", plan.name, d.kind.as_str());
    g.tail = format!(
        " can sell below cost ({why}); worst: destination {} ({}, {}){under}: \
         sell {} < buy {} for a {} s call; worst at {} s{longest}: margin {}",
        d.prefix,
        d.name,
        d.kind.as_str(),
        units(s1),
        units(b1),
        f.loss.first,
        f.loss.worst,
        units(sw - bw),
    );
}
