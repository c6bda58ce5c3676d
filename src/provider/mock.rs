//! The `mock` provider: offline and deterministic. Rules from `promptops.yaml` match the
//! request (its text by `contains` / `regex`, its prompt name by `prompt`); the first match
//! answers with its `reply`, or one of its `replies` chosen by a seeded hash, so that the same
//! request gets the same sequence of answers on every run. Replies are minijinja templates over
//! the request (`last_user`, `system`, `text`, `prompt`, `messages`, `model`). Embeddings are a
//! hashed bag of words, so offline evaluations can use similarity assertions too.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde_json::json;

use super::error::ProviderError;
use super::types::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Usage};
use super::{Provider, ProviderInfo};
use crate::config::{MockRule, ProviderConfig};
use crate::prompt::Role;
use crate::yaml::{self, YamlError};

/// Where a provider's configuration was written, to point errors at the right line.
#[derive(Debug, Clone)]
pub(crate) struct ConfigSite {
    /// `promptops.yaml`.
    pub path: std::path::PathBuf,
    /// Its text, when it could be read.
    pub text: Option<String>,
    /// The provider's index in `providers:`.
    pub index: usize,
}

impl ConfigSite {
    /// A site outside any file (a connection stored on the server): errors name no line.
    pub(crate) fn detached() -> Self {
        Self { path: std::path::PathBuf::from("connection"), text: None, index: 0 }
    }

    pub(crate) fn error(&self, key_path: &[&str], message: String) -> YamlError {
        let index = self.index.to_string();
        let mut full = vec!["providers", index.as_str()];
        full.extend_from_slice(key_path);
        let location = self.text.as_deref().and_then(|text| yaml::locate(text, &full));
        YamlError::at(&self.path, location, message)
    }
}

#[derive(Debug)]
struct Rule {
    contains: Option<String>,
    regex: Option<Regex>,
    prompt: Option<String>,
    /// Template names in the environment, one per reply.
    replies: Vec<String>,
    latency: Option<Duration>,
}

/// The scripted offline provider.
#[derive(Debug)]
pub(crate) struct Mock {
    info: ProviderInfo,
    rules: Vec<Rule>,
    default: Option<String>,
    latency: Option<Duration>,
    seed: u64,
    templates: Environment<'static>,
    /// How often each distinct request text has been answered, for the seeded choice.
    seen: Mutex<HashMap<u64, u64>>,
}

impl Mock {
    pub(crate) fn new(info: ProviderInfo, config: &ProviderConfig, site: &ConfigSite) -> Result<Self, ProviderError> {
        let mut templates = Environment::new();
        templates.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut rules = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            rules.push(compile_rule(&mut templates, i, rule, site)?);
        }
        let default = match &config.default {
            Some(text) => {
                add_template(&mut templates, "default".to_owned(), text, site, &["default"])?;
                Some("default".to_owned())
            }
            None => None,
        };
        Ok(Self {
            info,
            rules,
            default,
            latency: config.latency_ms.map(Duration::from_millis),
            seed: config.seed.unwrap_or(0),
            templates,
            seen: Mutex::new(HashMap::new()),
        })
    }

    fn answer(&self, request: &ChatRequest) -> Result<(String, Option<Duration>), ProviderError> {
        let text = request.text();
        let rule = self.rules.iter().find(|rule| {
            rule.contains.as_ref().is_none_or(|c| text.contains(c.as_str()))
                && rule.regex.as_ref().is_none_or(|r| r.is_match(&text))
                && rule.prompt.as_ref().is_none_or(|p| request.prompt.as_deref() == Some(p.as_str()))
        });
        let (names, latency) = match rule {
            Some(rule) => (rule.replies.clone(), rule.latency.or(self.latency)),
            None => (self.default.iter().cloned().collect(), self.latency),
        };
        if names.is_empty() {
            return Err(ProviderError::Config {
                provider: self.info.id.clone(),
                message: "no rule matched the request and there is no `default`".to_owned(),
                hint: Some("add a `default:` reply, or a rule that matches this prompt".to_owned()),
            });
        }
        let name = &names[self.pick(&text, names.len())];
        let reply =
            self.templates.get_template(name).and_then(|t| t.render(context(request, &self.info.model))).map_err(
                |err| ProviderError::Config {
                    provider: self.info.id.clone(),
                    message: format!("reply template failed: {err}"),
                    hint: Some(
                        "replies can use `last_user`, `system`, `text`, `prompt`, `messages` and `model`".to_owned(),
                    ),
                },
            )?;
        Ok((reply, latency))
    }

    /// The n-th answer to the same text is always the same: a hash of the seed, the text and n.
    fn pick(&self, text: &str, choices: usize) -> usize {
        if choices == 1 {
            return 0;
        }
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        let key = hasher.finish();
        let n = {
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let count = seen.entry(key).or_insert(0);
            *count += 1;
            *count - 1
        };
        let mut hasher = DefaultHasher::new();
        (self.seed, key, n).hash(&mut hasher);
        (hasher.finish() % choices as u64) as usize
    }
}

fn compile_rule(
    env: &mut Environment<'static>,
    i: usize,
    rule: &MockRule,
    site: &ConfigSite,
) -> Result<Rule, ProviderError> {
    let index = i.to_string();
    let regex = match &rule.matcher.regex {
        Some(pattern) => Some(Regex::new(pattern).map_err(|err| {
            site.error(
                &["rules", &index, "match", "regex"],
                format!("invalid regex `{pattern}`: {}", first_line(&err.to_string())),
            )
            .with_hint("mock rules use Rust regex syntax (https://docs.rs/regex)")
        })?),
        None => None,
    };
    let sources: Vec<&String> = rule.reply.iter().chain(&rule.replies).collect();
    if sources.is_empty() {
        return Err(site.error(&["rules", &index], "a mock rule needs `reply` or `replies`".to_owned()).into());
    }
    let mut replies = Vec::with_capacity(sources.len());
    for (j, source) in sources.into_iter().enumerate() {
        let name = format!("rule{i}.{j}");
        add_template(env, name.clone(), source, site, &["rules", &index])?;
        replies.push(name);
    }
    Ok(Rule {
        contains: rule.matcher.contains.clone(),
        regex,
        prompt: rule.matcher.prompt.clone(),
        replies,
        latency: rule.latency_ms.map(Duration::from_millis),
    })
}

fn add_template(
    env: &mut Environment<'static>,
    name: String,
    source: &str,
    site: &ConfigSite,
    at: &[&str],
) -> Result<(), ProviderError> {
    env.add_template_owned(name, source.to_owned()).map_err(|err| {
        site.error(at, format!("invalid reply template: {}", err.detail().unwrap_or("syntax error"))).into()
    })
}

fn first_line(text: &str) -> String {
    text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(text).trim().trim_start_matches("error: ").to_owned()
}

fn context(request: &ChatRequest, model: &str) -> serde_json::Value {
    let system: Vec<String> =
        request.messages.iter().filter(|m| m.role == Role::System).map(super::ChatMessage::content_text).collect();
    let messages: Vec<serde_json::Value> =
        request.messages.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content_text() })).collect();
    json!({
        "prompt": request.prompt.clone().unwrap_or_default(),
        "text": request.text(),
        "last_user": request.last_user_text(),
        "system": system.join("\n"),
        "messages": messages,
        "model": model,
    })
}

/// Offline providers report token counts as about four characters a token.
pub(crate) fn estimate_usage(request: &ChatRequest, answer: &str) -> Usage {
    Usage {
        input_tokens: request.estimated_input_tokens(),
        output_tokens: (answer.len() as u64).div_ceil(4),
        cached_input_tokens: 0,
    }
}

/// Size of the mock's embedding vectors.
const EMBEDDING_DIMENSIONS: usize = 64;

/// A deterministic offline embedding: a hashed bag of lower-cased words, normalised to length 1,
/// so texts sharing words are similar and the same text always gets the same vector.
fn bag_of_words(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0_f32; EMBEDDING_DIMENSIONS];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut hasher = DefaultHasher::new();
        word.to_lowercase().hash(&mut hasher);
        vector[(hasher.finish() % EMBEDDING_DIMENSIONS as u64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

#[async_trait]
impl Provider for Mock {
    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let vectors = request.inputs.iter().map(|text| bag_of_words(text)).collect();
        let tokens = request.inputs.iter().map(|t| (t.len() as u64).div_ceil(4)).sum();
        let usage = Usage { input_tokens: tokens, output_tokens: 0, cached_input_tokens: 0 };
        Ok(EmbedResponse { vectors, model: self.info.model.clone(), usage, cost: crate::money::Micros::ZERO })
    }

    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let (text, latency) = self.answer(request)?;
        if let Some(latency) = latency.filter(|l| !l.is_zero()) {
            tokio::time::sleep(latency).await;
        }
        if let Some(on_delta) = on_delta {
            on_delta(&text);
        }
        let usage = estimate_usage(request, &text);
        let mut response = ChatResponse::new(&self.info.id, &self.info.model, text, usage);
        response.finish_reason = Some("stop".to_owned());
        Ok(response)
    }
}

/// `promptops.yaml` as an error location when only the project root is known.
pub(crate) fn site_for(root: &Path, index: usize) -> ConfigSite {
    let path = root.join(crate::config::CONFIG_FILE);
    let text = std::fs::read_to_string(&path).ok();
    ConfigSite { path: std::path::PathBuf::from(crate::config::CONFIG_FILE), text, index }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MockMatch, ProviderKind};

    fn mock(rules: Vec<MockRule>, default: Option<&str>) -> Result<Mock, ProviderError> {
        let config = ProviderConfig {
            id: "offline".into(),
            kind: ProviderKind::Mock,
            model: None,
            base_url: None,
            api_key_env: None,
            headers: Default::default(),
            params: Default::default(),
            limits: Default::default(),
            api_version: None,
            latency_ms: None,
            rules,
            default: default.map(ToOwned::to_owned),
            seed: Some(7),
            command: Vec::new(),
        };
        let info = ProviderInfo { id: "offline".into(), kind: ProviderKind::Mock, model: "mock".into() };
        let text = "providers:\n  - id: offline\n    kind: mock\n    rules:\n      - match: { regex: \"(unclosed\" }\n        reply: x\n";
        Mock::new(info, &config, &ConfigSite { path: "promptops.yaml".into(), text: Some(text.into()), index: 0 })
    }

    fn rule(matcher: MockMatch, replies: &[&str]) -> MockRule {
        MockRule { matcher, reply: None, replies: replies.iter().map(|r| (*r).to_owned()).collect(), latency_ms: None }
    }

    #[tokio::test]
    async fn first_matching_rule_answers_with_a_template() {
        let m = mock(
            vec![
                rule(
                    MockMatch { contains: Some("refund".into()), ..MockMatch::default() },
                    &["billing: {{ last_user }}"],
                ),
                rule(MockMatch { regex: Some("(?i)password".into()), ..MockMatch::default() }, &["account"]),
            ],
            Some("other"),
        )
        .expect("valid");
        let ask = |text: &str| ChatRequest::user(text);
        assert_eq!(m.chat(&ask("a refund please"), None).await.expect("ok").text, "billing: a refund please");
        assert_eq!(m.chat(&ask("forgot my PASSWORD"), None).await.expect("ok").text, "account");
        assert_eq!(m.chat(&ask("hello"), None).await.expect("ok").text, "other");
    }

    #[tokio::test]
    async fn seeded_choice_is_the_same_sequence_every_time() {
        let run = || async {
            let m = mock(vec![rule(MockMatch::default(), &["a", "b", "c", "d"])], None).expect("valid");
            let mut answers = Vec::new();
            for _ in 0..12 {
                answers.push(m.chat(&ChatRequest::user("same"), None).await.expect("ok").text);
            }
            answers
        };
        let first = run().await;
        assert_eq!(first, run().await);
        assert!(first.iter().collect::<std::collections::BTreeSet<_>>().len() > 1, "{first:?}");
    }

    #[tokio::test]
    async fn embeddings_are_deterministic_and_word_based() {
        let m = mock(Vec::new(), Some("x")).expect("valid");
        let request = EmbedRequest {
            inputs: vec!["Refund my order".into(), "refund, my ORDER!".into(), "weather".into()],
            model: None,
        };
        let out = m.embed(&request).await.expect("embeds");
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!((dot(&out.vectors[0], &out.vectors[1]) - 1.0).abs() < 1e-6);
        assert!(dot(&out.vectors[0], &out.vectors[2]) < 0.5);
    }

    #[test]
    fn a_bad_regex_is_a_config_error_at_its_line() {
        let err = mock(vec![rule(MockMatch { regex: Some("(unclosed".into()), ..MockMatch::default() }, &["x"])], None)
            .expect_err("bad regex");
        let text = err.to_string();
        assert!(text.starts_with("promptops.yaml:5:18: invalid regex `(unclosed`"), "{text}");
    }
}
