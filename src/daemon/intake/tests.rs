//! Specific sequences through the [`Intake`], on a made-up clock.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind, RenameMode};
use notify::EventKind;

use super::shell::change;
use super::{Change, Decision, Input, Intake, Stat};

const SETTLE: Duration = Duration::from_millis(500);

struct T {
    intake: Intake,
    start: Instant,
    now: Instant,
    wall0: SystemTime,
}

impl T {
    fn new() -> T {
        let start = Instant::now();
        T {
            intake: Intake::new(SETTLE),
            start,
            now: start,
            wall0: SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30),
        }
    }
    fn wall(&self) -> SystemTime {
        self.wall0 + (self.now - self.start)
    }
    fn at(&mut self, ms: u64) {
        self.now = self.start + Duration::from_millis(ms);
    }
    fn file(&self, size: u64, written_ms: u64) -> Stat {
        Stat::File { size, modified: self.wall0 + Duration::from_millis(written_ms) }
    }
    fn event(&mut self, name: &str, change: Change, stat: Stat) -> Vec<Decision> {
        self.intake.step(self.now, Input::Event { source: 0, path: path(name), change, stat })
    }
    fn scan(&mut self, entries: Vec<(&str, Stat)>) -> Vec<Decision> {
        self.scan_after(false, entries)
    }
    fn scan_after(&mut self, events_lost: bool, entries: Vec<(&str, Stat)>) -> Vec<Decision> {
        let entries = entries.into_iter().map(|(n, s)| (path(n), s)).collect();
        self.intake.step(self.now, Input::Scan { source: 0, events_lost, wall: self.wall(), entries })
    }
    /// A tick, answering every stat asked with `stat`.
    fn tick(&mut self, stat: Stat) -> Vec<Decision> {
        let mut out = Vec::new();
        for d in self.intake.step(self.now, Input::Tick) {
            match d {
                Decision::Stat { path, .. } => out.extend(self.intake.step(self.now, Input::Stat { path, stat })),
                d => out.push(d),
            }
        }
        out
    }
    fn finished(&mut self, name: &str, stat: Stat) -> Vec<Decision> {
        let wall = self.wall();
        self.intake.step(self.now, Input::Finished { source: 0, path: path(name), wall, stat })
    }
}

fn path(name: &str) -> PathBuf {
    PathBuf::from("/spool/incoming").join(name)
}

fn dispatch(name: &str) -> Vec<Decision> {
    vec![Decision::Dispatch { source: 0, path: path(name) }]
}

#[test]
fn renamed_in_is_taken_at_once_and_only_once() {
    let mut t = T::new();
    let f = t.file(10, 0);
    assert_eq!(t.event("a.csv", Change::RenamedIn, f), dispatch("a.csv"));
    assert_eq!(t.event("a.csv", Change::RenamedIn, f), vec![]);
    t.at(10_000);
    assert_eq!(t.tick(f), vec![]);
    assert_eq!(t.scan(vec![("a.csv", f)]), vec![]);
    assert_eq!(t.tick(f), vec![]);
    assert_eq!(t.intake.backlog(), 1);
    assert_eq!(t.finished("a.csv", Stat::Gone), vec![]);
    assert_eq!(t.intake.backlog(), 0);
}

#[test]
fn written_in_place_waits_for_close_then_settle() {
    let mut t = T::new();
    assert_eq!(t.event("a.csv", Change::Created, t.file(0, 0)), vec![]);
    t.at(100);
    assert_eq!(t.event("a.csv", Change::Modified, t.file(5, 100)), vec![]);
    // Open for writing, paused far longer than settle: never taken.
    t.at(60_000);
    assert_eq!(t.tick(t.file(5, 100)), vec![]);
    assert_eq!(t.scan(vec![("a.csv", t.file(5, 100))]), vec![]);
    assert_eq!(t.tick(t.file(5, 100)), vec![]);
    assert_eq!(t.event("a.csv", Change::ClosedAfterWrite, t.file(5, 100)), vec![]);
    t.at(60_499);
    assert_eq!(t.tick(t.file(5, 100)), vec![]);
    t.at(60_500);
    assert_eq!(t.tick(t.file(5, 100)), dispatch("a.csv"));
    assert_eq!(t.tick(t.file(5, 100)), vec![]);
}

#[test]
fn a_change_seen_at_the_last_look_restarts_settling() {
    let mut t = T::new();
    t.event("a.csv", Change::Created, t.file(0, 0));
    t.event("a.csv", Change::ClosedAfterWrite, t.file(5, 0));
    t.at(500);
    // Appended to without an event reaching us: it settles again.
    assert_eq!(t.tick(t.file(9, 450)), vec![]);
    t.at(999);
    assert_eq!(t.tick(t.file(9, 450)), vec![]);
    t.at(1000);
    assert_eq!(t.tick(t.file(9, 450)), dispatch("a.csv"));
}

#[test]
fn a_write_after_close_reopens_settling() {
    let mut t = T::new();
    t.event("a.csv", Change::ClosedAfterWrite, t.file(5, 0));
    t.at(400);
    t.event("a.csv", Change::Modified, t.file(6, 400));
    t.at(2000);
    assert_eq!(t.tick(t.file(6, 400)), vec![]);
    t.event("a.csv", Change::ClosedAfterWrite, t.file(6, 400));
    t.at(2500);
    assert_eq!(t.tick(t.file(6, 400)), dispatch("a.csv"));
}

#[test]
fn a_scanned_file_counts_as_closed_and_its_age_counts() {
    let mut t = T::new();
    t.at(10_000);
    // Written 300 ms ago: 200 ms to go.
    assert_eq!(t.scan(vec![("a.csv", t.file(5, 9_700)), ("old.csv", t.file(5, 0))]), vec![]);
    assert_eq!(t.tick(t.file(5, 0)), dispatch("old.csv"));
    t.at(10_199);
    assert_eq!(t.tick(t.file(5, 9_700)), vec![]);
    t.at(10_200);
    assert_eq!(t.tick(t.file(5, 9_700)), dispatch("a.csv"));
}

#[test]
fn after_lost_events_a_rescan_takes_files_as_they_are() {
    let mut t = T::new();
    t.event("a.csv", Change::Created, t.file(0, 0));
    t.event("gone.csv", Change::Created, t.file(0, 0));
    t.event("busy.csv", Change::RenamedIn, t.file(3, 0));
    // The close of a.csv and the removal of gone.csv were lost in an overflow.
    t.at(1000);
    assert_eq!(t.scan(vec![("a.csv", t.file(5, 100))]), vec![]);
    assert_eq!(t.tick(t.file(5, 100)), vec![], "a periodic rescan leaves what events told");
    assert_eq!(t.intake.backlog(), 3);
    assert_eq!(t.scan_after(true, vec![("a.csv", t.file(5, 100))]), vec![]);
    assert_eq!(t.intake.backlog(), 2, "gone.csv forgotten, busy.csv still the worker's");
    assert_eq!(t.tick(t.file(5, 100)), dispatch("a.csv"));
}

#[test]
fn irregular_entries_are_refused_never_dispatched() {
    let mut t = T::new();
    let link = Stat::Irregular { what: "a symbolic link" };
    let refused = |name: &str| vec![Decision::Refuse { source: 0, path: path(name), what: "a symbolic link" }];
    assert_eq!(t.event("l.csv", Change::RenamedIn, link), refused("l.csv"));
    assert_eq!(t.scan(vec![("m.csv", link)]), refused("m.csv"));
    // A settling file replaced by a link: refused and forgotten.
    t.event("a.csv", Change::ClosedAfterWrite, t.file(5, 0));
    assert_eq!(t.event("a.csv", Change::RenamedIn, link), refused("a.csv"));
    assert_eq!(t.intake.backlog(), 0);
    // Replaced without an event reaching us: refused at the last look.
    t.event("b.csv", Change::ClosedAfterWrite, t.file(5, 0));
    t.at(1000);
    assert_eq!(t.tick(link), refused("b.csv"));
    assert_eq!(t.intake.backlog(), 0);
}

#[test]
fn removed_or_renamed_away_is_forgotten_unless_a_worker_has_it() {
    let mut t = T::new();
    t.event("a.csv", Change::Created, t.file(0, 0));
    t.event("a.csv", Change::Removed, Stat::Gone);
    assert_eq!(t.intake.backlog(), 0);
    t.event("b.csv", Change::Created, t.file(0, 0));
    t.event("b.csv", Change::Modified, Stat::Gone);
    assert_eq!(t.intake.backlog(), 0);
    t.event("c.csv", Change::RenamedIn, t.file(1, 0));
    // The worker's claim renames it away: still the worker's.
    t.event("c.csv", Change::RenamedAway, Stat::Gone);
    assert_eq!(t.intake.backlog(), 1);
    t.finished("c.csv", Stat::Gone);
    assert_eq!(t.intake.backlog(), 0);
}

#[test]
fn a_name_reused_while_a_worker_had_it_is_tracked_when_it_is_done() {
    let mut t = T::new();
    assert_eq!(t.event("Master.csv", Change::RenamedIn, t.file(5, 0)), dispatch("Master.csv"));
    // The next day's file is written while the worker has the old one: ignored for now.
    t.at(100);
    assert_eq!(t.event("Master.csv", Change::Created, t.file(0, 100)), vec![]);
    assert_eq!(t.event("Master.csv", Change::ClosedAfterWrite, t.file(7, 150)), vec![]);
    t.at(200);
    assert_eq!(t.finished("Master.csv", t.file(7, 150)), vec![]);
    t.at(649);
    assert_eq!(t.tick(t.file(7, 150)), vec![]);
    t.at(650);
    assert_eq!(t.tick(t.file(7, 150)), dispatch("Master.csv"));
}

#[test]
fn a_file_gone_at_the_last_look_goes_to_the_worker() {
    let mut t = T::new();
    t.event("a.csv", Change::ClosedAfterWrite, t.file(5, 0));
    t.at(500);
    assert_eq!(t.tick(Stat::Gone), dispatch("a.csv"));
}

#[test]
fn ignored_names_are_ignored() {
    let mut t = T::new();
    for name in [".hidden", "a.csv.tmp", "a.csv.part"] {
        assert_eq!(t.event(name, Change::RenamedIn, t.file(5, 0)), vec![]);
        assert!(Intake::ignores(&path(name)));
    }
    assert!(!Intake::ignores(&path("a.csv")));
    assert_eq!(t.intake.backlog(), 0);
}

#[test]
fn watcher_events_map_to_changes() {
    let cases = [
        (EventKind::Create(CreateKind::File), Change::Created),
        (EventKind::Create(CreateKind::Any), Change::Created),
        (EventKind::Create(CreateKind::Folder), Change::Other),
        (EventKind::Modify(ModifyKind::Data(DataChange::Any)), Change::Modified),
        (EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)), Change::Modified),
        (EventKind::Modify(ModifyKind::Name(RenameMode::Any)), Change::Modified),
        (EventKind::Modify(ModifyKind::Name(RenameMode::To)), Change::RenamedIn),
        (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), Change::RenamedIn),
        (EventKind::Modify(ModifyKind::Name(RenameMode::From)), Change::RenamedAway),
        (EventKind::Remove(RemoveKind::File), Change::Removed),
        (EventKind::Access(AccessKind::Close(AccessMode::Write)), Change::ClosedAfterWrite),
        (EventKind::Access(AccessKind::Close(AccessMode::Read)), Change::Other),
        (EventKind::Access(AccessKind::Open(AccessMode::Any)), Change::Other),
    ];
    for (kind, want) in cases {
        assert_eq!(change(&kind), want, "{kind:?}");
    }
}
