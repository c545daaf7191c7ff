//! The `cucm` and `custom` formats through the real binary: outcome counts,
//! hand-computed prices against `tests/fixtures/golden-rates/`, the shipped
//! samples, and bad `[custom]` layouts refused at start (exit code 2, the
//! key named).
//!
//! Fixture (see tests/golden.rs): W = wholesale per minute.
//! 31 NL fixed W 0.0100 1/1; 316 NL mobile W 0.0600 60/60; 32 BE W 0.0600
//! 60/1; 4420 London W 0.0300 1/1; 49 DE W 0.0600 1/1; no row for 1 (US).
//! Plan `golden` (G1, 1/1): NL fixed 0.0100 + 0.0300/min, NL mobile 0.0100 +
//! 0.1500/min, BE 0.0200 + 0.1200/min, 4420 0.0300 + 200% of W = 0.0600/min,
//! DE 0.0200 + 150% of W = 0.0900/min. Plan `minute` (M1, N1; 60/60):
//! domestic 0.0600/min. numbers.csv: 3120555 -> N1.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{cdr_rater, cdr_rater_at, outputs, repo};

fn golden_rates() -> PathBuf {
    repo().join("tests/fixtures/golden-rates")
}

/// Writes `config` and `file` into `dir`, rates `file` with `args` added.
fn rate(dir: &Path, config: &str, name: &str, content: &str, args: &[&str]) -> Output {
    fs::write(dir.join("cdr-rater.toml"), config).unwrap();
    fs::write(dir.join(name), content).unwrap();
    let rates = golden_rates();
    let mut all = vec!["rate", "--config", "cdr-rater.toml", "--rates", rates.to_str().unwrap(), "--out", "out"];
    all.extend_from_slice(args);
    all.push(name);
    // The rows are of March 2025.
    cdr_rater_at(dir, "2025-03-11T00:00:00Z", &all)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The outputs of `stem` as maps, rated rows by call id.
struct Outcome {
    header: [Vec<String>; 3],
    rated: HashMap<String, HashMap<String, String>>,
    unrated: Vec<Vec<String>>,
    rejected: Vec<Vec<String>>,
}

fn outcome(dir: &Path, stem: &str) -> Outcome {
    let [rated, unrated, rejected] = outputs(&dir.join("out"), stem);
    let names = rated[0].clone();
    let by_id = rated[1..]
        .iter()
        .map(|r| {
            let row: HashMap<String, String> = names.iter().cloned().zip(r.iter().cloned()).collect();
            (row["call_id"].clone(), row)
        })
        .collect();
    Outcome {
        header: [rated[0].clone(), unrated[0].clone(), rejected[0].clone()],
        rated: by_id,
        unrated: unrated[1..].to_vec(),
        rejected: rejected[1..].to_vec(),
    }
}

impl Outcome {
    /// Asserts the priced columns of one rated call.
    /// `want`: kind, billsec, billed_s, buy, sell, margin.
    fn priced(&self, id: &str, want: [&str; 6]) {
        let row = self.rated.get(id).unwrap_or_else(|| panic!("{id} not rated: {:?}", self.rated.keys()));
        let got = [&row["kind"], &row["billsec"], &row["billed_s"], &row["buy"], &row["sell"], &row["margin"]];
        assert_eq!(got, want, "{id}: {row:?}");
    }

    fn reasons(rows: &[Vec<String>]) -> Vec<(String, String)> {
        rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect()
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

// ---------------------------------------------------------------- cucm

/// A CUCM header: the columns the parser uses among 22 others, in CUCM order.
const CUCM_COLUMNS: [(&str, &str); 28] = [
    ("cdrRecordType", "INTEGER"),
    ("globalCallID_callManagerId", "INTEGER"),
    ("globalCallID_callId", "INTEGER"),
    ("origLegCallIdentifier", "INTEGER"),
    ("dateTimeOrigination", "INTEGER"),
    ("origNodeId", "INTEGER"),
    ("origSpan", "INTEGER"),
    ("origIpAddr", "INTEGER"),
    ("callingPartyNumber", "VARCHAR(50)"),
    ("callingPartyUnicodeLoginUserID", "VARCHAR(128)"),
    ("origCause_location", "INTEGER"),
    ("origCause_value", "INTEGER"),
    ("destLegIdentifier", "INTEGER"),
    ("destNodeId", "INTEGER"),
    ("originalCalledPartyNumber", "VARCHAR(50)"),
    ("finalCalledPartyNumber", "VARCHAR(50)"),
    ("destCause_location", "INTEGER"),
    ("destCause_value", "INTEGER"),
    ("dateTimeConnect", "INTEGER"),
    ("dateTimeDisconnect", "INTEGER"),
    ("lastRedirectDn", "VARCHAR(50)"),
    ("pkid", "UNIQUEIDENTIFIER"),
    ("originalCalledPartyNumberPartition", "VARCHAR(50)"),
    ("callingPartyNumberPartition", "VARCHAR(50)"),
    ("finalCalledPartyNumberPartition", "VARCHAR(50)"),
    ("duration", "INTEGER"),
    ("origDeviceName", "VARCHAR(129)"),
    ("destDeviceName", "VARCHAR(129)"),
];

/// 2025-03-10 10:00:00 UTC.
const T0: u64 = 1_741_600_800;

/// One CUCM row: record type, pkid, origination, calling, original, final,
/// duration (connect/disconnect follow from it).
fn cucm_row(rt: u8, pkid: &str, orig: u64, calling: &str, original: &str, fin: &str, duration: &str) -> String {
    let secs: u64 = duration.parse().unwrap_or(0);
    let (connect, disconnect) = if secs > 0 { (orig + 5, orig + 5 + secs) } else { (0, orig + 20) };
    format!(
        "{rt},1,4711,17001,{orig},1,0,-1062731519,\"{calling}\",\"\",0,16,17002,1,\"{original}\",\"{fin}\",0,0,\
         {connect},{disconnect},\"\",\"{pkid}\",\"PT_National\",\"PT_Internal\",\"PT_National\",{duration},\
         \"SEP00AA11BB22C01\",\"SIPTrunk-KPN\""
    )
}

fn cucm_file(rows: &[String]) -> String {
    let names: Vec<String> = CUCM_COLUMNS.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let types: Vec<&str> = CUCM_COLUMNS.iter().map(|(_, t)| *t).collect();
    let mut s = format!("{}\n{}\n", names.join(","), types.join(","));
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

#[test]
fn a_cucm_file_without_its_types_line_is_refused_not_half_rated() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        cucm_row(1, "c-01", T0, "1001", "0201234567", "0201234567", "125"),
        cucm_row(1, "c-02", T0 + 60, "1002", "0201234567", "0201234567", "61"),
    ];
    let full = cucm_file(&rows);
    // Drop line 2 (the types): c-01 would be taken for it and lost.
    let mut lines: Vec<&str> = full.lines().collect();
    lines.remove(1);
    let cut = lines.join("\n") + "\n";
    let out = rate(dir.path(), "", "cut", &cut, &["--format", "cucm", "--customer", "G1"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("line 2 is not CUCM's line of column types"), "{log}");
    assert!(!dir.path().join("out/rated/cut.rated.csv").exists(), "{log}");
}

#[test]
fn cucm_rates_call_records_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        cucm_row(1, "c-01", T0, "1001", "0201234567", "0201234567", "125"), // line 3
        cucm_row(1, "c-02", T0 + 60, "1002#", "0612345678#", "0612345678#", "61"), // 4: overlap-dialled
        cucm_row(1, "c-03", T0 + 120, "1003", "0201234567", "+442071234567", "90"), // 5: forwarded
        cucm_row(1, "c-04", T0 + 180, "1004", "003221234567", "", "30"),    // 6: no final number
        cucm_row(1, "c-05", T0 + 240, "1001", "0201234567", "0201234567", "0"), // 7: not answered
        cucm_row(0, "c-06", T0 + 300, "1001", "0201234567", "0201234567", "0"), // 8: start record
        cucm_row(1, "c-07", T0 + 360, "1002", "1005", "1005", "35"),        // 9: internal
        "2,1,4712,17003,\"SEP00AA11BB22C01\",\"MOS=4.4\"".to_string(),      // 10: a CMR
        cucm_row(1, "c-09", T0 + 480, "1001", "+12125550100", "+12125550100", "60"), // 11: no tariff
        cucm_row(1, "c-10", 0, "1001", "0201234567", "0201234567", "60"),   // 12: origination 0
        cucm_row(1, "c-11", T0 + 600, "1001", "bob@example.com", "bob@example.com", "60"), // 13: URI
    ];
    let out = rate(
        dir.path(),
        "",
        "cdr_StandAloneCluster_01_202503101000_1",
        &cucm_file(&rows),
        &["--format", "cucm", "--customer", "G1"],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("11 rows, 6 rated, 1 unrated (no_tariff 1), 2 rejected (bad_start_time 1, bad_callee 1), 2 skipped (record_type 2)"), "{log}");
    let o = outcome(dir.path(), "cdr_StandAloneCluster_01_202503101000_1");
    assert_eq!(o.rated.len(), 6);
    // 0.0100 + 0.0300 x 125/60 = 0.0725; buy 0.0100 x 125/60 = 0.0208.
    o.priced("c-01", ["fixed", "125", "125", "0.0208", "0.0725", "0.0517"]);
    // `#` dropped: 0.0100 + 0.1500 x 61/60 = 0.1625; buy 60/60: 0.0600 x 2 = 0.1200.
    o.priced("c-02", ["mobile", "61", "61", "0.1200", "0.1625", "0.0425"]);
    // The final (forwarded-to) number: London, 0.0300 + 0.0600 x 90/60 = 0.1200; buy 0.0300 x 1.5 = 0.0450.
    o.priced("c-03", ["fixed", "90", "90", "0.0450", "0.1200", "0.0750"]);
    // The original number when the final one is empty: BE, 0.0200 + 0.1200 x 30/60 = 0.0800;
    // buy 60/1: 0.0600 x 60/60 = 0.0600.
    o.priced("c-04", ["fixed", "30", "30", "0.0600", "0.0800", "0.0200"]);
    o.priced("c-05", ["fixed", "0", "0", "0.0000", "0.0000", "0.0000"]);
    o.priced("c-07", ["internal", "35", "0", "0.0000", "0.0000", "0.0000"]);
    let c01 = &o.rated["c-01"];
    assert_eq!(c01["start_time"], "2025-03-10T10:00:00Z");
    assert_eq!(
        (c01["customer_id"].as_str(), c01["caller"].as_str(), c01["number"].as_str()),
        ("G1", "1001", "31201234567")
    );
    let c02 = &o.rated["c-02"];
    assert_eq!((c02["caller"].as_str(), c02["callee"].as_str()), ("1002", "0612345678"));
    assert_eq!(o.rated["c-03"]["destination"], "United Kingdom - London");
    assert_eq!(o.rated["c-04"]["number"], "3221234567");
    assert_eq!(Outcome::reasons(&o.unrated), pairs(&[("11", "no_tariff")]));
    assert_eq!(Outcome::reasons(&o.rejected), pairs(&[("12", "bad_start_time"), ("13", "bad_callee")]));
    // The unrated file repeats the CUCM column names.
    assert_eq!(&o.header[1][..4], ["line", "reason", "cdrRecordType", "globalCallID_callManagerId"]);
    assert_eq!(o.header[1].len(), 2 + CUCM_COLUMNS.len());
    assert_eq!(o.unrated[0][2..].len(), CUCM_COLUMNS.len());
}

#[test]
fn cucm_without_pkid_uses_the_global_call_id_and_missing_columns_fail_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = "\"cdrRecordType\",\"globalCallID_callId\",\"dateTimeOrigination\",\"callingPartyNumber\",\
                \"finalCalledPartyNumber\",\"duration\"\nINTEGER,INTEGER,INTEGER,VARCHAR(50),VARCHAR(50),INTEGER\n\
                1,90001,1741600800,\"1001\",\"0201234567\",60\n";
    let out = rate(dir.path(), "", "cdr_a", file, &["--format", "cucm", "--customer", "G1"]);
    assert!(out.status.success(), "{}", text(&out));
    let o = outcome(dir.path(), "cdr_a");
    // 0.0100 + 0.0300 = 0.0400.
    o.priced("90001", ["fixed", "60", "60", "0.0100", "0.0400", "0.0300"]);

    let file = "\"cdrRecordType\",\"pkid\",\"dateTimeOrigination\",\"callingPartyNumber\",\"duration\"\n\
                INTEGER,UNIQUEIDENTIFIER,INTEGER,VARCHAR(50),INTEGER\n1,\"p\",1741600800,\"1001\",60\n";
    let out = rate(dir.path(), "", "cdr_b", file, &["--format", "cucm", "--customer", "G1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("header lacks required column(s): finalCalledPartyNumber"), "{}", text(&out));
}

#[test]
fn cucm_sample_rates_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let sample = repo().join("samples/cucm/cdr_StandAloneCluster_01_202611240900_1234");
    let rates = repo().join("rates");
    let out = cdr_rater(
        &repo(),
        &[
            "rate",
            "--rates",
            rates.to_str().unwrap(),
            "--format",
            "cucm",
            "--customer",
            "C0001",
            "--out",
            out_dir,
            sample.to_str().unwrap(),
        ],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("14 rows, 11 rated, 0 unrated, 1 rejected (bad_callee 1), 2 skipped (record_type 2)"),
        "{log}"
    );
}

// ---------------------------------------------------------------- custom

const LAYOUT_A: &str = r#"
[custom]
delimiter = ";"
timezone = "UTC"
call_id = "uuid"
start = { column = "begin", format = "%d.%m.%Y %H:%M:%S" }
account = "acct"
caller = "src"
callee = "dst"
billsec = "secs"
disposition = "status"
skip = [ { column = "direction", equals = "inbound" } ]
"#;

#[test]
fn custom_layout_with_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let file = "\u{feff}uuid;direction;begin;acct;src;dst;secs;status\n\
        c1;outbound;10.03.2025 09:00:00;G1;0201111111;0201234567;60;ANSWERED\n\
        c2;outbound;10.03.2025 09:01:00;M1;0201111111;06-12345678;61;ANSWERED\n\
        c3;inbound;10.03.2025 09:02:00;;0612345678;0201111111;300;ANSWERED\n\
        c4;outbound;10.03.2025 09:03:00;G1;0201111111;+49 30 1234567;100;ANSWERED\n\
        c5;outbound;10.03.2025 09:04:00;;0205559876;0201234567;30;ANSWERED\n\
        c6;outbound;10.03.2025 09:05:00;ZZ;0201111111;0201234567;30;ANSWERED\n\
        c7;outbound;32.03.2025 09:06:00;G1;0201111111;0201234567;30;ANSWERED\n\
        c8;outbound;10.03.2025 09:07:00;G1;0201111111;0201234567;30\n";
    let out = rate(dir.path(), LAYOUT_A, "pbx.csv", file, &["--format", "custom"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("8 rows, 4 rated, 1 unrated (unknown_customer 1), 2 rejected (field_count 1, bad_start_time 1), 1 skipped (skip_rule 1)"), "{log}");
    let o = outcome(dir.path(), "pbx");
    // 0.0100 + 0.0300 x 60/60 = 0.0400; buy 0.0100.
    o.priced("c1", ["fixed", "60", "60", "0.0100", "0.0400", "0.0300"]);
    // Plan minute (60/60): 120 s x 0.0600/60 = 0.1200; buy 60/60 0.1200.
    o.priced("c2", ["mobile", "61", "120", "0.1200", "0.1200", "0.0000"]);
    // DE: 0.0200 + 0.0900 x 100/60 = 0.1700; buy 0.0600 x 100/60 = 0.1000.
    o.priced("c4", ["fixed", "100", "100", "0.1000", "0.1700", "0.0700"]);
    // No account: numbers.csv puts caller 0205559876 (3120555, not 312055512) at N1 (minute):
    // 60 s x 0.0600/60 = 0.0600;
    // buy 0.0100 x 30/60 = 0.0050.
    o.priced("c5", ["fixed", "30", "60", "0.0050", "0.0600", "0.0550"]);
    assert_eq!(o.rated["c5"]["customer_id"], "N1");
    // timezone = "UTC" in the layout beats the configured Europe/Amsterdam.
    assert_eq!(o.rated["c1"]["start_time"], "2025-03-10T09:00:00Z");
    assert_eq!(Outcome::reasons(&o.unrated), pairs(&[("7", "unknown_customer")]));
    assert_eq!(Outcome::reasons(&o.rejected), pairs(&[("8", "bad_start_time"), ("9", "field_count")]));
    // The unrated file repeats the file's own header line (without the BOM).
    assert_eq!(o.header[1], ["line", "reason", "uuid;direction;begin;acct;src;dst;secs;status"]);
}

#[test]
fn commas_inside_fields_of_a_semicolon_layout_stay_valid_csv_in_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let file = "uuid;direction;begin;acct;src;dst;secs;status\n\
        c,1;outbound;10.03.2025 09:00:00;G1;0201111111, desk;0201234567;60;ANSWERED\n";
    let out = rate(dir.path(), LAYOUT_A, "commas.csv", file, &["--format", "custom"]);
    assert!(out.status.success(), "{}", text(&out));
    let o = outcome(dir.path(), "commas");
    let row = &o.rated["c,1"];
    assert_eq!(row.len(), o.header[0].len(), "{row:?}");
    assert_eq!(row["caller"], "0201111111, desk");
    assert_eq!(row["sell"], "0.0400");
}

#[test]
fn custom_layout_without_a_header_in_epoch_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[custom]
header = false
start = { column = 0, format = "%s" }
caller = 1
callee = 2
answer = { column = 3, format = "%s" }
end = { column = 4, format = "%s" }
disposition = 5
skip = [ { column = 5, equals = "TEST" } ]
"#;
    let file = "1741600800,1001,0201234567,1741600805,1741600925,ANSWERED\n\
                1741600900,1001,0201234567,,1741600930,NO ANSWER\n\
                1741601000,1001,0201234567,0,0,FAILED\n\
                1741601100,1001,+12125550100,1741601105,1741601165,ANSWERED\n\
                1741601200,1001,0201234567,1741601260,1741601205,ANSWERED\n\
                1741601300,1001,0201234567,1741601305,1741601310,TEST\n";
    let out = rate(dir.path(), config, "epoch.csv", file, &["--format", "custom", "--customer", "G1"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("6 rows, 3 rated, 1 unrated (no_tariff 1), 1 rejected (bad_billsec 1), 1 skipped (skip_rule 1)"),
        "{log}"
    );
    let o = outcome(dir.path(), "epoch");
    // No call_id column: FILE:LINE. billsec = end - answer = 120: 0.0100 + 0.0300 x 2 = 0.0700; buy 0.0200.
    o.priced("epoch.csv:1", ["fixed", "120", "120", "0.0200", "0.0700", "0.0500"]);
    assert_eq!(o.rated["epoch.csv:1"]["start_time"], "2025-03-10T10:00:00Z");
    // Not answered (empty, or 0 in epoch seconds): billsec 0.
    o.priced("epoch.csv:2", ["fixed", "0", "0", "0.0000", "0.0000", "0.0000"]);
    o.priced("epoch.csv:3", ["fixed", "0", "0", "0.0000", "0.0000", "0.0000"]);
    assert_eq!(Outcome::reasons(&o.unrated), pairs(&[("4", "no_tariff")]));
    assert_eq!(Outcome::reasons(&o.rejected), pairs(&[("5", "bad_billsec")]));
    // A headerless layout names its columns for the unrated file.
    assert_eq!(o.header[1], ["line", "reason", "start", "caller", "callee", "answer", "end", "disposition"]);
}

#[test]
fn custom_sample_rates_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("samples/custom/cdr-rater.toml");
    let sample = repo().join("samples/custom/calls-2026-11-24.csv");
    let out = cdr_rater(
        &repo(),
        &[
            "rate",
            "--config",
            config.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
            sample.to_str().unwrap(),
        ],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("16 rows, 10 rated, 1 unrated (unknown_customer 1), 3 rejected (bad_start_time 1, bad_billsec 1, bad_callee 1), 2 skipped (skip_rule 2)"), "{log}");
    let [_, unrated, rejected] = outputs(dir.path(), "calls-2026-11-24");
    let reasons: Vec<(&str, &str)> = rejected[1..].iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(reasons, [("13", "bad_start_time"), ("14", "bad_billsec"), ("17", "bad_callee")]);
    assert_eq!((unrated[1][0].as_str(), unrated[1][1].as_str()), ("11", "unknown_customer"));
}

// ---------------------------------------------------------------- bad layouts

fn refused(config: &str, format: &str, want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = rate(dir.path(), config, "x.csv", "a,b,c\n", &["--format", format]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{config}\n{log}");
    for w in want {
        assert!(log.contains(w), "missing {w:?} in {log}");
    }
    // Nothing was rated.
    assert!(!dir.path().join("out/rated/x.rated.csv").exists());
}

#[test]
fn bad_custom_layouts_are_refused_naming_the_key() {
    // A column name without a header.
    refused(
        "[custom]\nheader = false\ncaller = 0\ncallee = \"dst\"\nstart = 2\nbillsec = 3\n",
        "custom",
        &["custom.callee: a column name (\"dst\") needs header = true"],
    );
    // An unsupported time directive.
    refused(
        "[custom]\ncaller = 0\ncallee = 1\nstart = { column = 2, format = \"%d.%m.%Y %H:%M:%Q\" }\nbillsec = 3\n",
        "custom",
        &["custom.start.format: unsupported directive %Q"],
    );
    // An unknown zone, and every other problem in the same message.
    refused(
        "[custom]\ntimezone = \"Mars/Olympus\"\ndelimiter = \"||\"\ncaller = 0\nstart = 2\n",
        "custom",
        &[
            "custom.timezone: unknown time zone \"Mars/Olympus\"",
            "custom.delimiter: must be one ASCII character",
            "custom.callee: missing",
            "custom.billsec: missing",
        ],
    );
    // A layout is checked even when the format in use is another one.
    refused("[custom]\ncaller = 0\ncallee = 1\nstart = 2\nanswer = 3\n", "cucm", &["custom.end: missing"]);
    // An unknown key (TOML level: with its line).
    refused("[custom]\ncaller = 0\ncallee = 1\nstart = 2\nbillsecs = 3\n", "custom", &["cdr-rater.toml:5", "billsecs"]);
    // A source's own layout names the source.
    refused(
        "[[source]]\nname = \"pbx\"\nincoming = \"in\"\nformat = \"custom\"\n[source.custom]\ncaller = 0\ncallee = 1\n\
         start = { column = 2, format = \"%F %T %Z\" }\nbillsec = 3\n",
        "generic",
        &["source[0] (pbx).custom.start.format: unsupported directive %Z"],
    );
    // The custom format needs a layout at all.
    refused("", "custom", &["needs a [custom] layout"]);
}
