//! `promptops admin …`: a server's tenants, projects, users, members, API tokens and Langfuse
//! key pairs, from the command line instead of curl. Every subcommand is one call of the
//! server's `/api/v1` (through [`RemoteAdmin`]), so the server's roles and token rules decide
//! what is allowed. Listings take the usual formats; a new secret is printed once, alone on
//! stdout (so `TOKEN=$(promptops admin token create …)` works), and never again.

use clap::{Args, Subcommand};
use promptops::access::Role;
use promptops::api::{CreateKeyPair, CreatePrincipal, CreateProject, CreateTenant, CreateToken};
use promptops::remote::RemoteAdmin;
use promptops::store::{PrincipalKind, Slug, TokenScope};

use super::remote::sync_remote;
use super::workspace::when;
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, emit_structured};

/// `admin` subcommands, by what they manage.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants: list, create with a first administrator (super-admins).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Projects of your tenant: list, create (tenant admins).
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Users and services of your tenant: list, create (tenant admins).
    #[command(subcommand)]
    User(UserCommand),
    /// Members of a project and their roles: list, set, rm (project admins).
    #[command(subcommand)]
    Member(MemberCommand),
    /// API tokens: list, create (shown once), revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Langfuse-compatible key pairs of a project: list, create (secret shown once), revoke.
    #[command(subcommand)]
    Key(KeyCommand),
}

/// `admin tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// List tenants.
    List,
    /// Create a tenant and its first administrator; prints the administrator's token once.
    Create {
        /// The tenant id (lowercase letters, digits, `-`, `_`).
        id: String,
        /// Its first administrator's name.
        #[arg(long, value_name = "NAME")]
        admin: String,
        /// A display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
}

/// `admin project …`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// List the projects you can see.
    List,
    /// Create a project.
    Create {
        /// The project id.
        id: String,
        /// A display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
}

/// `admin user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users and services.
    List,
    /// Create a user (or, with `--service`, a service for CI and apps).
    Create {
        /// The name.
        name: String,
        /// A service principal instead of a person.
        #[arg(long)]
        service: bool,
        /// Make it an administrator of the tenant.
        #[arg(long)]
        tenant_admin: bool,
    },
}

/// Which project (default: the remote's).
#[derive(Debug, Args)]
pub struct ProjectFlag {
    /// The project on the server (default: the remote's `project`).
    #[arg(long, value_name = "PROJECT")]
    pub project_id: Option<String>,
}

/// `admin member …`.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// List a project's members.
    List(ProjectFlag),
    /// Give a user or service a role in a project: viewer, runner, editor, admin, owner.
    Set {
        /// The user or service.
        principal: String,
        /// The role.
        role: String,
        /// Which project.
        #[command(flatten)]
        project: ProjectFlag,
    },
    /// Remove a member from a project.
    Rm {
        /// The user or service.
        principal: String,
        /// Which project.
        #[command(flatten)]
        project: ProjectFlag,
    },
}

/// `admin token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List the tokens you can see (never their secrets).
    List,
    /// Create an API token; prints it once. It can never do more than its principal may.
    Create {
        /// What it is for.
        #[arg(long, default_value = "")]
        name: String,
        /// The user or service it acts as (default: you; others need a tenant admin).
        #[arg(long)]
        principal: Option<String>,
        /// Limit it to PROJECT=ROLE (repeatable; default: the principal's full rights).
        #[arg(long = "scope", value_name = "PROJECT=ROLE")]
        scopes: Vec<String>,
        /// Expire it after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id (from `admin token list`).
        id: String,
    },
}

/// `admin key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List a project's key pairs (never their secrets).
    List(ProjectFlag),
    /// Create a key pair; prints the secret key once.
    Create {
        /// The role it acts with (default: viewer).
        #[arg(long)]
        role: Option<String>,
        /// Which project.
        #[command(flatten)]
        project: ProjectFlag,
    },
    /// Revoke a key pair by its public key.
    Revoke {
        /// The public key (`pk-lf-…`).
        public_key: String,
        /// Which project.
        #[command(flatten)]
        project: ProjectFlag,
    },
}

/// Runs an `admin` subcommand against the remote (`--remote`, else the default or only one).
pub async fn run(command: AdminCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    let remote = sync_remote(ctx, &project)?;
    let admin = RemoteAdmin::new(ctx.remote_client(&project, &remote)?);
    match command {
        AdminCommand::Tenant(command) => tenant(command, &admin, ctx).await,
        AdminCommand::Project(command) => project_command(command, &admin, ctx).await,
        AdminCommand::User(command) => user(command, &admin, ctx).await,
        AdminCommand::Member(command) => member(command, &admin, ctx).await,
        AdminCommand::Token(command) => token(command, &admin, ctx).await,
        AdminCommand::Key(command) => key(command, &admin, ctx).await,
    }
}

async fn tenant(command: TenantCommand, admin: &RemoteAdmin, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        TenantCommand::List => {
            let tenants = admin.tenants().await.diag()?;
            let rows = tenants.iter().map(|t| vec![t.id.to_string(), t.name.clone(), when(&t.created_at)]);
            listing(ctx, "admin tenant list", &tenants, &["TENANT", "NAME", "CREATED"], rows)
        }
        TenantCommand::Create { id, admin: first, name } => {
            let request = CreateTenant { id: slug(&id)?, name, admin: slug(&first)? };
            let created = admin.create_tenant(&request).await.diag()?;
            let what = format!("created tenant `{}` with administrator `{first}`", created.tenant.id);
            secret(ctx, &created, &what, &created.admin_token.token)
        }
    }
}

async fn project_command(command: ProjectCommand, admin: &RemoteAdmin, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        ProjectCommand::List => {
            let projects = admin.projects().await.diag()?;
            let rows = projects
                .iter()
                .map(|p| vec![p.id.to_string(), p.name.clone(), p.created_by.clone(), when(&p.created_at)]);
            listing(ctx, "admin project list", &projects, &["PROJECT", "NAME", "CREATED BY", "CREATED"], rows)
        }
        ProjectCommand::Create { id, name } => {
            let created = admin.create_project(&CreateProject { id: slug(&id)?, name }).await.diag()?;
            done(ctx, &created, &format!("created project `{}`", created.id))
        }
    }
}

async fn user(command: UserCommand, admin: &RemoteAdmin, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        UserCommand::List => {
            let principals = admin.principals().await.diag()?;
            let rows = principals.iter().map(|p| {
                let kind = if p.kind == PrincipalKind::Service { "service" } else { "user" };
                let admin = if p.super_admin {
                    "super-admin"
                } else if p.tenant_admin {
                    "tenant admin"
                } else {
                    ""
                };
                vec![p.name.to_string(), kind.to_owned(), admin.to_owned(), when(&p.created_at)]
            });
            listing(ctx, "admin user list", &principals, &["NAME", "KIND", "ADMIN", "CREATED"], rows)
        }
        UserCommand::Create { name, service, tenant_admin } => {
            let kind = if service { PrincipalKind::Service } else { PrincipalKind::User };
            let request = CreatePrincipal { name: slug(&name)?, kind, tenant_admin };
            let created = admin.create_principal(&request).await.diag()?;
            let next = format!(
                "next: `promptops admin member set {name} editor`, `promptops admin token create --principal {name}`"
            );
            done(
                ctx,
                &created,
                &format!("created {} `{}`; {next}", if service { "service" } else { "user" }, created.name),
            )
        }
    }
}

async fn member(command: MemberCommand, admin: &RemoteAdmin, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = |flag: &ProjectFlag| flag.project_id.clone().unwrap_or_else(|| admin.project().to_owned());
    match command {
        MemberCommand::List(flag) => {
            let members = admin.members(&project(&flag)).await.diag()?;
            let rows = members.iter().map(|m| vec![m.principal.to_string(), m.role.as_str().to_owned()]);
            listing(ctx, "admin member list", &members, &["PRINCIPAL", "ROLE"], rows)
        }
        MemberCommand::Set { principal, role, project: flag } => {
            let project = project(&flag);
            let set = admin.set_member(&project, &principal, parse_role(&role)?).await.diag()?;
            done(ctx, &set, &format!("`{principal}` is {} of project `{project}`", set.role.as_str()))
        }
        MemberCommand::Rm { principal, project: flag } => {
            let project = project(&flag);
            admin.remove_member(&project, &principal).await.diag()?;
            ctx.printer.status(&format!("removed `{principal}` from project `{project}`"));
            Ok(ExitStatus::Success)
        }
    }
}

async fn token(command: TokenCommand, admin: &RemoteAdmin, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        TokenCommand::List => {
            let tokens = admin.tokens().await.diag()?;
            let rows = tokens.iter().map(|t| {
                let scopes: Vec<String> =
                    t.scopes.iter().map(|s| format!("{}={}", s.project, s.role.as_str())).collect();
                let state = match (&t.revoked_at, &t.expires_at) {
                    (Some(at), _) => format!("revoked {}", when(at)),
                    (None, Some(at)) => format!("expires {}", when(at)),
                    (None, None) => "active".to_owned(),
                };
                vec![t.id.clone(), t.principal.to_string(), t.name.clone(), scopes.join(" "), state]
            });
            listing(ctx, "admin token list", &tokens, &["ID", "PRINCIPAL", "NAME", "SCOPES", "STATE"], rows)
        }
        TokenCommand::Create { name, principal, scopes, expires_in_days } => {
            let principal = principal.as_deref().map(slug).transpose()?;
            let scopes = scopes.iter().map(|s| parse_scope(s)).collect::<anyhow::Result<Vec<_>>>()?;
            let request = CreateToken { name, principal, scopes, expires_in_days };
            let created = admin.create_token(&request).await.diag()?;
            let what = format!("created token {} for `{}`", created.record.id, created.record.principal);
            secret(ctx, &created, &what, &created.token)
        }
        TokenCommand::Revoke { id } => {
            admin.revoke_token(&id).await.diag()?;
            ctx.printer.status(&format!("revoked token {id}"));
            Ok(ExitStatus::Success)
        }
    }
}

async fn key(command: KeyCommand, admin: &RemoteAdmin, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = |flag: &ProjectFlag| flag.project_id.clone().unwrap_or_else(|| admin.project().to_owned());
    match command {
        KeyCommand::List(flag) => {
            let keys = admin.key_pairs(&project(&flag)).await.diag()?;
            let rows = keys.iter().map(|k| {
                let state =
                    k.revoked_at.as_ref().map_or_else(|| "active".to_owned(), |at| format!("revoked {}", when(at)));
                vec![k.public_key.clone(), k.role.as_str().to_owned(), k.created_by.clone(), state]
            });
            listing(ctx, "admin key list", &keys, &["PUBLIC KEY", "ROLE", "CREATED BY", "STATE"], rows)
        }
        KeyCommand::Create { role, project: flag } => {
            let request = CreateKeyPair { role: role.as_deref().map(parse_role).transpose()? };
            let created = admin.create_key_pair(&project(&flag), &request).await.diag()?;
            let what = format!("created key pair {} ({})", created.record.public_key, created.record.role.as_str());
            secret(ctx, &created, &what, &created.secret_key)
        }
        KeyCommand::Revoke { public_key, project: flag } => {
            admin.revoke_key_pair(&project(&flag), &public_key).await.diag()?;
            ctx.printer.status(&format!("revoked key pair {public_key}"));
            Ok(ExitStatus::Success)
        }
    }
}

/// A listing as a table, Markdown, CSV, JSON or YAML.
fn listing<T: serde::Serialize>(
    ctx: &Context,
    command: &str,
    items: &[T],
    headers: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, command)?;
    if emit_structured(&ctx.printer, format, &items)? {
        return Ok(ExitStatus::Success);
    }
    let mut grid = Grid::new(headers);
    rows.for_each(|row| grid.row(row));
    if grid.is_empty() && format == Format::Table {
        ctx.printer.status("none");
    } else {
        ctx.printer.out(&grid.render(format));
    }
    Ok(ExitStatus::Success)
}

/// What was created: as JSON/YAML when asked, else a status line.
fn done<T: serde::Serialize>(ctx: &Context, created: &T, what: &str) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::DOCUMENT, "admin")?;
    if !emit_structured(&ctx.printer, format, created)? {
        ctx.printer.status(what);
    }
    Ok(ExitStatus::Success)
}

/// A created secret: alone on stdout (or inside the JSON/YAML document), said to be shown once.
fn secret<T: serde::Serialize>(ctx: &Context, created: &T, what: &str, value: &str) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::DOCUMENT, "admin")?;
    if !emit_structured(&ctx.printer, format, created)? {
        ctx.printer.out(value);
        ctx.printer.status(what);
    }
    ctx.printer.warn("the secret is shown this once: the server keeps only its hash");
    Ok(ExitStatus::Success)
}

fn slug(text: &str) -> anyhow::Result<Slug> {
    Slug::new(text).map_err(|err| usage(err.to_string(), &["e.g. `support-team`"]))
}

fn parse_role(text: &str) -> anyhow::Result<Role> {
    Role::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        let mut hints: Vec<String> = promptops::error::did_you_mean(text, names.iter().copied()).into_iter().collect();
        hints.push(format!("roles: {}", names.join(", ")));
        let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
        usage(format!("unknown role `{text}`"), &hints)
    })
}

fn parse_scope(text: &str) -> anyhow::Result<TokenScope> {
    let Some((project, role)) = text.split_once('=') else {
        return Err(usage(format!("`--scope {text}` is not PROJECT=ROLE"), &["e.g. `--scope support=runner`"]));
    };
    Ok(TokenScope { project: project.to_owned(), role: parse_role(role)? })
}
