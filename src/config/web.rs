//! `[web]`: who may read the dashboard (SPEC §15). Only the path is
//! parsed here; reading the token and deciding whether the listen address
//! needs one is the daemon's (`daemon::web::auth`), since `config` knows no
//! runtime object and does no I/O beyond reading itself.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[web]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// File holding the bearer token of `/` and `/api/*` (also accepted as
    /// the password of HTTP basic auth). Required when `[metrics] listen`
    /// is not a loopback address; relative to the config file's folder.
    pub token_file: Option<PathBuf>,
}

impl WebConfig {
    /// Makes a relative `token_file` relative to `base` (the config file's folder).
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let Some(t) = &mut self.token_file {
            if t.is_relative() {
                *t = base.join(&*t);
            }
        }
    }
}
