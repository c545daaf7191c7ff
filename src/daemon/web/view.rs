//! What the page and `/api/ids` show of one IDS read for one day: every
//! customer's day against their range, who spent most abroad that day and
//! that month, and the `/api/ids` answer, computed once per read (10,000
//! customers take milliseconds, too many to spend per request) and shared.
//!
//! Everything comes from what the IDS state stores: per customer day, the
//! spend, calls, level and spend per destination country. Nothing is
//! estimated.

use rust_decimal::Decimal;
use serde::Serialize;

use super::ids::IdsData;
use crate::ids::{Country, CustomerDays, DayState, WARM_UP_DAYS};
use crate::money::format_units;
use crate::tariff::Tariff;

/// Money in integer units of `10^-decimals`.
pub type Units = i64;

/// Rows of each "calls abroad" list.
pub const TOP_ABROAD: usize = 10;

/// What a view depends on besides the IDS read.
#[derive(Debug, Clone)]
pub struct ViewSettings {
    /// Days in an IDS baseline.
    pub window_days: u32,
    /// Decimal places of money.
    pub decimals: u32,
    /// Home country (two letters): calls elsewhere are "abroad".
    pub home: [u8; 2],
}

/// Which read, tables and day a view is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewKey {
    /// [`IdsData::generation`] of the read.
    pub generation: u64,
    /// Digest of the tables that named the customers.
    pub digest: String,
    /// The day.
    pub day: i64,
}

/// One customer's day against their IDS range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    /// Customer id.
    pub id: String,
    /// Display name (from `customers.csv`: untrusted text).
    pub name: String,
    /// Currency of every amount of the row.
    pub currency: String,
    /// Spend of the day.
    pub spend: Units,
    /// Mean of the days before, rounded.
    pub baseline: Units,
    /// The IDS range (0 when IDS is off for the customer).
    pub range: Units,
    /// `baseline + range`: where level 1 fires.
    pub threshold: Units,
    /// Highest level raised that day (0: none).
    pub level: u32,
    /// Rated calls of the day.
    pub calls: u64,
    /// The baseline covers fewer than 7 days.
    pub warm_up: bool,
    /// Spend abroad that day (every country but home and internal).
    pub abroad: Units,
    /// Spend abroad by country, largest first (top 3).
    pub top_countries: Vec<(String, Units)>,
    /// Sell of the calls billed in the day's month so far (billing usage;
    /// `None` for a day outside the month read).
    pub month: Option<Units>,
}

/// One customer's spend abroad over some days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbroadRow {
    /// Customer id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Currency of the amounts.
    pub currency: String,
    /// Spend abroad over the days.
    pub total: Units,
    /// Spend by country, largest first (every country).
    pub countries: Vec<(String, Units)>,
}

/// Everything shown of one day.
#[derive(Debug)]
pub struct DayView {
    /// What it was computed from.
    pub key: ViewKey,
    /// Unix seconds of the IDS read.
    pub read_at: i64,
    /// Every customer the state and the tables both know, by spend
    /// (largest first, then id).
    pub rows: Vec<DayRow>,
    /// Who spent most abroad that day (top [`TOP_ABROAD`]).
    pub abroad_day: Vec<AbroadRow>,
    /// Who spent most abroad from `month_from` to the day (top [`TOP_ABROAD`]).
    pub abroad_month: Vec<AbroadRow>,
    /// First day of "this month" the state holds exactly.
    pub month_from: i64,
    /// The `/api/ids` answer for the day (shared by every answer, not copied).
    pub json: axum::body::Bytes,
}

/// A customer as the tables in force know it.
struct Known<'t> {
    name: &'t str,
    currency: &'t str,
    /// IDS range in units (`None`: IDS off for the customer).
    range: Option<Units>,
}

/// The customer `id` in `tariff`, if it is there.
fn known<'t>(tariff: &'t Tariff, id: &str, scale: Decimal) -> Option<Known<'t>> {
    let idx = tariff.customer_by_id(id.as_bytes())?;
    let c = &tariff.customers[idx as usize];
    let currency = tariff.currency_of(idx);
    // As the rating job rounds it, so the threshold shown is the one judged.
    let range = c.ids_range.map(|r| {
        let r = (r * scale).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        i64::try_from(r.mantissa() / 10i128.pow(r.scale())).unwrap_or(i64::MAX)
    });
    Some(Known { name: &c.name, currency, range })
}

/// Whether calls to `c` count as abroad.
fn foreign(c: &Country, home: [u8; 2]) -> bool {
    c.0 != home && c.0 != *b"--"
}

/// Spend abroad per country over `days`, largest first, then by code.
fn by_country<'a>(days: impl Iterator<Item = &'a DayState>, home: [u8; 2]) -> Vec<(String, Units)> {
    let mut sum: Vec<([u8; 2], Units)> = Vec::new();
    for d in days {
        for (c, u) in d.countries.iter().filter(|(c, _)| foreign(c, home)) {
            match sum.iter_mut().find(|s| s.0 == c.0) {
                Some(s) => s.1 += u,
                None => sum.push((c.0, *u)),
            }
        }
    }
    sum.retain(|s| s.1 != 0);
    sum.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sum.into_iter().map(|(c, u)| (Country(c).as_str().to_string(), u)).collect()
}

/// Spend abroad over `days`, without allocating.
fn abroad_total<'a>(days: impl Iterator<Item = &'a DayState>, home: [u8; 2]) -> Units {
    days.flat_map(|d| d.countries.iter()).filter(|(c, _)| foreign(c, home)).map(|(_, u)| u).sum()
}

/// The first day of "this month" the state holds exactly: the 1st, or the
/// oldest day the rating job keeps (it prunes days older than two IDS
/// windows before today) when that is later.
pub fn month_from(today: i64, window: u32) -> i64 {
    let (y, m, _) = crate::timefmt::civil_from_days(today);
    let first = crate::timefmt::days_from_civil(y as i32, m as u8, 1);
    first.max(today - 2 * i64::from(window))
}

/// Who spent most abroad on the days `from..=to` (customer days, as
/// stored), the top `n`; customers with nothing abroad are left out.
fn abroad_top(data: &IdsData, tariff: &Tariff, from: i64, to: i64, n: usize, s: &ViewSettings) -> Vec<AbroadRow> {
    fn days(cd: &CustomerDays, from: i64, to: i64) -> impl Iterator<Item = &DayState> {
        cd.days.range(from..=to).map(|(_, d)| d)
    }
    let range = |cd| days(cd, from, to);
    // Totals first (no allocation), the breakdown for the top ones only.
    let mut totals: Vec<(Units, usize)> = data
        .customers
        .iter()
        .enumerate()
        .map(|(i, (_, cd))| (abroad_total(range(cd), s.home), i))
        .filter(|(t, i)| *t != 0 && tariff.customer_by_id(data.customers[*i].0.as_bytes()).is_some())
        .collect();
    totals.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| data.customers[a.1].0.cmp(&data.customers[b.1].0)));
    let scale = Decimal::from(10i64.pow(s.decimals));
    totals
        .into_iter()
        .take(n)
        .filter_map(|(total, i)| {
            let (id, cd) = &data.customers[i];
            let k = known(tariff, id, scale)?;
            Some(AbroadRow {
                id: id.clone(),
                name: k.name.to_string(),
                currency: k.currency.to_string(),
                total,
                countries: by_country(range(cd), s.home),
            })
        })
        .collect()
}

/// Every customer's row on `day`, by spend.
fn day_rows(data: &IdsData, tariff: &Tariff, day: i64, s: &ViewSettings) -> Vec<DayRow> {
    let scale = Decimal::from(10i64.pow(s.decimals));
    let empty = DayState::default();
    let mut rows = Vec::with_capacity(data.customers.len());
    for (id, cd) in &data.customers {
        let Some(k) = known(tariff, id, scale) else { continue };
        let range = k.range.unwrap_or(0);
        let base = cd.baseline(day, s.window_days);
        let state = cd.days.get(&day).unwrap_or(&empty);
        let baseline = base.rounded();
        let countries = by_country(std::iter::once(state), s.home);
        rows.push(DayRow {
            id: id.clone(),
            name: k.name.to_string(),
            currency: k.currency.to_string(),
            spend: state.units,
            baseline,
            range,
            threshold: baseline.saturating_add(range),
            level: state.level,
            calls: state.calls,
            warm_up: base.n < WARM_UP_DAYS,
            abroad: countries.iter().map(|c| c.1).sum(),
            top_countries: countries.into_iter().take(3).collect(),
            month: (crate::billing::Month::of_day(day) == data.month).then(|| {
                // Usage sums are exact at the price decimals: a plain rescale.
                let sell = (data.month_sell.get(id).copied().unwrap_or_default() * scale).round();
                Units::try_from(sell.mantissa() / 10i128.pow(sell.scale())).unwrap_or(Units::MAX)
            }),
        });
    }
    rows.sort_by(|a, b| b.spend.cmp(&a.spend).then_with(|| a.id.cmp(&b.id)));
    rows
}

/// One customer in `/api/ids`; money as exact decimal strings.
#[derive(Debug, Serialize)]
struct IdsRow<'a> {
    customer_id: &'a str,
    name: &'a str,
    currency: &'a str,
    spend: String,
    baseline: String,
    range: String,
    threshold: String,
    level: u32,
    calls: u64,
    warm_up: bool,
    abroad: String,
    top_countries: Vec<CountryAmount<'a>>,
    /// Sell billed in the day's month so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    month: Option<String>,
}

/// Spend to one country.
#[derive(Debug, Serialize)]
struct CountryAmount<'a> {
    country: &'a str,
    spend: String,
}

/// The `/api/ids` answer.
#[derive(Debug, Serialize)]
struct IdsAnswer<'a> {
    day: String,
    window_days: u32,
    as_of: String,
    customers: Vec<IdsRow<'a>>,
}

/// The view of `day` from `data` with the customers of `tariff`.
pub fn compute(data: &IdsData, tariff: &Tariff, day: i64, s: &ViewSettings) -> DayView {
    let rows = day_rows(data, tariff, day, s);
    let month_from = month_from(day, s.window_days);
    let units = |u: Units| format_units(i128::from(u), s.decimals);
    let answer = IdsAnswer {
        day: crate::timefmt::format_day(day),
        window_days: s.window_days,
        as_of: jiff::Timestamp::from_second(data.read_at).map(|t| t.to_string()).unwrap_or_default(),
        customers: rows
            .iter()
            .map(|r| IdsRow {
                customer_id: &r.id,
                name: &r.name,
                currency: &r.currency,
                spend: units(r.spend),
                baseline: units(r.baseline),
                range: units(r.range),
                threshold: units(r.threshold),
                level: r.level,
                calls: r.calls,
                warm_up: r.warm_up,
                abroad: units(r.abroad),
                top_countries: r
                    .top_countries
                    .iter()
                    .map(|(c, u)| CountryAmount { country: c, spend: units(*u) })
                    .collect(),
                month: r.month.map(units),
            })
            .collect(),
    };
    // Serialising plain structs of strings and numbers cannot fail.
    let json = axum::body::Bytes::from(serde_json::to_string(&answer).unwrap_or_default());
    DayView {
        key: ViewKey { generation: data.generation, digest: tariff.digest.clone(), day },
        read_at: data.read_at,
        abroad_day: abroad_top(data, tariff, day, day, TOP_ABROAD, s),
        abroad_month: abroad_top(data, tariff, month_from, day, TOP_ABROAD, s),
        month_from,
        rows,
        json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(pairs: &[(&[u8; 2], i64)]) -> DayState {
        DayState {
            units: pairs.iter().map(|p| p.1).sum(),
            calls: 1,
            countries: pairs.iter().map(|(c, u)| (Country(**c), *u)).collect(),
            level: 0,
        }
    }

    #[test]
    fn abroad_leaves_out_home_and_internal_calls_and_sums_days() {
        let mut cd = CustomerDays { first_day: Some(10), ..CustomerDays::default() };
        cd.days.insert(10, day(&[(b"NL", 500), (b"DE", 100), (b"--", 0)]));
        cd.days.insert(11, day(&[(b"DE", 50), (b"XX", 300)]));
        let got = by_country(cd.days.values(), *b"NL");
        assert_eq!(got, vec![("XX".to_string(), 300), ("DE".to_string(), 150)]);
        assert_eq!(abroad_total(cd.days.values(), *b"NL"), 450);
        let one = by_country(cd.days.range(11..=11).map(|(_, d)| d), *b"NL");
        assert_eq!(one, vec![("XX".to_string(), 300), ("DE".to_string(), 50)]);
    }

    #[test]
    fn the_month_starts_on_the_first_unless_older_days_were_pruned() {
        let day = crate::timefmt::days_from_civil(2026, 11, 24);
        assert_eq!(month_from(day, 28), crate::timefmt::days_from_civil(2026, 11, 1));
        assert_eq!(month_from(day, 7), day - 14);
    }
}
