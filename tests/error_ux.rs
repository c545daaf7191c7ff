//! Operator-facing errors and hints: one root cause gives one error, each
//! message says each thing once, and a likely fix is named.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{cdr_rater, copy_dir, repo};

/// A temporary folder holding a copy of the shipped `rates/`.
fn shipped_rates() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let rates = tmp.path().join("rates");
    copy_dir(&repo().join("rates"), &rates);
    (tmp, rates)
}

/// Replaces the first `from` in `path` with `to`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn error_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("error:")).map(str::to_string).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn one_unquoted_float_is_one_error() {
    let (tmp, rates) = shipped_rates();
    // standard.toml is the plan of customers that numbers.csv names: its
    // failure must not come back as unknown plans and unknown customers.
    edit(&rates.join("plans/standard.toml"), "per_min = \"0.0300\"", "per_min = 0.03");
    let o = cdr_rater(tmp.path(), &["check", "--rates", "rates"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("error: rates/plans/standard.toml:")
            && errors[0].contains("per_min must be a quoted string"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_refused_customer_row_is_not_reported_again_by_numbers() {
    let (tmp, rates) = shipped_rates();
    // C0010 has two number blocks; its row gets a stray (decimal) comma.
    let customers = fs::read_to_string(rates.join("customers.csv")).unwrap();
    let row = customers.lines().find(|l| l.starts_with("C0010,")).unwrap().to_string();
    fs::write(rates.join("customers.csv"), customers.replace(&row, &format!("{row},0,5"))).unwrap();
    let o = cdr_rater(tmp.path(), &["check", "--rates", "rates"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("rates/customers.csv:") && errors[0].contains("fields"), "{}", errors[0]);

    // A customer refused for its own values (an unknown zone) likewise.
    let c7 = customers.lines().find(|l| l.starts_with("C0007,")).unwrap().to_string();
    let (head, _) = c7.rsplit_once(',').unwrap();
    fs::write(rates.join("customers.csv"), customers.replace(&c7, &format!("{head},Mars/Olympus"))).unwrap();
    let o = cdr_rater(tmp.path(), &["check", "--rates", "rates"]);
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("unknown time zone \"Mars/Olympus\""), "{}", errors[0]);
}

#[test]
fn an_unknown_plan_names_the_close_match_first() {
    let (tmp, rates) = shipped_rates();
    edit(&rates.join("customers.csv"), ",budget,", ",bugdet,");
    edit(&rates.join("customers.csv"), ",business,", ",premium,");
    let o = cdr_rater(tmp.path(), &["check", "--rates", "rates"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.ends_with("unknown plan \"bugdet\"; plans: budget, business, standard")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.ends_with("unknown plan \"premium\"; plans: budget, business, standard")),
        "{errors:#?}"
    );
    // numbers.csv naming those two customers is not reported.
    assert!(!errors.iter().any(|e| e.contains("numbers.csv")), "{errors:#?}");
}

#[test]
fn a_missing_rates_folder_is_one_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = cdr_rater(tmp.path(), &["check", "--rates", "nowhere"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("error: nowhere: cannot open the tariff tables folder"), "{}", errors[0]);
}

/// `rate` of `file` (in a fresh folder, outputs under `out/`) with `args`.
fn rate(tmp: &Path, file: &Path, args: &[&str]) -> Output {
    let rates = repo().join("rates");
    let mut all = vec!["rate", "--rates", rates.to_str().unwrap(), "--out", "out"];
    all.extend_from_slice(args);
    all.push(file.to_str().unwrap());
    cdr_rater(tmp, &all)
}

#[test]
fn a_missing_column_is_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("calls.csv");
    fs::write(
        &file,
        "call_id,start,account,caller,dest,billsec\n1,2026-11-24T09:00:00Z,C0001,0201234567,0612345678,60\n",
    )
    .unwrap();
    let o = rate(tmp.path(), &file, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("calls.csv: not rated: ")).unwrap_or_else(|| panic!("{err}"));
    assert_eq!(line, "calls.csv: not rated: header lacks required column(s): start_time, callee", "{err}");
}

#[test]
fn an_asterisk_master_csv_rated_as_generic_names_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let o = rate(tmp.path(), &repo().join("samples/Master.csv"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("Master.csv: not rated: ")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(": looks like an asterisk Master.csv: try --format asterisk"), "{line}");
    assert_eq!(line.matches("header lacks").count(), 1, "{line}");
}

#[test]
fn other_formats_rated_as_generic_name_theirs() {
    let tmp = tempfile::tempdir().unwrap();
    for (sample, hint) in [
        ("samples/freeswitch/a-legs.csv", "looks like a FreeSWITCH mod_cdr_csv file: try --format freeswitch"),
        ("samples/3cx/cdr-v20.csv", "looks like a 3CX CDR log (rows start \"Call N\"): try --format 3cx"),
        ("samples/cucm/cdr_StandAloneCluster_01_202611240900_1234", "try --format cucm"),
    ] {
        let o = rate(tmp.path(), &repo().join(sample), &[]);
        assert_eq!(o.status.code(), Some(1), "{sample}: {}", stderr(&o));
        assert!(stderr(&o).contains(hint), "{sample}: {}", stderr(&o));
    }
    // And a generic file given to a header-driven format names generic.
    let o = rate(tmp.path(), &repo().join("samples/generic.csv"), &["--format", "cucm"]);
    assert!(stderr(&o).contains("looks like a generic CSV"), "{}", stderr(&o));
}

#[test]
fn missing_default_folders_say_where_they_were_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().canonicalize().unwrap();
    let want = |what: &str| {
        format!(
            "{what}/ not found in {} (no --config and no ./cdr-rater.toml: the built-in defaults look in the current folder)",
            cwd.display()
        )
    };
    for args in [&["check"][..], &["rate", "x.csv"], &["lookup", "--plan", "standard", "0612345678"]] {
        let o = cdr_rater(&cwd, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim_end(), format!("cdr-rater: {}", want("rates")), "{args:?}");
    }
    // With the rates there, `state rebuild` names the missing spool.
    copy_dir(&repo().join("rates"), &cwd.join("rates"));
    let o = cdr_rater(&cwd, &["state", "rebuild"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim_end(), format!("cdr-rater: {}", want("spool")));
    assert!(!cwd.join("state").exists(), "nothing was rebuilt");
    // A configured path is the operator's: the config's own message.
    fs::write(cwd.join("c.toml"), "rates = \"nowhere\"\n").unwrap();
    fs::remove_dir_all(cwd.join("rates")).unwrap();
    let o = cdr_rater(&cwd, &["check", "--config", "c.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("built-in defaults"), "{}", stderr(&o));
}

#[test]
fn rate_without_out_writes_to_the_current_folder_never_the_spool() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let spool = root.join("spool");
    fs::create_dir_all(spool.join("rated")).unwrap();
    fs::write(
        root.join("cdr-rater.toml"),
        format!("rates = \"{}\"\nspool = \"spool\"\n", repo().join("rates").display()),
    )
    .unwrap();
    let work = root.join("work");
    fs::create_dir_all(&work).unwrap();
    let config = root.join("cdr-rater.toml");
    let sample = repo().join("samples/generic.csv");
    let o = cdr_rater(&work, &["rate", "--config", config.to_str().unwrap(), sample.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read_dir(&spool).unwrap().count(), 1, "the spool holds only the rated/ it had");
    assert_eq!(fs::read_dir(spool.join("rated")).unwrap().count(), 0, "nothing new in the spool");
    for kind in ["rated", "unrated", "rejected"] {
        assert!(work.join(kind).join(format!("generic.{kind}.csv")).is_file(), "{kind} in the current folder");
    }
    assert!(stderr(&o).contains("-> ./rated/generic.rated.csv"), "{}", stderr(&o));
}

#[test]
fn formats_without_an_account_hint_at_customer_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cucm = repo().join("samples/cucm/cdr_StandAloneCluster_01_202611240900_1234");
    let threecx = repo().join("samples/3cx/cdr-v20.csv");
    let o = rate(tmp.path(), &cucm, &["--format", "cucm"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "summary, output, hint: {err}");
    assert!(lines[0].contains(" unrated (unknown_customer 11), "), "{err}");
    assert!(
        lines[2].starts_with("hint: 11 row(s) unrated as unknown_customer: format cucm has no account column"),
        "{err}"
    );
    assert!(lines[2].contains("--customer ID"), "{err}");
    // Named: no hint.
    let o = rate(tmp.path(), &cucm, &["--format", "cucm", "--customer", "C0001"]);
    assert!(o.status.success() && !stderr(&o).contains("hint:"), "{}", stderr(&o));
    // Two files: one hint, after the total.
    let mut args = vec!["--format", "3cx", threecx.to_str().unwrap()];
    args.insert(0, "--threads");
    args.insert(1, "1");
    let o = rate(tmp.path(), &threecx, &args);
    let err = stderr(&o);
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
    assert!(err.lines().last().unwrap().starts_with("hint: 2 row(s)"), "{err}");
    // A format with an account column never hints.
    let o = rate(tmp.path(), &repo().join("samples/generic.csv"), &[]);
    assert!(!stderr(&o).contains("hint:"), "{}", stderr(&o));
}

#[test]
fn a_progress_bar_only_on_a_terminal_and_cleared_before_the_summary() {
    let Some(script) = common::tool("script") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let rates = repo().join("rates");
    let sample = repo().join("samples/generic.csv");
    // A stream (stdin) held open long enough for the bar to be drawn.
    let pipeline = format!(
        "(cat '{}'; sleep 1) | '{}' rate --rates '{}' --out out -",
        sample.display(),
        env!("CARGO_BIN_EXE_cdr-rater"),
        rates.display()
    );
    let o = std::process::Command::new(script)
        .current_dir(tmp.path())
        .env("CDR_RATER_NOW", common::TEST_NOW)
        .args(["-qec", &format!("sh -c \"{pipeline}\""), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{screen}");
    let bar = screen.rfind(" rated (").unwrap_or_else(|| panic!("no progress bar on a terminal: {screen:?}"));
    let summary = screen.find("stdin: 41 rows").unwrap_or_else(|| panic!("no summary: {screen:?}"));
    assert!(bar < summary, "{screen:?}");
    assert!(screen[bar..summary].contains("\u{1b}[2K"), "the bar is cleared before the summary: {screen:?}");
    // Not a terminal: no bar.
    let o = std::process::Command::new("sh")
        .current_dir(tmp.path())
        .env("CDR_RATER_NOW", common::TEST_NOW)
        .args(["-c", &pipeline])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains(" rated (") && !err.contains('\u{1b}'), "{err:?}");
}
