//! `CDR_RATER_NOW`: an unparsable value is an error (exit 2, naming it) for
//! every command that reads "now"; a valid one is announced by the daemon.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{cdr_rater_at, free_port, repo, wait_for, Running};

fn config(root: &Path, port: u16) {
    let rates = repo().join("rates");
    fs::write(
        root.join("cdr-rater.toml"),
        format!("rates = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n", rates.display()),
    )
    .unwrap();
}

#[test]
fn an_unparsable_now_is_refused_with_exit_2_by_every_command_that_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    config(root, free_port());
    let sample = repo().join("samples/generic.csv");
    for bad in ["yesterday", "2026-11-25", "2026-13-01T00:00:00Z", ""] {
        for args in [
            vec!["rate", "--config", "cdr-rater.toml", "--out", "out", sample.to_str().unwrap()],
            vec!["ids", "--config", "cdr-rater.toml"],
            vec!["run", "--allow-root", "--config", "cdr-rater.toml"],
        ] {
            let out = cdr_rater_at(root, bad, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} with {bad:?}: {stderr}");
            assert!(stderr.contains(&format!("CDR_RATER_NOW={bad:?}")), "{args:?}: {stderr}");
        }
    }
    assert!(!root.join("out").exists(), "rate wrote outputs despite the bad CDR_RATER_NOW");
    // `check` does not read "now".
    let out = cdr_rater_at(root, "yesterday", &["check", "--config", "cdr-rater.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A valid value still rates as usual.
    let out = cdr_rater_at(root, "2026-11-25T12:00:00+01:00", &["rate", "--out", "out", sample.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_daemon_warns_at_start_when_now_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = free_port();
    config(root, port);
    let log = fs::File::create(root.join("daemon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(root)
        .env("CDR_RATER_NOW", "2026-11-25T12:00:00Z")
        .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _daemon = Running(child);
    wait_for("metrics listener", Duration::from_secs(20), || common::scrape(port).is_some());
    let text = fs::read_to_string(root.join("daemon.log")).unwrap();
    let warning = text.lines().find(|l| l.contains("CDR_RATER_NOW")).unwrap_or_else(|| panic!("{text}"));
    assert!(warning.contains("WARN") && warning.contains("2026-11-25T12:00:00Z"), "{warning}");
}
