//! `[store]`: where the daemon's state lives (SPEC §13): the embedded
//! ledger in the state folder, or a PostgreSQL database shared by every
//! daemon of several sites. Only what the file says is checked here (a
//! password in the URL is refused: credentials never sit in the config);
//! finding the password and connecting is the store's (`state::postgres`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Which store keeps the state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// `state/ledger.redb`, one daemon.
    #[default]
    Embedded,
    /// A PostgreSQL database, shared by every daemon on it.
    Postgres,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` (default) or `postgres`.
    pub backend: Backend,
    /// The database, as a libpq URL (`postgresql://user@host:port/db?sslmode=require`)
    /// or key-value string, without a password.
    pub url: Option<String>,
    /// This daemon's name in the shared state (default: the host name).
    pub site: Option<String>,
    /// A file whose first line is the database password (else `PGPASSWORD`,
    /// else `~/.pgpass`); relative to the config file's folder.
    pub password_file: Option<PathBuf>,
}

impl StoreConfig {
    /// Makes a relative `password_file` relative to `base` (the config file's folder).
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.password_file {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The problems of the section, each prefixed with its key.
    pub(super) fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match (self.backend, &self.url) {
            (Backend::Postgres, None) => problems.push("store.url: required with backend = \"postgres\"".into()),
            (_, Some(url)) => match url.parse::<postgres::Config>() {
                Err(e) => problems.push(format!("store.url: not a PostgreSQL connection string: {e}")),
                Ok(c) if c.get_password().is_some() => problems.push(
                    "store.url: holds a password; remove it and give the password in PGPASSWORD, \
                     ~/.pgpass or store.password_file"
                        .into(),
                ),
                Ok(_) => {}
            },
            (Backend::Embedded, None) => {}
        }
        if let Some(site) = &self.site {
            if site.is_empty() || site.len() > 64 || !site.bytes().all(|b| b.is_ascii_graphic()) {
                problems.push("store.site: 1 to 64 printable characters without spaces".into());
            }
        }
        problems
    }

    /// This daemon's site name: `site`, else the host name, else `default`.
    pub fn site(&self) -> String {
        if let Some(site) = &self.site {
            return site.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "default".into())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Backend;
    use crate::config::Config;

    #[test]
    fn postgres_needs_a_url_without_a_password_and_unknown_keys_are_errors() {
        let c = Config::parse("", Path::new("c.toml")).unwrap();
        assert_eq!(c.store.backend, Backend::Embedded);
        let ok = "[store]\nbackend = \"postgres\"\nurl = \"postgresql://cdr@db.example/cdr\"\nsite = \"ams1\"\n";
        let c = Config::parse(ok, Path::new("c.toml")).unwrap();
        assert_eq!((c.store.backend, c.store.site()), (Backend::Postgres, "ams1".to_string()));
        let e = Config::parse("[store]\nbackend = \"postgres\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("store.url: required"), "{e}");
        let with_password = "[store]\nbackend = \"postgres\"\nurl = \"postgresql://cdr:s3cret@db/cdr\"\n";
        let e = Config::parse(with_password, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("holds a password") && !e.contains("s3cret"), "{e}");
        let e = Config::parse("[store]\npassword = \"x\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("password"), "{e}");
        let e = Config::parse("[store]\nbackend = \"mysql\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("mysql"), "{e}");
    }
}
