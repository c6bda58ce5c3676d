//! `promptops.yaml`: the project configuration model, finding the project root by walking up
//! from a directory (like git), and the paths of a project's parts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, ErrorClass, did_you_mean, list_names};
use crate::prompt::ModelParams;
use crate::yaml::{self, YamlError};

/// The project file's name.
pub const CONFIG_FILE: &str = "promptops.yaml";
/// The directory of local state (database, caches); git-ignored.
pub const STATE_DIR: &str = ".promptops";

/// The contents of `promptops.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops project configuration (promptops.yaml)")]
pub struct ProjectConfig {
    /// The project's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model providers, referenced by `id` (or as `kind:model`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderConfig>,
    /// Defaults for commands.
    #[serde(default)]
    pub defaults: Defaults,
    /// Prices in USD per million tokens, by model; extends and overrides the built-in table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: BTreeMap<String, PriceConfig>,
    /// Spending limits for the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<BudgetConfig>,
    /// Label policy.
    #[serde(default)]
    pub labels: LabelPolicy,
    /// Remote servers, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remotes: BTreeMap<String, RemoteConfig>,
}

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name prompts and suites use for it.
    pub id: String,
    /// The wire protocol.
    pub kind: ProviderKind,
    /// The model to request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The API's base URL (any OpenAI-compatible server for `openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (default: the kind's usual one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Default model parameters (a prompt's own `params` win).
    #[serde(default, skip_serializing_if = "ModelParams::is_empty")]
    pub params: ModelParams,
    /// Concurrency, rate limits, timeouts and retries.
    #[serde(default)]
    pub limits: Limits,
    /// Azure OpenAI: the `api-version` query parameter; turns on Azure's URL and auth scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `mock`: added latency per request, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// `mock`: rules matched against the rendered prompt; the first match answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<MockRule>,
    /// `mock`: the answer when no rule matches (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `mock`: seed for choosing between several `replies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `exec`: the command and its arguments (no shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

impl ProviderConfig {
    /// A provider configuration with nothing but an id and kind.
    pub fn new(id: &str, kind: ProviderKind) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            model: None,
            base_url: None,
            api_key_env: None,
            headers: BTreeMap::new(),
            params: ModelParams::default(),
            limits: Limits::default(),
            api_version: None,
            latency_ms: None,
            rules: Vec::new(),
            default: None,
            seed: None,
            command: Vec::new(),
        }
    }
}

/// The wire protocols promptops speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible chat completions (OpenAI, Azure, Ollama, vLLM, llama.cpp, …).
    Openai,
    /// Anthropic Messages API.
    Anthropic,
    /// Offline, scripted answers.
    Mock,
    /// Answers with the rendered prompt.
    Echo,
    /// Runs a local command.
    Exec,
}

impl ProviderKind {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Mock => "mock",
            Self::Echo => "echo",
            Self::Exec => "exec",
        }
    }

    /// Every kind, for messages.
    pub const ALL: [Self; 5] = [Self::Openai, Self::Anthropic, Self::Mock, Self::Echo, Self::Exec];

    /// Parses a kind name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Throughput and resilience limits of one provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Per-request timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// Retries after the first attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// First backoff delay in milliseconds (doubles each retry, with full jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
    /// Longest backoff delay in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
}

/// A scripted answer of the `mock` provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockRule {
    /// What the rendered prompt must contain.
    #[serde(rename = "match")]
    pub matcher: MockMatch,
    /// The answer (a template over the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Several answers; one is picked at random with the provider's `seed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<String>,
    /// Extra latency for this rule, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// The condition of a mock rule; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockMatch {
    /// A substring of the rendered prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A regular expression matched against the rendered prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The prompt name the request was rendered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// Command defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The provider used when neither the prompt nor a flag names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Cases evaluated at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// How long cached responses stay valid, in seconds (default: forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_s: Option<u64>,
}

/// A model's price in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Input (prompt) tokens.
    pub input: f64,
    /// Output (completion) tokens.
    pub output: f64,
    /// Cached input tokens (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

/// Spending limits in USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Hard limit per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<f64>,
    /// Hard limit per calendar month (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_usd: Option<f64>,
    /// Warn when this share of a limit is spent (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at: Option<f64>,
}

/// Which labels need confirmation to move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelPolicy {
    /// Labels that `label set` and `rollback` move only with `--yes`.
    #[serde(default = "default_protected")]
    pub protected: Vec<String>,
}

impl Default for LabelPolicy {
    fn default() -> Self {
        Self { protected: default_protected() }
    }
}

fn default_protected() -> Vec<String> {
    vec!["production".to_owned()]
}

/// A promptops server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The server's base URL.
    pub url: String,
    /// The project on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The tenant on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The remote `push` and `pull` use without `--remote` (`promptops remote default NAME`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// Problems finding or reading the project.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `promptops.yaml` in the directory or any parent.
    #[error("not inside a promptops project (no `promptops.yaml` in `{}` or any parent)", start.display())]
    NotAProject {
        /// Where the search started.
        start: PathBuf,
    },
    /// The file could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has the wrong shape.
    #[error(transparent)]
    Yaml(#[from] YamlError),
}

impl Diagnostic for ConfigError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotAProject { .. } => ErrorClass::Usage,
            _ => ErrorClass::Config,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NotAProject { .. } => vec![
                "run `promptops init` to create a project here".to_owned(),
                "or pass `--project DIR` (or set PROMPTOPS_PROJECT)".to_owned(),
            ],
            Self::Read { .. } => Vec::new(),
            Self::Yaml(err) => err.hints(),
        }
    }
}

/// A project on disk: its root and its parsed configuration.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `promptops.yaml`.
    pub root: PathBuf,
    /// The parsed `promptops.yaml`.
    pub config: ProjectConfig,
    /// For a copy of the project (the staged files of a pre-commit check): the project it was
    /// copied from, whose store and git repository it uses.
    origin: Option<PathBuf>,
}

impl Project {
    /// Finds the project containing `start` by walking up to the first `promptops.yaml`.
    pub fn discover(start: &Path) -> Result<Self, ConfigError> {
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
        let root = start
            .ancestors()
            .find(|dir| dir.join(CONFIG_FILE).is_file())
            .ok_or_else(|| ConfigError::NotAProject { start: start.clone() })?;
        Self::open(root)
    }

    /// Opens the project whose root is `root`.
    pub fn open(root: &Path) -> Result<Self, ConfigError> {
        let path = root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotAProject { start: root.to_path_buf() });
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let config = Self::parse(&path, &text)?;
        Ok(Self { root: root.to_path_buf(), config, origin: None })
    }

    /// Opens the copy of `self` at `root` (its staged files): files are read there, while the
    /// store and the git repository stay those of `self`.
    pub fn open_copy(&self, root: &Path) -> Result<Self, ConfigError> {
        Ok(Self { origin: Some(self.origin_root().to_path_buf()), ..Self::open(root)? })
    }

    /// Opens the project at `root` (one generated from a promptfoo config) with its store and
    /// git repository those of `origin`, the directory the user works in.
    pub fn open_with_origin(root: &Path, origin: &Path) -> Result<Self, ConfigError> {
        Ok(Self { origin: Some(origin.to_path_buf()), ..Self::open(root)? })
    }

    /// The directory of the project's store and git repository: the root, or for a copy the
    /// root of the project it was copied from.
    pub fn origin_root(&self) -> &Path {
        self.origin.as_deref().unwrap_or(&self.root)
    }

    /// Parses and checks the text of a `promptops.yaml` at `path` (before writing an edited one).
    pub fn parse(path: &Path, text: &str) -> Result<ProjectConfig, ConfigError> {
        let source = yaml::Source::new(text);
        let config: ProjectConfig = source.parse(path)?;
        check(path, &source, &config)?;
        Ok(config)
    }

    /// The path of `promptops.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `prompts/`.
    pub fn prompts_dir(&self) -> PathBuf {
        self.root.join("prompts")
    }
    /// `eval-suites/`.
    pub fn suites_dir(&self) -> PathBuf {
        self.root.join("eval-suites")
    }
    /// `workflows/`.
    pub fn workflows_dir(&self) -> PathBuf {
        self.root.join("workflows")
    }
    /// `.promptops/`.
    pub fn state_dir(&self) -> PathBuf {
        self.origin_root().join(STATE_DIR)
    }
    /// `.promptops/promptops.db`.
    pub fn database_path(&self) -> PathBuf {
        self.state_dir().join("promptops.db")
    }

    /// Whether `label` needs `--yes` to move.
    pub fn is_protected(&self, label: &str) -> bool {
        self.config.labels.protected.iter().any(|l| l == label)
    }

    /// A path relative to the project root, for messages.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// Who is recorded as the author of commits and label moves: `PROMPTOPS_AUTHOR`, else git's
/// `user.name <user.email>` for the project, else `$USER`, else the OS account of the process.
pub fn resolve_author(root: &Path) -> String {
    if let Ok(author) = std::env::var(crate::env::AUTHOR)
        && !author.trim().is_empty()
    {
        return author.trim().to_owned();
    }
    let git = |key: &str| {
        std::process::Command::new("git")
            .args(["config", "--get", key])
            .current_dir(root)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    match (git("user.name"), git("user.email")) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name,
        (None, Some(email)) => email,
        // Containers often run with no `$USER`: ask the OS for the account of the process.
        (None, None) => ["USER", "USERNAME"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
            .or_else(|| whoami::username().ok().filter(|name| !name.is_empty()))
            .unwrap_or_else(|| "unknown".to_owned()),
    }
}

/// Checks that parsing alone cannot: unique provider ids, values in range.
fn check(path: &Path, source: &yaml::Source, config: &ProjectConfig) -> Result<(), YamlError> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, provider) in config.providers.iter().enumerate() {
        let at = || source.locate(&["providers", &i.to_string(), "id"]);
        if !seen.insert(provider.id.as_str()) {
            return Err(YamlError::at(path, at(), format!("provider id `{}` is used twice", provider.id))
                .with_hint("give every provider its own `id`"));
        }
        check_mock_rules(path, source, i, provider)?;
        if provider.id.is_empty() || provider.id.contains(':') || provider.id.contains(char::is_whitespace) {
            return Err(YamlError::at(
                path,
                at(),
                format!("provider id `{}` must be non-empty, with no `:` or spaces", provider.id),
            ));
        }
    }
    if let Some(default) = &config.defaults.provider
        && !config.providers.iter().any(|p| &p.id == default)
        && !default.contains(':')
    {
        let ids: Vec<&str> = config.providers.iter().map(|p| p.id.as_str()).collect();
        let mut err = YamlError::at(
            path,
            source.locate(&["defaults", "provider"]),
            format!("default provider `{default}` is not configured"),
        );
        err.hints.extend(did_you_mean(default, ids.iter().copied()));
        err.hints.push(format!("configured providers: {}", list_names(&ids)));
        return Err(err);
    }
    if let Some(budgets) = &config.budgets {
        let bad = [budgets.daily_usd, budgets.monthly_usd].into_iter().flatten().any(|v| !v.is_finite() || v < 0.0);
        let bad_warn = budgets.warn_at.is_some_and(|w| !(0.0..=1.0).contains(&w));
        if bad || bad_warn {
            return Err(YamlError::at(
                path,
                source.locate(&["budgets"]),
                "budgets must be non-negative and `warn_at` between 0 and 1",
            ));
        }
    }
    for (model, price) in &config.pricing {
        let values = [Some(price.input), Some(price.output), price.cached_input];
        if values.into_iter().flatten().any(|v| !v.is_finite() || v < 0.0) {
            return Err(YamlError::at(
                path,
                source.locate(&["pricing", model]),
                format!("price of `{model}` must be a non-negative number"),
            ));
        }
    }
    Ok(())
}

/// A mock rule's regex must compile; the error points at it.
fn check_mock_rules(
    path: &Path,
    source: &yaml::Source,
    index: usize,
    provider: &ProviderConfig,
) -> Result<(), YamlError> {
    for (j, rule) in provider.rules.iter().enumerate() {
        let Some(pattern) = &rule.matcher.regex else { continue };
        if let Err(err) = regex::Regex::new(pattern) {
            let detail = err.to_string();
            let detail = detail
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or(&detail)
                .trim()
                .trim_start_matches("error: ")
                .to_owned();
            let at = source.locate(&["providers", &index.to_string(), "rules", &j.to_string(), "match", "regex"]);
            return Err(YamlError::at(path, at, format!("invalid regex `{pattern}`: {detail}"))
                .with_hint("mock rules use Rust regex syntax (https://docs.rs/regex)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_mock_regex_is_reported_at_its_line() {
        let err = parse("providers:\n  - id: offline\n    kind: mock\n    rules:\n      - match:\n          regex: \"(?i)pass(\"\n        reply: x\n").unwrap_err();
        assert!(err.to_string().starts_with("promptops.yaml:6:11: invalid regex `(?i)pass(`"), "{err}");
    }

    fn parse(text: &str) -> Result<ProjectConfig, YamlError> {
        let path = Path::new("promptops.yaml");
        let source = yaml::Source::new(text);
        let config: ProjectConfig = source.parse(path)?;
        check(path, &source, &config)?;
        Ok(config)
    }

    #[test]
    fn parses_the_documented_example() {
        let config = parse(
            "name: acme\nproviders:\n  - id: fast\n    kind: openai\n    model: gpt-4o-mini\n    limits: { concurrency: 8, rpm: 500 }\n  - id: offline\n    kind: mock\n    rules:\n      - match: { contains: refund }\n        reply: billing\n    default: other\ndefaults: { provider: offline }\npricing:\n  gpt-4o-mini: { input: 0.15, output: 0.60 }\n",
        )
        .expect("valid");
        assert_eq!(config.providers.len(), 2);
        assert_eq!(config.labels.protected, vec!["production".to_owned()]);
    }

    #[test]
    fn duplicate_provider_ids_are_rejected_at_their_line() {
        let err = parse("providers:\n  - { id: a, kind: echo }\n  - { id: a, kind: echo }\n").unwrap_err();
        assert_eq!(err.to_string(), "promptops.yaml:3:7: provider id `a` is used twice");
    }

    #[test]
    fn unknown_default_provider_suggests_configured_ones() {
        let err = parse("providers:\n  - { id: offline, kind: mock }\ndefaults: { provider: ofline }\n").unwrap_err();
        assert!(err.hints.iter().any(|h| h == "did you mean `offline`?"), "{:?}", err.hints);
    }

    #[test]
    fn unknown_provider_kind_lists_the_kinds() {
        let err = parse("providers:\n  - { id: a, kind: openia }\n").unwrap_err();
        assert!(err.message.contains("unknown variant `openia`"), "{}", err.message);
        assert_eq!(err.hints, vec!["did you mean `openai`?".to_owned()]);
    }

    #[test]
    fn negative_prices_are_rejected() {
        assert!(parse("pricing:\n  m: { input: -1, output: 1 }\n").is_err());
    }
}
