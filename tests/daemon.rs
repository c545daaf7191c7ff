//! The daemon as operators run it: a real `cdr-rater run` process on a temp
//! spool, fed by renames and slow writers, killed and restarted.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;

use std::process::{Command, Stdio};
use std::time::Duration;

use cdr_rater::state::Phase;
use common::daemon::Daemon;
use common::{read_csv, wait_for};

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";

/// A generic CDR file of `rows` calls with ids `PREFIX-N`; every third row
/// is unrated (unknown customer) and every seventh rejected (bad billsec).
fn cdr_file(prefix: &str, rows: usize) -> String {
    let mut s = String::from(HEADER);
    for i in 0..rows {
        let account = if i % 3 == 2 { "C9999" } else { "C0001" };
        let billsec = if i % 7 == 6 { "x" } else { "61" };
        s.push_str(&format!(
            "{prefix}-{i},2026-11-24T10:00:00+01:00,{account},0201234501,0612345678,{billsec},ANSWERED\n"
        ));
    }
    s
}

#[test]
fn renamed_slowly_written_and_backlog_files_are_rated_exactly_once() {
    let mut d = Daemon::new();
    // Backlog: present before the start.
    fs::write(d.path("spool/incoming/backlog.csv"), cdr_file("b", 10)).unwrap();
    d.start();
    wait_for("backlog", Duration::from_secs(20), || d.files_in("spool/archive") == ["backlog.csv"]);

    d.drop_file("renamed.csv", &cdr_file("r", 20));
    // Written in place slowly, kept open between writes.
    let slow_path = d.path("spool/incoming/slow.csv");
    let mut slow = fs::File::create(&slow_path).unwrap();
    let content = cdr_file("s", 30);
    let (first, second) = content.split_at(content.len() / 2);
    slow.write_all(first.as_bytes()).unwrap();
    slow.flush().unwrap();
    wait_for("renamed", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"renamed.csv".into()));
    // Well past settle_ms: a file still open is not taken.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(!d.files_in("spool/archive").contains(&"slow.csv".into()), "taken while still being written");
    slow.write_all(second.as_bytes()).unwrap();
    drop(slow);
    wait_for("slow", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"slow.csv".into()));

    let [rated, unrated, rejected] = d.output_ids();
    let mut all: Vec<String> = rated.iter().chain(&unrated).chain(&rejected).cloned().collect();
    all.sort();
    let mut want: Vec<String> = (0..10)
        .map(|i| format!("b-{i}"))
        .chain((0..20).map(|i| format!("r-{i}")))
        .chain((0..30).map(|i| format!("s-{i}")))
        .collect();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(d.metric("cdr_rater_files_total{result=\"rated\",source=\"default\"}"), 3.0);
    assert_eq!(d.metric("cdr_rater_records_total{result=\"rated\",source=\"default\"}"), rated.len() as f64);
    assert_eq!(d.metric("cdr_rater_records_total{result=\"rejected\",source=\"default\"}"), rejected.len() as f64);
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn a_thousand_files_dropped_at_once_are_all_rated() {
    let mut d = Daemon::new();
    d.start();
    for i in 0..1000 {
        fs::write(d.path("staging").join(format!("f{i:04}.csv")), cdr_file(&format!("f{i}"), 2)).unwrap();
    }
    for i in 0..1000 {
        let name = format!("f{i:04}.csv");
        fs::rename(d.path("staging").join(&name), d.path("spool/incoming").join(&name)).unwrap();
    }
    wait_for("1000 files", Duration::from_secs(120), || d.files_in("spool/archive").len() == 1000);
    assert_eq!(d.files_in("spool/rated").len(), 1000);
    assert_eq!(d.metric("cdr_rater_files_total{result=\"rated\",source=\"default\"}"), 1000.0);
    wait_for("empty backlog", Duration::from_secs(10), || d.metric("cdr_rater_backlog_files") == 0.0);
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn duplicates_are_billed_once_and_reused_names_get_new_outputs() {
    let mut d = Daemon::new();
    d.start();
    let content = cdr_file("dup", 5);
    d.drop_file("a.csv", &content);
    wait_for("a", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"a.csv".into()));
    d.drop_file("b.csv", &content);
    wait_for("b", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"b.csv".into()));
    assert_eq!(d.files_in("spool/rated"), ["a.rated.csv"]);
    // Counted just after the archive: the count may trail the file by a moment.
    wait_for("the duplicate counted", Duration::from_secs(5), || {
        d.metric("cdr_rater_files_total{result=\"duplicate\",source=\"default\"}") == 1.0
    });
    assert!(d.log().contains("duplicate"), "{}", d.log());

    // A switch's daily Master.csv: same name, new content.
    d.drop_file("Master.csv", &cdr_file("day1", 3));
    wait_for("day 1", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"Master.csv".into()));
    let day1 = fs::read_to_string(d.path("spool/rated/Master.rated.csv")).unwrap();
    d.drop_file("Master.csv", &cdr_file("day2", 4));
    wait_for("day 2", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"Master.csv.2".into()));
    assert_eq!(fs::read_to_string(d.path("spool/rated/Master.rated.csv")).unwrap(), day1);
    assert!(fs::read_to_string(d.path("spool/rated/Master.2.rated.csv")).unwrap().contains("day2-0"));
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn irregular_and_unreadable_files_go_to_failed_with_a_reason() {
    let mut d = Daemon::new();
    d.start();
    std::os::unix::fs::symlink("/etc/passwd", d.path("spool/incoming/link.csv")).unwrap();
    fs::create_dir(d.path("spool/incoming/folder.csv")).unwrap();
    assert!(Command::new("mkfifo").arg(d.path("spool/incoming/pipe.csv")).status().unwrap().success());
    d.drop_file("broken.csv.gz", "\u{1f}\u{8b}\u{8}\u{0}not gzip at all");
    d.drop_file("columns.csv", "a,b,c\n1,2,3\n");
    d.drop_file("good.csv", &cdr_file("g", 3));
    wait_for("failed", Duration::from_secs(20), || d.files_in("spool/failed").len() == 10);
    let failed = d.files_in("spool/failed");
    for name in ["link.csv", "folder.csv", "pipe.csv", "broken.csv.gz", "columns.csv"] {
        assert!(failed.contains(&name.to_string()), "{failed:?}");
        let reason = fs::read_to_string(d.path(&format!("spool/failed/{name}.reason"))).unwrap();
        assert!(!reason.trim().is_empty());
    }
    assert!(fs::read_to_string(d.path("spool/failed/columns.csv.reason")).unwrap().contains("start_time"));
    // The link was moved, not followed.
    assert!(fs::symlink_metadata(d.path("spool/failed/link.csv")).unwrap().file_type().is_symlink());
    wait_for("good", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"good.csv".into()));
    // Counted just after the move to failed/: the last count may trail the file by a moment.
    wait_for("five failed counted", Duration::from_secs(5), || {
        d.metric("cdr_rater_files_total{result=\"failed\",source=\"default\"}") == 5.0
    });
    assert_eq!(d.stop().0, Some(0));
}

/// The rated sell of the first row of `stem`.
fn first_sell(d: &Daemon, stem: &str) -> String {
    read_csv(&d.path(&format!("spool/rated/{stem}.rated.csv")))[1][14].clone()
}

#[test]
fn tariff_edits_are_validated_and_swapped_whole() {
    let mut d = Daemon::new();
    d.start();
    d.drop_file("t1.csv", &cdr_file("t1", 1));
    wait_for("t1", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"t1.csv".into()));
    let before = first_sell(&d, "t1");

    // A broken edit (a duplicate prefix) is refused; the old tables keep rating.
    let wholesale = d.path("rates/wholesale.csv");
    let good = fs::read_to_string(&wholesale).unwrap();
    fs::write(&wholesale, format!("{good}3161,Duplicate,NL,mobile,9.9999,,1/1\n")).unwrap();
    wait_for("refused reload", Duration::from_secs(20), || {
        d.metric("cdr_rater_tariff_reloads_total{result=\"error\"}") >= 1.0
    });
    d.drop_file("t2.csv", &cdr_file("t2", 1));
    wait_for("t2", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"t2.csv".into()));
    assert_eq!(first_sell(&d, "t2"), before);
    assert!(d.log().contains("duplicate prefix 3161"), "{}", d.log());

    // A good edit: the standard plan's domestic mobile price goes up.
    fs::write(&wholesale, &good).unwrap();
    let plan = d.path("rates/plans/standard.toml");
    let text = fs::read_to_string(&plan).unwrap();
    fs::write(&plan, text.replace("mobile_per_min = \"0.0900\"", "mobile_per_min = \"0.5000\"")).unwrap();
    wait_for("reload", Duration::from_secs(20), || d.metric("cdr_rater_tariff_reloads_total{result=\"ok\"}") >= 1.0);
    d.drop_file("t3.csv", &cdr_file("t3", 1));
    wait_for("t3", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"t3.csv".into()));
    assert_ne!(first_sell(&d, "t3"), before);

    // SIGHUP reloads too.
    let ok = d.metric("cdr_rater_tariff_reloads_total{result=\"ok\"}");
    d.signal("HUP");
    wait_for("SIGHUP reload", Duration::from_secs(20), || {
        d.metric("cdr_rater_tariff_reloads_total{result=\"ok\"}") > ok
    });
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn sigterm_stops_within_five_seconds_with_consistent_state() {
    let mut d = Daemon::new();
    d.start();
    d.drop_file("big.csv", &cdr_file("big", 200_000));
    std::thread::sleep(Duration::from_millis(100));
    let (code, took) = d.stop();
    assert_eq!(code, Some(0), "{}", d.log());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Whatever happened to the file in hand, a restart finishes it exactly once.
    d.start();
    wait_for("big", Duration::from_secs(60), || d.files_in("spool/archive").contains(&"big.csv".into()));
    let [rated, unrated, rejected] = d.output_ids();
    assert_eq!(rated.len() + unrated.len() + rejected.len(), 200_000);
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn kill_9_at_random_moments_never_loses_or_doubles_a_row() {
    let mut d = Daemon::new();
    let mut rng = cdr_rater::generate::Rng::new(7);
    let mut expected: Vec<String> = Vec::new();
    let mut n = 0;
    for round in 0..24 {
        d.start();
        // A few files per round, some big enough to be in flight at the kill.
        for _ in 0..3 {
            let rows = [5, 500, 20_000][rng.below(3) as usize];
            let prefix = format!("k{n}");
            d.drop_file(&format!("{prefix}.csv"), &cdr_file(&prefix, rows));
            expected.extend((0..rows).map(|i| format!("{prefix}-{i}")));
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        d.kill9();
        // Sometimes drop a file while the daemon is down.
        if round % 5 == 0 {
            let prefix = format!("k{n}");
            d.drop_file(&format!("{prefix}.csv"), &cdr_file(&prefix, 50));
            expected.extend((0..50).map(|i| format!("{prefix}-{i}")));
            n += 1;
        }
    }
    d.start();
    wait_for("all files", Duration::from_secs(120), || d.files_in("spool/archive").len() == n);
    assert_eq!(d.stop().0, Some(0));

    let [rated, unrated, rejected] = d.output_ids();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in rated.iter().chain(&unrated).chain(&rejected) {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, &c)| c > 1).take(5).collect();
    assert!(doubled.is_empty(), "rows rated twice: {doubled:?}");
    assert_eq!(seen.len(), expected.len(), "rows lost");
    for id in &expected {
        assert!(seen.contains_key(id.as_str()), "row {id} lost");
    }
    // No temp file is visible anywhere in the output folders.
    for k in ["rated", "unrated", "rejected"] {
        for f in d.files_in(&format!("spool/{k}")) {
            assert!(!f.starts_with('.') && !f.ends_with(".tmp"), "temp file {k}/{f}");
        }
    }
    assert!(d.files_in("spool/incoming").is_empty());
    assert!(d.files_in("spool/.claimed").is_empty());
    // The ledger agrees with the outputs: every file done, counts add up.
    let ledger = d.ledger();
    let records = ledger.all().unwrap();
    assert_eq!(records.len(), n);
    let mut counted = [0u64; 3];
    for (_, r) in &records {
        assert_eq!(r.phase, Phase::Done, "{r:?}");
        assert_eq!(r.counts[0], r.counts[1] + r.counts[2] + r.counts[3]);
        for (c, v) in counted.iter_mut().zip(&r.counts[1..]) {
            *c += v;
        }
        let rated_rows = read_csv(&d.path(&format!("spool/rated/{}.rated.csv", r.stem))).len() as u64 - 1;
        assert_eq!(rated_rows, r.counts[1], "{}", r.stem);
    }
    assert_eq!(counted, [rated.len() as u64, unrated.len() as u64, rejected.len() as u64]);
    // IDS spend per customer day equals a recomputation from the rated outputs.
    let mut recomputed: HashMap<String, i64> = HashMap::new();
    for f in d.files_in("spool/rated") {
        for r in read_csv(&d.path(&format!("spool/rated/{f}"))).iter().skip(1) {
            assert!(r[1].starts_with("2026-11-24T"), "{r:?}");
            let sell: rust_decimal::Decimal = r[14].parse().unwrap();
            *recomputed.entry(r[2].clone()).or_default() += (sell * rust_decimal::Decimal::from(10_000)).mantissa()
                as i64
                / 10i64.pow((sell * rust_decimal::Decimal::from(10_000)).scale());
        }
    }
    let day = cdr_rater::timefmt::days_from_civil(2026, 11, 24);
    for (customer, units) in &recomputed {
        let stored = ledger.customer_days(customer).unwrap().days.get(&day).map_or(0, |s| s.units);
        assert_eq!(stored, *units, "spend of {customer}");
    }
    assert!(!recomputed.is_empty());
}

#[test]
fn ids_alerts_are_logged_counted_and_sent_to_the_hook() {
    let mut d = Daemon::new();
    d.start();
    // C0001 (standard plan, IDS range 25.00, no history): ten one-hour calls to a Dutch
    // mobile at 0.09/min are 54.10 with start fees: level 1 (> 25) and level 2 (> 50).
    let mut content = String::from(HEADER);
    for i in 0..10 {
        content.push_str(&format!("big-{i},2026-11-24T1{i}:00:00+01:00,C0001,0201234501,0612345678,3600,ANSWERED\n"));
    }
    d.drop_file("big.csv", &content);
    wait_for("alerts", Duration::from_secs(20), || d.metric_sum("cdr_rater_ids_alerts_total") == 2.0);
    let log = fs::read_to_string(d.path("spool/alerts.jsonl")).unwrap();
    let alerts: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!((alerts[0]["level"].as_u64(), alerts[0]["trigger_call_id"].as_str()), (Some(1), Some("big-4")));
    assert_eq!((alerts[1]["level"].as_u64(), alerts[1]["trigger_call_id"].as_str()), (Some(2), Some("big-9")));
    assert_eq!(alerts[0]["warm_up"], true);
    wait_for("hook", Duration::from_secs(20), || {
        fs::read_to_string(d.path("hook.out")).map(|t| t.lines().count() == 2).unwrap_or(false)
    });
    assert!(d.log().contains("IDS alert"));
    // The operator's view reads the daemon's snapshot while the daemon holds the state.
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(d.root.path())
        .args(["ids", "--config", "cdr-rater.toml", "--day", "2026-11-24", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["customers"][0]["customer_id"], "C0001");
    assert_eq!(view["customers"][0]["level"], 2);
    assert_eq!(d.stop().0, Some(0));
}

#[test]
fn a_hook_that_hangs_fails_or_is_missing_is_logged_and_alerts_still_land() {
    let mut d = Daemon::new();
    // Ten one-hour mobile calls of C0001 on `day`: two alert levels (see above).
    let big = |day: &str| {
        let mut s = String::from(HEADER);
        for i in 0..10 {
            s.push_str(&format!("big-{day}-{i},{day}T1{i}:00:00+01:00,C0001,0201234501,0612345678,3600,ANSWERED\n"));
        }
        s
    };
    let cases = [
        (
            "[\"sh\", \"-c\", \"cat > /dev/null; echo started >> hook.started; sleep 30\"]",
            "2026-11-24",
            "alert hook timed out and was killed",
        ),
        ("[\"sh\", \"-c\", \"cat > /dev/null; exit 3\"]", "2026-11-23", "alert hook failed"),
        ("[\"/nonexistent/alert-hook\"]", "2026-11-22", "alert hook did not start"),
    ];
    for (n, (hook, day, logged)) in cases.into_iter().enumerate() {
        let config = fs::read_to_string(d.path("cdr-rater.toml")).unwrap();
        let config = config.split("[ids]").next().unwrap().to_string();
        fs::write(d.path("cdr-rater.toml"), format!("{config}[ids]\non_alert = {hook}\non_alert_timeout_ms = 300\n"))
            .unwrap();
        d.start();
        d.drop_file(&format!("big-{day}.csv"), &big(day));
        wait_for(logged, Duration::from_secs(20), || d.log().matches(logged).count() == 2);
        // Both alerts are in the log whatever the hook did, and the daemon goes on.
        let alerts = fs::read_to_string(d.path("spool/alerts.jsonl")).unwrap();
        assert_eq!(alerts.lines().count(), 2 * (n + 1), "{alerts}");
        d.drop_file(
            &format!("after-{day}.csv"),
            &format!("{HEADER}a-{day},{day}T09:00:00+01:00,C0002,,0201234567,60,ANSWERED\n"),
        );
        wait_for("the next file", Duration::from_secs(20), || {
            d.path(&format!("spool/archive/after-{day}.csv")).exists()
        });
        assert_eq!(d.stop().0, Some(0), "{}", d.log());
    }
    // The hanging hook was started for both alerts (and killed: the daemon stopped at once).
    assert_eq!(fs::read_to_string(d.path("hook.started")).unwrap().lines().count(), 2);
}

#[test]
fn metrics_pass_promtool() {
    let mut d = Daemon::new();
    d.start();
    d.drop_file("m.csv", &cdr_file("m", 21));
    wait_for("m", Duration::from_secs(20), || d.files_in("spool/archive").contains(&"m.csv".into()));
    let text = d.scrape().unwrap();
    assert_eq!(d.metric("cdr_rater_records_total{result=\"rated\",source=\"default\"}"), 12.0);
    assert_eq!(d.metric("cdr_rater_records_total{result=\"unrated\",source=\"default\"}"), 6.0);
    assert_eq!(d.metric("cdr_rater_records_total{result=\"rejected\",source=\"default\"}"), 3.0);
    assert!(d.metric("cdr_rater_sell_total{currency=\"EUR\"}") > 0.0);
    assert!(d.metric("cdr_rater_tariff_prefixes") > 1000.0);
    let Some(promtool) = common::tool("promtool") else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(d.stop().0, Some(0));
}
