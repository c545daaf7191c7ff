//! The [`Intake`] driven by random file-system histories (after Vector's
//! file watcher model tests): simulated writers create files and write them
//! slowly, close them, rename files in and away, remove them, put symlinks
//! and fifos in their place and reuse names a worker has taken; the daemon
//! rescans, ticks and finishes work, and the clock moves. The watcher's
//! events arrive late (after ticks, scans and reports, but before the clock
//! moves on) or are lost in an overflow (then a rescan follows). A small
//! simulated folder answers the stats (taken when an event arrives, as the
//! shell does), and every decision is checked against a model of what each
//! file is:
//!
//! - a path is never handed on twice while a worker has it;
//! - a file is handed on only when complete: renamed in, or written in place
//!   and unchanged (size, mtime) for `settle`, and never while open for
//!   writing, unless a scan saw it open since its last write (the documented
//!   rule: a file seen at a scan counts as closed);
//! - an irregular entry is refused and never handed on; a regular file is
//!   never refused;
//! - liveness: once the writers are done, the clock passes `settle` and a
//!   rescan, ticks and the workers' reports follow, every file is handed on
//!   and every irregular entry refused, and nothing is left in the backlog.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;

use super::{Change, Decision, Input, Intake, Stat};

const SETTLE_MS: u64 = 300;
const NAMES: [&str; 4] = ["a.csv", "b.csv", "c.csv", ".d.csv.part"];

/// One thing that happens, to name `NAMES[i % NAMES.len()]`.
#[derive(Debug, Clone)]
enum Action {
    /// A writer creates the file in place (open for writing).
    Create(usize),
    /// A writer appends (reopening a closed file written in place).
    Write(usize, u8),
    /// The writer closes it.
    Close(usize),
    /// A complete file is renamed in (over whatever is there).
    RenameIn(usize),
    /// Renamed away by someone else.
    RenameAway(usize),
    /// Removed.
    Remove(usize),
    /// A symlink (or a fifo) put there, by a rename over it (or created).
    Irregular { i: usize, link: bool, renamed: bool },
    /// The periodic rescan.
    Rescan,
    /// The 50 ms tick.
    Tick,
    /// A worker reports the `k`-th file in hand done.
    Finish(usize),
    /// The clock moves on (the watcher's events are delivered first: they
    /// are late by less than `settle`).
    Advance(u16),
    /// The watcher delivers its next `n` events (they may lag behind ticks,
    /// scans and the workers' reports).
    Deliver(usize),
    /// The watcher's queue overflows: its events are lost, and it asks for a rescan.
    Overflow,
}

fn action() -> impl Strategy<Value = Action> {
    let i = 0..NAMES.len();
    prop_oneof![
        2 => i.clone().prop_map(Action::Create),
        3 => (i.clone(), 1..100u8).prop_map(|(i, n)| Action::Write(i, n)),
        2 => i.clone().prop_map(Action::Close),
        1 => i.clone().prop_map(Action::RenameIn),
        1 => i.clone().prop_map(Action::RenameAway),
        1 => i.clone().prop_map(Action::Remove),
        1 => (i, any::<bool>(), any::<bool>()).prop_map(|(i, link, renamed)| Action::Irregular { i, link, renamed }),
        1 => Just(Action::Rescan),
        4 => Just(Action::Tick),
        2 => (0..4usize).prop_map(Action::Finish),
        4 => (0..700u16).prop_map(Action::Advance),
        3 => (1..4usize).prop_map(Action::Deliver),
        1 => Just(Action::Overflow),
    ]
}

/// One version of a file (a new one at each create or rename in).
#[derive(Debug, Clone)]
struct File {
    size: u64,
    /// Last write (its mtime), ms.
    written: u64,
    /// A writer has it open.
    open: bool,
    /// Renamed in complete.
    renamed_in: bool,
    /// A scan (or a worker's report) saw it open since its last write.
    seen_open_at_scan: bool,
}

#[derive(Debug, Clone)]
enum Node {
    File(File),
    Irregular(&'static str),
}

/// The simulated drop folder, clock, workers and the intake under test.
struct Sim {
    intake: Intake,
    start: Instant,
    wall0: SystemTime,
    /// Now, in ms since the start.
    t: u64,
    folder: BTreeMap<String, Node>,
    /// Paths handed to a worker and not reported done, in order.
    in_hand: Vec<PathBuf>,
    /// The watcher's events not yet delivered.
    queue: VecDeque<(String, Change)>,
    settle: u64,
}

fn path(name: &str) -> PathBuf {
    PathBuf::from("/spool/incoming").join(name)
}

fn name(path: &Path) -> String {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

impl Sim {
    fn new() -> Sim {
        Sim {
            intake: Intake::new(Duration::from_millis(SETTLE_MS)),
            start: Instant::now(),
            wall0: SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30),
            t: 0,
            folder: BTreeMap::new(),
            in_hand: Vec::new(),
            queue: VecDeque::new(),
            settle: SETTLE_MS,
        }
    }

    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.t)
    }

    fn wall(&self) -> SystemTime {
        self.wall0 + Duration::from_millis(self.t)
    }

    fn stat(&self, name: &str) -> Stat {
        match self.folder.get(name) {
            None => Stat::Gone,
            Some(Node::Irregular(what)) => Stat::Irregular { what },
            Some(Node::File(f)) => Stat::File { size: f.size, modified: self.wall0 + Duration::from_millis(f.written) },
        }
    }

    /// A scan, or a worker's report, sees a file open.
    fn seen(&mut self, name: &str) {
        if let Some(Node::File(f)) = self.folder.get_mut(name) {
            f.seen_open_at_scan |= f.open;
        }
    }

    fn feed(&mut self, input: Input) -> Result<(), TestCaseError> {
        let decisions = self.intake.step(self.now(), input);
        for d in decisions {
            match d {
                Decision::Dispatch { path, .. } => self.dispatch(path)?,
                Decision::Refuse { path, .. } => {
                    let n = name(&path);
                    prop_assert!(
                        matches!(self.folder.get(&n), Some(Node::Irregular(_))),
                        "refused {n}, which is {:?}",
                        self.folder.get(&n)
                    );
                    // Moved to failed/.
                    self.folder.remove(&n);
                    self.event(&n, Change::RenamedAway)?;
                }
                Decision::Stat { path, .. } => {
                    let stat = self.stat(&name(&path));
                    self.feed(Input::Stat { path, stat })?;
                }
            }
        }
        Ok(())
    }

    /// A worker takes the path at once (claims it: renames it away).
    fn dispatch(&mut self, path: PathBuf) -> Result<(), TestCaseError> {
        let n = name(&path);
        prop_assert!(!self.in_hand.contains(&path), "{n} handed on twice");
        match self.folder.remove(&n) {
            None => {} // gone: the claim finds nothing
            Some(Node::Irregular(what)) => prop_assert!(false, "{n} handed on, but it is {what}"),
            Some(Node::File(f)) => {
                prop_assert!(!f.open || f.seen_open_at_scan, "{n} handed on while open for writing: {f:?}");
                prop_assert!(
                    f.renamed_in || f.written + self.settle <= self.t,
                    "{n} handed on at {} ms, written at {} ms: {f:?}",
                    self.t,
                    f.written
                );
            }
        }
        self.in_hand.push(path);
        self.event(&n, Change::RenamedAway)
    }

    /// The watcher's event, queued.
    fn event(&mut self, name: &str, change: Change) -> Result<(), TestCaseError> {
        self.queue.push_back((name.to_string(), change));
        Ok(())
    }

    /// Delivers `n` events, each with the stat the shell takes when it arrives.
    fn deliver(&mut self, n: usize) -> Result<(), TestCaseError> {
        for _ in 0..n {
            let Some((name, change)) = self.queue.pop_front() else { break };
            let stat = if change.needs_stat() { self.stat(&name) } else { Stat::Gone };
            self.feed(Input::Event { source: 0, path: path(&name), change, stat })?;
        }
        Ok(())
    }

    fn scan(&mut self, events_lost: bool) -> Result<(), TestCaseError> {
        let names: Vec<String> = self.folder.keys().filter(|n| !Intake::ignores(&path(n))).cloned().collect();
        let entries = names.iter().map(|n| (path(n), self.stat(n))).collect();
        for n in &names {
            self.seen(n);
        }
        self.feed(Input::Scan { source: 0, events_lost, wall: self.wall(), entries })
    }

    fn finish(&mut self, k: usize) -> Result<(), TestCaseError> {
        if self.in_hand.is_empty() {
            return Ok(());
        }
        let path = self.in_hand.remove(k % self.in_hand.len());
        let n = name(&path);
        self.seen(&n);
        let stat = self.stat(&n);
        self.feed(Input::Finished { source: 0, path, wall: self.wall(), stat })
    }

    fn new_file(&self, open: bool) -> File {
        File { size: 0, written: self.t, open, renamed_in: !open, seen_open_at_scan: false }
    }

    fn act(&mut self, action: Action) -> Result<(), TestCaseError> {
        let at = |i: usize| NAMES[i % NAMES.len()].to_string();
        if matches!(action, Action::Create(_) | Action::RenameIn(_) | Action::Irregular { .. }) {
            // A name is reused only after the events of its last life are
            // in: an event kind is read together with the stat taken when it
            // arrives, so a rename-in event still queued when a writer
            // creates the name anew would take the new file at once, open
            // or not (the watcher gives no inode to tell them apart).
            self.deliver(usize::MAX)?;
        }
        match action {
            Action::Create(i) => {
                let n = at(i);
                if !self.folder.contains_key(&n) {
                    self.folder.insert(n.clone(), Node::File(self.new_file(true)));
                    self.event(&n, Change::Created)?;
                }
            }
            Action::Write(i, bytes) => {
                let (n, t) = (at(i), self.t);
                if let Some(Node::File(f)) = self.folder.get_mut(&n) {
                    if !f.renamed_in {
                        f.open = true;
                        f.size += u64::from(bytes);
                        f.written = t;
                        f.seen_open_at_scan = false;
                        self.event(&n, Change::Modified)?;
                    }
                }
            }
            Action::Close(i) => {
                let n = at(i);
                if let Some(Node::File(f)) = self.folder.get_mut(&n) {
                    if f.open {
                        f.open = false;
                        self.event(&n, Change::ClosedAfterWrite)?;
                    }
                }
            }
            Action::RenameIn(i) => {
                let n = at(i);
                let mut f = self.new_file(false);
                f.size = 1 + i as u64;
                self.folder.insert(n.clone(), Node::File(f));
                self.event(&n, Change::RenamedIn)?;
            }
            Action::RenameAway(i) | Action::Remove(i) => {
                let n = at(i);
                if self.folder.remove(&n).is_some() {
                    let removed = matches!(action, Action::Remove(_));
                    self.event(&n, if removed { Change::Removed } else { Change::RenamedAway })?;
                }
            }
            Action::Irregular { i, link, renamed } => {
                let n = at(i);
                if renamed || !self.folder.contains_key(&n) {
                    let what = if link { "a symbolic link" } else { "not a regular file (fifo, socket or device)" };
                    self.folder.insert(n.clone(), Node::Irregular(what));
                    self.event(&n, if renamed { Change::RenamedIn } else { Change::Created })?;
                }
            }
            Action::Rescan => self.scan(false)?,
            Action::Tick => self.feed(Input::Tick)?,
            Action::Finish(k) => self.finish(k)?,
            Action::Advance(ms) => {
                self.deliver(usize::MAX)?;
                self.t += u64::from(ms);
            }
            Action::Deliver(n) => self.deliver(n)?,
            Action::Overflow => {
                self.queue.clear();
                self.scan(true)?;
            }
        }
        Ok(())
    }

    /// The writers are done; time passes with rescans, ticks and reports
    /// until the folder is empty.
    fn settle_down(&mut self) -> Result<(), TestCaseError> {
        for i in 0..NAMES.len() {
            self.act(Action::Close(i))?;
        }
        for _ in 0..4 {
            self.deliver(usize::MAX)?;
            self.t += self.settle + 50;
            self.scan(false)?;
            self.feed(Input::Tick)?;
            while !self.in_hand.is_empty() {
                self.finish(0)?;
            }
        }
        self.deliver(usize::MAX)?;
        let left: Vec<&String> = self.folder.keys().filter(|n| !Intake::ignores(&path(n))).collect();
        prop_assert!(left.is_empty(), "never taken: {left:?}");
        prop_assert_eq!(self.intake.backlog(), 0, "left in the backlog");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn intake_model(actions in proptest::collection::vec(action(), 1..120)) {
        let mut sim = Sim::new();
        for a in actions {
            sim.act(a)?;
        }
        sim.settle_down()?;
    }
}
