//! Conformance cases of tenancy (DESIGN boundary 2): a scope sees and changes only its own rows,
//! in every sub-trait, even when another tenant uses the very same names, keys and numbers.

use pretty_assertions::assert_eq;
use promptops::store::{MoveReason, StoreError};

use super::{Backend, created, draft, label, name, scope};

pub async fn tenants_and_projects_are_isolated(b: Backend) {
    let (a, other_tenant, other_project) = (scope("t1", "p"), scope("t2", "p"), scope("t1", "q"));
    b.store.commit(&a, vec![draft("secret", "1")]).await.expect("commit");
    b.store.move_label(&a, &name("secret"), &label("production"), Some(1), MoveReason::Set, "ada").await.expect("set");
    for s in [&other_tenant, &other_project] {
        assert!(b.store.prompts(s).await.expect("list").is_empty());
        assert!(b.store.latest(s, &name("secret")).await.expect("read").is_none());
        assert!(b.store.labels(s, None).await.expect("labels").is_empty());
        assert!(b.store.label_history(s, &name("secret")).await.expect("history").is_empty());
        let err = b.store.move_label(s, &name("secret"), &label("production"), Some(1), MoveReason::Set, "eve").await;
        assert!(matches!(err, Err(StoreError::VersionNotFound { .. })));
    }
    // The same name in another tenant starts its own numbering.
    let out = b.store.commit(&other_tenant, vec![draft("secret", "other")]).await.expect("commit");
    assert_eq!(created(&out), vec![1]);
}

pub async fn same_keys_in_two_tenants_stay_apart_in_every_sub_trait(b: Backend) {
    let scopes = [scope("acme", "p"), scope("globex", "p"), scope("acme", "q")];
    let now = chrono::Utc::now();
    for (i, s) in scopes.iter().enumerate() {
        let own = format!("owned by scope {i}");
        b.store.commit(s, vec![draft("shared/name", &own)]).await.expect("commit");
        b.store
            .move_label(s, &name("shared/name"), &label("production"), Some(1), MoveReason::Set, &own)
            .await
            .expect("label");
        b.store.cache_put(s, "same-key", &own, None).await.expect("cache");
        let run = b.store.create_run(s, super::runs::run_draft(&own)).await.expect("run");
        assert_eq!(run.id, 1, "run numbers are per scope");
        let mut thread = super::workflow::thread("same-thread", &own);
        thread.input = own.clone();
        assert!(b.store.create_thread(s, &thread).await.expect("thread"));
    }
    for (i, s) in scopes.iter().enumerate() {
        let own = format!("owned by scope {i}");
        let version = b.store.version(s, &name("shared/name"), 1).await.expect("read").expect("exists");
        assert_eq!(version.source, own);
        assert_eq!(b.store.versions(s, &name("shared/name")).await.expect("versions").len(), 1);
        let labels = b.store.labels(s, None).await.expect("labels");
        assert_eq!(labels.iter().map(|l| l.updated_by.as_str()).collect::<Vec<_>>(), vec![own.as_str()]);
        assert_eq!(b.store.label_history(s, &name("shared/name")).await.expect("history").len(), 1);
        assert_eq!(b.store.cache_get(s, "same-key", now).await.expect("cache").as_deref(), Some(own.as_str()));
        assert_eq!(b.store.run(s, 1).await.expect("run").expect("exists").draft.suite, own);
        assert_eq!(b.store.thread(s, "same-thread").await.expect("thread").expect("exists").input, own);
        assert_eq!(b.store.threads(s, None).await.expect("threads").len(), 1);
    }
    // Clearing one scope's cache leaves the others'.
    assert_eq!(b.store.cache_clear(&scopes[0], None).await.expect("clear"), 1);
    assert!(b.store.cache_get(&scopes[1], "same-key", now).await.expect("cache").is_some());
}
