//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the real binary with `args` in `cwd`.
pub fn cdr_rater(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdr-rater")).current_dir(cwd).args(args).output().expect("run cdr-rater")
}

/// Reads a CSV output file into rows of strings (header included).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path).expect("open output");
    r.byte_records()
        .map(|rec| rec.expect("valid CSV").iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
        .collect()
}

/// The three outputs of input stem `stem` under `out`: rated, unrated, rejected rows (headers included).
pub fn outputs(out: &Path, stem: &str) -> [Vec<Vec<String>>; 3] {
    ["rated", "unrated", "rejected"].map(|k| read_csv(&out.join(k).join(format!("{stem}.{k}.csv"))))
}

/// Finds an external tool on PATH. Missing: in CI (`CI` set) a failure,
/// elsewhere a skip with a note on stderr.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{name} is not installed; .ci/run installs it");
        eprintln!("skipped: {name} not installed");
    }
    found
}
