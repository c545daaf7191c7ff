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

/// `samples/month/README.md`'s commands, run on a copy of the folder, write
/// exactly the files in its `expected/`.
#[test]
fn the_worked_month_bills_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let month = dir.path().join("month");
    common::copy_dir(&repo().join("samples/month"), &month);
    for generated in ["spool", "state", "billing"] {
        let _ = std::fs::remove_dir_all(month.join(generated));
    }
    // The copy reads the repository's tables wherever it is.
    let config = std::fs::read_to_string(month.join("cdr-rater.toml")).unwrap();
    let rates = repo().join("rates");
    let config = config.replace("rates = \"../../rates\"", &format!("rates = {:?}", rates.to_str().unwrap()));
    std::fs::write(month.join("cdr-rater.toml"), config).unwrap();
    let now = "2026-12-10T09:00:00Z";
    for args in [
        &["rate", "--ids", "--out", "spool", "november.csv"][..],
        &["bill", "--month", "2026-11"],
        &["bill", "--month", "2026-11", "--close"],
        &["rate", "--ids", "--out", "spool", "late.csv"],
        &["bill", "--month", "2026-12"],
    ] {
        let run = common::cdr_rater_at(&month, now, args);
        assert!(run.status.success(), "{args:?}: {}", String::from_utf8_lossy(&run.stderr));
    }
    let expected = month.join("expected");
    for folder in ["2026-11", "2026-12.draft"] {
        for entry in std::fs::read_dir(expected.join(folder)).unwrap() {
            let entry = entry.unwrap();
            let written = month.join("billing").join(folder).join(entry.file_name());
            assert_eq!(
                std::fs::read_to_string(&written).unwrap(),
                std::fs::read_to_string(entry.path()).unwrap(),
                "{} differs from samples/month/expected",
                written.display()
            );
        }
    }
}
