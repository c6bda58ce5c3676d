//! Suites with mistakes: every problem is found before any model call, all at once, each with
//! its file, line and a suggestion.

use super::{Fake, TempProject, lines};

#[tokio::test]
async fn every_problem_is_listed_at_once_with_places_and_suggestions() {
    let project = TempProject::new();
    project.write("eval-suites/data/tickets.csv", "ticket,expected\nrefund please,billing\n");
    let suite = project.suite(
        "broken",
        r#"targets: [support/triage, support/triag]
providers: [offline, oflline]
tests:
  - vars: { ticket: "hi" }
    assert:
      - { type: regex, value: "(unclosed" }
      - { type: json-schema, value: { type: objekt } }
      - { type: containz, value: x }
  - vars: { tickt: "typo" }
  - dataset: data/ticket.csv
  - dataset: data/tickets.csv
    columns: { expectd: category }
"#,
    );
    let fake = Fake::new();
    let problems = project.plan(&suite, &fake).await.expect_err("invalid");
    let text = lines(&problems);
    insta::assert_snapshot!(text, @r#"
    eval-suites/broken.yaml:1:27: prompt `support/triag` not found
      hint: did you mean `support/triage`?
      hint: prompts in this project: `support/triage`
      hint: create it with `promptops prompt new support/triag`
    eval-suites/broken.yaml:2:22: unknown provider `oflline`
      hint: did you mean `offline`?
      hint: configured providers: …
    eval-suites/broken.yaml:10:5: dataset `eval-suites/data/ticket.csv`: cannot read the dataset: No such file or directory (os error 2)
      hint: did you mean `tickets.csv`?
    eval-suites/broken.yaml:12:16: dataset `eval-suites/data/tickets.csv` has no column `expectd`
      hint: did you mean `expected`?
      hint: its columns: `ticket`, `expected`
    eval-suites/broken.yaml:6:24: invalid regex `(unclosed`: error: unclosed group
    eval-suites/broken.yaml:7:30: invalid JSON Schema: "objekt" is not valid under any of the schemas listed in the 'anyOf' keyword
    eval-suites/broken.yaml:8:11: unknown assertion type `containz`
      hint: did you mean `contains`?
      hint: for a custom check, use `type: expr` (a minijinja expression over `output`, `json` and the vars) or `type: script` (a command that gets the case as JSON on stdin; exit 0 passes)
      hint: assertion types: equals, contains, icontains, contains-any, contains-all, icontains-any, icontains-all, starts-with, regex, is-json, contains-json, json-schema, json-path, length, word-count, levenshtein, rouge-n, bleu, latency, cost, expr, script, llm-rubric, similar
    eval-suites/broken.yaml:9:3: case `#2 tickt=typo`: prompt `support/triage` needs variable `ticket`
      hint: did you mean `tickt`?
      hint: the case's variables: `tickt`
    "#);
    assert_eq!(fake.calls.load(std::sync::atomic::Ordering::SeqCst), 0, "no model may be called");
}

#[tokio::test]
async fn malformed_dataset_rows_are_named_by_file_and_line() {
    let project = TempProject::new();
    project.write("eval-suites/data/t.jsonl", "{\"ticket\": \"a\"}\n{\"ticket\": oops}\n");
    let suite = project.suite("s", "targets: [support/triage]\ntests:\n  - dataset: data/t.jsonl\n");
    let problems = project.plan(&suite, &Fake::new()).await.expect_err("invalid");
    assert!(lines(&problems).starts_with("eval-suites/data/t.jsonl:2:12: malformed JSON line"), "{}", lines(&problems));
}

#[tokio::test]
async fn a_variable_missing_from_many_rows_is_reported_once() {
    let project = TempProject::new();
    let rows: String = (0..50).map(|i| format!("{i},x\n")).collect();
    project.write("eval-suites/data/t.csv", &format!("id,text\n{rows}"));
    let suite = project
        .suite("s", "targets: [support/triage]\ntests:\n  - dataset: data/t.csv\n    columns: { text: tickets }\n");
    let problems = project.plan(&suite, &Fake::new()).await.expect_err("invalid");
    assert_eq!(problems.len(), 1, "{}", lines(&problems));
    let text = lines(&problems);
    assert!(
        text.starts_with(
            "eval-suites/data/t.csv:2:1: prompt `support/triage` needs variable `ticket` (and 49 more like it)"
        ),
        "{text}"
    );
    assert!(text.contains("hint: did you mean `tickets`?"), "{text}");
}

#[tokio::test]
async fn thresholds_and_fields_out_of_range_are_refused() {
    let project = TempProject::new();
    let suite = project.suite(
        "s",
        "targets: [support/triage]\nthreshold: 90\ntests:\n  - vars: { ticket: x }\n    assert:\n      - { type: contains, value: a, path: $.x }\n      - { type: length }\n",
    );
    let text = lines(&project.plan(&suite, &Fake::new()).await.expect_err("invalid"));
    assert!(text.contains("eval-suites/s.yaml:6:37: `path` does not apply to `contains`"), "{text}");
    assert!(text.contains("`length` needs `min`, `max` or both"), "{text}");
    assert!(text.contains("eval-suites/s.yaml:2:1: `threshold` must be a pass rate between 0 and 1, not 90"), "{text}");
}
