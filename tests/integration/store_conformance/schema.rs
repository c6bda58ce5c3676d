//! Conformance cases of [`SchemaStore`]: migrations are applied once, in order, and can be
//! checked without being applied.

use pretty_assertions::assert_eq;
use promptops::store::{self, OpenOptions};

use super::{Backend, created, draft, scope};

pub async fn a_fresh_store_is_current_and_migrating_again_is_a_no_op(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "1")]).await.expect("commit");
    let status = b.store.schema_status().await.expect("status");
    assert!(status.is_current() && status.applied > 0, "{status:?}");
    let again = b.store.migrate().await.expect("migrate");
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.status, status);
    let reopened = b.reopen().await;
    assert_eq!(reopened.schema_status().await.expect("status"), status);
    assert_eq!(reopened.versions(&s, &super::name("a")).await.expect("versions").len(), 1, "data survives");
}

pub async fn stores_opened_at_once_on_a_fresh_database_migrate_it_once(b: Backend) {
    let url = b.fresh_url().await;
    let opens = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { store::open(&url).await.expect("open") })
    });
    let stores = futures::future::try_join_all(opens).await.expect("tasks");
    let s = scope("t", "p");
    for (i, store) in stores.iter().enumerate() {
        assert!(store.schema_status().await.expect("status").is_current());
        let out = store.commit(&s, vec![draft("a", &i.to_string())]).await.expect("commit");
        assert_eq!(created(&out), vec![u32::try_from(i).expect("small") + 1], "one database, shared");
    }
}

pub async fn a_store_opened_without_migrating_reports_what_is_pending(b: Backend) {
    let url = b.fresh_url().await;
    let unmigrated =
        store::open_with(&url, OpenOptions { migrate: false, ..OpenOptions::default() }).await.expect("open");
    let before = unmigrated.schema_status().await.expect("status");
    assert_eq!((before.applied, before.is_current()), (0, false));
    assert_eq!(before.pending(), before.latest);
    let report = unmigrated.migrate().await.expect("migrate");
    // Every migration, in order, up to the latest (numbers are handed out per branch, so the
    // list may have gaps until they are filled: see `src/store/schema.rs`).
    assert_eq!(report.applied.first().map(String::as_str), Some("0001_registry"));
    let last = report.applied.last().expect("applied");
    assert!(last.starts_with(&format!("{:04}_", before.latest)), "{:?}", report.applied);
    assert!(report.applied.is_sorted(), "{:?}", report.applied);
    assert!(report.status.is_current());
    assert!(unmigrated.schema_status().await.expect("status").is_current());
    let out = unmigrated.commit(&scope("t", "p"), vec![draft("a", "1")]).await.expect("commit");
    assert_eq!(created(&out), vec![1]);
}
