//! Who may read the dashboard and its API (SPEC §15). Customer names and
//! spend are business data: on a listener other hosts can reach, `/` and
//! `/api/*` need the token of `[web] token_file`, sent as
//! `Authorization: Bearer TOKEN` or as the password of HTTP basic auth (so
//! a browser's own login prompt works, no JavaScript needed). `/metrics`
//! and `/healthz` stay open: Prometheus and health checks rarely carry a
//! token, and neither says anything per customer (SPEC §10).
//!
//! The daemon refuses to start on a non-loopback address without a
//! non-empty token, rather than serving customers' data to the network.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::config::Config;

/// Why the web settings cannot be used: the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A non-loopback listener without `[web] token_file`.
    #[error(
        "[metrics] listen = {listen:?} is not a loopback address, so the dashboard needs a token: \
         set [web] token_file to a file holding one (e.g. `head -c 32 /dev/urandom | base64 > web.token`), \
         or listen on 127.0.0.1"
    )]
    NoToken {
        /// The configured listen address.
        listen: String,
    },
    /// The token file cannot be read.
    #[error("[web] token_file {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is empty (or only white space) or not UTF-8.
    #[error("[web] token_file {}: {what}; put a token of at least 16 characters in it", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: &'static str,
    },
}

/// The access rule of a running listener.
#[derive(Clone)]
pub struct Access {
    /// The token every dashboard and API request must carry; `None`: open
    /// (a loopback listener without a token file).
    token: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Access").field("token", &self.token.as_ref().map(|_| "<set>")).finish()
    }
}

/// Whether `listen` (`HOST:PORT`) only accepts connections from this host:
/// a loopback IP, or the name `localhost`. Any other name counts as
/// reachable from outside (no DNS is asked; a name is not a promise).
pub fn is_loopback(listen: &str) -> bool {
    let host = match listen.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => listen,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl Access {
    /// The rule for `config`: reads the token file when one is set (then
    /// the token is required on any address), and refuses a non-loopback
    /// listener without one.
    pub fn from_config(config: &Config) -> Result<Access, AccessError> {
        let Some(path) = &config.web.token_file else {
            if is_loopback(&config.metrics.listen) {
                return Ok(Access { token: None });
            }
            return Err(AccessError::NoToken { listen: config.metrics.listen.clone() });
        };
        let bytes = std::fs::read(path).map_err(|source| AccessError::Read { path: path.clone(), source })?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| AccessError::Bad { path: path.clone(), what: "not UTF-8" })?;
        // One token, as written by `echo` or an editor: the final newline is not part of it.
        let token = text.trim();
        if token.is_empty() {
            return Err(AccessError::Bad { path: path.clone(), what: "empty" });
        }
        if token.chars().any(char::is_whitespace) {
            return Err(AccessError::Bad { path: path.clone(), what: "holds white space inside the token" });
        }
        if token.len() < 16 {
            tracing::warn!(file = %path.display(), "[web] token_file: the token is shorter than 16 characters");
        }
        warn_if_readable_by_others(path);
        Ok(Access { token: Some(Arc::from(token.as_bytes())) })
    }

    /// An open rule (tests).
    pub fn open() -> Access {
        Access { token: None }
    }

    /// Whether a request with these headers may pass.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let Some(given) = presented(headers) else { return false };
        // Constant time in the token's bytes: a guess learns nothing from
        // how long the comparison took (only whether the length matched).
        bool::from(given.as_slice().ct_eq(token))
    }
}

/// The secret a request presents: a bearer token, or a basic-auth password.
fn presented(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        // `user:password`; the user name is not checked.
        let colon = decoded.iter().position(|&b| b == b':')?;
        return Some(decoded[colon + 1..].to_vec());
    }
    None
}

/// A warning when the token file is readable by group or others.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "[web] token_file is readable by other users; chmod 600 it");
        }
    }
}

/// Middleware: 401 with the challenges when the request lacks the token.
pub async fn require(State(access): State<Access>, request: Request, next: Next) -> Response {
    if access.allows(request.headers()) {
        return next.run(request).await;
    }
    let mut response =
        (StatusCode::UNAUTHORIZED, "401 unauthorized: send the token of [web] token_file\n").into_response();
    let h = response.headers_mut();
    h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"cdr-rater\""));
    h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"cdr-rater\", charset=\"UTF-8\""));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_told_apart() {
        for l in ["127.0.0.1:9464", "127.3.0.1:1", "[::1]:9464", "localhost:9464", "LOCALHOST:1"] {
            assert!(is_loopback(l), "{l}");
        }
        for l in ["0.0.0.0:9464", "[::]:9464", "10.0.0.5:80", "example.org:9464", "192.168.1.1:9464"] {
            assert!(!is_loopback(l), "{l}");
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        let access = Access { token: Some(Arc::from(&b"s3cret-token-0123"[..])) };
        assert!(access.allows(&headers("Bearer s3cret-token-0123")));
        assert!(access.allows(&headers("bearer  s3cret-token-0123 ")));
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:s3cret-token-0123");
        assert!(access.allows(&headers(&format!("Basic {basic}"))));
        let wrong = base64::engine::general_purpose::STANDARD.encode("s3cret-token-0123:x");
        for bad in ["Bearer s3cret-token-012", "Bearer s3cret-token-01234", "Token s3cret-token-0123", "Basic %%%"] {
            assert!(!access.allows(&headers(bad)), "{bad}");
        }
        assert!(!access.allows(&headers(&format!("Basic {wrong}"))));
        assert!(!access.allows(&HeaderMap::new()));
        assert!(Access::open().allows(&HeaderMap::new()));
    }
}
