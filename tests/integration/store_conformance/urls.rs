//! Opening a store by URL: the scheme picks the backend, and what goes wrong is said clearly,
//! with the host but never the password.

use promptops::error::Diagnostic;
use promptops::store::{self, StoreError};

use super::{draft, scope};

#[tokio::test]
async fn a_sqlite_url_or_a_plain_path_opens_a_working_sqlite_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_scheme = format!("sqlite://{}", dir.path().join("a.db").display());
    let plain = dir.path().join("nested/b.db").display().to_string();
    for url in [with_scheme, plain] {
        let store = store::open(&url).await.expect("open");
        store.commit(&scope("t", "p"), vec![draft("a", "1")]).await.expect("commit");
        assert!(store.schema_status().await.expect("status").is_current());
    }
    assert!(dir.path().join("a.db").exists() && dir.path().join("nested/b.db").exists());
}

#[tokio::test]
async fn an_unreachable_postgres_names_its_host_but_not_the_password() {
    // Port 1 on loopback refuses at once: no PostgreSQL listens there.
    let err = store::open("postgres://app:hunter2@127.0.0.1:1/promptops").await.map(|_| ()).expect_err("refused");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    let mut text = format!("{err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause}"));
        source = cause.source();
    }
    text.push_str(&err.hints().join(" / "));
    assert!(text.contains("app@127.0.0.1:1/promptops"), "{text}");
    assert!(text.contains("pg_isready -h 127.0.0.1 -p 1"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn an_unknown_scheme_is_a_configuration_error_with_a_hint() {
    let err = store::open("mysql://root:pw@db/promptops").await.map(|_| ()).expect_err("refused");
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
    assert_eq!(err.class(), promptops::error::ErrorClass::Config);
    assert!(err.to_string().contains("`mysql` is not a supported database"), "{err}");
    assert!(!err.to_string().contains(":pw@"), "{err}");
    assert!(err.hints().iter().any(|h| h.contains("postgres://")), "{:?}", err.hints());
}
