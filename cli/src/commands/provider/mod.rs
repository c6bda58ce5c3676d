//! `promptops provider list|test`: the configured providers, and one cheap call to check that
//! a provider answers and that its key works. With `--remote R`, `provider add|list|rm|set-key`
//! manage the server's provider connections instead (their keys sealed by the server).

use clap::Subcommand;
use promptops::config::ProviderKind;
use promptops::prompt::ModelParams;
use promptops::provider::{ChatRequest, ProvidersOptions};
use promptops::secret::KeyLookup;

use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid};

mod remote;

/// The `provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// List the configured providers.
    List,
    /// Make one cheap call: prints the latency and whether authentication works.
    Test {
        /// A provider id from promptops.yaml, or `kind:model`.
        id: String,
    },
    /// With `--remote`: copy a provider of promptops.yaml to the server as a connection, with its
    /// key from its environment variable (or `--key-stdin`).
    Add {
        /// The provider id in promptops.yaml.
        id: String,
        /// Connections to try in order when this one fails before its first byte.
        #[arg(long = "fallback")]
        fallbacks: Vec<String>,
        /// Cache its answers unless a request says otherwise.
        #[arg(long)]
        cache: bool,
        /// Read the key from stdin instead of the provider's environment variable.
        #[arg(long)]
        key_stdin: bool,
        /// Replace an existing connection of that id (its key is kept unless a new one is given).
        #[arg(long)]
        replace: bool,
    },
    /// With `--remote`: remove a connection from the server.
    Rm {
        /// The connection id.
        id: String,
    },
    /// With `--remote`: set a connection's key on the server (read without echo, or from stdin).
    SetKey {
        /// The connection id.
        id: String,
    },
}

/// Runs a `provider` subcommand.
pub async fn run(command: ProviderCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    if let Some(remote) = ctx.remote() {
        return remote::run(command, remote, ctx).await;
    }
    match command {
        ProviderCommand::List => list(ctx).await,
        ProviderCommand::Test { id } => test(&id, ctx).await,
        ProviderCommand::Add { .. } | ProviderCommand::Rm { .. } | ProviderCommand::SetKey { .. } => Err(usage(
            "`provider add`, `rm` and `set-key` manage a server's connections",
            &["add `--remote NAME`; locally, providers live in promptops.yaml and keys in `promptops auth`"],
        )),
    }
}

async fn list(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "provider list")?;
    let project = ctx.project()?;
    let providers = ctx.providers(&project, ProvidersOptions::default()).await?;
    let default = project.config.defaults.provider.as_deref();
    let mut rows = Vec::new();
    for config in providers.configured() {
        let key = match providers.key_for(config) {
            None => "-".to_owned(),
            Some((_, _, KeyLookup::Found(_, origin))) => origin.to_string(),
            Some((var, _, KeyLookup::Missing { .. })) => format!("missing (`{var}`)"),
        };
        let target = match config.kind {
            ProviderKind::Exec => config.command.join(" "),
            _ => config.base_url.clone().unwrap_or_default(),
        };
        rows.push(serde_json::json!({
            "id": config.id,
            "kind": config.kind.as_str(),
            "model": config.model,
            "target": target,
            "key": key,
            "default": default == Some(config.id.as_str()),
        }));
    }
    match format {
        Format::Json => ctx.printer.out(&serde_json::to_string_pretty(&rows)?),
        Format::Yaml => ctx.printer.out(&serde_yaml::to_string(&rows)?),
        _ => {
            let mut grid = Grid::new(&["ID", "KIND", "MODEL", "URL / COMMAND", "KEY"]);
            for row in &rows {
                let text = |k: &str| row[k].as_str().unwrap_or("-").to_owned();
                let id = if row["default"] == true { format!("{} (default)", text("id")) } else { text("id") };
                grid.row(vec![id, text("kind"), text("model"), text("target"), text("key")]);
            }
            ctx.printer.out(&grid.render(format));
        }
    }
    Ok(ExitStatus::Success)
}

async fn test(id: &str, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    let providers = ctx.providers(&project, ProvidersOptions { no_cache: true, ..ProvidersOptions::default() }).await?;
    let provider = providers.get(id).diag()?;
    let request = ChatRequest {
        params: ModelParams { max_tokens: Some(5), temperature: Some(0.0), ..ModelParams::default() },
        ..ChatRequest::user("Reply with the single word: ok")
    };
    let result = provider.chat(&request, None).await;
    let flushed = providers.flush().await;
    let response = result.diag()?;
    let info = provider.info();
    let auth = match info.kind {
        ProviderKind::Openai | ProviderKind::Anthropic => "authentication works",
        _ => "no authentication needed",
    };
    ctx.printer.out(&format!(
        "`{}` ({}, model {}) answered in {} ms: {auth} ({} tokens, {})",
        info.id,
        info.kind.as_str(),
        response.model,
        response.latency.as_millis(),
        response.usage.total(),
        response.cost
    ));
    // The call is paid for: its usage row must reach the ledger, or the command says so.
    flushed.diag()?;
    Ok(ExitStatus::Success)
}
