//! State loss is never silent: a deleted, emptied, truncated or overwritten
//! ledger stops the daemon (exit 2, a message naming the file and the way
//! out) instead of billing re-sent files again, and `state rebuild`
//! recreates it from the spool so a re-send is still a duplicate and the
//! IDS days are what they were.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cdr_rater::ids::CustomerDays;
use cdr_rater::state::{IdsSnapshot, Ledger, RedbLedger};
use common::{repo, wait_for, Running};

/// "Now" of every run: the calls below are on 2026-11-23 and 24.
const NOW: &str = "2026-11-24T20:00:00Z";
const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";

struct Spool {
    dir: tempfile::TempDir,
    port: u16,
}

impl Spool {
    fn new() -> Spool {
        let dir = tempfile::tempdir().unwrap();
        let cp = Command::new("cp").arg("-r").arg(repo().join("rates")).arg(dir.path()).status().unwrap();
        assert!(cp.success());
        let port = common::free_port();
        fs::write(
            dir.path().join("cdr-rater.toml"),
            format!("settle_ms = 200\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
        )
        .unwrap();
        for d in ["spool/incoming", "staging"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Spool { dir, port }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        common::cdr_rater_at(self.dir.path(), NOW, args)
    }

    fn start(&self) -> Running {
        let log = fs::File::create(self.path("daemon.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
            .current_dir(self.dir.path())
            .env("CDR_RATER_NOW", NOW)
            .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let running = Running(child);
        wait_for("metrics listener", Duration::from_secs(20), || common::scrape(self.port).is_some());
        running
    }

    fn stop(&self, mut daemon: Running) {
        let pid = daemon.0.id().to_string();
        assert!(Command::new("kill").args(["-s", "TERM", &pid]).status().unwrap().success());
        let status = daemon.0.wait().unwrap();
        assert_eq!(status.code(), Some(0), "daemon log:\n{}", fs::read_to_string(self.path("daemon.log")).unwrap());
    }

    fn drop_file(&self, name: &str, content: &str) {
        fs::write(self.path("staging").join(name), content).unwrap();
        fs::rename(self.path("staging").join(name), self.path("spool/incoming").join(name)).unwrap();
    }

    fn archived(&self) -> usize {
        fs::read_dir(self.path("spool/archive")).map_or(0, |d| d.count())
    }

    fn metric(&self, line_start: &str) -> f64 {
        let text = common::scrape(self.port).unwrap_or_default();
        let line = text.lines().find(|l| l.starts_with(line_start));
        line.and_then(|l| l.split_whitespace().last()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    }
}

/// The ledger's records (key -> name, stem, counts) and IDS days.
type State = (BTreeMap<String, (String, String, [u64; 4])>, BTreeMap<String, CustomerDays>);

fn state_of(ledger: &Path) -> State {
    let l = RedbLedger::open(ledger).unwrap();
    let records = l.all().unwrap().into_iter().map(|(k, r)| (k.to_string(), (r.name, r.stem, r.counts))).collect();
    (records, l.all_customer_days().unwrap().into_iter().collect())
}

/// Calls of several customers and zones, abroad, internal, flagged in the
/// future, and one that raises an alert (C0006 has an IDS range of 0).
fn traffic(tag: &str) -> String {
    let rows = [
        ("2026-11-24 09:15:00", "C0001", "0612345678", "125"),
        ("2026-11-24 10:00:00", "C0001", "00441632960123", "600"),
        ("2026-11-23 23:30:00", "C0007", "0201234567", "61"),
        ("2026-11-24 00:30:00", "C0008", "0033140000000", "300"),
        ("2026-11-24 11:00:00", "C0002", "2001", "90"),
        ("2026-11-24 12:00:00", "C0006", "0031201234567", "3600"),
        ("2026-11-27 08:00:00", "C0003", "0612345678", "45"),
        ("2026-11-24 13:00:00", "C9999", "0612345678", "45"),
    ];
    let mut s = String::from(HEADER);
    for (i, (at, customer, callee, secs)) in rows.iter().enumerate() {
        s.push_str(&format!("{tag}-{i},{at},{customer},0201234501,{callee},{secs}\n"));
    }
    s
}

fn assert_refused(spool: &Spool, what: &str) {
    let out = spool.cli(&["run", "--allow-root", "--config", "cdr-rater.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(stderr.contains("ledger.redb") && stderr.contains("state rebuild"), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

fn rebuild(spool: &Spool, args: &[&str]) -> String {
    let mut all = vec!["state", "rebuild", "--config", "cdr-rater.toml"];
    all.extend_from_slice(args);
    let out = spool.cli(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "state rebuild {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_lost_or_damaged_ledger_stops_the_daemon_and_rebuild_restores_it() {
    let spool = Spool::new();
    let daemon = spool.start();
    spool.drop_file("a.csv", &traffic("a"));
    wait_for("a.csv archived", Duration::from_secs(20), || spool.archived() == 1);
    spool.drop_file("b.csv", &traffic("b"));
    wait_for("b.csv archived", Duration::from_secs(20), || spool.archived() == 2);
    // The name reused with new content (stem a.2), and a re-send of b.csv.
    spool.drop_file("a.csv", &traffic("a2"));
    wait_for("a.csv.2 archived", Duration::from_secs(20), || spool.archived() == 3);
    spool.drop_file("b.csv", &traffic("b"));
    wait_for("b.csv.2 archived", Duration::from_secs(20), || spool.archived() == 4);
    spool.stop(daemon);
    let ledger = spool.path("state/ledger.redb");
    let before = state_of(&ledger);
    assert_eq!(before.0.len(), 3, "{:?}", before.0);
    assert!(before.1.len() >= 5, "IDS customers: {:?}", before.1.keys());
    let alerts = fs::read_to_string(spool.path("spool/alerts.jsonl")).unwrap();
    assert!(alerts.contains("\"customer_id\":\"C0006\""), "{alerts}");
    let good = fs::read(&ledger).unwrap();

    // A ledger with records is not replaced without --force.
    let out = spool.cli(&["state", "rebuild", "--config", "cdr-rater.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));

    let half = good[..good.len() / 2].to_vec();
    let garbage: Vec<u8> = (0..good.len()).map(|i| (i * 131 % 251) as u8).collect();
    let damages: [(&str, Option<Vec<u8>>); 4] =
        [("deleted", None), ("emptied", Some(Vec::new())), ("half-truncated", Some(half)), ("garbage", Some(garbage))];
    for (what, content) in damages {
        fs::write(&ledger, &good).unwrap();
        match content {
            None => fs::remove_file(&ledger).unwrap(),
            Some(c) => fs::write(&ledger, c).unwrap(),
        }
        assert_refused(&spool, what);
        // `rate --ids` is refused the same way, and nothing is rated.
        let out = spool.cli(&["rate", "--ids", "--config", "cdr-rater.toml", "spool/archive/a.csv"]);
        assert_eq!(out.status.code(), Some(2), "{what}: rate --ids: {}", String::from_utf8_lossy(&out.stderr));
        let summary = rebuild(&spool, &[]);
        assert!(summary.contains("inputs recorded: 3"), "{what}: {summary}");
        assert!(summary.contains("1 re-sent"), "{what}: {summary}");
        let damaged = matches!(what, "half-truncated" | "garbage");
        assert_eq!(summary.contains("moved the old ledger"), damaged || what == "emptied", "{what}: {summary}");
        let after = state_of(&ledger);
        assert_eq!(after.0, before.0, "{what}: records");
        assert_eq!(after.1, before.1, "{what}: IDS days");
        let snapshot: IdsSnapshot = serde_json::from_slice(&fs::read(spool.path("state/ids.json")).unwrap()).unwrap();
        assert_eq!(snapshot.customers, before.1, "{what}: ids.json");
    }
    // --force moves a good ledger aside and rebuilds the same state.
    let summary = rebuild(&spool, &["--force"]);
    assert!(summary.contains("moved the old ledger"), "{summary}");
    assert_eq!(state_of(&ledger), before);
    let aside = fs::read_dir(spool.path("state"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("ledger.redb.broken-"))
        .count();
    assert_eq!(aside, 4, "emptied, half, garbage and the forced one are kept aside");

    // After the restart a re-send is a duplicate, and a reused name gets a free stem.
    let daemon = spool.start();
    let out = spool.cli(&["state", "rebuild", "--config", "cdr-rater.toml", "--force"]);
    assert_eq!(out.status.code(), Some(2), "a held ledger is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"), "{}", String::from_utf8_lossy(&out.stderr));
    spool.drop_file("again.csv", &traffic("a"));
    wait_for("again.csv archived", Duration::from_secs(20), || spool.archived() == 5);
    assert!(!spool.path("spool/rated/again.rated.csv").exists());
    // Counted just after the archive: the count may trail the file by a moment.
    wait_for("the duplicate counted", Duration::from_secs(5), || {
        spool.metric("cdr_rater_files_total{result=\"duplicate\"") == 1.0
    });
    spool.drop_file("a.csv", &traffic("a3"));
    wait_for("a.csv.3 archived", Duration::from_secs(20), || spool.archived() == 6);
    assert!(spool.path("spool/rated/a.3.rated.csv").exists());
    spool.stop(daemon);
    assert_eq!(state_of(&ledger).0.len(), 4);
}

#[test]
fn a_fresh_spool_without_a_ledger_starts() {
    let spool = Spool::new();
    let daemon = spool.start();
    spool.drop_file("a.csv", &traffic("a"));
    wait_for("a.csv archived", Duration::from_secs(20), || spool.archived() == 1);
    assert!(spool.path("spool/rated/a.rated.csv").exists());
    spool.stop(daemon);
}
