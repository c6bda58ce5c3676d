//! What only SQLite can get wrong: a damaged file or one from a newer promptops is refused
//! before anything is written to it; the gateway's meters, kept in memory, keep their spend
//! across processes.

use chrono::Utc;
use promptops::money::Micros;
use promptops::store::{
    Admission, GatewayStore, MeterLimit, MeterRequest, MeterScope, MeterSettle, SqliteStore, StoreError,
};

use super::gateway::acme;

#[tokio::test]
async fn corrupted_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("promptops.db");
    let garbage = b"this is not a database, just text that happens to be long enough".repeat(20);
    std::fs::write(&path, &garbage).expect("write");
    let err = SqliteStore::open(path.clone()).await.expect_err("must fail");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(std::fs::read(&path).expect("read") == garbage, "the file was changed");
}

#[tokio::test]
async fn newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("promptops.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 999).expect("pragma");
    }
    let before = std::fs::read(&path).expect("read");
    let err = SqliteStore::open(path.clone()).await.expect_err("must fail");
    assert!(matches!(err, StoreError::NewerSchema { found: 999, .. }), "{err:?}");
    assert!(std::fs::read(&path).expect("read") == before, "the file was changed");
}

/// SQLite keeps the gateway's meters in memory: what was settled is written and read back by the
/// next process, while reservations and slots, which belonged to its calls, are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_spend_outlives_the_process_and_its_slots_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("promptops.db");
    let now = Utc::now();
    let scopes = vec![MeterScope {
        key: "key:tok_1".into(),
        rpm: None,
        tpm: None,
        max_parallel: Some(1),
        daily: Some(Micros(100)),
        monthly: None,
    }];
    let request = |estimate| MeterRequest {
        scopes: scopes.clone(),
        tokens: 10,
        estimate: Micros(estimate),
        now,
        holder: "replica_a".into(),
    };
    {
        let store = SqliteStore::open(path.clone()).await.expect("open");
        assert_eq!(store.gateway_admit(&acme(), &request(10)).await.expect("admit"), Admission::Admitted);
        let settle = MeterSettle {
            scopes: scopes.clone(),
            tokens_estimate: 10,
            tokens: 10,
            estimate: Micros(10),
            cost: Micros(60),
            admitted_at: now,
            now,
            holder: "replica_a".into(),
        };
        store.gateway_flush(&[], &[(acme(), settle)]).await.expect("settle");
        // A call still in flight when the process ends: its slot and its reservation die with it.
        assert_eq!(store.gateway_admit(&acme(), &request(10)).await.expect("admit"), Admission::Admitted);
    }
    let store = SqliteStore::open(path).await.expect("reopen");
    let over = store.gateway_admit(&acme(), &request(41)).await.expect("admit");
    assert!(matches!(over, Admission::Refused { limit: MeterLimit::Daily, .. }), "60 of 100 spent: {over:?}");
    assert_eq!(store.gateway_admit(&acme(), &request(40)).await.expect("admit"), Admission::Admitted);
}
