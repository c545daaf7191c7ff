//! Operator-facing errors and hints: one root cause gives one error, each
//! message says each thing once, and a likely fix is named.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{cdr_rater, repo};

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

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
