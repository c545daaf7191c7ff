//! Opening the daemon's store: the embedded ledger (refused when lost, see
//! `state::guard`), or the shared PostgreSQL one. A database that does not
//! answer at start is waited for with backoff (`cdr_rater_store_up 0`), as
//! it is while running; SIGTERM/SIGINT meanwhile exits cleanly.

use std::time::Duration;

use crate::config::{Backend, Config};
use crate::state::{Ledger, PgLedger, StateError};
use crate::telemetry::{self, Event};

/// The longest wait between two tries to reach the database at start.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The daemon's ledger; `None` when a signal asked to stop while waiting
/// for the database.
pub(super) async fn open(config: &Config) -> anyhow::Result<Option<Box<dyn Ledger>>> {
    if config.store.backend == Backend::Embedded {
        let ledger = crate::state::open_for_daemon(&config.state, &config.spool)
            .map_err(|e| crate::exit::Invalid(e.to_string()))?;
        return Ok(Some(Box::new(ledger)));
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut wait = Duration::from_millis(200);
    loop {
        let store = config.store.clone();
        match tokio::task::spawn_blocking(move || PgLedger::from_config(&store)).await? {
            Ok(ledger) => {
                tracing::info!(store = %ledger.shown(), site = %ledger.site(), "shared store (PostgreSQL) open");
                return Ok(Some(Box::new(ledger)));
            }
            // Settings that cannot work are not waited on.
            Err(e @ StateError::Store { .. }) if is_setting(&e) => {
                return Err(crate::exit::Invalid(e.to_string()).into());
            }
            Err(e) => {
                telemetry::emit(&Event::StoreUp(false));
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "shared store unreachable; waiting");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = sigterm.recv() => return Ok(None),
            _ = sigint.recv() => return Ok(None),
        }
        wait = (wait * 2).min(MAX_WAIT);
    }
}

/// Whether opening failed on the settings (URL, password file, TLS set-up,
/// a newer schema) rather than on reaching the server.
fn is_setting(e: &StateError) -> bool {
    let StateError::Store { source, .. } = e else { return false };
    matches!(
        source.downcast_ref::<crate::state::postgres::PgError>(),
        Some(crate::state::postgres::PgError::Newer { .. })
    ) || source.downcast_ref::<crate::state::postgres::ConnectError>().is_some()
}
