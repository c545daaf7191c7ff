//! Which files in the drop folders are ready to be taken: renamed in
//! (complete by contract), or closed by their writer and unchanged for
//! `settle_ms`. Entries that are not regular files are refused (moved to
//! `failed/` unopened).
//!
//! [`Intake`] is a pure state machine over (inputs, clock): it is fed typed
//! [`Input`]s (a watcher event with the path's [`Stat`], a scan, a tick, the
//! answer to a stat it asked for, a worker's "finished") each with the time
//! `now`, and answers with [`Decision`]s. It does no I/O and reads no clock;
//! [`shell`] does both: it stats paths, lists folders, moves refused entries
//! and sends work, so the rules below are tested without a file system
//! (`tests.rs`, and the random model test in `model.rs`).
//!
//! The rules:
//! - renamed in: handed to a worker at once;
//! - written in place: taken once closed by its writer and then unchanged
//!   (size and mtime) for `settle`; any write, create or modify event
//!   restarts the wait, and a file still open is never taken;
//! - seen at a scan (or found under a name a worker just released): counts as
//!   closed, and its age (by mtime, at most `settle`) counts toward settling;
//!   a file already known is left as it is, except after the watcher lost
//!   events: then it is taken as the scan shows it;
//! - once settled, the file is looked at once more ([`Decision::Stat`]): taken
//!   if its size and mtime are still those last seen, else it settles again;
//! - a path handed to a worker is not looked at again until the worker is
//!   [`Input::Finished`] with it (at most one dispatch per path at a time);
//! - a symlink, fifo, socket, device or folder is refused, never handed on.

pub(super) mod shell;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::spool::ignored_name;

/// What a path is, as the shell found it (`lstat`, links not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// A regular file.
    File {
        /// Size in bytes.
        size: u64,
        /// Last modification.
        modified: SystemTime,
    },
    /// Not a regular file: a symlink, fifo, socket, device or folder.
    Irregular {
        /// What it is, for the `.reason` file.
        what: &'static str,
    },
    /// Nothing there (or it could not be looked at).
    Gone,
}

/// What a watcher event says happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created (a writer opened a new file).
    Created,
    /// Written to, truncated, its metadata changed.
    Modified,
    /// Closed by a writer.
    ClosedAfterWrite,
    /// Renamed into the folder (complete by contract).
    RenamedIn,
    /// Renamed out of the folder.
    RenamedAway,
    /// Removed.
    Removed,
    /// Anything else (opened, read): only the stat counts.
    Other,
}

impl Change {
    /// Whether the input needs the path's stat (a path removed or renamed
    /// away is forgotten without one: feed [`Stat::Gone`]).
    pub fn needs_stat(self) -> bool {
        !matches!(self, Change::Removed | Change::RenamedAway)
    }
}

/// One input to the [`Intake`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A watcher event on `path` of source `source`, with the path's stat
    /// taken after the event arrived.
    Event {
        /// Index of the source.
        source: usize,
        /// The path in the source's drop folder.
        path: PathBuf,
        /// What the event says.
        change: Change,
        /// The path now.
        stat: Stat,
    },
    /// Every entry of a drop folder (ignored names left out).
    Scan {
        /// Index of the source.
        source: usize,
        /// The watcher lost events before this scan (its queue overflowed,
        /// or it failed): what was known of the folder's files not in a
        /// worker's hands is replaced by what the scan shows, so that a lost
        /// close or rename cannot leave a file waiting forever.
        events_lost: bool,
        /// The wall clock at the scan: a file's age is `wall - modified`.
        wall: SystemTime,
        /// Each entry with its stat.
        entries: Vec<(PathBuf, Stat)>,
    },
    /// Time passed: settled files are asked about ([`Decision::Stat`]).
    Tick,
    /// The answer to a [`Decision::Stat`].
    Stat {
        /// The path asked about.
        path: PathBuf,
        /// What it is now.
        stat: Stat,
    },
    /// A worker is done with a path it was handed; `stat` is what is at
    /// that path now (a new file may have arrived under the same name).
    Finished {
        /// Index of the source.
        source: usize,
        /// The path it was handed.
        path: PathBuf,
        /// The wall clock when `stat` was taken.
        wall: SystemTime,
        /// The path now.
        stat: Stat,
    },
}

/// What the [`Intake`] asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Hand the file to a worker; answer with [`Input::Finished`] when it is done.
    Dispatch {
        /// Index of the source.
        source: usize,
        /// The path in its drop folder.
        path: PathBuf,
    },
    /// Move this irregular entry to `failed/` (not following it).
    Refuse {
        /// Index of the source.
        source: usize,
        /// The path in its drop folder.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// This file has settled: look at it again and answer with [`Input::Stat`].
    Stat {
        /// Index of the source.
        source: usize,
        /// The path to stat.
        path: PathBuf,
    },
}

/// A file in a drop folder that is not done yet.
#[derive(Debug)]
struct Pending {
    /// Index of its source.
    source: usize,
    /// Size last seen.
    size: u64,
    /// Modification time last seen.
    modified: SystemTime,
    /// When it last changed (or when we first saw it).
    since: Instant,
    /// Closed after writing (or present at a scan): settling may start.
    closed: bool,
    /// Renamed into `incoming/`: complete by contract, no settling.
    renamed: bool,
    /// Handed to a worker: ignored until the worker is finished with it.
    queued: bool,
}

impl Pending {
    /// Closed (or seen at a scan) and unchanged for `settle`, as far as events tell.
    fn settled(&self, now: Instant, settle: Duration) -> bool {
        self.closed && now.saturating_duration_since(self.since) >= settle
    }
}

/// The intake's state: every known file of every drop folder not yet done.
#[derive(Debug)]
pub struct Intake {
    /// How long a closed file must stay unchanged.
    settle: Duration,
    pending: HashMap<PathBuf, Pending>,
}

impl Intake {
    /// An intake knowing no file yet.
    pub fn new(settle: Duration) -> Intake {
        Intake { settle, pending: HashMap::new() }
    }

    /// Files known and not done (waiting, settling or with a worker).
    pub fn backlog(&self) -> usize {
        self.pending.len()
    }

    /// [`Intake::backlog`] per source, for sources `0..sources`.
    pub fn backlog_by_source(&self, sources: usize) -> Vec<usize> {
        let mut n = vec![0; sources];
        for p in self.pending.values() {
            if let Some(c) = n.get_mut(p.source) {
                *c += 1;
            }
        }
        n
    }

    /// Whether events on this path are of no interest (hidden, `.tmp`,
    /// `.part`, or a name that is not UTF-8): the shell need not stat it.
    pub fn ignores(path: &Path) -> bool {
        path.file_name().and_then(|n| n.to_str()).is_none_or(ignored_name)
    }

    /// Takes one input at time `now`; returns what to do, in order.
    pub fn step(&mut self, now: Instant, input: Input) -> Vec<Decision> {
        let mut out = Vec::new();
        match input {
            Input::Event { source, path, change, stat } => self.event(now, source, path, change, stat, &mut out),
            Input::Scan { source, events_lost, wall, entries } => {
                if events_lost {
                    self.pending.retain(|_, p| p.queued || p.source != source);
                }
                for (path, stat) in entries {
                    self.track(now, wall, source, path, stat, &mut out);
                }
            }
            Input::Tick => self.tick(now, &mut out),
            Input::Stat { path, stat } => self.restat(now, path, stat, &mut out),
            Input::Finished { source, path, wall, stat } => {
                self.pending.remove(&path);
                // A new file may have arrived under the same name while the
                // worker had the old one (a daily Master.csv): track it.
                self.track(now, wall, source, path, stat, &mut out);
            }
        }
        out
    }

    /// Forgets `path` unless a worker has it.
    fn forget(&mut self, path: &Path) {
        if self.pending.get(path).is_some_and(|p| !p.queued) {
            self.pending.remove(path);
        }
    }

    /// Refuses an irregular entry; whatever was known at its path is gone.
    fn refuse(&mut self, source: usize, path: PathBuf, what: &'static str, out: &mut Vec<Decision>) {
        self.forget(&path);
        out.push(Decision::Refuse { source, path, what });
    }

    fn event(
        &mut self,
        now: Instant,
        source: usize,
        path: PathBuf,
        change: Change,
        stat: Stat,
        out: &mut Vec<Decision>,
    ) {
        if Intake::ignores(&path) {
            return;
        }
        if !change.needs_stat() {
            return self.forget(&path);
        }
        let (size, modified) = match stat {
            Stat::File { size, modified } => (size, modified),
            // Gone already; keep it only if the worker has it.
            Stat::Gone => return self.forget(&path),
            Stat::Irregular { what } => return self.refuse(source, path, what, out),
        };
        let p = self.pending.entry(path.clone()).or_insert(Pending {
            source,
            size,
            modified,
            since: now,
            closed: false,
            renamed: false,
            queued: false,
        });
        if p.queued {
            return;
        }
        match change {
            // Complete by contract: taken at once.
            Change::RenamedIn => p.renamed = true,
            Change::ClosedAfterWrite => {
                p.closed = true;
                p.since = now;
            }
            Change::Created | Change::Modified => {
                p.closed = false;
                p.renamed = false;
                p.since = now;
            }
            Change::Other | Change::Removed | Change::RenamedAway => {}
        }
        p.size = size;
        p.modified = modified;
        if p.renamed {
            p.queued = true;
            out.push(Decision::Dispatch { source, path });
        }
    }

    /// Starts tracking a file found by a scan (not by an event): it counts
    /// as closed, and its age counts toward settling.
    fn track(
        &mut self,
        now: Instant,
        wall: SystemTime,
        source: usize,
        path: PathBuf,
        stat: Stat,
        out: &mut Vec<Decision>,
    ) {
        match stat {
            Stat::File { size, modified } => {
                let age = wall.duration_since(modified).unwrap_or_default().min(self.settle);
                let since = now.checked_sub(age).unwrap_or(now);
                self.pending.entry(path).or_insert(Pending {
                    source,
                    size,
                    modified,
                    since,
                    closed: true,
                    renamed: false,
                    queued: false,
                });
            }
            Stat::Irregular { what } => self.refuse(source, path, what, out),
            Stat::Gone => {}
        }
    }

    /// Renamed files go now; closed files settled for `settle` are looked at again.
    fn tick(&mut self, now: Instant, out: &mut Vec<Decision>) {
        let settle = self.settle;
        for (path, p) in self.pending.iter_mut() {
            if p.queued {
                continue;
            }
            if p.renamed {
                p.queued = true;
                out.push(Decision::Dispatch { source: p.source, path: path.clone() });
            } else if p.settled(now, settle) {
                out.push(Decision::Stat { source: p.source, path: path.clone() });
            }
        }
    }

    /// A settled file looked at again: taken if unchanged, else it settles again.
    fn restat(&mut self, now: Instant, path: PathBuf, stat: Stat, out: &mut Vec<Decision>) {
        let settle = self.settle;
        let Some(p) = self.pending.get_mut(&path) else { return };
        if p.queued || !(p.renamed || p.settled(now, settle)) {
            return; // changed since it was asked about: no longer a candidate
        }
        let take = match stat {
            _ if p.renamed => true,
            Stat::File { size, modified } if size == p.size && modified == p.modified => true,
            Stat::File { size, modified } => {
                p.size = size;
                p.modified = modified;
                p.since = now;
                false
            }
            // Gone or unreadable: the worker sorts it out.
            Stat::Gone => true,
            Stat::Irregular { what } => {
                let source = p.source;
                return self.refuse(source, path, what, out);
            }
        };
        if take {
            p.queued = true;
            out.push(Decision::Dispatch { source: p.source, path });
        }
    }
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
