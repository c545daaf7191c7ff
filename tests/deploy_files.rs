//! The deployment files in `systemd/`, checked with the real tools:
//! - `promtool check rules`, `promtool test rules` and `promtool check config`;
//! - `systemd-analyze verify` of the unit (on a copy whose ExecStart is this build's binary);
//! - `systemd-analyze security --offline=true`: the exposure level must be 2.0 or lower;
//! - `systemd-sysusers` / `systemd-tmpfiles` on the snippets in a scratch root (as root only);
//! - the production `cdr-rater.toml` is accepted by `cdr-rater check`;
//! - the Grafana dashboard is importable JSON whose panels chart every metric a real daemon
//!   exports and nothing else, in PromQL that `promtool` parses.
//!
//! Only offline modes are used, so this works in a container where systemd is not PID 1.
//! A missing tool fails the test when the environment variable `CI` is set (to anything but
//! "", "0" or "false"; CI installs the Debian packages `prometheus` and `systemd`, see
//! systemd/README.md), otherwise the test prints "skipped: ... not installed" to stderr and
//! passes.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cdr-rater");
/// The highest acceptable `systemd-analyze security` exposure level.
const MAX_EXPOSURE: f64 = 2.0;

fn systemd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

/// True when running under CI, where every tool must be present.
fn in_ci() -> bool {
    std::env::var("CI").map(|v| !matches!(v.trim(), "" | "0" | "false")).unwrap_or(false)
}

/// The path of `name` on PATH. When it is missing: a failure under CI, else a note on
/// stderr and `None` (the caller returns, skipping).
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or(None);
    if found.is_none() {
        assert!(!in_ci(), "{name} is not installed, but CI is set: install the Debian package `{package}`");
        eprintln!("skipped: {name} not installed (Debian package `{package}`)");
    }
    found
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cdr-rater-deploy-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Output {
    // No pager, no colours, no talking to a running systemd.
    cmd.env("SYSTEMD_PAGER", "cat").env("SYSTEMD_COLORS", "0").env("PAGER", "cat");
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn assert_ok(what: &str, o: &Output) {
    assert!(o.status.success(), "{what} failed ({}):\n{}", o.status, text(o));
}

/// A copy of the unit in `dir`, with ExecStart= running this build's binary (the installed
/// path /usr/local/bin/cdr-rater does not exist here, and verify checks it), plus `extra`
/// lines appended to [Service].
fn unit_copy(dir: &Path, extra: &str) -> PathBuf {
    let unit = fs::read_to_string(systemd_dir().join("cdr-rater.service")).unwrap();
    let bin = if BIN.contains(char::is_whitespace) { format!("\"{BIN}\"") } else { BIN.to_string() };
    let mut out = String::new();
    let mut replaced = 0;
    for line in unit.lines() {
        if let Some(rest) = line.strip_prefix("ExecStart=") {
            let args = rest.split_once(char::is_whitespace).map(|(_, a)| a).unwrap_or("");
            out.push_str(&format!("ExecStart={bin} {args}\n"));
            replaced += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if line.trim() == "[Service]" && !extra.is_empty() {
            out.push_str(extra);
            out.push('\n');
        }
    }
    assert_eq!(replaced, 1, "the unit must have exactly one ExecStart= line");
    assert!(out.contains(" run --config /etc/cdr-rater/cdr-rater.toml"), "ExecStart must run the daemon:\n{out}");
    let path = dir.join("cdr-rater.service");
    fs::write(&path, out).unwrap();
    path
}

#[test]
fn prometheus_rules_and_config_pass_promtool() {
    let Some(promtool) = tool("promtool", "prometheus") else { return };
    let dir = systemd_dir();
    let check = run(Command::new(&promtool).args(["check", "rules", "cdr-rater.rules.yml"]).current_dir(&dir));
    assert_ok("promtool check rules systemd/cdr-rater.rules.yml", &check);
    eprintln!("{}", text(&check).trim_end());
    let tests = run(Command::new(&promtool).args(["test", "rules", "cdr-rater.rules.test.yml"]).current_dir(&dir));
    assert_ok("promtool test rules systemd/cdr-rater.rules.test.yml", &tests);
    // prometheus.yml names the rules file relative to its folder, so this checks both.
    let config = run(Command::new(&promtool).args(["check", "config", "prometheus.yml"]).current_dir(&dir));
    assert_ok("promtool check config systemd/prometheus.yml", &config);
    assert!(text(&config).contains("cdr-rater.rules.yml"), "prometheus.yml must load the rules:\n{}", text(&config));
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let Some(analyze) = tool("systemd-analyze", "systemd") else { return };
    let good = Scratch::new("verify");
    let unit = unit_copy(&good.0, "");
    let out = run(Command::new(&analyze).args(["verify", "--man=no"]).arg(&unit));
    // verify exits 0 on mere warnings (unknown keys, bad values): any line about our unit fails.
    assert_ok("systemd-analyze verify", &out);
    let all = text(&out);
    let about_unit: Vec<&str> = all.lines().filter(|l| l.contains("cdr-rater")).collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify complains about the unit:\n{all}");

    // The same check must notice a broken copy, or the check above proves nothing.
    let bad = Scratch::new("verify-bad");
    let unit = unit_copy(&bad.0, "NoSuchSetting=yes");
    let out = run(Command::new(&analyze).args(["verify", "--man=no"]).arg(&unit));
    assert!(text(&out).contains("NoSuchSetting"), "verify missed an unknown key:\n{}", text(&out));
}

#[test]
fn unit_security_exposure_is_at_most_2() {
    let Some(analyze) = tool("systemd-analyze", "systemd") else { return };
    let scratch = Scratch::new("security");
    let unit = unit_copy(&scratch.0, "");
    let out = run(Command::new(&analyze).args(["security", "--offline=true", "--no-pager"]).arg(&unit));
    assert_ok("systemd-analyze security --offline=true", &out);
    let all = text(&out);
    // "→ Overall exposure level for cdr-rater.service: 1.0 OK 🙂"
    let line = all
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in the output:\n{all}"));
    let exposure: f64 = line
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure level in {line:?}"));
    eprintln!("{}", line.trim());
    assert!(exposure <= MAX_EXPOSURE, "exposure {exposure} is above {MAX_EXPOSURE}:\n{all}");
}

/// True when running as root (systemd-tmpfiles must chown in the scratch root).
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

#[test]
fn sysusers_and_tmpfiles_snippets_apply_in_a_scratch_root() {
    let Some(sysusers) = tool("systemd-sysusers", "systemd") else { return };
    let Some(tmpfiles) = tool("systemd-tmpfiles", "systemd") else { return };
    if !is_root() {
        eprintln!("skipped: systemd-tmpfiles needs root to chown in a scratch root");
        return;
    }
    let root = Scratch::new("root");
    let r = &root.0;
    for d in ["etc", "var/spool", "var/lib", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    fs::copy(systemd_dir().join("cdr-rater.sysusers"), r.join("usr/lib/sysusers.d/cdr-rater.conf")).unwrap();
    fs::copy(systemd_dir().join("cdr-rater.tmpfiles"), r.join("usr/lib/tmpfiles.d/cdr-rater.conf")).unwrap();
    // With --root, the files named are looked up inside the root.
    let out = run(Command::new(&sysusers).arg("--root").arg(r).arg("cdr-rater.conf"));
    assert_ok("systemd-sysusers", &out);
    let passwd = fs::read_to_string(r.join("etc/passwd")).unwrap();
    let group = fs::read_to_string(r.join("etc/group")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("cdr-rater:")), "no user cdr-rater:\n{passwd}");
    for g in ["cdr-rater:", "cdr-rater-drop:"] {
        assert!(group.lines().any(|l| l.starts_with(g)), "no group {g}\n{group}");
    }
    let out = run(Command::new(&tmpfiles).arg("--root").arg(r).args(["--create", "cdr-rater.conf"]));
    assert_ok("systemd-tmpfiles --create", &out);
    assert!(!text(&out).contains("cdr-rater"), "systemd-tmpfiles complains:\n{}", text(&out));

    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |p: &str| fs::metadata(r.join(p)).unwrap().permissions().mode() & 0o7777;
    let spool = "var/spool/cdr-rater";
    assert_eq!(mode(&format!("{spool}/incoming")), 0o2770);
    for d in ["archive", "rated", "unrated", "rejected", "failed", ".claimed", ".tmp"] {
        assert_eq!(mode(&format!("{spool}/{d}")), 0o750, "{spool}/{d}");
    }
    assert_eq!(mode("etc/cdr-rater/rates"), 0o750);
    let gid_of = |name: &str| {
        group.lines().find_map(|l| l.strip_prefix(&format!("{name}:x:"))?.split(':').next()?.parse::<u32>().ok())
    };
    let incoming = fs::metadata(r.join(format!("{spool}/incoming"))).unwrap();
    assert_eq!(Some(incoming.gid()), gid_of("cdr-rater-drop"), "incoming/ belongs to the switches' group");
    let rated = fs::metadata(r.join(format!("{spool}/rated"))).unwrap();
    assert_eq!(Some(rated.gid()), gid_of("cdr-rater"));
}

#[test]
fn production_config_is_accepted() {
    let rates = Path::new(env!("CARGO_MANIFEST_DIR")).join("rates");
    let out = run(Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(systemd_dir().join("cdr-rater.toml"))
        .arg("--rates")
        .arg(&rates));
    assert_ok("cdr-rater check --config systemd/cdr-rater.toml", &out);
}

/// The dashboard, parsed.
fn dashboard() -> Value {
    let text = fs::read_to_string(systemd_dir().join("grafana-dashboard.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("systemd/grafana-dashboard.json is not valid JSON: {e}"))
}

/// Every panel that shows data: rows are only headings (their `panels` hold the
/// panels of a collapsed row).
fn data_panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// The `cdr_rater_*` names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("cdr_rater_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// `name` as exported: a histogram's `_bucket`, `_sum` and `_count` series are the histogram.
fn base_name(name: &str, types: &std::collections::BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| t == "histogram") {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

/// The metrics of a real daemon that has rated a file (the histogram and the
/// last-file gauge appear only then): name -> type, from the `# TYPE` lines.
fn exported_metrics() -> std::collections::BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = common::free_port();
    fs::write(
        root.join("cdr-rater.toml"),
        format!(
            "rates = \"{}\"\nsettle_ms = 300\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
            common::repo().join("rates").display()
        ),
    )
    .unwrap();
    for d in ["spool/incoming", "staging"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let _daemon = common::spawn_daemon(root, port);
    fs::copy(common::repo().join("samples/generic.csv"), root.join("staging/calls.csv")).unwrap();
    fs::rename(root.join("staging/calls.csv"), root.join("spool/incoming/calls.csv")).unwrap();
    let mut metrics = String::new();
    common::wait_for("a file rated", Duration::from_secs(20), || {
        metrics = common::scrape(port).unwrap_or_default();
        metrics.contains("cdr_rater_file_seconds_count 1")
    });
    let types: std::collections::BTreeMap<String, String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect();
    // What SPEC §10 requires at least, so an empty scrape cannot pass.
    for required in ["cdr_rater_files_total", "cdr_rater_file_seconds", "cdr_rater_last_file_timestamp_seconds"] {
        assert!(types.contains_key(required), "{required} not exported:\n{metrics}");
    }
    types
}

#[test]
fn grafana_dashboard_is_importable_and_charts_exactly_the_exported_metrics() {
    let dash = dashboard();
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 30), "schemaVersion: {}", dash["schemaVersion"]);
    for key in ["uid", "title"] {
        assert!(dash[key].as_str().is_some_and(|s| !s.is_empty()), "no {key}");
    }
    // The data source is chosen at import (and in the dashboard) through a variable.
    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    assert!(
        vars.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus"),
        "no Prometheus data source variable `datasource`"
    );
    let uses_ds = |v: &Value| v["type"] == "prometheus" && v["uid"] == "${datasource}";

    let panels = data_panels(&dash);
    let mut in_panels = BTreeSet::new();
    let mut exprs = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.trim().is_empty(), "a panel without a title: {p}");
        assert!(uses_ds(&p["datasource"]), "panel {title:?}: datasource {}", p["datasource"]);
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("panel {title:?} has no query")) {
            assert!(uses_ds(&t["datasource"]), "panel {title:?}: a query's datasource {}", t["datasource"]);
            let expr = t["expr"].as_str().filter(|e| !e.trim().is_empty());
            let expr = expr.unwrap_or_else(|| panic!("panel {title:?}: a query without expr"));
            in_panels.extend(metric_names(expr));
            exprs.push(expr.to_string());
        }
    }
    let mut ids: Vec<u64> = dash["panels"].as_array().unwrap().iter().filter_map(|p| p["id"].as_u64()).collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "panel ids must be unique");

    let types = exported_metrics();
    let exported: BTreeSet<String> = types.keys().cloned().collect();
    let in_panels: BTreeSet<String> = in_panels.iter().map(|n| base_name(n, &types)).collect();
    // Anywhere in the file (queries, variables, descriptions): only real names.
    let text = fs::read_to_string(systemd_dir().join("grafana-dashboard.json")).unwrap();
    let anywhere: BTreeSet<String> = metric_names(&text).iter().map(|n| base_name(n, &types)).collect();
    let unknown: Vec<&String> = anywhere.difference(&exported).collect();
    assert!(unknown.is_empty(), "the dashboard names metrics the daemon does not export: {unknown:?}");
    let missing: Vec<&String> = exported.difference(&in_panels).collect();
    assert!(missing.is_empty(), "exported metrics no panel charts: {missing:?}");

    promql_parses(&exprs);
}

/// Every query, with Grafana's variables given values, is PromQL `promtool`
/// accepts (checked as recording rules); a broken one must be caught too.
fn promql_parses(exprs: &[String]) {
    let Some(promtool) = tool("promtool", "prometheus") else { return };
    let scratch = Scratch::new("promql");
    let check = |exprs: &[String]| {
        let rules: Vec<Value> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let e = e
                    .replace("$__rate_interval", "5m")
                    .replace("$__range", "1d")
                    .replace("$__interval", "1m")
                    .replace("$job", "cdr-rater")
                    .replace("$instance", ".*");
                assert!(!e.contains('$'), "a Grafana variable left in {e}");
                serde_json::json!({ "record": format!("dashboard:query_{i}"), "expr": e })
            })
            .collect();
        // JSON is YAML.
        let file = scratch.0.join("dashboard.rules.yml");
        let doc = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
        fs::write(&file, doc.to_string()).unwrap();
        run(Command::new(&promtool).args(["check", "rules"]).arg(&file))
    };
    let out = check(exprs);
    assert_ok("promtool check rules on the dashboard's queries", &out);
    let mut broken = exprs.to_vec();
    broken.push("sum by (le (rate(cdr_rater_file_seconds_bucket[5m]))".to_string());
    let out = check(&broken);
    assert!(!out.status.success(), "promtool missed a broken query:\n{}", text(&out));
}
