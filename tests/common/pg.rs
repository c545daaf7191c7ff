//! A throwaway PostgreSQL 15 cluster for the tests of the shared store:
//! `initdb` and `pg_ctl` in a temp folder (as the `postgres` user when the
//! tests run as root: PostgreSQL refuses root), a free loopback port, Unix
//! sockets in that folder, `fsync=off`. Stopped when dropped. Without the
//! binaries (Debian package `postgresql`) the test fails with a message.
//!
//! `CDR_RATER_TEST_STORE=postgres` runs the store-touching test files on
//! PostgreSQL: [`shared`] is then one cluster for the test binary (stopped
//! at exit) and each daemon gets a database of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Where Debian puts the server binaries.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster.
pub struct Pg {
    /// Its folder: `data/` and the Unix socket.
    pub dir: PathBuf,
    /// Its loopback port.
    pub port: u16,
    /// Removes `dir` on drop.
    _tmp: Option<tempfile::TempDir>,
}

/// The binary `name` of PostgreSQL 15; fails the test without it.
fn bin(name: &str) -> PathBuf {
    let path = Path::new(BIN).join(name);
    assert!(
        path.is_file(),
        "PostgreSQL 15 is not installed ({} missing): install the Debian package `postgresql` \
         (.ci/run does); the shared-store tests never skip",
        path.display()
    );
    path
}

/// Whether this process is root (PostgreSQL then runs as `postgres`).
fn root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command running `program` as the cluster's owner.
fn as_owner(program: &Path) -> Command {
    if root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pg {
    /// Creates and starts a cluster in a new temp folder.
    pub fn start() -> Pg {
        let tmp = tempfile::Builder::new().prefix("cdr-pg").tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        if root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(&dir);
                    c
                },
                "chown",
            );
        }
        let mut init = as_owner(&bin("initdb"));
        init.arg("-D").arg(dir.join("data")).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]);
        run(init, "initdb");
        let pg = Pg { dir, port: super::free_port(), _tmp: Some(tmp) };
        pg.resume();
        pg
    }

    /// Starts the (stopped) cluster again on its port.
    pub fn resume(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
             -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let mut c = as_owner(&bin("pg_ctl"));
        c.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "-o", &opts, "start"]);
        run(c, "pg_ctl start");
    }

    /// Stops the cluster at once (connections cut, as in a crash).
    pub fn halt(&self) {
        let mut c = as_owner(&bin("pg_ctl"));
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        run(c, "pg_ctl stop");
    }

    /// A restart: stopped at once, started again.
    pub fn restart(&self) {
        self.halt();
        self.resume();
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new empty database; returns its URL.
    pub fn create_db(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut admin =
            postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect to the test cluster");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(&name)
    }

    /// A client of the database at `url`.
    pub fn client(url: &str) -> postgres::Client {
        for _ in 0..100 {
            if let Ok(c) = postgres::Client::connect(url, postgres::NoTls) {
                return c;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cannot connect to {url}");
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let mut c = as_owner(Path::new(&bin_path("pg_ctl")));
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]);
        let _ = c.output();
    }
}

fn bin_path(name: &str) -> String {
    format!("{BIN}/{name}")
}

/// Whether the tests run on the PostgreSQL store (`CDR_RATER_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("CDR_RATER_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The cluster shared by the tests of this binary, started once and
/// stopped when the process exits.
pub fn shared() -> &'static Pg {
    static SHARED: OnceLock<Pg> = OnceLock::new();
    SHARED.get_or_init(|| {
        extern "C" fn stop_shared() {
            if let Some(pg) = SHARED.get() {
                let mut c = as_owner(Path::new(&bin_path("pg_ctl")));
                c.arg("-D").arg(pg.dir.join("data")).args(["-m", "immediate", "stop"]);
                let _ = c.output();
                let _ = std::fs::remove_dir_all(&pg.dir);
            }
        }
        let pg = Pg::start();
        // SAFETY: `stop_shared` is a plain function that runs at exit.
        unsafe { libc::atexit(stop_shared) };
        pg
    })
}

/// The `[store]` section of a test daemon: empty on the embedded store,
/// a fresh database of the shared cluster on PostgreSQL.
pub fn store_section(site: &str) -> String {
    if !on_postgres() {
        return String::new();
    }
    let url = shared().create_db();
    format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\nsite = \"{site}\"\n")
}
