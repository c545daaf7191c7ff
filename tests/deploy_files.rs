//! The deployment files in `systemd/`, checked with the real tools:
//! - `promtool check rules`, `promtool test rules` and `promtool check config`;
//! - `systemd-analyze verify` of the unit (on a copy whose ExecStart is this build's binary);
//! - `systemd-analyze security --offline=true`: the exposure level must be 2.0 or lower;
//! - `systemd-sysusers` / `systemd-tmpfiles` on the snippets in a scratch root (as root only);
//! - the production `cdr-rater.toml` is accepted by `cdr-rater check`.
//!
//! Only offline modes are used, so this works in a container where systemd is not PID 1.
//! A missing tool fails the test when the environment variable `CI` is set (to anything but
//! "", "0" or "false"; CI installs the Debian packages `prometheus` and `systemd`, see
//! systemd/README.md), otherwise the test prints "skipped: ... not installed" to stderr and
//! passes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
