//! Connecting to the database: the URL of `[store] url`, the password from
//! `password_file`, `PGPASSWORD` or `~/.pgpass` (never from the config
//! file, never printed), and TLS when the URL asks for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postgres::config::{Host, SslMode};

/// Why the store's connection settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("store.url: not a PostgreSQL connection string: {0}")]
    Url(#[source] postgres::Error),
    /// The URL holds a password.
    #[error("store.url: holds a password; give it in PGPASSWORD, ~/.pgpass or store.password_file")]
    PasswordInUrl,
    /// The password file could not be read.
    #[error("store.password_file {}: {source}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error("store: cannot set up TLS: {0}")]
    Tls(#[source] native_tls::Error),
}

/// How to reach the database, password included.
pub struct Target {
    /// The client's settings, password included.
    pub config: postgres::Config,
    /// Makes TLS streams when the URL asks for TLS (`sslmode=prefer` tries it).
    pub tls: postgres_native_tls::MakeTlsConnector,
    /// The URL without a password: what logs and errors name.
    pub shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("shown", &self.shown).finish_non_exhaustive()
    }
}

/// The settings of `url` with the password found for it: `password_file`'s
/// first line, else `PGPASSWORD`, else the first matching line of
/// `PGPASSFILE` or `~/.pgpass` (libpq's format and wildcards).
pub fn target(url: &str, password_file: Option<&Path>) -> Result<Target, ConnectError> {
    let mut config: postgres::Config = url.parse().map_err(ConnectError::Url)?;
    if config.get_password().is_some() {
        return Err(ConnectError::PasswordInUrl);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.keepalives_idle(Duration::from_secs(30));
    if config.get_application_name().is_none() {
        config.application_name("cdr-rater");
    }
    let password = match password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| ConnectError::PasswordFile { path: path.to_path_buf(), source })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        None => std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()).or_else(|| pgpass(&config)),
    };
    if let Some(p) = password {
        config.password(p);
    }
    let mut builder = native_tls::TlsConnector::builder();
    // libpq's `require` encrypts without checking the certificate (that is
    // `verify-full`, which this client does not parse); `prefer` tries TLS.
    if config.get_ssl_mode() != SslMode::Disable {
        builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true);
    }
    let tls = postgres_native_tls::MakeTlsConnector::new(builder.build().map_err(ConnectError::Tls)?);
    Ok(Target { shown: shown(&config), config, tls })
}

/// `user@host:port/db`, as logs and errors show the database.
fn shown(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgresql://{}@{host}:{port}/{}",
        c.get_user().unwrap_or("?"),
        c.get_dbname().or(c.get_user()).unwrap_or("?")
    )
}

/// The password of the first line of the password file that matches the
/// target: `host:port:database:user:password`, `*` matching anything and
/// `\` escaping `:` and `\`. A Unix socket matches host `localhost`.
fn pgpass(c: &postgres::Config) -> Option<String> {
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = c.get_user().unwrap_or_default().to_string();
    let db = c.get_dbname().map_or_else(|| user.clone(), str::to_string);
    pgpass_lookup(&text, [&host, &port, &db, &user])
}

/// The password of the first line of a `.pgpass` text matching `want`
/// (host, port, database, user).
fn pgpass_lookup(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = vec![String::new()];
        let mut chars = line.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' => fields.last_mut()?.extend(chars.next()),
                ':' if fields.len() < 5 => fields.push(String::new()),
                _ => fields.last_mut()?.push(ch),
            }
        }
        if fields.len() == 5 && fields[..4].iter().zip(want).all(|(f, w)| f == "*" || f == w) {
            return fields.pop();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:cdr:cdr:no\n*:5433:cdr:cdr:a\\:b\\\\c\nlocalhost:*:*:cdr:d\n";
        assert_eq!(pgpass_lookup(text, ["db", "5433", "cdr", "cdr"]).as_deref(), Some("a:b\\c"));
        assert_eq!(pgpass_lookup(text, ["localhost", "5432", "x", "cdr"]).as_deref(), Some("d"));
        assert_eq!(pgpass_lookup(text, ["db", "5432", "cdr", "cdr"]), None);
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_shown() {
        let e = target("postgresql://cdr:s3cret@db/cdr", None).unwrap_err().to_string();
        assert!(e.contains("holds a password") && !e.contains("s3cret"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let t = target("postgresql://cdr@db:6543/rating", Some(&dir.path().join("pw"))).unwrap();
        assert_eq!(t.config.get_password(), Some(b"s3cret".as_slice()));
        assert_eq!(t.shown, "postgresql://cdr@db:6543/rating");
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
