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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    #[test]
    fn the_token_file_is_relative_to_the_config_folder_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/cdr-rater.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[web]\ntoken_file = \"secrets/web.token\"\n").unwrap();
        let c = crate::config::Config::load(Some(&path)).unwrap();
        assert_eq!(c.web.token_file, Some(dir.path().join("etc/secrets/web.token")));
        std::fs::write(&path, "[web]\ntoken_file = \"/run/keys/web.token\"\n").unwrap();
        let c = crate::config::Config::load(Some(&path)).unwrap();
        assert_eq!(c.web.token_file, Some(PathBuf::from("/run/keys/web.token")));
        let e = crate::config::Config::parse("[web]\ntoken = \"x\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("token"), "{e}");
        assert!(crate::config::Config::parse("", Path::new("c.toml")).unwrap().web.token_file.is_none());
    }
}
