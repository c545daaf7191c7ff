//! `cdr-rater rerate` (SPEC §12.1) end to end, on the real binary: re-rating
//! with changed tables gives the month totals, IDS spend and outputs of a
//! fresh rating with those tables, with the daemon stopped or running; a
//! dry run changes nothing; superseded outputs are kept; no alert is raised
//! for a past day; and a kill -9 loop leaves exactly what an uninterrupted
//! run leaves.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdr_rater::billing::Month;
use common::daemon::Daemon;
use common::{cdr_rater_at, repo, wait_for};

/// "Now" of the re-ratings: days after the calls (2026-11-24).
const LATER: &str = "2026-11-27T09:00:00Z";

/// The second input: the sample with other call ids, and C0003's calls
/// under C0011, a customer the first tables do not know (unrated).
fn second_file() -> String {
    fs::read_to_string(repo().join("samples/generic.csv")).unwrap().replace("g-", "h-").replace("C0003", "C0011")
}

/// The changed tables: two customers on other plans, C0011 added.
fn change_tables(root: &Path) {
    let path = root.join("rates/customers.csv");
    let text = fs::read_to_string(&path).unwrap();
    let text = text
        .replace("korenaar.example.nl,standard,", "korenaar.example.nl,budget,")
        .replace("hoogland-logistiek.example.nl,business,", "hoogland-logistiek.example.nl,standard,");
    fs::write(&path, format!("{text}C0011,Nieuwe Klant B.V.,info@nieuw.example.nl,business,20.00,,,,,\n")).unwrap();
}

/// A daemon folder that rated `files` (name, content) and stopped.
fn rated(files: &[(&str, String)], changed: bool) -> Daemon {
    let mut d = Daemon::new();
    if changed {
        change_tables(d.root.path());
    }
    d.start();
    for (name, content) in files {
        d.drop_file(name, content);
    }
    wait_for("files archived", Duration::from_secs(30), || d.files_in("spool/archive").len() == files.len());
    d.stop();
    d
}

fn sample_files() -> Vec<(&'static str, String)> {
    vec![("a.csv", fs::read_to_string(repo().join("samples/generic.csv")).unwrap()), ("b.csv", second_file())]
}

/// What the store holds: November's usage rows and every customer's IDS
/// days as (day, units, calls).
type Store = (Vec<String>, BTreeMap<String, Vec<(i64, i64, u64)>>);

/// (Of a stopped daemon; its database under `CDR_RATER_TEST_STORE=postgres`.)
fn store(d: &Daemon) -> Store {
    let ledger = d.ledger();
    let usage = ledger
        .usage(Month::parse("2026-11").unwrap())
        .unwrap()
        .into_iter()
        .map(|(k, s)| format!("{k:?} {} {} {} {}", s.calls, s.billed_s, s.sell.normalize(), s.buy.normalize()))
        .collect();
    let ids = ledger
        .all_customer_days()
        .unwrap()
        .into_iter()
        .map(|(c, d)| (c, d.days.iter().map(|(day, s)| (*day, s.units, s.calls)).collect()))
        .collect();
    (usage, ids)
}

/// Every file under `spool/rated|unrated|rejected`, by relative path.
fn outputs(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for kind in ["rated", "unrated", "rejected"] {
        let dir = root.join("spool").join(kind);
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                out.insert(format!("{kind}/{}", e.file_name().to_string_lossy()), fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn rerate(root: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["rerate", "--config", "cdr-rater.toml"];
    all.extend_from_slice(args);
    let out = cdr_rater_at(root, LATER, &all);
    assert!(out.status.success(), "rerate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn alert_lines(root: &Path) -> usize {
    fs::read_to_string(root.join("spool/alerts.jsonl")).unwrap_or_default().lines().count()
}

#[test]
fn rerating_equals_a_fresh_rating_daemon_stopped_or_running() {
    let files = sample_files();
    let fresh = rated(&files, true);
    let stopped = rated(&files, false);
    let before = store(&stopped);
    let outputs_before = outputs(stopped.root.path());
    let unrated = String::from_utf8(outputs_before["unrated/b.unrated.csv"].clone()).unwrap();
    assert!(unrated.contains("unknown_customer"), "{unrated}");
    change_tables(stopped.root.path());
    let alerts_before = alert_lines(stopped.root.path());

    // A dry run reports and changes nothing.
    let dry = rerate(stopped.root.path(), &["--month", "2026-11", "--dry-run"]);
    let text = String::from_utf8_lossy(&dry.stderr);
    assert!(text.contains("dry run") && text.contains("C0011"), "{text}");
    assert_eq!(store(&stopped), before);
    assert_eq!(outputs(stopped.root.path()), outputs_before);
    assert!(!stopped.path("spool/superseded").exists() && !stopped.path("billing").exists());

    // Re-rated with the daemon stopped.
    let out = rerate(stopped.root.path(), &["--month", "2026-11"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("2 file(s) re-rated"), "{text}");
    let fresh_store = store(&fresh);
    assert_eq!(store(&stopped), fresh_store);
    assert_eq!(outputs(stopped.root.path()), outputs(fresh.root.path()));
    assert_ne!(store(&stopped), before, "the changed tables changed the totals");
    // The superseded outputs are kept, under names that never collide.
    assert_eq!(
        fs::read(stopped.path("spool/superseded/rated/a.r1.rated.csv")).unwrap(),
        outputs_before["rated/a.rated.csv"]
    );
    assert_eq!(fs::read_to_string(stopped.path("spool/superseded/unrated/b.r1.unrated.csv")).unwrap(), unrated);
    // No alert for a past day.
    assert_eq!(alert_lines(stopped.root.path()), alerts_before);
    // The report per customer.
    let csv: Vec<PathBuf> = fs::read_dir(stopped.path("billing")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(csv.len(), 1, "{csv:?}");
    let report = fs::read_to_string(&csv[0]).unwrap();
    assert!(report.starts_with("customer_id,currency,old_calls,new_calls,old_sell,new_sell,difference\n"), "{report}");
    assert!(report.contains("\nC0011,EUR,0,4,0.0000,"), "{report}");

    // Again with the same tables: nothing moves, a second generation is kept.
    rerate(stopped.root.path(), &["--file", "a.csv", "--customer", "C0001"]);
    assert_eq!(store(&stopped), fresh_store);
    assert!(stopped.path("spool/superseded/rated/a.r2.rated.csv").exists());
    assert!(!stopped.path("spool/superseded/rated/b.r2.rated.csv").exists(), "--file a.csv only");
    // --customer: only the files with calls of C0011 (b.csv) are re-rated.
    let out = rerate(stopped.root.path(), &["--month", "2026-11", "--customer", "C0011"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 file(s) re-rated, 1 without calls of --customer"));
    assert!(stopped.path("spool/superseded/rated/b.r2.rated.csv").exists());
    assert!(!stopped.path("spool/superseded/rated/a.r3.rated.csv").exists());
    assert_eq!(store(&stopped), fresh_store);

    // A lost store keeps its month totals: `state rebuild` sums them again
    // (the embedded store's file; a database is PostgreSQL's to keep).
    if !common::pg::on_postgres() {
        fs::remove_file(stopped.path("state/ledger.redb")).unwrap();
        let out = cdr_rater_at(stopped.root.path(), LATER, &["state", "rebuild", "--config", "cdr-rater.toml"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(store(&stopped).0, fresh_store.0);
    }

    // Re-rated through a running daemon: the same.
    let mut running = rated(&files, false);
    change_tables(running.root.path());
    running.start_at(LATER);
    let out = rerate(running.root.path(), &["--month", "2026-11"]);
    // The embedded store is the daemon's: the request is handed to it. The
    // shared one is run from here, beside the daemon (the control folder's
    // lock keeps them from running it twice).
    assert_eq!(String::from_utf8_lossy(&out.stderr).contains("handed to it"), !common::pg::on_postgres());
    running.stop();
    assert_eq!(store(&running), fresh_store);
    assert_eq!(outputs(running.root.path()), outputs(fresh.root.path()));
}

/// A tiny deterministic generator for the kill moments.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn kill9_during_rerate_leaves_what_an_uninterrupted_run_leaves() {
    let big = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let p = path.to_str().unwrap();
        let rates = repo().join("rates");
        let rates = rates.to_str().unwrap();
        let args = ["generate", "cdrs", "--rows", "60000", "--seed", "7", "--rates", rates, "--out", p];
        let out = cdr_rater_at(dir.path(), LATER, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        fs::read_to_string(&path).unwrap()
    };
    let files = vec![("big.csv", big), ("b.csv", second_file())];
    let reference = rated(&files, false);
    let killed = rated(&files, false);
    change_tables(reference.root.path());
    change_tables(killed.root.path());
    let started = Instant::now();
    rerate(reference.root.path(), &["--month", "2026-11"]);
    let whole = started.elapsed().as_millis() as u64;
    let expected = (store(&reference), outputs(reference.root.path()));
    // Old and new contributions are summed alike: again with the same tables, nothing moves.
    rerate(reference.root.path(), &["--month", "2026-11"]);
    assert_eq!((store(&reference), outputs(reference.root.path())), expected);

    let mut rng = Lcg(std::process::id() as u64);
    for round in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
            .current_dir(killed.root.path())
            .env("CDR_RATER_NOW", LATER)
            .args(["rerate", "--config", "cdr-rater.toml", "--month", "2026-11"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(whole * 3 / 2 + 1)));
        let _ = child.kill();
        let _ = child.wait();
        let _ = round;
    }
    // The next run finishes what the kills left, then its own request.
    rerate(killed.root.path(), &["--month", "2026-11"]);
    assert_eq!((store(&killed), outputs(killed.root.path())), expected);
    // Every re-rating kept its own superseded copy.
    let kept = fs::read_dir(killed.path("spool/superseded/rated")).unwrap().count();
    assert!(kept >= 2, "{kept}");
    let left: Vec<String> = fs::read_dir(killed.path("spool/.control/rerate"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".report.json") && !n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "requests left: {left:?}");
    eprintln!("uninterrupted rerate: {whole} ms");
}

#[test]
fn a_current_day_crossing_alerts_once_and_past_days_never() {
    let files = vec![("a.csv", fs::read_to_string(repo().join("samples/generic.csv")).unwrap())];
    let d = rated(&files, false);
    let alerts = |d: &Daemon| -> Vec<String> {
        fs::read_to_string(d.path("spool/alerts.jsonl")).unwrap_or_default().lines().map(str::to_string).collect()
    };
    assert!(!alerts(&d).iter().any(|l| l.contains("\"C0001\"")));
    // C0001's range lowered below the day's spend (2.0740).
    let path = d.path("rates/customers.csv");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("korenaar.example.nl,standard,25.00,", "korenaar.example.nl,standard,1.00,");
    fs::write(&path, text).unwrap();
    // Days later: the calls' day is past, no alert.
    let args = ["rerate", "--config", "cdr-rater.toml", "--file", "a.csv"];
    assert!(cdr_rater_at(d.root.path(), LATER, &args).status.success());
    assert!(!alerts(&d).iter().any(|l| l.contains("\"C0001\"")), "{:?}", alerts(&d));
    // On the calls' own day: the crossing alerts, naming the call, once.
    let today = "2026-11-24T21:00:00Z";
    let out = cdr_rater_at(d.root.path(), today, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c0001: Vec<String> = alerts(&d).into_iter().filter(|l| l.contains("\"C0001\"")).collect();
    assert!(!c0001.is_empty(), "no alert: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        c0001.iter().all(|l| l.contains("\"day\":\"2026-11-24\"") && l.contains("\"trigger_call_id\":\"g-")),
        "{c0001:?}"
    );
    assert!(cdr_rater_at(d.root.path(), today, &args).status.success());
    assert_eq!(alerts(&d).into_iter().filter(|l| l.contains("\"C0001\"")).count(), c0001.len(), "never twice");
    // An archived input gone: reported as failed (exit 1), nothing moved.
    let before = store(&d);
    fs::remove_file(d.path("spool/archive/a.csv")).unwrap();
    let out = cdr_rater_at(d.root.path(), LATER, &["rerate", "--config", "cdr-rater.toml", "--month", "2026-11"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in archive/"));
    assert_eq!(store(&d), before);
}

#[test]
fn a_request_survives_daemon_kills_and_is_done_once() {
    let files = vec![("b.csv", second_file()), ("c.csv", second_file().replace("h-", "k-"))];
    let reference = rated(&files, false);
    change_tables(reference.root.path());
    rerate(reference.root.path(), &["--month", "2026-11"]);
    let expected = (store(&reference), outputs(reference.root.path()));

    let mut d = rated(&files, false);
    change_tables(d.root.path());
    // Filed while no daemon runs (as `rerate` does when the daemon holds
    // the store), then the daemon is killed at random moments.
    let control = d.path("spool/.control/rerate");
    fs::create_dir_all(&control).unwrap();
    let id = "20261127T090000Z-1-1";
    fs::write(control.join(format!("{id}.request.json")), format!("{{\"id\":\"{id}\",\"month\":\"2026-11\"}}"))
        .unwrap();
    let report = control.join(format!("{id}.report.json"));
    let mut rng = Lcg(u64::from(std::process::id()) * 7);
    for _ in 0..3 {
        d.start_at(LATER);
        std::thread::sleep(Duration::from_millis(rng.below(80)));
        d.kill9();
    }
    d.start_at(LATER);
    wait_for("the daemon's report", Duration::from_secs(30), || report.exists());
    d.stop();
    assert_eq!((store(&d), outputs(d.root.path())), expected);
    assert!(!control.join(format!("{id}.request.json")).exists());
    // The report counts each file once, however often it was interrupted.
    let report: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let c0011 = report["customers"].as_array().unwrap().iter().find(|l| l["customer"] == "C0011").cloned();
    assert_eq!(c0011.map(|l| (l["old_calls"].as_i64(), l["new_calls"].as_i64())), Some((Some(0), Some(8))), "{report}");
    assert!(report["files"].as_array().unwrap().iter().all(|f| f["outcome"] == "rerated"), "{report}");
}
