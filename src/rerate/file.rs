//! One file re-rated, exactly once across crashes (the steps and why are
//! in the module comment of [`super`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::control::JournalEntry;
use super::{decimal_text, CustomerLine, Engine, RerateError, Target};
use crate::billing::{Bucket, Category, Month, Sums, UsageAgg, UsageDelta};
use crate::config::Config;
use crate::output::{sync_dir, OutputDirs, OutputFiles};
use crate::pipeline::{self, FileError, Job, RowLimits, Tally};
use crate::rating::Rater;
use crate::rows::Output;
use crate::state::{Contribution, FileRecord, FraudCommit, ReadSettings, RerateMark, UsageCommit};
use crate::tariff::Tariff;

/// How a file's source reads it: the source its stem names, or the default.
pub(super) struct SourceOf {
    /// CDR format with options.
    pub(super) format: crate::formats::Format,
    /// Zone of local times and of customers without their own.
    pub(super) zone: jiff::tz::TimeZone,
    /// Number plan.
    pub(super) numbering: crate::numbers::Numbering,
    /// Customer of rows that name none.
    pub(super) customer: Option<String>,
}

/// The source of output stem `stem` (`SOURCE/NAME` for a named source).
pub(super) fn source_of(config: &Config, stem: &str) -> SourceOf {
    if let Some((name, _)) = stem.split_once('/') {
        if let Some((s, settings)) = config.sources().find(|(s, _)| s.name == name) {
            return SourceOf {
                format: settings.format.clone(),
                zone: settings.zone.clone(),
                numbering: settings.numbering.clone(),
                customer: s.customer.clone(),
            };
        }
    }
    SourceOf { format: config.format(), zone: config.time_zone(), numbering: config.numbering.clone(), customer: None }
}

/// Where output `which` of `stem` goes when re-rating `generation`
/// supersedes it: `superseded/KIND/STEM.rN.KIND.csv`.
pub fn superseded_path(spool: &Path, which: Output, stem: &str, generation: u32) -> PathBuf {
    let kind = which.as_str();
    spool.join("superseded").join(kind).join(format!("{stem}.r{generation}.{kind}.csv"))
}

/// Re-rates files for one request.
pub(super) struct FileJob<'e, 'a> {
    engine: &'e Engine<'a>,
    request: &'e str,
    customers: &'e [String],
    dry: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RerateError + '_ {
    move |source| RerateError::Io { path: path.to_path_buf(), source }
}

impl<'e, 'a> FileJob<'e, 'a> {
    /// Re-rating for `request`, limited to files with calls of `customers` (all when empty).
    pub(super) fn new(engine: &'e Engine<'a>, request: &'e str, customers: &'e [String], dry: bool) -> Self {
        FileJob { engine, request, customers, dry }
    }

    /// Rates the archived input into unpublished outputs under `dirs`.
    fn rate(
        &self,
        tariff: &Tariff,
        t: &Target,
        dirs: &OutputDirs,
        tmp: &Path,
    ) -> Result<(OutputFiles, Tally, RowLimits), RerateError> {
        let config = self.engine.config;
        let src = source_of(config, &t.record.stem);
        let limits = config.limits.rows(crate::config::now());
        let default_customer = src.customer.as_ref().and_then(|id| tariff.customer_by_id(id.as_bytes()));
        let job = Job {
            name: t.record.name.clone(),
            format: src.format.clone(),
            rater: Rater { tariff, numbering: &src.numbering, decimals: config.price_decimals, default_customer },
            timezone: src.zone.clone(),
            limits,
            chunk_bytes: pipeline::CHUNK_BYTES,
            cancel: Some(self.engine.cancel),
            ids: config.ids.enabled,
            usage: true,
            fraud: None,
            pool: Some(self.engine.pool),
        };
        let Some(path) = &t.archived else {
            return Err(RerateError::Invalid("its archived input is not in archive/ (or not with its content)".into()));
        };
        let file = match crate::input::open_regular(path) {
            Ok(Ok(f)) => f,
            Ok(Err(what)) => return Err(RerateError::Invalid(format!("{}: {what}", path.display()))),
            Err(e) => return Err(io(path)(e)),
        };
        // What is billed is what was keyed: the bytes rated are hashed as
        // they are read and must give the ledger's key before anything is
        // published (the lookup hashed the archive already).
        let expansion = crate::input::Expansion::of(&config.limits);
        let (input, verifier) = crate::input::open_verified(file, path, expansion, t.key).map_err(io(path))?;
        let mut files = OutputFiles::create_owned(dirs, tmp, &t.record.stem).map_err(io(&dirs.root))?;
        let tally = match pipeline::rate(input, &job, &mut files, None) {
            Ok(t) => t,
            Err(FileError::Cancelled) => return Err(RerateError::Cancelled),
            Err(FileError::Write(e)) => return Err(io(&dirs.root)(e)),
            Err(e) => return Err(RerateError::Invalid(format!("{}: {e}", path.display()))),
        };
        verifier.verify().map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => {
                RerateError::Invalid(format!("{}: its content is not the ledger's ({e})", path.display()))
            }
            _ => io(path)(e),
        })?;
        Ok((files, tally, limits))
    }

    /// The old contribution, from the rated output at `path`.
    fn old(&self, tariff: &Tariff, record: &FileRecord, path: &Path) -> Result<Contribution, RerateError> {
        let config = self.engine.config;
        let now = record.rated_now.or(record.finished_at).unwrap_or_else(|| crate::config::now().as_second());
        let settings = ReadSettings {
            tariff,
            decimals: config.price_decimals,
            zone: source_of(config, &record.stem).zone,
            limits: config.limits.rows(jiff::Timestamp::from_second(now).unwrap_or_else(|_| crate::config::now())),
            ids: config.ids.enabled,
        };
        crate::state::read_rated(path, &settings).map_err(io(path))
    }

    /// Whether `--customer` lets this file be re-rated.
    fn wanted(&self, tariff: &Tariff, old: &UsageAgg, new: &UsageAgg) -> bool {
        if self.customers.is_empty() {
            return true;
        }
        old.sorted().iter().chain(new.sorted().iter()).any(|(cell, _)| {
            let id = &tariff.customers[cell.customer as usize].id;
            self.customers.iter().any(|c| c == id)
        })
    }

    /// A dry run of one file: rated into a temp folder, reported, nothing changed.
    pub(super) fn dry(&self, t: &Target) -> Result<(String, Vec<CustomerLine>), RerateError> {
        let tariff = self.engine.tariffs.load_full();
        let spool = &self.engine.config.spool;
        let current = OutputDirs { root: spool.clone() }.output_path(Output::Rated, &t.record.stem);
        let old = self.old(&tariff, &t.record, &current)?;
        let temp = std::env::temp_dir().join(format!("cdr-rater-rerate-{}-{}", self.request, std::process::id()));
        let dirs = OutputDirs::create(&temp).map_err(io(&temp))?;
        // A source's stem (`SOURCE/NAME`) has its outputs in a sub-folder.
        for which in Output::ALL {
            let out = dirs.output_path(which, &t.record.stem);
            let dir = out.parent().unwrap_or(&temp);
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let result = self.rate(&tariff, t, &dirs, &temp).and_then(|(files, tally, _)| {
            files.publish().map_err(io(&temp))?;
            Ok(tally)
        });
        let _ = std::fs::remove_dir_all(&temp);
        let tally = result?;
        if !self.wanted(&tariff, &old.usage, &tally.usage) {
            return Ok(("unchanged_customers".into(), Vec::new()));
        }
        Ok(("dry_run".into(), self.lines(&tariff, &old.usage, &tally.usage)))
    }

    /// Re-rates one file and commits its difference (see [`super`]).
    pub(super) fn rerate(&self, t: &Target) -> Result<String, RerateError> {
        debug_assert!(!self.dry);
        let engine = self.engine;
        let config = engine.config;
        let tariff = engine.tariffs.load_full();
        let record = &t.record;
        let stem = &record.stem;
        let spool = &config.spool;
        let dirs = OutputDirs { root: spool.clone() };
        let tmp = spool.join(".tmp");
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let (generation, marked) = match &record.rerating {
            Some(m) => (m.generation, true),
            None => {
                let mut n = record.rerates + 1;
                while superseded_path(spool, Output::Rated, stem, n).exists() {
                    n += 1;
                }
                (n, false)
            }
        };
        // The old outputs: their superseded copy once made, else still in place.
        let kept = superseded_path(spool, Output::Rated, stem, generation);
        let old_path = if kept.exists() { kept } else { dirs.output_path(Output::Rated, stem) };
        if !old_path.exists() {
            return Err(RerateError::Invalid(format!("{stem}: its rated output is missing")));
        }
        // The old contribution is read while the file is rated: rating
        // waits on its writes, reading on its reads.
        let (old, rated) = std::thread::scope(|scope| {
            let old = scope.spawn(|| self.old(&tariff, record, &old_path));
            let rated = self.rate(&tariff, t, &dirs, &tmp);
            (old.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), rated)
        });
        let (old, (files, tally, limits)) = (old?, rated?);
        if !marked && !self.wanted(&tariff, &old.usage, &tally.usage) {
            return Ok("unchanged_customers".into());
        }
        // 1. The mark, durable before anything moves.
        if !marked {
            let mark = RerateMark { generation, request: self.request.to_string() };
            // The old rating's "now" kept: the mark's commit moves `finished_at`.
            let rated_now = record.rated_now.or(record.finished_at);
            let marked = FileRecord { rerating: Some(mark), rated_now, ..record.clone() };
            engine.ledger.finish_with(&t.key, &marked, Vec::new(), FraudCommit::default(), UsageCommit::default())?;
        }
        // 2. The current outputs kept (linked, so readers always see one
        // whole output), 3. the new ones renamed over them.
        for which in Output::ALL {
            let current = dirs.output_path(which, stem);
            let keep = superseded_path(spool, which, stem, generation);
            if !keep.exists() && current.exists() {
                let dir = keep.parent().unwrap_or(spool);
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                std::fs::hard_link(&current, &keep).map_err(io(&keep))?;
                sync_dir(dir).map_err(io(dir))?;
            }
        }
        files.publish().map_err(io(&dirs.root))?;
        let lines = self.lines(&tariff, &old.usage, &tally.usage);
        let control = engine.control();
        if control.path(self.request, "request.json").exists() {
            let entry = JournalEntry { key: super::key_hex(&t.key), generation, lines };
            control.journal(self.request, &entry)?;
        }
        // 4. The difference, with the new record, in one commit.
        let usage = usage_delta(&tariff, &old.usage, &tally.usage, config.price_decimals);
        let _section = engine.locks.commit();
        // The shared store locks the customers' rows for the read-modify-commit.
        let _store = engine.ledger.section(&crate::job::customers_of(&usage))?;
        let zone = source_of(config, stem).zone;
        let moved = super::ids::IdsMove { engine, tariff: &tariff, zone: &zone, limits: &limits };
        let (ids, to_trace) = moved.days(&old.spend, &tally.spend)?;
        // Alerts of the current day only, logged (fsynced, each once by
        // its id) with the commit that raises the level (`crate::outbox`).
        let mut staged = None;
        if let (Some(settings), false) = (&engine.ids, to_trace.is_empty()) {
            let rated = dirs.output_path(Output::Rated, stem);
            let alerts = moved.alerts(&record.name, &rated, &tally.fraud.calls, &to_trace)?;
            let before = crate::outbox::before_commit(engine.ledger, &settings.alerts, &alerts, &[], true);
            staged = Some(before.map_err(io(&settings.alerts.path))?);
        }
        let done = FileRecord {
            rerates: generation,
            rerating: None,
            rerate_request: Some(self.request.to_string()),
            ..record.clone().rated(&tariff.digest, &tally, limits.now, config.price_decimals)
        };
        let usage = UsageCommit { rows: &usage, late: Bucket::Rerating };
        engine.ledger.finish_with(&t.key, &done, ids, FraudCommit::default(), usage)?;
        if let (Some(settings), Some(staged)) = (&engine.ids, staged) {
            crate::outbox::after_commit(engine.ledger, &settings.alerts, staged);
        }
        Ok("rerated".into())
    }

    /// Report lines: per customer and currency, calls and sell before and after.
    fn lines(&self, tariff: &Tariff, old: &UsageAgg, new: &UsageAgg) -> Vec<CustomerLine> {
        let decimals = self.engine.config.price_decimals;
        let mut by: BTreeMap<(String, String), (i64, i64, Sums, Sums)> = BTreeMap::new();
        for (side, agg) in [(0, old), (1, new)] {
            for d in deltas(tariff, agg, decimals) {
                let e = by.entry((d.customer, d.currency)).or_default();
                if side == 0 {
                    e.0 += d.sums.calls;
                    e.2.add(&d.sums);
                } else {
                    e.1 += d.sums.calls;
                    e.3.add(&d.sums);
                }
            }
        }
        by.into_iter()
            .map(|((customer, currency), (old_calls, new_calls, o, n))| CustomerLine {
                customer,
                currency,
                old_calls,
                new_calls,
                old_sell: decimal_text(o.sell, decimals),
                new_sell: decimal_text(n.sell, decimals),
            })
            .collect()
    }
}

/// An aggregate as the store's rows.
fn deltas(tariff: &Tariff, agg: &UsageAgg, decimals: u32) -> Vec<UsageDelta> {
    agg.deltas(|c| &tariff.customers[c as usize].id, |c| tariff.currencies.code(usize::from(c)), decimals)
}

/// new − old per customer, month, currency and line; zero rows left out.
fn usage_delta(tariff: &Tariff, old: &UsageAgg, new: &UsageAgg, decimals: u32) -> Vec<UsageDelta> {
    type Key = (String, Month, String, Category);
    let mut by: BTreeMap<Key, Sums> = BTreeMap::new();
    for d in deltas(tariff, new, decimals) {
        by.entry((d.customer, d.origin, d.currency, d.category)).or_default().add(&d.sums);
    }
    for d in deltas(tariff, old, decimals) {
        let e = by.entry((d.customer, d.origin, d.currency, d.category)).or_default();
        *e = e.minus(&d.sums);
    }
    by.into_iter()
        .filter(|(_, s)| !s.is_zero())
        .map(|((customer, origin, currency, category), sums)| UsageDelta { customer, origin, currency, category, sums })
        .collect()
}
