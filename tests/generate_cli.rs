//! `cdr-rater generate`: a generated rates folder with many customers passes
//! `check`, and traffic generated for it is all rated to known customers.

mod common;

use common::{cdr_rater, read_csv, repo};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn check_accepts_a_generated_10000_customer_rates_folder() {
    let dir = tempfile::tempdir().unwrap();
    let rates = repo().join("rates");
    for (name, plans) in [("shipped", "shipped"), ("markup", "markup")] {
        let out = dir.path().join(name);
        let o = cdr_rater(
            dir.path(),
            &[
                "generate",
                "deck",
                "--prefixes",
                "5000",
                "--customers",
                "10000",
                "--plans",
                plans,
                "--rates",
                rates.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stdout(&o));
        let o = cdr_rater(dir.path(), &["check", "--rates", out.to_str().unwrap()]);
        let text = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{text}");
        assert!(text.contains("customers           10000"), "{text}");
        assert_eq!(read_csv(&out.join("customers.csv")).len(), 10_001);
    }
}

#[test]
fn generated_traffic_finds_every_customer_and_the_markup_plan_needs_customers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let rates = repo().join("rates");
    let o = cdr_rater(
        dir.path(),
        &[
            "generate",
            "deck",
            "--prefixes",
            "3000",
            "--plans",
            "markup",
            "--rates",
            rates.to_str().unwrap(),
            "--out",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let o = cdr_rater(
        dir.path(),
        &[
            "generate",
            "deck",
            "--prefixes",
            "3000",
            "--customers",
            "200",
            "--plans",
            "markup",
            "--rates",
            rates.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    let cdrs = dir.path().join("c.csv");
    let o = cdr_rater(
        dir.path(),
        &[
            "generate",
            "cdrs",
            "--rows",
            "5000",
            "--spread",
            "uniform",
            "--with-account",
            "40",
            "--rates",
            out.to_str().unwrap(),
            "--out",
            cdrs.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    let o = cdr_rater(dir.path(), &["rate", "--rates", out.to_str().unwrap(), "--out", "o", cdrs.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(!text.contains("unknown_customer"), "{text}");
    assert!(text.contains("5000 rows"), "{text}");
}
