//! `cdr-rater run`: logging, configuration, then the daemon.

use crate::cli::RunArgs;

use super::load_config;

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CDR_RATER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let config = load_config(args.config.config.as_deref())?;
    // CDRs are personal data: nothing the daemon creates (outputs, archive,
    // state, alert log) is readable by other users.
    // SAFETY: umask only sets this process's file-creation mask; no memory is involved.
    unsafe { libc::umask(0o027) };
    crate::daemon::run(config)
}
