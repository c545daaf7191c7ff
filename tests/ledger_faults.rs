//! The ledger survives a full disk: redb poisons its database after an I/O
//! error, so `RedbLedger` reopens it on the next call, and once there is
//! room again commits succeed on the same object, without a restart.
//!
//! Needs a small file system to fill: a tmpfs, mounted here (root only).
//! Not root: a failure in CI (`CI` set), elsewhere a skip with a note.

mod common;

use cdr_rater::ids::{CustomerDays, DayState};
use cdr_rater::state::{ContentKey, Ledger, Phase, RedbLedger};
use common::tmpfs::Tmpfs;

/// IDS days big enough that each commit needs new pages.
fn days(i: u32) -> Vec<(String, CustomerDays)> {
    let mut d = CustomerDays { first_day: Some(0), ..Default::default() };
    for day in 0..200 {
        d.days.insert(day, DayState { units: i64::from(i) * 1000 + day, calls: 1, ..Default::default() });
    }
    vec![(format!("C{i:04}"), d)]
}

#[test]
fn a_full_disk_fails_commits_and_the_ledger_recovers_when_space_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = Tmpfs::mount(dir.path(), "4m") else { return };
    let path = dir.path().join("ledger.redb");
    let ledger = RedbLedger::open(&path).unwrap();
    let commit = |i: u32| -> Result<(), cdr_rater::state::StateError> {
        let key = ContentKey::of(&i.to_be_bytes());
        let r = ledger.begin(&key, &format!("f{i}.csv"), &format!("1-f{i}.csv"), &format!("f{i}"), &|_| true)?;
        ledger.finish(&key, &r, days(i))
    };
    for i in 0..5 {
        commit(i).unwrap();
    }
    let filler = mount.fill();
    // Commits fail while the disk is full (the first that needs new pages).
    let mut failed = None;
    for i in 5..200 {
        if let Err(e) = commit(i) {
            failed = Some((i, e.to_string()));
            break;
        }
    }
    let (first_failed, error) = failed.expect("no commit failed on a full file system");
    assert!(error.contains("ledger.redb"), "{error}");
    // Still full: the next call fails too (and does not panic).
    assert!(commit(first_failed + 1).is_err(), "a commit succeeded on a full disk");
    std::fs::remove_file(&filler).unwrap();
    // Room again: the same object commits, without a restart.
    let next = first_failed + 2;
    commit(next).unwrap_or_else(|e| panic!("no recovery after the disk had room again: {e}"));
    commit(next + 1).unwrap();
    let key = ContentKey::of(&next.to_be_bytes());
    assert_eq!(ledger.get(&key).unwrap().unwrap().phase, Phase::Done);
    assert_eq!(ledger.customer_days(&format!("C{next:04}")).unwrap(), days(next)[0].1);
    drop(ledger);
    // And what was committed is there after reopening the file.
    let ledger = RedbLedger::open(&path).unwrap();
    for i in (0..first_failed).chain([next, next + 1]) {
        let r = ledger.get(&ContentKey::of(&i.to_be_bytes())).unwrap();
        assert_eq!(r.map(|r| r.phase), Some(Phase::Done), "file {i}");
        assert_eq!(ledger.customer_days(&format!("C{i:04}")).unwrap(), days(i)[0].1, "IDS of file {i}");
    }
    // A failed file is in progress at most: never done without its IDS.
    for i in [first_failed, first_failed + 1] {
        if let Some(r) = ledger.get(&ContentKey::of(&i.to_be_bytes())).unwrap() {
            let ids = ledger.customer_days(&format!("C{i:04}")).unwrap();
            assert!(r.phase == Phase::InProgress || ids == days(i)[0].1, "file {i}: done without its IDS");
        }
    }
}
