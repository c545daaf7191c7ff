//! Bad rows and bad files through the real binary: every row lands in
//! exactly one output, with its line and reason; whole-file problems are
//! refused with a clear message.

mod common;

use std::fs;
use std::io::Write;

use common::{cdr_rater, outputs, repo};

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";
const GOOD: &str = "ok-1,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED\n";

fn rate(dir: &std::path::Path, name: &str, content: &[u8], extra: &[&str]) -> std::process::Output {
    fs::write(dir.join(name), content).unwrap();
    let rates = repo().join("rates");
    let mut args = vec!["rate", "--rates", rates.to_str().unwrap(), "--out", "out"];
    args.extend_from_slice(extra);
    args.push(name);
    cdr_rater(dir, &args)
}

#[test]
fn every_bad_row_is_rejected_with_line_and_reason_and_good_rows_are_rated() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = Vec::new();
    input.extend_from_slice(HEADER.as_bytes());
    input.extend_from_slice(GOOD.as_bytes()); // line 2
    input.extend_from_slice(b"r3,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60\n"); // field count
    input.extend_from_slice(b"r4,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,sixty,ANSWERED\n");
    input.extend_from_slice(b"r5,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,-5,ANSWERED\n");
    input.extend_from_slice(b"r6,2026-02-30 10:00:00,C0001,0201234501,0201234567,60,ANSWERED\n");
    input.extend_from_slice(b"r7,2026-11-24T10:00:00+01:00,C0001,0201234501,020ABC4567,60,ANSWERED\n");
    input.extend_from_slice(b"r8,2026-11-24T10:00:00+01:00,C0001,0201234501,,60,ANSWERED\n");
    input.extend_from_slice(b"r9,2026-11-24T10:00:00+01:00,C0001,0201234501,020\xff1234567,60,ANSWERED\n");
    // Invalid UTF-8 in a field rating does not use: rated.
    input.extend_from_slice(b"r10,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,ANS\xffWERED\n");
    // A 1 MB line.
    input.extend_from_slice(b"r11,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,");
    input.extend(std::iter::repeat_n(b'x', 1 << 20));
    input.push(b'\n');
    input.extend_from_slice(b"r12,2026-11-24T10:00:00+01:00,C0001,0201234501,+1234567890123456,60,ANSWERED\n");
    input.extend_from_slice(GOOD.replace("ok-1", "ok-13").as_bytes());
    let out = rate(dir.path(), "bad.csv", &input, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let [rated, unrated, rejected] = outputs(&dir.path().join("out"), "bad");
    let ids: Vec<&str> = rated[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["ok-1", "r10", "ok-13"]);
    assert_eq!(unrated.len(), 1, "header only");
    let got: Vec<(&str, &str)> = rejected[1..].iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        got,
        [
            ("3", "field_count"),
            ("4", "bad_billsec"),
            ("5", "bad_billsec"),
            ("6", "bad_start_time"),
            ("7", "bad_callee"),
            ("8", "empty_callee"),
            ("9", "invalid_utf8"),
            ("11", "line_too_long"),
            ("12", "callee_too_long"),
        ]
    );
    // The raw row is kept whole, except a line too long: only its first
    // `max_line_bytes` (65536 by default) bytes.
    assert_eq!(rejected[8][2].len(), 65536);
    assert!(rejected[8][2].starts_with("r11,2026-11-24T10:00:00+01:00,") && rejected[8][2].ends_with("xxx"));
    assert!(rejected[1][2].starts_with("r3,"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("12 rows, 3 rated, 0 unrated, 9 rejected ("), "{stderr}");
}

#[test]
fn empty_and_header_only_files_give_empty_outputs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [("empty.csv", ""), ("header.csv", HEADER)] {
        let out = rate(dir.path(), name, content.as_bytes(), &[]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let stem = name.trim_end_matches(".csv");
        let [rated, unrated, rejected] = outputs(&dir.path().join("out"), stem);
        assert_eq!((rated.len(), unrated.len(), rejected.len()), (1, 1, 1), "{name}: headers only");
        assert_eq!(rated[0][0], "call_id");
    }
}

#[test]
fn a_generic_file_without_the_required_columns_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = rate(dir.path(), "cols.csv", b"call_id,start,account,caller,called,billsec\nx,y,z,a,b,c\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("start_time") && stderr.contains("callee"), "{stderr}");
    assert!(!stderr.contains("call_id,"), "{stderr}");
    // Nothing published, no temp files left.
    for k in ["rated", "unrated", "rejected"] {
        assert_eq!(fs::read_dir(dir.path().join("out").join(k)).unwrap().count(), 0, "{k}");
    }
}

#[test]
fn columns_are_found_by_name_in_any_order_with_extra_columns() {
    let dir = tempfile::tempdir().unwrap();
    let content = "billsec,extra,callee,caller,account,start_time,call_id\n60,\"x,y\",0201234567,0201234501,C0001,2026-11-24 10:00:00,id-1\n";
    let out = rate(dir.path(), "order.csv", content.as_bytes(), &[]);
    assert!(out.status.success());
    let [rated, ..] = outputs(&dir.path().join("out"), "order");
    assert_eq!(rated[1][0], "id-1");
    assert_eq!(rated[1][1], "2026-11-24T10:00:00+01:00");
}

#[test]
fn quoted_fields_with_newlines_and_crlf_are_one_row_each() {
    let dir = tempfile::tempdir().unwrap();
    let content = format!(
        "{}\"id\n1\",2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,\"ANS\nWERED\"\r\nid-2,2026-11-24T10:00:00+01:00,C0001,\"0201234501\",\"020 123 4567\",61,ANSWERED\r\n\r\n",
        HEADER
    );
    let out = rate(dir.path(), "quoted.csv", content.as_bytes(), &["--chunk-bytes", "7"]);
    assert!(out.status.success());
    let [rated, _, rejected] = outputs(&dir.path().join("out"), "quoted");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rated[1][0], "id\n1");
    assert_eq!(rated[2][5], "020 123 4567");
}

#[test]
fn gzip_and_stdin_inputs_are_rated_like_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    let plain = fs::read(repo().join("samples/generic.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let out = rate(dir.path(), "plain.csv", &plain, &[]);
    assert!(out.status.success());
    let out = rate(dir.path(), "packed.csv.gz", &gz.finish().unwrap(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a = outputs(&dir.path().join("out"), "plain");
    let b = outputs(&dir.path().join("out"), "packed");
    assert_eq!(a, b);
    assert!(a[0].len() > 10);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(dir.path())
        .args(["rate", "--rates", repo().join("rates").to_str().unwrap(), "--out", "out", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&plain).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(outputs(&dir.path().join("out"), "stdin"), a);
}

#[test]
fn a_corrupt_gzip_file_fails_without_publishing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = rate(dir.path(), "broken.csv.gz", b"\x1f\x8b\x08\x00garbage", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.csv.gz"));
    assert_eq!(fs::read_dir(dir.path().join("out/rated")).unwrap().count(), 0);
}

#[test]
fn a_reused_input_name_never_overwrites_earlier_outputs() {
    let dir = tempfile::tempdir().unwrap();
    rate(dir.path(), "Master.csv", format!("{HEADER}{GOOD}").as_bytes(), &[]);
    let second = format!("{HEADER}{}", GOOD.replace("ok-1", "ok-2"));
    let out = rate(dir.path(), "Master.csv", second.as_bytes(), &[]);
    assert!(out.status.success());
    let rated = dir.path().join("out/rated");
    assert!(fs::read_to_string(rated.join("Master.rated.csv")).unwrap().contains("ok-1"));
    assert!(fs::read_to_string(rated.join("Master.2.rated.csv")).unwrap().contains("ok-2"));
}

#[test]
fn asterisk_rows_without_uniqueid_get_file_line_ids() {
    let dir = tempfile::tempdir().unwrap();
    let row16 = "\"C0001\",\"0201234501\",\"0201234567\",\"from-internal\",\"\",\"SIP/1-0\",\"SIP/2-0\",\"Dial\",\"x\",\"2026-11-24 10:00:00\",\"2026-11-24 10:00:05\",\"2026-11-24 10:01:05\",65,60,\"ANSWERED\",\"DOCUMENTATION\"\n";
    let row21 =
        row16.replace("\"DOCUMENTATION\"\n", "\"DOCUMENTATION\",\"1764000000.1\",\"\",\"\",\"1764000000.1\",7\n");
    let bad = "\"C0001\",\"0201234501\"\n";
    let out = rate(dir.path(), "Master.csv", format!("{row16}{row21}{bad}").as_bytes(), &["--format", "asterisk"]);
    assert!(out.status.success());
    let [rated, _, rejected] = outputs(&dir.path().join("out"), "Master");
    assert_eq!(rated[1][0], "Master.csv:1");
    assert_eq!(rated[2][0], "1764000000.1");
    assert_eq!((rejected[1][0].as_str(), rejected[1][1].as_str()), ("3", "field_count"));
}

#[test]
fn bad_usage_and_bad_tables_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = rate(dir.path(), "x.csv", GOOD.as_bytes(), &["--format", "cisco"]);
    assert_eq!(out.status.code(), Some(2));
    let out = rate(dir.path(), "x.csv", GOOD.as_bytes(), &["--customer", "NOPE"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cdr_rater(dir.path(), &["rate", "--rates", "missing", "x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cdr_rater(dir.path(), &["rate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cdr_rater(dir.path(), &["rate", "--rates", repo().join("rates").to_str().unwrap(), "nofile.csv"]);
    assert_eq!(out.status.code(), Some(1));
}
