//! The daemon's start-up check of its state: a lost or damaged ledger is
//! never replaced silently by an empty one, since an empty ledger would
//! bill every re-sent file again.

use std::path::{Path, PathBuf};

use super::{OpenError, RedbLedger};

/// File name of the ledger in the state folder.
pub const LEDGER_FILE: &str = "ledger.redb";

/// Why the daemon may not start on its state.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The ledger is missing or empty while the spool shows earlier work.
    #[error(
        "{path}: the ledger is {state}, but the spool shows earlier work ({evidence} exists): \
         starting would bill re-sent files again. Restore the ledger from a backup, \
         or recreate it from the spool with `cdr-rater state rebuild`"
    )]
    Lost {
        /// The ledger file.
        path: PathBuf,
        /// `missing`, `empty (0 bytes)` or `empty (no file records)`.
        state: &'static str,
        /// A file of the spool that proves earlier work.
        evidence: String,
    },
    /// The ledger file is damaged (truncated, overwritten).
    #[error(
        "{0}. Restore the ledger from a backup, or recreate it from the spool with \
         `cdr-rater state rebuild` (it moves the damaged file aside)"
    )]
    Damaged(OpenError),
    /// The ledger could not be opened (in use, unreadable).
    #[error(transparent)]
    Open(OpenError),
    /// The ledger could not be read after opening.
    #[error(transparent)]
    State(#[from] super::StateError),
}

/// Opens the daemon's ledger in `state_dir`, refusing (instead of starting
/// empty) when it is missing, empty or damaged while the spool under
/// `spool_root` shows earlier work: an archived input, or a rated output.
pub fn open_for_daemon(state_dir: &Path, spool_root: &Path) -> Result<RedbLedger, GuardError> {
    let path = state_dir.join(LEDGER_FILE);
    let missing = match std::fs::metadata(&path) {
        Ok(m) if m.len() == 0 => Some("empty (0 bytes)"),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("missing"),
        Err(e) => return Err(GuardError::Open(OpenError::Io { path, source: e })),
    };
    let lost = |state| match earlier_work(spool_root) {
        Some(evidence) => Err(GuardError::Lost { path: path.clone(), state, evidence: evidence.display().to_string() }),
        None => Ok(()),
    };
    if let Some(state) = missing {
        lost(state)?;
    }
    let ledger = RedbLedger::open_checked(&path).map_err(|e| match e {
        e @ OpenError::Damaged { .. } => GuardError::Damaged(e),
        e => GuardError::Open(e),
    })?;
    if missing.is_none() && ledger.file_count()? == 0 {
        lost("empty (no file records)")?;
    }
    Ok(ledger)
}

/// The first file found that shows the spool was worked on: any file under
/// `archive/` (sources have sub-folders), or a `*.rated.csv` under `rated/`.
pub fn earlier_work(spool_root: &Path) -> Option<PathBuf> {
    find_file(&spool_root.join("archive"), &|_| true)
        .or_else(|| find_file(&spool_root.join("rated"), &|name| name.ends_with(".rated.csv")))
}

/// Depth-first search for a regular file whose name passes `wanted`;
/// links are not followed. Unreadable folders count as empty.
fn find_file(dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            if let Some(found) = find_file(&e.path(), wanted) {
                return Some(found);
            }
        } else if t.is_file() && e.file_name().to_str().is_some_and(wanted) {
            return Some(e.path());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ContentKey, Ledger};

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (state, spool) = (dir.path().join("state"), dir.path().join("spool"));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(spool.join("archive/pbx")).unwrap();
        std::fs::create_dir_all(spool.join("rated/pbx")).unwrap();
        (dir, state, spool)
    }

    #[test]
    fn a_fresh_spool_starts_and_a_lost_ledger_is_refused() {
        let (_dir, state, spool) = setup();
        // Empty folders and other outputs are not earlier work.
        std::fs::write(spool.join("rated/pbx/x.unrated.csv"), b"").unwrap();
        let ledger = open_for_daemon(&state, &spool).unwrap();
        drop(ledger);
        // A valid ledger without records, with a rated output in a source's folder.
        std::fs::write(spool.join("rated/pbx/x.rated.csv"), b"h\n").unwrap();
        let e = open_for_daemon(&state, &spool).unwrap_err().to_string();
        assert!(e.contains("no file records") && e.contains("x.rated.csv") && e.contains("state rebuild"), "{e}");
        // Missing, with an archived input only.
        std::fs::remove_file(spool.join("rated/pbx/x.rated.csv")).unwrap();
        std::fs::write(spool.join("archive/pbx/a.csv"), b"x").unwrap();
        std::fs::remove_file(state.join(LEDGER_FILE)).unwrap();
        let e = open_for_daemon(&state, &spool).unwrap_err().to_string();
        assert!(e.contains("ledger.redb: the ledger is missing") && e.contains("archive/pbx/a.csv"), "{e}");
        assert!(!state.join(LEDGER_FILE).exists(), "the refusal must not create a ledger");
        std::fs::write(state.join(LEDGER_FILE), b"").unwrap();
        let e = open_for_daemon(&state, &spool).unwrap_err().to_string();
        assert!(e.contains("empty (0 bytes)"), "{e}");
    }

    #[test]
    fn a_ledger_with_records_opens_and_a_damaged_one_is_named() {
        let (_dir, state, spool) = setup();
        std::fs::write(spool.join("archive/a.csv"), b"x").unwrap();
        {
            let l = RedbLedger::open(&state.join(LEDGER_FILE)).unwrap();
            l.begin(&ContentKey::of(b"x"), "a.csv", "1-a.csv", "a", &|_| true).unwrap();
        }
        assert_eq!(open_for_daemon(&state, &spool).unwrap().file_count().unwrap(), 1);
        std::fs::write(state.join(LEDGER_FILE), vec![0x5a; 8192]).unwrap();
        let e = open_for_daemon(&state, &spool).unwrap_err();
        assert!(matches!(e, GuardError::Damaged(_)), "{e}");
        assert!(e.to_string().contains("ledger.redb: the ledger is damaged"), "{e}");
    }
}
