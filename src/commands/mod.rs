//! The subcommands. Each returns `anyhow::Result`; `main` maps errors to
//! exit codes: [`Invalid`] (bad usage, configuration or tariffs) is 2,
//! anything else 1.

mod bill;
mod check;
mod generate;
mod ids;
mod lookup;
mod rate;
mod rerate;
mod run;
mod state;
mod store;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::tariff::{self, Tariff};

pub use crate::exit::Invalid;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // The commands that read "now" refuse a bad CDR_RATER_NOW up front.
    if matches!(cli.command, Command::Run(_) | Command::Rate(_) | Command::Ids(_) | Command::Rerate(_)) {
        crate::config::fixed_now().map_err(|e| Invalid(e.to_string()))?;
    }
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Rate(args) => rate::run(args),
        Command::Check(args) => check::run(args),
        Command::Lookup(args) => lookup::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Ids(args) => ids::run(args),
        Command::State(args) => state::run(args),
        Command::Rerate(args) => rerate::run(args),
        Command::Store(args) => store::run(args),
        Command::Bill(args) => bill::run(args),
    }
}

/// Loads the configuration, mapping problems to [`Invalid`].
fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| Invalid(e.to_string()).into())
}

/// The tariff tables folder: `--rates`, else the config's, which when it is
/// the built-in default and missing is refused with where it was looked for.
fn rates_dir<'a>(config: &'a Config, rates: Option<&'a PathBuf>) -> anyhow::Result<&'a Path> {
    match rates {
        Some(dir) => Ok(dir),
        None => match config.missing_default_path(&config.rates) {
            Some(message) => Err(Invalid(message).into()),
            None => Ok(&config.rates),
        },
    }
}

/// Loads the tariff tables from `rates` (or the config's), mapping problems to [`Invalid`].
fn load_tariff(config: &Config, rates: Option<&PathBuf>) -> anyhow::Result<Tariff> {
    let dir = rates_dir(config, rates)?;
    match tariff::load(dir, &config.numbering.home_country, &config.time_zone()) {
        Ok((t, report)) => {
            for w in report.warnings {
                eprintln!("warning: {w}");
            }
            Ok(t)
        }
        Err(errors) => Err(Invalid(errors.to_string()).into()),
    }
}
