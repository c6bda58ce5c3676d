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
