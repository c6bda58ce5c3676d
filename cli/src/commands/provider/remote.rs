//! `provider add|list|rm|set-key --remote R`: the server's provider connections. `add` copies a
//! provider of promptops.yaml (with its price from `pricing:`) so that the server calls the same
//! model the project does; keys come from the provider's variable, stdin or a no-echo prompt.

use promptops::config::ProviderKind;
use promptops::gateway::{ConnectionSpec, ConnectionView};
use promptops::provider::default_key_env;
use promptops::remote::RemoteGateway;
use promptops::secret::SecretString;

use super::ProviderCommand;
use crate::commands::auth::{read_secret, read_stdin_secret};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid};

/// Runs a `provider` subcommand against remote `remote`.
pub async fn run(command: ProviderCommand, remote: &str, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    let gateway = RemoteGateway::new(ctx.remote_client(&project, remote)?);
    match command {
        ProviderCommand::List => list(&gateway, ctx).await,
        ProviderCommand::Add { id, fallbacks, cache, key_stdin, replace } => {
            let Some(config) = project.config.providers.iter().find(|p| p.id == id) else {
                return Err(usage(
                    format!("promptops.yaml has no provider `{id}`"),
                    &["`promptops provider list` lists them"],
                ));
            };
            let spec = ConnectionSpec {
                id: config.id.clone(),
                kind: config.kind,
                model: config.model.clone(),
                base_url: config.base_url.clone(),
                headers: config.headers.clone(),
                params: config.params.clone(),
                limits: config.limits.clone(),
                api_version: config.api_version.clone(),
                pricing: config.model.as_ref().and_then(|m| project.config.pricing.get(m)).cloned(),
                fallbacks,
                cache,
                rules: config.rules.clone(),
                default: config.default.clone(),
                latency_ms: config.latency_ms,
            };
            let var = config
                .api_key_env
                .clone()
                .or_else(|| default_key_env(config.kind, config.api_version.is_some()).map(ToOwned::to_owned));
            let key = if key_stdin {
                Some(read_stdin_secret(
                    "pipe the key: `printf %s \"$KEY\" | promptops provider add ID --key-stdin --remote R`",
                )?)
            } else {
                var.and_then(|v| std::env::var(v).ok()).filter(|k| !k.trim().is_empty()).map(SecretString::new)
            };
            if key.is_none() && matches!(config.kind, ProviderKind::Openai | ProviderKind::Anthropic) {
                ctx.printer.status("no key sent: set one with `promptops provider set-key ID --remote R`");
            }
            let view = gateway.put(&spec, key.as_ref(), replace).await.diag()?;
            ctx.printer.status(&format!("connection `{}` is on {remote}{}", view.spec.id, hint(&view)));
            Ok(ExitStatus::Success)
        }
        ProviderCommand::Rm { id } => {
            gateway.remove(&id).await.diag()?;
            ctx.printer.status(&format!("connection `{id}` removed from {remote}"));
            Ok(ExitStatus::Success)
        }
        ProviderCommand::SetKey { id } => {
            let key = read_secret(&format!("API key for {id}: "), "type or paste the key, or pipe it")?;
            let shown = gateway.set_key(&id, &key).await.diag()?;
            ctx.printer.status(&format!("key of `{id}` set on {remote} ({})", shown.unwrap_or_default()));
            Ok(ExitStatus::Success)
        }
        ProviderCommand::Test { .. } => Err(usage(
            "`provider test` calls a model from this machine",
            &["drop `--remote`; on a server, call its gateway (`/v1/chat/completions`) with a gateway key"],
        )),
    }
}

fn hint(view: &ConnectionView) -> String {
    view.key.as_deref().map_or_else(String::new, |k| format!(", key {k}"))
}

async fn list(gateway: &RemoteGateway, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "provider list")?;
    let views = gateway.connections().await.diag()?;
    match format {
        Format::Json => ctx.printer.out(&serde_json::to_string_pretty(&views)?),
        Format::Yaml => ctx.printer.out(&serde_yaml::to_string(&views)?),
        _ => {
            let mut grid = Grid::new(&["ID", "KIND", "MODEL", "URL", "KEY", "FALLBACKS"]);
            for view in &views {
                let spec = &view.spec;
                grid.row(vec![
                    spec.id.clone(),
                    spec.kind.as_str().to_owned(),
                    spec.model.clone().unwrap_or_default(),
                    spec.base_url.clone().unwrap_or_default(),
                    view.key.clone().unwrap_or_else(|| "-".to_owned()),
                    spec.fallbacks.join(", "),
                ]);
            }
            ctx.printer.out(&grid.render(format));
        }
    }
    Ok(ExitStatus::Success)
}
