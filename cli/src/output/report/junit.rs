//! JUnit XML as CI systems read it (GitHub, GitLab, Jenkins, Azure, CircleCI): one `testsuite`
//! per suite × target × provider, one `testcase` per case and repeat; failures carry their
//! reasons, errors their message, and the output goes to `system-out`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use promptops::store::{CaseStatus, ResultRecord};

use super::{SuiteOutcome, escape, names, reasons};

/// The whole report as JUnit XML.
pub fn junit(outcomes: &[SuiteOutcome]) -> String {
    let mut body = String::new();
    let (mut tests, mut failures, mut errors, mut time) = (0u64, 0u64, 0u64, 0.0f64);
    for outcome in outcomes {
        let mut groups: BTreeMap<(u32, u32), Vec<&ResultRecord>> = BTreeMap::new();
        for r in &outcome.results {
            groups.entry((r.unit.target, r.unit.provider)).or_default().push(r);
        }
        for results in groups.values() {
            let (target, provider) = names(outcome, results[0]);
            let name = format!("{} · {target} · {provider}", outcome.report.run.draft.suite);
            let failed = results.iter().filter(|r| r.status == CaseStatus::Fail).count();
            let errored = results.iter().filter(|r| r.status == CaseStatus::Error).count();
            let seconds: f64 = results.iter().copied().map(seconds).sum();
            (tests, failures, errors, time) =
                (tests + results.len() as u64, failures + failed as u64, errors + errored as u64, time + seconds);
            let _ = writeln!(
                body,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"{errored}\" skipped=\"0\" time=\"{seconds:.3}\">",
                escape(&name),
                results.len()
            );
            let classname = format!("{}.{}.{}", outcome.report.run.draft.suite, target, provider);
            for r in results {
                testcase(&mut body, &classname, r);
            }
            body.push_str("  </testsuite>\n");
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"promptops eval\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n{body}</testsuites>\n"
    )
}

/// A case's time: all of it (a slow or timed-out script included), or the call's latency for a
/// result stored before the whole was kept.
fn seconds(r: &ResultRecord) -> f64 {
    r.duration_ms.max(r.latency_ms) as f64 / 1000.0
}

fn testcase(out: &mut String, classname: &str, r: &ResultRecord) {
    let name =
        if r.unit.repeat > 0 { format!("{} (repeat {})", r.case_name, r.unit.repeat + 1) } else { r.case_name.clone() };
    let (file, line) =
        r.location.as_deref().and_then(|l| l.rsplit_once(':')).map_or((None, None), |(f, l)| (Some(f), Some(l)));
    let place = match (file, line) {
        (Some(f), Some(l)) => format!(" file=\"{}\" line=\"{}\"", escape(f), escape(l)),
        _ => String::new(),
    };
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"{place} time=\"{:.3}\"",
        escape(classname),
        escape(&name),
        seconds(r)
    );
    let why = reasons(r).join("\n");
    let first = why.lines().next().unwrap_or_default().to_owned();
    let inner = match r.status {
        CaseStatus::Pass => String::new(),
        CaseStatus::Fail => {
            format!("      <failure message=\"{}\" type=\"assertion\">{}</failure>\n", escape(&first), escape(&why))
        }
        CaseStatus::Error => {
            format!("      <error message=\"{}\" type=\"error\">{}</error>\n", escape(&first), escape(&why))
        }
    };
    let output = r
        .output
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| format!("      <system-out>{}</system-out>\n", escape(o)))
        .unwrap_or_default();
    if inner.is_empty() && output.is_empty() {
        out.push_str("/>\n");
    } else {
        let _ = write!(out, ">\n{inner}{output}    </testcase>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::outcome;
    use super::*;

    #[test]
    fn junit_has_a_testcase_per_case() {
        insta::assert_snapshot!(junit(&[outcome()]), @r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="promptops eval" tests="3" failures="1" errors="1" time="0.021">
          <testsuite name="triage · support/triage · offline" tests="3" failures="1" errors="1" skipped="0" time="0.021">
            <testcase classname="triage.support/triage.offline" name="double charge" file="eval-suites/triage.yaml" line="5" time="0.006">
              <system-out>{&quot;category&quot;: &quot;billing&quot;}</system-out>
            </testcase>
            <testcase classname="triage.support/triage.offline" name="password &lt;reset&gt;" file="eval-suites/triage.yaml" line="9" time="0.007">
              <failure message="json-path: $.category: expected `billing`, got &quot;account&quot;" type="assertion">json-path: $.category: expected `billing`, got &quot;account&quot;</failure>
              <system-out>{&quot;category&quot;: &quot;account&quot;}</system-out>
            </testcase>
            <testcase classname="triage.support/triage.offline" name="outage" file="eval-suites/triage.yaml" line="13" time="0.008">
              <error message="provider `offline` answered HTTP 500: boom" type="error">provider `offline` answered HTTP 500: boom</error>
            </testcase>
          </testsuite>
        </testsuites>
        "#);
    }
}
