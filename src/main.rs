//! `cdr-rater`: parse the command line, run, map errors to exit codes
//! (0 ok, 1 runtime failure, 2 bad usage, configuration or tariffs).

use std::process::ExitCode;

use clap::Parser;

use cdr_rater::cli::Cli;
use cdr_rater::commands;
use cdr_rater::exit::Invalid;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Invalid>() => {
            eprintln!("cdr-rater: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("cdr-rater: {e:#}");
            ExitCode::from(1)
        }
    }
}
