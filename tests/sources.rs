//! Several `[[source]]`s served by one daemon: each drop folder is read with
//! its own format, timezone, numbering and default customer, and its outputs
//! go under its name.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, read_csv, repo, scrape, spawn_daemon};

const CONFIG: &str = r#"
rates = "RATES"
settle_ms = 200

[metrics]
listen = "127.0.0.1:PORT"

[[source]]
name = "pbx-ams"
incoming = "drops/ams"
format = "3cx"
timezone = "Europe/Amsterdam"
customer = "C0001"

[[source]]
name = "fs-nyc"
incoming = "drops/nyc"
format = "freeswitch"
timezone = "America/New_York"
customer = "C0002"
[source.numbering]
home_country = "US"
country_code = "1"
national_prefix = "1"
international_prefix = "011"
[source.freeswitch]
legs = "ab"

[[source]]
name = "cucm-lon"
incoming = "drops/lon"
format = "cucm"
timezone = "Europe/London"
customer = "C0003"
[source.numbering]
home_country = "GB"
country_code = "44"
technical_prefixes = ["9"]
"#;

/// One 3CX call: 09:00 Amsterdam to a Dutch national number.
const THREECX: &str = "Call 1,AMS_1,00:01:00,2026/11/24 09:00:00,2026/11/24 09:00:00,2026/11/24 09:01:00,\
TerminatedByDst,Ext.201,0201234567,201,10001,0201234567,,,,,,,,,Internal,External,External,,,,\n";

/// An a-leg and its b-leg: 09:00 New York, dialled the US way (011 = abroad,
/// 1 = national); only the a-leg is billed.
const FREESWITCH: &str = "\
\"A\",\"2125550100\",\"011442079460000\",\"default\",\"2026-11-24 09:00:00\",\"2026-11-24 09:00:00\",\"2026-11-24 09:01:00\",\"60\",\"60\",\"NORMAL_CLEARING\",\"u-1\",\"u-2\",\"\",\"PCMU\",\"PCMU\"
\"A\",\"2125550100\",\"12025550199\",\"default\",\"2026-11-24 09:00:00\",\"2026-11-24 09:00:00\",\"2026-11-24 09:01:00\",\"60\",\"60\",\"NORMAL_CLEARING\",\"u-2\",\"\",\"\",\"PCMU\",\"PCMU\"
";

/// A CUCM file: 09:00 UTC (epoch), a UK national number behind the `9`
/// outside-line prefix.
fn cucm() -> String {
    let cols = [
        "cdrRecordType",
        "globalCallID_callId",
        "pkid",
        "dateTimeOrigination",
        "callingPartyNumber",
        "originalCalledPartyNumber",
        "finalCalledPartyNumber",
        "duration",
    ];
    let names: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    let types =
        ["INTEGER", "INTEGER", "UNIQUEIDENTIFIER", "INTEGER", "VARCHAR(50)", "VARCHAR(50)", "VARCHAR(50)", "INTEGER"];
    let epoch = 1_795_510_800; // 2026-11-24T09:00:00Z
    format!(
        "{}\n{}\n1,7,\"lon-1\",{epoch},\"2001\",\"902079460000\",\"902079460000#\",60\n",
        names.join(","),
        types.join(",")
    )
}

fn drop_file(root: &Path, folder: &str, name: &str, content: &str) {
    let staged = root.join("staging").join(name);
    fs::write(&staged, content).unwrap();
    fs::rename(&staged, root.join(folder).join(name)).unwrap();
}

#[test]
fn three_sources_rate_concurrent_drops_each_with_its_own_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = free_port();
    let config = CONFIG.replace("RATES", repo().join("rates").to_str().unwrap()).replace("PORT", &port.to_string());
    fs::write(root.join("cdr-rater.toml"), config).unwrap();
    fs::create_dir_all(root.join("staging")).unwrap();
    let _daemon = spawn_daemon(root, port);

    // Same file name in all three folders, dropped at once.
    drop_file(root, "drops/ams", "cdr.csv", THREECX);
    drop_file(root, "drops/nyc", "cdr.csv", FREESWITCH);
    drop_file(root, "drops/lon", "cdr.csv", &cucm());
    for source in ["pbx-ams", "fs-nyc", "cucm-lon"] {
        let archived = root.join("spool/archive").join(source).join("cdr.csv");
        let started = Instant::now();
        while !archived.exists() {
            let log = fs::read_to_string(root.join("daemon.log")).unwrap_or_default();
            assert!(started.elapsed() < Duration::from_secs(20), "{source} not archived; log:\n{log}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    let log = fs::read_to_string(root.join("daemon.log")).unwrap();
    let rated = |source: &str| {
        let rows = read_csv(&root.join("spool/rated").join(source).join("cdr.rated.csv"));
        let header = rows[0].clone();
        let col = move |row: &Vec<String>, name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
        (rows, col)
    };

    let (rows, col) = rated("pbx-ams");
    assert_eq!(rows.len(), 2, "{rows:?}\n{log}");
    assert_eq!(col(&rows[1], "start_time"), "2026-11-24T09:00:00+01:00");
    assert_eq!(col(&rows[1], "customer_id"), "C0001");
    assert_eq!(col(&rows[1], "number"), "31201234567");

    let (rows, col) = rated("fs-nyc");
    assert_eq!(rows.len(), 2, "the b-leg is skipped: {rows:?}\n{log}");
    assert_eq!(col(&rows[1], "start_time"), "2026-11-24T09:00:00-05:00");
    assert_eq!(col(&rows[1], "customer_id"), "C0002");
    assert_eq!(col(&rows[1], "number"), "442079460000");
    assert_eq!(col(&rows[1], "country"), "GB");

    let (rows, col) = rated("cucm-lon");
    assert_eq!(rows.len(), 2, "{rows:?}\n{log}");
    assert_eq!(col(&rows[1], "start_time"), "2026-11-24T09:00:00Z");
    assert_eq!(col(&rows[1], "customer_id"), "C0003");
    assert_eq!(col(&rows[1], "number"), "442079460000");

    // Every input is accounted for per source: metrics carry the source label.
    let metrics = scrape(port).unwrap();
    for (source, rated, skipped) in [("pbx-ams", 1, 0), ("fs-nyc", 1, 1), ("cucm-lon", 1, 0)] {
        for (result, want) in [("rated", rated), ("skipped", skipped)] {
            let series = format!("cdr_rater_records_total{{result=\"{result}\",source=\"{source}\"}} {want}");
            assert!(metrics.lines().any(|l| l == series), "missing {series:?} in\n{metrics}");
        }
    }
}

#[test]
fn a_bad_source_is_refused_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, key) in [
        ("format = \"cdrx\"", "source[0] (pbx).format"),
        ("format = \"3cx\"\n[source.3cx]\nfields = [\"historyid\", \"colour\"]", "source[0] (pbx).3cx.fields"),
        (
            "format = \"custom\"\n[source.custom]\nheader = true\ncaller = \"a\"\ncallee = \"b\"\nbillsec = \"c\"\nstart = { column = \"s\", format = \"%d/%m/%Q\" }",
            "source[0] (pbx).custom.start.format",
        ),
        ("timezone = \"Mars/Olympus\"", "source[0] (pbx).timezone"),
    ] {
        let config = format!("[[source]]\nname = \"pbx\"\nincoming = \"in\"\n{bad}\n");
        fs::write(dir.path().join("c.toml"), config).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
            .current_dir(dir.path())
            .args(["run", "--allow-root", "--config", "c.toml"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains(key), "{bad}: error does not name {key}: {err}");
    }
}
