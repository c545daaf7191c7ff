//! The tariff digest: a function of exactly the table files parsed, printed
//! by `check` and logged by the daemon at load and reload.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{cdr_rater, free_port, repo, spawn_daemon, wait_for};

fn copy_rates(to: &Path) {
    fs::create_dir_all(to.join("plans")).unwrap();
    for entry in walk(&repo().join("rates")) {
        let rel = entry.strip_prefix(repo().join("rates")).unwrap();
        fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
        fs::copy(&entry, to.join(rel)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

fn digest(rates: &Path) -> String {
    cdr_rater::tariff::load(rates, "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap())
        .expect("valid tables")
        .0
        .digest
}

/// The digest `cdr-rater check` prints for `rates`.
fn checked_digest(cwd: &Path, rates: &Path) -> String {
    let out = cdr_rater(cwd, &["check", "--rates", rates.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("digest ")).unwrap_or_else(|| panic!("{text}"));
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn the_digest_follows_every_table_file_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates");
    copy_rates(&rates);
    let base = digest(&rates);
    assert_eq!(base.len(), 32, "{base}");
    assert!(base.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{base}");
    assert_eq!(digest(&rates), base, "same tables, another digest");
    assert_eq!(digest(&repo().join("rates")), base, "the digest depends on where the folder is");

    // A file the loader does not read changes nothing.
    fs::write(rates.join("README.txt"), "notes").unwrap();
    fs::write(rates.join("plans/notes.md"), "notes").unwrap();
    assert_eq!(digest(&rates), base);

    // Any one table changed (here a trailing blank line or comment, which
    // parses to the same tables) changes it; restored, it is back.
    for table in [
        "wholesale.csv",
        "customers.csv",
        "numbers.csv",
        "plans/standard.toml",
        "plans/budget.toml",
        "services.csv",
        "service_plans/standard.toml",
        "subscriptions.csv",
        "resellers.csv",
    ] {
        let path = rates.join(table);
        let original = fs::read(&path).unwrap();
        let mut edited = original.clone();
        edited.extend_from_slice(if table.ends_with(".toml") { b"# edited\n" } else { b"\n" });
        fs::write(&path, &edited).unwrap();
        assert_ne!(digest(&rates), base, "{table} changed, the digest did not");
        fs::write(&path, &original).unwrap();
        assert_eq!(digest(&rates), base, "{table} restored");
    }

    // numbers.csv is optional: without it the digest is another one.
    fs::remove_file(rates.join("numbers.csv")).unwrap();
    assert_ne!(digest(&rates), base);
    // Put back, it is the same set again.
    fs::copy(repo().join("rates/numbers.csv"), rates.join("numbers.csv")).unwrap();
    assert_eq!(digest(&rates), base);
}

#[test]
fn check_prints_the_digest_the_daemon_logs_at_load_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rates = root.join("rates");
    copy_rates(&rates);
    let port = free_port();
    fs::write(
        root.join("cdr-rater.toml"),
        format!("settle_ms = 200\nreload_settle_ms = 300\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let first = checked_digest(root, &rates);
    assert_eq!(first, digest(&rates));
    let daemon = spawn_daemon(root, port);
    let log = || fs::read_to_string(root.join("daemon.log")).unwrap();
    wait_for("the load logged", Duration::from_secs(10), || log().contains("tariff tables in force"));
    let loaded: Vec<String> =
        log().lines().filter(|l| l.contains("tariff tables in force")).map(String::from).collect();
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert!(loaded[0].contains(&format!("digest={first}")), "{}", loaded[0]);

    let plan = rates.join("plans/budget.toml");
    let edited = [fs::read(&plan).unwrap(), b"\n".to_vec()].concat();
    fs::write(&plan, &edited).unwrap();
    let second = checked_digest(root, &rates);
    assert_ne!(second, first);
    // The daemon notes what rates/ looks like before it loads it, so an
    // edit right after the start is reloaded too.
    wait_for("the reload logged", Duration::from_secs(20), || log().contains(&format!("digest={second}")));
    assert!(log().lines().any(|l| l.contains("reload=true") && l.contains(&format!("digest={second}"))), "{}", log());
    drop(daemon);
}
