//! The terminal summary of `promptops eval`: per suite, a table of target × provider (cases
//! passed, pass rate, mean score, latency p50/p95, tokens, cost), then every failure and error
//! with its reasons and the start of its output, then one verdict line per suite.

use std::fmt::Write as _;

use promptops::eval::report::ProblemCase;
use promptops::store::CaseStatus;

use super::{SuiteOutcome, duration, millis, passed, percent, tokens};
use crate::output::{Format, Grid, Printer, Tone};

/// How many problems are listed per suite before "and N more".
const MAX_PROBLEMS: usize = 20;

/// The whole summary for the terminal.
pub fn terminal(printer: &Printer, outcomes: &[SuiteOutcome]) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        suite(printer, outcome, &mut out);
    }
    if outcomes.len() > 1 {
        overall(printer, outcomes, &mut out);
    }
    out
}

/// One line over every suite of the invocation.
fn overall(printer: &Printer, outcomes: &[SuiteOutcome], out: &mut String) {
    let ok = outcomes.iter().filter(|o| passed(o)).count();
    let (done, passed_cases, errors) = outcomes.iter().fold((0, 0, 0), |(d, p, e), o| {
        let t = &o.report.run.totals;
        (d + t.done, p + t.passed, e + t.errors)
    });
    let cost: promptops::money::Micros = outcomes.iter().map(|o| o.report.run.totals.cost).sum();
    let word = if ok == outcomes.len() {
        printer.paint(Tone::Good, &format!("all {} suites passed", outcomes.len()))
    } else {
        printer.paint(Tone::Bad, &format!("{} of {} suites failed", outcomes.len() - ok, outcomes.len()))
    };
    let errors = if errors > 0 { format!(" · {}", crate::output::count(errors, "error")) } else { String::new() };
    let _ = writeln!(out, "{word} · {passed_cases}/{done} cases passed{errors} · {cost}");
}

fn suite(printer: &Printer, outcome: &SuiteOutcome, out: &mut String) {
    let report = &outcome.report;
    let run = &report.run;
    let draft = &run.draft;
    let title = match &draft.description {
        Some(d) => format!("{} — {d}", draft.suite),
        None => draft.suite.clone(),
    };
    let _ = writeln!(
        out,
        "{} {}",
        printer.paint(Tone::Strong, &title),
        printer.paint(Tone::Dim, &format!("({}, run {})", draft.suite_path, run.id))
    );
    let mut grid = Grid::new(&["TARGET", "PROVIDER", "PASSED", "RATE", "SCORE", "P50", "P95", "TOKENS", "COST"]);
    for g in &report.groups {
        let errors = if g.errors > 0 { format!(" ({} err)", g.errors) } else { String::new() };
        grid.row(vec![
            g.target.clone(),
            g.provider.clone(),
            format!("{}/{}{errors}", g.passed, g.total),
            percent(g.pass_rate),
            format!("{:.2}", g.mean_score),
            millis(g.latency_p50_ms),
            millis(g.latency_p95_ms),
            tokens(g.input_tokens + g.output_tokens),
            g.cost.to_string(),
        ]);
    }
    for line in grid.render(Format::Table).lines() {
        let _ = writeln!(out, " {line}");
    }
    let metrics: Vec<String> = report
        .groups
        .iter()
        .flat_map(|g| g.metrics.iter().map(move |(m, v)| format!("{m} {:.2} ({} · {})", v, g.target, g.provider)))
        .collect();
    if !metrics.is_empty() {
        let _ = writeln!(out, "  {}", printer.paint(Tone::Dim, &format!("metrics: {}", metrics.join(", "))));
    }
    problems(printer, &report.problems, out);
    verdict(printer, outcome, out);
}

fn problems(printer: &Printer, problems: &[ProblemCase], out: &mut String) {
    if problems.is_empty() {
        return;
    }
    out.push('\n');
    for p in problems.iter().take(MAX_PROBLEMS) {
        let (mark, tone, word) = match p.status {
            CaseStatus::Error => ("!", Tone::Warn, "error"),
            _ => ("✗", Tone::Bad, "fail"),
        };
        let repeat = if p.repeat > 0 { format!(" (repeat {})", p.repeat + 1) } else { String::new() };
        // An unnamed dataset row is named by its place already.
        let place = p.location.as_deref().filter(|l| *l != p.case_name).map(|l| format!("  {l}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}{repeat} {}{}",
            printer.paint(tone, &format!("{mark} {word}")),
            printer.paint(Tone::Strong, &p.case_name),
            printer.paint(Tone::Dim, &format!("· {} · {}", p.target, p.provider)),
            printer.paint(Tone::Dim, &place),
        );
        for reason in &p.reasons {
            let _ = writeln!(out, "      {reason}");
        }
        if let Some(output) = p.output.as_deref().filter(|o| !o.trim().is_empty()) {
            let flat: String = output.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = flat.chars().take(100).collect();
            let more = if flat.chars().count() > 100 { "…" } else { "" };
            let _ = writeln!(out, "      {}", printer.paint(Tone::Dim, &format!("output: {short}{more}")));
        }
    }
    if problems.len() > MAX_PROBLEMS {
        let _ = writeln!(out, "  … and {} more (promptops eval show RUN --failures)", problems.len() - MAX_PROBLEMS);
    }
}

fn verdict(printer: &Printer, outcome: &SuiteOutcome, out: &mut String) {
    let run = &outcome.report.run;
    let t = &run.totals;
    let ok = passed(outcome);
    let word = if !run.status.is_finished() {
        printer.paint(Tone::Warn, "INTERRUPTED")
    } else if ok {
        printer.paint(Tone::Good, "PASSED")
    } else {
        printer.paint(Tone::Bad, "FAILED")
    };
    let mut parts = vec![
        format!("{}/{} passed ({})", t.passed, t.done, percent(t.pass_rate())),
        format!("threshold {}", percent(run.draft.threshold)),
    ];
    if !run.status.is_finished() {
        parts.insert(0, format!("{} of {} results made", t.done, run.draft.total));
    }
    if t.failed > 0 {
        parts.push(format!("{} failed", t.failed));
    }
    if t.errors > 0 {
        parts.push(crate::output::count(t.errors, "error"));
    }
    if t.cached > 0 {
        parts.push(format!("{} cached", t.cached));
    }
    parts.push(t.cost.to_string());
    if let Some(d) = duration(outcome) {
        parts.push(format!("{:.1}s", d.as_secs_f64()));
    }
    let _ = writeln!(out, "{word} {}\n", parts.join(" · "));
    if let Some(check) = &outcome.baseline {
        let mark = if check.passed() {
            printer.paint(Tone::Good, "baseline ok")
        } else {
            printer.paint(Tone::Bad, "baseline FAILED")
        };
        let _ = writeln!(
            out,
            "{mark} against run {}: {} → {} (tolerance {}), {} regressed",
            check.baseline,
            percent(check.before),
            percent(check.after),
            percent(check.tolerance),
            check.regressed.len()
        );
        for change in check.regressed.iter().take(MAX_PROBLEMS) {
            let _ = writeln!(
                out,
                "  {} {} · {} · {}",
                printer.paint(Tone::Bad, "↓"),
                change.case_name,
                change.target,
                change.provider
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::outcome;
    use super::*;

    #[test]
    fn the_summary_reads_well() {
        let printer = Printer::new(false, 0, true);
        insta::assert_snapshot!(terminal(&printer, &[outcome()]), @r#"
        triage — Triage accuracy (eval-suites/triage.yaml, run 7)
          TARGET           PROVIDER   PASSED        RATE    SCORE   P50   P95   TOKENS   COST
          support/triage   offline    1/3 (1 err)   33.3%   0.75    5ms   6ms   336      $0.000450
          metrics: accuracy 0.50 (support/triage · offline)

          ✗ fail password <reset> · support/triage · offline  eval-suites/triage.yaml:9
              json-path: $.category: expected `billing`, got "account"
              output: {"category": "account"}
          ! error outage · support/triage · offline  eval-suites/triage.yaml:13
              provider `offline` answered HTTP 500: boom
        FAILED 1/3 passed (33.3%) · threshold 90.0% · 1 failed · 1 error · $0.000450 · 2.0s

        "#);
    }
}
