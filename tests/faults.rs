//! Faults a billing daemon meets in production, each driven against a real
//! `cdr-rater run`: entries swapped under the daemon, files truncated by
//! their writer, claimed files moved back by an operator, tariff tables
//! copied in file by file or swapped whole. After each, every call is billed
//! exactly once.
//!
//! Every test here runs on the configured store: the daemon and its
//! [`Daemon::ledger`] honour `CDR_RATER_TEST_STORE=postgres` (`.ci/run`). The
//! faults of the embedded ledger file itself (damaged, lost, locked, on a
//! full disk) are in `tests/ledger_faults.rs`, `tests/state_loss.rs` and
//! `tests/disk_full.rs`, embedded-only.

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::{Duration, Instant};

use cdr_rater::state::Phase;
use common::daemon::{copy_dir, Daemon};
use common::{read_csv, repo, wait_for};

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";

/// `rows` answered calls of C0001 to a Dutch mobile, ids `PREFIX-N`.
fn calls(prefix: &str, rows: usize) -> String {
    let mut s = String::with_capacity(HEADER.len() + rows * 80);
    s.push_str(HEADER);
    for i in 0..rows {
        s.push_str(&format!("{prefix}-{i},2026-11-24T10:00:00+01:00,C0001,0201234501,0612345678,61,ANSWERED\n"));
    }
    s
}

/// How many times each call id is in any output (rated, unrated, rejected).
fn billed(d: &Daemon) -> HashMap<String, usize> {
    let [rated, unrated, rejected] = d.output_ids();
    let mut seen = HashMap::new();
    for id in rated.into_iter().chain(unrated).chain(rejected) {
        *seen.entry(id).or_default() += 1;
    }
    seen
}

/// Asserts that the calls `PREFIX-0..rows` are each in the outputs exactly once.
fn assert_once(seen: &HashMap<String, usize>, prefix: &str, rows: usize) {
    for i in 0..rows {
        let id = format!("{prefix}-{i}");
        assert_eq!(seen.get(&id).copied().unwrap_or(0), 1, "call {id} billed {:?} times", seen.get(&id));
    }
}

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

fn alive(d: &mut Daemon) -> bool {
    d.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
}

#[test]
fn a_symlink_or_fifo_renamed_over_a_file_just_taken_is_never_read() {
    let mut d = Daemon::new();
    // The target of the links: calls that must never be billed.
    fs::write(d.path("secret.csv"), calls("SECRET", 20)).unwrap();
    d.start();
    let mut rng = cdr_rater::generate::Rng::new(11);
    let rounds = 300;
    for i in 0..rounds {
        d.drop_file(&format!("x{i}.csv"), &calls(&format!("R{i}"), 3));
        std::thread::sleep(Duration::from_micros(rng.below(400)));
        let imposter = d.path(&format!("staging/x{i}.csv"));
        if i % 2 == 0 {
            symlink(d.path("secret.csv"), &imposter).unwrap();
        } else {
            mkfifo(&imposter);
        }
        fs::rename(&imposter, d.path(&format!("spool/incoming/x{i}.csv"))).unwrap();
    }
    // A normal file afterwards is rated: no worker is stuck.
    d.drop_file("after.csv", &calls("AFTER", 5));
    wait_for("the file after the race", Duration::from_secs(60), || {
        d.files_in("spool/archive").iter().any(|f| f == "after.csv")
    });
    wait_for("every entry handled", Duration::from_secs(60), || {
        d.files_in("spool/incoming").is_empty() && d.files_in("spool/.claimed").is_empty()
    });
    let seen = billed(&d);
    assert!(!seen.keys().any(|id| id.starts_with("SECRET")), "a link target was billed");
    assert_once(&seen, "AFTER", 5);
    // Each regular file was rated at most once (a rename over it replaced it
    // before or after it was taken), each imposter refused unopened.
    assert!(seen.values().all(|&n| n == 1));
    let failed = d.files_in("spool/failed");
    assert!(failed.iter().any(|f| f.ends_with(".reason")), "no imposter was refused: {failed:?}");
    for f in failed.iter().filter(|f| !f.ends_with(".reason")) {
        let meta = fs::symlink_metadata(d.path(&format!("spool/failed/{f}"))).unwrap();
        assert!(!meta.is_file(), "a regular file {f} failed");
    }
    assert!(alive(&mut d), "the daemon died; log:\n{}", d.log());
    let (code, took) = d.stop();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
}

#[test]
fn a_file_truncated_by_its_writer_after_the_rename_leaves_the_daemon_running_and_a_resend_is_billed_once() {
    let mut d = Daemon::new();
    d.start();
    let rows = 150_000;
    for (round, delay_ms) in [0u64, 2, 10, 40, 120].into_iter().enumerate() {
        let prefix = format!("T{round}");
        let content = calls(&prefix, rows);
        // The writer keeps its handle after the rename (logrotate's copytruncate).
        let staged = d.path(&format!("staging/t{round}.csv"));
        let mut writer = fs::File::create(&staged).unwrap();
        std::io::Write::write_all(&mut writer, content.as_bytes()).unwrap();
        fs::rename(&staged, d.path(&format!("spool/incoming/t{round}.csv"))).unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        writer.set_len(0).unwrap();
        drop(writer);
        wait_for("the truncated file handled", Duration::from_secs(60), || {
            d.files_in("spool/incoming").is_empty() && d.files_in("spool/.claimed").is_empty()
        });
        assert!(alive(&mut d), "the daemon died (round {round}); log:\n{}", d.log());
        // The switch sends the original content again.
        d.drop_file(&format!("t{round}-again.csv"), &content);
        wait_for("the re-send", Duration::from_secs(60), || {
            d.files_in("spool/archive").iter().any(|f| f == &format!("t{round}-again.csv"))
        });
        assert_once(&billed(&d), &prefix, rows);
    }
    assert!(alive(&mut d));
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn a_claimed_file_moved_back_to_incoming_after_a_kill_is_billed_once() {
    let mut d = Daemon::new();
    let rows = 120_000;
    let mut rng = cdr_rater::generate::Rng::new(5);
    let mut prefixes = Vec::new();
    for round in 0..6 {
        d.start();
        let prefix = format!("M{round}");
        d.drop_file(&format!("m{round}.csv"), &calls(&prefix, rows));
        prefixes.push(prefix);
        let claimed_at = Instant::now();
        wait_for("the claim", Duration::from_secs(20), || {
            !d.files_in("spool/.claimed").is_empty() || d.files_in("spool/archive").len() > round
        });
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        d.kill9();
        // The operator puts the claimed file back where switches drop files.
        for f in d.files_in("spool/.claimed") {
            let original = f.split_once('-').map_or(f.as_str(), |(_, rest)| rest).to_string();
            fs::rename(d.path(&format!("spool/.claimed/{f}")), d.path(&format!("spool/incoming/{original}"))).unwrap();
        }
        let _ = claimed_at;
    }
    d.start();
    wait_for("every file", Duration::from_secs(120), || {
        d.files_in("spool/incoming").is_empty()
            && d.files_in("spool/.claimed").is_empty()
            && d.files_in("spool/archive").len() >= prefixes.len()
    });
    assert_eq!(d.stop().0, Some(0));
    let seen = billed(&d);
    for p in &prefixes {
        assert_once(&seen, p, rows);
    }
    let ledger = d.ledger();
    for (_, r) in ledger.all().unwrap() {
        assert_eq!(r.phase, Phase::Done, "{r:?}");
    }
}

/// A second version of the shipped tables: every file differs, and a call of
/// C0001 to a Dutch mobile costs twice the buy and more sell, so a file priced
/// by a mix of the two versions shows.
fn tables_b(dir: &std::path::Path) {
    copy_dir(&repo().join("rates"), dir);
    let edit = |rel: &str, from: &str, to: &str| {
        let path = dir.join(rel);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} has no {from}");
        fs::write(path, text.replace(from, to)).unwrap();
    };
    edit("wholesale.csv", "3161,Netherlands - Mobile,NL,mobile,0.0120", "3161,Netherlands - Mobile,NL,mobile,0.0240");
    edit("plans/standard.toml", "mobile_per_min = \"0.0900\"", "mobile_per_min = \"0.1900\"");
    edit("customers.csv", "Bakkerij De Gouden Korenaar B.V.", "Bakkerij De Gouden Korenaar");
    edit("numbers.csv", "\n", "\n\n");
}

/// The digest `cdr-rater check` prints for a rates folder.
fn digest_of(rates: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater")).arg("check").arg("--rates").arg(rates).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.trim_start().starts_with("digest")).unwrap_or_else(|| panic!("{text}"));
    line.split_whitespace().last().unwrap().to_string()
}

/// (buy, sell) of every rated row of one output stem.
fn prices(d: &Daemon, stem: &str) -> Vec<(String, String)> {
    read_csv(&d.path(&format!("spool/rated/{stem}.rated.csv")))
        .into_iter()
        .skip(1)
        .map(|r| (r[13].clone(), r[14].clone()))
        .collect()
}

#[test]
fn tables_copied_in_file_by_file_price_every_file_with_one_version_and_the_ledger_names_it() {
    let mut d = Daemon::new();
    let new_tables = d.path("tables-b");
    tables_b(&new_tables);
    let (digest_a, digest_b) = (digest_of(&repo().join("rates")), digest_of(&new_tables));
    assert_ne!(digest_a, digest_b);
    d.start();
    // Version A's prices, from a file rated before the copy starts.
    d.drop_file("first.csv", &calls("FIRST", 200));
    wait_for("the first file", Duration::from_secs(20), || d.files_in("spool/archive").len() == 1);
    let version_a = prices(&d, "first")[0].clone();
    let copier = {
        let (from, to) = (new_tables.clone(), d.path("rates"));
        std::thread::spawn(move || {
            for rel in ["wholesale.csv", "plans/standard.toml", "customers.csv", "numbers.csv"] {
                std::thread::sleep(Duration::from_millis(800));
                fs::copy(from.join(rel), to.join(rel)).unwrap();
            }
        })
    };
    // Files keep coming during the copy and until the new tables are in force.
    let mut n = 0;
    let started = Instant::now();
    let first_files = 1;
    while started.elapsed() < Duration::from_secs(9) {
        d.drop_file(&format!("f{n}.csv"), &calls(&format!("F{n}"), 200));
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    copier.join().unwrap();
    wait_for("every file", Duration::from_secs(60), || d.files_in("spool/archive").len() == n + first_files);
    assert_eq!(d.stop().0, Some(0));

    let ledger = d.ledger();
    let mut by_version: HashMap<String, usize> = HashMap::new();
    for (_, r) in ledger.all().unwrap() {
        let rows = prices(&d, &r.stem);
        assert_eq!(rows.len(), 200);
        let first = rows[0].clone();
        assert!(rows.iter().all(|p| *p == first), "{} priced by two versions", r.stem);
        let expected_digest = if first == version_a { &digest_a } else { &digest_b };
        assert_eq!(&r.tariff, expected_digest, "{}: prices {first:?}", r.stem);
        *by_version.entry(r.tariff.clone()).or_default() += 1;
    }
    // Both versions priced files, and no third (mixed) price appeared.
    assert_eq!(by_version.len(), 2, "{by_version:?}");
    let b_prices = prices(&d, &format!("f{}", n - 1))[0].clone();
    assert_ne!(b_prices, version_a);
    assert!(d.log().contains(&digest_b), "the reload log line names the new digest");
}

#[test]
fn rates_replaced_by_a_folder_rename_or_a_symlink_swap_are_reloaded() {
    let mut d = Daemon::new();
    tables_b(&d.path("tables-b"));
    copy_dir(&repo().join("rates"), &d.path("tables-a"));
    d.start();
    let sell_of_next = |d: &Daemon, n: &mut usize| {
        let name = format!("s{n}");
        d.drop_file(&format!("{name}.csv"), &calls(&name.to_uppercase(), 1));
        wait_for("rated", Duration::from_secs(20), || d.files_in("spool/archive").contains(&format!("{name}.csv")));
        *n += 1;
        prices(d, &name)[0].1.clone()
    };
    let mut n = 0;
    let sell_a = sell_of_next(&d, &mut n);
    // A folder rename: the new tables are put beside, then renamed into place.
    fs::rename(d.path("rates"), d.path("rates-old")).unwrap();
    fs::rename(d.path("tables-b"), d.path("rates")).unwrap();
    wait_for("the reload", Duration::from_secs(20), || d.log().matches("tariff tables in force").count() >= 2);
    let sell_b = sell_of_next(&d, &mut n);
    assert_ne!(sell_a, sell_b);
    // A symlink swap: `rates` becomes a link, then the link is replaced atomically.
    fs::rename(d.path("rates"), d.path("tables-b")).unwrap();
    symlink(d.path("tables-a"), d.path("rates-link")).unwrap();
    fs::rename(d.path("rates-link"), d.path("rates")).unwrap();
    wait_for("the reload", Duration::from_secs(20), || d.log().matches("tariff tables in force").count() >= 3);
    assert_eq!(sell_of_next(&d, &mut n), sell_a);
    symlink(d.path("tables-b"), d.path("rates-link")).unwrap();
    fs::rename(d.path("rates-link"), d.path("rates")).unwrap();
    wait_for("the reload", Duration::from_secs(20), || d.log().matches("tariff tables in force").count() >= 4);
    assert_eq!(sell_of_next(&d, &mut n), sell_b);
    assert_eq!(d.stop().0, Some(0));
}
