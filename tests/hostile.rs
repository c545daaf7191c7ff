//! Hostile drops against a running daemon: compression bombs go to
//! `failed/` with a reason while memory stays bounded, and other files keep
//! being rated.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{free_port, repo, spawn_daemon, wait_for};

const ROWS: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n\
a1,2026-11-24T09:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n\
a2,2026-11-24T09:05:00+01:00,C0001,0201234501,0612345678,30,ANSWERED\n";

fn setup(root: &Path) -> u16 {
    let port = free_port();
    let rates = repo().join("rates");
    fs::write(
        root.join("cdr-rater.toml"),
        format!("rates = \"{}\"\nsettle_ms = 200\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n", rates.display()),
    )
    .unwrap();
    fs::create_dir_all(root.join("spool/incoming")).unwrap();
    fs::create_dir_all(root.join("staging")).unwrap();
    port
}

fn drop_in(root: &Path, name: &str, bytes: &[u8]) {
    fs::write(root.join("staging").join(name), bytes).unwrap();
    fs::rename(root.join("staging").join(name), root.join("spool/incoming").join(name)).unwrap();
}

/// Peak resident memory of a process (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// A gzip file of 32 members, each 64 MiB of a CSV-looking repeated line:
/// 2 GiB once decompressed, about 2 MB on disk.
fn gzip_bomb() -> Vec<u8> {
    let line = b"x,2026-11-24T09:00:00Z,C0001,0201234501,0201234567,60,ANSWERED\n";
    let block: Vec<u8> = line.iter().copied().cycle().take(64 << 20).collect();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&block).unwrap();
    let member = e.finish().unwrap();
    let mut header = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    header.write_all(ROWS.lines().next().unwrap().as_bytes()).unwrap();
    header.write_all(b"\n").unwrap();
    let mut bomb = header.finish().unwrap();
    for _ in 0..32 {
        bomb.extend_from_slice(&member);
    }
    bomb
}

#[test]
fn a_two_gigabyte_gzip_bomb_is_refused_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = setup(root);
    let daemon = spawn_daemon(root, port);
    let bomb = gzip_bomb();
    assert!(bomb.len() < 8 << 20, "{} bytes", bomb.len());
    drop_in(root, "bomb.csv.gz", &bomb);
    drop_in(root, "good.csv", ROWS.as_bytes());
    let reason = root.join("spool/failed/bomb.csv.gz.reason");
    wait_for("the bomb in failed/", Duration::from_secs(60), || reason.exists());
    wait_for("the good file", Duration::from_secs(20), || root.join("spool/archive/good.csv").exists());
    let why = fs::read_to_string(&reason).unwrap();
    assert!(why.contains("max_compression_ratio"), "{why}");
    // Nothing of the bomb was published.
    assert!(!root.join("spool/rated/bomb.rated.csv").exists());
    assert_eq!(fs::read_to_string(root.join("spool/rated/good.rated.csv")).unwrap().lines().count(), 3);
    let peak = peak_rss(daemon.0.id());
    assert!(peak < 300 << 20, "peak RSS {} MiB", peak >> 20);

    // With the ratio check off, the size limit refuses it just the same.
    fs::write(
        root.join("cdr-rater.toml"),
        fs::read_to_string(root.join("cdr-rater.toml")).unwrap()
            + "[limits]\nmax_compression_ratio = 1000000\nmax_decompressed_bytes = 100000000\n",
    )
    .unwrap();
    drop(daemon);
    let daemon = spawn_daemon(root, port);
    drop_in(root, "bomb2.csv.gz", &bomb);
    let reason = root.join("spool/failed/bomb2.csv.gz.reason");
    wait_for("the second bomb in failed/", Duration::from_secs(60), || reason.exists());
    let why = fs::read_to_string(&reason).unwrap();
    assert!(why.contains("max_decompressed_bytes (100000000 bytes)"), "{why}");
    let peak = peak_rss(daemon.0.id());
    assert!(peak < 300 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn zstd_drops_are_rated_like_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = setup(root);
    let _daemon = spawn_daemon(root, port);
    drop_in(root, "calls.csv.zst", &zstd::stream::encode_all(ROWS.as_bytes(), 3).unwrap());
    drop_in(root, "broken.csv.zst", b"\x28\xb5\x2f\xfd garbage");
    wait_for("the zstd file", Duration::from_secs(20), || root.join("spool/archive/calls.csv.zst").exists());
    let rated = fs::read_to_string(root.join("spool/rated/calls.rated.csv")).unwrap();
    assert_eq!(rated.lines().count(), 3, "{rated}");
    // The daemon runs with umask 027: CDR data is not world-readable.
    use std::os::unix::fs::PermissionsExt;
    for p in ["spool/rated/calls.rated.csv", "spool/unrated/calls.unrated.csv", "state/ledger.redb"] {
        let mode = fs::metadata(root.join(p)).unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "{p} is world-accessible: {mode:o}");
    }
    let reason = root.join("spool/failed/broken.csv.zst.reason");
    wait_for("the broken zstd file in failed/", Duration::from_secs(20), || reason.exists());
}
