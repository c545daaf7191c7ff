//! `cdr-rater run`: the control plane on tokio, the rating on rayon.
//!
//! ```text
//! notify watcher ─┐                       ┌─> 2 worker threads: claim, open once, rate
//! rescan timer ───┼─> intake (settling) ──┤   (rayon), verify, publish, ledger, archive
//! signals ────────┤        ▲              └─< Finished (retry with backoff on errors)
//! rates/ poll ────┴─> tariff reload (settled) ─> ArcSwap<Tariff> (one snapshot per file)
//! web (axum): /metrics ─> telemetry::render; /, /api/*, /healthz ─> snapshots
//!   (web::Live: intake and tables; the ledger's IDS days, cached; alerts.jsonl's end)
//! ```
//!
//! - [`intake`]: which files in the drop folders are ready (renamed in, or
//!   closed and settled), and refusing entries that are not regular files: a
//!   pure state machine over (events, clock), `intake::Intake`, and its
//!   I/O shell, `intake::shell::Shell`;
//! - [`worker`]: the threads that take a file through its life, and what they
//!   report back;
//! - [`reload`]: noticing a change of `rates/` (however it is replaced) and
//!   loading it once it is quiet;
//! - [`web`]: the HTTP listener: `/metrics`, the dashboard and its API;
//! - `rerate`: `cdr-rater rerate` requests run on a thread of their own.
//!
//! Several sources (`[[source]]`): one intake watches every drop folder;
//! each file is rated with its source's format, zone, numbering and
//! default customer, and its outputs go under the source's name.
//!
//! A file that fails for a reason outside it (disk full, the ledger, the
//! alert log) stays claimed and is handed to a worker again after a growing
//! wait; `cdr_rater_files_waiting_on_error` counts such files.
//!
//! Shutdown (SIGTERM/SIGINT): stop taking files, let the workers finish or
//! abandon (between batches) the files in hand, then exit 0. An abandoned
//! file stays claimed and is redone on the next start.

mod intake;
mod reload;
mod rerate;
mod store;
pub mod web;
mod worker;

use intake::shell::Shell;
use intake::Intake;
use reload::{RatesFingerprint, RATES_POLL};
use worker::{worker_loop, Again, Finished, Work};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::spool::Spool;
use crate::tariff::{self};
use crate::telemetry::{self, Event, Telemetry, Untrusted};

/// Worker threads, files rated at the same time: two on the embedded store
/// (while one waits on its fsyncs, the other rates); three on the shared
/// one, whose commits also wait on the network and the database, and whose
/// files queue for the same customers' rows: a third keeps rating while two
/// wait (README, "Several sites": measured on `benches/store.sh`'s stream;
/// the cost is one more file's buffers in flight).
fn worker_count(config: &Config) -> usize {
    match config.store.backend {
        crate::config::Backend::Embedded => 2,
        crate::config::Backend::Postgres => 3,
    }
}
/// How often pending files are re-examined.
const TICK: Duration = Duration::from_millis(50);
/// A full rescan of `incoming/` even without events, so no lost event strands a file.
const RESCAN: Duration = Duration::from_secs(30);

/// A claimed file waiting to be tried again.
struct Waiting {
    /// Index of its source.
    source: usize,
    /// When it is tried next.
    due: Instant,
}

/// First wait before a file that hit an error is tried again; it doubles
/// with each failure up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two tries of a file that keeps failing.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Wait before a file whose content is being rated elsewhere is tried again.
const RETRY_BUSY: Duration = Duration::from_millis(200);
/// The wait before try number `failures + 1` of a file that hit an error.
fn backoff(failures: u32) -> Duration {
    RETRY_FIRST.saturating_mul(1 << failures.min(16)).min(RETRY_MAX)
}

/// One drop folder and how its files are read.
#[derive(Clone)]
struct Source {
    /// Metric label and log field: the source's name, or `default`.
    label: String,
    /// Its folders.
    spool: Spool,
    /// Its incoming folder as watcher events may name it (see [`aliases`]).
    incoming_aliases: Vec<PathBuf>,
    /// CDR format with options.
    format: crate::formats::Format,
    /// Zone of local times.
    timezone: jiff::tz::TimeZone,
    /// Number plan.
    numbering: crate::numbers::Numbering,
    /// Customer of rows that name none.
    customer: Option<String>,
}

/// The names a watcher may give a folder in its events: as configured,
/// made absolute (a relative path through a symlink), and canonical.
fn aliases(dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![dir.to_path_buf()];
    v.extend(std::path::absolute(dir).ok());
    v.extend(std::fs::canonicalize(dir).ok());
    v.dedup();
    v
}

/// The configured sources: each `[[source]]`, or `spool/incoming` alone.
fn sources(config: &Config) -> anyhow::Result<Vec<Source>> {
    let open = |incoming: &Path, name: Option<&str>| {
        Spool::open_source(&config.spool, incoming, name)
            .with_context(|| format!("cannot open the spool {} for {}", config.spool.display(), incoming.display()))
    };
    let mut out = Vec::new();
    if config.source.is_empty() {
        let spool = open(&config.spool.join("incoming"), None)?;
        out.push(Source {
            label: "default".into(),
            incoming_aliases: aliases(&spool.incoming),
            spool,
            format: config.format(),
            timezone: config.time_zone(),
            numbering: config.numbering.clone(),
            customer: None,
        });
    }
    for (s, settings) in config.sources() {
        let spool = open(&s.incoming, Some(&s.name))?;
        out.push(Source {
            label: s.name.clone(),
            incoming_aliases: aliases(&spool.incoming),
            spool,
            format: settings.format.clone(),
            timezone: settings.zone.clone(),
            numbering: settings.numbering.clone(),
            customer: s.customer.clone(),
        });
    }
    Ok(out)
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("control")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // First: a dashboard open to the network is refused before anything starts.
    let access = web::Access::from_config(&config).map_err(|e| crate::exit::Invalid(e.to_string()))?;
    let sources = sources(&config)?;
    let labels: Vec<String> = sources.iter().map(|s| s.label.clone()).collect();
    let telemetry = Arc::new(Telemetry::install(config.price_decimals, &labels)?);
    let live = Arc::new(web::Live::new(&labels, crate::config::now().as_second()));
    std::fs::create_dir_all(&config.state).with_context(|| format!("cannot create {}", config.state.display()))?;
    let Some(ledger) = store::open(&config).await? else {
        tracing::info!("stopped while waiting for the shared store");
        return Ok(());
    };
    // Seen before the load: a change from here on is reloaded, none is missed.
    let mut rates_seen = RatesFingerprint::of(&config.rates);
    let (tariff, report) = tariff::load(&config.rates, &config.numbering.home_country, &config.time_zone())
        .map_err(|e| crate::exit::Invalid(e.to_string()))?;
    for w in &report.warnings {
        tracing::warn!(warning = %w, "tariff tables");
    }
    telemetry::emit(&Event::TariffLoaded {
        prefixes: tariff.prefix_count(),
        reload: false,
        digest: &tariff.digest,
        currencies: tariff.currencies,
    });
    live.tariff_loaded(web::TariffInfo::of(&tariff, crate::config::now().as_second()), false);
    let fraud = reload::fraud_rules(&config.rates, &tariff).map_err(|e| crate::exit::Invalid(e.to_string()))?;
    let fraud = Arc::new(ArcSwap::from_pointee(fraud));
    let tariffs = Arc::new(ArcSwap::from_pointee(tariff));
    let listener = tokio::net::TcpListener::bind(&config.metrics.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.metrics.listen))?;

    // Watchers first, then the scan, so nothing dropped in between is missed.
    let (events_tx, mut events) = mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |e| {
        let _ = events_tx.send(e);
    })?;
    for s in &sources {
        watcher
            .watch(&s.spool.incoming, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", s.spool.incoming.display()))?;
    }

    // The workers: recovery first, then files as they settle.
    let cancel = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = std_mpsc::channel::<Work>();
    let (done_tx, mut done) = mpsc::unbounded_channel::<Finished>();
    let removed = sources[0].spool.clean_tmp()?;
    if removed > 0 {
        tracing::info!(removed, "removed output temp files of an interrupted run");
    }
    let spools: Vec<&Spool> = sources.iter().map(|s| &s.spool).collect();
    for name in crate::spool::process::drop_orphans(ledger.as_ref(), &spools)? {
        tracing::info!(file = %Untrusted(&name), "dropped the ledger entry of a file no longer claimed (nothing of it was published)");
    }
    // Per source: claimed files handed to the workers and not finished.
    let mut claimed_in_flight = vec![0usize; sources.len()];
    for (i, s) in sources.iter().enumerate() {
        for claimed in s.spool.leftover_claims()? {
            work_tx.send(Work::Claimed(i, claimed))?;
            claimed_in_flight[i] += 1;
        }
    }
    let ids = crate::job::IdsSettings::from_config(&config);
    let shared = Arc::new(worker::Shared {
        ledger,
        locks: crate::job::Locks::default(),
        ids: ids.clone(),
        snapshot: std::sync::Mutex::new(()),
        pool: crate::pipeline::BufferPool::default(),
        live: live.clone(),
    });
    // Alerts the shared store committed for this site before a stop and
    // that were not logged yet (otherwise the next commit logs them).
    if let (Some(outbox), Some(ids)) = (shared.ledger.alert_outbox(), &ids) {
        match crate::outbox::flush(outbox, &ids.alerts, &Default::default()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(alerts = n, "logged the alerts committed before the last stop"),
            Err(e) => tracing::warn!(error = %e, "cannot log the alerts committed before the last stop yet"),
        }
    }
    let web_settings = web::Settings::from_config(&config);
    let web_ids = web::IdsCache::new(
        shared.clone(),
        live.clone(),
        tariffs.clone(),
        web_settings.view(),
        web_settings.zone.clone(),
    )
    .context("cannot start the dashboard's IDS reader")?;
    let web_state = web::WebState(Arc::new(web::Inner {
        telemetry: telemetry.clone(),
        ids: web_ids.clone(),
        live: live.clone(),
        tariffs: tariffs.clone(),
        settings: web_settings,
    }));
    let (web_stop, web_stopped) = tokio::sync::watch::channel(false);
    let web_task = tokio::spawn(web::serve(listener, web::router(web_state, access), web_stopped));
    tracing::info!(listen = %config.metrics.listen, "serving /metrics, the dashboard (/) and its API");
    let work_rx = Arc::new(std::sync::Mutex::new(work_rx));
    let mut workers = Vec::new();
    for i in 0..worker_count(&config) {
        let (sources, tariffs, cancel, config) = (sources.clone(), tariffs.clone(), cancel.clone(), config.clone());
        let (shared, work_rx, done_tx, fraud) = (shared.clone(), work_rx.clone(), done_tx.clone(), fraud.clone());
        workers.push(std::thread::Builder::new().name(format!("worker-{i}")).spawn(move || {
            let tables = worker::Tables { tariffs: &tariffs, fraud: &fraud };
            worker_loop(&config, &sources, &shared, tables, &cancel, &work_rx, done_tx);
        })?);
    }
    drop(done_tx);
    let rerate_parts = Arc::new(rerate::Parts {
        config: config.clone(),
        shared: shared.clone(),
        tariffs: tariffs.clone(),
        cancel: cancel.clone(),
    });
    let mut rerates = rerate::Rerates::new();

    let settle = Duration::from_millis(config.settle_ms);
    let reload_settle = Duration::from_millis(config.reload_settle_ms);
    // Claimed files waiting to be tried again, and the source and failures of each.
    let mut waiting: HashMap<PathBuf, Waiting> = HashMap::new();
    let mut failures: HashMap<PathBuf, (usize, u32)> = HashMap::new();
    let mut intake = Shell { intake: Intake::new(settle), sources: &sources, work: &work_tx };
    intake.rescan(false)?;
    let mut tick = tokio::time::interval(TICK);
    let mut last_rescan = Instant::now();
    let mut last_rates_poll = Instant::now();
    let mut reload_at: Option<Instant> = None;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut watchdog_usec = 0u64;
    let watchdog =
        sd_notify::watchdog_enabled(false, &mut watchdog_usec).then(|| Duration::from_micros(watchdog_usec / 2));
    let mut last_ping = Instant::now();
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    for s in &sources {
        tracing::info!(source = %s.label, incoming = %s.spool.incoming.display(), format = %s.format, "watching");
    }
    tracing::info!(rates = %config.rates.display(), "cdr-rater running");

    loop {
        tokio::select! {
            Some(event) = events.recv() => match event {
                // Files renamed in go to the worker now, not at the next tick.
                Ok(event) => intake.event(&event)?,
                Err(e) => {
                    tracing::warn!(error = %Untrusted(&e.to_string()), "file watcher error; rescanning");
                    intake.rescan(true)?;
                }
            },
            Some(finished) = done.recv() => {
                let i = finished.source;
                if finished.was_claimed {
                    claimed_in_flight[i] -= 1;
                }
                if let Some((claimed, why)) = finished.again {
                    let wait = match why {
                        Again::Busy => RETRY_BUSY,
                        Again::Error => {
                            let n = &mut failures.entry(claimed.clone()).or_insert((i, 0)).1;
                            *n += 1;
                            backoff(*n - 1)
                        }
                    };
                    waiting.insert(claimed, Waiting { source: i, due: Instant::now() + wait });
                }
                if let Some(path) = finished.incoming {
                    // A new file may have arrived under the same name while the
                    // worker had the old one (a daily Master.csv): it is tracked.
                    intake.finished(i, path)?;
                }
            }
            _ = tick.tick() => {
                intake.tick()?;
                rerates.poll(&rerate_parts);
                let now = Instant::now();
                let due: Vec<PathBuf> = waiting.iter().filter(|(_, w)| w.due <= now).map(|(p, _)| p.clone()).collect();
                for claimed in due {
                    if let Some(w) = waiting.remove(&claimed) {
                        work_tx.send(Work::Claimed(w.source, claimed)).context("the workers stopped")?;
                        claimed_in_flight[w.source] += 1;
                    }
                }
                failures.retain(|p, _| waiting.contains_key(p) || p.exists());
                if last_rescan.elapsed() >= RESCAN {
                    last_rescan = Instant::now();
                    intake.rescan(false)?;
                }
                if last_rates_poll.elapsed() >= RATES_POLL {
                    last_rates_poll = Instant::now();
                    let seen = RatesFingerprint::of(&config.rates);
                    if seen != rates_seen {
                        // Every change restarts the wait: tables copied in
                        // file by file are loaded once the copy has ended.
                        rates_seen = seen;
                        reload_at = Some(Instant::now() + reload_settle);
                    }
                }
                if reload_at.is_some_and(|at| Instant::now() >= at) {
                    reload_at = None;
                    reload::reload(&config, &tariffs, &live, &fraud).await;
                }
                let mut backlog = intake.intake.backlog_by_source(sources.len());
                let mut stuck = vec![0usize; sources.len()];
                for (b, c) in backlog.iter_mut().zip(&claimed_in_flight) {
                    *b += c;
                }
                for w in waiting.values() {
                    backlog[w.source] += 1;
                }
                for (source, _) in failures.values() {
                    stuck[*source] += 1;
                }
                live.set_queues(&backlog, &stuck);
                telemetry::emit(&Event::Backlog(
                    intake.intake.backlog() + claimed_in_flight.iter().sum::<usize>() + waiting.len(),
                ));
                telemetry::emit(&Event::WaitingOnError(failures.len()));
                if let Some(every) = watchdog {
                    if last_ping.elapsed() >= every {
                        last_ping = Instant::now();
                        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                    }
                }
                if workers.iter().any(|w| w.is_finished()) {
                    anyhow::bail!("a worker thread stopped");
                }
            }
            _ = sighup.recv() => {
                tracing::info!("SIGHUP: reloading tariff tables");
                rates_seen = RatesFingerprint::of(&config.rates);
                reload::reload(&config, &tariffs, &live, &fraud).await;
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    tracing::info!("shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    cancel.store(true, Ordering::Relaxed);
    drop(work_tx);
    drop(watcher);
    for worker in workers {
        tokio::task::spawn_blocking(move || worker.join()).await?.map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    }
    tokio::task::spawn_blocking(move || rerates.join()).await?;
    // Alerts already logged still reach the hook: wait for the queued runs
    // (each is killed at `on_alert_timeout_ms`, so this is bounded).
    if let Some(ids) = ids {
        tokio::task::spawn_blocking(move || ids.alerts.wait_for_hooks()).await?;
    }
    // The listener last: /metrics and /healthz answer while the files in hand finish.
    let _ = web_stop.send(true);
    let _ = web_task.await;
    tokio::task::spawn_blocking(move || web_ids.shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}
