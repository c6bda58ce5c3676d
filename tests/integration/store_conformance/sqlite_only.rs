//! What only SQLite can get wrong: a damaged file or one from a newer promptops is refused
//! before anything is written to it.

use promptops::store::{SqliteStore, StoreError};

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
