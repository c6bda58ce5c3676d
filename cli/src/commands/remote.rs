//! `remote add|list|remove`, `login`, `logout`, `push` and `pull`: the CLI side of a project's
//! servers. Remotes live in promptops.yaml; tokens in `PROMPTOPS_TOKEN` or the OS keyring, never
//! in a file or on the screen. Push and pull report per version and label what was created,
//! what existed and what conflicts, and exit 1 when anything conflicts.

use clap::{Args, Subcommand};
use promptops::config::{Project, RemoteConfig};
use promptops::env;
use promptops::registry::sync::{self, Direction, Outcome, SyncItem, SyncReport};
use promptops::remote::{Client, credentials, settings};
use promptops::secret::{SecretString, Secrets};

use super::auth::{read_secret, read_stdin_secret};
use super::workspace::parse_name;
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, Tone, emit_structured};

/// The `remote` subcommands.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add (or replace) a remote in promptops.yaml.
    Add {
        /// Its name, used with `--remote NAME`.
        name: String,
        /// The server's base URL, e.g. `https://promptops.example.com`.
        url: String,
        /// The project on the server.
        #[arg(long, value_name = "PROJECT")]
        project_id: String,
    },
    /// List the remotes of promptops.yaml.
    List,
    /// Remove a remote from promptops.yaml (its token stays until `logout`).
    Remove {
        /// The remote.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::remotes))]
        name: String,
    },
    /// Make a remote the one `push` and `pull` use without `--remote` (marked `default: true`).
    Default {
        /// The remote.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::remotes))]
        name: String,
    },
}

/// Flags of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The remote.
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::remotes))]
    pub name: String,
    /// Read the token from stdin instead of a hidden prompt.
    #[arg(long)]
    pub token_stdin: bool,
}

/// Flags of `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The remote.
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::remotes))]
    pub name: String,
}

/// Flags of `push` and `pull`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Prompts to send or fetch (default: all).
    #[arg(value_name = "NAME", add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub names: Vec<String>,
    /// Say what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// What to send.
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Where a label points elsewhere on the server, move it to the local version (recorded
    /// as a label move on the server) instead of reporting a conflict.
    #[arg(long)]
    pub force_label: bool,
}

/// Flags of `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// What to fetch.
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Where a label points elsewhere locally, move it to the server's version instead of
    /// reporting a conflict.
    #[arg(long)]
    pub theirs: bool,
}

/// Runs a `remote` subcommand.
pub fn run(command: RemoteCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    match command {
        RemoteCommand::Add { name, url, project_id: id } => {
            let default = project.config.remotes.get(&name).is_some_and(|r| r.default);
            let config = RemoteConfig { url: url.clone(), project: Some(id.clone()), tenant: None, default };
            settings::add(&project, &name, config).diag()?;
            ctx.printer.status(&format!("added remote `{name}`: {url}, project `{id}`"));
            ctx.printer.status(&format!("next: `promptops login {name}`"));
        }
        RemoteCommand::List => list(ctx, &project)?,
        RemoteCommand::Remove { name } => {
            if !settings::remove(&project, &name).diag()? {
                return Err(settings::find(&project, &name)
                    .diag()
                    .err()
                    .unwrap_or_else(|| usage("no such remote", &[])));
            }
            ctx.printer.status(&format!("removed remote `{name}`"));
        }
        RemoteCommand::Default { name } => {
            settings::set_default(&project, &name).diag()?;
            ctx.printer.status(&format!("`push` and `pull` now use remote `{name}` unless given `--remote`"));
        }
    }
    Ok(ExitStatus::Success)
}

fn list(ctx: &Context, project: &Project) -> anyhow::Result<()> {
    let format = ctx.format(Format::LISTING, "remote list")?;
    if emit_structured(&ctx.printer, format, &project.config.remotes)? {
        return Ok(());
    }
    let mut grid = Grid::new(&["NAME", "URL", "PROJECT", "DEFAULT"]);
    for (name, remote) in &project.config.remotes {
        let default = if remote.default { "yes" } else { "" };
        grid.row(vec![name.clone(), remote.url.clone(), remote.project.clone().unwrap_or_default(), default.into()]);
    }
    ctx.printer.out(&grid.render(format));
    Ok(())
}

/// `login NAME`: checks the token against the server, then keeps it in the keyring.
pub async fn login(args: LoginArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let LoginArgs { name, token_stdin } = args;
    let project = ctx.project()?;
    let remote = settings::find(&project, &name).diag()?;
    let from_env = std::env::var(env::TOKEN).ok().filter(|t| !t.trim().is_empty());
    let token = match (&from_env, token_stdin) {
        (Some(token), _) => SecretString::new(token.clone()),
        (None, true) => {
            read_stdin_secret("pipe the token: `printf %s \"$TOKEN\" | promptops login NAME --token-stdin`")?
        }
        (None, false) => read_secret(&format!("token for {name}: "), "paste the token, or use `--token-stdin`")?,
    };
    Client::new(remote.clone(), token.clone()).diag()?.verify().await.diag()?;
    if from_env.is_some() {
        ctx.printer.status(&format!(
            "the token in {} is valid for `{name}`; it is used as long as it is set, and nothing is stored",
            env::TOKEN
        ));
        return Ok(ExitStatus::Success);
    }
    credentials::store(&Secrets::from_process(), &name, &token).diag()?;
    ctx.printer.status(&format!(
        "logged in to `{name}` ({}, project `{}`); the token is in the OS keyring",
        remote.url, remote.project
    ));
    Ok(ExitStatus::Success)
}

/// `logout NAME`: removes the token from the keyring.
pub fn logout(args: LogoutArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let LogoutArgs { name } = args;
    if credentials::forget(&Secrets::from_process(), &name).diag()? {
        ctx.printer.status(&format!("removed the token of `{name}` from the OS keyring"));
    } else {
        ctx.printer.status(&format!("the OS keyring has no token for `{name}`"));
    }
    if std::env::var_os(env::TOKEN).is_some() {
        ctx.printer.warn(&format!("{} is still set and is used for every remote", env::TOKEN));
    }
    Ok(ExitStatus::Success)
}

/// The remote of `push`, `pull` and `admin`: `--remote`, else the one marked default, else the only one.
pub(crate) fn sync_remote(ctx: &Context, project: &Project) -> anyhow::Result<String> {
    if let Some(name) = ctx.remote() {
        return Ok(name.to_owned());
    }
    let remotes = &project.config.remotes;
    if let Some((name, _)) = remotes.iter().find(|(_, remote)| remote.default) {
        return Ok(name.clone());
    }
    let mut names = remotes.keys();
    match (names.next(), names.next()) {
        (Some(only), None) => Ok(only.clone()),
        (None, _) => Err(usage(
            "no remote is configured",
            &["add one with `promptops remote add NAME URL --project-id PROJECT`"],
        )),
        (Some(_), Some(_)) => Err(usage(
            "several remotes are configured and none is the default",
            &["choose one with `--remote NAME`, or make one the default: `promptops remote default NAME`"],
        )),
    }
}

/// `push`: local versions and labels to the remote.
pub async fn push(args: PushArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let PushArgs { sync: SyncArgs { names, dry_run }, force_label } = args;
    let format = ctx.format(Format::DOCUMENT, "push")?;
    let names = names.iter().map(|n| parse_name(n)).collect::<anyhow::Result<Vec<_>>>()?;
    let project = ctx.project()?;
    let remote = sync_remote(ctx, &project)?;
    let registry = ctx.remote_registry(&project, &remote)?;
    let local = ctx.local_store(&project).await?;
    let mut bundle = sync::export(local.store.as_ref(), &local.scope, &names).await.diag()?;
    bundle.dry_run = dry_run;
    bundle.overwrite_labels = force_label;
    let report = registry.import(&bundle).await.diag()?;
    finish(ctx, format, &report, &format!("push to `{remote}`"), Direction::Push, dry_run)
}

/// `pull`: the remote's versions and labels into the local store.
pub async fn pull(args: PullArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let PullArgs { sync: SyncArgs { names, dry_run }, theirs } = args;
    let format = ctx.format(Format::DOCUMENT, "pull")?;
    let names = names.iter().map(|n| parse_name(n)).collect::<anyhow::Result<Vec<_>>>()?;
    let project = ctx.project()?;
    let remote = sync_remote(ctx, &project)?;
    let registry = ctx.remote_registry(&project, &remote)?;
    let mut bundle = registry.export().await.diag()?;
    bundle.versions.retain(|v| names.is_empty() || names.contains(&v.meta.name));
    bundle.labels.retain(|l| names.is_empty() || names.contains(&l.name));
    bundle.dry_run = dry_run;
    bundle.overwrite_labels = theirs;
    let local = ctx.local_store(&project).await?;
    let report = sync::apply(local.store.as_ref(), &local.scope, bundle, &local.actor, Direction::Pull).await.diag()?;
    finish(ctx, format, &report, &format!("pull from `{remote}`"), Direction::Pull, dry_run)
}

fn finish(
    ctx: &Context,
    format: Format,
    report: &SyncReport,
    what: &str,
    direction: Direction,
    dry_run: bool,
) -> anyhow::Result<ExitStatus> {
    if !emit_structured(&ctx.printer, format, report)? {
        for item in report.items.iter().filter(|i| i.outcome != Outcome::Exists) {
            ctx.printer.out(&line(ctx, item));
        }
        let created = if dry_run { "to create" } else { "created" };
        ctx.printer.status(&format!(
            "{what}{}: {} {created}, {}{} already there, {} in conflict",
            if dry_run { " (dry run, nothing written)" } else { "" },
            report.count(Outcome::Created),
            match report.count(Outcome::Replaced) {
                0 => String::new(),
                moved => format!("{moved} label(s) moved, "),
            },
            report.count(Outcome::Exists),
            report.count(Outcome::Conflict),
        ));
    }
    let conflicted = report.conflicted();
    if conflicted.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let names: Vec<String> = conflicted.iter().map(ToString::to_string).collect();
    ctx.printer.warn(&format!("conflicts in {}: nothing of these prompts was written", names.join(", ")));
    for hint in conflict_hints(report, direction) {
        ctx.printer.error_line("hint", &hint);
    }
    Ok(ExitStatus::Failed)
}

/// The ways out of the conflicts in `report`: labels can be moved by choice; versions are
/// immutable, so diverged histories are resolved by choosing a side by hand.
fn conflict_hints(report: &SyncReport, direction: Direction) -> Vec<String> {
    let conflicts = || report.items.iter().filter(|i| i.outcome == Outcome::Conflict && i.detail.is_some());
    let labels = conflicts().any(|i| i.label.is_some() && !is_held(i));
    let versions = conflicts().any(|i| i.label.is_none() && !is_held(i));
    let mut hints = Vec::new();
    if labels {
        hints.push(
            match direction {
                Direction::Push => "to move the server's labels to your versions, push again with `--force-label`",
                Direction::Pull => "to move your labels to the server's versions, pull again with `--theirs`",
            }
            .to_owned(),
        );
    }
    if versions {
        hints.push(
            "versions never change once stored, so the two histories diverged: to keep the server's, move \
             `.promptops/promptops.db` aside and pull again; to keep yours, commit the server's text as a new version \
             (`promptops show NAME@N --remote R`) after yours, or push to another project"
                .to_owned(),
        );
    }
    hints
}

fn is_held(item: &SyncItem) -> bool {
    item.detail.as_deref().is_some_and(|d| d.starts_with("held back"))
}

fn line(ctx: &Context, item: &SyncItem) -> String {
    let (tone, word) = match item.outcome {
        Outcome::Created => (Tone::Good, "created "),
        Outcome::Replaced => (Tone::Warn, "moved   "),
        Outcome::Exists => (Tone::Dim, "exists  "),
        Outcome::Conflict => (Tone::Bad, "conflict"),
    };
    let subject = match (&item.label, item.version) {
        (Some(label), Some(version)) => format!("{} {label} -> {version}", item.name),
        (_, Some(version)) => format!("{}@{version}", item.name),
        _ => item.name.to_string(),
    };
    let detail = item.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
    format!("{} {subject}{detail}", ctx.printer.paint(tone, word))
}
