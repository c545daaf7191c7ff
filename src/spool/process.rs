//! One claimed file, start to finish, exactly once across crashes.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use super::{original_name, Spool};
use crate::formats::FormatName;
use crate::money::format_units;
use crate::numbers::Numbering;
use crate::output::{stem_of, OutputFiles};
use crate::pipeline::{self, FileError, Job, Totals};
use crate::rating::Rater;
use crate::state::{ContentKey, FileRecord, Ledger, Phase, StateError};
use crate::tariff::Tariff;

/// How one file ended.
#[derive(Debug)]
pub enum FileOutcome {
    /// Rated and published; the input is archived.
    Rated {
        /// Counts and money.
        totals: Totals,
        /// Output stem.
        stem: String,
        /// Wall time of the whole file.
        seconds: f64,
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
}

/// A failure that stops this file but not the daemon; the claimed file stays
/// and is retried.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The spool or an output could not be written.
    #[error("{0}")]
    Io(String),
}

/// Everything needed to rate claimed files.
pub struct Processor<'a> {
    /// The folders.
    pub spool: &'a Spool,
    /// The file ledger.
    pub ledger: &'a dyn Ledger,
    /// The tariff tables in force (swapped whole on reload).
    pub tariffs: &'a ArcSwap<Tariff>,
    /// Numbering plan of the source.
    pub numbering: &'a Numbering,
    /// CDR format of the source.
    pub format: FormatName,
    /// Zone of local times.
    pub timezone: jiff::tz::TimeZone,
    /// Decimal places of prices.
    pub decimals: u32,
    /// Longest row.
    pub max_line_bytes: usize,
    /// Default customer of the source (index into the tariff's customers is
    /// looked up per file, by id).
    pub default_customer: Option<String>,
    /// Set on shutdown.
    pub cancel: &'a AtomicBool,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ProcessError {
    ProcessError::Io(format!("{what} {}: {e}", path.display()))
}

impl Processor<'_> {
    /// Takes a claimed file through the rest of its life.
    pub fn process(&self, claimed: &Path) -> Result<FileOutcome, ProcessError> {
        let started = Instant::now();
        let claimed_name = claimed.file_name().and_then(|n| n.to_str()).unwrap_or("input").to_string();
        let name = original_name(&claimed_name).to_string();
        let key = match hash_file(claimed) {
            Ok(k) => k,
            Err(e) => {
                self.spool.fail(claimed, &format!("cannot read: {e}")).map_err(|e| io_err("fail", claimed, e))?;
                return Ok(FileOutcome::Failed { reason: format!("cannot read: {e}") });
            }
        };
        let record = match self.ledger.get(&key)? {
            Some(r) if r.phase == Phase::Done => {
                self.spool.archive(claimed).map_err(|e| io_err("archive", claimed, e))?;
                return Ok(if r.claimed == claimed_name {
                    FileOutcome::Archived
                } else {
                    FileOutcome::Duplicate { of: r.name }
                });
            }
            Some(r) if r.claimed != claimed_name => {
                // The same content is claimed under another name and not done
                // yet: that copy will be (re)done; this one is a duplicate.
                self.spool.archive(claimed).map_err(|e| io_err("archive", claimed, e))?;
                return Ok(FileOutcome::Duplicate { of: r.name });
            }
            Some(r) => r, // a redo after a crash: same stem, outputs replaced
            None => {
                let outputs = &self.spool.outputs;
                self.ledger.begin(&key, &name, &claimed_name, &stem_of(&name), &|s| !OutputFiles::taken(outputs, s))?
            }
        };
        let tariff = self.tariffs.load_full();
        let default_customer = match &self.default_customer {
            Some(id) => tariff.customer_by_id(id.as_bytes()),
            None => None,
        };
        let job = Job {
            name: name.clone(),
            format: self.format,
            rater: Rater { tariff: &tariff, numbering: self.numbering, decimals: self.decimals, default_customer },
            timezone: self.timezone.clone(),
            max_line_bytes: self.max_line_bytes,
            chunk_bytes: pipeline::CHUNK_BYTES,
            cancel: Some(self.cancel),
        };
        let result = (|| {
            let input = crate::input::open(claimed).map_err(FileError::Read)?;
            let mut outputs = OutputFiles::create_owned(&self.spool.outputs, &self.spool.tmp, &record.stem)
                .map_err(FileError::Write)?;
            let totals = pipeline::rate_input(input, &job, &mut outputs)?;
            outputs.publish().map_err(FileError::Write)?;
            Ok::<_, FileError>(totals)
        })();
        let totals = match result {
            Ok(t) => t,
            Err(FileError::Cancelled) => return Ok(FileOutcome::Abandoned),
            Err(e @ (FileError::Read(_) | FileError::Format(_))) => {
                let reason = e.to_string();
                self.spool.fail(claimed, &reason).map_err(|e| io_err("fail", claimed, e))?;
                self.ledger.forget(&key)?;
                return Ok(FileOutcome::Failed { reason });
            }
            Err(FileError::Write(e)) => return Err(ProcessError::Io(format!("writing outputs of {name}: {e}"))),
        };
        let done = FileRecord {
            counts: [totals.rows, totals.rated, totals.unrated, totals.rejected],
            buy: format_units(totals.buy, self.decimals),
            sell: format_units(totals.sell, self.decimals),
            ..record
        };
        self.ledger.finish(&key, &done)?;
        self.spool.archive(claimed).map_err(|e| io_err("archive", claimed, e))?;
        Ok(FileOutcome::Rated { totals, stem: done.stem, seconds: started.elapsed().as_secs_f64() })
    }
}

/// Hashes a file's bytes without reading it into memory.
fn hash_file(path: &Path) -> std::io::Result<ContentKey> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(ContentKey::of(b""));
    }
    // SAFETY: a claimed file is private to the daemon (renamed out of
    // incoming/), so nobody truncates it while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(ContentKey::of(&map))
}

/// Shares a tariff snapshot.
pub type Tariffs = Arc<ArcSwap<Tariff>>;
