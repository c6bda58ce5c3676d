//! A large inline suite is planned in memory that grows with its cases, not with its text: the
//! streaming reader builds no document tree, the key index is left unbuilt while nothing is
//! wrong, and identical assertions are one value shared by every case.

use std::sync::Arc;

use super::{Fake, TempProject, lines};

fn suite_text(cases: usize, broken: Option<usize>) -> String {
    let mut text = "targets: [support/triage]\nproviders: [offline]\ntests:\n".to_owned();
    for i in 0..cases {
        let kind = if broken == Some(i) { "containz" } else { "contains" };
        text.push_str(&format!(
            "  - name: case {i}\n    vars: {{ ticket: \"charged twice, order {i}\" }}\n    assert:\n      - {{ type: {kind}, value: billing }}\n      - {{ type: regex, value: \"cat\\\\w+\" }}\n      - {{ type: equals, value: \"{{{{ ticket }}}}\" }}\n"
        ));
    }
    text
}

#[tokio::test]
async fn a_large_suite_is_planned_without_a_document_tree_and_shares_its_assertions() {
    let project = TempProject::new();
    let suite = project.suite("large", &suite_text(3000, None));
    assert_eq!(suite.test_locations.len(), 3000, "the streaming reader read the suite");
    let plan = project.plan(&suite, &Fake::new()).await.expect("plans");
    assert!(!suite.source.is_indexed(), "no key of the text was indexed to plan a valid suite");
    let (first, last) = (&plan.cases[0], &plan.cases[2999]);
    assert!(Arc::ptr_eq(&first.assertions[0], &last.assertions[0]), "one `contains` for every case");
    assert!(Arc::ptr_eq(&first.assertions[1], &last.assertions[1]), "one compiled regex for every case");
    assert!(!Arc::ptr_eq(&first.assertions[2], &last.assertions[2]), "a template is filled in per case");
    assert_eq!(last.location, "eval-suites/large.yaml:17998");
    let vars: Vec<_> = last.vars.iter().collect();
    assert_eq!(vars, vec![(&"ticket".to_owned(), &serde_json::json!("charged twice, order 2999"))]);
}

#[tokio::test]
async fn a_mistake_in_a_large_suite_is_still_reported_at_its_line() {
    let project = TempProject::new();
    let suite = project.suite("large", &suite_text(3000, Some(2500)));
    let problems = project.plan(&suite, &Fake::new()).await.expect_err("an unknown type");
    let text = lines(&problems);
    assert!(text.starts_with("eval-suites/large.yaml:15007:11: unknown assertion type `containz`"), "{text}");
}
