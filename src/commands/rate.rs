//! `cdr-rater rate`: one-shot batch rating of files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::cli::RateArgs;
use crate::formats::{Reject, Skip};
use crate::money::format_units;
use crate::output::{stem_of, OutputDirs, OutputFiles};
use crate::pipeline::{self, Job, Totals};
use crate::rating::{Rater, Unrated};

use super::{load_config, load_tariff, Invalid};

pub fn run(args: RateArgs) -> anyhow::Result<()> {
    let mut config = load_config(args.config.config.as_deref())?;
    if let Some(f) = &args.format {
        let format = config.format_named(f).map_err(|e| Invalid(format!("--format: {}", e.join("; "))))?;
        config.override_format(format);
    }
    let tariff = load_tariff(&config, args.rates.as_ref())?;
    let default_customer = match &args.customer {
        Some(id) => Some(
            tariff
                .customer_by_id(id.as_bytes())
                .ok_or_else(|| Invalid(format!("--customer: unknown customer {id:?}")))?,
        ),
        None => None,
    };
    if args.threads == Some(0) || args.chunk_bytes == Some(0) {
        return Err(Invalid("--threads and --chunk-bytes must be at least 1".into()).into());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .thread_name(|i| format!("rate-{i}"))
        .build()
        .context("cannot start the rating threads")?;
    // Never the spool unless asked: a billing export reads the daemon's
    // outputs there. `--ids` too: the ledger, not the folder, dedups.
    let out_root = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let dirs = OutputDirs::create(&out_root)
        .with_context(|| format!("cannot create output folders under {}", out_root.display()))?;
    if args.ids {
        return pool.install(|| with_ids(&args, &config, tariff, &dirs));
    }
    let rater =
        Rater { tariff: &tariff, numbering: &config.numbering, decimals: config.price_decimals, default_customer };
    let decimals = config.price_decimals;
    let mut all = Totals::default();
    let mut failed = 0usize;
    let started = Instant::now();
    let buffers = pipeline::BufferPool::default(); // reused across the files
    for path in &args.files {
        let name = crate::input::display_name(path);
        let t0 = Instant::now();
        let result = (|| -> anyhow::Result<(Totals, crate::output::Published)> {
            let input = crate::input::open(path, crate::input::Expansion::of(&config.limits))
                .with_context(|| format!("cannot open {}", path.display()))?;
            let mut outputs = OutputFiles::create(&dirs, &stem_of(&name)).context("cannot create output files")?;
            let job = Job {
                name: name.clone(),
                format: config.format(),
                rater,
                timezone: config.time_zone(),
                limits: config.limits.rows(crate::config::now()),
                chunk_bytes: args.chunk_bytes.unwrap_or(pipeline::CHUNK_BYTES),
                cancel: None,
                ids: false,
                usage: false,
                fraud: None,
                pool: Some(&buffers),
            };
            let size = match &input {
                pipeline::Input::Bytes(m) => Some(m.len() as u64),
                pipeline::Input::Slice(v) => Some(v.len() as u64),
                pipeline::Input::Stream(_) => None,
            };
            let bar = show_progress(std::io::stderr().is_terminal(), size).then(|| Bar::new(size));
            let progress = bar.as_ref().map(|b| b as &dyn pipeline::Progress);
            let totals = pool.install(|| pipeline::rate(input, &job, &mut outputs, progress).map(|t| t.totals));
            drop(bar); // cleared before the summary line, or the error
            let totals = totals?;
            let published = outputs.publish().context("cannot publish outputs")?;
            Ok((totals, published))
        })();
        match result {
            Ok((t, published)) => {
                eprintln!("{}", summary(&name, &t, t0.elapsed().as_secs_f64(), decimals));
                eprintln!("  -> {}", published.paths[0].display());
                all.add(&t);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{name}: not rated: {e:#}");
            }
        }
    }
    if args.files.len() > 1 {
        eprintln!("{}", summary("total", &all, started.elapsed().as_secs_f64(), decimals));
    }
    // Once, after the summary lines.
    if let Some(hint) = customer_hint(&config.format(), &all) {
        eprintln!("hint: {hint}");
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) could not be rated", args.files.len());
    }
    Ok(())
}

/// Inputs at least this large get a progress bar (streams always: their
/// size is not known).
const PROGRESS_BYTES: u64 = 64 << 20;

/// Whether to draw a progress bar: only on a terminal (never into a log or
/// a test's pipe), for a large input or a stream.
fn show_progress(stderr_is_terminal: bool, input_bytes: Option<u64>) -> bool {
    stderr_is_terminal && input_bytes.is_none_or(|b| b >= PROGRESS_BYTES)
}

/// The progress bar on stderr; cleared when dropped.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(size: Option<u64>) -> Bar {
        let (bar, template) = match size {
            Some(n) => (indicatif::ProgressBar::new(n), "{bytes}/{total_bytes} [{wide_bar}] {eta} left"),
            None => (indicatif::ProgressBar::new_spinner(), "{spinner} {bytes} rated ({bytes_per_sec})"),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar(bar)
    }
}

impl pipeline::Progress for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The `hint:` after a file's summary when rows were unrated for want of a
/// customer and the format has no account column to name one.
fn customer_hint(format: &crate::formats::Format, t: &Totals) -> Option<String> {
    let unknown = t.by_unrated[crate::rating::Unrated::UnknownCustomer as usize];
    (unknown > 0 && !format.has_account()).then(|| {
        format!(
            "{unknown} row(s) unrated as unknown_customer: format {format} has no account column; \
             name their customer with --customer ID (or list the callers' number blocks in numbers.csv)"
        )
    })
}

/// The line `rate` prints per file: counts with their reasons, money per
/// currency, speed.
fn summary(name: &str, t: &Totals, seconds: f64, decimals: u32) -> String {
    let rate = if seconds > 0.0 { t.rows as f64 / seconds } else { 0.0 };
    let flagged = if t.flagged() == 0 {
        String::new()
    } else {
        let each: Vec<String> = pipeline::Flag::ALL
            .iter()
            .filter(|f| t.by_flag[**f as usize] > 0)
            .map(|f| format!("{} {}", f.as_str(), t.by_flag[*f as usize]))
            .collect();
        format!(" ({} flagged: {})", t.flagged(), each.join(", "))
    };
    let unrated = reasons(Unrated::ALL.iter().map(|r| (r.as_str(), t.by_unrated[*r as usize])));
    let rejected = reasons(Reject::ALL.iter().map(|r| (r.as_str(), t.by_reject[*r as usize])));
    let skipped = reasons(Skip::ALL.iter().map(|r| (r.as_str(), t.by_skip[*r as usize])));
    let units = |u: i128| format_units(u, decimals);
    let money: Vec<String> = t
        .money()
        .map(|(code, b, s)| format!("buy {} sell {} margin {} {code}", units(b), units(s), units(s - b)))
        .collect();
    let money = if money.is_empty() { format!("buy {0} sell {0} margin {0}", units(0)) } else { money.join(", ") };
    format!(
        "{name}: {} rows, {} rated{flagged}, {} unrated{unrated}, {} rejected{rejected}, {} skipped{skipped}; {money}; {:.0} rows/s",
        t.rows, t.rated, t.unrated, t.rejected, t.skipped, rate
    )
}

/// ` (reason N, ...)` of the reasons with rows, or nothing.
fn reasons<'a>(counts: impl Iterator<Item = (&'a str, u64)>) -> String {
    let each: Vec<String> = counts.filter(|(_, n)| *n > 0).map(|(r, n)| format!("{r} {n}")).collect();
    if each.is_empty() {
        String::new()
    } else {
        format!(" ({})", each.join(", "))
    }
}

/// `rate --ids`: like the daemon, through the ledger and the IDS state.
fn with_ids(
    args: &RateArgs,
    config: &crate::config::Config,
    tariff: crate::tariff::Tariff,
    dirs: &OutputDirs,
) -> anyhow::Result<()> {
    use crate::job::{FileRater, IdsSettings, KeyedInput, Locks, Rated};
    use crate::state::Ledger;
    let settings = IdsSettings::from_config(config)
        .ok_or_else(|| Invalid("--ids: IDS is disabled ([ids] enabled = false)".into()))?;
    let alerts = settings.alerts.clone();
    let locks = Locks::default();
    std::fs::create_dir_all(&config.state).with_context(|| format!("cannot create {}", config.state.display()))?;
    // The daemon's guard: a lost or damaged ledger is refused, not replaced.
    let ledger: Box<dyn Ledger> = if config.store.backend == crate::config::Backend::Postgres {
        Box::new(crate::state::PgLedger::from_config(&config.store).context("cannot open the shared store")?)
    } else {
        Box::new(crate::state::open_for_daemon(&config.state, &config.spool).map_err(|e| Invalid(e.to_string()))?)
    };
    let tmp = dirs.root.join(".tmp");
    std::fs::create_dir_all(&tmp)?;
    // The fraud rules of the same tables, judged exactly as the daemon does.
    let rates = super::rates_dir(config, args.rates.as_ref())?;
    let fraud = crate::fraud::load(rates, &tariff).map_err(|e| Invalid(e.to_string()))?;
    let fraud = arc_swap::ArcSwap::from_pointee(fraud);
    let tariffs = arc_swap::ArcSwap::from_pointee(tariff);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let rater = FileRater {
        ledger: ledger.as_ref(),
        locks: &locks,
        pool: &crate::pipeline::BufferPool::default(),
        tariffs: &tariffs,
        numbering: &config.numbering,
        format: config.format(),
        timezone: config.time_zone(),
        decimals: config.price_decimals,
        limits: config.limits.clone(),
        default_customer: args.customer.clone(),
        cancel: &cancel,
        ids: Some(settings),
        fraud: Some(&fraud),
    };
    let mut failed = 0;
    for path in &args.files {
        let name = crate::input::display_name(path);
        let t0 = Instant::now();
        let result = (|| -> anyhow::Result<Totals> {
            anyhow::ensure!(path.as_os_str() != "-", "--ids needs files, not standard input");
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let key = crate::input::key_of(&file).with_context(|| format!("cannot read {}", path.display()))?;
            if let Some(r) = ledger.get(&key)? {
                anyhow::bail!("already in the ledger as {} (outputs {}): not applied twice", r.name, r.stem);
            }
            let record = ledger
                .begin(&key, &name, &path.display().to_string(), &stem_of(&name), &|s| !OutputFiles::taken(dirs, s))?;
            match rater.rate_and_commit(KeyedInput { file, path, key }, record, false, dirs, &tmp)? {
                Rated::Done { totals, .. } => Ok(*totals),
                Rated::Unreadable(reason) => {
                    ledger.forget(&key)?;
                    anyhow::bail!("{reason}")
                }
                Rated::Cancelled => anyhow::bail!("cancelled"),
            }
        })();
        match result {
            Ok(t) => eprintln!("{}", summary(&name, &t, t0.elapsed().as_secs_f64(), config.price_decimals)),
            Err(e) => {
                failed += 1;
                eprintln!("{name}: not rated: {e:#}");
            }
        }
    }
    // Hook runs are queued in the background: the process must not exit
    // before each has delivered its alert, failed or been killed at its timeout.
    let hooks = alerts.wait_for_hooks();
    if hooks.failed > 0 {
        eprintln!(
            "alert hook: {} of {} run(s) failed (above); the alerts are all in the alert log",
            hooks.failed, hooks.finished
        );
    }
    // The temp folder is only for this run's outputs: leave no trace of it
    // (`remove_dir` keeps it if it holds anything).
    let _ = std::fs::remove_dir(&tmp);
    crate::state::write_ids_snapshot(&config.state, ledger.as_ref())?;
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) could not be rated", args.files.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{Format, FormatName};

    #[test]
    fn a_bar_only_on_a_terminal_for_large_inputs_and_streams() {
        assert!(!show_progress(false, None), "never when stderr is not a terminal");
        assert!(!show_progress(false, Some(1 << 40)));
        assert!(show_progress(true, None), "a stream: its size is unknown");
        assert!(show_progress(true, Some(PROGRESS_BYTES)));
        assert!(!show_progress(true, Some(PROGRESS_BYTES - 1)));
    }

    #[test]
    fn the_customer_hint_needs_unknown_customers_and_no_account_column() {
        let mut t = Totals::default();
        let cucm = Format::plain(FormatName::Cucm).unwrap();
        let generic = Format::plain(FormatName::Generic).unwrap();
        assert_eq!(customer_hint(&cucm, &t), None);
        t.by_unrated[crate::rating::Unrated::NoTariff as usize] = 3;
        assert_eq!(customer_hint(&cucm, &t), None, "no_tariff is not a customer problem");
        t.by_unrated[crate::rating::Unrated::UnknownCustomer as usize] = 2;
        let hint = customer_hint(&cucm, &t).unwrap();
        assert!(hint.starts_with("2 row(s) unrated as unknown_customer: format cucm has no account column"), "{hint}");
        assert!(hint.contains("--customer"), "{hint}");
        assert_eq!(customer_hint(&generic, &t), None, "generic rows name their customer");
        assert!(customer_hint(&Format::plain(FormatName::ThreeCx).unwrap(), &t).is_some());
    }
}
