//! A full disk under the spool, the ledger or the alert log, driven against
//! a real `cdr-rater run`: files wait (visibly, in the metrics) and are
//! retried; once space is back every file is rated exactly once and every
//! alert logged once, without a restart.
//!
//! Each test mounts a small tmpfs, which needs root (CI runs as root). Not
//! root: a failure under CI, a skip with a note elsewhere.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::daemon::Daemon;
use common::tmpfs::Tmpfs;
use common::wait_for;

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";

/// `rows` answered calls of C0001, ids `PREFIX-N`.
fn calls(prefix: &str, rows: usize) -> String {
    let mut s = String::from(HEADER);
    for i in 0..rows {
        s.push_str(&format!("{prefix}-{i},2026-11-24T10:00:00+01:00,C0001,0201234501,0612345678,61,ANSWERED\n"));
    }
    s
}

fn assert_each_once(d: &Daemon, prefixes: &[String], rows: usize) {
    let [rated, unrated, rejected] = d.output_ids();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for id in rated.into_iter().chain(unrated).chain(rejected) {
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), prefixes.len() * rows, "rows lost or foreign rows");
    for p in prefixes {
        for i in 0..rows {
            assert_eq!(seen.get(&format!("{p}-{i}")), Some(&1), "{p}-{i}");
        }
    }
}

/// Waits until the daemon shows files stuck on an error, then frees the
/// space and waits until `n` files are archived and nothing waits.
fn recover(d: &Daemon, filler: &Path, n: usize) {
    let started = std::time::Instant::now();
    while !(d.metric("cdr_rater_files_waiting_on_error") >= 1.0 && d.metric("cdr_rater_backlog_files") >= 1.0) {
        assert!(started.elapsed() < Duration::from_secs(30), "no file waits on an error; log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(d.files_in("spool/failed").is_empty(), "a file went to failed/ for a full disk");
    fs::remove_file(filler).unwrap();
    wait_for("every file after space came back", Duration::from_secs(90), || d.files_in("spool/archive").len() == n);
    wait_for("nothing waiting", Duration::from_secs(10), || {
        d.metric("cdr_rater_files_waiting_on_error") == 0.0 && d.metric("cdr_rater_backlog_files") == 0.0
    });
    assert!(d.log().contains("will retry"), "the error was not logged");
}

#[test]
fn a_full_spool_holds_files_until_space_returns_then_rates_each_once() {
    let mount = tempfile::tempdir().unwrap();
    let Some(fs_) = Tmpfs::mount(mount.path(), "4m") else { return };
    let mut d = Daemon::new();
    // The daemon's spool/ is on the small file system.
    let spool = mount.path().join("spool");
    fs::create_dir_all(spool.join("incoming")).unwrap();
    fs::remove_dir_all(d.path("spool")).unwrap();
    std::os::unix::fs::symlink(&spool, d.path("spool")).unwrap();
    d.start();
    let staging = mount.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    let prefixes: Vec<String> = (0..4).map(|i| format!("S{i}")).collect();
    for p in &prefixes {
        fs::write(staging.join(format!("{p}.csv")), calls(p, 3000)).unwrap();
    }
    let filler = fs_.fill();
    for p in &prefixes {
        fs::rename(staging.join(format!("{p}.csv")), spool.join(format!("incoming/{p}.csv"))).unwrap();
    }
    recover(&d, &filler, prefixes.len());
    assert_each_once(&d, &prefixes, 3000);
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn a_full_ledger_disk_holds_files_until_space_returns_then_rates_each_once() {
    let mount = tempfile::tempdir().unwrap();
    let Some(fs_) = Tmpfs::mount(mount.path(), "2m") else { return };
    let mut d = Daemon::new();
    // The daemon's state/ (the ledger) is on the small file system.
    fs::create_dir_all(mount.path().join("state")).unwrap();
    std::os::unix::fs::symlink(mount.path().join("state"), d.path("state")).unwrap();
    d.start();
    let filler = fs_.fill();
    let prefixes: Vec<String> = (0..30).map(|i| format!("L{i}")).collect();
    for p in &prefixes {
        d.drop_file(&format!("{p}.csv"), &calls(p, 50));
    }
    recover(&d, &filler, prefixes.len());
    assert_each_once(&d, &prefixes, 50);
    assert_eq!(d.stop().0, Some(0));
}

/// Files that raise IDS alerts: ten one-hour calls of one customer each
/// (customers with no history and an IDS range: each file's alerts do not
/// depend on the order the files are rated in).
fn alerting_files(d: &Daemon, customers: &[&str]) {
    for c in customers {
        let mut content = String::from(HEADER);
        for i in 0..10 {
            content.push_str(&format!("{c}-{i},2026-11-24T1{i}:00:00+01:00,{c},0201234501,0612345678,3600,ANSWERED\n"));
        }
        d.drop_file(&format!("{c}.csv"), &content);
    }
}

fn alert_ids(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "the alert log ends in a torn line");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}"));
            v["alert_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_full_alert_log_disk_holds_files_until_space_returns_then_logs_each_alert_once() {
    let days = ["C0001", "C0002", "C0003", "C0009", "C0010"];
    // The same files on a daemon with room: the alerts to expect.
    let mut control = Daemon::new();
    control.start();
    alerting_files(&control, &days);
    wait_for("control files", Duration::from_secs(30), || control.files_in("spool/archive").len() == days.len());
    let expected = alert_ids(&control.path("spool/alerts.jsonl"));
    assert!(expected.len() > days.len(), "{expected:?}");
    assert_eq!(control.stop().0, Some(0));

    let mount = tempfile::tempdir().unwrap();
    let Some(fs_) = Tmpfs::mount(mount.path(), "64k") else { return };
    let alerts = mount.path().join("alerts.jsonl");
    let mut d = Daemon::with_config(&format!("alerts = \"{}\"", alerts.display()));
    d.start();
    let filler = fs_.fill();
    alerting_files(&d, &days);
    recover(&d, &filler, days.len());
    let logged = alert_ids(&alerts);
    let unique: HashSet<&String> = logged.iter().collect();
    assert_eq!(unique.len(), logged.len(), "an alert logged twice: {logged:?}");
    assert_eq!(unique, expected.iter().collect::<HashSet<_>>());
    // Each reached the hook at least once.
    wait_for("the hook", Duration::from_secs(20), || {
        let hooked = fs::read_to_string(d.path("hook.out")).unwrap_or_default();
        expected.iter().all(|id| hooked.contains(&format!("\"alert_id\":\"{id}\"")))
    });
    assert_eq!(d.metric_sum("cdr_rater_ids_alerts_total"), expected.len() as f64);
    assert_eq!(d.stop().0, Some(0));
}
