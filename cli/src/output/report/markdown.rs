//! Markdown fit for a pull-request comment (and GitHub's job summary): a verdict line per suite,
//! the target × provider table, and the failures folded in a `<details>` block so the comment
//! stays short.

use std::fmt::Write as _;

use super::{SuiteOutcome, millis, passed, percent, tokens};

/// The whole report as Markdown.
pub fn markdown(outcomes: &[SuiteOutcome]) -> String {
    let mut out = String::from("## promptops eval\n\n");
    let all_passed = outcomes.iter().all(passed);
    let (done, ok): (u64, u64) =
        outcomes.iter().fold((0, 0), |(d, p), o| (d + o.report.run.totals.done, p + o.report.run.totals.passed));
    let _ = writeln!(
        out,
        "{} **{}** — {ok}/{done} cases passed across {} suite(s)\n",
        if all_passed { "✅" } else { "❌" },
        if all_passed { "passed" } else { "failed" },
        outcomes.len()
    );
    for outcome in outcomes {
        suite(outcome, &mut out);
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn suite(outcome: &SuiteOutcome, out: &mut String) {
    let run = &outcome.report.run;
    let t = &run.totals;
    let mark = if passed(outcome) {
        "✅"
    } else if run.status.is_finished() {
        "❌"
    } else {
        "⏸️"
    };
    let how_far = super::how_far(outcome).map(|text| format!("{text} · ")).unwrap_or_default();
    let _ = writeln!(
        out,
        "### {mark} `{}` — {how_far}{}/{} passed ({}, threshold {})\n",
        run.draft.suite,
        t.passed,
        t.done,
        percent(t.pass_rate()),
        percent(run.draft.threshold)
    );
    let _ = writeln!(out, "| target | provider | passed | rate | score | p50 | p95 | tokens | cost |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for g in &outcome.report.groups {
        let errors =
            if g.errors > 0 { format!(" ({})", crate::output::count(g.errors, "error")) } else { String::new() };
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {}/{}{errors} | {} | {:.2} | {} | {} | {} | {} |",
            cell(&g.target),
            cell(&g.provider),
            g.passed,
            g.total,
            percent(g.pass_rate),
            g.mean_score,
            millis(g.latency_p50_ms),
            millis(g.latency_p95_ms),
            tokens(g.input_tokens + g.output_tokens),
            g.cost
        );
    }
    out.push('\n');
    let problems = &outcome.report.problems;
    if !problems.is_empty() {
        let _ = writeln!(out, "<details><summary>{} failing case(s)</summary>\n", problems.len());
        let _ = writeln!(out, "| case | target | provider | why |");
        let _ = writeln!(out, "|---|---|---|---|");
        for p in problems.iter().take(100) {
            let place = p.location.as_deref().map(|l| format!(" <sub>{}</sub>", cell(l))).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {}{place} | `{}` | `{}` | {} |",
                cell(&p.case_name),
                cell(&p.target),
                cell(&p.provider),
                cell(&p.reasons.join("; "))
            );
        }
        if problems.len() > 100 {
            let _ = writeln!(out, "\n… and {} more.", problems.len() - 100);
        }
        out.push_str("\n</details>\n\n");
    }
    if let Some(check) = &outcome.baseline {
        let _ = writeln!(
            out,
            "{} Baseline run {}: {} → {}, {} regressed case(s).\n",
            if check.passed() { "✅" } else { "❌" },
            check.baseline,
            percent(check.before),
            percent(check.after),
            check.regressed.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{interrupted, outcome};
    use super::*;

    #[test]
    fn an_interrupted_run_says_how_far_it_got() {
        let text = markdown(&[interrupted()]);
        assert!(
            text.contains("### ⏸️ `triage` — interrupted: 3 of 10 results made · 1/3 passed (33.3%, threshold 90.0%)"),
            "{text}"
        );
    }

    #[test]
    fn markdown_for_a_pull_request() {
        insta::assert_snapshot!(markdown(&[outcome()]), @r#"
        ## promptops eval

        ❌ **failed** — 1/3 cases passed across 1 suite(s)

        ### ❌ `triage` — 1/3 passed (33.3%, threshold 90.0%)

        | target | provider | passed | rate | score | p50 | p95 | tokens | cost |
        |---|---|---:|---:|---:|---:|---:|---:|---:|
        | `support/triage` | `offline` | 1/3 (1 error) | 33.3% | 0.75 | 5ms | 6ms | 336 | $0.000450 |

        <details><summary>2 failing case(s)</summary>

        | case | target | provider | why |
        |---|---|---|---|
        | password <reset> <sub>eval-suites/triage.yaml:9</sub> | `support/triage` | `offline` | json-path: $.category: expected `billing`, got "account" |
        | outage <sub>eval-suites/triage.yaml:13</sub> | `support/triage` | `offline` | provider `offline` answered HTTP 500: boom |

        </details>
        "#);
    }
}
