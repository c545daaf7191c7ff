//! `cdr-rater state rebuild`: recreates a lost or damaged ledger from what
//! the spool still holds, so a re-sent file is still a duplicate and the
//! IDS days are what the daemon had.
//!
//! - every archived input (`archive/`, `archive/<source>/`) is recorded as
//!   done under its content key, owning the output stem it most likely
//!   produced (its name's stem, or `.2`, `.3`, ... in archive order);
//! - every output stem on disk is reserved, so no new input takes its name;
//! - IDS days are summed again from the rated outputs, as the daemon sums
//!   them, with the alert levels already logged;
//! - the billing month totals are summed again from the rated outputs (so
//!   a lost store keeps its months; closed months and invoice numbers are
//!   not in the spool and are not recovered);
//! - fraud states are judged again from the rated outputs of the judged
//!   days, with the rules the alert log shows fired (`fraud_rebuild`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::fraud_rebuild::FraudRebuild;
use super::ids_rebuild::{IdsRebuild, RatedFile};
use super::{guard::LEDGER_FILE, ContentKey, FileRecord, OpenError, Phase, RedbLedger, StateError};
use crate::money::format_units;
use crate::output::stem_of;
use crate::tariff::Tariff;

/// What `rebuild` needs to know of the configuration.
pub struct RebuildPlan<'a> {
    /// The state folder (`state/`).
    pub state_dir: PathBuf,
    /// The spool root (`archive/`, `rated/`, ... below it).
    pub spool_root: PathBuf,
    /// The tariff tables: customers, their IDS ranges and zones.
    pub tariff: &'a Tariff,
    /// Decimals of prices.
    pub decimals: u32,
    /// Zone of customer days of customers without their own zone.
    pub timezone: jiff::tz::TimeZone,
    /// Zones of named sources (their outputs are in `rated/<source>/`).
    pub source_zones: HashMap<String, jiff::tz::TimeZone>,
    /// IDS window and alert log, when IDS is on.
    pub ids: Option<(u32, PathBuf)>,
    /// The fraud rules of the tables (judged only with IDS on, like the daemon).
    pub fraud: Option<&'a crate::fraud::FraudRules>,
    /// Row limits: which starts were flagged (future calls count on the
    /// day they were rated).
    pub limits: crate::config::Limits,
    /// "Now" of each rated file.
    pub clock: Clock,
    /// Move a ledger that still has records aside and rebuild anyway.
    pub force: bool,
}

/// When each rated output was rated.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// Every file at this instant (`CDR_RATER_NOW`: tests, replays).
    Fixed(jiff::Timestamp),
    /// Each file at its output's modification time (when it was published).
    OutputTimes,
}

/// What a rebuild did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Archived inputs recorded as done.
    pub inputs: usize,
    /// Archived copies whose content was already recorded (re-sends).
    pub duplicates: usize,
    /// Recorded inputs matched to an output stem.
    pub owned_stems: usize,
    /// Output stems reserved without a known input.
    pub reserved_stems: usize,
    /// Customers whose IDS days were rebuilt.
    pub customers: usize,
    /// Customer days rebuilt.
    pub days: usize,
    /// Customer days whose alert level came from the alert log.
    pub levels: usize,
    /// Customers whose fraud state was rebuilt.
    pub fraud_customers: usize,
    /// Fraud rules fired (customer, rule, day) restored from the alert log.
    pub fraud_marks: usize,
    /// Fraud rules the judgement found firing that the log does not show
    /// (0 unless the log lost lines; they are marked fired, not alerted).
    pub fraud_unlogged: usize,
    /// Month totals rows (customer, month, currency, line) restored.
    pub usage_rows: usize,
    /// Where the old ledger was moved, if there was one.
    pub moved_aside: Option<PathBuf>,
}

/// Why a rebuild was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// A daemon (or another command) holds the ledger.
    #[error("{0}: the ledger is in use by another process: stop the daemon before rebuilding")]
    Locked(PathBuf),
    /// The ledger is readable and holds records.
    #[error(
        "{path}: the ledger holds {records} file record(s); rebuild with --force to move it aside \
         (to {path}.broken-<unix seconds>) and recreate it from the spool"
    )]
    HasRecords {
        /// The ledger file.
        path: PathBuf,
        /// Its records.
        records: u64,
    },
    /// A spool or state file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The new ledger could not be opened.
    #[error(transparent)]
    Open(OpenError),
    /// The new ledger could not be written.
    #[error(transparent)]
    State(#[from] StateError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RebuildError + '_ {
    move |source| RebuildError::Io { path: path.to_path_buf(), source }
}

/// Rebuilds the ledger (see the module comment).
pub fn rebuild(plan: &RebuildPlan<'_>) -> Result<Summary, RebuildError> {
    let path = plan.state_dir.join(LEDGER_FILE);
    std::fs::create_dir_all(&plan.state_dir).map_err(io(&plan.state_dir))?;
    // Checked first, and held open while the spool is read, so no daemon
    // starts on it meanwhile.
    let old = match std::fs::metadata(&path) {
        Ok(m) if m.len() > 0 => match RedbLedger::open_checked(&path) {
            Ok(l) => {
                let records = l.file_count()?;
                if records > 0 && !plan.force {
                    return Err(RebuildError::HasRecords { path, records });
                }
                Some(l)
            }
            Err(OpenError::Locked(p)) => return Err(RebuildError::Locked(p)),
            Err(OpenError::Damaged { .. }) => None, // moved aside below
            Err(e) => return Err(RebuildError::Open(e)),
        },
        _ => None,
    };
    let mut summary = Summary::default();
    let (records, reserved, ids, fraud, usage) = recover(plan, &mut summary)?;
    drop(old);
    if path.exists() {
        summary.moved_aside = Some(move_aside(&path)?);
    }
    let ledger = RedbLedger::open_checked(&path).map_err(|e| match e {
        OpenError::Locked(p) => RebuildError::Locked(p),
        e => RebuildError::Open(e),
    })?;
    ledger.restore(&records, &reserved, &ids, &fraud, &usage)?;
    super::write_ids_snapshot(&plan.state_dir, &ledger)?;
    Ok(summary)
}

/// Renames the ledger to `ledger.redb.broken-<unix seconds>` (a free name).
fn move_aside(path: &Path) -> Result<PathBuf, RebuildError> {
    let secs = jiff::Timestamp::now().as_second();
    let mut target = PathBuf::from(format!("{}.broken-{secs}", path.display()));
    let mut n = 2;
    while target.exists() {
        target = PathBuf::from(format!("{}.broken-{secs}.{n}", path.display()));
        n += 1;
    }
    std::fs::rename(path, &target).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        crate::output::sync_dir(dir).map_err(io(dir))?;
    }
    Ok(target)
}

/// Records, reserved stems, IDS days, fraud states and month totals
/// recovered from the spool.
type Recovered = (
    Vec<(ContentKey, FileRecord)>,
    Vec<String>,
    Vec<(String, crate::ids::CustomerDays)>,
    Vec<(String, crate::fraud::CustomerState)>,
    Vec<crate::billing::UsageDelta>,
);

fn recover(plan: &RebuildPlan<'_>, summary: &mut Summary) -> Result<Recovered, RebuildError> {
    let root = &plan.spool_root;
    let stems_on_disk = output_stems(&root.join("rated")).map_err(io(&root.join("rated")))?;
    let mut ids = IdsRebuild::new(plan);
    let mut fraud = match (plan.fraud, &plan.ids) {
        (Some(rules), Some(_)) => Some(FraudRebuild::new(plan, rules)),
        _ => None,
    };
    let mut rated: BTreeMap<String, RatedFile> = BTreeMap::new();
    for stem in &stems_on_disk {
        let file = crate::output::OutputDirs { root: root.to_path_buf() }.output_path(crate::rows::Output::Rated, stem);
        rated.insert(stem.clone(), ids.read(&file, stem).map_err(io(&file))?);
        if let Some(f) = &mut fraud {
            f.read(&file, stem).map_err(io(&file))?;
        }
    }
    let mut records = Vec::new();
    let mut seen: HashSet<ContentKey> = HashSet::new();
    let mut owned: HashSet<String> = HashSet::new();
    for input in archived_inputs(&root.join("archive")).map_err(io(&root.join("archive")))? {
        let key = hash_streaming(&input.path).map_err(io(&input.path))?;
        if !seen.insert(key) {
            summary.duplicates += 1;
            continue;
        }
        let base = match &input.folder {
            Some(f) => format!("{f}/{}", stem_of(&input.name)),
            None => stem_of(&input.name),
        };
        // The first stem of this base not yet given to an earlier input.
        let stem = stems_of_base(&stems_on_disk, &base).into_iter().find(|s| !owned.contains(s));
        let mut record = FileRecord {
            name: input.name.clone(),
            claimed: String::new(),
            stem: String::new(),
            phase: Phase::Done,
            counts: [0; 4],
            skipped: 0,
            flagged: 0,
            buy: format_units(0, plan.decimals),
            sell: format_units(0, plan.decimals),
            started_at: input.modified,
            finished_at: Some(input.modified),
            tariff: String::new(),
            first_call: None,
            last_call: None,
            rated_now: None,
            rerates: 0,
            rerating: None,
            rerate_request: None,
        };
        if let Some(stem) = stem {
            let r = &rated[&stem];
            let unrated = count_records(&root.join("unrated").join(format!("{stem}.unrated.csv")));
            let rejected = count_records(&root.join("rejected").join(format!("{stem}.rejected.csv")));
            record.counts = [r.rows + unrated + rejected, r.rows, unrated, rejected];
            record.flagged = r.flagged;
            // As the daemon writes them: bare with one currency, per currency with several.
            (record.buy, record.sell) = r.money.money_text(plan.decimals);
            record.finished_at = Some(r.rated_at);
            record.rated_now = Some(r.rated_at);
            (record.first_call, record.last_call) = (r.span.map(|s| s.0), r.span.map(|s| s.1));
            owned.insert(stem.clone());
            record.stem = stem;
            summary.owned_stems += 1;
        }
        summary.inputs += 1;
        records.push((key, record));
    }
    let reserved: Vec<String> = stems_on_disk.into_iter().filter(|s| !owned.contains(s)).collect();
    summary.reserved_stems = reserved.len();
    let days = ids.finish().map_err(|(path, e)| RebuildError::Io { path, source: e })?;
    summary.customers = days.len();
    summary.days = days.iter().map(|(_, d)| d.days.len()).sum();
    summary.levels = ids.levels_restored;
    let states = match (&mut fraud, &plan.ids) {
        (Some(f), Some((_, alerts))) => {
            let states = f.finish(alerts).map_err(|(path, e)| RebuildError::Io { path, source: e })?;
            summary.fraud_customers = states.len();
            summary.fraud_marks = f.marks;
            summary.fraud_unlogged = f.unlogged;
            states
        }
        _ => Vec::new(),
    };
    let tariff = plan.tariff;
    let usage = ids.usage.deltas(
        |c| &tariff.customers[c as usize].id,
        |c| tariff.currencies.code(usize::from(c)),
        plan.decimals,
    );
    summary.usage_rows = usage.len();
    Ok((records, reserved, days, states, usage))
}

/// An archived input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Archived {
    /// Sub-folder of `archive/` (a source's name), if any.
    folder: Option<String>,
    /// The name it had in `incoming/`.
    name: String,
    /// 1 for `NAME`, `N` for the archived `NAME.N` (a reused name).
    n: u32,
    /// Its path.
    path: PathBuf,
    /// Modification time (unix seconds).
    modified: i64,
}

/// Every file under `archive/`, in archive order per name.
fn archived_inputs(archive: &Path) -> std::io::Result<Vec<Archived>> {
    let mut out = Vec::new();
    collect_archived(archive, None, &mut out)?;
    out.sort();
    Ok(out)
}

fn collect_archived(dir: &Path, folder: Option<&str>, out: &mut Vec<Archived>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for e in entries {
        let e = e?;
        let (t, name) = (e.file_type()?, e.file_name().to_string_lossy().into_owned());
        if t.is_dir() {
            let sub = folder.map_or(name.clone(), |f| format!("{f}/{name}"));
            collect_archived(&e.path(), Some(&sub), out)?;
        } else if t.is_file() {
            let modified = e.metadata()?.modified().ok().and_then(|m| jiff::Timestamp::try_from(m).ok());
            files.push((name, e.path(), modified.map_or(0, |t| t.as_second())));
        }
    }
    let names: HashSet<String> = files.iter().map(|f| f.0.clone()).collect();
    for (file, path, modified) in files {
        let (name, n) = split_reuse(&file, &names);
        out.push(Archived { folder: folder.map(str::to_string), name, n, path, modified });
    }
    Ok(())
}

/// `NAME.N` (N >= 2) whose `NAME` is in the same folder is the N-th input
/// named `NAME` (the archive's free-name rule); anything else is itself.
fn split_reuse(file: &str, names: &HashSet<String>) -> (String, u32) {
    if let Some((base, suffix)) = file.rsplit_once('.') {
        // `NAME.2`, never `NAME.02`: the archive writes plain numbers.
        if let Ok(n) = suffix.parse::<u32>() {
            if n >= 2 && n.to_string() == suffix && names.contains(base) {
                return (base.to_string(), n);
            }
        }
    }
    (file.to_string(), 1)
}

/// Stems (`STEM` or `source/STEM`) of every `rated/**/STEM.rated.csv`.
fn output_stems(rated: &Path) -> std::io::Result<BTreeSet<String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for e in entries {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), &format!("{prefix}{name}/"), out)?;
            } else if let (true, Some(stem)) = (t.is_file(), name.strip_suffix(".rated.csv")) {
                if !stem.starts_with('.') {
                    out.insert(format!("{prefix}{stem}"));
                }
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(rated, "", &mut out)?;
    Ok(out)
}

/// The stems on disk an input of stem base `base` may own, in the order
/// the ledger hands them out: `base`, `base.2`, `base.3`, ...
fn stems_of_base(on_disk: &BTreeSet<String>, base: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = on_disk
        .range(base.to_string()..)
        .take_while(|s| s.starts_with(base))
        .filter_map(|s| match &s[base.len()..] {
            "" => Some((1, s.clone())),
            rest => {
                let n = rest.strip_prefix('.')?.parse::<u32>().ok()?;
                (n >= 2 && rest[1..] == n.to_string()).then(|| (n, s.clone()))
            }
        })
        .collect();
    found.sort();
    found.into_iter().map(|f| f.1).collect()
}

/// Records (header excluded) of an output file; 0 when it is missing.
fn count_records(path: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(path) else { return 0 };
    let mut scanner = crate::csvscan::Scanner::new(&bytes, 1, usize::MAX, b',');
    let mut fields = crate::csvscan::Fields::default();
    let mut n = 0u64;
    while scanner.next_record(&mut fields).is_some() {
        n += 1;
    }
    n.saturating_sub(1)
}

/// The daemon's content key of a file, read in blocks (archives can be
/// gigabytes): the streaming XXH3-128 equals the one-shot hash.
pub fn hash_streaming(path: &Path) -> std::io::Result<ContentKey> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ContentKey(hasher.digest128().to_be_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hash_is_the_content_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        for len in [0usize, 1, 240, (1 << 20) + 17, 3 << 20] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(hash_streaming(&path).unwrap(), ContentKey::of(&bytes), "{len} bytes");
        }
    }

    #[test]
    fn reused_names_and_stems_are_told_apart() {
        let names: HashSet<String> = ["a.csv", "a.csv.2", "a.csv.3", "b.2", "c.csv.02"].map(String::from).into();
        assert_eq!(split_reuse("a.csv.3", &names), ("a.csv".into(), 3));
        assert_eq!(split_reuse("b.2", &names), ("b.2".into(), 1)); // no `b` beside it
        assert_eq!(split_reuse("c.csv.02", &names), ("c.csv.02".into(), 1));
        let disk: BTreeSet<String> = ["a", "a.2", "a.10", "a.x", "ab", "p/a", "a.2.2"].map(String::from).into();
        assert_eq!(stems_of_base(&disk, "a"), ["a", "a.2", "a.10"]);
        assert_eq!(stems_of_base(&disk, "p/a"), ["p/a"]);
        assert_eq!(stems_of_base(&disk, "q"), Vec::<String>::new());
    }
}
