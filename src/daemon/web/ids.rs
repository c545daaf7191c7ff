//! The IDS state as the dashboard sees it: a cached read of every
//! customer's days from the ledger, and the views computed from it.
//!
//! Reading is a redb read transaction (MVCC: the rating workers' commits
//! never wait for it) on a blocking thread; it takes no lock a worker needs
//! (only the ledger's reopen lock in read mode, as every worker call does).
//! Decoding 10,000 customers' days costs milliseconds to tens of them, so
//! the read is cached and refreshed by one task at a time, at most once a
//! [`MIN_GAP`], and a request waits for a refresh at most [`REFRESH_WAIT`]:
//! while files are being rated the figures may be a second or so old (the
//! page says as of when), never slow.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tokio::sync::watch;

use super::live::Live;
use crate::ids::{CustomerDays, WARM_UP_DAYS};
use crate::state::StateError;
use crate::tariff::Tariff;

/// Shortest time between two reads of the ledger.
pub const MIN_GAP: Duration = Duration::from_secs(1);
/// Longest a request waits for a refresh when an older read is at hand.
pub const REFRESH_WAIT: Duration = Duration::from_millis(30);
/// Longest a request waits for the first read of all.
const FIRST_WAIT: Duration = Duration::from_secs(10);

/// Where the IDS days come from: the daemon's ledger.
pub trait IdsSource: Send + Sync + 'static {
    /// Every customer's IDS days as last committed.
    fn customer_days(&self) -> Result<Vec<(String, CustomerDays)>, StateError>;
}

/// One read of the IDS state.
#[derive(Debug, Default)]
pub struct IdsData {
    /// [`Live::generation`] when the read began: files committed after it
    /// may be missing.
    pub generation: u64,
    /// Unix seconds of the read.
    pub read_at: i64,
    /// Customer id to its days.
    pub customers: Vec<(String, CustomerDays)>,
}

/// What the refresher publishes.
#[derive(Debug, Default)]
struct Published {
    /// The latest successful read.
    data: Option<Arc<IdsData>>,
    /// Why the latest read failed, if it did.
    error: Option<String>,
    /// Reads finished (successful or not).
    finished: u64,
}

/// The IDS state cache: one per listener.
pub struct IdsCache {
    /// The ledger.
    source: Arc<dyn IdsSource>,
    /// The generation to compare with.
    live: Arc<Live>,
    /// The latest read, to requests.
    published: watch::Sender<Published>,
    /// A read is in progress.
    refreshing: AtomicBool,
    /// When the latest read began.
    last_start: Mutex<Option<Instant>>,
}

/// The IDS state cannot be read now.
#[derive(Debug, thiserror::Error)]
#[error("the IDS state cannot be read: {0}")]
pub struct Unavailable(pub String);

impl IdsCache {
    /// A cache over `source`, empty until first asked.
    pub fn new(source: Arc<dyn IdsSource>, live: Arc<Live>) -> Arc<IdsCache> {
        Arc::new(IdsCache {
            source,
            live,
            published: watch::Sender::new(Published::default()),
            refreshing: AtomicBool::new(false),
            last_start: Mutex::new(None),
        })
    }

    /// The IDS state, fresh when it can be had within [`REFRESH_WAIT`].
    pub async fn get(self: &Arc<Self>) -> Result<Arc<IdsData>, Unavailable> {
        let want = self.live.generation.load(Ordering::Acquire);
        let (current, finished) = {
            let p = self.published.borrow();
            (p.data.clone(), p.finished)
        };
        if let Some(d) = &current {
            let recent =
                self.last_start.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| t.elapsed() < MIN_GAP);
            if d.generation >= want || recent {
                return Ok(d.clone());
            }
        }
        let mut rx = self.published.subscribe();
        self.kick();
        let wait = if current.is_some() { REFRESH_WAIT } else { FIRST_WAIT };
        let _ = tokio::time::timeout(wait, rx.wait_for(|p| p.finished > finished)).await;
        let p = rx.borrow();
        match (&p.data, &p.error) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(e)) => Err(Unavailable(e.clone())),
            (None, None) => Err(Unavailable("still reading the ledger; try again".into())),
        }
    }

    /// Starts a read unless one is running.
    fn kick(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.last_start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let me = self.clone();
        tokio::spawn(async move {
            let generation = me.live.generation.load(Ordering::Acquire);
            let source = me.source.clone();
            let read = tokio::task::spawn_blocking(move || source.customer_days()).await;
            let read_at = crate::config::now().as_second();
            me.published.send_modify(|p| {
                match read {
                    Ok(Ok(customers)) => {
                        p.data = Some(Arc::new(IdsData { generation, read_at, customers }));
                        p.error = None;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "dashboard: cannot read the IDS state");
                        p.error = Some(e.to_string());
                    }
                    Err(e) => p.error = Some(format!("reading the IDS state failed: {e}")),
                }
                p.finished += 1;
            });
            me.refreshing.store(false, Ordering::Release);
        });
    }
}

/// Money in integer units of `10^-decimals`, shown with its currency.
pub type Units = i64;

/// A customer as the tariff in force knows it.
#[derive(Debug, Clone)]
pub struct Known<'t> {
    /// Display name (from `customers.csv`: untrusted text).
    pub name: &'t str,
    /// Currency of the customer's plan.
    pub currency: &'t str,
    /// IDS range in units (`None`: IDS off for the customer).
    pub range: Option<Units>,
}

/// The customer `id` in `tariff`, if it is there.
pub fn known<'t>(tariff: &'t Tariff, id: &str, decimals: u32) -> Option<Known<'t>> {
    let c = &tariff.customers[tariff.customer_by_id(id.as_bytes())? as usize];
    let currency = tariff.plans.get(c.plan as usize).map_or("", |p| p.levels.currency.as_str());
    let scale = Decimal::from(10i64.pow(decimals));
    // As the rating job rounds it, so the threshold shown is the one judged.
    let range = c.ids_range.map(|r| {
        let r = (r * scale).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        i64::try_from(r.mantissa() / 10i128.pow(r.scale())).unwrap_or(i64::MAX)
    });
    Some(Known { name: &c.name, currency, range })
}

/// One customer's day against their IDS range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    /// Customer id.
    pub id: String,
    /// Display name.
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
}

/// Every customer the state and the tariff both know, on `day`, by spend
/// (largest first, then id).
pub fn day_rows(data: &IdsData, tariff: &Tariff, day: i64, window: u32, decimals: u32, home: &str) -> Vec<DayRow> {
    let mut rows = Vec::new();
    for (id, cd) in &data.customers {
        let Some(k) = known(tariff, id, decimals) else { continue };
        let range = k.range.unwrap_or(0);
        let base = cd.baseline(day, window);
        let state = cd.days.get(&day).cloned().unwrap_or_default();
        let baseline = base.rounded();
        let abroad = countries_abroad(std::iter::once(&state.countries), home);
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
            abroad: abroad.iter().map(|c| c.1).sum(),
            top_countries: abroad.into_iter().take(3).collect(),
        });
    }
    rows.sort_by(|a, b| b.spend.cmp(&a.spend).then_with(|| a.id.cmp(&b.id)));
    rows
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

/// Who spent most abroad on the days `from..=to` (customer days, as stored),
/// largest first; customers with nothing abroad are left out.
pub fn abroad_rows(data: &IdsData, tariff: &Tariff, from: i64, to: i64, decimals: u32, home: &str) -> Vec<AbroadRow> {
    let mut rows = Vec::new();
    for (id, cd) in &data.customers {
        let countries = countries_abroad(cd.days.range(from..=to).map(|(_, d)| &d.countries), home);
        let total: Units = countries.iter().map(|c| c.1).sum();
        if total == 0 {
            continue;
        }
        let Some(k) = known(tariff, id, decimals) else { continue };
        rows.push(AbroadRow {
            id: id.clone(),
            name: k.name.to_string(),
            currency: k.currency.to_string(),
            total,
            countries,
        });
    }
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.id.cmp(&b.id)));
    rows
}

/// Sums spend per foreign country (not `home`, not internal `--`) over
/// days' country maps; largest first, then by code.
fn countries_abroad<'a>(
    days: impl Iterator<Item = &'a std::collections::BTreeMap<crate::ids::Country, i64>>,
    home: &str,
) -> Vec<(String, Units)> {
    let mut sum: std::collections::BTreeMap<&str, Units> = std::collections::BTreeMap::new();
    for countries in days {
        for (c, u) in countries {
            let code = c.as_str();
            if code != home && code != "--" {
                *sum.entry(code).or_default() += u;
            }
        }
    }
    let mut v: Vec<(String, Units)> = sum.into_iter().filter(|c| c.1 != 0).map(|(c, u)| (c.to_string(), u)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The first day of "this month" the state holds exactly: the 1st, or the
/// oldest day the rating job keeps (it prunes days older than two IDS
/// windows before today) when that is later.
pub fn month_from(today: i64, window: u32) -> i64 {
    let (y, m, _) = crate::timefmt::civil_from_days(today);
    let first = crate::timefmt::days_from_civil(y as i32, m as u8, 1);
    first.max(today - 2 * i64::from(window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Country, DayState};

    #[test]
    fn abroad_leaves_out_home_and_internal_calls_and_sums_days() {
        let day = |pairs: &[(&[u8; 2], i64)]| DayState {
            units: pairs.iter().map(|p| p.1).sum(),
            calls: 1,
            countries: pairs.iter().map(|(c, u)| (Country(**c), *u)).collect(),
            level: 0,
        };
        let mut cd = CustomerDays { first_day: Some(10), ..CustomerDays::default() };
        cd.days.insert(10, day(&[(b"NL", 500), (b"DE", 100), (b"--", 0)]));
        cd.days.insert(11, day(&[(b"DE", 50), (b"XX", 300)]));
        let got = countries_abroad(cd.days.values().map(|d| &d.countries), "NL");
        assert_eq!(got, vec![("XX".to_string(), 300), ("DE".to_string(), 150)]);
        let one = countries_abroad(cd.days.range(11..=11).map(|(_, d)| &d.countries), "NL");
        assert_eq!(one, vec![("XX".to_string(), 300), ("DE".to_string(), 50)]);
    }

    #[test]
    fn the_month_starts_on_the_first_unless_older_days_were_pruned() {
        let day = crate::timefmt::days_from_civil(2026, 11, 24);
        assert_eq!(month_from(day, 28), crate::timefmt::days_from_civil(2026, 11, 1));
        assert_eq!(month_from(day, 7), day - 14);
    }
}
