//! Noticing that `rates/` changed, however it was replaced (edited in
//! place, copied over file by file, a folder renamed or a symlink swapped
//! into place), and loading it whole once it has been quiet.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::web::{Live, TariffInfo};
use crate::config::Config;
use crate::fraud::FraudTables;
use crate::tariff::{self, Tariff};
use crate::telemetry::{self, Event};

/// How often `rates/` is looked at for changes (a poll, not a watch: a watch
/// follows the old folder when `rates/` is replaced by a rename or symlink swap).
pub(super) const RATES_POLL: Duration = Duration::from_millis(250);

/// What `rates/` looks like from outside: every file's path, size,
/// modification time and inode, through the current target of the path
/// (so a folder renamed or a symlink swapped into place counts as a change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RatesFingerprint(Vec<(PathBuf, u64, i64, i64, u64)>);

impl RatesFingerprint {
    pub(super) fn of(rates: &Path) -> RatesFingerprint {
        use std::os::unix::fs::MetadataExt;
        let mut files = Vec::new();
        let mut dirs = vec![rates.to_path_buf()];
        if let Ok(m) = std::fs::metadata(rates) {
            files.push((PathBuf::new(), 0, m.mtime(), m.mtime_nsec(), m.ino()));
        }
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                let Ok(m) = std::fs::metadata(&path) else { continue };
                if m.is_dir() {
                    dirs.push(path.clone());
                }
                files.push((path, m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
            }
        }
        files.sort();
        RatesFingerprint(files)
    }
}

/// The fraud rules of `rates` for `tariff` (none without `fraud.toml`),
/// announced; every problem of its files when it is invalid.
pub(super) fn fraud_rules(rates: &Path, tariff: &Tariff) -> Result<FraudTables, tariff::LoadErrors> {
    let loaded = crate::fraud::load(rates, tariff)?;
    announce(&loaded);
    Ok(loaded)
}

fn announce(fraud: &FraudTables) {
    let rules = fraud.rules.as_ref();
    telemetry::emit(&Event::FraudRulesLoaded {
        digest: rules.map(|r| r.digest.as_str()),
        high_risk_prefixes: rules.map_or(0, |r| r.entries.len()),
        overrides: rules.map_or(0, |r| r.overrides()),
    });
}

/// Loads `rates/` again: the tariff, then the fraud rules against it; tells
/// the metrics, the log and the dashboard ([`Live`]). A
/// version with a problem in either is refused whole; else the rules are
/// swapped in first and the tariff second (a file pairs them by the
/// tariff's digest, see `fraud_job::snapshot`).
pub(super) async fn reload(
    config: &Config,
    tariffs: &Arc<ArcSwap<Tariff>>,
    live: &Live,
    fraud: &Arc<ArcSwap<FraudTables>>,
) {
    let (dir, home, zone) = (config.rates.clone(), config.numbering.home_country.clone(), config.time_zone());
    let loaded = tokio::task::spawn_blocking(move || {
        let (t, report) = tariff::load(&dir, &home, &zone)?;
        let rules = crate::fraud::load(&dir, &t)?;
        Ok::<_, tariff::LoadErrors>((t, report, rules))
    })
    .await;
    match loaded {
        Ok(Ok((t, report, rules))) => {
            for w in &report.warnings {
                tracing::warn!(warning = %w, "tariff tables");
            }
            telemetry::emit(&Event::TariffLoaded {
                prefixes: t.prefix_count(),
                reload: true,
                digest: &t.digest,
                currencies: t.currencies,
            });
            announce(&rules);
            fraud.store(Arc::new(rules));
            live.tariff_loaded(TariffInfo::of(&t, crate::config::now().as_second()), true);
            tariffs.store(Arc::new(t));
        }
        Ok(Err(errors)) => {
            let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            telemetry::emit(&Event::TariffRefused { errors: &text.join("\n") });
            live.tariff_refused(crate::config::now().as_second());
        }
        Err(e) => {
            telemetry::emit(&Event::TariffRefused { errors: &e.to_string() });
            live.tariff_refused(crate::config::now().as_second());
        }
    }
}
