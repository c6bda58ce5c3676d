//! Model-graded assertions, which call a provider through the eval [`Backend`]:
//! `llm-rubric` (a grader model judges the output against a rubric and answers JSON
//! `{pass, score, reason}`) and `similar` (cosine similarity of embeddings). A grader that
//! answers anything else makes the case an error — not a failure — and the run goes on.

use std::sync::LazyLock;

use minijinja::Environment;

use super::text::excerpt;
use super::{Grade, Subject};
use crate::eval::backend::Backend;
use crate::prompt::RenderedPrompt;

/// The grader's instructions when the suite does not override them.
pub const DEFAULT_RUBRIC_PROMPT: &str = "You are grading the output of an AI system against a rubric.\n\
Rubric: {{ rubric }}\n\n\
Output to grade:\n<output>\n{{ output }}\n</output>\n\n\
Answer with only a JSON object, no other text: \
{\"pass\": true or false, \"score\": a number from 0 to 1, \"reason\": \"one short sentence\"}";

static ENV: LazyLock<Environment<'static>> = LazyLock::new(crate::template::environment);

/// Checks that a rubric prompt template compiles.
pub fn check_rubric_prompt(template: &str) -> Result<(), String> {
    ENV.template_from_str(template)
        .map(|_| ())
        .map_err(|err| format!("invalid rubric prompt: {}", err.detail().unwrap_or("syntax error")))
}

/// What an `llm-rubric` assertion asks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rubric {
    /// What the output should do.
    pub rubric: String,
    /// The grader provider.
    pub grader: String,
    /// The score needed to pass, overriding the grader's own verdict.
    pub threshold: Option<f64>,
    /// The grader prompt template.
    pub prompt: Option<String>,
}

/// Asks the grader and reads its verdict.
pub async fn llm_rubric(rubric: &Rubric, subject: &Subject<'_>, backend: &dyn Backend) -> Result<Grade, String> {
    let template = rubric.prompt.as_deref().unwrap_or(DEFAULT_RUBRIC_PROMPT);
    let mut context: std::collections::BTreeMap<&str, serde_json::Value> =
        subject.vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    context.insert("rubric", serde_json::Value::from(rubric.rubric.as_str()));
    context.insert("output", serde_json::Value::from(subject.output));
    let text = crate::template::render_str(&ENV, template, &context)
        .map_err(|err| format!("cannot render the grader prompt: {err}"))?;
    let request = RenderedPrompt::internal("promptops/llm-rubric", text);
    let answer = backend
        .complete(&rubric.grader, &request, 0)
        .await
        .map_err(|err| format!("grader `{}` failed: {}", rubric.grader, err.message))?;
    let mut grade = parse_verdict(&answer.text).map_err(|why| format!("grader `{}` {why}", rubric.grader))?;
    if let Some(threshold) = rubric.threshold {
        grade.pass = grade.score >= threshold;
    }
    grade.cost = answer.cost;
    Ok(grade)
}

/// Reads `{pass, score, reason}` from a grader's answer, which may wrap it in prose or a code
/// fence: the first `{` to the last `}` is taken.
pub fn parse_verdict(text: &str) -> Result<Grade, String> {
    let garbage = || format!("answered something that is not {{pass, score, reason}}: `{}`", excerpt(text));
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else { return Err(garbage()) };
    if end < start {
        return Err(garbage());
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text[start..=end]) else {
        return Err(garbage());
    };
    let score = map.get("score").and_then(serde_json::Value::as_f64);
    let pass = map.get("pass").and_then(serde_json::Value::as_bool);
    let (pass, score) = match (pass, score) {
        (Some(p), Some(s)) => (p, s),
        (Some(p), None) => (p, if p { 1.0 } else { 0.0 }),
        (None, Some(s)) => (s >= 0.5, s),
        (None, None) => return Err(garbage()),
    };
    if !(0.0..=1.0).contains(&score) {
        return Err(format!("gave score {score}, outside 0 to 1"));
    }
    let reason = map.get("reason").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    Ok(Grade { pass, score, reason, ..Grade::pass() })
}

/// What a `similar` assertion compares against.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    /// The expected text.
    pub expected: String,
    /// The embedding provider.
    pub provider: String,
    /// The least cosine similarity that passes.
    pub threshold: f64,
}

/// Embeds the output and the expected text and compares them.
pub async fn similar(check: &Similar, subject: &Subject<'_>, backend: &dyn Backend) -> Result<Grade, String> {
    let texts = vec![subject.output.to_owned(), check.expected.clone()];
    let vectors = backend
        .embed(&check.provider, &texts)
        .await
        .map_err(|err| format!("embedding provider `{}` failed: {}", check.provider, err.message))?;
    let [a, b] = vectors.as_slice() else {
        return Err(format!("embedding provider `{}` returned {} vectors for 2 texts", check.provider, vectors.len()));
    };
    let score =
        cosine(a, b).ok_or_else(|| format!("embedding provider `{}` returned unusable vectors", check.provider))?;
    let pass = score >= check.threshold;
    let reason = if pass {
        String::new()
    } else {
        format!("similarity {score:.2} to `{}` is below {}", excerpt(&check.expected), check.threshold)
    };
    Ok(Grade { pass, score: score.clamp(0.0, 1.0), reason, ..Grade::pass() })
}

/// Cosine similarity; `None` for vectors of different lengths or of zero length.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    (na > 0.0 && nb > 0.0).then(|| dot / (na.sqrt() * nb.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_prose_and_fences() {
        let grade =
            parse_verdict("Sure!\n```json\n{\"pass\": true, \"score\": 0.8, \"reason\": \"polite\"}\n```").expect("ok");
        assert!(grade.pass && (grade.score - 0.8).abs() < 1e-9 && grade.reason == "polite");
        assert!(parse_verdict("{\"score\": 0.2}").is_ok_and(|g| !g.pass));
    }

    #[test]
    fn garbage_is_an_error() {
        let err = parse_verdict("I think it is fine").expect_err("garbage");
        assert!(err.starts_with("answered something that is not {pass, score, reason}"), "{err}");
        assert!(parse_verdict("{\"category\": \"other\"}").is_err());
        assert!(parse_verdict("{\"score\": 7}").is_err());
    }

    #[test]
    fn cosine_of_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0]), Some(1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), Some(0.0));
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn the_default_rubric_prompt_compiles() {
        assert!(check_rubric_prompt(DEFAULT_RUBRIC_PROMPT).is_ok());
        assert!(check_rubric_prompt("{{ oops(").is_err());
    }
}
