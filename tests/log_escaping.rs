//! Dropped file names are untrusted: in the daemon's logs they can neither
//! forge a log line nor send terminal escape codes, in human or JSON format,
//! and the files are still rated or failed as usual.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cdr_rater::telemetry::Untrusted;
use common::{free_port, repo, wait_for, Running};

const GOOD: &str = "x\nERROR forged line\x1b[31m.csv";
const BAD: &str = "y\r\nERROR forged failure\x1b[2J\u{9b}1m.csv";
const ROWS: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n\
a1,2026-11-24T09:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n";

/// Starts a daemon in `root` logging in `format` to `root/daemon.log`, drops
/// a good and a bad file with hostile names, waits until both are handled,
/// and returns the log.
fn run_daemon(root: &Path, format: &str) -> String {
    let port = free_port();
    let rates = repo().join("rates");
    fs::write(
        root.join("cdr-rater.toml"),
        format!("rates = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n", rates.display()),
    )
    .unwrap();
    for dir in ["spool/incoming", "staging"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    let log = fs::File::create(root.join("daemon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(root)
        .args(["run", "--allow-root", "--config", "cdr-rater.toml", "--log-format", format])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _daemon = Running(child);
    wait_for("metrics listener", Duration::from_secs(20), || common::scrape(port).is_some());
    for (name, content) in [(GOOD, ROWS), (BAD, "no,header,we,know\n1,2,3,4\n")] {
        fs::write(root.join("staging").join(name), content).unwrap();
        fs::rename(root.join("staging").join(name), root.join("spool/incoming").join(name)).unwrap();
    }
    let count = |dir: &str| fs::read_dir(root.join(dir)).map_or(0, |d| d.count());
    wait_for("the good file archived", Duration::from_secs(20), || count("spool/archive") == 1);
    wait_for("the bad file failed, with its reason", Duration::from_secs(20), || count("spool/failed") == 2);
    assert_eq!(count("spool/rated"), 1, "the good file was not rated");
    assert!(root.join("spool/failed").join(BAD).exists());
    let log = || fs::read_to_string(root.join("daemon.log")).unwrap();
    wait_for("both files logged", Duration::from_secs(5), || log().contains("file rated") && log().contains("failed/"));
    log()
}

fn assert_not_forged(log: &str) {
    assert!(!log.contains('\x1b') && !log.contains('\u{9b}'), "a raw escape code in the log:\n{log}");
    for line in log.lines() {
        assert!(!line.trim_start().starts_with("ERROR forged"), "forged line {line:?} in:\n{log}");
        assert!(!line.contains('\r'), "a carriage return in {line:?}");
    }
}

#[test]
fn hostile_file_names_cannot_forge_human_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = run_daemon(dir.path(), "human");
    assert_not_forged(&log);
    for name in [GOOD, BAD] {
        let shown = Untrusted(name).to_string();
        assert!(log.contains(&format!("file={shown}")), "{shown} not logged in:\n{log}");
    }
}

#[test]
fn hostile_file_names_keep_json_logs_one_valid_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = run_daemon(dir.path(), "json");
    assert_not_forged(&log);
    let mut files = Vec::new();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        if let Some(f) = v["fields"]["file"].as_str() {
            files.push(f.to_string());
        }
    }
    for name in [GOOD, BAD] {
        assert!(files.contains(&Untrusted(name).to_string()), "{name:?} not in {files:?}");
    }
}
