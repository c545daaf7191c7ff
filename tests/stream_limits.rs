//! A streamed input (stdin, `.gz`, `.zst`) in which no record ends for more
//! than the window's 64 MiB: the window is cut so memory stays bounded, the
//! pieces are rejected as `line_too_long`, and the rows around them are
//! rated. Its own test binary: the peak memory of children is per process.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::repo;

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";

#[test]
fn a_200_mib_line_on_stdin_is_cut_rejected_and_the_rows_around_it_are_rated() {
    let dir = tempfile::tempdir().unwrap();
    let rates = repo().join("rates");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(dir.path())
        .env("CDR_RATER_NOW", common::TEST_NOW)
        .args(["rate", "--rates", rates.to_str().unwrap(), "--out", "out", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(HEADER.as_bytes()).unwrap();
        stdin.write_all(b"before,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n").unwrap();
        let block = vec![b'x'; 1 << 20];
        for _ in 0..200 {
            stdin.write_all(&block).unwrap();
        }
        stdin.write_all(b"\nafter,2026-11-24T11:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n").unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");

    let rated = std::fs::read_to_string(dir.path().join("out/rated/stdin.rated.csv")).unwrap();
    let ids: Vec<&str> = rated.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids, ["before", "after"], "{log}");
    // 200 MiB in pieces of at most 64 MiB: four rejected rows, nothing lost.
    assert!(log.contains("6 rows, 2 rated, 0 unrated, 4 rejected"), "{log}");
    let rejected = std::fs::File::open(dir.path().join("out/rejected/stdin.rejected.csv")).unwrap();
    let mut reasons = Vec::new();
    let mut r = std::io::BufReader::new(rejected);
    let mut line = Vec::new();
    while std::io::BufRead::read_until(&mut r, b'\n', &mut line).unwrap() > 0 {
        reasons.push(String::from_utf8_lossy(&line[..line.len().min(20)]).into_owned());
        line.clear();
    }
    // All of line 3: three window-sized pieces too long to be a row, and the
    // short tail up to the newline, read as an ordinary (one-field) row.
    assert_eq!(
        reasons,
        [
            "line,reason,raw\n",
            "3,line_too_long,xxxx",
            "3,line_too_long,xxxx",
            "3,line_too_long,xxxx",
            "3,field_count,xxxxxx"
        ]
    );

    // Peak memory of the child (kilobytes on Linux): bounded by the window and
    // the rejected piece in hand, not by the 200 MiB line.
    // SAFETY: getrusage writes into the struct we pass; RUSAGE_CHILDREN covers
    // the children this test binary has waited for (only this one).
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss
    };
    // Unbounded, the 200 MiB line and its rejected copy alone would be 400 MiB.
    assert!(peak_kib < 300 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("peak RSS of `rate` on the 200 MiB line: {} MiB", peak_kib / 1024);
}
