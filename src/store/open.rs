//! Opening a store from a database URL, the one place that picks a backend: `sqlite://PATH` or a
//! plain path is a [`SqliteStore`], `postgres://…` or `postgresql://…` a [`PostgresStore`].
//! Owns the scheme dispatch and the redaction of URLs for messages (no password ever reaches an
//! error or a log); each backend owns its own connection settings.

use std::path::PathBuf;
use std::sync::Arc;

use super::{PostgresStore, SqliteStore, Store, StoreError};

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Apply pending migrations while opening (the default). Without it the store opens on an
    /// older schema, and [`super::SchemaStore`] tells what is pending: for a server whose
    /// migrations are run as a separate step (`promptops migrate`).
    pub migrate: bool,
    /// The store is opened by `promptops serve`. SQLite serves one replica (its gateway meters
    /// live in memory), so the file is then claimed for this process and a second server on it
    /// is refused rather than left to overspend budgets; PostgreSQL ignores it.
    pub serve: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { migrate: true, serve: false }
    }
}

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, as given.
    Postgres(String),
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl StoreUrl {
    /// Reads the scheme; an unknown one is an [`StoreError::InvalidUrl`] with the known ones as hints.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidUrl { url: redact_url(url), reason: reason.to_owned() };
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid("it is empty"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            return if path.is_empty() { Err(invalid("it names no file")) } else { Ok(Self::Sqlite(path.into())) };
        }
        match url.split_once("://") {
            Some((scheme, _)) => Err(invalid(&format!("`{scheme}` is not a supported database"))),
            None => Ok(Self::Sqlite(url.into())),
        }
    }

    /// Opens the store, applying pending migrations.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.open_with(OpenOptions::default()).await
    }

    /// Opens the store with `options`.
    pub async fn open_with(&self, options: OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Self::Sqlite(path) => Arc::new(SqliteStore::open_with(path.clone(), options).await?),
            Self::Postgres(url) => Arc::new(PostgresStore::open_with(url, options).await?),
        })
    }
}

/// Opens the store a URL names, applying pending migrations: `sqlite://PATH` (or a bare path),
/// `postgres://USER@HOST:PORT/DATABASE` (or `postgresql://`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    StoreUrl::parse(url)?.open().await
}

/// Opens the store a URL names, with `options`.
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
    StoreUrl::parse(url)?.open_with(options).await
}

/// A URL fit for messages: the password in the user part and any `password=` parameter become `****`.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            let authority = match authority.rsplit_once('@') {
                Some((user_info, hosts)) => match user_info.split_once(':') {
                    Some((user, _password)) => format!("{user}:****@{hosts}"),
                    None => authority.to_owned(),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{tail}")
        }
        None => url.to_owned(),
    };
    while let Some(start) = out.find("password=").map(|i| i + "password=".len()) {
        let end = out[start..].find('&').map_or(out.len(), |i| start + i);
        if &out[start..end] == "****" {
            break;
        }
        out.replace_range(start..end, "****");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_backend() {
        assert_eq!(StoreUrl::parse("sqlite://.promptops/p.db").ok(), Some(StoreUrl::Sqlite(".promptops/p.db".into())));
        assert_eq!(StoreUrl::parse("/var/lib/p.db").ok(), Some(StoreUrl::Sqlite("/var/lib/p.db".into())));
        for url in ["postgres://u@h/db", "postgresql://u@h:5433/db?sslmode=disable"] {
            assert_eq!(StoreUrl::parse(url).ok(), Some(StoreUrl::Postgres(url.to_owned())));
        }
    }

    #[test]
    fn unknown_schemes_and_empty_urls_are_refused_with_hints() {
        for url in ["mysql://root:secret@h/db", "", "sqlite://"] {
            let err = StoreUrl::parse(url).expect_err("refused");
            assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
            assert!(!crate::error::Diagnostic::hints(&err).is_empty());
        }
    }

    #[test]
    fn redaction_hides_passwords_and_keeps_the_rest() {
        assert_eq!(redact_url("postgres://app:s3cr@t@db:5432/x"), "postgres://app:****@db:5432/x");
        assert_eq!(
            redact_url("postgres://app@db/x?password=pw&sslmode=disable"),
            "postgres://app@db/x?password=****&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
        let debug = format!("{:?}", StoreUrl::Postgres("postgres://a:pw@h/d".into()));
        assert!(!debug.contains("pw@"), "{debug}");
    }
}
