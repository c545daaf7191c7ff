//! `cdr-rater run`: the control plane on tokio, the rating on rayon.
//!
//! ```text
//! notify watcher ─┐                       ┌─> worker thread: claim, rate (rayon), publish,
//! rescan timer ───┼─> intake (settling) ──┤   ledger, archive; one file at a time
//! signals ────────┤                       └─< done notices (backlog)
//! rates/ watcher ─┴─> tariff reload ─> ArcSwap<Tariff> (each file rates on one snapshot)
//! /metrics listener ─> telemetry::render
//! ```
//!
//! Several sources (`[[source]]`): one intake watches every drop folder;
//! each file is rated with its source's format, zone, numbering and
//! default customer, and its outputs go under the source's name.
//!
//! Shutdown (SIGTERM/SIGINT): stop taking files, let the worker finish or
//! abandon (between batches) the file in hand, then exit 0. An abandoned file
//! stays claimed and is redone on the next start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use arc_swap::ArcSwap;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::spool::process::{FileOutcome, FileRater, Processor};
use crate::spool::{ignored_name, Entry, Spool};
use crate::state::RedbLedger;
use crate::tariff::{self, Tariff};
use crate::telemetry::{self, Event, Telemetry, Untrusted};

/// Worker threads: files rated at the same time.
const WORKERS: usize = 2;
/// How often pending files are re-examined.
const TICK: Duration = Duration::from_millis(50);
/// A full rescan of `incoming/` even without events, so no lost event strands a file.
const RESCAN: Duration = Duration::from_secs(30);

/// Work for the worker thread: a source (index) and a file.
enum Work {
    /// A settled file in the source's `incoming/`.
    Incoming(usize, PathBuf),
    /// A claimed file: left by an earlier run, or tried again after an error.
    Claimed(usize, PathBuf),
}

/// What a worker reports when it is done with a [`Work`].
struct Finished {
    /// Index of the source.
    source: usize,
    /// The `incoming/` path it was given ([`Work::Incoming`]): stop tracking it.
    incoming: Option<PathBuf>,
    /// Whether the work was a [`Work::Claimed`].
    was_claimed: bool,
    /// The claimed file, when it must be tried again, and why.
    again: Option<(PathBuf, Again)>,
}

/// Why a claimed file is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// It failed for a reason outside the file (disk full, ledger, alert
    /// log): retried with a growing backoff, counted as waiting on an error.
    Error,
    /// Its content is being rated under another claim: retried shortly.
    Busy,
}

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
/// How often `rates/` is looked at for changes (a poll, not a watch: a watch
/// follows the old folder when `rates/` is replaced by a rename or symlink swap).
const RATES_POLL: Duration = Duration::from_millis(250);

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
    for s in &config.source {
        let spool = open(&s.incoming, Some(&s.name))?;
        let timezone = s.timezone.as_deref().and_then(|z| jiff::tz::TimeZone::get(z).ok());
        out.push(Source {
            label: s.name.clone(),
            incoming_aliases: aliases(&spool.incoming),
            spool,
            format: config.source_format(s),
            timezone: timezone.unwrap_or_else(|| config.time_zone()),
            numbering: config.numbering_for(s),
            customer: s.customer.clone(),
        });
    }
    Ok(out)
}

/// A file in an `incoming/` that is not ready yet.
struct Pending {
    /// Index of its source.
    source: usize,
    size: u64,
    modified: SystemTime,
    /// When it last changed (or when we first saw it).
    since: Instant,
    /// Closed after writing (or present at a scan): settling may start.
    closed: bool,
    /// Renamed into `incoming/`: complete by contract, no settling.
    renamed: bool,
    /// Handed to the worker.
    queued: bool,
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
    let sources = sources(&config)?;
    let labels: Vec<String> = sources.iter().map(|s| s.label.clone()).collect();
    let telemetry = Arc::new(Telemetry::install(config.price_decimals, &labels)?);
    std::fs::create_dir_all(&config.state).with_context(|| format!("cannot create {}", config.state.display()))?;
    let ledger = crate::state::open_for_daemon(&config.state, &config.spool)
        .map_err(|e| crate::commands::Invalid(e.to_string()))?;
    // Seen before the load: a change from here on is reloaded, none is missed.
    let mut rates_seen = RatesFingerprint::of(&config.rates);
    let (tariff, report) = tariff::load(&config.rates, &config.numbering.home_country)
        .map_err(|e| crate::commands::Invalid(e.to_string()))?;
    for w in &report.warnings {
        tracing::warn!(warning = %w, "tariff tables");
    }
    telemetry::emit(&Event::TariffLoaded { prefixes: tariff.prefix_count(), reload: false, digest: &tariff.digest });
    let tariffs = Arc::new(ArcSwap::from_pointee(tariff));
    let listener = tokio::net::TcpListener::bind(&config.metrics.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.metrics.listen))?;
    tracing::info!(listen = %config.metrics.listen, "serving /metrics");
    tokio::spawn(crate::metrics_http::serve(listener, telemetry.clone()));

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
    for name in crate::spool::process::drop_orphans(&ledger, &spools)? {
        tracing::info!(file = %Untrusted(&name), "dropped the ledger entry of a file no longer claimed (nothing of it was published)");
    }
    let mut claimed_in_flight = 0usize;
    for (i, s) in sources.iter().enumerate() {
        for claimed in s.spool.leftover_claims()? {
            work_tx.send(Work::Claimed(i, claimed))?;
            claimed_in_flight += 1;
        }
    }
    // Two workers: while one waits on fsyncs, the other rates.
    let ledger = Arc::new(ledger);
    let work_rx = Arc::new(std::sync::Mutex::new(work_rx));
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        let (sources, tariffs, cancel, config) = (sources.clone(), tariffs.clone(), cancel.clone(), config.clone());
        let (ledger, work_rx, done_tx) = (ledger.clone(), work_rx.clone(), done_tx.clone());
        workers.push(std::thread::Builder::new().name(format!("worker-{i}")).spawn(move || {
            worker_loop(&config, &sources, &ledger, &tariffs, &cancel, &work_rx, done_tx);
        })?);
    }
    drop(done_tx);

    let settle = Duration::from_millis(config.settle_ms);
    let reload_settle = Duration::from_millis(config.reload_settle_ms);
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    // Claimed files waiting to be tried again, and the failures of each.
    let mut waiting: HashMap<PathBuf, Waiting> = HashMap::new();
    let mut failures: HashMap<PathBuf, u32> = HashMap::new();
    rescan_all(&sources, &mut pending, settle);
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
                Ok(event) => {
                    if event.need_rescan() {
                        rescan_all(&sources, &mut pending, settle);
                    }
                    for path in &event.paths {
                        if let Some(i) = sources.iter().position(|s| {
                            path.parent().is_some_and(|p| s.incoming_aliases.iter().any(|a| a == p))
                        }) {
                            let path = sources[i].spool.incoming.join(path.file_name().unwrap_or_default());
                            on_incoming_event(&sources[i].spool, i, &mut pending, &event.kind, &path);
                        }
                    }
                    // Files renamed in go to the worker now, not at the next tick.
                    dispatch(&mut pending, settle, &work_tx, true)?;
                }
                Err(e) => {
                    tracing::warn!(error = %Untrusted(&e.to_string()), "file watcher error; rescanning");
                    rescan_all(&sources, &mut pending, settle);
                }
            },
            Some(finished) = done.recv() => {
                let i = finished.source;
                if finished.was_claimed {
                    claimed_in_flight -= 1;
                }
                if let Some((claimed, why)) = finished.again {
                    let wait = match why {
                        Again::Busy => RETRY_BUSY,
                        Again::Error => {
                            let n = failures.entry(claimed.clone()).or_default();
                            *n += 1;
                            backoff(*n - 1)
                        }
                    };
                    waiting.insert(claimed, Waiting { source: i, due: Instant::now() + wait });
                }
                if let Some(path) = finished.incoming {
                    pending.remove(&path);
                    // A new file may have arrived under the same name while the
                    // worker had the old one (a daily Master.csv): track it.
                    if let Ok(Some(entry)) = sources[i].spool.classify(&path) {
                        track(&sources[i].spool, i, &mut pending, entry, settle);
                    }
                }
            }
            _ = tick.tick() => {
                dispatch(&mut pending, settle, &work_tx, false)?;
                let now = Instant::now();
                let due: Vec<PathBuf> = waiting.iter().filter(|(_, w)| w.due <= now).map(|(p, _)| p.clone()).collect();
                for claimed in due {
                    if let Some(w) = waiting.remove(&claimed) {
                        work_tx.send(Work::Claimed(w.source, claimed)).context("the workers stopped")?;
                        claimed_in_flight += 1;
                    }
                }
                failures.retain(|p, _| waiting.contains_key(p) || p.exists());
                if last_rescan.elapsed() >= RESCAN {
                    last_rescan = Instant::now();
                    rescan_all(&sources, &mut pending, settle);
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
                    reload(&config, &tariffs).await;
                }
                telemetry::emit(&Event::Backlog(pending.len() + claimed_in_flight + waiting.len()));
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
                reload(&config, &tariffs).await;
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
    tracing::info!("stopped");
    Ok(())
}

/// What `rates/` looks like from outside: every file's path, size,
/// modification time and inode, through the current target of the path
/// (so a folder renamed or a symlink swapped into place counts as a change).
#[derive(Debug, Clone, PartialEq, Eq)]
struct RatesFingerprint(Vec<(PathBuf, u64, i64, i64, u64)>);

impl RatesFingerprint {
    fn of(rates: &Path) -> RatesFingerprint {
        use std::os::unix::fs::MetadataExt;
        let mut files = Vec::new();
        let mut dirs = vec![rates.to_path_buf()];
        if let Ok(m) = std::fs::metadata(rates) {
            files.push((PathBuf::new(), 0, m.mtime(), m.mtime_nsec(), m.ino()));
        }
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                let Ok(m) = std::fs::metadata(&path) else { continue };
                if m.is_dir() {
                    dirs.push(path.clone());
                }
                files.push((path, m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
            }
        }
        files.sort();
        RatesFingerprint(files)
    }
}

/// Hands ready files to the worker (with `renamed_only`, just the files
/// renamed in, which need no stat).
fn dispatch(
    pending: &mut HashMap<PathBuf, Pending>,
    settle: Duration,
    work: &std_mpsc::Sender<Work>,
    renamed_only: bool,
) -> anyhow::Result<()> {
    for (path, p) in pending.iter_mut() {
        if !p.queued && (!renamed_only || p.renamed) && ready(path, p, settle) {
            p.queued = true;
            work.send(Work::Incoming(p.source, path.clone())).context("the worker stopped")?;
        }
    }
    Ok(())
}

/// Adds every file of every `incoming/` not yet known; moves irregular
/// entries to `failed/`.
fn rescan_all(sources: &[Source], pending: &mut HashMap<PathBuf, Pending>, settle: Duration) {
    for (i, s) in sources.iter().enumerate() {
        let entries = match s.spool.scan_incoming() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(source = %s.label, error = %Untrusted(&e.to_string()), "cannot scan incoming/");
                continue;
            }
        };
        for entry in entries {
            track(&s.spool, i, pending, entry, settle);
        }
    }
}

/// Starts tracking a file found by a scan (not by an event).
fn track(spool: &Spool, source: usize, pending: &mut HashMap<PathBuf, Pending>, entry: Entry, settle: Duration) {
    match entry {
        Entry::File { path, size, modified } => {
            // A file already there counts as closed; its age counts toward settling.
            let age = SystemTime::now().duration_since(modified).unwrap_or_default().min(settle);
            let since = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            pending.entry(path).or_insert(Pending {
                source,
                size,
                modified,
                since,
                closed: true,
                renamed: false,
                queued: false,
            });
        }
        Entry::Irregular { path, what } => refuse(spool, &path, what),
    }
}

fn refuse(spool: &Spool, path: &Path, what: &str) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let source = spool.source.as_deref().unwrap_or("default");
    match spool.fail(path, &format!("refused: {what}; only regular files are rated")) {
        Ok(_) => telemetry::emit(&Event::FileFailed { source, name: &name, reason: what }),
        Err(e) => {
            tracing::error!(file = %Untrusted(&name), error = %Untrusted(&e.to_string()), "cannot move to failed/")
        }
    }
}

fn on_incoming_event(
    spool: &Spool,
    source: usize,
    pending: &mut HashMap<PathBuf, Pending>,
    kind: &EventKind,
    path: &Path,
) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return };
    if ignored_name(name) {
        return;
    }
    match kind {
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            if let Some(p) = pending.get(path) {
                if !p.queued {
                    pending.remove(path);
                }
            }
            return;
        }
        _ => {}
    }
    let entry = match spool.classify(path) {
        Ok(Some(e)) => e,
        Ok(None) => {
            // Gone already; keep it only if the worker has it.
            if pending.get(path).is_some_and(|p| !p.queued) {
                pending.remove(path);
            }
            return;
        }
        Err(e) => {
            tracing::warn!(file = %Untrusted(name), error = %Untrusted(&e.to_string()), "cannot stat");
            return;
        }
    };
    let (size, modified) = match entry {
        Entry::File { size, modified, .. } => (size, modified),
        Entry::Irregular { what, .. } => return refuse(spool, path, what),
    };
    let renamed_in = matches!(kind, EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)));
    let closed = matches!(kind, EventKind::Access(AccessKind::Close(AccessMode::Write)));
    let p = pending.entry(path.to_path_buf()).or_insert(Pending {
        source,
        size,
        modified,
        since: Instant::now(),
        closed: false,
        renamed: false,
        queued: false,
    });
    if p.queued {
        return;
    }
    if renamed_in {
        // Complete by contract: taken at once.
        p.renamed = true;
    } else if closed {
        p.closed = true;
        p.since = Instant::now();
    } else if matches!(kind, EventKind::Create(CreateKind::File | CreateKind::Any) | EventKind::Modify(_)) {
        p.closed = false;
        p.renamed = false;
        p.since = Instant::now();
    }
    p.size = size;
    p.modified = modified;
}

/// Whether a pending file has settled: closed, and unchanged for `settle`.
fn ready(path: &Path, p: &mut Pending, settle: Duration) -> bool {
    if p.renamed {
        return true;
    }
    if !p.closed || p.since.elapsed() < settle {
        return false;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.len() == p.size && m.modified().ok() == Some(p.modified) => true,
        Ok(m) => {
            p.size = m.len();
            p.modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            p.since = Instant::now();
            false
        }
        Err(_) => true, // gone or unreadable: the worker sorts it out
    }
}

async fn reload(config: &Config, tariffs: &Arc<ArcSwap<Tariff>>) {
    let (dir, home) = (config.rates.clone(), config.numbering.home_country.clone());
    let loaded = tokio::task::spawn_blocking(move || tariff::load(&dir, &home)).await;
    match loaded {
        Ok(Ok((t, report))) => {
            for w in &report.warnings {
                tracing::warn!(warning = %w, "tariff tables");
            }
            telemetry::emit(&Event::TariffLoaded { prefixes: t.prefix_count(), reload: true, digest: &t.digest });
            tariffs.store(Arc::new(t));
        }
        Ok(Err(errors)) => {
            let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            telemetry::emit(&Event::TariffRefused { errors: &text.join("\n") });
        }
        Err(e) => telemetry::emit(&Event::TariffRefused { errors: &e.to_string() }),
    }
}

fn worker_loop(
    config: &Config,
    sources: &[Source],
    ledger: &RedbLedger,
    tariffs: &ArcSwap<Tariff>,
    cancel: &AtomicBool,
    work: &std::sync::Mutex<std_mpsc::Receiver<Work>>,
    done: mpsc::UnboundedSender<Finished>,
) {
    let processors: Vec<Processor<'_>> = sources
        .iter()
        .map(|s| Processor {
            spool: &s.spool,
            rater: FileRater {
                ledger,
                tariffs,
                numbering: &s.numbering,
                format: s.format.clone(),
                timezone: s.timezone.clone(),
                decimals: config.price_decimals,
                limits: config.limits.clone(),
                default_customer: s.customer.clone(),
                cancel,
                ids: config.ids_settings(),
            },
        })
        .collect();
    let mut snapshot_due = false;
    let mut last_snapshot: Option<Instant> = None;
    loop {
        // Wait for work; when idle, flush a pending snapshot first.
        let next = work.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(SNAPSHOT_EVERY);
        let item = match next {
            Ok(item) => item,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                if snapshot_due {
                    write_snapshot(config, ledger, &processors[0]);
                    snapshot_due = false;
                    last_snapshot = Some(Instant::now());
                }
                continue;
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let (i, claimed, incoming) = match item {
            Work::Claimed(i, c) => (i, Some(c), None),
            Work::Incoming(i, path) => match sources[i].spool.claim(&path) {
                Ok(c) => (i, c, Some(path)),
                Err(e) => {
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    tracing::error!(file = %Untrusted(&name), error = %e, "cannot claim");
                    (i, None, Some(path))
                }
            },
        };
        let source = sources[i].label.as_str();
        let was_claimed = incoming.is_none();
        let mut again = None;
        if let Some(claimed) = claimed {
            let name = claimed
                .file_name()
                .and_then(|n| n.to_str())
                .map(|n| crate::spool::original_name(n).to_string())
                .unwrap_or_default();
            match processors[i].process(&claimed) {
                Ok(FileOutcome::Rated { totals, seconds, tariff, .. }) => {
                    telemetry::emit(&Event::FileRated {
                        source,
                        name: &name,
                        totals: &totals,
                        seconds,
                        tariff: &tariff,
                    });
                    snapshot_due = true;
                }
                Ok(FileOutcome::Duplicate { of }) => {
                    telemetry::emit(&Event::FileDuplicate { source, name: &name, of: &of })
                }
                Ok(FileOutcome::Archived) => {
                    tracing::info!(source, file = %Untrusted(&name), "finished an interrupted file")
                }
                Ok(FileOutcome::Failed { reason }) => {
                    telemetry::emit(&Event::FileFailed { source, name: &name, reason: &reason })
                }
                Ok(FileOutcome::Abandoned) => {
                    tracing::info!(source, file = %Untrusted(&name), "abandoned for shutdown; redone at start")
                }
                Ok(FileOutcome::Busy { of }) => {
                    tracing::debug!(source, file = %Untrusted(&name), of = %Untrusted(&of), "same content in progress; waiting");
                    again = Some((claimed, Again::Busy));
                }
                Ok(FileOutcome::Gone) => {
                    tracing::warn!(source, file = %Untrusted(&name), "claimed file is gone (moved away?)")
                }
                Err(e) => {
                    telemetry::emit(&Event::FileError { source, name: &name, error: &e.to_string() });
                    again = Some((claimed, Again::Error));
                }
            }
        }
        if cancel.load(Ordering::Relaxed) {
            // Shutting down: whatever is left claimed is redone at start.
            again = None;
        }
        let _ = done.send(Finished { source: i, incoming, was_claimed, again });
        // The IDS snapshot for `cdr-rater ids`: at most once a second.
        if snapshot_due && last_snapshot.is_none_or(|t: Instant| t.elapsed() >= SNAPSHOT_EVERY) {
            write_snapshot(config, ledger, &processors[0]);
            snapshot_due = false;
            last_snapshot = Some(Instant::now());
        }
    }
    if snapshot_due {
        write_snapshot(config, ledger, &processors[0]);
    }
}

/// How often the worker refreshes `state/ids.json` while files keep coming.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

fn write_snapshot(config: &Config, ledger: &RedbLedger, processor: &Processor<'_>) {
    if processor.rater.ids.is_some() {
        if let Err(e) = crate::state::write_ids_snapshot(&config.state, ledger) {
            tracing::warn!(error = %e, "cannot write the IDS snapshot");
        }
    }
}
