//! What the daemon tells the outside world: one typed [`Event`] per thing
//! worth observing, turned into Prometheus metrics and log lines in one
//! place. Events are emitted per file or per reload, never per row.
//!
//! Metric names follow SPEC §10: prefix `cdr_rater_`, `_total` on counters,
//! seconds and currency units as base units, and labels only from small
//! fixed sets (no customer or number ever becomes a label).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::totals::{Flag, Totals};

/// Buckets of `cdr_rater_file_seconds`: from a tiny file to a multi-million-row one.
const FILE_SECONDS_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets of `cdr_rater_store_commit_seconds`: a commit takes milliseconds,
/// or waits on another site's row locks.
const COMMIT_SECONDS_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0, 5.0];

/// `type` label values of `cdr_rater_ids_alerts_total` (the alert kinds).
const IDS_ALERT_TYPES: [&str; 1] = ["ids_threshold"];

/// `type` label values of `cdr_rater_fraud_alerts_total`: the fraud rules.
const FRAUD_ALERT_TYPES: [crate::fraud::Rule; 5] = crate::fraud::Rule::ALL;

/// `level` label values of `cdr_rater_ids_alerts_total`. Each level doubles
/// the excess, so level 4 is already eight ranges above the baseline: higher
/// levels share `4+`, which keeps the label set fixed (of 40 possible).
const IDS_LEVEL_LABELS: [&str; 4] = ["1", "2", "3", "4+"];

/// The `level` label of an alert level.
fn ids_level_label(level: u32) -> &'static str {
    IDS_LEVEL_LABELS[(level.max(1) as usize - 1).min(IDS_LEVEL_LABELS.len() - 1)]
}

/// Text from outside the operator's control (a dropped file's name, an
/// error quoting it, a failure reason) made safe for a log line: control
/// characters (newlines, ESC, DEL, C1), Unicode line separators and
/// bidirectional overrides are written as `\n`, `\u{1b}`, ..., and `\`
/// as `\\`, so the text can neither start a forged line nor drive the
/// terminal, and the escaped form reads back unambiguously. Use it for
/// every such field: `file = %Untrusted(name)`.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        // Safe runs are written whole; only the characters to escape are
        // written one by one.
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            f.write_str(&rest[..at])?;
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)?;
        Ok(())
    }
}

/// Characters [`Untrusted`] escapes.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One thing worth observing.
#[derive(Debug)]
pub enum Event<'a> {
    /// A file was rated and published.
    FileRated {
        /// Source label.
        source: &'a str,
        /// Input name.
        name: &'a str,
        /// Counts and money.
        totals: &'a Totals,
        /// Wall time.
        seconds: f64,
        /// Digest of the tariff tables that priced it.
        tariff: &'a str,
    },
    /// A file with already-rated content was archived without rating.
    FileDuplicate {
        /// Source label.
        source: &'a str,
        /// Input name.
        name: &'a str,
        /// The earlier input with the same content.
        of: &'a str,
    },
    /// A file could not be read and went to `failed/`.
    FileFailed {
        /// Source label.
        source: &'a str,
        /// Input name.
        name: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A file could not be finished now and is retried later.
    FileError {
        /// Source label.
        source: &'a str,
        /// Input name.
        name: &'a str,
        /// Why.
        error: &'a str,
    },
    /// Files waiting in `incoming/`, claimed and not yet done, or waiting
    /// to be tried again.
    Backlog(usize),
    /// Claimed files whose last try failed for a reason outside the file
    /// (disk full, ledger, alert log) and that wait to be tried again.
    WaitingOnError(usize),
    /// New tariff tables are in force.
    TariffLoaded {
        /// Wholesale prefixes.
        prefixes: usize,
        /// Whether this was a reload (not the start-up load).
        reload: bool,
        /// [`crate::tariff::Tariff::digest`]: which version is in force.
        digest: &'a str,
        /// The currencies of its plans: their money counters start at 0.
        currencies: crate::tariff::Currencies,
    },
    /// A tariff change was refused; the old tables stay in force.
    TariffRefused {
        /// The errors, one per line.
        errors: &'a str,
    },
    /// A customer's daily spend crossed an IDS level.
    IdsAlert {
        /// The alert as logged.
        alert: &'a crate::ids::Alert,
    },
    /// A fraud rule fired.
    FraudAlert {
        /// The alert as logged.
        alert: &'a crate::fraud::FraudAlert,
    },
    /// Whether the shared store (PostgreSQL) answered its last request.
    StoreUp(bool),
    /// A request to the shared store failed (the file is retried).
    StoreError,
    /// A file's commit section in the shared store ended with its commit.
    StoreCommit {
        /// From the lock of its customers' rows to the commit's answer.
        seconds: f64,
    },
    /// The fraud rules in force (at start and after each reload).
    FraudRulesLoaded {
        /// Digest of `fraud.toml` and its lists; `None` without `fraud.toml`.
        digest: Option<&'a str>,
        /// High-risk prefixes in the lists.
        high_risk_prefixes: usize,
        /// Customers with an override.
        overrides: usize,
    },
}

/// Money totals in units of `10^-decimals` per currency (metrics counters
/// are floats; these are rendered as exact decimals). Updated per file.
struct Money {
    /// Currency code to (buy, sell). Bounded: the currencies of the tables
    /// loaded since start (at most [`crate::tariff::MAX_CURRENCIES`] each).
    by_currency: Mutex<BTreeMap<String, (i128, i128)>>,
    decimals: u32,
}

static MONEY: OnceLock<Money> = OnceLock::new();

/// The installed recorder; [`render`] reads it.
pub struct Telemetry {
    handle: PrometheusHandle,
}

impl Telemetry {
    /// Installs the global metrics recorder and describes every metric.
    /// `sources` are the `source` label values (a fixed, configured set).
    pub fn install(decimals: u32, sources: &[String]) -> Result<Telemetry, metrics_exporter_prometheus::BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("cdr_rater_file_seconds".into()), &FILE_SECONDS_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full("cdr_rater_store_commit_seconds".into()), &COMMIT_SECONDS_BUCKETS)?
            .install_recorder()?;
        let _ = MONEY.set(Money { by_currency: Mutex::new(BTreeMap::new()), decimals });
        describe_counter!("cdr_rater_files_total", "Input files by outcome: rated, duplicate, failed, error.");
        describe_counter!("cdr_rater_records_total", "Input rows by outcome: rated, unrated, rejected, skipped.");
        describe_counter!(
            "cdr_rater_records_flagged_total",
            "Rated rows with an implausible start time, by flag: start_in_future, start_in_past."
        );
        describe_histogram!("cdr_rater_file_seconds", Unit::Seconds, "Time to rate one input file.");
        describe_gauge!(
            "cdr_rater_backlog_files",
            "Files waiting in incoming/, claimed and not finished, or waiting to be tried again."
        );
        describe_gauge!(
            "cdr_rater_files_waiting_on_error",
            "Claimed files whose last try failed (disk full, state store, alert log) and that are retried."
        );
        gauge!("cdr_rater_files_waiting_on_error").set(0.0);
        describe_gauge!("cdr_rater_tariff_prefixes", "Wholesale prefixes in the tariff tables in force.");
        describe_counter!("cdr_rater_tariff_reloads_total", "Tariff reloads by result: ok, error.");
        describe_gauge!("cdr_rater_last_file_timestamp_seconds", "Unix time the last file was rated.");
        describe_counter!(
            "cdr_rater_ids_alerts_total",
            "IDS alerts raised, by type (ids_threshold) and level (1, 2, 3, 4+)."
        );
        // Every label set exists from the start, so increase() sees the first alert.
        for kind in IDS_ALERT_TYPES {
            for level in IDS_LEVEL_LABELS {
                counter!("cdr_rater_ids_alerts_total", "type" => kind, "level" => level).absolute(0);
            }
        }
        describe_counter!(
            "cdr_rater_fraud_alerts_total",
            "Fraud rule alerts raised, by type: high_risk_destination, velocity_calls, velocity_countries, \
             call_cost, night_spend."
        );
        for rule in FRAUD_ALERT_TYPES {
            counter!("cdr_rater_fraud_alerts_total", "type" => rule.as_str()).absolute(0);
        }
        for source in sources {
            for result in ["rated", "duplicate", "failed", "error"] {
                counter!("cdr_rater_files_total", "result" => result, "source" => source.clone()).absolute(0);
            }
            for result in ["rated", "unrated", "rejected", "skipped"] {
                counter!("cdr_rater_records_total", "result" => result, "source" => source.clone()).absolute(0);
            }
            for flag in Flag::ALL {
                counter!("cdr_rater_records_flagged_total", "flag" => flag.as_str(), "source" => source.clone())
                    .absolute(0);
            }
        }
        for result in ["ok", "error"] {
            counter!("cdr_rater_tariff_reloads_total", "result" => result).absolute(0);
        }
        gauge!("cdr_rater_backlog_files").set(0.0);
        describe_gauge!("cdr_rater_store_up", "1 when the shared state store (PostgreSQL) answered its last request.");
        describe_counter!("cdr_rater_store_errors_total", "Failed requests to the shared state store (PostgreSQL).");
        describe_histogram!(
            "cdr_rater_store_commit_seconds",
            Unit::Seconds,
            "A file's commit in the shared store, from locking its customers to the commit."
        );
        Ok(Telemetry { handle })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = self.handle.render();
        if let Some(m) = MONEY.get() {
            let money = m.by_currency.lock().unwrap_or_else(|e| e.into_inner());
            for (name, help, sell) in [
                ("cdr_rater_buy_total", "Sum of buy prices of rated calls, in units of the currency label.", false),
                ("cdr_rater_sell_total", "Sum of sell prices of rated calls, in units of the currency label.", true),
            ] {
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
                for (code, (b, s)) in money.iter() {
                    let value = crate::money::format_units(if sell { *s } else { *b }, m.decimals);
                    text.push_str(&format!("{name}{{currency=\"{code}\"}} {value}\n"));
                }
            }
        }
        text
    }
}

/// Records an event: metrics and a log line.
pub fn emit(event: &Event<'_>) {
    match event {
        Event::FileRated { source, name, totals, seconds, tariff } => {
            let source = source.to_string();
            counter!("cdr_rater_files_total", "result" => "rated", "source" => source.clone()).increment(1);
            for (result, n) in [
                ("rated", totals.rated),
                ("unrated", totals.unrated),
                ("rejected", totals.rejected),
                ("skipped", totals.skipped),
            ] {
                counter!("cdr_rater_records_total", "result" => result, "source" => source.clone()).increment(n);
            }
            for flag in Flag::ALL {
                let n = totals.by_flag[flag as usize];
                if n > 0 {
                    counter!("cdr_rater_records_flagged_total", "flag" => flag.as_str(), "source" => source.clone())
                        .increment(n);
                }
            }
            histogram!("cdr_rater_file_seconds").record(*seconds);
            gauge!("cdr_rater_last_file_timestamp_seconds")
                .set(jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
            if let Some(m) = MONEY.get() {
                let mut money = m.by_currency.lock().unwrap_or_else(|e| e.into_inner());
                for (code, buy, sell) in totals.money() {
                    let e = money.entry(code.to_string()).or_default();
                    e.0 += buy;
                    e.1 += sell;
                }
            }
            tracing::info!(
                %source,
                file = %Untrusted(name),
                rows = totals.rows,
                rated = totals.rated,
                unrated = totals.unrated,
                rejected = totals.rejected,
                skipped = totals.skipped,
                flagged = totals.flagged(),
                // A JSON number in `--log-format json`; milliseconds are enough to read.
                seconds = (seconds * 1000.0).round() / 1000.0,
                tariff = %tariff,
                "file rated"
            );
            if totals.by_flag[Flag::StartInFuture as usize] + totals.by_flag[Flag::StartInPast as usize] > 0 {
                // Counts only: the rows are in the rated output, not in the log.
                tracing::warn!(
                    %source,
                    file = %Untrusted(name),
                    start_in_future = totals.by_flag[Flag::StartInFuture as usize],
                    start_in_past = totals.by_flag[Flag::StartInPast as usize],
                    "calls with implausible start times rated (check the switch clock)"
                );
            }
        }
        Event::FileDuplicate { source, name, of } => {
            counter!("cdr_rater_files_total", "result" => "duplicate", "source" => source.to_string()).increment(1);
            tracing::warn!(
                %source,
                file = %Untrusted(name),
                same_content_as = %Untrusted(of),
                "duplicate file archived without rating"
            );
        }
        Event::FileFailed { source, name, reason } => {
            counter!("cdr_rater_files_total", "result" => "failed", "source" => source.to_string()).increment(1);
            tracing::error!(%source, file = %Untrusted(name), reason = %Untrusted(reason), "file moved to failed/");
        }
        Event::FileError { source, name, error } => {
            counter!("cdr_rater_files_total", "result" => "error", "source" => source.to_string()).increment(1);
            tracing::error!(%source, file = %Untrusted(name), error = %Untrusted(error), "file not finished; will retry");
        }
        Event::Backlog(n) => gauge!("cdr_rater_backlog_files").set(*n as f64),
        Event::WaitingOnError(n) => gauge!("cdr_rater_files_waiting_on_error").set(*n as f64),
        Event::TariffLoaded { prefixes, reload, digest, currencies } => {
            gauge!("cdr_rater_tariff_prefixes").set(*prefixes as f64);
            if let Some(m) = MONEY.get() {
                let mut money = m.by_currency.lock().unwrap_or_else(|e| e.into_inner());
                for (_, code) in currencies.iter() {
                    money.entry(code.to_string()).or_default();
                }
            }
            if *reload {
                counter!("cdr_rater_tariff_reloads_total", "result" => "ok").increment(1);
            }
            tracing::info!(prefixes, reload, %digest, "tariff tables in force");
        }
        Event::IdsAlert { alert } => {
            // Only known kinds become label values: the label set stays bounded.
            let kind = IDS_ALERT_TYPES.iter().copied().find(|k| *k == alert.kind).unwrap_or(IDS_ALERT_TYPES[0]);
            counter!("cdr_rater_ids_alerts_total", "type" => kind, "level" => ids_level_label(alert.level))
                .increment(1);
            tracing::warn!(
                customer = %Untrusted(&alert.customer_id),
                day = %alert.day,
                level = alert.level,
                spend = %alert.spend,
                threshold = %alert.level_threshold,
                late = alert.late,
                warm_up = alert.warm_up,
                "IDS alert: daily spend above the customer's range"
            );
        }
        Event::FraudAlert { alert } => {
            // The rule comes from the alert's own variant: a fixed label set.
            counter!("cdr_rater_fraud_alerts_total", "type" => alert.figures.rule().as_str()).increment(1);
            // Who and what, never the numbers called (those are in the alert log).
            tracing::warn!(
                customer = %Untrusted(&alert.customer_id),
                day = %alert.day,
                rule = alert.figures.rule().as_str(),
                late = alert.late,
                file = %Untrusted(&alert.file),
                "fraud alert: {}",
                alert.figures.rule().as_str()
            );
        }
        Event::FraudRulesLoaded { digest, high_risk_prefixes, overrides } => match digest {
            Some(digest) => {
                tracing::info!(%digest, high_risk_prefixes, overrides, "fraud rules in force")
            }
            None => tracing::info!("no fraud rules (no fraud.toml in the tariff tables folder)"),
        },
        Event::StoreUp(up) => gauge!("cdr_rater_store_up").set(if *up { 1.0 } else { 0.0 }),
        Event::StoreError => counter!("cdr_rater_store_errors_total").increment(1),
        Event::StoreCommit { seconds } => histogram!("cdr_rater_store_commit_seconds").record(*seconds),
        Event::TariffRefused { errors } => {
            counter!("cdr_rater_tariff_reloads_total", "result" => "error").increment(1);
            // One log line: the errors' line breaks are escaped too.
            tracing::error!(errors = %Untrusted(errors), "tariff change refused; the previous tables stay in force");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ids_level_label, Untrusted};

    #[test]
    fn ids_levels_above_three_share_one_label() {
        let labels: Vec<&str> = [1, 2, 3, 4, 5, 40].into_iter().map(ids_level_label).collect();
        assert_eq!(labels, ["1", "2", "3", "4+", "4+", "4+"]);
    }

    #[test]
    fn untrusted_text_cannot_break_a_line_or_drive_the_terminal() {
        let forged = "x\nERROR forged line\x1b[31m\r\t\u{7f}\u{85}\u{2028}\u{202e}\\n.csv";
        let shown = Untrusted(forged).to_string();
        assert_eq!(shown, r"x\nERROR forged line\u{1b}[31m\r\t\u{7f}\u{85}\u{2028}\u{202e}\\n.csv");
        assert!(shown.chars().all(|c| !c.is_control()));
        // Ordinary names, including non-ASCII ones, pass unchanged.
        for plain in ["cdr-2026-11-25.csv", "Zürich 北京 ☎.csv.gz", ""] {
            assert_eq!(Untrusted(plain).to_string(), plain);
        }
    }
}
