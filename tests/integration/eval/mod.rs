//! The eval engine end to end in a temporary project: planning (and its bad input), running,
//! streaming into the store, interruption and resume. Models are a scripted fake [`Backend`]
//! here; the CLI tests cover the real provider layers.

mod bad_input;
mod runs;
mod scale;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Overrides, Plan, PlanInput, ProjectPrompts, plan};
use promptops::money::Micros;
use promptops::prompt::RenderedPrompt;
use promptops::yaml::YamlError;

/// A backend whose providers answer by rules on the rendered text.
#[derive(Debug)]
pub struct Fake {
    /// Provider ids it knows.
    pub known: Vec<&'static str>,
    /// Delay per call.
    pub delay: Duration,
    /// Calls made.
    pub calls: AtomicU64,
}

impl Fake {
    pub fn new() -> Self {
        Self {
            known: vec!["offline", "other", "broken", "grader", "garbage", "revoked"],
            delay: Duration::ZERO,
            calls: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Backend for Fake {
    fn check_provider(&self, reference: &str) -> Result<(), ProviderProblem> {
        if self.known.contains(&reference) {
            return Ok(());
        }
        let mut hints: Vec<String> =
            promptops::error::did_you_mean(reference, self.known.iter().copied()).into_iter().collect();
        hints.push("configured providers: …".to_owned());
        Err(ProviderProblem { message: format!("unknown provider `{reference}`"), hints })
    }

    async fn complete(&self, provider: &str, prompt: &RenderedPrompt, _repeat: u32) -> Result<Completion, CallError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let text: String = prompt.messages.iter().map(|m| m.content.text()).collect::<Vec<_>>().join("\n");
        let answer = match provider {
            "broken" => return Err(CallError::case("provider `broken` answered HTTP 500: boom")),
            "revoked" => {
                return Err(CallError {
                    message: "provider `revoked` refused the API key (HTTP 401): invalid key".to_owned(),
                    stops_run: true,
                    hints: vec!["set a valid key".to_owned()],
                });
            }
            "grader" => r#"{"pass": true, "score": 0.9, "reason": "polite"}"#.to_owned(),
            "garbage" => "I refuse to answer in JSON".to_owned(),
            _ if text.contains("charged twice") || text.contains("refund") => r#"{"category": "billing"}"#.to_owned(),
            _ if text.contains("password") => r#"{"category": "account"}"#.to_owned(),
            _ => r#"{"category": "other"}"#.to_owned(),
        };
        Ok(Completion {
            text: answer,
            input_tokens: 10,
            output_tokens: 5,
            cost: Micros(7),
            latency: self.delay,
            cached: false,
        })
    }

    async fn embed(&self, _provider: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
    }
}

/// A temporary project with one prompt, `support/triage`.
pub struct TempProject {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

pub const TRIAGE: &str = "variables:\n  ticket: { type: string }\n  language: { default: en, enum: [en, de] }\nmessages:\n  - role: system\n    content: Classify. Reply in {{ language }}.\n  - role: user\n    content: \"Ticket: {{ ticket }}\"\n";

impl TempProject {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let project = Self { _dir: dir, root };
        project.write("prompts/support/triage.yaml", TRIAGE);
        project
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub fn suite(&self, name: &str, text: &str) -> LoadedSuite {
        let path = format!("eval-suites/{name}.yaml");
        self.write(&path, text);
        LoadedSuite::read(&self.root, &self.root.join(path)).expect("suite parses")
    }

    pub async fn plan(&self, suite: &LoadedSuite, backend: &Fake) -> Result<Plan, Vec<YamlError>> {
        let prompts = ProjectPrompts { prompts_dir: self.root.join("prompts"), registry: None };
        let overrides = Overrides::default();
        let input = PlanInput {
            root: &self.root,
            default_provider: Some("offline"),
            prompts: &prompts,
            backend,
            workflows: None,
            overrides: &overrides,
        };
        plan(suite, &input).await
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// The problems as text, one per line, for assertions.
pub fn lines(problems: &[YamlError]) -> String {
    problems
        .iter()
        .map(|p| {
            let mut line = p.to_string();
            for hint in &p.hints {
                line.push_str(&format!("\n  hint: {hint}"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}
