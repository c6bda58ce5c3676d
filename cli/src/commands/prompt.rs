//! `prompt list|new|validate|render`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use promptops::error::{Diagnostic, ErrorClass};
use promptops::fsutil::write_atomic;
use promptops::prompt::{self, Content, Part, PromptError, Vars, coerce_cli_value, render as render_prompt};
use promptops::registry::status::{FileState, status as compare};

use super::workspace::{check_prompts, load_ref, load_valid, parse_name, parse_ref, working_copy};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, Diagnosed, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, Tone, emit_structured};

/// The `prompt` subcommands.
#[derive(Debug, Subcommand)]
pub enum PromptCommand {
    /// List prompts: working copy and stored versions.
    List,
    /// Create a prompt file from a template.
    New {
        /// The new prompt's name, e.g. `support/triage`.
        name: String,
    },
    /// Check prompt files: YAML shape, templates, variables, partials.
    Validate {
        /// Prompts to check (default: all).
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
        names: Vec<String>,
    },
    /// Print a prompt's rendered messages.
    Render(RenderArgs),
}

/// Flags of `prompt render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The prompt: `name` (working copy), `name@3`, `name@production`, …
    #[arg(value_name = "REF", add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub reference: String,
    /// A variable, `name=value` (converted to the declared type; repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A YAML or JSON file of variables (`--var` wins over it).
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
}

/// Runs a `prompt` subcommand.
pub async fn run(command: PromptCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        PromptCommand::List => list(ctx).await,
        PromptCommand::New { name } => new(&name, ctx),
        PromptCommand::Validate { names } => validate(&names, ctx),
        PromptCommand::Render(args) => render(args, ctx).await,
    }
}

/// `prompt validate`: every problem of every file on stderr (or, with `--format json|yaml`, as
/// a document on stdout: the valid prompts, the problems with file, line and column, warnings).
fn validate(names: &[String], ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::DOCUMENT, "prompt validate")?;
    let names = names.iter().map(|n| parse_name(n)).collect::<anyhow::Result<Vec<_>>>()?;
    let project = ctx.project()?;
    if format == Format::Table {
        let prompts = load_valid(ctx, &project, &names)?;
        ctx.printer.status(&format!("{} prompt(s) valid", prompts.len()));
        return Ok(ExitStatus::Success);
    }
    let checked = check_prompts(&project, &names)?;
    let place = |path: &std::path::Path, location: Option<promptops::yaml::Location>| {
        serde_json::json!({
            "file": project.relative(path).display().to_string(),
            "line": location.map(|l| l.line),
            "column": location.map(|l| l.column),
        })
    };
    let problems: Vec<serde_json::Value> = checked
        .errors
        .iter()
        .map(|err| {
            let mut entry = match err {
                PromptError::Yaml(yaml) => place(&yaml.path, yaml.location),
                PromptError::Invalid { path, location, .. } => place(path, *location),
                PromptError::Read { path, .. } => place(path, None),
                PromptError::NotFound { .. } | PromptError::Duplicate { .. } => serde_json::json!({}),
            };
            entry["message"] = err.to_string().into();
            entry["hints"] = err.hints().into();
            entry
        })
        .collect();
    let warnings: Vec<serde_json::Value> = checked
        .warnings
        .iter()
        .map(|w| {
            let mut entry = place(&w.path, w.location);
            entry["message"] = w.message.clone().into();
            entry
        })
        .collect();
    let valid: Vec<String> = checked.loaded.iter().map(|p| p.name.to_string()).collect();
    let document = serde_json::json!({ "valid": valid, "problems": problems, "warnings": warnings });
    emit_structured(&ctx.printer, format, &document)?;
    if problems.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let summary = format!("{} problem(s) found in prompt files", problems.len());
    Err(Diagnosed::message(ErrorClass::Config, summary, Vec::new()).into())
}

async fn list(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "prompt list")?;
    let project = ctx.project()?;
    let (loaded, working) = working_copy(&project)?;
    let descriptions: BTreeMap<_, _> =
        loaded.iter().map(|p| (p.name.clone(), p.file.description.clone().unwrap_or_default())).collect();
    let registry = ctx.registry(&project).await?;
    let entries = compare(&working, &registry.prompts().await.diag()?, &registry.labels(None).await.diag()?);
    if !emit_structured(&ctx.printer, format, &entries)? {
        let mut grid = Grid::new(&["PROMPT", "LATEST", "STATE", "LABELS", "DESCRIPTION"]);
        for e in &entries {
            let labels: Vec<String> = e.labels.iter().map(|(l, v)| format!("{l}→{v}")).collect();
            let description = descriptions.get(&e.name).cloned().unwrap_or_default();
            let state = if e.state == FileState::Unchanged { String::new() } else { e.state.as_str().to_owned() };
            grid.row(vec![
                e.name.to_string(),
                e.latest.map_or("-".into(), |n| n.to_string()),
                state,
                labels.join(", "),
                description,
            ]);
        }
        ctx.printer.out(&grid.render(format));
    }
    Ok(ExitStatus::Success)
}

const NEW_PROMPT: &str = r#"description: Describe what this prompt is for.
variables:
  input: { type: string, description: The text to work on }
messages:
  - role: system
    content: You are a helpful assistant.
  - role: user
    content: "{{ input }}"
"#;

fn new(name: &str, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let name = parse_name(name)?;
    let project = ctx.project()?;
    if let Some(existing) = prompt::prompt_names_on_disk(&project.prompts_dir()).diag()?.get(&name) {
        return Err(usage(
            format!("prompt `{name}` already exists at {}", project.relative(existing).display()),
            &["edit that file, or pick another name"],
        ));
    }
    let path = project.prompts_dir().join(format!("{name}.yaml"));
    let depth = name.as_str().split('/').count();
    let schema = format!("{}schemas/prompt.schema.json", "../".repeat(depth));
    write_atomic(&path, format!("# yaml-language-server: $schema={schema}\n{NEW_PROMPT}").as_bytes())?;
    ctx.printer.out(&project.relative(&path).display().to_string());
    Ok(ExitStatus::Success)
}

async fn render(args: RenderArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let RenderArgs { reference, vars, vars_file } = args;
    let format = ctx.format(Format::DOCUMENT, "prompt render")?;
    let r = parse_ref(&reference)?;
    let project = ctx.project()?;
    let registry = ctx.registry(&project).await?;
    let prompt = load_ref(&project, registry.as_ref(), &r).await?;
    let values = collect_vars(ctx, &prompt, &vars, vars_file.as_deref())?;
    let rendered = render_prompt(&prompt, &values).diag()?;
    if !emit_structured(&ctx.printer, format, &rendered)? {
        for message in &rendered.messages {
            ctx.printer.out(&ctx.printer.paint(Tone::Strong, &format!("[{}]", message.role.as_str())));
            match &message.content {
                Content::Text(text) => ctx.printer.out(text),
                Content::Parts(parts) => {
                    for part in parts {
                        match part {
                            Part::Text(text) => ctx.printer.out(text),
                            Part::Image(source) => ctx.printer.out(&format!("<image: {source}>")),
                        }
                    }
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Variables from `--vars-file` (a mapping) overlaid with `--var name=value` pairs. A `--var`
/// the prompt does not declare would be ignored by rendering: it is warned about, with the
/// closest declared name.
pub fn collect_vars(
    ctx: &Context,
    prompt: &prompt::LoadedPrompt,
    pairs: &[String],
    file: Option<&std::path::Path>,
) -> anyhow::Result<Vars> {
    let mut vars = Vars::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|err| usage(format!("cannot read vars file `{}`: {err}", path.display()), &[]))?;
        let value = promptops::yaml::value_from_str(path, &text).diag()?;
        let serde_json::Value::Object(map) = value else {
            return Err(usage(
                format!("vars file `{}` must hold a mapping of names to values", path.display()),
                &["e.g. `ticket: \"My card was charged twice\"`"],
            ));
        };
        vars.extend(map);
    }
    for pair in pairs {
        let Some((name, raw)) = pair.split_once('=') else {
            return Err(usage(format!("`--var {pair}` is not NAME=VALUE"), &["e.g. `--var language=de`"]));
        };
        let spec = prompt.file.variables.get(name);
        if spec.is_none() {
            let declared = prompt.file.variables.keys().map(String::as_str);
            let suggestion =
                promptops::error::did_you_mean(name, declared).map(|s| format!("; {s}")).unwrap_or_default();
            ctx.printer.warn(&format!(
                "`--var {name}` is ignored: `{}` declares no variable `{name}`{suggestion}",
                prompt.name
            ));
        }
        let value = coerce_cli_value(spec, raw).map_err(|why| usage(format!("`--var {pair}`: {why}"), &[]))?;
        vars.insert(name.to_owned(), value);
    }
    Ok(vars)
}
