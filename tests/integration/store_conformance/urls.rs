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

/// The test server's own certificate (Debian's default: `CN=localhost`), when it serves TLS.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test]
async fn tls_connects_to_a_server_trusted_through_sslrootcert_and_refuses_an_unknown_one() {
    let Some(b) = super::postgres(concat!(
        module_path!(),
        "::tls_connects_to_a_server_trusted_through_sslrootcert_and_refuses_an_unknown_one"
    ))
    .await
    else {
        return;
    };
    let tls_ready = b.url.contains("@127.0.0.1") && std::path::Path::new(SNAKEOIL).exists();
    if !tls_ready || !server_has_tls(&b.url).await {
        let note = "the test PostgreSQL serves no TLS with Debian's certificate: the TLS test is skipped\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return;
    }
    // The certificate names `localhost`, so connect by that name for host verification.
    let url = b.url.replace("@127.0.0.1", "@localhost");
    let trusted = format!("{url}&sslmode=verify-full&sslrootcert={SNAKEOIL}");
    let store = store::open(&trusted).await.expect("TLS with the server's CA");
    store.commit(&scope("t", "p"), vec![draft("a", "1")]).await.expect("commit over TLS");
    assert!(tls_sessions(&b.url).await > 0, "the store's connections are encrypted");
    let err = store::open(&format!("{url}&sslmode=require")).await.map(|_| ()).expect_err("unknown CA");
    assert!(matches!(err, StoreError::Connect { tls: true, .. }), "{err:?}");
    assert!(err.hints().iter().any(|h| h.contains("sslrootcert")), "{:?}", err.hints());
}

/// Open TLS sessions of promptops stores (the pooled connections stay open while a store lives).
async fn tls_sessions(url: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let sql = "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
               WHERE ssl AND application_name = 'promptops'";
    client.query_one(sql, &[]).await.expect("query").get(0)
}

async fn server_has_tls(url: &str) -> bool {
    let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else { return false };
    tokio::spawn(connection);
    let row = client.query_one("SHOW ssl", &[]).await.ok();
    row.is_some_and(|row| row.get::<_, String>(0) == "on")
}
