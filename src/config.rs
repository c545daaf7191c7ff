//! `cdr-rater.toml` (SPEC §11): every key optional, unknown keys refused,
//! relative paths taken from the config file's folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::formats::{self, Format, FormatName, FormatOptions};
use crate::numbers::Numbering;

mod billing;
mod limits;
mod store;
mod web;
pub use billing::BillingConfig;
pub use limits::Limits;
pub use store::{Backend, StoreConfig};
pub use web::WebConfig;

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG: &str = "cdr-rater.toml";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Values that parse but make no sense.
    #[error("{}: {}", path.display(), problems.join("; "))]
    Invalid {
        /// The config file (or `<defaults>`).
        path: PathBuf,
        /// Every problem.
        problems: Vec<String>,
    },
}

/// The whole configuration, with defaults filled in and paths resolved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Tariff tables folder.
    pub rates: PathBuf,
    /// Spool folder (incoming, archive, outputs).
    pub spool: PathBuf,
    /// State folder (ledger, IDS).
    pub state: PathBuf,
    /// IDS alert log.
    pub alerts: PathBuf,
    /// CDR format of `spool/incoming`.
    pub format: String,
    /// `[freeswitch]`: FreeSWITCH options.
    pub freeswitch: Option<formats::freeswitch::Options>,
    /// `[3cx]`: the 3CX field order.
    #[serde(rename = "3cx")]
    pub threecx: Option<formats::threecx::Options>,
    /// `[custom]`: the layout of `format = "custom"`.
    pub custom: Option<formats::custom::Options>,
    /// Zone of local times in CDRs and of a customer's day by default.
    pub timezone: String,
    /// Decimal places of every price.
    pub price_decimals: u32,
    /// How long a file closed in place must stay unchanged before it is taken.
    pub settle_ms: u64,
    /// How long `rates/` must stay unchanged before the daemon reloads it
    /// (tables copied in file by file are loaded once, whole).
    pub reload_settle_ms: u64,
    /// Home numbering plan.
    pub numbering: Numbering,
    /// Prometheus listener.
    pub metrics: MetricsConfig,
    /// `[web]`: the dashboard's access token.
    pub web: WebConfig,
    /// `[store]`: the embedded ledger or the shared PostgreSQL store.
    pub store: StoreConfig,
    /// IDS settings.
    pub ids: IdsConfig,
    /// Input limits.
    pub limits: Limits,
    /// `[billing]`: invoices (SPEC §12.3); typed in [`Config::billing_settings`].
    pub billing: BillingConfig,
    /// `[deck]`: the wholesale deck.
    pub deck: DeckConfig,
    /// Drop folders with their own format and numbering.
    pub source: Vec<SourceConfig>,
    /// The file this was read from; `None`: the built-in defaults (no
    /// `--config` and no `./cdr-rater.toml`), whose paths are relative to
    /// the current folder.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// What the values mean, resolved once by validation (typed formats,
    /// zones and numbering per source): nothing is parsed again later and
    /// nothing falls back on a default after it was validated.
    #[serde(skip)]
    resolved: Resolved,
}

/// The typed settings a validated configuration resolves to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The top-level format with its options.
    pub format: Format,
    /// The default zone of local times and customer days.
    pub zone: jiff::tz::TimeZone,
    /// Each `[[source]]`, in order.
    pub sources: Vec<SourceSettings>,
    /// `[billing]`, typed.
    pub billing: crate::billing::BillingSettings,
}

impl Default for Resolved {
    /// A placeholder for serde: `Config::parse` and `Config::load` replace
    /// it with the result of validation before a `Config` is handed out.
    fn default() -> Self {
        Resolved {
            format: Format::plain(FormatName::Generic).expect("generic has no options"),
            zone: jiff::tz::TimeZone::UTC,
            sources: Vec::new(),
            billing: crate::billing::BillingSettings::default(),
        }
    }
}

/// A `[[source]]` resolved: its format, zone and numbering with the
/// top-level values filled in.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// CDR format with its options.
    pub format: Format,
    /// Zone of local times.
    pub zone: jiff::tz::TimeZone,
    /// Numbering plan with the source's overrides.
    pub numbering: Numbering,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rates: "rates".into(),
            spool: "spool".into(),
            state: "state".into(),
            alerts: "spool/alerts.jsonl".into(),
            format: "generic".into(),
            freeswitch: None,
            threecx: None,
            custom: None,
            timezone: "Europe/Amsterdam".into(),
            price_decimals: 4,
            settle_ms: 1000,
            reload_settle_ms: 2000,
            numbering: Numbering::default(),
            metrics: MetricsConfig::default(),
            web: WebConfig::default(),
            store: StoreConfig::default(),
            ids: IdsConfig::default(),
            limits: Limits::default(),
            billing: BillingConfig::default(),
            deck: DeckConfig::default(),
            source: Vec::new(),
            file: None,
            resolved: Resolved::default(),
        }
    }
}

/// `[deck]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeckConfig {
    /// ISO 4217 currency of the wholesale deck's prices; `check` warns of
    /// every plan that sells in another.
    pub currency: String,
}

impl Default for DeckConfig {
    fn default() -> Self {
        DeckConfig { currency: "EUR".into() }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the `/metrics` listener.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { listen: "127.0.0.1:9464".into() }
    }
}

/// `[ids]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdsConfig {
    /// Whether the daemon tracks daily spend and raises alerts.
    pub enabled: bool,
    /// Days in the baseline average.
    pub window_days: u32,
    /// Command run per alert with the alert JSON on stdin (empty = none).
    pub on_alert: Vec<String>,
    /// How long `on_alert` may run before it is killed, in milliseconds.
    pub on_alert_timeout_ms: u64,
}

impl Default for IdsConfig {
    fn default() -> Self {
        IdsConfig { enabled: true, window_days: 28, on_alert: Vec::new(), on_alert_timeout_ms: 10_000 }
    }
}

/// `CDR_RATER_NOW` is set but is not an RFC 3339 time.
#[derive(Debug, thiserror::Error)]
#[error("CDR_RATER_NOW={value:?} is not an RFC 3339 time such as 2026-11-25T12:00:00Z: {reason}")]
pub struct BadNow {
    /// The value as set (lossy if not UTF-8).
    pub value: String,
    /// Why it does not parse.
    pub reason: String,
}

/// The "now" fixed by `CDR_RATER_NOW` (RFC 3339), `None` when unset.
/// Commands that use "now" call this once at start, so a typo is an error
/// rather than a silent fall back to the clock.
pub fn fixed_now() -> Result<Option<jiff::Timestamp>, BadNow> {
    let Some(value) = std::env::var_os("CDR_RATER_NOW") else { return Ok(None) };
    let value = value.to_string_lossy();
    value.parse().map(Some).map_err(|e: jiff::Error| BadNow { value: value.into_owned(), reason: e.to_string() })
}

/// "Now": the clock, or `CDR_RATER_NOW` for tests and replays (checked by
/// [`fixed_now`] at start, so an unparsable value never reaches here).
pub fn now() -> jiff::Timestamp {
    fixed_now().ok().flatten().unwrap_or_else(jiff::Timestamp::now)
}

/// `[[source]]`: a drop folder with its own format, zone and numbering.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Name, used as a folder and a bounded metric label.
    pub name: String,
    /// Drop folder.
    pub incoming: PathBuf,
    /// CDR format (default: the top-level `format`).
    pub format: Option<String>,
    /// Zone of local times (default: the top-level `timezone`).
    pub timezone: Option<String>,
    /// Customer of rows that name none.
    pub customer: Option<String>,
    /// `[source.freeswitch]` (default: the top-level `[freeswitch]`).
    pub freeswitch: Option<formats::freeswitch::Options>,
    /// `[source.3cx]` (default: the top-level `[3cx]`).
    #[serde(rename = "3cx")]
    pub threecx: Option<formats::threecx::Options>,
    /// `[source.custom]` (default: the top-level `[custom]`).
    pub custom: Option<formats::custom::Options>,
    /// Overrides of `[numbering]`.
    #[serde(default)]
    pub numbering: NumberingOverride,
}

/// `[source.numbering]`: any subset of `[numbering]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberingOverride {
    /// See [`Numbering::home_country`].
    pub home_country: Option<String>,
    /// See [`Numbering::country_code`].
    pub country_code: Option<String>,
    /// See [`Numbering::national_prefix`].
    pub national_prefix: Option<String>,
    /// See [`Numbering::international_prefix`].
    pub international_prefix: Option<String>,
    /// See [`Numbering::internal_max_digits`].
    pub internal_max_digits: Option<usize>,
    /// See [`Numbering::technical_prefixes`].
    pub technical_prefixes: Option<Vec<String>>,
}

impl Config {
    /// Reads `path`, or `./cdr-rater.toml` if present, or the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
        };
        let Some(path) = path else {
            let mut config = Config::default();
            config.resolved = config.validate(Path::new("<defaults>"))?;
            return Ok(config);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        let mut config = Config::parse(&text, &path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.resolve_paths(&base);
        config.file = Some(path);
        Ok(config)
    }

    /// When `path` (a configured folder such as `rates`) does not exist and
    /// came from the built-in defaults, a message that says so and from
    /// which folder it was looked up: running from the wrong folder is the
    /// likely cause. `None` when the path exists or was configured.
    pub fn missing_default_path(&self, path: &Path) -> Option<String> {
        if self.file.is_some() || path.is_absolute() || path.exists() {
            return None;
        }
        let cwd = std::env::current_dir().map_or_else(|_| "the current folder".into(), |d| d.display().to_string());
        Some(format!(
            "{}/ not found in {cwd} (no --config and no ./{DEFAULT_CONFIG}: the built-in defaults look in the current folder)",
            path.display()
        ))
    }

    /// Parses and validates config text (paths left as written).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.span().map_or(1, |s| 1 + text[..s.start.min(text.len())].matches('\n').count()),
            message: e.message().trim().to_string(),
        })?;
        config.resolved = config.validate(path)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        for p in [&mut self.rates, &mut self.spool, &mut self.state, &mut self.alerts] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        self.web.resolve_paths(base);
        self.store.resolve_paths(base);
        self.billing.resolve_paths(base);
        (self.resolved.billing.output, self.resolved.billing.logo) =
            (self.billing.output.clone(), self.billing.logo.clone());
        for s in &mut self.source {
            if s.incoming.is_relative() {
                s.incoming = base.join(&s.incoming);
            }
        }
    }

    /// Checks every value and, when all are good, resolves them.
    fn validate(&self, path: &Path) -> Result<Resolved, ConfigError> {
        let mut problems = Vec::new();
        let format = match self.format.parse::<FormatName>() {
            Err(e) => {
                problems.push(format!("format: {e}"));
                None
            }
            Ok(name) => match Format::new(name, &self.format_options()) {
                Ok(f) => Some(f),
                Err(e) => {
                    problems.extend(e);
                    None
                }
            },
        };
        // A layout is checked even when no source uses it yet.
        if let (Some(custom), false) = (&self.custom, self.format == "custom") {
            if let Err(e) = formats::custom::Layout::compile(custom) {
                problems.extend(e.into_iter().map(|p| format!("custom.{p}")));
            }
        }
        let zone = jiff::tz::TimeZone::get(&self.timezone).ok();
        if zone.is_none() {
            problems.push(format!("timezone: unknown time zone {:?}", self.timezone));
        }
        let c = &self.deck.currency;
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            problems.push(format!("deck.currency: {c:?} is not an ISO 4217 code such as EUR"));
        }
        if self.price_decimals > crate::money::MAX_PRICE_DECIMALS {
            problems.push(format!(
                "price_decimals: {} is more than {}",
                self.price_decimals,
                crate::money::MAX_PRICE_DECIMALS
            ));
        }
        problems.extend(self.numbering.validate().into_iter().map(|p| format!("numbering.{p}")));
        if self.limits.max_line_bytes < 64 {
            problems.push("limits.max_line_bytes: must be at least 64".into());
        }
        if self.limits.max_fields == 0 {
            problems.push("limits.max_fields: must be at least 1".into());
        }
        if self.limits.max_billsec == 0 {
            problems.push("limits.max_billsec: must be at least 1".into());
        }
        if self.limits.max_compression_ratio < 2 {
            problems.push("limits.max_compression_ratio: must be at least 2".into());
        }
        problems.extend(self.store.validate());
        if self.ids.window_days == 0 {
            problems.push("ids.window_days: must be at least 1".into());
        }
        let billing = self.billing.validate().map_err(|p| problems.extend(p)).ok();
        let mut names = std::collections::HashSet::new();
        let mut sources = Vec::new();
        for (i, s) in self.source.iter().enumerate() {
            let at = format!("source[{i}] ({})", s.name);
            if s.name.is_empty() || !s.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                problems.push(format!("{at}.name: use letters, digits, '-' and '_'"));
            }
            if !names.insert(&s.name) {
                problems.push(format!("{at}.name: duplicate source name"));
            }
            let source_format = match s.format.as_deref().unwrap_or(&self.format).parse::<FormatName>() {
                Err(e) => {
                    problems.push(format!("{at}.format: {e}"));
                    None
                }
                Ok(name) => match Format::new(name, &self.source_format_options(s)) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        problems.extend(e.into_iter().map(|p| format!("{at}.{p}")));
                        None
                    }
                },
            };
            let source_zone = match &s.timezone {
                None => zone.clone(),
                Some(tz) => {
                    let z = jiff::tz::TimeZone::get(tz).ok();
                    if z.is_none() {
                        problems.push(format!("{at}.timezone: unknown time zone {tz:?}"));
                    }
                    z
                }
            };
            let numbering = self.numbering_for(s);
            problems.extend(numbering.validate().into_iter().map(|p| format!("{at}.numbering.{p}")));
            if let (Some(format), Some(zone)) = (source_format, source_zone) {
                sources.push(SourceSettings { format, zone, numbering });
            }
        }
        match (format, zone, billing) {
            (Some(format), Some(zone), Some(billing)) if problems.is_empty() => {
                Ok(Resolved { format, zone, sources, billing })
            }
            _ => Err(ConfigError::Invalid { path: path.to_path_buf(), problems }),
        }
    }

    /// The numbering of a source: `[numbering]` with the source's overrides.
    pub fn numbering_for(&self, s: &SourceConfig) -> Numbering {
        let o = &s.numbering;
        let base = &self.numbering;
        Numbering {
            home_country: o.home_country.clone().unwrap_or_else(|| base.home_country.clone()),
            country_code: o.country_code.clone().unwrap_or_else(|| base.country_code.clone()),
            national_prefix: o.national_prefix.clone().unwrap_or_else(|| base.national_prefix.clone()),
            international_prefix: o.international_prefix.clone().unwrap_or_else(|| base.international_prefix.clone()),
            internal_max_digits: o.internal_max_digits.unwrap_or(base.internal_max_digits),
            technical_prefixes: o.technical_prefixes.clone().unwrap_or_else(|| base.technical_prefixes.clone()),
        }
    }

    /// The top-level option tables.
    pub fn format_options(&self) -> FormatOptions {
        FormatOptions {
            freeswitch: self.freeswitch.clone(),
            threecx: self.threecx.clone(),
            custom: self.custom.clone(),
        }
    }

    /// A source's option tables, each defaulting to the top-level one.
    pub fn source_format_options(&self, s: &SourceConfig) -> FormatOptions {
        let top = self.format_options();
        FormatOptions {
            freeswitch: s.freeswitch.clone().or(top.freeswitch),
            threecx: s.threecx.clone().or(top.threecx),
            custom: s.custom.clone().or(top.custom),
        }
    }

    /// The configured format with its options.
    pub fn format(&self) -> Format {
        self.resolved.format.clone()
    }

    /// Puts `format` (a `--format` override, see [`Config::format_named`])
    /// in place of the configured one.
    pub fn override_format(&mut self, format: Format) {
        self.format = format.to_string();
        self.resolved.format = format;
    }

    /// Format `name` (a `--format` override) with the top-level options.
    pub fn format_named(&self, name: &str) -> Result<Format, Vec<String>> {
        let name = name.parse::<FormatName>().map_err(|e| vec![e])?;
        Format::new(name, &self.format_options())
    }

    /// Each `[[source]]` with its resolved settings.
    pub fn sources(&self) -> impl Iterator<Item = (&SourceConfig, &SourceSettings)> {
        self.source.iter().zip(&self.resolved.sources)
    }

    /// The configured default zone.
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.resolved.zone.clone()
    }

    /// `[billing]`, typed, with its paths resolved.
    pub fn billing_settings(&self) -> &crate::billing::BillingSettings {
        &self.resolved.billing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c.rates, PathBuf::from("rates"));
        assert_eq!(c.price_decimals, 4);
        assert_eq!(c.metrics.listen, "127.0.0.1:9464");
        assert_eq!(c.ids.window_days, 28);
        assert_eq!(c.numbering.international_prefix, "00");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let e = Config::parse("format = \"generic\"\nspol = \"x\"\n", Path::new("c.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("c.toml:2:"), "{msg}");
        assert!(msg.contains("spol"), "{msg}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::parse(
            "format = \"csv\"\ntimezone = \"Mars/Base\"\n[numbering]\ncountry_code = \"x\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        for key in ["format", "timezone", "numbering.country_code"] {
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn sources_parse_with_numbering_overrides() {
        let text = "[[source]]\nname = \"pbx-ams\"\nincoming = \"spool/incoming/pbx-ams\"\nformat = \"asterisk\"\ncustomer = \"C0001\"\n[source.numbering]\ntechnical_prefixes = [\"1677\"]\n";
        let c = Config::parse(text, Path::new("c.toml")).unwrap();
        let n = c.numbering_for(&c.source[0]);
        assert_eq!(n.technical_prefixes, vec!["1677".to_string()]);
        assert_eq!(n.country_code, "31");
    }
}
