//! The verdict in words and numbers: one sentence per metric of each comparison, such as
//! `B beats A on pass rate: +8.0 pts [2.1, 13.9], McNemar exact p = 0.012 (significant at
//! α = 0.05)` or `no significant difference between B and A on score: … about 420 cases would
//! be needed to detect 5 pts`. Arms are named by letter; the arm table says what each ran.

use super::analysis::{Analysis, Decision, MetricComparison, PowerNote};
use super::decide::points;
use super::judge::JudgeReport;
use super::sample::Metric;
use crate::stats::Interval;

/// The sentence for one metric of one comparison.
pub fn sentence(m: &MetricComparison, baseline: &str, challenger: &str, analysis: &Analysis) -> String {
    let label = m.metric.label();
    let numbers = numbers(m);
    let evidence = evidence(m, analysis);
    match m.decision {
        Decision::Better | Decision::Worse => {
            let better = m.decision == Decision::Better;
            let claim = match (&m.metric, better) {
                (Metric::Latency, true) => format!("{challenger} is faster than {baseline}"),
                (Metric::Latency, false) => format!("{challenger} is slower than {baseline}"),
                (Metric::Cost, true) => format!("{challenger} is cheaper than {baseline}"),
                (Metric::Cost, false) => format!("{challenger} is more expensive than {baseline}"),
                (_, true) => format!("{challenger} beats {baseline} on {label}"),
                (_, false) => format!("{challenger} is worse than {baseline} on {label}"),
            };
            format!("{claim}: {numbers}{evidence} ({})", significance(analysis))
        }
        Decision::NotSignificant => format!(
            "no significant difference between {challenger} and {baseline} on {label}: {numbers}{evidence}{}{}",
            m.gated.as_ref().map(|why| format!("; {why}")).unwrap_or_default(),
            m.power.as_ref().map(|p| power(p, &m.metric)).unwrap_or_default()
        ),
        Decision::Identical => format!(
            "no difference between {challenger} and {baseline} on {label}: every case gave the same result in both arms"
        ),
        Decision::NotTested => format!("{label} not compared: {}", m.note.as_deref().unwrap_or("no data")),
    }
}

fn significance(analysis: &Analysis) -> String {
    match analysis.settings.sequential {
        Some(_) => format!(
            "the {:.0}% confidence sequence excludes no difference, valid at any look",
            analysis.interval_level * 100.0
        ),
        None => format!("significant at α = {}", analysis.settings.alpha),
    }
}

/// The estimate with its interval, in the metric's unit.
pub fn numbers(m: &MetricComparison) -> String {
    let interval = |i: &Option<Interval>, f: &dyn Fn(f64) -> String| {
        i.map(|i| format!(" [{}, {}]", f(i.lower), f(i.upper))).unwrap_or_default()
    };
    let ratios: String = m
        .ratios
        .iter()
        .map(|r| format!("; {} {:.2}{}", r.name, r.estimate, interval(&r.interval, &|v| format!("{v:.2}"))))
        .collect();
    match &m.metric {
        Metric::PassRate => {
            let pts = |v: f64| format!("{:.1}", v * 100.0);
            format!("{:+.1} pts{}", m.estimate * 100.0, interval(&m.interval, &pts))
        }
        Metric::Latency => {
            let ms = |v: f64| format!("{v:.1}");
            format!("median {:+.1} ms{}{ratios}", m.estimate, interval(&m.interval, &ms))
        }
        Metric::Cost => {
            let usd = |v: f64| format!("{:.6}", v / 1e6);
            format!("{:+.6} $ per case{}{ratios}", m.estimate / 1e6, interval(&m.interval, &usd))
        }
        Metric::Score | Metric::Named(_) => {
            let plain = |v: f64| format!("{v:.3}");
            format!("{:+.3}{}", m.estimate, interval(&m.interval, &plain))
        }
    }
}

fn evidence(m: &MetricComparison, analysis: &Analysis) -> String {
    let Some(test) = &m.test else { return String::new() };
    let mut text = format!(", {} {}", test.method, p_text(test.p_value));
    match m.adjusted_p {
        Some(adjusted) if m.metric != analysis.settings.primary => {
            text.push_str(&format!(" (secondary, adjusted {})", p_text(adjusted)));
        }
        Some(adjusted) if analysis.comparisons.len() > 1 => {
            text.push_str(&format!(" (Holm-adjusted {})", p_text(adjusted)));
        }
        _ => {}
    }
    text
}

/// How the metrics were decided, in one sentence for the report.
pub fn rule(analysis: &Analysis) -> String {
    let primary = analysis.settings.primary.label();
    let across = if analysis.comparisons.len() > 1 { ", Holm-adjusted across the challengers" } else { "" };
    let intervals = if analysis.comparisons.len() > 1 {
        format!("; intervals are simultaneous (Bonferroni, {:.1}% each)", analysis.interval_level * 100.0)
    } else {
        String::new()
    };
    match analysis.settings.sequential {
        Some(_) => format!(
            "{primary} is the primary metric; a secondary metric is claimed only when its confidence sequence and \
             the primary's both exclude no difference"
        ),
        None => format!(
            "{primary} is the primary metric and decides{across}; the {} secondary comparisons are \
             Benjamini-Hochberg-adjusted together and claimed only after the primary (adjusted p = the larger of \
             the two){intervals}",
            analysis.secondary_tests
        ),
    }
}

fn power(note: &PowerNote, metric: &Metric) -> String {
    let unit = |v: f64| if *metric == Metric::PassRate { points(v) } else { format!("{v:.3}") };
    let needed = note.cases_needed.map(|n| format!("about {n} cases would be needed to detect {}", unit(note.detect)));
    let detectable = note.detectable.map(|d| format!("this suite detects differences of about {}", unit(d)));
    match (detectable, needed) {
        (Some(d), Some(n)) => format!("; {d}, {n}"),
        (None, Some(n)) => format!("; {n}"),
        (Some(d), None) => format!("; {d}"),
        (None, None) => String::new(),
    }
}

/// `p = 0.012`, or `p < 0.001`.
pub fn p_text(p: f64) -> String {
    if p < 0.001 { "p < 0.001".to_owned() } else { format!("p = {}", p_number(p)) }
}

/// A p-value in three decimals, or four when three would round it onto a round level
/// (0.0496 is not shown as 0.050 next to "significant at α = 0.05").
pub fn p_number(p: f64) -> String {
    let three = format!("{p:.3}");
    if three.ends_with('0') && (p * 1000.0).round() != p * 1000.0 { format!("{p:.4}") } else { three }
}

/// Sentences for the judge's pairs.
pub fn judge_sentences(report: &JudgeReport, alpha: f64) -> Vec<String> {
    let letter = super::analysis::letter;
    report
        .pairs
        .iter()
        .map(|p| {
            let (first, second) = (letter(p.first), letter(p.second));
            let counts = format!("{}–{}–{} (win–tie–loss)", p.wins, p.ties, p.losses);
            let evidence =
                format!("sign test {}, position consistency {:.0}%", p_text(p.adjusted_p), p.consistency * 100.0);
            if p.adjusted_p < alpha && p.wins != p.losses {
                let (winner, loser) = if p.wins > p.losses { (&first, &second) } else { (&second, &first) };
                format!("the judge prefers {winner} to {loser}: {counts}, {evidence} (significant at α = {alpha})")
            } else {
                format!("the judge prefers neither {first} nor {second}: {counts}, {evidence}")
            }
        })
        .collect()
}
