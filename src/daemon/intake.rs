//! Which files in the drop folders are ready to be taken: renamed in
//! (complete by contract), or closed by their writer and unchanged for
//! `settle_ms`. Entries that are not regular files are moved to `failed/`
//! unopened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::EventKind;

use super::worker::Work;
use super::Source;
use crate::spool::{ignored_name, Entry, Spool};
use crate::telemetry::{self, Event, Untrusted};

/// A file in an `incoming/` that is not ready yet.
pub(super) struct Pending {
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

/// Hands ready files to the worker (with `renamed_only`, just the files
/// renamed in, which need no stat).
pub(super) fn dispatch(
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
pub(super) fn rescan_all(sources: &[Source], pending: &mut HashMap<PathBuf, Pending>, settle: Duration) {
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
pub(super) fn track(
    spool: &Spool,
    source: usize,
    pending: &mut HashMap<PathBuf, Pending>,
    entry: Entry,
    settle: Duration,
) {
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

pub(super) fn refuse(spool: &Spool, path: &Path, what: &str) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let source = spool.source.as_deref().unwrap_or("default");
    match spool.fail(path, &format!("refused: {what}; only regular files are rated")) {
        Ok(_) => telemetry::emit(&Event::FileFailed { source, name: &name, reason: what }),
        Err(e) => {
            tracing::error!(file = %Untrusted(&name), error = %Untrusted(&e.to_string()), "cannot move to failed/")
        }
    }
}

pub(super) fn on_incoming_event(
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
pub(super) fn ready(path: &Path, p: &mut Pending, settle: Duration) -> bool {
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
