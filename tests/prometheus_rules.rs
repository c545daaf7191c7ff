//! The shipped alert rules on a real Prometheus server scraping a real
//! daemon: a runaway day dropped into the spool makes `CdrRaterIdsAlert`
//! (levels 1 and 2) and `CdrRaterIdsRunaway` (level 3) fire; a burst of
//! calls and a satellite call make `CdrRaterFraudAlert` and
//! `CdrRaterFraudSpend` fire. Everything on loopback, Prometheus with its own
//! data folder, scraping and evaluating every second. Without `prometheus`
//! on PATH: a failure under CI, else a skip.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{free_port, repo, tool, wait_for, Running};

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0: no chunked body); the body.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_string())
}

/// Prometheus's active alerts: (alert name, level label, state).
fn alerts(port: u16) -> Vec<(String, String, String)> {
    labelled(port, "level")
}

/// Prometheus's active alerts: (alert name, the value of `label`, state).
fn labelled(port: u16, label_name: &str) -> Vec<(String, String, String)> {
    let Some(body) = get(port, "/api/v1/alerts") else { return Vec::new() };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let label = |a: &serde_json::Value, k: &str| a["labels"][k].as_str().unwrap_or_default().to_string();
    let mut out: Vec<(String, String, String)> = v["data"]["alerts"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|a| (label(a, "alertname"), label(a, label_name), a["state"].as_str().unwrap_or_default().into()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A Prometheus server with the shipped rules scraping `d`; its port and
/// a reader of its log.
fn start_prometheus(prometheus: &std::path::Path, d: &Daemon) -> (Running, u16, std::path::PathBuf) {
    let dir = d.path("prometheus");
    fs::create_dir_all(&dir).unwrap();
    let rules = repo().join("systemd/cdr-rater.rules.yml");
    fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: cdr-rater\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
            rules.display(),
            d.port
        ),
    )
    .unwrap();
    let port = free_port();
    let log = fs::File::create(dir.join("prometheus.log")).unwrap();
    let server = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    (server, port, dir.join("prometheus.log"))
}

#[test]
fn a_runaway_day_fires_the_shipped_ids_rules_on_a_real_prometheus() {
    let Some(prometheus) = tool("prometheus") else { return };
    let started = Instant::now();
    let mut d = Daemon::new();
    d.start();
    let (_server, port, log) = start_prometheus(&prometheus, &d);
    let server_log = || fs::read_to_string(&log).unwrap_or_default();
    // The rules are loaded, and the counters scraped at 0 before any alert.
    wait_for("Prometheus to load the rules", Duration::from_secs(20), || {
        get(port, "/api/v1/rules").is_some_and(|b| b.contains("CdrRaterIdsRunaway"))
    });
    let zero = "/api/v1/query?query=count(cdr_rater_ids_alerts_total%7Bjob%3D%22cdr-rater%22%7D%3D%3D0)";
    wait_for("a scrape of the alert counters at 0", Duration::from_secs(20), || {
        get(port, zero).is_some_and(|b| b.contains("\"4\"]"))
    });
    assert!(alerts(port).iter().all(|a| !a.0.starts_with("CdrRaterIds")), "{:?}", alerts(port));
    // C0001 (standard plan, range 25.00, no history): twenty one-hour calls to a Dutch
    // mobile, 5.41 each: levels 1 (> 25), 2 (> 50) and 3 (> 100).
    let mut content = String::from("call_id,start_time,account,caller,callee,billsec,disposition\n");
    for i in 0..20 {
        content.push_str(&format!("run-{i},2026-11-24T{i:02}:00:00+01:00,C0001,0201234501,0612345678,3600,ANSWERED\n"));
    }
    d.drop_file("runaway.csv", &content);
    let want = [
        ("CdrRaterIdsAlert".to_string(), "1".to_string()),
        ("CdrRaterIdsAlert".to_string(), "2".to_string()),
        ("CdrRaterIdsRunaway".to_string(), "3".to_string()),
    ];
    let limit = Instant::now() + Duration::from_secs(20);
    loop {
        let now: Vec<(String, String)> = alerts(port)
            .into_iter()
            .filter(|a| a.0.starts_with("CdrRaterIds") && (a.2 == "pending" || a.2 == "firing"))
            .map(|a| (a.0, a.1))
            .collect();
        if now == want {
            break;
        }
        assert!(Instant::now() < limit, "IDS rules not firing: {now:?}\n{}\n{}", d.log(), server_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(fs::read_to_string(d.path("spool/alerts.jsonl")).unwrap().lines().count(), 3);
    assert_eq!(d.stop().0, Some(0));
    eprintln!("IDS rules fired on a real Prometheus in {:?}", started.elapsed());
}

#[test]
fn a_burst_and_a_satellite_call_fire_the_shipped_fraud_rules_on_a_real_prometheus() {
    let Some(prometheus) = tool("prometheus") else { return };
    let started = Instant::now();
    let mut d = Daemon::new();
    d.start();
    let (_server, port, log) = start_prometheus(&prometheus, &d);
    let server_log = || fs::read_to_string(&log).unwrap_or_default();
    wait_for("Prometheus to load the rules", Duration::from_secs(20), || {
        get(port, "/api/v1/rules").is_some_and(|b| b.contains("CdrRaterFraudSpend"))
    });
    let zero = "/api/v1/query?query=count(cdr_rater_fraud_alerts_total%7Bjob%3D%22cdr-rater%22%7D%3D%3D0)";
    wait_for("a scrape of the fraud counters at 0", Duration::from_secs(20), || {
        get(port, zero).is_some_and(|b| b.contains("\"5\"]"))
    });
    // C0003: 31 calls within a minute (shipped limit: 30), and an hour to an
    // Iridium phone in the afternoon: high-risk, and above max_cost (20.00).
    let mut content = String::from("call_id,start_time,account,caller,callee,billsec,disposition\n");
    for i in 0..31 {
        content.push_str(&format!("v-{i},2026-11-24T10:00:{i:02}+01:00,C0003,0201234501,0201234567,5,ANSWERED\n"));
    }
    content.push_str("sat,2026-11-24T15:00:00+01:00,C0003,0201234501,+881612345678,3600,ANSWERED\n");
    d.drop_file("fraud.csv", &content);
    let want = [
        ("CdrRaterFraudAlert".to_string(), "high_risk_destination".to_string()),
        ("CdrRaterFraudAlert".to_string(), "velocity_calls".to_string()),
        ("CdrRaterFraudSpend".to_string(), "call_cost".to_string()),
    ];
    let limit = Instant::now() + Duration::from_secs(20);
    loop {
        let now: Vec<(String, String)> = labelled(port, "type")
            .into_iter()
            .filter(|a| a.0.starts_with("CdrRaterFraud") && (a.2 == "pending" || a.2 == "firing"))
            .map(|a| (a.0, a.1))
            .collect();
        if now == want {
            break;
        }
        assert!(Instant::now() < limit, "fraud rules not firing: {now:?}\n{}\n{}", d.log(), server_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.stop().0, Some(0));
    eprintln!("fraud rules fired on a real Prometheus in {:?}", started.elapsed());
}
