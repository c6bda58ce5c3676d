//! Eval reports for people and machines, rendered from the library's report data: the terminal
//! summary, JSON, JUnit XML (one testcase per case × target × provider), Markdown for pull-request
//! comments, CSV (one row per result), a self-contained HTML page, and GitHub Actions
//! annotations. Every renderer takes the same [`SuiteOutcome`]s.

mod github;
mod html;
mod junit;
mod markdown;
mod terminal;

use std::path::Path;

use promptops::eval::compare::BaselineCheck;
use promptops::promptfoo::output::PromptLabels;
use promptops::store::{CaseStatus, ResultRecord};

pub use github::{annotations, step_summary};
pub use terminal::terminal;

use super::{Format, Grid};

pub use promptops::session::SuiteOutcome;

/// The format a report file gets from its extension.
pub fn format_for_path(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "json" => Some(Format::Json),
        "xml" | "junit" => Some(Format::Junit),
        "md" | "markdown" => Some(Format::Markdown),
        "csv" => Some(Format::Csv),
        "html" | "htm" => Some(Format::Html),
        _ => None,
    }
}

/// Whether `format` lists every result (so results must be read from the store).
pub fn needs_results(format: Format) -> bool {
    matches!(format, Format::Json | Format::Junit | Format::Csv | Format::Html | Format::Yaml | Format::PromptfooJson)
}

/// Renders `outcomes` as a file format (everything but the terminal table).
pub fn render(format: Format, outcomes: &[SuiteOutcome]) -> anyhow::Result<String> {
    render_labelled(format, outcomes, &PromptLabels::new())
}

/// [`render`], with promptfoo's labels of the prompts for `promptfoo-json`.
pub fn render_labelled(format: Format, outcomes: &[SuiteOutcome], labels: &PromptLabels) -> anyhow::Result<String> {
    Ok(match format {
        Format::PromptfooJson => {
            let runs: Vec<_> = outcomes.iter().map(|o| (o.report.clone(), o.results.clone())).collect();
            format!("{}\n", serde_json::to_string_pretty(&promptops::promptfoo::output::results_json(&runs, labels))?)
        }
        Format::Json => format!("{}\n", serde_json::to_string_pretty(outcomes)?),
        Format::Yaml => serde_yaml::to_string(outcomes)?,
        Format::Junit => junit::junit(outcomes),
        Format::Markdown => markdown::markdown(outcomes),
        Format::Csv => csv(outcomes),
        Format::Html => html::html(outcomes),
        // Drawings (`workflow draw`) are not report formats; `eval` never asks for them.
        Format::Table | Format::Mermaid | Format::Dot => String::new(),
    })
}

fn csv(outcomes: &[SuiteOutcome]) -> String {
    let mut grid = Grid::new(&[
        "run",
        "suite",
        "target",
        "provider",
        "case",
        "repeat",
        "status",
        "score",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "cached",
        "reason",
        "output",
    ]);
    for outcome in outcomes {
        let run = &outcome.report.run;
        for r in &outcome.results {
            let (target, provider) = names(outcome, r);
            grid.row(vec![
                run.id.to_string(),
                run.draft.suite.clone(),
                target,
                provider,
                r.case_name.clone(),
                r.unit.repeat.to_string(),
                status_word(r.status).to_owned(),
                format!("{:.3}", r.score),
                r.latency_ms.to_string(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                format!("{:.6}", r.cost.as_usd()),
                r.cached.to_string(),
                reasons(r).join("; "),
                r.output.clone().unwrap_or_default(),
            ]);
        }
    }
    grid.render(Format::Csv)
}

/// The target ref and provider of a result.
pub fn names(outcome: &SuiteOutcome, r: &ResultRecord) -> (String, String) {
    let draft = &outcome.report.run.draft;
    let target = draft.targets.get(r.unit.target as usize).map_or_else(String::new, |t| t.reference.clone());
    let provider = draft.providers.get(r.unit.provider as usize).cloned().unwrap_or_default();
    (target, provider)
}

/// Why a result did not pass: its error, then its failed assertions.
pub fn reasons(r: &ResultRecord) -> Vec<String> {
    let mut out: Vec<String> = r.error.iter().cloned().collect();
    out.extend(
        r.assertions.iter().filter(|a| !a.pass && a.weight > 0.0).map(|a| {
            if a.reason.is_empty() { format!("{} failed", a.kind) } else { format!("{}: {}", a.kind, a.reason) }
        }),
    );
    out
}

/// `pass`, `fail` or `error`.
pub fn status_word(status: CaseStatus) -> &'static str {
    status.as_str()
}

/// A pass rate as a percentage with one decimal.
pub fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// Milliseconds for people: `840ms`, `1.2s`.
pub fn millis(ms: u64) -> String {
    if ms < 1000 { format!("{ms}ms") } else { format!("{:.1}s", ms as f64 / 1000.0) }
}

/// Token counts for people: `950`, `12.3k`, `4.1M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// How long a run took (from start to its last finish).
pub fn duration(outcome: &SuiteOutcome) -> Option<std::time::Duration> {
    let run = &outcome.report.run;
    run.finished_at.and_then(|end| (end - run.started_at).to_std().ok())
}

/// How far an interrupted run got (`interrupted: 12 of 40 results made`), counted as the terminal
/// summary and `eval list` count it; `None` for a finished run.
pub fn how_far(outcome: &SuiteOutcome) -> Option<String> {
    let run = &outcome.report.run;
    (!run.status.is_finished()).then(|| format!("interrupted: {} of {} results made", run.totals.done, run.draft.total))
}

/// Whether the suite passed its threshold and its baseline.
pub fn passed(outcome: &SuiteOutcome) -> bool {
    outcome.report.passed() && outcome.baseline.as_ref().is_none_or(BaselineCheck::passed)
}

/// Escapes text for XML and HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{TimeZone, Utc};
    use promptops::eval::report::ReportBuilder;
    use promptops::money::Micros;
    use promptops::store::{
        AssertionResult, CaseStatus, ResultRecord, RunDraft, RunRecord, RunStatus, RunTarget, RunTotals, UnitKey,
    };

    use super::SuiteOutcome;

    fn result(case: u32, status: CaseStatus, output: &str) -> ResultRecord {
        let failed = status == CaseStatus::Fail;
        ResultRecord {
            unit: UnitKey { target: 0, provider: 0, case, repeat: 0 },
            case_name: ["double charge", "password <reset>", "outage"][case as usize].to_owned(),
            case_key: format!("k{case}"),
            location: Some(format!("eval-suites/triage.yaml:{}", 5 + case * 4)),
            vars: serde_json::json!({ "ticket": "x" }),
            tags: vec![],
            status,
            score: if failed { 0.5 } else { 1.0 },
            output: (status != CaseStatus::Error).then(|| output.to_owned()),
            error: (status == CaseStatus::Error).then(|| "provider `offline` answered HTTP 500: boom".to_owned()),
            assertions: vec![
                AssertionResult {
                    kind: "is-json".into(),
                    pass: true,
                    score: 1.0,
                    weight: 1.0,
                    metric: None,
                    reason: String::new(),
                },
                AssertionResult {
                    kind: "json-path".into(),
                    pass: !failed,
                    score: if failed { 0.0 } else { 1.0 },
                    weight: 1.0,
                    metric: Some("accuracy".into()),
                    reason: if failed {
                        "$.category: expected `billing`, got \"account\"".into()
                    } else {
                        String::new()
                    },
                },
            ],
            latency_ms: 5 + u64::from(case),
            duration_ms: 6 + u64::from(case),
            input_tokens: 100,
            output_tokens: 12,
            cost: Micros(150),
            cached: false,
        }
    }

    /// A finished run of three cases: a pass, a failure and an error.
    pub fn outcome() -> SuiteOutcome {
        let results = vec![
            result(0, CaseStatus::Pass, r#"{"category": "billing"}"#),
            result(1, CaseStatus::Fail, r#"{"category": "account"}"#),
            result(2, CaseStatus::Error, ""),
        ];
        let run = RunRecord {
            id: 7,
            draft: RunDraft {
                suite: "triage".into(),
                suite_path: "eval-suites/triage.yaml".into(),
                description: Some("Triage accuracy".into()),
                plan_hash: "h".into(),
                targets: vec![RunTarget {
                    reference: "support/triage".into(),
                    name: "support/triage".into(),
                    version: None,
                    hash: "a".repeat(64),
                }],
                providers: vec!["offline".into()],
                threshold: 0.9,
                total: 3,
                git_commit: None,
                git_dirty: false,
                actor: "tester".into(),
            },
            status: RunStatus::Failed,
            started_at: Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().expect("date"),
            finished_at: Some(Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 2).single().expect("date")),
            totals: RunTotals {
                done: 3,
                passed: 1,
                failed: 1,
                errors: 1,
                input_tokens: 300,
                output_tokens: 36,
                cost: Micros(450),
                cached: 0,
            },
            owner: None,
        };
        let mut builder = ReportBuilder::new(run);
        for r in &results {
            builder.add(r);
        }
        SuiteOutcome { report: builder.finish(), results, baseline: None }
    }

    /// The same three results of a run of ten, stopped by Ctrl-C.
    pub fn interrupted() -> SuiteOutcome {
        let mut outcome = outcome();
        outcome.report.run.status = RunStatus::Interrupted;
        outcome.report.run.draft.total = 10;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_row_per_result() {
        let text = render(Format::Csv, &[fixtures::outcome()]).expect("renders");
        assert_eq!(text.lines().count(), 4);
        assert!(
            text.lines()
                .nth(2)
                .is_some_and(|l| l.starts_with("7,triage,support/triage,offline,password <reset>,0,fail,0.500")),
            "{text}"
        );
    }

    #[test]
    fn extensions_pick_formats() {
        assert_eq!(format_for_path(Path::new("r.xml")), Some(Format::Junit));
        assert_eq!(format_for_path(Path::new("r.md")), Some(Format::Markdown));
        assert_eq!(format_for_path(Path::new("r.txt")), None);
    }

    #[test]
    fn figures_read_well() {
        assert_eq!((millis(840), millis(1234)), ("840ms".to_owned(), "1.2s".to_owned()));
        assert_eq!((tokens(950), tokens(12_345)), ("950".to_owned(), "12.3k".to_owned()));
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
