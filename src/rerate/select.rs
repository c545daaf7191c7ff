//! Which files a request re-rates: `--file` names archived inputs (by
//! path or ledger name); `--month` and `--from/--to` pick every file whose
//! calls overlap the range (its record's call span, or, for records older
//! than the span, its rated output read back).

use std::path::{Path, PathBuf};

use super::{Engine, Request, RerateError, Target};
use crate::config::Config;
use crate::state::{ContentKey, FileRecord, Phase};
use crate::timefmt;

/// The files of a request, in stem order.
pub(super) fn targets(engine: &Engine<'_>, request: &Request) -> Result<Vec<Target>, RerateError> {
    let config = engine.config;
    let records: Vec<(ContentKey, FileRecord)> =
        engine.ledger.all()?.into_iter().filter(|(_, r)| r.phase == Phase::Done && !r.stem.is_empty()).collect();
    let mut out = Vec::new();
    if !request.files.is_empty() {
        for f in &request.files {
            let path = Path::new(f);
            let found: Vec<(ContentKey, FileRecord, Option<PathBuf>)> = if path.is_file() {
                let key = crate::state::hash_streaming(path)
                    .map_err(|source| RerateError::Io { path: path.to_path_buf(), source })?;
                match records.iter().find(|(k, _)| *k == key) {
                    Some((k, r)) => vec![(*k, r.clone(), Some(path.to_path_buf()))],
                    None => return Err(RerateError::Invalid(format!("{f}: not in the ledger (never rated)"))),
                }
            } else {
                records
                    .iter()
                    .filter(|(_, r)| r.name == *f || r.stem == *f)
                    .map(|(k, r)| (*k, r.clone(), None))
                    .collect()
            };
            if found.is_empty() {
                return Err(RerateError::Invalid(format!("{f}: no archived input or ledger record of that name")));
            }
            for (key, record, archived) in found {
                let archived = match archived {
                    Some(a) => a,
                    None => archived_input(config, &key, &record)?
                        .ok_or_else(|| RerateError::Invalid(format!("{f}: its archived input is not in archive/")))?,
                };
                out.push(Target { key, record, archived: Some(archived) });
            }
        }
    } else {
        let (from, to) = range(config, request)?;
        let tariff = engine.tariffs.load_full();
        for (key, record) in records {
            let span = match (record.first_call, record.last_call) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => read_span(config, &tariff, &record)?,
            };
            let Some((first, last)) = span else { continue };
            if first < to && last >= from {
                // A file without its archived input is reported, not skipped.
                let archived = archived_input(config, &key, &record)?;
                out.push(Target { key, record, archived });
            }
        }
    }
    out.sort_by(|a, b| a.record.stem.cmp(&b.record.stem));
    out.dedup_by_key(|t| t.key);
    Ok(out)
}

/// The request's range as epoch seconds `[from, to)` in the configured zone.
fn range(config: &Config, request: &Request) -> Result<(i64, i64), RerateError> {
    let bad = |what: &str| RerateError::Invalid(format!("not a date: {what:?} (YYYY-MM-DD; --month YYYY-MM)"));
    let (first, end) = match (&request.month, &request.from, &request.to) {
        (Some(m), _, _) => {
            let m = crate::billing::Month::parse(m).ok_or_else(|| bad(m))?;
            (m.first_day(), m.next().first_day())
        }
        (None, Some(f), Some(t)) => {
            let f = timefmt::parse_day(f).ok_or_else(|| bad(f))?;
            let t = timefmt::parse_day(t).ok_or_else(|| bad(t))?;
            if t < f {
                return Err(RerateError::Invalid("--to is before --from".into()));
            }
            (f, t + 1)
        }
        _ => return Err(RerateError::Invalid("give --month, --from and --to, or --file".into())),
    };
    let zone = config.time_zone();
    let at = |day: i64| {
        let (y, m, d) = timefmt::civil_from_days(day);
        zone.to_ambiguous_timestamp(
            jiff::civil::date(y as i16, m as i8, d as i8).to_datetime(jiff::civil::Time::midnight()),
        )
        .compatible()
        .map(|t| t.as_second())
    };
    let from = at(first).map_err(|e| RerateError::Invalid(e.to_string()))?;
    let to = at(end).map_err(|e| RerateError::Invalid(e.to_string()))?;
    Ok((from, to))
}

/// The call span of a record without one, from its rated output.
fn read_span(
    config: &Config,
    tariff: &crate::tariff::Tariff,
    record: &FileRecord,
) -> Result<Option<(i64, i64)>, RerateError> {
    let path =
        crate::output::OutputDirs { root: config.spool.clone() }.output_path(crate::rows::Output::Rated, &record.stem);
    let settings = crate::state::ReadSettings {
        tariff,
        decimals: config.price_decimals,
        zone: super::file::source_of(config, &record.stem).zone,
        limits: config.limits.rows(crate::config::now()),
        ids: false,
    };
    match crate::state::read_rated(&path, &settings) {
        Ok(c) => Ok(c.span),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RerateError::Io { path, source }),
    }
}

/// The archived input of a record: `archive/[SOURCE/]NAME` or a reused
/// name's `NAME.N`, whichever has its content key (the only candidate is
/// taken as it is: rating it verifies its key).
pub(super) fn archived_input(
    config: &Config,
    key: &ContentKey,
    record: &FileRecord,
) -> Result<Option<PathBuf>, RerateError> {
    let mut dir = config.spool.join("archive");
    if let Some((source, _)) = record.stem.split_once('/') {
        dir = dir.join(source);
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RerateError::Io { path: dir, source }),
    };
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n == record.name
                || n.strip_prefix(record.name.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect();
    candidates.sort();
    // One candidate: its bytes are hashed as they are rated and must give
    // the key before anything is published; hashing it here too would read
    // it twice. Several (a reused name): the key tells which.
    if let [only] = candidates.as_slice() {
        return Ok(Some(only.clone()));
    }
    for path in candidates {
        let k = crate::state::hash_streaming(&path).map_err(|source| RerateError::Io { path: path.clone(), source })?;
        if k == *key {
            return Ok(Some(path));
        }
    }
    Ok(None)
}
