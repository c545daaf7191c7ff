//! The operator's view (SPEC §15) on a real daemon: it rates a week of
//! history and a day with two runaway customers, then a real HTTP client
//! reads `/`, `/api/ids`, `/api/alerts` and `/healthz`; the token rule on a
//! listener open to the network; and the page in headless Chromium.
//!
//! The tariff is simple to add up: every international call costs 1.00
//! per minute, a Dutch call 0.10, billed per second; international calls
//! last a multiple of 6 s and Dutch ones whole minutes, so every sum is exact.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::wait_for;
use common::web::{get, read_png};

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec\n";

/// Customers: id, name (some with markup characters), IDS range.
const CUSTOMERS: [(&str, &str, &str); 10] = [
    ("C01", "Bakkerij De Gouden Korenaar", "25.00"),
    ("C02", "Van der Berg & Zonen Installatietechniek", "50.00"),
    ("C03", "Tandartspraktijk Zonnehof", "10.00"),
    ("C04", "Hoogland Logistiek", "100.00"),
    ("C05", "Studio <Noord> \"Design\"", "20.00"),
    ("C06", "Fietsenmakerij Snel", "15.00"),
    ("C07", "Advocatenkantoor Meijer & De Wit", "40.00"),
    ("C08", "Camping De Zeven Linden", "30.00"),
    ("C09", "Reisbureau Zonvakanties", "60.00"),
    ("C10", "Huisartsenpost Centrum", "25.00"),
];

/// Destinations: country and a dialled prefix.
const ABROAD: [(&str, &str); 7] = [
    ("DE", "004930"),
    ("GB", "004420"),
    ("US", "001212"),
    ("BE", "00322"),
    ("MA", "00212522"),
    ("CU", "00537"),
    ("XX", "008816"),
];

fn write_rates(root: &Path) {
    let rates = root.join("rates");
    let _ = fs::remove_dir_all(&rates);
    fs::create_dir_all(rates.join("plans")).unwrap();
    fs::write(
        rates.join("wholesale.csv"),
        "prefix,destination,country,kind,rate_per_min,connect_fee,increment\n\
         31,Netherlands,NL,fixed,0.0100,,1/1\n49,Germany,DE,fixed,0.0200,,1/1\n44,United Kingdom,GB,fixed,0.0200,,1/1\n\
         1,United States,US,fixed,0.0100,,1/1\n32,Belgium,BE,fixed,0.0200,,1/1\n212,Morocco,MA,fixed,0.2000,,1/1\n\
         53,Cuba,CU,fixed,0.5000,,1/1\n8816,Iridium,XX,other,4.0000,,1/1\n",
    )
    .unwrap();
    fs::write(
        rates.join("plans/flat.toml"),
        "increment = \"1/1\"\n[international]\nper_min = \"1.0000\"\n[domestic]\nper_min = \"0.1000\"\n",
    )
    .unwrap();
    let mut customers = String::from("customer_id,name,email,plan,ids_range,timezone\n");
    for (id, name, range) in CUSTOMERS {
        customers.push_str(&format!("{id},\"{}\",{id}@example.nl,flat,{range},\n", name.replace('"', "\"\"")));
    }
    fs::write(rates.join("customers.csv"), customers).unwrap();
}

/// Calls of one file, and the spend (cents) per (customer, day) and per
/// (customer, day, country) they add.
#[derive(Default)]
struct Traffic {
    rows: String,
    spend: BTreeMap<(String, String), i64>,
    abroad: BTreeMap<(String, String, String), i64>,
}

impl Traffic {
    /// A call of customer `c` on `day` at `time` to country `to` (`NL` or one of [`ABROAD`]).
    fn call(&mut self, c: &str, day: &str, time: &str, to: &str, seconds: u32) {
        let n = self.rows.lines().count();
        let (callee, cents) = match ABROAD.iter().find(|a| a.0 == to) {
            Some((_, prefix)) => (format!("{prefix}{:06}", n % 1_000_000), i64::from(seconds) * 100 / 60),
            None => (format!("020{:07}", n), i64::from(seconds) * 10 / 60),
        };
        self.rows.push_str(&format!("{c}-{day}-{n},{day} {time},{c},0201234567,{callee},{seconds}\n"));
        *self.spend.entry((c.into(), day.into())).or_default() += cents;
        if to != "NL" {
            *self.abroad.entry((c.into(), day.into(), to.into())).or_default() += cents;
        }
    }

    fn text(&self) -> String {
        format!("{HEADER}{}", self.rows)
    }
}

/// A week of ordinary days (2026-11-16..23) for every customer.
fn history() -> Traffic {
    let mut t = Traffic::default();
    for day in 16..=23 {
        for (k, (id, _, _)) in CUSTOMERS.iter().enumerate() {
            for j in 0..(3 + (k + day) % 4) {
                t.call(id, &format!("2026-11-{day}"), &format!("{:02}:{:02}:00", 8 + j, 5 * k), "NL", 240);
            }
            let (to, _) = ABROAD[(k + day) % 4];
            t.call(id, &format!("2026-11-{day}"), "14:30:00", to, 180 + 60 * (k as u32 % 5));
        }
    }
    t
}

/// Today, hours `from..until` (local): ordinary calls, and from noon on,
/// two customers running away (C05 to Cuba and Morocco, C08 to satellites).
fn today(from: u32, until: u32) -> Traffic {
    let mut t = Traffic::default();
    let day = "2026-11-24";
    for hour in from..until {
        for (k, (id, _, _)) in CUSTOMERS.iter().enumerate() {
            if (hour as usize + k) % 3 == 0 {
                t.call(id, day, &format!("{hour:02}:{:02}:00", 3 * k), "NL", 300);
            }
            if (hour as usize + k) % 5 == 0 {
                t.call(id, day, &format!("{hour:02}:{:02}:30", 3 * k), ABROAD[k % 4].0, 240);
            }
        }
        if hour >= 12 {
            for m in 0..3 {
                t.call("C05", day, &format!("{hour:02}:{:02}:00", 10 + m), if m == 0 { "MA" } else { "CU" }, 420);
            }
        }
        if hour >= 15 {
            for m in 0..6 {
                t.call("C08", day, &format!("{hour:02}:{:02}:00", 20 + 5 * m), "XX", 600);
            }
        }
    }
    t
}

fn euros(cents: i64) -> String {
    format!("{}.{:02}00", cents / 100, cents % 100)
}

/// Drops `files` and waits until the daemon has rated them all.
fn rate(d: &Daemon, files: &[(&str, &Traffic)]) {
    let before = d.metric_sum("cdr_rater_files_total");
    for (name, t) in files {
        d.drop_file(name, &t.text());
    }
    let want = before + files.len() as f64;
    wait_for("files rated", Duration::from_secs(60), || d.metric_sum("cdr_rater_files_total") >= want);
}

#[test]
fn pages_and_api_show_customers_spend_and_alerts() {
    let mut d = Daemon::new();
    write_rates(d.root.path());
    d.start();
    let (hist, day) = (history(), today(7, 21));
    rate(&d, &[("history.csv", &hist), ("today.csv", &day)]);

    let health = get(d.port, "/healthz", None);
    assert_eq!(health.status, 200, "{}", health.body);
    let h = health.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["tariff"]["digest"].as_str().unwrap().len(), 32, "{h}");

    // /api/ids: today by default, every customer with exact amounts.
    let ids = get(d.port, "/api/ids", None);
    assert_eq!(ids.status, 200, "{}", ids.body);
    assert!(ids.header("content-type")[0].starts_with("application/json"));
    let ids = ids.json();
    assert_eq!(ids["day"], "2026-11-24");
    let customers = ids["customers"].as_array().unwrap();
    assert_eq!(customers.len(), CUSTOMERS.len(), "{ids}");
    let c08 = customers.iter().find(|c| c["customer_id"] == "C08").unwrap();
    assert_eq!(c08["name"], "Camping De Zeven Linden");
    assert_eq!(c08["spend"], euros(day.spend[&("C08".into(), "2026-11-24".into())]));
    assert!(c08["level"].as_u64().unwrap() >= 3, "{c08}");
    assert_eq!(c08["top_countries"][0]["country"], "XX");
    assert_eq!(customers[0]["customer_id"], "C08", "largest spend first");
    // The month so far, from the store's billing usage: every November call of C08.
    let november = |t: &Traffic| -> i64 {
        t.spend.iter().filter(|((c, d), _)| c == "C08" && d.starts_with("2026-11")).map(|(_, v)| v).sum()
    };
    assert_eq!(c08["month"], euros(november(&hist) + november(&day)), "{c08}");
    let c05 = customers.iter().find(|c| c["customer_id"] == "C05").unwrap();
    assert_eq!(c05["name"], "Studio <Noord> \"Design\"");
    assert!(c05["level"].as_u64().unwrap() >= 1, "{c05}");
    // A day of the history: spend of that day, no alert.
    let past = get(d.port, "/api/ids?day=2026-11-20", None).json();
    let c02 = past["customers"].as_array().unwrap().iter().find(|c| c["customer_id"] == "C02").unwrap().clone();
    assert_eq!(c02["spend"], euros(hist.spend[&("C02".into(), "2026-11-20".into())]));
    assert_eq!(c02["level"], 0);
    let bad = get(d.port, "/api/ids?day=24-11-2026", None);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("24-11-2026"));

    // /api/alerts: the IDS alerts as logged, and an alert of another type
    // (a fraud rule's, appended the way the daemon appends) shows too.
    let alerts = get(d.port, "/api/alerts?since=2026-11-24T00:00:00Z", None).json();
    let list = alerts["alerts"].as_array().unwrap();
    assert!(list.iter().any(|a| a["type"] == "ids_threshold" && a["customer_id"] == "C08"), "{alerts}");
    assert!(list.iter().any(|a| a["customer_id"] == "C05"), "{alerts}");
    let logged = fs::read_to_string(d.path("spool/alerts.jsonl")).unwrap();
    assert_eq!(list.len(), logged.lines().count());
    let velocity = r#"{"type":"velocity_calls","alert_id":"C03/2026-11-24/velocity_calls","customer_id":"C03","customer_name":"Tandartspraktijk Zonnehof","day":"2026-11-24","rule":{"calls_per_minute":30,"calls":31},"trigger_call_id":"v-31","emitted_at":"2026-11-24T19:59:00Z"}"#;
    fs::write(d.path("spool/alerts.jsonl"), format!("{logged}{velocity}\n")).unwrap();
    // An offset's `+` sent unencoded (a space once decoded) is taken as meant.
    let later = get(d.port, "/api/alerts?since=2026-11-24T20:00:00+01:00", None).json();
    let later = later["alerts"].as_array().unwrap();
    assert!(later.iter().any(|a| a["type"] == "velocity_calls" && a["rule"]["calls"] == 31), "{later:?}");
    assert_eq!(get(d.port, "/api/alerts?since=yesterday", None).status, 400);
    let none = get(d.port, "/api/alerts?since=2026-11-25T00:00:00Z", None).json();
    assert_eq!(none["alerts"].as_array().unwrap().len(), 0);

    // The page: names escaped, spends, both alert types, abroad, intake, tables.
    let page = get(d.port, "/", None);
    assert_eq!(page.status, 200);
    assert!(page.header("content-type")[0].starts_with("text/html"));
    assert!(page.header("content-security-policy")[0].contains("default-src 'none'"));
    let html = &page.body;
    assert!(html.contains(r#"<meta http-equiv="refresh""#));
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );
    assert!(html.contains("Van der Berg &amp; Zonen Installatietechniek"), "names escaped");
    assert!(html.contains("Studio &lt;Noord&gt; &quot;Design&quot;") && !html.contains("<Noord>"));
    assert!(html.contains("Camping De Zeven Linden"));
    let c08_spend = day.spend[&("C08".into(), "2026-11-24".into())];
    assert!(html.contains(&format!("{}.{:02} EUR", c08_spend / 100, c08_spend % 100)), "C08's spend shown");
    assert!(html.contains("ids_threshold") && html.contains("velocity_calls") && html.contains("calls_per_minute 30"));
    // Who calls abroad most this month: history and today of C08 to XX.
    let month_xx: i64 = day.abroad.get(&("C08".into(), "2026-11-24".into(), "XX".into())).copied().unwrap_or(0);
    assert!(html.contains(&format!("XX {}.{:02}", month_xx / 100, month_xx % 100)), "C08's satellite spend");
    assert!(html.contains("This month") && html.contains("2026-11-01"));
    assert!(html.contains("<td>default</td><td class=\"n\">2</td>"), "intake: two files rated by the default source");
    assert!(html.contains(h["tariff"]["digest"].as_str().unwrap()));
    // /metrics is as before.
    let metrics = get(d.port, "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.header("content-type")[0], "text/plain; version=0.0.4; charset=utf-8");
    assert!(metrics.body.contains("cdr_rater_files_total"));
    assert_eq!(get(d.port, "/nothing", None).status, 404);

    let (code, _) = d.stop();
    assert_eq!(code, Some(0), "{}", d.log());
}

/// Runs `cdr-rater run` on `d`'s folder and expects a refusal: exit 2
/// within a few seconds, with the message on stderr.
fn refused(d: &Daemon) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
        .current_dir(d.root.path())
        .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("the daemon started on a listener open to the network without a token");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    err
}

/// A daemon whose listener is on every address (`0.0.0.0`): reachable from
/// other hosts. The test itself only ever connects to 127.0.0.1.
fn open_to_the_network(web: &str) -> Daemon {
    let d = Daemon::new();
    let config = fs::read_to_string(d.path("cdr-rater.toml")).unwrap();
    let config = config.replace("listen = \"127.0.0.1:", "listen = \"0.0.0.0:");
    fs::write(d.path("cdr-rater.toml"), format!("{config}{web}")).unwrap();
    d
}

#[test]
fn a_listener_open_to_the_network_needs_a_token() {
    let d = open_to_the_network("");
    let err = refused(&d);
    assert!(err.contains("[web] token_file") && err.contains("0.0.0.0:"), "{err}");
    // An empty token file is no token.
    let d = open_to_the_network("[web]\ntoken_file = \"web.token\"\n");
    fs::write(d.path("web.token"), "\n").unwrap();
    let err = refused(&d);
    assert!(err.contains("[web] token_file") && err.contains("web.token") && err.contains("empty"), "{err}");
    // A missing one is named too.
    fs::remove_file(d.path("web.token")).unwrap();
    assert!(refused(&d).contains("web.token"));
    // Unknown keys stay errors.
    let d = open_to_the_network("[web]\ntoken = \"x\"\n");
    assert!(refused(&d).contains("token"));
}

#[test]
fn the_token_guards_the_dashboard_and_the_api_only() {
    let token = "f3Yc9-0aZq7LmT2xWb8KpR4n";
    let mut d = open_to_the_network("[web]\ntoken_file = \"secrets/web.token\"\n");
    write_rates(d.root.path());
    fs::create_dir_all(d.path("secrets")).unwrap();
    fs::write(d.path("secrets/web.token"), format!("{token}\n")).unwrap();
    d.start();
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    };
    for path in ["/", "/api/ids", "/api/alerts?since=2026-11-24T00:00:00Z"] {
        let none = get(d.port, path, None);
        assert_eq!(none.status, 401, "{path}");
        let challenges = none.header("www-authenticate").join(" | ");
        assert!(challenges.contains("Bearer") && challenges.contains("Basic"), "{challenges}");
        for wrong in [
            format!("Bearer {token}x"),
            format!("Bearer {}", &token[1..]),
            "Bearer ".to_string(),
            basic("ops", "guess"),
            basic(token, ""),
        ] {
            assert_eq!(get(d.port, path, Some(&wrong)).status, 401, "{path} with {wrong}");
        }
        assert_eq!(get(d.port, path, Some(&format!("Bearer {token}"))).status, 200, "{path}");
        assert_eq!(get(d.port, path, Some(&basic("ops", token))).status, 200, "{path}");
    }
    // Prometheus and health checks need no token; they say nothing per customer.
    assert_eq!(get(d.port, "/metrics", None).status, 200);
    assert_eq!(get(d.port, "/healthz", None).status, 200);
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}

/// Starts headless Chromium on `url` and returns the screenshot's path.
fn screenshot(chromium: &Path, url: &str, dir: &Path) -> std::path::PathBuf {
    let png = dir.join("dashboard.png");
    let profile = dir.join("chromium-profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1280,2640",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(png.exists(), "chromium wrote no screenshot");
    png
}

#[test]
fn the_dashboard_renders_in_headless_chromium() {
    let Some(chromium) = common::tool("chromium") else { return };
    // Three runs of the daemon at three times of the day, so alerts fall in
    // several hours of the chart; each run rates what arrived by then.
    let mut d = Daemon::new();
    write_rates(d.root.path());
    let hist = history();
    for (i, (now, from, until)) in
        [("2026-11-24T09:00:00Z", 7, 10), ("2026-11-24T14:00:00Z", 10, 15), ("2026-11-24T19:30:00Z", 15, 21)]
            .into_iter()
            .enumerate()
    {
        d.start_at(now);
        let part = today(from, until);
        if i == 0 {
            rate(&d, &[("history.csv", &hist), (&format!("today-{i}.csv"), &part)]);
        } else {
            rate(&d, &[(&format!("today-{i}.csv"), &part)]);
        }
        if i < 2 {
            assert_eq!(d.stop().0, Some(0));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let png = screenshot(&chromium, &format!("http://127.0.0.1:{}/", d.port), dir.path());
    if let Some(to) = std::env::var_os("DASHBOARD_SCREENSHOT") {
        fs::copy(&png, &to).unwrap();
    }
    let picture = read_png(&png);
    assert!(picture.width >= 1000 && picture.height >= 1000, "{}x{}", picture.width, picture.height);
    let mut colours = std::collections::HashMap::<[u8; 3], usize>::new();
    for px in picture.rgba.chunks_exact(4) {
        *colours.entry([px[0], px[1], px[2]]).or_default() += 1;
    }
    assert!(colours.len() > 50, "a blank page: {} colours", colours.len());
    // The bars: blue below threshold, red for the customers that raised alerts.
    for (name, rgb) in [("blue bar", [0x25, 0x63, 0xeb]), ("red bar", [0xdc, 0x26, 0x26])] {
        let n = colours.get(&rgb).copied().unwrap_or(0);
        assert!(n > 200, "{name} #{:02x}{:02x}{:02x}: {n} pixels", rgb[0], rgb[1], rgb[2]);
    }
}
