//! A 300 MB record, on a plain (mapped) file and on stdin (the streamed
//! path of `.gz`, `.zst` and pipes), rated by the real binary: it becomes
//! one `line_too_long` row holding the record's first `max_line_bytes`
//! bytes, on the line it starts on; the rows around it are rated on their
//! own lines; and the process's anonymous memory stays far below the
//! record's size. Its own test binary, so that nothing else shares the
//! process being measured.

mod common;

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::repo;

const HEADER: &[u8] = b"call_id,start_time,account,caller,callee,billsec,disposition\n";
const BEFORE: &[u8] = b"before,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n";
/// The huge record starts here, with a quoted newline inside its head.
const HUGE_START: &[u8] = b"huge,2026-11-24T10:30:00+01:00,C0001,0201234501,\"multi\nline";
const HUGE_END: &[u8] = b"\nend\",60,ANSWERED\n";
/// Rated, unrated (unknown customer), rejected (bad billsec): the last two
/// name their lines in the outputs.
const AFTER: &[u8] = b"after1,2026-11-24T11:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n\
after2,2026-11-24T11:30:00+01:00,C9999,0201234501,0612345678,30,ANSWERED\n\
after3,2026-11-24T11:45:00+01:00,C0001,0201234501,0612345678,x,ANSWERED\n";
/// The default `[limits] max_line_bytes`.
const HEAD_BYTES: usize = 65536;
/// Size of the record's filler.
const FILLER_BYTES: u64 = 300 << 20;
/// The bound of the brief: far below one copy of the record.
const MAX_ANON_BYTES: u64 = 200 << 20;

/// Peak memory of a running process, sampled every 2 ms until `stop`.
struct Peak {
    rss_anon: u64,
    vm_hwm: u64,
}

fn watch(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Peak> {
    std::thread::spawn(move || {
        let mut peak = Peak { rss_anon: 0, vm_hwm: 0 };
        let field = |status: &str, name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        };
        while !stop.load(Ordering::Relaxed) {
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { break };
            if status.lines().any(|l| l.starts_with("State:") && l.contains('Z')) {
                break; // exited: the fields are gone
            }
            peak.rss_anon = peak.rss_anon.max(field(&status, "RssAnon:").unwrap_or(0));
            peak.vm_hwm = peak.vm_hwm.max(field(&status, "VmHWM:").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(2));
        }
        peak
    })
}

fn spawn_rate(dir: &std::path::Path, input: &str, stdin: Stdio) -> Child {
    let rates = repo().join("rates");
    Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(dir)
        .env("CDR_RATER_NOW", common::TEST_NOW)
        .args(["rate", "--rates", rates.to_str().unwrap(), "--out", "out", input])
        .stdin(stdin)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Checks the outputs of stem `stem`: the huge record rejected once with
/// its head, on line 3; the rows after it on their own lines, which count the
/// record's `inner_newlines` (quoted newlines).
fn check_outputs(dir: &std::path::Path, stem: &str, log: &str, inner_newlines: u64, filler: &[u8]) {
    assert!(
        log.contains(
            ": 5 rows, 2 rated, 1 unrated (unknown_customer 1), 2 rejected (line_too_long 1, bad_billsec 1), 0 skipped"
        ),
        "{log}"
    );
    let [rated, unrated, rejected] = common::outputs(&dir.join("out"), stem);
    let ids: Vec<&str> = rated.iter().skip(1).map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["before", "after1"], "{log}");
    let mut head = HUGE_START.to_vec();
    head.extend(filler.iter().cycle().take(HEAD_BYTES - HUGE_START.len()));
    assert_eq!(rejected.len(), 3, "two rejected rows besides the header");
    assert_eq!(rejected[1][..2], ["3", "line_too_long"]);
    assert!(rejected[1][2].as_bytes() == &head[..], "the raw field is not the record's first max_line_bytes bytes");
    // The huge record ends on line 3 + its quoted newlines; after1 is next.
    let after1 = 3 + inner_newlines + 1;
    assert_eq!(unrated[1][..2], [(after1 + 1).to_string(), "unknown_customer".to_string()]);
    assert_eq!(rejected[2][..2], [(after1 + 2).to_string(), "bad_billsec".to_string()]);
}

#[test]
fn a_300_mb_record_in_a_plain_file_is_one_rejected_head_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    let mut f = BufWriter::new(File::create(&path).unwrap());
    f.write_all(HEADER).unwrap();
    f.write_all(BEFORE).unwrap();
    f.write_all(HUGE_START).unwrap();
    // The filler is a hole: 300 MB of NUL bytes, written in no time.
    f.seek(SeekFrom::Current(FILLER_BYTES as i64)).unwrap();
    f.write_all(HUGE_END).unwrap();
    f.write_all(AFTER).unwrap();
    f.into_inner().unwrap().sync_all().unwrap();

    let child = spawn_rate(dir.path(), "huge.csv", Stdio::null());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(child.id(), stop.clone());
    let out = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    eprintln!("plain file: peak RssAnon {} MiB", peak.rss_anon >> 20);
    // The mapped file's pages are not anonymous memory; a copy of the
    // record would be.
    assert!(peak.rss_anon > 0, "no sample taken");
    assert!(peak.rss_anon < MAX_ANON_BYTES, "peak RssAnon {} MiB", peak.rss_anon >> 20);
    check_outputs(dir.path(), "huge", &log, 2, &[0]);
}

#[test]
fn a_300_mb_record_on_stdin_is_one_rejected_head_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_rate(dir.path(), "-", Stdio::piped());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(child.id(), stop.clone());
    let mut stdin = child.stdin.take().unwrap();
    // 1 MiB blocks of `x` ending in a (quoted) newline.
    let mut block = vec![b'x'; 1 << 20];
    *block.last_mut().unwrap() = b'\n';
    let blocks = FILLER_BYTES / block.len() as u64;
    let writer = std::thread::spawn(move || {
        stdin.write_all(HEADER).unwrap();
        stdin.write_all(BEFORE).unwrap();
        stdin.write_all(HUGE_START).unwrap();
        for _ in 0..blocks {
            stdin.write_all(&block).unwrap();
        }
        stdin.write_all(HUGE_END).unwrap();
        stdin.write_all(AFTER).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let peak = watcher.join().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    eprintln!("stdin: peak RssAnon {} MiB, VmHWM {} MiB", peak.rss_anon >> 20, peak.vm_hwm >> 20);
    // Nothing is mapped here: the high-water mark of all resident memory counts.
    assert!(peak.rss_anon > 0 && peak.vm_hwm > 0, "no sample taken");
    assert!(peak.rss_anon < MAX_ANON_BYTES, "peak RssAnon {} MiB", peak.rss_anon >> 20);
    assert!(peak.vm_hwm < MAX_ANON_BYTES, "peak RSS (VmHWM) {} MiB", peak.vm_hwm >> 20);
    check_outputs(dir.path(), "stdin", &log, 2 + blocks, b"x");
}
