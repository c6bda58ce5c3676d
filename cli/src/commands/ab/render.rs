//! An experiment for people: the arms, one table of metrics per comparison, the verdict in
//! sentences, the underpowered warning and the judge's findings; as aligned text or Markdown.
//! JSON and YAML print the stored experiment as it is.

use std::fmt::Write as _;

use promptops::ab::analysis::{Comparison, Decision, MetricComparison};
use promptops::ab::verdict::{p_number, rule};
use promptops::ab::{Analysis, Metric};
use promptops::stats::Interval;
use promptops::store::ExperimentRecord;

use crate::context::Context;
use crate::output::{Format, Grid, Tone, emit_structured};

/// Prints an experiment in `format`.
pub fn emit(ctx: &Context, format: Format, record: &ExperimentRecord, analysis: &Analysis) -> anyhow::Result<()> {
    if !emit_structured(&ctx.printer, format, record)? {
        ctx.printer.out_raw(&text(ctx, format, record, analysis));
    }
    Ok(())
}

fn heading(format: Format, text: &str) -> String {
    if format == Format::Markdown { format!("## {text}\n\n") } else { format!("{text}\n") }
}

fn text(ctx: &Context, format: Format, record: &ExperimentRecord, analysis: &Analysis) -> String {
    let mut out = String::new();
    let design = match analysis.settings.sequential {
        Some(n) => format!("sequential (confidence sequences tuned to {n} cases)"),
        None => "fixed horizon".to_owned(),
    };
    let intervals = if analysis.comparisons.len() > 1 {
        format!("{}% simultaneous intervals (Bonferroni)", trim_level(analysis.interval_level))
    } else {
        format!("{}% intervals", trim_level(analysis.interval_level))
    };
    let title = format!(
        "experiment {} · suite {} · {design} · α = {} · primary: {} · {intervals}",
        record.id,
        record.draft.suite,
        analysis.settings.alpha,
        analysis.settings.primary.label()
    );
    out.push_str(&heading(format, &title));
    out.push_str(&arms(format, analysis));
    if let Some(looks) = &analysis.looks {
        let _ = writeln!(out, "\n{}", looks_sentence(looks));
    }
    if let Some(why) = &analysis.pairing.explanation {
        let _ = writeln!(out, "\n{}", ctx.printer.paint(Tone::Warn, &format!("note: {why}")));
    }
    for comparison in &analysis.comparisons {
        out.push('\n');
        out.push_str(&comparison_text(ctx, format, analysis, comparison));
    }
    let _ = writeln!(out, "\n{}", ctx.printer.paint(Tone::Dim, &format!("rule: {}", rule(analysis))));
    if let Some(warning) = &analysis.underpowered {
        let _ = writeln!(out, "\n{}", ctx.printer.paint(Tone::Warn, warning));
    }
    if let Some(judge) = &analysis.judge {
        let _ = write!(out, "\n{}", heading(format, &format!("judge `{}` (both orders)", judge.judge)));
        for sentence in &judge.verdicts {
            let _ = writeln!(out, "{}{sentence}", bullet(format));
        }
        if let Some(ratings) = &judge.ratings {
            let mut grid = Grid::new(&["ARM", "ELO", "± SE"]);
            for r in ratings {
                let se = r.standard_error.map_or("-".to_owned(), |s| format!("{s:.0}"));
                grid.row(vec![r.arm.clone(), format!("{:.0}", r.elo), se]);
            }
            let _ = write!(out, "\nBradley-Terry ratings\n{}", grid.render(format));
        }
        if let Some(note) = &judge.note {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

/// A level as a percentage without trailing zeros: 95, 97.5.
fn trim_level(level: f64) -> String {
    let text = format!("{:.2}", level * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `stopped early after 40 of 80 cases (look 4): …` or `ran all 80 cases (8 looks): …`.
fn looks_sentence(looks: &promptops::ab::looks::Looks) -> String {
    let plural = if looks.looks == 1 { "" } else { "s" };
    if looks.stopped_early {
        format!(
            "stopped early after {} of {} cases (look {}): {}",
            looks.cases, looks.suite_cases, looks.looks, looks.reason
        )
    } else {
        format!("ran {} of {} cases ({} look{plural}): {}", looks.cases, looks.suite_cases, looks.looks, looks.reason)
    }
}

fn bullet(format: Format) -> &'static str {
    if format == Format::Markdown { "- " } else { "  " }
}

fn arms(format: Format, analysis: &Analysis) -> String {
    let level = format!("{:.0}% CI", (1.0 - analysis.settings.alpha) * 100.0);
    let mut grid =
        Grid::new(&["ARM", "WHAT", "RUN", "CASES", "REPEATS", "PASS RATE", &level, "SCORE", "ERRORS", "CACHED"]);
    for arm in &analysis.arms {
        grid.row(vec![
            arm.letter.clone(),
            arm.label.clone(),
            arm.run.map_or("-".to_owned(), |r| r.to_string()),
            arm.cases.to_string(),
            arm.repeats.to_string(),
            format!("{:.1}%", arm.pass_rate * 100.0),
            arm.pass_interval.map_or("-".to_owned(), |i| format!("[{:.1}, {:.1}]", i.lower * 100.0, i.upper * 100.0)),
            format!("{:.3}", arm.mean_score),
            arm.errors.to_string(),
            arm.cached.to_string(),
        ]);
    }
    grid.render(format)
}

fn comparison_text(ctx: &Context, format: Format, analysis: &Analysis, comparison: &Comparison) -> String {
    let (a, b) = (&analysis.arms[comparison.baseline].letter, &analysis.arms[comparison.challenger].letter);
    let cases = comparison.metrics.first().map_or(0, |m| m.challenger_cases);
    let design = if analysis.pairing.paired { format!("paired, {cases} cases") } else { "unpaired".to_owned() };
    let mut out = heading(format, &format!("{b} vs {a} ({design})"));
    let mut grid = Grid::new(&["METRIC", a, b, "DIFFERENCE", "INTERVAL", "EFFECT", "TEST", "ADJ. P", "VERDICT"]);
    for m in &comparison.metrics {
        grid.row(metric_row(m));
    }
    out.push_str(&grid.render(format));
    out.push('\n');
    for (m, sentence) in comparison.metrics.iter().zip(&comparison.verdicts) {
        let tone = match m.decision {
            Decision::Better => Tone::Good,
            Decision::Worse => Tone::Bad,
            Decision::NotTested => Tone::Dim,
            _ => Tone::Strong,
        };
        let _ = writeln!(out, "{}{}", bullet(format), ctx.printer.paint(tone, sentence));
    }
    out
}

fn metric_row(m: &MetricComparison) -> Vec<String> {
    if m.decision == Decision::NotTested {
        let mut row = vec![m.metric.label()];
        row.extend(std::iter::repeat_n("-".to_owned(), 7));
        row.push("not compared".into());
        return row;
    }
    let value = |v: f64| number(&m.metric, v, Shown::Value);
    let delta = |v: f64| number(&m.metric, v, Shown::Delta);
    let bound = |v: f64| number(&m.metric, v, Shown::Bound);
    let interval =
        |i: Option<Interval>| i.map_or("-".to_owned(), |i| format!("[{}, {}]", bound(i.lower), bound(i.upper)));
    let p = m.adjusted_p.or(m.test.as_ref().map(|t| t.p_value));
    vec![
        m.metric.label(),
        value(m.baseline),
        value(m.challenger),
        delta(m.estimate),
        interval(m.interval),
        m.effect.as_ref().map_or("-".to_owned(), |e| format!("{} {:+.2}", e.name, e.value)),
        m.test.as_ref().map_or_else(|| m.interval_method.clone(), |t| t.method.clone()),
        p.map_or("-".to_owned(), |p| if p < 0.001 { "<0.001".to_owned() } else { p_number(p) }),
        decision(m.decision).to_owned(),
    ]
}

/// How a number of a metric is shown: a value, a signed difference, or an interval bound.
#[derive(Clone, Copy, PartialEq)]
enum Shown {
    Value,
    Delta,
    Bound,
}

fn number(metric: &Metric, v: f64, shown: Shown) -> String {
    let (text, unit) = match metric {
        Metric::PassRate if shown == Shown::Value => (format!("{:.1}", v * 100.0), "%"),
        Metric::PassRate => (format!("{:.1}", v * 100.0), " pts"),
        Metric::Latency => (format!("{v:.1}"), " ms"),
        Metric::Cost => (format!("{:.6}", v / 1e6), " $"),
        Metric::Score | Metric::Named(_) => (format!("{v:.3}"), ""),
    };
    let sign = if shown == Shown::Delta && v >= 0.0 { "+" } else { "" };
    match shown {
        Shown::Bound => text,
        _ => format!("{sign}{text}{unit}"),
    }
}

fn decision(d: Decision) -> &'static str {
    match d {
        Decision::Better => "better",
        Decision::Worse => "worse",
        Decision::NotSignificant => "no significant difference",
        Decision::Identical => "identical",
        Decision::NotTested => "not compared",
    }
}
