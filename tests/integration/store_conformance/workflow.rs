//! Conformance cases of [`WorkflowStore`]: threads, tasks, checkpoints, forks.

use pretty_assertions::assert_eq;
use promptops::store::{CheckpointRow, TaskRow, ThreadRecord};

use super::{Backend, scope};

pub fn thread(id: &str, workflow: &str) -> ThreadRecord {
    let now = chrono::Utc::now();
    ThreadRecord {
        id: id.to_owned(),
        workflow: workflow.to_owned(),
        workflow_hash: "abc".to_owned(),
        status: "running".to_owned(),
        step: 0,
        input: "{}".to_owned(),
        parent: None,
        detail: None,
        created_at: now,
        updated_at: now,
    }
}

fn checkpoint(step: u32, tasks: &[&str], snapshot: Option<&str>) -> CheckpointRow {
    CheckpointRow {
        step,
        payload: format!("{{\"step\": {step}}}"),
        snapshot: snapshot.map(ToOwned::to_owned),
        tasks: tasks
            .iter()
            .map(|t| TaskRow { step, task: (*t).to_owned(), payload: format!("writes of {t}") })
            .collect(),
        created_at: chrono::Utc::now(),
    }
}

pub async fn workflow_threads_are_created_once_and_listed(b: Backend) {
    let s = scope("t", "p");
    assert!(b.store.create_thread(&s, &thread("t1", "essay")).await.expect("create"));
    assert!(!b.store.create_thread(&s, &thread("t1", "other")).await.expect("create"), "ids are unique");
    b.store.create_thread(&s, &thread("t2", "triage")).await.expect("create");
    let essay: Vec<String> =
        b.store.threads(&s, Some("essay")).await.expect("list").into_iter().map(|t| t.id).collect();
    assert_eq!(essay, vec!["t1".to_owned()]);
    assert_eq!(b.store.threads(&s, None).await.expect("list").len(), 2);
    b.store.set_thread_status(&s, "t1", "interrupted", Some("{\"node\": \"review\"}")).await.expect("status");
    let t1 = b.store.thread(&s, "t1").await.expect("read").expect("exists");
    assert_eq!((t1.status.as_str(), t1.detail.as_deref()), ("interrupted", Some("{\"node\": \"review\"}")));
    assert!(b.store.thread(&s, "missing").await.expect("read").is_none());
}

pub async fn workflow_tasks_survive_until_their_step_commits(b: Backend) {
    let s = scope("t", "p");
    b.store.create_thread(&s, &thread("t1", "essay")).await.expect("create");
    b.store.commit_step(&s, "t1", &checkpoint(0, &[], Some("{}")), "running").await.expect("commit 0");
    // Step 1 fails half way: one task finished and was stored, the other did not.
    b.store.put_task(&s, "t1", &TaskRow { step: 1, task: "a".into(), payload: "A".into() }).await.expect("put");
    let stored = b.store.tasks(&s, "t1", 1).await.expect("tasks");
    assert_eq!(stored.iter().map(|t| t.task.as_str()).collect::<Vec<_>>(), vec!["a"]);
    b.store.commit_step(&s, "t1", &checkpoint(1, &["a", "b"], None), "completed").await.expect("commit 1");
    let thread = b.store.thread(&s, "t1").await.expect("read").expect("exists");
    assert_eq!((thread.step, thread.status.as_str()), (1, "completed"));
    let history = b.store.checkpoints(&s, "t1", 0).await.expect("history");
    assert_eq!(history.iter().map(|c| (c.step, c.tasks.len())).collect::<Vec<_>>(), vec![(0, 0), (1, 2)]);
    assert_eq!(history[1].tasks[0].payload, "writes of a", "the commit's copy replaces the early one");
    assert_eq!(b.store.checkpoints(&s, "t1", 1).await.expect("history").len(), 1);
    assert_eq!(b.store.snapshot_step(&s, "t1", 1).await.expect("snapshot"), Some(0));
}

pub async fn workflow_forks_copy_history_up_to_a_step(b: Backend) {
    let s = scope("t", "p");
    b.store.create_thread(&s, &thread("t1", "essay")).await.expect("create");
    for step in 0..3 {
        b.store.commit_step(&s, "t1", &checkpoint(step, &["n"], None), "running").await.expect("commit");
    }
    let mut fork = thread("t1-fork", "essay");
    fork.parent = Some(("t1".to_owned(), 1));
    fork.step = 1;
    b.store.fork_thread(&s, "t1", 1, &fork).await.expect("fork");
    let copied = b.store.checkpoints(&s, "t1-fork", 0).await.expect("history");
    assert_eq!(copied.iter().map(|c| c.step).collect::<Vec<_>>(), vec![0, 1]);
    let read = b.store.thread(&s, "t1-fork").await.expect("read").expect("exists");
    assert_eq!(read.parent, Some(("t1".to_owned(), 1)));
    assert!(b.store.fork_thread(&s, "t1", 1, &fork).await.is_err(), "the fork's id is taken");
    assert!(
        b.store.thread_bytes(&s, "t1").await.expect("bytes")
            > b.store.thread_bytes(&s, "t1-fork").await.expect("bytes")
    );
}

pub async fn workflow_threads_are_isolated(b: Backend) {
    let (a, other) = (scope("t1", "p"), scope("t2", "p"));
    b.store.create_thread(&a, &thread("secret", "essay")).await.expect("create");
    b.store.commit_step(&a, "secret", &checkpoint(0, &["n"], Some("{}")), "running").await.expect("commit");
    assert!(b.store.thread(&other, "secret").await.expect("read").is_none());
    assert!(b.store.threads(&other, None).await.expect("list").is_empty());
    assert!(b.store.checkpoints(&other, "secret", 0).await.expect("history").is_empty());
    assert_eq!(b.store.thread_bytes(&other, "secret").await.expect("bytes"), 0);
    assert!(b.store.create_thread(&other, &thread("secret", "mine")).await.expect("create"), "same id, other tenant");
}
