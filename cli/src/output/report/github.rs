//! GitHub Actions: workflow-command annotations that put each failing case on its line of the
//! suite or dataset in the pull request's diff, and the Markdown job summary appended to
//! `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write as _;

use promptops::store::CaseStatus;

use super::SuiteOutcome;

/// Escapes a workflow-command message (`%`, CR and LF) or property (also `:` and `,`).
fn escape(text: &str, property: bool) -> String {
    let mut out = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// One `::error` line per failure or error (at most 50 per suite, GitHub shows no more).
pub fn annotations(outcomes: &[SuiteOutcome]) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        for p in outcome.report.problems.iter().take(50) {
            let mut props = Vec::new();
            if let Some((file, line)) = p.location.as_deref().and_then(|l| l.rsplit_once(':')) {
                props.push(format!("file={}", escape(file, true)));
                props.push(format!("line={}", escape(line, true)));
            }
            let kind = if p.status == CaseStatus::Error { "error in" } else { "failed" };
            props.push(format!(
                "title={}",
                escape(&format!("promptops: {} {kind} ({} · {})", p.case_name, p.target, p.provider), true)
            ));
            let _ = writeln!(out, "::error {}::{}", props.join(","), escape(&p.reasons.join("\n"), false));
        }
    }
    out
}

/// The job summary: the Markdown report.
pub fn step_summary(outcomes: &[SuiteOutcome]) -> String {
    super::markdown::markdown(outcomes)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::outcome;
    use super::*;

    #[test]
    fn annotations_point_at_lines() {
        insta::assert_snapshot!(annotations(&[outcome()]), @r#"
        ::error file=eval-suites/triage.yaml,line=9,title=promptops%3A password <reset> failed (support/triage · offline)::json-path: $.category: expected `billing`, got "account"
        ::error file=eval-suites/triage.yaml,line=13,title=promptops%3A outage error in (support/triage · offline)::provider `offline` answered HTTP 500: boom
        "#);
    }
}
