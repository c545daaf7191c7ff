//! When a file's alerts are logged relative to its commit, per store.
//!
//! The embedded store has one writer: a file's alerts are appended to the
//! alert log (fsynced) before the commit that fires them, and a redo after
//! a crash leaves out the ids already in the log. Exactly once.
//!
//! The shared store has several sites, and that order has a window: a site
//! that logged an alert and died before its commit leaves the level
//! unfired in the database, and another site fires it again. So there the
//! alerts are committed with their file, into the store's outbox
//! ([`AlertOutbox`]), and logged after the commit; a site that dies in
//! between logs them when it starts again ([`flush`]). An alert is fired by
//! the one commit that raised its level, and logged by that commit's site.
//!
//! Why here: the job and `rerate` both make a file durable with its alerts,
//! and the order is the store's, not theirs.

use std::collections::HashSet;

use crate::alerts::{AlertLog, Logged};
use crate::fraud::FraudAlert;
use crate::ids::Alert;
use crate::state::{AlertOutbox, Ledger, StateError};

/// What [`before_commit`] left for [`after_commit`]: the ids of the alerts
/// staged into the commit (none when they were logged already).
#[derive(Debug, Default)]
#[must_use = "after the commit, the staged alerts are logged by after_commit"]
pub struct Staged {
    ids: HashSet<String>,
}

/// Before a file's commit: its alerts logged now (a store without an
/// outbox; on a `redo` the ones already in the log are left out), or
/// staged into the commit (a store with one).
pub fn before_commit(
    ledger: &dyn Ledger,
    log: &AlertLog,
    ids: &[Alert],
    fraud: &[FraudAlert],
    redo: bool,
) -> std::io::Result<Staged> {
    let Some(outbox) = ledger.alert_outbox() else {
        log.log_file_alerts(ids, fraud, redo)?;
        return Ok(Staged::default());
    };
    let lines = log.lines(ids, fraud);
    let staged = Staged {
        ids: ids.iter().map(|a| a.alert_id.clone()).chain(fraud.iter().map(|a| a.alert_id.clone())).collect(),
    };
    if !lines.is_empty() {
        outbox.stage(lines);
    }
    Ok(staged)
}

/// After a file's commit: the outbox logged (the file's own alerts, and
/// any an earlier run left). The file is committed whatever happens here:
/// a failure is reported, and the alerts stay in the outbox for the next
/// commit or start. Call it inside the commit lock (`job::Locks`), so no
/// other worker of this process logs the same entries meanwhile.
pub fn after_commit(ledger: &dyn Ledger, log: &AlertLog, staged: Staged) {
    let Some(outbox) = ledger.alert_outbox() else { return };
    if let Err(e) = flush(outbox, log, &staged.ids) {
        tracing::error!(error = %e, "alerts committed but not logged yet: they are logged at the next commit or start");
    }
}

/// Why the outbox could not be logged.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StateError),
    /// The alert log could not be read or appended to.
    #[error("alert log {}: {source}", path.display())]
    Log {
        /// The alert log.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Logs every unlogged entry of the outbox and marks them logged; returns
/// how many were logged. Entries other than `ours` (the commit just made)
/// are left by a run that stopped between a commit and its log, or its log
/// and the mark: those already in the log are not logged again.
pub fn flush(outbox: &dyn AlertOutbox, log: &AlertLog, ours: &HashSet<String>) -> Result<usize, FlushError> {
    let pending = outbox.unlogged()?;
    if pending.is_empty() {
        return Ok(0);
    }
    let log_err = |source| FlushError::Log { path: log.path.clone(), source };
    let mut entries = Vec::with_capacity(pending.len());
    let mut alerts = Vec::with_capacity(pending.len());
    for (entry, line) in &pending {
        entries.push(*entry);
        match parse(line) {
            Some(alert) => alerts.push(alert),
            None => tracing::error!(entry, "an alert in the store's outbox does not decode: left out"),
        }
    }
    let leftovers = alerts.iter().any(|a| !ours.contains(a.as_logged().alert_id()));
    let logged = if leftovers { log.logged_ids().map_err(log_err)? } else { HashSet::new() };
    let fresh: Vec<Logged<'_>> =
        alerts.iter().map(Owned::as_logged).filter(|a| !logged.contains(a.alert_id())).collect();
    log.append(&fresh).map_err(log_err)?;
    for a in &fresh {
        log.announce(*a);
    }
    outbox.logged(&entries)?;
    Ok(fresh.len())
}

/// An alert read back from its line.
enum Owned {
    Ids(Alert),
    Fraud(FraudAlert),
}

impl Owned {
    fn as_logged(&self) -> Logged<'_> {
        match self {
            Owned::Ids(a) => Logged::Ids(a),
            Owned::Fraud(a) => Logged::Fraud(a),
        }
    }
}

/// An alert line, by its `type`.
fn parse(line: &str) -> Option<Owned> {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    let kind: Kind<'_> = serde_json::from_str(line).ok()?;
    if kind.kind == "ids_threshold" {
        serde_json::from_str(line).ok().map(Owned::Ids)
    } else {
        serde_json::from_str(line).ok().map(Owned::Fraud)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// An outbox in memory.
    #[derive(Default)]
    struct Memory {
        staged: Mutex<Vec<String>>,
        entries: Mutex<Vec<(i64, String)>>,
    }

    impl Memory {
        fn commit(&self) {
            let mut entries = self.entries.lock().unwrap();
            for line in self.staged.lock().unwrap().drain(..) {
                let n = entries.len() as i64 + 1;
                entries.push((n, line));
            }
        }
    }

    impl AlertOutbox for Memory {
        fn stage(&self, lines: Vec<String>) {
            self.staged.lock().unwrap().extend(lines);
        }
        fn unlogged(&self) -> Result<Vec<(i64, String)>, StateError> {
            Ok(self.entries.lock().unwrap().clone())
        }
        fn logged(&self, done: &[i64]) -> Result<(), StateError> {
            self.entries.lock().unwrap().retain(|(e, _)| !done.contains(e));
            Ok(())
        }
    }

    fn alert(id: &str) -> Alert {
        Alert {
            kind: "ids_threshold".into(),
            alert_id: id.into(),
            customer_id: "C1".into(),
            customer_name: "One".into(),
            day: "2026-11-02".into(),
            spend: "120.0000".into(),
            baseline: "10.0000".into(),
            range: "100.0000".into(),
            threshold: "110.0000".into(),
            level_threshold: "110.0000".into(),
            level: 1,
            currency: "EUR".into(),
            calls: 3,
            trigger_call_id: "c3".into(),
            file: "f.csv".into(),
            top_destinations: Vec::new(),
            emitted_at: "2026-11-02T10:00:00Z".into(),
            warm_up: false,
            late: false,
            site: Some("ams1".into()),
        }
    }

    fn logged_lines(log: &AlertLog) -> Vec<String> {
        std::fs::read_to_string(&log.path).unwrap_or_default().lines().map(str::to_string).collect()
    }

    #[test]
    fn committed_alerts_are_logged_once_whenever_the_run_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::new(dir.path().join("alerts.jsonl"), Vec::new(), std::time::Duration::from_secs(1));
        let outbox = Memory::default();
        // A commit whose run stopped before its log: logged by the next flush.
        outbox.stage(log.lines(&[alert("C1/2026-11-02/1")], &[]));
        outbox.commit();
        assert_eq!(flush(&outbox, &log, &HashSet::new()).unwrap(), 1);
        assert_eq!(flush(&outbox, &log, &HashSet::new()).unwrap(), 0, "marked logged");
        // A run that logged and stopped before the mark: not logged again.
        outbox.stage(log.lines(&[alert("C1/2026-11-02/2")], &[]));
        outbox.commit();
        log.append(&[Logged::Ids(&alert("C1/2026-11-02/2"))]).unwrap();
        assert_eq!(flush(&outbox, &log, &HashSet::new()).unwrap(), 0);
        assert!(outbox.unlogged().unwrap().is_empty());
        // A commit's own alerts, with nothing left before: logged.
        outbox.stage(log.lines(&[alert("C1/2026-11-02/3")], &[]));
        outbox.commit();
        let ours = HashSet::from(["C1/2026-11-02/3".to_string()]);
        assert_eq!(flush(&outbox, &log, &ours).unwrap(), 1);
        let ids: Vec<String> =
            logged_lines(&log).iter().map(|l| serde_json::from_str::<Alert>(l).unwrap().alert_id).collect();
        assert_eq!(ids, ["C1/2026-11-02/1", "C1/2026-11-02/2", "C1/2026-11-02/3"]);
    }

    #[test]
    fn a_line_reads_back_as_the_alert_logged() {
        let a = alert("C1/2026-11-02/1");
        let line = serde_json::to_string(&a).unwrap();
        assert!(matches!(parse(&line), Some(Owned::Ids(b)) if b == a));
        assert!(parse("not json").is_none());
    }
}
