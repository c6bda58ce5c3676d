//! The example workflows in `workflows/` are valid against the example prompts.

use std::path::PathBuf;

use promptops::workflow::validate::{References, validate};
use promptops::workflow::{Catalog, ExecPolicy, ProjectPrompts, Severity, load};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn example_workflows_have_no_errors_or_warnings() {
    let root = repo();
    let (loaded, errors) = load::load_all(&root.join("workflows"), &root).expect("list");
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = loaded.iter().map(|w| w.name()).collect();
    assert_eq!(names, vec!["essay-refine", "summarize-batch", "support-triage"]);
    let prompts = ProjectPrompts::new(root.join("prompts"), None);
    let catalog = Catalog::new(&root);
    let references = References { prompts: Some(&prompts), catalog: Some(&catalog), exec: Some(&ExecPolicy::Local) };
    for workflow in &loaded {
        let findings = validate(workflow, references).await;
        let shown: Vec<String> = findings.iter().map(|f| format!("{f} {:?}", f.hints)).collect();
        assert!(
            findings.iter().all(|f| f.severity != Severity::Error) && findings.is_empty(),
            "{}: {shown:#?}",
            workflow.name()
        );
    }
}

/// The example project, a temporary store, and the mock provider of its promptops.yaml.
pub struct Examples {
    pub project: promptops::config::Project,
    pub catalog: Catalog,
    pub prompts: ProjectPrompts,
    pub store: super::TempStore,
}

pub async fn examples() -> Examples {
    let root = repo();
    let project = promptops::config::Project::open(&root).expect("the example project");
    Examples {
        catalog: Catalog::new(&root),
        prompts: ProjectPrompts::new(root.join("prompts"), None),
        store: super::store().await,
        project,
    }
}

impl Examples {
    pub async fn compiled(&self, name: &str) -> std::sync::Arc<promptops::workflow::Compiled> {
        let workflow = self.catalog.load(name).expect("loads");
        promptops::workflow::prepare(&workflow, &self.prompts, Some(&self.catalog), &ExecPolicy::Local)
            .await
            .expect("valid")
            .0
    }

    pub fn mock(&self) -> std::sync::Arc<dyn promptops::workflow::ModelCaller> {
        let options = promptops::provider::ProvidersOptions { no_cache: true, ..Default::default() };
        std::sync::Arc::new(promptops::workflow::ProviderCaller::new(
            &self.project,
            std::sync::Arc::clone(&self.store.store),
            self.store.scope.clone(),
            options,
        ))
    }
}

#[tokio::test]
async fn the_essay_loop_runs_offline_on_the_mock_provider() {
    let ex = examples().await;
    let runner = super::runner(ex.mock(), &ex.store);
    let outcome = runner
        .run(&ex.compiled("essay-refine").await, serde_json::json!({"topic": "tides"}), None)
        .await
        .expect("runs");
    assert_eq!(outcome.output["score"], 9);
    assert_eq!(outcome.output["rounds"], serde_json::json!([{"round": 1, "score": 5}, {"round": 2, "score": 9}]));
    assert!(outcome.output["draft"].as_str().is_some_and(|d| d.contains("pulled by the Moon")));
    assert!(outcome.trace.iter().all(|t| t.provider.as_deref().is_none_or(|p| p == "offline")), "{:?}", outcome.trace);
}

#[tokio::test]
async fn the_support_triage_pauses_for_approval_and_sends_when_approved() {
    let ex = examples().await;
    let runner = super::runner(ex.mock(), &ex.store);
    let compiled = ex.compiled("support-triage").await;
    let paused = runner
        .run(&compiled, serde_json::json!({"ticket": "I was charged twice"}), Some("t1".into()))
        .await
        .expect("runs");
    let question = paused.interrupt.expect("paused at the approval");
    assert_eq!(question.node, "approve");
    assert!(question.message.starts_with("Send this reply to a high-urgency billing ticket?"), "{}", question.message);
    let done = runner.resume(&compiled, "t1", Some(serde_json::json!(true))).await.expect("resumes");
    assert_eq!((done.output["category"].as_str(), done.output["status"].as_str()), (Some("billing"), Some("sent")));
}

#[tokio::test]
async fn the_map_reduce_summariser_keeps_document_order() {
    let ex = examples().await;
    let runner = super::runner(ex.mock(), &ex.store);
    let documents = serde_json::json!(["First doc.", "Second doc.", "Third doc."]);
    let outcome = runner
        .run(&ex.compiled("summarize-batch").await, serde_json::json!({"documents": documents}), None)
        .await
        .expect("runs");
    assert_eq!(
        outcome.output["notes"],
        serde_json::json!([
            "In one sentence: First doc.",
            "In one sentence: Second doc.",
            "In one sentence: Third doc."
        ])
    );
    assert!(outcome.output["digest"].as_str().is_some_and(|d| !d.is_empty()));
}
