//! The I/O around the [`Intake`]: turns watcher events, folder listings,
//! ticks and workers' reports into its inputs (statting the paths), and
//! carries out its decisions (sending work, moving refused entries to
//! `failed/`, statting settled files).

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::EventKind;

use super::{Change, Decision, Input, Intake, Stat};
use crate::daemon::worker::Work;
use crate::daemon::Source;
use crate::spool::{Entry, Spool};
use crate::telemetry::{self, Event, Untrusted};

/// The intake with its sources and the workers' queue.
pub(in crate::daemon) struct Shell<'a> {
    /// The state machine.
    pub(in crate::daemon) intake: Intake,
    /// The sources, by index.
    pub(in crate::daemon) sources: &'a [Source],
    /// Where ready files go.
    pub(in crate::daemon) work: &'a std_mpsc::Sender<Work>,
}

impl Shell<'_> {
    /// Feeds one input (at the present time) and carries out its decisions.
    fn feed(&mut self, input: Input) -> anyhow::Result<()> {
        let decisions = self.intake.step(Instant::now(), input);
        for decision in decisions {
            match decision {
                Decision::Dispatch { source, path } => {
                    self.work.send(Work::Incoming(source, path)).context("the worker stopped")?
                }
                Decision::Refuse { source, path, what } => refuse(&self.sources[source].spool, &path, what),
                Decision::Stat { source, path } => {
                    // Gone or unreadable: the worker sorts it out.
                    let stat = stat(&self.sources[source].spool, &path).unwrap_or(Stat::Gone);
                    self.feed(Input::Stat { path, stat })?;
                }
            }
        }
        Ok(())
    }

    /// Adds every file of every drop folder not yet known (after lost
    /// events: every file not in a worker's hands, as it is now); refuses
    /// irregular entries.
    pub(in crate::daemon) fn rescan(&mut self, events_lost: bool) -> anyhow::Result<()> {
        for (source, s) in self.sources.iter().enumerate() {
            let entries = match s.spool.scan_incoming() {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(source = %s.label, error = %Untrusted(&e.to_string()), "cannot scan incoming/");
                    continue;
                }
            };
            let entries = entries.into_iter().map(entry_stat).collect();
            self.feed(Input::Scan { source, events_lost, wall: SystemTime::now(), entries })?;
        }
        Ok(())
    }

    /// One watcher event (a batch of paths); files renamed in go to a worker now.
    pub(in crate::daemon) fn event(&mut self, event: &notify::Event) -> anyhow::Result<()> {
        if event.need_rescan() {
            self.rescan(true)?;
        }
        let change = change(&event.kind);
        for path in &event.paths {
            let Some(source) = self
                .sources
                .iter()
                .position(|s| path.parent().is_some_and(|p| s.incoming_aliases.iter().any(|a| a == p)))
            else {
                continue;
            };
            let path = self.sources[source].spool.incoming.join(path.file_name().unwrap_or_default());
            if Intake::ignores(&path) {
                continue;
            }
            let stat = if change.needs_stat() {
                match stat(&self.sources[source].spool, &path) {
                    Ok(s) => s,
                    Err(e) => {
                        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        tracing::warn!(file = %Untrusted(&name), error = %Untrusted(&e.to_string()), "cannot stat");
                        continue;
                    }
                }
            } else {
                Stat::Gone
            };
            self.feed(Input::Event { source, path, change, stat })?;
        }
        Ok(())
    }

    /// Hands settled files to the workers.
    pub(in crate::daemon) fn tick(&mut self) -> anyhow::Result<()> {
        self.feed(Input::Tick)
    }

    /// A worker is done with `path`; a file that arrived under that name meanwhile is tracked.
    pub(in crate::daemon) fn finished(&mut self, source: usize, path: PathBuf) -> anyhow::Result<()> {
        let stat = stat(&self.sources[source].spool, &path).unwrap_or(Stat::Gone);
        self.feed(Input::Finished { source, path, wall: SystemTime::now(), stat })
    }
}

/// What a watcher event kind tells the intake.
pub(super) fn change(kind: &EventKind) -> Change {
    match kind {
        EventKind::Remove(_) => Change::Removed,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Change::RenamedAway,
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Change::RenamedIn,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Change::ClosedAfterWrite,
        EventKind::Create(CreateKind::File | CreateKind::Any) => Change::Created,
        EventKind::Modify(_) => Change::Modified,
        _ => Change::Other,
    }
}

/// The path's stat, links not followed.
fn stat(spool: &Spool, path: &Path) -> std::io::Result<Stat> {
    Ok(spool.classify(path)?.map_or(Stat::Gone, |e| entry_stat(e).1))
}

fn entry_stat(entry: Entry) -> (PathBuf, Stat) {
    match entry {
        Entry::File { path, size, modified } => (path, Stat::File { size, modified }),
        Entry::Irregular { path, what } => (path, Stat::Irregular { what }),
    }
}

/// Moves an irregular entry to `failed/` with its reason.
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
