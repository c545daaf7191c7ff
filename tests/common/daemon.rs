//! A real `cdr-rater run` on a temp folder, for the daemon tests.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, read_csv, repo};

/// A daemon under test with its own folders and metrics port.
pub struct Daemon {
    /// Its folder (rates/, spool/, state/, cdr-rater.toml, daemon.log).
    pub root: tempfile::TempDir,
    /// The running process.
    pub child: Option<Child>,
    /// Its metrics port.
    pub port: u16,
}

pub use super::copy_dir;

impl Daemon {
    /// A daemon on the shipped tables with a hook writing `hook.out`.
    pub fn new() -> Daemon {
        Daemon::with_config("")
    }

    /// Like [`Daemon::new`], with `top` (top-level TOML keys) added to its configuration.
    pub fn with_config(top: &str) -> Daemon {
        let root = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("rates"), &root.path().join("rates"));
        let port = free_port();
        fs::write(
            root.path().join("cdr-rater.toml"),
            format!(
                "{top}\nsettle_ms = 300\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n[ids]\non_alert = [\"sh\", \"-c\", \"cat >> hook.out\"]\n{}",
                // CDR_RATER_TEST_STORE=postgres: a database of the shared test cluster.
                super::pg::store_section("test")
            ),
        )
        .unwrap();
        fs::create_dir_all(root.path().join("spool/incoming")).unwrap();
        fs::create_dir_all(root.path().join("staging")).unwrap();
        Daemon { root, child: None, port }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn start(&mut self) {
        // The test calls are on 2026-11-24: keep that day current whatever the clock says.
        self.start_at("2026-11-24T20:00:00Z");
    }

    /// Starts the daemon with "now" fixed at `now` (RFC 3339).
    pub fn start_at(&mut self, now: &str) {
        let log = fs::OpenOptions::new().create(true).append(true).open(self.path("daemon.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
            .current_dir(self.root.path())
            .env("CDR_RATER_NOW", now)
            .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while self.scrape().is_none() {
            assert!(started.elapsed() < Duration::from_secs(45), "no metrics listener; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args(["-s", sig, &pid]).status().unwrap().success());
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit code and how long it took.
    pub fn stop(&mut self) -> (Option<i32>, Duration) {
        self.signal("TERM");
        let started = Instant::now();
        let mut child = self.child.take().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("daemon did not stop; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's store (stopped daemon for the embedded one): its
    /// ledger file, or its database under `CDR_RATER_TEST_STORE=postgres`.
    pub fn ledger(&self) -> Box<dyn cdr_rater::state::Ledger> {
        let text = fs::read_to_string(self.path("cdr-rater.toml")).unwrap();
        match text.split("url = \"").nth(1).and_then(|t| t.split('"').next()) {
            Some(url) => {
                let target = cdr_rater::state::postgres::connect::target(url, None).unwrap();
                Box::new(cdr_rater::state::PgLedger::open(target, "test").unwrap())
            }
            None => Box::new(cdr_rater::state::RedbLedger::open(&self.path("state/ledger.redb")).unwrap()),
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    /// Drops a file the way switches should: write elsewhere, rename in.
    pub fn drop_file(&self, name: &str, content: &str) {
        let staged = self.path("staging").join(name);
        fs::write(&staged, content).unwrap();
        fs::rename(&staged, self.path("spool/incoming").join(name)).unwrap();
    }

    pub fn scrape(&self) -> Option<String> {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    }

    pub fn metric(&self, name: &str) -> f64 {
        let text = self.scrape().unwrap_or_default();
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// The sum of every series of metric `name` (all label sets).
    pub fn metric_sum(&self, name: &str) -> f64 {
        let text = self.scrape().unwrap_or_default();
        text.lines()
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn files_in(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path(rel))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Call ids of every output row: (rated, unrated, rejected).
    pub fn output_ids(&self) -> [Vec<String>; 3] {
        ["rated", "unrated", "rejected"].map(|k| {
            let mut ids = Vec::new();
            for f in self.files_in(&format!("spool/{k}")) {
                let rows = read_csv(&self.path(&format!("spool/{k}/{f}")));
                for r in rows.iter().skip(1) {
                    // rated: call_id first; unrated/rejected: line,reason,row...
                    ids.push(match k {
                        "rated" => r[0].clone(),
                        "unrated" => r[2].clone(),
                        _ => r[2].split(',').next().unwrap_or_default().to_string(),
                    });
                }
            }
            ids
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}
