//! The routes' handlers: `/metrics` (Prometheus text, as before),
//! `/healthz`, `/api/ids`, `/api/alerts` (JSON) and `/` (the page). Each
//! reads snapshots: the telemetry recorder, [`Live`] atomics, the cached
//! IDS read and the end of the alert log (on a blocking thread).

use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::alerts::{self, Tail};
use super::page::{self, PageData};
use super::WebState;

/// Most alerts one `/api/alerts` answer or one page holds (the newest).
pub const MAX_ALERTS: usize = 10_000;

/// A request that cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// State that cannot be read now.
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn metrics(State(s): State<WebState>) -> Response {
    let body = s.telemetry.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// `GET /healthz`: alive, and how the intake is doing.
pub async fn healthz(State(s): State<WebState>) -> Response {
    let live = &s.live;
    let backlog: usize = live.sources.iter().map(|x| x.backlog.load(Ordering::Relaxed)).sum();
    let stuck: usize = live.sources.iter().map(|x| x.stuck.load(Ordering::Relaxed)).sum();
    let tariff = live.tariff();
    let now = crate::config::now().as_second();
    Json(json!({
        "status": if stuck > 0 { "degraded" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(live.started_at),
        "uptime_seconds": (now - live.started_at).max(0),
        "backlog_files": backlog,
        "files_waiting_on_error": stuck,
        "ids": s.settings.ids_enabled,
        "tariff": {
            "digest": tariff.in_force.digest,
            "loaded_at": rfc3339(tariff.in_force.loaded_at),
            "versions": tariff.in_force.versions,
            "last_reload": tariff.last_reload.as_ref().map(|r| json!({ "at": rfc3339(r.at), "ok": r.ok })),
        },
    }))
    .into_response()
}

/// Unix seconds as RFC 3339 (UTC).
fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).map(|t| t.to_string()).unwrap_or_default()
}

/// `?day=YYYY-MM-DD`.
#[derive(Debug, Deserialize)]
pub struct DayQuery {
    /// The day (default: today in the configured zone).
    day: Option<String>,
}

/// `GET /api/ids?day=`: every customer's spend, baseline, threshold and
/// level on the day, by spend (largest first); computed once per IDS read.
pub async fn api_ids(State(s): State<WebState>, Query(q): Query<DayQuery>) -> Result<Response, ApiError> {
    let day = match &q.day {
        None => None,
        Some(d) => Some(
            crate::timefmt::parse_day(d)
                .ok_or_else(|| ApiError::BadRequest(format!("day {d:?} is not a date such as 2026-11-24")))?,
        ),
    };
    let view = s.ids.view(day).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], view.json.clone()).into_response())
}

/// `?since=RFC3339`.
#[derive(Debug, Deserialize)]
pub struct SinceQuery {
    /// Oldest `emitted_at` wanted (default: 24 hours ago).
    since: Option<String>,
}

/// The alerts emitted since unix second `since`, read on a blocking thread.
async fn alerts_since(s: &WebState, since: i64) -> Result<Tail, ApiError> {
    let path = s.settings.alerts.clone();
    tokio::task::spawn_blocking(move || alerts::read_since(&path, since, MAX_ALERTS))
        .await
        .map_err(|e| ApiError::Unavailable(format!("reading the alert log failed: {e}")))?
        .map_err(|e| ApiError::Unavailable(format!("cannot read the alert log {}: {e}", s.settings.alerts.display())))
}

/// `GET /api/alerts?since=`: alerts of every type, as logged, oldest first.
pub async fn api_alerts(State(s): State<WebState>, Query(q): Query<SinceQuery>) -> Result<Response, ApiError> {
    let since = match &q.since {
        None => crate::config::now().as_second() - 86_400,
        // A `+` of an offset arrives as a space when the client did not encode it.
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .or_else(|e| t.replace(' ', "+").parse().map_err(|_| e))
            .map_err(|e| {
                ApiError::BadRequest(format!("since {t:?} is not an RFC 3339 time such as 2026-11-24T00:00:00Z: {e}"))
            })?
            .as_second(),
    };
    let tail = alerts_since(&s, since).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], alerts::to_json(&rfc3339(since), &tail)).into_response())
}

/// `GET /`: the dashboard.
pub async fn dashboard(State(s): State<WebState>) -> Response {
    let now = crate::config::now().as_second();
    let set = &s.settings;
    let (view, alerts) = tokio::join!(s.ids.view(None), alerts_since(&s, now - 86_400));
    let tariff_state = s.live.tariff();
    let html = page::render(&PageData {
        now,
        zone: &set.zone,
        today: s.ids.today(),
        refresh: set.refresh_seconds,
        decimals: set.decimals,
        ids_enabled: set.ids_enabled,
        view: view.as_deref().map_err(|e| e.to_string()),
        alerts: alerts.map_err(|e| e.to_string()),
        live: &s.live,
        tariff: &tariff_state,
    });
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    // No script may run, whatever a value might smuggle in; nothing is loaded from elsewhere.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
        ),
    );
    response
}

/// Anything else: 404, pointing at what exists.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found; try / or /metrics\n").into_response()
}
