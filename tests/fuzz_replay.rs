//! Replays the fuzz corpora and regressions on the stable toolchain.
//!
//! Every file in `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! goes through the same check as the cargo-fuzz target `<target>` (the
//! checks live in `fuzz/checks/mod.rs`, included here and by the targets),
//! so `cargo test` keeps every seed and every crash found so far passing.
//! See `fuzz/README.md` for running the fuzzers themselves.

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Regressions that still fail because the bug is not fixed in `src/` yet,
/// as (`target/file`, fails only with overflow checks). They are replayed too
/// and must still fail, so that a fix is noticed (then remove the entry; the
/// file stays a regression). Entries that panic only on integer overflow are
/// not judged in builds without overflow checks (`cargo test --release`).
const KNOWN_OPEN: &[(&str, bool)] = &[];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none if the folder is missing.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs `target`'s check on every corpus and regression file; fails listing
/// every file whose check panicked.
fn replay(target: &str) {
    let mut failed = Vec::new();
    let mut count = 0usize;
    for kind in ["corpus", "regressions"] {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            count += 1;
            let name = format!("{target}/{}", path.file_name().unwrap_or_default().to_string_lossy());
            let open = KNOWN_OPEN.iter().find(|(file, _)| kind == "regressions" && *file == name);
            let ok = panic::catch_unwind(AssertUnwindSafe(|| checks::run(target, &data))).is_ok();
            match (ok, open) {
                (true, None) | (false, Some(_)) => {}
                (true, Some((_, true))) if !cfg!(debug_assertions) => {}
                (false, None) => failed.push(format!("{} fails", path.display())),
                (true, Some(_)) => {
                    failed.push(format!("{} passes now: remove {name:?} from KNOWN_OPEN", path.display()))
                }
            }
        }
    }
    assert!(count > 0, "no inputs for {target} under {}", fuzz_dir().display());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_target_has_a_corpus() {
    for target in checks::TARGETS {
        assert!(!inputs("corpus", target).is_empty(), "fuzz/corpus/{target}/ is empty");
    }
    for (open, _) in KNOWN_OPEN {
        let path = fuzz_dir().join("regressions").join(open);
        assert!(path.is_file(), "KNOWN_OPEN names {}", path.display());
    }
}

#[test]
fn csv_scan() {
    replay("csv_scan");
}

#[test]
fn format_generic() {
    replay("format_generic");
}

#[test]
fn format_asterisk() {
    replay("format_asterisk");
}

#[test]
fn format_freeswitch() {
    replay("format_freeswitch");
}

#[test]
fn format_3cx() {
    replay("format_3cx");
}

#[test]
fn format_cucm() {
    replay("format_cucm");
}

#[test]
fn format_custom() {
    replay("format_custom");
}

#[test]
fn numbers() {
    replay("numbers");
}

#[test]
fn timefmt() {
    replay("timefmt");
}

#[test]
fn tariff_files() {
    replay("tariff_files");
}

#[test]
fn config() {
    replay("config");
}

#[test]
fn e2e() {
    replay("e2e");
}

#[test]
fn fraud_files() {
    replay("fraud_files");
}

#[test]
fn service_files() {
    replay("service_files");
}
