//! The daemon's HTTP listener: `/metrics` for Prometheus, and the
//! operator's view of SPEC §15: `/` (dashboard), `/api/ids`, `/api/alerts`,
//! `/healthz`. Routing, parsing and HTTP/1.1 are axum and hyper's; what is
//! ours is the bounds a daemon's side port needs:
//!
//! - at most [`MAX_CONNECTIONS`] connections at once: a permit is taken
//!   *before* `accept`, so past the cap a connection costs this process
//!   nothing (it waits in the kernel's backlog);
//! - deadlines: the request head within [`READ_TIMEOUT`] (hyper's header
//!   timeout; an idle connection is closed), the whole exchange within
//!   [`CONNECTION_TIMEOUT`] (a client that never reads its answer);
//! - one request per connection (keep-alive off), as before: scrapers and
//!   browsers reconnect, and no idle connection holds a permit;
//! - a growing pause when `accept` fails (out of descriptors) instead of a
//!   hot retry loop;
//! - on shutdown, no new connection, and those in progress get
//!   [`SHUTDOWN_GRACE`] to finish (hyper's graceful shutdown).
//!
//! The handlers read snapshots only (see [`live`], `ids`): nothing here
//! takes a lock a rating worker waits for.

mod alerts;
mod api;
pub mod auth;
mod ids;
pub mod live;
mod page;
mod svg;
mod view;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

pub use auth::{Access, AccessError};
pub use ids::{IdsCache, IdsSource};
pub use live::{Live, Outcome, TariffInfo};
pub use view::ViewSettings;

use crate::config::Config;
use crate::tariff::Tariff;
use crate::telemetry::Telemetry;

/// Connections served at once. Prometheus scrapes with one; the rest are
/// operators' browsers and curls. Past it, connections wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one connection may last in all (head, answer, and the client
/// reading it).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// How long connections in progress may take to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Seconds between the dashboard's reloads of itself.
pub const REFRESH_SECONDS: u32 = 30;

/// The first pause after a failed `accept`; it doubles per failure in a row.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);

/// The longest pause after a failed `accept`.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What the handlers need of the configuration, read once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The alert log.
    pub alerts: PathBuf,
    /// Zone of "today" and of the times shown.
    pub zone: jiff::tz::TimeZone,
    /// Days in an IDS baseline.
    pub window_days: u32,
    /// Decimal places of money.
    pub decimals: u32,
    /// Home country: calls elsewhere are "abroad".
    pub home_country: String,
    /// Whether IDS is on.
    pub ids_enabled: bool,
    /// Seconds between the page's reloads.
    pub refresh_seconds: u32,
}

impl Settings {
    /// What the IDS views depend on.
    pub fn view(&self) -> ViewSettings {
        let h = self.home_country.as_bytes();
        ViewSettings {
            window_days: self.window_days,
            decimals: self.decimals,
            home: [h.first().copied().unwrap_or(b'?'), h.get(1).copied().unwrap_or(b'?')],
        }
    }
}

impl Settings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            alerts: config.alerts.clone(),
            zone: config.time_zone(),
            window_days: config.ids.window_days,
            decimals: config.price_decimals,
            home_country: config.numbering.home_country.clone(),
            ids_enabled: config.ids.enabled,
            refresh_seconds: REFRESH_SECONDS,
        }
    }
}

/// What every handler reads. One per listener.
pub struct Inner {
    /// The metrics recorder (for `/metrics`).
    pub telemetry: Arc<Telemetry>,
    /// Intake figures and the tables' state.
    pub live: Arc<Live>,
    /// The cached IDS state.
    pub ids: Arc<IdsCache>,
    /// The tables in force (names, ranges and currencies of customers).
    pub tariffs: Arc<ArcSwap<Tariff>>,
    /// Configuration read once.
    pub settings: Settings,
}

/// The handlers' state: cheap to clone.
#[derive(Clone)]
pub struct WebState(pub Arc<Inner>);

impl Deref for WebState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The routes: `/metrics` and `/healthz` open, `/` and `/api/*` behind `access`.
pub fn router(state: WebState, access: Access) -> Router {
    let guarded = Router::new()
        .route("/", get(api::dashboard))
        .route("/api/ids", get(api::api_ids))
        .route("/api/alerts", get(api::api_alerts))
        .route_layer(axum::middleware::from_fn_with_state(access, auth::require));
    Router::new()
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(api::healthz))
        .merge(guarded)
        .fallback(api::not_found)
        .layer(axum::middleware::map_response(harden))
        .with_state(state)
}

/// Headers on every answer: no caching of business data, no sniffing.
async fn harden(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Serves `app` on `listener` until `shutdown` turns true (or its sender
/// is dropped), then lets connections in progress finish within
/// [`SHUTDOWN_GRACE`].
pub async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut backoff: Option<Duration> = None;
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = None;
                let service = TowerToHyperService::new(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // Errors are the client's (a reset, a timeout): nothing to report.
                    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOMEM: the connection stays queued, so an
                // immediate retry fails again at once. Log once per streak.
                let pause = match backoff {
                    None => {
                        tracing::warn!(error = %e, "metrics listener cannot accept; backing off");
                        BACKOFF_FIRST
                    }
                    Some(p) => (p * 2).min(BACKOFF_MAX),
                };
                backoff = Some(pause);
                drop(permit);
                tokio::time::sleep(pause).await;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::info!("web connections still open at shutdown were closed");
    }
}
