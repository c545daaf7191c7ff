//! One claimed file, start to finish, exactly once across crashes: opened
//! once, looked up by content (a duplicate is archived, content being rated
//! waits), its output stem reserved, rated and made durable by
//! [`crate::job`], then archived (or moved to `failed/` with a reason).

use std::path::Path;
use std::time::Instant;

use super::{original_name, Spool};
use crate::job::{io_err, FileRater, JobError, KeyedInput, Rated};
use crate::output::OutputFiles;
use crate::pipeline::Totals;
use crate::state::{Ledger, Phase, StateError};

/// How one file ended.
#[derive(Debug)]
pub enum FileOutcome {
    /// Rated and published; the input is archived.
    Rated {
        /// Counts and money.
        totals: Box<Totals>,
        /// Output stem.
        stem: String,
        /// Wall time of the whole file.
        seconds: f64,
        /// Digest of the tariff tables that priced it.
        tariff: String,
    },
    /// Same content as an input rated before: archived, not billed again.
    Duplicate {
        /// Name of the earlier input.
        of: String,
    },
    /// Finished by an earlier run that stopped before archiving: archived now.
    Archived,
    /// Could not be read as CDRs: moved to `failed/` with a reason.
    Failed {
        /// Why.
        reason: String,
    },
    /// Left for the next start (shutdown while rating). Nothing published.
    Abandoned,
    /// The same content is being rated under another claim: try again
    /// shortly (it is then a duplicate, or rated if the other copy failed).
    Busy {
        /// Name of the other input.
        of: String,
    },
    /// The claimed file was no longer there (moved away by an operator).
    Gone,
}

/// The daemon's handling of claimed files in a spool.
pub struct Processor<'a> {
    /// The folders.
    pub spool: &'a Spool,
    /// Rating with state.
    pub rater: FileRater<'a>,
}

impl Processor<'_> {
    /// Takes a claimed file through the rest of its life.
    ///
    /// The claimed entry is opened once, without following links or
    /// blocking; the handle is hashed, rated and checked again, so what is
    /// billed is exactly the content recorded in the ledger.
    pub fn process(&self, claimed: &Path) -> Result<FileOutcome, JobError> {
        let started = Instant::now();
        let claimed_name = claimed.file_name().and_then(|n| n.to_str()).unwrap_or("input").to_string();
        let name = original_name(&claimed_name).to_string();
        let file = match crate::input::open_regular(claimed) {
            Ok(Ok(file)) => file,
            Ok(Err(what)) => return self.fail(claimed, &format!("refused: {what}; only regular files are rated")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileOutcome::Gone),
            Err(e) => return self.fail(claimed, &format!("cannot open: {e}")),
        };
        let key = match crate::input::key_of(&file) {
            Ok(k) => k,
            Err(e) => return self.fail(claimed, &format!("cannot read: {e}")),
        };
        // Looking the content up and reserving it is one step across workers,
        // so the same content claimed twice at once is rated once.
        let section = self.rater.locks.commit();
        let record = self.rater.ledger.get(&key)?;
        if let Some(r) = record.as_ref().filter(|r| r.phase == Phase::Done) {
            self.spool.archive(claimed).map_err(|e| io_err("archive", claimed, e))?;
            return Ok(if r.claimed == claimed_name {
                FileOutcome::Archived
            } else {
                FileOutcome::Duplicate { of: r.name.clone() }
            });
        }
        let Some(_mark) = self.rater.locks.rating(key) else {
            // The same content is being rated under another claim: wait for
            // it. If it is billed, this copy is then a duplicate; if it fails
            // (it changed under us), this copy is rated.
            return Ok(FileOutcome::Busy { of: record.map(|r| r.name).unwrap_or_default() });
        };
        let (record, redo) = match record {
            Some(r) => {
                // A redo: after a crash, after an error, or of content whose
                // claimed copy is gone (an operator moved it back into
                // incoming/); no worker rates it now (`RATING`). It keeps its stem, so its outputs are replaced,
                // never doubled.
                let outputs = &self.spool.outputs;
                let r = self
                    .rater
                    .ledger
                    .begin(&key, &r.name, &claimed_name, &r.stem, &|s| !OutputFiles::taken(outputs, s))?;
                (r, true)
            }
            None => {
                let outputs = &self.spool.outputs;
                let r = self.rater.ledger.begin(&key, &name, &claimed_name, &self.spool.stem_base(&name), &|s| {
                    !OutputFiles::taken(outputs, s)
                })?;
                (r, false)
            }
        };
        drop(section);
        let stem = record.stem.clone();
        let record_name = name.clone();
        let input = KeyedInput { file, path: claimed, key };
        match self.rater.rate_and_commit(input, record, redo, &self.spool.outputs, &self.spool.tmp)? {
            Rated::Done { totals, tariff } => {
                // Counted as soon as it is done in the ledger, before the
                // input leaves `.claimed/`: whoever sees it archived sees it
                // counted. (A redo after a crash before the archive finds it
                // done and only archives it: counted once.)
                let seconds = started.elapsed().as_secs_f64();
                let source = self.spool.source.as_deref().unwrap_or("default");
                crate::telemetry::emit(&crate::telemetry::Event::FileRated {
                    source,
                    name: &record_name,
                    totals: &totals,
                    seconds,
                    tariff: &tariff,
                });
                self.spool.archive(claimed).map_err(|e| io_err("archive", claimed, e))?;
                Ok(FileOutcome::Rated { totals, stem, seconds, tariff })
            }
            Rated::Cancelled => Ok(FileOutcome::Abandoned),
            Rated::Unreadable(reason) => {
                let outcome = self.fail(claimed, &reason)?;
                self.rater.ledger.forget(&key)?;
                Ok(outcome)
            }
        }
    }

    /// Moves a claimed entry to `failed/` with its reason.
    fn fail(&self, claimed: &Path, reason: &str) -> Result<FileOutcome, JobError> {
        self.spool.fail(claimed, reason).map_err(|e| io_err("fail", claimed, e))?;
        Ok(FileOutcome::Failed { reason: reason.to_string() })
    }
}

/// Drops the ledger's in-progress entries whose claimed file is in none of
/// `spools` and whose outputs were never published: nothing of them was
/// billed, and their content, if it comes back, is rated afresh. An entry
/// whose outputs are published keeps its stem, so that a re-send of its
/// content replaces them instead of adding a second copy. Run at start,
/// before any file is taken. Returns the dropped input names.
pub fn drop_orphans(ledger: &dyn Ledger, spools: &[&Spool]) -> Result<Vec<String>, StateError> {
    let mut dropped = Vec::new();
    for (key, r) in ledger.all()? {
        if r.phase != Phase::InProgress || spools.iter().any(|s| s.claimed.join(&r.claimed).exists()) {
            continue;
        }
        let published = spools.iter().any(|s| OutputFiles::taken(&s.outputs, &r.stem));
        if published {
            tracing::warn!(
                file = %crate::telemetry::Untrusted(&r.name),
                stem = %crate::telemetry::Untrusted(&r.stem),
                "claimed file gone after its outputs were published; a re-send of it replaces them"
            );
        } else {
            ledger.forget(&key)?;
            dropped.push(r.name);
        }
    }
    Ok(dropped)
}
