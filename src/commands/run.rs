//! `cdr-rater run`: logging, configuration, then the daemon.

use crate::cli::RunArgs;

use super::{load_config, Invalid};

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 && !args.allow_root {
        return Err(Invalid(
            "refusing to run as root: run as an unprivileged user (systemd/cdr-rater.service uses \
             User=cdr-rater), or pass --allow-root if you really mean it"
                .into(),
        )
        .into());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("CDR_RATER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    if let Ok(Some(now)) = crate::config::fixed_now() {
        // Replays and tests only: a production daemon must follow the clock.
        tracing::warn!(%now, "CDR_RATER_NOW is set: \"now\" is fixed, not the clock");
    }
    let config = load_config(args.config.config.as_deref())?;
    // CDRs are personal data: nothing the daemon creates (outputs, archive,
    // state, alert log) is readable by other users.
    // SAFETY: umask only sets this process's file-creation mask; no memory is involved.
    unsafe { libc::umask(0o027) };
    crate::daemon::run(config)
}
