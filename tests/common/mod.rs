//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod daemon;
pub mod pg;
pub mod tmpfs;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// "Now" of [`cdr_rater`]: the samples' dates are plausible (not flagged)
/// whatever day the tests run.
pub const TEST_NOW: &str = "2026-11-25T12:00:00Z";

/// Runs the real binary with `args` in `cwd`, at [`TEST_NOW`].
pub fn cdr_rater(cwd: &Path, args: &[&str]) -> Output {
    cdr_rater_at(cwd, TEST_NOW, args)
}

/// Runs the real binary with `args` in `cwd`, with "now" at `now` (RFC 3339).
pub fn cdr_rater_at(cwd: &Path, now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(cwd)
        .env("CDR_RATER_NOW", now)
        .args(args)
        .output()
        .expect("run cdr-rater")
}

/// Reads a CSV output file into rows of strings (header included).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path).expect("open output");
    r.byte_records()
        .map(|rec| rec.expect("valid CSV").iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
        .collect()
}

/// The three outputs of input stem `stem` under `out`: rated, unrated, rejected rows (headers included).
pub fn outputs(out: &Path, stem: &str) -> [Vec<Vec<String>>; 3] {
    ["rated", "unrated", "rejected"].map(|k| read_csv(&out.join(k).join(format!("{stem}.{k}.csv"))))
}

/// Finds an external tool on PATH. Missing: in CI (`CI` set) a failure,
/// elsewhere a skip with a note on stderr.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{name} is not installed; .ci/run installs it");
        eprintln!("skipped: {name} not installed");
    }
    found
}

/// Waits until `ok` holds (polling), failing the test after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ok() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// `GET /metrics` of a daemon on `port`.
pub fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// A daemon process, killed however the test ends.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cdr-rater run --config cdr-rater.toml` in `root` (log in
/// `root/daemon.log`) and waits for its metrics listener on `port`.
pub fn spawn_daemon(root: &Path, port: u16) -> Running {
    let log = std::fs::File::create(root.join("daemon.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(root)
        .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cdr-rater run");
    let running = Running(child);
    wait_for("metrics listener", std::time::Duration::from_secs(20), || scrape(port).is_some());
    running
}

/// Like [`spawn_daemon`], with `args` added to the command line (e.g.
/// `["--log-format", "json"]`) and `envs` set for the daemon.
pub fn spawn_daemon_with(root: &Path, port: u16, args: &[&str], envs: &[(&str, &str)]) -> Running {
    let log = std::fs::File::create(root.join("daemon.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(root)
        .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
        .args(args)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cdr-rater run");
    let running = Running(child);
    wait_for("metrics listener", std::time::Duration::from_secs(20), || scrape(port).is_some());
    running
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Copies a folder tree (the shipped `rates/` into a test's folder, say).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
