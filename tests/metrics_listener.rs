//! The `/metrics` listener under abuse: idle connections beyond the cap,
//! and `accept` failing for lack of descriptors.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cdr_rater::daemon::web::{MAX_CONNECTIONS, READ_TIMEOUT};
use common::{free_port, repo, spawn_daemon, wait_for};

fn setup(root: &Path) -> u16 {
    let port = free_port();
    let rates = repo().join("rates");
    fs::write(
        root.join("cdr-rater.toml"),
        format!("rates = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n", rates.display()),
    )
    .unwrap();
    port
}

/// Sockets the process holds open.
fn sockets(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Descriptors the process holds open.
fn descriptors(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// CPU time (user + system) of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A scrape that must succeed within `limit`.
fn scrape_within(port: u16, limit: Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    let read = s.read_to_string(&mut response);
    let took = started.elapsed();
    assert!(read.is_ok() && took < limit, "scrape took {took:?}: {read:?}");
    assert!(response.starts_with("HTTP/1.1 200 OK") && response.contains("cdr_rater_files_total"), "{response}");
}

#[test]
fn idle_connections_beyond_the_cap_hold_no_more_than_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let port = setup(dir.path());
    let daemon = spawn_daemon(dir.path(), port);
    let pid = daemon.0.id();
    std::thread::sleep(Duration::from_millis(200));
    let before = sockets(pid);
    let idle: Vec<TcpStream> =
        (0..MAX_CONNECTIONS + 8).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    wait_for("the cap reached", Duration::from_secs(4), || sockets(pid) - before >= MAX_CONNECTIONS);
    std::thread::sleep(Duration::from_millis(300));
    let held = sockets(pid) - before;
    assert_eq!(held, MAX_CONNECTIONS, "the daemon holds {held} connections");
    // The idle ones time out (the 8 queued behind the cap are then taken
    // first), so a scrape gets through while they all stay open.
    scrape_within(port, READ_TIMEOUT + Duration::from_secs(3));
    drop(idle);
    // Closed, they cost nothing: scrapes are prompt again.
    std::thread::sleep(Duration::from_millis(200));
    scrape_within(port, Duration::from_secs(1));
}

#[test]
fn accept_failing_for_lack_of_descriptors_backs_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = setup(dir.path());
    let daemon = spawn_daemon(dir.path(), port);
    let pid = daemon.0.id();
    std::thread::sleep(Duration::from_millis(200));
    // Leave the running daemon room for two more descriptors.
    let limit = (descriptors(pid) + 2) as u64;
    let rlim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: prlimit reads `rlim` and writes nothing (null old limit).
    let set = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &rlim, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let ticks = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(pid) - ticks;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(spent * 10 < hz * 2, "the daemon used {spent} ticks ({hz}/s) in 2 s while accept failed");
    let log = fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert_eq!(log.matches("cannot accept").count(), 1, "{log}");
    drop(idle);
    scrape_within(port, Duration::from_secs(3));
}
