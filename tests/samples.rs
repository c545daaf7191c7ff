//! The shipped samples and sample configuration work as documented.

mod common;

use common::{cdr_rater, outputs, repo};

#[test]
fn sample_config_and_drops_rate_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let config = repo().join("samples/cdr-rater.toml");
    let generic = repo().join("samples/generic.csv");
    let run =
        cdr_rater(&repo(), &["rate", "--config", config.to_str().unwrap(), "--out", out, generic.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let [rated, unrated, rejected] = outputs(dir.path(), "generic");
    assert_eq!((rated.len() - 1, unrated.len() - 1, rejected.len() - 1), (36, 2, 3));
    // Every rejected and unrated row names its line and a known reason.
    for row in unrated.iter().skip(1).chain(rejected.iter().skip(1)) {
        assert!(row[0].parse::<u64>().is_ok(), "{row:?}");
    }

    let master = repo().join("samples/Master.csv");
    let run = cdr_rater(
        &repo(),
        &["rate", "--config", config.to_str().unwrap(), "--format", "asterisk", "--out", out, master.to_str().unwrap()],
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let [rated, unrated, rejected] = outputs(dir.path(), "Master");
    assert_eq!((rated.len() - 1, unrated.len() - 1, rejected.len() - 1), (21, 0, 0));
}

#[test]
fn lookup_explains_a_shipped_number() {
    let rates = repo().join("rates");
    let out = cdr_rater(&repo(), &["lookup", "--rates", rates.to_str().unwrap(), "--customer", "C0001", "020-1234567"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["normalised    31201234567", "prefix        3120 ", "[domestic] fixed_per_min", "sell "] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let out = cdr_rater(&repo(), &["lookup", "--rates", rates.to_str().unwrap(), "--plan", "standard", "*97"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("internal"));
    let out = cdr_rater(&repo(), &["lookup", "--rates", rates.to_str().unwrap(), "--plan", "nope", "0201234567"]);
    assert_eq!(out.status.code(), Some(2));
}
