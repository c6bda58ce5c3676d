//! Rendering a prompt with variables through minijinja, with strict undefined variables: a
//! missing variable is an error that names it, never an empty string.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Environment;
use serde::{Deserialize, Serialize};

use super::file::{Content, Message, Part, PromptFile, Role, VarType, VariableSpec};
use super::load::{LoadedPrompt, PartialSet, PromptError, partial_path};
use super::name::PromptName;
use super::params::ModelParams;
use crate::error::{Diagnostic, ErrorClass, did_you_mean, list_names};
use crate::yaml::Location;

/// Variable values by name.
pub type Vars = BTreeMap<String, serde_json::Value>;

/// A prompt with its templates filled in, ready for a provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedPrompt {
    /// The prompt's name.
    pub name: PromptName,
    /// The content hash of the prompt that was rendered.
    pub hash: String,
    /// The messages with their templates filled in.
    pub messages: Vec<Message>,
    /// The prompt's model parameters.
    #[serde(skip_serializing_if = "ModelParams::is_empty")]
    pub params: ModelParams,
    /// The prompt's default provider, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The JSON Schema the answer must satisfy, if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<serde_json::Value>,
}

/// Why a prompt could not be rendered with the given variables.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A required variable has no value and no default.
    #[error("prompt `{prompt}` needs variable `{name}`")]
    Missing {
        /// The prompt.
        prompt: PromptName,
        /// The variable.
        name: String,
        /// Its description, if the file gives one.
        description: Option<String>,
    },
    /// A value does not have the declared type.
    #[error("variable `{name}` of prompt `{prompt}` must be of type {expected}, got {got}")]
    WrongType {
        /// The prompt.
        prompt: PromptName,
        /// The variable.
        name: String,
        /// The declared type.
        expected: &'static str,
        /// The value given.
        got: String,
    },
    /// A value is not one of the declared `enum` values.
    #[error("variable `{name}` of prompt `{prompt}` is {got}, which is not allowed")]
    NotAllowed {
        /// The prompt.
        prompt: PromptName,
        /// The variable.
        name: String,
        /// The value given.
        got: String,
        /// The allowed values.
        allowed: Vec<String>,
    },
    /// A placeholder's variable does not hold a list of `{role, content}` messages.
    #[error("placeholder `{name}` of prompt `{prompt}` needs a list of {{role, content}} messages: {problem}")]
    Placeholder {
        /// The prompt.
        prompt: PromptName,
        /// The placeholder's variable.
        name: String,
        /// What is wrong with the value.
        problem: String,
    },
    /// The template failed while rendering.
    #[error(transparent)]
    Template(#[from] PromptError),
}

impl Diagnostic for RenderError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Template(err) => err.class(),
            _ => ErrorClass::Usage,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Missing { name, description, .. } => {
                let mut hints = vec![format!("pass it with `--var {name}=VALUE` or in a `--vars-file`")];
                hints.extend(description.iter().map(|d| format!("`{name}`: {d}")));
                hints
            }
            Self::WrongType { .. } => {
                vec!["`--var` values are converted to the declared type; arrays and objects are JSON".to_owned()]
            }
            Self::NotAllowed { allowed, .. } => vec![format!("allowed values: {}", allowed.join(", "))],
            Self::Placeholder { name, .. } => vec![format!(
                "pass `{name}` as JSON such as [{{\"role\": \"user\", \"content\": \"Hi\"}}]; roles are system, user and assistant"
            )],
            Self::Template(err) => err.hints(),
        }
    }
}

/// Converts a `--var name=value` string to the variable's declared type.
pub fn coerce_cli_value(spec: Option<&VariableSpec>, raw: &str) -> Result<serde_json::Value, String> {
    let kind = spec.map_or(VarType::String, |s| s.kind);
    let parsed = || serde_json::from_str::<serde_json::Value>(raw);
    let value = match kind {
        VarType::String => serde_json::Value::String(raw.to_owned()),
        VarType::Any => parsed().unwrap_or_else(|_| serde_json::Value::String(raw.to_owned())),
        VarType::Number | VarType::Integer | VarType::Boolean | VarType::Array | VarType::Object => {
            parsed().map_err(|_| format!("`{raw}` is not a valid {}", kind.as_str()))?
        }
    };
    if kind.accepts(&value) { Ok(value) } else { Err(format!("`{raw}` is not a valid {}", kind.as_str())) }
}

impl RenderedPrompt {
    /// A one-message request promptops writes itself (grader and judge prompts): `text` as the
    /// user message, temperature 0, no schema.
    pub fn internal(name: &str, text: String) -> Self {
        Self {
            name: PromptName::new(name).expect("invariant: internal prompt names are valid"),
            hash: String::new(),
            messages: vec![Message { role: Role::User, content: Content::Text(text) }],
            params: ModelParams { temperature: Some(0.0), ..ModelParams::default() },
            model: None,
            response_schema: None,
        }
    }
}

/// Renders every message of `prompt` with `vars` (plus declared defaults). Variables that the
/// prompt does not declare are ignored, so that one set of case variables can serve many prompts.
pub fn render(prompt: &LoadedPrompt, vars: &Vars) -> Result<RenderedPrompt, RenderError> {
    render_in(prompt, &environment(prompt), Templates::FromSource, vars, prompt.hash())
}

/// A prompt with its content hash computed and its message templates compiled, for rendering
/// it many times: an eval run renders the same prompt for every case, and building the
/// environment, parsing the templates and hashing the prompt (canonical JSON, then SHA-256)
/// each time cost more than rendering it.
#[derive(Debug)]
pub struct CompiledPrompt {
    prompt: LoadedPrompt,
    hash: String,
    env: Environment<'static>,
    /// Whether every message template is in `env`. When one does not compile, every render
    /// compiles from the source instead, so it fails with the same error as [`render`].
    templates: Templates,
}

/// Where [`render_in`] takes each message's template from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Templates {
    /// Compiled from the message's text at each render.
    FromSource,
    /// Compiled once, named by [`template_name`] in the environment.
    Compiled,
}

impl CompiledPrompt {
    /// Hashes `prompt` and compiles its message templates.
    pub fn new(prompt: LoadedPrompt) -> Self {
        let hash = prompt.hash();
        let mut env = environment(&prompt);
        let mut templates = Templates::Compiled;
        for (i, message) in prompt.file.messages.iter().enumerate() {
            if PromptFile::placeholder(message).is_some() {
                continue;
            }
            for (j, text) in message_templates(message) {
                if env.add_template_owned(template_name(i, j), text.to_owned()).is_err() {
                    templates = Templates::FromSource;
                }
            }
        }
        Self { prompt, hash, env, templates }
    }

    /// The prompt.
    pub fn prompt(&self) -> &LoadedPrompt {
        &self.prompt
    }

    /// Its content hash ([`LoadedPrompt::hash`]).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// [`render`], from the compiled templates.
    pub fn render(&self, vars: &Vars) -> Result<RenderedPrompt, RenderError> {
        render_in(&self.prompt, &self.env, self.templates, vars, self.hash.clone())
    }
}

/// The name of message `i`'s (part `j`'s) template in a [`CompiledPrompt`]'s environment. The
/// environment's own templates come before its loader, so this must not be a partial's name:
/// partials are named by their path relative to `prompts/partials/`, which never starts with `/`.
fn template_name(i: usize, j: Option<usize>) -> String {
    match j {
        Some(j) => format!("/messages/{i}/{j}"),
        None => format!("/messages/{i}"),
    }
}

fn render_in(
    prompt: &LoadedPrompt,
    env: &Environment<'_>,
    templates: Templates,
    vars: &Vars,
    hash: String,
) -> Result<RenderedPrompt, RenderError> {
    let context = resolve_vars(prompt, vars)?;
    let slots = slots(prompt);
    let mut outputs = Vec::with_capacity(slots.len());
    for slot in &slots {
        let template = match templates {
            Templates::Compiled => env.get_template(&template_name(slot.i, slot.j)),
            Templates::FromSource => env.template_from_str(slot.text),
        };
        let output = template.and_then(|template| crate::template::render(&template, &context));
        outputs.push(output.map_err(|err| failed(prompt, slot, &TemplateFailure::from(&err)))?);
    }
    assemble(prompt, &context, outputs, hash)
}

/// One template of a prompt: message `i` (part `j`) and its text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot<'a> {
    pub i: usize,
    pub j: Option<usize>,
    pub text: &'a str,
}

/// Every template of `prompt`'s messages in order; placeholders have none.
pub(crate) fn slots(prompt: &LoadedPrompt) -> Vec<Slot<'_>> {
    let messages = prompt.file.messages.iter().enumerate();
    let templated = messages.filter(|(_, message)| PromptFile::placeholder(message).is_none());
    templated
        .flat_map(|(i, message)| message_templates(message).into_iter().map(move |(j, text)| Slot { i, j, text }))
        .collect()
}

/// The rendered prompt from the outputs of [`slots`] (in their order) and the placeholders'
/// values in `context`.
pub(crate) fn assemble(
    prompt: &LoadedPrompt,
    context: &Vars,
    outputs: Vec<String>,
    hash: String,
) -> Result<RenderedPrompt, RenderError> {
    let mut outputs = outputs.into_iter();
    let mut next = || outputs.next().expect("invariant: one output per slot");
    let mut messages = Vec::with_capacity(prompt.file.messages.len());
    for message in &prompt.file.messages {
        if let Some(name) = PromptFile::placeholder(message) {
            messages.extend(placeholder_messages(prompt, name, context.get(name))?);
            continue;
        }
        let content = match &message.content {
            Content::Text(_) => Content::Text(next()),
            Content::Parts(parts) => Content::Parts(
                parts
                    .iter()
                    .map(|part| match part {
                        Part::Text(_) => Part::Text(next()),
                        Part::Image(_) => Part::Image(next().trim().to_owned()),
                    })
                    .collect(),
            ),
        };
        messages.push(Message { role: message.role, content });
    }
    Ok(RenderedPrompt {
        name: prompt.name.clone(),
        hash,
        messages,
        params: prompt.file.params.clone(),
        model: prompt.file.model.clone(),
        response_schema: prompt.file.response_schema.clone(),
    })
}

/// The error of a render that failed in `slot`.
pub(crate) fn failed(prompt: &LoadedPrompt, slot: &Slot<'_>, failure: &TemplateFailure) -> RenderError {
    RenderError::Template(template_error(prompt, slot.i, slot.j, failure))
}

/// The messages a placeholder's value holds (none for an absent or `null` value).
fn placeholder_messages(
    prompt: &LoadedPrompt,
    name: &str,
    value: Option<&serde_json::Value>,
) -> Result<Vec<Message>, RenderError> {
    let problem =
        |problem: String| RenderError::Placeholder { prompt: prompt.name.clone(), name: name.to_owned(), problem };
    let items = match value {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items,
        Some(other) => return Err(problem(format!("got {other}"))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let role = item.get("role").and_then(serde_json::Value::as_str);
            let role = match role {
                Some("system") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                _ => return Err(problem(format!("item {i} has no role system, user or assistant: {item}"))),
            };
            let content = match item.get("content") {
                Some(serde_json::Value::String(text)) => text.clone(),
                _ => return Err(problem(format!("item {i} has no text `content`: {item}"))),
            };
            Ok(Message { role, content: Content::Text(content) })
        })
        .collect()
}

/// Checks `vars` against the prompt's declared variables (present when required, of the
/// declared type, within `enum`) without rendering: the eval engine checks every case this way
/// before the first model call.
pub fn check_vars(prompt: &LoadedPrompt, vars: &Vars) -> Result<(), RenderError> {
    resolve_vars(prompt, vars).map(|_| ())
}

/// Declared variables with their values: given, else default; checked against type and enum.
pub(crate) fn resolve_vars(prompt: &LoadedPrompt, vars: &Vars) -> Result<Vars, RenderError> {
    let mut context = Vars::new();
    for (name, spec) in &prompt.file.variables {
        let value = match vars.get(name).or(spec.default.as_ref()) {
            Some(value) => value.clone(),
            None if spec.is_required() => {
                return Err(RenderError::Missing {
                    prompt: prompt.name.clone(),
                    name: name.clone(),
                    description: spec.description.clone(),
                });
            }
            None => serde_json::Value::Null,
        };
        if !value.is_null() && !spec.kind.accepts(&value) {
            return Err(RenderError::WrongType {
                prompt: prompt.name.clone(),
                name: name.clone(),
                expected: spec.kind.as_str(),
                got: value.to_string(),
            });
        }
        if let Some(allowed) = &spec.allowed
            && !allowed.contains(&value)
        {
            return Err(RenderError::NotAllowed {
                prompt: prompt.name.clone(),
                name: name.clone(),
                got: value.to_string(),
                allowed: allowed.iter().map(ToString::to_string).collect(),
            });
        }
        context.insert(name.clone(), value);
    }
    Ok(context)
}

/// The minijinja environment for one prompt: strict undefined, no auto-escaping (prompts are
/// not HTML), and includes resolved from the prompt's own partial set.
fn environment(prompt: &LoadedPrompt) -> Environment<'static> {
    environment_with(prompt.partials.clone())
}

/// A bounded environment that includes `partials` by name.
pub(crate) fn environment_with(partials: PartialSet) -> Environment<'static> {
    let mut env = crate::template::environment();
    let partials = Arc::new(partials);
    env.set_loader(move |name| Ok(partials.get(name).cloned()));
    env
}

/// The templates of a message that is not a placeholder: its text, or each part's (numbered).
fn message_templates(message: &Message) -> Vec<(Option<usize>, &str)> {
    match &message.content {
        Content::Text(text) => vec![(None, text.as_str())],
        Content::Parts(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| match part {
                Part::Text(t) | Part::Image(t) => (Some(j), t.as_str()),
            })
            .collect(),
    }
}

/// The top-level variables used by every template of `prompt` and the partials it includes.
pub(crate) fn used_variables(prompt: &LoadedPrompt) -> Result<BTreeSet<String>, PromptError> {
    let env = environment(prompt);
    let globals: BTreeSet<String> = env.globals().map(|(name, _)| name.to_owned()).collect();
    let mut used = BTreeSet::new();
    for (i, message) in prompt.file.messages.iter().enumerate() {
        if let Some(name) = PromptFile::placeholder(message) {
            used.insert(name.to_owned());
            continue;
        }
        for (j, text) in message_templates(message) {
            let template = env.template_from_str(text).map_err(|err| template_error(prompt, i, j, &(&err).into()))?;
            used.extend(template.undeclared_variables(false));
        }
    }
    for name in prompt.partials.keys() {
        let template = env.get_template(name).map_err(|err| PromptError::Invalid {
            path: partial_path(prompt, name),
            location: err.line().map(|line| Location { line, column: 1 }),
            message: format!("template error: {}", err.detail().unwrap_or("invalid template")),
            hints: Vec::new(),
        })?;
        used.extend(template.undeclared_variables(false));
    }
    used.retain(|name| !globals.contains(name));
    Ok(used)
}

/// What went wrong in one template: the parts of minijinja's error that the messages use, apart
/// from it so that a render in another process (the server's sandbox) reads as one in this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TemplateFailure {
    /// minijinja's description of the error's kind.
    pub kind: String,
    /// Whether a variable was undefined.
    pub undefined: bool,
    /// Whether one of the render's bounds ([`crate::template`]) stopped it.
    pub limit: bool,
    pub detail: Option<String>,
    /// The template (a partial's name) the error is in.
    pub name: Option<String>,
    pub line: Option<usize>,
}

impl From<&minijinja::Error> for TemplateFailure {
    fn from(err: &minijinja::Error) -> Self {
        Self {
            kind: err.kind().to_string(),
            undefined: err.kind() == minijinja::ErrorKind::UndefinedError,
            limit: crate::template::is_limit(err),
            detail: err.detail().map(ToOwned::to_owned),
            name: err.name().map(ToOwned::to_owned),
            line: err.line(),
        }
    }
}

/// A failed template in message `i` (part `j`) mapped to a place in the prompt file.
fn template_error(prompt: &LoadedPrompt, i: usize, j: Option<usize>, err: &TemplateFailure) -> PromptError {
    let index = i.to_string();
    let part = j.map(|j| j.to_string());
    let mut path = vec!["messages", index.as_str(), "content"];
    if let Some(part) = &part {
        path.push(part.as_str());
    }
    let base = prompt.source.locate(&path);
    // In a block scalar (`content: |`) the template's first line is the file's next line.
    let block = base.is_some_and(|l| {
        let line = prompt.source.lines().nth(l.line - 1).unwrap_or_default();
        line.trim_end().ends_with(['|', '>', '-', '+'])
    });
    let location = match (base, err.line) {
        (Some(base), Some(line)) => Some(Location { line: base.line + line - 1 + usize::from(block), column: 1 }),
        (base, _) => base,
    };
    let mut hints = Vec::new();
    let mut message = format!("template error: {}", err.detail.as_deref().unwrap_or(&err.kind));
    if err.undefined {
        let declared: Vec<&String> = prompt.file.variables.keys().collect();
        // minijinja does not name what was undefined; the template's own variables do.
        let undeclared: Vec<String> = used_variables(prompt)
            .map(|used| used.into_iter().filter(|n| !prompt.file.variables.contains_key(n)).collect())
            .unwrap_or_default();
        if let Some(first) = undeclared.first() {
            message = format!("template uses undeclared variable {}", list_names(&undeclared));
            hints.extend(did_you_mean(first, declared.iter().map(|d| d.as_str())));
        }
        hints.push(format!("declared variables: {}", list_names(&declared)));
    }
    if err.limit {
        hints.push(format!(
            "rendering is bounded ({} instructions, {} MiB of text): loop over less data, or split the prompt",
            crate::template::FUEL,
            crate::template::MAX_OUTPUT >> 20
        ));
    }
    if let Some(name) = err.name.as_deref().filter(|n| prompt.partials.contains_key(*n)) {
        hints.extend(did_you_mean(name, prompt.partials.keys().map(String::as_str)));
    }
    PromptError::Invalid { path: PathBuf::from(&prompt.origin), location, message, hints }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{PartialSet, validate};

    fn prompt(source: &str, partials: &[(&str, &str)]) -> LoadedPrompt {
        let partials: PartialSet = partials.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        LoadedPrompt::parse(
            PromptName::new("t/p").expect("valid"),
            PathBuf::from("prompts/t/p.yaml"),
            source.to_owned(),
            partials,
        )
        .expect("parses")
    }

    const TRIAGE: &str = "variables:\n  ticket: { type: string }\n  language: { default: en, enum: [en, de] }\nmessages:\n  - role: system\n    content: |\n      {% include \"style.j2\" %}\n      Reply in {{ language }}.\n  - role: user\n    content: \"Ticket: {{ ticket }}\"\n";

    #[test]
    fn renders_with_defaults_and_partials() {
        let p = prompt(TRIAGE, &[("style.j2", "Be kind.")]);
        let vars = Vars::from([("ticket".to_owned(), serde_json::json!("refund please"))]);
        let out = render(&p, &vars).expect("renders");
        assert_eq!(out.messages[0].content, Content::Text("Be kind.\nReply in en.".to_owned()));
        assert_eq!(out.messages[1].content, Content::Text("Ticket: refund please".to_owned()));
    }

    #[test]
    fn missing_required_variable_is_named() {
        let p = prompt(TRIAGE, &[("style.j2", "")]);
        let err = render(&p, &Vars::new()).unwrap_err();
        assert_eq!(err.to_string(), "prompt `t/p` needs variable `ticket`");
    }

    #[test]
    fn enum_and_type_are_enforced() {
        let p = prompt(TRIAGE, &[("style.j2", "")]);
        let mut vars = Vars::from([
            ("ticket".to_owned(), serde_json::json!("x")),
            ("language".to_owned(), serde_json::json!("fr")),
        ]);
        assert!(matches!(render(&p, &vars), Err(RenderError::NotAllowed { .. })));
        vars.insert("language".to_owned(), serde_json::json!("de"));
        vars.insert("ticket".to_owned(), serde_json::json!(3));
        assert!(matches!(render(&p, &vars), Err(RenderError::WrongType { .. })));
    }

    #[test]
    fn undeclared_variable_fails_validation_with_its_line() {
        let p = prompt(
            "variables:\n  a: {}\nmessages:\n  - role: user\n    content: |\n      {{ a }}\n      and {{ b }}\n",
            &[],
        );
        let (errors, _) = validate(&p);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "prompts/t/p.yaml:7:14: template uses undeclared variable `b`");
    }

    #[test]
    fn variables_used_only_in_partials_count_as_used() {
        let p = prompt(
            "variables:\n  tone: {}\nmessages:\n  - role: user\n    content: '{% include \"x.j2\" %}'\n",
            &[("x.j2", "Tone: {{ tone }}")],
        );
        let (errors, warnings) = validate(&p);
        assert!(errors.is_empty() && warnings.is_empty(), "{errors:?} {warnings:?}");
    }

    #[test]
    fn unused_variable_is_a_warning() {
        let p = prompt("variables:\n  a: {}\n  b: {}\nmessages:\n  - role: user\n    content: '{{ a }}'\n", &[]);
        let (errors, warnings) = validate(&p);
        assert!(errors.is_empty());
        assert_eq!(warnings[0].to_string(), "prompts/t/p.yaml:3:3: variable `b` is declared but never used");
    }

    #[test]
    fn a_compiled_prompt_renders_and_hashes_as_render_does() {
        let parts = "variables:\n  ticket: { type: string }\nmessages:\n  - role: user\n    content:\n      - text: \"{% include 'style.j2' %} {{ ticket }}\"\n      - image: \" data:image/png;base64,{{ ticket }} \"\n";
        for source in [TRIAGE, parts] {
            let p = prompt(source, &[("style.j2", "Be kind.")]);
            let vars = Vars::from([("ticket".to_owned(), serde_json::json!("refund please"))]);
            let compiled = CompiledPrompt::new(p.clone());
            assert_eq!(compiled.render(&vars).expect("renders"), render(&p, &vars).expect("renders"));
            assert_eq!(compiled.hash(), p.hash());
            let missing = compiled.render(&Vars::new()).expect_err("ticket is required");
            assert_eq!(missing.to_string(), render(&p, &Vars::new()).expect_err("required").to_string());
        }
    }

    #[test]
    fn a_compiled_prompt_with_a_broken_template_fails_as_render_does() {
        let p = prompt("messages:\n  - role: user\n    content: |\n      line one\n      {{ oops(\n", &[]);
        let compiled = CompiledPrompt::new(p.clone());
        let err = compiled.render(&Vars::new()).expect_err("does not compile");
        assert_eq!(err.to_string(), render(&p, &Vars::new()).expect_err("does not compile").to_string());
        assert!(err.to_string().starts_with("prompts/t/p.yaml:5:1: template error"), "{err}");
    }

    #[test]
    fn syntax_error_points_into_the_file() {
        let p = prompt("messages:\n  - role: user\n    content: |\n      line one\n      {{ oops(\n", &[]);
        let (errors, _) = validate(&p);
        assert!(errors[0].to_string().starts_with("prompts/t/p.yaml:5:1: template error"), "{}", errors[0]);
    }

    #[test]
    fn cli_values_are_converted_to_the_declared_type() {
        let spec = |kind| VariableSpec { kind, ..VariableSpec::default() };
        assert_eq!(coerce_cli_value(Some(&spec(VarType::Integer)), "3"), Ok(serde_json::json!(3)));
        assert_eq!(coerce_cli_value(Some(&spec(VarType::Boolean)), "true"), Ok(serde_json::json!(true)));
        assert_eq!(coerce_cli_value(None, "3"), Ok(serde_json::json!("3")));
        assert!(coerce_cli_value(Some(&spec(VarType::Integer)), "3.5").is_err());
        assert!(coerce_cli_value(Some(&spec(VarType::Array)), "nope").is_err());
    }

    #[test]
    fn formatting_does_not_change_the_hash() {
        let a = prompt("messages:\n  - role: user\n    content: hi\n", &[]);
        let b = prompt("# a comment\nmessages: [ { content: hi, role: user } ]\n", &[]);
        assert_eq!(a.hash(), b.hash());
        let c = prompt("messages:\n  - role: user\n    content: hi!\n", &[]);
        assert_ne!(a.hash(), c.hash());
    }

    const CONVERSATION: &str = "variables:\n  history: { type: array, required: false }\n  q: { type: string }\nmessages:\n  - role: system\n    content: Be brief.\n  - role: placeholder\n    content: history\n  - role: user\n    content: '{{ q }}'\n";

    #[test]
    fn a_placeholder_inserts_the_messages_of_its_variable() {
        let p = prompt(CONVERSATION, &[]);
        assert!(validate(&p).0.is_empty(), "{:?}", validate(&p).0);
        let history = serde_json::json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]);
        let vars = Vars::from([("q".to_owned(), serde_json::json!("Refund?")), ("history".to_owned(), history)]);
        let out = render(&p, &vars).expect("renders");
        let roles: Vec<Role> = out.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::User]);
        assert_eq!(out.messages[2].content, Content::Text("Hello".to_owned()));
        let without = render(&p, &Vars::from([("q".to_owned(), serde_json::json!("x"))])).expect("renders");
        assert_eq!(without.messages.len(), 2, "an absent optional placeholder inserts nothing");
    }

    #[test]
    fn a_placeholder_with_a_wrong_value_or_declaration_is_refused() {
        let p = prompt(CONVERSATION, &[]);
        let bad = serde_json::json!([{"role": "wizard", "content": "x"}]);
        let vars = Vars::from([("q".to_owned(), serde_json::json!("x")), ("history".to_owned(), bad)]);
        let err = render(&p, &vars).unwrap_err();
        assert!(err.to_string().contains("placeholder `history`"), "{err}");
        let declared_string = CONVERSATION.replace("{ type: array, required: false }", "{ type: string }");
        let errors = validate(&prompt(&declared_string, &[])).0;
        assert!(errors.iter().any(|e| e.to_string().contains("declared as string")), "{errors:?}");
        let not_a_name = CONVERSATION.replace("content: history", "content: 'two words'");
        let errors = validate(&prompt(&not_a_name, &[])).0;
        assert!(errors.iter().any(|e| e.to_string().contains("name of a variable")), "{errors:?}");
    }
}
