//! `promptops auth set-key|list|rm`: API keys in the OS keyring. Keys are read without echo
//! from a terminal (or from stdin when piped), never printed, never written to a file. `list`
//! shows where each provider's key would come from, not the key.

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use promptops::config::{Project, ProviderKind};
use promptops::error::{did_you_mean, list_names};
use promptops::provider::{Providers, ProvidersOptions, default_key_env};
use promptops::secret::{KeyLookup, KeyOrigin, SecretString, Secrets};

use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid};

/// The `auth` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store a provider's API key in the OS keyring (read without echo, or from stdin).
    SetKey {
        /// A provider id from promptops.yaml, or a kind (`openai`, `anthropic`) for every `kind:model`.
        provider: String,
    },
    /// Show where each provider's key comes from.
    List,
    /// Remove a provider's key from the OS keyring.
    Rm {
        /// The provider id or kind.
        provider: String,
    },
}

/// Runs an `auth` subcommand.
pub async fn run(command: AuthCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project().ok();
    let secrets = Secrets::from_process();
    match command {
        AuthCommand::SetKey { provider } => {
            check_name(project.as_ref(), &provider)?;
            let key = read_key(&provider)?;
            secrets.keyring().set(&provider, &key).diag()?;
            ctx.printer.status(&format!("stored the key of `{provider}` in the OS keyring"));
        }
        AuthCommand::Rm { provider } => {
            check_name(project.as_ref(), &provider)?;
            if secrets.keyring().remove(&provider).diag()? {
                ctx.printer.status(&format!("removed the key of `{provider}` from the OS keyring"));
            } else {
                ctx.printer.status(&format!("the OS keyring has no key for `{provider}`"));
            }
        }
        AuthCommand::List => list(ctx, project.as_ref()).await?,
    }
    Ok(ExitStatus::Success)
}

/// A keyring entry name must be a configured id or a kind that takes keys.
fn check_name(project: Option<&Project>, name: &str) -> anyhow::Result<()> {
    let mut known: Vec<String> = ["openai", "anthropic"].map(String::from).to_vec();
    if let Some(project) = project {
        known.extend(
            project.config.providers.iter().filter(|p| default_key_env(p.kind, false).is_some()).map(|p| p.id.clone()),
        );
    }
    if known.iter().any(|k| k == name) {
        return Ok(());
    }
    let mut hints: Vec<String> = did_you_mean(name, known.iter().map(String::as_str)).into_iter().collect();
    hints.push(format!("providers that take keys: {}", list_names(&known)));
    let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
    Err(usage(format!("`{name}` is not a provider that takes an API key"), &hints))
}

fn read_key(provider: &str) -> anyhow::Result<SecretString> {
    read_secret(
        &format!("API key for {provider}: "),
        "type or paste the key, or pipe it: `printf %s \"$KEY\" | promptops auth set-key NAME`",
    )
}

/// Reads a secret without echo from a terminal, or from stdin when piped; empty is a usage error.
pub fn read_secret(prompt: &str, how: &str) -> anyhow::Result<SecretString> {
    let text = if std::io::stdin().is_terminal() { rpassword::prompt_password(prompt)? } else { read_stdin()? };
    non_empty(text, how)
}

/// Reads a secret from stdin (`--token-stdin`); empty is a usage error.
pub fn read_stdin_secret(how: &str) -> anyhow::Result<SecretString> {
    non_empty(read_stdin()?, how)
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text)
}

fn non_empty(text: String, how: &str) -> anyhow::Result<SecretString> {
    let secret = SecretString::new(text);
    if secret.is_empty() {
        return Err(usage("nothing was given", &[how]));
    }
    Ok(secret)
}

async fn list(ctx: &Context, project: Option<&Project>) -> anyhow::Result<()> {
    let format = ctx.format(Format::LISTING, "auth list")?;
    let mut rows = Vec::new();
    if let Some(project) = project {
        let providers = ctx.providers(project, ProvidersOptions::default()).await?;
        for config in providers.configured() {
            rows.extend(row(&providers, config));
        }
        for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
            if let Ok((config, _)) = providers.config_for(&format!("{}:-", kind.as_str())) {
                let mut config = config;
                config.id = kind.as_str().to_owned();
                rows.extend(row(&providers, &config));
            }
        }
    }
    let mut grid = Grid::new(&["PROVIDER", "ENV VAR", "KEY FROM"]);
    for (id, env, from) in &rows {
        grid.row(vec![id.clone(), env.clone(), from.clone()]);
    }
    match format {
        Format::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(id, env, from)| serde_json::json!({"provider": id, "env_var": env, "key_from": from}))
                .collect();
            ctx.printer.out(&serde_json::to_string_pretty(&list)?);
        }
        _ => ctx.printer.out(&grid.render(format)),
    }
    Ok(())
}

fn row(providers: &Providers, config: &promptops::config::ProviderConfig) -> Option<(String, String, String)> {
    let (env_var, _, found) = providers.key_for(config)?;
    let from = match found {
        KeyLookup::Found(_, KeyOrigin::Env(var)) => format!("environment ({var})"),
        KeyLookup::Found(_, KeyOrigin::Keyring(name)) => format!("keyring ({name})"),
        KeyLookup::Missing { keyring_note: Some(note) } => format!("missing ({note})"),
        KeyLookup::Missing { keyring_note: None } => "missing".to_owned(),
    };
    Some((config.id.clone(), env_var, from))
}
