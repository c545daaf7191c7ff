//! The IDS state as the dashboard sees it: a cached read of every
//! customer's days from the ledger, and the views computed from it.
//!
//! Decoding 10,000 customers' days (a month each) costs a few hundred
//! milliseconds of CPU, so the read is cached and refreshed in the
//! background, at most once a [`MIN_GAP`], by a thread of its own at a
//! lower CPU priority than rating and requests. Each read also computes
//! today's [`DayView`] there, so a request for today finds it ready; views
//! of other days are computed when first asked, and a few are kept.
//!
//! A request is answered from the cache at once while the cache is
//! younger than [`STALE_MAX`] or a newer read is on its way (the refresh it
//! asks for serves the next request); only after a quiet spell does a
//! request wait for a fresh read. So while files are being rated the
//! figures are up to about [`MIN_GAP`] plus one read old (the page and the
//! API say as of when), and answers stay fast: with 2 s between reads the
//! tail latency under load doubled (see benches/dashboard.sh).
//!
//! Reading is a redb read transaction (MVCC: the rating workers' commits
//! never wait for it); it takes no lock a worker needs (only the ledger's
//! reopen lock in read mode, as every worker call does). What a read
//! replaces is freed on the reader thread too, at its next read, never by a
//! request that happened to hold it last.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::live::Live;
use super::view::{self, DayView, ViewKey, ViewSettings};
use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::billing::Month;
use crate::ids::CustomerDays;
use crate::state::StateError;
use crate::tariff::Tariff;

/// Shortest time between two reads of the ledger: while files are being
/// rated, what the dashboard shows is at most this much older than the
/// ledger (plus one read).
pub const MIN_GAP: Duration = Duration::from_secs(5);
/// Views kept (today's, and days asked for through `/api/ids?day=`).
const VIEWS: usize = 4;
/// Oldest read a request is answered from without waiting for a newer one.
pub const STALE_MAX: Duration = Duration::from_secs(20);
/// Longest a request waits for a read.
const READ_WAIT: Duration = Duration::from_secs(10);

/// Where the IDS days come from: the daemon's ledger.
pub trait IdsSource: Send + Sync + 'static {
    /// Every customer's IDS days as last committed.
    fn customer_days(&self) -> Result<Vec<(String, CustomerDays)>, StateError>;

    /// Every customer's sell of the calls billed in `month` so far (the
    /// store's billing usage), by customer id.
    fn month_sell(&self, month: Month) -> Result<HashMap<String, Decimal>, StateError>;
}

/// One read of the IDS state.
#[derive(Debug)]
pub struct IdsData {
    /// [`Live::generation`] when the read began: files committed after it
    /// may be missing.
    pub generation: u64,
    /// Unix seconds of the read (as "now" says: `CDR_RATER_NOW` in tests).
    pub read_at: i64,
    /// When the read began, by the monotonic clock.
    pub taken: Instant,
    /// Customer id to its days.
    pub customers: Vec<(String, CustomerDays)>,
    /// The month of the day the read was for.
    pub month: Month,
    /// Customer id to the sell billed in `month` so far.
    pub month_sell: HashMap<String, Decimal>,
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

/// The IDS state cache: one per listener. [`IdsCache::shutdown`] ends its
/// refresher thread (which holds the ledger) before the daemon closes it.
pub struct IdsCache {
    /// What the refresher shares.
    core: Arc<Core>,
    /// Wakes the refresher; `None` once shut down.
    wake: Mutex<Option<mpsc::Sender<()>>>,
    /// The refresher thread, until joined.
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The cache's state, shared with its refresher thread.
struct Core {
    /// The ledger.
    source: Arc<dyn IdsSource>,
    /// The tables in force: customers' names, ranges and currencies.
    tariffs: Arc<ArcSwap<Tariff>>,
    /// What views depend on.
    settings: ViewSettings,
    /// Zone of "today".
    zone: jiff::tz::TimeZone,
    /// The generation to compare with.
    live: Arc<Live>,
    /// Views computed, newest first.
    views: Mutex<Vec<Arc<DayView>>>,
    /// The latest read, to requests.
    published: watch::Sender<Published>,
    /// A read is asked for or in progress.
    refreshing: AtomicBool,
    /// When the latest read was asked for.
    last_start: Mutex<Option<Instant>>,
    /// Reads and views replaced, freed by the refresher at its next read.
    retired: Mutex<Vec<Box<dyn Any + Send + Sync>>>,
}

/// The IDS state cannot be read now.
#[derive(Debug, thiserror::Error)]
#[error("the IDS state cannot be read: {0}")]
pub struct Unavailable(pub String);

impl IdsCache {
    /// A cache over `source`, empty until first asked; views name
    /// customers from `tariffs` and take "today" in `zone`.
    pub fn new(
        source: Arc<dyn IdsSource>,
        live: Arc<Live>,
        tariffs: Arc<ArcSwap<Tariff>>,
        settings: ViewSettings,
        zone: jiff::tz::TimeZone,
    ) -> std::io::Result<Arc<IdsCache>> {
        let core = Arc::new(Core {
            source,
            tariffs,
            settings,
            zone,
            live,
            views: Mutex::new(Vec::new()),
            published: watch::Sender::new(Published::default()),
            refreshing: AtomicBool::new(false),
            last_start: Mutex::new(None),
            retired: Mutex::new(Vec::new()),
        });
        let (wake, woken) = mpsc::channel();
        let shared = core.clone();
        let thread = std::thread::Builder::new().name("web-ids".into()).spawn(move || refresher(&shared, &woken))?;
        Ok(Arc::new(IdsCache { core, wake: Mutex::new(Some(wake)), thread: Mutex::new(Some(thread)) }))
    }

    /// Stops the refresher (after the read in progress, if any) and waits
    /// for it: it holds the ledger, which must close before the daemon exits.
    pub fn shutdown(&self) {
        self.wake.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }

    /// Today in the configured zone.
    pub fn today(&self) -> i64 {
        self.core.today()
    }

    /// The view of `day` (today when `None`) from the freshest read at hand
    /// (see [`IdsCache::get`]).
    pub async fn view(&self, day: Option<i64>) -> Result<Arc<DayView>, Unavailable> {
        let data = self.get().await?;
        let tariff = self.core.tariffs.load_full();
        let day = day.unwrap_or_else(|| self.today());
        let key = ViewKey { generation: data.generation, digest: tariff.digest.clone(), day };
        if let Some(v) = self.core.cached(&key) {
            return Ok(v);
        }
        let settings = self.core.settings.clone();
        let v = tokio::task::spawn_blocking(move || Arc::new(view::compute(&data, &tariff, day, &settings)))
            .await
            .map_err(|e| Unavailable(format!("computing the view failed: {e}")))?;
        self.core.keep(v.clone());
        Ok(v)
    }

    /// The IDS state: the cached read when it is current, or when it is
    /// younger than [`STALE_MAX`] or a newer one is on its way (then a
    /// refresh is asked for); else a fresh read.
    pub async fn get(&self) -> Result<Arc<IdsData>, Unavailable> {
        let core = &self.core;
        let want = core.live.generation.load(Ordering::Acquire);
        let (current, finished) = {
            let p = core.published.borrow();
            (p.data.clone(), p.finished)
        };
        if let Some(d) = &current {
            if d.generation >= want {
                return Ok(d.clone());
            }
            if d.taken.elapsed() < STALE_MAX || core.refreshing.load(Ordering::Acquire) {
                let recent =
                    core.last_start.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| t.elapsed() < MIN_GAP);
                if !recent {
                    self.kick();
                }
                return Ok(d.clone());
            }
        }
        let mut rx = core.published.subscribe();
        self.kick();
        let _ = tokio::time::timeout(READ_WAIT, rx.wait_for(|p| p.finished > finished)).await;
        let p = rx.borrow();
        match (&p.data, &p.error) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(e)) => Err(Unavailable(e.clone())),
            (None, None) => Err(Unavailable("still reading the ledger; try again".into())),
        }
    }

    /// Asks the refresher for a read unless one is asked for already.
    fn kick(&self) {
        if self.core.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.core.last_start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let sent = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|w| w.send(()).is_ok());
        if !sent {
            self.core.refreshing.store(false, Ordering::Release);
        }
    }
}

impl Core {
    fn today(&self) -> i64 {
        crate::timefmt::DayMapper::new(self.zone.clone()).day_of(crate::config::now().as_second())
    }

    /// The view computed for `key`, if kept.
    fn cached(&self, key: &ViewKey) -> Option<Arc<DayView>> {
        self.views.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|v| v.key == *key).cloned()
    }

    /// Keeps a view; the oldest past [`VIEWS`] is retired.
    fn keep(&self, v: Arc<DayView>) {
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        views.retain(|x| x.key != v.key);
        views.insert(0, v);
        let keep = views.len().min(VIEWS);
        let old: Vec<Arc<DayView>> = views.split_off(keep);
        drop(views);
        self.retire(old);
    }

    /// Hands something replaced to the refresher to free.
    fn retire(&self, old: impl Any + Send + Sync) {
        self.retired.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(old));
    }
}

/// The refresher thread: one read (and today's view) per wake-up.
fn refresher(core: &Core, woken: &mpsc::Receiver<()>) {
    lower_priority();
    while woken.recv().is_ok() {
        // What the previous read replaced: no request holds it any more.
        let retired = std::mem::take(&mut *core.retired.lock().unwrap_or_else(|e| e.into_inner()));
        drop(retired);
        let generation = core.live.generation.load(Ordering::Acquire);
        let taken = Instant::now();
        let (tariff, day) = (core.tariffs.load_full(), core.today());
        let month = Month::of_day(day);
        let read = core.source.customer_days().and_then(|customers| Ok((customers, core.source.month_sell(month)?)));
        let read = read.map(|(customers, month_sell)| {
            let read_at = crate::config::now().as_second();
            let data = Arc::new(IdsData { generation, read_at, taken, customers, month, month_sell });
            // Today's view with the read: requests for it find it ready.
            let today = Arc::new(view::compute(&data, &tariff, day, &core.settings));
            (data, today)
        });
        let mut replaced = None;
        core.published.send_modify(|p| {
            match read {
                Ok((data, today)) => {
                    core.keep(today);
                    replaced = p.data.replace(data);
                    p.error = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard: cannot read the IDS state");
                    p.error = Some(e.to_string());
                }
            }
            p.finished += 1;
        });
        core.retire(replaced);
        core.refreshing.store(false, Ordering::Release);
    }
}

/// Puts the calling thread below the rating workers and the request
/// handlers in the CPU scheduler's eyes: its reads may take longer under
/// load, the rest does not wait for them.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads its integer arguments only; on Linux,
    // PRIO_PROCESS with `who = 0` names the calling thread alone.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}
