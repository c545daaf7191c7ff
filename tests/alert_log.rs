//! The IDS alert log on a really full file system: a failed append leaves
//! no torn line, and the retry logs every alert exactly once.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

mod common;

use cdr_rater::alerts::AlertLog;
use cdr_rater::ids::Alert;
use common::tmpfs::Tmpfs;

fn alert(id: &str) -> Alert {
    serde_json::from_value(serde_json::json!({
        "type": "ids_threshold", "alert_id": id, "customer_id": "C0001", "customer_name": "Acme",
        "day": "2026-11-25", "spend": "123.4500", "baseline": "10.0000", "range": "50.0000",
        "threshold": "60.0000", "level_threshold": "110.0000", "level": 2, "currency": "EUR", "calls": 321,
        "trigger_call_id": "call-0000000000000000000000000000000000000000", "file": "traffic-2026-11-25.csv",
        "top_destinations": [{"country": "NL", "spend": "100.0000"}, {"country": "DE", "spend": "23.4500"}],
        "emitted_at": "2026-11-25T12:00:00Z", "warm_up": false, "late": false
    }))
    .expect("alert JSON")
}

/// Every line of the log is a complete alert; returns their ids in order.
fn complete_ids(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "the log ends in a torn line");
    text.lines()
        .map(|l| serde_json::from_str::<Alert>(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}")).alert_id)
        .collect()
}

#[test]
fn a_full_disk_never_tears_a_line_and_the_retry_logs_each_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_fs) = Tmpfs::mount(dir.path(), "64k") else { return };
    let log = AlertLog::new(dir.path().join("alerts.jsonl"), Vec::new(), Duration::ZERO);

    // Fill the file system, then free two pages for the log.
    let filler_path = dir.path().join("filler");
    let mut filler = fs::File::create(&filler_path).unwrap();
    let mut filled = 0u64;
    loop {
        match filler.write(&[0u8; 1024]) {
            Ok(n) => filled += n as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    filler.set_len(filled - 8192).unwrap();
    filler.sync_all().unwrap();

    // Batches of 5 alerts (~2.4 KB) until one does not fit: its write fails
    // after part of it went into the last free page.
    let mut batches: Vec<Vec<String>> = Vec::new();
    let failed = loop {
        let n = batches.len();
        let ids: Vec<String> = (0..5).map(|i| format!("C0001/2026-11-25/{}", n * 5 + i)).collect();
        let alerts: Vec<Alert> = ids.iter().map(|id| alert(id)).collect();
        let before = fs::metadata(&log.path).map_or(0, |m| m.len());
        batches.push(ids);
        match log.append(&alerts) {
            Ok(()) => assert!(batches.len() < 10, "the file system never filled"),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                assert_eq!(fs::metadata(&log.path).unwrap().len(), before, "the failed append was not cut back");
                break alerts;
            }
        }
    };
    assert!(batches.len() > 1, "even the first append failed: the test filled too much");
    let logged = complete_ids(&log.path);
    assert_eq!(logged.len(), (batches.len() - 1) * 5);

    // The caller's retry, once space is back: what is not logged yet.
    drop(filler);
    fs::remove_file(&filler_path).unwrap();
    let already = log.logged_ids().unwrap();
    let fresh: Vec<Alert> = failed.into_iter().filter(|a| !already.contains(&a.alert_id)).collect();
    assert_eq!(fresh.len(), 5);
    log.append(&fresh).unwrap();
    log.append(&[alert("C0001/2026-11-25/last")]).unwrap();

    let ids = complete_ids(&log.path);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an alert is logged twice");
    let mut expected: Vec<String> = batches.concat();
    expected.push("C0001/2026-11-25/last".into());
    assert_eq!(ids, expected);
}
