//! Alert sinks (IDS and fraud rules alike): the JSON-lines alert log
//! (appended and fsynced before the file that raised the alerts is marked
//! done, or on the shared store just after: the engine's `outbox` module),
//! a warning log line, a metric, and an optional command hook that never
//! blocks rating: runs are queued and delivered by at most
//! [`MAX_HOOK_RUNS`] processes at once.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::fraud::FraudAlert;
use crate::ids::Alert;
use crate::telemetry::Untrusted;

/// A line of the alert log: an IDS alert or a fraud rule's. A file's
/// alerts of both kinds are appended together, all or nothing.
#[derive(Debug, Clone, Copy)]
pub enum Logged<'a> {
    /// An IDS level crossed.
    Ids(&'a Alert),
    /// A fraud rule fired.
    Fraud(&'a FraudAlert),
}

impl serde::Serialize for Logged<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Logged::Ids(a) => a.serialize(s),
            Logged::Fraud(a) => a.serialize(s),
        }
    }
}

impl Logged<'_> {
    /// Its `alert_id`.
    pub fn alert_id(&self) -> &str {
        match self {
            Logged::Ids(a) => &a.alert_id,
            Logged::Fraud(a) => &a.alert_id,
        }
    }
}

/// What every alert line has: its id.
#[derive(serde::Deserialize)]
struct AlertId {
    alert_id: String,
}

/// Where alerts go. Clones share one hook queue, so every worker's alerts
/// count toward one limit of hook processes.
#[derive(Debug, Clone)]
pub struct AlertLog {
    /// The JSON-lines file.
    pub path: PathBuf,
    /// Command run per alert with the alert JSON on stdin (`[ids] on_alert`).
    pub hook: Vec<String>,
    /// How long the hook may run before it is killed.
    pub hook_timeout: Duration,
    /// The queue of hook runs and its delivery threads.
    hooks: Arc<Hooks>,
    /// The site written into each alert (the shared store's; `None` on the
    /// embedded store, whose lines have no `site`).
    pub site: Option<String>,
}

impl AlertLog {
    /// An alert log at `path` whose alerts are handed to `hook` (none when
    /// empty), each run killed after `hook_timeout`, with a queue of its own.
    pub fn new(path: PathBuf, hook: Vec<String>, hook_timeout: Duration) -> AlertLog {
        let hooks = Arc::new(Hooks {
            state: Mutex::new(HookQueue {
                waiting: VecDeque::new(),
                running: 0,
                threads: 0,
                done: HookTally { finished: 0, failed: 0 },
            }),
            changed: Condvar::new(),
        });
        AlertLog { path, hook, hook_timeout, hooks, site: None }
    }

    /// This log with `site` written into every alert it logs.
    pub fn with_site(mut self, site: Option<String>) -> AlertLog {
        self.site = site;
        self
    }

    /// The alerts as logged: with this log's site, when it has one.
    fn stamped<'a>(&self, ids: &'a [Alert], fraud: &'a [FraudAlert]) -> (Cow<'a, [Alert]>, Cow<'a, [FraudAlert]>) {
        let Some(site) = &self.site else { return (Cow::Borrowed(ids), Cow::Borrowed(fraud)) };
        let ids = ids.iter().map(|a| Alert { site: Some(site.clone()), ..a.clone() }).collect();
        let fraud = fraud.iter().map(|a| FraudAlert { site: Some(site.clone()), ..a.clone() }).collect();
        (Cow::Owned(ids), Cow::Owned(fraud))
    }

    /// Waits until every queued hook run has finished (each is killed at
    /// its timeout, so this is bounded), and returns the runs so far.
    /// `rate --ids` and the daemon's shutdown call it, so no alert in the
    /// log misses the hook.
    pub fn wait_for_hooks(&self) -> HookTally {
        let mut q = self.hooks.lock();
        while (!q.waiting.is_empty() && q.threads > 0) || q.running > 0 {
            q = self.hooks.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.done
    }

    /// Alert ids already in the log (read on a redo after a crash, so an
    /// alert is never logged twice). Only complete lines count: a torn tail
    /// left by a crash is removed by the next [`AlertLog::append`], so its
    /// alert must be written again.
    pub fn logged_ids(&self) -> io::Result<HashSet<String>> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(e),
        };
        let mut ids = HashSet::new();
        let mut reader = io::BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
                break;
            }
            if let Ok(a) = serde_json::from_slice::<AlertId>(&line) {
                ids.insert(a.alert_id);
            }
        }
        Ok(ids)
    }

    /// Appends alerts as JSON lines and fsyncs. All or nothing: on a failed
    /// write or fsync (a full disk) the file is cut back to its length
    /// before, so it never holds a torn line, and the error is returned for
    /// the caller to retry. A torn tail left by a crash is cut off first.
    /// Appenders (threads or processes) are serialised by an exclusive
    /// `flock`, so the length noted is still the end when it is restored.
    pub fn append<A: serde::Serialize>(&self, alerts: &[A]) -> io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut text = Vec::new();
        for a in alerts {
            serde_json::to_writer(&mut text, a).map_err(io::Error::other)?;
            text.push(b'\n');
        }
        let created = !self.path.exists();
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&self.path)?;
        lock_exclusive(&file)?;
        let len = complete_length(&file)?;
        if len != file.metadata()?.len() {
            file.set_len(len)?;
        }
        let written = file.write_all(&text).and_then(|()| file.sync_all());
        if let Err(e) = written {
            // Best effort: if this fails too, the torn tail is cut off by
            // the next append, and its alerts are not in `logged_ids`.
            let _ = file.set_len(len).and_then(|()| file.sync_all());
            return Err(e);
        }
        if created {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::output::sync_dir(dir)?;
            }
        }
        Ok(())
    }

    /// A file's alerts as the lines this log writes (with its site), IDS
    /// then fraud: what the shared store commits into its outbox.
    pub fn lines(&self, ids: &[Alert], fraud: &[FraudAlert]) -> Vec<String> {
        let (ids, fraud) = self.stamped(ids, fraud);
        let alerts = ids.iter().map(Logged::Ids).chain(fraud.iter().map(Logged::Fraud));
        // Strings, numbers and lists only: serialising into memory cannot fail.
        alerts.map(|a| serde_json::to_string(&a).unwrap_or_default()).collect()
    }

    /// Logs a file's alerts, IDS then fraud, in one all-or-nothing append,
    /// and announces each. On a `redo` (the file's commit did not happen,
    /// its alerts may have) the alerts already in the log are left out.
    pub fn log_file_alerts(&self, ids: &[Alert], fraud: &[FraudAlert], redo: bool) -> io::Result<()> {
        let (ids, fraud) = self.stamped(ids, fraud);
        let logged = if redo { self.logged_ids()? } else { HashSet::new() };
        let fresh: Vec<Logged<'_>> = ids
            .iter()
            .map(Logged::Ids)
            .chain(fraud.iter().map(Logged::Fraud))
            .filter(|a| !logged.contains(a.alert_id()))
            .collect();
        self.append(&fresh)?;
        for a in fresh {
            self.announce(a);
        }
        Ok(())
    }

    /// Tells the operator: a warning, a metric, and the hook in the
    /// background (queued; see [`wait_for_hooks`]). Never blocks.
    pub fn announce(&self, alert: Logged<'_>) {
        match alert {
            Logged::Ids(alert) => crate::telemetry::emit(&crate::telemetry::Event::IdsAlert { alert }),
            Logged::Fraud(alert) => crate::telemetry::emit(&crate::telemetry::Event::FraudAlert { alert }),
        }
        if let Some((program, args)) = self.hook.split_first() {
            let mut json = serde_json::to_string(&alert).unwrap_or_default();
            json.push('\n');
            self.hooks.push(HookRun {
                program: program.clone(),
                args: args.to_vec(),
                json,
                alert_id: alert.alert_id().to_string(),
                timeout: self.hook_timeout,
            });
        }
    }
}

/// Hook processes running at once in this process, across every worker: a
/// burst of alerts (a runaway day, a backfill) queues instead of forking a
/// process per alert.
pub const MAX_HOOK_RUNS: usize = 4;

/// One alert to hand to the hook.
#[derive(Debug)]
struct HookRun {
    program: String,
    args: Vec<String>,
    json: String,
    alert_id: String,
    timeout: Duration,
}

/// Why a hook run did not deliver its alert.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The command could not be started.
    #[error("alert hook did not start: {0}")]
    NotStarted(io::Error),
    /// It exited unsuccessfully.
    #[error("alert hook failed: {0}")]
    Failed(std::process::ExitStatus),
    /// It ran past its timeout.
    #[error("alert hook timed out and was killed")]
    TimedOut,
    /// Waiting for it failed.
    #[error("alert hook: {0}")]
    Wait(io::Error),
}

/// The queue of hook runs and its delivery threads (started on first use,
/// at most [`MAX_HOOK_RUNS`]), shared by the clones of one [`AlertLog`].
#[derive(Debug)]
struct Hooks {
    state: Mutex<HookQueue>,
    /// Signalled when a run is queued or finishes.
    changed: Condvar,
}

#[derive(Debug)]
struct HookQueue {
    waiting: VecDeque<HookRun>,
    /// Runs in progress.
    running: usize,
    /// Delivery threads started.
    threads: usize,
    /// Runs finished, and of those failed, since start.
    done: HookTally,
}

/// Hook runs of this process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookTally {
    /// Runs finished (delivered or not).
    pub finished: u64,
    /// Runs that failed, timed out or did not start (each logged).
    pub failed: u64,
}

impl Hooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HookQueue> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(self: &Arc<Self>, run: HookRun) {
        let mut q = self.lock();
        q.waiting.push_back(run);
        // A new thread only when every thread is busy with a run or already
        // has one waiting for it.
        if q.threads < MAX_HOOK_RUNS && q.waiting.len() > q.threads - q.running {
            let hooks = Arc::clone(self);
            let started =
                std::thread::Builder::new().name(format!("alert-hook-{}", q.threads)).spawn(move || hooks.deliver());
            match started {
                Ok(_) => q.threads += 1,
                // The queued runs wait for a thread that did start (or the next push).
                Err(e) => report(None, &format!("cannot start an alert hook thread: {e}")),
            }
        }
        self.changed.notify_all();
    }

    /// A delivery thread: runs queued hooks one at a time, forever.
    fn deliver(&self) {
        loop {
            let run = {
                let mut q = self.lock();
                loop {
                    if let Some(run) = q.waiting.pop_front() {
                        q.running += 1;
                        break run;
                    }
                    q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let result = run_hook(&run);
            if let Err(e) = &result {
                report(Some(&run), &e.to_string());
            }
            let mut q = self.lock();
            q.running -= 1;
            q.done.finished += 1;
            q.done.failed += u64::from(result.is_err());
            self.changed.notify_all();
        }
    }
}

/// Logs a hook failure: through the daemon's logger, or on stderr where
/// none is installed (`rate --ids` has no log, only stderr lines).
fn report(run: Option<&HookRun>, error: &str) {
    let hook = run.map_or("", |r| r.program.as_str());
    let alert = run.map_or("", |r| r.alert_id.as_str());
    if tracing::dispatcher::has_been_set() {
        tracing::error!(hook = %Untrusted(hook), alert = %Untrusted(alert), "{error}");
    } else {
        eprintln!("cdr-rater: {error} (hook {}, alert {})", Untrusted(hook), Untrusted(alert));
    }
}

/// Takes an exclusive `flock` on `file`, released when it is closed.
pub fn lock_exclusive(file: &fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The length of the file's complete lines: up to and including its last
/// `\n` (0 when it has none).
fn complete_length(file: &fs::File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut end = file.metadata()?.len();
    let mut buf = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Runs the hook once with the alert on its stdin, killing it at its timeout.
fn run_hook(run: &HookRun) -> Result<(), HookError> {
    let mut child = Command::new(&run.program)
        .args(&run.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(HookError::NotStarted)?;
    // Written from its own thread: a hook that never reads its stdin must
    // not hold this run past its timeout (the write fails once it is killed).
    if let Some(mut stdin) = child.stdin.take() {
        let json = run.json.clone();
        std::thread::spawn(move || {
            let _ = stdin.write_all(json.as_bytes());
        });
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(HookError::Failed(status)),
            Ok(None) if started.elapsed() > run.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Wait(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str) -> Alert {
        serde_json::from_value(serde_json::json!({
            "type": "ids_threshold", "alert_id": id, "customer_id": "C1", "customer_name": "n",
            "day": "2026-11-25", "spend": "1", "baseline": "0", "range": "1", "threshold": "1",
            "level_threshold": "1", "level": 1, "currency": "EUR", "calls": 1,
            "trigger_call_id": "x", "file": "f", "top_destinations": [],
            "emitted_at": "2026-11-25T00:00:00Z", "warm_up": false, "late": false
        }))
        .unwrap()
    }

    fn log(dir: &std::path::Path) -> AlertLog {
        AlertLog::new(dir.join("a.jsonl"), Vec::new(), Duration::from_secs(1))
    }

    #[test]
    fn a_torn_tail_is_not_logged_and_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        log.append(&[alert("A")]).unwrap();
        // A crash mid-write: the whole JSON of B, but not its newline.
        let mut torn = serde_json::to_vec(&alert("B")).unwrap();
        OpenOptions::new().append(true).open(&log.path).unwrap().write_all(&torn).unwrap();
        assert_eq!(log.logged_ids().unwrap(), HashSet::from(["A".to_string()]));
        log.append(&[alert("B")]).unwrap();
        let text = fs::read_to_string(&log.path).unwrap();
        let ids: Vec<String> = text.lines().map(|l| serde_json::from_str::<Alert>(l).unwrap().alert_id).collect();
        assert_eq!(ids, ["A", "B"]);
        assert!(text.ends_with('\n'));
        // A torn first line (no newline at all) is cut to nothing.
        torn.truncate(10);
        fs::write(&log.path, &torn).unwrap();
        assert!(log.logged_ids().unwrap().is_empty());
        log.append(&[alert("C")]).unwrap();
        assert_eq!(log.logged_ids().unwrap(), HashSet::from(["C".to_string()]));
        assert_eq!(fs::read_to_string(&log.path).unwrap().lines().count(), 1);
    }
}
