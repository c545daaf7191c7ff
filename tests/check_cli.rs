//! `cdr-rater check`: the shipped tables pass, and every planted error in a
//! copy of the golden fixture is listed with its file and line, in one run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_cdr-rater");

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check(cwd: &Path, rates: &Path) -> Output {
    Command::new(BIN)
        .args(["check", "--rates", rates.to_str().unwrap()])
        .current_dir(cwd)
        .output()
        .expect("cannot run cdr-rater")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A copy of the golden fixture in a fresh temporary folder: (guard, rates dir).
fn golden_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let rates = tmp.path().join("rates");
    copy_dir(&manifest().join("tests/fixtures/golden-rates"), &rates);
    (tmp, rates)
}

/// Appends `lines` to `path`; returns the 1-based line number of each.
fn append(path: &Path, lines: &[&str]) -> Vec<u64> {
    let mut text = fs::read_to_string(path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let first = text.lines().count() as u64 + 1;
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    fs::write(path, text).unwrap();
    (first..first + lines.len() as u64).collect()
}

/// Asserts that `out` has a line `error: FILE:LINE: ...` containing `what`.
#[track_caller]
fn assert_error(out: &str, file: &Path, line: u64, what: &str) {
    let head = format!("error: {}:{line}: ", file.display());
    assert!(
        out.lines().any(|l| l.starts_with(&head) && l.contains(what)),
        "no line starting with {head:?} and containing {what:?} in:\n{out}"
    );
}

#[test]
fn shipped_rates_pass() {
    let o = check(manifest(), &manifest().join("rates"));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains(": ok"), "{out}");
    assert!(!out.contains("error:"), "{out}");
}

#[test]
fn golden_fixture_passes_with_a_summary() {
    let (tmp, rates) = golden_copy();
    let o = check(tmp.path(), &rates);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(": ok"), "{out}");
    for (label, n) in [("wholesale prefixes", "10"), ("plans", "4"), ("customers", "5"), ("number blocks", "2")] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(label)
                && l[l.find(label).unwrap() + label.len()..].split_whitespace().next() == Some(n)),
            "summary should say {label} {n}:\n{out}"
        );
    }
}

#[test]
fn markup_below_100_percent_is_a_warning_not_an_error() {
    // plans/sixes.toml has `markup = "80%"` in [international].
    let (tmp, rates) = golden_copy();
    let plan = rates.join("plans/sixes.toml");
    let line = fs::read_to_string(&plan)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("markup = \"80%\""))
        .expect("fixture has the 80% markup") as u64
        + 1;
    let o = check(tmp.path(), &rates);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let head = format!("warning: {}:{line}: ", plan.display());
    assert!(
        out.lines().any(|l| l.starts_with(&head) && l.contains("80%") && l.contains("below 100%")),
        "no {head:?} warning about the 80% markup in:\n{out}"
    );
    assert!(!out.contains("error:"), "{out}");
}

#[test]
fn one_run_lists_every_planted_error_with_file_and_line() {
    let (tmp, rates) = golden_copy();
    let wholesale = rates.join("wholesale.csv");
    let w = append(
        &wholesale,
        &[
            "316,Netherlands - Mobile (again),NL,mobile,0.0700,,60/60",
            "33,France - Fixed,FR,fixed,\"0,05\",,1/1",
            "34,Spain - Fixed,ES,satellite,0.0500,,1/1",
            "35,Ireland - Fixed,IE,fixed,0.0500,,60",
        ],
    );
    let customers = rates.join("customers.csv");
    let c = append(&customers, &["X1,Platinum Calls B.V.,x1@example.nl,platinum,,"]);
    // An unknown key in an existing plan: the plan is refused, and that is
    // its one error (its customer F1 is not reported as naming an unknown plan).
    let plan = rates.join("plans/firstmin.toml");
    let p = append(&plan, &["mark_up = \"130%\""]);
    // A header missing a required column makes that file unreadable; numbers.csv is
    // read last, so nothing else depends on it.
    let numbers = rates.join("numbers.csv");
    let text = fs::read_to_string(&numbers).unwrap();
    fs::write(&numbers, text.replacen("prefix,customer_id", "prefix,customer", 1)).unwrap();

    let o = check(tmp.path(), &rates);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert_error(&out, &wholesale, w[0], "duplicate prefix 316");
    assert_error(&out, &wholesale, w[1], "0,05");
    assert_error(&out, &wholesale, w[2], "satellite");
    assert_error(&out, &wholesale, w[3], "increment \"60\"");
    assert_error(&out, &customers, c[0], "platinum");
    assert_error(&out, &plan, p[0], "mark_up");
    assert_error(&out, &numbers, 1, "customer_id");
    // F1 (customers.csv line 5) uses the refused plan: not a second error.
    assert!(!out.contains("\"firstmin\""), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("error:")).count(), 7, "{out}");
    assert!(!out.contains(": ok"), "{out}");
}

#[test]
fn missing_header_column_in_wholesale_is_an_error_at_line_1() {
    let (tmp, rates) = golden_copy();
    let wholesale = rates.join("wholesale.csv");
    let text = fs::read_to_string(&wholesale).unwrap();
    let header = "prefix,destination,country,kind,rate_per_min,connect_fee,increment";
    assert!(text.starts_with(header));
    fs::write(&wholesale, text.replacen(header, "prefix,destination,country,kind,rate,connect_fee,increment", 1))
        .unwrap();
    let o = check(tmp.path(), &rates);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert_error(&out, &wholesale, 1, "rate_per_min");
}

#[test]
fn missing_header_column_in_customers_is_an_error_at_line_1() {
    let (tmp, rates) = golden_copy();
    let customers = rates.join("customers.csv");
    let text = fs::read_to_string(&customers).unwrap();
    let header = "customer_id,name,email,plan,ids_range,timezone";
    assert!(text.starts_with(header));
    fs::write(&customers, text.replacen(header, "customer_id,name,email,ids_range,timezone", 1)).unwrap();
    let o = check(tmp.path(), &rates);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert_error(&out, &customers, 1, "plan");
}

#[test]
fn wholesale_row_with_more_fields_than_the_header_is_an_error() {
    // `0,05` written without quotes splits into two fields: rate "0" and connect fee
    // "05", shifting the increment out of its column. The row must not load as a
    // free destination with a 5.00 connect fee.
    let (tmp, rates) = golden_copy();
    let wholesale = rates.join("wholesale.csv");
    let w = append(&wholesale, &["33,France - Fixed,FR,fixed,0,05,,1/1"]);
    let o = check(tmp.path(), &rates);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let head = format!("error: {}:{}: ", wholesale.display(), w[0]);
    assert!(out.lines().any(|l| l.starts_with(&head)), "no {head:?} error in:\n{out}");
}
