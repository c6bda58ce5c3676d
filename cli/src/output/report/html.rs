//! A self-contained HTML report: one file with its styles and a few lines of script inline, no
//! external fonts, scripts or images, so it opens offline and can be attached to a CI run. Every
//! case is a row that unfolds to show its variables, output and assertions; a switch hides
//! the passing ones.

use std::fmt::Write as _;

use promptops::store::{CaseStatus, ResultRecord};

use super::{SuiteOutcome, escape, millis, names, passed, percent, tokens};

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2328}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%;margin:.5rem 0}\
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d8dee4;vertical-align:top}th{background:#f6f8fa}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}\
.badge{font-weight:600;padding:.1rem .45rem;border-radius:1rem;background:#f6f8fa}details>summary{cursor:pointer}\
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem;border-radius:6px;margin:.3rem 0}.muted{color:#656d76}\
body.only-problems tr.case.pass{display:none}";

const SCRIPT: &str = "document.getElementById('only').addEventListener('change',e=>document.body.classList.toggle('only-problems',e.target.checked));";

/// The whole report as one HTML page.
pub fn html(outcomes: &[SuiteOutcome]) -> String {
    let mut out = String::new();
    let ok = outcomes.iter().all(passed);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>promptops eval — {}</title><style>{STYLE}</style></head><body>\n<h1>promptops eval <span class=\"badge {}\">{}</span></h1>\n\
         <label><input type=\"checkbox\" id=\"only\"> show only failures and errors</label>\n",
        if ok { "passed" } else { "failed" },
        if ok { "pass" } else { "fail" },
        if ok { "passed" } else { "failed" },
    );
    for outcome in outcomes {
        suite(outcome, &mut out);
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    out
}

fn suite(outcome: &SuiteOutcome, out: &mut String) {
    let run = &outcome.report.run;
    let t = &run.totals;
    let class = if passed(outcome) { "pass" } else { "fail" };
    let _ = writeln!(
        out,
        "<h2>{} <span class=\"badge {class}\">{}/{} · {}</span> <span class=\"muted\">{} · run {} · threshold {}</span></h2>",
        escape(&run.draft.suite),
        t.passed,
        t.done,
        percent(t.pass_rate()),
        escape(&run.draft.suite_path),
        run.id,
        percent(run.draft.threshold)
    );
    if let Some(how_far) = super::how_far(outcome) {
        let _ = writeln!(out, "<p class=\"fail\">{}</p>", escape(&how_far));
    }
    if let Some(description) = &run.draft.description {
        let _ = writeln!(out, "<p>{}</p>", escape(description));
    }
    out.push_str("<table><tr><th>target</th><th>provider</th><th>passed</th><th>rate</th><th>score</th><th>p50</th><th>p95</th><th>tokens</th><th>cost</th></tr>\n");
    for g in &outcome.report.groups {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}/{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&g.target),
            escape(&g.provider),
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
    out.push_str("</table>\n<table><tr><th>case</th><th>target</th><th>provider</th><th>status</th><th>score</th><th>latency</th></tr>\n");
    for r in &outcome.results {
        case(outcome, r, out);
    }
    out.push_str("</table>\n");
}

fn case(outcome: &SuiteOutcome, r: &ResultRecord, out: &mut String) {
    let (target, provider) = names(outcome, r);
    let status = r.status.as_str();
    let repeat = if r.unit.repeat > 0 { format!(" (repeat {})", r.unit.repeat + 1) } else { String::new() };
    let mut detail = String::new();
    if let Some(location) = &r.location {
        let _ = write!(detail, "<div class=\"muted\">{}</div>", escape(location));
    }
    let vars = serde_json::to_string_pretty(&r.vars).unwrap_or_default();
    let _ = write!(detail, "<div>variables</div><pre>{}</pre>", escape(&vars));
    if let Some(error) = &r.error {
        let _ = write!(detail, "<div class=\"error\">error</div><pre>{}</pre>", escape(error));
    }
    if let Some(output) = &r.output {
        let _ = write!(detail, "<div>output</div><pre>{}</pre>", escape(output));
    }
    for a in &r.assertions {
        let class = if a.pass { "pass" } else { "fail" };
        let _ = write!(
            detail,
            "<div><span class=\"{class}\">{}</span> {} <span class=\"muted\">score {:.2}, weight {}</span> {}</div>",
            if a.pass { "✓" } else { "✗" },
            escape(&a.kind),
            a.score,
            a.weight,
            escape(&a.reason)
        );
    }
    let mark = match r.status {
        CaseStatus::Pass => "✓",
        CaseStatus::Fail => "✗",
        CaseStatus::Error => "!",
    };
    let _ = writeln!(
        out,
        "<tr class=\"case {status}\"><td><details><summary>{}{repeat}</summary>{detail}</details></td><td>{}</td><td>{}</td><td class=\"{status}\">{mark} {status}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td></tr>",
        escape(&r.case_name),
        escape(&target),
        escape(&provider),
        r.score,
        millis(r.latency_ms)
    );
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{interrupted, outcome};
    use super::*;

    #[test]
    fn an_interrupted_run_says_how_far_it_got() {
        let page = html(&[interrupted()]);
        assert!(page.contains("<p class=\"fail\">interrupted: 3 of 10 results made</p>"), "{page}");
        assert!(!html(&[outcome()]).contains("interrupted"));
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let page = html(&[outcome()]);
        assert!(page.starts_with("<!doctype html>"));
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "no external resources");
        assert!(page.contains("password &lt;reset&gt;"));
        assert_eq!(page.matches("<tr class=\"case").count(), 3);
        assert!(page.contains("<tr class=\"case error\">"));
    }
}
